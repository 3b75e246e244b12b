//! A run in detail: `GET /api/runs/<id>`, the JSON of the run page (`/runs/<id>`, rendered by
//! `web::board`). Both read the run through [`read_run`], so they always say the same.

use warp::{Filter, Rejection, Reply};

use super::{now, with_state, AppState, Error};
use crate::store::runpage::{self, RunDetail};

/// `GET /api/runs/<id>`, behind the read rate limit and the board token.
pub fn routes(state: AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let run = warp::path!("api" / "runs" / i64)
        .and(warp::get())
        .and(state.limits.reads.filter())
        .and(super::access::reader(state.access.clone()))
        .and(with_state(state))
        .then(|id: i64, state: AppState| async move {
            read_run(&state, id)
                .await
                .map(|detail| warp::reply::json(&detail).into_response())
        });
    run.with(warp::reply::with::default_header(
        "cache-control",
        "private, no-store",
    ))
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
