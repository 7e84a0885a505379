//! The account pages (DESIGN.md sections 3 and 6): sign-up, sign-in,
//! sign-out, overview, devices, linked accounts, settings, history.
//!
//! Server-rendered with askama (auto-escaped), one stylesheet, no script.
//! Every form carries a CSRF token: the session's token once signed in
//! ([`SignedIn::check_csrf`]), a double-submit cookie before that (sign-up,
//! sign-in). Every change lands in the audit log with the request id.

use std::net::{IpAddr, SocketAddr};

use askama::Template;
use axum::Router;
use axum::extract::{
    ConnectInfo, Form, FromRequest, FromRequestParts, Path, Query, Request, State,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::audit::{self, AuditEvent};
use crate::domain::accounts::{
    self as rules, AccountError, RateLimit, SIGN_IN_PER_ADDRESS, SIGN_IN_PER_EMAIL,
    SIGN_UP_PER_ADDRESS, format_utc,
};
use crate::encoding::{secret_hash, secrets_equal};
use crate::http::ApiError;
use crate::http::auth::{
    SignedIn, SignedInPage, clear_session_cookie, cookie_value, request_id, session_cookie,
    session_cookie_name,
};
use crate::random::{new_id, new_secret};
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::accounts::AccountRow;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/static/style.css", get(stylesheet))
        .route("/account", get(overview))
        .route("/account/signup", get(signup_page).post(signup))
        .route("/account/signin", get(signin_page).post(signin))
        .route("/account/signout", post(signout))
        .route("/account/devices", get(devices_page))
        .route("/account/devices/{id}/delete", post(deregister_device))
        .route("/account/devices/{id}/ssi", post(device_switch))
        .route("/account/links", get(links_page))
        .route("/account/links/{id}/delete", post(remove_link))
        .route("/account/settings", get(settings_page))
        .route("/account/settings/account", post(account_switch))
        .route("/account/settings/apps/{id}", post(app_switch))
        .route("/account/history", get(history_page))
}

/// The account pages in the OpenAPI document (tag `pages`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    stylesheet,
    overview,
    signup_page,
    signup,
    signin_page,
    signin,
    signout,
    devices_page,
    deregister_device,
    device_switch,
    links_page,
    remove_link,
    settings_page,
    account_switch,
    app_switch,
    history_page,
))]
pub(crate) struct ApiDoc;

const STYLESHEET: &str = include_str!("../../static/style.css");

/// The pages' one stylesheet (no inline style: the CSP forbids it).
#[utoipa::path(
    get,
    path = "/static/style.css",
    tag = "pages",
    responses(
        (status = 200, description = "CSS (`Cache-Control: public, max-age=3600`)", body = String, content_type = "text/css"),
    ),
)]
async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

// ---------------------------------------------------------------------------
// Shared page plumbing (also used by `device_grant.rs` for `/device`).

/// The layout's navigation: who is signed in, the session's CSRF token for
/// the forms in the page, the current section, an optional notice.
#[derive(Debug, Clone, Default)]
pub(crate) struct Nav {
    pub email: Option<String>,
    pub csrf: String,
    pub current: &'static str,
    pub notice: Option<&'static str>,
}

impl Nav {
    pub(crate) fn signed_in(me: &SignedIn, current: &'static str) -> Self {
        Self {
            email: Some(me.account.email.clone()),
            csrf: me.csrf_token.clone(),
            current,
            notice: None,
        }
    }

    fn anonymous(current: &'static str) -> Self {
        Self {
            current,
            ..Self::default()
        }
    }
}

/// Renders a page (never cached: pages carry CSRF tokens and personal data).
pub(crate) fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (
            status,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            html,
        )
            .into_response(),
        Err(e) => ApiError::internal(format!("template: {e}")).into_response(),
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    nav: Nav,
    title: &'a str,
    message: &'a str,
    back: &'a str,
}

/// Why a page request ends without its page: a redirect (to sign in, or
/// after a change) or an error page. Internal details go to the log only.
#[derive(Debug)]
pub(crate) enum PageError {
    SignIn {
        next: Option<String>,
    },
    Status {
        status: StatusCode,
        title: &'static str,
        message: String,
        internal: Option<String>,
    },
}

impl PageError {
    pub(crate) fn new(status: StatusCode, title: &'static str, message: impl Into<String>) -> Self {
        Self::Status {
            status,
            title,
            message: message.into(),
            internal: None,
        }
    }

    pub(crate) fn csrf() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Form expired",
            "This form is missing its security token or it no longer matches your session. \
             Reload the page and try again.",
        )
    }

    pub(crate) fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Not found",
            format!("No such {what} in your account."),
        )
    }

    pub(crate) fn rate_limited(what: &str) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts",
            format!("Too many {what} from here in a short time. Wait 15 minutes, then try again."),
        )
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        let status = if e.is_retryable() {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        Self::Status {
            status,
            title: "Something went wrong",
            message: "The service could not complete this request. Try again in a moment."
                .to_owned(),
            internal: Some(e.to_string()),
        }
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        let title = match e.status {
            StatusCode::FORBIDDEN => "Forbidden",
            StatusCode::NOT_FOUND => "Not found",
            s if s.is_server_error() => "Something went wrong",
            _ => "Request refused",
        };
        Self::Status {
            status: e.status,
            title,
            message: e.message,
            internal: e.internal,
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            Self::SignIn { next } => {
                let target = match next.as_deref().and_then(rules::safe_local_path) {
                    Some(next) => format!("/account/signin?next={}", percent_encode(next)),
                    None => "/account/signin".to_owned(),
                };
                Redirect::to(&target).into_response()
            }
            Self::Status {
                status,
                title,
                message,
                internal,
            } => {
                if let Some(internal) = internal {
                    if status.is_server_error() {
                        tracing::error!(internal = %internal, "page failed");
                    } else {
                        tracing::info!(internal = %internal, "page refused");
                    }
                }
                let page = ErrorPage {
                    nav: Nav::anonymous(""),
                    title,
                    message: &message,
                    back: "/account",
                };
                render(status, &page)
            }
        }
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A signed-in page's session, or a redirect to the sign-in page that comes
/// back to `here`.
pub(crate) fn require_session(page: SignedInPage, here: &str) -> Result<SignedIn, PageError> {
    page.0.ok_or_else(|| PageError::SignIn {
        next: Some(here.to_owned()),
    })
}

/// A form post: the session must exist and the form's CSRF field must equal
/// the session's token.
pub(crate) fn require_form_session(page: SignedInPage, csrf: &str) -> Result<SignedIn, PageError> {
    let me = page.0.ok_or(PageError::SignIn { next: None })?;
    me.check_csrf(csrf).map_err(|_| PageError::csrf())?;
    Ok(me)
}

/// A URL-encoded form whose parse errors become a 400 page. Form structs
/// default every field, so that a missing CSRF token is refused as such.
pub(crate) struct PageForm<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for PageForm<T> {
    type Rejection = PageError;

    async fn from_request(request: Request, state: &S) -> Result<Self, PageError> {
        Form::<T>::from_request(request, state)
            .await
            .map(|Form(form)| Self(form))
            .map_err(|e| {
                PageError::new(
                    StatusCode::BAD_REQUEST,
                    "Request refused",
                    "The form could not be read.",
                )
                .with_internal(e.body_text())
            })
    }
}

impl PageError {
    fn with_internal(self, detail: String) -> Self {
        match self {
            Self::Status {
                status,
                title,
                message,
                ..
            } => Self::Status {
                status,
                title,
                message,
                internal: Some(detail),
            },
            other => other,
        }
    }
}

/// The client's address from the socket peer (no forwarding headers are
/// trusted), for rate limits. IPv6 addresses count per /64.
#[derive(Debug, Clone)]
pub struct ClientAddr(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let addr = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(
                || "unknown".to_owned(),
                |ConnectInfo(addr)| match addr.ip() {
                    IpAddr::V4(ip) => ip.to_string(),
                    IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
                        Some(v4) => v4.to_string(),
                        None => {
                            let s = ip.segments();
                            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
                        }
                    },
                },
            );
        Ok(Self(addr))
    }
}

/// Counts one attempt against each bucket; refuses when any is over its
/// limit. The returned reservation can be refunded when the attempt turns
/// out not to count (a correct password, a valid code).
pub(crate) async fn reserve_attempt(
    state: &AppState,
    buckets: &[(String, RateLimit)],
) -> Result<Result<Reservation, ()>, StoreError> {
    let now = state.now_ms();
    let mut over = false;
    for (bucket, limit) in buckets {
        let hits = state
            .store
            .record_rate_limit_hit(bucket, now, limit.window_ms)
            .await?;
        over |= hits > limit.max;
    }
    if over {
        return Ok(Err(()));
    }
    Ok(Ok(Reservation {
        buckets: buckets.to_vec(),
    }))
}

pub(crate) struct Reservation {
    buckets: Vec<(String, RateLimit)>,
}

impl Reservation {
    pub(crate) async fn refund(self, state: &AppState) -> Result<(), StoreError> {
        let now = state.now_ms();
        for (bucket, limit) in &self.buckets {
            state
                .store
                .refund_rate_limit_hit(bucket, now, limit.window_ms)
                .await?;
        }
        Ok(())
    }
}

fn audit_event(me: &SignedIn, action: &'static str) -> AuditEvent {
    AuditEvent {
        actor: format!("account:{}", me.account.id),
        action,
        account_id: Some(me.account.id.clone()),
        ..AuditEvent::default()
    }
}

fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

// ---------------------------------------------------------------------------
// Switches and removals, shared with other callers (device settings, CLI).

/// Who made a change, for the audit log: `account:<id>`, `device:<id>`.
#[derive(Debug, Clone)]
pub struct ChangeBy {
    pub actor: String,
    pub request_id: Option<String>,
}

async fn audit_deleted_links(
    state: &AppState,
    by: &ChangeBy,
    account_id: &str,
    link_ids: &[String],
    reason: &str,
) -> Result<(), StoreError> {
    for link_id in link_ids {
        audit::record(
            state,
            by.request_id.clone(),
            AuditEvent {
                actor: by.actor.clone(),
                action: "link.delete",
                account_id: Some(account_id.to_owned()),
                subject: Some(link_id.clone()),
                detail: Some(json!({ "reason": reason }).to_string()),
            },
        )
        .await?;
    }
    Ok(())
}

/// The account's master switch, audited (`settings.account`, and
/// `link.delete` for each link removed). Returns how many links were removed.
pub async fn apply_account_switch(
    state: &AppState,
    by: &ChangeBy,
    account_id: &str,
    enabled: bool,
) -> Result<usize, StoreError> {
    let deleted = state
        .store
        .set_account_ssi_enabled(account_id, enabled, state.now_ms())
        .await?;
    audit::record(
        state,
        by.request_id.clone(),
        AuditEvent {
            actor: by.actor.clone(),
            action: "settings.account",
            account_id: Some(account_id.to_owned()),
            subject: Some(account_id.to_owned()),
            detail: Some(
                json!({ "ssi_enabled": enabled, "links_deleted": deleted.len() }).to_string(),
            ),
        },
    )
    .await?;
    audit_deleted_links(state, by, account_id, &deleted, "settings.account").await?;
    Ok(deleted.len())
}

/// The account's switch for one app, audited (`settings.app`, and
/// `link.delete` for each link removed). `None` when there is no such app.
pub async fn apply_app_switch(
    state: &AppState,
    by: &ChangeBy,
    account_id: &str,
    app_id: &str,
    enabled: bool,
) -> Result<Option<usize>, StoreError> {
    let Some(deleted) = state
        .store
        .set_app_ssi_enabled(account_id, app_id, enabled, state.now_ms())
        .await?
    else {
        return Ok(None);
    };
    audit::record(
        state,
        by.request_id.clone(),
        AuditEvent {
            actor: by.actor.clone(),
            action: "settings.app",
            account_id: Some(account_id.to_owned()),
            subject: Some(app_id.to_owned()),
            detail: Some(
                json!({ "ssi_enabled": enabled, "links_deleted": deleted.len() }).to_string(),
            ),
        },
    )
    .await?;
    audit_deleted_links(state, by, account_id, &deleted, "settings.app").await?;
    Ok(Some(deleted.len()))
}

/// The per-device switch, audited (`settings.device`); deletes nothing.
/// False when the account has no such device.
pub async fn apply_device_switch(
    state: &AppState,
    by: &ChangeBy,
    account_id: &str,
    device_id: &str,
    enabled: bool,
) -> Result<bool, StoreError> {
    if !state
        .store
        .set_device_ssi_enabled(account_id, device_id, enabled)
        .await?
    {
        return Ok(false);
    }
    audit::record(
        state,
        by.request_id.clone(),
        AuditEvent {
            actor: by.actor.clone(),
            action: "settings.device",
            account_id: Some(account_id.to_owned()),
            subject: Some(device_id.to_owned()),
            detail: Some(json!({ "ssi_enabled": enabled }).to_string()),
        },
    )
    .await?;
    Ok(true)
}

// ---------------------------------------------------------------------------
// Sign-up, sign-in, sign-out.

/// The double-submit cookie of the forms shown before there is a session.
fn csrf_cookie_name(state: &AppState) -> &'static str {
    if state.config.secure_cookies {
        "__Host-ssi_csrf"
    } else {
        "ssi_csrf"
    }
}

/// The pre-session CSRF token: the cookie's if there is one, else a new one
/// (and the `Set-Cookie` that stores it).
fn pre_session_csrf(state: &AppState, headers: &HeaderMap) -> (String, Option<String>) {
    let name = csrf_cookie_name(state);
    if let Some(existing) = cookie_value(headers, name).filter(|v| v.len() >= 32) {
        return (existing.to_owned(), None);
    }
    let token = new_secret(state.rng(), "");
    let secure = if state.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!("{name}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age=86400{secure}");
    (token, Some(cookie))
}

fn check_pre_session_csrf(
    state: &AppState,
    headers: &HeaderMap,
    submitted: &str,
) -> Result<(), PageError> {
    let cookie = cookie_value(headers, csrf_cookie_name(state)).unwrap_or("");
    if !cookie.is_empty() && secrets_equal(cookie.as_bytes(), submitted.as_bytes()) {
        Ok(())
    } else {
        Err(PageError::csrf())
    }
}

fn with_cookies(mut response: Response, cookies: impl IntoIterator<Item = String>) -> Response {
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// Starts a session with a fresh id (never reuses one: no fixation) and
/// returns its `Set-Cookie`.
async fn start_session(state: &AppState, account_id: &str) -> Result<String, StoreError> {
    let token = new_secret(state.rng(), "ssi_ses_");
    let csrf = new_secret(state.rng(), "");
    let now = state.now_ms();
    let ttl = state.config.session_ttl_secs;
    state
        .store
        .insert_session(
            &secret_hash(&token),
            account_id,
            &csrf,
            now,
            now + ttl * 1000,
        )
        .await?;
    Ok(session_cookie(state, &token, ttl))
}

/// Ends the session the request came with, if any (before a new sign-in).
async fn end_presented_session(state: &AppState, headers: &HeaderMap) -> Result<(), StoreError> {
    if let Some(token) = cookie_value(headers, session_cookie_name(state)) {
        state.store.delete_session(&secret_hash(token)).await?;
    }
    Ok(())
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignUpPage {
    nav: Nav,
    csrf: String,
    email: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage {
    nav: Nav,
    csrf: String,
    email: String,
    next: String,
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
struct CredentialsForm {
    /// The pre-session CSRF token (double-submit cookie).
    csrf: String,
    email: String,
    #[schema(format = Password)]
    password: String,
    /// Where to go after signing in (a local path only).
    next: String,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default)]
struct NextQuery {
    /// Where to go after signing in (a local path only).
    next: String,
}

/// The sign-up form (sets the pre-session CSRF cookie).
#[utoipa::path(
    get,
    path = "/account/signup",
    tag = "pages",
    responses(
        (status = 200, description = "The form (HTML)", body = String, content_type = "text/html"),
    ),
)]
async fn signup_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (csrf, cookie) = pre_session_csrf(&state, &headers);
    let page = SignUpPage {
        nav: Nav::anonymous("signup"),
        csrf,
        email: String::new(),
        error: None,
    };
    with_cookies(render(StatusCode::OK, &page), cookie)
}

/// Creates an account and signs it in.
#[utoipa::path(
    post,
    path = "/account/signup",
    tag = "pages",
    request_body(content = CredentialsForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed up: to `/account`, with the session cookie", headers(("Location" = String))),
        (status = "4XX", description = "An error page (HTML): the form again with the reason (400: bad e-mail or password; 409: the e-mail is taken), a wrong CSRF token (403), too many sign-ups from this address (429)", body = String, content_type = "text/html"),
        (status = "5XX", description = "An error page (HTML)", body = String, content_type = "text/html"),
    ),
)]
async fn signup(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    PageForm(form): PageForm<CredentialsForm>,
) -> Result<Response, PageError> {
    check_pre_session_csrf(&state, &headers, &form.csrf)?;
    let again = |status: StatusCode, error: String| {
        let page = SignUpPage {
            nav: Nav::anonymous("signup"),
            csrf: form.csrf.clone(),
            email: form.email.clone(),
            error: Some(error),
        };
        render(status, &page)
    };
    let buckets = [(format!("signup:addr:{addr}"), SIGN_UP_PER_ADDRESS)];
    if reserve_attempt(&state, &buckets).await?.is_err() {
        return Err(PageError::rate_limited("new accounts"));
    }
    let email = match rules::normalize_email(&form.email) {
        Ok(email) => email,
        Err(e) => return Ok(again(StatusCode::BAD_REQUEST, user_message(&e))),
    };
    if let Err(e) = rules::validate_password(&form.password) {
        return Ok(again(StatusCode::BAD_REQUEST, user_message(&e)));
    }
    let password_hash = hash_password(&state, form.password.clone()).await?;
    let account = AccountRow {
        id: new_id(state.rng(), "acct_"),
        email,
        password_hash,
        ssi_enabled: true,
        region: "default".to_owned(),
        is_developer: false,
        created_at: state.now_ms(),
    };
    match state.store.insert_account(&account).await {
        Ok(()) => {}
        Err(e) if e.is_unique_violation() => {
            return Ok(again(
                StatusCode::CONFLICT,
                "An account with this e-mail already exists. Sign in instead.".to_owned(),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    audit::record(
        &state,
        request_id(&headers),
        AuditEvent {
            actor: format!("account:{}", account.id),
            action: "account.create",
            account_id: Some(account.id.clone()),
            subject: Some(account.id.clone()),
            detail: None,
        },
    )
    .await?;
    end_presented_session(&state, &headers).await?;
    let cookie = start_session(&state, &account.id).await?;
    Ok(with_cookies(see_other("/account"), [cookie]))
}

fn user_message(e: &AccountError) -> String {
    match e {
        AccountError::EmailLength | AccountError::EmailFormat => {
            format!("Enter a valid e-mail address ({e}).")
        }
        AccountError::PasswordLength => format!(
            "Choose a password of {} to {} characters.",
            rules::PASSWORD_MIN_CHARS,
            rules::PASSWORD_MAX_CHARS
        ),
        other => other.to_string(),
    }
}

/// Argon2id off the async threads (it is deliberately slow).
async fn hash_password(state: &AppState, password: String) -> Result<String, PageError> {
    let mut salt = [0u8; 16];
    state.rng().fill(&mut salt);
    tokio::task::spawn_blocking(move || rules::hash_password(&password, &salt))
        .await
        .map_err(|e| PageError::from(ApiError::internal(format!("hashing task: {e}"))))?
        .map_err(|e| PageError::from(ApiError::internal(e.to_string())))
}

async fn verify_password(password: String, phc: String) -> Result<bool, PageError> {
    tokio::task::spawn_blocking(move || rules::verify_password(&password, &phc))
        .await
        .map_err(|e| PageError::from(ApiError::internal(format!("hashing task: {e}"))))
}

/// The sign-in form (sets the pre-session CSRF cookie).
#[utoipa::path(
    get,
    path = "/account/signin",
    tag = "pages",
    params(NextQuery),
    responses(
        (status = 200, description = "The form (HTML)", body = String, content_type = "text/html"),
    ),
)]
async fn signin_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<NextQuery>,
) -> Response {
    let (csrf, cookie) = pre_session_csrf(&state, &headers);
    let page = SignInPage {
        nav: Nav::anonymous("signin"),
        csrf,
        email: String::new(),
        next: rules::safe_local_path(&query.next)
            .unwrap_or_default()
            .to_owned(),
        error: None,
    };
    with_cookies(render(StatusCode::OK, &page), cookie)
}

/// Signs in with a fresh session (never a reused id).
#[utoipa::path(
    post,
    path = "/account/signin",
    tag = "pages",
    request_body(content = CredentialsForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed in: to `next` (a local path) or `/account`, with the session cookie", headers(("Location" = String))),
        (status = "4XX", description = "An error page (HTML): the form again (401: wrong e-mail or password), a wrong CSRF token (403), too many attempts for this e-mail or address (429)", body = String, content_type = "text/html"),
        (status = "5XX", description = "An error page (HTML)", body = String, content_type = "text/html"),
    ),
)]
async fn signin(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    PageForm(form): PageForm<CredentialsForm>,
) -> Result<Response, PageError> {
    check_pre_session_csrf(&state, &headers, &form.csrf)?;
    let email =
        rules::normalize_email(&form.email).unwrap_or_else(|_| form.email.trim().to_lowercase());
    // Failures count per e-mail and per address; a correct password gives
    // its attempt back but resets nothing.
    let buckets = [
        (format!("signin:addr:{addr}"), SIGN_IN_PER_ADDRESS),
        (
            format!("signin:email:{}", secret_hash(&email)),
            SIGN_IN_PER_EMAIL,
        ),
    ];
    let Ok(reservation) = reserve_attempt(&state, &buckets).await? else {
        return Err(PageError::rate_limited("sign-in attempts"));
    };
    let account = state.store.find_account_by_email(&email).await?;
    let phc = account.as_ref().map_or_else(
        || rules::decoy_password_hash().to_owned(),
        |a| a.password_hash.clone(),
    );
    let matches = verify_password(form.password.clone(), phc).await?;
    let Some(account) = account.filter(|_| matches) else {
        let page = SignInPage {
            nav: Nav::anonymous("signin"),
            csrf: form.csrf.clone(),
            email: form.email.clone(),
            next: rules::safe_local_path(&form.next)
                .unwrap_or_default()
                .to_owned(),
            error: Some("Wrong e-mail or password.".to_owned()),
        };
        return Ok(render(StatusCode::UNAUTHORIZED, &page));
    };
    reservation.refund(&state).await?;
    end_presented_session(&state, &headers).await?;
    let cookie = start_session(&state, &account.id).await?;
    audit::record(
        &state,
        request_id(&headers),
        AuditEvent {
            actor: format!("account:{}", account.id),
            action: "account.signin",
            account_id: Some(account.id.clone()),
            subject: None,
            detail: None,
        },
    )
    .await?;
    let next = rules::safe_local_path(&form.next).unwrap_or("/account");
    Ok(with_cookies(see_other(next), [cookie]))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub(crate) struct CsrfForm {
    /// The session's CSRF token.
    pub(crate) csrf: String,
}

/// Ends the session.
#[utoipa::path(
    post,
    path = "/account/signout",
    tag = "pages",
    request_body(content = CsrfForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "To the sign-in page, with the session cookie cleared", headers(("Location" = String))),
        (status = "4XX", description = "An error page (HTML): an unreadable form (400), a wrong CSRF token (403)", body = String, content_type = "text/html"),
        (status = "5XX", description = "An error page (HTML)", body = String, content_type = "text/html"),
    ),
    security(("session" = [])),
)]
async fn signout(
    State(state): State<AppState>,
    page: SignedInPage,
    PageForm(form): PageForm<CsrfForm>,
) -> Result<Response, PageError> {
    let clear = clear_session_cookie(&state);
    let Some(me) = page.0 else {
        return Ok(with_cookies(see_other("/account/signin"), [clear]));
    };
    me.check_csrf(&form.csrf).map_err(|_| PageError::csrf())?;
    state.store.delete_session(&me.session_hash).await?;
    Ok(with_cookies(see_other("/account/signin"), [clear]))
}

// ---------------------------------------------------------------------------
// Overview.

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    nav: Nav,
    email: String,
    created: String,
    ssi_enabled: bool,
    devices: usize,
    links: usize,
}

/// The account overview: counts of devices and links.
#[utoipa::path(
    get,
    path = "/account",
    tag = "pages",
    responses(
        (status = 200, description = "The overview (HTML)", body = String, content_type = "text/html"),
        (status = 303, description = "Not signed in: to the sign-in page, which comes back here", headers(("Location" = String))),
        (status = "5XX", description = "An error page (HTML)", body = String, content_type = "text/html"),
    ),
    security(("session" = [])),
)]
async fn overview(
    State(state): State<AppState>,
    page: SignedInPage,
) -> Result<Response, PageError> {
    let me = require_session(page, "/account")?;
    let devices = state.store.list_devices(&me.account.id).await?.len();
    let links = state
        .store
        .list_links_for_account(&me.account.id)
        .await?
        .len();
    let page = OverviewPage {
        nav: Nav::signed_in(&me, "overview"),
        email: me.account.email.clone(),
        created: format_utc(me.account.created_at),
        ssi_enabled: me.account.ssi_enabled,
        devices,
        links,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default)]
pub(crate) struct NoticeQuery {
    /// A fixed notice after a change (`saved`, …); unknown values show
    /// nothing.
    pub(crate) notice: String,
}

/// Fixed notices after a change (never text from the request).
fn notice(query: &NoticeQuery) -> Option<&'static str> {
    match query.notice.as_str() {
        "deregistered" => Some("The device was deregistered."),
        "device-switched" => Some("The device's setting was changed."),
        "removed" => Some("The link was removed."),
        "saved" => Some("Your settings were saved."),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Devices.

struct DeviceView {
    id: String,
    name: String,
    registered: String,
    last_seen: String,
    ssi_enabled: bool,
}

#[derive(Template)]
#[template(path = "devices.html")]
struct DevicesPage {
    nav: Nav,
    devices: Vec<DeviceView>,
}

/// The account's devices, each with its switch and a deregister button.
#[utoipa::path(
    get,
    path = "/account/devices",
    tag = "pages",
    params(NoticeQuery),
    responses(
        (status = 200, description = "The devices (HTML)", body = String, content_type = "text/html"),
        (status = 303, description = "Not signed in: to the sign-in page, which comes back here", headers(("Location" = String))),
        (status = "5XX", description = "An error page (HTML)", body = String, content_type = "text/html"),
    ),
    security(("session" = [])),
)]
async fn devices_page(
    State(state): State<AppState>,
    page: SignedInPage,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    let me = require_session(page, "/account/devices")?;
    let devices = state
        .store
        .list_devices(&me.account.id)
        .await?
        .into_iter()
        .map(|d| DeviceView {
            registered: format_utc(d.created_at),
            last_seen: d
                .last_seen_at
                .map_or_else(|| "never".to_owned(), format_utc),
            id: d.id,
            name: d.name,
            ssi_enabled: d.ssi_enabled,
        })
        .collect();
    let mut nav = Nav::signed_in(&me, "devices");
    nav.notice = notice(&query);
    Ok(render(StatusCode::OK, &DevicesPage { nav, devices }))
}

/// Deregisters a device: its credential is refused at once.
#[utoipa::path(
    post,
    path = "/account/devices/{id}/delete",
    tag = "pages",
    params(("id" = String, Path, description = "The device's id")),
    request_body(content = CsrfForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "To the devices page", headers(("Location" = String))),
        (status = "4XX", description = "An error page (HTML): an unreadable form (400), a wrong CSRF token (403), no such item of this account (404)", body = String, content_type = "text/html"),
        (status = "5XX", description = "An error page (HTML)", body = String, content_type = "text/html"),
    ),
    security(("session" = [])),
)]
async fn deregister_device(
    State(state): State<AppState>,
    page: SignedInPage,
    headers: HeaderMap,
    Path(device_id): Path<String>,
    PageForm(form): PageForm<CsrfForm>,
) -> Result<Response, PageError> {
    let me = require_form_session(page, &form.csrf)?;
    if !state
        .store
        .delete_device(&me.account.id, &device_id)
        .await?
    {
        return Err(PageError::not_found("device"));
    }
    let mut event = audit_event(&me, "device.deregister");
    event.subject = Some(device_id);
    audit::record(&state, request_id(&headers), event).await?;
    Ok(see_other("/account/devices?notice=deregistered"))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
struct SwitchForm {
    /// The session's CSRF token.
    csrf: String,
    /// `true`/`on` or `false`/`off`.
    enabled: String,
}

impl SwitchForm {
    fn enabled(&self) -> Result<bool, PageError> {
        match self.enabled.as_str() {
            "true" | "on" => Ok(true),
            "false" | "off" => Ok(false),
            _ => Err(PageError::new(
                StatusCode::BAD_REQUEST,
                "Request refused",
                "enabled: must be true or false",
            )),
        }
    }
}

fn change_by(me: &SignedIn, headers: &HeaderMap) -> ChangeBy {
    ChangeBy {
        actor: format!("account:{}", me.account.id),
        request_id: request_id(headers),
    }
}

/// Turns Simple Sign-In on or off for one device (deletes nothing).
#[utoipa::path(
    post,
    path = "/account/devices/{id}/ssi",
    tag = "pages",
    params(("id" = String, Path, description = "The device's id")),
    request_body(content = SwitchForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "To the devices page", headers(("Location" = String))),
        (status = "4XX", description = "An error page (HTML): an unreadable form (400), a wrong CSRF token (403), no such item of this account (404)", body = String, content_type = "text/html"),
        (status = "5XX", description = "An error page (HTML)", body = String, content_type = "text/html"),
    ),
    security(("session" = [])),
)]
async fn device_switch(
    State(state): State<AppState>,
    page: SignedInPage,
    headers: HeaderMap,
    Path(device_id): Path<String>,
    PageForm(form): PageForm<SwitchForm>,
) -> Result<Response, PageError> {
    let me = require_form_session(page, &form.csrf)?;
    let enabled = form.enabled()?;
    let by = change_by(&me, &headers);
    if !apply_device_switch(&state, &by, &me.account.id, &device_id, enabled).await? {
        return Err(PageError::not_found("device"));
    }
    Ok(see_other("/account/devices?notice=device-switched"))
}

// ---------------------------------------------------------------------------
// Linked accounts.

struct LinkView {
    id: String,
    apps: String,
    idp_name: String,
    login_name: String,
    linked: String,
}

#[derive(Template)]
#[template(path = "links.html")]
struct LinksPage {
    nav: Nav,
    links: Vec<LinkView>,
}

/// The account's linked app accounts.
#[utoipa::path(
    get,
    path = "/account/links",
    tag = "pages",
    params(NoticeQuery),
    responses(
        (status = 200, description = "The links (HTML)", body = String, content_type = "text/html"),
        (status = 303, description = "Not signed in: to the sign-in page, which comes back here", headers(("Location" = String))),
        (status = "5XX", description = "An error page (HTML)", body = String, content_type = "text/html"),
    ),
    security(("session" = [])),
)]
async fn links_page(
    State(state): State<AppState>,
    page: SignedInPage,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    let me = require_session(page, "/account/links")?;
    let links = state
        .store
        .list_links_for_account(&me.account.id)
        .await?
        .into_iter()
        .map(|l| LinkView {
            apps: if l.app_names.is_empty() {
                l.idp_name.clone()
            } else {
                l.app_names.join(", ")
            },
            linked: format_utc(l.created_at),
            id: l.id,
            idp_name: l.idp_name,
            login_name: l.user_login_name,
        })
        .collect();
    let mut nav = Nav::signed_in(&me, "links");
    nav.notice = notice(&query);
    Ok(render(StatusCode::OK, &LinksPage { nav, links }))
}

/// Removes one link, with its stored key and token.
#[utoipa::path(
    post,
    path = "/account/links/{id}/delete",
    tag = "pages",
    params(("id" = String, Path, description = "The link's id")),
    request_body(content = CsrfForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "To the links page", headers(("Location" = String))),
        (status = "4XX", description = "An error page (HTML): an unreadable form (400), a wrong CSRF token (403), no such item of this account (404)", body = String, content_type = "text/html"),
        (status = "5XX", description = "An error page (HTML)", body = String, content_type = "text/html"),
    ),
    security(("session" = [])),
)]
async fn remove_link(
    State(state): State<AppState>,
    page: SignedInPage,
    headers: HeaderMap,
    Path(link_id): Path<String>,
    PageForm(form): PageForm<CsrfForm>,
) -> Result<Response, PageError> {
    let me = require_form_session(page, &form.csrf)?;
    if !state
        .store
        .delete_link_for_account(&me.account.id, &link_id)
        .await?
    {
        return Err(PageError::not_found("link"));
    }
    let by = change_by(&me, &headers);
    audit_deleted_links(&state, &by, &me.account.id, &[link_id], "owner").await?;
    Ok(see_other("/account/links?notice=removed"))
}

// ---------------------------------------------------------------------------
// Settings.

struct AppView {
    id: String,
    name: String,
    idp_name: Option<String>,
    ssi_enabled: bool,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    nav: Nav,
    ssi_enabled: bool,
    apps: Vec<AppView>,
}

/// The account's switch and one switch per app.
#[utoipa::path(
    get,
    path = "/account/settings",
    tag = "pages",
    params(NoticeQuery),
    responses(
        (status = 200, description = "The settings (HTML)", body = String, content_type = "text/html"),
        (status = 303, description = "Not signed in: to the sign-in page, which comes back here", headers(("Location" = String))),
        (status = "5XX", description = "An error page (HTML)", body = String, content_type = "text/html"),
    ),
    security(("session" = [])),
)]
async fn settings_page(
    State(state): State<AppState>,
    page: SignedInPage,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    let me = require_session(page, "/account/settings")?;
    let apps = state
        .store
        .list_app_settings_for_account(&me.account.id)
        .await?
        .into_iter()
        .map(|a| AppView {
            id: a.app_id,
            name: a.app_name,
            idp_name: a.idp_name,
            ssi_enabled: a.ssi_enabled,
        })
        .collect();
    let mut nav = Nav::signed_in(&me, "settings");
    nav.notice = notice(&query);
    let page = SettingsPage {
        nav,
        ssi_enabled: me.account.ssi_enabled,
        apps,
    };
    Ok(render(StatusCode::OK, &page))
}

/// Turns Simple Sign-In on or off for the account (off deletes every link).
#[utoipa::path(
    post,
    path = "/account/settings/account",
    tag = "pages",
    request_body(content = SwitchForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "To the settings page", headers(("Location" = String))),
        (status = "4XX", description = "An error page (HTML): an unreadable form (400), a wrong CSRF token (403)", body = String, content_type = "text/html"),
        (status = "5XX", description = "An error page (HTML)", body = String, content_type = "text/html"),
    ),
    security(("session" = [])),
)]
async fn account_switch(
    State(state): State<AppState>,
    page: SignedInPage,
    headers: HeaderMap,
    PageForm(form): PageForm<SwitchForm>,
) -> Result<Response, PageError> {
    let me = require_form_session(page, &form.csrf)?;
    let enabled = form.enabled()?;
    let by = change_by(&me, &headers);
    apply_account_switch(&state, &by, &me.account.id, enabled).await?;
    Ok(see_other("/account/settings?notice=saved"))
}

/// Turns Simple Sign-In on or off for one app (off deletes its links).
#[utoipa::path(
    post,
    path = "/account/settings/apps/{id}",
    tag = "pages",
    params(("id" = String, Path, description = "The app's id")),
    request_body(content = SwitchForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "To the settings page", headers(("Location" = String))),
        (status = "4XX", description = "An error page (HTML): an unreadable form (400), a wrong CSRF token (403), no such item of this account (404)", body = String, content_type = "text/html"),
        (status = "5XX", description = "An error page (HTML)", body = String, content_type = "text/html"),
    ),
    security(("session" = [])),
)]
async fn app_switch(
    State(state): State<AppState>,
    page: SignedInPage,
    headers: HeaderMap,
    Path(app_id): Path<String>,
    PageForm(form): PageForm<SwitchForm>,
) -> Result<Response, PageError> {
    let me = require_form_session(page, &form.csrf)?;
    let enabled = form.enabled()?;
    let by = change_by(&me, &headers);
    if apply_app_switch(&state, &by, &me.account.id, &app_id, enabled)
        .await?
        .is_none()
    {
        return Err(PageError::not_found("app"));
    }
    Ok(see_other("/account/settings?notice=saved"))
}

// ---------------------------------------------------------------------------
// History.

struct SignInView {
    app: String,
    device: String,
    when: String,
}

#[derive(Template)]
#[template(path = "history.html")]
struct HistoryPage {
    nav: Nav,
    sign_ins: Vec<SignInView>,
}

/// How many sign-ins the history page shows.
const HISTORY_LIMIT: i64 = 200;

/// The account's recent sign-ins (at most 200).
#[utoipa::path(
    get,
    path = "/account/history",
    tag = "pages",
    responses(
        (status = 200, description = "The history (HTML)", body = String, content_type = "text/html"),
        (status = 303, description = "Not signed in: to the sign-in page, which comes back here", headers(("Location" = String))),
        (status = "5XX", description = "An error page (HTML)", body = String, content_type = "text/html"),
    ),
    security(("session" = [])),
)]
async fn history_page(
    State(state): State<AppState>,
    page: SignedInPage,
) -> Result<Response, PageError> {
    let me = require_session(page, "/account/history")?;
    let sign_ins = state
        .store
        .list_sign_ins_for_account(&me.account.id, HISTORY_LIMIT)
        .await?
        .into_iter()
        .map(|s| SignInView {
            app: s.app_name.unwrap_or_else(|| "(removed app)".to_owned()),
            device: match (s.device_name, s.device_id) {
                (Some(name), _) => name,
                (None, Some(_)) => "(deregistered device)".to_owned(),
                (None, None) => "—".to_owned(),
            },
            when: format_utc(s.at),
        })
        .collect();
    let page = HistoryPage {
        nav: Nav::signed_in(&me, "history"),
        sign_ins,
    };
    Ok(render(StatusCode::OK, &page))
}
