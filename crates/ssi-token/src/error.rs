//! Error types of the partner library, one enum per operation. Messages never
//! contain key material or token contents.

use thiserror::Error;

/// Why a key or JWK was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum KeyError {
    #[error("not a JWK of the expected shape")]
    NotAJwk,
    #[error("wrong key type (kty)")]
    WrongKeyType,
    #[error("wrong curve: only P-256 is accepted")]
    WrongCurve,
    #[error("coordinate {0} is not 32 bytes of base64url")]
    BadCoordinate(&'static str),
    #[error("the point is not on the P-256 curve")]
    NotOnCurve,
    #[error("the private scalar d is not 32 bytes in [1, n-1]")]
    BadPrivateScalar,
    #[error("the private scalar d is missing")]
    MissingPrivateScalar,
    #[error("x,y do not match d")]
    PublicKeyMismatch,
    #[error("wrong key use or algorithm")]
    WrongKeyUse,
    #[error("kid must be 1-128 bytes")]
    BadKid,
    #[error("the symmetric key is not 32 bytes of base64url")]
    BadSymmetricKey,
}

/// Why a sealed link signing key was refused (DESIGN.md section 5). The two
/// variants map to the seed's two request statuses; which JWE check failed
/// stays internal so that the sealed key cannot be used as an oracle.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UnsealError {
    /// Maps to `INVALID_LINK_SIGNING_KEY_ENCRYPTION`.
    #[error(
        "INVALID_LINK_SIGNING_KEY_ENCRYPTION: the link signing key cannot be decrypted with this app's keys"
    )]
    InvalidEncryption { detail: &'static str },
    /// Maps to `INVALID_LINK_SIGNING_KEY`.
    #[error(
        "INVALID_LINK_SIGNING_KEY: the decrypted link signing key is not a valid P-256 private JWK ({0})"
    )]
    InvalidKey(KeyError),
}

impl UnsealError {
    /// The seed's `RequestStatus` spelling for this error.
    pub fn request_status(&self) -> &'static str {
        match self {
            Self::InvalidEncryption { .. } => "INVALID_LINK_SIGNING_KEY_ENCRYPTION",
            Self::InvalidKey(_) => "INVALID_LINK_SIGNING_KEY",
        }
    }

    /// The internal reason, for the server's log only.
    pub fn detail(&self) -> String {
        match self {
            Self::InvalidEncryption { detail } => (*detail).to_owned(),
            Self::InvalidKey(key_error) => key_error.to_string(),
        }
    }
}

/// Why a link token could not be read by the partner.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LinkTokenError {
    /// No key with this `kid`, a malformed JWE, or a failed decryption. One
    /// variant for all of them: no decryption oracle.
    #[error("the link token cannot be decrypted with the link-token keys")]
    Undecryptable { detail: &'static str },
    /// It decrypted but its payload is not a LINK-TOKEN-1.0 payload.
    #[error("the link token payload is invalid: {detail}")]
    InvalidPayload { detail: String },
}

/// The kinds of SSI token verification failure, one or more per step of
/// DESIGN.md section 5 ("Verification by the partner").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VerifyErrorKind {
    /// Step 1: `schema` is not `SSI-TOKEN-1.0`.
    WrongSchema,
    /// Step 2: size, segments, base64url or the header.
    MalformedToken,
    /// Step 3: the payload's claims (presence, types, `ver`, `lid` = `kid`).
    MalformedClaims,
    /// Step 4: `ltk` does not decrypt with the partner's link-token keys.
    LinkTokenUndecryptable,
    /// Step 5: the link token payload or its `vKey` is invalid.
    LinkTokenInvalid,
    /// Step 6: the ES256 signature does not verify with `vKey`.
    BadSignature,
    /// Step 7: `sub` is not the link token's `platformUserId`.
    SubjectMismatch,
    /// Step 8: `aud` is not the partner's IDP name.
    WrongAudience,
    /// Step 8: `iss` is not the expected issuer.
    WrongIssuer,
    /// Step 9: `iat` is more than the allowed skew in the future.
    IssuedInFuture,
    /// Step 9: `exp` is more than the allowed skew in the past.
    Expired,
    /// Step 9: `exp - iat` is not in (0, 300].
    BadLifetime,
    /// Step 10: the `jti` was seen before.
    Replayed,
}

impl VerifyErrorKind {
    pub const ALL: [Self; 13] = [
        Self::WrongSchema,
        Self::MalformedToken,
        Self::MalformedClaims,
        Self::LinkTokenUndecryptable,
        Self::LinkTokenInvalid,
        Self::BadSignature,
        Self::SubjectMismatch,
        Self::WrongAudience,
        Self::WrongIssuer,
        Self::IssuedInFuture,
        Self::Expired,
        Self::BadLifetime,
        Self::Replayed,
    ];

    /// The stable code used by the CLI, the test vectors and other languages.
    pub fn code(self) -> &'static str {
        match self {
            Self::WrongSchema => "WRONG_SCHEMA",
            Self::MalformedToken => "MALFORMED_TOKEN",
            Self::MalformedClaims => "MALFORMED_CLAIMS",
            Self::LinkTokenUndecryptable => "LINK_TOKEN_UNDECRYPTABLE",
            Self::LinkTokenInvalid => "LINK_TOKEN_INVALID",
            Self::BadSignature => "BAD_SIGNATURE",
            Self::SubjectMismatch => "SUBJECT_MISMATCH",
            Self::WrongAudience => "WRONG_AUDIENCE",
            Self::WrongIssuer => "WRONG_ISSUER",
            Self::IssuedInFuture => "ISSUED_IN_FUTURE",
            Self::Expired => "EXPIRED",
            Self::BadLifetime => "BAD_LIFETIME",
            Self::Replayed => "REPLAYED",
        }
    }

    /// The verification step (1-10) this kind belongs to.
    pub fn step(self) -> u8 {
        match self {
            Self::WrongSchema => 1,
            Self::MalformedToken => 2,
            Self::MalformedClaims => 3,
            Self::LinkTokenUndecryptable => 4,
            Self::LinkTokenInvalid => 5,
            Self::BadSignature => 6,
            Self::SubjectMismatch => 7,
            Self::WrongAudience | Self::WrongIssuer => 8,
            Self::IssuedInFuture | Self::Expired | Self::BadLifetime => 9,
            Self::Replayed => 10,
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.code() == code)
    }
}

impl std::fmt::Display for VerifyErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// A failed SSI token verification: the kind, and an internal detail for the
/// partner's logs (never token or key material).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{kind} (step {step}): {detail}", step = kind.step())]
pub struct VerifyError {
    pub kind: VerifyErrorKind,
    pub detail: String,
}

impl VerifyError {
    pub(crate) fn new(kind: VerifyErrorKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }
}
