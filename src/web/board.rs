//! The board pages and their static assets (embedded in the binary, so it runs from anywhere).

use warp::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use warp::{Filter, Rejection, Reply};

use super::{with_state, AppState, Error};
use crate::store::read;
use crate::views;

/// Runs shown on the first render of the board.
const BOARD_RUNS: u32 = 100;

/// `GET /`, `GET /static/...`.
pub fn routes(state: AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let board = warp::path::end()
        .and(warp::get())
        .and(state.limits.reads.filter())
        .and(with_state(state))
        .then(show_board);
    let assets = warp::path!("static" / String)
        .and(warp::get())
        .and_then(serve_asset);
    board.or(assets)
}

async fn show_board(state: AppState) -> Result<warp::reply::Html<String>, Error> {
    let builds = state
        .store
        .read(|conn| read::recent_builds(conn, BOARD_RUNS))
        .await?;
    Ok(warp::reply::html(views::board(&builds)?))
}

/// Files under `static/`, compiled in.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../static/app.css"),
    ),
];

async fn serve_asset(name: String) -> Result<impl Reply, Rejection> {
    let (_, content_type, body) = ASSETS
        .iter()
        .find(|(file, _, _)| *file == name)
        .ok_or_else(warp::reject::not_found)?;
    let reply = warp::reply::with_header(*body, CONTENT_TYPE, *content_type);
    Ok(warp::reply::with_header(reply, CACHE_CONTROL, "no-cache"))
}
