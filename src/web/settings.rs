//! `/settings`: the admins' page. Watched branches, author hiding and notification targets
//! (`crate::settings`, stored in the database, live at once; a flag that gives one fixes it),
//! display and API tokens (through `web::tokens`, as `/api/tokens`), per-repository telemetry
//! secrets (`POST /api/metrics` for jobs without an OIDC token), and the last changes.
//!
//! - Who is an admin: a person signed in with GitHub who is an admin of an account the App is
//!   installed on (the account is the person, or `GET /user/memberships/orgs/{org}` says `role`
//!   admin; asked once per [`ADMIN_TTL`]); or the admin token, in a browser through
//!   `POST /settings/sign-in` (a cookie holding an HMAC of it, `HttpOnly; SameSite=Strict`,
//!   for [`ADMIN_COOKIE_HOURS`]), or as `Authorization: Bearer`. Anyone else gets a 403 page.
//! - Every form is a plain HTML `POST /settings` with an `action` and a synchronizer token
//!   (`csrf`): the operators' scheme of `web::act` (an HMAC of the session's cookie under the
//!   server's key), and the browser's `Origin`/`Sec-Fetch-Site` must name the board. A bearer
//!   request needs neither (browsers never add one on their own).
//! - Every change is logged: a tracing line with who, and a `settingslog` row the page lists.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cookie::SameSite;
use sha2::{Digest, Sha256};
use warp::http::header::{CACHE_CONTROL, LOCATION, SET_COOKIE};
use warp::http::{Response, StatusCode};
use warp::reply::Response as Reply;
use warp::{Filter, Rejection, Reply as _};

use super::access::{mac_hex, set_cookie};
use super::host::Hosts;
use super::signin::{SignedIn, SESSION_COOKIE};
use super::{now, with_state, AppState, Error};
use crate::github::oauth;
use crate::notify::{Kind, Target, Targets};
use crate::secret::same;
use crate::settings::{Key, Value};
use crate::store::settings as rows;
use crate::views::settings::{self as view, Refusal, SettingsView, ShownOnce};

/// The cookie of a browser signed in to the settings page with the admin token.
pub const ADMIN_COOKIE: &str = "buildboard_admin";
/// What that cookie's HMAC is computed over, with the admin token as the key.
const ADMIN_COOKIE_CONTEXT: &[u8] = b"buildboard admin cookie v1";
/// How long the admin token's browser sign-in lasts.
const ADMIN_COOKIE_HOURS: i64 = 12;
/// How long a person's admin rights, as GitHub said them, are trusted.
pub const ADMIN_TTL: Duration = Duration::from_secs(3 * 60);
/// Largest form accepted.
const MAX_FORM_BYTES: u64 = 16 * 1024;
/// Changes the page lists.
const LOG_ROWS: u32 = 20;
/// The prefix of a telemetry secret (recognisable in a leak scanner).
const SECRET_PREFIX: &str = "bbt_";

/// People's admin rights as GitHub last said them: login → (when asked, admin?).
#[derive(Clone, Default)]
pub struct Admins(Arc<Mutex<HashMap<String, (Instant, bool)>>>);

/// A browser's `Origin`, `Sec-Fetch-Site` and `Host`: whether a form comes from this board.
#[derive(Debug, Default)]
pub struct FormOrigin {
    origin: Option<String>,
    fetch_site: Option<String>,
    host: Option<String>,
}

impl FormOrigin {
    /// Whether the browser says the form comes from a page of this board.
    pub fn is_own(&self, hosts: &Hosts) -> bool {
        super::act::same_origin(
            hosts,
            self.origin.as_deref(),
            self.fetch_site.as_deref(),
            self.host.as_deref(),
        )
    }
}

/// The request's [`FormOrigin`].
pub fn form_origin() -> impl Filter<Extract = (FormOrigin,), Error = Rejection> + Clone {
    warp::header::optional::<String>("origin")
        .and(warp::header::optional::<String>("sec-fetch-site"))
        .and(warp::header::optional::<String>("host"))
        .map(|origin, fetch_site, host| FormOrigin {
            origin,
            fetch_site,
            host,
        })
}

/// What the page judges a request by.
struct Caller {
    admin_cookie: Option<String>,
    session: Option<String>,
    authorization: Option<String>,
    origin: FormOrigin,
}

fn caller() -> impl Filter<Extract = (Caller,), Error = Rejection> + Clone {
    warp::cookie::optional::<String>(ADMIN_COOKIE)
        .and(warp::cookie::optional::<String>(SESSION_COOKIE))
        .and(warp::header::optional::<String>("authorization"))
        .and(form_origin())
        .map(|admin_cookie, session, authorization, origin| Caller {
            admin_cookie,
            session,
            authorization,
            origin,
        })
}

/// An admin, as the page knows them.
struct Admin {
    /// Logged with every change: a login, or "admin token".
    name: String,
    /// The cookie the CSRF token is bound to; `None` for a bearer request (needs none).
    csrf_basis: Option<String>,
    /// Signed in here with the admin token (the page offers to sign out).
    token_session: bool,
}

/// `GET`/`POST /settings`, `POST /settings/sign-in`, `POST /settings/sign-out`.
pub fn routes(state: AppState) -> impl Filter<Extract = (Reply,), Error = Rejection> + Clone {
    let show = warp::path!("settings")
        .and(warp::get())
        .and(caller())
        .and(with_state(state.clone()))
        .then(|caller: Caller, state: AppState| async move {
            match authenticate(&state, &caller).await {
                Ok(admin) => page(&state, &admin, Outcome::default()).await,
                Err(refused) => *refused,
            }
        });
    let change = warp::path!("settings")
        .and(warp::post())
        .and(caller())
        .and(form())
        .and(with_state(state.clone()))
        .then(change);
    let sign_in = warp::path!("settings" / "sign-in")
        .and(warp::post())
        .and(state.limits.reads.filter())
        .and(form_origin())
        .and(form())
        .and(with_state(state.clone()))
        .map(sign_in);
    let sign_out = warp::path!("settings" / "sign-out")
        .and(warp::post())
        .and(caller())
        .and(form())
        .and(with_state(state))
        .then(|caller: Caller, form: Form, state: AppState| async move {
            match checked_admin(&state, &caller, &form).await {
                Ok(_) => see_other("/settings", Some(sign_out_cookie())),
                Err(refused) => *refused,
            }
        });
    show.or(change)
        .unify()
        .or(sign_in)
        .unify()
        .or(sign_out)
        .unify()
        .map(no_store)
}

/// A form's fields (the last of each name wins).
type Form = HashMap<String, String>;

fn form() -> impl Filter<Extract = (Form,), Error = Rejection> + Clone {
    warp::body::content_length_limit(MAX_FORM_BYTES)
        .and(warp::body::form::<Vec<(String, String)>>())
        .map(|pairs: Vec<(String, String)>| pairs.into_iter().collect::<Form>())
}

fn no_store(mut reply: Reply) -> Reply {
    reply.headers_mut().insert(
        CACHE_CONTROL,
        warp::http::HeaderValue::from_static("no-store"),
    );
    reply
}

fn see_other(location: &str, cookie: Option<String>) -> Reply {
    let mut builder = Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(LOCATION, location);
    if let Some(cookie) = cookie {
        builder = builder.header(SET_COOKIE, cookie);
    }
    builder
        .body(String::new())
        .expect("a valid response")
        .into_response()
}

/// The page that refuses, with `status`.
fn refused(status: StatusCode, refusal: Refusal, login: &str) -> Box<Reply> {
    Box::new(match view::settings_refused(refusal, login) {
        Ok(html) => warp::reply::with_status(warp::reply::html(html), status).into_response(),
        Err(err) => Error::Internal(err.into()).into_response(),
    })
}

/// The value of the admin token's browser cookie; `None` without an admin token.
fn admin_cookie_value(state: &AppState) -> Option<String> {
    let token = state.config.admin_token.as_ref()?;
    Some(mac_hex(token.expose().as_bytes(), ADMIN_COOKIE_CONTEXT))
}

fn sign_out_cookie() -> String {
    set_cookie(
        ADMIN_COOKIE,
        "",
        cookie::time::Duration::ZERO,
        SameSite::Strict,
    )
}

/// Who the admin is, or the page that refuses (403 for anyone else).
async fn authenticate(state: &AppState, caller: &Caller) -> Result<Admin, Box<Reply>> {
    let admin_token = state.config.admin_token.as_ref();
    let bearer = caller
        .authorization
        .as_deref()
        .and_then(|value| value.strip_prefix("Bearer "));
    if let (Some(given), Some(token)) = (bearer, admin_token) {
        if same(given, token.expose()) {
            return Ok(Admin {
                name: "admin token".into(),
                csrf_basis: None,
                token_session: false,
            });
        }
    }
    if let (Some(cookie), Some(expected)) = (&caller.admin_cookie, admin_cookie_value(state)) {
        if same(cookie, &expected) {
            return Ok(Admin {
                name: "admin token".into(),
                csrf_basis: Some(cookie.clone()),
                token_session: true,
            });
        }
    }
    let person = match &caller.session {
        Some(id) => state.sessions.lookup(id).await,
        None => None,
    };
    let (Some(person), Some(id)) = (person, &caller.session) else {
        let refusal = Refusal::SignIn {
            github: state.github_app.credentials().is_some(),
            admin_token: admin_token.is_some(),
        };
        return Err(refused(StatusCode::FORBIDDEN, refusal, ""));
    };
    if !is_admin(state, &person).await {
        tracing::info!(login = %person.login, "settings refused: not an admin");
        return Err(refused(
            StatusCode::FORBIDDEN,
            Refusal::NotAdmin,
            &person.login,
        ));
    }
    Ok(Admin {
        name: person.login,
        csrf_basis: Some(id.clone()),
        token_session: false,
    })
}

/// [`authenticate`], then the form's CSRF token and origin for a cookie session.
async fn checked_admin(
    state: &AppState,
    caller: &Caller,
    form: &Form,
) -> Result<Admin, Box<Reply>> {
    let admin = authenticate(state, caller).await?;
    if let Some(basis) = &admin.csrf_basis {
        let given = form.get("csrf").map_or("", String::as_str);
        let csrf_ok = same(given, &state.act.csrf_for(basis));
        if !csrf_ok || !caller.origin.is_own(&state.hosts) {
            tracing::info!(
                by = %admin.name,
                csrf = !given.is_empty(),
                origin = ?caller.origin.origin,
                "settings change refused: cross-site or without its CSRF token"
            );
            return Err(refused(StatusCode::FORBIDDEN, Refusal::CrossSite, ""));
        }
    }
    Ok(admin)
}

/// Whether `person` is an admin of an account the App is installed on: the account is theirs,
/// or GitHub says they administer the organisation.
async fn is_admin(state: &AppState, person: &SignedIn) -> bool {
    let login = person.login.to_ascii_lowercase();
    if let Some((at, admin)) = state.admins.0.lock().expect("admins lock").get(&login) {
        if at.elapsed() < ADMIN_TTL {
            return *admin;
        }
    }
    let accounts = match state.store.read(rows::installations).await {
        Ok(list) => list,
        Err(err) => {
            tracing::error!(cause = %err, "could not read the installations");
            return false;
        }
    };
    let mut admin = accounts.iter().any(|(_, a)| a.eq_ignore_ascii_case(&login));
    for (_, account) in &accounts {
        if admin {
            break;
        }
        let http = state.github_app.http();
        let api = state.github_app.api_url();
        match oauth::is_org_admin(http, api, &person.user_token, account).await {
            Ok(yes) => admin = yes,
            Err(err) => {
                tracing::info!(login = %person.login, %account, cause = %err, "could not ask GitHub for an organisation role")
            }
        }
    }
    let mut admins = state.admins.0.lock().expect("admins lock");
    admins.retain(|_, (at, _)| at.elapsed() < ADMIN_TTL);
    admins.insert(login, (Instant::now(), admin));
    admin
}

/// `POST /settings/sign-in` with `token=<admin token>`: the admin token's browser sign-in.
fn sign_in(origin: FormOrigin, form: Form, state: AppState) -> Reply {
    if !origin.is_own(&state.hosts) {
        return *refused(StatusCode::FORBIDDEN, Refusal::CrossSite, "");
    }
    let given = form.get("token").map_or("", String::as_str);
    let ok = state
        .config
        .admin_token
        .as_ref()
        .is_some_and(|token| same(given, token.expose()));
    let Some(value) = admin_cookie_value(&state).filter(|_| ok) else {
        tracing::info!("settings sign-in refused: wrong admin token");
        return *refused(StatusCode::UNAUTHORIZED, Refusal::WrongToken, "");
    };
    tracing::info!("signed in to the settings page with the admin token");
    let cookie = set_cookie(
        ADMIN_COOKIE,
        &value,
        cookie::time::Duration::hours(ADMIN_COOKIE_HOURS),
        SameSite::Strict,
    );
    see_other("/settings", Some(cookie))
}

/// What one form did, for the page that answers it.
#[derive(Default)]
struct Outcome {
    status: Option<StatusCode>,
    notice: Option<String>,
    once: Option<ShownOnce>,
}

impl Outcome {
    fn done(notice: impl Into<String>) -> Self {
        Self {
            notice: Some(notice.into()),
            ..Self::default()
        }
    }

    fn refused(status: StatusCode, notice: impl Into<String>) -> Self {
        Self {
            status: Some(status),
            notice: Some(notice.into()),
            once: None,
        }
    }
}

/// `POST /settings`: one change, then the page with what it did.
async fn change(caller: Caller, form: Form, state: AppState) -> Reply {
    let admin = match checked_admin(&state, &caller, &form).await {
        Ok(admin) => admin,
        Err(refused) => return *refused,
    };
    let outcome = match apply(&state, &admin.name, &form).await {
        Ok(outcome) => outcome,
        Err(Error::BadRequest { message, .. }) => {
            Outcome::refused(StatusCode::BAD_REQUEST, message)
        }
        Err(Error::NotFound(message)) => Outcome::refused(StatusCode::NOT_FOUND, message),
        Err(err) => return err.into_response(),
    };
    page(&state, &admin, outcome).await
}

/// Does what the form's `action` asks.
async fn apply(state: &AppState, by: &str, form: &Form) -> Result<Outcome, Error> {
    let field = |name: &str| form.get(name).map_or("", |v| v.trim());
    match field("action") {
        "watch_branches" => {
            let value = Value::parse(Key::WatchBranches, field("value"))
                .map_err(|err| Error::bad_request("invalid_glob", err))?;
            change_setting(state, by, value, None).await
        }
        "hide_authors" => {
            let value = Value::parse(Key::HideAuthors, field("value"))
                .map_err(|err| Error::bad_request("invalid_value", err))?;
            change_setting(state, by, value, None).await
        }
        "add_target" => add_target(state, by, form).await,
        "remove_target" => remove_target(state, by, field("name")).await,
        "create_token" => create_token(state, by, form).await,
        "revoke_token" => {
            let id = field("id")
                .parse()
                .map_err(|_| Error::NotFound(format!("no token with id {}", field("id"))))?;
            let token = super::tokens::revoke(state, id, by).await?;
            Ok(Outcome::done(format!(
                "Revoked the {} token {}.",
                token.kind, token.name
            )))
        }
        "create_secret" => create_secret(state, by, field("repo")).await,
        "delete_secret" => delete_secret(state, by, field("repo")).await,
        other => Err(Error::bad_request(
            "unknown_action",
            format!("the settings page has no action {other:?}"),
        )),
    }
}

/// Stores `value`, applies it, logs it (`logged` describes it instead of its text when that holds
/// secrets); refused when a flag fixes it.
async fn change_setting(
    state: &AppState,
    by: &str,
    value: Value,
    logged: Option<String>,
) -> Result<Outcome, Error> {
    let key = value.key();
    if let Some(flag) = state.settings.fixed().by(key) {
        return Ok(Outcome::refused(
            StatusCode::CONFLICT,
            format!(
                "{} is fixed by {flag}: change the flag, or remove it to change it here",
                key.as_str()
            ),
        ));
    }
    let stored = value.stored();
    let logged = logged.unwrap_or_else(|| stored.clone());
    let (by_row, log_row) = (by.to_owned(), logged.clone());
    state
        .ingest
        .write(move |conn| {
            rows::save(
                conn,
                &rows::Save {
                    key: key.as_str(),
                    value: Some(&stored),
                    logged: Some(&log_row),
                    by: &by_row,
                    now: now(),
                },
            )
        })
        .await?;
    if let Err(flag) = state.settings.set(value) {
        // Fixed since the check above cannot happen (flags are read once at start).
        return Ok(Outcome::refused(
            StatusCode::CONFLICT,
            format!("fixed by {flag}"),
        ));
    }
    tracing::info!(by, setting = key.as_str(), value = %logged, "setting changed");
    Ok(Outcome::done(format!("Saved {}.", key.as_str())))
}

/// A comma-separated list, blanks dropped.
fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

async fn add_target(state: &AppState, by: &str, form: &Form) -> Result<Outcome, Error> {
    let field = |name: &str| form.get(name).map_or("", |v| v.trim());
    let kind: Kind = serde_json::from_value(serde_json::Value::String(field("kind").into()))
        .map_err(|_| {
            Error::bad_request(
                "invalid_kind",
                "`kind` must be slack, teams, teams-adaptive or json",
            )
        })?;
    let target = Target {
        name: field("name").to_owned(),
        kind,
        url: field("url").to_owned(),
        secret: Some(field("secret").to_owned()).filter(|s| !s.is_empty()),
        repos: list(field("repos")),
        branches: list(field("branches")),
        workflows: list(field("workflows")),
    };
    let mut targets: Vec<Target> = state.settings.current().targets.iter().cloned().collect();
    targets.push(target);
    let targets = Targets::new(targets)
        .map_err(|err| Error::bad_request("invalid_target", format!("{err:#}")))?;
    let added = targets
        .iter()
        .last()
        .map(|t| t.name.clone())
        .unwrap_or_default();
    let logged = format!("added {added}; targets: {}", names(&targets));
    change_setting(state, by, Value::NotifyTargets(targets), Some(logged)).await
}

async fn remove_target(state: &AppState, by: &str, name: &str) -> Result<Outcome, Error> {
    let current = state.settings.current();
    if current.targets.get(name).is_none() {
        return Err(Error::NotFound(format!(
            "no notification target named {name:?}"
        )));
    }
    let kept: Vec<Target> = current
        .targets
        .iter()
        .filter(|t| t.name != name)
        .cloned()
        .collect();
    let targets = Targets::new(kept).map_err(Error::Internal)?;
    let logged = format!("removed {name}; targets: {}", names(&targets));
    change_setting(state, by, Value::NotifyTargets(targets), Some(logged)).await
}

/// The targets' names, for the log (never their URLs).
fn names(targets: &Targets) -> String {
    let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// What a new token reads: `all`, `installation:<id>` (its repositories now) or `repos` (the
/// listed ones).
async fn token_repos(state: &AppState, form: &Form) -> Result<Option<Vec<String>>, Error> {
    let field = |name: &str| form.get(name).map_or("", |v| v.trim());
    match field("scope") {
        "all" => Ok(None),
        "repos" | "" => {
            let repos = list(field("repos"));
            if repos.is_empty() {
                return Err(Error::bad_request(
                    "no_repos",
                    "name the repositories the token may read (owner/name, comma-separated), or pick an installation or every repository",
                ));
            }
            Ok(Some(repos))
        }
        scope => {
            let id: i64 = scope
                .strip_prefix("installation:")
                .and_then(|id| id.parse().ok())
                .ok_or_else(|| {
                    Error::bad_request("invalid_scope", format!("no scope {scope:?}"))
                })?;
            let repos = state
                .store
                .read(move |conn| crate::store::app::installation_repos(conn, id))
                .await?;
            if repos.is_empty() {
                return Err(Error::NotFound(format!(
                    "installation {id} has no repositories here"
                )));
            }
            Ok(Some(repos))
        }
    }
}

async fn create_token(state: &AppState, by: &str, form: &Form) -> Result<Outcome, Error> {
    let name = form.get("name").map_or("", |v| v.trim());
    let kind = form.get("kind").map_or("display", |v| v.trim());
    let repos = token_repos(state, form).await?;
    super::tokens::check_new(name, Some(kind), repos.as_deref())?;
    let (secret, info) = super::tokens::create(state, name, kind, repos, by).await?;
    Ok(Outcome {
        status: Some(StatusCode::CREATED),
        notice: Some(format!("Created the {} token {}.", info.kind, info.name)),
        once: Some(ShownOnce {
            label: format!("{} token {}", info.kind, info.name),
            secret,
        }),
    })
}

/// The hash a telemetry secret is stored and found by.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

async fn create_secret(state: &AppState, by: &str, repo: &str) -> Result<Outcome, Error> {
    if !crate::github::event::valid_full_name(repo) {
        return Err(Error::bad_request(
            "invalid_repo",
            "name the repository as owner/name",
        ));
    }
    let secret = format!("{SECRET_PREFIX}{}", oauth::random_token(32));
    let (hash, repo_row, by_row) = (secret_hash(&secret), repo.to_owned(), by.to_owned());
    let made = state
        .ingest
        .write(move |conn| {
            let made = rows::set_telemetry_secret(conn, &repo_row, &hash, &by_row, now())?;
            if made {
                rows::log_change(
                    conn,
                    "telemetry_secret.create",
                    Some(&repo_row),
                    &by_row,
                    now(),
                )?;
            }
            Ok(made)
        })
        .await?;
    if !made {
        return Err(Error::NotFound(format!(
            "no repository {repo} on this board"
        )));
    }
    tracing::info!(by, repo, "telemetry secret created");
    Ok(Outcome {
        status: Some(StatusCode::CREATED),
        notice: Some(format!("Created a telemetry secret for {repo}.")),
        once: Some(ShownOnce {
            label: format!("telemetry secret for {repo}"),
            secret,
        }),
    })
}

async fn delete_secret(state: &AppState, by: &str, repo: &str) -> Result<Outcome, Error> {
    let (repo_row, by_row) = (repo.to_owned(), by.to_owned());
    let deleted = state
        .ingest
        .write(move |conn| {
            let deleted = rows::delete_telemetry_secret(conn, &repo_row)?;
            if deleted {
                rows::log_change(
                    conn,
                    "telemetry_secret.delete",
                    Some(&repo_row),
                    &by_row,
                    now(),
                )?;
            }
            Ok(deleted)
        })
        .await?;
    if !deleted {
        return Err(Error::NotFound(format!("{repo} has no telemetry secret")));
    }
    tracing::info!(by, repo, "telemetry secret deleted");
    Ok(Outcome::done(format!(
        "Deleted the telemetry secret of {repo}."
    )))
}

/// The page, with what the last form did.
async fn page(state: &AppState, admin: &Admin, outcome: Outcome) -> Reply {
    let read = state
        .store
        .read(|conn| {
            Ok((
                crate::store::tokens::list(conn)?,
                rows::installations(conn)?,
                rows::repo_names(conn)?,
                rows::telemetry_secrets(conn)?,
                rows::log(conn, LOG_ROWS)?,
            ))
        })
        .await;
    let (tokens, installations, repos, secrets, log) = match read {
        Ok(read) => read,
        Err(err) => return Error::from(err).into_response(),
    };
    let current = state.settings.current();
    let fixed = state.settings.fixed();
    let model = SettingsView {
        who: admin.name.clone(),
        csrf: admin
            .csrf_basis
            .as_deref()
            .map(|basis| state.act.csrf_for(basis))
            .unwrap_or_default(),
        notice: outcome.notice,
        shown_once: outcome.once,
        watch_branches: view::Setting {
            value: current.watched.globs().join(", "),
            fixed_by: fixed.by(Key::WatchBranches),
        },
        hide_authors: view::Setting {
            value: current.privacy.hide_authors.to_string(),
            fixed_by: fixed.by(Key::HideAuthors),
        },
        targets_fixed_by: fixed.by(Key::NotifyTargets),
        targets: current.targets.iter().map(target_row).collect(),
        tokens,
        installations,
        repos,
        secrets,
        log,
        token_session: admin.token_session,
    };
    match view::settings(&model) {
        Ok(html) => warp::reply::with_status(
            warp::reply::html(html),
            outcome.status.unwrap_or(StatusCode::OK),
        )
        .into_response(),
        Err(err) => Error::Internal(err.into()).into_response(),
    }
}

fn target_row(target: &Target) -> view::TargetRow {
    let mut filters = Vec::new();
    for (label, items) in [
        ("repos", &target.repos),
        ("branches", &target.branches),
        ("workflows", &target.workflows),
    ] {
        if !items.is_empty() {
            filters.push(format!("{label}: {}", items.join(", ")));
        }
    }
    view::TargetRow {
        name: target.name.clone(),
        kind: target.kind.as_str(),
        url: view::mask_url(&target.url),
        filters: if filters.is_empty() {
            "every transition".into()
        } else {
            filters.join("; ")
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_drop_blanks_and_secrets_hash_to_hex() {
        assert_eq!(
            list(" a/b, ,c/d,"),
            vec!["a/b".to_owned(), "c/d".to_owned()]
        );
        assert_eq!(secret_hash("x").len(), 64);
    }
}
