//! The sealed link signing key (JWE ECDH-ES+A256KW / A256GCM, DESIGN.md
//! section 5). Hostile JWEs are built by a test-only encryptor written here on
//! `aws-lc-rs` (ECDH, Concat KDF, AES key wrap, AES-GCM), so that bad
//! plaintexts and hostile headers are still correctly encrypted and the
//! intended check is reached. Every case names the exact outcome: the
//! `UnsealError` variant, and for encryption failures the internal detail.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::agreement::{self, ECDH_P256, UnparsedPublicKey};
use aws_lc_rs::digest;
use aws_lc_rs::key_wrap::{AES_256, AesKek, KeyWrap};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use ssi_token::{
    AppJwk, AppKeyPair, DeterministicSigner, EcPrivateJwk, Es256Signer, KeyError, LinkSigningKey,
    LinkTokenKey, LinkTokenKeys, MAX_SEALED_KEY_BYTES, SeededRandom, UnsealError,
    seal_link_signing_key, unseal_link_signing_key,
};

use crate::verify_matrix::{P256_N, sub_be};

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(text)
        .expect("test input is base64url")
}

/// RFC 7518 section 4.6.2, written independently of the crate: Concat KDF
/// with SHA-256, `keydatalen` bits of output (at most 256).
pub(crate) fn concat_kdf(z: &[u8], alg: &str, apu: &[u8], apv: &[u8], bits: u32) -> Vec<u8> {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(&[0, 0, 0, 1]);
    ctx.update(z);
    for field in [alg.as_bytes(), apu, apv] {
        ctx.update(&u32::try_from(field.len()).expect("short").to_be_bytes());
        ctx.update(field);
    }
    ctx.update(&bits.to_be_bytes());
    ctx.finish().as_ref()[..(bits / 8) as usize].to_vec()
}

/// The uncompressed point `d·G`.
pub(crate) fn public_of(d: &[u8; 32]) -> Vec<u8> {
    agreement::PrivateKey::from_private_key(&ECDH_P256, d)
        .expect("a valid scalar")
        .compute_public_key()
        .expect("a public key")
        .as_ref()
        .to_vec()
}

/// The uncompressed point of a JWK's `x`, `y`.
pub(crate) fn sec1_of(x: &str, y: &str) -> Vec<u8> {
    let mut point = vec![0x04];
    point.extend(unb64(x));
    point.extend(unb64(y));
    point
}

/// What the test encryptor produces before base64url.
pub(crate) struct SealInput<'a> {
    /// The recipient's uncompressed point.
    pub(crate) recipient: &'a [u8],
    /// The ephemeral private scalar.
    pub(crate) ephemeral: [u8; 32],
    pub(crate) plaintext: Vec<u8>,
    /// Text appended to the header JSON (whitespace, to vary its length).
    pub(crate) header_suffix: &'a str,
}

/// A test-only ECDH-ES+A256KW / A256GCM encryptor. `edit` sees the header
/// (with `epk` already set) before encryption; `apu`/`apv`, when present and
/// base64url, are fed to the KDF like a conforming encryptor would.
pub(crate) fn seal_raw(
    input: &SealInput<'_>,
    kid: &str,
    edit: impl FnOnce(&mut Map<String, Value>),
) -> String {
    let epk = public_of(&input.ephemeral);
    let mut header = json!({
        "alg": "ECDH-ES+A256KW",
        "enc": "A256GCM",
        "kid": kid,
        "epk": {"kty": "EC", "crv": "P-256", "x": b64(&epk[1..33]), "y": b64(&epk[33..])},
        "cty": "jwk+json",
    })
    .as_object()
    .expect("object")
    .clone();
    edit(&mut header);
    let party = |name: &str| {
        header
            .get(name)
            .and_then(Value::as_str)
            .and_then(|text| URL_SAFE_NO_PAD.decode(text).ok())
            .unwrap_or_default()
    };
    let (apu, apv) = (party("apu"), party("apv"));
    let private = agreement::PrivateKey::from_private_key(&ECDH_P256, &input.ephemeral)
        .expect("a valid scalar");
    let z = agreement::agree(
        &private,
        UnparsedPublicKey::new(&ECDH_P256, input.recipient),
        (),
        |z| Ok(z.to_vec()),
    )
    .expect("agreement with a valid point");
    let kek = concat_kdf(&z, "ECDH-ES+A256KW", &apu, &apv, 256);
    let cek = [0x5a; 32];
    let mut encrypted_key = [0u8; 40];
    AesKek::new(&AES_256, &kek)
        .expect("KEK")
        .wrap(&cek, &mut encrypted_key)
        .expect("wrap");
    let header_json = format!(
        "{}{}",
        serde_json::to_string(&header).expect("JSON"),
        input.header_suffix
    );
    let protected = b64(header_json.as_bytes());
    let iv = [0x0c; 12];
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &cek).expect("CEK"));
    let mut ciphertext = input.plaintext.clone();
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(iv),
            Aad::from(protected.as_bytes()),
            &mut ciphertext,
        )
        .expect("seal");
    format!(
        "{protected}.{}.{}.{}.{}",
        b64(&encrypted_key),
        b64(&iv),
        b64(&ciphertext),
        b64(tag.as_ref())
    )
}

/// Re-encodes one part of a compact JWE after editing its decoded bytes.
fn edit_part(jwe: &str, index: usize, edit: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut parts: Vec<String> = jwe.split('.').map(str::to_owned).collect();
    let mut bytes = unb64(&parts[index]);
    edit(&mut bytes);
    parts[index] = b64(&bytes);
    parts.join(".")
}

struct Fixture {
    /// The calling app's current key.
    app: AppKeyPair,
    /// Another app's key.
    other_app: AppKeyPair,
    /// A key that claims the app's `kid` but is another key pair.
    impostor: AppKeyPair,
    /// The link signing key being sealed.
    signing: LinkSigningKey,
    app_point: Vec<u8>,
}

impl Fixture {
    fn new() -> Self {
        let mut rng = SeededRandom::new(b"sealed-tests");
        let app = AppKeyPair::generate(&mut rng);
        let other_app = AppKeyPair::generate(&mut rng);
        let mut impostor_jwk = AppKeyPair::generate(&mut rng).to_private_jwk();
        impostor_jwk.kid = app.kid().to_owned();
        let impostor = AppKeyPair::from_private_jwk(&impostor_jwk).expect("valid JWK");
        let signing = LinkSigningKey::generate(&mut rng);
        let jwk = app.public_key().to_jwk();
        let app_point = sec1_of(&jwk.x, &jwk.y);
        Self {
            app,
            other_app,
            impostor,
            signing,
            app_point,
        }
    }

    fn jwk(&self) -> Map<String, Value> {
        serde_json::to_value(self.signing.to_jwk())
            .expect("JSON")
            .as_object()
            .expect("object")
            .clone()
    }

    fn input(&self, plaintext: Vec<u8>) -> SealInput<'_> {
        SealInput {
            recipient: &self.app_point,
            ephemeral: [0x11; 32],
            plaintext,
            header_suffix: "",
        }
    }

    /// The crate's own sealing.
    fn sealed(&self) -> String {
        seal_link_signing_key(
            &self.signing,
            &self.app.public_key(),
            &mut SeededRandom::new(b"seal"),
        )
    }

    /// The test encryptor, reference plaintext, edited header.
    fn with_header(&self, edit: impl FnOnce(&mut Map<String, Value>)) -> String {
        let plaintext = serde_json::to_vec(&self.jwk()).expect("JSON");
        seal_raw(&self.input(plaintext), self.app.kid(), edit)
    }

    /// The test encryptor, edited plaintext JWK.
    fn with_jwk(&self, edit: impl FnOnce(&mut Map<String, Value>)) -> String {
        let mut jwk = self.jwk();
        edit(&mut jwk);
        self.with_plaintext(&serde_json::to_string(&jwk).expect("JSON"))
    }

    /// The test encryptor, raw plaintext.
    fn with_plaintext(&self, plaintext: &str) -> String {
        seal_raw(
            &self.input(plaintext.as_bytes().to_vec()),
            self.app.kid(),
            |_| {},
        )
    }
}

#[derive(Debug, Clone, Copy)]
enum Expect {
    Ok,
    Encryption(&'static str),
    Key(KeyError),
}

type Keys<'a> = Vec<&'a AppKeyPair>;

struct Case {
    name: &'static str,
    input: for<'a> fn(&'a Fixture) -> (String, Keys<'a>),
    expect: Expect,
}

fn case(
    name: &'static str,
    input: for<'a> fn(&'a Fixture) -> (String, Keys<'a>),
    expect: Expect,
) -> Case {
    Case {
        name,
        input,
        expect,
    }
}

fn check(cases: &[Case]) {
    let fx = Fixture::new();
    let mut failures = Vec::new();
    for case in cases {
        let (sealed, keys) = (case.input)(&fx);
        let got = unseal_link_signing_key(&sealed, &keys);
        let pass = match (case.expect, &got) {
            (Expect::Ok, Ok(key)) => key.verification_key() == fx.signing.verification_key(),
            (Expect::Encryption(want), Err(error @ UnsealError::InvalidEncryption { detail })) => {
                *detail == want && error.request_status() == "INVALID_LINK_SIGNING_KEY_ENCRYPTION"
            }
            (Expect::Key(want), Err(error @ UnsealError::InvalidKey(got))) => {
                *got == want && error.request_status() == "INVALID_LINK_SIGNING_KEY"
            }
            _ => false,
        };
        if !pass {
            failures.push(format!(
                "{}: expected {:?}, got {:?}",
                case.name,
                case.expect,
                got.map(|_| "Ok")
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

fn ours(fx: &Fixture, sealed: String) -> (String, Keys<'_>) {
    (sealed, vec![&fx.app])
}

#[test]
fn round_trips() {
    let mut rng = SeededRandom::new(b"round trips");
    for _ in 0..8 {
        let app = AppKeyPair::generate(&mut rng);
        let signing = LinkSigningKey::generate(&mut rng);
        let sealed = seal_link_signing_key(&signing, &app.public_key(), &mut rng);
        assert!(sealed.len() <= MAX_SEALED_KEY_BYTES);
        let unsealed = unseal_link_signing_key(&sealed, &[&app]).expect("unseals");
        assert_eq!(unsealed.private_scalar(), signing.private_scalar());
        assert_eq!(unsealed.verification_key(), signing.verification_key());
        // The unsealed key signs what the verification key accepts.
        let signature = DeterministicSigner::new(&unsealed).sign_es256(b"message");
        assert!(
            signing
                .verification_key()
                .verify_es256(b"message", &signature)
        );
        // The header is exactly the documented one.
        let header: Value =
            serde_json::from_slice(&unb64(sealed.split('.').next().expect("header")))
                .expect("JSON");
        let mut members: Vec<&str> = header
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        members.sort_unstable();
        assert_eq!(members, ["alg", "cty", "enc", "epk", "kid"]);
        assert_eq!(header["alg"], "ECDH-ES+A256KW");
        assert_eq!(header["enc"], "A256GCM");
        assert_eq!(header["cty"], "jwk+json");
        assert_eq!(header["kid"], app.kid());
    }
}

#[test]
fn hostile_sealed_keys() {
    const NOT_OURS: &str = "kid is not a key of this app";
    const HEADER: &str = "header is not the expected JSON";
    const UNSUPPORTED: &str = "unsupported alg or enc";
    const EPK: &str = "epk is not a P-256 point";
    const UNWRAP: &str = "key unwrap failed";
    const CONTENT: &str = "content decryption failed";
    const COMPACT: &str = "not a compact JWE";
    check(&[
        case(
            "sealed by the crate",
            |fx| ours(fx, fx.sealed()),
            Expect::Ok,
        ),
        case(
            "sealed by the test encryptor",
            |fx| ours(fx, fx.with_header(|_| {})),
            Expect::Ok,
        ),
        case(
            "apu and apv (fed to the KDF)",
            |fx| {
                ours(
                    fx,
                    fx.with_header(|h| {
                        h.insert("apu".into(), json!(b64(b"partner")));
                        h.insert("apv".into(), json!(b64(b"app")));
                    }),
                )
            },
            Expect::Ok,
        ),
        // Keys of the calling app.
        case(
            "rotation: sealed to the old key, both keys held",
            |fx| (fx.sealed(), vec![&fx.other_app, &fx.app]),
            Expect::Ok,
        ),
        case(
            "another app's key only",
            |fx| (fx.sealed(), vec![&fx.other_app]),
            Expect::Encryption(NOT_OURS),
        ),
        case(
            "no keys",
            |fx| (fx.sealed(), vec![]),
            Expect::Encryption(NOT_OURS),
        ),
        case(
            "same kid, another key",
            |fx| (fx.sealed(), vec![&fx.impostor]),
            Expect::Encryption(UNWRAP),
        ),
        case(
            "sealed to another app, kid relabelled as ours",
            |fx| {
                let jwk = fx.other_app.public_key().to_jwk();
                let input = SealInput {
                    recipient: &sec1_of(&jwk.x, &jwk.y),
                    ..fx.input(serde_json::to_vec(&fx.jwk()).expect("JSON"))
                };
                ours(fx, seal_raw(&input, fx.app.kid(), |_| {}))
            },
            Expect::Encryption(UNWRAP),
        ),
        case(
            "kid missing",
            |fx| {
                ours(
                    fx,
                    fx.with_header(|h| {
                        h.remove("kid");
                    }),
                )
            },
            Expect::Encryption(HEADER),
        ),
        // Algorithms and header members.
        case(
            "alg ECDH-ES (direct)",
            |fx| {
                ours(
                    fx,
                    fx.with_header(|h| drop(h.insert("alg".into(), json!("ECDH-ES")))),
                )
            },
            Expect::Encryption(UNSUPPORTED),
        ),
        case(
            "alg ECDH-ES+A128KW",
            |fx| {
                ours(
                    fx,
                    fx.with_header(|h| drop(h.insert("alg".into(), json!("ECDH-ES+A128KW")))),
                )
            },
            Expect::Encryption(UNSUPPORTED),
        ),
        case(
            "alg RSA-OAEP-256",
            |fx| {
                ours(
                    fx,
                    fx.with_header(|h| drop(h.insert("alg".into(), json!("RSA-OAEP-256")))),
                )
            },
            Expect::Encryption(UNSUPPORTED),
        ),
        case(
            "alg dir",
            |fx| {
                ours(
                    fx,
                    fx.with_header(|h| drop(h.insert("alg".into(), json!("dir")))),
                )
            },
            Expect::Encryption(UNSUPPORTED),
        ),
        case(
            "alg none",
            |fx| {
                ours(
                    fx,
                    fx.with_header(|h| drop(h.insert("alg".into(), json!("none")))),
                )
            },
            Expect::Encryption(UNSUPPORTED),
        ),
        case(
            "enc A128GCM",
            |fx| {
                ours(
                    fx,
                    fx.with_header(|h| drop(h.insert("enc".into(), json!("A128GCM")))),
                )
            },
            Expect::Encryption(UNSUPPORTED),
        ),
        case(
            "enc A256CBC-HS512",
            |fx| {
                ours(
                    fx,
                    fx.with_header(|h| drop(h.insert("enc".into(), json!("A256CBC-HS512")))),
                )
            },
            Expect::Encryption(UNSUPPORTED),
        ),
        case(
            "zip DEF",
            |fx| {
                ours(
                    fx,
                    fx.with_header(|h| drop(h.insert("zip".into(), json!("DEF")))),
                )
            },
            Expect::Encryption(HEADER),
        ),
        case(
            "crit",
            |fx| {
                ours(
                    fx,
                    fx.with_header(|h| drop(h.insert("crit".into(), json!(["exp"])))),
                )
            },
            Expect::Encryption(HEADER),
        ),
        case(
            "jku",
            |fx| {
                ours(
                    fx,
                    fx.with_header(|h| drop(h.insert("jku".into(), json!("https://evil.example")))),
                )
            },
            Expect::Encryption(HEADER),
        ),
        case(
            "cty jwk",
            |fx| {
                ours(
                    fx,
                    fx.with_header(|h| drop(h.insert("cty".into(), json!("jwk")))),
                )
            },
            Expect::Encryption("cty is not jwk+json"),
        ),
        case(
            "cty missing",
            |fx| {
                ours(
                    fx,
                    fx.with_header(|h| {
                        h.remove("cty");
                    }),
                )
            },
            Expect::Encryption(HEADER),
        ),
        case(
            "apu not base64url",
            |fx| {
                ours(
                    fx,
                    fx.with_header(|h| drop(h.insert("apu".into(), json!("a+b/")))),
                )
            },
            Expect::Encryption("apu/apv is not base64url"),
        ),
        case(
            "duplicate alg",
            |fx| {
                let sealed = fx.sealed();
                let tampered = edit_part(&sealed, 0, |h| {
                    let text = String::from_utf8(h.clone()).expect("UTF-8");
                    *h = text.replacen('{', r#"{"alg":"dir","#, 1).into_bytes();
                });
                ours(fx, tampered)
            },
            Expect::Encryption(HEADER),
        ),
        // The ephemeral key (invalid-curve attacks).
        case(
            "epk off the curve",
            |fx| {
                ours(
                    fx,
                    fx.with_header(|h| {
                        let mut y = unb64(h["epk"]["y"].as_str().expect("y"));
                        y[31] ^= 1;
                        h["epk"]["y"] = json!(b64(&y));
                    }),
                )
            },
            Expect::Encryption(EPK),
        ),
        case(
            "epk (0, 0), the usual spelling of the identity",
            |fx| {
                ours(
                    fx,
                    fx.with_header(|h| {
                        h["epk"]["x"] = json!(b64(&[0; 32]));
                        h["epk"]["y"] = json!(b64(&[0; 32]));
                    }),
                )
            },
            Expect::Encryption(EPK),
        ),
        case(
            "epk on P-384",
            |fx| {
                ours(
                    fx,
                    fx.with_header(|h| {
                        h["epk"] = json!({"kty": "EC", "crv": "P-384", "x": b64(&[1; 48]), "y": b64(&[2; 48])});
                    }),
                )
            },
            Expect::Encryption(EPK),
        ),
        case(
            "epk labelled secp256k1",
            |fx| ours(fx, fx.with_header(|h| h["epk"]["crv"] = json!("secp256k1"))),
            Expect::Encryption(EPK),
        ),
        case(
            "epk X25519",
            |fx| {
                ours(
                    fx,
                    fx.with_header(|h| {
                        h["epk"] = json!({"kty": "OKP", "crv": "X25519", "x": b64(&[9; 32])});
                    }),
                )
            },
            Expect::Encryption(HEADER),
        ),
        case(
            "epk with a private d",
            |fx| {
                ours(
                    fx,
                    fx.with_header(|h| h["epk"]["d"] = json!(b64(&[0x11; 32]))),
                )
            },
            Expect::Encryption(HEADER),
        ),
        // serde's derived structs also take a JSON array of the field values
        // in order; JOSE headers and JWKs are JSON objects only.
        case(
            "epk as a JSON array",
            |fx| {
                ours(
                    fx,
                    fx.with_header(|h| {
                        let e = h["epk"].clone();
                        h["epk"] = json!([e["kty"], e["crv"], e["x"], e["y"]]);
                    }),
                )
            },
            Expect::Encryption(HEADER),
        ),
        case(
            "header as a JSON array",
            |fx| {
                let sealed = fx.with_header(|_| {});
                let tampered = edit_part(&sealed, 0, |h| {
                    let header: Value = serde_json::from_slice(h).expect("JSON");
                    let names = ["alg", "enc", "kid", "epk", "cty"];
                    let values: Vec<&Value> = names.iter().map(|name| &header[*name]).collect();
                    *h = serde_json::to_vec(&values).expect("JSON");
                });
                ours(fx, tampered)
            },
            Expect::Encryption(HEADER),
        ),
        case(
            "epk missing",
            |fx| {
                ours(
                    fx,
                    fx.with_header(|h| {
                        h.remove("epk");
                    }),
                )
            },
            Expect::Encryption(HEADER),
        ),
        // Tampering with each part.
        case(
            "header re-encoded (AAD changed)",
            |fx| ours(fx, edit_part(&fx.sealed(), 0, |h| h.push(b' '))),
            Expect::Encryption(CONTENT),
        ),
        case(
            "header kid changed",
            |fx| {
                let kid = fx.app.kid().to_owned();
                let tampered = edit_part(&fx.sealed(), 0, |h| {
                    let text = String::from_utf8(h.clone()).expect("UTF-8");
                    *h = text.replace(&kid, "another-kid").into_bytes();
                });
                ours(fx, tampered)
            },
            Expect::Encryption(NOT_OURS),
        ),
        case(
            "encrypted key flipped",
            |fx| ours(fx, edit_part(&fx.sealed(), 1, |ek| ek[3] ^= 0x20)),
            Expect::Encryption(UNWRAP),
        ),
        case(
            "encrypted key of 32 bytes",
            |fx| ours(fx, edit_part(&fx.sealed(), 1, |ek| ek.truncate(32))),
            Expect::Encryption(UNWRAP),
        ),
        case(
            "encrypted key empty",
            |fx| ours(fx, edit_part(&fx.sealed(), 1, Vec::clear)),
            Expect::Encryption(UNWRAP),
        ),
        case(
            "iv flipped",
            |fx| ours(fx, edit_part(&fx.sealed(), 2, |iv| iv[0] ^= 1)),
            Expect::Encryption(CONTENT),
        ),
        case(
            "iv of 16 bytes",
            |fx| ours(fx, edit_part(&fx.sealed(), 2, |iv| iv.extend([0; 4]))),
            Expect::Encryption(COMPACT),
        ),
        case(
            "ciphertext flipped",
            |fx| ours(fx, edit_part(&fx.sealed(), 3, |ct| ct[10] ^= 0x08)),
            Expect::Encryption(CONTENT),
        ),
        case(
            "ciphertext truncated",
            |fx| {
                ours(
                    fx,
                    edit_part(&fx.sealed(), 3, |ct| ct.truncate(ct.len() - 1)),
                )
            },
            Expect::Encryption(CONTENT),
        ),
        case(
            "ciphertext empty",
            |fx| ours(fx, edit_part(&fx.sealed(), 3, Vec::clear)),
            Expect::Encryption(CONTENT),
        ),
        case(
            "tag flipped",
            |fx| ours(fx, edit_part(&fx.sealed(), 4, |tag| tag[15] ^= 0x80)),
            Expect::Encryption(CONTENT),
        ),
        case(
            "tag of 15 bytes",
            |fx| ours(fx, edit_part(&fx.sealed(), 4, |tag| tag.truncate(15))),
            Expect::Encryption(COMPACT),
        ),
        case(
            "four parts",
            |fx| {
                let sealed = fx.sealed();
                ours(fx, sealed[..sealed.rfind('.').expect("dots")].to_owned())
            },
            Expect::Encryption(COMPACT),
        ),
        case(
            "six parts",
            |fx| ours(fx, format!("{}.AAAA", fx.sealed())),
            Expect::Encryption(COMPACT),
        ),
        case(
            "empty header part",
            |fx| {
                let sealed = fx.sealed();
                ours(fx, sealed[sealed.find('.').expect("dots")..].to_owned())
            },
            Expect::Encryption(COMPACT),
        ),
        case(
            "= padding on a part",
            |fx| {
                let sealed = fx.sealed();
                let mut parts: Vec<String> = sealed.split('.').map(str::to_owned).collect();
                parts[3].push('=');
                ours(fx, parts.join("."))
            },
            Expect::Encryption(COMPACT),
        ),
        case(
            "a link token presented as a sealed key",
            |fx| {
                let key = LinkTokenKey::new("ltk-1", [1; 32]).expect("kid");
                let claims = ssi_token::LinkTokenClaims {
                    partner_user_id: "u".into(),
                    platform_user_id: "p".into(),
                    verification_key: fx.signing.verification_key(),
                    issued_at: 1,
                    ctx: Default::default(),
                };
                let token = ssi_token::make_link_token(&claims, &key, &mut SeededRandom::new(b"l"));
                ours(fx, token)
            },
            Expect::Encryption(HEADER),
        ),
        case(
            "empty string",
            |fx| ours(fx, String::new()),
            Expect::Encryption(COMPACT),
        ),
        // Size: the exact limit unseals, one byte more is refused unread.
        case(
            "exactly 4096 bytes",
            |fx| ours(fx, sealed_of_len(fx, MAX_SEALED_KEY_BYTES)),
            Expect::Ok,
        ),
        case(
            "4097 bytes",
            |fx| ours(fx, sealed_of_len(fx, MAX_SEALED_KEY_BYTES + 1)),
            Expect::Encryption("sealed key over 4096 bytes"),
        ),
    ]);
}

/// A valid sealed key of exactly `len` bytes: the plaintext JWK gets
/// trailing whitespace and the header a JSON-whitespace suffix.
fn sealed_of_len(fx: &Fixture, len: usize) -> String {
    let jwk = serde_json::to_string(&fx.jwk()).expect("JSON");
    for suffix in ["", " ", "  "] {
        for pad in 0..len {
            let mut input = fx.input(format!("{jwk}{}", " ".repeat(pad)).into_bytes());
            input.header_suffix = suffix;
            let sealed = seal_raw(&input, fx.app.kid(), |_| {});
            if sealed.len() == len {
                return sealed;
            }
            if sealed.len() > len {
                break;
            }
        }
    }
    panic!("no sealed key of {len} bytes");
}

#[test]
fn plaintexts_that_are_not_a_link_signing_key() {
    check(&[
        case(
            "control: the reference JWK via the test encryptor",
            |fx| ours(fx, fx.with_jwk(|_| {})),
            Expect::Ok,
        ),
        case(
            "not JSON",
            |fx| ours(fx, fx.with_plaintext("hello")),
            Expect::Key(KeyError::NotAJwk),
        ),
        case(
            "empty",
            |fx| ours(fx, fx.with_plaintext("")),
            Expect::Key(KeyError::NotAJwk),
        ),
        case(
            "a JSON array",
            |fx| ours(fx, fx.with_plaintext("[]")),
            Expect::Key(KeyError::NotAJwk),
        ),
        case(
            "the JWK as a JSON array of its members",
            |fx| {
                let j = fx.jwk();
                let array = json!([j["kty"], j["crv"], j["x"], j["y"], j["d"]]);
                ours(fx, fx.with_plaintext(&array.to_string()))
            },
            Expect::Key(KeyError::NotAJwk),
        ),
        case(
            "an empty object",
            |fx| ours(fx, fx.with_plaintext("{}")),
            Expect::Key(KeyError::NotAJwk),
        ),
        case(
            "a public JWK (d missing)",
            |fx| ours(fx, fx.with_jwk(|j| drop(j.remove("d")))),
            Expect::Key(KeyError::NotAJwk),
        ),
        case(
            "an extra member (kid)",
            |fx| {
                ours(
                    fx,
                    fx.with_jwk(|j| drop(j.insert("kid".into(), json!("k")))),
                )
            },
            Expect::Key(KeyError::NotAJwk),
        ),
        case(
            "duplicate d",
            |fx| {
                let jwk = serde_json::to_string(&fx.jwk()).expect("JSON");
                let text = jwk.replacen('{', &format!(r#"{{"d":"{}","#, b64(&[1; 32])), 1);
                ours(fx, fx.with_plaintext(&text))
            },
            Expect::Key(KeyError::NotAJwk),
        ),
        case(
            "kty RSA",
            |fx| {
                ours(
                    fx,
                    fx.with_jwk(|j| drop(j.insert("kty".into(), json!("RSA")))),
                )
            },
            Expect::Key(KeyError::WrongKeyType),
        ),
        case(
            "crv P-384",
            |fx| {
                ours(
                    fx,
                    fx.with_jwk(|j| drop(j.insert("crv".into(), json!("P-384")))),
                )
            },
            Expect::Key(KeyError::WrongCurve),
        ),
        case(
            "x of 31 bytes",
            |fx| {
                ours(
                    fx,
                    fx.with_jwk(|j| {
                        let x = unb64(j["x"].as_str().expect("x"));
                        j.insert("x".into(), json!(b64(&x[1..])));
                    }),
                )
            },
            Expect::Key(KeyError::BadCoordinate("x")),
        ),
        case(
            "x,y off the curve",
            |fx| {
                ours(
                    fx,
                    fx.with_jwk(|j| {
                        let mut y = unb64(j["y"].as_str().expect("y"));
                        y[0] ^= 1;
                        j.insert("y".into(), json!(b64(&y)));
                    }),
                )
            },
            Expect::Key(KeyError::NotOnCurve),
        ),
        case(
            "x,y of another key",
            |fx| {
                let other = fx.other_app.public_key().to_jwk();
                ours(
                    fx,
                    fx.with_jwk(|j| {
                        j.insert("x".into(), json!(other.x));
                        j.insert("y".into(), json!(other.y));
                    }),
                )
            },
            Expect::Key(KeyError::PublicKeyMismatch),
        ),
        case(
            "d = 0",
            |fx| {
                ours(
                    fx,
                    fx.with_jwk(|j| drop(j.insert("d".into(), json!(b64(&[0; 32]))))),
                )
            },
            Expect::Key(KeyError::BadPrivateScalar),
        ),
        case(
            "d = n",
            |fx| {
                ours(
                    fx,
                    fx.with_jwk(|j| drop(j.insert("d".into(), json!(b64(&P256_N))))),
                )
            },
            Expect::Key(KeyError::BadPrivateScalar),
        ),
        case(
            "d = 2^256 - 1",
            |fx| {
                ours(
                    fx,
                    fx.with_jwk(|j| drop(j.insert("d".into(), json!(b64(&[0xff; 32]))))),
                )
            },
            Expect::Key(KeyError::BadPrivateScalar),
        ),
        case(
            "d + n does not fit: d of 33 bytes",
            |fx| {
                ours(
                    fx,
                    fx.with_jwk(|j| {
                        let mut d = vec![0];
                        d.extend(unb64(j["d"].as_str().expect("d")));
                        j.insert("d".into(), json!(b64(&d)));
                    }),
                )
            },
            Expect::Key(KeyError::BadPrivateScalar),
        ),
        case(
            "d padded",
            |fx| {
                ours(
                    fx,
                    fx.with_jwk(|j| {
                        let d = format!("{}=", j["d"].as_str().expect("d"));
                        j.insert("d".into(), json!(d));
                    }),
                )
            },
            Expect::Key(KeyError::BadPrivateScalar),
        ),
        case(
            "d = 0 with x,y = G",
            |fx| {
                let jwk = jwk_of_scalar(&scalar(1)).replace(&b64(&scalar(1)), &b64(&[0; 32]));
                ours(fx, fx.with_plaintext(&jwk))
            },
            Expect::Key(KeyError::BadPrivateScalar),
        ),
    ]);
}

fn scalar(value: u8) -> [u8; 32] {
    let mut d = [0u8; 32];
    d[31] = value;
    d
}

/// The private JWK of a scalar (computed here, not by the crate).
fn jwk_of_scalar(d: &[u8; 32]) -> String {
    let point = public_of(d);
    serde_json::to_string(&EcPrivateJwk {
        kty: "EC".into(),
        crv: "P-256".into(),
        x: b64(&point[1..33]),
        y: b64(&point[33..]),
        d: b64(d),
    })
    .expect("JSON")
}

#[test]
fn edge_scalars_are_valid_link_signing_keys() {
    // d = 1 and d = n - 1 are in [1, n-1]: valid keys, which seal and unseal.
    let app = AppKeyPair::generate(&mut SeededRandom::new(b"edge"));
    for d in [scalar(1), sub_be(&P256_N, &scalar(1))] {
        let key = LinkSigningKey::from_jwk_json(&jwk_of_scalar(&d)).expect("valid");
        let sealed = seal_link_signing_key(&key, &app.public_key(), &mut SeededRandom::new(b"e"));
        let back = unseal_link_signing_key(&sealed, &[&app]).expect("unseals");
        assert_eq!(back.private_scalar(), &d);
    }
}

#[test]
fn request_status_strings() {
    let encryption = UnsealError::InvalidEncryption { detail: "x" };
    assert_eq!(
        encryption.request_status(),
        "INVALID_LINK_SIGNING_KEY_ENCRYPTION"
    );
    assert_eq!(encryption.detail(), "x");
    assert!(
        encryption
            .to_string()
            .starts_with("INVALID_LINK_SIGNING_KEY_ENCRYPTION: ")
    );
    let key = UnsealError::InvalidKey(KeyError::PublicKeyMismatch);
    assert_eq!(key.request_status(), "INVALID_LINK_SIGNING_KEY");
    assert_eq!(key.detail(), KeyError::PublicKeyMismatch.to_string());
    assert!(key.to_string().starts_with("INVALID_LINK_SIGNING_KEY: "));
    assert!(key.to_string().contains("x,y do not match d"));
    // The external message of an encryption failure never carries the
    // internal detail (no decryption oracle through messages).
    let fx = Fixture::new();
    for sealed in [
        edit_part(&fx.sealed(), 4, |tag| tag[0] ^= 1),
        edit_part(&fx.sealed(), 1, |ek| ek[0] ^= 1),
        format!("{}.AAAA", fx.sealed()),
    ] {
        let error = unseal_link_signing_key(&sealed, &[&fx.app]).expect_err("refused");
        assert_eq!(
            error.to_string(),
            "INVALID_LINK_SIGNING_KEY_ENCRYPTION: the link signing key cannot be decrypted with this app's keys"
        );
    }
}

/// Every rendering of a secret-holding value must not contain the secret,
/// in base64url, standard base64 or hex.
fn assert_hides(rendered: &str, secret: &[u8], what: &str) {
    let forms = [
        b64(secret),
        base64::engine::general_purpose::STANDARD.encode(secret),
        secret.iter().map(|b| format!("{b:02x}")).collect(),
        format!("{secret:?}"),
    ];
    for form in forms {
        assert!(
            !rendered.contains(&form),
            "{what} reveals the secret: {rendered}"
        );
    }
}

#[test]
fn debug_and_display_never_show_private_keys() {
    let fx = Fixture::new();
    let d = *fx.signing.private_scalar();
    let app_jwk = fx.app.to_private_jwk();
    let app_d = unb64(app_jwk.d.as_deref().expect("d"));
    let link_token_key = LinkTokenKey::generate(&mut SeededRandom::new(b"ltk"));
    let k = unb64(&link_token_key.to_jwk().k);

    let renderings = [
        ("LinkSigningKey", format!("{:?}", fx.signing), d.to_vec()),
        (
            "EcPrivateJwk",
            format!("{:?}", fx.signing.to_jwk()),
            d.to_vec(),
        ),
        (
            "DeterministicSigner",
            format!("{:?}", DeterministicSigner::new(&fx.signing)),
            d.to_vec(),
        ),
        ("AppKeyPair", format!("{:?}", fx.app), app_d.clone()),
        ("private AppJwk", format!("{app_jwk:?}"), app_d.clone()),
        (
            "AppPublicKey",
            format!("{:?}", fx.app.public_key()),
            app_d.clone(),
        ),
        ("LinkTokenKey", format!("{link_token_key:?}"), k.clone()),
        (
            "OctJwk",
            format!("{:?}", link_token_key.to_jwk()),
            k.clone(),
        ),
        (
            "LinkTokenKeys",
            format!("{:?}", LinkTokenKeys::single(link_token_key)),
            k.clone(),
        ),
    ];
    for (what, rendered, secret) in &renderings {
        assert_hides(rendered, secret, what);
    }

    // Errors from plaintexts that contain the real d next to a wrong x,y.
    let other = fx.other_app.public_key().to_jwk();
    let mismatched = fx.with_jwk(|j| {
        j.insert("x".into(), json!(other.x));
        j.insert("y".into(), json!(other.y));
    });
    let not_a_jwk = fx.with_jwk(|j| drop(j.insert("extra".into(), json!(1))));
    for sealed in [mismatched, not_a_jwk] {
        let error = unseal_link_signing_key(&sealed, &[&fx.app]).expect_err("refused");
        for rendered in [format!("{error}"), format!("{error:?}"), error.detail()] {
            assert_hides(&rendered, &d, "UnsealError");
        }
    }
    // KeyError from a JWK holding the real d.
    let mut jwk = fx.signing.to_jwk();
    jwk.x = other.x.clone();
    jwk.y = other.y.clone();
    let error = LinkSigningKey::from_jwk(&jwk).expect_err("mismatch");
    assert_hides(&format!("{error} {error:?}"), &d, "KeyError");
    let error = AppKeyPair::from_private_jwk(&AppJwk {
        x: other.x,
        y: other.y,
        ..app_jwk
    })
    .expect_err("mismatch");
    assert_hides(&format!("{error} {error:?}"), &app_d, "KeyError");
}
