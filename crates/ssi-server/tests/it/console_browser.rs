//! The developer console in a real Chromium: a new developer goes from
//! sign-up to an SSI ID, two bound apps and a rotated app key (copying the
//! public JWK with the page's copy button, which the partner then seals
//! to); then a scripted series of events goes through the server's real
//! device API (links created, consent denied, app events in batches with
//! retries and refusals, across day and month boundaries), and the Reports
//! tab shows the charts while the downloaded CSV matches the script exactly:
//! every column, every day.
//!
//! With `SSI_SCREENSHOTS` set, the pages are saved to `docs/console/*.png`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use ssi_proto::{LinkUserAccountRequest, Token};
use ssi_server::reports::{CSV_HEADER, DailyCounts, Month};
use ssi_testkit::browser::Browser;
use ssi_token::{AppPublicKey, LinkTokenKey, SystemRandom};

use crate::accounts::{PASSWORD, signed_up};
use crate::console::jwks;
use crate::device_grant::register_device;
use crate::fixtures::{TestDevice, device_post};
use crate::harness::TestServer;

/// 2026-11-02T09:00:00Z: the developer signs up.
const SIGN_UP_MS: i64 = 1_793_610_000_000;
const HOUR_MS: i64 = 3_600_000;
/// The TV app's icon file.
const ICON_SVG: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 48 48\">\
    <rect width=\"48\" height=\"48\" rx=\"10\" fill=\"#2251c7\"/>\
    <rect x=\"9\" y=\"12\" width=\"30\" height=\"19\" rx=\"2\" fill=\"#ffffff\"/>\
    <rect x=\"18\" y=\"34\" width=\"12\" height=\"3\" fill=\"#ffffff\"/></svg>";
const DAY_MS: i64 = 24 * HOUR_MS;

fn at(day_of_november: i64, hour: i64) -> i64 {
    // 2026-11-01T00:00:00Z
    1_793_491_200_000 + (day_of_november - 1) * DAY_MS + hour * HOUR_MS
}

/// Saves screenshots when `SSI_SCREENSHOTS` is set.
struct Screenshots(Option<PathBuf>);

impl Screenshots {
    fn from_env() -> Self {
        Self(std::env::var_os("SSI_SCREENSHOTS").map(|_| {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/console");
            std::fs::create_dir_all(&dir).expect("docs/console");
            dir
        }))
    }

    async fn take(&self, browser: &Browser, name: &str) {
        if let Some(dir) = &self.0 {
            browser
                .client
                .execute("window.scrollTo(0, 0);", vec![])
                .await
                .expect("scroll to the top");
            browser
                .screenshot(&dir.join(format!("{name}.png")))
                .await
                .expect("screenshot");
        }
    }
}

async fn text_of(browser: &Browser, css: &str) -> String {
    browser.wait_for(css).await.unwrap().text().await.unwrap()
}

/// How many elements match the CSS selector.
async fn count(browser: &Browser, css: &str) -> u64 {
    browser
        .client
        .execute(
            "return document.querySelectorAll(arguments[0]).length;",
            vec![json!(css)],
        )
        .await
        .unwrap()
        .as_u64()
        .unwrap()
}

async fn fill(browser: &Browser, css: &str, value: &str) {
    let field = browser.wait_for(css).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

async fn click(browser: &Browser, css: &str) {
    browser.wait_for(css).await.unwrap().click().await.unwrap();
}

/// Waits until the page's path (and query) is `path`.
async fn wait_for_path(browser: &Browser, path: &str) {
    for _ in 0..100 {
        let url = browser.client.current_url().await.unwrap();
        let here = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        if here == path {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let url = browser.client.current_url().await.unwrap();
    panic!("never reached {path}; at {url}");
}

/// The text the page's copy button put on the clipboard: pasted (Ctrl+V)
/// into a field added for the test (the console has no such field; WebDriver
/// scripts are not bound by the page's CSP).
async fn clipboard(browser: &Browser) -> String {
    browser
        .client
        .execute(
            "var area = document.createElement('textarea'); area.id = 'test-paste'; \
             document.body.appendChild(area); area.focus();",
            vec![],
        )
        .await
        .unwrap();
    let area = browser.wait_for("#test-paste").await.unwrap();
    area.send_keys("\u{E009}v").await.unwrap();
    let text = area.prop("value").await.unwrap().unwrap_or_default();
    browser
        .client
        .execute("document.getElementById('test-paste').remove();", vec![])
        .await
        .unwrap();
    text
}

/// The app id in the current URL `/console/apps/{id}…`.
async fn app_id_in_url(browser: &Browser) -> String {
    let url = browser.client.current_url().await.unwrap();
    url.path()
        .strip_prefix("/console/apps/")
        .expect("an app page")
        .split('/')
        .next()
        .unwrap()
        .to_owned()
}

/// Registers an app through the form (with an icon file when given).
async fn register_app(
    browser: &Browser,
    package_id: &str,
    name: &str,
    icon: Option<&PathBuf>,
) -> String {
    click(browser, "a.button[href=\"/console/apps/new\"]").await;
    fill(browser, "#packageId", package_id).await;
    fill(browser, "#displayName", name).await;
    if let Some(icon) = icon {
        let input = browser.wait_for("#icon").await.unwrap();
        input.send_keys(&icon.display().to_string()).await.unwrap();
    }
    click(
        browser,
        "form[action=\"/console/apps\"] button[type=submit]",
    )
    .await;
    browser.wait_for("dl.facts").await.unwrap();
    assert!(
        text_of(browser, "p.notice")
            .await
            .contains("The app was registered")
    );
    app_id_in_url(browser).await
}

/// What the event script expects per (UTC day, app id).
#[derive(Default)]
struct Expected(BTreeMap<(String, String), DailyCounts>);

impl Expected {
    fn add(&mut self, epoch_ms: i64, app_id: &str, event: &str, reason: Option<&str>) {
        let day = ssi_server::reports::UtcDate::containing(epoch_ms).to_string();
        self.0
            .entry((day, app_id.to_owned()))
            .or_default()
            .add(&DailyCounts::of_event(event, reason));
    }
}

/// The partner backend: issues a link for `partner_user_id`, sealed to
/// `app_key`, and the device stores it as the agent would after "Allow".
#[allow(clippy::too_many_arguments)]
async fn link(
    server: &TestServer,
    device: &TestDevice,
    package_id: &str,
    idp_name: &str,
    app_key: &AppPublicKey,
    partner_key: &LinkTokenKey,
    partner_user_id: &str,
) {
    let idp = json!({"packageId": package_id, "identityProviderName": idp_name});
    let (status, user) = device_post(server, device, "/v1/device/user-and-links", &idp).await;
    assert_eq!(status, 200, "{user}");
    let amazon_user_id = user["amazonUserId"].as_str().expect("amazonUserId");
    let issued = ssi_token::issue_link(
        partner_user_id,
        amazon_user_id,
        BTreeMap::new(),
        partner_key,
        app_key,
        server.state.now_ms() / 1000,
        &mut SystemRandom,
    );
    let request = LinkUserAccountRequest {
        partner_user_id: partner_user_id.to_owned(),
        identity_provider_name: idp_name.to_owned(),
        user_login_name: format!("{partner_user_id}@partner.example"),
        link_token: Token::link(issued.link_token),
        link_signing_key: issued.sealed_signing_key,
    };
    let body = json!({"packageId": package_id, "request": request});
    let (status, response) = device_post(server, device, "/v1/device/links", &body).await;
    assert_eq!(status, 200, "{response}");
    assert_eq!(response["successCode"], "LINK_ESTABLISHED", "{response}");
}

async fn consent_denied(
    server: &TestServer,
    device: &TestDevice,
    package_id: &str,
    idp_name: &str,
    event_id: &str,
) {
    let body = json!({
        "packageId": package_id,
        "identityProviderName": idp_name,
        "partnerUserId": "someone",
        "eventId": event_id,
    });
    let (status, response) = device_post(server, device, "/v1/device/consent-denied", &body).await;
    assert_eq!(
        (status, &response["requestStatus"]),
        (200, &json!("SUCCESSFUL")),
        "{response}"
    );
}

/// One batch from the agent's outbox: `(accepted, duplicates, rejected)`.
async fn batch(server: &TestServer, device: &TestDevice, events: Value) -> (u64, u64, usize) {
    let (status, response) = device_post(
        server,
        device,
        "/v1/device/metrics",
        &json!({"events": events}),
    )
    .await;
    assert_eq!(status, 200, "{response}");
    (
        response["accepted"].as_u64().unwrap(),
        response["duplicates"].as_u64().unwrap(),
        response["rejected"].as_array().unwrap().len(),
    )
}

fn event(
    id: &str,
    package_id: &str,
    ssi_event: &str,
    timestamp: i64,
    reason: Option<&str>,
) -> Value {
    let mut event = json!({
        "eventId": id,
        "packageId": package_id,
        "ssiEvent": ssi_event,
        "timestamp": timestamp,
    });
    if let Some(reason) = reason {
        event["failureReason"] = json!(reason);
    }
    event
}

/// The CSV of `month` as the signed-in browser downloads it (its session
/// cookie on a plain HTTP client).
async fn download_csv(server: &TestServer, browser: &Browser, month: &str) -> Vec<Vec<String>> {
    let session = browser
        .client
        .get_named_cookie("ssi_session")
        .await
        .expect("the browser's session cookie");
    let response = server
        .http
        .get(server.url(&format!("/console/reports.csv?month={month}")))
        .header("cookie", format!("ssi_session={}", session.value()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    assert_eq!(
        response.headers()["content-disposition"],
        format!("attachment; filename=\"ssi-report-{month}.csv\"").as_str()
    );
    let text = response.text().await.unwrap();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes());
    reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

/// The CSV the script must produce for `month`: every day, every app (in
/// name order), the expected counts or zeros.
fn expected_csv(month: Month, apps: &[(&str, &str)], expected: &Expected) -> Vec<Vec<String>> {
    let mut rows = vec![CSV_HEADER.iter().map(|h| (*h).to_owned()).collect()];
    let mut apps = apps.to_vec();
    apps.sort_by_key(|(_, name)| *name);
    for day in month.days() {
        for (app_id, name) in &apps {
            let counts = expected
                .0
                .get(&(day.to_string(), (*app_id).to_owned()))
                .copied()
                .unwrap_or_default();
            let mut row = vec![day.to_string(), (*app_id).to_owned(), (*name).to_owned()];
            row.extend(counts.values().iter().map(i64::to_string));
            rows.push(row);
        }
    }
    rows
}

server_test!(
    a_new_developer_from_sign_up_to_reports_in_chromium,
    |server: TestServer| async move {
        server.clock.set_ms(SIGN_UP_MS);
        let shots = Screenshots::from_env();
        let files = tempfile::tempdir().unwrap();
        let icon = files.path().join("icon.svg");
        std::fs::write(&icon, ICON_SVG).unwrap();
        let browser = Browser::start().await.expect("Chromium");
        browser.client.set_window_size(1280, 900).await.unwrap();

        // 1. Sign up on the account pages, follow the link to the console,
        // become a developer.
        browser
            .client
            .goto(&server.url("/account/signup"))
            .await
            .unwrap();
        fill(&browser, "#email", "newdev@example.com").await;
        fill(&browser, "#password", PASSWORD).await;
        click(
            &browser,
            "form[action=\"/account/signup\"] button[type=submit]",
        )
        .await;
        wait_for_path(&browser, "/account").await;
        click(&browser, "header nav a[href=\"/console\"]").await;
        wait_for_path(&browser, "/console").await;
        click(&browser, "#enroll").await;
        wait_for_path(&browser, "/console?notice=enrolled").await;
        assert_eq!(count(&browser, "li.step.done").await, 0);

        // 2. Two apps, the first with an icon file.
        click(&browser, "nav.tabs a[href=\"/console/apps\"]").await;
        let tv = register_app(&browser, "com.example.tv", "Example TV", Some(&icon)).await;
        let served = server
            .http
            .get(server.url("/v1/apps/com.example.tv/icon"))
            .send()
            .await
            .unwrap();
        assert_eq!(served.headers()["content-type"], "image/svg+xml");
        assert_eq!(served.text().await.unwrap(), ICON_SVG, "the uploaded file");
        shots.take(&browser, "app").await;
        click(&browser, "nav.tabs a[href=\"/console/apps\"]").await;
        let kids = register_app(&browser, "com.example.kids", "Example Kids", None).await;
        click(&browser, "nav.tabs a[href=\"/console/apps\"]").await;
        browser.wait_for("table").await.unwrap();
        shots.take(&browser, "apps").await;

        // 3. Enable Simple Sign-In: both (unbound) apps are pre-selected;
        // the page shows the new SSI ID, and each app uses it.
        click(&browser, "nav.tabs a[href=\"/console/sign-in\"]").await;
        for app in [&tv, &kids] {
            let checkbox = browser
                .wait_for(&format!("input[name=app][value=\"{app}\"]"))
                .await
                .unwrap();
            assert_eq!(
                checkbox.prop("checked").await.unwrap().as_deref(),
                Some("true")
            );
        }
        click(&browser, "#enable").await;
        wait_for_path(&browser, "/console/sign-in?notice=enabled").await;
        let idp_name = text_of(&browser, "code.ssi-id").await;
        assert!(
            idp_name.starts_with("ssi.") && idp_name.len() == 20,
            "{idp_name}"
        );
        click(&browser, "button[data-copy=\"idp-1\"]").await;
        assert_eq!(clipboard(&browser).await, idp_name);
        shots.take(&browser, "sign-in").await;
        browser
            .client
            .goto(&server.url(&format!("/console/apps/{tv}")))
            .await
            .unwrap();
        assert_eq!(text_of(&browser, "#app-idp").await, idp_name);

        // 4. Keys: add a new key, copy its public JWK, retire the first.
        click(&browser, "a.button[href$=\"/keys\"]").await;
        assert_eq!(count(&browser, "section.key").await, 1);
        click(&browser, "#add-key").await;
        wait_for_path(
            &browser,
            &format!("/console/apps/{tv}/keys?notice=key-added"),
        )
        .await;
        let shown = text_of(&browser, "#jwk-2").await;
        click(&browser, "button[data-copy=\"jwk-2\"]").await;
        let copied_button = browser
            .wait_for("button[data-copy=\"jwk-2\"].copied")
            .await
            .unwrap();
        assert_eq!(copied_button.text().await.unwrap(), "Copied");
        let copied = clipboard(&browser).await;
        assert_eq!(copied, shown);
        let tv_key =
            AppPublicKey::from_jwk_json(&copied).expect("the copied text is the app's JWK");
        click(&browser, "section.key.current form button.danger").await;
        wait_for_path(
            &browser,
            &format!("/console/apps/{tv}/keys?notice=key-retired"),
        )
        .await;
        let published = jwks(&server, "com.example.tv").await;
        assert_eq!(published["keys"].as_array().unwrap().len(), 1);
        assert_eq!(
            published["keys"][0]["kid"],
            json!(tv_key.kid()),
            "the copied key is the published one"
        );
        shots.take(&browser, "keys").await;
        let kids_jwks = jwks(&server, "com.example.kids").await;
        let kids_key =
            AppPublicKey::from_jwk_json(&kids_jwks["keys"][0].to_string()).expect("kids app key");
        click(&browser, "nav.tabs a[href=\"/console\"]").await;
        browser.wait_for("ol.steps").await.unwrap();
        assert_eq!(count(&browser, "li.step.done").await, 4);
        shots.take(&browser, "overview").await;

        // 5. The event script, through the device API of a viewer's device.
        let mut viewer = signed_up(&server, "viewer@example.com").await;
        let credential = register_device(&server, &mut viewer, "Living room TV").await;
        let device = TestDevice {
            id: String::new(),
            account_id: String::new(),
            credential,
        };
        let partner_key = LinkTokenKey::generate(&mut SystemRandom);
        let mut expected = Expected::default();
        let (tv_pkg, kids_pkg) = ("com.example.tv", "com.example.kids");

        // Nov 2, 10:00: a link for each... the TV app first; "Not now" once;
        // app events at the first millisecond of the day and from the last
        // millisecond of October.
        server.clock.set_ms(at(2, 10));
        link(
            &server,
            &device,
            tv_pkg,
            &idp_name,
            &tv_key,
            &partner_key,
            "p1",
        )
        .await;
        expected.add(at(2, 10), &tv, "ENABLE_SSI", None);
        consent_denied(&server, &device, tv_pkg, &idp_name, "deny-1").await;
        expected.add(at(2, 10), &tv, "CONSENT_DENIED", None);
        let first = json!([
            event("e1", tv_pkg, "LOGIN_SUCCESS", at(2, 10), None),
            event(
                "e2",
                tv_pkg,
                "LOGIN_FAILURE",
                at(2, 0),
                Some("UNAUTHORIZED")
            ),
            event("e3", kids_pkg, "MANUAL_SIGNIN_SELECTED", at(1, 0) - 1, None),
            event("e4", tv_pkg, "LOGIN_SUCCESS", at(1, 0), None),
        ]);
        assert_eq!(batch(&server, &device, first).await, (4, 0, 0));
        expected.add(at(2, 10), &tv, "LOGIN_SUCCESS", None);
        expected.add(at(2, 0), &tv, "LOGIN_FAILURE", Some("UNAUTHORIZED"));
        expected.add(at(1, 0) - 1, &kids, "MANUAL_SIGNIN_SELECTED", None);
        expected.add(at(1, 0), &tv, "LOGIN_SUCCESS", None);

        // Nov 9, 12:00: a link through the kids app (same SSI ID, another
        // partner user); "Not now" retried (counted once) and once more;
        // every failure reason; a retried batch; refused events.
        server.clock.set_ms(at(9, 12));
        link(
            &server,
            &device,
            kids_pkg,
            &idp_name,
            &kids_key,
            &partner_key,
            "p2",
        )
        .await;
        expected.add(at(9, 12), &kids, "ENABLE_SSI", None);
        for event_id in ["deny-2", "deny-2", "deny-3"] {
            consent_denied(&server, &device, kids_pkg, &idp_name, event_id).await;
        }
        expected.add(at(9, 12), &kids, "CONSENT_DENIED", None);
        expected.add(at(9, 12), &kids, "CONSENT_DENIED", None);
        let reasons = [
            "UNAUTHORIZED",
            "BAD_REQUEST",
            "NOT_FOUND",
            "FORBIDDEN",
            "INTERNAL_SERVER_ERROR",
        ];
        let mut second: Vec<Value> = reasons
            .iter()
            .enumerate()
            .map(|(i, reason)| {
                event(
                    &format!("f{i}"),
                    kids_pkg,
                    "LOGIN_FAILURE",
                    at(9, 11),
                    Some(reason),
                )
            })
            .collect();
        for i in 0..3 {
            second.push(event(
                &format!("s{i}"),
                kids_pkg,
                "LOGIN_SUCCESS",
                at(9, 12),
                None,
            ));
        }
        second.push(event("late", tv_pkg, "LOGIN_SUCCESS", at(9, 0) - 1, None));
        let second = Value::Array(second);
        assert_eq!(batch(&server, &device, second.clone()).await, (9, 0, 0));
        assert_eq!(
            batch(&server, &device, second).await,
            (0, 9, 0),
            "a retried batch counts once"
        );
        for (i, reason) in reasons.iter().enumerate() {
            let _ = i;
            expected.add(at(9, 11), &kids, "LOGIN_FAILURE", Some(reason));
        }
        for _ in 0..3 {
            expected.add(at(9, 12), &kids, "LOGIN_SUCCESS", None);
        }
        expected.add(at(9, 0) - 1, &tv, "LOGIN_SUCCESS", None);
        let refused = json!([
            event("r1", tv_pkg, "LOGIN_FAILURE", at(9, 12), None),
            event("r2", tv_pkg, "LOGIN_SUCCESS", at(9, 12), Some("FORBIDDEN")),
            event("r3", tv_pkg, "LOGIN_SUCCESS", at(1, 0), None),
            event("r4", "com.unknown.app", "LOGIN_SUCCESS", at(9, 12), None),
        ]);
        assert_eq!(batch(&server, &device, refused).await, (0, 0, 4));

        // Nov 30, 23:59: the last minute of the month and the first
        // millisecond of December (allowed: within 5 minutes ahead).
        server.clock.set_ms(at(31, 0) - 60_000);
        consent_denied(&server, &device, tv_pkg, &idp_name, "deny-4").await;
        expected.add(at(31, 0) - 60_000, &tv, "CONSENT_DENIED", None);
        let last = json!([
            event("z1", tv_pkg, "LOGIN_SUCCESS", at(31, 0) - 1, None),
            event("z2", tv_pkg, "LOGIN_FAILURE", at(31, 0), Some("NOT_FOUND")),
            event("z3", kids_pkg, "MANUAL_SIGNIN_SELECTED", at(30, 12), None),
        ]);
        assert_eq!(batch(&server, &device, last).await, (3, 0, 0));
        expected.add(at(31, 0) - 1, &tv, "LOGIN_SUCCESS", None);
        expected.add(at(31, 0), &tv, "LOGIN_FAILURE", Some("NOT_FOUND"));
        expected.add(at(30, 12), &kids, "MANUAL_SIGNIN_SELECTED", None);

        // 6. Dec 1, 00:30: the session of Nov 2 has expired; the Reports tab
        // asks to sign in and comes back; November is one click back.
        server.clock.set_ms(at(31, 0) + 30 * 60_000);
        browser
            .client
            .goto(&server.url("/console/reports"))
            .await
            .unwrap();
        wait_for_path(&browser, "/account/signin?next=%2Fconsole%2Freports").await;
        fill(&browser, "#email", "newdev@example.com").await;
        fill(&browser, "#password", PASSWORD).await;
        click(
            &browser,
            "form[action=\"/account/signin\"] button[type=submit]",
        )
        .await;
        wait_for_path(&browser, "/console/reports").await;
        let month = browser.wait_for("#month").await.unwrap();
        assert_eq!(
            month.prop("value").await.unwrap().as_deref(),
            Some("2026-12")
        );
        click(&browser, "a[rel=prev]").await;
        wait_for_path(&browser, "/console/reports?month=2026-11").await;
        for app in [&tv, &kids] {
            let chart = browser
                .wait_for(&format!("figure#chart-{app} svg"))
                .await
                .unwrap();
            let label = chart.attr("aria-label").await.unwrap().unwrap();
            assert!(
                label.contains(app.as_str()) && label.contains("2026-11"),
                "{label}"
            );
        }
        // The totals table: one row per app, in name order.
        let totals: Vec<Vec<String>> = serde_json::from_value(
            browser
                .client
                .execute(
                    "return Array.from(document.querySelectorAll('table.totals tbody tr'), \
                     row => Array.from(row.querySelectorAll('th, td'), cell => cell.textContent.trim()));",
                    vec![],
                )
                .await
                .unwrap(),
        )
        .unwrap();
        let november = Month::new(2026, 11).unwrap();
        let month_total = |app: &str| {
            let mut sum = DailyCounts::default();
            for ((day, app_id), counts) in &expected.0 {
                if app_id == app && day.starts_with("2026-11") {
                    sum.add(counts);
                }
            }
            sum.values().iter().map(i64::to_string).collect::<Vec<_>>()
        };
        let mut kids_row = vec!["Example Kids".to_owned()];
        kids_row.extend(month_total(&kids));
        let mut tv_row = vec!["Example TV".to_owned()];
        tv_row.extend(month_total(&tv));
        assert_eq!(totals, vec![kids_row, tv_row]);
        browser.client.set_window_size(1280, 2200).await.unwrap();
        shots.take(&browser, "reports").await;
        browser.client.set_window_size(1280, 900).await.unwrap();

        // 7. The CSV behind the download link matches the script exactly,
        // every column of every day; so do October's and December's edges.
        let link = browser.wait_for("#csv").await.unwrap();
        assert_eq!(
            link.attr("href").await.unwrap().as_deref(),
            Some("/console/reports.csv?month=2026-11")
        );
        let apps = [(tv.as_str(), "Example TV"), (kids.as_str(), "Example Kids")];
        let csv = download_csv(&server, &browser, "2026-11").await;
        assert_eq!(csv.len(), 1 + 30 * 2);
        assert_eq!(csv, expected_csv(november, &apps, &expected));
        for (year, month) in [(2026, 10), (2026, 12)] {
            let month = Month::new(year, month).unwrap();
            let csv = download_csv(&server, &browser, &month.to_string()).await;
            assert_eq!(csv, expected_csv(month, &apps, &expected), "{month}");
        }
        let october_event = &expected.0[&("2026-10-31".to_owned(), kids.clone())];
        assert_eq!(october_event.manual_signin_selected, 1);
        let december_event = &expected.0[&("2026-12-01".to_owned(), tv.clone())];
        assert_eq!(december_event.login_failure_not_found, 1);

        browser.close().await.unwrap();
    }
);
