//! Keeping the database healthy: integrity checks, online backups, and retention.
//!
//! All three are safe while the server runs. The check and the backup only read (the backup reads
//! one consistent snapshot under WAL). Retention deletes in small transactions of at most
//! [`PRUNE_BATCH`] runs; the server runs them through its one writer, between groups of deliveries
//! (see [`crate::housekeeping`]), so deliveries never wait long.

use std::path::Path;

use rusqlite::{params, Connection, OpenFlags, TransactionBehavior};

use super::{configure, Result};

/// Runs (or delivery ids) deleted per transaction.
pub const PRUNE_BATCH: usize = 500;
/// Processed delivery ids are kept this long when no retention is configured: long enough to
/// recognise any redelivery, short enough that the table does not grow forever.
pub const DEFAULT_DELIVERY_RETENTION_DAYS: u32 = 30;
const DAY: i64 = 24 * 60 * 60;

/// Runs `PRAGMA integrity_check` on the database at `path` through a read-only connection and
/// returns its lines: exactly `["ok"]` for a sound database.
///
/// # Errors
/// When the file cannot be opened as a database.
pub fn integrity_check(path: &Path) -> Result<Vec<String>> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    configure(&conn)?;
    let mut stmt = conn.prepare("PRAGMA integrity_check")?;
    let lines = stmt
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(lines)
}

/// Writes a consistent, compacted copy of the database at `path` to `target` with `VACUUM INTO`,
/// while other connections keep reading and writing, and syncs it to disk. SQLite refuses a
/// `target` that already exists (and is not empty).
///
/// # Errors
/// When either file cannot be opened or written.
pub fn backup(path: &Path, target: &Path) -> Result<()> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    configure(&conn)?;
    let target_text = target.to_str().ok_or_else(|| {
        super::Error::Task(format!(
            "the backup path {} is not valid UTF-8",
            target.display()
        ))
    })?;
    conn.execute("VACUUM INTO ?1", [target_text])?;
    std::fs::File::open(target)
        .and_then(|file| file.sync_all())
        .map_err(|err| super::Error::Task(format!("syncing {}: {err}", target.display())))?;
    Ok(())
}

/// What is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Runs created more than this many days ago are deleted with their attempts and jobs;
    /// `None` keeps runs forever.
    pub run_days: Option<u32>,
    /// Processed delivery ids received more than this many days ago are forgotten.
    pub delivery_days: u32,
    /// Runner samples older than this many seconds are downsampled to one a minute
    /// (`--telemetry-retention`).
    pub telemetry_s: i64,
    /// Job logs fetched more than this many seconds ago are deleted (`--job-log-max-age`).
    pub job_log_s: i64,
    /// Job logs together keep at most this many bytes, the oldest deleted first
    /// (`--job-log-cache-mb`).
    pub job_log_bytes: u64,
}

/// Job logs are kept for 7 days by default.
pub const DEFAULT_JOB_LOG_RETENTION_S: i64 = 7 * 86_400;
/// Job logs take at most 256 MB by default.
pub const DEFAULT_JOB_LOG_BYTES: u64 = 256 * 1024 * 1024;

/// Runner samples are kept whole for 30 days by default, then downsampled.
pub const DEFAULT_TELEMETRY_RETENTION_S: i64 = 30 * 86_400;

impl Retention {
    /// The policy for `--retention-days`: runs and delivery ids for `days`, or runs forever and
    /// delivery ids for [`DEFAULT_DELIVERY_RETENTION_DAYS`].
    pub fn from_days(days: Option<std::num::NonZeroU32>) -> Self {
        match days {
            Some(days) => Self {
                run_days: Some(days.get()),
                delivery_days: days.get(),
                telemetry_s: DEFAULT_TELEMETRY_RETENTION_S,
                job_log_s: DEFAULT_JOB_LOG_RETENTION_S,
                job_log_bytes: DEFAULT_JOB_LOG_BYTES,
            },
            None => Self {
                run_days: None,
                delivery_days: DEFAULT_DELIVERY_RETENTION_DAYS,
                telemetry_s: DEFAULT_TELEMETRY_RETENTION_S,
                job_log_s: DEFAULT_JOB_LOG_RETENTION_S,
                job_log_bytes: DEFAULT_JOB_LOG_BYTES,
            },
        }
    }
}

/// Rows deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub runs: usize,
    pub jobs: usize,
    /// Commits older than the cutoff that no run points at any more.
    pub commits: usize,
    pub deliveries: usize,
}

impl Pruned {
    pub fn add(&mut self, other: Self) {
        self.runs += other.runs;
        self.jobs += other.jobs;
        self.commits += other.commits;
        self.deliveries += other.deliveries;
    }

    pub fn is_empty(self) -> bool {
        self == Self::default()
    }
}

/// Deletes at most `batch` old runs (with their attempts and jobs), `batch` old jobs whose run
/// never arrived, `batch` old commits no run points at, and `batch` old delivery ids, in one transaction. Returns what it deleted;
/// nothing deleted means nothing is left to prune.
///
/// # Errors
/// On a database error (the transaction is rolled back).
pub fn prune_batch(
    conn: &Connection,
    retention: &Retention,
    now: i64,
    batch: usize,
) -> Result<Pruned> {
    let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    let mut pruned = Pruned::default();
    let limit = i64::try_from(batch).unwrap_or(i64::MAX);
    if let Some(days) = retention.run_days {
        let cutoff = now - i64::from(days) * DAY;
        let runs = ids(
            &tx,
            "SELECT id FROM workflowruns WHERE createtime < ?1 ORDER BY createtime, id LIMIT ?2",
            params![cutoff, limit],
        )?;
        for run in &runs {
            // Jobs point at their run without a foreign key (a job may arrive first).
            for job in ids(&tx, "SELECT id FROM workflowjobs WHERE run_id = ?1", [run])? {
                pruned.jobs += delete_job(&tx, job)?;
            }
            tx.prepare_cached("DELETE FROM workflowrunattempts WHERE run_id = ?1")?
                .execute([run])?;
            // A claim on a red goes with the red's first run (it stopped showing when green).
            tx.prepare_cached("DELETE FROM claims WHERE first_red_run = ?1")?
                .execute([run])?;
            pruned.runs += tx
                .prepare_cached("DELETE FROM workflowruns WHERE id = ?1")?
                .execute([run])?;
        }
        let orphans = ids(
            &tx,
            "SELECT id FROM workflowjobs j
             WHERE COALESCE(j.createtime, j.starttime, j.endtime, 0) < ?1
               AND NOT EXISTS (SELECT 1 FROM workflowruns r WHERE r.id = j.run_id)
             LIMIT ?2",
            params![cutoff, limit],
        )?;
        for job in orphans {
            pruned.jobs += delete_job(&tx, job)?;
        }
        // A commit goes with its last run; one that never had a run goes by its own age.
        pruned.commits += tx
            .prepare_cached(
                "DELETE FROM commits WHERE id IN (
                     SELECT id FROM commits c
                     WHERE COALESCE(c.committime, 0) < ?1
                       AND NOT EXISTS (SELECT 1 FROM workflowruns r WHERE r.commit_id = c.id)
                     LIMIT ?2)",
            )?
            .execute(params![cutoff, limit])?;
    }
    let cutoff = now - i64::from(retention.delivery_days) * DAY;
    pruned.deliveries = tx
        .prepare_cached(
            "DELETE FROM deliveries WHERE id IN (
                 SELECT id FROM deliveries WHERE receivedtime < ?1 LIMIT ?2)",
        )?
        .execute(params![cutoff, limit])?;
    tx.commit()?;
    Ok(pruned)
}

/// The ids `sql` selects.
fn ids(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<Vec<i64>> {
    Ok(conn
        .prepare_cached(sql)?
        .query_map(params, |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?)
}

/// Deletes job `job` with its runner samples; returns the jobs deleted (0 or 1).
fn delete_job(conn: &Connection, job: i64) -> Result<usize> {
    super::samples::delete_job(conn, job)?;
    Ok(conn
        .prepare_cached("DELETE FROM workflowjobs WHERE id = ?1")?
        .execute([job])?)
}

/// Applies `retention` until nothing old is left, batch by batch (see [`prune_batch`]).
///
/// # Errors
/// On a database error; batches committed before it stay deleted.
pub fn prune(conn: &Connection, retention: &Retention, now: i64) -> Result<Pruned> {
    let mut total = Pruned::default();
    loop {
        let pruned = prune_batch(conn, retention, now, PRUNE_BATCH)?;
        if pruned.is_empty() {
            return Ok(total);
        }
        total.add(pruned);
    }
}

/// Refreshes the query planner's statistics where SQLite thinks they are stale, with bounded work
/// (`analysis_limit`), as SQLite advises for long-lived connections.
///
/// # Errors
/// On a database error.
pub fn refresh_statistics(conn: &Connection) -> Result<()> {
    Ok(conn.execute_batch("PRAGMA analysis_limit = 400; PRAGMA optimize = 0x10002;")?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn database() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.sqlite")).unwrap();
        (dir, store)
    }

    #[test]
    fn pruning_deletes_old_runs_with_their_jobs_and_attempts_in_batches_and_keeps_new_ones() {
        let (_dir, store) = database();
        let conn = store.open_writer().unwrap();
        let now = 1_000 * DAY;
        conn.execute_batch(
            "INSERT INTO repos (id, fullname, createtime) VALUES (1, 'o/r', 0);
             INSERT INTO workflows (id, repo_id, name, path) VALUES (1, 1, 'ci', 'ci.yml');
             INSERT INTO commits (id, repo_id, gitid, committime) VALUES (1, 1, 'abc', 0);",
        )
        .unwrap();
        // 1200 runs: ids below 1000 are 11 days old, the rest 9 days old; each has a job and an
        // attempt. Plus a 20-day-old job whose run never arrived, and delivery ids of each age.
        for id in 0..1200_i64 {
            let created = if id < 1000 {
                now - 11 * DAY
            } else {
                now - 9 * DAY
            };
            conn.execute(
                "INSERT INTO workflowruns (id, repo_id, workflow_id, commit_id, runnumber, runattempt,
                     event, headsha, status, statusrank, createtime)
                 VALUES (?1, 1, 1, 1, ?1, 1, 'push', 'abc', 'completed', 3, ?2)",
                params![id, created],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO workflowrunattempts (run_id, runattempt, status, statusrank)
                 VALUES (?1, 1, 'completed', 3)",
                [id],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO workflowjobs (id, run_id, repo_id, runattempt, name, status, statusrank, createtime)
                 VALUES (?1, ?1, 1, 1, 'build', 'completed', 3, ?2)",
                params![id, created],
            )
            .unwrap();
        }
        conn.execute_batch(&format!(
            "INSERT INTO workflowjobs (id, run_id, repo_id, runattempt, name, status, statusrank, createtime)
                 VALUES (99999, 424242, 1, 1, 'orphan', 'queued', 1, {});
             INSERT INTO deliveries (id, event, receivedtime) VALUES
                 ('old', 'push', {}), ('new', 'push', {});
             INSERT INTO commits (id, repo_id, gitid, committime) VALUES
                 (2, 1, 'old-without-runs', {}), (3, 1, 'new-without-runs', {});
             INSERT INTO claims (first_red_run, login, claimtime) VALUES
                 (5, 'alice', 0), (1005, 'bob', 0);",
            now - 20 * DAY,
            now - 11 * DAY,
            now - 9 * DAY,
            now - 11 * DAY,
            now - 9 * DAY
        ))
        .unwrap();
        // Runner samples of an old job (run 7), a new one (run 1007) and the orphan.
        for job in [7, 1007, 99999] {
            let posted = [crate::store::samples::Sample::at(now - 11 * DAY)];
            crate::store::samples::insert(&conn, job, &posted).unwrap();
        }
        let count = |table: &str| -> i64 {
            conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
                .unwrap()
        };

        let first = prune_batch(&conn, &Retention::from_days(None), now, PRUNE_BATCH).unwrap();
        assert_eq!(
            first,
            Pruned::default(),
            "without retention, nothing is 30 days old"
        );

        let retention = Retention::from_days(std::num::NonZeroU32::new(10));
        let one = prune_batch(&conn, &retention, now, PRUNE_BATCH).unwrap();
        assert_eq!(one.runs, PRUNE_BATCH, "one batch deletes at most a batch");
        let rest = prune(&conn, &retention, now).unwrap();

        assert_eq!(one.runs + rest.runs, 1000);
        assert_eq!(one.jobs + rest.jobs, 1001, "the orphan job goes too");
        assert_eq!(one.deliveries + rest.deliveries, 1);
        assert_eq!(
            one.commits + rest.commits,
            1,
            "an old commit without runs goes; an old commit new runs point at stays"
        );
        assert_eq!(count("commits WHERE id IN (1, 3)"), 2);
        assert_eq!(count("workflowruns"), 200);
        assert_eq!(count("workflowruns WHERE id < 1000"), 0);
        assert_eq!(count("workflowrunattempts"), 200);
        assert_eq!(count("workflowjobs"), 200);
        assert_eq!(
            count("jobsamples WHERE job_id = 1007") + count("jobsampletails WHERE job_id = 1007"),
            2,
            "a kept job keeps its samples"
        );
        assert_eq!(
            count("jobsamples") + count("jobsampletails"),
            2,
            "samples and tails go with their job, the orphan's too"
        );
        assert_eq!(count("deliveries"), 1);
        assert_eq!(
            count("claims WHERE first_red_run = 1005"),
            1,
            "a claim goes with its red's first run, and only then"
        );
        assert_eq!(count("claims"), 1);
        assert_eq!(
            prune(&conn, &retention, now).unwrap(),
            Pruned::default(),
            "nothing is left to prune"
        );
    }

    #[test]
    fn a_backup_is_a_sound_copy_and_an_existing_target_is_refused() {
        let (dir, store) = database();
        store.set_setting("k", "v").unwrap();
        let target = dir.path().join("copy.sqlite");

        backup(store.path(), &target).unwrap();

        assert_eq!(integrity_check(&target).unwrap(), vec!["ok".to_owned()]);
        let copy = Connection::open(&target).unwrap();
        let value: String = copy
            .query_row("SELECT value FROM settings WHERE key = 'k'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(value, "v");
        assert!(backup(store.path(), &target).is_err(), "never overwrites");
    }
}
