//! Wire types of the server's developer JSON API (`/v1/session`,
//! `/v1/developer/...`, the public `/v1/apps/{packageId}/...` routes) and of the
//! partner API (`/v1/partner/...`).
//!
//! Not part of the seed: these are the project's own APIs for app developers and
//! their backends. Fields are camelCase; times are epoch milliseconds as JSON
//! integers. Requests refuse unknown fields (a typo or an immutable field such as
//! `packageId` in an update is an error naming it, never silently ignored), and each
//! request's `validate` returns the first violation in field order, naming the field
//! and the limit.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::enums::echo;
use crate::validate::{ValidationError, validate_identity_provider_name};

/// `packageId`: at least this many characters.
pub const PACKAGE_ID_MIN_CHARS: usize = 3;
/// `packageId`: at most this many characters.
pub const PACKAGE_ID_MAX_CHARS: usize = 128;
/// `displayName` of an app: at most this many characters (at least 1).
pub const DISPLAY_NAME_MAX_CHARS: usize = 64;
/// An app icon: at most this many bytes once decoded (64 KiB).
pub const ICON_MAX_BYTES: usize = 65536;
/// `iconBase64`: at most this many characters (the base64 of [`ICON_MAX_BYTES`]).
pub const ICON_BASE64_MAX_CHARS: usize = ICON_MAX_BYTES.div_ceil(3) * 4;
/// `iconType` of a PNG icon.
pub const ICON_TYPE_PNG: &str = "image/png";
/// `iconType` of an SVG icon (served so that it cannot run script).
pub const ICON_TYPE_SVG: &str = "image/svg+xml";
/// `label` of a partner API key: at most this many characters (at least 1).
pub const API_KEY_LABEL_MAX_CHARS: usize = 64;
/// Prefix of every partner API key (`ssi_pk_` + 256 random bits in base64url).
pub const API_KEY_PREFIX: &str = "ssi_pk_";
/// Apps one developer may register.
pub const MAX_APPS_PER_DEVELOPER: usize = 100;
/// Identity providers one developer may create.
pub const MAX_IDPS_PER_DEVELOPER: usize = 100;
/// Current (not retired) keys of one app.
pub const MAX_CURRENT_KEYS_PER_APP: usize = 10;
/// Active (not revoked) partner API keys of one developer.
pub const MAX_ACTIVE_API_KEYS_PER_DEVELOPER: usize = 20;

fn invalid(field: &str, limit: impl Into<String>, message: impl Into<String>) -> ValidationError {
    ValidationError {
        field: field.to_owned(),
        limit: limit.into(),
        message: message.into(),
    }
}

/// `field`: 1-`max` characters without control characters.
fn check_text(field: &str, value: &str, max: usize) -> Result<(), ValidationError> {
    let limit = || format!("must be 1-{max} characters without control characters");
    let len = value.chars().count();
    if len == 0 || len > max {
        return Err(invalid(field, limit(), format!("got {len} characters")));
    }
    if let Some((i, c)) = value.chars().enumerate().find(|(_, c)| c.is_control()) {
        return Err(invalid(
            field,
            limit(),
            format!("got control character U+{:04X} at character {i}", c as u32),
        ));
    }
    Ok(())
}

/// `packageId`: 3-128 characters of `[a-z0-9._]` in reverse-DNS form: at least one
/// dot, no empty segment (no leading, trailing or double dot).
pub fn validate_package_id(id: &str) -> Result<(), ValidationError> {
    let limit = || {
        format!(
            "must be {PACKAGE_ID_MIN_CHARS}-{PACKAGE_ID_MAX_CHARS} characters of [a-z0-9._] \
             in reverse-DNS form (at least one dot, no empty segment)"
        )
    };
    let len = id.chars().count();
    if !(PACKAGE_ID_MIN_CHARS..=PACKAGE_ID_MAX_CHARS).contains(&len) {
        return Err(invalid(
            "packageId",
            limit(),
            format!("got {len} characters"),
        ));
    }
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_');
    if let Some((i, c)) = id.chars().enumerate().find(|(_, c)| !allowed(*c)) {
        return Err(invalid(
            "packageId",
            limit(),
            format!("got {c:?} at character {i}"),
        ));
    }
    if !id.contains('.') {
        return Err(invalid("packageId", limit(), "got no dot"));
    }
    if id.split('.').any(str::is_empty) {
        return Err(invalid("packageId", limit(), "got an empty segment"));
    }
    Ok(())
}

/// `displayName`: 1-64 characters without control characters.
pub fn validate_display_name(name: &str) -> Result<(), ValidationError> {
    check_text("displayName", name, DISPLAY_NAME_MAX_CHARS)
}

/// `label` of a partner API key: 1-64 characters without control characters.
pub fn validate_api_key_label(label: &str) -> Result<(), ValidationError> {
    check_text("label", label, API_KEY_LABEL_MAX_CHARS)
}

/// `iconType`: `image/png` or `image/svg+xml`.
pub fn validate_icon_type(icon_type: &str) -> Result<(), ValidationError> {
    if icon_type == ICON_TYPE_PNG || icon_type == ICON_TYPE_SVG {
        return Ok(());
    }
    Err(invalid(
        "iconType",
        format!("must be {ICON_TYPE_PNG} or {ICON_TYPE_SVG}"),
        format!("got {:?}", echo(icon_type)),
    ))
}

/// `iconBase64` with `iconType`: both or neither; the type is one of the two
/// allowed; the text is at most [`ICON_BASE64_MAX_CHARS`] (checked before any
/// decoding; the decoded size and content are checked by the server).
fn validate_icon_pair(
    icon_base64: Option<&str>,
    icon_type: Option<&str>,
) -> Result<(), ValidationError> {
    match (icon_base64, icon_type) {
        (None, None) => Ok(()),
        (Some(_), None) => Err(invalid(
            "iconType",
            "required with iconBase64",
            "got no iconType",
        )),
        (None, Some(_)) => Err(invalid(
            "iconBase64",
            "required with iconType",
            "got no iconBase64",
        )),
        (Some(data), Some(icon_type)) => {
            if data.len() > ICON_BASE64_MAX_CHARS {
                return Err(invalid(
                    "iconBase64",
                    format!("must be the base64 of at most {ICON_MAX_BYTES} bytes"),
                    format!("got {} characters", data.len()),
                ));
            }
            validate_icon_type(icon_type)
        }
    }
}

/// `GET /v1/session`: who is signed in, and the CSRF token that the JSON API wants in
/// `X-CSRF-Token` on every unsafe method.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    /// The platform account's id.
    pub account_id: String,
    /// The account's e-mail address.
    pub email: String,
    /// Whether the account has enrolled as a developer.
    pub is_developer: bool,
    /// The session's CSRF token.
    pub csrf_token: String,
}

impl fmt::Debug for SessionInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionInfo")
            .field("account_id", &self.account_id)
            .field("is_developer", &self.is_developer)
            .finish_non_exhaustive()
    }
}

/// `POST /v1/developer/enroll`: the account is now a developer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct EnrollResponse {
    /// The platform account's id.
    pub account_id: String,
    /// Always `true`.
    pub is_developer: bool,
}

/// `POST /v1/developer/apps`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateAppRequest {
    /// Reverse-DNS package id, globally unique; cannot change later.
    pub package_id: String,
    /// The name shown on the consent screen.
    pub display_name: String,
    /// Optional icon, standard base64 (with or without padding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon_base64: Option<String>,
    /// `image/png` or `image/svg+xml`; required with `iconBase64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon_type: Option<String>,
}

impl CreateAppRequest {
    /// The first violation, in field order.
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate_package_id(&self.package_id)?;
        validate_display_name(&self.display_name)?;
        validate_icon_pair(self.icon_base64.as_deref(), self.icon_type.as_deref())
    }
}

/// `PATCH /v1/developer/apps/{appId}`: absent fields are left as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateAppRequest {
    /// A new display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// A new icon (with `iconType`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon_base64: Option<String>,
    /// The new icon's type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon_type: Option<String>,
    /// `true` removes the icon (not together with `iconBase64`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub remove_icon: bool,
}

impl UpdateAppRequest {
    /// The first violation, in field order.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if let Some(name) = &self.display_name {
            validate_display_name(name)?;
        }
        validate_icon_pair(self.icon_base64.as_deref(), self.icon_type.as_deref())?;
        if self.remove_icon && self.icon_base64.is_some() {
            return Err(invalid(
                "removeIcon",
                "must not be true together with iconBase64",
                "got both",
            ));
        }
        Ok(())
    }
}

/// An app as the developer sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AppView {
    /// The app's id in this API.
    pub app_id: String,
    /// Reverse-DNS package id.
    pub package_id: String,
    /// The name shown on the consent screen.
    pub display_name: String,
    /// Public URL of the icon, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon_url: Option<String>,
    /// The IDP the app is bound to (what the app passes as `IDP_NAME`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_provider_name: Option<String>,
    /// Blocked by the operator: devices answer `NOT_AVAILABLE`.
    pub blocked: bool,
    /// Public URL of the app's JWKS (its current public keys).
    pub jwks_url: String,
    /// Epoch milliseconds.
    pub created_at: i64,
}

/// `GET /v1/developer/apps`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AppList {
    /// The developer's apps, oldest first.
    pub apps: Vec<AppView>,
}

/// `POST /v1/developer/idps` ("enable Simple Sign-In").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateIdentityProviderRequest {
    /// A globally unique name; when absent the server generates one (`ssi.…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_provider_name: Option<String>,
}

impl CreateIdentityProviderRequest {
    /// The first violation, in field order.
    pub fn validate(&self) -> Result<(), ValidationError> {
        match &self.identity_provider_name {
            Some(name) => validate_identity_provider_name(name),
            None => Ok(()),
        }
    }
}

/// An identity provider of the developer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct IdentityProviderView {
    /// The globally unique name apps pass as `IDP_NAME`.
    pub identity_provider_name: String,
    /// Package ids of the apps bound to it.
    pub apps: Vec<String>,
    /// Epoch milliseconds.
    pub created_at: i64,
}

/// `GET /v1/developer/idps`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct IdentityProviderList {
    /// The developer's identity providers, oldest first.
    pub identity_providers: Vec<IdentityProviderView>,
}

/// `POST /v1/developer/apps/{appId}/idp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BindIdentityProviderRequest {
    /// One of the developer's identity providers.
    pub identity_provider_name: String,
}

impl BindIdentityProviderRequest {
    /// The first violation, in field order.
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate_identity_provider_name(&self.identity_provider_name)
    }
}

/// A public app key as a JWK (`use:"enc"`, `alg:"ECDH-ES+A256KW"`): what partner
/// backends seal link signing keys to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppPublicJwk {
    /// `EC`.
    pub kty: String,
    /// `P-256`.
    pub crv: String,
    /// The x coordinate, base64url.
    pub x: String,
    /// The y coordinate, base64url.
    pub y: String,
    /// RFC 7638 thumbprint.
    pub kid: String,
    /// `enc`.
    #[serde(rename = "use")]
    pub use_: String,
    /// `ECDH-ES+A256KW`.
    pub alg: String,
}

/// Where an app key is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum AppKeyStatus {
    /// Published in the JWKS; link signing keys sealed to it are accepted.
    Current,
    /// No longer published; keys sealed to it are still accepted until `expiresAt`.
    Retired,
    /// Retired and past `expiresAt`: keys sealed to it are refused.
    Expired,
}

/// One app key as the developer sees it (never the private half).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AppKeyView {
    /// The key's id (the public JWK's `kid`).
    pub kid: String,
    /// Current, retired or expired.
    pub status: AppKeyStatus,
    /// The public JWK.
    pub public_jwk: AppPublicJwk,
    /// Epoch milliseconds.
    pub created_at: i64,
    /// When it was retired (epoch milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<i64>,
    /// Until when a retired key still unseals (epoch milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

/// `GET /v1/developer/apps/{appId}/keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AppKeyList {
    /// Every key of the app, oldest first.
    pub keys: Vec<AppKeyView>,
}

/// `GET /v1/apps/{packageId}/jwks.json`: the app's current public keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Jwks {
    /// Current keys only, oldest first.
    pub keys: Vec<AppPublicJwk>,
}

/// `POST /v1/developer/api-keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// What the key is for, e.g. `production backend`.
    pub label: String,
}

impl CreateApiKeyRequest {
    /// The first violation, in field order.
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate_api_key_label(&self.label)
    }
}

/// A partner API key without the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyView {
    /// The key's id (not the key).
    pub id: String,
    /// The developer's label.
    pub label: String,
    /// Epoch milliseconds.
    pub created_at: i64,
    /// When it was revoked (epoch milliseconds); revoked keys are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<i64>,
}

/// The answer to `POST /v1/developer/api-keys`: the only time the key is shown.
/// `Debug` leaves the key out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CreatedApiKey {
    /// The key's id, label and dates.
    #[serde(flatten)]
    pub key: ApiKeyView,
    /// `ssi_pk_…`: the bearer secret for the partner API; the server keeps a hash only.
    pub api_key: String,
}

impl fmt::Debug for CreatedApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedApiKey")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// `GET /v1/developer/api-keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyList {
    /// Every key of the developer, revoked ones included, oldest first.
    pub api_keys: Vec<ApiKeyView>,
}

/// `DELETE /v1/partner/idps/{idpName}/users/{partnerUserId}/links`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DeleteLinksResponse {
    /// How many links were deleted (0 when there were none).
    pub deleted: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_ids() {
        for ok in [
            "a.b",
            "com.example.app",
            "com.example_1.tv",
            &"a.".repeat(64)[..127],
        ] {
            assert_eq!(validate_package_id(ok), Ok(()), "{ok}");
        }
        for (bad, message) in [
            ("ab", "got 2 characters"),
            (&"a.".repeat(65)[..129], "got 129 characters"),
            ("Com.example", "got 'C' at character 0"),
            ("com-example.app", "got '-' at character 3"),
            ("comexample", "got no dot"),
            (".com.example", "got an empty segment"),
            ("com..example", "got an empty segment"),
            ("com.example.", "got an empty segment"),
        ] {
            let e = validate_package_id(bad).unwrap_err();
            assert_eq!(e.field, "packageId");
            assert!(e.limit.contains("3-128"), "{e}");
            assert_eq!(e.message, message, "{bad}");
        }
    }

    #[test]
    fn icon_pairs() {
        let create = |icon: Option<&str>, icon_type: Option<&str>| CreateAppRequest {
            package_id: "com.example.app".to_owned(),
            display_name: "Example".to_owned(),
            icon_base64: icon.map(str::to_owned),
            icon_type: icon_type.map(str::to_owned),
        };
        assert_eq!(create(None, None).validate(), Ok(()));
        assert_eq!(create(Some("AAAA"), Some(ICON_TYPE_SVG)).validate(), Ok(()));
        let field = |r: CreateAppRequest| r.validate().unwrap_err().field;
        assert_eq!(field(create(Some("AAAA"), None)), "iconType");
        assert_eq!(field(create(None, Some(ICON_TYPE_PNG))), "iconBase64");
        assert_eq!(field(create(Some("AAAA"), Some("text/html"))), "iconType");
        let huge = "A".repeat(ICON_BASE64_MAX_CHARS + 1);
        assert_eq!(
            field(create(Some(&huge), Some(ICON_TYPE_PNG))),
            "iconBase64"
        );
    }

    #[test]
    fn created_api_key_debug_hides_the_key() {
        let created = CreatedApiKey {
            key: ApiKeyView {
                id: "pk_1".to_owned(),
                label: "prod".to_owned(),
                created_at: 1,
                revoked_at: None,
            },
            api_key: "ssi_pk_secret".to_owned(),
        };
        assert!(!format!("{created:?}").contains("secret"));
        let json = serde_json::to_value(&created).unwrap();
        assert_eq!(json["apiKey"], "ssi_pk_secret");
        assert_eq!(json["id"], "pk_1");
    }
}
