//! Known rows for the board's tests, written straight into the test database, and webhook
//! payloads for runs that arrive while a page is open.

use rusqlite::{params, Connection};
use serde_json::{json, Value};

use crate::helpers::{webhook_json, TestApp};

/// The repository seeded runs belong to.
pub const REPO: &str = "acme/widgets";

/// One run to write. Build it with [`run`] and adjust the fields.
#[derive(Debug, Clone)]
pub struct Run {
    pub id: i64,
    pub workflow_id: i64,
    pub workflow: &'static str,
    pub branch: &'static str,
    pub sha: String,
    pub message: String,
    pub author: String,
    /// `completed`, `in_progress`, `queued`.
    pub status: &'static str,
    pub conclusion: Option<&'static str>,
    pub created: i64,
    pub runtime: Option<i64>,
    pub queue: Option<i64>,
    /// Conclusions of earlier attempts (a re-run); the run's own conclusion is the last attempt.
    pub earlier_attempts: Vec<&'static str>,
}

/// A completed, successful run of workflow `CI` (id 10) on `main`, created at `created`.
pub fn run(id: i64, created: i64) -> Run {
    Run {
        id,
        workflow_id: 10,
        workflow: "CI",
        branch: "main",
        sha: format!("{id:040x}"),
        message: format!("Change number {id}"),
        author: "alice".into(),
        status: "completed",
        conclusion: Some("success"),
        created,
        runtime: Some(60),
        queue: Some(5),
        earlier_attempts: Vec::new(),
    }
}

/// Writes `runs` (and their repository, workflows, branches and commits) into `conn`.
pub fn insert(conn: &Connection, runs: &[Run]) {
    conn.execute(
        "INSERT OR IGNORE INTO repos (id, fullname, url, defaultbranch, createtime)
         VALUES (1, ?1, 'https://github.com/acme/widgets', 'main', 0)",
        [REPO],
    )
    .unwrap();
    for run in runs {
        conn.execute(
            "INSERT OR IGNORE INTO workflows (id, repo_id, name, path) VALUES (?1, 1, ?2, ?3)",
            params![
                run.workflow_id,
                run.workflow,
                format!(".github/workflows/{}.yml", run.workflow.to_lowercase())
            ],
        )
        .unwrap();
        conn.execute(
            "INSERT OR IGNORE INTO branches (repo_id, name, createtime) VALUES (1, ?1, 0)",
            [run.branch],
        )
        .unwrap();
        let branch_id: i64 = conn
            .query_row(
                "SELECT id FROM branches WHERE repo_id = 1 AND name = ?1",
                [run.branch],
                |r| r.get(0),
            )
            .unwrap();
        conn.execute(
            "INSERT OR IGNORE INTO commits (repo_id, gitid, message, authorname, authorlogin, committime, url)
             VALUES (1, ?1, ?2, ?3, ?3, ?4, NULL)",
            params![run.sha, run.message, run.author, run.created - 30],
        )
        .unwrap();
        let commit_id: i64 = conn
            .query_row(
                "SELECT id FROM commits WHERE repo_id = 1 AND gitid = ?1",
                [&run.sha],
                |r| r.get(0),
            )
            .unwrap();
        let rank = match run.status {
            "completed" => 3,
            "in_progress" => 2,
            _ => 1,
        };
        let started = run.queue.map(|q| run.created + q);
        let ended = run.runtime.and_then(|rt| started.map(|s| s + rt));
        let attempt = run.earlier_attempts.len() as i64 + 1;
        conn.execute(
            "INSERT INTO workflowruns (id, repo_id, workflow_id, commit_id, branch_id, runnumber,
                 runattempt, event, headsha, title, status, statusrank, conclusion, actor, url,
                 createtime, starttime, updatetime, endtime, runtime, queuetime)
             VALUES (?1, 1, ?2, ?3, ?4, ?5, ?6, 'push', ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
                 ?16, ?17, ?18, ?19)",
            params![
                run.id,
                run.workflow_id,
                commit_id,
                branch_id,
                run.id % 1000,
                attempt,
                run.sha,
                run.message,
                run.status,
                rank,
                run.conclusion,
                run.author,
                format!("https://github.com/{REPO}/actions/runs/{}", run.id),
                run.created,
                started,
                ended.or(started),
                ended,
                run.runtime,
                run.queue,
            ],
        )
        .unwrap();
        let mut attempts: Vec<Option<&str>> =
            run.earlier_attempts.iter().map(|c| Some(*c)).collect();
        attempts.push(run.conclusion);
        for (i, conclusion) in attempts.iter().enumerate() {
            conn.execute(
                "INSERT INTO workflowrunattempts (run_id, runattempt, status, statusrank, conclusion)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    run.id,
                    i as i64 + 1,
                    if conclusion.is_some() { "completed" } else { run.status },
                    if conclusion.is_some() { 3 } else { rank },
                    conclusion
                ],
            )
            .unwrap();
        }
    }
}

/// Now, in epoch seconds.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A `workflow_run` delivery (from GitHub's fixture) for run `id` of commit `sha`, created now.
pub fn run_delivery(id: i64, sha: &str, message: &str, conclusion: Option<&str>) -> Vec<u8> {
    let mut payload: Value = webhook_json("workflow_run/completed.payload.json");
    let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let run = &mut payload["workflow_run"];
    run["id"] = json!(id);
    run["run_number"] = json!(id % 1000);
    run["head_sha"] = json!(sha);
    run["head_commit"]["id"] = json!(sha);
    run["head_commit"]["message"] = json!(message);
    run["display_title"] = json!(message);
    run["created_at"] = json!(time);
    run["run_started_at"] = json!(time);
    run["updated_at"] = json!(time);
    run["html_url"] = json!(format!(
        "https://github.com/octo-org/octo-repo/actions/runs/{id}"
    ));
    match conclusion {
        Some(conclusion) => {
            run["status"] = json!("completed");
            run["conclusion"] = json!(conclusion);
        }
        None => {
            run["status"] = json!("in_progress");
            run["conclusion"] = Value::Null;
        }
    }
    payload["action"] = json!(if conclusion.is_some() {
        "completed"
    } else {
        "in_progress"
    });
    serde_json::to_vec(&payload).unwrap()
}

/// GitHub's documented failed job (`linters`, failing at `Run yarn run format-check`) as a
/// `workflow_job` delivery for run `run_id` of the repository [`run_delivery`]'s runs are in.
pub fn failed_job_delivery(run_id: i64) -> Vec<u8> {
    let mut job = webhook_json("workflow_job/completed.failure.with-organization.payload.json");
    job["workflow_job"]["run_id"] = json!(run_id);
    job["repository"] = webhook_json("workflow_run/completed.payload.json")["repository"].clone();
    serde_json::to_vec(&job).unwrap()
}

/// The `workflow_job` fixture `fixture` as job `job_id` of run `run_id`, in the repository of
/// [`run_delivery`]'s runs (octo-org/octo-repo).
pub fn job_payload(fixture: &str, run_id: i64, job_id: i64) -> Value {
    let mut job = webhook_json(&format!("workflow_job/{fixture}"));
    job["workflow_job"]["run_id"] = json!(run_id);
    job["workflow_job"]["id"] = json!(job_id);
    job["repository"] = webhook_json("workflow_run/completed.payload.json")["repository"].clone();
    job
}

/// Delivers job `job_id` of run `run_id` as running for two minutes (GitHub's in_progress
/// delivery, created and started then).
pub async fn deliver_running_job(app: &TestApp, run_id: i64, job_id: i64) {
    let mut job = job_payload("in_progress.payload.json", run_id, job_id);
    let created = chrono::DateTime::from_timestamp(now() - 120, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    job["workflow_job"]["created_at"] = json!(created);
    job["workflow_job"]["started_at"] = json!(created);
    app.deliver_json("workflow_job", "job-running", &job).await;
}

/// Delivers run `run_id` of commit `sha` as failed, then its failed job ([`failed_job_delivery`]):
/// a red whose log the server goes to fetch.
pub async fn deliver_failed_run(app: &TestApp, run_id: i64, sha: &str, message: &str) {
    let run = run_delivery(run_id, sha, message, Some("failure"));
    app.deliver("workflow_run", "run-1", &run).await;
    app.deliver("workflow_job", "job-1", &failed_job_delivery(run_id))
        .await;
}

/// A realistic few hours of a team's builds: three workflows, a broken and a flaky one, people,
/// runs in flight. For the screenshots and the browser tests.
pub fn realistic(conn: &Connection) {
    let now = now();
    let people = ["alice", "bob", "carol", "dmitri", "erin"];
    let messages = [
        "Fix race in cache invalidation",
        "Bump serde from 1.0.210 to 1.0.214",
        "Add retry with backoff to the uploader",
        "Refactor config loading into one place",
        "Speed up the integration test suite",
        "Document the release process",
        "Handle empty payloads in the parser",
        "Make the scheduler respect time zones",
        "Remove the deprecated v1 endpoints",
        "Show queue time on the dashboard",
        "Guard against a missing default branch",
        "Tune the connection pool size",
        "Add metrics for webhook latency",
        "Upgrade to the 2024 edition",
    ];
    let mut runs = Vec::new();
    let mut id = 9_000_000;
    for (i, message) in messages.iter().enumerate() {
        let created = now - (messages.len() - i) as i64 * 1500;
        let author = people[i % people.len()];
        let sha = format!("{:x}{:032x}", 0xabc000 + i, i * 7919);
        let branch = if i % 4 == 3 {
            "feature/uploader"
        } else {
            "main"
        };
        let latest = i + 1 == messages.len();
        for (workflow_id, workflow, runtime) in
            [(10, "CI", 420), (11, "Lint", 65), (12, "Deploy", 180)]
        {
            if workflow == "Deploy" && branch != "main" {
                continue;
            }
            id += 1;
            let mut r = run(id, created + workflow_id - 10);
            r.workflow_id = workflow_id;
            r.workflow = workflow;
            r.branch = branch;
            r.sha = sha.clone();
            r.message = (*message).into();
            r.author = author.into();
            r.runtime = Some(runtime + (i as i64 * 37) % 90);
            r.queue = Some(4 + (i as i64 * 13) % 40);
            // CI on main broke three commits ago; Lint failed once and passed on a re-run.
            if workflow == "CI" && branch == "main" && i >= messages.len() - 4 {
                r.conclusion = Some("failure");
            }
            if workflow == "Lint" && i == 5 {
                r.earlier_attempts = vec!["failure"];
            }
            if workflow == "Lint" && i == messages.len() - 2 {
                r.conclusion = Some("failure");
            }
            if workflow == "Deploy" && i == 6 {
                r.conclusion = Some("cancelled");
            }
            if workflow == "Deploy" && i == 2 {
                r.conclusion = Some("skipped");
            }
            if latest {
                match workflow {
                    "CI" => {
                        r.status = "in_progress";
                        r.conclusion = None;
                        r.runtime = None;
                    }
                    _ => {
                        r.status = "queued";
                        r.conclusion = None;
                        r.runtime = None;
                        r.queue = None;
                    }
                }
            }
            runs.push(r);
        }
    }
    insert(conn, &runs);
}

/// The repositories of [`Org::northwind`], in order.
const NORTHWIND_REPOS: &[&str] = &[
    "payments-service",
    "billing-api",
    "web",
    "mobile-app",
    "auth-service",
    "search",
    "notifications",
    "data-pipeline",
    "infra",
    "docs",
    "analytics",
    "gateway",
    "inventory",
    "checkout",
    "ledger",
    "reports",
    "scheduler",
    "media",
    "admin-console",
    "sdk-js",
    "sdk-python",
    "cli",
    "design-system",
    "ml-models",
    "status-page",
];

/// Workflows of [`Org::northwind`]'s repositories. The first two share the prefix a header strips.
const NORTHWIND_WORKFLOWS: &[&str] = &[
    "Build and test / linux",
    "Build and test / macos",
    "Lint",
    "Deploy",
];

/// The repositories of [`Org::acme`], in order.
const ACME_REPOS: &[&str] = &[
    "payments-api",
    "checkout-web",
    "identity",
    "search-indexer",
    "mobile-app",
    "billing",
    "notifications",
    "data-pipeline",
    "admin-console",
    "gateway",
    "inventory",
    "recommendations",
    "analytics",
    "docs-site",
    "infra-terraform",
    "auth-proxy",
    "media-service",
    "shipping",
    "pricing-engine",
    "feature-flags",
    "chat-backend",
    "ledger",
    "reporting",
    "sdk-python",
    "sdk-js",
    "design-system",
    "ml-models",
    "webhooks",
    "scheduler",
    "email-service",
];

/// Workflows of [`Org::acme`]'s repositories, in the order each gets them.
const ACME_WORKFLOWS: &[&str] = &["CI", "Lint", "Deploy", "Security scan", "E2E", "Docs"];

/// What [`organisation`] writes. Start from [`Org::northwind`] or [`Org::acme`].
#[derive(Debug, Clone)]
pub struct Org {
    /// The owner's login.
    pub owner: &'static str,
    /// Repository names, in order; past the end they come round again, numbered (`gateway-2`).
    pub names: &'static [&'static str],
    /// The first repository's id; the others follow.
    pub first_id: i64,
    pub repos: usize,
    /// Workflow names, in the order each repository gets them (round again past the end).
    pub workflow_names: &'static [&'static str],
    /// Workflows per repository; with `fewer_workflows`, repository `r` has `1 + r % workflows`.
    pub workflows: usize,
    pub fewer_workflows: bool,
    /// The branches of repository `r`, `main` first.
    pub branches: fn(usize) -> Vec<String>,
    /// Commits of history per repository, numbered 0 (the oldest) up. Commit `n` is on branch
    /// `b` when `on(b, n, commits)`. The newest is about 3 minutes old, older ones 20 minutes
    /// apart (on branch `b`, `b` x 97 s and on repository `r`, `r` s earlier still). Every workflow
    /// ran on each, for 2 minutes, green, but for what follows.
    pub commits: usize,
    pub on: fn(usize, usize, usize) -> bool,
    /// Authors, taken in turn by commit, repository and branch.
    pub people: &'static [&'static str],
    /// Repositories whose workflow `red_workflow` failed on `main` for the newest `red_commits`
    /// commits.
    pub red: Vec<usize>,
    pub red_workflow: usize,
    pub red_commits: usize,
    /// Repositories whose second workflow is still running on `main`'s newest commit.
    pub running: Vec<usize>,
}

impl Org {
    /// `repos` repositories of `northwind-labs` (`northwind-labs/payments-service`, …; ids
    /// 101…), repository `r` with the first `1 + r % 4` of its 4 workflows, `main` and a
    /// `feature/change-<r>` branch, and `commits` commits: the newest on `main`, then every third
    /// on the feature branch (so each commit is on one branch). Authors `dev0` to `dev6`. Every
    /// fifth repository's newest Lint run failed.
    pub fn northwind(repos: usize, commits: usize) -> Self {
        Org {
            owner: "northwind-labs",
            names: NORTHWIND_REPOS,
            first_id: 101,
            repos,
            workflow_names: NORTHWIND_WORKFLOWS,
            workflows: NORTHWIND_WORKFLOWS.len(),
            fewer_workflows: true,
            branches: |r| vec!["main".into(), format!("feature/change-{r}")],
            commits,
            on: |b, n, commits| (b == 1) == ((commits - 1 - n) % 3 == 2),
            people: &["dev0", "dev1", "dev2", "dev3", "dev4", "dev5", "dev6"],
            red: (0..repos).step_by(5).collect(),
            red_workflow: 2,
            red_commits: 1,
            running: Vec::new(),
        }
    }

    /// An organisation at work: `repos` repositories of `acme` (ids 1000…), `workflows`
    /// workflows each, branches `main`, `release/1.x`, `feature/login` and `fix/flaky-test`, and
    /// `commits` commits on `main`, every third (from the oldest) also on each other branch.
    /// Repositories in `red` have their first workflow failing on `main` for the last two commits,
    /// those in `running` a run in progress there. On the feature and fix branches the newest
    /// commit has a red and a running run (not watched: they must not turn a tile red).
    pub fn acme(
        repos: usize,
        workflows: usize,
        commits: usize,
        red: &[usize],
        running: &[usize],
    ) -> Self {
        Org {
            owner: "acme",
            names: ACME_REPOS,
            first_id: 1000,
            repos,
            workflow_names: ACME_WORKFLOWS,
            workflows,
            fewer_workflows: false,
            branches: |_| {
                ["main", "release/1.x", "feature/login", "fix/flaky-test"]
                    .map(String::from)
                    .into()
            },
            commits,
            on: |b, n, _| b == 0 || n % 3 == 0,
            people: &["alice", "bob", "carol", "dmitri", "erin", "farah", "gus"],
            red: red.to_vec(),
            red_workflow: 0,
            red_commits: 2,
            running: running.to_vec(),
        }
    }
}

/// A repository [`organisation`] wrote.
#[derive(Debug, Clone)]
pub struct OrgRepo {
    pub id: i64,
    /// "<owner>/<name>".
    pub name: String,
    /// Workflow ids (`id * 100 + k` for the `k`th) and names.
    pub workflows: Vec<(i64, String)>,
}

/// Writes `org` straight into `conn` and returns its repositories. Run ids are
/// `1_000_000 + repo_id * 10_000 + b * 1000 + age * 10 + k` for workflow `k` on commit `age` (0
/// the newest) of branch `b`.
pub fn organisation(conn: &Connection, org: &Org) -> Vec<OrgRepo> {
    let now = now();
    let mut out = Vec::new();
    let tx = conn.unchecked_transaction().unwrap();
    for r in 0..org.repos {
        let repo_id = org.first_id + r as i64;
        let base = org.names[r % org.names.len()];
        let name = match r / org.names.len() {
            0 => format!("{}/{base}", org.owner),
            round => format!("{}/{base}-{}", org.owner, round + 1),
        };
        tx.execute(
            "INSERT INTO repos (id, fullname, url, defaultbranch, createtime)
             VALUES (?1, ?2, ?3, 'main', 0)",
            params![repo_id, name, format!("https://github.com/{name}")],
        )
        .unwrap();
        let count = if org.fewer_workflows {
            1 + r % org.workflows
        } else {
            org.workflows
        };
        let mut flows = Vec::new();
        for w in 0..count {
            let id = repo_id * 100 + w as i64;
            let wname = org.workflow_names[w % org.workflow_names.len()].to_owned();
            tx.execute(
                "INSERT INTO workflows (id, repo_id, name, path) VALUES (?1, ?2, ?3, ?4)",
                params![id, repo_id, wname, format!(".github/workflows/w{w}.yml")],
            )
            .unwrap();
            flows.push((id, wname));
        }
        let mut branch_ids = Vec::new();
        for branch in (org.branches)(r) {
            tx.execute(
                "INSERT INTO branches (repo_id, name, createtime) VALUES (?1, ?2, 0)",
                params![repo_id, branch],
            )
            .unwrap();
            branch_ids.push((branch, tx.last_insert_rowid()));
        }
        for n in 0..org.commits {
            let age = org.commits - 1 - n;
            for (b, (branch, branch_id)) in branch_ids.iter().enumerate() {
                if !(org.on)(b, n, org.commits) {
                    continue;
                }
                let created = now - 180 - age as i64 * 1200 - b as i64 * 97 - r as i64;
                let sha = format!("{:08x}{:08x}{:024x}", repo_id, b, n);
                let author = org.people[(n + r + b) % org.people.len()];
                tx.execute(
                    "INSERT INTO commits (repo_id, gitid, message, authorname, authorlogin, committime)
                     VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
                    params![repo_id, sha, format!("Change {n} on {branch}"), author, created - 30],
                )
                .unwrap();
                let commit_id = tx.last_insert_rowid();
                for (w, (workflow_id, _)) in flows.iter().enumerate() {
                    let run_id =
                        1_000_000 + repo_id * 10_000 + b as i64 * 1000 + age as i64 * 10 + w as i64;
                    let mut status = "completed";
                    let mut conclusion = Some("success");
                    let main = b == 0;
                    if main
                        && w == org.red_workflow
                        && org.red.contains(&r)
                        && age < org.red_commits
                    {
                        conclusion = Some("failure");
                    }
                    if main && w == 1 && age == 0 && org.running.contains(&r) {
                        status = "in_progress";
                        conclusion = None;
                    }
                    if branch.starts_with("feature") && age == 0 && w == 0 {
                        conclusion = Some("failure");
                    }
                    if branch.starts_with("fix") && age == 0 && w == 1 {
                        status = "in_progress";
                        conclusion = None;
                    }
                    let rank = if status == "completed" { 3 } else { 2 };
                    let (started, ended) = (
                        created + 10,
                        (status == "completed").then_some(created + 130),
                    );
                    tx.execute(
                        "INSERT INTO workflowruns (id, repo_id, workflow_id, commit_id, branch_id,
                             runnumber, runattempt, event, headsha, title, status, statusrank,
                             conclusion, actor, url, createtime, starttime, updatetime, endtime,
                             runtime, queuetime)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, 'push', ?7, ?8, ?9, ?10, ?11, ?12, ?13,
                             ?14, ?15, ?16, ?17, ?18, 10)",
                        params![
                            run_id,
                            repo_id,
                            workflow_id,
                            commit_id,
                            branch_id,
                            n as i64 + 1,
                            sha,
                            format!("Change {n} on {branch}"),
                            status,
                            rank,
                            conclusion,
                            author,
                            format!("https://github.com/{name}/actions/runs/{run_id}"),
                            created,
                            started,
                            ended.unwrap_or(started),
                            ended,
                            ended.map(|e| e - started),
                        ],
                    )
                    .unwrap();
                    tx.execute(
                        "INSERT INTO workflowrunattempts (run_id, runattempt, status, statusrank, conclusion)
                         VALUES (?1, 1, ?2, ?3, ?4)",
                        params![run_id, status, rank, conclusion],
                    )
                    .unwrap();
                }
            }
        }
        out.push(OrgRepo {
            id: repo_id,
            name,
            workflows: flows,
        });
    }
    tx.commit().unwrap();
    out
}

/// A `workflow_run` delivery for a run of `repo`'s workflow `workflow` (an index into its
/// workflows) on `branch`, created now: `conclusion` `None` for one in progress.
pub fn org_run_delivery(
    repo: &OrgRepo,
    workflow: usize,
    branch: &str,
    run_id: i64,
    sha: &str,
    conclusion: Option<&str>,
) -> Vec<u8> {
    let mut payload: Value =
        serde_json::from_slice(&run_delivery(run_id, sha, "Live change", conclusion)).unwrap();
    let (workflow_id, workflow_name) = &repo.workflows[workflow];
    let short = repo
        .name
        .split_once('/')
        .map_or(repo.name.as_str(), |(_, n)| n);
    let repository = &mut payload["repository"];
    repository["id"] = json!(repo.id);
    repository["full_name"] = json!(repo.name);
    repository["name"] = json!(short);
    repository["default_branch"] = json!("main");
    repository["html_url"] = json!(format!("https://github.com/{}", repo.name));
    payload["workflow"]["id"] = json!(workflow_id);
    payload["workflow"]["name"] = json!(workflow_name);
    let run = &mut payload["workflow_run"];
    run["workflow_id"] = json!(workflow_id);
    run["name"] = json!(workflow_name);
    run["head_branch"] = json!(branch);
    run["repository"]["id"] = json!(repo.id);
    run["repository"]["full_name"] = json!(repo.name);
    run["head_repository"]["id"] = json!(repo.id);
    run["head_repository"]["full_name"] = json!(repo.name);
    run["html_url"] = json!(format!(
        "https://github.com/{}/actions/runs/{run_id}",
        repo.name
    ));
    serde_json::to_vec(&payload).unwrap()
}

/// The repositories [`organisation`] wrote into `conn` earlier for an [`Org::acme`].
pub fn organisation_repos(conn: &Connection) -> Vec<OrgRepo> {
    let mut repos: Vec<OrgRepo> = conn
        .prepare("SELECT id, fullname FROM repos WHERE id >= 1000 ORDER BY id")
        .unwrap()
        .query_map([], |row| {
            Ok(OrgRepo {
                id: row.get(0)?,
                name: row.get(1)?,
                workflows: Vec::new(),
            })
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for repo in &mut repos {
        repo.workflows = conn
            .prepare("SELECT id, name FROM workflows WHERE repo_id = ?1 ORDER BY id")
            .unwrap()
            .query_map([repo.id], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
    }
    repos
}
