//! Test fixtures shared by the server tests: accounts, devices with known
//! credentials, developers with an app bound to an IDP and an app key, the
//! partner side of linking, and a direct database handle for set-up and checks.
//!
//! Set-up writes rows with direct SQL (or the store's own insert functions)
//! so that a test depends only on the area it tests.

use std::collections::BTreeMap;

use serde_json::Value;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor, Row};
use ssi_proto::{LinkUserAccountRequest, Token};
use ssi_server::encoding::secret_hash;
use ssi_server::random::{SystemRandomSource, new_id, new_secret};
use ssi_server::store::accounts::AccountRow;
use ssi_server::store::devices::DeviceRow;
use ssi_token::{
    AppKeyPair, InMemoryReplayStore, IssuedLink, LinkTokenKey, LinkTokenKeys, Random, SystemRandom,
    VerifiedSsiToken, VerifyError, VerifyOptions,
};

use crate::harness::{Backend, TestServer};

/// A second connection pool on the server's database, for set-up and checks.
pub async fn db(server: &TestServer) -> AnyPool {
    sqlx::any::install_default_drivers();
    let url = ssi_server::startup::database_url(&server.config);
    let is_sqlite = server.backend == Backend::Sqlite;
    AnyPoolOptions::new()
        .max_connections(2)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if is_sqlite {
                    conn.execute("PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON;")
                        .await?;
                }
                Ok(())
            })
        })
        .connect(&url)
        .await
        .expect("test database pool")
}

/// Runs one statement with text parameters.
pub async fn exec(db: &AnyPool, sql: &str, params: &[&str]) {
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
    for p in params {
        query = query.bind(*p);
    }
    query
        .execute(db)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// `SELECT COUNT(*) …` with text parameters.
pub async fn count(db: &AnyPool, sql: &str, params: &[&str]) -> i64 {
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
    for p in params {
        query = query.bind(*p);
    }
    let row = query
        .fetch_one(db)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    row.try_get::<i64, _>(0).expect("a count")
}

/// A new platform account; returns its id.
pub async fn account(server: &TestServer, is_developer: bool) -> String {
    let id = new_id(&SystemRandomSource, "acc_");
    server
        .state
        .store
        .insert_account(&AccountRow {
            id: id.clone(),
            email: format!("{id}@example.test"),
            password_hash: "not-a-hash".to_owned(),
            ssi_enabled: true,
            region: "default".to_owned(),
            is_developer,
            created_at: server.state.now_ms(),
        })
        .await
        .expect("insert account");
    id
}

/// A registered device and its bearer credential.
#[derive(Debug, Clone)]
pub struct TestDevice {
    pub id: String,
    pub account_id: String,
    pub credential: String,
}

impl TestDevice {
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.credential)
    }
}

pub async fn device(server: &TestServer, account_id: &str) -> TestDevice {
    let id = new_id(&SystemRandomSource, "dev_");
    let credential = new_secret(&SystemRandomSource, "ssid_");
    server
        .state
        .store
        .insert_device(
            &DeviceRow {
                id: id.clone(),
                account_id: account_id.to_owned(),
                name: "Living room TV".to_owned(),
                ssi_enabled: true,
                mode: "normal".to_owned(),
                created_at: server.state.now_ms(),
                last_seen_at: None,
            },
            &secret_hash(&credential),
        )
        .await
        .expect("insert device");
    TestDevice {
        id,
        account_id: account_id.to_owned(),
        credential,
    }
}

/// An account with one device.
pub async fn account_with_device(server: &TestServer) -> TestDevice {
    let account_id = account(server, false).await;
    device(server, &account_id).await
}

/// A developer's app bound to an IDP, with its current app key.
pub struct TestApp {
    pub developer_id: String,
    pub app_id: String,
    pub package_id: String,
    pub idp_id: String,
    pub idp_name: String,
    pub app_key: AppKeyPair,
}

/// A fresh app key pair and its private scalar.
pub fn app_key_pair() -> (AppKeyPair, [u8; 32]) {
    loop {
        let mut d = [0u8; 32];
        SystemRandom.fill(&mut d);
        if let Ok(key) = AppKeyPair::from_private_scalar(&d) {
            return (key, d);
        }
    }
}

/// Stores an app key the server's way: the scalar sealed under the master
/// key with the kid as associated data.
pub async fn insert_app_key(
    server: &TestServer,
    db: &AnyPool,
    app_id: &str,
    d: &[u8; 32],
    retired_at: Option<i64>,
    expires_at: Option<i64>,
) -> AppKeyPair {
    let key = AppKeyPair::from_private_scalar(d).expect("a valid scalar");
    let (sealed, version) =
        server
            .state
            .master_keys
            .seal(key.kid().as_bytes(), d, server.state.rng());
    let public_jwk = serde_json::to_string(&key.public_key().to_jwk()).expect("jwk");
    sqlx::query(
        "INSERT INTO app_keys (kid, app_id, private_sealed, master_key_version, public_jwk, \
         created_at, retired_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(key.kid())
    .bind(app_id)
    .bind(sealed)
    .bind(version)
    .bind(public_jwk)
    .bind(server.state.now_ms())
    .bind(retired_at)
    .bind(expires_at)
    .execute(db)
    .await
    .expect("insert app key");
    key
}

/// A new developer account with an IDP `idp_name` and one app bound to it.
pub async fn developer_app(server: &TestServer, package_id: &str, idp_name: &str) -> TestApp {
    let developer_id = account(server, true).await;
    let db = db(server).await;
    let idp_id = new_id(&SystemRandomSource, "idp_");
    sqlx::query("INSERT INTO idps (id, developer_id, name, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&idp_id)
        .bind(&developer_id)
        .bind(idp_name)
        .bind(server.state.now_ms())
        .execute(&db)
        .await
        .expect("insert idp");
    add_app(server, &developer_id, package_id, &idp_id, idp_name).await
}

/// Another app of the same developer bound to the same IDP.
pub async fn add_app(
    server: &TestServer,
    developer_id: &str,
    package_id: &str,
    idp_id: &str,
    idp_name: &str,
) -> TestApp {
    let db = db(server).await;
    let app_id = new_id(&SystemRandomSource, "app_");
    sqlx::query(
        "INSERT INTO apps (id, developer_id, package_id, display_name, idp_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&app_id)
    .bind(developer_id)
    .bind(package_id)
    .bind(format!("App {package_id}"))
    .bind(idp_id)
    .bind(server.state.now_ms())
    .execute(&db)
    .await
    .expect("insert app");
    let (_, d) = app_key_pair();
    let app_key = insert_app_key(server, &db, &app_id, &d, None, None).await;
    TestApp {
        developer_id: developer_id.to_owned(),
        app_id,
        package_id: package_id.to_owned(),
        idp_id: idp_id.to_owned(),
        idp_name: idp_name.to_owned(),
        app_key,
    }
}

/// The partner backend of an IDP: its link-token key.
pub struct Partner {
    pub idp_name: String,
    pub keys: LinkTokenKeys,
    kid: String,
}

impl Partner {
    pub fn new(idp_name: &str) -> Self {
        let key = LinkTokenKey::generate(&mut SystemRandom);
        Self {
            idp_name: idp_name.to_owned(),
            kid: key.kid().to_owned(),
            keys: LinkTokenKeys::single(key),
        }
    }

    /// The same link-token key for another IDP name (a partner with two IDPs).
    pub fn for_idp(&self, idp_name: &str) -> Self {
        let jwk = self.keys.find(&self.kid).expect("own key").to_jwk();
        Self {
            idp_name: idp_name.to_owned(),
            kid: self.kid.clone(),
            keys: LinkTokenKeys::single(LinkTokenKey::from_jwk(&jwk).expect("own key")),
        }
    }

    /// What the partner backend hands its app for `linkUserAccount`.
    pub fn issue_link(
        &self,
        app: &TestApp,
        partner_user_id: &str,
        amazon_user_id: &str,
        now_secs: i64,
    ) -> IssuedLink {
        ssi_token::issue_link(
            partner_user_id,
            amazon_user_id,
            BTreeMap::from([("plan".to_owned(), "gold".to_owned())]),
            self.keys.find(&self.kid).expect("own key"),
            &app.app_key.public_key(),
            now_secs,
            &mut SystemRandom,
        )
    }

    /// The seed's `LinkUserAccountRequest` for an issued link.
    pub fn link_request(
        &self,
        partner_user_id: &str,
        issued: &IssuedLink,
    ) -> LinkUserAccountRequest {
        LinkUserAccountRequest {
            partner_user_id: partner_user_id.to_owned(),
            identity_provider_name: self.idp_name.clone(),
            user_login_name: format!("{partner_user_id}@partner.example"),
            link_token: Token::link(issued.link_token.clone()),
            link_signing_key: issued.sealed_signing_key.clone(),
        }
    }

    /// Verifies an SSI token as the partner backend would.
    pub fn verify(
        &self,
        token: &Value,
        issuer: &str,
        now_secs: i64,
    ) -> Result<VerifiedSsiToken, VerifyError> {
        ssi_token::verify_ssi_token(
            token["schema"].as_str().expect("schema"),
            token["token"].as_str().expect("token"),
            &VerifyOptions {
                link_token_keys: &self.keys,
                identity_provider_name: &self.idp_name,
                issuer,
            },
            now_secs,
            &InMemoryReplayStore::new(),
        )
    }
}

/// Calls the device API: (status, JSON body or `null`).
pub async fn device_call(
    server: &TestServer,
    device: &TestDevice,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut request = server
        .http
        .request(method, server.url(path))
        .header("authorization", device.bearer());
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// `POST` to the device API.
pub async fn device_post(
    server: &TestServer,
    device: &TestDevice,
    path: &str,
    body: &Value,
) -> (u16, Value) {
    device_call(server, device, reqwest::Method::POST, path, Some(body)).await
}
