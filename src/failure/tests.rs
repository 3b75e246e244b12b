//! The rules on fixture logs in GitHub's raw format (`tests/fixtures/logs/`, written from each
//! tool's output format), and the cleaning and normalisation they rely on.

use super::*;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../tests/fixtures/logs/", $name))
    };
}

/// The failure in `log`, which must have one.
fn failure(log: &str) -> Failure {
    extract(log).expect("a rule matches")
}

fn assert_failure(log: &str, rule: Rule, signature: &str, excerpt_has: &[&str]) {
    let found = failure(log);
    assert_eq!(found.rule, rule, "{found:#?}");
    assert_eq!(found.signature, signature, "{found:#?}");
    for part in excerpt_has {
        assert!(found.excerpt.contains(part), "{part:?} not in {found:#?}");
    }
    assert!(
        found.excerpt.lines().count() <= MAX_EXCERPT_LINES,
        "{found:#?}"
    );
    assert!(found.excerpt.len() <= MAX_EXCERPT_BYTES);
    assert!(
        !found.excerpt.contains("2026-11-24T08:4"),
        "timestamps are stripped: {found:#?}"
    );
    assert!(
        !found.excerpt.contains('\x1b'),
        "colours are stripped: {found:#?}"
    );
}

#[test]
fn a_failed_cargo_test_is_named_with_its_panic() {
    assert_failure(
        fixture!("cargo-test.log"),
        Rule::CargoTest,
        "test money::tests::adds_cents panicked at src/money.rs:N:N: assertion `left == right` failed",
        &["---- money::tests::adds_cents stdout ----", "left: 1999", "right: 2000"],
    );
}

#[test]
fn a_rustc_error_is_named_with_its_code_and_location() {
    assert_failure(
        fixture!("rustc.log"),
        Rule::Rustc,
        "error[E0308]: mismatched types at src/money.rs:N:N",
        &[
            "error[E0308]: mismatched types",
            "--> src/money.rs:31:5",
            "expected `u64`, found `i64`",
        ],
    );
}

#[test]
fn a_pytest_failure_is_taken_from_the_short_test_summary() {
    assert_failure(
        fixture!("pytest.log"),
        Rule::Pytest,
        "FAILED tests/test_money.py::test_adds_cents - assert N == N",
        &[
            "E       assert 2000 == 2001",
            "short test summary info",
            "1 failed, 11 passed",
        ],
    );
}

#[test]
fn a_go_test_failure_is_the_deepest_subtest_with_its_message() {
    assert_failure(
        fixture!("go-test.log"),
        Rule::GoTest,
        "--- FAIL: TestTotal/negative_cents: money_test.go: Total([-N N]) = N, want N",
        &[
            "--- FAIL: TestTotal/negative_cents",
            "money_test.go:42:",
            "FAIL\tgithub.com/octo-org/octo-repo/internal/money",
        ],
    );
}

#[test]
fn a_go_test_panic_is_named_with_the_panic() {
    assert_failure(
        fixture!("go-panic.log"),
        Rule::GoTest,
        "--- FAIL: TestSplit: panic: runtime error: index out of range [N] with length N",
        &["--- FAIL: TestSplit", "goroutine 7 [running]:"],
    );
}

#[test]
fn a_coloured_jest_failure_wins_over_the_npm_script_error_after_it() {
    let log = fixture!("jest.log");
    assert!(log.contains("\x1b[31m"), "the fixture is coloured");
    assert_failure(
        log,
        Rule::Jest,
        "src/cart.test.js ● cart › adds an item: expect(received).toBe(expected) // Object.is equality",
        &["● cart › adds an item", "Expected: 2", "Received: 1"],
    );
}

#[test]
fn a_vitest_failure_is_named_with_its_assertion() {
    assert_failure(
        fixture!("vitest.log"),
        Rule::Vitest,
        "FAIL src/cart.test.ts > cart > adds an item: AssertionError: expected N to be N // Object.is equality",
        &["FAIL  src/cart.test.ts > cart > adds an item", "- Expected"],
    );
}

#[test]
fn an_npm_error_is_named_by_its_code_and_first_line() {
    assert_failure(
        fixture!("npm.log"),
        Rule::NodePackageManager,
        "npm error code ERESOLVE: ERESOLVE could not resolve",
        &[
            "npm ERR! code ERESOLVE",
            "While resolving: react-dom@18.3.1",
        ],
    );
}

#[test]
fn a_yarn_error_is_its_error_line() {
    assert_failure(
        fixture!("yarn.log"),
        Rule::NodePackageManager,
        "error Your lockfile needs to be updated, but yarn was run with `--frozen-lockfile`.",
        &["[1/4] Resolving packages..."],
    );
}

#[test]
fn a_pnpm_error_is_its_err_pnpm_code_and_message() {
    assert_failure(
        fixture!("pnpm.log"),
        Rule::NodePackageManager,
        "ERR_PNPM_OUTDATED_LOCKFILE Cannot install with \"frozen-lockfile\" because pnpm-lock.yaml is not up to date with <ROOT>/package.json",
        &["ERR_PNPM_OUTDATED_LOCKFILE"],
    );
}

#[test]
fn a_gradle_test_failure_is_named_with_its_exception() {
    assert_failure(
        fixture!("gradle.log"),
        Rule::Gradle,
        "AppTest > addsCents() FAILED: org.opentest4j.AssertionFailedError: expected: <N> but was: <N>",
        &["AppTest > addsCents() FAILED", "* What went wrong:", "Execution failed for task ':app:test'."],
    );
}

#[test]
fn a_gradle_failure_without_tests_is_what_went_wrong() {
    assert_failure(
        fixture!("gradle-deps.log"),
        Rule::Gradle,
        "Execution failed for task ':app:compileJava'. > Could not resolve all files for configuration ':app:compileClasspath'.",
        &["Could not find com.example:money:1.2.3."],
    );
}

#[test]
fn a_maven_test_failure_is_the_first_of_surefires_list() {
    assert_failure(
        fixture!("maven.log"),
        Rule::Maven,
        "Failures AppTest.addsCents:N expected: <N> but was: <N>",
        &[
            "[ERROR] Failures:",
            "AppTest.addsCents:17",
            "Failed to execute goal",
        ],
    );
}

#[test]
fn a_docker_build_failure_shows_the_failed_steps_output() {
    assert_failure(
        fixture!("docker.log"),
        Rule::Docker,
        "failed to solve: process \"/bin/sh -c npm ci --omit=dev\" did not complete successfully: exit code: N",
        &["#7 ERROR:", "can only install packages when your package.json and package-lock.json are in sync"],
    );
}

#[test]
fn a_python_traceback_is_its_exception_and_innermost_frame() {
    assert_failure(
        fixture!("python-traceback.log"),
        Rule::PythonTraceback,
        "ValueError: invalid literal for int() with base N: 'v0015' (at scripts/migrate.py in parse_version)",
        &["Traceback (most recent call last):", "ValueError: invalid literal"],
    );
}

#[test]
fn an_error_annotation_is_the_last_resort() {
    assert_failure(
        fixture!("github-error.log"),
        Rule::GithubError,
        "Deployment to staging was rejected: environment is locked by run N",
        &["Uploading build 5a6b7c8d to staging"],
    );
}

#[test]
fn the_runners_exit_code_alone_explains_nothing() {
    assert_eq!(extract(fixture!("exit-code-only.log")), None);
    assert_eq!(extract(""), None);
}

#[test]
fn the_same_failure_in_two_runs_has_the_same_signature() {
    // Two runs: other timestamps, temp dirs, hashes, durations, line numbers, ids.
    let first = "2026-11-24T08:45:12.1234567Z ##[group]Run pytest\n\
        2026-11-24T08:45:13.0000001Z =========================== short test summary info ============================\n\
        2026-11-24T08:45:13.0000002Z FAILED tests/test_io.py::test_write[3] - FileNotFoundError: /tmp/pytest-of-runner/pytest-0/test_write0/out.txt (commit 5a6b7c8d9e, job 9f8e7d6c-1111-2222-3333-444455556666, 0.41s)\n\
        2026-11-24T08:45:13.0000003Z ======================== 1 failed, 11 passed in 0.41s =========================\n";
    let second = "2026-12-01T17:02:59.7654321Z ##[group]Run pytest\n\
        2026-12-01T17:03:00.0000001Z =========================== short test summary info ============================\n\
        2026-12-01T17:03:00.0000002Z FAILED tests/test_io.py::test_write[7] - FileNotFoundError: /tmp/pytest-of-runner/pytest-12/test_write3/out.txt (commit 0123abcdef4, job 00000000-aaaa-bbbb-cccc-dddddddddddd, 12.9s)\n\
        2026-12-01T17:03:00.0000003Z ======================== 1 failed, 11 passed in 13.02s =========================\n";
    let (a, b) = (failure(first), failure(second));
    assert_eq!(a.rule, Rule::Pytest);
    assert_eq!(a.signature, b.signature);
    assert_eq!(
        a.signature,
        "FAILED tests/test_io.py::test_write[N] - FileNotFoundError: <tmp> (commit <hash>, job <uuid>, N)"
    );
    // A different failure does not collide.
    let other = second.replace("FileNotFoundError", "PermissionError");
    assert_ne!(failure(&other).signature, a.signature);
}

#[test]
fn normalise_replaces_what_varies_and_keeps_what_names_the_failure() {
    for (raw, want) in [
        (
            "error[E0308] at src/x.rs:3:5",
            "error[E0308] at src/x.rs:N:N",
        ),
        (
            "/home/runner/work/repo/repo/src/a.py and D:\\a\\repo\\repo\\src\\b.py",
            "src/a.py and src\\b.py",
        ),
        (
            "wrote tmp.AbC123xyz and /tmp/xyz123/f and .tmpA1b2C3",
            "wrote <tmp> and <tmp> and <tmp>",
        ),
        (
            "at 0xc0000163a8 in deadbeefcafe1 (not facade or 1234567)",
            "at <hash> in <hash> (not facade or N)",
        ),
        ("took 12ms, then 3.5s, then 2 min", "took N, then N, then N"),
        ("sha256 utf8 TestV2 python3", "sha256 utf8 TestV2 python3"),
        ("  spaced \t out  ", "spaced out"),
    ] {
        assert_eq!(normalise(raw), want, "{raw:?}");
    }
    assert_eq!(
        normalise(&"x".repeat(500)).chars().count(),
        MAX_SIGNATURE_CHARS
    );
    assert_eq!(
        normalise(&"é".repeat(500)).chars().count(),
        MAX_SIGNATURE_CHARS
    );
}

#[test]
fn cleaning_strips_timestamps_colours_and_group_markers() {
    assert_eq!(
        clean_line("2026-11-24T08:45:12.1234567Z \x1b[1m\x1b[31merror\x1b[0m: boom").as_deref(),
        Some("error: boom")
    );
    assert_eq!(
        clean_line("\u{feff}2026-11-24T08:45:12.1234567Z ##[group]Run cargo test").as_deref(),
        Some("Run cargo test")
    );
    assert_eq!(
        clean_line("2026-11-24T08:45:12.1234567Z ##[endgroup]"),
        None
    );
    assert_eq!(
        clean_line("2026-11-24T08:45:12.1234567Z ##[error]Process completed with exit code 101."),
        None
    );
    assert_eq!(
        clean_line("no timestamp\r").as_deref(),
        Some("no timestamp")
    );
    assert_eq!(
        clean_line("\x1b]8;;https://x\x07link\x1b]8;;\x07 text").as_deref(),
        Some("link text")
    );
}

#[test]
fn only_the_end_of_a_huge_log_is_read() {
    // An error far from the end is out of reach; one at the end is found, and quickly.
    let mut log = String::from("##[error]an early error\n");
    let filler =
        "2026-11-24T08:45:12.1234567Z some ordinary output line that goes on for a while\n";
    while log.len() < 8 * MAX_SCAN_BYTES {
        log.push_str(filler);
    }
    assert_eq!(extract(&log), None);
    let lines = clean_lines(&log);
    assert!(lines.len() <= MAX_SCAN_LINES);
    log.push_str("2026-11-24T08:45:13.0000000Z ##[error]the late error\n");
    let started = std::time::Instant::now();
    assert_eq!(failure(&log).signature, "the late error");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}

#[test]
fn a_multibyte_character_at_the_window_edge_does_not_panic() {
    let mut log = "é".repeat(MAX_SCAN_BYTES);
    log.push_str("\n##[error]boom\n");
    assert_eq!(failure(&log).signature, "boom");
}

#[test]
fn excerpts_are_bounded_even_for_long_lines() {
    let long = "x".repeat(10_000);
    let log: String = (0..20).map(|_| format!("##[error]{long}\n")).collect();
    let found = failure(&log);
    assert!(found.excerpt.len() <= MAX_EXCERPT_BYTES);
    assert!(found.excerpt.lines().count() <= MAX_EXCERPT_LINES);
}

#[test]
fn rule_names_round_trip() {
    for rule in rules() {
        assert_eq!(Rule::parse(rule.as_str()), Some(rule));
    }
    assert_eq!(rules().count(), 12);
    assert_eq!(Rule::parse("nope"), None);
}

#[test]
fn a_failure_annotation_explains_unless_it_is_the_exit_code() {
    let found = from_annotation(
        "src/money.rs",
        Some("mismatched types"),
        "expected `u64`, found `i64` at line 31\nmore",
    )
    .unwrap();
    assert_eq!(found.rule, Rule::Annotation);
    assert_eq!(
        found.signature,
        "src/money.rs: mismatched types: expected `u64`, found `i64` at line N"
    );
    assert_eq!(
        found.excerpt,
        "expected `u64`, found `i64` at line 31\nmore"
    );
    assert_eq!(
        from_annotation(".github", None, "Process completed with exit code 1."),
        None
    );
    assert_eq!(Rule::parse("annotation"), Some(Rule::Annotation));
}

#[test]
fn an_excerpt_ends_where_its_step_ends() {
    // Arrange: pytest -q prints its result line without `=`, so the rule's own end is not found;
    // the runner's exit code, then the post-job cleanup, follow.
    let log = "\u{feff}2026-11-24T08:45:10.0000000Z ##[group]Run pytest -q\n\
        2026-11-24T08:45:10.1000000Z pytest -q\n\
        2026-11-24T08:45:10.2000000Z ##[endgroup]\n\
        2026-11-24T08:45:16.0000000Z E       assert 2000 == 2001\n\
        2026-11-24T08:45:17.0000000Z =========================== short test summary info ============================\n\
        2026-11-24T08:45:17.1000000Z FAILED tests/test_money.py::test_adds_cents - assert 2000 == 2001\n\
        2026-11-24T08:45:17.2000000Z 1 failed, 11 passed in 0.41s\n\
        2026-11-24T08:45:17.3000000Z ##[error]Process completed with exit code 1.\n\
        2026-11-24T08:45:18.1000000Z Post job cleanup.\n\
        2026-11-24T08:45:18.2000000Z [command]/usr/bin/git version\n\
        2026-11-24T08:45:18.3000000Z git version 2.47.1\n\
        2026-11-24T08:45:18.4000000Z Temporarily overriding HOME='/home/runner/work/_temp/1' before making global git config changes\n\
        2026-11-24T08:45:18.5000000Z [command]/usr/bin/git config --global --add safe.directory /home/runner/work/r/r\n\
        2026-11-24T08:45:18.6000000Z Cleaning up orphan processes\n";

    // Act
    let found = failure(log);

    // Assert
    assert_eq!(found.rule, Rule::Pytest);
    assert!(found.excerpt.contains("1 failed, 11 passed"), "{found:#?}");
    for cleanup in [
        "Post job cleanup",
        "git version",
        "safe.directory",
        "orphan",
    ] {
        assert!(
            !found.excerpt.contains(cleanup),
            "{cleanup:?} in {found:#?}"
        );
    }
}
