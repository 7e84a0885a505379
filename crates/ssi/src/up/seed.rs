//! What `ssi up` sets up on first start, through the server's own HTTP
//! surface (as a person in a browser and a developer with the JSON API
//! would): the demo account, its developer enrolment, the sample partner's
//! identity provider and app (with its first app key), and the approval of
//! each demo device's RFC 8628 user code. Every step finds what an earlier
//! start made and leaves it as it is.

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine as _;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde::Serialize;
use serde::de::DeserializeOwned;
use ssi_proto::developer::{
    AppList, AppView, BindIdentityProviderRequest, CreateAppRequest, CreateIdentityProviderRequest,
    ICON_TYPE_SVG, IdentityProviderList, SessionInfo,
};

/// The demo's names and secrets (local, printed at start).
pub struct Demo {
    pub email: &'static str,
    pub password: &'static str,
    pub identity_provider_name: &'static str,
    pub package_id: &'static str,
    pub app_name: &'static str,
}

pub const DEMO: Demo = Demo {
    email: "demo@ssi.test",
    password: "demo-password",
    identity_provider_name: ssi_sample_partner::IDENTITY_PROVIDER_NAME,
    package_id: ssi_sample_partner::PACKAGE_ID,
    app_name: ssi_sample_partner::APP_NAME,
};

/// The names of the cookies the account pages use (cookies are not Secure:
/// `ssi up` serves plain http on loopback).
const SESSION_COOKIE: &str = "ssi_session";
const CSRF_COOKIE: &str = "ssi_csrf";

/// A signed-in session of the demo account on the server.
pub struct AccountSession {
    base: String,
    http: reqwest::Client,
    session_cookie: String,
    csrf_token: String,
}

impl AccountSession {
    /// Signs the demo account in, creating it on first start.
    pub async fn open(base: &str) -> Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("HTTP client")?;
        let base = base.trim_end_matches('/').to_owned();
        // Forms before a session carry a double-submit token: the same value
        // in the cookie and in the form.
        let csrf = random_hex();
        let mut cookie = None;
        for page in ["signup", "signin"] {
            let response = http
                .post(format!("{base}/account/{page}"))
                .header(COOKIE, format!("{CSRF_COOKIE}={csrf}"))
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("email", DEMO.email),
                    ("password", DEMO.password),
                    ("next", "/account"),
                ])
                .send()
                .await
                .with_context(|| format!("POST /account/{page}"))?;
            match response.status() {
                StatusCode::SEE_OTHER => {
                    cookie = session_cookie(&response);
                    break;
                }
                // The account exists (a restart): sign in instead.
                StatusCode::CONFLICT if page == "signup" => {}
                status => bail!(
                    "POST /account/{page} answered {status}; is {} the account's password?",
                    DEMO.password
                ),
            }
        }
        let session_cookie =
            cookie.ok_or_else(|| anyhow!("the account pages set no session cookie"))?;
        let info: SessionInfo = get_json(&http, &format!("{base}/v1/session"), &session_cookie)
            .await
            .context("GET /v1/session")?;
        Ok(Self {
            base,
            http,
            session_cookie,
            csrf_token: info.csrf_token,
        })
    }

    async fn get<R: DeserializeOwned>(&self, path: &str) -> Result<R> {
        get_json(
            &self.http,
            &format!("{}{path}", self.base),
            &self.session_cookie,
        )
        .await
        .with_context(|| format!("GET {path}"))
    }

    async fn post<B: Serialize, R: DeserializeOwned>(&self, path: &str, body: &B) -> Result<R> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header(COOKIE, &self.session_cookie)
            .header("x-csrf-token", &self.csrf_token)
            .json(body)
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        read_json(response)
            .await
            .with_context(|| format!("POST {path}"))
    }

    /// The developer enrolment, the identity provider and the app bound to
    /// it; returns the app.
    pub async fn ensure_app(&self) -> Result<AppView> {
        let _: serde_json::Value = self.post("/v1/developer/enroll", &()).await?;
        let idps: IdentityProviderList = self.get("/v1/developer/idps").await?;
        let has_idp = idps
            .identity_providers
            .iter()
            .any(|idp| idp.identity_provider_name == DEMO.identity_provider_name);
        if !has_idp {
            let _: serde_json::Value = self
                .post(
                    "/v1/developer/idps",
                    &CreateIdentityProviderRequest {
                        identity_provider_name: Some(DEMO.identity_provider_name.to_owned()),
                    },
                )
                .await?;
        }
        let apps: AppList = self.get("/v1/developer/apps").await?;
        let app = match apps
            .apps
            .into_iter()
            .find(|a| a.package_id == DEMO.package_id)
        {
            Some(app) => app,
            None => {
                self.post(
                    "/v1/developer/apps",
                    &CreateAppRequest {
                        package_id: DEMO.package_id.to_owned(),
                        display_name: DEMO.app_name.to_owned(),
                        icon_base64: Some(
                            base64::engine::general_purpose::STANDARD
                                .encode(ssi_sample_partner::ICON_SVG),
                        ),
                        icon_type: Some(ICON_TYPE_SVG.to_owned()),
                    },
                )
                .await?
            }
        };
        if app.identity_provider_name.as_deref() == Some(DEMO.identity_provider_name) {
            return Ok(app);
        }
        self.post(
            &format!("/v1/developer/apps/{}/idp", app.app_id),
            &BindIdentityProviderRequest {
                identity_provider_name: DEMO.identity_provider_name.to_owned(),
            },
        )
        .await
    }

    /// Approves a device's user code, as the owner does on `/device`.
    pub async fn approve_device(&self, user_code: &str) -> Result<()> {
        let response = self
            .http
            .post(format!("{}/device/confirm", self.base))
            .header(COOKIE, &self.session_cookie)
            .form(&[
                ("csrf", self.csrf_token.as_str()),
                ("user_code", user_code),
                ("decision", "approve"),
            ])
            .send()
            .await
            .context("POST /device/confirm")?;
        if response.status() != StatusCode::OK {
            bail!("POST /device/confirm answered {}", response.status());
        }
        Ok(())
    }
}

/// The `name=value` of the session cookie a response sets.
fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|value| value.split(';').next())
        .find(|pair| pair.starts_with(&format!("{SESSION_COOKIE}=")))
        .map(str::to_owned)
        .filter(|_| response.headers().contains_key(LOCATION))
}

async fn get_json<R: DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    cookie: &str,
) -> Result<R> {
    read_json(http.get(url).header(COOKIE, cookie).send().await?).await
}

async fn read_json<R: DeserializeOwned>(response: reqwest::Response) -> Result<R> {
    let status = response.status();
    let text = response.text().await?;
    if !status.is_success() {
        bail!("answered {status}: {text}");
    }
    serde_json::from_str(&text).with_context(|| format!("unreadable answer: {text}"))
}

/// 128 random bits as hex (a CSRF token of our own choosing).
fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    ssi_token::Random::fill(&mut ssi_token::SystemRandom, &mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
