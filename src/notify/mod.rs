//! Notifications on transitions: when a workflow on a watched branch goes from green to red
//! ("started failing") or back ("fixed, red for 2 h 14 min"), each configured target whose
//! filters match gets one message.
//!
//! - [`detect`] runs inside the ingest writer's transaction: it recomputes the pair's state from
//!   the stored runs, and on a change records the transition and queues one `outbox` row per
//!   matching target, in the same transaction. A transition is therefore stored exactly when the
//!   run that made it is, and queued at most once per target.
//! - [`sender`] is a background task that posts due rows, marks them sent after a 2xx, and
//!   retries others with exponential backoff. Rows survive a restart.
//! - [`format`] renders a [`Message`] for each kind of target: Slack-compatible (Slack,
//!   Mattermost, Rocket.Chat), Microsoft Teams (a MessageCard), Teams Workflows (an Adaptive
//!   Card), or buildboard's own JSON, signed with HMAC-SHA256 (`X-Buildboard-Signature-256`).
//!
//! - [`queues`] does the same for runner queues: a periodic check records "no runner for
//!   self-hosted, gpu for 14 min" when a label set's longest wait goes over `--queue-alert`, and
//!   "runners ... are back" when it is under again, with one outbox row per target.
//!
//! Targets come from `--notify-config FILE` (JSON, see [`Targets::load`]) and `--notify-slack URL`,
//! or, without those flags, from the settings page (`crate::settings`); the sender and the
//! detector read the targets of the moment.

pub mod detect;
pub mod format;
pub mod queues;
pub mod sender;

use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::run_state::Conclusion;
use sha2::Digest;

/// What a target speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Slack's incoming-webhook JSON (`text`, `blocks`), which Mattermost and Rocket.Chat take too.
    Slack,
    /// A Microsoft Teams incoming webhook (an Office 365 connector MessageCard).
    Teams,
    /// A Microsoft Teams "Workflows" webhook (Power Automate), which takes an Adaptive Card in a
    /// message: the successor of the Office 365 connectors.
    #[serde(rename = "teams-adaptive")]
    TeamsAdaptive,
    /// buildboard's own JSON, signed with the target's secret.
    Json,
}

impl Kind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::Teams => "teams",
            Self::TeamsAdaptive => "teams-adaptive",
            Self::Json => "json",
        }
    }
}

/// One place notifications go, and which transitions it wants (serialised only to be stored
/// by the settings page: the URL and the secret are credentials).
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// The name the outbox refers to it by; derived from the kind and the URL when not given.
    /// Keep it stable: a pending message whose target's name is gone is dropped.
    #[serde(default)]
    pub name: String,
    pub kind: Kind,
    pub url: String,
    /// The HMAC-SHA256 key for `json` targets (required there).
    #[serde(default)]
    pub secret: Option<String>,
    /// Repositories ("owner/name", exact); empty means every one.
    #[serde(default)]
    pub repos: Vec<String>,
    /// Branch names or globs (`release/*`), among the watched branches; empty means every
    /// watched branch.
    #[serde(default)]
    pub branches: Vec<String>,
    /// Workflow names, in any case; empty means every one.
    #[serde(default)]
    pub workflows: Vec<String>,
}

impl fmt::Debug for Target {
    /// Without the URL (a Slack or Teams URL is itself a credential) or the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("repos", &self.repos)
            .field("branches", &self.branches)
            .field("workflows", &self.workflows)
            .finish_non_exhaustive()
    }
}

impl Target {
    /// Does a transition of `workflow` on `branch` of `repo` go to this target?
    pub fn matches(&self, repo: &str, branch: &str, workflow: &str) -> bool {
        (self.repos.is_empty() || self.repos.iter().any(|r| r == repo))
            && (self.branches.is_empty()
                || self
                    .branches
                    .iter()
                    .any(|b| b == branch || glob::Pattern::new(b).is_ok_and(|p| p.matches(branch))))
            && (self.workflows.is_empty()
                || self
                    .workflows
                    .iter()
                    .any(|w| w.eq_ignore_ascii_case(workflow)))
    }
}

/// The configured targets; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Targets(Arc<[Target]>);

/// The notification config file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    targets: Vec<Target>,
}

impl Targets {
    /// The targets of `--notify-config` (if given) and `--notify-slack` (if given).
    ///
    /// # Errors
    /// When the file cannot be read or parsed, or a target is invalid.
    pub fn load(file: Option<&Path>, slack: Option<&str>) -> anyhow::Result<Self> {
        let mut targets = Vec::new();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the notification config {}", path.display()))?;
            let parsed: File = serde_json::from_str(&text)
                .with_context(|| format!("parsing the notification config {}", path.display()))?;
            targets.extend(parsed.targets);
        }
        if let Some(url) = slack {
            targets.push(Target {
                name: String::new(),
                kind: Kind::Slack,
                url: url.to_owned(),
                secret: None,
                repos: Vec::new(),
                branches: Vec::new(),
                workflows: Vec::new(),
            });
        }
        Self::new(targets)
    }

    /// Checks `targets` and names those without a name.
    ///
    /// # Errors
    /// A URL that is not http(s), a `json` target without a secret, a bad branch glob, two
    /// targets with one name.
    pub fn new(mut targets: Vec<Target>) -> anyhow::Result<Self> {
        let mut names = HashSet::new();
        for target in &mut targets {
            let lower = target.url.to_ascii_lowercase();
            anyhow::ensure!(
                lower.starts_with("https://") || lower.starts_with("http://"),
                "notification target {:?}: the url must start with https:// or http://",
                target.name
            );
            if target.name.is_empty() {
                let digest = sha2::Sha256::digest(target.url.as_bytes());
                target.name = format!("{}-{}", target.kind.as_str(), &hex::encode(digest)[..8]);
            }
            anyhow::ensure!(
                target.kind != Kind::Json
                    || target.secret.as_deref().is_some_and(|s| !s.is_empty()),
                "notification target {:?}: a json target needs a secret to sign with",
                target.name
            );
            for glob in &target.branches {
                glob::Pattern::new(glob).map_err(|err| {
                    anyhow::anyhow!(
                        "notification target {:?}: {glob:?} is not a branch glob: {err}",
                        target.name
                    )
                })?;
            }
            anyhow::ensure!(
                names.insert(target.name.clone()),
                "two notification targets are named {:?}",
                target.name
            );
        }
        Ok(Self(targets.into()))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Target> {
        self.0.iter()
    }

    pub fn get(&self, name: &str) -> Option<&Target> {
        self.0.iter().find(|t| t.name == name)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What happened to a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    /// Green to red.
    Failing,
    /// Red to green.
    Fixed,
    /// Changed state more than [`detect::FLAP_LIMIT`] times within [`detect::FLAP_WINDOW`]:
    /// this one message stands for the changes until it settles.
    Flapping,
}

impl Transition {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Failing => "failing",
            Self::Fixed => "fixed",
            Self::Flapping => "flapping",
        }
    }
}

/// A run a message points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRef {
    pub id: i64,
    pub number: i64,
    pub conclusion: Option<Conclusion>,
    pub sha: String,
    /// First line of the head commit's message.
    pub message: Option<String>,
    /// Who started it; absent with `--hide-authors`.
    pub author: Option<String>,
    /// The run on GitHub, when it is a safe link.
    pub url: Option<String>,
}

/// Where the failing run failed, when its jobs are known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedAt {
    pub job: String,
    pub step: Option<String>,
}

/// A notification, as stored in the outbox and sent (with a `delivery` id) to `json` targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub transition: Transition,
    pub repo: String,
    pub workflow: String,
    pub branch: String,
    /// `red` or `green`: the state now.
    pub state: String,
    /// The run that made the transition.
    pub run: RunRef,
    /// While red (failing, flapping red): the first red run of the streak, its commit and author.
    pub first_red: Option<RunRef>,
    pub failed_at: Option<FailedAt>,
    /// Fixed: how long it was red, in seconds.
    pub red_for_s: Option<i64>,
    /// Flapping: the changes of state within the window, this one included.
    pub changes: Option<u32>,
    /// The board, filtered to this workflow and branch, when `--public-url` is set.
    pub board_url: Option<String>,
    /// When the transition was recorded (epoch seconds).
    pub at: i64,
}

/// "2 h 14 min", "5 min", "40 s", "3 d 2 h".
pub fn human_duration(seconds: i64) -> String {
    let s = seconds.max(0);
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    if d > 0 {
        if h > 0 {
            format!("{d} d {h} h")
        } else {
            format!("{d} d")
        }
    } else if h > 0 {
        if m > 0 {
            format!("{h} h {m} min")
        } else {
            format!("{h} h")
        }
    } else if m > 0 {
        format!("{m} min")
    } else {
        format!("{s} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(json: serde_json::Value) -> Target {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(human_duration(2 * 3600 + 14 * 60 + 5), "2 h 14 min");
        assert_eq!(human_duration(300), "5 min");
        assert_eq!(human_duration(40), "40 s");
        assert_eq!(human_duration(3 * 86_400 + 7200), "3 d 2 h");
    }

    #[test]
    fn filters_match_repos_exactly_branches_by_glob_and_workflows_in_any_case() {
        let t = target(serde_json::json!({"kind": "slack", "url": "https://x/y",
            "repos": ["o/r"], "branches": ["release/*"], "workflows": ["ci"]}));
        assert!(t.matches("o/r", "release/1.0", "CI"));
        assert!(!t.matches("o/other", "release/1.0", "CI"));
        assert!(!t.matches("o/r", "main", "CI"));
        assert!(!t.matches("o/r", "release/1.0", "Lint"));
        let all = target(serde_json::json!({"kind": "teams", "url": "https://x/y"}));
        assert!(all.matches("a/b", "main", "anything"));
    }

    #[test]
    fn targets_are_checked_and_named() {
        let ok = Targets::new(vec![
            target(serde_json::json!({"kind": "slack", "url": "https://hooks.example/a"})),
            target(serde_json::json!({"name": "ops", "kind": "json", "url": "http://127.0.0.1:9/x", "secret": "s"})),
        ])
        .unwrap();
        let names: Vec<&str> = ok.iter().map(|t| t.name.as_str()).collect();
        assert!(
            names[0].starts_with("slack-") && names[0].len() == 14,
            "{names:?}"
        );
        assert_eq!(names[1], "ops");
        assert!(
            !format!("{:?}", ok).contains("hooks.example"),
            "the URL stays out of logs"
        );
        let unsigned = Targets::new(vec![target(
            serde_json::json!({"kind": "json", "url": "https://x/y"}),
        )]);
        assert!(unsigned.is_err());
        let ftp = Targets::new(vec![target(
            serde_json::json!({"kind": "slack", "url": "ftp://x"}),
        )]);
        assert!(ftp.is_err());
        let twice = Targets::new(vec![
            target(serde_json::json!({"name": "a", "kind": "slack", "url": "https://x/1"})),
            target(serde_json::json!({"name": "a", "kind": "slack", "url": "https://x/2"})),
        ]);
        assert!(twice.is_err());
    }
}
