//! Interoperability with a JOSE implementation we did not write: panva/jose
//! on Node.js, driven through `interop/node/check.mjs`. Each test writes a
//! job file, runs `node check.mjs JOB.json` and reads one JSON object back.
//!
//! Node.js and `interop/node/node_modules` are prerequisites, installed by
//! `npm ci --prefix interop/node`; without them these tests fail (they never
//! skip), so that a green run always means jose was really consulted.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use ssi_token::*;

const ISSUER: &str = "https://ssi.example";
const IDP: &str = "idp.example";
/// When the tokens are minted; verification happens a little later.
const MINTED_AT: i64 = 1_767_000_000;
const SETUP_HINT: &str =
    "run `npm ci --prefix interop/node` from the repository root (needs Node.js >= 20 on PATH)";

fn node_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/node")
}

/// Runs `node check.mjs` on `job` and returns its JSON answer; panics with
/// jose's message if the operation itself failed.
fn jose(job: &Value) -> Value {
    let dir = node_dir();
    assert!(
        dir.join("node_modules/jose/package.json").is_file(),
        "jose is not installed in {}: {SETUP_HINT}",
        dir.display()
    );
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let job_path = std::env::temp_dir().join(format!(
        "ssi-token-interop-{}-{}.json",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&job_path, serde_json::to_vec(job).unwrap()).unwrap();
    let output = Command::new("node")
        .arg(dir.join("check.mjs"))
        .arg(&job_path)
        .current_dir(&dir)
        .output();
    let _ = std::fs::remove_file(&job_path);
    let output = match output {
        Ok(output) => output,
        Err(error) if error.kind() == ErrorKind::NotFound => {
            panic!("`node` is not on PATH: {SETUP_HINT}")
        }
        Err(error) => panic!("cannot run node: {error}"),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "check.mjs {} failed ({}):\n{stdout}\n{stderr}",
        job["op"],
        output.status
    );
    let answer: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("check.mjs printed no JSON ({e}):\n{stdout}\n{stderr}"));
    assert_eq!(answer["ok"], true, "{answer}");
    answer
}

/// jose's verdicts on `tokens`, one per token, in order.
fn jose_verify(
    key: &LinkTokenKey,
    idp: &str,
    issuer: &str,
    now: i64,
    tokens: &[&str],
) -> Vec<Value> {
    let answer = jose(&json!({
        "op": "verify-ssi",
        "linkTokenKey": key.to_jwk(),
        "idp": idp,
        "issuer": issuer,
        "now": now,
        "tokens": tokens,
    }));
    assert!(
        answer["library"].as_str().unwrap().starts_with("jose 6."),
        "{answer}"
    );
    let results = answer["results"].as_array().unwrap().clone();
    assert_eq!(results.len(), tokens.len());
    results
}

fn ours_verify(
    key: &LinkTokenKey,
    idp: &str,
    issuer: &str,
    now: i64,
    token: &str,
) -> Result<VerifiedSsiToken, VerifyError> {
    let keys = LinkTokenKeys::single(copy_key(key));
    let options = VerifyOptions {
        link_token_keys: &keys,
        identity_provider_name: idp,
        issuer,
    };
    verify_ssi_token(
        SSI_TOKEN_SCHEMA,
        token,
        &options,
        now,
        &InMemoryReplayStore::new(),
    )
}

fn copy_key(key: &LinkTokenKey) -> LinkTokenKey {
    LinkTokenKey::from_jwk(&key.to_jwk()).unwrap()
}

fn json_of<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap()
}

fn mint(
    link_token: &str,
    subject: &str,
    link_id: &str,
    signer: &dyn Es256Signer,
    now: i64,
    rng: &mut SeededRandom,
) -> String {
    let request = MintRequest {
        issuer: ISSUER,
        audience: IDP,
        subject,
        link_id,
        link_token,
        device_id: "dev-1",
    };
    mint_ssi_token(&request, signer, now, rng)
}

/// A compact JWS over arbitrary header and claims, for tokens `mint_ssi_token`
/// would never make.
fn sign_raw(header: &Value, claims: &Value, signer: &dyn Es256Signer) -> String {
    let b64 = |value: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap());
    let input = format!("{}.{}", b64(header), b64(claims));
    let signature = URL_SAFE_NO_PAD.encode(signer.sign_es256(input.as_bytes()));
    format!("{input}.{signature}")
}

fn decode_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

type Ctx<'a> = &'a [(&'a str, &'a str)];

#[test]
fn jose_verifies_our_ssi_tokens() {
    let mut rng = SeededRandom::new(b"interop: jose verifies");
    let app = AppKeyPair::generate(&mut rng);
    let ltk = LinkTokenKey::generate(&mut rng);
    // (partnerUserId, platformUserId, ctx)
    let users: [(&str, &str, Ctx); 4] = [
        ("user-1", "plat-1", &[]),
        (
            "ユーザー-ñ-🦀",
            "plat-é-2",
            &[("plan", "gold"), ("名前", "値 ✓")],
        ),
        (
            r#"o'brien "quoted" \ back/slash"#,
            "plat-3",
            &[("empty", "")],
        ),
        (
            "user-4\u{0}\t\n",
            "plat-\u{10FFFF}",
            &[("k", "line\nbreak")],
        ),
    ];
    let mut tokens = Vec::new();
    let mut expected = Vec::new();
    for (index, (partner_user, platform_user, ctx)) in users.iter().enumerate() {
        let ctx: BTreeMap<String, String> = ctx
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let linked_at = MINTED_AT - 86_400 * (index as i64 + 1);
        let issued = issue_link(
            partner_user,
            platform_user,
            ctx.clone(),
            &ltk,
            &app.public_key(),
            linked_at,
            &mut rng,
        );
        let signing = unseal_link_signing_key(&issued.sealed_signing_key, &[&app]).unwrap();
        let link_id = format!("link-{index}-ŁØ");
        let minted_at = MINTED_AT + index as i64;
        // Every other token is signed with RFC 6979 nonces (p256) instead of aws-lc.
        let token = if index % 2 == 0 {
            mint(
                &issued.link_token,
                platform_user,
                &link_id,
                &signing,
                minted_at,
                &mut rng,
            )
        } else {
            mint(
                &issued.link_token,
                platform_user,
                &link_id,
                &DeterministicSigner::new(&signing),
                minted_at,
                &mut rng,
            )
        };
        let ours = ours_verify(&ltk, IDP, ISSUER, MINTED_AT + 30, &token).unwrap();
        assert_eq!(ours.partner_user_id, *partner_user);
        tokens.push(token);
        expected.push(json!({
            "ok": true,
            "partnerUserId": partner_user,
            "platformUserId": platform_user,
            "linkId": link_id,
            "deviceId": "dev-1",
            "ctx": ctx,
            "linkedAt": linked_at,
            "issuedAt": minted_at,
            "error": null,
        }));
    }
    let tokens: Vec<&str> = tokens.iter().map(String::as_str).collect();
    let results = jose_verify(&ltk, IDP, ISSUER, MINTED_AT + 30, &tokens);
    for (result, expected) in results.iter().zip(&expected) {
        assert_eq!(result, expected);
    }
}

#[test]
fn jose_refuses_what_we_refuse_for_the_same_reason() {
    let mut rng = SeededRandom::new(b"interop: refusals");
    let app = AppKeyPair::generate(&mut rng);
    let ltk = LinkTokenKey::generate(&mut rng);
    let other_ltk = LinkTokenKey::generate(&mut rng);
    let issued = issue_link(
        "user-1",
        "plat-1",
        BTreeMap::new(),
        &ltk,
        &app.public_key(),
        1_000,
        &mut rng,
    );
    let signing = unseal_link_signing_key(&issued.sealed_signing_key, &[&app]).unwrap();
    let stranger = LinkSigningKey::generate(&mut rng);
    let valid = mint(
        &issued.link_token,
        "plat-1",
        "L1",
        &signing,
        MINTED_AT,
        &mut rng,
    );
    let header = decode_part(&valid, 0);
    let claims = decode_part(&valid, 1);
    let with_claims = |changes: Value| {
        let mut claims = claims.clone();
        claims
            .as_object_mut()
            .unwrap()
            .extend(changes.as_object().unwrap().clone());
        claims
    };
    let tampered_payload = {
        let forged = sign_raw(&header, &with_claims(json!({"sub": "plat-2"})), &signing);
        let parts: Vec<&str> = valid.split('.').collect();
        format!(
            "{}.{}.{}",
            parts[0],
            forged.split('.').nth(1).unwrap(),
            parts[2]
        )
    };
    let tampered_signature = {
        let (input, signature) = valid.rsplit_once('.').unwrap();
        let mut signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
        signature[7] ^= 0x01;
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    };
    let alg_none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"ssi+jwt","kid":"L1"}"#),
        valid.split('.').nth(1).unwrap()
    );
    let lifetime = MINTED_AT + SSI_TOKEN_LIFETIME_SECS;
    let skew = CLOCK_SKEW_SECS;
    let at = |now: i64| Case {
        now,
        ..Case::new(&valid, &ltk)
    };
    let token = |token: String| Case::new(&token, &ltk);
    let cases = [
        ("valid", at(MINTED_AT), None),
        ("last second before expiry", at(lifetime + skew - 1), None),
        ("expired per now", at(lifetime + skew), Some("EXPIRED")),
        ("earliest accepted now", at(MINTED_AT - skew), None),
        (
            "issued in the future",
            at(MINTED_AT - skew - 1),
            Some("ISSUED_IN_FUTURE"),
        ),
        (
            "tampered payload",
            token(tampered_payload),
            Some("BAD_SIGNATURE"),
        ),
        (
            "tampered signature",
            token(tampered_signature),
            Some("BAD_SIGNATURE"),
        ),
        (
            "signed by another key",
            token(mint(
                &issued.link_token,
                "plat-1",
                "L1",
                &stranger,
                MINTED_AT,
                &mut rng,
            )),
            Some("BAD_SIGNATURE"),
        ),
        ("alg none", token(alg_none), Some("MALFORMED_TOKEN")),
        (
            "jku header",
            token(sign_raw(
                &json!({"alg": "ES256", "typ": "ssi+jwt", "kid": "L1", "jku": "https://evil.example"}),
                &claims,
                &signing,
            )),
            Some("MALFORMED_TOKEN"),
        ),
        (
            "lid differs from kid",
            token(sign_raw(
                &header,
                &with_claims(json!({"lid": "L2"})),
                &signing,
            )),
            Some("MALFORMED_CLAIMS"),
        ),
        (
            "iat as a string",
            token(sign_raw(
                &header,
                &with_claims(json!({"iat": MINTED_AT.to_string()})),
                &signing,
            )),
            Some("MALFORMED_CLAIMS"),
        ),
        (
            "iat not an integer",
            token(sign_raw(
                &header,
                &with_claims(json!({"iat": MINTED_AT as f64 + 0.5})),
                &signing,
            )),
            Some("MALFORMED_CLAIMS"),
        ),
        (
            "another partner's link-token key",
            Case::new(&valid, &other_ltk),
            Some("LINK_TOKEN_UNDECRYPTABLE"),
        ),
        (
            "sub of another user",
            token(mint(
                &issued.link_token,
                "plat-2",
                "L1",
                &signing,
                MINTED_AT,
                &mut rng,
            )),
            Some("SUBJECT_MISMATCH"),
        ),
        (
            "another IDP",
            Case {
                idp: "other-idp.example",
                ..at(MINTED_AT)
            },
            Some("WRONG_AUDIENCE"),
        ),
        (
            "another issuer",
            Case {
                issuer: "https://evil.example",
                ..at(MINTED_AT)
            },
            Some("WRONG_ISSUER"),
        ),
        (
            "lifetime over 300 s",
            token(sign_raw(
                &header,
                &with_claims(json!({"exp": lifetime + 1})),
                &signing,
            )),
            Some("BAD_LIFETIME"),
        ),
    ];
    for (what, case, expected) in &cases {
        let ours = ours_verify(case.key, case.idp, case.issuer, case.now, &case.token)
            .map_err(|e| e.kind.code());
        assert_eq!(
            ours.as_ref().err().copied(),
            *expected,
            "ssi-token on {what}: {ours:?}"
        );
        let result = &jose_verify(case.key, case.idp, case.issuer, case.now, &[&case.token])[0];
        match expected {
            None => assert_eq!(result["ok"], true, "jose on {what}: {result}"),
            Some(code) => {
                assert_eq!(result["ok"], false, "jose accepted {what}: {result}");
                assert_eq!(result["error"], *code, "jose on {what}: {result}");
            }
        }
    }
}

/// One verification: a token and what the verifier expects.
struct Case<'a> {
    token: String,
    now: i64,
    idp: &'a str,
    issuer: &'a str,
    key: &'a LinkTokenKey,
}

impl<'a> Case<'a> {
    fn new(token: &str, key: &'a LinkTokenKey) -> Self {
        Self {
            token: token.to_owned(),
            now: MINTED_AT,
            idp: IDP,
            issuer: ISSUER,
            key,
        }
    }
}

#[test]
fn our_unseal_reads_keys_sealed_by_jose() {
    let mut rng = SeededRandom::new(b"interop: jose seals");
    let app = AppKeyPair::generate(&mut rng);
    let retired = AppKeyPair::generate(&mut rng);
    let other_app = AppKeyPair::generate(&mut rng);
    let link = LinkSigningKey::generate(&mut rng);
    let jose_seal = |to: &AppKeyPair, kid: &str, plaintext: Value| {
        let answer = jose(&json!({
            "op": "seal",
            "appPublicKey": to.public_key().to_jwk(),
            "linkPrivateKey": plaintext,
            "kid": kid,
        }));
        answer["sealed"].as_str().unwrap().to_owned()
    };

    let sealed = jose_seal(&app, app.kid(), json_of(&link.to_jwk()));
    let header = decode_part(&sealed, 0);
    assert_eq!(header["alg"], "ECDH-ES+A256KW");
    assert_eq!(header["cty"], "jwk+json");
    for app_keys in [vec![&app], vec![&retired, &app]] {
        let unsealed = unseal_link_signing_key(&sealed, &app_keys).unwrap();
        assert_eq!(json_of(&unsealed.to_jwk()), json_of(&link.to_jwk()));
        assert_eq!(unsealed.verification_key(), link.verification_key());
    }

    // Sealed to another app: unknown kid, and (kid relabelled) a failed unwrap.
    let for_other = jose_seal(&other_app, other_app.kid(), json_of(&link.to_jwk()));
    let err = unseal_link_signing_key(&for_other, &[&app]).unwrap_err();
    assert!(
        matches!(err, UnsealError::InvalidEncryption { .. }),
        "{err:?}"
    );
    let relabelled = jose_seal(&other_app, app.kid(), json_of(&link.to_jwk()));
    let err = unseal_link_signing_key(&relabelled, &[&app]).unwrap_err();
    assert_eq!(
        err,
        UnsealError::InvalidEncryption {
            detail: "key unwrap failed"
        }
    );
    assert_eq!(err.request_status(), "INVALID_LINK_SIGNING_KEY_ENCRYPTION");

    // Decrypts fine, but x,y belong to another key: the other status.
    let mut other_point = json_of(&LinkSigningKey::generate(&mut rng).to_jwk());
    other_point["d"] = json!(link.to_jwk().d);
    let err =
        unseal_link_signing_key(&jose_seal(&app, app.kid(), other_point), &[&app]).unwrap_err();
    assert_eq!(err, UnsealError::InvalidKey(KeyError::PublicKeyMismatch));
    assert_eq!(err.request_status(), "INVALID_LINK_SIGNING_KEY");
}

#[test]
fn link_tokens_made_by_jose_work_in_our_ssi_tokens() {
    let mut rng = SeededRandom::new(b"interop: jose link tokens");
    let ltk = LinkTokenKey::generate(&mut rng);
    let signing = LinkSigningKey::generate(&mut rng);
    let ctx = json!({"tenant": "ac-mé", "plan": "🦀"});
    for (partner_user, ctx) in [("ユーザー-1", Some(ctx)), ("user-2", None)] {
        let mut payload = json!({
            "ver": LINK_TOKEN_SCHEMA,
            "partnerUserId": partner_user,
            "platformUserId": "plat-ü",
            "vKey": signing.verification_key().to_jwk(),
            "iat": MINTED_AT - 3_600,
        });
        if let Some(ctx) = &ctx {
            payload["ctx"] = ctx.clone();
        }
        let answer = jose(
            &json!({"op": "make-link-token", "linkTokenKey": ltk.to_jwk(), "payload": payload}),
        );
        let link_token = answer["token"].as_str().unwrap();
        let header = decode_part(link_token, 0);
        let mut members: Vec<&str> = header
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        members.sort_unstable();
        assert_eq!(
            members,
            ["alg", "enc", "iv", "kid", "tag", "typ"],
            "{header}"
        );

        let claims = read_link_token(link_token, &LinkTokenKeys::single(copy_key(&ltk))).unwrap();
        let expected_ctx: BTreeMap<String, String> = ctx
            .map(|c| serde_json::from_value(c).unwrap())
            .unwrap_or_default();
        assert_eq!(claims.partner_user_id, partner_user);
        assert_eq!(claims.platform_user_id, "plat-ü");
        assert_eq!(claims.verification_key, signing.verification_key());
        assert_eq!(claims.issued_at, MINTED_AT - 3_600);
        assert_eq!(claims.ctx, expected_ctx);

        let token = mint(
            link_token, "plat-ü", "L-jose", &signing, MINTED_AT, &mut rng,
        );
        let verified = ours_verify(&ltk, IDP, ISSUER, MINTED_AT + 1, &token).unwrap();
        assert_eq!(verified.partner_user_id, partner_user);
        assert_eq!(verified.ctx, expected_ctx);
        assert_eq!(verified.linked_at, MINTED_AT - 3_600);
        let result = &jose_verify(&ltk, IDP, ISSUER, MINTED_AT + 1, &[&token])[0];
        assert_eq!(result["ok"], true, "{result}");
        assert_eq!(result["partnerUserId"], partner_user);
    }
}

#[test]
fn jose_decrypts_our_sealed_keys() {
    let mut rng = SeededRandom::new(b"interop: we seal");
    for _ in 0..3 {
        let app = AppKeyPair::generate(&mut rng);
        let link = LinkSigningKey::generate(&mut rng);
        let sealed = seal_link_signing_key(&link, &app.public_key(), &mut rng);
        let answer = jose(&json!({
            "op": "decrypt-sealed",
            "appPrivateKey": app.to_private_jwk(),
            "sealed": sealed,
        }));
        assert_eq!(answer["jwk"], json_of(&link.to_jwk()));
        let header = &answer["protectedHeader"];
        assert_eq!(header["alg"], "ECDH-ES+A256KW");
        assert_eq!(header["enc"], "A256GCM");
        assert_eq!(header["kid"], app.kid());
        assert_eq!(header["cty"], "jwk+json");
        assert_eq!(header["epk"]["crv"], "P-256");
    }
}

/// `ssi bench token` runs `node bench-verify.mjs JOB.json SECONDS` and reads
/// one JSON line; this keeps that interface from drifting.
#[test]
fn bench_verify_script_keeps_its_interface() {
    let mut rng = SeededRandom::new(b"interop: bench");
    let app = AppKeyPair::generate(&mut rng);
    let ltk = LinkTokenKey::generate(&mut rng);
    let issued = issue_link(
        "user-1",
        "plat-1",
        BTreeMap::new(),
        &ltk,
        &app.public_key(),
        1_000,
        &mut rng,
    );
    let signing = unseal_link_signing_key(&issued.sealed_signing_key, &[&app]).unwrap();
    let tokens: Vec<String> = (0..3)
        .map(|_| {
            mint(
                &issued.link_token,
                "plat-1",
                "L1",
                &signing,
                MINTED_AT,
                &mut rng,
            )
        })
        .collect();
    let dir = node_dir();
    assert!(
        dir.join("node_modules/jose/package.json").is_file(),
        "jose is not installed: {SETUP_HINT}"
    );
    let job_path = std::env::temp_dir().join(format!(
        "ssi-token-interop-bench-{}.json",
        std::process::id()
    ));
    let job = json!({"linkTokenKey": ltk.to_jwk(), "idp": IDP, "issuer": ISSUER, "now": MINTED_AT, "tokens": tokens});
    std::fs::write(&job_path, serde_json::to_vec(&job).unwrap()).unwrap();
    let output = Command::new("node")
        .arg(dir.join("bench-verify.mjs"))
        .arg(&job_path)
        .arg("0.2")
        .output();
    let _ = std::fs::remove_file(&job_path);
    let output = output.unwrap_or_else(|e| panic!("cannot run node ({e}): {SETUP_HINT}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let mut members: Vec<&str> = report
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    members.sort_unstable();
    assert_eq!(members, ["library", "rate", "seconds", "verified"]);
    assert!(
        report["library"].as_str().unwrap().starts_with("jose 6."),
        "{report}"
    );
    assert!(report["verified"].as_u64().unwrap() > 0, "{report}");
    assert!(report["seconds"].as_f64().unwrap() >= 0.2, "{report}");
    assert!(report["rate"].as_f64().unwrap() > 0.0, "{report}");
}
