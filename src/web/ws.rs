//! `GET /ws`: the live feed. On connect a client gets `hello` and a `snapshot` of recent runs, then
//! every change as it is committed (`run`, `job`, `commit`, `branch`); a `run` message also has
//! `html`, the board's fragments for it (see [`crate::views::RunFragments`]). A client that falls behind
//! gets a new `snapshot` (with `reason: "lagged"`) instead of silently missing updates. The server
//! pings every `ping_interval` and drops clients silent for `idle_timeout` (see
//! [`WsTiming`]); on shutdown each client gets a close frame (1001, going away).
//!
//! Under pressure: at most `--max-ws-clients` are served (an upgrade over the cap gets 503); a
//! client that stops reading is dropped when one send takes longer than `send_timeout`, so it holds
//! at most one message and never delays the others (the hub's channel is bounded, and a client
//! that falls behind it lags); a client frame over [`MAX_CLIENT_MESSAGE`] bytes closes that
//! connection only.
//!
//! Each client reads as the request's [`Viewer`]: its snapshots hold only runs of repositories it
//! may read, and a message about any other repository is never sent to it (the hub's messages
//! carry their repository). A client signed in with a display or API token is closed (1008,
//! policy violation) the moment that token is revoked, and one of a signed-in session the moment
//! the session ends (logout included). A change at `/settings` closes every client (1012, service
//! restart); they reconnect under the new settings and their pages resync (`hello`'s generation
//! counts settings changes too).

use futures_util::{SinkExt, StreamExt};
use tokio::sync::broadcast::{
    self,
    error::{RecvError, TryRecvError},
};
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tracing::debug;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

use super::error::{json_error, CrossOrigin};
use super::host::Hosts;
use super::signin::SESSION_COOKIE;
use super::socket::{self, Socket};
use super::{with_state, AppState};
use crate::config::WsTiming;
use crate::hub;
use crate::scope::{Viewer, Who};
use crate::store::query::{self, RunFilter};
use tokio_util::sync::CancellationToken;

/// Runs in a snapshot.
pub const SNAPSHOT_RUNS: u32 = 50;
/// Most waiting updates sent to a client in one write.
const MAX_BATCH: usize = 16;
pub use super::socket::MAX_CLIENT_MESSAGE;

/// `GET /ws`.
pub fn routes(state: AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    warp::path!("ws")
        .and(state.limits.reads.filter())
        .and(super::access::with_viewer(state.access.clone()))
        .and(same_origin(state.hosts.clone()))
        .and(warp::cookie::optional::<String>(SESSION_COOKIE))
        .and(socket::upgrade())
        .and(with_state(state))
        .map(
            |viewer: Viewer, session: Option<String>, upgrade: socket::Upgrade, state: AppState| {
                // Take the slot before upgrading: concurrent upgrades cannot overshoot the cap.
                let Some(slot) = state.hub.admit(state.config.max_ws_clients) else {
                    tracing::warn!(
                        max = state.config.max_ws_clients,
                        "WebSocket client refused: too many clients"
                    );
                    let reply = json_error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "too_many_clients",
                        "too many WebSocket clients; try again later",
                    );
                    return warp::reply::with_header(reply, "retry-after", "30").into_response();
                };
                let ended = access_ended(&state, &viewer, session.as_deref());
                let (response, socket) = upgrade.accept();
                let hub = state.hub.clone();
                hub.spawn_client(slot, async move {
                    if let Some(socket) = socket.await {
                        serve_client(socket, state, viewer, ended).await;
                    }
                });
                response
            },
        )
}

/// A page from another site must not open the feed (cross-site WebSocket hijacking): a browser
/// always sends `Origin`, which must be the public URL's origin (`--public-url`), or without one,
/// name the host the client asked for. Clients that are not browsers send no `Origin` and pass.
fn same_origin(hosts: Hosts) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::header::optional::<String>("origin")
        .and(warp::header::optional::<String>("host"))
        .and_then(move |origin: Option<String>, host: Option<String>| {
            let allowed = origin
                .as_deref()
                .is_none_or(|origin| hosts.is_own_origin(origin, host.as_deref()));
            std::future::ready(if allowed {
                Ok(())
            } else {
                tracing::info!(
                    ?origin,
                    ?host,
                    "refused a WebSocket upgrade from another origin"
                );
                Err(warp::reject::custom(CrossOrigin))
            })
        })
        .untuple_one()
}

/// Cancelled when the access the client connected with ends: its display or API token is
/// revoked, or its signed-in session ends (logout, a token GitHub refuses, a revoked
/// authorisation).
fn access_ended(state: &AppState, viewer: &Viewer, session: Option<&str>) -> CancellationToken {
    match (viewer.who(), session) {
        (Who::User { login }, Some(id)) => state.sessions.ended(id, login),
        _ => state.access.revoked(viewer),
    }
}

/// The `snapshot` message: the newest runs `viewer` may read.
async fn snapshot(state: &AppState, viewer: &Viewer, reason: &str, missed: u64) -> Option<String> {
    let filter = viewer.restrict(RunFilter::default());
    match state
        .store
        .read(move |conn| query::runs(conn, &filter, None, SNAPSHOT_RUNS))
        .await
    {
        Ok(builds) => Some(crate::feed::snapshot(
            reason,
            missed,
            builds,
            viewer.privacy(),
        )),
        Err(err) => {
            tracing::error!(cause = %err, "could not read a snapshot for a WebSocket client");
            None
        }
    }
}

/// Sends `messages` and flushes them, in one write when they fit the socket's write buffer;
/// `false` if the client is gone or did not take them within `limit`.
async fn send(
    socket: &mut futures_util::stream::SplitSink<Socket, Message>,
    messages: impl IntoIterator<Item = Message>,
    limit: std::time::Duration,
) -> bool {
    let sent = timeout(limit, async {
        for message in messages {
            socket.feed(message).await?;
        }
        socket.flush().await
    })
    .await;
    matches!(sent, Ok(Ok(())))
}

/// What a client is sent next: the update it woke for, and every update already waiting behind it
/// (up to [`MAX_BATCH`]), so that a client served late catches up in one write; updates about
/// repositories `viewer` may not read are dropped (the batch may then be empty). A lag anywhere
/// turns into a fresh snapshot; `None` when the hub closed or the snapshot could not be read.
async fn next_batch(
    first: Result<hub::Message, RecvError>,
    updates: &mut broadcast::Receiver<hub::Message>,
    state: &AppState,
    viewer: &Viewer,
) -> Option<Vec<Message>> {
    let mut batch = Vec::new();
    let mut next = first;
    loop {
        match next {
            // Shared bytes: no copy per client.
            Ok(message) if viewer.may_read(&message.repo) => {
                batch.push(Message::Text(message.text));
            }
            Ok(_) => {}
            Err(RecvError::Lagged(missed)) => {
                debug!(missed, "WebSocket client lagged; sending a fresh snapshot");
                crate::counters::BROADCAST_LAGS.inc();
                batch.clear();
                batch.push(Message::text(
                    snapshot(state, viewer, "lagged", missed).await?,
                ));
                return Some(batch);
            }
            Err(RecvError::Closed) => return (!batch.is_empty()).then_some(batch),
        }
        if batch.len() >= MAX_BATCH {
            return Some(batch);
        }
        next = match updates.try_recv() {
            Ok(text) => Ok(text),
            Err(TryRecvError::Empty) => return Some(batch),
            Err(TryRecvError::Lagged(missed)) => Err(RecvError::Lagged(missed)),
            Err(TryRecvError::Closed) => Err(RecvError::Closed),
        };
    }
}

async fn serve_client(socket: Socket, state: AppState, viewer: Viewer, ended: CancellationToken) {
    let WsTiming {
        ping_interval,
        idle_timeout,
        send_timeout,
    } = state.config.ws_timing;
    let (mut sink, mut stream) = socket.split();
    // Subscribe before reading the snapshot, so no change falls between the two.
    let mut updates = state.hub.subscribe();
    let shutdown = state.hub.shutdown_token();
    // A change of the settings closes the socket: the client reconnects (as a viewer under the
    // authors rule of the moment) and its page resyncs, as the generation moved.
    let mut settings = state.settings.subscribe();
    // The generation pages carry too: a page rendered before a change or a settings change
    // resyncs when its socket (re)connects.
    let hello = crate::feed::hello(state.render_generation());
    if !send(&mut sink, [Message::text(hello)], send_timeout).await {
        return;
    }
    let Some(first) = snapshot(&state, &viewer, "connect", 0).await else {
        return;
    };
    if !send(&mut sink, [Message::text(first)], send_timeout).await {
        return;
    }
    let mut ping = tokio::time::interval_at(Instant::now() + ping_interval, ping_interval);
    let mut last_heard = Instant::now();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => {
                let _ = timeout(send_timeout, sink.send(Message::Close(Some(CloseFrame { code: CloseCode::Away, reason: "server shutting down".into() })))).await;
                break;
            }
            () = ended.cancelled() => {
                debug!("closing a WebSocket client whose token was revoked or session ended");
                let _ = timeout(send_timeout, sink.send(Message::Close(Some(CloseFrame { code: CloseCode::Policy, reason: "access ended".into() })))).await;
                break;
            }
            Ok(()) = settings.changed() => {
                debug!("closing a WebSocket client: the settings changed");
                let _ = timeout(send_timeout, sink.send(Message::Close(Some(CloseFrame { code: CloseCode::Restart, reason: "settings changed".into() })))).await;
                break;
            }
            update = updates.recv() => {
                let Some(batch) = next_batch(update, &mut updates, &state, &viewer).await else {
                    break;
                };
                if batch.is_empty() {
                    continue;
                }
                if !send(&mut sink, batch, send_timeout).await {
                    debug!("dropping a WebSocket client that does not read");
                    break;
                }
            }
            incoming = stream.next() => match incoming {
                Some(Ok(message)) if message.is_close() => break,
                Some(Ok(_)) => last_heard = Instant::now(),
                Some(Err(err)) => {
                    debug!(cause = %err, "WebSocket client error; closing it");
                    break;
                }
                None => break,
            },
            _ = ping.tick() => {
                if last_heard.elapsed() > idle_timeout
                    || !send(&mut sink, [Message::Ping(Default::default())], send_timeout).await
                {
                    debug!("dropping an unresponsive WebSocket client");
                    break;
                }
            }
        }
    }
    // Bounded too: closing flushes, and a client that stopped reading would hold this task (and
    // its connection slot) forever.
    let _ = timeout(send_timeout, sink.close()).await;
}
