//! Background upkeep of the database while the server runs: the query planner's statistics once
//! after start, and the retention policy at start and every [`PRUNE_INTERVAL`] (runs, deliveries,
//! runner samples, and the job log cache's age and size bounds). Every write goes
//! through the ingest writer ([`Ingest::write`]), between two groups of deliveries, in batches
//! small enough that a delivery never waits long behind one.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::ingest::Ingest;
use crate::store::maintenance::{self, Pruned, Retention, PRUNE_BATCH};

/// How often the retention policy is applied (it also is once at start).
pub const PRUNE_INTERVAL: Duration = Duration::from_secs(60 * 60);
/// The pause between two retention batches, which lets deliveries through.
const PRUNE_PAUSE: Duration = Duration::from_millis(20);

/// The rounds of a periodic task: the first at once, then one every `every`, until `shutdown` is
/// cancelled. A round that overran delays the next one rather than bunching them up.
pub struct Rounds<'a> {
    ticks: tokio::time::Interval,
    shutdown: &'a CancellationToken,
}

impl<'a> Rounds<'a> {
    pub fn new(every: Duration, shutdown: &'a CancellationToken) -> Self {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Self { ticks, shutdown }
    }

    /// Waits for the next round: `false` once `shutdown` is cancelled.
    pub async fn next(&mut self) -> bool {
        tokio::select! {
            () = self.shutdown.cancelled() => false,
            _ = self.ticks.tick() => true,
        }
    }
}

/// Refreshes the planner's statistics, then applies `retention` every `every` until `shutdown`.
pub async fn run(
    ingest: Ingest,
    retention: Retention,
    every: Duration,
    shutdown: CancellationToken,
) {
    // On a large database never analysed this takes a moment: it runs after the server listens.
    if let Err(err) = ingest.write(maintenance::refresh_statistics).await {
        warn!(cause = %err, "could not refresh the query planner's statistics");
    }
    prune_periodically(&ingest, retention, every, &shutdown).await;
}

/// Applies `retention` at once and then every `every`, one batch per short transaction with a
/// pause in between, until `shutdown` is cancelled. Errors are logged and retried at the next round.
async fn prune_periodically(
    ingest: &Ingest,
    retention: Retention,
    every: Duration,
    shutdown: &CancellationToken,
) {
    let mut rounds = Rounds::new(every, shutdown);
    while rounds.next().await {
        let mut total = Pruned::default();
        let result = loop {
            let now = chrono::Utc::now().timestamp();
            match ingest
                .write(move |conn| maintenance::prune_batch(conn, &retention, now, PRUNE_BATCH))
                .await
            {
                Ok(pruned) if pruned.is_empty() => break Ok(()),
                Ok(pruned) => total.add(pruned),
                Err(err) => break Err(err),
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(PRUNE_PAUSE) => {}
            }
        };
        let before = chrono::Utc::now().timestamp() - retention.telemetry_s;
        match ingest
            .write(move |conn| crate::store::samples::downsample(conn, before))
            .await
        {
            Ok(0) => {}
            Ok(deleted) => info!(deleted, "retention: downsampled old runner samples"),
            Err(err) => error!(cause = %err, "retention: downsampling samples failed"),
        }
        prune_job_logs(ingest, &retention).await;
        match result {
            Ok(()) if total.is_empty() => {}
            Ok(()) => info!(
                runs = total.runs,
                jobs = total.jobs,
                commits = total.commits,
                deliveries = total.deliveries,
                "retention: deleted old rows"
            ),
            Err(err) => {
                error!(cause = %err, "retention: pruning failed; retrying at the next round")
            }
        }
    }
}

/// Applies the job log cache's bounds: its age limit, then its total size.
async fn prune_job_logs(ingest: &Ingest, retention: &Retention) {
    let before = chrono::Utc::now().timestamp() - retention.job_log_s;
    let max_bytes = retention.job_log_bytes;
    match ingest
        .write(move |conn| crate::store::logs::prune(conn, before, max_bytes))
        .await
    {
        Ok(0) => {}
        Ok(deleted) => info!(deleted, "retention: deleted cached job logs"),
        Err(err) => error!(cause = %err, "retention: pruning job logs failed"),
    }
}
