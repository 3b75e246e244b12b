//! Why failed jobs failed: the `jobfailures` table, written by the log fetcher
//! ([`crate::log_fetch`]) through the ingest writer and read by triage and the API.
//!
//! One row per job, replaced when the job's log is fetched again (a re-run attempt has new job
//! ids, so a replacement is the same attempt's log read again). A row holds either what the log
//! said (`rule`, `signature`, `excerpt`) or, when it could not be read for good, why (`error`);
//! a fallback from the check run's annotations has both.

use rusqlite::Connection;

use super::{rows, Result};

/// A row of `jobfailures`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JobFailureRow {
    pub job_id: i64,
    pub run_id: i64,
    pub repo_id: i64,
    /// The rule that matched (`failure::Rule::as_str`), `None` when nothing explained the failure.
    pub rule: Option<String>,
    /// The normalised one-line failure: equal across runs and workflows for the same failure.
    pub signature: Option<String>,
    /// A few lines of the log around the failure.
    pub excerpt: Option<String>,
    /// Epoch seconds.
    pub fetched_time: i64,
    /// Why the log could not be read ("log not available", "log expired", ...); `None` if it was.
    pub error: Option<String>,
}

const COLUMNS: &str = "job_id, run_id, repo_id, rule, signature, excerpt, fetchedtime, error";

/// A row of `jobfailures` by [`JobFailureRow`]'s field names.
const SELECT: &str = "SELECT job_id, run_id, repo_id, rule, signature, excerpt,
                             fetchedtime AS fetched_time, error
                      FROM jobfailures";

/// Stores `failure`, replacing what was stored for the same job.
///
/// # Errors
/// On a database error.
pub fn record(conn: &Connection, failure: &JobFailureRow) -> Result<()> {
    conn.prepare_cached(&format!(
        "INSERT OR REPLACE INTO jobfailures ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
    ))?
    .execute((
        failure.job_id,
        failure.run_id,
        failure.repo_id,
        &failure.rule,
        &failure.signature,
        &failure.excerpt,
        failure.fetched_time,
        &failure.error,
    ))?;
    Ok(())
}

/// What is stored for job `job_id`.
///
/// # Errors
/// On a database error.
pub fn for_job(conn: &Connection, job_id: i64) -> Result<Option<JobFailureRow>> {
    rows::one(conn, &format!("{SELECT} WHERE job_id = ?1"), [job_id])
}

/// What is stored for the jobs of run `run_id`, by job id.
///
/// # Errors
/// On a database error.
pub fn for_run(conn: &Connection, run_id: i64) -> Result<Vec<JobFailureRow>> {
    rows::all(
        conn,
        &format!("{SELECT} WHERE run_id = ?1 ORDER BY job_id"),
        [run_id],
    )
}

/// The newest `limit` failures with `signature` fetched at or after `since` (epoch seconds),
/// newest first: the same failure in other workflows (triage's grouping) or in earlier runs
/// (the flaky/broken call).
///
/// # Errors
/// On a database error.
pub fn with_signature(
    conn: &Connection,
    signature: &str,
    since: i64,
    limit: u32,
) -> Result<Vec<JobFailureRow>> {
    rows::all(
        conn,
        &format!("{SELECT} WHERE signature = ?1 AND fetchedtime >= ?2 ORDER BY fetchedtime DESC LIMIT ?3"),
        (signature, since, limit),
    )
}

/// A failed job with no row here yet.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Unexplained {
    pub job_id: i64,
    pub run_id: i64,
    pub repo_id: i64,
    /// `owner/name`.
    pub repo: String,
}

/// Failed jobs among the newest `scan` jobs that have no row here: what a restart left
/// unexplained (the log fetcher's queue lives in memory), newest first, at most `limit`. The scan
/// is bounded, so this costs the same at any size; older failures stay unexplained.
///
/// # Errors
/// On a database error.
pub fn unexplained(conn: &Connection, scan: u32, limit: u32) -> Result<Vec<Unexplained>> {
    let sql = format!(
        "SELECT j.id AS job_id, j.run_id, j.repo_id, p.fullname AS repo
         FROM (SELECT id, run_id, repo_id, statusrank, conclusion FROM workflowjobs
               ORDER BY id DESC LIMIT ?1) j
         JOIN repos p ON p.id = j.repo_id
         WHERE {done} AND j.conclusion IN ({red})
           AND NOT EXISTS (SELECT 1 FROM jobfailures f WHERE f.job_id = j.id)
         ORDER BY j.id DESC LIMIT ?2",
        done = crate::run_state::done_sql("j"),
        red = *crate::run_state::RED_SQL,
    );
    rows::all(conn, &sql, (scan, limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(job_id: i64, run_id: i64, signature: Option<&str>, fetched_time: i64) -> JobFailureRow {
        JobFailureRow {
            job_id,
            run_id,
            repo_id: 1,
            rule: signature.map(|_| "cargo-test".to_owned()),
            signature: signature.map(str::to_owned),
            excerpt: signature.map(|s| format!("excerpt of {s}")),
            fetched_time,
            error: signature.is_none().then(|| "log expired".to_owned()),
        }
    }

    #[test]
    fn failures_are_stored_replaced_and_found_by_job_run_and_signature() {
        // Arrange
        let conn = crate::store::memory_db();
        let sig = "test a panicked at src/a.rs:N:N: boom";

        // Act
        record(&conn, &row(10, 1, None, 100)).unwrap();
        record(&conn, &row(10, 1, Some(sig), 110)).unwrap();
        record(&conn, &row(11, 1, Some("other"), 110)).unwrap();
        record(&conn, &row(20, 2, Some(sig), 200)).unwrap();
        record(&conn, &row(30, 3, None, 300)).unwrap();

        // Assert
        assert_eq!(
            for_job(&conn, 10).unwrap(),
            Some(row(10, 1, Some(sig), 110))
        );
        assert_eq!(for_job(&conn, 99).unwrap(), None);
        assert_eq!(
            for_job(&conn, 30).unwrap().unwrap().error.as_deref(),
            Some("log expired")
        );
        let run: Vec<i64> = for_run(&conn, 1)
            .unwrap()
            .iter()
            .map(|r| r.job_id)
            .collect();
        assert_eq!(run, [10, 11]);
        let same: Vec<i64> = with_signature(&conn, sig, 0, 10)
            .unwrap()
            .iter()
            .map(|r| r.job_id)
            .collect();
        assert_eq!(same, [20, 10]);
        assert_eq!(with_signature(&conn, sig, 150, 10).unwrap().len(), 1);
        assert_eq!(with_signature(&conn, sig, 0, 1).unwrap().len(), 1);
    }
}
