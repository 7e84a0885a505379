//! Health, readiness, metrics, security headers, request ids, body limits, restart.

use crate::harness::TestServer;

server_test!(health_ready_and_metrics, |server: TestServer| async move {
    let health = server
        .http
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert!(health.headers().contains_key("x-request-id"));
    assert_eq!(
        health.headers()["x-frame-options"],
        "DENY",
        "every response forbids framing"
    );
    assert!(
        health.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    let ready = server.http.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let metrics = server
        .http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"ssi_http_requests_total{route="/healthz",status="200"} 1"#),
        "{metrics}"
    );
});

server_test!(
    restart_keeps_directed_id_secret,
    |server: TestServer| async move {
        let before = server.state.directed_ids.user("dev", "acct");
        let backend = server.backend;
        let (config, dir, clock) = server.stop().await;
        let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
        let again = TestServer::start_on(backend, config, listener, dir, clock).await;
        assert_eq!(again.state.directed_ids.user("dev", "acct"), before);
        assert_ne!(again.state.directed_ids.user("other-dev", "acct"), before);
    }
);
