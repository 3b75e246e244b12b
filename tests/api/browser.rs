//! The board in a real browser: Debian's headless `chromium`, driven through `chromedriver` (started
//! here on a free loopback port) with fantoccini. Nothing leaves 127.0.0.1: the browser runs with
//! background networking off and only ever opens the test server.
//!
//! These tests FAIL, never skip, when chromium or chromedriver is missing; `tests/all.sh` installs
//! them. One chromedriver and one browser serve all scenarios, run in order, to keep this fast.
//! `cargo test --test api -- --ignored screenshots` regenerates `docs/*.png`.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with, TestApp};
use crate::seed::{self, run_delivery};

/// How soon a delivery must show in an open page.
const LIVE: Duration = Duration::from_secs(2);

/// A chromedriver process, killed when dropped (also when a test panics).
pub(crate) struct Driver {
    child: Child,
    pub(crate) url: String,
    profiles: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The whole process group: chromium too, also when a test panicked before closing it.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

pub(crate) fn start_driver() -> Driver {
    let port = free_port();
    let child = Command::new("chromedriver")
        .process_group(0)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver runs (Debian's chromium-driver; tests/all.sh installs it)");
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "chromedriver did not start listening"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
        profiles: tempfile::tempdir().expect("a directory for browser profiles"),
    }
}

pub(crate) async fn open_browser(driver: &Driver) -> Client {
    open_browser_with(driver, &[]).await
}

/// [`open_browser`] with `extra` command-line switches for chromium.
pub(crate) async fn open_browser_with(driver: &Driver, extra: &[&str]) -> Client {
    let profile = tempfile::tempdir_in(driver.profiles.path()).unwrap().keep();
    let binary = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|path| std::path::Path::new(path).exists())
        .expect("Debian's chromium is installed (tests/all.sh installs it)");
    let mut args = vec![
        "--headless".to_owned(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--no-first-run".into(),
        "--window-size=1920,1080".into(),
        format!("--user-data-dir={}", profile.display()),
    ];
    args.extend(extra.iter().map(|arg| arg.to_string()));
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": { "binary": binary, "args": args },
    });
    let serde_json::Value::Object(capabilities) = capabilities else {
        unreachable!("a JSON object literal")
    };
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let browser = ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("chromedriver starts a chromium session");
    // --window-size counts the window's frame: make the page itself 1920x1080.
    let frame = browser
        .execute("return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight]", vec![])
        .await
        .unwrap();
    let (dw, dh) = (
        frame[0].as_u64().unwrap_or(0),
        frame[1].as_u64().unwrap_or(0),
    );
    browser
        .set_window_size(1920 + dw as u32, 1080 + dh as u32)
        .await
        .expect("the window can be resized");
    browser
}

/// Waits until `script` (a JS expression) is true in the page, or fails after `within`.
pub(crate) async fn until(browser: &Client, script: &str, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let value = browser
            .execute(&format!("return !!({script});"), vec![])
            .await
            .expect("the script runs");
        if value == json!(true) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "not within {within:?}: {script}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn js(browser: &Client, script: &str) -> serde_json::Value {
    browser
        .execute(script, vec![])
        .await
        .expect("the script runs")
}

/// [`open`]s `path`, then waits (`within` at most) until the page's script `condition` holds.
pub(crate) async fn open_until(
    browser: &Client,
    (app, path): (&TestApp, &str),
    condition: &str,
    within: Duration,
) {
    open(browser, app, path).await;
    until(browser, condition, within).await;
}

/// Waits (`within` at most) until the first element `css` finds reads exactly `text`.
pub(crate) async fn until_text(browser: &Client, css: &str, text: &str, within: Duration) {
    let condition = format!("(document.querySelector({css:?}) || {{}}).textContent === {text:?}");
    until(browser, &condition, within).await;
}

/// Clicks the first element `css` finds.
pub(crate) async fn click(browser: &Client, css: &str) {
    let element = browser.find(Locator::Css(css)).await;
    let element = element.unwrap_or_else(|err| panic!("{css}: {err}"));
    element.click().await.expect("the element takes the click");
}

/// Types `text` into the first element `css` finds, after what it holds.
pub(crate) async fn type_into(browser: &Client, css: &str, text: &str) {
    let element = browser.find(Locator::Css(css)).await;
    let element = element.unwrap_or_else(|err| panic!("{css}: {err}"));
    element
        .send_keys(text)
        .await
        .expect("the element takes the keys");
}

/// The text of the first element `selector` finds (markup in it reads as text).
pub(crate) async fn text_of(browser: &Client, selector: &str) -> String {
    let script = format!("return document.querySelector({selector:?}).textContent;");
    let text = js(browser, &script).await;
    text.as_str().expect("the element exists").to_owned()
}

/// How many elements `selector` finds.
pub(crate) async fn count_of(browser: &Client, selector: &str) -> u64 {
    let script = format!("return document.querySelectorAll({selector:?}).length;");
    js(browser, &script).await.as_u64().expect("a count")
}

/// One Chrome DevTools command through chromedriver's `goog/cdp/execute`.
pub(crate) async fn cdp_with(
    driver_url: &str,
    browser: &Client,
    cmd: &str,
    params: serde_json::Value,
) -> serde_json::Value {
    let session = browser.session_id().await.unwrap().unwrap();
    let answer: serde_json::Value = crate::helpers::json_of(
        reqwest::Client::new()
            .post(format!("{driver_url}/session/{session}/goog/cdp/execute"))
            .json(&json!({ "cmd": cmd, "params": params })),
    )
    .await;
    answer["value"].clone()
}

/// Opens `path` and waits for the live feed to connect.
pub(crate) async fn open(browser: &Client, app: &TestApp, path: &str) {
    browser.goto(&app.url(path)).await.expect("the page loads");
    until(
        browser,
        "document.getElementById('conn').dataset.state === 'open'",
        Duration::from_secs(5),
    )
    .await;
}

#[tokio::test]
async fn the_board_works_in_a_real_browser() {
    let driver = start_driver();
    let browser = open_browser(&driver).await;

    every_view_loads_against_the_real_server(&browser).await;
    deliveries_after_load_appear_without_a_reload(&browser).await;
    a_hostile_commit_message_renders_as_text(&browser).await;
    after_a_server_restart_the_page_reconnects_and_shows_new_deliveries(&browser).await;
    tv_mode_fits_the_screen_and_rotates_views(&browser).await;
    a_tv_waterfall_of_many_repositories_pages_by_repository_and_draws_nothing_off_screen(&browser)
        .await;
    a_private_board_signs_in_once_and_stays_live(&browser).await;

    browser.close().await.unwrap();
}

async fn every_view_loads_against_the_real_server(browser: &Client) {
    let app = spawn_app().await;
    seed::realistic(&app.db());

    open(browser, &app, "/waterfall").await;
    assert!(
        js(
            browser,
            "return document.querySelectorAll('#repos tr.commit').length"
        )
        .await
        .as_u64()
        .unwrap()
            >= 10
    );
    assert_eq!(
        js(
            browser,
            "return document.getElementById('fig-active').textContent"
        )
        .await,
        "3"
    );
    open(browser, &app, "/triage").await;
    assert_eq!(
        js(
            browser,
            "return document.querySelectorAll('#reds > li').length"
        )
        .await,
        2
    );
    open(browser, &app, "/developer/bob").await;
    assert!(js(
        browser,
        "return document.querySelector('.person').textContent"
    )
    .await
    .as_str()
    .unwrap()
    .starts_with("bob"));
    open(browser, &app, "/developer").await;
    assert_eq!(
        js(
            browser,
            "return document.querySelectorAll('#people a').length"
        )
        .await,
        5
    );
    app.stop().await;
}

async fn deliveries_after_load_appear_without_a_reload(browser: &Client) {
    let app = spawn_app().await;
    seed::realistic(&app.db());
    let sha = "1".repeat(40);

    // The waterfall: a new commit's row, then the same cell turning green, and the stream entry.
    open(browser, &app, "/waterfall").await;
    js(browser, "window.__sameDocument = true; return 1").await;
    app.deliver(
        "workflow_run",
        "w1",
        &run_delivery(555, &sha, "Live change", None),
    )
    .await;
    until(
        browser,
        "document.querySelector('#repos [data-run-id=\"555\"].s-running')",
        LIVE,
    )
    .await;
    until(
        browser,
        "document.querySelector('#stream [data-run-id=\"555\"]')",
        LIVE,
    )
    .await;
    app.deliver(
        "workflow_run",
        "w2",
        &run_delivery(555, &sha, "Live change", Some("success")),
    )
    .await;
    until(
        browser,
        "document.querySelector('#repos [data-run-id=\"555\"].s-success')",
        LIVE,
    )
    .await;
    assert_eq!(
        js(
            browser,
            "return document.querySelectorAll('#repos [data-run-id=\"555\"]').length"
        )
        .await,
        1,
        "the cell is replaced, not added"
    );
    assert_eq!(
        js(browser, "return window.__sameDocument === true").await,
        true,
        "no reload"
    );

    // Triage: a new red workflow shows up.
    open(browser, &app, "/triage").await;
    js(browser, "window.__sameDocument = true; return 1").await;
    app.deliver(
        "workflow_run",
        "w3",
        &run_delivery(556, &"2".repeat(40), "Break it", Some("failure")),
    )
    .await;
    until(
        browser,
        "document.querySelector('#reds [data-run-id=\"556\"]')",
        LIVE,
    )
    .await;
    assert_eq!(
        js(browser, "return window.__sameDocument === true").await,
        true,
        "no reload"
    );
    app.stop().await;
}

async fn a_hostile_commit_message_renders_as_text(browser: &Client) {
    let app = spawn_app().await;
    let hostile = "<img src=x onerror=\"document.body.dataset.pwned='yes'\">";
    open(browser, &app, "/waterfall").await;

    app.deliver(
        "workflow_run",
        "x1",
        &run_delivery(666, &"6".repeat(40), hostile, Some("failure")),
    )
    .await;
    until(
        browser,
        "document.querySelector('#repos [data-run-id=\"666\"]')",
        LIVE,
    )
    .await;
    for _ in 0..2 {
        let text = js(
            browser,
            "return document.querySelector('#repos tr.commit .msg').textContent",
        )
        .await;
        assert_eq!(text, hostile);
        assert_eq!(
            js(browser, "return document.querySelectorAll('img').length").await,
            0
        );
        assert_eq!(
            js(browser, "return document.body.dataset.pwned === undefined").await,
            true
        );
        // The same, rendered with the page rather than live.
        browser.refresh().await.unwrap();
        until(
            browser,
            "document.querySelector('#repos [data-run-id=\"666\"]')",
            LIVE,
        )
        .await;
    }
    app.stop().await;
}

async fn after_a_server_restart_the_page_reconnects_and_shows_new_deliveries(browser: &Client) {
    let dir = tempfile::tempdir().unwrap();
    let db: PathBuf = dir.path().join("board.db");
    let first = spawn_app_with(|config| config.db = db.clone()).await;
    let addr: SocketAddr = first.addr;
    open(browser, &first, "/waterfall").await;

    first.stop().await;
    until(
        browser,
        "document.getElementById('conn').dataset.state === 'closed'",
        Duration::from_secs(5),
    )
    .await;
    let shown = js(
        browser,
        "return document.getElementById('conn').textContent",
    )
    .await;
    assert!(shown.as_str().unwrap().contains("disconnected"), "{shown}");

    let second = spawn_app_with(|config| {
        config.db = db.clone();
        config.listen = addr;
    })
    .await;
    until(
        browser,
        "document.getElementById('conn').dataset.state === 'open'",
        Duration::from_secs(10),
    )
    .await;
    second
        .deliver(
            "workflow_run",
            "after",
            &run_delivery(777, &"7".repeat(40), "After restart", Some("success")),
        )
        .await;
    until(
        browser,
        "document.querySelector('#repos [data-run-id=\"777\"]')",
        LIVE,
    )
    .await;
    second.stop().await;
}

async fn tv_mode_fits_the_screen_and_rotates_views(browser: &Client) {
    let app = spawn_app().await;
    seed::realistic(&app.db());
    open(browser, &app, "/waterfall?tv=1&rotate=2").await;
    assert_eq!(
        js(browser, "return document.documentElement.scrollHeight <= window.innerHeight && document.documentElement.scrollWidth <= window.innerWidth").await,
        true,
        "no scrolling in TV mode"
    );
    // The Waterfall is not in the default rotation: it goes on to the Wall, which stays four
    // times as long as Triage (something is red), then Triage, then the Wall again.
    until(
        browser,
        "location.pathname === '/wall' && document.body.classList.contains('tv')",
        Duration::from_secs(6),
    )
    .await;
    until(
        browser,
        "location.pathname === '/triage' && document.body.classList.contains('tv')",
        Duration::from_secs(14),
    )
    .await;
    until(
        browser,
        "document.getElementById('conn').dataset.state === 'open'",
        Duration::from_secs(5),
    )
    .await;
    until(
        browser,
        "location.pathname === '/wall'",
        Duration::from_secs(6),
    )
    .await;
    app.stop().await;
}

/// Cells, headers and runs of the grid drawn (not hidden by paging) that lie even partly outside
/// the 1920x1080 viewport, as the start of their HTML.
const OFF_SCREEN: &str = "const off = [];
  for (const el of document.querySelectorAll('#repos th, #repos td, #repos .run')) {
    if (el.closest('.off') || el.getClientRects().length === 0) continue;
    const r = el.getBoundingClientRect();
    if (r.left < 0 || r.top < 0 || r.right > window.innerWidth + 0.5 || r.bottom > window.innerHeight + 0.5)
      off.push(el.outerHTML.slice(0, 120));
  }
  return off;";

async fn a_tv_waterfall_of_many_repositories_pages_by_repository_and_draws_nothing_off_screen(
    browser: &Client,
) {
    // Arrange: 22 repositories, 55 workflows, far more than one screen's blocks.
    let app = spawn_app().await;
    seed::organisation(&app.db(), &seed::Org::northwind(22, 4));

    // Act: a TV that stays on the waterfall and turns a page every 2 s.
    open(browser, &app, "/waterfall?tv=1&rotate=0&page=2").await;

    // Assert: on every page, every drawn cell is on screen, every shown block names its
    // repository and has a run, and every repository is shown on some page.
    let pager = js(
        browser,
        "return document.getElementById('pager').textContent",
    )
    .await;
    let pages = page_count(pager.as_str().unwrap()).unwrap_or_else(|| panic!("a pager: {pager}"));
    assert!(pages > 1, "22 repositories need more than one page");
    let mut seen = std::collections::BTreeSet::new();
    for page in 1..=pages {
        until(
            browser,
            &format!("document.getElementById('pager').textContent === 'page {page} of {pages}'"),
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(js(browser, OFF_SCREEN).await, json!([]), "page {page}");
        let shown = js(
            browser,
            "return [...document.querySelectorAll('#repos > .repo-block:not(.off)')].map(b => [b.dataset.repo, b.querySelector('.repo-name').getClientRects().length > 0, b.querySelectorAll('.run').length])",
        )
        .await;
        let blocks = shown.as_array().unwrap();
        assert!(!blocks.is_empty(), "page {page} has blocks");
        for block in blocks {
            assert_eq!(
                block[1], true,
                "page {page}: the block names its repository"
            );
            assert!(block[2].as_u64().unwrap() > 0, "page {page}: {block}");
            seen.insert(block[0].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(seen.len(), 22, "every repository on some page: {seen:?}");
    app.stop().await;
}

/// Regenerates the screenshots in `docs/` (1920x1080, realistic data).
async fn a_private_board_signs_in_once_and_stays_live(browser: &Client) {
    const TOKEN: &str = "tv-token-0123456789abcdef";
    let app = spawn_app_with(|config| {
        config.board_token = Some(buildboard::config::Secret::new(TOKEN));
    })
    .await;

    // Without the token: the sign-in explanation, no board.
    browser.goto(&app.url("/")).await.unwrap();
    assert_eq!(
        js(browser, "return document.getElementById('conn') === null").await,
        true
    );
    assert!(js(browser, "return document.body.textContent")
        .await
        .as_str()
        .unwrap()
        .contains("private"));

    // Once with the token: the board, at an address without it, live.
    open(browser, &app, &format!("/waterfall?tv=1&token={TOKEN}")).await;
    let href = js(browser, "return location.href").await;
    assert_eq!(
        href,
        app.url("/waterfall?tv=1"),
        "the token leaves the address bar"
    );
    assert_eq!(
        js(browser, "return document.cookie").await,
        "",
        "the cookie is HttpOnly"
    );
    app.deliver(
        "workflow_run",
        "p1",
        &run_delivery(777, &"7".repeat(40), "Private change", Some("failure")),
    )
    .await;
    until(
        browser,
        "document.querySelector('#repos [data-run-id=\"777\"].s-failure')",
        LIVE,
    )
    .await;

    // Later visits need nothing more.
    open(browser, &app, "/triage").await;
    until(
        browser,
        "document.querySelector('#reds [data-run-id=\"777\"]')",
        LIVE,
    )
    .await;
    app.stop().await;
}

#[tokio::test]
#[ignore = "writes docs/*.png; run with --ignored screenshots"]
async fn screenshots() {
    let driver = start_driver();
    let browser = open_browser(&driver).await;
    let app = spawn_app().await;
    seed::realistic(&app.db());
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    for (path, file) in [
        ("/waterfall", "waterfall.png"),
        ("/triage", "triage.png"),
        ("/developer/alice", "developer.png"),
        ("/?tv=1&rotate=0", "tv.png"),
    ] {
        open(&browser, &app, path).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let png = browser.screenshot().await.unwrap();
        std::fs::write(docs.join(file), png).unwrap();
    }
    browser.close().await.unwrap();
    app.stop().await;
}

/// The number of pages a TV's pager says ("page 2 of 5" is 5); `None` when it shows none.
pub fn page_count(pager: &str) -> Option<usize> {
    pager
        .rsplit(" of ")
        .next()
        .and_then(|n| n.trim().parse().ok())
}
