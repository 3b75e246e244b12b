//! Runners and their queues, from `workflow_job` deliveries (`labels`, `runner_name`): per label
//! set, the jobs waiting for a runner, the jobs running and the longest wait now. Read by
//! `GET /api/runners`, the Runners view and the Wall's queue tiles.

use std::collections::BTreeMap;

use rusqlite::Connection;
use serde::Serialize;

use super::Result;
use crate::run_state::Status;

/// Jobs created longer ago than this and still not completed are taken as lost deliveries, not
/// as waiting: a queue never shows a wait longer than this.
pub const STALE_JOB_S: i64 = 24 * 3600;

/// The jobs of one label set (`runs-on`) not yet completed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Queue {
    /// As the newest of its jobs gave them; `[gpu, self-hosted]` and `[self-hosted, gpu]` are one
    /// queue.
    pub labels: Vec<String>,
    /// Jobs queued or waiting for a runner.
    pub queued: i64,
    /// Jobs a runner has taken.
    pub running: i64,
    /// Seconds the longest-waiting queued job has waited; 0 when none waits.
    pub longest_wait_s: i64,
    /// The runners busy with this label set's jobs, by name.
    pub busy_runners: Vec<String>,
}

impl Queue {
    /// "self-hosted, gpu".
    pub fn label_text(&self) -> String {
        self.labels.join(", ")
    }

    /// Do jobs wait for a runner, the longest for at least `threshold_s` seconds? (The Wall's
    /// tile and the queue notifications.)
    pub fn waits_over(&self, threshold_s: i64) -> bool {
        self.queued > 0 && self.longest_wait_s >= threshold_s
    }

    /// The label set sorted and without repeats, as JSON: one key for one queue.
    pub fn label_key(&self) -> String {
        let mut key = self.labels.clone();
        key.sort();
        key.dedup();
        serde_json::to_string(&key).expect("strings serialise")
    }
}

/// Every label set with a job queued or running in a monitored repository, the longest wait
/// first. `now` is epoch seconds.
///
/// # Errors
/// On a database error.
pub fn queues(conn: &Connection, now: i64) -> Result<Vec<Queue>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT j.labels, j.statusrank, j.createtime, j.runnername
         FROM workflowjobs j JOIN repos p ON p.id = j.repo_id
         WHERE j.statusrank < {completed} AND j.createtime >= ?1 AND p.monitored = 1
         ORDER BY j.createtime DESC",
        completed = Status::COMPLETED_RANK,
    ))?;
    let rows = stmt.query_map([now - STALE_JOB_S], |row| {
        Ok((
            row.get::<_, Option<String>>(0)?,
            row.get::<_, i64>(1)?,
            row.get::<_, Option<i64>>(2)?,
            row.get::<_, Option<String>>(3)?,
        ))
    })?;
    let mut by_labels: BTreeMap<Vec<String>, Queue> = BTreeMap::new();
    for row in rows {
        let (labels, rank, created, runner) = row?;
        let labels: Vec<String> = labels
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        let mut key = labels.clone();
        key.sort();
        key.dedup();
        let queue = by_labels.entry(key).or_insert_with(|| Queue {
            labels,
            queued: 0,
            running: 0,
            longest_wait_s: 0,
            busy_runners: Vec::new(),
        });
        if rank >= Status::IN_PROGRESS_RANK {
            queue.running += 1;
            if let Some(runner) = runner.filter(|r| !queue.busy_runners.contains(r)) {
                queue.busy_runners.push(runner);
            }
        } else {
            queue.queued += 1;
            let waited = created.map_or(0, |created| (now - created).max(0));
            queue.longest_wait_s = queue.longest_wait_s.max(waited);
        }
    }
    let mut queues: Vec<Queue> = by_labels.into_values().collect();
    queues.sort_by(|a, b| {
        b.longest_wait_s
            .cmp(&a.longest_wait_s)
            .then(b.queued.cmp(&a.queued))
    });
    Ok(queues)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_are_grouped_by_label_set_with_the_longest_wait() {
        // Arrange
        let conn = crate::store::memory_db();
        conn.execute(
            "INSERT INTO repos (id, fullname, createtime) VALUES (1, 'o/r', 0)",
            [],
        )
        .unwrap();
        let now = 100_000;
        for (id, labels, rank, created, runner) in [
            (1, r#"["self-hosted","gpu"]"#, 1, now - 840, None),
            (2, r#"["gpu","self-hosted"]"#, 1, now - 60, None),
            (3, r#"["gpu","self-hosted"]"#, 2, now - 900, Some("gpu-1")),
            (
                4,
                r#"["ubuntu-latest"]"#,
                2,
                now - 30,
                Some("GitHub Actions 5"),
            ),
            (
                5,
                r#"["ubuntu-latest"]"#,
                3,
                now - 30,
                Some("GitHub Actions 6"),
            ),
            (6, r#"["ubuntu-latest"]"#, 1, now - STALE_JOB_S - 1, None),
        ] {
            conn.execute(
                "INSERT INTO workflowjobs (id, run_id, repo_id, runattempt, name, status, statusrank,
                                           createtime, runnername, labels)
                 VALUES (?1, 1, 1, 1, 'j', 'x', ?2, ?3, ?4, ?5)",
                (id, rank, created, runner, labels),
            )
            .unwrap();
        }

        // Act
        let queues = queues(&conn, now).unwrap();

        // Assert
        assert_eq!(queues.len(), 2);
        assert_eq!(
            queues[0].labels,
            ["gpu", "self-hosted"],
            "as the newest job gave them"
        );
        assert_eq!((queues[0].queued, queues[0].running), (2, 1));
        assert_eq!(queues[0].longest_wait_s, 840);
        assert_eq!(queues[0].busy_runners, ["gpu-1"]);
        assert_eq!(queues[1].labels, ["ubuntu-latest"]);
        assert_eq!((queues[1].queued, queues[1].running), (0, 1));
        assert_eq!(queues[1].longest_wait_s, 0);
    }
}
