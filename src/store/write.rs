//! Applying parsed events to the database, inside a transaction the caller owns.
//!
//! Every write here is an idempotent upsert, and every upsert of a run or job only lands if it is
//! not older than the stored row (see `schema.sql`), so duplicates and late deliveries are no-ops
//! and the final rows do not depend on arrival order. The same functions serve the webhook path and
//! the REST backfill.

use std::collections::HashMap;
use std::sync::LazyLock;

use rusqlite::{params, Connection, OptionalExtension};

use super::attempts::Attempt;
use super::model::{BranchInfo, CachedPage, Change, Window};
use super::{read, Result};
use crate::github::event::{Commit, Event, Push, Repository, Workflow, WorkflowJob, WorkflowRun};
use crate::run_state::Status;

/// Applies `event` and returns what changed, for the hub to publish.
///
/// # Errors
/// On a database error; the caller rolls back.
pub fn apply_event(conn: &Connection, event: &Event, now: i64) -> Result<Vec<Change>> {
    apply_event_with(conn, event, now, &mut Known::default())
}

/// [`apply_event`] for a writer that keeps what it [`Known`]s between events.
///
/// # Errors
/// On a database error; the caller rolls back, and must [`Known::forget`].
pub fn apply_event_with(
    conn: &Connection,
    event: &Event,
    now: i64,
    known: &mut Known,
) -> Result<Vec<Change>> {
    let mut changes = Vec::new();
    if let Some(repo) = event.repository() {
        if !known.repo(conn, repo, now)? {
            tracing::debug!(repo = %repo.full_name, "delivery for a repository that is not monitored: ignored");
            return Ok(changes);
        }
    }
    match event {
        Event::Ping(_) => {} // the repository, if any, was stored above
        Event::Push(push) => apply_push(conn, push, now, known, &mut changes)?,
        Event::Create(change) | Event::Delete(change) => {
            if let Some(branch) = change.branch() {
                let deleted = matches!(event, Event::Delete(_));
                if deleted {
                    delete_branch(conn, change.repository.id, branch, now)?;
                } else {
                    create_branch(conn, change.repository.id, branch, now)?;
                }
                changes.push(branch_change(&change.repository, branch, deleted));
            }
        }
        Event::WorkflowRun(delivery) => {
            known.workflow(conn, delivery.repository.id, &delivery.workflow)?;
            if upsert_run(
                conn,
                &delivery.repository,
                &delivery.workflow.name,
                &delivery.workflow_run,
                now,
                known,
            )? {
                if let Some(run) = read::run(conn, delivery.workflow_run.id)? {
                    changes.push(Change::Run { run });
                }
            }
        }
        Event::CheckRun(delivery) => {
            if let Some(report) = crate::source::from_check_run(delivery) {
                changes.extend(apply_report(conn, &report, now, known)?);
            }
        }
        Event::Status(delivery) => {
            let report = crate::source::from_status(delivery);
            changes.extend(apply_report(conn, &report, now, known)?);
        }
        Event::WorkflowJob(delivery) => {
            let job = &delivery.workflow_job;
            if upsert_job(conn, delivery.repository.id, job)? {
                if let Some(job) = read::job(conn, job.id)? {
                    changes.push(Change::Job { job });
                }
                if update_queue_time(conn, job.run_id)? {
                    if let Some(run) = read::run(conn, job.run_id)? {
                        changes.push(Change::Run { run });
                    }
                }
            }
        }
    }
    Ok(changes)
}

/// A push to a branch: the branch created, deleted or touched, and the pushed commits; a tag
/// push carries nothing the board shows.
fn apply_push(
    conn: &Connection,
    push: &Push,
    now: i64,
    known: &mut Known,
    changes: &mut Vec<Change>,
) -> Result<()> {
    let Some(branch) = push.branch() else {
        return Ok(());
    };
    if push.deleted {
        delete_branch(conn, push.repository.id, branch, now)?;
        changes.push(branch_change(&push.repository, branch, true));
        return Ok(());
    }
    if push.created {
        create_branch(conn, push.repository.id, branch, now)?;
        changes.push(branch_change(&push.repository, branch, false));
    } else {
        known.branch(conn, push.repository.id, branch, now)?;
    }
    let head = push
        .head_commit
        .iter()
        .filter(|head| !push.commits.iter().any(|c| c.id == head.id));
    for commit in push.commits.iter().chain(head) {
        let login = commit.author.as_ref().and_then(|a| a.username.as_deref());
        let commit_id = upsert_commit(conn, &push.repository, commit, login)?;
        if let Some(info) = read::commit(conn, commit_id)? {
            changes.push(Change::Commit { commit: info });
        }
    }
    Ok(())
}

/// Stores a check run's or a commit status's commit and branch as every source's are, then the
/// report itself ([`super::reports::apply_report`]).
fn apply_report(
    conn: &Connection,
    report: &crate::source::Report,
    now: i64,
    known: &mut Known,
) -> Result<Vec<Change>> {
    let repo = &report.repository;
    let commit_id = upsert_commit(conn, repo, &Commit::bare(report.sha.clone()), None)?;
    let branch_id = match &report.branch {
        Some(branch) => Some(known.branch(conn, repo.id, branch, now)?),
        None => None,
    };
    super::reports::apply_report(conn, report, commit_id, branch_id)
}

/// Rows the ingest writer knows are stored as a delivery would write them again, so that
/// deliveries for a repository, workflow or branch it has seen skip the statements that would only
/// rewrite them unchanged (the repository's and the workflow's each rewrote an index entry).
///
/// Only right while nothing else writes these rows: the writer [`Known::forget`]s everything after
/// a task and after a delivery or group that failed, and checks at the start of each group whether
/// another connection has committed ([`Known::forget_if_changed_elsewhere`]).
#[derive(Debug, Default)]
pub struct Known {
    repos: HashMap<i64, KnownRepo>,
    workflows: HashMap<i64, KnownWorkflow>,
    /// Branch ids by repository and name.
    branches: HashMap<i64, HashMap<String, i64>>,
    branch_count: usize,
    /// `PRAGMA data_version` when last checked: it moves when another connection commits.
    data_version: Option<i64>,
}

#[derive(Debug)]
struct KnownRepo {
    full_name: String,
    html_url: Option<String>,
    default_branch: Option<String>,
    monitored: bool,
}

#[derive(Debug)]
struct KnownWorkflow {
    name: String,
    path: String,
    state: Option<String>,
    html_url: Option<String>,
}

/// Branches remembered at most: past this the map starts over, so that it stays small however
/// many short-lived branches an organisation makes.
const MAX_KNOWN_BRANCHES: usize = 10_000;

/// Whether storing `new` leaves `stored` as it is: a column the event leaves empty keeps its value.
fn unchanged(new: Option<&String>, stored: Option<&String>) -> bool {
    new.is_none_or(|new| Some(new) == stored)
}

impl Known {
    /// Forgets everything: the next events store their rows again.
    pub fn forget(&mut self) {
        self.repos.clear();
        self.workflows.clear();
        self.branches.clear();
        self.branch_count = 0;
    }

    /// Forgets everything if another connection (`init_db`, an operator's `sqlite3`) has
    /// committed since the last check. Call it inside the write transaction, where nobody else
    /// can commit until it ends.
    ///
    /// # Errors
    /// On a database error.
    pub fn forget_if_changed_elsewhere(&mut self, conn: &Connection) -> Result<()> {
        let version = conn.pragma_query_value(None, "data_version", |row| row.get(0))?;
        if self.data_version != Some(version) {
            self.forget();
            self.data_version = Some(version);
        }
        Ok(())
    }

    /// [`upsert_repo`], skipped when it would change nothing.
    fn repo(&mut self, conn: &Connection, repo: &Repository, now: i64) -> Result<bool> {
        if let Some(known) = self.repos.get(&repo.id) {
            if known.full_name == repo.full_name
                && unchanged(repo.html_url.as_ref(), known.html_url.as_ref())
                && unchanged(repo.default_branch.as_ref(), known.default_branch.as_ref())
            {
                return Ok(known.monitored);
            }
        }
        let stored = store_repo(conn, repo, now)?;
        if stored.renamed_another {
            self.repos.clear(); // another repository's name changed under it
        }
        self.repos.insert(
            repo.id,
            KnownRepo {
                full_name: repo.full_name.clone(),
                html_url: stored.html_url,
                default_branch: stored.default_branch,
                monitored: stored.monitored,
            },
        );
        Ok(stored.monitored)
    }

    /// [`upsert_workflow`], skipped when it would change nothing.
    fn workflow(&mut self, conn: &Connection, repo_id: i64, workflow: &Workflow) -> Result<()> {
        let path = strip_ref(&workflow.path);
        if let Some(known) = self.workflows.get(&workflow.id) {
            if known.name == workflow.name
                && known.path == path
                && unchanged(workflow.state.as_ref(), known.state.as_ref())
                && unchanged(workflow.html_url.as_ref(), known.html_url.as_ref())
            {
                return Ok(());
            }
        }
        let (state, html_url) = store_workflow(conn, repo_id, workflow)?;
        self.workflows.insert(
            workflow.id,
            KnownWorkflow {
                name: workflow.name.clone(),
                path: path.to_owned(),
                state,
                html_url,
            },
        );
        Ok(())
    }

    /// Whether workflow `id` is stored (then a run need not insert a stand-in for it).
    fn has_workflow(&self, id: i64) -> bool {
        self.workflows.contains_key(&id)
    }

    /// [`ensure_branch`], remembering the id.
    fn branch(&mut self, conn: &Connection, repo_id: i64, name: &str, now: i64) -> Result<i64> {
        if let Some(id) = self
            .branches
            .get(&repo_id)
            .and_then(|names| names.get(name))
        {
            return Ok(*id);
        }
        let id = ensure_branch(conn, repo_id, name, now)?;
        if self.branch_count >= MAX_KNOWN_BRANCHES {
            self.branches.clear();
            self.branch_count = 0;
        }
        self.branches
            .entry(repo_id)
            .or_default()
            .insert(name.to_owned(), id);
        self.branch_count += 1;
        Ok(id)
    }
}

fn branch_change(repo: &Repository, name: &str, deleted: bool) -> Change {
    Change::Branch {
        branch: BranchInfo {
            repo: repo.full_name.clone(),
            name: name.to_owned(),
            deleted,
        },
    }
}

/// Starts monitoring `full_name` ("owner/name"). A repository never seen gets a placeholder row
/// with a negative id, which its first delivery replaces with GitHub's id. Returns the row id and
/// whether the row is new.
///
/// # Errors
/// On a database error.
pub fn monitor_repo(conn: &Connection, full_name: &str, now: i64) -> Result<(i64, bool)> {
    let existing: Option<i64> = conn
        .prepare_cached("SELECT id FROM repos WHERE fullname = ?1")?
        .query_row([full_name], |row| row.get(0))
        .optional()?;
    if let Some(id) = existing {
        conn.prepare_cached("UPDATE repos SET monitored = 1 WHERE id = ?1")?
            .execute([id])?;
        return Ok((id, false));
    }
    let id: i64 = conn.query_row(
        "SELECT MIN(COALESCE(MIN(id), 0), 0) - 1 FROM repos",
        [],
        |row| row.get(0),
    )?;
    conn.prepare_cached("INSERT INTO repos (id, fullname, createtime) VALUES (?1, ?2, ?3)")?
        .execute(params![id, full_name, now])?;
    Ok((id, true))
}

/// Stops monitoring a repository; with `purge`, deletes it and all its history. Returns whether
/// the repository existed.
///
/// # Errors
/// On a database error.
pub fn unmonitor_repo(conn: &Connection, id: i64, purge: bool) -> Result<bool> {
    let sql = if purge {
        "DELETE FROM repos WHERE id = ?1"
    } else {
        "UPDATE repos SET monitored = 0 WHERE id = ?1"
    };
    Ok(conn.prepare_cached(sql)?.execute([id])? == 1)
}

/// Deletes up to `batch` runs of repository `id` (with their attempts and jobs) in one
/// transaction; returns how many. A purge calls it until it returns 0, then [`unmonitor_repo`]
/// deletes the rest in one short statement: the writer never holds up deliveries for a whole
/// repository's history at once.
///
/// # Errors
/// On a database error (the batch is rolled back).
pub fn purge_runs_batch(conn: &Connection, id: i64, batch: usize) -> Result<usize> {
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    let runs: Vec<i64> = tx
        .prepare_cached("SELECT id FROM workflowruns WHERE repo_id = ?1 LIMIT ?2")?
        .query_map(
            params![id, i64::try_from(batch).unwrap_or(i64::MAX)],
            |row| row.get(0),
        )?
        .collect::<rusqlite::Result<_>>()?;
    for run in &runs {
        // Jobs point at their run without a foreign key; attempts cascade.
        tx.prepare_cached("DELETE FROM workflowjobs WHERE run_id = ?1")?
            .execute([run])?;
        tx.prepare_cached("DELETE FROM workflowruns WHERE id = ?1")?
            .execute([run])?;
    }
    tx.commit()?;
    Ok(runs.len())
}

/// Records a delivery id; `false` if it was already processed (a redelivery).
///
/// # Errors
/// On a database error.
pub fn record_delivery(
    conn: &Connection,
    delivery_id: &str,
    event: &str,
    now: i64,
) -> Result<bool> {
    let inserted = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO deliveries (id, event, receivedtime) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![delivery_key(delivery_id).as_ref(), event, now])?;
    Ok(inserted == 1)
}

/// How a delivery id is stored in `deliveries.id`. GitHub's delivery GUIDs are version-1 UUIDs,
/// which begin with the fastest-changing bits of their timestamp
/// (`72d3162e-cc78-11e3-81ab-4c9367dc0958`): as they come, each new id lands on a random page of
/// the index, and a group of deliveries rewrites as many pages as it has deliveries. Stored with
/// the timestamp's fields from most to least significant (`1e3cc7872d3162e-81ab-4c9367dc0958`),
/// new ids append to the index's last page. Any other id is stored as it came.
/// Migration 3 -> 4 (`migrate::MIGRATIONS`) rewrites the ids stored before in the same way.
pub fn delivery_key(id: &str) -> std::borrow::Cow<'_, str> {
    let bytes = id.as_bytes();
    let is_v1_uuid = bytes.len() == 36
        && bytes.iter().enumerate().all(|(at, byte)| match at {
            8 | 13 | 18 | 23 => *byte == b'-',
            14 => *byte == b'1',
            _ => byte.is_ascii_hexdigit(),
        });
    if is_v1_uuid {
        // time_hi, time_mid, time_low, then clock sequence and node as they were.
        format!("{}{}{}{}", &id[15..18], &id[9..13], &id[..8], &id[18..]).into()
    } else {
        id.into()
    }
}

/// Inserts or refreshes a repository and returns whether it is monitored. Every repository that
/// sends webhooks is, unless an operator stopped monitoring it (`DELETE /api/repos/<id>`).
///
/// The common case is one statement. When the name is held by another row, that row is either a
/// placeholder added through the API before the first delivery (it is adopted: it takes GitHub's
/// id) or a repository since renamed on GitHub (its stale name is moved aside), and the upsert is
/// tried again.
///
/// # Errors
/// On a database error.
pub fn upsert_repo(conn: &Connection, repo: &Repository, now: i64) -> Result<bool> {
    Ok(store_repo(conn, repo, now)?.monitored)
}

/// A repository row as [`store_repo`] left it.
struct StoredRepo {
    monitored: bool,
    html_url: Option<String>,
    default_branch: Option<String>,
    /// Another row's name was moved aside or taken over (see [`upsert_repo`]).
    renamed_another: bool,
}

fn store_repo(conn: &Connection, repo: &Repository, now: i64) -> Result<StoredRepo> {
    let upsert = |renamed_another| -> rusqlite::Result<StoredRepo> {
        conn.prepare_cached(
            "INSERT INTO repos (id, fullname, url, defaultbranch, createtime) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (id) DO UPDATE SET
                 fullname = excluded.fullname,
                 url = COALESCE(excluded.url, url),
                 defaultbranch = COALESCE(excluded.defaultbranch, defaultbranch)
             RETURNING monitored, url, defaultbranch",
        )?
        .query_row(
            params![repo.id, repo.full_name, repo.html_url, repo.default_branch, now],
            |row| {
                Ok(StoredRepo {
                    monitored: row.get(0)?,
                    html_url: row.get(1)?,
                    default_branch: row.get(2)?,
                    renamed_another,
                })
            },
        )
    };
    match upsert(false) {
        Err(rusqlite::Error::SqliteFailure(err, _))
            if err.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            conn.prepare_cached("UPDATE repos SET id = ?2 WHERE fullname = ?1 AND id < 0")?
                .execute(params![repo.full_name, repo.id])?;
            conn.prepare_cached(
                "UPDATE repos SET fullname = fullname || ' (renamed, id ' || id || ')'
                 WHERE fullname = ?1 AND id <> ?2",
            )?
            .execute(params![repo.full_name, repo.id])?;
            Ok(upsert(true)?)
        }
        other => Ok(other?),
    }
}

/// The id of a branch, inserting it if unknown. Does not undelete a deleted branch: a run that
/// completes after its branch was deleted must not bring the branch back.
///
/// # Errors
/// On a database error.
pub fn ensure_branch(conn: &Connection, repo_id: i64, name: &str, now: i64) -> Result<i64> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO branches (repo_id, name, createtime) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![repo_id, name, now])?;
    Ok(conn
        .prepare_cached("SELECT id FROM branches WHERE repo_id = ?1 AND name = ?2")?
        .query_row(params![repo_id, name], |row| row.get(0))?)
}

/// A branch was created (a `create` event or a push with `created: true`): insert or undelete it.
fn create_branch(conn: &Connection, repo_id: i64, name: &str, now: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO branches (repo_id, name, createtime) VALUES (?1, ?2, ?3)
         ON CONFLICT (repo_id, name) DO UPDATE SET deletedtime = NULL",
    )?
    .execute(params![repo_id, name, now])?;
    Ok(())
}

/// A branch was deleted: mark it (keeping a tombstone even if we never saw it) and keep its name on
/// its runs in `archivedbranchname`.
fn delete_branch(conn: &Connection, repo_id: i64, name: &str, now: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO branches (repo_id, name, createtime, deletedtime) VALUES (?1, ?2, ?3, ?3)
         ON CONFLICT (repo_id, name) DO UPDATE SET deletedtime = excluded.deletedtime",
    )?
    .execute(params![repo_id, name, now])?;
    conn.prepare_cached(
        "UPDATE workflowruns SET archivedbranchname = ?2
         WHERE branch_id = (SELECT id FROM branches WHERE repo_id = ?1 AND name = ?2)",
    )?
    .execute(params![repo_id, name])?;
    Ok(())
}

/// Inserts a commit or fills in what an earlier source lacked; returns its row id.
///
/// # Errors
/// On a database error.
pub fn upsert_commit(
    conn: &Connection,
    repo: &Repository,
    commit: &Commit,
    login: Option<&str>,
) -> Result<i64> {
    let author = commit.author.clone().unwrap_or_default();
    let url = commit.url.clone().or_else(|| {
        repo.html_url
            .as_ref()
            .map(|base| format!("{base}/commit/{}", commit.id))
    });
    Ok(conn
        .prepare_cached(
            "INSERT INTO commits (repo_id, gitid, message, authorname, authoremail, authorlogin, committime, url)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (repo_id, gitid) DO UPDATE SET
                 message = COALESCE(excluded.message, message),
                 authorname = COALESCE(excluded.authorname, authorname),
                 authoremail = COALESCE(excluded.authoremail, authoremail),
                 authorlogin = COALESCE(excluded.authorlogin, authorlogin),
                 committime = COALESCE(excluded.committime, committime),
                 url = COALESCE(excluded.url, url)
             RETURNING id",
        )?
        .query_row(
            params![
                repo.id,
                commit.id,
                commit.message,
                author.name,
                author.email,
                login,
                commit.timestamp.map(|t| t.0),
                url
            ],
            |row| row.get(0),
        )?)
}

/// Inserts or updates a workflow from a `workflow` object (webhook or REST list-workflows).
///
/// # Errors
/// On a database error.
pub fn upsert_workflow(conn: &Connection, repo_id: i64, workflow: &Workflow) -> Result<()> {
    store_workflow(conn, repo_id, workflow).map(|_| ())
}

/// [`upsert_workflow`]; returns the stored state and URL.
fn store_workflow(
    conn: &Connection,
    repo_id: i64,
    workflow: &Workflow,
) -> Result<(Option<String>, Option<String>)> {
    Ok(conn
        .prepare_cached(
            "INSERT INTO workflows (id, repo_id, name, path, state, url) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (id) DO UPDATE SET
                 name = excluded.name, path = excluded.path,
                 state = COALESCE(excluded.state, state), url = COALESCE(excluded.url, url)
             RETURNING state, url",
        )?
        .query_row(
            params![
                workflow.id,
                repo_id,
                workflow.name,
                strip_ref(&workflow.path),
                workflow.state,
                workflow.html_url
            ],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?)
}

/// REST paths carry an `@ref` suffix (`.github/workflows/build.yml@main`); webhooks do not.
fn strip_ref(path: &str) -> &str {
    path.split_once('@').map_or(path, |(path, _)| path)
}

/// Inserts or updates a run (and its attempt), unless the stored state is newer. Also stores its
/// head commit and branch. Returns whether the run row changed.
///
/// `workflow_name` is the workflow's name (`workflow.name`); the workflow row must exist, or is
/// created from the run's own `name` and `path` when it does not (REST runs without `workflow`).
///
/// # Errors
/// On a database error.
fn upsert_run(
    conn: &Connection,
    repo: &Repository,
    workflow_name: &str,
    run: &WorkflowRun,
    now: i64,
    known: &mut Known,
) -> Result<bool> {
    if !known.has_workflow(run.workflow_id) {
        conn.prepare_cached(
            "INSERT OR IGNORE INTO workflows (id, repo_id, name, path) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![
            run.workflow_id,
            repo.id,
            workflow_name,
            strip_ref(run.path.as_deref().unwrap_or_default())
        ])?;
    }
    let head = run
        .head_commit
        .clone()
        .unwrap_or_else(|| Commit::bare(run.head_sha.clone()));
    let commit_id = upsert_commit(conn, repo, &head, None)?;
    let branch_id = match &run.head_branch {
        Some(branch) => Some(known.branch(conn, repo.id, branch, now)?),
        None => None,
    };
    let rank = run.status.rank();
    let updated = run.updated_at.map(|t| t.0);
    let started = run.run_started_at.map(|t| t.0);
    let completed = run.status.is_done();
    let ended = if completed { updated } else { None };
    let runtime = match (started, ended) {
        (Some(start), Some(end)) => Some((end - start).max(0)),
        _ => None,
    };
    let actor = run.actor.as_ref();
    let changed = conn.prepare_cached(&UPSERT_RUN)?.execute(params![
        run.id,
        repo.id,
        run.workflow_id,
        commit_id,
        branch_id,
        workflow_name,
        run.run_number,
        run.run_attempt,
        run.event,
        run.head_sha,
        run.display_title,
        run.status,
        rank,
        run.conclusion,
        actor.map(|a| &a.login),
        actor.and_then(|a| a.avatar_url.as_ref()),
        run.html_url,
        run.created_at.0,
        started,
        updated,
        ended,
        runtime
    ])? == 1;
    super::attempts::upsert(
        conn,
        &Attempt {
            run_id: run.id,
            attempt: run.run_attempt,
            status: run.status,
            conclusion: run.conclusion.as_ref(),
            started,
            updated,
        },
    )?;
    Ok(changed)
}

/// The run upsert of [`upsert_run`]. The queue time is computed in the same statement from the
/// values the row ends up with (an insert's, or the update's), and the run's jobs stored so far:
/// a separate `UPDATE` rewrote the new row and its two wide indexes a second time.
static UPSERT_RUN: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO workflowruns (id, repo_id, workflow_id, commit_id, branch_id, archivedworkflowname,
             runnumber, runattempt, event, headsha, title, status, statusrank, conclusion, actor,
             actoravatar, url, createtime, starttime, updatetime, endtime, runtime, queuetime)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22,
                 {inserted_queue_time})
         ON CONFLICT (id) DO UPDATE SET
             workflow_id = excluded.workflow_id, commit_id = excluded.commit_id,
             branch_id = COALESCE(excluded.branch_id, branch_id),
             archivedworkflowname = excluded.archivedworkflowname,
             runnumber = excluded.runnumber, runattempt = excluded.runattempt,
             event = excluded.event, headsha = excluded.headsha,
             title = COALESCE(excluded.title, title),
             status = excluded.status, statusrank = excluded.statusrank,
             conclusion = excluded.conclusion,
             actor = COALESCE(excluded.actor, actor),
             actoravatar = COALESCE(excluded.actoravatar, actoravatar),
             url = COALESCE(excluded.url, url), createtime = excluded.createtime,
             starttime = COALESCE(excluded.starttime, starttime),
             updatetime = excluded.updatetime, endtime = excluded.endtime, runtime = excluded.runtime,
             queuetime = {updated_queue_time}
         WHERE (excluded.runattempt, excluded.statusrank, COALESCE(excluded.updatetime, 0))
            >= (workflowruns.runattempt, workflowruns.statusrank, COALESCE(workflowruns.updatetime, 0))",
        inserted_queue_time = queue_time_sql("?1", "?8", "?19", "?18"),
        updated_queue_time = queue_time_sql(
            "excluded.id",
            "excluded.runattempt",
            "COALESCE(excluded.starttime, workflowruns.starttime)",
            "excluded.createtime"
        ),
    )
});

/// A run's queue time as SQL, from its `run` id, `attempt`, `start` and `created` times: from the
/// attempt's creation (the run's creation for attempt 1, its start for re-runs) until the first of
/// that attempt's jobs started. Without a started job, attempt 1 falls back to `start - created`.
/// The one definition behind [`upsert_run`] and [`update_queue_time`].
fn queue_time_sql(run: &str, attempt: &str, start: &str, created: &str) -> String {
    format!(
        "COALESCE(
             (SELECT MAX(0, MIN(j.starttime) - CASE WHEN {attempt} > 1 THEN COALESCE({start}, {created})
                                                   ELSE {created} END)
              FROM workflowjobs j
              WHERE j.run_id = {run} AND j.runattempt = {attempt} AND j.starttime IS NOT NULL),
             CASE WHEN {attempt} = 1 AND {start} IS NOT NULL THEN MAX(0, {start} - {created}) END)"
    )
}

/// Inserts or updates a job unless the stored state is newer. Returns whether it changed.
///
/// # Errors
/// On a database error.
pub fn upsert_job(conn: &Connection, repo_id: i64, job: &WorkflowJob) -> Result<bool> {
    let changed = upsert_job_row(conn, repo_id, job)?;
    // Only a completed job's steps are kept: they say where it failed; a running job's steps
    // change with every delivery and would cost writes for nothing the board shows.
    if changed && job.status.is_done() && !job.steps.is_empty() {
        replace_steps(conn, job)?;
    }
    Ok(changed)
}

/// Replaces the stored steps of `job` with the ones it carries (a newer state of the job).
fn replace_steps(conn: &Connection, job: &WorkflowJob) -> Result<()> {
    conn.prepare_cached("DELETE FROM workflowsteps WHERE job_id = ?1")?
        .execute([job.id])?;
    let mut insert = conn.prepare_cached(
        "INSERT OR REPLACE INTO workflowsteps (job_id, number, name, status, conclusion, starttime, endtime)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for step in &job.steps {
        insert.execute(params![
            job.id,
            step.number,
            step.name,
            step.status,
            step.conclusion,
            step.started_at.map(|t| t.0),
            step.completed_at.map(|t| t.0),
        ])?;
    }
    Ok(())
}

/// The job's own row, unless the stored state is newer. Returns whether it changed.
fn upsert_job_row(conn: &Connection, repo_id: i64, job: &WorkflowJob) -> Result<bool> {
    let rank = job.status.rank();
    let labels = serde_json::to_string(&job.labels).expect("a list of strings serialises");
    // GitHub sets started_at = created_at while a job is still queued or waiting; it is only a
    // start time once the job runs.
    let started = (rank >= Status::IN_PROGRESS_RANK)
        .then_some(job.started_at)
        .flatten()
        .map(|t| t.0);
    Ok(conn
        .prepare_cached(
            "INSERT INTO workflowjobs (id, run_id, repo_id, runattempt, name, workflowname, status,
                 statusrank, conclusion, createtime, starttime, endtime, runnername, runnergroup, labels, url)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
             ON CONFLICT (id) DO UPDATE SET
                 run_id = excluded.run_id, runattempt = excluded.runattempt, name = excluded.name,
                 workflowname = COALESCE(excluded.workflowname, workflowname),
                 status = excluded.status, statusrank = excluded.statusrank, conclusion = excluded.conclusion,
                 createtime = COALESCE(excluded.createtime, createtime),
                 starttime = COALESCE(excluded.starttime, starttime),
                 endtime = COALESCE(excluded.endtime, endtime),
                 runnername = COALESCE(excluded.runnername, runnername),
                 runnergroup = COALESCE(excluded.runnergroup, runnergroup),
                 labels = excluded.labels, url = COALESCE(excluded.url, url)
             WHERE (excluded.statusrank, COALESCE(excluded.endtime, 0), COALESCE(excluded.starttime, 0))
                >= (workflowjobs.statusrank, COALESCE(workflowjobs.endtime, 0), COALESCE(workflowjobs.starttime, 0))",
        )?
        .execute(params![
            job.id,
            job.run_id,
            repo_id,
            job.run_attempt,
            job.name,
            job.workflow_name,
            job.status,
            rank,
            job.conclusion,
            job.created_at.map(|t| t.0),
            started,
            job.completed_at.map(|t| t.0),
            job.runner_name,
            job.runner_group_name,
            labels,
            job.html_url
        ])?
        == 1)
}

/// Recomputes a run's queue time (see [`queue_time_sql`]) after one of its jobs changed. Returns
/// whether the value changed.
///
/// # Errors
/// On a database error.
pub fn update_queue_time(conn: &Connection, run_id: i64) -> Result<bool> {
    // One statement: the new value is computed twice so the row is only touched when it changes.
    static UPDATE: LazyLock<String> = LazyLock::new(|| {
        let queue_time = queue_time_sql(
            "workflowruns.id",
            "workflowruns.runattempt",
            "workflowruns.starttime",
            "workflowruns.createtime",
        );
        format!(
            "UPDATE workflowruns SET queuetime = {queue_time}
             WHERE id = ?1 AND queuetime IS NOT {queue_time}"
        )
    });
    let changed = conn.prepare_cached(&UPDATE)?.execute([run_id])?;
    Ok(changed == 1)
}

/// Stores what a REST response said under its URL (see [`CachedPage`]).
///
/// # Errors
/// On a database error.
pub fn put_cached_page(conn: &Connection, url: &str, page: &CachedPage, now: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO httpcache (url, etag, nexturl, total, items, body, fetchtime)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (url) DO UPDATE SET
             etag = excluded.etag, nexturl = excluded.nexturl, total = excluded.total,
             items = excluded.items, body = excluded.body, fetchtime = excluded.fetchtime",
    )?
    .execute(params![
        url, page.etag, page.next, page.total, page.items, page.body, now
    ])?;
    Ok(())
}

/// Inserts or replaces a backfill window (keyed by repository and start).
///
/// # Errors
/// On a database error.
pub fn put_window(conn: &Connection, repo_id: i64, window: &Window) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO backfillwindows (repo_id, windowstart, windowend, nexturl, done)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (repo_id, windowstart) DO UPDATE SET
             windowend = excluded.windowend, nexturl = excluded.nexturl, done = excluded.done",
    )?
    .execute(params![
        repo_id,
        window.start,
        window.end,
        window.next,
        window.done
    ])?;
    Ok(())
}

/// Starts a new backfill pass over a repository's windows: every window back to its first page.
///
/// # Errors
/// On a database error.
pub fn restart_windows(conn: &Connection, repo_id: i64) -> Result<()> {
    conn.prepare_cached("UPDATE backfillwindows SET nexturl = NULL, done = 0 WHERE repo_id = ?1")?
        .execute([repo_id])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::delivery_key;

    #[test]
    fn version_1_delivery_ids_are_keyed_by_time_and_others_as_they_came() {
        // GitHub's documented example, and one 100 ns later: the keys sort in time order.
        let first = delivery_key("72d3162e-cc78-11e3-81ab-4c9367dc0958");
        assert_eq!(first, "1e3cc7872d3162e-81ab-4c9367dc0958");
        let later = delivery_key("72d3162f-cc78-11e3-81ab-4c9367dc0958");
        assert!(later > first);
        let next_mid = delivery_key("00000000-cc79-11e3-81ab-4c9367dc0958");
        assert!(next_mid > later, "time_mid outranks time_low");
        for other in [
            "d-1",
            "72d3162e-cc78-41e3-81ab-4c9367dc0958", // version 4: random, nothing to order
            "72d3162e-cc78-11e3-81ab-4c9367dc095",  // one short
            "72d3162g-cc78-11e3-81ab-4c9367dc0958", // not hex
            "éééé-cc78-11e3-81ab-4c9367dc0958",     // 36 bytes, not ASCII
        ] {
            assert_eq!(delivery_key(other), other);
        }
    }
}
