//! Bounded JSON parsing with errors that name the field.

use serde::de::DeserializeOwned;

use crate::limits::MAX_MESSAGE_BYTES;
use crate::validate::ValidationError;

/// Longest serde message kept in a [`ProtoError::Json`]; serde may quote input.
const DETAIL_MAX_CHARS: usize = 300;

/// Why a message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    /// Larger than the limit; refused before parsing.
    #[error("message is {len} bytes, over the limit of {limit} bytes (MAX_MESSAGE_BYTES)")]
    TooLarge {
        /// Size of the message.
        len: usize,
        /// The limit it exceeds.
        limit: usize,
    },
    /// Not JSON, or not the expected shape.
    #[error("invalid JSON{}: {detail}", field_suffix(.field))]
    Json {
        /// Wire path of the field serde stopped at (`linkToken.schema`, `links[0]`);
        /// `None` when the error is not inside a field (syntax, top-level type).
        field: Option<String>,
        /// serde's description, with line and column.
        detail: String,
    },
    /// Parsed, but a value is outside its limit.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
}

fn field_suffix(field: &Option<String>) -> String {
    field
        .as_ref()
        .map(|f| format!(" at `{f}`"))
        .unwrap_or_default()
}

/// Parses one message of at most [`MAX_MESSAGE_BYTES`].
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ProtoError> {
    parse_json_limited(bytes, MAX_MESSAGE_BYTES)
}

/// Parses one message of at most `limit` bytes (for bodies that are allowed to be
/// larger or must be smaller than [`MAX_MESSAGE_BYTES`]).
pub fn parse_json_limited<T: DeserializeOwned>(
    bytes: &[u8],
    limit: usize,
) -> Result<T, ProtoError> {
    if bytes.len() > limit {
        return Err(ProtoError::TooLarge {
            len: bytes.len(),
            limit,
        });
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(json_error)?;
    // Trailing data after the value is an error, as in serde_json::from_slice.
    de.end().map_err(|e| ProtoError::Json {
        field: None,
        detail: e.to_string(),
    })?;
    Ok(value)
}

fn json_error(e: serde_path_to_error::Error<serde_json::Error>) -> ProtoError {
    let path = e.path().to_string();
    let detail = crate::enums::echo_n(&e.into_inner().to_string(), DETAIL_MAX_CHARS);
    ProtoError::Json {
        // serde_path_to_error writes "." for the root.
        field: (path != ".").then_some(path),
        detail,
    }
}
