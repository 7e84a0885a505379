//! `ssi-token`: the Simple Sign-In partner library (DESIGN.md section 5).
//!
//! - keys: link key pairs, link-token keys, app key pairs, as JWKs;
//! - link tokens (`LINK-TOKEN-1.0` reference format): [`make_link_token`],
//!   [`read_link_token`];
//! - the sealed link signing key: [`seal_link_signing_key`] (partner) and
//!   [`unseal_link_signing_key`] (server);
//! - SSI tokens: [`mint_ssi_token`] (server, and partners' own tests) and
//!   [`verify_ssi_token`] (partner), with a pluggable [`ReplayStore`].
//!
//! Time (`now`, Unix seconds) and randomness ([`Random`]) are parameters;
//! nothing here reads the clock or does I/O. See `spec/README.md` for the
//! formats, written so that other languages can implement them.
#![forbid(unsafe_code)]

mod b64;
#[cfg(feature = "deterministic")]
mod deterministic;
mod error;
mod json;
mod jwe;
mod keys;
mod link_token;
mod replay;
mod rng;
mod sealed;
mod ssi_token;
#[cfg(feature = "deterministic")]
pub mod vectors;

#[cfg(feature = "deterministic")]
pub use deterministic::DeterministicSigner;
pub use error::{KeyError, LinkTokenError, UnsealError, VerifyError, VerifyErrorKind};
pub use keys::{
    AppJwk, AppKeyPair, AppPublicKey, EcPrivateJwk, EcPublicJwk, LinkSigningKey, LinkTokenKey,
    LinkTokenKeys, LinkVerificationKey, OctJwk,
};
pub use link_token::{
    LINK_TOKEN_SCHEMA, LinkTokenClaims, MAX_LINK_TOKEN_BYTES, make_link_token, read_link_token,
};
pub use replay::{InMemoryReplayStore, ReplayStore};
pub use rng::{BufferedSystemRandom, Random, SeededRandom, SystemRandom};
pub use sealed::{MAX_SEALED_KEY_BYTES, seal_link_signing_key, unseal_link_signing_key};
pub use ssi_token::{
    CLOCK_SKEW_SECS, Es256Signer, MAX_SSI_TOKEN_BYTES, MintRequest, SSI_TOKEN_LIFETIME_SECS,
    SSI_TOKEN_SCHEMA, VerifiedSsiToken, VerifyOptions, mint_ssi_token, verify_ssi_token,
};

use std::collections::BTreeMap;

/// What a partner backend hands its app for `linkUserAccount`.
#[derive(Debug)]
pub struct IssuedLink {
    /// `linkToken.token` (schema `LINK-TOKEN-1.0`).
    pub link_token: String,
    /// `linkSigningKey`: the link signing key sealed to the app's public key.
    pub sealed_signing_key: String,
    /// The public half, also inside the link token as `vKey`.
    pub verification_key: LinkVerificationKey,
}

/// The partner side of linking in one call: a fresh link key pair, a link
/// token naming the user and the platform user, and the sealed signing key.
pub fn issue_link(
    partner_user_id: &str,
    platform_user_id: &str,
    ctx: BTreeMap<String, String>,
    link_token_key: &LinkTokenKey,
    app_key: &AppPublicKey,
    now: i64,
    rng: &mut dyn Random,
) -> IssuedLink {
    let signing_key = LinkSigningKey::generate(rng);
    let claims = LinkTokenClaims {
        partner_user_id: partner_user_id.to_owned(),
        platform_user_id: platform_user_id.to_owned(),
        verification_key: signing_key.verification_key(),
        issued_at: now,
        ctx,
    };
    IssuedLink {
        link_token: make_link_token(&claims, link_token_key, rng),
        sealed_signing_key: seal_link_signing_key(&signing_key, app_key, rng),
        verification_key: claims.verification_key,
    }
}
