//! Keys as JWKs (DESIGN.md section 5, "Keys"): round trips for every key
//! kind, hostile JWKs and raw keys with the exact `KeyError` expected, and the
//! app key `kid` as the RFC 7638 thumbprint, recomputed here independently.

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use serde_json::{Map, Value, json};
use ssi_token::{
    AppJwk, AppKeyPair, AppPublicKey, EcPrivateJwk, EcPublicJwk, KeyError, LinkSigningKey,
    LinkTokenKey, LinkVerificationKey, OctJwk, SeededRandom,
};

use crate::sealed::public_of;
use crate::verify_matrix::{P256_N, sub_be};

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(text)
        .expect("test input is base64url")
}

/// The P-256 field prime p, big-endian.
const P256_P: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
];

fn scalar(value: u8) -> [u8; 32] {
    let mut d = [0u8; 32];
    d[31] = value;
    d
}

/// RFC 7638 section 3, written independently: the required members of an EC
/// key (`crv`, `kty`, `x`, `y`) in lexicographic order — here sorted by a
/// `BTreeMap`-backed JSON object — with no whitespace, SHA-256, base64url.
fn rfc7638_thumbprint(x: &str, y: &str) -> String {
    let members: std::collections::BTreeMap<&str, &str> =
        [("y", y), ("x", x), ("kty", "EC"), ("crv", "P-256")].into();
    let canonical = serde_json::to_string(&members).expect("JSON");
    assert!(!canonical.contains(' '));
    b64(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
}

struct Fixture {
    signing: LinkSigningKey,
    other: LinkSigningKey,
    app: AppKeyPair,
    link_token_key: LinkTokenKey,
}

impl Fixture {
    fn new() -> Self {
        let mut rng = SeededRandom::new(b"keys-tests");
        // A key whose x contains a base64url-only character, so that the
        // standard-alphabet case below really differs.
        let signing = loop {
            let key = LinkSigningKey::generate(&mut rng);
            if key.to_jwk().x.contains(['-', '_']) {
                break key;
            }
        };
        Self {
            signing,
            other: LinkSigningKey::generate(&mut rng),
            app: AppKeyPair::generate(&mut rng),
            link_token_key: LinkTokenKey::generate(&mut rng),
        }
    }

    fn public(&self) -> Map<String, Value> {
        to_object(&self.signing.verification_key().to_jwk())
    }

    fn private(&self) -> Map<String, Value> {
        to_object(&self.signing.to_jwk())
    }

    fn app_private(&self) -> Map<String, Value> {
        to_object(&self.app.to_private_jwk())
    }

    fn app_public(&self) -> Map<String, Value> {
        to_object(&self.app.public_key().to_jwk())
    }

    fn oct(&self) -> Map<String, Value> {
        to_object(&self.link_token_key.to_jwk())
    }
}

fn to_object(value: &impl serde::Serialize) -> Map<String, Value> {
    serde_json::to_value(value)
        .expect("JSON")
        .as_object()
        .expect("object")
        .clone()
}

fn with(mut jwk: Map<String, Value>, member: &str, value: Value) -> String {
    jwk.insert(member.to_owned(), value);
    Value::Object(jwk).to_string()
}

fn without(mut jwk: Map<String, Value>, member: &str) -> String {
    jwk.remove(member);
    Value::Object(jwk).to_string()
}

fn text(jwk: Map<String, Value>) -> String {
    Value::Object(jwk).to_string()
}

/// Edits one base64url member's decoded bytes.
fn with_bytes(jwk: Map<String, Value>, member: &str, edit: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut bytes = unb64(jwk[member].as_str().expect("a string member"));
    edit(&mut bytes);
    with(jwk, member, json!(b64(&bytes)))
}

// The parsers under test, each from JSON text.
fn verification_key(json: &str) -> Result<(), KeyError> {
    let jwk: EcPublicJwk = serde_json::from_str(json).map_err(|_| KeyError::NotAJwk)?;
    LinkVerificationKey::from_jwk(&jwk).map(drop)
}

fn signing_key(json: &str) -> Result<(), KeyError> {
    LinkSigningKey::from_jwk_json(json).map(drop)
}

fn app_key_pair(json: &str) -> Result<(), KeyError> {
    AppKeyPair::from_private_jwk_json(json).map(drop)
}

fn app_public_key(json: &str) -> Result<(), KeyError> {
    AppPublicKey::from_jwk_json(json).map(drop)
}

fn link_token_key(json: &str) -> Result<(), KeyError> {
    LinkTokenKey::from_jwk_json(json).map(drop)
}

struct Case {
    name: &'static str,
    run: fn(&Fixture) -> Result<(), KeyError>,
    expect: Result<(), KeyError>,
}

fn case(
    name: &'static str,
    run: fn(&Fixture) -> Result<(), KeyError>,
    expect: Result<(), KeyError>,
) -> Case {
    Case { name, run, expect }
}

fn check(cases: &[Case]) {
    let fx = Fixture::new();
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            let got = (case.run)(&fx);
            (got != case.expect)
                .then(|| format!("{}: expected {:?}, got {:?}", case.name, case.expect, got))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn round_trips() {
    let fx = Fixture::new();
    // Link signing key: private JWK (struct and JSON), raw scalar + point.
    let jwk = fx.signing.to_jwk();
    let back = LinkSigningKey::from_jwk(&jwk).expect("struct");
    assert_eq!(back.private_scalar(), fx.signing.private_scalar());
    let json = serde_json::to_string(&jwk).expect("JSON");
    let back = LinkSigningKey::from_jwk_json(&json).expect("JSON");
    assert_eq!(back.verification_key(), fx.signing.verification_key());
    let back = LinkSigningKey::from_raw(fx.signing.private_scalar(), fx.signing.public_sec1())
        .expect("raw");
    assert_eq!(back.to_jwk().d, jwk.d);
    let mut members: Vec<String> = to_object(&jwk).keys().cloned().collect();
    members.sort_unstable();
    assert_eq!(members, ["crv", "d", "kty", "x", "y"]);

    // Link verification key: public JWK and SEC1.
    let public = fx.signing.verification_key();
    let public_jwk = public.to_jwk();
    assert_eq!(public_jwk.kty, "EC");
    assert_eq!(public_jwk.crv, "P-256");
    assert_eq!(
        (public_jwk.x.as_str(), public_jwk.y.as_str()),
        (jwk.x.as_str(), jwk.y.as_str())
    );
    assert_eq!(
        LinkVerificationKey::from_jwk(&public_jwk).expect("JWK"),
        public
    );
    assert_eq!(
        LinkVerificationKey::from_sec1(fx.signing.public_sec1()).expect("SEC1"),
        public
    );

    // App key pair: private JWK (struct, JSON), scalar; public JWK.
    let app_jwk = fx.app.to_private_jwk();
    assert_eq!(app_jwk.use_, "enc");
    assert_eq!(app_jwk.alg, "ECDH-ES+A256KW");
    let back = AppKeyPair::from_private_jwk(&app_jwk).expect("struct");
    assert_eq!(back.kid(), fx.app.kid());
    let json = serde_json::to_string(&app_jwk).expect("JSON");
    assert!(json.contains(r#""use":"enc""#));
    let back = AppKeyPair::from_private_jwk_json(&json).expect("JSON");
    assert_eq!(back.public_key(), fx.app.public_key());
    let d: [u8; 32] = unb64(app_jwk.d.as_deref().expect("d"))
        .try_into()
        .expect("32 bytes");
    assert_eq!(
        AppKeyPair::from_private_scalar(&d)
            .expect("scalar")
            .public_key(),
        fx.app.public_key()
    );
    let public_jwk = fx.app.public_key().to_jwk();
    assert!(public_jwk.d.is_none());
    let json = serde_json::to_string(&public_jwk).expect("JSON");
    assert!(!json.contains(r#""d""#));
    assert_eq!(
        AppPublicKey::from_jwk_json(&json).expect("JSON"),
        fx.app.public_key()
    );
    assert_eq!(
        AppPublicKey::from_jwk(&public_jwk).expect("struct"),
        fx.app.public_key()
    );

    // Link-token key.
    let oct = fx.link_token_key.to_jwk();
    assert_eq!((oct.kty.as_str(), oct.alg.as_str()), ("oct", "A256GCMKW"));
    let back = LinkTokenKey::from_jwk(&oct).expect("struct");
    assert_eq!(back.to_jwk().k, oct.k);
    let back =
        LinkTokenKey::from_jwk_json(&serde_json::to_string(&oct).expect("JSON")).expect("JSON");
    assert_eq!(back.kid(), fx.link_token_key.kid());
    // The generated kid is 96 random bits, not derived from the key.
    assert_eq!(unb64(back.kid()).len(), 12);
    assert!(!oct.k.contains(back.kid()));
}

#[test]
fn app_kid_is_the_rfc7638_thumbprint() {
    let mut rng = SeededRandom::new(b"thumbprints");
    for _ in 0..16 {
        let app = AppKeyPair::generate(&mut rng);
        let jwk = app.public_key().to_jwk();
        assert_eq!(app.kid(), rfc7638_thumbprint(&jwk.x, &jwk.y));
        assert_eq!(jwk.kid, app.kid());
        let d: [u8; 32] = unb64(app.to_private_jwk().d.as_deref().expect("d"))
            .try_into()
            .expect("32 bytes");
        assert_eq!(
            AppKeyPair::from_private_scalar(&d).expect("d").kid(),
            app.kid()
        );
    }
    // A value computed outside Rust (Python hashlib over the canonical JSON)
    // for the RFC 7515 appendix A.3 key.
    let x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    let y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
    let thumbprint = "oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U";
    assert_eq!(rfc7638_thumbprint(x, y), thumbprint);
    let d: [u8; 32] = unb64("jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI")
        .try_into()
        .expect("32 bytes");
    assert_eq!(
        AppKeyPair::from_private_scalar(&d).expect("d").kid(),
        thumbprint
    );
}

#[test]
fn hostile_ec_jwks() {
    check(&[
        // Public (vKey).
        case(
            "public: reference",
            |fx| verification_key(&text(fx.public())),
            Ok(()),
        ),
        case(
            "public: kty RSA",
            |fx| verification_key(&with(fx.public(), "kty", json!("RSA"))),
            Err(KeyError::WrongKeyType),
        ),
        case(
            "public: kty ec (case)",
            |fx| verification_key(&with(fx.public(), "kty", json!("ec"))),
            Err(KeyError::WrongKeyType),
        ),
        case(
            "public: kty OKP",
            |fx| verification_key(&with(fx.public(), "kty", json!("OKP"))),
            Err(KeyError::WrongKeyType),
        ),
        case(
            "public: kty checked before crv",
            |fx| {
                let jwk = with(fx.public(), "kty", json!("RSA"));
                let mut jwk: Map<String, Value> = serde_json::from_str(&jwk).expect("JSON");
                jwk.insert("crv".into(), json!("P-384"));
                verification_key(&text(jwk))
            },
            Err(KeyError::WrongKeyType),
        ),
        case(
            "public: crv P-384",
            |fx| verification_key(&with(fx.public(), "crv", json!("P-384"))),
            Err(KeyError::WrongCurve),
        ),
        case(
            "public: crv p-256 (case)",
            |fx| verification_key(&with(fx.public(), "crv", json!("p-256"))),
            Err(KeyError::WrongCurve),
        ),
        case(
            "public: crv secp256r1 (alias)",
            |fx| verification_key(&with(fx.public(), "crv", json!("secp256r1"))),
            Err(KeyError::WrongCurve),
        ),
        case(
            "public: crv missing",
            |fx| verification_key(&without(fx.public(), "crv")),
            Err(KeyError::NotAJwk),
        ),
        case(
            "public: x of 31 bytes",
            |fx| {
                verification_key(&with_bytes(fx.public(), "x", |x| {
                    x.remove(0);
                }))
            },
            Err(KeyError::BadCoordinate("x")),
        ),
        case(
            "public: x of 33 bytes (leading zero)",
            |fx| verification_key(&with_bytes(fx.public(), "x", |x| x.insert(0, 0))),
            Err(KeyError::BadCoordinate("x")),
        ),
        case(
            "public: y of 33 bytes",
            |fx| verification_key(&with_bytes(fx.public(), "y", |y| y.push(0))),
            Err(KeyError::BadCoordinate("y")),
        ),
        case(
            "public: x padded",
            |fx| {
                let x = format!("{}=", fx.public()["x"].as_str().expect("x"));
                verification_key(&with(fx.public(), "x", json!(x)))
            },
            Err(KeyError::BadCoordinate("x")),
        ),
        case(
            "public: x in the standard alphabet",
            |fx| {
                let x = STANDARD_NO_PAD.encode(unb64(fx.public()["x"].as_str().expect("x")));
                assert!(x.contains(['+', '/']));
                verification_key(&with(fx.public(), "x", json!(x)))
            },
            Err(KeyError::BadCoordinate("x")),
        ),
        case(
            "public: x empty",
            |fx| verification_key(&with(fx.public(), "x", json!(""))),
            Err(KeyError::BadCoordinate("x")),
        ),
        case(
            "public: x as a number",
            |fx| verification_key(&with(fx.public(), "x", json!(1))),
            Err(KeyError::NotAJwk),
        ),
        case(
            "public: off the curve",
            |fx| verification_key(&with_bytes(fx.public(), "y", |y| y[31] ^= 1)),
            Err(KeyError::NotOnCurve),
        ),
        case(
            "public: (0, 0)",
            |fx| {
                let jwk = with(fx.public(), "x", json!(b64(&[0; 32])));
                let jwk: Map<String, Value> = serde_json::from_str(&jwk).expect("JSON");
                verification_key(&with(jwk, "y", json!(b64(&[0; 32]))))
            },
            Err(KeyError::NotOnCurve),
        ),
        case(
            "public: x = p (not a field element)",
            |fx| verification_key(&with(fx.public(), "x", json!(b64(&P256_P)))),
            Err(KeyError::NotOnCurve),
        ),
        case(
            "public: y = p (not a field element)",
            |fx| verification_key(&with(fx.public(), "y", json!(b64(&P256_P)))),
            Err(KeyError::NotOnCurve),
        ),
        case(
            "public: extra member kid",
            |fx| verification_key(&with(fx.public(), "kid", json!("k"))),
            Err(KeyError::NotAJwk),
        ),
        case(
            "public: extra member d",
            |fx| verification_key(&with(fx.public(), "d", fx.private()["d"].clone())),
            Err(KeyError::NotAJwk),
        ),
        // Private (link signing key).
        case(
            "private: reference",
            |fx| signing_key(&text(fx.private())),
            Ok(()),
        ),
        case(
            "private: JSON array of the members",
            |fx| {
                let j = fx.private();
                signing_key(&json!([j["kty"], j["crv"], j["x"], j["y"], j["d"]]).to_string())
            },
            Err(KeyError::NotAJwk),
        ),
        case(
            "private: d missing",
            |fx| signing_key(&without(fx.private(), "d")),
            Err(KeyError::NotAJwk),
        ),
        case(
            "private: extra member use",
            |fx| signing_key(&with(fx.private(), "use", json!("sig"))),
            Err(KeyError::NotAJwk),
        ),
        case(
            "private: extra member alg",
            |fx| signing_key(&with(fx.private(), "alg", json!("ES256"))),
            Err(KeyError::NotAJwk),
        ),
        case(
            "private: duplicate d",
            |fx| {
                let json =
                    text(fx.private()).replacen('{', &format!(r#"{{"d":"{}","#, b64(&[1; 32])), 1);
                signing_key(&json)
            },
            Err(KeyError::NotAJwk),
        ),
        case(
            "private: not JSON",
            |_| signing_key("EC P-256"),
            Err(KeyError::NotAJwk),
        ),
        case(
            "private: d = 0",
            |fx| signing_key(&with(fx.private(), "d", json!(b64(&[0; 32])))),
            Err(KeyError::BadPrivateScalar),
        ),
        case(
            "private: d = n",
            |fx| signing_key(&with(fx.private(), "d", json!(b64(&P256_N)))),
            Err(KeyError::BadPrivateScalar),
        ),
        case(
            "private: d = n + 1",
            |fx| {
                let mut d = P256_N;
                d[31] += 1;
                signing_key(&with(fx.private(), "d", json!(b64(&d))))
            },
            Err(KeyError::BadPrivateScalar),
        ),
        case(
            "private: d = 2^256 - 1",
            |fx| signing_key(&with(fx.private(), "d", json!(b64(&[0xff; 32])))),
            Err(KeyError::BadPrivateScalar),
        ),
        case(
            "private: d of 31 bytes",
            |fx| {
                signing_key(&with_bytes(fx.private(), "d", |d| {
                    d.remove(0);
                }))
            },
            Err(KeyError::BadPrivateScalar),
        ),
        case(
            "private: d of 33 bytes",
            |fx| signing_key(&with_bytes(fx.private(), "d", |d| d.insert(0, 0))),
            Err(KeyError::BadPrivateScalar),
        ),
        case(
            "private: d padded",
            |fx| {
                let d = format!("{}=", fx.private()["d"].as_str().expect("d"));
                signing_key(&with(fx.private(), "d", json!(d)))
            },
            Err(KeyError::BadPrivateScalar),
        ),
        case(
            "private: d of another key",
            |fx| signing_key(&with(fx.private(), "d", json!(fx.other.to_jwk().d))),
            Err(KeyError::PublicKeyMismatch),
        ),
        case(
            "private: x,y of -P (same x, negated y)",
            |fx| {
                let y = unb64(fx.private()["y"].as_str().expect("y"));
                let negated = sub_be(&P256_P, &y);
                signing_key(&with(fx.private(), "y", json!(b64(&negated))))
            },
            Err(KeyError::PublicKeyMismatch),
        ),
        case(
            "private: off the curve (checked before d)",
            |fx| {
                let jwk = with_bytes(fx.private(), "y", |y| y[0] ^= 1);
                let jwk: Map<String, Value> = serde_json::from_str(&jwk).expect("JSON");
                signing_key(&with(jwk, "d", json!(b64(&[0; 32]))))
            },
            Err(KeyError::NotOnCurve),
        ),
        case(
            "private: d = 1, x,y = G",
            |_| signing_key(&private_jwk_of(&scalar(1))),
            Ok(()),
        ),
        case(
            "private: d = n - 1, x,y = -G",
            |_| signing_key(&private_jwk_of(&sub_be(&P256_N, &scalar(1)))),
            Ok(()),
        ),
        case(
            "private: the RFC 7515 A.3 key",
            |_| {
                signing_key(
                    r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}"#,
                )
            },
            Ok(()),
        ),
    ]);
}

/// The private JWK of a scalar, with the point computed by aws-lc directly.
fn private_jwk_of(d: &[u8; 32]) -> String {
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
fn hostile_app_jwks() {
    check(&[
        case(
            "app private: reference",
            |fx| app_key_pair(&text(fx.app_private())),
            Ok(()),
        ),
        case(
            "app public: reference",
            |fx| app_public_key(&text(fx.app_public())),
            Ok(()),
        ),
        // Documented: a `d` in a published JWK is ignored by the public parser.
        case(
            "app public: with d (ignored)",
            |fx| app_public_key(&text(fx.app_private())),
            Ok(()),
        ),
        case(
            "app private: d missing",
            |fx| app_key_pair(&without(fx.app_private(), "d")),
            Err(KeyError::MissingPrivateScalar),
        ),
        case(
            "app private: d of another key",
            |fx| app_key_pair(&with(fx.app_private(), "d", json!(fx.other.to_jwk().d))),
            Err(KeyError::PublicKeyMismatch),
        ),
        case(
            "app private: d = 0",
            |fx| app_key_pair(&with(fx.app_private(), "d", json!(b64(&[0; 32])))),
            Err(KeyError::BadPrivateScalar),
        ),
        case(
            "app private: d = n",
            |fx| app_key_pair(&with(fx.app_private(), "d", json!(b64(&P256_N)))),
            Err(KeyError::BadPrivateScalar),
        ),
        case(
            "app: use sig",
            |fx| app_public_key(&with(fx.app_public(), "use", json!("sig"))),
            Err(KeyError::WrongKeyUse),
        ),
        case(
            "app: alg ES256",
            |fx| app_public_key(&with(fx.app_public(), "alg", json!("ES256"))),
            Err(KeyError::WrongKeyUse),
        ),
        case(
            "app: alg ECDH-ES",
            |fx| app_public_key(&with(fx.app_public(), "alg", json!("ECDH-ES"))),
            Err(KeyError::WrongKeyUse),
        ),
        case(
            "app: use missing",
            |fx| app_public_key(&without(fx.app_public(), "use")),
            Err(KeyError::NotAJwk),
        ),
        case(
            "app: kid empty",
            |fx| app_public_key(&with(fx.app_public(), "kid", json!(""))),
            Err(KeyError::BadKid),
        ),
        case(
            "app: kid of 128 bytes",
            |fx| app_public_key(&with(fx.app_public(), "kid", json!("k".repeat(128)))),
            Ok(()),
        ),
        case(
            "app: kid of 129 bytes",
            |fx| app_public_key(&with(fx.app_public(), "kid", json!("k".repeat(129)))),
            Err(KeyError::BadKid),
        ),
        case(
            "app: kid missing",
            |fx| app_public_key(&without(fx.app_public(), "kid")),
            Err(KeyError::NotAJwk),
        ),
        case(
            "app: extra member x5c",
            |fx| app_public_key(&with(fx.app_public(), "x5c", json!(["MIIB"]))),
            Err(KeyError::NotAJwk),
        ),
        case(
            "app: crv P-521",
            |fx| app_public_key(&with(fx.app_public(), "crv", json!("P-521"))),
            Err(KeyError::WrongCurve),
        ),
        case(
            "app: off the curve",
            |fx| app_public_key(&with_bytes(fx.app_public(), "x", |x| x[31] ^= 1)),
            Err(KeyError::NotOnCurve),
        ),
        case(
            "app: JSON array of the members",
            |fx| {
                let j = fx.app_public();
                app_public_key(
                    &json!([
                        j["kty"], j["crv"], j["x"], j["y"], j["kid"], j["use"], j["alg"]
                    ])
                    .to_string(),
                )
            },
            Err(KeyError::NotAJwk),
        ),
    ]);
}

#[test]
fn hostile_oct_jwks() {
    check(&[
        case(
            "oct: reference",
            |fx| link_token_key(&text(fx.oct())),
            Ok(()),
        ),
        case(
            "oct: kty EC",
            |fx| link_token_key(&with(fx.oct(), "kty", json!("EC"))),
            Err(KeyError::WrongKeyType),
        ),
        case(
            "oct: alg A128GCMKW",
            |fx| link_token_key(&with(fx.oct(), "alg", json!("A128GCMKW"))),
            Err(KeyError::WrongKeyUse),
        ),
        case(
            "oct: alg dir",
            |fx| link_token_key(&with(fx.oct(), "alg", json!("dir"))),
            Err(KeyError::WrongKeyUse),
        ),
        case(
            "oct: alg HS256",
            |fx| link_token_key(&with(fx.oct(), "alg", json!("HS256"))),
            Err(KeyError::WrongKeyUse),
        ),
        case(
            "oct: k of 31 bytes",
            |fx| {
                link_token_key(&with_bytes(fx.oct(), "k", |k| {
                    k.pop();
                }))
            },
            Err(KeyError::BadSymmetricKey),
        ),
        case(
            "oct: k of 33 bytes",
            |fx| link_token_key(&with_bytes(fx.oct(), "k", |k| k.push(0))),
            Err(KeyError::BadSymmetricKey),
        ),
        case(
            "oct: k of 16 bytes",
            |fx| link_token_key(&with(fx.oct(), "k", json!(b64(&[1; 16])))),
            Err(KeyError::BadSymmetricKey),
        ),
        case(
            "oct: k padded",
            |fx| {
                let k = format!("{}=", fx.oct()["k"].as_str().expect("k"));
                link_token_key(&with(fx.oct(), "k", json!(k)))
            },
            Err(KeyError::BadSymmetricKey),
        ),
        case(
            "oct: kid empty",
            |fx| link_token_key(&with(fx.oct(), "kid", json!(""))),
            Err(KeyError::BadKid),
        ),
        case(
            "oct: kid of 129 bytes",
            |fx| link_token_key(&with(fx.oct(), "kid", json!("k".repeat(129)))),
            Err(KeyError::BadKid),
        ),
        case(
            "oct: extra member use",
            |fx| link_token_key(&with(fx.oct(), "use", json!("enc"))),
            Err(KeyError::NotAJwk),
        ),
        case(
            "oct: k missing",
            |fx| link_token_key(&without(fx.oct(), "k")),
            Err(KeyError::NotAJwk),
        ),
        case(
            "oct: JSON array of the members",
            |fx| {
                let j = fx.oct();
                link_token_key(&json!([j["kty"], j["kid"], j["alg"], j["k"]]).to_string())
            },
            Err(KeyError::NotAJwk),
        ),
        case(
            "oct: new with an empty kid",
            |_| LinkTokenKey::new("", [1; 32]).map(drop),
            Err(KeyError::BadKid),
        ),
        case(
            "oct: new with a 128-byte kid",
            |_| LinkTokenKey::new(&"k".repeat(128), [1; 32]).map(drop),
            Ok(()),
        ),
    ]);
}

#[test]
fn hostile_raw_keys() {
    check(&[
        case(
            "sec1: reference",
            |fx| LinkVerificationKey::from_sec1(fx.signing.public_sec1()).map(drop),
            Ok(()),
        ),
        case(
            "sec1: compressed (33 bytes)",
            |fx| {
                let point = fx.signing.public_sec1();
                let mut compressed = vec![0x02 | (point[64] & 1)];
                compressed.extend_from_slice(&point[1..33]);
                LinkVerificationKey::from_sec1(&compressed).map(drop)
            },
            Err(KeyError::NotOnCurve),
        ),
        case(
            "sec1: x‖y without the 0x04 prefix",
            |fx| LinkVerificationKey::from_sec1(&fx.signing.public_sec1()[1..]).map(drop),
            Err(KeyError::NotOnCurve),
        ),
        case(
            "sec1: hybrid prefix 0x06",
            |fx| {
                let mut point = *fx.signing.public_sec1();
                point[0] = 0x06 | (point[64] & 1);
                LinkVerificationKey::from_sec1(&point).map(drop)
            },
            Err(KeyError::NotOnCurve),
        ),
        case(
            "sec1: off the curve",
            |fx| {
                let mut point = *fx.signing.public_sec1();
                point[64] ^= 1;
                LinkVerificationKey::from_sec1(&point).map(drop)
            },
            Err(KeyError::NotOnCurve),
        ),
        case(
            "sec1: the point at infinity (0x00)",
            |_| LinkVerificationKey::from_sec1(&[0]).map(drop),
            Err(KeyError::NotOnCurve),
        ),
        case(
            "sec1: empty",
            |_| LinkVerificationKey::from_sec1(&[]).map(drop),
            Err(KeyError::NotOnCurve),
        ),
        case(
            "raw: reference",
            |fx| {
                LinkSigningKey::from_raw(fx.signing.private_scalar(), fx.signing.public_sec1())
                    .map(drop)
            },
            Ok(()),
        ),
        case(
            "raw: d = 0",
            |fx| LinkSigningKey::from_raw(&[0; 32], fx.signing.public_sec1()).map(drop),
            Err(KeyError::BadPrivateScalar),
        ),
        case(
            "raw: d = n",
            |fx| LinkSigningKey::from_raw(&P256_N, fx.signing.public_sec1()).map(drop),
            Err(KeyError::BadPrivateScalar),
        ),
        case(
            "raw: point of another key",
            |fx| {
                LinkSigningKey::from_raw(fx.signing.private_scalar(), fx.other.public_sec1())
                    .map(drop)
            },
            Err(KeyError::PublicKeyMismatch),
        ),
        case(
            "raw: compressed point",
            |fx| {
                let point = fx.signing.public_sec1();
                let mut compressed = vec![0x02 | (point[64] & 1)];
                compressed.extend_from_slice(&point[1..33]);
                LinkSigningKey::from_raw(fx.signing.private_scalar(), &compressed).map(drop)
            },
            Err(KeyError::NotOnCurve),
        ),
        // Pinned: an uncompressed point off the curve is caught by the
        // d·G comparison, so it reports a mismatch rather than NotOnCurve.
        case(
            "raw: uncompressed point off the curve",
            |fx| {
                let mut point = *fx.signing.public_sec1();
                point[64] ^= 1;
                LinkSigningKey::from_raw(fx.signing.private_scalar(), &point).map(drop)
            },
            Err(KeyError::PublicKeyMismatch),
        ),
        case(
            "app scalar: 0",
            |_| AppKeyPair::from_private_scalar(&[0; 32]).map(drop),
            Err(KeyError::BadPrivateScalar),
        ),
        case(
            "app scalar: n",
            |_| AppKeyPair::from_private_scalar(&P256_N).map(drop),
            Err(KeyError::BadPrivateScalar),
        ),
        case(
            "app scalar: 2^256 - 1",
            |_| AppKeyPair::from_private_scalar(&[0xff; 32]).map(drop),
            Err(KeyError::BadPrivateScalar),
        ),
        case(
            "app scalar: n - 1",
            |_| AppKeyPair::from_private_scalar(&sub_be(&P256_N, &scalar(1))).map(drop),
            Ok(()),
        ),
        case(
            "app scalar: 1",
            |_| AppKeyPair::from_private_scalar(&scalar(1)).map(drop),
            Ok(()),
        ),
    ]);
}

#[test]
fn key_errors_have_stable_messages() {
    // Messages name the problem, never key material.
    let table = [
        (KeyError::NotAJwk, "not a JWK of the expected shape"),
        (KeyError::WrongKeyType, "wrong key type (kty)"),
        (KeyError::WrongCurve, "wrong curve: only P-256 is accepted"),
        (
            KeyError::BadCoordinate("x"),
            "coordinate x is not 32 bytes of base64url",
        ),
        (KeyError::NotOnCurve, "the point is not on the P-256 curve"),
        (
            KeyError::BadPrivateScalar,
            "the private scalar d is not 32 bytes in [1, n-1]",
        ),
        (
            KeyError::MissingPrivateScalar,
            "the private scalar d is missing",
        ),
        (KeyError::PublicKeyMismatch, "x,y do not match d"),
        (KeyError::WrongKeyUse, "wrong key use or algorithm"),
        (KeyError::BadKid, "kid must be 1-128 bytes"),
        (
            KeyError::BadSymmetricKey,
            "the symmetric key is not 32 bytes of base64url",
        ),
    ];
    for (error, message) in table {
        assert_eq!(error.to_string(), message);
    }
    // The JWK structs round-trip through serde with exactly their members.
    let oct: OctJwk = serde_json::from_str(r#"{"kty":"oct","kid":"a","alg":"A256GCMKW","k":"AA"}"#)
        .expect("JSON");
    assert_eq!(oct.kid, "a");
    let app: AppJwk = serde_json::from_value(json!({
        "kty": "EC", "crv": "P-256", "x": "x", "y": "y", "kid": "k", "use": "enc", "alg": "ECDH-ES+A256KW"
    }))
    .expect("JSON");
    assert_eq!(app.use_, "enc");
}
