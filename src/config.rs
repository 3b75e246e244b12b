//! Configuration: every setting is a command-line flag with an environment variable beside it.
//! Only [`Cli::parse`] (in the binary) reads the environment; tests build a [`Config`] literal.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// A secret string whose `Debug` output is redacted, so it never lands in a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself. Call only where it is used, never to log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(\"[redacted]\")")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

/// GitHub's cap on webhook payloads: no larger delivery is ever sent.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 25 * 1024 * 1024;

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
}

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

    /// Privacy switch: show no names or avatars anywhere on the board (pages, live fragments and
    /// the WebSocket feed), for workplaces that do not allow blame on a wall.
    #[arg(long, env = "BUILDBOARD_HIDE_AUTHORS")]
    pub hide_authors: bool,
}

impl Config {
    /// Settings for a server on `db`, listening on `listen`, with defaults for everything else.
    pub fn new(db: impl Into<PathBuf>, listen: SocketAddr) -> Self {
        Self {
            db: db.into(),
            listen,
            webhook_secret: None,
            webhook_secret_file: None,
            insecure_allow_unsigned: false,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            hide_authors: false,
        }
    }
}
