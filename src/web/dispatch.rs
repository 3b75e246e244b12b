//! Starting a workflow by hand (`workflow_dispatch`) as the signed-in person.
//!
//! - `GET /api/workflows/<id>/dispatch[?ref=<branch>]`: the form, as JSON: the workflow, the ref
//!   (default: the repository's default branch) and its inputs, read from the workflow file at
//!   that ref (`GET /repos/{o}/{r}/contents/{path}?ref=...` with the person's token, parsed by
//!   `github::dispatch`).
//! - `POST /api/workflows/<id>/dispatch` with `{"ref": "main", "inputs": {...}}`: checks the values
//!   against the inputs (a wrong one is `400 bad_input`, naming it) and asks GitHub
//!   (`POST /repos/{o}/{r}/actions/workflows/{id}/dispatches`) with the person's token. GitHub's
//!   refusals come back in words (`422` bad input, `404` unknown workflow or ref).
//!
//! Only a person signed in with GitHub who may write to the repository may; others get `403`
//! (`no_write_access`, or `person_only` for an operator, whose server token GitHub would record
//! instead of them). Authentication and its CSRF defences are `web::act`'s.

use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply as _};

use super::act::{authenticate, caller, may_write, no_store, no_write_access, Actor, Caller};
use super::error::json_error;
use super::signin::SignedIn;
use super::{with_state, AppState};
use crate::github::client::repo_path;
use crate::github::dispatch::{self, Input};
use crate::github::person;
use crate::store::read::WorkflowFile;

/// Every answer here.
type Reply = warp::reply::Response;

/// Largest form accepted.
const MAX_BODY: u64 = 16 * 1024;

/// What the form posts.
#[derive(Debug, Deserialize)]
struct Form {
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    #[serde(default)]
    inputs: Map<String, Value>,
}

/// `GET` and `POST /api/workflows/<id>/dispatch`.
pub fn routes(state: AppState) -> impl Filter<Extract = (Reply,), Error = Rejection> + Clone {
    let limit = state.act.limiter().clone();
    let path = warp::path!("api" / "workflows" / i64 / "dispatch");
    let form = path
        .and(warp::get())
        .and(warp::query::<std::collections::HashMap<String, String>>())
        .and(caller())
        .and(with_state(state.clone()))
        .then(
            |id: i64,
             query: std::collections::HashMap<String, String>,
             caller: Caller,
             state: AppState| async move {
                let git_ref = query.get("ref").cloned();
                no_store(match person_for(&state, &caller, id).await {
                    Ok((person, workflow)) => show_form(&state, &person, &workflow, git_ref).await,
                    Err(refused) => *refused,
                })
            },
        );
    let start = path
        .and(warp::post())
        .and(limit.filter())
        .and(caller())
        .and(warp::body::content_length_limit(MAX_BODY))
        .and(warp::body::json::<Form>())
        .and(with_state(state))
        .then(
            |id: i64, caller: Caller, form: Form, state: AppState| async move {
                no_store(match person_for(&state, &caller, id).await {
                    Ok((person, workflow)) => start(&state, &person, &workflow, form).await,
                    Err(refused) => *refused,
                })
            },
        );
    form.or(start).unify()
}

/// The signed-in person who may start workflow `id`, and the workflow; otherwise the answer that
/// refuses. A workflow of a repository they may not read is answered as one that does not exist.
async fn person_for(
    state: &AppState,
    caller: &Caller,
    id: i64,
) -> Result<(SignedIn, WorkflowFile), Box<Reply>> {
    let actor = authenticate(state, caller).await?;
    let found = state
        .store
        .read(move |conn| crate::store::read::workflow_file(conn, id))
        .await
        .map_err(|err| Box::new(super::Error::from(err).into_response()))?;
    let workflow = match found {
        Some(workflow) if actor.may_read(&workflow.repo) => workflow,
        _ => {
            return Err(Box::new(json_error(
                StatusCode::NOT_FOUND,
                "not_found",
                &format!("no workflow {id} on this board"),
            )))
        }
    };
    if workflow.source != crate::source::Source::Actions.as_str() {
        return Err(Box::new(json_error(
            StatusCode::CONFLICT,
            "not_actions",
            "only GitHub Actions workflows can be started from the board",
        )));
    }
    match actor {
        Actor::Person(person) if may_write(&person, &workflow.repo) => Ok((person, workflow)),
        Actor::Person(person) => Err(Box::new(no_write_access(&person.login, &workflow.repo))),
        Actor::Operator(_) => Err(Box::new(json_error(
            StatusCode::FORBIDDEN,
            "person_only",
            "starting a workflow needs a person signed in with GitHub (/login): GitHub records \
             who started it",
        ))),
    }
}

/// The ref asked for, else the repository's default branch.
fn ref_of(workflow: &WorkflowFile, asked: Option<String>) -> Result<String, Box<Reply>> {
    let git_ref = asked
        .filter(|r| !r.trim().is_empty())
        .or_else(|| workflow.default_branch.clone());
    match git_ref {
        Some(r) if r.len() <= 255 && !r.chars().any(char::is_control) => Ok(r),
        _ => Err(Box::new(json_error(
            StatusCode::BAD_REQUEST,
            "bad_ref",
            "give the branch or tag to run on as ref (at most 255 characters)",
        ))),
    }
}

/// The workflow's inputs at `git_ref`, read from GitHub as `person`.
async fn read_inputs(
    state: &AppState,
    person: &SignedIn,
    workflow: &WorkflowFile,
    git_ref: &str,
) -> Result<Vec<Input>, Box<Reply>> {
    let mut parts = vec!["contents"];
    parts.extend(workflow.path.split('/'));
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("ref", git_ref)
        .finish();
    let url = format!(
        "{}{}?{query}",
        state.github_app.api_url(),
        repo_path(&workflow.repo, &parts)
    );
    let http = state.github_app.http();
    let answer = person::send(http, reqwest::Method::GET, &url, &person.user_token, None)
        .await
        .map_err(|err| {
            Box::new(refused(
                StatusCode::BAD_GATEWAY,
                "github_unreachable",
                &err.to_string(),
            ))
        })?;
    if answer.status == 404 {
        let message = format!("GitHub has no {} at {git_ref}", workflow.path);
        return Err(Box::new(refused(
            StatusCode::NOT_FOUND,
            "github_not_found",
            &message,
        )));
    }
    if answer.status != 200 {
        let message = format!("GitHub answered {} ({})", answer.status, answer.message);
        return Err(Box::new(refused(
            StatusCode::BAD_GATEWAY,
            "github_error",
            &message,
        )));
    }
    let encoded: String = answer.body["content"]
        .as_str()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let text = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_default();
    dispatch::inputs(&text).map_err(|err| {
        let status = match err {
            dispatch::Error::NoDispatch => StatusCode::CONFLICT,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        Box::new(refused(status, "not_dispatchable", &err.to_string()))
    })
}

fn refused(status: StatusCode, code: &str, message: &str) -> Reply {
    json_error(status, code, message)
}

/// `GET`: the form.
async fn show_form(
    state: &AppState,
    person: &SignedIn,
    workflow: &WorkflowFile,
    asked: Option<String>,
) -> Reply {
    let git_ref = match ref_of(workflow, asked) {
        Ok(r) => r,
        Err(refused) => return *refused,
    };
    match read_inputs(state, person, workflow, &git_ref).await {
        Ok(inputs) => warp::reply::json(&json!({
            "workflow": {"id": workflow.id, "name": workflow.name, "path": workflow.path},
            "repo": workflow.repo,
            "ref": git_ref,
            "inputs": inputs,
        }))
        .into_response(),
        Err(refused) => *refused,
    }
}

/// `POST`: checks the values and asks GitHub to start the workflow, as `person`.
async fn start(state: &AppState, person: &SignedIn, workflow: &WorkflowFile, form: Form) -> Reply {
    let git_ref = match ref_of(workflow, form.git_ref) {
        Ok(r) => r,
        Err(refused) => return *refused,
    };
    let inputs = match read_inputs(state, person, workflow, &git_ref).await {
        Ok(inputs) => inputs,
        Err(refused) => return *refused,
    };
    let checked = match dispatch::check(&inputs, &form.inputs) {
        Ok(checked) => checked,
        Err(err) => return refused(StatusCode::BAD_REQUEST, "bad_input", &err.to_string()),
    };
    let path = repo_path(
        &workflow.repo,
        &[
            "actions",
            "workflows",
            &workflow.id.to_string(),
            "dispatches",
        ],
    );
    let url = format!("{}{path}", state.github_app.api_url());
    let body = json!({"ref": git_ref, "inputs": checked});
    let http = state.github_app.http();
    let answer = person::send(
        http,
        reqwest::Method::POST,
        &url,
        &person.user_token,
        Some(&body),
    )
    .await;
    let (status, code, message) = match answer {
        Err(err) => (
            StatusCode::BAD_GATEWAY,
            "github_unreachable",
            err.to_string(),
        ),
        Ok(answer) => explain(&answer, &workflow.name, &git_ref),
    };
    tracing::info!(login = %person.login, workflow = workflow.id, repo = %workflow.repo, git_ref, %status, "workflow dispatch");
    if status != StatusCode::ACCEPTED {
        return refused(status, code, &message);
    }
    let reply = json!({"workflow": workflow.id, "ref": git_ref, "message": message});
    warp::reply::with_status(warp::reply::json(&reply), status).into_response()
}

/// What the person is told of GitHub's answer to a dispatch.
fn explain(
    answer: &person::Answer,
    workflow: &str,
    git_ref: &str,
) -> (StatusCode, &'static str, String) {
    let theirs = if answer.message.is_empty() {
        String::new()
    } else {
        format!(" (GitHub: {})", answer.message)
    };
    match answer.status {
        200..=299 => (
            StatusCode::ACCEPTED,
            "requested",
            format!("Started {workflow} on {git_ref}; its run arrives by webhook"),
        ),
        401 => (
            StatusCode::BAD_GATEWAY,
            "github_unauthorized",
            format!("GitHub rejected your sign-in (sign in again at /login){theirs}"),
        ),
        403 => (
            StatusCode::FORBIDDEN,
            "github_forbidden",
            format!("GitHub does not let you start this workflow (needs write access){theirs}"),
        ),
        404 => (
            StatusCode::NOT_FOUND,
            "github_not_found",
            format!("GitHub does not know this workflow, or the ref {git_ref}{theirs}"),
        ),
        422 => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "github_refused",
            format!(
                "GitHub refused to start it: the inputs or the ref do not fit the workflow{theirs}"
            ),
        ),
        status => (
            StatusCode::BAD_GATEWAY,
            "github_error",
            format!("GitHub answered {status}{theirs}"),
        ),
    }
}
