//! The screen page and its endpoints. Every request must name the loopback origin in
//! `Host` (DNS rebinding); every POST must come from that origin (`Origin`,
//! `Sec-Fetch-Site`); everything but pairing and the static files needs the paired
//! session's cookie; answers and settings changes also need its CSRF token.

use std::time::Duration;

use askama::Template;
use axum::Router;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use super::pairing::{Session, secrets_equal};
use super::queue::{AnswerError, Choice, Shown};
use super::{Prompt, Screens};

/// The session cookie of the paired screen client.
const SESSION_COOKIE: &str = "ssi_screen";

/// No inline script or style, nothing from elsewhere, no framing, forms only to us.
const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// An SVG icon is opened only as an image, but if opened directly it runs nothing.
const ICON_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

/// Icon media types served as they are; anything else is not shown.
const ICON_TYPES: [&str; 4] = ["image/png", "image/svg+xml", "image/jpeg", "image/webp"];

/// How long a long poll of `/changes` waits before answering "no change".
const LONG_POLL: Duration = Duration::from_secs(25);

/// How long the settings view waits for the server before saying it cannot be reached.
const SWITCH_WAIT: Duration = Duration::from_secs(10);

/// Forms are a few hundred bytes.
const MAX_FORM_BYTES: usize = 4096;

const STYLESHEET: &str = include_str!("static/screen.css");
const SCRIPT: &str = include_str!("static/screen.js");

pub(super) fn router(screens: Screens) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/view", get(view))
        .route("/changes", get(changes))
        .route("/pair", get(pair))
        .route("/answer", axum::routing::post(answer))
        .route("/settings", get(settings).post(set_switch))
        .route("/icon/{nonce}", get(icon))
        .route("/static/screen.css", get(stylesheet))
        .route("/static/screen.js", get(script))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .layer(middleware::from_fn(same_origin_only))
        .layer(middleware::map_response_with_state(
            screens.clone(),
            allow_shell_framing,
        ))
        .with_state(screens)
}

/// With a device UI shell ([`Screens::with_shell_origin`]), that origin may frame
/// the page; nobody else may (`frame-ancestors` names only it).
async fn allow_shell_framing(State(screens): State<Screens>, mut response: Response) -> Response {
    let Some(origin) = screens.inner.shell_origin.as_deref() else {
        return response;
    };
    let headers = response.headers_mut();
    let policy = headers
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|value| value.to_str().ok())
        .map(|policy| {
            policy.replace(
                "frame-ancestors 'none'",
                &format!("frame-ancestors {origin}"),
            )
        });
    if let Some(value) = policy.and_then(|policy| HeaderValue::from_str(&policy).ok()) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    // X-Frame-Options cannot name an origin; frame-ancestors replaces it.
    headers.remove(header::X_FRAME_OPTIONS);
    response
}

/// The session cookie's name: `ssi_screen`, or with a shell that shows several
/// devices, `ssi_screen_<port>` (cookies are per host, not per port).
fn session_cookie_name(screens: &Screens, headers: &HeaderMap) -> String {
    let port = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .and_then(|host| host.rsplit_once(':'))
        .map(|(_, port)| port)
        .filter(|port| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()));
    match (&screens.inner.shell_origin, port) {
        (Some(_), Some(port)) => format!("{SESSION_COOKIE}_{port}"),
        _ => SESSION_COOKIE.to_owned(),
    }
}

/// 1. `Host` names the loopback (a rebound DNS name carries its own name);
/// 2. a state-changing request comes from the page itself;
/// 3. the answer carries the headers that keep the page to itself.
async fn same_origin_only(request: Request, next: Next) -> Response {
    let Some(host) = loopback_host(request.headers()) else {
        return notice_response(
            StatusCode::MISDIRECTED_REQUEST,
            "Wrong address",
            "The screens answer only at the device's loopback address.",
            false,
        );
    };
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let origin_ok = request
            .headers()
            .get(header::ORIGIN)
            .and_then(|origin| origin.to_str().ok())
            .is_some_and(|origin| origin == format!("http://{host}"));
        let fetch_site_ok = request
            .headers()
            .get("sec-fetch-site")
            .is_none_or(|site| site == "same-origin");
        if !origin_ok || !fetch_site_ok {
            return notice_response(
                StatusCode::FORBIDDEN,
                "Refused",
                "Answers are accepted only from the screen page itself.",
                false,
            );
        }
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(PAGE_CSP));
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        // Not `no-referrer`: under it Chromium sends `Origin: null` on the page's own
        // form posts, and the Origin check above would refuse them.
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
        (
            header::HeaderName::from_static("cross-origin-resource-policy"),
            "same-origin",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// The `Host` header if its name is a loopback name (any port).
fn loopback_host(headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let name = match host.rsplit_once(':') {
        Some((name, port)) if !name.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    matches!(name, "127.0.0.1" | "localhost" | "[::1]").then(|| host.to_owned())
}

fn session(screens: &Screens, headers: &HeaderMap) -> Option<Session> {
    let cookie_name = session_cookie_name(screens, headers);
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == cookie_name)
        .map(|(_, value)| value.to_owned())?;
    screens.inner.pairing().session(&cookie)
}

fn not_paired() -> Response {
    notice_response(
        StatusCode::FORBIDDEN,
        "This screen is not paired",
        "Open the pairing link that the agent wrote to its data directory (screen-pairing-link).",
        false,
    )
}

// --- views ---

#[derive(Template)]
#[template(path = "page.html")]
struct PageTemplate<'a> {
    page: &'a str,
    version: u64,
    view: String,
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentTemplate<'a> {
    csrf: &'a str,
    nonce: &'a str,
    app_name: &'a str,
    has_icon: bool,
    initial: String,
    user_login_name: &'a str,
}

#[derive(Template)]
#[template(path = "selection.html")]
struct SelectionTemplate<'a> {
    csrf: &'a str,
    nonce: &'a str,
    app_name: &'a str,
    has_icon: bool,
    initial: String,
    login_names: Vec<&'a str>,
}

#[derive(Template)]
#[template(path = "idle.html")]
struct IdleTemplate;

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsTemplate<'a> {
    csrf: &'a str,
    enabled: Option<bool>,
    problem: Option<String>,
}

#[derive(Template)]
#[template(path = "notice.html")]
struct NoticeTemplate<'a> {
    title: &'a str,
    text: &'a str,
    paired: bool,
}

/// A template failed to render (logged where it happened); answers 500.
struct RenderFailed;

impl IntoResponse for RenderFailed {
    fn into_response(self) -> Response {
        StatusCode::INTERNAL_SERVER_ERROR.into_response()
    }
}

fn render(template: &impl Template) -> Result<String, RenderFailed> {
    template.render().map_err(|error| {
        tracing::error!(%error, "rendering a screen");
        RenderFailed
    })
}

fn page_response(status: StatusCode, page: &str, version: u64, view: String) -> Response {
    match render(&PageTemplate {
        page,
        version,
        view,
    }) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(failed) => failed.into_response(),
    }
}

fn notice_response(status: StatusCode, title: &str, text: &str, paired: bool) -> Response {
    match render(&NoticeTemplate {
        title,
        text,
        paired,
    }) {
        Ok(view) => page_response(status, "notice", 0, view),
        Err(failed) => failed.into_response(),
    }
}

/// An HTML body with its charset.
struct Html(String);

impl IntoResponse for Html {
    fn into_response(self) -> Response {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            )],
            self.0,
        )
            .into_response()
    }
}

/// The version of the shown prompt and the view of it (read in that order, so a change
/// in between makes the page fetch once more rather than miss one).
fn current_view(screens: &Screens, session: &Session) -> Result<(u64, String), RenderFailed> {
    let version = *screens.inner.shown_version.borrow();
    let view = match screens.shown() {
        None => render(&IdleTemplate)?,
        Some(shown) => prompt_view(&shown, &session.csrf)?,
    };
    Ok((version, view))
}

fn prompt_view(shown: &Shown, csrf: &str) -> Result<String, RenderFailed> {
    let app_name = shown.app.name.as_str();
    let initial = app_name
        .chars()
        .next()
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_default();
    let has_icon = icon_of(shown).is_some();
    match &shown.prompt {
        Prompt::Consent { user_login_name } => render(&ConsentTemplate {
            csrf,
            nonce: &shown.nonce,
            app_name,
            has_icon,
            initial,
            user_login_name,
        }),
        Prompt::LoginSelection { entries } => render(&SelectionTemplate {
            csrf,
            nonce: &shown.nonce,
            app_name,
            has_icon,
            initial,
            login_names: entries.iter().map(|e| e.login_name.as_str()).collect(),
        }),
    }
}

fn icon_of(shown: &Shown) -> Option<(&'static str, &[u8])> {
    let (media_type, bytes) = shown.app.icon.as_ref()?;
    let media_type = ICON_TYPES
        .iter()
        .copied()
        .find(|known| *known == media_type.as_str())?;
    Some((media_type, bytes))
}

async fn home(State(screens): State<Screens>, headers: HeaderMap) -> Response {
    let Some(session) = session(&screens, &headers) else {
        return not_paired();
    };
    match current_view(&screens, &session) {
        Ok((version, view)) => page_response(StatusCode::OK, "home", version, view),
        Err(failed) => failed.into_response(),
    }
}

async fn view(State(screens): State<Screens>, headers: HeaderMap) -> Response {
    let Some(session) = session(&screens, &headers) else {
        return not_paired();
    };
    match current_view(&screens, &session) {
        Ok((version, view)) => {
            let mut response = Html(view).into_response();
            response
                .headers_mut()
                .insert("x-screen-version", HeaderValue::from(version));
            response
        }
        Err(failed) => failed.into_response(),
    }
}

#[derive(Deserialize)]
struct ChangesQuery {
    since: u64,
}

/// Long poll: answers when the shown prompt differs from version `since`, or after
/// [`LONG_POLL`] with the same version.
async fn changes(
    State(screens): State<Screens>,
    headers: HeaderMap,
    query: Result<Query<ChangesQuery>, QueryRejection>,
) -> Response {
    if session(&screens, &headers).is_none() {
        return not_paired();
    }
    let Ok(Query(ChangesQuery { since })) = query else {
        return (
            StatusCode::BAD_REQUEST,
            "`since`: a version number is required",
        )
            .into_response();
    };
    let mut versions = screens.inner.shown_version.subscribe();
    if *versions.borrow_and_update() == since {
        let _ = tokio::time::timeout(LONG_POLL, versions.changed()).await;
    }
    let version = *versions.borrow();
    let prompt = screens.shown().is_some();
    axum::Json(serde_json::json!({ "version": version, "prompt": prompt })).into_response()
}

#[derive(Deserialize)]
struct PairQuery {
    token: String,
}

async fn pair(
    State(screens): State<Screens>,
    headers: HeaderMap,
    query: Result<Query<PairQuery>, QueryRejection>,
) -> Response {
    let redeemed = query
        .ok()
        .and_then(|Query(PairQuery { token })| screens.inner.pairing().redeem(&token).ok());
    let Some(session) = redeemed else {
        tracing::warn!("screen pairing refused: unknown or used token");
        return notice_response(
            StatusCode::FORBIDDEN,
            "Pairing refused",
            "This pairing link is not valid: it was already used, or a newer one was issued.",
            false,
        );
    };
    tracing::info!("screen client paired");
    let cookie = format!(
        "{}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age=315360000",
        session_cookie_name(&screens, &headers),
        session.cookie
    );
    let mut response = Redirect::to("/").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[derive(Deserialize)]
struct AnswerForm {
    csrf: String,
    prompt: String,
    choice: String,
}

fn parse_choice(choice: &str) -> Option<Choice> {
    match choice {
        "allow" => Some(Choice::Allow),
        "not-now" => Some(Choice::NotNow),
        "manual" => Some(Choice::Manual),
        _ => choice
            .strip_prefix("select-")
            .and_then(|index| index.parse().ok())
            .map(Choice::Select),
    }
}

/// A form with the session's CSRF token.
trait CsrfForm {
    fn csrf(&self) -> &str;
}

impl CsrfForm for AnswerForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl CsrfForm for SwitchForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Why a form from the screen was refused.
enum FormRefused {
    NotPaired,
    Unreadable { needs: &'static str },
    WrongCsrf,
}

impl IntoResponse for FormRefused {
    fn into_response(self) -> Response {
        match self {
            Self::NotPaired => not_paired(),
            Self::Unreadable { needs } => {
                (StatusCode::BAD_REQUEST, format!("the form needs {needs}")).into_response()
            }
            Self::WrongCsrf => csrf_refused(),
        }
    }
}

/// The paired session and its form, if the cookie names the paired session, the
/// form reads (`needs` names its fields) and carries that session's CSRF token.
fn paired_form<T: CsrfForm>(
    screens: &Screens,
    headers: &HeaderMap,
    form: Result<axum::Form<T>, FormRejection>,
    needs: &'static str,
) -> Result<(Session, T), FormRefused> {
    let session = session(screens, headers).ok_or(FormRefused::NotPaired)?;
    let axum::Form(form) = form.map_err(|_| FormRefused::Unreadable { needs })?;
    if !secrets_equal(&session.csrf, form.csrf()) {
        return Err(FormRefused::WrongCsrf);
    }
    Ok((session, form))
}

fn csrf_refused() -> Response {
    notice_response(
        StatusCode::FORBIDDEN,
        "Refused",
        "The form is out of date. Go back and try again.",
        true,
    )
}

async fn answer(
    State(screens): State<Screens>,
    headers: HeaderMap,
    form: Result<axum::Form<AnswerForm>, FormRejection>,
) -> Response {
    // 1. only the paired client, 2. through its own page (CSRF), 3. about the prompt
    // on the screen (nonce), 4. with a choice that prompt offers.
    let form = match paired_form(&screens, &headers, form, "`csrf`, `prompt` and `choice`") {
        Ok((_, form)) => form,
        Err(refused) => return refused.into_response(),
    };
    let Some(choice) = parse_choice(&form.choice) else {
        return (StatusCode::BAD_REQUEST, "`choice`: unknown choice").into_response();
    };
    let answered = screens.inner.queue().answer(&form.prompt, choice);
    match answered {
        Ok(()) => {
            screens.inner.shown_changed();
            Redirect::to("/").into_response()
        }
        Err(AnswerError::StalePrompt) => notice_response(
            StatusCode::CONFLICT,
            "This question is gone",
            "It was answered already, or it timed out.",
            true,
        ),
        Err(AnswerError::ChoiceDoesNotFit) => (
            StatusCode::BAD_REQUEST,
            "`choice`: not offered by this prompt",
        )
            .into_response(),
    }
}

async fn settings(State(screens): State<Screens>, headers: HeaderMap) -> Response {
    let Some(session) = session(&screens, &headers) else {
        return not_paired();
    };
    let (enabled, problem) = match screens.inner.switch() {
        None => (
            None,
            Some("This device has no switch for Simple Sign-In.".to_owned()),
        ),
        Some(switch) => match tokio::time::timeout(SWITCH_WAIT, switch.enabled()).await {
            Ok(Ok(enabled)) => (Some(enabled), None),
            Ok(Err(error)) => (None, Some(format!("Could not read the setting: {error}."))),
            Err(_) => (None, Some("The server did not answer in time.".to_owned())),
        },
    };
    settings_response(&screens, &session, StatusCode::OK, enabled, problem)
}

fn settings_response(
    screens: &Screens,
    session: &Session,
    status: StatusCode,
    enabled: Option<bool>,
    problem: Option<String>,
) -> Response {
    let version = *screens.inner.shown_version.borrow();
    match render(&SettingsTemplate {
        csrf: &session.csrf,
        enabled,
        problem,
    }) {
        Ok(view) => page_response(status, "settings", version, view),
        Err(failed) => failed.into_response(),
    }
}

#[derive(Deserialize)]
struct SwitchForm {
    csrf: String,
    enabled: String,
}

async fn set_switch(
    State(screens): State<Screens>,
    headers: HeaderMap,
    form: Result<axum::Form<SwitchForm>, FormRejection>,
) -> Response {
    let (session, form) = match paired_form(&screens, &headers, form, "`csrf` and `enabled`") {
        Ok(paired) => paired,
        Err(refused) => return refused.into_response(),
    };
    let enabled = match form.enabled.as_str() {
        "on" => true,
        "off" => false,
        _ => {
            return (StatusCode::BAD_REQUEST, "`enabled`: `on` or `off`").into_response();
        }
    };
    let Some(switch) = screens.inner.switch() else {
        return settings_response(
            &screens,
            &session,
            StatusCode::CONFLICT,
            None,
            Some("This device has no switch for Simple Sign-In.".to_owned()),
        );
    };
    match tokio::time::timeout(SWITCH_WAIT, switch.set_enabled(enabled)).await {
        Ok(Ok(())) => {
            tracing::info!(enabled, "device switch set from the screen");
            Redirect::to("/settings").into_response()
        }
        Ok(Err(error)) => settings_response(
            &screens,
            &session,
            StatusCode::BAD_GATEWAY,
            Some(!enabled),
            Some(format!("Could not change the setting: {error}.")),
        ),
        Err(_) => settings_response(
            &screens,
            &session,
            StatusCode::GATEWAY_TIMEOUT,
            Some(!enabled),
            Some("The server did not answer in time.".to_owned()),
        ),
    }
}

async fn icon(
    State(screens): State<Screens>,
    headers: HeaderMap,
    Path(nonce): Path<String>,
) -> Response {
    if session(&screens, &headers).is_none() {
        return not_paired();
    }
    let Some(shown) = screens
        .shown()
        .filter(|shown| secrets_equal(&shown.nonce, &nonce))
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some((media_type, bytes)) = icon_of(&shown) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(media_type)),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(ICON_CSP),
            ),
        ],
        bytes.to_vec(),
    )
        .into_response()
}

async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        STYLESHEET,
    )
}

async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
}
