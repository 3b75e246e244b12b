//! Read access: who a request is, decided once, as a [`Viewer`] ([`with_viewer`]). With
//! `--board-token`, the board pages, the JSON API and the live feed answer only a reader who shows
//! a token; without one they are open to anyone who can reach the server (who reads everything).
//!
//! - A browser shows a token once, in the address: `/?token=<token>` (any page, any other
//!   parameters). The server answers `303 See Other` to the same address without the token and
//!   sets a cookie, so the token leaves the address bar, the history and every later `Referer`.
//!   From then on the cookie is enough, for the pages, their refreshes and `/ws`: a TV is set up
//!   once and stays signed in (the cookie lasts 400 days, the longest browsers keep one).
//! - Tools send `Authorization: Bearer <token>`; the admin token is accepted too, so a
//!   mutation needs one header.
//! - The tokens: the board token and the admin token read every repository; display and API
//!   tokens (created through `/api/tokens`, stored as hashes, see `store::tokens`) read the
//!   repositories they were made for. A revoked token, and its cookie, are refused at once, and
//!   the feed's sockets opened with it are closed ([`Access::revoked`]).
//!
//! A cookie holds an HMAC of its token, not the token; changing the board token signs every
//! browser out. Comparisons with the board and admin tokens are constant-time; a stored token is
//! found by the SHA-256 of what was shown. `/webhook` (signed), `/healthz`, `/readyz`, `/metrics`
//! and `/static/` stay open: they are for GitHub, load balancers and scrapers, and hold nothing
//! about the builds.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use cookie::time::Duration;
use cookie::{Cookie, SameSite};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use warp::http::header::{CACHE_CONTROL, LOCATION, SET_COOKIE};
use warp::http::{Response, StatusCode};
use warp::{Filter, Rejection};

use super::signin::{Sessions, SignInRequired, SESSION_COOKIE};
use crate::config::AccessMode;
use crate::github::app::GitHubApp;
use crate::scope::{Privacy, Repos, Viewer, Who};
use crate::secret::Secret;
use crate::settings::Settings;
use crate::store::query::RepoScope;
use crate::store::tokens::{ActiveToken, TokenInfo};

/// The cookie a signed-in browser carries.
pub const COOKIE: &str = "buildboard_token";
/// The query parameter a browser signs in with.
pub const TOKEN_PARAM: &str = "token";
/// How long a browser keeps the cookie: 400 days, the most Chromium allows.
const COOKIE_MAX_AGE: Duration = Duration::days(400);
/// What the cookie's HMAC is computed over, with the token as the key.
const COOKIE_CONTEXT: &[u8] = b"buildboard board cookie v1";

/// Who may read, and what; cheap to clone.
#[derive(Clone, Default)]
pub struct Access {
    /// `None`: reading is open.
    keys: Option<Arc<Keys>>,
    /// The admin token, which also reads an open board as [`Who::Admin`].
    admin_token: Option<Secret>,
    /// The display and API tokens that work, shared with every clone.
    tokens: Arc<RwLock<Tokens>>,
    /// The authors rule every viewer carries, as it is at the request (see `crate::settings`).
    settings: Settings,
    /// Sign-in with GitHub, once the server has an App: `--access` and the sessions.
    signin: Option<SignIn>,
}

/// What [`Access`] needs of sign-in with GitHub.
#[derive(Clone)]
struct SignIn {
    /// `--access`, when given.
    mode: Option<AccessMode>,
    /// Whether an App is configured (it may be set up while the server runs).
    app: GitHubApp,
    sessions: Sessions,
}

struct Keys {
    board_token: Secret,
    /// The value a browser signed in with the board token carries.
    cookie: String,
}

/// The active stored tokens, by the hashes they are recognised by.
#[derive(Default)]
struct Tokens {
    by_token: HashMap<String, Arc<Stored>>,
    by_cookie: HashMap<String, Arc<Stored>>,
    by_id: HashMap<i64, Arc<Stored>>,
}

/// One active stored token.
struct Stored {
    viewer: Viewer,
    /// Cancelled when it is revoked: open sockets of its viewer close.
    revoked: CancellationToken,
}

pub use super::error::Denied;
pub(crate) use crate::secret::same;

/// HMAC-SHA256 of `message` under `key`, in hex: what a sign-in cookie holds instead of its token
/// (the board's here, the operators' in `web::act`), and the operators' CSRF tokens.
pub(crate) fn mac_hex(key: &[u8], message: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// Hex SHA-256 of `text`: how a stored token and its cookie are found.
fn digest_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The `Set-Cookie` value of a sign-in cookie (the board's here, the operators' in `web::act`):
/// for the whole site, kept for `max_age` (zero signs out), `HttpOnly` so that no script reads it.
pub(crate) fn set_cookie(
    name: &str,
    value: &str,
    max_age: Duration,
    same_site: SameSite,
) -> String {
    Cookie::build((name, value))
        .path("/")
        .max_age(max_age)
        .http_only(true)
        .same_site(same_site)
        .build()
        .to_string()
}

/// A new display or API token: the secret to show once, and its row to store (id 0 until then).
///
/// # Panics
/// Never: `kind` is checked by the caller.
pub fn new_token(
    name: &str,
    kind: &str,
    repos: Option<Vec<String>>,
    now: i64,
) -> (String, ActiveToken) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let prefix = if kind == "api" { "bba_" } else { "bbd_" };
    let token = format!("{prefix}{}", hex::encode(bytes));
    let cookie = mac_hex(token.as_bytes(), COOKIE_CONTEXT);
    let row = ActiveToken {
        info: TokenInfo {
            id: 0,
            name: name.to_owned(),
            kind: kind.to_owned(),
            repos,
            created: now,
            revoked: None,
        },
        token_hash: digest_hex(&token),
        cookie_hash: digest_hex(&cookie),
    };
    (token, row)
}

impl Access {
    /// Reading needs `board_token` (or a stored token) when there is one; `admin_token` also
    /// opens it.
    pub fn new(board_token: Option<&Secret>, admin_token: Option<&Secret>) -> Self {
        let keys = board_token.map(|token| {
            Arc::new(Keys {
                board_token: token.clone(),
                cookie: mac_hex(token.expose().as_bytes(), COOKIE_CONTEXT),
            })
        });
        Self {
            keys,
            admin_token: admin_token.cloned(),
            ..Self::default()
        }
    }

    /// The same access with the server's live settings: their authors rule (`--hide-authors`,
    /// or the settings page) on every viewer, as it is when the request comes.
    #[must_use]
    pub fn with_settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    fn privacy(&self) -> Privacy {
        self.settings.privacy()
    }

    /// Whether a token is required at all.
    pub fn is_private(&self) -> bool {
        self.keys.is_some()
    }

    /// Whether a request with this cookie value and `Authorization` header may read.
    pub fn allows(&self, cookie: Option<&str>, authorization: Option<&str>) -> bool {
        self.viewer(cookie, authorization).is_some()
    }

    /// Who a request with this cookie value and `Authorization` header is, and what they may
    /// read; `None` when they may read nothing (a private board, and no token that works).
    pub fn viewer(&self, cookie: Option<&str>, authorization: Option<&str>) -> Option<Viewer> {
        let all = |who| Some(Viewer::all(who, self.privacy()));
        let bearer = authorization.and_then(|value| value.strip_prefix("Bearer "));
        if let Some(given) = bearer {
            // Both comparisons always run, so timing does not tell which token was close.
            let board = self
                .keys
                .as_ref()
                .is_some_and(|keys| same(given, keys.board_token.expose()));
            let admin = self
                .admin_token
                .as_ref()
                .is_some_and(|admin| same(given, admin.expose()));
            if admin {
                return all(Who::Admin);
            }
            if board {
                return all(Who::BoardToken);
            }
            if let Some(stored) = self.stored(|tokens| &tokens.by_token, given) {
                return Some(stored);
            }
        }
        if let Some(cookie) = cookie {
            if self
                .keys
                .as_ref()
                .is_some_and(|keys| same(cookie, &keys.cookie))
            {
                return all(Who::BoardToken);
            }
            if let Some(stored) = self.stored(|tokens| &tokens.by_cookie, cookie) {
                return Some(stored);
            }
        }
        if self.anyone_may_read() {
            all(Who::Anonymous)
        } else {
            None
        }
    }

    /// Sign-in with GitHub: `--access` (`None`: decided by whether an App is configured) and the
    /// sessions people sign in to.
    #[must_use]
    pub fn with_sign_in(
        mut self,
        mode: Option<AccessMode>,
        app: GitHubApp,
        sessions: Sessions,
    ) -> Self {
        self.signin = Some(SignIn {
            mode,
            app,
            sessions,
        });
        self
    }

    /// Who may read, now: `--access`, else `github` once an App is configured, else `token`
    /// with a board token, else `public`.
    pub fn mode(&self) -> AccessMode {
        let given = self.signin.as_ref().and_then(|signin| signin.mode);
        let app = self
            .signin
            .as_ref()
            .is_some_and(|signin| signin.app.credentials().is_some());
        given.unwrap_or(if app {
            AccessMode::Github
        } else if self.is_private() {
            AccessMode::Token
        } else {
            AccessMode::Public
        })
    }

    /// Whether a request that shows nothing may read (everything).
    fn anyone_may_read(&self) -> bool {
        self.mode() == AccessMode::Public && !self.is_private()
    }

    /// The viewer of a request: a token it shows (header or cookie), else its signed-in
    /// session (the repositories that person may read through the App), else anyone's, where
    /// anyone may read. `None`: it may read nothing.
    pub async fn viewer_of(
        &self,
        cookie: Option<&str>,
        session: Option<&str>,
        authorization: Option<&str>,
    ) -> Option<Viewer> {
        let anyone = self.anyone_may_read();
        let shown = self.viewer(cookie, authorization);
        if shown.as_ref().is_some_and(|v| *v.who() != Who::Anonymous) {
            return shown;
        }
        if let (Some(signin), Some(id)) = (&self.signin, session) {
            if let Some(person) = signin.sessions.lookup(id).await {
                let who = Who::User {
                    login: person.login.clone(),
                };
                return Some(
                    Viewer::scoped(who, person.repos.iter().cloned()).with_privacy(self.privacy()),
                );
            }
        }
        shown.filter(|_| anyone)
    }

    /// The rejection for a request that may read nothing: sign in with GitHub (`--access
    /// github`), or show a token.
    fn refusal(&self, path: &str, wants_page: bool) -> Rejection {
        if self.mode() == AccessMode::Github {
            warp::reject::custom(SignInRequired::new(path))
        } else {
            warp::reject::custom(Denied { wants_page })
        }
    }

    fn stored(
        &self,
        index: impl FnOnce(&Tokens) -> &HashMap<String, Arc<Stored>>,
        shown: &str,
    ) -> Option<Viewer> {
        let tokens = self
            .tokens
            .read()
            .expect("the tokens lock is never poisoned");
        let privacy = self.privacy();
        index(&tokens).get(&digest_hex(shown)).map(|stored| {
            if stored.viewer.privacy() == privacy {
                stored.viewer.clone()
            } else {
                stored.viewer.clone().with_privacy(privacy)
            }
        })
    }

    /// Makes `token` work from now on.
    pub fn add_token(&self, token: &ActiveToken) {
        let info = &token.info;
        let repos = match &info.repos {
            None => Repos::All,
            Some(names) => Repos::Only(RepoScope::new(names.iter().cloned())),
        };
        let who = Who::Token {
            id: info.id,
            name: info.name.clone(),
        };
        let stored = Arc::new(Stored {
            viewer: Viewer::new(who, repos, self.privacy()),
            revoked: CancellationToken::new(),
        });
        let mut tokens = self
            .tokens
            .write()
            .expect("the tokens lock is never poisoned");
        tokens
            .by_token
            .insert(token.token_hash.clone(), stored.clone());
        tokens
            .by_cookie
            .insert(token.cookie_hash.clone(), stored.clone());
        tokens.by_id.insert(info.id, stored);
    }

    /// Stops token `id` working, at once: its next request is refused and its sockets close.
    pub fn revoke(&self, id: i64) {
        let mut tokens = self
            .tokens
            .write()
            .expect("the tokens lock is never poisoned");
        if let Some(stored) = tokens.by_id.remove(&id) {
            tokens.by_token.retain(|_, s| !Arc::ptr_eq(s, &stored));
            tokens.by_cookie.retain(|_, s| !Arc::ptr_eq(s, &stored));
            stored.revoked.cancel();
        }
    }

    /// Cancelled when `viewer`'s token is revoked; never, for a viewer of another kind (and at
    /// once, for a token already revoked).
    pub fn revoked(&self, viewer: &Viewer) -> CancellationToken {
        let Who::Token { id, .. } = viewer.who() else {
            return CancellationToken::new();
        };
        let tokens = self
            .tokens
            .read()
            .expect("the tokens lock is never poisoned");
        tokens.by_id.get(id).map_or_else(
            || {
                let gone = CancellationToken::new();
                gone.cancel();
                gone
            },
            |stored| stored.revoked.clone(),
        )
    }

    /// The `Set-Cookie` value that signs a browser in, when `given` is the board token or a
    /// stored token that works.
    fn sign_in_cookie(&self, given: &str) -> Option<String> {
        let board = self
            .keys
            .as_ref()
            .filter(|keys| same(given, keys.board_token.expose()))
            .map(|keys| keys.cookie.clone());
        let value = board.or_else(|| {
            self.stored(|tokens| &tokens.by_token, given)
                .map(|_| mac_hex(given.as_bytes(), COOKIE_CONTEXT))
        })?;
        Some(set_cookie(COOKIE, &value, COOKIE_MAX_AGE, SameSite::Lax))
    }
}

/// The request's [`Viewer`] ([`Access::viewer_of`]); a request that may read nothing is
/// rejected: with [`SignInRequired`] under `--access github` (a page goes to `/login`), else
/// with [`Denied`].
pub fn with_viewer(access: Access) -> impl Filter<Extract = (Viewer,), Error = Rejection> + Clone {
    warp::path::full()
        .and(warp::cookie::optional::<String>(COOKIE))
        .and(warp::cookie::optional::<String>(SESSION_COOKIE))
        .and(warp::header::optional::<String>("authorization"))
        .and(warp::header::optional::<String>("accept"))
        .and_then(
            move |path: warp::path::FullPath,
                  cookie: Option<String>,
                  session: Option<String>,
                  authorization: Option<String>,
                  accept: Option<String>| {
                let access = access.clone();
                async move {
                    let viewer = access
                        .viewer_of(
                            cookie.as_deref(),
                            session.as_deref(),
                            authorization.as_deref(),
                        )
                        .await;
                    viewer.ok_or_else(|| {
                        let wants_page = accept.is_some_and(|accept| accept.contains("text/html"));
                        access.refusal(path.as_str(), wants_page)
                    })
                }
            },
        )
}

/// Passes a request that may read; otherwise rejects it with [`Denied`].
pub fn reader(access: Access) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    with_viewer(access).map(|_: Viewer| ()).untuple_one()
}

/// A request that carries `token`: where it asked for, and its other query parameters.
struct SignInAttempt {
    path: String,
    given: String,
    rest: Vec<(String, String)>,
}

/// `GET <any page>?token=<token>&...`: sets the cookie and redirects to the same address
/// without `token`. A wrong token is [`Denied`]. A request without `token`, or to a server without
/// a board token, is not this route's and does not spend `limit`.
pub fn sign_in(
    access: Access,
    limit: &super::limit::Limiter,
) -> impl Filter<Extract = (Response<String>,), Error = Rejection> + Clone {
    let private = access.is_private();
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    warp::get()
        .and(warp::path::full())
        .and(query)
        .and_then(move |path: warp::path::FullPath, query: String| {
            let attempt = private
                .then(|| sign_in_attempt(path.as_str(), &query))
                .flatten()
                .ok_or_else(warp::reject::not_found);
            async move { attempt }
        })
        .and(limit.filter())
        .and_then(move |attempt: SignInAttempt| {
            let answer = sign_in_answer(&access, attempt);
            async move { answer }
        })
}

fn sign_in_attempt(path: &str, query: &str) -> Option<SignInAttempt> {
    let mut pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).ok()?;
    let position = pairs.iter().position(|(name, _)| name == TOKEN_PARAM)?;
    let (_, given) = pairs.remove(position);
    pairs.retain(|(name, _)| name != TOKEN_PARAM);
    Some(SignInAttempt {
        path: path.to_owned(),
        given,
        rest: pairs,
    })
}

fn sign_in_answer(access: &Access, attempt: SignInAttempt) -> Result<Response<String>, Rejection> {
    let path = attempt.path.as_str();
    let Some(cookie) = access.sign_in_cookie(&attempt.given) else {
        tracing::info!(path, "sign-in refused: not a token that works");
        return Err(warp::reject::custom(Denied { wants_page: true }));
    };
    // `//host` would send the browser to another site: keep the target a path on this one.
    let mut location = format!("/{}", path.trim_start_matches(['/', '\\']));
    if !attempt.rest.is_empty() {
        location.push('?');
        location.push_str(
            &serde_urlencoded::to_string(&attempt.rest).expect("pairs of strings encode"),
        );
    }
    tracing::info!(path, "browser signed in with a token");
    Ok(Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(LOCATION, location)
        .header(SET_COOKIE, cookie)
        .header(CACHE_CONTROL, "no-store")
        .body(String::new())
        .expect("a valid response"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn private() -> Access {
        Access::new(
            Some(&Secret::new("board-token-123")),
            Some(&Secret::new("admin-token-456")),
        )
    }

    #[test]
    fn without_a_board_token_everything_reads() {
        assert!(Access::default().allows(None, None));
        assert!(Access::new(None, Some(&Secret::new("admin"))).allows(None, None));
    }

    #[test]
    fn the_board_token_the_admin_token_or_the_cookie_open_a_private_board() {
        let access = private();
        assert!(!access.allows(None, None));
        assert!(access.allows(None, Some("Bearer board-token-123")));
        assert!(access.allows(None, Some("Bearer admin-token-456")));
        assert!(!access.allows(None, Some("Bearer board-token-12")));
        assert!(!access.allows(None, Some("board-token-123")));
        let cookie = access.sign_in_cookie("board-token-123").unwrap();
        let value = cookie
            .strip_prefix("buildboard_token=")
            .and_then(|rest| rest.split(';').next())
            .unwrap();
        assert!(
            !value.contains("board-token-123"),
            "the cookie is not the token"
        );
        assert!(access.allows(Some(value), None));
        assert!(!access.allows(Some("board-token-123"), None));
        assert!(access.sign_in_cookie("admin-token-456").is_none());
    }

    #[test]
    fn a_stored_token_reads_its_scope_by_bearer_or_cookie_until_it_is_revoked() {
        let access = private();
        let (secret, mut row) = new_token("tv", "display", Some(vec!["o/a".into()]), 1);
        row.info.id = 7;
        assert!(!access.allows(None, Some(&format!("Bearer {secret}"))));
        access.add_token(&row);
        let viewer = access
            .viewer(None, Some(&format!("Bearer {secret}")))
            .expect("the token reads");
        assert!(viewer.may_read("o/a") && !viewer.may_read("o/b"));
        let cookie = access
            .sign_in_cookie(&secret)
            .expect("a TV signs in with it");
        let value = cookie
            .strip_prefix("buildboard_token=")
            .and_then(|rest| rest.split(';').next())
            .unwrap();
        assert!(!value.contains(&secret[4..]) && !row.cookie_hash.contains(value));
        let by_cookie = access.viewer(Some(value), None).expect("its cookie reads");
        assert_eq!(by_cookie.scope_key(), viewer.scope_key());
        let watch = access.revoked(&viewer);
        assert!(!watch.is_cancelled());
        access.revoke(7);
        assert!(watch.is_cancelled(), "open sockets are told");
        assert!(access.viewer(Some(value), None).is_none());
        assert!(!access.allows(None, Some(&format!("Bearer {secret}"))));
        assert!(access.sign_in_cookie(&secret).is_none());
        assert!(access.revoked(&viewer).is_cancelled());
    }

    #[test]
    fn signing_in_redirects_to_the_same_page_without_the_token() {
        let access = private();
        let answer = |path: &str, query: &str| {
            sign_in_attempt(path, query).map(|attempt| sign_in_answer(&access, attempt))
        };
        let redirect = answer("/triage", "tv=1&token=board-token-123&rotate=0")
            .unwrap()
            .unwrap();
        assert_eq!(redirect.status(), StatusCode::SEE_OTHER);
        assert_eq!(redirect.headers()[LOCATION], "/triage?tv=1&rotate=0");
        let redirect = answer("//evil.example/x", "token=board-token-123")
            .unwrap()
            .unwrap();
        assert_eq!(redirect.headers()[LOCATION], "/evil.example/x");
        assert!(answer("/", "token=nope").unwrap().is_err());
        assert!(answer("/", "tv=1").is_none());
    }
}
