//! Requests made as a signed-in person, with their own user token: re-run, cancel and start
//! workflows (so GitHub checks their permission and records who acted), and read a workflow file.
//!
//! Kept apart from `github::client`, whose one-request-at-a-time gate, retries and rate-limit
//! waits are for the server's own token: a person's request is theirs to spend, is waited on by
//! them, and is sent once (a re-run or a dispatch must not be repeated behind their back).

use serde_json::Value;

use super::client::Posted;
use crate::secret::Secret;

/// Failures to reach GitHub (a refusal is not one: it comes back as [`Posted`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot reach GitHub: {0}")]
    Network(String),
}

/// What GitHub answered to a request made as the person.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// GitHub's `message` (and the first of its `errors`) on a refusal; empty on success.
    pub message: String,
    /// The body, as JSON (`Null` when empty or not JSON).
    pub body: Value,
}

impl Answer {
    /// The status and message, as the board's actions report them.
    pub fn posted(&self) -> Posted {
        Posted {
            status: self.status,
            message: self.message.clone(),
        }
    }
}

/// Sends `method` to `{api_url}{path}` with `token`, and `body` as JSON when given.
///
/// # Errors
/// [`Error::Network`] when GitHub cannot be reached.
pub async fn send(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: &Secret,
    body: Option<&Value>,
) -> Result<Answer, Error> {
    let mut request = http
        .request(method, url)
        .bearer_auth(token.expose())
        .header("accept", "application/vnd.github+json")
        .header("x-github-api-version", "2022-11-28");
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request
        .send()
        .await
        .map_err(|err| Error::Network(err.without_url().to_string()))?;
    let status = response.status().as_u16();
    let bytes = response
        .bytes()
        .await
        .map_err(|err| Error::Network(err.without_url().to_string()))?;
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let message = if (200..300).contains(&status) {
        String::new()
    } else {
        refusal_message(&body)
    };
    Ok(Answer {
        status,
        message,
        body,
    })
}

/// GitHub's `message`, with the first of its `errors` (a 422 names the bad input there), cut to
/// a line.
fn refusal_message(body: &Value) -> String {
    let mut message = body["message"].as_str().unwrap_or_default().to_owned();
    let first = body["errors"].get(0);
    let detail = first
        .and_then(Value::as_str)
        .or_else(|| first.and_then(|e| e["message"].as_str()));
    if let Some(detail) = detail {
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(detail);
    }
    message.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_refusal_says_githubs_message_and_its_first_error() {
        let body = json!({"message": "Invalid request", "errors": ["No input named 'x'"]});
        assert_eq!(
            refusal_message(&body),
            "Invalid request: No input named 'x'"
        );
        let body = json!({"message": "Not Found"});
        assert_eq!(refusal_message(&body), "Not Found");
        assert_eq!(refusal_message(&Value::Null), "");
    }
}
