//! Server-drawn SVG charts of a job's runner samples (CPU, memory, disk, network) on the run
//! page: one time axis per job, the steps' boundaries drawn on it and the failed step shaded; a
//! memory line that reaches its limit is drawn thick and red, with the limit as a dashed line.
//! Geometry is in SVG attributes (the Content-Security-Policy allows no inline styles).

use crate::store::runpage::JobDetail;
use crate::store::samples::Sample;

/// The charts' SVG coordinate space.
pub const WIDTH: f64 = 600.0;
pub const HEIGHT: f64 = 120.0;
/// Points drawn per line at most; more samples are thinned evenly.
const MAX_POINTS: usize = 300;
/// Memory at or above this share of its total is "at the limit".
const LIMIT_SHARE: f64 = 0.95;

/// A job's charts and the marks they share.
#[derive(Debug, Clone, Default)]
pub struct JobCharts {
    pub charts: Vec<Chart>,
    /// x of each step's start.
    pub step_marks: Vec<String>,
    /// The failed step's span: x and width.
    pub failed: Option<(String, String)>,
}

/// One chart: a line, its caption, and for memory its limit.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// `cpu`, `memory`, `disk` or `network`.
    pub kind: &'static str,
    /// "CPU · peak 98 %".
    pub caption: String,
    /// The polyline's `points`.
    pub points: String,
    /// y of the limit line (memory's total).
    pub limit_y: Option<String>,
    /// The line reaches the limit.
    pub at_limit: bool,
}

fn fmt(v: f64) -> String {
    format!("{v:.1}")
}

/// The charts of `job`, or none without two samples.
pub fn charts(job: &JobDetail) -> JobCharts {
    let samples = &job.samples;
    if samples.len() < 2 {
        return JobCharts::default();
    }
    let t0 = job.started_at.unwrap_or(samples[0].t).min(samples[0].t);
    let last = samples[samples.len() - 1].t;
    let t1 = job.completed_at.unwrap_or(last).max(last).max(t0 + 1);
    let x = |t: i64| (t - t0) as f64 * WIDTH / (t1 - t0) as f64;
    let step_marks = job
        .steps
        .iter()
        .filter_map(|s| s.started_at)
        .filter(|t| *t > t0 && *t < t1)
        .map(|t| fmt(x(t)))
        .collect();
    let failed = job.steps.iter().find(|s| s.failed()).and_then(|s| {
        let from = s.started_at?.max(t0);
        let to = s.completed_at.unwrap_or(t1).min(t1);
        Some((fmt(x(from)), fmt((x(to) - x(from)).max(2.0))))
    });
    let mut charts = Vec::new();
    let cpu: Vec<(i64, f64)> = samples
        .iter()
        .filter_map(|s| Some((s.t, s.cpu_user? + s.cpu_system.unwrap_or(0.0))))
        .collect();
    if let Some(chart) = line("cpu", &cpu, 100.0, None, &x, |peak| {
        format!("CPU · peak {peak:.0} %")
    }) {
        charts.push(chart);
    }
    charts.extend(memory(samples, &x));
    for (kind, name, read) in [
        (
            "disk",
            "Disk",
            (|s: &Sample| Some(s.disk_read? + s.disk_write?)) as fn(&Sample) -> Option<i64>,
        ),
        ("network", "Network", |s: &Sample| {
            Some(s.net_rx? + s.net_tx?)
        }),
    ] {
        let rates = rates(samples, read);
        if let Some(chart) = line(kind, &rates, 1.0, None, &x, |peak| {
            format!("{name} · peak {peak:.1} MB/s")
        }) {
            charts.push(chart);
        }
    }
    JobCharts {
        charts,
        step_marks,
        failed,
    }
}

/// Memory in GB, with its total as the limit.
fn memory(samples: &[Sample], x: &dyn Fn(i64) -> f64) -> Option<Chart> {
    let used: Vec<(i64, f64)> = samples
        .iter()
        .filter_map(|s| Some((s.t, s.mem_used? as f64 / 1e9)))
        .collect();
    let total = samples
        .iter()
        .filter_map(|s| s.mem_total)
        .max()
        .map(|t| t as f64 / 1e9);
    let mut chart = line(
        "memory",
        &used,
        total.unwrap_or(1.0) * 1.05,
        total,
        x,
        |peak| match total {
            Some(total) => format!("Memory · peak {peak:.1} of {total:.1} GB"),
            None => format!("Memory · peak {peak:.1} GB"),
        },
    )?;
    let peak = used.iter().map(|(_, v)| *v).fold(0.0, f64::max);
    chart.at_limit = total.is_some_and(|total| peak >= LIMIT_SHARE * total);
    if chart.at_limit {
        chart.caption.push_str(" · at the limit");
    }
    Some(chart)
}

/// MB/s between consecutive samples of a cumulative byte counter.
fn rates(samples: &[Sample], read: fn(&Sample) -> Option<i64>) -> Vec<(i64, f64)> {
    samples
        .windows(2)
        .filter_map(|w| {
            let (a, b) = (read(&w[0])?, read(&w[1])?);
            let dt = (w[1].t - w[0].t).max(1) as f64;
            Some((w[1].t, ((b - a).max(0)) as f64 / dt / 1e6))
        })
        .collect()
}

/// A polyline of `values` scaled to at least `floor` (or the peak), with `limit` drawn.
fn line(
    kind: &'static str,
    values: &[(i64, f64)],
    floor: f64,
    limit: Option<f64>,
    x: &dyn Fn(i64) -> f64,
    caption: impl Fn(f64) -> String,
) -> Option<Chart> {
    if values.len() < 2 {
        return None;
    }
    let peak = values.iter().map(|(_, v)| *v).fold(0.0, f64::max);
    let top = floor.max(peak * 1.05).max(f64::MIN_POSITIVE);
    let y = |v: f64| HEIGHT - (v / top * (HEIGHT - 4.0));
    let stride = values.len().div_ceil(MAX_POINTS);
    let points = values
        .iter()
        .step_by(stride.max(1))
        .map(|(t, v)| format!("{},{}", fmt(x(*t)), fmt(y(*v))))
        .collect::<Vec<_>>()
        .join(" ");
    Some(Chart {
        kind,
        caption: caption(peak),
        points,
        limit_y: limit.map(|l| fmt(y(l))),
        at_limit: false,
    })
}
