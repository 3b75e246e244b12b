//! The browser code as ES modules: every page loads, in a real Chromium, exactly the modules it
//! uses (no more: a TV loads no operator buttons, a desktop no rotation), each without an error
//! in the console; the static route serves modules with their content type and revalidates them
//! by ETag, and nothing outside `static/`; a filtered page's live runs are the server's answer
//! (no second filter in the browser); a TV's pages of blocks (the Waterfall's repositories) stay
//! as they were assigned while redrawn, and every one is shown.

use std::collections::BTreeSet;
use std::time::Duration;

use buildboard::config::Config;
use fantoccini::Client;
use serde_json::{json, Value};

use crate::browser::{cdp_with, js, open, open_browser, open_until, start_driver, until, Driver};
use crate::helpers::{spawn_app, spawn_app_with, TestApp};
use crate::seed::{self, org_run_delivery, run_delivery, Org};

/// Records, from the first line of every document, what would show in the console as an error:
/// scripts that fail to load or run, rejected promises, `console.error`, Content-Security-Policy
/// refusals.
const ERROR_PROBE: &str = "window.__errors = [];
  addEventListener('error', (e) => window.__errors.push(e.message
    || ('failed to load ' + (e.target && (e.target.src || e.target.href)))), true);
  addEventListener('unhandledrejection', (e) => window.__errors.push('rejected: ' + e.reason));
  addEventListener('securitypolicyviolation', (e) => window.__errors.push('CSP: ' + e.blockedURI));
  const consoleError = console.error;
  console.error = (...args) => { window.__errors.push(args.join(' ')); consoleError.apply(console, args); };";

/// The modules (`/static/*.js`) the page fetched, by name.
const LOADED: &str = "return performance.getEntriesByType('resource')
  .map((e) => new URL(e.name).pathname)
  .filter((p) => p.startsWith('/static/') && p.endsWith('.js'))
  .map((p) => p.slice('/static/'.length));";

/// What every board page loads: the connection, the shared settings, times, the title's state,
/// claims on reds (buttons off a TV; a TV redraws when one changes) with the session module they
/// ask who acts.
const EVERY_PAGE: &[&str] = &[
    "app.js",
    "board.js",
    "times.js",
    "state.js",
    "claim.js",
    "operator.js",
];
/// What a TV adds: the rotation, and what it imports.
const TV: &[&str] = &["rotation.js", "paging.js", "layout.js", "alerts.js"];

/// Opens `path`, waits for its modules to have run (the feed connected, the title from the
/// state) and a second more, and returns the modules it loaded and the errors it had.
async fn load(browser: &Client, app: &TestApp, path: &str) -> (BTreeSet<String>, Value) {
    let titled = "/ red|green|no runs/.test(document.title)";
    open_until(browser, (app, path), titled, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let loaded = js(browser, LOADED).await;
    let loaded = loaded
        .as_array()
        .unwrap()
        .iter()
        .map(|name| name.as_str().unwrap().to_owned())
        .collect();
    (loaded, js(browser, "return window.__errors").await)
}

/// A server with [`seed::realistic`]'s builds, and a Chromium (and its driver) to look at it.
async fn realistic_in_chromium(adjust: impl FnOnce(&mut Config)) -> (TestApp, Driver, Client) {
    let app = spawn_app_with(adjust).await;
    seed::realistic(&app.db());
    let driver = start_driver();
    let browser = open_browser(&driver).await;
    (app, driver, browser)
}

fn names(lists: &[&[&str]]) -> BTreeSet<String> {
    lists
        .iter()
        .flat_map(|list| list.iter())
        .map(|name| name.to_string())
        .collect()
}

#[tokio::test]
async fn every_page_loads_the_modules_it_uses_and_no_other_without_an_error() {
    // Arrange: a board with reds (and the model analysis, which the run page then offers; never
    // asked here), and a browser that records every error from the first line.
    let (app, driver, browser) = realistic_in_chromium(|config| {
        config.analysis_url =
            Some(buildboard::analysis::AnalysisUrl::parse("http://127.0.0.1:9/v1").unwrap());
    })
    .await;
    cdp_with(
        &driver.url,
        &browser,
        "Page.addScriptToEvaluateOnNewDocument",
        json!({ "source": ERROR_PROBE }),
    )
    .await;
    open(&browser, &app, "/waterfall").await;
    let run = js(
        &browser,
        "return document.querySelector('#repos [data-run-id]').dataset.runId",
    )
    .await;
    let run_page = format!("/runs/{}", run.as_str().unwrap());
    let pages: Vec<(&str, BTreeSet<String>)> = vec![
        ("/", names(&[EVERY_PAGE, &["act.js"]])),
        ("/waterfall", names(&[EVERY_PAGE, &["runs.js", "act.js"]])),
        ("/wall", names(&[EVERY_PAGE, &["act.js"]])),
        ("/triage", names(&[EVERY_PAGE, &["act.js"]])),
        ("/developer", names(&[EVERY_PAGE, &["act.js"]])),
        ("/developer/bob", names(&[EVERY_PAGE, &["act.js"]])),
        ("/runners", names(&[EVERY_PAGE, &["act.js"]])),
        (
            &run_page,
            names(&[
                EVERY_PAGE,
                &["act.js", "dispatch.js", "log.js", "analysis.js"],
            ]),
        ),
        (
            "/triage?sound=1",
            names(&[EVERY_PAGE, &["act.js", "alerts.js"]]),
        ),
        ("/wall?tv=1&rotate=0", names(&[EVERY_PAGE, TV])),
        ("/triage?tv=1&rotate=0", names(&[EVERY_PAGE, TV])),
        ("/developer?tv=1&rotate=0", names(&[EVERY_PAGE, TV])),
        ("/?tv=1&rotate=0", names(&[EVERY_PAGE, TV])),
        (
            "/waterfall?tv=1&rotate=0",
            names(&[EVERY_PAGE, TV, &["runs.js"]]),
        ),
    ];
    let mut used = BTreeSet::new();

    // Act and assert: each page loads exactly its modules, and none of them fails.
    for (path, expected) in &pages {
        let (loaded, errors) = load(&browser, &app, path).await;
        assert_eq!(&loaded, expected, "{path}: the modules it loads");
        assert_eq!(errors, json!([]), "{path}: errors in the console");
        used.extend(loaded);
    }
    // The error page loads its own module only, and it runs (a TV's bad address counts down).
    browser.goto(&app.url("/no-such-view?tv=1")).await.unwrap();
    until(
        &browser,
        "/Back to the Wall in/.test(document.getElementById('retry').textContent)",
        Duration::from_secs(5),
    )
    .await;
    let loaded = js(&browser, LOADED).await;
    assert_eq!(loaded, json!(["error.js"]), "the error page's modules");
    assert_eq!(js(&browser, "return window.__errors").await, json!([]));
    used.insert("error.js".to_owned());
    // Every module of static/ is used by some page: none is left behind, unloaded.
    let shipped: BTreeSet<String> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/static"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .filter(|name| name.ends_with(".js"))
            .collect();
    assert_eq!(used, shipped, "modules no page loads");

    browser.close().await.unwrap();
    app.stop().await;
}

#[tokio::test]
async fn modules_are_served_as_javascript_revalidated_by_etag_and_nothing_outside_static() {
    let app = spawn_app().await;
    let http = reqwest::Client::new();

    // A module: JavaScript (browsers refuse a module of another type), asked again on every page.
    let first = app.get("/static/paging.js").await;
    assert_eq!(first.status(), 200);
    let headers = first.headers().clone();
    assert_eq!(
        headers["content-type"], "text/javascript; charset=utf-8",
        "a module's content type"
    );
    assert_eq!(headers["cache-control"], "no-cache");
    let etag = headers["etag"].to_str().unwrap().to_owned();
    assert!(first.text().await.unwrap().contains("export function"));

    // Unchanged: 304 and no body; another ETag gets the file.
    let again = http
        .get(app.url("/static/paging.js"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
    assert!(again.text().await.unwrap().is_empty());
    let other = http
        .get(app.url("/static/paging.js"))
        .header("if-none-match", "\"0000000000000000\"")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);

    // Nothing but static/'s files: no way up, no script that is gone.
    for path in [
        "/static/..%2FCargo.toml",
        "/static/%2e%2e%2fCargo.toml",
        "/static/tv.js",
        "/static/board",
    ] {
        assert_eq!(app.get(path).await.status(), 404, "{path}");
    }
    app.stop().await;
}

/// A run delivery of run `id` on `branch`.
fn run_on(id: i64, branch: &str) -> Vec<u8> {
    let mut payload: Value =
        serde_json::from_slice(&run_delivery(id, &format!("{id:0>40}"), "Live", None)).unwrap();
    payload["workflow_run"]["head_branch"] = json!(branch);
    serde_json::to_vec(&payload).unwrap()
}

#[tokio::test]
async fn a_filtered_waterfall_shows_the_live_runs_the_server_matches_and_no_other() {
    // Arrange: a Waterfall filtered by a branch pattern, open in Chromium.
    let (app, _driver, browser) = realistic_in_chromium(|_| {}).await;
    open(&browser, &app, "/waterfall").await;
    assert_eq!(
        js(&browser, "return document.body.dataset.liveRuns").await,
        "draw",
        "an unfiltered page draws the feed's runs itself"
    );
    open(&browser, &app, "/waterfall?branch=release/*").await;
    assert_eq!(
        js(&browser, "return document.body.dataset.liveRuns").await,
        "fetch",
        "a filtered page asks the server"
    );
    js(&browser, "window.__sameDocument = true; return 1").await;

    // Act: a run outside the filter, then one inside it.
    app.deliver("workflow_run", "out", &run_on(901, "main"))
        .await;
    app.deliver("workflow_run", "in", &run_on(902, "release/2.0"))
        .await;

    // Assert: the matching run shows, live; the other never does.
    until(
        &browser,
        "document.querySelector('#repos [data-run-id=\"902\"]')",
        Duration::from_secs(3),
    )
    .await;
    assert_eq!(
        js(
            &browser,
            "return [!!document.querySelector('[data-run-id=\"901\"]'), window.__sameDocument === true]"
        )
        .await,
        json!([false, true])
    );
    browser.close().await.unwrap();
    app.stop().await;
}

/// The repositories of the TV Waterfall's page on screen, and the pager's text.
const SHOWN: &str = "const shown = [];
  for (const block of document.querySelectorAll('#repos > .repo-block:not(.off)')) shown.push(block.dataset.repo);
  return [shown, document.getElementById('pager').textContent];";

/// What the connection does on a resync: the live part fetched, swapped in, and said so.
const REDRAW: &str = "const response = await fetch(document.body.dataset.liveUrl);
  document.getElementById('live').innerHTML = await response.text();
  document.dispatchEvent(new CustomEvent('bb:updated', { detail: 'live' }));
  return 1;";

#[tokio::test]
async fn a_tv_waterfalls_pages_stay_as_assigned_while_redrawn_and_every_page_is_shown() {
    // Arrange: a TV Waterfall of 22 repositories (several pages), pinned, a page every 3 s.
    let app = spawn_app().await;
    let repos = seed::organisation(&app.db(), &Org::northwind(22, 4));
    let driver = start_driver();
    let browser = open_browser(&driver).await;
    open(&browser, &app, "/waterfall?tv=1&rotate=0&page=3").await;
    // Right after a page turned, so that the page stays up through the redraw below.
    let first = js(&browser, SHOWN).await;
    until(
        &browser,
        &format!(
            "document.getElementById('pager').textContent !== {}",
            first[1]
        ),
        Duration::from_secs(5),
    )
    .await;
    let before = js(&browser, SHOWN).await;
    let pager = before[1].as_str().unwrap().to_owned();
    let count = crate::browser::page_count(&pager)
        .unwrap_or_else(|| panic!("22 repositories fill several pages: {before}"));
    assert!(count > 2, "22 repositories fill several pages: {before}");

    // Act: repositories the page does not show become the most recently active, and the whole
    // part is redrawn while the page is shown.
    let hidden: Vec<&seed::OrgRepo> = repos
        .iter()
        .filter(|repo| !before[0].as_array().unwrap().contains(&json!(repo.name)))
        .take(3)
        .collect();
    assert!(!hidden.is_empty());
    for (i, repo) in hidden.iter().enumerate() {
        let id = 777_000_000 + i as i64;
        let body = org_run_delivery(repo, 0, "main", id, &format!("{id:040x}"), Some("success"));
        app.deliver("workflow_run", &format!("moved-{id}"), &body)
            .await;
    }
    js(&browser, REDRAW).await;

    // Assert: the same page, with the same repositories, is on screen.
    let after = js(&browser, SHOWN).await;
    assert_eq!(after, before, "the page shown was re-packed while shown");

    // And every page comes up in turn, every repository on one of them.
    let mut seen = BTreeSet::new();
    let mut repos_seen = BTreeSet::new();
    let started = std::time::Instant::now();
    while seen.len() < count && started.elapsed() < Duration::from_secs(3 * count as u64 + 6) {
        let now = js(&browser, SHOWN).await;
        seen.insert(now[1].as_str().unwrap().to_owned());
        for repo in now[0].as_array().unwrap() {
            repos_seen.insert(repo.as_str().unwrap().to_owned());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let all: BTreeSet<String> = (1..=count)
        .map(|p| format!("page {p} of {count}"))
        .collect();
    assert_eq!(seen, all, "pages shown");
    let every: BTreeSet<String> = repos.iter().map(|repo| repo.name.clone()).collect();
    assert_eq!(repos_seen, every, "repositories shown over the pages");
    browser.close().await.unwrap();
    app.stop().await;
}
