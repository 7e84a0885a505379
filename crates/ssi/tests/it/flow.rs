//! The partner flow end to end through the CLI: keygen → link-token →
//! unseal → mint → verify, then one refusal per kind the CLI can provoke.

use std::fs;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use ssi_token::VerifyErrorKind;
use tempfile::TempDir;

use crate::{case, check, temp_dir};

const ISSUER: &str = "https://ssi.example.com";
const IDP: &str = "example-idp";
const PLATFORM_USER: &str = "amzn1.account.AF7EXAMPLE";
const LINKED_AT: i64 = 1_700_000_000;
const MINTED_AT: i64 = 1_700_001_000;

/// A partner's directory after the whole flow has run once.
struct Partner {
    dir: TempDir,
    /// `ssi token link-token` output.
    link: Value,
    /// `ssi token mint` output: `{"token","schema"}`.
    minted: String,
    /// The compact SSI token.
    token: String,
}

fn partner() -> Partner {
    let dir = temp_dir();
    let at = dir.path();
    check(
        at,
        case(&["token", "keygen", "link-token", "--out", "ltk.json"]),
    );
    check(
        at,
        case(&["token", "keygen", "link-token", "--out", "other-ltk.json"]),
    );
    check(
        at,
        case(&[
            "token",
            "keygen",
            "app",
            "--out",
            "app.json",
            "--public-out",
            "app.pub.json",
        ]),
    );
    check(
        at,
        case(&["token", "keygen", "app", "--out", "other-app.json"]),
    );
    let link = check(
        at,
        case(&[
            "token",
            "link-token",
            "--partner-user-id",
            "partner-user-7",
            "--platform-user-id",
            PLATFORM_USER,
            "--link-token-key",
            "ltk.json",
            "--app-public-key",
            "app.pub.json",
            "--ctx",
            "plan=gold",
            "--ctx",
            "region=eu",
            "--now",
            &LINKED_AT.to_string(),
        ]),
    )
    .json();
    assert_eq!(link["linkToken"]["schema"], "LINK-TOKEN-1.0");
    let sealed = link["linkSigningKey"].as_str().unwrap().to_owned();
    let unsealed = check(
        at,
        case(&[
            "token",
            "unseal",
            "--app-key",
            "app.json",
            "--sealed",
            "-",
            "--out",
            "signing.json",
        ])
        .stdin(&sealed),
    )
    .json();
    assert_eq!(unsealed["status"], "SUCCESSFUL");
    assert_eq!(unsealed["verificationKey"], link["verificationKey"]);
    let link_output = link.to_string();
    let minted = check(
        at,
        case(&[
            "token",
            "mint",
            "--signing-key",
            "signing.json",
            "--link-id",
            "lnk_1",
            "--subject",
            PLATFORM_USER,
            "--audience",
            IDP,
            "--issuer",
            ISSUER,
            "--link-token",
            "-",
            "--device-id",
            "amzn1.device.D1",
            "--now",
            &MINTED_AT.to_string(),
        ])
        .stdin(&link_output),
    )
    .stdout;
    let token = serde_json::from_str::<Value>(&minted).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    Partner {
        dir,
        link,
        minted,
        token,
    }
}

/// One `ssi token verify` run: the input, and the error code or `None` for success.
struct Verify<'a> {
    name: &'a str,
    token: String,
    stdin: Option<&'a str>,
    key: &'a str,
    idp: &'a str,
    issuer: &'a str,
    now: i64,
    schema: Option<&'a str>,
    want: Option<&'a str>,
}

impl<'a> Verify<'a> {
    fn new(name: &'a str, token: &str) -> Self {
        Self {
            name,
            token: token.to_owned(),
            stdin: None,
            key: "ltk.json",
            idp: IDP,
            issuer: ISSUER,
            now: MINTED_AT + 10,
            schema: None,
            want: None,
        }
    }

    fn refused(mut self, code: &'a str) -> Self {
        self.want = Some(code);
        self
    }
}

fn check_verify(partner: &Partner, verify: Verify<'_>) -> Value {
    let now = verify.now.to_string();
    let mut args = vec![
        "token",
        "verify",
        "--token",
        &verify.token,
        "--link-token-key",
        verify.key,
        "--idp",
        verify.idp,
        "--issuer",
        verify.issuer,
        "--now",
        &now,
    ];
    if let Some(schema) = verify.schema {
        args.extend(["--schema", schema]);
    }
    let mut run = case(&args);
    if let Some(stdin) = verify.stdin {
        run = run.stdin(stdin);
    }
    match verify.want {
        None => check(partner.dir.path(), run).json(),
        Some(code) => {
            let output = check(partner.dir.path(), run.code(2).stderr_has(&[code])).json();
            let kind = VerifyErrorKind::from_code(code).expect("a known code");
            assert_eq!(output["error"], code, "{}", verify.name);
            assert_eq!(output["step"], kind.step(), "{}", verify.name);
            assert!(output["detail"].is_string(), "{}", verify.name);
            output
        }
    }
}

#[test]
fn the_partner_flow_verifies_with_the_right_claims() {
    let partner = partner();
    let key_set = json!({ "keys": [
        serde_json::from_str::<Value>(&fs::read_to_string(partner.dir.path().join("other-ltk.json")).unwrap()).unwrap(),
        serde_json::from_str::<Value>(&fs::read_to_string(partner.dir.path().join("ltk.json")).unwrap()).unwrap(),
    ]});
    fs::write(partner.dir.path().join("keys.json"), key_set.to_string()).unwrap();
    let cases = [
        Verify::new("the bare token as an argument", &partner.token),
        Verify {
            stdin: Some(&partner.minted),
            ..Verify::new("mint's {token, schema} on stdin", "-")
        },
        Verify {
            key: "keys.json",
            ..Verify::new("a JWK set of link-token keys", &partner.token)
        },
        Verify {
            now: MINTED_AT + 300 + 59,
            ..Verify::new("just inside the skew after exp", &partner.token)
        },
    ];
    for verify in cases {
        let name = verify.name;
        let claims = check_verify(&partner, verify);
        let jti = claims["jti"].as_str().unwrap_or_default().to_owned();
        assert_eq!(
            claims,
            json!({
                "partnerUserId": "partner-user-7",
                "platformUserId": PLATFORM_USER,
                "linkId": "lnk_1",
                "deviceId": "amzn1.device.D1",
                "ctx": { "plan": "gold", "region": "eu" },
                "linkedAt": LINKED_AT,
                "issuedAt": MINTED_AT,
                "expiresAt": MINTED_AT + 300,
                "jti": jti,
            }),
            "{name}"
        );
        assert_eq!(jti.len(), 22, "{name}");
    }
    assert_eq!(
        partner.link["linkToken"]["token"]
            .as_str()
            .unwrap()
            .split('.')
            .count(),
        5
    );
}

/// The token with part `index` decoded, changed by `edit`, and re-encoded.
fn edit_part(token: &str, index: usize, edit: impl FnOnce(&mut Value)) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut value: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[index]).unwrap()).unwrap();
    edit(&mut value);
    parts[index] = URL_SAFE_NO_PAD.encode(value.to_string());
    parts.join(".")
}

/// The token with one character of its signature swapped for another.
fn flip_signature(token: &str) -> String {
    let mut bytes = token.as_bytes().to_vec();
    let at = bytes.len() - 20;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

#[test]
fn verify_refuses_each_kind_with_exit_2_and_its_code() {
    let partner = partner();
    let token = partner.token.as_str();
    let [header, payload, _] = token.split('.').collect::<Vec<_>>()[..] else {
        panic!("three parts");
    };
    let wrong_schema = json!({ "token": token, "schema": "SSI-TOKEN-2.0" }).to_string();
    let cases = [
        Verify {
            idp: "other-idp",
            ..Verify::new("another IDP", token)
        }
        .refused("WRONG_AUDIENCE"),
        Verify {
            issuer: "https://evil.example",
            ..Verify::new("another issuer", token)
        }
        .refused("WRONG_ISSUER"),
        Verify {
            now: MINTED_AT + 86_400,
            ..Verify::new("a day later", token)
        }
        .refused("EXPIRED"),
        Verify {
            now: MINTED_AT + 300 + 60,
            ..Verify::new("at exp + skew", token)
        }
        .refused("EXPIRED"),
        Verify {
            now: MINTED_AT - 61,
            ..Verify::new("before iat - skew", token)
        }
        .refused("ISSUED_IN_FUTURE"),
        Verify {
            schema: Some("SSI-TOKEN-2.0"),
            ..Verify::new("--schema", token)
        }
        .refused("WRONG_SCHEMA"),
        Verify {
            stdin: Some(&wrong_schema),
            ..Verify::new("the object's schema", "-")
        }
        .refused("WRONG_SCHEMA"),
        Verify {
            key: "other-ltk.json",
            ..Verify::new("another link-token key", token)
        }
        .refused("LINK_TOKEN_UNDECRYPTABLE"),
        Verify::new("a flipped signature", &flip_signature(token)).refused("BAD_SIGNATURE"),
        Verify::new(
            "a changed device id",
            &edit_part(token, 1, |claims| {
                claims["dev"] = json!("amzn1.device.OTHER")
            }),
        )
        .refused("BAD_SIGNATURE"),
        Verify::new("two parts", &format!("{header}.{payload}")).refused("MALFORMED_TOKEN"),
        Verify::new(
            "alg none",
            &edit_part(token, 0, |h| h["alg"] = json!("none")),
        )
        .refused("MALFORMED_TOKEN"),
        Verify::new(
            "an extra header member",
            &edit_part(token, 0, |h| h["jku"] = json!("https://x")),
        )
        .refused("MALFORMED_TOKEN"),
        Verify::new(
            "a string iat",
            &edit_part(token, 1, |claims| {
                claims["iat"] = json!(MINTED_AT.to_string())
            }),
        )
        .refused("MALFORMED_CLAIMS"),
        Verify::new(
            "the payload is not JSON",
            &token.replacen(payload, &URL_SAFE_NO_PAD.encode("not json"), 1),
        )
        .refused("MALFORMED_CLAIMS"),
    ];
    for verify in cases {
        check_verify(&partner, verify);
    }
}

#[test]
fn unseal_refuses_keys_it_cannot_open_with_exit_2() {
    let partner = partner();
    let sealed = partner.link["linkSigningKey"].as_str().unwrap();
    for (app_key, sealed) in [
        ("other-app.json", sealed),
        ("app.json", "not.a.sealed.key.at-all"),
    ] {
        let refused = check(
            partner.dir.path(),
            case(&[
                "token",
                "unseal",
                "--app-key",
                app_key,
                "--sealed",
                sealed,
                "--out",
                "x.json",
            ])
            .code(2)
            .stderr_has(&["INVALID_LINK_SIGNING_KEY_ENCRYPTION"]),
        )
        .json();
        assert_eq!(
            refused["status"], "INVALID_LINK_SIGNING_KEY_ENCRYPTION",
            "{app_key}"
        );
        assert!(!partner.dir.path().join("x.json").exists());
    }
}
