//! The app-socket protocol at the agent's boundary (docs/app-protocol.md): bad
//! lines get clear answers while the agent keeps serving, requests run
//! concurrently on one connection, and the manifest privileges hold.

use serde_json::{Value, json};
use ssi_agent::manifest::{Privilege, Privileges};

use crate::agent_harness::{RawClient, TestAgent, TestServer, call, installed};

const APP: &str = "com.example.one";
const OTHER: &str = "com.example.two";

/// One bad line: what comes back.
struct Bad {
    line: String,
    id: Value,
    status: &'static str,
    message: &'static str,
}

fn bad(line: impl Into<String>, id: Value, status: &'static str, message: &'static str) -> Bad {
    Bad {
        line: line.into(),
        id,
        status,
        message,
    }
}

async fn check(client: &mut RawClient, case: &Bad) {
    client.send_raw(format!("{}\n", case.line).as_bytes()).await;
    let response = client.recv().await.expect("an answer, connection kept");
    assert_eq!(response["id"], case.id, "{}: {response}", case.line);
    assert_eq!(
        response["result"]["requestStatus"], case.status,
        "{}: {response}",
        case.line
    );
    let message = response["result"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(case.message), "{}: {message}", case.line);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_answer_and_the_agent_keeps_serving() {
    let server = TestServer::start().await;
    let app = server.developer_app(APP, "idp-one", false).await;
    server.developer_app(OTHER, "idp-two", false).await;
    let account = server.account().await;
    let (_, credential) = server.device(&account).await;
    let agent = TestAgent::start(
        &credential,
        &server.clock,
        &[
            installed(APP, Privileges::all(), None),
            installed(OTHER, Privileges::all(), None),
        ],
        |_| {},
    )
    .await;
    let mut client = RawClient::connect(&agent.socket(APP)).await.unwrap();
    let cases = [
        bad("garbage", Value::Null, "FAILURE", "the line is not JSON"),
        bad(
            "\"a string\"",
            Value::Null,
            "FAILURE",
            "must be a JSON object",
        ),
        bad(
            r#"{"protocol":1,"id":"r1","method":"getUserAndLinks"}"#,
            Value::Null,
            "FAILURE",
            "params: required",
        ),
        bad(
            r#"{"protocol":2,"id":"r2","method":"getUserAndLinks","params":{}}"#,
            json!("r2"),
            "NOT_SUPPORTED",
            "version 1 (got 2)",
        ),
        bad(
            r#"{"protocol":1,"id":"r3","method":"deleteAllLinks","params":{}}"#,
            json!("r3"),
            "FAILURE",
            "unknown method \"deleteAllLinks\"",
        ),
        bad(
            r#"{"protocol":1,"id":"r4","method":"getUserAndLinks","params":{"identityProviderName":5}}"#,
            json!("r4"),
            "FAILURE",
            "params.identityProviderName: invalid type: integer `5`, expected a string",
        ),
        bad(
            r#"{"protocol":1,"id":"r5","method":"getUserAndLinks","params":{"identityProviderName":"no spaces"}}"#,
            json!("r5"),
            "FAILURE",
            "identityProviderName: must be 1-64 characters of [A-Za-z0-9._-] (got ' ' at character 2)",
        ),
        bad(
            r#"{"protocol":1,"id":"r6","method":"showLoginSelection","params":{"loginName":"x"}}"#,
            json!("r6"),
            "FAILURE",
            "params: invalid type: map, expected a sequence",
        ),
        bad(
            r#"{"protocol":1,"id":"r7","method":"recordMetricEvent","params":{"ssiEvent":"LOGIN_SUCCESS","timestamp":1}}"#,
            json!("r7"),
            "FAILURE",
            "timestamp: must be within [now - 7 days, now + 5 minutes]",
        ),
        bad(
            r#"{"protocol":1,"id":"r8","method":"recordMetricEvent","params":{"ssiEvent":"LOGIN_SUCCESS","timestamp":1795564800000,"failureReason":"NOT_FOUND"}}"#,
            json!("r8"),
            "FAILURE",
            "failureReason: allowed only when ssiEvent is LOGIN_FAILURE",
        ),
        bad(
            r#"{"protocol":1,"id":"r9","method":"linkUserAccount","params":{"partnerUserId":"u"}}"#,
            json!("r9"),
            "FAILURE",
            "params: missing field `identityProviderName`",
        ),
        bad(
            r#"{"protocol":1,"id":"bad id!","method":"getUserAndLinks","params":{}}"#,
            Value::Null,
            "FAILURE",
            "id: must be 1-64 characters of [A-Za-z0-9_.:-]",
        ),
    ];
    for case in &cases {
        check(&mut client, case).await;
    }
    // Still served on the same connection, and the other app on its own.
    let ok = client
        .call(
            "getUserAndLinks",
            json!({"identityProviderName": app.idp_name}),
        )
        .await;
    assert_eq!(ok["requestStatus"], "SUCCESSFUL", "{ok}");
    // A line over 64 KiB: answered, then the connection is closed.
    let mut huge = vec![b'x'; 70_000];
    huge.push(b'\n');
    client.send_raw(&huge).await;
    let response = client.recv().await.expect("an answer before closing");
    assert_eq!(response["id"], Value::Null);
    assert!(
        response["result"]["message"]
            .as_str()
            .unwrap()
            .contains("longer than 65536 bytes"),
        "{response}"
    );
    assert!(client.recv().await.is_none(), "the connection is closed");
    // Exactly 65536 bytes with the newline is still one message.
    let mut client = RawClient::connect(&agent.socket(APP)).await.unwrap();
    let request = json!({"protocol": 1, "id": "big", "method": "getUserAndLinks",
        "params": {"identityProviderName": app.idp_name, "pad": ""}})
    .to_string();
    let pad = 65535 - request.len();
    let line = request.replace("\"pad\":\"\"", &format!("\"pad\":\"{}\"", "p".repeat(pad)));
    assert_eq!(line.len() + 1, 65536);
    client.send_raw(format!("{line}\n").as_bytes()).await;
    let response = client.recv().await.expect("an answer");
    assert_eq!(
        response["result"]["requestStatus"], "SUCCESSFUL",
        "{response}"
    );
    let other = call(
        &agent,
        OTHER,
        "getUserAndLinks",
        json!({"identityProviderName": "idp-two"}),
    )
    .await;
    assert_eq!(other["requestStatus"], "SUCCESSFUL", "{other}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_requests_at_once_on_one_connection() {
    let server = TestServer::start().await;
    let app = server.developer_app(APP, "idp-one", false).await;
    let account = server.account().await;
    let (_, credential) = server.device(&account).await;
    let agent = TestAgent::start(
        &credential,
        &server.clock,
        &[installed(APP, Privileges::all(), None)],
        |_| {},
    )
    .await;
    let mut client = RawClient::connect(&agent.socket(APP)).await.unwrap();
    let mut lines = String::new();
    for i in 0..40 {
        let (method, params) = if i % 2 == 0 {
            (
                "getUserAndLinks",
                json!({"identityProviderName": app.idp_name}),
            )
        } else {
            (
                "recordMetricEvent",
                json!({"ssiEvent": "LOGIN_SUCCESS", "timestamp": crate::agent_harness::NOW_MS}),
            )
        };
        lines.push_str(
            &json!({"protocol": 1, "id": format!("q{i}"), "method": method, "params": params})
                .to_string(),
        );
        lines.push('\n');
    }
    client.send_raw(lines.as_bytes()).await;
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let response = client.recv().await.expect("a response");
        assert_eq!(
            response["result"]["requestStatus"], "SUCCESSFUL",
            "{response}"
        );
        seen.insert(response["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(seen.len(), 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manifest_privileges_decide_and_no_screen_shows_without_them() {
    let server = TestServer::start().await;
    let account = server.account().await;
    let (_, credential) = server.device(&account).await;
    use Privilege::*;
    // (package id, privileges, method, the missing privilege's id or None)
    let cases: [(&str, &[Privilege], &str, Option<&str>); 8] = [
        (
            "com.p.nomodule",
            &[Service, LoginSelection, Consent],
            "getUserAndLinks",
            Some("/com.amazon.dms.ssi@ISimpleSignIn"),
        ),
        (
            "com.p.nomodule",
            &[Service, LoginSelection, Consent],
            "recordMetricEvent",
            Some("/com.amazon.dms.ssi@ISimpleSignIn"),
        ),
        (
            "com.p.noservice",
            &[Module, LoginSelection, Consent],
            "linkUserAccount",
            Some("com.amazon.dms.ssi.service"),
        ),
        (
            "com.p.noservice",
            &[Module, LoginSelection, Consent],
            "showLoginSelection",
            Some("com.amazon.dms.ssi.service"),
        ),
        (
            "com.p.noconsent",
            &[Module, Service, LoginSelection],
            "linkUserAccount",
            Some("com.amazon.dms.ssi.consent"),
        ),
        (
            "com.p.noconsent",
            &[Module, Service, LoginSelection],
            "getUserAndLinks",
            None,
        ),
        (
            "com.p.noselection",
            &[Module, Service, Consent],
            "showLoginSelection",
            Some("com.amazon.dms.ssi.loginselection"),
        ),
        (
            "com.p.noselection",
            &[Module, Service, Consent],
            "recordMetricEvent",
            None,
        ),
    ];
    let mut apps = Vec::new();
    for (package_id, privileges, _, _) in &cases {
        if !apps
            .iter()
            .any(|a: &ssi_agent::store::InstalledApp| a.package_id == *package_id)
        {
            server
                .developer_app(package_id, &format!("idp-{}", &package_id[6..]), false)
                .await;
            apps.push(installed(package_id, Privileges::of(privileges), None));
        }
    }
    let agent = TestAgent::start(&credential, &server.clock, &apps, |_| {}).await;
    let screen = agent.screen().await;
    for (package_id, _, method, missing) in cases {
        let idp = format!("idp-{}", &package_id[6..]);
        let app = crate::agent_harness::TestApp::link_request_for(&idp);
        let params = match method {
            "getUserAndLinks" => json!({"identityProviderName": idp}),
            "linkUserAccount" => serde_json::to_value(&app).unwrap(),
            "showLoginSelection" => json!([{"loginName": "me", "linkId": "lnk_x"}]),
            _ => json!({"ssiEvent": "LOGIN_SUCCESS", "timestamp": crate::agent_harness::NOW_MS}),
        };
        let result = call(&agent, package_id, method, params).await;
        match missing {
            Some(id) => {
                assert_eq!(
                    result["requestStatus"], "FAILURE",
                    "{package_id} {method}: {result}"
                );
                let message = result["message"].as_str().unwrap();
                assert!(
                    message.contains("lacks the privilege") && message.contains(id),
                    "{message}"
                );
            }
            None => assert_eq!(
                result["requestStatus"], "SUCCESSFUL",
                "{package_id} {method}: {result}"
            ),
        }
        let view = screen.view().await;
        assert!(
            !view.contains("name=\"prompt\""),
            "{package_id} {method}: a screen showed: {view}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_is_followed_while_running_and_shutdown_removes_the_sockets() {
    let server = TestServer::start().await;
    server.developer_app(APP, "idp-one", false).await;
    server.developer_app(OTHER, "idp-two", false).await;
    let account = server.account().await;
    let (_, credential) = server.device(&account).await;
    let mut agent = TestAgent::start(
        &credential,
        &server.clock,
        &[installed(APP, Privileges::all(), None)],
        |_| {},
    )
    .await;
    assert!(!agent.socket(OTHER).exists());
    // Installed by another process (`ssi agent install`): its socket appears.
    let store = ssi_agent::store::AgentStore::open(&agent.data_dir)
        .await
        .unwrap();
    store
        .install_app(&installed(OTHER, Privileges::all(), None))
        .await
        .unwrap();
    let other = agent.socket(OTHER);
    crate::agent_harness::eventually(std::time::Duration::from_secs(10), "socket created", || {
        let other = other.clone();
        async move { other.exists() }
    })
    .await
    .unwrap();
    let r = call(
        &agent,
        OTHER,
        "getUserAndLinks",
        json!({"identityProviderName": "idp-two"}),
    )
    .await;
    assert_eq!(r["requestStatus"], "SUCCESSFUL", "{r}");
    // Uninstalled: gone.
    assert!(store.uninstall_app(OTHER).await.unwrap());
    crate::agent_harness::eventually(std::time::Duration::from_secs(10), "socket removed", || {
        let other = other.clone();
        async move { !other.exists() }
    })
    .await
    .unwrap();
    store.close().await;
    agent.stop().await;
    assert!(
        !agent.socket(APP).exists(),
        "sockets are removed at shutdown"
    );
}
