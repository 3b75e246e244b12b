//! Prometheus counters for operators, served at `GET /metrics` in the text exposition format.
//!
//! Label values are low-cardinality by construction (event names we handle, fixed outcome words).

use std::sync::LazyLock;

use prometheus::{
    register_histogram, register_int_counter, register_int_counter_vec, register_int_gauge,
    Encoder, Histogram, IntCounter, IntCounterVec, IntGauge, TextEncoder,
};

/// Deliveries by `event` (ours, or `other`) and `outcome` (processed, duplicate, ignored,
/// unauthorized, invalid, busy, timeout, error).
pub static DELIVERIES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "buildboard_deliveries_total",
        "Webhook deliveries by event and outcome",
        &["event", "outcome"]
    )
    .expect("the metric is registered once")
});

/// Seconds to apply and commit one group of deliveries.
pub static WRITE_SECONDS: LazyLock<Histogram> = LazyLock::new(|| {
    register_histogram!(
        "buildboard_write_seconds",
        "Time to apply and commit one group of deliveries",
        vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0]
    )
    .expect("the metric is registered once")
});

/// Deliveries committed per transaction.
pub static WRITE_GROUP_SIZE: LazyLock<Histogram> = LazyLock::new(|| {
    register_histogram!(
        "buildboard_write_group_size",
        "Deliveries committed per transaction",
        vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0]
    )
    .expect("the metric is registered once")
});

/// Connected WebSocket clients.
pub static WS_CLIENTS: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!(
        "buildboard_websocket_clients",
        "Connected WebSocket clients"
    )
    .expect("the metric is registered once")
});

/// Times a WebSocket client fell behind the broadcast channel and was sent a fresh snapshot.
pub static BROADCAST_LAGS: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "buildboard_broadcast_lag_events_total",
        "WebSocket clients that fell behind and were resynced"
    )
    .expect("the metric is registered once")
});

/// Requests refused by a rate limit, by `budget` (reads, webhook or actions).
pub static RATE_LIMITED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "buildboard_rate_limited_total",
        "Requests refused with 429",
        &["budget"]
    )
    .expect("the metric is registered once")
});

/// Refused posts of runner samples (`POST /api/metrics`), by `reason` (the error code).
pub static TELEMETRY_REFUSED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "buildboard_telemetry_refused_total",
        "Posts of runner samples refused, by reason",
        &["reason"]
    )
    .expect("the metric is registered once")
});

/// Runner samples stored.
pub static TELEMETRY_SAMPLES: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "buildboard_telemetry_samples_total",
        "Runner samples stored"
    )
    .expect("the metric is registered once")
});

/// Every registered metric in the text exposition format.
pub fn render() -> String {
    // Touch each metric so it is exported even before its first event.
    LazyLock::force(&DELIVERIES);
    LazyLock::force(&WRITE_SECONDS);
    LazyLock::force(&WRITE_GROUP_SIZE);
    LazyLock::force(&WS_CLIENTS);
    LazyLock::force(&BROADCAST_LAGS);
    LazyLock::force(&RATE_LIMITED);
    LazyLock::force(&TELEMETRY_REFUSED);
    LazyLock::force(&TELEMETRY_SAMPLES);
    let mut buffer = Vec::new();
    TextEncoder::new()
        .encode(&prometheus::gather(), &mut buffer)
        .expect("encoding to a Vec cannot fail");
    String::from_utf8(buffer).expect("the text format is UTF-8")
}
