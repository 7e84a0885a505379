//! Rules of the developer area (DESIGN.md sections 5 and 6): app icons, generated
//! IDP names, the life of app keys. Pure: time and randomness come in as values.

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use ssi_proto::ValidationError;
use ssi_proto::developer::{
    AppKeyStatus, ICON_MAX_BYTES, ICON_TYPE_PNG, ICON_TYPE_SVG, MAX_CURRENT_KEYS_PER_APP,
};
use thiserror::Error;

/// Standard base64, padded or not (what browsers' `btoa` and most tools write).
const ICON_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// A checked app icon.
#[derive(Clone, PartialEq, Eq)]
pub struct Icon {
    /// `image/png` or `image/svg+xml`.
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Icon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Icon")
            .field("content_type", &self.content_type)
            .field("len", &self.bytes.len())
            .finish()
    }
}

fn invalid(field: &str, limit: impl Into<String>, message: impl Into<String>) -> ValidationError {
    ValidationError {
        field: field.to_owned(),
        limit: limit.into(),
        message: message.into(),
    }
}

/// Decodes `iconBase64` and checks it as [`check_icon`] does.
pub fn decode_icon(icon_base64: &str, icon_type: &str) -> Result<Icon, ValidationError> {
    let bytes = ICON_BASE64.decode(icon_base64.trim()).map_err(|_| {
        invalid(
            "iconBase64",
            format!("must be standard base64 of at most {ICON_MAX_BYTES} bytes"),
            "got text that is not base64",
        )
    })?;
    check_icon("iconBase64", bytes, icon_type)
}

/// At most [`ICON_MAX_BYTES`], and the content is what the type says: a PNG
/// starts with the PNG signature; an SVG is UTF-8 text with an `<svg` element.
/// (An SVG may still carry script: it is only ever served with a policy that
/// forbids running it.)
pub fn check_icon(field: &str, bytes: Vec<u8>, icon_type: &str) -> Result<Icon, ValidationError> {
    if bytes.len() > ICON_MAX_BYTES {
        return Err(invalid(
            field,
            format!("must be at most {ICON_MAX_BYTES} bytes"),
            format!("got {} bytes", bytes.len()),
        ));
    }
    let content_type = match icon_type {
        ICON_TYPE_PNG => {
            if !bytes.starts_with(PNG_SIGNATURE) {
                return Err(invalid(
                    field,
                    "must be a PNG image (image/png)",
                    "got no PNG signature",
                ));
            }
            ICON_TYPE_PNG
        }
        ICON_TYPE_SVG => {
            let is_svg = std::str::from_utf8(&bytes).is_ok_and(|text| text.contains("<svg"));
            if !is_svg {
                return Err(invalid(
                    field,
                    "must be an SVG image (image/svg+xml, UTF-8 with an <svg> element)",
                    "got no <svg> element",
                ));
            }
            ICON_TYPE_SVG
        }
        other => {
            return Err(invalid(
                "iconType",
                format!("must be {ICON_TYPE_PNG} or {ICON_TYPE_SVG}"),
                format!("got {:?}", other.chars().take(64).collect::<String>()),
            ));
        }
    };
    Ok(Icon {
        content_type,
        bytes,
    })
}

/// A generated identity provider name: `ssi.` and 16 hex digits (64 random
/// bits), within `[A-Za-z0-9._-]`.
pub fn generated_idp_name(random: [u8; 8]) -> String {
    let mut name = String::from("ssi.");
    for byte in random {
        name.push_str(&format!("{byte:02x}"));
    }
    name
}

/// Where a key is at `now_ms`: current until retired; retired keys still
/// unseal until `expires_at` (exclusive).
pub fn key_status(retired_at: Option<i64>, expires_at: Option<i64>, now_ms: i64) -> AppKeyStatus {
    match (retired_at, expires_at) {
        (None, _) => AppKeyStatus::Current,
        (Some(_), Some(expires_at)) if expires_at > now_ms => AppKeyStatus::Retired,
        (Some(_), _) => AppKeyStatus::Expired,
    }
}

/// Whether link signing keys sealed to this key are still accepted.
pub fn is_unsealing(retired_at: Option<i64>, expires_at: Option<i64>, now_ms: i64) -> bool {
    key_status(retired_at, expires_at, now_ms) != AppKeyStatus::Expired
}

/// The state of one key of an app, as far as retirement cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyState {
    pub kid: String,
    pub retired_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyRuleError {
    #[error("app key not found")]
    KeyNotFound,
    #[error("the app key is already retired")]
    AlreadyRetired,
    #[error(
        "cannot retire the last current key of an app (devices could no longer accept new links); create a new key first"
    )]
    LastCurrentKey,
    #[error(
        "an app has at most {MAX_CURRENT_KEYS_PER_APP} current keys; retire one before creating another"
    )]
    TooManyCurrentKeys,
}

/// `(retired_at, expires_at)` for retiring `kid` at `now_ms`, or why not.
pub fn plan_retirement(
    keys: &[KeyState],
    kid: &str,
    now_ms: i64,
    grace_secs: i64,
) -> Result<(i64, i64), KeyRuleError> {
    let key = keys
        .iter()
        .find(|k| k.kid == kid)
        .ok_or(KeyRuleError::KeyNotFound)?;
    if key.retired_at.is_some() {
        return Err(KeyRuleError::AlreadyRetired);
    }
    let current = keys.iter().filter(|k| k.retired_at.is_none()).count();
    if current <= 1 {
        return Err(KeyRuleError::LastCurrentKey);
    }
    Ok((
        now_ms,
        now_ms.saturating_add(grace_secs.saturating_mul(1000)),
    ))
}

/// Whether one more current key may be added to an app with these keys.
pub fn check_new_key(keys: &[KeyState]) -> Result<(), KeyRuleError> {
    let current = keys.iter().filter(|k| k.retired_at.is_none()).count();
    if current >= MAX_CURRENT_KEYS_PER_APP {
        return Err(KeyRuleError::TooManyCurrentKeys);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kid: &str, retired_at: Option<i64>) -> KeyState {
        KeyState {
            kid: kid.to_owned(),
            retired_at,
        }
    }

    #[test]
    fn retirement_rules() {
        let keys = [key("a", None), key("b", None), key("c", Some(5))];
        assert_eq!(plan_retirement(&keys, "a", 1000, 60), Ok((1000, 61_000)));
        assert_eq!(
            plan_retirement(&keys, "c", 1000, 60),
            Err(KeyRuleError::AlreadyRetired)
        );
        assert_eq!(
            plan_retirement(&keys, "x", 1000, 60),
            Err(KeyRuleError::KeyNotFound)
        );
        assert_eq!(
            plan_retirement(&keys[1..], "b", 1000, 60),
            Err(KeyRuleError::LastCurrentKey)
        );
    }

    #[test]
    fn key_statuses() {
        assert_eq!(key_status(None, None, 10), AppKeyStatus::Current);
        assert_eq!(key_status(Some(1), Some(11), 10), AppKeyStatus::Retired);
        assert_eq!(key_status(Some(1), Some(10), 10), AppKeyStatus::Expired);
        assert!(!is_unsealing(Some(1), Some(10), 10));
    }

    #[test]
    fn icons() {
        let png = [PNG_SIGNATURE, b"rest"].concat();
        assert!(check_icon("icon", png.clone(), ICON_TYPE_PNG).is_ok());
        let e = check_icon("icon", png, ICON_TYPE_SVG).unwrap_err();
        assert_eq!(e.field, "icon");
        let e = check_icon("icon", vec![0; ICON_MAX_BYTES + 1], ICON_TYPE_PNG).unwrap_err();
        assert!(e.limit.contains("65536"), "{e}");
        let svg = ICON_BASE64.encode(b"<svg xmlns='http://www.w3.org/2000/svg'/>");
        assert!(decode_icon(&svg, ICON_TYPE_SVG).is_ok());
        assert!(decode_icon(svg.trim_end_matches('='), ICON_TYPE_SVG).is_ok());
        assert_eq!(
            decode_icon("not base64!", ICON_TYPE_SVG).unwrap_err().field,
            "iconBase64"
        );
        assert_eq!(generated_idp_name([0xab; 8]), "ssi.abababababababab");
    }
}
