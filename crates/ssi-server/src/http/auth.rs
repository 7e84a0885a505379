//! Who is calling: a signed-in account (session cookie, CSRF-checked for
//! anything that changes state) or a registered device (bearer credential).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};

use crate::encoding::{secret_hash, secrets_equal};
use crate::http::ApiError;
use crate::state::AppState;
use crate::store::accounts::AccountRow;
use crate::store::devices::DeviceRow;

/// The session cookie's name: `__Host-` prefixed when cookies are `Secure`
/// (browsers then pin it to this host and path `/`).
pub fn session_cookie_name(state: &AppState) -> &'static str {
    if state.config.secure_cookies {
        "__Host-ssi_session"
    } else {
        "ssi_session"
    }
}

/// `Set-Cookie` for a new session: HttpOnly, SameSite=Lax, Path=/.
pub fn session_cookie(state: &AppState, token: &str, max_age_secs: i64) -> String {
    let secure = if state.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}",
        session_cookie_name(state)
    )
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_session_cookie(state: &AppState) -> String {
    session_cookie(state, "", 0)
}

/// The value of one cookie from the request's `Cookie` headers.
pub fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// A signed-in platform account. As an extractor it refuses with 401, and
/// for unsafe methods it requires the session's CSRF token in the
/// `X-CSRF-Token` header (JSON API). HTML forms check the form field with
/// [`SignedIn::check_csrf`] instead; see [`SignedInPage`].
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub account: AccountRow,
    pub csrf_token: String,
    pub session_hash: String,
}

impl SignedIn {
    /// Constant-time check of a submitted CSRF token.
    pub fn check_csrf(&self, submitted: &str) -> Result<(), ApiError> {
        if secrets_equal(submitted.as_bytes(), self.csrf_token.as_bytes()) {
            Ok(())
        } else {
            Err(ApiError::forbidden("missing or wrong CSRF token"))
        }
    }

    async fn from_session(parts: &Parts, state: &AppState) -> Result<Option<Self>, ApiError> {
        let Some(token) = cookie_value(&parts.headers, session_cookie_name(state)) else {
            return Ok(None);
        };
        let session_hash = secret_hash(token);
        let Some(session) = state
            .store
            .find_session(&session_hash, state.now_ms())
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(Self {
            account: session.account,
            csrf_token: session.csrf_token,
            session_hash,
        }))
    }
}

fn is_safe_method(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let signed_in = Self::from_session(parts, state)
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        if !is_safe_method(&parts.method) {
            let submitted = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            signed_in.check_csrf(submitted)?;
        }
        Ok(signed_in)
    }
}

/// For HTML pages: the session if there is one (the page redirects to the
/// sign-in page otherwise). CSRF is checked by the form handler.
#[derive(Debug, Clone)]
pub struct SignedInPage(pub Option<SignedIn>);

impl FromRequestParts<AppState> for SignedInPage {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(Self(SignedIn::from_session(parts, state).await?))
    }
}

/// The bearer credential of a device, `Authorization: Bearer <credential>`,
/// as its SHA-256 hash; not yet checked against the store. A handler that
/// reads the device with the rest of its facts in one query
/// (`Store::device_api_context`) takes this instead of [`DeviceAuth`].
/// Refuses with 401 when the header is missing or not a bearer credential.
#[derive(Debug, Clone)]
pub struct DeviceCredential {
    pub hash: String,
}

impl DeviceCredential {
    /// The registered device holding this credential, or 401. A
    /// deregistered device's credential finds no row: revoked at once.
    pub async fn device(&self, state: &AppState) -> Result<DeviceRow, ApiError> {
        state
            .store
            .find_device_by_credential(&self.hash)
            .await?
            .ok_or_else(ApiError::unauthorized)
    }

    /// Input that failed to parse or validate is refused as such only to a
    /// registered device: an unknown credential gets 401 first, as when the
    /// device was looked up before the body was read. (One query, on the
    /// error path only.)
    pub async fn checked_input<T>(
        &self,
        state: &AppState,
        input: Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        match input {
            Ok(input) => Ok(input),
            Err(refused) => {
                self.device(state).await?;
                Err(refused)
            }
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for DeviceCredential {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let credential = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(ApiError::unauthorized)?;
        Ok(Self {
            hash: secret_hash(credential),
        })
    }
}

/// A registered device, authenticated by `Authorization: Bearer <credential>`.
/// A deregistered device's credential finds no row: revoked at once.
#[derive(Debug, Clone)]
pub struct DeviceAuth {
    pub device: DeviceRow,
}

impl FromRequestParts<AppState> for DeviceAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let credential = DeviceCredential::from_request_parts(parts, state).await?;
        Ok(Self {
            device: credential.device(state).await?,
        })
    }
}

/// The request id set by the middleware, for audit entries.
pub fn request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get(crate::http::REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}
