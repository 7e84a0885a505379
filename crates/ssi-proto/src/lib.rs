//! Wire types of Simple Sign-In: the one serializable API-types crate of the project.
//!
//! Field names and enum values are the seed API's (`simplesignin-api.txt`), spelled as
//! there on every wire: camelCase fields, SCREAMING_SNAKE enum values. Decisions the
//! seed leaves open (see the crate's README.md):
//!
//! - [`Link::linked_timestamp`] is epoch milliseconds, written as a JSON *string* (the
//!   Vega type is `string`) and read from a string of digits or a JSON integer.
//! - [`SsiEventRequest::timestamp`] is written as a JSON integer under `timestamp` (the
//!   seed's sample) and also read as `epochTimestamp` and/or as a string of digits (the
//!   Vega type list).
//! - Enums also read the Fire OS CamelCase spellings (`LinkEstablished`, …) and, for
//!   [`FailureReason`], the Fire OS SDK's description strings.
//! - Extensions: an optional `message` on every response (human-readable reason on
//!   failure) and an optional `ssiToken` on [`ShowLoginSelectionResponse`].
//!
//! The limits of the design (section 9) are in [`limits`]; the `validate` functions
//! return the first [`ValidationError`] in field order. Nothing here does IO or reads
//! the clock: validation that needs "now" takes it as epoch milliseconds.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod app_socket;
pub mod developer;
pub mod device;
mod enums;
mod json;
pub mod limits;
mod millis;
mod types;
mod validate;

pub use enums::{
    FailureReason, InternalEvent, LinkAccountSuccessCode, RequestStatus, SsiEvent,
    UnknownEnumValue, UserSelection, WireEnum,
};
pub use json::{ProtoError, parse_json, parse_json_limited};
pub use types::{
    GetUserAndLinksRequest, GetUserAndLinksResponse, LINK_TOKEN_SCHEMA, Link,
    LinkUserAccountRequest, LinkUserAccountResponse, LoginNameValue, RecordMetricsEventResponse,
    SSI_TOKEN_SCHEMA, ShowLoginSelectionRequest, ShowLoginSelectionResponse, SsiEventRequest,
    Token,
};
pub use validate::{
    ValidationError, validate_identity_provider_name, validate_link_id, validate_link_signing_key,
    validate_link_token, validate_login_name, validate_login_selection, validate_metric_timestamp,
    validate_partner_user_id, validate_ssi_token,
};
