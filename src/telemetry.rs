//! Logging setup: `tracing` to stderr, filtered by `RUST_LOG` (default `info,warp=warn`).

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Call once, from a binary.
pub fn init() {
    init_with_default("info,warp=warn");
}

/// [`init`] with another filter for when `RUST_LOG` is not set.
pub fn init_with_default(default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        // Not stdout: `buildboard show-secret` and `check` print their results there.
        .with_writer(std::io::stderr)
        .init();
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
