//! A job's log on demand, for the run page and `GET /api/jobs/<id>/log`: fetched from GitHub
//! through the server's one GitHub client (so the App's installation token serves the
//! repositories it is installed on, `--github-token` the others; see `github::client`), kept
//! within a few MB ([`keep`]: the failing step in full, the rest cut with a note), and cached in
//! `joblogs` ([`crate::store::logs`]), bounded by total size and age (`--job-log-cache-mb`,
//! `--job-log-max-age`) at each store and by the housekeeping.
//!
//! **GitHub's answers.** `GET /repos/{o}/{r}/actions/jobs/{job_id}/logs` answers `302` to a
//! short-lived URL on another host (the client follows it without the token). `200`: the log;
//! `404`: not ready yet (or not visible to the token); `403`: the token may not read Actions;
//! `410`: past the repository's log retention. Each is cached and said in words ([`State`]);
//! `404` is asked again after [`RECHECK_NOT_READY`], `403` after [`RECHECK_NO_ACCESS`], a log
//! or a `410` is kept until the housekeeping drops it.
//!
//! **One fetch at a time.** Fetches wait for each other (and the client's own gate serialises
//! them with the reconciler and the background fetcher, `log_fetch`); a request that finds its
//! log fetched meanwhile takes the cached one. A person is waiting, so a fetch gives up after
//! [`LogLimits::timeout`] (the client may be waiting for GitHub's rate limit to reset).
//!
//! Whether the reader may see the job is the caller's to decide (`web::runs::read_log`) before
//! anything here runs.

pub mod keep;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tracing::{debug, info, warn};

use crate::github::client::{self, Client, TailLimits};
use crate::ingest::Ingest;
use crate::run_state::Status;
use crate::store::logs::{self as stored, CachedLog, LogJob};
use crate::store::Store;

/// How soon a log GitHub said was not ready (`404`) is asked for again.
pub const RECHECK_NOT_READY: i64 = 60;
/// How soon a log the token could not read (`403`) is asked for again.
pub const RECHECK_NO_ACCESS: i64 = 10 * 60;

/// How much of a log is read, and how long a fetch may take.
#[derive(Debug, Clone, Copy)]
pub struct LogLimits {
    /// The end of the log that is read (what is kept of it is then [`keep::keep`]'s call).
    pub read: TailLimits,
    /// The longest a person waits for GitHub.
    pub timeout: Duration,
    /// The cache's bounds, applied at each store too (not only by the hourly housekeeping):
    /// logs older than this many seconds go (`--job-log-max-age`)...
    pub max_age_s: i64,
    /// ...and the oldest until all together take at most this many bytes (`--job-log-cache-mb`).
    pub cache_bytes: u64,
}

impl Default for LogLimits {
    fn default() -> Self {
        Self {
            read: TailLimits {
                keep: 8 * 1024 * 1024,
                max_read: 64 * 1024 * 1024,
            },
            timeout: Duration::from_secs(30),
            max_age_s: crate::store::maintenance::DEFAULT_JOB_LOG_RETENTION_S,
            cache_bytes: crate::store::maintenance::DEFAULT_JOB_LOG_BYTES,
        }
    }
}

/// What became of a job's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// The log (`text`).
    Ok,
    /// The job has not completed: its log is not fetched yet.
    Running,
    /// GitHub answered `404`.
    NotReady,
    /// GitHub answered `403`.
    NoAccess,
    /// GitHub answered `410`.
    Expired,
    /// The server has no GitHub token.
    NoToken,
    /// GitHub could not be asked (network, `5xx`, a timeout): not cached.
    Failed,
}

impl State {
    /// The state of a cached answer with GitHub's `status`.
    fn of_status(status: u16) -> Self {
        match status {
            200 => State::Ok,
            403 => State::NoAccess,
            410 => State::Expired,
            _ => State::NotReady,
        }
    }

    /// What a person is told, for every state but [`State::Ok`].
    pub fn message(self) -> Option<&'static str> {
        Some(match self {
            State::Ok => return None,
            State::Running => "The log is fetched once the job has completed.",
            State::NotReady => {
                "GitHub has no log for this job yet (404): a log appears shortly after its job \
                 completes, so try again in a minute. (GitHub also answers 404 to a token that \
                 cannot see the repository.)"
            }
            State::NoAccess => {
                "The board's GitHub token may not read this repository's Actions logs (403): \
                 give the GitHub App or --github-token read access to Actions."
            }
            State::Expired => {
                "GitHub no longer has this log (410): it is past the repository's log retention."
            }
            State::NoToken => {
                "This board has no GitHub token to fetch logs with: set --github-token or \
                 connect the GitHub App."
            }
            State::Failed => "The log could not be fetched from GitHub; try again later.",
        })
    }
}

/// A job's log, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLog {
    pub job: LogJob,
    pub state: State,
    /// Whether parts of the log were cut (see [`keep`]).
    pub truncated: bool,
    /// When GitHub was asked (epoch seconds); `None` when it was not.
    pub fetched_time: Option<i64>,
    /// The kept log (see [`keep`]); empty unless `state` is [`State::Ok`].
    pub text: String,
    /// What went wrong, for [`State::Failed`].
    pub detail: Option<String>,
}

impl JobLog {
    /// Why there is no log, in words; `None` with one.
    pub fn message(&self) -> Option<String> {
        self.detail
            .clone()
            .or_else(|| self.state.message().map(str::to_owned))
    }

    fn without_fetch(job: LogJob, state: State) -> Self {
        Self {
            job,
            state,
            truncated: false,
            fetched_time: None,
            text: String::new(),
            detail: None,
        }
    }

    fn cached(job: LogJob, log: CachedLog) -> Self {
        Self {
            job,
            state: State::of_status(log.status),
            truncated: log.truncated,
            fetched_time: Some(log.fetched_time),
            text: log.body,
            detail: None,
        }
    }
}

/// `GET /api/jobs/<id>/log`'s answer (docs/runs.md).
#[derive(Debug, Serialize)]
pub struct ApiLog {
    pub job: i64,
    pub run: i64,
    pub repo: String,
    pub state: State,
    /// Why there is no log, in words; `null` with one.
    pub message: Option<String>,
    pub truncated: bool,
    /// When GitHub was asked, epoch seconds.
    pub fetched_at: Option<i64>,
    /// The failing step's title as the log names it (`Run cargo test`).
    pub failed_step: Option<String>,
    /// The kept log as GitHub serves it (timestamps, ANSI codes, `##[group]` lines), a cut
    /// shown as a line `✂ N lines cut`.
    pub text: String,
}

impl From<&JobLog> for ApiLog {
    fn from(log: &JobLog) -> Self {
        let lines: Vec<&str> = log.text.lines().collect();
        let sections = keep::sections(&lines);
        let failed_step = keep::failing(&lines, &sections)
            .filter(|_| log.state == State::Ok)
            .map(|i| keep::title(lines[sections[i].start], i));
        let text: Vec<String> = lines
            .iter()
            .map(|line| match keep::as_note(line) {
                Some(note) => format!("✂ {note}"),
                None => (*line).to_owned(),
            })
            .collect();
        Self {
            job: log.job.job_id,
            run: log.job.run_id,
            repo: log.job.repo.clone(),
            state: log.state,
            message: log.message(),
            truncated: log.truncated,
            fetched_at: log.fetched_time,
            failed_step,
            text: text.join("\n"),
        }
    }
}

/// Whether a cached answer still stands at `now`.
fn fresh(log: &CachedLog, now: i64) -> bool {
    match log.status {
        403 => now - log.fetched_time < RECHECK_NO_ACCESS,
        404 => now - log.fetched_time < RECHECK_NOT_READY,
        _ => true,
    }
}

/// Fetches and caches logs on demand; cheap to clone.
#[derive(Clone)]
pub struct Logs {
    client: Option<Arc<Client>>,
    limits: LogLimits,
    /// Held while a log is fetched: one fetch at a time (see the module doc).
    fetching: Arc<tokio::sync::Mutex<()>>,
}

impl Logs {
    /// Logs fetched through `client` (`None`: the server has no token, and says so).
    pub fn new(client: Option<Arc<Client>>, limits: LogLimits) -> Self {
        Self {
            client,
            limits,
            fetching: Arc::default(),
        }
    }

    /// `job`'s log: cached, or fetched now and cached (through `ingest`, the one writer).
    ///
    /// # Errors
    /// On a database error reading the cache (a failure to write it is only logged).
    pub async fn read(
        &self,
        store: &Store,
        ingest: &Ingest,
        job: LogJob,
        now: i64,
    ) -> Result<JobLog, crate::store::Error> {
        if job.status != Status::Completed {
            return Ok(JobLog::without_fetch(job, State::Running));
        }
        let job_id = job.job_id;
        if let Some(log) = store.read(move |c| stored::cached(c, job_id)).await? {
            if fresh(&log, now) {
                return Ok(JobLog::cached(job, log));
            }
        }
        let Some(client) = &self.client else {
            return Ok(JobLog::without_fetch(job, State::NoToken));
        };
        let _turn = self.fetching.lock().await;
        // Another request may have fetched it while this one waited its turn.
        if let Some(log) = store.read(move |c| stored::cached(c, job_id)).await? {
            if fresh(&log, now) {
                return Ok(JobLog::cached(job, log));
            }
        }
        let log = match self.fetch(client, &job, now).await {
            Ok(log) => log,
            Err(detail) => {
                return Ok(JobLog {
                    detail: Some(detail),
                    ..JobLog::without_fetch(job, State::Failed)
                })
            }
        };
        let row = log.clone();
        let (before, max_bytes) = (now - self.limits.max_age_s, self.limits.cache_bytes);
        let stored = ingest.write(move |c| {
            stored::store(c, &row)?;
            stored::prune(c, before, max_bytes)
        });
        if let Err(err) = stored.await {
            warn!(job_id, cause = %err, "could not cache a job log");
        }
        Ok(JobLog::cached(job, log))
    }

    /// GitHub's answer for `job`'s log, as a row to cache; `Err` (with what to tell) when
    /// GitHub could not be asked.
    async fn fetch(&self, client: &Client, job: &LogJob, now: i64) -> Result<CachedLog, String> {
        let url = client.url(
            &client::repo_path(
                &job.repo,
                &["actions", "jobs", &job.job_id.to_string(), "logs"],
            ),
            &[],
        );
        let answer = tokio::time::timeout(self.limits.timeout, client.get_tail(&url, self.limits.read))
            .await
            .map_err(|_| {
                "GitHub did not answer in time (the board may be waiting for GitHub's rate limit to reset); try again in a minute.".to_owned()
            })?;
        let (status, kept) = match answer {
            Ok(page) => {
                let kept = keep::keep(&String::from_utf8_lossy(&page.body), page.skipped);
                (200, kept)
            }
            Err(client::Error::NotFound { .. }) => (404, keep::Kept::default()),
            Err(client::Error::Forbidden { .. }) => (403, keep::Kept::default()),
            Err(client::Error::Status { status: 410, .. }) => (410, keep::Kept::default()),
            Err(err) => {
                info!(job_id = job.job_id, cause = %err, "job log not fetched");
                return Err(format!("The log could not be fetched: {err}"));
            }
        };
        debug!(
            job_id = job.job_id,
            status,
            bytes = kept.text.len(),
            "job log fetched"
        );
        Ok(CachedLog {
            job_id: job.job_id,
            fetched_time: now,
            status,
            truncated: kept.truncated,
            body: kept.text,
        })
    }
}
