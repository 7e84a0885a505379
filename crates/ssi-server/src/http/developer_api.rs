//! The developer JSON API (DESIGN.md sections 5-6): `GET /v1/session`, and under
//! `/v1/developer/` enrolment, apps, identity providers, app keys and partner
//! API keys; plus the public `GET /v1/apps/{packageId}/jwks.json` and
//! `GET /v1/apps/{packageId}/icon`.
//!
//! Authentication is the session cookie ([`SignedIn`], which also checks the
//! `X-CSRF-Token` header on unsafe methods); developer routes then require
//! `is_developer` (403 otherwise). Every lookup is scoped to the calling
//! developer, so another developer's apps, IDPs and keys are 404, exactly as
//! ids that do not exist. Every change is audited, never with a secret.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::json;
use ssi_proto::developer::{
    API_KEY_PREFIX, ApiKeyList, ApiKeyView, AppKeyList, AppKeyView, AppList, AppPublicJwk, AppView,
    BindIdentityProviderRequest, CreateApiKeyRequest, CreateAppRequest,
    CreateIdentityProviderRequest, CreatedApiKey, EnrollResponse, ICON_MAX_BYTES,
    IdentityProviderList, IdentityProviderView, Jwks, MAX_ACTIVE_API_KEYS_PER_DEVELOPER,
    MAX_APPS_PER_DEVELOPER, MAX_IDPS_PER_DEVELOPER, SessionInfo, UpdateAppRequest,
};
use ssi_token::AppKeyPair;
use zeroize::Zeroizing;

use crate::audit::{self, AuditEvent};
use crate::domain::developers::{
    Icon, KeyRuleError, check_icon, decode_icon, generated_idp_name, key_status,
};
use crate::encoding::{b64_decode, secret_hash};
use crate::http::auth::{SignedIn, request_id};
use crate::http::error::ErrorBody;
use crate::http::{ApiError, WireJson};
use crate::random::{RandomRef, new_id, new_secret};
use crate::state::AppState;
use crate::store::developers::{
    ApiKeyRow, AppKeyRow, AppRow, AppUpdate, IdpRow, KeyOutcome, NewAppKey,
};

/// Policy for served SVG icons: no script, no external loads; inline styles
/// only (SVGs commonly use them).
pub const SVG_ICON_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/session", get(session))
        .route("/v1/developer/enroll", post(enroll))
        .route("/v1/developer/apps", post(create_app).get(list_apps))
        .route(
            "/v1/developer/apps/{app_id}",
            get(get_app).patch(update_app).delete(delete_app),
        )
        .route("/v1/developer/apps/{app_id}/icon", put(put_icon))
        .route("/v1/developer/apps/{app_id}/idp", post(bind_idp))
        .route(
            "/v1/developer/apps/{app_id}/keys",
            post(create_key).get(list_keys),
        )
        .route(
            "/v1/developer/apps/{app_id}/keys/{kid}/retire",
            post(retire_key),
        )
        .route("/v1/developer/idps", post(create_idp).get(list_idps))
        .route(
            "/v1/developer/api-keys",
            post(create_api_key).get(list_api_keys),
        )
        .route("/v1/developer/api-keys/{id}/revoke", post(revoke_api_key))
        .route("/v1/apps/{package_id}/jwks.json", get(jwks))
        .route("/v1/apps/{package_id}/icon", get(icon))
}

/// The developer API's and the public routes' operations in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    session,
    enroll,
    create_app,
    list_apps,
    get_app,
    update_app,
    delete_app,
    put_icon,
    bind_idp,
    create_key,
    list_keys,
    retire_key,
    create_idp,
    list_idps,
    create_api_key,
    list_api_keys,
    revoke_api_key,
    jwks,
    icon,
))]
pub(crate) struct ApiDoc;

/// A signed-in account that has enrolled as a developer (403 otherwise).
#[derive(Debug, Clone)]
pub struct Developer(pub SignedIn);

impl Developer {
    pub fn id(&self) -> &str {
        &self.0.account.id
    }
}

impl FromRequestParts<AppState> for Developer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let signed_in = SignedIn::from_request_parts(parts, state).await?;
        if !signed_in.account.is_developer {
            return Err(ApiError::forbidden(
                "this account is not a developer; enroll with POST /v1/developer/enroll",
            ));
        }
        Ok(Self(signed_in))
    }
}

/// Opens an app key's sealed private scalar (AAD = kid) and rebuilds the key
/// pair, checking that it is the key the `kid` names. For the device API,
/// which unseals link signing keys with [`crate::store::Store::unsealing_app_keys`].
pub fn open_app_key(
    state: &AppState,
    kid: &str,
    sealed: &[u8],
    version: i64,
) -> Result<AppKeyPair, ApiError> {
    let opened = state
        .master_keys
        .open(version, kid.as_bytes(), sealed)
        .map_err(|e| ApiError::internal(format!("app key {kid}: {e}")))?;
    let scalar: Zeroizing<[u8; 32]> =
        Zeroizing::new(opened.as_slice().try_into().map_err(|_| {
            ApiError::internal(format!("app key {kid}: sealed scalar is not 32 bytes"))
        })?);
    let key = AppKeyPair::from_private_scalar(&scalar)
        .map_err(|e| ApiError::internal(format!("app key {kid}: {e}")))?;
    if key.kid() != kid {
        return Err(ApiError::internal(format!(
            "app key {kid}: the stored scalar belongs to another kid"
        )));
    }
    Ok(key)
}

/// A fresh app key pair, sealed for storage.
fn new_app_key(state: &AppState) -> Result<NewAppKey, ApiError> {
    let pair = AppKeyPair::generate(&mut RandomRef(state.rng()));
    let private = pair.to_private_jwk();
    let scalar = Zeroizing::new(
        private
            .d
            .as_deref()
            .and_then(b64_decode)
            .ok_or_else(|| ApiError::internal("a generated app key has no scalar"))?,
    );
    let kid = pair.kid().to_owned();
    let (private_sealed, master_key_version) =
        state.master_keys.seal(kid.as_bytes(), &scalar, state.rng());
    let public_jwk = serde_json::to_string(&pair.public_key().to_jwk())
        .map_err(|e| ApiError::internal(format!("public JWK: {e}")))?;
    Ok(NewAppKey {
        kid,
        private_sealed,
        master_key_version,
        public_jwk,
    })
}

async fn audit(
    state: &AppState,
    headers: &HeaderMap,
    developer: &Developer,
    action: &'static str,
    subject: &str,
    detail: serde_json::Value,
) -> Result<(), ApiError> {
    audit::record(
        state,
        request_id(headers),
        AuditEvent {
            actor: format!("account:{}", developer.id()),
            action,
            account_id: Some(developer.id().to_owned()),
            subject: Some(subject.to_owned()),
            detail: Some(detail.to_string()),
        },
    )
    .await?;
    Ok(())
}

fn public_base(state: &AppState) -> &str {
    state.config.issuer.trim_end_matches('/')
}

pub(crate) fn app_view(state: &AppState, app: &AppRow) -> AppView {
    let base = public_base(state);
    AppView {
        app_id: app.id.clone(),
        package_id: app.package_id.clone(),
        display_name: app.display_name.clone(),
        icon_url: app
            .has_icon
            .then(|| format!("{base}/v1/apps/{}/icon", app.package_id)),
        identity_provider_name: app.idp_name.clone(),
        blocked: app.blocked,
        jwks_url: format!("{base}/v1/apps/{}/jwks.json", app.package_id),
        created_at: app.created_at,
    }
}

pub(crate) fn parse_public_jwk(text: &str) -> Result<AppPublicJwk, ApiError> {
    serde_json::from_str(text).map_err(|e| ApiError::internal(format!("stored public JWK: {e}")))
}

pub(crate) fn key_view(key: &AppKeyRow, now_ms: i64) -> Result<AppKeyView, ApiError> {
    Ok(AppKeyView {
        kid: key.kid.clone(),
        status: key_status(key.retired_at, key.expires_at, now_ms),
        public_jwk: parse_public_jwk(&key.public_jwk)?,
        created_at: key.created_at,
        retired_at: key.retired_at,
        expires_at: key.expires_at,
    })
}

fn api_key_view(key: ApiKeyRow) -> ApiKeyView {
    ApiKeyView {
        id: key.id,
        label: key.label,
        created_at: key.created_at,
        revoked_at: key.revoked_at,
    }
}

fn app_not_found() -> ApiError {
    ApiError::not_found("app")
}

fn idp_not_found() -> ApiError {
    ApiError::not_found("identity provider")
}

fn key_rule_error(e: KeyRuleError) -> ApiError {
    match e {
        KeyRuleError::KeyNotFound => ApiError::not_found("app key"),
        other => ApiError::conflict(other.to_string()),
    }
}

async fn owned_app(
    state: &AppState,
    developer: &Developer,
    app_id: &str,
) -> Result<AppRow, ApiError> {
    state
        .store
        .find_app(developer.id(), app_id)
        .await?
        .ok_or_else(app_not_found)
}

fn no_store(response: impl IntoResponse) -> Response {
    let mut response = response.into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Who is signed in, and the session's CSRF token.
#[utoipa::path(
    get,
    path = "/v1/session",
    tag = "developer",
    responses(
        (status = 200, description = "Who is signed in, and the CSRF token for `X-CSRF-Token` (`Cache-Control: no-store`)", body = SessionInfo),
    ),
    security(("session" = [])),
)]
async fn session(signed_in: SignedIn) -> Response {
    no_store(Json(SessionInfo {
        account_id: signed_in.account.id,
        email: signed_in.account.email,
        is_developer: signed_in.account.is_developer,
        csrf_token: signed_in.csrf_token,
    }))
}

/// Enrolls the signed-in account as a developer (idempotent; audited).
#[utoipa::path(
    post,
    path = "/v1/developer/enroll",
    tag = "developer",
    responses(
        (status = 200, description = "The account is a developer (idempotent)", body = EnrollResponse),
    ),
    security(("session" = [], "csrfToken" = [])),
)]
async fn enroll(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed_in: SignedIn,
) -> Result<Json<EnrollResponse>, ApiError> {
    let developer = enroll_developer(&state, &headers, signed_in).await?;
    Ok(Json(EnrollResponse {
        account_id: developer.id().to_owned(),
        is_developer: true,
    }))
}

/// Makes the account a developer (idempotent; audited the first time).
/// Shared with the console.
pub(crate) async fn enroll_developer(
    state: &AppState,
    headers: &HeaderMap,
    mut signed_in: SignedIn,
) -> Result<Developer, ApiError> {
    let account_id = signed_in.account.id.clone();
    let enrolled_now = state.store.enroll_developer(&account_id).await?;
    signed_in.account.is_developer = true;
    let developer = Developer(signed_in);
    if enrolled_now {
        audit(
            state,
            headers,
            &developer,
            "developer.enroll",
            &account_id,
            json!({}),
        )
        .await?;
    }
    Ok(developer)
}

/// Registers an app, with its first app key.
#[utoipa::path(
    post,
    path = "/v1/developer/apps",
    tag = "developer",
    request_body = CreateAppRequest,
    responses(
        (status = 201, description = "The app, with its first app key", body = AppView),
        (status = 403, description = "`FORBIDDEN`: the account is not a developer, or the `X-CSRF-Token` header is missing or wrong", body = ErrorBody),
        (status = 409, description = "`CONFLICT`: the `packageId` is already registered, or the developer has 100 apps", body = ErrorBody),
    ),
    security(("session" = [], "csrfToken" = [])),
)]
async fn create_app(
    State(state): State<AppState>,
    headers: HeaderMap,
    developer: Developer,
    WireJson(request): WireJson<CreateAppRequest>,
) -> Result<(StatusCode, Json<AppView>), ApiError> {
    request.validate()?;
    let icon = match (&request.icon_base64, &request.icon_type) {
        (Some(data), Some(icon_type)) => Some(decode_icon(data, icon_type)?),
        _ => None,
    };
    let app = register_app(
        &state,
        &headers,
        &developer,
        request.package_id,
        request.display_name,
        icon,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(app_view(&state, &app))))
}

/// Registers an app with its first key, within the per-developer limit
/// (fields already validated); audited. Shared with the console.
pub(crate) async fn register_app(
    state: &AppState,
    headers: &HeaderMap,
    developer: &Developer,
    package_id: String,
    display_name: String,
    icon: Option<Icon>,
) -> Result<AppRow, ApiError> {
    if state.store.count_apps(developer.id()).await? >= MAX_APPS_PER_DEVELOPER as i64 {
        return Err(ApiError::conflict(format!(
            "a developer has at most {MAX_APPS_PER_DEVELOPER} apps; delete one first"
        )));
    }
    let app = AppRow {
        id: new_id(state.rng(), "app_"),
        developer_id: developer.id().to_owned(),
        package_id,
        display_name,
        idp_id: None,
        idp_name: None,
        blocked: false,
        has_icon: icon.is_some(),
        created_at: state.now_ms(),
    };
    let key = new_app_key(state)?;
    match state.store.insert_app(&app, icon.as_ref(), &key).await {
        Ok(()) => {}
        Err(e) if e.is_unique_violation() => {
            return Err(ApiError::conflict(format!(
                "packageId: {:?} is already registered",
                app.package_id
            )));
        }
        Err(e) => return Err(e.into()),
    }
    audit(
        state,
        headers,
        developer,
        "app.create",
        &app.id,
        json!({"packageId": app.package_id, "hasIcon": app.has_icon}),
    )
    .await?;
    audit(
        state,
        headers,
        developer,
        "app_key.create",
        &key.kid,
        json!({"appId": app.id}),
    )
    .await?;
    Ok(app)
}

/// The developer's apps.
#[utoipa::path(
    get,
    path = "/v1/developer/apps",
    tag = "developer",
    responses(
        (status = 200, description = "The developer's apps, oldest first", body = AppList),
        (status = 403, description = "`FORBIDDEN`: the account is not a developer", body = ErrorBody),
    ),
    security(("session" = [])),
)]
async fn list_apps(
    State(state): State<AppState>,
    developer: Developer,
) -> Result<Json<AppList>, ApiError> {
    let apps = state.store.list_apps(developer.id()).await?;
    Ok(Json(AppList {
        apps: apps.iter().map(|app| app_view(&state, app)).collect(),
    }))
}

/// One app of the developer.
#[utoipa::path(
    get,
    path = "/v1/developer/apps/{app_id}",
    tag = "developer",
    params(("app_id" = String, Path, description = "The app's id (`appId`)")),
    responses(
        (status = 200, description = "The app", body = AppView),
        (status = 403, description = "`FORBIDDEN`: the account is not a developer", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such app of this developer", body = ErrorBody),
    ),
    security(("session" = [])),
)]
async fn get_app(
    State(state): State<AppState>,
    developer: Developer,
    Path(app_id): Path<String>,
) -> Result<Json<AppView>, ApiError> {
    let app = owned_app(&state, &developer, &app_id).await?;
    Ok(Json(app_view(&state, &app)))
}

/// Changes an app's display name or icon (absent fields stay as they are).
#[utoipa::path(
    patch,
    path = "/v1/developer/apps/{app_id}",
    tag = "developer",
    params(("app_id" = String, Path, description = "The app's id (`appId`)")),
    request_body = UpdateAppRequest,
    responses(
        (status = 200, description = "The updated app", body = AppView),
        (status = 403, description = "`FORBIDDEN`: the account is not a developer, or the `X-CSRF-Token` header is missing or wrong", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such app of this developer", body = ErrorBody),
    ),
    security(("session" = [], "csrfToken" = [])),
)]
async fn update_app(
    State(state): State<AppState>,
    headers: HeaderMap,
    developer: Developer,
    Path(app_id): Path<String>,
    WireJson(request): WireJson<UpdateAppRequest>,
) -> Result<Json<AppView>, ApiError> {
    request.validate()?;
    let icon = match (&request.icon_base64, &request.icon_type) {
        (Some(data), Some(icon_type)) => Some(Some(decode_icon(data, icon_type)?)),
        _ if request.remove_icon => Some(None),
        _ => None,
    };
    let update = AppUpdate {
        display_name: request.display_name,
        icon,
    };
    let app = apply_update(&state, &headers, &developer, &app_id, update).await?;
    Ok(Json(app_view(&state, &app)))
}

/// Changes the developer's app (fields already validated); audited with the
/// names of the changed fields. Shared with the console.
pub(crate) async fn apply_update(
    state: &AppState,
    headers: &HeaderMap,
    developer: &Developer,
    app_id: &str,
    update: AppUpdate,
) -> Result<AppRow, ApiError> {
    if !state
        .store
        .update_app(developer.id(), app_id, &update)
        .await?
    {
        return Err(app_not_found());
    }
    let mut fields = Vec::new();
    if update.display_name.is_some() {
        fields.push("displayName");
    }
    match &update.icon {
        Some(Some(_)) => fields.push("icon"),
        Some(None) => fields.push("removeIcon"),
        None => {}
    }
    audit(
        state,
        headers,
        developer,
        "app.update",
        app_id,
        json!({ "fields": fields }),
    )
    .await?;
    owned_app(state, developer, app_id).await
}

/// The raw icon body, for icons whose base64 would not fit a 64 KiB JSON body.
struct IconBody {
    content_type: String,
    bytes: Vec<u8>,
}

impl FromRequest<AppState> for IconBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let bytes = Bytes::from_request(request, state).await.map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "TOO_LARGE",
                format!("icon: must be at most {ICON_MAX_BYTES} bytes"),
            )
        })?;
        Ok(Self {
            content_type,
            bytes: bytes.to_vec(),
        })
    }
}

/// Sets an app's icon from a raw PNG or SVG body (for icons too big for base64 in JSON).
#[utoipa::path(
    put,
    path = "/v1/developer/apps/{app_id}/icon",
    tag = "developer",
    params(("app_id" = String, Path, description = "The app's id (`appId`)")),
    request_body(
        description = "The raw icon, at most 65536 bytes, typed by `Content-Type`",
        content(("image/png"), ("image/svg+xml"))
    ),
    responses(
        (status = 200, description = "The app with its new icon", body = AppView),
        (status = 400, description = "`INVALID_REQUEST`: not a PNG (`image/png`) or an SVG (`image/svg+xml`) as the `Content-Type` says", body = ErrorBody),
        (status = 403, description = "`FORBIDDEN`: the account is not a developer, or the `X-CSRF-Token` header is missing or wrong", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such app of this developer", body = ErrorBody),
        (status = 413, description = "`TOO_LARGE`: the icon is over 65536 bytes", body = ErrorBody),
    ),
    security(("session" = [], "csrfToken" = [])),
)]
async fn put_icon(
    State(state): State<AppState>,
    headers: HeaderMap,
    developer: Developer,
    Path(app_id): Path<String>,
    body: IconBody,
) -> Result<Json<AppView>, ApiError> {
    let icon = check_icon("icon", body.bytes, &body.content_type)?;
    let update = AppUpdate {
        display_name: None,
        icon: Some(Some(icon)),
    };
    let app = apply_update(&state, &headers, &developer, &app_id, update).await?;
    Ok(Json(app_view(&state, &app)))
}

/// Deletes an app, with its keys and its links.
#[utoipa::path(
    delete,
    path = "/v1/developer/apps/{app_id}",
    tag = "developer",
    params(("app_id" = String, Path, description = "The app's id (`appId`)")),
    responses(
        (status = 204, description = "Deleted, with its keys and its links"),
        (status = 403, description = "`FORBIDDEN`: the account is not a developer, or the `X-CSRF-Token` header is missing or wrong", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such app of this developer", body = ErrorBody),
    ),
    security(("session" = [], "csrfToken" = [])),
)]
async fn delete_app(
    State(state): State<AppState>,
    headers: HeaderMap,
    developer: Developer,
    Path(app_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    remove_app(&state, &headers, &developer, &app_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes the developer's app with its keys; audited. Shared with the
/// console.
pub(crate) async fn remove_app(
    state: &AppState,
    headers: &HeaderMap,
    developer: &Developer,
    app_id: &str,
) -> Result<(), ApiError> {
    let app = owned_app(state, developer, app_id).await?;
    if !state.store.delete_app(developer.id(), app_id).await? {
        return Err(app_not_found());
    }
    audit(
        state,
        headers,
        developer,
        "app.delete",
        app_id,
        json!({"packageId": app.package_id}),
    )
    .await?;
    Ok(())
}

/// Creates an identity provider ("enable Simple Sign-In"), named or generated.
#[utoipa::path(
    post,
    path = "/v1/developer/idps",
    tag = "developer",
    request_body = CreateIdentityProviderRequest,
    responses(
        (status = 201, description = "The identity provider", body = IdentityProviderView),
        (status = 403, description = "`FORBIDDEN`: the account is not a developer, or the `X-CSRF-Token` header is missing or wrong", body = ErrorBody),
        (status = 409, description = "`CONFLICT`: the name is taken, or the developer has 100 identity providers", body = ErrorBody),
    ),
    security(("session" = [], "csrfToken" = [])),
)]
async fn create_idp(
    State(state): State<AppState>,
    headers: HeaderMap,
    developer: Developer,
    WireJson(request): WireJson<CreateIdentityProviderRequest>,
) -> Result<(StatusCode, Json<IdentityProviderView>), ApiError> {
    request.validate()?;
    let idp =
        create_identity_provider(&state, &headers, &developer, request.identity_provider_name)
            .await?;
    let view = IdentityProviderView {
        identity_provider_name: idp.name,
        apps: Vec::new(),
        created_at: idp.created_at,
    };
    Ok((StatusCode::CREATED, Json(view)))
}

/// Creates an identity provider with the given (validated) name or a
/// generated one, within the per-developer limit; audited. Shared with the
/// console.
pub(crate) async fn create_identity_provider(
    state: &AppState,
    headers: &HeaderMap,
    developer: &Developer,
    given: Option<String>,
) -> Result<IdpRow, ApiError> {
    if state.store.count_idps(developer.id()).await? >= MAX_IDPS_PER_DEVELOPER as i64 {
        return Err(ApiError::conflict(format!(
            "a developer has at most {MAX_IDPS_PER_DEVELOPER} identity providers"
        )));
    }
    // A generated name is retried on the (unlikely) collision; a given one is not.
    let attempts = if given.is_some() { 1 } else { 3 };
    for _ in 0..attempts {
        let name = given.clone().unwrap_or_else(|| {
            let mut random = [0u8; 8];
            state.rng().fill(&mut random);
            generated_idp_name(random)
        });
        let idp = IdpRow {
            id: new_id(state.rng(), "idp_"),
            developer_id: developer.id().to_owned(),
            name,
            created_at: state.now_ms(),
        };
        match state.store.insert_idp(&idp).await {
            Ok(()) => {
                audit(
                    state,
                    headers,
                    developer,
                    "idp.create",
                    &idp.id,
                    json!({"identityProviderName": idp.name, "generated": given.is_none()}),
                )
                .await?;
                return Ok(idp);
            }
            Err(e) if e.is_unique_violation() && given.is_some() => {
                return Err(ApiError::conflict(format!(
                    "identityProviderName: {:?} is already taken",
                    idp.name
                )));
            }
            Err(e) if e.is_unique_violation() => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::internal(
        "three generated identity provider names collided",
    ))
}

/// The developer's identity providers, with their apps.
#[utoipa::path(
    get,
    path = "/v1/developer/idps",
    tag = "developer",
    responses(
        (status = 200, description = "The developer's identity providers, oldest first", body = IdentityProviderList),
        (status = 403, description = "`FORBIDDEN`: the account is not a developer", body = ErrorBody),
    ),
    security(("session" = [])),
)]
async fn list_idps(
    State(state): State<AppState>,
    developer: Developer,
) -> Result<Json<IdentityProviderList>, ApiError> {
    let idps = state.store.list_idps(developer.id()).await?;
    Ok(Json(IdentityProviderList {
        identity_providers: idps
            .into_iter()
            .map(|(idp, apps)| IdentityProviderView {
                identity_provider_name: idp.name,
                apps,
                created_at: idp.created_at,
            })
            .collect(),
    }))
}

/// Binds an app to one of the developer's identity providers.
#[utoipa::path(
    post,
    path = "/v1/developer/apps/{app_id}/idp",
    tag = "developer",
    params(("app_id" = String, Path, description = "The app's id (`appId`)")),
    request_body = BindIdentityProviderRequest,
    responses(
        (status = 200, description = "The app, now bound to the identity provider", body = AppView),
        (status = 403, description = "`FORBIDDEN`: the account is not a developer, or the `X-CSRF-Token` header is missing or wrong", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such app or identity provider of this developer", body = ErrorBody),
    ),
    security(("session" = [], "csrfToken" = [])),
)]
async fn bind_idp(
    State(state): State<AppState>,
    headers: HeaderMap,
    developer: Developer,
    Path(app_id): Path<String>,
    WireJson(request): WireJson<BindIdentityProviderRequest>,
) -> Result<Json<AppView>, ApiError> {
    request.validate()?;
    let app = bind_app(
        &state,
        &headers,
        &developer,
        &app_id,
        &request.identity_provider_name,
    )
    .await?;
    Ok(Json(app_view(&state, &app)))
}

/// Binds the developer's app to one of the developer's identity providers
/// (by its validated name); audited. Shared with the console.
pub(crate) async fn bind_app(
    state: &AppState,
    headers: &HeaderMap,
    developer: &Developer,
    app_id: &str,
    idp_name: &str,
) -> Result<AppRow, ApiError> {
    let app = owned_app(state, developer, app_id).await?;
    let idp = state
        .store
        .find_idp_by_name(idp_name)
        .await?
        .filter(|idp| idp.developer_id == developer.id())
        .ok_or_else(idp_not_found)?;
    if !state
        .store
        .bind_app_idp(developer.id(), app_id, &idp.id)
        .await?
    {
        // The app or the IDP went away in between.
        return Err(app_not_found());
    }
    audit(
        state,
        headers,
        developer,
        "app.bind_idp",
        app_id,
        json!({"identityProviderName": idp.name, "previous": app.idp_name}),
    )
    .await?;
    owned_app(state, developer, app_id).await
}

/// Adds an app key (rotation: publish the new key, then retire the old one).
#[utoipa::path(
    post,
    path = "/v1/developer/apps/{app_id}/keys",
    tag = "developer",
    params(("app_id" = String, Path, description = "The app's id (`appId`)")),
    responses(
        (status = 201, description = "A new current app key (rotation)", body = AppKeyView),
        (status = 403, description = "`FORBIDDEN`: the account is not a developer, or the `X-CSRF-Token` header is missing or wrong", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such app of this developer", body = ErrorBody),
        (status = 409, description = "`CONFLICT`: the app has 10 current keys", body = ErrorBody),
    ),
    security(("session" = [], "csrfToken" = [])),
)]
async fn create_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    developer: Developer,
    Path(app_id): Path<String>,
) -> Result<(StatusCode, Json<AppKeyView>), ApiError> {
    let row = add_app_key(&state, &headers, &developer, &app_id).await?;
    Ok((StatusCode::CREATED, Json(key_view(&row, state.now_ms())?)))
}

/// Adds a current key to the developer's app, within the per-app limit;
/// audited. Shared with the console.
pub(crate) async fn add_app_key(
    state: &AppState,
    headers: &HeaderMap,
    developer: &Developer,
    app_id: &str,
) -> Result<AppKeyRow, ApiError> {
    let key = new_app_key(state)?;
    let now = state.now_ms();
    match state
        .store
        .insert_app_key(developer.id(), app_id, &key, now)
        .await?
    {
        KeyOutcome::Done(()) => {}
        KeyOutcome::AppNotFound => return Err(app_not_found()),
        KeyOutcome::Refused(e) => return Err(key_rule_error(e)),
    }
    audit(
        state,
        headers,
        developer,
        "app_key.create",
        &key.kid,
        json!({"appId": app_id}),
    )
    .await?;
    Ok(AppKeyRow {
        kid: key.kid,
        app_id: app_id.to_owned(),
        public_jwk: key.public_jwk,
        created_at: now,
        retired_at: None,
        expires_at: None,
    })
}

/// An app's keys: current, retired and expired.
#[utoipa::path(
    get,
    path = "/v1/developer/apps/{app_id}/keys",
    tag = "developer",
    params(("app_id" = String, Path, description = "The app's id (`appId`)")),
    responses(
        (status = 200, description = "Every key of the app, oldest first", body = AppKeyList),
        (status = 403, description = "`FORBIDDEN`: the account is not a developer", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such app of this developer", body = ErrorBody),
    ),
    security(("session" = [])),
)]
async fn list_keys(
    State(state): State<AppState>,
    developer: Developer,
    Path(app_id): Path<String>,
) -> Result<Json<AppKeyList>, ApiError> {
    let app = owned_app(&state, &developer, &app_id).await?;
    let now = state.now_ms();
    let keys = state
        .store
        .list_app_keys(&app.id)
        .await?
        .iter()
        .map(|key| key_view(key, now))
        .collect::<Result<_, _>>()?;
    Ok(Json(AppKeyList { keys }))
}

/// Retires an app key: unpublished at once, still unsealing until the grace period ends.
#[utoipa::path(
    post,
    path = "/v1/developer/apps/{app_id}/keys/{kid}/retire",
    tag = "developer",
    params(("app_id" = String, Path, description = "The app's id (`appId`)"),
        ("kid" = String, Path, description = "The key's id")),
    responses(
        (status = 200, description = "The retired key; sealed keys to it are accepted until `expiresAt`", body = AppKeyView),
        (status = 403, description = "`FORBIDDEN`: the account is not a developer, or the `X-CSRF-Token` header is missing or wrong", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such app of this developer, or no such key of the app", body = ErrorBody),
        (status = 409, description = "`CONFLICT`: the key is already retired, or it is the app's last current key", body = ErrorBody),
    ),
    security(("session" = [], "csrfToken" = [])),
)]
async fn retire_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    developer: Developer,
    Path((app_id, kid)): Path<(String, String)>,
) -> Result<Json<AppKeyView>, ApiError> {
    let key = retire_app_key(&state, &headers, &developer, &app_id, &kid).await?;
    Ok(Json(key_view(&key, state.now_ms())?))
}

/// Retires a key of the developer's app (never the last current one);
/// audited. Shared with the console.
pub(crate) async fn retire_app_key(
    state: &AppState,
    headers: &HeaderMap,
    developer: &Developer,
    app_id: &str,
    kid: &str,
) -> Result<AppKeyRow, ApiError> {
    let key = match state
        .store
        .retire_app_key(
            developer.id(),
            app_id,
            kid,
            state.now_ms(),
            state.config.retired_app_key_grace_secs,
        )
        .await?
    {
        KeyOutcome::Done(key) => key,
        KeyOutcome::AppNotFound => return Err(app_not_found()),
        KeyOutcome::Refused(e) => return Err(key_rule_error(e)),
    };
    audit(
        state,
        headers,
        developer,
        "app_key.retire",
        &key.kid,
        json!({"appId": app_id, "expiresAt": key.expires_at}),
    )
    .await?;
    Ok(key)
}

/// Creates a partner API key; the key is shown only in this answer.
#[utoipa::path(
    post,
    path = "/v1/developer/api-keys",
    tag = "developer",
    request_body = CreateApiKeyRequest,
    responses(
        (status = 201, description = "The key, shown this once (`Cache-Control: no-store`)", body = CreatedApiKey),
        (status = 403, description = "`FORBIDDEN`: the account is not a developer, or the `X-CSRF-Token` header is missing or wrong", body = ErrorBody),
        (status = 409, description = "`CONFLICT`: the developer has 20 active keys", body = ErrorBody),
    ),
    security(("session" = [], "csrfToken" = [])),
)]
async fn create_api_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    developer: Developer,
    WireJson(request): WireJson<CreateApiKeyRequest>,
) -> Result<Response, ApiError> {
    request.validate()?;
    let (row, secret) = create_partner_api_key(&state, &headers, &developer, request.label).await?;
    let created = CreatedApiKey {
        key: api_key_view(row),
        api_key: secret.to_string(),
    };
    Ok(no_store((StatusCode::CREATED, Json(created))))
}

/// Creates a partner API key with a validated label, within the
/// per-developer limit; stores its hash only and returns the key itself,
/// to be shown once. Audited without the key. Shared with the console.
pub(crate) async fn create_partner_api_key(
    state: &AppState,
    headers: &HeaderMap,
    developer: &Developer,
    label: String,
) -> Result<(ApiKeyRow, Zeroizing<String>), ApiError> {
    if state.store.count_active_api_keys(developer.id()).await?
        >= MAX_ACTIVE_API_KEYS_PER_DEVELOPER as i64
    {
        return Err(ApiError::conflict(format!(
            "a developer has at most {MAX_ACTIVE_API_KEYS_PER_DEVELOPER} active API keys; revoke one first"
        )));
    }
    let secret = Zeroizing::new(new_secret(state.rng(), API_KEY_PREFIX));
    let row = ApiKeyRow {
        id: new_id(state.rng(), "pk_"),
        developer_id: developer.id().to_owned(),
        label,
        created_at: state.now_ms(),
        revoked_at: None,
    };
    state
        .store
        .insert_api_key(&row, &secret_hash(&secret))
        .await?;
    audit(
        state,
        headers,
        developer,
        "api_key.create",
        &row.id,
        json!({"label": row.label}),
    )
    .await?;
    Ok((row, secret))
}

/// The developer's partner API keys, without the secrets.
#[utoipa::path(
    get,
    path = "/v1/developer/api-keys",
    tag = "developer",
    responses(
        (status = 200, description = "Every key of the developer without the secrets, revoked ones included", body = ApiKeyList),
        (status = 403, description = "`FORBIDDEN`: the account is not a developer", body = ErrorBody),
    ),
    security(("session" = [])),
)]
async fn list_api_keys(
    State(state): State<AppState>,
    developer: Developer,
) -> Result<Json<ApiKeyList>, ApiError> {
    let keys = state.store.list_api_keys(developer.id()).await?;
    Ok(Json(ApiKeyList {
        api_keys: keys.into_iter().map(api_key_view).collect(),
    }))
}

/// Revokes a partner API key (idempotent).
#[utoipa::path(
    post,
    path = "/v1/developer/api-keys/{id}/revoke",
    tag = "developer",
    params(("id" = String, Path, description = "The key's id (not the key)")),
    responses(
        (status = 200, description = "The revoked key (idempotent)", body = ApiKeyView),
        (status = 403, description = "`FORBIDDEN`: the account is not a developer, or the `X-CSRF-Token` header is missing or wrong", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such key of this developer", body = ErrorBody),
    ),
    security(("session" = [], "csrfToken" = [])),
)]
async fn revoke_api_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    developer: Developer,
    Path(id): Path<String>,
) -> Result<Json<ApiKeyView>, ApiError> {
    let key = revoke_partner_api_key(&state, &headers, &developer, &id).await?;
    Ok(Json(api_key_view(key)))
}

/// Revokes one of the developer's partner API keys (idempotent; audited
/// once). Shared with the console.
pub(crate) async fn revoke_partner_api_key(
    state: &AppState,
    headers: &HeaderMap,
    developer: &Developer,
    id: &str,
) -> Result<ApiKeyRow, ApiError> {
    let (key, revoked_now) = state
        .store
        .revoke_api_key(developer.id(), id, state.now_ms())
        .await?
        .ok_or_else(|| ApiError::not_found("API key"))?;
    if revoked_now {
        audit(
            state,
            headers,
            developer,
            "api_key.revoke",
            &key.id,
            json!({"label": key.label}),
        )
        .await?;
    }
    Ok(key)
}

/// An app's current public keys (JWKS), to seal link signing keys to.
#[utoipa::path(
    get,
    path = "/v1/apps/{package_id}/jwks.json",
    tag = "public",
    params(("package_id" = String, Path, description = "The app's package id")),
    responses(
        (status = 200, description = "The app's current public keys (`Cache-Control: max-age=300`)", body = Jwks),
        (status = 404, description = "`NOT_FOUND`: no such app", body = ErrorBody),
    ),
)]
async fn jwks(
    State(state): State<AppState>,
    Path(package_id): Path<String>,
) -> Result<Response, ApiError> {
    let keys = state
        .store
        .current_public_keys(&package_id)
        .await?
        .ok_or_else(app_not_found)?
        .iter()
        .map(|text| parse_public_jwk(text))
        .collect::<Result<_, _>>()?;
    Ok((
        [(header::CACHE_CONTROL, "max-age=300")],
        Json(Jwks { keys }),
    )
        .into_response())
}

/// An app's icon.
#[utoipa::path(
    get,
    path = "/v1/apps/{package_id}/icon",
    tag = "public",
    params(("package_id" = String, Path, description = "The app's package id")),
    responses(
        (status = 200, description = "The app's icon, served with a policy that runs no script (`Cache-Control: max-age=300`)",
            content(("image/png"), ("image/svg+xml"))),
        (status = 404, description = "`NOT_FOUND`: no such app, or it has no icon", body = ErrorBody),
    ),
)]
async fn icon(
    State(state): State<AppState>,
    Path(package_id): Path<String>,
) -> Result<Response, ApiError> {
    let (content_type, bytes) = state
        .store
        .find_app_icon(&package_id)
        .await?
        .ok_or_else(|| ApiError::not_found("icon"))?;
    let content_type = HeaderValue::from_str(&content_type)
        .map_err(|_| ApiError::internal("stored icon type is not a header value"))?;
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(SVG_ICON_CSP),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("max-age=300"),
            ),
        ],
        bytes,
    )
        .into_response())
}
