//! The reference link token format, `LINK-TOKEN-1.0` (DESIGN.md section 5):
//! a compact JWE `{alg:"A256GCMKW", enc:"A256GCM", kid, typ:"link+jwe", iv,
//! tag}` under the partner's link-token key. Opaque to the platform.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use zeroize::Zeroizing;

use crate::b64;
use crate::error::LinkTokenError;
use crate::jwe::{self, CEK_LEN, CompactJwe, TAG_LEN};
use crate::keys::{EcPublicJwk, LinkTokenKey, LinkTokenKeys, LinkVerificationKey};
use crate::rng::Random;

pub const LINK_TOKEN_SCHEMA: &str = "LINK-TOKEN-1.0";
pub const LINK_TOKEN_ALG: &str = "A256GCMKW";
pub const LINK_TOKEN_ENC: &str = "A256GCM";
pub const LINK_TOKEN_TYP: &str = "link+jwe";
/// DESIGN.md section 9: `linkToken.token` is at most 8192 bytes.
pub const MAX_LINK_TOKEN_BYTES: usize = 8192;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkTokenHeader {
    alg: String,
    enc: String,
    kid: String,
    typ: String,
    iv: String,
    tag: String,
}

/// The claims a link token carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkTokenClaims {
    /// The user's id in the partner's identity system.
    pub partner_user_id: String,
    /// The `amazonUserId` the app got from `getUserAndLinks`.
    pub platform_user_id: String,
    /// The link verification key (`vKey`).
    pub verification_key: LinkVerificationKey,
    /// When the partner made the link token (Unix seconds).
    pub issued_at: i64,
    /// Optional partner context, returned on every verification.
    pub ctx: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LinkTokenPayload {
    ver: String,
    partner_user_id: String,
    platform_user_id: String,
    #[serde(rename = "vKey", deserialize_with = "crate::json::object")]
    v_key: EcPublicJwk,
    iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ctx: Option<StrictStringMap>,
}

/// A string-to-string map that refuses duplicate keys (serde's maps keep the
/// last value silently, which would let two parsers disagree).
#[derive(Serialize)]
#[serde(transparent)]
struct StrictStringMap(BTreeMap<String, String>);

impl<'de> Deserialize<'de> for StrictStringMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor;
        impl<'de> Visitor<'de> for MapVisitor {
            type Value = StrictStringMap;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of strings without duplicate keys")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut map = BTreeMap::new();
                while let Some((key, value)) = access.next_entry::<String, String>()? {
                    if map.insert(key, value).is_some() {
                        return Err(serde::de::Error::custom("duplicate key in ctx"));
                    }
                }
                Ok(StrictStringMap(map))
            }
        }
        deserializer.deserialize_map(MapVisitor)
    }
}

/// Makes a link token (partner side).
pub fn make_link_token(
    claims: &LinkTokenClaims,
    key: &LinkTokenKey,
    rng: &mut dyn Random,
) -> String {
    let payload = LinkTokenPayload {
        ver: LINK_TOKEN_SCHEMA.to_owned(),
        partner_user_id: claims.partner_user_id.clone(),
        platform_user_id: claims.platform_user_id.clone(),
        v_key: claims.verification_key.to_jwk(),
        iat: claims.issued_at,
        ctx: (!claims.ctx.is_empty()).then(|| StrictStringMap(claims.ctx.clone())),
    };
    let plaintext = serde_json::to_vec(&payload).expect("the payload serializes");
    let mut cek = Zeroizing::new([0u8; CEK_LEN]);
    rng.fill(cek.as_mut());
    // A256GCMKW: the CEK is encrypted with AES-GCM under the link-token key;
    // its IV and tag travel in the protected header (RFC 7518 section 4.7).
    let mut wrap_iv = [0u8; 12];
    rng.fill(&mut wrap_iv);
    let (encrypted_key, wrap_tag) = jwe::aes_gcm_seal(key.bytes(), &wrap_iv, b"", cek.as_slice());
    let header = LinkTokenHeader {
        alg: LINK_TOKEN_ALG.to_owned(),
        enc: LINK_TOKEN_ENC.to_owned(),
        kid: key.kid().to_owned(),
        typ: LINK_TOKEN_TYP.to_owned(),
        iv: b64::encode(&wrap_iv),
        tag: b64::encode(&wrap_tag),
    };
    let header_json = serde_json::to_vec(&header).expect("the header serializes");
    jwe::encode_compact(
        &header_json,
        &encrypted_key,
        cek.as_slice(),
        &plaintext,
        rng,
    )
}

fn undecryptable(detail: &'static str) -> LinkTokenError {
    LinkTokenError::Undecryptable { detail }
}

/// Decrypts a link token with the partner's keys (chosen by `kid`), without
/// checking the payload (verification step 4).
pub(crate) fn decrypt_link_token(
    token: &str,
    keys: &LinkTokenKeys,
) -> Result<Zeroizing<Vec<u8>>, LinkTokenError> {
    if token.len() > MAX_LINK_TOKEN_BYTES {
        return Err(undecryptable("link token over 8192 bytes"));
    }
    let jwe = CompactJwe::parse(token).ok_or(undecryptable("not a compact JWE"))?;
    let header_bytes = jwe
        .protected_header()
        .ok_or(undecryptable("header is not base64url"))?;
    let header: LinkTokenHeader = crate::json::from_object_slice(&header_bytes)
        .map_err(|_| undecryptable("header is not the expected JSON"))?;
    if header.alg != LINK_TOKEN_ALG || header.enc != LINK_TOKEN_ENC || header.typ != LINK_TOKEN_TYP
    {
        return Err(undecryptable("unsupported alg, enc or typ"));
    }
    let key = keys
        .find(&header.kid)
        .ok_or(undecryptable("no link-token key with this kid"))?;
    let wrap_iv = b64::decode_array::<12>(&header.iv).ok_or(undecryptable("bad iv"))?;
    let wrap_tag = b64::decode_array::<TAG_LEN>(&header.tag).ok_or(undecryptable("bad tag"))?;
    if jwe.encrypted_key.len() != CEK_LEN {
        return Err(undecryptable("encrypted key is not 32 bytes"));
    }
    let cek = jwe::aes_gcm_open(key.bytes(), &wrap_iv, b"", &jwe.encrypted_key, &wrap_tag)
        .ok_or(undecryptable("key unwrap failed"))?;
    jwe.decrypt_content(&cek)
        .ok_or(undecryptable("content decryption failed"))
}

/// Parses a decrypted payload (verification step 5).
pub(crate) fn parse_link_token_payload(
    plaintext: &[u8],
) -> Result<LinkTokenClaims, LinkTokenError> {
    let invalid = |detail: String| LinkTokenError::InvalidPayload { detail };
    let payload: LinkTokenPayload = crate::json::from_object_slice(plaintext)
        .map_err(|e| invalid(format!("payload JSON: {e}")))?;
    if payload.ver != LINK_TOKEN_SCHEMA {
        return Err(invalid("ver is not LINK-TOKEN-1.0".to_owned()));
    }
    if payload.partner_user_id.is_empty() || payload.platform_user_id.is_empty() {
        return Err(invalid("empty partnerUserId or platformUserId".to_owned()));
    }
    let verification_key =
        LinkVerificationKey::from_jwk(&payload.v_key).map_err(|e| invalid(format!("vKey: {e}")))?;
    Ok(LinkTokenClaims {
        partner_user_id: payload.partner_user_id,
        platform_user_id: payload.platform_user_id,
        verification_key,
        issued_at: payload.iat,
        ctx: payload.ctx.map(|map| map.0).unwrap_or_default(),
    })
}

/// Reads a link token (partner side). This proves only that the partner made
/// it; only an SSI token proves the link still exists.
pub fn read_link_token(
    token: &str,
    keys: &LinkTokenKeys,
) -> Result<LinkTokenClaims, LinkTokenError> {
    let plaintext = decrypt_link_token(token, keys)?;
    parse_link_token_payload(&plaintext)
}
