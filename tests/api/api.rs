//! The JSON API against the real server: filters, paging while runs arrive, metrics on
//! hand-checked rows, errors, the admin token, rate limits.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, webhook_json, TestApp};

/// A run derived from GitHub's `workflow_run` example, with the fields a test controls.
#[derive(Clone)]
struct Run {
    id: i64,
    created: i64,
    status: &'static str,
    conclusion: Option<&'static str>,
    branch: &'static str,
    actor: &'static str,
    event: &'static str,
    /// Seconds queued (run_started_at - created_at).
    queue: i64,
    /// Seconds run (updated_at - run_started_at), for completed runs.
    duration: i64,
}

impl Default for Run {
    fn default() -> Self {
        Self {
            id: 1,
            created: 1_700_000_000,
            status: "completed",
            conclusion: Some("success"),
            branch: "master",
            actor: "octocat",
            event: "push",
            queue: 10,
            duration: 100,
        }
    }
}

fn rfc3339(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl Run {
    fn payload(&self) -> Vec<u8> {
        let mut payload = webhook_json("workflow_run/completed.payload.json");
        let run = &mut payload["workflow_run"];
        run["id"] = json!(self.id);
        run["run_number"] = json!(self.id);
        run["status"] = json!(self.status);
        run["conclusion"] = json!(self.conclusion);
        run["head_branch"] = json!(self.branch);
        run["actor"]["login"] = json!(self.actor);
        run["event"] = json!(self.event);
        let sha = format!("{:040x}", self.id);
        run["head_sha"] = json!(sha);
        run["head_commit"]["id"] = json!(sha);
        run["created_at"] = json!(rfc3339(self.created));
        run["run_started_at"] = json!(rfc3339(self.created + self.queue));
        run["updated_at"] = json!(rfc3339(self.created + self.queue + self.duration));
        payload["action"] = json!(if self.status == "completed" {
            "completed"
        } else {
            "in_progress"
        });
        serde_json::to_vec(&payload).unwrap()
    }
}

async fn deliver_runs(app: &TestApp, runs: &[Run]) {
    for run in runs {
        app.deliver(
            "workflow_run",
            &format!("run-{}-{}", run.id, run.status),
            &run.payload(),
        )
        .await;
    }
}

fn ids(body: &Value) -> Vec<i64> {
    body["builds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn every_filter_selects_exactly_the_matching_builds() {
    let app = spawn_app().await;
    let base = Run::default();
    let runs = vec![
        Run {
            id: 1,
            created: base.created,
            ..base.clone()
        },
        Run {
            id: 2,
            created: base.created + 10,
            conclusion: Some("failure"),
            branch: "dev",
            ..base.clone()
        },
        Run {
            id: 3,
            created: base.created + 20,
            actor: "hubot",
            event: "pull_request",
            ..base.clone()
        },
        Run {
            id: 4,
            created: base.created + 30,
            status: "in_progress",
            conclusion: None,
            ..base.clone()
        },
    ];
    deliver_runs(&app, &runs).await;
    let sha2 = format!("{:040x}", 2);
    let cases: Vec<(String, Vec<i64>)> = vec![
        ("".into(), vec![4, 3, 2, 1]),
        ("repo=octo-org/octo-repo".into(), vec![4, 3, 2, 1]),
        ("repo=nobody/nothing".into(), vec![]),
        ("branch=dev".into(), vec![2]),
        ("workflow=test".into(), vec![4, 3, 2, 1]),
        ("status=in_progress".into(), vec![4]),
        ("conclusion=failure".into(), vec![2]),
        ("author=hubot".into(), vec![3]),
        ("event=pull_request".into(), vec![3]),
        (format!("sha={sha2}"), vec![2]),
        (format!("sha={}", &sha2[..7]), (1..=4).rev().collect()), // every id shares the zero prefix
        (
            format!("since={}", rfc3339(base.created + 10)),
            vec![4, 3, 2],
        ),
        (format!("until={}", rfc3339(base.created + 10)), vec![1]),
        ("branch=master&conclusion=success".into(), vec![3, 1]),
    ];
    for (query, expected) in cases {
        let (status, body) = app.get_status_json(&format!("/api/builds?{query}")).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(ids(&body), expected, "{query}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_conclusion_github_has_not_documented_is_kept_and_served_as_it_came() {
    // Arrange: a run that ended in a conclusion this server does not know.
    let app = spawn_app().await;
    let run = Run {
        conclusion: Some("exploded"),
        ..Run::default()
    };

    // Act
    deliver_runs(&app, &[run]).await;

    // Assert: stored and served verbatim, neither red nor green, and the page shows its name.
    let body = app.get_json("/api/builds").await;
    assert_eq!(body["builds"][0]["conclusion"], "exploded", "{body}");
    let body = app.get_json("/api/builds?conclusion=failure").await;
    assert_eq!(ids(&body), Vec::<i64>::new());
    let (status, body) = app.get_status_json("/api/builds?conclusion=exploded").await;
    assert_eq!(
        status, 400,
        "filters take documented conclusions only: {body}"
    );
    let page = app.get_text("/waterfall").await;
    assert!(page.contains("exploded"), "the board names it");
    app.stop().await;
}

#[tokio::test]
async fn paging_while_new_runs_arrive_neither_skips_nor_repeats() {
    let app = spawn_app().await;
    let base = Run::default();
    let first: Vec<Run> = (1..=25)
        .map(|i| Run {
            id: i,
            created: base.created + i,
            ..base.clone()
        })
        .collect();
    deliver_runs(&app, &first).await;

    let mut seen = Vec::new();
    let response = app.get("/api/builds?per_page=10").await;
    let mut link = response
        .headers()
        .get("link")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = response.json().await.unwrap();
    seen.extend(ids(&body));
    let mut arrivals = 100;
    while let Some(header) = link {
        // New runs arrive between pages, newer than everything.
        let newer: Vec<Run> = (0..3)
            .map(|i| Run {
                id: arrivals + i,
                created: base.created + arrivals + i,
                ..base.clone()
            })
            .collect();
        deliver_runs(&app, &newer).await;
        arrivals += 3;
        let url = header
            .trim_start_matches('<')
            .split('>')
            .next()
            .unwrap()
            .to_owned();
        assert!(
            url.starts_with(&format!("http://{}/api/builds?", app.addr)),
            "{url}"
        );
        assert!(url.contains("per_page=10"), "{url}");
        let response = app.http.get(&url).send().await.unwrap();
        link = response
            .headers()
            .get("link")
            .map(|v| v.to_str().unwrap().to_owned());
        let body: Value = response.json().await.unwrap();
        seen.extend(ids(&body));
    }
    let expected: Vec<i64> = (1..=25).rev().collect();
    assert_eq!(seen, expected, "every original build once, newest first");
    app.stop().await;
}

#[tokio::test]
async fn one_build_comes_with_its_jobs() {
    let app = spawn_app().await;
    app.deliver_fixture("workflow_run", "r", "workflow_run/completed.payload.json")
        .await;
    let mut job = webhook_json("workflow_job/completed.success.with-organization.payload.json");
    job["workflow_job"]["run_id"] = json!(289782451);
    app.deliver_json("workflow_job", "j", &job).await;

    let (status, body) = app.get_status_json("/api/builds/289782451").await;
    assert_eq!(status, 200);
    assert_eq!(body["id"], 289782451);
    let jobs = body["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["name"], "linters");
    assert_eq!(jobs[0]["runner"], "GitHub Actions 5");
    assert_eq!(jobs[0]["conclusion"], "success");
    assert_eq!(jobs[0]["queue_s"], 60, "10:33:58 created, 10:34:58 started");
    assert_eq!(jobs[0]["duration_s"], 198, "10:34:58 to 10:38:16");
    let (status, body) = app.get_status_json("/api/builds/1").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    app.stop().await;
}

#[tokio::test]
async fn metrics_match_hand_checked_rows_and_a_rate_over_zero_runs_is_null() {
    let app = spawn_app().await;
    let t = 1_700_000_000;
    let base = Run {
        created: t,
        ..Run::default()
    };
    let runs = vec![
        // master: green, red (60 s later), red, green: one recovery
        Run {
            id: 1,
            created: t,
            duration: 100,
            queue: 10,
            ..base.clone()
        },
        Run {
            id: 2,
            created: t + 1000,
            conclusion: Some("failure"),
            duration: 200,
            queue: 20,
            ..base.clone()
        },
        Run {
            id: 3,
            created: t + 2000,
            conclusion: Some("failure"),
            duration: 300,
            queue: 30,
            ..base.clone()
        },
        Run {
            id: 4,
            created: t + 3000,
            duration: 400,
            queue: 40,
            ..base.clone()
        },
        // running now: counts as active, not in rates or durations; its queue time counts
        Run {
            id: 5,
            created: t + 4000,
            status: "in_progress",
            conclusion: None,
            queue: 50,
            ..base.clone()
        },
    ];
    deliver_runs(&app, &runs).await;
    let window = format!("since={}&until={}", rfc3339(t), rfc3339(t + 5000));
    let (status, body) = app.get_status_json(&format!("/api/metrics?{window}")).await;
    assert_eq!(status, 200, "{body}");
    let m = &body["metrics"];
    assert_eq!(m["total_runs"], 5);
    assert_eq!(m["completed_runs"], 4);
    assert_eq!(m["success_rate"], 0.5);
    assert_eq!(m["failure_rate"], 0.5);
    assert_eq!(m["active_builds"], 1);
    assert_eq!(
        m["duration_s"],
        json!({"avg": 250.0, "p50": 200.0, "p95": 400.0})
    );
    assert_eq!(m["queue_s"], json!({"avg": 30.0, "p50": 30.0, "p95": 50.0}));
    // Red from run 2's end (t+1000+20+200) until run 4's end (t+3000+40+400).
    assert_eq!(m["recoveries"], 1);
    assert_eq!(m["time_to_recover_s"]["avg"], 2220.0);
    // master is the default branch: red for 2220 s of a 5000 s window.
    assert_eq!(m["default_branch_red_share"], 0.444);
    assert_eq!(m["flaky_rate"], 0.0);

    let (_, grouped) = app
        .get_status_json(&format!("/api/metrics?{window}&group_by=author"))
        .await;
    assert_eq!(grouped["groups"][0]["key"], "octocat");
    assert_eq!(grouped["groups"][0]["metrics"]["total_runs"], 5);

    let (status, empty) = app
        .get_status_json("/api/metrics?since=1990-01-01T00:00:00Z&until=1990-01-02T00:00:00Z")
        .await;
    assert_eq!(status, 200);
    assert_eq!(empty["metrics"]["total_runs"], 0);
    assert_eq!(empty["metrics"]["success_rate"], Value::Null);
    assert_eq!(empty["metrics"]["failure_rate"], Value::Null);
    assert_eq!(empty["metrics"]["duration_s"]["avg"], Value::Null);
    app.stop().await;
}

#[tokio::test]
async fn a_failure_then_a_green_rerun_counts_as_flaky() {
    let app = spawn_app().await;
    let failed = Run {
        id: 7,
        conclusion: Some("failure"),
        ..Run::default()
    };
    app.deliver("workflow_run", "a1", &failed.payload()).await;
    let mut rerun: Value = serde_json::from_slice(
        &Run {
            id: 7,
            ..Run::default()
        }
        .payload(),
    )
    .unwrap();
    rerun["workflow_run"]["run_attempt"] = json!(2);
    app.deliver_json("workflow_run", "a2", &rerun).await;
    let (_, body) = app
        .get_status_json("/api/metrics?since=2023-01-01T00:00:00Z")
        .await;
    assert_eq!(body["metrics"]["flaky_runs"], 1);
    assert_eq!(body["metrics"]["flaky_rate"], 1.0);
    app.stop().await;
}

#[tokio::test]
async fn workflows_list_their_latest_run_and_history() {
    let app = spawn_app().await;
    let base = Run::default();
    deliver_runs(
        &app,
        &[
            Run {
                id: 1,
                ..base.clone()
            },
            Run {
                id: 2,
                created: base.created + 5,
                ..base.clone()
            },
        ],
    )
    .await;
    let (status, body) = app.get_status_json("/api/workflows?window=30d").await;
    assert_eq!(status, 200);
    let workflow = &body["workflows"][0];
    assert_eq!(workflow["id"], 2823525);
    assert_eq!(workflow["name"], "test");
    assert_eq!(workflow["latest_build"]["id"], 2);
    assert!(workflow["metrics"]["total_runs"].is_u64());
    let (status, history) = app
        .get_status_json("/api/workflows/2823525?per_page=1")
        .await;
    assert_eq!(status, 200);
    assert_eq!(ids(&history), vec![2]);
    assert_eq!(history["workflow"]["path"], ".github/workflows/test.yml");
    assert!(history["next_cursor"].is_string());
    assert_eq!(app.get_status_json("/api/workflows/999").await.0, 404);
    app.stop().await;
}

#[tokio::test]
async fn bad_parameters_get_a_400_that_says_what_is_allowed() {
    let app = spawn_app().await;
    let cases = [
        ("/api/builds?status=done", "allowed: requested, queued"),
        ("/api/builds?conclusion=red", "allowed: success, failure"),
        ("/api/builds?since=yesterday", "parameter `since`"),
        ("/api/builds?until=2024-13-01", "RFC 3339"),
        ("/api/builds?per_page=0", "from 1 to 100"),
        ("/api/builds?per_page=101", "from 1 to 100"),
        ("/api/builds?colour=red", "unknown parameter `colour`"),
        ("/api/builds?cursor=abc", "cursor"),
        ("/api/builds?sha=xyz", "hexadecimal"),
        ("/api/metrics?window=1y", "allowed: 24h, 7d, 30d"),
        (
            "/api/metrics?window=7d&since=2024-01-01T00:00:00Z",
            "not both",
        ),
        (
            "/api/metrics?group_by=colour",
            "allowed: repo, workflow, branch, author",
        ),
    ];
    for (path, needle) in cases {
        let (status, body) = app.get_status_json(path).await;
        assert_eq!(status, 400, "{path}");
        assert_eq!(body["error"]["code"], "invalid_parameter", "{path}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{path}: {message}");
    }
    assert_eq!(app.get_status_json("/api/nothing-here").await.0, 404);
    app.stop().await;
}

#[tokio::test]
async fn repository_mutations_need_the_admin_token() {
    let refused = spawn_app().await;
    let response = refused
        .http
        .post(refused.url("/api/repos"))
        .json(&json!({"repo": "a/b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        403,
        "no admin token configured: mutations are off"
    );
    refused.stop().await;

    let app = spawn_app_with(|config| {
        config.admin_token = Some(buildboard::config::Secret::new("s3cret"))
    })
    .await;
    let post = |token: Option<&str>, body: Value| {
        let mut request = app.http.post(app.url("/api/repos")).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let refusals = [
        (None, json!({"repo": "a/b"}), 401),
        (Some("wrong"), json!({"repo": "a/b"}), 401),
        (Some("s3cret"), json!({"repo": "not a repo"}), 400),
    ];
    for (token, body, status) in refusals {
        let response = post(token, body.clone()).await.unwrap();
        assert_eq!(response.status(), status, "{token:?} {body}");
    }
    let created = post(Some("s3cret"), json!({"repo": "octo-org/octo-repo"}))
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert!(
        created["repo"]["id"].as_i64().unwrap() < 0,
        "a placeholder until the first delivery"
    );

    // The first delivery adopts the placeholder; the repository keeps one row.
    deliver_runs(&app, &[Run::default()]).await;
    let (_, repos) = app.get_status_json("/api/repos").await;
    assert_eq!(repos["repos"].as_array().unwrap().len(), 1);
    assert_eq!(repos["repos"][0]["id"], 300029405);
    assert_eq!(repos["repos"][0]["runs"], 1);

    // Stop monitoring: history stays, new deliveries are ignored.
    let delete = |path: &str, token: &str| app.http.delete(app.url(path)).bearer_auth(token).send();
    assert_eq!(
        delete("/api/repos/300029405", "wrong")
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        delete("/api/repos/300029405", "s3cret")
            .await
            .unwrap()
            .status(),
        204
    );
    deliver_runs(
        &app,
        &[Run {
            id: 2,
            ..Run::default()
        }],
    )
    .await;
    assert_eq!(app.count("workflowruns"), 1);
    // Jobs of the stored run (jobs point at their run without a foreign key).
    app.db()
        .execute_batch(
            "INSERT INTO workflowjobs (id, run_id, repo_id, runattempt, name, status, statusrank)
             SELECT 10 + n, r.id, r.repo_id, 1, 'build', 'completed', 3
             FROM workflowruns r, (SELECT 0 AS n UNION ALL SELECT 1);",
        )
        .unwrap();
    assert_eq!(app.count("workflowjobs"), 2);
    assert_eq!(
        delete("/api/repos/300029405?purge=true", "s3cret")
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        app.count("workflowruns")
            + app.count("workflowjobs")
            + app.count("repos")
            + app.count("commits"),
        0
    );
    assert_eq!(
        delete("/api/repos/300029405", "s3cret")
            .await
            .unwrap()
            .status(),
        404
    );
    app.stop().await;
}

#[tokio::test]
async fn a_client_over_its_budget_gets_429_with_retry_after_and_webhooks_have_their_own_budget() {
    let app = spawn_app_with(|config| {
        config.rate_limit = 1;
        config.rate_limit_burst = 3;
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let response = app.get("/api/repos").await;
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            let retry: u64 = response.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=2).contains(&retry));
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "rate_limited");
        }
    }
    assert_eq!(&statuses[..3], &[200, 200, 200]);
    assert_eq!(statuses[4], 429);
    // The webhook budget is separate: deliveries still go through.
    deliver_runs(&app, &[Run::default()]).await;
    app.stop().await;
}

#[tokio::test]
async fn runs_created_in_the_same_second_are_paged_by_id_without_repeats() {
    // Equal creation times: the id breaks ties, so pages are still disjoint.
    let app = spawn_app().await;
    let runs: Vec<Run> = (1..=7)
        .map(|i| Run {
            id: i,
            ..Run::default()
        })
        .collect();
    deliver_runs(&app, &runs).await;
    let mut seen = HashSet::new();
    let mut url = app.url("/api/builds?per_page=3");
    loop {
        let response = app.http.get(&url).send().await.unwrap();
        let next = response
            .headers()
            .get("link")
            .map(|v| v.to_str().unwrap().to_owned());
        let body: Value = response.json().await.unwrap();
        for id in ids(&body) {
            assert!(seen.insert(id), "{id} repeated");
        }
        match next {
            Some(link) => {
                url = link
                    .trim_start_matches('<')
                    .split('>')
                    .next()
                    .unwrap()
                    .to_owned()
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
    app.stop().await;
}

#[tokio::test]
async fn with_hide_authors_the_api_shows_no_names_either() {
    let app = spawn_app_with(|config| config.hide_authors = true).await;
    deliver_runs(&app, &[Run::default()]).await;
    let (_, list) = app.get_status_json("/api/builds").await;
    assert_eq!(list["builds"][0]["author"], Value::Null);
    assert_eq!(list["builds"][0]["author_avatar"], Value::Null);
    let (_, one) = app.get_status_json("/api/builds/1").await;
    assert_eq!(one["author"], Value::Null);
    let (_, workflows) = app.get_status_json("/api/workflows?window=30d").await;
    assert_eq!(
        workflows["workflows"][0]["latest_build"]["author"],
        Value::Null
    );
    let (status, _) = app.get_status_json("/api/metrics?group_by=author").await;
    assert_eq!(status, 400);
    app.stop().await;
}

#[tokio::test]
async fn list_filters_take_several_values_and_an_unknown_name_comes_back_as_a_warning() {
    // Arrange: four repositories, three commits each.
    let app = spawn_app().await;
    crate::seed::organisation(&app.db(), &crate::seed::Org::northwind(4, 3));
    let repos_of = |body: &Value| -> HashSet<String> {
        body["builds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["repo"].as_str().unwrap().to_owned())
            .collect()
    };
    let two: HashSet<String> = ["northwind-labs/web", "northwind-labs/billing-api"]
        .map(String::from)
        .into();

    // Act + Assert: repeated and comma-separated values select either.
    for query in [
        "repo=northwind-labs/web&repo=northwind-labs/billing-api",
        "repo=northwind-labs/web,northwind-labs/billing-api",
    ] {
        let (status, body) = app
            .get_status_json(&format!("/api/builds?per_page=100&{query}"))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(repos_of(&body), two, "{query}");
        assert_eq!(ids(&body).len(), (2 + 3) * 3, "{query}");
        assert_eq!(body["warnings"], json!([]));
    }
    let (_, globbed) = app
        .get_status_json("/api/builds?per_page=100&branch=feature/*")
        .await;
    assert_eq!(
        ids(&globbed).len(),
        1 + 2 + 3 + 4,
        "commit 2 of each, every workflow"
    );
    assert!(globbed["builds"]
        .as_array()
        .unwrap()
        .iter()
        .all(|b| b["branch"].as_str().unwrap().starts_with("feature/")));
    let (_, lint) = app
        .get_status_json("/api/builds?per_page=100&workflow=lint&author=dev3,dev4")
        .await;
    assert!(!ids(&lint).is_empty());
    assert!(lint["builds"]
        .as_array()
        .unwrap()
        .iter()
        .all(|b| b["workflow"] == "Lint"
            && ["dev3", "dev4"].contains(&b["author"].as_str().unwrap())));

    // An unknown name: still a 200 with nothing, and a warning that says why.
    let (status, body) = app
        .get_status_json("/api/builds?repo=northwind-labs/paymnts")
        .await;
    assert_eq!(status, 200);
    assert_eq!(ids(&body), Vec::<i64>::new());
    assert_eq!(
        body["warnings"],
        json!([{
            "code": "unknown_name",
            "parameter": "repo",
            "value": "northwind-labs/paymnts",
            "message": "No repository named northwind-labs/paymnts — did you mean northwind-labs/payments-service?",
            "did_you_mean": "northwind-labs/payments-service",
        }])
    );
    let (_, triage) = app.get_status_json("/api/triage?branch=master").await;
    assert_eq!(triage["warnings"][0]["did_you_mean"], "main");
    let (_, metrics) = app.get_status_json("/api/metrics?workflow=Lnit").await;
    assert_eq!(metrics["warnings"][0]["did_you_mean"], "Lint");

    // Only the name filters take several values.
    for bad in [
        "/api/builds?status=completed&status=queued",
        "/api/workflows?repo=northwind-labs/web&repo=northwind-labs/billing-api",
        "/api/builds?branch=release/[",
    ] {
        let (status, body) = app.get_status_json(bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    app.stop().await;
}
