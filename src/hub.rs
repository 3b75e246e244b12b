//! Fan-out of committed changes to every WebSocket client, and the shutdown signal they obey.
//!
//! The hub only moves bytes: the publisher (see [`crate::ingest`]) hands it each committed
//! change's message, built once by [`crate::feed`] and tagged with the repository it is about,
//! and the shared text goes to all subscribers through a bounded `broadcast` channel; each
//! client's task (`web::ws`) sends on only what its viewer may read. A slow client does not hold anyone up: it lags, and when
//! it next reads it is told how many messages it missed and sent a fresh snapshot (see `web::ws`).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Messages buffered per hub before the slowest subscribers start to lag.
pub const CHANNEL_CAPACITY: usize = 1024;

/// A serialised message, shared by every subscriber, and the repository ("owner/name") it is
/// about; cheap to clone.
#[derive(Debug, Clone)]
pub struct Message {
    pub repo: Arc<str>,
    pub text: tokio_tungstenite::tungstenite::Utf8Bytes,
}

/// One admitted WebSocket client (see [`Hub::admit`]); frees its slot when dropped.
#[derive(Debug)]
pub struct ClientSlot(Arc<AtomicUsize>);

impl Drop for ClientSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The fan-out hub; cheap to clone.
#[derive(Clone)]
pub struct Hub {
    sender: broadcast::Sender<Message>,
    /// Cancelled when the server shuts down; WebSocket tasks send a close frame and end.
    shutdown: CancellationToken,
    /// Tracks WebSocket tasks so shutdown can wait for their close frames.
    tasks: TaskTracker,
    /// Admitted WebSocket clients (upgrading or connected).
    clients: Arc<AtomicUsize>,
    /// Counts published changes. Anything rendered from the database is current while this has
    /// not moved, which lets the board share one render of a view among all its viewers.
    generation: Arc<AtomicU64>,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    /// A hub with no subscribers yet.
    pub fn new() -> Self {
        let (sender, _) = broadcast::channel(CHANNEL_CAPACITY);
        Self {
            sender,
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            clients: Arc::new(AtomicUsize::new(0)),
            generation: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Sends the message `build` makes (called once, not per client) about `repo` to every
    /// subscriber.
    /// Call it after the change is committed: the generation moves first, so a client that reads
    /// the message and then asks for a view gets one rendered after the change.
    pub fn publish(&self, repo: &str, build: impl FnOnce() -> String) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        // Nobody to tell: rendering would be wasted. A client that subscribes from now on reads
        // its snapshot after subscribing, and this change was committed before, so it is in it.
        if self.sender.receiver_count() == 0 {
            return;
        }
        // An error only means nobody is listening.
        let _ = self.sender.send(Message {
            repo: Arc::from(repo),
            text: build().into(),
        });
    }

    /// How many changes have been published; see the field's documentation.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// A new subscription; subscribe before reading a snapshot so nothing falls in between.
    pub fn subscribe(&self) -> broadcast::Receiver<Message> {
        self.sender.subscribe()
    }

    /// The token WebSocket tasks watch for shutdown.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Takes one of `max` client slots, or `None` when all are taken. The slot counts towards
    /// [`Hub::client_count`] from now until it is dropped, so concurrent upgrades cannot overshoot
    /// the cap, and an upgrade that never completes gives its slot back.
    pub fn admit(&self, max: usize) -> Option<ClientSlot> {
        self.clients
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| ClientSlot(self.clients.clone()))
    }

    /// Runs a WebSocket task under the hub's tracker, holding `slot` until the task ends.
    pub fn spawn_client<F>(&self, slot: ClientSlot, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        crate::counters::WS_CLIENTS.inc();
        self.tasks.spawn(async move {
            task.await;
            drop(slot);
            crate::counters::WS_CLIENTS.dec();
        });
    }

    /// Admitted WebSocket clients right now (connected, or in the middle of their upgrade).
    pub fn client_count(&self) -> usize {
        self.clients.load(Ordering::Relaxed)
    }

    /// Tells every WebSocket task to close, and waits (at most `grace`) until they have.
    pub async fn shut_down(&self, grace: std::time::Duration) {
        self.shutdown.cancel();
        self.tasks.close();
        if tokio::time::timeout(grace, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                remaining = self.client_count(),
                "WebSocket clients did not close in time"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn branch_change() -> String {
        r#"{"type":"branch","branch":{"repo":"octo-org/octo-repo","name":"main","deleted":false}}"#
            .to_owned()
    }

    #[test]
    fn a_change_nobody_watches_still_moves_the_generation() {
        let hub = Hub::default();
        hub.publish("octo-org/octo-repo", branch_change);
        assert_eq!(hub.generation(), 1);
    }

    #[test]
    fn a_subscriber_gets_the_change_after_one_went_unwatched() {
        let hub = Hub::default();
        hub.publish("octo-org/octo-repo", branch_change);
        let mut feed = hub.subscribe();
        hub.publish("octo-org/octo-repo", branch_change);
        let message = feed
            .try_recv()
            .expect("the second change reaches the subscriber");
        assert!(message.text.as_str().contains(r#""type":"branch""#));
        assert_eq!(&*message.repo, "octo-org/octo-repo");
        assert!(feed.try_recv().is_err(), "only what came after subscribing");
        assert_eq!(hub.generation(), 2);
    }
}
