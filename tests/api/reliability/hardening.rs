//! Hardening: each finding of an attack run against the release binary, replayed
//! against the real binary on loopback, bounded in time and in the number of connections.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{new_connection_client, post, Server};
use crate::helpers::{text_at, webhook_json};

/// The body size the attackers declared: GitHub's cap, 25 MiB.
const DECLARED: usize = 25 * 1024 * 1024;
/// What each of them sent before stalling.
const SENT: usize = 24 * 1024 * 1024;

/// The server's resident memory, in MiB (`VmRSS` of `/proc/<pid>/status`).
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("a live process");
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in kB");
    kib / 1024.0
}

/// Sends `request` as is on a new connection and reads the answer until the server closes it.
async fn raw(addr: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the server answers and closes in time")
        .expect("the answer reads");
    String::from_utf8_lossy(&answer).into_owned()
}

/// A `GET` of `path` naming `host`, with `extra` header lines.
async fn get_as(addr: SocketAddr, host: &str, path: &str, extra: &str) -> String {
    raw(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n"),
    )
    .await
}

fn status_of(answer: &str) -> u16 {
    answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"))
}

/// A `workflow_run` delivery for run `id`, with `html_url` as given.
fn run_payload(id: i64, html_url: &str) -> Vec<u8> {
    let mut payload = webhook_json("workflow_run/completed.payload.json");
    payload["workflow_run"]["id"] = json!(id);
    payload["workflow_run"]["html_url"] = json!(html_url);
    serde_json::to_vec(&payload).unwrap()
}

/// Declares [`DECLARED`] bytes with a bogus signature, sends up to [`SENT`] and stalls until
/// `release`; returns whether the server took all of it (rather than refusing the upload).
async fn stalled_upload(addr: SocketAddr, release: tokio::sync::watch::Receiver<bool>) -> bool {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /webhook HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         X-GitHub-Event: push\r\nX-GitHub-Delivery: stall\r\n\
         X-Hub-Signature-256: sha256=0000000000000000000000000000000000000000000000000000000000000000\r\n\
         Content-Length: {DECLARED}\r\n\r\n"
    );
    if stream.write_all(head.as_bytes()).await.is_err() {
        return false;
    }
    let chunk = vec![b' '; 1024 * 1024];
    let mut taken = true;
    for _ in 0..SENT / chunk.len() {
        let write = tokio::time::timeout(Duration::from_secs(20), stream.write_all(&chunk)).await;
        if !matches!(write, Ok(Ok(()))) {
            taken = false; // refused: the server answered 503 and closed
            break;
        }
    }
    let mut release = release;
    let _ = release.wait_for(|go| *go).await;
    taken
}

#[tokio::test]
async fn stalled_uploads_hold_no_more_memory_than_the_body_budget_while_held_and_after() {
    // Arrange: the default budget (64 MiB) and a body deadline long enough to measure while the
    // uploads stall.
    const UPLOADS: usize = 32;
    // The budget (64 MiB) and room for the allocator, over the server's own baseline (which
    // grows with the debug binary's code: 14 MiB when this was written, 24 MiB later).
    const BUDGET_AND_ROOM_MIB: f64 = 64.0 + 32.0;
    let server = Server::fresh(&["--body-timeout", "6s"]).await;
    let pid = server.pid();
    let baseline = rss_mib(pid);
    let bound = baseline + BUDGET_AND_ROOM_MIB;
    let mut report = format!("baseline {baseline:.1} MiB, bound {bound:.1} MiB");

    for round in 1..=2 {
        // Act: 32 senders declare 25 MiB each, send 24 MiB with a bogus signature and stall.
        let (release, waiting) = tokio::sync::watch::channel(false);
        let senders: Vec<_> = (0..UPLOADS)
            .map(|_| tokio::spawn(stalled_upload(server.addr, waiting.clone())))
            .collect();
        tokio::time::sleep(Duration::from_secs(3)).await;
        let held = rss_mib(pid);
        release.send(true).unwrap();
        let mut taken = 0;
        for sender in senders {
            taken += usize::from(sender.await.unwrap());
        }
        // The deadline passes for the ones the server took; then they are gone.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let after = rss_mib(pid);
        report.push_str(&format!(
            "; round {round}: {taken} of {UPLOADS} uploads taken, {held:.1} MiB while held, \
             {after:.1} MiB after"
        ));

        // Assert: memory stays under the bound both while the uploads are held and after.
        assert!(held < bound, "{report}");
        assert!(after < bound, "{report}");
        assert!(taken < UPLOADS, "the budget refused some uploads: {report}");
    }
    eprintln!("stalled uploads: {report}");

    // And the server still takes a real delivery.
    let http = reqwest::Client::new();
    let response = post(
        &http,
        &server.url("/webhook"),
        "workflow_run",
        "after-the-attack",
        run_payload(1, "https://github.com/o/r/actions/runs/1"),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    server.terminate();
}

/// Waits until the server closes `stream` (a read gives EOF or an error), at most `limit`;
/// writes `drip` (one byte) every 200 ms meanwhile when it is set.
async fn closed_within(mut stream: TcpStream, drip: bool, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buffer = [0u8; 1024];
    while started.elapsed() < limit {
        if drip && stream.write_all(b"X").await.is_err() {
            return Some(started.elapsed());
        }
        match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) | Err(_) => {}
        }
    }
    None
}

#[tokio::test]
async fn idle_and_slowloris_connections_are_closed_after_the_header_timeout_but_a_websocket_is_not()
{
    // Arrange
    const IDLE: usize = 200;
    const SLOW: usize = 200;
    let server = Server::fresh(&["--header-timeout", "1s"]).await;
    let mut feed = tokio_tungstenite::connect_async(format!("ws://{}/ws", server.addr))
        .await
        .expect("the feed connects")
        .0;

    // Act: idle connections send nothing; slowloris ones start a request and dribble a header.
    let mut checks = Vec::new();
    for _ in 0..IDLE {
        let stream = TcpStream::connect(server.addr).await.unwrap();
        checks.push(tokio::spawn(closed_within(
            stream,
            false,
            Duration::from_secs(8),
        )));
    }
    for _ in 0..SLOW {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            .await
            .unwrap();
        checks.push(tokio::spawn(closed_within(
            stream,
            true,
            Duration::from_secs(8),
        )));
    }
    // A kept-alive connection that went idle after one request.
    let mut kept = TcpStream::connect(server.addr).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 1024];
    let read = kept.read(&mut answer).await.unwrap();
    assert!(String::from_utf8_lossy(&answer[..read]).starts_with("HTTP/1.1 200"));
    checks.push(tokio::spawn(closed_within(
        kept,
        false,
        Duration::from_secs(8),
    )));

    // Assert: every one is closed, after about the timeout.
    let mut slowest = Duration::ZERO;
    for check in checks {
        let closed = check.await.unwrap().expect("closed within 8 s");
        slowest = slowest.max(closed);
    }
    eprintln!("{IDLE} idle, {SLOW} slowloris and 1 kept-alive connection closed; the last after {slowest:?}");
    assert!(slowest < Duration::from_secs(4), "{slowest:?}");
    // The feed outlived the timeout: it still answers a ping.
    use futures_util::{SinkExt, StreamExt};
    feed.send(tokio_tungstenite::tungstenite::Message::Ping(
        b"still there".to_vec().into(),
    ))
    .await
    .expect("the feed is open");
    let pong = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match feed.next().await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Pong(_))) => return true,
                Some(Ok(_)) => continue,
                _ => return false,
            }
        }
    })
    .await;
    assert_eq!(pong, Ok(true), "the WebSocket survived the header timeout");
    server.terminate();
}

#[tokio::test]
async fn healthz_and_a_signed_delivery_answer_within_a_second_while_1100_idle_sockets_are_open_under_a_1024_file_limit(
) {
    // Arrange: the server under a hard limit of 1,024 open files (the default header timeout,
    // 10 s, keeps the idle sockets open for the whole test); this process needs room for its own.
    const IDLE: usize = 1100;
    rlimit::increase_nofile_limit(4096).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_under(
        &["prlimit", "--nofile=1024:1024"],
        &dir.path().join("buildboard.db"),
        &dir.path().join("server.log"),
        &[],
    )
    .await;
    let mut idle = Vec::with_capacity(IDLE);
    for _ in 0..IDLE {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
    }
    // Let the server accept what it will.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Act and Assert, three times over.
    let http = new_connection_client(Duration::from_secs(1));
    let mut slowest = Duration::ZERO;
    for attempt in 0..3 {
        let started = Instant::now();
        let health = http.get(server.url("/healthz")).send().await;
        let health_took = started.elapsed();
        assert!(
            matches!(&health, Ok(response) if response.status() == 200),
            "attempt {attempt}: /healthz {health:?} after {health_took:?}"
        );
        let started = Instant::now();
        let delivery = post(
            &http,
            &server.url("/webhook"),
            "workflow_run",
            &format!("under-siege-{attempt}"),
            run_payload(100 + attempt, "https://github.com/o/r/actions/runs/1"),
        )
        .await;
        let delivery_took = started.elapsed();
        assert!(
            matches!(&delivery, Ok(response) if response.status() == 200),
            "attempt {attempt}: delivery {delivery:?} after {delivery_took:?}"
        );
        slowest = slowest.max(health_took).max(delivery_took);
    }
    eprintln!("{IDLE} idle sockets under a 1,024 file limit: slowest answer {slowest:?}");
    drop(idle);
    assert!(
        !server.log_text().contains("Too many open files"),
        "{}",
        server.log_text()
    );
    server.terminate();
}

/// A 3 MiB tmpfs at `dir`, or `None` where mounting is not allowed (not root, in a container).
fn small_tmpfs(dir: &std::path::Path) -> Option<TmpfsGuard> {
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"])
        .arg(dir)
        .status()
        .is_ok_and(|status| status.success());
    mounted.then(|| TmpfsGuard(dir.to_owned()))
}

struct TmpfsGuard(std::path::PathBuf);

impl Drop for TmpfsGuard {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// `/readyz`'s status within `wait`, as soon as it is `want`.
async fn readyz_becomes(server: &Server, want: u16, wait: Duration) -> u16 {
    let http = reqwest::Client::new();
    let started = Instant::now();
    loop {
        let status = http
            .get(server.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        if status == want || started.elapsed() > wait {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn readyz_turns_503_on_a_full_disk_and_ready_again_once_writes_succeed() {
    // Arrange: the database on a 3 MiB tmpfs.
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("disk");
    std::fs::create_dir(&disk).unwrap();
    let Some(_tmpfs) = small_tmpfs(&disk) else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (mount -t tmpfs needs root)");
        return;
    };
    let server = Server::start(
        &disk.join("buildboard.db"),
        &dir.path().join("server.log"),
        &[],
    )
    .await;
    let http = reqwest::Client::new();
    let url = server.url("/webhook");
    let deliver = |id: i64| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            post(
                &http,
                &url,
                "workflow_run",
                &format!("disk-{id}"),
                run_payload(id, "https://github.com/o/r/actions/runs/1"),
            )
            .await
        }
    };
    assert_eq!(deliver(1).await.unwrap().status(), 200);
    assert_eq!(readyz_becomes(&server, 200, Duration::ZERO).await, 200);

    // Act: fill the disk, then deliver until a delivery fails.
    let filler = disk.join("filler");
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 64 * 1024];
        while file.write_all(&block).is_ok() {}
        let _ = file.sync_all();
    }
    let mut failed = false;
    for id in 2..200 {
        if deliver(id).await.unwrap().status() == 500 {
            failed = true;
            break;
        }
    }
    assert!(failed, "a delivery failed on the full disk");

    // Assert: not ready while writes fail, whatever the probes' own small writes do (an attack
    // run saw three probes 1.3 s apart, each past the shared answer's second, answered 200)...
    let full = readyz_becomes(&server, 503, Duration::from_secs(3)).await;
    assert_eq!(full, 503, "{}", server.log_text());
    for probe in 0..3 {
        tokio::time::sleep(Duration::from_millis(1300)).await;
        let status = readyz_becomes(&server, 503, Duration::ZERO).await;
        assert_eq!(status, 503, "probe {probe}: {}", server.log_text());
    }
    // ...and ready again once a delivery group commits.
    std::fs::remove_file(&filler).unwrap();
    assert_eq!(deliver(1000).await.unwrap().status(), 200);
    let freed = readyz_becomes(&server, 200, Duration::from_secs(3)).await;
    assert_eq!(freed, 200, "{}", server.log_text());
    server.terminate();
}

#[tokio::test]
async fn a_foreign_host_is_refused_when_a_public_url_is_set_and_links_use_the_public_url() {
    // Arrange: two runs, so that a page of one has a next page.
    let server = Server::fresh(&["--public-url", "http://board.test"]).await;
    let http = reqwest::Client::new();
    for id in [1, 2] {
        let delivered = post(
            &http,
            &server.url("/webhook"),
            "workflow_run",
            &format!("host-{id}"),
            run_payload(id, "https://github.com/o/r/actions/runs/1"),
        )
        .await
        .unwrap();
        assert_eq!(delivered.status(), 200);
    }
    let addr = server.addr;

    // Act and Assert: a rebinding name gets nothing about the builds...
    for path in ["/", "/api/builds", "/triage", "/developer"] {
        let answer = get_as(addr, "evil.example", path, "").await;
        assert_eq!(status_of(&answer), 421, "{path}: {answer}");
        assert!(!answer.contains("octo-org"), "{path}: {answer}");
    }
    let upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    let evil_origin = format!("{upgrade}Origin: http://evil.example\r\n");
    // The feed: not through the rebinding name (421), nor for a page of another origin through
    // the board's own name (403).
    for (host, refused) in [("evil.example", 421), ("board.test", 403)] {
        let ws = get_as(addr, host, "/ws", &evil_origin).await;
        assert_eq!(status_of(&ws), refused, "{host}: {ws}");
    }
    // The board's own name is served, and its links are built from the public URL.
    let page = get_as(addr, "board.test", "/api/builds?per_page=1", "").await;
    assert_eq!(status_of(&page), 200, "{page}");
    assert!(
        page.to_ascii_lowercase()
            .contains("link: <http://board.test/api/builds?per_page=1&cursor="),
        "{page}"
    );
    // Operations and GitHub's deliveries answer whatever name they use.
    assert_eq!(
        status_of(&get_as(addr, "10.0.0.5:5000", "/healthz", "").await),
        200
    );
    server.terminate();
}

#[tokio::test]
async fn without_a_public_url_a_loopback_server_refuses_rebinding_names_and_unsafe_link_hosts() {
    // Arrange
    let server = Server::fresh(&[]).await;
    let addr = server.addr;

    // Act and Assert: a rebinding name is refused, the loopback names are served.
    let rebound = get_as(
        addr,
        "evil.example:5000",
        "/api/builds",
        "Origin: http://evil.example:5000\r\n",
    )
    .await;
    assert_eq!(status_of(&rebound), 421, "{rebound}");
    for host in ["localhost:5000", "127.0.0.1:5000", "[::1]:5000"] {
        assert_eq!(
            status_of(&get_as(addr, host, "/api/builds", "").await),
            200,
            "{host}"
        );
    }
    server.terminate();
}

#[tokio::test]
async fn a_javascript_html_url_never_becomes_an_href_but_the_api_returns_it_as_received() {
    // Arrange: a run whose html_url is a script, another whose url is a data: URL.
    let server = Server::fresh(&[]).await;
    let http = reqwest::Client::new();
    let mut feed = tokio_tungstenite::connect_async(format!("ws://{}/ws", server.addr))
        .await
        .unwrap()
        .0;
    for (id, url) in [
        (7, "javascript:alert(document.domain)//x/actions/runs/7"),
        (8, "data:text/html,<script>alert(1)</script>"),
    ] {
        let delivered = post(
            &http,
            &server.url("/webhook"),
            "workflow_run",
            &format!("js-{id}"),
            run_payload(id, url),
        )
        .await
        .unwrap();
        assert_eq!(delivered.status(), 200);
    }

    // Act
    let mut pages = String::new();
    for path in [
        "/",
        "/waterfall",
        "/triage",
        "/developer/octocat",
        "/waterfall?part=live",
    ] {
        let response = http.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        pages.push_str(&response.text().await.unwrap());
    }
    let mut fragments = String::new();
    while fragments.matches("\"type\":\"run\"").count() < 2 {
        let message = tokio::time::timeout(Duration::from_secs(5), async {
            use futures_util::StreamExt;
            feed.next().await
        })
        .await
        .expect("the run messages arrive")
        .unwrap()
        .unwrap();
        fragments.push_str(message.to_text().unwrap());
    }
    let api = text_at(&http, &server.url("/api/builds/7")).await;

    // Assert
    for (what, html) in [("pages", &pages), ("feed", &fragments)] {
        assert!(!html.contains("href=\"javascript:"), "{what}: {html}");
        assert!(!html.contains("href=\"data:"), "{what}: {html}");
        assert!(!html.contains("href=\\\"javascript:"), "{what}: {html}");
        assert!(!html.contains("href=\\\"data:"), "{what}: {html}");
    }
    assert!(
        api.contains("javascript:alert(document.domain)"),
        "the API returns the URL as received: {api}"
    );
    server.terminate();
}

#[tokio::test]
async fn bad_repository_mutations_get_400_and_404_and_private_pages_are_not_stored() {
    // Arrange
    let server = Server::fresh(&[
        "--admin-token",
        "admin-token-0123456789",
        "--board-token",
        "board-token-0123456789",
    ])
    .await;
    let http = reqwest::Client::new();
    let admin = "Bearer admin-token-0123456789";

    // Act and Assert: a bad body is a 400, a non-numeric id a 404.
    let bad_body = http
        .post(server.url("/api/repos"))
        .header("authorization", admin)
        .header("content-type", "application/json")
        .body("{\"repo\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_body.status(), 400);
    let bad_id = http
        .delete(server.url("/api/repos/not-a-number"))
        .header("authorization", admin)
        .send()
        .await
        .unwrap();
    assert_eq!(bad_id.status(), 404);
    // Every page of the private board is marked no-store, the developer picker included.
    for path in ["/", "/triage", "/developer", "/developer/octocat"] {
        let page = http
            .get(server.url(path))
            .header("authorization", "Bearer board-token-0123456789")
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200, "{path}");
        let cache = page.headers()["cache-control"].to_str().unwrap();
        assert!(cache.contains("no-store"), "{path}: {cache}");
    }
    server.terminate();
}
