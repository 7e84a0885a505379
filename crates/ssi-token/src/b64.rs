//! Strict base64url without padding (RFC 7515 section 2): no `=`, no `+/`, no
//! whitespace, and no non-canonical trailing bits.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub(crate) fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn encode_into(bytes: &[u8], out: &mut String) {
    URL_SAFE_NO_PAD.encode_string(bytes, out);
}

/// Decodes base64url without padding; the default engine already rejects
/// padding, foreign alphabets and non-canonical trailing bits.
pub(crate) fn decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.as_bytes()).ok()
}

/// Decodes into a fixed-size array, refusing any other length.
pub(crate) fn decode_array<const N: usize>(text: &str) -> Option<[u8; N]> {
    // Checking the length first bounds the work on hostile input.
    if text.len() != (N * 4).div_ceil(3) {
        return None;
    }
    decode(text)?.try_into().ok()
}
