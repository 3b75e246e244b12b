//! The JSON API: `GET /api/builds`.

use serde::{Deserialize, Serialize};
use warp::{Filter, Rejection, Reply};

use super::{with_state, AppState, Error};
use crate::store::model::Build;
use crate::store::read;

/// Default and largest page size.
const DEFAULT_PER_PAGE: u32 = 30;
const MAX_PER_PAGE: u32 = 100;

/// `GET /api/builds`.
pub fn routes(state: AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    warp::path!("api" / "builds")
        .and(warp::get())
        .and(warp::query::<BuildsQuery>())
        .and(with_state(state))
        .then(list_builds)
}

#[derive(Debug, Deserialize)]
struct BuildsQuery {
    per_page: Option<u32>,
}

#[derive(Serialize)]
struct BuildsPage {
    builds: Vec<Build>,
}

async fn list_builds(query: BuildsQuery, state: AppState) -> Result<warp::reply::Json, Error> {
    let per_page = query.per_page.unwrap_or(DEFAULT_PER_PAGE);
    if !(1..=MAX_PER_PAGE).contains(&per_page) {
        return Err(Error::bad_request(
            "invalid_parameter",
            format!("per_page must be between 1 and {MAX_PER_PAGE}"),
        ));
    }
    let builds = state
        .store
        .read(move |conn| read::recent_builds(conn, per_page))
        .await?;
    Ok(warp::reply::json(&BuildsPage { builds }))
}
