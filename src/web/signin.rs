//! Sign in with GitHub: `/login`, `/auth/callback`, `/logout`, the server-side [`Sessions`], and
//! the `--access github` [`gate`].
//!
//! `/login` remembers a random `state` and a PKCE verifier server-side (ten minutes, used once) and
//! sends the browser to GitHub's authorisation page with the state and the S256 challenge. The
//! callback finds the state (constant-time comparison), trades the code and the verifier for a
//! user token, asks GitHub who the person is and which repositories they may read through the App,
//! and creates a session: a random id in an `HttpOnly`, `SameSite=Lax` cookie (`Secure` when the
//! public URL is https); the database keeps only the id's SHA-256, with the user token, its refresh
//! token and expiry. [`Sessions::lookup`] refreshes a user token that is about to expire (they last
//! 8 hours) and ends the session when GitHub refuses (the authorisation was revoked); it keeps each
//! session's repositories, and which of them the person may write to (re-run, cancel, dispatch
//! as themselves, see `web::act`), for [`SCOPE_TTL`]. `GET /logout` only shows a form; its `POST`
//! (with the session's CSRF token, the operators' scheme of `web::act`) ends the session and
//! closes its open feed sockets ([`Sessions::ended`]).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cookie::{Cookie, SameSite};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use warp::http::{header, StatusCode};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use super::setup::message;
use super::{with_state, AppState};
use crate::config::AccessMode;
use crate::github::app::GitHubApp;
use crate::github::oauth::{self, ClientCreds};
use crate::ingest::Ingest;
use crate::secret::Secret;
use crate::store::app::SessionRow;
use crate::store::Store;

/// The session cookie.
pub const SESSION_COOKIE: &str = "buildboard_session";
/// How long a session's repositories are kept before GitHub is asked again.
pub const SCOPE_TTL: Duration = Duration::from_secs(3 * 60);
/// How long a sign-in may take between `/login` and the callback.
const PENDING_TTL: Duration = Duration::from_secs(10 * 60);
/// Sign-ins under way at once, at most (older ones are dropped).
const MAX_PENDING: usize = 10_000;
/// A user token this close to its expiry is refreshed first.
const REFRESH_BEFORE: i64 = 120;
/// How long the browser keeps the session cookie.
const COOKIE_DAYS: i64 = 30;
/// Largest sign-out form accepted.
const LOGOUT_FORM_BYTES: u64 = 1024;

/// A signed-in person, as a request sees them.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// Their GitHub login.
    pub login: String,
    /// The repositories (`owner/name`) they may read through the App.
    pub repos: Arc<BTreeSet<String>>,
    /// Those of [`SignedIn::repos`] they may write to (GitHub's `permissions`), asked again with
    /// them every [`SCOPE_TTL`].
    pub writable: Arc<BTreeSet<String>>,
    /// Their user token, to act as themselves.
    pub user_token: Secret,
}

struct Pending {
    verifier: String,
    return_to: String,
    at: Instant,
}

struct Cached {
    signed_in: SignedIn,
    expires_at: Option<i64>,
    at: Instant,
}

/// Server-side sessions; cheap to clone.
#[derive(Clone)]
pub struct Sessions(Arc<Inner>);

struct Inner {
    store: Store,
    ingest: Ingest,
    app: GitHubApp,
    github_url: String,
    pending: Mutex<HashMap<String, Pending>>,
    cache: Mutex<HashMap<String, Cached>>,
    /// Cancelled when a session ends, by its id's hash, with its login: its open feed sockets
    /// close. An entry is made by the first socket that asks ([`Sessions::ended`]).
    ended: Mutex<HashMap<String, (String, CancellationToken)>>,
}

/// The SHA-256 of a session id, hex: what the database keeps.
fn id_hash(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

impl Sessions {
    pub fn new(store: Store, ingest: Ingest, app: GitHubApp, github_url: &str) -> Self {
        Self(Arc::new(Inner {
            store,
            ingest,
            app,
            github_url: github_url.trim_end_matches('/').to_owned(),
            pending: Mutex::new(HashMap::new()),
            cache: Mutex::new(HashMap::new()),
            ended: Mutex::new(HashMap::new()),
        }))
    }

    fn creds(&self) -> Option<(String, Secret)> {
        self.0
            .app
            .credentials()
            .map(|c| (c.client_id.clone(), c.client_secret.clone()))
    }

    /// The person behind `session_id` (the cookie's value), refreshing what needs it; `None` for
    /// an unknown, ended or revoked session.
    pub async fn lookup(&self, session_id: &str) -> Option<SignedIn> {
        let hash = id_hash(session_id);
        let now = super::now();
        if let Some(cached) = self.0.cache.lock().expect("cache lock").get(&hash) {
            let fresh = cached.expires_at.is_none_or(|at| at - now > REFRESH_BEFORE);
            if fresh && cached.at.elapsed() < SCOPE_TTL {
                return Some(cached.signed_in.clone());
            }
        }
        let key = hash.clone();
        let row = self
            .0
            .store
            .read(move |conn| crate::store::app::load_session(conn, &key))
            .await
            .ok()??;
        match self.refresh_scope(&hash, row).await {
            Some(signed_in) => Some(signed_in),
            None => {
                self.end(&hash).await;
                None
            }
        }
    }

    /// Refreshes the token when it is about to expire, then the repositories; `None` when GitHub
    /// refuses either (the session must end).
    async fn refresh_scope(&self, hash: &str, mut row: SessionRow) -> Option<SignedIn> {
        let (client_id, client_secret) = self.creds()?;
        let http = self.0.app.http();
        let now = super::now();
        if row.expires_at.is_some_and(|at| at - now <= REFRESH_BEFORE) {
            let refresh_token = row.refresh_token.clone()?;
            let creds = ClientCreds {
                client_id: &client_id,
                client_secret: &client_secret,
            };
            match oauth::refresh(http, &self.0.github_url, &creds, &refresh_token).await {
                Ok(token) => {
                    tracing::info!(login = %row.login, "refreshed a user token");
                    row.user_token = token.access_token;
                    row.refresh_token = token.refresh_token.or(row.refresh_token);
                    row.expires_at = token.expires_at;
                    self.save(hash, &row).await.ok()?;
                }
                Err(err) => {
                    tracing::info!(login = %row.login, cause = %err, "session ended: GitHub refused to refresh its token");
                    return None;
                }
            }
        }
        let repos = match oauth::user_repos(http, self.0.app.api_url(), &row.user_token).await {
            Ok(repos) => repos,
            Err(err) => {
                tracing::info!(login = %row.login, cause = %err, "session ended: GitHub refused its user token");
                return None;
            }
        };
        let signed_in = SignedIn {
            login: row.login.clone(),
            repos: Arc::new(repos.readable),
            writable: Arc::new(repos.writable),
            user_token: row.user_token.clone(),
        };
        self.0.cache.lock().expect("cache lock").insert(
            hash.to_owned(),
            Cached {
                signed_in: signed_in.clone(),
                expires_at: row.expires_at,
                at: Instant::now(),
            },
        );
        Some(signed_in)
    }

    async fn save(&self, hash: &str, row: &SessionRow) -> Result<(), super::Error> {
        let (hash, row) = (hash.to_owned(), row.clone());
        self.0
            .ingest
            .write(move |conn| crate::store::app::save_session(conn, &hash, &row, super::now()))
            .await?;
        Ok(())
    }

    /// Cancelled when the session of `session_id` (the cookie's value), signed in as `login`,
    /// ends: at logout, when GitHub refuses its token, or when its authorisation is revoked.
    pub fn ended(&self, session_id: &str, login: &str) -> CancellationToken {
        let mut ended = self.0.ended.lock().expect("ended lock");
        // Sessions whose sockets all closed leave entries behind; an ended one is dropped.
        ended.retain(|_, (_, token)| !token.is_cancelled());
        ended
            .entry(id_hash(session_id))
            .or_insert_with(|| (login.to_owned(), CancellationToken::new()))
            .1
            .clone()
    }

    /// Closes the feed sockets of every session of `login` (their rows are deleted by the
    /// caller): the person's authorisation was revoked.
    pub fn end_all_of(&self, login: &str) {
        self.forget_scopes();
        let ended = self.0.ended.lock().expect("ended lock");
        for (who, token) in ended.values() {
            if who.eq_ignore_ascii_case(login) {
                token.cancel();
            }
        }
    }

    async fn end(&self, hash: &str) {
        self.0.cache.lock().expect("cache lock").remove(hash);
        if let Some((_, token)) = self.0.ended.lock().expect("ended lock").remove(hash) {
            token.cancel();
        }
        let hash = hash.to_owned();
        let deleted = self
            .0
            .ingest
            .write(move |conn| crate::store::app::delete_session(conn, &hash))
            .await;
        if let Err(err) = deleted {
            tracing::warn!(cause = %err, "could not delete a session");
        }
    }

    /// Forgets every session's cached repositories (an installation's repositories changed).
    pub fn forget_scopes(&self) {
        self.0.cache.lock().expect("cache lock").clear();
    }

    fn remember(&self, state: &str, pending: Pending) {
        let mut all = self.0.pending.lock().expect("pending lock");
        all.retain(|_, p| p.at.elapsed() < PENDING_TTL);
        if all.len() >= MAX_PENDING {
            all.clear();
        }
        all.insert(state.to_owned(), pending);
    }

    /// Takes the sign-in started with `state` (constant-time comparison; each works once).
    fn take(&self, state: &str) -> Option<Pending> {
        let mut all = self.0.pending.lock().expect("pending lock");
        let key = all
            .keys()
            .find(|key| crate::secret::same(key, state))
            .cloned()?;
        all.remove(&key).filter(|p| p.at.elapsed() < PENDING_TTL)
    }
}

/// Who may read, now: `--access`, else `github` once an App is configured, else `public`.
pub fn access_mode(state: &AppState) -> AccessMode {
    state
        .config
        .access
        .unwrap_or(if state.github_app.credentials().is_some() {
            AccessMode::Github
        } else {
            AccessMode::Public
        })
}

/// `/login`, `/auth/callback`, `/logout`.
pub fn routes(state: AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let login = super::page_get(warp::path!("login"), &state).map(start_sign_in);
    let callback = super::page_get(warp::path!("auth" / "callback"), &state).then(finish_sign_in);
    // A GET never signs out (a cross-site image could send one): it shows the form to confirm.
    let confirm = warp::path!("logout")
        .and(warp::get())
        .and(warp::cookie::optional::<String>(SESSION_COOKIE))
        .and(with_state(state.clone()))
        .map(confirm_sign_out);
    let logout =
        warp::path!("logout")
            .and(warp::post())
            .and(warp::cookie::optional::<String>(SESSION_COOKIE))
            .and(super::settings::form_origin())
            .and(warp::body::content_length_limit(LOGOUT_FORM_BYTES))
            .and(warp::body::stream())
            .and(with_state(state))
            .then(
                |cookie: Option<String>,
                 origin: super::settings::FormOrigin,
                 body,
                 state: AppState| async move {
                    let form =
                        super::body::read_small(body, LOGOUT_FORM_BYTES, state.config.body_timeout)
                            .await;
                    match form {
                        Ok(form) => sign_out(cookie, &origin, &form, state).await,
                        Err(err) => err.into_response(),
                    }
                },
            );
    login
        .or(callback)
        .unify()
        .or(confirm)
        .unify()
        .or(logout)
        .unify()
        .with(warp::reply::with::header(header::CACHE_CONTROL, "no-store"))
}

/// Where GitHub sends the browser back to.
fn redirect_uri(state: &AppState, host: Option<&str>) -> String {
    format!("{}/auth/callback", super::setup::public_url(state, host))
}

/// A path on this board to return to: `/...` but not `//host`.
fn local_path(path: Option<&String>) -> String {
    match path {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path.clone()
        }
        _ => "/".to_owned(),
    }
}

fn see_other(location: &str) -> Response {
    warp::reply::with_status(
        warp::reply::with_header(warp::reply(), header::LOCATION, location),
        StatusCode::SEE_OTHER,
    )
    .into_response()
}

fn start_sign_in(
    query: HashMap<String, String>,
    host: Option<String>,
    state: AppState,
) -> Response {
    let Some((client_id, _)) = state.sessions.creds() else {
        return message(
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-in is not set up",
            "Signing in with GitHub needs the board's GitHub App: an admin sets it up at /setup.",
            "",
            "",
        );
    };
    let sign_in_state = oauth::random_token(24);
    let verifier = oauth::random_token(32);
    let url = oauth::authorize_url(
        &state.config.github_url,
        &client_id,
        &redirect_uri(&state, host.as_deref()),
        &sign_in_state,
        &verifier,
    );
    state.sessions.remember(
        &sign_in_state,
        Pending {
            verifier,
            return_to: local_path(query.get("return_to")),
            at: Instant::now(),
        },
    );
    see_other(&url)
}

fn refused(text: &str) -> Response {
    message(
        StatusCode::BAD_REQUEST,
        "Sign-in failed",
        text,
        "/login",
        "Sign in again",
    )
}

async fn finish_sign_in(
    query: HashMap<String, String>,
    host: Option<String>,
    state: AppState,
) -> Response {
    let given = query.get("state").map_or("", String::as_str);
    let Some(pending) = state.sessions.take(given) else {
        tracing::warn!("sign-in refused: unknown, expired or replayed state");
        return refused("This sign-in link is not one this board started, or it was already used or has expired.");
    };
    let Some(code) = query.get("code").filter(|c| !c.is_empty()) else {
        return refused("GitHub's answer has no code (was the authorisation declined?).");
    };
    let Some((client_id, client_secret)) = state.sessions.creds() else {
        return refused("Sign-in is not set up.");
    };
    let http = state.github_app.http();
    let creds = ClientCreds {
        client_id: &client_id,
        client_secret: &client_secret,
    };
    let redirect = redirect_uri(&state, host.as_deref());
    let github_url = &state.config.github_url;
    let token =
        match oauth::exchange(http, github_url, &creds, code, &pending.verifier, &redirect).await {
            Ok(token) => token,
            Err(err) => {
                tracing::warn!(cause = %err, "sign-in refused by GitHub");
                return refused(
                    "GitHub refused the sign-in (the code or the PKCE verifier did not match).",
                );
            }
        };
    let login = match oauth::user_login(http, state.github_app.api_url(), &token.access_token).await
    {
        Ok(login) => login,
        Err(err) => {
            tracing::warn!(cause = %err, "sign-in: GitHub did not say who signed in");
            return refused("GitHub did not say who signed in.");
        }
    };
    let session_id = oauth::random_token(32);
    let row = SessionRow {
        login: login.clone(),
        user_token: token.access_token,
        refresh_token: token.refresh_token,
        expires_at: token.expires_at,
    };
    if let Err(err) = state.sessions.save(&id_hash(&session_id), &row).await {
        return err.into_response();
    }
    tracing::info!(login = %login, "signed in with GitHub");
    let secure = state
        .config
        .public_url
        .as_ref()
        .is_some_and(|url| url.origin().starts_with("https://"));
    let cookie = Cookie::build((SESSION_COOKIE, session_id))
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .max_age(cookie::time::Duration::days(COOKIE_DAYS))
        .build();
    let mut response = see_other(&pending.return_to);
    if let Ok(value) = header::HeaderValue::from_str(&cookie.to_string()) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// `GET /logout`: the form that signs out (with the session's CSRF token), or a page that says
/// nobody is signed in here.
fn confirm_sign_out(cookie: Option<String>, state: AppState) -> Response {
    match cookie {
        Some(id) => {
            let csrf = state.act.csrf_for(&id);
            match crate::views::settings::logout(&csrf) {
                Ok(html) => warp::reply::html(html).into_response(),
                Err(err) => super::Error::Internal(err.into()).into_response(),
            }
        }
        None => message(
            StatusCode::OK,
            "Not signed in",
            "This browser is not signed in to the board.",
            "/login",
            "Sign in",
        ),
    }
}

/// `POST /logout` from the form of `GET /logout`: its CSRF token and `Origin` are checked (the
/// session cookie is `SameSite=Lax`, which a cross-site POST does not carry, but older browsers
/// do), then the session ends and its open feed sockets close.
async fn sign_out(
    cookie: Option<String>,
    origin: &super::settings::FormOrigin,
    form: &[u8],
    state: AppState,
) -> Response {
    if let Some(id) = cookie {
        let given = form_urlencoded::parse(form)
            .find(|(name, _)| name == "csrf")
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default();
        let csrf_ok = crate::secret::same(&given, &state.act.csrf_for(&id));
        if !csrf_ok || !origin.is_own(&state.hosts) {
            tracing::info!(
                csrf = !given.is_empty(),
                "sign-out refused: cross-site or without its CSRF token"
            );
            return message(
                StatusCode::FORBIDDEN,
                "Sign-out refused",
                "This sign-out did not come from this board's own page.",
                "/logout",
                "Sign out from the board",
            );
        }
        state.sessions.end(&id_hash(&id)).await;
        tracing::info!("signed out");
    }
    let expired = Cookie::build((SESSION_COOKIE, ""))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .max_age(cookie::time::Duration::ZERO)
        .build();
    let mut response = message(
        StatusCode::OK,
        "Signed out",
        "You are signed out of the board.",
        "/login",
        "Sign in again",
    );
    if let Ok(value) = header::HeaderValue::from_str(&expired.to_string()) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// A read refused by `--access github` for want of a session.
#[derive(Debug)]
pub struct SignInRequired {
    /// The path asked for, to come back to after signing in.
    return_to: String,
    /// An API or feed request (answered 401 JSON) rather than a page (redirected to /login).
    api: bool,
}

impl SignInRequired {
    /// A refusal of `path`: an API, feed or `cc.xml` request is answered 401 JSON, a page is
    /// redirected to `/login`.
    pub fn new(path: &str) -> Self {
        let api = path.starts_with("/api") || path == "/ws" || path.ends_with(".xml");
        Self {
            return_to: path.to_owned(),
            api,
        }
    }
}

impl warp::reject::Reject for SignInRequired {}

/// Answers [`SignInRequired`]; passes every other rejection on.
///
/// # Errors
/// The rejection itself when it is not [`SignInRequired`].
pub async fn recover(err: Rejection) -> Result<Response, Rejection> {
    let Some(required) = err.find::<SignInRequired>() else {
        return Err(err);
    };
    if required.api {
        let reply = super::error::json_error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "sign in with GitHub at /login (a browser), or send Authorization: Bearer <admin token>",
        );
        return Ok(reply.into_response());
    }
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("return_to", &required.return_to)
        .finish();
    Ok(see_other(&format!("/login?{query}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_returned_to() {
        assert_eq!(local_path(Some(&"/wall?x=1".to_owned())), "/wall?x=1");
        assert_eq!(local_path(Some(&"//evil.example".to_owned())), "/");
        assert_eq!(local_path(Some(&"https://evil.example".to_owned())), "/");
        assert_eq!(local_path(None), "/");
    }
}
