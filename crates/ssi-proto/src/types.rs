//! The seed's request and response types, with the seed's camelCase field names.
//!
//! Unknown fields are ignored on input (newer SDKs may send more); optional fields are
//! left out on output when `None`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::enums::{FailureReason, LinkAccountSuccessCode, RequestStatus, SsiEvent, UserSelection};
use crate::millis;

/// `schema` of a link token.
pub const LINK_TOKEN_SCHEMA: &str = "LINK-TOKEN-1.0";
/// `schema` of an SSI token.
pub const SSI_TOKEN_SCHEMA: &str = "SSI-TOKEN-1.0";

/// A link token or an SSI token with its schema (seed `Token`).
///
/// `Debug` shows the token's length, never the token: it is a bearer credential.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Token {
    /// The encoded token (JWE or JWS compact serialization).
    pub token: String,
    /// [`LINK_TOKEN_SCHEMA`] or [`SSI_TOKEN_SCHEMA`].
    pub schema: String,
}

impl Token {
    /// A link token (`LINK-TOKEN-1.0`).
    pub fn link(token: impl Into<String>) -> Self {
        Self {
            token: token.into(),
            schema: LINK_TOKEN_SCHEMA.to_owned(),
        }
    }

    /// An SSI token (`SSI-TOKEN-1.0`).
    pub fn ssi(token: impl Into<String>) -> Self {
        Self {
            token: token.into(),
            schema: SSI_TOKEN_SCHEMA.to_owned(),
        }
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("token", &format_args!("<{} bytes>", self.token.len()))
            .field("schema", &self.schema)
            .finish()
    }
}

/// One active link with a fresh SSI token (seed `Link`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Link {
    /// Platform-assigned link id.
    pub link_id: String,
    /// The platform account's directed id (the seed's name, kept for compatibility).
    pub amazon_user_id: String,
    /// The partner's user id.
    pub partner_user_id: String,
    /// The identity provider (SSI ID) the link belongs to.
    pub identity_provider_name: String,
    /// A freshly minted SSI token for this link.
    pub ssi_token: Token,
    /// When the link was made, epoch milliseconds. On the wire a string of digits (the
    /// Vega type); a JSON integer is accepted on input.
    #[serde(with = "millis::as_string")]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = String, pattern = "^[0-9]{1,19}$", example = "1795564800000")
    )]
    pub linked_timestamp: i64,
}

/// `getUserAndLinks` argument, as a message (the seed passes the bare IDP name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GetUserAndLinksRequest {
    /// The app's identity provider name (SSI ID).
    pub identity_provider_name: String,
}

/// `linkUserAccount` argument (seed `LinkUserAccountRequest`).
///
/// `Debug` shows the sizes of `linkToken` and `linkSigningKey`, never their contents.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct LinkUserAccountRequest {
    /// The partner's user id; with the platform user and IDP, the de-duplication key.
    pub partner_user_id: String,
    /// The app's identity provider name (SSI ID).
    pub identity_provider_name: String,
    /// Login name shown on the consent screen.
    pub user_login_name: String,
    /// Link token from the partner backend (schema `LINK-TOKEN-1.0`).
    pub link_token: Token,
    /// Link signing key sealed to the app's public key (JWE compact).
    pub link_signing_key: String,
}

impl fmt::Debug for LinkUserAccountRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkUserAccountRequest")
            .field("partner_user_id", &self.partner_user_id)
            .field("identity_provider_name", &self.identity_provider_name)
            .field("user_login_name", &self.user_login_name)
            .field("link_token", &self.link_token)
            .field(
                "link_signing_key",
                &format_args!("<{} bytes>", self.link_signing_key.len()),
            )
            .finish()
    }
}

/// One entry of the login-selection screen (seed `LoginNameValue`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct LoginNameValue {
    /// Name shown for the link on the screen.
    pub login_name: String,
    /// The link this entry selects.
    pub link_id: String,
}

impl LoginNameValue {
    /// An entry showing `login_name` for `link_id`.
    pub fn new(login_name: impl Into<String>, link_id: impl Into<String>) -> Self {
        Self {
            login_name: login_name.into(),
            link_id: link_id.into(),
        }
    }
}

/// `showLoginSelection` argument: the seed's `LoginNameValue[]`, a bare JSON array.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct ShowLoginSelectionRequest(pub Vec<LoginNameValue>);

impl From<Vec<LoginNameValue>> for ShowLoginSelectionRequest {
    fn from(entries: Vec<LoginNameValue>) -> Self {
        Self(entries)
    }
}

impl ShowLoginSelectionRequest {
    /// The entries, in screen order.
    pub fn entries(&self) -> &[LoginNameValue] {
        &self.0
    }
}

/// `recordMetricEvent` argument (seed `SSIEventRequest`).
///
/// `timestamp` is written as a JSON integer; on input it may also be spelled
/// `epochTimestamp` (the Vega type list) and be a string of digits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SsiEventRequest {
    /// What happened.
    pub ssi_event: SsiEvent,
    /// When it happened, epoch milliseconds.
    #[serde(alias = "epochTimestamp", deserialize_with = "millis::deserialize")]
    pub timestamp: i64,
    /// Required with `LOGIN_FAILURE`, refused with any other event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<FailureReason>,
}

/// `getUserAndLinks` result (seed `GetUserAndLinksResponse`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GetUserAndLinksResponse {
    /// Outcome.
    pub request_status: RequestStatus,
    /// The platform account's directed id; set when `SUCCESSFUL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amazon_user_id: Option<String>,
    /// Active links for the IDP, each with a fresh SSI token; set (maybe empty) when
    /// `SUCCESSFUL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<Vec<Link>>,
    /// Extension: human-readable reason on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl GetUserAndLinksResponse {
    /// A response with only a status (and maybe a reason).
    pub fn status(request_status: RequestStatus, message: Option<String>) -> Self {
        Self {
            request_status,
            amazon_user_id: None,
            links: None,
            message,
        }
    }

    /// `SUCCESSFUL` with the user's directed id and links.
    pub fn successful(amazon_user_id: impl Into<String>, links: Vec<Link>) -> Self {
        Self {
            request_status: RequestStatus::Successful,
            amazon_user_id: Some(amazon_user_id.into()),
            links: Some(links),
            message: None,
        }
    }
}

/// `linkUserAccount` result (seed `LinkUserAccountResponse`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct LinkUserAccountResponse {
    /// Outcome.
    pub request_status: RequestStatus,
    /// Finer outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_code: Option<LinkAccountSuccessCode>,
    /// The new or existing link; absent when consent was denied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_id: Option<String>,
    /// Extension: human-readable reason on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl LinkUserAccountResponse {
    /// A response with only a status (and maybe a reason).
    pub fn status(request_status: RequestStatus, message: Option<String>) -> Self {
        Self {
            request_status,
            success_code: None,
            link_id: None,
            message,
        }
    }

    /// `SUCCESSFUL` with `LINK_ESTABLISHED` or `LINK_ALREADY_EXISTS` and the link id.
    pub fn linked(success_code: LinkAccountSuccessCode, link_id: impl Into<String>) -> Self {
        Self {
            request_status: RequestStatus::Successful,
            success_code: Some(success_code),
            link_id: Some(link_id.into()),
            message: None,
        }
    }

    /// `SUCCESSFUL` with `CONSENT_DENIED` (a valid user action, so not a failure).
    pub fn consent_denied() -> Self {
        Self {
            request_status: RequestStatus::Successful,
            success_code: Some(LinkAccountSuccessCode::ConsentDenied),
            link_id: None,
            message: None,
        }
    }
}

/// `showLoginSelection` result (seed `ShowLoginSelectionResponse`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ShowLoginSelectionResponse {
    /// Outcome.
    pub request_status: RequestStatus,
    /// What the user did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_selection: Option<UserSelection>,
    /// The chosen link when `LOGIN_SELECTED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_id: Option<String>,
    /// Extension: a fresh SSI token for the chosen link, since the one from
    /// `getUserAndLinks` may have expired while the screen was open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssi_token: Option<Token>,
    /// Extension: human-readable reason on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl ShowLoginSelectionResponse {
    /// A response with only a status (and maybe a reason).
    pub fn status(request_status: RequestStatus, message: Option<String>) -> Self {
        Self {
            request_status,
            user_selection: None,
            link_id: None,
            ssi_token: None,
            message,
        }
    }

    /// `SUCCESSFUL` + `LOGIN_SELECTED` with the chosen link and its fresh SSI token.
    pub fn selected(link_id: impl Into<String>, ssi_token: Option<Token>) -> Self {
        Self {
            request_status: RequestStatus::Successful,
            user_selection: Some(UserSelection::LoginSelected),
            link_id: Some(link_id.into()),
            ssi_token,
            message: None,
        }
    }

    /// `SUCCESSFUL` with a selection that carries no link (`MANUAL_SIGN_IN` or
    /// `NOT_APPLICABLE`).
    pub fn selection(user_selection: UserSelection) -> Self {
        Self {
            request_status: RequestStatus::Successful,
            user_selection: Some(user_selection),
            link_id: None,
            ssi_token: None,
            message: None,
        }
    }
}

/// `recordMetricEvent` result (seed `RecordMetricsEventResponse`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RecordMetricsEventResponse {
    /// Outcome.
    pub request_status: RequestStatus,
    /// Extension: human-readable reason on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl RecordMetricsEventResponse {
    /// A response with a status (and maybe a reason).
    pub fn status(request_status: RequestStatus, message: Option<String>) -> Self {
        Self {
            request_status,
            message,
        }
    }

    /// `SUCCESSFUL`.
    pub fn successful() -> Self {
        Self::status(RequestStatus::Successful, None)
    }
}
