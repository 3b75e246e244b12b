//! A job's log on demand (`/jobs/<id>/log`, `GET /api/jobs/<id>/log`): fetched from the fake
//! GitHub of `failure_logs` (a `302` to another loopback host serving `tests/fixtures/logs/`),
//! cached and not fetched again, rendered with its markup as text, GitHub's refusals said in
//! words, and a job of a repository the reader may not read answered like one that is not there.

use buildboard::config::Secret;
use serde_json::{json, Value};

use crate::failure_logs::{FakeLogs, LogAnswer, TOKEN};
use crate::helpers::{spawn_app_with, TestApp};
use crate::seed::job_payload;

/// A completed job `job_id` of run `run_id` in `octo-org/octo-repo`, with `conclusion`.
pub(crate) fn completed_job(run_id: i64, job_id: i64, conclusion: &str) -> Vec<u8> {
    let fixture = format!("completed.{conclusion}.with-organization.payload.json");
    serde_json::to_vec(&job_payload(&fixture, run_id, job_id)).unwrap()
}

/// A server that reads GitHub through `fake`, with the token it takes.
pub(crate) async fn app_reading(
    fake: &FakeLogs,
    adjust: impl FnOnce(&mut buildboard::config::Config),
) -> TestApp {
    let url = fake.url();
    spawn_app_with(move |config| {
        config.github_token = Some(Secret::new(TOKEN));
        config.github_api_url = url;
        adjust(config);
    })
    .await
}

fn redirect(fixture: &'static str) -> LogAnswer {
    LogAnswer::Redirect {
        not_ready: 0,
        fixture,
    }
}

#[tokio::test]
async fn a_jobs_log_is_fetched_once_and_then_read_from_the_cache() {
    // Arrange: a successful job (the background fetcher only reads failed ones).
    let fake = FakeLogs::start(vec![(501, redirect("cargo-markup.log"))], Vec::new()).await;
    let app = app_reading(&fake, |_| {}).await;
    app.deliver(
        "workflow_job",
        "job-501",
        &completed_job(50, 501, "success"),
    )
    .await;

    // Act: the API, then the page's log part, then the API again.
    let first: Value = app.get_json("/api/jobs/501/log").await;
    let part = app.get_text("/jobs/501/log?part=live").await;
    let again: Value = app.get_json("/api/jobs/501/log").await;

    // Assert
    assert_eq!(first["state"], "ok", "{first:#}");
    assert_eq!(first["job"], 501);
    assert_eq!(first["truncated"], false);
    assert_eq!(first["failed_step"], "Run cargo test --locked");
    assert!(first["text"]
        .as_str()
        .unwrap()
        .contains("test render::tests::keeps_bold ... \u{1b}[31mFAILED"));
    assert!(part.contains("class=\"joblog"), "{part}");
    assert_eq!(again["text"], first["text"]);
    assert_eq!(again["fetched_at"], first["fetched_at"]);
    assert_eq!(
        fake.log_requests(501),
        1,
        "the cached log is not fetched again"
    );
    assert_eq!(app.count("joblogs"), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_log_line_holding_markup_shows_as_text_with_colours_as_classes() {
    // Arrange
    let fake = FakeLogs::start(vec![(502, redirect("cargo-markup.log"))], Vec::new()).await;
    let app = app_reading(&fake, |_| {}).await;
    app.deliver(
        "workflow_job",
        "job-502",
        &completed_job(50, 502, "failure"),
    )
    .await;

    // Act
    let page = app.page("/jobs/502/log").await;

    // Assert: the line is there, escaped; no markup from the log, no escape character.
    assert!(
        page.contains("&#60;script&#62;alert(&#34;log&#34;)&#60;/script&#62;"),
        "{page}"
    );
    assert!(!page.contains("<script>alert"), "{page}");
    assert!(!page.contains("<img src=x"), "{page}");
    assert!(!page.contains('\u{1b}'));
    assert!(
        page.contains("<span class=\"a-fg-red\">FAILED</span>"),
        "{page}"
    );
    // The failing step is open and its first line marked; the others are folded.
    assert!(
        page.contains("<details class=\"log-step failed\" open>"),
        "{page}"
    );
    assert!(page.contains("<details class=\"log-step\">"));
    assert!(page.contains("first-error"));
    assert_eq!(page.matches("class=\"log-group\"").count(), 6, "{page}");
    // Timestamps are there to show, hidden unless asked for.
    assert!(page.contains("<span class=\"ts\">2026-11-24T09:12:"));
    assert!(!page.contains("joblog show-ts"));
    assert!(app
        .page("/jobs/502/log?ts=1")
        .await
        .contains("joblog show-ts"));
    app.stop().await;
}

#[tokio::test]
async fn a_log_github_refuses_is_said_in_words() {
    // Arrange
    let fake = FakeLogs::start(
        vec![
            (510, LogAnswer::Status(410, "Gone")),
            (
                511,
                LogAnswer::Status(403, "Must have admin rights to Repository."),
            ),
            (512, LogAnswer::Status(404, "Not Found")),
        ],
        Vec::new(),
    )
    .await;
    let app = app_reading(&fake, |_| {}).await;
    for job in [510, 511, 512] {
        app.deliver(
            "workflow_job",
            &format!("job-{job}"),
            &completed_job(51, job, "success"),
        )
        .await;
    }

    // Act
    let expired: Value = app.get_json("/api/jobs/510/log").await;
    let refused: Value = app.get_json("/api/jobs/511/log").await;
    let not_ready: Value = app.get_json("/api/jobs/512/log").await;
    let page = app.page("/jobs/510/log").await;

    // Assert
    assert_eq!(expired["state"], "expired");
    assert!(expired["message"]
        .as_str()
        .unwrap()
        .contains("no longer has this log"));
    assert_eq!(refused["state"], "no_access");
    assert!(refused["message"]
        .as_str()
        .unwrap()
        .contains("may not read"));
    assert_eq!(not_ready["state"], "not_ready");
    assert!(not_ready["message"].as_str().unwrap().contains("yet"));
    for answer in [&expired, &refused, &not_ready] {
        assert_eq!(answer["text"], "");
    }
    assert!(
        page.contains("GitHub no longer has this log (410)"),
        "{page}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_job_out_of_scope_answers_exactly_like_one_that_is_not_there() {
    // Arrange: a display token for another repository only.
    let fake = FakeLogs::start(vec![(520, redirect("cargo-markup.log"))], Vec::new()).await;
    let app = app_reading(&fake, |config| {
        config.board_token = Some(Secret::new("board-token-0123456789abcdef"));
        config.admin_token = Some(Secret::new("admin-token-fedcba9876543210"));
    })
    .await;
    app.deliver(
        "workflow_job",
        "job-520",
        &completed_job(52, 520, "success"),
    )
    .await;
    let made: Value = crate::helpers::json_of(
        app.http
            .post(app.url("/api/tokens"))
            .bearer_auth("admin-token-fedcba9876543210")
            .json(&json!({ "name": "lobby", "repos": ["acme/payments"] })),
    )
    .await;
    let token = made["token"].as_str().unwrap().to_owned();
    let get = |path: String| {
        let request = app.http.get(app.url(&path)).bearer_auth(&token);
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };

    // Act
    let (hidden, hidden_body) = get("/api/jobs/520/log".into()).await;
    let (missing, missing_body) = get("/api/jobs/529/log".into()).await;
    let (hidden_page, page_body) = get("/jobs/520/log".into()).await;
    let fetched = fake.log_requests(520);
    let (board, _) = {
        let response = app
            .http
            .get(app.url("/api/jobs/520/log"))
            .bearer_auth("board-token-0123456789abcdef")
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), ())
    };

    // Assert
    assert_eq!((hidden, missing, hidden_page), (404, 404, 404));
    assert_eq!(hidden_body.replace("520", "529"), missing_body);
    assert!(!page_body.contains("octo-repo") && !hidden_body.contains("octo-repo"));
    assert_eq!(fetched, 0, "nothing was fetched for them");
    // The board token reads it: the refusal above can fail.
    assert_eq!(board, 200);
    app.stop().await;
}

#[tokio::test]
async fn the_run_page_shows_a_jobs_log_folded_searched_and_kept_across_live_redraws() {
    use crate::browser::{count_of, js, open, open_browser, start_driver, text_of, until};
    use crate::seed::run_delivery;
    use std::time::Duration;

    // Arrange: a failed run with one failed job whose log is the cargo fixture.
    let fake = FakeLogs::start(vec![(540, redirect("cargo-markup.log"))], Vec::new()).await;
    let app = app_reading(&fake, |_| {}).await;
    let run = run_delivery(54, &"c".repeat(40), "Render names", Some("failure"));
    app.deliver("workflow_run", "run-54", &run).await;
    app.deliver(
        "workflow_job",
        "job-540",
        &completed_job(54, 540, "failure"),
    )
    .await;
    let driver = start_driver();
    let browser = open_browser(&driver).await;
    open(&browser, &app, "/runs/54").await;
    let within = Duration::from_secs(10);

    // Act: show the log.
    js(
        &browser,
        "document.querySelector('a[data-log-job=\"540\"]').click();",
    )
    .await;
    until(
        &browser,
        "document.querySelector('[data-log-slot=\"540\"] .joblog') !== null",
        within,
    )
    .await;

    // Assert: the failing step open, the others folded, its first error line in view.
    let open_steps = js(
        &browser,
        "return [...document.querySelectorAll('.log-step')].map(d => d.open);",
    )
    .await;
    assert_eq!(open_steps, json!([false, false, false, true, false]));
    let in_view = js(&browser, "const r = document.querySelector('.first-error').getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight;").await;
    assert_eq!(in_view, true);
    // The log's HTML is text: no element came from it.
    let text = text_of(&browser, ".joblog").await;
    assert!(text.contains("<script>alert(\"log\")</script>"));
    assert_eq!(count_of(&browser, ".joblog script, .joblog img").await, 0);
    // Timestamps hidden until asked for.
    let ts = "getComputedStyle(document.querySelector('.joblog .ts')).display";
    assert_eq!(js(&browser, &format!("return {ts};")).await, "none");
    js(
        &browser,
        "document.querySelector('.log-ts-toggle').click();",
    )
    .await;
    assert_ne!(js(&browser, &format!("return {ts};")).await, "none");

    // Fold and unfold the failing step.
    let failed = "document.querySelector('.log-step.failed')";
    js(
        &browser,
        &format!("{failed}.querySelector('summary').click();"),
    )
    .await;
    assert_eq!(js(&browser, &format!("return {failed}.open;")).await, false);
    js(
        &browser,
        &format!("{failed}.querySelector('summary').click();"),
    )
    .await;
    assert_eq!(js(&browser, &format!("return {failed}.open;")).await, true);

    // Search: the folded build step opens on its hits.
    js(&browser, "const box = document.querySelector('.log-search'); box.value = 'compiling'; box.dispatchEvent(new Event('input'));").await;
    until(
        &browser,
        "document.querySelector('.log-hits').textContent === '4 lines'",
        within,
    )
    .await;
    let build_open = js(&browser, "return document.querySelectorAll('.log-step')[2].open && document.querySelectorAll('.ln.hit').length;").await;
    assert_eq!(build_open, 4);

    // A live redraw of the run page keeps the log as it was.
    let mut other = job_payload("in_progress.payload.json", 54, 541);
    other["workflow_job"]["name"] = json!("second-job");
    app.deliver_json("workflow_job", "job-541", &other).await;
    until(
        &browser,
        "document.body.textContent.includes('second-job')",
        within,
    )
    .await;
    let kept = count_of(&browser, "[data-log-slot=\"540\"] .ln.hit").await;
    assert_eq!(kept, 4);
    assert_eq!(
        fake.log_requests(540),
        2,
        "one background fetch, one for the page"
    );

    browser.close().await.unwrap();
    app.stop().await;
}

#[tokio::test]
async fn a_full_log_cache_drops_its_oldest_logs_at_once() {
    // Arrange: a cache of 0 MB keeps no log.
    let fake = FakeLogs::start(vec![(550, redirect("jest.log"))], Vec::new()).await;
    let app = app_reading(&fake, |config| config.job_log_cache_mb = 0).await;
    app.deliver(
        "workflow_job",
        "job-550",
        &completed_job(55, 550, "success"),
    )
    .await;

    // Act
    let first: Value = app.get_json("/api/jobs/550/log").await;
    let again: Value = app.get_json("/api/jobs/550/log").await;

    // Assert: shown each time, never kept, so fetched each time.
    assert_eq!(
        (&first["state"], &again["state"]),
        (&json!("ok"), &json!("ok"))
    );
    assert_eq!(app.count("joblogs"), 0);
    assert_eq!(fake.log_requests(550), 2);
    app.stop().await;
}
