//! The demo's job logs, shaped like GitHub's (a timestamp on every line, `##[group]` around each
//! step's header, ANSI colours, the runner's `##[error]Process completed with exit code N.`),
//! generated from what the simulation chose for the job: its steps, their times and conclusions.
//! The failed step prints its tool's failure, chosen by the command in the step's name (`cargo
//! test`, `pytest`, `go test`, `npm test` with Jest, Gradle, Docker, Helm, ...), with test
//! names picked by the job's id; a few failures are an out-of-memory kill or a network error, so
//! that the board's "why" has something to say. Deterministic for a given job.

use chrono::DateTime;

use super::Rng;
use crate::run_state::Conclusion;
use crate::store::runpage::StepDetail;

const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const BOLD_GREEN: &str = "\x1b[1m\x1b[32m";
const BOLD_RED: &str = "\x1b[1m\x1b[31m";
const RESET: &str = "\x1b[0m";

/// Module and test names failures are told about.
const MODULES: &[&str] = &["money", "invoice", "ledger", "cart", "session", "report"];
const TESTS: &[&str] = &[
    "adds_cents",
    "rounds_half_even",
    "rejects_negative_totals",
    "keeps_currency",
    "expires_after_an_hour",
    "sums_line_items",
];

/// The log of job `job_id` (`repo`, `job` its name), from its `steps`.
pub fn job_log(job_id: i64, repo: &str, job: &str, steps: &[StepDetail]) -> String {
    let mut rng = Rng::new(job_id as u64);
    let name = repo.rsplit('/').next().unwrap_or(repo);
    let mut log = Lines::default();
    for step in steps {
        let (start, end) = (
            step.started_at.unwrap_or(0),
            step.completed_at.or(step.started_at).unwrap_or(0),
        );
        let failed = step.conclusion == Some(Conclusion::Failure);
        let lines = match step.name.as_str() {
            _ if step.conclusion == Some(Conclusion::Skipped) || step.started_at.is_none() => {
                continue
            }
            "Set up job" => set_up(job),
            "Complete job" => vec!["Cleaning up orphan processes".to_owned()],
            other if other.starts_with("Post ") => post_cleanup(),
            other => run_step(other, name, failed, &mut rng),
        };
        log.add(start, end, lines);
    }
    log.text()
}

/// Lines spread over their step's time, each with GitHub's timestamp.
#[derive(Default)]
struct Lines(Vec<String>);

impl Lines {
    fn add(&mut self, start: i64, end: i64, lines: Vec<String>) {
        let span_ms = (end - start).max(1) * 1000;
        let count = lines.len().max(1) as i64;
        for (i, line) in lines.into_iter().enumerate() {
            let at_ms = start * 1000 + span_ms * i as i64 / count;
            let time = DateTime::from_timestamp_millis(at_ms).unwrap_or_default();
            let bom = if self.0.is_empty() { "\u{feff}" } else { "" };
            self.0.push(format!(
                "{bom}{} {line}",
                time.format("%Y-%m-%dT%H:%M:%S%.3f0000Z")
            ));
        }
    }

    fn text(self) -> String {
        let mut text = self.0.join("\n");
        text.push('\n');
        text
    }
}

fn owned(lines: &[&str]) -> Vec<String> {
    lines.iter().map(|l| (*l).to_owned()).collect()
}

fn set_up(job: &str) -> Vec<String> {
    let mut lines = owned(&[
        "Current runner version: '2.321.0'",
        "##[group]Operating System",
        "Ubuntu",
        "24.04.1",
        "LTS",
        "##[endgroup]",
        "##[group]Runner Image",
        "Image: ubuntu-24.04",
        "Version: 20241117.1.0",
        "##[endgroup]",
        "Secret source: Actions",
        "Prepare workflow directory",
        "Prepare all required actions",
    ]);
    lines.push(format!("Complete job name: {job}"));
    lines
}

fn post_cleanup() -> Vec<String> {
    owned(&[
        "Post job cleanup.",
        "[command]/usr/bin/git version",
        "git version 2.47.1",
        "[command]/usr/bin/git config --local --name-only --get-regexp core\\.sshCommand",
    ])
}

/// A `Run ...` step: its header group, then its tool's output, failing or not.
fn run_step(step: &str, repo: &str, failed: bool, rng: &mut Rng) -> Vec<String> {
    let command = step.strip_prefix("Run ").unwrap_or(step);
    let mut lines = vec![format!("##[group]{step}")];
    if command.contains('@') {
        lines.push("with:".to_owned());
        lines.push(format!("  repository: northwind-labs/{repo}"));
    } else {
        lines.push(command.to_owned());
        lines.push("shell: /usr/bin/bash -e {0}".to_owned());
    }
    lines.push("##[endgroup]".to_owned());
    if !failed {
        lines.extend(success(command, repo));
        return lines;
    }
    let (output, code) = failure(command, repo, rng);
    lines.extend(output);
    lines.push(format!("##[error]Process completed with exit code {code}."));
    lines
}

fn success(command: &str, repo: &str) -> Vec<String> {
    if command.contains("checkout") {
        return vec![
            format!("Syncing repository: northwind-labs/{repo}"),
            "[command]/usr/bin/git version".to_owned(),
            "git version 2.47.1".to_owned(),
            "HEAD is now at 5a6b7c8 Merge pull request #42".to_owned(),
        ];
    }
    if command.starts_with("cargo") {
        return vec![
            format!("{BOLD_GREEN}   Compiling{RESET} {repo} v0.4.2 (/home/runner/work/{repo}/{repo})"),
            format!("{BOLD_GREEN}    Finished{RESET} `dev` profile [unoptimized + debuginfo] target(s) in 41.27s"),
        ];
    }
    vec![format!("{GREEN}✓{RESET} done")]
}

/// The failed step's output and exit code, by its command.
fn failure(command: &str, repo: &str, rng: &mut Rng) -> (Vec<String>, u8) {
    let module = *rng.pick(MODULES);
    let test = *rng.pick(TESTS);
    let line = rng.between(12, 240);
    let oom = rng.chance(0.2);
    if command.starts_with("cargo test") {
        (cargo_test(repo, module, test, line), 101)
    } else if command.starts_with("cargo") {
        (rustc(repo, module, line), 101)
    } else if command.starts_with("pytest") && oom {
        (python_oom(module), 1)
    } else if command.starts_with("pytest") {
        (pytest(module, test, line), 1)
    } else if command.starts_with("go test") {
        (go_test(repo, module, test, line), 1)
    } else if command.starts_with("npm test") {
        (jest(module, test, line), 1)
    } else if command.starts_with("npm ci") {
        (npm_network(), 1)
    } else if command.contains("gradlew") {
        (gradle(module, test), 1)
    } else if command.contains("docker") {
        (docker(), 1)
    } else {
        (generic(command), 1)
    }
}

fn cargo_test(repo: &str, module: &str, test: &str, line: i64) -> Vec<String> {
    let name = format!("{module}::tests::{test}");
    vec![
        format!("{BOLD_GREEN}   Compiling{RESET} {repo} v0.4.2 (/home/runner/work/{repo}/{repo})"),
        format!("{BOLD_GREEN}    Finished{RESET} `test` profile [unoptimized + debuginfo] target(s) in 38.12s"),
        format!("{BOLD_GREEN}     Running{RESET} unittests src/lib.rs (target/debug/deps/{}-1f2e3d4c5b6a7988)", repo.replace('-', "_")),
        String::new(),
        "running 24 tests".to_owned(),
        format!("test {module}::tests::starts_empty ... {GREEN}ok{RESET}"),
        format!("test {name} ... {RED}FAILED{RESET}"),
        String::new(),
        "failures:".to_owned(),
        String::new(),
        format!("---- {name} stdout ----"),
        format!("thread '{name}' panicked at src/{module}.rs:{line}:9:"),
        "assertion `left == right` failed".to_owned(),
        "  left: 2000".to_owned(),
        " right: 2001".to_owned(),
        "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace".to_owned(),
        String::new(),
        "failures:".to_owned(),
        format!("    {name}"),
        String::new(),
        format!("test result: {RED}FAILED{RESET}. 23 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.42s"),
        String::new(),
        format!("{BOLD_RED}error{RESET}: test failed, to rerun pass `--lib`"),
    ]
}

fn rustc(repo: &str, module: &str, line: i64) -> Vec<String> {
    vec![
        format!("{BOLD_GREEN}   Compiling{RESET} {repo} v0.4.2 (/home/runner/work/{repo}/{repo})"),
        format!("{BOLD_RED}error[E0308]{RESET}: mismatched types"),
        format!("  --> src/{module}.rs:{line}:22"),
        "   |".to_owned(),
        format!("{line} |     let total: u32 = amount.cents();"),
        "   |                ---   ^^^^^^^^^^^^^^ expected `u32`, found `u64`".to_owned(),
        "   |                |".to_owned(),
        "   |                expected due to this".to_owned(),
        String::new(),
        format!("{BOLD_RED}error{RESET}: could not compile `{repo}` (lib) due to 1 previous error"),
    ]
}

fn pytest(module: &str, test: &str, line: i64) -> Vec<String> {
    vec![
        "============================= test session starts ==============================".to_owned(),
        "platform linux -- Python 3.12.7, pytest-8.3.3, pluggy-1.5.0".to_owned(),
        "collected 57 items".to_owned(),
        String::new(),
        format!("tests/test_{module}.py ....{RED}F{RESET}.....                                       [ 17%]"),
        "tests/test_report.py ...............................................    [100%]".to_owned(),
        String::new(),
        "=================================== FAILURES ===================================".to_owned(),
        format!("_______________________________ test_{test} _______________________________"),
        String::new(),
        format!("    def test_{test}():"),
        format!(">       assert {module}.total([1999, 1]) == 2001"),
        "E       assert 2000 == 2001".to_owned(),
        String::new(),
        format!("tests/test_{module}.py:{line}: AssertionError"),
        "=========================== short test summary info ============================".to_owned(),
        format!("FAILED tests/test_{module}.py::test_{test} - assert 2000 == 2001"),
        format!("{RED}========================= 1 failed, 56 passed in 3.21s ========================={RESET}"),
    ]
}

fn python_oom(module: &str) -> Vec<String> {
    vec![
        "collected 57 items".to_owned(),
        String::new(),
        format!("tests/test_{module}.py ......"),
        "Traceback (most recent call last):".to_owned(),
        format!("  File \"/home/runner/work/app/app/src/{module}.py\", line 88, in load_all"),
        "    rows = [decode(r) for r in cursor.fetchall()]".to_owned(),
        "MemoryError".to_owned(),
    ]
}

fn go_test(repo: &str, module: &str, test: &str, line: i64) -> Vec<String> {
    let camel: String = test
        .split('_')
        .map(|w| w[..1].to_uppercase() + &w[1..])
        .collect();
    vec![
        "go: downloading github.com/stretchr/testify v1.9.0".to_owned(),
        format!("ok  \tgithub.com/northwind-labs/{repo}/internal/report\t0.021s"),
        format!("--- FAIL: Test{camel} (0.00s)"),
        format!("    {module}_test.go:{line}: got 2000, want 2001"),
        "FAIL".to_owned(),
        format!("FAIL\tgithub.com/northwind-labs/{repo}/internal/{module}\t0.006s"),
        "FAIL".to_owned(),
    ]
}

fn jest(module: &str, test: &str, line: i64) -> Vec<String> {
    let words = test.replace('_', " ");
    vec![
        format!("\x1b[1m\x1b[7m\x1b[31m FAIL \x1b[0m \x1b[2msrc/\x1b[22m\x1b[1m{module}.test.ts\x1b[22m"),
        format!("  {module}"),
        format!("    \x1b[32m✓\x1b[39m \x1b[2mstarts empty (3 ms)\x1b[22m"),
        format!("    \x1b[31m✕\x1b[39m \x1b[2m{words} (5 ms)\x1b[22m"),
        String::new(),
        format!("\x1b[1m\x1b[31m  ● {module} › {words}\x1b[39m\x1b[22m"),
        String::new(),
        "    expect(received).toBe(expected) // Object.is equality".to_owned(),
        String::new(),
        "    Expected: \x1b[32m2001\x1b[39m".to_owned(),
        "    Received: \x1b[31m2000\x1b[39m".to_owned(),
        String::new(),
        format!("      \x1b[2mat Object.toBe (\x1b[22msrc/{module}.test.ts\x1b[2m:{line}:23)\x1b[22m"),
        String::new(),
        "\x1b[1mTests:       \x1b[22m\x1b[1m\x1b[31m1 failed\x1b[39m\x1b[22m, \x1b[1m\x1b[32m41 passed\x1b[39m\x1b[22m, 42 total".to_owned(),
        "npm error Lifecycle script `test` failed with error:".to_owned(),
        "npm error code 1".to_owned(),
    ]
}

fn npm_network() -> Vec<String> {
    owned(&[
        "npm error code ECONNRESET",
        "npm error syscall read",
        "npm error errno ECONNRESET",
        "npm error network request to https://registry.npmjs.org/react failed, reason: read ECONNRESET",
        "npm error network This is a problem related to network connectivity.",
    ])
}

fn gradle(module: &str, test: &str) -> Vec<String> {
    let class = module[..1].to_uppercase() + &module[1..];
    vec![
        "> Task :compileKotlin".to_owned(),
        "> Task :test".to_owned(),
        String::new(),
        format!("{class}Test > {test}() FAILED"),
        "    org.opentest4j.AssertionFailedError at ".to_owned() + &format!("{class}Test.kt:42"),
        String::new(),
        "42 tests completed, 1 failed".to_owned(),
        String::new(),
        "FAILURE: Build failed with an exception.".to_owned(),
        String::new(),
        "* What went wrong:".to_owned(),
        "Execution failed for task ':test'.".to_owned(),
        "> There were failing tests. See the report at: file:///home/runner/work/app/app/build/reports/tests/test/index.html".to_owned(),
        String::new(),
        "BUILD FAILED in 1m 12s".to_owned(),
    ]
}

fn docker() -> Vec<String> {
    owned(&[
        "#12 [build 4/6] RUN npm ci --omit=dev",
        "#12 ERROR: process \"/bin/sh -c npm ci --omit=dev\" did not complete successfully: exit code: 1",
        "------",
        " > [build 4/6] RUN npm ci --omit=dev:",
        "------",
        "ERROR: failed to solve: process \"/bin/sh -c npm ci --omit=dev\" did not complete successfully: exit code: 1",
    ])
}

fn generic(command: &str) -> Vec<String> {
    let tool = command.split_whitespace().next().unwrap_or(command);
    vec![
        format!("{tool}: running"),
        format!("##[error]{tool} failed: the check did not pass (see above)"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::{self, Rule};
    use crate::run_state::Status;

    fn step(number: i64, name: &str, conclusion: Conclusion) -> StepDetail {
        StepDetail {
            number,
            name: name.to_owned(),
            status: Status::Completed,
            conclusion: Some(conclusion),
            started_at: Some(1_764_950_400 + number * 10),
            completed_at: Some(1_764_950_400 + number * 10 + 9),
        }
    }

    fn log_of(job_id: i64, failing: &str) -> String {
        let steps = vec![
            step(1, "Set up job", Conclusion::Success),
            step(2, "Run actions/checkout@v4", Conclusion::Success),
            step(3, failing, Conclusion::Failure),
            step(4, "Post Run actions/checkout@v4", Conclusion::Success),
            step(5, "Complete job", Conclusion::Success),
        ];
        job_log(job_id, "northwind-labs/ledger", "test", &steps)
    }

    #[test]
    fn each_tools_failure_is_explained_by_its_rule() {
        for (failing, rule) in [
            ("Run cargo test --locked", Rule::CargoTest),
            ("Run cargo build --locked --all-targets", Rule::Rustc),
            ("Run go test -race ./...", Rule::GoTest),
            ("Run npm test -- --ci", Rule::Jest),
            ("Run npm ci", Rule::NodePackageManager),
            ("Run ./gradlew test", Rule::Gradle),
            ("Run docker/build-push-action@v6", Rule::Docker),
            ("Run helm upgrade --install x", Rule::GithubError),
        ] {
            let log = log_of(7, failing);
            let found = failure::extract(&log).unwrap_or_else(|| panic!("{failing}: {log}"));
            assert_eq!(found.rule, rule, "{failing}");
        }
    }

    #[test]
    fn pytest_fails_or_runs_out_of_memory_by_the_job() {
        let rules: Vec<Rule> = (0..40)
            .map(|job| {
                failure::extract(&log_of(job, "Run pytest -q --maxfail=5"))
                    .unwrap()
                    .rule
            })
            .collect();
        assert!(rules.contains(&Rule::Pytest));
        assert!(rules.contains(&Rule::PythonTraceback));
    }

    #[test]
    fn a_log_has_githubs_shape() {
        let log = log_of(3, "Run cargo test --locked");
        assert!(log.starts_with('\u{feff}'));
        let first = log.trim_start_matches('\u{feff}').lines().next().unwrap();
        assert_eq!(failure::split_timestamp(first).0.len(), 28, "{first}");
        assert!(log.contains("##[group]Run cargo test --locked"));
        assert!(log.contains("##[error]Process completed with exit code 101."));
        assert!(log.contains("Post job cleanup."));
        assert_eq!(log, log_of(3, "Run cargo test --locked"), "deterministic");
    }
}
