//! The JSON API: builds, metrics, workflows, triage, repositories. See the README for every parameter
//! and field. Errors are `{"error": {"code", "message"}}` with the matching status.
//!
//! Lists that grow with the organisation are paged: builds by cursor, and the repositories, the
//! workflows and the metrics' groups by `page`/`per_page` ([`ListPage`]: 100 by default, at most
//! 500, with `total`, `next_page` and a `Link: rel="next"` header), so that no answer grows
//! without bound (see docs/hardening.md).

use serde::{Deserialize, Serialize};
use serde_json::json;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use super::params::{Params, Window, RUN_FILTERS};
use super::{now, with_state, AppState, Error};
use crate::scope::Viewer;
use crate::store::figures::{self, GroupBy, Metrics};
use crate::store::model::{Run, WorkflowInfo};
use crate::store::names::UnknownName;
use crate::store::query::{self, Cursor, RunFilter};
use crate::store::{read, triage, write};

/// Default and largest page size.
const DEFAULT_PER_PAGE: u32 = 30;
const MAX_PER_PAGE: u32 = 100;
/// Default and largest page size of the lists that grow with the organisation (repositories,
/// workflows, metrics groups): a page of them is a few hundred KB at most.
const DEFAULT_LIST_PER_PAGE: u32 = 100;
const MAX_LIST_PER_PAGE: u32 = 500;
/// The parameters of a paged list.
const LIST_PAGING: &[&str] = &["page", "per_page"];
/// Runs deleted per writer task when a repository's history is purged.
const PURGE_BATCH: usize = 500;
/// Largest JSON body a mutation accepts.
const MAX_MUTATION_BODY: u64 = 4096;

type Query = Vec<(String, String)>;

/// The API's builds, metrics, workflows, triage and repository routes, behind the read rate limit
/// (`/api/transitions` is `web::transitions`; `/api/operator` and `/api/runs/...` are `web::act`).
pub fn routes(state: AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let query = || warp::query::<Query>();
    let host = || warp::header::optional::<String>("host");
    let auth = || warp::header::optional::<String>("authorization");
    let viewer = || super::access::with_viewer(state.access.clone());
    // What most reads take after their path: a GET with the viewer, the query and the `Host`
    // (for the links an answer carries).
    let read = || {
        warp::get()
            .and(viewer())
            .and(query())
            .and(host())
            .and(with_state(state.clone()))
    };
    let builds = warp::path!("builds").and(read()).then(list_runs);
    let build = warp::path!("builds" / i64)
        .and(warp::get())
        .and(viewer())
        .and(with_state(state.clone()))
        .then(show_run);
    let metrics = warp::path!("metrics").and(read()).then(show_metrics);
    let workflows = warp::path!("workflows").and(read()).then(list_workflows);
    let workflow = warp::path!("workflows" / i64)
        .and(read())
        .then(show_workflow);
    let triage = warp::path!("triage")
        .and(warp::get())
        .and(viewer())
        .and(query())
        .and(with_state(state.clone()))
        .then(show_triage);
    let repos = warp::path!("repos").and(read()).then(list_repos);
    let add_repo = warp::path!("repos")
        .and(warp::post())
        .and(auth())
        .and(warp::body::content_length_limit(MAX_MUTATION_BODY))
        // Read by the handler once the admin token is checked, and parsed there: a bad body is
        // its 400, not a rejection that warp would rank below the other routes' 405.
        .and(warp::body::stream())
        .and(with_state(state.clone()))
        .then(add_repo);
    // Any segment, parsed by the handler: a non-numeric id is a 404, not another route's 405.
    let remove_repo = warp::path!("repos" / String)
        .and(warp::delete())
        .and(auth())
        .and(query())
        .and(with_state(state.clone()))
        .then(remove_repo);
    warp::path("api")
        .and(state.limits.reads.filter())
        .and(super::access::reader(state.access.clone()))
        .and(
            builds
                .or(build)
                .unify()
                .or(metrics)
                .unify()
                .or(triage)
                .unify()
                .or(workflows)
                .unify()
                .or(workflow)
                .unify()
                .or(repos)
                .unify()
                .or(add_repo)
                .unify()
                .or(remove_repo)
                .unify(),
        )
        // Answers change with every delivery, and on a private board (`--board-token`) a shared
        // cache in front of the server must not hand one reader's answer to another.
        .with(warp::reply::with::default_header(
            "cache-control",
            "private, no-store",
        ))
}

type Reply_ = Result<Response, Error>;

/// A page of builds plus the cursor of the next page, if there is one.
#[derive(Serialize)]
struct BuildsPage {
    builds: Vec<Run>,
    next_cursor: Option<String>,
}

/// Reads one page (asking for one more row to know whether another page follows).
async fn page(
    state: &AppState,
    viewer: &Viewer,
    filter: RunFilter,
    after: Option<Cursor>,
    per_page: u32,
) -> Result<BuildsPage, Error> {
    let mut builds = state
        .store
        .read(move |conn| query::runs(conn, &filter, after, per_page + 1))
        .await?;
    viewer.redact_runs(&mut builds);
    let next_cursor = (builds.len() > per_page as usize).then(|| {
        builds.truncate(per_page as usize);
        let last = builds.last().expect("a full page has a last build");
        Cursor {
            created: last.created_at.unwrap_or_default(),
            id: last.id,
        }
        .encode()
    });
    Ok(BuildsPage {
        builds,
        next_cursor,
    })
}

/// The page as JSON, with a GitHub-style `Link: <...>; rel="next"` header when more follow.
fn page_reply(
    page: &BuildsPage,
    path: &str,
    params: &Params,
    origin: Option<String>,
    extra: serde_json::Value,
) -> Response {
    let mut body = serde_json::to_value(page).expect("builds serialise");
    if let (Some(object), serde_json::Value::Object(extra)) = (body.as_object_mut(), extra) {
        object.extend(extra);
    }
    let reply = warp::reply::json(&body).into_response();
    match &page.next_cursor {
        Some(cursor) => {
            let next = format!("cursor={cursor}");
            with_next_link(reply, origin, path, params.without_cursor(), &next)
        }
        None => reply,
    }
}

/// `reply` with a GitHub-style `Link: <…>; rel="next"` header: `origin` (from the public URL, or
/// a `Host` that is a plain authority: never raw header text), `path`, the request's `query` less
/// its position, and `next` (`cursor=…` or `page=…`).
fn with_next_link(
    reply: Response,
    origin: Option<String>,
    path: &str,
    mut query: String,
    next: &str,
) -> Response {
    if !query.is_empty() {
        query.push('&');
    }
    let origin = origin.unwrap_or_default();
    let link = format!("<{origin}{path}?{query}{next}>; rel=\"next\"");
    warp::reply::with_header(reply, "link", link).into_response()
}

async fn list_runs(viewer: Viewer, query: Query, host: Option<String>, state: AppState) -> Reply_ {
    let params = Params::parse(query, &[RUN_FILTERS, &["per_page", "cursor"]])?;
    let filter = run_filter(&params, &viewer)?;
    let per_page = params
        .number("per_page", 1, MAX_PER_PAGE)?
        .unwrap_or(DEFAULT_PER_PAGE);
    let warnings = warnings(&state, &filter).await?;
    let page = page(&state, &viewer, filter, params.cursor()?, per_page).await?;
    Ok(page_reply(
        &page,
        "/api/builds",
        &params,
        state.hosts.origin(host.as_deref()),
        json!({ "warnings": warnings }),
    ))
}

async fn show_run(id: i64, viewer: Viewer, state: AppState) -> Reply_ {
    let found = state
        .store
        .read(move |conn| {
            let Some(build) = read::run(conn, id)? else {
                return Ok(None);
            };
            let failed_at = triage::failed_at(conn, id, build.run_attempt)?;
            Ok(Some((build, read::jobs_of_run(conn, id)?, failed_at)))
        })
        .await?;
    // A build of a repository the viewer may not read answers as one that does not exist.
    let (mut build, jobs, failed_at) =
        found
            .filter(|(build, _, _)| viewer.may_read(&build.repo))
            .ok_or_else(|| Error::NotFound(format!("no build with id {id}")))?;
    viewer.redact_run(&mut build);
    let mut body = serde_json::to_value(build).expect("builds serialise");
    body["jobs"] = serde_json::to_value(jobs).expect("jobs serialise");
    body["failed_at"] = serde_json::to_value(failed_at).expect("a place serialises");
    Ok(warp::reply::json(&body).into_response())
}

async fn show_metrics(
    viewer: Viewer,
    query: Query,
    host: Option<String>,
    state: AppState,
) -> Reply_ {
    let params = Params::parse(query, &[RUN_FILTERS, &["window", "group_by"], LIST_PAGING])?;
    let mut filter = run_filter(&params, &viewer)?;
    let now = now();
    params.apply_window(&mut filter, Window::Day, now)?;
    let window = json!({
        "since": filter.since.map(rfc3339),
        "until": filter.until.map(rfc3339),
    });
    let warnings = warnings(&state, &filter).await?;
    let Some(name) = params.one_of("group_by", GroupBy::NAMES)? else {
        let metrics = state
            .store
            .read(move |conn| figures::compute(conn, &filter, now))
            .await?;
        return Ok(warp::reply::json(
            &json!({ "window": window, "metrics": metrics, "warnings": warnings }),
        )
        .into_response());
    };
    let group_by = GroupBy::parse(&name).expect("validated against GroupBy::NAMES");
    if group_by == GroupBy::Author && viewer.hide_authors() {
        return Err(Error::bad_request(
            "invalid_parameter",
            "group_by=author is unavailable: this server hides authors (--hide-authors)",
        ));
    }
    let list = ListPage::parse(&params)?;
    let groups = state
        .store
        .read(move |conn| figures::compute_grouped(conn, &filter, group_by, now))
        .await?;
    let (groups, total) = list.of(groups.into_iter());
    let groups: Vec<_> = groups
        .into_iter()
        .map(|(key, metrics)| json!({ "key": key, "metrics": metrics }))
        .collect();
    let body = json!({
        "window": window,
        "group_by": name,
        "groups": groups,
        "warnings": warnings,
    });
    let origin = state.hosts.origin(host.as_deref());
    Ok(list.reply(body, total, ("/api/metrics", &params, origin)))
}

/// The run filter of `params` within what `viewer` may read, refused when it names a person on
/// a board that hides them.
fn run_filter(params: &Params, viewer: &Viewer) -> Result<RunFilter, Error> {
    let filter = viewer.restrict(params.run_filter()?);
    viewer
        .check_filter(&filter)
        .map_err(|reason| Error::bad_request("invalid_parameter", reason))?;
    Ok(filter)
}

/// The filter's names that match nothing known, as the `warnings` member of a response: an
/// empty answer to a typo then says why it is empty.
async fn warnings(state: &AppState, filter: &RunFilter) -> Result<Vec<serde_json::Value>, Error> {
    let unknown = state.unknown_names(filter).await?;
    Ok(unknown.iter().map(warning_json).collect())
}

fn warning_json(unknown: &UnknownName) -> serde_json::Value {
    json!({
        "code": "unknown_name",
        "parameter": unknown.kind.parameter(),
        "value": unknown.name,
        "message": unknown.to_string(),
        "did_you_mean": unknown.suggestion,
    })
}

/// `GET /api/triage`: what is red, grouped by cause; the same items, count and order as the
/// Triage page for the same parameters (both read through [`super::SharedState::triage`]).
async fn show_triage(viewer: Viewer, query: Query, state: AppState) -> Reply_ {
    let params = Params::parse(
        query,
        &[&["repo", "branch", "workflow", "author", "branches", "sort"]],
    )?;
    let filter = run_filter(&params, &viewer)?;
    let (all_branches, order) = (params.all_branches()?, params.triage_order()?);
    let warnings = warnings(&state, &filter).await?;
    let (incidents, scope) = state.triage(&viewer, filter, all_branches, order).await?;
    let red_workflows: usize = incidents.iter().map(|i| i.reds.len()).sum();
    let items: Vec<_> = incidents.iter().map(incident_json).collect();
    Ok(warp::reply::json(&json!({
        "scope": scope.as_str(),
        "count": items.len(),
        "red_workflows": red_workflows,
        "incidents": items,
        "warnings": warnings,
    }))
    .into_response())
}

fn incident_json(incident: &triage::Incident) -> serde_json::Value {
    let reds: Vec<_> = incident
        .reds
        .iter()
        .map(|red| {
            json!({
                "workflow": red.failing.workflow,
                "branch": red.failing.branch,
                "verdict": red.verdict,
                "since": rfc3339(red.since),
                "streak": red.streak,
                "streak_capped": red.streak_capped,
                "failed_at": red.failed_at,
                "failure": red.failure.as_ref().map(|f| json!({
                    "rule": f.rule, "signature": f.signature, "excerpt": f.excerpt, "error": f.error,
                })),
                "same_failure_elsewhere": red.same_failure_elsewhere,
                "claim": red.claim,
                "why": red.why,
                "pushers": red.authors,
                "failing": red.failing,
                "first_red": red.first_red,
                "last_green": red.last_green,
            })
        })
        .collect();
    json!({
        "repo": incident.first_red().repo,
        "branches": incident.branches(),
        "sha": incident.first_red().sha,
        "since": rfc3339(incident.since),
        "verdict": incident.verdict,
        "culprit": incident.culprit,
        "culprit_is_bot": incident.culprit.as_deref().map(triage::is_bot),
        "pushers": incident.pushers,
        "reds": reds,
    })
}

/// Which page of a list that grows with the organisation (`page` from 1, `per_page` items).
#[derive(Debug, Clone, Copy)]
struct ListPage {
    page: u32,
    per_page: u32,
}

impl ListPage {
    fn parse(params: &Params) -> Result<Self, Error> {
        Ok(Self {
            page: params.number("page", 1, u32::MAX)?.unwrap_or(1),
            per_page: params
                .number("per_page", 1, MAX_LIST_PER_PAGE)?
                .unwrap_or(DEFAULT_LIST_PER_PAGE),
        })
    }

    /// Where the page starts in the whole list.
    fn offset(self) -> usize {
        (self.page as usize - 1).saturating_mul(self.per_page as usize)
    }

    /// This page of `items`, and how many there are in all.
    fn of<T>(self, items: impl ExactSizeIterator<Item = T>) -> (Vec<T>, usize) {
        let total = items.len();
        let page = items
            .skip(self.offset())
            .take(self.per_page as usize)
            .collect();
        (page, total)
    }

    /// `body` with `page`, `per_page`, `total` and `next_page` (null on the last page), and a
    /// `Link: <…>; rel="next"` header when another page follows.
    fn reply(
        self,
        mut body: serde_json::Value,
        total: usize,
        (path, params, origin): (&str, &Params, Option<String>),
    ) -> Response {
        let next = (self.offset().saturating_add(self.per_page as usize) < total)
            .then(|| self.page.saturating_add(1));
        if let Some(object) = body.as_object_mut() {
            object.insert("page".into(), json!(self.page));
            object.insert("per_page".into(), json!(self.per_page));
            object.insert("total".into(), json!(total));
            object.insert("next_page".into(), json!(next));
        }
        let reply = warp::reply::json(&body).into_response();
        match next {
            Some(next) => {
                let query = params.without(&["page"]);
                with_next_link(reply, origin, path, query, &format!("page={next}"))
            }
            None => reply,
        }
    }
}

fn rfc3339(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A workflow with its newest run and its figures over the window.
#[derive(Serialize)]
struct WorkflowSummary {
    #[serde(flatten)]
    workflow: WorkflowInfo,
    latest_build: Option<Run>,
    metrics: Metrics,
}

async fn list_workflows(
    viewer: Viewer,
    query: Query,
    host: Option<String>,
    state: AppState,
) -> Reply_ {
    let params = Params::parse(query, &[&["repo", "window"], LIST_PAGING])?;
    let mut repos = params.list("repo")?;
    if repos.len() > 1 {
        return Err(Error::bad_request(
            "invalid_parameter",
            "parameter `repo` takes one repository here",
        ));
    }
    let repo = repos.pop();
    let mut window = viewer.restrict(RunFilter {
        repo: repo.iter().cloned().collect(),
        ..RunFilter::default()
    });
    let now = now();
    params.apply_window(&mut window, Window::Week, now)?;
    let list = ListPage::parse(&params)?;
    let shown = viewer.clone();
    let (workflows, total) = state
        .store
        .read(move |conn| {
            let mut figures = figures::compute_per_workflow(conn, &window, now)?;
            // The newest run is read for this page's workflows only.
            // Only what the reader may read is counted and paged.
            let readable = read::workflows(conn, repo.as_deref())?
                .into_iter()
                .filter(|workflow| shown.may_read(&workflow.repo))
                .collect::<Vec<_>>();
            let (page, total) = list.of(readable.into_iter());
            let page = page
                .into_iter()
                .map(|workflow| {
                    let mut latest_build = read::latest_run_of_workflow(conn, workflow.id)?;
                    if let Some(build) = &mut latest_build {
                        shown.redact_run(build);
                    }
                    Ok(WorkflowSummary {
                        latest_build,
                        metrics: figures.remove(&workflow.id).unwrap_or_default(),
                        workflow,
                    })
                })
                .collect::<crate::store::Result<Vec<_>>>()?;
            Ok((page, total))
        })
        .await?;
    let origin = state.hosts.origin(host.as_deref());
    Ok(list.reply(
        json!({ "workflows": workflows }),
        total,
        ("/api/workflows", &params, origin),
    ))
}

async fn show_workflow(
    id: i64,
    viewer: Viewer,
    query: Query,
    host: Option<String>,
    state: AppState,
) -> Reply_ {
    let params = Params::parse(query, &[&["per_page", "cursor"]])?;
    let per_page = params
        .number("per_page", 1, MAX_PER_PAGE)?
        .unwrap_or(DEFAULT_PER_PAGE);
    let workflow = state
        .store
        .read(move |conn| read::workflow(conn, id))
        .await?
        .filter(|workflow| viewer.may_read(&workflow.repo))
        .ok_or_else(|| Error::NotFound(format!("no workflow with id {id}")))?;
    let filter = viewer.restrict(RunFilter {
        workflow_id: Some(id),
        ..RunFilter::default()
    });
    let page = page(&state, &viewer, filter, params.cursor()?, per_page).await?;
    let path = format!("/api/workflows/{id}");
    Ok(page_reply(
        &page,
        &path,
        &params,
        state.hosts.origin(host.as_deref()),
        json!({ "workflow": workflow }),
    ))
}

async fn list_repos(viewer: Viewer, query: Query, host: Option<String>, state: AppState) -> Reply_ {
    let params = Params::parse(query, &[LIST_PAGING])?;
    let list = ListPage::parse(&params)?;
    let (repos, backfills) = state
        .store
        .read(|conn| {
            Ok((
                read::repos(conn)?,
                crate::store::app::backfill_states(conn)?,
            ))
        })
        .await?;
    // Only what the reader may read is counted and paged.
    let readable: Vec<_> = repos
        .into_iter()
        .filter(|repo| viewer.may_read(&repo.repo))
        .collect();
    let (repos, total) = list.of(readable.into_iter());
    // Repositories an App installation gave carry their background backfill's progress.
    let repos: Vec<serde_json::Value> = repos
        .into_iter()
        .map(|repo| {
            let backfill = backfills.get(&repo.repo).cloned();
            let mut value = json!(repo);
            if let Some(backfill) = backfill {
                value["backfill"] = json!(backfill);
            }
            value
        })
        .collect();
    let origin = state.hosts.origin(host.as_deref());
    Ok(list.reply(
        json!({ "repos": repos }),
        total,
        ("/api/repos", &params, origin),
    ))
}

/// Checks `Authorization: Bearer <admin token>` in constant time.
fn authorize(state: &AppState, header: Option<&str>) -> Result<(), Error> {
    let Some(token) = &state.config.admin_token else {
        return Err(Error::Forbidden(
            "mutations are disabled: start the server with --admin-token (BUILDBOARD_ADMIN_TOKEN)"
                .into(),
        ));
    };
    let given = header
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default();
    if crate::secret::same(given, token.expose()) {
        Ok(())
    } else {
        Err(Error::Unauthorized(
            "missing or wrong admin token (Authorization: Bearer <token>)".into(),
        ))
    }
}

#[derive(Deserialize)]
struct NewRepo {
    repo: String,
}

async fn add_repo<B: bytes::Buf>(
    auth: Option<String>,
    body: impl futures_util::Stream<Item = Result<B, warp::Error>>,
    state: AppState,
) -> Reply_ {
    // The token first: a client without it never makes the server wait for a body.
    authorize(&state, auth.as_deref())?;
    let body = super::body::read_small(body, MAX_MUTATION_BODY, state.config.body_timeout).await?;
    let body: NewRepo = serde_json::from_slice(&body).map_err(|err| {
        Error::bad_request(
            "invalid_body",
            format!("the body must be {{\"repo\": \"owner/name\"}}: {err}"),
        )
    })?;
    if !crate::github::event::valid_full_name(&body.repo) {
        return Err(Error::bad_request(
            "invalid_body",
            "`repo` must be \"owner/name\"",
        ));
    }
    let now = now();
    let (repo, created) = state
        .ingest
        .write(move |conn| {
            let (id, created) = write::monitor_repo(conn, &body.repo, now)?;
            Ok((read::repo(conn, id)?, created))
        })
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(
        warp::reply::with_status(warp::reply::json(&json!({ "repo": repo })), status)
            .into_response(),
    )
}

async fn remove_repo(id: String, auth: Option<String>, query: Query, state: AppState) -> Reply_ {
    authorize(&state, auth.as_deref())?;
    let id: i64 = id
        .parse()
        .map_err(|_| Error::NotFound(format!("no repository with id {id:?}")))?;
    let params = Params::parse(query, &[&["purge"]])?;
    let purge = params.flag("purge")?;
    if purge {
        // Batch by batch, so deliveries queued meanwhile go between the batches.
        while state
            .ingest
            .write(move |conn| write::purge_runs_batch(conn, id, PURGE_BATCH))
            .await?
            > 0
        {}
    }
    let existed = state
        .ingest
        .write(move |conn| write::unmonitor_repo(conn, id, purge))
        .await?;
    if !existed {
        return Err(Error::NotFound(format!("no repository with id {id}")));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use crate::github::event::valid_full_name as valid_repo_name;

    #[test]
    fn repository_names_follow_github_rules() {
        let names = [
            ("octo-org/octo-repo", true),
            ("a/b.c_d-e", true),
            ("no-slash", false),
            ("a/b/c", false),
            ("a/..", false),
            ("<script>/x", false),
        ];
        for (name, valid) in names {
            assert_eq!(valid_repo_name(name), valid, "{name}");
        }
    }
}
