//! Why failed jobs failed: the log fetcher against a fake GitHub on loopback. The API answers a
//! job's log with `302` to a second loopback server (another port, so another host to reqwest),
//! which serves the fixture logs of `tests/fixtures/logs/`; jobs can also answer `404` (not ready
//! yet, a number of times), `403` (no access) or `410` (expired), and check runs can have
//! annotations.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use buildboard::config::Secret;
use buildboard::failure::Rule;
use buildboard::github::client::{Client, TailLimits};
use buildboard::log_fetch::{FailedJob, FetchConfig, JobFailure, LogError, LogFetcher};
use buildboard::store::{failures, Store};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use warp::http::{HeaderMap, Response};
use warp::Filter;

use crate::fake_github::quick_client_config;
use crate::helpers::fixture_text;

pub(crate) const TOKEN: &str = "log-test-token";
pub(crate) const REPO: &str = "octo-org/octo-repo";

/// How the fake answers one job's log.
#[derive(Clone)]
pub(crate) enum LogAnswer {
    /// `404` this many times, then `302` to the fixture log.
    Redirect {
        not_ready: usize,
        fixture: &'static str,
    },
    /// Always this status, with GitHub's error body.
    Status(u16, &'static str),
}

/// One request the fakes saw.
#[derive(Debug, Clone)]
struct Seen {
    server: &'static str,
    path: String,
    authorization: Option<String>,
}

#[derive(Default)]
struct State {
    logs: HashMap<i64, LogAnswer>,
    annotations: HashMap<i64, Value>,
    log_requests: HashMap<i64, usize>,
    seen: Vec<Seen>,
}

pub(crate) struct FakeLogs {
    api: SocketAddr,
    state: Arc<Mutex<State>>,
    handles: Vec<JoinHandle<()>>,
}

impl Drop for FakeLogs {
    fn drop(&mut self) {
        for handle in &self.handles {
            handle.abort();
        }
    }
}

fn fixture_log(name: &str) -> String {
    fixture_text(&format!("logs/{name}"))
}

fn error_body(status: u16, message: &str) -> Response<String> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=utf-8")
        .body(
            json!({"message": message, "documentation_url": "https://docs.github.com/rest"})
                .to_string(),
        )
        .unwrap()
}

impl FakeLogs {
    /// A fake GitHub with one job's log, `fixture`, behind the redirect, and no annotations.
    async fn serving(job_id: i64, fixture: &'static str) -> Self {
        Self::start(
            vec![(
                job_id,
                LogAnswer::Redirect {
                    not_ready: 0,
                    fixture,
                },
            )],
            Vec::new(),
        )
        .await
    }

    pub(crate) async fn start(logs: Vec<(i64, LogAnswer)>, annotations: Vec<(i64, Value)>) -> Self {
        let state = Arc::new(Mutex::new(State {
            logs: logs.into_iter().collect(),
            annotations: annotations.into_iter().collect(),
            ..State::default()
        }));
        let blob_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let blob = blob_listener.local_addr().unwrap();
        let api_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = api_listener.local_addr().unwrap();

        // The short-lived log URL's host: serves the fixture named in the path.
        let shared = state.clone();
        let blob_routes = warp::path!("logs" / String)
            .and(warp::header::headers_cloned())
            .map(move |fixture: String, headers: HeaderMap| {
                shared.lock().unwrap().seen.push(Seen {
                    server: "blob",
                    path: format!("/logs/{fixture}"),
                    authorization: authorization(&headers),
                });
                Response::builder()
                    .header("content-type", "text/plain")
                    .body(fixture_log(&fixture))
                    .unwrap()
            });

        let shared = state.clone();
        let api_routes = warp::path::full()
            .and(warp::header::headers_cloned())
            .map(move |path: warp::path::FullPath, headers: HeaderMap| {
                let mut state = shared.lock().unwrap();
                let path = path.as_str().to_owned();
                state.seen.push(Seen {
                    server: "api",
                    path: path.clone(),
                    authorization: authorization(&headers),
                });
                if authorization(&headers).as_deref() != Some(&format!("Bearer {TOKEN}")) {
                    return error_body(401, "Bad credentials");
                }
                let rest = path.strip_prefix(&format!("/repos/{REPO}/")).unwrap_or("");
                let parts: Vec<&str> = rest.split('/').collect();
                match parts.as_slice() {
                    ["actions", "jobs", id, "logs"] => {
                        let id: i64 = id.parse().unwrap();
                        let asked = state.log_requests.entry(id).or_default();
                        *asked += 1;
                        let asked = *asked;
                        match state.logs.get(&id).cloned() {
                            Some(LogAnswer::Redirect { not_ready, fixture }) if asked > not_ready => {
                                Response::builder()
                                    .status(302)
                                    .header(
                                        "location",
                                        format!("http://{blob}/logs/{fixture}?sv=2025-01-05&se=2026-11-24T08%3A50%3A00Z&sig=abc"),
                                    )
                                    .body(String::new())
                                    .unwrap()
                            }
                            Some(LogAnswer::Status(status, message)) => error_body(status, message),
                            _ => error_body(404, "Not Found"),
                        }
                    }
                    ["check-runs", id, "annotations"] => {
                        let id: i64 = id.parse().unwrap();
                        let body = state.annotations.get(&id).cloned().unwrap_or(json!([]));
                        Response::builder()
                            .header("content-type", "application/json; charset=utf-8")
                            .body(body.to_string())
                            .unwrap()
                    }
                    _ => error_body(404, "Not Found"),
                }
            });
        let handles = vec![
            tokio::spawn(warp::serve(blob_routes).incoming(blob_listener).run()),
            tokio::spawn(warp::serve(api_routes).incoming(api_listener).run()),
        ];
        Self {
            api,
            state,
            handles,
        }
    }

    /// The API's base URL, for `--github-api-url`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.api)
    }

    /// How many times job `id`'s log was asked for.
    pub(crate) fn log_requests(&self, id: i64) -> usize {
        self.state
            .lock()
            .unwrap()
            .log_requests
            .get(&id)
            .copied()
            .unwrap_or(0)
    }

    fn client(&self) -> Arc<Client> {
        let config = quick_client_config(format!("http://{}", self.api), TOKEN, 1);
        Arc::new(Client::new(config).unwrap())
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }
}

fn authorization(headers: &HeaderMap) -> Option<String> {
    headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_owned())
}

fn job(job_id: i64) -> FailedJob {
    FailedJob {
        repo: REPO.into(),
        repo_id: 300029405,
        run_id: job_id / 10,
        job_id,
    }
}

fn config() -> FetchConfig {
    FetchConfig {
        retry_after: Duration::from_millis(20),
        ..FetchConfig::default()
    }
}

/// Spawns a fetcher that sends its results to a channel.
fn fetch_to_channel(
    fake: &FakeLogs,
    config: FetchConfig,
) -> (
    LogFetcher,
    mpsc::Receiver<JobFailure>,
    CancellationToken,
    JoinHandle<()>,
) {
    let (sink, results) = mpsc::channel(16);
    let shutdown = CancellationToken::new();
    let (fetcher, task) = LogFetcher::spawn(fake.client(), sink, config, shutdown.clone());
    (fetcher, results, shutdown, task)
}

async fn next(results: &mut mpsc::Receiver<JobFailure>) -> JobFailure {
    tokio::time::timeout(Duration::from_secs(10), results.recv())
        .await
        .expect("a result within 10 s")
        .expect("the fetcher is running")
}

/// A counter of the fetcher's [`buildboard::log_fetch::FetchStats`].
fn count(counter: &std::sync::atomic::AtomicU64) -> u64 {
    counter.load(std::sync::atomic::Ordering::Relaxed)
}

#[tokio::test]
async fn failed_jobs_are_explained_from_logs_fetched_through_the_redirect_without_the_token() {
    // Arrange
    let kinds = [
        (101, "cargo-test.log", Rule::CargoTest),
        (102, "pytest.log", Rule::Pytest),
        (103, "go-test.log", Rule::GoTest),
        (104, "jest.log", Rule::Jest),
        (105, "maven.log", Rule::Maven),
        (106, "docker.log", Rule::Docker),
        (107, "python-traceback.log", Rule::PythonTraceback),
        (108, "npm.log", Rule::NodePackageManager),
    ];
    let fake = FakeLogs::start(
        kinds
            .iter()
            .map(|(id, fixture, _)| {
                (
                    *id,
                    LogAnswer::Redirect {
                        not_ready: 0,
                        fixture,
                    },
                )
            })
            .collect(),
        vec![],
    )
    .await;
    let (fetcher, mut results, shutdown, task) = fetch_to_channel(&fake, config());

    // Act
    for (id, _, _) in &kinds {
        assert!(fetcher.enqueue(job(*id)));
    }
    let mut found = Vec::new();
    for _ in &kinds {
        found.push(next(&mut results).await);
    }

    // Assert
    for ((id, fixture, rule), result) in kinds.iter().zip(&found) {
        assert_eq!(result.job, job(*id));
        assert_eq!(result.error, None, "{fixture}");
        let failure = result
            .failure
            .as_ref()
            .unwrap_or_else(|| panic!("{fixture}"));
        assert_eq!(failure.rule, *rule, "{fixture}");
        assert_eq!(
            Some(failure.clone()),
            buildboard::failure::extract(&fixture_log(fixture)),
            "the fetched log is the fixture"
        );
    }
    let seen = fake.seen();
    let to_blob: Vec<&Seen> = seen.iter().filter(|s| s.server == "blob").collect();
    assert_eq!(to_blob.len(), kinds.len());
    assert!(
        to_blob.iter().all(|s| s.authorization.is_none()),
        "the token went to the log host: {to_blob:?}"
    );
    assert!(seen
        .iter()
        .filter(|s| s.server == "api")
        .all(|s| s.authorization.as_deref() == Some("Bearer log-test-token")));
    assert!(
        !seen.iter().any(|s| s.path.contains("annotations")),
        "annotations are only fetched when the log explains nothing"
    );
    assert_eq!(count(&fetcher.stats().recorded), 8);
    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn a_log_not_ready_is_retried_later_then_explained() {
    // Arrange: 404 twice, then the log.
    let fake = FakeLogs::start(
        vec![(
            201,
            LogAnswer::Redirect {
                not_ready: 2,
                fixture: "rustc.log",
            },
        )],
        vec![],
    )
    .await;
    let (fetcher, mut results, shutdown, task) = fetch_to_channel(&fake, config());

    // Act
    fetcher.enqueue(job(201));
    let result = next(&mut results).await;

    // Assert
    assert_eq!(result.error, None);
    let failure = result.failure.unwrap();
    assert_eq!(failure.rule, Rule::Rustc);
    assert_eq!(
        failure.signature,
        "error[E0308]: mismatched types at src/money.rs:N:N"
    );
    assert_eq!(count(&fetcher.stats().retried), 2);
    assert_eq!(fake.state.lock().unwrap().log_requests[&201], 3);
    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn a_log_that_never_becomes_ready_is_recorded_as_not_ready_after_the_last_attempt() {
    let fake = FakeLogs::start(vec![(301, LogAnswer::Status(404, "Not Found"))], vec![]).await;
    let (fetcher, mut results, shutdown, task) = fetch_to_channel(
        &fake,
        FetchConfig {
            attempts: 3,
            ..config()
        },
    );

    fetcher.enqueue(job(301));
    let result = next(&mut results).await;

    assert_eq!(result.error, Some(LogError::NotReady));
    assert_eq!(result.failure, None);
    assert_eq!(fake.state.lock().unwrap().log_requests[&301], 3);
    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn logs_without_access_or_expired_are_stored_as_such_and_annotations_stand_in() {
    // Arrange: a store with the ingest writer, and the fetcher writing through it.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("board.db")).unwrap();
    let (ingest, writer) = buildboard::ingest::Ingest::start(&store, Default::default()).unwrap();
    let fake = FakeLogs::start(
        vec![
            (401, LogAnswer::Status(403, "Resource not accessible by integration")),
            (402, LogAnswer::Status(410, "Gone")),
            (403, LogAnswer::Redirect { not_ready: 0, fixture: "exit-code-only.log" }),
        ],
        vec![
            (
                402,
                json!([
                    {"path": ".github", "start_line": 1, "end_line": 1, "annotation_level": "failure",
                     "title": null, "message": "Process completed with exit code 1.", "raw_details": null},
                    {"path": "src/money.rs", "start_line": 31, "end_line": 31, "annotation_level": "failure",
                     "title": "mismatched types", "message": "expected `u64`, found `i64`", "raw_details": null}
                ]),
            ),
            (
                403,
                json!([
                    {"path": ".github", "start_line": 1, "end_line": 1, "annotation_level": "warning",
                     "title": null, "message": "Node.js 16 actions are deprecated.", "raw_details": null}
                ]),
            ),
        ],
    )
    .await;
    let shutdown = CancellationToken::new();
    let (fetcher, task) =
        LogFetcher::spawn(fake.client(), ingest.clone(), config(), shutdown.clone());

    // Act
    for id in [401, 402, 403] {
        fetcher.enqueue(job(id));
    }
    drop(fetcher);
    // Every handle is gone: the worker drains the queue and ends.
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the fetcher ends once its queue is drained")
        .unwrap();
    drop(ingest);
    tokio::task::spawn_blocking(move || writer.join())
        .await
        .unwrap();

    // Assert
    let rows = store
        .read(|conn| {
            Ok((
                failures::for_job(conn, 401)?,
                failures::for_job(conn, 402)?,
                failures::for_job(conn, 403)?,
            ))
        })
        .await
        .unwrap();
    let no_access = rows.0.expect("403 recorded");
    assert_eq!(no_access.error.as_deref(), Some("log not available"));
    assert_eq!(no_access.signature, None);
    assert_eq!((no_access.run_id, no_access.repo_id), (40, 300029405));
    let expired = rows.1.expect("410 recorded");
    assert_eq!(expired.error.as_deref(), Some("log expired"));
    assert_eq!(expired.rule.as_deref(), Some("annotation"));
    assert_eq!(
        expired.signature.as_deref(),
        Some("src/money.rs: mismatched types: expected `u64`, found `i64`")
    );
    let unexplained = rows.2.expect("an unexplained failure is recorded too");
    assert_eq!((unexplained.rule, unexplained.error), (None, None));
    shutdown.cancel();
}

#[tokio::test]
async fn a_full_queue_drops_jobs_instead_of_blocking_ingest() {
    let fake = FakeLogs::start(vec![], vec![]).await;
    let (fetcher, _results, shutdown, task) = fetch_to_channel(
        &fake,
        FetchConfig {
            queue: 2,
            ..config()
        },
    );

    // The worker cannot run between these (same thread, no await): the third on finds it full.
    let accepted: Vec<bool> = (1..=5).map(|id| fetcher.enqueue(job(id))).collect();

    assert_eq!(accepted, [true, true, false, false, false]);
    assert_eq!(count(&fetcher.stats().dropped), 3);
    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn the_client_keeps_only_the_tail_of_a_long_log() {
    let fake = FakeLogs::serving(501, "maven.log").await;
    let client = fake.client();
    let url = client.url(&format!("/repos/{REPO}/actions/jobs/501/logs"), &[]);
    let whole = fixture_log("maven.log");

    let page = client
        .get_tail(
            &url,
            TailLimits {
                keep: 100,
                max_read: 1 << 20,
            },
        )
        .await
        .unwrap();

    assert_eq!(page.body.len(), 100);
    assert_eq!(page.skipped as usize, whole.len() - 100);
    assert!(whole.as_bytes().ends_with(&page.body));
    let cut = client
        .get_tail(
            &url,
            TailLimits {
                keep: 100,
                max_read: 1000,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        &cut.body[..],
        &whole.as_bytes()[900..1000],
        "reading stops at max_read"
    );
}

#[tokio::test]
async fn the_server_explains_a_failed_job_from_its_log_and_triage_says_why() {
    use crate::helpers::spawn_app_with;
    use crate::seed::deliver_failed_run;

    // Arrange: a server with a token for the fake GitHub; GitHub's documented failed job.
    let job_id = 289_782_451;
    let fake = FakeLogs::serving(job_id, "pytest.log").await;
    let api = format!("http://{}", fake.api);
    let app = spawn_app_with(|config| {
        config.github_token = Some(Secret::new(TOKEN));
        config.github_api_url = api;
    })
    .await;
    let run_id = 7002;
    deliver_failed_run(&app, run_id, &"d".repeat(40), "Break a test").await;

    // Act: wait for the fetcher (it runs beside ingest, never in its way).
    let mut triage = Value::Null;
    for _ in 0..100 {
        triage = app.get_json("/api/triage").await;
        if !triage["incidents"][0]["reds"][0]["failure"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let html = app.get_text("/triage").await;

    // Assert
    let failure = &triage["incidents"][0]["reds"][0]["failure"];
    assert_eq!(failure["rule"], "pytest", "{triage}");
    assert!(
        failure["signature"].as_str().unwrap().contains("test_"),
        "{failure}"
    );
    assert!(html.contains("why: <code>"), "triage says why");
    assert!(fake
        .seen()
        .iter()
        .any(|seen| seen.path == format!("/repos/{REPO}/actions/jobs/{job_id}/logs")));
    app.stop().await;
}

#[tokio::test]
async fn a_failed_job_left_unexplained_by_a_server_without_a_token_is_explained_after_a_restart_with_one(
) {
    use crate::helpers::spawn_app_with;
    use crate::seed::deliver_failed_run;

    // Arrange: a first server, with no token to read logs, stores a failed job; it stops.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kept.db");
    let job_id = 289_782_451;
    let run_id = 7003;
    let first = spawn_app_with(|config| config.db = db.clone()).await;
    deliver_failed_run(&first, run_id, &"e".repeat(40), "Break a test").await;
    first.stop().await;
    let fake = FakeLogs::serving(job_id, "pytest.log").await;

    // Act: the same database, now with a token; no delivery arrives.
    let api = format!("http://{}", fake.api);
    let second = spawn_app_with(|config| {
        config.db = db.clone();
        config.github_token = Some(Secret::new(TOKEN));
        config.github_api_url = api;
    })
    .await;
    let mut stored = None;
    for _ in 0..100 {
        stored = failures::for_job(&second.db(), job_id).unwrap();
        if stored.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Assert
    let stored = stored.expect("the failed job is explained after the restart");
    assert_eq!(stored.rule.as_deref(), Some("pytest"), "{stored:?}");
    assert_eq!(stored.run_id, run_id);
    second.stop().await;
}
