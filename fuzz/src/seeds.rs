//! The seed corpora in `fuzz/seeds/<target>/`, generated from the fixtures.
//!
//! Names say what a seed is for: `ok-*` must be accepted all the way through,
//! `bad-*` must be refused (at a deep step), anything else (`regression-*`,
//! crashes found later) must just not panic. Splicing targets take the first
//! byte as the mode, so `ok-2-…` is mode 2.
//!
//! Regenerate with
//! `UPDATE_SEEDS=1 cargo test --manifest-path fuzz/Cargo.toml --lib seeds`;
//! without `UPDATE_SEEDS` the tests check the committed files are current and
//! replay every file of every seed directory through its target.

use std::path::PathBuf;

use serde::Serialize;
use serde_json::json;
use ssi_proto::{
    FailureReason, GetUserAndLinksRequest, GetUserAndLinksResponse, Link, LinkAccountSuccessCode,
    LinkUserAccountRequest, LinkUserAccountResponse, LoginNameValue, ShowLoginSelectionRequest,
    ShowLoginSelectionResponse, SsiEvent, SsiEventRequest, Token,
};
use ssi_token::{EcPrivateJwk, SeededRandom, seal_link_signing_key};

use crate::fixtures::{self, IDP, ISSUER, LINK_ID, NOW, NOW_MS, PARTNER_USER_ID};
use crate::{splice, targets};

/// Every fuzz target, as named in `Cargo.toml` and `fuzz/seeds/`.
pub const TARGETS: [&str; 6] = [
    "verify_ssi_token",
    "verify_ssi_token_splice",
    "unseal_sealed_key",
    "read_link_token",
    "jwk_parsers",
    "proto_messages",
];

/// Runs one target's body on `data`; `true` when accepted all the way through.
pub fn run(target: &str, data: &[u8]) -> bool {
    match target {
        "verify_ssi_token" => targets::verify_ssi_token(data),
        "verify_ssi_token_splice" => targets::verify_ssi_token_splice(data),
        "unseal_sealed_key" => targets::unseal_sealed_key(data),
        "read_link_token" => targets::read_link_token(data),
        "jwk_parsers" => targets::jwk_parsers(data),
        "proto_messages" => targets::proto_messages(data),
        other => panic!("unknown fuzz target {other}"),
    }
}

pub struct Seed {
    pub target: &'static str,
    pub name: String,
    pub bytes: Vec<u8>,
}

fn seed(target: &'static str, name: &str, bytes: impl AsRef<[u8]>) -> Seed {
    Seed {
        target,
        name: name.to_owned(),
        bytes: bytes.as_ref().to_vec(),
    }
}

fn moded(mode: u8, rest: &[u8]) -> Vec<u8> {
    let mut bytes = vec![mode];
    bytes.extend_from_slice(rest);
    bytes
}

fn to_json(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(value).expect("serializes")
}

/// All generated seeds.
pub fn all() -> Vec<Seed> {
    let f = fixtures::get();
    let parts = splice::ssi_parts();
    let mut seeds = Vec::new();

    let t = "verify_ssi_token";
    seeds.push(seed(t, "ok-token.txt", &f.ssi_token));
    seeds.push(seed(
        t,
        "bad-expired.txt",
        f.mint(ISSUER, IDP, NOW - 1000, b"expired"),
    ));
    seeds.push(seed(
        t,
        "bad-wrong-audience.txt",
        f.mint(ISSUER, "other.idp", NOW, b"aud"),
    ));
    seeds.push(seed(
        t,
        "bad-wrong-issuer.txt",
        f.mint("https://evil.example", IDP, NOW, b"iss"),
    ));

    let t = "verify_ssi_token_splice";
    seeds.push(seed(t, "ok-0-header.bin", moded(0, &parts.header)));
    seeds.push(seed(t, "ok-1-payload.bin", moded(1, &parts.payload)));
    seeds.push(seed(t, "ok-2-payload-signed.bin", moded(2, &parts.payload)));
    let too_long = splice::claims_with_times(NOW, NOW + 301);
    seeds.push(seed(t, "bad-2-lifetime.bin", moded(2, &too_long)));
    let future = splice::claims_with_times(NOW + 120, NOW + 300);
    seeds.push(seed(t, "bad-2-future.bin", moded(2, &future)));
    seeds.push(seed(t, "ok-3-header-signed.bin", moded(3, &parts.header)));
    let link_payload = splice::link_token_plaintext();
    seeds.push(seed(t, "ok-4-link-payload.bin", moded(4, link_payload)));

    let t = "unseal_sealed_key";
    seeds.push(seed(
        t,
        "ok-0-sealed.txt",
        moded(0, f.sealed_key.as_bytes()),
    ));
    let retired = seal_link_signing_key(
        &f.signing_key,
        &f.app_keys[1].public_key(),
        &mut SeededRandom::new(b"retired"),
    );
    seeds.push(seed(
        t,
        "ok-0-sealed-retired-key.txt",
        moded(0, retired.as_bytes()),
    ));
    seeds.push(seed(
        t,
        "ok-1-header.bin",
        moded(1, splice::sealed_key_header()),
    ));
    let mut with_party: serde_json::Value =
        serde_json::from_slice(splice::sealed_key_header()).expect("header");
    with_party["apu"] = json!("YWxpY2U");
    with_party["apv"] = json!("Ym9i");
    seeds.push(seed(
        t,
        "ok-1-header-apu-apv.bin",
        moded(1, &to_json(&with_party)),
    ));
    seeds.push(seed(
        t,
        "ok-2-plaintext.bin",
        moded(2, splice::signing_key_plaintext()),
    ));
    let other = f.ephemeral.to_private_jwk();
    let mismatched = EcPrivateJwk {
        kty: other.kty,
        crv: other.crv,
        x: other.x,
        y: other.y,
        d: f.signing_key.to_jwk().d,
    };
    seeds.push(seed(
        t,
        "bad-2-mismatched-d.bin",
        moded(2, &to_json(&mismatched)),
    ));

    let t = "read_link_token";
    seeds.push(seed(t, "ok-0-token.txt", moded(0, f.link_token.as_bytes())));
    seeds.push(seed(
        t,
        "ok-1-header.bin",
        moded(1, splice::link_token_header()),
    ));
    seeds.push(seed(t, "ok-2-plaintext.bin", moded(2, link_payload)));
    let mut no_ctx: serde_json::Value = serde_json::from_slice(link_payload).expect("payload");
    no_ctx.as_object_mut().expect("object").remove("ctx");
    seeds.push(seed(
        t,
        "ok-2-plaintext-no-ctx.bin",
        moded(2, &to_json(&no_ctx)),
    ));
    let duplicate_ctx = String::from_utf8(link_payload.to_vec())
        .expect("UTF-8")
        .replace(r#""ctx":{"#, r#""ctx":{"a":"1","a":"2","#);
    seeds.push(seed(
        t,
        "bad-2-duplicate-ctx.bin",
        moded(2, duplicate_ctx.as_bytes()),
    ));

    let t = "jwk_parsers";
    seeds.push(seed(
        t,
        "ok-link-signing-key.json",
        to_json(&f.signing_key.to_jwk()),
    ));
    let vkey = f.signing_key.verification_key().to_jwk();
    seeds.push(seed(t, "ok-verification-key.json", to_json(&vkey)));
    let app = &f.app_keys[0];
    seeds.push(seed(
        t,
        "ok-app-public.json",
        to_json(&app.public_key().to_jwk()),
    ));
    seeds.push(seed(
        t,
        "ok-app-private.json",
        to_json(&app.to_private_jwk()),
    ));
    let oct = f.link_token_key.to_jwk();
    seeds.push(seed(t, "ok-link-token-key.json", to_json(&oct)));
    let other_oct = json!({"kty": "oct", "kid": "old", "alg": "A256GCMKW", "k": "A".repeat(43)});
    let set = json!({"keys": [oct, other_oct]});
    seeds.push(seed(t, "ok-link-token-keys.json", to_json(&set)));
    let mut raw = f.signing_key.private_scalar().to_vec();
    raw.extend_from_slice(f.signing_key.public_sec1());
    seeds.push(seed(t, "ok-raw-signing-key.bin", raw));
    seeds.push(seed(t, "ok-sec1-point.bin", f.signing_key.public_sec1()));

    let t = "proto_messages";
    let get = GetUserAndLinksRequest {
        identity_provider_name: IDP.to_owned(),
    };
    seeds.push(seed(t, "ok-get-user-and-links.json", to_json(&get)));
    let link_user = LinkUserAccountRequest {
        partner_user_id: PARTNER_USER_ID.to_owned(),
        identity_provider_name: IDP.to_owned(),
        user_login_name: "Jo Example".to_owned(),
        link_token: Token::link(&f.link_token),
        link_signing_key: f.sealed_key.clone(),
    };
    seeds.push(seed(t, "ok-link-user-account.json", to_json(&link_user)));
    let selection = ShowLoginSelectionRequest(vec![
        LoginNameValue::new("Jo Example", LINK_ID),
        LoginNameValue::new("Jö Zweit", "lnk_2"),
    ]);
    seeds.push(seed(t, "ok-show-login-selection.json", to_json(&selection)));
    let event = SsiEventRequest {
        ssi_event: SsiEvent::LoginFailure,
        timestamp: NOW_MS,
        failure_reason: Some(FailureReason::NotFound),
    };
    seeds.push(seed(t, "ok-ssi-event.json", to_json(&event)));
    let legacy_event = format!(
        r#"{{"ssiEvent":"LOGIN_FAILURE","epochTimestamp":"{NOW_MS}","failureReason":"The request is corrupted."}}"#
    );
    seeds.push(seed(t, "ok-ssi-event-legacy.json", legacy_event));
    let link = Link {
        link_id: LINK_ID.to_owned(),
        amazon_user_id: fixtures::PLATFORM_USER_ID.to_owned(),
        partner_user_id: PARTNER_USER_ID.to_owned(),
        identity_provider_name: IDP.to_owned(),
        ssi_token: Token::ssi(&f.ssi_token),
        linked_timestamp: (NOW - 86_400) * 1000,
    };
    seeds.push(seed(t, "ok-link.json", to_json(&link)));
    let links = GetUserAndLinksResponse::successful(fixtures::PLATFORM_USER_ID, vec![link]);
    seeds.push(seed(
        t,
        "ok-get-user-and-links-response.json",
        to_json(&links),
    ));
    let linked = LinkUserAccountResponse::linked(LinkAccountSuccessCode::LinkEstablished, LINK_ID);
    seeds.push(seed(
        t,
        "ok-link-user-account-response.json",
        to_json(&linked),
    ));
    let selected = ShowLoginSelectionResponse::selected(LINK_ID, Some(Token::ssi(&f.ssi_token)));
    seeds.push(seed(
        t,
        "ok-show-login-selection-response.json",
        to_json(&selected),
    ));

    seeds
}

/// `fuzz/seeds/`.
pub fn seeds_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("seeds")
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    /// With `UPDATE_SEEDS=1` writes the generated seeds; otherwise checks that the
    /// committed ones are current (a format change shows up here first).
    #[test]
    fn seeds_are_current() {
        let update = std::env::var_os("UPDATE_SEEDS").is_some();
        for seed in all() {
            let dir = seeds_dir().join(seed.target);
            let path = dir.join(&seed.name);
            if update {
                fs::create_dir_all(&dir).expect("create the seed directory");
                fs::write(&path, &seed.bytes).expect("write a seed");
            } else {
                let committed = fs::read(&path).unwrap_or_else(|e| {
                    panic!("{}: {e}; regenerate with UPDATE_SEEDS=1", path.display())
                });
                assert!(
                    committed == seed.bytes,
                    "{} is stale; regenerate with UPDATE_SEEDS=1",
                    path.display()
                );
            }
        }
    }

    /// Every file under `fuzz/seeds/<target>/` (seeds and regression inputs) runs
    /// through its target without panicking, and `ok-*`/`bad-*` get their verdict.
    #[test]
    fn seed_corpus_replays() {
        for target in TARGETS {
            let dir = seeds_dir().join(target);
            let mut count = 0;
            for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
                let path = entry.expect("a directory entry").path();
                let name = path
                    .file_name()
                    .expect("a file name")
                    .to_string_lossy()
                    .into_owned();
                let data = fs::read(&path).expect("read a seed");
                let accepted = run(target, &data);
                if name.starts_with("ok-") {
                    assert!(accepted, "{target}/{name} must be accepted");
                } else if name.starts_with("bad-") {
                    assert!(!accepted, "{target}/{name} must be refused");
                }
                count += 1;
            }
            assert!(count > 0, "{target} has no seeds");
        }
    }
}
