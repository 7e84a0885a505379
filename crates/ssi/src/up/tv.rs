//! The TV page: the two demo devices side by side with their parts named.
//! For the selected device it shows the sample app's UI and, when the app
//! waits for the owner, the device's system screen over it (drawn by the
//! agent, as a device's UI shell would show it); next to them, the app's
//! calls and the app's backend at work, and what to try.
//!
//! The TV page plays the device's UI shell: it holds the pairing of each
//! device's screen page (a fresh one-time pairing link every time the page
//! loads, so the newest TV page is the screen client).

use std::net::SocketAddr;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use ssi_agent::screens::Screens;
use ssi_sample_partner::backend::Backend;
use ssi_sample_partner::wire::EventsView;

const PAGE: &str = include_str!("static/tv.html");
const SCRIPT: &str = include_str!("static/tv.js");
const STYLE: &str = include_str!("static/tv.css");

/// One device as the TV page shows it.
#[derive(Clone)]
pub struct TvDevice {
    pub number: usize,
    pub name: &'static str,
    pub screen_addr: SocketAddr,
    pub screens: Screens,
}

/// The links and credentials the page shows.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TvLinks {
    pub account: String,
    pub console: String,
    pub partner: String,
    pub email: String,
    pub password: String,
    /// `username / password` of each of the sample app's users.
    pub users: Vec<String>,
}

#[derive(Clone)]
struct Tv {
    devices: Vec<TvDevice>,
    links: TvLinks,
    backend: Backend,
    policy: HeaderValue,
}

/// The TV page; each device's app is nested at `/device/<n>/app/`.
pub fn router(
    devices: Vec<(TvDevice, Router)>,
    links: TvLinks,
    backend: Backend,
) -> anyhow::Result<Router> {
    // The page frames its own app views and the devices' screen pages, nothing else.
    let screens: Vec<String> = devices
        .iter()
        .map(|(device, _)| format!("http://{}", device.screen_addr))
        .collect();
    let policy = HeaderValue::from_str(&format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
         img-src 'self'; frame-src 'self' {}; form-action 'none'; frame-ancestors 'none'; \
         base-uri 'none'",
        screens.join(" ")
    ))?;
    let tv = Tv {
        devices: devices.iter().map(|(device, _)| device.clone()).collect(),
        links,
        backend,
        policy,
    };
    let mut router = Router::new()
        .route("/", get(page))
        .route("/tv.js", get(script))
        .route("/tv.css", get(style))
        .route("/tv.json", get(tv_json))
        .route("/backend/events", get(backend_events))
        .with_state(tv);
    for (device, app) in devices {
        router = router.nest_service(&format!("/device/{}/app", device.number), app);
    }
    Ok(router)
}

fn with_headers(tv: &Tv, content_type: &'static str, body: &'static str) -> Response {
    let mut response = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, tv.policy.clone());
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

async fn page(State(tv): State<Tv>) -> Response {
    with_headers(&tv, "text/html; charset=utf-8", PAGE)
}

async fn script(State(tv): State<Tv>) -> Response {
    with_headers(&tv, "text/javascript; charset=utf-8", SCRIPT)
}

async fn style(State(tv): State<Tv>) -> Response {
    with_headers(&tv, "text/css; charset=utf-8", STYLE)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeviceView {
    number: usize,
    name: &'static str,
    /// Relative to the page.
    app_url: String,
    /// A fresh one-time pairing link of the device's screen page.
    screen_url: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TvView {
    devices: Vec<DeviceView>,
    links: TvLinks,
}

async fn tv_json(State(tv): State<Tv>) -> Response {
    let devices = tv
        .devices
        .iter()
        .map(|device| DeviceView {
            number: device.number,
            name: device.name,
            app_url: format!("device/{}/app/", device.number),
            screen_url: format!(
                "http://{}/pair?token={}",
                device.screen_addr,
                device.screens.issue_pairing_token()
            ),
        })
        .collect();
    let mut response = Json(TvView {
        devices,
        links: tv.links.clone(),
    })
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn backend_events(State(tv): State<Tv>) -> Json<EventsView> {
    Json(EventsView {
        events: tv.backend.events(),
    })
}
