//! The device API (`/v1/device/...`): what the on-device agent calls on behalf
//! of the apps (DESIGN.md section 3, "Linking", "Sign-in", "Metrics").
//!
//! Every route authenticates the device by its bearer credential
//! ([`DeviceAuth`]); the device row gives the account. The agent names the
//! calling app by package id (it knows the app from the socket); everything
//! else is checked here: the app's IDP, the operator's and the owner's
//! switches ([`availability::decide`]), the sealed key, the link limit, and
//! that a link belongs to this account and this app's IDP.
//!
//! Business outcomes are `200` with the seed's `requestStatus`; malformed or
//! oversized input is `400`/`413` naming the field and the limit, and nothing
//! is stored.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use ssi_proto::developer::validate_package_id;
use ssi_proto::device::{
    AppIdpRequest, AppSettingsResponse, ConsentDeniedRequest, CreateLinkRequest, DeviceInfo,
    DeviceSettingsUpdate, LinkLookupRequest, LinkLookupResponse, LinkPrecheckRequest,
    LinkTokenResponse, MetricsBatch, MetricsBatchResponse, RejectedEvent, StatusResponse,
};
use ssi_proto::limits::MAX_ACTIVE_LINKS_PER_ACCOUNT_IDP;
use ssi_proto::{
    GetUserAndLinksResponse, InternalEvent, Link, LinkAccountSuccessCode, LinkUserAccountResponse,
    RequestStatus, Token,
};
use ssi_token::{AppKeyPair, LinkSigningKey, MintRequest, UnsealError, mint_ssi_token};
use zeroize::Zeroizing;

use crate::audit::{self, AuditEvent};
use crate::domain::availability::{self, AppFacts, Availability, Facts};
use crate::http::auth::{DeviceAuth, DeviceCredential, request_id};
use crate::http::error::ErrorBody;
use crate::http::{ApiError, WireJson};
use crate::random::{RandomRef, new_id};
use crate::secrets::SecretError;
use crate::state::AppState;
use crate::store::audit::AuditRow;
use crate::store::devices::DeviceRow;
use crate::store::links::{
    DeviceApiApp, DeviceApiCall, DeviceApiContext, LinkInsertOutcome, NewLink, NewSignIn,
    StoredLink,
};
use crate::store::metrics::MetricEventRow;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/device/whoami", get(whoami))
        .route("/v1/device/user-and-links", post(user_and_links))
        .route("/v1/device/links/lookup", post(lookup_link))
        .route("/v1/device/links/precheck", post(precheck_link))
        .route("/v1/device/links", post(create_link))
        .route("/v1/device/links/{link_id}/token", post(link_token))
        .route("/v1/device/consent-denied", post(consent_denied))
        .route("/v1/device/metrics", post(record_metrics))
        .route(
            "/v1/device/settings",
            get(app_settings).put(update_device_settings),
        )
}

/// The device API's operations in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    whoami,
    user_and_links,
    lookup_link,
    precheck_link,
    create_link,
    link_token,
    consent_denied,
    record_metrics,
    app_settings,
    update_device_settings,
))]
pub(crate) struct ApiDoc;

/// `source` of the events the server records itself.
const SERVER_SOURCE: &str = "server";

fn actor(device: &DeviceRow) -> String {
    format!("device:{}", device.id)
}

/// An audit entry of this device, for a store function that writes it in
/// the same transaction as the change (what `audit::record` would write).
fn audit_row(
    state: &AppState,
    headers: &HeaderMap,
    device: &DeviceRow,
    action: &'static str,
    subject: &str,
    detail: serde_json::Value,
) -> AuditRow {
    AuditRow {
        id: new_id(state.rng(), "aud_"),
        at: state.now_ms(),
        request_id: request_id(headers),
        actor: actor(device),
        action: action.to_owned(),
        account_id: Some(device.account_id.clone()),
        subject: Some(subject.to_owned()),
        detail: Some(detail.to_string()),
    }
}

/// The facts of the decision, from the device row and the context query.
fn facts<'a>(device: &'a DeviceRow, context: &'a DeviceApiContext) -> Facts<'a> {
    Facts {
        app: context.app.as_ref().map(|app| AppFacts {
            idp_name: app.idp_name.as_deref(),
            is_blocked: app.is_blocked,
            is_enabled_by_owner: app.is_enabled_by_owner,
        }),
        is_region_available: context.is_region_available,
        device_mode: &device.mode,
        is_account_enabled: context.is_account_enabled,
        is_device_enabled: device.ssi_enabled,
    }
}

/// The app and its IDP id when the app may use SSI for `idp_name` now;
/// otherwise the refusal (status and reason).
fn decide_for_idp<'c>(
    device: &DeviceRow,
    context: &'c DeviceApiContext,
    package_id: &str,
    idp_name: &str,
) -> Result<(&'c DeviceApiApp, &'c str), (RequestStatus, String)> {
    match availability::decide(&facts(device, context), package_id, Some(idp_name)) {
        Availability::Refused { status, message } => Err((status, message)),
        Availability::Available => match context.app.as_ref() {
            Some(app) => match app.idp_id.as_deref() {
                Some(idp_id) => Ok((app, idp_id)),
                None => Err((
                    RequestStatus::Failure,
                    "the app has no identity provider".into(),
                )),
            },
            None => Err((RequestStatus::Failure, "unknown app".into())),
        },
    }
}

/// The account is gone while its device credential was still valid (the
/// account was deleted mid-request): the device is no longer registered.
fn account_gone() -> ApiError {
    ApiError::unauthorized()
}

/// The calling device and the facts of the call, in one query: no
/// registered device holds the credential (unknown, or deregistered) → 401.
async fn load_context(
    state: &AppState,
    credential: &DeviceCredential,
    package_id: &str,
) -> Result<(DeviceRow, DeviceApiContext), ApiError> {
    state
        .store
        .device_api_context(&credential.hash, package_id)
        .await?
        .ok_or_else(ApiError::unauthorized)
}

/// A request body of the device API, validated as a whole.
trait Validated: Sized {
    fn validated(self) -> Result<Self, ApiError>;
}

macro_rules! validated {
    ($($body:ty),*) => {$(
        impl Validated for $body {
            fn validated(self) -> Result<Self, ApiError> {
                self.validate()?;
                Ok(self)
            }
        }
    )*};
}

validated!(
    AppIdpRequest,
    LinkLookupRequest,
    LinkPrecheckRequest,
    CreateLinkRequest,
    ConsentDeniedRequest
);

/// The parsed and validated body; its refusal goes to a registered device
/// only (see [`DeviceCredential::checked_input`]).
async fn checked_body<T: Validated>(
    state: &AppState,
    credential: &DeviceCredential,
    body: Result<WireJson<T>, ApiError>,
) -> Result<T, ApiError> {
    let body = body.and_then(|WireJson(body)| body.validated());
    credential.checked_input(state, body).await
}

/// The calling device.
///
/// `GET /v1/device/whoami`: the calling device (an authenticated probe).
#[utoipa::path(
    get,
    path = "/v1/device/whoami",
    tag = "device",
    responses(
        (status = 200, description = "The calling device", body = DeviceInfo),
    ),
    security(("deviceCredential" = [])),
)]
async fn whoami(DeviceAuth { device }: DeviceAuth) -> Json<DeviceInfo> {
    Json(DeviceInfo {
        device_id: device.id,
        device_name: device.name,
        ssi_enabled: device.ssi_enabled,
    })
}

/// Why a stored signing key could not be rebuilt: a damaged row or a missing
/// master key version. Never key material.
#[derive(Debug, thiserror::Error)]
enum KeyRebuildError {
    #[error("sealed signing key does not open: {0}")]
    Open(#[from] SecretError),
    #[error("sealed signing key is not a 32-byte scalar")]
    Length,
    #[error("stored signing key is inconsistent: {0}")]
    Key(#[from] ssi_token::KeyError),
}

/// The link's signing key: from this node's cache, or opened with the master
/// key (AAD = link id) and rebuilt from the scalar and the stored point.
fn signing_key(
    state: &AppState,
    link: &StoredLink,
) -> Result<Arc<LinkSigningKey>, KeyRebuildError> {
    let cache = &state.signing_key_cache;
    if let Some(key) = cache.get(&link.id, link.master_key_version, &link.signing_key_public) {
        return Ok(key);
    }
    let scalar = state.master_keys.open(
        link.master_key_version,
        link.id.as_bytes(),
        &link.signing_key_sealed,
    )?;
    let scalar: Zeroizing<[u8; 32]> = Zeroizing::new(
        scalar
            .as_slice()
            .try_into()
            .map_err(|_| KeyRebuildError::Length)?,
    );
    let key = Arc::new(LinkSigningKey::from_raw(&scalar, &link.signing_key_public)?);
    cache.insert(&link.id, link.master_key_version, key.clone());
    Ok(key)
}

/// A fresh SSI token for a link (DESIGN.md section 5, "SSI token").
struct Minter<'a> {
    state: &'a AppState,
    idp_name: &'a str,
    amazon_user_id: String,
    directed_device_id: String,
    now_secs: i64,
}

impl<'a> Minter<'a> {
    fn new(state: &'a AppState, device: &DeviceRow, app: &DeviceApiApp, idp_name: &'a str) -> Self {
        Self {
            state,
            idp_name,
            amazon_user_id: state
                .directed_ids
                .user(&app.developer_id, &device.account_id),
            directed_device_id: state.directed_ids.device(&app.developer_id, &device.id),
            now_secs: state.now_ms().div_euclid(1000),
        }
    }

    fn mint(&self, link: &StoredLink) -> Result<Token, KeyRebuildError> {
        let key = signing_key(self.state, link)?;
        let request = MintRequest {
            issuer: &self.state.config.issuer,
            audience: self.idp_name,
            subject: &self.amazon_user_id,
            link_id: &link.id,
            link_token: &link.link_token,
            device_id: &self.directed_device_id,
        };
        let token = mint_ssi_token(
            &request,
            key.as_ref(),
            self.now_secs,
            &mut RandomRef(self.state.rng()),
        );
        self.state
            .metrics
            .tokens_minted
            .fetch_add(1, Ordering::Relaxed);
        Ok(Token::ssi(token))
    }
}

/// The user and their links for an IDP (the seed's `getUserAndLinks`).
///
/// `POST /v1/device/user-and-links`: the seed's `getUserAndLinks`, with a
/// fresh SSI token for every active link. One query, authentication
/// included.
#[utoipa::path(
    post,
    path = "/v1/device/user-and-links",
    tag = "device",
    request_body = AppIdpRequest,
    responses(
        (status = 200, description = "`SUCCESSFUL` with the directed `amazonUserId` and every active link of the account for the IDP, each with a fresh SSI token; or a refusal status (`FEATURE_TURNED_OFF`, `NOT_AVAILABLE`, `FAILURE`) with a `message`", body = GetUserAndLinksResponse),
    ),
    security(("deviceCredential" = [])),
)]
async fn user_and_links(
    State(state): State<AppState>,
    credential: DeviceCredential,
    body: Result<WireJson<AppIdpRequest>, ApiError>,
) -> Result<Json<GetUserAndLinksResponse>, ApiError> {
    let request = checked_body(&state, &credential, body).await?;
    let DeviceApiCall {
        device,
        context,
        links,
    } = state
        .store
        .device_api_context_with_links(
            &credential.hash,
            &request.package_id,
            &request.identity_provider_name,
        )
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    let (app, _) = match decide_for_idp(
        &device,
        &context,
        &request.package_id,
        &request.identity_provider_name,
    ) {
        Ok(found) => found,
        Err((status, message)) => {
            return Ok(Json(GetUserAndLinksResponse::status(status, Some(message))));
        }
    };
    let minter = Minter::new(&state, &device, app, &request.identity_provider_name);
    let mut out = Vec::with_capacity(links.len());
    for link in &links {
        match minter.mint(link) {
            Ok(ssi_token) => out.push(Link {
                link_id: link.id.clone(),
                amazon_user_id: minter.amazon_user_id.clone(),
                partner_user_id: link.partner_user_id.clone(),
                identity_provider_name: request.identity_provider_name.clone(),
                ssi_token,
                linked_timestamp: link.created_at,
            }),
            // A damaged row must not hide the account's other links.
            Err(e) => tracing::error!(link_id = %link.id, error = %e, "link skipped"),
        }
    }
    Ok(Json(GetUserAndLinksResponse::successful(
        minter.amazon_user_id.clone(),
        out,
    )))
}

/// Whether the partner user is linked already.
///
/// `POST /v1/device/links/lookup`: whether (account, IDP, partner user) is
/// linked already (the agent then answers `LINK_ALREADY_EXISTS`, no screen).
#[utoipa::path(
    post,
    path = "/v1/device/links/lookup",
    tag = "device",
    request_body = LinkLookupRequest,
    responses(
        (status = 200, description = "`SUCCESSFUL` with the existing `linkId` if there is one; or a refusal status with a `message`", body = LinkLookupResponse),
    ),
    security(("deviceCredential" = [])),
)]
async fn lookup_link(
    State(state): State<AppState>,
    credential: DeviceCredential,
    body: Result<WireJson<LinkLookupRequest>, ApiError>,
) -> Result<Json<LinkLookupResponse>, ApiError> {
    let request = checked_body(&state, &credential, body).await?;
    let (device, context) = load_context(&state, &credential, &request.package_id).await?;
    let idp_id = match decide_for_idp(
        &device,
        &context,
        &request.package_id,
        &request.identity_provider_name,
    ) {
        Ok((_, idp_id)) => idp_id,
        Err((status, message)) => {
            return Ok(Json(LinkLookupResponse {
                request_status: status,
                link_id: None,
                message: Some(message),
            }));
        }
    };
    let link_id = state
        .store
        .find_link_id_by_partner_user(&device.account_id, idp_id, &request.partner_user_id)
        .await?;
    Ok(Json(LinkLookupResponse {
        request_status: RequestStatus::Successful,
        link_id,
        message: None,
    }))
}

/// The request status for a sealed key that does not unseal; the detail
/// goes to the log only (no oracle).
fn unseal_status(error: &UnsealError) -> RequestStatus {
    tracing::info!(detail = %error.detail(), "sealed link signing key refused");
    match error {
        UnsealError::InvalidEncryption { .. } => RequestStatus::InvalidLinkSigningKeyEncryption,
        UnsealError::InvalidKey(_) => RequestStatus::InvalidLinkSigningKey,
    }
}

/// Unseals a `linkSigningKey` with the app's current and not yet expired
/// retired keys (DESIGN.md section 5, "Sealed link signing key").
async fn unseal(
    state: &AppState,
    app: &DeviceApiApp,
    sealed: &str,
) -> Result<Result<LinkSigningKey, UnsealError>, ApiError> {
    let grace_ms = state.config.retired_app_key_grace_secs.saturating_mul(1000);
    let rows = state
        .store
        .device_api_unsealing_keys(&app.id, state.now_ms(), grace_ms)
        .await?;
    let mut keys = Vec::with_capacity(rows.len());
    for row in &rows {
        // The rows are the keys that may unseal now; the cache only saves
        // opening them again.
        if let Some(key) = state.app_key_cache.get(&row.kid, row.master_key_version) {
            keys.push(key);
            continue;
        }
        let opened = state
            .master_keys
            .open(
                row.master_key_version,
                row.kid.as_bytes(),
                &row.private_sealed,
            )
            .ok()
            .and_then(|scalar| {
                <[u8; 32]>::try_from(scalar.as_slice())
                    .ok()
                    .map(Zeroizing::new)
            })
            .and_then(|scalar| AppKeyPair::from_private_scalar(&scalar).ok());
        match opened {
            Some(key) if key.kid() == row.kid => {
                let key = Arc::new(key);
                state
                    .app_key_cache
                    .insert(&row.kid, row.master_key_version, key.clone());
                keys.push(key);
            }
            _ => tracing::error!(kid = %row.kid, "app key does not open with the master keys"),
        }
    }
    let key_refs: Vec<&AppKeyPair> = keys.iter().map(Arc::as_ref).collect();
    Ok(ssi_token::unseal_link_signing_key(sealed, &key_refs))
}

/// Whether a sealed link signing key opens, before the consent screen.
///
/// `POST /v1/device/links/precheck`: whether the sealed key opens, before
/// the consent screen is shown. Nothing is stored.
#[utoipa::path(
    post,
    path = "/v1/device/links/precheck",
    tag = "device",
    request_body = LinkPrecheckRequest,
    responses(
        (status = 200, description = "`SUCCESSFUL` when the key opens; `INVALID_LINK_SIGNING_KEY_ENCRYPTION` or `INVALID_LINK_SIGNING_KEY` when not; or a refusal status", body = StatusResponse),
    ),
    security(("deviceCredential" = [])),
)]
async fn precheck_link(
    State(state): State<AppState>,
    credential: DeviceCredential,
    body: Result<WireJson<LinkPrecheckRequest>, ApiError>,
) -> Result<Json<StatusResponse>, ApiError> {
    let request = checked_body(&state, &credential, body).await?;
    let (device, context) = load_context(&state, &credential, &request.package_id).await?;
    let app = match decide_for_idp(
        &device,
        &context,
        &request.package_id,
        &request.identity_provider_name,
    ) {
        Ok((app, _)) => app,
        Err((status, message)) => return Ok(Json(StatusResponse::new(status, Some(message)))),
    };
    let status = match unseal(&state, app, &request.link_signing_key).await? {
        Ok(_) => RequestStatus::Successful,
        Err(e) => unseal_status(&e),
    };
    Ok(Json(StatusResponse::new(status, None)))
}

/// Stores a link the owner allowed (the seed's `linkUserAccount`).
///
/// `POST /v1/device/links`: stores a link after the owner allowed it.
#[utoipa::path(
    post,
    path = "/v1/device/links",
    tag = "device",
    request_body = CreateLinkRequest,
    responses(
        (status = 200, description = "`SUCCESSFUL` with `LINK_ESTABLISHED` or `LINK_ALREADY_EXISTS` and the `linkId`; `FAILURE` at the link limit (32 per account and IDP); the sealed key's statuses; or a refusal status", body = LinkUserAccountResponse),
    ),
    security(("deviceCredential" = [])),
)]
async fn create_link(
    State(state): State<AppState>,
    credential: DeviceCredential,
    headers: HeaderMap,
    body: Result<WireJson<CreateLinkRequest>, ApiError>,
) -> Result<Json<LinkUserAccountResponse>, ApiError> {
    let body = checked_body(&state, &credential, body).await?;
    let request = &body.request;
    let (device, context) = load_context(&state, &credential, &body.package_id).await?;
    let (app, idp_id) = match decide_for_idp(
        &device,
        &context,
        &body.package_id,
        &request.identity_provider_name,
    ) {
        Ok(found) => found,
        Err((status, message)) => {
            return Ok(Json(LinkUserAccountResponse::status(status, Some(message))));
        }
    };
    // Unsealed again: the precheck is never trusted.
    let signing_key = match unseal(&state, app, &request.link_signing_key).await? {
        Ok(key) => key,
        Err(e) => {
            return Ok(Json(LinkUserAccountResponse::status(
                unseal_status(&e),
                None,
            )));
        }
    };
    let link_id = new_id(state.rng(), "lnk_");
    let (sealed, version) = state.master_keys.seal(
        link_id.as_bytes(),
        signing_key.private_scalar(),
        state.rng(),
    );
    let now_ms = state.now_ms();
    let audit = audit_row(
        &state,
        &headers,
        &device,
        "link.create",
        &link_id,
        serde_json::json!({
            "appId": app.id,
            "packageId": body.package_id,
            "idpId": idp_id,
            "identityProviderName": request.identity_provider_name,
        }),
    );
    // Group commit on SQLite (`store::link_writer`); its own transaction on
    // PostgreSQL. Returns once the outcome is committed.
    let outcome = state
        .link_writer
        .insert_link_deduplicated(
            &NewLink {
                id: &link_id,
                account_id: &device.account_id,
                idp_id,
                partner_user_id: &request.partner_user_id,
                user_login_name: &request.user_login_name,
                link_token: &request.link_token.token,
                signing_key_sealed: &sealed,
                signing_key_public: signing_key.public_sec1(),
                master_key_version: version,
                app_id: &app.id,
                device_id: &device.id,
                now_ms,
            },
            MAX_ACTIVE_LINKS_PER_ACCOUNT_IDP,
            &audit,
        )
        .await?;
    let response = match outcome {
        LinkInsertOutcome::Established(link_id) => {
            state.metrics.links_created.fetch_add(1, Ordering::Relaxed);
            state
                .signing_key_cache
                .insert(&link_id, version, Arc::new(signing_key));
            LinkUserAccountResponse::linked(LinkAccountSuccessCode::LinkEstablished, link_id)
        }
        LinkInsertOutcome::AlreadyExists(link_id) => {
            LinkUserAccountResponse::linked(LinkAccountSuccessCode::LinkAlreadyExists, link_id)
        }
        LinkInsertOutcome::LimitReached => LinkUserAccountResponse::status(
            RequestStatus::Failure,
            Some(format!(
                "the account has {MAX_ACTIVE_LINKS_PER_ACCOUNT_IDP} active links for this \
                 identity provider, the most allowed (active links per account and IDP: \
                 {MAX_ACTIVE_LINKS_PER_ACCOUNT_IDP}); remove one first"
            )),
        ),
        LinkInsertOutcome::TurnedOff => LinkUserAccountResponse::status(
            RequestStatus::FeatureTurnedOff,
            Some("Simple Sign-In was turned off for this account or app".to_owned()),
        ),
        LinkInsertOutcome::NoAccount => return Err(account_gone()),
    };
    Ok(Json(response))
}

/// Records that the owner declined a link.
///
/// `POST /v1/device/consent-denied`: the owner chose "Not now"; recorded
/// once per (device, `eventId`) however often the agent retries.
#[utoipa::path(
    post,
    path = "/v1/device/consent-denied",
    tag = "device",
    request_body = ConsentDeniedRequest,
    responses(
        (status = 200, description = "`SUCCESSFUL` (recorded once per device and `eventId`); or a refusal status", body = StatusResponse),
    ),
    security(("deviceCredential" = [])),
)]
async fn consent_denied(
    State(state): State<AppState>,
    credential: DeviceCredential,
    body: Result<WireJson<ConsentDeniedRequest>, ApiError>,
) -> Result<Json<StatusResponse>, ApiError> {
    let request = checked_body(&state, &credential, body).await?;
    let (device, context) = load_context(&state, &credential, &request.package_id).await?;
    let app = match decide_for_idp(
        &device,
        &context,
        &request.package_id,
        &request.identity_provider_name,
    ) {
        Ok((app, _)) => app,
        Err((status, message)) => return Ok(Json(StatusResponse::new(status, Some(message)))),
    };
    let now_ms = state.now_ms();
    let is_new = state
        .store
        .insert_metric_event(&MetricEventRow {
            source: SERVER_SOURCE.to_owned(),
            idempotency_key: format!("consent-denied:{}:{}", device.id, request.event_id),
            app_id: app.id.clone(),
            event: InternalEvent::ConsentDenied.as_str().to_owned(),
            failure_reason: None,
            occurred_at: now_ms,
            received_at: now_ms,
        })
        .await?;
    if is_new {
        state
            .metrics
            .metric_events_accepted
            .fetch_add(1, Ordering::Relaxed);
    }
    Ok(Json(StatusResponse::new(RequestStatus::Successful, None)))
}

/// A fresh SSI token for the selected link.
///
/// `POST /v1/device/links/{linkId}/token`: a fresh SSI token for the link the
/// user selected (the `LOGIN_SELECTED` extension). The link must be an active
/// link of this device's account under this app's IDP.
#[utoipa::path(
    post,
    path = "/v1/device/links/{link_id}/token",
    tag = "device",
    params(("link_id" = String, Path, description = "The selected link (`linkId`)")),
    request_body = AppIdpRequest,
    responses(
        (status = 200, description = "`SUCCESSFUL` with a fresh `ssiToken`; `FAILURE` when the link is not an active link of this account under the app's IDP; or a refusal status", body = LinkTokenResponse),
    ),
    security(("deviceCredential" = [])),
)]
async fn link_token(
    State(state): State<AppState>,
    credential: DeviceCredential,
    Path(link_id): Path<String>,
    headers: HeaderMap,
    body: Result<WireJson<AppIdpRequest>, ApiError>,
) -> Result<Json<LinkTokenResponse>, ApiError> {
    let link_id = credential
        .checked_input(
            &state,
            ssi_proto::validate_link_id(&link_id)
                .map(|()| link_id)
                .map_err(ApiError::from),
        )
        .await?;
    let request = checked_body(&state, &credential, body).await?;
    let refused = |status, message: String| {
        Json(LinkTokenResponse {
            request_status: status,
            ssi_token: None,
            message: Some(message),
        })
    };
    let (device, context) = load_context(&state, &credential, &request.package_id).await?;
    let (app, idp_id) = match decide_for_idp(
        &device,
        &context,
        &request.package_id,
        &request.identity_provider_name,
    ) {
        Ok(found) => found,
        Err((status, message)) => return Ok(refused(status, message)),
    };
    let Some(link) = state
        .store
        .find_link_for_account(&link_id, &device.account_id, idp_id)
        .await?
    else {
        return Ok(refused(
            RequestStatus::Failure,
            "no such link for this app on this account".to_owned(),
        ));
    };
    let minter = Minter::new(&state, &device, app, &request.identity_provider_name);
    let ssi_token = minter
        .mint(&link)
        .map_err(|e| ApiError::internal(format!("link {}: {e}", link.id)))?;
    let audit = audit_row(
        &state,
        &headers,
        &device,
        "token.mint",
        &link.id,
        serde_json::json!({
            "appId": app.id,
            "packageId": request.package_id,
            "identityProviderName": request.identity_provider_name,
        }),
    );
    state
        .store
        .insert_sign_in_for_link(
            &NewSignIn {
                id: &new_id(state.rng(), "sgn_"),
                account_id: &device.account_id,
                app_id: &app.id,
                device_id: &device.id,
                link_id: &link.id,
                now_ms: state.now_ms(),
            },
            &audit,
        )
        .await?;
    Ok(Json(LinkTokenResponse {
        request_status: RequestStatus::Successful,
        ssi_token: Some(ssi_token),
        message: None,
    }))
}

/// Delivers a batch of app-reported metric events.
///
/// `POST /v1/device/metrics`: a batch from the agent's outbox. Each event is
/// validated on its own; the valid ones are stored in one transaction with
/// the device id as source and `eventId` as idempotency key, so every event
/// counts exactly once however often the batch is retried.
#[utoipa::path(
    post,
    path = "/v1/device/metrics",
    tag = "device",
    request_body = MetricsBatch,
    responses(
        (status = 200, description = "Each event counted in exactly one of `accepted`, `duplicates` (an earlier delivery) and `rejected` (with the field and the reason)", body = MetricsBatchResponse),
    ),
    security(("deviceCredential" = [])),
)]
async fn record_metrics(
    State(state): State<AppState>,
    DeviceAuth { device }: DeviceAuth,
    WireJson(batch): WireJson<MetricsBatch>,
) -> Result<Json<MetricsBatchResponse>, ApiError> {
    batch.validate()?;
    let now_ms = state.now_ms();
    let mut rejected = Vec::new();
    let mut valid = Vec::with_capacity(batch.events.len());
    for (index, event) in batch.events.iter().enumerate() {
        match event.validate(now_ms) {
            Ok(()) => valid.push((index, event)),
            Err(e) => rejected.push(RejectedEvent {
                index,
                field: e.field,
                message: format!("{} ({})", e.limit, e.message),
            }),
        }
    }
    let mut package_ids: Vec<&str> = valid.iter().map(|(_, e)| e.package_id.as_str()).collect();
    package_ids.sort_unstable();
    package_ids.dedup();
    let app_ids = state.store.find_app_ids_by_package(&package_ids).await?;
    let mut rows = Vec::with_capacity(valid.len());
    for (index, event) in valid {
        let Some(app_id) = app_ids.get(&event.package_id) else {
            rejected.push(RejectedEvent {
                index,
                field: "packageId".to_owned(),
                message: "no app with this package id is registered".to_owned(),
            });
            continue;
        };
        rows.push(MetricEventRow {
            source: device.id.clone(),
            idempotency_key: event.event_id.clone(),
            app_id: app_id.clone(),
            event: event.ssi_event.as_str().to_owned(),
            failure_reason: event.failure_reason.map(|r| r.as_str().to_owned()),
            occurred_at: event.timestamp,
            received_at: now_ms,
        });
    }
    rejected.sort_by_key(|r| r.index);
    let accepted = state.store.insert_metric_events(&rows).await?;
    state
        .metrics
        .metric_events_accepted
        .fetch_add(accepted as u64, Ordering::Relaxed);
    Ok(Json(MetricsBatchResponse {
        accepted,
        duplicates: rows.len() - accepted,
        rejected,
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SettingsQuery {
    package_id: String,
}

/// Whether an app can use Simple Sign-In on this device.
///
/// `GET /v1/device/settings?packageId=…`: whether the app can use SSI on this
/// device (the decision without an IDP), and its name for the screens.
#[utoipa::path(
    get,
    path = "/v1/device/settings",
    tag = "device",
    params(("packageId" = String, Query, description = "The app's package id")),
    responses(
        (status = 200, description = "Whether the app can use Simple Sign-In on this device, and its name for the screens", body = AppSettingsResponse),
        (status = 400, description = "`INVALID_REQUEST`: `packageId` missing or malformed", body = ErrorBody),
    ),
    security(("deviceCredential" = [])),
)]
async fn app_settings(
    State(state): State<AppState>,
    credential: DeviceCredential,
    query: Result<Query<SettingsQuery>, QueryRejection>,
) -> Result<Json<AppSettingsResponse>, ApiError> {
    let query = query
        .map_err(|_| ApiError::invalid("packageId: required query parameter (missing)"))
        .and_then(|Query(query)| {
            validate_package_id(&query.package_id)?;
            Ok(query)
        });
    let query = credential.checked_input(&state, query).await?;
    let (device, context) = load_context(&state, &credential, &query.package_id).await?;
    let (request_status, message) =
        match availability::decide(&facts(&device, &context), &query.package_id, None) {
            Availability::Available => (RequestStatus::Successful, None),
            Availability::Refused { status, message } => (status, Some(message)),
        };
    Ok(Json(AppSettingsResponse {
        request_status,
        app_name: context.app.as_ref().map(|app| app.display_name.clone()),
        has_icon: context.app.as_ref().map(|app| app.has_icon),
        identity_provider_name: context.app.as_ref().and_then(|app| app.idp_name.clone()),
        message,
    }))
}

/// Turns Simple Sign-In on or off for this device.
///
/// `PUT /v1/device/settings`: the device's own switch (deletes nothing).
#[utoipa::path(
    put,
    path = "/v1/device/settings",
    tag = "device",
    request_body = DeviceSettingsUpdate,
    responses(
        (status = 200, description = "The device with its new switch", body = DeviceInfo),
    ),
    security(("deviceCredential" = [])),
)]
async fn update_device_settings(
    State(state): State<AppState>,
    DeviceAuth { device }: DeviceAuth,
    headers: HeaderMap,
    WireJson(update): WireJson<DeviceSettingsUpdate>,
) -> Result<Json<DeviceInfo>, ApiError> {
    if !state
        .store
        .device_api_set_device_ssi_enabled(&device.id, update.ssi_enabled)
        .await?
    {
        return Err(ApiError::unauthorized());
    }
    audit::record(
        &state,
        request_id(&headers),
        AuditEvent {
            actor: actor(&device),
            action: "settings.device",
            account_id: Some(device.account_id.clone()),
            subject: Some(device.id.clone()),
            detail: Some(serde_json::json!({ "ssiEnabled": update.ssi_enabled }).to_string()),
        },
    )
    .await?;
    Ok(Json(DeviceInfo {
        device_id: device.id,
        device_name: device.name,
        ssi_enabled: update.ssi_enabled,
    }))
}
