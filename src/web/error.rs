//! The one HTTP error type, and the mapping of warp's rejections to the same JSON shape:
//! `{"error": {"code": "...", "message": "..."}}`.

use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Rejection, Reply};

/// An error a handler returns; each variant names its status.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Return `400 Bad Request`.
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// Return `401 Unauthorized`.
    #[error("{0}")]
    Unauthorized(String),
    /// Return `403 Forbidden`.
    #[error("{0}")]
    Forbidden(String),
    /// Return `404 Not Found`.
    #[error("{0}")]
    NotFound(String),
    /// Return `415 Unsupported Media Type`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Return `503 Service Unavailable` (the server is shutting down).
    #[error("{0}")]
    Unavailable(String),
    /// Return `503 Service Unavailable` with `Retry-After` and `Connection: close` (too much is in
    /// flight, or a read ran past its time limit: try again shortly, or ask for less).
    #[error("{0}")]
    Busy(String),
    /// Return `408 Request Timeout` with `Connection: close` (the body did not arrive in time).
    #[error("{0}")]
    RequestTimeout(String),
    /// Return an opaque `500 Internal Server Error`; the cause is logged, never sent.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<crate::store::Error> for Error {
    fn from(err: crate::store::Error) -> Self {
        match err {
            // The client's parameters asked for too much: a 503 it may retry, not a 500.
            crate::store::Error::TooSlow(_) => Self::Busy(err.to_string()),
            err => Self::Internal(err.into()),
        }
    }
}

impl From<crate::ingest::Error> for Error {
    fn from(err: crate::ingest::Error) -> Self {
        match err {
            crate::ingest::Error::Closed => Self::Unavailable(err.to_string()),
            crate::ingest::Error::Store(err) => err.into(),
        }
    }
}

impl Error {
    /// A `400` with a machine-readable `code`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, code),
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Self::Busy(_) => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            Self::RequestTimeout(_) => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

/// A WebSocket upgrade from a page of another origin; maps to `403`.
#[derive(Debug)]
pub struct CrossOrigin;

impl warp::reject::Reject for CrossOrigin {}

/// Seconds a client refused with [`Error::Busy`] is asked to wait.
const BUSY_RETRY_AFTER: u32 = 5;

/// The JSON error body with `status`.
pub fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "error": { "code": code, "message": message } });
    warp::reply::with_status(warp::reply::json(&body), status).into_response()
}

impl Reply for Error {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        match &self {
            Self::Internal(cause) => {
                tracing::error!(error.cause_chain = ?cause, "request failed");
                json_error(status, code, "internal server error")
            }
            Self::Busy(_) | Self::RequestTimeout(_) => {
                tracing::info!(status = status.as_u16(), %self, "request refused");
                let mut response = json_error(status, code, &self.to_string());
                let headers = response.headers_mut();
                if matches!(self, Self::Busy(_)) {
                    headers.insert("retry-after", BUSY_RETRY_AFTER.into());
                }
                // The rest of the body is not read: the connection cannot carry another request.
                headers.insert("connection", warp::http::HeaderValue::from_static("close"));
                response
            }
            other => {
                tracing::info!(status = status.as_u16(), %other, "request refused");
                json_error(status, code, &other.to_string())
            }
        }
    }
}

impl Error {
    /// The error as the board's HTML error page (`templates/error.html`): what is wrong in big
    /// text, a way back, and on a TV a retry by itself. The API keeps answering JSON.
    pub fn into_page(self) -> Response {
        let (status, _) = self.status_and_code();
        let message = match &self {
            Self::Internal(cause) => {
                tracing::error!(error.cause_chain = ?cause, "page failed");
                "Something went wrong on the server; it has been logged.".to_owned()
            }
            other => {
                tracing::info!(status = status.as_u16(), %other, "page refused");
                other.to_string()
            }
        };
        let page = crate::views::error_page(
            status.as_u16(),
            status.canonical_reason().unwrap_or("Error"),
            &message,
        )
        .unwrap_or_else(|err| {
            tracing::error!(cause = %err, "could not render the error page");
            message
        });
        let reply = warp::reply::with_status(warp::reply::html(page), status);
        warp::reply::with_header(reply, warp::http::header::CACHE_CONTROL, "no-store")
            .into_response()
    }
}

/// The page a browser without the board's cookie gets.
fn sign_in_page() -> String {
    crate::views::sign_in(crate::views::SignIn::PrivateBoard).unwrap_or_else(|err| {
        tracing::error!(cause = %err, "could not render the sign-in page");
        String::new()
    })
}

/// A read refused for want of a token.
#[derive(Debug)]
pub struct Denied {
    /// The client asked for a page (sent `Accept: text/html`), so it gets one that explains how
    /// to sign in rather than JSON.
    pub wants_page: bool,
}

impl warp::reject::Reject for Denied {}

/// Turns warp's own rejections into the JSON error shape; anything unexpected is a logged 500.
pub async fn handle_rejection(err: Rejection) -> Result<Response, std::convert::Infallible> {
    if let Some(limited) = err.find::<super::limit::RateLimited>() {
        return Ok(rate_limited(limited));
    }
    if let Some(denied) = err.find::<Denied>() {
        return Ok(unauthorized(denied));
    }
    let (status, code, message) = status_of(&err);
    if status != StatusCode::NOT_FOUND {
        tracing::info!(status = status.as_u16(), %message, "request rejected");
    }
    Ok(json_error(status, code, &message))
}

/// `429 Too Many Requests` with `Retry-After`.
fn rate_limited(limited: &super::limit::RateLimited) -> Response {
    let seconds = limited.retry_after.as_secs_f64().ceil().max(1.0) as u64;
    tracing::info!(
        retry_after = seconds,
        budget = limited.budget,
        "rate limited"
    );
    crate::counters::RATE_LIMITED
        .with_label_values(&[limited.budget])
        .inc();
    let reply = json_error(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        &format!("too many requests; retry after {seconds} s"),
    );
    warp::reply::with_header(reply, "retry-after", seconds.to_string()).into_response()
}

/// `401 Unauthorized`: the sign-in page for a browser, the JSON error for anything else.
fn unauthorized(denied: &Denied) -> Response {
    tracing::info!(status = 401, "read refused: no valid board token");
    let reply = if denied.wants_page {
        warp::reply::with_status(warp::reply::html(sign_in_page()), StatusCode::UNAUTHORIZED)
            .into_response()
    } else {
        json_error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this board needs its read token: send Authorization: Bearer <board token>, \
             or open a page once with ?token=<board token>",
        )
    };
    warp::reply::with_header(reply, "www-authenticate", "Bearer realm=\"buildboard\"")
        .into_response()
}

/// The status, code and message of a request refused for its body, host or origin.
fn refused_request(err: &Rejection) -> Option<(StatusCode, &'static str, String)> {
    use warp::reject;
    // A body refused by `/webhook` (which answers any host) before the other routes' host check:
    // a sender is told what is wrong with its request, not that the host is another's.
    let found = if err.find::<reject::PayloadTooLarge>().is_some() {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is larger than the configured limit".to_owned(),
        )
    } else if err.find::<reject::LengthRequired>().is_some() {
        (
            StatusCode::LENGTH_REQUIRED,
            "length_required",
            "a Content-Length header is required".to_owned(),
        )
    } else if err.find::<super::host::Misdirected>().is_some() {
        (
            StatusCode::MISDIRECTED_REQUEST,
            "misdirected_request",
            "this server does not answer for this host name; use the board's own address \
             (operators: see --public-url)"
                .to_owned(),
        )
    } else if err.find::<CrossOrigin>().is_some() {
        (
            StatusCode::FORBIDDEN,
            "forbidden",
            "WebSocket connections from another origin are refused".to_owned(),
        )
    } else {
        return None;
    };
    Some(found)
}

/// The status, code and message of every other rejection; an unknown one is a logged 500.
fn status_of(err: &Rejection) -> (StatusCode, &'static str, String) {
    use warp::reject;
    if let Some(found) = refused_request(err) {
        return found;
    }
    if err.is_not_found() {
        (
            StatusCode::NOT_FOUND,
            "not_found",
            "no such route".to_owned(),
        )
    } else if err.find::<reject::MethodNotAllowed>().is_some() {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "method not allowed on this route".to_owned(),
        )
    } else if let Some(missing) = err.find::<reject::MissingHeader>() {
        (
            StatusCode::BAD_REQUEST,
            "missing_header",
            format!("missing header {}", missing.name()),
        )
    } else if let Some(invalid) = err.find::<reject::InvalidHeader>() {
        (
            StatusCode::BAD_REQUEST,
            "invalid_header",
            format!("invalid header {}", invalid.name()),
        )
    } else if err.find::<reject::UnsupportedMediaType>().is_some() {
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send application/json".to_owned(),
        )
    } else if let Some(body) = err.find::<warp::filters::body::BodyDeserializeError>() {
        (
            StatusCode::BAD_REQUEST,
            "invalid_body",
            format!("invalid JSON body: {body}"),
        )
    } else if err.find::<reject::InvalidQuery>().is_some() {
        (
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "invalid query string".to_owned(),
        )
    } else {
        tracing::error!(rejection = ?err, "unhandled rejection");
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal server error".to_owned(),
        )
    }
}
