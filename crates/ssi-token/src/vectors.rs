//! The published test vectors, `spec/vectors/*.json` (DESIGN.md section 5,
//! "Test vectors"; described in `spec/README.md`).
//!
//! Everything derives from fixed seeds through [`SeededRandom`] and every
//! ES256 signature is an RFC 6979 one ([`DeterministicSigner`]), so
//! [`generate`] returns byte-identical files on every run and platform.
//! Hostile inputs (wrong algorithms, bad plaintexts, tampered parts) are
//! assembled here from the crate's JOSE building blocks, since the public API
//! refuses to make them.
//!
//! Expected results are stated from what each case puts in, never by running
//! the verifier; the tests run the verifier on the checked-in files.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::b64;
use crate::error::VerifyErrorKind as Kind;
use crate::jwe;
use crate::keys::{
    AppJwk, AppKeyPair, AppPublicKey, EcPrivateJwk, EcPublicJwk, LinkSigningKey, LinkTokenKey,
    OctJwk,
};
use crate::link_token::{LINK_TOKEN_SCHEMA, LinkTokenClaims, make_link_token};
use crate::rng::{Random, SeededRandom};
use crate::sealed::seal_link_signing_key;
use crate::ssi_token::{
    CLOCK_SKEW_SECS, Es256Signer, MAX_SSI_TOKEN_BYTES, MintRequest, REPLAY_MARGIN_SECS,
    SSI_TOKEN_LIFETIME_SECS, SSI_TOKEN_SCHEMA, mint_ssi_token, sign_compact,
};
use crate::{DeterministicSigner, MAX_LINK_TOKEN_BYTES, MAX_SEALED_KEY_BYTES};

/// The command that regenerates `spec/vectors/`.
pub const GENERATED_BY: &str = "cargo run -p ssi -- token vectors --out spec/vectors";

/// The issuer (`iss`) of every SSI token in the vectors.
pub const ISSUER: &str = "https://ssi.example.com";
/// The identity provider name (`aud`) of every SSI token in the vectors.
pub const IDENTITY_PROVIDER_NAME: &str = "example-idp";
/// When the vectors' links were made (2025-12-01T00:00:00Z).
pub const LINKED_AT: i64 = 1_764_547_200;
/// When the vectors' SSI tokens were minted (2026-01-01T00:00:00Z).
pub const MINTED_AT: i64 = 1_767_225_600;

/// The files of `spec/vectors/`: (file name, pretty JSON ending in a newline),
/// byte-identical on every run.
pub fn generate() -> Vec<(&'static str, String)> {
    let fixture = Fixture::new();
    vec![
        ("link-tokens.json", render(&link_token_file(&fixture))),
        ("sealed-keys.json", render(&sealed_key_file(&fixture))),
        ("ssi-tokens.json", render(&ssi_token_file(&fixture))),
    ]
}

fn render<T: Serialize>(value: &T) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("vectors serialize");
    text.push('\n');
    text
}

/// Deterministic randomness, one independent stream per label, so that adding
/// a case never changes the bytes of another.
fn rng(label: &str) -> SeededRandom {
    SeededRandom::new(format!("ssi-token test vectors/{label}").as_bytes())
}

fn random_id(label: &str) -> String {
    let mut bytes = [0u8; 16];
    rng(label).fill(&mut bytes);
    b64::encode(&bytes)
}

// ---------------------------------------------------------------------------
// JSON with full control over member order, duplicates and raw values, for
// the hostile cases (serde would refuse to write most of them).

#[derive(Clone)]
struct Obj(Vec<(String, String)>);

fn json_str(value: &str) -> String {
    serde_json::to_string(value).expect("a string serializes")
}

fn json_of<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("a value serializes")
}

impl Obj {
    fn new() -> Self {
        Self(Vec::new())
    }

    /// Appends a member with a raw JSON value (a duplicate name is kept).
    fn raw(mut self, name: &str, raw: impl Into<String>) -> Self {
        self.0.push((name.to_owned(), raw.into()));
        self
    }

    fn str(self, name: &str, value: &str) -> Self {
        self.raw(name, json_str(value))
    }

    fn int(self, name: &str, value: i64) -> Self {
        self.raw(name, value.to_string())
    }

    /// Replaces the value of the (first) member `name`, keeping its position.
    fn set(mut self, name: &str, raw: impl Into<String>) -> Self {
        let member = self
            .0
            .iter_mut()
            .find(|(n, _)| n == name)
            .expect("the member exists");
        member.1 = raw.into();
        self
    }

    fn remove(mut self, name: &str) -> Self {
        self.0.retain(|(n, _)| n != name);
        self
    }

    fn render(&self) -> String {
        let members: Vec<String> = self
            .0
            .iter()
            .map(|(name, value)| format!("{}:{value}", json_str(name)))
            .collect();
        format!("{{{}}}", members.join(","))
    }
}

// ---------------------------------------------------------------------------
// The fixed keys and links.

/// `{"keys":[...]}`: a JWK set of link-token keys.
#[derive(Serialize)]
struct JwkSet {
    keys: Vec<OctJwk>,
}

fn key_set(keys: &[&LinkTokenKey]) -> JwkSet {
    JwkSet {
        keys: keys.iter().map(|key| key.to_jwk()).collect(),
    }
}

/// A link as the partner made it and the server stored it.
struct Link {
    signing_key: LinkSigningKey,
    partner_user_id: String,
    platform_user_id: String,
    link_id: String,
    device_id: String,
    ctx: BTreeMap<String, String>,
    /// The link token (`ltk`), verbatim.
    token: String,
}

impl Link {
    fn new(label: &str, partner_user_id: &str, ctx: &[(&str, &str)], key: &LinkTokenKey) -> Self {
        let signing_key = LinkSigningKey::generate(&mut rng(&format!("{label}/link key")));
        let platform_user_id = random_id(&format!("{label}/platform user id"));
        let ctx: BTreeMap<String, String> = ctx
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let claims = LinkTokenClaims {
            partner_user_id: partner_user_id.to_owned(),
            platform_user_id: platform_user_id.clone(),
            verification_key: signing_key.verification_key(),
            issued_at: LINKED_AT,
            ctx: ctx.clone(),
        };
        let token = make_link_token(&claims, key, &mut rng(&format!("{label}/link token")));
        Self {
            signing_key,
            partner_user_id: partner_user_id.to_owned(),
            platform_user_id,
            link_id: random_id(&format!("{label}/link id")),
            device_id: random_id(&format!("{label}/device id")),
            ctx,
            token,
        }
    }

    fn signer(&self) -> DeterministicSigner {
        DeterministicSigner::new(&self.signing_key)
    }

    fn v_key(&self) -> EcPublicJwk {
        self.signing_key.verification_key().to_jwk()
    }

    /// A token exactly as the server mints it at [`MINTED_AT`].
    fn mint(&self, case: &str) -> String {
        let request = MintRequest {
            issuer: ISSUER,
            audience: IDENTITY_PROVIDER_NAME,
            subject: &self.platform_user_id,
            link_id: &self.link_id,
            link_token: &self.token,
            device_id: &self.device_id,
        };
        mint_ssi_token(&request, &self.signer(), MINTED_AT, &mut rng(case))
    }

    /// The `jti` that [`Link::mint`] and [`Link::claims`] draw for `case`.
    fn jti(case: &str) -> String {
        let mut jti = [0u8; 16];
        rng(case).fill(&mut jti);
        b64::encode(&jti)
    }

    fn header(&self) -> Obj {
        Obj::new()
            .str("alg", "ES256")
            .str("typ", "ssi+jwt")
            .str("kid", &self.link_id)
    }

    /// The claims [`Link::mint`] would write, in its member order, for editing.
    fn claims(&self, case: &str) -> Obj {
        Obj::new()
            .str("ver", SSI_TOKEN_SCHEMA)
            .str("iss", ISSUER)
            .str("aud", IDENTITY_PROVIDER_NAME)
            .str("sub", &self.platform_user_id)
            .str("lid", &self.link_id)
            .str("ltk", &self.token)
            .str("dev", &self.device_id)
            .int("iat", MINTED_AT)
            .int("exp", MINTED_AT + SSI_TOKEN_LIFETIME_SECS)
            .str("jti", &Self::jti(case))
    }

    /// What a successful verification of `case` returns.
    fn verified(&self, case: &str) -> VerifiedClaims {
        VerifiedClaims {
            partner_user_id: self.partner_user_id.clone(),
            platform_user_id: self.platform_user_id.clone(),
            link_id: self.link_id.clone(),
            device_id: self.device_id.clone(),
            ctx: self.ctx.clone(),
            linked_at: LINKED_AT,
            issued_at: MINTED_AT,
            expires_at: MINTED_AT + SSI_TOKEN_LIFETIME_SECS,
            jti: Self::jti(case),
        }
    }

    fn link_token_claims(&self) -> LinkClaims {
        LinkClaims {
            partner_user_id: self.partner_user_id.clone(),
            platform_user_id: self.platform_user_id.clone(),
            v_key: self.v_key(),
            iat: LINKED_AT,
            ctx: self.ctx.clone(),
        }
    }

    /// The link token payload as [`make_link_token`] writes it, for editing.
    fn link_payload(&self) -> Obj {
        Obj::new()
            .str("ver", LINK_TOKEN_SCHEMA)
            .str("partnerUserId", &self.partner_user_id)
            .str("platformUserId", &self.platform_user_id)
            .raw("vKey", json_of(&self.v_key()))
            .int("iat", LINKED_AT)
    }
}

struct Fixture {
    /// The partner's current link-token key.
    ltk_key: LinkTokenKey,
    /// A newer link-token key (rotation).
    ltk_key_2: LinkTokenKey,
    /// A different key under the same `kid` as `ltk_key`.
    ltk_key_impostor: LinkTokenKey,
    /// Link of the plain cases.
    link: Link,
    /// A link with a non-ASCII partner user id and `ctx`.
    link_ctx: Link,
    /// A link whose link token is under `ltk_key_2`.
    link_rotated: Link,
    /// An unrelated link key pair (a forger's, or another link's).
    other_link_key: LinkSigningKey,
    /// The app's current key, an older (retired, not yet expired) one, and
    /// another app's key.
    app_key: AppKeyPair,
    app_key_retired: AppKeyPair,
    other_app_key: AppKeyPair,
}

impl Fixture {
    fn new() -> Self {
        let ltk_key = LinkTokenKey::generate(&mut rng("link-token key 1"));
        let ltk_key_2 = LinkTokenKey::generate(&mut rng("link-token key 2"));
        let mut impostor = [0u8; 32];
        rng("link-token key impostor").fill(&mut impostor);
        let ltk_key_impostor =
            LinkTokenKey::new(ltk_key.kid(), impostor).expect("the kid is valid");
        let link = Link::new("link 1", "user-1234", &[], &ltk_key);
        let link_ctx = Link::new(
            "link 2",
            "jürgen.müller@example.com",
            &[("plan", "family"), ("tenant", "eu-1"), ("ünïcode", "✓")],
            &ltk_key,
        );
        let link_rotated = Link::new("link 3", "user-9012", &[], &ltk_key_2);
        Self {
            ltk_key,
            ltk_key_2,
            ltk_key_impostor,
            link,
            link_ctx,
            link_rotated,
            other_link_key: LinkSigningKey::generate(&mut rng("other link key")),
            app_key: AppKeyPair::generate(&mut rng("app key 1")),
            app_key_retired: AppKeyPair::generate(&mut rng("app key 0 (retired)")),
            other_app_key: AppKeyPair::generate(&mut rng("other app key")),
        }
    }
}

// ---------------------------------------------------------------------------
// Token surgery.

/// Replaces the first character of dot-separated part `index` with another
/// base64url character (a non-final character, so the part stays canonical).
fn tamper_part(token: &str, index: usize) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let part = &mut parts[index];
    let replacement = if part.starts_with('A') { "B" } else { "A" };
    part.replace_range(0..1, replacement);
    parts.join(".")
}

fn replace_part(token: &str, index: usize, new_part: &str) -> String {
    let mut parts: Vec<&str> = token.split('.').collect();
    parts[index] = new_part;
    parts.join(".")
}

fn signature_bytes(token: &str) -> [u8; 64] {
    let signature = token.rsplit('.').next().expect("a signature part");
    b64::decode_array(signature).expect("a 64-byte signature")
}

/// ASN.1 DER `ECDSA-Sig-Value` of a 64-byte r‖s signature.
fn der_signature(signature: &[u8; 64]) -> Vec<u8> {
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
    let mut body = integer(&signature[..32]);
    body.extend(integer(&signature[32..]));
    let mut out = vec![0x30, body.len() as u8];
    out.extend(body);
    out
}

/// A signer that returns fixed bytes (for the all-zero signature).
struct FixedSignature([u8; 64]);

impl Es256Signer for FixedSignature {
    fn sign_es256(&self, _message: &[u8]) -> [u8; 64] {
        self.0
    }
}

/// `b64(header).b64(payload).b64(signature)` from given parts.
fn assemble(header: &[u8], payload: &[u8], signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64::encode(header),
        b64::encode(payload),
        b64::encode(signature)
    )
}

fn sign(header: &Obj, payload: &Obj, signer: &dyn Es256Signer) -> String {
    sign_compact(
        header.render().as_bytes(),
        payload.render().as_bytes(),
        signer,
    )
}

/// A link token with any payload bytes, encrypted exactly as
/// [`make_link_token`] does (A256GCMKW, then A256GCM).
fn raw_link_token(payload: &[u8], key: &LinkTokenKey, label: &str) -> String {
    let mut rng = rng(label);
    let mut cek = [0u8; jwe::CEK_LEN];
    rng.fill(&mut cek);
    let mut wrap_iv = [0u8; 12];
    rng.fill(&mut wrap_iv);
    let (encrypted_key, wrap_tag) = jwe::aes_gcm_seal(key.bytes(), &wrap_iv, b"", &cek);
    let header = Obj::new()
        .str("alg", "A256GCMKW")
        .str("enc", "A256GCM")
        .str("kid", key.kid())
        .str("typ", "link+jwe")
        .str("iv", &b64::encode(&wrap_iv))
        .str("tag", &b64::encode(&wrap_tag));
    jwe::encode_compact(
        header.render().as_bytes(),
        &encrypted_key,
        &cek,
        payload,
        &mut rng,
    )
}

/// How to bend a sealed key's protected header.
#[derive(Clone, Copy)]
enum SealedHeader<'a> {
    AsSealed,
    Alg(&'a str),
    /// Claims this `kid` while encrypting to another key.
    Kid(&'a str),
    /// Replaces the `epk`'s `y` with this coordinate.
    EpkY(&'a str),
}

/// A sealed key with any plaintext, encrypted exactly as
/// [`seal_link_signing_key`] does (ECDH-ES+A256KW, then A256GCM).
fn raw_sealed_key(
    plaintext: &[u8],
    recipient: &AppPublicKey,
    bend: SealedHeader<'_>,
    label: &str,
) -> String {
    let mut rng = rng(label);
    let ephemeral = AppKeyPair::generate(&mut rng);
    let shared = jwe::ecdh_p256(&ephemeral.agreement_key(), recipient.point.as_bytes())
        .expect("a valid recipient key agrees");
    let kek = jwe::concat_kdf(&shared, "ECDH-ES+A256KW", b"", b"");
    let mut cek = [0u8; jwe::CEK_LEN];
    rng.fill(&mut cek);
    let encrypted_key = jwe::aes_kw_wrap(&kek, &cek);
    let mut epk = ephemeral.public_key().point.to_jwk();
    let (mut alg, mut kid) = ("ECDH-ES+A256KW", recipient.kid());
    match bend {
        SealedHeader::AsSealed => {}
        SealedHeader::Alg(other) => alg = other,
        SealedHeader::Kid(other) => kid = other,
        SealedHeader::EpkY(y) => epk.y = y.to_owned(),
    }
    let header = Obj::new()
        .str("alg", alg)
        .str("enc", "A256GCM")
        .str("kid", kid)
        .raw("epk", json_of(&epk))
        .str("cty", "jwk+json");
    jwe::encode_compact(
        header.render().as_bytes(),
        &encrypted_key,
        &cek,
        plaintext,
        &mut rng,
    )
}

/// A 32-byte coordinate that is not the given one and, with the other
/// coordinate, not a curve point (y + 1; P-256 has no two points (x, y),
/// (x, y + 1)).
fn bump_coordinate(coordinate: &str) -> String {
    let mut bytes: [u8; 32] = b64::decode_array(coordinate).expect("a 32-byte coordinate");
    for byte in bytes.iter_mut().rev() {
        let (value, carry) = byte.overflowing_add(1);
        *byte = value;
        if !carry {
            break;
        }
    }
    b64::encode(&bytes)
}

// ---------------------------------------------------------------------------
// ssi-tokens.json

#[derive(Serialize)]
struct SsiTokenFile {
    format: &'static str,
    generated_by: &'static str,
    parameters: Parameters,
    cases: Vec<SsiCase>,
}

#[derive(Serialize)]
struct Parameters {
    lifetime_secs: i64,
    clock_skew_secs: i64,
    replay_margin_secs: i64,
    max_ssi_token_bytes: usize,
    max_link_token_bytes: usize,
    max_sealed_key_bytes: usize,
}

/// The seed's `Token {token, schema}`.
#[derive(Serialize)]
struct TokenJson {
    schema: String,
    token: String,
}

#[derive(Serialize)]
struct SsiCase {
    name: String,
    description: String,
    ssi_token: TokenJson,
    link_token_keys: JwkSet,
    identity_provider_name: &'static str,
    issuer: &'static str,
    now: i64,
    seen_jtis: Vec<String>,
    expected: Expected<WithClaims<VerifiedClaims>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VerifiedClaims {
    partner_user_id: String,
    platform_user_id: String,
    link_id: String,
    device_id: String,
    ctx: BTreeMap<String, String>,
    linked_at: i64,
    issued_at: i64,
    expires_at: i64,
    jti: String,
}

/// Either `{valid: true, <result members>}` or `{valid: false, error, step?}`.
#[derive(Serialize)]
struct Expected<R> {
    valid: bool,
    #[serde(flatten)]
    result: Option<R>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    step: Option<u8>,
}

/// The result of a successful verification or read: `{claims}`.
#[derive(Serialize)]
struct WithClaims<C> {
    claims: C,
}

impl<C> Expected<WithClaims<C>> {
    fn claims(claims: C) -> Self {
        Self::valid(WithClaims { claims })
    }
}

impl<R> Expected<R> {
    fn valid(result: R) -> Self {
        Self {
            valid: true,
            result: Some(result),
            error: None,
            step: None,
        }
    }

    fn kind(kind: Kind) -> Self {
        Self {
            valid: false,
            result: None,
            error: Some(kind.code()),
            step: Some(kind.step()),
        }
    }

    fn status(status: &'static str) -> Self {
        Self {
            valid: false,
            result: None,
            error: Some(status),
            step: None,
        }
    }
}

/// Collects the SSI token cases; `keys` and `now` default to the partner's
/// single current key and [`MINTED_AT`].
struct SsiCases<'f> {
    fixture: &'f Fixture,
    cases: Vec<SsiCase>,
}

struct SsiInput<'a> {
    schema: &'a str,
    keys: Vec<&'a LinkTokenKey>,
    now: i64,
    seen_jtis: Vec<String>,
}

impl<'f> SsiCases<'f> {
    fn input(&self) -> SsiInput<'f> {
        SsiInput {
            schema: SSI_TOKEN_SCHEMA,
            keys: vec![&self.fixture.ltk_key],
            now: MINTED_AT,
            seen_jtis: Vec::new(),
        }
    }

    fn push(
        &mut self,
        name: &str,
        description: &str,
        token: String,
        input: SsiInput<'_>,
        expected: Expected<WithClaims<VerifiedClaims>>,
    ) {
        self.cases.push(SsiCase {
            name: name.to_owned(),
            description: description.to_owned(),
            ssi_token: TokenJson {
                schema: input.schema.to_owned(),
                token,
            },
            link_token_keys: key_set(&input.keys),
            identity_provider_name: IDENTITY_PROVIDER_NAME,
            issuer: ISSUER,
            now: input.now,
            seen_jtis: input.seen_jtis,
            expected,
        });
    }

    fn fail(&mut self, name: &str, description: &str, token: String, kind: Kind) {
        let input = self.input();
        self.push(name, description, token, input, Expected::kind(kind));
    }
}

fn ssi_token_file(f: &Fixture) -> SsiTokenFile {
    let mut c = SsiCases {
        fixture: f,
        cases: Vec::new(),
    };
    let link = &f.link;
    valid_ssi_cases(&mut c, f);

    // Step 1.
    c.push(
        "wrong-schema-link-token",
        "A valid token presented with schema LINK-TOKEN-1.0: the schema is checked first, exactly.",
        link.mint("wrong-schema-link-token"),
        SsiInput {
            schema: LINK_TOKEN_SCHEMA,
            ..c.input()
        },
        Expected::kind(Kind::WrongSchema),
    );
    c.push(
        "wrong-schema-lowercase",
        "A valid token presented with schema ssi-token-1.0: the comparison is case-sensitive.",
        link.mint("wrong-schema-lowercase"),
        SsiInput {
            schema: "ssi-token-1.0",
            ..c.input()
        },
        Expected::kind(Kind::WrongSchema),
    );

    malformed_token_cases(&mut c, f);
    malformed_claims_cases(&mut c, f);
    link_token_cases(&mut c, f);

    // Step 6.
    c.fail(
        "bad-signature-other-key",
        "Well-formed token signed with a key other than the link's (the vKey in ltk).",
        sign(
            &link.header(),
            &link.claims("bad-signature-other-key"),
            &DeterministicSigner::new(&f.other_link_key),
        ),
        Kind::BadSignature,
    );
    let altered = link
        .claims("bad-signature-altered-payload")
        .set("dev", json_str(&random_id("another device")));
    let original = link.mint("bad-signature-altered-payload");
    c.fail(
        "bad-signature-altered-payload",
        "The payload was changed (another dev) after signing; header and signature are the originals.",
        replace_part(&original, 1, &b64::encode(altered.render().as_bytes())),
        Kind::BadSignature,
    );
    c.fail(
        "bad-signature-zero",
        "The signature is 64 zero bytes (r = s = 0), which must never verify.",
        sign(
            &link.header(),
            &link.claims("bad-signature-zero"),
            &FixedSignature([0; 64]),
        ),
        Kind::BadSignature,
    );
    let signed_payload_only = {
        let header = link.header().render();
        let claims = link.claims("bad-signature-wrong-input").render();
        let signature = link.signer().sign_es256(claims.as_bytes());
        assemble(header.as_bytes(), claims.as_bytes(), &signature)
    };
    c.fail(
        "bad-signature-wrong-input",
        "Signed with the link's key over the decoded payload JSON instead of the ASCII signing input b64(header).b64(payload).",
        signed_payload_only,
        Kind::BadSignature,
    );

    // Step 7.
    c.fail(
        "subject-mismatch",
        "Validly signed by the link's key, but sub is another platform user than the link token's platformUserId.",
        sign(
            &link.header(),
            &link
                .claims("subject-mismatch")
                .set("sub", json_str(&random_id("another platform user"))),
            &link.signer(),
        ),
        Kind::SubjectMismatch,
    );

    // Step 8.
    c.fail(
        "wrong-audience",
        "aud is another IDP name (other-idp).",
        sign(
            &link.header(),
            &link
                .claims("wrong-audience")
                .set("aud", json_str("other-idp")),
            &link.signer(),
        ),
        Kind::WrongAudience,
    );
    c.fail(
        "wrong-audience-case",
        "aud is Example-IDP: IDP names compare exactly, case included.",
        sign(
            &link.header(),
            &link
                .claims("wrong-audience-case")
                .set("aud", json_str("Example-IDP")),
            &link.signer(),
        ),
        Kind::WrongAudience,
    );
    c.fail(
        "wrong-issuer",
        "iss has a trailing slash (https://ssi.example.com/): issuers compare exactly, no URL normalization.",
        sign(
            &link.header(),
            &link
                .claims("wrong-issuer")
                .set("iss", json_str(&format!("{ISSUER}/"))),
            &link.signer(),
        ),
        Kind::WrongIssuer,
    );

    // Step 9.
    let token = link.mint("issued-in-future");
    c.push(
        "issued-in-future",
        "now is 61 s before iat: one second beyond the allowed clock skew.",
        token,
        SsiInput {
            now: MINTED_AT - CLOCK_SKEW_SECS - 1,
            ..c.input()
        },
        Expected::kind(Kind::IssuedInFuture),
    );
    let token = link.mint("expired");
    c.push(
        "expired",
        "now is exactly exp + 60: the token expired (exp > now - 60 is required).",
        token,
        SsiInput {
            now: MINTED_AT + SSI_TOKEN_LIFETIME_SECS + CLOCK_SKEW_SECS,
            ..c.input()
        },
        Expected::kind(Kind::Expired),
    );
    c.fail(
        "bad-lifetime-too-long",
        "exp - iat is 301 s, more than the 300 s lifetime.",
        sign(
            &link.header(),
            &link
                .claims("bad-lifetime-too-long")
                .set("exp", (MINTED_AT + SSI_TOKEN_LIFETIME_SECS + 1).to_string()),
            &link.signer(),
        ),
        Kind::BadLifetime,
    );
    c.fail(
        "bad-lifetime-zero",
        "exp equals iat: the lifetime must be positive.",
        sign(
            &link.header(),
            &link
                .claims("bad-lifetime-zero")
                .set("exp", MINTED_AT.to_string()),
            &link.signer(),
        ),
        Kind::BadLifetime,
    );

    // Step 10.
    c.push(
        "replayed",
        "A valid token whose jti the replay store already holds (it was accepted before).",
        link.mint("replayed"),
        SsiInput {
            seen_jtis: vec![Link::jti("replayed")],
            ..c.input()
        },
        Expected::kind(Kind::Replayed),
    );

    SsiTokenFile {
        format: "SSI-TOKEN-1.0 verification vectors (spec/README.md, \"Test vectors\"). For each case: \
                 fill a replay store with seen_jtis, then verify ssi_token ({schema, token}) with the \
                 link-token keys link_token_keys (a JWK set), the partner's identity_provider_name and \
                 the expected issuer at time now (Unix seconds). expected is either {valid: true, claims} \
                 or {valid: false, error: <error code>, step: <verification step 1-10>}.",
        generated_by: GENERATED_BY,
        parameters: Parameters {
            lifetime_secs: SSI_TOKEN_LIFETIME_SECS,
            clock_skew_secs: CLOCK_SKEW_SECS,
            replay_margin_secs: REPLAY_MARGIN_SECS,
            max_ssi_token_bytes: MAX_SSI_TOKEN_BYTES,
            max_link_token_bytes: MAX_LINK_TOKEN_BYTES,
            max_sealed_key_bytes: MAX_SEALED_KEY_BYTES,
        },
        cases: c.cases,
    }
}

fn valid_ssi_cases(c: &mut SsiCases<'_>, f: &Fixture) {
    let link = &f.link;
    c.push(
        "valid",
        "A token as the server mints it, verified at the moment it was minted.",
        link.mint("valid"),
        c.input(),
        Expected::claims(link.verified("valid")),
    );
    c.push(
        "valid-ctx-unicode",
        "A link with ctx and a non-ASCII partnerUserId, verified 120 s after minting.",
        f.link_ctx.mint("valid-ctx-unicode"),
        SsiInput {
            now: MINTED_AT + 120,
            ..c.input()
        },
        Expected::claims(f.link_ctx.verified("valid-ctx-unicode")),
    );
    c.push(
        "valid-clock-skew-early",
        "now is 60 s before iat: the partner's clock is behind by exactly the allowed skew.",
        link.mint("valid-clock-skew-early"),
        SsiInput {
            now: MINTED_AT - CLOCK_SKEW_SECS,
            ..c.input()
        },
        Expected::claims(link.verified("valid-clock-skew-early")),
    );
    c.push(
        "valid-clock-skew-late",
        "now is exp + 59 s: the last second at which the token still verifies.",
        link.mint("valid-clock-skew-late"),
        SsiInput {
            now: MINTED_AT + SSI_TOKEN_LIFETIME_SECS + CLOCK_SKEW_SECS - 1,
            ..c.input()
        },
        Expected::claims(link.verified("valid-clock-skew-late")),
    );
    c.push(
        "valid-key-rotation",
        "The partner holds two link-token keys; this link token is under the newer one (chosen by kid).",
        f.link_rotated.mint("valid-key-rotation"),
        SsiInput {
            keys: vec![&f.ltk_key, &f.ltk_key_2],
            ..c.input()
        },
        Expected::claims(f.link_rotated.verified("valid-key-rotation")),
    );
    c.push(
        "valid-other-jti-seen",
        "The replay store holds another token's jti; only the same jti is a replay.",
        link.mint("valid-other-jti-seen"),
        SsiInput {
            seen_jtis: vec![Link::jti("valid")],
            ..c.input()
        },
        Expected::claims(link.verified("valid-other-jti-seen")),
    );
    let case = "valid-member-order";
    let header = Obj::new()
        .str("kid", &link.link_id)
        .str("typ", "ssi+jwt")
        .str("alg", "ES256");
    let mut claims = link.claims(case);
    claims.0.reverse();
    let token = sign_compact(
        format!("{}\n", header.render().replace(',', ", ")).as_bytes(),
        claims.render().replace(",\"", ",\n  \"").as_bytes(),
        &link.signer(),
    );
    c.push(
        case,
        "Header and claims with their members in another order and extra JSON whitespace: members are read by name, not by position or bytes.",
        token,
        c.input(),
        Expected::claims(link.verified(case)),
    );
}

fn malformed_token_cases(c: &mut SsiCases<'_>, f: &Fixture) {
    let link = &f.link;
    let valid = link.mint("malformed-two-parts");
    c.fail(
        "malformed-two-parts",
        "The signature part is missing: a JWS compact token has exactly three dot-separated parts.",
        valid[..valid.rfind('.').expect("three parts")].to_owned(),
        Kind::MalformedToken,
    );
    let none_header = link.header().set("alg", json_str("none"));
    let unsigned = format!(
        "{}.{}.",
        b64::encode(none_header.render().as_bytes()),
        b64::encode(link.claims("malformed-alg-none").render().as_bytes())
    );
    c.fail(
        "malformed-alg-none",
        "alg none with an empty signature (an unsecured JWS).",
        unsigned,
        Kind::MalformedToken,
    );
    let hs_header = link.header().set("alg", json_str("HS256"));
    let hs_input = format!(
        "{}.{}",
        b64::encode(hs_header.render().as_bytes()),
        b64::encode(link.claims("malformed-alg-hs256").render().as_bytes())
    );
    let hmac_key = aws_lc_rs::hmac::Key::new(
        aws_lc_rs::hmac::HMAC_SHA256,
        json_of(&link.v_key()).as_bytes(),
    );
    let hmac = aws_lc_rs::hmac::sign(&hmac_key, hs_input.as_bytes());
    c.fail(
        "malformed-alg-hs256",
        "alg HS256, HMAC-SHA256 keyed with the vKey JSON (the key-confusion attack).",
        format!("{hs_input}.{}", b64::encode(hmac.as_ref())),
        Kind::MalformedToken,
    );
    c.fail(
        "malformed-typ-jwt",
        "typ is JWT instead of ssi+jwt.",
        sign(
            &link.header().set("typ", json_str("JWT")),
            &link.claims("malformed-typ-jwt"),
            &link.signer(),
        ),
        Kind::MalformedToken,
    );
    c.fail(
        "malformed-header-missing-typ",
        "The header has no typ.",
        sign(
            &link.header().remove("typ"),
            &link.claims("malformed-header-missing-typ"),
            &link.signer(),
        ),
        Kind::MalformedToken,
    );
    c.fail(
        "malformed-header-jwk",
        "The header carries an extra jwk member (an embedded key, here the signer's own): only alg, typ and kid are allowed.",
        sign(
            &link
                .header()
                .raw("jwk", json_of(&f.other_link_key.verification_key().to_jwk())),
            &link.claims("malformed-header-jwk"),
            &DeterministicSigner::new(&f.other_link_key),
        ),
        Kind::MalformedToken,
    );
    c.fail(
        "malformed-header-crit",
        "The header carries crit: no extension is understood, so it is refused.",
        sign(
            &link.header().raw("crit", r#"["exp"]"#),
            &link.claims("malformed-header-crit"),
            &link.signer(),
        ),
        Kind::MalformedToken,
    );
    c.fail(
        "malformed-header-duplicate-alg",
        "The header has alg twice (none, then ES256): duplicate member names are refused, never resolved.",
        sign(
            &Obj::new()
                .str("alg", "none")
                .str("typ", "ssi+jwt")
                .str("kid", &link.link_id)
                .str("alg", "ES256"),
            &link.claims("malformed-header-duplicate-alg"),
            &link.signer(),
        ),
        Kind::MalformedToken,
    );
    let valid = link.mint("malformed-signature-padding");
    c.fail(
        "malformed-signature-padding",
        "The signature part ends in == padding: base64url here is without padding.",
        format!("{valid}=="),
        Kind::MalformedToken,
    );
    let valid = link.mint("malformed-signature-standard-alphabet");
    let signature = valid.rsplit('.').next().expect("a signature part");
    let standard = signature.replace('-', "+").replace('_', "/");
    assert_ne!(standard, signature, "the vector's signature has - or _");
    c.fail(
        "malformed-signature-standard-alphabet",
        "The signature is in the standard base64 alphabet (+ and /) instead of base64url (- and _).",
        replace_part(&valid, 2, &standard),
        Kind::MalformedToken,
    );
    let header_b64 = b64::encode(link.header().render().as_bytes());
    let padded_payload = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE
            .encode(link.claims("malformed-payload-padding").render().as_bytes())
    };
    assert!(
        padded_payload.ends_with('='),
        "the vector's payload needs padding"
    );
    let input = format!("{header_b64}.{padded_payload}");
    let signature = link.signer().sign_es256(input.as_bytes());
    c.fail(
        "malformed-payload-padding",
        "The payload part has = padding, validly signed as transmitted: every part is strict base64url without padding (step 2).",
        format!("{input}.{}", b64::encode(&signature)),
        Kind::MalformedToken,
    );
    let valid = link.mint("malformed-signature-trailing-bits");
    let signature = valid.rsplit('.').next().expect("a signature part");
    let last = signature.chars().last().expect("a last character");
    // 64 bytes are 86 characters; the last one carries 2 bits and 4 zero bits.
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let index = alphabet.find(last).expect("base64url");
    let noncanonical = &alphabet[index + 1..index + 2];
    let mut bent = signature[..signature.len() - 1].to_owned();
    bent.push_str(noncanonical);
    c.fail(
        "malformed-signature-trailing-bits",
        "The signature's last character has non-zero unused bits: the same bytes for a lenient decoder, refused by a strict one.",
        replace_part(&valid, 2, &bent),
        Kind::MalformedToken,
    );
    let valid = link.mint("malformed-signature-der");
    c.fail(
        "malformed-signature-der",
        "The signature is ASN.1 DER (as many crypto libraries output it) instead of the 64-byte r||s of JWS.",
        replace_part(
            &valid,
            2,
            &b64::encode(&der_signature(&signature_bytes(&valid))),
        ),
        Kind::MalformedToken,
    );
    // Just over the size limit, with the padding in dev.
    let header_len = b64::encode(link.header().render().as_bytes()).len();
    let oversized_claims = |dev_len: usize| {
        link.claims("malformed-oversized")
            .set("dev", json_str(&"d".repeat(dev_len)))
    };
    let token_len = |dev_len: usize| {
        header_len + 1 + b64::encode(oversized_claims(dev_len).render().as_bytes()).len() + 1 + 86
    };
    // The smallest dev length over the limit (token_len is monotonic).
    let (mut low, mut high) = (0, MAX_SSI_TOKEN_BYTES);
    while low < high {
        let mid = (low + high) / 2;
        if token_len(mid) > MAX_SSI_TOKEN_BYTES {
            high = mid;
        } else {
            low = mid + 1;
        }
    }
    let dev_len = low;
    let oversized = sign(&link.header(), &oversized_claims(dev_len), &link.signer());
    assert_eq!(oversized.len(), token_len(dev_len));
    c.fail(
        "malformed-oversized",
        &format!(
            "The token is {} bytes, over the 16384-byte limit (checked before any decoding).",
            oversized.len()
        ),
        oversized,
        Kind::MalformedToken,
    );
}

fn malformed_claims_cases(c: &mut SsiCases<'_>, f: &Fixture) {
    let link = &f.link;
    let mut claims_case = |name: &str, description: &str, edit: &dyn Fn(Obj) -> Obj| {
        let token = sign(&link.header(), &edit(link.claims(name)), &link.signer());
        c.fail(name, description, token, Kind::MalformedClaims);
    };
    claims_case(
        "claims-iat-string",
        "iat is a string of digits; times are JSON integers.",
        &|claims| claims.set("iat", json_str(&MINTED_AT.to_string())),
    );
    claims_case(
        "claims-exp-float",
        "exp is written as a float (1767225900.0); times are JSON integers.",
        &|claims| claims.set("exp", format!("{}.0", MINTED_AT + SSI_TOKEN_LIFETIME_SECS)),
    );
    claims_case(
        "claims-iat-zero",
        "iat is 0 (and exp 300): times must be positive.",
        &|claims| {
            claims
                .set("iat", "0")
                .set("exp", SSI_TOKEN_LIFETIME_SECS.to_string())
        },
    );
    claims_case(
        "claims-missing-jti",
        "The jti claim is missing.",
        &|claims| claims.remove("jti"),
    );
    claims_case(
        "claims-unknown-member",
        "An extra claim (nonce): the payload has exactly the ten claims of SSI-TOKEN-1.0.",
        &|claims| claims.str("nonce", "n-0S6_WzA2Mj"),
    );
    claims_case(
        "claims-duplicate-sub",
        "sub appears twice (the second one another user): duplicate member names are refused.",
        &|claims| claims.str("sub", &random_id("another platform user")),
    );
    claims_case("claims-wrong-ver", "ver is SSI-TOKEN-2.0.", &|claims| {
        claims.set("ver", json_str("SSI-TOKEN-2.0"))
    });
    claims_case(
        "claims-lid-not-kid",
        "lid differs from the header's kid.",
        &|claims| claims.set("lid", json_str(&random_id("another link id"))),
    );
    claims_case(
        "claims-jti-short",
        "jti is 64 bits (11 characters); it must be exactly 128 bits of base64url (22 characters).",
        &|claims| claims.set("jti", json_str(&Link::jti("short jti")[..11])),
    );
    claims_case(
        "claims-ltk-number",
        "ltk is a number instead of the link token string.",
        &|claims| claims.set("ltk", "42"),
    );
    let header = link.header().render();
    let payload = b"[\"SSI-TOKEN-1.0\"]";
    let input = format!(
        "{}.{}",
        b64::encode(header.as_bytes()),
        b64::encode(payload)
    );
    let signature = link.signer().sign_es256(input.as_bytes());
    c.fail(
        "claims-payload-not-object",
        "The payload is a JSON array, not an object.",
        assemble(header.as_bytes(), payload, &signature),
        Kind::MalformedClaims,
    );
}

fn link_token_cases(c: &mut SsiCases<'_>, f: &Fixture) {
    let link = &f.link;
    let with_ltk = |case: &str, ltk: &str| {
        sign(
            &link.header(),
            &link.claims(case).set("ltk", json_str(ltk)),
            &link.signer(),
        )
    };
    // Step 4.
    let impostor_token = make_link_token(
        &claims_of(link),
        &f.ltk_key_impostor,
        &mut rng("impostor link token"),
    );
    c.fail(
        "link-token-wrong-key",
        "ltk names the partner's kid but was encrypted under another key (e.g. made by someone else).",
        with_ltk("link-token-wrong-key", &impostor_token),
        Kind::LinkTokenUndecryptable,
    );
    c.fail(
        "link-token-unknown-kid",
        "ltk is under a link-token key the partner does not hold (kid not in link_token_keys).",
        with_ltk("link-token-unknown-kid", &f.link_rotated.token),
        Kind::LinkTokenUndecryptable,
    );
    c.fail(
        "link-token-tampered",
        "One character of ltk's ciphertext was changed: the A256GCM tag no longer verifies.",
        with_ltk("link-token-tampered", &tamper_part(&link.token, 3)),
        Kind::LinkTokenUndecryptable,
    );
    c.fail(
        "link-token-not-jwe",
        "ltk is not a compact JWE at all.",
        with_ltk("link-token-not-jwe", "not-a-link-token"),
        Kind::LinkTokenUndecryptable,
    );
    // Step 5.
    let mut invalid = |name: &str, description: &str, payload: Obj| {
        let token = raw_link_token(
            payload.render().as_bytes(),
            &f.ltk_key,
            &format!("{name}/link token"),
        );
        let ssi = with_ltk(name, &token);
        c.fail(name, description, ssi, Kind::LinkTokenInvalid);
    };
    invalid(
        "link-token-wrong-ver",
        "ltk decrypts, but its ver is LINK-TOKEN-2.0.",
        link.link_payload().set("ver", json_str("LINK-TOKEN-2.0")),
    );
    let mut off_curve = link.v_key();
    off_curve.y = bump_coordinate(&off_curve.y);
    invalid(
        "link-token-vkey-off-curve",
        "ltk decrypts, but its vKey (x, y+1) is not a point of P-256.",
        link.link_payload().set("vKey", json_of(&off_curve)),
    );
    invalid(
        "link-token-missing-platform-user",
        "ltk decrypts, but its payload has no platformUserId.",
        link.link_payload().remove("platformUserId"),
    );
    invalid(
        "link-token-ctx-not-strings",
        "ltk decrypts, but a ctx value is a number: ctx maps strings to strings.",
        link.link_payload().raw("ctx", r#"{"seats":4}"#),
    );
}

fn claims_of(link: &Link) -> LinkTokenClaims {
    LinkTokenClaims {
        partner_user_id: link.partner_user_id.clone(),
        platform_user_id: link.platform_user_id.clone(),
        verification_key: link.signing_key.verification_key(),
        issued_at: LINKED_AT,
        ctx: link.ctx.clone(),
    }
}

// ---------------------------------------------------------------------------
// sealed-keys.json

/// The order n of the P-256 group, big-endian (an out-of-range `d`).
const P256_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

#[derive(Serialize)]
struct SealedKeyFile {
    format: &'static str,
    generated_by: &'static str,
    cases: Vec<SealedCase>,
}

#[derive(Serialize)]
struct SealedCase {
    name: String,
    description: String,
    /// The calling app's private keys (current first, then retired ones).
    app_keys: Vec<AppJwk>,
    sealed_key: String,
    expected: Expected<UnsealedKey>,
}

#[derive(Serialize)]
struct UnsealedKey {
    /// The link verification key (public JWK).
    verification_key: EcPublicJwk,
    /// The decrypted link signing key (private JWK).
    signing_key: EcPrivateJwk,
    /// The values on the way, for debugging an implementation.
    intermediate: SealedIntermediate,
}

/// base64url of the ECDH shared secret Z, the Concat KDF output (the AES key
/// wrapping key), the unwrapped CEK; the plaintext as text.
#[derive(Serialize)]
struct SealedIntermediate {
    shared_secret: String,
    kek: String,
    cek: String,
    plaintext: String,
}

/// Opens a sealed key as its recipient does, keeping every intermediate value.
fn sealed_intermediate(sealed: &str, recipient: &AppKeyPair) -> SealedIntermediate {
    let parsed = jwe::CompactJwe::parse(sealed).expect("a compact JWE");
    let header: serde_json::Value =
        serde_json::from_slice(&parsed.protected_header().expect("a header")).expect("JSON");
    let epk = &header["epk"];
    let member = |name: &str| epk[name].as_str().expect("an epk member").to_owned();
    let epk = crate::keys::P256Point::from_jwk_parts(
        &member("kty"),
        &member("crv"),
        &member("x"),
        &member("y"),
    )
    .expect("a valid epk");
    let shared = jwe::ecdh_p256(&recipient.agreement_key(), epk.as_bytes()).expect("ECDH");
    let kek = jwe::concat_kdf(&shared, "ECDH-ES+A256KW", b"", b"");
    let cek = jwe::aes_kw_unwrap(&kek, &parsed.encrypted_key).expect("the CEK unwraps");
    let plaintext = parsed.decrypt_content(cek.as_slice()).expect("decrypts");
    SealedIntermediate {
        shared_secret: b64::encode(&shared),
        kek: b64::encode(kek.as_slice()),
        cek: b64::encode(cek.as_slice()),
        plaintext: String::from_utf8(plaintext.to_vec()).expect("UTF-8"),
    }
}

fn sealed_key_file(f: &Fixture) -> SealedKeyFile {
    let mut cases = Vec::new();
    let app = &f.app_key;
    let app_public = app.public_key();
    let link_key = &f.link.signing_key;
    let link_jwk = link_key.to_jwk();
    let mut push =
        |name: &str, description: &str, app_keys: &[&AppKeyPair], sealed: String, expected| {
            cases.push(SealedCase {
                name: name.to_owned(),
                description: description.to_owned(),
                app_keys: app_keys.iter().map(|key| key.to_private_jwk()).collect(),
                sealed_key: sealed,
                expected,
            });
        };
    let unsealed = |sealed: &str, recipient: &AppKeyPair| {
        Expected::valid(UnsealedKey {
            verification_key: link_key.verification_key().to_jwk(),
            signing_key: link_key.to_jwk(),
            intermediate: sealed_intermediate(sealed, recipient),
        })
    };
    const ENCRYPTION: &str = "INVALID_LINK_SIGNING_KEY_ENCRYPTION";
    const KEY: &str = "INVALID_LINK_SIGNING_KEY";

    let sealed = seal_link_signing_key(link_key, &app_public, &mut rng("sealed valid"));
    push(
        "valid",
        "The link signing key sealed to the app's current key, as the partner library seals it.",
        &[app],
        sealed.clone(),
        unsealed(&sealed, app),
    );
    let retired = &f.app_key_retired;
    let sealed = seal_link_signing_key(
        link_key,
        &retired.public_key(),
        &mut rng("sealed valid retired"),
    );
    push(
        "valid-retired-app-key",
        "Sealed to the app's retired (not yet expired) key; the app's keys are chosen by kid.",
        &[app, retired],
        sealed.clone(),
        unsealed(&sealed, retired),
    );
    push(
        "other-app-key",
        "Sealed to another app's key: its kid is not a key of the calling app.",
        &[app],
        seal_link_signing_key(
            link_key,
            &f.other_app_key.public_key(),
            &mut rng("sealed other app"),
        ),
        Expected::status(ENCRYPTION),
    );
    let plaintext = json_of(&link_jwk);
    push(
        "kid-of-app-encrypted-to-other-key",
        "The header names the app's kid, but the key agreement was made with another app's key: the AES key unwrap fails.",
        &[app],
        raw_sealed_key(
            plaintext.as_bytes(),
            &f.other_app_key.public_key(),
            SealedHeader::Kid(app.kid()),
            "sealed lying kid",
        ),
        Expected::status(ENCRYPTION),
    );
    push(
        "tampered-ciphertext",
        "One character of the ciphertext was changed: the A256GCM tag no longer verifies.",
        &[app],
        tamper_part(
            &seal_link_signing_key(link_key, &app_public, &mut rng("sealed tampered")),
            3,
        ),
        Expected::status(ENCRYPTION),
    );
    push(
        "alg-ecdh-es-direct",
        "The header says alg ECDH-ES (direct key agreement): only ECDH-ES+A256KW is accepted.",
        &[app],
        raw_sealed_key(
            plaintext.as_bytes(),
            &app_public,
            SealedHeader::Alg("ECDH-ES"),
            "sealed alg direct",
        ),
        Expected::status(ENCRYPTION),
    );
    let epk_y = {
        let mut probe = rng("sealed epk off curve");
        let ephemeral = AppKeyPair::generate(&mut probe);
        bump_coordinate(&ephemeral.public_key().to_jwk().y)
    };
    push(
        "epk-off-curve",
        "The epk is not a point of P-256 (y+1): refused before any key agreement (invalid-curve attacks).",
        &[app],
        raw_sealed_key(
            plaintext.as_bytes(),
            &app_public,
            SealedHeader::EpkY(&epk_y),
            "sealed epk off curve",
        ),
        Expected::status(ENCRYPTION),
    );
    push(
        "not-a-jwe",
        "A JWS-shaped string (three parts), not a five-part compact JWE.",
        &[app],
        f.link.mint("sealed not a jwe"),
        Expected::status(ENCRYPTION),
    );
    push(
        "plaintext-not-json",
        "Decrypts, but the plaintext is not JSON.",
        &[app],
        raw_sealed_key(
            b"this is not a key",
            &app_public,
            SealedHeader::AsSealed,
            "sealed plaintext not json",
        ),
        Expected::status(KEY),
    );
    let oct = json_of(&f.ltk_key.to_jwk());
    push(
        "plaintext-oct-jwk",
        "Decrypts, but the plaintext is a symmetric (oct) JWK.",
        &[app],
        raw_sealed_key(
            oct.as_bytes(),
            &app_public,
            SealedHeader::AsSealed,
            "sealed plaintext oct",
        ),
        Expected::status(KEY),
    );
    let public_only = json_of(&link_key.verification_key().to_jwk());
    push(
        "plaintext-public-jwk",
        "Decrypts, but the plaintext is the public JWK (no d).",
        &[app],
        raw_sealed_key(
            public_only.as_bytes(),
            &app_public,
            SealedHeader::AsSealed,
            "sealed plaintext public",
        ),
        Expected::status(KEY),
    );
    let other = f.other_link_key.to_jwk();
    let mismatched = EcPrivateJwk {
        x: other.x,
        y: other.y,
        ..link_jwk.clone()
    };
    push(
        "xy-mismatch",
        "Decrypts to a P-256 private JWK whose x,y (a valid point of another key) are not d·G.",
        &[app],
        raw_sealed_key(
            json_of(&mismatched).as_bytes(),
            &app_public,
            SealedHeader::AsSealed,
            "sealed xy mismatch",
        ),
        Expected::status(KEY),
    );
    let order = EcPrivateJwk {
        d: b64::encode(&P256_ORDER),
        ..link_jwk.clone()
    };
    push(
        "d-out-of-range",
        "Decrypts to a P-256 private JWK whose d is the group order n (d must be in [1, n-1]).",
        &[app],
        raw_sealed_key(
            json_of(&order).as_bytes(),
            &app_public,
            SealedHeader::AsSealed,
            "sealed d out of range",
        ),
        Expected::status(KEY),
    );
    let wrong_curve = EcPrivateJwk {
        crv: "secp256k1".to_owned(),
        ..link_jwk
    };
    push(
        "wrong-curve",
        "Decrypts to an EC private JWK on crv secp256k1: only P-256 is accepted.",
        &[app],
        raw_sealed_key(
            json_of(&wrong_curve).as_bytes(),
            &app_public,
            SealedHeader::AsSealed,
            "sealed wrong curve",
        ),
        Expected::status(KEY),
    );
    SealedKeyFile {
        format: "Sealed link signing key vectors (spec/README.md, \"Test vectors\"). For each case: \
                 unseal sealed_key with the calling app's private keys app_keys (JWKs, chosen by kid). \
                 expected is either {valid: true, verification_key, signing_key, intermediate} or \
                 {valid: false, error: INVALID_LINK_SIGNING_KEY_ENCRYPTION | INVALID_LINK_SIGNING_KEY}; \
                 intermediate holds the ECDH shared secret, the KDF output, the CEK and the plaintext.",
        generated_by: GENERATED_BY,
        cases,
    }
}

// ---------------------------------------------------------------------------
// link-tokens.json

#[derive(Serialize)]
struct LinkTokenFile {
    format: &'static str,
    generated_by: &'static str,
    cases: Vec<LinkTokenCase>,
}

#[derive(Serialize)]
struct LinkTokenCase {
    name: String,
    description: String,
    link_token: TokenJson,
    link_token_keys: JwkSet,
    expected: Expected<LinkRead>,
}

#[derive(Serialize)]
struct LinkRead {
    claims: LinkClaims,
    /// The values on the way, for debugging an implementation.
    intermediate: LinkIntermediate,
}

/// base64url of the CEK unwrapped with A256GCMKW; the plaintext as text.
#[derive(Serialize)]
struct LinkIntermediate {
    cek: String,
    plaintext: String,
}

/// Opens a link token as the partner does, keeping the intermediate values.
fn link_read(link: &Link, key: &LinkTokenKey) -> Expected<LinkRead> {
    let parsed = jwe::CompactJwe::parse(&link.token).expect("a compact JWE");
    let header: serde_json::Value =
        serde_json::from_slice(&parsed.protected_header().expect("a header")).expect("JSON");
    let member = |name: &str| header[name].as_str().expect("a header member").to_owned();
    let iv: [u8; 12] = b64::decode_array(&member("iv")).expect("a 96-bit iv");
    let tag: [u8; jwe::TAG_LEN] = b64::decode_array(&member("tag")).expect("a 128-bit tag");
    let cek = jwe::aes_gcm_open(key.bytes(), &iv, b"", &parsed.encrypted_key, &tag)
        .expect("the CEK unwraps");
    let plaintext = parsed.decrypt_content(&cek).expect("decrypts");
    Expected::valid(LinkRead {
        claims: link.link_token_claims(),
        intermediate: LinkIntermediate {
            cek: b64::encode(&cek),
            plaintext: String::from_utf8(plaintext.to_vec()).expect("UTF-8"),
        },
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LinkClaims {
    partner_user_id: String,
    platform_user_id: String,
    #[serde(rename = "vKey")]
    v_key: EcPublicJwk,
    iat: i64,
    ctx: BTreeMap<String, String>,
}

fn link_token_file(f: &Fixture) -> LinkTokenFile {
    let mut cases = Vec::new();
    let mut push =
        |name: &str, description: &str, token: &str, keys: &[&LinkTokenKey], expected| {
            cases.push(LinkTokenCase {
                name: name.to_owned(),
                description: description.to_owned(),
                link_token: TokenJson {
                    schema: LINK_TOKEN_SCHEMA.to_owned(),
                    token: token.to_owned(),
                },
                link_token_keys: key_set(keys),
                expected,
            });
        };
    push(
        "valid",
        "The link token of the ssi-tokens.json cases (no ctx).",
        &f.link.token,
        &[&f.ltk_key],
        link_read(&f.link, &f.ltk_key),
    );
    push(
        "valid-ctx-unicode",
        "A link token with ctx and a non-ASCII partnerUserId.",
        &f.link_ctx.token,
        &[&f.ltk_key],
        link_read(&f.link_ctx, &f.ltk_key),
    );
    push(
        "valid-key-rotation",
        "Two link-token keys; this token is under the newer one (chosen by kid).",
        &f.link_rotated.token,
        &[&f.ltk_key, &f.ltk_key_2],
        link_read(&f.link_rotated, &f.ltk_key_2),
    );
    let impostor = make_link_token(
        &claims_of(&f.link),
        &f.ltk_key_impostor,
        &mut rng("impostor link token"),
    );
    push(
        "wrong-key",
        "Names the partner's kid but was encrypted under another key.",
        &impostor,
        &[&f.ltk_key],
        Expected::kind(Kind::LinkTokenUndecryptable),
    );
    push(
        "unknown-kid",
        "Under a key the partner does not hold.",
        &f.link_rotated.token,
        &[&f.ltk_key],
        Expected::kind(Kind::LinkTokenUndecryptable),
    );
    push(
        "header-reencoded",
        "The protected header was re-encoded with one extra space: it still parses, but the A256GCM AAD is the header as received, so decryption fails.",
        &reencode_header(&f.link.token),
        &[&f.ltk_key],
        Expected::kind(Kind::LinkTokenUndecryptable),
    );
    let wrong_ver = raw_link_token(
        f.link
            .link_payload()
            .set("ver", json_str("LINK-TOKEN-2.0"))
            .render()
            .as_bytes(),
        &f.ltk_key,
        "link-token-wrong-ver/link token",
    );
    push(
        "wrong-ver",
        "Decrypts, but ver is LINK-TOKEN-2.0.",
        &wrong_ver,
        &[&f.ltk_key],
        Expected::kind(Kind::LinkTokenInvalid),
    );
    let mut off_curve = f.link.v_key();
    off_curve.y = bump_coordinate(&off_curve.y);
    let off_curve = raw_link_token(
        f.link
            .link_payload()
            .set("vKey", json_of(&off_curve))
            .render()
            .as_bytes(),
        &f.ltk_key,
        "link-token-vkey-off-curve/link token",
    );
    push(
        "vkey-off-curve",
        "Decrypts, but vKey is not a point of P-256.",
        &off_curve,
        &[&f.ltk_key],
        Expected::kind(Kind::LinkTokenInvalid),
    );
    LinkTokenFile {
        format: "LINK-TOKEN-1.0 vectors (spec/README.md, \"Test vectors\"). For each case: read link_token \
                 with the partner's link-token keys link_token_keys (a JWK set). expected is either \
                 {valid: true, claims: {partnerUserId, platformUserId, vKey, iat, ctx}, intermediate: \
                 {cek, plaintext}} or {valid: false, \
                 error: LINK_TOKEN_UNDECRYPTABLE | LINK_TOKEN_INVALID, step: 4 | 5} (the codes and steps of \
                 SSI token verification).",
        generated_by: GENERATED_BY,
        cases,
    }
}

/// Re-encodes the protected header with one extra space after its first
/// member, so that it still parses but no longer matches the AAD.
fn reencode_header(token: &str) -> String {
    let header_b64 = token.split('.').next().expect("a header part");
    let header = b64::decode(header_b64).expect("a base64url header");
    let header = String::from_utf8(header).expect("a UTF-8 header");
    let bent = header.replacen(',', ", ", 1);
    replace_part(token, 0, &b64::encode(bent.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-assembled tokens use exactly the bytes the minting code writes.
    #[test]
    fn assembled_tokens_match_minted_ones() {
        let fixture = Fixture::new();
        let link = &fixture.link;
        assert_eq!(
            sign(&link.header(), &link.claims("probe"), &link.signer()),
            link.mint("probe")
        );
        let token = raw_link_token(
            link.link_payload().render().as_bytes(),
            &fixture.ltk_key,
            "link 1/link token",
        );
        assert_eq!(token, link.token);
    }

    #[test]
    fn generate_is_deterministic() {
        assert_eq!(generate(), generate());
    }
}
