//! Acting as yourself: people signed in with GitHub re-run and cancel with their own user token
//! where GitHub lets them write, are refused with a 403 that says why where it does not, and
//! claim reds. A real server against the fake GitHub, which records the token of every action.

use buildboard::config::Secret;
use reqwest::StatusCode;
use serde_json::Value;

use crate::fake_github::{FakeGitHub, REPO};
use crate::github_app::{authorize, browser, session_cookie, set_up_app};
use crate::helpers::{spawn_app_with, TestApp};

/// The run of `workflow_run/completed.payload.json` (in [`REPO`]).
pub(crate) const RUN: i64 = 289_782_451;
/// The App's installation the people read [`REPO`] through.
const INSTALLATION: i64 = 4242;
pub(crate) const ADMIN: &str = "admin-token-for-the-acting-tests";

/// A person signed in: their cookie pair and their CSRF token.
pub(crate) struct Person {
    pub cookie: String,
    pub csrf: String,
    /// `GET /api/operator` as they see it.
    pub session: Value,
}

/// A server with an App whose people are `readers` (reading [`REPO`]) of whom `writers` may
/// write to it; the fixture's run delivered.
pub(crate) async fn server(readers: &[&str], writers: &[&str]) -> (FakeGitHub, TestApp) {
    let fake = FakeGitHub::start(vec![]).await;
    {
        let mut state = fake.state.lock().unwrap();
        for login in readers {
            let repos = vec![(INSTALLATION, REPO.to_owned())];
            state.app.user_repos.insert((*login).to_owned(), repos);
        }
        for login in writers {
            state
                .app
                .user_writes
                .insert((*login).to_owned(), vec![REPO.to_owned()]);
        }
    }
    let url = fake.url();
    let app = spawn_app_with(move |config| {
        config.github_api_url = url.clone();
        config.github_url = url;
        config.admin_token = Some(Secret::new(ADMIN));
        config.reconcile_interval = std::time::Duration::from_secs(3600);
        config.rate_limit = 100_000;
        config.rate_limit_burst = 100_000;
    })
    .await;
    set_up_app(&app, &fake).await;
    app.deliver_fixture(
        "workflow_run",
        "people-1",
        "workflow_run/completed.payload.json",
    )
    .await;
    (fake, app)
}

/// Signs `login` in through the fake's authorisation page.
pub(crate) async fn sign_in(app: &TestApp, fake: &FakeGitHub, login: &str) -> Person {
    fake.state.lock().unwrap().app.user = Some(login.to_owned());
    let (callback, _) = authorize(app, fake).await;
    let signed_in = browser().get(&callback).send().await.unwrap();
    assert_eq!(signed_in.status(), 303);
    let cookie = session_cookie(&signed_in).expect("a session cookie");
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let session: Value = browser()
        .get(app.url("/api/operator"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(session["operator"], login, "{session}");
    let csrf = session["csrf"].as_str().expect("a CSRF token").to_owned();
    Person {
        cookie,
        csrf,
        session,
    }
}

/// `method` on `path` as `person`'s page would send it (cookie, CSRF token, same origin).
pub(crate) async fn send_as(
    app: &TestApp,
    person: &Person,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let mut request = browser()
        .request(method, app.url(path))
        .header("cookie", &person.cookie)
        .header("x-csrf-token", &person.csrf)
        .header("origin", app.url("").trim_end_matches('/'))
        .header("sec-fetch-site", "same-origin");
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_person_with_write_access_acts_with_their_own_token_and_one_without_gets_403_and_no_button(
) {
    // Arrange: alice and bob read the repository; only alice may write to it.
    let (fake, app) = server(&["alice", "bob"], &["alice"]).await;
    let alice = sign_in(&app, &fake, "alice").await;
    let bob = sign_in(&app, &fake, "bob").await;

    // Act
    let (rerun, rerun_body) = send_as(
        &app,
        &alice,
        reqwest::Method::POST,
        &format!("/api/runs/{RUN}/rerun"),
        None,
    )
    .await;
    let (refused, refused_body) = send_as(
        &app,
        &bob,
        reqwest::Method::POST,
        &format!("/api/runs/{RUN}/cancel"),
        None,
    )
    .await;

    // Assert: alice's re-run reached GitHub with her own user token, not the server's.
    assert_eq!(rerun, StatusCode::ACCEPTED, "{rerun_body}");
    let acted = fake.state.lock().unwrap().acted.clone();
    assert_eq!(acted.len(), 1, "{acted:?}");
    assert_eq!(
        acted[0].path,
        format!("/repos/{REPO}/actions/runs/{RUN}/rerun")
    );
    assert_eq!(acted[0].by.as_deref(), Some("alice"));
    assert_eq!(acted[0].status, 201);
    assert!(
        acted[0]
            .token
            .as_deref()
            .is_some_and(|t| t.starts_with("ghu_")),
        "{acted:?}"
    );
    // Bob is refused by the board, with a reason, and GitHub is not asked.
    assert_eq!(refused, StatusCode::FORBIDDEN, "{refused_body}");
    assert_eq!(refused_body["error"]["code"], "no_write_access");
    let message = refused_body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("bob has no write access to octo-org/octo-repo"),
        "{message}"
    );
    assert_eq!(fake.state.lock().unwrap().acted.len(), 1);
    // The page's script is told where each may act: the buttons follow.
    assert_eq!(alice.session["repos"], serde_json::json!([REPO]));
    assert_eq!(alice.session["person"], true);
    assert_eq!(bob.session["repos"], serde_json::json!([]));
    app.stop().await;
}

#[tokio::test]
async fn a_persons_action_needs_the_csrf_token_and_a_run_they_cannot_read_is_missing() {
    // Arrange: alice writes to the repository; carol reads nothing.
    let (fake, app) = server(&["alice"], &["alice"]).await;
    let alice = sign_in(&app, &fake, "alice").await;
    let carol = sign_in(&app, &fake, "carol").await;

    // Act: alice's cookie without the CSRF token; carol on a run she may not read, and on none.
    let forged = browser()
        .post(app.url(&format!("/api/runs/{RUN}/rerun")))
        .header("cookie", &alice.cookie)
        .send()
        .await
        .unwrap();
    let path = |run: i64| format!("/api/runs/{run}/rerun");
    let (hidden, hidden_body) =
        send_as(&app, &carol, reqwest::Method::POST, &path(RUN), None).await;
    let (missing, missing_body) =
        send_as(&app, &carol, reqwest::Method::POST, &path(1), None).await;

    // Assert
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let forged: Value = forged.json().await.unwrap();
    assert_eq!(forged["error"]["code"], "cross_site");
    assert_eq!(hidden, StatusCode::NOT_FOUND);
    assert_eq!(missing, StatusCode::NOT_FOUND);
    let text = |body: &Value| body.to_string().replace(&RUN.to_string(), "1");
    assert_eq!(text(&hidden_body), text(&missing_body));
    assert!(fake.state.lock().unwrap().acted.is_empty());
    app.stop().await;
}
