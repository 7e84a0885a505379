//! A real server (in-process, SQLite in a temp dir, ephemeral port) and real
//! agents in front of it, with apps, devices, partners and a screen client that
//! answers prompts through the screens' HTTP endpoints as the paired kiosk would.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use ssi_agent::clock::{Clock, SystemRandomSource};
use ssi_agent::credential::DeviceCredential;
use ssi_agent::manifest::Privileges;
use ssi_agent::screens::Screens;
use ssi_agent::server::{ServerClient, ServerDeviceSwitch};
use ssi_agent::store::{AgentStore, InstalledApp};
use ssi_agent::{Agent, AgentConfig};
use ssi_proto::{LinkUserAccountRequest, Token};
use ssi_server::clock::ManualClock;
use ssi_server::encoding::secret_hash;
use ssi_server::random::{SystemRandomSource as ServerRandom, new_id, new_secret};
use ssi_server::store::accounts::AccountRow;
use ssi_server::store::developers::{AppRow, IdpRow, NewAppKey};
use ssi_server::store::devices::DeviceRow;
use ssi_server::{AppState, ServerConfig};
use ssi_token::{AppKeyPair, LinkTokenKey, LinkTokenKeys, Random, SystemRandom};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// 2026-11-25T00:00:00Z: the server's and the agents' "now".
pub const NOW_MS: i64 = 1_795_564_800_000;

/// The agent's clock is the server's manual clock.
pub struct SharedClock(pub ManualClock);

impl Clock for SharedClock {
    fn now_ms(&self) -> i64 {
        ssi_server::clock::Clock::now_ms(&self.0)
    }
}

/// A server on a fixed address; stop and start it again on the same data.
pub struct TestServer {
    pub addr: SocketAddr,
    pub state: AppState,
    pub clock: ManualClock,
    config: ServerConfig,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    _dir: Arc<tempfile::TempDir>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_at(NOW_MS).await
    }

    /// A server whose clock starts at `now_ms`.
    pub async fn start_at(now_ms: i64) -> Self {
        let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let config = ServerConfig {
            listen: addr,
            data_dir: dir.path().to_owned(),
            issuer: format!("http://{addr}"),
            ..ServerConfig::default()
        };
        Self::start_on(listener, config, ManualClock::new(now_ms), dir).await
    }

    async fn start_on(
        listener: tokio::net::TcpListener,
        config: ServerConfig,
        clock: ManualClock,
        dir: Arc<tempfile::TempDir>,
    ) -> Self {
        let state = ssi_server::build_state(
            config.clone(),
            Arc::new(clock.clone()),
            Arc::new(ServerRandom),
        )
        .await
        .expect("server state");
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(ssi_server::serve(listener, state.clone(), async {
            let _ = stopped.await;
        }));
        Self {
            addr: config.listen,
            state,
            clock,
            config,
            stop: Some(stop),
            task: Some(task),
            _dir: dir,
        }
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server (the port is free until [`TestServer::restart`]).
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server exit");
        }
    }

    /// Starts again on the same address and data.
    pub async fn restart(&mut self) {
        self.stop().await;
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .expect("rebind");
        let again = Self::start_on(
            listener,
            self.config.clone(),
            self.clock.clone(),
            self._dir.clone(),
        )
        .await;
        *self = again;
    }

    /// Rows of `metric_events` from `source` (a device id, or `server`).
    pub async fn count_events(&self, sql_where: &str, param: &str) -> i64 {
        let url = ssi_server::startup::database_url(&self.config);
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .expect("server database");
        let sql = format!("SELECT COUNT(*) FROM metric_events WHERE {sql_where}");
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(param)
            .fetch_one(&pool)
            .await
            .expect("count");
        pool.close().await;
        n
    }

    /// A platform account; returns its id.
    pub async fn account(&self) -> String {
        let id = new_id(&ServerRandom, "acc_");
        self.state
            .store
            .insert_account(&AccountRow {
                id: id.clone(),
                email: format!("{id}@example.test"),
                password_hash: "not-a-hash".into(),
                ssi_enabled: true,
                region: "default".into(),
                is_developer: false,
                created_at: NOW_MS,
            })
            .await
            .expect("account");
        id
    }

    /// A device of the account and its credential file's content.
    pub async fn device(&self, account_id: &str) -> (String, DeviceCredential) {
        let id = new_id(&ServerRandom, "dev_");
        let credential = new_secret(&ServerRandom, "ssi_dev_");
        self.state
            .store
            .insert_device(
                &DeviceRow {
                    id: id.clone(),
                    account_id: account_id.to_owned(),
                    name: "Living room TV".into(),
                    ssi_enabled: true,
                    mode: "normal".into(),
                    created_at: NOW_MS,
                    last_seen_at: None,
                },
                &secret_hash(&credential),
            )
            .await
            .expect("device");
        let stored = DeviceCredential {
            server: self.base(),
            credential,
            device_id: Some(id.clone()),
        };
        (id, stored)
    }

    /// A developer with an IDP and an app bound to it (with an icon when asked).
    pub async fn developer_app(&self, package_id: &str, idp_name: &str, icon: bool) -> TestApp {
        let developer_id = self.account().await;
        self.state
            .store
            .enroll_developer(&developer_id)
            .await
            .expect("enroll");
        let idp_id = new_id(&ServerRandom, "idp_");
        self.state
            .store
            .insert_idp(&IdpRow {
                id: idp_id.clone(),
                developer_id: developer_id.clone(),
                name: idp_name.to_owned(),
                created_at: NOW_MS,
            })
            .await
            .expect("idp");
        self.add_app(&developer_id, package_id, &idp_id, idp_name, icon)
            .await
    }

    /// Another app of the developer, bound to the IDP.
    pub async fn add_app(
        &self,
        developer_id: &str,
        package_id: &str,
        idp_id: &str,
        idp_name: &str,
        icon: bool,
    ) -> TestApp {
        let app_id = new_id(&ServerRandom, "app_");
        let (app_key, d) = loop {
            let mut d = [0u8; 32];
            SystemRandom.fill(&mut d);
            if let Ok(key) = AppKeyPair::from_private_scalar(&d) {
                break (key, d);
            }
        };
        let (sealed, version) =
            self.state
                .master_keys
                .seal(app_key.kid().as_bytes(), &d, self.state.rng());
        let icon = icon.then(|| ssi_server::domain::developers::Icon {
            content_type: "image/svg+xml",
            bytes: br#"<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>"#.to_vec(),
        });
        self.state
            .store
            .insert_app(
                &AppRow {
                    id: app_id.clone(),
                    developer_id: developer_id.to_owned(),
                    package_id: package_id.to_owned(),
                    display_name: format!("App {package_id}"),
                    idp_id: None,
                    idp_name: None,
                    blocked: false,
                    has_icon: icon.is_some(),
                    created_at: NOW_MS,
                },
                icon.as_ref(),
                &NewAppKey {
                    kid: app_key.kid().to_owned(),
                    private_sealed: sealed,
                    master_key_version: version,
                    public_jwk: serde_json::to_string(&app_key.public_key().to_jwk()).expect("jwk"),
                },
            )
            .await
            .expect("app");
        assert!(
            self.state
                .store
                .bind_app_idp(developer_id, &app_id, idp_id)
                .await
                .expect("bind")
        );
        TestApp {
            developer_id: developer_id.to_owned(),
            package_id: package_id.to_owned(),
            idp_id: idp_id.to_owned(),
            idp_name: idp_name.to_owned(),
            app_key,
            partner: LinkTokenKey::generate(&mut SystemRandom),
        }
    }
}

/// An app on the server with its partner backend's link-token key.
#[allow(dead_code)]
pub struct TestApp {
    pub developer_id: String,
    pub package_id: String,
    pub idp_id: String,
    pub idp_name: String,
    pub app_key: AppKeyPair,
    pub partner: LinkTokenKey,
}

impl TestApp {
    /// What the partner backend hands its app for `linkUserAccount`.
    pub fn link_request(
        &self,
        partner_user_id: &str,
        amazon_user_id: &str,
    ) -> LinkUserAccountRequest {
        let issued = ssi_token::issue_link(
            partner_user_id,
            amazon_user_id,
            BTreeMap::new(),
            &self.partner,
            &self.app_key.public_key(),
            NOW_MS / 1000,
            &mut SystemRandom,
        );
        LinkUserAccountRequest {
            partner_user_id: partner_user_id.to_owned(),
            identity_provider_name: self.idp_name.clone(),
            user_login_name: format!("{partner_user_id}@partner.example"),
            link_token: Token::link(issued.link_token),
            link_signing_key: issued.sealed_signing_key,
        }
    }

    /// A well-formed request that no server would accept (the sealed key opens
    /// with no app's key): for checks made before the server is asked.
    pub fn link_request_for(idp_name: &str) -> LinkUserAccountRequest {
        LinkUserAccountRequest {
            partner_user_id: "user-1".into(),
            identity_provider_name: idp_name.to_owned(),
            user_login_name: "user-1@partner.example".into(),
            link_token: Token::link("e30.e30.e30.e30.e30"),
            link_signing_key: "e30.e30.e30.e30.e30".into(),
        }
    }

    /// Verifies an SSI token as the partner backend would.
    pub fn verify(&self, token: &Value, issuer: &str) -> Result<ssi_token::VerifiedSsiToken> {
        let keys =
            LinkTokenKeys::single(LinkTokenKey::from_jwk(&self.partner.to_jwk()).expect("own key"));
        ssi_token::verify_ssi_token(
            token["schema"].as_str().context("schema")?,
            token["token"].as_str().context("token")?,
            &ssi_token::VerifyOptions {
                link_token_keys: &keys,
                identity_provider_name: &self.idp_name,
                issuer,
            },
            NOW_MS / 1000,
            &ssi_token::InMemoryReplayStore::new(),
        )
        .map_err(|e| anyhow::anyhow!("{e:?}"))
    }
}

/// An installed app with these privileges and uid.
pub fn installed(package_id: &str, privileges: Privileges, uid: Option<u32>) -> InstalledApp {
    InstalledApp {
        package_id: package_id.to_owned(),
        privileges,
        uid,
        installed_at: NOW_MS,
    }
}

/// An agent running in-process, with its own data and run directories.
pub struct TestAgent {
    pub agent: Arc<Agent>,
    pub run_dir: PathBuf,
    pub data_dir: PathBuf,
    pub screen_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

impl TestAgent {
    /// Starts an agent for `credential` with `apps` installed; `adjust` may
    /// change the settings (fast retries and short screens are the default).
    pub async fn start(
        credential: &DeviceCredential,
        clock: &ManualClock,
        apps: &[InstalledApp],
        adjust: impl FnOnce(&mut AgentConfig),
    ) -> Self {
        let data = tempfile::tempdir().expect("data dir");
        let run = tempfile::tempdir().expect("run dir");
        // Apps of other uids must be able to reach their sockets.
        std::fs::set_permissions(
            run.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod");
        let mut config = AgentConfig {
            data_dir: data.path().to_owned(),
            run_dir: run.path().join("ssi"),
            screen_listen: "127.0.0.1:0".parse().expect("addr"),
            screen_timeout_secs: 30,
            server_timeout_ms: 2_000,
            outbox_retry_min_ms: 50,
            outbox_retry_max_ms: 200,
            registry_rescan_ms: 50,
            ..AgentConfig::default()
        };
        adjust(&mut config);
        credential.save(data.path()).expect("credential");
        let store = AgentStore::open(data.path()).await.expect("agent store");
        for app in apps {
            store.install_app(app).await.expect("install");
        }
        let server = ServerClient::new(credential, config.server_timeout()).expect("client");
        let screens = Screens::new(config.screen_timeout())
            .with_device_switch(Arc::new(ServerDeviceSwitch::new(server.clone())));
        let listener = tokio::net::TcpListener::bind(config.screen_listen)
            .await
            .expect("screen port");
        let screen_addr = listener.local_addr().expect("addr");
        let agent = Arc::new(Agent::new(
            config.clone(),
            server,
            screens,
            store,
            Arc::new(SharedClock(clock.clone())),
            Arc::new(SystemRandomSource),
        ));
        let (stop, stopped) = oneshot::channel::<()>();
        let (ready_tx, ready_rx) = oneshot::channel::<()>();
        let task = {
            let agent = agent.clone();
            tokio::spawn(async move {
                ssi_agent::run::run(
                    agent,
                    listener,
                    async {
                        let _ = stopped.await;
                    },
                    move || {
                        let _ = ready_tx.send(());
                    },
                )
                .await
                .expect("agent run");
            })
        };
        ready_rx.await.expect("agent ready");
        Self {
            agent,
            run_dir: config.run_dir.clone(),
            data_dir: data.path().to_owned(),
            screen_addr,
            stop: Some(stop),
            task: Some(task),
            _dirs: (data, run),
        }
    }

    pub fn socket(&self, package_id: &str) -> PathBuf {
        ssi_agent::socket::socket_path(&self.run_dir, package_id)
    }

    /// Stops the agent gracefully.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("agent task");
        }
    }

    /// A screen client paired with this agent's screens.
    pub async fn screen(&self) -> ScreenClient {
        ScreenClient::pair(self).await
    }

    /// Queued outbox items.
    pub async fn queued(&self) -> i64 {
        self.agent.store().count_outbox().await.expect("count")
    }
}

/// Waits until `check` holds, at most `patience` (a bound on waiting, not a
/// timing assertion).
pub async fn eventually<F, Fut>(patience: Duration, what: &str, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        if check().await {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("{what}: not within {patience:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A raw connection to an app socket: lines in, lines out.
pub struct RawClient {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl RawClient {
    pub async fn connect(path: &Path) -> std::io::Result<Self> {
        let stream = UnixStream::connect(path).await?;
        let (read, writer) = stream.into_split();
        Ok(Self {
            reader: BufReader::new(read),
            writer,
        })
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.expect("write");
    }

    /// Sends a request line.
    pub async fn send(&mut self, id: &str, method: &str, params: Value) {
        let line = json!({"protocol": 1, "id": id, "method": method, "params": params});
        self.send_raw(format!("{line}\n").as_bytes()).await;
    }

    /// The next response line, or `None` at EOF.
    pub async fn recv(&mut self) -> Option<Value> {
        let mut line = String::new();
        let n = tokio::time::timeout(Duration::from_secs(30), self.reader.read_line(&mut line))
            .await
            .expect("an answer within 30 s")
            .ok()?;
        (n > 0).then(|| serde_json::from_str(&line).expect("a JSON line"))
    }

    /// One request, one response (checked to carry the id).
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        self.send("c1", method, params).await;
        let response = self.recv().await.expect("a response");
        assert_eq!(response["id"], "c1", "{response}");
        assert_eq!(response["protocol"], 1, "{response}");
        response["result"].clone()
    }
}

/// One call on a fresh connection.
pub async fn call(agent: &TestAgent, package_id: &str, method: &str, params: Value) -> Value {
    let mut client = RawClient::connect(&agent.socket(package_id))
        .await
        .expect("connect");
    client.call(method, params).await
}

/// The paired screen client, over the screens' HTTP endpoints.
pub struct ScreenClient {
    base: String,
    cookie: String,
    http: reqwest::Client,
}

fn hidden_value<'a>(html: &'a str, name: &str) -> Option<&'a str> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &html[at + name.len() + 15..];
    rest.split('"').next()
}

impl ScreenClient {
    async fn pair(agent: &TestAgent) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let base = format!("http://{}", agent.screen_addr);
        let token = agent.agent.screens().issue_pairing_token();
        let response = http
            .get(format!("{base}/pair?token={token}"))
            .send()
            .await
            .expect("pair");
        let cookie = response
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .expect("a session cookie")
            .to_owned();
        Self { base, cookie, http }
    }

    /// What the screen shows now.
    pub async fn view(&self) -> String {
        self.http
            .get(format!("{}/view", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .expect("view")
            .text()
            .await
            .expect("html")
    }

    /// Waits for a prompt on the screen; its HTML.
    pub async fn prompt(&self) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let html = self.view().await;
            if html.contains("name=\"prompt\"") {
                return html;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no prompt shown: {html}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Answers the shown prompt (`allow`, `not-now`, `manual`, `select-N`).
    pub async fn answer(&self, choice: &str) -> String {
        let html = self.prompt().await;
        let csrf = hidden_value(&html, "csrf").expect("csrf");
        let nonce = hidden_value(&html, "prompt").expect("nonce");
        let response = self
            .http
            .post(format!("{}/answer", self.base))
            .header("cookie", &self.cookie)
            .header("origin", &self.base)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("csrf={csrf}&prompt={nonce}&choice={choice}"))
            .send()
            .await
            .expect("answer");
        assert!(
            response.status().is_redirection(),
            "answer {choice}: {}",
            response.status()
        );
        html
    }
}

/// `method` on a fresh connection, in the background (for calls whose answer
/// waits for a screen).
pub fn spawn_call(
    agent: &TestAgent,
    package_id: &str,
    method: &'static str,
    params: Value,
) -> JoinHandle<Value> {
    let socket = agent.socket(package_id);
    tokio::spawn(async move {
        RawClient::connect(&socket)
            .await
            .expect("connect")
            .call(method, params)
            .await
    })
}

/// A server with one app (all privileges), an account with one device, and its
/// agent.
pub struct OneApp {
    pub server: TestServer,
    pub app: TestApp,
    pub device_id: String,
    pub agent: TestAgent,
}

impl OneApp {
    pub async fn start(
        package_id: &str,
        idp_name: &str,
        adjust: impl FnOnce(&mut AgentConfig),
    ) -> Self {
        let server = TestServer::start().await;
        let app = server.developer_app(package_id, idp_name, true).await;
        let account = server.account().await;
        let (device_id, credential) = server.device(&account).await;
        let agent = TestAgent::start(
            &credential,
            &server.clock,
            &[installed(package_id, Privileges::all(), None)],
            adjust,
        )
        .await;
        Self {
            server,
            app,
            device_id,
            agent,
        }
    }
}
