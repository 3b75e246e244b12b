//! Verified deliveries → database → hub, through one writer thread that commits in groups.
//!
//! Webhook handlers [`Ingest::submit`] a parsed event and wait. The writer takes every submission
//! queued at that moment (up to [`MAX_GROUP`]), applies them in one transaction, commits once, and
//! only then answers each handler, which only then answers GitHub with a 2xx: an acknowledged
//! delivery is on disk. One fsync serves the whole group, which is what makes thousands of durable
//! deliveries per second possible. A delivery that fails is rolled back without touching the
//! others (the group is applied again with a savepoint per delivery; see [`commit_group`]). After the
//! commit, a publisher thread hands the changes to what listens after commits, in commit order,
//! while the writer goes on with the next group.
//!
//! The writer knows the store and nothing above it: what reacts to a delivery plugs in through
//! this module's own traits, given to [`Ingest::start`] as [`Hooks`]. [`InTransaction`] runs in
//! each delivery's transaction (the notifier's transition detection); [`AfterCommit`] sees each
//! committed change on the publisher thread (the live feed, log fetching). The server wires them
//! in `crate::wiring`.
//!
//! The server's reconciler ([`crate::backfill::Reconciler`]) feeds runs it found through the REST
//! API into the same writer with [`Ingest::apply`], so they are published like deliveries.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, warn};

use crate::github::event::{Event, EventKind};
use crate::store::{self, model::Change, write, write::Known, Store};

/// Most deliveries committed in one transaction.
pub const MAX_GROUP: usize = 512;
/// Submissions that may wait for the writer before `submit` itself waits (backpressure).
const QUEUE_DEPTH: usize = 4096;

/// What happened to a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Committed; `changes` rows or messages resulted (0 for a no-op such as a tag push or a late event).
    Applied { changes: usize },
    /// This delivery id was processed before: nothing was done.
    Duplicate,
}

/// Runs in each delivery's own transaction, right after its rows are written, so that what it
/// writes commits or rolls back with them.
pub trait InTransaction: Send + 'static {
    /// Reacts to the `changes` one delivery made, on its transaction's connection.
    ///
    /// # Errors
    /// A database error, which fails (and rolls back) that delivery.
    fn on_changes(&self, conn: &Connection, changes: &[Change], now: i64) -> store::Result<()>;

    /// Called on the writer thread after each group is committed (or failed).
    fn after_group(&self) {}
}

/// Sees every committed change, in commit order, on the publisher thread. A panic is logged, and
/// the publisher carries on with the next group.
pub trait AfterCommit: Send + 'static {
    fn committed(&self, change: &Change);
}

/// What plugs into the writer; [`Hooks::default`] has nothing.
#[derive(Default)]
pub struct Hooks {
    /// Run in each delivery's transaction.
    pub in_transaction: Option<Box<dyn InTransaction>>,
    /// Called for every committed change, in this order.
    pub after_commit: Vec<Box<dyn AfterCommit>>,
}

/// Errors from ingest. `Store` maps to 500, `Closed` to 503.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error("the server is shutting down")]
    Closed,
}

struct Submission {
    /// `None` for events that did not come as a webhook delivery (reconciliation).
    delivery_id: Option<String>,
    kind: EventKind,
    event: Event,
    reply: oneshot::Sender<Result<Outcome, Error>>,
}

/// A write that is not a delivery, run on the writer's connection between two groups.
type Task = Box<dyn FnOnce(&Connection) + Send>;

/// What the writer thread is handed. Deliveries travel by value as they always did; boxing them to
/// match the small, rare task would cost an allocation per delivery.
#[allow(clippy::large_enum_variant)]
enum Job {
    Delivery(Submission),
    Task(Task),
}

/// The handle handlers use; cheap to clone.
#[derive(Clone)]
pub struct Ingest {
    queue: mpsc::Sender<Job>,
    /// Whether the latest delivery group failed (its commit, or a delivery in it), e.g. on a full
    /// disk; `/readyz` reports not ready while it is set. Only the next group that commits whole
    /// clears it (a readiness probe's small write can commit where deliveries cannot).
    failing: Arc<AtomicBool>,
}

/// The writer thread and its publisher; join them after every [`Ingest`] handle is dropped to
/// drain the queue.
pub struct Writer {
    writer: JoinHandle<()>,
    publisher: JoinHandle<()>,
}

impl Writer {
    /// Waits until the writer has committed everything submitted, and the publisher has handed
    /// every change to the hub, and both have exited.
    pub fn join(self) {
        if self.writer.join().is_err() {
            error!("the ingest writer thread panicked");
        }
        // The writer dropped its end of the changes channel: the publisher drains it and ends.
        if self.publisher.join().is_err() {
            error!("the ingest publisher thread panicked");
        }
    }
}

/// Committed groups' changes waiting for the publisher; past this the writer waits for it.
const PUBLISH_DEPTH: usize = 1024;

/// Hands committed changes to `hooks`, in commit order, on a thread of its own: rendering a run's
/// fragments and serialising the messages took an eighth of the writer's time, which the next
/// group waited for.
fn run_publisher(changes: std::sync::mpsc::Receiver<Vec<Change>>, hooks: &[Box<dyn AfterCommit>]) {
    for group in changes {
        let published = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            for change in &group {
                for hook in hooks {
                    hook.committed(change);
                }
            }
        }));
        if published.is_err() {
            error!("publishing a change panicked; the publisher carries on");
        }
    }
}

impl Ingest {
    /// Starts the writer thread on its own read-write connection, and its publisher, with `hooks`
    /// plugged in.
    ///
    /// # Errors
    /// When the database cannot be opened for writing.
    pub fn start(store: &Store, hooks: Hooks) -> Result<(Self, Writer), Error> {
        let conn = store.open_writer()?;
        let (queue, receiver) = mpsc::channel(QUEUE_DEPTH);
        let (changes, published) = std::sync::mpsc::sync_channel(PUBLISH_DEPTH);
        let spawn = |name: &str, run: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(run)
                .expect("spawning a thread only fails when the OS is out of resources")
        };
        let Hooks {
            in_transaction,
            after_commit,
        } = hooks;
        let publisher = spawn(
            "ingest-publisher",
            Box::new(move || run_publisher(published, &after_commit)),
        );
        let failing = Arc::new(AtomicBool::new(false));
        let health = failing.clone();
        let writer = spawn(
            "ingest-writer",
            Box::new(move || {
                run_writer(conn, receiver, changes, &health, in_transaction.as_deref())
            }),
        );
        Ok((Self { queue, failing }, Writer { writer, publisher }))
    }

    /// Whether the latest delivery group failed to store (see `failing`).
    pub fn last_group_failed(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }

    /// Stores `event` (delivery `delivery_id`) and returns once it is committed.
    ///
    /// # Errors
    /// A database error, or [`Error::Closed`] when the writer has stopped.
    pub async fn submit(
        &self,
        delivery_id: String,
        kind: EventKind,
        event: Event,
    ) -> Result<Outcome, Error> {
        self.enqueue(Some(delivery_id), kind, event).await
    }

    /// Stores `event`, which did not come as a webhook delivery (the reconciler found it through
    /// the REST API), and returns once it is committed. Its changes are published like a
    /// delivery's; there is no delivery id to deduplicate on, but the upserts are idempotent.
    ///
    /// # Errors
    /// A database error, or [`Error::Closed`] when the writer has stopped.
    pub async fn apply(&self, kind: EventKind, event: Event) -> Result<Outcome, Error> {
        self.enqueue(None, kind, event).await
    }

    /// Runs `f` on the writer's connection, after the deliveries already queued, and returns
    /// its result. For the few writes that are not deliveries (retention, statistics, API
    /// mutations, the readiness probe): through the one writer they wait their turn instead of
    /// contending for SQLite's write lock with a writer that, under load, hardly ever lets go of
    /// it (they used to fail with "database is locked" after the 5 s busy timeout). `f` runs in
    /// autocommit mode and manages its own transaction; keep it short, deliveries wait behind it.
    ///
    /// # Errors
    /// Whatever `f` returns, or [`Error::Closed`] when the writer has stopped.
    pub async fn write<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> store::Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let task: Task = Box::new(move |conn| {
            let _ = reply.send(f(conn));
        });
        self.queue
            .send(Job::Task(task))
            .await
            .map_err(|_| Error::Closed)?;
        Ok(answer.await.map_err(|_| Error::Closed)??)
    }

    async fn enqueue(
        &self,
        delivery_id: Option<String>,
        kind: EventKind,
        event: Event,
    ) -> Result<Outcome, Error> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job::Delivery(Submission {
                delivery_id,
                kind,
                event,
                reply,
            }))
            .await
            .map_err(|_| Error::Closed)?;
        answer.await.map_err(|_| Error::Closed)?
    }
}

/// Background tasks' writes, through the writer (see [`Ingest::write`]).
impl store::Writes for Ingest {
    type Error = Error;

    async fn write<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> store::Result<T> + Send + 'static,
    {
        Ingest::write(self, f).await
    }
}

/// Takes every delivery queued at the moment into a group (up to [`MAX_GROUP`]) and commits it; a
/// task ends the group and runs after it, so everything runs in the order it was submitted.
fn run_writer(
    mut conn: Connection,
    mut receiver: mpsc::Receiver<Job>,
    publisher: std::sync::mpsc::SyncSender<Vec<Change>>,
    failing: &AtomicBool,
    hook: Option<&dyn InTransaction>,
) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    let mut known = Known::default();
    let mut next = receiver.blocking_recv();
    while let Some(job) = next.take() {
        let task = match job {
            Job::Task(task) => Some(task),
            Job::Delivery(first) => {
                group.push(first);
                let mut task = None;
                while group.len() < MAX_GROUP {
                    match receiver.try_recv() {
                        Ok(Job::Delivery(delivery)) => group.push(delivery),
                        Ok(Job::Task(queued)) => {
                            task = Some(queued);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                let stored = commit_group(&mut conn, &mut group, &publisher, &mut known, hook);
                if let Some(hook) = hook {
                    hook.after_group();
                }
                failing.store(!stored, Ordering::Relaxed);
                task
            }
        };
        if let Some(task) = task {
            run_task(&conn, task);
            known.forget(); // tasks write what they like (repositories, retention, purges)
        }
        next = receiver.blocking_recv();
    }
    debug!("ingest writer drained and stopped");
}

/// Runs `task`; a panic in it is logged (its caller gets [`Error::Closed`]) and does not take the
/// writer down, and a transaction it left open is rolled back.
fn run_task(conn: &Connection, task: Task) {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| task(conn)));
    if outcome.is_err() {
        error!("a write task panicked; the writer carries on");
    }
    if !conn.is_autocommit() {
        warn!("a write task left a transaction open; rolling it back");
        if let Err(err) = conn.execute_batch("ROLLBACK") {
            error!(cause = %err, "could not roll back a write task's transaction");
        }
    }
}

/// What applying a group gave: per delivery, its outcome and changes, or its error.
type Outcomes = Vec<Result<(Outcome, Vec<Change>), store::Error>>;

/// Applies and commits `group`, answers every submitter, then hands the changes to the publisher.
/// Returns whether every delivery of the group was stored.
///
/// The group is first applied as one plain transaction. Only if a delivery fails is that
/// transaction rolled back and the group applied again with a savepoint per delivery, so that the
/// failing one is rolled back alone. Failures are rare (a delivery that parsed and verified
/// normally applies), and a savepoint costs every delivery a copy of each page it touches.
fn commit_group(
    conn: &mut Connection,
    group: &mut Vec<Submission>,
    publisher: &std::sync::mpsc::SyncSender<Vec<Change>>,
    known: &mut Known,
    hook: Option<&dyn InTransaction>,
) -> bool {
    let started = std::time::Instant::now();
    let now = chrono::Utc::now().timestamp();
    // A panic while applying (a bug) must not take the writer, and with it every later delivery,
    // down: the transaction rolls back as it unwinds and the group gets an error.
    let committed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        match apply_group(conn, group, now, Isolation::None, known, hook) {
            Ok(Some(outcomes)) => Ok(outcomes),
            Ok(None) => apply_group(
                conn,
                group,
                now,
                Isolation::SavepointPerDelivery,
                known,
                hook,
            )
            .map(|outcomes| outcomes.expect("with savepoints every outcome is kept")),
            Err(err) => Err(err),
        }
    }))
    .unwrap_or_else(|_| {
        Err(store::Error::Task(
            "applying the delivery group panicked".into(),
        ))
    });
    if committed.is_err() {
        known.forget(); // the whole group was rolled back (a failed delivery forgot already)
    }
    let size = group.len();
    let mut published = Vec::new();
    let stored = committed
        .as_ref()
        .is_ok_and(|outcomes| outcomes.iter().all(Result::is_ok));
    match committed {
        Ok(outcomes) => {
            for (submission, outcome) in group.drain(..).zip(outcomes) {
                let answer = outcome.map(|(outcome, changes)| {
                    published.extend(changes);
                    outcome
                });
                let _ = submission.reply.send(answer.map_err(Error::Store));
            }
        }
        Err(err) => {
            error!(cause = %err, size, "commit of a delivery group failed; none acknowledged");
            for submission in group.drain(..) {
                let _ = submission
                    .reply
                    .send(Err(Error::Store(store::Error::Task(format!(
                        "commit failed: {err}"
                    )))));
            }
        }
    }
    let elapsed = started.elapsed();
    crate::counters::WRITE_SECONDS.observe(elapsed.as_secs_f64());
    crate::counters::WRITE_GROUP_SIZE.observe(size as f64);
    debug!(
        size,
        elapsed_us = elapsed.as_micros() as u64,
        "committed delivery group"
    );
    if !published.is_empty() {
        // Only fails once the publisher is gone, which only happens when it panicked outside
        // a publish; its join reports that.
        let _ = publisher.send(published);
    }
    stored
}

/// How [`apply_group`] keeps one delivery's failure from the others.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Isolation {
    /// No savepoints: the first failure rolls back the whole group.
    None,
    /// A savepoint per delivery: a failure rolls back that delivery only.
    SavepointPerDelivery,
}

/// Applies `group` in one transaction and commits it. `Ok(None)`: without isolation a delivery
/// failed and nothing was committed.
fn apply_group(
    conn: &mut Connection,
    group: &[Submission],
    now: i64,
    isolation: Isolation,
    known: &mut Known,
    hook: Option<&dyn InTransaction>,
) -> Result<Option<Outcomes>, store::Error> {
    let mut outcomes: Outcomes = Vec::with_capacity(group.len());
    let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Holding the write lock, nobody else can commit until this group has: checked here, the
    // writer's memory is right for the whole group.
    known.forget_if_changed_elsewhere(&tx)?;
    for submission in group {
        let applied = if isolation == Isolation::SavepointPerDelivery {
            let savepoint = tx.savepoint()?;
            let applied = apply_one(&savepoint, submission, now, known, hook);
            if applied.is_ok() {
                savepoint.commit()?;
            } // else dropping the savepoint rolls back this delivery only
            applied
        } else {
            apply_one(&tx, submission, now, known, hook)
        };
        if let Err(err) = &applied {
            // What it learnt from this delivery was rolled back with it.
            known.forget();
            warn!(delivery = submission.delivery_id.as_deref().unwrap_or("-"), cause = %err, "delivery failed to apply");
            if isolation == Isolation::None {
                // Dropping `tx` rolls the group back, this delivery's partial writes and its
                // recorded id included; the retry isolates it (a lone delivery too, so that it
                // can be delivered again).
                return Ok(None);
            }
        }
        outcomes.push(applied);
    }
    tx.commit()?;
    Ok(Some(outcomes))
}

fn apply_one(
    conn: &Connection,
    submission: &Submission,
    now: i64,
    known: &mut Known,
    hook: Option<&dyn InTransaction>,
) -> Result<(Outcome, Vec<Change>), store::Error> {
    if let Some(delivery_id) = &submission.delivery_id {
        if !write::record_delivery(conn, delivery_id, submission.kind.as_str(), now)? {
            return Ok((Outcome::Duplicate, Vec::new()));
        }
    }
    let changes = write::apply_event_with(conn, &submission.event, now, known)?;
    if let Some(hook) = hook {
        // In the delivery's transaction: what it writes is stored with the delivery's rows.
        hook.on_changes(conn, &changes, now)?;
    }
    Ok((
        Outcome::Applied {
            changes: changes.len(),
        },
        changes,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::event;

    fn run_event(id: i64) -> Event {
        let mut payload: serde_json::Value = serde_json::from_slice(include_bytes!(
            "../tests/fixtures/github/webhooks/workflow_run/completed.payload.json"
        ))
        .unwrap();
        payload["workflow_run"]["id"] = serde_json::json!(id);
        event::parse(
            EventKind::WorkflowRun,
            &serde_json::to_vec(&payload).unwrap(),
        )
        .unwrap()
    }

    /// Rows in `table` of `store`, read on a connection of its own.
    fn count(store: &Store, table: &str) -> i64 {
        store
            .open_writer()
            .unwrap()
            .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| {
                row.get(0)
            })
            .unwrap()
    }

    /// Runs `sql` on a connection of its own, as another process would.
    fn execute_elsewhere(store: &Store, sql: &str) {
        store.open_writer().unwrap().execute_batch(sql).unwrap();
    }

    /// A fresh database that refuses run 666 (a trigger, as a disk or constraint error would),
    /// and a writer on it. `DROP TRIGGER refuse_666` makes it accept the run again.
    fn refusing_run_666() -> (tempfile::TempDir, Store, Ingest, Writer) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.sqlite")).unwrap();
        execute_elsewhere(
            &store,
            "CREATE TRIGGER refuse_666 BEFORE INSERT ON workflowruns
             WHEN NEW.id = 666 BEGIN SELECT RAISE(ABORT, 'refused'); END;",
        );
        let (ingest, writer) = Ingest::start(&store, Hooks::default()).unwrap();
        (dir, store, ingest, writer)
    }

    #[tokio::test]
    async fn a_lone_delivery_that_fails_leaves_nothing_behind_and_can_be_redelivered() {
        let (_dir, store, ingest, writer) = refusing_run_666();

        let failed = ingest
            .submit("d-666".into(), EventKind::WorkflowRun, run_event(666))
            .await;
        assert!(matches!(failed, Err(Error::Store(_))), "{failed:?}");
        assert_eq!(
            (
                count(&store, "deliveries"),
                count(&store, "repos"),
                count(&store, "commits")
            ),
            (0, 0, 0),
            "neither the id nor the rows written before the failure stay"
        );

        execute_elsewhere(&store, "DROP TRIGGER refuse_666;");
        let again = ingest
            .submit("d-666".into(), EventKind::WorkflowRun, run_event(666))
            .await;
        assert!(matches!(again, Ok(Outcome::Applied { .. })), "{again:?}");
        drop(ingest);
        writer.join();
        assert_eq!(count(&store, "workflowruns"), 1);
    }

    #[tokio::test]
    async fn rows_another_connection_changed_are_read_again_not_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.sqlite")).unwrap();
        let (ingest, writer) = Ingest::start(&store, Hooks::default()).unwrap();
        let first = ingest
            .submit("d-1".into(), EventKind::WorkflowRun, run_event(1))
            .await;
        assert!(
            matches!(first, Ok(Outcome::Applied { changes: 1 })),
            "{first:?}"
        );

        // Another process (an operator's sqlite3, `init_db`) stops monitoring the repository
        // the writer has just stored as monitored.
        execute_elsewhere(&store, "UPDATE repos SET monitored = 0");
        let second = ingest
            .submit("d-2".into(), EventKind::WorkflowRun, run_event(2))
            .await;
        assert!(
            matches!(second, Ok(Outcome::Applied { changes: 0 })),
            "a delivery for a repository no longer monitored is ignored: {second:?}"
        );
        drop(ingest);
        writer.join();
        assert_eq!(count(&store, "workflowruns"), 1);
    }

    /// Submitted together, the three deliveries share a group (in practice always: the writer
    /// thread wakes long after `join!` has queued all three; if it ever takes the first alone, the
    /// test still checks the outcomes).
    #[tokio::test]
    async fn a_delivery_that_fails_in_a_group_is_rolled_back_alone_and_can_be_redelivered() {
        let (_dir, store, ingest, writer) = refusing_run_666();
        let submit = |delivery: &str, run: i64| {
            ingest.submit(delivery.to_owned(), EventKind::WorkflowRun, run_event(run))
        };

        let (first, failing, last) =
            tokio::join!(submit("d-1", 1), submit("d-666", 666), submit("d-3", 3));
        assert!(matches!(first, Ok(Outcome::Applied { .. })), "{first:?}");
        assert!(matches!(failing, Err(Error::Store(_))), "{failing:?}");
        assert!(matches!(last, Ok(Outcome::Applied { .. })), "{last:?}");

        // The failed delivery left nothing behind, not even its id: a redelivery is applied.
        execute_elsewhere(&store, "DROP TRIGGER refuse_666;");
        let again = submit("d-666", 666).await;
        assert!(matches!(again, Ok(Outcome::Applied { .. })), "{again:?}");
        let duplicate = submit("d-1", 1).await;
        assert!(matches!(duplicate, Ok(Outcome::Duplicate)), "{duplicate:?}");
        drop(ingest);
        writer.join();
        let runs: Vec<i64> = store
            .open_writer()
            .unwrap()
            .prepare("SELECT id FROM workflowruns ORDER BY id")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(runs, [1, 3, 666]);
    }
}
