//! Each viewer sees what they may read, and nothing else: display and
//! API tokens made through `/api/tokens`, each scoped to some repositories. Every page, live part,
//! API answer, `cc.xml`, suggestion and feed message a scoped token receives is searched, byte by
//! byte, for the name of the repository it may not read; a revoked token is refused at once,
//! its open feed closed.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{
    close_code, next_of_type, no_redirects, spawn_app_with, status_and_json, TestApp, WsClient,
};
use crate::seed::{org_run_delivery, OrgRepo};

const BOARD_TOKEN: &str = "board-token-0123456789abcdef";
const ADMIN_TOKEN: &str = "admin-token-fedcba9876543210";
/// What no byte sent to a viewer of the first two repositories may contain (compared in lower
/// case): the third's name, so also its "owner/name".
pub(crate) const HIDDEN: &str = "secret-vault";

pub(crate) fn repos() -> [OrgRepo; 3] {
    let repo = |id: i64, name: &str| OrgRepo {
        id,
        name: name.to_owned(),
        workflows: vec![(id * 100 + 1, "CI".to_owned())],
    };
    [
        repo(501, "acme/payments"),
        repo(502, "acme/gateway"),
        repo(503, "acme/secret-vault"),
    ]
}

async fn private_app() -> TestApp {
    spawn_app_with(|config| {
        config.board_token = Some(buildboard::config::Secret::new(BOARD_TOKEN));
        config.admin_token = Some(buildboard::config::Secret::new(ADMIN_TOKEN));
        config.rate_limit = 100_000;
        config.rate_limit_burst = 100_000;
    })
    .await
}

/// Makes a display token for `repos` with the admin token; its secret and id.
async fn make_token(app: &TestApp, name: &str, repos: &[&str]) -> (String, i64) {
    let response = app
        .http
        .post(app.url("/api/tokens"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "name": name, "repos": repos }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    (
        body["token"].as_str().unwrap().to_owned(),
        body["id"].as_i64().unwrap(),
    )
}

/// Revokes token `id` with the admin token: the answer's status.
async fn revoke_token(app: &TestApp, id: i64) -> u16 {
    let response = app
        .http
        .delete(app.url(&format!("/api/tokens/{id}")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

/// Signs a browser in with `token` as a TV does (`/?token=`): the cookie it is given.
pub(crate) async fn sign_in(app: &TestApp, token: &str) -> String {
    let response = app.get_unfollowed(&format!("/?tv=1&token={token}")).await;
    assert_eq!(response.status(), 303);
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(!cookie.contains(token), "the cookie is not the token");
    cookie.split(';').next().unwrap().to_owned()
}

/// `GET path` with `cookie`: the status, and every byte of the headers and body as lower-case
/// text.
pub(crate) async fn fetch(app: &TestApp, cookie: &str, path: &str) -> (u16, String) {
    let response = no_redirects()
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let mut text = format!("{:?}", response.headers());
    text.push_str(&response.text().await.unwrap());
    (status, text.to_lowercase())
}

pub(crate) async fn ws_with(app: &TestApp, header: (&'static str, &str)) -> Result<WsClient, u16> {
    let mut request = format!("ws://{}/ws", app.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert(header.0, header.1.parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(other) => panic!("unexpected WebSocket error {other}"),
    }
}

/// Every text message until `quiet` passes without one.
pub(crate) async fn drain(socket: &mut WsClient, quiet: Duration) -> Vec<String> {
    let mut texts = Vec::new();
    while let Ok(Some(Ok(message))) = tokio::time::timeout(quiet, socket.next()).await {
        if let Message::Text(text) = message {
            texts.push(text.to_string());
        }
    }
    texts
}

/// A success and a failure on `main` of each repository (a red for the Wall and Triage).
pub(crate) async fn deliver_all(app: &TestApp, round: i64) {
    for (i, repo) in repos().iter().enumerate() {
        for (k, conclusion) in ["success", "failure"].into_iter().enumerate() {
            let run_id = repo.id * 1000 + round * 10 + k as i64;
            let sha = format!("{:040x}", run_id);
            let body = org_run_delivery(repo, 0, "main", run_id, &sha, Some(conclusion));
            app.deliver("workflow_run", &format!("d-{round}-{i}-{k}"), &body)
                .await;
        }
    }
}

/// The feed `messages` of a reader of two of the three repositories name those two, never the third.
pub(crate) fn assert_feed_hides_the_third(messages: &[String]) {
    let joined = messages.join("\n").to_lowercase();
    assert!(
        !joined.contains(HIDDEN),
        "a feed message named it: {joined}"
    );
    assert!(joined.contains("acme/payments") && joined.contains("acme/gateway"));
}

/// Every address ([`every_address`]) answers the holder of `cookie` without a server error and
/// without naming the third repository.
pub(crate) async fn assert_every_address_hides_the_third(app: &TestApp, cookie: &str) {
    for path in every_address() {
        let (status, text) = fetch(app, cookie, &path).await;
        assert!(status < 500, "{path}: {status}");
        assert!(!text.contains(HIDDEN), "{path} ({status}) named it: {text}");
    }
}

/// Every view, its live parts and TV form, every read of the API and `cc.xml`.
pub(crate) fn every_address() -> Vec<String> {
    let mut paths = Vec::new();
    for view in [
        "/",
        "/waterfall",
        "/wall",
        "/triage",
        "/developer",
        "/developer/Codertocat",
    ] {
        for query in ["", "?part=live", "?tv=1", "?tv=1&part=live", "?part=hud"] {
            paths.push(format!("{view}{query}"));
        }
    }
    paths.extend(
        [
            "/wall?part=state",
            "/triage?branches=all&part=live",
            "/api/builds",
            "/api/builds?per_page=100",
            "/api/builds?conclusion=failure",
            "/api/metrics",
            "/api/metrics?group_by=repo",
            "/api/metrics?group_by=workflow&window=30d",
            "/api/workflows",
            "/api/workflows/50301",
            "/api/workflows/50201",
            "/api/builds/503010",
            "/api/builds/502011",
            "/api/triage",
            "/api/triage?branches=all",
            "/api/repos",
            "/api/transitions",
            "/cc.xml",
            // "Did you mean": a typo of the hidden repository's name, as a filter and a search.
            "/?repo=acme/secret-vaul",
            "/triage?repo=acme/secret-vaul",
            "/wall?repo=acme/secret-vaul&part=live",
            "/api/builds?repo=acme/secret-vaul",
            "/api/metrics?repo=acme/secret-vaul",
            "/api/triage?repo=secret-vaul",
            "/?workflow=CJ",
            "/api/builds?branch=mian",
        ]
        .map(str::to_owned),
    );
    paths
}

#[tokio::test]
async fn a_display_token_for_two_of_three_repositories_never_receives_a_byte_of_the_third() {
    // Arrange: two tokens, a TV signed in with each scoped one, feeds open before deliveries.
    let app = private_app().await;
    let (two, _) = make_token(&app, "lobby TV", &["acme/payments", "acme/gateway"]).await;
    let cookie = sign_in(&app, &two).await;
    let mut scoped_feed = ws_with(&app, ("cookie", &cookie)).await.unwrap();
    next_of_type(&mut scoped_feed, "snapshot").await;
    let mut admin_feed = ws_with(&app, ("authorization", &format!("Bearer {BOARD_TOKEN}")))
        .await
        .unwrap();
    next_of_type(&mut admin_feed, "snapshot").await;

    // Act: deliveries for all three repositories, while the feeds are open.
    deliver_all(&app, 1).await;
    let scoped = drain(&mut scoped_feed, Duration::from_millis(700)).await;
    let everything = drain(&mut admin_feed, Duration::from_millis(300)).await;

    // Assert: the feed.
    assert_feed_hides_the_third(&scoped);
    assert!(
        everything.join("\n").contains("acme/secret-vault"),
        "the board token's feed has the third: the search can fail"
    );
    // A new connection's snapshot, too.
    let mut late = ws_with(&app, ("authorization", &format!("Bearer {two}")))
        .await
        .unwrap();
    let snapshot = next_of_type(&mut late, "snapshot").await;
    assert_eq!(snapshot["builds"].as_array().unwrap().len(), 4);
    assert!(!snapshot.to_string().contains(HIDDEN));

    // Assert: every address, for the scoped TV and (as a control) the board token.
    assert_every_address_hides_the_third(&app, &cookie).await;
    let board_cookie = sign_in(&app, BOARD_TOKEN).await;
    let (_, wall) = fetch(&app, &board_cookie, "/wall").await;
    assert!(wall.contains(HIDDEN), "the whole board shows the third");

    // The figures count only theirs: 4 runs, 2 of them red.
    let (_, metrics) = json_with(&app, ("cookie", &cookie), &metrics_around_now()).await;
    assert_eq!(metrics["metrics"]["total_runs"], 4, "{metrics}");
    assert_eq!(metrics["metrics"]["failed_runs"], 2, "{metrics}");
    let (_, repos) = fetch(&app, &cookie, "/api/repos").await;
    assert_eq!(repos.matches("\"repo\":").count(), 2, "{repos}");
    // The filter form offers their names only.
    let (_, page) = fetch(&app, &cookie, "/").await;
    assert!(page.contains("acme/payments") && page.contains("acme/gateway"));
    app.stop().await;
}

/// `/api/metrics` over the hour before and after now: an explicit window, as a run created in
/// the second of the request is past the end of a window that ends now.
pub(crate) fn metrics_around_now() -> String {
    let at = |offset: i64| {
        (chrono::Utc::now() + chrono::Duration::seconds(offset))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    format!("/api/metrics?since={}&until={}", at(-3600), at(3600))
}

/// The body of `GET path` as JSON with `header`, and its status.
pub(crate) async fn json_with(app: &TestApp, header: (&str, &str), path: &str) -> (u16, Value) {
    status_and_json(app.http.get(app.url(path)).header(header.0, header.1)).await
}

#[tokio::test]
async fn a_repository_out_of_scope_answers_exactly_as_one_that_does_not_exist() {
    let app = private_app().await;
    let (two, _) = make_token(&app, "lobby TV", &["acme/payments", "acme/gateway"]).await;
    deliver_all(&app, 1).await;
    let bearer = format!("Bearer {two}");
    let auth = ("authorization", bearer.as_str());
    for (hidden, missing) in [
        (
            "/api/builds?repo=acme/secret-vault",
            "/api/builds?repo=acme/zzzzzz-zzzzz",
        ),
        (
            "/api/metrics?repo=acme/secret-vault",
            "/api/metrics?repo=acme/zzzzzz-zzzzz",
        ),
        (
            "/api/triage?repo=acme/secret-vault",
            "/api/triage?repo=acme/zzzzzz-zzzzz",
        ),
        ("/api/builds/503011", "/api/builds/999011"),
        ("/api/workflows/50301", "/api/workflows/99901"),
    ] {
        let (status, answer) = json_with(&app, auth, hidden).await;
        let (missing_status, missing_answer) = json_with(&app, auth, missing).await;
        // Apart from the names asked for and the window's ends (the time of the request).
        let same = |value: &Value| {
            let mut value = value.clone();
            value.as_object_mut().map(|object| object.remove("window"));
            value
                .to_string()
                .replace("acme/secret-vault", "X")
                .replace("acme/zzzzzz-zzzzz", "X")
                .replace("503011", "N")
                .replace("999011", "N")
                .replace("50301", "N")
                .replace("99901", "N")
        };
        assert_eq!(
            (status, same(&answer)),
            (missing_status, same(&missing_answer)),
            "{hidden}"
        );
    }
    // With the board token the same address does name it: the comparison can fail.
    let board = format!("Bearer {BOARD_TOKEN}");
    let (_, found) = json_with(&app, ("authorization", &board), "/api/builds/503011").await;
    assert_eq!(found["repo"], "acme/secret-vault");
    app.stop().await;
}

#[tokio::test]
async fn a_token_for_one_repository_shows_only_it_and_a_revoked_one_is_refused_at_once() {
    // Arrange
    let app = private_app().await;
    let (one, id) = make_token(&app, "payments TV", &["acme/payments"]).await;
    deliver_all(&app, 1).await;
    let cookie = sign_in(&app, &one).await;

    // A token for one repository: only it.
    let bearer = format!("Bearer {one}");
    let (_, repos) = json_with(&app, ("authorization", &bearer), "/api/repos").await;
    let names: Vec<_> = repos["repos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|repo| repo["repo"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["acme/payments"]);
    let (_, builds) = json_with(&app, ("authorization", &bearer), "/api/builds").await;
    let builds = builds["builds"].as_array().unwrap();
    assert_eq!(builds.len(), 2);
    assert!(builds.iter().all(|build| build["repo"] == "acme/payments"));
    let (status, wall) = fetch(&app, &cookie, "/wall?tv=1").await;
    assert_eq!(status, 200);
    assert!(wall.contains("payments") && !wall.contains("gateway") && !wall.contains(HIDDEN));
    let mut feed = ws_with(&app, ("cookie", &cookie)).await.unwrap();
    next_of_type(&mut feed, "snapshot").await;

    // Act: revoke it.
    assert_eq!(revoke_token(&app, id).await, 200);

    // Assert: its open feed closes, and every way in is refused.
    assert_eq!(
        close_code(&mut feed, Duration::from_secs(2)).await,
        Some(1008),
        "the revoked feed closes"
    );
    let (status, _) = fetch(&app, &cookie, "/wall?tv=1").await;
    assert_eq!(status, 401);
    let (status, _) = json_with(&app, ("authorization", &bearer), "/api/builds").await;
    assert_eq!(status, 401);
    assert_eq!(ws_with(&app, ("cookie", &cookie)).await.err(), Some(401));
    assert_eq!(
        ws_with(&app, ("authorization", &bearer)).await.err(),
        Some(401)
    );
    let signing_in = app.get_unfollowed(&format!("/?token={one}")).await;
    assert_eq!(signing_in.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn tokens_are_made_listed_and_revoked_by_the_admin_only_and_stored_as_hashes() {
    let app = private_app().await;
    // Not the board token, not a display token, not nobody.
    let make_as = |bearer: &str, body: &Value| {
        app.http
            .post(app.url("/api/tokens"))
            .bearer_auth(bearer)
            .json(body)
            .send()
    };
    for bearer in [BOARD_TOKEN, "nope"] {
        let response = make_as(bearer, &json!({ "name": "x" })).await.unwrap();
        assert_eq!(response.status(), 401, "{bearer}");
    }
    let (secret, id) = make_token(&app, "all repos", &[]).await;
    let (display, _) = make_token(&app, "x", &["acme/payments"]).await;
    let refused = app
        .http
        .get(app.url("/api/tokens"))
        .bearer_auth(&display)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    for bad in [
        json!({ "name": "" }),
        json!({ "name": "x", "repos": ["not a repo"] }),
        json!({ "name": "x", "kind": "root" }),
        json!({ "name": "x", "extra": 1 }),
    ] {
        let response = make_as(ADMIN_TOKEN, &bad).await.unwrap();
        assert_eq!(response.status(), 400, "{bad}");
    }
    let (status, list) = json_with(
        &app,
        ("authorization", &format!("Bearer {ADMIN_TOKEN}")),
        "/api/tokens",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(list["tokens"].as_array().unwrap().len(), 2);
    assert!(
        !list.to_string().contains(&secret),
        "shown once, at creation"
    );
    let stored: String = app.row_for(
        "SELECT tokenhash || cookiehash || name FROM accesstokens WHERE id = ?1",
        id,
    );
    assert!(!stored.contains(&secret) && !stored.contains(&secret[4..]));
    assert_eq!(revoke_token(&app, 9999).await, 404);
    app.stop().await;
}

#[tokio::test]
async fn a_tv_signed_in_with_a_scoped_display_token_shows_and_receives_only_its_repositories() {
    use crate::browser::{js, open, open_browser, start_driver, until};
    // Arrange: a real Chromium, signed in once with a token for two of the three.
    let app = private_app().await;
    let (two, id) = make_token(&app, "lobby TV", &["acme/payments", "acme/gateway"]).await;
    deliver_all(&app, 1).await;
    let driver = start_driver();
    let browser = open_browser(&driver).await;
    open(&browser, &app, &format!("/waterfall?token={two}")).await;
    assert_eq!(
        js(&browser, "return location.href").await,
        app.url("/waterfall")
    );

    // Act: more deliveries for all three while the page is open.
    deliver_all(&app, 2).await;

    // Assert: theirs arrive live; the third's never shows, nor reaches the page's feed.
    until(
        &browser,
        "document.querySelector('[data-run-id=\"502021\"]')",
        Duration::from_secs(3),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for path in ["/", "/waterfall", "/wall", "/triage"] {
        open(&browser, &app, path).await;
        let html = js(&browser, "return document.documentElement.outerHTML").await;
        let html = html.as_str().unwrap().to_lowercase();
        assert!(
            html.contains("acme/payments") || html.contains("payments"),
            "{path}"
        );
        assert!(!html.contains(HIDDEN), "{path} shows the third: {html}");
    }
    let status = js(
        &browser,
        "return fetch('/api/builds/503021').then(r => r.status)",
    )
    .await;
    assert_eq!(status, 404);

    // Revoked: the page's next read is refused.
    assert_eq!(revoke_token(&app, id).await, 200);
    let status = js(&browser, "return fetch('/?part=live').then(r => r.status)").await;
    assert_eq!(status, 401);
    browser.close().await.unwrap();
    app.stop().await;
}

/// The board's quiet line while the App's background backfill runs counts the viewer's
/// repositories only: a backfill in their scope shows on every page and in the state part every
/// page reads to keep it live; one outside it is neither shown nor counted.
#[tokio::test]
async fn the_backfilling_line_counts_only_the_viewers_repositories() {
    // Arrange: the App gave three repositories; payments is backfilling, gateway is done, the
    // third (out of both viewers' scope) is queued.
    let app = private_app().await;
    let (two, _) = make_token(&app, "lobby TV", &["acme/payments", "acme/gateway"]).await;
    let (one, _) = make_token(&app, "gateway TV", &["acme/gateway"]).await;
    let db = app.db();
    db.execute(
        "INSERT INTO installations (id, account, createtime) VALUES (7, 'acme', 0)",
        [],
    )
    .unwrap();
    for (repo, state) in [
        ("acme/payments", "running"),
        ("acme/gateway", "done"),
        ("acme/secret-vault", "queued"),
    ] {
        db.execute(
            "INSERT INTO installationrepos (fullname, installation_id, backfillstate)
             VALUES (?1, 7, ?2)",
            [repo, state],
        )
        .unwrap();
    }
    deliver_all(&app, 1).await;

    // Act + Assert: in scope, "1 of 2" (the third is not counted), on a page and in the state.
    let cookie = sign_in(&app, &two).await;
    for path in ["/", "/waterfall?tv=1", "/triage"] {
        let (status, page) = fetch(&app, &cookie, path).await;
        assert_eq!(status, 200, "{path}");
        assert!(
            page.contains(">backfilling 1 of 2 repositories</span>"),
            "{path}: {page}"
        );
    }
    let (_, state) = fetch(&app, &cookie, "/wall?part=state").await;
    assert!(
        state.contains("\"backfilling\":\"backfilling 1 of 2 repositories\""),
        "{state}"
    );

    // Out of scope: the gateway's viewer sees no line at all, though the third is queued.
    let cookie = sign_in(&app, &one).await;
    for path in ["/", "/waterfall", "/wall?part=state"] {
        let (_, page) = fetch(&app, &cookie, path).await;
        assert!(!page.contains("backfilling "), "{path}: {page}");
        assert!(!page.contains(HIDDEN), "{path}");
    }
    app.stop().await;
}
