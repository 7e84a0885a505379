//! `ssi bench agent`: the app-socket round trip app → agent → server for
//! `getUserAndLinks` (one link) against the same call made to the server
//! directly, interleaved in one run (DESIGN.md section 11: the agent should
//! add well under a millisecond at the median).
//!
//! The server runs in this process (SQLite in a temporary directory); the agent
//! is a child `ssi agent run` (this same binary), so that its resident memory
//! (`VmRSS`, `VmHWM` of `/proc/<pid>/status`) is its own. The app side is the
//! `simplesignin` SDK; the direct side is the HTTP client the agent itself uses
//! (reqwest, kept-alive connection), so the difference is the agent's hop.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use clap::Args;
use simplesignin::{RequestStatus, SimpleSignIn};
use ssi_agent::credential::DeviceCredential;
use ssi_agent::manifest::Privileges;
use ssi_agent::store::{AgentStore, InstalledApp};
use ssi_proto::GetUserAndLinksResponse;
use ssi_proto::device::{AppIdpRequest, CreateLinkRequest};
use ssi_server::encoding::secret_hash;
use ssi_server::random::{SystemRandomSource, new_id, new_secret};
use ssi_server::store::accounts::AccountRow;
use ssi_server::store::developers::{AppRow, IdpRow, NewAppKey};
use ssi_server::store::devices::DeviceRow;
use ssi_token::{AppKeyPair, LinkTokenKey, Random, SystemRandom, issue_link};

use super::{parse_seconds, render_table};
use crate::clock::SystemClock;

const PACKAGE_ID: &str = "com.example.benchagent";
const IDP_NAME: &str = "bench-agent-idp";
const ROUNDS: usize = 3;

#[derive(Debug, Args)]
pub struct AgentBenchArgs {
    /// Seconds of measurement in all (split over both paths and 3 rounds)
    #[arg(long, default_value = "6", value_parser = parse_seconds)]
    seconds: f64,
}

pub fn run(args: AgentBenchArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(bench(args))
}

/// Latencies of one path, in microseconds.
#[derive(Default)]
struct Samples {
    micros: Vec<f64>,
    elapsed: Duration,
}

impl Samples {
    fn quantile(&self, q: f64) -> f64 {
        let mut sorted = self.micros.clone();
        sorted.sort_by(f64::total_cmp);
        let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
        sorted[index]
    }

    fn rate(&self) -> f64 {
        self.micros.len() as f64 / self.elapsed.as_secs_f64()
    }
}

async fn bench(args: AgentBenchArgs) -> Result<ExitCode> {
    let dir = tempfile::tempdir().context("a temporary directory")?;
    let server_dir = dir.path().join("server");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let config = ssi_server::ServerConfig {
        listen: addr,
        data_dir: server_dir,
        issuer: format!("http://{addr}"),
        ..ssi_server::ServerConfig::default()
    };
    let state =
        ssi_server::build_state(config, Arc::new(SystemClock), Arc::new(SystemRandomSource))
            .await
            .context("starting the server")?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(ssi_server::serve(listener, state.clone(), async {
        let _ = stopped.await;
    }));
    let base = format!("http://{addr}");
    let credential = fixtures(&state, &base).await?;

    // The agent, a child process.
    let agent_data = dir.path().join("agent");
    let run_dir = dir.path().join("run");
    std::fs::create_dir_all(&agent_data)?;
    credential.save(&agent_data)?;
    let store = AgentStore::open(&agent_data).await?;
    store
        .install_app(&InstalledApp {
            package_id: PACKAGE_ID.into(),
            privileges: Privileges::all(),
            uid: None,
            installed_at: 0,
        })
        .await?;
    store.close().await;
    let mut agent = Command::new(std::env::current_exe()?)
        .args(["agent", "run", "--data-dir"])
        .arg(&agent_data)
        .arg("--run-dir")
        .arg(&run_dir)
        .args(["--screen-listen", "127.0.0.1:0", "--log-filter", "warn"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting ssi agent run")?;
    let stdout = BufReader::new(agent.stdout.take().context("agent stdout")?);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if line.starts_with("app sockets in") {
                let _ = ready_tx.send(());
            }
        }
    });
    ready_rx
        .recv_timeout(Duration::from_secs(60))
        .context("the agent did not start")?;
    let pid = agent.id();
    let result = measure(&args, &base, &credential, &run_dir, pid).await;
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = agent.wait();
    let _ = stop.send(());
    let _ = server.await;
    result
}

async fn measure(
    args: &AgentBenchArgs,
    base: &str,
    credential: &DeviceCredential,
    run_dir: &std::path::Path,
    agent_pid: u32,
) -> Result<ExitCode> {
    let http = reqwest::Client::builder().tcp_nodelay(true).build()?;
    let body = AppIdpRequest {
        package_id: PACKAGE_ID.into(),
        identity_provider_name: IDP_NAME.into(),
    };
    let authorization = format!("Bearer {}", credential.credential);
    let direct = || async {
        let response: GetUserAndLinksResponse = http
            .post(format!("{base}/v1/device/user-and-links"))
            .header("authorization", &authorization)
            .json(&body)
            .send()
            .await?
            .json()
            .await?;
        anyhow::Ok(response)
    };
    let sdk = SimpleSignIn::with_socket(run_dir.join("apps").join(format!("{PACKAGE_ID}.sock")));
    // Warm both paths and check they give the same answer.
    for _ in 0..200 {
        let a = direct().await?;
        let b = sdk.get_user_and_links(IDP_NAME).await;
        ensure!(
            a.request_status == RequestStatus::Successful,
            "direct: {a:?}"
        );
        ensure!(
            b.request_status == RequestStatus::Successful,
            "through the agent: {b:?}"
        );
        ensure!(
            b.links.as_ref().map(Vec::len) == Some(1),
            "one link expected: {b:?}"
        );
    }
    let per_slot = Duration::from_secs_f64(args.seconds / (2 * ROUNDS) as f64);
    let mut via_server = Samples::default();
    let mut via_agent = Samples::default();
    for round in 1..=ROUNDS {
        eprintln!(
            "bench: round {round}/{ROUNDS}: direct, then through the agent ({per_slot:.2?} each)"
        );
        let started = Instant::now();
        while started.elapsed() < per_slot {
            let t = Instant::now();
            let r = direct().await?;
            via_server.micros.push(t.elapsed().as_secs_f64() * 1e6);
            ensure!(r.request_status == RequestStatus::Successful);
        }
        via_server.elapsed += started.elapsed();
        let started = Instant::now();
        while started.elapsed() < per_slot {
            let t = Instant::now();
            let r = sdk.get_user_and_links(IDP_NAME).await;
            via_agent.micros.push(t.elapsed().as_secs_f64() * 1e6);
            if r.request_status != RequestStatus::Successful {
                bail!("through the agent: {r:?}");
            }
        }
        via_agent.elapsed += started.elapsed();
    }
    let (rss, hwm) = agent_memory(agent_pid)?;
    let row = |name: &str, s: &Samples| {
        vec![
            name.to_owned(),
            s.micros.len().to_string(),
            format!("{:.0}", s.quantile(0.5)),
            format!("{:.0}", s.quantile(0.99)),
            format!("{:.0}", s.rate()),
        ]
    };
    println!("getUserAndLinks with one link, one caller, sequential (latency in µs):");
    print!(
        "{}",
        render_table(
            &["path", "requests", "p50", "p99", "requests/s"],
            &[false, true, true, true, true],
            &[
                row("app → server (direct HTTP)", &via_server),
                row("app → agent → server (SDK)", &via_agent)
            ],
        )
    );
    let added = via_agent.quantile(0.5) - via_server.quantile(0.5);
    println!(
        "the agent adds {added:.0} µs at the median (target: well under 1000 µs), {:.0} µs at p99",
        via_agent.quantile(0.99) - via_server.quantile(0.99)
    );
    println!("agent memory: VmRSS {rss} kB, VmHWM {hwm} kB");
    Ok(ExitCode::SUCCESS)
}

/// `VmRSS` and `VmHWM` of a process, in kB.
fn agent_memory(pid: u32) -> Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok((field("VmRSS:"), field("VmHWM:")))
}

/// An account with a device, a developer's app bound to an IDP, and one link
/// made through the device API; the device's credential.
async fn fixtures(state: &ssi_server::AppState, base: &str) -> Result<DeviceCredential> {
    let rng = SystemRandomSource;
    let now = state.now_ms();
    let account = |id: &str, developer: bool| AccountRow {
        id: id.to_owned(),
        email: format!("{id}@bench.test"),
        password_hash: "not-a-hash".into(),
        ssi_enabled: true,
        region: "default".into(),
        is_developer: developer,
        created_at: now,
    };
    let user = new_id(&rng, "acc_");
    let developer = new_id(&rng, "acc_");
    state.store.insert_account(&account(&user, false)).await?;
    state
        .store
        .insert_account(&account(&developer, true))
        .await?;
    let device = new_id(&rng, "dev_");
    let secret = new_secret(&rng, "ssi_dev_");
    state
        .store
        .insert_device(
            &DeviceRow {
                id: device.clone(),
                account_id: user,
                name: "bench".into(),
                ssi_enabled: true,
                mode: "normal".into(),
                created_at: now,
                last_seen_at: None,
            },
            &secret_hash(&secret),
        )
        .await?;
    let idp = new_id(&rng, "idp_");
    state
        .store
        .insert_idp(&IdpRow {
            id: idp.clone(),
            developer_id: developer.clone(),
            name: IDP_NAME.into(),
            created_at: now,
        })
        .await?;
    let (app_key, d) = loop {
        let mut d = [0u8; 32];
        SystemRandom.fill(&mut d);
        if let Ok(key) = AppKeyPair::from_private_scalar(&d) {
            break (key, d);
        }
    };
    let (sealed, version) = state
        .master_keys
        .seal(app_key.kid().as_bytes(), &d, state.rng());
    let app_id = new_id(&rng, "app_");
    state
        .store
        .insert_app(
            &AppRow {
                id: app_id.clone(),
                developer_id: developer.clone(),
                package_id: PACKAGE_ID.into(),
                display_name: "Bench".into(),
                idp_id: None,
                idp_name: None,
                blocked: false,
                has_icon: false,
                created_at: now,
            },
            None,
            &NewAppKey {
                kid: app_key.kid().to_owned(),
                private_sealed: sealed,
                master_key_version: version,
                public_jwk: serde_json::to_string(&app_key.public_key().to_jwk())?,
            },
        )
        .await?;
    ensure!(
        state.store.bind_app_idp(&developer, &app_id, &idp).await?,
        "binding the IDP"
    );
    let credential = DeviceCredential {
        server: base.to_owned(),
        credential: secret,
        device_id: Some(device),
    };
    // One link, made the way an agent makes it.
    let http = reqwest::Client::new();
    let authorization = format!("Bearer {}", credential.credential);
    let found: GetUserAndLinksResponse = http
        .post(format!("{base}/v1/device/user-and-links"))
        .header("authorization", &authorization)
        .json(&AppIdpRequest {
            package_id: PACKAGE_ID.into(),
            identity_provider_name: IDP_NAME.into(),
        })
        .send()
        .await?
        .json()
        .await?;
    let amazon = found.amazon_user_id.context("amazonUserId")?;
    let issued = issue_link(
        "bench-user",
        &amazon,
        BTreeMap::new(),
        &LinkTokenKey::generate(&mut SystemRandom),
        &app_key.public_key(),
        now / 1000,
        &mut SystemRandom,
    );
    let created: serde_json::Value = http
        .post(format!("{base}/v1/device/links"))
        .header("authorization", &authorization)
        .json(&CreateLinkRequest {
            package_id: PACKAGE_ID.into(),
            request: ssi_proto::LinkUserAccountRequest {
                partner_user_id: "bench-user".into(),
                identity_provider_name: IDP_NAME.into(),
                user_login_name: "bench".into(),
                link_token: ssi_proto::Token::link(issued.link_token),
                link_signing_key: issued.sealed_signing_key,
            },
        })
        .send()
        .await?
        .json()
        .await?;
    ensure!(
        created["successCode"] == "LINK_ESTABLISHED",
        "link: {created}"
    );
    Ok(credential)
}
