//! The four methods of the seed, as the agent carries them out for one app
//! (DESIGN.md sections 3 and 4). The app is known from its socket
//! ([`InstalledApp`]); everything in `params` is the app's word only.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use ssi_proto::app_socket::AppMethod;
use ssi_proto::device::{
    AppIdpRequest, AppSettingsResponse, ConsentDeniedRequest, CreateLinkRequest, DeviceMetricEvent,
    LinkLookupRequest, LinkLookupResponse, LinkPrecheckRequest, LinkTokenResponse, StatusResponse,
};
use ssi_proto::{
    GetUserAndLinksRequest, GetUserAndLinksResponse, LinkAccountSuccessCode,
    LinkUserAccountRequest, LinkUserAccountResponse, RecordMetricsEventResponse, RequestStatus,
    ShowLoginSelectionRequest, ShowLoginSelectionResponse, SsiEventRequest, UserSelection,
};
use tokio::sync::Notify;

use crate::clock::{Clock, RandomSource, new_event_id};
use crate::config::AgentConfig;
use crate::manifest::Privilege;
use crate::screens::{AppFace, Prompt, ScreenAnswer, Screens};
use crate::server::{ServerClient, ServerError};
use crate::store::{AgentStore, InstalledApp, OutboxKind};

/// How long the server's record of an app (name, icon, IDP) is reused.
const APP_RECORD_TTL: Duration = Duration::from_secs(300);

/// The seed's four responses: each can be a bare status with a reason.
pub trait SeedResponse: Serialize {
    /// A response of only `requestStatus` and `message`.
    fn status(status: RequestStatus, message: String) -> Self;
}

impl SeedResponse for GetUserAndLinksResponse {
    fn status(status: RequestStatus, message: String) -> Self {
        GetUserAndLinksResponse::status(status, Some(message))
    }
}
impl SeedResponse for LinkUserAccountResponse {
    fn status(status: RequestStatus, message: String) -> Self {
        LinkUserAccountResponse::status(status, Some(message))
    }
}
impl SeedResponse for ShowLoginSelectionResponse {
    fn status(status: RequestStatus, message: String) -> Self {
        ShowLoginSelectionResponse::status(status, Some(message))
    }
}
impl SeedResponse for RecordMetricsEventResponse {
    fn status(status: RequestStatus, message: String) -> Self {
        RecordMetricsEventResponse::status(status, Some(message))
    }
}

/// What the server says about an app: its face on the screens and its IDP.
#[derive(Debug, Clone)]
struct AppRecord {
    settings: AppSettingsResponse,
    icon: Option<(String, Vec<u8>)>,
}

/// Everything the four methods need. Shared by every socket.
pub struct Agent {
    config: AgentConfig,
    server: ServerClient,
    screens: Screens,
    store: AgentStore,
    clock: Arc<dyn Clock>,
    rng: Arc<dyn RandomSource>,
    outbox_wake: Arc<Notify>,
    /// Apps with a screen-bearing call in flight (`DUPLICATE_REQUEST`).
    screen_calls: Mutex<HashSet<String>>,
    records: Mutex<HashMap<String, (Instant, AppRecord)>>,
}

/// Frees the app's screen slot when the call ends, however it ends.
struct ScreenSlot<'a> {
    calls: &'a Mutex<HashSet<String>>,
    package_id: String,
}

impl Drop for ScreenSlot<'_> {
    fn drop(&mut self) {
        lock(self.calls).remove(&self.package_id);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere leaves the data consistent (single inserts/removes).
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Agent {
    /// An agent on its parts.
    pub fn new(
        config: AgentConfig,
        server: ServerClient,
        screens: Screens,
        store: AgentStore,
        clock: Arc<dyn Clock>,
        rng: Arc<dyn RandomSource>,
    ) -> Self {
        Self {
            config,
            server,
            screens,
            store,
            clock,
            rng,
            outbox_wake: Arc::new(Notify::new()),
            screen_calls: Mutex::new(HashSet::new()),
            records: Mutex::new(HashMap::new()),
        }
    }

    /// The settings.
    pub fn config(&self) -> &AgentConfig {
        &self.config
    }

    /// The server client.
    pub fn server(&self) -> &ServerClient {
        &self.server
    }

    /// The screens.
    pub fn screens(&self) -> &Screens {
        &self.screens
    }

    /// The database.
    pub fn store(&self) -> &AgentStore {
        &self.store
    }

    /// The clock.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub(crate) fn rng(&self) -> &dyn RandomSource {
        self.rng.as_ref()
    }

    /// Woken when something is queued for the server.
    pub fn outbox_wake(&self) -> Arc<Notify> {
        self.outbox_wake.clone()
    }

    /// Runs `method` for `app`: the privileges of its manifest, the request's
    /// shape and limits, then the method. Returns the seed response as JSON.
    pub async fn call(&self, app: &InstalledApp, method: AppMethod, params: Value) -> Value {
        match method {
            AppMethod::GetUserAndLinks => {
                self.run::<GetUserAndLinksRequest, _, _>(app, method, params, |r| {
                    self.get_user_and_links(app, r)
                })
                .await
            }
            AppMethod::LinkUserAccount => {
                self.run::<LinkUserAccountRequest, _, _>(app, method, params, |r| {
                    self.link_user_account(app, r)
                })
                .await
            }
            AppMethod::ShowLoginSelection => {
                self.run::<ShowLoginSelectionRequest, _, _>(app, method, params, |r| {
                    self.show_login_selection(app, r)
                })
                .await
            }
            AppMethod::RecordMetricEvent => {
                self.run::<SsiEventRequest, _, _>(app, method, params, |r| {
                    self.record_metric_event(app, r)
                })
                .await
            }
        }
    }

    async fn run<Req, Resp, Fut>(
        &self,
        app: &InstalledApp,
        method: AppMethod,
        params: Value,
        flow: impl FnOnce(Req) -> Fut,
    ) -> Value
    where
        Req: DeserializeOwned + Validate,
        Resp: SeedResponse,
        Fut: Future<Output = Resp>,
    {
        let response = match self.admit::<Req>(app, method, params) {
            Ok(request) => flow(request).await,
            Err((status, message)) => {
                tracing::info!(package_id = %app.package_id, method = method.as_str(), %status, %message, "request refused");
                Resp::status(status, message)
            }
        };
        serde_json::to_value(&response).expect("seed responses serialize")
    }

    /// Privileges first (a screen never shows for an app without them), then
    /// the params' shape and limits, then one screen call per app at a time.
    fn admit<Req: DeserializeOwned + Validate>(
        &self,
        app: &InstalledApp,
        method: AppMethod,
        params: Value,
    ) -> Result<Req, (RequestStatus, String)> {
        let mut needed = vec![Privilege::Module, Privilege::Service];
        match method {
            AppMethod::LinkUserAccount => needed.push(Privilege::Consent),
            AppMethod::ShowLoginSelection => needed.push(Privilege::LoginSelection),
            AppMethod::GetUserAndLinks | AppMethod::RecordMetricEvent => {}
        }
        if let Some(missing) = needed.into_iter().find(|p| !app.privileges.has(*p)) {
            return Err((
                RequestStatus::Failure,
                format!(
                    "the app's manifest lacks the privilege {missing}, which {} needs",
                    method.as_str()
                ),
            ));
        }
        let request =
            parse_params::<Req>(params).map_err(|message| (RequestStatus::Failure, message))?;
        request
            .validate_at(self.now_ms())
            .map_err(|e| (RequestStatus::Failure, e.to_string()))?;
        Ok(request)
    }

    /// Takes the app's screen slot, or answers `DUPLICATE_REQUEST`.
    fn screen_slot(&self, package_id: &str) -> Option<ScreenSlot<'_>> {
        if !lock(&self.screen_calls).insert(package_id.to_owned()) {
            return None;
        }
        Some(ScreenSlot {
            calls: &self.screen_calls,
            package_id: package_id.to_owned(),
        })
    }

    async fn get_user_and_links(
        &self,
        app: &InstalledApp,
        request: GetUserAndLinksRequest,
    ) -> GetUserAndLinksResponse {
        let body = AppIdpRequest {
            package_id: app.package_id.clone(),
            identity_provider_name: request.identity_provider_name,
        };
        self.server
            .post("/v1/device/user-and-links", &body)
            .await
            .unwrap_or_else(|e| server_failure(&app.package_id, e))
    }

    async fn link_user_account(
        &self,
        app: &InstalledApp,
        request: LinkUserAccountRequest,
    ) -> LinkUserAccountResponse {
        let Some(_slot) = self.screen_slot(&app.package_id) else {
            return duplicate();
        };
        let package_id = &app.package_id;
        // 1. "Not now" within the cool-down: answered at once, no screen.
        let now_ms = self.now_ms();
        match self
            .store
            .find_cooldown(package_id, &request.partner_user_id, now_ms)
            .await
        {
            Ok(Some(_)) => return LinkUserAccountResponse::consent_denied(),
            Ok(None) => {}
            Err(e) => return local_failure(package_id, &e),
        }
        // 2. Linked already (on any device of the account): no screen.
        let lookup = LinkLookupRequest {
            package_id: package_id.clone(),
            identity_provider_name: request.identity_provider_name.clone(),
            partner_user_id: request.partner_user_id.clone(),
        };
        let found: LinkLookupResponse =
            match self.server.post("/v1/device/links/lookup", &lookup).await {
                Ok(found) => found,
                Err(e) => return server_failure(package_id, e),
            };
        match (found.request_status, found.link_id) {
            (RequestStatus::Successful, Some(link_id)) => {
                return LinkUserAccountResponse::linked(
                    LinkAccountSuccessCode::LinkAlreadyExists,
                    link_id,
                );
            }
            (RequestStatus::Successful, None) => {}
            (status, _) => {
                return LinkUserAccountResponse::status(status, found.message);
            }
        }
        // 3. The sealed key must open before the owner is asked anything.
        let precheck = LinkPrecheckRequest {
            package_id: package_id.clone(),
            identity_provider_name: request.identity_provider_name.clone(),
            link_signing_key: request.link_signing_key.clone(),
        };
        match self
            .server
            .post::<_, StatusResponse>("/v1/device/links/precheck", &precheck)
            .await
        {
            Ok(checked) if checked.request_status == RequestStatus::Successful => {}
            Ok(checked) => {
                return LinkUserAccountResponse::status(checked.request_status, checked.message);
            }
            Err(e) => return server_failure(package_id, e),
        }
        // 4. The consent screen.
        let face = self.face(package_id).await;
        let prompt = Prompt::Consent {
            user_login_name: request.user_login_name.clone(),
        };
        match self.screens.ask(face, prompt).await {
            // 5. Allow: the server stores the link (and records ENABLE_SSI).
            ScreenAnswer::Allow => {
                let body = CreateLinkRequest {
                    package_id: package_id.clone(),
                    request,
                };
                self.server
                    .post("/v1/device/links", &body)
                    .await
                    .unwrap_or_else(|e| server_failure(package_id, e))
            }
            // 6. Not now: the cool-down and the server's CONSENT_DENIED event,
            //    both durable before the app hears of it; the link token is
            //    dropped here.
            ScreenAnswer::NotNow => match self.deny_consent(package_id, &request).await {
                Ok(()) => LinkUserAccountResponse::consent_denied(),
                Err(e) => local_failure(package_id, &e),
            },
            ScreenAnswer::TimedOut => LinkUserAccountResponse {
                request_status: RequestStatus::Failure,
                success_code: Some(LinkAccountSuccessCode::NotApplicable),
                link_id: None,
                message: Some(format!(
                    "the consent screen was not answered within {} seconds",
                    self.config.screen_timeout_secs
                )),
            },
            other => unexpected_answer(package_id, &other),
        }
    }

    async fn deny_consent(
        &self,
        package_id: &str,
        request: &LinkUserAccountRequest,
    ) -> Result<(), crate::store::StoreError> {
        let now_ms = self.now_ms();
        let cooldown_ms = i64::try_from(self.config.consent_cooldown_secs.saturating_mul(1000))
            .unwrap_or(i64::MAX);
        let event_id = new_event_id(self.rng());
        let report = ConsentDeniedRequest {
            package_id: package_id.to_owned(),
            identity_provider_name: request.identity_provider_name.clone(),
            partner_user_id: request.partner_user_id.clone(),
            event_id: event_id.clone(),
        };
        let body = serde_json::to_string(&report).expect("a consent denial serializes");
        self.store
            .insert_consent_denial(
                package_id,
                &request.partner_user_id,
                now_ms.saturating_add(cooldown_ms),
                &event_id,
                &body,
                now_ms,
            )
            .await?;
        self.outbox_wake.notify_one();
        Ok(())
    }

    async fn show_login_selection(
        &self,
        app: &InstalledApp,
        request: ShowLoginSelectionRequest,
    ) -> ShowLoginSelectionResponse {
        let Some(_slot) = self.screen_slot(&app.package_id) else {
            return duplicate();
        };
        let package_id = &app.package_id;
        // 1. The app's IDP, from the server's record of the app.
        let record = match self.app_record(package_id).await {
            Ok(record) => record,
            Err(e) => return server_failure(package_id, e),
        };
        if record.settings.request_status != RequestStatus::Successful {
            return ShowLoginSelectionResponse::status(
                record.settings.request_status,
                record.settings.message.clone(),
            );
        }
        let Some(idp_name) = record.settings.identity_provider_name.clone() else {
            return ShowLoginSelectionResponse::status(
                RequestStatus::Failure,
                Some("the app is not bound to an identity provider on the server".to_owned()),
            );
        };
        // 2. Every entry must be an active link of this user for that IDP.
        let idp = AppIdpRequest {
            package_id: package_id.clone(),
            identity_provider_name: idp_name,
        };
        let current: GetUserAndLinksResponse =
            match self.server.post("/v1/device/user-and-links", &idp).await {
                Ok(current) => current,
                Err(e) => return server_failure(package_id, e),
            };
        if current.request_status != RequestStatus::Successful {
            return ShowLoginSelectionResponse::status(current.request_status, current.message);
        }
        let active: HashSet<&str> = current
            .links
            .iter()
            .flatten()
            .map(|link| link.link_id.as_str())
            .collect();
        if let Some(i) = request
            .entries()
            .iter()
            .position(|entry| !active.contains(entry.link_id.as_str()))
        {
            return ShowLoginSelectionResponse::status(
                RequestStatus::Failure,
                Some(format!(
                    "loginNames[{i}].linkId: must be an active link of this user for the app's \
                     identity provider (got an unknown or removed link)"
                )),
            );
        }
        // 3. The login-selection screen.
        let face = self.face_of(package_id, &record);
        let prompt = Prompt::LoginSelection {
            entries: request.0.clone(),
        };
        match self.screens.ask(face, prompt).await {
            // 4. A fresh SSI token for the chosen link (the one from
            //    getUserAndLinks may have expired while the screen was open).
            ScreenAnswer::Selected { link_id } => {
                if !active.contains(link_id.as_str()) {
                    return unexpected_answer(package_id, &ScreenAnswer::Selected { link_id });
                }
                let path = format!("/v1/device/links/{link_id}/token");
                match self.server.post::<_, LinkTokenResponse>(&path, &idp).await {
                    Ok(fresh) if fresh.request_status == RequestStatus::Successful => {
                        ShowLoginSelectionResponse::selected(link_id, fresh.ssi_token)
                    }
                    Ok(fresh) => {
                        ShowLoginSelectionResponse::status(fresh.request_status, fresh.message)
                    }
                    // The owner's choice stands; the app still has the token of
                    // getUserAndLinks and may ask again for a fresh one.
                    Err(e) if e.is_retryable() => {
                        tracing::warn!(%package_id, error = %e, "no fresh SSI token for the selected link");
                        ShowLoginSelectionResponse::selected(link_id, None)
                    }
                    Err(e) => server_failure(package_id, e),
                }
            }
            ScreenAnswer::ManualSignIn => {
                ShowLoginSelectionResponse::selection(UserSelection::ManualSignIn)
            }
            ScreenAnswer::TimedOut => {
                ShowLoginSelectionResponse::selection(UserSelection::NotApplicable)
            }
            other => unexpected_answer(package_id, &other),
        }
    }

    async fn record_metric_event(
        &self,
        app: &InstalledApp,
        request: SsiEventRequest,
    ) -> RecordMetricsEventResponse {
        let event = DeviceMetricEvent {
            event_id: new_event_id(self.rng()),
            package_id: app.package_id.clone(),
            ssi_event: request.ssi_event,
            timestamp: request.timestamp,
            failure_reason: request.failure_reason,
        };
        let body = serde_json::to_string(&event).expect("a metric event serializes");
        match self
            .store
            .insert_outbox(OutboxKind::Metric, &event.event_id, &body, self.now_ms())
            .await
        {
            Ok(()) => {
                self.outbox_wake.notify_one();
                RecordMetricsEventResponse::successful()
            }
            Err(e) => local_failure(&app.package_id, &e),
        }
    }

    /// The server's record of the app, cached for a few minutes.
    async fn app_record(&self, package_id: &str) -> Result<AppRecord, ServerError> {
        if let Some((at, record)) = lock(&self.records).get(package_id)
            && at.elapsed() < APP_RECORD_TTL
        {
            return Ok(record.clone());
        }
        let settings: AppSettingsResponse = self
            .server
            .get(&format!("/v1/device/settings?packageId={package_id}"))
            .await?;
        let icon = if settings.has_icon == Some(true) {
            self.server
                .get_bytes(&format!("/v1/apps/{package_id}/icon"))
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(%package_id, error = %e, "the app's icon could not be fetched");
                    None
                })
        } else {
            None
        };
        let record = AppRecord { settings, icon };
        // Only a known app's record is kept: a refusal may be lifted any time.
        if record.settings.request_status == RequestStatus::Successful {
            lock(&self.records).insert(package_id.to_owned(), (Instant::now(), record.clone()));
        }
        Ok(record)
    }

    /// The app's face on a screen: the server's name and icon, or the package id
    /// when the server has no name for it.
    async fn face(&self, package_id: &str) -> AppFace {
        match self.app_record(package_id).await {
            Ok(record) => self.face_of(package_id, &record),
            Err(e) => {
                tracing::warn!(%package_id, error = %e, "the app's name could not be fetched");
                AppFace {
                    package_id: package_id.to_owned(),
                    name: package_id.to_owned(),
                    icon: None,
                }
            }
        }
    }

    fn face_of(&self, package_id: &str, record: &AppRecord) -> AppFace {
        AppFace {
            package_id: package_id.to_owned(),
            name: record
                .settings
                .app_name
                .clone()
                .unwrap_or_else(|| package_id.to_owned()),
            icon: record.icon.clone(),
        }
    }
}

/// The app-facing checks of a request type, after its shape was read.
pub trait Validate {
    /// The limits of DESIGN.md section 9 (`now_ms` for metric timestamps).
    fn validate_at(&self, now_ms: i64) -> Result<(), ssi_proto::ValidationError>;
}

impl Validate for GetUserAndLinksRequest {
    fn validate_at(&self, _: i64) -> Result<(), ssi_proto::ValidationError> {
        self.validate()
    }
}
impl Validate for LinkUserAccountRequest {
    fn validate_at(&self, _: i64) -> Result<(), ssi_proto::ValidationError> {
        self.validate()
    }
}
impl Validate for ShowLoginSelectionRequest {
    fn validate_at(&self, _: i64) -> Result<(), ssi_proto::ValidationError> {
        self.validate()
    }
}
impl Validate for SsiEventRequest {
    fn validate_at(&self, now_ms: i64) -> Result<(), ssi_proto::ValidationError> {
        self.validate(now_ms)
    }
}

/// Reads `params` as the method's type; the message names the field.
fn parse_params<T: DeserializeOwned>(params: Value) -> Result<T, String> {
    let bytes = serde_json::to_vec(&params).expect("a JSON value serializes");
    ssi_proto::parse_json::<T>(&bytes).map_err(|e| match e {
        ssi_proto::ProtoError::Json {
            field: Some(field),
            detail,
        } => {
            let dot = if field.starts_with('[') { "" } else { "." };
            format!("params{dot}{field}: {}", without_position(&detail))
        }
        ssi_proto::ProtoError::Json {
            field: None,
            detail,
        } => {
            format!("params: {}", without_position(&detail))
        }
        other => format!("params: {other}"),
    })
}

/// serde's "… at line 1 column 40" points into the agent's copy of `params`,
/// not into the app's line: dropped.
fn without_position(detail: &str) -> &str {
    detail.rfind(" at line ").map_or(detail, |at| &detail[..at])
}

fn server_failure<R: SeedResponse>(package_id: &str, error: ServerError) -> R {
    tracing::warn!(%package_id, error = %error, "server call failed");
    R::status(error.request_status(), error.to_string())
}

fn local_failure<R: SeedResponse>(package_id: &str, error: &crate::store::StoreError) -> R {
    tracing::error!(%package_id, error = %error, "agent database failed");
    R::status(
        RequestStatus::Failure,
        "the agent could not write its database; see the agent's log".to_owned(),
    )
}

fn duplicate<R: SeedResponse>() -> R {
    R::status(
        RequestStatus::DuplicateRequest,
        "the app already has a linkUserAccount or showLoginSelection call in flight".to_owned(),
    )
}

fn unexpected_answer<R: SeedResponse>(package_id: &str, answer: &ScreenAnswer) -> R {
    tracing::error!(%package_id, ?answer, "the screen answered another question");
    R::status(
        RequestStatus::Failure,
        "the screen gave an answer that does not fit the question".to_owned(),
    )
}
