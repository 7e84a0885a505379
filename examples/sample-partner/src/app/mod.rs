//! The sample app on a device: what an app developer writes with the Rust
//! SDK (`simplesignin`), following the seed's "Implementing the sign-in flow"
//! and "Account Linking Process".
//!
//! - **Sign in** ([`SampleApp::start_sign_in`]): `getUserAndLinks`; with
//!   links, the backend names them (each proven by its SSI token) and
//!   `showLoginSelection` asks the owner on the system screen; the chosen
//!   link's SSI token goes to the backend, which verifies it and signs the
//!   user in. Anything else falls back to the standard sign-in form.
//! - **Standard sign-in** ([`SampleApp::sign_in_with_password`]): username
//!   and password to the backend; then the backend issues a link token and a
//!   sealed link signing key and `linkUserAccount` asks the owner's consent.
//! - Every outcome is recorded with `recordMetricEvent` as the seed asks.
//!
//! The app's UI is a small web page ([`SampleApp::router`]) that the TV page
//! of `ssi up` shows; it reads the app's state as JSON and posts the user's
//! actions. The state also lists the app's calls, so that a newcomer sees
//! which API call did what.

mod backend_client;
mod ui;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;
use simplesignin::{
    FailureReason, LinkAccountSuccessCode, LinkUserAccountRequest, LoginNameValue, RequestStatus,
    SimpleSignIn, SsiEvent, SsiEventRequest, Token, UserSelection,
};
use tokio::sync::watch;

pub use self::backend_client::{BackendCallError, BackendClient};
use crate::Clock;
use crate::wire::{SessionView, SignInMethod, UserView};

/// How many calls the state keeps for the UI.
const CALLS_KEPT: usize = 12;

pub struct AppConfig {
    /// The device's name, shown on the app's page.
    pub device_name: String,
    /// The app's name.
    pub app_name: String,
    /// The app's socket to the device's agent.
    pub socket: PathBuf,
    /// The app's backend.
    pub backend_url: String,
    /// The app's identity provider name (from the developer console).
    pub identity_provider_name: String,
}

/// What the app shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Screen {
    /// Not signed in; a "Sign in" button.
    Welcome,
    /// Working. `on_system_screen`: the device's system screen has the
    /// question (consent or login selection).
    Busy {
        text: String,
        on_system_screen: bool,
    },
    /// The app's standard sign-in form.
    SignInForm {
        notice: Option<String>,
        error: Option<String>,
    },
    /// Signed in.
    SignedIn {
        user: UserView,
        method: SignInMethod,
        note: Option<String>,
    },
}

/// One call the app made, for the UI's list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallRecord {
    pub call: String,
    pub outcome: String,
}

/// The app's state as its page reads it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppView {
    /// Bumped on every change (the page long-polls it).
    pub version: u64,
    pub device: String,
    pub app: String,
    pub screen: Screen,
    /// The latest calls, oldest first.
    pub calls: Vec<CallRecord>,
}

/// An action refused because another one is still running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the app is busy with another action")]
pub struct Busy;

struct State {
    screen: Screen,
    calls: VecDeque<CallRecord>,
    /// The backend session, while signed in.
    session: Option<String>,
    /// An action is running.
    is_busy: bool,
}

/// The sample app on one device; cheap to clone.
#[derive(Clone)]
pub struct SampleApp(Arc<Inner>);

struct Inner {
    config: AppConfig,
    ssi: SimpleSignIn,
    backend: BackendClient,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
    version: watch::Sender<u64>,
    closing: watch::Sender<bool>,
}

impl SampleApp {
    pub fn new(config: AppConfig, clock: Arc<dyn Clock>) -> Self {
        let ssi = SimpleSignIn::with_socket(config.socket.clone());
        let backend = BackendClient::new(&config.backend_url);
        Self(Arc::new(Inner {
            config,
            ssi,
            backend,
            clock,
            state: Mutex::new(State {
                screen: Screen::Welcome,
                calls: VecDeque::new(),
                session: None,
                is_busy: false,
            }),
            version: watch::Sender::new(0),
            closing: watch::Sender::new(false),
        }))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The state now.
    pub fn view(&self) -> AppView {
        let state = self.state();
        AppView {
            version: *self.0.version.borrow(),
            device: self.0.config.device_name.clone(),
            app: self.0.config.app_name.clone(),
            screen: state.screen.clone(),
            calls: state.calls.iter().cloned().collect(),
        }
    }

    /// Waits until the version is past `seen` (or the `wait` is over, or the
    /// app is closing).
    pub async fn changed_after(&self, seen: u64, wait: std::time::Duration) {
        let mut receiver = self.0.version.subscribe();
        let mut closing = self.0.closing.subscribe();
        tokio::select! {
            _ = tokio::time::timeout(wait, receiver.wait_for(|version| *version > seen)) => {}
            _ = closing.wait_for(|closing| *closing) => {}
        }
    }

    /// The app is stopping: pending polls of its page end now (so that the
    /// server serving the page can stop without waiting for them).
    pub fn close(&self) {
        self.0.closing.send_replace(true);
    }

    fn show(&self, screen: Screen) {
        self.state().screen = screen;
        self.0.version.send_modify(|version| *version += 1);
    }

    fn busy(&self, text: &str, on_system_screen: bool) {
        self.show(Screen::Busy {
            text: text.to_owned(),
            on_system_screen,
        });
    }

    fn form(&self, notice: Option<String>, error: Option<String>) {
        self.show(Screen::SignInForm { notice, error });
    }

    fn log(&self, call: impl Into<String>, outcome: impl Into<String>) {
        let record = CallRecord {
            call: call.into(),
            outcome: outcome.into(),
        };
        tracing::info!(target: "sample_app", device = %self.0.config.device_name, call = %record.call, outcome = %record.outcome);
        let mut state = self.state();
        if state.calls.len() == CALLS_KEPT {
            state.calls.pop_front();
        }
        state.calls.push_back(record);
        drop(state);
        self.0.version.send_modify(|version| *version += 1);
    }

    /// Runs `action` in the background unless another action runs.
    fn run<F>(&self, action: impl FnOnce(SampleApp) -> F) -> Result<(), Busy>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        {
            let mut state = self.state();
            if state.is_busy {
                return Err(Busy);
            }
            state.is_busy = true;
        }
        let app = self.clone();
        let future = action(self.clone());
        tokio::spawn(async move {
            future.await;
            app.state().is_busy = false;
            app.0.version.send_modify(|version| *version += 1);
        });
        Ok(())
    }

    /// "Sign in": Simple Sign-In first, the standard form as the fallback.
    pub fn start_sign_in(&self) -> Result<(), Busy> {
        self.run(|app| async move { app.sign_in_flow().await })
    }

    /// "Use a password instead": the standard sign-in form.
    pub fn show_sign_in_form(&self) -> Result<(), Busy> {
        self.run(|app| async move { app.form(None, None) })
    }

    /// The standard sign-in form was submitted.
    pub fn sign_in_with_password(&self, username: String, password: String) -> Result<(), Busy> {
        self.run(|app| async move { app.password_flow(&username, &password).await })
    }

    /// "Sign out".
    pub fn sign_out(&self) -> Result<(), Busy> {
        self.run(|app| async move {
            let session = app.state().session.take();
            if let Some(session) = session {
                let outcome = app.0.backend.sign_out(&session).await;
                app.log(
                    "backend: sign out",
                    describe_backend(&outcome.map(|()| "done")),
                );
            }
            app.show(Screen::Welcome);
        })
    }

    fn idp(&self) -> &str {
        &self.0.config.identity_provider_name
    }

    async fn record_metric(&self, event: SsiEvent, failure_reason: Option<FailureReason>) {
        let request = SsiEventRequest {
            ssi_event: event,
            timestamp: self.0.clock.now_secs() * 1000,
            failure_reason,
        };
        let response = self.0.ssi.record_metric_event(&request).await;
        self.log(
            format!("recordMetricEvent({event})"),
            status_text(response.request_status, response.message.as_deref()),
        );
    }

    fn signed_in(&self, session: SessionView, note: Option<String>) {
        self.state().session = Some(session.session);
        self.show(Screen::SignedIn {
            user: session.user,
            method: session.method,
            note,
        });
    }

    /// The seed's "Implementing the sign-in flow".
    async fn sign_in_flow(&self) {
        self.busy("Looking for accounts linked to this TV…", false);
        let response = self.0.ssi.get_user_and_links(self.idp()).await;
        let links = response.links.clone().unwrap_or_default();
        self.log(
            format!("getUserAndLinks({:?})", self.idp()),
            match response.request_status {
                RequestStatus::Successful => format!("SUCCESSFUL, {} link(s)", links.len()),
                status => status_text(status, response.message.as_deref()),
            },
        );
        if response.request_status != RequestStatus::Successful {
            // E.g. FEATURE_TURNED_OFF: the owner turned Simple Sign-In off.
            return self.form(
                Some(format!(
                    "Simple Sign-In is not available on this TV ({}). Sign in with your password.",
                    response.request_status
                )),
                None,
            );
        }
        if links.is_empty() {
            return self.form(
                Some(
                    "No account of this app is linked to this TV's account yet. Sign in with \
                     your password; the app will then offer to link it."
                        .to_owned(),
                ),
                None,
            );
        }
        // The friendly names come from the backend, which gives a link's name
        // only for its valid SSI token.
        let names = match self.0.backend.login_names(&links).await {
            Ok(names) => names,
            Err(e) => {
                self.log("backend: login names", e.to_string());
                return self.form(
                    None,
                    Some(format!("The app's server did not answer ({e}).")),
                );
            }
        };
        self.log(
            "backend: login names",
            format!(
                "{} named, {} refused",
                names.names.len(),
                names.refused.len()
            ),
        );
        if names.names.is_empty() {
            return self.form(None, None);
        }
        let entries: Vec<LoginNameValue> = names
            .names
            .iter()
            .map(|name| LoginNameValue::new(name.login_name.clone(), name.link_id.clone()))
            .collect();
        self.busy("Choose your account on the TV's system screen…", true);
        let selection = self.0.ssi.show_login_selection(&entries).await;
        self.log(
            "showLoginSelection",
            match (&selection.request_status, &selection.user_selection) {
                (RequestStatus::Successful, Some(choice)) => format!("SUCCESSFUL, {choice}"),
                (status, _) => status_text(*status, selection.message.as_deref()),
            },
        );
        match selection.user_selection {
            Some(UserSelection::LoginSelected) => {
                let link_id = selection.link_id.unwrap_or_default();
                // The fresh token of the selection (an extension); apps written
                // for the seed's API take the link's token from getUserAndLinks.
                let token = match selection.ssi_token {
                    Some(token) => Some(token),
                    None => self.fresh_token(&link_id).await,
                };
                match token {
                    Some(token) => self.sign_in_with_token(&token).await,
                    None => self.form(None, Some("The chosen link is gone.".to_owned())),
                }
            }
            Some(UserSelection::ManualSignIn) => {
                self.record_metric(SsiEvent::ManualSigninSelected, None)
                    .await;
                self.form(None, None);
            }
            _ => self.form(
                Some("No account was chosen. Sign in with your password.".to_owned()),
                None,
            ),
        }
    }

    /// A token for `link_id` from a new `getUserAndLinks` (the one from the
    /// first call was used up naming the link).
    async fn fresh_token(&self, link_id: &str) -> Option<Token> {
        let response = self.0.ssi.get_user_and_links(self.idp()).await;
        self.log(
            format!("getUserAndLinks({:?})", self.idp()),
            status_text(response.request_status, response.message.as_deref()),
        );
        response
            .links?
            .into_iter()
            .find(|link| link.link_id == link_id)
            .map(|link| link.ssi_token)
    }

    async fn sign_in_with_token(&self, token: &Token) {
        self.busy("Signing in…", false);
        match self.0.backend.ssi_sign_in(token).await {
            Ok(session) => {
                self.log("backend: SSI sign-in", "token verified, signed in");
                self.record_metric(SsiEvent::LoginSuccess, None).await;
                let note =
                    "Signed in with Simple Sign-In: the app's server verified the SSI token.";
                self.signed_in(session, Some(note.to_owned()));
            }
            Err(e) => {
                self.log("backend: SSI sign-in", format!("refused: {}", e.code()));
                let reason = match &e {
                    BackendCallError::Refused { status: 404, .. } => FailureReason::NotFound,
                    BackendCallError::Refused { status: 401, .. } => FailureReason::Unauthorized,
                    BackendCallError::Refused { status: 400, .. } => FailureReason::BadRequest,
                    _ => FailureReason::InternalServerError,
                };
                self.record_metric(SsiEvent::LoginFailure, Some(reason))
                    .await;
                self.form(
                    None,
                    Some(format!(
                        "The app's server refused the sign-in ({}). Sign in with your password.",
                        e.code()
                    )),
                );
            }
        }
    }

    /// The seed's "Account Linking Process", after the standard sign-in.
    async fn password_flow(&self, username: &str, password: &str) {
        self.busy("Signing in…", false);
        let session = match self.0.backend.sign_in(username, password).await {
            Ok(session) => session,
            Err(e) => {
                self.log(
                    "backend: password sign-in",
                    format!("refused: {}", e.code()),
                );
                let error = match e.code() {
                    "WRONG_PASSWORD" => "Wrong username or password.".to_owned(),
                    _ => format!("The sign-in failed ({e})."),
                };
                return self.form(None, Some(error));
            }
        };
        self.log("backend: password sign-in", "signed in");
        let note = self.link(&session).await;
        self.signed_in(session, Some(note));
    }

    /// Links the signed-in user to the device's account; says what happened.
    async fn link(&self, session: &SessionView) -> String {
        let response = self.0.ssi.get_user_and_links(self.idp()).await;
        self.log(
            format!("getUserAndLinks({:?})", self.idp()),
            status_text(response.request_status, response.message.as_deref()),
        );
        let Some(amazon_user_id) = response
            .amazon_user_id
            .filter(|_| response.request_status == RequestStatus::Successful)
        else {
            return format!(
                "Not linked: Simple Sign-In is not available on this TV ({}).",
                response.request_status
            );
        };
        let issued = match self
            .0
            .backend
            .link_token(&session.session, &amazon_user_id)
            .await
        {
            Ok(issued) => issued,
            Err(e) => {
                self.log("backend: link token", format!("refused: {}", e.code()));
                return format!("Not linked: the app's server could not issue a link token ({e}).");
            }
        };
        self.log(
            "backend: link token",
            "link token and sealed signing key issued",
        );
        let request = LinkUserAccountRequest {
            partner_user_id: issued.partner_user_id,
            identity_provider_name: self.idp().to_owned(),
            user_login_name: issued.user_login_name,
            link_token: Token::link(issued.link_token.token),
            link_signing_key: issued.link_signing_key,
        };
        self.busy("Confirm on the TV's system screen…", true);
        let linked = self.0.ssi.link_user_account(&request).await;
        self.log(
            "linkUserAccount",
            match (&linked.request_status, &linked.success_code) {
                (RequestStatus::Successful, Some(code)) => format!("SUCCESSFUL, {code}"),
                (status, _) => status_text(*status, linked.message.as_deref()),
            },
        );
        match (linked.success_code, linked.link_id) {
            (
                Some(
                    LinkAccountSuccessCode::LinkEstablished
                    | LinkAccountSuccessCode::LinkAlreadyExists,
                ),
                Some(link_id),
            ) => {
                let recorded = self.0.backend.record_link(&session.session, &link_id).await;
                self.log(
                    "backend: record link",
                    describe_backend(&recorded.map(|()| "done")),
                );
                "Linked: next time, sign in on any TV of this account with one click.".to_owned()
            }
            (Some(LinkAccountSuccessCode::ConsentDenied), _) => {
                "Not linked: you chose \"Not now\" on the TV's screen.".to_owned()
            }
            _ => format!("Not linked ({}).", linked.request_status),
        }
    }
}

fn status_text(status: RequestStatus, message: Option<&str>) -> String {
    match message {
        Some(message) if status != RequestStatus::Successful => format!("{status}: {message}"),
        _ => status.to_string(),
    }
}

fn describe_backend(outcome: &Result<&str, BackendCallError>) -> String {
    match outcome {
        Ok(text) => (*text).to_owned(),
        Err(e) => format!("failed: {e}"),
    }
}
