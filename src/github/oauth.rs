//! Sign in with GitHub: the GitHub App's user authorisation (web flow with `state` and PKCE S256).
//!
//! [`authorize_url`] is where `/login` sends the browser; [`exchange`] trades the code the browser
//! brings back (with the PKCE verifier) for a user token at `{github_url}/login/oauth/access_token`;
//! [`refresh`] renews it (user tokens last 8 hours, refresh tokens 6 months). [`user_login`] and
//! [`user_repos`] ask the API who the person is and which repositories they may read through the
//! App (`GET /user/installations` and `GET /user/installations/{id}/repositories`), and, from the
//! same answers' `permissions`, which of them they may write to (re-run, cancel, dispatch). GitHub answers
//! a refused exchange or refresh with `200` and an `error` field; both map to [`Error::Refused`].

use std::collections::BTreeSet;

use base64::Engine;
use rand::RngCore;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::app::{decode, send, send_api, Error, Result};
use crate::secret::Secret;

/// A random URL-safe string of `bytes` random bytes (for `state`, PKCE verifiers, session ids).
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// The PKCE S256 challenge of `verifier`: base64url(SHA-256(verifier)), unpadded (RFC 7636).
pub fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// `{github_url}/login/oauth/authorize?...`.
pub fn authorize_url(
    github_url: &str,
    client_id: &str,
    redirect_uri: &str,
    state: &str,
    verifier: &str,
) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", state)
        .append_pair("code_challenge", &challenge(verifier))
        .append_pair("code_challenge_method", "S256")
        .finish();
    format!(
        "{}/login/oauth/authorize?{query}",
        github_url.trim_end_matches('/')
    )
}

/// A user token and its refresh token.
#[derive(Debug, Clone)]
pub struct UserToken {
    pub access_token: Secret,
    pub refresh_token: Option<Secret>,
    /// Epoch seconds; `None` when GitHub set no expiry.
    pub expires_at: Option<i64>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    refresh_token: Option<String>,
    expires_in: Option<i64>,
    error: Option<String>,
}

/// The client id and secret the token endpoint asks for.
pub struct ClientCreds<'a> {
    pub client_id: &'a str,
    pub client_secret: &'a Secret,
}

async fn token_request(
    http: &reqwest::Client,
    github_url: &str,
    creds: &ClientCreds<'_>,
    form: &[(&str, &str)],
    what: &'static str,
) -> Result<UserToken> {
    let url = format!(
        "{}/login/oauth/access_token",
        github_url.trim_end_matches('/')
    );
    let mut pairs = vec![
        ("client_id", creds.client_id),
        ("client_secret", creds.client_secret.expose()),
    ];
    pairs.extend_from_slice(form);
    let request = http
        .post(url)
        .header("accept", "application/json")
        .form(&pairs);
    let response = send(what, request).await?;
    let status = response.status().as_u16();
    let answer: TokenAnswer = decode(what, status, response).await?;
    let now = chrono::Utc::now().timestamp();
    match (answer.access_token, answer.error) {
        (Some(token), None) => Ok(UserToken {
            access_token: Secret::new(token),
            refresh_token: answer.refresh_token.map(Secret::new),
            expires_at: answer.expires_in.map(|secs| now + secs),
        }),
        (_, error) => Err(Error::Refused {
            what,
            status,
            message: error
                .unwrap_or_else(|| "no access_token".into())
                .chars()
                .take(80)
                .collect(),
        }),
    }
}

/// Trades the authorisation `code` (with the PKCE `verifier`) for a user token.
///
/// # Errors
/// [`Error::Refused`] when GitHub refuses the code or the verifier.
pub async fn exchange(
    http: &reqwest::Client,
    github_url: &str,
    creds: &ClientCreds<'_>,
    code: &str,
    verifier: &str,
    redirect_uri: &str,
) -> Result<UserToken> {
    let form = [
        ("code", code),
        ("code_verifier", verifier),
        ("redirect_uri", redirect_uri),
    ];
    token_request(http, github_url, creds, &form, "a user token").await
}

/// Renews a user token with its refresh token.
///
/// # Errors
/// [`Error::Refused`] when GitHub refuses (the authorisation was revoked).
pub async fn refresh(
    http: &reqwest::Client,
    github_url: &str,
    creds: &ClientCreds<'_>,
    refresh_token: &Secret,
) -> Result<UserToken> {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.expose()),
    ];
    token_request(http, github_url, creds, &form, "a refreshed user token").await
}

async fn get_user(
    http: &reqwest::Client,
    url: String,
    token: &Secret,
    what: &'static str,
) -> Result<Value> {
    let response = send_api(what, http.get(url).bearer_auth(token.expose())).await?;
    let status = response.status().as_u16();
    decode(what, status, response).await
}

/// `GET /user`'s `login`.
///
/// # Errors
/// [`Error::Refused`] (401 for a revoked token), [`Error::Decode`].
pub async fn user_login(http: &reqwest::Client, api_url: &str, token: &Secret) -> Result<String> {
    let user = get_user(http, format!("{api_url}/user"), token, "the signed-in user").await?;
    user["login"]
        .as_str()
        .map(str::to_owned)
        .ok_or(Error::Decode {
            what: "the signed-in user",
            message: "no login".into(),
        })
}

/// Whether the person is an active admin of organisation `org`
/// (`GET /user/memberships/orgs/{org}`: `role` "admin", `state` "active"); `false` for a
/// member, or when GitHub says they are not one (404, 403).
///
/// # Errors
/// [`Error::Refused`] (401 for a revoked token), [`Error::Network`], [`Error::Decode`].
pub async fn is_org_admin(
    http: &reqwest::Client,
    api_url: &str,
    token: &Secret,
    org: &str,
) -> Result<bool> {
    let org: String = form_urlencoded::byte_serialize(org.as_bytes()).collect();
    let url = format!("{api_url}/user/memberships/orgs/{org}");
    match get_user(http, url, token, "the signed-in user's organisation role").await {
        Ok(membership) => Ok(membership["role"] == "admin" && membership["state"] == "active"),
        Err(Error::Refused {
            status: 403 | 404, ..
        }) => Ok(false),
        Err(err) => Err(err),
    }
}

/// Most pages read of one installation's repositories (100 each).
const MAX_PAGES: u32 = 50;

/// The repositories (`owner/name`) a person may read through the App, and those of them they
/// may write to.
#[derive(Debug, Clone, Default)]
pub struct UserRepos {
    pub readable: BTreeSet<String>,
    /// GitHub's `permissions` say `push` (or `maintain`, `admin`): they may re-run, cancel and
    /// start workflows there.
    pub writable: BTreeSet<String>,
}

/// Whether a repository's `permissions` (as GitHub lists them for a user) allow writing.
fn may_write(permissions: &Value) -> bool {
    ["push", "maintain", "admin"]
        .iter()
        .any(|p| permissions[p].as_bool() == Some(true))
}

/// The repositories the person may read through the App (every installation they can see, every
/// repository of each), and which of them they may write to.
///
/// # Errors
/// [`Error::Refused`] (401 for a revoked token), [`Error::Decode`].
pub async fn user_repos(
    http: &reqwest::Client,
    api_url: &str,
    token: &Secret,
) -> Result<UserRepos> {
    const WHAT: &str = "the signed-in user's repositories";
    let installations = get_user(
        http,
        format!("{api_url}/user/installations?per_page=100"),
        token,
        WHAT,
    )
    .await?;
    let mut repos = UserRepos::default();
    let ids = installations["installations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["id"].as_i64());
    for id in ids {
        for page in 1..=MAX_PAGES {
            let url =
                format!("{api_url}/user/installations/{id}/repositories?per_page=100&page={page}");
            let answer = get_user(http, url, token, WHAT).await?;
            let list = answer["repositories"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for repo in &list {
                let Some(name) = repo["full_name"].as_str() else {
                    continue;
                };
                if may_write(&repo["permissions"]) {
                    repos.writable.insert(name.to_owned());
                }
                repos.readable.insert(name.to_owned());
            }
            let total = answer["total_count"].as_u64().unwrap_or(0);
            if list.len() < 100 || u64::from(page) * 100 >= total {
                break;
            }
        }
    }
    Ok(repos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_challenge_is_rfc_7636_s256() {
        // RFC 7636, appendix B.
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn the_authorize_url_carries_state_and_the_challenge() {
        let url = authorize_url(
            "https://github.com/",
            "Iv1.abc",
            "http://b/auth/callback",
            "st",
            "v",
        );
        assert!(url.starts_with("https://github.com/login/oauth/authorize?client_id=Iv1.abc"));
        assert!(url.contains("state=st"));
        assert!(url.contains("code_challenge_method=S256"));
        assert!(url.contains(&format!("code_challenge={}", challenge("v"))));
        assert!(url.contains("redirect_uri=http%3A%2F%2Fb%2Fauth%2Fcallback"));
    }
}
