//! Epoch-millisecond fields that the seed's bindings type differently: read from a
//! JSON integer or a string of digits, never from a float or a signed string.

use std::fmt;

use serde::Serializer;
use serde::de::{self, Deserializer, Unexpected, Visitor};

/// Longest decimal i64 (`9223372036854775807`).
const MAX_DIGITS: usize = 19;

struct MillisVisitor;

impl Visitor<'_> for MillisVisitor {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("epoch milliseconds as a non-negative integer or a string of digits")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        if v < 0 {
            return Err(E::invalid_value(Unexpected::Signed(v), &self));
        }
        Ok(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
        // Digits only: no sign, spaces, exponent or fraction; the value is not echoed.
        let refuse = || E::invalid_value(Unexpected::Other("a string that is not digits"), &self);
        if v.is_empty() || v.len() > MAX_DIGITS || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(refuse());
        }
        v.parse().map_err(|_| refuse())
    }
}

/// Reads a JSON integer or a string of digits.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    d.deserialize_any(MillisVisitor)
}

/// Written as a string of digits, read as either form.
pub(crate) mod as_string {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        super::deserialize(d)
    }
}
