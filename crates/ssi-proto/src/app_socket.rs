//! The app-socket protocol: what an app's SDK and the on-device agent say to each other
//! (DESIGN.md section 7). Specified for other languages in `docs/app-protocol.md`.
//!
//! - Transport: the app's own Unix stream socket, `<run dir>/apps/<package id>.sock`.
//!   The agent knows the app from the socket it called on, never from the message.
//! - Framing: one JSON object per line (UTF-8, ended by `\n`), at most
//!   [`MAX_MESSAGE_BYTES`](crate::limits::MAX_MESSAGE_BYTES) bytes including the `\n`.
//! - A connection may carry many requests, also at once; each response carries its
//!   request's `id` and responses may come in any order (a `getUserAndLinks` is not held
//!   up by an open screen).
//! - Every response's `result` is the seed's response of the method (it always has
//!   `requestStatus`, and `message` on failure), so an envelope error (bad JSON, unknown
//!   method, wrong protocol, bad params) is a `result` of only
//!   `{"requestStatus": ..., "message": ...}` that reads as any of the four responses.
//!   A line that is not JSON is answered with `id: null`; an oversize line is answered
//!   with `id: null` and the connection is closed (the stream cannot be resynchronized).

use serde::{Deserialize, Serialize};

use crate::enums::RequestStatus;

/// The protocol version this crate speaks. A request with another version is answered
/// `NOT_SUPPORTED`.
pub const PROTOCOL_VERSION: u32 = 1;

/// Request `id`: 1-64 characters of `[A-Za-z0-9_.:-]`, chosen by the SDK, unique among
/// its requests in flight on one connection.
pub const REQUEST_ID_MAX_CHARS: usize = 64;

/// Environment variable naming the agent's run directory (default [`DEFAULT_RUN_DIR`]).
pub const RUN_DIR_ENV: &str = "SSI_AGENT_RUN_DIR";
/// Environment variable naming the app's socket outright (overrides the run directory).
pub const SOCKET_ENV: &str = "SSI_APP_SOCKET";
/// Environment variable naming the app's package id (to find `apps/<package id>.sock`).
pub const PACKAGE_ID_ENV: &str = "SSI_PACKAGE_ID";
/// The run directory when [`RUN_DIR_ENV`] is not set.
pub const DEFAULT_RUN_DIR: &str = "/run/ssi-agent";

/// The four methods of the seed, spelled as there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AppMethod {
    /// `getUserAndLinks(identityProviderName)`; params: [`crate::GetUserAndLinksRequest`].
    #[serde(rename = "getUserAndLinks")]
    GetUserAndLinks,
    /// `linkUserAccount(request)`; params: [`crate::LinkUserAccountRequest`].
    #[serde(rename = "linkUserAccount")]
    LinkUserAccount,
    /// `showLoginSelection(request)`; params: [`crate::ShowLoginSelectionRequest`] (an array).
    #[serde(rename = "showLoginSelection")]
    ShowLoginSelection,
    /// `recordMetricEvent(request)`; params: [`crate::SsiEventRequest`].
    #[serde(rename = "recordMetricEvent")]
    RecordMetricEvent,
}

impl AppMethod {
    /// Every method, in the seed's order.
    pub const ALL: [AppMethod; 4] = [
        AppMethod::GetUserAndLinks,
        AppMethod::LinkUserAccount,
        AppMethod::ShowLoginSelection,
        AppMethod::RecordMetricEvent,
    ];

    /// The seed's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AppMethod::GetUserAndLinks => "getUserAndLinks",
            AppMethod::LinkUserAccount => "linkUserAccount",
            AppMethod::ShowLoginSelection => "showLoginSelection",
            AppMethod::RecordMetricEvent => "recordMetricEvent",
        }
    }

    /// The method of the seed's spelling, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == name)
    }

    /// Whether the call shows a system screen (at most one in flight per app:
    /// otherwise `DUPLICATE_REQUEST`).
    pub fn shows_screen(self) -> bool {
        matches!(
            self,
            AppMethod::LinkUserAccount | AppMethod::ShowLoginSelection
        )
    }
}

/// One request line, as the SDK writes it. `method` is kept as a string so that the
/// agent can name an unknown method in its answer; `params` is read by method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppRequestEnvelope {
    /// [`PROTOCOL_VERSION`] of the SDK.
    pub protocol: u32,
    /// The SDK's request id, echoed in the response.
    pub id: String,
    /// One of [`AppMethod`]'s spellings.
    pub method: String,
    /// The method's argument (the seed's request type; an IDP-name object for
    /// `getUserAndLinks`, a bare array for `showLoginSelection`).
    pub params: serde_json::Value,
}

/// One response line, as the agent writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppResponseEnvelope {
    /// [`PROTOCOL_VERSION`] of the agent.
    pub protocol: u32,
    /// The request's id; `null` when the request line could not be read.
    pub id: Option<String>,
    /// The seed's response of the method, or an [`EnvelopeError`].
    pub result: serde_json::Value,
}

/// The result of a request that never reached its method: reads as any seed response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvelopeError {
    /// `FAILURE` (bad line, unknown method, bad params) or `NOT_SUPPORTED` (protocol).
    pub request_status: RequestStatus,
    /// What was wrong, naming the field and the limit.
    pub message: String,
}

/// `id`: 1-64 characters of `[A-Za-z0-9_.:-]`.
pub fn validate_request_id(id: &str) -> Result<(), crate::ValidationError> {
    crate::device::check_ascii_id("id", id, REQUEST_ID_MAX_CHARS, "[A-Za-z0-9_.:-]", |c| {
        c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_names_round_trip() {
        for method in AppMethod::ALL {
            assert_eq!(AppMethod::from_name(method.as_str()), Some(method));
            let json = serde_json::to_string(&method).unwrap();
            assert_eq!(json, format!("\"{}\"", method.as_str()));
        }
        assert_eq!(AppMethod::from_name("GetUserAndLinks"), None);
    }

    #[test]
    fn request_ids() {
        assert!(validate_request_id("r-1:a.b_c").is_ok());
        assert!(validate_request_id("").is_err());
        assert!(validate_request_id("a b").is_err());
        assert!(validate_request_id(&"a".repeat(65)).is_err());
    }
}
