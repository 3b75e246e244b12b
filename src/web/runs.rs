//! A run in detail: `GET /api/runs/<id>`, the JSON of the run page (`/runs/<id>`, rendered by
//! `web::board`). Both read the run through [`read_run`], so they always say the same. Also the
//! runners' queues: `GET /api/runners`, which the Runners view and the Wall's queue tiles read
//! through [`read_queues`].

use warp::{Filter, Rejection, Reply};

use super::{now, with_state, AppState, Error};
use crate::store::runners::{self, Queue};
use crate::store::runpage::{self, RunDetail};

/// `GET /api/runs/<id>` and `GET /api/runners`, behind the read rate limit and the board token.
pub fn routes(state: AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let run = warp::path!("api" / "runs" / i64)
        .and(warp::get())
        .and(state.limits.reads.filter())
        .and(super::access::reader(state.access.clone()))
        .and(with_state(state.clone()))
        .then(|id: i64, state: AppState| async move {
            read_run(&state, id)
                .await
                .map(|detail| warp::reply::json(&detail).into_response())
        });
    let queues = warp::path!("api" / "runners")
        .and(warp::get())
        .and(state.limits.reads.filter())
        .and(super::access::reader(state.access.clone()))
        .and(with_state(state))
        .then(|state: AppState| async move {
            read_queues(&state).await.map(|queues| {
                warp::reply::json(&serde_json::json!({ "queues": queues })).into_response()
            })
        });
    run.or(queues)
        .unify()
        .with(warp::reply::with::default_header(
            "cache-control",
            "private, no-store",
        ))
}

/// The runners' queues now, the longest wait first.
///
/// # Errors
/// On a database error.
pub async fn read_queues(state: &AppState) -> Result<Vec<Queue>, Error> {
    let now = now();
    Ok(state
        .store
        .read(move |conn| runners::queues(conn, now))
        .await?)
}

/// Run `id` in detail, with people removed as `--hide-authors` says.
///
/// # Errors
/// `404` for a run that is not stored; a database error.
pub async fn read_run(state: &AppState, id: i64) -> Result<RunDetail, Error> {
    let now = now();
    let mut detail = state
        .store
        .read(move |conn| runpage::detail(conn, id, now))
        .await?
        .ok_or_else(|| Error::NotFound(format!("no run with id {id}")))?;
    state.opts.privacy.redact_detail(&mut detail);
    Ok(detail)
}
