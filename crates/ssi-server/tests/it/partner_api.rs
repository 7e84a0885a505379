//! The partner API, attacked: missing, malformed, unknown, revoked and other
//! developers' API keys; other developers' IDPs; a key that must never be
//! stored or logged.

use serde_json::{Value, json};
use sqlx::{AnyPool, Row};
use ssi_server::encoding::secret_hash;
use ssi_server::random::{SystemRandomSource, new_id};

use crate::developers::Api;
use crate::harness::TestServer;

/// A second connection to the server's database, for rows another area
/// writes (links) and for looking at what is stored.
async fn database(server: &TestServer) -> AnyPool {
    sqlx::any::install_default_drivers();
    AnyPool::connect(&ssi_server::startup::database_url(&server.config))
        .await
        .unwrap()
}

/// Inserts a link row as the device API would (the columns of 0001).
async fn insert_link(
    db: &AnyPool,
    account_id: &str,
    idp_name: &str,
    partner_user_id: &str,
) -> String {
    let id = new_id(&SystemRandomSource, "lnk_");
    sqlx::query(
        "INSERT INTO links (id, account_id, idp_id, partner_user_id, user_login_name, link_token, \
         signing_key_sealed, signing_key_public, master_key_version, created_by_app_id, created_at) \
         SELECT $1, $2, id, $3, 'login', 'token', $4, $5, 1, 'app', 0 FROM idps WHERE name = $6",
    )
    .bind(&id)
    .bind(account_id)
    .bind(partner_user_id)
    .bind(vec![1u8; 8])
    .bind(vec![2u8; 8])
    .bind(idp_name)
    .execute(db)
    .await
    .unwrap();
    id
}

async fn link_ids(db: &AnyPool) -> Vec<String> {
    let rows = sqlx::query("SELECT id FROM links ORDER BY id")
        .fetch_all(db)
        .await
        .unwrap();
    rows.iter().map(|r| r.get::<String, _>("id")).collect()
}

async fn delete_links(
    server: &TestServer,
    key: Option<&str>,
    idp: &str,
    user: &str,
) -> (u16, Value) {
    let mut request = server
        .http
        .delete(server.url(&format!("/v1/partner/idps/{idp}/users/{user}/links")));
    if let Some(key) = key {
        request = request.header("authorization", key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

server_test!(
    partner_deletes_the_links_of_one_user,
    |server: TestServer| async move {
        let db = database(&server).await;
        let dev = Api::developer(&server, "dev@example.com").await;
        dev.create_idp("example").await;
        dev.create_idp("example-other").await;
        let (key_id, key) = dev.create_api_key("backend").await;
        let owner1 = Api::signed_in(&server, "owner1@example.com").await;
        let owner2 = Api::signed_in(&server, "owner2@example.com").await;
        let gone1 = insert_link(&db, &owner1.account_id, "example", "user 1").await;
        let gone2 = insert_link(&db, &owner2.account_id, "example", "user 1").await;
        let other_user = insert_link(&db, &owner1.account_id, "example", "user 2").await;
        let other_idp = insert_link(&db, &owner1.account_id, "example-other", "user 1").await;

        let (status, body) =
            delete_links(&server, Some(&bearer(&key)), "example", "user%201").await;
        assert_eq!((status, &body), (200, &json!({"deleted": 2})));
        let mut left = vec![other_user.clone(), other_idp.clone()];
        left.sort();
        assert_eq!(link_ids(&db).await, left);
        let (status, body) =
            delete_links(&server, Some(&bearer(&key)), "example", "user%201").await;
        assert_eq!((status, &body), (200, &json!({"deleted": 0})), "idempotent");

        // Each owner's audit log shows the partner's deletion of their link.
        for (owner, link) in [(&owner1, &gone1), (&owner2, &gone2)] {
            let entries = server
                .state
                .store
                .list_audit(Some(&owner.account_id), 100)
                .await
                .unwrap();
            assert_eq!(entries.len(), 1, "{entries:?}");
            assert_eq!(entries[0].action, "link.delete");
            assert_eq!(entries[0].actor, format!("partner-key:{key_id}"));
            assert_eq!(entries[0].subject.as_deref(), Some(link.as_str()));
            assert!(!format!("{entries:?}").contains(&key));
        }
    }
);

server_test!(
    partner_api_keys_are_checked,
    |server: TestServer| async move {
        let db = database(&server).await;
        let a = Api::developer(&server, "a@example.com").await;
        let b = Api::developer(&server, "b@example.com").await;
        a.create_idp("idp-a").await;
        b.create_idp("idp-b").await;
        let (_, a_key) = a.create_api_key("a").await;
        let (b_key_id, b_key) = b.create_api_key("b").await;
        let (revoked_id, revoked) = a.create_api_key("old").await;
        let (status, _) = a
            .post(
                &format!("/v1/developer/api-keys/{revoked_id}/revoke"),
                json!({}),
            )
            .await;
        assert_eq!(status, 200);
        let owner = Api::signed_in(&server, "owner@example.com").await;
        insert_link(&db, &owner.account_id, "idp-a", "u1").await;
        insert_link(&db, &owner.account_id, "idp-b", "u1").await;
        let before = link_ids(&db).await;

        let unknown = format!("ssi_pk_{}", "A".repeat(43));
        let cases: Vec<(Option<String>, &str, u16)> = vec![
            (None, "idp-a", 401),
            (Some(a_key.clone()), "idp-a", 401), // not "Bearer …"
            (Some(format!("Basic {a_key}")), "idp-a", 401),
            (Some(bearer(&unknown)), "idp-a", 401),
            (Some(bearer(&secret_hash(&a_key))), "idp-a", 401), // the stored hash is not a key
            (Some(bearer(&revoked)), "idp-a", 401),
            (
                Some(bearer(&format!("{a_key}{}", "x".repeat(200)))),
                "idp-a",
                401,
            ),
            (Some(bearer(&b_key)), "idp-a", 404), // another developer's IDP
            (Some(bearer(&a_key)), "idp-b", 404),
            (Some(bearer(&a_key)), "no-such-idp", 404),
        ];
        for (authorization, idp, want) in cases {
            let (status, body) = delete_links(&server, authorization.as_deref(), idp, "u1").await;
            assert_eq!(status, want, "{authorization:?} on {idp}: {body}");
            if status == 404 {
                assert_eq!(body["message"], "identity provider not found");
            }
        }
        assert_eq!(link_ids(&db).await, before, "nothing was deleted");

        // Validation names the field and the limit.
        let long_idp = "x".repeat(65);
        for (idp, user, field) in [
            (long_idp.as_str(), "u1", "identityProviderName"),
            ("idp-a", "u%01", "partnerUserId"),
        ] {
            let (status, body) = delete_links(&server, Some(&bearer(&a_key)), idp, user).await;
            assert_eq!(status, 400, "{body}");
            let message = body["message"].as_str().unwrap();
            assert!(
                message.contains(field) && message.contains("1-"),
                "{message}"
            );
        }

        // B's own key works on B's IDP; then B revokes it and it stops at once.
        let (status, body) = delete_links(&server, Some(&bearer(&b_key)), "idp-b", "u1").await;
        assert_eq!((status, &body), (200, &json!({"deleted": 1})));
        b.post(
            &format!("/v1/developer/api-keys/{b_key_id}/revoke"),
            json!({}),
        )
        .await;
        let (status, _) = delete_links(&server, Some(&bearer(&b_key)), "idp-b", "u1").await;
        assert_eq!(status, 401);
    }
);

server_test!(
    api_keys_are_shown_once_and_stored_hashed,
    |server: TestServer| async move {
        let db = database(&server).await;
        let dev = Api::developer(&server, "dev@example.com").await;
        let response = dev
            .client
            .post(server.url("/v1/developer/api-keys"))
            .header("x-csrf-token", &dev.csrf)
            .json(&json!({"label": "backend"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        assert_eq!(response.headers()["cache-control"], "no-store");
        let created: Value = response.json().await.unwrap();
        let key = created["apiKey"].as_str().unwrap().to_owned();

        let (_, listed) = dev.get("/v1/developer/api-keys").await;
        assert_eq!(listed["apiKeys"][0]["label"], "backend");
        assert!(!listed.to_string().contains(&key));

        // Every stored column of every row, as text: the key is not there, its hash is.
        let rows = sqlx::query("SELECT id, developer_id, key_hash, label FROM partner_api_keys")
            .fetch_all(&db)
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        let stored: Vec<String> = ["id", "developer_id", "key_hash", "label"]
            .iter()
            .map(|c| rows[0].get::<String, _>(*c))
            .collect();
        assert!(
            stored
                .iter()
                .all(|v| !v.contains(&key) && !key.contains(v.as_str()))
        );
        assert_eq!(stored[2], secret_hash(&key));
    }
);
