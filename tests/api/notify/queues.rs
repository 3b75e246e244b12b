//! Notifications on runner queues against the real server: a label set whose longest wait goes
//! over `--queue-alert` is told once to each target ("no runner for ..."), and once more when a
//! runner takes its job ("runners for ... are back").

use std::time::Duration;

use serde_json::json;

use super::{app_notifying_with, Answer, Receiver};
use crate::helpers::webhook_json;
use crate::runs::job_on;

const SECRET: &str = "a-shared-secret-for-the-json-target";

#[tokio::test]
async fn a_queue_over_the_threshold_is_told_once_and_again_when_a_runner_takes_the_job() {
    // Arrange: a slack and a json target; a 60 s threshold checked every 100 ms.
    let receiver = Receiver::start(|_| Answer::Status(200)).await;
    let targets = json!([
        {"name": "chat", "kind": "slack", "url": format!("{}/slack", receiver.url)},
        {"name": "hook", "kind": "json", "url": format!("{}/json", receiver.url), "secret": SECRET},
    ]);
    let app = app_notifying_with(targets, |c| {
        c.notify_retry = Duration::from_millis(100);
        c.queue_alert = Duration::from_secs(60);
        c.queue_check = Duration::from_millis(100);
    })
    .await;
    let repo = webhook_json("workflow_job/queued.payload.json")["repository"]["full_name"]
        .as_str()
        .unwrap()
        .to_owned();

    // Act: a gpu job waiting for 14 minutes, an ubuntu job for 5 seconds.
    let gpu = job_on(1, &["self-hosted", "gpu"], 840, "queued", None);
    app.deliver("workflow_job", "q-1", &gpu).await;
    let quick = job_on(2, &["ubuntu-latest"], 5, "queued", None);
    app.deliver("workflow_job", "q-2", &quick).await;

    // Assert: one "no runner" message per target, and no more while it stays over.
    let over = receiver
        .all_after(|r| r.len() >= 2, Duration::from_millis(600))
        .await;
    assert_eq!(over.len(), 2, "one message per target, once");
    let slack = over.iter().find(|r| r.path == "/slack").unwrap();
    let text = slack.json()["text"].as_str().unwrap().to_owned();
    assert!(
        text.contains("no runner for self-hosted, gpu for 14 min, 1 job waiting"),
        "{text}"
    );
    assert_eq!(slack.header("x-buildboard-event"), Some("queue_over"));
    let hook = over.iter().find(|r| r.path == "/json").unwrap();
    let body = hook.json();
    assert_eq!(body["transition"], "queue_over");
    assert_eq!(body["labels"], json!(["self-hosted", "gpu"]));
    assert_eq!(
        (body["queued"].as_i64(), body["threshold_s"].as_i64()),
        (Some(1), Some(60))
    );
    assert!(hook.header("x-buildboard-signature-256").is_some());
    for r in &over {
        let body = String::from_utf8_lossy(&r.body);
        assert!(!body.contains(&repo), "no repository named: {body}");
        assert!(!body.contains("ubuntu-latest"), "a short wait says nothing");
    }

    // Act: a runner takes the job.
    let taken = job_on(
        1,
        &["self-hosted", "gpu"],
        840,
        "in_progress",
        Some("gpu-1"),
    );
    app.deliver("workflow_job", "r-1", &taken).await;

    // Assert: one "back" message per target, and nothing more.
    let all = receiver
        .all_after(|r| r.len() >= 4, Duration::from_millis(600))
        .await;
    assert_eq!(all.len(), 4);
    let back = all[2..].iter().find(|r| r.path == "/slack").unwrap();
    let text = back.json()["text"].as_str().unwrap().to_owned();
    assert!(
        text.contains("runners for self-hosted, gpu are back: waited 14 min at most"),
        "{text}"
    );
    let back = all[2..].iter().find(|r| r.path == "/json").unwrap().json();
    assert_eq!(back["transition"], "queue_back");
    assert!(all.iter().all(|r| r.accepted()));
    app.stop().await;
}
