//! Hardening, second round: each finding of an attack run on the release binary, replayed at a
//! scale a test runs in seconds. The first round's replays are in `hardening`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{new_connection_client, post, Server};
use crate::helpers::{spawn_app_with, webhook_json};

/// A `workflow_run` delivery for run `id` (about 8 KB).
fn run_payload(id: i64) -> Vec<u8> {
    let mut payload = webhook_json("workflow_run/completed.payload.json");
    payload["workflow_run"]["id"] = json!(id);
    serde_json::to_vec(&payload).unwrap()
}

/// Posts the `workflow_run` delivery of run `id` ([`run_payload`]) as `delivery`, signed.
async fn post_run(
    http: &reqwest::Client,
    url: &str,
    delivery: &str,
    id: i64,
) -> reqwest::Result<reqwest::Response> {
    post(http, url, "workflow_run", delivery, run_payload(id)).await
}

/// Opens a connection and sends `head` (a request's head, which may declare a body it does not
/// send) and then `body`; the connection stays open while the stream lives.
async fn send_head(addr: SocketAddr, head: &str, body: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    stream
}

/// A webhook request head declaring `length` bytes, unsigned.
fn webhook_head(addr: SocketAddr, length: usize) -> String {
    format!(
        "POST /webhook HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         X-GitHub-Event: workflow_run\r\nX-GitHub-Delivery: held\r\nContent-Length: {length}\r\n\r\n"
    )
}

/// The status of the answer on `stream`, if one arrives within `wait`.
async fn status_within(stream: &mut TcpStream, wait: Duration) -> Option<u16> {
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    let deadline = Instant::now() + wait;
    while !answer.windows(2).any(|w| w == b"\r\n") {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Err(_) => return None,
            Ok(Ok(read)) => answer.extend_from_slice(&buffer[..read]),
            Ok(Err(_)) => return None,
        }
    }
    let line = String::from_utf8_lossy(&answer).into_owned();
    line.split(' ').nth(1).and_then(|code| code.parse().ok())
}

#[tokio::test]
async fn webhook_heads_without_bodies_take_no_room_and_refusals_are_logged_as_a_rate() {
    // Arrange: a 4 MiB budget of webhook bodies; 64 clients declare 1 MiB each and send nothing.
    let server = Server::fresh(&[
        "--webhook-body-budget",
        "4194304",
        "--max-body-bytes",
        "1048576",
    ])
    .await;
    let mut held = Vec::new();
    for _ in 0..64 {
        held.push(send_head(server.addr, &webhook_head(server.addr, 1 << 20), b"").await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Act and Assert: every signed delivery posted meanwhile is stored.
    let http = reqwest::Client::new();
    let url = server.url("/webhook");
    for id in 0..20 {
        let response = post_run(&http, &url, &format!("d-{id}"), id).await.unwrap();
        assert_eq!(response.status(), 200, "delivery {id}");
    }

    // Arrange: four clients now send almost 1 MiB each and stall, which does spend the budget.
    let almost = vec![b' '; (1 << 20) - 4096];
    for _ in 0..4 {
        held.push(send_head(server.addr, &webhook_head(server.addr, 1 << 20), &almost).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Act: deliveries are refused while it is spent...
    let mut refused = 0;
    for id in 100..140 {
        let response = post_run(&http, &url, &format!("d-{id}"), id).await.unwrap();
        if response.status() == 503 {
            refused += 1;
        }
    }
    // ...and stored again once the stalled clients are gone.
    drop(held);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let response = post_run(&http, &url, "after", 200).await.unwrap();
    assert_eq!(response.status(), 200);

    // Assert: forty refusals, one or two log lines that count them.
    assert_eq!(refused, 40);
    let log = server.log_text();
    let lines: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("webhook bodies refused"))
        .collect();
    assert!(
        (1..=2).contains(&lines.len()) && lines[0].contains("refused="),
        "{lines:#?}"
    );
    server.terminate();
}

#[tokio::test]
async fn a_route_checks_credentials_before_it_waits_for_a_body_and_a_late_body_gets_408() {
    // Arrange
    let server = Server::fresh(&[
        "--admin-token",
        "admin-secret",
        "--operator-token",
        "ops:operator-secret",
        "--body-timeout",
        "1s",
    ])
    .await;
    let addr = server.addr;
    let head = |path: &str, extra: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Content-Length: 40\r\n\
             Content-Type: application/x-www-form-urlencoded\r\n\r\n"
        )
    };
    let cases = [
        // No admin token: refused at once, the body never read.
        (head("/api/repos", ""), 401, Duration::from_millis(900)),
        // A sign-in posted from another site: refused at once.
        (
            head("/operator", "Origin: https://evil.example\r\n"),
            403,
            Duration::from_millis(900),
        ),
        // With the admin token, or a same-site sign-in, the body is waited for until the deadline.
        (
            head("/api/repos", "Authorization: Bearer admin-secret\r\n"),
            408,
            Duration::from_secs(3),
        ),
        (head("/operator", ""), 408, Duration::from_secs(3)),
    ];
    for (head, want, within) in cases {
        // Act
        let started = Instant::now();
        let mut stream = send_head(addr, &head, b"{").await;
        let status = status_within(&mut stream, within).await;
        // Assert
        assert_eq!(status, Some(want), "{head} after {:?}", started.elapsed());
    }
    server.terminate();
}

#[tokio::test]
async fn at_the_connection_cap_stalled_uploads_are_closed_to_make_room_for_healthz_and_deliveries()
{
    // Arrange: a cap of 24 connections, each held by a webhook upload that sent 10 bytes of 1,000
    // and stalls (bodies have a minute, requests two).
    let server = Server::fresh(&[
        "--max-connections",
        "24",
        "--body-timeout",
        "60s",
        "--request-timeout",
        "120s",
    ])
    .await;
    let mut stalled = Vec::new();
    for _ in 0..24 {
        stalled.push(
            send_head(
                server.addr,
                &webhook_head(server.addr, 1000),
                b"{\"a\": 1234",
            )
            .await,
        );
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // Act and Assert: the server still answers, three times over.
    let http = new_connection_client(Duration::from_secs(3));
    for attempt in 0..3 {
        let health = http.get(server.url("/healthz")).send().await;
        assert!(
            matches!(&health, Ok(response) if response.status() == 200),
            "attempt {attempt}: {health:?}"
        );
        let delivery = post_run(
            &http,
            &server.url("/webhook"),
            &format!("cap-{attempt}"),
            attempt,
        )
        .await;
        assert!(
            matches!(&delivery, Ok(response) if response.status() == 200),
            "attempt {attempt}: {delivery:?}"
        );
    }
    drop(stalled);
    server.terminate();
}

/// `n` names of about 90 characters, alike enough that each must be compared in full.
fn long_names(prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("feature/{prefix}-{i:05}-{}", "abcdefghij".repeat(8)))
        .collect()
}

#[tokio::test]
async fn fifty_unknown_branches_at_twenty_thousand_branches_cost_a_bounded_read_that_holds_no_one_up(
) {
    // Arrange: one repository with 20,000 branches, written straight into the database.
    let app = spawn_app_with(|config| config.rate_limit = 0).await;
    {
        let mut db = app.db();
        let tx = db.transaction().unwrap();
        tx.execute(
            "INSERT INTO repos (id, fullname, defaultbranch, createtime) VALUES (1, 'o/r', 'main', 0)",
            [],
        )
        .unwrap();
        let mut insert = tx
            .prepare("INSERT INTO branches (repo_id, name, createtime) VALUES (1, ?, 0)")
            .unwrap();
        insert.execute(["main"]).unwrap();
        for name in long_names("known", 20_000) {
            insert.execute([name]).unwrap();
        }
        drop(insert);
        tx.commit().unwrap();
    }
    let unknown: Vec<String> = long_names("typo", 50);
    let worst = format!("/api/builds?repo=o/r&branch={}", unknown.join(","));

    // Act: one worst-case read alone.
    let started = Instant::now();
    let (status, body) = app.get_status_json(&worst).await;
    let alone = started.elapsed();

    // Assert: every unknown name is reported, the first three with a suggestion at most.
    assert_eq!(status, 200, "{body}");
    let warnings = body["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 50);
    let suggested = warnings
        .iter()
        .filter(|w| !w["did_you_mean"].is_null())
        .count();
    assert!(suggested <= 3, "{suggested}");
    assert!(warnings[3..].iter().all(|w| w["did_you_mean"].is_null()));
    // A debug build on a shared machine: the unbounded read took tens of seconds here.
    assert!(alone < Duration::from_secs(4), "{alone:?}");

    // Act: eight worst-case readers at once, and a plain read meanwhile.
    let readers: Vec<_> = (0..8)
        .map(|_| {
            let (http, url) = (app.http.clone(), app.url(&worst));
            tokio::spawn(async move { http.get(url).send().await.unwrap().status().as_u16() })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    let plain = app.get("/api/builds?per_page=5").await.status();
    let plain_took = started.elapsed();
    for reader in readers {
        assert_eq!(reader.await.unwrap(), 200);
    }
    // Assert
    assert_eq!(plain, 200);
    assert!(plain_took < Duration::from_secs(3), "{plain_took:?}");

    // And a plain typo still gets its suggestion: the default branch is always a candidate.
    let body = app.get_json("/api/builds?repo=o/r&branch=mian").await;
    assert_eq!(body["warnings"][0]["did_you_mean"], "main", "{body}");
    eprintln!(
        "50 unknown branches of 20,000: {alone:?} alone; a plain read among 8: {plain_took:?}"
    );
}

#[tokio::test]
async fn a_delivery_naming_a_repository_outside_githubs_rules_is_refused_and_stores_nothing() {
    // Arrange
    let app = spawn_app_with(|_| {}).await;
    for name in ["o/r/../../../../user/repos?x=", "o/r x", "../r"] {
        let mut payload = webhook_json("workflow_run/completed.payload.json");
        payload["repository"]["full_name"] = json!(name);
        // Act
        let response = app
            .post_webhook("workflow_run", name, &serde_json::to_vec(&payload).unwrap())
            .await;
        // Assert
        assert_eq!(response.status(), 400, "{name}");
        let body: Value = response.json().await.unwrap();
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("repository.full_name"), "{message}");
    }
    let repos: i64 = app
        .db()
        .query_row("SELECT count(*) FROM repos", [], |row| row.get(0))
        .unwrap();
    assert_eq!(repos, 0);
}

#[tokio::test]
async fn answers_from_github_longer_than_the_bound_are_refused_without_reading_them_whole() {
    use buildboard::github::client::{Client, Error};
    // Arrange: a fake API answering 4 MiB with a length (`/big`), 4 MiB in chunks without one
    // (`/stream`), or `{}`.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut head = vec![0u8; 4096];
                let read = stream.read(&mut head).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&head[..read]).into_owned();
                let json = "Content-Type: application/json\r\nConnection: close";
                if head.starts_with("GET /big ") {
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\n{json}\r\nContent-Length: {}\r\n\r\n",
                        4 << 20
                    );
                    let _ = stream.write_all(answer.as_bytes()).await;
                    let _ = stream.write_all(&vec![b' '; 4 << 20]).await;
                } else if head.starts_with("GET /stream ") {
                    let answer =
                        format!("HTTP/1.1 200 OK\r\n{json}\r\nTransfer-Encoding: chunked\r\n\r\n");
                    let _ = stream.write_all(answer.as_bytes()).await;
                    let chunk = format!("10000\r\n{}\r\n", " ".repeat(1 << 16));
                    for _ in 0..64 {
                        if stream.write_all(chunk.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                    let _ = stream.write_all(b"0\r\n\r\n").await;
                } else {
                    let answer =
                        format!("HTTP/1.1 200 OK\r\n{json}\r\nContent-Length: 2\r\n\r\n{{}}");
                    let _ = stream.write_all(answer.as_bytes()).await;
                }
            });
        }
    });
    let mut config = crate::fake_github::quick_client_config(url, "t", 0);
    config.max_body = 1 << 20;
    let client = Client::new(config).unwrap();

    // Act and Assert
    for path in ["/big", "/stream"] {
        let answer = client.get(&client.url(path, &[]), None).await;
        assert!(
            matches!(answer, Err(Error::TooLarge { .. })),
            "{path}: {answer:?}"
        );
    }
    assert!(client.get(&client.url("/small", &[]), None).await.is_ok());
}

#[tokio::test]
async fn lists_that_grow_with_the_organisation_come_in_pages_with_a_link_to_the_next() {
    // Arrange: 250 repositories with a workflow each, written straight into the database.
    let app = spawn_app_with(|config| config.rate_limit = 0).await;
    {
        let mut db = app.db();
        let tx = db.transaction().unwrap();
        for id in 1..=250 {
            tx.execute(
                "INSERT INTO repos (id, fullname, createtime) VALUES (?1, 'o/r' || ?1, 0)",
                [id],
            )
            .unwrap();
            tx.execute(
                "INSERT INTO workflows (id, repo_id, name, path) VALUES (?1, ?1, 'CI', 'ci.yml')",
                [id],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }

    for (list, path) in [("repos", "/api/repos"), ("workflows", "/api/workflows")] {
        // Act: the first page by default, then the last one.
        let first = app.get(path).await;
        let link = first.headers()["link"].to_str().unwrap().to_owned();
        let first: Value = first.json().await.unwrap();
        let last = app.get_json(&format!("{path}?per_page=200&page=2")).await;

        // Assert
        assert_eq!(first[list].as_array().unwrap().len(), 100, "{path}");
        assert_eq!(
            (&first["total"], &first["page"], &first["next_page"]),
            (&json!(250), &json!(1), &json!(2)),
            "{path}"
        );
        assert!(
            link.ends_with(&format!("{path}?page=2>; rel=\"next\"")),
            "{link}"
        );
        assert_eq!(last[list].as_array().unwrap().len(), 50, "{path}");
        assert!(last["next_page"].is_null(), "{path}");
        let (status, _) = app.get_status_json(&format!("{path}?per_page=501")).await;
        assert_eq!(status, 400, "{path}");
    }
    let grouped = app.get_json("/api/metrics?group_by=repo&per_page=10").await;
    assert_eq!(grouped["per_page"], 10);
    assert!(grouped["groups"].as_array().unwrap().len() <= 10);
}

#[tokio::test]
async fn a_refused_webhook_body_gets_413_or_411_whatever_its_host() {
    // Arrange: a loopback server, which refuses names such as evil.example on its other routes.
    let app = spawn_app_with(|_| {}).await;
    let requests = [
        (
            "POST /webhook HTTP/1.1\r\nHost: evil.example\r\nContent-Length: 999999999\r\n\r\n",
            413,
        ),
        (
            "POST /webhook HTTP/1.1\r\nHost: evil.example\r\nTransfer-Encoding: chunked\r\n\r\n",
            411,
        ),
        ("GET /api/repos HTTP/1.1\r\nHost: evil.example\r\n\r\n", 421),
    ];
    for (request, want) in requests {
        // Act
        let mut stream = send_head(app.addr, request, b"").await;
        // Assert
        let status = status_within(&mut stream, Duration::from_secs(5)).await;
        assert_eq!(status, Some(want), "{request}");
    }
}
