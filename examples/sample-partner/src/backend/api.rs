//! The backend's routes. Every error is `{error, message}` with a stable code;
//! internal details go to the log only.

use std::collections::BTreeMap;

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use ssi_token::{
    LINK_TOKEN_SCHEMA, Random, VerifiedSsiToken, VerifyError, VerifyOptions, issue_link,
    verify_ssi_token,
};

use super::store::UserRow;
use super::{Backend, BackendError};
use crate::wire::{
    ErrorBody, EventsView, LinkTokenRequest, LinkTokenResponse, LoginName, LoginNamesRequest,
    LoginNamesResponse, RecordLinkRequest, RefusedLink, SessionView, SignInMethod, SignInRequest,
    SsiSignInRequest, TokenView, UserView,
};

/// Request bodies: at most this many bytes (as the platform's own limit).
pub const MAX_BODY_BYTES: usize = 65536;
pub const USERNAME_MAX_CHARS: usize = 64;
/// Bounds the argon2 work one request can cause.
pub const PASSWORD_MAX_BYTES: usize = 256;
/// `amazonUserId`, `linkId`: at most this many bytes.
pub const ID_MAX_BYTES: usize = 256;
/// `POST /api/login-names`: 1 to this many links (the platform's limit for
/// a login selection).
pub const LOGIN_NAMES_MAX_LINKS: usize = 32;
const SESSION_PREFIX: &str = "sps_";

pub fn routes(backend: Backend) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/api/sign-in", post(sign_in))
        .route("/api/me", get(me))
        .route("/api/sign-out", post(sign_out))
        .route("/api/link-token", post(link_token))
        .route("/api/links", post(record_link))
        .route("/api/login-names", post(login_names))
        .route("/api/ssi-sign-in", post(ssi_sign_in))
        .route("/api/events", get(events))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(backend)
}

/// An error leaving the backend: the caller sees `code` and `message`; the
/// log also sees `internal`.
#[derive(Debug)]
pub struct Failure {
    status: StatusCode,
    code: &'static str,
    message: String,
    internal: Option<String>,
}

impl Failure {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            internal: None,
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_REQUEST", message)
    }

    fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "sign in first (Authorization: Bearer <session>)",
        )
    }

    fn internal(detail: impl Into<String>) -> Self {
        Self {
            internal: Some(detail.into()),
            ..Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "internal error",
            )
        }
    }
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Self::internal(format!("database: {e}"))
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        if let Some(internal) = &self.internal {
            tracing::error!(target: "sample_partner", code = self.code, "{internal}");
        }
        let body = ErrorBody {
            error: self.code.to_owned(),
            message: self.message,
        };
        (self.status, Json(body)).into_response()
    }
}

/// A JSON body whose errors name the field (serde's message).
struct Body<T>(T);

impl<T: DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for Body<T> {
    type Rejection = Failure;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, Failure> {
        let bytes = Bytes::from_request(request, state).await.map_err(|_| {
            Failure::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "TOO_LARGE",
                format!("request body over the limit of {MAX_BODY_BYTES} bytes"),
            )
        })?;
        serde_json::from_slice(&bytes)
            .map(Body)
            .map_err(|e| Failure::invalid(format!("request body: {e}")))
    }
}

/// The signed-in user of a request.
struct Session {
    user: UserRow,
    method: SignInMethod,
    token_hash: String,
}

impl FromRequestParts<Backend> for Session {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, backend: &Backend) -> Result<Self, Failure> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(Failure::unauthorized)?;
        let token_hash = sha256_b64(token);
        let (user, method) = backend
            .0
            .store
            .find_session(&token_hash)
            .await?
            .ok_or_else(Failure::unauthorized)?;
        Ok(Self {
            user,
            method,
            token_hash,
        })
    }
}

pub fn hash_password(password: &str, salt: &[u8; 16]) -> Result<String, BackendError> {
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), salt)
        .map(|hash| hash.to_string())
        .map_err(|_| BackendError::Hashing)
}

/// `prefix` + 256 random bits, base64url.
pub fn new_token(rng: &mut dyn Random, prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rng.fill(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

fn sha256_b64(text: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// A hash no password matches in practice: unknown usernames are checked
/// against it so that they take as long as known ones.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy, never accepted", &[7; 16]).unwrap_or_default())
}

fn check_length(field: &str, value: &str, max_bytes: usize) -> Result<(), Failure> {
    if value.is_empty() || value.len() > max_bytes {
        return Err(Failure::invalid(format!(
            "{field}: must be 1 to {max_bytes} bytes (got {})",
            value.len()
        )));
    }
    Ok(())
}

impl Backend {
    async fn open_session(
        &self,
        user: &UserRow,
        method: SignInMethod,
    ) -> Result<SessionView, Failure> {
        let token = new_token(
            self.0.rng.lock().expect("rng lock").as_mut(),
            SESSION_PREFIX,
        );
        let now = self.0.clock.now_secs();
        self.0
            .store
            .insert_session(&sha256_b64(&token), &user.id, method, now)
            .await?;
        Ok(SessionView {
            session: token,
            user: user.view(),
            method,
        })
    }

    /// The ten verification steps of the partner library, with this
    /// backend's link-token keys, IDP name, the platform's issuer and the
    /// replay store.
    fn verify(&self, token: &TokenView) -> Result<VerifiedSsiToken, VerifyError> {
        let options = VerifyOptions {
            link_token_keys: &self.0.link_token_keys,
            identity_provider_name: &self.0.identity_provider_name,
            issuer: &self.0.issuer,
        };
        verify_ssi_token(
            &token.schema,
            &token.token,
            &options,
            self.0.clock.now_secs(),
            &self.0.replay,
        )
    }
}

async fn sign_in(
    State(backend): State<Backend>,
    Body(request): Body<SignInRequest>,
) -> Result<Json<SessionView>, Failure> {
    let username = request.username.trim().to_lowercase();
    if username.is_empty() || username.chars().count() > USERNAME_MAX_CHARS {
        return Err(Failure::invalid(format!(
            "username: must be 1 to {USERNAME_MAX_CHARS} characters"
        )));
    }
    check_length("password", &request.password, PASSWORD_MAX_BYTES)?;
    let user = backend.0.store.find_user_by_name(&username).await?;
    let phc = user
        .as_ref()
        .map_or_else(|| decoy_hash().to_owned(), |u| u.password_hash.clone());
    let password = request.password;
    let matches = tokio::task::spawn_blocking(move || {
        Argon2::default()
            .verify_password(password.as_bytes(), phc.as_str())
            .is_ok()
    })
    .await
    .map_err(|e| Failure::internal(format!("password check: {e}")))?;
    let Some(user) = user.filter(|_| matches) else {
        backend.record(format!(
            "refused a password sign-in as {username:?}: wrong username or password"
        ));
        return Err(Failure::new(
            StatusCode::UNAUTHORIZED,
            "WRONG_PASSWORD",
            "wrong username or password",
        ));
    };
    let session = backend.open_session(&user, SignInMethod::Password).await?;
    backend.record(format!("{} signed in with a password", user.username));
    Ok(Json(session))
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct MeView {
    user: UserView,
    method: SignInMethod,
    /// The link ids recorded for this user.
    links: Vec<String>,
}

async fn me(State(backend): State<Backend>, session: Session) -> Result<Json<MeView>, Failure> {
    let links = backend.0.store.list_links(&session.user.id).await?;
    Ok(Json(MeView {
        user: session.user.view(),
        method: session.method,
        links,
    }))
}

async fn sign_out(State(backend): State<Backend>, session: Session) -> Result<StatusCode, Failure> {
    backend.0.store.delete_session(&session.token_hash).await?;
    backend.record(format!("{} signed out", session.user.username));
    Ok(StatusCode::NO_CONTENT)
}

/// Step "Account Linking" of the seed, backend side: a fresh link key pair,
/// the link token naming this user and the platform user, and the link
/// signing key sealed to the app's current public key.
async fn link_token(
    State(backend): State<Backend>,
    session: Session,
    Body(request): Body<LinkTokenRequest>,
) -> Result<Json<LinkTokenResponse>, Failure> {
    check_length("amazonUserId", &request.amazon_user_id, ID_MAX_BYTES)?;
    let app_key = backend.0.app_keys.current().await.map_err(|e| Failure {
        internal: Some(e.to_string()),
        ..Failure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "APP_KEY_UNAVAILABLE",
            "the app's public key could not be fetched from the platform; retry",
        )
    })?;
    let link_token_key = backend
        .0
        .link_token_keys
        .find(&backend.0.link_token_kid)
        .ok_or_else(|| Failure::internal("the link-token key is missing"))?;
    let user = &session.user;
    let issued = {
        let mut rng = backend.0.rng.lock().expect("rng lock");
        issue_link(
            &user.id,
            &request.amazon_user_id,
            BTreeMap::new(),
            link_token_key,
            &app_key,
            backend.0.clock.now_secs(),
            rng.as_mut(),
        )
    };
    backend.record(format!(
        "issued a link token for {} and sealed a new link signing key to the app's key {}",
        user.username,
        app_key.kid()
    ));
    Ok(Json(LinkTokenResponse {
        partner_user_id: user.id.clone(),
        user_login_name: user.username.clone(),
        link_token: TokenView {
            token: issued.link_token,
            schema: LINK_TOKEN_SCHEMA.to_owned(),
        },
        link_signing_key: issued.sealed_signing_key,
    }))
}

async fn record_link(
    State(backend): State<Backend>,
    session: Session,
    Body(request): Body<RecordLinkRequest>,
) -> Result<StatusCode, Failure> {
    check_length("linkId", &request.link_id, ID_MAX_BYTES)?;
    let now = backend.0.clock.now_secs();
    if !backend
        .0
        .store
        .record_link(&request.link_id, &session.user.id, now)
        .await?
    {
        return Err(Failure::new(
            StatusCode::CONFLICT,
            "LINK_OF_ANOTHER_USER",
            "linkId: recorded for another user",
        ));
    }
    backend.record(format!(
        "recorded link {} for {}",
        request.link_id, session.user.username
    ));
    Ok(StatusCode::NO_CONTENT)
}

/// The names for the login selection. A link's name is given only with its
/// valid SSI token (which this uses up: the sign-in then uses the fresh
/// token that the login selection returns).
async fn login_names(
    State(backend): State<Backend>,
    Body(request): Body<LoginNamesRequest>,
) -> Result<Json<LoginNamesResponse>, Failure> {
    if request.links.is_empty() || request.links.len() > LOGIN_NAMES_MAX_LINKS {
        return Err(Failure::invalid(format!(
            "links: must be 1 to {LOGIN_NAMES_MAX_LINKS} entries (got {})",
            request.links.len()
        )));
    }
    let mut names = Vec::new();
    let mut refused = Vec::new();
    for link in request.links {
        let refuse = |error: &str| RefusedLink {
            link_id: link.link_id.clone(),
            error: error.to_owned(),
        };
        match backend.verify(&link.ssi_token) {
            Ok(verified) if verified.link_id != link.link_id => {
                refused.push(refuse("LINK_ID_MISMATCH"))
            }
            Ok(verified) => match backend.0.store.find_user(&verified.partner_user_id).await? {
                Some(user) => names.push(LoginName {
                    link_id: link.link_id,
                    login_name: user.username,
                }),
                None => refused.push(refuse("NO_SUCH_USER")),
            },
            Err(e) => {
                tracing::info!(target: "sample_partner", error = %e, "login name refused");
                refused.push(refuse(e.kind.code()));
            }
        }
    }
    backend.record(format!(
        "verified SSI tokens to name {} login choice(s){}",
        names.len(),
        if refused.is_empty() {
            String::new()
        } else {
            format!(", refused {}", refused.len())
        }
    ));
    Ok(Json(LoginNamesResponse { names, refused }))
}

/// Sign-in from the chosen link: the SSI token is verified in ten steps
/// (schema, format, claims, link token, its key, signature, subject,
/// audience and issuer, time, replay), then the link token's
/// `partnerUserId` is signed in.
async fn ssi_sign_in(
    State(backend): State<Backend>,
    Body(request): Body<SsiSignInRequest>,
) -> Result<Json<SessionView>, Failure> {
    let verified = match backend.verify(&request.ssi_token) {
        Ok(verified) => verified,
        Err(e) => {
            tracing::info!(target: "sample_partner", error = %e, "SSI token refused");
            backend.record(format!(
                "refused an SSI token: {} (verification step {})",
                e.kind.code(),
                e.kind.step()
            ));
            return Err(Failure::new(
                StatusCode::UNAUTHORIZED,
                e.kind.code(),
                format!(
                    "the SSI token was refused at verification step {}",
                    e.kind.step()
                ),
            ));
        }
    };
    let Some(user) = backend.0.store.find_user(&verified.partner_user_id).await? else {
        backend.record("refused an SSI token: its user no longer exists".to_owned());
        return Err(Failure::new(
            StatusCode::NOT_FOUND,
            "NO_SUCH_USER",
            "the linked user no longer exists",
        ));
    };
    backend
        .0
        .store
        .touch_link(&verified.link_id, &user.id, backend.0.clock.now_secs())
        .await?;
    let session = backend
        .open_session(&user, SignInMethod::SimpleSignIn)
        .await?;
    backend.record(format!(
        "{} signed in with Simple Sign-In: SSI token verified (link {}, device {})",
        user.username,
        short(&verified.link_id),
        short(&verified.device_id)
    ));
    Ok(Json(session))
}

/// The start of an id, enough to tell ids apart in a log line.
fn short(id: &str) -> String {
    let head: String = id.chars().take(12).collect();
    if head.len() < id.len() {
        format!("{head}…")
    } else {
        head
    }
}

async fn events(State(backend): State<Backend>) -> Json<EventsView> {
    Json(EventsView {
        events: backend.events(),
    })
}

/// `&`, `<`, `>`, `"` and `'` as HTML entities.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

async fn home(State(backend): State<Backend>) -> Html<String> {
    let mut items = String::new();
    for event in backend.events().iter().rev() {
        items.push_str(&format!("<li>{}</li>", escape_html(&event.text)));
    }
    if items.is_empty() {
        items.push_str("<li>nothing yet</li>");
    }
    Html(format!(
        "<!doctype html><html lang=en><meta charset=utf-8><title>Sample partner backend</title>\
         <h1>Sample partner backend</h1>\
         <p>The app developer's own server: its users sign in with a password, it issues link \
         tokens, and it verifies SSI tokens (identity provider <code>{idp}</code>, issuer \
         <code>{issuer}</code>).</p><h2>Activity, newest first</h2><ul>{items}</ul>",
        idp = escape_html(&backend.0.identity_provider_name),
        issuer = escape_html(&backend.0.issuer),
    ))
}
