//! The model analysis behind the run page's "Ask the model" button (`crate::analysis`), only
//! with `--analysis-url`; without it both routes answer `404 analysis_off`.
//!
//! - `GET /api/analysis`: the CSRF token the page sends with its question (`{"csrf": ...}`).
//! - `POST /api/jobs/<id>/analysis`: asks the model why job `id` failed (or gives the answer
//!   asked within the last minutes): `{"job_id", "answer", "model", "cached"}`. The answer is
//!   text: the page shows it as text, never as markup.
//!
//! Who may ask: whoever may read the job's run page. A job of a repository the reader may not
//! read is answered as one that does not exist, before anything is sent anywhere. A question
//! rides on the reader's cookies, so it needs what the board's other `POST`s need from a
//! browser (`web::act`): the CSRF token and an `Origin` of the board itself; a tool's bearer
//! token needs neither. Questions share the per-IP budget of actions (`--action-rate-limit` a
//! minute).
//!
//! The answers: `404` for no such job (or one the reader may not read), `409 no_evidence` for a
//! job that did not fail or has no excerpt and no rule's sentence, `502 analysis_failed` when the
//! model server cannot be reached or answers badly, `504 analysis_timeout` when it is too slow.

use serde_json::json;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply as _};

use super::act::{caller, check_reader_post, no_store, reader_csrf, Caller};
use super::error::json_error;
use super::{with_state, AppState};
use crate::analysis::{Error, Facts};
use crate::scope::Viewer;
use crate::store::runpage::JobDetail;

/// Every answer here.
type Reply = warp::reply::Response;

/// `GET /api/analysis` and `POST /api/jobs/<id>/analysis`.
pub fn routes(state: AppState) -> impl Filter<Extract = (Reply,), Error = Rejection> + Clone {
    let token = warp::path!("api" / "analysis")
        .and(warp::get())
        .and(state.limits.reads.filter())
        .and(super::access::with_viewer(state.access.clone()))
        .and(caller())
        .and(with_state(state.clone()))
        .map(|_viewer: Viewer, caller: Caller, state: AppState| {
            no_store(match off(&state) {
                Some(off) => off,
                None => {
                    let csrf = reader_csrf(&state.act, &caller);
                    warp::reply::json(&json!({ "csrf": csrf })).into_response()
                }
            })
        });
    let ask = warp::path!("api" / "jobs" / i64 / "analysis")
        .and(warp::post())
        .and(state.act.limiter().filter())
        .and(super::access::with_viewer(state.access.clone()))
        .and(caller())
        .and(with_state(state))
        .then(
            |id: i64, viewer: Viewer, caller: Caller, state: AppState| async move {
                no_store(ask(&state, &viewer, &caller, id).await)
            },
        );
    token.or(ask).unify()
}

/// The `404` of a board without `--analysis-url`, if it is one.
fn off(state: &AppState) -> Option<Reply> {
    (!state.analysis.is_on()).then(off_reply)
}

fn off_reply() -> Reply {
    json_error(
        StatusCode::NOT_FOUND,
        "analysis_off",
        "the model analysis is off: start the server with --analysis-url",
    )
}

/// `POST /api/jobs/<id>/analysis`: parse (who, which job) → ask → answer.
async fn ask(state: &AppState, viewer: &Viewer, caller: &Caller, id: i64) -> Reply {
    if let Some(off) = off(state) {
        return off;
    }
    if let Err(refused) = check_reader_post(state, caller) {
        return *refused;
    }
    let job = match failed_job(state, viewer, id).await {
        Ok(job) => job,
        Err(refused) => return refused,
    };
    let Some(facts) = Facts::of(&job) else {
        return json_error(
            StatusCode::CONFLICT,
            "no_evidence",
            &format!(
                "job {id} did not fail, or its log has not been read yet: there is no evidence \
                 to ask the model about"
            ),
        );
    };
    match state.analysis.ask(id, &facts).await {
        Some(Ok(answer)) => warp::reply::json(&answer).into_response(),
        Some(Err(err)) => failed(&err),
        None => off_reply(),
    }
}

/// Job `id` as its run page shows it, read as the run page reads it (the same scope check);
/// otherwise the answer that says it is not there.
async fn failed_job(state: &AppState, viewer: &Viewer, id: i64) -> Result<JobDetail, Reply> {
    let not_found = || {
        json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("no job with id {id}"),
        )
    };
    let job = state
        .store
        .read(move |conn| crate::store::logs::job(conn, id))
        .await
        .map_err(|err| super::Error::from(err).into_response())?
        // A job of a repository the reader may not read answers as one that is not stored.
        .filter(|job| viewer.may_read(&job.repo))
        .ok_or_else(not_found)?;
    let detail = super::runs::read_run(state, viewer, job.run_id)
        .await
        .map_err(|err| err.into_response())?;
    detail
        .attempts
        .into_iter()
        .flat_map(|attempt| attempt.jobs)
        .find(|job| job.id == id)
        .ok_or_else(not_found)
}

/// The answer to a question the model server did not answer well: `504 analysis_timeout` when
/// it was too slow, else `502 analysis_failed`; the message says what happened.
fn failed(err: &Error) -> Reply {
    let (status, code) = if err.is_timeout() {
        (StatusCode::GATEWAY_TIMEOUT, "analysis_timeout")
    } else {
        (StatusCode::BAD_GATEWAY, "analysis_failed")
    };
    json_error(status, code, &format!("no analysis: {err}"))
}
