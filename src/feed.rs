//! The live feed's protocol: what each WebSocket message is and how it is built. `/ws` sends
//! `hello` and `snapshot` (see `web::ws`); the ingest publisher sends one message per committed
//! change, built here once for every client (a `run` also carries the board's HTML fragments for
//! it, rendered by [`crate::views::run_fragments`]). The README's "WebSocket feed" table lists the
//! same messages. Every message goes through [`Privacy`] (part of the server's [`Opts`]) before
//! it is serialised.

use serde::Serialize;
use serde_json::json;

use crate::scope::Privacy;
use crate::store::model::{Change, Run};
use crate::views::{self, Opts};

/// `hello`: the first message on a connection, with the server's version and the hub's
/// generation (a page rendered at an older one resyncs).
pub fn hello(generation: u64) -> String {
    json!({
        "type": "hello",
        "version": env!("CARGO_PKG_VERSION"),
        "generation": generation,
    })
    .to_string()
}

/// `snapshot`: the newest runs, on connect (`reason` `connect`) or after the client fell behind
/// (`lagged`, with how many messages it `missed`).
pub fn snapshot(reason: &str, missed: u64, mut runs: Vec<Run>, privacy: Privacy) -> String {
    privacy.redact_runs(&mut runs);
    json!({"type": "snapshot", "reason": reason, "missed": missed, "builds": runs}).to_string()
}

/// `backfill`: the App's background backfill of `repo` moved to `state` (`running`, `done`,
/// `failed`); pages then read the board's "backfilling 12 of 25 repositories" line again. Sent,
/// like every message, only to those who may read `repo`.
pub fn backfill(repo: &str, state: &str) -> String {
    json!({"type": "backfill", "repo": repo, "state": state}).to_string()
}

/// The message for a committed change: the change itself (`type` plus its payload, unchanged in
/// shape) and, for a run, `html` with the board's fragments ([`views::RunFragments`]).
pub fn change(change: &Change, opts: Opts) -> String {
    let mut change = change.clone();
    opts.privacy.redact_change(&mut change);
    let Change::Run { run } = &change else {
        return serde_json::to_string(&change).expect("changes serialise to JSON");
    };
    /// A `run` message: the change's own fields, in order (`type` first), then the fragments.
    #[derive(Serialize)]
    struct RunMessage<'a> {
        r#type: &'static str,
        /// The run, under the feed's name for it.
        build: &'a Run,
        #[serde(skip_serializing_if = "Option::is_none")]
        html: Option<views::RunFragments>,
    }
    let html = views::run_fragments(run, opts)
        .map_err(
            |err| tracing::error!(cause = %err, run = run.id, "could not render a run's fragments"),
        )
        .ok();
    serde_json::to_string(&RunMessage {
        r#type: "run",
        build: run,
        html,
    })
    .expect("changes serialise to JSON")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::model::CommitInfo;

    #[test]
    fn hidden_authors_leave_no_name_in_a_commit_message() {
        let commit = Change::Commit {
            commit: CommitInfo {
                repo: "octo-org/octo-repo".into(),
                sha: "a".repeat(40),
                message: Some("Fix".into()),
                author: Some("Mona Lisa".into()),
                author_login: Some("mona".into()),
                committed_at: None,
                url: None,
            },
        };
        let shown = change(&commit, Opts::default());
        let hidden = change(
            &commit,
            Opts {
                privacy: Privacy { hide_authors: true },
                ghes_host: None,
            },
        );
        assert!(shown.contains("mona") && shown.starts_with(r#"{"type":"commit""#));
        assert!(
            !hidden.contains("mona") && !hidden.contains("Mona"),
            "{hidden}"
        );
    }
}
