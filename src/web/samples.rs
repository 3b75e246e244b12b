//! Runner telemetry over HTTP: `POST /api/metrics` takes a batch of samples from the job that
//! sends them, authenticated by the job's own Actions OIDC token ([`crate::oidc`]), or, for jobs
//! that cannot get one, by its repository's telemetry secret (made by an admin at `/settings`)
//! with the job's id in [`JOB_HEADER`]: the secret ties the post to its repository, and the job
//! must be one of that repository's, running or recent, as with a token;
//! `GET /api/jobs/<id>/metrics` returns a job's samples. (`GET /api/metrics` is the API's
//! figures, in `web::api`.)
//!
//! Every refusal is a 4xx JSON error whose `code` says which, counted in
//! `buildboard_telemetry_refused_total{reason}`, and stores nothing: a wrong token, a job that
//! is not a running or recent job of a monitored repository, a batch over the bounds, a sample
//! that is not numbers, a timestamp far from now. Samples are written through the ingest writer,
//! behind deliveries, the posts of [`GATHER`] in one transaction, so they never hold deliveries
//! up for long.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{Map, Value};
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use super::error::json_error;
use super::{now, with_state, AppState, Error};
use crate::oidc::{JobClaims, Refusal as TokenRefusal};
use crate::scope::Viewer;
use crate::store::samples::{self, Sample};

/// The header naming the job a post made with a telemetry secret is for (the job's id, its check
/// run's id, as `${{ job.check_run_id }}` gives it).
pub const JOB_HEADER: &str = "x-buildboard-job";
/// How a telemetry secret starts (an OIDC token is a JWT, which never does).
const SECRET_PREFIX: &str = "bbt_";

/// Largest body accepted, bytes.
pub const MAX_BODY_BYTES: u64 = 256 * 1024;
/// Samples in one post, at most.
pub const MAX_BATCH: usize = 1000;
/// Samples kept per job: a 6-hour job sampled every second.
pub const MAX_SAMPLES_PER_JOB: i64 = 6 * 3600;
/// Posts per job per minute, at most.
pub const MAX_POSTS_PER_MINUTE: u32 = 30;
/// A job that completed longer ago than this takes no more samples (the sampler's `post` step
/// and its last batch arrive after the job's `completed` delivery).
pub const LATE_AFTER_END_S: i64 = 15 * 60;
/// A sample's time may be this far ahead of the server's clock.
pub const FUTURE_SKEW_S: i64 = 5 * 60;
/// Bytes of a sample's extra fields, at most.
const MAX_EXTRA_BYTES: usize = 1024;
/// The fields of the wire contract besides `t`.
const NUMERIC: &[&str] = &[
    "cpu_user",
    "cpu_system",
    "mem_used",
    "mem_total",
    "disk_read",
    "disk_write",
    "net_rx",
    "net_tx",
];

/// Why a post was refused, with its status.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error(transparent)]
    Token(#[from] TokenRefusal),
    #[error("not a telemetry secret of this board")]
    UnknownSecret,
    #[error("a post with a telemetry secret names its job in the X-Buildboard-Job header (the job's id)")]
    MissingJob,
    #[error("repository {0} is not monitored by this board")]
    Unmonitored(i64),
    #[error("job {0} is not known to this board (its workflow_job delivery has not arrived)")]
    UnknownJob(i64),
    #[error("the token's run, attempt or repository does not match job {0}")]
    JobMismatch(i64),
    #[error("job {0} completed too long ago to take samples")]
    JobFinished(i64),
    #[error("the body is not JSON of the form {{\"samples\": [...]}}: {0}")]
    InvalidJson(String),
    #[error("a batch holds at most {MAX_BATCH} samples")]
    TooManySamples,
    #[error("the job has its {MAX_SAMPLES_PER_JOB} samples already")]
    JobFull,
    #[error("at most {MAX_POSTS_PER_MINUTE} posts per job per minute")]
    TooManyPosts,
    #[error("sample {0}: {1} is not a finite non-negative number")]
    NonNumeric(usize, String),
    #[error("sample {0}: t is missing or not whole seconds")]
    BadTime(usize),
    #[error("sample {0}: t is far from now or before the job was created")]
    TimeOutOfRange(usize),
    #[error("sample {0}: its extra fields exceed {MAX_EXTRA_BYTES} bytes")]
    ExtraTooLarge(usize),
}

impl Refusal {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Refusal::Token(TokenRefusal::IssuerUnavailable(_)) => {
                (StatusCode::SERVICE_UNAVAILABLE, "issuer_unavailable")
            }
            Refusal::Token(t) => (StatusCode::UNAUTHORIZED, t.code()),
            Refusal::UnknownSecret => (StatusCode::UNAUTHORIZED, "unknown_secret"),
            Refusal::MissingJob => (StatusCode::BAD_REQUEST, "missing_job"),
            Refusal::Unmonitored(_) => (StatusCode::FORBIDDEN, "unmonitored_repository"),
            Refusal::UnknownJob(_) => (StatusCode::NOT_FOUND, "unknown_job"),
            Refusal::JobMismatch(_) => (StatusCode::FORBIDDEN, "job_mismatch"),
            Refusal::JobFinished(_) => (StatusCode::CONFLICT, "job_finished"),
            Refusal::InvalidJson(_) => (StatusCode::BAD_REQUEST, "invalid_json"),
            Refusal::TooManySamples => (StatusCode::PAYLOAD_TOO_LARGE, "too_many_samples"),
            Refusal::JobFull => (StatusCode::PAYLOAD_TOO_LARGE, "job_sample_limit"),
            Refusal::TooManyPosts => (StatusCode::TOO_MANY_REQUESTS, "too_many_posts"),
            Refusal::NonNumeric(..) => (StatusCode::BAD_REQUEST, "non_numeric"),
            Refusal::BadTime(_) => (StatusCode::BAD_REQUEST, "bad_timestamp"),
            Refusal::TimeOutOfRange(_) => (StatusCode::BAD_REQUEST, "timestamp_out_of_range"),
            Refusal::ExtraTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "sample_too_large"),
        }
    }
}

impl Reply for Refusal {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        crate::counters::TELEMETRY_REFUSED
            .with_label_values(&[code])
            .inc();
        tracing::info!(status = status.as_u16(), code, %self, "telemetry refused");
        json_error(status, code, &self.to_string())
    }
}

/// Posts per job in the current minute.
#[derive(Default)]
pub struct PostLimits(Mutex<HashMap<i64, (i64, u32)>>);

impl PostLimits {
    /// Counts a post of `job` at `now`; `false` when it is over the limit.
    fn admit(&self, job: i64, now: i64) -> bool {
        let minute = now / 60;
        let mut map = self.0.lock().expect("the limits are never poisoned");
        if map.len() > 100_000 {
            map.retain(|_, (m, _)| *m == minute);
        }
        let entry = map.entry(job).or_insert((minute, 0));
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        entry.1 += 1;
        entry.1 <= MAX_POSTS_PER_MINUTE
    }
}

/// How long a post's batch waits for other posts' to share one transaction.
pub const GATHER: std::time::Duration = std::time::Duration::from_millis(200);

/// Batches of samples accepted and not yet written. Posts share transactions: a transaction
/// per post (a commit, so an fsync, for each) cut the ingest writer's delivery groups short and
/// took 8 ms of its time each; 1,000 jobs posting every 15 s cost deliveries two thirds of their
/// throughput (`cargo bench --bench load -- --only telemetry`).
#[derive(Default)]
pub struct PendingSamples(Mutex<Vec<PendingBatch>>);

/// One post's batch, and where its outcome goes: the samples stored, or `None` when the job
/// has its [`MAX_SAMPLES_PER_JOB`] already.
struct PendingBatch {
    job_id: i64,
    samples: Vec<Sample>,
    reply: tokio::sync::oneshot::Sender<Option<usize>>,
}

/// Writes `batch` of job `job_id` with the other batches posted within [`GATHER`], in one
/// transaction through the ingest writer: `Some(outcome)` once committed, `None` when the
/// write failed (logged).
async fn write_batch(state: &AppState, job_id: i64, batch: Vec<Sample>) -> Option<Option<usize>> {
    let (reply, outcome) = tokio::sync::oneshot::channel();
    let first = {
        let mut pending = state.pending_samples.0.lock().expect("never poisoned");
        pending.push(PendingBatch {
            job_id,
            samples: batch,
            reply,
        });
        pending.len() == 1
    };
    if first {
        // The first batch of a gathering schedules its write; later ones ride along.
        let state = state.clone();
        tokio::spawn(async move {
            tokio::time::sleep(GATHER).await;
            let batches =
                std::mem::take(&mut *state.pending_samples.0.lock().expect("never poisoned"));
            flush(&state, batches).await;
        });
    }
    outcome.await.ok()
}

/// Writes `batches` in one transaction and tells each post its outcome; on an error every
/// post of the transaction gets none.
async fn flush(state: &AppState, batches: Vec<PendingBatch>) {
    let (replies, work): (Vec<_>, Vec<_>) = batches
        .into_iter()
        .map(|b| (b.reply, (b.job_id, b.samples)))
        .unzip();
    let written = state
        .ingest
        .write(move |conn| {
            let tx = conn.unchecked_transaction()?;
            let mut outcomes = Vec::with_capacity(work.len());
            for (job_id, batch) in &work {
                let full = samples::count(&tx, *job_id)? + batch.len() as i64 > MAX_SAMPLES_PER_JOB;
                outcomes.push(if full {
                    None
                } else {
                    Some(samples::insert(&tx, *job_id, batch)?)
                });
            }
            tx.commit()?;
            Ok(outcomes)
        })
        .await;
    match written {
        Ok(outcomes) => {
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                let _ = reply.send(outcome);
            }
        }
        Err(err) => tracing::error!(cause = %err, posts = replies.len(), "could not write samples"),
    }
}

/// `POST /api/metrics`: for runners, which name the board by `--public-url` (the token's
/// audience) whatever `Host` they send, and are authenticated by their tokens alone.
pub fn posts(state: AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    warp::path!("api" / "metrics")
        .and(warp::post())
        .and(warp::header::optional::<String>("authorization"))
        .and(warp::header::optional::<String>(JOB_HEADER))
        .and(warp::body::content_length_limit(MAX_BODY_BYTES))
        .and(warp::body::bytes())
        .and(with_state(state.clone()))
        .then(
            |auth: Option<String>, job: Option<String>, body: bytes::Bytes, state: AppState| async move {
                match post_samples(auth, job, &body, &state).await {
                    Ok(reply) => reply,
                    Err(PostError::Refused(refusal)) => refusal.into_response(),
                    Err(PostError::Server(err)) => err.into_response(),
                }
            },
        )
}

/// `GET /api/jobs/<id>/metrics`, for readers of the board.
pub fn reads(state: AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    warp::path!("api" / "jobs" / i64 / "metrics")
        .and(warp::get())
        .and(state.limits.reads.filter())
        .and(super::access::with_viewer(state.access.clone()))
        .and(with_state(state))
        .then(|job: i64, viewer: Viewer, state: AppState| async move {
            let found = state
                .store
                .read(move |conn| Ok((job_repo(conn, job)?, samples::for_job(conn, job)?)))
                .await;
            match found {
                // A job of a repository the reader may not read answers as one with no samples.
                Ok((repo, list)) => {
                    let list = if repo.is_some_and(|repo| viewer.may_read(&repo)) {
                        list
                    } else {
                        Vec::new()
                    };
                    warp::reply::json(&serde_json::json!({ "job": job, "samples": list }))
                        .into_response()
                }
                Err(err) => Error::from(err).into_response(),
            }
        })
}

/// The repository ("owner/name") of job `job`, if it is stored.
fn job_repo(conn: &rusqlite::Connection, job: i64) -> crate::store::Result<Option<String>> {
    use rusqlite::OptionalExtension;
    Ok(conn
        .prepare_cached(
            "SELECT r.fullname FROM workflowjobs j JOIN repos r ON r.id = j.repo_id WHERE j.id = ?1",
        )?
        .query_row([job], |row| row.get(0))
        .optional()?)
}

/// A refusal, or a server error (500/503).
enum PostError {
    Refused(Refusal),
    Server(Error),
}

impl From<Refusal> for PostError {
    fn from(refusal: Refusal) -> Self {
        Self::Refused(refusal)
    }
}

impl From<crate::store::Error> for PostError {
    fn from(err: crate::store::Error) -> Self {
        Self::Server(err.into())
    }
}

async fn post_samples(
    auth: Option<String>,
    job: Option<String>,
    body: &[u8],
    state: &AppState,
) -> Result<Response, PostError> {
    let token = auth
        .as_deref()
        .and_then(|h| h.strip_prefix("Bearer "))
        .ok_or(Refusal::Token(TokenRefusal::Missing))?
        .trim();
    let claims = if token.starts_with(SECRET_PREFIX) {
        secret_claims(state, token, job.as_deref()).await?
    } else {
        state.oidc.verify(token).await.map_err(Refusal::Token)?
    };
    let now = now();
    let job = check_job(state, &claims, now).await?;
    let batch = parse_batch(body, job.created.unwrap_or(now) - FUTURE_SKEW_S, now)?;
    if !state.post_limits.admit(claims.job_id, now) {
        return Err(Refusal::TooManyPosts.into());
    }
    let job_id = claims.job_id;
    let stored = write_batch(state, job_id, batch)
        .await
        .ok_or_else(|| {
            PostError::Server(Error::Internal(anyhow::anyhow!(
                "the samples could not be written (see the log)"
            )))
        })?
        .ok_or(Refusal::JobFull)?;
    crate::counters::TELEMETRY_SAMPLES.inc_by(stored as u64);
    let body = serde_json::json!({ "job": job_id, "stored": stored });
    Ok(warp::reply::with_status(warp::reply::json(&body), StatusCode::ACCEPTED).into_response())
}

/// What a telemetry secret vouches for: its repository, and the job the header names if it is
/// one of that repository's (its run and attempt are the stored job's); [`check_job`] then judges
/// the job as it judges a token's.
async fn secret_claims(
    state: &AppState,
    secret: &str,
    job: Option<&str>,
) -> Result<JobClaims, PostError> {
    let hash = super::settings::secret_hash(secret);
    let repo = state
        .store
        .read(move |conn| crate::store::settings::telemetry_secret_repo(conn, &hash))
        .await?;
    let Some((repository_id, _)) = repo else {
        return Err(Refusal::UnknownSecret.into());
    };
    let job_id: i64 = job
        .and_then(|id| id.trim().parse().ok())
        .ok_or(Refusal::MissingJob)?;
    let stored = state
        .store
        .read(move |conn| samples::job_state(conn, job_id))
        .await?;
    let Some(stored) = stored else {
        return Err(Refusal::UnknownJob(job_id).into());
    };
    if stored.repo_id != repository_id {
        return Err(Refusal::JobMismatch(job_id).into());
    }
    Ok(JobClaims {
        repository_id,
        run_id: stored.run_id,
        run_attempt: stored.run_attempt,
        job_id,
    })
}

/// The stored job the claims name, if samples may be tied to it now.
async fn check_job(
    state: &AppState,
    claims: &JobClaims,
    now: i64,
) -> Result<samples::JobState, PostError> {
    let job_id = claims.job_id;
    let job = state
        .store
        .read(move |conn| samples::job_state(conn, job_id))
        .await
        .map_err(PostError::from)?;
    let Some(job) = job else {
        // An unknown repository says so first: its jobs are never known.
        let repo = claims.repository_id;
        let monitored = state
            .store
            .read(
                move |conn| Ok(crate::store::read::repo(conn, repo)?.is_some_and(|r| r.monitored)),
            )
            .await
            .map_err(PostError::from)?;
        return Err(if monitored {
            Refusal::UnknownJob(job_id)
        } else {
            Refusal::Unmonitored(claims.repository_id)
        }
        .into());
    };
    if job.repo_id != claims.repository_id {
        return Err(Refusal::JobMismatch(job_id).into());
    }
    if !job.monitored {
        return Err(Refusal::Unmonitored(claims.repository_id).into());
    }
    if job.run_id != claims.run_id || job.run_attempt != claims.run_attempt {
        return Err(Refusal::JobMismatch(job_id).into());
    }
    if !job.running() && job.ended.is_none_or(|end| now - end > LATE_AFTER_END_S) {
        return Err(Refusal::JobFinished(job_id).into());
    }
    Ok(job)
}

/// The batch in `body`, every sample checked: whole-second `t` between `earliest` and a little
/// after `now`, the contract's fields finite non-negative numbers, extra fields bounded.
fn parse_batch(body: &[u8], earliest: i64, now: i64) -> Result<Vec<Sample>, Refusal> {
    #[derive(serde::Deserialize)]
    struct Batch {
        samples: Vec<Map<String, Value>>,
    }
    let batch: Batch =
        serde_json::from_slice(body).map_err(|err| Refusal::InvalidJson(err.to_string()))?;
    if batch.samples.len() > MAX_BATCH {
        return Err(Refusal::TooManySamples);
    }
    batch
        .samples
        .into_iter()
        .enumerate()
        .map(|(i, fields)| parse_sample(i, fields, earliest, now))
        .collect()
}

fn parse_sample(
    i: usize,
    mut fields: Map<String, Value>,
    earliest: i64,
    now: i64,
) -> Result<Sample, Refusal> {
    let t = fields
        .remove("t")
        .and_then(|v| v.as_i64())
        .ok_or(Refusal::BadTime(i))?;
    if t < earliest || t > now + FUTURE_SKEW_S {
        return Err(Refusal::TimeOutOfRange(i));
    }
    let mut numbers = [None; 8];
    for (slot, name) in numbers.iter_mut().zip(NUMERIC) {
        *slot = match fields.remove(*name) {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => match n.as_f64() {
                Some(x) if (0.0..9.0e15).contains(&x) => Some(x),
                _ => return Err(Refusal::NonNumeric(i, (*name).to_owned())),
            },
            Some(_) => return Err(Refusal::NonNumeric(i, (*name).to_owned())),
        };
    }
    if serde_json::to_string(&fields).map_or(0, |s| s.len()) > MAX_EXTRA_BYTES {
        return Err(Refusal::ExtraTooLarge(i));
    }
    let whole = |x: Option<f64>| x.map(|v| v.round() as i64);
    Ok(Sample {
        t,
        cpu_user: numbers[0],
        cpu_system: numbers[1],
        mem_used: whole(numbers[2]),
        mem_total: whole(numbers[3]),
        disk_read: whole(numbers[4]),
        disk_write: whole(numbers[5]),
        net_rx: whole(numbers[6]),
        net_tx: whole(numbers[7]),
        extra: fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_must_be_numbers_at_sane_times() {
        let ok = br#"{"samples": [{"t": 1000, "cpu_user": 12.5, "mem_used": 5, "gpu": 3}]}"#;
        let batch = parse_batch(ok, 900, 1000).unwrap();
        assert_eq!(batch[0].cpu_user, Some(12.5));
        assert_eq!(batch[0].extra["gpu"], 3);
        let code = |body: &[u8]| {
            parse_batch(body, 900, 1000)
                .unwrap_err()
                .status_and_code()
                .1
        };
        assert_eq!(
            code(br#"{"samples": [{"t": 1000, "cpu_user": "high"}]}"#),
            "non_numeric"
        );
        assert_eq!(
            code(br#"{"samples": [{"t": 1000, "mem_used": -1}]}"#),
            "non_numeric"
        );
        assert_eq!(
            code(br#"{"samples": [{"t": 1000, "cpu_user": NaN}]}"#),
            "invalid_json"
        );
        assert_eq!(code(br#"{"samples": [{"t": "now"}]}"#), "bad_timestamp");
        assert_eq!(
            code(br#"{"samples": [{"t": 10}]}"#),
            "timestamp_out_of_range"
        );
        assert_eq!(
            code(br#"{"samples": [{"t": 99999}]}"#),
            "timestamp_out_of_range"
        );
        assert_eq!(code(br#"{"metrics": []}"#), "invalid_json");
    }

    #[test]
    fn posts_per_job_are_limited_per_minute() {
        let limits = PostLimits::default();
        for _ in 0..MAX_POSTS_PER_MINUTE {
            assert!(limits.admit(1, 600));
        }
        assert!(!limits.admit(1, 610));
        assert!(limits.admit(2, 610), "another job has its own budget");
        assert!(limits.admit(1, 660), "a new minute");
    }
}
