//! Simple Sign-In for Rust apps: the seed's four methods (`getUserAndLinks`,
//! `linkUserAccount`, `showLoginSelection`, `recordMetricEvent`) as an async
//! API, spoken to the device's Simple Sign-In agent over the app's own Unix
//! socket (docs/app-protocol.md).
//!
//! Like the seed's promises, every method resolves to the seed's response: a
//! problem is a `request_status` other than `SUCCESSFUL`, with a `message`
//! saying why. Requests are checked here first, with the same limits and the
//! same messages as the agent, so a bad request never leaves the app.
//!
//! ```no_run
//! # async fn demo() {
//! use simplesignin::{RequestStatus, SimpleSignIn};
//! let ssi = SimpleSignIn::from_env().expect("SSI_PACKAGE_ID or SSI_APP_SOCKET is set");
//! let response = ssi.get_user_and_links("acme").await;
//! if response.request_status == RequestStatus::Successful {
//!     println!("{} links", response.links.unwrap_or_default().len());
//! }
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod connection;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use ssi_proto::app_socket::AppMethod;
pub use ssi_proto::app_socket::{
    DEFAULT_RUN_DIR, PACKAGE_ID_ENV, PROTOCOL_VERSION, RUN_DIR_ENV, SOCKET_ENV,
};
pub use ssi_proto::{
    FailureReason, GetUserAndLinksRequest, GetUserAndLinksResponse, LINK_TOKEN_SCHEMA, Link,
    LinkAccountSuccessCode, LinkUserAccountRequest, LinkUserAccountResponse, LoginNameValue,
    RecordMetricsEventResponse, RequestStatus, SSI_TOKEN_SCHEMA, ShowLoginSelectionRequest,
    ShowLoginSelectionResponse, SsiEvent, SsiEventRequest, Token, UserSelection, ValidationError,
};

use crate::connection::{CallError, Connection};

/// The app socket could not be found from the environment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    /// Neither `SSI_APP_SOCKET` nor `SSI_PACKAGE_ID` is set.
    #[error(
        "no app socket: set SSI_APP_SOCKET to the socket's path, or SSI_PACKAGE_ID to the app's \
         package id (the socket is then $SSI_AGENT_RUN_DIR/apps/<package id>.sock, run dir \
         /run/ssi-agent by default)"
    )]
    NotConfigured,
}

/// Where the app's socket is, from `SSI_APP_SOCKET`, else `SSI_AGENT_RUN_DIR`
/// (default `/run/ssi-agent`) + `/apps/` + `SSI_PACKAGE_ID` + `.sock`. `env`
/// looks up a variable (empty counts as unset).
pub fn discover_socket(env: impl Fn(&str) -> Option<String>) -> Result<PathBuf, DiscoveryError> {
    let env = |name: &str| env(name).filter(|value| !value.is_empty());
    if let Some(path) = env(SOCKET_ENV) {
        return Ok(PathBuf::from(path));
    }
    let package_id = env(PACKAGE_ID_ENV).ok_or(DiscoveryError::NotConfigured)?;
    let run_dir = env(RUN_DIR_ENV).unwrap_or_else(|| DEFAULT_RUN_DIR.to_owned());
    Ok(Path::new(&run_dir)
        .join("apps")
        .join(format!("{package_id}.sock")))
}

/// The current time in epoch milliseconds (for the metric timestamp check).
pub type NowMs = fn() -> i64;

/// The wall clock; the one place the SDK reads it.
#[allow(clippy::disallowed_methods)]
fn system_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A client of the Simple Sign-In agent. Cheap to clone; clones share one
/// connection, which carries any number of calls at once and is opened again
/// after the agent restarts.
#[derive(Clone)]
pub struct SimpleSignIn {
    connection: Arc<Connection>,
    now_ms: NowMs,
}

impl std::fmt::Debug for SimpleSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimpleSignIn")
            .field("socket", &self.connection.path())
            .finish()
    }
}

impl SimpleSignIn {
    /// A client of the socket found in the environment ([`discover_socket`]).
    pub fn from_env() -> Result<Self, DiscoveryError> {
        discover_socket(|name| std::env::var(name).ok()).map(Self::with_socket)
    }

    /// A client of the socket at `path`.
    pub fn with_socket(path: impl Into<PathBuf>) -> Self {
        Self {
            connection: Arc::new(Connection::new(path.into())),
            now_ms: system_now_ms,
        }
    }

    /// The same client with another clock for the metric timestamp check.
    pub fn with_clock(mut self, now_ms: NowMs) -> Self {
        self.now_ms = now_ms;
        self
    }

    /// The socket this client talks to.
    pub fn socket_path(&self) -> &Path {
        self.connection.path()
    }

    /// `getUserAndLinks(identityProviderName)`: the platform user's directed id and
    /// the active links for the IDP, each with a fresh SSI token.
    pub async fn get_user_and_links(
        &self,
        identity_provider_name: &str,
    ) -> GetUserAndLinksResponse {
        let request = GetUserAndLinksRequest {
            identity_provider_name: identity_provider_name.to_owned(),
        };
        self.call(AppMethod::GetUserAndLinks, &request, request.validate())
            .await
    }

    /// `linkUserAccount(request)`: links the app account to the platform account,
    /// asking the owner's consent on a system screen if needed.
    pub async fn link_user_account(
        &self,
        request: &LinkUserAccountRequest,
    ) -> LinkUserAccountResponse {
        self.call(AppMethod::LinkUserAccount, request, request.validate())
            .await
    }

    /// `showLoginSelection(request)`: shows the login names on the system screen
    /// and returns what the user chose.
    pub async fn show_login_selection(
        &self,
        request: &[LoginNameValue],
    ) -> ShowLoginSelectionResponse {
        let check = ssi_proto::validate_login_selection(request);
        self.call(AppMethod::ShowLoginSelection, request, check)
            .await
    }

    /// `recordMetricEvent(request)`: records a sign-in event for the developer's
    /// reports (answered at once; delivered by the agent).
    pub async fn record_metric_event(
        &self,
        request: &SsiEventRequest,
    ) -> RecordMetricsEventResponse {
        let check = request.validate((self.now_ms)());
        self.call(AppMethod::RecordMetricEvent, request, check)
            .await
    }

    async fn call<P, R>(
        &self,
        method: AppMethod,
        params: &P,
        check: Result<(), ValidationError>,
    ) -> R
    where
        P: Serialize + ?Sized,
        R: DeserializeOwned + FromStatus,
    {
        // The same checks and messages as the agent's: the request never leaves.
        if let Err(e) = check {
            return R::from_status(RequestStatus::Failure, e.to_string());
        }
        let params = serde_json::to_value(params).expect("the seed's types serialize");
        match self.connection.call(method, params).await {
            Ok(result) => match serde_json::from_value::<R>(result) {
                Ok(response) => response,
                Err(e) => R::from_status(
                    RequestStatus::Failure,
                    format!(
                        "the agent's answer to {} is unreadable ({e})",
                        method.as_str()
                    ),
                ),
            },
            Err(e @ CallError::NoAgent { .. }) | Err(e @ CallError::Closed) => {
                R::from_status(RequestStatus::RetryableFailure, e.to_string())
            }
            Err(e @ CallError::TooLarge { .. }) => {
                R::from_status(RequestStatus::Failure, e.to_string())
            }
        }
    }
}

/// The seed's responses as a bare status (what the SDK answers when the request
/// cannot be made).
pub trait FromStatus {
    /// A response of only `requestStatus` and `message`.
    fn from_status(status: RequestStatus, message: String) -> Self;
}

impl FromStatus for GetUserAndLinksResponse {
    fn from_status(status: RequestStatus, message: String) -> Self {
        Self::status(status, Some(message))
    }
}
impl FromStatus for LinkUserAccountResponse {
    fn from_status(status: RequestStatus, message: String) -> Self {
        Self::status(status, Some(message))
    }
}
impl FromStatus for ShowLoginSelectionResponse {
    fn from_status(status: RequestStatus, message: String) -> Self {
        Self::status(status, Some(message))
    }
}
impl FromStatus for RecordMetricsEventResponse {
    fn from_status(status: RequestStatus, message: String) -> Self {
        Self::status(status, Some(message))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| vars.get(name).cloned()
    }

    /// Environment variables given, and where discovery should lead.
    type DiscoveryCase<'a> = (&'a [(&'a str, &'a str)], Result<&'a str, DiscoveryError>);

    #[test]
    fn discovery_order() {
        let cases: &[DiscoveryCase] = &[
            (
                &[("SSI_APP_SOCKET", "/x.sock"), ("SSI_PACKAGE_ID", "a.b")],
                Ok("/x.sock"),
            ),
            (
                &[("SSI_PACKAGE_ID", "a.b")],
                Ok("/run/ssi-agent/apps/a.b.sock"),
            ),
            (
                &[("SSI_PACKAGE_ID", "a.b"), ("SSI_AGENT_RUN_DIR", "/r")],
                Ok("/r/apps/a.b.sock"),
            ),
            (
                &[("SSI_APP_SOCKET", ""), ("SSI_PACKAGE_ID", "a.b")],
                Ok("/run/ssi-agent/apps/a.b.sock"),
            ),
            (
                &[("SSI_AGENT_RUN_DIR", "/r")],
                Err(DiscoveryError::NotConfigured),
            ),
        ];
        for (vars, expected) in cases {
            let found = discover_socket(env(vars));
            assert_eq!(found, expected.clone().map(PathBuf::from), "{vars:?}");
        }
    }

    #[tokio::test]
    async fn bad_requests_never_leave_the_app() {
        // No agent at this path: a request that got as far as the socket would
        // answer RETRYABLE_FAILURE, not FAILURE.
        let ssi =
            SimpleSignIn::with_socket("/nonexistent/ssi.sock").with_clock(|| 1_000_000_000_000);
        let r = ssi.get_user_and_links("bad idp").await;
        assert_eq!(r.request_status, RequestStatus::Failure);
        assert!(
            r.message
                .unwrap()
                .starts_with("identityProviderName: must be 1-64 characters")
        );
        let r = ssi.show_login_selection(&[]).await;
        assert_eq!(
            r.message.as_deref(),
            Some("loginNames: must have 1-32 entries (got 0 entries)")
        );
        let r = ssi
            .record_metric_event(&SsiEventRequest {
                ssi_event: SsiEvent::LoginFailure,
                timestamp: 1_000_000_000_000,
                failure_reason: None,
            })
            .await;
        assert_eq!(
            r.message.as_deref(),
            Some("failureReason: required when ssiEvent is LOGIN_FAILURE (missing)")
        );
        let r = ssi.get_user_and_links("acme").await;
        assert_eq!(r.request_status, RequestStatus::RetryableFailure);
        assert!(r.message.unwrap().contains("/nonexistent/ssi.sock"));
    }
}
