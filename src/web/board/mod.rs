//! The board: the Wall (`/`, also `/wall`: a newcomer's first page answers "is anything
//! broken?" at any scale), Waterfall (`/waterfall`), Triage (`/triage`) and Developer
//! (`/developer`, `/developer/<login>`) views, the run page (`/runs/<id>`) and a job's log
//! (`/jobs/<id>/log`), Runners (`/runners`), their static assets (embedded in the binary, so it
//! runs from anywhere), and the HTML error page every other board address gets.
//!
//! Here: the routes and how a view answers ([`respond`]). [`query`] parses what a view is asked
//! for and builds its links back; [`pages`] reads and renders each view; [`cache`] shares renders
//! between viewers; [`assets`] serves `static/`.
//!
//! Every view takes the same query parameters, so a view can be bookmarked and shared:
//! - `repo`, `branch`, `workflow`, `author`: filters, each taking several values (repeated or
//!   comma-separated); branches also take globs (`release/*`), workflow names any case. A name
//!   that matches nothing known is said so on the page, with the closest known name;
//! - `window`: `24h` (default), `7d` or `30d`, the span the figures cover;
//! - `tv=1`: TV mode; `rotate=N` seconds per view (default 15; the Wall, the answer, four times
//!   that; `0` stays put); `views=` the rotation (default `wall,triage`, Triage only while
//!   something is red; `waterfall`, `developer` when asked); `page=N` seconds per page of a long
//!   list (default 8); `sound=1` a short sound on a new break and on a fix (docs/board.md has
//!   the rotation's rules);
//! - `part=live` / `part=hud`: only the live part of the page, which the page fetches to refresh
//!   itself; `part=state` (on `/wall`): the Wall's counts and red tiles as JSON, which every page
//!   reads for its title, its icon and to notice a new break. Parts are rendered once per
//!   published change and shared by every viewer of the same URL who may read the same
//!   repositories (see [`Cache`]), so a hundred screens on one view cost one render per change.
//!
//! Every view reads through the request's [`crate::scope::Viewer`]: its filter carries the
//! viewer's repositories, so a view shows (and counts) only what they may read.

mod assets;
mod cache;
mod pages;
mod query;

use std::future::Future;
use std::sync::Arc;

use warp::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use warp::{Filter, Rejection, Reply};

pub use cache::Cache;
use query::{BoardQuery, Part};

use super::{with_state, AppState, Error};
use crate::views;

/// `GET /` and `/wall` (the Wall), `/waterfall`, `/triage`, `/developer`, `/developer/<login>`, `/static/...`, and the HTML
/// error page for any other address.
pub fn routes(state: AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let query = warp::query::<Vec<(String, String)>>();
    // After the path filters: only requests for these pages spend the read budget, and then show
    // the board token when there is one.
    let gate = state
        .limits
        .reads
        .filter()
        .and(super::access::with_viewer(state.access.clone()));
    // What every page route takes after its path: a GET, through the gate, with its query.
    let page = warp::get()
        .and(gate.clone())
        .and(query)
        .and(with_state(state));
    let home = page_route(warp::path::end(), page.clone(), pages::show_wall);
    let waterfall = page_route(
        warp::path!("waterfall"),
        page.clone(),
        pages::show_waterfall,
    );
    let triage = page_route(warp::path!("triage"), page.clone(), pages::show_triage);
    let people = page_route(warp::path!("developer"), page.clone(), pages::show_people);
    let developer = warp::path!("developer" / String)
        .and(page.clone())
        .then(pages::show_developer)
        .map(as_page);
    let run = warp::path!("runs" / i64)
        .and(page.clone())
        .then(pages::show_run)
        .map(as_page);
    let job_log = warp::path!("jobs" / i64 / "log")
        .and(page.clone())
        .then(pages::show_job_log)
        .map(as_page);
    let runners = page_route(warp::path!("runners"), page.clone(), pages::show_runners);
    let wall = page_route(warp::path!("wall"), page.clone(), pages::show_wall);
    let assets = warp::path!("static" / String)
        .and(warp::get())
        .and(warp::header::optional::<String>("if-none-match"))
        .and_then(assets::serve_asset);
    // Last: any other address a person might type gets the HTML error page, not JSON.
    let unknown = warp::get()
        .and(warp::path::full())
        .and_then(|path: warp::path::FullPath| async move {
            if is_known_path(path.as_str()) {
                Err(warp::reject::not_found())
            } else {
                Ok(path)
            }
        })
        .and(gate)
        .map(|path, _: crate::scope::Viewer| unknown_page(path));
    home.or(waterfall)
        .or(triage)
        .or(people)
        .or(developer)
        .or(wall)
        .or(run)
        .or(job_log)
        .or(runners)
        .or(assets)
        .or(unknown)
}

fn rendered(result: askama::Result<String>) -> Result<String, Error> {
    result.map_err(|err| Error::Internal(anyhow::Error::new(err).context("rendering a view")))
}

/// Answers with a page, or with a part from the shared cache.
async fn respond<F, Fut>(
    state: &AppState,
    query: &BoardQuery,
    path: &str,
    render: F,
) -> Result<warp::reply::Response, Error>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<String, Error>>,
{
    let html: Arc<str> = if query.part == Part::Page {
        Arc::from(render().await?)
    } else {
        // One render per scope: viewers who may read the same repositories share it.
        let key = format!(
            "{} {}",
            query.viewer.scope_key(),
            query.url(path, query.window, query.part)
        );
        state
            .board_cache
            .get_or_render(key, state.render_generation(), render)
            .await?
    };
    let mut reply = warp::reply::html(html.to_string()).into_response();
    if query.part == Part::State {
        reply.headers_mut().insert(
            CONTENT_TYPE,
            warp::http::HeaderValue::from_static("application/json"),
        );
    }
    Ok(warp::reply::with_header(reply, CACHE_CONTROL, "no-store").into_response())
}

/// The route of a page at `path` that takes no value from it: `handler` answers, as a page.
fn page_route<P, A, H, Fut>(
    path: P,
    page: A,
    handler: H,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone
where
    P: Filter<Extract = (), Error = Rejection> + Clone + Send + Sync,
    A: Filter<Extract = (crate::scope::Viewer, Vec<(String, String)>, AppState), Error = Rejection>
        + Clone
        + Send
        + Sync,
    H: Fn(crate::scope::Viewer, Vec<(String, String)>, AppState) -> Fut + Clone + Send + Sync,
    Fut: Future<Output = Result<warp::reply::Response, Error>> + Send,
{
    path.and(page).then(handler).map(as_page)
}

/// A page's answer, its error as the HTML error page (the API answers errors in JSON).
fn as_page(result: Result<warp::reply::Response, Error>) -> warp::reply::Response {
    result.unwrap_or_else(Error::into_page)
}

/// Paths the board's own routes, the API, the feed and operations answer: not "unknown".
fn is_known_path(path: &str) -> bool {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    path == "/"
        || matches!(
            first,
            "wall"
                | "waterfall"
                | "triage"
                | "developer"
                | "runs"
                | "jobs"
                | "runners"
                | "static"
                | "api"
                | "ws"
                | "webhook"
                | "healthz"
                | "readyz"
                | "metrics"
        )
}

/// Any other address: the HTML error page, `404`.
fn unknown_page(path: warp::path::FullPath) -> warp::reply::Response {
    Error::NotFound(format!(
        "There is no board page at {}.",
        views::cut(path.as_str(), 80)
    ))
    .into_page()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_addresses_nothing_answers_get_the_error_page() {
        for known in [
            "/",
            "/wall",
            "/waterfall",
            "/triage",
            "/developer/bob",
            "/api/nope",
            "/static/x.js",
        ] {
            assert!(is_known_path(known), "{known}");
        }
        for unknown in ["/wal", "/favicon.ico", "/tv/wall"] {
            assert!(!is_known_path(unknown), "{unknown}");
        }
    }
}
