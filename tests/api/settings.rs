//! The settings page (`/settings`): admins only, every form CSRF-checked, changes live at once
//! (the Wall, the API and the feed follow without a restart), flags win, every change logged with
//! who made it; display and API tokens made and revoked there; per-repository telemetry secrets
//! for `POST /api/metrics`.

use std::time::Duration;

use reqwest::redirect::Policy;
use serde_json::{json, Value};

use crate::helpers::{close_code, next_of_type, spawn_app_with, TestApp};
use crate::scope::ws_with;
use crate::seed::{deliver_running_job, now, org_run_delivery, OrgRepo};

const ADMIN_TOKEN: &str = "admin-token-for-the-settings-tests";
const BOARD_TOKEN: &str = "board-token-for-the-settings-tests";

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

fn repo(id: i64, name: &str) -> OrgRepo {
    OrgRepo {
        id,
        name: name.to_owned(),
        workflows: vec![(id * 100 + 1, "CI".to_owned())],
    }
}

async fn spawn(adjust: impl FnOnce(&mut buildboard::config::Config)) -> TestApp {
    spawn_app_with(|config| {
        config.admin_token = Some(buildboard::config::Secret::new(ADMIN_TOKEN));
        config.board_token = Some(buildboard::config::Secret::new(BOARD_TOKEN));
        config.rate_limit = 100_000;
        config.rate_limit_burst = 100_000;
        adjust(config);
    })
    .await
}

/// Signs a browser in to the settings page with the admin token: its cookie.
async fn admin_cookie(app: &TestApp) -> String {
    let response = browser()
        .post(app.url("/settings/sign-in"))
        .header("origin", app.url(""))
        .form(&[("token", ADMIN_TOKEN)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains(ADMIN_TOKEN), "the cookie is not the token");
    cookie.split(';').next().unwrap().to_owned()
}

/// `GET /settings` with `cookie`: the status and the page.
async fn page(app: &TestApp, cookie: &str) -> (u16, String) {
    let response = browser()
        .get(app.url("/settings"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let kind = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(kind.starts_with("text/html"), "{kind}");
    (status, response.text().await.unwrap())
}

/// The value of the first `name="<field>"` input's `value` after `marker`.
fn field_after(html: &str, marker: &str, field: &str) -> String {
    let from = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in {html}"));
    let key = format!("name=\"{field}\" value=\"");
    let at = html[from..].find(&key).unwrap() + from + key.len();
    html[at..at + html[at..].find('"').unwrap()].to_owned()
}

fn csrf_of(html: &str) -> String {
    field_after(html, "<main", "csrf")
}

/// Posts a settings form from the board's own origin: the status and the page.
async fn post(app: &TestApp, cookie: &str, fields: &[(&str, &str)]) -> (u16, String) {
    let response = browser()
        .post(app.url("/settings"))
        .header("cookie", cookie)
        .header("origin", app.url(""))
        .form(fields)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// Posts the settings form of `action` with the page's `csrf` token and `fields`.
async fn act(
    app: &TestApp,
    cookie: &str,
    csrf: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> (u16, String) {
    let mut form = vec![("csrf", csrf), ("action", action)];
    form.extend_from_slice(fields);
    post(app, cookie, &form).await
}

/// The secret a page shows once.
fn shown_secret(html: &str) -> String {
    let key = "<code id=\"shown-secret\">";
    let at = html
        .find(key)
        .unwrap_or_else(|| panic!("a shown secret in {html}"))
        + key.len();
    html[at..at + html[at..].find('<').unwrap()].to_owned()
}

async fn get_json(app: &TestApp, path: &str, bearer: &str) -> (u16, Value) {
    let response = browser()
        .get(app.url(path))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn settings_log(app: &TestApp) -> Vec<(String, Option<String>, String)> {
    app.rows("SELECT key, value, changedby FROM settingslog ORDER BY id")
}

#[tokio::test]
async fn anyone_but_an_admin_gets_a_403_page_and_cannot_change_anything() {
    // Arrange
    let app = spawn(|_| {}).await;
    let (token, _) = {
        let response = browser()
            .post(app.url("/api/tokens"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"name": "tv", "kind": "api"}))
            .send()
            .await
            .unwrap();
        let body: Value = response.json().await.unwrap();
        (
            body["token"].as_str().unwrap().to_owned(),
            body["id"].clone(),
        )
    };

    // Act
    let (nobody, html) = page(&app, "").await;
    let board_cookie = crate::scope::sign_in(&app, BOARD_TOKEN).await;
    let (board, _) = page(&app, &board_cookie).await;
    let with_token = browser()
        .get(app.url("/settings"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .status();
    let (change, _) = post(
        &app,
        &board_cookie,
        &[("action", "hide_authors"), ("value", "true"), ("csrf", "x")],
    )
    .await;
    let wrong = browser()
        .post(app.url("/settings/sign-in"))
        .header("origin", app.url(""))
        .form(&[("token", "not-the-admin-token")])
        .send()
        .await
        .unwrap();

    // Assert
    assert_eq!(
        (nobody, board, with_token.as_u16(), change),
        (403, 403, 403, 403)
    );
    assert!(
        html.contains("Settings are for admins") && html.contains("admin token"),
        "{html}"
    );
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());
    let log = settings_log(&app).await;
    let whats: Vec<&str> = log.iter().map(|(key, _, _)| key.as_str()).collect();
    assert_eq!(
        whats,
        ["token.create"],
        "only the arranged token: nothing changed"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_admin_changes_the_watched_branches_and_the_wall_and_api_follow_without_a_restart() {
    // Arrange: a red on release/1, which is not watched yet.
    let app = spawn(|_| {}).await;
    let payments = repo(501, "acme/payments");
    let sha = format!("{:040x}", 7);
    app.deliver(
        "workflow_run",
        "r-1",
        &org_run_delivery(&payments, 0, "release/1", 501_001, &sha, Some("failure")),
    )
    .await;
    let cookie = admin_cookie(&app).await;
    let (_, before) = get_json(&app, "/api/triage", ADMIN_TOKEN).await;
    assert_eq!(
        before["incidents"].as_array().map(Vec::len),
        Some(0),
        "{before}"
    );
    let (_, wall_before) = get_json(&app, "/wall?part=state", ADMIN_TOKEN).await;

    // Act
    let (status, html) = page(&app, &cookie).await;
    assert_eq!(status, 200);
    let csrf = csrf_of(&html);
    let (saved, html) = act(
        &app,
        &cookie,
        &csrf,
        "watch_branches",
        &[("value", "release/*")],
    )
    .await;

    // Assert: the API and the Wall (a cached live part) follow at once, and the change is logged
    // with who made it.
    assert_eq!(saved, 200, "{html}");
    assert!(html.contains("Saved setting.watch_branches"), "{html}");
    let (_, after) = get_json(&app, "/api/triage", ADMIN_TOKEN).await;
    let incidents = after["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1, "{after}");
    assert_eq!(incidents[0]["reds"][0]["branch"], "release/1", "{after}");
    let (_, wall_after) = get_json(&app, "/wall?part=state", ADMIN_TOKEN).await;
    assert_eq!(wall_before["red"], 0, "{wall_before}");
    assert_eq!(
        wall_after["red"], 1,
        "the Wall's cached state is not served again"
    );
    assert_eq!(
        settings_log(&app).await,
        vec![(
            "setting.watch_branches".to_owned(),
            Some("release/*".to_owned()),
            "admin token".to_owned()
        )]
    );
    assert!(crate::helpers::captured_log().contains("setting changed"));
    let (_, html) = page(&app, &cookie).await;
    assert!(
        html.contains("<td class=\"by\">admin token</td>"),
        "the page lists the change"
    );
    assert!(html.contains("value=\"release/*\""));

    // A bad glob is refused with its text, and changes nothing.
    let (bad, html) = act(
        &app,
        &cookie,
        &csrf,
        "watch_branches",
        &[("value", "release/[")],
    )
    .await;
    assert_eq!(bad, 400);
    assert!(html.contains("release/["), "{html}");
    assert_eq!(settings_log(&app).await.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn hiding_authors_on_the_page_hides_them_at_once_in_the_api_the_pages_and_the_feed() {
    // Arrange
    let app = spawn(|_| {}).await;
    let payments = repo(501, "acme/payments");
    app.deliver(
        "workflow_run",
        "r-1",
        &org_run_delivery(
            &payments,
            0,
            "main",
            501_001,
            &format!("{:040x}", 1),
            Some("failure"),
        ),
    )
    .await;
    let (_, builds) = get_json(&app, "/api/builds", ADMIN_TOKEN).await;
    let author = builds["builds"][0]["author"].as_str().unwrap().to_owned();
    let live = |app: &TestApp| {
        let url = app.url("/?part=live");
        async move { crate::helpers::text_of(browser().get(url).bearer_auth(ADMIN_TOKEN)).await }
    };
    assert!(
        live(&app).await.contains(&author),
        "the control: the name is shown"
    );
    let mut feed = ws_with(&app, ("authorization", &format!("Bearer {BOARD_TOKEN}")))
        .await
        .unwrap();
    next_of_type(&mut feed, "snapshot").await;
    let cookie = admin_cookie(&app).await;
    let csrf = csrf_of(&page(&app, &cookie).await.1);

    // Act
    let (status, _) = act(&app, &cookie, &csrf, "hide_authors", &[("value", "true")]).await;

    // Assert
    assert_eq!(status, 200);
    let (_, builds) = get_json(&app, "/api/builds", ADMIN_TOKEN).await;
    assert!(builds["builds"][0]["author"].is_null(), "{builds}");
    assert!(
        !live(&app).await.contains(&author),
        "the cached live part is not served"
    );
    assert_eq!(
        close_code(&mut feed, Duration::from_secs(3)).await,
        Some(1012),
        "the feed reconnects under the new rule"
    );
    let mut again = ws_with(&app, ("authorization", &format!("Bearer {BOARD_TOKEN}")))
        .await
        .unwrap();
    let snapshot = next_of_type(&mut again, "snapshot").await;
    assert!(!snapshot.to_string().contains(&author), "{snapshot}");
    app.stop().await;
}

#[tokio::test]
async fn a_setting_a_flag_fixes_is_shown_as_fixed_and_cannot_be_changed() {
    // Arrange
    let app = spawn(|config| {
        config.hide_authors = true;
        config.watch_branches = "develop".parse().unwrap();
    })
    .await;
    let cookie = admin_cookie(&app).await;

    // Act
    let (_, html) = page(&app, &cookie).await;
    let csrf = csrf_of(&html);
    let (status, answer) = act(&app, &cookie, &csrf, "hide_authors", &[("value", "false")]).await;
    let (branches, _) = act(
        &app,
        &cookie,
        &csrf,
        "watch_branches",
        &[("value", "release/*")],
    )
    .await;

    // Assert
    assert!(
        html.contains("Fixed by <code>--hide-authors (BUILDBOARD_HIDE_AUTHORS)</code>"),
        "{html}"
    );
    assert!(html.contains("Fixed by <code>--watch-branches (BUILDBOARD_WATCH_BRANCHES)</code>"));
    assert!(
        !html.contains("value=\"hide_authors\""),
        "no form for a fixed setting"
    );
    assert_eq!((status, branches), (409, 409));
    assert!(answer.contains("fixed by --hide-authors"), "{answer}");
    assert!(settings_log(&app).await.is_empty());
    assert_eq!(app.count("settings WHERE key LIKE 'setting.%'"), 0);
    app.stop().await;
}

#[tokio::test]
async fn a_form_without_its_csrf_token_or_from_another_site_is_refused() {
    // Arrange
    let app = spawn(|_| {}).await;
    let cookie = admin_cookie(&app).await;
    let csrf = csrf_of(&page(&app, &cookie).await.1);
    let form = |csrf: &'static str| -> Vec<(&'static str, &'static str)> {
        vec![
            ("csrf", csrf),
            ("action", "hide_authors"),
            ("value", "true"),
        ]
    };

    // Act
    let (missing, html) = post(&app, &cookie, &form("")[1..]).await;
    let (wrong, _) = post(&app, &cookie, &form("0123")).await;
    // The right token, but the browser says the form came from another site.
    let from_elsewhere = |header: &'static str, value: &'static str| {
        browser()
            .post(app.url("/settings"))
            .header("cookie", &cookie)
            .header(header, value)
            .form(&[
                ("csrf", csrf.as_str()),
                ("action", "hide_authors"),
                ("value", "true"),
            ])
            .send()
    };
    let cross_site = from_elsewhere("origin", "https://evil.example")
        .await
        .unwrap()
        .status();
    let fetch_site = from_elsewhere("sec-fetch-site", "cross-site")
        .await
        .unwrap()
        .status();

    // Assert
    assert_eq!((missing, wrong), (403, 403));
    assert_eq!((cross_site.as_u16(), fetch_site.as_u16()), (403, 403));
    assert!(html.contains("CSRF"), "{html}");
    assert!(settings_log(&app).await.is_empty(), "nothing changed");
    let (_, builds) = get_json(&app, "/api/builds", ADMIN_TOKEN).await;
    assert!(builds["builds"].is_array());
    // The control: the same form with its token and from the board is taken.
    let (taken, _) = act(&app, &cookie, &csrf, "hide_authors", &[("value", "true")]).await;
    assert_eq!(taken, 200);
    app.stop().await;
}

#[tokio::test]
async fn a_token_made_on_the_page_reads_its_scope_and_once_revoked_is_refused_and_its_feed_closed()
{
    // Arrange
    let app = spawn(|_| {}).await;
    for (i, (id, name)) in [(501, "acme/payments"), (502, "acme/gateway")]
        .into_iter()
        .enumerate()
    {
        let sha = format!("{:040x}", i + 1);
        app.deliver(
            "workflow_run",
            &format!("r-{i}"),
            &org_run_delivery(&repo(id, name), 0, "main", id * 1000, &sha, Some("success")),
        )
        .await;
    }
    let cookie = admin_cookie(&app).await;
    let csrf = csrf_of(&page(&app, &cookie).await.1);

    // Act: make an API token for one repository.
    let (status, html) = act(
        &app,
        &cookie,
        &csrf,
        "create_token",
        &[
            ("name", "deploy script"),
            ("kind", "api"),
            ("scope", "repos"),
            ("repos", "acme/payments"),
        ],
    )
    .await;

    // Assert: shown once, reads only its repository, listed without its secret.
    assert_eq!(status, 201, "{html}");
    let token = shown_secret(&html);
    assert!(token.starts_with("bba_"), "{token}");
    let (_, repos) = get_json(&app, "/api/repos", &token).await;
    let names = crate::helpers::strings_of(&repos["repos"], "repo");
    assert_eq!(names, ["acme/payments"]);
    let (_, listed) = page(&app, &cookie).await;
    assert!(listed.contains("deploy script") && !listed.contains(&token));
    let id = field_after(&listed, "data-token-id", "id");
    let mut feed = ws_with(&app, ("authorization", &format!("Bearer {token}")))
        .await
        .unwrap();
    next_of_type(&mut feed, "snapshot").await;

    // Act: revoke it on the page.
    let (revoked, html) = act(&app, &cookie, &csrf, "revoke_token", &[("id", &id)]).await;

    // Assert: refused at once, its feed closed, both logged with who.
    assert_eq!(revoked, 200, "{html}");
    assert_eq!(
        close_code(&mut feed, Duration::from_secs(3)).await,
        Some(1008)
    );
    assert_eq!(get_json(&app, "/api/repos", &token).await.0, 401);
    assert_eq!(
        ws_with(&app, ("authorization", &format!("Bearer {token}")))
            .await
            .err(),
        Some(401)
    );
    let log = settings_log(&app).await;
    let whats: Vec<&str> = log.iter().map(|(key, _, _)| key.as_str()).collect();
    assert_eq!(whats, ["token.create", "token.revoke"]);
    assert!(log.iter().all(|(_, value, by)| by == "admin token"
        && !value.as_deref().unwrap_or_default().contains(&token)));
    app.stop().await;
}

/// A running job (GitHub's in_progress delivery) of octo-org/octo-repo: its id.
async fn running_job(app: &TestApp) -> i64 {
    deliver_running_job(app, 6001, 5001).await;
    5001
}

async fn post_samples(app: &TestApp, secret: &str, job: Option<i64>) -> (u16, Value) {
    let mut request = browser()
        .post(app.url("/api/metrics"))
        .bearer_auth(secret)
        .json(
            &json!({"samples": [{"t": now() - 30, "cpu_user": 12.5, "cpu_system": 1.0,
            "mem_used": 1000, "mem_total": 8000, "disk_read": 0, "disk_write": 0,
            "net_rx": 0, "net_tx": 0}]}),
        );
    if let Some(job) = job {
        request = request.header("x-buildboard-job", job.to_string());
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_telemetry_secret_is_accepted_for_its_repositorys_jobs_and_refused_for_another() {
    // Arrange: a running job of octo-org/octo-repo, and another repository.
    let app = spawn(|_| {}).await;
    let job = running_job(&app).await;
    app.deliver(
        "workflow_run",
        "other",
        &org_run_delivery(
            &repo(501, "acme/payments"),
            0,
            "main",
            501_000,
            &format!("{:040x}", 9),
            None,
        ),
    )
    .await;
    let cookie = admin_cookie(&app).await;
    let csrf = csrf_of(&page(&app, &cookie).await.1);
    let make = |repo: &'static str| {
        let (app, cookie, csrf) = (&app, cookie.clone(), csrf.clone());
        async move {
            let (status, html) = act(app, &cookie, &csrf, "create_secret", &[("repo", repo)]).await;
            assert_eq!(status, 201, "{html}");
            shown_secret(&html)
        }
    };

    // Act
    let own = make("octo-org/octo-repo").await;
    let other = make("acme/payments").await;
    let accepted = post_samples(&app, &own, Some(job)).await;
    let for_another = post_samples(&app, &other, Some(job)).await;
    let unknown = post_samples(&app, "bbt_not-a-secret-of-this-board", Some(job)).await;
    let no_job = post_samples(&app, &own, None).await;

    // Assert
    assert_eq!(accepted, (202, json!({"job": job, "stored": 1})));
    assert_eq!(for_another.0, 403);
    assert_eq!(for_another.1["error"]["code"], "job_mismatch");
    assert_eq!(unknown.0, 401);
    assert_eq!(unknown.1["error"]["code"], "unknown_secret");
    assert_eq!(
        (no_job.0, no_job.1["error"]["code"].clone()),
        (400, json!("missing_job"))
    );
    assert_eq!(
        app.count("jobsamples"),
        1,
        "only the accepted sample is stored"
    );
    let stored: Vec<String> = app.rows("SELECT secrethash FROM telemetrysecrets");
    assert_eq!(stored.len(), 2);
    assert!(stored
        .iter()
        .all(|hash| hash.len() == 64 && *hash != own && *hash != other));
    let (_, html) = page(&app, &cookie).await;
    assert!(!html.contains(&own) && html.contains("octo-org/octo-repo"));
    app.stop().await;
}

#[tokio::test]
async fn an_admin_signs_in_and_changes_the_watched_branches_in_a_real_browser() {
    use crate::browser::{click, type_into};
    use fantoccini::Locator;
    // Arrange
    let app = spawn(|_| {}).await;
    let driver = crate::browser::start_driver();
    let browser = crate::browser::open_browser(&driver).await;
    let find = |css: &'static str| browser.find(Locator::Css(css));

    // Act: the refusal page's form signs in with the admin token; the settings form saves.
    browser.goto(&app.url("/settings")).await.unwrap();
    type_into(&browser, "input[name=token]", ADMIN_TOKEN).await;
    click(&browser, "form[action='/settings/sign-in'] button").await;
    crate::browser::until(
        &browser,
        "document.querySelector('#watched form')",
        Duration::from_secs(5),
    )
    .await;
    type_into(&browser, "#watched input[name=value]", "release/*, develop").await;
    click(&browser, "#watched button[type=submit]").await;

    // Assert: the page says so and lists the change with who made it; the server applies it.
    crate::browser::until(
        &browser,
        "document.querySelector('#notice')",
        Duration::from_secs(5),
    )
    .await;
    let notice = find("#notice").await.unwrap().text().await.unwrap();
    assert!(notice.contains("Saved setting.watch_branches"), "{notice}");
    let by = find("#log td.by").await.unwrap().text().await.unwrap();
    assert_eq!(by, "admin token");
    assert_eq!(
        settings_log(&app).await,
        vec![(
            "setting.watch_branches".to_owned(),
            Some("release/*,develop".to_owned()),
            "admin token".to_owned()
        )]
    );
    browser.close().await.unwrap();
    app.stop().await;
}

#[tokio::test]
async fn stored_settings_survive_a_restart_and_a_flag_given_later_wins() {
    // Arrange: an admin hides authors and watches release branches.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kept.db");
    let at = |db: std::path::PathBuf, hide: bool| {
        spawn(move |config| {
            config.db = db;
            config.hide_authors = hide;
        })
    };
    let app = at(db.clone(), false).await;
    let cookie = admin_cookie(&app).await;
    let csrf = csrf_of(&page(&app, &cookie).await.1);
    for (action, value) in [("hide_authors", "true"), ("watch_branches", "release/*")] {
        let (status, _) = act(&app, &cookie, &csrf, action, &[("value", value)]).await;
        assert_eq!(status, 200);
    }
    app.stop().await;

    // Act: start again on the same database, then again with --watch-branches given.
    let again = at(db.clone(), false).await;
    let cookie = admin_cookie(&again).await;
    let (_, html) = page(&again, &cookie).await;
    again.stop().await;
    let flagged = spawn(|config| {
        config.db = db;
        config.watch_branches = "develop".parse().unwrap();
    })
    .await;
    let cookie = admin_cookie(&flagged).await;
    let (_, flagged_html) = page(&flagged, &cookie).await;

    // Assert
    assert!(
        html.contains("value=\"release/*\"") && html.contains("<strong>hidden</strong>"),
        "{html}"
    );
    assert!(
        flagged_html.contains("Fixed by <code>--watch-branches"),
        "{flagged_html}"
    );
    assert!(
        flagged_html.contains("<code>develop</code>")
            && !flagged_html.contains("value=\"release/*\"")
    );
    assert!(
        flagged_html.contains("<strong>hidden</strong>"),
        "the stored setting no flag gives still applies"
    );
    flagged.stop().await;
}

#[tokio::test]
async fn a_notification_target_added_on_the_page_gets_the_next_transition_and_its_url_stays_masked()
{
    // Arrange
    let app = spawn(|_| {}).await;
    let cookie = admin_cookie(&app).await;
    let csrf = csrf_of(&page(&app, &cookie).await.1);
    let url = "http://127.0.0.1:9/services/T000/B000/SECRETPART";

    // Act: add a target, then a workflow on main goes from green to red.
    let (status, html) = act(
        &app,
        &cookie,
        &csrf,
        "add_target",
        &[
            ("kind", "slack"),
            ("url", url),
            ("name", "ops-chat"),
            ("repos", "acme/payments"),
        ],
    )
    .await;
    let payments = repo(501, "acme/payments");
    for (k, conclusion) in ["success", "failure"].into_iter().enumerate() {
        let id = 501_000 + k as i64;
        let sha = format!("{:040x}", id);
        app.deliver(
            "workflow_run",
            &format!("n-{k}"),
            &org_run_delivery(&payments, 0, "main", id, &sha, Some(conclusion)),
        )
        .await;
    }

    // Assert: queued for the new target without a restart; its URL never shown or logged.
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("ops-chat") && html.contains("http://127.0.0.1:9/…"),
        "{html}"
    );
    assert!(!html.contains("SECRETPART"));
    let targets: Vec<String> = app.rows("SELECT target FROM outbox");
    assert_eq!(targets, ["ops-chat"]);
    let log = settings_log(&app).await;
    assert_eq!(log.len(), 1);
    assert!(
        !format!("{log:?}").contains("SECRETPART")
            && !crate::helpers::captured_log().contains("SECRETPART")
    );

    // Removing it stops the next transitions going there.
    let (removed, html) = act(
        &app,
        &cookie,
        &csrf,
        "remove_target",
        &[("name", "ops-chat")],
    )
    .await;
    assert_eq!(removed, 200, "{html}");
    assert!(html.contains("No targets"));
    app.stop().await;
}
