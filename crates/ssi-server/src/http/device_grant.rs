//! Device registration by the RFC 8628 device authorization grant
//! (DESIGN.md section 3, "Device registration"):
//!
//! 1. `POST /oauth/device_authorization` (device): a device code (256-bit
//!    secret, stored hashed) and a user code (`XXXX-XXXX`).
//! 2. `GET/POST /device`, `POST /device/confirm` (owner, signed in): enter
//!    the code, see the device's name, approve or deny. Wrong codes are
//!    limited per account and per address.
//! 3. `POST /oauth/token` (device, polling): RFC 8628 section 3.5 errors
//!    until approved, then the device credential (`ssi_dev_…`) exactly once.

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Form, FromRequest, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;
use ssi_proto::limits::MAX_MESSAGE_BYTES;

use crate::audit::{self, AuditEvent};
use crate::domain::accounts::{
    self as rules, DEVICE_AUTHORIZATION_PER_ADDRESS, SLOW_DOWN_STEP_SECS, USER_CODE_PER_ACCOUNT,
    USER_CODE_PER_ADDRESS,
};
use crate::encoding::secret_hash;
use crate::http::account_pages::{
    ClientAddr, Nav, PageError, PageForm, render, require_form_session, require_session,
    reserve_attempt,
};
use crate::http::auth::{SignedIn, SignedInPage, request_id};
use crate::random::{new_id, new_secret};
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::device_authorizations::{DeviceAuthorizationRow, PollState, STATUS_PENDING};

pub const DEVICE_CODE_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// Prefix of device credentials (the bearer secret a device holds).
pub const DEVICE_CREDENTIAL_PREFIX: &str = "ssi_dev_";
const DEVICE_CODE_PREFIX: &str = "ssi_dc_";
/// Expired requests are kept this long (their device codes answer
/// `expired_token`), then deleted.
const EXPIRED_RETENTION_MS: i64 = 24 * 3600 * 1000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/oauth/device_authorization", post(device_authorization))
        .route("/oauth/token", post(token))
        .route("/device", get(device_page).post(enter_code))
        .route("/device/confirm", post(confirm))
}

/// The device grant's operations (OAuth endpoints and pages) in the OpenAPI
/// document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(device_authorization, token, device_page, enter_code, confirm))]
pub(crate) struct ApiDoc;

// ---------------------------------------------------------------------------
// OAuth endpoints (device side).

/// An RFC 6749 section 5.2 error response (`{error, error_description}`).
#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    internal: Option<String>,
}

impl OAuthError {
    fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error,
            description: description.into(),
            internal: None,
        }
    }
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        Self {
            status: if e.is_retryable() {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            },
            error: "server_error",
            description: "internal error; see the server log for the request id".to_owned(),
            internal: Some(e.to_string()),
        }
    }
}

/// The body of an [`OAuthError`] (RFC 6749 section 5.2; RFC 8628 section 3.5).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(
    as = OAuthError,
    example = json!({"error": "authorization_pending", "error_description": "waiting for the owner to approve"})
)]
struct OAuthErrorBody<'a> {
    /// `invalid_request`, `unsupported_grant_type`, `invalid_grant` (unknown or
    /// used device code), `expired_token`, `access_denied` (the owner denied),
    /// `authorization_pending` (keep polling), `slow_down` (poll 5 s slower;
    /// or, with 429, too many device authorizations from this address),
    /// `server_error` (500, or 503: retry).
    error: &'a str,
    /// For people; never a secret.
    error_description: &'a str,
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        if let Some(internal) = &self.internal {
            tracing::error!(error = self.error, internal = %internal, "oauth request failed");
        }
        let body = OAuthErrorBody {
            error: self.error,
            error_description: &self.description,
        };
        (
            self.status,
            [(header::CACHE_CONTROL, "no-store")],
            axum::Json(body),
        )
            .into_response()
    }
}

/// A body as `application/x-www-form-urlencoded` (RFC 6749) or JSON.
pub struct FormOrJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for FormOrJson<T> {
    type Rejection = OAuthError;

    async fn from_request(request: Request, state: &S) -> Result<Self, OAuthError> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if content_type.starts_with("application/json") {
            let bytes = Bytes::from_request(request, state).await.map_err(|_| {
                OAuthError::new(
                    "invalid_request",
                    format!("request body over the limit of {MAX_MESSAGE_BYTES} bytes"),
                )
            })?;
            ssi_proto::parse_json(&bytes)
                .map(Self)
                .map_err(|e| OAuthError::new("invalid_request", e.to_string()))
        } else if content_type.starts_with("application/x-www-form-urlencoded") {
            Form::<T>::from_request(request, state)
                .await
                .map(|Form(value)| Self(value))
                .map_err(|e| OAuthError::new("invalid_request", e.body_text()))
        } else {
            Err(OAuthError::new(
                "invalid_request",
                "expected Content-Type: application/x-www-form-urlencoded or application/json",
            ))
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct DeviceAuthorizationRequest {
    /// The name the owner sees when approving (1-64 characters, no control
    /// characters).
    #[serde(default)]
    device_name: Option<String>,
    /// Accepted and ignored (RFC 8628 section 3.1 requires it for public
    /// clients; there is only one kind of client here).
    #[serde(default)]
    #[allow(dead_code)]
    client_id: Option<String>,
}

/// RFC 8628 section 3.2 (`Cache-Control: no-store`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct DeviceAuthorizationResponse {
    /// The secret the device polls `/oauth/token` with (`ssi_dc_…`).
    device_code: String,
    /// What the owner enters (`XXXX-XXXX`, 8 letters of an unambiguous alphabet).
    user_code: String,
    /// The page where the owner enters it (`/device`).
    verification_uri: String,
    /// The same page with the code filled in.
    verification_uri_complete: String,
    /// Seconds until both codes expire.
    expires_in: i64,
    /// Seconds to wait between polls.
    interval: i64,
}

/// Starts a device registration (RFC 8628 section 3.1).
///
/// A device code for the device and a user code for its owner to enter at
/// `verification_uri`.
#[utoipa::path(
    post,
    path = "/oauth/device_authorization",
    tag = "device-grant",
    request_body(
        description = "`application/x-www-form-urlencoded` (RFC 6749) or JSON",
        content((DeviceAuthorizationRequest = "application/x-www-form-urlencoded"), (DeviceAuthorizationRequest = "application/json"))
    ),
    responses(
        (status = 200, description = "The codes (RFC 8628 section 3.2)", body = DeviceAuthorizationResponse),
        (status = 400, description = "`invalid_request`: unreadable body or a bad `device_name`", body = OAuthErrorBody),
        (status = 429, description = "`slow_down`: too many device authorizations from this address", body = OAuthErrorBody),
        (status = 500, description = "`server_error`", body = OAuthErrorBody),
        (status = 503, description = "`server_error`: the database is busy; retry", body = OAuthErrorBody),
    ),
)]
async fn device_authorization(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    FormOrJson(request): FormOrJson<DeviceAuthorizationRequest>,
) -> Result<Response, OAuthError> {
    let name = rules::validate_device_name(request.device_name.as_deref().unwrap_or(""))
        .map_err(|e| OAuthError::new("invalid_request", e.to_string()))?;
    let buckets = [(
        format!("device_authorization:addr:{addr}"),
        DEVICE_AUTHORIZATION_PER_ADDRESS,
    )];
    if reserve_attempt(&state, &buckets).await?.is_err() {
        return Err(OAuthError {
            status: StatusCode::TOO_MANY_REQUESTS,
            ..OAuthError::new(
                "slow_down",
                "too many device authorization requests; retry later",
            )
        });
    }
    let now = state.now_ms();
    state
        .store
        .delete_expired_device_authorizations(now - EXPIRED_RETENTION_MS)
        .await?;
    let device_code = new_secret(state.rng(), DEVICE_CODE_PREFIX);
    let ttl = state.config.device_code_ttl_secs;
    let interval = state.config.device_poll_interval_secs;
    let mut attempt = 0;
    let user_code = loop {
        let user_code = rules::new_user_code(state.rng());
        let row = DeviceAuthorizationRow {
            device_code_hash: secret_hash(&device_code),
            user_code: user_code.clone(),
            device_name: name.clone(),
            created_at: now,
            expires_at: now + ttl * 1000,
            interval_secs: interval,
            last_poll_at: None,
            status: STATUS_PENDING.to_owned(),
            account_id: None,
            device_id: None,
        };
        match state.store.insert_device_authorization(&row).await {
            Ok(()) => break user_code,
            // A user code still in use: draw another.
            Err(e) if e.is_unique_violation() && attempt < 5 => attempt += 1,
            Err(e) => return Err(e.into()),
        }
    };
    let shown = rules::format_user_code(&user_code);
    let verification_uri = format!("{}/device", state.config.issuer.trim_end_matches('/'));
    let body = DeviceAuthorizationResponse {
        device_code,
        verification_uri_complete: format!("{verification_uri}?user_code={shown}"),
        verification_uri,
        user_code: shown,
        expires_in: ttl,
        interval,
    };
    Ok(([(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct TokenRequest {
    /// `urn:ietf:params:oauth:grant-type:device_code`.
    #[serde(default)]
    grant_type: Option<String>,
    #[serde(default)]
    device_code: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    client_id: Option<String>,
}

/// The device credential (`ssi_dev_…`), given exactly once
/// (`Cache-Control: no-store`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct TokenResponse {
    /// The device credential (`ssi_dev_…`) for `Authorization: Bearer`.
    access_token: String,
    /// `Bearer`.
    token_type: &'static str,
}

/// Polls for the device credential (RFC 8628 section 3.4).
///
/// The device polls every `interval` seconds until the owner decided.
#[utoipa::path(
    post,
    path = "/oauth/token",
    tag = "device-grant",
    request_body(
        description = "`application/x-www-form-urlencoded` (RFC 6749) or JSON",
        content((TokenRequest = "application/x-www-form-urlencoded"), (TokenRequest = "application/json"))
    ),
    responses(
        (status = 200, description = "Approved: the device credential, exactly once", body = TokenResponse),
        (status = 400, description = "RFC 8628 section 3.5: `authorization_pending`, `slow_down`, `access_denied`, `expired_token`, `invalid_grant`; or `invalid_request`, `unsupported_grant_type`", body = OAuthErrorBody),
        (status = 500, description = "`server_error`", body = OAuthErrorBody),
        (status = 503, description = "`server_error`: the database is busy; retry", body = OAuthErrorBody),
    ),
)]
async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    FormOrJson(request): FormOrJson<TokenRequest>,
) -> Result<Response, OAuthError> {
    match request.grant_type.as_deref() {
        Some(DEVICE_CODE_GRANT_TYPE) => {}
        None => return Err(OAuthError::new("invalid_request", "grant_type: required")),
        Some(_) => {
            return Err(OAuthError::new(
                "unsupported_grant_type",
                format!("grant_type: only {DEVICE_CODE_GRANT_TYPE} is supported"),
            ));
        }
    }
    let device_code = request
        .device_code
        .filter(|c| !c.is_empty())
        .ok_or_else(|| OAuthError::new("invalid_request", "device_code: required"))?;
    let device_code_hash = secret_hash(&device_code);
    let now = state.now_ms();
    // RFC 8628 section 3.5, in order: unknown or used code, expiry, denial,
    // polling too fast, still pending, approved.
    let account_id = match state
        .store
        .poll_device_authorization(&device_code_hash, now, SLOW_DOWN_STEP_SECS)
        .await?
    {
        PollState::Unknown | PollState::Redeemed => {
            return Err(OAuthError::new(
                "invalid_grant",
                "device_code: unknown or already used",
            ));
        }
        PollState::Expired => {
            return Err(OAuthError::new(
                "expired_token",
                "device_code: expired; start the registration again",
            ));
        }
        PollState::Denied => {
            return Err(OAuthError::new(
                "access_denied",
                "the owner denied this device",
            ));
        }
        PollState::SlowDown => {
            return Err(OAuthError::new(
                "slow_down",
                format!("polling too fast; the interval was raised by {SLOW_DOWN_STEP_SECS} s"),
            ));
        }
        PollState::Pending => {
            return Err(OAuthError::new(
                "authorization_pending",
                "waiting for the owner to approve",
            ));
        }
        PollState::Approved { account_id } => account_id,
    };
    let device_id = new_id(state.rng(), "dev_");
    let credential = new_secret(state.rng(), DEVICE_CREDENTIAL_PREFIX);
    let Some(device) = state
        .store
        .redeem_device_authorization(
            &device_code_hash,
            &device_id,
            &secret_hash(&credential),
            now,
        )
        .await?
    else {
        return Err(OAuthError::new(
            "invalid_grant",
            "device_code: unknown or already used",
        ));
    };
    audit::record(
        &state,
        request_id(&headers),
        AuditEvent {
            actor: format!("device:{}", device.id),
            action: "device.register",
            account_id: Some(account_id),
            subject: Some(device.id.clone()),
            detail: Some(json!({ "name": device.name }).to_string()),
        },
    )
    .await?;
    let body = TokenResponse {
        access_token: credential,
        token_type: "Bearer",
    };
    Ok(([(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response())
}

// ---------------------------------------------------------------------------
// The owner's pages.

#[derive(Template)]
#[template(path = "device.html")]
struct DevicePage {
    nav: Nav,
    user_code: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "device_confirm.html")]
struct ConfirmPage {
    nav: Nav,
    user_code: String,
    device_name: String,
}

#[derive(Template)]
#[template(path = "device_done.html")]
struct DonePage {
    nav: Nav,
    approved: bool,
    device_name: String,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default)]
struct CodeQuery {
    /// The code shown on the device (`XXXX-XXXX`), prefilled in the form.
    user_code: String,
}

/// The page where the owner enters the code shown on the device.
#[utoipa::path(
    get,
    path = "/device",
    tag = "pages",
    params(CodeQuery),
    responses(
        (status = 200, description = "The code form (HTML)", body = String, content_type = "text/html"),
        (status = 303, description = "Not signed in: to the sign-in page (which comes back here)", headers(("Location" = String))),
        (status = "5XX", description = "An error page (HTML)", body = String, content_type = "text/html"),
    ),
    security(("session" = [])),
)]
async fn device_page(
    page: SignedInPage,
    Query(query): Query<CodeQuery>,
) -> Result<Response, PageError> {
    // Only a well-formed code is carried through the sign-in redirect.
    let code = rules::normalize_user_code(&query.user_code).map(|c| rules::format_user_code(&c));
    let here = match &code {
        Some(code) => format!("/device?user_code={code}"),
        None => "/device".to_owned(),
    };
    let me = require_session(page, &here)?;
    let page = DevicePage {
        nav: Nav::signed_in(&me, ""),
        user_code: code.unwrap_or_default(),
        error: None,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
struct CodeForm {
    /// The session's CSRF token.
    csrf: String,
    /// The code shown on the device.
    user_code: String,
    /// `approve` or `deny` (`POST /device/confirm` only).
    decision: String,
}

fn wrong_code(me: &SignedIn, typed: &str) -> Response {
    let page = DevicePage {
        nav: Nav::signed_in(me, ""),
        user_code: typed.chars().take(16).collect(),
        error: Some(
            "That code is not valid or has expired. Check the code on the device.".to_owned(),
        ),
    };
    render(StatusCode::BAD_REQUEST, &page)
}

/// Counts a code entry against the account's and the address's limits.
async fn reserve_code_attempt(
    state: &AppState,
    me: &SignedIn,
    addr: &str,
) -> Result<crate::http::account_pages::Reservation, PageError> {
    let buckets = [
        (
            format!("user_code:account:{}", me.account.id),
            USER_CODE_PER_ACCOUNT,
        ),
        (format!("user_code:addr:{addr}"), USER_CODE_PER_ADDRESS),
    ];
    reserve_attempt(state, &buckets)
        .await?
        .map_err(|()| PageError::rate_limited("wrong codes"))
}

/// Submits a device code; answers the confirmation page with the device's name.
#[utoipa::path(
    post,
    path = "/device",
    tag = "pages",
    request_body(content = CodeForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The confirmation page (HTML): approve or deny the named device", body = String, content_type = "text/html"),
        (status = 303, description = "Not signed in: to the sign-in page (which comes back here)", headers(("Location" = String))),
        (status = "4XX", description = "An error page (HTML): an unreadable form (400), a wrong or expired code (400, the form again), a wrong CSRF token (403), too many wrong codes from this account or address (429)", body = String, content_type = "text/html"),
        (status = "5XX", description = "An error page (HTML)", body = String, content_type = "text/html"),
    ),
    security(("session" = [])),
)]
async fn enter_code(
    State(state): State<AppState>,
    page: SignedInPage,
    ClientAddr(addr): ClientAddr,
    PageForm(form): PageForm<CodeForm>,
) -> Result<Response, PageError> {
    let me = require_form_session(page, &form.csrf)?;
    let reservation = reserve_code_attempt(&state, &me, &addr).await?;
    let found = match rules::normalize_user_code(&form.user_code) {
        Some(code) => {
            state
                .store
                .find_pending_device_authorization(&code, state.now_ms())
                .await?
        }
        None => None,
    };
    let Some(request) = found else {
        return Ok(wrong_code(&me, &form.user_code));
    };
    // A valid code is not a guess: give the attempt back.
    reservation.refund(&state).await?;
    let page = ConfirmPage {
        nav: Nav::signed_in(&me, ""),
        user_code: rules::format_user_code(&request.user_code),
        device_name: request.device_name,
    };
    Ok(render(StatusCode::OK, &page))
}

/// Approves or denies the device (audited).
#[utoipa::path(
    post,
    path = "/device/confirm",
    tag = "pages",
    request_body(content = CodeForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Done (HTML): the device is approved or denied", body = String, content_type = "text/html"),
        (status = 303, description = "Not signed in: to the sign-in page (which comes back here)", headers(("Location" = String))),
        (status = "4XX", description = "An error page (HTML): an unreadable form (400), a wrong or expired code (400, the form again), a wrong CSRF token (403), too many wrong codes from this account or address (429)", body = String, content_type = "text/html"),
        (status = "5XX", description = "An error page (HTML)", body = String, content_type = "text/html"),
    ),
    security(("session" = [])),
)]
async fn confirm(
    State(state): State<AppState>,
    page: SignedInPage,
    headers: HeaderMap,
    ClientAddr(addr): ClientAddr,
    PageForm(form): PageForm<CodeForm>,
) -> Result<Response, PageError> {
    let me = require_form_session(page, &form.csrf)?;
    let approve = match form.decision.as_str() {
        "approve" => true,
        "deny" => false,
        _ => {
            return Err(PageError::new(
                StatusCode::BAD_REQUEST,
                "Request refused",
                "decision: must be approve or deny",
            ));
        }
    };
    let reservation = reserve_code_attempt(&state, &me, &addr).await?;
    let now = state.now_ms();
    let Some(code) = rules::normalize_user_code(&form.user_code) else {
        return Ok(wrong_code(&me, &form.user_code));
    };
    let Some(request) = state
        .store
        .find_pending_device_authorization(&code, now)
        .await?
    else {
        return Ok(wrong_code(&me, &form.user_code));
    };
    if !state
        .store
        .decide_device_authorization(&code, &me.account.id, approve, now)
        .await?
    {
        return Ok(wrong_code(&me, &form.user_code));
    }
    reservation.refund(&state).await?;
    audit::record(
        &state,
        request_id(&headers),
        AuditEvent {
            actor: format!("account:{}", me.account.id),
            action: if approve {
                "device.approve"
            } else {
                "device.deny"
            },
            account_id: Some(me.account.id.clone()),
            subject: None,
            detail: Some(json!({ "name": request.device_name }).to_string()),
        },
    )
    .await?;
    let page = DonePage {
        nav: Nav::signed_in(&me, ""),
        approved: approve,
        device_name: request.device_name,
    };
    Ok(render(StatusCode::OK, &page))
}
