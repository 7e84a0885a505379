//! The HTTP surface: one router, with the shared middleware, composed of one
//! sub-router per area (each area owns its file).

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{FromRequest, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Router, extract::DefaultBodyLimit};
use serde::de::DeserializeOwned;
use ssi_proto::limits::MAX_MESSAGE_BYTES;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::random::{RandomSource, new_id};
use crate::state::AppState;

pub mod account_pages;
pub mod auth;
pub mod console;
pub mod developer_api;
pub mod device_api;
pub mod device_grant;
pub mod error;
pub mod openapi;
pub mod partner_api;

pub use error::ApiError;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Pages and API share one strict policy: no inline script, no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn router(state: AppState) -> Router {
    let make_request_id = RandomRequestId(state.rng.clone());
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(account_pages::routes())
        .merge(device_grant::routes())
        .merge(developer_api::routes())
        .merge(partner_api::routes())
        .merge(device_api::routes())
        .route("/openapi.json", get(openapi::serve))
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_MESSAGE_BYTES))
        .layer(RequestBodyLimitLayer::new(MAX_MESSAGE_BYTES))
        // The console sets its own body limits (its app forms carry an icon).
        .merge(console::routes())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .layer(middleware::map_response(close_after_unread_body))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                let request_id = request
                    .headers()
                    .get(REQUEST_ID_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                // The path template only: raw paths may carry ids.
                let route = request
                    .extensions()
                    .get::<MatchedPath>()
                    .map_or("-", MatchedPath::as_str);
                tracing::info_span!("request", method = %request.method(), route, request_id)
            }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID_HEADER))
        .layer(SetRequestIdLayer::new(REQUEST_ID_HEADER, make_request_id))
        .with_state(state)
}

#[derive(Clone)]
struct RandomRequestId(std::sync::Arc<dyn RandomSource>);

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let id = new_id(self.0.as_ref(), "req_");
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

async fn count_requests(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // A shared handle on the route template (no copy of the string).
    let route = request.extensions().get::<MatchedPath>().cloned();
    let started = Instant::now();
    let response = next.run(request).await;
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    state.metrics.record_request(
        route.as_ref().map_or("unmatched", MatchedPath::as_str),
        response.status().as_u16(),
        micros,
    );
    response
}

/// A body refused unread for its size (413, often before the client has
/// sent it all) leaves the connection unusable, and hyper closes it after the
/// response; saying so keeps the client from sending its next request on it.
async fn close_after_unread_body(mut response: Response) -> Response {
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A path no route matches: a JSON 404 that says so, so that a client (and
/// the OpenAPI drift test) can tell it from a handler's `NOT_FOUND`.
async fn no_route() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "NO_ROUTE", "no such route")
}

/// A route that exists without this method (axum adds the `Allow` header).
async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "this route does not take this method",
    )
}

/// Liveness: the process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "ops",
    responses((status = 200, description = "The process is up", body = String, content_type = "text/plain", example = "ok\n"))
)]
async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: the database answers within 2 s.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "ops",
    responses(
        (status = 200, description = "Ready to serve", body = String, content_type = "text/plain", example = "ready\n"),
        (status = 503, description = "`NOT_READY`: the database is unavailable or timed out", body = error::ErrorBody),
    )
)]
async fn readyz(State(state): State<AppState>) -> Response {
    match tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await {
        Ok(Ok(())) => "ready\n".into_response(),
        Ok(Err(e)) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "NOT_READY",
            "database unavailable",
        )
        .with_internal(e.to_string())
        .into_response(),
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "NOT_READY",
            "database timed out",
        )
        .into_response(),
    }
}

/// Prometheus metrics.
///
/// Requests by route template and status, latencies, tokens minted, links
/// created, metric events accepted.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "ops",
    responses((status = 200, description = "Prometheus text format 0.0.4", body = String, content_type = "text/plain; version=0.0.4"))
)]
async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

/// A JSON body parsed with the wire crate's bounded parser, so that errors
/// name the field and the limit (axum's own `Json` does not).
pub struct WireJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for WireJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                "expected Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(request, state).await.map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "TOO_LARGE",
                format!("request body over the limit of {MAX_MESSAGE_BYTES} bytes"),
            )
        })?;
        Ok(Self(ssi_proto::parse_json(&bytes)?))
    }
}
