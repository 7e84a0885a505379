//! SSI tokens (`SSI-TOKEN-1.0`): minted by the server for every link on every
//! `getUserAndLinks` and `LOGIN_SELECTED`, verified by the partner backend in
//! the ten steps of DESIGN.md section 5.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::b64;
use crate::error::{VerifyError, VerifyErrorKind as Kind};
use crate::keys::{LinkSigningKey, LinkTokenKeys};
use crate::link_token;
use crate::replay::ReplayStore;
use crate::rng::Random;

pub const SSI_TOKEN_SCHEMA: &str = "SSI-TOKEN-1.0";
pub const SSI_TOKEN_ALG: &str = "ES256";
pub const SSI_TOKEN_TYP: &str = "ssi+jwt";
/// DESIGN.md section 9: an SSI token is at most 16 KiB.
pub const MAX_SSI_TOKEN_BYTES: usize = 16 * 1024;
/// Lifetime of a minted token, and the most a verifier accepts.
pub const SSI_TOKEN_LIFETIME_SECS: i64 = 300;
/// Clock skew allowed between the server and the partner.
pub const CLOCK_SKEW_SECS: i64 = 60;
/// Replay entries outlive `exp` by the skew, so an id is remembered for as
/// long as its token could verify.
pub const REPLAY_MARGIN_SECS: i64 = CLOCK_SKEW_SECS;

/// Something that makes ES256 signatures (64-byte r‖s) over a message.
pub trait Es256Signer {
    fn sign_es256(&self, message: &[u8]) -> [u8; 64];
}

impl Es256Signer for LinkSigningKey {
    fn sign_es256(&self, message: &[u8]) -> [u8; 64] {
        self.sign_fixed(message)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header<'a> {
    #[serde(borrow)]
    alg: &'a str,
    #[serde(borrow)]
    typ: &'a str,
    kid: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Claims<'a> {
    #[serde(borrow)]
    ver: &'a str,
    iss: String,
    aud: String,
    sub: String,
    lid: String,
    ltk: String,
    dev: String,
    iat: i64,
    exp: i64,
    jti: String,
}

/// What the server puts in an SSI token besides the times and the `jti`.
#[derive(Debug, Clone, Copy)]
pub struct MintRequest<'a> {
    /// `iss`: the server's issuer URL.
    pub issuer: &'a str,
    /// `aud`: the identity provider name.
    pub audience: &'a str,
    /// `sub`: the directed platform user id.
    pub subject: &'a str,
    /// `lid` and the header's `kid`.
    pub link_id: &'a str,
    /// `ltk`: the stored link token, verbatim.
    pub link_token: &'a str,
    /// `dev`: the directed device id.
    pub device_id: &'a str,
}

struct ClaimsOut<'a> {
    ver: &'a str,
    iss: &'a str,
    aud: &'a str,
    sub: &'a str,
    lid: &'a str,
    ltk: &'a str,
    dev: &'a str,
    iat: i64,
    exp: i64,
    jti: &'a str,
}

/// Mints an SSI token at `now` (Unix seconds), valid for 300 seconds.
pub fn mint_ssi_token(
    request: &MintRequest<'_>,
    signer: &dyn Es256Signer,
    now: i64,
    rng: &mut dyn Random,
) -> String {
    // Minting is a hot path of the server: serialize borrowed fields into one
    // reused buffer and encode straight into the token.
    #[derive(Serialize)]
    struct HeaderOut<'a> {
        alg: &'a str,
        typ: &'a str,
        kid: &'a str,
    }
    let mut jti_bytes = [0u8; 16];
    rng.fill(&mut jti_bytes);
    let mut jti = String::with_capacity(22);
    b64::encode_into(&jti_bytes, &mut jti);
    let header = HeaderOut {
        alg: SSI_TOKEN_ALG,
        typ: SSI_TOKEN_TYP,
        kid: request.link_id,
    };
    let claims = ClaimsOut {
        ver: SSI_TOKEN_SCHEMA,
        iss: request.issuer,
        aud: request.audience,
        sub: request.subject,
        lid: request.link_id,
        ltk: request.link_token,
        dev: request.device_id,
        iat: now,
        exp: now + SSI_TOKEN_LIFETIME_SECS,
        jti: &jti,
    };
    let estimate = 160
        + request.issuer.len()
        + request.audience.len()
        + request.subject.len()
        + 2 * request.link_id.len()
        + request.link_token.len()
        + request.device_id.len();
    let mut json = Vec::with_capacity(estimate);
    let mut token = String::with_capacity(estimate * 4 / 3 + 96);
    serde_json::to_writer(&mut json, &header).expect("header serializes");
    b64::encode_into(&json, &mut token);
    token.push('.');
    json.clear();
    write_claims(&mut json, &claims);
    b64::encode_into(&json, &mut token);
    let signature = signer.sign_es256(token.as_bytes());
    token.push('.');
    b64::encode_into(&signature, &mut token);
    token
}

/// The claims object, in the order of DESIGN.md section 5. Written by hand
/// because it is the hot path; strings go through [`write_json_string`].
fn write_claims(out: &mut Vec<u8>, claims: &ClaimsOut<'_>) {
    let strings = [
        ("{\"ver\":", claims.ver),
        (",\"iss\":", claims.iss),
        (",\"aud\":", claims.aud),
        (",\"sub\":", claims.sub),
        (",\"lid\":", claims.lid),
        (",\"ltk\":", claims.ltk),
        (",\"dev\":", claims.dev),
    ];
    for (prefix, value) in strings {
        out.extend_from_slice(prefix.as_bytes());
        write_json_string(out, value);
    }
    out.extend_from_slice(
        format!(",\"iat\":{},\"exp\":{},\"jti\":", claims.iat, claims.exp).as_bytes(),
    );
    write_json_string(out, claims.jti);
    out.push(b'}');
}

/// A JSON string literal. Most values (ids, URLs, the base64url link token)
/// need no escaping: find that out eight bytes at a time and copy them as
/// they are; anything else goes through serde_json.
fn write_json_string(out: &mut Vec<u8>, value: &str) {
    if needs_escaping(value.as_bytes()) {
        serde_json::to_writer(&mut *out, value).expect("a string serializes");
    } else {
        out.push(b'"');
        out.extend_from_slice(value.as_bytes());
        out.push(b'"');
    }
}

/// Whether any byte is a control character (< 0x20), `"` or `\\`.
fn needs_escaping(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let has_zero_byte = |word: u64| word.wrapping_sub(ONES) & !word & HIGHS != 0;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        let control = word.wrapping_sub(ONES * 0x20) & !word & HIGHS != 0;
        if control
            || has_zero_byte(word ^ (ONES * u64::from(b'"')))
            || has_zero_byte(word ^ (ONES * u64::from(b'\\')))
        {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

/// `b64(header).b64(payload).b64(signature)`.
pub(crate) fn sign_compact(header: &[u8], payload: &[u8], signer: &dyn Es256Signer) -> String {
    let mut token = String::with_capacity((header.len() + payload.len() + 64) * 4 / 3 + 8);
    b64::encode_into(header, &mut token);
    token.push('.');
    b64::encode_into(payload, &mut token);
    let signature = signer.sign_es256(token.as_bytes());
    token.push('.');
    b64::encode_into(&signature, &mut token);
    token
}

/// What the partner expects of a token.
#[derive(Debug, Clone, Copy)]
pub struct VerifyOptions<'a> {
    /// The partner's link-token keys.
    pub link_token_keys: &'a LinkTokenKeys,
    /// The partner's identity provider name (the `aud`).
    pub identity_provider_name: &'a str,
    /// The platform server's issuer URL (the `iss`).
    pub issuer: &'a str,
}

/// A verified SSI token: who signs in, through which link, from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSsiToken {
    pub partner_user_id: String,
    pub platform_user_id: String,
    pub link_id: String,
    pub device_id: String,
    pub ctx: BTreeMap<String, String>,
    /// The link token's `iat`: when the link was made.
    pub linked_at: i64,
    /// The SSI token's `iat`: when it was minted.
    pub issued_at: i64,
    pub expires_at: i64,
    pub jti: String,
}

/// Verifies an SSI token (`schema`, `token`) at `now` (Unix seconds), in the
/// ten numbered steps of DESIGN.md section 5; each failure has its own kind.
pub fn verify_ssi_token(
    schema: &str,
    token: &str,
    options: &VerifyOptions<'_>,
    now: i64,
    replay: &dyn ReplayStore,
) -> Result<VerifiedSsiToken, VerifyError> {
    // 1. The schema.
    if schema != SSI_TOKEN_SCHEMA {
        return Err(VerifyError::new(
            Kind::WrongSchema,
            "schema is not SSI-TOKEN-1.0",
        ));
    }
    // 2. Size, three base64url parts, and the header.
    let malformed = |detail: &str| VerifyError::new(Kind::MalformedToken, detail);
    if token.len() > MAX_SSI_TOKEN_BYTES {
        return Err(malformed("token over 16 KiB"));
    }
    let mut parts = token.splitn(4, '.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("not three dot-separated parts"));
    };
    let header_bytes =
        b64::decode(header_b64).ok_or_else(|| malformed("header is not base64url"))?;
    let header: Header<'_> = crate::json::from_object_slice(&header_bytes)
        .map_err(|_| malformed("header is not {alg, typ, kid}"))?;
    if header.alg != SSI_TOKEN_ALG {
        return Err(malformed("alg is not ES256"));
    }
    if header.typ != SSI_TOKEN_TYP {
        return Err(malformed("typ is not ssi+jwt"));
    }
    // "Three base64url parts" is step 2 for the payload too.
    let payload_bytes =
        b64::decode(payload_b64).ok_or_else(|| malformed("payload is not base64url"))?;
    let signature: [u8; 64] = b64::decode_array(signature_b64)
        .ok_or_else(|| malformed("signature is not 64 bytes of base64url"))?;
    // 3. The claims: all present, right types, `ver`, `lid` = `kid`.
    let bad_claims = |detail: &str| VerifyError::new(Kind::MalformedClaims, detail);
    let claims: Claims<'_> = crate::json::from_object_slice(&payload_bytes)
        .map_err(|e| bad_claims(&format!("payload is not the SSI-TOKEN-1.0 claims: {e}")))?;
    if claims.ver != SSI_TOKEN_SCHEMA {
        return Err(bad_claims("ver is not SSI-TOKEN-1.0"));
    }
    if claims.lid != header.kid {
        return Err(bad_claims("lid differs from the header's kid"));
    }
    if claims.iat <= 0 || claims.exp <= 0 {
        return Err(bad_claims("iat and exp must be positive"));
    }
    if b64::decode_array::<16>(&claims.jti).is_none() {
        return Err(bad_claims("jti is not 128 bits of base64url"));
    }
    // 4. The link token decrypts with the partner's key.
    let link_plaintext = link_token::decrypt_link_token(&claims.ltk, options.link_token_keys)
        .map_err(|e| VerifyError::new(Kind::LinkTokenUndecryptable, e.to_string()))?;
    // 5. Its payload is LINK-TOKEN-1.0 with a valid vKey.
    let link = link_token::parse_link_token_payload(&link_plaintext)
        .map_err(|e| VerifyError::new(Kind::LinkTokenInvalid, e.to_string()))?;
    // 6. The signature verifies with vKey.
    let signing_input_len = header_b64.len() + 1 + payload_b64.len();
    if !link
        .verification_key
        .verify_es256(&token.as_bytes()[..signing_input_len], &signature)
    {
        return Err(VerifyError::new(
            Kind::BadSignature,
            "signature does not verify with vKey",
        ));
    }
    // 7. The token is for the user the link token was made for.
    if claims.sub != link.platform_user_id {
        return Err(VerifyError::new(
            Kind::SubjectMismatch,
            "sub differs from the link token's platformUserId",
        ));
    }
    // 8. Audience and issuer.
    if claims.aud != options.identity_provider_name {
        return Err(VerifyError::new(Kind::WrongAudience, "aud is not this IDP"));
    }
    if claims.iss != options.issuer {
        return Err(VerifyError::new(
            Kind::WrongIssuer,
            "iss is not the expected issuer",
        ));
    }
    // 9. Times, with the allowed skew.
    if claims.iat > now + CLOCK_SKEW_SECS {
        return Err(VerifyError::new(
            Kind::IssuedInFuture,
            "iat is in the future",
        ));
    }
    if claims.exp <= now - CLOCK_SKEW_SECS {
        return Err(VerifyError::new(Kind::Expired, "exp has passed"));
    }
    let lifetime = claims.exp - claims.iat;
    if lifetime <= 0 || lifetime > SSI_TOKEN_LIFETIME_SECS {
        return Err(VerifyError::new(
            Kind::BadLifetime,
            "exp - iat is not in (0, 300]",
        ));
    }
    // 10. Not seen before; remembered until it would expire anyway.
    if !replay.check_and_remember(&claims.jti, claims.exp + REPLAY_MARGIN_SECS, now) {
        return Err(VerifyError::new(Kind::Replayed, "jti was seen before"));
    }
    Ok(VerifiedSsiToken {
        partner_user_id: link.partner_user_id,
        platform_user_id: link.platform_user_id,
        link_id: claims.lid,
        device_id: claims.dev,
        ctx: link.ctx,
        linked_at: link.issued_at,
        issued_at: claims.iat,
        expires_at: claims.exp,
        jti: claims.jti,
    })
}
