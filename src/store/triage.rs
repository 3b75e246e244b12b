//! Triage: what is red now, on the branches that matter, since when, where it failed, and whose
//! change it likely was. The page, the TV and `GET /api/triage` all read it from here.
//!
//! The rules (the README's "Triage" section says the same):
//! - **Scope.** A workflow on a branch is red when its latest completed run (neutral conclusions
//!   such as `cancelled` looked past) failed. By default only watched branches count (each
//!   repository's default branch and `--watch-branches`); [`Scope::AllBranches`] looks at every
//!   live branch, except those with no run since `active_since` (abandoned work stays red forever
//!   otherwise).
//! - **Grouping.** Reds whose first red run is the same commit are one [`Incident`]: one bad commit
//!   that fails five workflows is one item.
//! - **Verdict**, per workflow and branch, on evidence from that workflow on that branch only
//!   ([`Verdict`]): *broken* when the red streak has two or more commits that failed on every
//!   attempt (or the same commit failed every attempt of two runs, as scheduled workflows do);
//!   else *flaky* when, in its last [`FLAKY_WINDOW`] completed runs, one commit both
//!   failed and passed (a green re-run, or another run of the same commit) or the results flipped
//!   between red and green at least [`FLAKY_FLIPS`] times; else *new*.
//! - **Blame.** The first red run's actor is the likely cause; others who started runs in the red
//!   range are listed apart. Logins ending in `[bot]` are bots.
//! - **Claims.** Each red carries its claim (`store::claims`), found by its first red run.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use rusqlite::types::Value;
use rusqlite::{CachedStatement, Connection, OptionalExtension};
use serde::Serialize;

use super::claims::{self, Claim};
use super::failures::{self, JobFailureRow};
use super::model::Run;
use super::query::{self, RunFilter};
use super::read::{self, run_from_row, RUN_SELECT};
use super::Result;
use crate::run_state::{self, Conclusion, RED_SQL, RUN_DONE_SQL};
use crate::watch::WatchedBranches;

/// Completed runs of one workflow on one branch that triage walks back through to find the last
/// green run; a red streak longer than this is reported as "at least" this long.
pub const TRIAGE_HISTORY: u32 = 200;
/// The slice of a red workflow's history read first (see [`TRIAGE_HISTORY`]); at least
/// [`FLAKY_WINDOW`].
const FIRST_HISTORY: u32 = 20;
/// Completed runs of a workflow on a branch looked at for evidence of flakiness.
pub const FLAKY_WINDOW: usize = 10;
/// Changes between red and green within [`FLAKY_WINDOW`] that make a workflow flaky.
pub const FLAKY_FLIPS: usize = 2;
/// Runs in a red streak, each failing on every attempt, that make a workflow broken.
pub const BROKEN_RUNS: usize = 2;

/// Which branches to look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Each repository's default branch and the `--watch-branches` globs.
    Watched,
    /// Every live branch with a run created at or after `active_since` (epoch seconds).
    AllBranches { active_since: i64 },
}

impl Scope {
    /// Watched branches, unless every branch is asked for or one is named (naming a branch asks
    /// for it, watched or not); then every branch with a run in the last `stale_after`.
    pub fn choose(all_branches: bool, branch_named: bool, stale_after: Duration, now: i64) -> Self {
        if all_branches || branch_named {
            let stale = i64::try_from(stale_after.as_secs()).unwrap_or(i64::MAX);
            Self::AllBranches {
                active_since: now.saturating_sub(stale),
            }
        } else {
            Self::Watched
        }
    }

    /// `watched` or `all`, as in the `branches=` parameter.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Watched => "watched",
            Self::AllBranches { .. } => "all",
        }
    }
}

/// The order of incidents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// The newest break first: what just happened is what people need to see.
    #[default]
    NewestFirst,
    /// The longest red first.
    OldestFirst,
}

/// What a workflow's red means, on the evidence of its own recent runs on that branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Failed on every attempt for two or more commits in a row: the code is broken.
    Broken,
    /// Passes and fails the same code: the failure may not be the code's fault.
    Flaky,
    /// One red commit and no evidence either way yet.
    New,
}

impl Verdict {
    /// The word on the board and in the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Broken => "broken",
            Self::Flaky => "flaky",
            Self::New => "new",
        }
    }
}

/// Where a run failed: its first failed job and that job's first failed step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedAt {
    pub job: String,
    pub step: Option<String>,
}

impl FailedAt {
    /// "build › Run tests", or the job alone when no step is known.
    pub fn describe(&self) -> String {
        match &self.step {
            Some(step) => format!("{} › {step}", self.job),
            None => self.job.clone(),
        }
    }
}

/// A workflow on a branch whose latest completed run failed.
#[derive(Debug, Clone, PartialEq)]
pub struct Red {
    /// The latest (failing) run.
    pub failing: Run,
    /// The oldest failing run of the streak: the first red commit.
    pub first_red: Run,
    /// The last successful run before the streak, if buildboard knows one.
    pub last_green: Option<Run>,
    /// Failed runs in a row (neutral conclusions such as `cancelled` are looked past).
    pub streak: u32,
    /// `true` when the streak reaches [`TRIAGE_HISTORY`] runs without finding a green one.
    pub streak_capped: bool,
    /// When it went red: the completion (else creation) of the first red run.
    pub since: i64,
    /// Everyone who started a run in the red range (first red .. latest), in order of appearance.
    pub authors: Vec<String>,
    pub verdict: Verdict,
    /// Where the failing run failed, when its jobs' steps are known.
    pub failed_at: Option<FailedAt>,
    /// Why, from the failing run's log (with a GitHub token): the first failed job's explanation,
    /// one with a signature preferred.
    pub failure: Option<JobFailureRow>,
    /// Other red workflows (in scope) whose failure has the same signature.
    pub same_failure_elsewhere: usize,
    /// Who said they are on it (`store::claims`), keyed by its first red run.
    pub claim: Option<Claim>,
    /// Why, from evidence: the run page's sentence for the same job
    /// ("out of memory in 'Run tests' (memory 7.8 of 7.8 GB)"), when there is evidence.
    pub why: Option<crate::failure::evidence::Why>,
}

impl Red {
    /// The failure's normalised signature, when its log was read and explained.
    pub fn signature(&self) -> Option<&str> {
        self.failure.as_ref().and_then(|f| f.signature.as_deref())
    }
}

/// Reds that share their first red commit: one cause.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    /// The reds, by workflow name; never empty.
    pub reds: Vec<Red>,
    /// The earliest time any of them went red.
    pub since: i64,
    /// Who started the first red run: the likely cause.
    pub culprit: Option<String>,
    /// Others who started runs in the red ranges, in order of appearance.
    pub pushers: Vec<String>,
    /// The most serious verdict of its reds (broken, then new, then flaky: flaky only when
    /// every one of them is).
    pub verdict: Verdict,
}

impl Incident {
    /// Did `login` cause it (the first red commit's author) or push into it since?
    pub fn involves(&self, login: &str) -> bool {
        self.culprit.as_deref() == Some(login) || self.pushers.iter().any(|p| p == login)
    }

    /// The first red run (the same commit for every red of the incident).
    pub fn first_red(&self) -> &Run {
        &self.reds[0].first_red
    }

    /// The newest failing run among the incident's reds.
    pub fn latest(&self) -> &Run {
        self.reds
            .iter()
            .map(|red| &red.failing)
            .max_by_key(|b| (b.created_at, b.id))
            .expect("an incident has at least one red")
    }

    /// The branches it is red on, in order.
    pub fn branches(&self) -> Vec<&str> {
        let set: BTreeSet<&str> = self
            .reds
            .iter()
            .filter_map(|red| red.failing.branch.as_deref())
            .collect();
        set.into_iter().collect()
    }
}

/// Is `login` a bot account (`dependabot[bot]`)?
pub fn is_bot(login: &str) -> bool {
    login.ends_with("[bot]")
}

/// What triage looks at.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The runs in question. Its `author` list selects incidents, not runs: those a person
    /// caused or pushed into (see [`Incident::involves`]).
    pub filter: &'a RunFilter,
    pub watched: &'a WatchedBranches,
    pub scope: Scope,
    pub order: Order,
}

/// What is red now, grouped into incidents, in `request.order`.
///
/// # Errors
/// On a database error.
pub fn triage(conn: &Connection, request: &Request<'_>) -> Result<Vec<Incident>> {
    let authors = &request.filter.author;
    if !authors.is_empty() {
        let anyone = RunFilter {
            author: Vec::new(),
            ..request.filter.clone()
        };
        let mut incidents = triage(
            conn,
            &Request {
                filter: &anyone,
                ..*request
            },
        )?;
        incidents.retain(|incident| authors.iter().any(|login| incident.involves(login)));
        return Ok(incidents);
    }
    let reds = reds(conn, request)?;
    let mut incidents: Vec<Incident> = Vec::new();
    let mut by_cause: HashMap<(String, String), usize> = HashMap::new();
    for red in reds {
        let key = (red.first_red.repo.clone(), red.first_red.sha.clone());
        match by_cause.get(&key) {
            Some(&index) => incidents[index].reds.push(red),
            None => {
                by_cause.insert(key, incidents.len());
                incidents.push(Incident {
                    since: red.since,
                    culprit: None,
                    pushers: Vec::new(),
                    verdict: red.verdict,
                    reds: vec![red],
                });
            }
        }
    }
    for incident in &mut incidents {
        incident.reds.sort_by(|a, b| {
            (&a.failing.workflow, a.failing.id).cmp(&(&b.failing.workflow, b.failing.id))
        });
        incident.since = incident
            .reds
            .iter()
            .map(|r| r.since)
            .min()
            .unwrap_or_default();
        incident.culprit = incident.first_red().author.clone();
        let mut seen: BTreeSet<&str> = incident.culprit.iter().map(String::as_str).collect();
        let mut pushers = Vec::new();
        for author in incident.reds.iter().flat_map(|red| &red.authors) {
            if seen.insert(author) {
                pushers.push(author.clone());
            }
        }
        incident.pushers = pushers;
        let verdicts: BTreeSet<Verdict> = incident.reds.iter().map(|r| r.verdict).collect();
        incident.verdict = if verdicts.contains(&Verdict::Broken) {
            Verdict::Broken
        } else if verdicts.contains(&Verdict::New) {
            Verdict::New
        } else {
            Verdict::Flaky
        };
    }
    incidents.sort_by(|a, b| {
        let key = |i: &Incident| (i.since, i.latest().id);
        match request.order {
            Order::NewestFirst => key(b).cmp(&key(a)),
            Order::OldestFirst => key(a).cmp(&key(b)),
        }
    });
    Ok(incidents)
}

/// The latest failing run of each red workflow and branch in scope.
fn red_runs(conn: &Connection, request: &Request<'_>) -> Result<Vec<i64>> {
    // The reader's scope selects the workflows probed (below), not the runs of each probe: in
    // the probe its list would be read again for every workflow and branch.
    // Names likewise select the workflows and branches probed: inside the probe, their lists
    // made the planner walk every run of each branch and sort them instead of one seek of
    // `workflowruns_pair` (`branch=branch-1*&workflow=...` took 236 ms at 1M runs).
    let probe = RunFilter {
        scope: None,
        branch: Vec::new(),
        workflow: Vec::new(),
        ..request.filter.clone()
    };
    let (names, names_params) = probed_names(request.filter);
    let (clause, mut params) = probe.sql();
    let (in_scope, scope_params) = request.filter.scope.as_ref().map_or_else(
        || ("1".to_owned(), Vec::new()),
        |scope| scope.condition("p.fullname"),
    );
    let latest_done = format!(
        "r.workflow_id = w.id AND r.branch_id = b.id AND {RUN_DONE_SQL}
         AND COALESCE(r.conclusion, '') NOT IN ({})",
        *run_state::NEUTRAL_SQL
    );
    let clause = if clause.is_empty() {
        format!(" WHERE {latest_done}")
    } else {
        format!("{clause} AND {latest_done}")
    };
    let (scope, fresh) = match request.scope {
        Scope::Watched => {
            let (watched, globs) = request.watched.sql("b.name", "p.defaultbranch");
            params.extend(globs);
            params.extend(scope_params);
            params.extend(names_params);
            (
                format!("WHERE {watched} AND {in_scope} AND {names}"),
                String::new(),
            )
        }
        Scope::AllBranches { active_since } => {
            params.extend(scope_params);
            params.extend(names_params);
            params.push(Value::Integer(active_since));
            (
                format!("WHERE {in_scope} AND {names}"),
                "AND EXISTS (SELECT 1 FROM workflowruns x
                             WHERE x.branch_id = red.branch_id AND x.createtime >= ?)"
                    .to_owned(),
            )
        }
    };
    // One indexed probe per workflow and live branch of its repository (index
    // `workflowruns_pair`), instead of ranking every completed run in the history.
    let sql = format!(
        "SELECT latest.id FROM (
             SELECT (SELECT r.id FROM workflowruns r{clause}
                     ORDER BY r.createtime DESC, r.id DESC LIMIT 1) AS id
             FROM workflows w
             JOIN branches b ON b.repo_id = w.repo_id AND b.deletedtime IS NULL
             JOIN repos p ON p.id = w.repo_id
             {scope}) latest
         JOIN workflowruns red ON red.id = latest.id
         WHERE red.conclusion IN ({red}) {fresh}",
        red = *RED_SQL
    );
    let ids = conn
        .prepare_cached(&sql)?
        .query_map(rusqlite::params_from_iter(params), |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(ids)
}

/// The conditions on a probed branch `b` and workflow `w` that `filter`'s branch and workflow
/// names make ("1" without names). A run's branch and workflow are the probe's, so this
/// selects exactly the runs the names would.
fn probed_names(filter: &RunFilter) -> (String, Vec<Value>) {
    let mut conditions = vec!["1".to_owned()];
    let mut params = Vec::new();
    if !filter.branch.is_empty() {
        let (condition, values) = query::branch_names("name", &filter.branch);
        conditions.push(format!(
            "b.id IN (SELECT id FROM branches WHERE {condition})"
        ));
        params.extend(values);
    }
    if !filter.workflow.is_empty() {
        let (condition, values) = query::workflow_names("name", &filter.workflow);
        conditions.push(format!(
            "w.id IN (SELECT id FROM workflows WHERE {condition})"
        ));
        params.extend(values);
    }
    (conditions.join(" AND "), params)
}

/// Each red workflow and branch in scope, with its streak, range and verdict.
fn reds(conn: &Connection, request: &Request<'_>) -> Result<Vec<Red>> {
    let latest = red_runs(conn, request)?;
    let mut history = conn.prepare_cached(&format!(
        "{RUN_SELECT}
         WHERE r.workflow_id = ?1 AND r.branch_id IS (SELECT branch_id FROM workflowruns WHERE id = ?3)
           AND {RUN_DONE_SQL} AND (r.createtime, r.id) <= (?2, ?3)
         ORDER BY r.createtime DESC, r.id DESC LIMIT ?4"
    ))?;
    let mut reds = Vec::with_capacity(latest.len());
    for id in latest {
        let Some(failing) = read::run(conn, id)? else {
            continue;
        };
        reds.push(red(conn, &mut history, failing)?);
    }
    count_same_failures(&mut reds);
    attach_claims(conn, &mut reds)?;
    Ok(reds)
}

/// Sets each red's `same_failure_elsewhere`: the other reds with its failure's signature.
fn count_same_failures(reds: &mut [Red]) {
    let mut signatures: HashMap<String, usize> = HashMap::new();
    for signature in reds.iter().filter_map(Red::signature) {
        *signatures.entry(signature.to_owned()).or_default() += 1;
    }
    for red in reds {
        if let Some(signature) = red.signature() {
            red.same_failure_elsewhere = signatures[signature] - 1;
        }
    }
}

/// Sets each red's claim, found by its first red run.
fn attach_claims(conn: &Connection, reds: &mut [Red]) -> Result<()> {
    let first_reds: Vec<i64> = reds.iter().map(|red| red.first_red.id).collect();
    let mut claims = claims::of(conn, &first_reds)?;
    for red in reds {
        red.claim = claims.remove(&red.first_red.id);
    }
    Ok(())
}

/// The red of `failing`, the latest run of its workflow and branch: its streak back to the last
/// green run in `history` (the [`reds`] statement), its verdict and why it failed.
fn red(conn: &Connection, history: &mut CachedStatement<'_>, failing: Run) -> Result<Red> {
    // Most red streaks are short: read a first slice of the history, and all of it only when
    // no green run is in that slice (at 1M runs, reading 200 runs per red was most of the cost).
    let mut runs: Vec<Run> = Vec::new();
    for limit in [FIRST_HISTORY, TRIAGE_HISTORY] {
        runs = history
            .query_map(
                rusqlite::params![failing.workflow_id, failing.created_at, failing.id, limit],
                run_from_row,
            )?
            .collect::<rusqlite::Result<_>>()?;
        let found_green = runs
            .iter()
            .any(|run| run_state::is_green(run.conclusion.as_ref()));
        if found_green || runs.len() < limit as usize {
            break;
        }
    }
    let capped = runs.len() >= TRIAGE_HISTORY as usize;
    let mut red_runs: Vec<&Run> = Vec::new();
    let mut last_green = None;
    for run in &runs {
        if run_state::is_green(run.conclusion.as_ref()) {
            last_green = Some(run.clone());
            break;
        }
        if run_state::is_red(run.conclusion.as_ref()) {
            red_runs.push(run);
        }
    }
    let first_red = red_runs
        .last()
        .map_or_else(|| failing.clone(), |r| (*r).clone());
    let mut seen = BTreeSet::new();
    let authors = red_runs
        .iter()
        .rev()
        .filter_map(|run| run.author.clone())
        .filter(|author| seen.insert(author.clone()))
        .collect();
    let verdict = verdict(conn, &runs, &red_runs)?;
    let failed_at = failed_at(conn, failing.id, failing.run_attempt)?;
    let mut explained = failures::for_run(conn, failing.id)?;
    explained.sort_by_key(|row| row.signature.is_none());
    let failure = explained.into_iter().next();
    let why = match &failure {
        Some(row) => super::runpage::job_why(conn, failing.id, row)?,
        None => None,
    };
    Ok(Red {
        since: first_red
            .completed_at
            .or(first_red.created_at)
            .unwrap_or_default(),
        streak: red_runs.len().max(1) as u32,
        streak_capped: capped && last_green.is_none(),
        verdict,
        failed_at,
        failure,
        same_failure_elsewhere: 0,
        claim: None,
        why,
        failing,
        first_red,
        last_green,
        authors,
    })
}

/// The conclusions of every attempt of `run` (the run's own, for the latest attempt, included).
fn attempt_conclusions(conn: &Connection, run: &Run) -> Result<Vec<Conclusion>> {
    let own = run.conclusion.clone();
    if run.run_attempt <= 1 {
        // One attempt: the run's own conclusion is all there is.
        return Ok(own.into_iter().collect());
    }
    let mut stmt = conn.prepare_cached(
        "SELECT conclusion FROM workflowrunattempts WHERE run_id = ?1 AND conclusion IS NOT NULL",
    )?;
    let mut conclusions: Vec<Conclusion> = stmt
        .query_map([run.id], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    conclusions.extend(own);
    Ok(conclusions)
}

/// The verdict on a red workflow and branch, from `runs` (its completed runs, newest first, from
/// the failing one back) and `streak` (the red ones of them since the last green, newest first).
fn verdict(conn: &Connection, runs: &[Run], streak: &[&Run]) -> Result<Verdict> {
    // Broken: two or more runs of the streak (two commits, or the same commit run again, as a
    // schedule does) failed on every attempt.
    let mut failed_every_attempt = 0;
    for run in streak {
        let attempts = attempt_conclusions(conn, run)?;
        if attempts.iter().all(|c| c.is_red()) {
            failed_every_attempt += 1;
        }
    }
    if failed_every_attempt >= BROKEN_RUNS {
        return Ok(Verdict::Broken);
    }
    // Flaky: the same commit both failed and passed, or results flip back and forth.
    let recent: Vec<&Run> = runs
        .iter()
        .filter(|run| {
            let c = run.conclusion.as_ref();
            run_state::is_red(c) || run_state::is_green(c)
        })
        .take(FLAKY_WINDOW)
        .collect();
    let mut outcomes: HashMap<&str, (bool, bool)> = HashMap::new();
    for run in &recent {
        let entry = outcomes.entry(run.sha.as_str()).or_default();
        for conclusion in attempt_conclusions(conn, run)? {
            entry.0 |= conclusion.is_red();
            entry.1 |= conclusion.is_green();
        }
    }
    let same_commit_both = outcomes.values().any(|(red, green)| *red && *green);
    let flips = recent
        .windows(2)
        .filter(|pair| {
            run_state::is_red(pair[0].conclusion.as_ref())
                != run_state::is_red(pair[1].conclusion.as_ref())
        })
        .count();
    Ok(if same_commit_both || flips >= FLAKY_FLIPS {
        Verdict::Flaky
    } else {
        Verdict::New
    })
}

/// Where attempt `attempt` of run `run_id` failed: its first failed job (by completion) and that
/// job's first failed step, when the jobs are known.
///
/// # Errors
/// On a database error.
pub fn failed_at(conn: &Connection, run_id: i64, attempt: i64) -> Result<Option<FailedAt>> {
    let red = &*RED_SQL;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT j.name,
                (SELECT s.name FROM workflowsteps s
                 WHERE s.job_id = j.id AND s.conclusion IN ({red}) ORDER BY s.number LIMIT 1)
         FROM workflowjobs j
         WHERE j.run_id = ?1 AND j.runattempt = ?2 AND j.conclusion IN ({red})
         ORDER BY COALESCE(j.endtime, 0), j.id LIMIT 1"
    ))?;
    Ok(stmt
        .query_row((run_id, attempt), |row| {
            Ok(FailedAt {
                job: row.get(0)?,
                step: row.get(1)?,
            })
        })
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bots_are_told_apart_by_their_login() {
        assert!(is_bot("dependabot[bot]"));
        assert!(!is_bot("alice"));
    }

    #[test]
    fn a_failure_is_described_as_job_then_step() {
        let at = FailedAt {
            job: "build".into(),
            step: Some("Run tests".into()),
        };
        assert_eq!(at.describe(), "build › Run tests");
    }
}
