//! Reliability and security: bad input, crash safety, order and duplicates, WebSocket
//! pressure, and data safety (check, backup, migration, retention).
//!
//! Some tests run the real `buildboard` binary ([`Server`]) instead of the in-process app: to kill
//! it with SIGKILL, and to read everything it logged (a panic in a request task is printed there).

mod access;
mod attacks;
mod bad_input;
mod crash;
mod data;
mod hardening;
mod order;
mod ws_pressure;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::SECRET;

/// The `buildboard` binary, run on a database with the test secret and its output kept in a file.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub log: PathBuf,
    /// The fresh directory of [`Server::fresh`], removed after the server is stopped.
    _dir: Option<tempfile::TempDir>,
}

/// A port that was free a moment ago (the binary binds it itself).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port on 127.0.0.1")
        .port()
}

impl Server {
    /// Starts `buildboard --db <db>` on a free port with `args` and waits until `/healthz` answers.
    /// Output (stdout and stderr) is appended to `log`.
    pub async fn start(db: &Path, log: &Path, args: &[&str]) -> Self {
        Self::start_under(&[], db, log, args).await
    }

    /// As [`Server::start`], on a fresh database and log in a temporary directory that lives as
    /// long as the server.
    pub async fn fresh(args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut server = Self::start(
            &dir.path().join("buildboard.db"),
            &dir.path().join("server.log"),
            args,
        )
        .await;
        server._dir = Some(dir);
        server
    }

    /// As [`Server::start`], run through `wrapper` (e.g. `prlimit --nofile=1024:1024`), which must
    /// exec the binary so that the child is the server itself.
    pub async fn start_under(wrapper: &[&str], db: &Path, log: &Path, args: &[&str]) -> Self {
        let port = free_port();
        let output = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("the log file opens");
        let binary = env!("CARGO_BIN_EXE_buildboard");
        let mut command = match wrapper.split_first() {
            Some((program, wrapper_args)) => {
                let mut command = Command::new(program);
                command.args(wrapper_args).arg(binary);
                command
            }
            None => Command::new(binary),
        };
        let child = command
            .arg("--db")
            .arg(db)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(args)
            .env("BUILDBOARD_WEBHOOK_SECRET", SECRET)
            .env("BUILDBOARD_WEBHOOK_RATE_LIMIT", "0")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .env_remove("RUST_BACKTRACE")
            .stdin(Stdio::null())
            .stdout(output.try_clone().expect("the log file handle clones"))
            .stderr(output)
            .spawn()
            .expect("the buildboard binary starts");
        let mut server = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log: log.to_owned(),
            _dir: None,
        };
        server.wait_until_ready().await;
        server
    }

    async fn wait_until_ready(&mut self) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(response) = http.get(self.url("/healthz")).send().await {
                if response.status().is_success() {
                    return;
                }
            }
            if let Some(status) = self.child.try_wait().expect("the child can be polled") {
                panic!("buildboard exited with {status}:\n{}", self.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "buildboard did not answer in time:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the server printed so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Asserts the server logged no panic and nothing at ERROR level.
    pub fn assert_no_panic_or_error(&self) {
        let log = self.log_text();
        for line in log.lines() {
            assert!(
                !line.contains("panicked") && !line.contains(" ERROR "),
                "the server logged: {line}\n\nfull log:\n{log}"
            );
        }
    }

    /// SIGKILL: no shutdown code runs, as in a power cut of the process.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL is delivered");
        self.child.wait().expect("the killed child is reaped");
    }

    /// SIGTERM, then waits for the graceful shutdown; panics (with the log) unless it exits with
    /// success.
    pub fn terminate(mut self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill(1) runs");
        assert!(sent.success());
        let status = self.child.wait().expect("the child exits");
        assert!(
            status.success(),
            "buildboard did not shut down cleanly ({status}):\n{}",
            self.log_text()
        );
    }
}

impl Server {
    /// SIGTERM, a clean exit, then `check` on everything the server logged.
    pub fn terminate_cleanly_and_check_log(mut self, check: impl FnOnce(&str)) {
        // A fresh server's directory holds the log: it goes only once the log is checked.
        let _dir = self._dir.take();
        let log = self.log.clone();
        self.terminate();
        check(&std::fs::read_to_string(log).unwrap_or_default());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Never leave a server behind when a test fails halfway.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client that opens a new connection for every request (it keeps none idle) and gives up after
/// `timeout`: each request goes through the server's accept path, as a newcomer's would.
pub fn new_connection_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// Signs and posts a JSON delivery with the test secret.
pub async fn post(
    http: &reqwest::Client,
    url: &str,
    event: &str,
    delivery: &str,
    body: Vec<u8>,
) -> reqwest::Result<reqwest::Response> {
    crate::helpers::signed_delivery(http, url, SECRET, event, delivery, body)
        .send()
        .await
}
