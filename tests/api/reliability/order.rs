//! Order and duplicates, as a property: the events of several runs (every run action, several
//! attempts, every job action) delivered in any order, with redeliveries under the same delivery
//! id and re-sends under new ones, leave exactly the rows that in-order delivery leaves.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, webhook_json};

/// 2021-01-01T00:00:00Z: the model's first run is created then.
const BASE: i64 = 1_609_459_200;

/// One run of the model: how many attempts it has, how many jobs each attempt runs, and whether
/// each attempt fails.
#[derive(Debug, Clone)]
struct RunModel {
    jobs: i64,
    failed: Vec<bool>,
}

fn run_model() -> impl Strategy<Value = RunModel> {
    (1..=2_i64, prop::collection::vec(any::<bool>(), 1..=2))
        .prop_map(|(jobs, failed)| RunModel { jobs, failed })
}

fn time(epoch: i64) -> Value {
    json!(chrono::DateTime::from_timestamp(epoch, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// Every event of `runs`, in the order GitHub sends them, as (event header, body). Run `r` has id
/// `9000 + r`; attempt `a` starts 1000 s after attempt `a - 1`; its states have increasing
/// `updated_at`; job `j` of attempt `a` has its own id (GitHub gives re-run jobs new ids), is
/// created 1 s after the attempt starts (with `started_at` = `created_at` while queued, as GitHub
/// sends it), starts at 5 + j s and completes at 90 s.
fn events(runs: &[RunModel]) -> Vec<(&'static str, Vec<u8>)> {
    let run_fixture = webhook_json("workflow_run/completed.payload.json");
    let job_fixture = webhook_json("workflow_job/in_progress.payload.json");
    let mut out = Vec::new();
    for (r, model) in runs.iter().enumerate() {
        let run_id = 9000 + r as i64;
        let created = BASE + r as i64 * 10_000;
        let sha = format!("{run_id:040x}");
        let run_event = |attempt: i64, action: &str, updated: i64, conclusion: Value| {
            let mut payload = run_fixture.clone();
            payload["action"] = json!(action);
            let run = &mut payload["workflow_run"];
            run["id"] = json!(run_id);
            run["run_number"] = json!(run_id);
            run["run_attempt"] = json!(attempt);
            run["head_sha"] = json!(sha);
            run["head_commit"]["id"] = json!(sha);
            run["status"] = json!(match action {
                "requested" => "queued",
                other => other,
            });
            run["conclusion"] = conclusion;
            run["created_at"] = time(created);
            run["run_started_at"] = time(created + (attempt - 1) * 1000);
            run["updated_at"] = time(updated);
            ("workflow_run", serde_json::to_vec(&payload).unwrap())
        };
        let job_event = |attempt: i64, j: i64, action: &str, conclusion: Value| {
            let start = created + (attempt - 1) * 1000;
            let mut payload = job_fixture.clone();
            payload["action"] = json!(action);
            payload["repository"] = run_fixture["repository"].clone();
            let job = &mut payload["workflow_job"];
            job["id"] = json!(run_id * 100 + attempt * 10 + j);
            job["run_id"] = json!(run_id);
            job["run_attempt"] = json!(attempt);
            job["name"] = json!(format!("job {j}"));
            job["workflow_name"] = run_fixture["workflow"]["name"].clone();
            job["head_sha"] = json!(sha);
            job["status"] = json!(action);
            job["conclusion"] = conclusion;
            job["created_at"] = time(start + 1);
            job["steps"] = json!([]);
            if action == "queued" {
                job["started_at"] = time(start + 1);
                job["completed_at"] = Value::Null;
                for field in [
                    "runner_id",
                    "runner_name",
                    "runner_group_id",
                    "runner_group_name",
                ] {
                    job[field] = Value::Null;
                }
            } else {
                job["started_at"] = time(start + 5 + j);
                job["completed_at"] = if action == "completed" {
                    time(start + 90)
                } else {
                    Value::Null
                };
                job["runner_name"] = json!(format!("runner {j}"));
            }
            ("workflow_job", serde_json::to_vec(&payload).unwrap())
        };
        for (index, failed) in model.failed.iter().enumerate() {
            let attempt = index as i64 + 1;
            let start = created + (attempt - 1) * 1000;
            let conclusion = json!(if *failed { "failure" } else { "success" });
            out.push(run_event(attempt, "requested", start, Value::Null));
            out.push(run_event(attempt, "in_progress", start + 10, Value::Null));
            for action in ["queued", "in_progress"] {
                for j in 0..model.jobs {
                    out.push(job_event(attempt, j, action, Value::Null));
                }
            }
            for j in 0..model.jobs {
                out.push(job_event(attempt, j, "completed", conclusion.clone()));
            }
            out.push(run_event(attempt, "completed", start + 100, conclusion));
        }
    }
    out
}

/// A scenario: the model, and the deliveries as (event index, delivery id) in arrival order.
fn scenario() -> impl Strategy<Value = (Vec<RunModel>, Vec<(usize, String)>)> {
    prop::collection::vec(run_model(), 1..=3)
        .prop_flat_map(|runs| {
            let n = events(&runs).len();
            let duplicates = prop::collection::vec((0..n, any::<bool>()), 0..=n);
            (Just(runs), Just(n), duplicates)
        })
        .prop_flat_map(|(runs, n, duplicates)| {
            let mut deliveries: Vec<(usize, String)> =
                (0..n).map(|i| (i, format!("event-{i}"))).collect();
            for (k, (i, same_id)) in duplicates.into_iter().enumerate() {
                let id = if same_id {
                    format!("event-{i}") // a redelivery
                } else {
                    format!("event-{i}-resent-{k}") // the same event sent again
                };
                deliveries.push((i, id));
            }
            (Just(runs), Just(deliveries).prop_shuffle())
        })
}

/// Delivers `deliveries` of `events` one after the other and returns the resulting rows.
async fn rows_after(events: &[(&'static str, Vec<u8>)], deliveries: &[(usize, String)]) -> String {
    let app = spawn_app().await;
    for (index, delivery) in deliveries {
        let (event, body) = &events[*index];
        app.deliver(event, delivery, body).await;
    }
    let rows = app.dump();
    app.stop().await;
    rows
}

#[test]
fn any_order_with_any_duplicates_leaves_the_rows_of_in_order_delivery() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut runner = TestRunner::new(Config {
        cases: 20,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&scenario(), |(runs, deliveries)| {
            let events = events(&runs);
            let in_order: Vec<_> = (0..events.len())
                .map(|i| (i, format!("event-{i}")))
                .collect();
            let (expected, actual) = runtime.block_on(async {
                (
                    rows_after(&events, &in_order).await,
                    rows_after(&events, &deliveries).await,
                )
            });
            prop_assert!(expected.contains("workflowjobs"), "the model makes jobs");
            prop_assert_eq!(expected, actual, "runs {:?}", runs);
            Ok(())
        })
        .unwrap();
}
