//! Link creation under concurrency: group commit on SQLite
//! (`store::link_writer`), a transaction per request on PostgreSQL. Every
//! acknowledged link exists with its `ENABLE_SSI` event and audit entry, and
//! the de-duplication and the per-(account, IDP) limit hold inside a batch;
//! a request that fails does not fail the others of its batch.

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::{AnyPool, Executor};
use ssi_server::clock::Clock;

use crate::fixtures::{
    Partner, TestApp, TestDevice, account_with_device, count, db, developer_app, device_post,
};
use crate::harness::{Backend, TestServer};

/// One request to send: the device's bearer header and the body.
#[derive(Clone)]
struct LinkRequest {
    bearer: String,
    body: Value,
}

/// The `amazonUserId` of the device's account for the app.
async fn amazon_user_id(server: &TestServer, device: &TestDevice, app: &TestApp) -> String {
    let (status, body) = device_post(
        server,
        device,
        "/v1/device/user-and-links",
        &json!({"packageId": app.package_id, "identityProviderName": app.idp_name}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["amazonUserId"]
        .as_str()
        .expect("amazonUserId")
        .to_owned()
}

/// Link requests from `device` for each partner user.
async fn link_requests(
    server: &TestServer,
    device: &TestDevice,
    app: &TestApp,
    partner: &Partner,
    partner_user_ids: impl IntoIterator<Item = String>,
) -> Vec<LinkRequest> {
    let amazon = amazon_user_id(server, device, app).await;
    let now_secs = server.clock.now_ms().div_euclid(1000);
    partner_user_ids
        .into_iter()
        .map(|user| {
            let issued = partner.issue_link(app, &user, &amazon, now_secs);
            LinkRequest {
                bearer: device.bearer(),
                body: json!({
                    "packageId": app.package_id,
                    "request": partner.link_request(&user, &issued),
                }),
            }
        })
        .collect()
}

/// Starts every request at once; the (status, body) of each, in order.
fn spawn_all(
    server: &TestServer,
    requests: Vec<LinkRequest>,
) -> Vec<tokio::task::JoinHandle<Option<(u16, Value)>>> {
    let url = server.url("/v1/device/links");
    requests
        .into_iter()
        .map(|request| {
            let http = server.http.clone();
            let url = url.clone();
            tokio::spawn(async move {
                // `None`: no answer (the server stopped before taking it).
                let response = http
                    .post(url)
                    .header("authorization", request.bearer)
                    .json(&request.body)
                    .send()
                    .await
                    .ok()?;
                let status = response.status().as_u16();
                let text = response.text().await.ok()?;
                Some((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
            })
        })
        .collect()
}

async fn join_all(
    handles: Vec<tokio::task::JoinHandle<Option<(u16, Value)>>>,
) -> Vec<Option<(u16, Value)>> {
    let mut answers = Vec::with_capacity(handles.len());
    for handle in handles {
        answers.push(handle.await.expect("request task"));
    }
    answers
}

async fn post_all(server: &TestServer, requests: Vec<LinkRequest>) -> Vec<(u16, Value)> {
    join_all(spawn_all(server, requests))
        .await
        .into_iter()
        .map(|answer| answer.expect("an answer"))
        .collect()
}

fn established_id(status: u16, body: &Value) -> String {
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["requestStatus"], "SUCCESSFUL", "{body}");
    assert_eq!(body["successCode"], "LINK_ESTABLISHED", "{body}");
    body["linkId"].as_str().expect("linkId").to_owned()
}

/// Each link exists once, with exactly one `ENABLE_SSI` event and one
/// `link.create` audit entry; nothing else was written.
async fn assert_links_complete(db: &AnyPool, link_ids: &[String]) {
    for id in link_ids {
        assert_eq!(
            count(db, "SELECT COUNT(*) FROM links WHERE id = $1", &[id]).await,
            1,
            "{id}"
        );
        let key = format!("enable:{id}");
        assert_eq!(
            count(
                db,
                "SELECT COUNT(*) FROM metric_events WHERE source = 'server' \
                 AND idempotency_key = $1 AND event = 'ENABLE_SSI'",
                &[&key]
            )
            .await,
            1,
            "{id}"
        );
        assert_eq!(
            count(
                db,
                "SELECT COUNT(*) FROM audit_log WHERE action = 'link.create' AND subject = $1",
                &[id]
            )
            .await,
            1,
            "{id}"
        );
    }
    let n = i64::try_from(link_ids.len()).unwrap();
    assert_eq!(count(db, "SELECT COUNT(*) FROM links", &[]).await, n);
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM metric_events WHERE event = 'ENABLE_SSI'",
            &[]
        )
        .await,
        n
    );
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'link.create'",
            &[]
        )
        .await,
        n
    );
}

/// `accounts` accounts with a device each, `per_account` link requests each
/// (the limit is per account and IDP).
async fn distinct_requests(
    server: &TestServer,
    app: &TestApp,
    partner: &Partner,
    accounts: usize,
    per_account: usize,
) -> Vec<LinkRequest> {
    let mut requests = Vec::new();
    for a in 0..accounts {
        let device = account_with_device(server).await;
        let users = (0..per_account).map(|u| format!("user-{a}-{u}"));
        requests.extend(link_requests(server, &device, app, partner, users).await);
    }
    requests
}

server_test!(
    concurrent_distinct_links_are_all_established,
    |server: TestServer| async move {
        let app = developer_app(&server, "com.example.batch", "BatchIdp").await;
        let partner = Partner::new("BatchIdp");
        let requests = distinct_requests(&server, &app, &partner, 10, 20).await;
        let answers = post_all(&server, requests).await;
        let ids: Vec<String> = answers
            .iter()
            .map(|(status, body)| established_id(*status, body))
            .collect();
        let db = db(&server).await;
        assert_links_complete(&db, &ids).await;
        if server.backend == Backend::Sqlite {
            let stats = server.state.link_writer.stats();
            assert_eq!(stats.received, 200, "{stats:?}");
            assert_eq!(stats.batch_failures, 0, "{stats:?}");
        }
    }
);

server_test!(
    concurrent_identical_requests_make_one_link,
    |server: TestServer| async move {
        let app = developer_app(&server, "com.example.same", "SameIdp").await;
        let partner = Partner::new("SameIdp");
        let device = account_with_device(&server).await;
        let one = link_requests(&server, &device, &app, &partner, ["alice".to_owned()]).await;
        let answers = post_all(&server, vec![one[0].clone(); 50]).await;
        let mut established = Vec::new();
        let mut ids = std::collections::BTreeSet::new();
        for (status, body) in &answers {
            assert_eq!(*status, 200, "{body}");
            assert_eq!(body["requestStatus"], "SUCCESSFUL", "{body}");
            ids.insert(body["linkId"].as_str().expect("linkId").to_owned());
            match body["successCode"].as_str() {
                Some("LINK_ESTABLISHED") => established.push(body.clone()),
                Some("LINK_ALREADY_EXISTS") => {}
                other => panic!("unexpected success code {other:?}: {body}"),
            }
        }
        assert_eq!(established.len(), 1, "{answers:?}");
        assert_eq!(ids.len(), 1, "everyone learns the same linkId: {ids:?}");
        let ids: Vec<String> = ids.into_iter().collect();
        assert_links_complete(&db(&server).await, &ids).await;
    }
);

server_test!(
    concurrent_requests_at_the_limit_make_exactly_the_allowed_links,
    |server: TestServer| async move {
        let app = developer_app(&server, "com.example.limit", "LimitIdp").await;
        let partner = Partner::new("LimitIdp");
        let device = account_with_device(&server).await;
        let users = (0..40).map(|u| format!("user-{u}"));
        let requests = link_requests(&server, &device, &app, &partner, users).await;
        let answers = post_all(&server, requests).await;
        let mut ids = Vec::new();
        for (status, body) in &answers {
            assert_eq!(*status, 200, "{body}");
            match body["requestStatus"].as_str() {
                Some("SUCCESSFUL") => ids.push(established_id(*status, body)),
                Some("FAILURE") => {
                    assert!(body["message"].as_str().unwrap().contains("32"), "{body}")
                }
                _ => panic!("{body}"),
            }
        }
        assert_eq!(ids.len(), 32, "{answers:?}");
        assert_links_complete(&db(&server).await, &ids).await;
    }
);

server_test!(
    acknowledged_links_survive_a_stop_during_creation,
    |server: TestServer| async move {
        let app = developer_app(&server, "com.example.stop", "StopIdp").await;
        let partner = Partner::new("StopIdp");
        let requests = distinct_requests(&server, &app, &partner, 4, 25).await;
        let backend = server.backend;
        let handles = spawn_all(&server, requests);
        // Stop while the requests are in flight: the ones that got an answer
        // were committed before it was sent.
        tokio::task::yield_now().await;
        let (config, dir, clock) = server.stop().await;
        let answers = join_all(handles).await;
        let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
        let again = TestServer::start_on(backend, config, listener, dir, clock).await;
        let db = db(&again).await;
        let mut acknowledged = Vec::new();
        for (status, body) in answers.iter().flatten() {
            if *status == 200 {
                acknowledged.push(established_id(*status, body));
            }
        }
        for id in &acknowledged {
            assert_eq!(
                count(&db, "SELECT COUNT(*) FROM links WHERE id = $1", &[id]).await,
                1,
                "acknowledged link {id} lost"
            );
        }
        // Whatever committed (acknowledged or not) committed whole.
        let n = count(&db, "SELECT COUNT(*) FROM links", &[]).await;
        assert!(n >= i64::try_from(acknowledged.len()).unwrap());
        assert_eq!(
            count(
                &db,
                "SELECT COUNT(*) FROM metric_events WHERE event = 'ENABLE_SSI'",
                &[]
            )
            .await,
            n
        );
        assert_eq!(
            count(
                &db,
                "SELECT COUNT(*) FROM audit_log WHERE action = 'link.create'",
                &[]
            )
            .await,
            n
        );
    }
);

/// Waits until `done` holds (the writer's progress is not timed).
async fn wait_for(server: &TestServer, what: &str, done: impl Fn(u64, u64) -> bool) {
    for _ in 0..6000 {
        let stats = server.state.link_writer.stats();
        if done(stats.received, stats.queued) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{what}: {:?}", server.state.link_writer.stats());
}

/// Makes the writer take `batch` as ONE batch, deterministically: a test
/// connection holds SQLite's write lock while a first request (alone in its
/// batch) waits for it and `batch` queues behind; `while_locked` then runs
/// on the locked connection, which commits and lets the writer go.
async fn in_one_batch(
    server: &TestServer,
    first: LinkRequest,
    batch: Vec<LinkRequest>,
    while_locked: &[(&str, Vec<String>)],
) -> (Option<(u16, Value)>, Vec<Option<(u16, Value)>>) {
    let db = db(server).await;
    let mut conn = db.acquire().await.expect("a connection");
    conn.execute("BEGIN IMMEDIATE").await.expect("write lock");
    let received = server.state.link_writer.stats().received;
    let first = spawn_all(server, vec![first]);
    wait_for(server, "the first request taken", |r, _| r == received + 1).await;
    let n = u64::try_from(batch.len()).unwrap();
    let batch = spawn_all(server, batch);
    wait_for(server, "the batch queued", |_, queued| queued == n).await;
    for (sql, params) in while_locked {
        let mut query = sqlx::query(sqlx::AssertSqlSafe((*sql).to_owned()));
        for p in params {
            query = query.bind(p.as_str());
        }
        query
            .execute(&mut *conn)
            .await
            .expect("statement under the lock");
    }
    conn.execute("COMMIT")
        .await
        .expect("release the write lock");
    let first = join_all(first).await.pop().flatten();
    (first, join_all(batch).await)
}

/// Link requests of a fresh account, each made first and alone in its batch
/// by [`in_one_batch`].
async fn sentinel(server: &TestServer, app: &TestApp, partner: &Partner) -> LinkRequest {
    let device = account_with_device(server).await;
    let mut one = link_requests(server, &device, app, partner, ["sentinel".to_owned()]).await;
    one.remove(0)
}

fn answered(answers: Vec<Option<(u16, Value)>>) -> Vec<(u16, Value)> {
    answers
        .into_iter()
        .map(|answer| answer.expect("an answer"))
        .collect()
}

/// Inside one batch on SQLite: the second of two identical requests sees the
/// first's row, the count sees earlier inserts, and a request whose insert
/// fails (its IDP was deleted meanwhile) fails alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_batch_dedupes_counts_and_isolates_a_failure() {
    let server = TestServer::start(Backend::Sqlite).await;
    let app = developer_app(&server, "com.example.one", "OneIdp").await;
    let partner = Partner::new("OneIdp");
    let db = db(&server).await;

    // 1. Identical requests in one batch: one link, both learn its id.
    let device = account_with_device(&server).await;
    let users = ["dup", "other-1", "other-2"].map(str::to_owned);
    let requests = link_requests(&server, &device, &app, &partner, users).await;
    let batch = vec![
        requests[0].clone(),
        requests[1].clone(),
        requests[0].clone(),
        requests[2].clone(),
    ];
    let first = sentinel(&server, &app, &partner).await;
    let (first, answers) = in_one_batch(&server, first, batch, &[]).await;
    let (status, body) = first.expect("an answer");
    let mut ids = vec![established_id(status, &body)];
    let answers = answered(answers);
    let dups = [&answers[0].1, &answers[2].1];
    assert_eq!(dups[0]["linkId"], dups[1]["linkId"], "{dups:?}");
    let mut codes = [&dups[0]["successCode"], &dups[1]["successCode"]];
    codes.sort_by_key(|code| code.to_string());
    assert_eq!(
        codes,
        [&json!("LINK_ALREADY_EXISTS"), &json!("LINK_ESTABLISHED")]
    );
    ids.push(dups[0]["linkId"].as_str().unwrap().to_owned());
    ids.push(established_id(answers[1].0, &answers[1].1));
    ids.push(established_id(answers[3].0, &answers[3].1));
    let stats = server.state.link_writer.stats();
    assert_eq!(stats.largest_batch, 4, "{stats:?}");
    assert_eq!(stats.batch_failures, 0, "{stats:?}");
    assert_links_complete(&db, &ids).await;

    // 2. The limit inside one batch: 30 links exist, 4 new requests queue
    // together, 2 fit.
    let device = account_with_device(&server).await;
    let users = (0..34).map(|u| format!("user-{u}"));
    let mut requests = link_requests(&server, &device, &app, &partner, users).await;
    let batch = requests.split_off(30);
    for (status, body) in post_all(&server, requests).await {
        ids.push(established_id(status, &body));
    }
    let first = sentinel(&server, &app, &partner).await;
    let (first, answers) = in_one_batch(&server, first, batch, &[]).await;
    let (status, body) = first.expect("an answer");
    ids.push(established_id(status, &body));
    let mut refused = 0;
    for (status, body) in answered(answers) {
        assert_eq!(status, 200, "{body}");
        if body["requestStatus"] == "FAILURE" {
            assert!(body["message"].as_str().unwrap().contains("32"), "{body}");
            refused += 1;
        } else {
            ids.push(established_id(status, &body));
        }
    }
    assert_eq!(refused, 2, "32 links per account and IDP");
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM links WHERE account_id = $1",
            &[&device.account_id]
        )
        .await,
        32
    );
    assert_links_complete(&db, &ids).await;

    // 3. A failing request in a batch: its IDP disappears while it waits;
    // the others of the batch are established all the same.
    let other_app = developer_app(&server, "com.example.two", "TwoIdp").await;
    let other_partner = Partner::new("TwoIdp");
    let other_device = account_with_device(&server).await;
    let doomed = link_requests(
        &server,
        &other_device,
        &other_app,
        &other_partner,
        ["doomed".to_owned()],
    )
    .await;
    let device = account_with_device(&server).await;
    let users = (0..5).map(|u| format!("fine-{u}"));
    let mut batch = link_requests(&server, &device, &app, &partner, users).await;
    batch.insert(2, doomed[0].clone());
    let first = sentinel(&server, &app, &partner).await;
    let (first, answers) = in_one_batch(
        &server,
        first,
        batch,
        &[
            (
                "UPDATE apps SET idp_id = NULL WHERE id = $1",
                vec![other_app.app_id.clone()],
            ),
            (
                "DELETE FROM idps WHERE id = $1",
                vec![other_app.idp_id.clone()],
            ),
        ],
    )
    .await;
    let (status, body) = first.expect("an answer");
    ids.push(established_id(status, &body));
    for (i, (status, body)) in answered(answers).into_iter().enumerate() {
        if i == 2 {
            assert_eq!(status, 500, "{body}");
        } else {
            ids.push(established_id(status, &body));
        }
    }
    let stats = server.state.link_writer.stats();
    assert_eq!(stats.batch_failures, 1, "{stats:?}");
    assert_links_complete(&db, &ids).await;
}
