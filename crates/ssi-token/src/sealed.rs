//! The sealed link signing key (`linkSigningKey`): a compact JWE
//! `{alg:"ECDH-ES+A256KW", enc:"A256GCM", kid, epk, cty:"jwk+json"}` whose
//! plaintext is the private JWK of the link key pair (DESIGN.md section 5).

use serde::{Deserialize, Serialize};

use crate::b64;
use crate::error::UnsealError;
use crate::jwe::{self, CEK_LEN, CompactJwe};
use crate::keys::{AppKeyPair, AppPublicKey, EcPrivateJwk, EcPublicJwk, LinkSigningKey, P256Point};
use crate::rng::Random;

pub const SEALED_KEY_ALG: &str = "ECDH-ES+A256KW";
pub const SEALED_KEY_ENC: &str = "A256GCM";
pub const SEALED_KEY_CTY: &str = "jwk+json";
/// DESIGN.md section 9: `linkSigningKey` is at most 4096 bytes.
pub const MAX_SEALED_KEY_BYTES: usize = 4096;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SealedKeyHeader {
    alg: String,
    enc: String,
    kid: String,
    #[serde(deserialize_with = "crate::json::object")]
    epk: EcPublicJwk,
    cty: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    apu: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    apv: Option<String>,
}

/// Seals a link signing key to an app's public key, as the partner backend
/// does before handing it to the app for `linkUserAccount`.
pub fn seal_link_signing_key(
    key: &LinkSigningKey,
    app_key: &AppPublicKey,
    rng: &mut dyn Random,
) -> String {
    let ephemeral = AppKeyPair::generate(rng);
    let shared = jwe::ecdh_p256(&ephemeral.agreement_key(), app_key.point.as_bytes())
        .expect("a validated app public key agrees");
    let kek = jwe::concat_kdf(&shared, SEALED_KEY_ALG, b"", b"");
    let mut cek = zeroize::Zeroizing::new([0u8; CEK_LEN]);
    rng.fill(cek.as_mut());
    let encrypted_key = jwe::aes_kw_wrap(&kek, &cek);
    let epk = ephemeral.public_key().point.to_jwk();
    let header = SealedKeyHeader {
        alg: SEALED_KEY_ALG.to_owned(),
        enc: SEALED_KEY_ENC.to_owned(),
        kid: app_key.kid().to_owned(),
        epk,
        cty: SEALED_KEY_CTY.to_owned(),
        apu: None,
        apv: None,
    };
    let header_json = serde_json::to_vec(&header).expect("the header serializes");
    let plaintext = zeroize::Zeroizing::new(
        serde_json::to_vec(&key.to_jwk()).expect("the private JWK serializes"),
    );
    jwe::encode_compact(
        &header_json,
        &encrypted_key,
        cek.as_slice(),
        &plaintext,
        rng,
    )
}

fn encryption_error(detail: &'static str) -> UnsealError {
    UnsealError::InvalidEncryption { detail }
}

/// Unseals on the server side with the calling app's current and not yet
/// expired retired keys. Every JWE failure is
/// `INVALID_LINK_SIGNING_KEY_ENCRYPTION`; a plaintext that is not a valid
/// P-256 private JWK whose `x,y` equal `d·G` is `INVALID_LINK_SIGNING_KEY`.
pub fn unseal_link_signing_key(
    sealed: &str,
    app_keys: &[&AppKeyPair],
) -> Result<LinkSigningKey, UnsealError> {
    // 1. Bounded before any work.
    if sealed.len() > MAX_SEALED_KEY_BYTES {
        return Err(encryption_error("sealed key over 4096 bytes"));
    }
    // 2. Five base64url parts.
    let jwe = CompactJwe::parse(sealed).ok_or(encryption_error("not a compact JWE"))?;
    // 3. The protected header: exactly our algorithms, a known kid, a valid epk.
    let header_bytes = jwe
        .protected_header()
        .ok_or(encryption_error("header is not base64url"))?;
    let header: SealedKeyHeader = crate::json::from_object_slice(&header_bytes)
        .map_err(|_| encryption_error("header is not the expected JSON"))?;
    if header.alg != SEALED_KEY_ALG || header.enc != SEALED_KEY_ENC {
        return Err(encryption_error("unsupported alg or enc"));
    }
    if header.cty != SEALED_KEY_CTY {
        return Err(encryption_error("cty is not jwk+json"));
    }
    let app_key = app_keys
        .iter()
        .find(|key| key.kid() == header.kid)
        .ok_or(encryption_error("kid is not a key of this app"))?;
    let epk = P256Point::from_jwk_parts(
        &header.epk.kty,
        &header.epk.crv,
        &header.epk.x,
        &header.epk.y,
    )
    .map_err(|_| encryption_error("epk is not a P-256 point"))?;
    let apu = decode_party_info(header.apu.as_deref())?;
    let apv = decode_party_info(header.apv.as_deref())?;
    // 4. ECDH-ES key agreement, Concat KDF, A256KW unwrap of the CEK.
    let shared = jwe::ecdh_p256(&app_key.agreement_key(), epk.as_bytes())
        .ok_or(encryption_error("key agreement failed"))?;
    let kek = jwe::concat_kdf(&shared, SEALED_KEY_ALG, &apu, &apv);
    let cek = jwe::aes_kw_unwrap(&kek, &jwe.encrypted_key)
        .ok_or(encryption_error("key unwrap failed"))?;
    // 5. A256GCM content decryption, the header authenticated as AAD.
    let plaintext = jwe
        .decrypt_content(cek.as_slice())
        .ok_or(encryption_error("content decryption failed"))?;
    // 6. The plaintext must be a private P-256 JWK with x,y = d·G.
    let jwk: EcPrivateJwk = crate::json::from_object_slice(&plaintext)
        .map_err(|_| UnsealError::InvalidKey(crate::KeyError::NotAJwk))?;
    LinkSigningKey::from_jwk(&jwk).map_err(UnsealError::InvalidKey)
}

fn decode_party_info(value: Option<&str>) -> Result<Vec<u8>, UnsealError> {
    match value {
        None => Ok(Vec::new()),
        Some(text) => b64::decode(text).ok_or(encryption_error("apu/apv is not base64url")),
    }
}
