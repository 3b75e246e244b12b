//! Read queries. Each takes a `&Connection` so both the read pool and the ingest writer (which reads
//! back what it wrote, to publish it) use the same SQL.

use rusqlite::{Connection, OptionalExtension, Row};

use super::model::{first_line, CachedPage, CommitInfo, Job, Run, Window};
use super::{rows, Result};
use crate::github::event::Repository;
use crate::run_state::{self, RUN_DONE_SQL};

/// Characters of a commit message's first line kept in a [`Run`].
const MESSAGE_CHARS: usize = 200;

/// The columns of a [`Run`], in the order [`run_from_row`] reads them. `CROSS JOIN` keeps
/// `workflowruns` the outer loop (SQLite does not reorder it), so the filters and `ORDER BY
/// createtime` use a `workflowruns` index instead of sorting every run of a small joined table.
pub const RUN_SELECT: &str = "
    SELECT r.id, repos.fullname, COALESCE(b.name, r.archivedbranchname), w.name, r.workflow_id,
           r.status, r.conclusion, r.headsha, c.message, r.actor, r.actoravatar, r.url, r.event,
           r.runnumber, r.runattempt, r.createtime, r.starttime, r.endtime, r.runtime, r.queuetime,
           w.source, w.provider
    FROM workflowruns r
    CROSS JOIN repos ON repos.id = r.repo_id
    CROSS JOIN workflows w ON w.id = r.workflow_id
    CROSS JOIN commits c ON c.id = r.commit_id
    LEFT JOIN branches b ON b.id = r.branch_id";

/// Maps a row of [`RUN_SELECT`].
pub fn run_from_row(row: &Row<'_>) -> rusqlite::Result<Run> {
    let message: Option<String> = row.get(8)?;
    Ok(Run {
        id: row.get(0)?,
        repo: row.get(1)?,
        branch: row.get(2)?,
        workflow: row.get(3)?,
        workflow_id: row.get(4)?,
        status: row.get(5)?,
        conclusion: row.get(6)?,
        sha: row.get(7)?,
        message: message.map(|text| first_line(&text, MESSAGE_CHARS)),
        author: row.get(9)?,
        author_avatar: row.get(10)?,
        url: row.get(11)?,
        event: row.get(12)?,
        run_number: row.get(13)?,
        run_attempt: row.get(14)?,
        created_at: row.get(15)?,
        started_at: row.get(16)?,
        completed_at: row.get(17)?,
        duration_s: row.get(18)?,
        queue_s: row.get(19)?,
        source: row.get(20)?,
        provider: row.get(21)?,
    })
}

/// The one row `sql` finds for `params`, mapped by `map`; `None` if there is none.
fn optional<T, P: rusqlite::Params>(
    conn: &Connection,
    sql: &str,
    params: P,
    map: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Option<T>> {
    Ok(conn
        .prepare_cached(sql)?
        .query_row(params, map)
        .optional()?)
}

/// One run by GitHub run id.
///
/// # Errors
/// On a database error.
pub fn run(conn: &Connection, run_id: i64) -> Result<Option<Run>> {
    optional(
        conn,
        &format!("{RUN_SELECT} WHERE r.id = ?1"),
        [run_id],
        run_from_row,
    )
}

/// A workflow as starting it by hand needs it: where it lives and what it is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct WorkflowFile {
    pub id: i64,
    pub name: String,
    /// `.github/workflows/ci.yml`.
    pub path: String,
    /// "owner/name".
    pub repo: String,
    pub default_branch: Option<String>,
    /// `actions`, `check` or `status` (only `actions` ones can be started).
    pub source: String,
}

/// The workflow `id`, with its repository.
///
/// # Errors
/// On a database error.
pub fn workflow_file(conn: &Connection, id: i64) -> Result<Option<WorkflowFile>> {
    rows::one(
        conn,
        "SELECT w.id, w.name, w.path, p.fullname AS repo, p.defaultbranch AS default_branch,
                w.source
         FROM workflows w JOIN repos p ON p.id = w.repo_id WHERE w.id = ?1",
        [id],
    )
}

/// One job by GitHub job id.
///
/// # Errors
/// On a database error.
pub fn job(conn: &Connection, job_id: i64) -> Result<Option<Job>> {
    rows::one(
        conn,
        "SELECT j.id, j.run_id, repos.fullname AS repo, j.runattempt AS run_attempt, j.name,
                j.workflowname AS workflow, j.status, j.conclusion, j.runnername AS runner, j.url,
                j.createtime AS created_at, j.starttime AS started_at, j.endtime AS completed_at,
                j.repo_id
         FROM workflowjobs j JOIN repos ON repos.id = j.repo_id WHERE j.id = ?1",
        [job_id],
    )
}

/// One commit by its row id.
///
/// # Errors
/// On a database error.
pub fn commit(conn: &Connection, commit_id: i64) -> Result<Option<CommitInfo>> {
    let commit: Option<CommitInfo> = rows::one(
        conn,
        "SELECT repos.fullname AS repo, c.gitid AS sha, c.message, c.authorname AS author,
                c.authorlogin AS author_login, c.committime AS committed_at, c.url
         FROM commits c JOIN repos ON repos.id = c.repo_id WHERE c.id = ?1",
        [commit_id],
    )?;
    Ok(commit.map(|commit| CommitInfo {
        message: (commit.message.as_deref()).map(|text| first_line(text, MESSAGE_CHARS)),
        ..commit
    }))
}

/// A value from the `settings` table.
///
/// # Errors
/// On a database error.
pub fn setting(conn: &Connection, key: &str) -> Result<Option<String>> {
    optional(
        conn,
        "SELECT value FROM settings WHERE key = ?1",
        [key],
        |row| row.get(0),
    )
}

/// The version of a stored run, `(runattempt, statusrank, updatetime)`: an incoming run replaces it
/// only if its own version is not smaller (see `write::upsert_run`). `None` if the run is unknown.
///
/// # Errors
/// On a database error.
pub fn run_version(conn: &Connection, run_id: i64) -> Result<Option<(i64, i64, i64)>> {
    optional(
        conn,
        "SELECT runattempt, statusrank, COALESCE(updatetime, 0) FROM workflowruns WHERE id = ?1",
        [run_id],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )
}

/// The cached response for `url`, if one was stored.
///
/// # Errors
/// On a database error.
pub fn cached_page(conn: &Connection, url: &str) -> Result<Option<CachedPage>> {
    rows::one(
        conn,
        "SELECT etag, nexturl AS next, total, items, body FROM httpcache WHERE url = ?1",
        [url],
    )
}

/// The backfill windows of a repository, oldest first.
///
/// # Errors
/// On a database error.
pub fn backfill_windows(conn: &Connection, repo_id: i64) -> Result<Vec<Window>> {
    rows::all(
        conn,
        r#"SELECT windowstart AS "start", windowend AS "end", nexturl AS next, done
           FROM backfillwindows WHERE repo_id = ?1 ORDER BY windowstart"#,
        [repo_id],
    )
}

/// Runs of a repository created at or after `since` that have no job rows for their current
/// attempt, or whose jobs are not all finished although the run is: what `--jobs` still has to fetch.
///
/// # Errors
/// On a database error.
pub fn runs_missing_jobs(conn: &Connection, repo_id: i64, since: i64) -> Result<Vec<i64>> {
    let job_active = run_state::active_sql("j");
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT r.id FROM workflowruns r
         WHERE r.repo_id = ?1 AND r.createtime >= ?2 AND (
             NOT EXISTS (SELECT 1 FROM workflowjobs j WHERE j.run_id = r.id AND j.runattempt = r.runattempt)
             OR ({RUN_DONE_SQL} AND EXISTS (SELECT 1 FROM workflowjobs j WHERE j.run_id = r.id
                     AND j.runattempt = r.runattempt AND {job_active})))
         ORDER BY r.createtime DESC, r.id DESC",
    ))?;
    let ids = stmt
        .query_map(rusqlite::params![repo_id, since], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(ids)
}

/// The names of a repository's live branches.
///
/// # Errors
/// On a database error.
pub fn branch_names(conn: &Connection, repo_id: i64) -> Result<Vec<String>> {
    let names = conn
        .prepare_cached(
            "SELECT name FROM branches WHERE repo_id = ?1 AND deletedtime IS NULL ORDER BY name",
        )?
        .query_map([repo_id], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(names)
}

/// Repositories the server keeps in step with GitHub (`monitored = 1`), as `(id, fullname, url,
/// defaultbranch)`.
///
/// # Errors
/// On a database error.
pub fn monitored_repos(conn: &Connection) -> Result<Vec<Repository>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, fullname, url, defaultbranch FROM repos WHERE monitored = 1 ORDER BY fullname",
    )?;
    let repos = stmt
        .query_map([], |row| {
            Ok(Repository {
                id: row.get(0)?,
                full_name: row.get(1)?,
                html_url: row.get(2)?,
                default_branch: row.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(repos)
}

/// The jobs of a run, every attempt, in the order they started (the API's `/api/builds/<id>` and
/// the run page).
///
/// # Errors
/// On a database error.
pub fn jobs_of_run(conn: &Connection, run_id: i64) -> Result<Vec<super::model::JobSummary>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name, runattempt, status, conclusion, runnername, runnergroup, url, createtime,
                starttime, endtime, labels
         FROM workflowjobs WHERE run_id = ?1 ORDER BY runattempt, COALESCE(starttime, createtime), id",
    )?;
    let jobs = stmt
        .query_map([run_id], |row| {
            let created: Option<i64> = row.get(8)?;
            let started: Option<i64> = row.get(9)?;
            let ended: Option<i64> = row.get(10)?;
            let labels: Option<String> = row.get(11)?;
            Ok(super::model::JobSummary {
                job: super::model::JobCore {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    status: row.get(3)?,
                    conclusion: row.get(4)?,
                    runner: row.get(5)?,
                    runner_group: row.get(6)?,
                    url: row.get(7)?,
                    created_at: created,
                    started_at: started,
                    completed_at: ended,
                },
                run_attempt: row.get(2)?,
                labels: labels
                    .and_then(|text| serde_json::from_str(&text).ok())
                    .unwrap_or_default(),
                queue_s: created.zip(started).map(|(c, s)| (s - c).max(0)),
                duration_s: started.zip(ended).map(|(s, e)| (e - s).max(0)),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(jobs)
}

/// The columns of a [`super::model::WorkflowInfo`], by name.
const WORKFLOW_SELECT: &str = "SELECT w.id, repos.fullname AS repo, w.name, w.path, w.state, w.url
     FROM workflows w JOIN repos ON repos.id = w.repo_id";

/// Every workflow, by repository and name; only `repo` when given.
///
/// # Errors
/// On a database error.
pub fn workflows(conn: &Connection, repo: Option<&str>) -> Result<Vec<super::model::WorkflowInfo>> {
    rows::all(
        conn,
        &format!("{WORKFLOW_SELECT} WHERE ?1 IS NULL OR repos.fullname = ?1 ORDER BY repos.fullname, w.name, w.id"),
        [repo],
    )
}

/// One workflow by GitHub id.
///
/// # Errors
/// On a database error.
pub fn workflow(conn: &Connection, id: i64) -> Result<Option<super::model::WorkflowInfo>> {
    rows::one(conn, &format!("{WORKFLOW_SELECT} WHERE w.id = ?1"), [id])
}

/// The newest run of a workflow.
///
/// # Errors
/// On a database error.
pub fn latest_run_of_workflow(conn: &Connection, workflow_id: i64) -> Result<Option<Run>> {
    let mut stmt = conn.prepare_cached(&format!(
        "{RUN_SELECT} WHERE r.workflow_id = ?1 ORDER BY r.createtime DESC, r.id DESC LIMIT 1"
    ))?;
    Ok(stmt.query_row([workflow_id], run_from_row).optional()?)
}

/// Every repository with its run count and latest run time.
///
/// # Errors
/// On a database error.
pub fn repos(conn: &Connection) -> Result<Vec<super::model::RepoInfo>> {
    rows::all(conn, &format!("{REPO_SELECT} ORDER BY repos.fullname"), [])
}

/// The columns of a [`super::model::RepoInfo`], by name.
const REPO_SELECT: &str =
    "SELECT repos.id, repos.fullname AS repo, repos.url, repos.defaultbranch AS default_branch,
            repos.monitored,
            (SELECT COUNT(*) FROM workflowruns r WHERE r.repo_id = repos.id) AS runs,
            (SELECT MAX(createtime) FROM workflowruns r WHERE r.repo_id = repos.id) AS last_run_at
     FROM repos";

/// One repository by id.
///
/// # Errors
/// On a database error.
pub fn repo(conn: &Connection, id: i64) -> Result<Option<super::model::RepoInfo>> {
    rows::one(conn, &format!("{REPO_SELECT} WHERE repos.id = ?1"), [id])
}
