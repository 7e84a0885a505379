//! The bodies of the fuzz targets. Each must never panic on any input; the
//! assertions are oracles (things that must hold whenever a parser accepts).
//!
//! Each returns whether the input was accepted all the way through, which the
//! seed tests use to check that the `ok-*` seeds really reach the end.
//!
//! Targets that splice take the first byte as a mode (`mode % N`) and the rest
//! as the fuzzed part; see each function.

use std::fmt::Debug;
use std::str;

use serde::Serialize;
use serde::de::DeserializeOwned;
use ssi_proto::{
    FailureReason, GetUserAndLinksRequest, GetUserAndLinksResponse, InternalEvent,
    LinkAccountSuccessCode, LinkUserAccountRequest, LinkUserAccountResponse, LoginNameValue,
    RecordMetricsEventResponse, RequestStatus, ShowLoginSelectionRequest,
    ShowLoginSelectionResponse, SsiEvent, SsiEventRequest, Token, UserSelection, ValidationError,
    WireEnum,
};
use ssi_token::{
    AppKeyPair, AppPublicKey, CLOCK_SKEW_SECS, EcPrivateJwk, EcPublicJwk, Es256Signer,
    InMemoryReplayStore, LinkSigningKey, LinkTokenKey, LinkTokenKeys, LinkVerificationKey,
    SSI_TOKEN_LIFETIME_SECS, SSI_TOKEN_SCHEMA, SeededRandom, VerifiedSsiToken, VerifyErrorKind,
    make_link_token, unseal_link_signing_key,
};

use crate::fixtures::{self, LINK_ID, NOW, NOW_MS, PARTNER_USER_ID, PLATFORM_USER_ID};
use crate::splice;

// ---- verify_ssi_token ----------------------------------------------------------

/// Verifies `token` at [`NOW`] with a fresh replay store, checks the invariants
/// of an accepted token, and that a second verification is a replay.
fn verify_twice(token: &str) -> Option<VerifiedSsiToken> {
    let f = fixtures::get();
    let replay = InMemoryReplayStore::new();
    let options = f.verify_options();
    match ssi_token::verify_ssi_token(SSI_TOKEN_SCHEMA, token, &options, NOW, &replay) {
        Ok(verified) => {
            assert!(verified.issued_at > 0 && verified.issued_at <= NOW + CLOCK_SKEW_SECS);
            assert!(verified.expires_at > NOW - CLOCK_SKEW_SECS);
            let lifetime = verified.expires_at - verified.issued_at;
            assert!((1..=SSI_TOKEN_LIFETIME_SECS).contains(&lifetime));
            assert_eq!(verified.platform_user_id, PLATFORM_USER_ID);
            let again =
                ssi_token::verify_ssi_token(SSI_TOKEN_SCHEMA, token, &options, NOW, &replay)
                    .expect_err("a second verification must be a replay");
            assert_eq!(again.kind, VerifyErrorKind::Replayed);
            Some(verified)
        }
        Err(error) => {
            std::hint::black_box(error.to_string());
            None
        }
    }
}

/// Target `verify_ssi_token`: the input, as UTF-8, is the token. Without the link
/// signing key nothing but the fixture token can verify (an ECDSA-malleated
/// signature `(r, n-s)` would, with the same claims and so the same `jti`).
pub fn verify_ssi_token(data: &[u8]) -> bool {
    let Ok(token) = str::from_utf8(data) else {
        return false;
    };
    match verify_twice(token) {
        Some(verified) => {
            assert_eq!(verified, fixtures::get().verified);
            true
        }
        None => false,
    }
}

/// Target `verify_ssi_token_splice`, modes:
/// 0. the rest is the header JSON; fixture payload and signature (not re-signed);
/// 1. the rest is the payload JSON; fixture header and signature;
/// 2. the rest is the payload JSON, re-signed with the link signing key: reaches
///    steps 7-10 (subject, audience, issuer, times, replay);
/// 3. the rest is the header JSON, re-signed;
/// 4. the rest is the link token's plaintext (encrypted under the fixture
///    link-token key), put into the fixture claims and re-signed: step 5 onwards.
pub fn verify_ssi_token_splice(data: &[u8]) -> bool {
    let Some((&mode, rest)) = data.split_first() else {
        return false;
    };
    let f = fixtures::get();
    let parts = splice::ssi_parts();
    let (token, same_claims) = match mode % 5 {
        0 => (
            splice::unsigned_token(rest, &parts.payload, &parts.signature_b64),
            true,
        ),
        1 => (
            splice::unsigned_token(&parts.header, rest, &parts.signature_b64),
            true,
        ),
        2 => (splice::signed_token(&parts.header, rest), false),
        3 => (splice::signed_token(rest, &parts.payload), true),
        _ => {
            let link_token = splice::seal_link_token(splice::link_token_header(), rest);
            let claims = splice::claims_with_link_token(&link_token);
            (splice::signed_token(&parts.header, &claims), false)
        }
    };
    let Some(verified) = verify_twice(&token) else {
        return false;
    };
    if same_claims {
        assert_eq!(verified, f.verified);
    } else if mode % 5 == 4 {
        // Only the link token changed: the SSI token's own claims are the fixture's.
        assert_eq!(verified.link_id, LINK_ID);
        assert_eq!(verified.jti, f.verified.jti);
        assert_eq!(verified.issued_at, f.verified.issued_at);
    } else {
        // Only the SSI claims changed: the link is the fixture's.
        assert_eq!(verified.partner_user_id, PARTNER_USER_ID);
        assert_eq!(verified.ctx, f.verified.ctx);
        assert_eq!(verified.linked_at, f.verified.linked_at);
    }
    true
}

// ---- unseal_link_signing_key ---------------------------------------------------

/// Target `unseal_sealed_key`, modes:
/// 0. the rest, as UTF-8, is the sealed key;
/// 1. the rest is the protected header, sealing the fixture signing key;
/// 2. the rest is the plaintext (the private JWK), under a valid header.
pub fn unseal_sealed_key(data: &[u8]) -> bool {
    let Some((&mode, rest)) = data.split_first() else {
        return false;
    };
    let f = fixtures::get();
    let sealed = match mode % 3 {
        0 => match str::from_utf8(rest) {
            Ok(text) => text.to_owned(),
            Err(_) => return false,
        },
        1 => splice::seal_signing_key(rest, splice::signing_key_plaintext()),
        _ => splice::seal_signing_key(splice::sealed_key_header(), rest),
    };
    let app_keys: Vec<&AppKeyPair> = f.app_keys.iter().collect();
    match unseal_link_signing_key(&sealed, &app_keys) {
        Ok(key) => {
            if mode % 3 != 2 {
                assert_eq!(key.public_sec1(), f.signing_key.public_sec1());
                assert_eq!(key.private_scalar(), f.signing_key.private_scalar());
            }
            check_signing_key(&key);
            true
        }
        Err(error) => {
            std::hint::black_box((error.to_string(), error.request_status(), error.detail()));
            false
        }
    }
}

/// An accepted signing key round-trips through its JWK and signs verifiably.
fn check_signing_key(key: &LinkSigningKey) {
    let again = LinkSigningKey::from_jwk(&key.to_jwk()).expect("an accepted key round-trips");
    assert_eq!(again.public_sec1(), key.public_sec1());
    let signature = key.sign_es256(b"fuzz");
    assert!(key.verification_key().verify_es256(b"fuzz", &signature));
}

// ---- read_link_token -------------------------------------------------------------

/// Target `read_link_token`, modes:
/// 0. the rest, as UTF-8, is the link token;
/// 1. the rest is the protected header, encrypting the fixture payload;
/// 2. the rest is the plaintext (the `LINK-TOKEN-1.0` JSON), under a valid header.
pub fn read_link_token(data: &[u8]) -> bool {
    let Some((&mode, rest)) = data.split_first() else {
        return false;
    };
    let f = fixtures::get();
    let token = match mode % 3 {
        0 => match str::from_utf8(rest) {
            Ok(text) => text.to_owned(),
            Err(_) => return false,
        },
        1 => splice::seal_link_token(rest, splice::link_token_plaintext()),
        _ => splice::seal_link_token(splice::link_token_header(), rest),
    };
    match ssi_token::read_link_token(&token, &f.link_token_keys) {
        Ok(claims) => {
            if mode % 3 != 2 {
                assert_eq!(claims, f.link_claims);
            }
            assert!(!claims.partner_user_id.is_empty() && !claims.platform_user_id.is_empty());
            // Whatever was accepted, the partner can write again and read back.
            let remade = make_link_token(&claims, &f.link_token_key, &mut SeededRandom::new(b"rt"));
            let reread = ssi_token::read_link_token(&remade, &f.link_token_keys)
                .expect("a remade link token reads");
            assert_eq!(reread, claims);
            true
        }
        Err(error) => {
            std::hint::black_box(error.to_string());
            false
        }
    }
}

// ---- JWK parsers -------------------------------------------------------------------

/// Target `jwk_parsers`: the input, as UTF-8, goes through every JWK parser; the
/// raw bytes also go through the raw-key constructors. An accepted key must
/// round-trip through its own JWK.
pub fn jwk_parsers(data: &[u8]) -> bool {
    let mut accepted = raw_key_parsers(data);
    let Ok(json) = str::from_utf8(data) else {
        return accepted;
    };

    if let Ok(key) = LinkSigningKey::from_jwk_json(json) {
        check_signing_key(&key);
        let input: EcPrivateJwk = serde_json::from_str(json).expect("accepted means parsed");
        let output = key.to_jwk();
        // Strict base64url: only canonical encodings are accepted.
        assert_eq!(
            (&input.x, &input.y, &input.d),
            (&output.x, &output.y, &output.d)
        );
        accepted = true;
    }
    if let Ok(key) = AppPublicKey::from_jwk_json(json) {
        assert_eq!(AppPublicKey::from_jwk(&key.to_jwk()), Ok(key));
        accepted = true;
    }
    if let Ok(pair) = AppKeyPair::from_private_jwk_json(json) {
        let again = AppKeyPair::from_private_jwk(&pair.to_private_jwk())
            .expect("an accepted app key pair round-trips");
        assert_eq!(again.public_key(), pair.public_key());
        accepted = true;
    }
    match LinkTokenKey::from_jwk_json(json) {
        Ok(key) => {
            let jwk = key.to_jwk();
            let again = LinkTokenKey::from_jwk(&jwk).expect("an accepted key round-trips");
            assert_eq!(again.kid(), key.kid());
            assert_eq!(again.to_jwk().k, jwk.k);
            // A single JWK is also a valid key set of one.
            let keys = LinkTokenKeys::from_json(json).expect("a single JWK is a key set");
            assert!(keys.find(key.kid()).is_some());
            accepted = true;
        }
        Err(error) => {
            std::hint::black_box(error.to_string());
        }
    }
    if LinkTokenKeys::from_json(json).is_ok() {
        accepted = true;
    }
    if let Ok(jwk) = serde_json::from_str::<EcPublicJwk>(json)
        && let Ok(key) = LinkVerificationKey::from_jwk(&jwk)
    {
        assert_eq!(key.to_jwk(), jwk);
        accepted = true;
    }
    accepted
}

/// The constructors from raw bytes (stored keys, SEC1 points).
fn raw_key_parsers(data: &[u8]) -> bool {
    let mut accepted = false;
    if let Ok(key) = LinkVerificationKey::from_sec1(data) {
        assert_eq!(data.len(), 65);
        assert!(!key.verify_es256(b"fuzz", &[0u8; 64]));
        accepted = true;
    }
    if let Some((d, public)) = data.split_first_chunk::<32>() {
        if let Ok(key) = LinkSigningKey::from_raw(d, public) {
            assert_eq!(key.public_sec1().as_slice(), public);
            accepted = true;
        }
        if let Ok(pair) = AppKeyPair::from_private_scalar(d) {
            assert_eq!(pair.kid(), pair.public_key().kid());
        }
    }
    accepted
}

// ---- ssi-proto messages --------------------------------------------------------------

/// Parses `data` as `T`; an accepted message must serialize and parse back equal.
fn parse<T>(data: &[u8]) -> Option<T>
where
    T: DeserializeOwned + Serialize + PartialEq + Debug,
{
    match ssi_proto::parse_json::<T>(data) {
        Ok(message) => {
            let bytes = serde_json::to_vec(&message).expect("a parsed message serializes");
            let back: T = ssi_proto::parse_json_limited(&bytes, usize::MAX)
                .unwrap_or_else(|e| panic!("a serialized message parses back: {e}"));
            assert_eq!(back, message);
            Some(message)
        }
        Err(error) => {
            std::hint::black_box(error.to_string());
            None
        }
    }
}

fn valid(result: Result<(), ValidationError>) -> bool {
    match result {
        Ok(()) => true,
        Err(error) => {
            std::hint::black_box(error.to_string());
            false
        }
    }
}

fn wire_enum<T: WireEnum>(text: &str) -> bool {
    match text.parse::<T>() {
        Ok(value) => {
            assert_eq!(value.as_str().parse::<T>(), Ok(value));
            assert!(T::NAMES.contains(&value.as_str()));
            true
        }
        Err(error) => {
            std::hint::black_box(error.to_string());
            false
        }
    }
}

/// Target `proto_messages`: the input is parsed as every `ssi-proto` request
/// (and response) type with `parse_json` and validated; as UTF-8 it is also
/// every enum and every single-field validator.
pub fn proto_messages(data: &[u8]) -> bool {
    let mut accepted = false;
    if let Some(m) = parse::<GetUserAndLinksRequest>(data) {
        accepted |= valid(m.validate());
    }
    if let Some(m) = parse::<LinkUserAccountRequest>(data) {
        accepted |= valid(m.validate());
    }
    if let Some(m) = parse::<ShowLoginSelectionRequest>(data) {
        accepted |= valid(m.validate());
    }
    if let Some(m) = parse::<SsiEventRequest>(data) {
        accepted |= valid(m.validate(NOW_MS));
        // The time arithmetic must hold at the ends of the range too.
        valid(m.validate(i64::MIN));
        valid(m.validate(i64::MAX));
    }
    if let Some(m) = parse::<ssi_proto::Link>(data) {
        accepted |= valid(m.validate());
    }
    if let Some(m) = parse::<Token>(data) {
        accepted |=
            valid(ssi_proto::validate_link_token(&m)) | valid(ssi_proto::validate_ssi_token(&m));
    }
    if let Some(m) = parse::<LoginNameValue>(data) {
        accepted |= valid(ssi_proto::validate_login_name(&m.login_name))
            & valid(ssi_proto::validate_link_id(&m.link_id));
    }
    if let Some(m) = parse::<GetUserAndLinksResponse>(data) {
        for link in m.links.iter().flatten() {
            valid(link.validate());
        }
        accepted = true;
    }
    accepted |= parse::<LinkUserAccountResponse>(data).is_some();
    accepted |= parse::<ShowLoginSelectionResponse>(data).is_some();
    accepted |= parse::<RecordMetricsEventResponse>(data).is_some();

    if let Ok(text) = str::from_utf8(data) {
        wire_enum::<RequestStatus>(text);
        wire_enum::<LinkAccountSuccessCode>(text);
        wire_enum::<UserSelection>(text);
        wire_enum::<SsiEvent>(text);
        wire_enum::<FailureReason>(text);
        wire_enum::<InternalEvent>(text);
        valid(ssi_proto::validate_identity_provider_name(text));
        valid(ssi_proto::validate_partner_user_id(text));
        valid(ssi_proto::validate_login_name(text));
        valid(ssi_proto::validate_link_id(text));
        valid(ssi_proto::validate_link_signing_key(text));
    }
    accepted
}
