//! The developer console (DESIGN.md sections 6, 8 and 10): become a
//! developer, register and edit apps, "Enable Simple Sign-In" (an identity
//! provider, the SSI ID, and the apps bound to it), app keys, partner API
//! keys, and the Reports tab.
//!
//! Server-rendered like the account pages (askama, auto-escaped; the same
//! session, CSRF token in every form, error pages), with one small script
//! for the copy buttons (`/static/console.js`; the CSP allows no inline
//! script). Every change goes through the developer API's shared functions
//! in [`developer_api`], so the console and the JSON API keep one set of
//! rules, limits and audit entries. Every lookup is scoped to the signed-in
//! developer: another developer's ids are "not found", exactly as ids that
//! do not exist. A refused form writes nothing and names the field and the
//! limit.

use askama::Template;
use axum::Router;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use ssi_proto::ValidationError;
use ssi_proto::developer::{
    API_KEY_LABEL_MAX_CHARS, AppKeyStatus, AppKeyView, AppView, CreateApiKeyRequest,
    CreateAppRequest, DISPLAY_NAME_MAX_CHARS, ICON_MAX_BYTES, MAX_ACTIVE_API_KEYS_PER_DEVELOPER,
    MAX_CURRENT_KEYS_PER_APP, PACKAGE_ID_MAX_CHARS, UpdateAppRequest,
};
use ssi_proto::limits::{IDENTITY_PROVIDER_NAME_MAX_CHARS, MAX_MESSAGE_BYTES};
use ssi_proto::validate_identity_provider_name;
use tower_http::limit::RequestBodyLimitLayer;

use crate::domain::accounts::format_utc;
use crate::domain::developers::{Icon, check_icon};
use crate::http::ApiError;
use crate::http::account_pages::{
    CsrfForm, Nav, NoticeQuery, PageError, PageForm, render, require_form_session, require_session,
};
use crate::http::auth::{SignedIn, SignedInPage};
use crate::http::developer_api::{
    self as api, Developer, add_app_key, app_view, bind_app, create_identity_provider,
    create_partner_api_key, enroll_developer, key_view, register_app, remove_app, retire_app_key,
    revoke_partner_api_key,
};
use crate::reports::{
    self, DailyCounts, Month, ReportError, csv_file_name, monthly_rows, render_csv,
    render_funnel_svg, series_by_app,
};
use crate::state::AppState;
use crate::store::developers::{AppRow, AppUpdate};

/// The app forms carry an icon of up to [`ICON_MAX_BYTES`] plus the other
/// fields and the multipart envelope: the one body allowed over the 64 KiB
/// of DESIGN.md section 9, by this margin.
pub const APP_FORM_MAX_BYTES: usize = ICON_MAX_BYTES + 8 * 1024;

pub fn routes() -> Router<AppState> {
    let forms = Router::new()
        .route("/static/console.css", get(stylesheet))
        .route("/static/console.js", get(script))
        .route("/console", get(overview))
        .route("/console/enroll", post(enroll))
        .route("/console/apps", get(apps_page))
        .route("/console/apps/new", get(new_app_page))
        .route("/console/apps/{app_id}/idp", post(bind_idp))
        .route("/console/apps/{app_id}/delete", post(delete_app))
        .route("/console/apps/{app_id}/keys", get(keys_page).post(add_key))
        .route("/console/apps/{app_id}/keys/{kid}/retire", post(retire_key))
        .route("/console/sign-in", get(sign_in_page))
        .route("/console/idps", post(enable_sign_in))
        .route("/console/api-keys", get(api_keys_page).post(create_api_key))
        .route("/console/api-keys/{id}/revoke", post(revoke_api_key))
        .route("/console/reports", get(reports_page))
        .route("/console/reports.csv", get(report_csv))
        .layer(DefaultBodyLimit::max(MAX_MESSAGE_BYTES))
        .layer(RequestBodyLimitLayer::new(MAX_MESSAGE_BYTES));
    // The app forms upload icons: read by `Multipart` up to their own limit,
    // so that a larger body gets a page naming the limit.
    let uploads = Router::new()
        .route("/console/apps", post(create_app))
        .route("/console/apps/{app_id}", get(app_page).post(update_app))
        .layer(DefaultBodyLimit::max(APP_FORM_MAX_BYTES));
    forms.merge(uploads)
}

/// The console's pages in the OpenAPI document (tag `console`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    stylesheet,
    script,
    overview,
    enroll,
    apps_page,
    new_app_page,
    create_app,
    app_page,
    update_app,
    bind_idp,
    delete_app,
    keys_page,
    add_key,
    retire_key,
    sign_in_page,
    enable_sign_in,
    api_keys_page,
    create_api_key,
    revoke_api_key,
    reports_page,
    report_csv,
))]
pub(crate) struct ApiDoc;

const STYLESHEET: &str = include_str!("../../static/console.css");
const SCRIPT: &str = include_str!("../../static/console.js");

/// The console's stylesheet (in addition to `/static/style.css`).
#[utoipa::path(
    get,
    path = "/static/console.css",
    operation_id = "console_stylesheet",
    tag = "console",
    responses(
        (status = 200, description = "CSS (`Cache-Control: public, max-age=3600`)", body = String, content_type = "text/css"),
    ),
)]
async fn stylesheet() -> Response {
    static_text("text/css; charset=utf-8", STYLESHEET)
}

/// The console's one script: the copy buttons (no inline script anywhere).
#[utoipa::path(
    get,
    path = "/static/console.js",
    operation_id = "console_script",
    tag = "console",
    responses(
        (status = 200, description = "JavaScript (`Cache-Control: public, max-age=3600`)", body = String, content_type = "text/javascript"),
    ),
)]
async fn script() -> Response {
    static_text("text/javascript; charset=utf-8", SCRIPT)
}

fn static_text(content_type: &'static str, text: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        text,
    )
        .into_response()
}

// ---------------------------------------------------------------------------
// Plumbing.

/// Why a console request ends without its page.
pub(crate) enum ConsoleError {
    /// Sign in, a wrong CSRF token, an unreadable form, a failure: the
    /// account pages' handling.
    Page(PageError),
    /// A page of a developer for an account that is not one: to `/console`,
    /// which offers to become one.
    NotDeveloper,
    /// A refusal shown as a console page (not found, a rule of the domain).
    Shown(Box<Response>),
}

impl From<PageError> for ConsoleError {
    fn from(e: PageError) -> Self {
        Self::Page(e)
    }
}

impl From<crate::store::StoreError> for ConsoleError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Page(e.into())
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        match self {
            Self::Page(e) => e.into_response(),
            Self::NotDeveloper => Redirect::to("/console").into_response(),
            Self::Shown(response) => *response,
        }
    }
}

type ConsoleResult = Result<Response, ConsoleError>;

/// Which tab of the console a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tab {
    Overview,
    Apps,
    SignIn,
    ApiKeys,
    Reports,
}

impl Tab {
    fn name(self) -> &'static str {
        match self {
            Self::Overview => "overview",
            Self::Apps => "apps",
            Self::SignIn => "sign-in",
            Self::ApiKeys => "api-keys",
            Self::Reports => "reports",
        }
    }
}

fn console_nav(me: &SignedIn, notice: Option<&'static str>) -> Nav {
    let mut nav = Nav::signed_in(me, "console");
    nav.notice = notice;
    nav
}

/// A GET page's developer: sign in first (coming back here), then be a
/// developer (or go to `/console`, which offers to become one).
fn page_developer(page: SignedInPage, here: &str) -> Result<Developer, ConsoleError> {
    let me = require_session(page, here)?;
    if !me.account.is_developer {
        return Err(ConsoleError::NotDeveloper);
    }
    Ok(Developer(me))
}

/// A form post's developer: the session, the form's CSRF token, then the
/// developer role (a 403 page otherwise).
fn form_developer(page: SignedInPage, csrf: &str) -> Result<Developer, ConsoleError> {
    let me = require_form_session(page, csrf)?;
    if !me.account.is_developer {
        return Err(PageError::new(
            StatusCode::FORBIDDEN,
            "Not a developer",
            "This account is not a developer yet. Open the developer console to become one.",
        )
        .into());
    }
    Ok(Developer(me))
}

#[derive(Template)]
#[template(path = "console_refused.html")]
struct RefusedPage<'a> {
    nav: Nav,
    tab: &'static str,
    title: &'a str,
    message: &'a str,
    back: &'a str,
}

/// A refusal as a console page, with a way back.
fn refused(
    developer: &Developer,
    tab: Tab,
    status: StatusCode,
    title: &str,
    message: &str,
    back: &str,
) -> ConsoleError {
    let page = RefusedPage {
        nav: console_nav(&developer.0, None),
        tab: tab.name(),
        title,
        message,
        back,
    };
    ConsoleError::Shown(Box::new(render(status, &page)))
}

fn not_found(developer: &Developer, tab: Tab, what: &str, back: &str) -> ConsoleError {
    refused(
        developer,
        tab,
        StatusCode::NOT_FOUND,
        "Not found",
        &format!("No such {what} in your developer account."),
        back,
    )
}

/// An error of a shared developer function: a 404 becomes the console's
/// not-found page, a refusal (400, 409, 413) a page naming the rule, a
/// failure the account pages' error page.
fn api_refusal(
    developer: &Developer,
    tab: Tab,
    what: &str,
    back: &str,
    e: ApiError,
) -> ConsoleError {
    if e.status == StatusCode::NOT_FOUND {
        return not_found(developer, tab, what, back);
    }
    if e.status.is_client_error() {
        return refused(developer, tab, e.status, "Not done", &e.message, back);
    }
    PageError::from(e).into()
}

fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// Fixed notices after a change (never text from the request).
fn notice(query: &NoticeQuery) -> Option<&'static str> {
    match query.notice.as_str() {
        "enrolled" => Some("Your account is now a developer account."),
        "created" => Some("The app was registered, with its first app key."),
        "saved" => Some("The app was saved."),
        "deleted" => Some("The app was deleted, with its keys."),
        "bound" => Some("The app now uses this SSI ID."),
        "key-added" => Some("A new app key was added and published."),
        "key-retired" => Some(
            "The key was retired: no longer published; link signing keys sealed to it \
             are accepted until the date shown.",
        ),
        "enabled" => Some("Simple Sign-In is enabled: your new SSI ID is shown below."),
        "revoked" => Some("The API key was revoked: the partner API refuses it from now on."),
        _ => None,
    }
}

/// Puts a form's own name on a validation error of a wire field.
fn form_field_error(e: ValidationError) -> String {
    let field = match e.field.as_str() {
        "iconType" | "iconBase64" => "icon",
        other => other,
    };
    format!("{field}: {} ({})", e.limit, e.message)
}

// ---------------------------------------------------------------------------
// Overview and enrolment.

struct Step {
    title: &'static str,
    detail: String,
    done: bool,
    link: &'static str,
}

#[derive(Template)]
#[template(path = "console_overview.html")]
struct OverviewPage {
    nav: Nav,
    tab: &'static str,
    steps: Vec<Step>,
}

#[derive(Template)]
#[template(path = "console_enroll.html")]
struct EnrollPage {
    nav: Nav,
    tab: &'static str,
}

/// The console's start: the onboarding steps, or the offer to become a
/// developer.
#[utoipa::path(
    get,
    path = "/console",
    operation_id = "console_overview",
    tag = "console",
    params(NoticeQuery),
    responses(
        (status = 200, description = "The onboarding steps of a developer, or the offer to become one (HTML)", body = String, content_type = "text/html"),
        (status = 303, description = "Not signed in: to the sign-in page, which comes back here", headers(("Location" = String))),
        (status = "5XX", description = "An error page (HTML)", body = String, content_type = "text/html"),
    ),
    security(("session" = [])),
)]
async fn overview(
    State(state): State<AppState>,
    page: SignedInPage,
    Query(query): Query<NoticeQuery>,
) -> ConsoleResult {
    let me = require_session(page, "/console")?;
    let nav = console_nav(&me, notice(&query));
    if !me.account.is_developer {
        let page = EnrollPage { nav, tab: "enroll" };
        return Ok(render(StatusCode::OK, &page));
    }
    let developer_id = me.account.id.as_str();
    let apps = state.store.list_apps(developer_id).await?;
    let idps = state.store.list_idps(developer_id).await?;
    let api_keys = state.store.count_active_api_keys(developer_id).await?;
    let unbound = apps.iter().filter(|a| a.idp_name.is_none()).count();
    let steps = vec![
        Step {
            title: "Register your app",
            detail: format!(
                "{} app(s): package id, the name and icon shown on the consent screen.",
                apps.len()
            ),
            done: !apps.is_empty(),
            link: "/console/apps/new",
        },
        Step {
            title: "Enable Simple Sign-In",
            detail: format!(
                "{} SSI ID(s): the name your app passes as IDP_NAME.",
                idps.len()
            ),
            done: !idps.is_empty(),
            link: "/console/sign-in",
        },
        Step {
            title: "Bind your apps to an SSI ID",
            detail: if apps.is_empty() {
                "No app yet.".to_owned()
            } else {
                format!("{unbound} of {} app(s) not bound yet.", apps.len())
            },
            done: !apps.is_empty() && unbound == 0,
            link: "/console/sign-in",
        },
        Step {
            title: "Give your backend the app's public key",
            detail: "Your backend seals each link signing key to the app key (JWKS).".to_owned(),
            done: !apps.is_empty(),
            link: "/console/apps",
        },
        Step {
            title: "Create a partner API key",
            detail: format!(
                "{api_keys} active key(s), for your backend's calls to the partner API."
            ),
            done: api_keys > 0,
            link: "/console/api-keys",
        },
    ];
    let page = OverviewPage {
        nav,
        tab: Tab::Overview.name(),
        steps,
    };
    Ok(render(StatusCode::OK, &page))
}

/// Makes the signed-in account a developer (idempotent; audited).
#[utoipa::path(
    post,
    path = "/console/enroll",
    operation_id = "console_enroll",
    tag = "console",
    request_body(content = CsrfForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "To the console (or to the sign-in page without a session)", headers(("Location" = String))),
        (status = "4XX", description = "An error page (HTML): an unreadable form (400), a wrong CSRF token (403)", body = String, content_type = "text/html"),
        (status = "5XX", description = "An error page (HTML)", body = String, content_type = "text/html"),
    ),
    security(("session" = [])),
)]
async fn enroll(
    State(state): State<AppState>,
    page: SignedInPage,
    headers: HeaderMap,
    PageForm(form): PageForm<CsrfForm>,
) -> ConsoleResult {
    let me = require_form_session(page, &form.csrf)?;
    enroll_developer(&state, &headers, me)
        .await
        .map_err(PageError::from)?;
    Ok(see_other("/console?notice=enrolled"))
}

// ---------------------------------------------------------------------------
// Apps.

#[derive(Template)]
#[template(path = "console_apps.html")]
struct AppsPage {
    nav: Nav,
    tab: &'static str,
    apps: Vec<AppItem>,
}

/// An app as the console shows it.
struct AppItem {
    view: AppView,
    /// Same-origin path of the icon (the CSP allows images from here only).
    icon_path: Option<String>,
    created: String,
}

fn app_item(state: &AppState, app: &AppRow) -> AppItem {
    AppItem {
        view: app_view(state, app),
        icon_path: app
            .has_icon
            .then(|| format!("/v1/apps/{}/icon", app.package_id)),
        created: format_utc(app.created_at),
    }
}

/// The developer's apps.
#[utoipa::path(
    get,
    path = "/console/apps",
    operation_id = "console_apps_page",
    tag = "console",
    params(NoticeQuery),
    responses(
        (status = 200, description = "The developer's apps (HTML)", body = String, content_type = "text/html"),
        (status = 303, description = "Not signed in: to the sign-in page; not a developer: to `/console`", headers(("Location" = String))),
        (status = "5XX", description = "An error page (HTML)", body = String, content_type = "text/html"),
    ),
    security(("session" = [])),
)]
async fn apps_page(
    State(state): State<AppState>,
    page: SignedInPage,
    Query(query): Query<NoticeQuery>,
) -> ConsoleResult {
    let developer = page_developer(page, "/console/apps")?;
    let apps = state
        .store
        .list_apps(developer.id())
        .await?
        .iter()
        .map(|app| app_item(&state, app))
        .collect();
    let page = AppsPage {
        nav: console_nav(&developer.0, notice(&query)),
        tab: Tab::Apps.name(),
        apps,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Template)]
#[template(path = "console_app_new.html")]
struct NewAppPage {
    nav: Nav,
    tab: &'static str,
    package_id: String,
    display_name: String,
    error: Option<String>,
    limits: FormLimits,
}

/// The limits the forms state next to their fields (the server checks them).
struct FormLimits {
    package_id_max: usize,
    display_name_max: usize,
    icon_max: usize,
    idp_name_max: usize,
    label_max: usize,
}

const LIMITS: FormLimits = FormLimits {
    package_id_max: PACKAGE_ID_MAX_CHARS,
    display_name_max: DISPLAY_NAME_MAX_CHARS,
    icon_max: ICON_MAX_BYTES,
    idp_name_max: IDENTITY_PROVIDER_NAME_MAX_CHARS,
    label_max: API_KEY_LABEL_MAX_CHARS,
};

/// The form that registers an app.
#[utoipa::path(
    get,
    path = "/console/apps/new",
    operation_id = "console_new_app_page",
    tag = "console",
    responses(
        (status = 200, description = "The form (HTML)", body = String, content_type = "text/html"),
        (status = 303, description = "Not signed in: to the sign-in page; not a developer: to `/console`", headers(("Location" = String))),
    ),
    security(("session" = [])),
)]
async fn new_app_page(page: SignedInPage) -> ConsoleResult {
    let developer = page_developer(page, "/console/apps/new")?;
    let page = NewAppPage {
        nav: console_nav(&developer.0, None),
        tab: Tab::Apps.name(),
        package_id: String::new(),
        display_name: String::new(),
        error: None,
        limits: LIMITS,
    };
    Ok(render(StatusCode::OK, &page))
}

/// The fields of the app forms (`multipart/form-data`).
#[derive(Debug, Default, utoipa::ToSchema)]
#[allow(dead_code)] // The schema of the form; the handler reads the parts one by one.
struct AppForm {
    /// The session's CSRF token.
    csrf: String,
    /// Registration only: reverse-DNS, 3-128 characters of `[a-z0-9._]`.
    #[schema(rename = "packageId")]
    package_id: Option<String>,
    /// 1-64 characters without control characters.
    #[schema(rename = "displayName")]
    display_name: String,
    /// A PNG (`image/png`) or SVG (`image/svg+xml`) file of at most 65536 bytes; empty for none.
    #[schema(value_type = Option<String>, format = Binary)]
    icon: Option<Vec<u8>>,
    /// Edit only: `on` removes the icon (not together with a new one).
    #[schema(rename = "removeIcon")]
    remove_icon: Option<String>,
}

/// An app form as read from its parts.
#[derive(Default)]
struct AppFormData {
    csrf: String,
    package_id: String,
    display_name: String,
    /// `(content type, bytes)` of a chosen file.
    icon: Option<(String, Vec<u8>)>,
    remove_icon: bool,
}

/// Why an app form could not be read.
enum AppFormError {
    /// The body is over [`APP_FORM_MAX_BYTES`].
    TooLarge,
    Unreadable(String),
}

impl AppFormError {
    fn message(&self) -> String {
        match self {
            Self::TooLarge => format!(
                "icon: must be at most {ICON_MAX_BYTES} bytes (the form was over \
                 {APP_FORM_MAX_BYTES} bytes)"
            ),
            Self::Unreadable(_) => "The form could not be read.".to_owned(),
        }
    }
}

async fn read_app_form(
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<AppFormData, AppFormError> {
    let mut multipart = multipart.map_err(|e| AppFormError::Unreadable(e.body_text()))?;
    let mut form = AppFormData::default();
    let failed = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppFormError::TooLarge
        } else {
            AppFormError::Unreadable(e.body_text())
        }
    };
    while let Some(field) = multipart.next_field().await.map_err(failed)? {
        let name = field.name().unwrap_or("").to_owned();
        match name.as_str() {
            "icon" => {
                let content_type = field.content_type().unwrap_or("").to_owned();
                let chosen = field.file_name().is_some_and(|f| !f.is_empty());
                let bytes = field.bytes().await.map_err(failed)?;
                // An empty file input sends an empty part: no icon.
                if chosen || !bytes.is_empty() {
                    form.icon = Some((content_type, bytes.to_vec()));
                }
            }
            "csrf" | "packageId" | "displayName" | "removeIcon" => {
                let text = field.text().await.map_err(failed)?;
                match name.as_str() {
                    "csrf" => form.csrf = text,
                    "packageId" => form.package_id = text,
                    "displayName" => form.display_name = text,
                    _ => form.remove_icon = text == "on" || text == "true",
                }
            }
            other => {
                return Err(AppFormError::Unreadable(format!(
                    "unknown form field {:?}",
                    other.chars().take(64).collect::<String>()
                )));
            }
        }
    }
    Ok(form)
}

/// The icon of a form, checked as the JSON API checks it.
fn form_icon(icon: Option<(String, Vec<u8>)>) -> Result<Option<Icon>, String> {
    icon.map(|(content_type, bytes)| check_icon("icon", bytes, &content_type))
        .transpose()
        .map_err(form_field_error)
}

/// Registers an app with its first app key.
#[utoipa::path(
    post,
    path = "/console/apps",
    operation_id = "console_create_app",
    tag = "console",
    request_body(content = AppForm, content_type = "multipart/form-data"),
    responses(
        (status = 303, description = "Registered: to the app's page (or to the sign-in page without a session)", headers(("Location" = String))),
        (status = "4XX", description = "The form again with the field and the limit (400, 409 when the package id is taken or the developer has 100 apps, 413 over 73728 bytes); an error page for a wrong CSRF token (403)", body = String, content_type = "text/html"),
        (status = "5XX", description = "An error page (HTML)", body = String, content_type = "text/html"),
    ),
    security(("session" = [])),
)]
async fn create_app(
    State(state): State<AppState>,
    page: SignedInPage,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> ConsoleResult {
    let form = match read_app_form(multipart).await {
        Ok(form) => form,
        Err(e) => return Err(unreadable_app_form(page, &e)),
    };
    let developer = form_developer(page, &form.csrf)?;
    let again = |status: StatusCode, error: String| {
        let page = NewAppPage {
            nav: console_nav(&developer.0, None),
            tab: Tab::Apps.name(),
            package_id: form.package_id.clone(),
            display_name: form.display_name.clone(),
            error: Some(error),
            limits: LIMITS,
        };
        Ok(render(status, &page))
    };
    // 1. Every field is checked before anything is written.
    let request = CreateAppRequest {
        package_id: form.package_id.clone(),
        display_name: form.display_name.clone(),
        icon_base64: None,
        icon_type: None,
    };
    if let Err(e) = request.validate() {
        return again(StatusCode::BAD_REQUEST, form_field_error(e));
    }
    let icon = match form_icon(form.icon.clone()) {
        Ok(icon) => icon,
        Err(error) => return again(StatusCode::BAD_REQUEST, error),
    };
    // 2. The app and its first key, in one transaction.
    match register_app(
        &state,
        &headers,
        &developer,
        request.package_id,
        request.display_name,
        icon,
    )
    .await
    {
        Ok(app) => Ok(see_other(&format!(
            "/console/apps/{}?notice=created",
            app.id
        ))),
        Err(e) if e.status.is_client_error() => again(e.status, e.message),
        Err(e) => Err(PageError::from(e).into()),
    }
}

/// An app form that could not be read: a sign-in redirect without a
/// session, else a page naming the limit (nothing was checked or written).
fn unreadable_app_form(page: SignedInPage, e: &AppFormError) -> ConsoleError {
    let Some(me) = page.0 else {
        return PageError::SignIn { next: None }.into();
    };
    let (status, internal) = match e {
        AppFormError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, None),
        AppFormError::Unreadable(detail) => (StatusCode::BAD_REQUEST, Some(detail.clone())),
    };
    if let Some(internal) = internal {
        tracing::info!(internal = %internal, "app form refused");
    }
    if !me.account.is_developer {
        return PageError::new(status, "Request refused", e.message()).into();
    }
    refused(
        &Developer(me),
        Tab::Apps,
        status,
        "Not done",
        &e.message(),
        "/console/apps",
    )
}

#[derive(Template)]
#[template(path = "console_app.html")]
struct AppPage {
    nav: Nav,
    tab: &'static str,
    app: AppItem,
    /// The developer's SSI IDs, for the binding form.
    idp_names: Vec<String>,
    display_name: String,
    edit_error: Option<String>,
    bind_error: Option<String>,
    delete_error: Option<String>,
    limits: FormLimits,
}

async fn app_page_for(
    state: &AppState,
    developer: &Developer,
    app: &AppRow,
    notice: Option<&'static str>,
) -> Result<AppPage, ConsoleError> {
    let idp_names = state
        .store
        .list_idps(developer.id())
        .await?
        .into_iter()
        .map(|(idp, _)| idp.name)
        .collect();
    Ok(AppPage {
        nav: console_nav(&developer.0, notice),
        tab: Tab::Apps.name(),
        display_name: app.display_name.clone(),
        app: app_item(state, app),
        idp_names,
        edit_error: None,
        bind_error: None,
        delete_error: None,
        limits: LIMITS,
    })
}

async fn owned_app(
    state: &AppState,
    developer: &Developer,
    app_id: &str,
) -> Result<AppRow, ConsoleError> {
    state
        .store
        .find_app(developer.id(), app_id)
        .await?
        .ok_or_else(|| not_found(developer, Tab::Apps, "app", "/console/apps"))
}

/// One app: its facts, the edit form, its SSI ID.
#[utoipa::path(
    get,
    path = "/console/apps/{app_id}",
    operation_id = "console_app_page",
    tag = "console",
    params(("app_id" = String, Path, description = "The app's id"), NoticeQuery),
    responses(
        (status = 200, description = "The app (HTML)", body = String, content_type = "text/html"),
        (status = 303, description = "Not signed in: to the sign-in page; not a developer: to `/console`", headers(("Location" = String))),
        (status = 404, description = "No such app of this developer (HTML)", body = String, content_type = "text/html"),
        (status = "5XX", description = "An error page (HTML)", body = String, content_type = "text/html"),
    ),
    security(("session" = [])),
)]
async fn app_page(
    State(state): State<AppState>,
    page: SignedInPage,
    Path(app_id): Path<String>,
    Query(query): Query<NoticeQuery>,
) -> ConsoleResult {
    let developer = page_developer(page, &format!("/console/apps/{app_id}"))?;
    let app = owned_app(&state, &developer, &app_id).await?;
    let page = app_page_for(&state, &developer, &app, notice(&query)).await?;
    Ok(render(StatusCode::OK, &page))
}

/// Changes an app's display name or icon.
#[utoipa::path(
    post,
    path = "/console/apps/{app_id}",
    operation_id = "console_update_app",
    tag = "console",
    params(("app_id" = String, Path, description = "The app's id")),
    request_body(content = AppForm, content_type = "multipart/form-data"),
    responses(
        (status = 303, description = "Saved: to the app's page (or to the sign-in page without a session)", headers(("Location" = String))),
        (status = "4XX", description = "The page again with the field and the limit (400, 413 over 73728 bytes); an error page for a wrong CSRF token (403) or no such app of this developer (404)", body = String, content_type = "text/html"),
        (status = "5XX", description = "An error page (HTML)", body = String, content_type = "text/html"),
    ),
    security(("session" = [])),
)]
async fn update_app(
    State(state): State<AppState>,
    page: SignedInPage,
    headers: HeaderMap,
    Path(app_id): Path<String>,
    multipart: Result<Multipart, MultipartRejection>,
) -> ConsoleResult {
    let form = match read_app_form(multipart).await {
        Ok(form) => form,
        Err(e) => return Err(unreadable_app_form(page, &e)),
    };
    let developer = form_developer(page, &form.csrf)?;
    let app = owned_app(&state, &developer, &app_id).await?;
    // 1. Every field is checked before anything is written.
    let checked = UpdateAppRequest {
        display_name: Some(form.display_name.clone()),
        remove_icon: form.remove_icon,
        ..UpdateAppRequest::default()
    }
    .validate()
    .map_err(form_field_error)
    .and_then(|()| {
        if form.remove_icon && form.icon.is_some() {
            return Err(
                "removeIcon: must not be checked together with a new icon (got both)".to_owned(),
            );
        }
        form_icon(form.icon.clone())
    });
    let icon = match checked {
        Ok(icon) => icon,
        Err(error) => {
            let mut page = app_page_for(&state, &developer, &app, None).await?;
            page.display_name = form.display_name.clone();
            page.edit_error = Some(error);
            return Ok(render(StatusCode::BAD_REQUEST, &page));
        }
    };
    // 2. One transaction.
    let update = AppUpdate {
        display_name: Some(form.display_name),
        icon: match icon {
            Some(icon) => Some(Some(icon)),
            None if form.remove_icon => Some(None),
            None => None,
        },
    };
    api::apply_update(&state, &headers, &developer, &app_id, update)
        .await
        .map_err(|e| api_refusal(&developer, Tab::Apps, "app", "/console/apps", e))?;
    Ok(see_other(&format!("/console/apps/{app_id}?notice=saved")))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
struct BindForm {
    /// The session's CSRF token.
    csrf: String,
    /// One of the developer's SSI IDs.
    #[serde(rename = "identityProviderName")]
    #[schema(rename = "identityProviderName")]
    identity_provider_name: String,
}

/// Binds an app to one of the developer's SSI IDs.
#[utoipa::path(
    post,
    path = "/console/apps/{app_id}/idp",
    operation_id = "console_bind_idp",
    tag = "console",
    params(("app_id" = String, Path, description = "The app's id")),
    request_body(content = BindForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Bound: to the app's page (or to the sign-in page without a session)", headers(("Location" = String))),
        (status = "4XX", description = "The page again with the field and the limit (400); an error page for an unreadable form (400), a wrong CSRF token (403), no such app or SSI ID of this developer (404)", body = String, content_type = "text/html"),
        (status = "5XX", description = "An error page (HTML)", body = String, content_type = "text/html"),
    ),
    security(("session" = [])),
)]
async fn bind_idp(
    State(state): State<AppState>,
    page: SignedInPage,
    headers: HeaderMap,
    Path(app_id): Path<String>,
    PageForm(form): PageForm<BindForm>,
) -> ConsoleResult {
    let developer = form_developer(page, &form.csrf)?;
    let app = owned_app(&state, &developer, &app_id).await?;
    if let Err(e) = validate_identity_provider_name(&form.identity_provider_name) {
        let mut page = app_page_for(&state, &developer, &app, None).await?;
        page.bind_error = Some(form_field_error(e));
        return Ok(render(StatusCode::BAD_REQUEST, &page));
    }
    let back = format!("/console/apps/{app_id}");
    bind_app(
        &state,
        &headers,
        &developer,
        &app_id,
        &form.identity_provider_name,
    )
    .await
    .map_err(|e| api_refusal(&developer, Tab::Apps, "app or SSI ID", &back, e))?;
    Ok(see_other(&format!("{back}?notice=bound")))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
struct DeleteForm {
    /// The session's CSRF token.
    csrf: String,
    /// The app's package id, typed again to confirm.
    confirm: String,
}

/// Deletes an app with its keys (its users' links stay with the SSI ID).
#[utoipa::path(
    post,
    path = "/console/apps/{app_id}/delete",
    operation_id = "console_delete_app",
    tag = "console",
    params(("app_id" = String, Path, description = "The app's id")),
    request_body(content = DeleteForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Deleted: to the apps page (or to the sign-in page without a session)", headers(("Location" = String))),
        (status = "4XX", description = "The app's page again when `confirm` is not the package id (400); an error page for an unreadable form (400), a wrong CSRF token (403), no such app of this developer (404)", body = String, content_type = "text/html"),
        (status = "5XX", description = "An error page (HTML)", body = String, content_type = "text/html"),
    ),
    security(("session" = [])),
)]
async fn delete_app(
    State(state): State<AppState>,
    page: SignedInPage,
    headers: HeaderMap,
    Path(app_id): Path<String>,
    PageForm(form): PageForm<DeleteForm>,
) -> ConsoleResult {
    let developer = form_developer(page, &form.csrf)?;
    let app = owned_app(&state, &developer, &app_id).await?;
    if form.confirm.trim() != app.package_id {
        let mut page = app_page_for(&state, &developer, &app, None).await?;
        page.delete_error = Some(format!(
            "confirm: must be the app's package id, {} (got {} characters)",
            app.package_id,
            form.confirm.chars().count()
        ));
        return Ok(render(StatusCode::BAD_REQUEST, &page));
    }
    remove_app(&state, &headers, &developer, &app_id)
        .await
        .map_err(|e| api_refusal(&developer, Tab::Apps, "app", "/console/apps", e))?;
    Ok(see_other("/console/apps?notice=deleted"))
}

// ---------------------------------------------------------------------------
// App keys.

struct KeyItem {
    view: AppKeyView,
    is_current: bool,
    status: &'static str,
    created: String,
    retired: Option<String>,
    expires: Option<String>,
    /// The public JWK, pretty-printed, for reading and copying.
    jwk_text: String,
}

#[derive(Template)]
#[template(path = "console_keys.html")]
struct KeysPage {
    nav: Nav,
    tab: &'static str,
    app: AppItem,
    keys: Vec<KeyItem>,
    current_keys: usize,
    max_current_keys: usize,
    error: Option<String>,
}

async fn keys_page_for(
    state: &AppState,
    developer: &Developer,
    app: &AppRow,
    notice: Option<&'static str>,
) -> Result<KeysPage, ConsoleError> {
    let now = state.now_ms();
    let mut keys = Vec::new();
    for row in state.store.list_app_keys(&app.id).await? {
        let view = key_view(&row, now).map_err(PageError::from)?;
        let jwk_text = serde_json::to_string_pretty(&view.public_jwk)
            .map_err(|e| PageError::from(ApiError::internal(format!("public JWK: {e}"))))?;
        keys.push(KeyItem {
            is_current: view.status == AppKeyStatus::Current,
            status: match view.status {
                AppKeyStatus::Current => "current",
                AppKeyStatus::Retired => "retired",
                AppKeyStatus::Expired => "expired",
            },
            created: format_utc(view.created_at),
            retired: view.retired_at.map(format_utc),
            expires: view.expires_at.map(format_utc),
            jwk_text,
            view,
        });
    }
    Ok(KeysPage {
        nav: console_nav(&developer.0, notice),
        tab: Tab::Apps.name(),
        current_keys: keys.iter().filter(|k| k.is_current).count(),
        max_current_keys: MAX_CURRENT_KEYS_PER_APP,
        app: app_item(state, app),
        keys,
        error: None,
    })
}

/// An app's keys: the public JWKs (with copy buttons), add, retire.
#[utoipa::path(
    get,
    path = "/console/apps/{app_id}/keys",
    operation_id = "console_keys_page",
    tag = "console",
    params(("app_id" = String, Path, description = "The app's id"), NoticeQuery),
    responses(
        (status = 200, description = "The app's keys (HTML)", body = String, content_type = "text/html"),
        (status = 303, description = "Not signed in: to the sign-in page; not a developer: to `/console`", headers(("Location" = String))),
        (status = 404, description = "No such app of this developer (HTML)", body = String, content_type = "text/html"),
        (status = "5XX", description = "An error page (HTML)", body = String, content_type = "text/html"),
    ),
    security(("session" = [])),
)]
async fn keys_page(
    State(state): State<AppState>,
    page: SignedInPage,
    Path(app_id): Path<String>,
    Query(query): Query<NoticeQuery>,
) -> ConsoleResult {
    let developer = page_developer(page, &format!("/console/apps/{app_id}/keys"))?;
    let app = owned_app(&state, &developer, &app_id).await?;
    let page = keys_page_for(&state, &developer, &app, notice(&query)).await?;
    Ok(render(StatusCode::OK, &page))
}

/// The keys page again, with why a key change was refused.
async fn keys_refused(
    state: &AppState,
    developer: &Developer,
    app: &AppRow,
    e: ApiError,
) -> ConsoleResult {
    if !e.status.is_client_error() || e.status == StatusCode::NOT_FOUND {
        let back = format!("/console/apps/{}/keys", app.id);
        return Err(api_refusal(developer, Tab::Apps, "app key", &back, e));
    }
    let mut page = keys_page_for(state, developer, app, None).await?;
    page.error = Some(e.message);
    Ok(render(e.status, &page))
}

/// Adds a key to an app (published at once).
#[utoipa::path(
    post,
    path = "/console/apps/{app_id}/keys",
    operation_id = "console_add_key",
    tag = "console",
    params(("app_id" = String, Path, description = "The app's id")),
    request_body(content = CsrfForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Added: to the keys page (or to the sign-in page without a session)", headers(("Location" = String))),
        (status = "4XX", description = "The keys page again when the app has 10 current keys (409); an error page for an unreadable form (400), a wrong CSRF token (403), no such app of this developer (404)", body = String, content_type = "text/html"),
        (status = "5XX", description = "An error page (HTML)", body = String, content_type = "text/html"),
    ),
    security(("session" = [])),
)]
async fn add_key(
    State(state): State<AppState>,
    page: SignedInPage,
    headers: HeaderMap,
    Path(app_id): Path<String>,
    PageForm(form): PageForm<CsrfForm>,
) -> ConsoleResult {
    let developer = form_developer(page, &form.csrf)?;
    let app = owned_app(&state, &developer, &app_id).await?;
    match add_app_key(&state, &headers, &developer, &app_id).await {
        Ok(_) => Ok(see_other(&format!(
            "/console/apps/{app_id}/keys?notice=key-added"
        ))),
        Err(e) => keys_refused(&state, &developer, &app, e).await,
    }
}

/// Retires an app key (never the last current one).
#[utoipa::path(
    post,
    path = "/console/apps/{app_id}/keys/{kid}/retire",
    operation_id = "console_retire_key",
    tag = "console",
    params(("app_id" = String, Path, description = "The app's id"),
        ("kid" = String, Path, description = "The key's id")),
    request_body(content = CsrfForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Retired: to the keys page (or to the sign-in page without a session)", headers(("Location" = String))),
        (status = "4XX", description = "The keys page again when the key is already retired or is the last current key (409); an error page for an unreadable form (400), a wrong CSRF token (403), no such app or key of this developer (404)", body = String, content_type = "text/html"),
        (status = "5XX", description = "An error page (HTML)", body = String, content_type = "text/html"),
    ),
    security(("session" = [])),
)]
async fn retire_key(
    State(state): State<AppState>,
    page: SignedInPage,
    headers: HeaderMap,
    Path((app_id, kid)): Path<(String, String)>,
    PageForm(form): PageForm<CsrfForm>,
) -> ConsoleResult {
    let developer = form_developer(page, &form.csrf)?;
    let app = owned_app(&state, &developer, &app_id).await?;
    match retire_app_key(&state, &headers, &developer, &app_id, &kid).await {
        Ok(_) => Ok(see_other(&format!(
            "/console/apps/{app_id}/keys?notice=key-retired"
        ))),
        Err(e) => keys_refused(&state, &developer, &app, e).await,
    }
}

// ---------------------------------------------------------------------------
// Enable Simple Sign-In: SSI IDs (identity providers) and their apps.

struct IdpItem {
    name: String,
    created: String,
    apps: Vec<String>,
}

struct AppChoice {
    id: String,
    display_name: String,
    package_id: String,
    idp_name: Option<String>,
    checked: bool,
}

#[derive(Template)]
#[template(path = "console_sign_in.html")]
struct SignInPage {
    nav: Nav,
    tab: &'static str,
    idps: Vec<IdpItem>,
    apps: Vec<AppChoice>,
    name: String,
    error: Option<String>,
    limits: FormLimits,
}

async fn sign_in_page_for(
    state: &AppState,
    developer: &Developer,
    notice: Option<&'static str>,
) -> Result<SignInPage, ConsoleError> {
    let idps = state
        .store
        .list_idps(developer.id())
        .await?
        .into_iter()
        .map(|(idp, apps)| IdpItem {
            created: format_utc(idp.created_at),
            name: idp.name,
            apps,
        })
        .collect();
    let apps = state
        .store
        .list_apps(developer.id())
        .await?
        .into_iter()
        .map(|app| AppChoice {
            checked: app.idp_name.is_none(),
            id: app.id,
            display_name: app.display_name,
            package_id: app.package_id,
            idp_name: app.idp_name,
        })
        .collect();
    Ok(SignInPage {
        nav: console_nav(&developer.0, notice),
        tab: Tab::SignIn.name(),
        idps,
        apps,
        name: String::new(),
        error: None,
        limits: LIMITS,
    })
}

/// "Enable Simple Sign-In": the developer's SSI IDs with their apps, and
/// the form that creates one and binds apps to it.
#[utoipa::path(
    get,
    path = "/console/sign-in",
    operation_id = "console_sign_in_page",
    tag = "console",
    params(NoticeQuery),
    responses(
        (status = 200, description = "The SSI IDs and the form (HTML)", body = String, content_type = "text/html"),
        (status = 303, description = "Not signed in: to the sign-in page; not a developer: to `/console`", headers(("Location" = String))),
        (status = "5XX", description = "An error page (HTML)", body = String, content_type = "text/html"),
    ),
    security(("session" = [])),
)]
async fn sign_in_page(
    State(state): State<AppState>,
    page: SignedInPage,
    Query(query): Query<NoticeQuery>,
) -> ConsoleResult {
    let developer = page_developer(page, "/console/sign-in")?;
    let page = sign_in_page_for(&state, &developer, notice(&query)).await?;
    Ok(render(StatusCode::OK, &page))
}

/// The fields of the "Enable Simple Sign-In" form.
#[derive(Debug, Default, utoipa::ToSchema)]
#[allow(dead_code)] // The schema of the form; the handler reads the pairs (`app` repeats).
struct EnableForm {
    /// The session's CSRF token.
    csrf: String,
    /// Empty for a generated name (`ssi.` and 16 hex digits); else 1-64
    /// characters of `[A-Za-z0-9._-]`, globally unique.
    #[schema(rename = "identityProviderName")]
    identity_provider_name: String,
    /// The ids of the apps to bind to it (repeated).
    app: Vec<String>,
}

/// Creates an SSI ID (an identity provider) and binds the chosen apps to it.
#[utoipa::path(
    post,
    path = "/console/idps",
    operation_id = "console_enable_sign_in",
    tag = "console",
    request_body(content = EnableForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Created: to the SSI IDs page, which shows it (or to the sign-in page without a session)", headers(("Location" = String))),
        (status = "4XX", description = "The page again with the field and the limit (400; 409 when the name is taken or the developer has 100); an error page for an unreadable form (400), a wrong CSRF token (403), an app that is not this developer's (404)", body = String, content_type = "text/html"),
        (status = "5XX", description = "An error page (HTML)", body = String, content_type = "text/html"),
    ),
    security(("session" = [])),
)]
async fn enable_sign_in(
    State(state): State<AppState>,
    page: SignedInPage,
    headers: HeaderMap,
    PageForm(pairs): PageForm<Vec<(String, String)>>,
) -> ConsoleResult {
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    };
    let developer = form_developer(page, field("csrf"))?;
    let name = field("identityProviderName").trim().to_owned();
    let mut app_ids: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "app")
        .map(|(_, v)| v.as_str())
        .collect();
    app_ids.sort_unstable();
    app_ids.dedup();
    let again = async |status: StatusCode, error: String| -> ConsoleResult {
        let mut page = sign_in_page_for(&state, &developer, None).await?;
        page.name = name.clone();
        for app in &mut page.apps {
            app.checked = app_ids.contains(&app.id.as_str());
        }
        page.error = Some(error);
        Ok(render(status, &page))
    };
    // 1. Every field is checked before anything is written: the name, and
    // that each app is this developer's.
    // An empty name asks for a generated one.
    let checked = match name.as_str() {
        "" => Ok(()),
        given => validate_identity_provider_name(given),
    };
    if let Err(e) = checked {
        return again(StatusCode::BAD_REQUEST, form_field_error(e)).await;
    }
    for app_id in &app_ids {
        owned_app(&state, &developer, app_id).await?;
    }
    // 2. The SSI ID, then the bindings (each a single update of an app
    // checked above).
    let idp = match create_identity_provider(
        &state,
        &headers,
        &developer,
        (!name.is_empty()).then(|| name.clone()),
    )
    .await
    {
        Ok(idp) => idp,
        Err(e) if e.status.is_client_error() => return again(e.status, e.message).await,
        Err(e) => return Err(PageError::from(e).into()),
    };
    for app_id in &app_ids {
        bind_app(&state, &headers, &developer, app_id, &idp.name)
            .await
            .map_err(|e| api_refusal(&developer, Tab::SignIn, "app", "/console/sign-in", e))?;
    }
    Ok(see_other("/console/sign-in?notice=enabled"))
}

// ---------------------------------------------------------------------------
// Partner API keys.

struct ApiKeyItem {
    id: String,
    label: String,
    created: String,
    revoked: Option<String>,
}

#[derive(Template)]
#[template(path = "console_api_keys.html")]
struct ApiKeysPage {
    nav: Nav,
    tab: &'static str,
    keys: Vec<ApiKeyItem>,
    active: usize,
    max_active: usize,
    label: String,
    error: Option<String>,
    limits: FormLimits,
}

#[derive(Template)]
#[template(path = "console_api_key_created.html")]
struct ApiKeyCreatedPage {
    nav: Nav,
    tab: &'static str,
    label: String,
    api_key: String,
}

async fn api_keys_page_for(
    state: &AppState,
    developer: &Developer,
    notice: Option<&'static str>,
) -> Result<ApiKeysPage, ConsoleError> {
    let keys: Vec<ApiKeyItem> = state
        .store
        .list_api_keys(developer.id())
        .await?
        .into_iter()
        .map(|key| ApiKeyItem {
            id: key.id,
            label: key.label,
            created: format_utc(key.created_at),
            revoked: key.revoked_at.map(format_utc),
        })
        .collect();
    Ok(ApiKeysPage {
        nav: console_nav(&developer.0, notice),
        tab: Tab::ApiKeys.name(),
        active: keys.iter().filter(|k| k.revoked.is_none()).count(),
        max_active: MAX_ACTIVE_API_KEYS_PER_DEVELOPER,
        keys,
        label: String::new(),
        error: None,
        limits: LIMITS,
    })
}

/// The developer's partner API keys (never the keys themselves).
#[utoipa::path(
    get,
    path = "/console/api-keys",
    operation_id = "console_api_keys_page",
    tag = "console",
    params(NoticeQuery),
    responses(
        (status = 200, description = "The keys without their secrets, and the form (HTML)", body = String, content_type = "text/html"),
        (status = 303, description = "Not signed in: to the sign-in page; not a developer: to `/console`", headers(("Location" = String))),
        (status = "5XX", description = "An error page (HTML)", body = String, content_type = "text/html"),
    ),
    security(("session" = [])),
)]
async fn api_keys_page(
    State(state): State<AppState>,
    page: SignedInPage,
    Query(query): Query<NoticeQuery>,
) -> ConsoleResult {
    let developer = page_developer(page, "/console/api-keys")?;
    let page = api_keys_page_for(&state, &developer, notice(&query)).await?;
    Ok(render(StatusCode::OK, &page))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
struct ApiKeyForm {
    /// The session's CSRF token.
    csrf: String,
    /// What the key is for: 1-64 characters without control characters.
    label: String,
}

/// Creates a partner API key and shows it this once.
#[utoipa::path(
    post,
    path = "/console/api-keys",
    operation_id = "console_create_api_key",
    tag = "console",
    request_body(content = ApiKeyForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 201, description = "The key, shown this once (HTML, `Cache-Control: no-store`)", body = String, content_type = "text/html"),
        (status = 303, description = "Not signed in: to the sign-in page", headers(("Location" = String))),
        (status = "4XX", description = "The page again with the field and the limit (400; 409 when the developer has 20 active keys); an error page for an unreadable form (400), a wrong CSRF token (403)", body = String, content_type = "text/html"),
        (status = "5XX", description = "An error page (HTML)", body = String, content_type = "text/html"),
    ),
    security(("session" = [])),
)]
async fn create_api_key(
    State(state): State<AppState>,
    page: SignedInPage,
    headers: HeaderMap,
    PageForm(form): PageForm<ApiKeyForm>,
) -> ConsoleResult {
    let developer = form_developer(page, &form.csrf)?;
    let again = async |status: StatusCode, error: String| -> ConsoleResult {
        let mut page = api_keys_page_for(&state, &developer, None).await?;
        page.label = form.label.clone();
        page.error = Some(error);
        Ok(render(status, &page))
    };
    let request = CreateApiKeyRequest {
        label: form.label.clone(),
    };
    if let Err(e) = request.validate() {
        return again(StatusCode::BAD_REQUEST, form_field_error(e)).await;
    }
    match create_partner_api_key(&state, &headers, &developer, request.label).await {
        Ok((row, secret)) => {
            let page = ApiKeyCreatedPage {
                nav: console_nav(&developer.0, None),
                tab: Tab::ApiKeys.name(),
                label: row.label,
                api_key: secret.to_string(),
            };
            // Rendered, never redirected: the key must not travel in a URL.
            Ok(render(StatusCode::CREATED, &page))
        }
        Err(e) if e.status.is_client_error() => again(e.status, e.message).await,
        Err(e) => Err(PageError::from(e).into()),
    }
}

/// Revokes a partner API key (idempotent).
#[utoipa::path(
    post,
    path = "/console/api-keys/{id}/revoke",
    operation_id = "console_revoke_api_key",
    tag = "console",
    params(("id" = String, Path, description = "The key's id (not the key)")),
    request_body(content = CsrfForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Revoked: to the keys page (or to the sign-in page without a session)", headers(("Location" = String))),
        (status = "4XX", description = "An error page (HTML): an unreadable form (400), a wrong CSRF token (403), no such key of this developer (404)", body = String, content_type = "text/html"),
        (status = "5XX", description = "An error page (HTML)", body = String, content_type = "text/html"),
    ),
    security(("session" = [])),
)]
async fn revoke_api_key(
    State(state): State<AppState>,
    page: SignedInPage,
    headers: HeaderMap,
    Path(id): Path<String>,
    PageForm(form): PageForm<CsrfForm>,
) -> ConsoleResult {
    let developer = form_developer(page, &form.csrf)?;
    revoke_partner_api_key(&state, &headers, &developer, &id)
        .await
        .map_err(|e| api_refusal(&developer, Tab::ApiKeys, "API key", "/console/api-keys", e))?;
    Ok(see_other("/console/api-keys?notice=revoked"))
}

// ---------------------------------------------------------------------------
// Reports (DESIGN.md section 8): the functions of `crate::reports`.

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default)]
struct MonthQuery {
    /// `YYYY-MM` (UTC); the current month when absent.
    month: String,
}

impl MonthQuery {
    fn month(&self, state: &AppState) -> Result<Month, ReportError> {
        if self.month.is_empty() {
            return Ok(Month::containing(state.now_ms()));
        }
        self.month.parse()
    }
}

/// The month before (`None` before the first supported year).
fn previous_month(month: Month) -> Option<Month> {
    match month.month() {
        1 => Month::new(month.year() - 1, 12).ok(),
        m => Month::new(month.year(), m - 1).ok(),
    }
}

/// One app's month in the Reports tab.
struct AppReport {
    app_name: String,
    app_id: String,
    /// The funnel chart: SVG from [`reports::render_funnel_svg`], which
    /// escapes every text it carries.
    svg: String,
    /// The month's totals in CSV column order, for the table.
    totals: [i64; 10],
}

#[derive(Template)]
#[template(path = "console_reports.html")]
struct ReportsPage {
    nav: Nav,
    tab: &'static str,
    month: String,
    previous: Option<String>,
    next: Option<String>,
    apps: Vec<AppReport>,
    /// `(heading, CSV column)` of the totals table.
    columns: [(&'static str, &'static str); 10],
    error: Option<String>,
}

/// The totals table's headings, in the order of [`DailyCounts::COLUMNS`].
const COLUMN_HEADINGS: [&str; 10] = [
    "Links created",
    "Consent denied",
    "Sign-ins succeeded",
    "Sign-ins failed",
    "Failed: unauthorized",
    "Failed: bad request",
    "Failed: not found",
    "Failed: forbidden",
    "Failed: internal server error",
    "Manual sign-in chosen",
];

fn totals_columns() -> [(&'static str, &'static str); 10] {
    std::array::from_fn(|i| (COLUMN_HEADINGS[i], DailyCounts::COLUMNS[i]))
}

/// The Reports tab: a month picker, each app's sign-in funnel chart and
/// totals, and the CSV download.
#[utoipa::path(
    get,
    path = "/console/reports",
    operation_id = "console_reports_page",
    tag = "console",
    params(MonthQuery),
    responses(
        (status = 200, description = "The month's charts and totals per app (HTML)", body = String, content_type = "text/html"),
        (status = 303, description = "Not signed in: to the sign-in page; not a developer: to `/console`", headers(("Location" = String))),
        (status = 400, description = "The page with the month picker and why the month was refused (HTML)", body = String, content_type = "text/html"),
        (status = "5XX", description = "An error page (HTML)", body = String, content_type = "text/html"),
    ),
    security(("session" = [])),
)]
async fn reports_page(
    State(state): State<AppState>,
    page: SignedInPage,
    Query(query): Query<MonthQuery>,
) -> ConsoleResult {
    let developer = page_developer(page, "/console/reports")?;
    let nav = console_nav(&developer.0, None);
    let month = match query.month(&state) {
        Ok(month) => month,
        Err(e) => {
            let page = ReportsPage {
                nav,
                tab: Tab::Reports.name(),
                month: Month::containing(state.now_ms()).to_string(),
                previous: None,
                next: None,
                apps: Vec::new(),
                columns: totals_columns(),
                error: Some(e.to_string()),
            };
            return Ok(render(StatusCode::BAD_REQUEST, &page));
        }
    };
    let rows = monthly_rows(&state.store, developer.id(), month)
        .await
        .map_err(report_failure)?;
    let apps = series_by_app(month, &rows)
        .iter()
        .map(|series| AppReport {
            app_name: series.app_name.clone(),
            app_id: series.app_id.clone(),
            svg: render_funnel_svg(series),
            totals: series.totals.values(),
        })
        .collect();
    let next = month.next();
    let page = ReportsPage {
        nav,
        tab: Tab::Reports.name(),
        month: month.to_string(),
        previous: previous_month(month).map(|m| m.to_string()),
        next: (next.year() <= reports::MAX_YEAR).then(|| next.to_string()),
        apps,
        columns: totals_columns(),
        error: None,
    };
    Ok(render(StatusCode::OK, &page))
}

fn report_failure(e: ReportError) -> ConsoleError {
    match e {
        ReportError::Store(e) => e.into(),
        other => PageError::from(ApiError::internal(other.to_string())).into(),
    }
}

/// The month's report as CSV (DESIGN.md section 8): one row per day and app.
#[utoipa::path(
    get,
    path = "/console/reports.csv",
    operation_id = "console_report_csv",
    tag = "console",
    params(MonthQuery),
    responses(
        (status = 200, description = "The CSV (UTF-8, header row; `Content-Disposition: attachment`, `Cache-Control: no-store`)", body = String, content_type = "text/csv"),
        (status = 303, description = "Not signed in: to the sign-in page; not a developer: to `/console`", headers(("Location" = String))),
        (status = 400, description = "An error page naming the month's format (HTML)", body = String, content_type = "text/html"),
        (status = "5XX", description = "An error page (HTML)", body = String, content_type = "text/html"),
    ),
    security(("session" = [])),
)]
async fn report_csv(
    State(state): State<AppState>,
    page: SignedInPage,
    Query(query): Query<MonthQuery>,
) -> ConsoleResult {
    let developer = page_developer(page, "/console/reports")?;
    let month = query.month(&state).map_err(|e| {
        refused(
            &developer,
            Tab::Reports,
            StatusCode::BAD_REQUEST,
            "Not done",
            &e.to_string(),
            "/console/reports",
        )
    })?;
    let rows = monthly_rows(&state.store, developer.id(), month)
        .await
        .map_err(report_failure)?;
    let csv = render_csv(&rows).map_err(report_failure)?;
    let disposition = format!("attachment; filename=\"{}\"", csv_file_name(month));
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        csv,
    )
        .into_response())
}
