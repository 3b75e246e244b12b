//! What is kept of a job's log: all of it when it fits in [`MAX_KEPT_BYTES`]; otherwise the
//! failing step's section in full, and of every other step its first and last lines with a note
//! saying how many were cut between them (or, if even that is too much, only a note).
//!
//! A note is a line of its own that starts with [`NOTE`] (a NUL, which no kept log line holds:
//! NULs in the log become U+FFFD), so that a log line can never pass for one.

use crate::failure;

/// The most bytes kept of one job's log ("a few MB").
pub const MAX_KEPT_BYTES: usize = 2 * 1024 * 1024;
/// What a note line starts with.
pub const NOTE: char = '\0';
/// Lines kept at each end of a step other than the failing one, when the log is cut.
const STEP_ENDS: usize = 10;

/// A log as kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Kept {
    /// The kept lines, newline-separated, with notes where lines were cut.
    pub text: String,
    /// Whether anything was cut (or never read).
    pub truncated: bool,
}

/// One step's lines: `start..end` of the log's lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section {
    pub start: usize,
    pub end: usize,
}

/// The lines of `raw` that begin a step, as sections; the lines before the first step are a
/// section of their own ("Set up job").
pub fn sections<S: AsRef<str>>(lines: &[S]) -> Vec<Section> {
    let mut starts: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(i, line)| {
            *i > 0 && failure::starts_step(failure::split_timestamp(line.as_ref()).1)
        })
        .map(|(i, _)| i)
        .collect();
    starts.insert(0, 0);
    starts
        .iter()
        .zip(starts.iter().skip(1).chain([&lines.len()]))
        .filter(|(start, end)| start < end)
        .map(|(&start, &end)| Section { start, end })
        .collect()
}

/// The section of the failing step: the one with the first `##[error]` line, else the last
/// one before the post-job steps.
pub fn failing<S: AsRef<str>>(lines: &[S], sections: &[Section]) -> Option<usize> {
    let bare = |i: usize| failure::split_timestamp(lines[i].as_ref()).1;
    sections
        .iter()
        .position(|s| (s.start..s.end).any(|i| bare(i).starts_with("##[error]")))
        .or_else(|| {
            sections.iter().rposition(|s| {
                let head = bare(s.start);
                !head.starts_with("Post job cleanup.") && !head.starts_with("##[group]Post ")
            })
        })
}

/// What is kept of `raw`, a log whose first `skipped` bytes were not read.
pub fn keep(raw: &str, skipped: u64) -> Kept {
    keep_within(raw, skipped, MAX_KEPT_BYTES)
}

/// [`keep`] with a bound of `max` bytes.
pub fn keep_within(raw: &str, skipped: u64, max: usize) -> Kept {
    let raw = raw.trim_start_matches('\u{feff}');
    let lines: Vec<String> = raw
        .lines()
        .map(|line| {
            line.strip_suffix('\r')
                .unwrap_or(line)
                .replace(NOTE, "\u{fffd}")
        })
        .collect();
    let mut out = Vec::new();
    if skipped > 0 {
        out.push(note(&format!(
            "the first {} of the log were not read",
            bytes_text(skipped)
        )));
    }
    let size: usize = lines.iter().map(|l| l.len() + 1).sum();
    if size <= max {
        out.extend(lines);
        return Kept {
            text: out.join("\n"),
            truncated: skipped > 0,
        };
    }
    let sections = sections(&lines);
    let failing = failing(&lines, &sections);
    let budget = max.saturating_sub(failing.map_or(0, |f| span_bytes(&lines, sections[f])));
    let keep_ends = cut_size(&lines, &sections, failing, STEP_ENDS) <= budget;
    for (i, section) in sections.iter().enumerate() {
        let part = &lines[section.start..section.end];
        if Some(i) == failing {
            out.extend(failing_part(part, max));
        } else if keep_ends {
            out.extend(ends(part, STEP_ENDS));
        } else {
            out.push(part[0].clone());
            if part.len() > 1 {
                out.push(note(&cut_text(part.len() - 1)));
            }
        }
    }
    Kept {
        text: out.join("\n"),
        truncated: true,
    }
}

/// The failing step's lines: all of them, unless they alone are over `max`; then their first
/// lines and as many of their last as fit.
fn failing_part(part: &[String], max: usize) -> Vec<String> {
    if span_bytes_of(part) <= max {
        return part.to_vec();
    }
    let head = part.len().min(STEP_ENDS);
    let mut room = max.saturating_sub(span_bytes_of(&part[..head]));
    let mut tail_start = part.len();
    while tail_start > head && part[tail_start - 1].len() < room {
        room -= part[tail_start - 1].len() + 1;
        tail_start -= 1;
    }
    let mut out = part[..head].to_vec();
    if tail_start > head {
        out.push(note(&cut_text(tail_start - head)));
    }
    out.extend_from_slice(&part[tail_start..]);
    out
}

/// The first and last `n` lines of `part`, with a note for those between.
fn ends(part: &[String], n: usize) -> Vec<String> {
    if part.len() <= 2 * n + 1 {
        return part.to_vec();
    }
    let mut out = part[..n].to_vec();
    out.push(note(&cut_text(part.len() - 2 * n)));
    out.extend_from_slice(&part[part.len() - n..]);
    out
}

/// Bytes of the sections other than `failing` cut to their ends.
fn cut_size(lines: &[String], sections: &[Section], failing: Option<usize>, n: usize) -> usize {
    sections
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != failing)
        .map(|(_, s)| span_bytes_of(&ends(&lines[s.start..s.end], n)))
        .sum()
}

fn span_bytes(lines: &[String], section: Section) -> usize {
    span_bytes_of(&lines[section.start..section.end])
}

fn span_bytes_of(lines: &[String]) -> usize {
    lines.iter().map(|l| l.len() + 1).sum()
}

fn note(text: &str) -> String {
    format!("{NOTE}{text}")
}

fn cut_text(lines: usize) -> String {
    match lines {
        1 => "1 line cut".to_owned(),
        n => format!("{n} lines cut"),
    }
}

/// `bytes` for a person: `512 bytes`, `3.2 MB`.
fn bytes_text(bytes: u64) -> String {
    if bytes < 1024 * 1024 {
        format!("{bytes} bytes")
    } else {
        format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
    }
}

/// A step's title from its first line: `Run cargo test`, `Post job cleanup`; `Set up job` for
/// what comes before the first step (section `index` 0 not starting a step).
pub fn title(first: &str, index: usize) -> String {
    let bare = failure::split_timestamp(first).1;
    if index == 0 && !failure::starts_step(bare) {
        return "Set up job".to_owned();
    }
    let title = bare.strip_prefix("##[group]").unwrap_or(bare);
    failure::clean_line(title.trim_end_matches('.')).unwrap_or_default()
}

/// The note of a note line, or `None` for a log line.
pub fn as_note(line: &str) -> Option<&str> {
    line.strip_prefix(NOTE)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A log of three steps: checkout (`n` lines of output), the failing tests, cleanup.
    fn log(n: usize) -> String {
        let mut lines = vec![
            "2026-11-24T08:45:12.1234567Z Current runner version: '2.321.0'".to_owned(),
            "2026-11-24T08:45:13.8011735Z ##[group]Run actions/checkout@v4".to_owned(),
            "2026-11-24T08:45:14.2206027Z ##[endgroup]".to_owned(),
        ];
        lines.extend((0..n).map(|i| format!("2026-11-24T08:45:14.3254600Z fetching object {i}")));
        lines.extend([
            "2026-11-24T08:45:14.8497465Z ##[group]Run cargo test".to_owned(),
            "2026-11-24T08:45:15.1643184Z ##[endgroup]".to_owned(),
            "2026-11-24T08:45:16.2128914Z test tests::adds ... FAILED".to_owned(),
            "2026-11-24T08:45:18.8343239Z ##[error]Process completed with exit code 101."
                .to_owned(),
            "2026-11-24T08:45:18.9391812Z Post job cleanup.".to_owned(),
            "2026-11-24T08:45:19.0440385Z [command]/usr/bin/git version".to_owned(),
        ]);
        lines.join("\n")
    }

    #[test]
    fn a_log_within_bounds_is_kept_whole() {
        let kept = keep(&log(5), 0);
        assert_eq!(kept.text, log(5));
        assert!(!kept.truncated);
    }

    #[test]
    fn steps_are_cut_but_the_failing_one_is_kept_in_full() {
        // Arrange: a checkout step of 1002 lines, far over a 4 KB bound.
        let raw = log(1000);

        // Act
        let kept = keep_within(&raw, 0, 4096);

        // Assert
        assert!(kept.truncated);
        assert!(kept.text.len() <= 4096, "{} bytes", kept.text.len());
        assert!(kept.text.contains("test tests::adds ... FAILED"));
        assert!(kept.text.contains("Process completed with exit code 101."));
        assert!(kept.text.contains("\0982 lines cut"), "{}", kept.text);
        assert!(kept.text.contains("fetching object 999"));
        assert!(!kept.text.contains("fetching object 500"));
    }

    #[test]
    fn a_nul_in_the_log_cannot_pass_for_a_note() {
        let kept = keep("\0forged note\nline", 0);
        assert_eq!(as_note(kept.text.lines().next().unwrap()), None);
    }

    #[test]
    fn the_failing_step_is_the_one_with_the_first_error() {
        let raw = log(3);
        let lines: Vec<&str> = raw.lines().collect();
        let sections = sections(&lines);
        assert_eq!(sections.len(), 4);
        let failing = failing(&lines, &sections).unwrap();
        assert!(lines[sections[failing].start].ends_with("Run cargo test"));
    }

    #[test]
    fn a_log_read_from_its_middle_says_so() {
        let kept = keep("a\nb", 3 * 1024 * 1024);
        assert!(kept.truncated);
        assert_eq!(
            as_note(kept.text.lines().next().unwrap()),
            Some("the first 3.0 MB of the log were not read")
        );
    }
}
