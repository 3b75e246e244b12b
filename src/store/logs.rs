//! Job logs fetched on demand for the run page (`joblogs`): the job a log belongs to, the cached
//! answer, and the bounds that keep the table small (a total size and an age, applied by the
//! housekeeping). What is kept of a log, and when a cached answer is asked for again, is
//! `crate::joblog`'s business; this module only reads and writes rows.

use rusqlite::{params, Connection, OptionalExtension};

use super::{rows, Result};
use crate::run_state::Status;

/// A stored job, as much as fetching its log needs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct LogJob {
    pub job_id: i64,
    pub run_id: i64,
    pub repo_id: i64,
    /// `owner/name`: whom the log may be shown to, and the API path.
    pub repo: String,
    pub name: String,
    pub status: Status,
}

/// A cached answer from GitHub's log endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedLog {
    pub job_id: i64,
    /// Epoch seconds.
    pub fetched_time: i64,
    /// GitHub's answer: 200, 403, 404 or 410.
    pub status: u16,
    /// Whether parts of the log were cut to keep it within bounds.
    pub truncated: bool,
    /// The kept text (see `crate::joblog::keep`); empty unless `status` is 200.
    pub body: String,
}

/// Job `job_id` with its repository, or `None` when it is not stored.
///
/// # Errors
/// On a database error.
pub fn job(conn: &Connection, job_id: i64) -> Result<Option<LogJob>> {
    rows::one(
        conn,
        "SELECT j.id AS job_id, j.run_id, j.repo_id, r.fullname AS repo, j.name, j.status
         FROM workflowjobs j JOIN repos r ON r.id = j.repo_id
         WHERE j.id = ?1",
        [job_id],
    )
}

/// The cached answer for `job_id`, if any.
///
/// # Errors
/// On a database error.
pub fn cached(conn: &Connection, job_id: i64) -> Result<Option<CachedLog>> {
    Ok(conn
        .prepare_cached(
            "SELECT job_id, fetchtime, status, truncated, body FROM joblogs WHERE job_id = ?1",
        )?
        .query_row([job_id], |row| {
            let body: Option<Vec<u8>> = row.get(4)?;
            Ok(CachedLog {
                job_id: row.get(0)?,
                fetched_time: row.get(1)?,
                status: row.get(2)?,
                truncated: row.get(3)?,
                body: body
                    .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                    .unwrap_or_default(),
            })
        })
        .optional()?)
}

/// Stores (or replaces) the answer for `log.job_id`. For the writer's connection.
///
/// # Errors
/// On a database error.
pub fn store(conn: &Connection, log: &CachedLog) -> Result<()> {
    let body = (log.status == 200).then_some(log.body.as_bytes());
    conn.prepare_cached(
        "INSERT OR REPLACE INTO joblogs (job_id, fetchtime, status, truncated, bytes, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        log.job_id,
        log.fetched_time,
        log.status,
        log.truncated,
        body.map_or(0, <[u8]>::len) as i64,
        body,
    ])?;
    Ok(())
}

/// Deletes the logs fetched before `before` (epoch seconds), then the oldest ones until all
/// together hold at most `max_bytes`. Returns how many were deleted. For the writer's connection.
///
/// # Errors
/// On a database error.
pub fn prune(conn: &Connection, before: i64, max_bytes: u64) -> Result<usize> {
    let mut deleted = conn
        .prepare_cached("DELETE FROM joblogs WHERE fetchtime < ?1")?
        .execute([before])?;
    let total: i64 = conn.query_row("SELECT COALESCE(SUM(bytes), 0) FROM joblogs", [], |row| {
        row.get(0)
    })?;
    let mut over = total - i64::try_from(max_bytes).unwrap_or(i64::MAX);
    if over <= 0 {
        return Ok(deleted);
    }
    // The oldest first, until enough bytes are gone.
    let mut oldest = conn.prepare_cached(
        "SELECT job_id, bytes FROM joblogs WHERE bytes > 0 ORDER BY fetchtime, job_id",
    )?;
    let mut doomed = Vec::new();
    let mut rows = oldest.query([])?;
    while let Some(row) = rows.next()? {
        if over <= 0 {
            break;
        }
        let (job_id, bytes): (i64, i64) = (row.get(0)?, row.get(1)?);
        doomed.push(job_id);
        over -= bytes;
    }
    drop(rows);
    let mut delete = conn.prepare_cached("DELETE FROM joblogs WHERE job_id = ?1")?;
    for job_id in doomed {
        deleted += delete.execute([job_id])?;
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(job_id: i64, fetched_time: i64, bytes: usize) -> CachedLog {
        CachedLog {
            job_id,
            fetched_time,
            status: 200,
            truncated: false,
            body: "x".repeat(bytes),
        }
    }

    fn conn() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(super::super::migrate::SCHEMA).unwrap();
        conn
    }

    #[test]
    fn a_stored_log_reads_back_and_an_error_keeps_no_body() {
        let conn = conn();
        store(&conn, &log(1, 100, 5)).unwrap();
        let gone = CachedLog {
            status: 410,
            ..log(2, 100, 5)
        };
        store(&conn, &gone).unwrap();
        assert_eq!(cached(&conn, 1).unwrap(), Some(log(1, 100, 5)));
        assert_eq!(cached(&conn, 2).unwrap().unwrap().body, "");
        assert_eq!(cached(&conn, 3).unwrap(), None);
    }

    #[test]
    fn pruning_drops_old_logs_then_the_oldest_until_within_the_size_bound() {
        // Arrange: one too old, three of 10 bytes each.
        let conn = conn();
        store(&conn, &log(1, 10, 10)).unwrap();
        for (job, time) in [(2, 200), (3, 300), (4, 400)] {
            store(&conn, &log(job, time, 10)).unwrap();
        }

        // Act: older than 100 s goes, then at most 15 bytes are kept.
        let deleted = prune(&conn, 100, 15).unwrap();

        // Assert
        assert_eq!(deleted, 3);
        assert!(cached(&conn, 4).unwrap().is_some());
        assert!(cached(&conn, 3).unwrap().is_none());
    }
}
