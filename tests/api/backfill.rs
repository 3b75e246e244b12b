//! The REST backfill (`init_db`) and the server's reconciliation, against a fake GitHub API on
//! loopback (see `fake_github`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use buildboard::backfill::{self, Db, Options, Quiet, Summary};
use buildboard::config::Secret;
use buildboard::github::client::{self, Client, ClientConfig, WaitReason};
use buildboard::store::Store;
use rusqlite::Connection;
use serde_json::{json, Value};

use crate::fake_github::{self, history, run, FakeGitHub, Fault, Logged, REPO, REPO_ID};
use crate::helpers::{dump_database, next_json, spawn_app_with, webhook_json, TestApp};

/// A fresh database in a temporary directory.
struct TestDb {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestDb {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("builds.db");
        Store::open(&path).unwrap();
        Self { path, _dir: dir }
    }

    fn conn(&self) -> Connection {
        Connection::open(&self.path).unwrap()
    }

    fn count(&self, sql: &str) -> i64 {
        self.conn().query_row(sql, [], |row| row.get(0)).unwrap()
    }
}

/// What a backfill into `path` through a client with `config` fails with, as the operator reads it.
async fn backfill_error(path: &Path, config: ClientConfig) -> String {
    let client = Client::new(config).unwrap();
    let result = backfill_into(path, &client, &Options::default()).await;
    result.unwrap_err().to_string()
}

/// Runs one backfill of the fake's repository into `path`.
async fn backfill_into(
    path: &Path,
    client: &Client,
    options: &Options,
) -> Result<Summary, backfill::Error> {
    let store = Store::open(path).unwrap();
    let db = Db::new(store.open_writer().unwrap());
    backfill::backfill_repo(client, &db, REPO, options, &Quiet).await
}

fn run_pages(log: &[Logged]) -> Vec<usize> {
    log.iter()
        .filter(|l| l.is_run_list())
        .map(Logged::page)
        .collect()
}

#[tokio::test]
async fn a_backfill_follows_the_link_header_across_many_pages() {
    // Arrange: 250 runs, three pages of 100.
    let github = FakeGitHub::start(history(250)).await;
    let db = TestDb::new();

    // Act
    let summary = backfill_into(&db.path, &github.client(), &Options::default())
        .await
        .unwrap();

    // Assert
    assert_eq!(run_pages(&github.log()), vec![1, 2, 3]);
    assert_eq!(db.count("SELECT COUNT(*) FROM workflowruns"), 250);
    assert_eq!(summary.runs_added, 250);
    assert_eq!((summary.runs_updated, summary.runs_unchanged), (0, 0));
    assert_eq!(summary.workflows, 2);
    assert_eq!(summary.branches, 1);
    // Head commits come from the runs themselves: one per run, and no request per commit.
    assert_eq!(
        db.count("SELECT COUNT(*) FROM commits WHERE message LIKE 'Commit for run %'"),
        250
    );
    assert!(github.log().iter().all(|l| !l.target.contains("/commits")));
    assert_eq!(
        db.count("SELECT COUNT(*) FROM workflows"),
        2,
        "CI (used by the runs) and Linter"
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM workflows WHERE path = '.github/workflows/blank.yaml' AND name = 'CI'"),
        1
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM branches WHERE name = 'master'"),
        1
    );
    assert_eq!(
        github.requests(),
        6,
        "repository, workflows, branches and three pages"
    );
}

#[tokio::test]
async fn a_history_beyond_the_1000_result_cap_is_split_into_created_windows_and_reused() {
    // Arrange: 1,500 runs; any one filtered listing shows at most 1,000 of them.
    let github = FakeGitHub::start(history(1500)).await;
    let db = TestDb::new();
    let client = github.client();

    // Act
    let first = backfill_into(&db.path, &client, &Options::default())
        .await
        .unwrap();

    // Assert: every run arrived, through windows that each fit under the cap.
    assert_eq!(db.count("SELECT COUNT(*) FROM workflowruns"), 1500);
    assert_eq!(first.runs_added, 1500);
    assert!(first.splits >= 1, "{first:?}");
    assert!(
        github
            .log()
            .iter()
            .filter(|l| l.is_run_list())
            .all(|l| l.target.contains("created=")),
        "every run listing is filtered by a created window"
    );
    assert!(db.count("SELECT COUNT(*) FROM backfillwindows") >= 2);

    // Act: a second pass over the same history.
    let before = github.requests();
    let second = backfill_into(&db.path, &client, &Options::default())
        .await
        .unwrap();

    // Assert: it reuses the window layout, so every page is a conditional request answered 304.
    let log = github.log()[before..].to_vec();
    assert!(
        log.iter().all(|l| l.conditional && l.status == 304),
        "{log:#?}"
    );
    assert_eq!(second.runs_unchanged, 1500);
    assert_eq!(
        (second.runs_added, second.runs_updated, second.splits),
        (0, 0, 0)
    );
}

#[tokio::test]
async fn a_second_backfill_costs_only_304s_and_changes_nothing() {
    // Arrange
    let github = FakeGitHub::start(history(250)).await;
    let db = TestDb::new();
    let client = github.client();
    backfill_into(&db.path, &client, &Options::default())
        .await
        .unwrap();
    let dump = dump_database(&db.conn());
    let first_requests = github.requests();

    // Act
    let summary = backfill_into(&db.path, &client, &Options::default())
        .await
        .unwrap();

    // Assert
    let second = github.log()[first_requests..].to_vec();
    assert_eq!(second.len(), first_requests, "the same six requests");
    assert!(
        second.iter().all(|l| l.conditional && l.status == 304),
        "{second:#?}"
    );
    let stats = client.stats();
    assert_eq!(stats.not_modified, 6);
    assert_eq!(dump_database(&db.conn()), dump);
    assert_eq!(
        summary,
        Summary {
            runs_unchanged: 250,
            workflows: 2,
            branches: 1,
            ..Summary::default()
        }
    );
}

#[tokio::test]
async fn a_primary_rate_limit_makes_the_client_wait_for_the_reset() {
    // Arrange: the third answer says the limit is spent (reset in an hour, cut to 50 ms here),
    // and the fifth request is refused with 403 and x-ratelimit-remaining: 0.
    let github = FakeGitHub::start(history(250)).await;
    github.inject(3, Fault::RunDry);
    github.inject(5, Fault::PrimaryLimitHit);
    let db = TestDb::new();
    let client = github.client();
    let started = Instant::now();

    // Act
    backfill_into(&db.path, &client, &Options::default())
        .await
        .unwrap();

    // Assert: it waited before running dry (no 403 for request 4), waited again after the 403,
    // and each wait was for the reset an hour away.
    let log = github.log();
    assert_eq!(log[3].number, 4);
    assert_eq!(
        log[3].status, 200,
        "request 4 came after the wait, not refused"
    );
    assert_eq!(log[4].status, 403);
    assert_eq!(
        log[5].target, log[4].target,
        "the refused request is repeated"
    );
    let waits: Vec<_> = client
        .stats()
        .waits
        .iter()
        .filter(|w| w.reason == WaitReason::RateLimitReset)
        .copied()
        .collect();
    assert_eq!(waits.len(), 2, "{waits:?}");
    assert!(waits
        .iter()
        .all(|w| w.requested > Duration::from_secs(3500)));
    assert_eq!(db.count("SELECT COUNT(*) FROM workflowruns"), 250);
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_secondary_rate_limit_is_retried_after_retry_after_seconds() {
    // Arrange: the second page of runs (request 5) gets 403 + retry-after: 60.
    let github = FakeGitHub::start(history(250)).await;
    github.inject(5, Fault::SecondaryLimit { retry_after: 60 });
    let db = TestDb::new();
    let client = github.client();

    // Act
    backfill_into(&db.path, &client, &Options::default())
        .await
        .unwrap();

    // Assert
    let stats = client.stats();
    assert_eq!(stats.waits.len(), 1, "{stats:?}");
    assert_eq!(stats.waits[0].reason, WaitReason::RetryAfter);
    assert_eq!(stats.waits[0].requested, Duration::from_secs(60));
    assert_eq!(stats.retries, 1);
    assert_eq!(run_pages(&github.log()), vec![1, 2, 2, 3]);
    assert_eq!(db.count("SELECT COUNT(*) FROM workflowruns"), 250);
}

#[tokio::test]
async fn a_server_error_in_the_middle_is_retried_and_the_backfill_completes() {
    // Arrange
    let github = FakeGitHub::start(history(250)).await;
    github.inject(5, Fault::ServerError);
    let db = TestDb::new();
    let client = github.client();

    // Act
    let summary = backfill_into(&db.path, &client, &Options::default())
        .await
        .unwrap();

    // Assert
    let statuses: Vec<_> = github.log().iter().map(|l| l.status).collect();
    assert_eq!(statuses, vec![200, 200, 200, 200, 500, 200, 200]);
    assert_eq!(run_pages(&github.log()), vec![1, 2, 2, 3]);
    assert_eq!(client.stats().waits[0].reason, WaitReason::Backoff);
    assert_eq!(summary.runs_added, 250);
}

#[tokio::test]
async fn an_interrupted_backfill_resumes_where_it_stopped() {
    // Arrange: from request 6 (the third page of runs) on, GitHub fails for good.
    let github = FakeGitHub::start(history(250)).await;
    github.state.lock().unwrap().fail_from = Some(6);
    let db = TestDb::new();
    let client = github.client();
    let err = backfill_into(&db.path, &client, &Options::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            backfill::Error::GitHub(client::Error::GaveUp {
                attempts: 4,
                status: 500,
                ..
            })
        ),
        "{err}"
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM workflowruns"),
        200,
        "two pages were saved"
    );

    // Act: GitHub is back; run again.
    github.state.lock().unwrap().fail_from = None;
    let before = github.requests();
    let summary = backfill_into(&db.path, &client, &Options::default())
        .await
        .unwrap();

    // Assert: the runs listing continued at page 3 instead of starting over.
    assert_eq!(run_pages(&github.log()[before..]), vec![3]);
    assert_eq!(db.count("SELECT COUNT(*) FROM workflowruns"), 250);
    assert_eq!(summary.runs_added, 50);
}

#[tokio::test]
async fn a_backfill_over_webhook_data_reuses_its_rows_and_never_regresses_them() {
    // Arrange: the server receives the `completed` delivery of run 289782451; GitHub's REST list
    // still has an older, queued state of that run, and nine more runs.
    let github = FakeGitHub::start(Vec::new()).await;
    let app = spawn_app_with(|_| {}).await;
    let delivery = webhook_json("workflow_run/completed.payload.json");
    app.deliver_json("workflow_run", "delivery-1", &delivery)
        .await;
    let created = chrono::DateTime::parse_from_rfc3339("2020-10-05T16:33:24Z")
        .unwrap()
        .timestamp();
    {
        let mut state = github.state.lock().unwrap();
        let (t, mut stale) = run(289782451, created, "queued", created);
        stale["workflow_id"] = delivery["workflow"]["id"].clone();
        stale["name"] = delivery["workflow"]["name"].clone();
        stale["path"] = serde_json::json!(".github/workflows/test.yml@master");
        stale["head_sha"] = delivery["workflow_run"]["head_sha"].clone();
        stale["head_commit"]["id"] = delivery["workflow_run"]["head_sha"].clone();
        state.runs.push((t, stale));
        state.runs.extend(history(9));
    }
    let client = github.client();

    // Act
    let first = backfill_into(&app.db_path, &client, &Options::default())
        .await
        .unwrap();
    let after_first = app.dump();
    let second = backfill_into(&app.db_path, &client, &Options::default())
        .await
        .unwrap();

    // Assert: one row for the run, still completed as the webhook said.
    assert_eq!(app.count("workflowruns"), 10);
    assert_eq!(
        app.count("repos"),
        1,
        "the webhook's repository row, reused"
    );
    let (status, conclusion): (String, String) =
        app.row("SELECT status, conclusion FROM workflowruns WHERE id = 289782451");
    assert_eq!(
        (status.as_str(), conclusion.as_str()),
        ("completed", "success")
    );
    assert_eq!((first.runs_added, first.runs_unchanged), (9, 1));
    assert_eq!((second.runs_added, second.runs_updated), (0, 0));
    assert_eq!(app.dump(), after_first, "a second backfill changes nothing");
    app.stop().await;
}

#[tokio::test]
async fn jobs_are_fetched_for_each_run_with_the_jobs_option() {
    // Arrange
    let github = FakeGitHub::start(history(3)).await;
    let db = TestDb::new();
    let options = Options {
        jobs: true,
        ..Options::default()
    };

    // Act
    let summary = backfill_into(&db.path, &github.client(), &options)
        .await
        .unwrap();
    let again = backfill_into(&db.path, &github.client(), &options)
        .await
        .unwrap();

    // Assert: one job per run, then no job request at all once they are stored.
    assert_eq!(summary.jobs, 3);
    assert_eq!(again.jobs, 0);
    assert_eq!(db.count("SELECT COUNT(*) FROM workflowjobs"), 3);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM workflowjobs j JOIN workflowruns r ON r.id = j.run_id"),
        3
    );
    let job_requests = github
        .log()
        .iter()
        .filter(|l| l.target.ends_with("/jobs?per_page=100"))
        .count();
    assert_eq!(job_requests, 3);
}

#[tokio::test]
async fn a_bad_token_an_unknown_repository_and_no_network_each_fail_with_a_clear_message() {
    let github = FakeGitHub::start(history(1)).await;
    let db = TestDb::new();

    // A bad token: 401.
    let mut config = github.client_config();
    config.token = Some(Secret::new("wrong"));
    let err = backfill_error(&db.path, config).await;
    assert!(err.contains("401") && err.contains("GITHUB_TOKEN"), "{err}");
    assert!(!err.contains("wrong"), "the token never shows: {err}");

    // An unknown repository: 404.
    let store = Store::open(&db.path).unwrap();
    let conn = Db::new(store.open_writer().unwrap());
    let err = backfill::backfill_repo(
        &github.client(),
        &conn,
        "octo-org/nope",
        &Options::default(),
        &Quiet,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("octo-org/nope") && err.contains("404"),
        "{err}"
    );

    // No network: nothing listens on the address.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut config = ClientConfig::new(url, None);
    config.max_retries = 1;
    config.backoff = Duration::from_millis(1);
    let err = backfill_error(&db.path, config).await;
    assert!(
        err.contains("cannot reach") && err.contains("network"),
        "{err}"
    );
    assert!(!err.contains('\n'), "one line: {err}");
}

#[tokio::test]
async fn init_db_backfills_from_the_command_line_and_reports_a_summary() {
    // Arrange
    let github = FakeGitHub::start(history(120)).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("builds.db");
    let command = |token: &str, repo: &str| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_init_db"));
        command
            .args([
                "--db",
                db.to_str().unwrap(),
                "-i",
                "-r",
                repo,
                "--api-url",
                &github.url(),
            ])
            .env("GITHUB_TOKEN", token)
            .env("RUST_LOG", "warn");
        command
    };

    // Act
    let mut ok = command(fake_github::TOKEN, REPO);
    let ok = tokio::task::spawn_blocking(move || ok.output().unwrap())
        .await
        .unwrap();
    let mut bad = command("not-the-token", REPO);
    let bad = tokio::task::spawn_blocking(move || bad.output().unwrap())
        .await
        .unwrap();

    // Assert
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        stdout.contains("runs: 120 added, 0 updated, 0 unchanged"),
        "{stdout}"
    );
    assert!(stdout.contains("requests: 5"), "{stdout}");
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("401"), "{stderr}");
    assert!(!stderr.contains("not-the-token"), "{stderr}");
}

/// A server that reconciles with `github` every 100 ms, knowing the repository from a delivery.
async fn reconciling_app(github: &FakeGitHub) -> TestApp {
    let api_url = github.url();
    let app = spawn_app_with(|config| {
        config.github_token = Some(Secret::new(fake_github::TOKEN));
        config.github_api_url = api_url;
        config.reconcile_interval = Duration::from_millis(100);
    })
    .await;
    app.deliver_fixture("workflow_run", "d-1", "workflow_run/completed.payload.json")
        .await;
    app
}

#[tokio::test]
async fn the_server_reconciles_a_run_that_no_webhook_announced() {
    // Arrange: the server knows the repository from a webhook; GitHub has one more run.
    let github = FakeGitHub::start(Vec::new()).await;
    let app = reconciling_app(&github).await;
    let mut socket = app.connect_ws().await;
    let now = chrono::Utc::now().timestamp();

    // Act: the run appears on GitHub only.
    github
        .state
        .lock()
        .unwrap()
        .runs
        .push(run(4242, now - 30, "in_progress", now - 10));

    // Assert: it reaches WebSocket clients and the database.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(
            Instant::now() < deadline,
            "the reconciled run was never published"
        );
        let message: Value = next_json(&mut socket, Duration::from_secs(10)).await;
        if message["type"] == "run" && message["build"]["id"] == 4242 {
            assert_eq!(message["build"]["status"], "in_progress");
            assert_eq!(message["build"]["repo"], REPO);
            break;
        }
    }
    let stored: i64 = app.row("SELECT repo_id FROM workflowruns WHERE id = 4242");
    assert_eq!(stored, REPO_ID);
    // Later polls are conditional and answered 304 while nothing changes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        github
            .log()
            .iter()
            .any(|l| l.status == 304 && l.is_run_list()),
        "{:#?}",
        github.log()
    );
    app.stop().await;
}

#[tokio::test]
async fn reconciliation_picks_up_check_runs_and_statuses_of_watched_branches() {
    // Arrange: the server knows the repository; GitHub has a check run and a status for the head
    // commit of its default branch that no webhook announced.
    let github = FakeGitHub::start(Vec::new()).await;
    {
        let mut state = github.state.lock().unwrap();
        let mut check = webhook_json("check_run/completed.payload.json")["check_run"].clone();
        check["head_sha"] = json!(fake_github::HEAD_SHA);
        check["conclusion"] = json!("failure");
        check["check_suite"] = json!({"id": 118578147});
        state.check_runs.push(check);
        state.statuses.push(json!({
            "id": 1, "state": "success", "context": "ci/jenkins",
            "target_url": "https://ci.example.com/1", "description": "ok",
            "created_at": "2026-11-29T10:00:00Z", "updated_at": "2026-11-29T10:01:00Z"
        }));
    }
    let app = reconciling_app(&github).await;

    // Act: wait for a poll.
    let deadline = Instant::now() + Duration::from_secs(10);
    let sources = loop {
        let sources: Vec<(String, String, Option<String>)> = app
            .db()
            .prepare(
                "SELECT w.source, w.name, r.conclusion FROM workflowruns r
                 JOIN workflows w ON w.id = r.workflow_id WHERE w.source <> 'actions' ORDER BY 1",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        if sources.len() == 2 || Instant::now() > deadline {
            break sources;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // Assert
    assert_eq!(
        sources,
        [
            (
                "check".to_owned(),
                "octocoders-linter · Octocoders-linter".to_owned(),
                Some("failure".to_owned())
            ),
            (
                "status".to_owned(),
                "ci/jenkins".to_owned(),
                Some("success".to_owned())
            ),
        ]
    );
    let branch: String = app.row(
        "SELECT b.name FROM workflowruns r JOIN workflows w ON w.id = r.workflow_id
             JOIN branches b ON b.id = r.branch_id WHERE w.source = 'check'",
    );
    assert_eq!(branch, "master", "placed on the branch whose head it is");
    assert!(github
        .log()
        .iter()
        .any(|l| l.target.contains("/commits/master/check-runs")));
    app.stop().await;
}
