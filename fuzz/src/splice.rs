//! Builders that put fuzz bytes inside otherwise valid tokens.
//!
//! A random string almost never gets past base64 and AES-GCM, so these wrap the
//! fuzzed part (a header, a payload, a plaintext) into a token that is correctly
//! encrypted to, or signed with, the fixture keys. The formats are re-implemented
//! here from `spec/` on purpose, with aws-lc directly: no crate-private code of
//! `ssi-token` is reused, so a mistake there is not mirrored here.

use std::sync::OnceLock;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::digest;
use aws_lc_rs::key_wrap::{AES_256, AesKek, KeyWrap};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use ssi_token::Es256Signer;

use crate::fixtures;

/// Fixed values for the JWE builders: predictable, which is fine for fuzzing.
const CEK: [u8; 32] = [0x11; 32];
const WRAP_IV: [u8; 12] = [0x22; 12];
const CONTENT_IV: [u8; 12] = [0x33; 12];

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn b64_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

fn gcm_seal(key: &[u8], iv: [u8; 12], aad: &[u8], plaintext: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).expect("a 256-bit key"));
    let mut data = plaintext.to_vec();
    let tag = key
        .seal_in_place_separate_tag(Nonce::assume_unique_for_key(iv), Aad::from(aad), &mut data)
        .expect("AES-GCM seals");
    (data, tag.as_ref().to_vec())
}

/// `protected.ek.iv.ciphertext.tag` with `plaintext` under [`CEK`], the encoded
/// header as AAD.
fn compact_jwe(header: &[u8], encrypted_key: &[u8], plaintext: &[u8]) -> String {
    let protected = b64(header);
    let (ciphertext, tag) = gcm_seal(&CEK, CONTENT_IV, protected.as_bytes(), plaintext);
    format!(
        "{protected}.{}.{}.{}.{}",
        b64(encrypted_key),
        b64(&CONTENT_IV),
        b64(&ciphertext),
        b64(&tag)
    )
}

// ---- SSI tokens (JWS compact) -------------------------------------------------

/// The fixture SSI token's parts: decoded header and payload, encoded signature.
pub struct SsiParts {
    pub header: Vec<u8>,
    pub payload: Vec<u8>,
    pub signature_b64: String,
    /// The payload as JSON, for edits.
    pub claims: Value,
}

pub fn ssi_parts() -> &'static SsiParts {
    static PARTS: OnceLock<SsiParts> = OnceLock::new();
    PARTS.get_or_init(|| {
        let token = &fixtures::get().ssi_token;
        let parts: Vec<&str> = token.split('.').collect();
        let payload = b64_decode(parts[1]).expect("payload");
        SsiParts {
            header: b64_decode(parts[0]).expect("header"),
            claims: serde_json::from_slice(&payload).expect("claims JSON"),
            payload,
            signature_b64: parts[2].to_owned(),
        }
    })
}

/// `b64(header).b64(payload).signature` without re-signing.
pub fn unsigned_token(header: &[u8], payload: &[u8], signature_b64: &str) -> String {
    format!("{}.{}.{signature_b64}", b64(header), b64(payload))
}

/// `b64(header).b64(payload)`, signed with the fixture link signing key.
pub fn signed_token(header: &[u8], payload: &[u8]) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let signature = fixtures::get().signing_key.sign_es256(input.as_bytes());
    format!("{input}.{}", b64(&signature))
}

/// The fixture claims with `ltk` replaced.
pub fn claims_with_link_token(link_token: &str) -> Vec<u8> {
    let mut claims = ssi_parts().claims.clone();
    claims["ltk"] = Value::String(link_token.to_owned());
    serde_json::to_vec(&claims).expect("claims serialize")
}

/// The fixture claims with other `iat` and `exp`.
pub fn claims_with_times(iat: i64, exp: i64) -> Vec<u8> {
    let mut claims = ssi_parts().claims.clone();
    claims["iat"] = json!(iat);
    claims["exp"] = json!(exp);
    serde_json::to_vec(&claims).expect("claims serialize")
}

// ---- Link tokens (A256GCMKW / A256GCM) --------------------------------------

struct LinkTokenParts {
    header: Vec<u8>,
    encrypted_key: Vec<u8>,
    plaintext: Vec<u8>,
}

fn link_token_parts() -> &'static LinkTokenParts {
    static PARTS: OnceLock<LinkTokenParts> = OnceLock::new();
    PARTS.get_or_init(|| {
        let f = fixtures::get();
        let jwk = f.link_token_key.to_jwk();
        let key = b64_decode(&jwk.k).expect("k");
        // A256GCMKW: the CEK under the link-token key; IV and tag in the header.
        let (encrypted_key, wrap_tag) = gcm_seal(&key, WRAP_IV, b"", &CEK);
        let header = json!({
            "alg": "A256GCMKW",
            "enc": "A256GCM",
            "kid": jwk.kid,
            "typ": "link+jwe",
            "iv": b64(&WRAP_IV),
            "tag": b64(&wrap_tag),
        });
        let claims = &f.link_claims;
        let plaintext = json!({
            "ver": "LINK-TOKEN-1.0",
            "partnerUserId": claims.partner_user_id,
            "platformUserId": claims.platform_user_id,
            "vKey": claims.verification_key.to_jwk(),
            "iat": claims.issued_at,
            "ctx": claims.ctx,
        });
        LinkTokenParts {
            header: serde_json::to_vec(&header).expect("header"),
            encrypted_key,
            plaintext: serde_json::to_vec(&plaintext).expect("plaintext"),
        }
    })
}

/// A valid link-token header for the fixture key (with the wrap IV and tag that
/// [`seal_link_token`] produces).
pub fn link_token_header() -> &'static [u8] {
    &link_token_parts().header
}

/// The fixture link token's payload (`LINK-TOKEN-1.0` JSON).
pub fn link_token_plaintext() -> &'static [u8] {
    &link_token_parts().plaintext
}

/// A link token with this protected header and plaintext, encrypted under the
/// fixture link-token key. With a header other than [`link_token_header`] the key
/// unwrap fails unless the header still carries the same `kid`, `iv` and `tag`.
pub fn seal_link_token(header: &[u8], plaintext: &[u8]) -> String {
    compact_jwe(header, &link_token_parts().encrypted_key, plaintext)
}

// ---- Sealed link signing keys (ECDH-ES+A256KW / A256GCM) --------------------

struct SealedParts {
    header: Vec<u8>,
    shared_secret: Vec<u8>,
    plaintext: Vec<u8>,
}

fn sealed_parts() -> &'static SealedParts {
    static PARTS: OnceLock<SealedParts> = OnceLock::new();
    PARTS.get_or_init(|| {
        let f = fixtures::get();
        let app = f.app_keys[0].public_key().to_jwk();
        let mut app_point = vec![0x04];
        app_point.extend(b64_decode(&app.x).expect("x"));
        app_point.extend(b64_decode(&app.y).expect("y"));
        let epk = f.ephemeral.public_key().to_jwk();
        let header = json!({
            "alg": "ECDH-ES+A256KW",
            "enc": "A256GCM",
            "kid": app.kid,
            "epk": {"kty": epk.kty, "crv": epk.crv, "x": epk.x, "y": epk.y},
            "cty": "jwk+json",
        });
        SealedParts {
            header: serde_json::to_vec(&header).expect("header"),
            shared_secret: f
                .ephemeral
                .ecdh_shared_secret(&app_point)
                .expect("ECDH with the app key"),
            plaintext: serde_json::to_vec(&f.signing_key.to_jwk()).expect("JWK"),
        }
    })
}

/// A valid sealed-key header: app key 0's `kid` and the fixed ephemeral key.
pub fn sealed_key_header() -> &'static [u8] {
    &sealed_parts().header
}

/// The fixture link signing key's private JWK.
pub fn signing_key_plaintext() -> &'static [u8] {
    &sealed_parts().plaintext
}

/// RFC 7518 section 4.6.2, one SHA-256 block for a 256-bit key.
fn concat_kdf(z: &[u8], alg: &str, apu: &[u8], apv: &[u8]) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(&1u32.to_be_bytes());
    ctx.update(z);
    for field in [alg.as_bytes(), apu, apv] {
        ctx.update(&(field.len() as u32).to_be_bytes());
        ctx.update(field);
    }
    ctx.update(&256u32.to_be_bytes());
    ctx.finish().as_ref().try_into().expect("32 bytes")
}

fn party_info(header: &Value, name: &str) -> Vec<u8> {
    header
        .get(name)
        .and_then(Value::as_str)
        .and_then(b64_decode)
        .unwrap_or_default()
}

/// A sealed link signing key with this protected header and plaintext, sealed to
/// app key 0 with the fixed ephemeral key. `apu`/`apv` in the header, when they
/// decode, enter the KDF as the receiver will use them; a changed `epk` or `kid`
/// makes the unwrap fail, as it should.
pub fn seal_signing_key(header: &[u8], plaintext: &[u8]) -> String {
    let parsed: Value = serde_json::from_slice(header).unwrap_or(Value::Null);
    let kek = concat_kdf(
        &sealed_parts().shared_secret,
        "ECDH-ES+A256KW",
        &party_info(&parsed, "apu"),
        &party_info(&parsed, "apv"),
    );
    let kek = AesKek::new(&AES_256, &kek).expect("a 256-bit KEK");
    let mut wrapped = [0u8; 40];
    let wrapped = kek.wrap(&CEK, &mut wrapped).expect("AES-KW wraps");
    compact_jwe(header, wrapped, plaintext)
}
