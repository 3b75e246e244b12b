//! Webhook bodies shaped like GitHub's: the fixtures under `tests/fixtures/github/webhooks` are the
//! templates (field names, nesting, timestamp formats, `started_at` set on queued jobs, steps empty
//! until a job starts), trimmed of the API URLs nothing reads.

use std::sync::Arc;

use serde_json::{json, Value};

use super::org::{Organisation, Person, Repository, Runner, Workflow};
use crate::run_state::{Conclusion, Status};

/// The parts of payloads that never change (people, the organisation, repositories, workflows),
/// built once and cloned into each body.
#[derive(Debug)]
pub struct Parts {
    pub org: Arc<Organisation>,
    users: Vec<Value>,
    organization: Value,
    /// Per repository: the top-level `repository` without its times, the short one, and each
    /// workflow's `workflow` object.
    repos: Vec<(Value, Value, Vec<Value>)>,
}

impl Parts {
    pub fn new(org: Arc<Organisation>) -> Self {
        Self {
            users: org.people.iter().map(user).collect(),
            organization: organization(&org),
            repos: org
                .repos
                .iter()
                .map(|repo| {
                    (
                        repository(&org, repo),
                        short_repository(&org, repo),
                        repo.workflows
                            .iter()
                            .map(|w| workflow_object(repo, w))
                            .collect(),
                    )
                })
                .collect(),
            org,
        }
    }

    fn user(&self, person: usize) -> Value {
        self.users[person].clone()
    }

    /// The top-level `repository`. Push payloads carry `created_at` and `pushed_at` as epoch
    /// seconds, the others as text, as GitHub does.
    fn repository(&self, r: usize, pushed_at: i64, push: bool) -> Value {
        let repo = &self.org.repos[r];
        let mut value = self.repos[r].0.clone();
        if push {
            value["created_at"] = json!(repo.created_at);
            value["pushed_at"] = json!(pushed_at);
        } else {
            value["created_at"] = json!(time(repo.created_at));
            value["pushed_at"] = json!(time(pushed_at));
        }
        value["updated_at"] = json!(time(pushed_at));
        value
    }
}

/// A commit as the simulation made it.
#[derive(Debug, Clone)]
pub struct Commit {
    pub sha: String,
    pub tree: String,
    pub message: String,
    /// Index into [`Organisation::people`].
    pub author: usize,
    pub at: i64,
}

/// One attempt of a run, as the payloads need it.
#[derive(Debug, Clone)]
pub struct Run<'a> {
    pub workflow: &'a Workflow,
    pub id: i64,
    pub number: i64,
    pub attempt: i64,
    pub check_suite_id: i64,
    pub branch: &'a str,
    pub head: &'a Commit,
    /// `push`, `pull_request` or `schedule`.
    pub event: &'a str,
    pub actor: usize,
    pub triggering_actor: usize,
    pub created_at: i64,
    pub run_started_at: i64,
}

/// A job of one attempt, with its planned times.
#[derive(Debug, Clone)]
pub struct JobRun {
    pub id: i64,
    pub name: String,
    pub runner: Runner,
    pub runner_number: i64,
    pub queued_at: i64,
    pub started_at: i64,
    pub completed_at: i64,
    /// `Success`, `Failure` or `Skipped` (skipped jobs never start).
    pub conclusion: Conclusion,
    pub steps: Vec<StepRun>,
}

/// A step of a job, with its planned times.
#[derive(Debug, Clone)]
pub struct StepRun {
    pub name: String,
    pub number: i64,
    pub started_at: i64,
    pub completed_at: i64,
    pub conclusion: Conclusion,
}

/// `2026-11-05T10:34:58Z`, as in run and job timestamps.
pub fn time(epoch: i64) -> String {
    chrono::DateTime::from_timestamp(epoch, 0)
        .expect("demo times are in range")
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `2026-11-05T10:34:58.000Z`, as in step timestamps.
fn step_time(epoch: i64) -> String {
    chrono::DateTime::from_timestamp(epoch, 0)
        .expect("demo times are in range")
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn node_id(prefix: &str, id: i64) -> String {
    format!("{prefix}_kwDO{id:x}")
}

/// `sender`, `actor` and the like.
fn user(person: &Person) -> Value {
    json!({
        "login": person.login,
        "id": person.id,
        "node_id": node_id(if person.bot { "BOT" } else { "U" }, person.id),
        "avatar_url": person.avatar_url,
        "gravatar_id": "",
        "url": format!("https://api.github.com/users/{}", person.login),
        "html_url": format!("https://github.com/{}", person.login.trim_end_matches("[bot]")),
        "type": if person.bot { "Bot" } else { "User" },
        "site_admin": false,
    })
}

/// What the organisation's account says of itself wherever it appears.
fn org_account(org: &Organisation) -> Value {
    json!({
        "login": org.login,
        "id": org.id,
        "node_id": node_id("O", org.id),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{}?v=4", org.id),
    })
}

/// `organization`.
fn organization(org: &Organisation) -> Value {
    let mut value = org_account(org);
    value["url"] = json!(format!("https://api.github.com/orgs/{}", org.login));
    value["repos_url"] = json!(format!("https://api.github.com/orgs/{}/repos", org.login));
    value["description"] =
        json!("Northwind Labs builds the Northwind commerce platform (a simulated organisation)");
    value
}

/// A repository's `owner`.
fn owner(org: &Organisation) -> Value {
    let mut value = org_account(org);
    value["html_url"] = json!(format!("https://github.com/{}", org.login));
    value["type"] = json!("Organization");
    value["site_admin"] = json!(false);
    value
}

/// The top-level `repository`, without its times (see [`Parts::repository`]): the short one
/// and more.
fn repository(org: &Organisation, repo: &Repository) -> Value {
    let mut full = short_repository(org, repo);
    let more = json!({
        "created_at": null,
        "updated_at": null,
        "pushed_at": null,
        "git_url": format!("git://github.com/{}.git", repo.full_name),
        "ssh_url": format!("git@github.com:{}.git", repo.full_name),
        "clone_url": format!("https://github.com/{}.git", repo.full_name),
        "homepage": null,
        "size": 4_000 + repo.id % 90_000,
        "language": repo.language.github_name(),
        "archived": false,
        "disabled": false,
        "visibility": "private",
        "default_branch": repo.default_branch,
    });
    if let (Value::Object(full), Value::Object(more)) = (&mut full, more) {
        full.extend(more);
    }
    full
}

/// The short `repository` inside `workflow_run`.
fn short_repository(org: &Organisation, repo: &Repository) -> Value {
    json!({
        "id": repo.id,
        "node_id": node_id("R", repo.id),
        "name": repo.name,
        "full_name": repo.full_name,
        "private": true,
        "owner": owner(org),
        "html_url": format!("https://github.com/{}", repo.full_name),
        "description": repo.description,
        "fork": false,
        "url": format!("https://api.github.com/repos/{}", repo.full_name),
    })
}

fn git_person(person: &Person, username: bool) -> Value {
    let mut value = json!({ "name": person.name, "email": person.email });
    if username {
        value["username"] = json!(person.login);
    }
    value
}

/// A commit in a push (`commits[]`, `head_commit`).
fn push_commit(org: &Organisation, repo: &Repository, commit: &Commit) -> Value {
    let author = &org.people[commit.author];
    json!({
        "id": commit.sha,
        "tree_id": commit.tree,
        "distinct": true,
        "message": commit.message,
        "timestamp": time(commit.at),
        "url": format!("https://github.com/{}/commit/{}", repo.full_name, commit.sha),
        "author": git_person(author, true),
        "committer": git_person(author, true),
        "added": [],
        "removed": [],
        "modified": ["README.md"],
    })
}

/// A `push` of `commits` (oldest first) onto `branch`, whose head was `before`.
#[allow(clippy::too_many_arguments)]
pub fn push(
    parts: &Parts,
    r: usize,
    branch: &str,
    before: &str,
    commits: &[Commit],
    created: bool,
    pusher: usize,
    at: i64,
) -> Value {
    let org = &*parts.org;
    let repo = &org.repos[r];
    let head = commits.last().expect("a push has commits");
    let person = &org.people[pusher];
    json!({
        "ref": format!("refs/heads/{branch}"),
        "before": before,
        "after": head.sha,
        "repository": parts.repository(r, at, true),
        "pusher": { "name": person.login, "email": person.email },
        "organization": parts.organization.clone(),
        "sender": parts.user(pusher),
        "created": created,
        "deleted": false,
        "forced": false,
        "base_ref": null,
        "compare": if created {
            format!("https://github.com/{}/commit/{}", repo.full_name, head.sha)
        } else {
            format!("https://github.com/{}/compare/{}...{}", repo.full_name, &before[..12], &head.sha[..12])
        },
        "commits": commits.iter().map(|commit| push_commit(org, repo, commit)).collect::<Vec<_>>(),
        "head_commit": push_commit(org, repo, head),
    })
}

/// The `push` GitHub sends when a branch is deleted: `deleted: true`, no commits.
pub fn push_deleted(
    parts: &Parts,
    r: usize,
    branch: &str,
    before: &str,
    pusher: usize,
    at: i64,
) -> Value {
    let org = &*parts.org;
    let repo = &org.repos[r];
    let person = &org.people[pusher];
    json!({
        "ref": format!("refs/heads/{branch}"),
        "before": before,
        "after": "0000000000000000000000000000000000000000",
        "repository": parts.repository(r, at, true),
        "pusher": { "name": person.login, "email": person.email },
        "organization": parts.organization.clone(),
        "sender": parts.user(pusher),
        "created": false,
        "deleted": true,
        "forced": false,
        "base_ref": null,
        "compare": format!("https://github.com/{}/compare/{}...000000000000", repo.full_name, &before[..12]),
        "commits": [],
        "head_commit": null,
    })
}

/// `create` (`deleted == false`) or `delete` of a branch.
pub fn ref_change(
    parts: &Parts,
    r: usize,
    branch: &str,
    sender: usize,
    at: i64,
    deleted: bool,
) -> Value {
    let org = &*parts.org;
    let repo = &org.repos[r];
    let mut value = json!({
        "ref": branch,
        "ref_type": "branch",
        "pusher_type": "user",
        "repository": parts.repository(r, at, false),
        "organization": parts.organization.clone(),
        "sender": parts.user(sender),
    });
    if !deleted {
        value["master_branch"] = json!(repo.default_branch);
        value["description"] = json!(repo.description);
    }
    value
}

fn workflow_object(repo: &Repository, workflow: &Workflow) -> Value {
    json!({
        "id": workflow.id,
        "node_id": node_id("W", workflow.id),
        "name": workflow.name,
        "path": workflow.path,
        "state": "active",
        "created_at": step_time(repo.created_at + 86_400),
        "updated_at": step_time(repo.created_at + 86_400 * 30),
        "url": format!("https://api.github.com/repos/{}/actions/workflows/{}", repo.full_name, workflow.id),
        "html_url": format!("https://github.com/{}/blob/{}/{}", repo.full_name, repo.default_branch, workflow.path),
        "badge_url": format!("https://github.com/{}/workflows/{}/badge.svg", repo.full_name, workflow.name.replace(' ', "%20")),
    })
}

/// A `workflow_run` delivery. GitHub names its `action` after the status the run reached:
/// `requested` (the run's `status` then says `queued`), `in_progress` or `completed`.
pub fn workflow_run(
    parts: &Parts,
    r: usize,
    run: &Run<'_>,
    action: Status,
    conclusion: Option<Conclusion>,
    updated_at: i64,
) -> Value {
    let org = &*parts.org;
    let repo = &org.repos[r];
    let w = repo
        .workflows
        .iter()
        .position(|workflow| workflow.id == run.workflow.id)
        .expect("the run's workflow is the repository's");
    let status = match action {
        Status::Requested => Status::Queued,
        other => other,
    };
    let api = format!(
        "https://api.github.com/repos/{}/actions/runs/{}",
        repo.full_name, run.id
    );
    let author = &org.people[run.head.author];
    let title = run.head.message.lines().next().unwrap_or_default();
    let mut workflow_run = json!({
        "id": run.id,
        "name": run.workflow.name,
        "node_id": node_id("WFR", run.id),
        "head_branch": run.branch,
        "head_sha": run.head.sha,
        "path": run.workflow.path,
        "display_title": if run.event == "schedule" { run.workflow.name.as_str() } else { title },
        "run_number": run.number,
        "event": run.event,
        "status": status.as_str(),
        "conclusion": conclusion.as_ref().map(Conclusion::as_str),
        "workflow_id": run.workflow.id,
        "check_suite_id": run.check_suite_id,
        "check_suite_node_id": node_id("CS", run.check_suite_id),
        "url": api,
        "html_url": format!("https://github.com/{}/actions/runs/{}", repo.full_name, run.id),
        "pull_requests": [],
        "created_at": time(run.created_at),
        "updated_at": time(updated_at),
        "actor": parts.user(run.actor),
        "run_attempt": run.attempt,
        "referenced_workflows": [],
        "run_started_at": time(run.run_started_at),
        "triggering_actor": parts.user(run.triggering_actor),
    });
    let more = json!({
        "jobs_url": format!("{api}/jobs"),
        "logs_url": format!("{api}/logs"),
        "check_suite_url": format!("https://api.github.com/repos/{}/check-suites/{}", repo.full_name, run.check_suite_id),
        "artifacts_url": format!("{api}/artifacts"),
        "cancel_url": format!("{api}/cancel"),
        "rerun_url": format!("{api}/rerun"),
        "previous_attempt_url": (run.attempt > 1).then(|| format!("{api}/attempts/{}", run.attempt - 1)),
        "workflow_url": format!("https://api.github.com/repos/{}/actions/workflows/{}", repo.full_name, run.workflow.id),
        "head_commit": {
            "id": run.head.sha,
            "tree_id": run.head.tree,
            "message": run.head.message,
            "timestamp": time(run.head.at),
            "author": { "name": author.name, "email": author.email },
            "committer": { "name": author.name, "email": author.email },
        },
        "repository": parts.repos[r].1.clone(),
        "head_repository": parts.repos[r].1.clone(),
    });
    if let (Some(fields), Value::Object(more)) = (workflow_run.as_object_mut(), more) {
        fields.extend(more);
    }
    json!({
        "action": action.as_str(),
        "workflow_run": workflow_run,
        "workflow": parts.repos[r].2[w].clone(),
        "repository": parts.repository(r, run.created_at, false),
        "organization": parts.organization.clone(),
        "sender": parts.user(run.triggering_actor),
    })
}

/// A `workflow_job` delivery. Its `action` is the status the job reached: `queued`,
/// `in_progress` or `completed`.
pub fn workflow_job(parts: &Parts, r: usize, run: &Run<'_>, job: &JobRun, action: Status) -> Value {
    let org = &*parts.org;
    let repo = &org.repos[r];
    let (status, conclusion, started_at, completed_at) = match action {
        Status::Queued => (Status::Queued, None, job.queued_at, None),
        Status::InProgress => (Status::InProgress, None, job.started_at, None),
        _ => (
            Status::Completed,
            Some(job.conclusion.clone()),
            job.started_at,
            Some(job.completed_at),
        ),
    };
    let steps: Vec<Value> = match action {
        Status::Queued => Vec::new(),
        Status::InProgress => job
            .steps
            .iter()
            .enumerate()
            .map(|(i, step)| {
                json!({
                    "name": step.name,
                    "status": if i == 0 { Status::InProgress } else { Status::Queued }.as_str(),
                    "conclusion": null,
                    "number": step.number,
                    "started_at": (i == 0).then(|| step_time(step.started_at)),
                    "completed_at": null,
                })
            })
            .collect(),
        _ => job
            .steps
            .iter()
            .map(|step| {
                json!({
                    "name": step.name,
                    "status": Status::Completed.as_str(),
                    "conclusion": step.conclusion.as_str(),
                    "number": step.number,
                    "started_at": step_time(step.started_at),
                    "completed_at": step_time(step.completed_at),
                })
            })
            .collect(),
    };
    let started = action != Status::Queued && job.conclusion != Conclusion::Skipped;
    let (runner_id, runner_name, group_id, group_name) = if !started {
        (None, None, None, None)
    } else if job.runner == Runner::SelfHosted {
        (
            Some(job.runner_number),
            Some(format!("nw-deploy-runner-{:02}", job.runner_number % 8 + 1)),
            Some(3),
            Some("Deploy"),
        )
    } else {
        (
            Some(job.runner_number),
            Some(format!("GitHub Actions {}", job.runner_number)),
            Some(2),
            Some("GitHub Actions"),
        )
    };
    let api = format!("https://api.github.com/repos/{}/actions", repo.full_name);
    json!({
        "action": action.as_str(),
        "workflow_job": {
            "id": job.id,
            "run_id": run.id,
            "workflow_name": run.workflow.name,
            "head_branch": run.branch,
            "run_url": format!("{api}/runs/{}", run.id),
            "run_attempt": run.attempt,
            "node_id": node_id("CR", job.id),
            "head_sha": run.head.sha,
            "url": format!("{api}/jobs/{}", job.id),
            "html_url": format!("https://github.com/{}/actions/runs/{}/job/{}", repo.full_name, run.id, job.id),
            "status": status.as_str(),
            "conclusion": conclusion.as_ref().map(Conclusion::as_str),
            "created_at": time(job.queued_at),
            "started_at": time(started_at),
            "completed_at": completed_at.map(time),
            "name": job.name,
            "steps": steps,
            "check_run_url": format!("https://api.github.com/repos/{}/check-runs/{}", repo.full_name, job.id),
            "labels": job.runner.labels(),
            "runner_id": runner_id,
            "runner_name": runner_name,
            "runner_group_id": group_id,
            "runner_group_name": group_name,
        },
        "repository": parts.repository(r, run.created_at, false),
        "organization": parts.organization.clone(),
        "sender": parts.user(run.triggering_actor),
    })
}
