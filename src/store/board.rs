//! Read queries for the board's views: the waterfall grid (runs grouped by commit), the people who
//! started runs, and the runs behind the duration chart. Triage has its own module, [`super::triage`].
//!
//! Every query takes the same [`RunFilter`] as the API, so a bookmarked board filter means exactly
//! what the same filter means in `/api/builds`.

use rusqlite::types::Value;
use rusqlite::Connection;

use super::model::Run;
use super::query::{self, RunFilter};
use super::read::{run_from_row, RUN_SELECT};
use super::{rows, Result};
use crate::run_state::{RUN_ACTIVE_SQL, RUN_DONE_SQL};

/// The joins the filter's aliases (`r`, `repos`, `w`, `c`, `b`) need, for queries that do not
/// select a whole [`Run`].
const RUN_JOINS: &str = "
    FROM workflowruns r
    JOIN repos ON repos.id = r.repo_id
    JOIN workflows w ON w.id = r.workflow_id
    JOIN commits c ON c.id = r.commit_id
    LEFT JOIN branches b ON b.id = r.branch_id";

/// Newest runs looked at per waterfall row wanted: enough for every workflow of a commit and its
/// re-runs, without reading the whole history to find the newest commits.
const WATERFALL_RUNS_PER_ROW: i64 = 50;

/// `clause` (from [`RunFilter::sql`]) with `extra` AND-ed on.
fn and(clause: &str, extra: &str) -> String {
    if clause.is_empty() {
        format!(" WHERE {extra}")
    } else {
        format!("{clause} AND {extra}")
    }
}

/// One commit's row in the waterfall: every run of that commit that matches the filter.
#[derive(Debug, Clone, PartialEq)]
pub struct CommitRuns {
    /// When the commit's first run was created (the row's time, and its sort key).
    pub first_created: i64,
    /// Runs of the commit, newest first; never empty.
    pub runs: Vec<Run>,
}

/// The newest `limit` commits with runs matching `filter`, newest first (by their first run).
///
/// # Errors
/// On a database error.
pub fn waterfall(conn: &Connection, filter: &RunFilter, limit: u32) -> Result<Vec<CommitRuns>> {
    let (clause, params) = filter.sql();
    // The newest commits are among the newest runs: look at a bounded slice of the time index
    // (never a scan of the whole history), then fetch those commits' runs by `commit_id`.
    let sql = format!(
        "WITH recent AS (
             SELECT r.commit_id AS commit_id, r.createtime AS created FROM workflowruns r{clause}
             ORDER BY r.createtime DESC, r.id DESC LIMIT ?),
         top AS (
             SELECT commit_id FROM recent GROUP BY commit_id ORDER BY MIN(created) DESC, commit_id LIMIT ?)
         {RUN_SELECT}{}
         ORDER BY r.commit_id, r.createtime DESC, r.id DESC",
        and(&clause, "r.commit_id IN (SELECT commit_id FROM top)")
    );
    let mut all: Vec<Value> = params.clone();
    all.push(Value::Integer(i64::from(limit) * WATERFALL_RUNS_PER_ROW));
    all.push(Value::Integer(i64::from(limit)));
    all.extend(params);
    let mut stmt = conn.prepare_cached(&sql)?;
    let runs: Vec<Run> = stmt
        .query_map(rusqlite::params_from_iter(all), run_from_row)?
        .collect::<rusqlite::Result<_>>()?;
    let mut rows: Vec<CommitRuns> = Vec::new();
    for run in runs {
        let created = run.created_at.unwrap_or_default();
        match rows.last_mut() {
            Some(row) if row.runs[0].repo == run.repo && row.runs[0].sha == run.sha => {
                row.first_created = row.first_created.min(created);
                row.runs.push(run);
            }
            _ => rows.push(CommitRuns {
                first_created: created,
                runs: vec![run],
            }),
        }
    }
    rows.sort_by(|a, b| {
        b.first_created
            .cmp(&a.first_created)
            .then_with(|| a.runs[0].repo.cmp(&b.runs[0].repo))
            .then_with(|| a.runs[0].sha.cmp(&b.runs[0].sha))
    });
    Ok(rows)
}

/// The newest `limit` completed runs with a run time, newest first: the duration chart.
///
/// # Errors
/// On a database error.
pub fn recent_completed(conn: &Connection, filter: &RunFilter, limit: u32) -> Result<Vec<Run>> {
    let condition = format!("{RUN_DONE_SQL} AND r.runtime IS NOT NULL");
    query::runs_where(conn, filter, Some(&condition), None, None, limit)
}

/// Runs matching `filter` that have not completed yet (queued, waiting, running), newest first.
///
/// Always read through the partial index of runs still going: there are few of them (what CI is
/// running right now), whatever else the filter names. Left to itself the planner took an author's
/// index and read that person's whole history to find the two still running: 9–10 ms at a million
/// runs, against 0.5 ms.
///
/// # Errors
/// On a database error.
pub fn active(conn: &Connection, filter: &RunFilter, limit: u32) -> Result<Vec<Run>> {
    query::runs_where(
        conn,
        filter,
        Some(RUN_ACTIVE_SQL),
        Some("workflowruns_active"),
        None,
        limit,
    )
}

/// Someone who started runs: a login and how many runs matching the filter they started.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Person {
    pub login: String,
    pub runs: u64,
    /// Creation time of their newest run.
    pub last_run: i64,
}

/// The people who started runs matching `filter`, most recently active first.
///
/// # Errors
/// On a database error.
pub fn people(conn: &Connection, filter: &RunFilter, limit: u32) -> Result<Vec<Person>> {
    let (clause, mut params) = filter.sql();
    let clause = and(&clause, "r.actor IS NOT NULL AND r.actor <> ''");
    params.push(Value::Integer(i64::from(limit)));
    let sql = format!(
        "SELECT r.actor AS login, COUNT(*) AS runs, MAX(r.createtime) AS last_run
         {RUN_JOINS}{clause}
         GROUP BY r.actor ORDER BY MAX(r.createtime) DESC, r.actor LIMIT ?"
    );
    rows::all(conn, &sql, rusqlite::params_from_iter(params))
}

/// Each repository's default branch, by full name: what marks a waterfall row's branch as the
/// default one.
///
/// # Errors
/// On a database error.
pub fn default_branches(conn: &Connection) -> Result<std::collections::HashMap<String, String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT fullname, defaultbranch FROM repos WHERE defaultbranch IS NOT NULL",
    )?;
    let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
