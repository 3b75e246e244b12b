//! Notifications on runner queues, on the same terms as reds: when a label set's longest wait
//! goes over `--queue-alert` ("no runner for self-hosted, gpu for 14 min, 6 jobs waiting") and
//! when it is back under ("runners for self-hosted, gpu are back: waited 22 min at most"), each
//! configured target gets one message.
//!
//! A wait grows without any delivery, so no writer hook can see it cross the threshold: a task
//! ([`QueueWatch::run`]) checks every `--queue-check` (30 s). Each check is one write transaction
//! on the ingest writer: it reads the queues ([`runners::queues`]) and the label sets over now
//! (`queuestates`), and for each change records a `transitions` row (`queue_over`,
//! `queue_back`) and one outbox row per target, as the detector does for reds. So a message is
//! queued exactly once per change and target, survives a restart, and the sender retries it.
//! A label set still over says nothing more; the longest wait seen is kept for the "back" message.
//!
//! Label sets are not repository data: every target gets these messages whatever its filters
//! (targets are set by admins), and the messages name no repository.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::format::{markdown_escape, markdown_link, slack_escape, slack_link};
use super::{human_duration, Kind, Targets};
use crate::store::queuestates::{self, Over};
use crate::store::runners::{self, Queue};
use crate::store::{outbox, Result, Writes};

/// What happened to a label set's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueTransition {
    /// Its longest wait reached the threshold.
    QueueOver,
    /// No job waits that long any more (a runner took them, or they were cancelled).
    QueueBack,
}

impl QueueTransition {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::QueueOver => "queue_over",
            Self::QueueBack => "queue_back",
        }
    }
}

/// A queue notification, as stored in the outbox and sent (with `delivery` and `version`) to
/// `json` targets; docs/notifications.md documents its shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueMessage {
    pub transition: QueueTransition,
    /// The label set (`runs-on`), as its newest job gave them.
    pub labels: Vec<String>,
    /// Jobs waiting for a runner now.
    pub queued: i64,
    /// Over: the longest wait now. Back: the longest wait seen while it was over (seconds).
    pub longest_wait_s: i64,
    /// Back: how long it was over (seconds).
    pub over_for_s: Option<i64>,
    /// `--queue-alert`, in seconds.
    pub threshold_s: i64,
    /// The Runners view, when `--public-url` is set.
    pub runners_url: Option<String>,
    /// When the change was found (epoch seconds).
    pub at: i64,
}

impl QueueMessage {
    /// "no runner for self-hosted, gpu for 14 min, 6 jobs waiting", in plain words.
    pub fn headline(&self) -> String {
        let labels = self.labels.join(", ");
        match self.transition {
            QueueTransition::QueueOver => format!(
                "no runner for {labels} for {}, {} {} waiting",
                human_duration(self.longest_wait_s),
                self.queued,
                if self.queued == 1 { "job" } else { "jobs" }
            ),
            QueueTransition::QueueBack => format!(
                "runners for {labels} are back: waited {} at most",
                human_duration(self.longest_wait_s)
            ),
        }
    }

    fn icon(&self) -> &'static str {
        match self.transition {
            QueueTransition::QueueOver => "⏳",
            QueueTransition::QueueBack => "✅",
        }
    }

    /// The body to post to a target of `kind`, for outbox row `delivery` (as
    /// [`super::format::body`] for reds).
    pub fn body(&self, kind: Kind, delivery: i64) -> Value {
        let headline = self.headline();
        match kind {
            Kind::Slack => {
                let mut text = format!("{} {}", self.icon(), slack_escape(&headline));
                if let Some(url) = &self.runners_url {
                    text = format!("{text}\n{}", slack_link("Runners", url));
                }
                json!({"text": text, "blocks": [
                    {"type": "section", "text": {"type": "mrkdwn", "text": text}},
                ]})
            }
            Kind::Teams => {
                let actions: Vec<Value> = self
                    .runners_url
                    .iter()
                    .map(|url| {
                        json!({"@type": "OpenUri",
                    "name": "Open the Runners view", "targets": [{"os": "default", "uri": url}]})
                    })
                    .collect();
                json!({
                    "@type": "MessageCard",
                    "@context": "https://schema.org/extensions",
                    "summary": headline,
                    "themeColor": self.colour("DBAB09", "28A745"),
                    "title": format!("{} {}", self.icon(), markdown_escape(&headline)),
                    "text": self.runners_url.as_deref().map(|u| markdown_link("Runners", u)).unwrap_or_default(),
                    "potentialAction": actions,
                })
            }
            Kind::TeamsAdaptive => {
                let actions: Vec<Value> = self
                    .runners_url
                    .iter()
                    .map(|url| {
                        json!({"type": "Action.OpenUrl",
                    "title": "Open the Runners view", "url": url})
                    })
                    .collect();
                json!({"type": "message", "attachments": [{
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "contentUrl": null,
                    "content": {
                        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                        "type": "AdaptiveCard", "version": "1.4",
                        "body": [{"type": "TextBlock", "wrap": true, "weight": "Bolder",
                            "size": "Medium", "color": self.colour("Warning", "Good"),
                            "text": format!("{} {}", self.icon(), markdown_escape(&headline))}],
                        "actions": actions,
                    },
                }]})
            }
            Kind::Json => super::format::json_body(self, delivery),
        }
    }

    fn colour<'a>(&self, over: &'a str, back: &'a str) -> &'a str {
        match self.transition {
            QueueTransition::QueueOver => over,
            QueueTransition::QueueBack => back,
        }
    }
}

/// What one check does to one label set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Newly over: record it and send "no runner".
    Over { key: String, queue: Queue },
    /// Still over: keep the longest wait seen, send nothing.
    StillOver { key: String, max_wait_s: i64 },
    /// Back under: forget it and send "back".
    Back { key: String, over: Over },
}

/// The steps from the label sets over before (`over`) to the queues now, at `threshold_s`.
pub fn plan(over: &BTreeMap<String, Over>, queues: &[Queue], threshold_s: i64) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut now_over = BTreeMap::new();
    for queue in queues.iter().filter(|q| q.waits_over(threshold_s)) {
        now_over.insert(queue.label_key(), queue);
    }
    for (key, queue) in &now_over {
        match over.get(key) {
            None => steps.push(Step::Over {
                key: key.clone(),
                queue: (*queue).clone(),
            }),
            Some(before) if queue.longest_wait_s > before.max_wait_s => {
                steps.push(Step::StillOver {
                    key: key.clone(),
                    max_wait_s: queue.longest_wait_s,
                });
            }
            Some(_) => {}
        }
    }
    for (key, before) in over {
        if !now_over.contains_key(key) {
            steps.push(Step::Back {
                key: key.clone(),
                over: before.clone(),
            });
        }
    }
    steps
}

/// The periodic check; cheap to clone.
#[derive(Clone)]
pub struct QueueWatch {
    /// `--queue-alert`, in seconds.
    pub threshold_s: i64,
    /// The Runners view's address, when `--public-url` is set.
    pub runners_url: Option<String>,
}

impl QueueWatch {
    /// Applies the queues at `now` in one transaction: records each change and queues its
    /// messages for `targets`. Returns how many messages were queued.
    ///
    /// # Errors
    /// On a database error; nothing is written then.
    pub fn check(&self, conn: &Connection, targets: &Targets, now: i64) -> Result<usize> {
        let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
        let queues = runners::queues(&tx, now)?;
        let before = queuestates::over(&tx)?;
        let mut queued = 0;
        for step in plan(&before, &queues, self.threshold_s) {
            match step {
                Step::Over { key, queue } => {
                    let over = Over {
                        labels: queue.labels.clone(),
                        since: now,
                        max_wait_s: queue.longest_wait_s,
                    };
                    queuestates::put(&tx, &key, &over)?;
                    let message = QueueMessage {
                        transition: QueueTransition::QueueOver,
                        labels: queue.labels.clone(),
                        queued: queue.queued,
                        longest_wait_s: queue.longest_wait_s,
                        over_for_s: None,
                        threshold_s: self.threshold_s,
                        runners_url: self.runners_url.clone(),
                        at: now,
                    };
                    queued += enqueue(&tx, targets, &message, now)?;
                }
                Step::StillOver { key, max_wait_s } => {
                    let mut over = before[&key].clone();
                    over.max_wait_s = max_wait_s;
                    queuestates::put(&tx, &key, &over)?;
                }
                Step::Back { key, over } => {
                    queuestates::remove(&tx, &key)?;
                    let queue = queues.iter().find(|q| q.label_key() == key);
                    let message = QueueMessage {
                        transition: QueueTransition::QueueBack,
                        labels: over.labels.clone(),
                        queued: queue.map_or(0, |q| q.queued),
                        longest_wait_s: over.max_wait_s,
                        over_for_s: Some((now - over.since).max(0)),
                        threshold_s: self.threshold_s,
                        runners_url: self.runners_url.clone(),
                        at: now,
                    };
                    queued += enqueue(&tx, targets, &message, now)?;
                }
            }
        }
        tx.commit()?;
        Ok(queued)
    }

    /// Checks every `every` until `shutdown`, through `writer` (the server's one writer), with
    /// the targets of the moment; wakes the sender when it queued a message.
    pub async fn run<W: Writes>(
        self,
        writer: W,
        targets: Box<dyn Fn() -> Targets + Send + Sync>,
        every: Duration,
        wake: Arc<tokio::sync::Notify>,
        shutdown: CancellationToken,
    ) {
        let mut rounds = crate::housekeeping::Rounds::new(every, &shutdown);
        while rounds.next().await {
            let watch = self.clone();
            let targets = targets();
            let now = chrono::Utc::now().timestamp();
            match writer
                .write(move |conn| watch.check(conn, &targets, now))
                .await
            {
                Ok(0) => {}
                Ok(queued) => {
                    tracing::info!(queued, "runner queue change queued for notification");
                    wake.notify_one();
                }
                Err(err) => tracing::warn!(cause = %err, "checking the runner queues failed"),
            }
        }
    }
}

/// Records `message`'s transition and queues it for every target; returns how many.
fn enqueue(
    conn: &Connection,
    targets: &Targets,
    message: &QueueMessage,
    now: i64,
) -> Result<usize> {
    let transition = queuestates::insert_transition(conn, message.transition.as_str(), now)?;
    let payload = serde_json::to_string(message).expect("a message serialises");
    let mut queued = 0;
    for target in targets.iter() {
        outbox::enqueue(conn, transition, &target.name, &payload, now)?;
        queued += 1;
    }
    Ok(queued)
}

#[cfg(test)]
mod tests {
    use super::*;

    const THRESHOLD: i64 = 600;

    fn queue(labels: &[&str], queued: i64, longest_wait_s: i64) -> Queue {
        Queue {
            labels: labels.iter().map(|l| (*l).to_owned()).collect(),
            queued,
            running: 0,
            longest_wait_s,
            busy_runners: Vec::new(),
        }
    }

    fn targets() -> Targets {
        Targets::new(vec![
            serde_json::from_value(serde_json::json!({"name": "chat", "kind": "slack", "url": "https://x/1"})).unwrap(),
            serde_json::from_value(serde_json::json!({"name": "ops", "kind": "json", "url": "https://x/2", "secret": "s",
                "repos": ["o/other"]})).unwrap(),
        ])
        .unwrap()
    }

    #[test]
    fn a_queue_over_the_threshold_is_over_once_then_still_over_then_back() {
        // Over: newly past the threshold.
        let gpu = queue(&["self-hosted", "gpu"], 6, 840);
        let steps = plan(
            &BTreeMap::new(),
            &[gpu.clone(), queue(&["ubuntu"], 3, 30)],
            THRESHOLD,
        );
        assert_eq!(steps.len(), 1, "{steps:?}");
        let Step::Over { key, .. } = &steps[0] else {
            panic!("{steps:?}")
        };
        assert_eq!(key, r#"["gpu","self-hosted"]"#);
        let mut over = BTreeMap::from([(
            key.clone(),
            Over {
                labels: gpu.labels.clone(),
                since: 0,
                max_wait_s: 840,
            },
        )]);
        // Still over, labels in another order: no second "over"; the longest wait is kept.
        let same = queue(&["gpu", "self-hosted"], 7, 900);
        assert_eq!(
            plan(&over, &[same], THRESHOLD),
            [Step::StillOver {
                key: key.clone(),
                max_wait_s: 900
            }]
        );
        over.get_mut(key).unwrap().max_wait_s = 900;
        assert!(plan(&over, &[queue(&["gpu", "self-hosted"], 7, 700)], THRESHOLD).is_empty());
        // Back: its jobs were taken (or wait less than the threshold).
        for now in [vec![], vec![queue(&["gpu", "self-hosted"], 1, 20)]] {
            let steps = plan(&over, &now, THRESHOLD);
            assert!(
                matches!(&steps[..], [Step::Back { over, .. }] if over.max_wait_s == 900),
                "{steps:?}"
            );
        }
        // A queue with no job waiting is never over.
        assert!(plan(&BTreeMap::new(), &[queue(&["gpu"], 0, 5000)], THRESHOLD).is_empty());
    }

    fn outbox_rows(conn: &Connection) -> Vec<(String, String, String)> {
        conn.prepare(
            "SELECT t.kind, o.target, o.payload FROM outbox o JOIN transitions t ON t.id = o.transition_id
             ORDER BY o.id",
        )
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
    }

    #[test]
    fn each_target_gets_one_message_when_a_queue_goes_over_and_one_when_it_is_back() {
        // Arrange: a gpu job waiting since 0 in a monitored repository.
        let conn = crate::store::memory_db();
        conn.execute_batch(
            "INSERT INTO repos (id, fullname, createtime) VALUES (1, 'o/secret-repo', 0);
             INSERT INTO workflowjobs (id, run_id, repo_id, runattempt, name, status, statusrank,
                                       createtime, labels)
             VALUES (1, 1, 1, 1, 'j', 'queued', 1, 0, '[\"self-hosted\",\"gpu\"]');",
        )
        .unwrap();
        let watch = QueueWatch {
            threshold_s: THRESHOLD,
            runners_url: Some("https://board.example/runners".into()),
        };
        let targets = targets();

        // Act + Assert: under the threshold, nothing.
        assert_eq!(watch.check(&conn, &targets, 300).unwrap(), 0);
        // Over: one message per target, filters or not.
        assert_eq!(watch.check(&conn, &targets, 840).unwrap(), 2);
        let rows = outbox_rows(&conn);
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].0.as_str(), rows[0].1.as_str()),
            ("queue_over", "chat")
        );
        assert_eq!(rows[1].1, "ops");
        let message: QueueMessage = serde_json::from_str(&rows[0].2).unwrap();
        assert_eq!(
            message.headline(),
            "no runner for self-hosted, gpu for 14 min, 1 job waiting"
        );
        assert!(!rows[0].2.contains("secret-repo"), "no repository named");
        // Still over: no second message.
        assert_eq!(watch.check(&conn, &targets, 1320).unwrap(), 0);
        assert_eq!(outbox_rows(&conn).len(), 2);
        // Back: a runner took the job.
        conn.execute(
            "UPDATE workflowjobs SET statusrank = 2, status = 'in_progress'",
            [],
        )
        .unwrap();
        assert_eq!(watch.check(&conn, &targets, 1400).unwrap(), 2);
        let rows = outbox_rows(&conn);
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[2].0, "queue_back");
        let back: QueueMessage = serde_json::from_str(&rows[2].2).unwrap();
        assert_eq!(
            back.headline(),
            "runners for self-hosted, gpu are back: waited 22 min at most"
        );
        assert_eq!(back.over_for_s, Some(1400 - 840));
        assert_eq!(
            watch.check(&conn, &targets, 1500).unwrap(),
            0,
            "back says it once"
        );
        assert!(
            outbox::transitions(&conn, &Default::default(), 0, 10)
                .unwrap()
                .is_empty(),
            "the pairs' transitions do not list queues"
        );
    }

    #[test]
    fn each_kind_of_target_gets_the_headline_escaped_and_json_gets_the_message() {
        let message = QueueMessage {
            transition: QueueTransition::QueueOver,
            labels: vec!["<b>gpu</b>".into()],
            queued: 6,
            longest_wait_s: 840,
            over_for_s: None,
            threshold_s: 600,
            runners_url: Some("https://board.example/runners".into()),
            at: 1,
        };
        let slack = message.body(Kind::Slack, 7);
        let text = slack["text"].as_str().unwrap();
        assert!(
            text.contains("no runner for &lt;b&gt;gpu&lt;/b&gt; for 14 min, 6 jobs waiting"),
            "{text}"
        );
        assert!(
            text.contains("<https://board.example/runners|Runners>"),
            "{text}"
        );
        assert_eq!(message.body(Kind::Teams, 7)["@type"], "MessageCard");
        let card = &message.body(Kind::TeamsAdaptive, 7)["attachments"][0]["content"];
        assert_eq!(card["type"], "AdaptiveCard");
        assert!(card["body"][0]["text"]
            .as_str()
            .unwrap()
            .contains(r"\<b\>gpu"));
        let json = message.body(Kind::Json, 7);
        assert_eq!(json["transition"], "queue_over");
        assert_eq!(json["labels"][0], "<b>gpu</b>");
        assert_eq!(
            (json["delivery"].as_i64(), json["version"].as_i64()),
            (Some(7), Some(1))
        );
    }
}
