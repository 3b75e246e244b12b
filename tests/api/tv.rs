//! The Wall and TV mode in a real Chromium, against a real server holding an organisation at work
//! (24+ repositories, several workflows each, feature branches, history) while a trickle of
//! deliveries keeps arriving through the signed webhook: a new failure on a watched branch must
//! reach the TV, readable from across the room, and stay there; nothing that carries a run, a tile
//! or a red item may lie outside the screen; every page of every view is shown in a rotation; the
//! title and icon follow the first red and the last green; a bad address gets an HTML page.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fantoccini::Client;
use serde_json::Value;

use crate::browser::{js, open, open_browser, start_driver, until};
use crate::helpers::{spawn_app_with, TestApp};
use crate::seed::{self, org_run_delivery, OrgRepo};

/// A server without rate limits (the browser and the trickle share one address).
async fn spawn() -> TestApp {
    spawn_app_with(|config| {
        config.rate_limit = 0;
        config.webhook_rate_limit = 0;
    })
    .await
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

/// Deliveries every 150 ms until dropped: runs starting and passing on `main` of the green
/// repositories and on feature branches everywhere, as an organisation's webhooks bring them.
struct Trickle {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<usize>,
}

impl Trickle {
    fn start(app: &TestApp, repos: &[OrgRepo], quiet: &[usize]) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (http, url) = (app.http.clone(), app.url("/webhook"));
        let repos: Vec<OrgRepo> = repos
            .iter()
            .enumerate()
            .filter(|(i, _)| !quiet.contains(i))
            .map(|(_, r)| r.clone())
            .collect();
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut sent = 0;
            let mut n: i64 = 0;
            while !flag.load(Ordering::Relaxed) {
                n += 1;
                let repo = &repos[n as usize % repos.len()];
                let branch = if n % 2 == 0 {
                    "main"
                } else {
                    "feature/trickle"
                };
                let run_id = 900_000_000 + n / 2;
                let sha = format!("{:040x}", 0xface_0000_u64 + (n / 2) as u64);
                let conclusion = if n % 4 < 2 { None } else { Some("success") };
                let body = org_run_delivery(repo, 1, branch, run_id, &sha, conclusion);
                let response = crate::helpers::signed_delivery(
                    &http,
                    &url,
                    crate::helpers::SECRET,
                    "workflow_run",
                    &format!("trickle-{n}"),
                    body,
                )
                .send()
                .await;
                if response.is_ok_and(|r| r.status().is_success()) {
                    sent += 1;
                }
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
            sent
        });
        Self { stop, task }
    }

    async fn stop(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap()
    }
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

/// A failure on `main` of one repository of a busy organisation reaches a TV that is showing
/// another view (the default rotation), readable from across the room, and stays there.
async fn a_new_failure_interrupts_the_rotation_readably(width: u32, height: u32, watch: Duration) {
    let driver = start_driver();
    let browser = open_browser(&driver).await;
    viewport(&browser, width, height).await;
    let app = spawn().await;
    let repos = seed::organisation_with_reds(&app.db(), 24, 4, 8, &[3, 11], &[5]);
    let target = 17;
    let trickle = Trickle::start(&app, &repos, &[3, 11, target]);

    // The TV shows the Waterfall, the second view of the default rotation, then the Wall.
    open(&browser, &app, "/?tv=1").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let key = repos[target].name.clone();
    let failed = Instant::now();
    app.deliver(
        "workflow_run",
        "the-break",
        &org_run_delivery(
            &repos[target],
            0,
            "main",
            777_000_001,
            &"b".repeat(40),
            Some("failure"),
        ),
    )
    .await;
    let tile = format!(".tile.t-red[data-key=\"{key}\"]");
    let name = format!("{tile} .tile-name .name");
    let workflows = format!("{tile} .tile-wfs");
    until(
        &browser,
        &format!("{} && {}", readable(&name, 24), readable(&workflows, 20)),
        Duration::from_secs(10),
    )
    .await;
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

    // It stays on screen, past the rotation's 30 s.
    let (mut seen, mut looks) = (0, 0);
    let started = Instant::now();
    while started.elapsed() < watch {
        tokio::time::sleep(Duration::from_secs(1)).await;
        looks += 1;
        if js(&browser, &format!("return {}", readable(&name, 24))).await == Value::Bool(true) {
            seen += 1;
        }
    }
    assert!(seen * 10 >= looks * 9, "on screen {seen} of {looks} looks");
    let sent = trickle.stop().await;
    assert!(sent > 20, "the trickle ran ({sent} deliveries)");
    app.stop().await;
    browser.close().await.unwrap();
}

#[tokio::test]
async fn a_new_failure_reaches_a_1080p_tv_within_10_s_and_stays_past_the_rotation() {
    a_new_failure_interrupts_the_rotation_readably(1920, 1080, Duration::from_secs(36)).await;
}

#[tokio::test]
async fn a_new_failure_reaches_a_1366x768_tv_within_10_s_readably() {
    a_new_failure_interrupts_the_rotation_readably(1366, 768, Duration::from_secs(12)).await;
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
    seed::organisation_with_reds(&app.db(), 70, 3, 4, &reds, &[2, 7]);

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
    while started.elapsed() < Duration::from_secs(45) {
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
        let total = pager
            .rsplit(" of ")
            .next()
            .and_then(|n| n.trim().parse::<usize>().ok())
            .unwrap_or(1);
        pages.insert(path.clone(), total);
        seen.entry(path).or_default().insert(pager);
        // Done once every view was seen with each of its pages, and the rotation came round.
        let complete = ["/wall", "/", "/triage", "/developer"].iter().all(|p| {
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
    for path in ["/wall", "/", "/triage", "/developer"] {
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
    let app = spawn().await;
    let repos = seed::organisation_with_reds(&app.db(), 20, 3, 4, &[], &[]);
    let icon = "document.getElementById('favicon').getAttribute('href')";

    open(&browser, &app, "/triage").await;
    until(
        &browser,
        "document.title === 'all green · buildboard'",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(
        js(&browser, &format!("return {icon}")).await,
        "/static/green.svg"
    );

    app.deliver(
        "workflow_run",
        "red-1",
        &org_run_delivery(
            &repos[4],
            0,
            "main",
            555_000_001,
            &"c".repeat(40),
            Some("failure"),
        ),
    )
    .await;
    until(
        &browser,
        "document.title === '1 red · buildboard'",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(
        js(&browser, &format!("return {icon}")).await,
        "/static/red.svg"
    );

    // A red on a feature branch is not the Wall's business.
    app.deliver(
        "workflow_run",
        "red-feature",
        &org_run_delivery(
            &repos[6],
            0,
            "feature/x",
            555_000_002,
            &"d".repeat(40),
            Some("failure"),
        ),
    )
    .await;
    app.deliver(
        "workflow_run",
        "green-1",
        &org_run_delivery(
            &repos[4],
            0,
            "main",
            555_000_003,
            &"e".repeat(40),
            Some("success"),
        ),
    )
    .await;
    until(
        &browser,
        "document.title === 'all green · buildboard'",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(
        js(&browser, &format!("return {icon}")).await,
        "/static/green.svg"
    );

    // A rotation without the Wall shows a new break on Triage, marked.
    open(&browser, &app, "/?tv=1&views=waterfall,triage").await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    app.deliver(
        "workflow_run",
        "red-2",
        &org_run_delivery(
            &repos[9],
            0,
            "main",
            555_000_004,
            &"f".repeat(40),
            Some("failure"),
        ),
    )
    .await;
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
    let app = spawn().await;
    let repos = seed::organisation_with_reds(&app.db(), 25, 3, 3, &[2, 9], &[4]);

    let state: Value = app
        .http
        .get(app.url("/wall?part=state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["total"], 25);
    assert_eq!(state["red"], 2);
    assert_eq!(state["green"], 23);
    assert_eq!(state["running"], 1);
    let page = app.http.get(app.url("/wall")).send().await.unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains("23 of 25 green"), "the headline");
    let first_tile = html.find("class=\"tile ").unwrap();
    assert!(
        html[first_tile..].starts_with("class=\"tile t-red"),
        "red first"
    );
    assert!(html.contains(&format!("data-key=\"{}\"", repos[9].name)));

    // One repository: a tile per workflow.
    let one = app
        .http
        .get(app.url(&format!("/wall?part=state&repo={}", repos[2].name)))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(one["total"], 3);
    assert_eq!(one["red"], 1);

    for (path, status) in [
        ("/nope", 404),
        ("/wall?window=1y", 400),
        ("/triage?views=x", 400),
    ] {
        let response = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{path}");
        let kind = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(kind.starts_with("text/html"), "{path}: {kind}");
        let text = response.text().await.unwrap();
        assert!(text.contains("class=\"error-message\""), "{path}");
    }
    let api = app.http.get(app.url("/api/nope")).send().await.unwrap();
    assert_eq!(api.status().as_u16(), 404);
    assert!(api.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    app.stop().await;
}

/// Screenshots of the Wall on a TV at 1920x1080, 1366x768 and 3840x2160, an organisation loaded:
/// `docs/tv.png` (1080p) and `target/tv-<w>x<h>.png`, to look at as a person across the room would.
#[tokio::test]
#[ignore = "writes docs/tv.png; run with --ignored wall_screenshots"]
async fn wall_screenshots() {
    let driver = start_driver();
    let browser = open_browser(&driver).await;
    let app = spawn().await;
    seed::organisation_with_reds(&app.db(), 26, 4, 6, &[1, 8, 14], &[4, 20]);
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for (w, h) in [(1920, 1080), (1366, 768), (3840, 2160)] {
        viewport(&browser, w, h).await;
        open(&browser, &app, "/wall?tv=1&rotate=0").await;
        tokio::time::sleep(Duration::from_millis(700)).await;
        let png = browser.screenshot().await.unwrap();
        std::fs::write(out.join(format!("target/tv-{w}x{h}.png")), &png).unwrap();
        if w == 1920 {
            std::fs::write(out.join("docs/tv.png"), &png).unwrap();
        }
    }
    viewport(&browser, 1366, 768).await;
    for (path, name) in [
        ("/triage?tv=1&rotate=0", "triage"),
        ("/?tv=1&rotate=0", "waterfall"),
        ("/nope?x=1", "error"),
        ("/wall", "desktop-wall"),
    ] {
        browser.goto(&app.url(path)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let png = browser.screenshot().await.unwrap();
        std::fs::write(out.join(format!("target/tv-{name}-1366x768.png")), &png).unwrap();
    }
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
        seed::organisation_with_reds(&app.db(), 100, 5, 1, &red, &[])
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
        let response = app.http.get(app.url("/wall")).send().await.unwrap();
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
        let response = app
            .http
            .get(app.url("/wall?part=state"))
            .send()
            .await
            .unwrap();
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

/// One Chrome DevTools command through chromedriver's `goog/cdp/execute`.
async fn cdp(driver_url: &str, browser: &Client, cmd: &str) -> Value {
    let session = browser.session_id().await.unwrap().unwrap();
    let answer: Value = reqwest::Client::new()
        .post(format!("{driver_url}/session/{session}/goog/cdp/execute"))
        .json(&serde_json::json!({ "cmd": cmd, "params": {} }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["value"].clone()
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
    let app = spawn().await;
    let repos = seed::organisation_with_reds(&app.db(), 24, 4, 6, &[3], &[5]);
    for (path, base) in [("/?tv=1&rotate=0", 0), ("/wall?tv=1&rotate=0", 1)] {
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
