//! The demo organisation through the real webhook path: a week of history from 25 repositories,
//! signed and posted as GitHub would, then read back through the API.

use std::collections::BTreeSet;
use std::time::Instant;

use buildboard::demo::{self, Options, Organisation, Simulation};
use buildboard::github::event::{self, Event, EventKind};
use serde_json::Value;

use crate::helpers::{spawn_app_with, TestApp, SECRET};

/// Every build the API lists, following `next_cursor` 100 at a time.
async fn all_builds(app: &TestApp) -> Vec<Value> {
    let mut builds = Vec::new();
    let mut path = "/api/builds?per_page=100".to_owned();
    loop {
        let page = app.get_json(&path).await;
        builds.extend(page["builds"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/builds?per_page=100&cursor={cursor}"),
            None => return builds,
        }
    }
}

/// Posts `deliveries` to `app`'s webhook, signed with the test secret, `concurrency` at a time.
async fn post_to(
    app: &TestApp,
    deliveries: Vec<demo::Delivery>,
    concurrency: usize,
) -> demo::Posted {
    demo::post_all(
        &app.http,
        &app.url("/webhook"),
        SECRET.as_bytes(),
        deliveries,
        concurrency,
        |_| {},
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_history_goes_through_the_webhook_and_fills_the_api() {
    // Arrange: no rate limits, as in `buildboard demo`.
    let app = spawn_app_with(|config| {
        config.webhook_rate_limit = 0;
        config.rate_limit = 0;
    })
    .await;
    let org = Organisation::generate(1);
    let mut simulation = Simulation::new(org.clone(), 1, Options::default());
    let generating = Instant::now();
    let deliveries = simulation.history(chrono::Utc::now().timestamp());
    let generated = generating.elapsed();
    let runs: BTreeSet<i64> = deliveries
        .iter()
        .filter(|d| d.event == "workflow_run")
        .map(
            |d| match event::parse(EventKind::WorkflowRun, &d.body).unwrap() {
                Event::WorkflowRun(run) => run.workflow_run.id,
                _ => unreachable!(),
            },
        )
        .collect();
    let count = deliveries.len();

    // Act
    let started = Instant::now();
    let posted = post_to(&app, deliveries, 8).await;
    eprintln!(
        "generated {count} demo deliveries ({} runs) in {:.1} s, posted them in {:.1} s: {:.0}/s",
        runs.len(),
        generated.as_secs_f64(),
        started.elapsed().as_secs_f64(),
        posted.rate()
    );

    // Assert: every delivery accepted.
    assert!(
        posted.failed.is_empty(),
        "{:?}",
        &posted.failed[..posted.failed.len().min(5)]
    );
    assert_eq!(posted.ok + posted.accepted, count);
    assert!(runs.len() >= 3_000, "{} runs", runs.len());
    // Every repository is listed, with all its runs.
    let repos: Value = app.get_json("/api/repos").await;
    let repos = repos["repos"].as_array().unwrap();
    let names: BTreeSet<&str> = repos.iter().map(|r| r["repo"].as_str().unwrap()).collect();
    let expected: BTreeSet<&str> = org.repos.iter().map(|r| r.full_name.as_str()).collect();
    assert_eq!(names, expected);
    let listed: i64 = repos.iter().map(|r| r["runs"].as_i64().unwrap()).sum();
    assert_eq!(listed, runs.len() as i64);
    // Every run is a build, paged 100 at a time; some still going, some re-run, some red.
    let builds = all_builds(&app).await;
    let ids: BTreeSet<i64> = builds.iter().map(|b| b["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, runs);
    assert!(builds.iter().any(|b| b["status"] != "completed"));
    assert!(builds.iter().any(|b| b["run_attempt"] == 2));
    assert!(builds.iter().any(|b| b["conclusion"] == "failure"));
    assert!(builds.iter().any(|b| b["branch"] == "master"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_writes_its_webhook_secret_next_to_its_database_and_show_secret_prints_it() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let args = buildboard::config::DemoArgs {
        db: db.clone(),
        listen: "127.0.0.1:0".parse().unwrap(),
        seed: 1,
        runs_per_day: 2,
        trickle_every: std::time::Duration::from_secs(60),
        no_trickle: true,
        concurrency: 2,
    };
    let config = buildboard::config::Config::new(&db, "127.0.0.1:0".parse().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();

    // Act
    let demo = tokio::spawn(demo::run(args, config, async move {
        let _ = stopped.await;
    }));
    let file = demo::run::secret_file(&db);
    let mut secret = String::new();
    for _ in 0..200 {
        if let Ok(text) = std::fs::read_to_string(&file) {
            secret = text.trim().to_owned();
            if !secret.is_empty() {
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _ = stop.send(());
    demo.await.unwrap().unwrap();

    // Assert: the file holds the secret the demo's database keeps (what `show-secret` prints).
    assert_eq!(secret.len(), 48, "{secret:?}");
    let store = buildboard::store::Store::open(&db).unwrap();
    assert_eq!(
        buildboard::stored_or_generated_secret(&store).unwrap(),
        secret
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demos_github_serves_its_failed_jobs_logs_and_triage_shows_why() {
    // Arrange: the demo's GitHub on loopback reading the server's database, as `buildboard demo`
    // wires it (--github-api-url and a token), and two days of history.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let store = buildboard::store::Store::open(&db).unwrap();
    let (github, fake) = demo::github::start(store).await.unwrap();
    let app = spawn_app_with(move |config| {
        config.db = db;
        config.github_token = Some(buildboard::config::Secret::new("demo-github-token"));
        config.github_api_url = github;
        config.webhook_rate_limit = 0;
        config.rate_limit = 0;
    })
    .await;
    let options = Options {
        runs_per_day: 120,
        days: 2,
        ..Options::default()
    };
    let mut simulation = Simulation::new(Organisation::generate(1), 1, options);
    let deliveries = simulation.history(chrono::Utc::now().timestamp());

    // Act: post the history; the server's log fetcher explains the failed jobs meanwhile.
    let posted = post_to(&app, deliveries, 4).await;
    assert!(
        posted.failed.is_empty(),
        "{:?}",
        &posted.failed[..posted.failed.len().min(3)]
    );
    let mut explained = 0;
    for _ in 0..100 {
        explained = app.row("SELECT COUNT(*) FROM jobfailures WHERE excerpt IS NOT NULL");
        let unexplained: i64 = app.row(
            "SELECT COUNT(*) FROM workflowjobs j WHERE j.conclusion = 'failure'
             AND NOT EXISTS (SELECT 1 FROM jobfailures f WHERE f.job_id = j.id)",
        );
        if explained > 0 && unexplained == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let triage = app.get_json("/api/triage").await;
    let page = app.page("/triage").await;

    // Assert: failed jobs were explained from the simulated logs, and a Triage item says why.
    assert!(explained > 0, "no failed job was explained from its log");
    let errors: i64 = app.row("SELECT COUNT(*) FROM jobfailures WHERE error IS NOT NULL");
    assert_eq!(errors, 0, "every log was read");
    let text = triage.to_string();
    assert!(text.contains("\"excerpt\""), "{triage:#}");
    let excerpt = triage
        .pointer("/incidents/0/reds/0/failure/excerpt")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("an excerpt on the first red: {triage:#}"));
    assert!(!excerpt.is_empty());
    assert!(
        page.contains("<span class=\"why\" title=\""),
        "the Triage page says why, the excerpt on hover: {page}"
    );
    fake.abort();
    app.stop().await;
}
