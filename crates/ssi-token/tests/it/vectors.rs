//! The published test vectors, `spec/vectors/*.json` (owner: token spec and
//! vectors). The checked-in files must equal `ssi_token::vectors::generate()`
//! byte for byte, and every case in them must behave as stated when run
//! through the public API. The behaviour checks read the JSON files only, so
//! they prove that the files alone suffice to check an implementation.
//!
//! Regenerate with `SSI_UPDATE_VECTORS=1 cargo test -p ssi-token vectors`
//! (or `cargo run -p ssi -- token vectors --out spec/vectors`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use ssi_token::{
    AppKeyPair, InMemoryReplayStore, LinkTokenError, LinkTokenKeys, ReplayStore, VerifyErrorKind,
    VerifyOptions, read_link_token, unseal_link_signing_key, vectors, verify_ssi_token,
};

const REGENERATE: &str = "SSI_UPDATE_VECTORS=1 cargo test -p ssi-token vectors \
                          (or: cargo run -p ssi -- token vectors --out spec/vectors)";

fn spec_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../spec")
}

fn vectors_dir() -> PathBuf {
    spec_dir().join("vectors")
}

fn updating() -> bool {
    std::env::var_os("SSI_UPDATE_VECTORS").is_some_and(|v| v == "1")
}

fn load(name: &str) -> Value {
    if updating() {
        // The files are being rewritten concurrently: read what goes in them.
        let (_, text) = vectors::generate()
            .into_iter()
            .find(|(file, _)| *file == name)
            .expect("a generated file");
        return serde_json::from_str(&text).expect("generated JSON");
    }
    let path = vectors_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; regenerate with {REGENERATE}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"))
}

fn cases(file: &Value) -> &[Value] {
    file["cases"].as_array().expect("a cases array")
}

fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} is not a string in {value}"))
}

fn int(value: &Value, field: &str) -> i64 {
    value[field]
        .as_i64()
        .unwrap_or_else(|| panic!("{field} is not an integer in {value}"))
}

fn string_map(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .expect("ctx is an object")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("a string").to_owned()))
        .collect()
}

/// Runs `check` on every case, then fails once with every mismatch.
fn check_all(file: &Value, check: impl Fn(&Value) -> Result<(), String>) {
    let failures: Vec<String> = cases(file)
        .iter()
        .filter_map(|case| {
            check(case)
                .err()
                .map(|why| format!("{}: {why}", text(case, "name")))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn expect_eq<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, expected {want:?}"))
    }
}

#[test]
fn checked_in_vectors_equal_generate() {
    let generated = vectors::generate();
    let dir = vectors_dir();
    if updating() {
        std::fs::create_dir_all(&dir).expect("create spec/vectors");
        for (name, content) in &generated {
            let temporary = dir.join(format!(".{name}.tmp"));
            std::fs::write(&temporary, content).expect("write a vector file");
            std::fs::rename(&temporary, dir.join(name)).expect("replace a vector file");
        }
    }
    for (name, content) in &generated {
        let path = dir.join(name);
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == *content,
            "spec/vectors/{name} differs from ssi_token::vectors::generate(); regenerate it with {REGENERATE}"
        );
    }
    let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
        .expect("spec/vectors exists")
        .map(|entry| entry.expect("a directory entry").file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json"))
        .collect();
    let expected: BTreeSet<String> = generated.iter().map(|(n, _)| (*n).to_owned()).collect();
    assert_eq!(
        on_disk, expected,
        "spec/vectors holds other files than generate() makes"
    );
}

#[test]
fn vector_files_are_self_describing() {
    for name in ["ssi-tokens.json", "sealed-keys.json", "link-tokens.json"] {
        let file = load(name);
        assert_eq!(
            text(&file, "generated_by"),
            "cargo run -p ssi -- token vectors --out spec/vectors"
        );
        assert!(!text(&file, "format").is_empty());
        let mut names = BTreeSet::new();
        for case in cases(&file) {
            assert!(
                names.insert(text(case, "name")),
                "{name}: duplicate case name"
            );
            assert!(!text(case, "description").is_empty());
            let expected = &case["expected"];
            let valid = expected["valid"].as_bool().expect("expected.valid");
            assert_eq!(valid, expected.get("error").is_none(), "{name}: {case}");
            assert!(
                expected.as_object().expect("an object").len() > 1,
                "{name}: {case}"
            );
        }
        assert!(
            cases(&file)
                .iter()
                .any(|case| case["expected"]["valid"] == true),
            "{name} has no valid case"
        );
    }
}

fn link_token_keys(case: &Value) -> LinkTokenKeys {
    LinkTokenKeys::from_json(&case["link_token_keys"].to_string())
        .expect("link_token_keys is a JWK set")
}

fn check_ssi_case(case: &Value) -> Result<(), String> {
    let keys = link_token_keys(case);
    let options = VerifyOptions {
        link_token_keys: &keys,
        identity_provider_name: text(case, "identity_provider_name"),
        issuer: text(case, "issuer"),
    };
    let now = int(case, "now");
    let store = InMemoryReplayStore::new();
    for jti in case["seen_jtis"].as_array().expect("seen_jtis") {
        let jti = jti.as_str().expect("a jti");
        assert!(store.check_and_remember(jti, i64::MAX, now));
    }
    let token = &case["ssi_token"];
    let result = verify_ssi_token(
        text(token, "schema"),
        text(token, "token"),
        &options,
        now,
        &store,
    );
    let expected = &case["expected"];
    if expected["valid"] == true {
        let verified = result.map_err(|e| format!("expected valid, got {e}"))?;
        let claims = &expected["claims"];
        expect_eq(
            "partnerUserId",
            verified.partner_user_id.as_str(),
            text(claims, "partnerUserId"),
        )?;
        expect_eq(
            "platformUserId",
            verified.platform_user_id.as_str(),
            text(claims, "platformUserId"),
        )?;
        expect_eq("linkId", verified.link_id.as_str(), text(claims, "linkId"))?;
        expect_eq(
            "deviceId",
            verified.device_id.as_str(),
            text(claims, "deviceId"),
        )?;
        expect_eq("ctx", &verified.ctx, &string_map(&claims["ctx"]))?;
        expect_eq("linkedAt", verified.linked_at, int(claims, "linkedAt"))?;
        expect_eq("issuedAt", verified.issued_at, int(claims, "issuedAt"))?;
        expect_eq("expiresAt", verified.expires_at, int(claims, "expiresAt"))?;
        expect_eq("jti", verified.jti.as_str(), text(claims, "jti"))?;
        // Accepted once: the same token again is a replay.
        let again = verify_ssi_token(
            text(token, "schema"),
            text(token, "token"),
            &options,
            now,
            &store,
        );
        expect_eq(
            "second verification",
            again.map(|_| ()).map_err(|e| e.kind),
            Err(VerifyErrorKind::Replayed),
        )
    } else {
        let error = match result {
            Ok(_) => return Err("verified, but the vector expects a failure".to_owned()),
            Err(error) => error,
        };
        expect_eq("error", error.kind.code(), text(expected, "error"))?;
        expect_eq("step", i64::from(error.kind.step()), int(expected, "step"))
    }
}

#[test]
fn ssi_token_vectors_verify_as_stated() {
    check_all(&load("ssi-tokens.json"), check_ssi_case);
}

#[test]
fn every_verify_error_kind_has_a_vector() {
    let file = load("ssi-tokens.json");
    let codes: BTreeSet<&str> = cases(&file)
        .iter()
        .filter_map(|case| case["expected"]["error"].as_str())
        .collect();
    for kind in VerifyErrorKind::ALL {
        assert!(
            codes.contains(kind.code()),
            "ssi-tokens.json has no case for {}",
            kind.code()
        );
    }
}

fn b64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).expect("base64url")
}

fn check_sealed_case(case: &Value) -> Result<(), String> {
    let app_keys: Vec<AppKeyPair> = case["app_keys"]
        .as_array()
        .expect("app_keys")
        .iter()
        .map(|jwk| AppKeyPair::from_private_jwk_json(&jwk.to_string()).expect("an app JWK"))
        .collect();
    for (key, jwk) in app_keys
        .iter()
        .zip(case["app_keys"].as_array().expect("app_keys"))
    {
        // The kid is the RFC 7638 thumbprint of the public key.
        let d: [u8; 32] = b64(text(jwk, "d")).try_into().expect("a 32-byte d");
        let recomputed = AppKeyPair::from_private_scalar(&d).expect("a valid scalar");
        expect_eq("app key kid", key.kid(), recomputed.kid())?;
    }
    let refs: Vec<&AppKeyPair> = app_keys.iter().collect();
    let result = unseal_link_signing_key(text(case, "sealed_key"), &refs);
    let expected = &case["expected"];
    if expected["valid"] == true {
        let key = result.map_err(|e| format!("expected valid, got {e}"))?;
        expect_eq(
            "verification_key",
            &serde_json::to_value(key.verification_key().to_jwk()).expect("a JWK"),
            &expected["verification_key"],
        )?;
        expect_eq(
            "signing_key",
            &serde_json::to_value(key.to_jwk()).expect("a JWK"),
            &expected["signing_key"],
        )?;
        check_sealed_intermediate(
            text(case, "sealed_key"),
            &app_keys,
            &expected["intermediate"],
        )
    } else {
        let error = match result {
            Ok(_) => return Err("unsealed, but the vector expects a failure".to_owned()),
            Err(error) => error,
        };
        expect_eq("error", error.request_status(), text(expected, "error"))
    }
}

/// AES-256-GCM decryption with a detached tag.
fn gcm_open(key: &[u8], iv: &[u8], aad: &[u8], ciphertext: &[u8], tag: &[u8]) -> Vec<u8> {
    use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).expect("a 256-bit key"));
    let nonce = Nonce::try_assume_unique_for_key(iv).expect("a 96-bit iv");
    let mut in_out = [ciphertext, tag].concat();
    let plain = key
        .open_in_place(nonce, Aad::from(aad), &mut in_out)
        .expect("AES-GCM opens");
    plain.to_vec()
}

/// The five parts of a compact JWE, the header also decoded as JSON.
fn jwe_parts(token: &str) -> (Value, Vec<Vec<u8>>) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 5, "a compact JWE");
    let header = serde_json::from_slice(&b64(parts[0])).expect("a JSON header");
    (header, parts.iter().map(|part| b64(part)).collect())
}

/// Recomputes ECDH, the Concat KDF (RFC 7518 section 4.6.2, empty apu/apv),
/// the AES key unwrap and the content decryption, from the spec alone.
fn check_sealed_intermediate(
    sealed: &str,
    app_keys: &[AppKeyPair],
    want: &Value,
) -> Result<(), String> {
    let (header, parts) = jwe_parts(sealed);
    let app_key = app_keys
        .iter()
        .find(|key| key.kid() == text(&header, "kid"))
        .expect("the app key named by kid");
    let epk = &header["epk"];
    let point = [&[4u8][..], &b64(text(epk, "x")), &b64(text(epk, "y"))].concat();
    let z = app_key.ecdh_shared_secret(&point).expect("ECDH");
    expect_eq(
        "shared_secret",
        URL_SAFE_NO_PAD.encode(&z),
        text(want, "shared_secret").to_owned(),
    )?;
    let algorithm = b"ECDH-ES+A256KW";
    let kdf_input = [
        &1u32.to_be_bytes()[..],
        &z,
        &(algorithm.len() as u32).to_be_bytes(),
        algorithm,
        &0u32.to_be_bytes(),
        &0u32.to_be_bytes(),
        &256u32.to_be_bytes(),
    ]
    .concat();
    let kek = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &kdf_input);
    expect_eq(
        "kek",
        URL_SAFE_NO_PAD.encode(kek.as_ref()),
        text(want, "kek").to_owned(),
    )?;
    let unwrapping = aws_lc_rs::key_wrap::AesKek::new(&aws_lc_rs::key_wrap::AES_256, kek.as_ref())
        .expect("a 256-bit KEK");
    let mut cek = [0u8; 40];
    use aws_lc_rs::key_wrap::KeyWrap;
    let cek = unwrapping
        .unwrap(&parts[1], &mut cek)
        .expect("the CEK unwraps")
        .to_vec();
    expect_eq(
        "cek",
        URL_SAFE_NO_PAD.encode(&cek),
        text(want, "cek").to_owned(),
    )?;
    let aad = sealed.split('.').next().expect("a header").as_bytes();
    let plaintext = gcm_open(&cek, &parts[2], aad, &parts[3], &parts[4]);
    expect_eq(
        "plaintext",
        String::from_utf8(plaintext).expect("UTF-8").as_str(),
        text(want, "plaintext"),
    )
}

/// Recomputes the A256GCMKW key unwrap and the content decryption.
fn check_link_intermediate(token: &str, case: &Value, want: &Value) -> Result<(), String> {
    let (header, parts) = jwe_parts(token);
    let kid = text(&header, "kid");
    let jwk = case["link_token_keys"]["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|jwk| text(jwk, "kid") == kid)
        .expect("the key named by kid");
    let cek = gcm_open(
        &b64(text(jwk, "k")),
        &b64(text(&header, "iv")),
        b"",
        &parts[1],
        &b64(text(&header, "tag")),
    );
    expect_eq(
        "cek",
        URL_SAFE_NO_PAD.encode(&cek),
        text(want, "cek").to_owned(),
    )?;
    let aad = token.split('.').next().expect("a header").as_bytes();
    let plaintext = gcm_open(&cek, &parts[2], aad, &parts[3], &parts[4]);
    expect_eq(
        "plaintext",
        String::from_utf8(plaintext).expect("UTF-8").as_str(),
        text(want, "plaintext"),
    )
}

#[test]
fn sealed_key_vectors_unseal_as_stated() {
    let file = load("sealed-keys.json");
    check_all(&file, check_sealed_case);
    let statuses: BTreeSet<&str> = cases(&file)
        .iter()
        .filter_map(|case| case["expected"]["error"].as_str())
        .collect();
    assert_eq!(
        statuses,
        BTreeSet::from([
            "INVALID_LINK_SIGNING_KEY",
            "INVALID_LINK_SIGNING_KEY_ENCRYPTION"
        ])
    );
}

fn check_link_token_case(case: &Value) -> Result<(), String> {
    let keys = link_token_keys(case);
    let token = &case["link_token"];
    expect_eq("schema", text(token, "schema"), "LINK-TOKEN-1.0")?;
    let result = read_link_token(text(token, "token"), &keys);
    let expected = &case["expected"];
    if expected["valid"] == true {
        let claims = result.map_err(|e| format!("expected valid, got {e}"))?;
        let want = &expected["claims"];
        expect_eq(
            "partnerUserId",
            claims.partner_user_id.as_str(),
            text(want, "partnerUserId"),
        )?;
        expect_eq(
            "platformUserId",
            claims.platform_user_id.as_str(),
            text(want, "platformUserId"),
        )?;
        expect_eq(
            "vKey",
            &serde_json::to_value(claims.verification_key.to_jwk()).expect("a JWK"),
            &want["vKey"],
        )?;
        expect_eq("iat", claims.issued_at, int(want, "iat"))?;
        expect_eq("ctx", &claims.ctx, &string_map(&want["ctx"]))?;
        check_link_intermediate(text(token, "token"), case, &expected["intermediate"])
    } else {
        let kind = match result {
            Ok(_) => return Err("read, but the vector expects a failure".to_owned()),
            Err(LinkTokenError::Undecryptable { .. }) => VerifyErrorKind::LinkTokenUndecryptable,
            Err(LinkTokenError::InvalidPayload { .. }) => VerifyErrorKind::LinkTokenInvalid,
        };
        expect_eq("error", kind.code(), text(expected, "error"))?;
        expect_eq("step", i64::from(kind.step()), int(expected, "step"))
    }
}

#[test]
fn link_token_vectors_read_as_stated() {
    check_all(&load("link-tokens.json"), check_link_token_case);
}

#[test]
fn spec_readme_documents_every_code_and_file() {
    let readme = std::fs::read_to_string(spec_dir().join("README.md")).expect("spec/README.md");
    let codes = VerifyErrorKind::ALL.map(VerifyErrorKind::code);
    let others = [
        "INVALID_LINK_SIGNING_KEY_ENCRYPTION",
        "INVALID_LINK_SIGNING_KEY",
        "ssi-tokens.json",
        "sealed-keys.json",
        "link-tokens.json",
    ];
    for needle in codes.iter().chain(others.iter()) {
        assert!(
            readme.contains(needle),
            "spec/README.md never mentions {needle}"
        );
    }
}

/// The worked example in spec/README.md quotes the current vectors.
#[test]
fn spec_readme_worked_example_is_current() {
    let readme = std::fs::read_to_string(spec_dir().join("README.md")).expect("spec/README.md");
    let ssi = load("ssi-tokens.json");
    let valid = cases(&ssi)
        .iter()
        .find(|case| text(case, "name") == "valid")
        .expect("the case valid");
    let token = text(&valid["ssi_token"], "token");
    let parts: Vec<&str> = token.split('.').collect();
    let header = String::from_utf8(b64(parts[0])).expect("UTF-8");
    let payload: Value = serde_json::from_slice(&b64(parts[1])).expect("JSON");
    let ltk = text(&payload, "ltk");
    let (ltk_header, _) = jwe_parts(ltk);
    let links = load("link-tokens.json");
    let link = &cases(&links)[0];
    let sealed = load("sealed-keys.json");
    let sealed = &cases(&sealed)[0];
    let (sealed_header, _) = jwe_parts(text(sealed, "sealed_key"));
    let mut quoted = vec![
        header,
        ltk[..80].to_owned(),
        ltk[ltk.len() - 22..].to_owned(),
        text(&link["expected"]["intermediate"], "cek").to_owned(),
        text(&ltk_header, "iv").to_owned(),
        text(&ltk_header, "tag").to_owned(),
        text(&ltk_header, "kid").to_owned(),
        text(&valid["link_token_keys"]["keys"][0], "k").to_owned(),
        text(&sealed_header, "kid").to_owned(),
        text(&sealed_header["epk"], "x").to_owned(),
        text(&sealed_header["epk"], "y").to_owned(),
        text(&sealed["expected"]["signing_key"], "d").to_owned(),
    ];
    for claim in ["sub", "lid", "dev", "jti"] {
        quoted.push(format!("\"{claim}\": \"{}\"", text(&payload, claim)));
    }
    for member in ["x", "y"] {
        quoted.push(text(&link["expected"]["claims"]["vKey"], member).to_owned());
    }
    for needle in quoted {
        assert!(
            readme.contains(&needle),
            "spec/README.md, section 9 (worked example), does not quote {needle}: update it from the vectors"
        );
    }
}

/// An implementation we did not write in Rust (Python's `cryptography`, written
/// from spec/README.md alone) agrees with every case of the published vectors.
#[test]
fn independent_python_verifier_agrees_with_every_vector() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let output = std::process::Command::new("python3")
        .arg(root.join("interop/python/verify_vectors.py"))
        .arg(root.join("spec/vectors"))
        .output()
        .expect("python3 must be on PATH (scripts/test.sh installs the `cryptography` package)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the Python verifier disagrees (run `python3 -m pip install cryptography` if it is missing):\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("mismatches: 0"), "{stdout}");
    assert!(!stdout.contains("checked: 0 "), "{stdout}");
}
