//! A real server on 127.0.0.1:0 with a fresh SQLite file per test, and clients that speak HTTP and
//! WebSocket to it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::Duration;

use buildboard::config::{Config, Secret};
use buildboard::github::signature;
use buildboard::App;
use futures_util::StreamExt;
use rusqlite::{Connection, Params, ToSql};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const SECRET: &str = "test-webhook-secret";

pub type WsClient = WebSocketStream<MaybeTlsStream<TcpStream>>;

static TRACING: Once = Once::new();
/// Every log line the servers of this test binary wrote (at `info`), for tests that check what
/// reaches the log (see [`captured_log`]).
static LOG: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());
/// The captured log is cut to its newer half beyond this many bytes.
const LOG_CAP: usize = 64 * 1024 * 1024;

/// Appends what the subscriber writes to [`LOG`], and to stderr when `TEST_LOG` is set.
struct Capture;

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        if std::env::var_os("TEST_LOG").is_some() {
            eprint!("{text}");
        }
        let mut log = LOG.lock().unwrap();
        if log.len() > LOG_CAP {
            let mut cut = log.len() / 2;
            while !log.is_char_boundary(cut) {
                cut += 1;
            }
            log.drain(..cut);
        }
        log.push_str(&text);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Logs are captured (see [`captured_log`]) and stay quiet unless `TEST_LOG` is set.
fn init_tracing() {
    TRACING.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,warp=warn"));
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(|| Capture)
            .init();
    });
}

/// The log lines every server of this test binary has written so far.
pub fn captured_log() -> String {
    LOG.lock().unwrap().clone()
}

/// The directory with the GitHub fixtures copied into `tests/`.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/github")
}

/// A text fixture, by path under `tests/fixtures/` (e.g. `logs/maven.log`).
pub fn fixture_text(path: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(path),
    )
    .unwrap_or_else(|err| panic!("fixture {path}: {err}"))
}

/// A webhook fixture, by path under `webhooks/` (e.g. `push/with-new-branch.payload.json`).
pub fn webhook_fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join("webhooks").join(name))
        .unwrap_or_else(|err| panic!("fixture {name}: {err}"))
}

/// A webhook fixture parsed as JSON, to derive variants from.
pub fn webhook_json(name: &str) -> Value {
    serde_json::from_slice(&webhook_fixture(name)).expect("fixtures are valid JSON")
}

/// A JSON delivery POST to `url` with GitHub's headers, signed with `secret`.
pub fn signed_delivery(
    http: &reqwest::Client,
    url: &str,
    secret: &str,
    event: &str,
    delivery: &str,
    body: Vec<u8>,
) -> reqwest::RequestBuilder {
    let signature = signature::sign(secret.as_bytes(), &body);
    http.post(url)
        .header("content-type", "application/json")
        .header("x-github-event", event)
        .header("x-github-delivery", delivery)
        .header("x-hub-signature-256", signature)
        .body(body)
}

/// `GET url` with `http`: the body as text, whatever the status.
pub async fn text_at(http: &reqwest::Client, url: &str) -> String {
    text_of(http.get(url)).await
}

/// The answer to `request` as text, whatever the status.
pub async fn text_of(request: reqwest::RequestBuilder) -> String {
    request.send().await.unwrap().text().await.unwrap()
}

/// `GET url` with `http`: the body as JSON, whatever the status.
pub async fn json_at(http: &reqwest::Client, url: &str) -> Value {
    json_of(http.get(url)).await
}

/// The answer to `request` as JSON, whatever the status.
pub async fn json_of(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// Sends `request`: the status, and the body as JSON.
pub async fn status_and_json(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// An HTTP client that shows redirects instead of following them.
pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub db_path: PathBuf,
    pub http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
}

/// Starts a server with a fresh database and the test secret.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts a server after letting the test adjust its config.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    init_tracing();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut config = Config::new(
        dir.path().join("buildboard.db"),
        "127.0.0.1:0".parse().unwrap(),
    );
    config.webhook_secret = Some(Secret::new(SECRET));
    adjust(&mut config);
    // The test may have pointed the server at a database of its own.
    let db_path = config.db.clone();
    let app = App::build(config).await.expect("the app builds");
    let addr = app.local_addr();
    let (shutdown, signal) = oneshot::channel::<()>();
    let handle = tokio::spawn(app.run(async move {
        let _ = signal.await;
    }));
    TestApp {
        addr,
        db_path,
        http: reqwest::Client::new(),
        shutdown: Some(shutdown),
        handle: Some(handle),
        _dir: dir,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Posts `body` as a correctly signed JSON delivery.
    pub async fn post_webhook(
        &self,
        event: &str,
        delivery: &str,
        body: &[u8],
    ) -> reqwest::Response {
        self.webhook_request(SECRET, (event, delivery), body.to_vec())
            .send()
            .await
            .expect("the server answers")
    }

    /// A delivery of `body` to this server's `/webhook`, signed with `secret`, to send.
    pub fn webhook_request(
        &self,
        secret: &str,
        (event, delivery): (&str, &str),
        body: Vec<u8>,
    ) -> reqwest::RequestBuilder {
        let url = self.url("/webhook");
        signed_delivery(&self.http, &url, secret, event, delivery, body)
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }

    /// `GET path`, its answer as it is: a redirect is not followed.
    pub async fn get_unfollowed(&self, path: &str) -> reqwest::Response {
        no_redirects().get(self.url(path)).send().await.unwrap()
    }

    /// [`TestApp::get_unfollowed`] with `token` as a bearer token.
    pub async fn get_bearer(&self, path: &str, token: &str) -> reqwest::Response {
        let request = no_redirects().get(self.url(path)).bearer_auth(token);
        request.send().await.unwrap()
    }

    /// `GET path`, asserted to answer 200, as JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        response.json().await.unwrap()
    }

    /// `GET path`: the status, and the body as JSON.
    pub async fn get_status_json(&self, path: &str) -> (u16, Value) {
        status_and_json(self.http.get(self.url(path))).await
    }

    /// `GET path`, asserted to answer 200, as text: a page.
    pub async fn page(&self, path: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.text().await.unwrap()
    }

    /// `GET path`'s body as text, whatever the status.
    pub async fn get_text(&self, path: &str) -> String {
        text_at(&self.http, &self.url(path)).await
    }

    /// Posts `body` as a correctly signed delivery and asserts it was accepted (2xx).
    pub async fn deliver(&self, event: &str, delivery: &str, body: &[u8]) {
        let response = self.post_webhook(event, delivery, body).await;
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "{event} {delivery}: {status} {text}");
    }

    /// [`TestApp::deliver`] of the webhook fixture `name` (see [`webhook_fixture`]).
    pub async fn deliver_fixture(&self, event: &str, delivery: &str, name: &str) {
        self.deliver(event, delivery, &webhook_fixture(name)).await;
    }

    /// [`TestApp::deliver`] of `payload` as JSON.
    pub async fn deliver_json(&self, event: &str, delivery: &str, payload: &Value) {
        self.deliver(event, delivery, &serde_json::to_vec(payload).unwrap())
            .await;
    }

    /// A read-write connection to the test database, for checking rows.
    pub fn db(&self) -> Connection {
        Connection::open(&self.db_path).expect("the test database opens")
    }

    /// The one row `sql` finds in the test database (a value, a tuple, or a struct by column
    /// name); panics when there is none.
    pub fn row<T: serde::de::DeserializeOwned>(&self, sql: &str) -> T {
        self.row_with(sql, [])
    }

    /// [`TestApp::row`] of a query with one parameter, `?1`.
    pub fn row_for<T: serde::de::DeserializeOwned>(&self, sql: &str, param: impl ToSql) -> T {
        self.row_with(sql, [param])
    }

    fn row_with<T: serde::de::DeserializeOwned>(&self, sql: &str, params: impl Params) -> T {
        buildboard::store::rows::one(&self.db(), sql, params)
            .expect("the test query runs")
            .expect("the test query finds a row")
    }

    /// Every row `sql` finds in the test database: one column's values, tuples, or a struct's by
    /// column name (the server's own [`buildboard::store::rows`]).
    pub fn rows<T: serde::de::DeserializeOwned>(&self, sql: &str) -> Vec<T> {
        buildboard::store::rows::all(&self.db(), sql, []).expect("the test query runs")
    }

    /// Every row of every table, as text, for comparing whole-database states. Columns that hold
    /// the time of processing (not data from GitHub) are left out, and so is `deliveries`; row ids
    /// that depend on insertion order are replaced by the natural keys they point to.
    pub fn dump(&self) -> String {
        dump_database(&self.db())
    }

    /// Number of rows in `table`.
    pub fn count(&self, table: &str) -> i64 {
        self.db()
            .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| {
                row.get(0)
            })
            .unwrap()
    }

    pub async fn connect_ws(&self) -> WsClient {
        let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", self.addr))
            .await
            .expect("the WebSocket upgrade succeeds");
        socket
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        self.stop_in_place().await;
    }

    async fn stop_in_place(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle
                .await
                .expect("the server task does not panic")
                .expect("the server stops cleanly");
        }
    }
}

/// See [`TestApp::dump`].
pub fn dump_database(conn: &Connection) -> String {
    const TABLES: &[(&str, &str)] = &[
        ("repos", "id, fullname, url, defaultbranch, monitored"),
        ("branches", "repo_id, name, deletedtime IS NOT NULL"),
        ("commits", "repo_id, gitid, message, authorname, authoremail, authorlogin, committime, url"),
        ("workflows", "id, repo_id, name, path, state, url"),
        (
            "workflowruns",
            "id, repo_id, workflow_id, (SELECT gitid FROM commits WHERE commits.id = commit_id),
             (SELECT name FROM branches WHERE branches.id = branch_id), archivedbranchname,
             archivedworkflowname, runnumber, runattempt, event, headsha, title, status, statusrank,
             conclusion, actor, actoravatar, url, createtime, starttime, updatetime, endtime, runtime,
             queuetime",
        ),
        ("workflowrunattempts", "*"),
        ("workflowjobs", "*"),
    ];
    let mut out = String::new();
    for (table, columns) in TABLES {
        let sql = format!("SELECT {columns} FROM {table} ORDER BY 1, 2");
        let mut stmt = conn.prepare(&sql).unwrap();
        let width = stmt.column_count();
        let rows = stmt
            .query_map([], |row| {
                (0..width)
                    .map(|i| {
                        row.get::<_, rusqlite::types::Value>(i)
                            .map(|v| format!("{v:?}"))
                    })
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .unwrap();
        for row in rows {
            out.push_str(&format!("{table}: {}\n", row.unwrap().join(" | ")));
        }
    }
    out
}

/// The next text message from the socket, parsed, within `wait`.
pub async fn next_json(socket: &mut WsClient, wait: Duration) -> Value {
    loop {
        let message = tokio::time::timeout(wait, socket.next())
            .await
            .expect("a message arrives in time")
            .expect("the socket stays open")
            .expect("a valid frame");
        if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
            return serde_json::from_str(&text).expect("messages are JSON");
        }
    }
}

/// Waits (`within` at most) for the socket's close frame: its code; `None` when the connection
/// ended without one.
pub async fn close_code(socket: &mut WsClient, within: Duration) -> Option<u16> {
    tokio::time::timeout(within, async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                None | Some(Err(_)) => return None,
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .expect("the socket closes at once")
}

/// Reads messages until one of type `kind` arrives.
pub async fn next_of_type(socket: &mut WsClient, kind: &str) -> Value {
    loop {
        let message = next_json(socket, Duration::from_secs(5)).await;
        if message["type"] == kind {
            return message;
        }
    }
}

/// Field `key` (a string) of each entry of the JSON array `array`, in order.
pub fn strings_of<'a>(array: &'a Value, key: &str) -> Vec<&'a str> {
    let entries = array.as_array().expect("an array");
    let field = |entry: &'a Value| entry[key].as_str().expect("a string");
    entries.iter().map(field).collect()
}
