//! The demo's GitHub: a fake of the few REST endpoints the server calls, on loopback, so that the
//! demo's server reads its jobs' logs as it would GitHub's (`--github-api-url` points here).
//!
//! - `GET /repos/{o}/{r}/actions/jobs/{id}/logs` answers `302` to `/_logs/{id}` (GitHub sends a
//!   short-lived URL), which serves the job's log made by [`super::logs::job_log`] from the job
//!   and steps the demo's database holds; `404` for a job not stored or not completed.
//! - The reconciler's reads (`actions/runs`, `commits/{ref}/check-runs`, `commits/{ref}/status`)
//!   and check-run annotations answer empty: the organisation exists only in the demo's deliveries.
//! - Anything else: `404` with GitHub's error body.

use std::net::SocketAddr;

use serde_json::json;
use tokio::task::JoinHandle;
use warp::http::Response;
use warp::Filter;

use crate::run_state::Status;
use crate::store::{logs, runpage, Store};

/// Starts the fake on a free loopback port; returns its base URL and its task (abort it to stop).
///
/// # Errors
/// When no loopback port can be bound.
pub async fn start(store: Store) -> std::io::Result<(String, JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    let blob_store = store.clone();
    let blob = warp::path!("_logs" / i64)
        .and(warp::get())
        .then(move |id: i64| serve_log(blob_store.clone(), id));
    let api = warp::path("repos")
        .and(warp::path::tail())
        .and(warp::get())
        .map(|tail: warp::path::Tail| answer(tail.as_str()));
    let task = tokio::spawn(warp::serve(blob.or(api)).incoming(listener).run());
    Ok((format!("http://{addr}"), task))
}

/// An answer to `GET /repos/{tail}`.
fn answer(tail: &str) -> Response<String> {
    let parts: Vec<&str> = tail.split('/').collect();
    match parts.as_slice() {
        [_, _, "actions", "jobs", id, "logs"] => match id.parse::<i64>() {
            Ok(id) => Response::builder()
                .status(302)
                .header("location", format!("/_logs/{id}"))
                .body(String::new())
                .expect("a valid redirect"),
            Err(_) => not_found(),
        },
        [_, _, "actions", "runs"] => json_body(&json!({"total_count": 0, "workflow_runs": []})),
        [_, _, "commits", .., "check-runs"] => {
            json_body(&json!({"total_count": 0, "check_runs": []}))
        }
        [_, _, "commits", .., "status"] => {
            json_body(&json!({"sha": "0".repeat(40), "state": "success", "statuses": []}))
        }
        [_, _, "check-runs", _, "annotations"] => json_body(&json!([])),
        _ => not_found(),
    }
}

/// Job `id`'s log, from the demo's database.
async fn serve_log(store: Store, id: i64) -> Response<String> {
    let read = store
        .read(move |conn| {
            let Some(job) = logs::job(conn, id)? else {
                return Ok(None);
            };
            Ok(Some((job, runpage::steps(conn, id)?)))
        })
        .await;
    match read {
        Ok(Some((job, steps))) if job.status == Status::Completed => Response::builder()
            .header("content-type", "text/plain; charset=utf-8")
            .body(super::logs::job_log(id, &job.repo, &job.name, &steps))
            .expect("a valid answer"),
        _ => not_found(),
    }
}

fn json_body(body: &serde_json::Value) -> Response<String> {
    Response::builder()
        .header("content-type", "application/json; charset=utf-8")
        .body(body.to_string())
        .expect("a valid answer")
}

fn not_found() -> Response<String> {
    Response::builder()
        .status(404)
        .header("content-type", "application/json; charset=utf-8")
        .body(
            json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})
                .to_string(),
        )
        .expect("a valid answer")
}
