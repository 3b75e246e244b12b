//! Where the runs on the board come from, and how a new source plugs in.
//!
//! The board sees every run the same way: a repository, a *pipeline* (a GitHub Actions workflow, a
//! check of some app, a status context), a branch, a commit, an attempt, a [`Status`] and
//! [`Conclusion`] from [`crate::run_state`], times and a link. Sources:
//!
//! | [`Source`] | fed by | one run is | pipeline |
//! |---|---|---|---|
//! | `actions` | `workflow_run`/`workflow_job` deliveries, `init_db` backfill, reconciliation | one workflow run (its latest attempt) | the workflow |
//! | `check` | `check_run` deliveries and reconciliation, except GitHub Actions' own check runs (they are its jobs) | one check (app + name) on one commit; a new check run or a re-request is a new attempt | "App · check name" |
//! | `status` | `status` deliveries and reconciliation | one context on one commit; `pending` after a result is a new attempt | the context |
//!
//! **Plugging in a source.** A source turns what it receives into a [`Report`] and hands it to
//! `store::write::apply_report` (deliveries go through the ingest writer like every other event).
//! The core then applies the same rules to every source:
//! - *identity*: the pipeline is keyed by (repository, [`Report::key`]), the run by (pipeline,
//!   commit); their row ids are derived from those keys, so a redelivery or a poll of the same
//!   report hits the same rows;
//! - *order*: an update replaces what is stored only if it is not older by (attempt, status rank,
//!   update time): a late `queued` never regresses a `completed`;
//! - *states*: only the domain's [`Status`] and [`Conclusion`]; the source maps its own words onto
//!   them (a commit status's `error` is a `failure`);
//! - *branches*: a report names its branch when it knows it; otherwise the branch of the commit's
//!   known runs is used.
//!
//! Everything downstream (Wall, Waterfall, Triage, Developer, the feed, the API, metrics, cc.xml,
//! notifications) reads runs from the store and needs nothing from the source.
//!
//! A GitLab pipeline or a Buildkite build webhook would need: a signature check for its webhook, a
//! parser for its payload (into a [`Report`], with its repository mapped onto a `repos` row), and a
//! [`Source`] variant. GitHub Actions keeps its own richer path (`store::write::upsert_run`: run
//! numbers, events, actors, jobs and steps) and predates this boundary.

use crate::github::event::{CheckRunEvent, Repository, StatusEvent};
use crate::run_state::{Conclusion, Status};

/// The app slug of GitHub Actions, whose check runs are the jobs buildboard already has.
pub const ACTIONS_APP_SLUG: &str = "github-actions";

/// What reported a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// GitHub Actions workflow runs.
    Actions,
    /// Check runs of GitHub Apps (CircleCI, Buildkite, linters, ...).
    Check,
    /// Commit statuses set with a token (Jenkins, Travis, ...).
    Status,
}

impl Source {
    /// The name stored and shown in the API's `source` field.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Actions => "actions",
            Self::Check => "check",
            Self::Status => "status",
        }
    }
}

/// One run as a source other than GitHub Actions reports it.
#[derive(Debug, Clone)]
pub struct Report {
    pub source: Source,
    pub repository: Repository,
    /// The app or context that reported it ("CircleCI", "ci/jenkins").
    pub provider: String,
    /// The pipeline's name on the board ("CircleCI · build-and-test").
    pub pipeline: String,
    /// The pipeline's identity within the repository ("check:12345:build-and-test").
    pub key: String,
    /// The branch, when the report says.
    pub branch: Option<String>,
    pub sha: String,
    /// The source's own id for this attempt (a check run id), if it has one.
    pub attempt_id: Option<i64>,
    /// A re-run was asked for: the next state starts a new attempt.
    pub rerequested: bool,
    pub status: Status,
    pub conclusion: Option<Conclusion>,
    pub started: Option<i64>,
    pub completed: Option<i64>,
    /// When the source last changed it: orders updates.
    pub updated: i64,
    pub url: Option<String>,
}

/// The [`Report`] of a `check_run` delivery; `None` for GitHub Actions' own check runs.
pub fn from_check_run(event: &CheckRunEvent) -> Option<Report> {
    let check = &event.check_run;
    if check.app.slug.as_deref() == Some(ACTIONS_APP_SLUG) {
        return None;
    }
    let started = check.started_at.map(|t| t.0);
    let completed = check.completed_at.map(|t| t.0);
    let rerequested = event.action == "rerequested";
    let (status, conclusion) = if rerequested {
        (Status::Queued, None)
    } else {
        let conclusion = check.conclusion.clone();
        (check.status, conclusion.filter(|_| check.status.is_done()))
    };
    Some(Report {
        source: Source::Check,
        repository: event.repository.clone(),
        provider: check.app.name.clone(),
        pipeline: format!("{} · {}", check.app.name, check.name),
        key: format!("check:{}:{}", check.app.id, check.name),
        branch: check
            .check_suite
            .as_ref()
            .and_then(|suite| suite.head_branch.clone()),
        sha: check.head_sha.to_ascii_lowercase(),
        attempt_id: Some(check.id),
        rerequested,
        status,
        conclusion,
        started,
        completed: completed.filter(|_| status.is_done()),
        updated: completed.or(started).unwrap_or_default(),
        url: check.html_url.clone().or_else(|| check.details_url.clone()),
    })
}

/// The [`Report`] of a `status` delivery. Its branch is the first of the delivery's `branches`
/// whose head is the status's commit, the repository's default branch first; `None` when no
/// listed branch has it at its head (the store then uses the commit's known runs' branch).
pub fn from_status(event: &StatusEvent) -> Report {
    let (status, conclusion) = match event.state.as_str() {
        "success" => (Status::Completed, Some(Conclusion::Success)),
        "failure" | "error" => (Status::Completed, Some(Conclusion::Failure)),
        // `pending`, and anything newer GitHub may add: still going.
        _ => (Status::InProgress, None),
    };
    let sha = event.sha.to_ascii_lowercase();
    let default = event.repository.default_branch.as_deref();
    let mut heads: Vec<&str> = event
        .branches
        .iter()
        .filter(|branch| branch.commit.sha.eq_ignore_ascii_case(&sha))
        .map(|branch| branch.name.as_str())
        .collect();
    heads.sort_by_key(|name| Some(*name) != default);
    let updated = event.updated_at.or(event.created_at).map_or(0, |t| t.0);
    let url = event
        .target_url
        .clone()
        .filter(|url| url.starts_with("https://") || url.starts_with("http://"));
    Report {
        source: Source::Status,
        repository: event.repository.clone(),
        provider: event.context.clone(),
        pipeline: event.context.clone(),
        key: format!("status:{}", event.context),
        branch: heads.first().map(|name| (*name).to_owned()),
        sha,
        attempt_id: None,
        rerequested: false,
        status,
        conclusion,
        started: event.created_at.map(|t| t.0),
        completed: status.is_done().then_some(updated),
        updated,
        url,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_event(state: &str, branches: serde_json::Value) -> StatusEvent {
        serde_json::from_value(serde_json::json!({
            "id": 1, "sha": "ABC1234", "context": "ci/jenkins: pr-merge", "state": state,
            "target_url": "javascript:alert(1)", "branches": branches,
            "updated_at": "2026-11-29T10:00:00Z",
            "repository": {"id": 1, "full_name": "o/r", "default_branch": "main"}
        }))
        .unwrap()
    }

    #[test]
    fn a_status_maps_onto_the_domain_and_its_branch_is_the_one_it_heads() {
        let branches = serde_json::json!([
            {"name": "feature", "commit": {"sha": "abc1234"}},
            {"name": "main", "commit": {"sha": "abc1234"}},
            {"name": "old", "commit": {"sha": "fff0000"}}
        ]);
        let report = from_status(&status_event("error", branches));
        assert_eq!(report.conclusion, Some(Conclusion::Failure));
        assert_eq!(
            report.branch.as_deref(),
            Some("main"),
            "the default branch first"
        );
        assert_eq!(report.sha, "abc1234");
        assert_eq!(report.url, None, "only http(s) links");
        let pending = from_status(&status_event("pending", serde_json::json!([])));
        assert_eq!((pending.status, pending.branch), (Status::InProgress, None));
    }
}
