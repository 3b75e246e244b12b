//! Transitions, detected in the ingest writer's transaction.
//!
//! The rules (the README's "Notifications" section says the same):
//! - A pair (workflow × branch) counts only on a watched branch (the repository's default branch
//!   and `--watch-branches`).
//! - Its state is that of its latest completed run whose conclusion is not neutral (cancelled,
//!   skipped, ... are looked past), recomputed from the stored runs whenever one of its runs is
//!   stored, so a late delivery of an old run never makes a transition.
//! - A pair seen for the first time takes its state silently: a transition needs a known state
//!   before it.
//! - **Debounce**: one message per change of state, not per run: a second red run of a red pair
//!   says nothing. **Flapping**: a change that is more than the [`FLAP_LIMIT`]th within
//!   [`FLAP_WINDOW`] sends one "flapping" summary instead, and later changes are recorded but not
//!   sent until the pair settles: the first change after a quiet [`FLAP_WINDOW`] is sent as usual
//!   and ends the flapping.

use std::collections::HashSet;
use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension};

use super::{FailedAt, Message, RunRef, Targets, Transition};
use crate::run_state::Status;
use crate::store::model::{Change, Run};
use crate::store::outbox::{self, Decisive, PairState};
use crate::store::{read, triage, Result};
use crate::views::{self, Opts};
use crate::watch::WatchedBranches;

/// Changes of state within [`FLAP_WINDOW`] beyond which a pair is flapping.
pub const FLAP_LIMIT: u32 = 3;
/// The window (seconds) in which changes of state are counted for flapping.
pub const FLAP_WINDOW: i64 = 30 * 60;

/// What the writer needs to detect transitions and queue their messages; cheap to clone.
#[derive(Clone)]
pub struct Detector {
    pub targets: Targets,
    pub watched: WatchedBranches,
    /// Privacy (`--hide-authors`) and which links are safe.
    pub opts: Opts,
    /// `--public-url`'s origin, for links to the board.
    pub board_url: Option<String>,
    /// Woken after each committed group, so the sender looks at the outbox at once.
    pub wake: Arc<tokio::sync::Notify>,
}

impl Detector {
    /// Looks at the pairs of the runs among `changes` and records their transitions (and queues
    /// their messages). Returns how many messages were queued.
    ///
    /// # Errors
    /// On a database error; the caller rolls back with the delivery.
    pub fn on_changes(&self, conn: &Connection, changes: &[Change], now: i64) -> Result<usize> {
        let mut seen = HashSet::new();
        let mut queued = 0;
        for change in changes {
            let Change::Run { run } = change else {
                continue;
            };
            if run.status != Status::Completed || !seen.insert(run.id) {
                continue;
            }
            queued += self.on_run(conn, run, now)?;
        }
        Ok(queued)
    }

    /// [`Self::on_changes`] in a savepoint of its own: should detection fail, its writes are
    /// rolled back and logged, and the delivery is stored all the same (a lost notification is
    /// better than a lost delivery).
    ///
    /// # Errors
    /// Only when the savepoint itself cannot be made or ended.
    pub fn on_changes_isolated(
        &self,
        conn: &Connection,
        changes: &[Change],
        now: i64,
    ) -> Result<usize> {
        let relevant = changes
            .iter()
            .any(|c| matches!(c, Change::Run { run } if run.status == Status::Completed));
        if !relevant {
            return Ok(0);
        }
        conn.execute_batch("SAVEPOINT notify_detect")?;
        match self.on_changes(conn, changes, now) {
            Ok(queued) => {
                conn.execute_batch("RELEASE notify_detect")?;
                Ok(queued)
            }
            Err(err) => {
                tracing::error!(cause = %err, "detecting a transition failed; the delivery is stored without it");
                conn.execute_batch("ROLLBACK TO notify_detect; RELEASE notify_detect")?;
                Ok(0)
            }
        }
    }

    fn on_run(&self, conn: &Connection, completed: &Run, now: i64) -> Result<usize> {
        let Some((branch_id, branch)) = self.watched_branch(conn, completed)? else {
            return Ok(0);
        };
        let pair = Pair {
            workflow_id: completed.workflow_id,
            branch_id,
        };
        let Some(now_state) = outbox::decisive_run(conn, pair.workflow_id, branch_id)? else {
            return Ok(0);
        };
        let Some(before) = outbox::pair_state(conn, pair.workflow_id, branch_id)? else {
            let state = PairState {
                red: now_state.red,
                since: now_state.time,
                run_id: now_state.run_id,
                first_red_run: pair.first_red(conn, &now_state)?,
                flapping: false,
            };
            outbox::put_pair_state(conn, pair.workflow_id, branch_id, &state)?;
            return Ok(0);
        };
        if before.red == now_state.red {
            if before.run_id != now_state.run_id {
                let state = PairState {
                    run_id: now_state.run_id,
                    ..before
                };
                outbox::put_pair_state(conn, pair.workflow_id, branch_id, &state)?;
            }
            return Ok(0);
        }
        let change = pair.record_change(conn, &before, &now_state, now)?;
        let Some(kind) = change.send else {
            tracing::debug!(repo = %completed.repo, workflow = %completed.workflow, %branch, "flapping: change recorded, not sent");
            return Ok(0);
        };
        self.queue_messages(conn, &branch, &now_state, &change, kind, now)
    }

    /// The run's branch (id and name) when it is watched.
    fn watched_branch(&self, conn: &Connection, run: &Run) -> Result<Option<(i64, String)>> {
        let pair: Option<(i64, String, Option<String>)> = conn
            .prepare_cached(
                "SELECT r.branch_id, b.name, repos.defaultbranch FROM workflowruns r
                 JOIN branches b ON b.id = r.branch_id JOIN repos ON repos.id = r.repo_id
                 WHERE r.id = ?1",
            )?
            .query_row([run.id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .optional()?;
        Ok(pair
            .filter(|(_, branch, default)| self.watched.contains(branch, default.as_deref()))
            .map(|(id, branch, _)| (id, branch)))
    }

    /// Queues the message of a change sent as `kind` for every target that wants it; returns
    /// how many were queued.
    fn queue_messages(
        &self,
        conn: &Connection,
        branch: &str,
        now_state: &Decisive,
        change: &Recorded,
        kind: Transition,
        now: i64,
    ) -> Result<usize> {
        let Some(run) = read::run(conn, now_state.run_id)? else {
            return Ok(0);
        };
        let targets: Vec<&str> = self
            .targets
            .iter()
            .filter(|t| t.matches(&run.repo, branch, &run.workflow))
            .map(|t| t.name.as_str())
            .collect();
        if targets.is_empty() {
            return Ok(0);
        }
        let first_red_build = match change.first_red_run {
            Some(id) if id == run.id => Some(run.clone()),
            Some(id) => read::run(conn, id)?,
            None => None,
        };
        let failed_at = if now_state.red {
            triage::failed_at(conn, run.id, run.run_attempt)?.map(|f| FailedAt {
                job: f.job,
                step: f.step,
            })
        } else {
            None
        };
        let message = Message {
            transition: kind,
            repo: run.repo.clone(),
            workflow: run.workflow.clone(),
            branch: branch.to_owned(),
            state: if now_state.red { "red" } else { "green" }.to_owned(),
            run: self.run_ref(&run),
            first_red: first_red_build.as_ref().map(|b| self.run_ref(b)),
            failed_at,
            red_for_s: change.red_for_s,
            changes: (kind == Transition::Flapping).then_some(change.changes),
            board_url: self.board_link(&run.repo, branch, &run.workflow),
            at: now,
        };
        let payload = serde_json::to_string(&message).expect("a message serialises");
        for target in &targets {
            outbox::enqueue(conn, change.transition, target, &payload, now)?;
        }
        tracing::info!(repo = %run.repo, workflow = %run.workflow, %branch, transition = kind.as_str(), targets = targets.len(), "transition queued for notification");
        Ok(targets.len())
    }

    fn run_ref(&self, run: &Run) -> RunRef {
        RunRef {
            id: run.id,
            number: run.run_number,
            conclusion: run.conclusion.clone(),
            sha: run.sha.clone(),
            message: run.message.clone(),
            author: if self.opts.privacy.hide_authors {
                None
            } else {
                run.author.clone()
            },
            url: views::safe_link(run.url.as_deref(), &self.opts).map(str::to_owned),
        }
    }

    fn board_link(&self, repo: &str, branch: &str, workflow: &str) -> Option<String> {
        let origin = self.board_url.as_deref()?;
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("repo", repo)
            .append_pair("branch", branch)
            .append_pair("workflow", workflow)
            .finish();
        Some(format!("{}/?{query}", origin.trim_end_matches('/')))
    }
}

/// A workflow on a branch, whose state notifications follow.
#[derive(Clone, Copy)]
struct Pair {
    workflow_id: i64,
    branch_id: i64,
}

/// A change of a pair's state, as recorded.
struct Recorded {
    /// The `transitions` row.
    transition: i64,
    /// What to send; `None` while the pair flaps.
    send: Option<Transition>,
    /// Changes within [`FLAP_WINDOW`], this one included.
    changes: u32,
    first_red_run: Option<i64>,
    /// How long the pair was red, when it has just turned green.
    red_for_s: Option<i64>,
}

impl Pair {
    /// The first run of the red streak `now_state` is in; `None` when it is green.
    fn first_red(self, conn: &Connection, now_state: &Decisive) -> Result<Option<i64>> {
        if !now_state.red {
            return Ok(None);
        }
        Ok(
            outbox::first_red_run(conn, self.workflow_id, self.branch_id)?
                .or(Some(now_state.run_id)),
        )
    }

    /// Records the change from `before` to `now_state`: the pair's new state and the transition,
    /// and decides whether it is sent (flapping: see the module's doc).
    fn record_change(
        self,
        conn: &Connection,
        before: &PairState,
        now_state: &Decisive,
        now: i64,
    ) -> Result<Recorded> {
        let (workflow_id, branch_id) = (self.workflow_id, self.branch_id);
        let recent = outbox::transitions_since(conn, workflow_id, branch_id, now - FLAP_WINDOW)?;
        let changes = recent + 1;
        let (send, flapping) = if before.flapping {
            if recent == 0 {
                (Some(plain(now_state.red)), false) // settled: back to one message per change
            } else {
                (None, true)
            }
        } else if changes > FLAP_LIMIT {
            (Some(Transition::Flapping), true)
        } else {
            (Some(plain(now_state.red)), false)
        };
        let first_red_run = self.first_red(conn, now_state)?;
        let since = match first_red_run {
            Some(id) if now_state.red && id != now_state.run_id => read::run(conn, id)?
                .and_then(|b| b.completed_at.or(b.created_at))
                .unwrap_or(now_state.time),
            _ => now_state.time,
        };
        let state = PairState {
            red: now_state.red,
            since,
            run_id: now_state.run_id,
            first_red_run,
            flapping,
        };
        outbox::put_pair_state(conn, workflow_id, branch_id, &state)?;
        let kind = send.unwrap_or(plain(now_state.red));
        let transition = outbox::insert_transition(
            conn,
            workflow_id,
            branch_id,
            kind.as_str(),
            now_state.run_id,
            send.is_some(),
            now,
        )?;
        Ok(Recorded {
            transition,
            send,
            changes,
            first_red_run,
            red_for_s: (!now_state.red).then(|| (now_state.time - before.since).max(0)),
        })
    }
}

const fn plain(red: bool) -> Transition {
    if red {
        Transition::Failing
    } else {
        Transition::Fixed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::event::{self, EventKind};
    use crate::notify::Target;
    use crate::store::{write, Store};

    /// A completed run `id` of the fixture's workflow on its default branch, created at `created`.
    fn run(id: i64, created: i64, conclusion: &str) -> crate::github::event::Event {
        let mut payload: serde_json::Value = serde_json::from_slice(include_bytes!(
            "../../tests/fixtures/github/webhooks/workflow_run/completed.payload.json"
        ))
        .unwrap();
        let time = chrono::DateTime::from_timestamp(created, 0)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let r = &mut payload["workflow_run"];
        r["id"] = serde_json::json!(id);
        r["conclusion"] = serde_json::json!(conclusion);
        for field in ["created_at", "run_started_at", "updated_at"] {
            r[field] = serde_json::json!(time);
        }
        event::parse(
            EventKind::WorkflowRun,
            &serde_json::to_vec(&payload).unwrap(),
        )
        .unwrap()
    }

    fn detector(targets: usize) -> Detector {
        let targets = (0..targets)
            .map(|i| Target {
                name: format!("t{i}"),
                kind: crate::notify::Kind::Slack,
                url: "https://chat.example/hook".into(),
                secret: None,
                repos: Vec::new(),
                branches: Vec::new(),
                workflows: Vec::new(),
            })
            .collect();
        Detector {
            targets: Targets::new(targets).unwrap(),
            watched: WatchedBranches::default(),
            opts: Opts::default(),
            board_url: Some("https://board.example".into()),
            wake: Arc::default(),
        }
    }

    fn setup() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.sqlite")).unwrap();
        let conn = store.open_writer().unwrap();
        (dir, conn)
    }

    /// Applies `event` and detects, as the writer does; returns the messages queued.
    fn apply(conn: &Connection, detector: &Detector, event: &crate::github::event::Event) -> usize {
        let changes = write::apply_event(conn, event, 1_000).unwrap();
        detector.on_changes(conn, &changes, 1_000).unwrap()
    }

    fn kinds(conn: &Connection) -> Vec<String> {
        conn.prepare("SELECT kind FROM transitions ORDER BY id")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn a_late_delivery_of_an_old_run_makes_no_transition() {
        let (_dir, conn) = setup();
        let d = detector(1);
        assert_eq!(
            apply(&conn, &d, &run(1, 100, "success")),
            0,
            "first state: silent"
        );
        assert_eq!(
            apply(&conn, &d, &run(2, 200, "failure")),
            1,
            "started failing"
        );
        assert_eq!(apply(&conn, &d, &run(3, 300, "success")), 1, "fixed");
        // Run 0 failed long before all of them and arrives last: the state is still green.
        assert_eq!(apply(&conn, &d, &run(0, 50, "failure")), 0);
        // A cancelled run says nothing either.
        assert_eq!(apply(&conn, &d, &run(4, 400, "cancelled")), 0);
        assert_eq!(kinds(&conn), ["failing", "fixed"]);
        let payload: String = conn
            .query_row(
                "SELECT payload FROM outbox ORDER BY id DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let message: Message = serde_json::from_str(&payload).unwrap();
        assert_eq!(message.transition, Transition::Fixed);
        assert_eq!(message.run.id, 3);
        assert!(message.red_for_s.is_some());
        assert!(message
            .board_url
            .unwrap()
            .starts_with("https://board.example/?repo=octo-org%2Focto-repo"));
    }

    #[test]
    fn the_first_red_run_of_the_streak_is_named_and_authors_can_be_hidden() {
        let (_dir, conn) = setup();
        let mut d = detector(1);
        d.opts.privacy.hide_authors = true;
        apply(&conn, &d, &run(1, 100, "success"));
        // Two red runs stored in one transaction, the later first.
        let mut changes = write::apply_event(&conn, &run(3, 300, "failure"), 1_000).unwrap();
        changes.extend(write::apply_event(&conn, &run(2, 200, "failure"), 1_000).unwrap());
        assert_eq!(
            d.on_changes(&conn, &changes, 1_000).unwrap(),
            1,
            "one transition, one message"
        );
        let payload: String = conn
            .query_row("SELECT payload FROM outbox", [], |r| r.get(0))
            .unwrap();
        let message: Message = serde_json::from_str(&payload).unwrap();
        assert_eq!(message.first_red.as_ref().unwrap().id, 2);
        assert_eq!(message.run.id, 3);
        assert!(message.run.author.is_none() && message.first_red.unwrap().author.is_none());
    }

    #[test]
    fn a_failing_detection_is_rolled_back_alone() {
        let (_dir, conn) = setup();
        let d = detector(1);
        apply(&conn, &d, &run(1, 100, "success"));
        conn.execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON transitions BEGIN SELECT RAISE(ABORT, 'no'); END;",
        )
        .unwrap();
        conn.execute_batch("BEGIN").unwrap();
        let changes = write::apply_event(&conn, &run(2, 200, "failure"), 1_000).unwrap();
        assert_eq!(d.on_changes_isolated(&conn, &changes, 1_000).unwrap(), 0);
        conn.execute_batch("COMMIT").unwrap();
        let (runs, state): (i64, String) = conn
            .query_row(
                "SELECT (SELECT COUNT(*) FROM workflowruns), (SELECT state FROM pairstates)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(
            (runs, state.as_str()),
            (2, "green"),
            "the run is stored, the detection undone"
        );
    }

    #[test]
    fn transitions_are_recorded_without_targets_too() {
        let (_dir, conn) = setup();
        let d = detector(0);
        apply(&conn, &d, &run(1, 100, "success"));
        assert_eq!(apply(&conn, &d, &run(2, 200, "failure")), 0);
        assert_eq!(kinds(&conn), ["failing"]);
    }

    /// `cargo test --release --lib detection_cost -- --ignored --nocapture`: the writer's time per
    /// completed run on a watched branch, with and without detection, in one transaction.
    #[test]
    #[ignore = "a measurement"]
    fn detection_cost() {
        for with in [false, true] {
            let (_dir, mut conn) = setup();
            let d = detector(2);
            let events: Vec<_> = (1..=5_000)
                .map(|i| {
                    run(
                        i,
                        1_000 + i,
                        if i % 10 == 0 { "failure" } else { "success" },
                    )
                })
                .collect();
            let tx = conn.transaction().unwrap();
            let started = std::time::Instant::now();
            for event in &events {
                let changes = write::apply_event(&tx, event, 1_000).unwrap();
                if with {
                    d.on_changes_isolated(&tx, &changes, 1_000).unwrap();
                }
            }
            let elapsed = started.elapsed();
            tx.commit().unwrap();
            println!(
                "detection {}: {:.1} µs per completed run",
                if with { "on " } else { "off" },
                elapsed.as_secs_f64() * 1e6 / events.len() as f64
            );
        }
    }
}
