//! A small GitHub REST client for the backfill (`init_db`), the server's reconciliation, the log
//! fetcher and operators' actions.
//!
//! It does what GitHub's REST documentation asks of API clients: one request at a time; the token
//! in an `Authorization` header that is marked sensitive and never logged; conditional requests
//! (`If-None-Match`), whose `304` answers cost no rate limit; the `Link` header's `rel="next"` for
//! pagination; and the rate limits. It reads `x-ratelimit-remaining`/`x-ratelimit-reset` on every
//! answer and waits for the reset before running dry; on a `403`/`429` it honours `retry-after`,
//! else waits for the reset when the primary limit is spent, else backs off from one minute (a
//! secondary limit); a `5xx` or a network error is retried with exponential backoff. Every wait is
//! capped by [`ClientConfig::max_wait`], which tests shorten so nothing sleeps for real minutes.
//!
//! A [`TokenProvider`] (the GitHub App, `github::app`) may supply the token per request: a request
//! about a repository the App is installed on goes with that installation's token, others with
//! [`ClientConfig::token`]. A `401` on a provided token renews it once; a second `401` is
//! [`Error::TokenRefused`].
//! Every body it reads is bounded: an answer is read up to [`ClientConfig::max_body`] (default
//! [`MAX_BODY_BYTES`]; longer is [`Error::TooLarge`], not retried), an error answer up to
//! [`MAX_ERROR_BYTES`], a log's end by [`TailLimits`]; all through [`read_bounded`].
//!
//! The retry loop is hand-written rather than `backon`'s: three of its four waits are GitHub's
//! (`retry-after`, the reset time, the secondary limit's doubling minute), one retry budget covers
//! all four, the one-request-at-a-time gate and the rate-limit state it guards are held across
//! attempts, and every wait is recorded with its reason ([`Stats::waits`]).

use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::StatusCode;
use tracing::{debug, info, warn};

use crate::secret::Secret;

/// GitHub.com's REST API. GitHub Enterprise Server serves it at `https://HOST/api/v3`.
pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// Most bytes of one answer read by default: a page of 100 runs or jobs is a few hundred KiB.
pub const MAX_BODY_BYTES: u64 = 16 * 1024 * 1024;
/// Most bytes of an error answer read (for GitHub's `message`).
pub const MAX_ERROR_BYTES: u64 = 64 * 1024;
/// The REST API version requested (`X-GitHub-Api-Version`).
const API_VERSION: &str = "2022-11-28";

/// Errors from the GitHub API, each worded to say what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `401`: the token is wrong, expired or revoked.
    #[error("GitHub rejected the token (401 {message}): set GITHUB_TOKEN to a valid token (a fine-grained token needs read access to Actions and Contents)")]
    Unauthorized { message: String },
    /// `404`: no such resource, or one the token may not see.
    #[error("{url} was not found (404): check the owner/name, and that the token can read the repository")]
    NotFound { url: String },
    /// `403` that is not a rate limit: the token lacks a permission.
    #[error("GitHub refused {url} (403 {message}): the token lacks a permission it needs (read access to Actions and Contents)")]
    Forbidden { url: String, message: String },
    /// Any other unexpected status.
    #[error("GitHub answered {url} with {status}: {message}")]
    Status {
        url: String,
        status: u16,
        message: String,
    },
    /// Still failing after [`ClientConfig::max_retries`] retries.
    #[error("gave up on {url} after {attempts} attempts, last answer {status}: GitHub is having trouble or still rate limiting; try again later")]
    GaveUp {
        url: String,
        attempts: u32,
        status: u16,
    },
    /// The request could not be sent or its answer not read.
    #[error("cannot reach {url} ({cause}): check the network connection, and the API URL for GitHub Enterprise Server (init_db --api-url, buildboard --github-api-url)")]
    Network { url: String, cause: String },
    /// The answer was not the JSON we expected.
    #[error("unexpected answer from {url} at `{path}`: {message}")]
    Decode {
        url: String,
        path: String,
        message: String,
    },
    /// `401` on a provided (installation) token, even after renewing it.
    #[error("GitHub refused the GitHub App's installation token even after renewing it (401 {message}): check that the App is still installed on the repository and not suspended")]
    TokenRefused { message: String },
    /// The answer was longer than the most the client reads ([`ClientConfig::max_body`]).
    #[error("{url} answered more than {limit} bytes, the most buildboard reads of one answer")]
    TooLarge { url: String, limit: u64 },
    /// The client could not be built (for example, an invalid header value in the token).
    #[error("cannot set up the GitHub client: {0}")]
    Setup(String),
}

/// Client settings. [`ClientConfig::new`] has GitHub's recommended values; tests shorten the waits.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Base URL of the REST API, without a trailing slash.
    pub api_url: String,
    /// Sent as `Authorization: Bearer ...`; `None` makes anonymous requests (60 per hour).
    pub token: Option<Secret>,
    /// Supplies the token per request (the GitHub App's installation tokens); where it has none,
    /// [`ClientConfig::token`] is used.
    pub tokens: Option<std::sync::Arc<dyn TokenProvider>>,
    /// Retries after a `5xx`, a network error or a rate-limit refusal, before giving up.
    pub max_retries: u32,
    /// First wait after a `5xx` or network error; doubles with each retry.
    pub backoff: Duration,
    /// First wait after a secondary rate limit without `retry-after` (GitHub: at least a minute);
    /// doubles with each retry.
    pub secondary_wait: Duration,
    /// The longest single wait; longer ones (a reset an hour away) are cut to it.
    pub max_wait: Duration,
    /// Added to waits for `x-ratelimit-reset`, for clock skew between us and GitHub.
    pub reset_margin: Duration,
    /// Requests left in the window at or below which the client waits for the reset, leaving
    /// room for other users of the same token (such as a running server's reconciliation).
    pub reserve: u64,
    /// Timeout of one request.
    pub timeout: Duration,
    /// Most bytes of one answer read (see [`MAX_BODY_BYTES`]).
    pub max_body: u64,
}

impl ClientConfig {
    /// Settings for `api_url` with `token` and GitHub's recommended waits.
    pub fn new(api_url: impl Into<String>, token: Option<Secret>) -> Self {
        Self {
            api_url: api_url.into().trim_end_matches('/').to_owned(),
            token,
            tokens: None,
            max_retries: 5,
            backoff: Duration::from_secs(1),
            secondary_wait: Duration::from_secs(60),
            max_wait: Duration::from_secs(65 * 60),
            reset_margin: Duration::from_secs(1),
            reserve: 10,
            timeout: Duration::from_secs(30),
            max_body: MAX_BODY_BYTES,
        }
    }
}

/// Supplies a token per request, by URL: `None` when it has none for that URL (the client then
/// uses [`ClientConfig::token`]), `Some(Err(why))` when it should have one but cannot get it.
pub trait TokenProvider: Send + Sync + std::fmt::Debug {
    /// The token for a request to `url`; with `renew`, a fresh one (the last was refused).
    fn token<'a>(
        &'a self,
        url: &'a str,
        renew: bool,
    ) -> futures_util::future::BoxFuture<'a, Option<Result<Secret, String>>>;
}

/// Why the client waited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitReason {
    /// The primary limit was (nearly) spent: wait for `x-ratelimit-reset`.
    RateLimitReset,
    /// A `403`/`429` with `retry-after`.
    RetryAfter,
    /// A `403`/`429` without hints: a secondary limit.
    SecondaryLimit,
    /// Backoff after a `5xx` or a network error.
    Backoff,
}

/// One wait: why, and how long GitHub asked for (before [`ClientConfig::max_wait`] cut it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    pub reason: WaitReason,
    pub requested: Duration,
}

/// What the client has spent, for the backfill's summary and for tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// HTTP requests sent, retries included.
    pub requests: u64,
    /// Of those, answered `304 Not Modified` (free against the primary rate limit).
    pub not_modified: u64,
    /// Requests repeated after a failure or a rate-limit refusal.
    pub retries: u64,
    /// Every wait, in order.
    pub waits: Vec<Wait>,
}

/// A successful answer.
#[derive(Debug)]
pub enum Fetched {
    /// `304 Not Modified`: the `etag` sent still matches.
    NotModified,
    /// `2xx` with a body.
    Fresh(Page),
}

/// The body of a `2xx` answer and what its headers say about it.
#[derive(Debug)]
pub struct Page {
    pub body: Bytes,
    /// The `ETag` header, to send back as `If-None-Match`.
    pub etag: Option<String>,
    /// The `Link` header's `rel="next"`.
    pub next: Option<String>,
    /// Bytes dropped from the start of the body to keep its tail ([`Client::get_tail`]); always 0
    /// from [`Client::get`].
    pub skipped: u64,
}

/// GitHub's answer to a [`Client::post`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub status: u16,
    /// GitHub's `message` on a refusal; empty on success.
    pub message: String,
}

/// How much of a body [`Client::get_tail`] reads and keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TailLimits {
    /// Bytes kept: the last `keep` bytes of the body.
    pub keep: usize,
    /// Bytes read at most; a longer body is cut off there (its tail is then the tail of what was
    /// read), so that a runaway log cannot hold the client for long.
    pub max_read: u64,
}

/// Rate-limit state from the latest answer.
#[derive(Debug, Default)]
struct Limits {
    remaining: Option<u64>,
    /// Epoch seconds.
    reset: Option<i64>,
}

impl Limits {
    fn observe(&mut self, headers: &HeaderMap) {
        if let Some(remaining) = header_number::<u64>(headers, "x-ratelimit-remaining") {
            self.remaining = Some(remaining);
        }
        if let Some(reset) = header_number::<i64>(headers, "x-ratelimit-reset") {
            self.reset = Some(reset);
        }
    }
}

fn header_number<T: std::str::FromStr>(headers: &HeaderMap, name: &str) -> Option<T> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// The GitHub REST client. Requests go out one at a time even when the client is shared.
pub struct Client {
    http: reqwest::Client,
    config: ClientConfig,
    /// Held for the whole of a request, its retries and its waits: one request at a time.
    gate: tokio::sync::Mutex<Limits>,
    stats: Mutex<Stats>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("api_url", &self.config.api_url)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Builds a client.
    ///
    /// # Errors
    /// [`Error::Setup`] when the token is not a valid header value or TLS cannot be set up.
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/vnd.github+json"),
        );
        headers.insert(
            "x-github-api-version",
            HeaderValue::from_static(API_VERSION),
        );
        if let Some(token) = &config.token {
            let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose().trim()))
                .map_err(|_| Error::Setup("the token contains invalid characters".into()))?;
            value.set_sensitive(true);
            headers.insert(header::AUTHORIZATION, value);
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("buildboard/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|err| Error::Setup(err.to_string()))?;
        Ok(Self {
            http,
            config,
            gate: tokio::sync::Mutex::new(Limits::default()),
            stats: Mutex::new(Stats::default()),
        })
    }

    /// The `Authorization` value the [`TokenProvider`] gives for `url`, if any.
    async fn provided_auth(&self, url: &str, renew: bool) -> Result<Option<HeaderValue>, Error> {
        let Some(tokens) = &self.config.tokens else {
            return Ok(None);
        };
        match tokens.token(url, renew).await {
            None => Ok(None),
            Some(Err(message)) => Err(Error::TokenRefused { message }),
            Some(Ok(token)) => {
                let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose().trim()))
                    .map_err(|_| Error::Setup("the token contains invalid characters".into()))?;
                value.set_sensitive(true);
                Ok(Some(value))
            }
        }
    }

    /// `path` (which starts with `/`) under the API's base URL, with `query` encoded. A path
    /// built from stored or received names comes from [`repo_path`], which encodes them.
    pub fn url(&self, path: &str, query: &[(&str, &str)]) -> String {
        let base = format!("{}{path}", self.config.api_url);
        if query.is_empty() {
            return base;
        }
        let query: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(query)
            .finish();
        format!("{base}?{query}")
    }

    /// What the client has spent so far.
    pub fn stats(&self) -> Stats {
        self.stats.lock().expect("stats lock poisoned").clone()
    }

    fn count(&self, update: impl FnOnce(&mut Stats)) {
        update(&mut self.stats.lock().expect("stats lock poisoned"));
    }

    /// GETs `url` (absolute, as from [`Client::url`] or a `Link` header), sending `etag` as
    /// `If-None-Match`. Waits for rate limits and retries transient failures as the module doc says.
    ///
    /// # Errors
    /// See [`Error`]: `401`, `404`, a non-rate-limit `403` and other `4xx` fail at once; `5xx`,
    /// network errors and rate limits only after [`ClientConfig::max_retries`] retries.
    pub async fn get(&self, url: &str, etag: Option<&str>) -> Result<Fetched, Error> {
        self.fetch(url, etag, None).await
    }

    /// POSTs to `url` with an empty body, once: for the mutations operators ask for (re-run,
    /// cancel), which a person is waiting on, so they are neither retried nor held for a rate
    /// limit's reset. The request waits at most `queue` for the client's one-request-at-a-time
    /// gate (the reconciler may be waiting there for a reset); after that it fails with
    /// [`Error::Status`] 503 without being sent. Any answer GitHub gives is returned, refusals
    /// included, with GitHub's own `message`.
    ///
    /// # Errors
    /// [`Error::Network`] when GitHub cannot be reached; [`Error::Status`] 503 when the gate is
    /// held for longer than `queue`.
    pub async fn post(&self, url: &str, queue: Duration) -> Result<Posted, Error> {
        let Ok(mut limits) = tokio::time::timeout(queue, self.gate.lock()).await else {
            return Err(Error::Status {
                url: url.to_owned(),
                status: 503,
                message: "the GitHub client is waiting for GitHub's rate limit to reset; try \
                          again later"
                    .into(),
            });
        };
        let mut auth = self.provided_auth(url, false).await?;
        let mut renewed = false;
        let response = loop {
            self.count(|s| s.requests += 1);
            debug!(url, "GitHub POST");
            let mut request = self.http.post(url);
            if let Some(auth) = &auth {
                request = request.header(header::AUTHORIZATION, auth.clone());
            }
            let response = request
                .send()
                .await
                .map_err(|err| network_error(url, &err))?;
            if response.status() == StatusCode::UNAUTHORIZED && auth.is_some() && !renewed {
                renewed = true;
                auth = self.renewed_auth(url).await?;
                continue;
            }
            break response;
        };
        limits.observe(response.headers());
        let status = response.status().as_u16();
        Ok(Posted {
            status,
            message: if (200..300).contains(&status) {
                String::new()
            } else {
                error_body(response).await
            },
        })
    }

    /// GETs `url` like [`Client::get`] (same gate, rate limits and retries, no `etag`), following
    /// redirects, and keeps only the last [`TailLimits::keep`] bytes of the body, reading at most
    /// [`TailLimits::max_read`]. For job logs, which answer `302` to a short-lived URL on another
    /// host: reqwest follows it (up to 10 hops) and, since the host differs, does not send the
    /// `Authorization` header there (its redirect policy drops it on a cross-host hop; the
    /// integration tests check it). The rate-limit headers read are the final answer's.
    ///
    /// # Errors
    /// As [`Client::get`]; a `404`/`403`/`410` from the redirect target maps like one from the API.
    pub async fn get_tail(&self, url: &str, tail: TailLimits) -> Result<Page, Error> {
        match self.fetch(url, None, Some(tail)).await? {
            Fetched::Fresh(page) => Ok(page),
            Fetched::NotModified => Err(Error::Status {
                url: url.to_owned(),
                status: 304,
                message: "Not Modified without If-None-Match".into(),
            }),
        }
    }

    /// [`Client::get`], reading the whole body, or with `tail` only its end.
    async fn fetch(
        &self,
        url: &str,
        etag: Option<&str>,
        tail: Option<TailLimits>,
    ) -> Result<Fetched, Error> {
        let mut limits = self.gate.lock().await;
        let mut failures = 0u32;
        let mut auth = self.provided_auth(url, false).await?;
        let mut renewed = false;
        loop {
            self.wait_for_reserve(&mut limits).await;
            let request = self.get_request(url, auth.as_ref(), etag, failures > 0);
            let response = match request.send().await {
                Ok(response) => response,
                Err(err) => {
                    self.retry_or(url, &mut failures, 0, network_error(url, &err))
                        .await?;
                    continue;
                }
            };
            limits.observe(response.headers());
            let status = response.status();
            if status == StatusCode::NOT_MODIFIED {
                self.count(|s| s.not_modified += 1);
                return Ok(Fetched::NotModified);
            }
            if status.is_success() {
                let headers = response.headers().clone();
                match self.read_success(url, response, tail).await? {
                    Ok((body, skipped)) => {
                        return Ok(Fetched::Fresh(page(body, skipped, &headers)))
                    }
                    Err(err) => {
                        self.retry_or(url, &mut failures, 0, network_error(url, &err))
                            .await?;
                        continue;
                    }
                }
            }
            let headers = response.headers().clone();
            let message = error_body(response).await;
            match status {
                StatusCode::UNAUTHORIZED if auth.is_some() => {
                    if renewed {
                        return Err(Error::TokenRefused { message });
                    }
                    renewed = true;
                    auth = self.renewed_auth(url).await?;
                }
                StatusCode::UNAUTHORIZED => return Err(Error::Unauthorized { message }),
                StatusCode::NOT_FOUND => return Err(Error::NotFound { url: url.into() }),
                StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS => {
                    let refused = Refused {
                        url,
                        status,
                        headers: &headers,
                        message,
                    };
                    self.wait_for_limit(refused, &mut limits, &mut failures)
                        .await?;
                }
                status if status.is_server_error() => {
                    let err = self.gave_up(url, failures, status);
                    self.retry_or(url, &mut failures, status.as_u16(), err)
                        .await?;
                }
                status => {
                    return Err(Error::Status {
                        url: url.to_owned(),
                        status: status.as_u16(),
                        message,
                    })
                }
            }
        }
    }

    /// A GET of `url` with `auth` and `etag` as `If-None-Match`, counted in [`Stats`] (as a retry
    /// when `retry`).
    fn get_request(
        &self,
        url: &str,
        auth: Option<&HeaderValue>,
        etag: Option<&str>,
        retry: bool,
    ) -> reqwest::RequestBuilder {
        let mut request = self.http.get(url);
        if let Some(auth) = auth {
            request = request.header(header::AUTHORIZATION, auth.clone());
        }
        if let Some(etag) = etag {
            request = request.header(header::IF_NONE_MATCH, etag);
        }
        self.count(|s| {
            s.requests += 1;
            if retry {
                s.retries += 1;
            }
        });
        debug!(url, conditional = etag.is_some(), "GitHub request");
        request
    }

    /// A fresh installation token for `url`, after GitHub refused the one sent (`401`).
    async fn renewed_auth(&self, url: &str) -> Result<Option<HeaderValue>, Error> {
        warn!(
            url,
            "GitHub refused the installation token (401): renewing it once"
        );
        self.provided_auth(url, true).await
    }

    /// Before a request: when the rate limit is down to [`ClientConfig::reserve`], waits for its
    /// reset.
    async fn wait_for_reserve(&self, limits: &mut Limits) {
        if let (Some(remaining), Some(reset)) = (limits.remaining, limits.reset) {
            if remaining <= self.config.reserve {
                let wait = self.until(reset);
                info!(
                    remaining,
                    wait_s = wait.as_secs(),
                    "GitHub's rate limit is nearly spent: waiting for it to reset"
                );
                self.sleep(WaitReason::RateLimitReset, wait).await;
                limits.remaining = None;
            }
        }
    }

    /// After a `403` or `429`: waits as a rate limit asks (`Retry-After`, the primary limit's
    /// reset, or a doubling wait for a secondary limit) and returns `Ok` to retry.
    ///
    /// # Errors
    /// [`Error::Forbidden`] for a `403` that is no rate limit; [`Error::GaveUp`] when the retries
    /// are spent.
    async fn wait_for_limit(
        &self,
        refused: Refused<'_>,
        limits: &mut Limits,
        failures: &mut u32,
    ) -> Result<(), Error> {
        let Refused {
            url,
            status,
            headers,
            message,
        } = refused;
        let (reason, wait) = if let Some(secs) = header_number::<u64>(headers, "retry-after") {
            (WaitReason::RetryAfter, Duration::from_secs(secs))
        } else if let (Some(0), Some(reset)) = (limits.remaining, limits.reset) {
            (WaitReason::RateLimitReset, self.until(reset))
        } else if status == StatusCode::TOO_MANY_REQUESTS
            || message.to_ascii_lowercase().contains("rate limit")
        {
            let doubling = 2u32.saturating_pow((*failures).min(16));
            (
                WaitReason::SecondaryLimit,
                self.config.secondary_wait.saturating_mul(doubling),
            )
        } else {
            return Err(Error::Forbidden {
                url: url.to_owned(),
                message,
            });
        };
        if *failures >= self.config.max_retries {
            return Err(self.gave_up(url, *failures, status));
        }
        *failures += 1;
        warn!(
            status = status.as_u16(),
            wait_s = wait.as_secs(),
            ?reason,
            "GitHub rate limit: waiting before retrying"
        );
        self.sleep(reason, wait).await;
        limits.remaining = None;
        Ok(())
    }

    /// The body of a successful answer: whole, up to [`ClientConfig::max_body`] (longer is
    /// [`Error::TooLarge`]), or with `tail` only its end. A network error is returned inside, for
    /// the caller to retry.
    async fn read_success(
        &self,
        url: &str,
        response: reqwest::Response,
        tail: Option<TailLimits>,
    ) -> Result<Result<(Bytes, u64), reqwest::Error>, Error> {
        match tail {
            Some(tail) => Ok(read_tail(response, tail).await),
            None => match read_bounded(response, self.config.max_body).await {
                Ok(body) => Ok(Ok((body, 0))),
                Err(Read::Network(err)) => Ok(Err(err)),
                Err(Read::TooLarge) => Err(Error::TooLarge {
                    url: url.to_owned(),
                    limit: self.config.max_body,
                }),
            },
        }
    }

    /// After a transient failure: back off and return `Ok` to retry, or `Err(err)` when the
    /// retries are spent.
    async fn retry_or(
        &self,
        url: &str,
        failures: &mut u32,
        status: u16,
        err: Error,
    ) -> Result<(), Error> {
        if *failures >= self.config.max_retries {
            return Err(err);
        }
        let wait = self
            .config
            .backoff
            .saturating_mul(2u32.saturating_pow((*failures).min(16)));
        *failures += 1;
        warn!(url, status, cause = %err, wait_ms = wait.as_millis() as u64, "GitHub request failed; retrying");
        self.sleep(WaitReason::Backoff, wait).await;
        Ok(())
    }

    fn gave_up(&self, url: &str, attempts: u32, status: StatusCode) -> Error {
        Error::GaveUp {
            url: url.to_owned(),
            attempts: attempts + 1,
            status: status.as_u16(),
        }
    }

    /// How long until the epoch second `reset`, plus the margin.
    fn until(&self, reset: i64) -> Duration {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let ms = (reset.saturating_mul(1000) - now_ms).max(0) as u64;
        Duration::from_millis(ms) + self.config.reset_margin
    }

    async fn sleep(&self, reason: WaitReason, requested: Duration) {
        self.count(|s| s.waits.push(Wait { reason, requested }));
        tokio::time::sleep(requested.min(self.config.max_wait)).await;
    }

    /// Parses a JSON body from `url` into `T`, naming the field when it does not fit.
    ///
    /// # Errors
    /// [`Error::Decode`].
    pub fn decode<T: serde::de::DeserializeOwned>(url: &str, body: &[u8]) -> Result<T, Error> {
        let de = &mut serde_json::Deserializer::from_slice(body);
        serde_path_to_error::deserialize(de).map_err(|err| Error::Decode {
            url: url.to_owned(),
            path: err.path().to_string(),
            message: err.inner().to_string(),
        })
    }
}

/// A refusing answer (`403` or `429`) as [`Client::wait_for_limit`] weighs it.
struct Refused<'a> {
    url: &'a str,
    status: StatusCode,
    headers: &'a HeaderMap,
    /// GitHub's `message`.
    message: String,
}

/// A successful answer's page: its body and the `ETag` and `Link` headers that come with it.
fn page(body: Bytes, skipped: u64, headers: &HeaderMap) -> Page {
    Page {
        body,
        skipped,
        etag: headers
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        next: headers
            .get(header::LINK)
            .and_then(|v| v.to_str().ok())
            .and_then(next_link),
    }
}

/// The last `tail.keep` bytes of `response`'s body (reading at most `tail.max_read`), and how
/// many bytes before them were dropped. Holds at most twice `keep` at a time.
async fn read_tail(
    mut response: reqwest::Response,
    tail: TailLimits,
) -> Result<(Bytes, u64), reqwest::Error> {
    let mut kept: Vec<u8> = Vec::new();
    let mut skipped = 0u64;
    let mut read = 0u64;
    while let Some(chunk) = response.chunk().await? {
        let room = usize::try_from(tail.max_read - read).unwrap_or(usize::MAX);
        let chunk = &chunk[..chunk.len().min(room)];
        read += chunk.len() as u64;
        kept.extend_from_slice(chunk);
        if kept.len() > tail.keep.saturating_mul(2) {
            let cut = kept.len() - tail.keep;
            kept.drain(..cut);
            skipped += cut as u64;
        }
        if read >= tail.max_read {
            warn!(
                max_read = tail.max_read,
                "a body was longer than the most the client reads; its end was not read"
            );
            break;
        }
    }
    if kept.len() > tail.keep {
        let cut = kept.len() - tail.keep;
        kept.drain(..cut);
        skipped += cut as u64;
    }
    Ok((Bytes::from(kept), skipped))
}

/// Why [`read_bounded`] stopped.
#[derive(Debug)]
enum Read {
    Network(reqwest::Error),
    TooLarge,
}

/// The whole body of `response`, unless it is longer than `max` bytes (by its `Content-Length`,
/// before anything is read, or as it arrives): the one way the client reads a body whole.
async fn read_bounded(mut response: reqwest::Response, max: u64) -> Result<Bytes, Read> {
    if response.content_length().is_some_and(|length| length > max) {
        return Err(Read::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(Read::Network)? {
        if (body.len() + chunk.len()) as u64 > max {
            warn!(
                max,
                "a GitHub answer was longer than the most the client reads"
            );
            return Err(Read::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}

/// GitHub's `message` from an error answer, reading at most [`MAX_ERROR_BYTES`] of it.
async fn error_body(response: reqwest::Response) -> String {
    match read_bounded(response, MAX_ERROR_BYTES).await {
        Ok(body) => error_message(String::from_utf8_lossy(&body).into_owned()),
        Err(Read::TooLarge) => format!("(an error answer over {MAX_ERROR_BYTES} bytes)"),
        Err(Read::Network(_)) => String::new(),
    }
}

fn network_error(url: &str, err: &reqwest::Error) -> Error {
    // The innermost cause says the most ("Connection refused", "dns error ...").
    let mut cause: &dyn std::error::Error = err;
    while let Some(source) = cause.source() {
        cause = source;
    }
    Error::Network {
        url: url.to_owned(),
        cause: cause.to_string(),
    }
}

/// GitHub's error bodies are `{"message": "...", "documentation_url": "..."}`.
fn error_message(body: String) -> String {
    #[derive(serde::Deserialize)]
    struct Body {
        message: String,
    }
    match serde_json::from_str::<Body>(&body) {
        Ok(parsed) => parsed.message,
        Err(_) => crate::github::event::truncate(body, 200),
    }
}

/// What a path segment escapes to stay one segment: all but RFC 3986's unreserved characters.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `text` as one path segment, whatever it holds: `release/1.2` is `release%2F1.2`, as GitHub's own
/// clients send a ref. `.` and `..` (which a URL parser would resolve, encoded or not) become a
/// segment GitHub answers 404 for, instead of climbing out of the path.
pub fn segment(text: &str) -> String {
    match text {
        "." => "%252E".to_owned(),
        ".." => "%252E%252E".to_owned(),
        text => percent_encoding::utf8_percent_encode(text, SEGMENT).to_string(),
    }
}

/// `/repos/{owner}/{name}` then `rest`, each one path segment (see [`segment`]): nothing stored
/// or received (a repository's `full_name`, a branch) can steer the request elsewhere in the API.
/// Names are checked at ingest (`github::event::valid_full_name`) too.
pub fn repo_path(full_name: &str, rest: &[&str]) -> String {
    let (owner, name) = full_name.split_once('/').unwrap_or((full_name, ""));
    let mut path = format!("/repos/{}/{}", segment(owner), segment(name));
    for part in rest {
        path.push('/');
        path.push_str(&segment(part));
    }
    path
}

/// The `rel="next"` target of a `Link` header (RFC 8288), e.g.
/// `<https://api.github.com/...&page=2>; rel="next", <...&page=5>; rel="last"`.
///
/// Hand-written on purpose: `parse_link_header` 0.4 fails three of the cases tested below (it
/// splits at every comma, strips the space out of `rel="last next"`, and takes
/// `<unterminated` as a link), and `http-link` 1.0, which passes them, is a two-release crate
/// that hands the target back re-serialised by `url`, not as GitHub sent it (the URL is the
/// `httpcache` key).
pub fn next_link(header: &str) -> Option<String> {
    let mut rest = header;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let close = after.find('>')?;
        let target = &after[..close];
        let tail = &after[close + 1..];
        let params_end = tail.find('<').unwrap_or(tail.len());
        let is_next = tail[..params_end].split(';').any(|param| {
            let Some((key, value)) = param.split_once('=') else {
                return false;
            };
            key.trim().eq_ignore_ascii_case("rel")
                && value
                    .trim()
                    .trim_end_matches(',')
                    .trim()
                    .trim_matches('"')
                    .split_ascii_whitespace()
                    .any(|rel| rel.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return Some(target.to_owned());
        }
        rest = &tail[params_end..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_link_finds_the_next_page_among_others() {
        let header = r#"<https://api.github.com/repositories/1/actions/runs?per_page=100&page=2>; rel="next", <https://api.github.com/repositories/1/actions/runs?per_page=100&page=7>; rel="last""#;
        assert_eq!(
            next_link(header).as_deref(),
            Some("https://api.github.com/repositories/1/actions/runs?per_page=100&page=2")
        );
        let reversed = r#"<https://x/?page=1>; rel="prev", <https://x/?page=3>; rel="next""#;
        assert_eq!(next_link(reversed).as_deref(), Some("https://x/?page=3"));
    }

    #[test]
    fn next_link_is_none_on_the_last_page_and_for_garbage() {
        assert_eq!(
            next_link(r#"<https://x/?page=1>; rel="first", <https://x/?page=6>; rel="prev""#),
            None
        );
        assert_eq!(next_link(""), None);
        assert_eq!(next_link("rel=\"next\""), None);
        assert_eq!(next_link("<unterminated; rel=\"next\""), None);
    }

    #[test]
    fn next_link_accepts_commas_in_urls_unquoted_rels_and_rel_lists() {
        assert_eq!(
            next_link("<https://x/?a=1,2&page=2>; rel=next").as_deref(),
            Some("https://x/?a=1,2&page=2")
        );
        assert_eq!(
            next_link(r#"<https://x/?page=2>; title="t"; REL="last next""#).as_deref(),
            Some("https://x/?page=2")
        );
    }

    #[test]
    fn urls_encode_the_query() {
        let client = Client::new(ClientConfig::new("https://ghe.example/api/v3/", None)).unwrap();
        assert_eq!(
            client.url(
                "/repos/o/r/actions/runs",
                &[("per_page", "100"), ("created", ">=2020-01-01T00:00:00Z")]
            ),
            "https://ghe.example/api/v3/repos/o/r/actions/runs?per_page=100&created=%3E%3D2020-01-01T00%3A00%3A00Z"
        );
    }

    #[test]
    fn paths_from_names_encode_every_segment_and_never_climb() {
        assert_eq!(
            repo_path("o/r", &["actions", "runs", "556", "rerun"]),
            "/repos/o/r/actions/runs/556/rerun"
        );
        assert_eq!(
            repo_path(
                "o/r/../../../../user/repos?x=",
                &["actions", "runs", "556", "rerun"]
            ),
            "/repos/o/r%2F..%2F..%2F..%2F..%2Fuser%2Frepos%3Fx%3D/actions/runs/556/rerun"
        );
        assert_eq!(repo_path("../..", &["x"]), "/repos/%252E%252E/%252E%252E/x");
        assert_eq!(
            repo_path("o/r", &["commits", "release/1.2#x"]),
            "/repos/o/r/commits/release%2F1.2%23x"
        );
        let client = Client::new(ClientConfig::new("https://api.example", None)).unwrap();
        let url = reqwest::Url::parse(&client.url(&repo_path("o/..", &["x"]), &[])).unwrap();
        assert!(url.path().starts_with("/repos/o/"), "{url}");
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let config = ClientConfig::new(DEFAULT_API_URL, Some(Secret::new("ghp_supersecret")));
        assert!(!format!("{config:?}").contains("supersecret"));
        let client = Client::new(config).unwrap();
        assert!(!format!("{client:?}").contains("supersecret"));
    }
}
