//! Device registration by the RFC 8628 device authorization grant
//! (DESIGN.md section 3, "Device registration"): the agent asks for a device
//! code, the owner enters the user code on the account pages, the agent polls
//! until it receives its device credential.

use std::time::Duration;

use serde::Deserialize;
use ssi_proto::device::DeviceInfo;
use tokio::time::Instant;

use crate::credential::DeviceCredential;
use crate::server::ServerClient;

const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// RFC 8628 section 3.5: `slow_down` adds 5 seconds to the interval.
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);
/// Section 3.2: the interval when the server names none.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// Registration did not end with a credential.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// The server could not be reached or answered out of protocol.
    #[error("{0}")]
    Server(String),
    /// The owner denied the device.
    #[error("the owner denied this device (access_denied)")]
    Denied,
    /// Nobody entered the code in time.
    #[error("the user code expired before it was entered; run `ssi agent register` again")]
    Expired,
    /// Another RFC 6749 error.
    #[error("the server refused the registration: {error}: {description}")]
    Refused {
        /// The `error` code.
        error: String,
        /// The `error_description`.
        description: String,
    },
}

/// The RFC 8628 section 3.2 answer: what to show the owner, and how to poll.
#[derive(Clone, Deserialize)]
pub struct DeviceAuthorization {
    device_code: String,
    /// What the owner enters.
    pub user_code: String,
    /// Where the owner enters it.
    pub verification_uri: String,
    /// The same page with the code filled in.
    #[serde(default)]
    pub verification_uri_complete: Option<String>,
    /// Seconds until the codes expire.
    pub expires_in: u64,
    /// Seconds between polls.
    #[serde(default)]
    pub interval: Option<u64>,
}

impl std::fmt::Debug for DeviceAuthorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceAuthorization")
            .field("user_code", &self.user_code)
            .field("verification_uri", &self.verification_uri)
            .field("expires_in", &self.expires_in)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct OAuthError {
    error: String,
    #[serde(default)]
    error_description: String,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
}

/// What happened while polling, for the caller to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollEvent {
    /// Still waiting for the owner.
    Pending,
    /// The server asked to poll less often; the new interval.
    SlowDown(Duration),
    /// The server could not be reached this time; polling goes on.
    Unreachable(String),
}

/// A client of the device grant endpoints.
pub struct Registration {
    server: String,
    http: reqwest::Client,
}

impl Registration {
    /// Registration with the server at `server` (base URL); each request is
    /// bounded by `timeout`.
    pub fn new(server: &str, timeout: Duration) -> Result<Self, RegisterError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| RegisterError::Server(format!("HTTP client: {e}")))?;
        Ok(Self {
            server: server.trim_end_matches('/').to_owned(),
            http,
        })
    }

    /// 1. Section 3.1: asks for a device code and a user code.
    pub async fn start(&self, device_name: &str) -> Result<DeviceAuthorization, RegisterError> {
        let response = self
            .http
            .post(format!("{}/oauth/device_authorization", self.server))
            .json(&serde_json::json!({ "device_name": device_name }))
            .send()
            .await
            .map_err(|e| RegisterError::Server(format!("{}: {}", self.server, describe(&e))))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| RegisterError::Server(describe(&e)))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| {
                RegisterError::Server(format!(
                    "the device authorization answer is unreadable: {e}"
                ))
            });
        }
        Err(oauth_error(status, &bytes))
    }

    /// Step 2 (RFC 8628 sections 3.4-3.5): polls until the owner decided or the codes expired;
    /// `on_event` hears of each wait. Returns the credential, confirmed with
    /// `GET /v1/device/whoami`.
    pub async fn poll(
        &self,
        authorization: &DeviceAuthorization,
        mut on_event: impl FnMut(PollEvent),
    ) -> Result<DeviceCredential, RegisterError> {
        let deadline = Instant::now() + Duration::from_secs(authorization.expires_in);
        let mut interval = authorization
            .interval
            .map_or(DEFAULT_INTERVAL, Duration::from_secs);
        loop {
            tokio::time::sleep(interval).await;
            if Instant::now() >= deadline {
                return Err(RegisterError::Expired);
            }
            let sent = self
                .http
                .post(format!("{}/oauth/token", self.server))
                .json(&serde_json::json!({
                    "grant_type": GRANT_TYPE,
                    "device_code": authorization.device_code,
                }))
                .send()
                .await;
            let response = match sent {
                Ok(response) => response,
                Err(e) => {
                    on_event(PollEvent::Unreachable(describe(&e)));
                    continue;
                }
            };
            let status = response.status();
            let Ok(bytes) = response.bytes().await else {
                on_event(PollEvent::Unreachable("the answer broke off".into()));
                continue;
            };
            if status.is_success() {
                let token: TokenResponse = serde_json::from_slice(&bytes).map_err(|e| {
                    RegisterError::Server(format!("the token answer is unreadable: {e}"))
                })?;
                return self.confirm(token.access_token).await;
            }
            if status.is_server_error() {
                on_event(PollEvent::Unreachable(format!("HTTP {status}")));
                continue;
            }
            match oauth_error(status, &bytes) {
                RegisterError::Refused { error, .. } if error == "authorization_pending" => {
                    on_event(PollEvent::Pending);
                }
                RegisterError::Refused { error, .. } if error == "slow_down" => {
                    interval += SLOW_DOWN_STEP;
                    on_event(PollEvent::SlowDown(interval));
                }
                other => return Err(other),
            }
        }
    }

    async fn confirm(&self, credential: String) -> Result<DeviceCredential, RegisterError> {
        let mut stored = DeviceCredential {
            server: self.server.clone(),
            credential,
            device_id: None,
        };
        let client =
            ServerClient::new(&stored, Duration::from_secs(30)).map_err(RegisterError::Server)?;
        let me: DeviceInfo = client
            .get("/v1/device/whoami")
            .await
            .map_err(|e| RegisterError::Server(format!("checking the new credential: {e}")))?;
        stored.device_id = Some(me.device_id);
        Ok(stored)
    }
}

fn oauth_error(status: reqwest::StatusCode, body: &[u8]) -> RegisterError {
    match serde_json::from_slice::<OAuthError>(body) {
        Ok(e) if e.error == "access_denied" => RegisterError::Denied,
        Ok(e) if e.error == "expired_token" => RegisterError::Expired,
        Ok(e) => RegisterError::Refused {
            error: e.error,
            description: e.error_description,
        },
        Err(_) => RegisterError::Server(format!("the server answered HTTP {status}")),
    }
}

fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "no answer in time".into()
    } else if error.is_connect() {
        "connection failed".into()
    } else {
        "the request failed".into()
    }
}
