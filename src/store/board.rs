//! Read queries for the board's views: the waterfall grid (runs grouped by commit), triage (what is
//! red now and since when), the people who started runs, and the runs behind the duration chart.
//!
//! Every query takes the same [`RunFilter`] as the API, so a bookmarked board filter means exactly
//! what the same filter means in `/api/builds`.

use std::collections::BTreeSet;

use rusqlite::types::Value;
use rusqlite::Connection;

use super::metrics::is_failure;
use super::model::Build;
use super::query::{self, RunFilter};
use super::read::{build_from_row, BUILD_SELECT};
use super::Result;

/// The joins the filter's aliases (`r`, `repos`, `w`, `c`, `b`) need, for queries that do not
/// select a whole [`Build`].
const RUN_JOINS: &str = "
    FROM workflowruns r
    JOIN repos ON repos.id = r.repo_id
    JOIN workflows w ON w.id = r.workflow_id
    JOIN commits c ON c.id = r.commit_id
    LEFT JOIN branches b ON b.id = r.branch_id";

/// Conclusions that say nothing about whether a workflow is green or red; triage looks past them.
const NEUTRAL: &str = "'cancelled', 'skipped', 'neutral', 'stale', 'action_required'";

/// Newest runs looked at per waterfall row wanted: enough for every workflow of a commit and its
/// re-runs, without reading the whole history to find the newest commits.
const WATERFALL_RUNS_PER_ROW: i64 = 50;

/// Completed runs of one workflow on one branch that triage walks back through to find the last
/// green run; a red streak longer than this is reported as "at least" this long.
pub const TRIAGE_HISTORY: u32 = 200;

/// How far back triage looks for a failed attempt that passed on a re-run (a flaky workflow).
pub const FLAKY_LOOKBACK_S: i64 = 14 * 24 * 3600;

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
    pub builds: Vec<Build>,
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
         {BUILD_SELECT}{}
         ORDER BY r.commit_id, r.createtime DESC, r.id DESC",
        and(&clause, "r.commit_id IN (SELECT commit_id FROM top)")
    );
    let mut all: Vec<Value> = params.clone();
    all.push(Value::Integer(i64::from(limit) * WATERFALL_RUNS_PER_ROW));
    all.push(Value::Integer(i64::from(limit)));
    all.extend(params);
    let mut stmt = conn.prepare_cached(&sql)?;
    let builds: Vec<Build> = stmt
        .query_map(rusqlite::params_from_iter(all), build_from_row)?
        .collect::<rusqlite::Result<_>>()?;
    let mut rows: Vec<CommitRuns> = Vec::new();
    for build in builds {
        let created = build.created_at.unwrap_or_default();
        match rows.last_mut() {
            Some(row) if row.builds[0].repo == build.repo && row.builds[0].sha == build.sha => {
                row.first_created = row.first_created.min(created);
                row.builds.push(build);
            }
            _ => rows.push(CommitRuns {
                first_created: created,
                builds: vec![build],
            }),
        }
    }
    rows.sort_by(|a, b| {
        b.first_created
            .cmp(&a.first_created)
            .then_with(|| a.builds[0].repo.cmp(&b.builds[0].repo))
            .then_with(|| a.builds[0].sha.cmp(&b.builds[0].sha))
    });
    Ok(rows)
}

/// The newest `limit` completed runs with a run time, newest first: the duration chart.
///
/// # Errors
/// On a database error.
pub fn recent_completed(conn: &Connection, filter: &RunFilter, limit: u32) -> Result<Vec<Build>> {
    let condition = "r.statusrank = 3 AND r.runtime IS NOT NULL";
    query::builds_where(conn, filter, Some(condition), None, None, limit)
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
pub fn active(conn: &Connection, filter: &RunFilter, limit: u32) -> Result<Vec<Build>> {
    query::builds_where(
        conn,
        filter,
        Some("r.statusrank < 3"),
        Some("workflowruns_active"),
        None,
        limit,
    )
}

/// A workflow on a branch whose latest completed run failed.
#[derive(Debug, Clone, PartialEq)]
pub struct Red {
    /// The latest (failing) run.
    pub failing: Build,
    /// The oldest failing run of the streak: the first red commit.
    pub first_red: Build,
    /// The last successful run before the streak, if buildboard knows one.
    pub last_green: Option<Build>,
    /// Failed runs in a row (neutral conclusions such as `cancelled` are looked past).
    pub streak: u32,
    /// `true` when the streak reaches [`TRIAGE_HISTORY`] runs without finding a green one.
    pub streak_capped: bool,
    /// When it went red: the completion (else creation) of the first red run.
    pub since: i64,
    /// Everyone who started a run in the red range (first red .. latest), in order of appearance.
    pub authors: Vec<String>,
    /// The workflow recently failed a commit and then passed it on a re-run, or the first red
    /// commit had passed before: the failure may not be the code's fault.
    pub likely_flaky: bool,
}

/// What is red now: for each workflow and branch matching `filter`, its latest completed run, kept
/// only if it failed. Longest-red first.
///
/// # Errors
/// On a database error.
pub fn triage(conn: &Connection, filter: &RunFilter, now: i64) -> Result<Vec<Red>> {
    let (clause, params) = filter.sql();
    let clause = and(
        &clause,
        &format!(
            "r.workflow_id = w.id AND r.branch_id = b.id AND r.statusrank = 3
             AND COALESCE(r.conclusion, '') NOT IN ({NEUTRAL})"
        ),
    );
    // One indexed probe per workflow and live branch of its repository (index
    // `workflowruns_pair`), instead of ranking every completed run in the history.
    let sql = format!(
        "SELECT latest.id FROM (
             SELECT (SELECT r.id FROM workflowruns r{clause}
                     ORDER BY r.createtime DESC, r.id DESC LIMIT 1) AS id
             FROM workflows w JOIN branches b ON b.repo_id = w.repo_id AND b.deletedtime IS NULL) latest
         JOIN workflowruns red ON red.id = latest.id
         WHERE red.conclusion IN ('failure', 'timed_out', 'startup_failure')"
    );
    let latest: Vec<i64> = conn
        .prepare_cached(&sql)?
        .query_map(rusqlite::params_from_iter(params), |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut history = conn.prepare_cached(&format!(
        "{BUILD_SELECT}
         WHERE r.workflow_id = ?1 AND r.branch_id IS (SELECT branch_id FROM workflowruns WHERE id = ?3)
           AND r.statusrank = 3 AND (r.createtime, r.id) <= (?2, ?3)
         ORDER BY r.createtime DESC, r.id DESC LIMIT ?4"
    ))?;
    let mut flaky = conn.prepare_cached(
        "SELECT EXISTS (
             SELECT 1 FROM workflowruns r
             JOIN workflowrunattempts red ON red.run_id = r.id
             JOIN workflowrunattempts green ON green.run_id = r.id AND green.runattempt > red.runattempt
             WHERE r.workflow_id = ?1 AND r.createtime >= ?2 AND r.runattempt > 1
               AND red.conclusion IN ('failure', 'timed_out', 'startup_failure')
               AND green.conclusion = 'success')",
    )?;
    let mut reds = Vec::with_capacity(latest.len());
    for id in latest {
        let Some(failing) = super::read::build(conn, id)? else {
            continue;
        };
        let runs: Vec<Build> = history
            .query_map(
                rusqlite::params![
                    failing.workflow_id,
                    failing.created_at,
                    failing.id,
                    TRIAGE_HISTORY
                ],
                build_from_row,
            )?
            .collect::<rusqlite::Result<_>>()?;
        let capped = runs.len() >= TRIAGE_HISTORY as usize;
        let mut red_runs: Vec<Build> = Vec::new();
        let mut last_green = None;
        for run in runs {
            if run.conclusion.as_deref() == Some("success") {
                last_green = Some(run);
                break;
            }
            if is_failure(run.conclusion.as_deref()) {
                red_runs.push(run);
            }
        }
        let first_red = red_runs.last().cloned().unwrap_or_else(|| failing.clone());
        let mut seen = BTreeSet::new();
        let authors = red_runs
            .iter()
            .rev()
            .filter_map(|run| run.author.clone())
            .filter(|author| seen.insert(author.clone()))
            .collect();
        let recently_flaky: bool = flaky
            .query_row((failing.workflow_id, now - FLAKY_LOOKBACK_S), |row| {
                row.get(0)
            })?;
        let passed_before = last_green
            .as_ref()
            .is_some_and(|green: &Build| green.sha == first_red.sha);
        reds.push(Red {
            since: first_red
                .completed_at
                .or(first_red.created_at)
                .unwrap_or_default(),
            streak: red_runs.len().max(1) as u32,
            streak_capped: capped && last_green.is_none(),
            likely_flaky: recently_flaky || passed_before,
            failing,
            first_red,
            last_green,
            authors,
        });
    }
    reds.sort_by(|a, b| {
        a.since
            .cmp(&b.since)
            .then_with(|| a.failing.id.cmp(&b.failing.id))
    });
    Ok(reds)
}

/// Someone who started runs: a login and how many runs matching the filter they started.
#[derive(Debug, Clone, PartialEq, Eq)]
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
        "SELECT r.actor, COUNT(*), MAX(r.createtime) {RUN_JOINS}{clause}
         GROUP BY r.actor ORDER BY MAX(r.createtime) DESC, r.actor LIMIT ?"
    );
    let people = conn
        .prepare_cached(&sql)?
        .query_map(rusqlite::params_from_iter(params), |row| {
            Ok(Person {
                login: row.get(0)?,
                runs: row.get(1)?,
                last_run: row.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(people)
}
