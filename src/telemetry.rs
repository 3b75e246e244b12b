//! Logging setup: `tracing` to stderr, filtered by `RUST_LOG` (default `info,warp=warn`), as text
//! (ANSI colour only when stderr is a terminal, so files and the journal get plain lines) or as
//! one JSON object a line (`--log-format json`).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber with text lines. Call once, from a binary.
pub fn init() {
    init_with(LogFormat::Text, "info,warp=warn");
}

/// [`init`] with another filter for when `RUST_LOG` is not set.
pub fn init_with_default(default_filter: &str) {
    init_with(LogFormat::Text, default_filter);
}

/// Installs the global subscriber writing `format`, with `default_filter` when `RUST_LOG` is not
/// set.
pub fn init_with(format: LogFormat, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    // Not stdout: `buildboard show-secret` and `check` print their results there.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Like `tokio::task::spawn_blocking`, but the closure runs inside the caller's span.
pub fn spawn_blocking_in_span<F, R>(f: F) -> tokio::task::JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(f))
}
