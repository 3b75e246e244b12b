//! The GitHub App: setup from a manifest, installation deliveries and their backfill with
//! installation tokens, sign in with GitHub. A real server against the fake GitHub, which issues
//! the App, verifies its JWTs with the public half of the key and runs the OAuth web flow.

use std::time::Duration;

use buildboard::config::{AccessMode, Secret};
use serde_json::{json, Value};

use crate::fake_github::{self, app_private_key, FakeGitHub, Issued, REPO, REPO_ID};
use crate::helpers::{captured_log, spawn_app_with, webhook_json, TestApp};

/// A client that shows redirects instead of following them, and keeps no cookies.
pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The admin token of the servers here.
const ADMIN: &str = "admin-token-for-the-app-tests";

async fn server_for(fake: &FakeGitHub) -> TestApp {
    server_with_access(fake, None).await
}

async fn server_with_access(fake: &FakeGitHub, access: Option<AccessMode>) -> TestApp {
    let url = fake.url();
    spawn_app_with(move |config| {
        config.github_api_url = url.clone();
        config.github_url = url;
        config.access = access;
        config.admin_token = Some(Secret::new(ADMIN));
    })
    .await
}

/// The setup address the server logged at start.
fn logged_setup_url(app: &TestApp) -> String {
    let prefix = format!("http://{}/setup?code=", app.addr);
    let log = captured_log();
    let start = log
        .find(&prefix)
        .unwrap_or_else(|| panic!("the log names {prefix}..."));
    log[start..]
        .split_whitespace()
        .next()
        .unwrap()
        .trim_end_matches(['"', ','])
        .to_owned()
}

/// What askama escaped in an attribute, back.
fn unescape(text: &str) -> String {
    text.replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&#38;", "&")
}

/// The value of the attribute `attr` of the first tag that contains `marker`.
fn attribute(html: &str, marker: &str, attr: &str) -> String {
    let at = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in {html}"));
    let tag_start = html[..at].rfind('<').unwrap();
    let tag = &html[tag_start..at + html[at..].find('>').unwrap()];
    let key = format!("{attr}=\"");
    let value = &tag[tag.find(&key).unwrap_or_else(|| panic!("{attr} in {tag}")) + key.len()..];
    unescape(&value[..value.find('"').unwrap()])
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// Runs the manifest flow as an admin's browser would, and returns the App the fake issued.
pub(crate) async fn set_up_app(app: &TestApp, fake: &FakeGitHub) -> (Issued, Value) {
    let http = browser();
    let setup = logged_setup_url(app);
    let code = setup.split("code=").nth(1).unwrap().to_owned();
    let page = http.get(&setup).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert_eq!(attribute(&page, "name=\"code\"", "value"), code);
    let form = format!(
        "/setup/manifest?code={code}&account=org&org=octo-org&name=Buildboard-Test&acting=1"
    );
    let response = http.get(app.url(&form)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        policy.contains(&format!("form-action 'self' {}", fake.url())),
        "{policy}"
    );
    let html = response.text().await.unwrap();
    let action = attribute(&html, "method=\"post\"", "action");
    assert_eq!(
        action,
        format!(
            "{}/organizations/octo-org/settings/apps/new?state={code}",
            fake.url()
        )
    );
    let manifest_text = attribute(&html, "name=\"manifest\"", "value");
    let manifest: Value = serde_json::from_str(&manifest_text).unwrap();

    // The browser posts the form to GitHub, which makes the App and sends the browser back.
    let back = http
        .post(&action)
        .form(&[("manifest", &manifest_text)])
        .send()
        .await
        .unwrap();
    assert_eq!(back.status(), 302);
    let back = location(&back);
    assert!(back.starts_with(&app.url("/setup/done?code=")), "{back}");
    let done = http.get(&back).send().await.unwrap();
    assert_eq!(done.status(), 303, "{}", done.text().await.unwrap());
    assert_eq!(
        location(&done),
        format!("{}/apps/buildboard-test/installations/new", fake.url())
    );
    let issued = fake.state.lock().unwrap().app.issued.clone().unwrap();
    assert_eq!(
        issued.manifest, manifest,
        "GitHub got the manifest the page holds"
    );
    (issued, manifest)
}

#[tokio::test]
async fn the_manifest_flow_creates_the_app_stores_its_credentials_out_of_the_log_and_closes_setup()
{
    // Arrange
    let fake = FakeGitHub::start(vec![]).await;
    let app = server_for(&fake).await;
    let setup = logged_setup_url(&app);
    let http = browser();
    let wrong = http.get(app.url("/setup?code=guess")).send().await.unwrap();
    assert_eq!(wrong.status(), 403);
    assert_eq!(
        http.get(app.url("/setup")).send().await.unwrap().status(),
        403
    );

    // Act
    let (issued, manifest) = set_up_app(&app, &fake).await;

    // Assert: the manifest asks for what the issue lists.
    let origin = format!("http://{}", app.addr);
    assert_eq!(manifest["name"], "Buildboard-Test");
    assert_eq!(manifest["url"], origin);
    assert_eq!(
        manifest["hook_attributes"]["url"],
        format!("{origin}/webhook")
    );
    assert_eq!(manifest["redirect_url"], format!("{origin}/setup/done"));
    assert_eq!(
        manifest["callback_urls"],
        json!([format!("{origin}/auth/callback")])
    );
    assert_eq!(manifest["setup_url"], format!("{origin}/setup/installed"));
    assert_eq!(manifest["public"], false);
    assert_eq!(
        manifest["default_permissions"],
        json!({"actions": "write", "checks": "read", "statuses": "read", "contents": "read", "metadata": "read"})
    );
    let mut events: Vec<&str> = manifest["default_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    events.sort_unstable();
    assert_eq!(
        events,
        [
            "check_run",
            "check_suite",
            "create",
            "delete",
            "push",
            "repository",
            "status",
            "workflow_job",
            "workflow_run"
        ]
    );
    // The credentials are stored...
    let stored: (i64, String, String, String, String, String) = app.row(
        "SELECT app_id, slug, clientid, clientsecret, webhooksecret, privatekey FROM githubapp",
    );
    assert_eq!(
        stored,
        (
            issued.id,
            issued.slug.clone(),
            issued.client_id.clone(),
            issued.client_secret.clone(),
            issued.webhook_secret.clone(),
            app_private_key()
        )
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&app.db_path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "the database is readable by its owner only"
        );
    }
    // ...and never logged, nor answered.
    let log = captured_log();
    assert!(log.contains("GitHub App created"), "the creation is logged");
    let key_line = app_private_key().lines().nth(1).unwrap().to_owned();
    for secret in [&issued.client_secret, &issued.webhook_secret, &key_line] {
        assert!(!log.contains(secret.as_str()), "a secret reached the log");
    }
    let repos = app.get_text("/api/repos").await;
    assert!(!repos.contains(&issued.client_secret));
    // GitHub's setup URL names an installation: believed only once GitHub confirms it.
    let spoofed = http
        .get(app.url("/setup/installed?installation_id=999&setup_action=install"))
        .send()
        .await
        .unwrap();
    assert_eq!(spoofed.status(), 400);
    fake.state
        .lock()
        .unwrap()
        .app
        .installations
        .insert(4242, "octo-org".into());
    let confirmed = http
        .get(app.url("/setup/installed?installation_id=4242&setup_action=install"))
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status(), 303);
    // Setup is closed.
    let again = http.get(&setup).send().await.unwrap();
    assert_eq!(again.status(), 410);
    assert!(again.text().await.unwrap().contains("setup --reset"));
    app.stop().await;
}

#[tokio::test]
async fn an_expired_manifest_code_or_a_forged_state_gets_a_page_that_says_so() {
    let fake = FakeGitHub::start(vec![]).await;
    let app = server_for(&fake).await;
    let setup = logged_setup_url(&app);
    let code = setup.split("code=").nth(1).unwrap();
    let http = browser();

    // A state that is not the setup code: refused before GitHub is asked.
    let forged = http
        .get(app.url("/setup/done?code=anything&state=forged"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert!(forged.text().await.unwrap().contains("not from your setup"));

    // A code GitHub does not know (expired, or used once already).
    let expired = http
        .get(app.url(&format!("/setup/done?code=expired-code&state={code}")))
        .send()
        .await
        .unwrap();
    assert_eq!(expired.status(), 410);
    let page = expired.text().await.unwrap();
    assert!(page.contains("expired"), "{page}");
    assert!(
        page.contains(&format!("/setup?code={code}")),
        "offers to start again: {page}"
    );
    assert_eq!(app.count("githubapp"), 0);
    app.stop().await;
}

/// Recent runs for the fake: `count` in the last days, one a month old (outside the backfill).
fn recent_runs(count: i64) -> Vec<(i64, Value)> {
    let now = chrono::Utc::now().timestamp();
    let mut runs: Vec<(i64, Value)> = (0..count)
        .map(|i| {
            let created = now - 3600 * (i + 2);
            fake_github::run(2_000_001 + i, created, "completed", created + 60)
        })
        .collect();
    let old = now - 30 * 86_400;
    runs.push(fake_github::run(1_999_999, old, "completed", old + 60));
    runs
}

async fn deliver_as_app(
    app: &TestApp,
    secret: &str,
    event: &str,
    delivery: &str,
    body: &Value,
) -> reqwest::Response {
    app.webhook_request(secret, (event, delivery), serde_json::to_vec(body).unwrap())
        .header("x-github-hook-installation-target-type", "integration")
        .header("x-github-hook-installation-target-id", "4100")
        .send()
        .await
        .unwrap()
}

/// Waits until `GET /api/repos` shows REPO's backfill done, and returns it.
async fn backfill_done(app: &TestApp) -> Value {
    for _ in 0..300 {
        let repos = app.get_json("/api/repos").await;
        let repo = repos["repos"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["repo"] == REPO)
            .cloned();
        if let Some(repo) = repo {
            assert_ne!(repo["backfill"]["state"], "failed", "{repo}");
            if repo["backfill"]["state"] == "done" {
                return repo;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the backfill did not finish");
}

fn installation_created() -> Value {
    let mut payload = webhook_json("installation/created.example1.payload.json");
    payload["installation"]["id"] = json!(4242);
    payload["installation"]["account"]["login"] = json!("octo-org");
    payload["repositories"] =
        json!([{"id": REPO_ID, "name": "octo-repo", "full_name": REPO, "private": true}]);
    payload
}

fn repositories_added() -> Value {
    let mut payload = webhook_json("installation_repositories/added.example1.payload.json");
    payload["installation"]["id"] = json!(4242);
    payload["installation"]["account"]["login"] = json!("octo-org");
    payload["repositories_added"] =
        json!([{"id": REPO_ID, "name": "octo-repo", "full_name": REPO, "private": true}]);
    payload
}

/// Requests to the repository's endpoints GitHub refused with 401.
fn refused_repo_requests(fake: &FakeGitHub) -> usize {
    fake.log()
        .iter()
        .filter(|l| l.status == 401 && l.target.starts_with("/repos/"))
        .count()
}

fn tokens_issued(fake: &FakeGitHub) -> usize {
    fake.state.lock().unwrap().app.installation_tokens.len()
}

#[tokio::test]
async fn an_installation_delivery_signed_with_the_apps_secret_adds_its_repositories_and_backfills_them_with_installation_tokens(
) {
    // Arrange
    let fake = FakeGitHub::start(recent_runs(5)).await;
    fake.state
        .lock()
        .unwrap()
        .app
        .installations
        .insert(4242, "octo-org".into());
    let app = server_with_access(&fake, Some(AccessMode::Public)).await;
    let (issued, _) = set_up_app(&app, &fake).await;

    // A delivery marked as the App's but signed with the hand-made hook's secret is refused.
    let wrong = deliver_as_app(
        &app,
        crate::helpers::SECRET,
        "installation",
        "inst-0",
        &installation_created(),
    )
    .await;
    assert_eq!(wrong.status(), 401);
    let mut feed = app.connect_ws().await;
    crate::helpers::next_of_type(&mut feed, "snapshot").await;

    // Act
    let response = deliver_as_app(
        &app,
        &issued.webhook_secret,
        "installation",
        "inst-1",
        &installation_created(),
    )
    .await;

    // Assert
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap()["status"],
        "processed"
    );
    let repo = backfill_done(&app).await;
    assert_eq!(repo["monitored"], true);
    assert!(repo["backfill"]["done_at"].is_i64(), "{repo}");
    // The feed told the board as the backfill started and ended (pages then read the board's
    // "backfilling N of M" line again), and the line is gone once it is done.
    let mut states = Vec::new();
    while states.last().is_none_or(|s| s != "done") {
        let message = crate::helpers::next_of_type(&mut feed, "backfill").await;
        assert_eq!(message["repo"], repo["repo"], "{message}");
        states.push(message["state"].as_str().unwrap().to_owned());
    }
    assert_eq!(states, ["running", "done"]);
    let state = app.get_json("/wall?part=state").await;
    assert_eq!(state["backfilling"], "", "{state}");
    let runs: Vec<i64> = app.rows("SELECT id FROM workflowruns ORDER BY id");
    assert_eq!(
        runs,
        (2_000_001..=2_000_005).collect::<Vec<_>>(),
        "7 days, not the month-old run"
    );
    assert!(app.count("workflowjobs") >= 5, "with jobs");
    let installation: (String, i64) =
        app.row("SELECT account, suspended FROM installations WHERE id = 4242");
    assert_eq!(installation, ("octo-org".to_owned(), 0));
    {
        let state = fake.state.lock().unwrap();
        assert!(
            state.app.jwt_refused.is_empty(),
            "{:?}",
            state.app.jwt_refused
        );
        assert_eq!(
            state.app.jwt_accepted, 1,
            "one installation token for the whole backfill"
        );
        assert_eq!(state.app.installation_tokens.len(), 1);
        assert!(state.app.installation_requests >= 5);
    }
    assert_eq!(refused_repo_requests(&fake), 0);

    // Removed: no longer monitored, history kept.
    let mut removed = repositories_added();
    removed["action"] = json!("removed");
    removed["repositories_removed"] = removed["repositories_added"].take();
    removed["repositories_added"] = json!([]);
    let response = deliver_as_app(
        &app,
        &issued.webhook_secret,
        "installation_repositories",
        "inst-2",
        &removed,
    )
    .await;
    assert_eq!(response.status(), 200);
    let monitored: i64 = app.row_for("SELECT monitored FROM repos WHERE fullname = ?1", REPO);
    assert_eq!(monitored, 0);
    assert_eq!(app.count("workflowruns"), 5);
    app.stop().await;
}

#[tokio::test]
async fn installation_tokens_are_renewed_before_they_expire_and_once_after_a_401() {
    // Arrange: a first backfill with hour-long tokens.
    let fake = FakeGitHub::start(recent_runs(3)).await;
    fake.state
        .lock()
        .unwrap()
        .app
        .installations
        .insert(4242, "octo-org".into());
    let app = server_with_access(&fake, Some(AccessMode::Public)).await;
    let (issued, _) = set_up_app(&app, &fake).await;
    let secret = issued.webhook_secret.clone();
    deliver_as_app(
        &app,
        &secret,
        "installation",
        "renew-1",
        &installation_created(),
    )
    .await;
    backfill_done(&app).await;
    assert_eq!(tokens_issued(&fake), 1);

    // Act 1: GitHub stops accepting the cached token.
    fake.state.lock().unwrap().app.expire_installation_tokens();
    let response = deliver_as_app(
        &app,
        &secret,
        "installation_repositories",
        "renew-2",
        &repositories_added(),
    )
    .await;
    assert_eq!(response.status(), 200);
    backfill_done(&app).await;

    // Assert 1: one 401, one renewal, and the backfill went on.
    assert_eq!(refused_repo_requests(&fake), 1);
    assert_eq!(tokens_issued(&fake), 2);

    // Act 2: tokens that expire within the renewal margin are renewed before use.
    {
        let mut state = fake.state.lock().unwrap();
        state.app.expire_installation_tokens();
        state.app.token_ttl = Some(60);
    }
    deliver_as_app(
        &app,
        &secret,
        "installation_repositories",
        "renew-3",
        &repositories_added(),
    )
    .await;
    backfill_done(&app).await;

    // Assert 2: the stale cached token drew the only new 401; then each request got a fresh one.
    assert_eq!(refused_repo_requests(&fake), 2);
    assert!(
        tokens_issued(&fake) >= 2 + 3,
        "{} tokens",
        tokens_issued(&fake)
    );
    assert!(fake.state.lock().unwrap().app.jwt_refused.is_empty());
    app.stop().await;
}

fn query_of(url: &str) -> std::collections::HashMap<String, String> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

/// `/login` → GitHub's authorisation page → the callback URL GitHub sends the browser back to.
pub(crate) async fn authorize(
    app: &TestApp,
    fake: &FakeGitHub,
) -> (String, std::collections::HashMap<String, String>) {
    let http = browser();
    let login = http
        .get(app.url("/login?return_to=/wall"))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303);
    let authorize = location(&login);
    assert!(
        authorize.starts_with(&format!("{}/login/oauth/authorize?", fake.url())),
        "{authorize}"
    );
    let params = query_of(&authorize);
    let approved = http.get(&authorize).send().await.unwrap();
    assert_eq!(approved.status(), 302);
    (location(&approved), params)
}

pub(crate) fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("buildboard_session=") && !c.starts_with("buildboard_session=;"))
}

/// A fake GitHub with no runs on which `login` signs in and may read `repos` (id, name).
async fn github_as(login: &str, repos: Vec<(i64, String)>) -> FakeGitHub {
    let fake = FakeGitHub::start(vec![]).await;
    {
        let mut state = fake.state.lock().unwrap();
        state.app.user = Some(login.into());
        state.app.user_repos.insert(login.into(), repos);
    }
    fake
}

/// Signs in through the fake's authorisation page as its current user: the session cookie's
/// `name=value` pair.
pub(crate) async fn signed_in_cookie(app: &TestApp, fake: &FakeGitHub) -> String {
    let (callback, _) = authorize(app, fake).await;
    let signed_in = browser().get(&callback).send().await.unwrap();
    assert_eq!(signed_in.status(), 303);
    let cookie = session_cookie(&signed_in).expect("a session cookie");
    cookie.split(';').next().unwrap().to_owned()
}

async fn get_with(app: &TestApp, path: &str, cookie: &str) -> reqwest::Response {
    let value = cookie.split(';').next().unwrap().to_owned();
    browser()
        .get(app.url(path))
        .header("cookie", value)
        .send()
        .await
        .unwrap()
}

/// Signs out as a browser does: `GET /logout`'s form, posted with its CSRF token.
async fn logout(app: &TestApp, cookie: &str) -> reqwest::Response {
    let value = cookie.split(';').next().unwrap().to_owned();
    let form = get_with(app, "/logout", cookie).await.text().await.unwrap();
    let csrf = attribute(&form, "name=\"csrf\"", "value");
    browser()
        .post(app.url("/logout"))
        .header("cookie", value)
        .header("origin", app.url(""))
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn signing_in_with_github_uses_state_and_pkce_refreshes_and_ends_on_revocation() {
    // Arrange
    let fake = github_as("alice", vec![(4242, REPO.to_owned())]).await;
    let app = server_for(&fake).await;
    let (issued, _) = set_up_app(&app, &fake).await;
    let http = browser();

    // Without a session (sign-in is the default once the App exists): pages go to /login, the API says 401.
    let page = http.get(app.url("/wall")).send().await.unwrap();
    assert_eq!(page.status(), 303);
    assert_eq!(location(&page), "/login?return_to=%2Fwall");
    let api = http.get(app.url("/api/repos")).send().await.unwrap();
    assert_eq!(api.status(), 401);
    assert_eq!(
        api.json::<Value>().await.unwrap()["error"]["code"],
        "unauthorized"
    );

    // Act: sign in.
    let (callback, params) = authorize(&app, &fake).await;
    assert_eq!(params["client_id"], issued.client_id);
    assert_eq!(params["code_challenge_method"], "S256");
    assert_eq!(params["redirect_uri"], app.url("/auth/callback"));
    assert_eq!(params["code_challenge"].len(), 43);
    let state = query_of(&callback)["state"].clone();

    // A forged state is refused, and sets no session.
    let forged = callback.replace(&state, "forged-state");
    let refused = http.get(&forged).send().await.unwrap();
    assert_eq!(refused.status(), 400);
    assert!(session_cookie(&refused).is_none());

    let signed_in = http.get(&callback).send().await.unwrap();
    assert_eq!(signed_in.status(), 303);
    assert_eq!(location(&signed_in), "/wall");
    let cookie = session_cookie(&signed_in).expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain http: no Secure flag");

    // Assert: the session reads the board; its state cannot be replayed.
    assert_eq!(get_with(&app, "/api/repos", &cookie).await.status(), 200);
    assert_eq!(get_with(&app, "/wall", &cookie).await.status(), 200);
    assert_eq!(http.get(&callback).send().await.unwrap().status(), 400);
    // A tampered cookie is no session.
    let tampered = cookie.replacen("buildboard_session=", "buildboard_session=x", 1);
    assert_eq!(get_with(&app, "/api/repos", &tampered).await.status(), 401);
    // The admin token keeps working for the API without a session.
    let admin = app.get_bearer("/api/repos", ADMIN).await;
    assert_eq!(admin.status(), 200);

    // A verifier that does not match the challenge is refused by GitHub, so by the board.
    fake.state.lock().unwrap().app.corrupt_next_challenge = true;
    let (callback, _) = authorize(&app, &fake).await;
    let refused = http.get(&callback).send().await.unwrap();
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("PKCE"));
    assert!(fake
        .state
        .lock()
        .unwrap()
        .app
        .token_calls
        .contains(&("authorization_code".into(), "invalid_grant".into())));

    // Refresh: tokens about to expire are refreshed before use.
    fake.state.lock().unwrap().app.user_ttl = Some(60);
    let (callback, _) = authorize(&app, &fake).await;
    let short = session_cookie(&http.get(&callback).send().await.unwrap()).unwrap();
    assert_eq!(get_with(&app, "/api/repos", &short).await.status(), 200);
    let refreshes = |fake: &FakeGitHub| {
        fake.state
            .lock()
            .unwrap()
            .app
            .token_calls
            .iter()
            .filter(|(grant, outcome)| grant == "refresh_token" && outcome == "ok")
            .count()
    };
    assert!(refreshes(&fake) >= 1);

    // Revocation ends the session at its next refresh.
    fake.state.lock().unwrap().app.revoke("alice");
    assert_eq!(get_with(&app, "/api/repos", &short).await.status(), 401);
    let sessions_left = app.count("sessions");
    assert_eq!(
        sessions_left, 1,
        "only the first (long-lived) session is left"
    );

    // A GET of /logout (a cross-site image could send one) only shows the form; its POST,
    // with the form's CSRF token, ends the first session and closes its open feed.
    let value = cookie.split(';').next().unwrap().to_owned();
    let mut feed = crate::scope::ws_with(&app, ("cookie", &value))
        .await
        .unwrap();
    crate::helpers::next_of_type(&mut feed, "snapshot").await;
    let confirm = get_with(&app, "/logout", &cookie).await;
    assert_eq!(confirm.status(), 200);
    assert_eq!(app.count("sessions"), 1, "a GET signs nobody out");
    let without_csrf = browser()
        .post(app.url("/logout"))
        .header("cookie", &value)
        .header("origin", app.url(""))
        .form(&[("csrf", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(without_csrf.status(), 403);
    assert_eq!(
        app.count("sessions"),
        1,
        "a POST without the CSRF token signs nobody out"
    );
    let out = logout(&app, &cookie).await;
    assert_eq!(out.status(), 200);
    assert_eq!(app.count("sessions"), 0);
    let closed = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            match futures_util::StreamExt::next(&mut feed).await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Close(frame))) => {
                    return frame.map(|f| u16::from(f.code))
                }
                None | Some(Err(_)) => return None,
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .expect("the session's feed closes at logout");
    assert_eq!(closed, Some(1008));
    assert_eq!(get_with(&app, "/api/repos", &cookie).await.status(), 401);
    let log = captured_log();
    assert!(!log.contains(&issued.client_secret));
    assert!(
        !log.contains("ghu_fakeuser") && !log.contains("ghr_fakerefresh"),
        "no user token in the log"
    );
    app.stop().await;
}

#[tokio::test]
async fn init_db_org_lists_every_unarchived_repository_of_an_organisation() {
    let fake = FakeGitHub::start(vec![]).await;
    let client = fake.client();
    let repos = buildboard::backfill::org_repos(&client, "octo-org")
        .await
        .unwrap();
    assert_eq!(repos, vec![REPO.to_owned()]);
    let err = buildboard::backfill::org_repos(&client, "nobody")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("organisation nobody"), "{err}");
}

/// Polls the browser's address until `predicate` holds (10 s at most).
async fn until_url(browser: &fantoccini::Client, predicate: impl Fn(&str) -> bool) -> String {
    for _ in 0..200 {
        let url = browser.current_url().await.unwrap().to_string();
        if predicate(&url) {
            return url;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the browser is at {}", browser.current_url().await.unwrap());
}

#[tokio::test]
async fn the_setup_pages_create_the_app_in_a_real_browser() {
    use crate::browser::{click, type_into};
    use fantoccini::Locator;
    // Arrange
    let fake = FakeGitHub::start(vec![]).await;
    let app = server_for(&fake).await;
    let setup = logged_setup_url(&app);
    let driver = crate::browser::start_driver();
    let browser = crate::browser::open_browser(&driver).await;

    // Act: an admin picks an organisation, names the App, and posts the manifest to GitHub.
    browser.goto(&setup).await.unwrap();
    click(&browser, "input[name=account][value=org]").await;
    type_into(&browser, "input[name=org]", "octo-org").await;
    let name = browser
        .find(Locator::Css("input[name=name]"))
        .await
        .unwrap();
    name.clear().await.unwrap();
    name.send_keys("Board-In-Chromium").await.unwrap();
    click(&browser, "button[type=submit]").await;
    until_url(&browser, |url| url.contains("/setup/manifest?")).await;
    click(&browser, "form[method=post] button").await;

    // Assert: through GitHub and back (the page's policy lets the form post to GitHub), to the
    // App's install page, with the App stored.
    let install = format!("{}/apps/board-in-chromium/installations/new", fake.url());
    until_url(&browser, |url| url == install).await;
    assert_eq!(app.count("githubapp"), 1);
    let issued = fake.state.lock().unwrap().app.issued.clone().unwrap();
    assert_eq!(issued.manifest["name"], "Board-In-Chromium");
    browser.close().await.unwrap();
    app.stop().await;
}

#[tokio::test]
async fn a_revoked_authorisation_delivery_ends_that_persons_sessions_at_once() {
    // Arrange: alice signed in.
    let fake = github_as("alice", vec![(4242, REPO.to_owned())]).await;
    let app = server_for(&fake).await;
    let (issued, _) = set_up_app(&app, &fake).await;
    let cookie = signed_in_cookie(&app, &fake).await;
    assert_eq!(get_with(&app, "/api/repos", &cookie).await.status(), 200);

    // Act: GitHub tells the App that alice revoked its authorisation.
    let mut payload = webhook_json("github_app_authorization/revoked.example1.payload.json");
    payload["sender"]["login"] = json!("alice");
    let response = deliver_as_app(
        &app,
        &issued.webhook_secret,
        "github_app_authorization",
        "rev-1",
        &payload,
    )
    .await;

    // Assert: her session ends at once, cached scope or not.
    assert_eq!(response.status(), 200);
    assert_eq!(app.count("sessions"), 0);
    assert_eq!(get_with(&app, "/api/repos", &cookie).await.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn a_signed_in_person_who_reads_two_of_three_repositories_never_receives_a_byte_of_the_third()
{
    use crate::scope::{
        assert_every_address_hides_the_third, assert_feed_hides_the_third, deliver_all, drain,
        fetch, json_with, metrics_around_now, ws_with, HIDDEN,
    };

    // Arrange: alice may read two of the three repositories through the App.
    let fake = github_as(
        "alice",
        vec![(501, "acme/payments".into()), (502, "acme/gateway".into())],
    )
    .await;
    let url = fake.url();
    let app = spawn_app_with(move |config| {
        config.github_api_url = url.clone();
        config.github_url = url;
        config.admin_token = Some(Secret::new(ADMIN));
        config.rate_limit = 100_000;
        config.rate_limit_burst = 100_000;
    })
    .await;
    set_up_app(&app, &fake).await;
    let cookie = signed_in_cookie(&app, &fake).await;
    let mut feed = ws_with(&app, ("cookie", &cookie)).await.unwrap();
    crate::helpers::next_of_type(&mut feed, "snapshot").await;

    // Act: deliveries for all three repositories while alice's feed is open.
    deliver_all(&app, 1).await;
    let messages = drain(&mut feed, Duration::from_millis(700)).await;

    // Assert: the feed, every page, live part, API answer, cc.xml and suggestion.
    assert_feed_hides_the_third(&messages);
    assert_every_address_hides_the_third(&app, &cookie).await;
    // The figures count only hers.
    let (status, metrics) = json_with(&app, ("cookie", &cookie), &metrics_around_now()).await;
    assert_eq!(status, 200, "{metrics}");
    assert_eq!(metrics["metrics"]["total_runs"], 4, "{metrics}");
    let (_, repos) = json_with(&app, ("cookie", &cookie), "/api/repos").await;
    assert_eq!(repos["repos"].as_array().map(Vec::len), Some(2), "{repos}");
    // The control: the admin token reads the third, so the search can fail.
    let (_, all) = json_with(
        &app,
        ("authorization", &format!("Bearer {ADMIN}")),
        "/api/repos",
    )
    .await;
    assert!(all.to_string().contains(HIDDEN), "{all}");
    // Signed out, the session reads nothing.
    let out = logout(&app, &cookie).await;
    assert!(
        out.status().is_redirection() || out.status().is_success(),
        "{}",
        out.status()
    );
    let (status, _) = fetch(&app, &cookie, "/api/repos").await;
    assert_eq!(status, 401);
    app.stop().await;
}

#[tokio::test]
async fn an_organisation_admin_signed_in_with_github_opens_the_settings_and_a_member_gets_403() {
    // Arrange: the App is installed on octo-org; alice administers it, bob is a member.
    let fake = FakeGitHub::start(recent_runs(1)).await;
    {
        let mut state = fake.state.lock().unwrap();
        state.app.installations.insert(4242, "octo-org".into());
        for login in ["alice", "bob"] {
            state
                .app
                .user_repos
                .insert(login.into(), vec![(4242, REPO.to_owned())]);
        }
        state
            .app
            .org_admins
            .insert(("alice".into(), "octo-org".into()));
    }
    let app = server_for(&fake).await;
    let (issued, _) = set_up_app(&app, &fake).await;
    let installed = deliver_as_app(
        &app,
        &issued.webhook_secret,
        "installation",
        "inst-1",
        &installation_created(),
    )
    .await;
    assert_eq!(installed.status(), 200);
    let sign_in_as = |login: &'static str| {
        let (app, fake) = (&app, &fake);
        async move {
            fake.state.lock().unwrap().app.user = Some(login.into());
            signed_in_cookie(app, fake).await
        }
    };

    // Act
    let alice = sign_in_as("alice").await;
    let bob = sign_in_as("bob").await;
    let as_alice = get_with(&app, "/settings", &alice).await;
    let as_bob = get_with(&app, "/settings", &bob).await;
    let nobody = browser().get(app.url("/settings")).send().await.unwrap();

    // Assert
    assert_eq!(as_alice.status(), 200);
    let page = as_alice.text().await.unwrap();
    assert!(
        page.contains("Signed in as <strong>alice</strong>"),
        "{page}"
    );
    assert_eq!(as_bob.status(), 403);
    let refused = as_bob.text().await.unwrap();
    assert!(refused.contains("bob is not an admin"), "{refused}");
    assert_eq!(nobody.status(), 403);
    assert!(nobody.text().await.unwrap().contains("Sign in with GitHub"));
    // Alice's change is logged as hers.
    let csrf = attribute(&page, "name=\"csrf\"", "value");
    let saved = browser()
        .post(app.url("/settings"))
        .header("cookie", alice.split(';').next().unwrap())
        .header("origin", app.url(""))
        .form(&[
            ("csrf", csrf.as_str()),
            ("action", "watch_branches"),
            ("value", "develop"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 200);
    let by: String = app
        .db()
        .query_row("SELECT changedby FROM settingslog", [], |row| row.get(0))
        .unwrap();
    assert_eq!(by, "alice");
    app.stop().await;
}
