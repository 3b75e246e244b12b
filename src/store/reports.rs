//! Writes the runs of sources other than GitHub Actions ([`Report`]s: check runs, commit
//! statuses) with the rules every source shares; see [`crate::source`] for the boundary.
//!
//! A report's pipeline is a `workflows` row and its run a `workflowruns` row, so every read of the
//! board, the API and triage sees them like workflow runs. Their ids are derived from their keys
//! ([`derived_id`]): negative, so they never meet GitHub's own workflow and run ids.

use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};

use super::attempts::Attempt;
use super::model::Change;
use super::{read, Result};
use crate::run_state::Status;
use crate::source::{Report, Source};

/// A stable negative id for the row keyed by `parts`.
pub fn derived_id(parts: &[&str]) -> i64 {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    let bytes: [u8; 8] = digest[..8]
        .try_into()
        .expect("a SHA-256 digest has 8 bytes");
    -i64::try_from(u64::from_be_bytes(bytes) >> 2).expect("62 bits fit an i64") - 1
}

/// The ids of the pipeline and of the run a report is about.
pub fn ids(report: &Report) -> (i64, i64) {
    let pipeline = derived_id(&[&report.repository.id.to_string(), &report.key]);
    let run = derived_id(&[&pipeline.to_string(), &report.sha]);
    (pipeline, run)
}

/// The run of a report, unless the stored one is newer (by attempt, status rank, update time).
const UPSERT_RUN: &str = "INSERT INTO workflowruns (id, repo_id, workflow_id, commit_id, branch_id, archivedworkflowname,
             runnumber, runattempt, event, headsha, status, statusrank, conclusion, url,
             createtime, starttime, updatetime, endtime, runtime)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
         ON CONFLICT (id) DO UPDATE SET
             branch_id = COALESCE(excluded.branch_id, branch_id),
             archivedworkflowname = excluded.archivedworkflowname,
             runattempt = excluded.runattempt, status = excluded.status,
             statusrank = excluded.statusrank, conclusion = excluded.conclusion,
             url = COALESCE(excluded.url, url), createtime = MIN(createtime, excluded.createtime),
             starttime = COALESCE(excluded.starttime, starttime), updatetime = excluded.updatetime,
             endtime = excluded.endtime, runtime = excluded.runtime
         WHERE (excluded.runattempt, excluded.statusrank, COALESCE(excluded.updatetime, 0))
            >= (workflowruns.runattempt, workflowruns.statusrank, COALESCE(workflowruns.updatetime, 0))";

/// Stores `report` unless what is stored is newer, returning the changes to publish. Its commit
/// is row `commit_id`, and its branch row `branch_id` when the report names one (the writer
/// stores both as it does for every source; see `write::apply_event`).
///
/// # Errors
/// On a database error; the caller rolls back.
pub fn apply_report(
    conn: &Connection,
    report: &Report,
    commit_id: i64,
    branch_id: Option<i64>,
) -> Result<Vec<Change>> {
    let repo = &report.repository;
    let (pipeline_id, run_id) = ids(report);
    upsert_pipeline(conn, report, pipeline_id)?;
    let branch_id = match branch_id {
        Some(id) => Some(id),
        None => branch_of_commit(conn, commit_id)?,
    };
    let attempt = attempt(conn, run_id, report)?;
    let rank = report.status.rank();
    let conclusion = report.conclusion.as_ref();
    let created = report
        .started
        .unwrap_or(report.updated)
        .min(report.updated.max(1));
    let runtime = match (report.started, report.completed) {
        (Some(start), Some(end)) => Some((end - start).max(0)),
        _ => None,
    };
    let event = match report.source {
        Source::Check => "check_run",
        Source::Status | Source::Actions => "status",
    };
    let changed = conn.prepare_cached(UPSERT_RUN)?.execute(params![
        run_id,
        repo.id,
        pipeline_id,
        commit_id,
        branch_id,
        report.pipeline,
        attempt,
        event,
        report.sha,
        report.status,
        rank,
        conclusion,
        report.url,
        created,
        report.started,
        report.updated,
        report.completed,
        runtime
    ])? == 1;
    super::attempts::upsert(
        conn,
        &Attempt {
            run_id,
            attempt,
            status: report.status,
            conclusion,
            started: report.started,
            updated: Some(report.updated),
        },
    )?;
    if let Some(check_id) = report.attempt_id {
        record_check_run(conn, check_id, run_id, attempt)?;
    }
    let mut changes = Vec::new();
    if changed {
        if let Some(run) = read::run(conn, run_id)? {
            changes.push(Change::Run { run });
        }
    }
    Ok(changes)
}

/// The report's pipeline, as a workflow row of its source.
fn upsert_pipeline(conn: &Connection, report: &Report, pipeline_id: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO workflows (id, repo_id, name, path, source, provider) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, provider = excluded.provider
         WHERE name IS NOT excluded.name OR provider IS NOT excluded.provider",
    )?
    .execute(params![
        pipeline_id,
        report.repository.id,
        report.pipeline,
        report.key,
        report.source.as_str(),
        report.provider
    ])?;
    Ok(())
}

/// The branch of the commit's known runs, if any.
fn branch_of_commit(conn: &Connection, commit_id: i64) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached(
            "SELECT branch_id FROM workflowruns
             WHERE commit_id = ?1 AND branch_id IS NOT NULL LIMIT 1",
        )?
        .query_row([commit_id], |row| row.get::<_, i64>(0))
        .optional()?)
}

/// Which run and attempt check run `check_id` is.
fn record_check_run(conn: &Connection, check_id: i64, run_id: i64, attempt: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO checkruns (id, run_id, attempt) VALUES (?1, ?2, ?3)
         ON CONFLICT (id) DO UPDATE SET attempt = excluded.attempt WHERE attempt <> excluded.attempt",
    )?
    .execute(params![check_id, run_id, attempt])?;
    Ok(())
}

/// The attempt `report` belongs to. A check run keeps the attempt it was first seen as; a new
/// check run of the same check and commit, or a re-request, starts the next one. A commit status
/// that goes back to pending after a result (newer than it) starts the next one.
fn attempt(conn: &Connection, run_id: i64, report: &Report) -> Result<i64> {
    let stored: Option<(i64, i64, i64)> = conn
        .prepare_cached(
            "SELECT runattempt, statusrank, COALESCE(updatetime, 0) FROM workflowruns WHERE id = ?1",
        )?
        .query_row([run_id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .optional()?;
    let latest = stored.map_or(0, |(attempt, _, _)| attempt);
    if let Some(check_id) = report.attempt_id {
        let seen: Option<i64> = conn
            .prepare_cached("SELECT attempt FROM checkruns WHERE id = ?1")?
            .query_row([check_id], |row| row.get(0))
            .optional()?;
        let highest: i64 = conn
            .prepare_cached("SELECT COALESCE(MAX(attempt), 0) FROM checkruns WHERE run_id = ?1")?
            .query_row([run_id], |row| row.get(0))?;
        return Ok(match seen {
            Some(_) if report.rerequested => highest.max(latest) + 1,
            Some(attempt) => attempt,
            None => highest.max(latest) + 1,
        });
    }
    Ok(match stored {
        Some((attempt, rank, updated))
            if rank == Status::COMPLETED_RANK
                && !report.status.is_done()
                && report.updated > updated =>
        {
            attempt + 1
        }
        Some((attempt, _, _)) => attempt,
        None => 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_negative_stable_and_tell_keys_apart() {
        let a = derived_id(&["1", "check:5:build"]);
        assert!(a < 0);
        assert_eq!(a, derived_id(&["1", "check:5:build"]));
        assert_ne!(a, derived_id(&["1", "check:5:lint"]));
        assert_ne!(derived_id(&["1", "ab"]), derived_id(&["1a", "b"]));
    }
}
