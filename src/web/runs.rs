//! A run in detail: `GET /api/runs/<id>`, the JSON of the run page (`/runs/<id>`, rendered by
//! `web::board`). Both read the run through [`read_run`], so they always say the same. Also the
//! runners' queues: `GET /api/runners`, which the Runners view and the Wall's queue tiles read
//! through [`read_queues`]. And a job's log: `GET /api/jobs/<id>/log`, read (as the run page's
//! log, `/jobs/<id>/log`) through [`read_log`].

use warp::{Filter, Rejection, Reply};

use super::{now, with_state, AppState, Error};
use crate::joblog::{ApiLog, JobLog};
use crate::scope::Viewer;
use crate::store::runners::{self, Queue};
use crate::store::runpage::{self, RunDetail};

/// `GET /api/runs/<id>` and `GET /api/runners`, behind the read rate limit and the board token.
pub fn routes(state: AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let run = warp::path!("api" / "runs" / i64)
        .and(warp::get())
        .and(state.limits.reads.filter())
        .and(super::access::with_viewer(state.access.clone()))
        .and(with_state(state.clone()))
        .then(|id: i64, viewer: Viewer, state: AppState| async move {
            read_run(&state, &viewer, id)
                .await
                .map(|detail| warp::reply::json(&detail).into_response())
        });
    let log = warp::path!("api" / "jobs" / i64 / "log")
        .and(warp::get())
        .and(state.limits.reads.filter())
        .and(super::access::with_viewer(state.access.clone()))
        .and(with_state(state.clone()))
        .then(|id: i64, viewer: Viewer, state: AppState| async move {
            read_log(&state, &viewer, id)
                .await
                .map(|log| warp::reply::json(&ApiLog::from(&log)).into_response())
        });
    let queues = warp::path!("api" / "runners")
        .and(warp::get())
        .and(state.limits.reads.filter())
        .and(super::access::with_viewer(state.access.clone()))
        .and(with_state(state))
        .then(|viewer: Viewer, state: AppState| async move {
            read_queues(&state, &viewer).await.map(|queues| {
                warp::reply::json(&serde_json::json!({ "queues": queues })).into_response()
            })
        });
    run.or(queues)
        .unify()
        .or(log)
        .unify()
        .with(warp::reply::with::default_header(
            "cache-control",
            "private, no-store",
        ))
}

/// The runners' queues now, the longest wait first; none for a reader of only some
/// repositories, as a queue mixes the jobs of every repository.
///
/// # Errors
/// On a database error.
pub async fn read_queues(state: &AppState, viewer: &Viewer) -> Result<Vec<Queue>, Error> {
    let viewer = viewer.clone();
    let now = now();
    Ok(state
        .store
        .read(move |conn| visible_queues(conn, &viewer, now))
        .await?)
}

/// The runners' queues at `now` that `viewer` may see: all of them for a reader of every
/// repository, none otherwise (see [`read_queues`]); for reads that hold a connection already.
///
/// # Errors
/// On a database error.
pub fn visible_queues(
    conn: &rusqlite::Connection,
    viewer: &Viewer,
    now: i64,
) -> crate::store::Result<Vec<Queue>> {
    if viewer.reads_all() {
        runners::queues(conn, now)
    } else {
        Ok(Vec::new())
    }
}

/// Run `id` in detail, with people removed as `--hide-authors` says.
///
/// # Errors
/// `404` for a run that is not stored; a database error.
pub async fn read_run(state: &AppState, viewer: &Viewer, id: i64) -> Result<RunDetail, Error> {
    let now = now();
    let mut detail = state
        .store
        .read(move |conn| runpage::detail(conn, id, now))
        .await?
        // A run of a repository the reader may not read answers as one that is not stored.
        .filter(|detail| viewer.may_read(&detail.run.repo))
        .ok_or_else(|| Error::NotFound(format!("no run with id {id}")))?;
    viewer.redact_detail(&mut detail);
    Ok(detail)
}

/// Job `id`'s log, cached or fetched now (see [`crate::joblog`]).
///
/// # Errors
/// `404` for a job that is not stored, or of a repository `viewer` may not read (the same
/// answer, so that it says nothing of what is there); a database error.
pub async fn read_log(state: &AppState, viewer: &Viewer, id: i64) -> Result<JobLog, Error> {
    let job = state
        .store
        .read(move |conn| crate::store::logs::job(conn, id))
        .await?
        .filter(|job| viewer.may_read(&job.repo))
        .ok_or_else(|| Error::NotFound(format!("no job with id {id}")))?;
    Ok(state
        .logs
        .read(&state.store, &state.ingest, job, now())
        .await?)
}
