//! Configuration: every setting is a command-line flag with an environment variable beside it.
//! Only [`Cli::parse`] (in the binary) reads the environment; tests start from [`Config::new`]
//! (defaults, a database and an address) and set the fields they need. The one setting without
//! a flag, the model server's key (`BUILDBOARD_ANALYSIS_KEY`), is read by the binary too.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

pub use crate::analysis::AnalysisUrl;
pub use crate::secret::Secret;
use crate::watch::WatchedBranches;

/// GitHub's cap on webhook payloads: no larger delivery is ever sent.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 25 * 1024 * 1024;
/// With `branches=all`, how long a branch may go without a run before its red no longer counts.
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(7 * 86_400);
/// How often the server asks GitHub for runs its webhooks may have missed.
pub const DEFAULT_RECONCILE_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// Parses a duration: plain seconds (`300`, as the flags always took) or `humantime`'s forms, a
/// number with a unit such as `ms`, `s`, `m`, `h` or `d` (`500ms`, `90s`, `5m`, `1h 30m`, `7d`).
///
/// # Errors
/// A message for clap when the text is neither.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(text).map_err(|err| {
        format!("{text:?} is not a duration ({err}): use seconds (300) or 500ms, 90s, 5m, 1h, 7d")
    })
}

/// buildboard: a realtime build board for GitHub Actions.
///
/// Point a GitHub webhook at http://HOST:PORT/webhook and open http://HOST:PORT/ on a screen.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What to do; serving the board is the default.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Serve the board, the webhook receiver, the API and the WebSocket feed (the default).
    Serve,
    /// Print the webhook secret this server checks deliveries against (generated on first start
    /// when none is configured), to paste into GitHub's webhook settings.
    ShowSecret,
    /// Check the database file for corruption (`PRAGMA integrity_check`); print the result and
    /// exit non-zero unless it is `ok`. Safe while the server runs.
    Check,
    /// Write a consistent copy of the database to FILE while the server keeps running
    /// (`VACUUM INTO`). FILE must not exist yet.
    Backup {
        /// Where to write the copy.
        file: PathBuf,
    },
    /// GitHub App setup: `buildboard setup --reset` forgets the App made through /setup (its
    /// credentials are deleted from the database), so that /setup opens again at the next start.
    Setup {
        /// Forget the configured App and reopen /setup.
        #[arg(long)]
        reset: bool,
    },
    /// A living demo: a simulated organisation (25 repositories, about 100 workflows) with a week
    /// of history and live events, posted through the real /webhook path. Uses its own database,
    /// buildboard-demo.db by default, which it DELETES and recreates at every start.
    Demo(DemoArgs),
}

/// Runs per day in the demo's week of history by default (about 3,400 runs, 27,000 deliveries).
pub const DEFAULT_DEMO_RUNS_PER_DAY: u32 = 480;

/// Settings of `buildboard demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// The demo's database. It is DELETED and created afresh at every start, so it must be a
    /// file the demo made (anything else there is refused). The server's --db and BUILDBOARD_DB
    /// are not used.
    #[arg(long, default_value = "buildboard-demo.db")]
    pub db: PathBuf,

    /// Address and port to serve the board on.
    #[arg(long, default_value = "127.0.0.1:5000")]
    pub listen: SocketAddr,

    /// Seed of the organisation and its history: the same seed, the same organisation.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Runs per day in the week of history (the default makes about 3,400 runs, 27,000
    /// deliveries).
    #[arg(long, default_value_t = DEFAULT_DEMO_RUNS_PER_DAY)]
    pub runs_per_day: u32,

    /// Mean time between live pushes once the history is in: seconds, or 500ms, 30s, 2m.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub trickle_every: Duration,

    /// Post the history, then serve it without live events.
    #[arg(long)]
    pub no_trickle: bool,

    /// Deliveries posted at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
}

/// How long a failed notification waits before its first retry by default.
pub const DEFAULT_NOTIFY_RETRY: Duration = Duration::from_secs(5);
/// `--queue-alert`'s default.
pub const DEFAULT_QUEUE_ALERT: Duration = Duration::from_secs(10 * 60);
/// `--queue-check`'s default.
pub const DEFAULT_QUEUE_CHECK: Duration = Duration::from_secs(30);
/// How long a client has to send a request's headers by default, counted from the moment the
/// server waits for them: after connecting, and again after each response on a kept-alive
/// connection (so it is also how long an idle keep-alive connection stays open).
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request body may take to arrive by default; GitHub itself gives up after 10 s.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request may take to be answered by default, its body included.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// MB of job logs the run page's log cache holds at most (`--job-log-cache-mb`).
pub const DEFAULT_JOB_LOG_CACHE_MB: u64 = 256;
/// Webhook body bytes held at once by default, over every connection (see `web::body`).
pub const DEFAULT_WEBHOOK_BODY_BUDGET: u64 = 64 * 1024 * 1024;

/// Most WebSocket clients served at once by default.
pub const DEFAULT_MAX_WS_CLIENTS: usize = 10_000;
/// How often the server pings each WebSocket client.
pub const DEFAULT_WS_PING_INTERVAL: Duration = Duration::from_secs(20);
/// A WebSocket client that has sent nothing (not even a pong) for this long is dropped.
pub const DEFAULT_WS_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// A WebSocket send that takes longer than this means the client stopped reading: it is dropped.
pub const DEFAULT_WS_SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Server settings.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// SQLite database file; created with the schema if missing.
    #[arg(long, env = "BUILDBOARD_DB", default_value = "buildboard.db")]
    pub db: PathBuf,

    /// Address and port to listen on. Use 0.0.0.0:5000 to accept connections from other machines.
    #[arg(long, env = "BUILDBOARD_LISTEN", default_value = "127.0.0.1:5000")]
    pub listen: SocketAddr,

    /// Webhook secret, the same string as in GitHub's webhook settings. Prefer the environment
    /// variable or --webhook-secret-file: a flag shows up in `ps`. When no secret is configured,
    /// one is generated on first start and kept in the database (see `buildboard show-secret`).
    #[arg(
        long,
        env = "BUILDBOARD_WEBHOOK_SECRET",
        hide_env_values = true,
        conflicts_with = "webhook_secret_file"
    )]
    pub webhook_secret: Option<Secret>,

    /// File holding the webhook secret (surrounding whitespace is ignored).
    #[arg(long, env = "BUILDBOARD_WEBHOOK_SECRET_FILE")]
    pub webhook_secret_file: Option<PathBuf>,

    /// DANGEROUS: accept deliveries without a valid signature. Only for a receiver that nothing
    /// untrusted can reach.
    #[arg(long, env = "BUILDBOARD_INSECURE_ALLOW_UNSIGNED")]
    pub insecure_allow_unsigned: bool,

    /// Largest webhook body accepted, in bytes; larger ones get 413.
    #[arg(long, env = "BUILDBOARD_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: u64,

    /// Bearer token that API mutations (POST/DELETE /api/repos) require. Without one, mutations are
    /// refused.
    #[arg(long, env = "BUILDBOARD_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<Secret>,

    /// Read token for the board, the API and the live feed: without it, anyone who can reach the
    /// server can read them. A browser opens the board once with `?token=<board token>` and keeps
    /// a cookie; tools send `Authorization: Bearer <board token>`. Prefer the environment
    /// variable: a flag shows up in `ps`.
    #[arg(long, env = "BUILDBOARD_BOARD_TOKEN", hide_env_values = true)]
    pub board_token: Option<Secret>,

    /// Operator tokens: whoever signs in with one (at /operator, or `Authorization: Bearer` on
    /// the API) may re-run and cancel GitHub Actions runs from the board, through
    /// --github-token (which then needs Actions: write). Comma-separated, each `name:token`
    /// (the name is what the log records) or a bare token (logged as "operator"). Never the board
    /// token: a TV cannot act. Prefer the environment variable: a flag shows up in `ps`.
    #[arg(long, env = "BUILDBOARD_OPERATOR_TOKEN", hide_env_values = true)]
    pub operator_token: Option<Secret>,

    /// Re-runs and cancels each client IP may ask for per minute (0: no limit).
    #[arg(long, env = "BUILDBOARD_ACTION_RATE_LIMIT", default_value_t = 10)]
    pub action_rate_limit: u32,

    /// Requests per second each client IP may make to the board pages, /ws and /api (0: no limit).
    #[arg(long, env = "BUILDBOARD_RATE_LIMIT", default_value_t = 20)]
    pub rate_limit: u32,

    /// Burst allowance above --rate-limit.
    #[arg(long, env = "BUILDBOARD_RATE_LIMIT_BURST", default_value_t = 60)]
    pub rate_limit_burst: u32,

    /// Deliveries per second each client IP may post to /webhook (0: no limit). GitHub sends from
    /// a few addresses, so this budget is separate and larger.
    #[arg(long, env = "BUILDBOARD_WEBHOOK_RATE_LIMIT", default_value_t = 1000)]
    pub webhook_rate_limit: u32,

    /// Burst allowance above --webhook-rate-limit.
    #[arg(
        long,
        env = "BUILDBOARD_WEBHOOK_RATE_LIMIT_BURST",
        default_value_t = 5000
    )]
    pub webhook_rate_limit_burst: u32,

    /// GitHub token for reconciliation: with one, the server polls each monitored repository's
    /// recent runs every --reconcile-interval and applies whatever the webhooks missed. Read-only
    /// access to Actions is enough. Prefer the environment variable: a flag shows up in `ps`.
    #[arg(long, env = "GITHUB_TOKEN", hide_env_values = true)]
    pub github_token: Option<Secret>,

    /// How often to reconcile with GitHub (needs --github-token): seconds, or 90s, 5m, 1h. Each
    /// poll makes conditional requests, free when nothing changed: one per repository for its
    /// runs, and two per watched branch (at most 10 a repository) for its check runs and statuses.
    #[arg(long, env = "BUILDBOARD_RECONCILE_INTERVAL", default_value = "5m", value_parser = parse_duration)]
    pub reconcile_interval: Duration,

    /// GitHub REST API base URL; for GitHub Enterprise Server, https://HOST/api/v3.
    #[arg(long, env = "GITHUB_API_URL", default_value = crate::github::client::DEFAULT_API_URL)]
    pub github_api_url: String,

    /// GitHub's web address, where people are sent to create and install the App and to sign in;
    /// for GitHub Enterprise Server, https://HOST.
    #[arg(long, env = "GITHUB_URL", default_value = DEFAULT_GITHUB_URL)]
    pub github_url: String,

    /// Who may read the board: `public` (anyone who reaches it, or the board token when one is
    /// set), `token` (the board token is required), `github` (people sign in with GitHub; needs
    /// the App made at /setup). Default: `github` once an App is configured, else `public`.
    #[arg(long, env = "BUILDBOARD_ACCESS", value_enum)]
    pub access: Option<AccessMode>,

    /// Log lines as `text` (coloured only on a terminal) or `json` (one object a line).
    #[arg(long, env = "BUILDBOARD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Privacy switch: show no names or avatars anywhere on the board (pages, live fragments and
    /// the WebSocket feed), for workplaces that do not allow blame on a wall.
    #[arg(long, env = "BUILDBOARD_HIDE_AUTHORS")]
    pub hide_authors: bool,

    /// Most WebSocket clients served at once; an upgrade over the cap gets 503.
    #[arg(long, env = "BUILDBOARD_MAX_WS_CLIENTS", default_value_t = DEFAULT_MAX_WS_CLIENTS)]
    pub max_ws_clients: usize,

    /// Delete runs (with their attempts and jobs) created more than this many days ago, commits as
    /// old that no run points at any more, and processed delivery ids received more than this many
    /// days ago; checked at start and hourly.
    /// Without it runs are kept forever and delivery ids for 30 days.
    #[arg(long, env = "BUILDBOARD_RETENTION_DAYS")]
    pub retention_days: Option<NonZeroU32>,

    /// The issuer of the GitHub Actions OIDC tokens that `POST /api/metrics` accepts (GitHub
    /// Enterprise Server: https://HOST/_services/token). http:// only for a loopback issuer.
    #[arg(long, env = "BUILDBOARD_ACTIONS_OIDC_ISSUER", default_value = crate::oidc::DEFAULT_ISSUER, value_parser = crate::oidc::parse_issuer)]
    pub actions_oidc_issuer: String,

    /// Runner samples older than this are downsampled to one a minute rather than dropped.
    /// Seconds, or 12h, 30d.
    #[arg(long, env = "BUILDBOARD_TELEMETRY_RETENTION", default_value = "30d", value_parser = parse_duration)]
    pub telemetry_retention: Duration,

    /// Job logs kept for the run page (fetched on demand), all together at most this many MB;
    /// the oldest go first.
    #[arg(long, env = "BUILDBOARD_JOB_LOG_CACHE_MB", default_value_t = DEFAULT_JOB_LOG_CACHE_MB)]
    pub job_log_cache_mb: u64,

    /// Job logs kept for the run page are dropped this long after they were fetched (and fetched
    /// again when asked for). Seconds, or 12h, 7d.
    #[arg(long, env = "BUILDBOARD_JOB_LOG_MAX_AGE", default_value = "7d", value_parser = parse_duration)]
    pub job_log_max_age: Duration,

    /// The address the board is reached at, e.g. https://board.example.com. With it, requests
    /// naming another host are refused (421), which defeats DNS rebinding; the WebSocket origin
    /// check and the links the server builds (the API's `Link` header) use it. Without it the
    /// server answers any `Host`.
    #[arg(long, env = "BUILDBOARD_PUBLIC_URL", value_parser = PublicUrl::parse)]
    pub public_url: Option<PublicUrl>,

    /// Time a client has to send a request's headers: after connecting, and after each response
    /// on a kept-alive connection (so idle connections close after it too). Seconds, or 500ms,
    /// 10s, 1m.
    #[arg(long, env = "BUILDBOARD_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub header_timeout: Duration,

    /// Time a request's body has to arrive once its headers have; a slower one gets 408.
    #[arg(long, env = "BUILDBOARD_BODY_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub body_timeout: Duration,

    /// Time a request has to be answered once its headers have arrived, its body included; a
    /// later one gets 408 (body still awaited) or 503, and its connection closes. WebSocket
    /// connections are not limited by it once upgraded.
    #[arg(long, env = "BUILDBOARD_REQUEST_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// Webhook body bytes held at once, over all connections, before signatures are checked; a
    /// delivery that would exceed it gets 503 with Retry-After. At least --max-body-bytes.
    #[arg(long, env = "BUILDBOARD_WEBHOOK_BODY_BUDGET", default_value_t = DEFAULT_WEBHOOK_BODY_BUDGET)]
    pub webhook_body_budget: u64,

    /// Most connections open at once (WebSocket clients included). Default: the open-file limit
    /// (raised to its hard limit at start) minus room for the database and logs. At the cap the
    /// oldest connection that has no request in flight is closed to make room.
    #[arg(long, env = "BUILDBOARD_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,

    /// Branches watched besides each repository's default branch, as comma-separated globs
    /// (`release/*,develop`). The Wall, Triage, notifications and cc.xml show watched branches
    /// unless asked for all.
    #[arg(long, env = "BUILDBOARD_WATCH_BRANCHES", default_value = "")]
    pub watch_branches: WatchedBranches,

    /// With `branches=all`, a branch with no run for this long is not listed as red (`7d`, `36h`).
    #[arg(long, env = "BUILDBOARD_STALE_AFTER", default_value = "7d", value_parser = parse_duration)]
    pub stale_after: Duration,

    /// The time zone the board shows absolute times in, as an IANA name (`Europe/Berlin`);
    /// without it, each browser's own. Relative times ("3 min ago") read the same anywhere.
    #[arg(long, env = "BUILDBOARD_TIMEZONE", value_parser = parse_timezone)]
    pub timezone: Option<String>,

    /// A JSON file of notification targets (Slack-compatible, Teams, signed JSON webhooks) and
    /// their filters; see the README's "Notifications".
    #[arg(long, env = "BUILDBOARD_NOTIFY_CONFIG")]
    pub notify_config: Option<PathBuf>,

    /// A Slack-compatible incoming webhook URL (Slack, Mattermost, Rocket.Chat) told of every
    /// transition on a watched branch; a quick alternative to `--notify-config`.
    #[arg(long, env = "BUILDBOARD_NOTIFY_SLACK", hide_env_values = true)]
    pub notify_slack: Option<Secret>,

    /// How long a failed notification waits before its first retry; the wait doubles with each
    /// attempt, up to 10 minutes (`5s`, `500ms`).
    #[arg(long, env = "BUILDBOARD_NOTIFY_RETRY", default_value = "5s", value_parser = parse_duration)]
    pub notify_retry: Duration,

    /// A label set whose longest wait for a runner reaches this is notified ("no runner for
    /// self-hosted, gpu for 14 min"), and again when it is back under (`10m`, `90s`).
    #[arg(long, env = "BUILDBOARD_QUEUE_ALERT", default_value = "10m", value_parser = parse_duration)]
    pub queue_alert: Duration,

    /// How often the runner queues are checked against `--queue-alert` (`30s`).
    #[arg(long, env = "BUILDBOARD_QUEUE_CHECK", default_value = "30s", value_parser = parse_duration)]
    pub queue_check: Duration,

    /// The API base of an OpenAI-compatible model server on your own network
    /// (`http://llm.internal:8000/v1`; questions go to `<base>/chat/completions`). With it, the
    /// run page offers "Ask the model" on a failed job, which sends the server only the job's
    /// step names, its failure's excerpt and the rule's sentence. Off by default. A key, if the
    /// server wants one, is read from BUILDBOARD_ANALYSIS_KEY only (sent as a bearer token).
    #[arg(long, env = "BUILDBOARD_ANALYSIS_URL", value_parser = AnalysisUrl::parse)]
    pub analysis_url: Option<AnalysisUrl>,

    /// The model named in the questions to --analysis-url.
    #[arg(long, env = "BUILDBOARD_ANALYSIS_MODEL", default_value = crate::analysis::DEFAULT_MODEL)]
    pub analysis_model: String,

    /// The model server's key: from the environment only (`BUILDBOARD_ANALYSIS_KEY`, read by the
    /// binary), never a flag, which would show up in `ps`.
    #[arg(skip)]
    pub analysis_key: Option<Secret>,

    /// How long the model server may take; not flags, so that only tests change them.
    #[arg(skip)]
    pub analysis_timing: crate::analysis::Timing,

    /// WebSocket timings; not flags, so that only tests change them.
    #[arg(skip)]
    pub ws_timing: WsTiming,
}

/// GitHub.com's web address (`--github-url`).
pub const DEFAULT_GITHUB_URL: &str = "https://github.com";

/// `--access`: who may read the board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AccessMode {
    /// Anyone who can reach the server (or who shows the board token, when one is set).
    Public,
    /// Only readers with the board token (or the admin token).
    Token,
    /// Only people signed in with GitHub (the App's user authorisation); the admin and board
    /// tokens keep working for tools.
    Github,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines, coloured only when stderr is a terminal.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// How the server keeps WebSocket connections alive and drops dead or stuck ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WsTiming {
    /// How often each client is pinged.
    pub ping_interval: Duration,
    /// A client silent (no frame, not even a pong) for this long is dropped at the next ping.
    pub idle_timeout: Duration,
    /// A client that does not take a message within this time is dropped.
    pub send_timeout: Duration,
}

impl Default for WsTiming {
    fn default() -> Self {
        Self {
            ping_interval: DEFAULT_WS_PING_INTERVAL,
            idle_timeout: DEFAULT_WS_IDLE_TIMEOUT,
            send_timeout: DEFAULT_WS_SEND_TIMEOUT,
        }
    }
}

impl Config {
    /// `--queue-alert` in seconds: the Wall's queue tiles and the queue notifications.
    pub fn queue_alert_s(&self) -> i64 {
        i64::try_from(self.queue_alert.as_secs()).unwrap_or(i64::MAX)
    }

    /// Settings for a server on `db`, listening on `listen`, with defaults for everything else.
    pub fn new(db: impl Into<PathBuf>, listen: SocketAddr) -> Self {
        Self {
            db: db.into(),
            listen,
            webhook_secret: None,
            webhook_secret_file: None,
            insecure_allow_unsigned: false,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            admin_token: None,
            board_token: None,
            operator_token: None,
            action_rate_limit: 10,
            rate_limit: 20,
            rate_limit_burst: 60,
            webhook_rate_limit: 1000,
            webhook_rate_limit_burst: 5000,
            github_token: None,
            reconcile_interval: DEFAULT_RECONCILE_INTERVAL,
            github_api_url: crate::github::client::DEFAULT_API_URL.to_owned(),
            github_url: DEFAULT_GITHUB_URL.to_owned(),
            access: None,
            log_format: LogFormat::Text,
            hide_authors: false,
            max_ws_clients: DEFAULT_MAX_WS_CLIENTS,
            retention_days: None,
            watch_branches: WatchedBranches::default(),
            stale_after: DEFAULT_STALE_AFTER,
            public_url: None,
            actions_oidc_issuer: crate::oidc::DEFAULT_ISSUER.to_owned(),
            telemetry_retention: Duration::from_secs(30 * 86_400),
            job_log_cache_mb: DEFAULT_JOB_LOG_CACHE_MB,
            job_log_max_age: Duration::from_secs(7 * 86_400),
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            webhook_body_budget: DEFAULT_WEBHOOK_BODY_BUDGET,
            max_connections: None,
            timezone: None,
            notify_config: None,
            notify_slack: None,
            notify_retry: DEFAULT_NOTIFY_RETRY,
            queue_alert: DEFAULT_QUEUE_ALERT,
            queue_check: DEFAULT_QUEUE_CHECK,
            analysis_url: None,
            analysis_model: crate::analysis::DEFAULT_MODEL.to_owned(),
            analysis_key: None,
            analysis_timing: crate::analysis::Timing::default(),
            ws_timing: WsTiming::default(),
        }
    }
}

/// `--public-url`: the scheme and authority the board is reached at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    /// `https://board.example.com` (no trailing slash), for building absolute links.
    origin: String,
    /// `board.example.com` or `board.example.com:8443`, lowercase: what `Host` must say.
    authority: String,
    /// The scheme's default port, which a `Host` header may also name.
    default_port: u16,
}

impl PublicUrl {
    /// Parses `http(s)://host[:port]`, with an optional trailing `/`.
    ///
    /// # Errors
    /// A message for clap when the text is not such a URL (a path, a query, user info...).
    pub fn parse(text: &str) -> Result<Self, String> {
        let invalid = |why: &str| {
            format!("{text:?} is not a public URL ({why}): use e.g. https://board.example.com")
        };
        let (scheme, rest) = text.split_once("://").ok_or_else(|| invalid("no scheme"))?;
        let default_port = match scheme.to_ascii_lowercase().as_str() {
            "http" => 80,
            "https" => 443,
            _ => return Err(invalid("the scheme must be http or https")),
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest).to_ascii_lowercase();
        let valid = !authority.is_empty()
            && authority
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
        if !valid {
            return Err(invalid(
                "only a host and an optional port may follow the scheme",
            ));
        }
        Ok(Self {
            origin: format!("{}://{authority}", scheme.to_ascii_lowercase()),
            authority,
            default_port,
        })
    }

    /// `scheme://authority`, without a trailing slash.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Whether a request's `Host` header names this URL's host (and port: the scheme's default
    /// port may be written or left out). Case-insensitive.
    pub fn matches_host(&self, host: &str) -> bool {
        if host.eq_ignore_ascii_case(&self.authority) {
            return true;
        }
        let default_port = format!(":{}", self.default_port);
        match host.len().checked_sub(default_port.len()) {
            Some(end) if host.is_char_boundary(end) => {
                host[end..] == default_port && host[..end].eq_ignore_ascii_case(&self.authority)
            }
            _ => false,
        }
    }
}

/// An IANA time zone name (`Europe/Berlin`, `UTC`): letters, digits and `/_+-`. The browser
/// checks the name itself (an unknown one falls back to the browser's zone, labelled so).
fn parse_timezone(name: &str) -> Result<String, String> {
    let name = name.trim();
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '+' | '-'));
    if ok {
        Ok(name.to_owned())
    } else {
        Err(format!(
            "{name:?} is not an IANA time zone name such as Europe/Berlin"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_zones_are_iana_names() {
        assert_eq!(parse_timezone("Europe/Berlin"), Ok("Europe/Berlin".into()));
        assert_eq!(parse_timezone("Etc/GMT+2"), Ok("Etc/GMT+2".into()));
        assert!(parse_timezone("Berlin; drop").is_err());
        assert!(parse_timezone("").is_err());
    }

    #[test]
    fn durations_parse_with_and_without_units() {
        assert_eq!(parse_duration("300"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5 minutes"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("-5s").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn a_public_url_is_a_scheme_and_a_host_and_matches_its_host_header() {
        let url = PublicUrl::parse("https://Board.example.com/").unwrap();
        assert_eq!(url.origin(), "https://board.example.com");
        assert!(url.matches_host("board.example.com"));
        assert!(url.matches_host("BOARD.example.com:443"));
        assert!(!url.matches_host("board.example.com:80"));
        assert!(!url.matches_host("evil.example"));
        assert!(!url.matches_host("board.example.com.evil.example"));
        let url = PublicUrl::parse("http://127.0.0.1:5000").unwrap();
        assert!(url.matches_host("127.0.0.1:5000"));
        assert!(!url.matches_host("127.0.0.1"));
        assert!(PublicUrl::parse("board.example.com").is_err());
        assert!(PublicUrl::parse("ftp://board.example.com").is_err());
        assert!(PublicUrl::parse("https://board.example.com/path").is_err());
        assert!(PublicUrl::parse("https://user@board.example.com").is_err());
        assert!(PublicUrl::parse("https://").is_err());
    }

    #[test]
    fn the_analysis_url_is_checked_at_start_and_its_key_is_no_flag() {
        use clap::Parser;
        let cli = Cli::try_parse_from(["buildboard"]).unwrap();
        assert_eq!(cli.config.analysis_url, None);
        assert_eq!(cli.config.analysis_model, "default");
        let cli = Cli::try_parse_from([
            "buildboard",
            "--analysis-url",
            "http://llm.internal:8000/v1/",
            "--analysis-model",
            "tiny",
        ])
        .unwrap();
        let url = cli.config.analysis_url.unwrap();
        assert_eq!(
            url.endpoint(),
            "http://llm.internal:8000/v1/chat/completions"
        );
        assert_eq!(cli.config.analysis_model, "tiny");
        let err = Cli::try_parse_from(["buildboard", "--analysis-url", "llm.internal:8000"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not a model server's API base"), "{err}");
        assert!(Cli::try_parse_from(["buildboard", "--analysis-key", "k"]).is_err());
    }

    #[test]
    fn the_github_token_is_hidden_from_help_and_debug_output() {
        use clap::CommandFactory;
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("--github-token"), "{help}");
        let mut config = Config::new("x.db", "127.0.0.1:0".parse().unwrap());
        config.github_token = Some(Secret::new("ghp_supersecret"));
        assert!(!format!("{config:?}").contains("supersecret"));
    }
}
