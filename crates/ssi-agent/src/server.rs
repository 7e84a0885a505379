//! The server's device API (`/v1/device/...`), called with the device
//! credential. Every call is bounded by the configured server timeout; what
//! is transient (unreachable, timeout, 5xx, 429) is told apart from what is
//! not, so that the app gets `RETRYABLE_FAILURE` only when retrying can help.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde::Serialize;
use serde::de::DeserializeOwned;
use ssi_proto::RequestStatus;

use crate::credential::DeviceCredential;

/// Longest server message passed on to an app or a log.
const MESSAGE_MAX_CHARS: usize = 300;

/// Why a call to the server did not give an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServerError {
    /// No connection (refused, DNS, reset).
    #[error("the Simple Sign-In server is unreachable ({0}); retry later")]
    Unreachable(String),
    /// No answer within the bound.
    #[error("the Simple Sign-In server did not answer within {0} ms; retry later")]
    Timeout(u64),
    /// 5xx or 429.
    #[error("the Simple Sign-In server is unavailable (HTTP {status}: {message}); retry later")]
    Unavailable {
        /// HTTP status.
        status: u16,
        /// The server's message.
        message: String,
    },
    /// 401: the credential is unknown or revoked (device deregistered).
    #[error(
        "this device is not registered with the Simple Sign-In server (its credential was refused)"
    )]
    Unauthorized,
    /// Another 4xx: the request itself was refused.
    #[error("the Simple Sign-In server refused the request (HTTP {status}: {message})")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The server's message, naming the field and the limit.
        message: String,
    },
    /// A 2xx body that is not what the API documents.
    #[error("the Simple Sign-In server's answer could not be read ({0})")]
    BadAnswer(String),
}

impl ServerError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ServerError::Unreachable(_) | ServerError::Timeout(_) | ServerError::Unavailable { .. }
        )
    }

    /// The status an app gets for it.
    pub fn request_status(&self) -> RequestStatus {
        if self.is_retryable() {
            RequestStatus::RetryableFailure
        } else {
            RequestStatus::Failure
        }
    }
}

/// A client of one server with one device credential. Cheap to clone.
#[derive(Clone)]
pub struct ServerClient {
    base: String,
    authorization: HeaderValue,
    http: reqwest::Client,
    timeout: Duration,
}

impl std::fmt::Debug for ServerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerClient")
            .field("base", &self.base)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl ServerClient {
    /// A client for `credential.server`; each call gives up after `timeout`.
    pub fn new(credential: &DeviceCredential, timeout: Duration) -> Result<Self, String> {
        let mut authorization = HeaderValue::from_str(&format!("Bearer {}", credential.credential))
            .map_err(|_| "the device credential is not a valid header value".to_owned())?;
        authorization.set_sensitive(true);
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Self {
            base: credential.server.trim_end_matches('/').to_owned(),
            authorization,
            http,
            timeout,
        })
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `POST {path}` with a JSON body, answered with JSON.
    pub async fn post<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<R, ServerError> {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .header(AUTHORIZATION, self.authorization.clone())
            .json(body);
        self.send(request).await
    }

    /// `GET {path}`, answered with JSON.
    pub async fn get<R: DeserializeOwned>(&self, path: &str) -> Result<R, ServerError> {
        let request = self
            .http
            .get(format!("{}{path}", self.base))
            .header(AUTHORIZATION, self.authorization.clone());
        self.send(request).await
    }

    /// `PUT {path}` with a JSON body, answered with JSON.
    pub async fn put<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<R, ServerError> {
        let request = self
            .http
            .put(format!("{}{path}", self.base))
            .header(AUTHORIZATION, self.authorization.clone())
            .json(body);
        self.send(request).await
    }

    /// `GET {path}` of a public resource: its bytes and media type, `None` on 404.
    pub async fn get_bytes(&self, path: &str) -> Result<Option<(String, Vec<u8>)>, ServerError> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .map_err(|e| self.transport(&e))?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let response = self.check_status(response).await?;
        let media_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_owned();
        let bytes = response.bytes().await.map_err(|e| self.transport(&e))?;
        Ok(Some((media_type, bytes.to_vec())))
    }

    async fn send<R: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<R, ServerError> {
        let response = request.send().await.map_err(|e| self.transport(&e))?;
        let response = self.check_status(response).await?;
        let bytes = response.bytes().await.map_err(|e| self.transport(&e))?;
        serde_json::from_slice(&bytes).map_err(|e| ServerError::BadAnswer(e.to_string()))
    }

    async fn check_status(
        &self,
        response: reqwest::Response,
    ) -> Result<reqwest::Response, ServerError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        if status == StatusCode::UNAUTHORIZED {
            return Err(ServerError::Unauthorized);
        }
        let message = error_message(response).await;
        let status = status.as_u16();
        if status == 429 || status >= 500 {
            Err(ServerError::Unavailable { status, message })
        } else {
            Err(ServerError::Refused { status, message })
        }
    }

    fn transport(&self, error: &reqwest::Error) -> ServerError {
        if error.is_timeout() {
            ServerError::Timeout(u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX))
        } else if error.is_connect() {
            ServerError::Unreachable("connection failed".into())
        } else {
            ServerError::Unreachable("the connection broke".into())
        }
    }
}

/// The `message` of the server's JSON error body, else the status text.
async fn error_message(response: reqwest::Response) -> String {
    let fallback = response
        .status()
        .canonical_reason()
        .unwrap_or("error")
        .to_owned();
    let Ok(bytes) = response.bytes().await else {
        return fallback;
    };
    let message = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|body| {
            body.get("message")
                .or_else(|| body.get("error_description"))
                .and_then(|m| m.as_str())
                .map(str::to_owned)
        })
        .unwrap_or(fallback);
    message.chars().take(MESSAGE_MAX_CHARS).collect()
}

/// The device-level switch of the screens' settings view, kept on the server
/// (`GET /v1/device/whoami`, `PUT /v1/device/settings`): turning it off makes
/// every call of this device answer `FEATURE_TURNED_OFF` and deletes nothing.
pub struct ServerDeviceSwitch {
    server: ServerClient,
}

impl ServerDeviceSwitch {
    /// The switch of the device the client's credential belongs to.
    pub fn new(server: ServerClient) -> Self {
        Self { server }
    }
}

fn switch_error(error: ServerError) -> crate::screens::SwitchError {
    if error.is_retryable() {
        crate::screens::SwitchError::Unreachable
    } else {
        crate::screens::SwitchError::Failed(error.to_string())
    }
}

impl crate::screens::DeviceSwitch for ServerDeviceSwitch {
    fn enabled(&self) -> crate::screens::SwitchFuture<'_, bool> {
        Box::pin(async move {
            let me: ssi_proto::device::DeviceInfo = self
                .server
                .get("/v1/device/whoami")
                .await
                .map_err(switch_error)?;
            Ok(me.ssi_enabled)
        })
    }

    fn set_enabled(&self, enabled: bool) -> crate::screens::SwitchFuture<'_, ()> {
        Box::pin(async move {
            let update = ssi_proto::device::DeviceSettingsUpdate {
                ssi_enabled: enabled,
            };
            let _: ssi_proto::device::DeviceInfo = self
                .server
                .put("/v1/device/settings", &update)
                .await
                .map_err(switch_error)?;
            tracing::info!(enabled, "device switch changed");
            Ok(())
        })
    }
}
