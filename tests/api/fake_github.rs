//! A fake GitHub REST API on 127.0.0.1:0: the repository, workflows, branches, runs and jobs of
//! `octo-org/octo-repo`, built from the REST examples in `tests/fixtures/github/rest/` and from
//! generated runs. It paginates with `Link` headers, filters runs on `created` with GitHub's
//! 1,000-result cap, answers `If-None-Match` with `304`, sends rate-limit headers, logs every
//! request, and injects faults by request number.
//!
//! It is also GitHub's side of a GitHub App ([`FakeApp`]): it takes a manifest form and sends the
//! browser back with a code, converts the code into an App whose private key is the test key in
//! `tests/fixtures/app-private-key.pem`, verifies the App's JWTs with the public half, issues
//! installation tokens (which the repository endpoints accept until they expire), and runs the
//! OAuth web flow: authorisation with PKCE S256, the token endpoint (code + verifier, refresh),
//! `GET /user`, the user's installations and repositories, and revocation.
//!
//! Actions (re-run, cancel, workflow dispatch) are answered and recorded in [`State::acted`] with
//! the token each carried and its body, so tests can see who GitHub would record; a user token
//! acts only where [`FakeApp::user_writes`] lets its person write. Workflow files are served from
//! [`State::workflow_files`] (`GET .../contents/{path}`).

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
    /// GitHub's side of the GitHub App.
    pub app: FakeApp,
    /// Every action request (POST under `/repos/.../actions/`), in order.
    pub acted: Vec<Acted>,
    /// Workflow files by path in the repository (`.github/workflows/x.yml`), for any repository.
    pub workflow_files: HashMap<String, String>,
    /// What a permitted workflow dispatch is answered, instead of `204`.
    pub dispatch_answer: Option<(u16, Value)>,
}

/// One action request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Acted {
    pub path: String,
    /// The bearer token it carried.
    pub token: Option<String>,
    /// Who that token belongs to (a user's login, or "server" for [`TOKEN`]).
    pub by: Option<String>,
    pub body: Value,
    pub status: u16,
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
        let routes = warp::method()
            .and(warp::path::full())
            .and(warp::query::raw().or(warp::any().map(String::new)).unify())
            .and(warp::header::headers_cloned())
            .and(warp::body::bytes())
            .map(
                move |method: warp::http::Method,
                      path: warp::path::FullPath,
                      query: String,
                      headers,
                      body: bytes::Bytes| {
                    if let Some(answer) =
                        acting_answer(&shared, &method, path.as_str(), &headers, &body)
                    {
                        return answer;
                    }
                    if let Some(answer) =
                        app_answer(&shared, addr, path.as_str(), &query, &headers, &body)
                    {
                        return answer;
                    }
                    answer(&shared, addr, path.as_str(), &query, &headers)
                },
            );
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
            let given = headers
                .get("authorization")
                .map(|v| v.to_str().unwrap().trim_start_matches("Bearer ").to_owned());
            let by_installation = given
                .as_deref()
                .is_some_and(|token| state.app.installation_token_valid(token, now));
            if by_installation {
                state.app.installation_requests += 1;
            }
            let authorized = given.as_deref() == Some(TOKEN) || by_installation;
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
    if path == "/orgs/octo-org/repos" {
        let archived = json!({"id": 1, "full_name": "octo-org/old-repo", "archived": true});
        return (200, json!([repository(), archived]), None);
    }
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

/// The test App's private key (PKCS#1, as GitHub issues them) and its public half.
pub fn app_private_key() -> String {
    std::fs::read_to_string(fixtures().join("../app-private-key.pem")).unwrap()
}

fn app_public_key() -> String {
    std::fs::read_to_string(fixtures().join("../app-public-key.pem")).unwrap()
}

/// The App the fake issued from a manifest.
#[derive(Debug, Clone)]
pub struct Issued {
    pub id: i64,
    pub slug: String,
    pub client_id: String,
    pub client_secret: String,
    pub webhook_secret: String,
    /// The manifest it was made from.
    pub manifest: Value,
}

/// An OAuth authorisation code waiting to be exchanged.
#[derive(Debug, Clone)]
struct Authorization {
    login: String,
    challenge: String,
    redirect_uri: String,
}

/// GitHub's side of the GitHub App.
#[derive(Default)]
pub struct FakeApp {
    /// Manifest codes not converted yet, with their manifests.
    pub codes: HashMap<String, Value>,
    pub issued: Option<Issued>,
    /// How long installation tokens last (seconds); 3600 unless set.
    pub token_ttl: Option<i64>,
    /// Installation tokens issued: token, installation id, expiry.
    pub installation_tokens: Vec<(String, i64, i64)>,
    /// Requests to repository endpoints authorised by an installation token.
    pub installation_requests: usize,
    /// JWTs checked, and why each refused one was refused.
    pub jwt_accepted: usize,
    pub jwt_refused: Vec<String>,
    /// Installations: id → account.
    pub installations: HashMap<i64, String>,
    /// Who approves at the authorisation page.
    pub user: Option<String>,
    /// Repositories each user reads through installation id (`(login, installation)` → names).
    pub user_repos: HashMap<String, Vec<(i64, String)>>,
    /// Repositories each user may write to (their `permissions.push`), by login.
    pub user_writes: HashMap<String, Vec<String>>,
    authorizations: HashMap<String, Authorization>,
    /// User token → (login, expiry).
    user_tokens: HashMap<String, (String, i64)>,
    /// Refresh token → login.
    refresh_tokens: HashMap<String, String>,
    /// How long user tokens last (seconds); 8 h unless set.
    pub user_ttl: Option<i64>,
    /// Users whose authorisation was revoked.
    pub revoked: std::collections::HashSet<String>,
    /// Organisation admins, `(login, org)`; any other signed-in user is a member of every org.
    pub org_admins: std::collections::HashSet<(String, String)>,
    /// Token endpoint answers: (grant, error or "ok").
    pub token_calls: Vec<(String, String)>,
    /// The next authorisation code is recorded with a wrong PKCE challenge.
    pub corrupt_next_challenge: bool,
    counter: u64,
}

impl FakeApp {
    fn next(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}{}{:08x}", self.counter, rand_u32())
    }

    fn installation_token_valid(&self, token: &str, now: i64) -> bool {
        self.installation_tokens
            .iter()
            .any(|(t, _, expires)| t == token && *expires > now)
    }

    /// Expires every installation token now (GitHub refuses them from here on).
    pub fn expire_installation_tokens(&mut self) {
        for token in &mut self.installation_tokens {
            token.2 = 0;
        }
    }

    /// Revokes `login`'s authorisation: their user and refresh tokens stop working.
    pub fn revoke(&mut self, login: &str) {
        self.revoked.insert(login.to_owned());
        self.user_tokens.retain(|_, (user, _)| user != login);
        self.refresh_tokens.retain(|_, user| user != login);
    }

    fn user_of(&self, token: &str, now: i64) -> Option<String> {
        let (login, expires) = self.user_tokens.get(token)?;
        (*expires > now && !self.revoked.contains(login)).then(|| login.clone())
    }

    /// Checks an App JWT against the public half of the issued key.
    fn check_jwt(&mut self, headers: &HeaderMap, now: i64) -> bool {
        match self.verify_jwt(headers, now) {
            Ok(()) => {
                self.jwt_accepted += 1;
                true
            }
            Err(why) => {
                self.jwt_refused.push(why);
                false
            }
        }
    }

    fn verify_jwt(&self, headers: &HeaderMap, now: i64) -> Result<(), String> {
        let issued = self.issued.as_ref().ok_or("no App issued")?;
        let jwt = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or("no bearer JWT")?;
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(app_public_key().as_bytes())
            .map_err(|e| e.to_string())?;
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_issuer(&[issued.client_id.as_str()]);
        validation.leeway = 0;
        let claims = jsonwebtoken::decode::<Value>(jwt, &key, &validation)
            .map_err(|e| e.to_string())?
            .claims;
        let (iat, exp) = (
            claims["iat"].as_i64().unwrap(),
            claims["exp"].as_i64().unwrap(),
        );
        if exp - now > 600 || iat > now - 30 || exp - iat > 660 {
            return Err(format!("bad times iat {iat} exp {exp} now {now}"));
        }
        Ok(())
    }
}

fn rand_u32() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static SEED: AtomicU32 = AtomicU32::new(0x9e37_79b9);
    let x = SEED.fetch_add(0x6d2b_79f5, Ordering::Relaxed);
    x ^ (x >> 15).wrapping_mul(0x2c1b_3c6d)
}

fn reply(status: u16, body: Value) -> Response<String> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=utf-8")
        .body(body.to_string())
        .unwrap()
}

fn redirect(location: &str) -> Response<String> {
    Response::builder()
        .status(302)
        .header("location", location)
        .body(String::new())
        .unwrap()
}

fn form(body: &[u8], query: &str) -> HashMap<String, String> {
    form_urlencoded::parse(body)
        .into_owned()
        .chain(form_urlencoded::parse(query.as_bytes()).into_owned())
        .collect()
}

/// The App's and sign-in endpoints; `None` for everything else.
fn app_answer(
    state: &Mutex<State>,
    addr: SocketAddr,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<Response<String>> {
    let mut state = state.lock().unwrap();
    let app = &mut state.app;
    let now = chrono::Utc::now().timestamp();
    let params = form(body, query);
    if path.ends_with("/settings/apps/new") {
        // The browser posts the manifest form; GitHub makes the App and sends it back.
        let manifest: Value = serde_json::from_str(params.get("manifest")?).ok()?;
        let code = app.next("manifest-code-");
        app.codes.insert(code.clone(), manifest.clone());
        let back = format!(
            "{}?code={code}&state={}",
            manifest["redirect_url"].as_str()?,
            params.get("state")?
        );
        return Some(redirect(&back));
    }
    if let Some(code) = path
        .strip_prefix("/app-manifests/")
        .and_then(|rest| rest.strip_suffix("/conversions"))
    {
        let Some(manifest) = app.codes.remove(code) else {
            return Some(reply(404, json!({"message": "Not Found"})));
        };
        let slug = manifest["name"].as_str().unwrap().to_ascii_lowercase();
        let issued = Issued {
            id: 4_100,
            slug: slug.clone(),
            client_id: "Iv1.fakeclient".into(),
            client_secret: app.next("client-secret-value-"),
            webhook_secret: app.next("webhook-secret-value-"),
            manifest,
        };
        let mut answer = rest_fixture(
            "app.integration-from-manifest.POST_app-manifests_code_conversions.201.json",
        );
        answer["id"] = json!(issued.id);
        answer["slug"] = json!(slug);
        answer["client_id"] = json!(issued.client_id);
        answer["client_secret"] = json!(issued.client_secret);
        answer["webhook_secret"] = json!(issued.webhook_secret);
        answer["pem"] = json!(app_private_key());
        answer["html_url"] = json!(format!("http://{addr}/apps/{slug}"));
        app.issued = Some(issued);
        return Some(reply(201, answer));
    }
    if let Some(rest) = path.strip_prefix("/app/installations/") {
        if !app.check_jwt(headers, now) {
            return Some(reply(
                401,
                json!({"message": "A JSON web token could not be decoded"}),
            ));
        }
        let id: i64 = rest.split('/').next()?.parse().ok()?;
        let Some(account) = app.installations.get(&id).cloned() else {
            return Some(reply(404, json!({"message": "Not Found"})));
        };
        if rest.ends_with("/access_tokens") {
            let token = app.next("ghs_fakeinstallation");
            let expires = now + app.token_ttl.unwrap_or(3600);
            app.installation_tokens.push((token.clone(), id, expires));
            return Some(reply(
                201,
                json!({"token": token, "expires_at": iso(expires)}),
            ));
        }
        return Some(reply(200, json!({"id": id, "account": {"login": account}})));
    }
    oauth_answer(app, path, &params, headers, now)
}

/// Sign-in: the authorisation page, the token endpoint, and the user's endpoints.
fn oauth_answer(
    app: &mut FakeApp,
    path: &str,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
    now: i64,
) -> Option<Response<String>> {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    match path {
        "/login/oauth/authorize" => {
            let issued = app.issued.as_ref()?;
            assert_eq!(params.get("client_id"), Some(&issued.client_id));
            assert_eq!(
                params.get("code_challenge_method").map(String::as_str),
                Some("S256")
            );
            let mut challenge = params.get("code_challenge")?.clone();
            if std::mem::take(&mut app.corrupt_next_challenge) {
                challenge = "not-the-challenge".into();
            }
            let redirect_uri = params.get("redirect_uri")?.clone();
            let code = app.next("oauth-code-");
            app.authorizations.insert(
                code.clone(),
                Authorization {
                    login: app.user.clone()?,
                    challenge,
                    redirect_uri: redirect_uri.clone(),
                },
            );
            let state = params.get("state")?;
            Some(redirect(&format!(
                "{redirect_uri}?code={code}&state={state}"
            )))
        }
        "/login/oauth/access_token" => Some(token_endpoint(app, params, now)),
        "/user" => {
            let login = app.user_of(bearer.as_deref()?, now);
            Some(match login {
                Some(login) => reply(200, json!({"login": login, "id": 1})),
                None => reply(401, json!({"message": "Bad credentials"})),
            })
        }
        user_path if user_path.starts_with("/user/memberships/orgs/") => {
            let Some(login) = app.user_of(bearer.as_deref()?, now) else {
                return Some(reply(401, json!({"message": "Bad credentials"})));
            };
            let org = user_path
                .trim_start_matches("/user/memberships/orgs/")
                .to_owned();
            let role = if app.org_admins.contains(&(login, org)) {
                "admin"
            } else {
                "member"
            };
            Some(reply(200, json!({"role": role, "state": "active"})))
        }
        user_path if user_path.starts_with("/user/installations") => {
            let Some(login) = app.user_of(bearer.as_deref()?, now) else {
                return Some(reply(401, json!({"message": "Bad credentials"})));
            };
            let repos = app.user_repos.get(&login).cloned().unwrap_or_default();
            if user_path == "/user/installations" {
                let mut ids: Vec<i64> = repos.iter().map(|(id, _)| *id).collect();
                ids.dedup();
                let list: Vec<Value> = ids.iter().map(|id| json!({"id": id})).collect();
                return Some(reply(
                    200,
                    json!({"total_count": list.len(), "installations": list}),
                ));
            }
            let id: i64 = user_path
                .trim_start_matches("/user/installations/")
                .trim_end_matches("/repositories")
                .parse()
                .ok()?;
            let writes = app.user_writes.get(&login).cloned().unwrap_or_default();
            let list: Vec<Value> = repos
                .iter()
                .filter(|(i, _)| *i == id)
                .map(|(_, name)| {
                    let push = writes.contains(name);
                    json!({"full_name": name, "permissions": {"pull": true, "push": push}})
                })
                .collect();
            Some(reply(
                200,
                json!({"total_count": list.len(), "repositories": list}),
            ))
        }
        _ => None,
    }
}

fn token_endpoint(
    app: &mut FakeApp,
    params: &HashMap<String, String>,
    now: i64,
) -> Response<String> {
    let issued = app.issued.clone().expect("an App was issued");
    let grant = params
        .get("grant_type")
        .cloned()
        .unwrap_or_else(|| "authorization_code".into());
    let client_ok = params.get("client_id") == Some(&issued.client_id)
        && params.get("client_secret") == Some(&issued.client_secret);
    let login = if !client_ok {
        Err("incorrect_client_credentials")
    } else if grant == "refresh_token" {
        params
            .get("refresh_token")
            .and_then(|rt| app.refresh_tokens.remove(rt))
            .ok_or("bad_refresh_token")
    } else {
        let code = params.get("code").cloned().unwrap_or_default();
        match app.authorizations.remove(&code) {
            None => Err("bad_verification_code"),
            Some(auth) => {
                let verifier = params.get("code_verifier").cloned().unwrap_or_default();
                let challenge = buildboard::github::oauth::challenge(&verifier);
                if challenge != auth.challenge {
                    Err("invalid_grant")
                } else if params.get("redirect_uri") != Some(&auth.redirect_uri) {
                    Err("redirect_uri_mismatch")
                } else {
                    Ok(auth.login)
                }
            }
        }
    };
    let login = match login {
        Ok(login) => login,
        Err(error) => {
            app.token_calls.push((grant, error.to_owned()));
            return reply(200, json!({"error": error}));
        }
    };
    app.token_calls.push((grant, "ok".to_owned()));
    let ttl = app.user_ttl.unwrap_or(8 * 3600);
    let token = app.next("ghu_fakeuser");
    let refresh = app.next("ghr_fakerefresh");
    app.user_tokens
        .insert(token.clone(), (login.clone(), now + ttl));
    app.refresh_tokens.insert(refresh.clone(), login);
    reply(
        200,
        json!({"access_token": token, "expires_in": ttl, "refresh_token": refresh,
               "refresh_token_expires_in": 15_897_600, "token_type": "bearer", "scope": ""}),
    )
}

/// Actions and workflow files, for the server's token and users' tokens; `None` for the rest.
fn acting_answer(
    state: &Mutex<State>,
    method: &warp::http::Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<Response<String>> {
    let rest = path.strip_prefix("/repos/")?;
    let mut parts = rest.splitn(3, '/');
    let repo = format!("{}/{}", parts.next()?, parts.next()?);
    let tail = parts.next()?;
    let acting = method == warp::http::Method::POST && tail.starts_with("actions/");
    let file = method == warp::http::Method::GET && tail.starts_with("contents/");
    if !acting && !file {
        return None;
    }
    let mut state = state.lock().unwrap();
    let now = chrono::Utc::now().timestamp();
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let by = match token.as_deref() {
        Some(TOKEN) => Some("server".to_owned()),
        Some(token) => state.app.user_of(token, now),
        None => None,
    };
    let may_write = by.as_deref().is_some_and(|login| {
        login == "server"
            || state
                .app
                .user_writes
                .get(login)
                .is_some_and(|repos| repos.contains(&repo))
    });
    if file {
        // Reading needs any valid token here.
        let name = tail.trim_start_matches("contents/");
        let found = state.workflow_files.get(name).cloned();
        return Some(match (by, found) {
            (None, _) => reply(401, json!({"message": "Bad credentials"})),
            (Some(_), None) => reply(404, json!({"message": "Not Found"})),
            (Some(_), Some(text)) => {
                use base64::Engine;
                let content = base64::engine::general_purpose::STANDARD.encode(text);
                reply(
                    200,
                    json!({"type": "file", "encoding": "base64", "content": content}),
                )
            }
        });
    }
    let (status, answer) = if by.is_none() {
        (401, json!({"message": "Bad credentials"}))
    } else if !may_write {
        (
            403,
            json!({"message": "Must have admin rights to Repository."}),
        )
    } else if tail.ends_with("/dispatches") {
        state.dispatch_answer.clone().unwrap_or((204, Value::Null))
    } else {
        (201, json!({}))
    };
    state.acted.push(Acted {
        path: path.to_owned(),
        token,
        by,
        body: serde_json::from_slice(body).unwrap_or(Value::Null),
        status,
    });
    Some(if status == 204 {
        Response::builder().status(204).body(String::new()).unwrap()
    } else {
        reply(status, answer)
    })
}
