//! Why a failed job failed, fetched from GitHub in the background: its log (and, when the log
//! says nothing, its check run's annotations), read by [`crate::failure::extract`], handed to a
//! [`FailureSink`].
//!
//! **Never blocking ingest.** [`LogFetcher::enqueue`] is a `try_send` on a bounded queue
//! ([`FetchConfig::queue`]): when the queue is full the job is dropped and counted
//! ([`FetchStats::dropped`]), never waited for. One worker task takes jobs one at a time through
//! the shared GitHub [`Client`], whose gate serialises requests with the reconciler and
//! operators' actions and waits out rate limits.
//!
//! **Per job.** `GET /repos/{o}/{r}/actions/jobs/{job_id}/logs` answers `302` to a short-lived URL
//! on another host; the client follows it without the token and keeps the last
//! [`FetchConfig::tail`] bytes ([`Client::get_tail`]). Then:
//! - `200`: [`failure::extract`]; when no rule matches, a `failure` annotation stands in.
//! - `404`: the log is not ready yet (it appears shortly after the job completes): retried after
//!   [`FetchConfig::retry_after`], up to [`FetchConfig::attempts`] times, then recorded as
//!   [`LogError::NotReady`].
//! - `403`: the token cannot read Actions: recorded as "log not available" ([`LogError::NoAccess`]).
//! - `410`: the log has expired (retention): recorded as "log expired" ([`LogError::Expired`]).
//!
//! When the log cannot be read, the annotations (`GET /repos/{o}/{r}/check-runs/{job_id}/annotations`,
//! which need Checks rather than Actions permission) are tried, and their first `failure`
//! annotation kept with the error. Annotations are only fetched when needed, to spare the rate limit.
//!
//! **Wiring** (left to the server; see `App::build`/`App::run`):
//! ```ignore
//! // App::build, with a GitHub token: one client for the reconciler and the fetcher.
//! let client = Arc::new(Client::new(ClientConfig::new(api_url, Some(token)))?);
//! // App::run: the sink is the ingest writer; stop it with the hub's shutdown token.
//! let (fetcher, fetching) = LogFetcher::spawn(
//!     client, state.ingest.clone(), FetchConfig::default(), token.clone());
//! // After a job that failed (`Job::failed`) is committed (`wiring::Explainer`):
//! fetcher.enqueue(FailedJob::from(&job));
//! // Shutdown: the fetcher holds an `Ingest` clone, so await it before the writer drains.
//! fetching.await?;
//! ```
//! Triage and the API read the rows with [`crate::store::failures`].

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::failure::{self, Failure};
use crate::github::client::{self, Client, Fetched, TailLimits};
use crate::store::failures::{self as stored, JobFailureRow};
use crate::store::model::Job;
use crate::store::Store;

/// A failed job to explain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedJob {
    /// `owner/name`.
    pub repo: String,
    pub repo_id: i64,
    pub run_id: i64,
    /// GitHub's job id, which is also its check run's id.
    pub job_id: i64,
}

impl From<stored::Unexplained> for FailedJob {
    fn from(job: stored::Unexplained) -> Self {
        Self {
            repo: job.repo,
            repo_id: job.repo_id,
            run_id: job.run_id,
            job_id: job.job_id,
        }
    }
}

impl From<&Job> for FailedJob {
    fn from(job: &Job) -> Self {
        Self {
            repo: job.repo.clone(),
            repo_id: job.repo_id,
            run_id: job.run_id,
            job_id: job.id,
        }
    }
}

/// Why a job's log could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// `404` on every attempt: the log never became available.
    #[error("log not ready")]
    NotReady,
    /// `403`: the token may not read the repository's Actions logs.
    #[error("log not available")]
    NoAccess,
    /// `410`: the log is past its retention.
    #[error("log expired")]
    Expired,
    /// Anything else (network, `5xx` after retries, `401`): the client's message.
    #[error("log not fetched: {0}")]
    Failed(String),
}

impl LogError {
    fn from_client(err: client::Error) -> Self {
        match err {
            client::Error::NotFound { .. } => LogError::NotReady,
            client::Error::Forbidden { .. } => LogError::NoAccess,
            client::Error::Status { status: 410, .. } => LogError::Expired,
            other => LogError::Failed(other.to_string()),
        }
    }
}

/// What the fetcher found out about one failed job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFailure {
    pub job: FailedJob,
    /// What the log or, failing that, an annotation says; `None` when neither explains it.
    pub failure: Option<Failure>,
    /// Why the log could not be read, if it could not.
    pub error: Option<LogError>,
    /// Epoch seconds.
    pub fetched_time: i64,
}

impl JobFailure {
    /// The row [`crate::store::failures::record`] stores.
    pub fn to_row(&self) -> JobFailureRow {
        JobFailureRow {
            job_id: self.job.job_id,
            run_id: self.job.run_id,
            repo_id: self.job.repo_id,
            rule: self.failure.as_ref().map(|f| f.rule.as_str().to_owned()),
            signature: self.failure.as_ref().map(|f| f.signature.clone()),
            excerpt: self.failure.as_ref().map(|f| f.excerpt.clone()),
            fetched_time: self.fetched_time,
            error: self.error.as_ref().map(ToString::to_string),
        }
    }
}

/// Where the fetcher hands each [`JobFailure`]. The server's sink is its ingest writer, which
/// stores them in `jobfailures` (`impl FailureSink for Ingest`, in `crate::ingest`).
pub trait FailureSink: Send + 'static {
    /// Takes one result. Errors are the sink's to log: the fetcher goes on with the next job.
    fn record(&mut self, failure: JobFailure) -> impl Future<Output = ()> + Send;
}

/// A channel is a sink: for tests, or for a consumer that wants the results as they come.
impl FailureSink for mpsc::Sender<JobFailure> {
    async fn record(&mut self, failure: JobFailure) {
        if self.send(failure).await.is_err() {
            debug!("the job failure receiver is gone");
        }
    }
}

/// Fetcher settings.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// Jobs waiting to be fetched; past this, [`LogFetcher::enqueue`] drops them.
    pub queue: usize,
    /// How much of a log is read and kept (its end).
    pub tail: TailLimits,
    /// Wait before asking again for a log that answered `404`.
    pub retry_after: Duration,
    /// Tries per job for a log that answers `404`, the first included.
    pub attempts: u32,
}

impl Default for FetchConfig {
    fn default() -> Self {
        Self {
            queue: 256,
            tail: TailLimits {
                keep: failure::MAX_SCAN_BYTES,
                max_read: 64 * 1024 * 1024,
            },
            retry_after: Duration::from_secs(30),
            attempts: 4,
        }
    }
}

/// Counters, for metrics and tests.
#[derive(Debug, Default)]
pub struct FetchStats {
    /// Jobs dropped because the queue (or the retry list) was full.
    pub dropped: AtomicU64,
    /// Jobs handed to the sink.
    pub recorded: AtomicU64,
    /// `404`s answered with a later retry.
    pub retried: AtomicU64,
}

/// The handle ingest uses: cheap to clone.
#[derive(Clone)]
pub struct LogFetcher {
    queue: mpsc::Sender<FailedJob>,
    stats: Arc<FetchStats>,
}

impl LogFetcher {
    /// Starts the worker. It runs until `shutdown` is cancelled or every handle is dropped (and
    /// no retry is pending); the returned task ends then.
    pub fn spawn<S: FailureSink>(
        client: Arc<Client>,
        sink: S,
        config: FetchConfig,
        shutdown: CancellationToken,
    ) -> (Self, JoinHandle<()>) {
        let (queue, jobs) = mpsc::channel(config.queue.max(1));
        let stats = Arc::new(FetchStats::default());
        let worker = Worker {
            client,
            sink,
            config,
            stats: stats.clone(),
        };
        let task = tokio::spawn(worker.run(jobs, shutdown));
        (Self { queue, stats }, task)
    }

    /// Queues `job` without waiting; returns `false` (and counts it) when the queue is full or
    /// the worker has stopped.
    pub fn enqueue(&self, job: FailedJob) -> bool {
        match self.queue.try_send(job) {
            Ok(()) => true,
            Err(err) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                let job = err.into_inner();
                debug!(
                    job_id = job.job_id,
                    "the log fetch queue is full: job dropped"
                );
                false
            }
        }
    }

    /// The counters.
    pub fn stats(&self) -> &FetchStats {
        &self.stats
    }

    /// Queues again the failed jobs among the newest `scan` that have no stored explanation
    /// (what a restart, or a server without a token, left behind: the queue lives in memory), at
    /// most a queue's worth, newest first. Returns how many were queued.
    pub async fn catch_up(&self, store: &Store, scan: u32) -> usize {
        let limit = u32::try_from(self.queue.max_capacity()).unwrap_or(u32::MAX);
        match store
            .read(move |conn| stored::unexplained(conn, scan, limit))
            .await
        {
            Ok(jobs) => {
                let mut queued = 0;
                for job in jobs {
                    queued += usize::from(self.enqueue(job.into()));
                }
                if queued > 0 {
                    info!(
                        jobs = queued,
                        "explaining failed jobs left from before the restart"
                    );
                }
                queued
            }
            Err(err) => {
                warn!(cause = %err, "could not read unexplained failed jobs");
                0
            }
        }
    }
}

struct Worker<S> {
    client: Arc<Client>,
    sink: S,
    config: FetchConfig,
    stats: Arc<FetchStats>,
}

/// A job and how many times its log has been asked for.
struct Attempt {
    job: FailedJob,
    tries: u32,
}

impl<S: FailureSink> Worker<S> {
    async fn run(mut self, mut jobs: mpsc::Receiver<FailedJob>, shutdown: CancellationToken) {
        // Logs that answered 404, due in order (the wait is the same for all).
        let mut retries: VecDeque<(Instant, Attempt)> = VecDeque::new();
        let mut open = true;
        loop {
            let due = retries.front().map(|(due, _)| *due);
            let attempt = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                () = sleep_until(due) => retries.pop_front().map(|(_, a)| a),
                job = jobs.recv(), if open => match job {
                    Some(job) => Some(Attempt { job, tries: 0 }),
                    None => {
                        open = false;
                        None
                    }
                },
            };
            let Some(attempt) = attempt else {
                if !open && retries.is_empty() {
                    break;
                }
                continue;
            };
            let retry = tokio::select! {
                () = shutdown.cancelled() => break,
                retry = self.process(attempt) => retry,
            };
            if let Some(attempt) = retry {
                if retries.len() >= self.config.queue {
                    self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                } else {
                    self.stats.retried.fetch_add(1, Ordering::Relaxed);
                    retries.push_back((Instant::now() + self.config.retry_after, attempt));
                }
            }
        }
        debug!("log fetching stopped");
    }

    /// Fetches and records one job; returns it when its log is not ready and it may be retried.
    async fn process(&mut self, mut attempt: Attempt) -> Option<Attempt> {
        attempt.tries += 1;
        let job = &attempt.job;
        let (mut failure, error) = match fetch_log(&self.client, job, self.config.tail).await {
            Ok(log) => (failure::extract(&log), None),
            Err(LogError::NotReady) if attempt.tries < self.config.attempts => {
                debug!(
                    job_id = job.job_id,
                    tries = attempt.tries,
                    "job log not ready yet"
                );
                return Some(attempt);
            }
            Err(err) => (None, Some(err)),
        };
        if failure.is_none() {
            failure = first_failure_annotation(&self.client, job).await;
        }
        match (&failure, &error) {
            (_, Some(err)) => info!(job_id = job.job_id, cause = %err, "job log not read"),
            (Some(found), None) => {
                debug!(job_id = job.job_id, rule = %found.rule, signature = %found.signature, "job failure explained")
            }
            (None, None) => debug!(job_id = job.job_id, "no rule explains the job's failure"),
        }
        let result = JobFailure {
            job: attempt.job,
            failure,
            error,
            fetched_time: chrono::Utc::now().timestamp(),
        };
        self.sink.record(result).await;
        self.stats.recorded.fetch_add(1, Ordering::Relaxed);
        None
    }
}

/// The end of the job's log, as text.
async fn fetch_log(client: &Client, job: &FailedJob, tail: TailLimits) -> Result<String, LogError> {
    let url = client.url(
        &client::repo_path(
            &job.repo,
            &["actions", "jobs", &job.job_id.to_string(), "logs"],
        ),
        &[],
    );
    let page = client
        .get_tail(&url, tail)
        .await
        .map_err(LogError::from_client)?;
    Ok(String::from_utf8_lossy(&page.body).into_owned())
}

/// The first `failure` annotation of the job's check run that explains something. Errors
/// are only logged: this is a fallback.
async fn first_failure_annotation(client: &Client, job: &FailedJob) -> Option<Failure> {
    let url = client.url(
        &client::repo_path(
            &job.repo,
            &["check-runs", &job.job_id.to_string(), "annotations"],
        ),
        &[],
    );
    let page = match client.get(&url, None).await {
        Ok(Fetched::Fresh(page)) => page,
        Ok(Fetched::NotModified) => return None,
        Err(err) => {
            debug!(job_id = job.job_id, cause = %err, "no annotations");
            return None;
        }
    };
    let annotations: Vec<Annotation> = match Client::decode(&url, &page.body) {
        Ok(annotations) => annotations,
        Err(err) => {
            warn!(job_id = job.job_id, cause = %err, "unreadable annotations");
            return None;
        }
    };
    annotations
        .iter()
        .filter(|a| a.annotation_level.as_deref() == Some("failure"))
        .find_map(|a| {
            failure::from_annotation(
                a.path.as_deref().unwrap_or(""),
                a.title.as_deref(),
                a.message.as_deref().unwrap_or(""),
            )
        })
}

/// A check-run annotation, as `GET .../check-runs/{id}/annotations` lists them.
#[derive(Debug, Deserialize)]
struct Annotation {
    path: Option<String>,
    annotation_level: Option<String>,
    title: Option<String>,
    message: Option<String>,
}

/// Sleeps until `due`, or forever without one.
async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}
