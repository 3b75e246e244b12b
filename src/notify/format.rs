//! A [`Message`] as each kind of target takes it.
//!
//! - Slack-compatible: `{"text": ..., "blocks": [...]}` with `mrkdwn`; Mattermost and Rocket.Chat
//!   read `text` (which says everything, links included) and ignore `blocks`.
//! - Teams: an Office 365 connector `MessageCard` (`@type`, `@context`, `summary`, `themeColor`,
//!   `title`, `text`, `potentialAction` with `OpenUri`), which Teams incoming webhooks accept.
//! - Teams Workflows (`teams-adaptive`): `{"type": "message", "attachments": [{"contentType":
//!   "application/vnd.microsoft.card.adaptive", "content": <an AdaptiveCard 1.4>}]}`.
//! - JSON: the message itself with `"delivery"` (the outbox id, also `X-Buildboard-Delivery`)
//!   and `"version": 1`; the body is signed by the sender.

use serde_json::{json, Value};

use super::{human_duration, Kind, Message, Transition};

/// The body to post to a target of `kind`, for outbox row `delivery`.
pub fn body(kind: Kind, message: &Message, delivery: i64) -> Value {
    match kind {
        Kind::Slack => slack(message),
        Kind::Teams => teams(message),
        Kind::TeamsAdaptive => teams_adaptive(message),
        Kind::Json => {
            let mut value = serde_json::to_value(message).expect("a message serialises");
            if let Value::Object(map) = &mut value {
                map.insert("delivery".into(), json!(delivery));
                map.insert("version".into(), json!(1));
            }
            value
        }
    }
}

/// "octo-org/octo-repo · CI on main started failing", in plain words.
pub fn headline(message: &Message) -> String {
    let what = format!(
        "{} · {} on {}",
        message.repo, message.workflow, message.branch
    );
    match message.transition {
        Transition::Failing => format!("{what} started failing"),
        Transition::Fixed => match message.red_for_s {
            Some(s) => format!("{what} is fixed, red for {}", human_duration(s)),
            None => format!("{what} is fixed"),
        },
        Transition::Flapping => format!(
            "{what} is flapping ({} changes in {} min, now {}); further changes are summarised until it settles",
            message.changes.unwrap_or_default(),
            super::detect::FLAP_WINDOW / 60,
            message.state
        ),
    }
}

fn icon(message: &Message) -> &'static str {
    match message.transition {
        Transition::Failing => "🔴",
        Transition::Fixed => "✅",
        Transition::Flapping => "⚠️",
    }
}

fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

/// Lines of detail: the first red commit and its author, where it failed, the run.
/// `link(text, url)` renders a link in the target's markup; `esc` escapes text for it.
fn details(
    message: &Message,
    link: impl Fn(&str, &str) -> String,
    esc: impl Fn(&str) -> String,
) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(first) = &message.first_red {
        let commit = esc(short(&first.sha));
        let commit = match &first.url {
            Some(url) => link(&commit, url),
            None => commit,
        };
        let mut line = format!("First red commit: {commit}");
        if let Some(text) = &first.message {
            line.push_str(&format!(" “{}”", esc(text)));
        }
        if let Some(author) = &first.author {
            line.push_str(&format!(" by {}", esc(author)));
        }
        lines.push(line);
    }
    if let Some(at) = &message.failed_at {
        let place = match &at.step {
            Some(step) => format!("{} › {}", at.job, step),
            None => at.job.clone(),
        };
        lines.push(format!("Failed at: {}", esc(&place)));
    }
    let run = format!("run #{}", message.run.number);
    let run = match &message.run.url {
        Some(url) => link(&run, url),
        None => run,
    };
    let mut line = format!("Latest: {run} ({})", esc(short(&message.run.sha)));
    if let Some(board) = &message.board_url {
        line.push_str(&format!(" · {}", link("board", board)));
    }
    lines.push(line);
    lines
}

/// Slack's mrkdwn escapes `&`, `<` and `>` only.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn slack(message: &Message) -> Value {
    let headline = format!("{} {}", icon(message), slack_escape(&headline(message)));
    let lines = details(message, |text, url| format!("<{url}|{text}>"), slack_escape);
    let text = format!("{headline}\n{}", lines.join("\n"));
    json!({
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": format!("*{headline}*")}},
            {"type": "section", "text": {"type": "mrkdwn", "text": lines.join("\n")}},
        ],
    })
}

/// Teams' MessageCard text is Markdown.
fn markdown_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '*' | '_' | '[' | ']' | '<' | '>' | '`' | '#') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn teams(message: &Message) -> Value {
    let headline = headline(message);
    let lines = details(
        message,
        |text, url| format!("[{text}]({url})"),
        markdown_escape,
    );
    let colour = match (message.transition, message.state.as_str()) {
        (Transition::Failing, _) => "D73A49",
        (Transition::Fixed, _) => "28A745",
        (Transition::Flapping, _) => "DBAB09",
    };
    let mut actions = Vec::new();
    if let Some(url) = &message.run.url {
        actions.push(json!({"@type": "OpenUri", "name": "Open the run",
            "targets": [{"os": "default", "uri": url}]}));
    }
    if let Some(url) = &message.board_url {
        actions.push(json!({"@type": "OpenUri", "name": "Open the board",
            "targets": [{"os": "default", "uri": url}]}));
    }
    json!({
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": headline,
        "themeColor": colour,
        "title": format!("{} {}", icon(message), headline),
        "text": lines.join("\n\n"),
        "potentialAction": actions,
    })
}

/// A Teams Workflows webhook's message: one Adaptive Card (its TextBlocks take Markdown links).
fn teams_adaptive(message: &Message) -> Value {
    let lines = details(
        message,
        |text, url| format!("[{text}]({url})"),
        markdown_escape,
    );
    let colour = match message.transition {
        Transition::Failing => "Attention",
        Transition::Fixed => "Good",
        Transition::Flapping => "Warning",
    };
    let mut actions = Vec::new();
    if let Some(url) = &message.run.url {
        actions.push(json!({"type": "Action.OpenUrl", "title": "Open the run", "url": url}));
    }
    if let Some(url) = &message.board_url {
        actions.push(json!({"type": "Action.OpenUrl", "title": "Open the board", "url": url}));
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [
                    {"type": "TextBlock", "text": format!("{} {}", icon(message), headline(message)),
                     "weight": "Bolder", "size": "Medium", "wrap": true, "color": colour},
                    {"type": "TextBlock", "text": lines.join("\n\n"), "wrap": true},
                ],
                "actions": actions,
            },
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::super::{FailedAt, RunRef};
    use super::*;
    use crate::run_state::Conclusion;

    fn message(transition: Transition) -> Message {
        let run = RunRef {
            id: 7,
            number: 42,
            conclusion: Some(Conclusion::Failure),
            sha: "0123456789abcdef".into(),
            message: Some("Fix <script> & stuff".into()),
            author: Some("alice".into()),
            url: Some("https://github.com/o/r/actions/runs/7".into()),
        };
        Message {
            transition,
            repo: "o/r".into(),
            workflow: "CI".into(),
            branch: "main".into(),
            state: "red".into(),
            first_red: Some(run.clone()),
            run,
            failed_at: Some(FailedAt {
                job: "build".into(),
                step: Some("Run tests".into()),
            }),
            red_for_s: Some(2 * 3600 + 14 * 60),
            changes: None,
            board_url: Some("https://board.example/?repo=o%2Fr".into()),
            at: 0,
        }
    }

    #[test]
    fn slack_text_says_everything_with_links_and_escapes_markup() {
        let body = body(Kind::Slack, &message(Transition::Failing), 1);
        let text = body["text"].as_str().unwrap();
        assert!(text.contains("o/r · CI on main started failing"), "{text}");
        assert!(
            text.contains("<https://github.com/o/r/actions/runs/7|0123456>"),
            "{text}"
        );
        assert!(text.contains("by alice"), "{text}");
        assert!(text.contains("Failed at: build › Run tests"), "{text}");
        assert!(text.contains("Fix &lt;script&gt; &amp; stuff"), "{text}");
        assert_eq!(body["blocks"][0]["type"], "section");
    }

    #[test]
    fn teams_gets_a_message_card_and_fixed_says_for_how_long() {
        let body = body(Kind::Teams, &message(Transition::Fixed), 1);
        assert_eq!(body["@type"], "MessageCard");
        assert_eq!(body["@context"], "https://schema.org/extensions");
        assert!(body["summary"]
            .as_str()
            .unwrap()
            .ends_with("is fixed, red for 2 h 14 min"));
        assert_eq!(body["potentialAction"][0]["@type"], "OpenUri");
    }

    #[test]
    fn teams_workflows_get_an_adaptive_card_in_a_message() {
        let body = body(Kind::TeamsAdaptive, &message(Transition::Failing), 1);
        assert_eq!(body["type"], "message");
        let card = &body["attachments"][0];
        assert_eq!(
            card["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        assert_eq!(card["content"]["type"], "AdaptiveCard");
        assert!(card["content"]["body"][0]["text"]
            .as_str()
            .unwrap()
            .contains("started failing"));
        assert_eq!(card["content"]["actions"][0]["type"], "Action.OpenUrl");
    }

    #[test]
    fn json_is_the_message_with_its_delivery_id() {
        let body = body(Kind::Json, &message(Transition::Failing), 9);
        assert_eq!(body["delivery"], 9);
        assert_eq!(body["transition"], "failing");
        assert_eq!(body["first_red"]["author"], "alice");
    }
}
