//! The backend as the sample app and the platform see it: password sign-in,
//! link tokens whose sealed signing key opens with the app's private key,
//! login names and sign-in from SSI tokens minted with that signing key (as
//! the platform server mints them), and the attacks that must fail.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use serde_json::{Value, json};
use ssi_sample_partner::backend::{AppKeySource, Backend, BackendConfig, DemoUser};
use ssi_token::{
    AppKeyPair, LinkSigningKey, LinkTokenKey, LinkTokenKeys, MintRequest, SeededRandom,
    SystemRandom, mint_ssi_token, read_link_token, unseal_link_signing_key,
};

use crate::ManualClock;

const IDP: &str = "sample-idp";
const ISSUER: &str = "http://platform.test";
const NOW: i64 = 1_800_000_000;
const PLATFORM_USER: &str = "amzn1.directed.user-1";

/// A backend on an ephemeral port, with the app key pair the platform would hold.
struct Harness {
    base: String,
    http: reqwest::Client,
    clock: ManualClock,
    app_key: AppKeyPair,
    backend: Backend,
    server: tokio::task::JoinHandle<()>,
}

fn users() -> Vec<DemoUser> {
    ["alice", "bob"]
        .into_iter()
        .map(|name| DemoUser {
            username: format!("{name}@sample.test"),
            display_name: name.to_owned(),
            password: format!("{name}-password"),
        })
        .collect()
}

impl Harness {
    async fn start(dir: &Path, app_key: AppKeyPair, clock: ManualClock) -> Result<Self> {
        let config = BackendConfig {
            dir: dir.to_owned(),
            identity_provider_name: IDP.to_owned(),
            issuer: ISSUER.to_owned(),
            app_key: AppKeySource::Fixed(app_key.public_key()),
            users: users(),
        };
        let backend =
            Backend::open(config, Arc::new(clock.clone()), Box::new(SystemRandom)).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr: SocketAddr = listener.local_addr()?;
        let router = backend.router();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Self {
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
            clock,
            app_key,
            backend,
            server,
        })
    }

    /// A backend with a new app key, at `NOW`.
    async fn fresh(dir: &Path) -> Result<Self> {
        let app_key = AppKeyPair::generate(&mut SystemRandom);
        Self::start(dir, app_key, ManualClock::new(NOW)).await
    }

    async fn stop(self) {
        self.server.abort();
        let _ = self.server.await;
        self.backend.close().await;
    }

    /// POSTs JSON (with a session when given); the status and the JSON body.
    async fn post(&self, path: &str, session: Option<&str>, body: &Value) -> Result<(u16, Value)> {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(body);
        if let Some(session) = session {
            request = request.bearer_auth(session);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).with_context(|| format!("not JSON: {text}"))?
        };
        Ok((status, json))
    }

    async fn sign_in(&self, name: &str) -> Result<String> {
        let (status, body) = self
            .post(
                "/api/sign-in",
                None,
                &json!({"username": format!("{name}@sample.test"), "password": format!("{name}-password")}),
            )
            .await?;
        assert_eq!(status, 200, "{body}");
        Ok(body["session"].as_str().context("session")?.to_owned())
    }

    /// What the platform does with the backend's answer: unseal the signing
    /// key with the app's private key and keep the link token.
    async fn make_link(&self, session: &str, link_id: &str) -> Result<Link> {
        let (status, body) = self
            .post(
                "/api/link-token",
                Some(session),
                &json!({"amazonUserId": PLATFORM_USER}),
            )
            .await?;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["linkToken"]["schema"], "LINK-TOKEN-1.0");
        let signing_key = unseal_link_signing_key(
            body["linkSigningKey"].as_str().context("linkSigningKey")?,
            &[&self.app_key],
        )?;
        Ok(Link {
            link_id: link_id.to_owned(),
            link_token: body["linkToken"]["token"]
                .as_str()
                .context("token")?
                .to_owned(),
            partner_user_id: body["partnerUserId"]
                .as_str()
                .context("partnerUserId")?
                .to_owned(),
            signing_key,
        })
    }

    fn mint(&self, link: &Link, options: Mint<'_>) -> Value {
        let token = mint_ssi_token(
            &MintRequest {
                issuer: options.issuer,
                audience: options.audience,
                subject: options.subject,
                link_id: &link.link_id,
                link_token: &link.link_token,
                device_id: "device-1",
            },
            options.signer.unwrap_or(&link.signing_key),
            self.clock_now() + options.minted_offset,
            &mut SystemRandom,
        );
        json!({"token": token, "schema": "SSI-TOKEN-1.0"})
    }

    fn clock_now(&self) -> i64 {
        use ssi_sample_partner::Clock;
        self.clock.now_secs()
    }
}

struct Link {
    link_id: String,
    link_token: String,
    partner_user_id: String,
    signing_key: LinkSigningKey,
}

/// How a token is minted: the platform's way unless a case changes it.
#[derive(Clone, Copy)]
struct Mint<'a> {
    issuer: &'a str,
    audience: &'a str,
    subject: &'a str,
    signer: Option<&'a LinkSigningKey>,
    minted_offset: i64,
}

const PLATFORM: Mint<'static> = Mint {
    issuer: ISSUER,
    audience: IDP,
    subject: PLATFORM_USER,
    signer: None,
    minted_offset: 0,
};

#[tokio::test]
async fn password_sign_in_link_token_and_ssi_sign_in() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let h = Harness::fresh(dir.path()).await?;

    // A wrong password and an unknown user read the same.
    for (username, password) in [
        ("alice@sample.test", "nope"),
        ("carol@sample.test", "carol-password"),
    ] {
        let (status, body) = h
            .post(
                "/api/sign-in",
                None,
                &json!({"username": username, "password": password}),
            )
            .await?;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("WRONG_PASSWORD")),
            "{body}"
        );
    }
    let session = h.sign_in("alice").await?;
    let me = h
        .http
        .get(format!("{}/api/me", h.base))
        .bearer_auth(&session)
        .send()
        .await?;
    let me: Value = me.json().await?;
    assert_eq!(me["user"]["username"], "alice@sample.test");
    assert_eq!(me["method"], "PASSWORD");

    // The link token names this user and the platform user, under the
    // backend's own link-token key (kept in its directory).
    let link = h.make_link(&session, "lnk_1").await?;
    let key_file = std::fs::read_to_string(dir.path().join("link-token-key.jwk"))?;
    let keys = LinkTokenKeys::single(LinkTokenKey::from_jwk_json(&key_file)?);
    let claims = read_link_token(&link.link_token, &keys)?;
    assert_eq!(claims.partner_user_id, link.partner_user_id);
    assert_eq!(claims.platform_user_id, PLATFORM_USER);
    assert_eq!(claims.verification_key, link.signing_key.verification_key());
    let (status, body) = h
        .post("/api/links", Some(&session), &json!({"linkId": "lnk_1"}))
        .await?;
    assert_eq!(status, 204, "{body}");

    // Names for the login selection, each proven by a token; a token is used once.
    let token = h.mint(&link, PLATFORM);
    let names_request = json!({"links": [{"linkId": "lnk_1", "ssiToken": token}]});
    let (status, body) = h.post("/api/login-names", None, &names_request).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["names"],
        json!([{"linkId": "lnk_1", "loginName": "alice@sample.test"}])
    );
    let (_, body) = h.post("/api/login-names", None, &names_request).await?;
    assert_eq!(
        body["refused"],
        json!([{"linkId": "lnk_1", "error": "REPLAYED"}])
    );
    // A token of another link does not name this one.
    let other = h.mint(&link, PLATFORM);
    let (_, body) = h
        .post(
            "/api/login-names",
            None,
            &json!({"links": [{"linkId": "lnk_2", "ssiToken": other}]}),
        )
        .await?;
    assert_eq!(
        body["refused"],
        json!([{"linkId": "lnk_2", "error": "LINK_ID_MISMATCH"}])
    );

    // Sign-in from a fresh token; the same token again is a replay.
    let token = h.mint(&link, PLATFORM);
    let (status, body) = h
        .post("/api/ssi-sign-in", None, &json!({"ssiToken": token}))
        .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["method"], "SIMPLE_SIGN_IN");
    assert_eq!(body["user"]["partnerUserId"], link.partner_user_id.as_str());
    let (status, body) = h
        .post("/api/ssi-sign-in", None, &json!({"ssiToken": token}))
        .await?;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("REPLAYED")),
        "{body}"
    );

    let events: Vec<String> = h.backend.events().into_iter().map(|e| e.text).collect();
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("alice@sample.test signed in with Simple Sign-In")),
        "{events:?}"
    );
    h.stop().await;
    Ok(())
}

/// Each hostile or stale token is refused with its own code, and signs nobody in.
#[tokio::test]
async fn ssi_sign_in_refuses_forged_foreign_and_stale_tokens() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let h = Harness::fresh(dir.path()).await?;
    let session = h.sign_in("alice").await?;
    let link = h.make_link(&session, "lnk_1").await?;
    let forger = LinkSigningKey::generate(&mut SeededRandom::new(b"forger"));

    // A link token made by another partner (another link-token key).
    let other_dir = tempfile::tempdir()?;
    let other = Harness::fresh(other_dir.path()).await?;
    let other_session = other.sign_in("alice").await?;
    let foreign = other.make_link(&other_session, "lnk_1").await?;

    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "signed by another key",
            h.mint(
                &link,
                Mint {
                    signer: Some(&forger),
                    ..PLATFORM
                },
            ),
            "BAD_SIGNATURE",
        ),
        (
            "for another IDP",
            h.mint(
                &link,
                Mint {
                    audience: "other-idp",
                    ..PLATFORM
                },
            ),
            "WRONG_AUDIENCE",
        ),
        (
            "from another issuer",
            h.mint(
                &link,
                Mint {
                    issuer: "http://evil.test",
                    ..PLATFORM
                },
            ),
            "WRONG_ISSUER",
        ),
        (
            "for another platform user",
            h.mint(
                &link,
                Mint {
                    subject: "amzn1.other",
                    ..PLATFORM
                },
            ),
            "SUBJECT_MISMATCH",
        ),
        (
            "expired",
            h.mint(
                &link,
                Mint {
                    minted_offset: -400,
                    ..PLATFORM
                },
            ),
            "EXPIRED",
        ),
        (
            "minted in the future",
            h.mint(
                &link,
                Mint {
                    minted_offset: 120,
                    ..PLATFORM
                },
            ),
            "ISSUED_IN_FUTURE",
        ),
        (
            "another partner's link token",
            other.mint(&foreign, PLATFORM),
            "LINK_TOKEN_UNDECRYPTABLE",
        ),
        (
            "wrong schema",
            json!({"token": "x.y.z", "schema": "LINK-TOKEN-1.0"}),
            "WRONG_SCHEMA",
        ),
        (
            "not a JWS",
            json!({"token": "not-a-token", "schema": "SSI-TOKEN-1.0"}),
            "MALFORMED_TOKEN",
        ),
    ];
    for (name, token, code) in cases {
        let (status, body) = h
            .post("/api/ssi-sign-in", None, &json!({"ssiToken": token}))
            .await?;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some(code)),
            "{name}: {body}"
        );
        assert!(body.get("session").is_none(), "{name}");
    }
    other.stop().await;
    h.stop().await;
    Ok(())
}

/// Path, session, body; then the status, the code and a part of the message.
struct LimitCase<'a>(&'a str, Option<&'a str>, Value, u16, &'a str, &'a str);

/// Bad input is refused before any work, with the field and the limit.
#[tokio::test]
async fn input_limits_name_the_field() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let h = Harness::fresh(dir.path()).await?;
    let session = h.sign_in("bob").await?;
    let link = h.make_link(&session, "lnk_1").await?;
    let token = h.mint(&link, PLATFORM);
    let many: Vec<Value> = (0..33)
        .map(|i| json!({"linkId": format!("l{i}"), "ssiToken": token}))
        .collect();
    let cases: Vec<LimitCase<'_>> = vec![
        LimitCase(
            "/api/sign-in",
            None,
            json!({"username": "bob@sample.test", "password": "x".repeat(257)}),
            400,
            "INVALID_REQUEST",
            "password: must be 1 to 256 bytes",
        ),
        LimitCase(
            "/api/sign-in",
            None,
            json!({"username": "", "password": "x"}),
            400,
            "INVALID_REQUEST",
            "username: must be 1 to 64 characters",
        ),
        LimitCase(
            "/api/sign-in",
            None,
            json!({"user": "bob"}),
            400,
            "INVALID_REQUEST",
            "unknown field `user`",
        ),
        LimitCase(
            "/api/link-token",
            None,
            json!({"amazonUserId": "u"}),
            401,
            "UNAUTHORIZED",
            "sign in first",
        ),
        LimitCase(
            "/api/link-token",
            Some("sps_forged"),
            json!({"amazonUserId": "u"}),
            401,
            "UNAUTHORIZED",
            "sign in first",
        ),
        LimitCase(
            "/api/link-token",
            Some(&session),
            json!({"amazonUserId": "u".repeat(257)}),
            400,
            "INVALID_REQUEST",
            "amazonUserId: must be 1 to 256 bytes",
        ),
        LimitCase(
            "/api/links",
            Some(&session),
            json!({"linkId": ""}),
            400,
            "INVALID_REQUEST",
            "linkId: must be 1 to 256 bytes",
        ),
        LimitCase(
            "/api/login-names",
            None,
            json!({"links": many}),
            400,
            "INVALID_REQUEST",
            "links: must be 1 to 32 entries (got 33)",
        ),
        LimitCase(
            "/api/login-names",
            None,
            json!({"links": []}),
            400,
            "INVALID_REQUEST",
            "links: must be 1 to 32 entries (got 0)",
        ),
        LimitCase(
            "/api/ssi-sign-in",
            None,
            json!({"ssiToken": {"token": "x".repeat(70_000), "schema": "SSI-TOKEN-1.0"}}),
            413,
            "TOO_LARGE",
            "over the limit of 65536 bytes",
        ),
    ];
    for LimitCase(path, session, body, status, code, message) in cases {
        let (got_status, got) = h.post(path, session, &body).await?;
        assert_eq!(
            (got_status, got["error"].as_str()),
            (status, Some(code)),
            "{path}: {got}"
        );
        let text = got["message"].as_str().unwrap_or_default();
        assert!(text.contains(message), "{path}: {text:?} lacks {message:?}");
    }
    // A link id recorded for alice cannot be claimed by bob.
    let alice = h.sign_in("alice").await?;
    let (status, _) = h
        .post("/api/links", Some(&alice), &json!({"linkId": "lnk_a"}))
        .await?;
    assert_eq!(status, 204);
    let (status, body) = h
        .post("/api/links", Some(&session), &json!({"linkId": "lnk_a"}))
        .await?;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("LINK_OF_ANOTHER_USER"))
    );
    h.stop().await;
    Ok(())
}

/// A restart on the same directory keeps the users, the sessions and the
/// link-token key: a link made before verifies after.
#[tokio::test]
async fn restart_keeps_users_sessions_and_links() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let app_key = AppKeyPair::generate(&mut SystemRandom);
    let scalar = app_key.to_private_jwk();
    let h = Harness::start(dir.path(), app_key, ManualClock::new(NOW)).await?;
    let session = h.sign_in("alice").await?;
    let link = h.make_link(&session, "lnk_1").await?;
    h.stop().await;

    let clock = ManualClock::new(NOW);
    clock.advance(3600);
    let h = Harness::start(dir.path(), AppKeyPair::from_private_jwk(&scalar)?, clock).await?;
    let me = h
        .http
        .get(format!("{}/api/me", h.base))
        .bearer_auth(&session)
        .send()
        .await?;
    assert_eq!(me.status().as_u16(), 200);
    let token = h.mint(&link, PLATFORM);
    let (status, body) = h
        .post("/api/ssi-sign-in", None, &json!({"ssiToken": token}))
        .await?;
    assert_eq!(status, 200, "{body}");
    let (status, _) = h
        .post("/api/sign-out", Some(&session), &Value::Null)
        .await?;
    assert_eq!(status, 204);
    let me = h
        .http
        .get(format!("{}/api/me", h.base))
        .bearer_auth(&session)
        .send()
        .await?;
    assert_eq!(me.status().as_u16(), 401);
    h.stop().await;
    Ok(())
}
