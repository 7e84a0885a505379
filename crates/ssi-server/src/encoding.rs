//! Small encoding and hashing helpers shared by the server's modules.

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn b64_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

/// SHA-256 in base64url: how bearer secrets (session tokens, device
/// credentials, partner API keys, device codes) are stored and looked up.
pub fn secret_hash(secret: &str) -> String {
    b64(digest::digest(&digest::SHA256, secret.as_bytes()).as_ref())
}

/// Constant-time comparison of two secrets of any length.
pub fn secrets_equal(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}
