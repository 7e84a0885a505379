//! `ssi agent` run as a device runs it: the built binary registering with a
//! server (RFC 8628), the registry commands, and queued metric events that
//! survive `kill -9` of the agent and reach the server exactly once.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::json;

use crate::server::{run_ssi, ssi_command};
use crate::temp_dir;

#[path = "../../../ssi-agent/tests/it/agent_harness.rs"]
#[allow(dead_code)]
mod agent_harness;

use agent_harness::{RawClient, TestServer, eventually};

const APP: &str = "com.example.kill";

/// The wall clock: the agent child validates timestamps against it.
#[allow(clippy::disallowed_methods)]
fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// `ssi agent run`, waiting for its "app sockets in" line.
fn start_agent(data: &Path, run: &Path) -> Child {
    let mut child = ssi_command(
        &[
            "agent",
            "run",
            "--data-dir",
            data.to_str().unwrap(),
            "--run-dir",
            run.to_str().unwrap(),
            "--screen-listen",
            "127.0.0.1:0",
        ],
        &[
            ("SSI_AGENT_OUTBOX_RETRY_MIN_MS", "100"),
            ("SSI_AGENT_OUTBOX_RETRY_MAX_MS", "300"),
        ],
    )
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .expect("the ssi binary starts");
    let (tx, rx) = mpsc::channel();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if line.starts_with("app sockets in") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the agent starts");
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_events_survive_kill_9_and_arrive_exactly_once() {
    let mut server = TestServer::start_at(wall_ms()).await;
    server.developer_app(APP, "kill-idp", false).await;
    let account = server.account().await;
    let (device_id, credential) = server.device(&account).await;
    let data = temp_dir();
    let run = temp_dir();
    credential.save(data.path()).unwrap();
    let manifest = data.path().join("manifest.toml");
    std::fs::write(
        &manifest,
        "[[wants.module]]\nid = \"/com.amazon.dms.ssi@ISimpleSignIn\"\n\
         [[wants.service]]\nid = \"com.amazon.dms.ssi.service\"\n",
    )
    .unwrap();
    let d = data.path().to_str().unwrap();
    let installed = run_ssi(
        &[
            "agent",
            "install",
            "--data-dir",
            d,
            "--package-id",
            APP,
            "--manifest",
            manifest.to_str().unwrap(),
        ],
        &[],
        "",
    );
    assert!(
        installed.ok().contains("installed com.example.kill"),
        "{}",
        installed.context()
    );
    let listed = run_ssi(&["agent", "list", "--data-dir", d], &[], "");
    assert!(
        listed.ok().contains(
            "com.example.kill\tuid -\t/com.amazon.dms.ssi@ISimpleSignIn com.amazon.dms.ssi.service"
        ),
        "{}",
        listed.context()
    );
    // The server is down while the app records its events.
    server.stop().await;
    let mut agent = start_agent(data.path(), run.path());
    let socket = run.path().join("apps").join(format!("{APP}.sock"));
    let mut client = RawClient::connect(&socket).await.unwrap();
    for i in 0..10 {
        let r = client
            .call(
                "recordMetricEvent",
                json!({"ssiEvent": "LOGIN_SUCCESS", "timestamp": wall_ms() - i}),
            )
            .await;
        assert_eq!(r["requestStatus"], "SUCCESSFUL", "{r}");
    }
    // kill -9: nothing is flushed on the way out.
    agent.kill().unwrap();
    agent.wait().unwrap();
    server.restart().await;
    let mut agent = start_agent(data.path(), run.path());
    eventually(Duration::from_secs(60), "events delivered", || async {
        server.count_events("source = $1", &device_id).await == 10
    })
    .await
    .unwrap();
    // SIGTERM: a clean exit that removes the socket; nothing left queued.
    let status = std::process::Command::new("kill")
        .args(["-TERM", &agent.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(agent.wait().unwrap().success());
    assert!(!socket.exists());
    let store = ssi_agent::store::AgentStore::open(data.path())
        .await
        .unwrap();
    assert_eq!(store.count_outbox().await.unwrap(), 0);
    assert_eq!(server.count_events("source = $1", &device_id).await, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_shows_the_code_and_stores_the_credential_0600() {
    let server = TestServer::start_at(wall_ms()).await;
    let account = server.account().await;
    let data = temp_dir();
    let mut child = ssi_command(
        &[
            "agent",
            "register",
            "--server",
            &server.base(),
            "--data-dir",
            data.path().to_str().unwrap(),
            "--device-name",
            "Kitchen TV",
        ],
        &[],
    )
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(
        first.contains(&format!("open {}/device", server.base())),
        "{first}"
    );
    let code = first.trim().rsplit(' ').next().unwrap().replace('-', "");
    assert_eq!(code.len(), 8, "{first}");
    assert!(
        server
            .state
            .store
            .decide_device_authorization(&code, &account, true, wall_ms())
            .await
            .unwrap()
    );
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert!(status.success(), "{rest}");
    assert!(rest.contains("registered as device dev_"), "{rest}");
    let file = data.path().join("device.json");
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let stored = ssi_agent::credential::DeviceCredential::load(data.path()).unwrap();
    assert!(stored.credential.starts_with("ssi_dev_"));
    assert_eq!(stored.server, server.base());
    assert!(!format!("{stored:?}").contains(&stored.credential));
    // The credential works.
    let client = ssi_agent::server::ServerClient::new(&stored, Duration::from_secs(5)).unwrap();
    let me: ssi_proto::device::DeviceInfo = client.get("/v1/device/whoami").await.unwrap();
    assert_eq!(me.device_name, "Kitchen TV");
    assert_eq!(Some(me.device_id), stored.device_id);
}

#[test]
fn bench_agent_smoke() {
    let ran = run_ssi(&["bench", "agent", "--seconds", "0.3"], &[], "");
    let out = ran.ok();
    assert!(
        out.contains("app → agent → server (SDK)"),
        "{}",
        ran.context()
    );
    assert!(
        out.contains("the agent adds") && out.contains("agent memory: VmRSS"),
        "{}",
        ran.context()
    );
}
