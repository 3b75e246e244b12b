//! Claims on reds ("alice is on it"): who said they are fixing a red, shown on its Wall tile and
//! its Triage item. A claim is keyed by the red's first red run (`claims.first_red_run`): when the
//! workflow is green again, its next red starts at another run, so the claim ends by itself
//! without anyone clearing it. Who may claim, and where, is decided by `web::claims`.

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use super::Result;
use crate::run_state::{done_sql, NEUTRAL_SQL, RED_SQL};

/// A claim on a red.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Claim {
    /// Who claimed it (a GitHub login or an operator's name); `None` once redacted
    /// (`--hide-authors`): the red still shows as claimed.
    pub by: Option<String>,
    /// When, epoch seconds.
    pub at: i64,
}

/// The claims on the reds that start at `first_red_runs`.
///
/// # Errors
/// On a database error.
pub fn of(conn: &Connection, first_red_runs: &[i64]) -> Result<HashMap<i64, Claim>> {
    let mut found = HashMap::new();
    if first_red_runs.is_empty() {
        return Ok(found);
    }
    let mut statement =
        conn.prepare_cached("SELECT login, claimtime FROM claims WHERE first_red_run = ?1")?;
    for &run in first_red_runs {
        let claim = statement
            .query_row([run], |row| {
                Ok(Claim {
                    by: Some(row.get(0)?),
                    at: row.get(1)?,
                })
            })
            .optional()?;
        if let Some(claim) = claim {
            found.insert(run, claim);
        }
    }
    Ok(found)
}

/// `login` claims the red that starts at `first_red_run`, at `now`: `Ok` with the claim (theirs,
/// new or kept), `Err` with someone else's that holds it already.
///
/// # Errors
/// On a database error.
pub fn claim(
    conn: &Connection,
    first_red_run: i64,
    login: &str,
    now: i64,
) -> Result<std::result::Result<Claim, Claim>> {
    conn.execute(
        "INSERT INTO claims (first_red_run, login, claimtime) VALUES (?1, ?2, ?3)
         ON CONFLICT (first_red_run) DO NOTHING",
        params![first_red_run, login, now],
    )?;
    let held = of(conn, &[first_red_run])?
        .remove(&first_red_run)
        .expect("the claim was just stored or was there");
    Ok(if held.by.as_deref() == Some(login) {
        Ok(held)
    } else {
        Err(held)
    })
}

/// Ends the claim on the red that starts at `first_red_run`: `login`'s only, or anyone's with
/// `None` (an operator). Whether a claim ended.
///
/// # Errors
/// On a database error.
pub fn release(conn: &Connection, first_red_run: i64, login: Option<&str>) -> Result<bool> {
    let ended = match login {
        Some(login) => conn.execute(
            "DELETE FROM claims WHERE first_red_run = ?1 AND login = ?2",
            params![first_red_run, login],
        )?,
        None => conn.execute(
            "DELETE FROM claims WHERE first_red_run = ?1",
            [first_red_run],
        )?,
    };
    Ok(ended > 0)
}

/// Whether run `id` starts a red: the run of its workflow on its branch completed just before it
/// (neutral conclusions such as `cancelled` looked past, as triage does) is not red. Only such a
/// run names a red (the caller checks that `id` is red itself).
///
/// # Errors
/// On a database error.
pub fn starts_a_red(conn: &Connection, id: i64) -> Result<bool> {
    let sql = format!(
        "SELECT p.conclusion IN ({red}) FROM workflowruns r
         JOIN workflowruns p ON p.workflow_id = r.workflow_id AND p.branch_id IS r.branch_id
         WHERE r.id = ?1 AND {done} AND (p.createtime, p.id) < (r.createtime, r.id)
           AND (p.conclusion IS NULL OR p.conclusion NOT IN ({neutral}))
         ORDER BY p.createtime DESC, p.id DESC LIMIT 1",
        red = *RED_SQL,
        neutral = *NEUTRAL_SQL,
        done = done_sql("p"),
    );
    let previous_red: Option<bool> = conn
        .prepare_cached(&sql)?
        .query_row([id], |row| row.get(0))
        .optional()?;
    Ok(previous_red != Some(true))
}

/// Who holds the claim on the red that starts at `first_red_run`, if anyone.
///
/// # Errors
/// On a database error.
pub fn holder(conn: &Connection, first_red_run: i64) -> Result<Option<String>> {
    Ok(of(conn, &[first_red_run])?
        .remove(&first_red_run)
        .and_then(|claim| claim.by))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE claims (first_red_run INTEGER PRIMARY KEY, login TEXT NOT NULL,
             claimtime INTEGER NOT NULL);",
        )
        .unwrap();
        conn
    }

    #[test]
    fn a_red_is_claimed_once_and_released_by_its_claimer_or_an_operator() {
        let conn = conn();
        let mine = claim(&conn, 7, "alice", 100).unwrap().unwrap();
        assert_eq!(mine.by.as_deref(), Some("alice"));
        assert_eq!(claim(&conn, 7, "alice", 200).unwrap().unwrap().at, 100);
        let held = claim(&conn, 7, "bob", 300).unwrap().unwrap_err();
        assert_eq!(held.by.as_deref(), Some("alice"));
        assert_eq!(of(&conn, &[7, 8]).unwrap().len(), 1);
        assert!(!release(&conn, 7, Some("bob")).unwrap());
        assert!(release(&conn, 7, Some("alice")).unwrap());
        assert!(of(&conn, &[7]).unwrap().is_empty());
        claim(&conn, 7, "bob", 400).unwrap().unwrap();
        assert!(release(&conn, 7, None).unwrap());
        assert_eq!(holder(&conn, 7).unwrap(), None);
    }
}
