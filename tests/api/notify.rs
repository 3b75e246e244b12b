//! Notifications on transitions, against the real server and fake chat
//! receivers on loopback: one message per transition and target, the formats, the HMAC of the
//! generic webhook, retries with backoff, and exactly one message per transition across a SIGKILL
//! between the commit of the transition and its send.

mod queues;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::helpers::{spawn_app_with, TestApp};
use crate::reliability::{post, Server};
use crate::seed::run_delivery;

/// What the fake receiver does with its `n`th request (0-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Status(u16),
    /// Read the request, never answer (a slow receiver; the sender times out or dies first).
    Hold,
}

/// A request the fake receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub at: Instant,
    pub answer: Answer,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    pub fn accepted(&self) -> bool {
        matches!(self.answer, Answer::Status(s) if (200..300).contains(&s))
    }
}

/// A chat receiver on 127.0.0.1 speaking just enough HTTP/1.1.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    pub received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    /// Starts one whose `n`th request gets `policy(n)`.
    pub async fn start(policy: impl Fn(usize) -> Answer + Send + Sync + 'static) -> Self {
        Self::start_on(TcpListener::bind("127.0.0.1:0").await.unwrap(), policy)
    }

    pub fn start_on(
        listener: TcpListener,
        policy: impl Fn(usize) -> Answer + Send + Sync + 'static,
    ) -> Self {
        let url = format!("http://{}", listener.local_addr().unwrap());
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let policy = Arc::new(policy);
        let log = received.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let log = log.clone();
                let policy = policy.clone();
                tokio::spawn(async move {
                    let mut data = Vec::new();
                    let mut buf = [0u8; 8192];
                    let head_end = loop {
                        let Ok(n) = socket.read(&mut buf).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        data.extend_from_slice(&buf[..n]);
                        if let Some(pos) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                            break pos + 4;
                        }
                    };
                    let head = String::from_utf8_lossy(&data[..head_end]).to_string();
                    let mut lines = head.split("\r\n");
                    let path = lines
                        .next()
                        .and_then(|l| l.split(' ').nth(1))
                        .unwrap_or_default()
                        .to_owned();
                    let headers: Vec<(String, String)> = lines
                        .filter_map(|l| l.split_once(':'))
                        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                        .collect();
                    let length: usize = headers
                        .iter()
                        .find(|(k, _)| k == "content-length")
                        .and_then(|(_, v)| v.parse().ok())
                        .unwrap_or(0);
                    while data.len() < head_end + length {
                        let Ok(n) = socket.read(&mut buf).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        data.extend_from_slice(&buf[..n]);
                    }
                    let answer = {
                        let mut log = log.lock().unwrap();
                        let answer = policy(log.len());
                        log.push(Received {
                            path,
                            headers,
                            body: data[head_end..head_end + length].to_vec(),
                            at: Instant::now(),
                            answer,
                        });
                        answer
                    };
                    match answer {
                        Answer::Status(status) => {
                            let response = format!(
                                "HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                            );
                            let _ = socket.write_all(response.as_bytes()).await;
                            let _ = socket.shutdown().await;
                        }
                        Answer::Hold => {
                            // Keep the connection open, unanswered, until the peer goes away.
                            let _ = socket.read(&mut buf).await;
                        }
                    }
                });
            }
        });
        Self { url, received }
    }

    pub fn all(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    pub fn accepted(&self) -> Vec<Received> {
        self.all().into_iter().filter(Received::accepted).collect()
    }

    /// Everything received once `enough` holds (within 10 s) and `quiet` has passed since: what a
    /// test counts, a message too many arriving late included.
    pub async fn all_after(
        &self,
        enough: impl Fn(&[Received]) -> bool,
        quiet: Duration,
    ) -> Vec<Received> {
        self.wait_for(Duration::from_secs(10), enough).await;
        tokio::time::sleep(quiet).await;
        self.all()
    }

    /// Waits until `enough` holds for what was received, or panics after `limit`.
    pub async fn wait_for(&self, limit: Duration, enough: impl Fn(&[Received]) -> bool) {
        let deadline = Instant::now() + limit;
        loop {
            if enough(&self.all()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the receiver did not get what was expected in {limit:?}: {:#?}",
                self.all()
                    .iter()
                    .map(|r| (
                        r.path.clone(),
                        r.answer,
                        String::from_utf8_lossy(&r.body).to_string()
                    ))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// `run_delivery` as a red or green run of the fixture's workflow on `master` (the default
/// branch), or of another workflow when `workflow` is given.
pub fn run(id: i64, conclusion: Option<&str>, workflow: Option<(i64, &str)>) -> Vec<u8> {
    let mut payload: Value = serde_json::from_slice(&run_delivery(
        id,
        &format!("{id:07x}{}", "a".repeat(33)),
        &format!("change {id}"),
        conclusion,
    ))
    .unwrap();
    if let Some((workflow_id, name)) = workflow {
        payload["workflow"]["id"] = json!(workflow_id);
        payload["workflow"]["name"] = json!(name);
        payload["workflow"]["path"] = json!(format!(".github/workflows/{workflow_id}.yml"));
        payload["workflow_run"]["workflow_id"] = json!(workflow_id);
        payload["workflow_run"]["name"] = json!(name);
    }
    serde_json::to_vec(&payload).unwrap()
}

/// Writes a notification config with `targets` into `dir`; returns its path.
pub fn write_config(dir: &Path, targets: Value) -> std::path::PathBuf {
    let path = dir.join("notify.json");
    std::fs::write(
        &path,
        serde_json::to_vec(&json!({ "targets": targets })).unwrap(),
    )
    .unwrap();
    path
}

const JSON_SECRET: &str = "a-shared-secret-for-the-json-target";

/// A server notifying `targets` (its config beside the test's database), retrying after `retry`.
async fn app_notifying(targets: Value, retry: Duration) -> TestApp {
    app_notifying_with(targets, |c| c.notify_retry = retry).await
}

/// A server notifying `targets`, its config adjusted further by `adjust`.
pub(crate) async fn app_notifying_with(
    targets: Value,
    adjust: impl FnOnce(&mut buildboard::config::Config),
) -> TestApp {
    spawn_app_with(move |c| {
        let dir = c.db.parent().expect("the test database is in a directory");
        c.notify_config = Some(write_config(dir, targets));
        adjust(c);
    })
    .await
}

async fn deliver_run(app: &TestApp, id: i64, conclusion: Option<&str>) {
    app.deliver(
        "workflow_run",
        &format!("d-{id}"),
        &run(id, conclusion, None),
    )
    .await;
}

#[tokio::test]
async fn each_transition_reaches_each_target_once_and_runs_in_between_say_nothing() {
    let receiver = Receiver::start(|_| Answer::Status(200)).await;
    let app = app_notifying(
        json!([
            {"name": "chat", "kind": "slack", "url": format!("{}/slack", receiver.url)},
            {"name": "teams", "kind": "teams", "url": format!("{}/teams", receiver.url)},
            {"name": "flow", "kind": "teams-adaptive", "url": format!("{}/flow", receiver.url)},
            {"name": "hook", "kind": "json", "url": format!("{}/json", receiver.url), "secret": JSON_SECRET},
            {"name": "elsewhere", "kind": "slack", "url": format!("{}/other", receiver.url), "repos": ["someone/else"]},
        ]),
        Duration::from_millis(100),
    )
    .await;

    deliver_run(&app, 1, Some("success")).await; // the first state is taken silently
    deliver_run(&app, 2, Some("failure")).await; // started failing
    deliver_run(&app, 3, Some("failure")).await; // still red: nothing
    deliver_run(&app, 4, Some("cancelled")).await; // neutral: nothing
    receiver
        .wait_for(Duration::from_secs(10), |r| r.len() >= 4)
        .await;
    deliver_run(&app, 5, Some("success")).await; // fixed
    let all = receiver
        .all_after(|r| r.len() >= 8, Duration::from_millis(500))
        .await;
    assert_eq!(
        all.len(),
        8,
        "two transitions × four matching targets: {all:#?}"
    );
    assert!(
        all.iter().all(|r| r.path != "/other"),
        "the repository filter holds"
    );
    let of = |path: &str, event: &str| {
        all.iter()
            .find(|r| r.path == path && r.header("x-buildboard-event") == Some(event))
            .unwrap_or_else(|| panic!("no {event} at {path}"))
            .clone()
    };
    let slack = of("/slack", "failing").json();
    let text = slack["text"].as_str().unwrap();
    assert!(
        text.contains("octo-org/octo-repo · test on master started failing"),
        "{text}"
    );
    assert!(text.contains("0000002"), "the first red commit: {text}");
    assert!(slack["blocks"].is_array());
    let teams = of("/teams", "fixed").json();
    assert_eq!(teams["@type"], "MessageCard");
    assert!(
        teams["summary"]
            .as_str()
            .unwrap()
            .contains("is fixed, red for"),
        "{teams}"
    );
    let flow = of("/flow", "failing").json();
    assert_eq!(flow["attachments"][0]["content"]["type"], "AdaptiveCard");
    let hook = of("/json", "failing").json();
    assert_eq!(hook["transition"], "failing");
    assert_eq!(hook["repo"], "octo-org/octo-repo");
    assert_eq!(hook["branch"], "master");
    assert_eq!(hook["first_red"]["id"], 2);
    assert_eq!(hook["run"]["conclusion"], "failure");
    let fixed = of("/json", "fixed").json();
    assert_eq!(fixed["run"]["id"], 5);
    assert!(fixed["red_for_s"].is_number());

    let (sent, transitions): (i64, i64) = app.row(
        "SELECT (SELECT COUNT(*) FROM outbox WHERE senttime IS NOT NULL),
                (SELECT COUNT(*) FROM transitions)",
    );
    assert_eq!((sent, transitions), (8, 2));
    app.stop().await;
}

#[tokio::test]
async fn the_json_webhook_is_signed_with_hmac_sha256_of_the_body() {
    let receiver = Receiver::start(|_| Answer::Status(204)).await;
    let app = app_notifying(
        json!([{"kind": "json", "url": format!("{}/hook", receiver.url), "secret": JSON_SECRET}]),
        Duration::from_millis(100),
    )
    .await;
    deliver_run(&app, 1, Some("success")).await;
    deliver_run(&app, 2, Some("timed_out")).await;
    receiver
        .wait_for(Duration::from_secs(10), |r| !r.is_empty())
        .await;

    let got = &receiver.all()[0];
    let signature = got.header("x-buildboard-signature-256").expect("signed");
    // Verified as a receiver would: HMAC-SHA256 of the raw body with the shared secret.
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(JSON_SECRET.as_bytes()).unwrap();
    mac.update(&got.body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(signature, expected);
    let mut wrong = Hmac::<sha2::Sha256>::new_from_slice(b"another secret").unwrap();
    wrong.update(&got.body);
    assert_ne!(
        signature,
        format!("sha256={}", hex::encode(wrong.finalize().into_bytes()))
    );
    let body = got.json();
    assert_eq!(
        got.header("x-buildboard-delivery"),
        Some(body["delivery"].to_string().as_str()),
        "the delivery id is in the header and the body"
    );
    assert_eq!(got.header("content-type"), Some("application/json"));
    app.stop().await;
}

#[tokio::test]
async fn a_refused_notification_is_retried_with_backoff_until_accepted_and_then_never_again() {
    // Two failures (500, then 503), then accepted.
    let receiver = Receiver::start(|n| match n {
        0 => Answer::Status(500),
        1 => Answer::Status(503),
        _ => Answer::Status(200),
    })
    .await;
    let base = Duration::from_millis(300);
    let app = app_notifying(
        json!([{"name": "chat", "kind": "slack", "url": receiver.url}]),
        base,
    )
    .await;
    deliver_run(&app, 1, Some("success")).await;
    deliver_run(&app, 2, Some("failure")).await;
    let accepted = |r: &[Received]| r.iter().any(Received::accepted);
    let all = receiver
        .all_after(accepted, Duration::from_millis(1500))
        .await;
    assert_eq!(
        all.len(),
        3,
        "two refusals and one success, nothing after: {all:#?}"
    );
    let ids: Vec<_> = all
        .iter()
        .map(|r| r.header("x-buildboard-delivery").unwrap().to_owned())
        .collect();
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "one message, retried: {ids:?}"
    );
    let first_wait = all[1].at - all[0].at;
    let second_wait = all[2].at - all[1].at;
    // The first retry waits the base, the second twice that (the poll may add a little).
    assert!(first_wait >= base, "{first_wait:?}");
    assert!(second_wait >= base * 2, "{second_wait:?}");
    assert!(
        second_wait > first_wait,
        "{first_wait:?} then {second_wait:?}"
    );
    let (attempts, sent, error): (i64, Option<i64>, Option<String>) =
        app.row("SELECT attempts, senttime, lasterror FROM outbox");
    assert_eq!((attempts, sent.is_some(), error), (3, true, None));
    app.stop().await;
}

#[tokio::test]
async fn a_flapping_workflow_is_summarised_once_instead_of_a_message_per_change() {
    let receiver = Receiver::start(|_| Answer::Status(200)).await;
    let app = app_notifying(
        json!([{"name": "hook", "kind": "json", "url": receiver.url, "secret": JSON_SECRET}]),
        Duration::from_millis(100),
    )
    .await;
    deliver_run(&app, 1, Some("success")).await;
    // Six changes of state in a row: three messages, then one "flapping", then silence.
    for (id, conclusion) in (2..).zip([
        "failure", "success", "failure", "success", "failure", "success",
    ]) {
        deliver_run(&app, id, Some(conclusion)).await;
    }
    let kinds: Vec<String> = receiver
        .all_after(|r| r.len() >= 4, Duration::from_millis(800))
        .await
        .iter()
        .map(|r| r.json()["transition"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["failing", "fixed", "failing", "flapping"]);
    assert_eq!(app.count("transitions"), 6, "every change is recorded");
    app.stop().await;
}

/// The real binary, SIGKILLed after the transition is committed (the delivery acknowledged) and
/// while its message is in flight to a receiver that has not answered; restarted on the same
/// database. Each transition is accepted exactly once, and the repeat of the unanswered attempt
/// carries the same delivery id.
#[tokio::test]
async fn exactly_one_message_per_transition_across_a_sigkill_between_commit_and_send() {
    // The first request is held unanswered (the server dies waiting); every later one accepted.
    let receiver = Receiver::start(|n| {
        if n == 0 {
            Answer::Hold
        } else {
            Answer::Status(200)
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        json!([{"name": "hook", "kind": "json", "url": receiver.url, "secret": JSON_SECRET}]),
    );
    let db = dir.path().join("buildboard.db");
    let log = dir.path().join("server.log");
    let args = [
        "--notify-config",
        config.to_str().unwrap(),
        "--notify-retry",
        "200ms",
    ];
    let http = reqwest::Client::new();
    let server = Server::start(&db, &log, &args).await;
    for (id, conclusion) in [(1, "success"), (2, "failure")] {
        let response = post(
            &http,
            &server.url("/webhook"),
            "workflow_run",
            &format!("d-{id}"),
            run(id, Some(conclusion), None),
        )
        .await
        .unwrap();
        assert!(response.status().is_success());
    }
    // The transition is committed (acknowledged above) and its message is on the wire, unanswered.
    receiver
        .wait_for(Duration::from_secs(10), |r| r.len() == 1)
        .await;
    server.kill();
    let pending: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM outbox WHERE senttime IS NULL",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(pending, 1, "the message survived the kill, unsent");

    let server = Server::start(&db, &log, &args).await;
    receiver
        .wait_for(Duration::from_secs(10), |r| {
            r.iter().filter(|r| r.accepted()).count() == 1
        })
        .await;
    let response = post(
        &http,
        &server.url("/webhook"),
        "workflow_run",
        "d-3",
        run(3, Some("success"), None),
    )
    .await
    .unwrap();
    assert!(response.status().is_success());
    receiver
        .wait_for(Duration::from_secs(10), |r| {
            r.iter().filter(|r| r.accepted()).count() == 2
        })
        .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;

    let accepted = receiver.accepted();
    let events: Vec<&str> = accepted
        .iter()
        .map(|r| r.header("x-buildboard-event").unwrap())
        .collect();
    assert_eq!(
        events,
        ["failing", "fixed"],
        "exactly one message per transition"
    );
    let held = &receiver.all()[0];
    assert_eq!(
        held.header("x-buildboard-delivery"),
        accepted[0].header("x-buildboard-delivery"),
        "the repeat of the unanswered attempt carries the same delivery id"
    );
    server.terminate_cleanly_and_check_log(|log| {
        assert!(!log.contains("panicked"), "{log}");
    });
}

#[tokio::test]
async fn the_board_reads_the_same_transitions_from_the_api() {
    // No targets at all: transitions are recorded all the same.
    let app = spawn_app_with(|_| {}).await;
    deliver_run(&app, 1, Some("success")).await;
    deliver_run(&app, 2, Some("failure")).await;
    deliver_run(&app, 3, Some("failure")).await;
    deliver_run(&app, 4, Some("success")).await;
    let list = |query: &'static str| {
        let http = app.http.clone();
        let url = app.url(&format!("/api/transitions{query}"));
        async move {
            let response = http.get(url).send().await.unwrap();
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()["transitions"].clone()
        }
    };
    let all = list("").await;
    let kinds = crate::helpers::strings_of(&all, "kind");
    assert_eq!(kinds, ["fixed", "failing"], "newest first: {all}");
    assert_eq!(all[1]["repo"], "octo-org/octo-repo");
    assert_eq!(all[1]["branch"], "master");
    assert_eq!(all[1]["run_id"], 2);
    let first = all[1]["id"].as_i64().unwrap();
    let newer = list(Box::leak(format!("?after={first}").into_boxed_str())).await;
    assert_eq!(newer.as_array().unwrap().len(), 1);
    assert_eq!(newer[0]["kind"], "fixed");
    assert_eq!(
        list("?workflow=nothing-like-it")
            .await
            .as_array()
            .unwrap()
            .len(),
        0
    );
    app.stop().await;
}
