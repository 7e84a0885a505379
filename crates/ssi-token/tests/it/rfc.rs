//! Published examples (ENGINEERING.md 3.2), inlined byte for byte:
//! RFC 7515 appendix A.3 (ES256 JWS), A.5 (unsecured JWS), and RFC 7518
//! appendix C (ECDH-ES key agreement and Concat KDF).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use ssi_token::{
    AppKeyPair, DeterministicSigner, EcPrivateJwk, EcPublicJwk, Es256Signer, InMemoryReplayStore,
    KeyError, LinkSigningKey, LinkTokenKeys, LinkVerificationKey, SSI_TOKEN_SCHEMA, SeededRandom,
    VerifyErrorKind, VerifyOptions, seal_link_signing_key, unseal_link_signing_key,
    verify_ssi_token,
};

use crate::sealed::{SealInput, concat_kdf, seal_raw, sec1_of};

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).expect("RFC text is base64url")
}

// RFC 7515 appendix A.3: "Example JWS Using ECDSA P-256 SHA-256".
const A3_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
const A3_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
const A3_D: &str = "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI";
const A3_SIGNING_INPUT: &str = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
const A3_SIGNATURE: &str =
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

// RFC 7515 appendix A.5: "Example Unsecured JWS" (the A.1 payload, alg none).
const A5_JWS: &str = "eyJhbGciOiJub25lIn0.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.";

fn a3_public() -> LinkVerificationKey {
    LinkVerificationKey::from_jwk(&EcPublicJwk {
        kty: "EC".into(),
        crv: "P-256".into(),
        x: A3_X.into(),
        y: A3_Y.into(),
    })
    .expect("the RFC public key")
}

fn a3_private(d: &str) -> EcPrivateJwk {
    EcPrivateJwk {
        kty: "EC".into(),
        crv: "P-256".into(),
        x: A3_X.into(),
        y: A3_Y.into(),
        d: d.into(),
    }
}

fn a3_signature() -> [u8; 64] {
    unb64(A3_SIGNATURE).try_into().expect("64 bytes")
}

#[test]
fn rfc7515_a3_the_payload_is_the_rfc_one() {
    let (header, payload) = A3_SIGNING_INPUT.split_once('.').expect("two parts");
    assert_eq!(unb64(header), br#"{"alg":"ES256"}"#);
    assert_eq!(
        unb64(payload),
        b"{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}"
    );
}

#[test]
fn rfc7515_a3_verifies() {
    assert!(a3_public().verify_es256(A3_SIGNING_INPUT.as_bytes(), &a3_signature()));
}

#[test]
fn rfc7515_a3_der_signature_is_refused() {
    // The same (r, s) as DER `SEQUENCE { INTEGER r, INTEGER s }`.
    let raw = a3_signature();
    let integer = |bytes: &[u8]| {
        let start = bytes.iter().position(|&b| b != 0).unwrap_or(31);
        let mut value = bytes[start..].to_vec();
        if value[0] & 0x80 != 0 {
            value.insert(0, 0);
        }
        let mut out = vec![0x02, value.len() as u8];
        out.extend(value);
        out
    };
    let mut body = integer(&raw[..32]);
    body.extend(integer(&raw[32..]));
    let mut der = vec![0x30, body.len() as u8];
    der.extend(body);
    assert!(der.len() >= 70 && der.len() <= 72);
    assert!(!a3_public().verify_es256(A3_SIGNING_INPUT.as_bytes(), &der));
}

#[test]
fn rfc7515_a3_flipped_bits_are_refused() {
    let public = a3_public();
    for bit in [0, 7, 255, 256, 300, 511] {
        let mut signature = a3_signature();
        signature[bit / 8] ^= 1 << (bit % 8);
        assert!(
            !public.verify_es256(A3_SIGNING_INPUT.as_bytes(), &signature),
            "signature bit {bit}"
        );
    }
    for at in [0, 10, A3_SIGNING_INPUT.len() - 1] {
        let mut input = A3_SIGNING_INPUT.as_bytes().to_vec();
        input[at] ^= 1;
        assert!(
            !public.verify_es256(&input, &a3_signature()),
            "input byte {at}"
        );
    }
    // Wrong lengths, zero values.
    let signature = a3_signature();
    assert!(!public.verify_es256(A3_SIGNING_INPUT.as_bytes(), &signature[..63]));
    let mut long = signature.to_vec();
    long.push(0);
    assert!(!public.verify_es256(A3_SIGNING_INPUT.as_bytes(), &long));
    assert!(!public.verify_es256(A3_SIGNING_INPUT.as_bytes(), &[0; 64]));
}

#[test]
fn rfc7515_a3_private_key_signs_for_the_public_key() {
    let key = LinkSigningKey::from_jwk(&a3_private(A3_D)).expect("the RFC private JWK");
    assert_eq!(key.verification_key(), a3_public());
    let message = A3_SIGNING_INPUT.as_bytes();
    // aws-lc (randomized nonce) and RFC 6979 (deterministic) signatures.
    assert!(a3_public().verify_es256(message, &key.sign_es256(message)));
    let deterministic = DeterministicSigner::new(&key);
    let signature = deterministic.sign_es256(message);
    assert_eq!(signature, deterministic.sign_es256(message));
    assert!(a3_public().verify_es256(message, &signature));
    // The JWK comes back out as the RFC wrote it.
    let jwk = key.to_jwk();
    assert_eq!(
        (jwk.x.as_str(), jwk.y.as_str(), jwk.d.as_str()),
        (A3_X, A3_Y, A3_D)
    );
}

#[test]
fn rfc7515_a3_with_a_foreign_d_is_refused() {
    // A d that is not the RFC's (a mistyped copy of it circulates): the
    // x,y = d·G check refuses it.
    let foreign = "jpsQnnGQmL-YBIffH1136cLvVM6BZQKCW9pxHjwazGI";
    assert_eq!(
        LinkSigningKey::from_jwk(&a3_private(foreign)).map(drop),
        Err(KeyError::PublicKeyMismatch)
    );
}

fn verify_as_ssi_token(token: &str) -> ssi_token::VerifyError {
    let keys = LinkTokenKeys::default();
    let options = VerifyOptions {
        link_token_keys: &keys,
        identity_provider_name: "idp.example",
        issuer: "https://ssi.example",
    };
    verify_ssi_token(
        SSI_TOKEN_SCHEMA,
        token,
        &options,
        1_300_819_000,
        &InMemoryReplayStore::new(),
    )
    .expect_err("not an SSI token")
}

#[test]
fn rfc7515_a3_presented_as_an_ssi_token_is_malformed() {
    let token = format!("{A3_SIGNING_INPUT}.{A3_SIGNATURE}");
    let error = verify_as_ssi_token(&token);
    assert_eq!(error.kind, VerifyErrorKind::MalformedToken);
    assert_eq!(error.detail, "header is not {alg, typ, kid}");
}

#[test]
fn rfc7515_a5_unsecured_jws_is_malformed() {
    let (header, _) = A5_JWS.split_once('.').expect("parts");
    assert_eq!(unb64(header), br#"{"alg":"none"}"#);
    let error = verify_as_ssi_token(A5_JWS);
    assert_eq!(error.kind, VerifyErrorKind::MalformedToken);
    // With typ and kid added, alg none is refused by name.
    let header = b64(json!({"alg": "none", "typ": "ssi+jwt", "kid": "k"})
        .to_string()
        .as_bytes());
    let payload = A5_JWS.split('.').nth(1).expect("payload");
    let error = verify_as_ssi_token(&format!("{header}.{payload}."));
    assert_eq!(error.kind, VerifyErrorKind::MalformedToken);
    assert_eq!(error.detail, "alg is not ES256");
}

// RFC 7518 appendix C: "Example ECDH-ES Key Agreement Computation".
const C_ALICE_X: &str = "gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0";
const C_ALICE_Y: &str = "SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps";
const C_ALICE_D: &str = "0_NxaRPUMQoAJt50Gz8YiTr8gRTwyEaCumd-MToTmIo";
const C_BOB_X: &str = "weNJy2HscCSM6AEDTDg04biOvhFhyyWvOHQfeF_PxMQ";
const C_BOB_Y: &str = "e8lnCO-AlStT-NJVX-crhB7QRYhiix03illJOVAOyck";
const C_BOB_D: &str = "VEmDZpDXXK8p8N0Cndsxs924q6nS1RXFASRl6BfUqdw";
const C_Z: [u8; 32] = [
    158, 86, 217, 29, 129, 113, 53, 211, 114, 131, 66, 131, 191, 132, 38, 156, 251, 49, 110, 163,
    218, 128, 106, 72, 246, 218, 167, 121, 140, 254, 144, 196,
];
const C_DERIVED_KEY: &str = "VqqN6vgjbSBcIijNcacQGg";

fn scalar(d: &str) -> [u8; 32] {
    unb64(d).try_into().expect("32 bytes")
}

#[test]
fn rfc7518_c_keys_are_consistent() {
    for (x, y, d) in [
        (C_ALICE_X, C_ALICE_Y, C_ALICE_D),
        (C_BOB_X, C_BOB_Y, C_BOB_D),
    ] {
        let jwk = EcPrivateJwk {
            kty: "EC".into(),
            crv: "P-256".into(),
            x: x.into(),
            y: y.into(),
            d: d.into(),
        };
        LinkSigningKey::from_jwk(&jwk).expect("x,y = d·G");
    }
}

#[test]
fn rfc7518_c_shared_secret_both_ways() {
    let bob = AppKeyPair::from_private_scalar(&scalar(C_BOB_D)).expect("Bob");
    let alice = AppKeyPair::from_private_scalar(&scalar(C_ALICE_D)).expect("Alice");
    assert_eq!(
        bob.ecdh_shared_secret(&sec1_of(C_ALICE_X, C_ALICE_Y)),
        Some(C_Z.to_vec())
    );
    assert_eq!(
        alice.ecdh_shared_secret(&sec1_of(C_BOB_X, C_BOB_Y)),
        Some(C_Z.to_vec())
    );
}

#[test]
fn rfc7518_c_concat_kdf() {
    // The test-side Concat KDF against the RFC's derived key (A128GCM, 128
    // bits, apu "Alice", apv "Bob").
    assert_eq!(b64(b"Alice"), "QWxpY2U");
    assert_eq!(b64(b"Bob"), "Qm9i");
    let derived = concat_kdf(&C_Z, "A128GCM", b"Alice", b"Bob", 128);
    assert_eq!(b64(&derived), C_DERIVED_KEY);
}

/// The crate's Concat KDF is private: it is checked through a full
/// ECDH-ES+A256KW decryption of a JWE built with the RFC's keys and party
/// info by the test encryptor, whose KDF matches the RFC value above.
#[test]
fn rfc7518_c_keys_through_a_sealed_link_signing_key() {
    let bob = AppKeyPair::from_private_scalar(&scalar(C_BOB_D)).expect("Bob");
    let link_key = LinkSigningKey::generate(&mut SeededRandom::new(b"rfc7518"));
    let plaintext = serde_json::to_vec(&link_key.to_jwk()).expect("JSON");
    let bob_point = sec1_of(C_BOB_X, C_BOB_Y);
    let input = SealInput {
        recipient: &bob_point,
        ephemeral: scalar(C_ALICE_D),
        plaintext,
        header_suffix: "",
    };
    let sealed = seal_raw(&input, bob.kid(), |header| {
        header.insert("apu".into(), json!("QWxpY2U"));
        header.insert("apv".into(), json!("Qm9i"));
    });
    // The epk in the header is the RFC's Alice key.
    let header: serde_json::Value =
        serde_json::from_slice(&unb64(sealed.split('.').next().expect("header"))).expect("JSON");
    assert_eq!(header["epk"]["x"], C_ALICE_X);
    assert_eq!(header["epk"]["y"], C_ALICE_Y);
    let unsealed = unseal_link_signing_key(&sealed, &[&bob]).expect("the crate's KDF agrees");
    assert_eq!(unsealed.private_scalar(), link_key.private_scalar());

    // apu and apv are bound into the KEK: swapping them breaks the unwrap.
    let tampered = {
        let mut parts: Vec<String> = sealed.split('.').map(str::to_owned).collect();
        let header = String::from_utf8(unb64(&parts[0])).expect("UTF-8");
        let swapped = header
            .replace("QWxpY2U", "@apu@")
            .replace("Qm9i", "QWxpY2U")
            .replace("@apu@", "Qm9i");
        parts[0] = b64(swapped.as_bytes());
        parts.join(".")
    };
    let error = unseal_link_signing_key(&tampered, &[&bob]).expect_err("apu/apv swapped");
    assert_eq!(error.detail(), "key unwrap failed");

    // And the crate's own sealing to Bob unseals with Bob only.
    let sealed = seal_link_signing_key(&link_key, &bob.public_key(), &mut SeededRandom::new(b"s"));
    assert!(unseal_link_signing_key(&sealed, &[&bob]).is_ok());
    let alice = AppKeyPair::from_private_scalar(&scalar(C_ALICE_D)).expect("Alice");
    assert!(unseal_link_signing_key(&sealed, &[&alice]).is_err());
}
