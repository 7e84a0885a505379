use std::collections::BTreeMap;

use ssi_token::*;

#[test]
fn link_then_mint_then_verify() {
    let mut rng = SeededRandom::new(b"roundtrip");
    let app = AppKeyPair::generate(&mut rng);
    let ltk = LinkTokenKey::generate(&mut rng);
    let issued = issue_link(
        "user-1",
        "plat-1",
        BTreeMap::new(),
        &ltk,
        &app.public_key(),
        1000,
        &mut rng,
    );
    let signing = unseal_link_signing_key(&issued.sealed_signing_key, &[&app]).unwrap();
    assert_eq!(signing.verification_key(), issued.verification_key);
    let token = mint_ssi_token(
        &MintRequest {
            issuer: "https://ssi.example",
            audience: "idp.example",
            subject: "plat-1",
            link_id: "L1",
            link_token: &issued.link_token,
            device_id: "dev-1",
        },
        &signing,
        2000,
        &mut rng,
    );
    let keys = LinkTokenKeys::single(ltk);
    let options = VerifyOptions {
        link_token_keys: &keys,
        identity_provider_name: "idp.example",
        issuer: "https://ssi.example",
    };
    let replay = InMemoryReplayStore::new();
    let verified = verify_ssi_token(SSI_TOKEN_SCHEMA, &token, &options, 2010, &replay).unwrap();
    assert_eq!(verified.partner_user_id, "user-1");
    assert_eq!(verified.linked_at, 1000);
    let again = verify_ssi_token(SSI_TOKEN_SCHEMA, &token, &options, 2010, &replay).unwrap_err();
    assert_eq!(again.kind, VerifyErrorKind::Replayed);
    let det = DeterministicSigner::new(&signing);
    let msg = b"abc";
    assert!(
        signing
            .verification_key()
            .verify_es256(msg, &det.sign_es256(msg))
    );
}
