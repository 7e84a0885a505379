//! Property tests (proptest, 64 cases each so the suite stays fast in debug
//! builds): round trips of every format for random keys and claims, the time
//! rules for random clocks, replay for random presentation times, and that
//! no single-byte change of a valid token ever verifies.

use std::collections::BTreeMap;

use proptest::collection::btree_map;
use proptest::prelude::*;
use proptest::sample::Index;
use ssi_token::{
    AppKeyPair, InMemoryReplayStore, LinkSigningKey, LinkTokenClaims, LinkTokenKey, LinkTokenKeys,
    MintRequest, SSI_TOKEN_SCHEMA, SeededRandom, VerifyErrorKind, VerifyOptions, make_link_token,
    mint_ssi_token, read_link_token, seal_link_signing_key, unseal_link_signing_key,
    verify_ssi_token,
};

use crate::verify_matrix::{Fixture, NOW};

const ISSUER: &str = "https://ssi.example";
const IDP: &str = "idp.example";

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(64)
}

/// Any non-empty string of any characters (control characters included).
fn any_text() -> impl Strategy<Value = String> {
    "(?s).{1,40}"
}

fn ctx() -> impl Strategy<Value = BTreeMap<String, String>> {
    btree_map(any::<String>(), any::<String>(), 0..4)
}

/// What a verification at `offset` seconds after minting must give, from
/// the rules `iat <= now + 60`, `exp > now - 60` with `exp = iat + 300`.
fn expected_at(offset: i64) -> Result<(), VerifyErrorKind> {
    if offset < -60 {
        Err(VerifyErrorKind::IssuedInFuture)
    } else if offset >= 300 + 60 {
        Err(VerifyErrorKind::Expired)
    } else {
        Ok(())
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn seal_unseal_round_trip(seed in any::<[u8; 16]>()) {
        let mut rng = SeededRandom::new(&seed);
        let app = AppKeyPair::generate(&mut rng);
        let other = AppKeyPair::generate(&mut rng);
        let key = LinkSigningKey::generate(&mut rng);
        let sealed = seal_link_signing_key(&key, &app.public_key(), &mut rng);
        let unsealed = unseal_link_signing_key(&sealed, &[&other, &app]).expect("unseals");
        prop_assert_eq!(unsealed.private_scalar(), key.private_scalar());
        prop_assert_eq!(unsealed.verification_key(), key.verification_key());
        let refused = unseal_link_signing_key(&sealed, &[&other]).expect_err("not ours");
        prop_assert_eq!(refused.request_status(), "INVALID_LINK_SIGNING_KEY_ENCRYPTION");
    }

    #[test]
    fn link_token_round_trip(
        partner_user_id in any_text(),
        platform_user_id in any_text(),
        issued_at in any::<i64>(),
        ctx in ctx(),
        seed in any::<[u8; 16]>(),
    ) {
        let mut rng = SeededRandom::new(&seed);
        let key = LinkTokenKey::generate(&mut rng);
        let claims = LinkTokenClaims {
            partner_user_id,
            platform_user_id,
            verification_key: LinkSigningKey::generate(&mut rng).verification_key(),
            issued_at,
            ctx,
        };
        let token = make_link_token(&claims, &key, &mut rng);
        let kid = key.kid().to_owned();
        let keys = LinkTokenKeys::single(key);
        prop_assert_eq!(read_link_token(&token, &keys), Ok(claims));
        let wrong = LinkTokenKeys::single(LinkTokenKey::new(&kid, [0; 32]).expect("kid"));
        prop_assert!(read_link_token(&token, &wrong).is_err());
    }

    #[test]
    fn mint_verify_round_trip(
        subject in any_text(),
        partner_user_id in any_text(),
        link_id in "[A-Za-z0-9_-]{1,64}",
        device_id in any::<String>(),
        ctx in ctx(),
        now in 1i64..4_000_000_000,
        offset in -200i64..600,
        seed in any::<[u8; 16]>(),
    ) {
        let mut rng = SeededRandom::new(&seed);
        let signing = LinkSigningKey::generate(&mut rng);
        let key = LinkTokenKey::generate(&mut rng);
        let link_token = make_link_token(
            &LinkTokenClaims {
                partner_user_id: partner_user_id.clone(),
                platform_user_id: subject.clone(),
                verification_key: signing.verification_key(),
                issued_at: now - 1000,
                ctx: ctx.clone(),
            },
            &key,
            &mut rng,
        );
        let request = MintRequest {
            issuer: ISSUER,
            audience: IDP,
            subject: &subject,
            link_id: &link_id,
            link_token: &link_token,
            device_id: &device_id,
        };
        let token = mint_ssi_token(&request, &signing, now, &mut rng);
        let keys = LinkTokenKeys::single(key);
        let options = VerifyOptions {
            link_token_keys: &keys,
            identity_provider_name: IDP,
            issuer: ISSUER,
        };
        let got = verify_ssi_token(
            SSI_TOKEN_SCHEMA,
            &token,
            &options,
            now + offset,
            &InMemoryReplayStore::new(),
        );
        prop_assert_eq!(got.as_ref().map(|_| ()).map_err(|e| e.kind), expected_at(offset));
        if let Ok(verified) = got {
            prop_assert_eq!(verified.partner_user_id, partner_user_id);
            prop_assert_eq!(verified.platform_user_id, subject);
            prop_assert_eq!(verified.link_id, link_id);
            prop_assert_eq!(verified.device_id, device_id);
            prop_assert_eq!(verified.ctx, ctx);
            prop_assert_eq!(verified.linked_at, now - 1000);
            prop_assert_eq!(verified.issued_at, now);
            prop_assert_eq!(verified.expires_at, now + 300);
        }
    }

    /// The replay store keeps a `jti` until `exp + 60`, which covers every
    /// moment the token could verify: a second presentation never succeeds,
    /// whenever the first one was and whenever (even earlier) it comes.
    #[test]
    fn a_token_verifies_at_most_once(first in -60i64..360, second in -2_000i64..2_000) {
        let fx = Fixture::new();
        let token = mint_ssi_token(&fx.request(), &fx.signing, NOW, &mut SeededRandom::new(b"once"));
        let replay = InMemoryReplayStore::new();
        let options = fx.options();
        prop_assert!(verify_ssi_token(SSI_TOKEN_SCHEMA, &token, &options, NOW + first, &replay).is_ok());
        let again = verify_ssi_token(SSI_TOKEN_SCHEMA, &token, &options, NOW + second, &replay)
            .expect_err("never twice");
        let expected = expected_at(second).err().unwrap_or(VerifyErrorKind::Replayed);
        prop_assert_eq!(again.kind, expected);
    }

    #[test]
    fn no_single_byte_change_verifies(index in any::<Index>(), byte in 0u8..0x80) {
        let fx = Fixture::new();
        let token = mint_ssi_token(&fx.request(), &fx.signing, NOW, &mut SeededRandom::new(b"mutate"));
        let at = index.index(token.len());
        prop_assume!(token.as_bytes()[at] != byte);
        let mut bytes = token.into_bytes();
        bytes[at] = byte;
        let mutated = String::from_utf8(bytes).expect("ASCII");
        let got = verify_ssi_token(
            SSI_TOKEN_SCHEMA,
            &mutated,
            &fx.options(),
            NOW,
            &InMemoryReplayStore::new(),
        );
        let kind = got.map(|_| ()).expect_err("a changed token never verifies").kind;
        prop_assert_ne!(kind, VerifyErrorKind::Replayed);
    }

    #[test]
    fn no_inserted_or_deleted_byte_verifies(index in any::<Index>(), byte in 0u8..0x80, insert in any::<bool>()) {
        let fx = Fixture::new();
        let token = mint_ssi_token(&fx.request(), &fx.signing, NOW, &mut SeededRandom::new(b"mutate"));
        let mut bytes = token.into_bytes();
        let at = index.index(bytes.len());
        if insert {
            bytes.insert(at, byte);
        } else {
            bytes.remove(at);
        }
        let mutated = String::from_utf8(bytes).expect("ASCII");
        let got = verify_ssi_token(
            SSI_TOKEN_SCHEMA,
            &mutated,
            &fx.options(),
            NOW,
            &InMemoryReplayStore::new(),
        );
        prop_assert!(got.is_err());
    }
}
