//! Serving connections: buildboard accepts them itself and drives each with hyper's HTTP/1 server,
//! instead of `warp::serve`, so that a client that never authenticates cannot hold the server's
//! connections or file descriptors:
//!
//! - **Timeouts that fire.** warp 0.4 gives hyper no timer, so hyper's header-read timeout never
//!   fires and an idle or slowloris connection stays open forever. Here hyper has tokio's timer: a
//!   connection that has not sent a whole request head within `--header-timeout` is closed. Hyper
//!   starts that clock when it waits for a request, after connecting and again after each response,
//!   so the same timeout closes idle keep-alive connections. Upgraded WebSocket connections have
//!   left hyper and keep their own ping and idle timers (see `web::ws`).
//! - **Deadlines for every request.** Every request's body must arrive within `--body-timeout` of
//!   its head (reading it later fails with [`BodyTimeout`], which the routes answer with `408`),
//!   and every request must be answered within `--request-timeout`: a later one gets `408` (its
//!   body never came) or `503`, and its connection is closed.
//! - **A cap on connections.** At most `max_connections` are open at once (WebSocket clients
//!   included: their slot goes with the socket). At the cap, the oldest connection with no request
//!   in flight for [`IDLE_GRACE`] (idle, or still dribbling its headers) is closed to make room;
//!   when every one has a request in flight, the one whose request body has waited longest for a
//!   byte (at least [`STALLED_AFTER`]) is closed instead, so `/healthz` and deliveries get through
//!   while a client piles up idle sockets or stalled uploads. A connection whose request is being
//!   answered (its body whole, or still arriving) is never closed for room.
//! - **File limit.** [`raise_file_limit`] raises the soft `RLIMIT_NOFILE` to the hard limit, and
//!   the default cap leaves [`RESERVED_FILES`] below it for the database, logs and the runtime, so
//!   the cap is reached before `accept` fails with "Too many open files".
//!
//! Shutdown: the listener closes, idle connections close, in-flight requests are answered, then
//! [`run`] returns (as `warp::serve(..).graceful(..)` did).

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::body::{Body, Incoming};
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

/// File descriptors the default connection cap leaves for everything else: the database (each
/// pooled connection holds the file, its WAL and shared memory), logs, the runtime's own, the
/// GitHub client's sockets.
pub const RESERVED_FILES: u64 = 128;
/// The default cap never goes above this, even with an unlimited file limit.
const MAX_DEFAULT_CONNECTIONS: u64 = 1 << 20;
/// How often the accept loop, at the cap, looks again for an idle connection to close.
const ROOM_RETRY: Duration = Duration::from_millis(100);
/// How long the accept loop pauses after `accept` itself fails (e.g. the file limit was reached
/// anyway), instead of spinning.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// A request body waiting this long for its next byte counts as stalled: its connection may be
/// closed for room at the cap.
pub const STALLED_AFTER: Duration = Duration::from_secs(1);

/// A connection idle for less than this (just accepted, or just answered) is not closed for room:
/// its next request's head may be on its way.
pub const IDLE_GRACE: Duration = Duration::from_millis(200);

/// The client's address, in every request's extensions (warp's own is private to `warp::serve`).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// Raises the soft limit on open files to the hard limit; returns the soft limit now in force
/// (`None` where it cannot be read).
pub fn raise_file_limit() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => Some(limit),
        Err(err) => {
            warn!(cause = %err, "could not raise the open-file limit");
            rlimit::Resource::NOFILE.get().ok().map(|(soft, _)| soft)
        }
    }
}

/// The default `--max-connections` under a soft open-file limit of `files`.
pub fn default_max_connections(files: Option<u64>) -> usize {
    let files = files.unwrap_or(1024);
    let connections = files
        .saturating_sub(RESERVED_FILES)
        .clamp(16, MAX_DEFAULT_CONNECTIONS);
    usize::try_from(connections).unwrap_or(usize::MAX)
}

/// How connections are served.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// See `--header-timeout`.
    pub header_timeout: Duration,
    /// See `--max-connections`.
    pub max_connections: usize,
    /// See `--body-timeout`.
    pub body_timeout: Duration,
    /// See `--request-timeout`.
    pub request_timeout: Duration,
}

/// A request body that did not arrive within `--body-timeout`.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {} ms", .0.as_millis())]
pub struct BodyTimeout(pub Duration);

/// Whether `err`, or an error it wraps, is a [`BodyTimeout`].
pub fn is_body_timeout(err: &(dyn StdError + 'static)) -> bool {
    let mut cause = Some(err);
    while let Some(err) = cause {
        if err.is::<BodyTimeout>() {
            return true;
        }
        cause = err.source();
    }
    false
}

/// Milliseconds since the first call: the clock of [`Conn::last_byte`].
fn now_ms() -> u64 {
    static START: LazyLock<Instant> = LazyLock::new(Instant::now);
    u64::try_from(START.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// One open connection, as the accept loop sees it.
#[derive(Default)]
struct Conn {
    /// Requests being answered, until their responses are sent; while 0 the connection waits for
    /// (the rest of) a request and may be closed for room.
    in_flight: AtomicUsize,
    /// When the connection last became idle (accepted, or its last response sent), in
    /// [`now_ms`].
    idle_since: AtomicU64,
    /// Whether a request in flight still waits for its body.
    receiving: AtomicBool,
    /// When the body being received last got a byte (or its head arrived), in [`now_ms`].
    last_byte: AtomicU64,
    /// Tells the connection's task to close it for room.
    evict: Notify,
}

impl Conn {
    /// How long the body of the request in flight has waited for a byte; `None` when no request
    /// waits for its body.
    fn stalled_for(&self, now: u64) -> Option<Duration> {
        self.receiving.load(Ordering::Acquire).then(|| {
            Duration::from_millis(now.saturating_sub(self.last_byte.load(Ordering::Acquire)))
        })
    }

    /// Whether the connection has had no request in flight for [`IDLE_GRACE`].
    fn idle(&self, now: u64) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
            && now.saturating_sub(self.idle_since.load(Ordering::Acquire))
                >= IDLE_GRACE.as_millis() as u64
    }

    /// Whether the connection may be closed for room: [`Conn::idle`], or its request's body has
    /// stalled for [`STALLED_AFTER`].
    fn closable(&self, now: u64) -> bool {
        self.idle(now)
            || self
                .stalled_for(now)
                .is_some_and(|stalled| stalled >= STALLED_AFTER)
    }
}

/// A request's body, watched: each byte that arrives is noted on its connection (see
/// [`Conn::stalled_for`]), and reading it after its deadline fails with [`BodyTimeout`].
pub struct Watched {
    body: Incoming,
    conn: Arc<Conn>,
    deadline: Pin<Box<tokio::time::Sleep>>,
    timeout: Duration,
}

impl Watched {
    fn new(body: Incoming, conn: Arc<Conn>, timeout: Duration) -> Self {
        if !body.is_end_stream() {
            conn.last_byte.store(now_ms(), Ordering::Release);
            conn.receiving.store(true, Ordering::Release);
        }
        Self {
            body,
            conn,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            timeout,
        }
    }

    fn finished(&self) {
        self.conn.receiving.store(false, Ordering::Release);
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.finished();
    }
}

impl Body for Watched {
    type Data = bytes::Bytes;
    type Error = Box<dyn StdError + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        match Pin::new(&mut self.body).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                self.conn.last_byte.store(now_ms(), Ordering::Release);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(other) => {
                self.finished();
                Poll::Ready(other.map(|result| result.map_err(Into::into)))
            }
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    self.finished();
                    Poll::Ready(Some(Err(BodyTimeout(self.timeout).into())))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// Counts a request in flight on its connection while it lives.
struct InFlight(Arc<Conn>);

impl InFlight {
    fn new(conn: &Arc<Conn>) -> Self {
        conn.in_flight.fetch_add(1, Ordering::AcqRel);
        Self(conn.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.idle_since.store(now_ms(), Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request counted in flight until it is sent (or dropped).
struct Tracked<B> {
    body: B,
    _in_flight: InFlight,
}

impl<B: Body + Unpin> Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// The connections that hyper is serving (not the upgraded ones), oldest first.
#[derive(Default)]
struct Open {
    next_id: u64,
    conns: BTreeMap<u64, Arc<Conn>>,
}

impl Open {
    fn add(&mut self) -> (u64, Arc<Conn>) {
        let id = self.next_id;
        self.next_id += 1;
        let conn = Arc::new(Conn::default());
        conn.idle_since.store(now_ms(), Ordering::Release);
        self.conns.insert(id, conn.clone());
        (id, conn)
    }

    /// Asks the oldest idle connection (see [`Conn::idle`]) to close, else the one whose request
    /// body has stalled longest (at least [`STALLED_AFTER`]); `false` if there is none.
    fn evict_for_room(&mut self, now: u64) -> bool {
        let idle = self
            .conns
            .iter()
            .find(|(_, conn)| conn.idle(now))
            .map(|(id, _)| *id);
        let stalled = || {
            self.conns
                .iter()
                .filter_map(|(id, conn)| Some((conn.stalled_for(now)?, *id)))
                .filter(|(stalled, _)| *stalled >= STALLED_AFTER)
                .max()
                .map(|(_, id)| id)
        };
        match idle.or_else(stalled).and_then(|id| self.conns.remove(&id)) {
            Some(conn) => {
                conn.evict.notify_one();
                true
            }
            None => false,
        }
    }
}

/// A connection's socket holding its slot under the cap: the slot is released when the socket
/// closes, also after a WebSocket upgrade took it out of hyper.
struct Slotted {
    io: TokioIo<TcpStream>,
    _slot: OwnedSemaphorePermit,
}

impl Read for Slotted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl Write for Slotted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
}

/// Serves `service` on `listener` until `shutdown` completes, then closes the listener and waits
/// for the connections' in-flight requests (see the module documentation).
pub async fn run<S, B>(
    listener: TcpListener,
    service: S,
    options: Options,
    shutdown: impl Future<Output = ()>,
) where
    S: hyper::service::Service<Request<Watched>, Response = Response<B>>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + From<String> + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(options.header_timeout)
        .keep_alive(true);
    let http = Arc::new(http);
    let slots = Arc::new(Semaphore::new(options.max_connections));
    let open = Arc::new(Mutex::new(Open::default()));
    let closing = CancellationToken::new();
    let connections = TaskTracker::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = room(&slots, &open) => slot,
            () = &mut shutdown => break,
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    accept_failed(&err).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let (id, conn) = open.lock().expect("no panic while holding the lock").add();
        let io = Slotted {
            io: TokioIo::new(stream),
            _slot: slot,
        };
        let service = service.clone();
        let http = http.clone();
        let open = open.clone();
        let closing = closing.clone();
        connections.spawn(async move {
            serve_connection(&http, io, (remote, options), service, &conn, &closing).await;
            open.lock()
                .expect("no panic while holding the lock")
                .conns
                .remove(&id);
        });
    }
    drop(listener);
    info!(
        connections = connections.len(),
        "listener closed; finishing in-flight requests"
    );
    closing.cancel();
    connections.close();
    connections.wait().await;
}

/// A slot for the next connection: at once under the cap; at the cap, after closing the oldest
/// idle (or a stalled) connection (looking again every [`ROOM_RETRY`] while every connection is
/// busy).
async fn room(slots: &Arc<Semaphore>, open: &Mutex<Open>) -> OwnedSemaphorePermit {
    loop {
        if let Ok(slot) = slots.clone().try_acquire_owned() {
            return slot;
        }
        let evicted = open
            .lock()
            .expect("no panic while holding the lock")
            .evict_for_room(now_ms());
        if evicted {
            debug!("at the connection cap: closing the oldest idle or stalled connection");
        }
        if let Ok(Ok(slot)) = tokio::time::timeout(ROOM_RETRY, slots.clone().acquire_owned()).await
        {
            return slot;
        }
    }
}

/// The answer to a request not answered within `timeout`: `408` when its body is still awaited,
/// else `503`; the connection closes after it.
fn too_late<B: From<String>>(conn: &Conn, timeout: Duration, remote: SocketAddr) -> Response<B> {
    let (status, code, message) = if conn.receiving.load(Ordering::Acquire) {
        (
            hyper::StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "the request body did not arrive in time",
        )
    } else {
        (
            hyper::StatusCode::SERVICE_UNAVAILABLE,
            "request_timeout",
            "the request took too long to answer; retry shortly or ask for less",
        )
    };
    info!(
        status = status.as_u16(),
        %remote,
        timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        "request not answered within --request-timeout"
    );
    let body = serde_json::json!({ "error": { "code": code, "message": message } });
    Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::CONNECTION, "close")
        .header(hyper::header::RETRY_AFTER, "5")
        .body(B::from(body.to_string()))
        .expect("a valid response")
}

async fn accept_failed(err: &std::io::Error) {
    use std::io::ErrorKind;
    // Errors of one connection that died while queued; the next accept is unaffected.
    if matches!(
        err.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    warn!(cause = %err, "accepting a connection failed");
    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
}

/// Drives one connection until it ends, shutdown closes it, or the accept loop closes it for room.
async fn serve_connection<S, B>(
    http: &hyper::server::conn::http1::Builder,
    io: Slotted,
    (remote, options): (SocketAddr, Options),
    inner: S,
    conn: &Arc<Conn>,
    closing: &CancellationToken,
) where
    S: hyper::service::Service<Request<Watched>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + From<String> + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let tracked = conn.clone();
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let mut request =
            request.map(|body| Watched::new(body, tracked.clone(), options.body_timeout));
        request.extensions_mut().insert(ClientAddr(remote));
        let in_flight = InFlight::new(&tracked);
        let response = inner.call(request);
        let conn = tracked.clone();
        async move {
            let response = match tokio::time::timeout(options.request_timeout, response).await {
                Ok(response) => response?,
                Err(_) => too_late(&conn, options.request_timeout, remote),
            };
            // The response's body carries the count until it is sent: a connection still writing
            // a page to a slow reader is not idle.
            Ok::<_, S::Error>(response.map(|body| Tracked {
                body,
                _in_flight: in_flight,
            }))
        }
    });
    let connection = http.serve_connection(io, service).with_upgrades();
    let mut connection = std::pin::pin!(connection);
    let mut shutting_down = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(err) = result {
                    // Timeouts, resets, malformed requests: the client's business, not an error.
                    debug!(cause = %err, %remote, "connection ended with an error");
                }
                return;
            }
            () = closing.cancelled(), if !shutting_down => {
                shutting_down = true;
                connection.as_mut().graceful_shutdown();
            }
            () = conn.evict.notified() => {
                if conn.closable(now_ms()) {
                    debug!(%remote, "closed an idle or stalled connection to make room for a new one");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_cap_leaves_room_below_the_file_limit() {
        assert_eq!(default_max_connections(Some(1024)), 896);
        assert_eq!(default_max_connections(Some(100)), 16);
        assert_eq!(
            default_max_connections(Some(u64::MAX)),
            MAX_DEFAULT_CONNECTIONS as usize
        );
    }

    #[test]
    fn the_oldest_connection_without_a_request_in_flight_is_closed_for_room() {
        let mut open = Open::default();
        let (_, busy) = open.add();
        let (idle_id, _idle) = open.add();
        let (_, _newer) = open.add();
        let _request = InFlight::new(&busy);
        assert!(
            !open.evict_for_room(now_ms()),
            "none idle for long enough yet"
        );
        let now = now_ms() + 1000;
        assert!(open.evict_for_room(now));
        assert!(!open.conns.contains_key(&idle_id));
        assert_eq!(open.conns.len(), 2);
        assert!(open.evict_for_room(now));
        assert!(!open.evict_for_room(now), "the busy one stays");
    }

    #[test]
    fn at_the_cap_a_request_whose_body_stalled_is_closed_but_one_still_receiving_is_not() {
        let mut open = Open::default();
        let (answering_id, answering) = open.add();
        let (stalled_id, stalled) = open.add();
        let (receiving_id, receiving) = open.add();
        let _requests = [&answering, &stalled, &receiving].map(InFlight::new);
        let now = now_ms() + 10_000;
        stalled.receiving.store(true, Ordering::Release);
        stalled.last_byte.store(now - 5_000, Ordering::Release);
        receiving.receiving.store(true, Ordering::Release);
        receiving.last_byte.store(now, Ordering::Release);
        assert!(stalled.closable(now) && !receiving.closable(now) && !answering.closable(now));
        assert!(open.evict_for_room(now));
        assert!(!open.conns.contains_key(&stalled_id));
        assert!(open.conns.contains_key(&receiving_id) && open.conns.contains_key(&answering_id));
    }
}
