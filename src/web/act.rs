//! Acting from the board: operators, and people signed in with GitHub, re-run and cancel GitHub
//! Actions runs.
//!
//! - A person signed in with GitHub (`web::signin`) acts as themselves: only on a repository
//!   GitHub says they may write to (the `permissions` of their installations' repositories, asked
//!   with their user token and kept with their session for a few minutes), and with their own user
//!   token, so GitHub checks and records who acted. Anyone else signed in gets `403
//!   no_write_access`, and the board's script offers them no button (`GET /api/operator` lists the
//!   repositories they may write to). A run of a repository they may not read is answered as one
//!   that does not exist.
//! - Operators hold `--operator-token` (`name:token`, comma-separated; a bare token is named
//!   "operator"). A browser signs in at `/operator` (a form that POSTs the token) and gets the
//!   cookie `buildboard_operator`: an HMAC of the token, `HttpOnly; SameSite=Strict`. Tools send
//!   `Authorization: Bearer <operator token>`. The board token (a TV's) never acts.
//! - `POST /api/runs/<id>/rerun-failed-jobs`, `/rerun` and `/cancel` ask GitHub for the same on
//!   the run's repository, with `--github-token` for an operator, with their own token for a
//!   person. Only runs of GitHub Actions can be acted on.
//! - Against cross-site requests, a request that rides on a cookie (the operator's, or the
//!   sign-in session's) must also carry `X-CSRF-Token`: an HMAC, under a key drawn at start, of
//!   that cookie, which only a page of the board can read (from `GET /api/operator`); and a browser's `Origin` and
//!   `Sec-Fetch-Site` must name the board itself. A bearer token needs neither: browsers never
//!   add one on their own. A reader's own `POST`s, which read rather than act (the model analysis
//!   of `web::analysis`), are held to the same rule, with a token bound to the reader's cookies
//!   (`reader_csrf`, `check_reader_post`).
//! - The actions have their own per-IP budget (`--action-rate-limit` a minute), sign-in attempts
//!   included. Each action is logged with who, what and GitHub's answer.
//! - The run's new state arrives by webhook as any other change does.
//!
//! Tokens are compared with `secret::same`, the one constant-time comparison.

use std::sync::Arc;
use std::time::Duration;

use cookie::SameSite;
use rand::RngCore;
use serde_json::json;
use warp::http::header::{CACHE_CONTROL, LOCATION, SET_COOKIE};
use warp::http::{Response, StatusCode};
use warp::Reply as _;
use warp::{Filter, Rejection};

use super::access::{mac_hex, set_cookie};
use super::error::json_error;
use super::host::Hosts;
use super::limit::Limiter;
use super::signin::{SignedIn, SESSION_COOKIE};
use super::{with_state, AppState};
use crate::github::client::{self, Client};
use crate::github::person;
use crate::secret::same;
use crate::secret::Secret;
use crate::store::model::Run;
use crate::views::SignIn;
use reqwest::Method;

/// Every answer here.
type Reply = warp::reply::Response;

/// The cookie a signed-in operator's browser carries.
pub const COOKIE: &str = "buildboard_operator";
/// The header the board's pages send the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// What the cookie's HMAC is computed over, with the operator's token as the key.
const COOKIE_CONTEXT: &[u8] = b"buildboard operator cookie v1";
/// How long an operator stays signed in: a working week and then some.
const COOKIE_MAX_AGE: cookie::time::Duration = cookie::time::Duration::days(8);
/// The name a bare operator token is logged under.
const UNNAMED: &str = "operator";
/// How long an action waits for the GitHub client (the reconciler may hold it).
const GITHUB_QUEUE: Duration = Duration::from_secs(10);
/// Largest sign-in form accepted.
const MAX_FORM_BYTES: u64 = 4096;

/// What an operator can ask GitHub to do with a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    RerunFailedJobs,
    Rerun,
    Cancel,
}

impl Action {
    /// The last segment of the URL, here and on GitHub.
    pub fn parse(segment: &str) -> Option<Self> {
        Some(match segment {
            "rerun-failed-jobs" => Self::RerunFailedJobs,
            "rerun" => Self::Rerun,
            "cancel" => Self::Cancel,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RerunFailedJobs => "rerun-failed-jobs",
            Self::Rerun => "rerun",
            Self::Cancel => "cancel",
        }
    }
}

struct Operator {
    name: String,
    token: Secret,
    /// The value the operator's browser's cookie holds.
    cookie: String,
}

/// Who may act, and with what; cheap to clone.
#[derive(Clone)]
pub struct Act(Arc<Inner>);

struct Inner {
    /// Empty: acting is off.
    operators: Vec<Operator>,
    /// Key of the CSRF tokens, drawn at start (a restart asks open pages to reload).
    csrf_key: [u8; 32],
    github: Option<Arc<Client>>,
    limit: Limiter,
}

impl Default for Act {
    fn default() -> Self {
        Self::new(None, None, 0).expect("no tokens parse")
    }
}

impl Act {
    /// Operators from `--operator-token` (`name:token,...`), acting through `github`, each client
    /// IP asking at most `per_minute` times a minute.
    ///
    /// # Errors
    /// A message naming the problem when the tokens do not parse (an empty token or name).
    pub fn new(
        tokens: Option<&Secret>,
        github: Option<Arc<Client>>,
        per_minute: u32,
    ) -> Result<Self, String> {
        let mut operators = Vec::new();
        for entry in tokens
            .map(|tokens| {
                tokens
                    .expose()
                    .split(',')
                    .map(str::trim)
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
        {
            if entry.is_empty() {
                continue;
            }
            let (name, token) = match entry.split_once(':') {
                Some((name, token)) => (name.trim(), token.trim()),
                None => (UNNAMED, entry),
            };
            let valid_name = !name.is_empty()
                && name.len() <= 64
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'));
            if !valid_name {
                return Err(
                    "an --operator-token entry's name (before `:`) must be letters, \
                            digits, `-`, `_`, `.` or `@`"
                        .into(),
                );
            }
            if token.is_empty() {
                return Err(format!("the --operator-token of {name} is empty"));
            }
            operators.push(Operator {
                name: name.to_owned(),
                cookie: mac_hex(token.as_bytes(), COOKIE_CONTEXT),
                token: Secret::new(token),
            });
        }
        let mut csrf_key = [0u8; 32];
        rand::rng().fill_bytes(&mut csrf_key);
        Ok(Self(Arc::new(Inner {
            operators,
            csrf_key,
            github,
            limit: Limiter::per_minute("actions", per_minute),
        })))
    }

    /// The per-IP budget of actions (claims share it).
    pub(crate) fn limiter(&self) -> &Limiter {
        &self.0.limit
    }

    /// Whether any operator token is configured.
    pub fn is_on(&self) -> bool {
        !self.0.operators.is_empty()
    }

    /// The operator whose `pick` equals `given`; every operator is compared, so timing does not
    /// tell which came close.
    fn find(&self, given: &str, pick: impl Fn(&Operator) -> &str) -> Option<&str> {
        let mut found = None;
        for operator in &self.0.operators {
            if same(given, pick(operator)) && found.is_none() {
                found = Some(operator.name.as_str());
            }
        }
        found
    }

    fn by_token(&self, given: &str) -> Option<&str> {
        self.find(given, |operator| operator.token.expose())
    }

    fn by_cookie(&self, value: &str) -> Option<&str> {
        self.find(value, |operator| &operator.cookie)
    }

    /// The CSRF token of the session whose cookie holds `cookie`: the operators' here, and the
    /// settings page's (`web::settings`), one scheme for both.
    pub(crate) fn csrf_for(&self, cookie: &str) -> String {
        let mut message = b"buildboard csrf v1 ".to_vec();
        message.extend_from_slice(cookie.as_bytes());
        mac_hex(&self.0.csrf_key, &message)
    }
}

/// The headers a request is judged by.
#[derive(Debug, Default)]
pub(crate) struct Caller {
    cookie: Option<String>,
    /// The sign-in session's cookie (`web::signin`).
    session: Option<String>,
    /// The board token's cookie (`web::access`): a reader's, which never acts, but binds the
    /// CSRF token of a reader's own requests ([`reader_csrf`]).
    reader: Option<String>,
    authorization: Option<String>,
    csrf: Option<String>,
    origin: Option<String>,
    fetch_site: Option<String>,
    host: Option<String>,
}

/// The headers of a request that may act.
pub(crate) fn caller() -> impl Filter<Extract = (Caller,), Error = Rejection> + Clone {
    warp::cookie::optional::<String>(COOKIE)
        .and(warp::cookie::optional::<String>(SESSION_COOKIE))
        .and(warp::cookie::optional::<String>(super::access::COOKIE))
        .and(warp::header::optional::<String>("authorization"))
        .and(warp::header::optional::<String>(CSRF_HEADER))
        .and(warp::header::optional::<String>("origin"))
        .and(warp::header::optional::<String>("sec-fetch-site"))
        .and(warp::header::optional::<String>("host"))
        .map(
            |cookie, session, reader, authorization, csrf, origin, fetch_site, host| Caller {
                cookie,
                session,
                reader,
                authorization,
                csrf,
                origin,
                fetch_site,
                host,
            },
        )
}

impl Caller {
    /// Whether a browser says the request comes from a page of this board. Clients that are not
    /// browsers send neither header and pass (they still need the CSRF token with the cookie).
    fn same_origin(&self, hosts: &Hosts) -> bool {
        same_origin(
            hosts,
            self.origin.as_deref(),
            self.fetch_site.as_deref(),
            self.host.as_deref(),
        )
    }
}

/// Whether a browser's `Origin` and `Sec-Fetch-Site` say a request comes from a page of this
/// board (either header absent passes: clients that are not browsers send neither); used by
/// the operators' actions here and by the settings page's forms.
pub(crate) fn same_origin(
    hosts: &Hosts,
    origin: Option<&str>,
    fetch_site: Option<&str>,
    host: Option<&str>,
) -> bool {
    let site_ok = fetch_site.is_none_or(|site| site == "same-origin");
    let origin_ok = origin.is_none_or(|origin| hosts.is_own_origin(origin, host));
    site_ok && origin_ok
}

/// Who acts: an operator, with the server's token, or a signed-in person, with their own.
pub(crate) enum Actor {
    /// An operator, by name (`--operator-token`).
    Operator(String),
    /// A person signed in with GitHub: acts only where GitHub lets them write.
    Person(SignedIn),
}

impl Actor {
    /// The name the logs and claims know them by.
    pub(crate) fn name(&self) -> &str {
        match self {
            Self::Operator(name) => name,
            Self::Person(person) => &person.login,
        }
    }

    /// Whether they may read `repo`: an operator reads every repository on the board.
    pub(crate) fn may_read(&self, repo: &str) -> bool {
        match self {
            Self::Operator(_) => true,
            Self::Person(person) => contains(&person.repos, repo),
        }
    }

    /// Whether they may change runs of `repo` on GitHub: an operator acts with the server's token
    /// (GitHub decides), a person where GitHub says they may write.
    pub(crate) fn may_write(&self, repo: &str) -> bool {
        match self {
            Self::Operator(_) => true,
            Self::Person(person) => may_write(person, repo),
        }
    }
}

/// Whether `person` may write to `repo`, as GitHub said at their last look-up.
pub(crate) fn may_write(person: &SignedIn, repo: &str) -> bool {
    contains(&person.writable, repo)
}

/// Whether `names` holds `repo` (GitHub's names ignore case).
fn contains(names: &std::collections::BTreeSet<String>, repo: &str) -> bool {
    names.iter().any(|name| name.eq_ignore_ascii_case(repo))
}

/// The answer to a request whose CSRF token or origin is wrong, when one rides on a cookie.
fn check_csrf(act: &Act, hosts: &Hosts, caller: &Caller, bound: &str) -> Result<(), Box<Reply>> {
    let csrf_ok = caller
        .csrf
        .as_deref()
        .is_some_and(|given| same(given, &act.csrf_for(bound)));
    if csrf_ok && caller.same_origin(hosts) {
        return Ok(());
    }
    tracing::info!(
        origin = ?caller.origin,
        fetch_site = ?caller.fetch_site,
        csrf = caller.csrf.is_some(),
        "refused an action: cross-site request or missing CSRF token"
    );
    Err(Box::new(json_error(
        StatusCode::FORBIDDEN,
        "cross_site",
        "refused: this request did not come from a page of this board (the X-CSRF-Token \
         header is missing or wrong, or the Origin is another site's); reload the board and \
         try again",
    )))
}

/// What a reader's CSRF token is bound to: every cookie the request rides on (none on an open
/// board, where no credential rides either and the origin check alone stands).
fn reader_binding(caller: &Caller) -> String {
    let cookie = |value: &Option<String>| value.clone().unwrap_or_default();
    format!(
        "reader {}|{}|{}",
        cookie(&caller.reader),
        cookie(&caller.session),
        cookie(&caller.cookie)
    )
}

/// The CSRF token a page sends with a reader's own `POST` (one that reads, not acts: the model
/// analysis of `web::analysis`), in the operators' scheme.
pub(crate) fn reader_csrf(act: &Act, caller: &Caller) -> String {
    act.csrf_for(&reader_binding(caller))
}

/// The answer that refuses a reader's `POST` from another site: it must carry [`reader_csrf`]
/// and come from a page of this board, unless it carries `Authorization` (a tool's token, which
/// browsers never add on their own).
pub(crate) fn check_reader_post(state: &AppState, caller: &Caller) -> Result<(), Box<Reply>> {
    if caller.authorization.is_some() {
        return Ok(());
    }
    check_csrf(&state.act, &state.hosts, caller, &reader_binding(caller))
}

/// What a session's CSRF token is bound to (apart from an operator cookie's).
fn session_binding(session: &str) -> String {
    format!("session {session}")
}

/// Who is acting (an operator's token or cookie, else a signed-in session), or the answer that
/// refuses.
pub(crate) async fn authenticate(state: &AppState, caller: &Caller) -> Result<Actor, Box<Reply>> {
    let act = &state.act;
    let people = state.github_app.credentials().is_some();
    if !act.is_on() && !people {
        return Err(Box::new(json_error(
            StatusCode::FORBIDDEN,
            "acting_off",
            "acting from the board is off: start the server with --operator-token, or set up \
             the GitHub App (/setup) so that people sign in and act as themselves",
        )));
    }
    if let Some(given) = caller
        .authorization
        .as_deref()
        .and_then(|value| value.strip_prefix("Bearer "))
    {
        return act
            .by_token(given)
            .map(|name| Actor::Operator(name.to_owned()))
            .ok_or_else(|| {
                Box::new(json_error(
                    StatusCode::FORBIDDEN,
                    "not_an_operator",
                    "this token may not act (the board token only reads): send an operator \
                     token, or sign in with GitHub",
                ))
            });
    }
    if let Some((name, cookie)) = caller
        .cookie
        .as_deref()
        .and_then(|c| act.by_cookie(c).map(|name| (name, c)))
    {
        check_csrf(act, &state.hosts, caller, cookie)?;
        return Ok(Actor::Operator(name.to_owned()));
    }
    if let Some(id) = caller.session.as_deref() {
        if let Some(person) = state.sessions.lookup(id).await {
            check_csrf(act, &state.hosts, caller, &session_binding(id))?;
            return Ok(Actor::Person(person));
        }
    }
    let mut reply = json_error(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "acting needs a person signed in with GitHub (/login) or an operator (/operator), or \
         Authorization: Bearer <operator token>",
    );
    reply.headers_mut().insert(
        "www-authenticate",
        warp::http::HeaderValue::from_static("Bearer realm=\"buildboard operators\""),
    );
    Err(Box::new(reply))
}

/// `GET /api/operator`, `GET`/`POST /operator`, `POST /operator/sign-out`,
/// `POST /api/runs/<id>/<action>` (any other method there: 405).
pub fn routes(state: AppState) -> impl Filter<Extract = (Reply,), Error = Rejection> + Clone {
    let session = warp::path!("api" / "operator")
        .and(warp::get())
        .and(caller())
        .and(with_state(state.clone()))
        .then(|caller: Caller, state: AppState| async move { session(&state, &caller).await });
    session
        .or(operator_routes(state.clone()))
        .unify()
        .or(action_routes(state))
        .unify()
}

/// `GET`/`POST /operator`, `POST /operator/sign-out`.
fn operator_routes(state: AppState) -> impl Filter<Extract = (Reply,), Error = Rejection> + Clone {
    let limit = state.act.0.limit.clone();
    let form = warp::path!("operator")
        .and(warp::get())
        .and(caller())
        .and(with_state(state.clone()))
        .map(|caller: Caller, state: AppState| sign_in_page(&state, &caller));
    let sign_in = warp::path!("operator")
        .and(warp::post())
        .and(limit.filter())
        .and(caller())
        .and(warp::body::content_length_limit(MAX_FORM_BYTES))
        .and(warp::body::stream())
        .and(with_state(state.clone()))
        .then(|caller: Caller, body, state: AppState| async move {
            // Whatever can be refused without the form is refused before it is read.
            if let Some(refused) = refuse_sign_in(&state, &caller) {
                return refused;
            }
            let timeout = state.config.body_timeout;
            match super::body::read_small(body, MAX_FORM_BYTES, timeout).await {
                Ok(form) => sign_in(&state, &form),
                Err(err) => err.into_response(),
            }
        });
    let sign_out = warp::path!("operator" / "sign-out")
        .and(warp::post())
        .and(caller())
        .and(with_state(state))
        .map(|caller: Caller, state: AppState| sign_out(&state, &caller));
    form.or(sign_in).unify().or(sign_out).unify()
}

/// `POST /api/runs/<id>/<action>`; any other method there: 405.
fn action_routes(state: AppState) -> impl Filter<Extract = (Reply,), Error = Rejection> + Clone {
    let limit = state.act.0.limit.clone();
    let action = warp::path!("api" / "runs" / i64 / String)
        .and_then(|id: i64, segment: String| {
            std::future::ready(
                Action::parse(&segment)
                    .map(|action| (id, action))
                    .ok_or_else(warp::reject::not_found),
            )
        })
        .untuple_one();
    let act = action
        .and(warp::post())
        .and(limit.filter())
        .and(caller())
        .and(with_state(state))
        .then(
            |id: i64, action: Action, caller: Caller, state: AppState| async move {
                let reply = match authenticate(&state, &caller).await {
                    Ok(actor) => perform(&state, &actor, id, action).await,
                    Err(refused) => *refused,
                };
                no_store(reply)
            },
        );
    act.or(action.and(not_post()).map(|_, _| post_only()))
        .unify()
}

/// Any method but POST (a POST refused on the way, e.g. over its budget, keeps its own answer).
pub(crate) fn not_post() -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::method()
        .and_then(|method: warp::http::Method| {
            std::future::ready(if method == warp::http::Method::POST {
                Err(warp::reject::not_found())
            } else {
                Ok(())
            })
        })
        .untuple_one()
}

/// `405`: actions are POST only.
fn post_only() -> Reply {
    let mut reply = json_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "actions are POST only",
    );
    reply
        .headers_mut()
        .insert("allow", warp::http::HeaderValue::from_static("POST"));
    reply
}

/// The same answer, never cached.
pub(crate) fn no_store(mut reply: Reply) -> Reply {
    reply.headers_mut().insert(
        CACHE_CONTROL,
        warp::http::HeaderValue::from_static("private, no-store"),
    );
    reply
}

/// `GET /api/operator`: who the page's viewer acts as and the session's CSRF token, for the
/// board's script: an operator (`"repos": null`, every repository), a signed-in person (`"person":
/// true` and `"repos"`, those they may write to), or `{"operator": null}` for anyone else. Only a
/// page of the board can read it (no CORS); the operator cookie is `SameSite=Strict`, the
/// session's `Lax`.
async fn session(state: &AppState, caller: &Caller) -> Reply {
    let act = &state.act;
    let operator = caller
        .cookie
        .as_deref()
        .and_then(|cookie| act.by_cookie(cookie).map(|name| (name, cookie)));
    let body = if let Some((name, cookie)) = operator {
        json!({ "operator": name, "csrf": act.csrf_for(cookie), "repos": null })
    } else if let Some((id, person)) = match caller.session.as_deref() {
        Some(id) => state.sessions.lookup(id).await.map(|p| (id, p)),
        None => None,
    } {
        json!({
            "operator": person.login,
            "person": true,
            "csrf": act.csrf_for(&session_binding(id)),
            "repos": person.writable.iter().collect::<Vec<_>>(),
        })
    } else {
        json!({ "operator": null })
    };
    no_store(warp::reply::json(&body).into_response())
}

/// An operators' page (`templates/signin.html`), never cached.
fn page(status: StatusCode, page: SignIn<'_>) -> Reply {
    let html = crate::views::sign_in(page).unwrap_or_else(|err| {
        tracing::error!(cause = %err, "could not render an operators' page");
        String::new()
    });
    let mut reply = warp::reply::with_status(warp::reply::html(html), status).into_response();
    reply.headers_mut().insert(
        CACHE_CONTROL,
        warp::http::HeaderValue::from_static("no-store"),
    );
    reply
}

/// `GET /operator`: the sign-in form, or who is signed in.
fn sign_in_page(state: &AppState, caller: &Caller) -> Reply {
    if !state.act.is_on() {
        return page(StatusCode::NOT_FOUND, SignIn::ActingOff);
    }
    match caller
        .cookie
        .as_deref()
        .and_then(|cookie| state.act.by_cookie(cookie))
    {
        Some(name) => page(StatusCode::OK, SignIn::SignedIn(name)),
        None => page(StatusCode::OK, SignIn::Form),
    }
}

/// The answer to a sign-in that fails whatever its form says: from another site, or on a board
/// without operators (no token can match).
fn refuse_sign_in(state: &AppState, caller: &Caller) -> Option<Reply> {
    if !caller.same_origin(&state.hosts) {
        return Some(page(StatusCode::FORBIDDEN, SignIn::Refused("Sign in")));
    }
    (!state.act.is_on()).then(wrong_token)
}

fn wrong_token() -> Reply {
    tracing::info!("operator sign-in refused: wrong operator token");
    page(StatusCode::UNAUTHORIZED, SignIn::WrongToken)
}

/// `POST /operator` with `token=<operator token>` (form-encoded): sets the cookie and goes to
/// Triage. [`refuse_sign_in`] was asked first.
fn sign_in(state: &AppState, form: &[u8]) -> Reply {
    let given = form_urlencoded::parse(form)
        .find(|(name, _)| name == "token")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    let Some(name) = state.act.by_token(&given) else {
        return wrong_token();
    };
    let cookie = state
        .act
        .0
        .operators
        .iter()
        .find(|operator| operator.name == name)
        .map(|operator| operator.cookie.clone())
        .unwrap_or_default();
    tracing::info!(operator = name, "operator signed in");
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(LOCATION, "/triage")
        .header(
            SET_COOKIE,
            set_cookie(COOKIE, &cookie, COOKIE_MAX_AGE, SameSite::Strict),
        )
        .header(CACHE_CONTROL, "no-store")
        .body(String::new())
        .expect("a valid response")
        .into_response()
}

/// `POST /operator/sign-out`: forgets the cookie.
fn sign_out(state: &AppState, caller: &Caller) -> Reply {
    if !caller.same_origin(&state.hosts) {
        return page(StatusCode::FORBIDDEN, SignIn::Refused("Sign out"));
    }
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(LOCATION, "/")
        .header(
            SET_COOKIE,
            set_cookie(COOKIE, "", cookie::time::Duration::ZERO, SameSite::Strict),
        )
        .header(CACHE_CONTROL, "no-store")
        .body(String::new())
        .expect("a valid response")
        .into_response()
}

/// Whose token an action went with, as a refusal names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whose {
    /// The server's (`--github-token`, or the App's installation token).
    Server,
    /// The signed-in person's own.
    Person,
}

/// What a person is told about GitHub's answer `status` to `action`, made with `whose` token.
pub fn explain(
    action: Action,
    whose: Whose,
    status: u16,
    github_message: &str,
) -> (StatusCode, &'static str, String) {
    let theirs = if github_message.is_empty() {
        String::new()
    } else {
        format!(" (GitHub: {github_message})")
    };
    let token = match whose {
        Whose::Server => "the server's token (--github-token)",
        Whose::Person => "your GitHub sign-in (sign in again at /login)",
    };
    match status {
        200..=299 => (
            StatusCode::ACCEPTED,
            "requested",
            match action {
                Action::Cancel => "Cancel requested; the new state arrives by webhook".to_owned(),
                _ => "Re-run requested; the new state arrives by webhook".to_owned(),
            },
        ),
        401 => (
            StatusCode::BAD_GATEWAY,
            "github_unauthorized",
            format!("GitHub rejected {token}{theirs}"),
        ),
        403 => (
            StatusCode::FORBIDDEN,
            "github_forbidden",
            match whose {
                Whose::Server => format!(
                    "the GitHub token may not act on this repository (needs Actions: write){theirs}"
                ),
                Whose::Person => format!(
                    "GitHub does not let you act on this repository (needs write access){theirs}"
                ),
            },
        ),
        404 => (
            StatusCode::NOT_FOUND,
            "github_not_found",
            format!("GitHub does not know this run{theirs}"),
        ),
        409 | 422 => (
            StatusCode::CONFLICT,
            "github_refused",
            match action {
                Action::Cancel => {
                    format!("GitHub will not cancel this run: it is not running{theirs}")
                }
                _ => format!(
                    "GitHub will not re-run this run: older than 30 days or 50 attempts{theirs}"
                ),
            },
        ),
        _ => (
            StatusCode::BAD_GATEWAY,
            "github_error",
            format!("GitHub answered {status}{theirs}"),
        ),
    }
}

/// The GitHub Actions run `id`, when `actor` may act on it; otherwise the answer that refuses. A
/// run of a repository the actor may not read is answered exactly as one that does not exist.
async fn actions_run(state: &AppState, actor: &Actor, id: i64) -> Result<Run, Box<Reply>> {
    let missing = || {
        Box::new(json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("no run {id} on this board"),
        ))
    };
    let run = match state
        .store
        .read(move |conn| crate::store::read::run(conn, id))
        .await
    {
        Ok(Some(run)) if actor.may_read(&run.repo) => run,
        Ok(_) => return Err(missing()),
        Err(err) => return Err(Box::new(super::Error::from(err).into_response())),
    };
    if run.source != crate::source::Source::Actions.as_str() {
        return Err(Box::new(json_error(
            StatusCode::CONFLICT,
            "not_actions",
            &format!(
                "only GitHub Actions runs can be re-run or cancelled from the board; this one is \
                 reported by {} ({})",
                run.source,
                run.provider.as_deref().unwrap_or("unknown provider")
            ),
        )));
    }
    if !actor.may_write(&run.repo) {
        return Err(Box::new(no_write_access(actor.name(), &run.repo)));
    }
    Ok(run)
}

/// `403` for a person without write access to `repo`.
pub(crate) fn no_write_access(login: &str, repo: &str) -> Reply {
    json_error(
        StatusCode::FORBIDDEN,
        "no_write_access",
        &format!(
            "{login} has no write access to {repo} on GitHub: re-running, cancelling and \
             starting workflows need it (ask one of its maintainers)"
        ),
    )
}

/// GitHub's answer to a POST of `path` as `actor`: the server's token for an operator, the
/// person's own for a person.
async fn post_as(
    state: &AppState,
    actor: &Actor,
    path: &str,
) -> Result<client::Posted, (StatusCode, &'static str, String)> {
    let unreachable = |err: &dyn std::fmt::Display| {
        (
            StatusCode::BAD_GATEWAY,
            "github_unreachable",
            format!("cannot reach GitHub: {err}"),
        )
    };
    if let Actor::Person(person) = actor {
        let url = format!("{}{path}", state.github_app.api_url());
        let http = state.github_app.http();
        return person::send(http, Method::POST, &url, &person.user_token, None)
            .await
            .map(|answer| answer.posted())
            .map_err(|err| unreachable(&err));
    }
    let Some(github) = &state.act.0.github else {
        return Err((
            StatusCode::SERVICE_UNAVAILABLE,
            "no_github_token",
            "the server has no GitHub token (--github-token with Actions: write) to act with"
                .to_owned(),
        ));
    };
    match github.post(&github.url(path, &[]), GITHUB_QUEUE).await {
        Ok(posted) => Ok(posted),
        Err(client::Error::Status {
            status: 503,
            message,
            ..
        }) => Err((StatusCode::SERVICE_UNAVAILABLE, "github_busy", message)),
        Err(err) => Err(unreachable(&err)),
    }
}

/// Looks the run up and asks GitHub to act on it, as `actor`.
async fn perform(state: &AppState, actor: &Actor, id: i64, action: Action) -> Reply {
    let run = match actions_run(state, actor, id).await {
        Ok(run) => run,
        Err(refused) => return *refused,
    };
    let repo = run.repo.as_str();
    let path = client::repo_path(repo, &["actions", "runs", &id.to_string(), action.as_str()]);
    let whose = match actor {
        Actor::Operator(_) => Whose::Server,
        Actor::Person(_) => Whose::Person,
    };
    let (status, github_status, code, message) = match post_as(state, actor, &path).await {
        Ok(posted) => {
            let (status, code, message) = explain(action, whose, posted.status, &posted.message);
            (status, Some(posted.status), code, message)
        }
        Err((status, code, message)) => (status, None, code, message),
    };
    tracing::info!(
        actor = actor.name(),
        person = whose == Whose::Person,
        action = action.as_str(),
        run = id,
        repo,
        github_status,
        %message,
        "action"
    );
    if status != StatusCode::ACCEPTED {
        return json_error(status, code, &message);
    }
    let body = json!({
        "action": action.as_str(),
        "run": id,
        "repo": repo,
        "github_status": github_status,
        "message": message,
    });
    warp::reply::with_status(warp::reply::json(&body), status).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_tokens_parse_with_and_without_names() {
        let act = Act::new(Some(&Secret::new("alice:s3cr3t, bob:hunter2")), None, 0).unwrap();
        assert_eq!(act.by_token("s3cr3t"), Some("alice"));
        assert_eq!(act.by_token("hunter2"), Some("bob"));
        assert_eq!(act.by_token("alice:s3cr3t"), None);
        let act = Act::new(Some(&Secret::new("plain-token")), None, 0).unwrap();
        assert_eq!(act.by_token("plain-token"), Some("operator"));
        assert!(Act::new(Some(&Secret::new("alice:")), None, 0).is_err());
        assert!(Act::new(Some(&Secret::new("a b:x")), None, 0).is_err());
        assert!(!Act::default().is_on());
    }

    #[test]
    fn the_cookie_is_not_the_token_and_each_session_has_its_csrf_token() {
        let act = Act::new(Some(&Secret::new("alice:s3cr3t,bob:other")), None, 0).unwrap();
        let alice = act.0.operators[0].cookie.clone();
        assert!(!alice.contains("s3cr3t"));
        assert_eq!(act.by_cookie(&alice), Some("alice"));
        assert_ne!(
            act.csrf_for(&alice),
            act.csrf_for(&act.0.operators[1].cookie)
        );
    }

    #[test]
    fn refusals_are_explained() {
        let (status, _, message) = explain(
            Action::Rerun,
            Whose::Server,
            422,
            "Unable to retry this workflow run",
        );
        assert_eq!(status, StatusCode::CONFLICT);
        assert!(message.contains("older than 30 days or 50 attempts"));
        assert!(message.contains("Unable to retry"));
        let (status, _, message) = explain(Action::RerunFailedJobs, Whose::Server, 403, "");
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(message.contains("needs Actions: write"));
        let (_, _, message) = explain(Action::Cancel, Whose::Person, 401, "Bad credentials");
        assert!(message.contains("your GitHub sign-in"), "{message}");
        let (_, _, message) = explain(Action::Rerun, Whose::Server, 201, "");
        assert_eq!(
            message,
            "Re-run requested; the new state arrives by webhook"
        );
    }
}
