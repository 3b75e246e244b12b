//! `POST /webhook`: GitHub deliveries.
//!
//! Order of checks: body size (413), room in the budget of bodies in flight (503), the body arriving
//! within its deadline (408; see [`super::body`]), then the signature over the raw bytes (401;
//! the GitHub App's deliveries with the App's secret, hand-made hooks with the server's) before
//! anything else is looked at, then content type (415), the event and delivery headers
//! (400) and the payload (400, naming the field). A stored event is acknowledged with 200 only once it is committed;
//! events buildboard does not handle get 202 and are not stored. The App's `installation` and
//! `installation_repositories` events go to [`super::installations`].

use bytes::Bytes;
use serde::Serialize;
use tracing::info;
use warp::http::{HeaderMap, StatusCode};
use warp::{Filter, Rejection, Reply};

use super::{with_state, AppState, Error};
use crate::github::event::{self, EventKind};
use crate::github::signature;
use crate::ingest::Outcome;

/// `POST /webhook`.
pub fn routes(state: AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let limit = state.config.max_body_bytes;
    warp::path!("webhook")
        .and(warp::post())
        .and(state.limits.webhook.filter())
        .and(warp::body::content_length_limit(limit))
        .and(warp::header::<u64>("content-length"))
        .and(warp::header::headers_cloned())
        .and(warp::body::stream())
        .and(with_state(state))
        .then(receive_delivery)
}

#[derive(Serialize)]
struct Ack<'a> {
    status: &'a str,
    event: &'a str,
    delivery: &'a str,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

#[tracing::instrument(skip_all, fields(event, delivery))]
async fn receive_delivery<B: bytes::Buf>(
    length: u64,
    headers: HeaderMap,
    body: impl futures_util::Stream<Item = Result<B, warp::Error>>,
    state: AppState,
) -> Result<warp::reply::Response, Error> {
    // The room stays reserved until the delivery is answered: its parsed payload is held as long.
    let result = match state.webhook_bodies.receive(length, body).await {
        Ok((body, _reserved)) => process_delivery(&headers, body, &state).await,
        Err(err) => Err(err),
    };
    let event = header(&headers, "x-github-event")
        .and_then(EventKind::from_header)
        .map_or("other", EventKind::as_str);
    let outcome = match &result {
        Ok((_, outcome)) => outcome,
        Err(Error::Unauthorized(_)) => "unauthorized",
        Err(Error::BadRequest { .. } | Error::UnsupportedMediaType(_)) => "invalid",
        Err(Error::Busy(_)) => "busy",
        Err(Error::RequestTimeout(_)) => "timeout",
        Err(_) => "error",
    };
    crate::counters::DELIVERIES
        .with_label_values(&[event, outcome])
        .inc();
    result.map(|(response, _)| response)
}

/// Checks, parses and stores one delivery; returns the reply and its outcome for the metrics.
async fn process_delivery(
    headers: &HeaderMap,
    body: Bytes,
    state: &AppState,
) -> Result<(warp::reply::Response, &'static str), Error> {
    verify_signature(headers, &body, state)?;
    let json = payload_json(header(headers, "content-type"), &body)?;
    let event_name = header(headers, "x-github-event")
        .filter(|name| !name.is_empty())
        .ok_or_else(|| Error::bad_request("missing_header", "missing X-GitHub-Event header"))?;
    let delivery = header(headers, "x-github-delivery")
        .filter(|id| !id.is_empty() && id.len() <= 128)
        .ok_or_else(|| {
            Error::bad_request(
                "missing_header",
                "missing or invalid X-GitHub-Delivery header",
            )
        })?;
    let span = tracing::Span::current();
    span.record("event", event_name);
    span.record("delivery", delivery);

    if super::installations::is_installation_event(event_name) {
        let outcome = super::installations::handle(state, event_name, &json).await?;
        let ack = Ack {
            status: outcome,
            event: event_name,
            delivery,
        };
        return Ok((warp::reply::json(&ack).into_response(), outcome));
    }
    let Some(kind) = EventKind::from_header(event_name) else {
        info!("ignored an event buildboard does not handle");
        let ack = Ack {
            status: "ignored",
            event: event_name,
            delivery,
        };
        let reply = warp::reply::with_status(warp::reply::json(&ack), StatusCode::ACCEPTED);
        return Ok((reply.into_response(), "ignored"));
    };
    let parsed = event::parse(kind, &json)
        .map_err(|err| Error::bad_request("invalid_payload", err.to_string()))?;
    let outcome = state
        .ingest
        .submit(delivery.to_owned(), kind, parsed)
        .await?;
    let status: &'static str = match outcome {
        Outcome::Applied { changes } => {
            info!(changes, "delivery stored");
            "processed"
        }
        Outcome::Duplicate => {
            info!("duplicate delivery ignored");
            "duplicate"
        }
    };
    let ack = Ack {
        status,
        event: kind.as_str(),
        delivery,
    };
    Ok((warp::reply::json(&ack).into_response(), status))
}

/// Checks the signature over the raw body: the App's deliveries
/// (`X-GitHub-Hook-Installation-Target-Type: integration`) with the App's webhook secret, hooks
/// made by hand with the server's.
fn verify_signature(headers: &HeaderMap, body: &[u8], state: &AppState) -> Result<(), Error> {
    let signature = header(headers, "x-hub-signature-256");
    let from_app = header(headers, "x-github-hook-installation-target-type")
        .is_some_and(|target| target.eq_ignore_ascii_case("integration"));
    if from_app {
        let Some(secret) = state.github_app.webhook_secret() else {
            return Err(Error::Unauthorized(
                "a GitHub App delivery, but no App is configured here (see /setup)".into(),
            ));
        };
        return signature::verify(secret.expose().as_bytes(), body, signature)
            .map_err(|err| Error::Unauthorized(format!("{err} (checked with the App's secret)")));
    }
    if let Some(key) = &state.webhook_key {
        signature::verify(key, body, signature)
            .map_err(|err| Error::Unauthorized(err.to_string()))?;
    }
    Ok(())
}

/// The JSON payload of a delivery: the body itself (`application/json`), or the `payload` field of a
/// form (`application/x-www-form-urlencoded`). The signature was checked over the raw body before.
fn payload_json(content_type: Option<&str>, body: &Bytes) -> Result<Bytes, Error> {
    let media_type = content_type
        .and_then(|value| value.split(';').next())
        .map(|value| value.trim().to_ascii_lowercase());
    match media_type.as_deref() {
        Some("application/json") => Ok(body.clone()),
        Some("application/x-www-form-urlencoded") => form_urlencoded::parse(body)
            .find(|(key, _)| key == "payload")
            .map(|(_, value)| Bytes::from(value.into_owned()))
            .ok_or_else(|| Error::bad_request("invalid_payload", "form-encoded delivery without a `payload` field")),
        other => Err(Error::UnsupportedMediaType(format!(
            "unsupported content type {:?}: use application/json or application/x-www-form-urlencoded",
            other.unwrap_or("(none)")
        ))),
    }
}
