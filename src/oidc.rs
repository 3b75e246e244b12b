//! GitHub Actions OIDC tokens, which authenticate a job's own samples on `POST /api/metrics`
//! with no shared secret: the token's RS256 signature is checked against the issuer's keys, its
//! audience must be the board's `--public-url`, and its claims name the repository, run, attempt
//! and job (`check_run_id`) the samples belong to.
//!
//! **Keys.** The issuer's `/.well-known/openid-configuration` names its `jwks_uri`; both are
//! fetched on first use and the keys kept. A token signed with a key not kept (GitHub rotated
//! its keys) fetches them again, at most once per [`MIN_REFETCH`], so a stream of tokens with
//! made-up key ids costs the issuer nothing more.
//!
//! **Issuer.** `--actions-oidc-issuer`, by default GitHub's
//! (`https://token.actions.githubusercontent.com`; GitHub Enterprise Server's is
//! `https://HOST/_services/token`). `http://` is accepted only for a loopback issuer (tests).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Deserializer};

/// GitHub's issuer of Actions OIDC tokens.
pub const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";
/// The least time between two fetches of the issuer's keys.
pub const MIN_REFETCH: Duration = Duration::from_secs(2);
/// Clock skew allowed on `exp` and `nbf`, in seconds.
pub const LEEWAY_S: u64 = 60;
/// How long a fetch of the discovery document or the keys may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a token was refused; each is a `401` with its [`Refusal::code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no bearer token: send the job's Actions OIDC token as `Authorization: Bearer ...`")]
    Missing,
    #[error("the token is not a JWT signed with RS256")]
    Malformed,
    #[error(
        "the token is for another audience: request it with audience = this board's public URL"
    )]
    WrongAudience,
    #[error("the token was issued by another issuer than --actions-oidc-issuer")]
    WrongIssuer,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (nbf in the future)")]
    NotYetValid,
    #[error("the token is signed with a key the issuer does not publish")]
    UnknownKey,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token lacks the claim {0} (repository_id, run_id, run_attempt, check_run_id)")]
    MissingClaim(&'static str),
    #[error("the issuer's keys could not be fetched: {0}")]
    IssuerUnavailable(String),
}

impl Refusal {
    /// The error code in the JSON answer and the counter's label.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Missing => "missing_token",
            Refusal::Malformed => "malformed_token",
            Refusal::WrongAudience => "wrong_audience",
            Refusal::WrongIssuer => "wrong_issuer",
            Refusal::Expired => "expired_token",
            Refusal::NotYetValid => "token_not_yet_valid",
            Refusal::UnknownKey => "unknown_key",
            Refusal::BadSignature => "bad_signature",
            Refusal::MissingClaim(_) => "missing_claim",
            Refusal::IssuerUnavailable(_) => "issuer_unavailable",
        }
    }
}

/// What a verified token says about the job that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobClaims {
    pub repository_id: i64,
    pub run_id: i64,
    pub run_attempt: i64,
    /// The job's id (its check run's id).
    pub job_id: i64,
}

/// GitHub sends the ids as strings; tests and other issuers may send numbers.
fn id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Number(i64),
        Text(String),
    }
    Ok(match Option::<Id>::deserialize(d)? {
        Some(Id::Number(n)) => Some(n),
        Some(Id::Text(text)) => text.parse().ok(),
        None => None,
    })
}

#[derive(Deserialize)]
struct RawClaims {
    #[serde(default, deserialize_with = "id")]
    repository_id: Option<i64>,
    #[serde(default, deserialize_with = "id")]
    run_id: Option<i64>,
    #[serde(default, deserialize_with = "id")]
    run_attempt: Option<i64>,
    #[serde(default, deserialize_with = "id")]
    check_run_id: Option<i64>,
}

/// `--actions-oidc-issuer`: an `https://` URL, or `http://` on a loopback host.
///
/// # Errors
/// A message for clap.
pub fn parse_issuer(text: &str) -> Result<String, String> {
    let text = text.trim_end_matches('/');
    if text.starts_with("https://") {
        return Ok(text.to_owned());
    }
    let host = text
        .strip_prefix("http://")
        .map(|rest| rest.split('/').next().unwrap_or(""))
        .map(|authority| authority.rsplit_once(':').map_or(authority, |(h, _)| h))
        .ok_or_else(|| format!("{text:?} is not an https:// issuer URL"))?;
    if matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "{text:?}: an http:// issuer is accepted only on a loopback host"
        ))
    }
}

#[derive(Default)]
struct Keys {
    by_kid: HashMap<String, DecodingKey>,
    fetched: Option<Instant>,
}

/// Verifies Actions OIDC tokens for one issuer and audience, keeping the issuer's keys.
pub struct Verifier {
    issuer: String,
    audience: Option<String>,
    http: reqwest::Client,
    keys: tokio::sync::Mutex<Keys>,
    /// Fetches of the keys so far (for tests and `/metrics`).
    fetches: Mutex<u64>,
}

impl Verifier {
    /// A verifier for tokens of `issuer` for `audience` (`--public-url`; without one every token
    /// is refused as for another audience).
    pub fn new(issuer: &str, audience: Option<&str>) -> Self {
        Self {
            issuer: issuer.trim_end_matches('/').to_owned(),
            audience: audience.map(|a| a.trim_end_matches('/').to_owned()),
            http: reqwest::Client::builder()
                .timeout(FETCH_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("a plain HTTP client builds"),
            keys: tokio::sync::Mutex::new(Keys::default()),
            fetches: Mutex::new(0),
        }
    }

    /// How many times the keys were fetched.
    pub fn fetches(&self) -> u64 {
        *self.fetches.lock().expect("the count is never poisoned")
    }

    /// The job `token` speaks for.
    ///
    /// # Errors
    /// The [`Refusal`] that says why the token is not accepted.
    pub async fn verify(&self, token: &str) -> Result<JobClaims, Refusal> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| Refusal::Malformed)?;
        if header.alg != Algorithm::RS256 {
            return Err(Refusal::Malformed);
        }
        let kid = header.kid.ok_or(Refusal::UnknownKey)?;
        let key = self.key(&kid).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = LEEWAY_S;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[self.audience.as_deref().unwrap_or("")]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data = jsonwebtoken::decode::<RawClaims>(token, &key, &validation).map_err(|err| {
            use jsonwebtoken::errors::ErrorKind as K;
            match err.kind() {
                K::ExpiredSignature => Refusal::Expired,
                K::ImmatureSignature => Refusal::NotYetValid,
                K::InvalidAudience => Refusal::WrongAudience,
                K::InvalidIssuer => Refusal::WrongIssuer,
                K::InvalidSignature => Refusal::BadSignature,
                K::MissingRequiredClaim(_) => Refusal::MissingClaim("exp/iss/aud"),
                _ => Refusal::Malformed,
            }
        })?;
        let claims = data.claims;
        Ok(JobClaims {
            repository_id: claims
                .repository_id
                .ok_or(Refusal::MissingClaim("repository_id"))?,
            run_id: claims.run_id.ok_or(Refusal::MissingClaim("run_id"))?,
            run_attempt: claims
                .run_attempt
                .ok_or(Refusal::MissingClaim("run_attempt"))?,
            job_id: claims
                .check_run_id
                .ok_or(Refusal::MissingClaim("check_run_id"))?,
        })
    }

    /// The key `kid`, fetching the issuer's keys when it is not kept (at most once per
    /// [`MIN_REFETCH`]).
    async fn key(&self, kid: &str) -> Result<DecodingKey, Refusal> {
        let mut keys = self.keys.lock().await;
        if let Some(key) = keys.by_kid.get(kid) {
            return Ok(key.clone());
        }
        if keys.fetched.is_some_and(|at| at.elapsed() < MIN_REFETCH) {
            return Err(Refusal::UnknownKey);
        }
        keys.fetched = Some(Instant::now());
        *self.fetches.lock().expect("the count is never poisoned") += 1;
        keys.by_kid = self
            .fetch_keys()
            .await
            .map_err(|err| Refusal::IssuerUnavailable(err.to_string()))?;
        keys.by_kid.get(kid).cloned().ok_or(Refusal::UnknownKey)
    }

    async fn fetch_keys(&self) -> anyhow::Result<HashMap<String, DecodingKey>> {
        #[derive(Deserialize)]
        struct Discovery {
            jwks_uri: String,
        }
        let discovery: Discovery = self
            .http
            .get(format!("{}/.well-known/openid-configuration", self.issuer))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        // The keys must come from the issuer's own origin.
        anyhow::ensure!(
            discovery.jwks_uri.starts_with(&format!("{}/", self.issuer))
                || same_origin(&discovery.jwks_uri, &self.issuer),
            "jwks_uri {} is not on the issuer's host",
            discovery.jwks_uri
        );
        let set: JwkSet = self
            .http
            .get(&discovery.jwks_uri)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(set
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                DecodingKey::from_jwk(jwk).ok().map(|key| (kid, key))
            })
            .collect())
    }
}

/// Whether `url` is on the scheme and authority of `issuer`.
fn same_origin(url: &str, issuer: &str) -> bool {
    let origin = |u: &str| -> String {
        let (scheme, rest) = u.split_once("://").unwrap_or(("", u));
        format!("{scheme}://{}", rest.split('/').next().unwrap_or(""))
    };
    origin(url) == origin(issuer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_http_issuer_is_accepted_only_on_loopback() {
        assert_eq!(parse_issuer(DEFAULT_ISSUER).unwrap(), DEFAULT_ISSUER);
        assert!(parse_issuer("https://ghe.example.com/_services/token/").is_ok());
        assert!(parse_issuer("http://127.0.0.1:4000").is_ok());
        assert!(parse_issuer("http://localhost:4000/x").is_ok());
        assert!(parse_issuer("http://token.example.com").is_err());
        assert!(parse_issuer("ftp://127.0.0.1").is_err());
    }

    #[test]
    fn jwks_must_come_from_the_issuers_origin() {
        assert!(same_origin(
            "https://token.actions.githubusercontent.com/.well-known/jwks",
            DEFAULT_ISSUER
        ));
        assert!(!same_origin("https://evil.example/jwks", DEFAULT_ISSUER));
    }
}
