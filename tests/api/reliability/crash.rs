//! Crash safety: SIGKILL the real server in the middle of a stream of deliveries, restart it on
//! the same database, and find every acknowledged delivery there and the database sound.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use super::{post, Server};
use crate::helpers::webhook_json;

/// Concurrent connections posting deliveries.
const CONNECTIONS: usize = 6;
/// Rounds of load, kill and restart.
const ROUNDS: u64 = 3;

/// Posts run `id` (a distinct run per delivery) until the server stops answering; records the
/// ids that got a 2xx.
async fn post_until_killed(url: String, ids: Vec<i64>, acknowledged: Arc<Mutex<Vec<i64>>>) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let template = webhook_json("workflow_run/completed.payload.json");
    for id in ids {
        let mut payload = template.clone();
        payload["workflow_run"]["id"] = json!(id);
        let body = serde_json::to_vec(&payload).unwrap();
        match post(&http, &url, "workflow_run", &format!("run-{id}"), body).await {
            Ok(response) if response.status().is_success() => {
                acknowledged.lock().unwrap().push(id);
            }
            Ok(response) => panic!("run {id}: unexpected {}", response.status()),
            Err(_) => return, // killed: this delivery (and any later one) was never acknowledged
        }
    }
}

#[tokio::test]
async fn every_acknowledged_delivery_survives_a_sigkill_mid_load_and_the_database_stays_sound() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("buildboard.db");
    let log = dir.path().join("server.log");
    let mut acknowledged_total = BTreeSet::new();

    for round in 0..ROUNDS {
        // Arrange: a server on the database the previous round's was killed on.
        let server = Server::start(&db, &log, &[]).await;
        let acknowledged = Arc::new(Mutex::new(Vec::new()));
        let url = server.url("/webhook");
        let base = 1_000_000 * (round as i64 + 1);
        let posters: Vec<_> = (0..CONNECTIONS as i64)
            .map(|connection| {
                let ids = (0..100_000)
                    .map(|n| base + n * CONNECTIONS as i64 + connection)
                    .collect();
                tokio::spawn(post_until_killed(url.clone(), ids, acknowledged.clone()))
            })
            .collect();

        // Act: once deliveries are being acknowledged (a debug build beside the rest of the suite
        // can take a while to answer its first), kill it while more are in flight, at a different
        // moment each round.
        let waiting = std::time::Instant::now();
        while acknowledged.lock().unwrap().is_empty() && waiting.elapsed() < Duration::from_secs(30)
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(100 + 300 * round)).await;
        let before_kill = acknowledged.lock().unwrap().len();
        server.kill();
        for poster in posters {
            tokio::time::timeout(Duration::from_secs(15), poster)
                .await
                .expect("posters stop once the server is gone")
                .expect("no poster panicked");
        }
        let acknowledged = acknowledged.lock().unwrap().clone();
        assert!(
            before_kill > 0,
            "round {round}: deliveries were acknowledged before the kill"
        );
        acknowledged_total.extend(acknowledged);

        // Assert: the database is sound before anything else touches it...
        let lines = buildboard::store::maintenance::integrity_check(&db).unwrap();
        assert_eq!(lines, ["ok"], "round {round}");
        // ...and the restarted server has every acknowledged delivery.
        let server = Server::start(&db, &log, &[]).await;
        let conn = rusqlite::Connection::open(&db).unwrap();
        let stored: BTreeSet<i64> = conn
            .prepare("SELECT id FROM workflowruns")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let lost: Vec<_> = acknowledged_total.difference(&stored).collect();
        assert!(
            lost.is_empty(),
            "round {round}: {} acknowledged deliveries lost, e.g. {:?}",
            lost.len(),
            &lost[..lost.len().min(5)]
        );
        let recorded: i64 = conn
            .query_row("SELECT COUNT(*) FROM deliveries", [], |r| r.get(0))
            .unwrap();
        assert!(recorded >= acknowledged_total.len() as i64);
        drop(conn);
        server.terminate();
    }
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(!log.contains("panicked"), "{log}");
}
