//! `POST /webhook` against the real server, with GitHub's documented payloads.

use serde_json::{json, Value};

use crate::helpers::{signed_delivery, spawn_app, spawn_app_with, webhook_fixture, webhook_json};

const RUN_ID: i64 = 289782451;

fn bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap()
}

#[tokio::test]
async fn every_ping_fixture_is_accepted_and_a_repository_hook_registers_its_repository() {
    let app = spawn_app().await;
    for (i, name) in [
        "ping/payload.json",
        "ping/with-app_id.payload.json",
        "ping/with-organization.payload.json",
    ]
    .iter()
    .enumerate()
    {
        let response = app
            .post_webhook("ping", &format!("ping-{i}"), &webhook_fixture(name))
            .await;
        assert_eq!(response.status(), 200, "{name}");
    }
    assert_eq!(app.count("repos"), 1);
    let name: String = app.row("SELECT fullname FROM repos");
    assert_eq!(name, "Octocoders/Hello-World");
    assert_eq!(
        app.count("workflowruns") + app.count("branches") + app.count("commits"),
        0
    );
    app.stop().await;
}

#[tokio::test]
async fn a_push_that_creates_a_branch_stores_the_branch_and_its_commits() {
    let app = spawn_app().await;
    for name in [
        "push/with-new-branch.payload.json",
        "push/with-no-username-committer.payload.json",
    ] {
        app.deliver_fixture("push", name, name).await;
    }
    let (branch, deleted): (String, Option<i64>) = app
        .db()
        .query_row("SELECT name, deletedtime FROM branches", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((branch.as_str(), deleted), ("master", None));
    assert_eq!(app.count("commits"), 1, "both pushes carry the same commit");
    let (gitid, login, message, time): (String, String, String, i64) =
        app.row("SELECT gitid, authorlogin, message, committime FROM commits");
    assert_eq!(gitid, "6113728f27ae82c7b1a177c8d03f9e96e0adf246");
    assert_eq!(login, "Codertocat");
    assert_eq!(message, "Initial commit");
    assert_eq!(time, 1557933565, "2019-05-15T15:19:25Z");
    app.stop().await;
}

#[tokio::test]
async fn tag_pushes_and_tag_create_and_delete_events_store_no_branch() {
    let app = spawn_app().await;
    let tag_events = [
        ("push", "push/payload.json"),
        ("push", "push/1.payload.json"),
        ("push", "push/with-installation.payload.json"),
        ("push", "push/with-organization.payload.json"),
        ("create", "create/payload.json"),
        ("create", "create/with-description.payload.json"),
        ("create", "create/with-installation.payload.json"),
        ("create", "create/with-organization.payload.json"),
        ("delete", "delete/payload.json"),
        ("delete", "delete/with-installation.payload.json"),
        ("delete", "delete/with-organization.payload.json"),
    ];
    for (event, name) in tag_events {
        app.deliver_fixture(event, name, name).await;
    }
    assert_eq!(app.count("repos"), 1);
    assert_eq!(app.count("branches"), 0);
    assert_eq!(app.count("commits"), 0);
    assert_eq!(app.count("deliveries"), 11);
    app.stop().await;
}

/// The fixtures only have tag create/delete events; the branch variants change `ref_type` only.
fn branch_ref_event(name: &str, branch: &str) -> Vec<u8> {
    let mut payload = webhook_json(name);
    payload["ref_type"] = json!("branch");
    payload["ref"] = json!(branch);
    bytes(&payload)
}

/// A workflow_run fixture moved onto `branch`.
fn run_on_branch(name: &str, branch: &str) -> Vec<u8> {
    let mut payload = webhook_json(name);
    payload["workflow_run"]["head_branch"] = json!(branch);
    // The run's repository is octo-org/octo-repo; the create/delete fixtures' is Codertocat/Hello-World.
    payload["repository"] = webhook_json("create/payload.json")["repository"].clone();
    bytes(&payload)
}

#[tokio::test]
async fn deleting_a_branch_keeps_its_runs_with_the_name_archived() {
    let app = spawn_app().await;
    app.deliver(
        "create",
        "c1",
        &branch_ref_event("create/payload.json", "feature"),
    )
    .await;
    assert_eq!(
        app.row::<String>("SELECT name FROM branches WHERE deletedtime IS NULL"),
        "feature"
    );
    app.deliver(
        "workflow_run",
        "r1",
        &run_on_branch("workflow_run/completed.payload.json", "feature"),
    )
    .await;

    app.deliver(
        "delete",
        "d1",
        &branch_ref_event("delete/payload.json", "feature"),
    )
    .await;

    assert_eq!(app.count("branches WHERE deletedtime IS NOT NULL"), 1);
    assert_eq!(app.count("workflowruns"), 1, "the run stays");
    assert_eq!(
        app.row::<String>("SELECT archivedbranchname FROM workflowruns"),
        "feature"
    );
    let builds: Value = app.get_json("/api/builds").await;
    assert_eq!(builds["builds"][0]["branch"], "feature");

    // A late event for a run on the deleted branch does not bring the branch back.
    app.deliver(
        "workflow_run",
        "r0",
        &run_on_branch("workflow_run/requested.payload.json", "feature"),
    )
    .await;
    assert_eq!(app.count("branches WHERE deletedtime IS NULL"), 0);
    app.stop().await;
}

#[tokio::test]
async fn a_push_with_deleted_true_deletes_the_branch() {
    let app = spawn_app().await;
    app.deliver_fixture("push", "p1", "push/with-new-branch.payload.json")
        .await;
    let mut deletion = webhook_json("push/with-new-branch.payload.json");
    deletion["created"] = json!(false);
    deletion["deleted"] = json!(true);
    deletion["after"] = json!("0000000000000000000000000000000000000000");
    deletion["commits"] = json!([]);
    deletion["head_commit"] = Value::Null;
    app.deliver("push", "p2", &bytes(&deletion)).await;
    assert_eq!(
        app.count("branches WHERE name = 'master' AND deletedtime IS NOT NULL"),
        1
    );
    app.stop().await;
}

#[tokio::test]
async fn workflow_run_fixtures_make_one_run_with_the_workflow_named_from_workflow_name() {
    let app = spawn_app().await;
    for name in [
        "workflow_run/requested.payload.json",
        "workflow_run/requested.with-conclusion.payload.json",
        "workflow_run/completed.payload.json",
        "workflow_run/completed.with-pull-requests.payload.json",
    ] {
        app.deliver_fixture("workflow_run", name, name).await;
    }
    assert_eq!(app.count("repos"), 1);
    assert_eq!(app.count("workflows"), 1);
    assert_eq!(app.count("workflowruns"), 1);
    assert_eq!(app.count("commits"), 1);
    assert_eq!(app.count("branches"), 1);
    let (name, path): (String, String) = app
        .db()
        .query_row("SELECT name, path FROM workflows", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(
        name, "test",
        "workflow_run.name is empty; workflow.name is used"
    );
    assert_eq!(path, ".github/workflows/test.yml");

    let builds: Value = app.get_json("/api/builds").await;
    let build = &builds["builds"][0];
    assert_eq!(build["id"], RUN_ID);
    assert_eq!(build["repo"], "octo-org/octo-repo");
    assert_eq!(build["branch"], "master");
    assert_eq!(build["workflow"], "test");
    assert_eq!(build["status"], "completed");
    assert_eq!(
        build["conclusion"], "success",
        "the later completed event wins over requested.with-conclusion"
    );
    assert_eq!(build["sha"], "3484a3fb816e0859fd6e1cea078d76385ff50625");
    assert_eq!(build["author"], "Codertocat");
    assert_eq!(
        build["url"],
        "https://github.com/octo-org/octo-repo/actions/runs/289782451"
    );
    assert_eq!(build["run_attempt"], 1);
    assert_eq!(build["run_number"], 163);
    assert_eq!(build["event"], "repository_dispatch");
    assert_eq!(build["created_at"], "2020-10-05T16:33:24Z");
    assert_eq!(build["started_at"], "2020-10-05T16:33:49Z");
    assert_eq!(build["completed_at"], "2020-10-05T16:33:49Z");
    assert_eq!(build["duration_s"], 0);
    assert_eq!(
        build["queue_s"], 25,
        "no job events: run_started_at - created_at"
    );
    assert_eq!(
        build["message"],
        "build(test): check workflow run event payload"
    );
    app.stop().await;
}

#[tokio::test]
async fn workflow_job_fixtures_are_stored_and_a_started_job_sets_its_runs_queue_time() {
    let app = spawn_app().await;
    let names = [
        "workflow_job/queued.payload.json",
        "workflow_job/queued.with-deployment.payload.json",
        "workflow_job/waiting.payload.json",
        "workflow_job/in_progress.payload.json",
        "workflow_job/in_progress.with-queued-steps.payload.json",
        "workflow_job/completed.success.with-organization.payload.json",
    ];
    for name in names {
        app.deliver_fixture("workflow_job", name, name).await;
    }
    let jobs: Vec<(i64, String, Option<i64>)> = app
        .db()
        .prepare("SELECT id, status, starttime FROM workflowjobs ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        jobs,
        vec![
            (289782451, "completed".into(), Some(1628159698)), // 2021-08-05T10:34:58Z
            (12877621891, "waiting".into(), None), // started_at is not a start while waiting
            (14541957942, "in_progress".into(), Some(1687750296)),
        ]
    );

    // A job of the run in the workflow_run fixtures, started 40 s after the run was created.
    app.deliver_fixture("workflow_run", "run", "workflow_run/requested.payload.json")
        .await;
    let mut job = webhook_json("workflow_job/in_progress.payload.json");
    job["workflow_job"]["id"] = json!(1);
    job["workflow_job"]["run_id"] = json!(RUN_ID);
    job["workflow_job"]["started_at"] = json!("2020-10-05T16:34:04Z");
    app.deliver("workflow_job", "job", &bytes(&job)).await;
    assert_eq!(app.row::<i64>("SELECT queuetime FROM workflowruns"), 40);
    app.stop().await;
}

#[tokio::test]
async fn a_form_encoded_delivery_is_accepted_with_the_signature_over_the_raw_body() {
    let app = spawn_app().await;
    let payload = webhook_fixture("workflow_run/completed.payload.json");
    let body: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", std::str::from_utf8(&payload).unwrap())
        .finish();
    let response = app
        .http
        .post(app.url("/webhook"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-github-event", "workflow_run")
        .header("x-github-delivery", "form-1")
        .header(
            "x-hub-signature-256",
            buildboard::github::signature::sign(crate::helpers::SECRET.as_bytes(), body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(app.count("workflowruns"), 1);
    app.stop().await;
}

/// One malformed delivery and the status it must get.
struct BadCase {
    what: &'static str,
    content_type: &'static str,
    event: Option<&'static str>,
    delivery: Option<&'static str>,
    signature: Option<String>,
    body: Vec<u8>,
    expected: u16,
}

#[tokio::test]
async fn bad_deliveries_get_their_4xx_and_change_nothing() {
    let app = spawn_app_with(|config| config.max_body_bytes = 64 * 1024).await;
    app.deliver_fixture("push", "seed", "push/with-new-branch.payload.json")
        .await;
    let before = app.dump();
    let deliveries_before = app.count("deliveries");

    let good = webhook_fixture("workflow_run/completed.payload.json");
    let signed =
        |body: &[u8]| buildboard::github::signature::sign(crate::helpers::SECRET.as_bytes(), body);
    let wrong_shape =
        bytes(&json!({"action": "completed", "workflow_run": {"id": "not a number"}}));
    let huge = vec![b' '; 100 * 1024];
    let case = |what: &'static str, expected: u16, body: &[u8]| BadCase {
        what,
        content_type: "application/json",
        event: Some("workflow_run"),
        delivery: Some(what),
        signature: Some(signed(body)),
        body: body.to_vec(),
        expected,
    };
    let cases = vec![
        BadCase {
            signature: None,
            ..case("no signature", 401, &good)
        },
        BadCase {
            signature: Some(buildboard::github::signature::sign(b"other", &good)),
            ..case("wrong signature", 401, &good)
        },
        BadCase {
            signature: Some("sha256=xyz".into()),
            ..case("malformed signature", 401, &good)
        },
        BadCase {
            signature: Some("sha1=7d38cdd689735b008b3c702edd92eea23791c5f6".into()),
            ..case("sha1 only", 401, &good)
        },
        case("malformed JSON", 400, b"{\"action\":"),
        case("wrong shape", 400, &wrong_shape),
        BadCase {
            content_type: "text/plain",
            ..case("wrong content type", 415, &good)
        },
        BadCase {
            event: None,
            ..case("missing event header", 400, &good)
        },
        BadCase {
            delivery: None,
            ..case("missing delivery header", 400, &good)
        },
        case("body over the limit", 413, &huge),
    ];
    for case in cases {
        let mut request = app
            .http
            .post(app.url("/webhook"))
            .header("content-type", case.content_type)
            .body(case.body);
        if let Some(event) = case.event {
            request = request.header("x-github-event", event);
        }
        if let Some(delivery) = case.delivery {
            request = request.header("x-github-delivery", delivery);
        }
        if let Some(signature) = case.signature {
            request = request.header("x-hub-signature-256", signature);
        }
        let response = request.send().await.unwrap();
        let what = case.what;
        assert_eq!(response.status().as_u16(), case.expected, "{what}");
        let error: Value = response.json().await.unwrap();
        assert!(
            error["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}: {error}"
        );
        if what == "wrong shape" {
            assert!(
                error["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("workflow_run.id"),
                "{error}"
            );
        }
    }
    assert_eq!(app.dump(), before, "no row written or changed");
    assert_eq!(app.count("deliveries"), deliveries_before);
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_event_is_acknowledged_with_202_and_not_stored() {
    let app = spawn_app().await;
    let response = app
        .post_webhook("issues", "i1", &webhook_fixture("push/payload.json"))
        .await;
    assert_eq!(response.status(), 202);
    assert_eq!(app.count("repos") + app.count("deliveries"), 0);
    app.stop().await;
}

/// The events of one run: requested, completed, and a job that ran, all from the fixtures.
fn run_events() -> Vec<(&'static str, Vec<u8>)> {
    let mut job_started = webhook_json("workflow_job/in_progress.payload.json");
    job_started["workflow_job"]["run_id"] = json!(RUN_ID);
    job_started["workflow_job"]["started_at"] = json!("2020-10-05T16:33:30Z");
    let mut job_done =
        webhook_json("workflow_job/completed.success.with-organization.payload.json");
    job_done["workflow_job"]["run_id"] = json!(RUN_ID);
    job_done["workflow_job"]["started_at"] = json!("2020-10-05T16:33:30Z");
    job_done["workflow_job"]["completed_at"] = json!("2020-10-05T16:33:48Z");
    vec![
        ("push", webhook_fixture("push/with-new-branch.payload.json")),
        (
            "workflow_run",
            webhook_fixture("workflow_run/requested.payload.json"),
        ),
        (
            "workflow_job",
            webhook_fixture("workflow_job/queued.payload.json"),
        ),
        ("workflow_job", bytes(&job_started)),
        ("workflow_job", bytes(&job_done)),
        (
            "workflow_run",
            webhook_fixture("workflow_run/completed.payload.json"),
        ),
    ]
}

#[tokio::test]
async fn duplicates_and_reverse_order_give_the_same_rows_as_in_order() {
    let in_order = spawn_app().await;
    for (i, (event, body)) in run_events().iter().enumerate() {
        in_order.deliver(event, &format!("d{i}"), body).await;
    }
    let expected = in_order.dump();
    assert!(expected.contains("\"completed\""), "{expected}");
    assert_eq!(in_order.count("workflowruns"), 1);
    let queue: i64 = in_order.row("SELECT queuetime FROM workflowruns");
    assert_eq!(queue, 6, "16:33:24 created, first job started 16:33:30");

    let reversed = spawn_app().await;
    for (i, (event, body)) in run_events().iter().enumerate().rev() {
        reversed.deliver(event, &format!("d{i}"), body).await;
    }
    assert_eq!(reversed.dump(), expected, "reverse order");

    let duplicated = spawn_app().await;
    for (i, (event, body)) in run_events().iter().enumerate() {
        duplicated.deliver(event, &format!("d{i}"), body).await;
        duplicated.deliver(event, &format!("d{i}"), body).await; // a redelivery: same id
        duplicated.deliver(event, &format!("again-{i}"), body).await; // the same state again
    }
    assert_eq!(duplicated.dump(), expected, "duplicates");
    assert_eq!(duplicated.count("deliveries"), 12);
    for app in [in_order, reversed, duplicated] {
        app.stop().await;
    }
}

#[tokio::test]
async fn a_newer_attempt_supersedes_an_older_one_and_a_late_old_event_does_not_regress_it() {
    let app = spawn_app().await;
    let mut failed = webhook_json("workflow_run/completed.payload.json");
    failed["workflow_run"]["conclusion"] = json!("failure");
    let mut rerun = webhook_json("workflow_run/requested.payload.json");
    rerun["workflow_run"]["run_attempt"] = json!(2);
    rerun["workflow_run"]["run_started_at"] = json!("2020-10-05T17:00:00Z");
    rerun["workflow_run"]["updated_at"] = json!("2020-10-05T17:00:00Z");

    app.deliver("workflow_run", "a1-done", &bytes(&failed))
        .await;
    app.deliver("workflow_run", "a2-requested", &bytes(&rerun))
        .await;
    app.deliver_fixture(
        "workflow_run",
        "a1-late",
        "workflow_run/requested.payload.json",
    )
    .await;

    let (attempt, status, conclusion): (i64, String, Option<String>) =
        app.row("SELECT runattempt, status, conclusion FROM workflowruns");
    assert_eq!((attempt, status.as_str(), conclusion), (2, "queued", None));
    let attempts: Vec<(i64, String, Option<String>)> = app
        .db()
        .prepare(
            "SELECT runattempt, status, conclusion FROM workflowrunattempts ORDER BY runattempt",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        attempts,
        vec![
            (1, "completed".into(), Some("failure".into())),
            (2, "queued".into(), None)
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn with_no_secret_configured_a_secret_is_generated_and_unsigned_deliveries_are_refused() {
    let app = spawn_app_with(|config| config.webhook_secret = None).await;
    let secret: String = app.row("SELECT value FROM settings WHERE key = 'webhook_secret'");
    assert!(secret.len() >= 32);
    let body = webhook_fixture("ping/payload.json");
    let unsigned = app
        .http
        .post(app.url("/webhook"))
        .header("content-type", "application/json")
        .header("x-github-event", "ping")
        .header("x-github-delivery", "u1")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    let signed = signed_delivery(&app.http, &app.url("/webhook"), &secret, "ping", "u2", body)
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 200);
    app.stop().await;
}
