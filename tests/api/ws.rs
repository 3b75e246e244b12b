//! `GET /ws` against the real server with real WebSocket clients.

use std::time::Duration;

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{next_json, next_of_type, spawn_app};

#[tokio::test]
async fn two_clients_both_receive_a_delivery_posted_after_they_connected() {
    let app = spawn_app().await;
    let mut first = app.connect_ws().await;
    let mut second = app.connect_ws().await;
    for client in [&mut first, &mut second] {
        assert_eq!(
            next_json(client, Duration::from_secs(5)).await["type"],
            "hello"
        );
        let snapshot = next_json(client, Duration::from_secs(5)).await;
        assert_eq!(snapshot["type"], "snapshot");
        assert_eq!(snapshot["builds"].as_array().unwrap().len(), 0);
    }

    app.deliver_fixture("workflow_run", "r1", "workflow_run/completed.payload.json")
        .await;

    for client in [&mut first, &mut second] {
        let update = next_of_type(client, "run").await;
        assert_eq!(update["build"]["id"], 289782451);
        assert_eq!(update["build"]["conclusion"], "success");
        assert_eq!(update["build"]["workflow"], "test");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_new_client_gets_a_snapshot_of_existing_runs_and_push_updates_as_commit_messages() {
    let app = spawn_app().await;
    app.deliver_fixture("workflow_run", "r1", "workflow_run/requested.payload.json")
        .await;
    let mut client = app.connect_ws().await;
    let snapshot = next_of_type(&mut client, "snapshot").await;
    assert_eq!(snapshot["builds"][0]["status"], "queued");

    app.deliver_fixture("push", "p1", "push/with-new-branch.payload.json")
        .await;
    let branch = next_of_type(&mut client, "branch").await;
    assert_eq!(branch["branch"]["name"], "master");
    assert_eq!(branch["branch"]["deleted"], false);
    let commit = next_of_type(&mut client, "commit").await;
    assert_eq!(
        commit["commit"]["sha"],
        "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    );
    app.stop().await;
}

#[tokio::test]
async fn graceful_shutdown_sends_clients_a_close_frame() {
    let app = spawn_app().await;
    let mut client = app.connect_ws().await;
    next_of_type(&mut client, "snapshot").await;
    let stopping = tokio::spawn(app.stop());
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(5), client.next())
            .await
            .expect("closed in time")
        {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(
        u16::from(close.expect("a close frame with a code").code),
        1001
    );
    stopping.await.unwrap();
}
