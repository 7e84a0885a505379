//! The app's page: static HTML, script and style, the state as JSON (long
//! polled) and the user's actions. Relative URLs only, so that the page works
//! wherever it is mounted (the TV page nests one per device).

use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{AppView, SampleApp};
use crate::wire::ErrorBody;

const PAGE: &str = include_str!("static/app.html");
const SCRIPT: &str = include_str!("static/app.js");
const STYLE: &str = include_str!("static/app.css");

/// Scripts and styles from the page's own origin; framed only by its own
/// origin (the TV page).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
     img-src 'self' data:; form-action 'none'; frame-ancestors 'self'; base-uri 'none'";

/// How long one poll of the state waits for a change.
const LONG_POLL: Duration = Duration::from_secs(20);
/// Action bodies are small.
const MAX_ACTION_BYTES: usize = 4096;

impl SampleApp {
    /// The app's page and its endpoints.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/", get(page))
            .route("/app.js", get(script))
            .route("/app.css", get(style))
            .route("/state", get(state))
            .route("/action", post(action))
            .layer(axum::extract::DefaultBodyLimit::max(MAX_ACTION_BYTES))
            .layer(middleware::from_fn(headers))
            .with_state(self.clone())
    }
}

/// Actions come from the page itself: JSON (a cross-site form cannot send
/// it without a preflight) and, when the browser names one, our origin.
async fn headers(request: Request, next: Next) -> Response {
    if request.method() == Method::POST {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok());
        let origin_ok = match request.headers().get(header::ORIGIN) {
            None => true,
            Some(origin) => {
                host.is_some_and(|host| origin.to_str().ok() == Some(&format!("http://{host}")))
            }
        };
        if !is_json || !origin_ok {
            return refused(
                StatusCode::FORBIDDEN,
                "FORBIDDEN",
                "actions come from the app's page as JSON",
            );
        }
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

fn refused(status: StatusCode, code: &str, message: &str) -> Response {
    let body = ErrorBody {
        error: code.to_owned(),
        message: message.to_owned(),
    };
    (status, Json(body)).into_response()
}

async fn page() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE)
}

async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
}

async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE)
}

#[derive(Deserialize)]
struct StateQuery {
    /// The version the page has; the answer waits for a newer one.
    after: Option<u64>,
}

async fn state(State(app): State<SampleApp>, Query(query): Query<StateQuery>) -> Json<AppView> {
    if let Some(seen) = query.after {
        app.changed_after(seen, LONG_POLL).await;
    }
    Json(app.view())
}

/// What the page asks the app to do.
#[derive(Deserialize)]
#[serde(tag = "action", rename_all = "camelCase", deny_unknown_fields)]
enum Action {
    Start,
    ShowForm,
    SignIn { username: String, password: String },
    SignOut,
}

async fn action(State(app): State<SampleApp>, body: axum::body::Bytes) -> Response {
    let action: Action = match serde_json::from_slice(&body) {
        Ok(action) => action,
        Err(e) => {
            return refused(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                &format!("action: {e}"),
            );
        }
    };
    let started = match action {
        Action::Start => app.start_sign_in(),
        Action::ShowForm => app.show_sign_in_form(),
        Action::SignIn { username, password } => app.sign_in_with_password(username, password),
        Action::SignOut => app.sign_out(),
    };
    match started {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(busy) => refused(StatusCode::CONFLICT, "BUSY", &busy.to_string()),
    }
}
