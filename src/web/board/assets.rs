//! The board's static files (`/static/<name>`), compiled into the binary so it runs from
//! anywhere.

use warp::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use warp::{Rejection, Reply};

/// Files under `static/`, compiled in.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "tv.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../static/tv.js"),
    ),
    (
        "error.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../static/error.js"),
    ),
    (
        "red.svg",
        "image/svg+xml",
        include_str!("../../../static/red.svg"),
    ),
    (
        "green.svg",
        "image/svg+xml",
        include_str!("../../../static/green.svg"),
    ),
    (
        "grey.svg",
        "image/svg+xml",
        include_str!("../../../static/grey.svg"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../static/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../../static/app.css"),
    ),
    (
        "act.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../static/act.js"),
    ),
    (
        "log.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../static/log.js"),
    ),
    (
        "act.css",
        "text/css; charset=utf-8",
        include_str!("../../../static/act.css"),
    ),
];

pub(super) async fn serve_asset(name: String) -> Result<impl Reply, Rejection> {
    let (_, content_type, body) = ASSETS
        .iter()
        .find(|(file, _, _)| *file == name)
        .ok_or_else(warp::reject::not_found)?;
    let reply = warp::reply::with_header(*body, CONTENT_TYPE, *content_type);
    Ok(warp::reply::with_header(reply, CACHE_CONTROL, "no-cache"))
}
