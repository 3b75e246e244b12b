//! The run page (`/runs/<id>`) and `GET /api/runs/<id>`: a run's attempts, its jobs as timeline
//! bars with their steps, the failure and where else it happened, from real deliveries.

use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, webhook_json, TestApp};
use crate::seed::{job_payload, now, run_delivery};

/// The fixture job's id (`linters`, failing at `Run yarn run format-check`).
pub(crate) const JOB: i64 = 289782451;
const SIGNATURE: &str = "FAILED tests/test_money.py::test_adds_cents - assert N == N";

/// A failed job of `run_id` with id `job_id`, from GitHub's documented failed job.
pub(crate) fn failed_job(run_id: i64, job_id: i64) -> Vec<u8> {
    let fixture = "completed.failure.with-organization.payload.json";
    serde_json::to_vec(&job_payload(fixture, run_id, job_id)).unwrap()
}

/// Stores the failure of job `job_id` of run `run_id`, as the log fetcher would, with `excerpt`.
pub(crate) fn record_failure(app: &TestApp, job_id: i64, run_id: i64, excerpt: &str) {
    app.db()
        .execute(
            "INSERT INTO jobfailures (job_id, run_id, repo_id, rule, signature, excerpt, fetchedtime)
             SELECT ?1, ?2, repo_id, 'pytest', ?3, ?4, ?5 FROM workflowruns WHERE id = ?2",
            (job_id, run_id, SIGNATURE, excerpt, now()),
        )
        .unwrap();
}

/// Two failed runs with the same failure; run 7001's excerpt holds markup.
async fn two_failed_runs(app: &TestApp) {
    for (run, sha) in [(7001, "a".repeat(40)), (7002, "b".repeat(40))] {
        let body = run_delivery(run, &sha, "Fix the <b>cents</b>", Some("failure"));
        app.deliver("workflow_run", &format!("run-{run}"), &body)
            .await;
    }
    app.deliver("workflow_job", "job-1", &failed_job(7001, JOB))
        .await;
    app.deliver("workflow_job", "job-2", &failed_job(7002, JOB + 1))
        .await;
    record_failure(
        app,
        JOB,
        7001,
        "E  assert 2000 == 2001\n<script>alert(1)</script>",
    );
    record_failure(app, JOB + 1, 7002, "E  assert 2000 == 2001");
}

#[tokio::test]
async fn the_run_api_gives_attempts_jobs_steps_and_the_same_failure_elsewhere() {
    // Arrange
    let app = spawn_app().await;
    two_failed_runs(&app).await;

    // Act
    let run: Value = app.get_json("/api/runs/7001").await;

    // Assert
    assert_eq!(run["run"]["id"], 7001);
    assert_eq!(run["run"]["author"], "Codertocat");
    assert_eq!(run["commit"]["sha"], "a".repeat(40));
    let attempts = run["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{run:#}");
    let job = &attempts[0]["jobs"][0];
    assert_eq!(job["id"], JOB);
    assert_eq!(job["labels"], json!(["ubuntu-latest"]));
    let steps = job["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 12);
    let failed: Vec<&Value> = steps
        .iter()
        .filter(|s| s["conclusion"] == "failure")
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["name"], "Run yarn run format-check");
    let failure = &job["failure"];
    assert_eq!(failure["rule"], "pytest");
    assert_eq!(failure["signature"], SIGNATURE);
    assert_eq!(failure["elsewhere"]["runs"], 1);
    assert_eq!(failure["elsewhere"]["days"], 30);
    assert_eq!(failure["elsewhere"]["workflows"][0]["latest_run"], 7002);
    assert_eq!(failure["elsewhere"]["workflows"][0]["workflow"], "test");
    let (status, missing) = app.get_status_json("/api/runs/99").await;
    assert_eq!(status, 404);
    assert!(missing["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no run with id 99"));
    app.stop().await;
}

#[tokio::test]
async fn the_run_page_shows_the_timeline_the_failed_step_and_the_excerpt_as_text() {
    // Arrange
    let app = spawn_app().await;
    two_failed_runs(&app).await;

    // Act
    let html = app.page("/runs/7001").await;
    let live = app.page("/runs/7001?part=live").await;

    // Assert
    assert!(html.contains("data-view=\"run\""));
    assert!(html.contains("data-live-url=\"/runs/7001?part=live\""));
    assert!(html.contains("<svg class=\"timeline\""));
    assert_eq!(html.matches("class=\"seg step ").count(), 12);
    assert!(html.contains("class=\"seg step s-failure failed\""));
    assert!(html.contains("failed at linters › Run yarn run format-check"));
    let at = html.find("class=\"excerpt\"").expect("an excerpt");
    assert!(
        html[at..].contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "the excerpt shows as text: {}",
        &html[at..at + 200]
    );
    assert!(!html.contains("<script>alert(1)"));
    assert!(html.contains("Fix the &#60;b&#62;cents&#60;/b&#62;"));
    assert!(html.contains("same failure in 1 run over 30 days"));
    assert!(html.contains("href=\"/runs/7002\""));
    assert!(html.contains("href=\"https://github.com/octo-org/octo-repo/actions/runs/7001\""));
    assert!(html.contains("pushed by"));
    assert!(live.starts_with("\n<article") || live.contains("<article class=\"runpage\""));
    assert!(!live.contains("<html"));
    let waterfall = app.page("/waterfall").await;
    assert!(waterfall.contains("data-run-id=\"7001\" href=\"/runs/7001\""));
    let triage = app.page("/triage?branches=all").await;
    assert!(triage.contains("href=\"/runs/7002\""), "{triage}");
    assert_eq!(app.get("/runs/99").await.status(), 404, "an unknown run");
    app.stop().await;
}

#[tokio::test]
async fn a_board_that_hides_authors_shows_nobody_on_the_run_page() {
    let app = spawn_app_with(|config| config.hide_authors = true).await;
    two_failed_runs(&app).await;
    let run = app.get_json("/api/runs/7001").await;
    assert!(run["run"]["author"].is_null(), "{run:#}");
    assert!(run["commit"]["author"].is_null() && run["commit"]["author_login"].is_null());
    let html = app.page("/runs/7001").await;
    assert!(!html.contains("Codertocat") && !html.contains("pushed by"));
    app.stop().await;
}

/// A `workflow_job` delivery of job `id` on `labels`, created `ago` seconds ago, in `action`'s
/// state, taken by `runner` when running.
pub fn job_on(id: i64, labels: &[&str], ago: i64, action: &str, runner: Option<&str>) -> Vec<u8> {
    let mut job = webhook_json("workflow_job/queued.payload.json");
    let created = chrono::DateTime::from_timestamp(now() - ago, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    job["action"] = json!(action);
    let body = &mut job["workflow_job"];
    body["id"] = json!(id);
    body["run_id"] = json!(8000 + id);
    body["labels"] = json!(labels);
    body["created_at"] = json!(created);
    body["started_at"] = json!(created);
    body["status"] = json!(action);
    body["runner_name"] = json!(runner);
    body["runner_group_name"] = json!(runner.map(|_| "gpu pool"));
    serde_json::to_vec(&job).unwrap()
}

#[tokio::test]
async fn runners_queues_come_from_workflow_job_deliveries_and_a_long_wait_gets_a_wall_tile() {
    // Arrange: six gpu jobs waiting (the oldest for 14 minutes), one running on gpu-1; one
    // ubuntu job waiting for a minute; one completed.
    let app = spawn_app().await;
    for i in 0..6 {
        let body = job_on(i, &["self-hosted", "gpu"], 840 - i * 60, "queued", None);
        app.deliver("workflow_job", &format!("q-{i}"), &body).await;
    }
    let running = job_on(
        10,
        &["gpu", "self-hosted"],
        1200,
        "in_progress",
        Some("gpu-1"),
    );
    app.deliver("workflow_job", "r-10", &running).await;
    let quick = job_on(11, &["ubuntu-latest"], 60, "queued", None);
    app.deliver("workflow_job", "q-11", &quick).await;

    // Act
    let api = app.get_json("/api/runners").await;
    let page = app.page("/runners").await;
    let wall = app.page("/wall").await;

    // Assert
    let queues = api["queues"].as_array().unwrap();
    assert_eq!(queues.len(), 2, "{api:#}");
    assert_eq!(queues[0]["labels"], json!(["self-hosted", "gpu"]));
    assert_eq!(queues[0]["queued"], 6);
    assert_eq!(queues[0]["running"], 1);
    let wait = queues[0]["longest_wait_s"].as_i64().unwrap();
    assert!((840..850).contains(&wait), "{wait}");
    assert_eq!(queues[0]["busy_runners"], json!(["gpu-1"]));
    assert_eq!(queues[1]["labels"], json!(["ubuntu-latest"]));
    assert!(page.contains("data-labels=\"self-hosted, gpu\""));
    assert!(page.contains("class=\"queue alert\""));
    assert!(page.contains(">gpu-1<"));
    assert!(wall.contains("no runner for</span><span class=\"name\">self-hosted, gpu</span>"));
    assert!(wall.contains("14 min, 6 jobs waiting"), "{wall}");
    assert!(!wall.contains("ubuntu-latest"), "a short wait has no tile");
    app.stop().await;
}

#[tokio::test]
async fn the_run_page_works_in_a_real_browser_and_goes_live() {
    use crate::browser::{count_of, js, open, open_browser, start_driver, text_of, until};
    use std::time::Duration;

    // Arrange
    let app = spawn_app().await;
    two_failed_runs(&app).await;
    let passed = "completed.success.with-organization.payload.json";
    let passed = job_payload(passed, 7001, JOB + 5);
    app.deliver_json("workflow_job", "job-passed", &passed)
        .await;
    let driver = start_driver();
    let browser = open_browser(&driver).await;

    // Act: open the run page from its cell on the Waterfall.
    open(&browser, &app, "/waterfall").await;
    js(
        &browser,
        "document.querySelector('a.run[data-run-id=\"7001\"]').click();",
    )
    .await;
    until(&browser, "location.pathname === '/runs/7001' && document.getElementById('conn').dataset.state === 'open'", Duration::from_secs(5)).await;

    // Assert: steps, the failed one marked, the excerpt as text, the same failure elsewhere.
    assert_eq!(
        count_of(&browser, ".job.s-failure svg.timeline rect.step").await,
        12
    );
    let failed = text_of(&browser, ".steps .failed").await;
    assert!(failed.contains("Run yarn run format-check"));
    let excerpt = text_of(&browser, "pre.excerpt").await;
    assert!(
        excerpt.contains("<script>alert(1)</script>"),
        "shown as text"
    );
    assert_eq!(count_of(&browser, "pre.excerpt script").await, 0);
    let width = js(
        &browser,
        "return document.querySelector('svg.timeline').getBoundingClientRect().width;",
    )
    .await;
    assert!(
        width.as_f64().unwrap() > 200.0,
        "the timeline is drawn wide: {width}"
    );
    let elsewhere = js(
        &browser,
        "return document.querySelector('.elsewhere a').getAttribute('href');",
    )
    .await;
    assert_eq!(elsewhere, "/runs/7002");
    // Each state in its own colour: a passed job of the failed attempt is green.
    let colours = js(
        &browser,
        "const colour = (css) => getComputedStyle(document.querySelector(css)).color;
         return [colour('section.attempt h3 .state'), colour('.job.s-failure .job-head .state'),
                 colour('.job.s-success .job-head .state'), colour('.job.s-success .job-head .icon')];",
    )
    .await;
    let (red, green) = ("rgb(255, 77, 79)", "rgb(46, 204, 113)");
    assert_eq!(colours, json!([red, red, green, green]));

    // Live: a new attempt's job arrives and the page shows it without a reload.
    let mut again = job_payload("in_progress.payload.json", 7001, JOB + 10);
    again["workflow_job"]["run_attempt"] = json!(2);
    again["workflow_job"]["name"] = json!("retry-job");
    app.deliver_json("workflow_job", "job-3", &again).await;
    until(&browser, "document.querySelectorAll('section.attempt').length === 2 && document.body.textContent.includes('retry-job')", Duration::from_secs(5)).await;

    browser.close().await.unwrap();
    app.stop().await;
}

#[tokio::test]
async fn a_triage_item_says_why_with_the_run_pages_sentence() {
    // Arrange: a failed run whose job's log ended in a MemoryError.
    let app = spawn_app().await;
    let body = run_delivery(7101, &"d".repeat(40), "Load everything", Some("failure"));
    app.deliver("workflow_run", "run-7101", &body).await;
    app.deliver("workflow_job", "job-7101", &failed_job(7101, JOB))
        .await;
    record_failure(&app, JOB, 7101, "    rows = load_all()\nMemoryError");

    // Act
    let run: Value = app.get_json("/api/runs/7101").await;
    let triage: Value = app.get_json("/api/triage?branches=all").await;
    let page = app.page("/triage?branches=all").await;
    let live = app.page("/triage?branches=all&part=live").await;

    // Assert: the run page's sentence, in Triage's JSON, page and live part.
    let sentence = run["attempts"][0]["jobs"][0]["why"]["sentence"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        sentence,
        "out of memory in 'Run yarn run format-check' (the log says \"MemoryError\")"
    );
    let why = &triage["incidents"][0]["reds"][0]["why"];
    assert_eq!(why["sentence"], sentence.as_str(), "{triage:#}");
    assert_eq!(why["rule"], "out-of-memory");
    let shown = format!(
        "<span class=\"why-evidence\" data-rule=\"out-of-memory\">why: {}</span>",
        sentence.replace('\'', "&#39;").replace('"', "&#34;")
    );
    assert!(page.contains(&shown), "{page}");
    assert!(live.contains(&shown));
    app.stop().await;
}
