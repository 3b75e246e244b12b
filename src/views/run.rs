//! The run page (`/runs/<id>`): a run's attempts side by side, each job as a timeline bar of its
//! queue time and steps (drawn as SVG rectangles, whose geometry is attributes: the page's
//! Content-Security-Policy allows no inline styles), the failure's rule, signature and excerpt,
//! and where else it happened.

use askama::Template;

use super::{Chrome, Opts};
use crate::run_state::Kind;
use crate::store::runpage::{AttemptDetail, JobDetail, RunDetail, StepDetail};

/// Width of a timeline's SVG coordinate space; bars are placed in it by proportion.
pub const TIMELINE_WIDTH: f64 = 1000.0;

/// The run page's model.
#[derive(Debug, Clone)]
pub struct RunView {
    pub detail: RunDetail,
    pub attempts: Vec<AttemptView>,
    /// Epoch seconds when it was read.
    pub now: i64,
    /// While the run goes on: the seconds it usually has left (the median of recent successful
    /// runs of its workflow on its branch, less the time it has run), at least 0.
    pub left_s: Option<i64>,
    /// Whether each failed job offers "Ask the model" (`--analysis-url`, and not on a TV).
    pub ask_model: bool,
}

/// One attempt: its jobs' bars share one time axis.
#[derive(Debug, Clone)]
pub struct AttemptView {
    pub attempt: i64,
    pub kind: &'static str,
    pub label: String,
    pub jobs: Vec<JobView>,
    /// The axis' length in seconds.
    pub span_s: i64,
}

/// One job's bar.
#[derive(Debug, Clone)]
pub struct JobView {
    pub job: JobDetail,
    pub kind: &'static str,
    pub label: String,
    /// The queued part of the bar, if it waited.
    pub queued: Option<Segment>,
    /// The whole running part (steps are drawn over it).
    pub running: Option<Segment>,
    pub steps: Vec<StepView>,
    pub queue_s: Option<i64>,
    pub duration_s: Option<i64>,
    /// Its runner samples drawn: CPU, memory, disk, network.
    pub charts: super::chart::JobCharts,
}

/// A part of a bar, in SVG units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    pub x: f64,
    pub width: f64,
}

impl Segment {
    /// `x` as the SVG attribute.
    pub fn x_attr(&self) -> String {
        format!("{:.1}", self.x)
    }

    /// `width` as the SVG attribute (never under a visible sliver).
    pub fn width_attr(&self) -> String {
        format!("{:.1}", self.width.max(2.0))
    }
}

/// One step of a job, placed on its bar.
#[derive(Debug, Clone)]
pub struct StepView {
    pub step: StepDetail,
    pub kind: &'static str,
    pub failed: bool,
    pub segment: Option<Segment>,
    pub duration_s: Option<i64>,
}

impl RunView {
    /// The page's model of `detail` read at `now`.
    pub fn of(detail: RunDetail, now: i64) -> Self {
        let attempts = detail
            .attempts
            .iter()
            .map(|attempt| AttemptView::of(attempt, now))
            .collect();
        let running = !detail.run.status.is_done();
        let left_s = match (running, detail.expected_s, detail.run.started_at) {
            (true, Some(expected), Some(started)) => Some((expected - (now - started)).max(0)),
            _ => None,
        };
        Self {
            detail,
            attempts,
            now,
            left_s,
            ask_model: false,
        }
    }

    /// "about 4 min left", while the run goes on and its workflow has a history on its branch.
    pub fn left_text(&self) -> Option<String> {
        self.left_s
            .map(|left| format!("about {} left", super::span(left)))
    }

    /// Whether the run is still going (the page keeps itself live meanwhile).
    pub fn running(&self) -> bool {
        self.left_s.is_some() || self.detail.run.conclusion.is_none()
    }
}

impl AttemptView {
    fn of(attempt: &AttemptDetail, now: i64) -> Self {
        let start = attempt
            .jobs
            .iter()
            .filter_map(|j| j.created_at.or(j.started_at))
            .min()
            .or(attempt.started_at)
            .unwrap_or(now);
        let end = attempt
            .jobs
            .iter()
            .map(|j| j.completed_at.unwrap_or(now))
            .max()
            .unwrap_or(now)
            .max(start + 1);
        let span_s = end - start;
        let place = |from: Option<i64>, to: Option<i64>| -> Option<Segment> {
            let from = from?;
            let to = to.unwrap_or(now).max(from);
            let scale = TIMELINE_WIDTH / span_s as f64;
            Some(Segment {
                x: (from - start) as f64 * scale,
                width: (to - from) as f64 * scale,
            })
        };
        let jobs = attempt
            .jobs
            .iter()
            .map(|job| JobView::of(job, &place))
            .collect();
        let kind = Kind::of(attempt.status, attempt.conclusion.as_ref());
        Self {
            attempt: attempt.attempt,
            kind: kind.as_str(),
            label: crate::run_state::label(attempt.status, attempt.conclusion.as_ref()).to_owned(),
            jobs,
            span_s,
        }
    }
}

impl JobView {
    fn of(job: &JobDetail, place: &dyn Fn(Option<i64>, Option<i64>) -> Option<Segment>) -> Self {
        let queued = match (job.created_at, job.started_at) {
            (Some(created), Some(started)) if started > created => {
                place(Some(created), Some(started))
            }
            (Some(created), None) => place(Some(created), None),
            _ => None,
        };
        let steps = job
            .steps
            .iter()
            .map(|step| StepView {
                kind: Kind::of(step.status, step.conclusion.as_ref()).as_str(),
                failed: step.failed(),
                segment: place(step.started_at, step.completed_at),
                duration_s: step
                    .started_at
                    .zip(step.completed_at)
                    .map(|(s, e)| (e - s).max(0)),
                step: step.clone(),
            })
            .collect();
        Self {
            kind: Kind::of(job.status, job.conclusion.as_ref()).as_str(),
            label: crate::run_state::label(job.status, job.conclusion.as_ref()).to_owned(),
            queued,
            running: place(job.started_at, job.completed_at),
            steps,
            queue_s: job
                .created_at
                .zip(job.started_at)
                .map(|(c, s)| (s - c).max(0)),
            duration_s: job
                .started_at
                .zip(job.completed_at)
                .map(|(s, e)| (e - s).max(0)),
            charts: super::chart::charts(job),
            job: job.clone(),
        }
    }

    /// The failed step's name, if a step failed.
    pub fn failed_step(&self) -> Option<&str> {
        self.steps
            .iter()
            .find(|s| s.failed)
            .map(|s| s.step.name.as_str())
    }
}

#[derive(Template)]
#[template(path = "run.html")]
struct RunPage<'a> {
    c: &'a Chrome,
    v: &'a RunView,
    opts: Opts,
}

#[derive(Template)]
#[template(path = "run_live.html")]
struct RunLive<'a> {
    v: &'a RunView,
    opts: Opts,
}

/// The run page (`/runs/<id>`).
///
/// # Errors
/// When a template fails to render (a bug: templates are checked at compile time).
pub fn run_page(c: &Chrome, v: &RunView, opts: Opts) -> askama::Result<String> {
    RunPage { c, v, opts }.render()
}

/// The run page's live part.
///
/// # Errors
/// As [`run_page`].
pub fn run_live(v: &RunView, opts: Opts) -> askama::Result<String> {
    RunLive { v, opts }.render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run_state::{Conclusion, Status};

    fn job(created: i64, started: Option<i64>, ended: Option<i64>) -> JobDetail {
        JobDetail {
            job: crate::store::model::JobCore {
                id: 1,
                name: "test".into(),
                status: if ended.is_some() {
                    Status::Completed
                } else {
                    Status::InProgress
                },
                conclusion: ended.map(|_| Conclusion::Failure),
                runner: None,
                runner_group: None,
                url: None,
                created_at: Some(created),
                started_at: started,
                completed_at: ended,
            },
            labels: Vec::new(),
            why: None,
            samples: Vec::new(),
            steps: vec![StepDetail {
                number: 1,
                name: "Run tests".into(),
                status: Status::Completed,
                conclusion: Some(Conclusion::Failure),
                started_at: started,
                completed_at: ended,
            }],
            failure: None,
        }
    }

    #[test]
    fn a_job_bar_is_its_queue_then_its_steps_on_the_attempts_axis() {
        // Arrange: queued 100..200, running 200..1100 on an axis of 1000 s.
        let attempt = AttemptDetail {
            attempt: 1,
            status: Status::Completed,
            conclusion: Some(Conclusion::Failure),
            started_at: Some(100),
            updated_at: Some(1100),
            jobs: vec![job(100, Some(200), Some(1100))],
        };

        // Act
        let view = AttemptView::of(&attempt, 5000);

        // Assert
        assert_eq!(view.span_s, 1000);
        let bar = &view.jobs[0];
        assert_eq!(
            bar.queued,
            Some(Segment {
                x: 0.0,
                width: 100.0
            })
        );
        assert_eq!(bar.steps[0].segment.unwrap().x, 100.0);
        assert_eq!(bar.steps[0].segment.unwrap().width, 900.0);
        assert!(bar.steps[0].failed);
        assert_eq!(bar.failed_step(), Some("Run tests"));
        assert_eq!((bar.queue_s, bar.duration_s), (Some(100), Some(900)));
    }

    #[test]
    fn a_running_job_reaches_now() {
        let attempt = AttemptDetail {
            attempt: 1,
            status: Status::InProgress,
            conclusion: None,
            started_at: Some(0),
            updated_at: None,
            jobs: vec![job(0, Some(0), None)],
        };
        let view = AttemptView::of(&attempt, 50);
        assert_eq!(view.span_s, 50);
        assert_eq!(view.jobs[0].running.unwrap().width, TIMELINE_WIDTH);
    }
}
