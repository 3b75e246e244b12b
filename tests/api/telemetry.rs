//! Runner telemetry: `POST /api/metrics` with a job's Actions OIDC token, against a fake issuer
//! on loopback (discovery + JWKS, with a key rotation) and the real server. Every refusal is a
//! 4xx JSON error naming its reason, counted in `/metrics`, and stores nothing.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use buildboard::config::PublicUrl;
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};
use tokio::task::JoinHandle;
use warp::Filter;

use crate::helpers::{fixture_text, json_of, spawn_app_with, text_of, webhook_json, TestApp};
use crate::seed::now;

/// The board's public URL: the tokens' audience.
const BOARD: &str = "http://board.test";
/// The repository of GitHub's workflow_run fixture, which the job deliveries use.
const JOB: i64 = 5001;
const RUN: i64 = 6001;

fn fixture(name: &str) -> String {
    fixture_text(&format!("oidc/{name}"))
}

/// A fake Actions OIDC issuer: its discovery document and its current keys.
struct Issuer {
    url: String,
    keys: Arc<Mutex<Vec<Value>>>,
    jwks_requests: Arc<Mutex<usize>>,
    handle: JoinHandle<()>,
}

impl Drop for Issuer {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

async fn issuer() -> Issuer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let url = format!("http://{addr}");
    let keys = Arc::new(Mutex::new(vec![serde_json::from_str::<Value>(&fixture(
        "key-1.jwk.json",
    ))
    .unwrap()]));
    let jwks_requests = Arc::new(Mutex::new(0));
    let discovery = {
        let url = url.clone();
        warp::path!(".well-known" / "openid-configuration").map(move || {
            warp::reply::json(&json!({ "issuer": url, "jwks_uri": format!("{url}/jwks") }))
        })
    };
    let jwks = {
        let (keys, requests) = (keys.clone(), jwks_requests.clone());
        warp::path!("jwks").map(move || {
            *requests.lock().unwrap() += 1;
            warp::reply::json(&json!({ "keys": *keys.lock().unwrap() }))
        })
    };
    // Actions' token endpoint: a key-1 token for the audience asked, to the runner's bearer.
    let issued = {
        let url = url.clone();
        warp::path!("token")
            .and(warp::query::<std::collections::HashMap<String, String>>())
            .and(warp::header::<String>("authorization"))
            .map(
                move |query: std::collections::HashMap<String, String>, auth: String| {
                    assert_eq!(auth, "Bearer runner-request-token");
                    let audience = query.get("audience").cloned().unwrap_or_default();
                    warp::reply::json(
                        &json!({ "value": token(&url, "key-1", json!({"aud": audience})) }),
                    )
                },
            )
    };
    let routes = discovery.or(jwks).or(issued);
    let handle = tokio::spawn(warp::serve(routes).incoming(listener).run());
    Issuer {
        url,
        keys,
        jwks_requests,
        handle,
    }
}

/// A token of `issuer` signed with `key` (`key-1` or `key-2`), with `claims` over the defaults
/// (this job, audience the board, valid for ten minutes).
fn token(issuer: &str, key: &str, claims: Value) -> String {
    let mut body = json!({
        "iss": issuer,
        "aud": BOARD,
        "iat": now(),
        "nbf": now() - 5,
        "exp": now() + 600,
        "repository": "octo-org/octo-repo",
        "repository_id": "300029405",
        "run_id": RUN.to_string(),
        "run_attempt": "1",
        "check_run_id": JOB.to_string(),
    });
    for (name, value) in claims.as_object().unwrap() {
        body[name] = value.clone();
    }
    let mut header = Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(key.to_owned());
    let pem = fixture(&format!("{key}.pem"));
    encode(
        &header,
        &body,
        &EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

/// A running job `JOB` of run `RUN`, from GitHub's in_progress job delivery.
async fn running_job(app: &TestApp) {
    crate::seed::deliver_running_job(app, RUN, JOB).await;
}

async fn spawn(issuer: &Issuer) -> TestApp {
    let url = issuer.url.clone();
    spawn_app_with(move |config| {
        config.actions_oidc_issuer = url;
        config.public_url = Some(PublicUrl::parse(BOARD).unwrap());
    })
    .await
}

async fn post(app: &TestApp, token: Option<&str>, body: &Value) -> (u16, Value) {
    let mut request = app.http.post(app.url("/api/metrics")).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn batch(from: i64, n: i64) -> Value {
    let samples: Vec<Value> = (0..n)
        .map(|i| {
            json!({"t": from + i * 5, "cpu_user": 40.5, "cpu_system": 3.25,
                   "mem_used": 7_800_000_000_i64, "mem_total": 8_000_000_000_i64,
                   "disk_read": i * 1000, "disk_write": i * 2000, "net_rx": i * 10, "net_tx": i,
                   "load1": 1.5})
        })
        .collect();
    json!({ "samples": samples })
}

async fn refused(app: &TestApp) -> String {
    let text = app.get_text("/metrics").await;
    text.lines()
        .filter(|l| l.starts_with("buildboard_telemetry_refused_total"))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn job_samples(app: &TestApp) -> Value {
    json_of(
        app.http
            .get(app.url(&format!("/api/jobs/{JOB}/metrics")))
            .header("host", "board.test"),
    )
    .await
}

#[tokio::test]
async fn a_job_posts_its_samples_with_its_own_token_and_reads_them_back() {
    // Arrange
    let issuer = issuer().await;
    let app = spawn(&issuer).await;
    running_job(&app).await;
    let token = token(&issuer.url, "key-1", json!({}));

    // Act
    // The same batch twice: its times are taken once (a post waits up to 200 ms to share a
    // transaction, so the clock may pass a second between the two).
    let samples = batch(now() - 60, 10);
    let (status, body) = post(&app, Some(&token), &samples).await;
    let again = post(&app, Some(&token), &samples).await;

    // Assert
    assert_eq!((status, &body), (202, &json!({"job": JOB, "stored": 10})));
    assert_eq!(again.1["stored"], 0, "the same times are not stored twice");
    let read = job_samples(&app).await;
    assert_eq!(read["job"], JOB);
    let samples = read["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 10);
    assert_eq!(samples[1]["cpu_user"], 40.5);
    assert_eq!(samples[1]["mem_total"], 8_000_000_000_i64);
    assert_eq!(samples[1]["load1"], 1.5, "unknown fields are kept");
    assert!(samples
        .windows(2)
        .all(|w| w[0]["t"].as_i64() < w[1]["t"].as_i64()));
    app.stop().await;
}

#[tokio::test]
async fn posts_arriving_together_share_a_write_and_each_is_told_its_own_count() {
    // Arrange
    let issuer = issuer().await;
    let app = spawn(&issuer).await;
    running_job(&app).await;
    let token = token(&issuer.url, "key-1", json!({}));

    // Act: three posts within one gathering, two of them overlapping in time.
    let t0 = now() - 100;
    let batches = [batch(t0, 4), batch(t0 + 20, 4), batch(t0, 2)];
    let (first, second, third) = tokio::join!(
        post(&app, Some(&token), &batches[0]),
        post(&app, Some(&token), &batches[1]),
        post(&app, Some(&token), &batches[2]),
    );

    // Assert: every sample once, and the counts add up whatever the order of the writes.
    let statuses = [first.0, second.0, third.0];
    assert_eq!(statuses, [202, 202, 202]);
    let stored: i64 = [first.1, second.1, third.1]
        .iter()
        .map(|body| body["stored"].as_i64().unwrap())
        .sum();
    let read = job_samples(&app).await;
    let samples = read["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 8, "t0 .. t0 + 35, every 5 s");
    assert_eq!(stored, 8, "each post counts only what it added");
    app.stop().await;
}

#[tokio::test]
async fn a_rotated_key_is_fetched_again_and_made_up_keys_are_rate_limited() {
    // Arrange
    let issuer = issuer().await;
    let app = spawn(&issuer).await;
    running_job(&app).await;
    let first = token(&issuer.url, "key-1", json!({}));
    assert_eq!(
        post(&app, Some(&first), &batch(now() - 100, 1)).await.0,
        202
    );

    // Act: GitHub rotates to key-2; a post right after the last fetch with an unknown key waits
    // for the refetch interval.
    issuer.keys.lock().unwrap()[0] = serde_json::from_str(&fixture("key-2.jwk.json")).unwrap();
    let rotated = token(&issuer.url, "key-2", json!({}));
    let too_soon = post(&app, Some(&rotated), &batch(now() - 90, 1)).await;
    tokio::time::sleep(buildboard::oidc::MIN_REFETCH).await;
    let later = post(&app, Some(&rotated), &batch(now() - 80, 1)).await;
    let old_key = post(&app, Some(&first), &batch(now() - 70, 1)).await;

    // Assert
    assert_eq!(too_soon.0, 401);
    assert_eq!(too_soon.1["error"]["code"], "unknown_key");
    assert_eq!(later.0, 202, "{later:?}");
    assert_eq!(*issuer.jwks_requests.lock().unwrap(), 2);
    assert_eq!(old_key.1["error"]["code"], "unknown_key", "key-1 is gone");
    app.stop().await;
}

#[tokio::test]
async fn every_bad_post_is_refused_with_its_reason_counted_and_nothing_stored() {
    // Arrange
    let issuer = issuer().await;
    let app = spawn(&issuer).await;
    running_job(&app).await;
    let good = token(&issuer.url, "key-1", json!({}));
    let ok = batch(now() - 30, 2);
    // Each bad token with a good batch...
    let bad_tokens: Vec<(&str, Option<String>, u16, &str)> = vec![
        ("no token", None, 401, "missing_token"),
        ("garbage", Some("not.a.jwt".into()), 401, "malformed_token"),
        (
            "audience",
            Some(token(
                &issuer.url,
                "key-1",
                json!({"aud": "https://other.example"}),
            )),
            401,
            "wrong_audience",
        ),
        (
            "issuer",
            Some(token(
                "https://token.actions.githubusercontent.com",
                "key-1",
                json!({}),
            )),
            401,
            "wrong_issuer",
        ),
        (
            "expired",
            Some(token(
                &issuer.url,
                "key-1",
                json!({"exp": now() - 3600, "iat": now() - 7200, "nbf": now() - 7200}),
            )),
            401,
            "expired_token",
        ),
        (
            "future",
            Some(token(&issuer.url, "key-1", json!({"nbf": now() + 3600}))),
            401,
            "token_not_yet_valid",
        ),
        (
            "unknown key",
            Some(token(&issuer.url, "key-2", json!({}))),
            401,
            "unknown_key",
        ),
        (
            "no job claim",
            Some(token(&issuer.url, "key-1", json!({"check_run_id": null}))),
            401,
            "missing_claim",
        ),
        (
            "unmonitored",
            Some(token(
                &issuer.url,
                "key-1",
                json!({"repository_id": "42", "check_run_id": "777"}),
            )),
            403,
            "unmonitored_repository",
        ),
        (
            "unknown job",
            Some(token(&issuer.url, "key-1", json!({"check_run_id": "777"}))),
            404,
            "unknown_job",
        ),
        (
            "other run",
            Some(token(&issuer.url, "key-1", json!({"run_id": "1"}))),
            403,
            "job_mismatch",
        ),
    ];
    // ...and each bad batch with the good token.
    let bad_batches: Vec<(&str, Value, u16, &str)> = vec![
        (
            "over the batch",
            batch(now() - 3000, 1001),
            413,
            "too_many_samples",
        ),
        (
            "NaN",
            json!({"samples": [{"t": now(), "cpu_user": "NaN"}]}),
            400,
            "non_numeric",
        ),
        (
            "text",
            json!({"samples": [{"t": now(), "mem_used": "lots"}]}),
            400,
            "non_numeric",
        ),
        (
            "past",
            batch(now() - 86_400, 1),
            400,
            "timestamp_out_of_range",
        ),
        (
            "future sample",
            batch(now() + 3600, 1),
            400,
            "timestamp_out_of_range",
        ),
        ("not json", json!("samples"), 400, "invalid_json"),
    ];
    let cases: Vec<(&str, Option<String>, Value, u16, &str)> = bad_tokens
        .into_iter()
        .map(|(name, token, status, code)| (name, token, ok.clone(), status, code))
        .chain(
            bad_batches
                .into_iter()
                .map(|(name, body, status, code)| (name, Some(good.clone()), body, status, code)),
        )
        .collect();

    // Act + Assert
    for (name, token, body, status, code) in &cases {
        let (got, answer) = post(&app, token.as_deref(), body).await;
        assert_eq!(
            (got, answer["error"]["code"].as_str()),
            (*status, Some(*code)),
            "{name}: {answer}"
        );
        assert!(answer["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(
        job_samples(&app).await["samples"],
        json!([]),
        "nothing stored"
    );
    let counted = refused(&app).await;
    for (_, _, _, _, code) in &cases {
        assert!(
            counted.contains(&format!("reason=\"{code}\"")),
            "{code} counted: {counted}"
        );
    }
    // Deliveries keep flowing meanwhile, and the good token still works.
    assert_eq!(post(&app, Some(&good), &ok).await.0, 202);
    app.stop().await;
}

#[tokio::test]
async fn a_job_that_finished_long_ago_or_posts_too_often_is_refused() {
    let issuer = issuer().await;
    let app = spawn(&issuer).await;
    running_job(&app).await;
    let good = token(&issuer.url, "key-1", json!({}));
    // One more post than a minute allows, all at once: a post waits for its batch's write (up
    // to `GATHER`), so posts one after another could straddle a minute.
    let t0 = now() - 100;
    let batches: Vec<Value> = (0..=buildboard::web::samples::MAX_POSTS_PER_MINUTE)
        .map(|i| batch(t0 + i as i64, 1))
        .collect();
    let answers =
        futures_util::future::join_all(batches.iter().map(|b| post(&app, Some(&good), b))).await;
    let refused: Vec<&(u16, Value)> = answers
        .iter()
        .filter(|(status, _)| *status != 202)
        .collect();
    assert_eq!(refused.len(), 1, "{answers:?}");
    assert_eq!(refused[0].0, 429);
    assert_eq!(refused[0].1["error"]["code"], "too_many_posts");
    app.db()
        .execute(
            "UPDATE workflowjobs SET statusrank = 3, status = 'completed', endtime = ?1 WHERE id = ?2",
            (now() - 3600, JOB),
        )
        .unwrap();
    let other = token(&issuer.url, "key-1", json!({}));
    let (status, answer) = post(&app, Some(&other), &batch(now() - 50, 1)).await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["error"]["code"], "job_finished");
    app.stop().await;
}

#[tokio::test]
async fn the_run_page_draws_the_samples_and_says_why_from_the_memory_at_its_limit() {
    // Arrange: a running job posts samples whose memory climbs to its total, then fails.
    let issuer = issuer().await;
    let app = spawn(&issuer).await;
    let run = crate::seed::run_delivery(RUN, &"c".repeat(40), "Load the big file", Some("failure"));
    app.deliver("workflow_run", "run", &run).await;
    running_job(&app).await;
    let t = now();
    let samples: Vec<Value> = (0..30)
        .map(|i| {
            json!({"t": t - 300 + i * 10, "cpu_user": 50, "cpu_system": 5,
                   "mem_used": 2_000_000_000_i64 + i * 200_000_000, "mem_total": 7_800_000_000_i64,
                   "disk_read": i * 1_000_000, "disk_write": 0, "net_rx": i * 500_000, "net_tx": 0})
        })
        .collect();
    let token = token(&issuer.url, "key-1", json!({}));
    let (status, _) = post(&app, Some(&token), &json!({ "samples": samples })).await;
    assert_eq!(status, 202);
    let mut done = webhook_json("workflow_job/completed.failure.with-organization.payload.json");
    let iso = |s: i64| {
        chrono::DateTime::from_timestamp(s, 0)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let job = &mut done["workflow_job"];
    job["id"] = json!(JOB);
    job["run_id"] = json!(RUN);
    job["created_at"] = json!(iso(t - 330));
    job["started_at"] = json!(iso(t - 320));
    job["completed_at"] = json!(iso(t));
    for (i, step) in job["steps"].as_array_mut().unwrap().iter_mut().enumerate() {
        let (from, to) = match i {
            0..=6 => (t - 320 + i as i64 * 20, t - 300 + i as i64 * 20),
            7 => (t - 180, t - 10),
            _ => (t - 10, t),
        };
        step["started_at"] = json!(iso(from));
        step["completed_at"] = json!(iso(to));
    }
    done["repository"] = webhook_json("workflow_run/completed.payload.json")["repository"].clone();
    app.deliver_json("workflow_job", "job-done", &done).await;

    // Act
    let html = text_of(
        app.http
            .get(app.url(&format!("/runs/{RUN}")))
            .header("host", "board.test"),
    )
    .await;
    let api: Value = json_of(
        app.http
            .get(app.url(&format!("/api/runs/{RUN}")))
            .header("host", "board.test"),
    )
    .await;

    // Assert
    let why = "out of memory in &#39;Run yarn run format-check&#39; (memory 7.8 of 7.8 GB)";
    assert!(
        html.contains(why) || html.contains(&why.replace("&#39;", "&#x27;")),
        "{html}"
    );
    assert_eq!(
        api["attempts"][0]["jobs"][0]["why"]["sentence"],
        "out of memory in 'Run yarn run format-check' (memory 7.8 of 7.8 GB)"
    );
    assert_eq!(
        html.matches("<figure class=\"chart ").count(),
        4,
        "CPU, memory, disk, network"
    );
    assert!(html.contains("class=\"chart c-memory at-limit\""));
    assert!(html.contains("at the limit"));
    assert!(html.contains("<line class=\"limit\""));
    assert!(html.contains("<rect class=\"failed-step\""));
    assert!(html.matches("<line class=\"step-mark\"").count() >= 4 * 7);
    app.stop().await;
}

#[tokio::test]
async fn the_contrib_sampler_posts_the_runners_samples_with_its_oidc_token() {
    // Arrange: the real sampler under node, the fake issuer's token endpoint, the real server.
    let issuer = issuer().await;
    let app = spawn(&issuer).await;
    running_job(&app).await;
    let mut sampler = std::process::Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/telemetry-action/sampler.js"))
        .env("BUILDBOARD_URL", app.url(""))
        .env("BUILDBOARD_AUDIENCE", BOARD)
        .env("BUILDBOARD_INTERVAL", "1")
        .env("BUILDBOARD_BATCH", "2")
        .env(
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            format!("{}/token?api-version=2.0", issuer.url),
        )
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "runner-request-token")
        .spawn()
        .expect("node runs (Debian's nodejs)");

    // Act: a few samples, a batch or two, then the post step's SIGTERM flushes the rest.
    tokio::time::sleep(std::time::Duration::from_millis(4500)).await;
    std::process::Command::new("kill")
        .args(["-TERM", &sampler.id().to_string()])
        .status()
        .unwrap();
    let exited = tokio::task::spawn_blocking(move || sampler.wait().unwrap())
        .await
        .unwrap();

    // Assert
    assert!(exited.success());
    let read = job_samples(&app).await;
    let samples = read["samples"].as_array().unwrap();
    assert!(samples.len() >= 4, "{read:#}");
    let first = &samples[0];
    assert!(first["mem_total"].as_i64().unwrap() > 0);
    assert!(first["mem_used"].as_i64().unwrap() > 0);
    for field in [
        "cpu_user",
        "cpu_system",
        "disk_read",
        "disk_write",
        "net_rx",
        "net_tx",
    ] {
        assert!(first[field].is_number(), "{field} in {first}");
    }
    app.stop().await;
}
