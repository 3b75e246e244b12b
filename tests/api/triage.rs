//! Triage at organisation scale: watched branches, order, the true count, grouping by cause,
//! broken vs flaky on a labelled scenario, the failing job and step, and the privacy rules.

use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with};
use crate::seed::{deliver_failed_run, insert, now, run, Run};

/// A run of workflow `workflow_id` (named `workflow`) on `branch`.
fn run_of(
    id: i64,
    created: i64,
    workflow_id: i64,
    workflow: &'static str,
    branch: &'static str,
) -> Run {
    let mut r = run(id, created);
    r.workflow_id = workflow_id;
    r.workflow = workflow;
    r.branch = branch;
    r
}

#[tokio::test]
async fn triage_shows_watched_branches_unless_asked_for_all_and_never_stale_ones() {
    // Arrange: main red, a release branch red, a live feature branch red, an abandoned one red.
    let app = spawn_app_with(|config| config.watch_branches = "release/*".parse().unwrap()).await;
    let now = now();
    let mut main = run_of(1, now - 100, 10, "CI", "main");
    main.conclusion = Some("failure");
    let mut release = run_of(2, now - 90, 10, "CI", "release/2026.11");
    release.conclusion = Some("failure");
    let mut feature = run_of(3, now - 80, 10, "CI", "feature/wip");
    feature.conclusion = Some("failure");
    let mut abandoned = run_of(4, now - 30 * 86_400, 10, "CI", "feature/old");
    abandoned.conclusion = Some("failure");
    insert(&app.db(), &[main, release, feature, abandoned]);

    // Act
    let watched = app.get_json("/api/triage").await;
    let all = app.get_json("/api/triage?branches=all").await;
    let html = app.page("/triage").await;

    // Assert
    let branches = |body: &Value| -> Vec<String> {
        let mut names: Vec<String> = body["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|i| i["branches"].as_array().unwrap().clone())
            .map(|b| b.as_str().unwrap().to_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(watched["scope"], "watched");
    assert_eq!(branches(&watched), ["main", "release/2026.11"]);
    assert_eq!(all["scope"], "all");
    assert_eq!(
        branches(&all),
        ["feature/wip", "main", "release/2026.11"],
        "a branch with no run for --stale-after is not red any more"
    );
    assert!(
        html.contains("watched: main, release/*"),
        "the scope names its branches"
    );
    assert_eq!(html.matches("<li class=\"red").count(), 2);
    app.stop().await;
}

#[tokio::test]
async fn more_than_a_hundred_reds_are_all_counted_newest_first_and_the_api_agrees() {
    // Arrange: 130 workflows red on main, each broken by its own commit, the newest last.
    let app = spawn_app().await;
    let now = now();
    let names: Vec<&'static str> = (0..130)
        .map(|i| &*Box::leak(format!("Workflow {i:03}").into_boxed_str()))
        .collect();
    let runs: Vec<Run> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mut r = run_of(
                1000 + i as i64,
                now - 10_000 + i as i64 * 10,
                100 + i as i64,
                name,
                "main",
            );
            r.conclusion = Some("failure");
            r
        })
        .collect();
    insert(&app.db(), &runs);

    // Act
    let body = app.get_json("/api/triage").await;
    let html = app.page("/triage").await;

    // Assert
    assert_eq!(body["count"], 130);
    let incidents = body["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 130);
    assert_eq!(
        incidents[0]["reds"][0]["workflow"], "Workflow 129",
        "the newest break first"
    );
    assert_eq!(html.matches("<li class=\"red").count(), 130);
    assert!(
        html.contains("✖ 130 red"),
        "the heading tells the true count"
    );
    let first = html.find("data-run-id=\"1129\"").unwrap();
    let last = html.find("data-run-id=\"1000\"").unwrap();
    assert!(first < last);
    app.stop().await;
}

#[tokio::test]
async fn one_bad_commit_failing_several_workflows_is_one_item() {
    let app = spawn_app().await;
    let now = now();
    let sha = "b".repeat(40);
    let mut runs = Vec::new();
    for (i, name) in ["CI", "Lint", "Docs"].into_iter().enumerate() {
        let id = i as i64;
        runs.push(run_of(10 + id, now - 1000, 10 + id, name, "main"));
        let mut red = run_of(20 + id, now - 500 + id, 10 + id, name, "main");
        red.sha = sha.clone();
        red.author = "mallory".into();
        red.conclusion = Some("failure");
        runs.push(red);
    }
    insert(&app.db(), &runs);

    let body = app.get_json("/api/triage").await;
    let html = app.page("/triage").await;

    assert_eq!(body["count"], 1);
    assert_eq!(body["red_workflows"], 3);
    let incident = &body["incidents"][0];
    assert_eq!(incident["sha"], sha);
    assert_eq!(incident["culprit"], "mallory");
    assert_eq!(incident["reds"].as_array().unwrap().len(), 3);
    assert_eq!(html.matches("<li class=\"red").count(), 1);
    assert!(html.contains("(3 workflows)"));
    app.stop().await;
}

/// A tiny deterministic generator for the labelled scenario.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Runs whose truth is known: `broken-N` workflows broke for good at some commit, `flaky-N` fail
/// a quarter of their attempts at random (some re-run), `new-N` have one fresh red commit after a
/// green history, `fixed-N` broke and were fixed. Returns the runs.
fn labelled_scenario(now: i64) -> Vec<Run> {
    let mut rng = Lcg(42);
    let mut runs = Vec::new();
    let mut id = 10_000;
    for k in 0..80 {
        let truth = ["broken", "flaky", "new", "fixed"][k % 4];
        let name: &'static str = Box::leak(format!("{truth}-{k}").into_boxed_str());
        let commits = 8 + (rng.next() * 8.0) as usize;
        let break_at = commits - 2 - (rng.next() * 3.0) as usize;
        for c in 0..commits {
            id += 1;
            let mut r = run_of(
                id,
                now - 100_000 + c as i64 * 600,
                100 + k as i64,
                name,
                "main",
            );
            let last = c + 1 == commits;
            let red = match truth {
                "broken" => c >= break_at,
                "flaky" => last || rng.next() < 0.25,
                "new" => last,
                _ => c >= break_at && !last,
            };
            if red {
                r.conclusion = Some("failure");
                // Someone presses "re-run": a flaky failure may pass; a broken one fails again.
                if rng.next() < 0.4 {
                    let passes = truth == "flaky" && !last && rng.next() < 0.75;
                    r.earlier_attempts = vec!["failure"];
                    if passes {
                        r.conclusion = Some("success");
                    }
                }
            }
            runs.push(r);
        }
    }
    runs
}

#[tokio::test]
async fn broken_and_flaky_are_told_apart_on_a_labelled_scenario() {
    // Arrange
    let app = spawn_app().await;
    insert(&app.db(), &labelled_scenario(now()));

    // Act
    let body = app.get_json("/api/triage?sort=oldest").await;

    // Assert: count each (truth, verdict).
    let mut matrix = std::collections::BTreeMap::new();
    for incident in body["incidents"].as_array().unwrap() {
        for red in incident["reds"].as_array().unwrap() {
            let truth = red["workflow"]
                .as_str()
                .unwrap()
                .split('-')
                .next()
                .unwrap()
                .to_owned();
            let verdict = red["verdict"].as_str().unwrap().to_owned();
            *matrix.entry((truth, verdict)).or_insert(0u32) += 1;
        }
    }
    let count = |truth: &str, verdict: &str| {
        matrix
            .get(&(truth.to_owned(), verdict.to_owned()))
            .copied()
            .unwrap_or(0)
    };
    let total = |verdict: &str| {
        ["broken", "flaky", "new", "fixed"]
            .iter()
            .map(|t| count(t, verdict))
            .sum::<u32>()
    };
    let truth_total = |truth: &str| {
        ["broken", "flaky", "new"]
            .iter()
            .map(|v| count(truth, v))
            .sum::<u32>()
    };
    let ratio = |a: u32, b: u32| {
        if b == 0 {
            1.0
        } else {
            f64::from(a) / f64::from(b)
        }
    };
    let flaky_precision = ratio(count("flaky", "flaky"), total("flaky"));
    let flaky_recall = ratio(count("flaky", "flaky"), truth_total("flaky"));
    let broken_precision = ratio(count("broken", "broken"), total("broken"));
    let broken_recall = ratio(count("broken", "broken"), truth_total("broken"));
    println!(
        "labelled scenario: {matrix:?}\nflaky precision {flaky_precision:.2} recall {flaky_recall:.2}; \
         broken precision {broken_precision:.2} recall {broken_recall:.2}"
    );
    assert_eq!(truth_total("fixed"), 0, "a fixed workflow is not red");
    assert_eq!(truth_total("broken"), 20);
    assert_eq!(truth_total("flaky"), 20);
    assert_eq!(
        count("broken", "flaky"),
        0,
        "a broken streak is never called flaky"
    );
    assert_eq!(
        count("new", "flaky"),
        0,
        "one fresh red commit is not flaky"
    );
    assert_eq!(broken_recall, 1.0);
    assert!(flaky_precision >= 0.95, "{flaky_precision}");
    assert!(flaky_recall >= 0.6, "{flaky_recall}");
    app.stop().await;
}

#[tokio::test]
async fn the_failing_job_and_step_are_stored_from_workflow_job_and_shown() {
    // Arrange: GitHub's documented failed job, attached to a failed run on the default branch.
    let app = spawn_app().await;
    let run_id = 7001;
    deliver_failed_run(&app, run_id, &"c".repeat(40), "Break the linter").await;

    // Act
    let build = app.get_json(&format!("/api/builds/{run_id}")).await;
    let triage = app.get_json("/api/triage").await;
    let html = app.page("/triage").await;

    // Assert
    assert_eq!(
        app.count("workflowsteps"),
        12,
        "every step of the job is stored"
    );
    let failed_at = json!({"job": "linters", "step": "Run yarn run format-check"});
    assert_eq!(build["failed_at"], failed_at);
    assert_eq!(triage["incidents"][0]["reds"][0]["failed_at"], failed_at);
    assert!(html.contains("failed at: linters › Run yarn run format-check"));
    app.stop().await;
}

#[tokio::test]
async fn hidden_authors_hide_culprits_and_refuse_filters_by_person() {
    let app = spawn_app_with(|config| config.hide_authors = true).await;
    let now = now();
    let mut red = run(1, now - 10);
    red.conclusion = Some("failure");
    red.author = "mallory".into();
    insert(&app.db(), &[red]);

    let triage = app.get_json("/api/triage").await;
    let html = app.page("/triage").await;
    let by_author = app.get("/api/builds?author=mallory").await;
    let triage_by_author = app.get("/api/triage?author=mallory").await;

    assert_eq!(triage["count"], 1);
    assert!(triage["incidents"][0]["culprit"].is_null());
    assert!(!triage.to_string().contains("mallory"), "{triage}");
    assert!(!html.contains("mallory") && !html.contains("likely cause"));
    assert_eq!(by_author.status(), 400);
    assert!(by_author.text().await.unwrap().contains("hides authors"));
    assert_eq!(
        triage_by_author.status(),
        400,
        "triage takes no author filter at all"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_person_filter_keeps_the_incidents_they_caused_or_pushed_into_on_page_and_api_alike() {
    // Arrange: CI went red with carol's commit and dave pushed into it (still red); Lint went red
    // with erin's commit alone.
    let app = spawn_app().await;
    let now = now();
    let mut carol = run_of(1, now - 300, 10, "CI", "main");
    carol.conclusion = Some("failure");
    carol.author = "carol".into();
    let mut dave = run_of(2, now - 200, 10, "CI", "main");
    dave.conclusion = Some("failure");
    dave.author = "dave".into();
    let mut erin = run_of(3, now - 100, 11, "Lint", "main");
    erin.conclusion = Some("failure");
    erin.author = "erin".into();
    insert(&app.db(), &[carol, dave, erin]);

    // Act
    let everyone = app.get_json("/api/triage").await;
    let by_carol = app.get_json("/api/triage?author=carol").await;
    let by_dave = app.get_json("/api/triage?author=dave").await;
    let by_erin = app.get_json("/api/triage?author=erin").await;
    let dave_page = app.page("/triage?author=dave").await;

    // Assert
    assert_eq!(everyone["count"], 2);
    let culprits = |body: &Value| -> Vec<Value> {
        body["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["culprit"].clone())
            .collect()
    };
    assert_eq!(culprits(&by_carol), [json!("carol")], "she caused it");
    assert_eq!(culprits(&by_dave), [json!("carol")], "he pushed into it");
    assert_eq!(culprits(&by_erin), [json!("erin")]);
    assert!(
        dave_page.contains("data-red=\"1\""),
        "one red workflow: {dave_page}"
    );
    app.stop().await;
}
