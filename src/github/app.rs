//! The GitHub App: its manifest, its credentials, its JWT and its installation tokens.
//!
//! - [`manifest`]: the JSON `/setup` posts to GitHub to have the App created.
//! - [`GitHubApp::convert`]: `POST /app-manifests/{code}/conversions` turns the code GitHub sends
//!   back into the App's credentials (id, slug, client id and secret, webhook secret, private key).
//! - [`GitHubApp::jwt`]: the App's own token, RS256 with `iat` 60 s in the past (clock drift),
//!   `exp` 9 minutes ahead (GitHub allows at most 10) and `iss` the client id.
//! - [`GitHubApp::installation_token`]: `POST /app/installations/{id}/access_tokens`, cached per
//!   installation and renewed [`RENEW_BEFORE`] before it expires. It is the [`TokenProvider`] of
//!   the REST client: a request about a repository an installation gives uses that
//!   installation's token (see `client.rs`).
//!
//! The credentials live in the database (`store::app`) and in memory here, behind a lock, since
//! `/setup` can configure them while the server runs. Secrets are [`Secret`]s: never in a log
//! line, an error or an answer. Requests of this module go through a small client of their own,
//! not the gated REST client, because the REST client asks for tokens while holding its gate.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::{json, Value};
use tracing::{info, warn};

use super::client::TokenProvider;
use crate::secret::Secret;
use crate::store::app::AppRow;

/// An installation token this close to its expiry is renewed before use.
pub const RENEW_BEFORE: Duration = Duration::from_secs(5 * 60);
/// GitHub's cap on App names.
pub const MAX_NAME_CHARS: usize = 34;
/// The events the App subscribes to (`installation` and `installation_repositories` come anyway).
pub const EVENTS: &[&str] = &[
    "workflow_run",
    "workflow_job",
    "check_run",
    "check_suite",
    "status",
    "push",
    "create",
    "delete",
    "repository",
];

/// Errors of the App's own requests; none of them carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No App is configured (run `/setup`).
    #[error("no GitHub App is configured: open /setup with the code the server logged at start")]
    NotConfigured,
    /// The manifest code is unknown to GitHub: expired (an hour) or used already.
    #[error("GitHub no longer knows this setup code (it expires after an hour and works once)")]
    CodeExpired,
    /// GitHub refused a request.
    #[error("GitHub refused {what} ({status}): {message}")]
    Refused {
        what: &'static str,
        status: u16,
        message: String,
    },
    /// GitHub could not be reached.
    #[error("cannot reach GitHub for {what}: {cause}")]
    Network { what: &'static str, cause: String },
    /// GitHub's answer was not what was expected.
    #[error("unexpected answer from GitHub for {what}: {message}")]
    Decode { what: &'static str, message: String },
    /// The App's private key cannot sign.
    #[error("the GitHub App's private key cannot sign a JWT ({0}); run `buildboard setup --reset` and set the App up again")]
    Key(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The manifest for an App named `name` serving `public_url` (no trailing slash). `acting`: ask
/// for Actions: write (re-runs and cancels), else read.
pub fn manifest(name: &str, public_url: &str, acting: bool) -> Value {
    json!({
        "name": name,
        "url": public_url,
        "hook_attributes": { "url": format!("{public_url}/webhook"), "active": true },
        "redirect_url": format!("{public_url}/setup/done"),
        "callback_urls": [format!("{public_url}/auth/callback")],
        "setup_url": format!("{public_url}/setup/installed"),
        "setup_on_update": true,
        "public": false,
        "default_permissions": {
            "actions": if acting { "write" } else { "read" },
            "checks": "read",
            "statuses": "read",
            "contents": "read",
            "metadata": "read",
        },
        "default_events": EVENTS,
    })
}

/// The claims of the App's JWT.
#[derive(Debug, serde::Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
}

/// An installation token and when it expires (epoch seconds).
#[derive(Clone)]
struct Cached {
    token: Secret,
    expires_at: i64,
}

/// The App as the server knows it: credentials (once set up), installation tokens, and which
/// installation gives which repository. Cheap to clone.
#[derive(Clone)]
pub struct GitHubApp(Arc<Inner>);

struct Inner {
    api_url: String,
    http: reqwest::Client,
    creds: RwLock<Option<Arc<AppRow>>>,
    tokens: Mutex<HashMap<i64, Cached>>,
    /// `owner/name` (lowercase) → installation id.
    repos: RwLock<HashMap<String, i64>>,
}

impl std::fmt::Debug for GitHubApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubApp")
            .field("api_url", &self.0.api_url)
            .field("configured", &self.credentials().is_some())
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Conversion {
    id: i64,
    slug: String,
    client_id: String,
    client_secret: String,
    webhook_secret: Option<String>,
    pem: String,
    html_url: Option<String>,
}

#[derive(Deserialize)]
struct AccessToken {
    token: String,
    expires_at: String,
}

impl GitHubApp {
    /// The App for the REST API at `api_url`, with `creds` when one is configured.
    pub fn new(api_url: &str, creds: Option<AppRow>) -> Self {
        let http = reqwest::Client::builder()
            .user_agent(concat!("buildboard/", env!("CARGO_PKG_VERSION")))
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .expect("a client without custom TLS settings builds");
        Self(Arc::new(Inner {
            api_url: api_url.trim_end_matches('/').to_owned(),
            http,
            creds: RwLock::new(creds.map(Arc::new)),
            tokens: Mutex::new(HashMap::new()),
            repos: RwLock::new(HashMap::new()),
        }))
    }

    /// The credentials, once the App is set up.
    pub fn credentials(&self) -> Option<Arc<AppRow>> {
        self.0.creds.read().expect("creds lock").clone()
    }

    /// Takes the credentials of a freshly made App.
    pub fn configure(&self, creds: AppRow) {
        *self.0.creds.write().expect("creds lock") = Some(Arc::new(creds));
        self.0.tokens.lock().expect("tokens lock").clear();
    }

    /// The App's webhook secret, to verify its deliveries with.
    pub fn webhook_secret(&self) -> Option<Secret> {
        self.credentials().map(|c| c.webhook_secret.clone())
    }

    /// Records that installation `id` gives `repo` (`None`: no longer given).
    pub fn set_repo(&self, repo: &str, id: Option<i64>) {
        let mut repos = self.0.repos.write().expect("repos lock");
        match id {
            Some(id) => repos.insert(repo.to_ascii_lowercase(), id),
            None => repos.remove(&repo.to_ascii_lowercase()),
        };
    }

    /// The installation that gives `repo`.
    pub fn installation_for(&self, repo: &str) -> Option<i64> {
        let repos = self.0.repos.read().expect("repos lock");
        repos.get(&repo.to_ascii_lowercase()).copied()
    }

    /// `POST /app-manifests/{code}/conversions`: the new App's credentials.
    ///
    /// # Errors
    /// [`Error::CodeExpired`] for a code GitHub no longer knows (404/422); others as named.
    pub async fn convert(&self, code: &str) -> Result<AppRow> {
        const WHAT: &str = "the App's credentials";
        let code: String = code
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
            .collect();
        let url = format!("{}/app-manifests/{code}/conversions", self.0.api_url);
        let response = self.send(WHAT, self.0.http.post(url)).await?;
        let status = response.status().as_u16();
        if matches!(status, 404 | 422) {
            return Err(Error::CodeExpired);
        }
        let conversion: Conversion = decode(WHAT, status, response).await?;
        Ok(AppRow {
            app_id: conversion.id,
            slug: conversion.slug,
            client_id: conversion.client_id,
            client_secret: Secret::new(conversion.client_secret),
            webhook_secret: Secret::new(conversion.webhook_secret.unwrap_or_default()),
            private_key: Secret::new(conversion.pem),
            html_url: conversion.html_url,
        })
    }

    /// The App's JWT at `now` (epoch seconds).
    ///
    /// # Errors
    /// [`Error::NotConfigured`]; [`Error::Key`] when the private key cannot sign.
    pub fn jwt(&self, now: i64) -> Result<String> {
        let creds = self.credentials().ok_or(Error::NotConfigured)?;
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(creds.private_key.expose().as_bytes())
            .map_err(|err| Error::Key(err.to_string()))?;
        let claims = Claims {
            iat: now - 60,
            exp: now + 9 * 60,
            iss: creds.client_id.clone(),
        };
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
            &claims,
            &key,
        )
        .map_err(|err| Error::Key(err.to_string()))
    }

    /// A GET with the App's JWT (`/app/installations/{id}`...): the JSON answer.
    ///
    /// # Errors
    /// As [`GitHubApp::jwt`]; [`Error::Refused`] for a non-2xx answer.
    pub async fn get_as_app(&self, what: &'static str, path: &str) -> Result<Value> {
        let jwt = self.jwt(chrono::Utc::now().timestamp())?;
        let url = format!("{}{path}", self.0.api_url);
        let response = self
            .send(what, self.0.http.get(url).bearer_auth(jwt))
            .await?;
        let status = response.status().as_u16();
        decode(what, status, response).await
    }

    /// Installation `id`'s token: the cached one while it has more than [`RENEW_BEFORE`] left
    /// (unless `renew`), else a new one.
    ///
    /// # Errors
    /// As [`GitHubApp::jwt`]; [`Error::Refused`] when GitHub refuses (an uninstalled App, a
    /// suspended installation).
    pub async fn installation_token(&self, id: i64, renew: bool) -> Result<Secret> {
        let now = chrono::Utc::now().timestamp();
        if !renew {
            let tokens = self.0.tokens.lock().expect("tokens lock");
            if let Some(cached) = tokens.get(&id) {
                if cached.expires_at - now > RENEW_BEFORE.as_secs() as i64 {
                    return Ok(cached.token.clone());
                }
            }
        }
        const WHAT: &str = "an installation token";
        let jwt = self.jwt(now)?;
        let url = format!("{}/app/installations/{id}/access_tokens", self.0.api_url);
        let response = self
            .send(WHAT, self.0.http.post(url).bearer_auth(jwt))
            .await?;
        let status = response.status().as_u16();
        let answer: AccessToken = decode(WHAT, status, response).await?;
        let expires_at =
            super::event::Timestamp::parse(&answer.expires_at).map_or(now + 3600, |t| t.0);
        info!(
            installation = id,
            expires_in_s = expires_at - now,
            renewed = renew,
            "obtained an installation token"
        );
        let token = Secret::new(answer.token);
        self.0.tokens.lock().expect("tokens lock").insert(
            id,
            Cached {
                token: token.clone(),
                expires_at,
            },
        );
        Ok(token)
    }

    /// The API's base URL.
    pub fn api_url(&self) -> &str {
        &self.0.api_url
    }

    /// The client this module sends with (also used for sign-in requests).
    pub fn http(&self) -> &reqwest::Client {
        &self.0.http
    }

    async fn send(
        &self,
        what: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response> {
        send_api(what, request).await
    }
}

/// Sends `request`; when GitHub cannot be reached, the error names `what` was asked for (and not
/// the URL, which may carry a code).
///
/// # Errors
/// [`Error::Network`].
pub(super) async fn send(
    what: &'static str,
    request: reqwest::RequestBuilder,
) -> Result<reqwest::Response> {
    request.send().await.map_err(|err| Error::Network {
        what,
        cause: err.without_url().to_string(),
    })
}

/// [`send`] to the REST API, with its media type and version.
///
/// # Errors
/// [`Error::Network`].
pub(super) async fn send_api(
    what: &'static str,
    request: reqwest::RequestBuilder,
) -> Result<reqwest::Response> {
    let request = request
        .header("accept", "application/vnd.github+json")
        .header("x-github-api-version", "2022-11-28");
    send(what, request).await
}

/// The JSON of a 2xx answer as `T`; a refusal with GitHub's `message`.
///
/// # Errors
/// [`Error::Refused`], [`Error::Decode`].
pub async fn decode<T: serde::de::DeserializeOwned>(
    what: &'static str,
    status: u16,
    response: reqwest::Response,
) -> Result<T> {
    let body = response.bytes().await.map_err(|err| Error::Network {
        what,
        cause: err.without_url().to_string(),
    })?;
    if !(200..300).contains(&status) {
        let message = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
            .unwrap_or_default();
        return Err(Error::Refused {
            what,
            status,
            message: message.chars().take(200).collect(),
        });
    }
    serde_json::from_slice(&body).map_err(|err| Error::Decode {
        what,
        message: err.to_string(),
    })
}

/// `owner/name` of a REST URL under `api_url` (`{api_url}/repos/{owner}/{name}/...`).
pub fn repo_of_url<'a>(api_url: &str, url: &'a str) -> Option<&'a str> {
    let rest = url.strip_prefix(api_url)?.strip_prefix("/repos/")?;
    let rest = rest.split(['?', '#']).next()?;
    let mut parts = rest.splitn(3, '/');
    let owner = parts.next()?;
    let name = parts.next()?;
    if owner.is_empty() || name.is_empty() {
        return None;
    }
    Some(&rest[..owner.len() + 1 + name.len()])
}

impl TokenProvider for GitHubApp {
    fn token<'a>(
        &'a self,
        url: &'a str,
        renew: bool,
    ) -> BoxFuture<'a, Option<std::result::Result<Secret, String>>> {
        Box::pin(async move {
            let repo = repo_of_url(&self.0.api_url, url)?;
            let installation = self.installation_for(repo)?;
            self.credentials()?;
            let token = self.installation_token(installation, renew).await;
            if let Err(err) = &token {
                warn!(installation, cause = %err, "no installation token");
            }
            Some(token.map_err(|err| err.to_string()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_asks_for_what_the_board_needs() {
        let manifest = manifest("buildboard", "https://board.example.com", false);
        assert_eq!(
            manifest["hook_attributes"]["url"],
            "https://board.example.com/webhook"
        );
        assert_eq!(manifest["public"], false);
        assert_eq!(manifest["default_permissions"]["actions"], "read");
        assert_eq!(manifest["default_events"].as_array().unwrap().len(), 9);
        let acting = super::manifest("b", "http://h", true);
        assert_eq!(acting["default_permissions"]["actions"], "write");
    }

    #[test]
    fn a_repository_is_read_from_rest_urls_only() {
        let api = "https://api.github.com";
        assert_eq!(
            repo_of_url(api, "https://api.github.com/repos/o/r/actions/runs?x=1"),
            Some("o/r")
        );
        assert_eq!(
            repo_of_url(api, "https://api.github.com/repos/o/r"),
            Some("o/r")
        );
        assert_eq!(repo_of_url(api, "https://api.github.com/user"), None);
        assert_eq!(repo_of_url(api, "https://evil.example/repos/o/r"), None);
    }
}
