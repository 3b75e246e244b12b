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
//!
//! Everything from a payload (names, commit messages, URLs) is escaped for the markup it goes
//! into, links included: no workflow name becomes a link of its own, no URL splits a link in two
//! (`slack_link`, `markdown_link`).

use serde_json::{json, Value};

use super::{human_duration, Kind, Message, Transition};

/// The body to post to a target of `kind`, for outbox row `delivery`.
pub fn body(kind: Kind, message: &Message, delivery: i64) -> Value {
    match kind {
        Kind::Slack => slack(message),
        Kind::Teams => teams(message),
        Kind::TeamsAdaptive => teams_adaptive(message),
        Kind::Json => json_body(message, delivery),
    }
}

/// A `json` target's body: the message itself with `"delivery"` (the outbox id) and
/// `"version": 1`, for reds and queue alerts alike.
pub fn json_body(message: &impl serde::Serialize, delivery: i64) -> Value {
    let mut value = serde_json::to_value(message).expect("a message serialises");
    if let Value::Object(map) = &mut value {
        map.insert("delivery".into(), json!(delivery));
        map.insert("version".into(), json!(1));
    }
    value
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
pub(super) fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `<url|text>`, with `text` already escaped: the URL is escaped too, and its `|` (which would
/// end the URL there) is percent-encoded, so that it stays one link to where it points.
pub(super) fn slack_link(text: &str, url: &str) -> String {
    format!("<{}|{text}>", slack_escape(url).replace('|', "%7C"))
}

fn slack(message: &Message) -> Value {
    let headline = format!("{} {}", icon(message), slack_escape(&headline(message)));
    let lines = details(message, slack_link, slack_escape);
    let text = format!("{headline}\n{}", lines.join("\n"));
    json!({
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": format!("*{headline}*")}},
            {"type": "section", "text": {"type": "mrkdwn", "text": lines.join("\n")}},
        ],
    })
}

/// Teams' MessageCard text and Adaptive Cards' TextBlocks are Markdown: every character with a
/// meaning there is backslash-escaped.
pub(super) fn markdown_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '*' | '_' | '[' | ']' | '(' | ')' | '<' | '>' | '`' | '#' | '!' | '~' | '|'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `[text](url)`, with `text` already escaped; the characters that would end or break the URL
/// (parentheses, spaces, angle brackets) are percent-encoded.
pub(super) fn markdown_link(text: &str, url: &str) -> String {
    let mut target = String::with_capacity(url.len());
    for c in url.chars() {
        match c {
            '(' => target.push_str("%28"),
            ')' => target.push_str("%29"),
            ' ' => target.push_str("%20"),
            '<' => target.push_str("%3C"),
            '>' => target.push_str("%3E"),
            '\\' => target.push_str("%5C"),
            c if c.is_control() => {}
            c => target.push(c),
        }
    }
    format!("[{text}]({target})")
}

fn teams(message: &Message) -> Value {
    let headline = markdown_escape(&headline(message));
    let lines = details(message, markdown_link, markdown_escape);
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
        // Plain text, shown in notifications' previews: as it is.
        "summary": self::headline(message),
        "themeColor": colour,
        "title": format!("{} {}", icon(message), headline),
        "text": lines.join("\n\n"),
        "potentialAction": actions,
    })
}

/// A Teams Workflows webhook's message: one Adaptive Card (its TextBlocks take Markdown links).
fn teams_adaptive(message: &Message) -> Value {
    let lines = details(message, markdown_link, markdown_escape);
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
                    {"type": "TextBlock", "text": format!("{} {}", icon(message), markdown_escape(&headline(message))),
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

    /// A message whose workflow name is a Markdown link and whose run URL would split a Slack
    /// link, as an attacker's workflow file and payload could make them.
    fn hostile() -> Message {
        let mut message = message(Transition::Failing);
        message.workflow = "Deploy [Re-authenticate](https://evil.example/login)".into();
        message.run.url = Some(
            "https://github.com/o/r/actions/runs/7|evil>click <https://evil.example|here>".into(),
        );
        message
    }

    #[test]
    fn teams_cards_escape_markdown_from_payloads_links_included() {
        let card = body(Kind::Teams, &hostile(), 1);
        let adaptive = body(Kind::TeamsAdaptive, &hostile(), 1);
        let content = &adaptive["attachments"][0]["content"]["body"];
        for text in [
            card["title"].as_str().unwrap(),
            card["text"].as_str().unwrap(),
            content[0]["text"].as_str().unwrap(),
            content[1]["text"].as_str().unwrap(),
        ] {
            assert!(!text.contains("[Re-authenticate]("), "{text}");
            assert!(!text.contains("<https://evil"), "{text}");
        }
        assert!(card["title"]
            .as_str()
            .unwrap()
            .contains("Deploy \\[Re-authenticate\\]\\(https://evil.example/login\\)"));
        // The run's link is one link, to the URL as received (its `<` and `>` encoded).
        let text = card["text"].as_str().unwrap();
        assert!(
            text.contains("[run #42](https://github.com/o/r/actions/runs/7|evil%3Eclick%20%3Chttps://evil.example|here%3E)"),
            "{text}"
        );
    }

    #[test]
    fn a_slack_link_stays_one_link_whatever_its_url_holds() {
        let body = body(Kind::Slack, &hostile(), 1);
        let text = body["text"].as_str().unwrap();
        assert!(
            text.contains("<https://github.com/o/r/actions/runs/7%7Cevil&gt;click &lt;https://evil.example%7Chere&gt;|run #42>"),
            "{text}"
        );
        assert!(!text.contains("<https://evil"), "{text}");
        assert_eq!(
            text.matches('<').count(),
            text.matches('>').count(),
            "{text}"
        );
    }

    #[test]
    fn json_is_the_message_with_its_delivery_id() {
        let body = body(Kind::Json, &message(Transition::Failing), 9);
        assert_eq!(body["delivery"], 9);
        assert_eq!(body["transition"], "failing");
        assert_eq!(body["first_red"]["author"], "alice");
    }
}
