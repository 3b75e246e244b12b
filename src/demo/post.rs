//! Posting deliveries to a server's `/webhook`, signed and with GitHub's headers, as GitHub does.

use std::future::Future;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::StatusCode;
use tracing::{info, warn};

use super::{Delivery, Simulation};
use crate::github::signature;

/// How often a delivery is tried again after `429 Too Many Requests` or `503`.
const RETRIES: u32 = 5;

/// What [`post_all`] did.
#[derive(Debug, Clone, Default)]
pub struct Posted {
    /// Answered `200 OK`.
    pub ok: usize,
    /// Answered `202 Accepted`.
    pub accepted: usize,
    /// Every other answer, or the error, one line each: `<event> <delivery id>: <status> <body>`.
    pub failed: Vec<String>,
    pub elapsed: Duration,
}

impl Posted {
    pub fn posted(&self) -> usize {
        self.ok + self.accepted + self.failed.len()
    }

    /// Deliveries per second.
    pub fn rate(&self) -> f64 {
        self.posted() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Posts `deliveries` in order to `webhook_url` (e.g. `http://127.0.0.1:5000/webhook`), signed
/// with `secret`, `concurrency` at a time, calling `progress(done)` after each. Deliveries answered
/// 429 or 503 are tried again after the server's `Retry-After` (at most a few times).
pub async fn post_all(
    client: &reqwest::Client,
    webhook_url: &str,
    secret: &[u8],
    deliveries: Vec<Delivery>,
    concurrency: usize,
    mut progress: impl FnMut(usize),
) -> Posted {
    let started = Instant::now();
    let mut posted = Posted::default();
    let mut answers = futures_util::stream::iter(deliveries)
        .map(|delivery| post_one(client, webhook_url, secret, delivery))
        .buffered(concurrency.max(1));
    let mut done = 0;
    while let Some(answer) = answers.next().await {
        match answer {
            Ok(StatusCode::OK) => posted.ok += 1,
            Ok(StatusCode::ACCEPTED) => posted.accepted += 1,
            Ok(_) => unreachable!("post_one returns only 200 and 202 as Ok"),
            Err(line) => posted.failed.push(line),
        }
        done += 1;
        progress(done);
    }
    posted.elapsed = started.elapsed();
    posted
}

/// Posts one delivery; `Ok` with 200 or 202, else a line saying what happened.
async fn post_one(
    client: &reqwest::Client,
    webhook_url: &str,
    secret: &[u8],
    delivery: Delivery,
) -> Result<StatusCode, String> {
    let signature = signature::sign(secret, &delivery.body);
    let mut attempt = 0;
    loop {
        let sent = client
            .post(webhook_url)
            .header("content-type", "application/json")
            .header("user-agent", "GitHub-Hookshot/buildboard-demo")
            .header("x-github-event", delivery.event)
            .header("x-github-delivery", &delivery.id)
            .header("x-github-hook-id", "472963418")
            .header("x-hub-signature-256", &signature)
            .body(delivery.body.clone())
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(err) => return Err(format!("{} {}: {err}", delivery.event, delivery.id)),
        };
        let status = response.status();
        if status == StatusCode::OK || status == StatusCode::ACCEPTED {
            return Ok(status);
        }
        let busy =
            status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE;
        if busy && attempt < RETRIES {
            let wait = response
                .headers()
                .get("retry-after")
                .and_then(|value| value.to_str().ok()?.parse().ok())
                .unwrap_or(1);
            tokio::time::sleep(Duration::from_secs(wait)).await;
            attempt += 1;
            continue;
        }
        let text = response.text().await.unwrap_or_default();
        return Err(format!(
            "{} {}: {status} {text}",
            delivery.event, delivery.id
        ));
    }
}

/// Keeps the simulation going in real time until `stop` completes: once a second, posts whatever
/// [`Simulation::trickle`] says is due. A failed post is logged, not fatal.
pub async fn trickle(
    simulation: &mut Simulation,
    client: &reqwest::Client,
    webhook_url: &str,
    secret: &[u8],
    stop: impl Future<Output = ()>,
) {
    let mut stop = std::pin::pin!(stop);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut posted_since_log = 0;
    let mut last_log = Instant::now();
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = tick.tick() => {}
        }
        let due = simulation.trickle(chrono::Utc::now().timestamp());
        if due.is_empty() {
            continue;
        }
        let posted = post_all(client, webhook_url, secret, due, 4, |_| {}).await;
        for line in &posted.failed {
            warn!("demo delivery refused: {line}");
        }
        posted_since_log += posted.posted();
        if last_log.elapsed() >= Duration::from_secs(60) {
            info!(
                deliveries = posted_since_log,
                runs_planned = simulation.stats().runs,
                "demo: live deliveries in the last minute"
            );
            posted_since_log = 0;
            last_log = Instant::now();
        }
    }
}
