//! Runner telemetry: the samples a job posts about itself (`POST /api/metrics`), one row per
//! sample in `jobsamples`, keyed (job, time). CPU percentages are kept in hundredths and every
//! other figure as an integer; fields the wire contract does not name are kept as JSON in
//! `extra`, only when present. So that a sample takes under 64 bytes on disk, losslessly (schema
//! version 9):
//! - `mem_total` is stored only when it differs from the job's previous sample's (by time); a
//!   NULL repeats the last stored one, so a sample posted without a total reads back with the
//!   last total known before it (or none, when no earlier sample had one);
//! - the four cumulative counters are stored as the difference from the job's previous sample
//!   that carried the counter (wrapping, so any value comes back exactly); reading sums them in
//!   time order, and a sample that did not post a counter reads back without it;
//! - `jobsampletails` keeps each job's latest sample's cumulative values and its sample count, so
//!   a sample appended after the job's latest needs no scan. A sample older than the job's latest
//!   (a retried post) sums the job's earlier rows and adjusts the row after it.
//!
//! Every write of `jobsamples` goes through this module, which keeps `jobsampletails` in step.

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

impl Sample {
    /// A sample at time `t` with no figures.
    pub fn at(t: i64) -> Self {
        Sample {
            t,
            cpu_user: None,
            cpu_system: None,
            mem_used: None,
            mem_total: None,
            disk_read: None,
            disk_write: None,
            net_rx: None,
            net_tx: None,
            extra: Map::new(),
        }
    }
}

/// The job a token names, as stored: what the samples may be tied to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
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
    super::rows::one(
        conn,
        "SELECT j.run_id, j.repo_id, j.runattempt AS run_attempt, j.statusrank AS status_rank,
                j.createtime AS created, j.endtime AS ended, p.monitored != 0 AS monitored
         FROM workflowjobs j JOIN repos p ON p.id = j.repo_id WHERE j.id = ?1",
        [job_id],
    )
}

/// The counters stored as differences, in column order.
const COUNTERS: [&str; 4] = ["disk_read", "disk_write", "net_rx", "net_tx"];

/// The stored form of a sample's memory total and counters (see the module doc).
type Stored = ([Option<i64>; 4], Option<i64>);

/// The cumulative state after a job's samples up to some time: each counter's value at the
/// latest sample that carried it, and the total memory carried forward.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Running {
    counters: [Option<i64>; 4],
    mem_total: Option<i64>,
}

impl Running {
    /// Moves past a row that stores `stored`.
    fn add(&mut self, (counters, mem_total): Stored) {
        for (sum, diff) in self.counters.iter_mut().zip(counters) {
            if let Some(diff) = diff {
                *sum = Some(sum.unwrap_or(0).wrapping_add(diff));
            }
        }
        self.mem_total = mem_total.or(self.mem_total);
    }

    /// How sample `s` is stored right after this state.
    fn encode(&self, s: &Sample) -> Stored {
        let mut counters = posted_counters(s);
        for (value, base) in counters.iter_mut().zip(self.counters) {
            *value = value.map(|v| v.wrapping_sub(base.unwrap_or(0)));
        }
        (counters, s.mem_total.filter(|&m| Some(m) != self.mem_total))
    }
}

fn posted_counters(s: &Sample) -> [Option<i64>; 4] {
    [s.disk_read, s.disk_write, s.net_rx, s.net_tx]
}

/// A job's row of `jobsampletails`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tail {
    t: i64,
    samples: i64,
    state: Running,
}

fn tail(conn: &Connection, job_id: i64) -> Result<Option<Tail>> {
    Ok(conn
        .prepare_cached(
            "SELECT t, samples, disk_read, disk_write, net_rx, net_tx, mem_total
             FROM jobsampletails WHERE job_id = ?1",
        )?
        .query_row([job_id], |row| {
            Ok(Tail {
                t: row.get(0)?,
                samples: row.get(1)?,
                state: Running {
                    counters: [row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?],
                    mem_total: row.get(6)?,
                },
            })
        })
        .optional()?)
}

fn put_tail(conn: &Connection, job_id: i64, tail: &Tail) -> Result<()> {
    let [disk_read, disk_write, net_rx, net_tx] = tail.state.counters;
    conn.prepare_cached(
        "INSERT OR REPLACE INTO jobsampletails
             (job_id, t, samples, disk_read, disk_write, net_rx, net_tx, mem_total)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(rusqlite::params![
        job_id,
        tail.t,
        tail.samples,
        disk_read,
        disk_write,
        net_rx,
        net_tx,
        tail.state.mem_total
    ])?;
    Ok(())
}

/// Samples stored for job `job_id` (a point read of its tail).
///
/// # Errors
/// On a database error.
pub fn count(conn: &Connection, job_id: i64) -> Result<i64> {
    Ok(tail(conn, job_id)?.map_or(0, |tail| tail.samples))
}

fn hundredths(percent: Option<f64>) -> Option<i64> {
    percent.map(|p| (p * 100.0).round() as i64)
}

/// Stores `samples` of job `job_id`, in time order (a sample at a time already stored is kept as
/// it was, as is the first of several at one time). Returns how many were new.
///
/// # Errors
/// On a database error.
pub fn insert(conn: &Connection, job_id: i64, samples: &[Sample]) -> Result<usize> {
    let mut sorted: Vec<&Sample> = samples.iter().collect();
    sorted.sort_by_key(|s| s.t);
    let old = tail(conn, job_id)?;
    let mut latest = old;
    let mut scan = Scan::default();
    let mut stored = 0;
    for s in sorted {
        let new = match &mut latest {
            Some(tail) if s.t == tail.t => false,
            Some(tail) if s.t < tail.t => insert_earlier(conn, job_id, s, tail, &mut scan)?,
            _ => append(conn, job_id, s, &mut latest)?,
        };
        stored += usize::from(new);
    }
    if let Some(tail) = latest.filter(|tail| Some(*tail) != old) {
        put_tail(conn, job_id, &tail)?;
    }
    Ok(stored)
}

/// Writes sample `s`'s row, stored as `stored`, unless one is there at its time; whether it was new.
fn write_row(conn: &Connection, job_id: i64, s: &Sample, stored: Stored) -> Result<bool> {
    let ([disk_read, disk_write, net_rx, net_tx], mem_total) = stored;
    let extra = (!s.extra.is_empty())
        .then(|| serde_json::to_string(&s.extra).expect("a JSON map serialises"));
    let written = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO jobsamples (job_id, t, cpu_user, cpu_system, mem_used, mem_total,
                                               disk_read, disk_write, net_rx, net_tx, extra)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?
        .execute(rusqlite::params![
            job_id,
            s.t,
            hundredths(s.cpu_user),
            hundredths(s.cpu_system),
            s.mem_used,
            mem_total,
            disk_read,
            disk_write,
            net_rx,
            net_tx,
            extra
        ])?;
    Ok(written == 1)
}

/// Stores `s`, later than the job's latest sample (or its first), and moves `latest` to it.
fn append(conn: &Connection, job_id: i64, s: &Sample, latest: &mut Option<Tail>) -> Result<bool> {
    let (samples, mut state) = latest.map_or((0, Running::default()), |t| (t.samples, t.state));
    let stored = state.encode(s);
    if !write_row(conn, job_id, s, stored)? {
        return Ok(false);
    }
    state.add(stored);
    *latest = Some(Tail {
        t: s.t,
        samples: samples + 1,
        state,
    });
    Ok(true)
}

/// Stores `s`, earlier than the job's latest sample (`tail`): from the sum of the job's earlier
/// rows (`scan`, which goes on from the batch's previous earlier sample), then the rows after it
/// are adjusted so that they read back as before.
fn insert_earlier(
    conn: &Connection,
    job_id: i64,
    s: &Sample,
    tail: &mut Tail,
    scan: &mut Scan,
) -> Result<bool> {
    let exists = conn
        .prepare_cached("SELECT 1 FROM jobsamples WHERE job_id = ?1 AND t = ?2")?
        .exists([job_id, s.t])?;
    if exists {
        return Ok(false);
    }
    scan.sum_until(conn, job_id, s.t)?;
    let before = scan.state;
    let stored = before.encode(s);
    write_row(conn, job_id, s, stored)?;
    // The rows after `s` are adjusted below, before the scan reaches them.
    scan.state.add(stored);
    scan.until = s.t + 1;
    tail.samples += 1;
    for (i, (diff, column)) in stored.0.into_iter().zip(COUNTERS).enumerate() {
        let Some(diff) = diff else { continue };
        // The next row with this counter was stored relative to `before`: now relative to `s`.
        let next: Option<(i64, i64)> = conn
            .prepare_cached(&format!(
                "SELECT t, {column} FROM jobsamples
                 WHERE job_id = ?1 AND t > ?2 AND {column} IS NOT NULL ORDER BY t LIMIT 1"
            ))?
            .query_row([job_id, s.t], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        match next {
            Some((t, old)) => {
                conn.prepare_cached(&format!(
                    "UPDATE jobsamples SET {column} = ?3 WHERE job_id = ?1 AND t = ?2"
                ))?
                .execute([job_id, t, old.wrapping_sub(diff)])?;
            }
            None => tail.state.counters[i] = posted_counters(s)[i],
        }
    }
    if stored.1.is_some() && before.mem_total.is_some() {
        // The row after `s`, if it repeated the total before `s`, now names it.
        conn.prepare_cached(
            "UPDATE jobsamples SET mem_total = ?3
             WHERE job_id = ?1 AND mem_total IS NULL
               AND t = (SELECT MIN(t) FROM jobsamples WHERE job_id = ?1 AND t > ?2)",
        )?
        .execute([Some(job_id), Some(s.t), before.mem_total])?;
    }
    if tail.state.mem_total.is_none() {
        tail.state.mem_total = s.mem_total;
    }
    Ok(true)
}

/// A scan of a job's rows in time order: the state after every row before `until`.
#[derive(Debug, Clone, Copy)]
struct Scan {
    until: i64,
    state: Running,
}

impl Default for Scan {
    fn default() -> Self {
        Scan {
            until: i64::MIN,
            state: Running::default(),
        }
    }
}

impl Scan {
    /// Goes on over job `job_id`'s rows up to (not including) time `t`, which is not before
    /// `until`: one scan of the job's rows for a whole batch.
    fn sum_until(&mut self, conn: &Connection, job_id: i64, t: i64) -> Result<()> {
        debug_assert!(self.until <= t, "a batch is inserted in time order");
        let mut stmt = conn.prepare_cached(
            "SELECT disk_read, disk_write, net_rx, net_tx, mem_total
             FROM jobsamples WHERE job_id = ?1 AND t >= ?2 AND t < ?3 ORDER BY t",
        )?;
        let mut rows = stmt.query([job_id, self.until, t])?;
        while let Some(row) = rows.next()? {
            self.state.add(stored_of(row, 0)?);
        }
        self.until = t;
        Ok(())
    }
}

/// The stored counters and memory total in `row`'s columns from `first` on (the table's order).
fn stored_of(row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<Stored> {
    Ok((
        [
            row.get(first)?,
            row.get(first + 1)?,
            row.get(first + 2)?,
            row.get(first + 3)?,
        ],
        row.get(first + 4)?,
    ))
}

/// Job `job_id`'s samples in time order, as posted (see the module doc for `mem_total`).
///
/// # Errors
/// On a database error.
pub fn for_job(conn: &Connection, job_id: i64) -> Result<Vec<Sample>> {
    let mut stmt = conn.prepare_cached(
        "SELECT t, cpu_user, cpu_system, mem_used, extra, disk_read, disk_write, net_rx, net_tx,
                mem_total
         FROM jobsamples WHERE job_id = ?1 ORDER BY t",
    )?;
    let mut rows = stmt.query([job_id])?;
    let mut state = Running::default();
    let mut samples = Vec::new();
    while let Some(row) = rows.next()? {
        let stored = stored_of(row, 5)?;
        state.add(stored);
        // A counter the sample did not post stays None; the others are their running sums.
        let [disk_read, disk_write, net_rx, net_tx]: [Option<i64>; 4] =
            std::array::from_fn(|i| stored.0[i].and(state.counters[i]));
        let extra: Option<String> = row.get(4)?;
        samples.push(Sample {
            t: row.get(0)?,
            cpu_user: row.get::<_, Option<i64>>(1)?.map(|v| v as f64 / 100.0),
            cpu_system: row.get::<_, Option<i64>>(2)?.map(|v| v as f64 / 100.0),
            mem_used: row.get(3)?,
            mem_total: state.mem_total,
            disk_read,
            disk_write,
            net_rx,
            net_tx,
            extra: extra
                .and_then(|text| serde_json::from_str(&text).ok())
                .unwrap_or_default(),
        });
    }
    Ok(samples)
}

/// Deletes job `job_id`'s samples and its tail (its run is deleted by retention). Returns the
/// samples deleted.
///
/// # Errors
/// On a database error.
pub fn delete_job(conn: &Connection, job_id: i64) -> Result<usize> {
    conn.prepare_cached("DELETE FROM jobsampletails WHERE job_id = ?1")?
        .execute([job_id])?;
    Ok(conn
        .prepare_cached("DELETE FROM jobsamples WHERE job_id = ?1")?
        .execute([job_id])?)
}

/// Downsamples samples older than `before` (epoch seconds) to one a minute: of each job's
/// samples within one minute, the first is kept. Older jobs keep their shape rather than being
/// dropped whole. The kept samples read back as they did (a deleted sample's counter differences
/// and memory total pass to the next kept one) and the jobs' tails are rewritten. Returns the
/// rows deleted.
///
/// # Errors
/// On a database error.
pub fn downsample(conn: &Connection, before: i64) -> Result<usize> {
    let jobs: Vec<i64> = conn
        .prepare_cached(
            "SELECT DISTINCT job_id FROM (
                 SELECT job_id, t, LAG(t) OVER (PARTITION BY job_id ORDER BY t) AS previous
                 FROM jobsamples WHERE t < ?1)
             WHERE previous / 60 = t / 60",
        )?
        .query_map([before], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut deleted = 0;
    for job_id in jobs {
        deleted += downsample_job(conn, job_id, before)?;
    }
    Ok(deleted)
}

/// [`downsample`] for job `job_id`: one pass over its rows in time order, which deletes the
/// samples after the first of their minute and restates the kept rows after them.
fn downsample_job(conn: &Connection, job_id: i64, before: i64) -> Result<usize> {
    let rows: Vec<(i64, Stored)> = conn
        .prepare_cached(
            "SELECT t, disk_read, disk_write, net_rx, net_tx, mem_total
             FROM jobsamples WHERE job_id = ?1 ORDER BY t",
        )?
        .query_map([job_id], |row| Ok((row.get(0)?, stored_of(row, 1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut delete = conn.prepare_cached("DELETE FROM jobsamples WHERE job_id = ?1 AND t = ?2")?;
    let mut restate = conn.prepare_cached(
        "UPDATE jobsamples SET disk_read = ?3, disk_write = ?4, net_rx = ?5, net_tx = ?6,
                               mem_total = ?7
         WHERE job_id = ?1 AND t = ?2",
    )?;
    // `posted`: the state after every row so far; `kept`: after the kept rows, as restated.
    let (mut posted, mut kept) = (Running::default(), Running::default());
    let mut tail = Tail {
        t: 0,
        samples: 0,
        state: Running::default(),
    };
    let (mut deleted, mut minute) = (0, None);
    for (t, stored) in rows {
        posted.add(stored);
        if t < before && minute.replace(t / 60) == Some(t / 60) {
            delete.execute([job_id, t])?;
            deleted += 1;
            continue;
        }
        let mut own = Sample::at(t);
        [own.disk_read, own.disk_write, own.net_rx, own.net_tx] =
            std::array::from_fn(|i| stored.0[i].and(posted.counters[i]));
        own.mem_total = posted.mem_total;
        let restated = kept.encode(&own);
        if restated != stored {
            let ([disk_read, disk_write, net_rx, net_tx], mem_total) = restated;
            restate.execute(rusqlite::params![
                job_id, t, disk_read, disk_write, net_rx, net_tx, mem_total
            ])?;
        }
        kept.add(restated);
        tail = Tail {
            t,
            samples: tail.samples + 1,
            state: kept,
        };
    }
    if tail.samples > 0 {
        put_tail(conn, job_id, &tail)?;
    }
    Ok(deleted)
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

    /// A deterministic pseudo-random sequence (xorshift64*).
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
        }

        fn chance(&mut self, percent: u64) -> bool {
            self.below(100) < percent
        }
    }

    /// `n` samples of one job, every 1-9 s from `t0`: fields left out now and then, counters
    /// that grow and sometimes restart from zero (a sampler restart), a total that changes.
    fn random_samples(rng: &mut Rng, t0: i64, n: usize) -> Vec<Sample> {
        let mut counters = [0_i64; 4];
        let mut total = 8_000_000_000;
        let mut t = t0;
        (0..n)
            .map(|_| {
                t += 1 + rng.below(9) as i64;
                let mut s = Sample::at(t);
                s.cpu_user = (!rng.chance(10)).then(|| rng.below(10_000) as f64 / 100.0);
                s.mem_used = (!rng.chance(10)).then(|| rng.below(total as u64) as i64);
                if rng.chance(10) {
                    total = [8_000_000_000, 16_000_000_000, 4_000][rng.below(3) as usize];
                }
                s.mem_total = (!rng.chance(20)).then_some(total);
                for c in &mut counters {
                    *c = if rng.chance(3) {
                        0
                    } else {
                        *c + rng.below(50_000_000) as i64
                    };
                }
                let posted = counters.map(|c| (!rng.chance(15)).then_some(c));
                [s.disk_read, s.disk_write, s.net_rx, s.net_tx] = posted;
                s
            })
            .collect()
    }

    /// What reading `posted` (sorted by time, one per time) gives back when every sample's
    /// `mem_total` is known at write time: the last total posted at or before it.
    fn as_read(posted: &[Sample]) -> Vec<Sample> {
        let mut total = None;
        posted
            .iter()
            .map(|s| {
                total = s.mem_total.or(total);
                Sample {
                    mem_total: total,
                    ..s.clone()
                }
            })
            .collect()
    }

    /// The job's tail is what a scan of its rows gives.
    fn assert_tail_is_right(conn: &Connection, job_id: i64) {
        let rows = for_job(conn, job_id).unwrap();
        let tail = tail(conn, job_id)
            .unwrap()
            .expect("a job with samples has a tail");
        assert_eq!(tail.samples, rows.len() as i64);
        assert_eq!(count(conn, job_id).unwrap(), rows.len() as i64);
        assert_eq!(Some(tail.t), rows.last().map(|s| s.t));
        let mut scan = Scan::default();
        scan.sum_until(conn, job_id, i64::MAX).unwrap();
        assert_eq!(tail.state, scan.state);
        let last_posted = |f: fn(&Sample) -> Option<i64>| rows.iter().rev().find_map(f);
        assert_eq!(
            tail.state.counters,
            [
                last_posted(|s| s.disk_read),
                last_posted(|s| s.disk_write),
                last_posted(|s| s.net_rx),
                last_posted(|s| s.net_tx)
            ]
        );
    }

    #[test]
    fn appended_samples_read_back_exactly_as_posted_with_missing_fields_and_restarts() {
        // Arrange
        let conn = crate::store::memory_db();
        let mut posted: Vec<Sample> = (0..6).map(|i| sample(1000 + i * 5)).collect();
        posted[1].disk_read = None;
        posted[1].mem_total = None;
        posted[2].disk_read = Some(9_000_000_000_000);
        posted[3].disk_read = Some(0); // the sampler restarted: a negative difference
        posted[3].net_tx = None;
        posted[4].mem_total = Some(16_000_000_000);
        posted[5].mem_total = Some(8_000_000_000);
        posted[5].extra.insert("gpu".into(), serde_json::json!(3));

        // Act
        let stored =
            insert(&conn, 7, &posted[..3]).unwrap() + insert(&conn, 7, &posted[3..]).unwrap();

        // Assert
        assert_eq!(stored, 6);
        assert_eq!(for_job(&conn, 7).unwrap(), as_read(&posted));
        assert_eq!(
            for_job(&conn, 7).unwrap()[1].mem_total,
            Some(8_000_000_000),
            "carried forward"
        );
        assert_tail_is_right(&conn, 7);
        let (diff, total): (i64, Option<i64>) = conn
            .query_row(
                "SELECT disk_read, mem_total FROM jobsamples WHERE job_id = 7 AND t = 1015",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap();
        assert_eq!(
            (diff, total),
            (-9_000_000_000_000, None),
            "stored as a difference"
        );
    }

    #[test]
    fn samples_posted_out_of_order_or_twice_read_back_as_posted_in_time_order() {
        // Arrange: the job's later samples arrive first, then a retried post of earlier ones
        // (one of them already stored, with other values, which are ignored).
        let conn = crate::store::memory_db();
        let mut posted: Vec<Sample> = (0..8).map(|i| sample(2000 + i * 5)).collect();
        for (i, s) in posted.iter_mut().enumerate() {
            s.disk_read = Some(100 * i as i64);
            s.net_rx = (i % 3 != 1).then_some(7 * i as i64);
        }
        posted[2].mem_total = Some(4_000);
        posted[5].disk_write = None;
        posted[7].disk_write = None;
        let mut again = posted[6].clone();
        again.cpu_user = Some(99.0);

        // Act
        let late = insert(&conn, 9, &[posted[6].clone(), posted[7].clone()]).unwrap();
        let retried = insert(&conn, 9, &[posted[5].clone(), posted[0].clone(), again]).unwrap();
        let total = insert(&conn, 9, &posted[2..3]).unwrap();
        let after_total = for_job(&conn, 9).unwrap();
        let middle = insert(&conn, 9, &posted[1..5]).unwrap();
        let twice = insert(&conn, 9, &posted).unwrap();

        // Assert
        assert_eq!((late, retried, total, middle, twice), (2, 2, 1, 3, 0));
        let read = for_job(&conn, 9).unwrap();
        assert_eq!(read, as_read(&posted));
        assert_eq!(
            read[6].cpu_user,
            Some(12.34),
            "the first sample at a time stays"
        );
        let at_2025 = after_total.iter().find(|s| s.t == 2025).unwrap();
        assert_eq!(
            at_2025.mem_total,
            Some(8_000_000_000),
            "the total after 4,000 is named"
        );
        assert_tail_is_right(&conn, 9);
        assert_eq!(
            tail(&conn, 9).unwrap().unwrap().state.counters[1],
            Some(2),
            "t = 2030's"
        );
    }

    #[test]
    fn random_sequences_stored_in_shuffled_batches_read_back_as_posted() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for job_id in 1..=40 {
            // Arrange
            let conn = crate::store::memory_db();
            let n = 1 + rng.below(60) as usize;
            let posted = random_samples(&mut rng, 1_700_000_000, n);
            let mut shuffled = posted.clone();
            for i in (1..shuffled.len()).rev() {
                shuffled.swap(i, rng.below(i as u64 + 1) as usize);
            }
            let duplicates: Vec<Sample> = shuffled.iter().step_by(4).cloned().collect();
            shuffled.extend(duplicates);
            let in_order = crate::store::memory_db();

            // Act
            let mut stored = 0;
            let mut rest = &shuffled[..];
            while !rest.is_empty() {
                let (batch, after) = rest.split_at((1 + rng.below(6) as usize).min(rest.len()));
                stored += insert(&conn, job_id, batch).unwrap();
                rest = after;
            }
            insert(&in_order, job_id, &posted).unwrap();

            // Assert
            assert_eq!(stored, posted.len(), "job {job_id}");
            let read = for_job(&conn, job_id).unwrap();
            assert_eq!(for_job(&in_order, job_id).unwrap(), as_read(&posted));
            assert_eq!(read.len(), posted.len());
            for (got, want) in read.iter().zip(&posted) {
                // A sample posted without a total shows a total posted before it, or none.
                let shown = Sample {
                    mem_total: want.mem_total.or(got.mem_total),
                    ..want.clone()
                };
                assert_eq!(got, &shown, "job {job_id}");
                if want.mem_total.is_none() {
                    assert!(got.mem_total.is_none_or(|m| posted
                        .iter()
                        .any(|p| p.t < want.t && p.mem_total == Some(m))));
                }
            }
            assert_tail_is_right(&conn, job_id);
        }
    }

    #[test]
    fn downsampling_keeps_each_minutes_first_sample_exactly_and_the_tail_right() {
        let mut rng = Rng(42);
        for job_id in 1..=30 {
            // Arrange: some jobs end before the cut (their last rows go), others go on after it.
            let conn = crate::store::memory_db();
            let n = 20 + rng.below(100) as usize;
            let posted = random_samples(&mut rng, 6_000, n);
            insert(&conn, job_id, &posted).unwrap();
            insert(&conn, job_id + 1000, &posted[..3]).unwrap();
            let read = for_job(&conn, job_id).unwrap();
            let before = 6_000 + rng.below(700) as i64;

            // Act
            let deleted = downsample(&conn, before).unwrap();

            // Assert
            let mut minutes = std::collections::HashSet::new();
            let expected: Vec<Sample> = read
                .iter()
                .filter(|s| s.t >= before || minutes.insert(s.t / 60))
                .cloned()
                .collect();
            let kept = for_job(&conn, job_id).unwrap();
            assert_eq!(kept, expected, "job {job_id}, before {before}");
            let other = for_job(&conn, job_id + 1000).unwrap();
            assert_eq!(deleted, read.len() - kept.len() + 3 - other.len());
            assert_tail_is_right(&conn, job_id);
            assert_tail_is_right(&conn, job_id + 1000);
            // New samples after downsampling go on from the tail.
            let next = random_samples(&mut rng, 100_000, 5);
            insert(&conn, job_id, &next).unwrap();
            let mut continued = vec![kept.last().unwrap().clone()];
            continued.extend(next);
            assert_eq!(
                for_job(&conn, job_id).unwrap()[kept.len() - 1..],
                as_read(&continued)[..]
            );
            assert_eq!(downsample(&conn, before).unwrap(), 0, "nothing left to do");
        }
    }
}
