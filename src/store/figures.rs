//! Figures over a set of runs: rates, durations, queue times, recovery, red time, flakiness.
//!
//! One definition serves the JSON API (`/api/metrics`) and the board's HUD. The definitions (also
//! in the README):
//! - `total_runs`: runs created in the window that match the filters, in any state.
//! - `success_rate` / `failure_rate`: of the completed runs, the fraction that concluded `success` /
//!   `failure`, `timed_out` or `startup_failure` (cancelled, skipped, neutral... count as completed,
//!   in neither numerator). `null` when no run completed.
//! - `active_builds`: runs not completed yet (requested, queued, waiting, pending, in_progress).
//! - `duration_s`: `avg`, `p50`, `p95` (nearest rank) of completed runs' run time, in seconds.
//! - `queue_s`: the same over queue time (creation until the first job started).
//! - `time_to_recover_s`: per workflow and branch, from the completion of the first failing run
//!   after a green (or first) run until the completion of the next successful one; `recoveries`
//!   counts them.
//! - `default_branch_red_share`: per repository, the fraction of the window during which some
//!   workflow's latest completed run on the default branch had failed, averaged over repositories
//!   with runs on their default branch. Only runs inside the window are known, so the state at the
//!   window's start is taken as green.
//! - `flaky_rate`: of the completed runs, the fraction with an attempt that failed followed by an
//!   attempt that succeeded (the same commit passed on a re-run).

use std::collections::{BTreeMap, HashMap, HashSet};

use rusqlite::Connection;
use serde::Serialize;

use super::query::RunFilter;
use super::Result;
use crate::run_state::{GREEN_SQL, RED_SQL, RUN_DONE_SQL};

/// `avg`, `p50` and `p95` of a set of durations in seconds; all `null` for an empty set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Stats {
    pub avg: Option<f64>,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
}

impl Stats {
    /// Summarises `values` (sorted in place).
    pub fn of(values: &mut [i64]) -> Self {
        if values.is_empty() {
            return Self::default();
        }
        values.sort_unstable();
        let sum: i64 = values.iter().sum();
        let rank = |p: f64| {
            values[((p * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1] as f64
        };
        Self {
            avg: Some(round2(sum as f64 / values.len() as f64)),
            p50: Some(rank(0.50)),
            p95: Some(rank(0.95)),
        }
    }
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// `value` (a fraction) to 4 decimals, as the nearest float to that decimal: dividing the rounded
/// integer, not rounding to 2 decimals of a percentage and dividing again, which gives
/// 0.14279999999999998 for 14.28 %.
fn round4(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| round4(part as f64 / whole as f64))
}

/// The figures for one set of runs. Field names are part of the API: keep them stable.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Metrics {
    pub total_runs: u64,
    pub completed_runs: u64,
    pub successful_runs: u64,
    pub failed_runs: u64,
    pub success_rate: Option<f64>,
    pub failure_rate: Option<f64>,
    pub active_builds: u64,
    pub duration_s: Stats,
    pub queue_s: Stats,
    pub time_to_recover_s: Stats,
    pub recoveries: u64,
    pub default_branch_red_share: Option<f64>,
    pub flaky_runs: u64,
    pub flaky_rate: Option<f64>,
}

/// What `group_by` splits the figures by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Repo,
    Workflow,
    Branch,
    Author,
}

impl GroupBy {
    /// The accepted `group_by` values.
    pub const NAMES: &'static [&'static str] = &["repo", "workflow", "branch", "author"];

    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "repo" => Self::Repo,
            "workflow" => Self::Workflow,
            "branch" => Self::Branch,
            "author" => Self::Author,
            _ => return None,
        })
    }
}

/// One run, as much as the figures need: ids and flags, no strings (there may be 100,000s).
struct Sample {
    id: i64,
    repo_id: i64,
    workflow_id: i64,
    branch_id: Option<i64>,
    /// The actor's login, only when grouping by author.
    author: Option<String>,
    completed: bool,
    succeeded: bool,
    failed: bool,
    runtime: Option<i64>,
    queuetime: Option<i64>,
    created: i64,
    ended: Option<i64>,
    flaky: bool,
}

/// The runs matching `filter`, oldest first. The filter's SQL only uses `r` and subqueries, so no
/// join is needed, and every column read is in `workflowruns_repo_figures`, so SQLite reads that
/// index and not the rows. The order is made here: an `ORDER BY` would make SQLite walk the
/// creation-time index and fetch every row instead (7x slower at 1M runs).
fn samples(conn: &Connection, filter: &RunFilter, with_author: bool) -> Result<Vec<Sample>> {
    let (clause, params) = filter.sql();
    let author = if with_author { "r.actor" } else { "NULL" };
    let (done, red, green) = (RUN_DONE_SQL, &*RED_SQL, &*GREEN_SQL);
    let sql = format!(
        "SELECT r.id, r.repo_id, r.workflow_id, r.branch_id, {author}, {done},
                r.conclusion IN ({green}), r.conclusion IN ({red}),
                r.runtime, r.queuetime, r.createtime, r.endtime,
                CASE WHEN r.runattempt > 1 THEN EXISTS (
                    SELECT 1 FROM workflowrunattempts red JOIN workflowrunattempts green
                      ON green.run_id = red.run_id AND green.runattempt > red.runattempt
                    WHERE red.run_id = r.id AND red.conclusion IN ({red})
                      AND green.conclusion IN ({green})) ELSE 0 END
         FROM workflowruns r{clause}"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows: Vec<Sample> = stmt
        .query_map(rusqlite::params_from_iter(params), |row| {
            Ok(Sample {
                id: row.get(0)?,
                repo_id: row.get(1)?,
                workflow_id: row.get(2)?,
                branch_id: row.get(3)?,
                author: row.get(4)?,
                completed: row.get(5)?,
                succeeded: row.get::<_, Option<bool>>(6)?.unwrap_or(false),
                failed: row.get::<_, Option<bool>>(7)?.unwrap_or(false),
                runtime: row.get(8)?,
                queuetime: row.get(9)?,
                created: row.get(10)?,
                ended: row.get(11)?,
                flaky: row.get(12)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    rows.sort_unstable_by_key(|sample| (sample.created, sample.id));
    Ok(rows)
}

/// Ids of the branches that are their repository's default branch.
fn default_branches(conn: &Connection) -> Result<HashSet<i64>> {
    let mut stmt = conn.prepare_cached(
        "SELECT b.id FROM branches b JOIN repos ON repos.id = b.repo_id AND b.name = repos.defaultbranch",
    )?;
    let ids = stmt
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(ids)
}

/// `id -> name` for one of the small tables (`repos`, `workflows`, `branches`).
fn names(conn: &Connection, sql: &str) -> Result<HashMap<i64, String>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let names = stmt
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(names)
}

/// Figures for the runs matching `filter`; `now` closes a window without `until`.
///
/// # Errors
/// On a database error.
pub fn compute(conn: &Connection, filter: &RunFilter, now: i64) -> Result<Metrics> {
    let samples = samples(conn, filter, false)?;
    Ok(summarise(&samples, &default_branches(conn)?, filter, now))
}

/// Splits `samples` by `key` and summarises each group.
fn grouped<K: Ord>(
    samples: Vec<Sample>,
    defaults: &HashSet<i64>,
    filter: &RunFilter,
    now: i64,
    key: impl Fn(&Sample) -> K,
) -> BTreeMap<K, Metrics> {
    let mut groups: BTreeMap<K, Vec<Sample>> = BTreeMap::new();
    for sample in samples {
        groups.entry(key(&sample)).or_default().push(sample);
    }
    groups
        .into_iter()
        .map(|(key, samples)| (key, summarise(&samples, defaults, filter, now)))
        .collect()
}

/// Figures per group (`repo`, `workflow`, `branch` or `author` name; runs without one are under "").
///
/// # Errors
/// On a database error.
pub fn compute_grouped(
    conn: &Connection,
    filter: &RunFilter,
    group_by: GroupBy,
    now: i64,
) -> Result<BTreeMap<String, Metrics>> {
    let samples = samples(conn, filter, group_by == GroupBy::Author)?;
    let defaults = default_branches(conn)?;
    let lookup = match group_by {
        GroupBy::Repo => names(conn, "SELECT id, fullname FROM repos")?,
        GroupBy::Workflow => names(conn, "SELECT id, name FROM workflows")?,
        GroupBy::Branch => names(conn, "SELECT id, name FROM branches")?,
        GroupBy::Author => HashMap::new(),
    };
    let name = |id: Option<i64>| {
        id.and_then(|id| lookup.get(&id).cloned())
            .unwrap_or_default()
    };
    Ok(grouped(
        samples,
        &defaults,
        filter,
        now,
        |sample| match group_by {
            GroupBy::Repo => name(Some(sample.repo_id)),
            GroupBy::Workflow => name(Some(sample.workflow_id)),
            GroupBy::Branch => name(sample.branch_id),
            GroupBy::Author => sample.author.clone().unwrap_or_default(),
        },
    ))
}

/// Figures per workflow id, in one pass over the runs.
///
/// # Errors
/// On a database error.
pub fn compute_per_workflow(
    conn: &Connection,
    filter: &RunFilter,
    now: i64,
) -> Result<BTreeMap<i64, Metrics>> {
    let samples = samples(conn, filter, false)?;
    Ok(grouped(
        samples,
        &default_branches(conn)?,
        filter,
        now,
        |sample| sample.workflow_id,
    ))
}

fn summarise(samples: &[Sample], defaults: &HashSet<i64>, filter: &RunFilter, now: i64) -> Metrics {
    let completed: Vec<&Sample> = samples.iter().filter(|s| s.completed).collect();
    let successful = completed.iter().filter(|s| s.succeeded).count() as u64;
    let failed = completed.iter().filter(|s| s.failed).count() as u64;
    let flaky = completed.iter().filter(|s| s.flaky).count() as u64;
    let mut durations: Vec<i64> = completed.iter().filter_map(|s| s.runtime).collect();
    let mut queues: Vec<i64> = samples.iter().filter_map(|s| s.queuetime).collect();
    let mut recoveries = recovery_times(&completed);
    let completed_count = completed.len() as u64;
    Metrics {
        total_runs: samples.len() as u64,
        completed_runs: completed_count,
        successful_runs: successful,
        failed_runs: failed,
        success_rate: ratio(successful, completed_count),
        failure_rate: ratio(failed, completed_count),
        active_builds: samples.len() as u64 - completed_count,
        duration_s: Stats::of(&mut durations),
        queue_s: Stats::of(&mut queues),
        recoveries: recoveries.len() as u64,
        time_to_recover_s: Stats::of(&mut recoveries),
        default_branch_red_share: red_share(&completed, defaults, filter, now),
        flaky_runs: flaky,
        flaky_rate: ratio(flaky, completed_count),
    }
}

/// When a run's outcome became known.
fn finished(sample: &Sample) -> i64 {
    sample.ended.unwrap_or(sample.created)
}

/// Seconds from each first red run to the next green one, per workflow and branch.
fn recovery_times(completed: &[&Sample]) -> Vec<i64> {
    let mut red_since: HashMap<(i64, i64, Option<i64>), i64> = HashMap::new();
    let mut times = Vec::new();
    for sample in completed {
        let key = (sample.repo_id, sample.workflow_id, sample.branch_id);
        if sample.failed {
            red_since.entry(key).or_insert_with(|| finished(sample));
        } else if sample.succeeded {
            if let Some(start) = red_since.remove(&key) {
                times.push((finished(sample) - start).max(0));
            }
        }
    }
    times
}

/// See the module docs.
fn red_share(
    completed: &[&Sample],
    defaults: &HashSet<i64>,
    filter: &RunFilter,
    now: i64,
) -> Option<f64> {
    let mut per_repo: BTreeMap<i64, Vec<&Sample>> = BTreeMap::new();
    let on_default = |s: &&&Sample| s.branch_id.is_some_and(|id| defaults.contains(&id));
    for sample in completed.iter().filter(on_default) {
        per_repo.entry(sample.repo_id).or_default().push(sample);
    }
    let end = filter.until.unwrap_or(now);
    let shares: Vec<f64> = per_repo
        .values()
        .filter_map(|runs| {
            let start = filter
                .since
                .unwrap_or_else(|| runs.iter().map(|s| s.created).min().unwrap_or(end));
            if end <= start {
                return None;
            }
            let mut events: Vec<(i64, i64, bool)> = runs
                .iter()
                .map(|s| (finished(s), s.workflow_id, s.failed))
                .collect();
            events.sort_unstable();
            let mut red_workflows: HashMap<i64, bool> = HashMap::new();
            let (mut red_time, mut red_from) = (0i64, None::<i64>);
            for (time, workflow, red) in events {
                let time = time.clamp(start, end);
                red_workflows.insert(workflow, red);
                let any_red = red_workflows.values().any(|&r| r);
                match (red_from, any_red) {
                    (None, true) => red_from = Some(time),
                    (Some(from), false) => {
                        red_time += time - from;
                        red_from = None;
                    }
                    _ => {}
                }
            }
            if let Some(from) = red_from {
                red_time += end - from;
            }
            Some(red_time as f64 / (end - start) as f64)
        })
        .collect();
    (!shares.is_empty()).then(|| round4(shares.iter().sum::<f64>() / shares.len() as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_use_nearest_rank_percentiles() {
        let mut values: Vec<i64> = (1..=20).collect();
        let stats = Stats::of(&mut values);
        assert_eq!(stats.avg, Some(10.5));
        assert_eq!(stats.p50, Some(10.0));
        assert_eq!(stats.p95, Some(19.0));
        assert_eq!(Stats::of(&mut []), Stats::default());
        assert_eq!(Stats::of(&mut [7]).p95, Some(7.0));
    }

    #[test]
    fn a_rate_over_zero_runs_is_none() {
        assert_eq!(ratio(0, 0), None);
        assert_eq!(ratio(1, 3), Some(0.3333));
        // 14.28 %: printed as 0.1428, not 0.14279999999999998.
        assert_eq!(
            serde_json::to_string(&ratio(4462, 31240)).unwrap(),
            "0.1428"
        );
    }
}
