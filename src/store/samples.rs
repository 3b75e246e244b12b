//! Runner telemetry: the samples a job posts about itself (`POST /api/metrics`), one row per
//! sample in `jobsamples`, keyed (job, time). CPU percentages are kept in hundredths and every
//! other figure as an integer, so a sample takes about 40 bytes; fields the wire contract does
//! not name are kept as JSON in `extra`, only when present.

use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;
use serde_json::{Map, Value};

use super::Result;
use crate::run_state::Status;

/// One sample, as stored and as `GET /api/jobs/<id>/metrics` returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    /// Epoch seconds.
    pub t: i64,
    pub cpu_user: Option<f64>,
    pub cpu_system: Option<f64>,
    pub mem_used: Option<i64>,
    pub mem_total: Option<i64>,
    pub disk_read: Option<i64>,
    pub disk_write: Option<i64>,
    pub net_rx: Option<i64>,
    pub net_tx: Option<i64>,
    /// Fields beyond these, as posted.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The job a token names, as stored: what the samples may be tied to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobState {
    pub run_id: i64,
    pub repo_id: i64,
    pub run_attempt: i64,
    pub status_rank: i64,
    pub created: Option<i64>,
    pub ended: Option<i64>,
    /// Whether its repository is monitored.
    pub monitored: bool,
}

impl JobState {
    /// Whether the job is still running or queued.
    pub fn running(&self) -> bool {
        self.status_rank < Status::COMPLETED_RANK
    }
}

/// Job `job_id` as stored, or `None`.
///
/// # Errors
/// On a database error.
pub fn job_state(conn: &Connection, job_id: i64) -> Result<Option<JobState>> {
    Ok(conn
        .prepare_cached(
            "SELECT j.run_id, j.repo_id, j.runattempt, j.statusrank, j.createtime, j.endtime,
                    p.monitored
             FROM workflowjobs j JOIN repos p ON p.id = j.repo_id WHERE j.id = ?1",
        )?
        .query_row([job_id], |row| {
            Ok(JobState {
                run_id: row.get(0)?,
                repo_id: row.get(1)?,
                run_attempt: row.get(2)?,
                status_rank: row.get(3)?,
                created: row.get(4)?,
                ended: row.get(5)?,
                monitored: row.get::<_, i64>(6)? != 0,
            })
        })
        .optional()?)
}

/// Samples stored for job `job_id`.
///
/// # Errors
/// On a database error.
pub fn count(conn: &Connection, job_id: i64) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT COUNT(*) FROM jobsamples WHERE job_id = ?1")?
        .query_row([job_id], |row| row.get(0))?)
}

fn hundredths(percent: Option<f64>) -> Option<i64> {
    percent.map(|p| (p * 100.0).round() as i64)
}

/// Stores `samples` of job `job_id`; a sample at a time already stored is kept as it was.
/// Returns how many were new.
///
/// # Errors
/// On a database error.
pub fn insert(conn: &Connection, job_id: i64, samples: &[Sample]) -> Result<usize> {
    let mut stmt = conn.prepare_cached(
        "INSERT OR IGNORE INTO jobsamples (job_id, t, cpu_user, cpu_system, mem_used, mem_total,
                                           disk_read, disk_write, net_rx, net_tx, extra)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?;
    let mut stored = 0;
    for s in samples {
        let extra = (!s.extra.is_empty())
            .then(|| serde_json::to_string(&s.extra).expect("a JSON map serialises"));
        stored += stmt.execute(rusqlite::params![
            job_id,
            s.t,
            hundredths(s.cpu_user),
            hundredths(s.cpu_system),
            s.mem_used,
            s.mem_total,
            s.disk_read,
            s.disk_write,
            s.net_rx,
            s.net_tx,
            extra
        ])?;
    }
    Ok(stored)
}

/// Job `job_id`'s samples in time order.
///
/// # Errors
/// On a database error.
pub fn for_job(conn: &Connection, job_id: i64) -> Result<Vec<Sample>> {
    let mut stmt = conn.prepare_cached(
        "SELECT t, cpu_user, cpu_system, mem_used, mem_total, disk_read, disk_write, net_rx,
                net_tx, extra
         FROM jobsamples WHERE job_id = ?1 ORDER BY t",
    )?;
    let rows = stmt
        .query_map([job_id], |row| {
            let extra: Option<String> = row.get(9)?;
            Ok(Sample {
                t: row.get(0)?,
                cpu_user: row.get::<_, Option<i64>>(1)?.map(|v| v as f64 / 100.0),
                cpu_system: row.get::<_, Option<i64>>(2)?.map(|v| v as f64 / 100.0),
                mem_used: row.get(3)?,
                mem_total: row.get(4)?,
                disk_read: row.get(5)?,
                disk_write: row.get(6)?,
                net_rx: row.get(7)?,
                net_tx: row.get(8)?,
                extra: extra
                    .and_then(|text| serde_json::from_str(&text).ok())
                    .unwrap_or_default(),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Downsamples samples older than `before` (epoch seconds) to one a minute: of each job's
/// samples within one minute, the first is kept. Older jobs keep their shape rather than being
/// dropped whole. Returns the rows deleted.
///
/// # Errors
/// On a database error.
pub fn downsample(conn: &Connection, before: i64) -> Result<usize> {
    Ok(conn.execute(
        "DELETE FROM jobsamples WHERE t < ?1 AND EXISTS (
             SELECT 1 FROM jobsamples e
             WHERE e.job_id = jobsamples.job_id AND e.t / 60 = jobsamples.t / 60
               AND e.t < jobsamples.t)",
        [before],
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t: i64) -> Sample {
        Sample {
            t,
            cpu_user: Some(12.34),
            cpu_system: Some(1.5),
            mem_used: Some(7_800_000_000),
            mem_total: Some(8_000_000_000),
            disk_read: Some(1),
            disk_write: Some(2),
            net_rx: Some(3),
            net_tx: Some(4),
            extra: Map::new(),
        }
    }

    #[test]
    fn samples_round_trip_and_old_ones_are_downsampled_to_one_a_minute() {
        // Arrange
        let conn = crate::store::memory_db();
        let mut with_extra = sample(6000);
        with_extra.extra.insert("gpu".into(), serde_json::json!(55));
        let old: Vec<Sample> = (0..120).step_by(5).map(|t| sample(6000 + t)).collect();
        let recent: Vec<Sample> = (0..60).step_by(5).map(|t| sample(9000 + t)).collect();

        // Act
        assert_eq!(insert(&conn, 1, &[with_extra]).unwrap(), 1);
        assert_eq!(
            insert(&conn, 1, &old).unwrap(),
            23,
            "t = 6000 was stored already"
        );
        insert(&conn, 1, &recent).unwrap();
        let deleted = downsample(&conn, 8000).unwrap();

        // Assert
        let kept = for_job(&conn, 1).unwrap();
        assert_eq!(deleted, 24 - 2);
        assert_eq!(kept.len(), 2 + 12);
        assert_eq!(kept[0].t, 6000);
        assert_eq!(kept[0].extra["gpu"], 55);
        assert_eq!(kept[0].cpu_user, Some(12.34));
        assert_eq!(kept[1].t, 6060);
        assert!(kept[2..].iter().all(|s| s.t >= 9000));
        assert!(kept[1].extra.is_empty());
    }
}
