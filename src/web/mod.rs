//! HTTP routes. Each submodule exposes `routes(state)`; [`routes`] joins them and maps rejections.

pub mod api;
pub mod board;
pub mod error;
pub mod webhook;
pub mod ws;

use std::convert::Infallible;
use std::sync::Arc;

use warp::{Filter, Reply};

pub use error::Error;

use crate::config::Config;
use crate::hub::Hub;
use crate::ingest::Ingest;
use crate::store::Store;

/// Everything a handler needs; clones are shallow.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub hub: Hub,
    pub ingest: Ingest,
    pub config: Arc<Config>,
    /// The HMAC key deliveries are checked against; `None` only with `--insecure-allow-unsigned`.
    pub webhook_key: Option<Arc<[u8]>>,
    /// The board's rendered live parts, shared by every viewer until the next change.
    pub board_cache: board::Cache,
}

/// Injects the state into a filter chain.
pub fn with_state(
    state: AppState,
) -> impl Filter<Extract = (AppState,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// Every route, with rejections turned into JSON errors and each request traced.
pub fn routes(state: AppState) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let health = warp::path!("healthz").and(warp::get()).map(|| "ok");
    health
        .or(webhook::routes(state.clone()))
        .or(ws::routes(state.clone()))
        .or(api::routes(state.clone()))
        .or(board::routes(state))
        .recover(error::handle_rejection)
        .with(warp::trace::request())
}
