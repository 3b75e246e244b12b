//! Other CI that reports to GitHub: check runs of GitHub Apps and commit statuses, posted signed
//! as GitHub documents them, on the board like workflow runs.

use serde_json::{json, Value};

use crate::helpers::{spawn_app, webhook_json, TestApp};

fn check_run(action_file: &str) -> Value {
    webhook_json(&format!("check_run/{action_file}"))
}

/// `check_run` deliveries of GitHub's example app, on the repository's default branch.
fn on_default_branch(mut payload: Value) -> Value {
    payload["check_run"]["check_suite"]["head_branch"] = json!("master");
    payload
}

/// A `status` delivery shaped as GitHub documents the event (the `status` webhook payload).
fn status(state: &str, sha: &str, updated: &str) -> Value {
    json!({
        "id": 6_805_126_730_i64,
        "sha": sha,
        "name": "Codertocat/Hello-World",
        "target_url": "https://ci.example.com/job/hello-world/42/",
        "context": "ci/jenkins: pr-merge",
        "description": "Build finished",
        "state": state,
        "commit": {"sha": sha, "commit": {"message": "Update README.md"}},
        "branches": [
            {"name": "master", "commit": {"sha": sha, "url": "https://api.github.com/repos/Codertocat/Hello-World/commits/x"}, "protected": false},
            {"name": "changes", "commit": {"sha": "0000000000000000000000000000000000000000", "url": "https://api.github.com/x"}, "protected": false}
        ],
        "created_at": "2026-11-29T10:00:00+00:00",
        "updated_at": updated,
        "repository": webhook_json("check_run/completed.payload.json")["repository"].clone(),
        "sender": webhook_json("check_run/completed.payload.json")["sender"].clone()
    })
}

async fn builds(app: &TestApp) -> Vec<Value> {
    let body = app.get_json("/api/builds").await;
    body["builds"].as_array().unwrap().clone()
}

async fn post(app: &TestApp, event: &str, delivery: &str, payload: &Value) -> u16 {
    app.post_webhook(event, delivery, &serde_json::to_vec(payload).unwrap())
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_check_run_is_a_run_of_its_apps_pipeline_and_a_late_created_never_regresses_it() {
    let app = spawn_app().await;
    let mut failed = on_default_branch(check_run("completed.payload.json"));
    failed["check_run"]["conclusion"] = json!("failure");

    assert_eq!(post(&app, "check_run", "c-1", &failed).await, 200);
    let created = on_default_branch(check_run("created.payload.json"));
    assert_eq!(post(&app, "check_run", "c-2", &created).await, 200, "late");

    let builds = builds(&app).await;
    assert_eq!(builds.len(), 1, "{builds:?}");
    let build = &builds[0];
    assert_eq!(build["source"], "check");
    assert_eq!(build["provider"], "octocoders-linter");
    assert_eq!(build["workflow"], "octocoders-linter · Octocoders-linter");
    assert_eq!(build["branch"], "master");
    assert_eq!(build["sha"], "ec26c3e57ca3a959ca5aad62de7213c562f8c821");
    assert_eq!(
        build["status"], "completed",
        "a late `created` never regresses it"
    );
    assert_eq!(build["conclusion"], "failure");
    assert_eq!(
        build["url"],
        "https://github.com/Codertocat/Hello-World/runs/128620228"
    );

    // A red check on a watched branch is in triage like a red workflow.
    let triage = app.get_json("/api/triage").await;
    assert_eq!(triage["count"], 1, "{triage}");
    assert_eq!(
        triage["incidents"][0]["reds"][0]["workflow"],
        "octocoders-linter · Octocoders-linter"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_rerequested_check_is_a_new_attempt() {
    let app = spawn_app().await;
    let mut failed = on_default_branch(check_run("completed.payload.json"));
    failed["check_run"]["conclusion"] = json!("failure");
    post(&app, "check_run", "c-1", &failed).await;
    let mut rerequested = failed.clone();
    rerequested["action"] = json!("rerequested");
    post(&app, "check_run", "c-2", &rerequested).await;
    let first = builds(&app).await[0].clone();
    let mut passed = on_default_branch(check_run("completed.payload.json"));
    passed["check_run"]["id"] = json!(128_620_229);
    passed["check_run"]["completed_at"] = json!("2019-05-15T15:30:00Z");
    post(&app, "check_run", "c-3", &passed).await;
    let second = builds(&app).await[0].clone();

    assert_eq!(
        (first["run_attempt"].as_i64(), first["status"].as_str()),
        (Some(2), Some("queued"))
    );
    assert_eq!(
        second["run_attempt"], 3,
        "a new check run of the same check: the next attempt"
    );
    assert_eq!(second["conclusion"], "success");
    assert_eq!(
        builds(&app).await.len(),
        1,
        "still one run of one check on one commit"
    );
    app.stop().await;
}

#[tokio::test]
async fn github_actions_own_check_runs_are_not_doubled_and_check_suites_are_acknowledged() {
    let app = spawn_app().await;
    let actions = check_run("completed.1.payload.json");
    assert_eq!(actions["check_run"]["app"]["slug"], "github-actions");
    assert_eq!(post(&app, "check_run", "c-1", &actions).await, 200);
    let suite = webhook_json("check_suite/completed.payload.json");
    assert_eq!(post(&app, "check_suite", "s-1", &suite).await, 202);
    assert!(builds(&app).await.is_empty());
    assert_eq!(app.count("workflowruns"), 0);
    app.stop().await;
}

#[tokio::test]
async fn a_commit_status_is_a_run_of_its_context_on_the_branch_it_heads() {
    let app = spawn_app().await;
    let sha = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";

    assert_eq!(
        post(
            &app,
            "status",
            "s-1",
            &status("pending", sha, "2026-11-29T10:00:00+00:00")
        )
        .await,
        200
    );
    assert_eq!(
        post(
            &app,
            "status",
            "s-2",
            &status("failure", sha, "2026-11-29T10:05:00+00:00")
        )
        .await,
        200
    );
    let red = builds(&app).await[0].clone();
    // Out of order: a stale pending arrives after the failure.
    post(
        &app,
        "status",
        "s-3",
        &status("pending", sha, "2026-11-29T10:01:00+00:00"),
    )
    .await;
    let still_red = builds(&app).await[0].clone();
    // A re-run: pending again, newer than the failure, then success.
    post(
        &app,
        "status",
        "s-4",
        &status("pending", sha, "2026-11-29T10:10:00+00:00"),
    )
    .await;
    post(
        &app,
        "status",
        "s-5",
        &status("success", sha, "2026-11-29T10:15:00+00:00"),
    )
    .await;
    let green = builds(&app).await;

    assert_eq!(red["source"], "status");
    assert_eq!(red["provider"], "ci/jenkins: pr-merge");
    assert_eq!(
        red["branch"], "master",
        "the branch whose head is the commit"
    );
    assert_eq!(red["conclusion"], "failure");
    assert_eq!(red["url"], "https://ci.example.com/job/hello-world/42/");
    assert_eq!(
        still_red["conclusion"], "failure",
        "a stale pending never regresses it"
    );
    assert_eq!(green.len(), 1);
    assert_eq!(green[0]["conclusion"], "success");
    assert_eq!(green[0]["run_attempt"], 2);
    app.stop().await;
}
