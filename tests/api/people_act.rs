//! Acting as yourself: people signed in with GitHub re-run and cancel with their own user token
//! where GitHub lets them write, are refused with a 403 that says why where it does not, claim
//! reds and start workflows with inputs. A real server against the fake GitHub, which records the
//! token and body of every action.

use std::time::Duration;

use buildboard::config::Secret;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::fake_github::{FakeGitHub, REPO};
use crate::github_app::{browser, set_up_app, signed_in_cookie};
use crate::helpers::{spawn_app_with, webhook_json, TestApp};

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
    let cookie = signed_in_cookie(app, fake).await;
    let session: Value = crate::helpers::json_of(
        browser()
            .get(app.url("/api/operator"))
            .header("cookie", &cookie),
    )
    .await;
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
    method: Method,
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
        Method::POST,
        &format!("/api/runs/{RUN}/rerun"),
        None,
    )
    .await;
    let (refused, refused_body) = send_as(
        &app,
        &bob,
        Method::POST,
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
    let (hidden, hidden_body) = send_as(&app, &carol, Method::POST, &path(RUN), None).await;
    let (missing, missing_body) = send_as(&app, &carol, Method::POST, &path(1), None).await;

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

/// The fixture's run, failed: a red that starts at [`RUN`].
pub(crate) async fn deliver_red(app: &TestApp) {
    let mut failed = webhook_json("workflow_run/completed.payload.json");
    failed["workflow_run"]["conclusion"] = json!("failure");
    failed["workflow_run"]["updated_at"] = json!("2030-01-01T00:00:00Z");
    app.deliver_json("workflow_run", "people-red", &failed)
        .await;
}

/// A later run of the same workflow, green: the red is over.
async fn deliver_green(app: &TestApp) {
    let mut green = webhook_json("workflow_run/completed.payload.json");
    let run = &mut green["workflow_run"];
    run["id"] = json!(RUN + 1);
    run["run_number"] = json!(164);
    run["conclusion"] = json!("success");
    for field in ["created_at", "updated_at", "run_started_at"] {
        run[field] = json!("2031-01-01T00:00:00Z");
    }
    app.deliver_json("workflow_run", "people-green", &green)
        .await;
}

/// `path` as `person` reads it.
async fn read_as(app: &TestApp, person: &Person, path: &str) -> String {
    crate::helpers::text_of(
        browser()
            .get(app.url(path))
            .header("cookie", &person.cookie),
    )
    .await
}

#[tokio::test]
async fn a_claim_shows_on_the_wall_and_in_triage_for_another_viewer_until_the_workflow_is_green() {
    use crate::scope::{drain, ws_with};

    // Arrange: alice and bob read the repository; carol reads nothing. It is red.
    let (fake, app) = server(&["alice", "bob"], &["alice"]).await;
    deliver_red(&app).await;
    let alice = sign_in(&app, &fake, "alice").await;
    let bob = sign_in(&app, &fake, "bob").await;
    let carol = sign_in(&app, &fake, "carol").await;
    let mut bobs_feed = ws_with(&app, ("cookie", &bob.cookie)).await.unwrap();
    crate::helpers::next_of_type(&mut bobs_feed, "snapshot").await;
    let claim = format!("/api/reds/{RUN}/claim");

    // Act: alice claims the red.
    let (status, body) = send_as(&app, &alice, Method::POST, &claim, None).await;

    // Assert: bob sees it on the feed, the Wall, Triage and the API; he cannot take or end it.
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["message"], "alice is on it");
    let messages = drain(&mut bobs_feed, Duration::from_millis(500)).await;
    assert!(
        messages
            .iter()
            .any(|m| m.contains(r#""type":"claim""#) && m.contains("alice")),
        "{messages:?}"
    );
    for path in ["/wall", "/wall?part=live", "/triage", "/triage?part=live"] {
        let page = read_as(&app, &bob, path).await;
        assert!(page.contains("alice is on it"), "{path}: {page}");
        assert!(
            page.contains(&format!(r#"data-first-red="{RUN}""#)),
            "{path}"
        );
    }
    let triage = read_as(&app, &bob, "/api/triage").await;
    assert!(
        triage.contains(r#""claim":{"at""#) && triage.contains(r#""by":"alice""#),
        "{triage}"
    );
    let (taken, _) = send_as(&app, &bob, Method::POST, &claim, None).await;
    assert_eq!(taken, StatusCode::CONFLICT);
    let (ended, ended_body) = send_as(&app, &bob, Method::DELETE, &claim, None).await;
    assert_eq!(ended, StatusCode::FORBIDDEN, "{ended_body}");
    assert_eq!(ended_body["error"]["code"], "not_your_claim");

    // A red carol may not read is refused exactly as one that does not exist.
    let (hidden, hidden_body) = send_as(&app, &carol, Method::POST, &claim, None).await;
    let (missing, missing_body) =
        send_as(&app, &carol, Method::POST, "/api/reds/1/claim", None).await;
    assert_eq!(
        (hidden, missing),
        (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND)
    );
    let text = |body: &Value| body.to_string().replace(&RUN.to_string(), "1");
    assert_eq!(text(&hidden_body), text(&missing_body));

    // A later failing run of the same red does not name it.
    let mut again = webhook_json("workflow_run/completed.payload.json");
    let run = &mut again["workflow_run"];
    run["id"] = json!(RUN + 2);
    run["run_number"] = json!(165);
    run["conclusion"] = json!("failure");
    for field in ["created_at", "updated_at", "run_started_at"] {
        run[field] = json!("2030-06-01T00:00:00Z");
    }
    app.deliver_json("workflow_run", "people-red-again", &again)
        .await;
    let later = format!("/api/reds/{}/claim", RUN + 2);
    let (later, later_body) = send_as(&app, &alice, Method::POST, &later, None).await;
    assert_eq!(later, StatusCode::NOT_FOUND, "{later_body}");

    // Green again: the claim is gone from every screen (once the delivery is published: shared
    // renders are redrawn when the hub's generation moves, just after the commit).
    deliver_green(&app).await;
    for path in ["/wall?part=live", "/triage?part=live"] {
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        loop {
            let page = read_as(&app, &bob, path).await;
            if !page.contains("is on it") {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{path}: {page}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn a_claim_is_released_by_its_claimer_and_its_name_is_hidden_with_hide_authors() {
    // Arrange
    let fake = FakeGitHub::start(vec![]).await;
    {
        let mut state = fake.state.lock().unwrap();
        state
            .app
            .user_repos
            .insert("alice".into(), vec![(INSTALLATION, REPO.to_owned())]);
    }
    let url = fake.url();
    let app = spawn_app_with(move |config| {
        config.github_api_url = url.clone();
        config.github_url = url;
        config.hide_authors = true;
        config.reconcile_interval = std::time::Duration::from_secs(3600);
    })
    .await;
    set_up_app(&app, &fake).await;
    deliver_red(&app).await;
    let alice = sign_in(&app, &fake, "alice").await;
    let claim = format!("/api/reds/{RUN}/claim");

    // Act
    let (status, body) = send_as(&app, &alice, Method::POST, &claim, None).await;
    let wall = read_as(&app, &alice, "/wall?part=live").await;
    let triage = read_as(&app, &alice, "/api/triage").await;
    let (released, _) = send_as(&app, &alice, Method::DELETE, &claim, None).await;
    let after = read_as(&app, &alice, "/triage?part=live").await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!body.to_string().contains("alice"), "{body}");
    assert!(wall.contains("someone is on it"), "{wall}");
    assert!(!wall.contains("alice"), "{wall}");
    assert!(
        triage.contains(r#""claim":{"at""#) && !triage.contains("alice"),
        "{triage}"
    );
    assert_eq!(released, StatusCode::OK);
    assert!(!after.contains("is on it"), "{after}");
    app.stop().await;
}

/// The fixture run's workflow.
const WORKFLOW: i64 = 2_823_525;

/// A workflow file with one input of each kind.
const WORKFLOW_FILE: &str = include_str!("../fixtures/workflows/dispatch-inputs.yml");

#[tokio::test]
async fn a_workflow_is_started_with_its_inputs_as_the_person_and_githubs_refusals_are_explained() {
    // Arrange
    let (fake, app) = server(&["alice", "bob"], &["alice"]).await;
    fake.state
        .lock()
        .unwrap()
        .workflow_files
        .insert(".github/workflows/test.yml".into(), WORKFLOW_FILE.into());
    let alice = sign_in(&app, &fake, "alice").await;
    let bob = sign_in(&app, &fake, "bob").await;
    let path = format!("/api/workflows/{WORKFLOW}/dispatch");

    // Act
    let (status, form) = send_as(&app, &alice, Method::GET, &path, None).await;
    let filled = json!({"ref": "master", "inputs": {"environment": "staging", "dry_run": false, "replicas": 3}});
    let (started, started_body) = send_as(&app, &alice, Method::POST, &path, Some(&filled)).await;
    let wrong = json!({"inputs": {"environment": "moon"}});
    let (bad, bad_body) = send_as(&app, &alice, Method::POST, &path, Some(&wrong)).await;
    let (refused, refused_body) = send_as(&app, &bob, Method::POST, &path, Some(&filled)).await;

    // Assert: the form holds the file's inputs at the default branch.
    assert_eq!(status, StatusCode::OK, "{form}");
    assert_eq!(form["ref"], "master");
    let names = crate::helpers::strings_of(&form["inputs"], "name");
    assert_eq!(names, ["environment", "dry_run", "replicas", "note"]);
    assert_eq!(form["inputs"][0]["type"], "choice");
    assert_eq!(
        form["inputs"][0]["options"],
        json!(["staging", "production"])
    );
    // The dispatch reached GitHub with alice's token and the right body.
    assert_eq!(started, StatusCode::ACCEPTED, "{started_body}");
    let acted = fake.state.lock().unwrap().acted.clone();
    assert_eq!(acted.len(), 1, "{acted:?}");
    assert_eq!(
        acted[0].path,
        format!("/repos/{REPO}/actions/workflows/{WORKFLOW}/dispatches")
    );
    assert_eq!(acted[0].by.as_deref(), Some("alice"));
    assert_eq!(
        acted[0].body,
        json!({"ref": "master", "inputs": {"environment": "staging", "dry_run": "false", "replicas": "3"}})
    );
    // A wrong value is refused by the board, naming it; bob may not start it at all.
    assert_eq!(bad, StatusCode::BAD_REQUEST, "{bad_body}");
    assert!(bad_body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("environment must be one of staging, production"));
    assert_eq!(refused, StatusCode::FORBIDDEN);
    assert_eq!(refused_body["error"]["code"], "no_write_access");
    assert_eq!(fake.state.lock().unwrap().acted.len(), 1);

    // GitHub's own refusal comes back in words.
    fake.state.lock().unwrap().dispatch_answer = Some((
        422,
        json!({"message": "Unexpected inputs provided: [\"note\"]"}),
    ));
    let (unprocessable, body) = send_as(&app, &alice, Method::POST, &path, Some(&filled)).await;
    assert_eq!(unprocessable, StatusCode::UNPROCESSABLE_ENTITY);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("GitHub refused to start it") && message.contains("Unexpected inputs"),
        "{message}"
    );
    app.stop().await;
}

/// Signs `login` in in the browser, through the fake's authorisation page, and opens `path`.
async fn sign_in_browser(
    browser: &fantoccini::Client,
    app: &TestApp,
    fake: &FakeGitHub,
    login: &str,
    path: &str,
) {
    use crate::browser::until;
    browser.delete_all_cookies().await.unwrap();
    fake.state.lock().unwrap().app.user = Some(login.to_owned());
    let start = format!("/login?return_to={path}");
    browser.goto(&app.url(&start)).await.unwrap();
    let script = format!(
        "location.pathname === '{path}' && (document.getElementById('conn') || {{}}).dataset \
         && document.getElementById('conn').dataset.state === 'open'"
    );
    until(browser, &script, Duration::from_secs(5)).await;
}

/// In Chromium: alice (who may write) gets the re-run buttons and claims the red from the Wall;
/// bob (who may not) sees her claim, and no button to act or to take it.
#[tokio::test]
async fn a_red_is_claimed_from_the_wall_in_a_real_browser_and_another_person_sees_it() {
    use crate::browser::{js, open_browser, start_driver, until, until_text};

    // Arrange
    let (fake, app) = server(&["alice", "bob"], &["alice"]).await;
    deliver_red(&app).await;
    let driver = start_driver();
    let browser = open_browser(&driver).await;
    let wait = Duration::from_secs(5);
    let count = |selector: &str| format!("return document.querySelectorAll('{selector}').length");

    // Act: alice claims the red on the Wall.
    sign_in_browser(&browser, &app, &fake, "alice", "/triage").await;
    until(&browser, "document.querySelector('button.act-rerun')", wait).await;
    sign_in_browser(&browser, &app, &fake, "alice", "/wall").await;
    until(
        &browser,
        "document.querySelector('button.claim-button')",
        wait,
    )
    .await;
    js(
        &browser,
        "document.querySelector('button.claim-button').click(); return true;",
    )
    .await;

    // Assert: her Wall says so; bob's Triage too, with no button for him.
    until_text(&browser, ".tile .claim-who", "alice is on it", wait).await;
    sign_in_browser(&browser, &app, &fake, "bob", "/triage").await;
    until_text(&browser, ".reds .claim-who", "alice is on it", wait).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(js(&browser, &count("button.act-button")).await, 0);
    assert_eq!(js(&browser, &count("button.claim-button")).await, 0);
    browser.close().await.unwrap();
    drop(driver);
    app.stop().await;
}

/// In Chromium: alice opens the run page, starts its workflow with the form, and GitHub gets the
/// values she picked.
#[tokio::test]
async fn a_workflow_is_started_from_the_run_page_form_in_a_real_browser() {
    use crate::browser::{js, open_browser, start_driver, until, until_text};

    // Arrange
    let (fake, app) = server(&["alice"], &["alice"]).await;
    fake.state
        .lock()
        .unwrap()
        .workflow_files
        .insert(".github/workflows/test.yml".into(), WORKFLOW_FILE.into());
    let driver = start_driver();
    let browser = open_browser(&driver).await;
    let wait = Duration::from_secs(5);

    // Act
    sign_in_browser(&browser, &app, &fake, "alice", &format!("/runs/{RUN}")).await;
    until(
        &browser,
        "document.querySelector('button.dispatch-button')",
        wait,
    )
    .await;
    js(
        &browser,
        "document.querySelector('button.dispatch-button').click(); return true;",
    )
    .await;
    until(
        &browser,
        "document.querySelector('dialog select[name=environment]')",
        wait,
    )
    .await;
    js(
        &browser,
        "const form = document.querySelector('dialog form'); \
         form.querySelector('select[name=environment]').value = 'production'; \
         form.querySelector('input[name=replicas]').value = '2'; \
         form.querySelector('button[type=submit]').click(); return true;",
    )
    .await;

    // Assert
    let started = "Started test on master; its run arrives by webhook";
    until_text(&browser, ".dispatch-status.ok", started, wait).await;
    let acted = fake.state.lock().unwrap().acted.clone();
    assert_eq!(acted.len(), 1, "{acted:?}");
    assert_eq!(acted[0].by.as_deref(), Some("alice"));
    assert_eq!(
        acted[0].body,
        json!({"ref": "master", "inputs": {"environment": "production", "dry_run": "true", "replicas": "2", "note": ""}})
    );
    browser.close().await.unwrap();
    drop(driver);
    app.stop().await;
}
