//! The runner label sets whose queue is over the alert threshold now (`queuestates`, schema
//! version 8), and their transitions. [`crate::notify::queues`] reads and writes these in one
//! write transaction with the outbox rows of the messages.

use std::collections::BTreeMap;

use rusqlite::{params, Connection};

use super::Result;

/// A label set found over the threshold and not yet found back under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Over {
    /// As its newest job gave them.
    pub labels: Vec<String>,
    /// When it was found over (epoch seconds).
    pub since: i64,
    /// The longest wait seen since (seconds).
    pub max_wait_s: i64,
}

/// Every label set over the threshold now, by its key ([`super::runners::Queue::label_key`]).
///
/// # Errors
/// On a database error.
pub fn over(conn: &Connection) -> Result<BTreeMap<String, Over>> {
    let mut stmt =
        conn.prepare_cached("SELECT labelkey, labels, since, maxwait FROM queuestates")?;
    let rows = stmt.query_map([], |row| {
        let labels: String = row.get(1)?;
        Ok((
            row.get::<_, String>(0)?,
            Over {
                labels: serde_json::from_str(&labels).unwrap_or_default(),
                since: row.get(2)?,
                max_wait_s: row.get(3)?,
            },
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Stores (or updates) a label set that is over.
///
/// # Errors
/// On a database error.
pub fn put(conn: &Connection, key: &str, over: &Over) -> Result<()> {
    let labels = serde_json::to_string(&over.labels).expect("strings serialise");
    conn.prepare_cached(
        "INSERT INTO queuestates (labelkey, labels, since, maxwait) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (labelkey) DO UPDATE SET labels = excluded.labels, maxwait = excluded.maxwait",
    )?
    .execute(params![key, labels, over.since, over.max_wait_s])?;
    Ok(())
}

/// Forgets a label set that is back under.
///
/// # Errors
/// On a database error.
pub fn remove(conn: &Connection, key: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM queuestates WHERE labelkey = ?1")?
        .execute([key])?;
    Ok(())
}

/// Records a queue's transition (`queue_over`, `queue_back`) in `transitions`, where the
/// outbox's rows point; it belongs to no workflow, branch or run (0), so the pairs' reads
/// (`GET /api/transitions`, flapping) never see it. Returns its id.
///
/// # Errors
/// On a database error.
pub fn insert_transition(conn: &Connection, kind: &str, now: i64) -> Result<i64> {
    super::outbox::insert_transition(conn, 0, 0, kind, 0, true, now)
}
