//! Attacks that must fail: an app reaching another app's socket, another
//! developer's IDP, and a device of one account reading another account's links.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;

use serde_json::json;
use ssi_agent::manifest::Privileges;

use crate::agent_harness::{RawClient, TestAgent, TestServer, call, installed, spawn_call};

const UID_A: u32 = 41001;
const UID_B: u32 = 41002;

/// Connects to `socket` as `uid` (a child process), sends one getUserAndLinks
/// and prints the answer, or the connect error.
fn connect_as(uid: u32, socket: &std::path::Path, idp: &str) -> String {
    let script = format!(
        r#"
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect({path:?})
except OSError as e:
    print("connect error:", e.strerror); sys.exit(0)
s.sendall(b'{{"protocol":1,"id":"x","method":"getUserAndLinks","params":{{"identityProviderName":"{idp}"}}}}\n')
print(s.makefile().readline())
"#,
        path = socket.display().to_string()
    );
    let output = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .uid(uid)
        .gid(uid)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

use std::os::unix::process::CommandExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_cannot_use_another_apps_socket() {
    let server = TestServer::start().await;
    server.developer_app("com.example.a", "idp-a", false).await;
    server.developer_app("com.example.b", "idp-b", false).await;
    let account = server.account().await;
    let (_, credential) = server.device(&account).await;
    let agent = TestAgent::start(
        &credential,
        &server.clock,
        &[
            installed("com.example.a", Privileges::all(), Some(UID_A)),
            installed("com.example.b", Privileges::all(), Some(UID_B)),
        ],
        |_| {},
    )
    .await;
    let socket_a = agent.socket("com.example.a");
    let meta = std::fs::metadata(&socket_a).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.uid(), UID_A);
    // App A on its own socket: served.
    let own = connect_as(UID_A, &socket_a, "idp-a");
    assert!(own.contains("\"SUCCESSFUL\""), "{own}");
    // App B on A's socket: the file refuses it.
    let theirs = connect_as(UID_B, &socket_a, "idp-a");
    assert!(
        theirs.contains("connect error: Permission denied"),
        "{theirs}"
    );
    // Root can open any file, but the peer uid check (SO_PEERCRED) refuses it.
    let mut client = RawClient::connect(&socket_a).await.unwrap();
    let refused = client.recv().await.expect("a refusal");
    assert_eq!(refused["result"]["requestStatus"], "FAILURE", "{refused}");
    assert!(
        refused["result"]["message"]
            .as_str()
            .unwrap()
            .contains("belongs to another app: uid 0")
    );
    assert!(client.recv().await.is_none(), "closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_cannot_reach_another_developers_idp() {
    let server = TestServer::start().await;
    let mine = server
        .developer_app("com.example.mine", "idp-mine", false)
        .await;
    let theirs = server
        .developer_app("com.example.theirs", "idp-theirs", false)
        .await;
    let account = server.account().await;
    let (_, credential) = server.device(&account).await;
    let agent = TestAgent::start(
        &credential,
        &server.clock,
        &[
            installed("com.example.mine", Privileges::all(), None),
            installed("com.example.theirs", Privileges::all(), None),
        ],
        |_| {},
    )
    .await;
    let amazon_theirs = call(
        &agent,
        "com.example.theirs",
        "getUserAndLinks",
        json!({"identityProviderName": "idp-theirs"}),
    )
    .await;
    let amazon_theirs = amazon_theirs["amazonUserId"].as_str().unwrap().to_owned();
    // Their link on this account.
    let screen = agent.screen().await;
    let request = serde_json::to_value(theirs.link_request("victim", &amazon_theirs)).unwrap();
    let pending = spawn_call(&agent, "com.example.theirs", "linkUserAccount", request);
    screen.answer("allow").await;
    let their_link = pending.await.unwrap()["linkId"]
        .as_str()
        .unwrap()
        .to_owned();
    // My app asks for their IDP: refused; their link never shows.
    let r = call(
        &agent,
        "com.example.mine",
        "getUserAndLinks",
        json!({"identityProviderName": "idp-theirs"}),
    )
    .await;
    assert_eq!(r["requestStatus"], "FAILURE", "{r}");
    assert!(r.get("links").is_none(), "{r}");
    let mut forged = mine.link_request("victim", &amazon_theirs);
    forged.identity_provider_name = "idp-theirs".into();
    let r = call(
        &agent,
        "com.example.mine",
        "linkUserAccount",
        serde_json::to_value(&forged).unwrap(),
    )
    .await;
    assert_eq!(r["requestStatus"], "FAILURE", "{r}");
    // Their link id in my selection: not an active link of my IDP.
    let r = call(
        &agent,
        "com.example.mine",
        "showLoginSelection",
        json!([{"loginName": "v", "linkId": their_link}]),
    )
    .await;
    assert_eq!(r["requestStatus"], "FAILURE", "{r}");
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .starts_with("loginNames[0].linkId"),
        "{r}"
    );
    assert!(!screen.view().await.contains("name=\"prompt\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_of_one_account_cannot_read_another_accounts_links() {
    let server = TestServer::start().await;
    let app = server.developer_app("com.example.app", "idp", false).await;
    let alice = server.account().await;
    let bob = server.account().await;
    let (_, alice_device) = server.device(&alice).await;
    let (_, bob_device) = server.device(&bob).await;
    let apps = [installed("com.example.app", Privileges::all(), None)];
    let alice_agent = TestAgent::start(&alice_device, &server.clock, &apps, |_| {}).await;
    let bob_agent = TestAgent::start(&bob_device, &server.clock, &apps, |_| {}).await;
    let amazon = call(
        &alice_agent,
        "com.example.app",
        "getUserAndLinks",
        json!({"identityProviderName": "idp"}),
    )
    .await;
    let amazon = amazon["amazonUserId"].as_str().unwrap().to_owned();
    let screen = alice_agent.screen().await;
    let request = serde_json::to_value(app.link_request("alice", &amazon)).unwrap();
    let pending = spawn_call(&alice_agent, "com.example.app", "linkUserAccount", request);
    screen.answer("allow").await;
    let alice_link = pending.await.unwrap()["linkId"]
        .as_str()
        .unwrap()
        .to_owned();
    // Bob's device sees no link, and cannot select Alice's.
    let r = call(
        &bob_agent,
        "com.example.app",
        "getUserAndLinks",
        json!({"identityProviderName": "idp"}),
    )
    .await;
    assert_eq!(r["requestStatus"], "SUCCESSFUL");
    assert_eq!(r["links"], json!([]));
    assert_ne!(r["amazonUserId"], amazon.as_str());
    let bob_screen = bob_agent.screen().await;
    let r = call(
        &bob_agent,
        "com.example.app",
        "showLoginSelection",
        json!([{"loginName": "a", "linkId": alice_link}]),
    )
    .await;
    assert_eq!(r["requestStatus"], "FAILURE", "{r}");
    assert!(!bob_screen.view().await.contains("name=\"prompt\""));
    // Nor does the same partner user id link to Alice's link on Bob's device.
    let request = serde_json::to_value(app.link_request("alice", &amazon)).unwrap();
    let bob_pending = spawn_call(&bob_agent, "com.example.app", "linkUserAccount", request);
    bob_screen.answer("not-now").await;
    let r = bob_pending.await.unwrap();
    assert_eq!(r["successCode"], "CONSENT_DENIED", "{r}");
}
