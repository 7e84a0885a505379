//! The sample app's calls to its own backend (the sample's JSON API, [`crate::wire`]).

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use simplesignin::{Link, Token};

use crate::wire::{
    ErrorBody, LinkProof, LinkTokenRequest, LinkTokenResponse, LoginNamesRequest,
    LoginNamesResponse, RecordLinkRequest, SessionView, SignInRequest, SsiSignInRequest, TokenView,
};

/// Why a call to the backend failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BackendCallError {
    /// The backend answered with an error code.
    #[error("{code}: {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    /// No answer.
    #[error("the backend could not be reached: {0}")]
    Unreachable(String),
}

impl BackendCallError {
    /// The error code when the backend refused.
    pub fn code(&self) -> &str {
        match self {
            Self::Refused { code, .. } => code,
            Self::Unreachable(_) => "UNREACHABLE",
        }
    }
}

pub struct BackendClient {
    base: String,
    http: reqwest::Client,
}

fn token_view(token: &Token) -> TokenView {
    TokenView {
        token: token.token.clone(),
        schema: token.schema.clone(),
    }
}

impl BackendClient {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("an HTTP client without TLS builds"),
        }
    }

    async fn post<B: Serialize, R: DeserializeOwned>(
        &self,
        path: &str,
        session: Option<&str>,
        body: &B,
    ) -> Result<Option<R>, BackendCallError> {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(body);
        if let Some(session) = session {
            request = request.bearer_auth(session);
        }
        let response = request
            .send()
            .await
            .map_err(|e| BackendCallError::Unreachable(e.to_string()))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| BackendCallError::Unreachable(e.to_string()))?;
        if !status.is_success() {
            let body: ErrorBody = serde_json::from_slice(&bytes).unwrap_or(ErrorBody {
                error: "UNEXPECTED".to_owned(),
                message: format!("HTTP {status}"),
            });
            return Err(BackendCallError::Refused {
                status: status.as_u16(),
                code: body.error,
                message: body.message,
            });
        }
        if bytes.is_empty() {
            return Ok(None);
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| BackendCallError::Unreachable(format!("unreadable answer: {e}")))
    }

    async fn post_for<B: Serialize, R: DeserializeOwned>(
        &self,
        path: &str,
        session: Option<&str>,
        body: &B,
    ) -> Result<R, BackendCallError> {
        self.post(path, session, body)
            .await?
            .ok_or_else(|| BackendCallError::Unreachable(format!("{path} answered without a body")))
    }

    pub async fn sign_in(
        &self,
        username: &str,
        password: &str,
    ) -> Result<SessionView, BackendCallError> {
        let request = SignInRequest {
            username: username.to_owned(),
            password: password.to_owned(),
        };
        self.post_for("/api/sign-in", None, &request).await
    }

    pub async fn sign_out(&self, session: &str) -> Result<(), BackendCallError> {
        self.post::<_, serde_json::Value>("/api/sign-out", Some(session), &serde_json::json!({}))
            .await
            .map(|_| ())
    }

    pub async fn link_token(
        &self,
        session: &str,
        amazon_user_id: &str,
    ) -> Result<LinkTokenResponse, BackendCallError> {
        let request = LinkTokenRequest {
            amazon_user_id: amazon_user_id.to_owned(),
        };
        self.post_for("/api/link-token", Some(session), &request)
            .await
    }

    pub async fn record_link(&self, session: &str, link_id: &str) -> Result<(), BackendCallError> {
        let request = RecordLinkRequest {
            link_id: link_id.to_owned(),
        };
        self.post::<_, serde_json::Value>("/api/links", Some(session), &request)
            .await
            .map(|_| ())
    }

    pub async fn login_names(
        &self,
        links: &[Link],
    ) -> Result<LoginNamesResponse, BackendCallError> {
        let request = LoginNamesRequest {
            links: links
                .iter()
                .map(|link| LinkProof {
                    link_id: link.link_id.clone(),
                    ssi_token: token_view(&link.ssi_token),
                })
                .collect(),
        };
        self.post_for("/api/login-names", None, &request).await
    }

    pub async fn ssi_sign_in(&self, token: &Token) -> Result<SessionView, BackendCallError> {
        let request = SsiSignInRequest {
            ssi_token: token_view(token),
        };
        self.post_for("/api/ssi-sign-in", None, &request).await
    }
}
