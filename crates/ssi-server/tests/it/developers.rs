//! The developer JSON API: apps, IDPs, app keys, partner API keys; the public
//! JWKS and icon routes. Security properties are tested as attacks: another
//! developer, a non-developer, a missing CSRF header, a retired or expired
//! key, a stolen database without the master key, secrets in the audit log.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::Method;
use reqwest::header::{COOKIE, HeaderMap, HeaderValue};
use serde_json::{Value, json};
use ssi_server::encoding::secret_hash;
use ssi_server::http::auth::session_cookie_name;
use ssi_server::http::developer_api::open_app_key;
use ssi_server::random::{RandomRef, SystemRandomSource, new_id, new_secret};
use ssi_server::secrets::MasterKeys;
use ssi_server::store::accounts::AccountRow;
use ssi_token::{AppPublicKey, LinkSigningKey, seal_link_signing_key, unseal_link_signing_key};

use crate::harness::TestServer;

/// A PNG signature and a few bytes: enough for the server's content check.
pub(crate) const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

/// Longer than any clock jump of these tests (app key grace: 7 days).
const SESSION_MS: i64 = 30 * 24 * 3_600_000;

/// A client signed in as a new account with this e-mail (inserted through the
/// store, with a session as the sign-in page would create), and its CSRF token.
pub(crate) async fn signed_in_client(
    server: &TestServer,
    email: &str,
) -> (reqwest::Client, String) {
    let (client, csrf, _) = sign_in(server, email).await;
    (client, csrf)
}

async fn sign_in(server: &TestServer, email: &str) -> (reqwest::Client, String, String) {
    let state = &server.state;
    let rng = SystemRandomSource;
    let now = state.now_ms();
    let account = AccountRow {
        id: new_id(&rng, "acct_"),
        email: email.to_owned(),
        password_hash: "not-used-by-these-tests".to_owned(),
        ssi_enabled: true,
        region: "default".to_owned(),
        is_developer: false,
        created_at: now,
    };
    state.store.insert_account(&account).await.unwrap();
    let token = new_secret(&rng, "");
    let csrf = new_secret(&rng, "");
    state
        .store
        .insert_session(
            &secret_hash(&token),
            &account.id,
            &csrf,
            now,
            now + SESSION_MS,
        )
        .await
        .unwrap();
    let mut headers = HeaderMap::new();
    let cookie = format!("{}={token}", session_cookie_name(state));
    headers.insert(COOKIE, HeaderValue::from_str(&cookie).unwrap());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .unwrap();
    (client, csrf, account.id)
}

/// One signed-in account talking JSON to the server.
#[derive(Clone)]
pub(crate) struct Api {
    pub client: reqwest::Client,
    pub csrf: String,
    pub account_id: String,
    base: String,
}

impl Api {
    pub async fn signed_in(server: &TestServer, email: &str) -> Self {
        let (client, csrf, account_id) = sign_in(server, email).await;
        Self {
            client,
            csrf,
            account_id,
            base: server.base.clone(),
        }
    }

    /// Signed in and enrolled as a developer.
    pub async fn developer(server: &TestServer, email: &str) -> Self {
        let api = Self::signed_in(server, email).await;
        let (status, body) = api.post("/v1/developer/enroll", json!({})).await;
        assert_eq!(status, 200, "{body}");
        api
    }

    /// Sends with the CSRF header; the body (if any) as JSON.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("x-csrf-token", &self.csrf);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.call(Method::DELETE, path, None).await
    }

    /// Creates an app and returns its id.
    pub async fn create_app(&self, package_id: &str) -> String {
        let (status, app) = self
            .post(
                "/v1/developer/apps",
                json!({"packageId": package_id, "displayName": "Example TV"}),
            )
            .await;
        assert_eq!(status, 201, "{app}");
        app["appId"].as_str().unwrap().to_owned()
    }

    /// Creates an IDP with this name.
    pub async fn create_idp(&self, name: &str) {
        let (status, body) = self
            .post("/v1/developer/idps", json!({"identityProviderName": name}))
            .await;
        assert_eq!(status, 201, "{body}");
    }

    /// Creates a partner API key and returns `(id, key)`.
    pub async fn create_api_key(&self, label: &str) -> (String, String) {
        let (status, body) = self
            .post("/v1/developer/api-keys", json!({"label": label}))
            .await;
        assert_eq!(status, 201, "{body}");
        (
            body["id"].as_str().unwrap().to_owned(),
            body["apiKey"].as_str().unwrap().to_owned(),
        )
    }

    pub async fn keys(&self, app_id: &str) -> Vec<Value> {
        let (status, body) = self.get(&format!("/v1/developer/apps/{app_id}/keys")).await;
        assert_eq!(status, 200, "{body}");
        body["keys"].as_array().unwrap().clone()
    }
}

async fn public_get(server: &TestServer, path: &str) -> reqwest::Response {
    server.http.get(server.url(path)).send().await.unwrap()
}

async fn jwks_kids(server: &TestServer, package_id: &str) -> Vec<String> {
    let response = public_get(server, &format!("/v1/apps/{package_id}/jwks.json")).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

async fn audit_actions(server: &TestServer, account_id: &str) -> Vec<String> {
    let mut actions: Vec<String> = server
        .state
        .store
        .list_audit(Some(account_id), 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    actions.sort();
    actions
}

server_test!(full_developer_flow, |server: TestServer| async move {
    let dev = Api::signed_in(&server, "dev@example.com").await;
    let (status, session) = dev.get("/v1/session").await;
    assert_eq!(status, 200);
    assert_eq!(session["email"], "dev@example.com");
    assert_eq!(session["isDeveloper"], false);
    assert_eq!(session["csrfToken"], dev.csrf.as_str());
    assert_eq!(session["accountId"], dev.account_id.as_str());

    let (status, enrolled) = dev.post("/v1/developer/enroll", json!({})).await;
    assert_eq!((status, &enrolled["isDeveloper"]), (200, &json!(true)));
    let (_, session) = dev.get("/v1/session").await;
    assert_eq!(session["isDeveloper"], true);

    // An app with an icon; its first key comes with it.
    let (status, app) = dev
        .post(
            "/v1/developer/apps",
            json!({
                "packageId": "com.example.tv",
                "displayName": "Example TV",
                "iconBase64": STANDARD.encode(PNG),
                "iconType": "image/png",
            }),
        )
        .await;
    assert_eq!(status, 201, "{app}");
    let app_id = app["appId"].as_str().unwrap().to_owned();
    assert_eq!(app["packageId"], "com.example.tv");
    assert_eq!(app["blocked"], false);
    assert_eq!(
        app["jwksUrl"],
        server.url("/v1/apps/com.example.tv/jwks.json").as_str()
    );
    let icon = public_get(&server, "/v1/apps/com.example.tv/icon").await;
    assert_eq!(icon.status(), 200);
    assert_eq!(icon.headers()["content-type"], "image/png");
    assert_eq!(icon.bytes().await.unwrap().as_ref(), PNG);

    let (status, got) = dev.get(&format!("/v1/developer/apps/{app_id}")).await;
    assert_eq!((status, &got), (200, &app));
    let (status, updated) = dev
        .patch(
            &format!("/v1/developer/apps/{app_id}"),
            json!({"displayName": "Example TV+", "removeIcon": true}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["displayName"], "Example TV+");
    assert!(updated.get("iconUrl").is_none());
    assert_eq!(
        public_get(&server, "/v1/apps/com.example.tv/icon")
            .await
            .status(),
        404
    );
    let (_, list) = dev.get("/v1/developer/apps").await;
    assert_eq!(list["apps"], json!([updated]));

    // Simple Sign-In: one named IDP, one generated; two apps share the first.
    dev.create_idp("example-tv").await;
    let (status, generated) = dev.post("/v1/developer/idps", json!({})).await;
    assert_eq!(status, 201);
    let generated = generated["identityProviderName"].as_str().unwrap();
    assert!(
        generated.starts_with("ssi.") && generated.len() > 8,
        "{generated}"
    );
    let second_app = dev.create_app("com.example.tv.kids").await;
    for id in [&app_id, &second_app] {
        let (status, bound) = dev
            .post(
                &format!("/v1/developer/apps/{id}/idp"),
                json!({"identityProviderName": "example-tv"}),
            )
            .await;
        assert_eq!(status, 200, "{bound}");
        assert_eq!(bound["identityProviderName"], "example-tv");
    }
    let (_, idps) = dev.get("/v1/developer/idps").await;
    assert_eq!(
        idps["identityProviders"][0]["identityProviderName"],
        "example-tv"
    );
    assert_eq!(
        idps["identityProviders"][0]["apps"],
        json!(["com.example.tv", "com.example.tv.kids"])
    );
    assert_eq!(idps["identityProviders"][1]["apps"], json!([]));
    let found = server
        .state
        .store
        .find_app_by_package("com.example.tv")
        .await
        .unwrap()
        .unwrap();
    let idp = server
        .state
        .store
        .find_idp_by_name("example-tv")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.idp_id.as_deref(), Some(idp.id.as_str()));
    assert_eq!(idp.developer_id, dev.account_id);
    assert!(!found.blocked && !found.has_icon);

    // Keys: one current, then a second; the JWKS publishes both.
    let keys = dev.keys(&app_id).await;
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["status"], "current");
    assert_eq!(keys[0]["publicJwk"]["alg"], "ECDH-ES+A256KW");
    assert_eq!(keys[0]["publicJwk"]["use"], "enc");
    assert!(keys[0]["publicJwk"].get("d").is_none());
    let (status, second_key) = dev
        .post(&format!("/v1/developer/apps/{app_id}/keys"), json!({}))
        .await;
    assert_eq!(status, 201, "{second_key}");
    let first_kid = keys[0]["kid"].as_str().unwrap().to_owned();
    let second_kid = second_key["kid"].as_str().unwrap().to_owned();
    let jwks = public_get(&server, "/v1/apps/com.example.tv/jwks.json").await;
    assert_eq!(jwks.headers()["cache-control"], "max-age=300");
    let mut published = jwks_kids(&server, "com.example.tv").await;
    published.sort();
    let mut expected = [first_kid.clone(), second_kid.clone()];
    expected.sort();
    assert_eq!(published, expected);

    // Partner API keys.
    let (key_id, api_key) = dev.create_api_key("production backend").await;
    assert!(
        api_key.starts_with("ssi_pk_") && api_key.len() == 7 + 43,
        "{api_key}"
    );
    let (_, listed) = dev.get("/v1/developer/api-keys").await;
    assert_eq!(listed["apiKeys"][0]["id"], key_id.as_str());
    assert!(listed["apiKeys"][0].get("revokedAt").is_none());
    let (status, revoked) = dev
        .post(
            &format!("/v1/developer/api-keys/{key_id}/revoke"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(revoked["revokedAt"], json!(server.state.now_ms()));

    // The operator blocks an app; the developer sees it.
    assert!(
        server
            .state
            .store
            .set_app_blocked("com.example.tv", true)
            .await
            .unwrap()
    );
    assert!(
        !server
            .state
            .store
            .set_app_blocked("com.nope.app", true)
            .await
            .unwrap()
    );
    let (_, got) = dev.get(&format!("/v1/developer/apps/{app_id}")).await;
    assert_eq!(got["blocked"], true);

    // Retire the first key, then delete the app: its JWKS is gone.
    let (status, retired) = dev
        .post(
            &format!("/v1/developer/apps/{app_id}/keys/{first_kid}/retire"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{retired}");
    let (status, _) = dev.delete(&format!("/v1/developer/apps/{app_id}")).await;
    assert_eq!(status, 204);
    let (status, _) = dev.get(&format!("/v1/developer/apps/{app_id}")).await;
    assert_eq!(status, 404);
    assert_eq!(
        public_get(&server, "/v1/apps/com.example.tv/jwks.json")
            .await
            .status(),
        404
    );

    assert_eq!(
        audit_actions(&server, &dev.account_id).await,
        [
            "api_key.create",
            "api_key.revoke",
            "app.bind_idp",
            "app.bind_idp",
            "app.create",
            "app.create",
            "app.delete",
            "app.update",
            "app_key.create",
            "app_key.create",
            "app_key.create",
            "app_key.retire",
            "developer.enroll",
            "idp.create",
            "idp.create",
        ]
    );
});

/// One invalid request: where it goes, what it sends, and which field and
/// limit the 400 must name.
struct Case {
    path: &'static str,
    body: Value,
    field: &'static str,
    limit: &'static str,
}

server_test!(
    validation_errors_name_field_and_limit,
    |server: TestServer| async move {
        let dev = Api::developer(&server, "dev@example.com").await;
        let app_id = dev.create_app("com.example.app").await;
        let app_path: &'static str =
            Box::leak(format!("/v1/developer/apps/{app_id}").into_boxed_str());
        let bind_path: &'static str =
            Box::leak(format!("/v1/developer/apps/{app_id}/idp").into_boxed_str());
        let app = |package: &str, name: &str| json!({"packageId": package, "displayName": name});
        let cases = [
            Case {
                path: "/v1/developer/apps",
                body: app("ab", "X"),
                field: "packageId",
                limit: "3-128",
            },
            Case {
                path: "/v1/developer/apps",
                body: app(&"a.".repeat(65), "X"),
                field: "packageId",
                limit: "3-128",
            },
            Case {
                path: "/v1/developer/apps",
                body: app("Com.Example", "X"),
                field: "packageId",
                limit: "[a-z0-9._]",
            },
            Case {
                path: "/v1/developer/apps",
                body: app("comexample", "X"),
                field: "packageId",
                limit: "at least one dot",
            },
            Case {
                path: "/v1/developer/apps",
                body: app("com..example", "X"),
                field: "packageId",
                limit: "no empty segment",
            },
            Case {
                path: "/v1/developer/apps",
                body: app("com.example.b", ""),
                field: "displayName",
                limit: "1-64 characters",
            },
            Case {
                path: "/v1/developer/apps",
                body: app("com.example.b", &"x".repeat(65)),
                field: "displayName",
                limit: "1-64 characters",
            },
            Case {
                path: "/v1/developer/apps",
                body: app("com.example.b", "tab\there"),
                field: "displayName",
                limit: "without control characters",
            },
            Case {
                path: "/v1/developer/apps",
                body: json!({"packageId": "com.example.b", "displayName": "X", "iconBase64": STANDARD.encode(PNG), "iconType": "text/html"}),
                field: "iconType",
                limit: "image/png or image/svg+xml",
            },
            Case {
                path: "/v1/developer/apps",
                body: json!({"packageId": "com.example.b", "displayName": "X", "iconBase64": STANDARD.encode(b"GIF89a"), "iconType": "image/png"}),
                field: "iconBase64",
                limit: "PNG",
            },
            Case {
                path: "/v1/developer/apps",
                body: json!({"packageId": "com.example.b", "displayName": "X", "iconBase64": "%%%", "iconType": "image/svg+xml"}),
                field: "iconBase64",
                limit: "base64",
            },
            Case {
                path: "/v1/developer/apps",
                body: json!({"packageId": "com.example.b"}),
                field: "displayName",
                limit: "missing field",
            },
            Case {
                path: app_path,
                body: json!({"packageId": "com.other.app"}),
                field: "packageId",
                limit: "unknown field",
            },
            Case {
                path: app_path,
                body: json!({"displayName": ""}),
                field: "displayName",
                limit: "1-64 characters",
            },
            Case {
                path: "/v1/developer/idps",
                body: json!({"identityProviderName": "has space"}),
                field: "identityProviderName",
                limit: "[A-Za-z0-9._-]",
            },
            Case {
                path: "/v1/developer/idps",
                body: json!({"identityProviderName": "x".repeat(65)}),
                field: "identityProviderName",
                limit: "1-64",
            },
            Case {
                path: bind_path,
                body: json!({"identityProviderName": ""}),
                field: "identityProviderName",
                limit: "1-64",
            },
            Case {
                path: "/v1/developer/api-keys",
                body: json!({"label": ""}),
                field: "label",
                limit: "1-64 characters",
            },
            Case {
                path: "/v1/developer/api-keys",
                body: json!({"label": "a\u{7}"}),
                field: "label",
                limit: "without control characters",
            },
        ];
        let check = |case: Case| {
            let dev = &dev;
            async move {
                let method = if case.path == app_path {
                    Method::PATCH
                } else {
                    Method::POST
                };
                let (status, body) = dev.call(method, case.path, Some(case.body.clone())).await;
                let message = body["message"].as_str().unwrap_or_default();
                assert_eq!(status, 400, "{} {}: {body}", case.path, case.body);
                assert!(
                    message.contains(case.field) && message.contains(case.limit),
                    "{} {}: {message:?} should name {} and {}",
                    case.path,
                    case.body,
                    case.field,
                    case.limit
                );
            }
        };
        for case in cases {
            check(case).await;
        }
        // Nothing was stored by any of them.
        let (_, list) = dev.get("/v1/developer/apps").await;
        assert_eq!(list["apps"].as_array().unwrap().len(), 1);
        assert_eq!(list["apps"][0]["displayName"], "Example TV");
        let (_, idps) = dev.get("/v1/developer/idps").await;
        assert_eq!(idps["identityProviders"], json!([]));
        let (_, keys) = dev.get("/v1/developer/api-keys").await;
        assert_eq!(keys["apiKeys"], json!([]));
    }
);

server_test!(duplicates_conflict, |server: TestServer| async move {
    let a = Api::developer(&server, "a@example.com").await;
    let b = Api::developer(&server, "b@example.com").await;
    a.create_app("com.example.app").await;
    a.create_idp("example").await;
    for dev in [&a, &b] {
        let (status, body) = dev
            .post(
                "/v1/developer/apps",
                json!({"packageId": "com.example.app", "displayName": "Copy"}),
            )
            .await;
        assert_eq!(status, 409, "{body}");
        assert!(
            body["message"].as_str().unwrap().contains("packageId"),
            "{body}"
        );
        let (status, body) = dev
            .post(
                "/v1/developer/idps",
                json!({"identityProviderName": "example"}),
            )
            .await;
        assert_eq!(status, 409, "{body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("identityProviderName"),
            "{body}"
        );
    }
    let (_, apps) = b.get("/v1/developer/apps").await;
    assert_eq!(apps["apps"], json!([]));
    let app = server
        .state
        .store
        .find_app_by_package("com.example.app")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(app.developer_id, a.account_id);
    assert_eq!(app.display_name, "Example TV");
});

server_test!(
    developers_cannot_touch_each_others_apps,
    |server: TestServer| async move {
        let a = Api::developer(&server, "a@example.com").await;
        let b = Api::developer(&server, "b@example.com").await;
        let a_app = a.create_app("com.a.app").await;
        a.create_idp("idp-a").await;
        let (status, _) = a
            .post(
                &format!("/v1/developer/apps/{a_app}/idp"),
                json!({"identityProviderName": "idp-a"}),
            )
            .await;
        assert_eq!(status, 200);
        let a_kid = a.keys(&a_app).await[0]["kid"].as_str().unwrap().to_owned();
        let (status, _) = a
            .post(&format!("/v1/developer/apps/{a_app}/keys"), json!({}))
            .await;
        assert_eq!(status, 201);
        let (a_key_id, _) = a.create_api_key("a's backend").await;
        let b_app = b.create_app("com.b.app").await;
        b.create_idp("idp-b").await;

        let (_, a_app_before) = a.get(&format!("/v1/developer/apps/{a_app}")).await;
        let a_keys_before = a.keys(&a_app).await;

        let attacks: Vec<(Method, String, Option<Value>)> = vec![
            (Method::GET, format!("/v1/developer/apps/{a_app}"), None),
            (
                Method::PATCH,
                format!("/v1/developer/apps/{a_app}"),
                Some(json!({"displayName": "Owned"})),
            ),
            (Method::DELETE, format!("/v1/developer/apps/{a_app}"), None),
            (
                Method::POST,
                format!("/v1/developer/apps/{a_app}/idp"),
                Some(json!({"identityProviderName": "idp-b"})),
            ),
            // B's own app onto A's IDP: A's IDP does not exist for B.
            (
                Method::POST,
                format!("/v1/developer/apps/{b_app}/idp"),
                Some(json!({"identityProviderName": "idp-a"})),
            ),
            (
                Method::GET,
                format!("/v1/developer/apps/{a_app}/keys"),
                None,
            ),
            (
                Method::POST,
                format!("/v1/developer/apps/{a_app}/keys"),
                Some(json!({})),
            ),
            (
                Method::POST,
                format!("/v1/developer/apps/{a_app}/keys/{a_kid}/retire"),
                Some(json!({})),
            ),
            // A's key through B's own app: the kid is not B's app's.
            (
                Method::POST,
                format!("/v1/developer/apps/{b_app}/keys/{a_kid}/retire"),
                Some(json!({})),
            ),
            (
                Method::POST,
                format!("/v1/developer/api-keys/{a_key_id}/revoke"),
                Some(json!({})),
            ),
        ];
        for (method, path, body) in attacks {
            let (status, response) = b.call(method.clone(), &path, body).await;
            assert_eq!(status, 404, "{method} {path}: {response}");
        }
        let raw = b
            .client
            .put(server.url(&format!("/v1/developer/apps/{a_app}/icon")))
            .header("x-csrf-token", &b.csrf)
            .header("content-type", "image/png")
            .body(PNG.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(raw.status(), 404);

        // Nothing of A's changed, and B sees only its own things.
        let (_, a_app_after) = a.get(&format!("/v1/developer/apps/{a_app}")).await;
        assert_eq!(a_app_after, a_app_before);
        assert_eq!(a_app_after["identityProviderName"], "idp-a");
        assert_eq!(a.keys(&a_app).await, a_keys_before);
        let (_, a_keys) = a.get("/v1/developer/api-keys").await;
        assert!(a_keys["apiKeys"][0].get("revokedAt").is_none());
        let (_, b_apps) = b.get("/v1/developer/apps").await;
        assert_eq!(b_apps["apps"].as_array().unwrap().len(), 1);
        assert!(b_apps["apps"][0].get("identityProviderName").is_none());
        let (_, b_idps) = b.get("/v1/developer/idps").await;
        assert_eq!(
            b_idps["identityProviders"].as_array().unwrap().len(),
            1,
            "{b_idps}"
        );
        let (_, b_api_keys) = b.get("/v1/developer/api-keys").await;
        assert_eq!(b_api_keys["apiKeys"], json!([]));
        assert!(
            !audit_actions(&server, &b.account_id)
                .await
                .iter()
                .any(|a| a != "developer.enroll"
                    && a != "app.create"
                    && a != "app_key.create"
                    && a != "idp.create"),
            "none of B's attempts was a change"
        );
    }
);

server_test!(
    non_developers_and_missing_csrf_are_refused,
    |server: TestServer| async move {
        let user = Api::signed_in(&server, "user@example.com").await;
        for (method, path) in [
            (Method::GET, "/v1/developer/apps"),
            (Method::POST, "/v1/developer/apps"),
            (Method::GET, "/v1/developer/idps"),
            (Method::POST, "/v1/developer/idps"),
            (Method::GET, "/v1/developer/api-keys"),
            (Method::POST, "/v1/developer/api-keys"),
        ] {
            let body = (method == Method::POST)
                .then(|| json!({"packageId": "com.x.app", "displayName": "X", "label": "x"}));
            let (status, response) = user.call(method.clone(), path, body).await;
            assert_eq!(status, 403, "{method} {path}: {response}");
        }

        // Without the CSRF header (or with another session's token), even the
        // account's own unsafe requests are refused and change nothing.
        let dev = Api::developer(&server, "dev@example.com").await;
        let other = Api::signed_in(&server, "other@example.com").await;
        for csrf in [None, Some(other.csrf.as_str()), Some("")] {
            let mut request = dev
                .client
                .post(server.url("/v1/developer/apps"))
                .json(&json!({"packageId": "com.csrf.app", "displayName": "X"}));
            if let Some(csrf) = csrf {
                request = request.header("x-csrf-token", csrf);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 403, "csrf {csrf:?}");
        }
        let response = user
            .client
            .post(server.url("/v1/developer/enroll"))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403);
        let (_, session) = user.get("/v1/session").await;
        assert_eq!(session["isDeveloper"], false, "enrolment needs CSRF too");
        assert!(
            server
                .state
                .store
                .find_app_by_package("com.csrf.app")
                .await
                .unwrap()
                .is_none()
        );

        // A non-developer with a valid CSRF token is still refused.
        let (client, csrf) = signed_in_client(&server, "plain@example.com").await;
        let response = client
            .post(server.url("/v1/developer/idps"))
            .header("x-csrf-token", csrf)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403);

        // No session at all.
        for path in ["/v1/session", "/v1/developer/apps"] {
            assert_eq!(public_get(&server, path).await.status(), 401, "{path}");
        }
    }
);

server_test!(
    retired_keys_leave_the_jwks_but_unseal_until_they_expire,
    |server: TestServer| async move {
        let dev = Api::developer(&server, "dev@example.com").await;
        let app_id = dev.create_app("com.example.app").await;
        let old_kid = dev.keys(&app_id).await[0]["kid"]
            .as_str()
            .unwrap()
            .to_owned();

        // The last current key cannot be retired.
        let retire = format!("/v1/developer/apps/{app_id}/keys/{old_kid}/retire");
        let (status, body) = dev.post(&retire, json!({})).await;
        assert_eq!(status, 409, "{body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("last current key"),
            "{body}"
        );

        // A partner seals a link signing key to the published key.
        let jwks: Value = public_get(&server, "/v1/apps/com.example.app/jwks.json")
            .await
            .json()
            .await
            .unwrap();
        let old_public = AppPublicKey::from_jwk_json(&jwks["keys"][0].to_string()).unwrap();
        let rng = SystemRandomSource;
        let link_key = LinkSigningKey::generate(&mut RandomRef(&rng));
        let sealed_link_key = seal_link_signing_key(&link_key, &old_public, &mut RandomRef(&rng));

        let (status, new_key) = dev
            .post(&format!("/v1/developer/apps/{app_id}/keys"), json!({}))
            .await;
        assert_eq!(status, 201);
        let new_kid = new_key["kid"].as_str().unwrap().to_owned();
        let (status, retired) = dev.post(&retire, json!({})).await;
        assert_eq!(status, 200, "{retired}");
        let grace_ms = server.config.retired_app_key_grace_secs * 1000;
        let now = server.state.now_ms();
        assert_eq!(retired["status"], "retired");
        assert_eq!(retired["retiredAt"], json!(now));
        assert_eq!(retired["expiresAt"], json!(now + grace_ms));
        let (status, _) = dev.post(&retire, json!({})).await;
        assert_eq!(status, 409, "retiring twice");

        // Gone from the JWKS at once…
        assert_eq!(
            jwks_kids(&server, "com.example.app").await,
            vec![new_kid.clone()]
        );
        // …but the device API still unseals with it until it expires.
        let unseal = |now_ms: i64| {
            let server = &server;
            let sealed_link_key = &sealed_link_key;
            let app_id = app_id.clone();
            async move {
                let keys = server
                    .state
                    .store
                    .unsealing_app_keys(&app_id, now_ms)
                    .await
                    .unwrap();
                let pairs: Vec<_> = keys
                    .iter()
                    .map(|(kid, sealed, version)| {
                        open_app_key(&server.state, kid, sealed, *version).unwrap()
                    })
                    .collect();
                let kids: Vec<String> = keys.into_iter().map(|(kid, _, _)| kid).collect();
                let refs: Vec<_> = pairs.iter().collect();
                (kids, unseal_link_signing_key(sealed_link_key, &refs))
            }
        };
        let (kids, unsealed) = unseal(server.state.now_ms()).await;
        assert_eq!(kids.len(), 2);
        assert!(kids.contains(&old_kid));
        assert_eq!(
            unsealed.unwrap().verification_key(),
            link_key.verification_key()
        );

        server.clock.advance_ms(grace_ms - 1);
        assert!(
            unseal(server.state.now_ms()).await.1.is_ok(),
            "1 ms before expiry"
        );
        server.clock.advance_ms(1);
        let (kids, unsealed) = unseal(server.state.now_ms()).await;
        assert_eq!(kids, vec![new_kid.clone()]);
        assert_eq!(
            unsealed.unwrap_err().request_status(),
            "INVALID_LINK_SIGNING_KEY_ENCRYPTION"
        );
        let mut statuses: Vec<Value> = dev
            .keys(&app_id)
            .await
            .iter()
            .map(|k| json!([k["kid"], k["status"]]))
            .collect();
        statuses.sort_by_key(|s| s[1].as_str().map(str::to_owned));
        assert_eq!(
            statuses,
            [json!([new_kid, "current"]), json!([old_kid, "expired"])]
        );
    }
);

server_test!(
    stored_app_keys_are_useless_without_the_master_key,
    |server: TestServer| async move {
        let dev = Api::developer(&server, "dev@example.com").await;
        let app_id = dev.create_app("com.example.app").await;
        let (kid, sealed, version) = server
            .state
            .store
            .unsealing_app_keys(&app_id, server.state.now_ms())
            .await
            .unwrap()
            .remove(0);
        let pair = open_app_key(&server.state, &kid, &sealed, version).unwrap();
        assert_eq!(pair.kid(), kid);
        let scalar = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(pair.to_private_jwk().d.unwrap())
            .unwrap();
        assert!(
            !sealed.windows(scalar.len()).any(|w| w == scalar.as_slice()),
            "the raw scalar is not in the stored row"
        );
        // Another server's master key, the right key under another row's kid, a
        // flipped bit: none opens.
        let other = MasterKeys::generate(version, &SystemRandomSource);
        assert!(other.open(version, kid.as_bytes(), &sealed).is_err());
        assert!(open_app_key(&server.state, "another-kid", &sealed, version).is_err());
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(open_app_key(&server.state, &kid, &tampered, version).is_err());
        assert!(open_app_key(&server.state, &kid, &sealed, version + 1).is_err());
    }
);

server_test!(
    svg_icons_cannot_run_script,
    |server: TestServer| async move {
        let dev = Api::developer(&server, "dev@example.com").await;
        let svg = "<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>";
        let (status, app) = dev
            .post(
                "/v1/developer/apps",
                json!({
                    "packageId": "com.example.app",
                    "displayName": "SVG",
                    "iconBase64": STANDARD.encode(svg),
                    "iconType": "image/svg+xml",
                }),
            )
            .await;
        assert_eq!(status, 201, "{app}");
        assert_eq!(
            app["iconUrl"],
            server.url("/v1/apps/com.example.app/icon").as_str()
        );
        let icon = public_get(&server, "/v1/apps/com.example.app/icon").await;
        assert_eq!(icon.status(), 200);
        assert_eq!(icon.headers()["content-type"], "image/svg+xml");
        assert_eq!(
            icon.headers()["content-security-policy"],
            "default-src 'none'; style-src 'unsafe-inline'"
        );
        assert_eq!(icon.headers()["x-content-type-options"], "nosniff");
        assert_eq!(icon.text().await.unwrap(), svg);

        // A raw upload replaces it; a full-size icon fits, one byte more does not.
        let app_id = app["appId"].as_str().unwrap();
        let put = |body: Vec<u8>, content_type: &'static str| {
            dev.client
                .put(server.url(&format!("/v1/developer/apps/{app_id}/icon")))
                .header("x-csrf-token", &dev.csrf)
                .header("content-type", content_type)
                .body(body)
                .send()
        };
        let mut big = PNG.to_vec();
        big.resize(65536, 0);
        let response = put(big.clone(), "image/png").await.unwrap();
        assert_eq!(response.status(), 200);
        let icon = public_get(&server, "/v1/apps/com.example.app/icon").await;
        assert_eq!(icon.headers()["content-type"], "image/png");
        assert_eq!(icon.bytes().await.unwrap().len(), 65536);
        big.push(0);
        let response = put(big, "image/png").await.unwrap();
        assert_eq!(response.status(), 413);
        let response = put(b"<html><script>".to_vec(), "text/html").await.unwrap();
        assert_eq!(response.status(), 400);
        let response = put(PNG.to_vec(), "image/svg+xml").await.unwrap();
        assert_eq!(response.status(), 400, "a PNG is not an SVG");
    }
);

server_test!(
    audit_entries_carry_no_secrets,
    |server: TestServer| async move {
        let dev = Api::developer(&server, "dev@example.com").await;
        let app_id = dev.create_app("com.example.app").await;
        let (status, _) = dev
            .post(&format!("/v1/developer/apps/{app_id}/keys"), json!({}))
            .await;
        assert_eq!(status, 201);
        let (key_id, api_key) = dev.create_api_key("backend").await;
        dev.post(
            &format!("/v1/developer/api-keys/{key_id}/revoke"),
            json!({}),
        )
        .await;

        let mut secrets = vec![api_key.clone(), secret_hash(&api_key), dev.csrf.clone()];
        for (kid, sealed, version) in server
            .state
            .store
            .unsealing_app_keys(&app_id, server.state.now_ms())
            .await
            .unwrap()
        {
            let pair = open_app_key(&server.state, &kid, &sealed, version).unwrap();
            secrets.push(pair.to_private_jwk().d.unwrap());
            secrets.push(STANDARD.encode(&sealed));
            secrets.push(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&sealed));
        }
        let entries = server.state.store.list_audit(None, 1000).await.unwrap();
        assert!(entries.len() >= 5);
        let text = format!("{entries:?}");
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "audit log leaks a secret");
        }
        // Nor does any API answer after creation.
        for path in ["/v1/developer/api-keys", "/v1/developer/apps"] {
            let (_, body) = dev.get(path).await;
            assert!(!body.to_string().contains(&api_key), "{path}");
        }
        let (_, keys) = dev.get(&format!("/v1/developer/apps/{app_id}/keys")).await;
        assert!(!keys.to_string().contains("\"d\""), "{keys}");
    }
);

server_test!(
    concurrent_changes_keep_the_invariants,
    |server: TestServer| async move {
        let dev = Api::developer(&server, "dev@example.com").await;
        let rival = Api::developer(&server, "rival@example.com").await;

        // Eight racing registrations of one package id, from two developers:
        // exactly one wins, the others get 409.
        let attempts = (0..8).map(|i| {
            let api = if i % 2 == 0 {
                dev.clone()
            } else {
                rival.clone()
            };
            let body = json!({"packageId": "com.race.app", "displayName": format!("Racer {i}")});
            (api, "/v1/developer/apps".to_owned(), body)
        });
        assert_eq!(
            concurrent_posts(attempts).await,
            [201, 409, 409, 409, 409, 409, 409, 409]
        );

        // Two current keys retired at once: one retirement wins, the other is
        // refused as the last current key; the app is never left without one.
        let app_id = dev.create_app("com.example.app").await;
        let (status, _) = dev
            .post(&format!("/v1/developer/apps/{app_id}/keys"), json!({}))
            .await;
        assert_eq!(status, 201);
        let retirements: Vec<_> = dev
            .keys(&app_id)
            .await
            .iter()
            .map(|key| {
                let kid = key["kid"].as_str().unwrap();
                let path = format!("/v1/developer/apps/{app_id}/keys/{kid}/retire");
                (dev.clone(), path, json!({}))
            })
            .collect();
        assert_eq!(concurrent_posts(retirements.into_iter()).await, [200, 409]);
        assert_eq!(jwks_kids(&server, "com.example.app").await.len(), 1);
    }
);

/// Sends the POSTs concurrently; their statuses, sorted.
async fn concurrent_posts(requests: impl Iterator<Item = (Api, String, Value)>) -> Vec<u16> {
    let tasks: Vec<_> = requests
        .map(|(api, path, body)| tokio::spawn(async move { api.post(&path, body).await.0 }))
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses.sort_unstable();
    statuses
}
