//! Fan-out of committed changes to every WebSocket client, and the shutdown signal they obey.
//!
//! Each change is serialised to JSON once and the shared text goes to all subscribers through a
//! bounded `broadcast` channel. A slow client does not hold anyone up: it lags, and when it next
//! reads it is told how many messages it missed and sent a fresh snapshot (see `web::ws`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::store::model::Change;

/// Messages buffered per hub before the slowest subscribers start to lag.
pub const CHANNEL_CAPACITY: usize = 1024;

/// A serialised message, shared by every subscriber.
pub type Message = Arc<str>;

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
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    pub fn new() -> Self {
        let (sender, _) = broadcast::channel(CHANNEL_CAPACITY);
        Self {
            sender,
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            clients: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Serialises `change` once and sends it to every subscriber.
    pub fn publish(&self, change: &Change) {
        let json = serde_json::to_string(change).expect("changes serialise to JSON");
        // An error only means nobody is listening.
        let _ = self.sender.send(Arc::from(json));
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
        crate::metrics::WS_CLIENTS.inc();
        self.tasks.spawn(async move {
            task.await;
            drop(slot);
            crate::metrics::WS_CLIENTS.dec();
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
