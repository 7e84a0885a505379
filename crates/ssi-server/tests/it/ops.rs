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

server_test!(
    purge_removes_only_expired_rows,
    |server: TestServer| async move {
        use ssi_server::store::accounts::AccountRow;
        // Bind the whole server: a block that only names `server.state`
        // captures just that field and drops the rest, which stops the server.
        let server = server;
        let store = &server.state.store;
        let now = server.state.now_ms();
        store
            .insert_account(&AccountRow {
                id: "acct-purge".to_owned(),
                email: "purge@example.com".to_owned(),
                password_hash: "x".to_owned(),
                ssi_enabled: true,
                region: "default".to_owned(),
                is_developer: false,
                created_at: now,
            })
            .await
            .unwrap();
        store
            .insert_session("live", "acct-purge", "c1", now, now + 60_000)
            .await
            .unwrap();
        store
            .insert_session("dead", "acct-purge", "c2", now - 120_000, now - 1)
            .await
            .unwrap();
        let purged = ssi_server::maintenance::purge_expired(&server.state)
            .await
            .unwrap();
        assert_eq!(purged.sessions, 1);
        assert!(store.find_session("live", now).await.unwrap().is_some());
        assert!(
            store
                .find_session("dead", now - 10)
                .await
                .unwrap()
                .is_none()
        );
        let again = ssi_server::maintenance::purge_expired(&server.state)
            .await
            .unwrap();
        assert_eq!(again.sessions, 0, "purging is idempotent");
    }
);

#[tokio::test]
async fn sqlite_database_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let server = crate::harness::TestServer::start(crate::harness::Backend::Sqlite).await;
    // A write makes SQLite create its -wal file too.
    server.state.store.ping().await.unwrap();
    for name in ["ssi.db", "master.key"] {
        let mode = std::fs::metadata(server.dir.path().join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{name} is readable by others: {mode:o}");
    }
    server.stop().await;
}

server_test!(
    an_oversized_body_is_refused_and_its_connection_closed,
    |server: TestServer| async move {
        // Refused unread, so the connection cannot carry another request: the
        // response must say so, or a client reusing it fails at random.
        let oversized = "x".repeat(ssi_proto::limits::MAX_MESSAGE_BYTES + 1);
        for _ in 0..20 {
            let response = server
                .http
                .post(server.url("/v1/device/links"))
                .header("content-type", "application/json")
                .body(oversized.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 413);
            assert_eq!(response.headers()["connection"], "close");
            let health = server
                .http
                .get(server.url("/healthz"))
                .send()
                .await
                .unwrap();
            assert_eq!(health.status(), 200, "the next request on the same client");
        }
    }
);
