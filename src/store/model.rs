//! Rows as the rest of the program sees them: what the API returns and WebSocket messages carry.
//! Field names are part of the public API: keep them stable.

use serde::{Deserialize, Serialize, Serializer};

use crate::run_state::{Conclusion, Status};

/// Serialises epoch seconds as RFC 3339 UTC (`2020-10-05T16:33:24Z`).
pub fn rfc3339<S: Serializer>(time: &Option<i64>, serializer: S) -> Result<S::Ok, S::Error> {
    match time.and_then(|secs| chrono::DateTime::from_timestamp(secs, 0)) {
        Some(time) => {
            serializer.serialize_str(&time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        }
        None => serializer.serialize_none(),
    }
}

/// One workflow run (its latest attempt): `GET /api/builds` and the `run` WebSocket message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    /// GitHub's run id.
    pub id: i64,
    /// "owner/name".
    pub repo: String,
    pub branch: Option<String>,
    /// The workflow's name (from `workflow.name`).
    pub workflow: String,
    pub workflow_id: i64,
    /// requested, queued, waiting, pending, in_progress or completed.
    pub status: Status,
    /// success, failure, cancelled, skipped, timed_out, action_required, neutral, stale,
    /// startup_failure (or a name GitHub added since); null until completed.
    pub conclusion: Option<Conclusion>,
    /// The head commit's hash.
    pub sha: String,
    /// First line of the head commit's message.
    pub message: Option<String>,
    /// Login of the person whose push or action started the run (`workflow_run.actor`).
    pub author: Option<String>,
    pub author_avatar: Option<String>,
    /// The run on GitHub.
    pub url: Option<String>,
    pub event: String,
    pub run_number: i64,
    pub run_attempt: i64,
    #[serde(serialize_with = "rfc3339")]
    pub created_at: Option<i64>,
    #[serde(serialize_with = "rfc3339")]
    pub started_at: Option<i64>,
    #[serde(serialize_with = "rfc3339")]
    pub completed_at: Option<i64>,
    /// Seconds from the attempt's start until it completed; null until completed.
    pub duration_s: Option<i64>,
    /// Seconds from the run's creation until its first job started (see the README).
    pub queue_s: Option<i64>,
    /// What reported it: `actions`, `check` (a GitHub App's check run) or `status` (a commit
    /// status); see `crate::source`.
    pub source: String,
    /// The check's app or the status's context; null for GitHub Actions.
    pub provider: Option<String>,
}

/// One job of a run: the `job` WebSocket message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: i64,
    pub run_id: i64,
    pub repo: String,
    /// The repository's id, for the server's own use; not in the feed.
    #[serde(skip_serializing)]
    pub repo_id: i64,
    pub run_attempt: i64,
    pub name: String,
    pub workflow: Option<String>,
    pub status: Status,
    pub conclusion: Option<Conclusion>,
    pub runner: Option<String>,
    pub url: Option<String>,
    #[serde(serialize_with = "rfc3339")]
    pub created_at: Option<i64>,
    #[serde(serialize_with = "rfc3339")]
    pub started_at: Option<i64>,
    #[serde(serialize_with = "rfc3339")]
    pub completed_at: Option<i64>,
}

impl Job {
    /// Finished red: a job whose log can say why it failed.
    pub fn failed(&self) -> bool {
        self.status.is_done() && crate::run_state::is_red(self.conclusion.as_ref())
    }
}

/// A commit: the `commit` WebSocket message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommitInfo {
    pub repo: String,
    pub sha: String,
    pub message: Option<String>,
    pub author: Option<String>,
    pub author_login: Option<String>,
    #[serde(serialize_with = "rfc3339")]
    pub committed_at: Option<i64>,
    pub url: Option<String>,
}

/// A branch created or deleted: the `branch` WebSocket message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BranchInfo {
    pub repo: String,
    pub name: String,
    pub deleted: bool,
}

/// Something a committed delivery changed, published once to every WebSocket client.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Change {
    Run {
        /// Sent as `build`, the name the feed has always used.
        #[serde(rename = "build")]
        run: Run,
    },
    Job {
        job: Job,
    },
    Commit {
        commit: CommitInfo,
    },
    Branch {
        branch: BranchInfo,
    },
}

impl Change {
    /// The repository ("owner/name") the change is about: the feed sends it only to readers of
    /// that repository.
    pub fn repo(&self) -> &str {
        match self {
            Self::Run { run } => &run.repo,
            Self::Job { job } => &job.repo,
            Self::Commit { commit } => &commit.repo,
            Self::Branch { branch } => &branch.repo,
        }
    }
}

/// The first line of a commit message, cut to `max` characters.
pub fn first_line(message: &str, max: usize) -> String {
    let line = message.lines().next().unwrap_or_default();
    match line.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &line[..end]),
        None => line.to_owned(),
    }
}

/// What a GitHub REST response said, kept with its ETag (`httpcache`) so that a later
/// `304 Not Modified` for the same URL can stand in for it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CachedPage {
    pub etag: String,
    /// The `Link` header's `rel="next"`.
    pub next: Option<String>,
    /// `total_count`, for list endpoints that report one.
    pub total: Option<i64>,
    /// Entries on the page.
    pub items: i64,
    /// The body itself, only for single objects (it is needed again on a 304).
    pub body: Option<String>,
}

/// One `created` date window of a repository's run history (`backfillwindows`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Window {
    /// Runs created at or after this, epoch seconds.
    pub start: i64,
    /// Runs created at or before this; `None` for the newest, open-ended window.
    pub end: Option<i64>,
    /// The page the current pass continues from; `None` for the first page.
    pub next: Option<String>,
    /// The current pass has fetched every page.
    pub done: bool,
}

/// What every listing of a job shows: [`JobSummary`] (the API) and the run page's
/// `runpage::JobDetail` both carry it, flattened, so their JSON keeps these fields at the top.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobCore {
    pub id: i64,
    pub name: String,
    pub status: Status,
    pub conclusion: Option<Conclusion>,
    pub runner: Option<String>,
    pub runner_group: Option<String>,
    pub url: Option<String>,
    #[serde(serialize_with = "rfc3339")]
    pub created_at: Option<i64>,
    #[serde(serialize_with = "rfc3339")]
    pub started_at: Option<i64>,
    #[serde(serialize_with = "rfc3339")]
    pub completed_at: Option<i64>,
}

/// A job as `GET /api/builds/<id>` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobSummary {
    #[serde(flatten)]
    pub job: JobCore,
    pub run_attempt: i64,
    /// The runner labels the job asked for: shown on the run page, not in this answer.
    #[serde(skip)]
    pub labels: Vec<String>,
    /// Seconds from the job's creation until it started.
    pub queue_s: Option<i64>,
    /// Seconds from the job's start until it completed.
    pub duration_s: Option<i64>,
}

/// A workflow (`GET /api/workflows`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowInfo {
    pub id: i64,
    pub repo: String,
    pub name: String,
    pub path: String,
    pub state: Option<String>,
    pub url: Option<String>,
}

/// A repository (`GET /api/repos`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepoInfo {
    /// GitHub's repository id; negative for a repository added through the API whose first
    /// delivery has not arrived yet.
    pub id: i64,
    pub repo: String,
    pub url: Option<String>,
    pub default_branch: Option<String>,
    pub monitored: bool,
    pub runs: i64,
    #[serde(serialize_with = "rfc3339")]
    pub last_run_at: Option<i64>,
}
