//! The Wall and TV mode in a real Chromium, against a real server holding an organisation at work:
//! a new failure on a watched branch must reach the TV, readable from across the room, and stay
//! there, with the demo organisation (`buildboard demo`'s: 25 repositories, about 100 workflows,
//! jobs, steps, re-runs, feature branches, incidents) posted through the signed webhook and its
//! live trickle running; nothing that carries a run, a tile or a red item may lie outside the
//! screen; every page of every view is shown in a rotation (a seeded organisation of 70
//! repositories, enough for several pages of each); the title and icon follow the first red and
//! the last green; a bad address gets an HTML page.

use std::sync::Arc;
use std::time::{Duration, Instant};

use buildboard::demo::payload::{self, Commit, Parts, Run};
use buildboard::demo::{self, Options, Organisation, Simulation};
use buildboard::run_state::{Conclusion, Status};
use fantoccini::Client;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::browser::{
    cdp_with, js, open, open_browser, open_browser_with, open_until, start_driver, until,
};
use crate::helpers::{spawn_app_with, TestApp, SECRET};
use crate::seed::{self, org_run_delivery, Org, OrgRepo};

/// A server without rate limits (the browser and the trickle share one address).
async fn spawn() -> TestApp {
    spawn_app_with(|config| {
        config.rate_limit = 0;
        config.webhook_rate_limit = 0;
    })
    .await
}

/// [`spawn`] with `org`'s repositories, workflows and runs stored: the app and the repositories.
async fn spawn_with(org: &Org) -> (TestApp, Vec<OrgRepo>) {
    let app = spawn().await;
    let repos = seed::organisation(&app.db(), org);
    (app, repos)
}

/// Makes the page itself `width` x `height` CSS pixels.
async fn viewport(browser: &Client, width: u32, height: u32) {
    let frame = js(
        browser,
        "return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight]",
    )
    .await;
    let (dw, dh) = (
        frame[0].as_u64().unwrap_or(0),
        frame[1].as_u64().unwrap_or(0),
    );
    browser
        .set_window_size(width + dw as u32, height + dh as u32)
        .await
        .unwrap();
}

/// The demo organisation's seed: `buildboard demo`'s default.
const DEMO_SEED: u64 = 1;

/// Days of demo history loaded for the TV tests: about 1,000 runs and 8,000 deliveries, generated
/// and posted in about 15 s in a debug build while the other TV test does the same. `buildboard
/// demo`'s week (3,300 runs, 26,000 deliveries) took 46 s there, and the TV reads the latest state
/// per workflow and branch, which two days give as a week would.
const DEMO_DAYS: u32 = 2;

/// Mean seconds between the live trickle's pushes (`buildboard demo --trickle-every`; 10 s by
/// default): 2 s keeps the TV as busy as a big organisation's (several deliveries a second, and
/// now and then another break).
const TRICKLE_EVERY: f64 = 2.0;

/// `buildboard demo` in a test: its organisation's history posted to `app` through the signed
/// `/webhook` path, every delivery accepted. The simulation, to go on live.
async fn load_demo(app: &TestApp) -> Simulation {
    let options = Options {
        days: DEMO_DAYS,
        trickle_every: TRICKLE_EVERY,
        ..Options::default()
    };
    let mut simulation = Simulation::new(Organisation::generate(DEMO_SEED), DEMO_SEED, options);
    let started = Instant::now();
    let history = simulation.history(chrono::Utc::now().timestamp());
    let (count, generated) = (history.len(), started.elapsed());
    let posted = demo::post_all(
        &app.http,
        &app.url("/webhook"),
        SECRET.as_bytes(),
        history,
        8,
        |_| {},
    )
    .await;
    assert!(
        posted.failed.is_empty(),
        "{:?}",
        &posted.failed[..posted.failed.len().min(5)]
    );
    assert_eq!(posted.ok + posted.accepted, count);
    eprintln!(
        "demo organisation: {count} deliveries ({} runs, {DEMO_DAYS} days) generated in {:.1} s, \
         posted in {:.1} s",
        simulation.stats().runs,
        generated.as_secs_f64(),
        posted.elapsed.as_secs_f64()
    );
    simulation
}

/// The demo's own live trickle (`demo::trickle`, as `buildboard demo` runs it once the history is
/// in), posting to the test server until stopped.
struct Trickle {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Simulation>,
}

impl Trickle {
    fn start(app: &TestApp, mut simulation: Simulation) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let (http, url) = (app.http.clone(), app.url("/webhook"));
        let task = tokio::spawn(async move {
            let stopped = async {
                let _ = stopped.await;
            };
            demo::trickle(&mut simulation, &http, &url, SECRET.as_bytes(), stopped).await;
            simulation
        });
        Self { stop, task }
    }

    async fn stop(self) -> Simulation {
        let _ = self.stop.send(());
        self.task.await.unwrap()
    }
}

/// The runs the server holds, over every repository.
async fn runs_on_server(app: &TestApp) -> i64 {
    let repos = app.get_json("/api/repos").await;
    repos["repos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["runs"].as_i64().unwrap())
        .sum()
}

/// The repositories the server's Wall shows red now (`/wall?part=state`, what the TV reads).
async fn red_repos(app: &TestApp) -> Vec<String> {
    let state = app.get_json("/wall?part=state").await;
    state["reds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["repo"].as_str().unwrap().to_owned())
        .collect()
}

/// A repository of `org` that the server's Wall shows green now, and one of its workflows that
/// only a schedule starts, on the default branch (`Nightly`, `Drift detection`): the live trickle
/// only pushes, so it never runs that workflow, and cannot fix or hide a failure of it. The first
/// such repository by name, as (repository, workflow) indices.
async fn green_repo_with_a_scheduled_workflow(app: &TestApp, org: &Organisation) -> (usize, usize) {
    let reds = red_repos(app).await;
    let mut candidates: Vec<(usize, usize)> = org
        .repos
        .iter()
        .enumerate()
        .filter(|(_, repo)| !reds.contains(&repo.full_name))
        .filter_map(|(r, repo)| {
            let w = repo.workflows.iter().position(|w| {
                w.on.schedule_hour.is_some()
                    && !w.on.default_branch
                    && w.on.feature.is_none()
                    && !w.on.release
            })?;
            Some((r, w))
        })
        .collect();
    candidates.sort_by_key(|(r, _)| org.repos[*r].full_name.clone());
    *candidates
        .first()
        .unwrap_or_else(|| panic!("a green repository with a scheduled workflow; reds: {reds:?}"))
}

/// A `workflow_run` delivery, shaped as the demo's: workflow `w` of repository `r` of `org` ran
/// on its default branch at `now` (created then) and failed.
fn demo_failure(org: &Organisation, r: usize, w: usize, run_id: i64, now: i64) -> Vec<u8> {
    demo_failure_by(org, r, w, run_id, now, org.repos[r].team[0])
}

/// [`demo_failure`], pushed and started by person `who` of `org`.
fn demo_failure_by(
    org: &Organisation,
    r: usize,
    w: usize,
    run_id: i64,
    now: i64,
    who: usize,
) -> Vec<u8> {
    let parts = Parts::new(Arc::new(org.clone()));
    let repo = &org.repos[r];
    let head = Commit {
        sha: format!("{run_id:040x}"),
        tree: format!("{:040x}", run_id + 1),
        message: "Bump the pipeline's schema to v7".to_owned(),
        author: who,
        at: now - 300,
    };
    let run = Run {
        workflow: &repo.workflows[w],
        id: run_id,
        number: run_id % 100_000,
        attempt: 1,
        check_suite_id: run_id,
        branch: &repo.default_branch,
        head: &head,
        event: "schedule",
        actor: who,
        triggering_actor: who,
        created_at: now,
        run_started_at: now,
    };
    let body = payload::workflow_run(
        &parts,
        r,
        &run,
        Status::Completed,
        Some(Conclusion::Failure),
        now,
    );
    serde_json::to_vec(&body).unwrap()
}

/// JS: whether the element `selector` is shown, wholly inside the viewport and inside its tile
/// (not clipped), with text of at least `min_px`.
fn readable(selector: &str, min_px: u32) -> String {
    format!(
        "(() => {{
            const el = document.querySelector({selector:?});
            if (!el || el.offsetParent === null) return false;
            const r = el.getBoundingClientRect();
            const box = (el.closest('.tile') || el).getBoundingClientRect();
            const inside = r.width > 0 && r.top >= 0 && r.left >= 0
                && r.bottom <= window.innerHeight && r.right <= window.innerWidth
                && r.top >= box.top - 1 && r.bottom <= box.bottom + 1 && r.right <= box.right + 1;
            return inside && parseFloat(getComputedStyle(el).fontSize) >= {min_px};
        }})()"
    )
}

/// Posts run `run_id` of `repo`'s first workflow on `branch`, of a commit of its own.
async fn post_run(
    app: &TestApp,
    repo: &OrgRepo,
    branch: &str,
    run_id: i64,
    conclusion: Option<&str>,
) {
    let body = org_run_delivery(
        repo,
        0,
        branch,
        run_id,
        &format!("{run_id:040x}"),
        conclusion,
    );
    app.deliver("workflow_run", &format!("run-{run_id}"), &body)
        .await;
}

/// Waits until the title says `title` (and the board's name), then checks the icon is `icon`.
async fn until_title_and_icon(browser: &Client, title: &str, icon: &str) {
    until(
        browser,
        &format!("document.title === '{title} · buildboard'"),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(
        js(
            browser,
            "return document.getElementById('favicon').getAttribute('href')"
        )
        .await,
        icon
    );
}

/// With the demo organisation loaded (through the signed webhook path) and its live trickle
/// running, a failure on the default branch of one green repository reaches a TV that is showing
/// another view (the default rotation) within 10 s, readable from across the room, and stays on
/// screen for most of the minute after it appears.
async fn a_new_failure_interrupts_the_rotation_readably(width: u32, height: u32) {
    let driver = start_driver();
    let browser = open_browser(&driver).await;
    viewport(&browser, width, height).await;
    let app = spawn().await;
    let simulation = load_demo(&app).await;
    let org = simulation.organisation().clone();
    let runs_before = runs_on_server(&app).await;
    let trickle = Trickle::start(&app, simulation);

    // The TV shows the Waterfall (not in the default rotation), then the Wall.
    open(&browser, &app, "/waterfall?tv=1").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // The repository to break: one the server shows green now.
    let (target, workflow) = green_repo_with_a_scheduled_workflow(&app, &org).await;
    let key = org.repos[target].full_name.clone();
    let workflow_name = org.repos[target].workflows[workflow].name.clone();
    let failed = Instant::now();
    let body = demo_failure(
        &org,
        target,
        workflow,
        99_000_000_001,
        chrono::Utc::now().timestamp(),
    );
    app.deliver("workflow_run", "tv-failure", &body).await;
    let tile = format!(".tile.t-red[data-key=\"{key}\"]");
    let name = format!("{tile} .tile-name .name");
    let workflows = format!("{tile} .tile-wfs");
    until(
        &browser,
        &format!("{} && {}", readable(&name, 24), readable(&workflows, 20)),
        Duration::from_secs(10),
    )
    .await;
    let appeared = Instant::now();
    let shown_after = failed.elapsed();
    assert!(shown_after < Duration::from_secs(10), "{shown_after:?}");
    assert_eq!(
        js(
            &browser,
            &format!("return document.querySelector('{tile}').classList.contains('fresh')")
        )
        .await,
        true,
        "the new break is highlighted"
    );
    assert!(js(
        &browser,
        &format!("return document.querySelector('{tile} .tile-since').textContent")
    )
    .await
    .as_str()
    .unwrap()
    .contains("red"));
    let names = js(
        &browser,
        &format!("return document.querySelector('{workflows}').textContent"),
    )
    .await;
    assert!(
        names.as_str().unwrap().contains(&workflow_name),
        "the tile names the failed workflow {workflow_name}: {names}"
    );

    // It stays on screen for the next minute (the rotation moves on every 30 s), looked at every
    // second: at least 90 % of the looks. Nothing that carries a run, a tile or a red item is ever
    // outside the screen meanwhile, whatever the trickle brings.
    let (mut seen, mut looks) = (0, 0);
    while appeared.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        looks += 1;
        if js(&browser, &format!("return {}", readable(&name, 24))).await == Value::Bool(true) {
            seen += 1;
        }
        let outside = js(&browser, OUTSIDE).await;
        let path = js(&browser, "return location.pathname").await;
        assert_eq!(
            outside,
            serde_json::json!([]),
            "outside the screen on {path}"
        );
    }
    let reds = red_repos(&app).await;
    eprintln!(
        "{width}x{height}: {workflow_name} of {key} failed, readable after {shown_after:?}, \
         on screen {seen} of {looks} looks; red now: {reds:?}"
    );
    assert!(reds.contains(&key), "{key} is still red: {reds:?}");
    assert!(seen * 10 >= looks * 9, "on screen {seen} of {looks} looks");
    let simulation = trickle.stop().await;
    let new_runs = runs_on_server(&app).await - runs_before;
    eprintln!(
        "{width}x{height}: the trickle brought {new_runs} new runs ({} pushes planned in all)",
        simulation.stats().pushes
    );
    assert!(
        new_runs > 20,
        "the trickle ran: {new_runs} new runs on the server ({:?})",
        simulation.stats()
    );
    app.stop().await;
    browser.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_failure_reaches_a_1080p_tv_within_10_s_and_stays_past_the_rotation() {
    a_new_failure_interrupts_the_rotation_readably(1920, 1080).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_failure_reaches_a_1366x768_tv_within_10_s_readably() {
    a_new_failure_interrupts_the_rotation_readably(1366, 768).await;
}

/// JS: the elements carrying a run, a tile or a red item that are shown but not wholly inside the
/// viewport, as text.
const OUTSIDE: &str =
    "return Array.from(document.querySelectorAll('[data-run-id], .tile, #reds > li'))
    .filter(el => el.offsetParent !== null && !el.closest('.sr'))
    .filter(el => { const r = el.getBoundingClientRect();
        return r.width > 0 && (r.top < 0 || r.left < 0 || r.bottom > window.innerHeight + 0.5
            || r.right > window.innerWidth + 0.5); })
    .map(el => el.className + ' ' + (el.dataset.key || el.dataset.runId || '')).slice(0, 5);";

#[tokio::test]
async fn tv_mode_shows_every_page_of_every_view_and_nothing_outside_the_screen() {
    let driver = start_driver();
    let browser = open_browser(&driver).await;
    viewport(&browser, 1366, 768).await;
    let app = spawn().await;
    // Enough repositories for several pages of tiles, and reds for more than a page of triage.
    let reds: Vec<usize> = (0..70).step_by(5).collect();
    seed::organisation(&app.db(), &Org::acme(70, 3, 4, &reds, &[2, 7]));

    open(
        &browser,
        &app,
        "/wall?tv=1&rotate=3&page=2&views=wall,waterfall,triage,developer",
    )
    .await;
    let mut seen: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        Default::default();
    let mut pages: std::collections::BTreeMap<String, usize> = Default::default();
    let started = Instant::now();
    let mut visits = 0;
    let mut last_path = String::new();
    // Every repository is on some page of the Waterfall (12 pages of 2 s at this size): a full
    // round of the four views takes about a minute.
    while started.elapsed() < Duration::from_secs(100) {
        let state = js(
            &browser,
            "const p = document.getElementById('wall-pager') || document.getElementById('pager');
             return [location.pathname, p ? p.textContent : '', document.readyState, (document.getElementById('tv-notice')||{}).textContent, document.body.dataset.nextUrl, document.getElementById('conn').dataset.state];",
        )
        .await;
        let path = state[0].as_str().unwrap_or("").to_owned();
        let pager = state[1].as_str().unwrap_or("").to_owned();
        if state[2] == "complete" {
            let outside = js(&browser, OUTSIDE).await;
            assert_eq!(
                outside,
                serde_json::json!([]),
                "outside the screen on {path} {pager}"
            );
        }
        if path != last_path {
            visits += 1;
            last_path = path.clone();
        }
        let total = crate::browser::page_count(&pager).unwrap_or(1);
        pages.insert(path.clone(), total);
        seen.entry(path).or_default().insert(pager);
        // Done once every view was seen with each of its pages, and the rotation came round.
        let complete = ["/wall", "/waterfall", "/triage", "/developer"]
            .iter()
            .all(|p| {
                seen.get(*p)
                    .is_some_and(|s| s.len() >= pages.get(*p).copied().unwrap_or(1))
            });
        if complete && visits > 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(pages["/wall"] >= 2, "the wall pages at 1366x768: {seen:?}");
    assert!(pages["/triage"] >= 2, "triage pages: {seen:?}");
    for path in ["/wall", "/waterfall", "/triage", "/developer"] {
        let want = pages.get(path).copied().unwrap_or(0);
        assert!(
            seen.get(path).is_some_and(|s| s.len() >= want) && want > 0,
            "every page of {path}: {seen:?}"
        );
    }
    app.stop().await;
    browser.close().await.unwrap();
}

#[tokio::test]
async fn title_and_icon_follow_the_reds_and_a_tv_shows_breaks_on_triage_and_leaves_bad_addresses() {
    let driver = start_driver();
    let browser = open_browser(&driver).await;
    let (app, repos) = spawn_with(&Org::acme(20, 3, 4, &[], &[])).await;

    open(&browser, &app, "/triage").await;
    until_title_and_icon(&browser, "all green", "/static/green.svg").await;

    post_run(&app, &repos[4], "main", 555_000_001, Some("failure")).await;
    until_title_and_icon(&browser, "1 red", "/static/red.svg").await;

    // A red on a feature branch is not the Wall's business.
    post_run(&app, &repos[6], "feature/x", 555_000_002, Some("failure")).await;
    post_run(&app, &repos[4], "main", 555_000_003, Some("success")).await;
    until_title_and_icon(&browser, "all green", "/static/green.svg").await;

    // A rotation without the Wall shows a new break on Triage, marked.
    open(&browser, &app, "/waterfall?tv=1&views=waterfall,triage").await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    post_run(&app, &repos[9], "main", 555_000_004, Some("failure")).await;
    let item = format!(
        "#reds > li.fresh[data-key=\"{}\"] .red-head .repo",
        repos[9].name
    );
    until(&browser, &readable(&item, 20), Duration::from_secs(10)).await;
    assert_eq!(js(&browser, "return location.pathname").await, "/triage");

    // A bad address on a TV: a readable page, then back to the Wall by itself.
    browser.goto(&app.url("/no-such-view?tv=1")).await.unwrap();
    let big = js(
        &browser,
        "return parseFloat(getComputedStyle(document.querySelector('.error-message')).fontSize)",
    )
    .await;
    assert!(big.as_f64().unwrap() >= 32.0, "{big}");
    until(
        &browser,
        "location.pathname === '/wall'",
        Duration::from_secs(15),
    )
    .await;
    app.stop().await;
    browser.close().await.unwrap();
}

#[tokio::test]
async fn the_wall_counts_tiles_and_pages_get_html_errors_while_the_api_keeps_json() {
    let (app, repos) = spawn_with(&Org::acme(25, 3, 3, &[2, 9], &[4])).await;

    let state: Value = app.get_json("/wall?part=state").await;
    assert_eq!(state["total"], 25);
    assert_eq!(state["red"], 2);
    assert_eq!(state["green"], 23);
    assert_eq!(state["running"], 1);
    let html = app.get_text("/wall").await;
    assert!(html.contains("23 of 25 green"), "the headline");
    let first_tile = html.find("class=\"tile ").unwrap();
    assert!(
        html[first_tile..].starts_with("class=\"tile t-red"),
        "red first"
    );
    assert!(html.contains(&format!("data-key=\"{}\"", repos[9].name)));

    // One repository: a tile per workflow.
    let one = app
        .get_json(&format!("/wall?part=state&repo={}", repos[2].name))
        .await;
    assert_eq!(one["total"], 3);
    assert_eq!(one["red"], 1);

    for (path, status) in [
        ("/nope", 404),
        ("/wall?window=1y", 400),
        ("/triage?views=x", 400),
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status().as_u16(), status, "{path}");
        let kind = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(kind.starts_with("text/html"), "{path}: {kind}");
        let text = response.text().await.unwrap();
        assert!(text.contains("class=\"error-message\""), "{path}");
    }
    let api = app.get("/api/nope").await;
    assert_eq!(api.status().as_u16(), 404);
    assert!(api.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    app.stop().await;
}

/// Screenshots of the Wall, Triage and Waterfall on a TV at 1920x1080, 1366x768 and 3840x2160,
/// the demo organisation loaded and a fresh break in it: `target/tv-<view>-<w>x<h>.png`, and
/// `docs/tv.png`, `docs/triage.png`, `docs/waterfall.png` (1080p), to look at as a person
/// across the room would.
#[tokio::test]
#[ignore = "writes docs/*.png; run with --ignored wall_screenshots"]
async fn wall_screenshots() {
    let driver = start_driver();
    let browser = open_browser(&driver).await;
    let app = spawn().await;
    let simulation = load_demo(&app).await;
    let org = simulation.organisation().clone();
    let (target, workflow) = green_repo_with_a_scheduled_workflow(&app, &org).await;
    let now = chrono::Utc::now().timestamp();
    let body = demo_failure(&org, target, workflow, 99_200_000_001, now - 1800);
    app.deliver("workflow_run", "shot-1", &body).await;
    let trickle = Trickle::start(&app, simulation);
    tokio::time::sleep(Duration::from_secs(6)).await;
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for (w, h) in [(1920, 1080), (1366, 768), (3840, 2160)] {
        viewport(&browser, w, h).await;
        for (path, name, doc) in [
            ("/wall?tv=1&rotate=0", "wall", "tv"),
            ("/triage?tv=1&rotate=0", "triage", "triage"),
            ("/waterfall?tv=1&rotate=0", "waterfall", "waterfall"),
        ] {
            open(&browser, &app, path).await;
            tokio::time::sleep(Duration::from_millis(1500)).await;
            let png = browser.screenshot().await.unwrap();
            std::fs::write(out.join(format!("target/tv-{name}-{w}x{h}.png")), &png).unwrap();
            if w == 1920 {
                std::fs::write(out.join(format!("docs/{doc}.png")), &png).unwrap();
            }
        }
    }
    viewport(&browser, 1440, 900).await;
    for (path, name) in [("/waterfall", "desktop-waterfall"), ("/", "desktop-wall")] {
        open(&browser, &app, path).await;
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let png = browser.screenshot().await.unwrap();
        std::fs::write(out.join(format!("target/tv-{name}-1440x900.png")), &png).unwrap();
    }
    trickle.stop().await;
    browser.close().await.unwrap();
    app.stop().await;
}

/// Server-side time of the Wall at organisation scale: 1,000,000 runs over 100 repositories and
/// 500 workflows (main, `release/1.x` watched, 20 feature branches each), 10 repositories red.
/// Prints the p50/p99 of `/wall` (a full render: pages are not cached) and of `part=state` after
/// each of a stream of deliveries (a new generation each time, so every one is a fresh render).
#[tokio::test]
#[ignore = "fills a 1M-run database (about a minute); run with --ignored wall_at_a_million_runs"]
async fn wall_at_a_million_runs() {
    // WALL_1M_DB=/tmp/wall1m.db keeps the filled database between runs.
    let kept = std::env::var_os("WALL_1M_DB").map(std::path::PathBuf::from);
    let refill = kept.as_ref().is_none_or(|path| !path.exists());
    let app = spawn_app_with(|config| {
        config.rate_limit = 0;
        config.webhook_rate_limit = 0;
        config.watch_branches = "release/*".parse().unwrap();
        if let Some(path) = &kept {
            config.db = path.clone();
        }
    })
    .await;
    let filled = Instant::now();
    let repos = if refill {
        let red: Vec<usize> = (0..100).step_by(10).collect();
        seed::organisation(&app.db(), &Org::acme(100, 5, 1, &red, &[]))
    } else {
        seed::organisation_repos(&app.db())
    };
    if refill {
        let conn = app.db();
        let tx = conn.unchecked_transaction().unwrap();
        let now = seed::now();
        let mut insert = tx
            .prepare(
                "INSERT INTO workflowruns (id, repo_id, workflow_id, commit_id, branch_id, runnumber,
                     runattempt, event, headsha, status, statusrank, conclusion, actor, createtime,
                     starttime, updatetime, endtime, runtime, queuetime)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?1 % 100000, 1, 'push', 'x', 'completed', 3, ?6,
                     'alice', ?7, ?7, ?7, ?7 + 100, 100, 5)",
            )
            .unwrap();
        let mut branch = tx
            .prepare("INSERT INTO branches (repo_id, name, createtime) VALUES (?1, ?2, 0)")
            .unwrap();
        let mut branches: Vec<Vec<i64>> = Vec::new();
        for repo in &repos {
            let mut ids: Vec<i64> = tx
                .prepare("SELECT id FROM branches WHERE repo_id = ?1 ORDER BY id")
                .unwrap()
                .query_map([repo.id], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            for f in 0..20 {
                branch
                    .execute(rusqlite::params![repo.id, format!("feature/{f}")])
                    .unwrap();
                ids.push(tx.last_insert_rowid());
            }
            branches.push(ids);
        }
        let commit: i64 = tx
            .query_row("SELECT MIN(id) FROM commits", [], |r| r.get(0))
            .unwrap();
        for n in 0..1_000_000_i64 {
            let r = (n % 100) as usize;
            let repo = &repos[r];
            let w = ((n / 100) % 5) as usize;
            let b = match n % 10 {
                0..=5 => 0,
                6 => 1,
                x => 4 + ((n / 10 + x) % 20) as usize,
            };
            // The history of CI on main in every tenth repository ends red.
            let red = r % 10 == 0 && w == 0 && b == 0 && n > 999_000;
            insert
                .execute(rusqlite::params![
                    2_000_000_000 + n,
                    repo.id,
                    repo.workflows[w].0,
                    commit,
                    branches[r][b],
                    if red || n % 37 == 0 {
                        "failure"
                    } else {
                        "success"
                    },
                    now - 600 - (1_000_000 - n) * 2,
                ])
                .unwrap();
        }
        drop(insert);
        drop(branch);
        tx.commit().unwrap();
        conn.execute_batch("ANALYZE").unwrap();
    }
    eprintln!("filled in {:?}", filled.elapsed());

    let mut pages = Vec::new();
    for _ in 0..60 {
        let t = Instant::now();
        let response = app.get("/wall").await;
        assert!(response.status().is_success());
        response.text().await.unwrap();
        pages.push(t.elapsed());
    }
    let mut states = Vec::new();
    for i in 0..60 {
        app.deliver(
            "workflow_run",
            &format!("perf-{i}"),
            &org_run_delivery(
                &repos[i % 100],
                1,
                "main",
                3_000_000_000 + i as i64,
                &"f".repeat(40),
                Some("success"),
            ),
        )
        .await;
        let t = Instant::now();
        let response = app.get("/wall?part=state").await;
        let state: Value = response.json().await.unwrap();
        states.push(t.elapsed());
        assert_eq!(state["total"], 100);
    }
    for (name, mut times) in [("/wall page", pages), ("part=state after a change", states)] {
        times.sort();
        let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
        eprintln!(
            "{name}: p50 {:?} p99 {:?} max {:?}",
            at(0.5),
            at(0.99),
            times[times.len() - 1]
        );
    }
    app.stop().await;
}

/// One Chrome DevTools command without parameters.
async fn cdp(driver_url: &str, browser: &Client, cmd: &str) -> Value {
    cdp_with(driver_url, browser, cmd, serde_json::json!({})).await
}

/// `Performance.getMetrics` as name -> value.
async fn metrics(driver_url: &str, browser: &Client) -> std::collections::HashMap<String, f64> {
    let value = cdp(driver_url, browser, "Performance.getMetrics").await;
    value["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_owned(),
                m["value"].as_f64().unwrap(),
            )
        })
        .collect()
}

/// What a TV page costs the browser: main-thread time per live update and per idle second, and
/// its JS heap and DOM node count before and after `TV_UPDATES` (default 3,000) deliveries, for the
/// Waterfall and the Wall in TV mode. Prints the figures (DevTools' Performance.getMetrics).
/// `TV_EVERY_MS=N` waits N ms between deliveries: the cost of an update at a steady rate, where
/// the default (as fast as the server takes them) measures bursts. The heap and node count are
/// also taken (after a collection) a tenth of the way through.
#[tokio::test]
#[ignore = "takes minutes; run with --ignored tv_page_costs --nocapture"]
async fn tv_page_costs() {
    let updates: i64 = std::env::var("TV_UPDATES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3000);
    // TV_EVERY_MS: a pause between deliveries (default none: as fast as the server takes them).
    let every = Duration::from_millis(
        std::env::var("TV_EVERY_MS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
    );
    let driver = start_driver();
    let browser = open_browser(&driver).await;
    let (app, repos) = spawn_with(&Org::acme(24, 4, 6, &[3], &[5])).await;
    for (path, base) in [("/waterfall?tv=1&rotate=0", 0), ("/wall?tv=1&rotate=0", 1)] {
        open(&browser, &app, path).await;
        cdp(&driver.url, &browser, "Performance.enable").await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        cdp(&driver.url, &browser, "HeapProfiler.collectGarbage").await;
        let before = metrics(&driver.url, &browser).await;
        let started = Instant::now();
        // The heap and nodes again once warm (a tenth of the way: the page's code compiled, its
        // live state built), so that growth over the run shows apart from the first minutes'.
        let warm_at = updates / 10;
        let mut warm = before.clone();
        for n in 0..updates {
            if n == warm_at && n > 0 {
                cdp(&driver.url, &browser, "HeapProfiler.collectGarbage").await;
                warm = metrics(&driver.url, &browser).await;
            }
            let repo = &repos[(n % 24) as usize];
            let run = 800_000_000 + base * 10_000_000 + n / 2;
            let conclusion = (n % 2 == 1).then_some("success");
            let branch = if n % 3 == 0 { "main" } else { "feature/load" };
            app.deliver(
                "workflow_run",
                &format!("cost-{base}-{n}"),
                &org_run_delivery(repo, 1, branch, run, &format!("{run:040x}"), conclusion),
            )
            .await;
            if !every.is_zero() {
                tokio::time::sleep(every).await;
            }
        }
        let sending = started.elapsed();
        tokio::time::sleep(Duration::from_secs(3)).await;
        cdp(&driver.url, &browser, "HeapProfiler.collectGarbage").await;
        let after = metrics(&driver.url, &browser).await;
        tokio::time::sleep(Duration::from_secs(10)).await;
        let idle = metrics(&driver.url, &browser).await;
        let busy = after["TaskDuration"] - before["TaskDuration"];
        eprintln!(
            "{path}: {updates} updates in {sending:?}: main thread {:.3} ms per update \
             (script {:.3}, layout {:.3}, style {:.3}); idle {:.1} ms/s; \
             JS heap {:.2} -> {:.2} (after {warm_at}) -> {:.2} MB; DOM nodes {} -> {} -> {}",
            busy * 1000.0 / updates as f64,
            (after["ScriptDuration"] - before["ScriptDuration"]) * 1000.0 / updates as f64,
            (after["LayoutDuration"] - before["LayoutDuration"]) * 1000.0 / updates as f64,
            (after["RecalcStyleDuration"] - before["RecalcStyleDuration"]) * 1000.0
                / updates as f64,
            (idle["TaskDuration"] - after["TaskDuration"]) * 100.0,
            before["JSHeapUsedSize"] / 1e6,
            warm["JSHeapUsedSize"] / 1e6,
            after["JSHeapUsedSize"] / 1e6,
            before["Nodes"],
            warm["Nodes"],
            after["Nodes"],
        );
    }
    app.stop().await;
    browser.close().await.unwrap();
}

/// JS run in every new document before the page's own scripts: counts the Web Audio contexts made
/// and notes every oscillator started (its frequency, its context's state: `running` is audible,
/// `suspended` is not, and the time), in `window.__audio` and, to outlive the page, in
/// sessionStorage (`probe.notes`), with the time the page went away (`probe.left`).
const AUDIO_PROBE: &str = "(() => {
  const audio = { contexts: 0, notes: [] };
  window.__audio = audio;
  const Base = window.AudioContext || window.webkitAudioContext;
  if (!Base) return;
  class Counted extends Base {
    constructor(...args) { super(...args); audio.contexts += 1; }
  }
  window.AudioContext = Counted;
  window.webkitAudioContext = Counted;
  const start = OscillatorNode.prototype.start;
  OscillatorNode.prototype.start = function (...args) {
    const note = { hz: this.frequency.value, state: this.context.state, at: Date.now() };
    audio.notes.push(note);
    const kept = JSON.parse(sessionStorage.getItem('probe.notes') || '[]');
    kept.push(note);
    sessionStorage.setItem('probe.notes', JSON.stringify(kept));
    return start.apply(this, args);
  };
  addEventListener('pagehide', () => sessionStorage.setItem('probe.left', String(Date.now())));
})();";

/// The frequencies (Hz) of `notes` (as [`AUDIO_PROBE`] keeps them), asserted audible.
fn audible(notes: &Value) -> Vec<f64> {
    let notes = notes.as_array().expect("notes were started");
    for note in notes {
        assert_eq!(note["state"], "running", "audible: {notes:?}");
    }
    notes.iter().map(|n| n["hz"].as_f64().unwrap()).collect()
}

/// Waits until this page has started `count` notes; their frequencies, asserted audible.
async fn audible_notes(browser: &Client, count: usize) -> Vec<f64> {
    let enough = format!("window.__audio.notes.length >= {count}");
    until(browser, &enough, Duration::from_secs(10)).await;
    audible(&js(browser, "return window.__audio.notes").await)
}

/// Opens `path` and waits until the page has read the board's state once (a first state is no
/// news: what is red then makes no sound).
async fn open_and_wait_for_state(browser: &Client, app: &TestApp, path: &str) {
    let stored = "sessionStorage.getItem('bb.reds') !== null";
    open_until(browser, (app, path), stored, Duration::from_secs(10)).await;
}

/// `sound=1`, in a real Chromium that may play sound without a click (as a TV's browser
/// must be set up to; see below): a short sound on a new break on a watched branch and another on
/// its fix, through Web Audio, audible (its context running); on the default rotation, the break's
/// sound is played to its end before the TV leaves for the view that shows the break; without
/// `sound=1`, no sound at all.
///
/// Without `--autoplay-policy=no-user-gesture-required` (or the browser's autoplay policy allowing
/// the board), Chromium keeps a context made without a click "suspended": silent. A TV gets no
/// click, and its rotation's page loads would forget one.
#[tokio::test]
async fn sound_1_plays_a_whole_sound_on_a_new_break_and_on_a_fix_and_none_without_it() {
    const BREAK: [f64; 3] = [660.0, 440.0, 330.0];
    const FIX: [f64; 3] = [440.0, 554.0, 660.0];
    let driver = start_driver();
    let browser = open_browser_with(&driver, &["--autoplay-policy=no-user-gesture-required"]).await;
    cdp_with(
        &driver.url,
        &browser,
        "Page.addScriptToEvaluateOnNewDocument",
        serde_json::json!({ "source": AUDIO_PROBE }),
    )
    .await;
    let (app, repos) = spawn_with(&Org::acme(12, 3, 3, &[], &[])).await;

    // With sound=1, on the Wall: three falling notes on the break, three rising ones on the fix.
    open_and_wait_for_state(&browser, &app, "/wall?tv=1&rotate=0&sound=1").await;
    post_run(&app, &repos[3], "main", 666_000_001, Some("failure")).await;
    assert_eq!(audible_notes(&browser, 3).await, BREAK, "the break's sound");
    post_run(&app, &repos[3], "main", 666_000_002, Some("success")).await;
    let both = [BREAK, FIX].concat();
    assert_eq!(audible_notes(&browser, 6).await, both, "the fix's sound");

    // The default rotation, showing the Waterfall: the break's whole sound (0.48 s), then the Wall.
    open_and_wait_for_state(&browser, &app, "/waterfall?tv=1&sound=1").await;
    assert_eq!(js(&browser, "return location.pathname").await, "/waterfall");
    js(
        &browser,
        "sessionStorage.removeItem('probe.notes'); sessionStorage.removeItem('probe.left')",
    )
    .await;
    post_run(&app, &repos[4], "main", 666_000_003, Some("failure")).await;
    until(
        &browser,
        "location.pathname === '/wall'",
        Duration::from_secs(10),
    )
    .await;
    let kept = js(
        &browser,
        "return [JSON.parse(sessionStorage.getItem('probe.notes')), Number(sessionStorage.getItem('probe.left'))]",
    )
    .await;
    assert_eq!(
        audible(&kept[0]),
        BREAK,
        "the break's sound, on the Waterfall"
    );
    let played = kept[1].as_f64().unwrap() - kept[0][0]["at"].as_f64().unwrap();
    assert!(played >= 480.0, "the page left {played} ms into the sound");

    // Without sound=1: the same break and fix are shown, and make no sound.
    open_and_wait_for_state(&browser, &app, "/wall?tv=1&rotate=0").await;
    post_run(&app, &repos[5], "main", 666_000_004, Some("failure")).await;
    until_title_and_icon(&browser, "2 red", "/static/red.svg").await;
    post_run(&app, &repos[5], "main", 666_000_005, Some("success")).await;
    until_title_and_icon(&browser, "1 red", "/static/red.svg").await;
    assert_eq!(
        js(&browser, "return window.__audio").await,
        serde_json::json!({ "contexts": 0, "notes": [] }),
        "no sound without sound=1"
    );
    app.stop().await;
    browser.close().await.unwrap();
}

/// JS: the red repositories `keys` (JSON array) whose tile or Triage item is on screen now
/// (shown, not paged off, wholly inside the viewport).
fn reds_on_screen(keys: &str) -> String {
    format!(
        "return {keys}.filter(key => Array.from(document.querySelectorAll(
             '#tiles > .tile[data-key=\"' + CSS.escape(key) + '\"], #reds > li[data-key=\"' + CSS.escape(key) + '\"]'))
           .some(el => {{
             if (el.offsetParent === null || el.classList.contains('off')) return false;
             const r = el.getBoundingClientRect();
             return r.width > 0 && r.top >= 0 && r.left >= 0 && r.bottom <= window.innerHeight + 0.5
               && r.right <= window.innerWidth + 0.5;
           }}));"
    )
}

/// JS: the TV text that carries a name, a culprit or a workflow and is cut (an ellipsis, or
/// outside its tile, item or the screen) or smaller than `min_px`, as text.
fn cut_or_small(min_px: f64) -> String {
    format!(
        "return Array.from(document.querySelectorAll(
             '#tiles > .tile:not(.off) :is(.tile-name .name, .tile-name .owner, .tile-wfs, .culprit, .tile-older), \
              #reds > li:not(.off) :is(.red-head .repo, .red-head .wf, .culprit, .wf-name)'))
           .filter(el => el.offsetParent !== null)
           .filter(el => {{
             const r = el.getBoundingClientRect();
             const box = (el.closest('.tile, #reds > li') || el).getBoundingClientRect();
             const style = getComputedStyle(el);
             const inside = r.top >= Math.max(0, box.top) - 1 && r.bottom <= Math.min(window.innerHeight, box.bottom) + 1
               && r.left >= box.left - 1 && r.right <= Math.min(window.innerWidth, box.right) + 1;
             return el.textContent.includes('…') || style.textOverflow === 'ellipsis' || !inside
               || parseFloat(style.fontSize) < {min_px};
           }})
           .map(el => el.className + ' ' + el.textContent.trim() + ' ' + getComputedStyle(el).fontSize).slice(0, 5);"
    )
}

/// The relative luminance of an sRGB colour `rgb(r, g, b)` as a browser computes it, seen
/// through Machado et al.'s (2009) deuteranopia simulation at full severity.
fn deuteranopic_luminance(css: &str) -> f64 {
    const MACHADO: [[f64; 3]; 3] = [
        [0.367_322, 0.860_646, -0.227_968],
        [0.280_085, 0.672_501, 0.047_413],
        [-0.011_820, 0.042_940, 0.968_881],
    ];
    let channels: Vec<f64> = css
        .trim_start_matches("rgba(")
        .trim_start_matches("rgb(")
        .trim_end_matches(')')
        .split(',')
        .take(3)
        .map(|c| c.trim().parse::<f64>().unwrap() / 255.0)
        .map(|c| {
            if c <= 0.040_45 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        })
        .collect();
    let seen: Vec<f64> = MACHADO
        .iter()
        .map(|row| {
            (0..3)
                .map(|i| row[i] * channels[i])
                .sum::<f64>()
                .clamp(0.0, 1.0)
        })
        .collect();
    0.2126 * seen[0] + 0.7152 * seen[1] + 0.0722 * seen[2]
}

fn contrast(a: f64, b: f64) -> f64 {
    (a.max(b) + 0.05) / (a.min(b) + 0.05)
}

/// The default TV address, on the demo organisation with its trickle, sampled every second for
/// 60 s (the three minutes cut to what CI affords: four cycles of a Wall-and-Triage
/// rotation would take five) at 1920x1080 and 1366x768 at once: every red repository is on
/// screen (its tile, or its Triage item) in at least 80 % of the samples; at 1080p no text with a
/// name, culprit or workflow is cut or under 28 px; red and green tiles' backgrounds differ by
/// 3:1 in luminance through a deuteranopia simulation; and a second break in a red repository
/// leads its tile with the new workflow and its author.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answer_stays_up_readable_uncut_and_colour_blind_safe_on_the_demo_organisation() {
    let driver = start_driver();
    let (big, small) = (open_browser(&driver).await, open_browser(&driver).await);
    viewport(&big, 1920, 1080).await;
    viewport(&small, 1366, 768).await;
    let app = spawn().await;
    let simulation = load_demo(&app).await;
    let org = simulation.organisation().clone();
    let trickle = Trickle::start(&app, simulation);
    open(&big, &app, "/wall?tv=1").await;
    open(&small, &app, "/wall?tv=1").await;

    // Arrange: a red repository whatever the trickle did.
    let (target, workflow) = green_repo_with_a_scheduled_workflow(&app, &org).await;
    let now = chrono::Utc::now().timestamp();
    let first = demo_failure(&org, target, workflow, 99_100_000_001, now);
    app.deliver("workflow_run", "glance-1", &first).await;

    // Act: sample both screens every second.
    let mut shown: std::collections::HashMap<(u32, String), (u32, u32)> = Default::default();
    let mut previous: Vec<String> = Vec::new();
    let mut paths: Vec<String> = Vec::new();
    let mut bad = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let reds = red_repos(&app).await;
        // A repository that turned red this second may not have reached the screen yet.
        let settled: Vec<String> = reds
            .iter()
            .filter(|r| previous.contains(r))
            .cloned()
            .collect();
        previous = reds;
        let keys = serde_json::to_string(&settled).unwrap();
        for (height, browser) in [(1080, &big), (768, &small)] {
            let on_screen = js(browser, &reds_on_screen(&keys)).await;
            for key in &settled {
                let entry = shown.entry((height, key.clone())).or_default();
                entry.1 += 1;
                if on_screen
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|k| k == key.as_str())
                {
                    entry.0 += 1;
                }
            }
        }
        paths.push(js(&big, "return location.pathname").await.to_string());
        let cut = js(&big, &cut_or_small(28.0)).await;
        if cut != serde_json::json!([]) {
            bad.push(cut);
        }
    }

    // Assert: the answer was up.
    eprintln!("glance: views seen at 1080p {paths:?}");
    for ((height, key), (seen, looks)) in &shown {
        eprintln!("glance: {key} on screen at height {height}: {seen} of {looks} samples");
        if *looks >= 10 {
            assert!(
                seen * 10 >= looks * 8,
                "{key} on screen at height {height} in {seen} of {looks} samples"
            );
        }
    }
    assert!(
        shown
            .keys()
            .any(|(_, key)| *key == org.repos[target].full_name),
        "the broken repository was sampled"
    );
    assert!(bad.is_empty(), "cut or small TV text: {bad:?}");

    // Colour: red against green tiles, through deuteranopic eyes.
    open(&big, &app, "/wall?tv=1&rotate=0").await;
    let colours = js(
        &big,
        "return ['.tile.t-red', '.tile.t-green'].map(s => getComputedStyle(document.querySelector(s)).backgroundColor)",
    )
    .await;
    let (red, green) = (
        deuteranopic_luminance(colours[0].as_str().unwrap()),
        deuteranopic_luminance(colours[1].as_str().unwrap()),
    );
    let ratio = contrast(red, green);
    eprintln!("glance: tiles {colours}, deuteranopic contrast {ratio:.2}:1");
    assert!(
        ratio >= 3.0,
        "deuteranopic contrast {ratio:.2}:1 of {colours}"
    );

    // A second break in the red repository: its tile leads with the new workflow and author.
    let repo = &org.repos[target];
    let other = (0..repo.workflows.len())
        .find(|&w| w != workflow)
        .expect("a second workflow");
    let who = *repo.team.last().unwrap();
    let second = demo_failure_by(
        &org,
        target,
        other,
        99_100_000_002,
        chrono::Utc::now().timestamp(),
        who,
    );
    app.deliver("workflow_run", "glance-2", &second).await;
    let tile = format!(".tile[data-key=\"{}\"]", repo.full_name);
    let (new_workflow, author) = (&repo.workflows[other].name, &org.people[who].login);
    until(
        &big,
        &format!(
            "(document.querySelector('{tile} .tile-wfs') || {{}}).textContent.includes({new_workflow:?})
             && (document.querySelector('{tile} .tile-who .culprit') || {{}}).textContent === {author:?}"
        ),
        Duration::from_secs(10),
    )
    .await;
    let older = js(
        &big,
        &format!("return Array.from(document.querySelectorAll('{tile} .tile-older')).map(e => e.textContent)"),
    )
    .await;
    assert!(
        older.to_string().contains(&repo.workflows[workflow].name),
        "the older red follows: {older}"
    );
    trickle.stop().await;
    app.stop().await;
    big.close().await.unwrap();
    small.close().await.unwrap();
}

/// A break every 20 s, compressed with the rotation's own speed (`rotate=4`: the Wall 16 s, a
/// hold 16 s, extended once to 24 s at most; the breaks every 5 s): the rotation still leaves
/// the Wall within two minutes at that speed (32 s). A pinned view (`rotate=0`) never switches
/// away: a break shows there as a banner.
#[tokio::test]
async fn breaks_every_20_s_never_hold_the_wall_past_two_minutes_and_a_pinned_view_stays() {
    let driver = start_driver();
    let browser = open_browser(&driver).await;
    viewport(&browser, 1366, 768).await;
    let (app, repos) = spawn_with(&Org::acme(40, 2, 2, &[0], &[])).await;

    open(&browser, &app, "/wall?tv=1&rotate=4").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let arrived = Instant::now();
    let mut next = 1;
    let left = loop {
        let path = js(&browser, "return location.pathname").await;
        if path != "/wall" {
            break arrived.elapsed();
        }
        assert!(
            arrived.elapsed() < Duration::from_secs(32),
            "still on the Wall after {:?} of breaks",
            arrived.elapsed()
        );
        post_run(
            &app,
            &repos[next],
            "main",
            556_000_000 + next as i64,
            Some("failure"),
        )
        .await;
        next += 1;
        tokio::time::sleep(Duration::from_secs(5)).await;
    };
    eprintln!("the rotation left the Wall after {left:?} under {next} breaks");

    // Pinned on the Waterfall: a break is a banner there, and the view stays.
    open(&browser, &app, "/waterfall?tv=1&rotate=0").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    post_run(&app, &repos[39], "main", 556_100_000, Some("failure")).await;
    until(
        &browser,
        &format!(
            "(document.getElementById('tv-break') || {{}}).textContent.includes({:?})",
            repos[39].name
        ),
        Duration::from_secs(10),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(js(&browser, "return location.pathname").await, "/waterfall");
    app.stop().await;
    browser.close().await.unwrap();
}

#[tokio::test]
async fn every_views_live_part_is_only_the_live_part() {
    let (app, _) = spawn_with(&Org::acme(3, 2, 2, &[1], &[])).await;
    for path in [
        "/waterfall?part=live",
        "/?part=live",
        "/wall?part=live",
        "/triage?part=live",
        "/developer?part=live",
        "/developer/nobody?part=live",
        "/waterfall?tv=1&part=live",
        "/?tv=1&part=live",
        "/developer?tv=1&part=live",
    ] {
        let html = app.get_text(path).await;
        assert!(
            !html.contains("<header") && !html.contains("id=\"conn\"") && !html.contains("<html"),
            "{path} holds a page header: {}",
            &html[..html.len().min(300)]
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_typo_never_reads_as_green() {
    let (app, _) = spawn_with(&Org::acme(3, 2, 2, &[], &[])).await;
    let state = app.get_json("/wall?part=state&author=nobdoy").await;
    assert_eq!(state["unknown"], true, "{state}");
    let green = app.get_json("/wall?part=state").await;
    assert_eq!(green["unknown"], false, "{green}");
    let page = app.get_text("/triage?author=nobdoy").await;
    assert!(
        page.contains("href=\"/static/grey.svg\""),
        "no green icon before the state"
    );
    assert!(!page.contains("All green"));
    app.stop().await;
}

/// JS: how far the page scrolls sideways (`[scrollWidth, innerWidth]`) and what sticks out.
const SIDEWAYS: &str = "const page = document.scrollingElement;
    return [page.scrollWidth, window.innerWidth,
      Array.from(document.querySelectorAll('body *'))
        .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && !e.closest('.grid-wrap'))
        .slice(0, 8).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))]";

/// The newcomer's first page, `/` on a laptop (1440x900) with the demo organisation loaded, is
/// the Wall, and no view scrolls sideways; the Waterfall shows every branch name whole, marked
/// as the default branch or not.
#[tokio::test]
async fn the_first_page_at_1440x900_is_the_wall_and_never_scrolls_sideways_on_the_demo_organisation(
) {
    let driver = start_driver();
    let browser = open_browser(&driver).await;
    viewport(&browser, 1440, 900).await;
    let app = spawn().await;
    load_demo(&app).await;
    for path in ["/", "/waterfall", "/wall", "/triage"] {
        open(&browser, &app, path).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let widths = js(&browser, SIDEWAYS).await;
        assert!(
            widths[0].as_f64().unwrap() <= widths[1].as_f64().unwrap(),
            "{path} scrolls sideways: {widths}"
        );
    }
    open(&browser, &app, "/").await;
    assert_eq!(
        js(&browser, "return document.body.dataset.view").await,
        "wall"
    );
    assert!(js(
        &browser,
        "return document.getElementById('tiles').children.length"
    )
    .await
    .as_u64()
    .is_some_and(|n| n == 25));

    // The Waterfall: every repository's block, every branch name whole (its text is the name
    // its hover text gives, nothing cut), the default branch marked apart.
    open(&browser, &app, "/waterfall").await;
    let branches = js(
        &browser,
        "return Array.from(document.querySelectorAll('#repos .meta .branch')).map(b => [
            b.textContent.replace(/^\\S+\\s/, ''), b.title.replace(/^[a-z ]+: /, ''),
            b.classList.contains('b-default'), b.scrollWidth <= b.clientWidth + 1])",
    )
    .await;
    let branches = branches.as_array().unwrap();
    assert!(branches.len() > 25, "{branches:?}");
    for branch in branches {
        assert_eq!(branch[0], branch[1], "a whole branch name: {branch}");
        assert_eq!(branch[3], true, "not cut: {branch}");
        assert!(!branch[0].as_str().unwrap().contains('…'));
    }
    assert!(branches.iter().any(|b| b[2] == true && b[0] == "main"));
    assert!(branches
        .iter()
        .any(|b| b[2] == false && b[0].as_str().unwrap().contains('/')));
    let blocks = js(
        &browser,
        "return document.querySelectorAll('#repos > .repo-block').length",
    )
    .await;
    assert_eq!(blocks, 25, "a block per repository");
    let png = browser.screenshot().await.unwrap();
    std::fs::write(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/waterfall-1440x900.png"),
        png,
    )
    .unwrap();
    app.stop().await;
    browser.close().await.unwrap();
}

/// JS: on the shown page of a TV's Waterfall, the elements carrying a repository, workflow or
/// branch name that are cut (text wider than their box, or an ellipsis), smaller than 28 px at
/// 1080p (scaled with the screen's height), or outside the screen; the blocks' grids wider than
/// their box; and how far the shown blocks stop above the screen's bottom and short of its right
/// edge (px).
const TV_NAMES: &str = "const floor = 28 * window.innerHeight / 1080 - 0.5;
    const bad = [];
    const blocks = Array.from(document.querySelectorAll('#repos > .repo-block:not(.off)'));
    for (const block of blocks) {
      const wrap = block.querySelector('.grid-wrap');
      if (wrap.scrollWidth > wrap.clientWidth + 1) bad.push('grid wider than its block: ' + block.dataset.repo);
      for (const el of block.querySelectorAll('.repo-name, .lane-head .wf, .meta .branch')) {
        const r = el.getBoundingClientRect();
        const size = parseFloat(getComputedStyle(el).fontSize);
        if (el.scrollWidth > el.clientWidth + 1 || el.textContent.includes('…')) bad.push('cut: ' + el.textContent);
        if (size < floor) bad.push('small ' + size + ': ' + el.textContent);
        if (r.bottom > window.innerHeight + 0.5 || r.right > window.innerWidth + 0.5) bad.push('outside: ' + el.textContent);
      }
    }
    const bottom = Math.max(...blocks.map(b => b.getBoundingClientRect().bottom));
    const right = Math.max(...blocks.map(b => b.getBoundingClientRect().right));
    return [bad.slice(0, 8), blocks.length, Math.round(window.innerHeight - bottom),
      Math.round(window.innerWidth - right), document.getElementById('pager').textContent,
      blocks.map(b => b.dataset.repo)];";

/// A TV's Waterfall on the demo organisation at 1920x1080 and 1366x768: on every page no
/// repository, workflow or branch name is cut or under 28 px at 1080p, the blocks reach the
/// screen's bottom and right edge (no empty band), every repository is shown over the pages, and the figures
/// say they cover the watched branches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tv_waterfall_of_the_demo_organisation_cuts_no_name_and_fills_the_screen() {
    let driver = start_driver();
    let app = spawn().await;
    load_demo(&app).await;
    let hud = app.get_text("/waterfall?tv=1&part=hud").await;
    assert!(hud.contains(" runs · watched: main"), "{hud}");
    for (width, height) in [(1920, 1080), (1366, 768)] {
        let browser = open_browser(&driver).await;
        viewport(&browser, width, height).await;
        open(&browser, &app, "/waterfall?tv=1&rotate=0&page=2").await;
        // Pages turn every 2 s whatever the test does: each page is checked when it is seen (one
        // script reads the pager, the names and the edges together), in whatever order they come
        // round, until every page was checked.
        let mut checked = std::collections::BTreeSet::new();
        let mut seen = std::collections::BTreeSet::new();
        let mut pages = None;
        tokio::time::sleep(Duration::from_millis(800)).await;
        let deadline = Instant::now() + Duration::from_secs(60);
        while pages.is_none_or(|pages| checked.len() < pages) {
            assert!(
                Instant::now() < deadline,
                "{width}x{height}: pages checked {checked:?} of {pages:?}"
            );
            let check = js(&browser, TV_NAMES).await;
            let pager = match check[4].as_str().unwrap() {
                "" => "page 1 of 1".to_owned(),
                pager => pager.to_owned(),
            };
            if checked.contains(&pager) {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            pages = crate::browser::page_count(&pager);
            eprintln!("tv waterfall {width}x{height} {pager}: {check}");
            assert_eq!(check[0], serde_json::json!([]), "{width}x{height} {pager}");
            let (band, side) = (check[2].as_f64().unwrap(), check[3].as_f64().unwrap());
            assert!(
                band < 0.05 * f64::from(height),
                "{width}x{height} {pager}: {band} px empty at the bottom"
            );
            assert!(
                side < 0.05 * f64::from(width),
                "{width}x{height} {pager}: {side} px empty on the right"
            );
            for repo in check[5].as_array().unwrap() {
                seen.insert(repo.as_str().unwrap().to_owned());
            }
            if pager.starts_with("page 1 of") {
                let png = browser.screenshot().await.unwrap();
                let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join(format!("target/tv-waterfall-{width}x{height}.png"));
                std::fs::write(out, png).unwrap();
            }
            checked.insert(pager);
        }
        assert_eq!(
            seen.len(),
            25,
            "{width}x{height}: every repository over the pages"
        );
        browser.close().await.unwrap();
    }
    app.stop().await;
}

#[tokio::test]
async fn a_branch_filter_that_only_some_repositories_match_says_which() {
    let (app, repos) = spawn_with(&Org::acme(5, 2, 2, &[], &[])).await;
    post_run(&app, &repos[3], "master", 557_000_001, Some("success")).await;
    for path in ["/triage?branch=master", "/wall?branch=master&part=live"] {
        let html = app.get_text(path).await;
        let says = format!(
            "⎇ master is in 1 of 5 repositories: {}; the other 4 have none",
            repos[3].name
        );
        assert!(html.contains(&says), "{path} says which: {html}");
    }
    let everywhere = app.get_text("/triage?branch=main").await;
    assert!(!everywhere.contains("filter-partial"), "main is everywhere");
    app.stop().await;
}

#[tokio::test]
async fn the_figures_say_which_branches_they_cover() {
    let (app, _) = spawn_with(&Org::acme(3, 2, 2, &[], &[])).await;
    let all = app.get_text("/waterfall?part=hud").await;
    assert!(all.contains(" runs · all branches</span>"), "{all}");
    assert!(all.contains("· all branches</figcaption>"));
    let main = app.get_text("/waterfall?part=hud&branch=main").await;
    assert!(main.contains(" runs · ⎇ main</span>"), "{main}");
    app.stop().await;
}

/// A TV Waterfall's blocks sit two a row: a narrow block left without a partner in its row (the
/// last of an odd number) takes the whole row rather than leave half the screen empty, and the
/// blocks with a partner keep half of it.
#[tokio::test]
async fn a_tv_waterfall_block_without_a_partner_in_its_row_takes_the_whole_row() {
    let (app, _repos) = spawn_with(&Org::acme(3, 3, 3, &[], &[])).await;
    let driver = start_driver();
    let browser = open_browser(&driver).await;
    viewport(&browser, 1920, 1080).await;
    open(&browser, &app, "/waterfall?tv=1&rotate=0").await;
    until(
        &browser,
        "document.querySelectorAll('#repos > .repo-block.alone').length === 1",
        Duration::from_secs(5),
    )
    .await;

    let blocks = js(
        &browser,
        "return Array.from(document.querySelectorAll('#repos > .repo-block')).map(b =>
           [b.classList.contains('alone'), Math.round(window.innerWidth - b.getBoundingClientRect().right)]);",
    )
    .await;

    let blocks: Vec<(bool, f64)> = serde_json::from_value(blocks).unwrap();
    assert_eq!(blocks.len(), 3, "{blocks:?}");
    assert_eq!(
        blocks.iter().map(|b| b.0).collect::<Vec<_>>(),
        [false, false, true],
        "{blocks:?}"
    );
    assert!(
        blocks[0].1 > 500.0,
        "the first of a pair keeps half the row: {blocks:?}"
    );
    assert!(
        blocks[2].1 < 0.05 * 1920.0,
        "the one alone reaches the right edge: {blocks:?}"
    );
    browser.close().await.unwrap();
    app.stop().await;
}
