//! The domain's one vocabulary for the state of a run (or a job, a check run, a commit status):
//! its [`Status`] while it goes, its [`Conclusion`] once done, and what the board makes of the two
//! ([`Kind`]: the colour and shape of a cell).
//!
//! Every other module asks this one: what GitHub's names are, what ranks order them, which
//! conclusions are red and which say nothing. A payload's states are parsed into these types
//! (`github::event`), the store's rows carry them (they are their own SQL values: `ToSql` and
//! `FromSql` below) and the views ask them for words and colours; serialised, they are GitHub's
//! names, as the API and the feed have always sent. SQL that needs a list of them gets it from
//! here ([`sql_list`], [`done_sql`]), so adding or reclassifying a conclusion is one edit, in
//! [`Conclusion::ALL`] and its `match`es.

use std::fmt;
use std::sync::LazyLock;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Where a run is in its life. Ranked: a later status never gives way to an earlier one.
///
/// The set is closed: a status GitHub might add has no rank, and the stored row could not be
/// ordered against it, so a payload with one is refused (`400` naming the field, which GitHub's
/// delivery log shows and can redeliver once this list knows it).
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
///
/// GitHub documents nine conclusions; one it adds later is kept as [`Conclusion::Other`] with its
/// own name, stored and served as it came (an unknown *status* is refused instead: see
/// [`Status`]'s `Deserialize`). A conclusion orders nothing, so an unknown one can be kept
/// without guessing: it is neither red nor green, shows on the board as queued, and its name is
/// what the API, the feed and the page say.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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
    /// A conclusion GitHub did not document when this was written, by its name.
    Other(String),
}

impl Conclusion {
    /// Every conclusion GitHub documents.
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
    pub fn as_str(&self) -> &str {
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
            Self::Other(name) => name,
        }
    }

    /// The documented conclusion GitHub calls `name`, if it is one (for filters, which only
    /// accept those).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|conclusion| conclusion.as_str() == name)
    }

    /// The conclusion GitHub calls `name`: a documented one, else [`Conclusion::Other`].
    pub fn from_name(name: String) -> Self {
        Self::parse(&name).unwrap_or(Self::Other(name))
    }

    /// A red build: the code (or the machine running it) failed.
    pub const fn is_red(&self) -> bool {
        matches!(self, Self::Failure | Self::TimedOut | Self::StartupFailure)
    }

    /// A green build.
    pub const fn is_green(&self) -> bool {
        matches!(self, Self::Success)
    }

    /// Says nothing about whether the code is green or red: triage looks past it.
    pub const fn is_neutral(&self) -> bool {
        !self.is_red() && !self.is_green()
    }

    /// The conclusion in words, for people.
    pub fn label(&self) -> &str {
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
            Self::Other(name) => name,
        }
    }

    /// The board's class for a run that ended so.
    fn kind(&self) -> Kind {
        match self {
            Self::Success => Kind::Success,
            Self::Failure | Self::TimedOut | Self::StartupFailure => Kind::Failure,
            Self::Cancelled => Kind::Cancelled,
            Self::Skipped | Self::Neutral | Self::Stale => Kind::Skipped,
            Self::ActionRequired | Self::Other(_) => Kind::Queued,
        }
    }
}

impl fmt::Display for Conclusion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Conclusion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Conclusion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::from_name)
    }
}

impl ToSql for Status {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for Status {
    /// Every writer stores [`Status::as_str`]; anything else is a database edited by hand, and
    /// reading it is an error that names the value.
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let name = value.as_str()?;
        Self::parse(name).ok_or_else(|| {
            FromSqlError::Other(
                format!("stored status {name:?} is not one of {}", Self::names()).into(),
            )
        })
    }
}

impl ToSql for Conclusion {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for Conclusion {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value.as_str().map(|name| Self::from_name(name.to_owned()))
    }
}

/// Is `conclusion` (`None` until done) a red build?
pub fn is_red(conclusion: Option<&Conclusion>) -> bool {
    conclusion.is_some_and(Conclusion::is_red)
}

/// Is `conclusion` (`None` until done) a green build?
pub fn is_green(conclusion: Option<&Conclusion>) -> bool {
    conclusion.is_some_and(Conclusion::is_green)
}

/// [`Conclusion::ALL`] in a static, so that the names borrowed from it live as long as the program.
static DOCUMENTED: [Conclusion; 9] = Conclusion::ALL;

/// GitHub's names of the documented conclusions for which `keep` holds, in
/// [`Conclusion::ALL`]'s order.
pub fn names(keep: fn(&Conclusion) -> bool) -> Vec<&'static str> {
    DOCUMENTED
        .iter()
        .filter(|c| keep(c))
        .map(Conclusion::as_str)
        .collect()
}

/// The conclusions for which `keep` holds, as a quoted SQL list for `IN (...)`:
/// `'failure', 'timed_out', 'startup_failure'`.
pub fn sql_list(keep: fn(&Conclusion) -> bool) -> String {
    names(keep)
        .into_iter()
        .map(|name| format!("'{name}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `'failure', 'timed_out', 'startup_failure'`: for SQL's `conclusion IN (...)`.
pub static RED_SQL: LazyLock<String> = LazyLock::new(|| sql_list(Conclusion::is_red));
/// `'success'`: for SQL's `conclusion IN (...)`.
pub static GREEN_SQL: LazyLock<String> = LazyLock::new(|| sql_list(Conclusion::is_green));
/// The conclusions triage looks past, for SQL's `conclusion NOT IN (...)`.
pub static NEUTRAL_SQL: LazyLock<String> = LazyLock::new(|| sql_list(Conclusion::is_neutral));

/// A run (aliased `r`) that has completed, for SQL's `WHERE`.
pub const RUN_DONE_SQL: &str = "r.statusrank = 3";
/// A run (aliased `r`) still going. Spelled exactly as the partial index `workflowruns_active`'s
/// `WHERE` (with a literal, not a parameter), so that SQLite can read through that index.
pub const RUN_ACTIVE_SQL: &str = "r.statusrank < 3";

/// A row of any table with a `statusrank` column, aliased `alias`, that has completed.
pub fn done_sql(alias: &str) -> String {
    format!("{alias}.statusrank = {}", Status::COMPLETED_RANK)
}

/// A row of any table with a `statusrank` column, aliased `alias`, still going.
pub fn active_sql(alias: &str) -> String {
    format!("{alias}.statusrank < {}", Status::COMPLETED_RANK)
}

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
    /// The kind of a run with this `status` and `conclusion`.
    pub fn of(status: Status, conclusion: Option<&Conclusion>) -> Self {
        match conclusion {
            Some(conclusion) => conclusion.kind(),
            None if status == Status::InProgress => Self::Running,
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

/// A state in words: the conclusion's label once done, else the status's.
pub fn label(status: Status, conclusion: Option<&Conclusion>) -> &str {
    if let Some(conclusion) = conclusion {
        return conclusion.label();
    }
    match status {
        Status::InProgress => "running",
        Status::Waiting => "waiting",
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
        use Conclusion::*;
        let done = Status::Completed;
        assert_eq!(Kind::of(done, Some(&TimedOut)), Kind::Failure);
        assert_eq!(Kind::of(done, Some(&Success)), Kind::Success);
        assert_eq!(Kind::of(done, Some(&Stale)), Kind::Skipped);
        assert_eq!(Kind::of(done, Some(&ActionRequired)), Kind::Queued);
        assert_eq!(Kind::of(Status::InProgress, None), Kind::Running);
        assert_eq!(Kind::of(Status::Waiting, None), Kind::Queued);
        assert_eq!(label(Status::Waiting, None), "waiting");
        assert_eq!(label(done, Some(&StartupFailure)), "failed to start");
    }

    #[test]
    fn an_undocumented_conclusion_keeps_its_name_and_colours_nothing() {
        let new = Conclusion::from_name("exploded".into());
        assert_eq!(new, Conclusion::Other("exploded".into()));
        assert_eq!(
            Conclusion::parse("exploded"),
            None,
            "filters take documented ones only"
        );
        assert_eq!(serde_json::to_string(&new).unwrap(), r#""exploded""#);
        let read: Conclusion = serde_json::from_str(r#""exploded""#).unwrap();
        assert_eq!(read, new);
        assert!(!new.is_red() && !new.is_green());
        assert_eq!(Kind::of(Status::Completed, Some(&new)), Kind::Queued);
        assert_eq!(label(Status::Completed, Some(&new)), "exploded");
        assert_eq!(Conclusion::from_name("success".into()), Conclusion::Success);
    }

    #[test]
    fn states_are_stored_under_githubs_names_and_read_back() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (status TEXT, conclusion TEXT)")
            .unwrap();
        let other = Conclusion::Other("exploded".into());
        for (status, conclusion) in [
            (Status::InProgress, None),
            (Status::Completed, Some(Conclusion::TimedOut)),
            (Status::Completed, Some(other)),
        ] {
            conn.execute("DELETE FROM t", []).unwrap();
            conn.execute(
                "INSERT INTO t VALUES (?1, ?2)",
                rusqlite::params![status, conclusion],
            )
            .unwrap();
            let (text, back): (String, (Status, Option<Conclusion>)) = conn
                .query_row("SELECT status, status, conclusion FROM t", [], |row| {
                    Ok((row.get(0)?, (row.get(1)?, row.get(2)?)))
                })
                .unwrap();
            assert_eq!(text, status.as_str());
            assert_eq!(back, (status, conclusion));
        }
        conn.execute("UPDATE t SET status = 'exploded'", [])
            .unwrap();
        let err = conn
            .query_row("SELECT status FROM t", [], |row| row.get::<_, Status>(0))
            .unwrap_err();
        assert!(err.to_string().contains("\"exploded\""), "{err}");
    }
}
