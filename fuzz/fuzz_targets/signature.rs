//! Fuzzes `X-Hub-Signature-256` checking: arbitrary secret, body and header must never panic,
//! only the correct signature verifies, and a correct one always does.
#![no_main]

use buildboard::github::signature::{self, SignatureError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&[u8], &[u8], &str)| {
    let (secret, body, header) = input;
    let expected = signature::sign(secret, body);
    let result = signature::verify(secret, body, Some(header));
    if result.is_ok() {
        // Only the right digest verifies (hex case and surrounding whitespace aside).
        assert_eq!(
            header.trim().to_ascii_lowercase().replace("sha256=", ""),
            expected.trim_start_matches("sha256="),
            "a signature other than the right one verified"
        );
    }
    assert_eq!(signature::verify(secret, body, Some(&expected)), Ok(()));
    assert_eq!(
        signature::verify(secret, body, None),
        Err(SignatureError::Missing)
    );
});
