//! Issue 4 end to end: a real `ssi server` and a real `ssi agent` (the binary under
//! test, as processes), the device registered through the RFC 8628 flow with the
//! owner approving on the account pages, a developer's app, IDP and key made through
//! the developer API, the partner's link tokens and sealed keys from `ssi-token`,
//! apps speaking over their sockets through the `simplesignin` crate, and a real
//! Chromium paired as the screen client, answering with the keyboard alone.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use reqwest::header::{COOKIE, HOST, ORIGIN, SET_COOKIE};
use serde_json::{Value, json};
use simplesignin::{
    LinkAccountSuccessCode, LinkUserAccountRequest, LinkUserAccountResponse, LoginNameValue,
    RequestStatus, ShowLoginSelectionResponse, SimpleSignIn, Token, UserSelection,
};
use ssi_testkit::browser::Browser;
use ssi_testkit::browser::keys::{DOWN, ENTER, RIGHT};
use ssi_token::{
    AppJwk, AppPublicKey, InMemoryReplayStore, LinkTokenKey, LinkTokenKeys, SystemRandom,
    VerifyOptions, issue_link, verify_ssi_token,
};
use tempfile::TempDir;

use crate::server::{Server, http, master_keys_value, ssi_command};
use crate::temp_dir;

const IDP: &str = "acme-e2e";
const LINK_TOKEN_KID: &str = "acme-ltk-1";
const FULL_APP: &str = "com.acme.video";
const NO_CONSENT_APP: &str = "com.acme.noconsent";
const CONSENT_PRIVILEGE: &str = "com.amazon.dms.ssi.consent";
/// A bound on waiting for a process or a screen, never a timing assertion.
const PATIENCE: Duration = Duration::from_secs(60);

const PRIVILEGES: [&str; 4] = [
    "[[wants.module]]\nid = \"/com.amazon.dms.ssi@ISimpleSignIn\"\n",
    "[[wants.service]]\nid = \"com.amazon.dms.ssi.service\"\n",
    "[[wants.interactive]]\nid = \"com.amazon.dms.ssi.loginselection\"\n",
    "[[wants.interactive]]\nid = \"com.amazon.dms.ssi.consent\"\n",
];

fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The platform account that owns the device, signed in on the account pages; it
/// also enrolls as the app's developer.
struct Owner {
    base: String,
    cookie: String,
    csrf: String,
}

impl Owner {
    async fn sign_up(base: &str) -> Result<Self> {
        const EMAIL: &str = "owner@example.com";
        const PASSWORD: &str = "correct horse battery staple";
        const PRE_CSRF: &str = "csrf-of-the-agent-e2e-tests-0123456789";
        let mut session = None;
        for path in ["/account/signup", "/account/signin"] {
            let response = http()
                .post(format!("{base}{path}"))
                .header("content-type", "application/x-www-form-urlencoded")
                .header(COOKIE, format!("ssi_csrf={PRE_CSRF}"))
                .body(form(&[
                    ("csrf", PRE_CSRF),
                    ("email", EMAIL),
                    ("password", PASSWORD),
                ]))
                .send()
                .await?;
            ensure!(response.status() == 303, "{path}: {}", response.status());
            session = response
                .headers()
                .get_all(SET_COOKIE)
                .iter()
                .filter_map(|value| value.to_str().ok())
                .find(|value| value.starts_with("ssi_session="))
                .and_then(|value| value.split(';').next())
                .map(str::to_owned);
        }
        let cookie = session.context("signing in set no session cookie")?;
        let info: Value = http()
            .get(format!("{base}/v1/session"))
            .header(COOKIE, &cookie)
            .send()
            .await?
            .json()
            .await?;
        let csrf = info["csrfToken"].as_str().context("csrfToken")?.to_owned();
        Ok(Self {
            base: base.to_owned(),
            cookie,
            csrf,
        })
    }

    /// A developer API call; the JSON answer (2xx required).
    async fn api(&self, path: &str, body: Value) -> Result<Value> {
        let response = http()
            .post(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .header("x-csrf-token", &self.csrf)
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        ensure!(status.is_success(), "POST {path}: {status} {text}");
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Approves a device's user code on the account pages.
    async fn approve_device(&self, user_code: &str) -> Result<()> {
        let response = http()
            .post(format!("{}/device/confirm", self.base))
            .header(COOKIE, &self.cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[
                ("csrf", &self.csrf),
                ("user_code", user_code),
                ("decision", "approve"),
            ]))
            .send()
            .await?;
        ensure!(response.status() == 200, "approving: {}", response.status());
        Ok(())
    }
}

/// The developer side: an IDP, the apps bound to it with a key, and the partner's
/// link-token key. Returns the app's public key (from the public JWKS).
async fn developer_setup(owner: &Owner) -> Result<AppPublicKey> {
    owner.api("/v1/developer/enroll", json!({})).await?;
    owner
        .api("/v1/developer/idps", json!({ "identityProviderName": IDP }))
        .await?;
    for (package_id, name) in [(FULL_APP, "Acme Video"), (NO_CONSENT_APP, "Acme Lite")] {
        let app = owner
            .api(
                "/v1/developer/apps",
                json!({ "packageId": package_id, "displayName": name }),
            )
            .await?;
        let app_id = app["appId"].as_str().context("appId")?;
        owner
            .api(
                &format!("/v1/developer/apps/{app_id}/idp"),
                json!({ "identityProviderName": IDP }),
            )
            .await?;
        owner
            .api(&format!("/v1/developer/apps/{app_id}/keys"), json!({}))
            .await?;
    }
    let jwks: Value = http()
        .get(format!("{}/v1/apps/{FULL_APP}/jwks.json", owner.base))
        .send()
        .await?
        .json()
        .await?;
    let jwk: AppJwk = serde_json::from_value(jwks["keys"][0].clone())?;
    AppPublicKey::from_jwk(&jwk).map_err(|e| anyhow::anyhow!("app JWK: {e:?}"))
}

/// `ssi agent register`: the device asks for a code, the owner approves it.
async fn register_device(owner: &Owner, data_dir: &Path) -> Result<()> {
    let mut child = ssi_command(
        &[
            "agent",
            "--data-dir",
            path_str(data_dir),
            "register",
            "--server",
            &owner.base,
            "--device-name",
            "Living room TV",
        ],
        &[],
    )
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    let user_code = loop {
        let line = lines.next().context("register ended without a code")??;
        if let Some(code) = line.split("enter the code ").nth(1) {
            break code.trim().to_owned();
        }
    };
    owner.approve_device(&user_code).await?;
    let rest: Vec<String> = lines.collect::<Result<_, _>>()?;
    let status = child.wait()?;
    ensure!(
        status.success() && rest.iter().any(|l| l.starts_with("registered as device")),
        "ssi agent register: {status}, {rest:?}"
    );
    Ok(())
}

fn install_app(data_dir: &Path, work: &Path, package_id: &str, without: &[&str]) -> Result<()> {
    let manifest: String = PRIVILEGES
        .iter()
        .filter(|entry| !without.iter().any(|left_out| entry.contains(left_out)))
        .copied()
        .collect();
    let manifest_path = work.join(format!("{package_id}.toml"));
    std::fs::write(&manifest_path, manifest)?;
    let output = ssi_command(
        &[
            "agent",
            "--data-dir",
            path_str(data_dir),
            "install",
            "--package-id",
            package_id,
            "--manifest",
            path_str(&manifest_path),
        ],
        &[],
    )
    .output()?;
    ensure!(
        output.status.success(),
        "install {package_id}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// A running `ssi agent run`.
struct AgentProcess {
    child: Child,
    screen_addr: String,
    pairing_link: String,
}

impl AgentProcess {
    fn start(data_dir: &Path, run_dir: &Path, screen_timeout_secs: u64) -> Result<Self> {
        let mut child = ssi_command(
            &[
                "agent",
                "--data-dir",
                path_str(data_dir),
                "run",
                "--run-dir",
                path_str(run_dir),
                "--screen-listen",
                "127.0.0.1:0",
                "--screen-timeout-secs",
                &screen_timeout_secs.to_string(),
            ],
            &[],
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
        let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        let mut screens = None;
        for line in lines.by_ref() {
            let line = line?;
            if let Some(rest) = line.strip_prefix("screens on http://") {
                let (addr, file) = rest
                    .split_once(" (pairing link in ")
                    .context("the screens line")?;
                screens = Some((addr.to_owned(), PathBuf::from(file.trim_end_matches(')'))));
            }
            if line.starts_with("app sockets in ") {
                break;
            }
        }
        // Keep draining stdout so the agent never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        let Some((screen_addr, pairing_file)) = screens else {
            let _ = child.kill();
            bail!("ssi agent run printed no screens line");
        };
        let pairing_link = std::fs::read_to_string(&pairing_file)?.trim().to_owned();
        Ok(Self {
            child,
            screen_addr,
            pairing_link,
        })
    }

    fn stop(mut self) -> Result<()> {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        ensure!(sent.success(), "kill -TERM");
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Everything of one test: server, registered device with its apps, the running
/// agent, the paired Chromium, and the partner's keys.
struct World {
    _work: TempDir,
    server: Server,
    data_dir: PathBuf,
    run_dir: PathBuf,
    agent: Option<AgentProcess>,
    browser: Browser,
    link_token_key: LinkTokenKey,
    /// The same key, as the partner's verifier holds it.
    link_token_keys: LinkTokenKeys,
    app_key: AppPublicKey,
    amazon_user_id: String,
}

impl World {
    async fn start(screen_timeout_secs: u64) -> Result<Self> {
        let work = temp_dir();
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let base = format!("http://127.0.0.1:{port}");
        let server_dir = work.path().join("server");
        let server = Server::start(
            &[
                "--data-dir",
                path_str(&server_dir),
                "--listen",
                &format!("127.0.0.1:{port}"),
            ],
            &[
                ("SSI_MASTER_KEYS", &master_keys_value(1)),
                ("SSI_ISSUER", &base),
            ],
        );
        let owner = Owner::sign_up(&base).await?;
        let app_key = developer_setup(&owner).await?;
        let data_dir = work.path().join("agent");
        let run_dir = work.path().join("run");
        register_device(&owner, &data_dir).await?;
        install_app(&data_dir, work.path(), FULL_APP, &[])?;
        install_app(&data_dir, work.path(), NO_CONSENT_APP, &[CONSENT_PRIVILEGE])?;
        let agent = AgentProcess::start(&data_dir, &run_dir, screen_timeout_secs)?;
        let browser = Browser::start().await?;
        browser.client.goto(&agent.pairing_link).await?;
        browser.wait_for("#open-settings").await?;
        let mut link_token_secret = [0u8; 32];
        ssi_token::Random::fill(&mut SystemRandom, &mut link_token_secret);
        let mut world = Self {
            _work: work,
            server,
            data_dir,
            run_dir,
            agent: Some(agent),
            browser,
            link_token_key: LinkTokenKey::new(LINK_TOKEN_KID, link_token_secret)?,
            link_token_keys: LinkTokenKeys::single(LinkTokenKey::new(
                LINK_TOKEN_KID,
                link_token_secret,
            )?),
            app_key,
            amazon_user_id: String::new(),
        };
        let user = world.app(FULL_APP).get_user_and_links(IDP).await;
        ensure!(
            user.request_status == RequestStatus::Successful,
            "getUserAndLinks: {user:?}"
        );
        world.amazon_user_id = user.amazon_user_id.context("amazonUserId")?;
        Ok(world)
    }

    fn agent(&self) -> &AgentProcess {
        self.agent.as_ref().expect("the agent runs")
    }

    /// Restarts the agent with another screen timeout; the kiosk pairs again.
    async fn restart_agent(&mut self, screen_timeout_secs: u64) -> Result<()> {
        if let Some(agent) = self.agent.take() {
            agent.stop()?;
        }
        let agent = AgentProcess::start(&self.data_dir, &self.run_dir, screen_timeout_secs)?;
        self.browser.client.goto(&agent.pairing_link).await?;
        self.browser.wait_for("#open-settings").await?;
        self.agent = Some(agent);
        Ok(())
    }

    fn app(&self, package_id: &str) -> SimpleSignIn {
        SimpleSignIn::with_socket(self.run_dir.join("apps").join(format!("{package_id}.sock")))
    }

    /// What the partner backend hands its app for `partner_user_id`.
    fn link_request(&self, partner_user_id: &str, login_name: &str) -> LinkUserAccountRequest {
        #[allow(clippy::disallowed_methods)] // the partner's wall clock, as in production
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs() as i64;
        let issued = issue_link(
            partner_user_id,
            &self.amazon_user_id,
            BTreeMap::new(),
            &self.link_token_key,
            &self.app_key,
            now,
            &mut SystemRandom,
        );
        LinkUserAccountRequest {
            partner_user_id: partner_user_id.to_owned(),
            identity_provider_name: IDP.to_owned(),
            user_login_name: login_name.to_owned(),
            link_token: Token::link(issued.link_token),
            link_signing_key: issued.sealed_signing_key,
        }
    }

    fn link_in_background(
        &self,
        package_id: &str,
        request: LinkUserAccountRequest,
    ) -> tokio::task::JoinHandle<LinkUserAccountResponse> {
        let app = self.app(package_id);
        tokio::spawn(async move { app.link_user_account(&request).await })
    }

    fn select_in_background(
        &self,
        entries: Vec<LoginNameValue>,
    ) -> tokio::task::JoinHandle<ShowLoginSelectionResponse> {
        let app = self.app(FULL_APP);
        tokio::spawn(async move { app.show_login_selection(&entries).await })
    }

    /// Links with the consent screen answered by `keys`.
    async fn link_answering(
        &self,
        request: LinkUserAccountRequest,
        keys: &[&str],
    ) -> Result<LinkUserAccountResponse> {
        let call = self.link_in_background(FULL_APP, request);
        self.browser.wait_for("#allow").await?;
        ensure!(self.browser.focused_text().await? == "Allow");
        self.browser.press(keys).await?;
        let response = tokio::time::timeout(PATIENCE, call).await??;
        self.browser.wait_for("#open-settings").await?;
        Ok(response)
    }

    /// How often the shown prompt changed so far (the screens' long-poll version,
    /// read by the paired browser): unchanged across a call means no screen showed.
    async fn screen_version(&self) -> Result<u64> {
        let script = "const r = new XMLHttpRequest(); \
                      r.open('GET', '/changes?since=18446744073709551615', false); r.send(); \
                      return JSON.parse(r.responseText).version;";
        self.browser
            .client
            .execute(script, vec![])
            .await?
            .as_u64()
            .context("a version")
    }

    fn verify(&self, token: &Token) -> Result<ssi_token::VerifiedSsiToken> {
        #[allow(clippy::disallowed_methods)] // the partner backend's wall clock
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs() as i64;
        verify_ssi_token(
            &token.schema,
            &token.token,
            &VerifyOptions {
                link_token_keys: &self.link_token_keys,
                identity_provider_name: IDP,
                issuer: &self.server.base,
            },
            now,
            &InMemoryReplayStore::default(),
        )
        .map_err(|e| anyhow::anyhow!("the SSI token does not verify: {e:?}"))
    }
}

fn entries(links: &[(&str, &str)]) -> Vec<LoginNameValue> {
    links
        .iter()
        .map(|(name, link_id)| LoginNameValue::new(*name, *link_id))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_and_login_selection_through_a_real_agent_server_and_chromium() -> Result<()> {
    let mut world = World::start(300).await?;

    // Allow → LINK_ESTABLISHED (and the screen version moves when a screen shows, so
    // that an unchanged version below does mean "no screen").
    let jane = world.link_request("partner-jane", "jane@acme.example");
    let before = world.screen_version().await?;
    let linked = world.link_answering(jane.clone(), &[ENTER]).await?;
    ensure!(
        world.screen_version().await? > before,
        "the screen version did not move"
    );
    ensure!(
        linked.request_status == RequestStatus::Successful
            && linked.success_code == Some(LinkAccountSuccessCode::LinkEstablished),
        "Allow: {linked:?}"
    );
    let jane_link = linked.link_id.context("linkId")?;

    // The same request again → LINK_ALREADY_EXISTS, the same link, no screen.
    let before = world.screen_version().await?;
    let again = world.app(FULL_APP).link_user_account(&jane).await;
    ensure!(
        again.success_code == Some(LinkAccountSuccessCode::LinkAlreadyExists)
            && again.link_id.as_deref() == Some(jane_link.as_str()),
        "again: {again:?}"
    );
    ensure!(
        world.screen_version().await? == before,
        "a screen showed for an existing link"
    );

    // Not now → CONSENT_DENIED; asked again, the cool-down answers at once, no screen.
    let joe = world.link_request("partner-joe", "joe@acme.example");
    let denied = world.link_answering(joe.clone(), &[RIGHT, ENTER]).await?;
    ensure!(
        denied.request_status == RequestStatus::Successful
            && denied.success_code == Some(LinkAccountSuccessCode::ConsentDenied)
            && denied.link_id.is_none(),
        "Not now: {denied:?}"
    );
    let before = world.screen_version().await?;
    let cooled = world
        .app(FULL_APP)
        .link_user_account(&world.link_request("partner-joe", "joe@acme.example"))
        .await;
    ensure!(
        cooled.success_code == Some(LinkAccountSuccessCode::ConsentDenied),
        "within the cool-down: {cooled:?}"
    );
    ensure!(
        world.screen_version().await? == before,
        "a screen showed within the cool-down"
    );

    // A second account, so that the selection has two.
    let kid = world.link_request("partner-kid", "kid@acme.example");
    let kid_link = world
        .link_answering(kid, &[ENTER])
        .await?
        .link_id
        .context("the second link")?;

    // Selection of the second account → LOGIN_SELECTED with its linkId and a token
    // that the partner library verifies.
    let choices = entries(&[("Jane", &jane_link), ("Kid", &kid_link)]);
    let call = world.select_in_background(choices.clone());
    world.browser.wait_for("#manual").await?;
    ensure!(world.browser.focused_text().await? == "Jane");
    world.browser.press(&[DOWN, ENTER]).await?;
    let selected = tokio::time::timeout(PATIENCE, call).await??;
    ensure!(
        selected.request_status == RequestStatus::Successful
            && selected.user_selection == Some(UserSelection::LoginSelected)
            && selected.link_id.as_deref() == Some(kid_link.as_str()),
        "selection: {selected:?}"
    );
    let verified = world.verify(selected.ssi_token.as_ref().context("ssiToken")?)?;
    ensure!(
        verified.link_id == kid_link
            && verified.partner_user_id == "partner-kid"
            && verified.platform_user_id == world.amazon_user_id,
        "verified: {verified:?}"
    );

    // Sign in manually → MANUAL_SIGN_IN.
    world.browser.wait_for("#open-settings").await?;
    let call = world.select_in_background(choices.clone());
    world.browser.wait_for("#manual").await?;
    world.browser.press(&[DOWN, DOWN, ENTER]).await?;
    let manual = tokio::time::timeout(PATIENCE, call).await??;
    ensure!(
        manual.request_status == RequestStatus::Successful
            && manual.user_selection == Some(UserSelection::ManualSignIn)
            && manual.link_id.is_none(),
        "manual: {manual:?}"
    );

    // A second screen-bearing call while one is open → DUPLICATE_REQUEST.
    world.browser.wait_for("#open-settings").await?;
    let open = world.select_in_background(choices.clone());
    world.browser.wait_for("#manual").await?;
    let duplicate = world
        .app(FULL_APP)
        .link_user_account(&world.link_request("partner-new", "new@acme.example"))
        .await;
    ensure!(
        duplicate.request_status == RequestStatus::DuplicateRequest,
        "while a screen is open: {duplicate:?}"
    );
    world.browser.press(&[ENTER]).await?;
    let first = tokio::time::timeout(PATIENCE, open).await??;
    ensure!(
        first.link_id.as_deref() == Some(jane_link.as_str()),
        "{first:?}"
    );

    // An app without the consent privilege → FAILURE naming it, and no screen.
    world.browser.wait_for("#open-settings").await?;
    let before = world.screen_version().await?;
    let refused = world
        .app(NO_CONSENT_APP)
        .link_user_account(&world.link_request("partner-lite", "lite@acme.example"))
        .await;
    ensure!(
        refused.request_status == RequestStatus::Failure
            && refused
                .message
                .as_deref()
                .is_some_and(|m| m.contains(CONSENT_PRIVILEGE)),
        "without the consent privilege: {refused:?}"
    );
    ensure!(
        world.screen_version().await? == before,
        "a screen showed for an app without the privilege"
    );

    // Unanswered screens → NOT_APPLICABLE (the agent again, with a 2-second timeout).
    world.restart_agent(2).await?;
    let unanswered = world.select_in_background(choices);
    world.browser.wait_for("#manual").await?;
    let timed_out = tokio::time::timeout(PATIENCE, unanswered).await??;
    ensure!(
        timed_out.request_status == RequestStatus::Successful
            && timed_out.user_selection == Some(UserSelection::NotApplicable),
        "selection timeout: {timed_out:?}"
    );
    world.browser.wait_for("#open-settings").await?;
    let unanswered = world.link_in_background(
        FULL_APP,
        world.link_request("partner-late", "late@acme.example"),
    );
    world.browser.wait_for("#allow").await?;
    let timed_out = tokio::time::timeout(PATIENCE, unanswered).await??;
    ensure!(
        timed_out.request_status == RequestStatus::Failure
            && timed_out.success_code == Some(LinkAccountSuccessCode::NotApplicable),
        "consent timeout: {timed_out:?}"
    );
    world.browser.wait_for("#open-settings").await?;
    Ok(())
}

/// The app that asked for consent tries to answer its own prompt through the
/// agent's loopback screen port, without the pairing cookie: every way fails, and
/// the owner's answer on the screen is the one that counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_cannot_answer_its_own_prompt() -> Result<()> {
    let world = World::start(300).await?;
    let screen = world.agent().screen_addr.clone();
    let call = world.link_in_background(
        FULL_APP,
        world.link_request("partner-jane", "jane@acme.example"),
    );
    world.browser.wait_for("#allow").await?;
    // The app's view of the page: not paired, nothing about the prompt.
    let page = http().get(format!("http://{screen}/")).send().await?;
    ensure!(page.status() == 403);
    ensure!(!page.text().await?.contains("jane@acme.example"));
    // Guessing a pairing token, and posting Allow with every header it can forge.
    let pairing = http()
        .get(format!("http://{screen}/pair?token={}", "0".repeat(64)))
        .send()
        .await?;
    ensure!(pairing.status() == 403 && pairing.headers().get(SET_COOKIE).is_none());
    for (host, origin) in [
        (screen.clone(), format!("http://{screen}")),
        (
            format!("evil.example:{}", screen.rsplit(':').next().unwrap_or("0")),
            "http://evil.example".to_owned(),
        ),
    ] {
        let posted = http()
            .post(format!("http://{screen}/answer"))
            .header(HOST, host)
            .header(ORIGIN, origin)
            .header(COOKIE, format!("ssi_screen={}", "0".repeat(64)))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "csrf={}&prompt={}&choice=allow",
                "1".repeat(64),
                "2".repeat(64)
            ))
            .send()
            .await?;
        ensure!(
            posted.status() == 403 || posted.status() == 421,
            "the app's answer got {}",
            posted.status()
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    ensure!(!call.is_finished(), "the app's own answer was taken");
    // The owner says Not now on the screen: that is the answer the app gets.
    ensure!(world.browser.focused_text().await? == "Allow");
    world.browser.press(&[RIGHT, ENTER]).await?;
    let answered = tokio::time::timeout(PATIENCE, call).await??;
    ensure!(
        answered.success_code == Some(LinkAccountSuccessCode::ConsentDenied),
        "{answered:?}"
    );
    Ok(())
}
