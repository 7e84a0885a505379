//! Checks of the section 9 limits. Each returns the first violation in field order;
//! messages give sizes and positions, never a token's or key's content.

use std::collections::HashMap;

use crate::enums::{FailureReason, SsiEvent, echo};
use crate::limits::{
    IDENTITY_PROVIDER_NAME_MAX_CHARS, LINK_ID_MAX_CHARS, LINK_SIGNING_KEY_MAX_BYTES,
    LINK_TOKEN_MAX_BYTES, LOGIN_NAME_MAX_CHARS, LOGIN_SELECTION_MAX_ENTRIES,
    METRIC_TIMESTAMP_MAX_AGE_MS, METRIC_TIMESTAMP_MAX_AHEAD_MS, PARTNER_USER_ID_MAX_BYTES,
    SSI_TOKEN_MAX_BYTES,
};
use crate::types::{
    GetUserAndLinksRequest, LINK_TOKEN_SCHEMA, Link, LinkUserAccountRequest, LoginNameValue,
    SSI_TOKEN_SCHEMA, ShowLoginSelectionRequest, SsiEventRequest, Token,
};

/// A value outside its limit. Displays as `field: limit (message)`, e.g.
/// `partnerUserId: must be 1-256 bytes of UTF-8 without control characters (got 300 bytes)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {limit} ({message})")]
pub struct ValidationError {
    /// Wire path of the field: `partnerUserId`, `linkToken.schema`, `loginNames[3].linkId`.
    pub field: String,
    /// The rule, e.g. `must be 1-256 bytes of UTF-8 without control characters`.
    pub limit: String,
    /// What was found instead, e.g. `got 300 bytes`.
    pub message: String,
}

impl ValidationError {
    fn new(field: impl Into<String>, limit: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            limit: limit.into(),
            message: message.into(),
        }
    }
}

#[derive(Clone, Copy)]
enum Unit {
    Bytes,
    Chars,
}

#[derive(Clone, Copy)]
enum Allowed {
    /// Any bytes (opaque tokens and keys).
    Any,
    /// Any character except Unicode control characters (category Cc).
    NoControl,
    /// Only the characters the predicate accepts; the string describes them.
    Only(&'static str, fn(char) -> bool),
}

/// A length range plus an alphabet; every text field is checked with one.
#[derive(Clone, Copy)]
struct Rule {
    max: usize,
    unit: Unit,
    allowed: Allowed,
}

impl Rule {
    fn limit(&self) -> String {
        match (self.unit, self.allowed) {
            (Unit::Bytes, Allowed::Any) => format!("must be 1-{} bytes", self.max),
            (Unit::Bytes, Allowed::NoControl) => format!(
                "must be 1-{} bytes of UTF-8 without control characters",
                self.max
            ),
            (Unit::Chars, Allowed::NoControl) => format!(
                "must be 1-{} characters without control characters",
                self.max
            ),
            (Unit::Chars, Allowed::Only(set, _)) => {
                format!("must be 1-{} characters of {set}", self.max)
            }
            // Not used: ASCII alphabets are the same in bytes and characters.
            (Unit::Bytes, Allowed::Only(set, _)) => {
                format!("must be 1-{} bytes of {set}", self.max)
            }
            (Unit::Chars, Allowed::Any) => format!("must be 1-{} characters", self.max),
        }
    }

    fn check(&self, field: &str, value: &str) -> Result<(), ValidationError> {
        let (len, unit) = match self.unit {
            Unit::Bytes => (value.len(), "bytes"),
            Unit::Chars => (value.chars().count(), "characters"),
        };
        if len == 0 || len > self.max {
            return Err(ValidationError::new(
                field,
                self.limit(),
                format!("got {len} {unit}"),
            ));
        }
        let bad = match self.allowed {
            Allowed::Any => None,
            Allowed::NoControl => value
                .chars()
                .enumerate()
                .find(|(_, c)| c.is_control())
                .map(|(i, c)| format!("got control character U+{:04X} at character {i}", c as u32)),
            Allowed::Only(_, is_allowed) => value
                .chars()
                .enumerate()
                .find(|(_, c)| !is_allowed(*c))
                .map(|(i, c)| format!("got {c:?} at character {i}")),
        };
        match bad {
            Some(message) => Err(ValidationError::new(field, self.limit(), message)),
            None => Ok(()),
        }
    }
}

const IDP_NAME: Rule = Rule {
    max: IDENTITY_PROVIDER_NAME_MAX_CHARS,
    unit: Unit::Chars,
    allowed: Allowed::Only("[A-Za-z0-9._-]", |c| {
        c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
    }),
};
const PARTNER_USER_ID: Rule = Rule {
    max: PARTNER_USER_ID_MAX_BYTES,
    unit: Unit::Bytes,
    allowed: Allowed::NoControl,
};
const LOGIN_NAME: Rule = Rule {
    max: LOGIN_NAME_MAX_CHARS,
    unit: Unit::Chars,
    allowed: Allowed::NoControl,
};
const LINK_ID: Rule = Rule {
    max: LINK_ID_MAX_CHARS,
    unit: Unit::Chars,
    allowed: Allowed::Only("[A-Za-z0-9_-]", |c| {
        c.is_ascii_alphanumeric() || matches!(c, '_' | '-')
    }),
};
const LINK_TOKEN: Rule = Rule {
    max: LINK_TOKEN_MAX_BYTES,
    unit: Unit::Bytes,
    allowed: Allowed::Any,
};
const LINK_SIGNING_KEY: Rule = Rule {
    max: LINK_SIGNING_KEY_MAX_BYTES,
    unit: Unit::Bytes,
    allowed: Allowed::Any,
};
const SSI_TOKEN: Rule = Rule {
    max: SSI_TOKEN_MAX_BYTES,
    unit: Unit::Bytes,
    allowed: Allowed::Any,
};

fn check_schema(field: &str, schema: &str, want: &str) -> Result<(), ValidationError> {
    if schema == want {
        return Ok(());
    }
    Err(ValidationError::new(
        field,
        format!("must be exactly {want}"),
        format!("got {:?}", echo(schema)),
    ))
}

/// `identityProviderName`: 1-64 characters of `[A-Za-z0-9._-]`.
pub fn validate_identity_provider_name(name: &str) -> Result<(), ValidationError> {
    IDP_NAME.check("identityProviderName", name)
}

/// `partnerUserId`: 1-256 bytes of UTF-8 without control characters.
pub fn validate_partner_user_id(id: &str) -> Result<(), ValidationError> {
    PARTNER_USER_ID.check("partnerUserId", id)
}

/// `loginName` (and `userLoginName`): 1-64 characters without control characters.
pub fn validate_login_name(name: &str) -> Result<(), ValidationError> {
    LOGIN_NAME.check("loginName", name)
}

/// `linkId`: 1-128 characters of `[A-Za-z0-9_-]`.
pub fn validate_link_id(id: &str) -> Result<(), ValidationError> {
    LINK_ID.check("linkId", id)
}

/// `linkToken`: `token` 1-8192 bytes, `schema` exactly `LINK-TOKEN-1.0`.
pub fn validate_link_token(token: &Token) -> Result<(), ValidationError> {
    LINK_TOKEN.check("linkToken.token", &token.token)?;
    check_schema("linkToken.schema", &token.schema, LINK_TOKEN_SCHEMA)
}

/// `linkSigningKey`: 1-4096 bytes.
pub fn validate_link_signing_key(key: &str) -> Result<(), ValidationError> {
    LINK_SIGNING_KEY.check("linkSigningKey", key)
}

/// `ssiToken`: `token` 1-16384 bytes, `schema` exactly `SSI-TOKEN-1.0`.
pub fn validate_ssi_token(token: &Token) -> Result<(), ValidationError> {
    SSI_TOKEN.check("ssiToken.token", &token.token)?;
    check_schema("ssiToken.schema", &token.schema, SSI_TOKEN_SCHEMA)
}

/// `showLoginSelection` entries (`loginNames`): 1-32 entries, each with a valid
/// `loginName` and `linkId`, no `linkId` twice. Whether each link is an active link of
/// the caller is for the agent to check.
pub fn validate_login_selection(entries: &[LoginNameValue]) -> Result<(), ValidationError> {
    if entries.is_empty() || entries.len() > LOGIN_SELECTION_MAX_ENTRIES {
        return Err(ValidationError::new(
            "loginNames",
            format!("must have 1-{LOGIN_SELECTION_MAX_ENTRIES} entries"),
            format!("got {} entries", entries.len()),
        ));
    }
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        LOGIN_NAME.check(&format!("loginNames[{i}].loginName"), &entry.login_name)?;
        let field = format!("loginNames[{i}].linkId");
        LINK_ID.check(&field, &entry.link_id)?;
        if let Some(first) = seen.insert(&entry.link_id, i) {
            return Err(ValidationError::new(
                field,
                "must be unique within the request",
                format!("same as loginNames[{first}].linkId"),
            ));
        }
    }
    Ok(())
}

/// Metric `timestamp` (epoch ms): within [now - 7 days, now + 5 minutes], inclusive.
pub fn validate_metric_timestamp(timestamp_ms: i64, now_ms: i64) -> Result<(), ValidationError> {
    // i128: no overflow whatever the two values are.
    let ahead = i128::from(timestamp_ms) - i128::from(now_ms);
    let message = if ahead < -i128::from(METRIC_TIMESTAMP_MAX_AGE_MS) {
        format!("got {} ms before now", -ahead)
    } else if ahead > i128::from(METRIC_TIMESTAMP_MAX_AHEAD_MS) {
        format!("got {ahead} ms after now")
    } else {
        return Ok(());
    };
    Err(ValidationError::new(
        "timestamp",
        format!(
            "must be within [now - {} days, now + {} minutes]",
            METRIC_TIMESTAMP_MAX_AGE_MS / 86_400_000,
            METRIC_TIMESTAMP_MAX_AHEAD_MS / 60_000
        ),
        message,
    ))
}

fn check_failure_reason(
    event: SsiEvent,
    reason: Option<FailureReason>,
) -> Result<(), ValidationError> {
    match (event, reason) {
        (SsiEvent::LoginFailure, None) => Err(ValidationError::new(
            "failureReason",
            "required when ssiEvent is LOGIN_FAILURE",
            "missing",
        )),
        (SsiEvent::LoginFailure, Some(_)) | (_, None) => Ok(()),
        (other, Some(reason)) => Err(ValidationError::new(
            "failureReason",
            "allowed only when ssiEvent is LOGIN_FAILURE",
            format!("got {reason} with {other}"),
        )),
    }
}

impl GetUserAndLinksRequest {
    /// Checks `identityProviderName`.
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate_identity_provider_name(&self.identity_provider_name)
    }
}

impl LinkUserAccountRequest {
    /// Checks every field, in the seed's order: `partnerUserId`,
    /// `identityProviderName`, `userLoginName`, `linkToken`, `linkSigningKey`.
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate_partner_user_id(&self.partner_user_id)?;
        validate_identity_provider_name(&self.identity_provider_name)?;
        LOGIN_NAME.check("userLoginName", &self.user_login_name)?;
        validate_link_token(&self.link_token)?;
        validate_link_signing_key(&self.link_signing_key)
    }
}

impl ShowLoginSelectionRequest {
    /// See [`validate_login_selection`].
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate_login_selection(&self.0)
    }
}

impl SsiEventRequest {
    /// Checks `timestamp` against `now_ms` (epoch ms), then that `failureReason` is
    /// present exactly when `ssiEvent` is `LOGIN_FAILURE`.
    pub fn validate(&self, now_ms: i64) -> Result<(), ValidationError> {
        validate_metric_timestamp(self.timestamp, now_ms)?;
        check_failure_reason(self.ssi_event, self.failure_reason)
    }
}

impl Link {
    /// Checks `linkId`, `partnerUserId`, `identityProviderName`, `ssiToken` and that
    /// `linkedTimestamp` is not negative.
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate_link_id(&self.link_id)?;
        validate_partner_user_id(&self.partner_user_id)?;
        validate_identity_provider_name(&self.identity_provider_name)?;
        validate_ssi_token(&self.ssi_token)?;
        if self.linked_timestamp < 0 {
            return Err(ValidationError::new(
                "linkedTimestamp",
                "must be non-negative epoch milliseconds",
                format!("got {}", self.linked_timestamp),
            ));
        }
        Ok(())
    }
}
