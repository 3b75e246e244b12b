//! The WebSocket handshake, with tokio-tungstenite configured for a feed with many idle readers.
//!
//! warp's own `ws()` filter cannot size tungstenite's buffers, and tungstenite's default read buffer
//! (128 KiB, zero-filled on the first frame read, which a pong is) would cost every idle board that
//! much memory. This module checks the upgrade request with warp filters, answers `101 Switching
//! Protocols` itself, and wraps the upgraded connection in a [`WebSocketStream`] whose buffers fit
//! what a board client sends (pongs) and receives (a message, or a batch of them, per write).

use std::future::Future;

use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;
use warp::http::{header, StatusCode};
use warp::hyper::upgrade::{OnUpgrade, Upgraded};
use warp::reply::Response;
use warp::{Filter, Rejection};

/// An accepted WebSocket connection.
pub type Socket = WebSocketStream<TokioIo<Upgraded>>;

/// Bytes read from a client at a time; clients only send pongs and close frames.
const READ_BUFFER: usize = 4 * 1024;
/// Largest message (and frame) a client may send; clients have nothing to say beyond pongs.
pub const MAX_CLIENT_MESSAGE: usize = 4 * 1024;
/// Outgoing bytes gathered before they are written even without a flush.
const WRITE_BATCH: usize = 16 * 1024;
/// Outgoing bytes a client may leave unread before its connection fails (it stopped reading).
const MAX_UNSENT: usize = 1024 * 1024;

/// The buffer sizes every connection gets.
fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        // Frames queue in the write buffer until the feed flushes, which it does after each
        // message, or after a batch of messages that were already waiting (see `ws`): one write
        // per batch, so a busy server catches up with fewer, fuller packets.
        .write_buffer_size(WRITE_BATCH)
        .max_write_buffer_size(MAX_UNSENT)
        .max_message_size(Some(MAX_CLIENT_MESSAGE))
        .max_frame_size(Some(MAX_CLIENT_MESSAGE))
}

/// A valid upgrade request, not yet answered.
pub struct Upgrade {
    key: String,
    on_upgrade: OnUpgrade,
}

/// Matches a WebSocket upgrade request (RFC 6455 §4.2.1); anything else is rejected, so that
/// plain `GET`s of the path fall through as usual.
pub fn upgrade() -> impl Filter<Extract = (Upgrade,), Error = Rejection> + Clone {
    let connection_upgrade = warp::header::<String>("connection")
        .and_then(|value: String| {
            let ok = value
                .split(',')
                .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
            std::future::ready(if ok {
                Ok(())
            } else {
                Err(warp::reject::not_found())
            })
        })
        .untuple_one();
    warp::get()
        .and(connection_upgrade)
        .and(warp::header::exact_ignore_case("upgrade", "websocket"))
        .and(warp::header::exact("sec-websocket-version", "13"))
        .and(warp::header::<String>("sec-websocket-key"))
        .and(warp::ext::get::<OnUpgrade>())
        .map(|key: String, on_upgrade: OnUpgrade| Upgrade { key, on_upgrade })
}

impl Upgrade {
    /// The `101` reply, and the future that yields the connection once the reply is sent (spawn
    /// it; it yields `None` if the client went away during the handshake).
    pub fn accept(
        self,
    ) -> (
        Response,
        impl Future<Output = Option<Socket>> + Send + 'static,
    ) {
        let accept_key = derive_accept_key(self.key.as_bytes());
        let mut response = Response::default();
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(
            header::UPGRADE,
            header::HeaderValue::from_static("websocket"),
        );
        headers.insert(
            header::CONNECTION,
            header::HeaderValue::from_static("upgrade"),
        );
        headers.insert(
            header::SEC_WEBSOCKET_ACCEPT,
            header::HeaderValue::from_str(&accept_key)
                .expect("a base64 key is a valid header value"),
        );
        let on_upgrade = self.on_upgrade;
        let socket = async move {
            match on_upgrade.await {
                Ok(upgraded) => Some(
                    WebSocketStream::from_raw_socket(
                        TokioIo::new(upgraded),
                        Role::Server,
                        Some(config()),
                    )
                    .await,
                ),
                Err(err) => {
                    tracing::debug!(cause = %err, "WebSocket upgrade failed");
                    None
                }
            }
        };
        (response, socket)
    }
}
