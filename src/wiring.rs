//! How the server's parts plug into each other where neither should know the other: each part
//! defines the trait it calls, and the glue lives here, beside `App::build`, which uses it.
//!
//! - The ingest writer ([`crate::ingest`]) knows only the store and its own traits:
//!   [`Feed`] publishes each committed change to the hub, [`Explainer`] hands failed jobs to the
//!   log fetcher, and the notifier's [`Detector`] detects transitions in each delivery's
//!   transaction.
//! - The log fetcher stores what it finds through its [`FailureSink`], which is the writer.
//! - The notification sender writes through [`crate::store::Writes`], which the writer implements
//!   in `ingest` (a store trait: the arrow points down).
//! - The settings an admin changes at run time ([`crate::settings`]) reach the feed and the
//!   detector here: each commit reads the current snapshot ([`Feed`], [`LiveDetector`]), so
//!   neither the notifier nor the feed knows the settings page.

use std::sync::{Arc, OnceLock};

use rusqlite::Connection;
use tracing::warn;

use crate::feed;
use crate::hub::Hub;
use crate::ingest::{AfterCommit, InTransaction, Ingest};
use crate::log_fetch::{FailedJob, FailureSink, JobFailure, LogFetcher};
use crate::notify::detect::Detector;
use crate::settings::Settings;
use crate::store::{self, model::Change};
use crate::views::Opts;

/// Publishes every committed change to the WebSocket clients, as the feed's message, under the
/// authors rule of the moment.
pub struct Feed {
    pub hub: Hub,
    pub opts: Opts,
    pub settings: Settings,
}

impl AfterCommit for Feed {
    fn committed(&self, change: &Change) {
        let opts = Opts {
            privacy: self.settings.privacy(),
            ..self.opts
        };
        self.hub
            .publish(change.repo(), || feed::change(change, opts));
    }
}

/// Hands every committed job that failed to the log fetcher, to be explained from its log; a
/// no-op until the fetcher is set (the server has one only with a GitHub token, and the fetcher
/// needs an [`Ingest`] of its own to store what it finds, so it comes after the writer).
#[derive(Clone, Default)]
pub struct Explainer(Arc<OnceLock<LogFetcher>>);

impl Explainer {
    /// From now on, failed jobs go to `fetcher`. Only the first call takes effect.
    pub fn explain_with(&self, fetcher: LogFetcher) {
        let _ = self.0.set(fetcher);
    }
}

impl AfterCommit for Explainer {
    fn committed(&self, change: &Change) {
        if let (Change::Job { job }, Some(fetcher)) = (change, self.0.get()) {
            if job.failed() {
                fetcher.enqueue(FailedJob::from(job));
            }
        }
    }
}

/// A [`Detector`] that takes the watched branches, the targets and the authors rule of the
/// moment from the live settings, once per delivery.
pub struct LiveDetector {
    pub detector: Detector,
    pub settings: Settings,
}

/// Transitions are detected, and their notifications queued, in the delivery's transaction:
/// they are stored with the run that made them.
impl InTransaction for LiveDetector {
    fn on_changes(&self, conn: &Connection, changes: &[Change], now: i64) -> store::Result<()> {
        let current = self.settings.current();
        let mut detector = self.detector.clone();
        detector.watched = current.watched.clone();
        detector.targets = current.targets.clone();
        detector.opts.privacy = current.privacy;
        detector
            .on_changes_isolated(conn, changes, now)
            .map(|_queued| ())
    }

    fn after_group(&self) {
        self.detector.wake.notify_one(); // the sender looks at the outbox
    }
}

/// The server's sink for explained failures: each is stored in `jobfailures` through the writer.
impl FailureSink for Ingest {
    async fn record(&mut self, failure: JobFailure) {
        let row = failure.to_row();
        let job_id = row.job_id;
        if let Err(err) = self
            .write(move |conn| store::failures::record(conn, &row))
            .await
        {
            warn!(job_id, cause = %err, "storing why a job failed failed");
        }
    }
}
