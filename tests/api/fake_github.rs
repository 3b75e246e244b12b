//! A fake GitHub REST API on 127.0.0.1:0: the repository, workflows, branches, runs and jobs of
//! `octo-org/octo-repo`, built from the REST examples in `tests/fixtures/github/rest/` and from
//! generated runs. It paginates with `Link` headers, filters runs on `created` with GitHub's
//! 1,000-result cap, answers `If-None-Match` with `304`, sends rate-limit headers, logs every
//! request, and injects faults by request number.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use buildboard::config::Secret;
use buildboard::github::client::{Client, ClientConfig};
use serde_json::{json, Value};
use tokio::task::JoinHandle;
use warp::http::{HeaderMap, Response};
use warp::Filter;

use crate::helpers::fixtures;

/// The token the fake accepts.
pub const TOKEN: &str = "test-token";
/// The repository the fake serves (the one in the webhook fixtures, so rows coincide).
pub const REPO: &str = "octo-org/octo-repo";
pub const REPO_ID: i64 = 300029405;
/// Its creation, 2020-01-01T00:00:00Z: where a backfill without `--since` starts.
pub const REPO_CREATED: i64 = 1_577_836_800;
/// GitHub's cap on results of a filtered run listing.
pub const CAP: usize = 1000;

/// A fault injected into one answer.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// `500 Internal Server Error`.
    ServerError,
    /// `403` with `retry-after: secs`: a secondary rate limit.
    SecondaryLimit { retry_after: u64 },
    /// `403` with `x-ratelimit-remaining: 0` and a reset an hour away: the primary limit was hit.
    PrimaryLimitHit,
    /// A normal answer that says `x-ratelimit-remaining: 0`, reset an hour away.
    RunDry,
}

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Logged {
    /// 1-based request number.
    pub number: usize,
    /// Path and query, decoded.
    pub target: String,
    pub status: u16,
    pub conditional: bool,
}

impl Logged {
    /// A run listing (`/actions/runs?...`), not a run's jobs.
    pub fn is_run_list(&self) -> bool {
        self.target.contains("/actions/runs?")
    }

    /// The `page` query parameter (1 when absent).
    pub fn page(&self) -> usize {
        query_param(&self.target, "page").map_or(1, |p| p.parse().unwrap())
    }
}

#[derive(Default)]
pub struct State {
    /// Runs, each with its `created_at` in epoch seconds.
    pub runs: Vec<(i64, Value)>,
    pub log: Vec<Logged>,
    /// Faults by request number.
    pub faults: HashMap<usize, Fault>,
    /// From this request number on, every answer is a 500 (the network is "down").
    pub fail_from: Option<usize>,
    /// Check runs of every branch's head commit (`GET .../commits/{ref}/check-runs`).
    pub check_runs: Vec<Value>,
    /// Commit statuses of every branch's head commit (`GET .../commits/{ref}/status`).
    pub statuses: Vec<Value>,
}

/// The head commit the fake's check runs and statuses are about.
pub const HEAD_SHA: &str = "d6fde92930d4715a2b49857d24b940956b26d2d3";

pub struct FakeGitHub {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<State>>,
    handle: JoinHandle<()>,
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

impl FakeGitHub {
    /// Starts the fake with `runs` runs.
    pub async fn start(runs: Vec<(i64, Value)>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            runs,
            ..State::default()
        }));
        let shared = state.clone();
        let routes = warp::any()
            .and(warp::path::full())
            .and(warp::query::raw().or(warp::any().map(String::new)).unify())
            .and(warp::header::headers_cloned())
            .map(move |path: warp::path::FullPath, query: String, headers| {
                answer(&shared, addr, path.as_str(), &query, &headers)
            });
        let handle = tokio::spawn(warp::serve(routes).incoming(listener).run());
        Self {
            addr,
            state,
            handle,
        }
    }

    /// The API base URL, for `--api-url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A client for this fake with the test token and waits cut to milliseconds.
    pub fn client(&self) -> Client {
        Client::new(self.client_config()).unwrap()
    }

    pub fn client_config(&self) -> ClientConfig {
        quick_client_config(self.url(), TOKEN, 3)
    }

    pub fn inject(&self, number: usize, fault: Fault) {
        self.state.lock().unwrap().faults.insert(number, fault);
    }

    pub fn log(&self) -> Vec<Logged> {
        self.state.lock().unwrap().log.clone()
    }

    /// Requests so far.
    pub fn requests(&self) -> usize {
        self.state.lock().unwrap().log.len()
    }
}

fn iso(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn rest_fixture(name: &str) -> Value {
    let path = fixtures().join("rest").join(name);
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

/// The repository as `GET /repos/{owner}/{repo}` returns it.
pub fn repository() -> Value {
    json!({
        "id": REPO_ID,
        "name": "octo-repo",
        "full_name": REPO,
        "html_url": "https://github.com/octo-org/octo-repo",
        "default_branch": "master",
        "created_at": iso(REPO_CREATED),
    })
}

/// A run from the REST list-runs example with its id, times and status replaced. The bulky
/// `head_repository` is dropped and `repository` cut to what a run needs, to keep pages small.
pub fn run(id: i64, created: i64, status: &str, updated: i64) -> (i64, Value) {
    let mut run =
        rest_fixture("list-workflow-runs-for-repo.GET_repos_owner_repo_actions_runs.200.json")
            ["workflow_runs"][0]
            .clone();
    let sha = format!("{id:040x}");
    let object = run.as_object_mut().unwrap();
    object.remove("head_repository");
    object.remove("triggering_actor");
    object.insert("id".into(), json!(id));
    object.insert("run_number".into(), json!(id % 100_000));
    object.insert("name".into(), json!("CI"));
    object.insert("workflow_id".into(), json!(161335));
    object.insert("path".into(), json!(".github/workflows/blank.yaml@master"));
    object.insert("head_sha".into(), json!(sha));
    object.insert("status".into(), json!(status));
    let conclusion = if status == "completed" {
        json!("success")
    } else {
        Value::Null
    };
    object.insert("conclusion".into(), conclusion);
    object.insert("created_at".into(), json!(iso(created)));
    object.insert("run_started_at".into(), json!(iso(created)));
    object.insert("updated_at".into(), json!(iso(updated)));
    object.insert(
        "html_url".into(),
        json!(format!("https://github.com/{REPO}/actions/runs/{id}")),
    );
    object["head_commit"]["id"] = json!(sha);
    object["head_commit"]["message"] = json!(format!("Commit for run {id}"));
    object.insert(
        "repository".into(),
        json!({"id": REPO_ID, "full_name": REPO, "html_url": "https://github.com/octo-org/octo-repo"}),
    );
    (created, run)
}

/// `count` completed runs, ids from 1,000,001, spread evenly from the repository's creation until
/// a day ago (so a window split at "now"'s midpoint divides them evenly).
pub fn history(count: usize) -> Vec<(i64, Value)> {
    let end = chrono::Utc::now().timestamp() - 86_400;
    let step = (end - REPO_CREATED) / count as i64;
    (0..count)
        .map(|i| {
            let created = REPO_CREATED + 60 + i as i64 * step;
            run(1_000_001 + i as i64, created, "completed", created + 120)
        })
        .collect()
}

fn query_param(target: &str, key: &str) -> Option<String> {
    let query = target.split_once('?')?.1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// `created` in GitHub's search syntax: `>=T` or `A..B`.
fn created_range(value: &str) -> (i64, i64) {
    let parse = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .unwrap_or_else(|e| panic!("bad created bound {t:?}: {e}"))
            .timestamp()
    };
    if let Some(start) = value.strip_prefix(">=") {
        return (parse(start), i64::MAX);
    }
    let (start, end) = value.split_once("..").expect("created is >=T or A..B");
    (parse(start), parse(end))
}

fn etag_of(body: &str) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut hasher);
    format!("W/\"{:016x}\"", hasher.finish())
}

fn answer(
    state: &Mutex<State>,
    addr: SocketAddr,
    path: &str,
    query: &str,
    headers: &HeaderMap,
) -> Response<String> {
    let mut state = state.lock().unwrap();
    let number = state.log.len() + 1;
    let target = if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    };
    let if_none_match = headers
        .get("if-none-match")
        .map(|v| v.to_str().unwrap().to_owned());
    let now = chrono::Utc::now().timestamp();
    let fault = state.faults.get(&number).copied().or_else(|| {
        state
            .fail_from
            .filter(|from| number >= *from)
            .map(|_| Fault::ServerError)
    });
    let (status, body, link, remaining) = match fault {
        Some(Fault::ServerError) => (500, json!({"message": "Server Error"}), None, 4000),
        Some(Fault::SecondaryLimit { .. }) => (
            403,
            json!({"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}),
            None,
            4000,
        ),
        Some(Fault::PrimaryLimitHit) => (
            403,
            json!({"message": "API rate limit exceeded for user ID 1."}),
            None,
            0,
        ),
        Some(Fault::RunDry) | None => {
            let remaining = if matches!(fault, Some(Fault::RunDry)) {
                0
            } else {
                4000
            };
            let authorized = headers
                .get("authorization")
                .is_some_and(|v| v.to_str().unwrap() == format!("Bearer {TOKEN}"));
            if !authorized {
                (401, json!({"message": "Bad credentials"}), None, remaining)
            } else {
                let (status, body, link) = route(&state, addr, path, &target);
                (status, body, link, remaining)
            }
        }
    };
    let text = body.to_string();
    let etag = etag_of(&text);
    let not_modified = status == 200 && if_none_match.as_deref() == Some(etag.as_str());
    let status = if not_modified { 304 } else { status };
    state.log.push(Logged {
        number,
        target: form_urlencoded::parse(target.as_bytes())
            .map(|(k, v)| {
                if v.is_empty() {
                    k.into_owned()
                } else {
                    format!("{k}={v}")
                }
            })
            .collect::<Vec<_>>()
            .join("&"),
        status,
        conditional: if_none_match.is_some(),
    });
    let mut response = Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=utf-8")
        .header("x-ratelimit-limit", "5000")
        .header("x-ratelimit-remaining", remaining.to_string())
        .header("x-ratelimit-reset", (now + 3600).to_string())
        .header("etag", &etag);
    if let Some(Fault::SecondaryLimit { retry_after }) = fault {
        response = response.header("retry-after", retry_after.to_string());
    }
    if let Some(link) = link {
        response = response.header("link", link);
    }
    response
        .body(if not_modified { String::new() } else { text })
        .unwrap()
}

/// The answer to an authorised, fault-free request: status, body, `Link`.
fn route(
    state: &State,
    addr: SocketAddr,
    path: &str,
    target: &str,
) -> (u16, Value, Option<String>) {
    let not_found = (404, json!({"message": "Not Found"}), None);
    let Some(rest) = path.strip_prefix(&format!("/repos/{REPO}")) else {
        return not_found;
    };
    let per_page: usize = query_param(target, "per_page").map_or(30, |p| p.parse().unwrap());
    let page: usize = query_param(target, "page").map_or(1, |p| p.parse().unwrap());
    let link = |has_next: bool| {
        has_next.then(|| {
            let query = target.split_once('?').map_or("", |(_, q)| q);
            let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .filter(|(k, _)| k != "page")
                .collect();
            pairs.push(("page".into(), (page + 1).to_string()));
            let query = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish();
            format!("<http://{addr}{path}?{query}>; rel=\"next\", <http://{addr}{path}?page=999>; rel=\"last\"")
        })
    };
    match rest {
        "" => (200, repository(), None),
        "/actions/workflows" => (
            200,
            rest_fixture("list-repo-workflows.GET_repos_owner_repo_actions_workflows.200.json"),
            None,
        ),
        "/branches" => (
            200,
            rest_fixture("list-branches.GET_repos_owner_repo_branches.200.json"),
            None,
        ),
        "/actions/runs" => {
            let created = query_param(target, "created");
            let (start, end) = created
                .as_deref()
                .map_or((i64::MIN, i64::MAX), created_range);
            let mut runs: Vec<&(i64, Value)> = state
                .runs
                .iter()
                .filter(|(t, _)| (start..=end).contains(t))
                .collect();
            runs.sort_by_key(|(t, run)| std::cmp::Reverse((*t, run["id"].as_i64())));
            let total = runs.len();
            // GitHub lists at most 1,000 results of a filtered query.
            let visible = if created.is_some() {
                total.min(CAP)
            } else {
                total
            };
            let from = ((page - 1) * per_page).min(visible);
            let to = (page * per_page).min(visible);
            let items: Vec<Value> = runs[from..to].iter().map(|(_, run)| run.clone()).collect();
            let body = json!({"total_count": total, "workflow_runs": items});
            (200, body, link(to < visible))
        }
        jobs if jobs.starts_with("/actions/runs/") && jobs.ends_with("/jobs") => {
            let run_id: i64 = jobs
                .trim_start_matches("/actions/runs/")
                .trim_end_matches("/jobs")
                .parse()
                .unwrap();
            let mut body = rest_fixture(
                "list-jobs-for-workflow-run.GET_repos_owner_repo_actions_runs_run_id_jobs.200.json",
            );
            let job = &mut body["jobs"][0];
            job["id"] = json!(run_id * 10);
            job["run_id"] = json!(run_id);
            (200, body, None)
        }
        checks if checks.starts_with("/commits/") && checks.ends_with("/check-runs") => (
            200,
            json!({"total_count": state.check_runs.len(), "check_runs": state.check_runs}),
            None,
        ),
        status if status.starts_with("/commits/") && status.ends_with("/status") => (
            200,
            json!({
                "state": "pending", "sha": HEAD_SHA, "total_count": state.statuses.len(),
                "statuses": state.statuses, "repository": repository(),
            }),
            None,
        ),
        _ => not_found,
    }
}

/// A client config for a fake GitHub at `url` with `token`, `max_retries` retries and every wait
/// cut to milliseconds.
pub fn quick_client_config(url: String, token: &str, max_retries: u32) -> ClientConfig {
    let mut config = ClientConfig::new(url, Some(Secret::new(token)));
    config.max_retries = max_retries;
    config.backoff = Duration::from_millis(5);
    config.secondary_wait = Duration::from_millis(5);
    config.max_wait = Duration::from_millis(50);
    config.reset_margin = Duration::ZERO;
    config.reserve = 0;
    config
}
