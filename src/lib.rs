//! buildboard: a realtime build board for GitHub Actions.
//!
//! # Layout (the README's "Code map" says the same)
//! - [`config`] — settings (flags and environment variables); [`secret`] — strings never logged.
//! - [`run_state`] — the one vocabulary of run states: statuses, conclusions, what is red.
//! - [`source`] — where runs come from (Actions, check runs, commit statuses) and how a source
//!   plugs in.
//! - [`watch`] — watched branches: each default branch and `--watch-branches` globs.
//! - [`settings`] — what an admin changes at `/settings` while the server runs (watched branches,
//!   author hiding, notification targets), carried to every reader by one watch channel.
//! - [`scope`] — the per-request [`scope::Viewer`]: the repositories a reader may see and the
//!   authors rule (`--hide-authors`), applied where data leaves the store, the feed and the cache.
//! - [`github`] — webhook signatures and payloads; the REST client; the GitHub App (manifest,
//!   JWT, installation tokens) and sign-in with GitHub.
//! - [`store`] — the SQLite database: schema, migrations, every SQL statement (writes, reads,
//!   filters, figures, triage, reports of other sources, log failures).
//! - [`ingest`] — verified events → one group-committing writer → publisher; other writes queue
//!   behind deliveries on the same writer. It knows the store; the rest plugs in via its traits.
//! - [`feed`] — the WebSocket feed's protocol: what each message is and how it is built.
//! - [`hub`] — fan-out of built messages to WebSocket clients; shutdown signal.
//! - [`housekeeping`] — planner statistics and retention, in the background.
//! - [`backfill`] — history from GitHub's REST API (`init_db`) and the server's reconciliation.
//! - [`failure`] — why a job failed, from its log: rules, signatures, excerpts (pure).
//! - [`joblog`] — a job's log on demand for the run page: fetched, kept within bounds, cached.
//! - [`log_fetch`] — failed jobs' logs fetched in the background (bounded queue) and explained.
//! - [`analysis`] — the optional model analysis of a failed job (`--analysis-url`): what is sent
//!   (the evidence only), the OpenAI-compatible request, its bounds and errors.
//! - [`oidc`] — GitHub Actions OIDC tokens: the issuer's keys, checking a job's token.
//! - [`notify`] — transitions of watched workflows detected in the writer's transaction, and runner
//!   queues over `--queue-alert` found by a periodic check, queued in an outbox and sent to chat and
//!   webhook targets in the background.
//! - [`serve`] — accepting and driving connections: timeouts, the connection cap.
//! - [`web`] — HTTP routes: `/webhook`, `/ws`, `/api/...`, the board; one query parser for the
//!   API (strict) and the pages (lenient); `/setup` (the App from a manifest), installation
//!   deliveries, `/login` and sessions.
//! - [`views`] — HTML templates: the board's pages and the fragments live updates carry.
//! - [`counters`] — Prometheus counters for operators (`GET /metrics`).
//! - [`telemetry`] — logging.
//! - [`wiring`] — how the writer, the feed, the log fetcher and the notifier plug into each
//!   other through their own traits, so that none imports the others.
//! - [`demo`] — a simulated organisation posting realistic deliveries (`buildboard demo`).
//!
//! [`App::build`] opens everything and binds the listener; [`App::run`] serves until shutdown.
#![forbid(unsafe_code)]

pub mod analysis;
pub mod backfill;
pub mod config;
pub mod counters;
pub mod demo;
pub mod failure;
pub mod feed;
pub mod github;
pub mod housekeeping;
pub mod hub;
pub mod ingest;
pub mod joblog;
pub mod log_fetch;
pub mod notify;
pub mod oidc;
pub mod run_state;
pub mod scope;
pub mod secret;
pub mod serve;
pub mod settings;
pub mod source;
pub mod store;
pub mod telemetry;
pub mod views;
pub mod watch;
pub mod web;
pub mod wiring;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use backfill::Reconciler;
use github::client::{Client, ClientConfig};
use rand::RngCore;
use tokio::net::TcpListener;
use tracing::{info, warn};

use config::Config;
use hub::Hub;
use ingest::{Ingest, Writer};
use store::Store;
use web::AppState;

/// Where a generated webhook secret is kept in the `settings` table.
pub const WEBHOOK_SECRET_SETTING: &str = "webhook_secret";
/// A board token shorter than this draws a warning at start.
const MIN_BOARD_TOKEN_CHARS: usize = 16;
/// How long shutdown waits for WebSocket clients to take their close frames.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// The newest jobs looked through at start-up for failures the last run never explained.
const UNEXPLAINED_SCAN: u32 = 20_000;

/// Binds `addr` for serving. Accepted connections inherit `TCP_NODELAY` from the listener (on
/// Linux), so a feed message or a response goes out at once instead of waiting, under Nagle's
/// algorithm, for the client's (possibly delayed) acknowledgement of the previous one.
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As std's `TcpListener::bind` does on Unix (elsewhere it would let another process share the port).
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// A built server: database open, writer running, listener bound.
pub struct App {
    listener: TcpListener,
    state: AppState,
    writer: Writer,
    /// How connections are served: timeouts and the cap.
    serving: serve::Options,
    /// Polls GitHub for runs the webhooks missed; `None` without a GitHub token.
    reconciler: Option<Reconciler>,
    /// The GitHub client, shared by the reconciler, the log fetcher and operators' actions; `None`
    /// without a token.
    github: Option<Arc<Client>>,
    /// The notification targets and the sender's wake-up, shared with the writer's detector.
    notify: (notify::Targets, Arc<tokio::sync::Notify>),
    /// Where the writer hands failed jobs, once `run` has a log fetcher.
    explainer: wiring::Explainer,
}

impl App {
    /// Opens the database, starts the writer and binds `config.listen` (port 0 picks a free port).
    ///
    /// # Errors
    /// When the database cannot be opened or migrated, the secret cannot be read, or the address
    /// cannot be bound.
    pub async fn build(mut config: Config) -> anyhow::Result<Self> {
        check_body_budget(&config)?;
        let serving = serving_options(&mut config);
        let store = Store::open(&config.db)
            .with_context(|| format!("opening the database {}", config.db.display()))?;
        let webhook_key = resolve_webhook_key(&config, &store)?;
        let app_row = store.read(store::app::load_app).await?;
        check_access_mode(&config, app_row.is_some())?;
        let setup_code = web::setup::SetupCode::new(app_row.is_none());
        let github_app = github::app::GitHubApp::new(&config.github_api_url, app_row);
        let github = github_client(&config, &github_app)?;
        let hub = Hub::new();
        let opts = view_options(&config);
        let notify = notify_parts(&config)?;
        let settings = live_settings(&config, &store, &notify.0).await?;
        let reconciler = github
            .clone()
            .map(|client| Reconciler::new(client, config.reconcile_interval, settings.clone()));
        let explainer = wiring::Explainer::default();
        let hooks = writer_hooks(&config, &hub, opts, &notify, &explainer, &settings);
        let (ingest, writer) =
            Ingest::start(&store, hooks).context("starting the ingest writer")?;
        let listener =
            listen(config.listen).with_context(|| format!("binding {}", config.listen))?;
        announce_setup(&setup_code, &config, &listener)?;
        let sessions = web::signin::Sessions::new(
            store.clone(),
            ingest.clone(),
            github_app.clone(),
            &config.github_url,
        );
        let access = access(&config, &store, &settings, &github_app, &sessions).await?;
        let act = operators(&config, github.clone())?;
        let oidc = oidc_verifier(&config);
        let state = AppState::new(web::SharedState {
            readiness: web::Readiness::default(),
            hosts: web::host::Hosts::new(config.public_url.as_ref(), config.listen),
            access,
            store,
            hub,
            ingest,
            render_opts: opts,
            settings,
            webhook_key,
            limits: rate_limits(&config),
            act,
            board_cache: web::board::Cache::default(),
            webhook_bodies: web::body::Budget::new(
                config.webhook_body_budget,
                config.max_body_bytes,
                config.body_timeout,
            ),
            github_app,
            setup_code,
            sessions,
            oidc,
            post_limits: web::samples::PostLimits::default(),
            admins: web::settings::Admins::default(),
            logs: job_logs(&config, github.clone()),
            pending_samples: web::samples::PendingSamples::default(),
            analysis: model_analysis(&config)?,
            config: Arc::new(config),
        });
        Ok(Self {
            listener,
            state,
            writer,
            serving,
            reconciler,
            github,
            notify,
            explainer,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has a local address")
    }

    /// Serves until `shutdown` completes, then drains: in-flight requests finish, WebSocket clients
    /// get a close frame, and every acknowledged delivery is committed before this returns.
    ///
    /// # Errors
    /// Only if shutdown itself fails.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self {
            listener,
            state,
            writer,
            serving,
            reconciler,
            github,
            notify: (_, wake),
            explainer,
        } = self;
        let hub = state.hub.clone();
        let token = hub.shutdown_token();
        web::installations::resume(&state)
            .await
            .map_err(|err| anyhow::anyhow!("resuming the App's installations: {err}"))?;
        // Failed jobs are explained from their logs when there is a token to read them with.
        let explaining = github.map(|client| explain_failures(client, &state, &explainer, &token));
        // The reconciler holds an `Ingest` handle, so it must end before the writer can drain.
        let reconciling = reconciler.map(|reconciler| {
            tokio::spawn(reconciler.run(state.store.clone(), state.ingest.clone(), token.clone()))
        });
        let watching_queues = tokio::spawn(queue_watch(&state, wake.clone(), token.clone()));
        let notifying = tokio::spawn(sender(&state, wake).run(token.clone()));
        let housekeeping = tokio::spawn(housekeeping::run(
            state.ingest.clone(),
            store::maintenance::Retention {
                telemetry_s: state.config.telemetry_retention.as_secs() as i64,
                job_log_s: state.config.job_log_max_age.as_secs() as i64,
                job_log_bytes: state.config.job_log_cache_mb.saturating_mul(1024 * 1024),
                ..store::maintenance::Retention::from_days(state.config.retention_days)
            },
            housekeeping::PRUNE_INTERVAL,
            token.clone(),
        ));
        let signal = async move {
            shutdown.await;
            info!("shutting down: finishing in-flight requests");
            // Wake the WebSocket tasks too (their upgraded connections have left hyper, so
            // `serve::run` does not wait for them), and stop the background tasks.
            token.cancel();
        };
        let service =
            hyper_util::service::TowerToHyperService::new(warp::service(web::routes(state)));
        serve::run(listener, service, serving, signal).await;
        hub.shut_down(SHUTDOWN_GRACE).await;
        if let Some(reconciling) = reconciling {
            reconciling.await?;
        }
        // The fetcher holds an `Ingest` handle too.
        if let Some(explaining) = explaining {
            explaining.await?;
        }
        notifying.await?;
        watching_queues.await?;
        // Stops between two batches; a batch in progress commits or rolls back whole.
        housekeeping.await?;
        // The last `Ingest` handle went with the routes; the writer drains and exits.
        tokio::task::spawn_blocking(move || writer.join()).await?;
        info!("stopped");
        Ok(())
    }
}

/// Who may read and act: the board and admin tokens, sign-in, and the display and API tokens
/// stored by the tokens page. Warns about an open board first (see [`warn_about_access`]).
async fn access(
    config: &Config,
    store: &Store,
    settings: &settings::Settings,
    github_app: &github::app::GitHubApp,
    sessions: &web::signin::Sessions,
) -> anyhow::Result<web::access::Access> {
    warn_about_access(config);
    let access = web::access::Access::new(config.board_token.as_ref(), config.admin_token.as_ref())
        .with_settings(settings.clone())
        .with_sign_in(config.access, github_app.clone(), sessions.clone());
    for token in store
        .read(store::tokens::active)
        .await
        .context("reading the display and API tokens")?
    {
        access.add_token(&token);
    }
    Ok(access)
}

/// Refuses a webhook body budget smaller than the largest body: such deliveries could never be
/// received.
fn check_body_budget(config: &Config) -> anyhow::Result<()> {
    anyhow::ensure!(
        config.webhook_body_budget >= config.max_body_bytes,
        "--webhook-body-budget ({}) must be at least --max-body-bytes ({}), or the largest \
         deliveries could never be received",
        config.webhook_body_budget,
        config.max_body_bytes
    );
    Ok(())
}

/// The run page's job logs, fetched through `github` and cached within the configured bounds.
fn job_logs(config: &Config, github: Option<Arc<Client>>) -> joblog::Logs {
    joblog::Logs::new(
        github,
        joblog::LogLimits {
            max_age_s: config.job_log_max_age.as_secs() as i64,
            cache_bytes: config.job_log_cache_mb.saturating_mul(1024 * 1024),
            ..joblog::LogLimits::default()
        },
    )
}

/// The verifier of GitHub Actions OIDC tokens: the configured issuer, and the public origin as
/// the audience.
fn oidc_verifier(config: &Config) -> oidc::Verifier {
    let audience = config.public_url.as_ref().map(|u| u.origin().to_owned());
    oidc::Verifier::new(&config.actions_oidc_issuer, audience.as_deref())
}

/// Starts the log fetcher that explains failed jobs, hands it to the writer's `explainer`, and
/// catches up on the failures stored unexplained. Returns the fetcher's task.
fn explain_failures(
    client: Arc<Client>,
    state: &AppState,
    explainer: &wiring::Explainer,
    token: &tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let (fetcher, task) = log_fetch::LogFetcher::spawn(
        client,
        state.ingest.clone(),
        log_fetch::FetchConfig::default(),
        token.clone(),
    );
    explainer.explain_with(fetcher.clone());
    let store = state.store.clone();
    tokio::spawn(async move { fetcher.catch_up(&store, UNEXPLAINED_SCAN).await });
    task
}

/// The runner queues' check (`--queue-alert`, every `--queue-check`), queuing messages for the
/// targets of the moment through the writer, so it holds an `Ingest` handle until `token` ends it.
fn queue_watch(
    state: &AppState,
    wake: Arc<tokio::sync::Notify>,
    token: tokio_util::sync::CancellationToken,
) -> impl Future<Output = ()> + Send + 'static {
    let settings = state.settings.clone();
    let watch = notify::queues::QueueWatch {
        threshold_s: state.config.queue_alert_s(),
        runners_url: state
            .config
            .public_url
            .as_ref()
            .map(|url| format!("{}/runners", url.origin().trim_end_matches('/'))),
    };
    watch.run(
        state.ingest.clone(),
        Box::new(move || settings.current().targets.clone()),
        state.config.queue_check,
        wake,
        token,
    )
}

/// The notification sender, sending to the targets of the moment (`/settings` may change them).
/// It holds an `Ingest` handle (it marks rows sent through the writer), and runs without targets
/// too, to prune old transitions.
fn sender(state: &AppState, wake: Arc<tokio::sync::Notify>) -> notify::sender::Sender<Ingest> {
    let settings = state.settings.clone();
    notify::sender::Sender {
        targets: Box::new(move || settings.current().targets.clone()),
        store: state.store.clone(),
        writer: state.ingest.clone(),
        wake,
        retry: state.config.notify_retry,
    }
}

/// While no App is configured, logs the full setup address with its one-time code.
fn announce_setup(
    code: &web::setup::SetupCode,
    config: &Config,
    listener: &TcpListener,
) -> anyhow::Result<()> {
    let origin = match &config.public_url {
        Some(url) => url.origin().to_owned(),
        None => format!("http://{}", listener.local_addr()?),
    };
    if let Some(address) = code.address(&origin) {
        info!("no GitHub App is configured: connect GitHub at {address}");
    }
    Ok(())
}

/// One client for the reconciler, the log fetcher and operators' actions, so that its
/// one-request-at-a-time gate and its rate-limit waits cover all three: with `--github-token`, or
/// once the GitHub App is configured (its installation tokens then serve its repositories).
fn github_client(
    config: &Config,
    app: &github::app::GitHubApp,
) -> anyhow::Result<Option<Arc<Client>>> {
    if config.github_token.is_none() && app.credentials().is_none() {
        return Ok(None);
    }
    let mut client = ClientConfig::new(config.github_api_url.clone(), config.github_token.clone());
    client.tokens = Some(Arc::new(app.clone()));
    Ok(Some(Arc::new(
        Client::new(client).context("setting up the GitHub client")?,
    )))
}

/// `--access token` needs a board token; `--access github` works once the App is set up.
fn check_access_mode(config: &Config, app_configured: bool) -> anyhow::Result<()> {
    match config.access {
        Some(config::AccessMode::Token) => anyhow::ensure!(
            config.board_token.is_some(),
            "--access token needs --board-token (BUILDBOARD_BOARD_TOKEN)"
        ),
        Some(config::AccessMode::Github) if !app_configured => {
            warn!("--access github: nobody can sign in until the GitHub App is set up at /setup")
        }
        _ => {}
    }
    Ok(())
}

/// How pages, the feed and notifications show things: `--hide-authors`, and which links are safe.
/// The model analysis (`--analysis-url`), off without it.
///
/// # Errors
/// When its key cannot be sent as a header.
fn model_analysis(config: &Config) -> anyhow::Result<analysis::Analysis> {
    let analysis = analysis::Analysis::new(
        config.analysis_url.as_ref(),
        &config.analysis_model,
        config.analysis_key.as_ref(),
        config.analysis_timing,
    )?;
    if let Some(url) = &config.analysis_url {
        tracing::info!(endpoint = %url.endpoint(), model = %config.analysis_model, "model analysis on");
    }
    Ok(analysis)
}

fn view_options(config: &Config) -> views::Opts {
    views::Opts {
        privacy: scope::Privacy {
            hide_authors: config.hide_authors,
        },
        // Once per server start (see `Opts::ghes_host`).
        ghes_host: views::ghes_host(&config.github_api_url)
            .map(|host| &*Box::leak(host.into_boxed_str())),
    }
}

/// The settings `/settings` changes: the flags' values, with the stored ones over those no flag
/// fixes. A stored value that no longer parses is skipped with a warning.
async fn live_settings(
    config: &Config,
    store: &Store,
    targets: &notify::Targets,
) -> anyhow::Result<settings::Settings> {
    let live = settings::Settings::new(
        settings::Current {
            watched: config.watch_branches.clone(),
            privacy: scope::Privacy {
                hide_authors: config.hide_authors,
            },
            targets: targets.clone(),
            generation: 0,
        },
        settings::Fixed::of(config),
    );
    let stored = store
        .read(store::settings::load)
        .await
        .context("reading the settings")?;
    for (key, text) in stored {
        let Some(key) = settings::Key::ALL.into_iter().find(|k| k.as_str() == key) else {
            continue;
        };
        match settings::Value::parse(key, &text) {
            Ok(value) => {
                if let Err(flag) = live.set(value) {
                    info!(
                        setting = key.as_str(),
                        flag, "a flag overrides the stored setting"
                    );
                }
            }
            Err(err) => warn!(setting = key.as_str(), cause = %err, "stored setting skipped"),
        }
    }
    Ok(live)
}

/// The notification targets, and the wake-up the writer gives the sender after each group.
fn notify_parts(config: &Config) -> anyhow::Result<(notify::Targets, Arc<tokio::sync::Notify>)> {
    let targets = notify::Targets::load(
        config.notify_config.as_deref(),
        config.notify_slack.as_ref().map(|url| url.expose()),
    )?;
    Ok((targets, Arc::new(tokio::sync::Notify::new())))
}

/// What plugs into the writer: transition detection in each delivery's transaction; after each
/// commit, the live feed and the log fetcher (once `App::run` has one).
fn writer_hooks(
    config: &Config,
    hub: &Hub,
    opts: views::Opts,
    (targets, wake): &(notify::Targets, Arc<tokio::sync::Notify>),
    explainer: &wiring::Explainer,
    settings: &settings::Settings,
) -> ingest::Hooks {
    let detector = notify::detect::Detector {
        targets: targets.clone(),
        watched: config.watch_branches.clone(),
        opts,
        board_url: config
            .public_url
            .as_ref()
            .map(|url| url.origin().to_owned()),
        wake: wake.clone(),
    };
    ingest::Hooks {
        in_transaction: Some(Box::new(wiring::LiveDetector {
            detector,
            settings: settings.clone(),
        })),
        after_commit: vec![
            Box::new(wiring::Feed {
                hub: hub.clone(),
                opts,
                settings: settings.clone(),
            }),
            Box::new(explainer.clone()),
        ],
    }
}

/// Warns about a board anyone can read, or one open to DNS rebinding, and about a short token.
fn warn_about_access(config: &Config) {
    if config.board_token.is_none() && !config.listen.ip().is_loopback() {
        tracing::info!(
            "the board and API are readable by anyone who can reach {}; set --board-token to require a token",
            config.listen
        );
        if config.public_url.is_none() {
            tracing::warn!(
                "listening on {} without --board-token or --public-url: a web page the board's \
                 viewers open elsewhere can read the board through DNS rebinding; set \
                 --public-url to the address the board is reached at (or --board-token)",
                config.listen
            );
        }
    }
    if let Some(token) = &config.board_token {
        if token.expose().len() < MIN_BOARD_TOKEN_CHARS {
            tracing::warn!(
                "the board token is shorter than {MIN_BOARD_TOKEN_CHARS} characters; a longer random one resists guessing"
            );
        }
    }
}

/// Operators' re-runs and cancels, through the shared GitHub client.
fn operators(config: &Config, github: Option<Arc<Client>>) -> anyhow::Result<web::act::Act> {
    let has_github = github.is_some();
    let act = web::act::Act::new(
        config.operator_token.as_ref(),
        github,
        config.action_rate_limit,
    )
    .map_err(anyhow::Error::msg)?;
    if act.is_on() && !has_github {
        tracing::warn!(
            "--operator-token without --github-token: operators can sign in, but every \
             re-run or cancel will be refused"
        );
    }
    Ok(act)
}

/// The readers' and the webhook's rate limits.
fn rate_limits(config: &Config) -> web::limit::Limits {
    web::limit::Limits {
        reads: web::limit::Limiter::new("reads", config.rate_limit, config.rate_limit_burst),
        webhook: web::limit::Limiter::new(
            "webhook",
            config.webhook_rate_limit,
            config.webhook_rate_limit_burst,
        ),
    }
}

/// Raises the open-file limit, settles the connection cap, and keeps WebSocket clients below it
/// with room to spare, so that a full house of boards still leaves connections for `/healthz` and
/// deliveries.
fn serving_options(config: &mut Config) -> serve::Options {
    let files = serve::raise_file_limit();
    let max_connections = config
        .max_connections
        .unwrap_or_else(|| serve::default_max_connections(files))
        .max(1);
    let headroom = (max_connections / 8).max(1);
    let max_ws_clients = max_connections.saturating_sub(headroom).max(1);
    if config.max_ws_clients > max_ws_clients {
        info!(
            max_connections,
            open_files = files,
            "serving at most {max_ws_clients} WebSocket clients (not {}), to keep connections for \
             other requests",
            config.max_ws_clients
        );
        config.max_ws_clients = max_ws_clients;
    }
    serve::Options {
        header_timeout: config.header_timeout,
        body_timeout: config.body_timeout,
        request_timeout: config.request_timeout,
        max_connections,
    }
}

/// The key deliveries are checked against: the configured secret, else the one kept in the
/// database, else a new one (generated, kept, and announced in the log without its value).
/// `None` only when the operator explicitly allowed unsigned deliveries and set no secret.
///
/// # Errors
/// When the secret file cannot be read or is empty, or on a database error.
pub fn resolve_webhook_key(config: &Config, store: &Store) -> anyhow::Result<Option<Arc<[u8]>>> {
    if let Some(secret) = &config.webhook_secret {
        anyhow::ensure!(!secret.expose().is_empty(), "the webhook secret is empty");
        return Ok(Some(Arc::from(secret.expose().as_bytes())));
    }
    if let Some(path) = &config.webhook_secret_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the webhook secret file {}", path.display()))?;
        let secret = text.trim();
        anyhow::ensure!(
            !secret.is_empty(),
            "the webhook secret file {} is empty",
            path.display()
        );
        return Ok(Some(Arc::from(secret.as_bytes())));
    }
    if config.insecure_allow_unsigned {
        warn!("no webhook secret and --insecure-allow-unsigned: ANY client can post deliveries");
        return Ok(None);
    }
    Ok(Some(Arc::from(
        stored_or_generated_secret(store)?.as_bytes(),
    )))
}

/// The secret kept in the database, generating and storing one on first use.
///
/// # Errors
/// On a database error.
pub fn stored_or_generated_secret(store: &Store) -> anyhow::Result<String> {
    if let Some(secret) = store.setting(WEBHOOK_SECRET_SETTING)? {
        info!("checking webhook signatures with the secret kept in the database");
        return Ok(secret);
    }
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    let secret = hex::encode(bytes);
    store.set_setting(WEBHOOK_SECRET_SETTING, &secret)?;
    warn!(
        db = %store.path().display(),
        "no webhook secret was configured, so one was generated and kept in the database. \
         Print it with `buildboard --db {} show-secret` and paste it into the GitHub webhook's \
         Secret field (Settings → Webhooks), with content type application/json",
        store.path().display()
    );
    Ok(secret)
}
