//! Acting from the board: operators re-run and cancel runs through the real
//! server, which asks a fake GitHub on loopback; refusals are explained; cross-site requests and
//! the board (TV) token cannot act.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use buildboard::config::Secret;
use reqwest::redirect::Policy;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::task::JoinHandle;
use warp::Filter;

use crate::helpers::{spawn_app_with, TestApp};

const GITHUB_TOKEN: &str = "ghp_actions_write_token";
const OPERATORS: &str = "alice:alice-operator-token-123,bob:bob-operator-token-456";
const ALICE: &str = "alice-operator-token-123";
const BOARD_TOKEN: &str = "board-token-0123456789abcdef";
/// The run of `workflow_run/completed.payload.json`.
const RUN: i64 = 289_782_451;
const REPO: &str = "octo-org/octo-repo";

/// One request as the fake GitHub saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    method: String,
    path: String,
    authorization: Option<String>,
}

/// A fake GitHub that records each request and answers every one with `status` and `message`.
struct FakeGitHub {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    answer: Arc<Mutex<(u16, String)>>,
    handle: JoinHandle<()>,
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

impl FakeGitHub {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let answer = Arc::new(Mutex::new((201, String::new())));
        let (log, reply) = (seen.clone(), answer.clone());
        let routes = warp::method()
            .and(warp::path::full())
            .and(warp::header::optional::<String>("authorization"))
            .map(
                move |method: warp::http::Method,
                      path: warp::path::FullPath,
                      authorization: Option<String>| {
                    log.lock().unwrap().push(Seen {
                        method: method.to_string(),
                        path: path.as_str().to_owned(),
                        authorization,
                    });
                    let (status, message) = reply.lock().unwrap().clone();
                    let body = if status < 300 {
                        "{}".to_owned()
                    } else {
                        serde_json::json!({ "message": message }).to_string()
                    };
                    warp::http::Response::builder()
                        .status(status)
                        .header("content-type", "application/json")
                        .body(body)
                        .unwrap()
                },
            );
        let handle = tokio::spawn(warp::serve(routes).incoming(listener).run());
        Self {
            addr,
            seen,
            answer,
            handle,
        }
    }

    fn answer_with(&self, status: u16, message: &str) {
        *self.answer.lock().unwrap() = (status, message.to_owned());
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn app_with(github: &FakeGitHub, board_token: bool) -> TestApp {
    app_limited(github, board_token, 1000).await
}

async fn app_limited(github: &FakeGitHub, board_token: bool, per_minute: u32) -> TestApp {
    let api = format!("http://{}", github.addr);
    let app = spawn_app_with(move |config| {
        config.github_token = Some(Secret::new(GITHUB_TOKEN));
        config.github_api_url = api;
        // Far away: no reconciliation poll reaches the fake during a test.
        config.reconcile_interval = std::time::Duration::from_secs(3600);
        config.operator_token = Some(Secret::new(OPERATORS));
        config.action_rate_limit = per_minute;
        if board_token {
            config.board_token = Some(Secret::new(BOARD_TOKEN));
        }
    })
    .await;
    app.deliver_fixture(
        "workflow_run",
        "act-1",
        "workflow_run/completed.payload.json",
    )
    .await;
    app
}

/// Requests the fake saw that were actions (not the reconciler's reads).
fn actions(github: &FakeGitHub) -> Vec<Seen> {
    github
        .seen()
        .into_iter()
        .filter(|seen| seen.method == "POST")
        .collect()
}

async fn post_bearer(app: &TestApp, path: &str, token: &str) -> (StatusCode, Value) {
    let response = app
        .http
        .post(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

/// The run of the fixture, failed later: a red for Triage.
async fn deliver_red(app: &TestApp) {
    let mut failed = crate::helpers::webhook_json("workflow_run/completed.payload.json");
    failed["workflow_run"]["conclusion"] = serde_json::json!("failure");
    failed["workflow_run"]["updated_at"] = serde_json::json!("2030-01-01T00:00:00Z");
    app.deliver_json("workflow_run", "act-red", &failed).await;
}

/// `/api/operator` as `http` sees it with `cookie`.
async fn operator_session(http: &reqwest::Client, app: &TestApp, cookie: &str) -> Value {
    crate::helpers::json_of(http.get(app.url("/api/operator")).header("cookie", cookie)).await
}

/// Signs in at `/operator` like the form does; returns the cookie pair and the CSRF token.
async fn sign_in(app: &TestApp, token: &str) -> (String, String) {
    let http = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let response = http
        .post(app.url("/operator"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Strict"), "{set_cookie}");
    assert!(!set_cookie.contains(token), "the cookie is not the token");
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let session = operator_session(&app.http, app, &cookie).await;
    assert_eq!(session["operator"], "alice");
    (cookie, session["csrf"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn each_action_asks_github_with_the_servers_token() {
    let github = FakeGitHub::start().await;
    let app = app_with(&github, false).await;
    for (action, message) in [
        (
            "rerun-failed-jobs",
            "Re-run requested; the new state arrives by webhook",
        ),
        (
            "rerun",
            "Re-run requested; the new state arrives by webhook",
        ),
        (
            "cancel",
            "Cancel requested; the new state arrives by webhook",
        ),
    ] {
        let (status, body) = post_bearer(&app, &format!("/api/runs/{RUN}/{action}"), ALICE).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{action}: {body}");
        assert_eq!(body["message"], message);
        assert_eq!(body["github_status"], 201);
        assert_eq!(body["repo"], REPO);
        let last = actions(&github).pop().expect("GitHub was asked");
        assert_eq!(
            last,
            Seen {
                method: "POST".into(),
                path: format!("/repos/{REPO}/actions/runs/{RUN}/{action}"),
                authorization: Some(format!("Bearer {GITHUB_TOKEN}")),
            }
        );
    }
    assert_eq!(actions(&github).len(), 3);
    app.stop().await;
}

#[tokio::test]
async fn githubs_refusals_come_back_as_clear_messages() {
    let github = FakeGitHub::start().await;
    let app = app_with(&github, false).await;
    for (status, github_message, expected_status, expected) in [
        (
            403,
            "Resource not accessible by integration",
            StatusCode::FORBIDDEN,
            "the GitHub token may not act on this repository (needs Actions: write)",
        ),
        (
            409,
            "Cannot rerun",
            StatusCode::CONFLICT,
            "GitHub will not re-run this run: older than 30 days or 50 attempts",
        ),
        (
            422,
            "Unable to retry this workflow run because it was created over a month ago",
            StatusCode::CONFLICT,
            "GitHub will not re-run this run: older than 30 days or 50 attempts",
        ),
        (
            404,
            "Not Found",
            StatusCode::NOT_FOUND,
            "GitHub does not know this run",
        ),
    ] {
        github.answer_with(status, github_message);
        let (answered, body) = post_bearer(&app, &format!("/api/runs/{RUN}/rerun"), ALICE).await;
        assert_eq!(answered, expected_status, "{status}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(expected), "{status}: {message}");
        assert!(
            message.contains(github_message),
            "GitHub's own words: {message}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn the_board_acts_with_its_cookie_and_csrf_token_and_refuses_cross_site_requests() {
    let github = FakeGitHub::start().await;
    let app = app_with(&github, false).await;
    let (cookie, csrf) = sign_in(&app, ALICE).await;
    let url = app.url(&format!("/api/runs/{RUN}/rerun-failed-jobs"));
    let origin = format!("http://{}", app.addr);
    // From the board's own page: accepted.
    let response = app
        .http
        .post(&url)
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .header("origin", &origin)
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(actions(&github).len(), 1);
    // The cookie alone (a form on another site): refused.
    let refusals = [
        vec![("cookie", cookie.clone())],
        vec![("cookie", cookie.clone()), ("x-csrf-token", "0".repeat(64))],
        vec![
            ("cookie", cookie.clone()),
            ("x-csrf-token", csrf.clone()),
            ("origin", "http://evil.example".to_owned()),
        ],
        vec![
            ("cookie", cookie.clone()),
            ("x-csrf-token", csrf.clone()),
            ("sec-fetch-site", "cross-site".to_owned()),
        ],
    ];
    for headers in refusals {
        let mut request = app.http.post(&url);
        for (name, value) in &headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{headers:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "cross_site", "{headers:?}");
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("did not come from a page of this board"));
    }
    assert_eq!(
        actions(&github).len(),
        1,
        "no refused request reached GitHub"
    );
    // A GET on an action changes nothing.
    let response = app
        .http
        .get(&url)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(actions(&github).len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn the_tv_token_cannot_act() {
    let github = FakeGitHub::start().await;
    let app = app_with(&github, true).await;
    let path = format!("/api/runs/{RUN}/rerun");
    let (status, body) = post_bearer(&app, &path, BOARD_TOKEN).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "not_an_operator");
    // A TV's browser, signed in with the board token, has its cookie and no operator's.
    let tv = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let response = tv
        .get(app.url(&format!("/triage?tv=1&token={BOARD_TOKEN}")))
        .send()
        .await
        .unwrap();
    let board_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let session = operator_session(&tv, &app, &board_cookie).await;
    assert_eq!(session["operator"], Value::Null, "the TV is no operator");
    let response = tv
        .post(app.url(&path))
        .header("cookie", &board_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // The board token does not sign an operator in either.
    let response = tv
        .post(app.url("/operator"))
        .form(&[("token", BOARD_TOKEN)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().get("set-cookie").is_none());
    assert!(actions(&github).is_empty());
    // An operator token acts on the private board too.
    let (status, body) = post_bearer(&app, &path, ALICE).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    app.stop().await;
}

#[tokio::test]
async fn only_github_actions_runs_can_be_acted_on() {
    let github = FakeGitHub::start().await;
    let app = app_with(&github, false).await;
    let mut check = crate::helpers::webhook_json("check_run/completed.payload.json");
    check["check_run"]["check_suite"]["head_branch"] = serde_json::json!("master");
    app.deliver_json("check_run", "act-check", &check).await;
    let builds: Value = app.get_json("/api/builds").await;
    let check = builds["builds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|build| build["source"] == "check")
        .expect("the check run is on the board")
        .clone();
    let id = check["id"].as_i64().unwrap();
    let (status, body) = post_bearer(&app, &format!("/api/runs/{id}/rerun"), ALICE).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "not_actions");
    let (status, body) = post_bearer(&app, "/api/runs/1/rerun", ALICE).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(actions(&github).is_empty());
    app.stop().await;
}

#[tokio::test]
async fn triage_marks_where_the_buttons_go_the_same_for_every_viewer() {
    let github = FakeGitHub::start().await;
    let app = app_with(&github, false).await;
    deliver_red(&app).await;
    let spot = format!(
        "<span class=\"act\" data-run-id=\"{RUN}\" data-repo=\"{REPO}\" data-source=\"actions\" \
         data-status=\"completed\" data-conclusion=\"failure\"></span>"
    );
    for path in ["/triage", "/triage?part=live", "/triage?tv=1"] {
        let page = app.get_text(path).await;
        assert!(page.contains(&spot), "{path}: {page}");
        assert!(
            !page.contains("act-button"),
            "{path}: buttons are added by the script"
        );
    }
    let script = app.get("/static/act.js").await;
    assert!(script.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    assert!(script.text().await.unwrap().contains("X-CSRF-Token"));
    let session: Value = app.get_json("/api/operator").await;
    assert_eq!(session, serde_json::json!({ "operator": null }));
    app.stop().await;
}

/// In Chromium, under the board's CSP: an operator signs in with the form, Triage shows the
/// buttons, a click asks GitHub and the answer shows; a refusal shows its message; TV mode shows
/// no buttons even to an operator.
#[tokio::test]
async fn an_operator_re_runs_from_triage_in_a_real_browser() {
    use crate::browser::{js, open, open_browser, start_driver, until, until_text};
    use std::time::Duration;

    let github = FakeGitHub::start().await;
    let app = app_with(&github, false).await;
    deliver_red(&app).await;
    let driver = start_driver();
    let browser = open_browser(&driver).await;
    let wait = Duration::from_secs(5);

    // Not signed in: no buttons.
    open(&browser, &app, "/triage").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        js(
            &browser,
            "return document.querySelectorAll('button.act-button').length"
        )
        .await,
        0
    );

    browser.goto(&app.url("/operator")).await.unwrap();
    js(
        &browser,
        &format!(
            "document.querySelector('input[name=token]').value = '{ALICE}'; \
             document.querySelector('form').submit(); return true;"
        ),
    )
    .await;
    until(&browser, "location.pathname === '/triage'", wait).await;
    until(
        &browser,
        "document.querySelector('button.act-rerun-failed-jobs')",
        wait,
    )
    .await;
    js(
        &browser,
        "document.querySelector('button.act-rerun-failed-jobs').click(); return true;",
    )
    .await;
    let requested = "Re-run requested; the new state arrives by webhook";
    until_text(&browser, "#act-toast", requested, wait).await;
    let asked = actions(&github);
    assert_eq!(asked.len(), 1);
    assert_eq!(
        asked[0].path,
        format!("/repos/{REPO}/actions/runs/{RUN}/rerun-failed-jobs")
    );

    github.answer_with(422, "Unable to retry this workflow run");
    js(
        &browser,
        "document.querySelector('button.act-rerun').click(); return true;",
    )
    .await;
    until(
        &browser,
        "((document.getElementById('act-toast') || {}).textContent || '')\
         .startsWith('GitHub will not re-run this run: older than 30 days or 50 attempts')",
        wait,
    )
    .await;

    // A TV, even an operator's browser, shows no buttons.
    open(&browser, &app, "/triage?tv=1&rotate=0").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        js(
            &browser,
            "return document.querySelectorAll('button.act-button').length"
        )
        .await,
        0
    );
    browser.close().await.unwrap();
    drop(driver);
    app.stop().await;
}

#[tokio::test]
async fn actions_have_their_own_rate_limit() {
    let github = FakeGitHub::start().await;
    let app = app_limited(&github, false, 2).await;
    let path = format!("/api/runs/{RUN}/rerun");
    for _ in 0..2 {
        let (status, body) = post_bearer(&app, &path, ALICE).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    let (status, body) = post_bearer(&app, &path, ALICE).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(actions(&github).len(), 2);
    // Reading the board is another budget.
    let response = app.get("/api/builds").await;
    assert_eq!(response.status(), StatusCode::OK);
    app.stop().await;
}
