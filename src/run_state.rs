//! The domain's one vocabulary for the state of a run (or a job, a check run, a commit status):
//! its [`Status`] while it goes, its [`Conclusion`] once done, and what the board makes of the two
//! ([`Kind`]: the colour and shape of a cell).
//!
//! Every other module asks this one: what GitHub's names are, what ranks order them, which
//! conclusions are red and which say nothing. SQL that needs a list of them gets it from here
//! ([`sql_list`]), so adding or reclassifying a conclusion is one edit, in [`Conclusion::ALL`]
//! and its `match`es.

use std::fmt;
use std::sync::LazyLock;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Where a run is in its life. Ranked: a later status never gives way to an earlier one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    Requested,
    Queued,
    Waiting,
    Pending,
    InProgress,
    Completed,
}

impl Status {
    /// Every status, in GitHub's names' order of rank.
    pub const ALL: [Self; 6] = [
        Self::Requested,
        Self::Queued,
        Self::Waiting,
        Self::Pending,
        Self::InProgress,
        Self::Completed,
    ];
    /// The rank stored as `statusrank`: 0 requested, 1 queued/waiting/pending, 2 in progress,
    /// 3 completed.
    pub const COMPLETED_RANK: i64 = 3;
    /// The rank of a run that is executing.
    pub const IN_PROGRESS_RANK: i64 = 2;

    /// GitHub's name for it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Queued => "queued",
            Self::Waiting => "waiting",
            Self::Pending => "pending",
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
        }
    }

    /// The status GitHub calls `name`, if it is one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == name)
    }

    /// The order in which an update may replace what is stored (see [`Self::COMPLETED_RANK`]).
    pub const fn rank(self) -> i64 {
        match self {
            Self::Requested => 0,
            Self::Queued | Self::Waiting | Self::Pending => 1,
            Self::InProgress => Self::IN_PROGRESS_RANK,
            Self::Completed => Self::COMPLETED_RANK,
        }
    }

    /// Is it finished (a conclusion is known)?
    pub const fn is_done(self) -> bool {
        matches!(self, Self::Completed)
    }

    /// The names, comma-separated, for error messages.
    pub fn names() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Status {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Self::parse(&name).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown status {name:?}: expected one of {}",
                Self::names()
            ))
        })
    }
}

/// How a finished run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Conclusion {
    Success,
    Failure,
    Cancelled,
    Skipped,
    TimedOut,
    ActionRequired,
    Neutral,
    Stale,
    StartupFailure,
}

impl Conclusion {
    /// Every conclusion GitHub sends.
    pub const ALL: [Self; 9] = [
        Self::Success,
        Self::Failure,
        Self::Cancelled,
        Self::Skipped,
        Self::TimedOut,
        Self::ActionRequired,
        Self::Neutral,
        Self::Stale,
        Self::StartupFailure,
    ];

    /// GitHub's name for it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Cancelled => "cancelled",
            Self::Skipped => "skipped",
            Self::TimedOut => "timed_out",
            Self::ActionRequired => "action_required",
            Self::Neutral => "neutral",
            Self::Stale => "stale",
            Self::StartupFailure => "startup_failure",
        }
    }

    /// The conclusion GitHub calls `name`, if it is one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|conclusion| conclusion.as_str() == name)
    }

    /// A red build: the code (or the machine running it) failed.
    pub const fn is_red(self) -> bool {
        matches!(self, Self::Failure | Self::TimedOut | Self::StartupFailure)
    }

    /// A green build.
    pub const fn is_green(self) -> bool {
        matches!(self, Self::Success)
    }

    /// Says nothing about whether the code is green or red: triage looks past it.
    pub const fn is_neutral(self) -> bool {
        !self.is_red() && !self.is_green()
    }

    /// The conclusion in words, for people.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Success => "passed",
            Self::Failure => "failed",
            Self::TimedOut => "timed out",
            Self::StartupFailure => "failed to start",
            Self::Cancelled => "cancelled",
            Self::Skipped => "skipped",
            Self::Neutral => "neutral",
            Self::Stale => "stale",
            Self::ActionRequired => "action required",
        }
    }
}

impl fmt::Display for Conclusion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Is the stored `conclusion` (GitHub's name, `None` until done) a red build?
pub fn is_red(conclusion: Option<&str>) -> bool {
    conclusion
        .and_then(Conclusion::parse)
        .is_some_and(Conclusion::is_red)
}

/// Is the stored `conclusion` a green build?
pub fn is_green(conclusion: Option<&str>) -> bool {
    conclusion == Some(Conclusion::Success.as_str())
}

/// GitHub's names of the conclusions for which `keep` holds, in [`Conclusion::ALL`]'s order.
pub fn names(keep: fn(Conclusion) -> bool) -> Vec<&'static str> {
    Conclusion::ALL
        .into_iter()
        .filter(|c| keep(*c))
        .map(Conclusion::as_str)
        .collect()
}

/// The conclusions for which `keep` holds, as a quoted SQL list for `IN (...)`:
/// `'failure', 'timed_out', 'startup_failure'`.
pub fn sql_list(keep: fn(Conclusion) -> bool) -> String {
    names(keep)
        .into_iter()
        .map(|name| format!("'{name}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `'failure', 'timed_out', 'startup_failure'`: for SQL's `conclusion IN (...)`.
pub static RED_SQL: LazyLock<String> = LazyLock::new(|| sql_list(Conclusion::is_red));
/// The conclusions triage looks past, for SQL's `conclusion NOT IN (...)`.
pub static NEUTRAL_SQL: LazyLock<String> = LazyLock::new(|| sql_list(Conclusion::is_neutral));

/// A run (aliased `r`) that has completed, for SQL's `WHERE`.
pub const RUN_DONE_SQL: &str = "r.statusrank = 3";
/// A run (aliased `r`) still going. Spelled exactly as the partial index `workflowruns_active`'s
/// `WHERE` (with a literal, not a parameter), so that SQLite can read through that index.
pub const RUN_ACTIVE_SQL: &str = "r.statusrank < 3";

/// The class of state a run is in on the board, which picks its colour and shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Success,
    Failure,
    Cancelled,
    Running,
    Queued,
    Skipped,
}

impl Kind {
    /// The kind of a run with this stored `status` and `conclusion`.
    pub fn of(status: &str, conclusion: Option<&str>) -> Self {
        match conclusion.map(|c| (c, Conclusion::parse(c))) {
            Some((_, Some(c))) if c.is_green() => Self::Success,
            Some((_, Some(c))) if c.is_red() => Self::Failure,
            Some((_, Some(Conclusion::Cancelled))) => Self::Cancelled,
            Some((_, Some(Conclusion::Skipped | Conclusion::Neutral | Conclusion::Stale))) => {
                Self::Skipped
            }
            Some(_) => Self::Queued,
            None if status == Status::InProgress.as_str() => Self::Running,
            None => Self::Queued,
        }
    }

    /// The CSS class (and the word in the API's feed) for it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Cancelled => "cancelled",
            Self::Running => "running",
            Self::Queued => "queued",
            Self::Skipped => "skipped",
        }
    }

    /// The icon beside the colour, so a state never depends on colour alone.
    pub const fn icon(self) -> &'static str {
        match self {
            Self::Success => "✔",
            Self::Failure => "✖",
            Self::Cancelled => "⊘",
            Self::Running => "◔",
            Self::Skipped => "↷",
            Self::Queued => "◷",
        }
    }
}

/// A stored state in words: the conclusion's label once done, else the status's.
pub fn label(status: &str, conclusion: Option<&str>) -> &'static str {
    if let Some(conclusion) = conclusion {
        return Conclusion::parse(conclusion).map_or("queued", Conclusion::label);
    }
    match Status::parse(status) {
        Some(Status::InProgress) => "running",
        Some(Status::Waiting) => "waiting",
        _ => "queued",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back_to_itself() {
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
        for conclusion in Conclusion::ALL {
            assert_eq!(Conclusion::parse(conclusion.as_str()), Some(conclusion));
        }
        assert_eq!(Status::parse("exploded"), None);
    }

    #[test]
    fn ranks_never_go_backwards_in_a_runs_life() {
        let ranks: Vec<i64> = Status::ALL.map(Status::rank).to_vec();
        assert!(ranks.windows(2).all(|w| w[0] <= w[1]), "{ranks:?}");
        assert_eq!(Status::Completed.rank(), Status::COMPLETED_RANK);
        let done = Status::COMPLETED_RANK;
        assert_eq!(RUN_DONE_SQL, format!("r.statusrank = {done}"));
        assert_eq!(RUN_ACTIVE_SQL, format!("r.statusrank < {done}"));
    }

    #[test]
    fn red_green_and_neutral_split_every_conclusion() {
        assert_eq!(*RED_SQL, "'failure', 'timed_out', 'startup_failure'");
        assert_eq!(
            *NEUTRAL_SQL,
            "'cancelled', 'skipped', 'action_required', 'neutral', 'stale'"
        );
        for c in Conclusion::ALL {
            let classes = [c.is_red(), c.is_green(), c.is_neutral()];
            assert_eq!(classes.iter().filter(|x| **x).count(), 1, "{c}");
        }
    }

    #[test]
    fn the_board_kind_follows_the_conclusion_then_the_status() {
        assert_eq!(Kind::of("completed", Some("timed_out")), Kind::Failure);
        assert_eq!(Kind::of("completed", Some("success")), Kind::Success);
        assert_eq!(Kind::of("completed", Some("stale")), Kind::Skipped);
        assert_eq!(Kind::of("completed", Some("action_required")), Kind::Queued);
        assert_eq!(Kind::of("in_progress", None), Kind::Running);
        assert_eq!(Kind::of("waiting", None), Kind::Queued);
        assert_eq!(label("waiting", None), "waiting");
        assert_eq!(
            label("completed", Some("startup_failure")),
            "failed to start"
        );
    }
}
