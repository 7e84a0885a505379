//! Faults: the server down or not answering gives RETRYABLE_FAILURE within the
//! configured bound, and metric events recorded meanwhile reach the server
//! exactly once after it returns.

use std::time::{Duration, Instant};

use serde_json::json;
use ssi_agent::manifest::Privileges;

use crate::agent_harness::{NOW_MS, OneApp, TestAgent, call, eventually, installed};

const APP: &str = "com.example.faults";

async fn user_and_links(agent: &TestAgent) -> serde_json::Value {
    call(
        agent,
        APP,
        "getUserAndLinks",
        json!({"identityProviderName": "faults"}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_down_then_back_metrics_arrive_exactly_once() {
    let OneApp {
        mut server,
        app,
        device_id,
        agent,
    } = OneApp::start(APP, "faults", |c| c.server_timeout_ms = 1_000).await;
    let r = user_and_links(&agent).await;
    let amazon = r["amazonUserId"].as_str().unwrap().to_owned();
    server.stop().await;
    // Every call that needs the server: RETRYABLE_FAILURE, within the bound.
    let calls = [
        ("getUserAndLinks", json!({"identityProviderName": "faults"})),
        (
            "linkUserAccount",
            serde_json::to_value(app.link_request("u", &amazon)).unwrap(),
        ),
        (
            "showLoginSelection",
            json!([{"loginName": "x", "linkId": "lnk_x"}]),
        ),
    ];
    for (method, params) in calls {
        let started = Instant::now();
        let r = call(&agent, APP, method, params).await;
        assert_eq!(r["requestStatus"], "RETRYABLE_FAILURE", "{method}: {r}");
        assert!(
            r["message"].as_str().unwrap().contains("retry later"),
            "{r}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{method}: {:?}",
            started.elapsed()
        );
    }
    // Metrics are accepted meanwhile.
    for i in 0..25 {
        let event = if i % 5 == 0 {
            json!({"ssiEvent": "LOGIN_FAILURE", "timestamp": NOW_MS - i, "failureReason": "UNAUTHORIZED"})
        } else {
            json!({"ssiEvent": "LOGIN_SUCCESS", "timestamp": NOW_MS - i})
        };
        let r = call(&agent, APP, "recordMetricEvent", event).await;
        assert_eq!(r["requestStatus"], "SUCCESSFUL", "{r}");
    }
    assert_eq!(agent.queued().await, 25);
    // Let delivery fail a few times.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(agent.queued().await, 25);
    server.restart().await;
    eventually(Duration::from_secs(30), "outbox delivered", || async {
        agent.queued().await == 0
    })
    .await
    .unwrap();
    assert_eq!(server.count_events("source = $1", &device_id).await, 25);
    assert_eq!(
        server
            .count_events(
                "source = $1 AND failure_reason = 'UNAUTHORIZED'",
                &device_id
            )
            .await,
        5
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_gives_retryable_failure_within_the_bound() {
    // Accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            open.push(stream);
        }
    });
    let clock = ssi_server::clock::ManualClock::new(NOW_MS);
    let credential = ssi_agent::credential::DeviceCredential {
        server: format!("http://{addr}"),
        credential: "ssi_dev_x".into(),
        device_id: None,
    };
    let agent = TestAgent::start(
        &credential,
        &clock,
        &[installed(APP, Privileges::all(), None)],
        |c| c.server_timeout_ms = 300,
    )
    .await;
    let started = Instant::now();
    let r = user_and_links(&agent).await;
    let elapsed = started.elapsed();
    assert_eq!(r["requestStatus"], "RETRYABLE_FAILURE", "{r}");
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .contains("did not answer within 300 ms"),
        "{r}"
    );
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    held.abort();
}
