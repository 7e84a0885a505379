//! The metrics pipeline and the reports (DESIGN.md sections 3 "Metrics", 8
//! and 9): events through the real device API (and the server's own
//! `ENABLE_SSI` / `CONSENT_DENIED`) become daily aggregates per (UTC day,
//! app); the monthly CSV matches a scripted series of events exactly, at
//! day, month and leap-day boundaries; duplicates count once; refused events
//! count nowhere; recomputation from the raw events equals incremental
//! maintenance (also while events arrive); hostile app names are inert in
//! the CSV and the SVG; no personal data and no other developer's app appears.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use sqlx::Row;
use ssi_server::admin::NoProgress;
use ssi_server::clock::Clock;
use ssi_server::reports::{
    self, CSV_HEADER, DailyAggregate, DailyCounts, Month, ReportError, UtcDate,
};

use crate::fixtures::{
    Partner, TestApp, TestDevice, account_with_device, add_app, db, developer_app, device_post,
    exec,
};
use crate::harness::TestServer;

const MINUTE_MS: i64 = 60_000;

/// Epoch ms of a UTC date and time.
fn at(date: &str, hours: i64, minutes: i64, seconds: i64, millis: i64) -> i64 {
    let day: UtcDate = date.parse().expect("a test date");
    day.start_ms() + ((hours * 60 + minutes) * 60 + seconds) * 1000 + millis
}

fn month(text: &str) -> Month {
    text.parse().expect("a test month")
}

/// One event of a `POST /v1/device/metrics` batch.
fn event(app: &TestApp, id: &str, ssi_event: &str, timestamp: i64, reason: Option<&str>) -> Value {
    let mut e = json!({
        "eventId": id,
        "packageId": app.package_id,
        "ssiEvent": ssi_event,
        "timestamp": timestamp,
    });
    if let Some(reason) = reason {
        e["failureReason"] = json!(reason);
    }
    e
}

/// Posts a batch; returns (accepted, duplicates, [(index, field)] rejected).
async fn send(
    server: &TestServer,
    device: &TestDevice,
    events: Vec<Value>,
) -> (u64, u64, Vec<(u64, String)>) {
    let (status, body) = device_post(
        server,
        device,
        "/v1/device/metrics",
        &json!({ "events": events }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let rejected = body["rejected"]
        .as_array()
        .expect("rejected")
        .iter()
        .map(|r| {
            (
                r["index"].as_u64().expect("index"),
                r["field"].as_str().expect("field").to_owned(),
            )
        })
        .collect();
    (
        body["accepted"].as_u64().expect("accepted"),
        body["duplicates"].as_u64().expect("duplicates"),
        rejected,
    )
}

/// Links `partner_user_id` through the device API at the clock's time (the
/// server records `ENABLE_SSI`); returns the link id.
async fn link(
    server: &TestServer,
    device: &TestDevice,
    app: &TestApp,
    partner_user_id: &str,
) -> String {
    let partner = Partner::new(&app.idp_name);
    let idp = json!({"packageId": app.package_id, "identityProviderName": app.idp_name});
    let (_, links) = device_post(server, device, "/v1/device/user-and-links", &idp).await;
    let amazon = links["amazonUserId"].as_str().expect("amazonUserId");
    let issued = partner.issue_link(
        app,
        partner_user_id,
        amazon,
        server.clock.now_ms().div_euclid(1000),
    );
    let body = json!({
        "packageId": app.package_id,
        "request": partner.link_request(partner_user_id, &issued),
    });
    let (_, response) = device_post(server, device, "/v1/device/links", &body).await;
    assert_eq!(response["successCode"], "LINK_ESTABLISHED", "{response}");
    response["linkId"].as_str().expect("linkId").to_owned()
}

/// The owner chose "Not now" at the clock's time (the server records
/// `CONSENT_DENIED`).
async fn deny(server: &TestServer, device: &TestDevice, app: &TestApp, event_id: &str) {
    let body = json!({
        "packageId": app.package_id,
        "identityProviderName": app.idp_name,
        "partnerUserId": "denied-user",
        "eventId": event_id,
    });
    let (status, response) = device_post(server, device, "/v1/device/consent-denied", &body).await;
    assert_eq!(
        (status, &response["requestStatus"]),
        (200, &json!("SUCCESSFUL"))
    );
}

async fn csv_of(server: &TestServer, developer_id: &str, month_text: &str) -> String {
    let rows = reports::monthly_rows(&server.state.store, developer_id, month(month_text))
        .await
        .expect("report rows");
    reports::render_csv(&rows).expect("csv")
}

/// The CSV of `month` for `apps` (id, name as written in the CSV) in report
/// order: every day, zeros except the `nonzero` lines given whole.
fn expected_csv(month_text: &str, apps: &[(&str, &str)], nonzero: &[String]) -> String {
    let mut csv = CSV_HEADER.join(",") + "\n";
    let mut nonzero: BTreeMap<String, &String> = nonzero
        .iter()
        .map(|line| {
            let mut fields = line.splitn(3, ',');
            let key = format!("{},{}", fields.next().unwrap(), fields.next().unwrap());
            (key, line)
        })
        .collect();
    for day in month(month_text).days() {
        for (app_id, name) in apps {
            match nonzero.remove(&format!("{day},{app_id}")) {
                Some(line) => csv.push_str(line),
                None => csv.push_str(&format!("{day},{app_id},{name},0,0,0,0,0,0,0,0,0,0")),
            }
            csv.push('\n');
        }
    }
    assert!(nonzero.is_empty(), "lines outside the month: {nonzero:?}");
    csv
}

/// Every aggregate row of a wide range, as stored.
async fn all_aggregates(server: &TestServer) -> Vec<DailyAggregate> {
    server
        .state
        .store
        .daily_aggregates(UtcDate::from_epoch_day(0), month("9999-12").end_day())
        .await
        .expect("aggregates")
}

/// The aggregates folded in Rust from the raw events (the rule of
/// `DailyCounts::of_event`), in the store's order.
async fn folded_from_raw(server: &TestServer) -> Vec<DailyAggregate> {
    let db = db(server).await;
    let rows = sqlx::query("SELECT app_id, event, failure_reason, occurred_at FROM metric_events")
        .fetch_all(&db)
        .await
        .expect("raw events");
    let mut folded: BTreeMap<(UtcDate, String), DailyCounts> = BTreeMap::new();
    for row in rows {
        let reason: Option<String> = row.get("failure_reason");
        let counts = DailyCounts::of_event(&row.get::<String, _>("event"), reason.as_deref());
        folded
            .entry((
                UtcDate::containing(row.get("occurred_at")),
                row.get("app_id"),
            ))
            .or_default()
            .add(&counts);
    }
    folded
        .into_iter()
        .map(|((day, app_id), counts)| DailyAggregate {
            app_id,
            day,
            counts,
        })
        .collect()
}

server_test!(
    the_csv_matches_a_scripted_series_of_events_at_day_month_and_leap_day_boundaries,
    |server: TestServer| async move {
        let device = account_with_device(&server).await;
        let alpha = developer_app(&server, "com.example.alpha", "idp.alpha").await;
        let beta = add_app(
            &server,
            &alpha.developer_id,
            "com.example.beta",
            &alpha.idp_id,
            &alpha.idp_name,
        )
        .await;
        let beta_name = "Beta, \"the\" app\nsecond line";
        let db = db(&server).await;
        for (app, name) in [(&alpha, "Alpha"), (&beta, beta_name)] {
            exec(
                &db,
                "UPDATE apps SET display_name = $1 WHERE id = $2",
                &[name, &app.app_id],
            )
            .await;
        }

        // 1. Around the January/February boundary (2028).
        server.clock.set_ms(at("2028-02-01", 0, 1, 0, 0));
        let (accepted, _, rejected) = send(
            &server,
            &device,
            vec![
                event(
                    &alpha,
                    "j1",
                    "LOGIN_SUCCESS",
                    at("2028-01-31", 23, 59, 59, 999),
                    None,
                ),
                event(
                    &alpha,
                    "j2",
                    "LOGIN_SUCCESS",
                    at("2028-02-01", 0, 0, 0, 0),
                    None,
                ),
                event(
                    &beta,
                    "j3",
                    "MANUAL_SIGNIN_SELECTED",
                    at("2028-01-25", 0, 1, 0, 0),
                    None,
                ),
            ],
        )
        .await;
        assert_eq!((accepted, rejected), (3, vec![]));

        // 2. The server's own events around the leap day's end.
        server.clock.set_ms(at("2028-02-29", 23, 59, 59, 999));
        link(&server, &device, &alpha, "user-1").await;
        deny(&server, &device, &beta, "d1").await;
        server.clock.set_ms(at("2028-03-01", 0, 0, 0, 0));
        link(&server, &device, &alpha, "user-2").await;
        deny(&server, &device, &beta, "d2").await;

        // 3. App events around February/March, with the window's edges:
        // now - 7 days and now + 5 minutes are inside, one ms more is not.
        let now = at("2028-03-01", 0, 2, 0, 0);
        server.clock.set_ms(now);
        let mut batch = vec![
            event(
                &alpha,
                "m1",
                "LOGIN_SUCCESS",
                at("2028-02-29", 23, 59, 59, 999),
                None,
            ),
            event(
                &alpha,
                "m2",
                "LOGIN_SUCCESS",
                at("2028-03-01", 0, 0, 0, 0),
                None,
            ),
            event(
                &alpha,
                "m3",
                "LOGIN_SUCCESS",
                now - 7 * 1440 * MINUTE_MS,
                None,
            ),
            event(&alpha, "m4", "LOGIN_SUCCESS", now + 5 * MINUTE_MS, None),
            event(
                &beta,
                "m5",
                "MANUAL_SIGNIN_SELECTED",
                at("2028-02-28", 23, 59, 59, 999),
                None,
            ),
            event(
                &beta,
                "m6",
                "MANUAL_SIGNIN_SELECTED",
                at("2028-02-28", 12, 0, 0, 0),
                None,
            ),
        ];
        for (i, reason) in [
            "UNAUTHORIZED",
            "BAD_REQUEST",
            "NOT_FOUND",
            "FORBIDDEN",
            "INTERNAL_SERVER_ERROR",
            "NOT_FOUND",
        ]
        .iter()
        .enumerate()
        {
            let id = format!("f{i}");
            let time = at("2028-02-29", 12, 0, 0, 0);
            batch.push(event(&alpha, &id, "LOGIN_FAILURE", time, Some(reason)));
        }
        // Refused, each naming its field; and one duplicate inside the batch.
        batch.extend([
            event(&alpha, "r1", "LOGIN_FAILURE", now, None),
            event(&alpha, "r2", "LOGIN_SUCCESS", now, Some("FORBIDDEN")),
            event(
                &alpha,
                "r3",
                "LOGIN_SUCCESS",
                now - 7 * 1440 * MINUTE_MS - 1,
                None,
            ),
            event(&alpha, "r4", "LOGIN_SUCCESS", now + 5 * MINUTE_MS + 1, None),
            event(
                &alpha,
                "m1",
                "LOGIN_SUCCESS",
                at("2028-02-29", 23, 59, 59, 999),
                None,
            ),
        ]);
        let expected_rejected = vec![
            (12, "failureReason".to_owned()),
            (13, "failureReason".to_owned()),
            (14, "timestamp".to_owned()),
            (15, "timestamp".to_owned()),
        ];
        assert_eq!(
            send(&server, &device, batch.clone()).await,
            (12, 1, expected_rejected.clone())
        );
        // The agent retries the batch: nothing counts twice.
        assert_eq!(
            send(&server, &device, batch).await,
            (0, 13, expected_rejected)
        );

        let (a, b) = (alpha.app_id.as_str(), beta.app_id.as_str());
        let beta_csv = "\"Beta, \"\"the\"\" app\nsecond line\"";
        let apps = [(a, "Alpha"), (b, beta_csv)];
        let months = [
            (
                "2028-01",
                vec![
                    format!("2028-01-25,{b},{beta_csv},0,0,0,0,0,0,0,0,0,1"),
                    format!("2028-01-31,{a},Alpha,0,0,1,0,0,0,0,0,0,0"),
                ],
            ),
            (
                "2028-02",
                vec![
                    format!("2028-02-01,{a},Alpha,0,0,1,0,0,0,0,0,0,0"),
                    format!("2028-02-23,{a},Alpha,0,0,1,0,0,0,0,0,0,0"),
                    format!("2028-02-28,{b},{beta_csv},0,0,0,0,0,0,0,0,0,2"),
                    format!("2028-02-29,{a},Alpha,1,0,1,6,1,1,2,1,1,0"),
                    format!("2028-02-29,{b},{beta_csv},0,1,0,0,0,0,0,0,0,0"),
                ],
            ),
            (
                "2028-03",
                vec![
                    format!("2028-03-01,{a},Alpha,1,0,2,0,0,0,0,0,0,0"),
                    format!("2028-03-01,{b},{beta_csv},0,1,0,0,0,0,0,0,0,0"),
                ],
            ),
        ];
        for (month_text, nonzero) in &months {
            let expected = expected_csv(month_text, &apps, nonzero);
            let csv = csv_of(&server, &alpha.developer_id, month_text).await;
            assert_eq!(csv, expected, "{month_text}");
        }
        let february = expected_csv("2028-02", &apps, &months[1].1);
        // 29 days of two apps, plus the header.
        assert_eq!(february.lines().count(), 1 + 29 * 2 + 29);

        // The aggregates are the raw events' sums.
        assert_eq!(
            all_aggregates(&server).await,
            folded_from_raw(&server).await
        );
    }
);

server_test!(
    recomputation_equals_incremental_maintenance_and_repairs_damage,
    |server: TestServer| async move {
        let device = account_with_device(&server).await;
        let other_device = account_with_device(&server).await;
        let alpha = developer_app(&server, "com.example.alpha", "idp.alpha").await;
        let beta = developer_app(&server, "com.example.beta", "idp.beta").await;
        let now = server.clock.now_ms();
        // A deterministic spread over 8 days and both apps, every event kind.
        let kinds: [(&str, Option<&str>); 7] = [
            ("LOGIN_SUCCESS", None),
            ("MANUAL_SIGNIN_SELECTED", None),
            ("LOGIN_FAILURE", Some("UNAUTHORIZED")),
            ("LOGIN_FAILURE", Some("BAD_REQUEST")),
            ("LOGIN_FAILURE", Some("NOT_FOUND")),
            ("LOGIN_FAILURE", Some("FORBIDDEN")),
            ("LOGIN_FAILURE", Some("INTERNAL_SERVER_ERROR")),
        ];
        let events: Vec<Value> = (0..700i64)
            .map(|i| {
                let app = if i % 3 == 0 { &beta } else { &alpha };
                let (kind, reason) = kinds[(i * 7 / 5 % 7) as usize];
                let back = (i * 7_919 * MINUTE_MS) % (7 * 1440 * MINUTE_MS);
                event(app, &format!("e{i}"), kind, now - back, reason)
            })
            .collect();
        for chunk in events.chunks(500) {
            send(&server, &device, chunk.to_vec()).await;
            send(&server, &other_device, chunk.to_vec()).await;
        }
        link(&server, &device, &alpha, "user-1").await;
        deny(&server, &device, &beta, "d1").await;
        let incremental = all_aggregates(&server).await;
        assert_eq!(incremental, folded_from_raw(&server).await);
        assert!(incremental.len() >= 16, "{}", incremental.len());

        // Damage the aggregates, then recompute the days around the events.
        let db = db(&server).await;
        let first = UtcDate::containing(now - 8 * 1440 * MINUTE_MS);
        let last = UtcDate::containing(now + 1440 * MINUTE_MS);
        exec(
            &db,
            "UPDATE metric_daily SET login_success = login_success + 100",
            &[],
        )
        .await;
        let today = UtcDate::containing(now).epoch_day().to_string();
        exec(
            &db,
            &format!("DELETE FROM metric_daily WHERE day = {today}"),
            &[],
        )
        .await;
        exec(
            &db,
            &format!(
                "INSERT INTO metric_daily (app_id, day, login_success) VALUES ($1, {}, 5)",
                first.epoch_day()
            ),
            &[&alpha.app_id],
        )
        .await;
        assert_ne!(all_aggregates(&server).await, incremental);
        let summary =
            reports::recompute_aggregates(&server.state.store, first, last, &mut NoProgress)
                .await
                .expect("recompute");
        assert_eq!(
            summary.days,
            u64::try_from(last.epoch_day() - first.epoch_day() + 1).unwrap()
        );
        assert_eq!(summary.rows, incremental.len() as u64);
        assert_eq!(all_aggregates(&server).await, incremental);

        // A backwards range is refused, naming both ends.
        let refused =
            reports::recompute_aggregates(&server.state.store, last, first, &mut NoProgress)
                .await
                .unwrap_err();
        assert!(
            matches!(refused, ReportError::DateRange { .. }),
            "{refused}"
        );
    }
);

server_test!(
    recomputation_while_events_arrive_stays_exact,
    |server: TestServer| async move {
        let alpha = developer_app(&server, "com.example.alpha", "idp.alpha").await;
        let now = server.clock.now_ms();
        // The events fall on both sides of midnight.
        let today = UtcDate::containing(now);
        let yesterday = UtcDate::from_epoch_day(today.epoch_day() - 1);
        let mut senders = Vec::new();
        for sender in 0..3 {
            let device = account_with_device(&server).await;
            let base = server.base.clone();
            let package_id = alpha.package_id.clone();
            senders.push(tokio::spawn(async move {
                let http = reqwest::Client::new();
                for round in 0..15 {
                    let events: Vec<Value> = (0..40)
                        .map(|i| {
                            json!({
                                "eventId": format!("s{sender}-{round}-{i}"),
                                "packageId": package_id,
                                "ssiEvent": "LOGIN_SUCCESS",
                                                "timestamp": now - 1 + (i % 2) * 2,
                            })
                        })
                        .collect();
                    let response = http
                        .post(format!("{base}/v1/device/metrics"))
                        .header("authorization", device.bearer())
                        .json(&json!({ "events": events }))
                        .send()
                        .await
                        .expect("send");
                    assert_eq!(response.status(), 200);
                }
            }));
        }
        let store = server.state.store.clone();
        let recomputing = tokio::spawn(async move {
            for _ in 0..10 {
                for day in [yesterday, today] {
                    reports::recompute_aggregates(&store, day, day, &mut NoProgress)
                        .await
                        .expect("recompute");
                }
            }
        });
        for sender in senders {
            sender.await.expect("sender");
        }
        recomputing.await.expect("recomputation");
        let aggregates = all_aggregates(&server).await;
        assert_eq!(aggregates, folded_from_raw(&server).await);
        let total: i64 = aggregates.iter().map(|a| a.counts.login_success).sum();
        assert_eq!(total, 3 * 15 * 40);
    }
);

server_test!(
    hostile_app_names_are_inert_in_the_csv_and_the_svg,
    |server: TestServer| async move {
        let device = account_with_device(&server).await;
        let first = developer_app(&server, "com.example.h0", "idp.hostile").await;
        let names = [
            "=HYPERLINK(\"http://evil.example\",\"click\")",
            "+1+cmd|' /C calc'!A0",
            "-2",
            "@SUM(A1:A9)",
            "\tTabbed",
            "<script>alert(1)</script> & <b>bold</b>",
            "Comma, \"quote\"\r\nnew line",
            "]]><svg onload=alert(1)>",
            "Ünïcödé 名前 🚀",
            "Control\u{1}char",
        ];
        let developer_id = first.developer_id.clone();
        let mut apps = vec![first];
        for i in 1..names.len() {
            let (idp_id, idp_name) = (apps[0].idp_id.clone(), apps[0].idp_name.clone());
            let package_id = format!("com.example.h{i}");
            apps.push(add_app(&server, &developer_id, &package_id, &idp_id, &idp_name).await);
        }
        let db = db(&server).await;
        for (app, name) in apps.iter().zip(names) {
            exec(
                &db,
                "UPDATE apps SET display_name = $1 WHERE id = $2",
                &[name, &app.app_id],
            )
            .await;
        }
        let now = server.clock.now_ms();
        let events = apps
            .iter()
            .enumerate()
            .map(|(i, app)| event(app, &format!("e{i}"), "LOGIN_SUCCESS", now, None))
            .collect();
        send(&server, &device, events).await;
        let this_month = Month::containing(now);
        let rows = reports::monthly_rows(&server.state.store, &developer_id, this_month)
            .await
            .expect("rows");

        // CSV: a CSV reader gets every name back, formula-like ones behind a
        // quote; one record per row whatever the name holds.
        let csv_text = reports::render_csv(&rows).expect("csv");
        let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
        assert_eq!(
            reader.headers().expect("header").iter().collect::<Vec<_>>(),
            CSV_HEADER
        );
        let records: Vec<csv::StringRecord> =
            reader.records().collect::<Result<_, _>>().expect("records");
        assert_eq!(records.len(), names.len() * this_month.day_count() as usize);
        for (app, name) in apps.iter().zip(names) {
            let written = records
                .iter()
                .find(|r| &r[1] == app.app_id.as_str())
                .expect("the app's rows");
            let formula = matches!(name.chars().next(), Some('=' | '+' | '-' | '@' | '\t'));
            let expected = if formula {
                format!("'{name}")
            } else {
                name.to_owned()
            };
            assert_eq!(&written[2], expected, "{name:?}");
            assert_eq!(written.len(), CSV_HEADER.len());
        }
        for record in &records {
            assert!(
                !record[2].starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{record:?}"
            );
        }

        // SVG: well-formed XML whose text nodes hold the names verbatim (as
        // text), with no element or attribute from a name.
        for series in reports::series_by_app(this_month, &rows) {
            let svg = reports::render_funnel_svg(&series);
            let doc = roxmltree::Document::parse(&svg)
                .unwrap_or_else(|e| panic!("{:?}: {e}\n{svg}", series.app_name));
            let elements: Vec<&str> = doc
                .descendants()
                .filter(|n| n.is_element())
                .map(|n| n.tag_name().name())
                .collect();
            for element in &elements {
                assert!(
                    ["svg", "title", "rect", "text", "line"].contains(element),
                    "{element}"
                );
            }
            for node in doc.descendants().filter(|n| n.is_element()) {
                for attribute in node.attributes() {
                    assert!(!attribute.name().starts_with("on"), "{}", attribute.name());
                }
            }
            let title = doc
                .descendants()
                .find(|n| n.has_tag_name("title"))
                .and_then(|n| n.text())
                .expect("a title");
            let visible: String = series
                .app_name
                .chars()
                .map(|c| match c {
                    '\t' | '\n' | '\r' => ' ',
                    c if c.is_control() => '\u{FFFD}',
                    c => c,
                })
                .collect();
            assert!(title.starts_with(&visible), "{title:?} vs {visible:?}");
            assert!(title.contains("sign-in funnel"), "{title}");
            // The legend gives the month's totals: one sign-in succeeded.
            assert!(
                doc.descendants()
                    .any(|n| n.text() == Some("Sign-in succeeded (1 this month)")),
                "{svg}"
            );
        }
    }
);

server_test!(
    reports_hold_no_personal_data_and_only_the_developers_own_apps,
    |server: TestServer| async move {
        let device = account_with_device(&server).await;
        let mine = developer_app(&server, "com.example.mine", "idp.mine").await;
        let theirs = developer_app(&server, "com.example.theirs", "idp.theirs").await;
        let link_id = link(&server, &device, &mine, "partner-user-42").await;
        link(&server, &device, &theirs, "partner-user-43").await;
        deny(&server, &device, &mine, "deny-1").await;
        let now = server.clock.now_ms();
        send(
            &server,
            &device,
            vec![
                event(&mine, "e1", "LOGIN_SUCCESS", now, None),
                event(&theirs, "e2", "LOGIN_SUCCESS", now, None),
            ],
        )
        .await;
        let this_month = Month::containing(now).to_string();
        let csv = csv_of(&server, &mine.developer_id, &this_month).await;
        let db = db(&server).await;
        let linked_accounts: Vec<String> = sqlx::query("SELECT account_id FROM links")
            .fetch_all(&db)
            .await
            .expect("links")
            .iter()
            .map(|r| r.get("account_id"))
            .collect();
        let mut personal = vec![
            device.id.clone(),
            device.account_id.clone(),
            device.credential.clone(),
            mine.developer_id.clone(),
            link_id,
            "partner-user-42".to_owned(),
            "denied-user".to_owned(),
            "@".to_owned(),
            // The other developer's app.
            theirs.app_id.clone(),
            theirs.package_id.clone(),
        ];
        personal.extend(linked_accounts);
        for secret in &personal {
            assert!(!csv.contains(secret.as_str()), "{secret} in\n{csv}");
        }
        let today = UtcDate::containing(now);
        let row = csv
            .lines()
            .find(|l| l.starts_with(&format!("{today},")))
            .expect("today's row");
        assert_eq!(
            row,
            format!(
                "{today},{},App com.example.mine,1,1,1,0,0,0,0,0,0,0",
                mine.app_id
            )
        );
        // The other developer sees only their own app.
        let other = csv_of(&server, &theirs.developer_id, &this_month).await;
        assert!(!other.contains(&mine.app_id), "{other}");
        assert_eq!(
            other.lines().count(),
            1 + Month::containing(now).day_count() as usize
        );

        // Developers are found by id or e-mail; others are refused alike.
        let store = &server.state.store;
        let email = "Mine.Developer@Example.test";
        exec(
            &db,
            "UPDATE accounts SET email = $1 WHERE id = $2",
            &["mine.developer@example.test", &mine.developer_id],
        )
        .await;
        for name in [mine.developer_id.as_str(), email] {
            assert_eq!(
                reports::find_developer(store, name)
                    .await
                    .expect("developer"),
                mine.developer_id
            );
        }
        for name in [
            device.account_id.as_str(),
            "acc_nobody",
            "nobody@example.test",
            "@",
        ] {
            let refused = reports::find_developer(store, name).await.unwrap_err();
            assert!(
                matches!(refused, ReportError::NoSuchDeveloper(_)),
                "{refused}"
            );
        }
        // A developer without apps gets a header only.
        let lonely = crate::fixtures::account(&server, true).await;
        assert_eq!(
            csv_of(&server, &lonely, &this_month).await,
            CSV_HEADER.join(",") + "\n"
        );
    }
);
