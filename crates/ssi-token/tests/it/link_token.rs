//! Link tokens (`LINK-TOKEN-1.0`, DESIGN.md section 5): round trips, hostile
//! JWEs and payloads built by hand with a test-only A256GCMKW encryptor, the
//! 8 KiB limit, and keyring rotation. Every case names the exact outcome:
//! the `LinkTokenError` variant and a fragment of its internal detail.

use std::collections::BTreeMap;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use ssi_token::{
    KeyError, LinkSigningKey, LinkTokenClaims, LinkTokenError, LinkTokenKey, LinkTokenKeys,
    MAX_LINK_TOKEN_BYTES, SeededRandom, make_link_token, read_link_token,
};

const KID: &str = "ltk-1";
const KEY: [u8; 32] = [0x4b; 32];
const SIZE_KIDS: [&str; 3] = [KID, "ltk-12", "ltk-123"];
const OTHER_KEY: [u8; 32] = [0x4c; 32];
const PARTNER_USER: &str = "partner-user-1";
const PLATFORM_USER: &str = "amzn1.ssi.did.plat-1";
const ISSUED_AT: i64 = 1_699_913_600;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(text)
        .expect("test input is base64url")
}

fn gcm_seal(key: &[u8], iv: [u8; 12], aad: &[u8], plaintext: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).expect("AES-256 key"));
    let mut in_out = plaintext.to_vec();
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(iv),
            Aad::from(aad),
            &mut in_out,
        )
        .expect("AES-GCM seal");
    (in_out, tag.as_ref().to_vec())
}

/// The reference header of a link token with the given wrap IV and tag.
fn reference_header(kid: &str, iv: &str, tag: &str) -> Map<String, Value> {
    let header = json!({
        "alg": "A256GCMKW", "enc": "A256GCM", "kid": kid, "typ": "link+jwe", "iv": iv, "tag": tag,
    });
    header.as_object().expect("an object").clone()
}

/// A test-only A256GCMKW / A256GCM encryptor, independent of the crate: the
/// CEK is AES-GCM-encrypted under `key` (IV and tag in the protected header,
/// RFC 7518 section 4.7), the plaintext under the CEK with the encoded header
/// as AAD. `header` gets the wrap IV and tag (base64url) and returns the
/// header text, so hostile headers are still correctly encrypted.
fn seal_link_raw(
    key: &[u8; 32],
    plaintext: &[u8],
    header: impl FnOnce(&str, &str) -> String,
) -> String {
    let cek = [0x3c; 32];
    let wrap_iv = [0x01; 12];
    let (encrypted_key, wrap_tag) = gcm_seal(key, wrap_iv, b"", &cek);
    let protected = b64(header(&b64(&wrap_iv), &b64(&wrap_tag)).as_bytes());
    let iv = [0x02; 12];
    let (ciphertext, tag) = gcm_seal(&cek, iv, protected.as_bytes(), plaintext);
    format!(
        "{protected}.{}.{}.{}.{}",
        b64(&encrypted_key),
        b64(&iv),
        b64(&ciphertext),
        b64(&tag)
    )
}

/// [`seal_link_raw`] with the reference header, edited by `edit`.
pub(crate) fn seal_link_payload_with(
    key: &[u8; 32],
    kid: &str,
    plaintext: &[u8],
    edit: impl FnOnce(&mut Map<String, Value>),
) -> String {
    seal_link_raw(key, plaintext, |iv, tag| {
        let mut header = reference_header(kid, iv, tag);
        edit(&mut header);
        serde_json::to_string(&header).expect("header serializes")
    })
}

/// [`seal_link_payload_with`] with the reference header.
pub(crate) fn seal_link_payload(key: &[u8; 32], kid: &str, plaintext: &[u8]) -> String {
    seal_link_payload_with(key, kid, plaintext, |_| {})
}

/// The reference payload of a link token, as a JSON object to edit.
pub(crate) fn reference_payload(
    signing: &LinkSigningKey,
    platform_user_id: &str,
) -> Map<String, Value> {
    let payload = json!({
        "ver": "LINK-TOKEN-1.0",
        "partnerUserId": PARTNER_USER,
        "platformUserId": platform_user_id,
        "vKey": signing.verification_key().to_jwk(),
        "iat": ISSUED_AT,
        "ctx": {"plan": "gold"},
    });
    payload.as_object().expect("an object").clone()
}

/// Re-encodes one dot-separated part of a compact serialization after
/// editing its decoded bytes.
fn edit_part(token: &str, index: usize, edit: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut bytes = unb64(&parts[index]);
    edit(&mut bytes);
    parts[index] = b64(&bytes);
    parts.join(".")
}

struct Fixture {
    signing: LinkSigningKey,
    keys: LinkTokenKeys,
}

impl Fixture {
    fn new() -> Self {
        let mut rng = SeededRandom::new(b"link-token-tests");
        Self {
            signing: LinkSigningKey::generate(&mut rng),
            // Same key under kids of three lengths: the size boundary cases
            // need to vary the header length.
            keys: LinkTokenKeys::new(
                SIZE_KIDS
                    .iter()
                    .map(|kid| LinkTokenKey::new(kid, KEY).expect("valid kid"))
                    .collect(),
            ),
        }
    }

    fn claims(&self, ctx: &[(&str, &str)]) -> LinkTokenClaims {
        LinkTokenClaims {
            partner_user_id: PARTNER_USER.to_owned(),
            platform_user_id: PLATFORM_USER.to_owned(),
            verification_key: self.signing.verification_key(),
            issued_at: ISSUED_AT,
            ctx: ctx
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    /// A link token made by the crate itself.
    fn made(&self) -> String {
        let key = LinkTokenKey::new(KID, KEY).expect("valid kid");
        make_link_token(
            &self.claims(&[("plan", "gold")]),
            &key,
            &mut SeededRandom::new(b"made"),
        )
    }

    /// A link token of an edited reference payload, by the test encryptor.
    fn sealed(&self, edit: impl FnOnce(&mut Map<String, Value>)) -> String {
        let mut payload = reference_payload(&self.signing, PLATFORM_USER);
        edit(&mut payload);
        seal_link_payload(&KEY, KID, &serde_json::to_vec(&payload).expect("JSON"))
    }

    /// A link token of a raw (possibly invalid) plaintext.
    fn sealed_raw(&self, plaintext: &str) -> String {
        seal_link_payload(&KEY, KID, plaintext.as_bytes())
    }

    fn payload_json(&self) -> String {
        serde_json::to_string(&reference_payload(&self.signing, PLATFORM_USER)).expect("JSON")
    }
}

#[derive(Debug)]
enum Expect {
    Ok,
    Undecryptable(&'static str),
    InvalidPayload(&'static str),
}

struct Case {
    name: &'static str,
    token: fn(&Fixture) -> String,
    expect: Expect,
}

fn case(name: &'static str, token: fn(&Fixture) -> String, expect: Expect) -> Case {
    Case {
        name,
        token,
        expect,
    }
}

fn check(cases: &[Case]) {
    let fx = Fixture::new();
    let mut failures = Vec::new();
    for case in cases {
        let token = (case.token)(&fx);
        let got = read_link_token(&token, &fx.keys);
        let pass = match (&case.expect, &got) {
            (Expect::Ok, Ok(claims)) => claims.verification_key == fx.signing.verification_key(),
            (Expect::Undecryptable(want), Err(LinkTokenError::Undecryptable { detail })) => {
                detail.contains(want)
            }
            (Expect::InvalidPayload(want), Err(LinkTokenError::InvalidPayload { detail })) => {
                detail.contains(want)
            }
            _ => false,
        };
        if !pass {
            failures.push(format!(
                "{}: expected {:?}, got {:?}",
                case.name, case.expect, got
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn round_trip_with_ctx() {
    let fx = Fixture::new();
    let key = LinkTokenKey::new(KID, KEY).expect("valid kid");
    for ctx in [
        vec![],
        vec![("plan", "gold")],
        vec![("a", ""), ("ünï", "cödé ✓"), ("quote\"", "back\\slash\n")],
    ] {
        let claims = fx.claims(&ctx);
        let token = make_link_token(&claims, &key, &mut SeededRandom::new(b"rt"));
        assert_eq!(read_link_token(&token, &fx.keys), Ok(claims));
        assert_eq!(token.split('.').count(), 5);
    }
}

#[test]
fn the_test_encryptor_matches_the_crate() {
    // The hostile cases below rely on the test encryptor; it must produce
    // what the crate reads, including a payload without `ctx`.
    let fx = Fixture::new();
    let token = fx.sealed(|p| {
        p.remove("ctx");
    });
    let claims = read_link_token(&token, &fx.keys).expect("readable");
    assert_eq!(claims, fx.claims(&[]));
}

#[test]
fn hostile_link_tokens() {
    check(&[
        case("made by the crate", |fx| fx.made(), Expect::Ok),
        case(
            "made by the test encryptor",
            |fx| fx.sealed(|_| {}),
            Expect::Ok,
        ),
        case(
            "members in another order",
            |fx| {
                let text = fx.payload_json();
                let value: Value = serde_json::from_str(&text).expect("JSON");
                let mut reordered: Vec<(String, Value)> = value
                    .as_object()
                    .expect("object")
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                reordered.reverse();
                let body: Vec<String> = reordered
                    .iter()
                    .map(|(k, v)| format!("{}:{}", json!(k), v))
                    .collect();
                fx.sealed_raw(&format!("{{{}}}", body.join(",")))
            },
            Expect::Ok,
        ),
        // Keys.
        case(
            "same kid, other key",
            |fx| seal_link_payload(&OTHER_KEY, KID, fx.payload_json().as_bytes()),
            Expect::Undecryptable("key unwrap failed"),
        ),
        case(
            "unknown kid",
            |fx| seal_link_payload(&KEY, "ltk-2", fx.payload_json().as_bytes()),
            Expect::Undecryptable("no link-token key with this kid"),
        ),
        case(
            "kid missing",
            |fx| {
                seal_link_payload_with(&KEY, KID, fx.payload_json().as_bytes(), |h| {
                    h.remove("kid");
                })
            },
            Expect::Undecryptable("header is not the expected JSON"),
        ),
        // Algorithms and explicit typing.
        case(
            "typ JWT",
            |fx| {
                seal_link_payload_with(&KEY, KID, fx.payload_json().as_bytes(), |h| {
                    h.insert("typ".into(), json!("JWT"));
                })
            },
            Expect::Undecryptable("unsupported alg, enc or typ"),
        ),
        case(
            "typ missing",
            |fx| {
                seal_link_payload_with(&KEY, KID, fx.payload_json().as_bytes(), |h| {
                    h.remove("typ");
                })
            },
            Expect::Undecryptable("header is not the expected JSON"),
        ),
        case(
            "alg A128GCMKW",
            |fx| {
                seal_link_payload_with(&KEY, KID, fx.payload_json().as_bytes(), |h| {
                    h.insert("alg".into(), json!("A128GCMKW"));
                })
            },
            Expect::Undecryptable("unsupported alg, enc or typ"),
        ),
        case(
            "alg dir",
            |fx| {
                seal_link_payload_with(&KEY, KID, fx.payload_json().as_bytes(), |h| {
                    h.insert("alg".into(), json!("dir"));
                })
            },
            Expect::Undecryptable("unsupported alg, enc or typ"),
        ),
        case(
            "alg none",
            |fx| {
                seal_link_payload_with(&KEY, KID, fx.payload_json().as_bytes(), |h| {
                    h.insert("alg".into(), json!("none"));
                })
            },
            Expect::Undecryptable("unsupported alg, enc or typ"),
        ),
        case(
            "enc A128GCM",
            |fx| {
                seal_link_payload_with(&KEY, KID, fx.payload_json().as_bytes(), |h| {
                    h.insert("enc".into(), json!("A128GCM"));
                })
            },
            Expect::Undecryptable("unsupported alg, enc or typ"),
        ),
        case(
            "enc A256CBC-HS512",
            |fx| {
                seal_link_payload_with(&KEY, KID, fx.payload_json().as_bytes(), |h| {
                    h.insert("enc".into(), json!("A256CBC-HS512"));
                })
            },
            Expect::Undecryptable("unsupported alg, enc or typ"),
        ),
        case(
            "zip DEF",
            |fx| {
                seal_link_payload_with(&KEY, KID, fx.payload_json().as_bytes(), |h| {
                    h.insert("zip".into(), json!("DEF"));
                })
            },
            Expect::Undecryptable("header is not the expected JSON"),
        ),
        case(
            "crit",
            |fx| {
                seal_link_payload_with(&KEY, KID, fx.payload_json().as_bytes(), |h| {
                    h.insert("crit".into(), json!(["exp"]));
                })
            },
            Expect::Undecryptable("header is not the expected JSON"),
        ),
        case(
            "wrap iv of 16 bytes",
            |fx| {
                seal_link_payload_with(&KEY, KID, fx.payload_json().as_bytes(), |h| {
                    h.insert("iv".into(), json!(b64(&[1; 16])));
                })
            },
            Expect::Undecryptable("bad iv"),
        ),
        case(
            "wrap tag of 15 bytes",
            |fx| {
                seal_link_payload_with(&KEY, KID, fx.payload_json().as_bytes(), |h| {
                    let tag = unb64(h["tag"].as_str().expect("tag"));
                    h.insert("tag".into(), json!(b64(&tag[..15])));
                })
            },
            Expect::Undecryptable("bad tag"),
        ),
        // Tampering with each part.
        case(
            "header re-encoded (AAD changed)",
            |fx| {
                edit_part(&fx.made(), 0, |h| {
                    h.push(b' ');
                })
            },
            Expect::Undecryptable("content decryption failed"),
        ),
        case(
            "wrap tag flipped in the header",
            |fx| {
                edit_part(&fx.made(), 0, |h| {
                    let mut header: Map<String, Value> = serde_json::from_slice(h).expect("JSON");
                    let mut tag = unb64(header["tag"].as_str().expect("tag"));
                    tag[0] ^= 1;
                    header.insert("tag".into(), json!(b64(&tag)));
                    *h = serde_json::to_vec(&header).expect("JSON");
                })
            },
            Expect::Undecryptable("key unwrap failed"),
        ),
        case(
            "encrypted key flipped",
            |fx| edit_part(&fx.made(), 1, |ek| ek[0] ^= 0x80),
            Expect::Undecryptable("key unwrap failed"),
        ),
        case(
            "encrypted key truncated",
            |fx| edit_part(&fx.made(), 1, |ek| ek.truncate(31)),
            Expect::Undecryptable("encrypted key is not 32 bytes"),
        ),
        case(
            "iv flipped",
            |fx| edit_part(&fx.made(), 2, |iv| iv[11] ^= 1),
            Expect::Undecryptable("content decryption failed"),
        ),
        case(
            "iv of 16 bytes",
            |fx| edit_part(&fx.made(), 2, |iv| iv.extend_from_slice(&[0; 4])),
            Expect::Undecryptable("not a compact JWE"),
        ),
        case(
            "ciphertext flipped",
            |fx| edit_part(&fx.made(), 3, |ct| ct[5] ^= 4),
            Expect::Undecryptable("content decryption failed"),
        ),
        case(
            "ciphertext truncated",
            |fx| edit_part(&fx.made(), 3, |ct| ct.truncate(ct.len() - 1)),
            Expect::Undecryptable("content decryption failed"),
        ),
        case(
            "tag flipped",
            |fx| edit_part(&fx.made(), 4, |tag| tag[15] ^= 0x40),
            Expect::Undecryptable("content decryption failed"),
        ),
        case(
            "tag of 15 bytes",
            |fx| edit_part(&fx.made(), 4, |tag| tag.truncate(15)),
            Expect::Undecryptable("not a compact JWE"),
        ),
        case(
            "four parts",
            |fx| {
                let token = fx.made();
                token[..token.rfind('.').expect("dots")].to_owned()
            },
            Expect::Undecryptable("not a compact JWE"),
        ),
        case(
            "six parts",
            |fx| format!("{}.AAAA", fx.made()),
            Expect::Undecryptable("not a compact JWE"),
        ),
        case(
            "padding on the ciphertext",
            |fx| {
                let token = fx.made();
                let mut parts: Vec<&str> = token.split('.').collect();
                let padded = format!("{}=", parts[3]);
                parts[3] = &padded;
                parts.join(".")
            },
            Expect::Undecryptable("not a compact JWE"),
        ),
        case(
            "empty string",
            |_| String::new(),
            Expect::Undecryptable("not a compact JWE"),
        ),
        case(
            "an SSI-token-shaped JWS",
            |_| "eyJhbGciOiJFUzI1NiJ9.e30.AAAA".to_owned(),
            Expect::Undecryptable("not a compact JWE"),
        ),
        // Size: the exact limit verifies, one byte more is refused unread.
        case(
            "exactly 8192 bytes",
            |fx| link_token_of_len(fx, MAX_LINK_TOKEN_BYTES),
            Expect::Ok,
        ),
        case(
            "8193 bytes",
            |fx| link_token_of_len(fx, MAX_LINK_TOKEN_BYTES + 1),
            Expect::Undecryptable("link token over 8192 bytes"),
        ),
        // Payloads that decrypt but are not LINK-TOKEN-1.0.
        case(
            "ver LINK-TOKEN-2.0",
            |fx| fx.sealed(|p| drop(p.insert("ver".into(), json!("LINK-TOKEN-2.0")))),
            Expect::InvalidPayload("ver is not LINK-TOKEN-1.0"),
        ),
        case(
            "ver SSI-TOKEN-1.0",
            |fx| fx.sealed(|p| drop(p.insert("ver".into(), json!("SSI-TOKEN-1.0")))),
            Expect::InvalidPayload("ver is not LINK-TOKEN-1.0"),
        ),
        case(
            "ver missing",
            |fx| fx.sealed(|p| drop(p.remove("ver"))),
            Expect::InvalidPayload("payload JSON"),
        ),
        case(
            "duplicate ctx keys",
            |fx| {
                let text = fx.payload_json().replace(
                    r#""ctx":{"plan":"gold"}"#,
                    r#""ctx":{"plan":"gold","plan":"free"}"#,
                );
                assert!(text.contains(r#""plan":"free""#));
                fx.sealed_raw(&text)
            },
            Expect::InvalidPayload("duplicate key in ctx"),
        ),
        case(
            "duplicate platformUserId",
            |fx| {
                let text = fx.payload_json().replacen(
                    '{',
                    r#"{"platformUserId":"amzn1.ssi.did.someone-else","#,
                    1,
                );
                fx.sealed_raw(&text)
            },
            Expect::InvalidPayload("duplicate field"),
        ),
        case(
            "ctx value not a string",
            |fx| fx.sealed(|p| drop(p.insert("ctx".into(), json!({"n": 1})))),
            Expect::InvalidPayload("payload JSON"),
        ),
        case(
            "ctx is an array",
            |fx| fx.sealed(|p| drop(p.insert("ctx".into(), json!(["a", "b"])))),
            Expect::InvalidPayload("payload JSON"),
        ),
        case(
            "ctx nesting bomb",
            |fx| {
                let bomb = format!("{}{}", "[".repeat(2000), "]".repeat(2000));
                let text = fx
                    .payload_json()
                    .replace(r#""ctx":{"plan":"gold"}"#, &format!(r#""ctx":{bomb}"#));
                fx.sealed_raw(&text)
            },
            Expect::InvalidPayload("payload JSON"),
        ),
        // serde's derived structs also take a JSON array of the field values
        // in order; a JOSE payload or JWK is a JSON object only.
        case(
            "payload as a JSON array of the member values",
            |fx| {
                let p = reference_payload(&fx.signing, PLATFORM_USER);
                let array = json!([
                    p["ver"],
                    p["partnerUserId"],
                    p["platformUserId"],
                    p["vKey"],
                    p["iat"]
                ]);
                fx.sealed_raw(&array.to_string())
            },
            Expect::InvalidPayload("payload JSON"),
        ),
        case(
            "vKey as a JSON array",
            |fx| {
                fx.sealed(|p| {
                    let v = p["vKey"].clone();
                    p["vKey"] = json!([v["kty"], v["crv"], v["x"], v["y"]]);
                })
            },
            Expect::InvalidPayload("payload JSON"),
        ),
        case(
            "header as a JSON array",
            |fx| {
                seal_link_raw(&KEY, fx.payload_json().as_bytes(), |iv, tag| {
                    json!(["A256GCMKW", "A256GCM", KID, "link+jwe", iv, tag]).to_string()
                })
            },
            Expect::Undecryptable("header is not the expected JSON"),
        ),
        case(
            "unknown member",
            |fx| fx.sealed(|p| drop(p.insert("exp".into(), json!(1)))),
            Expect::InvalidPayload("payload JSON"),
        ),
        case(
            "empty partnerUserId",
            |fx| fx.sealed(|p| drop(p.insert("partnerUserId".into(), json!("")))),
            Expect::InvalidPayload("empty partnerUserId or platformUserId"),
        ),
        case(
            "empty platformUserId",
            |fx| fx.sealed(|p| drop(p.insert("platformUserId".into(), json!("")))),
            Expect::InvalidPayload("empty partnerUserId or platformUserId"),
        ),
        case(
            "iat as a string",
            |fx| fx.sealed(|p| drop(p.insert("iat".into(), json!("1699913600")))),
            Expect::InvalidPayload("payload JSON"),
        ),
        case(
            "payload not JSON",
            |fx| fx.sealed_raw("not json"),
            Expect::InvalidPayload("payload JSON"),
        ),
        case(
            "payload empty",
            |fx| fx.sealed_raw(""),
            Expect::InvalidPayload("payload JSON"),
        ),
        case(
            "vKey off the curve",
            |fx| {
                fx.sealed(|p| {
                    let mut y = unb64(p["vKey"]["y"].as_str().expect("y"));
                    y[31] ^= 1;
                    p["vKey"]["y"] = json!(b64(&y));
                })
            },
            Expect::InvalidPayload("vKey: the point is not on the P-256 curve"),
        ),
        case(
            "vKey on P-384",
            |fx| {
                fx.sealed(|p| {
                    p["vKey"] = json!({"kty": "EC", "crv": "P-384", "x": b64(&[1; 48]), "y": b64(&[2; 48])});
                })
            },
            Expect::InvalidPayload("vKey: wrong curve"),
        ),
        case(
            "vKey RSA",
            |fx| {
                fx.sealed(|p| {
                    p["vKey"]["kty"] = json!("RSA");
                })
            },
            Expect::InvalidPayload("vKey: wrong key type"),
        ),
        case(
            "vKey with the private d",
            |fx| {
                let d = b64(fx.signing.private_scalar());
                fx.sealed(|p| {
                    p["vKey"]["d"] = json!(d);
                })
            },
            Expect::InvalidPayload("payload JSON"),
        ),
        case(
            "vKey x of 31 bytes",
            |fx| {
                fx.sealed(|p| {
                    let x = unb64(p["vKey"]["x"].as_str().expect("x"));
                    p["vKey"]["x"] = json!(b64(&x[1..]));
                })
            },
            Expect::InvalidPayload("vKey: coordinate x"),
        ),
    ]);
}

/// A valid link token of exactly `len` bytes (ctx padded, kid varied).
fn link_token_of_len(fx: &Fixture, len: usize) -> String {
    for kid in SIZE_KIDS {
        let key = LinkTokenKey::new(kid, KEY).expect("valid kid");
        let make = |pad: usize| {
            let value = "p".repeat(pad);
            make_link_token(
                &fx.claims(&[("pad", &value)]),
                &key,
                &mut SeededRandom::new(b"len"),
            )
        };
        // Each padding byte adds 4/3 of a character: start just below the
        // target and step through its neighbourhood.
        let start = (len.saturating_sub(make(0).len()) * 3 / 4).saturating_sub(4);
        for pad in start..start + 8 {
            let token = make(pad);
            if token.len() == len {
                return token;
            }
        }
    }
    panic!("no padding gives a link token of {len} bytes");
}

#[test]
fn keyring_rotation() {
    let fx = Fixture::new();
    let old = || LinkTokenKey::new("ltk-old", [1; 32]).expect("kid");
    let new = || LinkTokenKey::new("ltk-new", [2; 32]).expect("kid");
    let claims = fx.claims(&[("plan", "gold")]);
    let mut rng = SeededRandom::new(b"rotation");
    let by_old = make_link_token(&claims, &old(), &mut rng);
    let by_new = make_link_token(&claims, &new(), &mut rng);

    // During the overlap both verify, whatever the order in the keyring.
    for ring in [
        LinkTokenKeys::new(vec![old(), new()]),
        LinkTokenKeys::new(vec![new(), old()]),
    ] {
        assert_eq!(read_link_token(&by_old, &ring).as_ref(), Ok(&claims));
        assert_eq!(read_link_token(&by_new, &ring).as_ref(), Ok(&claims));
    }
    // After the old key is dropped, its tokens no longer read.
    let ring = LinkTokenKeys::single(new());
    assert_eq!(
        read_link_token(&by_old, &ring),
        Err(LinkTokenError::Undecryptable {
            detail: "no link-token key with this kid"
        })
    );
    assert_eq!(read_link_token(&by_new, &ring), Ok(claims));
    // A token never decrypts under a key with another kid, even the same bytes.
    let renamed = LinkTokenKeys::single(LinkTokenKey::new("ltk-renamed", [1; 32]).expect("kid"));
    assert!(read_link_token(&by_old, &renamed).is_err());
    // An empty keyring reads nothing.
    assert!(read_link_token(&by_new, &LinkTokenKeys::default()).is_err());
}

#[test]
fn keys_from_json() {
    let fx = Fixture::new();
    let claims = fx.claims(&[]);
    let mut rng = SeededRandom::new(b"from-json");
    let first = LinkTokenKey::generate(&mut rng);
    let second = LinkTokenKey::generate(&mut rng);
    let by_first = make_link_token(&claims, &first, &mut rng);
    let by_second = make_link_token(&claims, &second, &mut rng);
    let first_json = serde_json::to_string(&first.to_jwk()).expect("JSON");
    let second_json = serde_json::to_string(&second.to_jwk()).expect("JSON");

    let single = LinkTokenKeys::from_json(&first_json).expect("one JWK");
    assert_eq!(read_link_token(&by_first, &single).as_ref(), Ok(&claims));
    assert!(read_link_token(&by_second, &single).is_err());

    let set = LinkTokenKeys::from_json(&format!(r#"{{"keys":[{first_json},{second_json}]}}"#))
        .expect("a JWK set");
    assert_eq!(read_link_token(&by_first, &set).as_ref(), Ok(&claims));
    assert_eq!(read_link_token(&by_second, &set).as_ref(), Ok(&claims));
    assert!(set.find(first.kid()).is_some() && set.find(second.kid()).is_some());

    let empty = LinkTokenKeys::from_json(r#"{"keys":[]}"#).expect("an empty set");
    assert!(empty.find(first.kid()).is_none());

    // Hostile sets: one bad key spoils the set; unknown members are refused.
    let short_k = first_json.replace(&first.to_jwk().k, &b64(&[7; 31]));
    let cases: [(&str, String, KeyError); 6] = [
        (
            "set with a 31-byte key",
            format!(r#"{{"keys":[{second_json},{short_k}]}}"#),
            KeyError::BadSymmetricKey,
        ),
        (
            "set with an extra member",
            format!(r#"{{"keys":[{first_json}],"use":"enc"}}"#),
            KeyError::NotAJwk,
        ),
        (
            "set whose keys is not an array",
            format!(r#"{{"keys":{first_json}}}"#),
            KeyError::NotAJwk,
        ),
        ("not JSON", "keys".to_owned(), KeyError::NotAJwk),
        (
            "an EC JWK",
            serde_json::to_string(&fx.signing.verification_key().to_jwk()).expect("JSON"),
            KeyError::NotAJwk,
        ),
        (
            "a key with alg dir",
            first_json.replace("A256GCMKW", "dir"),
            KeyError::WrongKeyUse,
        ),
    ];
    for (name, json, expected) in cases {
        assert_eq!(
            LinkTokenKeys::from_json(&json).map(|_| ()),
            Err(expected),
            "{name}"
        );
    }
}

#[test]
fn link_token_keys_json_round_trip() {
    let key = LinkTokenKey::generate(&mut SeededRandom::new(b"jwk"));
    let json = serde_json::to_string(&key.to_jwk()).expect("JSON");
    let back = LinkTokenKey::from_jwk_json(&json).expect("round trip");
    assert_eq!(back.kid(), key.kid());
    assert_eq!(back.to_jwk().k, key.to_jwk().k);
    let value: Value = serde_json::from_str(&json).expect("JSON");
    let expected: BTreeMap<&str, &str> = [("kty", "oct"), ("alg", "A256GCMKW")].into();
    for (member, want) in expected {
        assert_eq!(value[member], json!(want), "{member}");
    }
}
