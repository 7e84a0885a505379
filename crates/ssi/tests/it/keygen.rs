//! `ssi token keygen`: key files, their mode, their shape, no silent overwrite.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::Value;
use ssi_token::{AppKeyPair, AppPublicKey, LinkSigningKey, LinkTokenKey};

use crate::{case, check, temp_dir};

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn members(value: &Value) -> Vec<&str> {
    let mut names: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    names
}

/// Which library parser must accept the written private JWK.
type Parse = fn(&str) -> bool;

#[test]
fn keygen_writes_valid_private_jwks_with_mode_0600_and_never_overwrites() {
    let cases: [(&str, &[&str], &[&str], Parse); 3] = [
        ("link-token", &[], &["alg", "k", "kid", "kty"], |text| {
            LinkTokenKey::from_jwk_json(text).is_ok()
        }),
        ("link", &[], &["crv", "d", "kty", "x", "y"], |text| {
            LinkSigningKey::from_jwk_json(text).is_ok()
        }),
        (
            "app",
            &["--public-out", "app.pub.json"],
            &["alg", "crv", "d", "kid", "kty", "use", "x", "y"],
            |text| AppKeyPair::from_private_jwk_json(text).is_ok(),
        ),
    ];
    for (kind, extra, want_members, parse) in cases {
        let dir = temp_dir();
        let out = dir.path().join("key.json");
        let args = [&["token", "keygen", kind, "--out", "key.json"][..], extra].concat();

        let ran = check(dir.path(), case(&args));
        assert_eq!(mode(&out), 0o600, "{kind}");
        let jwk = read_json(&out);
        assert_eq!(members(&jwk), want_members, "{kind}");
        assert!(
            parse(&fs::read_to_string(&out).unwrap()),
            "{kind}: the library refuses it"
        );
        let printed = ran.json();
        assert!(
            printed.get("d").is_none() && printed.get("k").is_none(),
            "{kind}: printed a secret"
        );
        match kind {
            "link-token" => assert_eq!(printed["kid"], jwk["kid"]),
            _ => {
                assert_eq!(
                    (&printed["x"], &printed["y"]),
                    (&jwk["x"], &jwk["y"]),
                    "{kind}"
                );
            }
        }
        if kind == "app" {
            let public_path = dir.path().join("app.pub.json");
            let public = read_json(&public_path);
            assert_eq!(public, printed);
            assert_eq!(mode(&public_path), 0o600);
            AppPublicKey::from_jwk_json(&public.to_string()).unwrap();
        }

        // A second run refuses, and leaves the file alone.
        let before = fs::read(&out).unwrap();
        check(
            dir.path(),
            case(&args)
                .code(1)
                .stderr_has(&["key.json", "already exists", "--force"]),
        );
        assert_eq!(fs::read(&out).unwrap(), before, "{kind}");

        // --force replaces it whole, still 0600.
        fs::set_permissions(&out, fs::Permissions::from_mode(0o644)).unwrap();
        check(dir.path(), case(&[&args[..], &["--force"]].concat()));
        assert_ne!(fs::read(&out).unwrap(), before, "{kind}");
        assert_eq!(mode(&out), 0o600, "{kind}");
    }
}

#[test]
fn keygen_app_writes_nothing_when_the_public_file_exists() {
    let dir = temp_dir();
    fs::write(dir.path().join("app.pub.json"), "keep").unwrap();
    check(
        dir.path(),
        case(&[
            "token",
            "keygen",
            "app",
            "--out",
            "app.json",
            "--public-out",
            "app.pub.json",
        ])
        .code(1)
        .stderr_has(&["app.pub.json", "already exists"]),
    );
    assert!(!dir.path().join("app.json").exists());
    assert_eq!(
        fs::read_to_string(dir.path().join("app.pub.json")).unwrap(),
        "keep"
    );
}
