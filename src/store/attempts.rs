//! A run's attempts (`workflowrunattempts`), written the same way for every source: an attempt's
//! row only moves forward (a higher status rank, or the same rank updated later), so duplicate
//! and late deliveries leave it as it is.

use rusqlite::{params, Connection};

use super::Result;
use crate::run_state::{Conclusion, Status};

/// One attempt of a run, as a delivery reports it.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    pub run_id: i64,
    pub attempt: i64,
    pub status: Status,
    pub conclusion: Option<&'a Conclusion>,
    pub started: Option<i64>,
    pub updated: Option<i64>,
}

/// Inserts the attempt, or moves the stored one forward to it.
///
/// # Errors
/// On a database error.
pub fn upsert(conn: &Connection, attempt: &Attempt<'_>) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO workflowrunattempts (run_id, runattempt, status, statusrank, conclusion, starttime, updatetime)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (run_id, runattempt) DO UPDATE SET
             status = excluded.status, statusrank = excluded.statusrank, conclusion = excluded.conclusion,
             starttime = COALESCE(excluded.starttime, starttime), updatetime = excluded.updatetime
         WHERE (excluded.statusrank, COALESCE(excluded.updatetime, 0))
            >= (workflowrunattempts.statusrank, COALESCE(workflowrunattempts.updatetime, 0))",
    )?
    .execute(params![
        attempt.run_id,
        attempt.attempt,
        attempt.status,
        attempt.status.rank(),
        attempt.conclusion,
        attempt.started,
        attempt.updated
    ])?;
    Ok(())
}
