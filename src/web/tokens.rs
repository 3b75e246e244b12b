//! `POST/GET/DELETE /api/tokens`: display tokens (for TVs) and API tokens (for scripts), for the
//! admin only (`Authorization: Bearer <admin token>`). A token is made with a name and a scope
//! (`repos`, a list of "owner/name"; absent or `null`: every repository), shown once in the
//! answer to `POST`, and stored only as hashes. `DELETE /api/tokens/<id>` revokes it at once: its
//! next request is refused and its open feed sockets close. The settings page (`web::settings`)
//! makes and revokes them through [`create`] and [`revoke`] too; both log to `settingslog`.
//! See docs/access.md.

use serde::Deserialize;
use serde_json::json;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use super::access::{new_token, with_viewer};
use super::{now, with_state, AppState, Error};
use crate::scope::Viewer;
use crate::store::{settings, tokens};

/// Largest body `POST /api/tokens` accepts.
const MAX_BODY: u64 = 64 * 1024;
/// Most characters of a token's name.
const MAX_NAME_CHARS: usize = 100;
/// Most repositories one token may name.
const MAX_REPOS: usize = 1000;

/// The body of `POST /api/tokens`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: String,
    /// `display` (default) or `api`.
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    repos: Option<Vec<String>>,
}

/// `POST /api/tokens`, `GET /api/tokens`, `DELETE /api/tokens/<id>`.
pub fn routes(state: AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    // The read budget is spent only by requests for these routes, and the caller is known
    // before a body is read.
    let admin = || {
        state
            .limits
            .reads
            .filter()
            .and(with_viewer(state.access.clone()))
            .and(with_state(state.clone()))
    };
    let create = warp::path!("api" / "tokens")
        .and(warp::post())
        .and(admin())
        .and(warp::body::content_length_limit(MAX_BODY))
        .and(warp::body::stream())
        .then(create_token);
    let list = warp::path!("api" / "tokens")
        .and(warp::get())
        .and(admin())
        .then(list_tokens);
    let revoke = warp::path!("api" / "tokens" / String)
        .and(warp::delete())
        .and(admin())
        .then(revoke_token);
    create
        .or(list)
        .unify()
        .or(revoke)
        .unify()
        .map(|result: Result<Response, Error>| {
            let reply = result.unwrap_or_else(Error::into_response);
            warp::reply::with_header(reply, "cache-control", "no-store").into_response()
        })
}

/// Passes the admin only: `403` when no admin token is configured, else `401`.
fn admin_only(viewer: &Viewer, state: &AppState) -> Result<(), Error> {
    if viewer.is_admin() {
        Ok(())
    } else if state.config.admin_token.is_none() {
        Err(Error::Forbidden(
            "tokens are managed with the admin token: start the server with --admin-token \
             (BUILDBOARD_ADMIN_TOKEN)"
                .into(),
        ))
    } else {
        Err(Error::Unauthorized(
            "tokens are managed with the admin token (Authorization: Bearer <admin token>)".into(),
        ))
    }
}

/// The checked body of `POST /api/tokens`.
fn parse_new(body: &[u8]) -> Result<NewToken, Error> {
    let new: NewToken = serde_json::from_slice(body).map_err(|err| {
        Error::bad_request(
            "invalid_body",
            format!(
                "the body must be {{\"name\": \"...\", \"kind\": \"display\" or \"api\", \
                 \"repos\": [\"owner/name\", ...] or null}}: {err}"
            ),
        )
    })?;
    check_new(&new.name, new.kind.as_deref(), new.repos.as_deref())?;
    Ok(new)
}

/// Checks a new token's name, kind (`None`: display) and repositories (`None`: every one): the
/// one rule for `/api/tokens` and the settings page.
///
/// # Errors
/// [`Error::BadRequest`] naming what is wrong.
pub(super) fn check_new(
    name: &str,
    kind: Option<&str>,
    repos: Option<&[String]>,
) -> Result<(), Error> {
    let invalid = |message: String| Error::bad_request("invalid_body", message);
    let name_chars = name.chars().count();
    if name_chars == 0 || name_chars > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(invalid(format!(
            "`name` must be 1 to {MAX_NAME_CHARS} characters, none of them control characters"
        )));
    }
    if !matches!(kind, None | Some("display" | "api")) {
        return Err(invalid("`kind` must be \"display\" or \"api\"".into()));
    }
    if let Some(repos) = repos {
        if repos.len() > MAX_REPOS {
            return Err(invalid(format!(
                "`repos` names at most {MAX_REPOS} repositories"
            )));
        }
        if let Some(bad) = repos
            .iter()
            .position(|repo| !crate::github::event::valid_full_name(repo))
        {
            return Err(invalid(format!("`repos[{bad}]` must be \"owner/name\"")));
        }
    }
    Ok(())
}

/// Creates a token (checked with [`check_new`]) that works from now on, logged as `by`'s;
/// returns the secret to show once and the stored token.
///
/// # Errors
/// On a database error.
pub(super) async fn create(
    state: &AppState,
    name: &str,
    kind: &str,
    repos: Option<Vec<String>>,
    by: &str,
) -> Result<(String, tokens::TokenInfo), Error> {
    let (secret, row) = new_token(name, kind, repos, now());
    let by_row = by.to_owned();
    let stored = state
        .ingest
        .write(move |conn| {
            let stored = tokens::create(conn, &row)?;
            let what = format!(
                "{} {} ({})",
                stored.info.kind, stored.info.id, stored.info.name
            );
            settings::log_change(conn, "token.create", Some(&what), &by_row, now())?;
            Ok(stored)
        })
        .await?;
    state.access.add_token(&stored);
    tracing::info!(id = stored.info.id, name = %stored.info.name, kind = %stored.info.kind, by, "token created");
    Ok((secret, stored.info))
}

/// Revokes token `id` at once (its sockets close), logged as `by`'s.
///
/// # Errors
/// [`Error::NotFound`] for an unknown id; a database error.
pub(super) async fn revoke(
    state: &AppState,
    id: i64,
    by: &str,
) -> Result<tokens::TokenInfo, Error> {
    let now = now();
    let by_row = by.to_owned();
    let revoked = state
        .ingest
        .write(move |conn| {
            let revoked = tokens::revoke(conn, id, now)?;
            if let Some(token) = &revoked {
                let what = format!("{} {} ({})", token.kind, token.id, token.name);
                settings::log_change(conn, "token.revoke", Some(&what), &by_row, now)?;
            }
            Ok(revoked)
        })
        .await?
        .ok_or_else(|| Error::NotFound(format!("no token with id {id}")))?;
    state.access.revoke(id);
    tracing::info!(id, name = %revoked.name, by, "token revoked");
    Ok(revoked)
}

async fn create_token<B: bytes::Buf>(
    viewer: Viewer,
    state: AppState,
    body: impl futures_util::Stream<Item = Result<B, warp::Error>>,
) -> Result<Response, Error> {
    admin_only(&viewer, &state)?;
    let body = super::body::read_small(body, MAX_BODY, state.config.body_timeout).await?;
    let new = parse_new(&body)?;
    let kind = new.kind.unwrap_or_else(|| "display".into());
    let (secret, info) = create(&state, &new.name, &kind, new.repos, "admin token").await?;
    let mut body = serde_json::to_value(&info).expect("a token serialises");
    body["token"] = json!(secret);
    Ok(warp::reply::with_status(warp::reply::json(&body), StatusCode::CREATED).into_response())
}

async fn list_tokens(viewer: Viewer, state: AppState) -> Result<Response, Error> {
    admin_only(&viewer, &state)?;
    let list = state.store.read(tokens::list).await?;
    Ok(warp::reply::json(&json!({ "tokens": list })).into_response())
}

async fn revoke_token(id: String, viewer: Viewer, state: AppState) -> Result<Response, Error> {
    admin_only(&viewer, &state)?;
    let number: i64 = id
        .parse()
        .map_err(|_| Error::NotFound(format!("no token with id {id}")))?;
    let revoked = revoke(&state, number, "admin token").await?;
    Ok(warp::reply::json(&json!({ "token": revoked })).into_response())
}
