//! The WebSocket feed under pressure: clients that never read, too many clients, idle and dead
//! clients, and clients that send garbage. Each misbehaving client is dropped; the others go on.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::{self, Message};

use crate::helpers::{next_json, next_of_type, spawn_app_with, webhook_json, TestApp, WsClient};
use buildboard::config::WsTiming;

/// A WebSocket upgrade written by hand, for clients that then misbehave at the byte level.
async fn raw_upgrade(app: &TestApp, receive_buffer: Option<u32>) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    if let Some(size) = receive_buffer {
        socket.set_recv_buffer_size(size).unwrap();
    }
    let mut stream = socket.connect(app.addr).await.unwrap();
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        app.addr
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}

/// Reads (and discards) until the server closes the connection; panics if it does not within `wait`.
async fn read_until_closed(stream: &mut TcpStream, wait: Duration, what: &str) {
    let mut buffer = vec![0u8; 64 * 1024];
    tokio::time::timeout(wait, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what}: the server did not close the connection in time"));
}

/// Waits until `client`'s connection ends (a close frame, an error, or the end of the stream),
/// skipping whatever was sent before; panics if it is still open after `wait`.
async fn expect_closed(client: &mut WsClient, wait: Duration, what: &str) {
    tokio::time::timeout(wait, async {
        loop {
            match client.next().await {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what}: the server did not close the connection in time"));
}

async fn connected(app: &TestApp) -> WsClient {
    let mut client = app.connect_ws().await;
    next_of_type(&mut client, "snapshot").await;
    client
}

/// A push of `commits` commits, each with ~2 KB of author name and login, so that each `commit`
/// message is large.
fn big_push(round: usize, commits: usize) -> Vec<u8> {
    let mut payload = webhook_json("push/with-new-branch.payload.json");
    payload["created"] = json!(false);
    let template = payload["commits"][0].clone();
    let list: Vec<Value> = (0..commits)
        .map(|n| {
            let mut commit = template.clone();
            commit["id"] = json!(format!("{:040x}", round * 100_000 + n));
            commit["author"]["name"] = json!("n".repeat(1000));
            commit["author"]["username"] = json!("u".repeat(1000));
            commit
        })
        .collect();
    payload["head_commit"] = list[commits - 1].clone();
    payload["commits"] = json!(list);
    serde_json::to_vec(&payload).unwrap()
}

#[tokio::test]
async fn a_client_that_never_reads_does_not_hold_up_another_and_is_dropped() {
    // Arrange: no pings, so only the send timeout can drop the stuck client; room for two
    // clients, so a third gets in only once the stuck one's task has ended.
    let app = spawn_app_with(|config| {
        config.max_ws_clients = 2;
        config.ws_timing = WsTiming {
            ping_interval: Duration::from_secs(3600),
            idle_timeout: Duration::from_secs(3600),
            send_timeout: Duration::from_millis(500),
        };
    })
    .await;
    let mut stuck = raw_upgrade(&app, Some(4096)).await;
    let mut reader = connected(&app).await;

    // Act: ~5 MB of updates, more than the kernel buffers for the stuck client.
    const PUSHES: usize = 24;
    const COMMITS: usize = 100;
    for round in 0..PUSHES {
        app.deliver("push", &format!("big-{round}"), &big_push(round, COMMITS))
            .await;
        // Assert: the reader gets every update of this push in time, stuck client or not.
        for n in 0..COMMITS {
            let message = next_json(&mut reader, Duration::from_secs(5)).await;
            assert_eq!(message["type"], "commit", "round {round}, commit {n}");
            assert_eq!(
                message["commit"]["sha"],
                format!("{:040x}", round * 100_000 + n)
            );
        }
    }

    // Assert: the stuck client was dropped without it reading a byte (its slot is free again),
    // and its connection ends once the buffers drain.
    let third = connect_within(&app, Duration::from_secs(5)).await;
    drop(third);
    read_until_closed(&mut stuck, Duration::from_secs(10), "stuck client").await;
    // And the reader is still served.
    app.deliver_fixture(
        "workflow_run",
        "after",
        "workflow_run/completed.payload.json",
    )
    .await;
    assert_eq!(
        next_of_type(&mut reader, "run").await["build"]["id"],
        289782451
    );
    app.stop().await;
}

#[tokio::test]
async fn over_the_client_cap_an_upgrade_gets_503_until_a_slot_frees_up() {
    let app = spawn_app_with(|config| config.max_ws_clients = 2).await;
    let first = connected(&app).await;
    let _second = connected(&app).await;

    let refused = tokio_tungstenite::connect_async(format!("ws://{}/ws", app.addr)).await;

    match refused {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 503),
        Err(other) => panic!("expected a 503, got {other}"),
        Ok(_) => panic!("a third client was admitted over a cap of 2"),
    }
    drop(first);
    connect_within(&app, Duration::from_secs(5)).await;
    app.stop().await;
}

/// Connects a client, retrying while the server answers 503 (full), for at most `wait`.
async fn connect_within(app: &TestApp, wait: Duration) -> WsClient {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio_tungstenite::connect_async(format!("ws://{}/ws", app.addr)).await {
            Ok((client, _)) => return client,
            Err(tungstenite::Error::Http(response)) if response.status() == 503 => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "no client slot was freed in time"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(other) => panic!("{other}"),
        }
    }
}

#[tokio::test]
async fn a_client_that_does_not_answer_pings_is_dropped_and_one_that_does_stays() {
    let app = spawn_app_with(|config| {
        config.ws_timing = WsTiming {
            ping_interval: Duration::from_millis(100),
            idle_timeout: Duration::from_millis(300),
            send_timeout: Duration::from_secs(5),
        };
    })
    .await;
    let mut silent = connected(&app).await;
    // A live client: reading answers pings (tungstenite queues the pong and sends it).
    let (updates, mut received) = tokio::sync::mpsc::unbounded_channel();
    let mut live = connected(&app).await;
    let live_task = tokio::spawn(async move {
        while let Some(Ok(message)) = live.next().await {
            if let Message::Text(text) = message {
                let _ = updates.send(serde_json::from_str::<Value>(&text).unwrap());
            }
        }
    });

    // The silent client reads nothing, so it answers no ping, for many idle timeouts.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    expect_closed(&mut silent, Duration::from_secs(5), "silent client").await;
    app.deliver_fixture("workflow_run", "r1", "workflow_run/completed.payload.json")
        .await;
    let update = tokio::time::timeout(Duration::from_secs(5), received.recv())
        .await
        .expect("the live client is still served")
        .expect("the live client is still connected");
    assert_eq!(update["type"], "run");
    app.stop().await;
    live_task.await.unwrap();
}

#[tokio::test]
async fn an_oversized_or_malformed_client_frame_closes_that_connection_only() {
    let app = spawn_app_with(|_| {}).await;
    let mut oversized = connected(&app).await;
    let mut bystander = connected(&app).await;
    let mut malformed = raw_upgrade(&app, None).await;
    // Skip the 101 response, then send a frame with a reserved opcode that is not even masked.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(malformed.read_u8().await.unwrap());
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{head:?}");

    oversized
        .send(Message::text("x".repeat(64 * 1024)))
        .await
        .unwrap();
    malformed.write_all(&[0x8F, 0x00]).await.unwrap();

    expect_closed(&mut oversized, Duration::from_secs(5), "oversized frame").await;
    read_until_closed(&mut malformed, Duration::from_secs(5), "malformed frame").await;
    app.deliver_fixture("workflow_run", "r1", "workflow_run/completed.payload.json")
        .await;
    assert_eq!(
        next_of_type(&mut bystander, "run").await["build"]["id"],
        289782451
    );
    app.stop().await;
}
