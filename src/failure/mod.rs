//! Why a job failed, read from its log: a pure extractor with no I/O. ([`evidence`] adds the
//! rules that look beyond the log: runner samples, conclusions, tell-tale lines.)
//!
//! [`extract`] takes a job's raw log as GitHub serves it (every line prefixed with a timestamp,
//! `##[group]`/`##[error]` workflow commands, ANSI colours) and returns the failure it finds: the
//! [`Rule`] that matched, a normalised one-line signature, and a short excerpt to show.
//!
//! **Bounded.** Only the last [`MAX_SCAN_BYTES`] and, of those, the last [`MAX_SCAN_LINES`] lines
//! are read: a failure's explanation sits at the end of a log, and a log can be hundreds of MB.
//!
//! **Cleaning.** Each line loses GitHub's timestamp prefix (`2026-11-24T08:45:12.1234567Z `), its
//! ANSI escape sequences and a `##[group]` prefix; `##[endgroup]` lines and the runner's own
//! `##[error]Process completed with exit code N.` (which says nothing about why) are dropped.
//!
//! **Rules, in order.** [`rules`] are tried in order and the first rule that matches anywhere in
//! the window wins; within a rule, the match nearest the end of the log is taken (the last
//! failure printed, usually the one that stopped the job). The order goes from the most specific
//! to the most generic, so that a test runner's own report wins over the package manager or the
//! build tool that ran it (`npm test` running Jest, `cargo test` ending in `error: test failed`),
//! and the runner's `##[error]` annotation is the last resort.
//!
//! **Signature.** One line of at most [`MAX_SIGNATURE_CHARS`] characters in which whatever
//! changes from run to run is replaced ([`normalise`]): the runner's workspace prefix is dropped,
//! UUIDs become `<uuid>`, temporary names `<tmp>`, hex hashes of 7+ digits `<hash>`, durations
//! and numbers `N`. The same failure in two runs (or two workflows) has the same signature, which
//! is what triage groups on and what the flaky/broken call compares across runs.
//!
//! **Excerpt.** At most [`MAX_EXCERPT_LINES`] cleaned (not normalised) lines and
//! [`MAX_EXCERPT_BYTES`] bytes: the matched lines and a little context, ending where the step of
//! its first line ends (the next step's header, the post-job cleanup, or the line after the
//! runner's exit code), so the job's cleanup never shows as part of a failure.

pub mod evidence;

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Captures, Regex};

/// Bytes at the end of a log that [`extract`] reads.
pub const MAX_SCAN_BYTES: usize = 512 * 1024;
/// Lines at the end of those bytes that [`extract`] reads.
pub const MAX_SCAN_LINES: usize = 8_000;
/// The longest signature, in characters.
pub const MAX_SIGNATURE_CHARS: usize = 200;
/// Lines in an excerpt, at most.
pub const MAX_EXCERPT_LINES: usize = 10;
/// Bytes in an excerpt, at most (newlines included).
pub const MAX_EXCERPT_BYTES: usize = 2048;
/// Characters kept of one excerpt line.
const MAX_EXCERPT_LINE_CHARS: usize = 300;

/// The rule that explained a failure, from the most specific to the most generic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// `cargo test`: `---- tests::x stdout ----`, `thread '...' panicked at`, `test x ... FAILED`.
    CargoTest,
    /// rustc through cargo: `error[E0308]: mismatched types` with its ` --> src/x.rs:3:5`.
    Rustc,
    /// pytest's short test summary: `FAILED tests/test_x.py::test_y - AssertionError: ...`.
    Pytest,
    /// `go test`: `--- FAIL: TestX (0.00s)` with its `x_test.go:12: ...` or `panic:`; build failures.
    GoTest,
    /// Jest: `FAIL src/x.test.ts` and `● Suite › test name`.
    Jest,
    /// Vitest: `FAIL  src/x.test.ts > suite > name` and the `AssertionError:` after it.
    Vitest,
    /// Maven: surefire's `[ERROR] Failures:` list, compiler errors, `[ERROR] Failed to execute goal`.
    Maven,
    /// Gradle: a test's `FAILED` line, else `* What went wrong:`.
    Gradle,
    /// Docker (BuildKit) builds: `ERROR: failed to solve: ...`.
    Docker,
    /// A Python traceback's last line: `ValueError: ...`.
    PythonTraceback,
    /// npm (`npm ERR!`, `npm error`), yarn (`error ...`) and pnpm (`ERR_PNPM_...`).
    NodePackageManager,
    /// A `##[error]` annotation other than the runner's exit code: the last resort.
    GithubError,
    /// Not a log rule: a `failure` annotation of the job's check run ([`from_annotation`]), used
    /// when the log cannot be read or explains nothing.
    Annotation,
}

impl Rule {
    /// The rule's stable name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::CargoTest => "cargo-test",
            Rule::Rustc => "rustc",
            Rule::Pytest => "pytest",
            Rule::GoTest => "go-test",
            Rule::Jest => "jest",
            Rule::Vitest => "vitest",
            Rule::Maven => "maven",
            Rule::Gradle => "gradle",
            Rule::Docker => "docker",
            Rule::PythonTraceback => "python-traceback",
            Rule::NodePackageManager => "npm",
            Rule::GithubError => "github-error",
            Rule::Annotation => "annotation",
        }
    }

    /// The rule named `name` (the inverse of [`Rule::as_str`]).
    pub fn parse(name: &str) -> Option<Rule> {
        rules()
            .chain([Rule::Annotation])
            .find(|r| r.as_str() == name)
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure found in a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub rule: Rule,
    /// One normalised line (see the module doc); equal for the same failure in different runs.
    pub signature: String,
    /// A few cleaned lines of the log around the failure.
    pub excerpt: String,
}

/// What a rule found: the raw (cleaned, not yet normalised) signature and the lines to show.
struct Hit {
    signature: String,
    lines: Vec<usize>,
}

type RuleFn = fn(&[String]) -> Option<Hit>;

/// The rules in the order they are tried (see the module doc for why this order).
const RULES: &[(Rule, RuleFn)] = &[
    (Rule::CargoTest, cargo_test),
    (Rule::Rustc, rustc),
    (Rule::Pytest, pytest),
    (Rule::GoTest, go_test),
    (Rule::Jest, jest),
    (Rule::Vitest, vitest),
    (Rule::Maven, maven),
    (Rule::Gradle, gradle),
    (Rule::Docker, docker),
    (Rule::PythonTraceback, python_traceback),
    (Rule::NodePackageManager, node_package_manager),
    (Rule::GithubError, github_error),
];

/// The rules in the order [`extract`] tries them.
pub fn rules() -> impl Iterator<Item = Rule> {
    RULES.iter().map(|(rule, _)| *rule)
}

/// The failure explained by the end of `log`, or `None` when no rule matches.
pub fn extract(log: &str) -> Option<Failure> {
    let (lines, step_starts) = clean_lines_with_steps(log);
    RULES.iter().find_map(|(rule, find)| {
        let hit = find(&lines)?;
        let signature = normalise(&hit.signature);
        (!signature.is_empty()).then(|| Failure {
            rule: *rule,
            signature,
            excerpt: excerpt(&lines, within_step(hit.lines, &step_starts)),
        })
    })
}

/// `indices` cut where the step of the first of them ends: an excerpt never runs into the next
/// step or the job's post-job cleanup. `step_starts` are the (sorted) first lines of steps.
fn within_step(indices: Vec<usize>, step_starts: &[usize]) -> Vec<usize> {
    let Some(first) = indices.iter().min().copied() else {
        return indices;
    };
    match step_starts.iter().find(|start| **start > first) {
        Some(end) => indices.into_iter().filter(|i| i < end).collect(),
        None => indices,
    }
}

/// A failure from a check-run annotation (`path`, `title`, `message`), or `None` for the
/// runner's own `Process completed with exit code N.`, which explains nothing.
pub fn from_annotation(path: &str, title: Option<&str>, message: &str) -> Option<Failure> {
    let first = message.lines().map(str::trim).find(|l| !l.is_empty())?;
    if EXIT_CODE.is_match(&format!("##[error]{first}")) {
        return None;
    }
    let place = match (path, title) {
        (".github", _) | ("", _) => String::new(),
        (path, _) => format!("{path}: "),
    };
    let title = title
        .filter(|t| !t.is_empty())
        .map_or(String::new(), |t| format!("{t}: "));
    let lines: Vec<String> = message.lines().filter_map(clean_line).collect();
    Some(Failure {
        rule: Rule::Annotation,
        signature: normalise(&format!("{place}{title}{first}")),
        excerpt: excerpt(&lines, (0..lines.len()).collect()),
    })
}

/// The cleaned lines of the end of `log` (see the module doc).
pub fn clean_lines(log: &str) -> Vec<String> {
    clean_lines_with_steps(log).0
}

/// Whether a raw line (its timestamp stripped) begins a step or the job's post-job cleanup.
pub fn starts_step(line: &str) -> bool {
    line.starts_with("##[group]Run ")
        || line.starts_with("##[group]Post ")
        || line.starts_with("Post job cleanup.")
}

/// [`clean_lines`], with the indices of the lines that begin a step: a step's header, the job's
/// post-job cleanup, or whatever follows the runner's `Process completed with exit code N.`
/// (which closes the failed step).
pub fn clean_lines_with_steps(log: &str) -> (Vec<String>, Vec<usize>) {
    let mut start = log.len().saturating_sub(MAX_SCAN_BYTES);
    while !log.is_char_boundary(start) {
        start += 1;
    }
    let mut window = &log[start..];
    if start > 0 {
        // Drop the partial first line.
        window = window.split_once('\n').map_or("", |(_, rest)| rest);
    }
    // Backwards, so that the scan keeps the end: each line with whether a step begins there.
    let mut kept: Vec<(String, bool)> = Vec::new();
    for raw in window.lines().rev() {
        if kept.len() == MAX_SCAN_LINES {
            break;
        }
        let bare = TIMESTAMP.replace(raw.strip_suffix('\r').unwrap_or(raw), "");
        if EXIT_CODE.is_match(bare.trim_end()) {
            // The line after it (pushed just before) begins whatever comes next.
            if let Some(next) = kept.last_mut() {
                next.1 = true;
            }
        }
        if let Some(line) = clean_line(raw) {
            kept.push((line, starts_step(&bare)));
        }
    }
    kept.reverse();
    let starts = kept
        .iter()
        .enumerate()
        .filter_map(|(i, (_, start))| start.then_some(i))
        .collect();
    (kept.into_iter().map(|(line, _)| line).collect(), starts)
}

/// A raw line split into GitHub's timestamp prefix (without its space; empty when there is none)
/// and the rest.
pub fn split_timestamp(line: &str) -> (&str, &str) {
    match TIMESTAMP.find(line) {
        Some(found) => (
            line[found.range()]
                .trim_start_matches('\u{feff}')
                .trim_end(),
            &line[found.end()..],
        ),
        None => ("", line),
    }
}

static TIMESTAMP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\x{feff}?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ?").expect("valid regex")
});
/// CSI sequences (colours, cursor moves), OSC sequences (titles, links) and other two-byte escapes.
static ANSI: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
        .expect("valid regex")
});
static EXIT_CODE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^##\[error\]Process completed with exit code \d+\.?$").expect("valid regex")
});

/// One line cleaned, or `None` for a line that carries nothing (`##[endgroup]`, the runner's
/// exit-code error).
pub fn clean_line(line: &str) -> Option<String> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let line = TIMESTAMP.replace(line, "");
    let line = match ANSI.replace_all(&line, "") {
        Cow::Borrowed(_) => line.into_owned(),
        Cow::Owned(stripped) => stripped,
    };
    if line.starts_with("##[endgroup]") || EXIT_CODE.is_match(line.trim_end()) {
        return None;
    }
    Some(match line.strip_prefix("##[group]") {
        Some(rest) => rest.to_owned(),
        None => line.trim_end().to_owned(),
    })
}

/// Runner workspaces: `/home/runner/work/repo/repo/`, `/Users/runner/work/...`, `D:\a\repo\repo\`,
/// as a path or a `file://` URL.
static WORKSPACE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:file://)?(?:/home/runner/work|/Users/runner/work|/__w|[A-Za-z]:\\a)[/\\][^/\\\s]+[/\\][^/\\\s]+[/\\]")
        .expect("valid regex")
});
static UUID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
        .expect("valid regex")
});
/// Temporary files and directories: under `/tmp`, `/var/folders/...`, `$RUNNER_TEMP`
/// (`/home/runner/work/_temp`), Windows' `...\Temp\`; `mktemp`'s `tmp.XXXXXXXXXX`; the
/// `.tmpXXXXXX` of Rust's tempfile; pytest's `pytest-of-runner/pytest-3`.
static TEMP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?x)
        (?:/private)?/tmp/[^\s'"`:,;)\]]+
      | /var/folders/[^\s'"`:,;)\]]+
      | /home/runner/work/_temp/[^\s'"`:,;)\]]+
      | [A-Za-z]:\\Users\\[^\\\s]+\\AppData\\Local\\Temp\\[^\s'"`:,;)\]]+
      | \btmp\.[A-Za-z0-9]{6,}\b
      | \.tmp[A-Za-z0-9]{6}\b
      | \bpytest-of-[^\s/]+/pytest-\d+
    "#,
    )
    .expect("valid regex")
});
static HEX: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(?:0x[0-9a-fA-F]+|[0-9a-fA-F]{7,})\b").expect("valid regex"));
static DURATION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b\d+(?:\.\d+)?\s?(?:ns|µs|us|ms|s|sec|secs|seconds|m|min|h)\b")
        .expect("valid regex")
});
static NUMBER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b\d+(?:[.,]\d+)*\b").expect("valid regex"));
static SPACES: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\s+").expect("valid regex"));

/// `text` with whatever varies between runs replaced (see the module doc), on one line of at most
/// [`MAX_SIGNATURE_CHARS`] characters.
pub fn normalise(text: &str) -> String {
    let text = ANSI.replace_all(text, "");
    let text = WORKSPACE.replace_all(&text, "");
    let text = UUID.replace_all(&text, "<uuid>");
    let text = TEMP.replace_all(&text, "<tmp>");
    let text = HEX.replace_all(&text, |caps: &Captures| {
        let found = &caps[0];
        let is_hash = found.starts_with("0x")
            || (found.bytes().any(|b| b.is_ascii_digit())
                && found.bytes().any(|b| b.is_ascii_alphabetic()));
        if is_hash {
            "<hash>".to_owned()
        } else {
            found.to_owned()
        }
    });
    let text = DURATION.replace_all(&text, "N");
    let text = NUMBER.replace_all(&text, "N");
    let text = SPACES.replace_all(text.trim(), " ");
    truncate_chars(&text, MAX_SIGNATURE_CHARS).to_owned()
}

/// The first `max` characters of `text`.
fn truncate_chars(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// The lines at `indices` (sorted, deduplicated, bounded), one per line.
fn excerpt(lines: &[String], mut indices: Vec<usize>) -> String {
    indices.sort_unstable();
    indices.dedup();
    let mut out = String::new();
    for index in indices.into_iter().filter(|i| *i < lines.len()) {
        let line = truncate_chars(&lines[index], MAX_EXCERPT_LINE_CHARS);
        if out.lines().count() >= MAX_EXCERPT_LINES
            || out.len() + line.len() + 1 > MAX_EXCERPT_BYTES
        {
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.pop();
    out
}

/// Lines `from..to` (clamped), skipping blank ones.
fn span(lines: &[String], from: usize, to: usize) -> impl Iterator<Item = usize> + '_ {
    (from..to.min(lines.len())).filter(|i| !lines[*i].trim().is_empty())
}

/// The index of the last line (searching backwards from `before`) for which `f` holds.
fn rfind(lines: &[String], before: usize, f: impl Fn(&str) -> bool) -> Option<usize> {
    lines[..before.min(lines.len())].iter().rposition(|l| f(l))
}

/// The first non-blank line after `index`, within `within` lines.
fn next_text(lines: &[String], index: usize, within: usize) -> Option<usize> {
    span(lines, index + 1, index + 1 + within).next()
}

// ---------------------------------------------------------------------------------------------
// Rules. Each looks only at cleaned lines; each returns the match nearest the end of the log.

static CARGO_TEST_HEADER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^---- (\S+) stdout ----$").expect("valid regex"));
/// `thread 'x' panicked at src/lib.rs:10:5:` (Rust 1.73+) or `... panicked at 'msg', src/lib.rs:10:5`.
static PANICKED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^thread '([^']*)' panicked at (?:'(.*)', )?(\S+?):?$").expect("valid regex")
});
static CARGO_TEST_FAILED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^test (\S+) \.\.\. FAILED$").expect("valid regex"));

/// `cargo test`: the last failing test's section, its panic location and message.
fn cargo_test(lines: &[String]) -> Option<Hit> {
    if let Some(header) = rfind(lines, lines.len(), |l| CARGO_TEST_HEADER.is_match(l)) {
        let name = CARGO_TEST_HEADER.captures(&lines[header])?[1].to_owned();
        let mut shown: Vec<usize> = vec![header];
        let mut signature = format!("test {name} failed");
        if let Some(panic) =
            span(lines, header + 1, header + 4).find(|i| PANICKED.is_match(&lines[*i]))
        {
            let caps = PANICKED.captures(&lines[panic])?;
            let location = caps.get(3).map_or("", |m| m.as_str());
            let message = match caps.get(2) {
                Some(old_style) => old_style.as_str().to_owned(),
                None => next_text(lines, panic, 1)
                    .map(|i| lines[i].clone())
                    .unwrap_or_default(),
            };
            signature = format!("test {name} panicked at {location}: {message}");
            shown.extend(span(lines, panic, panic + 6).take_while(|i| {
                !lines[*i].starts_with("note: run with `RUST_BACKTRACE")
                    && !lines[*i].starts_with("---- ")
                    && lines[*i] != "failures:"
            }));
        } else {
            shown.extend(span(lines, header + 1, header + 6));
        }
        return Some(Hit {
            signature,
            lines: shown,
        });
    }
    let failed = rfind(lines, lines.len(), |l| CARGO_TEST_FAILED.is_match(l))?;
    let name = &CARGO_TEST_FAILED.captures(&lines[failed])?[1];
    Some(Hit {
        signature: format!("test {name} failed"),
        lines: vec![failed],
    })
}

static RUSTC_ERROR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^error(\[E\d{4}\])?: (.+)$").expect("valid regex"));
static RUSTC_LOCATION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*--> (\S+)$").expect("valid regex"));
static COULD_NOT_COMPILE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^error: could not compile `([^`]+)`(?: \(([^)]*)\))?").expect("valid regex")
});

/// rustc: the last error with a source location; else cargo's `could not compile`.
fn rustc(lines: &[String]) -> Option<Hit> {
    let located = (0..lines.len()).rev().find_map(|i| {
        let caps = RUSTC_ERROR.captures(&lines[i])?;
        let location = span(lines, i + 1, i + 3)
            .find_map(|j| RUSTC_LOCATION.captures(&lines[j]).map(|c| c[1].to_owned()))?;
        let code = caps.get(1).map_or("", |m| m.as_str());
        Some((i, format!("error{code}: {} at {location}", &caps[2])))
    });
    if let Some((i, signature)) = located {
        return Some(Hit {
            signature,
            lines: span(lines, i, i + MAX_EXCERPT_LINES)
                .take_while(|j| *j == i || !lines[*j].starts_with("error"))
                .collect(),
        });
    }
    let i = rfind(lines, lines.len(), |l| COULD_NOT_COMPILE.is_match(l))?;
    let caps = COULD_NOT_COMPILE.captures(&lines[i])?;
    let target = caps
        .get(2)
        .map_or(String::new(), |m| format!(" ({})", m.as_str()));
    Some(Hit {
        signature: format!("error: could not compile `{}`{target}", &caps[1]),
        lines: span(lines, i.saturating_sub(3), i + 1).collect(),
    })
}

static PYTEST_SUMMARY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^=+ short test summary info =+$").expect("valid regex"));
static PYTEST_FAILED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(FAILED|ERROR) (\S+)(?: - (.*))?$").expect("valid regex"));
static PYTEST_RESULT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^=+ .*\b(?:failed|error|errors)\b.* in [\d.]+s.*=+$").expect("valid regex")
});

/// pytest: the first `FAILED`/`ERROR` line of the last short test summary, with the `E   ` lines
/// of its section.
fn pytest(lines: &[String]) -> Option<Hit> {
    let summary = rfind(lines, lines.len(), |l| PYTEST_SUMMARY.is_match(l))?;
    let end = span(lines, summary + 1, lines.len())
        .find(|i| PYTEST_RESULT.is_match(&lines[*i]) || lines[*i].starts_with("##["))
        .unwrap_or(lines.len());
    let first = (summary + 1..end).find(|i| PYTEST_FAILED.is_match(&lines[*i]))?;
    let caps = PYTEST_FAILED.captures(&lines[first])?;
    let test = &caps[2];
    let signature = match caps.get(3) {
        Some(message) => format!("{} {test} - {}", &caps[1], message.as_str()),
        None => format!("{} {test}", &caps[1]),
    };
    // The assertion lines (`E   assert 1 == 2`) nearest the summary.
    let mut shown: Vec<usize> = (0..summary)
        .rev()
        .skip_while(|i| !lines[*i].starts_with("E "))
        .take_while(|i| lines[*i].starts_with("E "))
        .take(4)
        .collect();
    shown.extend(summary..=end.min(lines.len() - 1));
    shown.truncate(MAX_EXCERPT_LINES);
    Some(Hit {
        signature,
        lines: shown,
    })
}

static GO_FAIL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*--- FAIL: (\S+)").expect("valid regex"));
static GO_MESSAGE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s+(\S+\.go):\d+: (.*)$").expect("valid regex"));
static GO_PANIC: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^panic: (.+?)(?: \[recovered\])?$").expect("valid regex"));
static GO_BUILD_FAILED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^FAIL\s+(\S+) \[build failed\]$").expect("valid regex"));
static GO_COMPILE_ERROR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(\S+\.go):\d+:\d+: (.+)$").expect("valid regex"));

/// `go test`: the last `--- FAIL:` (subtests print after their parent, so the deepest) with its
/// first `x_test.go:12:` message or the panic after it; else a build failure's first compile
/// error; else a bare `panic:` with its goroutine dump.
fn go_test(lines: &[String]) -> Option<Hit> {
    if let Some(fail) = rfind(lines, lines.len(), |l| GO_FAIL.is_match(l)) {
        let name = &GO_FAIL.captures(&lines[fail])?[1];
        // The test's t.Log/t.Error lines follow its `--- FAIL:` line, more indented.
        let message = span(lines, fail + 1, fail + 4).find_map(|i| {
            if let Some(caps) = GO_MESSAGE.captures(&lines[i]) {
                return Some((i, format!("{}: {}", &caps[1], &caps[2])));
            }
            GO_PANIC
                .captures(&lines[i])
                .map(|caps| (i, format!("panic: {}", &caps[1])))
        });
        let mut shown: Vec<usize> = (fail.saturating_sub(1)..=fail).collect();
        let signature = match message {
            Some((i, message)) => {
                shown.extend(span(lines, i, i + 4));
                format!("--- FAIL: {name}: {message}")
            }
            None => format!("--- FAIL: {name}"),
        };
        if let Some(pkg) =
            span(lines, fail + 1, lines.len()).find(|i| lines[*i].starts_with("FAIL\t"))
        {
            shown.push(pkg);
        }
        return Some(Hit {
            signature,
            lines: shown,
        });
    }
    if let Some(build) = rfind(lines, lines.len(), |l| GO_BUILD_FAILED.is_match(l)) {
        let first_error = (0..build)
            .rev()
            .take(50)
            .take_while(|i| !lines[*i].starts_with("ok ") && !lines[*i].starts_with("FAIL"))
            .filter(|i| GO_COMPILE_ERROR.is_match(&lines[*i]))
            .last()?;
        let caps = GO_COMPILE_ERROR.captures(&lines[first_error])?;
        return Some(Hit {
            signature: format!("{}: {}", &caps[1], &caps[2]),
            lines: span(lines, first_error.saturating_sub(1), first_error + 4)
                .chain([build])
                .collect(),
        });
    }
    let panic = rfind(lines, lines.len(), |l| GO_PANIC.is_match(l))?;
    span(lines, panic + 1, panic + 4).find(|i| lines[*i].starts_with("goroutine "))?;
    Some(Hit {
        signature: format!("panic: {}", &GO_PANIC.captures(&lines[panic])?[1]),
        lines: span(lines, panic, panic + 5).collect(),
    })
}

static JEST_TITLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*● (.+)$").expect("valid regex"));
static JEST_FILE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*FAIL\s+(\S+)\s*$").expect("valid regex"));

/// Jest: the last `● Suite › test` with the test file of the `FAIL` line above it and the first
/// line of its message (`expect(received).toBe(expected)`, `Cannot find module ...`).
fn jest(lines: &[String]) -> Option<Hit> {
    let title = rfind(lines, lines.len(), |l| {
        JEST_TITLE.is_match(l) && !l.trim_start().starts_with("● Console")
    })?;
    let name = JEST_TITLE.captures(&lines[title])?[1].trim().to_owned();
    let file = rfind(lines, title, |l| JEST_FILE.is_match(l))
        .and_then(|i| JEST_FILE.captures(&lines[i]).map(|c| c[1].to_owned()));
    let message = next_text(lines, title, 3).map(|i| lines[i].trim().to_owned());
    let mut signature = match file {
        Some(file) => format!("{file} ● {name}"),
        None => format!("● {name}"),
    };
    if let Some(message) = message {
        signature = format!("{signature}: {message}");
    }
    Some(Hit {
        signature,
        lines: span(lines, title, title + 12)
            .take_while(|i| *i == title || !JEST_TITLE.is_match(&lines[*i]))
            .collect(),
    })
}

static VITEST_FAIL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*FAIL\s+(\S+ > .+?)\s*$").expect("valid regex"));

/// Vitest: the last `FAIL  file > suite > test` and its error line (`AssertionError: ...`).
fn vitest(lines: &[String]) -> Option<Hit> {
    let fail = rfind(lines, lines.len(), |l| VITEST_FAIL.is_match(l))?;
    let name = VITEST_FAIL.captures(&lines[fail])?[1].to_owned();
    let message = next_text(lines, fail, 2).map(|i| lines[i].trim().to_owned());
    let signature = match message {
        Some(message) if !message.starts_with('⎯') => format!("FAIL {name}: {message}"),
        _ => format!("FAIL {name}"),
    };
    Some(Hit {
        signature,
        lines: span(lines, fail, fail + 12)
            .take_while(|i| *i == fail || !lines[*i].starts_with('⎯'))
            .collect(),
    })
}

static MAVEN_LIST: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\[ERROR\] (Failures|Errors): ?$").expect("valid regex"));
static MAVEN_LISTED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\[ERROR\]\s{2,}(\S.*)$").expect("valid regex"));
static MAVEN_COMPILE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\[ERROR\] (\S+\.(?:java|kt|scala)):\[\d+,\d+\] (.+)$").expect("valid regex")
});
static MAVEN_GOAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\[ERROR\] (Failed to execute goal .+?)(?:\s*->\s*\[Help \d+\])?$")
        .expect("valid regex")
});

/// Maven: the first test of surefire's `[ERROR] Failures:` list; else the first compiler error;
/// else `[ERROR] Failed to execute goal ...`.
fn maven(lines: &[String]) -> Option<Hit> {
    let goal = rfind(lines, lines.len(), |l| MAVEN_GOAL.is_match(l));
    let before = goal.unwrap_or(lines.len());
    if let Some(list) = rfind(lines, before, |l| MAVEN_LIST.is_match(l)) {
        if let Some(first) = next_text(lines, list, 1).filter(|i| MAVEN_LISTED.is_match(&lines[*i]))
        {
            let test = MAVEN_LISTED.captures(&lines[first])?[1].to_owned();
            let mut shown: Vec<usize> = (list..first + 4)
                .take_while(|i| *i < lines.len() && lines[*i].starts_with("[ERROR]"))
                .collect();
            shown.extend(goal);
            return Some(Hit {
                signature: format!("{} {test}", &MAVEN_LIST.captures(&lines[list])?[1]),
                lines: shown,
            });
        }
    }
    if let Some(first) = (0..before).find(|i| MAVEN_COMPILE.is_match(&lines[*i])) {
        // The first compiler error; later ones are often consequences.
        let caps = MAVEN_COMPILE.captures(&lines[first])?;
        let mut shown: Vec<usize> = span(lines, first, first + 3).collect();
        shown.extend(goal);
        return Some(Hit {
            signature: format!("{}: {}", &caps[1], &caps[2]),
            lines: shown,
        });
    }
    let goal = goal?;
    Some(Hit {
        signature: MAVEN_GOAL.captures(&lines[goal])?[1].to_owned(),
        lines: span(lines, goal.saturating_sub(2), goal + 1).collect(),
    })
}

static GRADLE_TEST_FAILED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(\S.* > .+) FAILED$").expect("valid regex"));
static KOTLIN_ERROR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^e: (?:file://)?(\S+?):\d+:\d+ (.+)$").expect("valid regex"));

/// Gradle: the last failed test (`AppTest > adds() FAILED` and its exception); else a Kotlin
/// compiler error; else `* What went wrong:` and the lines under it.
fn gradle(lines: &[String]) -> Option<Hit> {
    let wrong = rfind(lines, lines.len(), |l| l == "* What went wrong:");
    let build_failed = rfind(lines, lines.len(), |l| {
        l == "FAILURE: Build failed with an exception." || l.starts_with("BUILD FAILED in ")
    });
    let anchor = wrong.or(build_failed)?;
    if let Some(test) = rfind(lines, anchor, |l| GRADLE_TEST_FAILED.is_match(l)) {
        let name = GRADLE_TEST_FAILED.captures(&lines[test])?[1].to_owned();
        let exception = next_text(lines, test, 1).map(|i| lines[i].trim().to_owned());
        let signature = match exception {
            Some(exception) if !exception.starts_with("at ") => {
                format!("{name} FAILED: {exception}")
            }
            _ => format!("{name} FAILED"),
        };
        let mut shown: Vec<usize> = span(lines, test, test + 3).collect();
        shown.extend(wrong.map(|w| span(lines, w, w + 3)).into_iter().flatten());
        return Some(Hit {
            signature,
            lines: shown,
        });
    }
    if let Some(first) = (0..anchor).find(|i| KOTLIN_ERROR.is_match(&lines[*i])) {
        let caps = KOTLIN_ERROR.captures(&lines[first])?;
        let mut shown = vec![first];
        shown.extend(wrong.map(|w| span(lines, w, w + 3)).into_iter().flatten());
        return Some(Hit {
            signature: format!("{}: {}", &caps[1], &caps[2]),
            lines: shown,
        });
    }
    let wrong = wrong?;
    let what: Vec<usize> = span(lines, wrong + 1, wrong + 6)
        .take_while(|i| !lines[*i].starts_with("* "))
        .collect();
    let signature = what
        .iter()
        .take(2)
        .map(|i| lines[*i].trim())
        .collect::<Vec<_>>()
        .join(" ");
    let mut shown = vec![wrong];
    shown.extend(what);
    shown.extend(build_failed.filter(|b| *b < wrong));
    Some(Hit {
        signature,
        lines: shown,
    })
}

static DOCKER_SOLVE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:ERROR|error): (?:failed to build: )?(failed to solve: .+)$")
        .expect("valid regex")
});
static DOCKER_STEP_ERROR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^#(\d+) ERROR: ").expect("valid regex"));
static DOCKER_LEGACY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^The command '(.+)' returned a non-zero code: \d+$").expect("valid regex")
});

/// Docker: BuildKit's `ERROR: failed to solve: ...`, shown with the last lines of the step that
/// failed (`#12 ERROR:`); or the legacy builder's `The command '...' returned a non-zero code`.
fn docker(lines: &[String]) -> Option<Hit> {
    if let Some(solve) = rfind(lines, lines.len(), |l| DOCKER_SOLVE.is_match(l)) {
        let signature = DOCKER_SOLVE.captures(&lines[solve])?[1].to_owned();
        let mut shown = Vec::new();
        if let Some(error) = rfind(lines, solve, |l| DOCKER_STEP_ERROR.is_match(l)) {
            let step = format!("#{} ", &DOCKER_STEP_ERROR.captures(&lines[error])?[1]);
            shown.extend(
                (0..error)
                    .rev()
                    .filter(|i| lines[*i].starts_with(&step))
                    .take(5),
            );
            shown.push(error);
        }
        shown.push(solve);
        return Some(Hit {
            signature,
            lines: shown,
        });
    }
    let legacy = rfind(lines, lines.len(), |l| DOCKER_LEGACY.is_match(l))?;
    Some(Hit {
        signature: lines[legacy].clone(),
        lines: span(lines, legacy.saturating_sub(4), legacy + 1).collect(),
    })
}

static PY_EXCEPTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning|Failure)|[A-Za-z_][\w.]*Error\b[\w.]*)(?::\s?(.*))?$")
        .expect("valid regex")
});
static PY_FRAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"^\s+File "([^"]+)", line \d+, in (\S+)"#).expect("valid regex"));

/// A Python traceback: its exception line and its innermost frame.
fn python_traceback(lines: &[String]) -> Option<Hit> {
    let start = rfind(lines, lines.len(), |l| {
        l.trim_start() == "Traceback (most recent call last):"
    })?;
    let indent = lines[start].len() - lines[start].trim_start().len();
    // The exception line is the first one back at the traceback's indentation.
    let end = (start + 1..lines.len().min(start + 400)).find(|i| {
        let line = &lines[*i];
        let this = line.len() - line.trim_start().len();
        this == indent && !line.trim().is_empty() && PY_EXCEPTION.is_match(line.trim())
    })?;
    let exception = lines[end].trim().to_owned();
    let frame = (start..end).rev().find_map(|i| {
        PY_FRAME
            .captures(&lines[i])
            .map(|c| (i, format!("{} in {}", &c[1], &c[2])))
    });
    let mut shown = vec![start];
    let signature = match frame {
        Some((i, at)) => {
            shown.extend(i..(i + 2).min(end));
            format!("{exception} (at {at})")
        }
        None => exception,
    };
    shown.push(end);
    Some(Hit {
        signature,
        lines: shown,
    })
}

static NPM_LINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^npm (?:ERR!|error)(?: (.*))?$").expect("valid regex"));
static PNPM_ERROR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*(ERR_PNPM_\w+)\s+(.+)$").expect("valid regex"));
static YARN_ERROR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?:error|\S+ error|➤ YN\d+: ✘) (.+)$").expect("valid regex"));

/// npm, pnpm and yarn: the last block of `npm ERR!`/`npm error` lines (its `code` and the line
/// after it, else its first line, never the pointer to the debug log); pnpm's `ERR_PNPM_*`; yarn's
/// last `error` other than `Command failed with exit code N.` when there is one.
fn node_package_manager(lines: &[String]) -> Option<Hit> {
    let npm_text = |i: usize| {
        NPM_LINE
            .captures(&lines[i])
            .map(|c| c.get(1).map_or("", |m| m.as_str()).trim().to_owned())
    };
    if let Some(last) = rfind(lines, lines.len(), |l| NPM_LINE.is_match(l)) {
        // The block: npm lines and the blank lines between them.
        let first = (0..=last)
            .rev()
            .take_while(|i| NPM_LINE.is_match(&lines[*i]) || lines[*i].trim().is_empty())
            .filter(|i| NPM_LINE.is_match(&lines[*i]))
            .last()
            .unwrap_or(last);
        let block: Vec<(usize, String)> = (first..=last)
            .filter_map(|i| npm_text(i).map(|t| (i, t)))
            .filter(|(_, t)| {
                !t.is_empty()
                    && !t.starts_with("A complete log of this run")
                    && !t.starts_with("Log files were not written")
            })
            .collect();
        let code = block.iter().position(|(_, t)| {
            t.strip_prefix("code ")
                .is_some_and(|c| c.starts_with(|ch: char| ch.is_ascii_uppercase()))
        });
        let signature = match code {
            Some(at) => match block.get(at + 1) {
                Some((_, next)) => format!("npm error {}: {next}", block[at].1),
                None => format!("npm error {}", block[at].1),
            },
            None => format!("npm error {}", block.first()?.1),
        };
        return Some(Hit {
            signature,
            lines: block
                .iter()
                .map(|(i, _)| *i)
                .take(MAX_EXCERPT_LINES)
                .collect(),
        });
    }
    if let Some(pnpm) = rfind(lines, lines.len(), |l| PNPM_ERROR.is_match(l)) {
        let caps = PNPM_ERROR.captures(&lines[pnpm])?;
        return Some(Hit {
            signature: format!("{} {}", &caps[1], caps[2].trim()),
            lines: span(lines, pnpm.saturating_sub(3), pnpm + 3).collect(),
        });
    }
    let last = rfind(lines, lines.len(), |l| YARN_ERROR.is_match(l))?;
    let is_exit = |i: usize| lines[i].contains("Command failed with exit code");
    let chosen = if is_exit(last) {
        (last.saturating_sub(20)..last)
            .rev()
            .find(|i| YARN_ERROR.is_match(&lines[*i]) && !is_exit(*i))
            .unwrap_or(last)
    } else {
        last
    };
    Some(Hit {
        signature: lines[chosen].clone(),
        lines: span(lines, chosen.saturating_sub(3), chosen + 1)
            .chain([last])
            .collect(),
    })
}

/// The last `##[error]` line (the runner's exit-code line is already gone).
fn github_error(lines: &[String]) -> Option<Hit> {
    let i = rfind(lines, lines.len(), |l| {
        l.strip_prefix("##[error]")
            .is_some_and(|m| !m.trim().is_empty())
    })?;
    let message = lines[i].trim_start_matches("##[error]").to_owned();
    Some(Hit {
        signature: message,
        lines: span(lines, i.saturating_sub(3), i + 1).collect(),
    })
}

#[cfg(test)]
mod tests;
