//! What `GET /cc.xml` lists: one project per repository × workflow × branch, on watched branches
//! (or the branches named), with the state of its runs.

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension};

use super::model::Run;
use super::query::{branch_names, workflow_names, RunFilter};
use super::read::{run_from_row, RUN_SELECT};
use super::Result;
use crate::run_state::{Status, NEUTRAL_SQL, RUN_DONE_SQL};
use crate::watch::WatchedBranches;

/// Projects listed at most.
pub const MAX_PROJECTS: usize = 2000;

/// A workflow on a branch, as a CCTray project.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    pub repo: String,
    pub workflow: String,
    pub branch: String,
    /// Whether `branch` is the repository's default branch.
    pub default_branch: bool,
    /// Its latest run is not completed.
    pub building: bool,
    /// The latest completed run whose conclusion is not neutral: the state it is in.
    pub decisive: Option<Run>,
    /// The latest run of any state.
    pub latest: Option<Run>,
}

/// A workflow on a branch: workflow id, branch id, repository, workflow, branch, and whether the
/// branch is the repository's default.
type Pair = (i64, i64, String, String, String, bool);

/// The pairs of [`projects`], at most [`MAX_PROJECTS`].
fn pairs(conn: &Connection, filter: &RunFilter, watched: &WatchedBranches) -> Result<Vec<Pair>> {
    let mut conditions = Vec::new();
    let mut params: Vec<Value> = Vec::new();
    let (branches, values) = if filter.branch.is_empty() {
        watched.sql("b.name", "repos.defaultbranch")
    } else {
        branch_names("b.name", &filter.branch)
    };
    conditions.push(branches);
    params.extend(values);
    filter.repo_conditions("repos.fullname", &mut conditions, &mut params);
    if !filter.workflow.is_empty() {
        let (condition, values) = workflow_names("w.name", &filter.workflow);
        conditions.push(condition);
        params.extend(values);
    }
    let sql = format!(
        "SELECT w.id, b.id, repos.fullname, w.name, b.name, b.name IS repos.defaultbranch
         FROM workflows w
         JOIN repos ON repos.id = w.repo_id AND repos.monitored = 1
         JOIN branches b ON b.repo_id = w.repo_id AND b.deletedtime IS NULL
         WHERE {} AND EXISTS (SELECT 1 FROM workflowruns r
                              WHERE r.workflow_id = w.id AND r.branch_id = b.id)
         ORDER BY repos.fullname, w.name COLLATE NOCASE, w.id, b.name
         LIMIT {MAX_PROJECTS}",
        conditions.join(" AND ")
    );
    let mut stmt = conn.prepare(&sql)?;
    let pairs = stmt
        .query_map(rusqlite::params_from_iter(params), |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
                row.get(5)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(pairs)
}

/// The projects for `filter` (repositories, branches, workflows): on watched branches unless
/// branches are named, sorted by repository, workflow, branch.
///
/// # Errors
/// On a database error.
pub fn projects(
    conn: &Connection,
    filter: &RunFilter,
    watched: &WatchedBranches,
) -> Result<Vec<Project>> {
    let pairs = pairs(conn, filter, watched)?;
    let neutral = &*NEUTRAL_SQL;
    let mut decisive = conn.prepare_cached(&format!(
        "{RUN_SELECT} WHERE r.workflow_id = ?1 AND r.branch_id = ?2 AND {RUN_DONE_SQL}
           AND r.conclusion IS NOT NULL AND r.conclusion NOT IN ({neutral})
         ORDER BY r.createtime DESC, r.id DESC LIMIT 1"
    ))?;
    let mut latest = conn.prepare_cached(&format!(
        "{RUN_SELECT} WHERE r.workflow_id = ?1 AND r.branch_id = ?2
         ORDER BY r.createtime DESC, r.id DESC LIMIT 1"
    ))?;
    let mut projects = Vec::with_capacity(pairs.len());
    for (workflow_id, branch_id, repo, workflow, branch, default_branch) in pairs {
        let latest = latest
            .query_row((workflow_id, branch_id), run_from_row)
            .optional()?;
        let decisive = decisive
            .query_row((workflow_id, branch_id), run_from_row)
            .optional()?;
        projects.push(Project {
            building: latest
                .as_ref()
                .is_some_and(|b| b.status != Status::Completed),
            repo,
            workflow,
            branch,
            default_branch,
            decisive,
            latest,
        });
    }
    Ok(projects)
}
