//! Operations and access: health, readiness, Prometheus metrics, security headers, WebSocket origin.

use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::spawn_app;

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = spawn_app().await;
    let health = app.get("/healthz").await;
    assert_eq!(
        (health.status().as_u16(), health.text().await.unwrap()),
        (200, "ok".into())
    );
    let ready = app.get("/readyz").await;
    assert_eq!(
        (ready.status().as_u16(), ready.text().await.unwrap()),
        (200, "ready".into())
    );
    app.stop().await;
}

#[tokio::test]
async fn prometheus_metrics_count_deliveries_by_event_and_outcome() {
    let app = spawn_app().await;
    app.deliver_fixture("workflow_run", "m1", "workflow_run/completed.payload.json")
        .await;
    app.deliver_fixture("workflow_run", "m1", "workflow_run/completed.payload.json")
        .await;
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    // Counters are process-wide (tests share a process), so check presence and shape.
    for needle in [
        "buildboard_deliveries_total{event=\"workflow_run\",outcome=\"processed\"}",
        "buildboard_deliveries_total{event=\"workflow_run\",outcome=\"duplicate\"}",
        "buildboard_write_seconds_bucket",
        "buildboard_websocket_clients",
        "buildboard_broadcast_lag_events_total",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
    // The writer observes every committed group (the delivery above was one).
    for histogram in ["buildboard_write_seconds", "buildboard_write_group_size"] {
        let count: u64 = text
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{histogram}_count ")))
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("no {histogram}_count in\n{text}"));
        assert!(count >= 1, "{histogram} was never observed");
    }
    app.stop().await;
}

#[tokio::test]
async fn pages_and_api_carry_security_headers() {
    let app = spawn_app().await;
    for path in ["/", "/api/builds", "/static/app.js"] {
        let response = app.get(path).await;
        let headers = response.headers();
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_websocket_from_another_origin_is_refused_and_the_same_origin_is_accepted() {
    let app = spawn_app().await;
    let url = format!("ws://{}/ws", app.addr);
    let mut foreign = url.as_str().into_client_request().unwrap();
    foreign
        .headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    match tokio_tungstenite::connect_async(foreign).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403)
        }
        other => panic!("expected 403, got {other:?}"),
    }
    let mut own = url.as_str().into_client_request().unwrap();
    own.headers_mut()
        .insert("origin", format!("http://{}", app.addr).parse().unwrap());
    assert!(tokio_tungstenite::connect_async(own).await.is_ok());
    app.stop().await;
}
