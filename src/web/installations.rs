//! The App's `installation` and `installation_repositories` deliveries: installations drive what
//! is monitored.
//!
//! `installation` `created` (and `unsuspend`, `new_permissions_accepted`) records the installation
//! and starts monitoring its repositories; `deleted` stops monitoring them (their history stays);
//! `suspend` keeps them but stops using the installation's tokens. `installation_repositories`
//! `added`/`removed` do the same for single repositories. An installation this server has not
//! seen is confirmed through the API (with the App's JWT) before anything is recorded.
//!
//! A newly added repository's recent history ([`BACKFILL_DAYS`], with jobs and steps) is
//! backfilled in the background by `init_db`'s code ([`crate::backfill::backfill_repo`]) with the
//! installation's token, one repository at a time; its progress is logged and kept in
//! `installationrepos` (shown by `GET /api/repos` as `backfill: {state, runs, done_at}`).
//! Unfinished backfills resume at the next start (the backfill itself resumes page by page).
//!
//! `github_app_authorization` `revoked` (a person withdrew the App's authorisation) ends every
//! session of theirs at once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::Deserialize;
use tracing::{info, warn};

use super::{AppState, Error};
use crate::backfill::{self, Db, Options, Progress};
use crate::github::client::{Client, ClientConfig};
use crate::store::{app as rows, write};

/// Days of history backfilled for a repository an installation adds.
pub const BACKFILL_DAYS: i64 = 7;

#[derive(Deserialize)]
struct Payload {
    action: String,
    installation: Installation,
    #[serde(default)]
    repositories: Vec<Repo>,
    #[serde(default)]
    repositories_added: Vec<Repo>,
    #[serde(default)]
    repositories_removed: Vec<Repo>,
}

#[derive(Deserialize)]
struct Installation {
    id: i64,
    account: Option<Account>,
}

#[derive(Deserialize)]
struct Account {
    login: String,
}

#[derive(Deserialize)]
struct Repo {
    full_name: String,
}

/// Whether `event` is one of the App's own events: installations, and `github_app_authorization`
/// (a person revoked the App's authorisation: their sessions end).
pub fn is_installation_event(event: &str) -> bool {
    matches!(
        event,
        "installation" | "installation_repositories" | "github_app_authorization"
    )
}

#[derive(Deserialize)]
struct Authorization {
    action: String,
    sender: Account,
}

/// `github_app_authorization` `revoked`: every session of the sender ends at once.
async fn revoked(state: &AppState, json: &[u8]) -> Result<&'static str, Error> {
    let payload: Authorization = serde_json::from_slice(json)
        .map_err(|err| Error::bad_request("invalid_payload", err.to_string()))?;
    if payload.action != "revoked" {
        return Ok("ignored");
    }
    let login = payload.sender.login;
    let who = login.clone();
    let ended = state
        .ingest
        .write(move |conn| rows::delete_sessions_of(conn, &who))
        .await?;
    state.sessions.end_all_of(&login);
    info!(login = %login, sessions = ended, "authorisation revoked: sessions ended");
    Ok("processed")
}

/// Handles one installation delivery (already verified with the App's secret); returns the
/// outcome for the acknowledgement.
///
/// # Errors
/// 400 for a payload that is not an installation event or names an installation GitHub does not
/// confirm; database errors.
pub async fn handle(state: &AppState, event: &str, json: &[u8]) -> Result<&'static str, Error> {
    if event == "github_app_authorization" {
        return revoked(state, json).await;
    }
    let payload: Payload = serde_json::from_slice(json)
        .map_err(|err| Error::bad_request("invalid_payload", err.to_string()))?;
    let id = payload.installation.id;
    let account = match &payload.installation.account {
        Some(account) => account.login.clone(),
        None => confirm(state, id).await?,
    };
    let names = |repos: &[Repo]| {
        repos
            .iter()
            .map(|r| r.full_name.clone())
            .collect::<Vec<_>>()
    };
    info!(installation = id, account = %account, event, action = %payload.action, "installation event");
    match (event, payload.action.as_str()) {
        ("installation", "created" | "unsuspend" | "new_permissions_accepted") => {
            add(state, id, &account, names(&payload.repositories)).await?;
        }
        ("installation", "deleted") => {
            let repos = state
                .ingest
                .write(move |conn| rows::delete_installation(conn, id, super::now()))
                .await?;
            remove(state, repos).await?;
        }
        ("installation", "suspend") => {
            let repos = state
                .ingest
                .write(move |conn| {
                    rows::set_suspended(conn, id, true)?;
                    rows::installation_repos(conn, id)
                })
                .await?;
            for repo in repos {
                state.github_app.set_repo(&repo, None);
            }
        }
        ("installation_repositories", "added" | "removed") => {
            if !known(state, id).await? {
                confirm(state, id).await?;
            }
            add(state, id, &account, names(&payload.repositories_added)).await?;
            remove(state, names(&payload.repositories_removed)).await?;
        }
        _ => return Ok("ignored"),
    }
    state.sessions.forget_scopes();
    Ok("processed")
}

async fn known(state: &AppState, id: i64) -> Result<bool, Error> {
    Ok(state
        .store
        .read(move |conn| rows::installation_active(conn, id))
        .await?)
}

/// The account of installation `id`, as GitHub confirms it with the App's JWT.
async fn confirm(state: &AppState, id: i64) -> Result<String, Error> {
    let answer = state
        .github_app
        .get_as_app("the installation", &format!("/app/installations/{id}"))
        .await;
    match answer {
        Ok(installation) => Ok(installation["account"]["login"]
            .as_str()
            .unwrap_or_default()
            .to_owned()),
        Err(err) => {
            warn!(installation = id, cause = %err, "a delivery for an installation GitHub does not confirm");
            Err(Error::bad_request(
                "unknown_installation",
                format!("installation {id} is unknown to this App"),
            ))
        }
    }
}

/// Records installation `id` and starts monitoring (and backfilling) `repos`.
async fn add(state: &AppState, id: i64, account: &str, repos: Vec<String>) -> Result<(), Error> {
    let account = account.to_owned();
    let given = repos.clone();
    let stored = state
        .ingest
        .write(move |conn| {
            let now = super::now();
            rows::upsert_installation(conn, id, &account, now)?;
            for repo in &given {
                write::monitor_repo(conn, repo, now)?;
                rows::add_installation_repo(conn, id, repo)?;
                rows::set_backfill(conn, repo, "queued", 0, None, None)?;
            }
            // Every repository of the installation (an unsuspended one lists none).
            rows::installation_repos(conn, id)
        })
        .await?;
    for repo in &stored {
        state.github_app.set_repo(repo, Some(id));
    }
    if !repos.is_empty() {
        info!(
            installation = id,
            repos = repos.len(),
            "monitoring the installation's repositories"
        );
        spawn_backfill(state.clone(), repos);
    }
    Ok(())
}

/// Stops monitoring `repos` (their history stays).
async fn remove(state: &AppState, repos: Vec<String>) -> Result<(), Error> {
    for repo in &repos {
        state.github_app.set_repo(repo, None);
    }
    if repos.is_empty() {
        return Ok(());
    }
    info!(
        repos = repos.len(),
        "no longer monitoring repositories the App lost"
    );
    state
        .ingest
        .write(move |conn| {
            for repo in &repos {
                rows::remove_installation_repo(conn, repo)?;
                let id: Option<i64> = rusqlite::OptionalExtension::optional(conn.query_row(
                    "SELECT id FROM repos WHERE fullname = ?1",
                    [repo],
                    |row| row.get(0),
                ))?;
                if let Some(id) = id {
                    write::unmonitor_repo(conn, id, false)?;
                }
            }
            Ok(())
        })
        .await?;
    Ok(())
}

/// Counts the runs a backfill fetched, for its progress row.
#[derive(Default)]
struct Count(AtomicU64);

impl Progress for Count {
    fn fetched(&self, runs: u64) {
        self.0.fetch_add(runs, Ordering::Relaxed);
    }
}

/// Backfills `repos` one after the other in the background (see the module doc); stops at
/// shutdown, to resume at the next start.
pub fn spawn_backfill(state: AppState, repos: Vec<String>) {
    let shutdown = state.hub.shutdown_token();
    tokio::spawn(async move {
        tokio::select! {
            () = backfill_all(&state, repos) => {}
            () = shutdown.cancelled() => info!("background backfill stopped by shutdown; it resumes at the next start"),
        }
    });
}

async fn backfill_all(state: &AppState, repos: Vec<String>) {
    let mut config = ClientConfig::new(
        state.config.github_api_url.clone(),
        state.config.github_token.clone(),
    );
    config.tokens = Some(Arc::new(state.github_app.clone()));
    let client = match Client::new(config) {
        Ok(client) => client,
        Err(err) => return warn!(cause = %err, "cannot set up the GitHub client to backfill"),
    };
    let db = match state.store.open_writer() {
        Ok(conn) => Db::new(conn),
        Err(err) => return warn!(cause = %err, "cannot open the database to backfill"),
    };
    let total = repos.len();
    for (done, repo) in repos.into_iter().enumerate() {
        backfill_one(state, &client, &db, &repo).await;
        info!("backfilled {} of {total} repositories", done + 1);
    }
}

async fn backfill_one(state: &AppState, client: &Client, db: &Db, repo: &str) {
    let options = Options {
        since: Some(super::now() - BACKFILL_DAYS * 86_400),
        jobs: true,
        ..Options::default()
    };
    let mark = |st: &'static str, runs: i64, error: Option<String>| {
        let (repo, ingest) = (repo.to_owned(), state.ingest.clone());
        let repo_name = repo.clone();
        async move {
            let done_at = matches!(st, "done" | "failed").then(super::now);
            let result = ingest
                .write(move |conn| {
                    rows::set_backfill(conn, &repo, st, runs, done_at, error.as_deref())
                })
                .await;
            match result {
                // Pages read the backfill line again (and the generation moves, so the shared
                // renders of it are made anew).
                Ok(()) => state
                    .hub
                    .publish(&repo_name, || crate::feed::backfill(&repo_name, st)),
                Err(err) => warn!(cause = %err, "cannot record a backfill's progress"),
            }
        }
    };
    mark("running", 0, None).await;
    info!(repo, "backfilling the last {BACKFILL_DAYS} days");
    let count = Count::default();
    let result = backfill::backfill_repo(client, db, repo, &options, &count).await;
    let runs = count.0.load(Ordering::Relaxed) as i64;
    match result {
        Ok(summary) => {
            info!(
                repo,
                runs,
                added = summary.runs_added,
                jobs = summary.jobs,
                "backfill done"
            );
            mark("done", runs, None).await;
        }
        Err(err) => {
            warn!(repo, cause = %err, "backfill failed; it resumes at the next start");
            mark("failed", runs, Some(err.to_string())).await;
        }
    }
}

/// At start: the repositories each installation gives (for the App's tokens), and the backfills
/// a stop interrupted.
///
/// # Errors
/// On a database error.
pub async fn resume(state: &AppState) -> Result<(), Error> {
    let (map, unfinished) = state
        .store
        .read(|conn| {
            Ok((
                rows::installation_map(conn)?,
                rows::unfinished_backfills(conn)?,
            ))
        })
        .await?;
    for (repo, id) in map {
        state.github_app.set_repo(&repo, Some(id));
    }
    if !unfinished.is_empty() && state.github_app.credentials().is_some() {
        info!(repos = unfinished.len(), "resuming background backfills");
        spawn_backfill(
            state.clone(),
            unfinished.into_iter().map(|(repo, _)| repo).collect(),
        );
    }
    Ok(())
}
