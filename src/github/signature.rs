//! `X-Hub-Signature-256` verification: HMAC-SHA256 of the raw request body, keyed with the webhook
//! secret, hex-encoded, behind a `sha256=` prefix. The comparison is constant-time (`Mac::verify_slice`).

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why a signature was refused. Every variant maps to `401 Unauthorized`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    /// No `X-Hub-Signature-256` header.
    #[error("missing X-Hub-Signature-256 header")]
    Missing,
    /// The header is not `sha256=` followed by 64 hex digits.
    #[error("malformed X-Hub-Signature-256 header: expected sha256=<64 hex digits>")]
    Malformed,
    /// Well-formed, but not the HMAC of this body under our secret.
    #[error("X-Hub-Signature-256 does not match the body")]
    Mismatch,
}

/// Checks `header` (the value of `X-Hub-Signature-256`, if any) against `body`.
///
/// # Errors
/// [`SignatureError`] says whether the header was missing, malformed or wrong.
pub fn verify(secret: &[u8], body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let hex_digest = header
        .trim()
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Malformed)?;
    if hex_digest.len() != 64 {
        return Err(SignatureError::Malformed);
    }
    let expected = hex::decode(hex_digest).map_err(|_| SignatureError::Malformed)?;
    let mut mac =
        HmacSha256::new_from_slice(secret).expect("HMAC-SHA256 accepts a key of any length");
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// The `X-Hub-Signature-256` header value GitHub would send for `body` (used by tests, the load
/// tool and the demo; the notification sender signs `json` targets' bodies the same way).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac =
        HmacSha256::new_from_slice(secret).expect("HMAC-SHA256 accepts a key of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The test vector from GitHub's "Validating webhook deliveries" page.
    const SECRET: &[u8] = b"It's a Secret to Everybody";
    const PAYLOAD: &[u8] = b"Hello, World!";
    const EXPECTED: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn the_documented_test_vector_verifies() {
        assert_eq!(sign(SECRET, PAYLOAD), EXPECTED);
        assert_eq!(verify(SECRET, PAYLOAD, Some(EXPECTED)), Ok(()));
    }

    #[test]
    fn a_body_changed_by_one_byte_does_not_verify() {
        assert_eq!(
            verify(SECRET, b"Hello, World?", Some(EXPECTED)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn uppercase_hex_is_accepted_but_other_shapes_are_not() {
        assert_eq!(
            verify(
                SECRET,
                PAYLOAD,
                Some(&EXPECTED.to_uppercase().replace("SHA256", "sha256"))
            ),
            Ok(())
        );
        assert_eq!(verify(SECRET, PAYLOAD, None), Err(SignatureError::Missing));
        assert_eq!(
            verify(SECRET, PAYLOAD, Some("sha1=abc")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(SECRET, PAYLOAD, Some("sha256=zz")),
            Err(SignatureError::Malformed)
        );
        let wrong_secret = sign(b"another secret", PAYLOAD);
        assert_eq!(
            verify(SECRET, PAYLOAD, Some(&wrong_secret)),
            Err(SignatureError::Mismatch)
        );
    }
}
