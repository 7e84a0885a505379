//! The flows of DESIGN.md section 3 through a real agent and a real server, the
//! owner answering through the screens' endpoints as the paired kiosk does.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use ssi_agent::screens::DeviceSwitch;
use ssi_agent::server::{ServerClient, ServerDeviceSwitch};

use crate::agent_harness::{NOW_MS, OneApp, call, eventually, spawn_call};

const APP: &str = "com.example.tv";

type World = OneApp;

async fn world(adjust: impl FnOnce(&mut ssi_agent::AgentConfig)) -> World {
    OneApp::start(APP, "acme", adjust).await
}

trait Steps {
    async fn user_and_links(&self) -> Value;
    async fn amazon_user_id(&self) -> String;
    fn link(&self, partner_user_id: &str, amazon: &str) -> tokio::task::JoinHandle<Value>;
    async fn linked(&self, partner_user_id: &str) -> String;
}

impl Steps for World {
    async fn user_and_links(&self) -> Value {
        call(
            &self.agent,
            APP,
            "getUserAndLinks",
            json!({"identityProviderName": "acme"}),
        )
        .await
    }

    async fn amazon_user_id(&self) -> String {
        let r = self.user_and_links().await;
        assert_eq!(r["requestStatus"], "SUCCESSFUL", "{r}");
        r["amazonUserId"].as_str().unwrap().to_owned()
    }

    /// `linkUserAccount` in the background (its answer comes after the screen's).
    fn link(&self, partner_user_id: &str, amazon: &str) -> tokio::task::JoinHandle<Value> {
        let request = serde_json::to_value(self.app.link_request(partner_user_id, amazon)).unwrap();
        spawn_call(&self.agent, APP, "linkUserAccount", request)
    }

    /// Links `partner_user_id` with Allow; its link id.
    async fn linked(&self, partner_user_id: &str) -> String {
        let amazon = self.amazon_user_id().await;
        let pending = self.link(partner_user_id, &amazon);
        self.agent.screen().await.answer("allow").await;
        let r = pending.await.unwrap();
        assert_eq!(r["successCode"], "LINK_ESTABLISHED", "{r}");
        r["linkId"].as_str().unwrap().to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_links_and_the_same_request_again_needs_no_screen() {
    let w = world(|_| {}).await;
    let amazon = w.amazon_user_id().await;
    let screen = w.agent.screen().await;
    let pending = w.link("user-1", &amazon);
    let shown = screen.answer("allow").await;
    // The consent screen names the app (the server's record) and the account.
    assert!(shown.contains(&format!("App {APP}")), "{shown}");
    assert!(shown.contains("user-1@partner.example"), "{shown}");
    let r = pending.await.unwrap();
    assert_eq!(r["requestStatus"], "SUCCESSFUL", "{r}");
    assert_eq!(r["successCode"], "LINK_ESTABLISHED", "{r}");
    let link_id = r["linkId"].as_str().unwrap().to_owned();
    // Again: LINK_ALREADY_EXISTS at once, no screen.
    let again = call(
        &w.agent,
        APP,
        "linkUserAccount",
        serde_json::to_value(w.app.link_request("user-1", &amazon)).unwrap(),
    )
    .await;
    assert_eq!(again["successCode"], "LINK_ALREADY_EXISTS", "{again}");
    assert_eq!(again["linkId"], link_id.as_str());
    assert!(!screen.view().await.contains("name=\"prompt\""));
    // getUserAndLinks has it, with a token the partner verifies.
    let r = w.user_and_links().await;
    let links = r["links"].as_array().unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0]["linkId"], link_id.as_str());
    let verified = w
        .app
        .verify(&links[0]["ssiToken"], &w.server.base())
        .unwrap();
    assert_eq!(verified.link_id, link_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_now_holds_for_the_cooldown_and_is_counted_once() {
    let w = world(|c| c.consent_cooldown_secs = 3600).await;
    let amazon = w.amazon_user_id().await;
    let screen = w.agent.screen().await;
    let pending = w.link("user-2", &amazon);
    screen.answer("not-now").await;
    let r = pending.await.unwrap();
    assert_eq!(r["requestStatus"], "SUCCESSFUL", "{r}");
    assert_eq!(r["successCode"], "CONSENT_DENIED", "{r}");
    assert!(r.get("linkId").is_none());
    // Within the cool-down: CONSENT_DENIED at once, no screen.
    let request = serde_json::to_value(w.app.link_request("user-2", &amazon)).unwrap();
    let again = call(&w.agent, APP, "linkUserAccount", request.clone()).await;
    assert_eq!(again["successCode"], "CONSENT_DENIED", "{again}");
    assert!(!screen.view().await.contains("name=\"prompt\""));
    // The server counts the denial once (delivered from the outbox).
    eventually(
        Duration::from_secs(20),
        "consent denial delivered",
        || async { w.agent.queued().await == 0 },
    )
    .await
    .unwrap();
    assert_eq!(
        w.server.count_events("event = $1", "CONSENT_DENIED").await,
        1
    );
    // The cool-down is on disk (it survives a restart of the agent).
    let store = ssi_agent::store::AgentStore::open(&w.agent.data_dir)
        .await
        .unwrap();
    let until = store.find_cooldown(APP, "user-2", NOW_MS).await.unwrap();
    assert_eq!(until, Some(NOW_MS + 3_600_000));
    store.close().await;
    // After it: asked again.
    w.server.clock.advance_ms(3_600_001);
    let pending = spawn_call(&w.agent, APP, "linkUserAccount", request);
    screen.answer("allow").await;
    assert_eq!(pending.await.unwrap()["successCode"], "LINK_ESTABLISHED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_screens_time_out() {
    let w = world(|c| c.screen_timeout_secs = 1).await;
    let amazon = w.amazon_user_id().await;
    let _screen = w.agent.screen().await;
    let r = w.link("user-3", &amazon).await.unwrap();
    assert_eq!(r["requestStatus"], "FAILURE", "{r}");
    assert_eq!(r["successCode"], "NOT_APPLICABLE", "{r}");
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .contains("not answered within 1 seconds")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_selection_selected_manual_and_timeout() {
    let w = world(|c| c.screen_timeout_secs = 2).await;
    let first = w.linked("user-a").await;
    let second = w.linked("user-b").await;
    let entries = json!([
        {"loginName": "Alice", "linkId": first},
        {"loginName": "Bob", "linkId": second},
    ]);
    let screen = w.agent.screen().await;
    let select = |entries: Value| spawn_call(&w.agent, APP, "showLoginSelection", entries);
    // The second entry.
    let pending = select(entries.clone());
    let shown = screen.answer("select-1").await;
    assert!(shown.contains("Alice") && shown.contains("Bob"), "{shown}");
    let r = pending.await.unwrap();
    assert_eq!(r["requestStatus"], "SUCCESSFUL", "{r}");
    assert_eq!(r["userSelection"], "LOGIN_SELECTED", "{r}");
    assert_eq!(r["linkId"], second.as_str());
    let verified = w.app.verify(&r["ssiToken"], &w.server.base()).unwrap();
    assert_eq!(verified.link_id, second);
    // Sign in manually.
    let pending = select(entries.clone());
    screen.answer("manual").await;
    let r = pending.await.unwrap();
    assert_eq!(r["userSelection"], "MANUAL_SIGN_IN", "{r}");
    assert!(r.get("linkId").is_none());
    // Nobody answers.
    let r = select(entries).await.unwrap();
    assert_eq!(r["userSelection"], "NOT_APPLICABLE", "{r}");
    // An entry that is no active link of this user: refused, no screen.
    let r = select(json!([{"loginName": "Mallory", "linkId": "lnk_doesnotexist"}]))
        .await
        .unwrap();
    assert_eq!(r["requestStatus"], "FAILURE", "{r}");
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .starts_with("loginNames[0].linkId: must be an active link")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_screen_call_of_the_app_is_a_duplicate() {
    let w = world(|_| {}).await;
    let amazon = w.amazon_user_id().await;
    let screen = w.agent.screen().await;
    let pending = w.link("user-4", &amazon);
    screen.prompt().await;
    let second = call(
        &w.agent,
        APP,
        "showLoginSelection",
        json!([{"loginName": "x", "linkId": "lnk_x"}]),
    )
    .await;
    assert_eq!(second["requestStatus"], "DUPLICATE_REQUEST", "{second}");
    let third = call(
        &w.agent,
        APP,
        "linkUserAccount",
        serde_json::to_value(w.app.link_request("user-5", &amazon)).unwrap(),
    )
    .await;
    assert_eq!(third["requestStatus"], "DUPLICATE_REQUEST", "{third}");
    // Calls without a screen are not held up.
    let started = Instant::now();
    let r = w.user_and_links().await;
    assert_eq!(r["requestStatus"], "SUCCESSFUL");
    assert!(started.elapsed() < Duration::from_secs(10));
    screen.answer("allow").await;
    assert_eq!(pending.await.unwrap()["successCode"], "LINK_ESTABLISHED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_device_switch_turns_everything_off_without_a_screen() {
    let w = world(|_| {}).await;
    let amazon = w.amazon_user_id().await;
    let credential = ssi_agent::credential::DeviceCredential::load(&w.agent.data_dir).unwrap();
    let switch =
        ServerDeviceSwitch::new(ServerClient::new(&credential, Duration::from_secs(5)).unwrap());
    assert!(switch.enabled().await.unwrap());
    switch.set_enabled(false).await.unwrap();
    let screen = w.agent.screen().await;
    let r = w.user_and_links().await;
    assert_eq!(r["requestStatus"], "FEATURE_TURNED_OFF", "{r}");
    let r = call(
        &w.agent,
        APP,
        "linkUserAccount",
        serde_json::to_value(w.app.link_request("user-6", &amazon)).unwrap(),
    )
    .await;
    assert_eq!(r["requestStatus"], "FEATURE_TURNED_OFF", "{r}");
    let r = call(
        &w.agent,
        APP,
        "showLoginSelection",
        json!([{"loginName": "x", "linkId": "lnk_x"}]),
    )
    .await;
    assert_eq!(r["requestStatus"], "FEATURE_TURNED_OFF", "{r}");
    assert!(!screen.view().await.contains("name=\"prompt\""));
    switch.set_enabled(true).await.unwrap();
    let r = w.user_and_links().await;
    assert_eq!(r["requestStatus"], "SUCCESSFUL", "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sealed_key_that_does_not_open_is_refused_before_any_screen() {
    let w = world(|_| {}).await;
    let amazon = w.amazon_user_id().await;
    let screen = w.agent.screen().await;
    let mut request = w.app.link_request("user-7", &amazon);
    // Sealed to another app's key.
    let stranger = w
        .server
        .developer_app("com.example.stranger", "stranger", false)
        .await;
    request.link_signing_key = stranger.link_request("user-7", &amazon).link_signing_key;
    let r = call(
        &w.agent,
        APP,
        "linkUserAccount",
        serde_json::to_value(&request).unwrap(),
    )
    .await;
    assert_eq!(
        r["requestStatus"], "INVALID_LINK_SIGNING_KEY_ENCRYPTION",
        "{r}"
    );
    assert!(!screen.view().await.contains("name=\"prompt\""));
}
