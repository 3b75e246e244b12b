//! Claiming a red ("alice is on it"): `POST /api/reds/<first_red_run>/claim` claims the red that
//! starts at that run, `DELETE` on the same address releases it. A red is named by its first red
//! run (Triage's `first_red.id`, the Wall's `first_red_run`), which is also how the claim ends
//! by itself: once the workflow is green, its next red starts elsewhere (`store::claims`).
//!
//! - Who may claim: a person signed in with GitHub, on a repository they may read, or an
//!   operator; both authenticated as for re-runs (`web::act`: cookie + CSRF token, or an
//!   operator's bearer token), within the same per-IP budget. A red of a repository they may not
//!   read is answered exactly as one that does not exist.
//! - A red claimed by someone else is `409`; it is released by its claimer or an operator.
//! - Each change is published on the feed as `{"type": "claim", ...}` about the red's repository
//!   (so only its readers get it), which moves the hub's generation: the Wall and Triage redraw.
//!   The claimer's name is a person's name: with `--hide-authors` it is left out everywhere.

use serde_json::json;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply as _};

use super::act::{authenticate, caller, no_store, Actor, Caller};
use super::error::json_error;
use super::{with_state, AppState};
use crate::run_state;
use crate::store::claims;
use crate::store::model::Run;

/// Every answer here.
type Reply = warp::reply::Response;

/// `POST` and `DELETE /api/reds/<first_red_run>/claim`.
pub fn routes(state: AppState) -> impl Filter<Extract = (Reply,), Error = Rejection> + Clone {
    let limit = state.act.limiter().clone();
    warp::path!("api" / "reds" / i64 / "claim")
        .and(
            warp::post()
                .map(|| true)
                .or(warp::delete().map(|| false))
                .unify(),
        )
        .and(limit.filter())
        .and(caller())
        .and(with_state(state))
        .then(
            |id: i64, claiming: bool, caller: Caller, state: AppState| async move {
                let reply = match authenticate(&state, &caller).await {
                    Ok(actor) => change(&state, &actor, id, claiming).await,
                    Err(refused) => *refused,
                };
                no_store(reply)
            },
        )
}

/// Claims or releases, as `actor`, the red that starts at run `id`.
async fn change(state: &AppState, actor: &Actor, id: i64, claiming: bool) -> Reply {
    let run = match red(state, actor, id).await {
        Ok(run) => run,
        Err(refused) => return *refused,
    };
    let hide = state.opts().privacy.hide_authors;
    let name = |by: Option<&str>| match by {
        Some(by) if !hide => by.to_owned(),
        _ => "someone".to_owned(),
    };
    let login = actor.name().to_owned();
    let release_any = matches!(actor, Actor::Operator(_));
    let written = state
        .ingest
        .write(move |conn| store_change(conn, id, &login, claiming, release_any))
        .await;
    match written {
        Err(err) => super::Error::from(err).into_response(),
        Ok(Err(holder)) if claiming => json_error(
            StatusCode::CONFLICT,
            "claimed",
            &format!("{} is on it already", name(holder.as_deref())),
        ),
        Ok(Err(holder)) => json_error(
            StatusCode::FORBIDDEN,
            "not_your_claim",
            &format!(
                "{} is on it: only they or an operator can release it",
                name(holder.as_deref())
            ),
        ),
        Ok(Ok(_)) => {
            let by = claiming.then(|| name(Some(actor.name())));
            publish(state, &run, id, by.as_deref());
            tracing::info!(actor = actor.name(), red = id, claiming, "claim");
            let message = match &by {
                Some(by) => format!("{by} is on it"),
                None => "released".to_owned(),
            };
            let body = json!({ "first_red_run": id, "claimed_by": by, "message": message });
            warp::reply::json(&body).into_response()
        }
    }
}

/// Claims (or releases) the red that starts at `id` for `login` (any claim, with `release_any`):
/// `Err` with the name of who else holds it, when that is why nothing changed.
fn store_change(
    conn: &rusqlite::Connection,
    id: i64,
    login: &str,
    claiming: bool,
    release_any: bool,
) -> crate::store::Result<Result<(), Option<String>>> {
    if claiming {
        let held = claims::claim(conn, id, login, super::now())?;
        return Ok(held.map(|_| ()).map_err(|other| other.by));
    }
    let ended = claims::release(conn, id, (!release_any).then_some(login))?;
    let holder = claims::holder(conn, id)?;
    Ok(if ended || holder.is_none() {
        Ok(())
    } else {
        Err(holder)
    })
}

/// The run `id` when it starts a red (failed, after a run that did not) of a repository `actor`
/// may read; otherwise the `404` that a run that does not exist gets too.
async fn red(state: &AppState, actor: &Actor, id: i64) -> Result<Run, Box<Reply>> {
    let found = state
        .store
        .read(move |conn| {
            let run = crate::store::read::run(conn, id)?;
            Ok(run.zip(Some(claims::starts_a_red(conn, id)?)))
        })
        .await;
    match found {
        Ok(Some((run, true)))
            if actor.may_read(&run.repo) && run_state::is_red(run.conclusion.as_ref()) =>
        {
            Ok(run)
        }
        Ok(_) => Err(Box::new(json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("no red starts at run {id} on this board"),
        ))),
        Err(err) => Err(Box::new(super::Error::from(err).into_response())),
    }
}

/// Tells the feed (the readers of `run`'s repository) that a claim changed.
fn publish(state: &AppState, run: &Run, id: i64, by: Option<&str>) {
    state.hub.publish(&run.repo, || {
        json!({
            "type": "claim",
            "repo": run.repo,
            "first_red_run": id,
            "claimed_by": by,
        })
        .to_string()
    });
}
