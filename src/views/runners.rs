//! The Runners view (`/runners`) and the Wall's queue tiles: per label set, the jobs waiting for
//! a runner, the jobs running, the longest wait, the busy runners.

use askama::Template;

use super::{Chrome, Opts};
use crate::store::runners::Queue;

/// The queues that the Wall shows as tiles ("no runner for self-hosted, gpu: 14 min, 6 jobs
/// waiting"): those waiting at least `alert_s` (`--queue-alert`, which the notifications use too).
pub fn alerting(queues: Vec<Queue>, alert_s: i64) -> Vec<Queue> {
    queues
        .into_iter()
        .filter(|q| q.waits_over(alert_s))
        .collect()
}

/// A queue's label set for display: "self-hosted, gpu", cut.
pub fn queue_labels(queue: &Queue) -> String {
    super::cut(&queue.label_text(), 80)
}

/// A queue's longest wait for people: "14 min".
pub fn queue_wait(queue: &Queue) -> String {
    super::span(queue.longest_wait_s)
}

/// The Runners view's model.
#[derive(Debug, Clone)]
pub struct RunnersView {
    pub queues: Vec<Queue>,
    /// `--queue-alert`, in seconds.
    pub alert_s: i64,
}

impl RunnersView {
    /// Whether a queue waits long enough to be on the Wall.
    pub fn alert(&self, queue: &Queue) -> bool {
        queue.waits_over(self.alert_s)
    }
}

#[derive(Template)]
#[template(path = "runners.html")]
struct RunnersPage<'a> {
    c: &'a Chrome,
    v: &'a RunnersView,
    opts: Opts,
}

#[derive(Template)]
#[template(path = "runners_live.html")]
struct RunnersLive<'a> {
    v: &'a RunnersView,
}

/// The Runners page (`/runners`).
///
/// # Errors
/// When a template fails to render (a bug: templates are checked at compile time).
pub fn runners_page(c: &Chrome, v: &RunnersView, opts: Opts) -> askama::Result<String> {
    RunnersPage { c, v, opts }.render()
}

/// The Runners view's live part.
///
/// # Errors
/// As [`runners_page`].
pub fn runners_live(v: &RunnersView) -> askama::Result<String> {
    RunnersLive { v }.render()
}
