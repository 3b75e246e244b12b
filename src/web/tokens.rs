//! `POST/GET/DELETE /api/tokens`: display tokens (for TVs) and API tokens (for scripts), for the
//! admin only (`Authorization: Bearer <admin token>`). A token is made with a name and a scope
//! (`repos`, a list of "owner/name"; absent or `null`: every repository), shown once in the
//! answer to `POST`, and stored only as hashes. `DELETE /api/tokens/<id>` revokes it at once: its
//! next request is refused and its open feed sockets close. See docs/access.md.

use serde::Deserialize;
use serde_json::json;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use super::access::{new_token, with_viewer};
use super::{now, with_state, AppState, Error};
use crate::scope::Viewer;
use crate::store::tokens;

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
    // After the path filters: only requests for these routes spend the read budget.
    let admin = || {
        state
            .limits
            .reads
            .filter()
            .and(with_viewer(state.access.clone()))
            .and(with_state(state.clone()))
    };
    let create = warp::path!("tokens")
        .and(warp::post())
        .and(admin())
        .and(warp::body::content_length_limit(MAX_BODY))
        .and(warp::body::bytes())
        .then(create_token);
    let list = warp::path!("tokens")
        .and(warp::get())
        .and(admin())
        .then(list_tokens);
    let revoke = warp::path!("tokens" / String)
        .and(warp::delete())
        .and(admin())
        .then(revoke_token);
    warp::path("api")
        .and(create.or(list).unify().or(revoke).unify())
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
    let invalid = |message: String| Error::bad_request("invalid_body", message);
    let new: NewToken = serde_json::from_slice(body).map_err(|err| {
        invalid(format!(
            "the body must be {{\"name\": \"...\", \"kind\": \"display\" or \"api\", \
             \"repos\": [\"owner/name\", ...] or null}}: {err}"
        ))
    })?;
    let name_chars = new.name.chars().count();
    if name_chars == 0 || name_chars > MAX_NAME_CHARS || new.name.chars().any(char::is_control) {
        return Err(invalid(format!(
            "`name` must be 1 to {MAX_NAME_CHARS} characters, none of them control characters"
        )));
    }
    if !matches!(new.kind.as_deref(), None | Some("display" | "api")) {
        return Err(invalid("`kind` must be \"display\" or \"api\"".into()));
    }
    if let Some(repos) = &new.repos {
        if repos.len() > MAX_REPOS {
            return Err(invalid(format!(
                "`repos` names at most {MAX_REPOS} repositories"
            )));
        }
        if let Some(bad) = repos
            .iter()
            .position(|repo| !super::api::valid_repo_name(repo))
        {
            return Err(invalid(format!("`repos[{bad}]` must be \"owner/name\"")));
        }
    }
    Ok(new)
}

async fn create_token(
    viewer: Viewer,
    state: AppState,
    body: bytes::Bytes,
) -> Result<Response, Error> {
    admin_only(&viewer, &state)?;
    let new = parse_new(&body)?;
    let kind = new.kind.unwrap_or_else(|| "display".into());
    let (secret, row) = new_token(&new.name, &kind, new.repos, now());
    let stored = state
        .ingest
        .write(move |conn| tokens::create(conn, &row))
        .await?;
    state.access.add_token(&stored);
    tracing::info!(id = stored.info.id, name = %stored.info.name, kind = %stored.info.kind, "token created");
    let mut body = serde_json::to_value(&stored.info).expect("a token serialises");
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
    let not_found = || Error::NotFound(format!("no token with id {id}"));
    let number: i64 = id.parse().map_err(|_| not_found())?;
    let now = now();
    let revoked = state
        .ingest
        .write(move |conn| tokens::revoke(conn, number, now))
        .await?
        .ok_or_else(not_found)?;
    state.access.revoke(number);
    tracing::info!(id = number, name = %revoked.name, "token revoked");
    Ok(warp::reply::json(&json!({ "token": revoked })).into_response())
}
