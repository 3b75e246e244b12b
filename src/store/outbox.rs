//! Notifications' tables (schema version 6): each watched pair's state (`pairstates`), its
//! transitions (`transitions`), and the messages waiting to be sent (`outbox`). The detection
//! ([`crate::notify::detect`]) runs these inside the ingest writer's transaction; the sender reads
//! the outbox on a pooled connection and records attempts through the writer.

use rusqlite::{params, Connection, OptionalExtension};

use super::{rows, Result};
use crate::run_state::{self, Conclusion, NEUTRAL_SQL, RED_SQL, RUN_DONE_SQL};

/// The run that decides a pair's state now: the latest completed run whose conclusion is not
/// neutral (a cancelled or skipped run says nothing about the code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decisive {
    pub run_id: i64,
    pub red: bool,
    /// When it completed (else was created), epoch seconds.
    pub time: i64,
}

/// The decisive run of `workflow_id` on `branch_id`, recomputed from the stored runs (so a late
/// delivery of an old run changes nothing).
///
/// # Errors
/// On a database error.
pub fn decisive_run(
    conn: &Connection,
    workflow_id: i64,
    branch_id: i64,
) -> Result<Option<Decisive>> {
    let neutral = &*NEUTRAL_SQL;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT r.id, r.conclusion, COALESCE(r.endtime, r.createtime) FROM workflowruns r
         WHERE r.workflow_id = ?1 AND r.branch_id = ?2 AND {RUN_DONE_SQL}
           AND r.conclusion IS NOT NULL AND r.conclusion NOT IN ({neutral})
         ORDER BY r.createtime DESC, r.id DESC LIMIT 1"
    ))?;
    Ok(stmt
        .query_row((workflow_id, branch_id), |row| {
            let conclusion: Option<Conclusion> = row.get(1)?;
            Ok(Decisive {
                run_id: row.get(0)?,
                red: run_state::is_red(conclusion.as_ref()),
                time: row.get(2)?,
            })
        })
        .optional()?)
}

/// The first red run after the last green one of the pair (the start of the red streak).
///
/// # Errors
/// On a database error.
pub fn first_red_run(conn: &Connection, workflow_id: i64, branch_id: i64) -> Result<Option<i64>> {
    let last_green: Option<(i64, i64)> = conn
        .prepare_cached(&format!(
            "SELECT r.createtime, r.id FROM workflowruns r
             WHERE r.workflow_id = ?1 AND r.branch_id = ?2 AND {RUN_DONE_SQL} AND r.conclusion = ?3
             ORDER BY r.createtime DESC, r.id DESC LIMIT 1"
        ))?
        .query_row(
            params![workflow_id, branch_id, Conclusion::Success.as_str()],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    let (created, id) = last_green.unwrap_or((i64::MIN, i64::MIN));
    let red = &*RED_SQL;
    Ok(conn
        .prepare_cached(&format!(
            "SELECT r.id FROM workflowruns r
             WHERE r.workflow_id = ?1 AND r.branch_id = ?2 AND {RUN_DONE_SQL}
               AND r.conclusion IN ({red}) AND (r.createtime, r.id) > (?3, ?4)
             ORDER BY r.createtime, r.id LIMIT 1"
        ))?
        .query_row(params![workflow_id, branch_id, created, id], |row| {
            row.get(0)
        })
        .optional()?)
}

/// A pair's stored state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairState {
    pub red: bool,
    pub since: i64,
    pub run_id: i64,
    pub first_red_run: Option<i64>,
    pub flapping: bool,
}

const RED: &str = "red";
const GREEN: &str = "green";

/// The stored state of a pair, if it has one.
///
/// # Errors
/// On a database error.
pub fn pair_state(
    conn: &Connection,
    workflow_id: i64,
    branch_id: i64,
) -> Result<Option<PairState>> {
    let mut stmt = conn.prepare_cached(
        "SELECT state, since, run_id, firstredrun, flapping FROM pairstates
         WHERE workflow_id = ?1 AND branch_id = ?2",
    )?;
    Ok(stmt
        .query_row((workflow_id, branch_id), |row| {
            Ok(PairState {
                red: row.get::<_, String>(0)? == RED,
                since: row.get(1)?,
                run_id: row.get(2)?,
                first_red_run: row.get(3)?,
                flapping: row.get(4)?,
            })
        })
        .optional()?)
}

/// Stores a pair's state.
///
/// # Errors
/// On a database error.
pub fn put_pair_state(
    conn: &Connection,
    workflow_id: i64,
    branch_id: i64,
    state: &PairState,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO pairstates (workflow_id, branch_id, state, since, run_id, firstredrun, flapping)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (workflow_id, branch_id) DO UPDATE SET state = excluded.state,
             since = excluded.since, run_id = excluded.run_id, firstredrun = excluded.firstredrun,
             flapping = excluded.flapping",
    )?
    .execute(params![
        workflow_id,
        branch_id,
        if state.red { RED } else { GREEN },
        state.since,
        state.run_id,
        state.first_red_run,
        state.flapping,
    ])?;
    Ok(())
}

/// Transitions of the pair recorded at or after `since`.
///
/// # Errors
/// On a database error.
pub fn transitions_since(
    conn: &Connection,
    workflow_id: i64,
    branch_id: i64,
    since: i64,
) -> Result<u32> {
    Ok(conn
        .prepare_cached(
            "SELECT COUNT(*) FROM transitions
             WHERE workflow_id = ?1 AND branch_id = ?2 AND createtime >= ?3",
        )?
        .query_row((workflow_id, branch_id, since), |row| row.get(0))?)
}

/// Records a transition; returns its id.
///
/// # Errors
/// On a database error.
pub fn insert_transition(
    conn: &Connection,
    workflow_id: i64,
    branch_id: i64,
    kind: &str,
    run_id: i64,
    notified: bool,
    now: i64,
) -> Result<i64> {
    conn.prepare_cached(
        "INSERT INTO transitions (workflow_id, branch_id, kind, run_id, notified, createtime)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![workflow_id, branch_id, kind, run_id, notified, now])?;
    Ok(conn.last_insert_rowid())
}

/// Queues `payload` for `target`, due at once. A second row for the same transition and target
/// is never made.
///
/// # Errors
/// On a database error.
pub fn enqueue(
    conn: &Connection,
    transition_id: i64,
    target: &str,
    payload: &str,
    now: i64,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO outbox (transition_id, target, payload, createtime, nextattempt)
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (transition_id, target) DO NOTHING",
    )?
    .execute(params![transition_id, target, payload, now, now * 1000])?;
    Ok(())
}

/// A message waiting to be sent.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Pending {
    pub id: i64,
    pub target: String,
    pub payload: String,
    pub attempts: u32,
}

/// Up to `limit` messages due at `now_ms`, oldest first.
///
/// # Errors
/// On a database error.
pub fn due(conn: &Connection, now_ms: i64, limit: u32) -> Result<Vec<Pending>> {
    rows::all(
        conn,
        "SELECT id, target, payload, attempts FROM outbox INDEXED BY outbox_pending
         WHERE senttime IS NULL AND failedtime IS NULL AND nextattempt <= ?1
         ORDER BY nextattempt, id LIMIT ?2",
        (now_ms, limit),
    )
}

/// When the next pending message is due (epoch milliseconds), if any is pending.
///
/// # Errors
/// On a database error.
pub fn next_due(conn: &Connection) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached(
            "SELECT MIN(nextattempt) FROM outbox WHERE senttime IS NULL AND failedtime IS NULL",
        )?
        .query_row([], |row| row.get(0))?)
}

/// Marks a message sent (after a 2xx).
///
/// # Errors
/// On a database error.
pub fn mark_sent(conn: &Connection, id: i64, now: i64) -> Result<()> {
    conn.prepare_cached(
        "UPDATE outbox SET senttime = ?2, attempts = attempts + 1, lasterror = NULL WHERE id = ?1",
    )?
    .execute((id, now))?;
    Ok(())
}

/// Records a failed attempt: retried at `next_ms`, or given up on when `next_ms` is `None`.
///
/// # Errors
/// On a database error.
pub fn mark_failed(
    conn: &Connection,
    id: i64,
    error: &str,
    next_ms: Option<i64>,
    now: i64,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE outbox SET attempts = attempts + 1, lasterror = ?2,
             nextattempt = COALESCE(?3, nextattempt),
             failedtime = CASE WHEN ?3 IS NULL THEN ?4 END
         WHERE id = ?1",
    )?
    .execute(params![id, error, next_ms, now])?;
    Ok(())
}

/// Forgets transitions recorded before `before` (epoch seconds) whose messages are all sent or
/// given up on, with those messages. Returns the transitions deleted.
///
/// # Errors
/// On a database error.
pub fn prune(conn: &Connection, before: i64) -> Result<usize> {
    conn.execute(
        "DELETE FROM outbox WHERE transition_id IN
             (SELECT id FROM transitions WHERE createtime < ?1)
           AND (senttime IS NOT NULL OR failedtime IS NOT NULL)",
        [before],
    )?;
    Ok(conn.execute(
        "DELETE FROM transitions WHERE createtime < ?1
           AND NOT EXISTS (SELECT 1 FROM outbox WHERE outbox.transition_id = transitions.id)",
        [before],
    )?)
}

/// A recorded transition, as `GET /api/transitions` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TransitionRow {
    /// Increases with every transition: poll with `after=<the largest seen>`.
    pub id: i64,
    /// `failing`, `fixed` or `flapping`.
    pub kind: String,
    pub repo: String,
    pub workflow: String,
    pub branch: String,
    pub run_id: i64,
    /// Whether a message was sent for it (`false` while it was flapping).
    pub notified: bool,
    #[serde(serialize_with = "super::model::rfc3339")]
    pub at: Option<i64>,
}

/// Up to `limit` transitions with an id above `after`, matching `filter`'s repositories, branches
/// and workflows, newest first.
///
/// # Errors
/// On a database error.
pub fn transitions(
    conn: &Connection,
    filter: &super::query::RunFilter,
    after: i64,
    limit: u32,
) -> Result<Vec<TransitionRow>> {
    use rusqlite::types::Value;
    let mut conditions = vec!["t.id > ?".to_owned()];
    let mut values = vec![Value::Integer(after)];
    filter.repo_conditions("repos.fullname", &mut conditions, &mut values);
    if !filter.branch.is_empty() {
        let (condition, more) = super::query::branch_names("b.name", &filter.branch);
        conditions.push(condition);
        values.extend(more);
    }
    if !filter.workflow.is_empty() {
        let (condition, more) = super::query::workflow_names("w.name", &filter.workflow);
        conditions.push(condition);
        values.extend(more);
    }
    values.push(Value::Integer(i64::from(limit)));
    let sql = format!(
        r#"SELECT t.id, t.kind, repos.fullname AS repo, w.name AS workflow, b.name AS branch,
                  t.run_id, t.notified, t.createtime AS "at"
         FROM transitions t
         JOIN workflows w ON w.id = t.workflow_id
         JOIN repos ON repos.id = w.repo_id
         JOIN branches b ON b.id = t.branch_id
         WHERE {} ORDER BY t.id DESC LIMIT ?"#,
        conditions.join(" AND ")
    );
    rows::all(conn, &sql, rusqlite::params_from_iter(values))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        crate::store::memory_db()
    }

    #[test]
    fn a_message_is_queued_once_per_transition_and_target_and_leaves_the_queue_when_sent() {
        let conn = db();
        let t = insert_transition(&conn, 1, 2, "failing", 3, true, 100).unwrap();
        enqueue(&conn, t, "slack", "{}", 100).unwrap();
        enqueue(&conn, t, "slack", "{}", 100).unwrap();
        assert_eq!(due(&conn, 100_000, 10).unwrap().len(), 1);
        assert_eq!(due(&conn, 99_999, 10).unwrap().len(), 0);
        let id = due(&conn, 100_000, 10).unwrap()[0].id;
        mark_failed(&conn, id, "500", Some(105_000), 100).unwrap();
        assert_eq!(next_due(&conn).unwrap(), Some(105_000));
        assert_eq!(due(&conn, 105_000, 10).unwrap()[0].attempts, 1);
        mark_sent(&conn, id, 106).unwrap();
        assert!(due(&conn, i64::MAX, 10).unwrap().is_empty());
        assert_eq!(next_due(&conn).unwrap(), None);
        let pending = insert_transition(&conn, 1, 2, "fixed", 4, true, 100).unwrap();
        enqueue(&conn, pending, "slack", "{}", 100).unwrap();
        assert_eq!(
            prune(&conn, 101).unwrap(),
            1,
            "the sent one goes, the pending one stays"
        );
        assert_eq!(due(&conn, i64::MAX, 10).unwrap().len(), 1);
    }
}
