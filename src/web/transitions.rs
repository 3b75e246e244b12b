//! `GET /api/transitions`: the changes of state of workflows on watched branches that
//! notifications are sent for (see [`crate::notify`]), for the board's own alerts (a sound, the
//! title and favicon of the TV): the same transitions, the same debounce.
//!
//! `?after=<id>` lists only newer ones (poll with the largest id seen), `limit=` (1–100, default
//! 20), and `repo=`, `branch=`, `workflow=` filter as on the board. Newest first:
//! `{"transitions": [{id, kind, repo, workflow, branch, run_id, notified, at}]}`.

use warp::{Filter, Rejection, Reply};

use super::params::Params;
use super::{with_state, AppState, Error};
use crate::scope::Viewer;
use crate::store::outbox;

type Query = Vec<(String, String)>;

/// `GET /api/transitions`, behind the read rate limit and the board token; only transitions of
/// repositories the viewer may read.
pub fn routes(state: AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    warp::path!("api" / "transitions")
        .and(warp::get())
        .and(state.limits.reads.filter())
        .and(super::access::with_viewer(state.access.clone()))
        .and(warp::query::<Query>())
        .and(with_state(state))
        .then(|viewer: Viewer, query: Query, state: AppState| async move {
            list(&viewer, query, state).await.map_or_else(
                |err| err.into_response(),
                |reply| {
                    warp::reply::with_header(reply, "cache-control", "private, no-store")
                        .into_response()
                },
            )
        })
}

async fn list(viewer: &Viewer, query: Query, state: AppState) -> Result<warp::reply::Json, Error> {
    let params = Params::parse(query, &[&["repo", "branch", "workflow", "after", "limit"]])?;
    let filter = viewer.restrict(params.run_filter()?);
    let limit = params.number("limit", 1, 100)?.unwrap_or(20);
    let after = params.number("after", 0, u32::MAX)?.unwrap_or(0);
    let rows = state
        .store
        .read(move |conn| outbox::transitions(conn, &filter, i64::from(after), limit))
        .await?;
    Ok(warp::reply::json(
        &serde_json::json!({ "transitions": rows }),
    ))
}
