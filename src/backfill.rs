//! History from GitHub's REST API: the backfill behind `init_db`, and the server's reconciliation.
//!
//! **Backfill** ([`backfill_repo`]), per repository: the repository itself, its workflows, its
//! branches, its workflow runs (with their head commits, which the run objects carry), and with
//! [`Options::jobs`] each run's jobs. Runs are listed in `created` date windows: GitHub returns at
//! most [`RESULT_CAP`] results for a filtered query, so a window that reports more is split in two
//! until each fits. The window layout is kept in `backfillwindows` so a later pass asks for the same
//! URLs and gets `304 Not Modified` for everything that did not change (their ETags are in
//! `httpcache`). Each page is applied in one transaction together with its ETag and the window's
//! next page, so a pass stopped at any point (Ctrl-C, network error) resumes where it stopped.
//!
//! Rows are written with [`store::write::apply_event`], the webhook path's own code, from events
//! built out of the REST objects: a backfilled run and a webhook run are the same row, and since
//! runs only ever move forward (see `write::upsert_run`), a backfill never regresses what a webhook
//! said more recently. A run whose stored version is already as new is left alone and counted as
//! unchanged.
//!
//! **Reconciliation** ([`Reconciler`]): the server polls each monitored repository's newest page of
//! runs, and the check runs and commit statuses of its watched branches' head commits, with
//! conditional requests and submits what is new or newer to the ingest writer, which commits it
//! and publishes it to the board like a webhook delivery.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::github::client::{self, Client, Fetched};
use crate::github::event::{
    CheckRun, CheckRunEvent, CheckSuiteRef, Event, EventKind, Repository, StatusBranch,
    StatusBranchCommit, StatusEvent, Timestamp, Workflow, WorkflowJob, WorkflowJobEvent,
    WorkflowRun, WorkflowRunEvent,
};
use crate::ingest::{self, Ingest};
use crate::run_state::Status;
use crate::settings::Settings;
use crate::store::model::{CachedPage, Window};
use crate::store::{self, read, write, Store};

/// GitHub's cap on results of a filtered run listing ("up to 1,000 results for each search").
pub const RESULT_CAP: i64 = 1000;
/// Entries per page; GitHub's maximum.
pub const PER_PAGE: &str = "100";

/// Errors from a backfill or a reconciliation pass.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    GitHub(#[from] client::Error),
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error(transparent)]
    Ingest(#[from] ingest::Error),
    /// `-r` was not `owner/name`.
    #[error("{0:?} is not a repository name: use owner/name, e.g. octo-org/octo-repo")]
    RepoName(String),
    /// The repository does not exist, or the token cannot see it.
    #[error("repository {0} not found on GitHub (404): check the owner/name, and for a private repository use a token that can read it")]
    RepoNotFound(String),
}

/// What to backfill.
#[derive(Debug, Clone)]
pub struct Options {
    /// Only runs created at or after this (epoch seconds); `None` for the whole history, back to
    /// the repository's creation.
    pub since: Option<i64>,
    /// Also fetch each run's jobs (one request per run), for real queue times.
    pub jobs: bool,
    /// Results per filtered query beyond which a window is split. GitHub's is [`RESULT_CAP`].
    pub result_cap: i64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            since: None,
            jobs: false,
            result_cap: RESULT_CAP,
        }
    }
}

/// What a backfill did, for the summary line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Runs that were not in the database.
    pub runs_added: u64,
    /// Runs GitHub has a newer state of than the database had.
    pub runs_updated: u64,
    /// Runs already stored as they are (including every run on a `304` page).
    pub runs_unchanged: u64,
    /// Workflows and branches listed on GitHub.
    pub workflows: u64,
    pub branches: u64,
    /// Jobs written (`--jobs`).
    pub jobs: u64,
    /// Times a window held more than the result cap and was split.
    pub splits: u64,
}

impl Summary {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &Summary) {
        self.runs_added += other.runs_added;
        self.runs_updated += other.runs_updated;
        self.runs_unchanged += other.runs_unchanged;
        self.workflows += other.workflows;
        self.branches += other.branches;
        self.jobs += other.jobs;
        self.splits += other.splits;
    }
}

/// Progress reports from a backfill: the CLI draws a bar or logs lines; tests ignore them.
pub trait Progress: Send + Sync {
    /// Work on `repo` starts (`stage`: "workflows", "runs", "jobs", ...).
    fn stage(&self, _repo: &str, _stage: &str) {}
    /// `runs` more runs are known to exist (a window's `total_count`).
    fn found(&self, _runs: u64) {}
    /// `runs` more runs were fetched (or confirmed unchanged).
    fn fetched(&self, _runs: u64) {}
}

/// Reports nothing.
pub struct Quiet;
impl Progress for Quiet {}

/// `GET /repos/{o}/{r}/commits/{ref}/check-runs`.
#[derive(Debug, Deserialize)]
struct CheckRunsPage {
    check_runs: Vec<CheckRun>,
}

/// One entry of `GET /repos/{o}/{r}/commits/{ref}/status`'s `statuses`.
#[derive(Debug, Deserialize)]
struct RestStatus {
    id: i64,
    state: String,
    context: String,
    #[serde(default)]
    target_url: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    created_at: Option<Timestamp>,
    #[serde(default)]
    updated_at: Option<Timestamp>,
}

/// `GET /repos/{o}/{r}/commits/{ref}/status`: the combined status of the ref's head commit.
#[derive(Debug, Deserialize)]
struct CombinedStatus {
    sha: String,
    #[serde(default)]
    statuses: Vec<RestStatus>,
}

/// A page of `GET /repos/{owner}/{repo}/actions/runs`.
#[derive(Debug, Deserialize)]
struct RunsPage {
    total_count: i64,
    workflow_runs: Vec<RestRun>,
}

/// A REST run: the webhook's `workflow_run` fields plus its `repository`.
#[derive(Debug, Deserialize)]
struct RestRun {
    #[serde(flatten)]
    run: WorkflowRun,
    #[serde(default)]
    repository: Option<Repository>,
}

/// `GET /repos/{owner}/{repo}`: the webhook's `repository` fields plus its creation time.
#[derive(Debug, Deserialize)]
struct RestRepository {
    #[serde(flatten)]
    repository: Repository,
    created_at: Timestamp,
}

#[derive(Debug, Deserialize)]
struct WorkflowsPage {
    workflows: Vec<Workflow>,
}

#[derive(Debug, Deserialize)]
struct BranchRef {
    name: String,
}

#[derive(Debug, Deserialize)]
struct JobsPage {
    jobs: Vec<WorkflowJob>,
}

/// The `workflow_run` event a webhook would have delivered for `run`. REST runs carry no
/// `workflow` object, so it is built from the run's `workflow_id`, `name` and `path`.
pub fn run_event(repo: &Repository, run: &WorkflowRun) -> Event {
    let path = run.path.clone().unwrap_or_default();
    let name = match run.name.as_deref() {
        Some(name) if !name.is_empty() => name.to_owned(),
        // Never seen from REST; the file name is better than nothing.
        _ => path.rsplit('/').next().unwrap_or_default().to_owned(),
    };
    // A delivery's action is named after the status the run reached.
    let action = match run.status {
        Status::Completed | Status::InProgress => run.status,
        _ => Status::Requested,
    };
    Event::WorkflowRun(Box::new(WorkflowRunEvent {
        action: action.as_str().to_owned(),
        workflow: Workflow {
            id: run.workflow_id,
            name,
            path,
            state: None,
            html_url: None,
        },
        workflow_run: run.clone(),
        repository: repo.clone(),
    }))
}

/// How a run from GitHub compares with the stored one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunNews {
    Added,
    Updated,
    Unchanged,
}

/// Compares `run` with the stored version `(runattempt, statusrank, updatetime)` the way
/// `write::upsert_run` does: only a strictly newer version is news.
pub fn run_news(stored: Option<(i64, i64, i64)>, run: &WorkflowRun) -> RunNews {
    let incoming = (
        run.run_attempt,
        run.status.rank(),
        run.updated_at.map_or(0, |t| t.0),
    );
    match stored {
        None => RunNews::Added,
        Some(stored) if incoming > stored => RunNews::Updated,
        Some(_) => RunNews::Unchanged,
    }
}

/// Splits `[start, end]` (`end` `None`: until `now`) into two halves that cover it; `None` when it
/// is a single second and cannot be split.
pub fn split_window(start: i64, end: Option<i64>, now: i64) -> Option<(Window, Window)> {
    let last = end.unwrap_or(now);
    if last <= start {
        return None;
    }
    let mid = start + (last - start) / 2;
    let window = |start, end| Window {
        start,
        end,
        next: None,
        done: false,
    };
    Some((window(start, Some(mid)), window(mid + 1, end)))
}

/// The `created` query of a window, in GitHub's search syntax: `START..END` or `>=START`.
pub fn created_query(start: i64, end: Option<i64>) -> String {
    let iso = |secs: i64| {
        chrono::DateTime::from_timestamp(secs, 0)
            .expect("window bounds are valid timestamps")
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    match end {
        Some(end) => format!("{}..{}", iso(start), iso(end)),
        None => format!(">={}", iso(start)),
    }
}

/// A read-write connection used from async code: each use runs on a blocking thread.
#[derive(Clone)]
pub struct Db(Arc<Mutex<Connection>>);

impl Db {
    /// Wraps the connection the backfill writes through (`Store::open_writer`).
    pub fn new(conn: Connection) -> Self {
        Self(Arc::new(Mutex::new(conn)))
    }

    async fn run<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> store::Result<T> + Send + 'static,
    {
        let conn = self.0.clone();
        crate::telemetry::spawn_blocking_in_span(move || {
            let mut conn = conn
                .lock()
                .expect("the backfill connection lock is poisoned");
            f(&mut conn)
        })
        .await
        .map_err(|err| store::Error::Task(err.to_string()))?
        .map_err(Error::from)
    }

    /// Runs `f` in one immediate transaction.
    async fn transaction<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> store::Result<T> + Send + 'static,
    {
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let value = f(&tx)?;
            tx.commit()?;
            Ok(value)
        })
        .await
    }
}

/// A response, or what a `304` stands for.
enum Fetch {
    /// `304`: the stored page still holds.
    Unchanged(CachedPage),
    /// New content, and the cache entry to store once it is applied (`None` without an ETag).
    Fresh {
        body: bytes::Bytes,
        next: Option<String>,
        etag: Option<String>,
    },
}

impl Fetch {
    /// The cache entry for a fresh page with `items` entries.
    fn entry(
        etag: Option<String>,
        next: Option<String>,
        total: Option<i64>,
        items: usize,
        body: Option<String>,
    ) -> Option<CachedPage> {
        Some(CachedPage {
            etag: etag?,
            next,
            total,
            items: items as i64,
            body,
        })
    }
}

/// One repository's backfill; see the module doc.
struct Backfill<'a> {
    client: &'a Client,
    db: Db,
    options: &'a Options,
    progress: &'a dyn Progress,
    summary: Summary,
}

/// Backfills `full_name` (`owner/name`) into the database behind `db`; see the module doc.
///
/// # Errors
/// [`Error::RepoName`], [`Error::RepoNotFound`], any [`client::Error`] (bad token, no network,
/// retries spent), or a database error. Everything committed before the error stays, and the next
/// call resumes from there.
pub async fn backfill_repo(
    client: &Client,
    db: &Db,
    full_name: &str,
    options: &Options,
    progress: &dyn Progress,
) -> Result<Summary, Error> {
    let valid = full_name
        .split_once('/')
        .is_some_and(|(owner, name)| !owner.is_empty() && !name.is_empty() && !name.contains('/'));
    if !valid {
        return Err(Error::RepoName(full_name.to_owned()));
    }
    let mut backfill = Backfill {
        client,
        db: db.clone(),
        options,
        progress,
        summary: Summary::default(),
    };
    progress.stage(full_name, "repository");
    let (repo, created) = backfill.repository(full_name).await?;
    let since = options.since.unwrap_or(created).max(0);
    progress.stage(full_name, "workflows");
    backfill.workflows(&repo).await?;
    progress.stage(full_name, "branches");
    backfill.branches(&repo).await?;
    progress.stage(full_name, "runs");
    backfill.runs(&repo, since).await?;
    if options.jobs {
        progress.stage(full_name, "jobs");
        backfill.jobs(&repo, since).await?;
    }
    Ok(backfill.summary)
}

impl Backfill<'_> {
    /// GETs `url`, conditionally if an ETag is stored for it.
    async fn fetch(&self, url: &str) -> Result<Fetch, Error> {
        let key = url.to_owned();
        let cached = self
            .db
            .run(move |conn| read::cached_page(conn, &key))
            .await?;
        match self
            .client
            .get(url, cached.as_ref().map(|c| c.etag.as_str()))
            .await?
        {
            Fetched::NotModified => match cached {
                Some(cached) => Ok(Fetch::Unchanged(cached)),
                None => Err(Error::GitHub(client::Error::Status {
                    url: url.to_owned(),
                    status: 304,
                    message: "Not Modified, for a request that was not conditional".into(),
                })),
            },
            Fetched::Fresh(page) => Ok(Fetch::Fresh {
                body: page.body,
                next: page.next,
                etag: page.etag,
            }),
        }
    }

    async fn repository(&mut self, full_name: &str) -> Result<(Repository, i64), Error> {
        let url = self.client.url(&client::repo_path(full_name, &[]), &[]);
        let fetched = match self.fetch(&url).await {
            Err(Error::GitHub(client::Error::NotFound { .. })) => {
                return Err(Error::RepoNotFound(full_name.to_owned()))
            }
            other => other?,
        };
        let (body, entry) = match fetched {
            Fetch::Unchanged(cached) => match cached.body.clone() {
                Some(body) => (body, None),
                None => {
                    let missing = format!("the cached answer for {url} lost its body");
                    return Err(Error::Store(store::Error::Task(missing)));
                }
            },
            Fetch::Fresh { body, etag, next } => {
                let text = String::from_utf8_lossy(&body).into_owned();
                let entry = Fetch::entry(etag, next, None, 1, Some(text.clone()));
                (text, entry)
            }
        };
        let parsed: RestRepository = Client::decode(&url, body.as_bytes())?;
        let repo = parsed.repository.clone();
        let stored = repo.clone();
        self.db
            .transaction(move |conn| {
                let now = chrono::Utc::now().timestamp();
                write::upsert_repo(conn, &stored, now)?;
                if let Some(entry) = entry {
                    write::put_cached_page(conn, &url, &entry, now)?;
                }
                Ok(())
            })
            .await?;
        Ok((repo, parsed.created_at.0))
    }

    async fn workflows(&mut self, repo: &Repository) -> Result<(), Error> {
        let repo_id = repo.id;
        let path = client::repo_path(&repo.full_name, &["actions", "workflows"]);
        self.listing(
            &path,
            |summary| &mut summary.workflows,
            |page: &WorkflowsPage| page.workflows.len(),
            move |conn, page, _now| {
                for workflow in &page.workflows {
                    write::upsert_workflow(conn, repo_id, workflow)?;
                }
                Ok(())
            },
        )
        .await
    }

    async fn branches(&mut self, repo: &Repository) -> Result<(), Error> {
        let repo_id = repo.id;
        let path = client::repo_path(&repo.full_name, &["branches"]);
        self.listing(
            &path,
            |summary| &mut summary.branches,
            |branches: &Vec<BranchRef>| branches.len(),
            move |conn, branches, now| {
                for branch in branches {
                    write::ensure_branch(conn, repo_id, &branch.name, now)?;
                }
                Ok(())
            },
        )
        .await
    }

    /// Walks the listing at `path` page by page: a `304` counts the stored page's items into
    /// `count`; a fresh page is decoded, counted, and written by `store` (given the time) in one
    /// transaction with its cache entry.
    async fn listing<P, F>(
        &mut self,
        path: &str,
        count: fn(&mut Summary) -> &mut u64,
        items: fn(&P) -> usize,
        store: F,
    ) -> Result<(), Error>
    where
        P: serde::de::DeserializeOwned + Send + 'static,
        F: Fn(&Connection, &P, i64) -> store::Result<()> + Copy + Send + 'static,
    {
        let mut url = Some(self.client.url(path, &[("per_page", PER_PAGE)]));
        while let Some(current) = url.take() {
            match self.fetch(&current).await? {
                Fetch::Unchanged(cached) => {
                    *count(&mut self.summary) += cached.items as u64;
                    url = cached.next;
                }
                Fetch::Fresh { body, next, etag } => {
                    let page: P = Client::decode(&current, &body)?;
                    let len = items(&page);
                    *count(&mut self.summary) += len as u64;
                    let entry = Fetch::entry(etag, next.clone(), None, len, None);
                    self.db
                        .transaction(move |conn| {
                            let now = chrono::Utc::now().timestamp();
                            store(conn, &page, now)?;
                            if let Some(entry) = entry {
                                write::put_cached_page(conn, &current, &entry, now)?;
                            }
                            Ok(())
                        })
                        .await?;
                    url = next;
                }
            }
        }
        Ok(())
    }

    /// The run history from `since`, window by window, newest window first.
    async fn runs(&mut self, repo: &Repository, since: i64) -> Result<(), Error> {
        let repo_id = repo.id;
        // Resume the pass in progress, or start a new one over the stored layout.
        self.db
            .transaction(move |conn| {
                let windows = read::backfill_windows(conn, repo_id)?;
                let relevant = |w: &&Window| w.end.is_none_or(|end| end >= since);
                if windows.iter().filter(relevant).all(|w| w.done) {
                    write::restart_windows(conn, repo_id)?;
                }
                let first = windows.first().map(|w| w.start);
                if first.is_none_or(|first| since < first) {
                    let end = first.map(|first| first - 1);
                    let window = Window {
                        start: since,
                        end,
                        next: None,
                        done: false,
                    };
                    write::put_window(conn, repo_id, &window)?;
                }
                Ok(())
            })
            .await?;
        loop {
            let windows = self
                .db
                .run(move |conn| read::backfill_windows(conn, repo_id))
                .await?;
            let pending = windows
                .into_iter()
                .rev()
                .find(|w| !w.done && w.end.is_none_or(|end| end >= since));
            let Some(window) = pending else {
                return Ok(());
            };
            self.window(repo, window).await?;
        }
    }

    /// Fetches the rest of one window, or splits it when it holds more than the cap.
    async fn window(&mut self, repo: &Repository, mut window: Window) -> Result<(), Error> {
        let repo_id = repo.id;
        loop {
            let first_page = window.next.is_none();
            let url = window.next.clone().unwrap_or_else(|| {
                self.client.url(
                    &client::repo_path(&repo.full_name, &["actions", "runs"]),
                    &[
                        ("per_page", PER_PAGE),
                        ("created", &created_query(window.start, window.end)),
                    ],
                )
            });
            let next = match self.fetch(&url).await? {
                Fetch::Unchanged(cached) => {
                    if first_page {
                        let total = cached.total.unwrap_or(0).min(self.options.result_cap);
                        self.progress.found(total as u64);
                    }
                    self.summary.runs_unchanged += cached.items as u64;
                    self.progress.fetched(cached.items as u64);
                    window.next = cached.next.clone();
                    window.done = cached.next.is_none();
                    let stored = window.clone();
                    self.db
                        .transaction(move |conn| write::put_window(conn, repo_id, &stored))
                        .await?;
                    cached.next
                }
                Fetch::Fresh { body, next, etag } => {
                    let page: RunsPage = Client::decode(&url, &body)?;
                    if first_page && self.split(repo, &window, page.total_count).await? {
                        return Ok(());
                    }
                    if first_page {
                        let total = page.total_count.min(self.options.result_cap);
                        self.progress.found(total as u64);
                    }
                    let items = page.workflow_runs.len();
                    let entry =
                        Fetch::entry(etag, next.clone(), Some(page.total_count), items, None);
                    window.next = next.clone();
                    window.done = next.is_none();
                    let stored = window.clone();
                    let repository = repo.clone();
                    let counts = self
                        .db
                        .transaction(move |conn| {
                            let now = chrono::Utc::now().timestamp();
                            let counts = apply_runs(conn, &repository, &page.workflow_runs, now)?;
                            if let Some(entry) = entry {
                                write::put_cached_page(conn, &url, &entry, now)?;
                            }
                            write::put_window(conn, repo_id, &stored)?;
                            Ok(counts)
                        })
                        .await?;
                    self.summary.runs_added += counts.0;
                    self.summary.runs_updated += counts.1;
                    self.summary.runs_unchanged += counts.2;
                    self.progress.fetched(items as u64);
                    next
                }
            };
            if next.is_none() {
                return Ok(());
            }
        }
    }

    /// When a window's first page says it holds `total` runs, more than GitHub lists
    /// ([`Options::result_cap`]): splits it in two, stores both halves and returns `true`. A
    /// window of one second cannot be split: it is fetched as far as GitHub lists it.
    async fn split(
        &mut self,
        repo: &Repository,
        window: &Window,
        total: i64,
    ) -> Result<bool, Error> {
        if total <= self.options.result_cap {
            return Ok(false);
        }
        let now = chrono::Utc::now().timestamp();
        let Some((older, newer)) = split_window(window.start, window.end, now) else {
            warn!(
                repo = %repo.full_name,
                total,
                "more runs created within one second than GitHub lists; some are skipped"
            );
            return Ok(false);
        };
        debug!(
            repo = %repo.full_name,
            total,
            start = window.start,
            "window holds more runs than GitHub returns: splitting it"
        );
        self.summary.splits += 1;
        let repo_id = repo.id;
        self.db
            .transaction(move |conn| {
                write::put_window(conn, repo_id, &older)?;
                write::put_window(conn, repo_id, &newer)
            })
            .await?;
        Ok(true)
    }

    /// Jobs of the runs from `since` that lack them (`--jobs`).
    async fn jobs(&mut self, repo: &Repository, since: i64) -> Result<(), Error> {
        let repo_id = repo.id;
        let runs = self
            .db
            .run(move |conn| read::runs_missing_jobs(conn, repo_id, since))
            .await?;
        self.progress.found(runs.len() as u64);
        for run_id in runs {
            let mut url = Some(self.client.url(
                &client::repo_path(
                    &repo.full_name,
                    &["actions", "runs", &run_id.to_string(), "jobs"],
                ),
                &[("per_page", PER_PAGE)],
            ));
            while let Some(current) = url.take() {
                match self.fetch(&current).await? {
                    Fetch::Unchanged(cached) => url = cached.next,
                    Fetch::Fresh { body, next, etag } => {
                        let page: JobsPage = Client::decode(&current, &body)?;
                        self.summary.jobs += page.jobs.len() as u64;
                        let entry = Fetch::entry(etag, next.clone(), None, page.jobs.len(), None);
                        let repository = repo.clone();
                        self.db
                            .transaction(move |conn| {
                                let now = chrono::Utc::now().timestamp();
                                for job in page.jobs {
                                    let event = Event::WorkflowJob(Box::new(WorkflowJobEvent {
                                        action: job.status.as_str().to_owned(),
                                        workflow_job: job,
                                        repository: repository.clone(),
                                    }));
                                    write::apply_event(conn, &event, now)?;
                                }
                                if let Some(entry) = entry {
                                    write::put_cached_page(conn, &current, &entry, now)?;
                                }
                                Ok(())
                            })
                            .await?;
                        url = next;
                    }
                }
            }
            self.progress.fetched(1);
        }
        Ok(())
    }
}

/// Applies the runs of one page; returns (added, updated, unchanged).
fn apply_runs(
    conn: &Connection,
    repo: &Repository,
    runs: &[RestRun],
    now: i64,
) -> store::Result<(u64, u64, u64)> {
    let mut counts = (0, 0, 0);
    for rest in runs {
        match run_news(read::run_version(conn, rest.run.id)?, &rest.run) {
            RunNews::Added => counts.0 += 1,
            RunNews::Updated => counts.1 += 1,
            RunNews::Unchanged => {
                counts.2 += 1;
                continue;
            }
        }
        write::apply_event(conn, &run_event(repo, &rest.run), now)?;
    }
    Ok(counts)
}

/// The server's reconciliation loop: see the module doc.
pub struct Reconciler {
    client: Arc<Client>,
    interval: Duration,
    /// Whose head commits' check runs and statuses are read: the watched branches of the moment.
    settings: Settings,
    /// ETags of the last page applied per URL. In memory: after a restart the first poll asks
    /// for everything in full (each repository's runs, and its watched branches' check runs and
    /// statuses).
    etags: HashMap<String, String>,
}

impl Reconciler {
    /// A reconciler polling every `interval` through `client`.
    pub fn new(client: Arc<Client>, interval: Duration, settings: Settings) -> Self {
        Self {
            client,
            interval,
            settings,
            etags: HashMap::new(),
        }
    }

    /// Polls until `shutdown` is cancelled. Errors are logged and the next poll tries again.
    pub async fn run(mut self, store: Store, ingest: Ingest, shutdown: CancellationToken) {
        info!(
            interval_s = self.interval.as_secs(),
            "reconciling with GitHub's REST API"
        );
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                result = self.poll(&store, &ingest) => match result {
                    Ok(0) => debug!("reconciliation found nothing new"),
                    Ok(applied) => info!(applied, "reconciliation applied runs the webhooks missed"),
                    Err(err) => warn!(cause = %err, "reconciliation failed; retrying at the next interval"),
                },
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(self.interval) => {}
            }
        }
        debug!("reconciliation stopped");
    }

    /// One pass over every monitored repository; returns how many runs were applied.
    ///
    /// # Errors
    /// The first GitHub, database or ingest error; repositories before it stay applied.
    pub async fn poll(&mut self, store: &Store, ingest: &Ingest) -> Result<u64, Error> {
        let repos = store.read(read::monitored_repos).await?;
        let mut applied = 0;
        for repo in repos {
            let url = self.client.url(
                &client::repo_path(&repo.full_name, &["actions", "runs"]),
                &[("per_page", PER_PAGE)],
            );
            let etag = self.etags.get(&url).map(String::as_str);
            let page = match self.client.get(&url, etag).await? {
                Fetched::NotModified => continue,
                Fetched::Fresh(page) => page,
            };
            let runs: RunsPage = Client::decode(&url, &page.body)?;
            for rest in runs.workflow_runs {
                let id = rest.run.id;
                let stored = store.read(move |conn| read::run_version(conn, id)).await?;
                if run_news(stored, &rest.run) == RunNews::Unchanged {
                    continue;
                }
                let repository = rest.repository.as_ref().unwrap_or(&repo);
                debug!(run = id, repo = %repository.full_name, "applying a run no webhook announced");
                ingest
                    .apply(EventKind::WorkflowRun, run_event(repository, &rest.run))
                    .await?;
                applied += 1;
            }
            if let Some(etag) = page.etag {
                self.etags.insert(url, etag);
            }
            applied += self.checks_and_statuses(store, ingest, &repo).await?;
        }
        Ok(applied)
    }

    /// A fresh page for `url`, or `None` when it has not changed since the last poll.
    async fn fresh(&mut self, url: &str) -> Result<Option<(Vec<u8>, Option<String>)>, Error> {
        let etag = self.etags.get(url).map(String::as_str);
        Ok(match self.client.get(url, etag).await? {
            Fetched::NotModified => None,
            Fetched::Fresh(page) => Some((page.body.to_vec(), page.etag)),
        })
    }

    /// The check runs and commit statuses of the head commit of each watched branch of `repo`
    /// (`GET .../commits/{branch}/check-runs` and `.../status`), applied like deliveries, so a
    /// check that reported while the server was down appears. Only the first page of check runs
    /// (100) is read: a commit with more is rare. Returns how many were handed to the writer.
    async fn checks_and_statuses(
        &mut self,
        store: &Store,
        ingest: &Ingest,
        repo: &Repository,
    ) -> Result<u64, Error> {
        let repo_id = repo.id;
        let names = store
            .read(move |conn| read::branch_names(conn, repo_id))
            .await?;
        let mut branches: Vec<String> = repo.default_branch.iter().cloned().collect();
        let watched = self.settings.watched();
        for name in names {
            if !branches.contains(&name) && watched.contains(&name, repo.default_branch.as_deref())
            {
                branches.push(name);
            }
        }
        let mut applied = 0;
        for branch in branches.into_iter().take(MAX_RECONCILED_BRANCHES) {
            let path = client::repo_path(&repo.full_name, &["commits", &branch, "check-runs"]);
            let url = self.client.url(&path, &[("per_page", PER_PAGE)]);
            if let Some((body, etag)) = self.fresh(&url).await? {
                let page: CheckRunsPage = Client::decode(&url, &body)?;
                for mut check_run in page.check_runs {
                    let suite = check_run
                        .check_suite
                        .get_or_insert(CheckSuiteRef { head_branch: None });
                    suite.head_branch.get_or_insert_with(|| branch.clone());
                    let action = if check_run.status.is_done() {
                        "completed"
                    } else {
                        "created"
                    };
                    let event = Event::CheckRun(Box::new(CheckRunEvent {
                        action: action.to_owned(),
                        check_run,
                        repository: repo.clone(),
                    }));
                    ingest.apply(EventKind::CheckRun, event).await?;
                    applied += 1;
                }
                if let Some(etag) = etag {
                    self.etags.insert(url, etag);
                }
            }
            let path = client::repo_path(&repo.full_name, &["commits", &branch, "status"]);
            let url = self.client.url(&path, &[]);
            if let Some((body, etag)) = self.fresh(&url).await? {
                let combined: CombinedStatus = Client::decode(&url, &body)?;
                for status in combined.statuses {
                    let event = Event::Status(Box::new(StatusEvent {
                        id: status.id,
                        sha: combined.sha.clone(),
                        context: status.context,
                        state: status.state,
                        target_url: status.target_url,
                        description: status.description,
                        branches: vec![StatusBranch {
                            name: branch.clone(),
                            commit: StatusBranchCommit {
                                sha: combined.sha.clone(),
                            },
                        }],
                        created_at: status.created_at,
                        updated_at: status.updated_at,
                        repository: repo.clone(),
                    }));
                    ingest.apply(EventKind::Status, event).await?;
                    applied += 1;
                }
                if let Some(etag) = etag {
                    self.etags.insert(url, etag);
                }
            }
        }
        Ok(applied)
    }
}

/// Most branches of one repository whose checks and statuses reconciliation reads per poll.
const MAX_RECONCILED_BRANCHES: usize = 10;

/// Most pages of an organisation's repositories read by [`org_repos`] (100 each).
const MAX_ORG_PAGES: usize = 100;

/// Every repository of organisation `org` the token can see (`GET /orgs/{org}/repos`), as
/// `owner/name`, archived ones left out: what `init_db --org` backfills.
///
/// # Errors
/// [`Error::RepoNotFound`] (naming the organisation) for a 404; any [`client::Error`].
pub async fn org_repos(client: &Client, org: &str) -> Result<Vec<String>, Error> {
    #[derive(serde::Deserialize)]
    struct OrgRepo {
        full_name: String,
        #[serde(default)]
        archived: bool,
    }
    let mut url = client.url(
        &format!("/orgs/{}/repos", client::segment(org)),
        &[("per_page", PER_PAGE), ("type", "all")],
    );
    let mut names = Vec::new();
    for _ in 0..MAX_ORG_PAGES {
        let page = match client.get(&url, None).await {
            Ok(client::Fetched::Fresh(page)) => page,
            Ok(client::Fetched::NotModified) => break,
            Err(client::Error::NotFound { .. }) => {
                return Err(Error::RepoNotFound(format!("organisation {org}")))
            }
            Err(err) => return Err(err.into()),
        };
        let repos: Vec<OrgRepo> = Client::decode(&url, &page.body)?;
        names.extend(
            repos
                .into_iter()
                .filter(|r| !r.archived)
                .map(|r| r.full_name),
        );
        match page.next {
            Some(next) => url = next,
            None => break,
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_branch_name_is_one_path_segment() {
        let segment = client::segment;
        assert_eq!(segment("main"), "main");
        assert_eq!(segment("release/1.2"), "release%2F1.2");
        assert_eq!(segment("fix#12?x"), "fix%2312%3Fx");
        assert_eq!(
            segment("dependabot/npm_and_yarn/a-b~1"),
            "dependabot%2Fnpm_and_yarn%2Fa-b~1"
        );
    }

    #[test]
    fn a_window_splits_into_two_halves_that_cover_it() {
        let (older, newer) = split_window(100, Some(201), 0).unwrap();
        assert_eq!((older.start, older.end), (100, Some(150)));
        assert_eq!((newer.start, newer.end), (151, Some(201)));
        assert!(!older.done && older.next.is_none());
    }

    #[test]
    fn an_open_window_splits_at_the_middle_of_now_and_stays_open() {
        let (older, newer) = split_window(0, None, 1000).unwrap();
        assert_eq!((older.start, older.end), (0, Some(500)));
        assert_eq!((newer.start, newer.end), (501, None));
    }

    #[test]
    fn a_one_second_window_cannot_be_split() {
        assert!(split_window(7, Some(7), 100).is_none());
        assert!(split_window(7, None, 7).is_none());
        let (a, b) = split_window(7, Some(8), 0).unwrap();
        assert_eq!((a.start, a.end, b.start, b.end), (7, Some(7), 8, Some(8)));
    }

    #[test]
    fn created_queries_use_github_search_syntax() {
        assert_eq!(
            created_query(0, Some(86_399)),
            "1970-01-01T00:00:00Z..1970-01-01T23:59:59Z"
        );
        assert_eq!(created_query(1_579_721_588, None), ">=2020-01-22T19:33:08Z");
    }

    fn rest_run() -> WorkflowRun {
        let json = include_str!(
            "../tests/fixtures/github/rest/list-workflow-runs-for-repo.GET_repos_owner_repo_actions_runs.200.json"
        );
        let page: RunsPage = serde_json::from_str(json).unwrap();
        assert_eq!(
            page.workflow_runs[0].repository.as_ref().unwrap().id,
            1296269
        );
        page.workflow_runs.into_iter().next().unwrap().run
    }

    #[test]
    fn only_a_strictly_newer_run_is_news() {
        let run = rest_run(); // attempt 1, queued (rank 1), updated 2020-01-22T19:33:08Z
        let updated = run.updated_at.unwrap().0;
        assert_eq!(run_news(None, &run), RunNews::Added);
        assert_eq!(run_news(Some((1, 1, updated)), &run), RunNews::Unchanged);
        assert_eq!(
            run_news(Some((1, 3, updated - 60)), &run),
            RunNews::Unchanged
        );
        assert_eq!(run_news(Some((2, 0, 0)), &run), RunNews::Unchanged);
        assert_eq!(run_news(Some((1, 1, updated - 1)), &run), RunNews::Updated);
    }

    #[test]
    fn a_rest_run_becomes_the_event_a_webhook_would_deliver() {
        let run = rest_run();
        let repo = Repository {
            id: 1,
            full_name: "o/r".into(),
            html_url: None,
            default_branch: None,
        };
        let Event::WorkflowRun(event) = run_event(&repo, &run) else {
            panic!("a workflow_run event");
        };
        assert_eq!(event.action, "requested");
        assert_eq!(event.workflow.id, 159038);
        assert_eq!(event.workflow.name, "Build");
        assert_eq!(event.workflow.path, ".github/workflows/build.yml@main");
        assert_eq!(event.repository.id, 1);
    }
}
