//! The device API (`/v1/device/...`): linking, sign-in tokens, availability,
//! metrics, and the attacks of DESIGN.md section 10 that reach it.

use std::sync::atomic::Ordering;

use reqwest::Method;
use serde_json::{Value, json};
use ssi_server::clock::Clock;
use ssi_token::Random;

use crate::fixtures::{
    Partner, TestApp, TestDevice, account_with_device, add_app, count, db, developer_app,
    device_call, device_post, exec, insert_app_key,
};
use crate::harness::{Backend, TEST_NOW_MS, TestServer};

const DAY_MS: i64 = 86_400_000;

fn now_secs(server: &TestServer) -> i64 {
    server.clock.now_ms().div_euclid(1000)
}

fn app_idp(app: &TestApp) -> Value {
    json!({"packageId": app.package_id, "identityProviderName": app.idp_name})
}

async fn user_and_links(server: &TestServer, device: &TestDevice, app: &TestApp) -> Value {
    let (status, body) =
        device_post(server, device, "/v1/device/user-and-links", &app_idp(app)).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn amazon_user_id(server: &TestServer, device: &TestDevice, app: &TestApp) -> String {
    let body = user_and_links(server, device, app).await;
    assert_eq!(body["requestStatus"], "SUCCESSFUL", "{body}");
    body["amazonUserId"]
        .as_str()
        .expect("amazonUserId")
        .to_owned()
}

/// The body of `POST /v1/device/links` for a link the partner issued now.
async fn link_body(
    server: &TestServer,
    device: &TestDevice,
    app: &TestApp,
    partner: &Partner,
    partner_user_id: &str,
) -> Value {
    let amazon = amazon_user_id(server, device, app).await;
    let issued = partner.issue_link(app, partner_user_id, &amazon, now_secs(server));
    json!({
        "packageId": app.package_id,
        "request": partner.link_request(partner_user_id, &issued),
    })
}

/// Links `partner_user_id` and returns the response.
async fn create_link(
    server: &TestServer,
    device: &TestDevice,
    app: &TestApp,
    partner: &Partner,
    partner_user_id: &str,
) -> Value {
    let body = link_body(server, device, app, partner, partner_user_id).await;
    let (status, response) = device_post(server, device, "/v1/device/links", &body).await;
    assert_eq!(status, 200, "{response}");
    response
}

async fn new_link_id(
    server: &TestServer,
    device: &TestDevice,
    app: &TestApp,
    partner: &Partner,
    partner_user_id: &str,
) -> String {
    let response = create_link(server, device, app, partner, partner_user_id).await;
    assert_eq!(response["requestStatus"], "SUCCESSFUL", "{response}");
    assert_eq!(response["successCode"], "LINK_ESTABLISHED", "{response}");
    response["linkId"].as_str().expect("linkId").to_owned()
}

async fn lookup(
    server: &TestServer,
    device: &TestDevice,
    app: &TestApp,
    partner_user_id: &str,
) -> Value {
    let (status, body) = device_post(
        server,
        device,
        "/v1/device/links/lookup",
        &json!({
            "packageId": app.package_id,
            "identityProviderName": app.idp_name,
            "partnerUserId": partner_user_id,
        }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn token_for(
    server: &TestServer,
    device: &TestDevice,
    app: &TestApp,
    link_id: &str,
) -> Value {
    let (status, body) = device_post(
        server,
        device,
        &format!("/v1/device/links/{link_id}/token"),
        &app_idp(app),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

server_test!(
    user_and_links_on_an_empty_account,
    |server: TestServer| async move {
        let device = account_with_device(&server).await;
        let app = developer_app(&server, "com.example.one", "idp.one").await;
        let other = developer_app(&server, "com.example.two", "idp.two").await;

        let body = user_and_links(&server, &device, &app).await;
        assert_eq!(body["requestStatus"], "SUCCESSFUL", "{body}");
        assert_eq!(body["links"], json!([]));
        let amazon = body["amazonUserId"].as_str().unwrap().to_owned();

        // Stable per (developer, account), on every device of the account...
        assert_eq!(amazon_user_id(&server, &device, &app).await, amazon);
        let second_device = crate::fixtures::device(&server, &device.account_id).await;
        assert_eq!(amazon_user_id(&server, &second_device, &app).await, amazon);
        // ...and different for another developer, and for another account.
        assert_ne!(amazon_user_id(&server, &device, &other).await, amazon);
        let stranger = account_with_device(&server).await;
        assert_ne!(amazon_user_id(&server, &stranger, &app).await, amazon);
        assert!(!amazon.contains(&device.account_id));

        let (status, whoami) =
            device_call(&server, &device, Method::GET, "/v1/device/whoami", None).await;
        assert_eq!(status, 200);
        assert_eq!(
            whoami,
            json!({"deviceId": device.id, "deviceName": "Living room TV", "ssiEnabled": true})
        );
    }
);

server_test!(
    link_then_sign_in_with_verifiable_tokens,
    |server: TestServer| async move {
        let device = account_with_device(&server).await;
        let app = developer_app(&server, "com.example.video", "idp.video").await;
        let partner = Partner::new(&app.idp_name);
        let amazon = amazon_user_id(&server, &device, &app).await;
        let issuer = server.config.issuer.clone();

        // Linking: not linked yet, the sealed key opens, the owner allows.
        let found = lookup(&server, &device, &app, "user-1").await;
        assert_eq!(found, json!({"requestStatus": "SUCCESSFUL"}));
        let issued = partner.issue_link(&app, "user-1", &amazon, now_secs(&server));
        let (status, precheck) = device_post(
            &server,
            &device,
            "/v1/device/links/precheck",
            &json!({
                "packageId": app.package_id,
                "identityProviderName": app.idp_name,
                "linkSigningKey": issued.sealed_signing_key,
            }),
        )
        .await;
        assert_eq!(
            (status, precheck),
            (200, json!({"requestStatus": "SUCCESSFUL"}))
        );
        let body = json!({
            "packageId": app.package_id,
            "request": partner.link_request("user-1", &issued),
        });
        let (_, created) = device_post(&server, &device, "/v1/device/links", &body).await;
        assert_eq!(created["requestStatus"], "SUCCESSFUL", "{created}");
        assert_eq!(created["successCode"], "LINK_ESTABLISHED");
        let link_id = created["linkId"].as_str().unwrap().to_owned();
        assert_eq!(
            lookup(&server, &device, &app, "user-1").await["linkId"],
            link_id
        );

        // The same request again, and a new link token for the same partner
        // user: the existing link, no second one.
        let (_, again) = device_post(&server, &device, "/v1/device/links", &body).await;
        assert_eq!(again["successCode"], "LINK_ALREADY_EXISTS", "{again}");
        assert_eq!(again["linkId"], link_id);
        let fresh = create_link(&server, &device, &app, &partner, "user-1").await;
        assert_eq!(fresh["successCode"], "LINK_ALREADY_EXISTS");
        assert_eq!(fresh["linkId"], link_id);

        // Sign-in: the link with a fresh token the partner verifies.
        server.clock.advance_ms(3_600_000);
        let body = user_and_links(&server, &device, &app).await;
        assert_eq!(body["amazonUserId"], amazon);
        let links = body["links"].as_array().unwrap();
        assert_eq!(links.len(), 1, "{body}");
        let link = &links[0];
        assert_eq!(link["linkId"], link_id);
        assert_eq!(link["amazonUserId"], amazon);
        assert_eq!(link["partnerUserId"], "user-1");
        assert_eq!(link["identityProviderName"], app.idp_name);
        assert_eq!(link["linkedTimestamp"], TEST_NOW_MS.to_string());
        let verified = partner
            .verify(&link["ssiToken"], &issuer, now_secs(&server))
            .expect("the partner verifies the SSI token");
        assert_eq!(verified.platform_user_id, amazon, "sub = amazonUserId");
        assert_eq!(verified.partner_user_id, "user-1");
        assert_eq!(verified.link_id, link_id);
        assert_eq!(verified.issued_at, now_secs(&server));
        assert_eq!(verified.ctx["plan"], "gold");
        // Not for another IDP, not for another issuer.
        let other_idp = partner.for_idp("idp.other");
        assert!(
            other_idp
                .verify(&link["ssiToken"], &issuer, now_secs(&server))
                .is_err()
        );
        assert!(
            partner
                .verify(&link["ssiToken"], "https://evil.example", now_secs(&server))
                .is_err()
        );

        // Another device of the account sees the link; `dev` differs.
        let second = device_of(&server, &device).await;
        let body = user_and_links(&server, &second, &app).await;
        let on_second = partner
            .verify(&body["links"][0]["ssiToken"], &issuer, now_secs(&server))
            .unwrap();
        assert_eq!(on_second.link_id, link_id);
        assert_ne!(on_second.device_id, verified.device_id);

        // LOGIN_SELECTED: a fresh token for the chosen link, and a sign-in.
        let selected = token_for(&server, &device, &app, &link_id).await;
        assert_eq!(selected["requestStatus"], "SUCCESSFUL", "{selected}");
        let minted = partner
            .verify(&selected["ssiToken"], &issuer, now_secs(&server))
            .unwrap();
        assert_eq!(minted.link_id, link_id);
        assert_ne!(minted.jti, verified.jti);

        let db = db(&server).await;
        let sign_ins = "SELECT COUNT(*) FROM sign_ins WHERE account_id = $1 AND link_id = $2 \
                        AND device_id = $3 AND app_id = $4";
        assert_eq!(
            count(
                &db,
                sign_ins,
                &[&device.account_id, &link_id, &device.id, &app.app_id]
            )
            .await,
            1
        );
        let enable = "SELECT COUNT(*) FROM metric_events WHERE source = 'server' \
                      AND event = 'ENABLE_SSI' AND app_id = $1 AND idempotency_key = $2";
        let key = format!("enable:{link_id}");
        assert_eq!(count(&db, enable, &[&app.app_id, &key]).await, 1);
        let metrics = &server.state.metrics;
        assert_eq!(metrics.links_created.load(Ordering::Relaxed), 1);
        // Three listings with the link (one while re-linking, one on each
        // device) and one selection.
        assert_eq!(metrics.tokens_minted.load(Ordering::Relaxed), 4);

        // A second app of the same developer bound to the same IDP shares the link.
        let sibling = add_app(
            &server,
            &app.developer_id,
            "com.example.video.kids",
            &app.idp_id,
            &app.idp_name,
        )
        .await;
        let body = user_and_links(&server, &device, &sibling).await;
        assert_eq!(body["amazonUserId"], amazon);
        assert_eq!(body["links"][0]["linkId"], link_id);
    }
);

async fn device_of(server: &TestServer, device: &TestDevice) -> TestDevice {
    crate::fixtures::device(server, &device.account_id).await
}

/// Sends the same link request from `count` tasks at once, spread over the
/// given servers; returns every response.
async fn race(
    servers: &[&TestServer],
    device: &TestDevice,
    body: &Value,
    count: usize,
) -> Vec<Value> {
    let tasks: Vec<_> = (0..count)
        .map(|i| {
            let server = servers[i % servers.len()];
            let request = server
                .http
                .post(server.url("/v1/device/links"))
                .header("authorization", device.bearer())
                .json(body);
            tokio::spawn(async move {
                let response = request.send().await.expect("request");
                assert_eq!(response.status(), 200);
                response.json::<Value>().await.expect("json")
            })
        })
        .collect();
    let mut out = Vec::with_capacity(count);
    for task in tasks {
        out.push(task.await.expect("task"));
    }
    out
}

/// One link results, every caller gets its id, exactly one established it;
/// one `ENABLE_SSI` event and one audit entry.
async fn assert_one_link(server: &TestServer, device: &TestDevice, responses: &[Value]) {
    let link_id = responses[0]["linkId"].as_str().expect("linkId").to_owned();
    for response in responses {
        assert_eq!(response["requestStatus"], "SUCCESSFUL", "{response}");
        assert_eq!(
            response["linkId"], link_id,
            "every caller gets the one link"
        );
    }
    let established = responses
        .iter()
        .filter(|r| r["successCode"] == "LINK_ESTABLISHED")
        .count();
    assert_eq!(established, 1, "{responses:?}");
    let db = db(server).await;
    let account = device.account_id.as_str();
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM links WHERE account_id = $1",
            &[account]
        )
        .await,
        1
    );
    let enable = "SELECT COUNT(*) FROM metric_events WHERE event = 'ENABLE_SSI'";
    assert_eq!(count(&db, enable, &[]).await, 1);
    let audit = "SELECT COUNT(*) FROM audit_log WHERE action = 'link.create' AND subject = $1";
    assert_eq!(count(&db, audit, &[&link_id]).await, 1);
}

server_test!(
    concurrent_identical_link_requests_make_one_link,
    |server: TestServer| async move {
        let device = account_with_device(&server).await;
        let app = developer_app(&server, "com.example.race", "idp.race").await;
        let partner = Partner::new(&app.idp_name);
        let body = link_body(&server, &device, &app, &partner, "racer").await;
        let responses = race(&[&server], &device, &body, 20).await;
        assert_one_link(&server, &device, &responses).await;
    }
);

/// Two server nodes (two states, two listeners) on one PostgreSQL database,
/// with the same master keys: 20 identical requests spread over both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_identical_link_requests_on_two_nodes_make_one_link() {
    let master_keys =
        ssi_server::secrets::MasterKeys::generate(1, &ssi_server::random::SystemRandomSource)
            .serialize();
    let keys = master_keys.clone();
    let first = TestServer::start_with(Backend::Postgres, move |config| {
        config.master_keys = Some(keys);
    })
    .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = first.config.clone();
    config.listen = listener.local_addr().unwrap();
    config.master_keys = Some(master_keys);
    let dir = tempfile::tempdir().unwrap();
    config.data_dir = dir.path().to_owned();
    let second = TestServer::start_on(
        Backend::Postgres,
        config,
        listener,
        dir,
        first.clock.clone(),
    )
    .await;
    assert_eq!(
        first.config.database_url, second.config.database_url,
        "one database"
    );

    let device = account_with_device(&first).await;
    let app = developer_app(&first, "com.example.nodes", "idp.nodes").await;
    let partner = Partner::new(&app.idp_name);
    let amazon = amazon_user_id(&first, &device, &app).await;
    assert_eq!(amazon_user_id(&second, &device, &app).await, amazon);
    let body = link_body(&first, &device, &app, &partner, "racer").await;
    let responses = race(&[&first, &second], &device, &body, 20).await;
    assert_one_link(&first, &device, &responses).await;

    // Either node mints tokens for the link the other may have stored.
    for server in [&first, &second] {
        let body = user_and_links(server, &device, &app).await;
        let verified = partner
            .verify(
                &body["links"][0]["ssiToken"],
                &server.config.issuer,
                now_secs(server),
            )
            .expect("verifies");
        assert_eq!(verified.link_id, responses[0]["linkId"].as_str().unwrap());
    }
}

/// The sealed-key vectors of `spec/vectors/sealed-keys.json`, run through the
/// server's precheck with the vectors' app keys registered to an app.
fn sealed_key_vectors() -> Vec<Value> {
    let (_, text) = ssi_token::vectors::generate()
        .into_iter()
        .find(|(name, _)| *name == "sealed-keys.json")
        .expect("sealed-keys.json");
    let file: Value = serde_json::from_str(&text).unwrap();
    file["cases"].as_array().unwrap().clone()
}

async fn precheck(server: &TestServer, device: &TestDevice, app: &TestApp, sealed: &str) -> Value {
    let (status, body) = device_post(
        server,
        device,
        "/v1/device/links/precheck",
        &json!({
            "packageId": app.package_id,
            "identityProviderName": app.idp_name,
            "linkSigningKey": sealed,
        }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

server_test!(
    sealed_key_precheck_and_link_creation_refuse_bad_keys,
    |server: TestServer| async move {
        let device = account_with_device(&server).await;
        let app = developer_app(&server, "com.example.sealed", "idp.sealed").await;
        let other = developer_app(&server, "com.example.other", "idp.other").await;
        let db = db(&server).await;
        let now = server.clock.now_ms();

        // Every vector, with the vectors' app keys registered to `app`.
        let cases = sealed_key_vectors();
        let mut kids = std::collections::BTreeSet::new();
        for case in &cases {
            for jwk in case["app_keys"].as_array().unwrap() {
                let key = ssi_token::AppKeyPair::from_private_jwk_json(&jwk.to_string()).unwrap();
                if kids.insert(key.kid().to_owned()) {
                    let d = ssi_server::encoding::b64_decode(jwk["d"].as_str().unwrap()).unwrap();
                    let d: [u8; 32] = d.try_into().unwrap();
                    insert_app_key(&server, &db, &app.app_id, &d, None, None).await;
                }
            }
        }
        for case in &cases {
            let want = if case["expected"]["valid"] == true {
                "SUCCESSFUL"
            } else {
                case["expected"]["error"].as_str().unwrap()
            };
            let body = precheck(&server, &device, &app, case["sealed_key"].as_str().unwrap()).await;
            assert_eq!(body["requestStatus"], want, "vector {}", case["name"]);
        }

        // Sealed to another app's key, to a retired key (within and after its
        // grace), and garbage.
        let amazon = amazon_user_id(&server, &device, &app).await;
        let partner = Partner::new(&app.idp_name);
        let sealed_to = |target: &TestApp| {
            partner
                .issue_link(target, "user-1", &amazon, now_secs(&server))
                .sealed_signing_key
        };
        let (_, retiring_d) = crate::fixtures::app_key_pair();
        let retiring_key = insert_app_key(
            &server,
            &db,
            &app.app_id,
            &retiring_d,
            Some(now - DAY_MS),
            Some(now + DAY_MS),
        )
        .await;
        let (_, expired_d) = crate::fixtures::app_key_pair();
        let expired_key = insert_app_key(
            &server,
            &db,
            &app.app_id,
            &expired_d,
            Some(now - 2 * DAY_MS),
            Some(now - 1),
        )
        .await;
        let with_key = |key: ssi_token::AppKeyPair| TestApp {
            developer_id: app.developer_id.clone(),
            app_id: app.app_id.clone(),
            package_id: app.package_id.clone(),
            idp_id: app.idp_id.clone(),
            idp_name: app.idp_name.clone(),
            app_key: key,
        };
        let retiring = with_key(retiring_key);
        let expired = with_key(expired_key);
        let table: Vec<(&str, String, &str)> = vec![
            ("current key", sealed_to(&app), "SUCCESSFUL"),
            (
                "retired key in its grace",
                sealed_to(&retiring),
                "SUCCESSFUL",
            ),
            (
                "expired key",
                sealed_to(&expired),
                "INVALID_LINK_SIGNING_KEY_ENCRYPTION",
            ),
            (
                "another app's key",
                sealed_to(&other),
                "INVALID_LINK_SIGNING_KEY_ENCRYPTION",
            ),
            (
                "not a JWE",
                "a.b.c.d.e".to_owned(),
                "INVALID_LINK_SIGNING_KEY_ENCRYPTION",
            ),
        ];
        for (name, sealed, want) in &table {
            let body = precheck(&server, &device, &app, sealed).await;
            assert_eq!(body["requestStatus"], *want, "{name}");
        }

        // Link creation unseals again and stores nothing for a bad key.
        let xy_mismatch = cases.iter().find(|c| c["name"] == "xy-mismatch").unwrap()["sealed_key"]
            .as_str()
            .unwrap()
            .to_owned();
        for (sealed, want) in [
            (sealed_to(&other), "INVALID_LINK_SIGNING_KEY_ENCRYPTION"),
            (xy_mismatch, "INVALID_LINK_SIGNING_KEY"),
        ] {
            let mut body = link_body(&server, &device, &app, &partner, "user-1").await;
            body["request"]["linkSigningKey"] = json!(sealed);
            let (status, response) = device_post(&server, &device, "/v1/device/links", &body).await;
            assert_eq!(status, 200);
            assert_eq!(response["requestStatus"], want, "{response}");
            assert!(response.get("linkId").is_none());
        }
        assert_eq!(count(&db, "SELECT COUNT(*) FROM links", &[]).await, 0);
        assert_eq!(
            count(&db, "SELECT COUNT(*) FROM metric_events", &[]).await,
            0
        );
    }
);

server_test!(
    devices_and_apps_cannot_reach_other_accounts_or_idps,
    |server: TestServer| async move {
        let alice = account_with_device(&server).await;
        let bob = account_with_device(&server).await;
        let x = developer_app(&server, "com.x.app", "idp.x").await;
        let y = developer_app(&server, "com.y.app", "idp.y").await;
        let partner_x = Partner::new(&x.idp_name);
        let link_a = new_link_id(&server, &alice, &x, &partner_x, "alice").await;

        // Bob's device never sees Alice's link, cannot find it or mint for it.
        let body = user_and_links(&server, &bob, &x).await;
        assert_eq!(body["requestStatus"], "SUCCESSFUL");
        assert_eq!(body["links"], json!([]));
        assert!(
            lookup(&server, &bob, &x, "alice")
                .await
                .get("linkId")
                .is_none()
        );
        let stolen = token_for(&server, &bob, &x, &link_a).await;
        assert_eq!(stolen["requestStatus"], "FAILURE", "{stolen}");
        assert!(stolen.get("ssiToken").is_none());

        // App y (developer Y) asking for X's IDP, or for X's link.
        let cross = json!({"packageId": y.package_id, "identityProviderName": x.idp_name});
        let (_, body) = device_post(&server, &alice, "/v1/device/user-and-links", &cross).await;
        assert_eq!(body["requestStatus"], "FAILURE", "{body}");
        assert!(body.get("links").is_none() && body.get("amazonUserId").is_none());
        assert!(!body.to_string().contains(&link_a));
        for request in [&cross, &app_idp(&y)] {
            let (_, body) = device_post(
                &server,
                &alice,
                &format!("/v1/device/links/{link_a}/token"),
                request,
            )
            .await;
            assert_eq!(body["requestStatus"], "FAILURE", "{body}");
            assert!(body.get("ssiToken").is_none());
        }
        let cross_lookup = json!({
            "packageId": y.package_id, "identityProviderName": x.idp_name, "partnerUserId": "alice",
        });
        let (_, body) =
            device_post(&server, &alice, "/v1/device/links/lookup", &cross_lookup).await;
        assert_eq!(body["requestStatus"], "FAILURE");
        assert!(body.get("linkId").is_none());

        // App y creating a link under X's IDP: refused, nothing stored.
        let mut body = link_body(&server, &alice, &x, &partner_x, "mallory").await;
        body["packageId"] = json!(y.package_id);
        let (_, response) = device_post(&server, &alice, "/v1/device/links", &body).await;
        assert_eq!(response["requestStatus"], "FAILURE", "{response}");

        // An unknown app.
        let unknown = json!({"packageId": "com.unknown.app", "identityProviderName": x.idp_name});
        let (_, body) = device_post(&server, &alice, "/v1/device/user-and-links", &unknown).await;
        assert_eq!(body["requestStatus"], "FAILURE");

        let db = db(&server).await;
        assert_eq!(count(&db, "SELECT COUNT(*) FROM links", &[]).await, 1);
        assert_eq!(count(&db, "SELECT COUNT(*) FROM sign_ins", &[]).await, 0);
    }
);

server_test!(
    forged_unknown_and_deregistered_credentials_are_refused,
    |server: TestServer| async move {
        let device = account_with_device(&server).await;
        let gone = account_with_device(&server).await;
        let db = db(&server).await;
        exec(&db, "DELETE FROM devices WHERE id = $1", &[&gone.id]).await;
        let mut forged = [0u8; 32];
        ssi_token::SystemRandom.fill(&mut forged);
        let forged = ssi_server::encoding::b64(&forged);
        let headers: Vec<(&str, Option<String>)> = vec![
            ("no header", None),
            ("unknown credential", Some(format!("Bearer {forged}"))),
            ("deregistered device", Some(gone.bearer())),
            ("credential without scheme", Some(device.credential.clone())),
            ("basic scheme", Some(format!("Basic {}", device.credential))),
            ("empty bearer", Some("Bearer ".to_owned())),
        ];
        let routes = [
            (Method::GET, "/v1/device/whoami"),
            (Method::POST, "/v1/device/user-and-links"),
            (Method::POST, "/v1/device/links/lookup"),
            (Method::POST, "/v1/device/links/precheck"),
            (Method::POST, "/v1/device/links"),
            (Method::POST, "/v1/device/links/lnk_x/token"),
            (Method::POST, "/v1/device/consent-denied"),
            (Method::POST, "/v1/device/metrics"),
            (Method::GET, "/v1/device/settings?packageId=com.x.app"),
            (Method::PUT, "/v1/device/settings"),
        ];
        for (method, path) in &routes {
            for (name, header) in &headers {
                let mut request = server.http.request(method.clone(), server.url(path));
                if let Some(header) = header {
                    request = request.header("authorization", header);
                }
                if *method != Method::GET {
                    request = request.json(&json!({"ssiEnabled": false}));
                }
                let response = request.send().await.unwrap();
                assert_eq!(response.status(), 401, "{method} {path}: {name}");
            }
        }
        let (status, _) =
            device_call(&server, &device, Method::GET, "/v1/device/whoami", None).await;
        assert_eq!(status, 200, "the real credential still works");
        assert_eq!(count(&db, "SELECT COUNT(*) FROM audit_log", &[]).await, 0);
    }
);

server_test!(
    oversized_and_malformed_input_is_refused_and_nothing_stored,
    |server: TestServer| async move {
        let device = account_with_device(&server).await;
        let app = developer_app(&server, "com.example.input", "idp.input").await;
        let partner = Partner::new(&app.idp_name);
        let good = link_body(&server, &device, &app, &partner, "user-1").await;
        let with = |pointer: &str, value: Value| {
            let mut body = good.clone();
            *body.pointer_mut(pointer).unwrap() = value;
            body
        };
        // (name, path, body, status, text the message must contain)
        let cases: Vec<(&str, &str, String, u16, &str)> = vec![
            (
                "oversized body",
                "/v1/device/links",
                with("/request/userLoginName", json!("x".repeat(70_000))).to_string(),
                413,
                "",
            ),
            (
                "not JSON",
                "/v1/device/links",
                "{not json".to_owned(),
                400,
                "invalid JSON",
            ),
            (
                "wrong type",
                "/v1/device/links",
                with("/request/partnerUserId", json!(5)).to_string(),
                400,
                "request.partnerUserId",
            ),
            (
                "missing field",
                "/v1/device/links",
                json!({"packageId": app.package_id}).to_string(),
                400,
                "request",
            ),
            (
                "login name too long",
                "/v1/device/links",
                with("/request/userLoginName", json!("n".repeat(65))).to_string(),
                400,
                "request.userLoginName: must be 1-64 characters",
            ),
            (
                "wrong link token schema",
                "/v1/device/links",
                with("/request/linkToken/schema", json!("LINK-TOKEN-2.0")).to_string(),
                400,
                "request.linkToken.schema",
            ),
            (
                "sealed key too long",
                "/v1/device/links",
                with("/request/linkSigningKey", json!("k".repeat(4097))).to_string(),
                400,
                "request.linkSigningKey: must be 1-4096 bytes",
            ),
            (
                "bad package id",
                "/v1/device/links",
                with("/packageId", json!("Not A Package")).to_string(),
                400,
                "packageId",
            ),
            (
                "bad IDP name",
                "/v1/device/user-and-links",
                json!({"packageId": app.package_id, "identityProviderName": "bad name"})
                    .to_string(),
                400,
                "identityProviderName: must be 1-64 characters of [A-Za-z0-9._-]",
            ),
            (
                "bad link id in the path",
                "/v1/device/links/not.a.link/token",
                app_idp(&app).to_string(),
                400,
                "linkId",
            ),
            (
                "empty metrics batch",
                "/v1/device/metrics",
                json!({"events": []}).to_string(),
                400,
                "events: must have 1-500 entries",
            ),
        ];
        for (name, path, body, want_status, want_text) in cases {
            let response = server
                .http
                .post(server.url(path))
                .header("authorization", device.bearer())
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            assert_eq!(status, want_status, "{name}: {text}");
            assert!(text.contains(want_text), "{name}: {text}");
        }
        let response = server
            .http
            .post(server.url("/v1/device/links"))
            .header("authorization", device.bearer())
            .body(good.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 415, "JSON only");
        let (status, body) = device_call(
            &server,
            &device,
            Method::GET,
            "/v1/device/settings?packageId=",
            None,
        )
        .await;
        assert_eq!(status, 400, "{body}");
        let db = db(&server).await;
        for table in ["links", "metric_events", "audit_log", "sign_ins"] {
            let sql = format!("SELECT COUNT(*) FROM {table}");
            assert_eq!(count(&db, &sql, &[]).await, 0, "{table}");
        }
    }
);

/// How a case switches things off before the calls.
#[derive(Clone, Copy, Debug)]
enum Switch {
    Nothing,
    AccountOff,
    DeviceOff,
    AppOff,
    Guest,
    Child,
    RegionUnavailable,
    AppBlocked,
}

server_test!(
    switches_and_operator_settings_decide_availability,
    |server: TestServer| async move {
        let app = developer_app(&server, "com.example.switch", "idp.switch").await;
        let blocked = add_app(
            &server,
            &app.developer_id,
            "com.example.blocked",
            &app.idp_id,
            &app.idp_name,
        )
        .await;
        let db = db(&server).await;
        exec(
            &db,
            "UPDATE apps SET blocked = TRUE WHERE id = $1",
            &[&blocked.app_id],
        )
        .await;
        exec(
            &db,
            "INSERT INTO region_settings (region, ssi_available, updated_at) VALUES ('zz', FALSE, 0)",
            &[],
        )
        .await;
        let partner = Partner::new(&app.idp_name);

        let check = |switch: Switch, want: &'static str| {
            let server = &server;
            let db = &db;
            let (app, blocked, partner) = (&app, &blocked, &partner);
            async move {
                let device = account_with_device(server).await;
                // A link made while everything was on.
                let link_id = new_link_id(server, &device, app, partner, "existing").await;
                let mut new_link = link_body(server, &device, app, partner, "new-user").await;
                let account = device.account_id.as_str();
                let mut target = app;
                match switch {
                    Switch::Nothing => {}
                    Switch::AccountOff => {
                        exec(
                            db,
                            "UPDATE accounts SET ssi_enabled = FALSE WHERE id = $1",
                            &[account],
                        )
                        .await;
                    }
                    Switch::DeviceOff => {
                        let (status, body) = device_call(
                            server,
                            &device,
                            Method::PUT,
                            "/v1/device/settings",
                            Some(&json!({"ssiEnabled": false})),
                        )
                        .await;
                        assert_eq!(status, 200);
                        assert_eq!(body["ssiEnabled"], false);
                    }
                    Switch::AppOff => {
                        exec(
                            db,
                            "INSERT INTO app_settings (account_id, app_id, ssi_enabled, updated_at) \
                             VALUES ($1, $2, FALSE, 0)",
                            &[account, &app.app_id],
                        )
                        .await;
                    }
                    Switch::Guest | Switch::Child => {
                        let mode = if matches!(switch, Switch::Guest) {
                            "guest"
                        } else {
                            "child"
                        };
                        exec(
                            db,
                            "UPDATE devices SET mode = $1 WHERE id = $2",
                            &[mode, &device.id],
                        )
                        .await;
                    }
                    Switch::RegionUnavailable => {
                        exec(
                            db,
                            "UPDATE accounts SET region = 'zz' WHERE id = $1",
                            &[account],
                        )
                        .await;
                    }
                    Switch::AppBlocked => {
                        target = blocked;
                        new_link["packageId"] = json!(blocked.package_id);
                    }
                }
                let what = format!("{switch:?}");
                let body = user_and_links(server, &device, target).await;
                assert_eq!(body["requestStatus"], want, "{what}: user-and-links {body}");
                if want != "SUCCESSFUL" {
                    assert!(body.get("links").is_none(), "{what}");
                    assert!(body["message"].is_string(), "{what}");
                }
                let found = lookup(server, &device, target, "existing").await;
                assert_eq!(found["requestStatus"], want, "{what}: lookup");
                let token = token_for(server, &device, target, &link_id).await;
                assert_eq!(token["requestStatus"], want, "{what}: token");
                let path = format!("/v1/device/settings?packageId={}", target.package_id);
                let (_, settings) = device_call(server, &device, Method::GET, &path, None).await;
                assert_eq!(settings["requestStatus"], want, "{what}: settings");
                assert_eq!(settings["appName"], format!("App {}", target.package_id));
                assert_eq!(settings["hasIcon"], false);
                assert_eq!(settings["identityProviderName"], target.idp_name.as_str());
                let (_, response) =
                    device_post(server, &device, "/v1/device/links", &new_link).await;
                assert_eq!(response["requestStatus"], want, "{what}: create");
                let links = count(
                    db,
                    "SELECT COUNT(*) FROM links WHERE account_id = $1",
                    &[account],
                )
                .await;
                assert_eq!(links, if want == "SUCCESSFUL" { 2 } else { 1 }, "{what}");
            }
        };
        check(Switch::Nothing, "SUCCESSFUL").await;
        check(Switch::AccountOff, "FEATURE_TURNED_OFF").await;
        check(Switch::DeviceOff, "FEATURE_TURNED_OFF").await;
        check(Switch::AppOff, "FEATURE_TURNED_OFF").await;
        check(Switch::Guest, "NOT_AVAILABLE").await;
        check(Switch::Child, "NOT_AVAILABLE").await;
        check(Switch::RegionUnavailable, "NOT_AVAILABLE").await;
        check(Switch::AppBlocked, "NOT_AVAILABLE").await;

        // The device switch is audited and can be turned back on.
        let audit = "SELECT COUNT(*) FROM audit_log WHERE action = 'settings.device'";
        assert_eq!(count(&db, audit, &[]).await, 1);
        // Unknown app: FAILURE, no name.
        let device = account_with_device(&server).await;
        let (_, settings) = device_call(
            &server,
            &device,
            Method::GET,
            "/v1/device/settings?packageId=com.unknown.app",
            None,
        )
        .await;
        assert_eq!(settings["requestStatus"], "FAILURE");
        assert!(settings.get("appName").is_none());
        assert!(settings.get("identityProviderName").is_none());
        for enabled in [false, true] {
            let (_, body) = device_call(
                &server,
                &device,
                Method::PUT,
                "/v1/device/settings",
                Some(&json!({ "ssiEnabled": enabled })),
            )
            .await;
            assert_eq!(body["ssiEnabled"], enabled);
            let (_, whoami) =
                device_call(&server, &device, Method::GET, "/v1/device/whoami", None).await;
            assert_eq!(whoami["ssiEnabled"], enabled);
        }
    }
);

server_test!(
    metrics_count_each_event_once_and_name_rejected_fields,
    |server: TestServer| async move {
        let device = account_with_device(&server).await;
        let other_device = account_with_device(&server).await;
        let app = developer_app(&server, "com.example.metrics", "idp.metrics").await;
        let now = server.clock.now_ms();
        let event = |id: &str, event: &str, timestamp: Value, reason: Option<&str>| {
            let mut e = json!({
                "eventId": id,
                "packageId": app.package_id,
                "ssiEvent": event,
                "timestamp": timestamp,
            });
            if let Some(reason) = reason {
                e["failureReason"] = json!(reason);
            }
            e
        };
        let mut unknown_app = event("e6", "LOGIN_SUCCESS", json!(now), None);
        unknown_app["packageId"] = json!("com.unknown.app");
        let mut string_time = event("e7", "MANUAL_SIGNIN_SELECTED", json!(null), None);
        string_time.as_object_mut().unwrap().remove("timestamp");
        string_time["epochTimestamp"] = json!(now.to_string());
        let batch = json!({"events": [
            event("e1", "LOGIN_SUCCESS", json!(now), None),
            event("e2", "LOGIN_FAILURE", json!(now - 1000), Some("NOT_FOUND")),
            event("e3", "LOGIN_FAILURE", json!(now), None),
            event("e4", "LOGIN_SUCCESS", json!(now), Some("FORBIDDEN")),
            event("e5", "LOGIN_SUCCESS", json!(now - 8 * DAY_MS), None),
            unknown_app,
            event("e1", "LOGIN_SUCCESS", json!(now), None),
            string_time,
            event("not.an.id", "LOGIN_SUCCESS", json!(now), None),
            event("e9", "LOGIN_SUCCESS", json!(now + 6 * 60_000), None),
        ]});
        let rejected_fields = json!([
            [2, "failureReason"],
            [3, "failureReason"],
            [4, "timestamp"],
            [5, "packageId"],
            [8, "eventId"],
            [9, "timestamp"],
        ]);
        let check = |body: &Value, accepted: u64, duplicates: u64| {
            assert_eq!(body["accepted"], accepted, "{body}");
            assert_eq!(body["duplicates"], duplicates, "{body}");
            let fields: Vec<Value> = body["rejected"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| json!([r["index"], r["field"]]))
                .collect();
            assert_eq!(Value::from(fields), rejected_fields, "{body}");
        };
        let (status, first) = device_post(&server, &device, "/v1/device/metrics", &batch).await;
        assert_eq!(status, 200, "{first}");
        check(&first, 3, 1);
        assert!(
            first["rejected"][2]["message"]
                .as_str()
                .unwrap()
                .contains("7 days"),
            "{first}"
        );
        // The agent retries the whole batch (its acknowledgement was lost).
        for _ in 0..2 {
            let (_, retry) = device_post(&server, &device, "/v1/device/metrics", &batch).await;
            check(&retry, 0, 4);
        }
        // Another device's event ids are its own.
        let (_, other) = device_post(&server, &other_device, "/v1/device/metrics", &batch).await;
        check(&other, 3, 1);

        let db = db(&server).await;
        let by_source = "SELECT COUNT(*) FROM metric_events WHERE source = $1";
        assert_eq!(count(&db, by_source, &[&device.id]).await, 3);
        let failure = "SELECT COUNT(*) FROM metric_events WHERE source = $1 \
                       AND event = 'LOGIN_FAILURE' AND failure_reason = 'NOT_FOUND'";
        assert_eq!(count(&db, failure, &[&device.id]).await, 1);
        assert_eq!(
            server
                .state
                .metrics
                .metric_events_accepted
                .load(Ordering::Relaxed),
            6
        );

        // Batch limits.
        let too_many: Vec<Value> = (0..501)
            .map(|i| event(&format!("b{i}"), "LOGIN_SUCCESS", json!(now), None))
            .collect();
        let (status, body) = device_post(
            &server,
            &device,
            "/v1/device/metrics",
            &json!({ "events": too_many }),
        )
        .await;
        assert_eq!(status, 400);
        assert!(
            body["message"].as_str().unwrap().contains("1-500"),
            "{body}"
        );
        let full: Vec<Value> = (0..500)
            .map(|i| event(&format!("c{i}"), "LOGIN_SUCCESS", json!(now), None))
            .collect();
        let (status, body) = device_post(
            &server,
            &device,
            "/v1/device/metrics",
            &json!({ "events": full }),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(body["accepted"], 500);

        // CONSENT_DENIED is recorded by the server, once per agent event id.
        let denied = |event_id: &str| {
            json!({
                "packageId": app.package_id,
                "identityProviderName": app.idp_name,
                "partnerUserId": "user-1",
                "eventId": event_id,
            })
        };
        for event_id in ["d1", "d1", "d2"] {
            let (status, body) = device_post(
                &server,
                &device,
                "/v1/device/consent-denied",
                &denied(event_id),
            )
            .await;
            assert_eq!(
                (status, body),
                (200, json!({"requestStatus": "SUCCESSFUL"}))
            );
        }
        let consent = "SELECT COUNT(*) FROM metric_events WHERE source = 'server' \
                       AND event = 'CONSENT_DENIED' AND app_id = $1";
        assert_eq!(count(&db, consent, &[&app.app_id]).await, 2);
    }
);

server_test!(
    user_and_links_lists_links_oldest_first,
    |server: TestServer| async move {
        let device = account_with_device(&server).await;
        let app = developer_app(&server, "com.example.order", "idp.order").await;
        let partner = Partner::new(&app.idp_name);
        // Created a second apart, newest partner user first in the alphabet,
        // then two in the same millisecond (ordered by link id).
        let mut expected = Vec::new();
        for user in ["user-c", "user-b", "user-a"] {
            server.clock.advance_ms(1000);
            expected.push(new_link_id(&server, &device, &app, &partner, user).await);
        }
        server.clock.advance_ms(1000);
        let mut same_ms = vec![
            new_link_id(&server, &device, &app, &partner, "user-y").await,
            new_link_id(&server, &device, &app, &partner, "user-x").await,
        ];
        same_ms.sort();
        expected.extend(same_ms);
        let body = user_and_links(&server, &device, &app).await;
        let listed: Vec<&str> = body["links"]
            .as_array()
            .unwrap()
            .iter()
            .map(|link| link["linkId"].as_str().unwrap())
            .collect();
        assert_eq!(listed, expected, "{body}");
    }
);

server_test!(
    the_thirty_third_link_is_refused,
    |server: TestServer| async move {
        let device = account_with_device(&server).await;
        let app = developer_app(&server, "com.example.many", "idp.many").await;
        let partner = Partner::new(&app.idp_name);
        for i in 0..32 {
            new_link_id(&server, &device, &app, &partner, &format!("user-{i}")).await;
        }
        let refused = create_link(&server, &device, &app, &partner, "user-32").await;
        assert_eq!(refused["requestStatus"], "FAILURE", "{refused}");
        assert!(
            refused["message"].as_str().unwrap().contains("32"),
            "{refused}"
        );
        // An existing link is still found at the limit.
        let again = create_link(&server, &device, &app, &partner, "user-7").await;
        assert_eq!(again["successCode"], "LINK_ALREADY_EXISTS");
        let body = user_and_links(&server, &device, &app).await;
        assert_eq!(body["links"].as_array().unwrap().len(), 32);
        // The limit is per (account, IDP): another account is not affected.
        let other = account_with_device(&server).await;
        new_link_id(&server, &other, &app, &partner, "user-32").await;
    }
);

server_test!(
    audit_entries_carry_no_token_or_key_material,
    |server: TestServer| async move {
        let device = account_with_device(&server).await;
        let app = developer_app(&server, "com.example.audit", "idp.audit").await;
        let partner = Partner::new(&app.idp_name);
        let body = link_body(&server, &device, &app, &partner, "user-1").await;
        let (_, created) = device_post(&server, &device, "/v1/device/links", &body).await;
        let link_id = created["linkId"].as_str().unwrap().to_owned();
        let minted = token_for(&server, &device, &app, &link_id).await;
        let listed = user_and_links(&server, &device, &app).await;

        let db = db(&server).await;
        let rows = sqlx::query(
            "SELECT actor, action, account_id, subject, detail FROM audit_log ORDER BY at, id",
        )
        .fetch_all(&db)
        .await
        .unwrap();
        use sqlx::Row;
        let entries: Vec<[Option<String>; 5]> = rows
            .iter()
            .map(|row| std::array::from_fn(|i| row.try_get::<Option<String>, _>(i).unwrap()))
            .collect();
        let mut actions: Vec<&str> = entries.iter().filter_map(|e| e[1].as_deref()).collect();
        actions.sort_unstable();
        assert_eq!(actions, ["link.create", "token.mint"]);
        for entry in &entries {
            assert_eq!(
                entry[0].as_deref(),
                Some(format!("device:{}", device.id).as_str())
            );
            assert_eq!(entry[2].as_deref(), Some(device.account_id.as_str()));
            assert_eq!(entry[3].as_deref(), Some(link_id.as_str()));
            let detail = entry[4].as_deref().unwrap();
            assert!(
                detail.contains(&app.app_id) && detail.contains(&app.idp_name),
                "{detail}"
            );
        }
        let text = format!("{entries:?}");
        let link_token = body["request"]["linkToken"]["token"].as_str().unwrap();
        let sealed_key = body["request"]["linkSigningKey"].as_str().unwrap();
        let secrets = [
            ("link token", link_token),
            (
                "link token's payload",
                link_token.split('.').nth(3).unwrap(),
            ),
            ("sealed key", sealed_key),
            (
                "sealed key's ciphertext",
                sealed_key.split('.').nth(3).unwrap(),
            ),
            (
                "minted SSI token",
                minted["ssiToken"]["token"].as_str().unwrap(),
            ),
            (
                "listed SSI token",
                listed["links"][0]["ssiToken"]["token"].as_str().unwrap(),
            ),
            ("device credential", device.credential.as_str()),
        ];
        for (what, secret) in secrets {
            assert!(!text.contains(secret), "the audit log contains the {what}");
        }
        // The stored signing key is sealed: its row holds no JWK and no `d`.
        let stored = sqlx::query("SELECT signing_key_sealed FROM links WHERE id = $1")
            .bind(&link_id)
            .fetch_one(&db)
            .await
            .unwrap();
        let sealed: Vec<u8> = stored.try_get(0).unwrap();
        assert!(!String::from_utf8_lossy(&sealed).contains("\"d\""));
        assert_eq!(sealed.len(), 12 + 32 + 16, "nonce, scalar, tag");
    }
);
