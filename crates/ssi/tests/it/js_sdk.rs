//! The TypeScript SDK (`sdk/js`) end to end: a real `ssi server` and `ssi agent`
//! (the binary under test), a headless Chromium as the device's user on the screens,
//! and `node --test sdk/js/test/e2e/agent.e2e.mjs` as the apps. See
//! `sdk/js/test/e2e/README.md` for who does what; the package and its examples must
//! be built first (`scripts/test.sh` does it).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use ssi_testkit::browser::Browser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Mutex;

use crate::server::{Server, master_keys_value, ssi_command};
use crate::temp_dir;

const IDP: &str = "e2e-idp";
/// Short enough that the timeouts can be tested, long enough for Chromium to answer.
const SCREEN_TIMEOUT_SECS: u64 = 4;
const SERVER_TIMEOUT_MS: u64 = 1500;
const PATIENCE: Duration = Duration::from_secs(60);

const ALL_PRIVILEGES: &str = r#"
[[wants.module]]
id = "/com.amazon.dms.ssi@ISimpleSignIn"
[[wants.service]]
id = "com.amazon.dms.ssi.service"
[[wants.interactive]]
id = "com.amazon.dms.ssi.loginselection"
[[wants.interactive]]
id = "com.amazon.dms.ssi.consent"
"#;

/// The apps of the test: (name in SSI_E2E, package id, manifest lines left out).
const APPS: [(&str, &str, &str); 6] = [
    ("full", "com.example.full", ""),
    (
        "noConsent",
        "com.example.noconsent",
        "com.amazon.dms.ssi.consent",
    ),
    (
        "noLoginSelection",
        "com.example.noselection",
        "com.amazon.dms.ssi.loginselection",
    ),
    (
        "noService",
        "com.example.noservice",
        "com.amazon.dms.ssi.service",
    ),
    ("turnedOff", "com.example.off", ""),
    ("blocked", "com.example.blocked", ""),
];

fn manifest_without(privilege: &str) -> String {
    if privilege.is_empty() {
        return ALL_PRIVILEGES.to_owned();
    }
    // Drop the table header and the id line of that privilege.
    let lines: Vec<&str> = ALL_PRIVILEGES.lines().collect();
    let mut kept = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if i + 1 < lines.len() && lines[i + 1].contains(&format!("\"{privilege}\"")) {
            i += 2;
            continue;
        }
        kept.push(lines[i]);
        i += 1;
    }
    kept.join("\n")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The owner's account with this device, a developer with the IDP and the apps (each
/// with an app key sealed under `master_keys`), inserted as the server stores them;
/// `turnedOff` switched off by the owner, `blocked` blocked by the operator. Returns
/// the device's bearer credential.
async fn fixtures(database_url: &str, master_keys: &str) -> Result<String> {
    use ssi_server::encoding::secret_hash;
    use ssi_server::random::{SystemRandomSource, new_secret};

    sqlx::any::install_default_drivers();
    let db = sqlx::AnyPool::connect(database_url).await?;
    let credential = new_secret(&SystemRandomSource, "ssid_");
    let keys = ssi_server::secrets::MasterKeys::parse(master_keys)
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let base: [(&str, Vec<String>); 3] = [
        (
            "INSERT INTO accounts (id, email, password_hash, ssi_enabled, region, is_developer, created_at) \
             VALUES ('acct_owner', 'owner@example.com', 'x', TRUE, 'default', FALSE, 0), \
             ('acct_dev', 'dev@example.com', 'x', TRUE, 'default', TRUE, 0)",
            vec![],
        ),
        (
            "INSERT INTO devices (id, account_id, name, credential_hash, ssi_enabled, mode, created_at) \
             VALUES ('dev_tv', 'acct_owner', 'TV', $1, TRUE, 'normal', 0)",
            vec![secret_hash(&credential)],
        ),
        (
            "INSERT INTO idps (id, developer_id, name, created_at) VALUES ('idp_e2e', 'acct_dev', $1, 0)",
            vec![IDP.to_owned()],
        ),
    ];
    for (sql, binds) in base {
        let mut query = sqlx::query(sql);
        for bind in binds {
            query = query.bind(bind);
        }
        query.execute(&db).await.with_context(|| sql.to_owned())?;
    }
    for (i, (name, package_id, _)) in APPS.iter().enumerate() {
        let app_id = format!("app_{i}");
        sqlx::query(
            "INSERT INTO apps (id, developer_id, package_id, display_name, idp_id, blocked, created_at) \
             VALUES ($1, 'acct_dev', $2, $3, 'idp_e2e', $4, 0)",
        )
        .bind(&app_id)
        .bind(*package_id)
        .bind(format!("Example {name}"))
        .bind(*name == "blocked")
        .execute(&db)
        .await?;
        let app_key = loop {
            let mut d = [0u8; 32];
            ssi_token::Random::fill(&mut ssi_token::SystemRandom, &mut d);
            if let Ok(key) = ssi_token::AppKeyPair::from_private_scalar(&d) {
                break (key, d);
            }
        };
        let (sealed, version) =
            keys.seal(app_key.0.kid().as_bytes(), &app_key.1, &SystemRandomSource);
        let public_jwk = serde_json::to_string(&app_key.0.public_key().to_jwk())?;
        sqlx::query(
            "INSERT INTO app_keys (kid, app_id, private_sealed, master_key_version, public_jwk, created_at) \
             VALUES ($1, $2, $3, $4, $5, 0)",
        )
        .bind(app_key.0.kid())
        .bind(&app_id)
        .bind(sealed)
        .bind(version)
        .bind(public_jwk)
        .execute(&db)
        .await?;
        if *name == "turnedOff" {
            sqlx::query(
                "INSERT INTO app_settings (account_id, app_id, ssi_enabled, updated_at) VALUES ('acct_owner', $1, FALSE, 0)",
            )
            .bind(&app_id)
            .execute(&db)
            .await?;
        }
    }
    db.close().await;
    Ok(credential)
}

/// A running `ssi agent run`.
struct Agent {
    child: Child,
    pairing_link: String,
}

struct AgentSetup {
    data_dir: PathBuf,
    run_dir: PathBuf,
}

impl AgentSetup {
    fn start(&self) -> Result<Agent> {
        let mut child = ssi_command(
            &[
                "agent",
                "--data-dir",
                path_str(&self.data_dir),
                "run",
                "--run-dir",
                path_str(&self.run_dir),
                "--screen-listen",
                "127.0.0.1:0",
                "--screen-timeout-secs",
                &SCREEN_TIMEOUT_SECS.to_string(),
                "--server-timeout-ms",
                &SERVER_TIMEOUT_MS.to_string(),
            ],
            &[],
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting ssi agent run")?;
        let mut lines = BufReader::new(child.stdout.take().context("piped stdout")?).lines();
        let mut pairing_file = None;
        for line in lines.by_ref() {
            let line = line?;
            if let Some(rest) = line.split("(pairing link in ").nth(1) {
                pairing_file = Some(PathBuf::from(rest.trim_end_matches(')')));
            }
            if line.starts_with("app sockets in ") {
                break;
            }
        }
        // Keep reading (and dropping) its stdout so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let Some(pairing_file) = pairing_file else {
            let _ = child.kill();
            bail!("ssi agent run printed no pairing link");
        };
        let pairing_link = std::fs::read_to_string(&pairing_file)?.trim().to_owned();
        Ok(Agent {
            child,
            pairing_link,
        })
    }
}

impl Agent {
    /// SIGTERM, as a device shutting the agent down; waits for the exit.
    fn stop(&mut self) -> Result<()> {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        if !sent.success() {
            bail!("kill -TERM failed");
        }
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// The device's user: acts once on each prompt the screen shows, by the names on it
/// (`[allow]`, `[deny]`, `[pick]`, `[manual]`; anything else is left to time out).
async fn play_the_user(browser: Arc<Mutex<Browser>>) {
    // Reads the prompt on screen and clicks the answer the names call for; returns
    // the prompt's nonce once it answered, so that each prompt is answered once.
    const ACT: &str = r#"
        const nonce = document.querySelector('input[name=prompt]')?.value;
        if (!nonce || nonce === arguments[0]) return null;
        const consent = document.querySelector('.prompt.consent .login-name');
        if (consent) {
            const name = consent.textContent;
            const id = name.includes('[allow]') ? 'allow' : name.includes('[deny]') ? 'not-now' : null;
            if (!id) return null;
            document.getElementById(id).click();
            return nonce;
        }
        const accounts = [...document.querySelectorAll('.prompt.selection button.account')];
        if (accounts.length === 0) return null;
        const pick = accounts.find((b) => b.textContent.includes('[pick]'));
        if (pick) { pick.click(); return nonce; }
        if (accounts.some((b) => b.textContent.includes('[manual]'))) {
            document.getElementById('manual').click();
            return nonce;
        }
        return null;
    "#;
    let mut answered = String::new();
    loop {
        {
            let browser = browser.lock().await;
            if let Ok(Value::String(nonce)) =
                browser.client.execute(ACT, vec![json!(answered)]).await
            {
                answered = nonce;
            }
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// `POST /agent/stop`, `POST /agent/start` on loopback, for the tests that take the
/// agent away and bring it back (the browser pairs again with the new agent).
async fn serve_control(
    listener: tokio::net::TcpListener,
    setup: Arc<AgentSetup>,
    agent: Arc<Mutex<Option<Agent>>>,
    browser: Arc<Mutex<Browser>>,
) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        let mut request = vec![0u8; 2048];
        let n = stream.read(&mut request).await.unwrap_or(0);
        let head = String::from_utf8_lossy(&request[..n]).to_string();
        let outcome: Result<()> = async {
            if head.starts_with("POST /agent/stop ") {
                if let Some(mut running) = agent.lock().await.take() {
                    running.stop()?;
                }
                Ok(())
            } else if head.starts_with("POST /agent/start ") {
                let started = setup.start()?;
                browser
                    .lock()
                    .await
                    .client
                    .goto(&started.pairing_link)
                    .await?;
                *agent.lock().await = Some(started);
                Ok(())
            } else {
                bail!("unknown control request {:?}", head.lines().next())
            }
        }
        .await;
        let (status, body) = match outcome {
            Ok(()) => ("200 OK", String::new()),
            Err(e) => ("500 Internal Server Error", format!("{e:#}")),
        };
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(response.as_bytes()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typescript_sdk_against_a_real_agent_and_server() -> Result<()> {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk/js");
    for built in ["dist/index.js", "build/examples/sign-in.js"] {
        if !sdk.join(built).exists() {
            bail!(
                "sdk/js/{built} is missing: run `npm run build && npm run build-examples` in sdk/js (scripts/test.sh does)"
            );
        }
    }
    let work = temp_dir();
    let server_dir = work.path().join("server");
    let master_keys = master_keys_value(1);
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let server = Server::start(
        &[
            "--data-dir",
            path_str(&server_dir),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ],
        &[("SSI_MASTER_KEYS", &master_keys), ("SSI_ISSUER", &base)],
    );
    let credential = fixtures(
        &ssi_server::store::sqlite_url_for(&server_dir),
        &master_keys,
    )
    .await?;

    // The device: its credential, the apps and their manifests, then the agent.
    let setup = Arc::new(AgentSetup {
        data_dir: work.path().join("agent"),
        run_dir: work.path().join("run"),
    });
    std::fs::create_dir_all(&setup.data_dir)?;
    std::fs::write(
        setup.data_dir.join("device.json"),
        json!({ "server": base, "credential": credential }).to_string(),
    )?;
    let mut apps = serde_json::Map::new();
    for (name, package_id, left_out) in APPS {
        let manifest = work.path().join(format!("{package_id}.toml"));
        std::fs::write(&manifest, manifest_without(left_out))?;
        let installed = ssi_command(
            &[
                "agent",
                "--data-dir",
                path_str(&setup.data_dir),
                "install",
                "--package-id",
                package_id,
                "--manifest",
                path_str(&manifest),
            ],
            &[],
        )
        .output()?;
        if !installed.status.success() {
            bail!(
                "ssi agent install {package_id}: {}",
                String::from_utf8_lossy(&installed.stderr)
            );
        }
        let socket = setup
            .run_dir
            .join("apps")
            .join(format!("{package_id}.sock"));
        apps.insert(
            name.to_owned(),
            json!({ "socket": socket, "packageId": package_id }),
        );
    }
    let agent = setup.start()?;
    let browser = Browser::start().await?;
    browser.client.goto(&agent.pairing_link).await?;
    let agent = Arc::new(Mutex::new(Some(agent)));
    let browser = Arc::new(Mutex::new(browser));
    let user = tokio::spawn(play_the_user(browser.clone()));
    let control_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let control = format!("http://{}", control_listener.local_addr()?);
    let control_task = tokio::spawn(serve_control(
        control_listener,
        setup.clone(),
        agent.clone(),
        browser.clone(),
    ));

    let e2e = json!({
        "bin": env!("CARGO_BIN_EXE_ssi"),
        "issuer": base,
        "idp": IDP,
        "apps": apps,
        "serverPid": server.pid(),
        "control": control,
        "screenTimeoutSecs": SCREEN_TIMEOUT_SECS,
        "serverTimeoutMs": SERVER_TIMEOUT_MS,
    });
    let node = tokio::process::Command::new("node")
        .args(["--test", "--test-reporter=tap", "test/e2e/agent.e2e.mjs"])
        .current_dir(&sdk)
        .env("SSI_E2E", e2e.to_string())
        .env_remove("SSI_APP_SOCKET")
        .env_remove("SSI_PACKAGE_ID")
        .env_remove("SSI_AGENT_RUN_DIR")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(PATIENCE * 5, node)
        .await
        .context("node --test did not finish")??;
    user.abort();
    control_task.abort();
    drop(server);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let count = |label: &str| {
        stdout
            .lines()
            .find_map(|line| line.strip_prefix(&format!("# {label} ")))
            .and_then(|n| n.trim().parse::<u32>().ok())
    };
    let report = format!("--- node stdout:\n{stdout}\n--- node stderr:\n{stderr}");
    // The node tests' own lines, for the log of a passing run too.
    for line in stdout
        .lines()
        .filter(|l| l.starts_with("ok ") || l.starts_with("not ok ") || l.starts_with("# "))
    {
        eprintln!("node: {line}");
    }
    assert!(output.status.success(), "node --test failed\n{report}");
    assert_eq!(count("fail"), Some(0), "{report}");
    assert_eq!(count("skipped"), Some(0), "{report}");
    assert_eq!(count("pass"), count("tests"), "{report}");
    assert!(
        count("pass").is_some_and(|n| n >= 23),
        "every test ran\n{report}"
    );
    Ok(())
}
