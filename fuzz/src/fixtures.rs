//! Fixed keys and valid tokens, derived from `SeededRandom` once per process.
//!
//! Everything here is deterministic (the SSI tokens are signed with the RFC 6979
//! `DeterministicSigner`), so the seed corpus regenerates byte-identically.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use ssi_token::{
    AppKeyPair, DeterministicSigner, InMemoryReplayStore, LinkSigningKey, LinkTokenClaims,
    LinkTokenKey, LinkTokenKeys, MintRequest, SSI_TOKEN_SCHEMA, SeededRandom, VerifiedSsiToken,
    VerifyOptions, make_link_token, mint_ssi_token, seal_link_signing_key, verify_ssi_token,
};

/// The verifier's clock (2026-01-01T00:00:00Z), in Unix seconds.
pub const NOW: i64 = 1_767_225_600;
/// [`NOW`] in epoch milliseconds, for `ssi-proto`'s metric timestamps.
pub const NOW_MS: i64 = NOW * 1000;
pub const ISSUER: &str = "https://ssi.fuzz.example";
pub const IDP: &str = "fuzz.idp";
pub const LINK_ID: &str = "lnk_fuzz-1";
pub const PLATFORM_USER_ID: &str = "amzn1.account.FUZZ1";
pub const PARTNER_USER_ID: &str = "partner-user-1";
pub const DEVICE_ID: &str = "device-1";

/// The partner's and the server's keys, and one valid link made with them.
pub struct Fixtures {
    /// The partner's current link-token key (the one [`Fixtures::link_token`] uses).
    pub link_token_key: LinkTokenKey,
    /// The current key and an older one, as a partner keeps them after rotation.
    pub link_token_keys: LinkTokenKeys,
    /// The app's current key (index 0, the one the sealed key is sealed to) and a
    /// retired one (index 1).
    pub app_keys: Vec<AppKeyPair>,
    /// The ephemeral key used by [`crate::splice::seal_signing_key`].
    pub ephemeral: AppKeyPair,
    /// The link signing key of the link.
    pub signing_key: LinkSigningKey,
    pub link_claims: LinkTokenClaims,
    pub link_token: String,
    pub sealed_key: String,
    /// Minted at [`NOW`] for [`LINK_ID`].
    pub ssi_token: String,
    /// What verifying [`Fixtures::ssi_token`] at [`NOW`] yields.
    pub verified: VerifiedSsiToken,
}

/// The fixtures, built on first use (key generation is not part of any fuzz input).
pub fn get() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(build)
}

fn copy_key(key: &LinkTokenKey) -> LinkTokenKey {
    LinkTokenKey::from_jwk(&key.to_jwk()).expect("a generated key round-trips")
}

fn build() -> Fixtures {
    let mut rng = SeededRandom::new(b"ssi-fuzz fixtures v1");
    let link_token_key = LinkTokenKey::generate(&mut rng);
    let old_link_token_key = LinkTokenKey::generate(&mut rng);
    let link_token_keys = LinkTokenKeys::new(vec![old_link_token_key, copy_key(&link_token_key)]);
    let app_keys = vec![
        AppKeyPair::generate(&mut rng),
        AppKeyPair::generate(&mut rng),
    ];
    let ephemeral = AppKeyPair::generate(&mut rng);
    let signing_key = LinkSigningKey::generate(&mut rng);
    let link_claims = LinkTokenClaims {
        partner_user_id: PARTNER_USER_ID.to_owned(),
        platform_user_id: PLATFORM_USER_ID.to_owned(),
        verification_key: signing_key.verification_key(),
        issued_at: NOW - 86_400,
        ctx: BTreeMap::from([("tenant".to_owned(), "t1".to_owned())]),
    };
    let link_token = make_link_token(&link_claims, &link_token_key, &mut rng);
    let sealed_key = seal_link_signing_key(&signing_key, &app_keys[0].public_key(), &mut rng);
    let mut fixtures = Fixtures {
        link_token_key,
        link_token_keys,
        app_keys,
        ephemeral,
        signing_key,
        link_claims,
        link_token,
        sealed_key,
        ssi_token: String::new(),
        verified: VerifiedSsiToken {
            partner_user_id: String::new(),
            platform_user_id: String::new(),
            link_id: String::new(),
            device_id: String::new(),
            ctx: BTreeMap::new(),
            linked_at: 0,
            issued_at: 0,
            expires_at: 0,
            jti: String::new(),
        },
    };
    fixtures.ssi_token = fixtures.mint(ISSUER, IDP, NOW, b"fixture token");
    fixtures.verified = verify_ssi_token(
        SSI_TOKEN_SCHEMA,
        &fixtures.ssi_token,
        &fixtures.verify_options(),
        NOW,
        &InMemoryReplayStore::new(),
    )
    .expect("the fixture SSI token verifies");
    fixtures
}

impl Fixtures {
    /// What the partner of the fixtures expects of an SSI token.
    pub fn verify_options(&self) -> VerifyOptions<'_> {
        VerifyOptions {
            link_token_keys: &self.link_token_keys,
            identity_provider_name: IDP,
            issuer: ISSUER,
        }
    }

    /// A deterministic SSI token for the fixture link (the `jti` comes from `label`).
    pub fn mint(&self, issuer: &str, audience: &str, now: i64, label: &[u8]) -> String {
        let request = MintRequest {
            issuer,
            audience,
            subject: PLATFORM_USER_ID,
            link_id: LINK_ID,
            link_token: &self.link_token,
            device_id: DEVICE_ID,
        };
        let signer = DeterministicSigner::new(&self.signing_key);
        mint_ssi_token(&request, &signer, now, &mut SeededRandom::new(label))
    }
}
