//! The device API: what the on-device agent and the server say to each other over
//! HTTP (`/v1/device/...`), authenticated by the device credential.
//!
//! The agent names the calling app by its package id (it knows the app from the
//! socket it called on); everything else the server checks. Where the app API has a
//! type, the device API reuses it ([`GetUserAndLinksResponse`],
//! [`LinkUserAccountRequest`], [`LinkUserAccountResponse`], [`Token`],
//! [`SsiEventRequest`]), so the agent passes the server's answers straight through.
//!
//! Field names are camelCase like the seed's; unknown fields are ignored on input.
//!
//! [`GetUserAndLinksResponse`]: crate::GetUserAndLinksResponse
//! [`LinkUserAccountResponse`]: crate::LinkUserAccountResponse

use serde::{Deserialize, Serialize};

use crate::developer::validate_package_id;
use crate::enums::{FailureReason, RequestStatus, SsiEvent};
use crate::millis;
use crate::types::{LinkUserAccountRequest, SsiEventRequest, Token};
use crate::validate::{
    ValidationError, validate_identity_provider_name, validate_link_signing_key,
    validate_partner_user_id,
};

/// `eventId` (a metric event's idempotency key): at most this many characters of
/// `[A-Za-z0-9_-]` (at least 1).
pub const EVENT_ID_MAX_CHARS: usize = 64;
/// Events in one `POST /v1/device/metrics` batch: at most this many (at least 1).
pub const METRICS_BATCH_MAX_EVENTS: usize = 500;

/// `eventId`: 1-64 characters of `[A-Za-z0-9_-]`.
pub fn validate_event_id(field: &str, event_id: &str) -> Result<(), ValidationError> {
    check_ascii_id(field, event_id, EVENT_ID_MAX_CHARS, "[A-Za-z0-9_-]", |c| {
        c.is_ascii_alphanumeric() || matches!(c, '_' | '-')
    })
}

pub(crate) fn check_ascii_id(
    field: &str,
    value: &str,
    max: usize,
    alphabet: &str,
    is_allowed: fn(char) -> bool,
) -> Result<(), ValidationError> {
    let limit = || format!("must be 1-{max} characters of {alphabet}");
    let len = value.chars().count();
    if len == 0 || len > max {
        return Err(ValidationError {
            field: field.to_owned(),
            limit: limit(),
            message: format!("got {len} characters"),
        });
    }
    if let Some((i, c)) = value.chars().enumerate().find(|(_, c)| !is_allowed(*c)) {
        return Err(ValidationError {
            field: field.to_owned(),
            limit: limit(),
            message: format!("got {c:?} at character {i}"),
        });
    }
    Ok(())
}

/// Prefixes a validation error's field with the message it is nested in
/// (`request.partnerUserId`, `events[3].timestamp`).
fn nested(prefix: &str, mut error: ValidationError) -> ValidationError {
    error.field = format!("{prefix}.{}", error.field);
    error
}

/// `GET /v1/device/whoami` and `PUT /v1/device/settings` result: the calling device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DeviceInfo {
    /// The device's id on the server.
    pub device_id: String,
    /// The name given at registration.
    pub device_name: String,
    /// The device's own Simple Sign-In switch.
    pub ssi_enabled: bool,
}

/// An app and one of its identity providers: `POST /v1/device/user-and-links`
/// (answered with the seed's `GetUserAndLinksResponse`) and
/// `POST /v1/device/links/{linkId}/token`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AppIdpRequest {
    /// The calling app, as the agent knows it from the socket.
    pub package_id: String,
    /// The identity provider the app asks about.
    pub identity_provider_name: String,
}

impl AppIdpRequest {
    /// Checks `packageId` and `identityProviderName`.
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate_package_id(&self.package_id)?;
        validate_identity_provider_name(&self.identity_provider_name)
    }
}

/// `POST /v1/device/links/lookup`: is (this account, IDP, partner user) linked?
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct LinkLookupRequest {
    /// The calling app.
    pub package_id: String,
    /// The app's identity provider.
    pub identity_provider_name: String,
    /// The partner's user id.
    pub partner_user_id: String,
}

impl LinkLookupRequest {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate_package_id(&self.package_id)?;
        validate_identity_provider_name(&self.identity_provider_name)?;
        validate_partner_user_id(&self.partner_user_id)
    }
}

/// `POST /v1/device/links/lookup` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct LinkLookupResponse {
    /// `SUCCESSFUL` when the question could be answered (linked or not).
    pub request_status: RequestStatus,
    /// The existing link, when there is one (`LINK_ALREADY_EXISTS` on the device).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_id: Option<String>,
    /// Human-readable reason on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `POST /v1/device/links/precheck`: does the sealed link signing key open with the
/// app's keys? Nothing is stored.
///
/// `Debug` shows the sealed key's size only.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct LinkPrecheckRequest {
    /// The calling app.
    pub package_id: String,
    /// The app's identity provider.
    pub identity_provider_name: String,
    /// The sealed link signing key (JWE compact), as in `LinkUserAccountRequest`.
    pub link_signing_key: String,
}

impl std::fmt::Debug for LinkPrecheckRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkPrecheckRequest")
            .field("package_id", &self.package_id)
            .field("identity_provider_name", &self.identity_provider_name)
            .field(
                "link_signing_key",
                &format_args!("<{} bytes>", self.link_signing_key.len()),
            )
            .finish()
    }
}

impl LinkPrecheckRequest {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate_package_id(&self.package_id)?;
        validate_identity_provider_name(&self.identity_provider_name)?;
        validate_link_signing_key(&self.link_signing_key)
    }
}

/// A bare outcome: `POST /v1/device/links/precheck` and
/// `POST /v1/device/consent-denied`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct StatusResponse {
    /// Outcome.
    pub request_status: RequestStatus,
    /// Human-readable reason on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl StatusResponse {
    /// A status with an optional reason.
    pub fn new(request_status: RequestStatus, message: Option<String>) -> Self {
        Self {
            request_status,
            message,
        }
    }
}

/// `POST /v1/device/links`: store a link after the owner allowed it (answered with
/// the seed's `LinkUserAccountResponse`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CreateLinkRequest {
    /// The calling app.
    pub package_id: String,
    /// The app's `linkUserAccount` argument, as it came.
    pub request: LinkUserAccountRequest,
}

impl CreateLinkRequest {
    /// Checks `packageId`, then the app's request (fields named `request.…`).
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate_package_id(&self.package_id)?;
        self.request.validate().map_err(|e| nested("request", e))
    }
}

/// `POST /v1/device/consent-denied`: the owner chose "Not now".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ConsentDeniedRequest {
    /// The calling app.
    pub package_id: String,
    /// The app's identity provider.
    pub identity_provider_name: String,
    /// The partner's user id the link was offered for.
    pub partner_user_id: String,
    /// Chosen by the agent, the same on every retry: the event is counted once.
    pub event_id: String,
}

impl ConsentDeniedRequest {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate_package_id(&self.package_id)?;
        validate_identity_provider_name(&self.identity_provider_name)?;
        validate_partner_user_id(&self.partner_user_id)?;
        validate_event_id("eventId", &self.event_id)
    }
}

/// `POST /v1/device/links/{linkId}/token` result: a fresh SSI token for a link the
/// user selected (the `ssiToken` extension of `ShowLoginSelectionResponse`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct LinkTokenResponse {
    /// Outcome.
    pub request_status: RequestStatus,
    /// The fresh token, when `SUCCESSFUL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssi_token: Option<Token>,
    /// Human-readable reason on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One app-reported event in a metrics batch: the app's `SSIEventRequest` plus who
/// reported it and an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DeviceMetricEvent {
    /// The idempotency key, unique per device: a retried event is counted once.
    pub event_id: String,
    /// The app that recorded it.
    pub package_id: String,
    /// What happened.
    pub ssi_event: SsiEvent,
    /// When it happened, epoch milliseconds (a JSON integer or a string of digits).
    #[serde(alias = "epochTimestamp", deserialize_with = "millis::deserialize")]
    pub timestamp: i64,
    /// Required with `LOGIN_FAILURE`, refused with any other event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<FailureReason>,
}

impl DeviceMetricEvent {
    /// The app's part of the event.
    pub fn event(&self) -> SsiEventRequest {
        SsiEventRequest {
            ssi_event: self.ssi_event,
            timestamp: self.timestamp,
            failure_reason: self.failure_reason,
        }
    }

    /// Checks `eventId`, `packageId`, then the event against `now_ms` (epoch ms).
    /// Fields are named as in the event (`timestamp`, `failureReason`).
    pub fn validate(&self, now_ms: i64) -> Result<(), ValidationError> {
        validate_event_id("eventId", &self.event_id)?;
        validate_package_id(&self.package_id)?;
        self.event().validate(now_ms)
    }
}

/// `POST /v1/device/metrics`: a batch of events from the agent's outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MetricsBatch {
    /// 1-500 events.
    pub events: Vec<DeviceMetricEvent>,
}

impl MetricsBatch {
    /// Checks the batch size only; each event is checked on its own (a bad event is
    /// rejected in the response, it does not refuse the batch).
    pub fn validate(&self) -> Result<(), ValidationError> {
        let n = self.events.len();
        if n == 0 || n > METRICS_BATCH_MAX_EVENTS {
            return Err(ValidationError {
                field: "events".to_owned(),
                limit: format!("must have 1-{METRICS_BATCH_MAX_EVENTS} entries"),
                message: format!("got {n} entries"),
            });
        }
        Ok(())
    }
}

/// One event refused from a batch; it will never be accepted, so the agent drops it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RejectedEvent {
    /// Position in `events`.
    pub index: usize,
    /// The event's field at fault (`timestamp`, `failureReason`, `packageId`, …).
    pub field: String,
    /// The limit and what was found.
    pub message: String,
}

/// `POST /v1/device/metrics` result. Every event of the batch is in exactly one of
/// the three counts: accepted now, accepted before (a retry), or rejected.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MetricsBatchResponse {
    /// Stored now.
    pub accepted: usize,
    /// Already stored by an earlier delivery (same device and `eventId`).
    pub duplicates: usize,
    /// Refused, with the reason.
    pub rejected: Vec<RejectedEvent>,
}

/// `GET /v1/device/settings?packageId=…` result: whether the app can use Simple
/// Sign-In on this device, and what the screens show for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AppSettingsResponse {
    /// `SUCCESSFUL`, `FEATURE_TURNED_OFF`, `NOT_AVAILABLE` or `FAILURE` (unknown app).
    pub request_status: RequestStatus,
    /// The app's display name, when the app is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_name: Option<String>,
    /// Whether the app has an icon, when the app is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_icon: Option<bool>,
    /// The identity provider the app is bound to, when it is (the agent checks
    /// `showLoginSelection` entries against this IDP's links).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_provider_name: Option<String>,
    /// Human-readable reason when not `SUCCESSFUL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `PUT /v1/device/settings`: the device's own switch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DeviceSettingsUpdate {
    /// On or off for this device (off deletes nothing).
    pub ssi_enabled: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of<T: serde::de::DeserializeOwned>(json: &str) -> Option<String> {
        match crate::parse_json::<T>(json.as_bytes()) {
            Err(crate::ProtoError::Json { field, .. }) => field,
            other => panic!("expected a JSON error, got {:?}", other.err()),
        }
    }

    #[test]
    fn nested_fields_are_named_with_their_path() {
        let request = CreateLinkRequest {
            package_id: "com.example.app".to_owned(),
            request: LinkUserAccountRequest {
                partner_user_id: String::new(),
                identity_provider_name: "idp".to_owned(),
                user_login_name: "me".to_owned(),
                link_token: Token::link("t"),
                link_signing_key: "k".to_owned(),
            },
        };
        assert_eq!(
            request.validate().unwrap_err().field,
            "request.partnerUserId"
        );
        assert_eq!(
            field_of::<CreateLinkRequest>(r#"{"packageId":"a","request":{"partnerUserId":5}}"#)
                .as_deref(),
            Some("request.partnerUserId")
        );
    }

    #[test]
    fn ids_and_batches_have_limits() {
        assert!(validate_package_id("com.example.app").is_ok());
        for bad in ["", "a b", "x/y", "noDots"] {
            assert_eq!(validate_package_id(bad).unwrap_err().field, "packageId");
        }
        assert!(validate_event_id("eventId", "ev_1-A").is_ok());
        for bad in ["", "a.b", &"a".repeat(65)] {
            assert!(validate_event_id("eventId", bad).is_err());
        }
        let event = DeviceMetricEvent {
            event_id: "e".to_owned(),
            package_id: "com.example.app".to_owned(),
            ssi_event: SsiEvent::LoginSuccess,
            timestamp: 1_000,
            failure_reason: None,
        };
        let too_many = MetricsBatch {
            events: vec![event.clone(); METRICS_BATCH_MAX_EVENTS + 1],
        };
        assert_eq!(too_many.validate().unwrap_err().field, "events");
        assert!(MetricsBatch { events: vec![] }.validate().is_err());
        assert!(
            MetricsBatch {
                events: vec![event]
            }
            .validate()
            .is_ok()
        );
    }

    #[test]
    fn metric_event_reads_the_seed_spellings() {
        let event: DeviceMetricEvent = crate::parse_json(
            br#"{"eventId":"e1","packageId":"com.example.app","ssiEvent":"LOGIN_FAILURE","epochTimestamp":"1000","failureReason":"NOT_FOUND"}"#,
        )
        .unwrap();
        assert_eq!(event.timestamp, 1000);
        assert_eq!(event.failure_reason, Some(FailureReason::NotFound));
        assert!(event.validate(1000).is_ok());
    }
}
