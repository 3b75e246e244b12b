//! GitHub webhook payloads: the fields buildboard uses, parsed into typed structs.
//!
//! Dispatch is on the `X-GitHub-Event` header ([`EventKind`]), never on the body's shape. Parsing is
//! strict about what we store (a run without an id is a 400 naming `workflow_run.id`) and lenient
//! about everything else (unknown fields are ignored). The same structs parse GitHub's REST
//! responses for runs, so backfilled and webhook rows come from one code path.

use serde::{Deserialize, Deserializer};

use crate::run_state::{Conclusion, Status};

/// The longest commit message or title kept, in bytes; longer text is cut at a character boundary.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// The longest name (branch, workflow, job, login) kept, in bytes.
pub const MAX_NAME_BYTES: usize = 1024;

/// The events buildboard stores. Anything else is acknowledged with 202 and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Ping,
    Push,
    Create,
    Delete,
    WorkflowRun,
    WorkflowJob,
    CheckRun,
    Status,
}

impl EventKind {
    /// Maps an `X-GitHub-Event` header value; `None` for events buildboard does not handle.
    pub fn from_header(name: &str) -> Option<Self> {
        Some(match name {
            "ping" => Self::Ping,
            "push" => Self::Push,
            "create" => Self::Create,
            "delete" => Self::Delete,
            "workflow_run" => Self::WorkflowRun,
            "workflow_job" => Self::WorkflowJob,
            "check_run" => Self::CheckRun,
            "status" => Self::Status,
            _ => return None,
        })
    }

    /// The header value, for logs and the deliveries table.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ping => "ping",
            Self::Push => "push",
            Self::Create => "create",
            Self::Delete => "delete",
            Self::WorkflowRun => "workflow_run",
            Self::WorkflowJob => "workflow_job",
            Self::CheckRun => "check_run",
            Self::Status => "status",
        }
    }
}

/// A parsed delivery.
#[derive(Debug, Clone)]
pub enum Event {
    Ping(Ping),
    Push(Push),
    Create(RefChange),
    Delete(RefChange),
    WorkflowRun(Box<WorkflowRunEvent>),
    WorkflowJob(Box<WorkflowJobEvent>),
    CheckRun(Box<CheckRunEvent>),
    Status(Box<StatusEvent>),
}

impl Event {
    /// The repository the event is about (`None` for an organisation's ping).
    pub fn repository(&self) -> Option<&Repository> {
        match self {
            Self::Ping(ping) => ping.repository.as_ref(),
            Self::Push(push) => Some(&push.repository),
            Self::Create(change) | Self::Delete(change) => Some(&change.repository),
            Self::WorkflowRun(run) => Some(&run.repository),
            Self::WorkflowJob(job) => Some(&job.repository),
            Self::CheckRun(check) => Some(&check.repository),
            Self::Status(status) => Some(&status.repository),
        }
    }
}

/// A payload that is not valid JSON or lacks a field we need. Maps to `400 Bad Request`.
#[derive(Debug, thiserror::Error)]
#[error("invalid {event} payload at `{path}`: {message}")]
pub struct ParseError {
    pub event: &'static str,
    /// Where in the JSON document the problem is, e.g. `workflow_run.id` (`.` for the top level).
    pub path: String,
    pub message: String,
}

/// Parses the JSON body of a delivery whose `X-GitHub-Event` header was `kind`.
///
/// # Errors
/// [`ParseError`] names the offending field.
pub fn parse(kind: EventKind, json: &[u8]) -> Result<Event, ParseError> {
    /// Plain serde_json on the hot path; only a payload that fails is parsed again with path
    /// tracking (which costs on every field) to name the offending field.
    fn from<T: serde::de::DeserializeOwned>(kind: EventKind, json: &[u8]) -> Result<T, ParseError> {
        serde_json::from_slice(json).map_err(|plain: serde_json::Error| {
            let de = &mut serde_json::Deserializer::from_slice(json);
            let (path, message) = match serde_path_to_error::deserialize::<_, T>(de) {
                Err(err) => (err.path().to_string(), err.inner().to_string()),
                // Both parsers accept the same input; if they ever disagreed, keep the first error.
                Ok(_) => (".".to_owned(), plain.to_string()),
            };
            ParseError {
                event: kind.as_str(),
                path,
                message,
            }
        })
    }
    let event = match kind {
        EventKind::Ping => Event::Ping(from(kind, json)?),
        EventKind::Push => Event::Push(from(kind, json)?),
        EventKind::Create => Event::Create(from(kind, json)?),
        EventKind::Delete => Event::Delete(from(kind, json)?),
        EventKind::WorkflowRun => Event::WorkflowRun(from(kind, json)?),
        EventKind::WorkflowJob => Event::WorkflowJob(from(kind, json)?),
        EventKind::CheckRun => Event::CheckRun(from(kind, json)?),
        EventKind::Status => Event::Status(from(kind, json)?),
    };
    Ok(event)
}

/// Seconds since the Unix epoch, parsed from any of GitHub's formats: `2019-05-15T15:20:41Z`,
/// `2019-05-15T15:20:41.000Z`, `2019-05-15T08:20:41.000-07:00`, or an integer epoch (`1557933565`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Parses the string forms.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if let Ok(epoch) = text.parse::<i64>() {
            return Self::from_epoch(epoch);
        }
        chrono::DateTime::parse_from_rfc3339(text)
            .ok()
            .and_then(|time| Self::from_epoch(time.timestamp()))
    }

    fn from_epoch(epoch: i64) -> Option<Self> {
        // Year 1970 to 9999: anything else is a corrupt payload, not a build.
        (0..=253_402_300_799)
            .contains(&epoch)
            .then_some(Self(epoch))
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TimestampVisitor)
    }
}

/// Reads a timestamp in whichever JSON type it came, without buffering it first (as an untagged
/// enum would, formatting an error message for each variant it tries: a hot spot in profiles).
struct TimestampVisitor;

impl TimestampVisitor {
    fn check<E: serde::de::Error>(parsed: Option<Timestamp>) -> Result<Timestamp, E> {
        parsed.ok_or_else(|| E::custom(Self::EXPECTED))
    }

    const EXPECTED: &'static str =
        "expected a timestamp: RFC 3339 text (2019-05-15T15:20:41Z) or epoch seconds";
}

impl serde::de::Visitor<'_> for TimestampVisitor {
    type Value = Timestamp;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str(Self::EXPECTED)
    }

    fn visit_i64<E: serde::de::Error>(self, epoch: i64) -> Result<Timestamp, E> {
        Self::check(Timestamp::from_epoch(epoch))
    }

    fn visit_u64<E: serde::de::Error>(self, epoch: u64) -> Result<Timestamp, E> {
        Self::check(i64::try_from(epoch).ok().and_then(Timestamp::from_epoch))
    }

    fn visit_f64<E: serde::de::Error>(self, epoch: f64) -> Result<Timestamp, E> {
        Self::check(
            epoch
                .is_finite()
                .then(|| Timestamp::from_epoch(epoch as i64))
                .flatten(),
        )
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Timestamp, E> {
        Self::check(Timestamp::parse(text))
    }
}

/// Text from a payload, cut to [`MAX_TEXT_BYTES`] at a character boundary.
fn long_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.map(|text| truncate(text, MAX_TEXT_BYTES)))
}

/// A name from a payload, cut to [`MAX_NAME_BYTES`].
fn name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(truncate(String::deserialize(deserializer)?, MAX_NAME_BYTES))
}

fn optional_name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.map(|text| truncate(text, MAX_NAME_BYTES)))
}

/// A conclusion from a payload: a documented one, or any other name (cut as a name) kept as
/// [`Conclusion::Other`].
fn conclusion<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Conclusion>, D::Error> {
    Ok(optional_name(deserializer)?.map(Conclusion::from_name))
}

/// Cuts `text` to at most `max` bytes without splitting a character.
pub fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// Whether `full_name` is `owner/name` as GitHub allows them: each part 1 to 100 letters, digits,
/// `.`, `-` or `_`, and neither `.` nor `..`. Nothing else reaches a URL path or the database.
pub fn valid_full_name(full_name: &str) -> bool {
    let part = |part: &str| {
        (1..=100).contains(&part.len())
            && part != "."
            && part != ".."
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    full_name
        .split_once('/')
        .is_some_and(|(owner, name)| part(owner) && part(name))
}

/// A repository's `full_name`, refused (the delivery gets 400 naming the field) unless
/// [`valid_full_name`]: a name such as `o/r/../../user` would otherwise steer the GitHub API paths
/// built from it.
fn full_name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let text = String::deserialize(deserializer)?;
    if valid_full_name(&text) {
        Ok(text)
    } else {
        Err(serde::de::Error::custom(
            "not a GitHub repository name (owner/name of letters, digits, `.`, `-` and `_`)",
        ))
    }
}

/// `repository` in every payload.
#[derive(Debug, Clone, Deserialize)]
pub struct Repository {
    pub id: i64,
    #[serde(deserialize_with = "full_name")]
    pub full_name: String,
    #[serde(default)]
    pub html_url: Option<String>,
    #[serde(default, deserialize_with = "optional_name")]
    pub default_branch: Option<String>,
}

/// A GitHub account (`sender`, `actor`).
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    #[serde(deserialize_with = "name")]
    pub login: String,
    #[serde(default)]
    pub avatar_url: Option<String>,
}

/// A git author or committer: name and email always, `username` only in push payloads.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GitPerson {
    #[serde(default, deserialize_with = "optional_name")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "optional_name")]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "optional_name")]
    pub username: Option<String>,
}

/// `ping`: sent when a webhook is created.
#[derive(Debug, Clone, Deserialize)]
pub struct Ping {
    #[serde(default)]
    pub hook_id: Option<i64>,
    /// Absent for organisation hooks.
    #[serde(default)]
    pub repository: Option<Repository>,
}

/// A commit in a push (`commits[]`, `head_commit`) or a run's `head_commit`.
#[derive(Debug, Clone, Deserialize)]
pub struct Commit {
    pub id: String,
    #[serde(default, deserialize_with = "long_text")]
    pub message: Option<String>,
    #[serde(default)]
    pub timestamp: Option<Timestamp>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub author: Option<GitPerson>,
}

impl Commit {
    /// A commit known only by its hash (a check run's or a status's head, a run without
    /// `head_commit`).
    pub fn bare(sha: String) -> Self {
        Self {
            id: sha,
            message: None,
            timestamp: None,
            url: None,
            author: None,
        }
    }
}

/// `push`: commits pushed to a ref; also how branch creation and deletion show up.
#[derive(Debug, Clone, Deserialize)]
pub struct Push {
    #[serde(rename = "ref")]
    pub git_ref: String,
    #[serde(default)]
    pub created: bool,
    #[serde(default)]
    pub deleted: bool,
    pub repository: Repository,
    #[serde(default)]
    pub commits: Vec<Commit>,
    #[serde(default)]
    pub head_commit: Option<Commit>,
}

impl Push {
    /// The branch name if this push is to `refs/heads/...`; `None` for tags.
    pub fn branch(&self) -> Option<&str> {
        self.git_ref.strip_prefix("refs/heads/")
    }
}

/// `create` and `delete`: a branch or tag was created or deleted. Tags are ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct RefChange {
    #[serde(rename = "ref", deserialize_with = "name")]
    pub git_ref: String,
    pub ref_type: String,
    pub repository: Repository,
}

impl RefChange {
    /// The branch name, or `None` when the ref is a tag.
    pub fn branch(&self) -> Option<&str> {
        (self.ref_type == "branch").then_some(self.git_ref.as_str())
    }
}

/// The `workflow` object of a workflow_run delivery (or one entry of REST's list-workflows).
#[derive(Debug, Clone, Deserialize)]
pub struct Workflow {
    pub id: i64,
    #[serde(deserialize_with = "name")]
    pub name: String,
    pub path: String,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub html_url: Option<String>,
}

/// `workflow_run`, as in the webhook and in REST's list-workflow-runs.
#[derive(Debug, Clone, Deserialize)]
pub struct WorkflowRun {
    pub id: i64,
    /// Empty in webhook deliveries; the workflow's name in REST responses.
    #[serde(default, deserialize_with = "optional_name")]
    pub name: Option<String>,
    pub workflow_id: i64,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default, deserialize_with = "optional_name")]
    pub head_branch: Option<String>,
    pub head_sha: String,
    pub run_number: i64,
    #[serde(default = "first_attempt")]
    pub run_attempt: i64,
    #[serde(deserialize_with = "name")]
    pub event: String,
    #[serde(default, deserialize_with = "long_text")]
    pub display_title: Option<String>,
    pub status: Status,
    #[serde(default, deserialize_with = "conclusion")]
    pub conclusion: Option<Conclusion>,
    #[serde(default)]
    pub html_url: Option<String>,
    pub created_at: Timestamp,
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
    #[serde(default)]
    pub run_started_at: Option<Timestamp>,
    #[serde(default)]
    pub actor: Option<User>,
    #[serde(default)]
    pub head_commit: Option<Commit>,
}

fn first_attempt() -> i64 {
    1
}

/// A `workflow_run` delivery.
#[derive(Debug, Clone, Deserialize)]
pub struct WorkflowRunEvent {
    pub action: String,
    pub workflow: Workflow,
    pub workflow_run: WorkflowRun,
    pub repository: Repository,
}

/// `workflow_job`, as in the webhook and in REST's list-jobs.
#[derive(Debug, Clone, Deserialize)]
pub struct WorkflowJob {
    pub id: i64,
    pub run_id: i64,
    #[serde(default = "first_attempt")]
    pub run_attempt: i64,
    #[serde(deserialize_with = "name")]
    pub name: String,
    #[serde(default, deserialize_with = "optional_name")]
    pub workflow_name: Option<String>,
    pub status: Status,
    #[serde(default, deserialize_with = "conclusion")]
    pub conclusion: Option<Conclusion>,
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    #[serde(default)]
    pub started_at: Option<Timestamp>,
    #[serde(default)]
    pub completed_at: Option<Timestamp>,
    #[serde(default, deserialize_with = "optional_name")]
    pub runner_name: Option<String>,
    #[serde(default, deserialize_with = "optional_name")]
    pub runner_group_name: Option<String>,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub html_url: Option<String>,
    /// The job's steps, in order; empty until the job runs (and in some REST answers).
    #[serde(default, deserialize_with = "steps")]
    pub steps: Vec<Step>,
}

/// One step of a job (`workflow_job.steps[]`).
#[derive(Debug, Clone, Deserialize)]
pub struct Step {
    #[serde(deserialize_with = "name")]
    pub name: String,
    pub number: i64,
    pub status: Status,
    #[serde(default, deserialize_with = "conclusion")]
    pub conclusion: Option<Conclusion>,
    #[serde(default)]
    pub started_at: Option<Timestamp>,
    #[serde(default)]
    pub completed_at: Option<Timestamp>,
}

/// Most steps kept per job: GitHub allows 1,000; a board needs the failing one and a few more.
pub const MAX_STEPS: usize = 200;

fn steps<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Step>, D::Error> {
    let mut steps = Option::<Vec<Step>>::deserialize(deserializer)?.unwrap_or_default();
    steps.truncate(MAX_STEPS);
    Ok(steps)
}

/// The app behind a check run (`check_run.app`).
#[derive(Debug, Clone, Deserialize)]
pub struct App {
    pub id: i64,
    /// Missing in some of GitHub's own examples.
    #[serde(default, deserialize_with = "optional_name")]
    pub slug: Option<String>,
    #[serde(deserialize_with = "name")]
    pub name: String,
}

/// The suite a check run belongs to, for its branch.
#[derive(Debug, Clone, Deserialize)]
pub struct CheckSuiteRef {
    #[serde(default, deserialize_with = "optional_name")]
    pub head_branch: Option<String>,
}

/// `check_run`, as in the webhook and in REST's list-check-runs-for-a-ref.
#[derive(Debug, Clone, Deserialize)]
pub struct CheckRun {
    pub id: i64,
    #[serde(deserialize_with = "name")]
    pub name: String,
    pub head_sha: String,
    pub status: Status,
    #[serde(default, deserialize_with = "conclusion")]
    pub conclusion: Option<Conclusion>,
    #[serde(default)]
    pub started_at: Option<Timestamp>,
    #[serde(default)]
    pub completed_at: Option<Timestamp>,
    #[serde(default)]
    pub html_url: Option<String>,
    #[serde(default)]
    pub details_url: Option<String>,
    pub app: App,
    #[serde(default)]
    pub check_suite: Option<CheckSuiteRef>,
}

/// A `check_run` delivery.
#[derive(Debug, Clone, Deserialize)]
pub struct CheckRunEvent {
    pub action: String,
    pub check_run: CheckRun,
    pub repository: Repository,
}

/// A branch a commit status names (`status.branches[]`), with that branch's head commit.
#[derive(Debug, Clone, Deserialize)]
pub struct StatusBranch {
    #[serde(deserialize_with = "name")]
    pub name: String,
    pub commit: StatusBranchCommit,
}

/// The head commit of a [`StatusBranch`].
#[derive(Debug, Clone, Deserialize)]
pub struct StatusBranchCommit {
    pub sha: String,
}

/// A `status` delivery: a commit status set by a token (Jenkins, Travis, ...).
#[derive(Debug, Clone, Deserialize)]
pub struct StatusEvent {
    pub id: i64,
    pub sha: String,
    #[serde(deserialize_with = "name")]
    pub context: String,
    /// `pending`, `success`, `failure` or `error`.
    #[serde(deserialize_with = "name")]
    pub state: String,
    #[serde(default)]
    pub target_url: Option<String>,
    #[serde(default, deserialize_with = "long_text")]
    pub description: Option<String>,
    #[serde(default)]
    pub branches: Vec<StatusBranch>,
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
    pub repository: Repository,
}

/// A `workflow_job` delivery.
#[derive(Debug, Clone, Deserialize)]
pub struct WorkflowJobEvent {
    pub action: String,
    pub workflow_job: WorkflowJob,
    pub repository: Repository,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_in_all_four_github_formats() {
        let utc = Timestamp::parse("2019-05-15T15:20:41Z").unwrap();
        assert_eq!(Timestamp::parse("2019-05-15T15:20:41.000Z"), Some(utc));
        assert_eq!(Timestamp::parse("2019-05-15T08:20:41.000-07:00"), Some(utc));
        assert_eq!(Timestamp::parse("1557933641"), Some(utc));
        let from_int: Timestamp = serde_json::from_str("1557933641").unwrap();
        assert_eq!(from_int, utc);
        assert!(serde_json::from_str::<Timestamp>("\"yesterday\"").is_err());
        assert!(serde_json::from_str::<Timestamp>("-5").is_err());
    }

    #[test]
    fn a_timestamp_is_read_from_whichever_json_type_it_came_in() {
        let utc = Timestamp(1_557_933_641);
        for json in [
            "1557933641",
            "1557933641.9",
            "\"1557933641\"",
            "\"2019-05-15T15:20:41Z\"",
        ] {
            assert_eq!(
                serde_json::from_str::<Timestamp>(json).unwrap(),
                utc,
                "{json}"
            );
        }
        for json in ["18446744073709551615", "1e300", "true", "[]", "{}", "\"\""] {
            let err = serde_json::from_str::<Timestamp>(json).unwrap_err();
            assert!(
                err.to_string().contains("expected a timestamp"),
                "{json}: {err}"
            );
        }
        let absent: Option<Timestamp> = serde_json::from_str("null").unwrap();
        assert_eq!(absent, None);
    }

    #[test]
    fn truncate_never_splits_a_character() {
        let text = "é".repeat(10); // 2 bytes each
        assert_eq!(truncate(text.clone(), 5), "éé");
        assert_eq!(truncate(text.clone(), 100), text);
    }

    #[test]
    fn a_parse_error_names_the_field() {
        let err = parse(EventKind::WorkflowRun, br#"{"action":"completed","workflow":{"id":1,"name":"n","path":"p"},"workflow_run":{"id":"x"},"repository":{"id":1,"full_name":"a/b"}}"#).unwrap_err();
        assert_eq!(err.path, "workflow_run.id");
        let err = parse(EventKind::Push, b"{not json").unwrap_err();
        assert!(err.message.contains("key must be a string"), "{err}");
    }

    #[test]
    fn a_repository_name_outside_githubs_rules_is_refused_naming_the_field() {
        let payload = |name: &str| {
            format!(
                r#"{{"ref":"refs/heads/main","before":"0","after":"1","commits":[],"repository":{{"id":1,"full_name":"{name}"}},"sender":{{"login":"a"}}}}"#
            )
        };
        assert!(parse(EventKind::Push, payload("o/r.x_y-z").as_bytes()).is_ok());
        for bad in [
            "o/r/../../../../user/repos?x=",
            "o",
            "o/..",
            "<b>/x",
            "o/r x",
            "/r",
            "o/",
        ] {
            let err = parse(EventKind::Push, payload(bad).as_bytes()).unwrap_err();
            assert_eq!(err.path, "repository.full_name", "{bad}: {err}");
        }
    }

    #[test]
    fn an_unknown_status_is_refused() {
        let err = serde_json::from_str::<WorkflowJob>(
            r#"{"id":1,"run_id":2,"name":"j","status":"exploded"}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown status"), "{err}");
    }
}
