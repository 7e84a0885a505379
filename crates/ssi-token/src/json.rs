//! JSON objects only. serde's derived `Deserialize` for a struct also accepts
//! a JSON array of the field values in declaration order, so
//! `["ES256","ssi+jwt","link-1"]` would pass for a JOSE header. JOSE headers,
//! payloads and JWKs are JSON objects (RFC 7515 section 4, RFC 7517 section
//! 4); anything else would let this parser and others disagree.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};

struct ObjectOnly<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectOnly<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map))
    }
}

/// For `#[serde(deserialize_with = "crate::json::object")]` on nested structs.
pub(crate) fn object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    deserializer.deserialize_map(ObjectOnly(PhantomData))
}

/// `serde_json::from_slice`, refusing anything but a JSON object at the top.
pub(crate) fn from_object_slice<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> serde_json::Result<T> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = object(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

/// `serde_json::from_str`, refusing anything but a JSON object at the top.
pub(crate) fn from_object_str<'a, T: Deserialize<'a>>(text: &'a str) -> serde_json::Result<T> {
    from_object_slice(text.as_bytes())
}

/// A value that deserializes only from a JSON object (for collections).
pub(crate) struct Object<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        object(deserializer).map(Object)
    }
}
