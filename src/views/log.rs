//! A job's log as the run page shows it (`templates/joblog.html`): one foldable section per
//! step, the failing step open; GitHub's `##[group]`/`##[endgroup]` as folded groups; its
//! `##[error]`/`##[warning]` lines marked; ANSI colours as CSS classes from a fixed set (the
//! text itself is escaped by askama like every other value, so a log line is never markup);
//! timestamps kept apart, hidden unless asked for; the failure's first line (the line the
//! extractor's excerpt starts with, else the first `##[error]`) marked to be scrolled to.

use askama::Template;

use super::{Chrome, Opts};
use crate::failure;
use crate::joblog::{keep, JobLog, State};

/// The log of one job, ready to render.
#[derive(Debug)]
pub struct LogView {
    pub job_id: i64,
    pub run_id: i64,
    pub job_name: String,
    pub repo: String,
    /// [`State`]'s name: `ok`, `not_ready`, ...
    pub state: &'static str,
    /// Why there is no log, in words.
    pub message: Option<String>,
    pub truncated: bool,
    /// Timestamps shown (`?ts=1`); the page's checkbox toggles them without a request.
    pub show_ts: bool,
    pub steps: Vec<Step>,
}

/// One step of the job: its lines, folded unless it failed.
#[derive(Debug)]
pub struct Step {
    pub title: String,
    pub failed: bool,
    pub items: Vec<Item>,
}

/// A line, or a group of lines (`##[group]`).
#[derive(Debug)]
pub enum Item {
    Line(Line),
    Group(Group),
}

/// A `##[group]`, folded unless it holds the failure's first line.
#[derive(Debug)]
pub struct Group {
    pub title: Line,
    pub lines: Vec<Line>,
    pub open: bool,
}

/// One line of the log.
#[derive(Debug)]
pub struct Line {
    /// 1-based, over the kept log: the line's anchor (`#L12`).
    pub n: usize,
    /// GitHub's timestamp, or empty.
    pub ts: String,
    /// `error`, `warning`, `notice`, `debug`, `command`, `note` (lines cut), or empty.
    pub kind: &'static str,
    pub spans: Vec<Span>,
    /// The line the page scrolls to.
    pub first_error: bool,
}

/// Text in one style: `class` is built only from [`Style`]'s fixed names.
#[derive(Debug, PartialEq, Eq)]
pub struct Span {
    pub class: String,
    pub text: String,
}

impl LogView {
    /// `log` for display, with timestamps shown when `show_ts`.
    pub fn of(log: &JobLog, show_ts: bool) -> Self {
        Self {
            job_id: log.job.job_id,
            run_id: log.job.run_id,
            job_name: log.job.name.clone(),
            repo: log.job.repo.clone(),
            state: state_name(log.state),
            message: log.message(),
            truncated: log.truncated,
            show_ts,
            steps: if log.state == State::Ok {
                steps(&log.text)
            } else {
                Vec::new()
            },
        }
    }
}

/// [`State`]'s name, as in the API.
pub fn state_name(state: State) -> &'static str {
    match state {
        State::Ok => "ok",
        State::Running => "running",
        State::NotReady => "not_ready",
        State::NoAccess => "no_access",
        State::Expired => "expired",
        State::NoToken => "no_token",
        State::Failed => "failed",
    }
}

/// The steps of a kept log.
pub fn steps(text: &str) -> Vec<Step> {
    let lines: Vec<&str> = text.lines().collect();
    let sections = keep::sections(&lines);
    let failing = keep::failing(&lines, &sections);
    let first_error = failing.and_then(|f| first_error(text, &lines, sections[f]));
    sections
        .iter()
        .enumerate()
        .map(|(i, s)| Step {
            title: keep::title(lines[s.start], i),
            failed: Some(i) == failing,
            items: items(&lines[s.start..s.end], s.start, first_error),
        })
        .collect()
}

/// The index of the failure's first line within `section`: where the extractor's excerpt
/// starts, else the first `##[error]`.
fn first_error(text: &str, lines: &[&str], section: keep::Section) -> Option<usize> {
    let range = section.start..section.end;
    let excerpt_head =
        failure::extract(text).and_then(|found| found.excerpt.lines().next().map(str::to_owned));
    excerpt_head
        .and_then(|head| {
            range
                .clone()
                .find(|&i| failure::clean_line(lines[i]).as_deref() == Some(head.as_str()))
        })
        .or_else(|| {
            range.into_iter().find(|&i| {
                failure::split_timestamp(lines[i])
                    .1
                    .starts_with("##[error]")
            })
        })
}

/// A step's lines (the first at index `offset` of the log) as lines and groups.
fn items(lines: &[&str], offset: usize, first_error: Option<usize>) -> Vec<Item> {
    let mut items = Vec::new();
    let mut group: Option<Group> = None;
    for (i, raw) in lines.iter().enumerate() {
        let at = offset + i;
        let (ts, bare) = failure::split_timestamp(raw);
        if let Some(title) = bare.strip_prefix("##[group]") {
            items.extend(group.take().map(Item::Group));
            group = Some(Group {
                title: line(at, ts, "", title, first_error == Some(at)),
                lines: Vec::new(),
                open: first_error == Some(at),
            });
            continue;
        }
        if bare.starts_with("##[endgroup]") {
            items.extend(group.take().map(Item::Group));
            continue;
        }
        let (kind, text) = kind(raw, bare);
        let line = line(at, ts, kind, text, first_error == Some(at));
        match &mut group {
            Some(group) => {
                group.open |= line.first_error;
                group.lines.push(line);
            }
            None => items.push(Item::Line(line)),
        }
    }
    items.extend(group.map(Item::Group));
    items
}

fn line(at: usize, ts: &str, kind: &'static str, text: &str, first_error: bool) -> Line {
    Line {
        n: at + 1,
        ts: ts.to_owned(),
        kind,
        spans: spans(text),
        first_error,
    }
}

/// A line's kind and the text to show: workflow commands lose their `##[...]` prefix for
/// GitHub's own words (`Error: ...`); a note of [`keep`] is shown as such.
fn kind<'a>(raw: &'a str, bare: &'a str) -> (&'static str, &'a str) {
    if let Some(note) = keep::as_note(raw) {
        return ("note", note);
    }
    for (prefix, kind) in [
        ("##[error]", "error"),
        ("##[warning]", "warning"),
        ("##[notice]", "notice"),
        ("##[debug]", "debug"),
    ] {
        if let Some(text) = bare.strip_prefix(prefix) {
            return (kind, text);
        }
    }
    if bare.starts_with("[command]") {
        return ("command", bare.trim_start_matches("[command]"));
    }
    ("", bare)
}

/// The style ANSI's SGR codes have set so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Style {
    bold: bool,
    dim: bool,
    italic: bool,
    underline: bool,
    fg: Option<&'static str>,
    bg: Option<&'static str>,
}

const COLOURS: [&str; 8] = [
    "black", "red", "green", "yellow", "blue", "magenta", "cyan", "white",
];
const BRIGHT: [&str; 8] = [
    "bright-black",
    "bright-red",
    "bright-green",
    "bright-yellow",
    "bright-blue",
    "bright-magenta",
    "bright-cyan",
    "bright-white",
];

impl Style {
    /// The CSS classes of this style (`a-b a-fg-red`), from fixed names only.
    fn class(self) -> String {
        let mut classes: Vec<String> = [
            (self.bold, "a-b"),
            (self.dim, "a-d"),
            (self.italic, "a-i"),
            (self.underline, "a-u"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| (*name).to_owned())
        .collect();
        classes.extend(self.fg.map(|c| format!("a-fg-{c}")));
        classes.extend(self.bg.map(|c| format!("a-bg-{c}")));
        classes.join(" ")
    }

    /// Applies one SGR sequence's parameters (`1;31`).
    fn apply(&mut self, params: &str) {
        let codes: Vec<u16> = params.split(';').map(|p| p.parse().unwrap_or(0)).collect();
        let mut i = 0;
        while i < codes.len() {
            match codes[i] {
                0 => *self = Style::default(),
                1 => self.bold = true,
                2 => self.dim = true,
                3 => self.italic = true,
                4 => self.underline = true,
                22 => (self.bold, self.dim) = (false, false),
                23 => self.italic = false,
                24 => self.underline = false,
                c @ 30..=37 => self.fg = Some(COLOURS[usize::from(c - 30)]),
                c @ 90..=97 => self.fg = Some(BRIGHT[usize::from(c - 90)]),
                39 => self.fg = None,
                c @ 40..=47 => self.bg = Some(COLOURS[usize::from(c - 40)]),
                c @ 100..=107 => self.bg = Some(BRIGHT[usize::from(c - 100)]),
                49 => self.bg = None,
                c @ (38 | 48) => {
                    // 256 colours (`38;5;n`): the 16 named ones kept; 24-bit (`38;2;r;g;b`) dropped.
                    let (colour, used) = extended(&codes[i + 1..]);
                    if c == 38 {
                        self.fg = colour;
                    } else {
                        self.bg = colour;
                    }
                    i += used;
                }
                _ => {}
            }
            i += 1;
        }
    }
}

/// The colour of an extended colour's parameters (after `38`/`48`), and how many they are.
fn extended(rest: &[u16]) -> (Option<&'static str>, usize) {
    match rest {
        [5, n, ..] if *n < 8 => (Some(COLOURS[usize::from(*n)]), 2),
        [5, n, ..] if *n < 16 => (Some(BRIGHT[usize::from(*n - 8)]), 2),
        [5, _, ..] => (None, 2),
        [2, ..] => (None, 4.min(rest.len())),
        _ => (None, 0),
    }
}

/// `text` split where its ANSI style changes; every escape sequence is dropped from the text.
pub fn spans(text: &str) -> Vec<Span> {
    let mut out = Vec::new();
    let mut style = Style::default();
    let mut buf = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('\x1b') {
        buf.push_str(&rest[..at]);
        let (sgr, after) = escape(&rest[at + 1..]);
        if let Some(params) = sgr {
            let mut next = style;
            next.apply(params);
            if next != style && !buf.is_empty() {
                out.push(Span {
                    class: style.class(),
                    text: std::mem::take(&mut buf),
                });
            }
            style = next;
        }
        rest = after;
    }
    buf.push_str(rest);
    if !buf.is_empty() {
        out.push(Span {
            class: style.class(),
            text: buf,
        });
    }
    out
}

/// The escape sequence at the start of `text` (just after its ESC): an SGR's parameters if it
/// is one, and what follows it.
fn escape(text: &str) -> (Option<&str>, &str) {
    let mut chars = text.char_indices();
    match chars.next() {
        Some((_, '[')) => {
            // CSI: parameters and intermediates, then one final byte in @..~.
            for (i, c) in chars {
                if ('@'..='~').contains(&c) {
                    let sgr = (c == 'm').then(|| &text[1..i]);
                    return (sgr, &text[i + c.len_utf8()..]);
                }
            }
            (None, "")
        }
        Some((_, ']')) => {
            // OSC: up to BEL or ESC \.
            let end = text.find(['\x07', '\x1b']).map_or(text.len(), |i| {
                i + if text[i..].starts_with("\x1b\\") {
                    2
                } else {
                    1
                }
            });
            (None, &text[end..])
        }
        Some((_, c)) => (None, &text[c.len_utf8()..]),
        None => (None, ""),
    }
}

#[derive(Template)]
#[template(path = "joblog_page.html")]
struct LogPage<'a> {
    c: &'a Chrome,
    v: &'a LogView,
    opts: Opts,
}

#[derive(Template)]
#[template(path = "joblog.html")]
struct LogPart<'a> {
    v: &'a LogView,
}

/// The log's own page (`/jobs/<id>/log`).
///
/// # Errors
/// When a template fails to render (a bug: templates are checked at compile time).
pub fn log_page(c: &Chrome, v: &LogView, opts: Opts) -> askama::Result<String> {
    LogPage { c, v, opts }.render()
}

/// The log alone, which the run page fetches into a job (`/jobs/<id>/log?part=live`).
///
/// # Errors
/// As [`log_page`].
pub fn log_part(v: &LogView) -> askama::Result<String> {
    LogPart { v }.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(class: &str, text: &str) -> Span {
        Span {
            class: class.into(),
            text: text.into(),
        }
    }

    #[test]
    fn ansi_colours_become_classes_and_escapes_vanish() {
        assert_eq!(
            spans("\x1b[1m\x1b[31mFAIL\x1b[0m src/\x1b[2mcart\x1b[22m\x1b[K"),
            vec![
                span("a-b a-fg-red", "FAIL"),
                span("", " src/"),
                span("a-d", "cart")
            ]
        );
        assert_eq!(
            spans("\x1b[38;5;9mx\x1b]8;;http://e\x07y"),
            vec![span("a-fg-bright-red", "xy")]
        );
        assert_eq!(spans("\x1b[38;2;1;2;3mz"), vec![span("", "z")]);
    }

    #[test]
    fn a_log_folds_into_steps_and_groups_with_the_failing_step_marked() {
        // Arrange
        let text = "2026-11-24T08:45:12.1Z Current runner version: '2.321.0'\n\
                    2026-11-24T08:45:13.8Z ##[group]Run cargo test\n\
                    2026-11-24T08:45:13.9Z cargo test\n\
                    2026-11-24T08:45:14.2Z ##[endgroup]\n\
                    2026-11-24T08:45:16.2Z test tests::adds ... FAILED\n\
                    2026-11-24T08:45:16.3Z <script>alert(1)</script>\n\
                    2026-11-24T08:45:18.8Z ##[error]Process completed with exit code 101.\n\
                    2026-11-24T08:45:18.9Z Post job cleanup.";

        // Act
        let steps = steps(text);

        // Assert
        let titles: Vec<&str> = steps.iter().map(|s| s.title.as_str()).collect();
        assert_eq!(titles, ["Set up job", "Run cargo test", "Post job cleanup"]);
        assert!(steps[1].failed && !steps[0].failed);
        let Item::Group(group) = &steps[1].items[0] else {
            panic!("the step's header is a group");
        };
        assert_eq!(group.lines.len(), 1);
        let lines: Vec<&Line> = steps[1]
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Line(l) => Some(l),
                Item::Group(_) => None,
            })
            .collect();
        // The extractor's excerpt starts at the failed test: that is the line to scroll to.
        let first: Vec<&&Line> = lines.iter().filter(|l| l.first_error).collect();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].spans[0].text, "test tests::adds ... FAILED");
        let errors: Vec<&&Line> = lines.iter().filter(|l| l.kind == "error").collect();
        assert_eq!(
            errors[0].spans[0].text,
            "Process completed with exit code 101."
        );
        assert_eq!(errors[0].ts, "2026-11-24T08:45:18.8Z");
    }
}
