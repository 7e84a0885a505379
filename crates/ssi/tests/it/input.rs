//! Bad command-line input: a clear error on stderr naming the culprit, exit 1
//! (2 is kept for tokens and sealed keys that were read and refused).

use std::fs;

use crate::{case, check, temp_dir};

#[test]
fn bad_input_exits_1_naming_the_file_or_flag() {
    let dir = temp_dir();
    let at = dir.path();
    check(
        at,
        case(&["token", "keygen", "link-token", "--out", "ltk.json"]),
    );
    check(at, case(&["token", "keygen", "link", "--out", "link.json"]));
    check(
        at,
        case(&[
            "token",
            "keygen",
            "app",
            "--out",
            "app.json",
            "--public-out",
            "app.pub.json",
        ]),
    );
    fs::write(at.join("garbage.json"), "{not json").unwrap();
    fs::write(at.join("wrong-shape.json"), r#"{"kty":"oct"}"#).unwrap();
    let verify = |key: &str, token: &str, now: &str| {
        [
            "token",
            "verify",
            "--token",
            token,
            "--link-token-key",
            key,
            "--idp",
            "idp",
            "--issuer",
            "https://i",
            "--now",
            now,
        ]
        .map(str::to_owned)
        .to_vec()
    };
    let link_token = |link_token_key: &str, app_public_key: &str, extra: &[&str]| {
        let mut args = [
            "token",
            "link-token",
            "--partner-user-id",
            "u1",
            "--platform-user-id",
            "p1",
            "--link-token-key",
            link_token_key,
            "--app-public-key",
            app_public_key,
        ]
        .map(str::to_owned)
        .to_vec();
        args.extend(extra.iter().map(|&arg| arg.to_owned()));
        args
    };
    let mint = |signing_key: &str, link_id: &str, link_token: &str| {
        [
            "token",
            "mint",
            "--signing-key",
            signing_key,
            "--link-id",
            link_id,
            "--subject",
            "s",
            "--audience",
            "idp",
            "--issuer",
            "https://i",
            "--link-token",
            link_token,
            "--device-id",
            "d",
            "--now",
            "1700000000",
        ]
        .map(str::to_owned)
        .to_vec()
    };
    let cases: Vec<(Vec<String>, &[&str])> = vec![
        (
            verify("missing.json", "a.b.c", "1"),
            &["missing.json", "link-token key", "No such file"],
        ),
        (
            verify("garbage.json", "a.b.c", "1"),
            &["garbage.json", "not JSON"],
        ),
        (
            verify("wrong-shape.json", "a.b.c", "1"),
            &["wrong-shape.json", "not a valid JWK"],
        ),
        (
            verify("app.json", "a.b.c", "1"),
            &["app.json", "not a valid JWK"],
        ),
        (
            verify("ltk.json", r#"{"tok":"a.b.c"}"#, "1"),
            &["--token", "object"],
        ),
        (verify("ltk.json", "a.b.c", "soon"), &["--now", "soon"]),
        (
            link_token("ltk.json", "app.pub.json", &["--ctx", "no-equals-sign"]),
            &["--ctx", "KEY=VALUE"],
        ),
        (
            link_token(
                "ltk.json",
                "app.pub.json",
                &["--ctx", "a=1", "--ctx", "a=2"],
            ),
            &["--ctx", "twice"],
        ),
        (
            link_token("ltk.json", "ltk.json", &[]),
            &["ltk.json", "app public key", "not a valid JWK"],
        ),
        (
            link_token("app.pub.json", "app.pub.json", &[]),
            &["app.pub.json", "link-token key", "not a valid JWK"],
        ),
        (
            mint("app.json", "lnk_1", "x.y.z.v.w"),
            &["app.json", "link signing key", "not a valid JWK"],
        ),
        (
            mint("absent.json", "lnk_1", "x.y.z.v.w"),
            &["absent.json", "link signing key"],
        ),
        (mint("link.json", "bad id!", "x.y.z.v.w"), &["--link-id"]),
        (
            mint(
                "link.json",
                "lnk_1",
                r#"{"token":"x.y.z.v.w","schema":"SSI-TOKEN-1.0"}"#,
            ),
            &["--link-token", "LINK-TOKEN-1.0"],
        ),
        (
            ["token", "unseal", "--app-key", "gone.json", "--sealed", "x"]
                .map(str::to_owned)
                .to_vec(),
            &["gone.json", "app private key"],
        ),
        (
            ["token", "keygen", "link", "--out", "no-such-dir/key.json"]
                .map(str::to_owned)
                .to_vec(),
            &["no-such-dir/key.json", "cannot create"],
        ),
        (["token", "keygen"].map(str::to_owned).to_vec(), &["Usage"]),
        (
            ["token", "frobnicate"].map(str::to_owned).to_vec(),
            &["frobnicate"],
        ),
    ];
    for (args, stderr_has) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let ran = check(at, case(&args).code(1).stderr_has(stderr_has));
        assert!(
            ran.stdout.is_empty(),
            "ssi {args:?} printed to stdout: {}",
            ran.stdout
        );
    }
}
