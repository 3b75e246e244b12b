//! Access: with `--board-token` the board, the API and the live feed answer only
//! the token holder; a browser signs in once with `?token=` and keeps a cookie; the webhook and
//! the operations endpoints stay open; no token ever reaches the log or `--help`.

use std::process::Command;

use reqwest::StatusCode;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::Server;
use crate::helpers::{next_of_type, no_redirects, spawn_app_with, TestApp};

const BOARD_TOKEN: &str = "board-token-0123456789abcdef";
const ADMIN_TOKEN: &str = "admin-token-fedcba9876543210";

async fn private_app() -> TestApp {
    spawn_app_with(|config| {
        config.board_token = Some(buildboard::config::Secret::new(BOARD_TOKEN));
        config.admin_token = Some(buildboard::config::Secret::new(ADMIN_TOKEN));
    })
    .await
}

async fn ws_status(app: &TestApp, cookie: Option<&str>) -> u16 {
    let mut request = format!("ws://{}/ws", app.addr)
        .into_client_request()
        .unwrap();
    if let Some(cookie) = cookie {
        request
            .headers_mut()
            .insert("cookie", cookie.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((mut socket, response)) => {
            next_of_type(&mut socket, "hello").await;
            response.status().as_u16()
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("unexpected WebSocket error {other}"),
    }
}

#[tokio::test]
async fn without_the_board_token_nothing_about_the_builds_is_readable() {
    let app = private_app().await;
    app.deliver_fixture("workflow_run", "a1", "workflow_run/completed.payload.json")
        .await;
    let http = no_redirects();

    let page = http
        .get(app.url("/triage"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::UNAUTHORIZED);
    assert!(page.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    assert!(page.text().await.unwrap().contains("?token="));

    let api = http.get(app.url("/api/builds")).send().await.unwrap();
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = api.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");

    // Near misses: a wrong or truncated bearer token, the token without "Bearer", and a cookie
    // that holds the token itself (the real cookie holds its HMAC).
    let truncated = format!("Bearer {}", &BOARD_TOKEN[..BOARD_TOKEN.len() - 1]);
    let forged_cookie = format!("buildboard_token={BOARD_TOKEN}");
    for (header, value, path) in [
        ("authorization", "Bearer wrong", "/api/metrics"),
        ("authorization", truncated.as_str(), "/api/repos"),
        ("authorization", BOARD_TOKEN, "/api/workflows"),
        ("cookie", forged_cookie.as_str(), "/"),
    ] {
        let response = http
            .get(app.url(path))
            .header(header, value)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{header}: {value}"
        );
    }

    let wrong = http
        .get(app.url("/?tv=1&token=guess"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get("set-cookie").is_none());

    assert_eq!(ws_status(&app, None).await, 401);
    assert_eq!(ws_status(&app, Some("buildboard_token=0000")).await, 401);

    // What GitHub, load balancers and scrapers use stays open.
    for path in ["/healthz", "/readyz", "/metrics", "/static/app.js"] {
        let response = http.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_browser_signs_in_once_and_its_cookie_opens_pages_api_and_feed() {
    let app = private_app().await;
    let http = no_redirects();

    let sign_in = http
        .get(app.url(&format!("/triage?tv=1&token={BOARD_TOKEN}&rotate=0")))
        .send()
        .await
        .unwrap();
    assert_eq!(sign_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(sign_in.headers()["location"], "/triage?tv=1&rotate=0");
    let set_cookie = sign_in.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    assert!(
        !set_cookie.contains(BOARD_TOKEN),
        "the cookie must not hold the token"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_owned();

    for path in [
        "/",
        "/triage?tv=1&rotate=0",
        "/developer",
        "/?part=live",
        "/api/builds",
    ] {
        let response = http
            .get(app.url(path))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    assert_eq!(ws_status(&app, Some(&cookie)).await, 101);

    // Tools: the board token or the admin token as a bearer token; no shared cache may keep
    // the answer.
    for token in [BOARD_TOKEN, ADMIN_TOKEN] {
        let response = app.get_bearer("/api/metrics", token).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["cache-control"], "private, no-store");
    }
    let added = http
        .post(app.url("/api/repos"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({ "repo": "octo-org/octo-repo" }))
        .send()
        .await
        .unwrap();
    assert!(added.status().is_success(), "{}", added.status());

    // The webhook needs its signature, not the board token.
    app.deliver_fixture("workflow_run", "a2", "workflow_run/completed.payload.json")
        .await;
    app.stop().await;
}

#[tokio::test]
async fn tokens_never_appear_in_the_log_or_in_help() {
    let server = Server::fresh(&["--board-token", BOARD_TOKEN, "--admin-token", ADMIN_TOKEN]).await;
    let http = no_redirects();
    let guesses = ["guess-one-secretish", "guess-two-secretish"];
    for path in [
        format!("/?token={BOARD_TOKEN}"),
        format!("/triage?token={}", guesses[0]),
        "/api/builds".to_owned(),
    ] {
        http.get(server.url(&path)).send().await.unwrap();
    }
    for token in [BOARD_TOKEN, ADMIN_TOKEN, guesses[1]] {
        http.get(server.url("/api/builds"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
    }
    server.terminate_cleanly_and_check_log(|log| {
        assert!(log.contains("signed in"), "{log}");
        assert!(log.contains("read refused"), "{log}");
        for secret in [BOARD_TOKEN, ADMIN_TOKEN, guesses[0], guesses[1]] {
            assert!(
                !log.contains(secret),
                "{secret} leaked into the log:\n{log}"
            );
        }
    });

    let help = Command::new(env!("CARGO_BIN_EXE_buildboard"))
        .arg("--help")
        .env("BUILDBOARD_BOARD_TOKEN", BOARD_TOKEN)
        .env("BUILDBOARD_ADMIN_TOKEN", ADMIN_TOKEN)
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(help.contains("--board-token"), "{help}");
    assert!(
        !help.contains(BOARD_TOKEN) && !help.contains(ADMIN_TOKEN),
        "{help}"
    );
}
