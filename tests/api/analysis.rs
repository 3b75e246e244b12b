//! The model analysis (`--analysis-url`): "Ask the model" on a failed job of the run page asks an
//! OpenAI-compatible chat endpoint, here a fake on loopback that records every request. What it
//! receives is searched for everything it must not: the repository, the commit, its author, the
//! tokens, the board's address. Off by default (no button, `404`); a reader of other
//! repositories learns nothing and sends nothing; a failing, garbled or slow model server is a
//! clear error; a cross-site `POST` is refused; one question per job is in flight and its answer
//! is kept; in a real browser the answer shows as text.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use buildboard::analysis::{AnalysisUrl, Timing};
use buildboard::config::{Config, Secret};
use serde_json::{json, Value};
use warp::http::{Response, StatusCode};
use warp::Filter;

use crate::helpers::{spawn_app_with, status_and_json, TestApp, SECRET};
use crate::runs::{failed_job, record_failure, JOB};
use crate::seed::run_delivery;

/// The model server's key, as `BUILDBOARD_ANALYSIS_KEY` would give it.
const KEY: &str = "model-key-5a5a5a5a";
const BOARD_TOKEN: &str = "board-token-0123456789abcdef";
const ADMIN_TOKEN: &str = "admin-token-fedcba9876543210";
/// The commit message of the failed run: never sent.
const MESSAGE: &str = "Load every customer of Globex";
/// The failure's excerpt: sent.
const EXCERPT: &str = "    rows = load_all()\nMemoryError";
/// The rule's sentence for [`EXCERPT`] on the fixture's job.
const SENTENCE: &str =
    "out of memory in 'Run yarn run format-check' (the log says \"MemoryError\")";

/// How the fake answers.
#[derive(Debug, Clone)]
enum Answer {
    /// A chat completion with this text, after a pause.
    Text(String, Duration),
    /// This status, with a body that is not a completion.
    Status(u16),
    /// `200` with a body that is not JSON.
    Garbage,
}

/// One request the fake got.
#[derive(Debug, Clone)]
struct Recorded {
    path: String,
    authorization: Option<String>,
    body: String,
}

#[derive(Debug)]
struct State {
    answer: Answer,
    requests: Vec<Recorded>,
}

/// A fake OpenAI-compatible server on 127.0.0.1:0.
struct FakeModel {
    /// Its API base, `http://127.0.0.1:<port>/v1`.
    base: String,
    state: Arc<Mutex<State>>,
    handle: tokio::task::JoinHandle<()>,
}

impl FakeModel {
    async fn start(answer: Answer) -> Self {
        let state = Arc::new(Mutex::new(State {
            answer,
            requests: Vec::new(),
        }));
        let shared = state.clone();
        let routes = warp::post()
            .and(warp::path::full())
            .and(warp::header::optional::<String>("authorization"))
            .and(warp::body::bytes())
            .then(
                move |path: warp::path::FullPath, authorization, body: bytes::Bytes| {
                    let state = shared.clone();
                    async move {
                        let answer = {
                            let mut state = state.lock().unwrap();
                            state.requests.push(Recorded {
                                path: path.as_str().to_owned(),
                                authorization,
                                body: String::from_utf8_lossy(&body).into_owned(),
                            });
                            state.answer.clone()
                        };
                        reply(answer).await
                    }
                },
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/v1", listener.local_addr().unwrap());
        let handle = tokio::spawn(warp::serve(routes).incoming(listener).run());
        Self {
            base,
            state,
            handle,
        }
    }

    fn answer(&self, answer: Answer) {
        self.state.lock().unwrap().answer = answer;
    }

    fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }
}

impl Drop for FakeModel {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

async fn reply(answer: Answer) -> Response<String> {
    let (status, body) = match answer {
        Answer::Text(text, pause) => {
            tokio::time::sleep(pause).await;
            let completion = json!({
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "choices": [{ "index": 0, "message": { "role": "assistant", "content": text }, "finish_reason": "stop" }],
            });
            (200, completion.to_string())
        }
        Answer::Status(status) => (status, "{\"detail\": \"model not loaded\"}".to_owned()),
        Answer::Garbage => (200, "<html>a proxy's page</html>".to_owned()),
    };
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("content-type", "application/json")
        .body(body)
        .unwrap()
}

fn text(answer: &str) -> Answer {
    Answer::Text(answer.to_owned(), Duration::ZERO)
}

/// A board asking `fake`, with the key, tokens and a quick timeout; `adjust` sets more.
async fn app_asking(fake: &FakeModel, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let base = fake.base.clone();
    spawn_app_with(move |config| {
        config.analysis_url = Some(AnalysisUrl::parse(&base).unwrap());
        config.analysis_model = "tiny-model".into();
        config.analysis_key = Some(Secret::new(KEY));
        config.analysis_timing = Timing {
            connect: Duration::from_secs(2),
            total: Duration::from_millis(700),
        };
        config.action_rate_limit = 0;
        adjust(config);
    })
    .await
}

/// A failed run 7101 of octo-org/octo-repo whose job [`JOB`] ran out of memory.
async fn failed_run(app: &TestApp) {
    let body = run_delivery(7101, &"d".repeat(40), MESSAGE, Some("failure"));
    app.deliver("workflow_run", "run-7101", &body).await;
    app.deliver("workflow_job", "job-7101", &failed_job(7101, JOB))
        .await;
    record_failure(app, JOB, 7101, EXCERPT);
}

/// The CSRF token a page of the board gets for its reader (no cookie: an open board).
async fn csrf(app: &TestApp) -> String {
    let body: Value = app.get_json("/api/analysis").await;
    body["csrf"].as_str().expect("a CSRF token").to_owned()
}

/// `POST /api/jobs/<job>/analysis` as a page of the board sends it: status and body.
async fn ask(app: &TestApp, job: i64) -> (u16, Value) {
    let token = csrf(app).await;
    let request = app
        .http
        .post(app.url(&format!("/api/jobs/{job}/analysis")))
        .header("x-csrf-token", token)
        .header("origin", format!("http://{}", app.addr))
        .header("sec-fetch-site", "same-origin");
    status_and_json(request).await
}

#[tokio::test]
async fn the_model_gets_the_steps_the_excerpt_and_the_rules_sentence_and_nothing_else() {
    // Arrange
    let fake = FakeModel::start(text("The tests ran out of memory loading every row.")).await;
    let app = app_asking(&fake, |config| {
        config.admin_token = Some(Secret::new(ADMIN_TOKEN));
    })
    .await;
    failed_run(&app).await;

    // Act
    let (status, body) = ask(&app, JOB).await;

    // Assert: the answer reaches the API.
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["answer"],
        "The tests ran out of memory loading every row."
    );
    assert_eq!(body["model"], "tiny-model");
    assert_eq!(body["job_id"], JOB);
    assert_eq!(body["cached"], false);
    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(
        request.authorization.as_deref(),
        Some(&*format!("Bearer {KEY}"))
    );
    let sent: Value = serde_json::from_str(&request.body).unwrap();
    assert_eq!(sent["model"], "tiny-model");
    let question = sent["messages"][1]["content"].as_str().unwrap();
    assert!(question.contains(EXCERPT), "{question}");
    assert!(question.contains(SENTENCE), "{question}");
    assert!(question.contains("1. Set up job\n"), "{question}");
    assert!(
        question.contains(". Run yarn run format-check  <- failed\n"),
        "{question}"
    );
    // Nothing else: no repository, workflow, job or commit, no people, no token, no address.
    let everything = request.body.to_lowercase();
    for never in [
        "octo-org",
        "octo-repo",
        "codertocat",
        "monalisa",
        &MESSAGE.to_lowercase(),
        "globex",
        &"d".repeat(40),
        "linters",
        KEY,
        SECRET,
        ADMIN_TOKEN,
        &app.addr.to_string(),
        "127.0.0.1",
        "github.com",
        "7101",
    ] {
        assert!(
            !everything.contains(never),
            "{never:?} was sent: {everything}"
        );
    }

    // Asked again: the kept answer, and the model is not asked twice.
    let (status, again) = ask(&app, JOB).await;
    assert_eq!(status, 200);
    assert_eq!(again["answer"], body["answer"]);
    assert_eq!(again["cached"], true);
    assert_eq!(fake.requests().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn without_the_flag_there_is_no_button_and_the_endpoint_is_not_found() {
    // Arrange: the same failed run on a board without --analysis-url.
    let app = spawn_app_with(|_| {}).await;
    failed_run(&app).await;

    // Act
    let page = app.page("/runs/7101").await;
    let (status, body) = app.get_status_json("/api/analysis").await;
    let asked = app
        .http
        .post(app.url(&format!("/api/jobs/{JOB}/analysis")))
        .send()
        .await
        .unwrap();

    // Assert
    assert!(
        page.contains("why: out of memory"),
        "the page has the failure"
    );
    assert!(!page.contains("Ask the model"));
    assert!(!page.contains("analysis.js"));
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (404, json!("analysis_off"))
    );
    assert_eq!(asked.status(), 404);
    let body: Value = asked.json().await.unwrap();
    assert_eq!(body["error"]["code"], "analysis_off");
    app.stop().await;
}

#[tokio::test]
async fn with_the_flag_a_failed_job_has_the_button_but_not_on_a_tv() {
    // Arrange
    let fake = FakeModel::start(text("unused")).await;
    let app = app_asking(&fake, |_| {}).await;
    failed_run(&app).await;

    // Act
    let page = app.page("/runs/7101").await;
    let live = app.page("/runs/7101?part=live").await;
    let tv = app.page("/runs/7101?tv=1&rotate=0").await;

    // Assert
    let button = format!("data-analysis-job=\"{JOB}\">Ask the model</button>");
    assert!(page.contains(&button), "{page}");
    assert!(page.contains("<script type=\"module\" src=\"/static/analysis.js\">"));
    assert!(live.contains(&button));
    assert!(!tv.contains("Ask the model"));
    assert!(!tv.contains("analysis.js"));
    assert!(fake.requests().is_empty(), "rendering asks nothing");
    app.stop().await;
}

#[tokio::test]
async fn a_reader_of_other_repositories_gets_not_found_and_nothing_is_sent() {
    // Arrange: a private board, and a display token for another repository only.
    let fake = FakeModel::start(text("unused")).await;
    let app = app_asking(&fake, |config| {
        config.board_token = Some(Secret::new(BOARD_TOKEN));
        config.admin_token = Some(Secret::new(ADMIN_TOKEN));
    })
    .await;
    failed_run(&app).await;
    let made = app
        .http
        .post(app.url("/api/tokens"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "name": "other team", "repos": ["acme/payments"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    let other: Value = made.json().await.unwrap();
    let other = other["token"].as_str().unwrap().to_owned();
    let post = |job: i64, token: &str| {
        app.http
            .post(app.url(&format!("/api/jobs/{job}/analysis")))
            .bearer_auth(token)
            .send()
    };

    // Act
    let hidden = post(JOB, &other).await.unwrap();
    let hidden_status = hidden.status().as_u16();
    let hidden_body = hidden.text().await.unwrap();
    let missing = post(99, &other).await.unwrap();
    let missing_status = missing.status().as_u16();
    let missing_body = missing.text().await.unwrap();
    let anonymous = app
        .http
        .post(app.url(&format!("/api/jobs/{JOB}/analysis")))
        .send()
        .await
        .unwrap();

    // Assert: the same answer as for a job that does not exist, and nothing reached the model.
    assert_eq!(hidden_status, 404, "{hidden_body}");
    assert_eq!(missing_status, 404);
    assert_eq!(
        hidden_body.replace(&JOB.to_string(), "N"),
        missing_body.replace("99", "N")
    );
    assert_eq!(anonymous.status(), 401);
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());

    // A reader of every repository may ask (a tool, with its bearer token, needs no CSRF token).
    let allowed = post(JOB, BOARD_TOKEN).await.unwrap();
    assert_eq!(allowed.status(), 200);
    assert_eq!(fake.requests().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_model_server_that_fails_answers_badly_or_too_slowly_is_a_clear_error() {
    // Arrange
    let fake = FakeModel::start(Answer::Status(500)).await;
    let app = app_asking(&fake, |_| {}).await;
    failed_run(&app).await;
    let code_and_message = |body: &Value| {
        (
            body["error"]["code"].as_str().unwrap().to_owned(),
            body["error"]["message"].as_str().unwrap().to_owned(),
        )
    };

    // Act and assert: a 500.
    let (status, body) = ask(&app, JOB).await;
    let (code, message) = code_and_message(&body);
    assert_eq!((status, code.as_str()), (502, "analysis_failed"));
    assert!(message.contains("answered HTTP 500"), "{message}");

    // Not JSON.
    fake.answer(Answer::Garbage);
    let (status, body) = ask(&app, JOB).await;
    let (_, message) = code_and_message(&body);
    assert_eq!(status, 502);
    assert!(
        message.contains("not an OpenAI-style chat completion"),
        "{message}"
    );

    // An empty answer.
    fake.answer(text("  "));
    let (status, body) = ask(&app, JOB).await;
    assert_eq!(status, 502);
    assert!(code_and_message(&body).1.contains("no text"), "{body}");

    // Slower than the timeout (700 ms here).
    fake.answer(Answer::Text("late".into(), Duration::from_secs(3)));
    let started = std::time::Instant::now();
    let (status, body) = ask(&app, JOB).await;
    let (code, message) = code_and_message(&body);
    assert_eq!((status, code.as_str()), (504, "analysis_timeout"));
    assert!(message.contains("did not answer within"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(3));

    // Errors are not kept: once the server answers, so does the board.
    fake.answer(text("Out of memory."));
    let (status, body) = ask(&app, JOB).await;
    assert_eq!(
        (status, body["answer"].clone()),
        (200, json!("Out of memory."))
    );
    assert_eq!(fake.requests().len(), 5);
    app.stop().await;
}

#[tokio::test]
async fn an_unreachable_model_server_and_a_job_without_evidence_are_said_so() {
    // Arrange: a model server that is gone, and a failed job whose log was never read.
    let fake = FakeModel::start(text("unused")).await;
    let base = fake.base.clone();
    drop(fake);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let app = spawn_app_with(move |config| {
        config.analysis_url = Some(AnalysisUrl::parse(&base).unwrap());
        config.action_rate_limit = 0;
    })
    .await;
    failed_run(&app).await;
    let body = run_delivery(7102, &"e".repeat(40), "Another", Some("failure"));
    app.deliver("workflow_run", "run-7102", &body).await;
    app.deliver("workflow_job", "job-7102", &failed_job(7102, JOB + 1))
        .await;

    // Act
    let (status, body) = ask(&app, JOB).await;
    let (no_log, no_log_body) = ask(&app, JOB + 1).await;

    // Assert
    assert_eq!(status, 502, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("could not be reached"),
        "{body}"
    );
    assert_eq!(no_log, 409, "{no_log_body}");
    assert_eq!(no_log_body["error"]["code"], "no_evidence");
    app.stop().await;
}

#[tokio::test]
async fn a_post_without_the_csrf_token_or_from_another_site_is_refused() {
    // Arrange
    let fake = FakeModel::start(text("Out of memory.")).await;
    let app = app_asking(&fake, |_| {}).await;
    failed_run(&app).await;
    let token = csrf(&app).await;
    let url = app.url(&format!("/api/jobs/{JOB}/analysis"));
    let own = format!("http://{}", app.addr);

    // Act
    let posts: [(&str, &[(&str, &str)]); 4] = [
        ("no token", &[("origin", &own)]),
        ("a wrong token", &[("x-csrf-token", &"0".repeat(64))]),
        (
            "another site's origin",
            &[("x-csrf-token", &token), ("origin", "https://evil.example")],
        ),
        (
            "a cross-site fetch",
            &[("x-csrf-token", &token), ("sec-fetch-site", "cross-site")],
        ),
    ];
    let mut answers = Vec::new();
    for (what, headers) in posts {
        let mut request = app.http.post(&url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        answers.push((what, request.send().await.unwrap()));
    }

    // Assert
    for (what, response) in answers {
        assert_eq!(response.status(), 403, "{what}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "cross_site", "{what}");
    }
    assert!(fake.requests().is_empty());
    let (status, _) = ask(&app, JOB).await;
    assert_eq!(status, 200);
    app.stop().await;
}

#[tokio::test]
async fn questions_share_the_per_ip_budget_of_actions() {
    // Arrange: one action a minute.
    let fake = FakeModel::start(text("Out of memory.")).await;
    let app = app_asking(&fake, |config| config.action_rate_limit = 1).await;
    failed_run(&app).await;

    // Act
    let (first, _) = ask(&app, JOB).await;
    let (second, body) = ask(&app, JOB).await;

    // Assert
    assert_eq!(first, 200);
    assert_eq!(second, 429, "{body}");
    assert_eq!(fake.requests().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn several_askers_at_once_share_one_question() {
    // Arrange: a model that takes a moment.
    let fake = FakeModel::start(Answer::Text(
        "Out of memory.".into(),
        Duration::from_millis(300),
    ))
    .await;
    let app = app_asking(&fake, |_| {}).await;
    failed_run(&app).await;

    // Act
    let (a, b, c) = tokio::join!(ask(&app, JOB), ask(&app, JOB), ask(&app, JOB));

    // Assert
    for (status, body) in [&a, &b, &c] {
        assert_eq!(*status, 200);
        assert_eq!(body["answer"], "Out of memory.");
    }
    let fresh = [&a, &b, &c]
        .iter()
        .filter(|(_, body)| body["cached"] == false)
        .count();
    assert_eq!(fresh, 1);
    assert_eq!(fake.requests().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn in_a_browser_the_button_shows_the_answer_as_text() {
    use crate::browser::{click, js, open, open_browser, start_driver, until};

    // Arrange: a model whose answer holds markup.
    let fake = FakeModel::start(text(
        "<b>x</b> ran out of memory <script>window.__x=1</script>",
    ))
    .await;
    let app = app_asking(&fake, |_| {}).await;
    failed_run(&app).await;
    let driver = start_driver();
    let browser = open_browser(&driver).await;
    open(&browser, &app, "/runs/7101").await;

    // Act
    click(&browser, "button[data-analysis-job]").await;
    until(
        &browser,
        "(document.querySelector('[data-analysis-answer]').textContent || '').includes('ran out of memory')",
        Duration::from_secs(5),
    )
    .await;

    // Assert: the literal tags, no element made of them, no script run.
    let shown = js(
        &browser,
        "const slot = document.querySelector('[data-analysis-answer]');
         return [slot.textContent, slot.children.length, slot.hidden, window.__x === undefined];",
    )
    .await;
    assert_eq!(
        shown,
        json!([
            "<b>x</b> ran out of memory <script>window.__x=1</script>",
            0,
            false,
            true
        ])
    );
    assert_eq!(fake.requests().len(), 1);
    browser.close().await.unwrap();
    app.stop().await;
}
