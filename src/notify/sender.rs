//! Sends what the outbox holds: one POST per row, in order, with timeouts; a 2xx marks the row
//! sent, anything else (or no answer) schedules a retry after `base · 2^(attempts - 1)` (or the
//! receiver's `Retry-After`, if longer), at most [`MAX_BACKOFF`], and after [`MAX_ATTEMPTS`] the
//! row is given up on (logged).
//!
//! Delivery is at least once per (transition, target), and once in practice: a row is marked sent
//! right after its 2xx, so only a crash in the moment between the receiver's answer and that
//! commit sends it again after a restart. Every request carries `X-Buildboard-Delivery: <row id>`,
//! the same on every attempt, for receivers that want to drop such a repeat.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{format, Kind, Message, Targets};
use crate::github::signature;
use crate::store::{outbox, Store, Writes};

/// Attempts before a message is given up on.
pub const MAX_ATTEMPTS: u32 = 12;
/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// How often the outbox is looked at when nothing wakes the sender.
const POLL: Duration = Duration::from_secs(5);
/// Transitions (and their messages, once sent or given up on) are kept this long (seconds).
pub const KEEP: i64 = 30 * 86_400;
/// How often old transitions are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// Rows taken per look.
const BATCH: u32 = 32;
/// The whole request, connection included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The header with the body's HMAC-SHA256 (`sha256=<hex>`), for `json` targets.
pub const SIGNATURE_HEADER: &str = "x-buildboard-signature-256";
/// The header with the outbox row's id: the same on every attempt of one message.
pub const DELIVERY_HEADER: &str = "x-buildboard-delivery";
/// The header with the transition (`failing`, `fixed`, `flapping`, `queue_over`, `queue_back`).
pub const EVENT_HEADER: &str = "x-buildboard-event";

/// The background sender.
pub struct Sender<W> {
    /// The targets of the moment (an admin may change them while the server runs).
    pub targets: Box<dyn Fn() -> Targets + Send + Sync>,
    pub store: Store,
    /// Where it records what it sent (the server's one writer).
    pub writer: W,
    pub wake: Arc<tokio::sync::Notify>,
    /// The wait before the first retry (`--notify-retry`).
    pub retry: Duration,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The wait after `attempts` failed attempts (1 for the first failure). The retry itself is the
/// outbox's `nextattempt`, which survives a restart: no in-process retry crate keeps that.
pub fn backoff(base: Duration, attempts: u32) -> Duration {
    let factor = 1u32 << attempts.saturating_sub(1).min(20);
    base.saturating_mul(factor).min(MAX_BACKOFF)
}

/// What an outbox row holds: a pair's transition, or a runner queue's.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Payload {
    Pair(Box<Message>),
    Queue(super::queues::QueueMessage),
}

enum Outcome {
    Sent,
    Failed {
        error: String,
        retry_after: Option<Duration>,
    },
}

impl Outcome {
    /// What the receiver's answer (or its absence) means.
    fn of(answer: reqwest::Result<reqwest::Response>) -> Self {
        match answer {
            Ok(response) if response.status().is_success() => Self::Sent,
            Ok(response) => Self::Failed {
                error: format!("HTTP {}", response.status().as_u16()),
                retry_after: response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs),
            },
            // Without the URL, which is a credential for Slack and Teams.
            Err(err) => Self::Failed {
                error: if err.is_timeout() {
                    "timed out".to_owned()
                } else if err.is_connect() {
                    "could not connect".to_owned()
                } else {
                    "request failed".to_owned()
                },
                retry_after: None,
            },
        }
    }
}

impl<W: Writes> Sender<W> {
    /// Sends until `shutdown`; a request in flight is finished (or times out) first, so that
    /// what it did is recorded.
    pub async fn run(self, shutdown: CancellationToken) {
        let http = match reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("buildboard/", env!("CARGO_PKG_VERSION")))
            .build()
        {
            Ok(http) => http,
            Err(err) => {
                warn!(cause = %err, "notifications disabled: no HTTP client");
                return;
            }
        };
        let targets = (self.targets)();
        if !targets.is_empty() {
            info!(targets = targets.iter().count(), "sending notifications");
        }
        let mut pruned_at: Option<std::time::Instant> = None;
        while !shutdown.is_cancelled() {
            if pruned_at.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
                pruned_at = Some(std::time::Instant::now());
                let before = chrono::Utc::now().timestamp() - KEEP;
                match self
                    .writer
                    .write(move |conn| outbox::prune(conn, before))
                    .await
                {
                    Ok(0) => {}
                    Ok(n) => info!(transitions = n, "pruned transitions older than 30 days"),
                    Err(err) => warn!(cause = %err, "pruning old transitions failed"),
                }
            }
            let due = self
                .store
                .read(|conn| outbox::due(conn, now_ms(), BATCH))
                .await;
            let due = match due {
                Ok(due) => due,
                Err(err) => {
                    warn!(cause = %err, "reading the notification outbox failed");
                    Vec::new()
                }
            };
            let full = due.len() == BATCH as usize;
            for pending in due {
                if shutdown.is_cancelled() {
                    return;
                }
                self.send_one(&http, pending).await;
            }
            if full {
                continue;
            }
            let wait = match self.store.read(outbox::next_due).await {
                Ok(Some(at)) => Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0)),
                _ => POLL,
            }
            .min(POLL);
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    async fn send_one(&self, http: &reqwest::Client, pending: outbox::Pending) {
        let id = pending.id;
        let targets = (self.targets)();
        let Some(target) = targets.get(&pending.target) else {
            warn!(
                delivery = id,
                target = %pending.target,
                "a queued notification's target is no longer configured: dropped"
            );
            self.record(id, "target not configured", None).await;
            return;
        };
        let (body, event) = match serde_json::from_str(&pending.payload) {
            Ok(Payload::Pair(message)) => (
                format::body(target.kind, &message, id),
                message.transition.as_str(),
            ),
            Ok(Payload::Queue(message)) => {
                (message.body(target.kind, id), message.transition.as_str())
            }
            Err(err) => {
                warn!(delivery = id, cause = %err, "a queued notification is unreadable: dropped");
                self.record(id, "unreadable payload", None).await;
                return;
            }
        };
        let body = serde_json::to_vec(&body).expect("a JSON value serialises");
        let mut request = http
            .post(&target.url)
            .header("content-type", "application/json")
            .header(DELIVERY_HEADER, id.to_string())
            .header(EVENT_HEADER, event);
        if target.kind == Kind::Json {
            if let Some(secret) = &target.secret {
                request =
                    request.header(SIGNATURE_HEADER, signature::sign(secret.as_bytes(), &body));
            }
        }
        let outcome = Outcome::of(request.body(body).send().await);
        match outcome {
            Outcome::Sent => {
                debug!(delivery = id, target = %target.name, "notification sent");
                let now = chrono::Utc::now().timestamp();
                if let Err(err) = self
                    .writer
                    .write(move |conn| outbox::mark_sent(conn, id, now))
                    .await
                {
                    warn!(delivery = id, cause = %err, "a sent notification could not be marked sent; it may be sent again");
                }
            }
            Outcome::Failed { error, retry_after } => {
                let attempts = pending.attempts + 1;
                if attempts >= MAX_ATTEMPTS {
                    warn!(delivery = id, target = %target.name, attempts, %error, "giving up on a notification");
                    self.record(id, &error, None).await;
                } else {
                    let wait = backoff(self.retry, attempts)
                        .max(retry_after.unwrap_or_default().min(MAX_BACKOFF));
                    info!(delivery = id, target = %target.name, attempts, %error, retry_in_ms = wait.as_millis() as u64, "notification not accepted; will retry");
                    let next = now_ms() + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 2);
                    self.record(id, &error, Some(next)).await;
                }
            }
        }
    }

    /// Records a failed attempt (retry at `next_ms`, or given up when `None`).
    async fn record(&self, id: i64, error: &str, next_ms: Option<i64>) {
        let error = error.to_owned();
        let now = chrono::Utc::now().timestamp();
        if let Err(err) = self
            .writer
            .write(move |conn| outbox::mark_failed(conn, id, &error, next_ms, now))
            .await
        {
            warn!(delivery = id, cause = %err, "could not record a notification attempt");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_from_the_base_and_is_capped() {
        let base = Duration::from_secs(5);
        assert_eq!(backoff(base, 1), Duration::from_secs(5));
        assert_eq!(backoff(base, 2), Duration::from_secs(10));
        assert_eq!(backoff(base, 4), Duration::from_secs(40));
        assert_eq!(backoff(base, 30), MAX_BACKOFF);
    }
}
