//! The SSI token verification matrix (DESIGN.md section 5 "Verification by
//! the partner", ENGINEERING.md 3.3 and 3.4).
//!
//! Every case builds a token by hand — header and claims re-encoded with
//! base64url and re-signed with the link signing key, so that the step under
//! test is really reached — and names the exact outcome: `Ok`, or the error
//! kind plus a fragment of its internal detail. A regression that rejects a
//! token for the wrong reason fails here, not only one that accepts it.

use std::collections::{BTreeMap, HashSet};

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use serde_json::{Map, Value, json};
use ssi_token::{
    Es256Signer, InMemoryReplayStore, LinkSigningKey, LinkTokenClaims, LinkTokenKey, LinkTokenKeys,
    MAX_SSI_TOKEN_BYTES, MintRequest, SSI_TOKEN_SCHEMA, SeededRandom, VerifyErrorKind as Kind,
    VerifyOptions, make_link_token, mint_ssi_token, verify_ssi_token,
};

use crate::link_token::{reference_payload, seal_link_payload};

pub(crate) const NOW: i64 = 1_700_000_000;
pub(crate) const ISSUER: &str = "https://ssi.example";
pub(crate) const IDP: &str = "idp.example";
pub(crate) const SUBJECT: &str = "amzn1.ssi.did.plat-1";
pub(crate) const LINK_ID: &str = "link-1";
pub(crate) const DEVICE: &str = "amzn1.ssi.device.dev-1";
pub(crate) const PARTNER_USER: &str = "partner-user-1";
pub(crate) const LTK_KID: &str = "ltk-1";
pub(crate) const LTK_BYTES: [u8; 32] = [0x4b; 32];
const LINKED_AT: i64 = NOW - 86_400;
const JTI: [u8; 16] = [0x6a; 16];
const SIGNATURE_B64_LEN: usize = 86;

/// Order n of the P-256 group, big-endian.
pub(crate) const P256_N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(text)
        .expect("test input is base64url")
}

/// `a - b` for 256-bit big-endian numbers with `a >= b`.
pub(crate) fn sub_be(a: &[u8; 32], b: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut digit = i16::from(a[i]) - i16::from(b[i]) - borrow;
        borrow = i16::from(digit < 0);
        if digit < 0 {
            digit += 256;
        }
        out[i] = digit as u8;
    }
    assert_eq!(borrow, 0, "a >= b");
    out
}

/// `b64(header).b64(payload).b64(signature)` for any bytes.
pub(crate) fn sign_with(signer: &dyn Es256Signer, header: &[u8], payload: &[u8]) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let signature = signer.sign_es256(input.as_bytes());
    format!("{input}.{}", b64(&signature))
}

/// A link key pair, its link token (made with the partner's key) and the
/// partner's keyring: everything a verifier and a hostile minter need.
pub(crate) struct Fixture {
    pub(crate) signing: LinkSigningKey,
    pub(crate) keys: LinkTokenKeys,
    pub(crate) link_token: String,
}

pub(crate) fn partner_key() -> LinkTokenKey {
    LinkTokenKey::new(LTK_KID, LTK_BYTES).expect("valid kid")
}

pub(crate) fn link_token_for(
    signing: &LinkSigningKey,
    platform_user_id: &str,
    key: &LinkTokenKey,
) -> String {
    let claims = LinkTokenClaims {
        partner_user_id: PARTNER_USER.to_owned(),
        platform_user_id: platform_user_id.to_owned(),
        verification_key: signing.verification_key(),
        issued_at: LINKED_AT,
        ctx: BTreeMap::from([("plan".to_owned(), "gold".to_owned())]),
    };
    make_link_token(&claims, key, &mut SeededRandom::new(b"link token"))
}

impl Fixture {
    pub(crate) fn new() -> Self {
        Self::with_seed(b"verify-matrix")
    }

    pub(crate) fn with_seed(seed: &[u8]) -> Self {
        let signing = LinkSigningKey::generate(&mut SeededRandom::new(seed));
        let link_token = link_token_for(&signing, SUBJECT, &partner_key());
        Self {
            signing,
            keys: LinkTokenKeys::single(partner_key()),
            link_token,
        }
    }

    pub(crate) fn options(&self) -> VerifyOptions<'_> {
        VerifyOptions {
            link_token_keys: &self.keys,
            identity_provider_name: IDP,
            issuer: ISSUER,
        }
    }

    pub(crate) fn request(&self) -> MintRequest<'_> {
        MintRequest {
            issuer: ISSUER,
            audience: IDP,
            subject: SUBJECT,
            link_id: LINK_ID,
            link_token: &self.link_token,
            device_id: DEVICE,
        }
    }

    fn header(&self) -> Map<String, Value> {
        object(json!({"alg": "ES256", "typ": "ssi+jwt", "kid": LINK_ID}))
    }

    fn claims(&self) -> Map<String, Value> {
        object(json!({
            "ver": "SSI-TOKEN-1.0",
            "iss": ISSUER,
            "aud": IDP,
            "sub": SUBJECT,
            "lid": LINK_ID,
            "ltk": self.link_token,
            "dev": DEVICE,
            "iat": NOW,
            "exp": NOW + 300,
            "jti": b64(&JTI),
        }))
    }

    fn header_json(&self) -> String {
        serde_json::to_string(&self.header()).expect("JSON")
    }

    fn claims_json(&self) -> String {
        serde_json::to_string(&self.claims()).expect("JSON")
    }

    /// A token of the edited reference header and claims, validly signed.
    fn token(&self, edit: impl FnOnce(&mut Map<String, Value>, &mut Map<String, Value>)) -> String {
        let mut header = self.header();
        let mut claims = self.claims();
        edit(&mut header, &mut claims);
        self.sign(
            &serde_json::to_vec(&header).expect("JSON"),
            &serde_json::to_vec(&claims).expect("JSON"),
        )
    }

    fn valid(&self) -> String {
        self.token(|_, _| {})
    }

    fn claim(&self, name: &str, value: Value) -> String {
        self.token(|_, c| {
            c.insert(name.to_owned(), value);
        })
    }

    fn without_claim(&self, name: &str) -> String {
        self.token(|_, c| {
            c.remove(name);
        })
    }

    fn header_member(&self, name: &str, value: Value) -> String {
        self.token(|h, _| {
            h.insert(name.to_owned(), value);
        })
    }

    fn times(&self, iat: i64, exp: i64) -> String {
        self.token(|_, c| {
            c.insert("iat".into(), json!(iat));
            c.insert("exp".into(), json!(exp));
        })
    }

    /// Signs raw header and payload bytes (which need not be JSON).
    fn sign(&self, header: &[u8], payload: &[u8]) -> String {
        sign_with(&self.signing, header, payload)
    }

    /// The reference header with raw (possibly invalid) claims text.
    fn raw_claims(&self, claims: &str) -> String {
        self.sign(self.header_json().as_bytes(), claims.as_bytes())
    }

    /// The reference claims text with one `"name":value` pair replaced.
    fn replaced_claims(&self, from: &str, to: &str) -> String {
        let text = self.claims_json();
        assert!(text.contains(from), "{from} is in {text}");
        self.raw_claims(&text.replace(from, to))
    }

    /// The reference claims with raw (possibly invalid) header text.
    fn raw_header(&self, header: &str) -> String {
        self.sign(header.as_bytes(), self.claims_json().as_bytes())
    }
}

fn object(value: Value) -> Map<String, Value> {
    value.as_object().expect("an object").clone()
}

fn parts(token: &str) -> Vec<String> {
    token.split('.').map(str::to_owned).collect()
}

/// Replaces one dot-separated segment's text.
fn with_segment(token: &str, index: usize, edit: impl FnOnce(&str) -> String) -> String {
    let mut parts = parts(token);
    parts[index] = edit(&parts[index]);
    parts.join(".")
}

/// Re-encodes one segment after editing its decoded bytes.
fn with_decoded(token: &str, index: usize, edit: impl FnOnce(&mut Vec<u8>)) -> String {
    with_segment(token, index, |text| {
        let mut bytes = unb64(text);
        edit(&mut bytes);
        b64(&bytes)
    })
}

fn signature_of(token: &str) -> [u8; 64] {
    unb64(&parts(token)[2]).try_into().expect("64 bytes")
}

fn with_signature(token: &str, edit: impl FnOnce(&mut [u8; 64])) -> String {
    with_decoded(token, 2, |bytes| {
        let mut signature: [u8; 64] = bytes.as_slice().try_into().expect("64 bytes");
        edit(&mut signature);
        *bytes = signature.to_vec();
    })
}

/// The same signature with s replaced by n - s (the "high-S" twin).
fn high_s_twin(token: &str) -> String {
    with_signature(token, |signature| {
        let s: [u8; 32] = signature[32..].try_into().expect("32 bytes");
        signature[32..].copy_from_slice(&sub_be(&P256_N, &s));
    })
}

/// DER `SEQUENCE { INTEGER r, INTEGER s }` of a 64-byte r‖s signature.
fn der_signature(raw: &[u8; 64]) -> Vec<u8> {
    fn integer(bytes: &[u8]) -> Vec<u8> {
        let start = bytes
            .iter()
            .position(|&b| b != 0)
            .unwrap_or(bytes.len() - 1);
        let mut value = bytes[start..].to_vec();
        if value[0] & 0x80 != 0 {
            value.insert(0, 0);
        }
        let mut out = vec![0x02, value.len() as u8];
        out.extend(value);
        out
    }
    let mut body = integer(&raw[..32]);
    body.extend(integer(&raw[32..]));
    let mut out = vec![0x30, body.len() as u8];
    out.extend(body);
    out
}

/// Makes the last character of a base64url segment non-canonical by setting
/// one of its unused low bits (the segment's byte length is not a multiple
/// of 3, so there are unused bits).
fn non_canonical(segment: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    assert_ne!(segment.len() % 4, 0, "the segment has unused bits");
    let last = segment.as_bytes()[segment.len() - 1];
    let index = ALPHABET.iter().position(|&c| c == last).expect("base64url");
    let tweaked = ALPHABET[index ^ 1] as char;
    format!("{}{tweaked}", &segment[..segment.len() - 1])
}

fn encoded_len(bytes: usize) -> usize {
    (bytes * 4).div_ceil(3)
}

/// A validly signed token of exactly `len` bytes: the `dev` claim is padded
/// and the header gets trailing JSON whitespace to reach every length.
fn token_of_len(fx: &Fixture, len: usize) -> String {
    let base_claims = fx.claims_json().len() - DEVICE.len();
    for spaces in 0..3 {
        let header = format!("{}{}", fx.header_json(), " ".repeat(spaces));
        let fixed = encoded_len(header.len()) + 2 + SIGNATURE_B64_LEN;
        for dev_len in 1..len {
            let total = fixed + encoded_len(base_claims + dev_len);
            if total == len {
                let mut claims = fx.claims();
                claims.insert("dev".into(), json!("d".repeat(dev_len)));
                let token = fx.sign(
                    header.as_bytes(),
                    &serde_json::to_vec(&claims).expect("JSON"),
                );
                assert_eq!(token.len(), len);
                return token;
            }
            if total > len {
                break;
            }
        }
    }
    panic!("no token of {len} bytes");
}

/// A nesting bomb: `depth` unclosed arrays.
fn bomb(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// What is presented to the verifier, and when.
struct Input {
    schema: String,
    token: String,
    now: i64,
    /// Presentations before this one (token, now), each of which must verify.
    earlier: Vec<(String, i64)>,
}

impl Input {
    fn at(mut self, now: i64) -> Self {
        self.now = now;
        self
    }

    fn schema(mut self, schema: &str) -> Self {
        self.schema = schema.to_owned();
        self
    }

    fn after(mut self, token: String, now: i64) -> Self {
        self.earlier.push((token, now));
        self
    }
}

impl From<String> for Input {
    fn from(token: String) -> Self {
        Self {
            schema: SSI_TOKEN_SCHEMA.to_owned(),
            token,
            now: NOW,
            earlier: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Expect {
    Ok,
    Err(Kind, &'static str),
}

fn ok() -> Expect {
    Expect::Ok
}

fn err(kind: Kind, detail: &'static str) -> Expect {
    Expect::Err(kind, detail)
}

struct Case {
    name: &'static str,
    input: fn(&Fixture) -> Input,
    expect: Expect,
}

fn case(name: &'static str, input: fn(&Fixture) -> Input, expect: Expect) -> Case {
    Case {
        name,
        input,
        expect,
    }
}

/// Runs every case against a fresh replay store and reports all mismatches.
fn check(cases: &[Case]) {
    let fx = Fixture::new();
    let mut failures = Vec::new();
    for case in cases {
        let input = (case.input)(&fx);
        let replay = InMemoryReplayStore::new();
        let earlier_failed = input.earlier.iter().find_map(|(token, now)| {
            verify_ssi_token(&input.schema, token, &fx.options(), *now, &replay).err()
        });
        if let Some(error) = earlier_failed {
            failures.push(format!(
                "{}: an earlier presentation failed: {error}",
                case.name
            ));
            continue;
        }
        let got = verify_ssi_token(
            &input.schema,
            &input.token,
            &fx.options(),
            input.now,
            &replay,
        );
        let pass = match (case.expect, &got) {
            (Expect::Ok, Ok(verified)) => {
                verified.partner_user_id == PARTNER_USER && verified.platform_user_id == SUBJECT
            }
            (Expect::Err(kind, detail), Err(error)) => {
                error.kind == kind && error.detail.contains(detail)
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

// Step 1: the schema.
fn schema_cases() -> Vec<Case> {
    vec![
        case("the reference token", |fx| fx.valid().into(), ok()),
        case(
            "minted by the crate",
            |fx| {
                mint_ssi_token(
                    &fx.request(),
                    &fx.signing,
                    NOW,
                    &mut SeededRandom::new(b"m"),
                )
                .into()
            },
            ok(),
        ),
        case(
            "schema SSI-TOKEN-1.1",
            |fx| Input::from(fx.valid()).schema("SSI-TOKEN-1.1"),
            err(Kind::WrongSchema, "schema is not SSI-TOKEN-1.0"),
        ),
        case(
            "schema in lower case",
            |fx| Input::from(fx.valid()).schema("ssi-token-1.0"),
            err(Kind::WrongSchema, "schema is not SSI-TOKEN-1.0"),
        ),
        case(
            "schema with a trailing space",
            |fx| Input::from(fx.valid()).schema("SSI-TOKEN-1.0 "),
            err(Kind::WrongSchema, "schema is not SSI-TOKEN-1.0"),
        ),
        case(
            "schema empty",
            |fx| Input::from(fx.valid()).schema(""),
            err(Kind::WrongSchema, "schema is not SSI-TOKEN-1.0"),
        ),
        case(
            "schema of a link token",
            |fx| Input::from(fx.valid()).schema("LINK-TOKEN-1.0"),
            err(Kind::WrongSchema, "schema is not SSI-TOKEN-1.0"),
        ),
        case(
            "the schema is checked before anything else",
            |_| Input::from("garbage".to_owned()).schema("X"),
            err(Kind::WrongSchema, "schema is not SSI-TOKEN-1.0"),
        ),
        case(
            "a link token presented as an SSI token",
            |fx| fx.link_token.clone().into(),
            err(Kind::MalformedToken, "not three dot-separated parts"),
        ),
    ]
}

// Step 2: size, segments and base64url.
fn encoding_cases() -> Vec<Case> {
    vec![
        case(
            "two segments",
            |fx| {
                let token = fx.valid();
                token[..token.rfind('.').expect("dots")].to_owned().into()
            },
            err(Kind::MalformedToken, "not three dot-separated parts"),
        ),
        case(
            "four segments",
            |fx| format!("{}.AAAA", fx.valid()).into(),
            err(Kind::MalformedToken, "not three dot-separated parts"),
        ),
        case(
            "four segments, the last empty",
            |fx| format!("{}.", fx.valid()).into(),
            err(Kind::MalformedToken, "not three dot-separated parts"),
        ),
        case(
            "one segment",
            |_| "eyJhbGciOiJFUzI1NiJ9".to_owned().into(),
            err(Kind::MalformedToken, "not three dot-separated parts"),
        ),
        case(
            "empty token",
            |_| String::new().into(),
            err(Kind::MalformedToken, "not three dot-separated parts"),
        ),
        case(
            "only dots",
            |_| "..".to_owned().into(),
            err(Kind::MalformedToken, "header is not {alg, typ, kid}"),
        ),
        case(
            "empty header segment",
            |fx| with_segment(&fx.valid(), 0, |_| String::new()).into(),
            err(Kind::MalformedToken, "header is not {alg, typ, kid}"),
        ),
        case(
            "empty payload segment",
            |fx| fx.raw_claims("").into(),
            err(
                Kind::MalformedClaims,
                "payload is not the SSI-TOKEN-1.0 claims",
            ),
        ),
        case(
            "empty signature segment",
            |fx| with_segment(&fx.valid(), 2, |_| String::new()).into(),
            err(
                Kind::MalformedToken,
                "signature is not 64 bytes of base64url",
            ),
        ),
        case(
            "= padding on the header",
            |fx| with_segment(&fx.valid(), 0, |s| format!("{s}=")).into(),
            err(Kind::MalformedToken, "header is not base64url"),
        ),
        case(
            "= padding on the payload",
            |fx| with_segment(&fx.valid(), 1, |s| format!("{s}=")).into(),
            err(Kind::MalformedToken, "payload is not base64url"),
        ),
        case(
            "== padding on the signature",
            |fx| with_segment(&fx.valid(), 2, |s| format!("{s}==")).into(),
            err(
                Kind::MalformedToken,
                "signature is not 64 bytes of base64url",
            ),
        ),
        // `??????` always contains an aligned `???`, which encodes to `Pz8_`
        // in base64url and `Pz8/` in standard base64.
        case(
            "control: a kid whose base64url has `_`",
            |fx| {
                fx.token(|h, c| {
                    h.insert("kid".into(), json!("??????"));
                    c.insert("lid".into(), json!("??????"));
                })
                .into()
            },
            ok(),
        ),
        case(
            "+/ alphabet in the header",
            |fx| {
                let token = fx.token(|h, c| {
                    h.insert("kid".into(), json!("??????"));
                    c.insert("lid".into(), json!("??????"));
                });
                with_segment(&token, 0, |s| {
                    assert!(s.contains('_'));
                    STANDARD_NO_PAD.encode(unb64(s))
                })
                .into()
            },
            err(Kind::MalformedToken, "header is not base64url"),
        ),
        case(
            "+/ alphabet in the payload",
            |fx| {
                let token = fx.token(|h, c| {
                    h.insert("kid".into(), json!("??????"));
                    c.insert("lid".into(), json!("??????"));
                });
                with_segment(&token, 1, |s| {
                    assert!(s.contains('_'));
                    STANDARD_NO_PAD.encode(unb64(s))
                })
                .into()
            },
            err(Kind::MalformedToken, "payload is not base64url"),
        ),
        case(
            "control: header with trailing bits",
            |fx| fx.raw_header(&header_with_unused_bits(fx)).into(),
            ok(),
        ),
        case(
            "non-canonical trailing bits in the header",
            |fx| {
                let token = fx.raw_header(&header_with_unused_bits(fx));
                with_segment(&token, 0, non_canonical).into()
            },
            err(Kind::MalformedToken, "header is not base64url"),
        ),
        case(
            "non-canonical trailing bits in the signature",
            |fx| with_segment(&fx.valid(), 2, non_canonical).into(),
            err(
                Kind::MalformedToken,
                "signature is not 64 bytes of base64url",
            ),
        ),
        case(
            "leading space",
            |fx| format!(" {}", fx.valid()).into(),
            err(Kind::MalformedToken, "header is not base64url"),
        ),
        case(
            "trailing newline",
            |fx| format!("{}\n", fx.valid()).into(),
            err(
                Kind::MalformedToken,
                "signature is not 64 bytes of base64url",
            ),
        ),
        case(
            "CRLF after the first dot",
            |fx| fx.valid().replacen('.', ".\r\n", 1).into(),
            err(Kind::MalformedToken, "payload is not base64url"),
        ),
        case(
            "newline inside the payload",
            |fx| with_segment(&fx.valid(), 1, |s| format!("{}\n{}", &s[..10], &s[10..])).into(),
            err(Kind::MalformedToken, "payload is not base64url"),
        ),
        case(
            "tab inside the header",
            |fx| with_segment(&fx.valid(), 0, |s| format!("{}\t{}", &s[..4], &s[4..])).into(),
            err(Kind::MalformedToken, "header is not base64url"),
        ),
        case(
            "non-UTF-8 header bytes",
            |fx| {
                fx.sign(
                    b"{\"alg\":\"ES256\",\"typ\":\"ssi+jwt\",\"kid\":\"link-\xff\"}",
                    fx.claims_json().as_bytes(),
                )
                .into()
            },
            err(Kind::MalformedToken, "header is not {alg, typ, kid}"),
        ),
        case(
            "non-UTF-8 claims bytes",
            |fx| {
                let claims = fx.claims_json().replace("dev-1", "dev-\u{1}");
                let bytes: Vec<u8> = claims
                    .bytes()
                    .map(|b| if b == 1 { 0xff } else { b })
                    .collect();
                fx.sign(fx.header_json().as_bytes(), &bytes).into()
            },
            err(
                Kind::MalformedClaims,
                "payload is not the SSI-TOKEN-1.0 claims",
            ),
        ),
        case(
            "UTF-8 byte order mark before the header",
            |fx| {
                fx.raw_header(&format!("\u{feff}{}", fx.header_json()))
                    .into()
            },
            err(Kind::MalformedToken, "header is not {alg, typ, kid}"),
        ),
        case(
            "header is a nesting bomb",
            |fx| fx.raw_header(&bomb(5_000)).into(),
            err(Kind::MalformedToken, "header is not {alg, typ, kid}"),
        ),
        case(
            "kid is a nesting bomb",
            |fx| {
                fx.raw_header(&format!(
                    r#"{{"alg":"ES256","typ":"ssi+jwt","kid":{}}}"#,
                    bomb(5_000)
                ))
                .into()
            },
            err(Kind::MalformedToken, "header is not {alg, typ, kid}"),
        ),
        case(
            "claims are a nesting bomb",
            |fx| fx.raw_claims(&bomb(5_000)).into(),
            err(
                Kind::MalformedClaims,
                "payload is not the SSI-TOKEN-1.0 claims",
            ),
        ),
        case(
            "a claim is a nesting bomb",
            |fx| {
                fx.replaced_claims(
                    r#""dev":"amzn1.ssi.device.dev-1""#,
                    &format!(r#""dev":{}"#, bomb(5_000)),
                )
                .into()
            },
            err(
                Kind::MalformedClaims,
                "payload is not the SSI-TOKEN-1.0 claims",
            ),
        ),
        case(
            "exactly 16 KiB",
            |fx| token_of_len(fx, MAX_SSI_TOKEN_BYTES).into(),
            ok(),
        ),
        case(
            "16 KiB + 1, validly signed",
            |fx| token_of_len(fx, MAX_SSI_TOKEN_BYTES + 1).into(),
            err(Kind::MalformedToken, "token over 16 KiB"),
        ),
        case(
            "1 MiB of garbage",
            |_| "A".repeat(1 << 20).into(),
            err(Kind::MalformedToken, "token over 16 KiB"),
        ),
    ]
}

/// The reference header plus trailing whitespace so that its length is
/// 1 mod 3: its base64url then ends in a character with 4 unused bits.
fn header_with_unused_bits(fx: &Fixture) -> String {
    let mut header = fx.header_json();
    while header.len() % 3 != 1 {
        header.push(' ');
    }
    header
}

// Step 2: the header.
fn header_cases() -> Vec<Case> {
    vec![
        case(
            "alg none",
            |fx| fx.header_member("alg", json!("none")).into(),
            err(Kind::MalformedToken, "alg is not ES256"),
        ),
        case(
            "alg none with an empty signature",
            |fx| {
                let token = fx.header_member("alg", json!("none"));
                with_segment(&token, 2, |_| String::new()).into()
            },
            err(Kind::MalformedToken, "alg is not ES256"),
        ),
        case(
            "alg HS256 keyed with the public key (key confusion)",
            |fx| {
                let mut header = fx.header();
                header.insert("alg".into(), json!("HS256"));
                let input = format!(
                    "{}.{}",
                    b64(&serde_json::to_vec(&header).expect("JSON")),
                    b64(fx.claims_json().as_bytes())
                );
                let key = hmac::Key::new(hmac::HMAC_SHA256, fx.signing.public_sec1());
                let tag = hmac::sign(&key, input.as_bytes());
                format!("{input}.{}", b64(tag.as_ref())).into()
            },
            err(Kind::MalformedToken, "alg is not ES256"),
        ),
        case(
            "alg ES384",
            |fx| fx.header_member("alg", json!("ES384")).into(),
            err(Kind::MalformedToken, "alg is not ES256"),
        ),
        case(
            "alg RS256",
            |fx| fx.header_member("alg", json!("RS256")).into(),
            err(Kind::MalformedToken, "alg is not ES256"),
        ),
        case(
            "alg PS256",
            |fx| fx.header_member("alg", json!("PS256")).into(),
            err(Kind::MalformedToken, "alg is not ES256"),
        ),
        case(
            "alg EdDSA",
            |fx| fx.header_member("alg", json!("EdDSA")).into(),
            err(Kind::MalformedToken, "alg is not ES256"),
        ),
        case(
            "alg es256 (case)",
            |fx| fx.header_member("alg", json!("es256")).into(),
            err(Kind::MalformedToken, "alg is not ES256"),
        ),
        case(
            "alg with a trailing space",
            |fx| fx.header_member("alg", json!("ES256 ")).into(),
            err(Kind::MalformedToken, "alg is not ES256"),
        ),
        case(
            "alg missing",
            |fx| {
                fx.token(|h, _| {
                    h.remove("alg");
                })
                .into()
            },
            err(Kind::MalformedToken, "header is not {alg, typ, kid}"),
        ),
        case(
            "alg null",
            |fx| fx.header_member("alg", Value::Null).into(),
            err(Kind::MalformedToken, "header is not {alg, typ, kid}"),
        ),
        case(
            "alg as an array",
            |fx| fx.header_member("alg", json!(["ES256"])).into(),
            err(Kind::MalformedToken, "header is not {alg, typ, kid}"),
        ),
        // Pinned: `alg` and `typ` are compared as borrowed strings, so a
        // JSON escape inside them is refused even where it spells "ES256".
        // The server never escapes them.
        case(
            "alg spelled with JSON escapes",
            |fx| {
                fx.raw_header(r#"{"alg":"ES\u0032\u0035\u0036","typ":"ssi+jwt","kid":"link-1"}"#)
                    .into()
            },
            err(Kind::MalformedToken, "header is not {alg, typ, kid}"),
        ),
        case(
            "typ missing",
            |fx| {
                fx.token(|h, _| {
                    h.remove("typ");
                })
                .into()
            },
            err(Kind::MalformedToken, "header is not {alg, typ, kid}"),
        ),
        case(
            "typ JWT",
            |fx| fx.header_member("typ", json!("JWT")).into(),
            err(Kind::MalformedToken, "typ is not ssi+jwt"),
        ),
        case(
            "typ link+jwe",
            |fx| fx.header_member("typ", json!("link+jwe")).into(),
            err(Kind::MalformedToken, "typ is not ssi+jwt"),
        ),
        case(
            "typ application/ssi+jwt",
            |fx| fx.header_member("typ", json!("application/ssi+jwt")).into(),
            err(Kind::MalformedToken, "typ is not ssi+jwt"),
        ),
        case(
            "typ SSI+JWT (case)",
            |fx| fx.header_member("typ", json!("SSI+JWT")).into(),
            err(Kind::MalformedToken, "typ is not ssi+jwt"),
        ),
        case(
            "jku header",
            |fx| {
                fx.header_member("jku", json!("https://evil.example/jwks"))
                    .into()
            },
            err(Kind::MalformedToken, "header is not {alg, typ, kid}"),
        ),
        case(
            "jwk header carrying the attacker's key",
            |fx| {
                let attacker = LinkSigningKey::generate(&mut SeededRandom::new(b"attacker"));
                let jwk = serde_json::to_value(attacker.verification_key().to_jwk()).expect("JSON");
                let mut header = fx.header();
                header.insert("jwk".into(), jwk);
                sign_with(
                    &attacker,
                    &serde_json::to_vec(&header).expect("JSON"),
                    fx.claims_json().as_bytes(),
                )
                .into()
            },
            err(Kind::MalformedToken, "header is not {alg, typ, kid}"),
        ),
        case(
            "x5u header",
            |fx| {
                fx.header_member("x5u", json!("https://evil.example/cert"))
                    .into()
            },
            err(Kind::MalformedToken, "header is not {alg, typ, kid}"),
        ),
        case(
            "x5c header",
            |fx| fx.header_member("x5c", json!(["MIIB"])).into(),
            err(Kind::MalformedToken, "header is not {alg, typ, kid}"),
        ),
        case(
            "crit header",
            |fx| fx.header_member("crit", json!(["exp"])).into(),
            err(Kind::MalformedToken, "header is not {alg, typ, kid}"),
        ),
        case(
            "b64 false header (RFC 7797)",
            |fx| fx.header_member("b64", json!(false)).into(),
            err(Kind::MalformedToken, "header is not {alg, typ, kid}"),
        ),
        case(
            "cty header",
            |fx| fx.header_member("cty", json!("JWT")).into(),
            err(Kind::MalformedToken, "header is not {alg, typ, kid}"),
        ),
        case(
            "kid missing",
            |fx| {
                fx.token(|h, _| {
                    h.remove("kid");
                })
                .into()
            },
            err(Kind::MalformedToken, "header is not {alg, typ, kid}"),
        ),
        case(
            "kid as a number",
            |fx| fx.header_member("kid", json!(1)).into(),
            err(Kind::MalformedToken, "header is not {alg, typ, kid}"),
        ),
        case(
            "duplicate alg: none, then ES256",
            |fx| {
                fx.raw_header(r#"{"alg":"none","alg":"ES256","typ":"ssi+jwt","kid":"link-1"}"#)
                    .into()
            },
            err(Kind::MalformedToken, "header is not {alg, typ, kid}"),
        ),
        case(
            "duplicate kid",
            |fx| {
                fx.raw_header(r#"{"alg":"ES256","typ":"ssi+jwt","kid":"link-1","kid":"link-1"}"#)
                    .into()
            },
            err(Kind::MalformedToken, "header is not {alg, typ, kid}"),
        ),
        case(
            "duplicate typ",
            |fx| {
                fx.raw_header(r#"{"alg":"ES256","typ":"JWT","typ":"ssi+jwt","kid":"link-1"}"#)
                    .into()
            },
            err(Kind::MalformedToken, "header is not {alg, typ, kid}"),
        ),
        // serde's derived structs also accept a JSON array of the field
        // values in order; a JOSE header is a JSON object only.
        case(
            "header is a JSON array",
            |fx| fx.raw_header(r#"["ES256","ssi+jwt","link-1"]"#).into(),
            err(Kind::MalformedToken, "header is not {alg, typ, kid}"),
        ),
        case(
            "header is a JSON string",
            |fx| fx.raw_header(r#""ES256""#).into(),
            err(Kind::MalformedToken, "header is not {alg, typ, kid}"),
        ),
        case(
            "header with insignificant whitespace",
            |fx| {
                fx.raw_header(
                    "{ \"kid\" : \"link-1\",\n \"typ\":\"ssi+jwt\" ,\"alg\":\"ES256\"}\r\n",
                )
                .into()
            },
            ok(),
        ),
    ]
}

// Step 2: the signature's shape.
fn signature_shape_cases() -> Vec<Case> {
    vec![
        case(
            "DER-encoded signature",
            |fx| {
                let token = fx.valid();
                let der = der_signature(&signature_of(&token));
                with_segment(&token, 2, |_| b64(&der)).into()
            },
            err(
                Kind::MalformedToken,
                "signature is not 64 bytes of base64url",
            ),
        ),
        case(
            "63-byte signature",
            |fx| with_decoded(&fx.valid(), 2, |s| s.truncate(63)).into(),
            err(
                Kind::MalformedToken,
                "signature is not 64 bytes of base64url",
            ),
        ),
        case(
            "65-byte signature",
            |fx| with_decoded(&fx.valid(), 2, |s| s.push(0)).into(),
            err(
                Kind::MalformedToken,
                "signature is not 64 bytes of base64url",
            ),
        ),
        case(
            "65-byte signature with a leading zero",
            |fx| with_decoded(&fx.valid(), 2, |s| s.insert(0, 0)).into(),
            err(
                Kind::MalformedToken,
                "signature is not 64 bytes of base64url",
            ),
        ),
        case(
            "128-byte signature",
            |fx| with_decoded(&fx.valid(), 2, |s| s.extend([0; 64])).into(),
            err(
                Kind::MalformedToken,
                "signature is not 64 bytes of base64url",
            ),
        ),
    ]
}

// Step 3: the claims.
fn claims_cases() -> Vec<Case> {
    const SHAPE: &str = "payload is not the SSI-TOKEN-1.0 claims";
    const POSITIVE: &str = "iat and exp must be positive";
    const JTI_128: &str = "jti is not 128 bits of base64url";
    vec![
        case(
            "claims in another order",
            |fx| {
                let mut entries: Vec<(String, Value)> = fx.claims().into_iter().collect();
                entries.reverse();
                let body: Vec<String> = entries
                    .iter()
                    .map(|(k, v)| format!("{}:{v}", json!(k)))
                    .collect();
                fx.raw_claims(&format!("{{{}}}", body.join(","))).into()
            },
            ok(),
        ),
        case(
            "iat as a string",
            |fx| fx.claim("iat", json!(NOW.to_string())).into(),
            err(Kind::MalformedClaims, SHAPE),
        ),
        case(
            "iat as a float",
            |fx| fx.claim("iat", json!(NOW as f64)).into(),
            err(Kind::MalformedClaims, SHAPE),
        ),
        case(
            "iat in exponent notation",
            |fx| {
                fx.replaced_claims(r#""iat":1700000000"#, r#""iat":1.7e9"#)
                    .into()
            },
            err(Kind::MalformedClaims, SHAPE),
        ),
        case(
            "iat negative",
            |fx| fx.claim("iat", json!(-1)).into(),
            err(Kind::MalformedClaims, POSITIVE),
        ),
        case(
            "iat zero",
            |fx| fx.claim("iat", json!(0)).into(),
            err(Kind::MalformedClaims, POSITIVE),
        ),
        case(
            "iat above i64::MAX",
            |fx| {
                fx.replaced_claims(r#""iat":1700000000"#, r#""iat":9223372036854775808"#)
                    .into()
            },
            err(Kind::MalformedClaims, SHAPE),
        ),
        case(
            "iat below i64::MIN",
            |fx| {
                fx.replaced_claims(r#""iat":1700000000"#, r#""iat":-9223372036854775809"#)
                    .into()
            },
            err(Kind::MalformedClaims, SHAPE),
        ),
        case(
            "iat null",
            |fx| fx.claim("iat", Value::Null).into(),
            err(Kind::MalformedClaims, SHAPE),
        ),
        case(
            "iat missing",
            |fx| fx.without_claim("iat").into(),
            err(Kind::MalformedClaims, "missing field `iat`"),
        ),
        case(
            "exp as a string",
            |fx| fx.claim("exp", json!((NOW + 300).to_string())).into(),
            err(Kind::MalformedClaims, SHAPE),
        ),
        case(
            "exp as a float",
            |fx| fx.claim("exp", json!(NOW as f64 + 300.5)).into(),
            err(Kind::MalformedClaims, SHAPE),
        ),
        case(
            "exp negative",
            |fx| fx.claim("exp", json!(-(NOW + 300))).into(),
            err(Kind::MalformedClaims, POSITIVE),
        ),
        case(
            "exp above i64::MAX",
            |fx| {
                fx.replaced_claims(r#""exp":1700000300"#, r#""exp":18446744073709551615"#)
                    .into()
            },
            err(Kind::MalformedClaims, SHAPE),
        ),
        case(
            "exp missing",
            |fx| fx.without_claim("exp").into(),
            err(Kind::MalformedClaims, "missing field `exp`"),
        ),
        case(
            "nbf present (unknown claim)",
            |fx| fx.claim("nbf", json!(NOW)).into(),
            err(Kind::MalformedClaims, "unknown field `nbf`"),
        ),
        case(
            "aud as an array with our IDP",
            |fx| fx.claim("aud", json!([IDP])).into(),
            err(Kind::MalformedClaims, SHAPE),
        ),
        case(
            "aud as an array with ours among others",
            |fx| fx.claim("aud", json!(["other.example", IDP])).into(),
            err(Kind::MalformedClaims, SHAPE),
        ),
        case(
            "sub as a number",
            |fx| fx.claim("sub", json!(42)).into(),
            err(Kind::MalformedClaims, SHAPE),
        ),
        case(
            "iss missing",
            |fx| fx.without_claim("iss").into(),
            err(Kind::MalformedClaims, "missing field `iss`"),
        ),
        case(
            "sub missing",
            |fx| fx.without_claim("sub").into(),
            err(Kind::MalformedClaims, "missing field `sub`"),
        ),
        case(
            "dev missing",
            |fx| fx.without_claim("dev").into(),
            err(Kind::MalformedClaims, "missing field `dev`"),
        ),
        case(
            "ltk missing",
            |fx| fx.without_claim("ltk").into(),
            err(Kind::MalformedClaims, "missing field `ltk`"),
        ),
        case(
            "ltk as an object",
            |fx| fx.claim("ltk", json!({"token": fx.link_token})).into(),
            err(Kind::MalformedClaims, SHAPE),
        ),
        case(
            "duplicate sub (a foreign one first)",
            |fx| {
                let text = fx
                    .claims_json()
                    .replacen('{', r#"{"sub":"amzn1.ssi.did.victim","#, 1);
                fx.raw_claims(&text).into()
            },
            err(Kind::MalformedClaims, "duplicate field `sub`"),
        ),
        case(
            "duplicate exp (a far one last)",
            |fx| {
                let text = fx.claims_json().replacen('}', r#","exp":9999999999}"#, 1);
                assert!(text.ends_with("9999999999}"));
                fx.raw_claims(&text).into()
            },
            err(Kind::MalformedClaims, "duplicate field `exp`"),
        ),
        case(
            "claims are a JSON array",
            |fx| fx.raw_claims("[]").into(),
            err(Kind::MalformedClaims, SHAPE),
        ),
        case(
            "claims are a JSON array of the claim values",
            |fx| {
                let c = fx.claims();
                let names = [
                    "ver", "iss", "aud", "sub", "lid", "ltk", "dev", "iat", "exp", "jti",
                ];
                let values: Vec<&Value> = names.iter().map(|name| &c[*name]).collect();
                fx.raw_claims(&json!(values).to_string()).into()
            },
            err(Kind::MalformedClaims, "expected a JSON object"),
        ),
        case(
            "claims are null",
            |fx| fx.raw_claims("null").into(),
            err(Kind::MalformedClaims, SHAPE),
        ),
        case(
            "ver SSI-TOKEN-1.1",
            |fx| fx.claim("ver", json!("SSI-TOKEN-1.1")).into(),
            err(Kind::MalformedClaims, "ver is not SSI-TOKEN-1.0"),
        ),
        case(
            "ver LINK-TOKEN-1.0",
            |fx| fx.claim("ver", json!("LINK-TOKEN-1.0")).into(),
            err(Kind::MalformedClaims, "ver is not SSI-TOKEN-1.0"),
        ),
        case(
            "ver missing",
            |fx| fx.without_claim("ver").into(),
            err(Kind::MalformedClaims, "missing field `ver`"),
        ),
        case(
            "lid differs from kid",
            |fx| fx.claim("lid", json!("link-2")).into(),
            err(Kind::MalformedClaims, "lid differs from the header's kid"),
        ),
        case(
            "lid differs from kid in case only",
            |fx| fx.claim("lid", json!("LINK-1")).into(),
            err(Kind::MalformedClaims, "lid differs from the header's kid"),
        ),
        case(
            "lid missing",
            |fx| fx.without_claim("lid").into(),
            err(Kind::MalformedClaims, "missing field `lid`"),
        ),
        case(
            "jti of 120 bits",
            |fx| fx.claim("jti", json!(b64(&[0x6a; 15]))).into(),
            err(Kind::MalformedClaims, JTI_128),
        ),
        case(
            "jti of 136 bits",
            |fx| fx.claim("jti", json!(b64(&[0x6a; 17]))).into(),
            err(Kind::MalformedClaims, JTI_128),
        ),
        case(
            "jti empty",
            |fx| fx.claim("jti", json!("")).into(),
            err(Kind::MalformedClaims, JTI_128),
        ),
        case(
            "jti padded",
            |fx| fx.claim("jti", json!(format!("{}==", b64(&JTI)))).into(),
            err(Kind::MalformedClaims, JTI_128),
        ),
        case(
            "jti in the +/ alphabet",
            |fx| {
                fx.claim("jti", json!(STANDARD_NO_PAD.encode([0xfb; 16])))
                    .into()
            },
            err(Kind::MalformedClaims, JTI_128),
        ),
        case(
            "jti as 32 hex digits",
            |fx| fx.claim("jti", json!("6a".repeat(16))).into(),
            err(Kind::MalformedClaims, JTI_128),
        ),
        case(
            "jti missing",
            |fx| fx.without_claim("jti").into(),
            err(Kind::MalformedClaims, "missing field `jti`"),
        ),
    ]
}

// Steps 4 and 5: the link token.
fn link_token_cases() -> Vec<Case> {
    const UNDECRYPTABLE: &str = "cannot be decrypted";
    vec![
        case(
            "ltk under an unknown kid",
            |fx| {
                let key = LinkTokenKey::new("ltk-unknown", LTK_BYTES).expect("kid");
                fx.claim("ltk", json!(link_token_for(&fx.signing, SUBJECT, &key)))
                    .into()
            },
            err(Kind::LinkTokenUndecryptable, UNDECRYPTABLE),
        ),
        case(
            "ltk under our kid but another key",
            |fx| {
                let key = LinkTokenKey::new(LTK_KID, [0x4c; 32]).expect("kid");
                fx.claim("ltk", json!(link_token_for(&fx.signing, SUBJECT, &key)))
                    .into()
            },
            err(Kind::LinkTokenUndecryptable, UNDECRYPTABLE),
        ),
        case(
            "ltk with a flipped ciphertext bit",
            |fx| {
                let ltk = with_decoded(&fx.link_token, 3, |ct| ct[0] ^= 1);
                fx.claim("ltk", json!(ltk)).into()
            },
            err(Kind::LinkTokenUndecryptable, UNDECRYPTABLE),
        ),
        case(
            "ltk with a flipped tag bit",
            |fx| {
                let ltk = with_decoded(&fx.link_token, 4, |tag| tag[0] ^= 1);
                fx.claim("ltk", json!(ltk)).into()
            },
            err(Kind::LinkTokenUndecryptable, UNDECRYPTABLE),
        ),
        case(
            "ltk with a re-encoded header",
            |fx| {
                let ltk = with_decoded(&fx.link_token, 0, |h| h.push(b' '));
                fx.claim("ltk", json!(ltk)).into()
            },
            err(Kind::LinkTokenUndecryptable, UNDECRYPTABLE),
        ),
        case(
            "ltk empty",
            |fx| fx.claim("ltk", json!("")).into(),
            err(Kind::LinkTokenUndecryptable, UNDECRYPTABLE),
        ),
        case(
            "ltk not a JWE",
            |fx| fx.claim("ltk", json!("not-a-jwe")).into(),
            err(Kind::LinkTokenUndecryptable, UNDECRYPTABLE),
        ),
        case(
            "ltk over 8 KiB",
            |fx| {
                fx.claim(
                    "ltk",
                    json!(format!("{}{}", fx.link_token, "A".repeat(8192))),
                )
                .into()
            },
            err(Kind::LinkTokenUndecryptable, UNDECRYPTABLE),
        ),
        case(
            "ltk with typ JWT",
            |fx| {
                let payload =
                    serde_json::to_vec(&reference_payload(&fx.signing, SUBJECT)).expect("JSON");
                let ltk =
                    crate::link_token::seal_link_payload_with(&LTK_BYTES, LTK_KID, &payload, |h| {
                        h.insert("typ".into(), json!("JWT"));
                    });
                fx.claim("ltk", json!(ltk)).into()
            },
            err(Kind::LinkTokenUndecryptable, UNDECRYPTABLE),
        ),
        case(
            "the attacker's own link token, key and signature",
            |_| {
                let attacker = Fixture::with_seed(b"attacker");
                let ltk = link_token_for(
                    &attacker.signing,
                    SUBJECT,
                    &LinkTokenKey::new(LTK_KID, [0x66; 32]).expect("kid"),
                );
                attacker.claim("ltk", json!(ltk)).into()
            },
            err(Kind::LinkTokenUndecryptable, UNDECRYPTABLE),
        ),
        case(
            "link token with ver LINK-TOKEN-2.0",
            |fx| {
                let mut payload = reference_payload(&fx.signing, SUBJECT);
                payload.insert("ver".into(), json!("LINK-TOKEN-2.0"));
                fx.claim("ltk", json!(seal_json(&payload))).into()
            },
            err(Kind::LinkTokenInvalid, "ver is not LINK-TOKEN-1.0"),
        ),
        case(
            "link token with ver missing",
            |fx| {
                let mut payload = reference_payload(&fx.signing, SUBJECT);
                payload.remove("ver");
                fx.claim("ltk", json!(seal_json(&payload))).into()
            },
            err(Kind::LinkTokenInvalid, "missing field `ver`"),
        ),
        case(
            "vKey off the curve",
            |fx| {
                let mut payload = reference_payload(&fx.signing, SUBJECT);
                let mut y = unb64(payload["vKey"]["y"].as_str().expect("y"));
                y[31] ^= 1;
                payload["vKey"]["y"] = json!(b64(&y));
                fx.claim("ltk", json!(seal_json(&payload))).into()
            },
            err(
                Kind::LinkTokenInvalid,
                "vKey: the point is not on the P-256 curve",
            ),
        ),
        case(
            "vKey (0, 0)",
            |fx| {
                let mut payload = reference_payload(&fx.signing, SUBJECT);
                payload["vKey"]["x"] = json!(b64(&[0; 32]));
                payload["vKey"]["y"] = json!(b64(&[0; 32]));
                fx.claim("ltk", json!(seal_json(&payload))).into()
            },
            err(
                Kind::LinkTokenInvalid,
                "vKey: the point is not on the P-256 curve",
            ),
        ),
        case(
            "vKey on P-384",
            |fx| {
                let mut payload = reference_payload(&fx.signing, SUBJECT);
                payload["vKey"] =
                    json!({"kty": "EC", "crv": "P-384", "x": b64(&[1; 48]), "y": b64(&[2; 48])});
                fx.claim("ltk", json!(seal_json(&payload))).into()
            },
            err(Kind::LinkTokenInvalid, "vKey: wrong curve"),
        ),
        case(
            "vKey on secp256k1",
            |fx| {
                let mut payload = reference_payload(&fx.signing, SUBJECT);
                payload["vKey"]["crv"] = json!("secp256k1");
                fx.claim("ltk", json!(seal_json(&payload))).into()
            },
            err(Kind::LinkTokenInvalid, "vKey: wrong curve"),
        ),
        case(
            "vKey as a JSON array",
            |fx| {
                let mut payload = reference_payload(&fx.signing, SUBJECT);
                let v = payload["vKey"].clone();
                payload["vKey"] = json!([v["kty"], v["crv"], v["x"], v["y"]]);
                fx.claim("ltk", json!(seal_json(&payload))).into()
            },
            err(Kind::LinkTokenInvalid, "expected a JSON object"),
        ),
        case(
            "link token with duplicate ctx keys",
            |fx| {
                let text = serde_json::to_string(&reference_payload(&fx.signing, SUBJECT))
                    .expect("JSON")
                    .replace(
                        r#""ctx":{"plan":"gold"}"#,
                        r#""ctx":{"plan":"gold","plan":"free"}"#,
                    );
                assert!(text.contains("free"));
                let ltk = seal_link_payload(&LTK_BYTES, LTK_KID, text.as_bytes());
                fx.claim("ltk", json!(ltk)).into()
            },
            err(Kind::LinkTokenInvalid, "duplicate key in ctx"),
        ),
        case(
            "link token payload not JSON",
            |fx| {
                let ltk = seal_link_payload(&LTK_BYTES, LTK_KID, b"\xff\xfe");
                fx.claim("ltk", json!(ltk)).into()
            },
            err(Kind::LinkTokenInvalid, "payload JSON"),
        ),
    ]
}

fn seal_json(payload: &Map<String, Value>) -> String {
    seal_link_payload(
        &LTK_BYTES,
        LTK_KID,
        &serde_json::to_vec(payload).expect("JSON"),
    )
}

// Step 6: the signature.
fn signature_cases() -> Vec<Case> {
    const BAD: &str = "signature does not verify with vKey";
    vec![
        case(
            "signed by another link key (forged)",
            |fx| {
                let forger = LinkSigningKey::generate(&mut SeededRandom::new(b"forger"));
                sign_with(
                    &forger,
                    fx.header_json().as_bytes(),
                    fx.claims_json().as_bytes(),
                )
                .into()
            },
            err(Kind::BadSignature, BAD),
        ),
        case(
            "the signature of another token",
            |fx| {
                let other = fx.claim("dev", json!("another device"));
                with_segment(&fx.valid(), 2, |_| parts(&other)[2].clone()).into()
            },
            err(Kind::BadSignature, BAD),
        ),
        case(
            "r = 0",
            |fx| with_signature(&fx.valid(), |s| s[..32].fill(0)).into(),
            err(Kind::BadSignature, BAD),
        ),
        case(
            "s = 0",
            |fx| with_signature(&fx.valid(), |s| s[32..].fill(0)).into(),
            err(Kind::BadSignature, BAD),
        ),
        case(
            "r = s = 0 (psychic signature)",
            |fx| with_signature(&fx.valid(), |s| s.fill(0)).into(),
            err(Kind::BadSignature, BAD),
        ),
        case(
            "r = n",
            |fx| with_signature(&fx.valid(), |s| s[..32].copy_from_slice(&P256_N)).into(),
            err(Kind::BadSignature, BAD),
        ),
        case(
            "s = n",
            |fx| with_signature(&fx.valid(), |s| s[32..].copy_from_slice(&P256_N)).into(),
            err(Kind::BadSignature, BAD),
        ),
        case(
            "r = 2^256 - 1",
            |fx| with_signature(&fx.valid(), |s| s[..32].fill(0xff)).into(),
            err(Kind::BadSignature, BAD),
        ),
        case(
            "s = 2^256 - 1",
            |fx| with_signature(&fx.valid(), |s| s[32..].fill(0xff)).into(),
            err(Kind::BadSignature, BAD),
        ),
        case(
            "r and s swapped",
            |fx| {
                with_signature(&fx.valid(), |s| {
                    let (r, rest) = s.split_at_mut(32);
                    r.swap_with_slice(rest);
                })
                .into()
            },
            err(Kind::BadSignature, BAD),
        ),
        case(
            "flipped bit: first bit of r",
            |fx| with_signature(&fx.valid(), |s| s[0] ^= 0x80).into(),
            err(Kind::BadSignature, BAD),
        ),
        case(
            "flipped bit: last bit of r",
            |fx| with_signature(&fx.valid(), |s| s[31] ^= 1).into(),
            err(Kind::BadSignature, BAD),
        ),
        case(
            "flipped bit: middle of s",
            |fx| with_signature(&fx.valid(), |s| s[47] ^= 0x10).into(),
            err(Kind::BadSignature, BAD),
        ),
        case(
            "flipped bit: last bit of s",
            |fx| with_signature(&fx.valid(), |s| s[63] ^= 1).into(),
            err(Kind::BadSignature, BAD),
        ),
        // One flipped bit in the header that keeps it valid JSON: a trailing
        // CR (0x0d) becomes a TAB (0x09). Only the signature can notice.
        case(
            "flipped bit in the header (CR to TAB)",
            |fx| {
                let token = fx.raw_header(&format!("{}\r", fx.header_json()));
                with_decoded(&token, 0, |h| {
                    let last = h.len() - 1;
                    h[last] ^= 0x04;
                    assert_eq!(h[last], b'\t');
                })
                .into()
            },
            err(Kind::BadSignature, BAD),
        ),
        case(
            "flipped bit in the header (ES256 to DS256)",
            |fx| {
                with_decoded(&fx.valid(), 0, |h| {
                    let at = h.windows(5).position(|w| w == b"ES256").expect("alg");
                    h[at] ^= 0x01;
                })
                .into()
            },
            err(Kind::MalformedToken, "alg is not ES256"),
        ),
        case(
            "flipped bit in the payload (dev-1 to dev-0)",
            |fx| flip_in_payload(fx, "dev-1").into(),
            err(Kind::BadSignature, BAD),
        ),
        case(
            "flipped bit in the payload (iat)",
            |fx| flip_in_payload(fx, "1700000000").into(),
            err(Kind::BadSignature, BAD),
        ),
        case(
            "flipped bit in the payload (sub: checked after the signature)",
            |fx| flip_in_payload(fx, "plat-1").into(),
            err(Kind::BadSignature, BAD),
        ),
        case(
            "flipped bit in the payload (aud: checked after the signature)",
            |fx| flip_in_payload(fx, "idp.example").into(),
            err(Kind::BadSignature, BAD),
        ),
        // Pinned: aws-lc accepts the high-S twin (r, n - s) of a valid
        // signature; ES256 (RFC 7518) does not require low-S. That is safe
        // here because replay is keyed by `jti`, never by signature bytes:
        // the twin of a token already presented is `Replayed` (step 10).
        case(
            "high-S twin of a valid signature (accepted)",
            |fx| high_s_twin(&fx.valid()).into(),
            ok(),
        ),
    ]
}

/// The reference token with the lowest bit of the last character of
/// `needle` (in the claims JSON) flipped, keeping the old signature.
fn flip_in_payload(fx: &Fixture, needle: &str) -> String {
    with_decoded(&fx.valid(), 1, |payload| {
        let at = payload
            .windows(needle.len())
            .position(|w| w == needle.as_bytes())
            .expect("needle in the payload");
        payload[at + needle.len() - 1] ^= 0x01;
        assert!(serde_json::from_slice::<Value>(payload).is_ok());
    })
}

// Steps 7 and 8: subject, audience, issuer; and the order of the steps.
fn binding_cases() -> Vec<Case> {
    vec![
        case(
            "sub of another user",
            |fx| fx.claim("sub", json!("amzn1.ssi.did.plat-2")).into(),
            err(Kind::SubjectMismatch, "sub differs"),
        ),
        case(
            "sub differs in case",
            |fx| fx.claim("sub", json!(SUBJECT.to_uppercase())).into(),
            err(Kind::SubjectMismatch, "sub differs"),
        ),
        case(
            "sub with a trailing space",
            |fx| fx.claim("sub", json!(format!("{SUBJECT} "))).into(),
            err(Kind::SubjectMismatch, "sub differs"),
        ),
        case(
            "another link's key and link token, our user's sub",
            |_| {
                let other = Fixture::with_seed(b"other link");
                let ltk = link_token_for(&other.signing, "amzn1.ssi.did.plat-2", &partner_key());
                other.claim("ltk", json!(ltk)).into()
            },
            err(Kind::SubjectMismatch, "sub differs"),
        ),
        case(
            "aud of another IDP",
            |fx| fx.claim("aud", json!("other-idp.example")).into(),
            err(Kind::WrongAudience, "aud is not this IDP"),
        ),
        case(
            "aud differs in case",
            |fx| fx.claim("aud", json!("IDP.example")).into(),
            err(Kind::WrongAudience, "aud is not this IDP"),
        ),
        case(
            "aud empty",
            |fx| fx.claim("aud", json!("")).into(),
            err(Kind::WrongAudience, "aud is not this IDP"),
        ),
        case(
            "iss of another server",
            |fx| fx.claim("iss", json!("https://evil.example")).into(),
            err(Kind::WrongIssuer, "iss is not the expected issuer"),
        ),
        case(
            "iss with a trailing slash",
            |fx| fx.claim("iss", json!(format!("{ISSUER}/"))).into(),
            err(Kind::WrongIssuer, "iss is not the expected issuer"),
        ),
        case(
            "iss over http",
            |fx| fx.claim("iss", json!("http://ssi.example")).into(),
            err(Kind::WrongIssuer, "iss is not the expected issuer"),
        ),
        case(
            "order: wrong aud and wrong iss → aud first",
            |fx| {
                fx.token(|_, c| {
                    c.insert("aud".into(), json!("other-idp.example"));
                    c.insert("iss".into(), json!("https://evil.example"));
                })
                .into()
            },
            err(Kind::WrongAudience, "aud is not this IDP"),
        ),
        case(
            "order: expired and wrong aud → aud first",
            |fx| Input::from(fx.claim("aud", json!("other-idp.example"))).at(NOW + 10_000),
            err(Kind::WrongAudience, "aud is not this IDP"),
        ),
        case(
            "order: expired and forged → signature first",
            |fx| Input::from(with_signature(&fx.valid(), |s| s[5] ^= 1)).at(NOW + 10_000),
            err(Kind::BadSignature, "signature does not verify"),
        ),
        case(
            "order: forged and undecryptable ltk → ltk first",
            |fx| with_signature(&fx.claim("ltk", json!("x.y.z.w.v")), |s| s[5] ^= 1).into(),
            err(Kind::LinkTokenUndecryptable, "cannot be decrypted"),
        ),
        case(
            "order: wrong sub and wrong aud → sub first",
            |fx| {
                fx.token(|_, c| {
                    c.insert("sub".into(), json!("amzn1.ssi.did.plat-2"));
                    c.insert("aud".into(), json!("other-idp.example"));
                })
                .into()
            },
            err(Kind::SubjectMismatch, "sub differs"),
        ),
    ]
}

// Step 9: times. The rules are `iat <= now + 60`, `exp > now - 60` and
// `0 < exp - iat <= 300`; every boundary is tested on both sides.
fn time_cases() -> Vec<Case> {
    const FUTURE: &str = "iat is in the future";
    const EXPIRED: &str = "exp has passed";
    const LIFETIME: &str = "exp - iat is not in (0, 300]";
    vec![
        case(
            "iat = now + 60 (skew)",
            |fx| fx.times(NOW + 60, NOW + 360).into(),
            ok(),
        ),
        case(
            "iat = now + 61",
            |fx| fx.times(NOW + 61, NOW + 361).into(),
            err(Kind::IssuedInFuture, FUTURE),
        ),
        case(
            "iat = now + 61 with a short lifetime",
            |fx| fx.times(NOW + 61, NOW + 62).into(),
            err(Kind::IssuedInFuture, FUTURE),
        ),
        case(
            "iat = now - 60",
            |fx| fx.times(NOW - 60, NOW + 240).into(),
            ok(),
        ),
        case(
            "iat = now - 61",
            |fx| fx.times(NOW - 61, NOW + 239).into(),
            ok(),
        ),
        case(
            "exp = now - 59",
            |fx| fx.times(NOW - 359, NOW - 59).into(),
            ok(),
        ),
        case(
            "exp = now - 60 (skew)",
            |fx| fx.times(NOW - 360, NOW - 60).into(),
            err(Kind::Expired, EXPIRED),
        ),
        case(
            "exp = now - 61",
            |fx| fx.times(NOW - 361, NOW - 61).into(),
            err(Kind::Expired, EXPIRED),
        ),
        case(
            "exp = now + 60",
            |fx| fx.times(NOW - 240, NOW + 60).into(),
            ok(),
        ),
        case(
            "exp = now + 61",
            |fx| fx.times(NOW - 239, NOW + 61).into(),
            ok(),
        ),
        case(
            "lifetime 0",
            |fx| fx.times(NOW, NOW).into(),
            err(Kind::BadLifetime, LIFETIME),
        ),
        case(
            "lifetime -1",
            |fx| fx.times(NOW, NOW - 1).into(),
            err(Kind::BadLifetime, LIFETIME),
        ),
        case("lifetime 1", |fx| fx.times(NOW, NOW + 1).into(), ok()),
        case("lifetime 300", |fx| fx.times(NOW, NOW + 300).into(), ok()),
        case(
            "lifetime 301",
            |fx| fx.times(NOW, NOW + 301).into(),
            err(Kind::BadLifetime, LIFETIME),
        ),
        case(
            "lifetime of decades",
            |fx| fx.times(1, NOW + 300).into(),
            err(Kind::BadLifetime, LIFETIME),
        ),
        case(
            "lifetime too long, iat in the past: not saved by the skew",
            |fx| fx.times(NOW - 100, NOW + 250).into(),
            err(Kind::BadLifetime, LIFETIME),
        ),
        case(
            "minted at T, verified at T",
            |fx| minted(fx, NOW).into(),
            ok(),
        ),
        case(
            "minted at T, verified at T + 359",
            |fx| Input::from(minted(fx, NOW)).at(NOW + 359),
            ok(),
        ),
        case(
            "minted at T, verified at T + 360",
            |fx| Input::from(minted(fx, NOW)).at(NOW + 360),
            err(Kind::Expired, EXPIRED),
        ),
        case(
            "minted at T, verified at T - 60",
            |fx| Input::from(minted(fx, NOW)).at(NOW - 60),
            ok(),
        ),
        case(
            "minted at T, verified at T - 61",
            |fx| Input::from(minted(fx, NOW)).at(NOW - 61),
            err(Kind::IssuedInFuture, FUTURE),
        ),
    ]
}

fn minted(fx: &Fixture, now: i64) -> String {
    mint_ssi_token(
        &fx.request(),
        &fx.signing,
        now,
        &mut SeededRandom::new(b"minted"),
    )
}

// Step 10: replay.
fn replay_cases() -> Vec<Case> {
    const REPLAYED: &str = "jti was seen before";
    vec![
        case(
            "the same token twice",
            |fx| {
                let token = fx.valid();
                Input::from(token.clone()).after(token, NOW)
            },
            err(Kind::Replayed, REPLAYED),
        ),
        case(
            "the same minted token twice",
            |fx| {
                let token = minted(fx, NOW);
                Input::from(token.clone()).after(token, NOW)
            },
            err(Kind::Replayed, REPLAYED),
        ),
        case(
            "another token with the same jti",
            |fx| Input::from(fx.claim("dev", json!("another device"))).after(fx.valid(), NOW),
            err(Kind::Replayed, REPLAYED),
        ),
        case(
            "another token with another jti",
            |fx| Input::from(fx.claim("jti", json!(b64(&[7; 16])))).after(fx.valid(), NOW),
            ok(),
        ),
        case(
            "two mints at the same second have distinct jti",
            |fx| {
                let mut rng = SeededRandom::new(b"two mints");
                let first = mint_ssi_token(&fx.request(), &fx.signing, NOW, &mut rng);
                let second = mint_ssi_token(&fx.request(), &fx.signing, NOW, &mut rng);
                Input::from(second).after(first, NOW)
            },
            ok(),
        ),
        case(
            "replayed at exp + 59: still remembered",
            |fx| {
                let token = fx.valid();
                Input::from(token.clone())
                    .after(token, NOW)
                    .at(NOW + 300 + 59)
            },
            err(Kind::Replayed, REPLAYED),
        ),
        case(
            "replayed at exp + 60: expired by then",
            |fx| {
                let token = fx.valid();
                Input::from(token.clone())
                    .after(token, NOW)
                    .at(NOW + 300 + 60)
            },
            err(Kind::Expired, "exp has passed"),
        ),
        case(
            "first seen at exp + 59, replayed at once",
            |fx| {
                let token = fx.valid();
                Input::from(token.clone())
                    .after(token, NOW + 359)
                    .at(NOW + 359)
            },
            err(Kind::Replayed, REPLAYED),
        ),
        case(
            "replayed with the clock set back",
            |fx| {
                let token = fx.valid();
                Input::from(token.clone())
                    .after(token, NOW + 200)
                    .at(NOW - 60)
            },
            err(Kind::Replayed, REPLAYED),
        ),
        case(
            "high-S twin after the original",
            |fx| {
                let token = fx.valid();
                Input::from(high_s_twin(&token)).after(token, NOW)
            },
            err(Kind::Replayed, REPLAYED),
        ),
        case(
            "original after its high-S twin",
            |fx| {
                let token = fx.valid();
                Input::from(token.clone()).after(high_s_twin(&token), NOW)
            },
            err(Kind::Replayed, REPLAYED),
        ),
    ]
}

fn all_cases() -> Vec<Case> {
    [
        schema_cases(),
        encoding_cases(),
        header_cases(),
        signature_shape_cases(),
        claims_cases(),
        link_token_cases(),
        signature_cases(),
        binding_cases(),
        time_cases(),
        replay_cases(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

#[test]
fn step1_schema() {
    check(&schema_cases());
}

#[test]
fn step2_encoding() {
    check(&encoding_cases());
}

#[test]
fn step2_header() {
    check(&header_cases());
}

#[test]
fn step2_signature_shape() {
    check(&signature_shape_cases());
}

#[test]
fn step3_claims() {
    check(&claims_cases());
}

#[test]
fn steps4_5_link_token() {
    check(&link_token_cases());
}

#[test]
fn step6_signature() {
    check(&signature_cases());
}

#[test]
fn steps7_8_subject_audience_issuer() {
    check(&binding_cases());
}

#[test]
fn step9_time() {
    check(&time_cases());
}

#[test]
fn step10_replay() {
    check(&replay_cases());
}

#[test]
fn every_error_kind_has_a_case() {
    let covered: HashSet<Kind> = all_cases()
        .iter()
        .filter_map(|case| match case.expect {
            Expect::Err(kind, _) => Some(kind),
            Expect::Ok => None,
        })
        .collect();
    let missing: Vec<Kind> = Kind::ALL
        .into_iter()
        .filter(|kind| !covered.contains(kind))
        .collect();
    assert!(missing.is_empty(), "no case produces {missing:?}");
    let names: HashSet<&str> = all_cases().iter().map(|case| case.name).collect();
    assert_eq!(names.len(), all_cases().len(), "case names are unique");
}

#[test]
fn the_verified_result_carries_the_link() {
    let fx = Fixture::new();
    let token = minted(&fx, NOW);
    let verified = verify_ssi_token(
        SSI_TOKEN_SCHEMA,
        &token,
        &fx.options(),
        NOW + 1,
        &InMemoryReplayStore::new(),
    )
    .expect("valid");
    assert_eq!(verified.partner_user_id, PARTNER_USER);
    assert_eq!(verified.platform_user_id, SUBJECT);
    assert_eq!(verified.link_id, LINK_ID);
    assert_eq!(verified.device_id, DEVICE);
    assert_eq!(
        verified.ctx,
        BTreeMap::from([("plan".to_owned(), "gold".to_owned())])
    );
    assert_eq!(verified.linked_at, LINKED_AT);
    assert_eq!(verified.issued_at, NOW);
    assert_eq!(verified.expires_at, NOW + 300);
    assert_eq!(unb64(&verified.jti).len(), 16);
}

#[test]
fn error_codes_and_steps_are_stable() {
    let table = [
        (Kind::WrongSchema, "WRONG_SCHEMA", 1),
        (Kind::MalformedToken, "MALFORMED_TOKEN", 2),
        (Kind::MalformedClaims, "MALFORMED_CLAIMS", 3),
        (Kind::LinkTokenUndecryptable, "LINK_TOKEN_UNDECRYPTABLE", 4),
        (Kind::LinkTokenInvalid, "LINK_TOKEN_INVALID", 5),
        (Kind::BadSignature, "BAD_SIGNATURE", 6),
        (Kind::SubjectMismatch, "SUBJECT_MISMATCH", 7),
        (Kind::WrongAudience, "WRONG_AUDIENCE", 8),
        (Kind::WrongIssuer, "WRONG_ISSUER", 8),
        (Kind::IssuedInFuture, "ISSUED_IN_FUTURE", 9),
        (Kind::Expired, "EXPIRED", 9),
        (Kind::BadLifetime, "BAD_LIFETIME", 9),
        (Kind::Replayed, "REPLAYED", 10),
    ];
    assert_eq!(table.len(), Kind::ALL.len());
    for (kind, code, step) in table {
        assert_eq!(kind.code(), code);
        assert_eq!(kind.to_string(), code);
        assert_eq!(kind.step(), step);
        assert_eq!(Kind::from_code(code), Some(kind));
    }
    assert_eq!(Kind::from_code("expired"), None);
}
