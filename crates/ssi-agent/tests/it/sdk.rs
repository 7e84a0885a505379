//! The Rust SDK (`simplesignin`) against a real agent and server: the seed's
//! flows, concurrent calls on one client, the same validation messages as the
//! agent, and a clear answer when there is no agent.

use serde_json::json;
use simplesignin::{
    FailureReason, LinkAccountSuccessCode, LoginNameValue, RequestStatus, SimpleSignIn, SsiEvent,
    SsiEventRequest, UserSelection,
};

use crate::agent_harness::{NOW_MS, OneApp, call, eventually};

const APP: &str = "com.example.sdk";

fn now() -> i64 {
    NOW_MS
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_flows_through_the_sdk() {
    let OneApp {
        server,
        app,
        device_id,
        agent,
    } = OneApp::start(APP, "sdk-idp", |_| {}).await;
    let ssi = SimpleSignIn::with_socket(agent.socket(APP)).with_clock(now);
    let screen = agent.screen().await;

    // Sign-in, first time: no links.
    let found = ssi.get_user_and_links("sdk-idp").await;
    assert_eq!(found.request_status, RequestStatus::Successful, "{found:?}");
    assert_eq!(found.links.as_deref(), Some(&[][..]));
    let amazon = found.amazon_user_id.unwrap();

    // Linking, with a getUserAndLinks answered while the consent screen is open
    // (one connection, answers out of order).
    let request = app.link_request("user-1", &amazon);
    let linking = {
        let ssi = ssi.clone();
        tokio::spawn(async move { ssi.link_user_account(&request).await })
    };
    screen.prompt().await;
    let meanwhile = ssi.get_user_and_links("sdk-idp").await;
    assert_eq!(meanwhile.request_status, RequestStatus::Successful);
    screen.answer("allow").await;
    let linked = linking.await.unwrap();
    assert_eq!(
        linked.success_code,
        Some(LinkAccountSuccessCode::LinkEstablished),
        "{linked:?}"
    );
    let link_id = linked.link_id.unwrap();

    // Sign-in with the link.
    let found = ssi.get_user_and_links("sdk-idp").await;
    let links = found.links.unwrap();
    assert_eq!(links[0].link_id, link_id);
    let entries = vec![LoginNameValue::new("Alice", link_id.clone())];
    let selecting = {
        let ssi = ssi.clone();
        tokio::spawn(async move { ssi.show_login_selection(&entries).await })
    };
    screen.answer("select-0").await;
    let selected = selecting.await.unwrap();
    assert_eq!(selected.user_selection, Some(UserSelection::LoginSelected));
    assert_eq!(selected.link_id.as_deref(), Some(link_id.as_str()));
    let token = serde_json::to_value(selected.ssi_token.unwrap()).unwrap();
    app.verify(&token, &server.base()).unwrap();

    // Metrics.
    let events = [
        SsiEventRequest {
            ssi_event: SsiEvent::LoginSuccess,
            timestamp: NOW_MS,
            failure_reason: None,
        },
        SsiEventRequest {
            ssi_event: SsiEvent::LoginFailure,
            timestamp: NOW_MS,
            failure_reason: Some(FailureReason::NotFound),
        },
    ];
    for event in &events {
        assert_eq!(
            ssi.record_metric_event(event).await.request_status,
            RequestStatus::Successful
        );
    }
    eventually(std::time::Duration::from_secs(20), "delivered", || async {
        server.count_events("source = $1", &device_id).await == 2
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_refuses_what_the_agent_refuses_with_the_same_words() {
    let OneApp { agent, .. } = OneApp::start(APP, "sdk-idp", |_| {}).await;
    let ssi = SimpleSignIn::with_socket(agent.socket(APP)).with_clock(now);
    let long_name = "n".repeat(65);
    let cases = [
        (
            "getUserAndLinks",
            json!({"identityProviderName": "a/b"}),
            ssi.get_user_and_links("a/b").await.message,
        ),
        (
            "showLoginSelection",
            json!([{"loginName": long_name, "linkId": "lnk_1"}]),
            ssi.show_login_selection(&[LoginNameValue::new(long_name.clone(), "lnk_1")])
                .await
                .message,
        ),
        (
            "recordMetricEvent",
            json!({"ssiEvent": "LOGIN_SUCCESS", "timestamp": NOW_MS + 300_001}),
            ssi.record_metric_event(&SsiEventRequest {
                ssi_event: SsiEvent::LoginSuccess,
                timestamp: NOW_MS + 300_001,
                failure_reason: None,
            })
            .await
            .message,
        ),
    ];
    for (method, params, sdk_message) in cases {
        let agent_answer = call(&agent, APP, method, params).await;
        assert_eq!(agent_answer["requestStatus"], "FAILURE");
        assert_eq!(
            agent_answer["message"].as_str(),
            sdk_message.as_deref(),
            "{method}"
        );
    }
    // No agent: RETRYABLE_FAILURE naming the path.
    let nowhere = agent.run_dir.join("apps/com.example.missing.sock");
    let r = SimpleSignIn::with_socket(&nowhere)
        .get_user_and_links("sdk-idp")
        .await;
    assert_eq!(r.request_status, RequestStatus::RetryableFailure);
    assert!(r.message.unwrap().contains(&nowhere.display().to_string()));
}
