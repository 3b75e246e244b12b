//! HTTP routes. The submodules that answer requests (`webhook`, `ws`, `api`, `board`, `act`,
//! `claims`, `dispatch`, `cctray`, `transitions`, `settings`, `analysis`, ...) each expose `routes(state)`; the others serve them (`access`, `body`,
//! `error`, `host`, `limit`, `params`, `socket`). [`routes`] joins the routes and maps rejections.
//! The state every handler shares lives here, with the reads more than one route makes the same
//! way ([`SharedState::triage`]).

pub mod access;
pub mod act;
pub mod analysis;
pub mod api;
pub mod board;
pub mod body;
pub mod cctray;
pub mod claims;
pub mod dispatch;
pub mod error;
pub mod host;
pub mod installations;
pub mod limit;
pub mod params;
pub mod runs;
pub mod samples;
pub mod settings;
pub mod setup;
pub mod signin;
pub mod socket;
pub mod tokens;
pub mod transitions;
pub mod webhook;
pub mod ws;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use warp::{Filter, Rejection, Reply};

pub use error::Error;

use crate::config::Config;
use crate::hub::Hub;
use crate::ingest::Ingest;
use crate::scope::Viewer;
use crate::store::query::RunFilter;
use crate::store::{triage, Store};

/// Everything a handler needs, behind one reference count: every request clones the state of
/// its route, and one atomic increment is cheaper than one per field (the store's path, the hub's
/// shutdown token and its lock, ...).
#[derive(Clone)]
pub struct AppState(Arc<SharedState>);

impl AppState {
    pub fn new(shared: SharedState) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

/// What [`AppState`] shares.
pub struct SharedState {
    pub store: Store,
    pub hub: Hub,
    pub ingest: Ingest,
    pub config: Arc<Config>,
    /// How the board renders for everyone: which hosts' links are safe; the authors rule in it
    /// is the flags' (read [`SharedState::opts`], which has the rule of the moment).
    pub render_opts: crate::views::Opts,
    /// What an admin changes at `/settings` while the server runs: the watched branches, the
    /// authors rule, the notification targets.
    pub settings: crate::settings::Settings,
    /// The HMAC key deliveries are checked against; `None` only with `--insecure-allow-unsigned`.
    pub webhook_key: Option<Arc<[u8]>>,
    /// The shared answer of `/readyz`.
    pub readiness: Readiness,
    /// Which `Host` the board, the API and the feed answer (`--public-url`; DNS rebinding).
    pub hosts: host::Hosts,
    /// Who may read the board, the API and the feed, and what (`--board-token`, display and API
    /// tokens): each request's [`Viewer`].
    pub access: access::Access,
    /// Per-IP rate limits.
    pub limits: limit::Limits,
    /// Who may re-run and cancel runs, and the GitHub client they act through
    /// (`--operator-token`).
    pub act: act::Act,
    /// Webhook bodies in flight, before their signatures are checked (`--webhook-body-budget`).
    pub webhook_bodies: body::Budget,
    /// The board's rendered live parts, shared by every viewer until the next change.
    pub board_cache: board::Cache,
    /// The GitHub App (once `/setup` made it): credentials, installation tokens.
    pub github_app: crate::github::app::GitHubApp,
    /// The one-time code `/setup` asks for while no App is configured.
    pub setup_code: setup::SetupCode,
    /// Sign-in sessions (`/login`).
    pub sessions: signin::Sessions,
    /// Checks the Actions OIDC tokens of `POST /api/metrics` (`--actions-oidc-issuer`).
    pub oidc: crate::oidc::Verifier,
    /// Posts of samples per job in the current minute.
    pub post_limits: samples::PostLimits,
    /// People's admin rights as GitHub last said them (`/settings`).
    pub admins: settings::Admins,
    /// Job logs fetched on demand through the GitHub client, and cached (the run page's log).
    pub logs: crate::joblog::Logs,
    /// Posted samples waiting to share a transaction.
    pub pending_samples: samples::PendingSamples,
    /// The model analysis of a failed job (`--analysis-url`), off without it.
    pub analysis: crate::analysis::Analysis,
}

/// Now, in epoch seconds: the end of every window and the age of every red.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl SharedState {
    /// How the board renders now: [`SharedState::render_opts`] under the authors rule of the
    /// moment.
    pub fn opts(&self) -> crate::views::Opts {
        crate::views::Opts {
            privacy: self.settings.privacy(),
            ..self.render_opts
        }
    }

    /// The generation shared renders are keyed by: it moves with every published change and
    /// every change of the settings, so no part rendered under old settings is served.
    pub fn render_generation(&self) -> u64 {
        self.hub.generation() + self.settings.generation()
    }

    /// The names of `filter` that match nothing known, with suggestions (see
    /// [`crate::store::names::unknown`]), read on the store's own small pool for them, so that
    /// costly lookups never hold up the other reads.
    ///
    /// # Errors
    /// On a database error.
    pub async fn unknown_names(
        &self,
        filter: &RunFilter,
    ) -> Result<Vec<crate::store::names::UnknownName>, Error> {
        let filter = filter.clone();
        Ok(self
            .store
            .read_names(move |conn| crate::store::names::unknown(conn, &filter))
            .await?)
    }

    /// What triage (and the Wall) look at for `filter`: the watched branches, unless
    /// `all_branches` or a branch is named (naming one asks for it, watched or not); then every
    /// branch with a run within `--stale-after`.
    pub fn triage_scope(&self, all_branches: bool, filter: &RunFilter) -> triage::Scope {
        triage::Scope::choose(
            all_branches,
            !filter.branch.is_empty(),
            self.config.stale_after,
            now(),
        )
    }

    /// What is red for `filter` (its authors select incidents they caused or pushed into) within
    /// what `viewer` may read, in `order`, on the watched branches unless `all_branches` or a
    /// branch is named; with the scope it looked at. People are redacted as the viewer's authors
    /// rule says. The Triage page,
    /// `/api/triage` and the Developer view read triage this way, so they always agree (the Wall
    /// reads it in the same transaction as its tiles, with the same scope rule).
    ///
    /// # Errors
    /// On a database error.
    pub async fn triage(
        &self,
        viewer: &Viewer,
        filter: RunFilter,
        all_branches: bool,
        order: triage::Order,
    ) -> Result<(Vec<triage::Incident>, triage::Scope), Error> {
        let filter = viewer.restrict(filter);
        let scope = self.triage_scope(all_branches, &filter);
        let watched = self.settings.watched();
        let mut incidents = self
            .store
            .read(move |conn| {
                triage::triage(
                    conn,
                    &triage::Request {
                        filter: &filter,
                        watched: &watched,
                        scope,
                        order,
                    },
                )
            })
            .await?;
        for incident in &mut incidents {
            viewer.redact_incident(incident);
        }
        Ok((incidents, scope))
    }
}

/// How long one readiness answer serves later probes.
const READINESS_TTL: std::time::Duration = std::time::Duration::from_secs(1);
/// A probe that the writer does not answer within this long (a backlog of deliveries, a stuck
/// disk) reports "not ready".
const READINESS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// `/readyz` asks the ingest writer to commit a small write (a row of the `settings` table), which
/// proves the writer thread alive and the file writable: taking the write lock alone succeeds on
/// a full disk. It asks at most once per [`READINESS_TTL`]: concurrent and repeated probes share
/// the answer, so a flood of probes (the route is open and unlimited, for load balancers) cannot
/// break delivery groups apart or queue behind each other.
///
/// The probe only ever makes the answer worse: a delivery group that failed to store turns it to
/// "not ready" until a delivery group commits again, whatever the probes say meanwhile (a one-row
/// probe commits on a disk too full for a 20 KB delivery).
#[derive(Clone, Default)]
pub struct Readiness(Arc<tokio::sync::Mutex<Option<(std::time::Instant, bool)>>>);

/// The `settings` row the readiness probe writes.
const READINESS_PROBE_KEY: &str = "readiness_probe";

impl Readiness {
    /// Whether the database takes writes, asked of the writer or remembered from a moment ago.
    pub async fn check(&self, ingest: &Ingest) -> bool {
        let mut last = self.0.lock().await;
        if let Some((at, ready)) = *last {
            if at.elapsed() < READINESS_TTL {
                return ready && !ingest.last_group_failed();
            }
        }
        let probe = ingest.write(|conn| {
            conn.execute(
                "INSERT INTO settings (key, value) VALUES (?1, strftime('%s', 'now'))
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [READINESS_PROBE_KEY],
            )?;
            Ok(())
        });
        let ready = match tokio::time::timeout(READINESS_TIMEOUT, probe).await {
            Ok(Ok(())) => true,
            Ok(Err(err)) => {
                tracing::error!(cause = %err, "readiness check failed: the database takes no writes");
                false
            }
            Err(_) => {
                tracing::warn!(
                    timeout_s = READINESS_TIMEOUT.as_secs(),
                    "readiness check: the writer did not answer in time"
                );
                false
            }
        };
        *last = Some((std::time::Instant::now(), ready));
        // A failed group counts until a group commits, whatever the probe did.
        ready && !ingest.last_group_failed()
    }
}

/// Injects the state into a filter chain.
pub fn with_state(
    state: AppState,
) -> impl Filter<Extract = (AppState,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// A GET of `path` with its query and `Host` header (for the links a page carries to itself),
/// then the state: what the setup and sign-in pages take.
pub fn page_get(
    path: impl Filter<Extract = (), Error = Rejection> + Clone,
    state: &AppState,
) -> impl Filter<Extract = (HashMap<String, String>, Option<String>, AppState), Error = Rejection> + Clone
{
    path.and(warp::get())
        .and(warp::query::<HashMap<String, String>>())
        .and(warp::header::optional::<String>("host"))
        .and(with_state(state.clone()))
}

/// The Content-Security-Policy of every response: no inline script or style, no framing, and
/// nothing loaded from elsewhere but GitHub avatars.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: https://*.githubusercontent.com; connect-src 'self'; font-src 'self'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Security headers added to every response (the Content-Security-Policy separately).
fn security_headers() -> warp::http::HeaderMap {
    use warp::http::header::{self, HeaderValue};
    let mut headers = warp::http::HeaderMap::new();
    // The Content-Security-Policy is a default header (see `routes`): `/setup`'s manifest page
    // widens `form-action` to GitHub's host.
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers
}

/// `GET /healthz` (the process serves), `GET /readyz` (the database takes writes),
/// `GET /metrics` (Prometheus).
fn operations(
    state: AppState,
) -> impl Filter<Extract = (impl Reply,), Error = warp::Rejection> + Clone {
    let health = warp::path!("healthz").and(warp::get()).map(|| "ok");
    let ready = warp::path!("readyz")
        .and(warp::get())
        .and(with_state(state))
        .then(|state: AppState| async move {
            if state.readiness.check(&state.ingest).await {
                warp::reply::with_status("ready", warp::http::StatusCode::OK)
            } else {
                warp::reply::with_status(
                    "database not writable",
                    warp::http::StatusCode::SERVICE_UNAVAILABLE,
                )
            }
        });
    let metrics = warp::path!("metrics").and(warp::get()).map(|| {
        warp::reply::with_header(
            crate::counters::render(),
            "content-type",
            "text/plain; version=0.0.4",
        )
    });
    health.or(ready).or(metrics)
}

/// Every route, with rejections turned into JSON errors, security headers, and each request traced.
pub fn routes(state: AppState) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    // warp's `or` clones the alternatives it has not tried yet on every request; boxed, each
    // group of routes clones as one reference count instead of a tree of filters and states.
    let sign_in = access::sign_in(state.access.clone(), &state.limits.reads);
    // What a reader sees answers only this board's own host (see `host`); the other routes are
    // for GitHub, load balancers and scrapers, which name the server their own way.
    let for_this_host = host::allowed(state.hosts.clone()).boxed();
    // Pages hold the builds: no cache keeps them (on a private board, for another reader).
    let board = board::routes(state.clone()).with(warp::reply::with::default_header(
        "cache-control",
        "no-store",
    ));
    // Setup and sign-in are open: every reader route decides its viewer itself
    // (`access::with_viewer`), which `--access github` refuses without a session or a token.
    let setup = for_this_host
        .clone()
        .and(
            setup::routes(state.clone())
                .or(signin::routes(state.clone()))
                .or(settings::routes(state.clone())),
        )
        .boxed();
    let readers = transitions::routes(state.clone())
        .boxed()
        .or(ws::routes(state.clone()).boxed())
        .or(act::routes(state.clone()).boxed())
        .or(claims::routes(state.clone()).boxed())
        .or(dispatch::routes(state.clone()).boxed())
        .or(tokens::routes(state.clone()).boxed())
        .or(runs::routes(state.clone()).boxed())
        .or(analysis::routes(state.clone()).boxed())
        .or(samples::reads(state.clone()).boxed())
        .or(api::routes(state.clone()).boxed())
        .or(board.boxed());
    webhook::routes(state.clone())
        .boxed()
        // Jobs post from runners, which name the board by --public-url: authenticated by
        // their own tokens, not the board token.
        .or(samples::posts(state.clone()).boxed())
        .or(operations(state.clone()).boxed())
        .or(setup)
        // Before the token sign-in redirect: CCTray clients give `?token=` on every request.
        .or(for_this_host
            .clone()
            .and(cctray::routes(state.clone()))
            .boxed())
        .or(for_this_host.clone().and(sign_in).boxed())
        .or(for_this_host.and(readers).boxed())
        .recover(signin::recover)
        .recover(error::handle_rejection)
        .with(warp::reply::with::default_header(
            warp::http::header::CONTENT_SECURITY_POLICY,
            CONTENT_SECURITY_POLICY,
        ))
        .with(warp::reply::with::headers(security_headers()))
        .with(warp::trace::request())
}
