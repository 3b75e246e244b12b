//! [`Secret`]: a string (a token, the webhook secret) that never shows in a log line.

/// A secret string whose `Debug` output is redacted, so it never lands in a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself. Call only where it is used, never to log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(\"[redacted]\")")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

/// `a` equals `b`, compared in time that depends neither on where they differ nor on their
/// lengths (their SHA-256 digests are compared, so a guess does not learn the token's length).
/// The one constant-time comparison of secrets in the codebase (the operator tokens and the CSRF
/// tokens of `web::act` use it too).
pub fn same(a: &str, b: &str) -> bool {
    use sha2::Digest;
    use subtle::ConstantTimeEq;
    bool::from(sha2::Sha256::digest(a.as_bytes()).ct_eq(&sha2::Sha256::digest(b.as_bytes())))
}
