//! One run in detail, for the run page (`/runs/<id>`) and `GET /api/runs/<id>`: the run, its
//! commit, every attempt with its jobs, each job's steps, why a failed job failed (from
//! `jobfailures`) and where else the same failure happened, and how long such a run usually takes.

use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::failures::{self, JobFailureRow};
use super::model::{rfc3339, CommitInfo, JobCore, Run};
use super::samples::{self, Sample};
use super::{read, rows, Result};
use crate::failure::evidence::{self, Evidence, Why};
use crate::run_state::{Conclusion, Status};

/// How far back "the same failure in N runs" looks, in days.
pub const RECURRENCE_DAYS: i64 = 30;
/// Workflows listed at most under a recurring failure.
const RECURRENCE_WORKFLOWS: u32 = 8;
/// Recent successful runs whose median says how long a run usually takes.
const EXPECTED_RUNS: u32 = 20;

/// A run with everything its page shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunDetail {
    pub run: Run,
    /// The head commit and who pushed it; `None` when the commit row is missing.
    pub commit: Option<CommitInfo>,
    /// Every attempt, oldest first, each with its jobs.
    pub attempts: Vec<AttemptDetail>,
    /// The median duration of the workflow's recent successful runs on this branch, in seconds.
    pub expected_s: Option<i64>,
}

/// One attempt of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptDetail {
    pub attempt: i64,
    pub status: Status,
    pub conclusion: Option<Conclusion>,
    #[serde(serialize_with = "rfc3339")]
    pub started_at: Option<i64>,
    #[serde(serialize_with = "rfc3339")]
    pub updated_at: Option<i64>,
    /// Filled in after the attempts are read ([`detail`]).
    #[serde(skip_deserializing)]
    pub jobs: Vec<JobDetail>,
}

/// One job with its steps and, when it failed, why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobDetail {
    /// Its id, name, state, runner, link and times, as the API lists them.
    #[serde(flatten)]
    pub job: JobCore,
    pub labels: Vec<String>,
    pub steps: Vec<StepDetail>,
    pub failure: Option<FailureDetail>,
    /// Why it failed, from evidence (`failure::evidence`): one sentence and its rule.
    pub why: Option<Why>,
    /// Its runner samples, in time order (drawn on the run page; the API serves them at
    /// `/api/jobs/<id>/metrics`).
    #[serde(skip)]
    pub samples: Vec<Sample>,
}

impl std::ops::Deref for JobDetail {
    type Target = JobCore;

    /// The fields every listing of a job shows, read as the detail's own (`job.name`).
    fn deref(&self) -> &JobCore {
        &self.job
    }
}

/// One step of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepDetail {
    pub number: i64,
    pub name: String,
    pub status: Status,
    pub conclusion: Option<Conclusion>,
    #[serde(serialize_with = "rfc3339")]
    pub started_at: Option<i64>,
    #[serde(serialize_with = "rfc3339")]
    pub completed_at: Option<i64>,
}

impl StepDetail {
    /// Whether this step is where its job failed.
    pub fn failed(&self) -> bool {
        crate::run_state::is_red(self.conclusion.as_ref())
    }
}

/// Why a job failed, and where else the same failure was seen.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailureDetail {
    pub rule: Option<String>,
    pub signature: Option<String>,
    pub excerpt: Option<String>,
    /// Why the log could not be read, when it could not.
    pub error: Option<String>,
    /// Other runs with the same signature in the last [`RECURRENCE_DAYS`] days.
    pub elsewhere: Option<Recurrence>,
}

/// "The same failure in N runs over 30 days, in these workflows".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recurrence {
    pub runs: i64,
    pub days: i64,
    pub workflows: Vec<RecurrenceWorkflow>,
}

/// A workflow the same failure happened in, with its latest such run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecurrenceWorkflow {
    pub repo: String,
    pub workflow: String,
    pub latest_run: i64,
}

/// Run `run_id` in detail, or `None` when it is not stored. `now` is epoch seconds.
///
/// # Errors
/// On a database error.
pub fn detail(conn: &Connection, run_id: i64, now: i64) -> Result<Option<RunDetail>> {
    let Some(run) = read::run(conn, run_id)? else {
        return Ok(None);
    };
    let commit_id: Option<i64> = conn
        .prepare_cached("SELECT commit_id FROM workflowruns WHERE id = ?1")?
        .query_row([run_id], |row| row.get(0))
        .optional()?;
    let commit = match commit_id {
        Some(id) => read::commit(conn, id)?,
        None => None,
    };
    let failures = failures::for_run(conn, run_id)?;
    let since = now - RECURRENCE_DAYS * 86_400;
    let mut attempts = attempts(conn, run_id)?;
    for job in jobs(conn, run_id)? {
        let (attempt, mut job) = job;
        job.steps = steps(conn, job.id)?;
        job.samples = samples::for_job(conn, job.id)?;
        if let Some(row) = failures.iter().find(|f| f.job_id == job.id) {
            job.failure = Some(failure_detail(conn, row, since)?);
        }
        job.why = why(&job);
        match attempts.iter_mut().find(|a| a.attempt == attempt) {
            Some(found) => found.jobs.push(job),
            None => attempts.push(AttemptDetail {
                attempt,
                status: job.status,
                conclusion: None,
                started_at: job.started_at,
                updated_at: None,
                jobs: vec![job],
            }),
        }
    }
    attempts.sort_by_key(|a| a.attempt);
    let expected_s = expected_duration(conn, run_id)?;
    Ok(Some(RunDetail {
        run,
        commit,
        attempts,
        expected_s,
    }))
}

/// Why a failed job failed, from its conclusion, its failed step's samples and its excerpt.
fn why(job: &JobDetail) -> Option<Why> {
    if !crate::run_state::is_red(job.conclusion.as_ref()) {
        return None;
    }
    let failed = job.steps.iter().find(|s| s.failed());
    let (from, to) = failed.map_or((job.started_at, job.completed_at), |s| {
        (s.started_at, s.completed_at)
    });
    let during: Vec<&Sample> = job
        .samples
        .iter()
        .filter(|s| from.is_none_or(|f| s.t >= f) && to.is_none_or(|t| s.t <= t))
        .collect();
    let log = job.failure.as_ref().map_or(String::new(), |f| {
        format!(
            "{}\n{}",
            f.signature.as_deref().unwrap_or_default(),
            f.excerpt.as_deref().unwrap_or_default()
        )
    });
    evidence::explain(&Evidence {
        conclusion: job.conclusion.as_ref(),
        step: failed.map(|s| s.name.as_str()),
        log: &log,
        memory: during
            .iter()
            .filter_map(|s| s.mem_used.zip(s.mem_total))
            .collect(),
        cpu: during
            .iter()
            .filter_map(|s| Some(s.cpu_user? + s.cpu_system.unwrap_or(0.0)))
            .collect(),
    })
}

/// Why job `job_id` of run `run_id` failed: the run page's sentence ([`why`]), for Triage, from
/// the job's stored `failure` (its log's excerpt and signature), steps and samples. `None` when
/// the job is not stored, not red, or nothing explains it.
///
/// # Errors
/// On a database error.
pub fn job_why(conn: &Connection, run_id: i64, failure: &JobFailureRow) -> Result<Option<Why>> {
    let Some((_, mut job)) = jobs(conn, run_id)?
        .into_iter()
        .find(|(_, job)| job.id == failure.job_id)
    else {
        return Ok(None);
    };
    job.steps = steps(conn, job.id)?;
    job.samples = samples::for_job(conn, job.id)?;
    job.failure = Some(FailureDetail {
        rule: failure.rule.clone(),
        signature: failure.signature.clone(),
        excerpt: failure.excerpt.clone(),
        error: failure.error.clone(),
        elsewhere: None,
    });
    Ok(why(&job))
}

fn attempts(conn: &Connection, run_id: i64) -> Result<Vec<AttemptDetail>> {
    rows::all(
        conn,
        "SELECT runattempt AS attempt, status, conclusion, starttime AS started_at,
                updatetime AS updated_at
         FROM workflowrunattempts WHERE run_id = ?1 ORDER BY runattempt",
        [run_id],
    )
}

/// The run's jobs with their attempts, in the order they started ([`read::jobs_of_run`]).
fn jobs(conn: &Connection, run_id: i64) -> Result<Vec<(i64, JobDetail)>> {
    let jobs = read::jobs_of_run(conn, run_id)?;
    Ok(jobs
        .into_iter()
        .map(|job| {
            let detail = JobDetail {
                job: job.job,
                labels: job.labels,
                steps: Vec::new(),
                failure: None,
                why: None,
                samples: Vec::new(),
            };
            (job.run_attempt, detail)
        })
        .collect())
}

/// Job `job_id`'s steps in order.
///
/// # Errors
/// On a database error.
pub fn steps(conn: &Connection, job_id: i64) -> Result<Vec<StepDetail>> {
    rows::all(
        conn,
        "SELECT number, name, status, conclusion, starttime AS started_at,
                endtime AS completed_at
         FROM workflowsteps WHERE job_id = ?1 ORDER BY number",
        [job_id],
    )
}

fn failure_detail(conn: &Connection, row: &JobFailureRow, since: i64) -> Result<FailureDetail> {
    let elsewhere = match &row.signature {
        Some(signature) => Some(recurrence(conn, signature, row.run_id, since)?),
        None => None,
    };
    Ok(FailureDetail {
        rule: row.rule.clone(),
        signature: row.signature.clone(),
        excerpt: row.excerpt.clone(),
        error: row.error.clone(),
        elsewhere,
    })
}

/// Other runs than `run_id` that failed with `signature` since `since`, and their workflows.
fn recurrence(conn: &Connection, signature: &str, run_id: i64, since: i64) -> Result<Recurrence> {
    let runs: i64 = conn
        .prepare_cached(
            "SELECT COUNT(DISTINCT run_id) FROM jobfailures
             WHERE signature = ?1 AND fetchedtime >= ?2 AND run_id <> ?3",
        )?
        .query_row((signature, since, run_id), |row| row.get(0))?;
    let workflows = rows::all(
        conn,
        "SELECT p.fullname AS repo, w.name AS workflow, MAX(f.run_id) AS latest_run
         FROM jobfailures f
         JOIN workflowruns r ON r.id = f.run_id
         JOIN workflows w ON w.id = r.workflow_id
         JOIN repos p ON p.id = w.repo_id
         WHERE f.signature = ?1 AND f.fetchedtime >= ?2 AND f.run_id <> ?3
         GROUP BY w.id ORDER BY MAX(f.fetchedtime) DESC LIMIT ?4",
        (signature, since, run_id, RECURRENCE_WORKFLOWS),
    )?;
    Ok(Recurrence {
        runs,
        days: RECURRENCE_DAYS,
        workflows,
    })
}

/// The median duration of the newest [`EXPECTED_RUNS`] successful runs of run `run_id`'s
/// workflow on its branch (the run itself left out), or `None` without any.
///
/// # Errors
/// On a database error.
pub fn expected_duration(conn: &Connection, run_id: i64) -> Result<Option<i64>> {
    let mut stmt = conn.prepare_cached(
        "SELECT o.runtime FROM workflowruns r
         JOIN workflowruns o ON o.workflow_id = r.workflow_id AND o.branch_id = r.branch_id
         WHERE r.id = ?1 AND o.id <> r.id AND o.conclusion = ?2 AND o.runtime IS NOT NULL
         ORDER BY o.createtime DESC LIMIT ?3",
    )?;
    let mut durations: Vec<i64> = stmt
        .query_map(
            (run_id, Conclusion::Success.as_str(), EXPECTED_RUNS),
            |row| row.get(0),
        )?
        .collect::<rusqlite::Result<_>>()?;
    if durations.is_empty() {
        return Ok(None);
    }
    durations.sort_unstable();
    Ok(Some(durations[durations.len() / 2]))
}
