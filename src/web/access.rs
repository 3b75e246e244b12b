//! Read access. With `--board-token`, the board pages, the JSON API and the live feed answer only
//! a reader who shows the token; without one they are open to anyone who can reach the server.
//!
//! - A browser shows the token once, in the address: `/?token=<board token>` (any page, any other
//!   parameters). The server answers `303 See Other` to the same address without the token and
//!   sets a cookie, so the token leaves the address bar, the history and every later `Referer`.
//!   From then on the cookie is enough, for the pages, their refreshes and `/ws`: a TV is set up
//!   once and stays signed in (the cookie lasts 400 days, the longest browsers keep one).
//! - Tools send `Authorization: Bearer <board token>`; the admin token is accepted too, so a
//!   mutation needs one header.
//!
//! The cookie holds an HMAC of the token, not the token, and changing the token signs every
//! browser out. Every comparison is constant-time. `/webhook` (signed), `/healthz`, `/readyz`,
//! `/metrics` and `/static/` stay open: they are for GitHub, load balancers and scrapers, and
//! hold nothing about the builds.

use std::sync::Arc;

use cookie::time::Duration;
use cookie::{Cookie, SameSite};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use warp::http::header::{CACHE_CONTROL, LOCATION, SET_COOKIE};
use warp::http::{Response, StatusCode};
use warp::{Filter, Rejection};

use crate::secret::Secret;

/// The cookie a signed-in browser carries.
pub const COOKIE: &str = "buildboard_token";
/// The query parameter a browser signs in with.
pub const TOKEN_PARAM: &str = "token";
/// How long a browser keeps the cookie: 400 days, the most Chromium allows.
const COOKIE_MAX_AGE: Duration = Duration::days(400);
/// What the cookie's HMAC is computed over, with the token as the key.
const COOKIE_CONTEXT: &[u8] = b"buildboard board cookie v1";

/// Who may read; cheap to clone.
#[derive(Clone, Default)]
pub struct Access {
    /// `None`: reading is open.
    keys: Option<Arc<Keys>>,
}

struct Keys {
    board_token: Secret,
    admin_token: Option<Secret>,
    /// The value a signed-in browser's cookie holds.
    cookie: String,
}

/// A read refused for want of the board token.
#[derive(Debug)]
pub struct Denied {
    /// The client asked for a page (sent `Accept: text/html`), so it gets one that explains how
    /// to sign in rather than JSON.
    pub wants_page: bool,
}

impl warp::reject::Reject for Denied {}

/// `a` equals `b`, compared in time that depends neither on where they differ nor on their
/// lengths (their SHA-256 digests are compared, so a guess does not learn the token's length).
/// The one constant-time comparison of secrets in the codebase (the operator tokens and the CSRF
/// tokens of `web::act` use it too).
pub(crate) fn same(a: &str, b: &str) -> bool {
    use sha2::Digest;
    bool::from(Sha256::digest(a.as_bytes()).ct_eq(&Sha256::digest(b.as_bytes())))
}

/// HMAC-SHA256 of `message` under `key`, in hex: what a sign-in cookie holds instead of its token
/// (the board's here, the operators' in `web::act`), and the operators' CSRF tokens.
pub(crate) fn mac_hex(key: &[u8], message: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
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

impl Access {
    /// Reading needs `board_token` when there is one; `admin_token` also opens it.
    pub fn new(board_token: Option<&Secret>, admin_token: Option<&Secret>) -> Self {
        let keys = board_token.map(|token| {
            Arc::new(Keys {
                board_token: token.clone(),
                admin_token: admin_token.cloned(),
                cookie: mac_hex(token.expose().as_bytes(), COOKIE_CONTEXT),
            })
        });
        Self { keys }
    }

    /// Whether a token is required at all.
    pub fn is_private(&self) -> bool {
        self.keys.is_some()
    }

    /// Whether a request with this cookie value and `Authorization` header may read.
    pub fn allows(&self, cookie: Option<&str>, authorization: Option<&str>) -> bool {
        let Some(keys) = &self.keys else {
            return true;
        };
        let cookie_ok = cookie.is_some_and(|value| same(value, &keys.cookie));
        let bearer = authorization.and_then(|value| value.strip_prefix("Bearer "));
        let bearer_ok = bearer.is_some_and(|given| {
            // Both comparisons always run, so timing does not tell which token was close.
            let board = same(given, keys.board_token.expose());
            let admin = keys
                .admin_token
                .as_ref()
                .is_some_and(|admin| same(given, admin.expose()));
            board | admin
        });
        cookie_ok || bearer_ok
    }

    /// The `Set-Cookie` value that signs a browser in, when `given` is the board token.
    fn sign_in_cookie(&self, given: &str) -> Option<String> {
        let keys = self.keys.as_ref()?;
        same(given, keys.board_token.expose())
            .then(|| set_cookie(COOKIE, &keys.cookie, COOKIE_MAX_AGE, SameSite::Lax))
    }
}

/// Passes a request that may read; otherwise rejects it with [`Denied`].
pub fn reader(access: Access) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::cookie::optional::<String>(COOKIE)
        .and(warp::header::optional::<String>("authorization"))
        .and(warp::header::optional::<String>("accept"))
        .and_then(
            move |cookie: Option<String>, authorization: Option<String>, accept: Option<String>| {
                let allowed = access.allows(cookie.as_deref(), authorization.as_deref());
                async move {
                    if allowed {
                        Ok(())
                    } else {
                        let wants_page = accept.is_some_and(|accept| accept.contains("text/html"));
                        Err(warp::reject::custom(Denied { wants_page }))
                    }
                }
            },
        )
        .untuple_one()
}

/// A request that carries `token`: where it asked for, and its other query parameters.
struct SignInAttempt {
    path: String,
    given: String,
    rest: Vec<(String, String)>,
}

/// `GET <any page>?token=<board token>&...`: sets the cookie and redirects to the same address
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
        tracing::info!(path, "sign-in refused: wrong board token");
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
    tracing::info!(path, "browser signed in with the board token");
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
