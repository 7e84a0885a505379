//! Device registration by the RFC 8628 device authorization grant: the
//! device's endpoints, the owner's code entry and confirmation, polling
//! errors, one-time redemption, guessing limits, deregistration.

use serde_json::{Value, json};
use ssi_server::encoding::secret_hash;

use crate::accounts::{Browser, account_id, audit_text, signed_up};
use crate::harness::TestServer;

const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A device's side of the grant.
pub struct Grant {
    pub device_code: String,
    pub user_code: String,
    pub body: Value,
}

pub async fn start_grant(server: &TestServer, device_name: &str) -> Grant {
    let response = server
        .http
        .post(server.url("/oauth/device_authorization"))
        .json(&json!({ "device_name": device_name }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    Grant {
        device_code: body["device_code"].as_str().unwrap().to_owned(),
        user_code: body["user_code"].as_str().unwrap().to_owned(),
        body,
    }
}

/// One poll of the token endpoint: `Ok(credential)` or `Err(error code)`.
pub async fn poll(server: &TestServer, device_code: &str) -> Result<String, String> {
    let response = server
        .http
        .post(server.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(crate::accounts::form_encode(&[
            ("grant_type", GRANT),
            ("device_code", device_code),
        ]))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    if status == 200 {
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
        Ok(body["access_token"].as_str().unwrap().to_owned())
    } else {
        assert_eq!(status, 400, "{body}");
        Err(body["error"].as_str().unwrap().to_owned())
    }
}

/// The owner enters `typed` on `/device`; returns the page.
pub async fn enter_code(owner: &mut Browser, typed: &str) -> crate::accounts::Page {
    let csrf = owner.csrf().await;
    owner
        .post("/device", &[("csrf", &csrf), ("user_code", typed)])
        .await
}

pub async fn decide(owner: &mut Browser, user_code: &str, decision: &str) -> crate::accounts::Page {
    let confirm = enter_code(owner, user_code).await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    owner
        .post(
            "/device/confirm",
            &[
                ("csrf", &confirm.csrf()),
                ("user_code", user_code),
                ("decision", decision),
            ],
        )
        .await
}

/// A device registered to the owner's account; returns its credential.
pub async fn register_device(server: &TestServer, owner: &mut Browser, name: &str) -> String {
    let grant = start_grant(server, name).await;
    let done = decide(owner, &grant.user_code, "approve").await;
    assert_eq!(done.status, 200, "{}", done.body);
    poll(server, &grant.device_code).await.expect("credential")
}

server_test!(
    grant_from_request_to_credential,
    |server: TestServer| async move {
        let grant = start_grant(&server, "Living-room TV").await;
        let body = &grant.body;
        assert_eq!(body["expires_in"], 600);
        assert_eq!(body["interval"], 5);
        assert_eq!(body["verification_uri"], format!("{}/device", server.base));
        assert_eq!(
            body["verification_uri_complete"],
            format!("{}/device?user_code={}", server.base, grant.user_code)
        );
        let code = grant.user_code.as_bytes();
        assert_eq!(code.len(), 9, "{}", grant.user_code);
        assert_eq!(code[4], b'-');
        assert!(
            code.iter()
                .enumerate()
                .all(|(i, c)| i == 4 || b"BCDFGHJKLMNPQRSTVWXZ".contains(c)),
            "{}",
            grant.user_code
        );
        assert!(grant.device_code.len() >= 43, "256-bit device code");
        // Only the hash of the device code is stored.
        let pool = crate::accounts::db(&server).await;
        let stored = crate::accounts::count(
            &pool,
            &format!(
                "SELECT COUNT(*) FROM device_authorizations WHERE device_code_hash = '{}'",
                secret_hash(&grant.device_code)
            ),
        )
        .await;
        assert_eq!(stored, 1);

        // Polling: pending, then too fast → slow_down (interval raised to 10 s).
        assert_eq!(
            poll(&server, &grant.device_code).await,
            Err("authorization_pending".into())
        );
        assert_eq!(
            poll(&server, &grant.device_code).await,
            Err("slow_down".into())
        );
        server.clock.advance_ms(5_000);
        assert_eq!(
            poll(&server, &grant.device_code).await,
            Err("slow_down".into()),
            "5 s is now too fast: the interval was raised by 5 s"
        );
        server.clock.advance_ms(15_000);
        assert_eq!(
            poll(&server, &grant.device_code).await,
            Err("authorization_pending".into())
        );

        // The owner follows the complete URI: sign-in first, then back.
        let mut owner = signed_up(&server, "owner@example.com").await;
        let mut anonymous = Browser::new(&server);
        let uri = format!("/device?user_code={}", grant.user_code);
        let redirect = anonymous.get(&uri).await;
        assert_eq!(redirect.status, 303);
        assert_eq!(
            redirect.location(),
            format!(
                "/account/signin?next=%2Fdevice%3Fuser_code%3D{}",
                grant.user_code
            )
        );
        let signin = anonymous.get(redirect.location()).await;
        let page = anonymous
            .post(
                "/account/signin",
                &[
                    ("csrf", &signin.csrf()),
                    ("email", "owner@example.com"),
                    ("password", crate::accounts::PASSWORD),
                    (
                        "next",
                        &crate::accounts::hidden_field(&signin.body, "next").unwrap(),
                    ),
                ],
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        assert_eq!(page.location(), uri);
        let prefilled = anonymous.get(&uri).await;
        assert!(
            prefilled
                .body
                .contains(&format!("value=\"{}\"", grant.user_code))
        );

        // Entered without the dash, in lower case: the device's name is shown
        // and nothing is linked before the owner approves.
        let typed = grant.user_code.replace('-', "").to_lowercase();
        let confirm = enter_code(&mut owner, &typed).await;
        assert_eq!(confirm.status, 200, "{}", confirm.body);
        assert!(confirm.body.contains("Living-room TV"));
        assert!(confirm.body.contains("Approve") && confirm.body.contains("Deny"));
        server.clock.advance_ms(15_000);
        assert_eq!(
            poll(&server, &grant.device_code).await,
            Err("authorization_pending".into())
        );
        let done = owner
            .post(
                "/device/confirm",
                &[
                    ("csrf", &confirm.csrf()),
                    ("user_code", &typed),
                    ("decision", "approve"),
                ],
            )
            .await;
        assert_eq!(done.status, 200, "{}", done.body);
        assert!(done.body.contains("Device approved"));

        // Approved: still no faster than the interval, then the credential once.
        assert_eq!(
            poll(&server, &grant.device_code).await,
            Err("slow_down".into())
        );
        server.clock.advance_ms(20_000);
        let credential = poll(&server, &grant.device_code).await.expect("credential");
        assert!(credential.starts_with("ssi_dev_"), "{credential}");
        assert!(
            credential.len() >= "ssi_dev_".len() + 43,
            "256-bit credential"
        );
        server.clock.advance_ms(60_000);
        assert_eq!(
            poll(&server, &grant.device_code).await,
            Err("invalid_grant".into())
        );

        let device = server
            .state
            .store
            .find_device_by_credential(&secret_hash(&credential))
            .await
            .unwrap()
            .expect("device registered");
        assert_eq!(
            device.account_id,
            account_id(&server, "owner@example.com").await
        );
        assert_eq!(device.name, "Living-room TV");
        assert!(device.ssi_enabled);
        let devices = owner.get("/account/devices").await;
        assert!(devices.body.contains("Living-room TV"));

        let audit = audit_text(&server).await;
        assert!(audit.contains("device.register"), "{audit}");
        assert!(audit.contains(&device.id), "{audit}");
        for secret in [&credential, &grant.device_code] {
            assert!(!audit.contains(secret.as_str()), "audit leaks a secret");
        }
    }
);

server_test!(
    redeemed_exactly_once_under_concurrency,
    |server: TestServer| async move {
        let mut owner = signed_up(&server, "owner@example.com").await;
        let grant = start_grant(&server, "Tablet").await;
        let done = decide(&mut owner, &grant.user_code, "approve").await;
        assert_eq!(done.status, 200, "{}", done.body);
        let polls: Vec<_> = (0..8)
            .map(|_| {
                let server_url = server.url("/oauth/token");
                let http = server.http.clone();
                let body = crate::accounts::form_encode(&[
                    ("grant_type", GRANT),
                    ("device_code", &grant.device_code),
                ]);
                tokio::spawn(async move {
                    http.post(server_url)
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(body)
                        .send()
                        .await
                        .unwrap()
                        .status()
                        .as_u16()
                })
            })
            .collect();
        let mut successes = 0;
        for task in polls {
            if task.await.unwrap() == 200 {
                successes += 1;
            }
        }
        assert_eq!(successes, 1);
        let pool = crate::accounts::db(&server).await;
        assert_eq!(
            crate::accounts::count(&pool, "SELECT COUNT(*) FROM devices").await,
            1
        );
    }
);

server_test!(expired_code, |server: TestServer| async move {
    let mut owner = signed_up(&server, "owner@example.com").await;
    let grant = start_grant(&server, "Car screen").await;
    server.clock.advance_ms(600_000);
    assert_eq!(
        poll(&server, &grant.device_code).await,
        Err("expired_token".into())
    );
    // The owner can no longer approve it either.
    let page = enter_code(&mut owner, &grant.user_code).await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("not valid or has expired"));
    assert_eq!(
        poll(&server, &grant.device_code).await,
        Err("expired_token".into())
    );
});

server_test!(denied_code, |server: TestServer| async move {
    let mut owner = signed_up(&server, "owner@example.com").await;
    let grant = start_grant(&server, "Unknown box").await;
    let done = decide(&mut owner, &grant.user_code, "deny").await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("Device denied"));
    assert_eq!(
        poll(&server, &grant.device_code).await,
        Err("access_denied".into())
    );
    server.clock.advance_ms(10_000);
    assert_eq!(
        poll(&server, &grant.device_code).await,
        Err("access_denied".into())
    );
    let pool = crate::accounts::db(&server).await;
    assert_eq!(
        crate::accounts::count(&pool, "SELECT COUNT(*) FROM devices").await,
        0
    );
    // A decided code cannot be approved afterwards.
    let page = enter_code(&mut owner, &grant.user_code).await;
    assert_eq!(page.status, 400);
});

#[derive(Debug)]
struct RequestCase {
    name: &'static str,
    content_type: &'static str,
    body: String,
    path: &'static str,
    status: u16,
    error: &'static str,
    mentions: &'static str,
}

async fn check_request(server: &TestServer, case: &RequestCase) {
    let response = server
        .http
        .post(server.url(case.path))
        .header("content-type", case.content_type)
        .body(case.body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), case.status, "{}", case.name);
    let body: Value = response.json().await.unwrap();
    if case.status == 200 {
        assert!(body["device_code"].is_string(), "{}: {body}", case.name);
    } else {
        assert_eq!(body["error"], case.error, "{}: {body}", case.name);
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains(case.mentions),
            "{}: {body}",
            case.name
        );
    }
}

server_test!(request_validation, |server: TestServer| async move {
    let form = "application/x-www-form-urlencoded";
    let json = "application/json";
    let authorize = "/oauth/device_authorization";
    let token = "/oauth/token";
    let cases = [
        RequestCase {
            name: "form",
            content_type: form,
            body: "device_name=Kitchen%20TV".into(),
            path: authorize,
            status: 200,
            error: "",
            mentions: "",
        },
        RequestCase {
            name: "64 chars",
            content_type: json,
            body: json!({"device_name": "é".repeat(64)}).to_string(),
            path: authorize,
            status: 200,
            error: "",
            mentions: "",
        },
        RequestCase {
            name: "65 chars",
            content_type: json,
            body: json!({"device_name": "é".repeat(65)}).to_string(),
            path: authorize,
            status: 400,
            error: "invalid_request",
            mentions: "device_name",
        },
        RequestCase {
            name: "empty name",
            content_type: form,
            body: "device_name=".into(),
            path: authorize,
            status: 400,
            error: "invalid_request",
            mentions: "device_name",
        },
        RequestCase {
            name: "no name",
            content_type: json,
            body: "{}".into(),
            path: authorize,
            status: 400,
            error: "invalid_request",
            mentions: "device_name",
        },
        RequestCase {
            name: "control char",
            content_type: json,
            body: json!({"device_name": "a\u{1b}b"}).to_string(),
            path: authorize,
            status: 400,
            error: "invalid_request",
            mentions: "device_name",
        },
        RequestCase {
            name: "not json",
            content_type: json,
            body: "{".into(),
            path: authorize,
            status: 400,
            error: "invalid_request",
            mentions: "",
        },
        RequestCase {
            name: "other type",
            content_type: "text/plain",
            body: "device_name=x".into(),
            path: authorize,
            status: 400,
            error: "invalid_request",
            mentions: "Content-Type",
        },
        RequestCase {
            name: "grant type",
            content_type: form,
            body: "grant_type=password&device_code=x".into(),
            path: token,
            status: 400,
            error: "unsupported_grant_type",
            mentions: "grant_type",
        },
        RequestCase {
            name: "no grant type",
            content_type: form,
            body: "device_code=x".into(),
            path: token,
            status: 400,
            error: "invalid_request",
            mentions: "grant_type",
        },
        RequestCase {
            name: "no device code",
            content_type: form,
            body: format!("grant_type={GRANT}"),
            path: token,
            status: 400,
            error: "invalid_request",
            mentions: "device_code",
        },
        RequestCase {
            name: "unknown code",
            content_type: json,
            body: json!({"grant_type": GRANT, "device_code": "ssi_dc_guess"}).to_string(),
            path: token,
            status: 400,
            error: "invalid_grant",
            mentions: "device_code",
        },
    ];
    for case in &cases {
        check_request(&server, case).await;
    }
});

server_test!(
    code_guessing_limited_per_account,
    |server: TestServer| async move {
        let mut owner = signed_up(&server, "owner@example.com").await;
        let grant = start_grant(&server, "Set-top box").await;
        for attempt in 0..10 {
            let page =
                enter_code(&mut owner, &format!("BCDF-GHJ{}", ["K", "L"][attempt % 2])).await;
            // (a guessed code could exist by chance only with odds of 2^-34)
            assert_eq!(page.status, 400, "attempt {attempt}");
        }
        // The 11th attempt is refused, even with the right code; on the
        // confirmation step too.
        let page = enter_code(&mut owner, &grant.user_code).await;
        assert_eq!(page.status, 429, "{}", page.body);
        assert!(page.body.contains("Too many wrong codes"), "{}", page.body);
        let csrf = owner.csrf().await;
        let page = owner
            .post(
                "/device/confirm",
                &[
                    ("csrf", &csrf),
                    ("user_code", &grant.user_code),
                    ("decision", "approve"),
                ],
            )
            .await;
        assert_eq!(page.status, 429);
        // The account recovers after the window.
        server.clock.advance_ms(15 * 60 * 1000 + 1);
        let grant = start_grant(&server, "Set-top box").await;
        let done = decide(&mut owner, &grant.user_code, "approve").await;
        assert_eq!(done.status, 200, "{}", done.body);
    }
);

server_test!(
    code_guessing_limited_per_address,
    |server: TestServer| async move {
        let grant = start_grant(&server, "Projector").await;
        for n in 0..3 {
            let mut guesser = signed_up(&server, &format!("guesser{n}@example.com")).await;
            for _ in 0..10 {
                assert_eq!(enter_code(&mut guesser, "ZZZZ-ZZZZ").await.status, 400);
            }
        }
        // 30 wrong codes from this address: a fresh account is refused too.
        let mut fresh = signed_up(&server, "fresh@example.com").await;
        let page = enter_code(&mut fresh, &grant.user_code).await;
        assert_eq!(page.status, 429, "{}", page.body);
        assert_eq!(
            poll(&server, &grant.device_code).await,
            Err("authorization_pending".into())
        );
    }
);

server_test!(
    deregistration_revokes_at_once,
    |server: TestServer| async move {
        let mut owner = signed_up(&server, "owner@example.com").await;
        let credential = register_device(&server, &mut owner, "Old TV").await;
        let device = server
            .state
            .store
            .find_device_by_credential(&secret_hash(&credential))
            .await
            .unwrap()
            .unwrap();
        let whoami = |server: &TestServer| {
            server
                .http
                .get(server.url("/v1/device/whoami"))
                .bearer_auth(&credential)
                .send()
        };
        let before = whoami(&server).await.unwrap().status().as_u16();

        let csrf = owner.csrf().await;
        let page = owner
            .post(
                &format!("/account/devices/{}/delete", device.id),
                &[("csrf", &csrf)],
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
        assert!(
            server
                .state
                .store
                .find_device_by_credential(&secret_hash(&credential))
                .await
                .unwrap()
                .is_none(),
            "the credential must stop working at once"
        );
        // Through a device-authenticated route: accepted before, refused at once after.
        assert_eq!(before, 200);
        assert_eq!(whoami(&server).await.unwrap().status(), 401);
        assert!(!owner.get("/account/devices").await.body.contains("Old TV"));
        let audit = audit_text(&server).await;
        assert!(audit.contains("device.deregister"), "{audit}");
        assert!(!audit.contains(&credential), "audit leaks the credential");
        // A second deregistration finds nothing.
        let page = owner
            .post(
                &format!("/account/devices/{}/delete", device.id),
                &[("csrf", &csrf)],
            )
            .await;
        assert_eq!(page.status, 404);
    }
);
