//! Keys of the token mechanism (DESIGN.md section 5, "Keys") and their JWK forms.
//!
//! Private key types implement neither `PartialEq` nor a revealing `Debug`:
//! key material must never reach a log line or an error message.

use std::fmt;

use aws_lc_rs::agreement;
use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, EcdsaKeyPair, ParsedPublicKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::b64;
use crate::error::KeyError;
use crate::rng::Random;

/// Order n of the P-256 group, big-endian.
const P256_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

pub(crate) const KTY_EC: &str = "EC";
pub(crate) const CRV_P256: &str = "P-256";
pub(crate) const APP_KEY_USE: &str = "enc";
pub(crate) const APP_KEY_ALG: &str = "ECDH-ES+A256KW";
pub(crate) const LINK_TOKEN_KEY_ALG: &str = "A256GCMKW";

/// A public P-256 JWK: `{kty:"EC", crv:"P-256", x, y}`, exactly these members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EcPublicJwk {
    pub kty: String,
    pub crv: String,
    pub x: String,
    pub y: String,
}

/// A private P-256 JWK: `{kty:"EC", crv:"P-256", x, y, d}`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EcPrivateJwk {
    pub kty: String,
    pub crv: String,
    pub x: String,
    pub y: String,
    pub d: String,
}

impl fmt::Debug for EcPrivateJwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EcPrivateJwk")
            .field("x", &self.x)
            .field("y", &self.y)
            .finish_non_exhaustive()
    }
}

/// An app key JWK as published (`kid`, `use:"enc"`, `alg:"ECDH-ES+A256KW"`);
/// with `d` when it is the private half kept by the server.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppJwk {
    pub kty: String,
    pub crv: String,
    pub x: String,
    pub y: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d: Option<String>,
    pub kid: String,
    #[serde(rename = "use")]
    pub use_: String,
    pub alg: String,
}

impl fmt::Debug for AppJwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppJwk")
            .field("kid", &self.kid)
            .field("x", &self.x)
            .field("y", &self.y)
            .finish_non_exhaustive()
    }
}

/// The partner's link-token key as a JWK: `{kty:"oct", kid, alg:"A256GCMKW", k}`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OctJwk {
    pub kty: String,
    pub kid: String,
    pub alg: String,
    pub k: String,
}

impl fmt::Debug for OctJwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OctJwk")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// A validated P-256 public point, kept in uncompressed SEC1 form (0x04 ‖ x ‖ y).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct P256Point([u8; 65]);

impl P256Point {
    pub(crate) fn from_xy(x: &[u8; 32], y: &[u8; 32]) -> Self {
        let mut point = [0u8; 65];
        point[0] = 0x04;
        point[1..33].copy_from_slice(x);
        point[33..].copy_from_slice(y);
        Self(point)
    }

    pub(crate) fn from_sec1(bytes: &[u8]) -> Option<Self> {
        let point: [u8; 65] = bytes.try_into().ok()?;
        (point[0] == 0x04).then_some(Self(point))
    }

    /// Parses the JWK members and checks the point is on the curve (and not
    /// the identity), which defeats invalid-curve attacks before any use.
    pub(crate) fn from_jwk_parts(kty: &str, crv: &str, x: &str, y: &str) -> Result<Self, KeyError> {
        Ok(Self::from_jwk_parts_parsed(kty, crv, x, y)?.0)
    }

    /// As [`Self::from_jwk_parts`], also returning the parsed key so that a
    /// verifier does not parse the point twice.
    pub(crate) fn from_jwk_parts_parsed(
        kty: &str,
        crv: &str,
        x: &str,
        y: &str,
    ) -> Result<(Self, ParsedPublicKey), KeyError> {
        if kty != KTY_EC {
            return Err(KeyError::WrongKeyType);
        }
        if crv != CRV_P256 {
            return Err(KeyError::WrongCurve);
        }
        let x = b64::decode_array::<32>(x).ok_or(KeyError::BadCoordinate("x"))?;
        let y = b64::decode_array::<32>(y).ok_or(KeyError::BadCoordinate("y"))?;
        let point = Self::from_xy(&x, &y);
        let parsed = point.parse()?;
        Ok((point, parsed))
    }

    fn parse(&self) -> Result<ParsedPublicKey, KeyError> {
        ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, self.0)
            .map_err(|_| KeyError::NotOnCurve)
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 65] {
        &self.0
    }

    pub(crate) fn x_b64(&self) -> String {
        b64::encode(&self.0[1..33])
    }

    pub(crate) fn y_b64(&self) -> String {
        b64::encode(&self.0[33..])
    }

    pub(crate) fn to_jwk(&self) -> EcPublicJwk {
        EcPublicJwk {
            kty: KTY_EC.to_owned(),
            crv: CRV_P256.to_owned(),
            x: self.x_b64(),
            y: self.y_b64(),
        }
    }

    /// RFC 7638 thumbprint: SHA-256 over `{"crv","kty","x","y"}` in that order.
    pub(crate) fn thumbprint(&self) -> String {
        let canonical = format!(
            r#"{{"crv":"{CRV_P256}","kty":"{KTY_EC}","x":"{}","y":"{}"}}"#,
            self.x_b64(),
            self.y_b64()
        );
        b64::encode(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
    }
}

/// Draws a private scalar in [1, n-1] from the injected randomness.
fn random_scalar(rng: &mut dyn Random) -> Zeroizing<[u8; 32]> {
    loop {
        let mut d = Zeroizing::new([0u8; 32]);
        rng.fill(d.as_mut());
        if is_valid_scalar(&d) {
            return d;
        }
    }
}

fn is_valid_scalar(d: &[u8; 32]) -> bool {
    d.iter().any(|&b| b != 0) && d.as_slice() < P256_ORDER.as_slice()
}

/// The public point d·G of a private scalar.
fn public_point_of(d: &[u8; 32]) -> Result<P256Point, KeyError> {
    let private = agreement::PrivateKey::from_private_key(&agreement::ECDH_P256, d)
        .map_err(|_| KeyError::BadPrivateScalar)?;
    let public = private
        .compute_public_key()
        .map_err(|_| KeyError::BadPrivateScalar)?;
    P256Point::from_sec1(public.as_ref()).ok_or(KeyError::BadPrivateScalar)
}

fn decode_scalar(d: &str) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let d = Zeroizing::new(b64::decode_array::<32>(d).ok_or(KeyError::BadPrivateScalar)?);
    if !is_valid_scalar(&d) {
        return Err(KeyError::BadPrivateScalar);
    }
    Ok(d)
}

/// The link signing key: the private half of a link key pair (ES256).
pub struct LinkSigningKey {
    d: Zeroizing<[u8; 32]>,
    public: P256Point,
    key_pair: EcdsaKeyPair,
}

impl fmt::Debug for LinkSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkSigningKey")
            .field("x", &self.public.x_b64())
            .finish_non_exhaustive()
    }
}

impl LinkSigningKey {
    /// A new link key pair, as the partner backend makes one per link.
    pub fn generate(rng: &mut dyn Random) -> Self {
        let d = random_scalar(rng);
        let public = public_point_of(&d).expect("a scalar in [1, n-1] has a public point");
        Self::from_parts(d, public).expect("a freshly derived key pair is consistent")
    }

    fn from_parts(d: Zeroizing<[u8; 32]>, public: P256Point) -> Result<Self, KeyError> {
        // aws-lc derives d·G and compares it with the given point: this is the
        // "x,y do not match d" check.
        let key_pair = EcdsaKeyPair::from_private_key_and_public_key(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            d.as_slice(),
            public.as_bytes(),
        )
        .map_err(|_| KeyError::PublicKeyMismatch)?;
        Ok(Self {
            d,
            public,
            key_pair,
        })
    }

    /// Reads a private JWK, checking the curve, the scalar range, that the
    /// point is on the curve and that `x,y` equal `d·G`.
    pub fn from_jwk(jwk: &EcPrivateJwk) -> Result<Self, KeyError> {
        let public = P256Point::from_jwk_parts(&jwk.kty, &jwk.crv, &jwk.x, &jwk.y)?;
        let d = decode_scalar(&jwk.d)?;
        Self::from_parts(d, public)
    }

    pub fn from_jwk_json(json: &str) -> Result<Self, KeyError> {
        let jwk: EcPrivateJwk =
            crate::json::from_object_str(json).map_err(|_| KeyError::NotAJwk)?;
        Self::from_jwk(&jwk)
    }

    pub fn to_jwk(&self) -> EcPrivateJwk {
        EcPrivateJwk {
            kty: KTY_EC.to_owned(),
            crv: CRV_P256.to_owned(),
            x: self.public.x_b64(),
            y: self.public.y_b64(),
            d: b64::encode(self.d.as_slice()),
        }
    }

    /// The public half, the link verification key (`vKey`).
    pub fn verification_key(&self) -> LinkVerificationKey {
        LinkVerificationKey::from_point(self.public.clone())
            .expect("the public point of a validated key pair parses")
    }

    /// The raw private scalar, for callers that store it encrypted at rest.
    pub fn private_scalar(&self) -> &[u8; 32] {
        &self.d
    }

    /// The public point in uncompressed SEC1 form (0x04 ‖ x ‖ y).
    pub fn public_sec1(&self) -> &[u8; 65] {
        self.public.as_bytes()
    }

    /// Rebuilds a key from its stored scalar and public point, checking that
    /// they belong together.
    pub fn from_raw(d: &[u8; 32], public_sec1: &[u8]) -> Result<Self, KeyError> {
        let public = P256Point::from_sec1(public_sec1).ok_or(KeyError::NotOnCurve)?;
        if !is_valid_scalar(d) {
            return Err(KeyError::BadPrivateScalar);
        }
        Self::from_parts(Zeroizing::new(*d), public)
    }

    pub(crate) fn sign_fixed(&self, message: &[u8]) -> [u8; 64] {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let signature = self
            .key_pair
            .sign(&rng, message)
            .expect("ES256 signing with a validated key cannot fail");
        signature
            .as_ref()
            .try_into()
            .expect("a fixed P-256 signature is 64 bytes")
    }
}

/// The link verification key (`vKey`): the public half of a link key pair.
#[derive(Clone)]
pub struct LinkVerificationKey {
    pub(crate) point: P256Point,
    parsed: ParsedPublicKey,
}

impl PartialEq for LinkVerificationKey {
    fn eq(&self, other: &Self) -> bool {
        self.point == other.point
    }
}

impl Eq for LinkVerificationKey {}

impl fmt::Debug for LinkVerificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkVerificationKey")
            .field("x", &self.point.x_b64())
            .field("y", &self.point.y_b64())
            .finish()
    }
}

impl LinkVerificationKey {
    pub(crate) fn from_point(point: P256Point) -> Result<Self, KeyError> {
        let parsed = point.parse()?;
        Ok(Self { point, parsed })
    }

    pub fn from_jwk(jwk: &EcPublicJwk) -> Result<Self, KeyError> {
        let (point, parsed) = P256Point::from_jwk_parts_parsed(&jwk.kty, &jwk.crv, &jwk.x, &jwk.y)?;
        Ok(Self { point, parsed })
    }

    pub fn to_jwk(&self) -> EcPublicJwk {
        self.point.to_jwk()
    }

    /// Reads an uncompressed SEC1 point (0x04 ‖ x ‖ y), checking it is on the curve.
    pub fn from_sec1(bytes: &[u8]) -> Result<Self, KeyError> {
        Self::from_point(P256Point::from_sec1(bytes).ok_or(KeyError::NotOnCurve)?)
    }

    /// ES256 verification of a 64-byte r‖s signature (the JWS form); any
    /// other length, r or s out of range, or a wrong signature is `false`.
    pub fn verify_es256(&self, message: &[u8], signature: &[u8]) -> bool {
        signature.len() == 64 && self.parsed.verify_sig(message, signature).is_ok()
    }
}

/// An app key pair (P-256, ECDH-ES+A256KW recipient), made by the server per
/// app. Its public JWK is what partner backends seal link signing keys to.
pub struct AppKeyPair {
    kid: String,
    d: Zeroizing<[u8; 32]>,
    public: P256Point,
}

impl fmt::Debug for AppKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppKeyPair")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl AppKeyPair {
    /// A new app key pair; its `kid` is the RFC 7638 thumbprint of the public key.
    pub fn generate(rng: &mut dyn Random) -> Self {
        let d = random_scalar(rng);
        let public = public_point_of(&d).expect("a scalar in [1, n-1] has a public point");
        Self {
            kid: public.thumbprint(),
            d,
            public,
        }
    }

    /// An app key pair from a stored private scalar; `kid` is recomputed.
    pub fn from_private_scalar(d: &[u8; 32]) -> Result<Self, KeyError> {
        if !is_valid_scalar(d) {
            return Err(KeyError::BadPrivateScalar);
        }
        let public = public_point_of(d)?;
        Ok(Self {
            kid: public.thumbprint(),
            d: Zeroizing::new(*d),
            public,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Raw ECDH on P-256 with a peer's uncompressed point: the shared x
    /// coordinate, or `None` for a point off the curve or the identity.
    /// Public for known-answer tests (Wycheproof); JWE uses it internally.
    pub fn ecdh_shared_secret(&self, peer_sec1: &[u8]) -> Option<Vec<u8>> {
        crate::jwe::ecdh_p256(&self.agreement_key(), peer_sec1).map(|z| z.to_vec())
    }

    pub fn public_key(&self) -> AppPublicKey {
        AppPublicKey {
            kid: self.kid.clone(),
            point: self.public.clone(),
        }
    }

    pub fn to_private_jwk(&self) -> AppJwk {
        let mut jwk = self.public_key().to_jwk();
        jwk.d = Some(b64::encode(self.d.as_slice()));
        jwk
    }

    /// Reads the private app JWK, checking that `x,y` equal `d·G`.
    pub fn from_private_jwk(jwk: &AppJwk) -> Result<Self, KeyError> {
        let public = AppPublicKey::from_jwk(jwk)?;
        let d = decode_scalar(jwk.d.as_deref().ok_or(KeyError::MissingPrivateScalar)?)?;
        if public_point_of(&d)? != public.point {
            return Err(KeyError::PublicKeyMismatch);
        }
        Ok(Self {
            kid: public.kid,
            d,
            public: public.point,
        })
    }

    pub fn from_private_jwk_json(json: &str) -> Result<Self, KeyError> {
        let jwk: AppJwk = crate::json::from_object_str(json).map_err(|_| KeyError::NotAJwk)?;
        Self::from_private_jwk(&jwk)
    }

    pub(crate) fn agreement_key(&self) -> agreement::PrivateKey {
        agreement::PrivateKey::from_private_key(&agreement::ECDH_P256, self.d.as_slice())
            .expect("a validated scalar is a valid ECDH key")
    }
}

/// The public JWK of an app key pair, as published by the server.
#[derive(Clone, PartialEq, Eq)]
pub struct AppPublicKey {
    kid: String,
    pub(crate) point: P256Point,
}

impl fmt::Debug for AppPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppPublicKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl AppPublicKey {
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn to_jwk(&self) -> AppJwk {
        AppJwk {
            kty: KTY_EC.to_owned(),
            crv: CRV_P256.to_owned(),
            x: self.point.x_b64(),
            y: self.point.y_b64(),
            d: None,
            kid: self.kid.clone(),
            use_: APP_KEY_USE.to_owned(),
            alg: APP_KEY_ALG.to_owned(),
        }
    }

    /// Reads a published app JWK (a `d` member, if present, is ignored here).
    pub fn from_jwk(jwk: &AppJwk) -> Result<Self, KeyError> {
        if jwk.use_ != APP_KEY_USE || jwk.alg != APP_KEY_ALG {
            return Err(KeyError::WrongKeyUse);
        }
        if jwk.kid.is_empty() || jwk.kid.len() > 128 {
            return Err(KeyError::BadKid);
        }
        Ok(Self {
            kid: jwk.kid.clone(),
            point: P256Point::from_jwk_parts(&jwk.kty, &jwk.crv, &jwk.x, &jwk.y)?,
        })
    }

    pub fn from_jwk_json(json: &str) -> Result<Self, KeyError> {
        let jwk: AppJwk = crate::json::from_object_str(json).map_err(|_| KeyError::NotAJwk)?;
        Self::from_jwk(&jwk)
    }
}

/// The partner's link-token key: 32 bytes for A256GCMKW, with a `kid`.
/// It never leaves the partner backend.
pub struct LinkTokenKey {
    kid: String,
    key: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for LinkTokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkTokenKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl LinkTokenKey {
    /// A new key with a random 96-bit `kid` (not derived from the key, so the
    /// `kid` reveals nothing about it).
    pub fn generate(rng: &mut dyn Random) -> Self {
        let mut kid = [0u8; 12];
        rng.fill(&mut kid);
        let mut key = Zeroizing::new([0u8; 32]);
        rng.fill(key.as_mut());
        Self {
            kid: b64::encode(&kid),
            key,
        }
    }

    pub fn new(kid: &str, key: [u8; 32]) -> Result<Self, KeyError> {
        if kid.is_empty() || kid.len() > 128 {
            return Err(KeyError::BadKid);
        }
        Ok(Self {
            kid: kid.to_owned(),
            key: Zeroizing::new(key),
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.key
    }

    pub fn to_jwk(&self) -> OctJwk {
        OctJwk {
            kty: "oct".to_owned(),
            kid: self.kid.clone(),
            alg: LINK_TOKEN_KEY_ALG.to_owned(),
            k: b64::encode(self.key.as_slice()),
        }
    }

    pub fn from_jwk(jwk: &OctJwk) -> Result<Self, KeyError> {
        if jwk.kty != "oct" {
            return Err(KeyError::WrongKeyType);
        }
        if jwk.alg != LINK_TOKEN_KEY_ALG {
            return Err(KeyError::WrongKeyUse);
        }
        let key = b64::decode_array::<32>(&jwk.k).ok_or(KeyError::BadSymmetricKey)?;
        Self::new(&jwk.kid, key)
    }

    pub fn from_jwk_json(json: &str) -> Result<Self, KeyError> {
        let jwk: OctJwk = crate::json::from_object_str(json).map_err(|_| KeyError::NotAJwk)?;
        Self::from_jwk(&jwk)
    }
}

/// The partner's link-token keys, looked up by `kid` (old keys stay here so
/// that links made before a rotation keep verifying).
#[derive(Debug, Default)]
pub struct LinkTokenKeys {
    keys: Vec<LinkTokenKey>,
}

impl LinkTokenKeys {
    pub fn new(keys: Vec<LinkTokenKey>) -> Self {
        Self { keys }
    }

    pub fn single(key: LinkTokenKey) -> Self {
        Self { keys: vec![key] }
    }

    pub fn find(&self, kid: &str) -> Option<&LinkTokenKey> {
        self.keys.iter().find(|key| key.kid == kid)
    }

    /// Reads either one JWK or a JWK set `{"keys":[...]}`.
    pub fn from_json(json: &str) -> Result<Self, KeyError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct JwkSet {
            keys: Vec<crate::json::Object<OctJwk>>,
        }
        if let Ok(set) = crate::json::from_object_str::<JwkSet>(json) {
            let keys = set
                .keys
                .iter()
                .map(|jwk| LinkTokenKey::from_jwk(&jwk.0))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(Self::new(keys));
        }
        Ok(Self::single(LinkTokenKey::from_jwk_json(json)?))
    }
}
