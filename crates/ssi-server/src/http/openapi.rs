//! The OpenAPI 3.1 document of the HTTP API: generated from the handlers'
//! `#[utoipa::path]` annotations and the wire types' schemas (`ssi-proto`'s
//! `openapi` feature), served at `GET /openapi.json`, and checked in at
//! `openapi/ssi-server.json`, where the tests compare it byte for byte
//! (`SSI_UPDATE_OPENAPI=1 cargo test -p ssi-server openapi` rewrites it).
//!
//! Each area lists its operations in its own `ApiDoc`; this module merges
//! them, adds the security schemes, and adds the error responses that every
//! operation of the JSON API shares because they come from shared extractors
//! ([`StandardErrors`]).

use std::sync::LazyLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, PathItem, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};

use crate::http::error::ErrorBody;
use crate::http::{account_pages, console, developer_api, device_api, device_grant, partner_api};

/// Bearer credential of a registered device (`ssi_dev_…`).
pub const DEVICE_CREDENTIAL: &str = "deviceCredential";
/// Bearer partner API key of a developer (`ssi_pk_…`).
pub const PARTNER_API_KEY: &str = "partnerApiKey";
/// The session cookie of a signed-in platform account.
pub const SESSION: &str = "session";
/// The session's CSRF token in `X-CSRF-Token`, required with [`SESSION`] on
/// every unsafe method of the JSON API.
pub const CSRF_TOKEN: &str = "csrfToken";

/// Tags of the operations that answer errors with the `Error` body (the
/// others: `ops` is plain text, `device-grant` speaks RFC 6749 errors,
/// `pages` is HTML).
const JSON_API_TAGS: [&str; 4] = ["device", "developer", "partner", "public"];

const DESCRIPTION: &str = "\
The HTTP API of the Simple Sign-In server (`ssi server`): the device API that \
the on-device agent calls, the developer API behind the developer console, the \
partner API that app backends call, the RFC 8628 device authorization grant, \
public app keys and icons, and the operations endpoints.

**Authentication.** `deviceCredential`: `Authorization: Bearer ssi_dev_…`, the \
credential a device receives from `POST /oauth/token`. `partnerApiKey`: \
`Authorization: Bearer ssi_pk_…`, created with `POST /v1/developer/api-keys`. \
`session`: the HttpOnly session cookie set by the sign-in page (`ssi_session`; \
`__Host-ssi_session` when the server runs with secure cookies); with it, every \
unsafe method (POST, PUT, PATCH, DELETE) also needs `csrfToken`, the session's \
CSRF token from `GET /v1/session` in the `X-CSRF-Token` header.

**Errors.** The JSON API answers every error with `{\"error\": CODE, \
\"message\": text}` (schema `Error`): `error` is a stable machine-readable code, \
`message` is for people and names the field and the limit on validation errors; \
neither ever contains a secret. A path that no route matches answers 404 \
`NO_ROUTE`, a known path with another method 405 `METHOD_NOT_ALLOWED`. \
Business outcomes of the device API are not errors: they are `200` with the \
seed's `requestStatus` (`FEATURE_TURNED_OFF`, `NOT_AVAILABLE`, …). The OAuth \
endpoints answer RFC 6749 section 5.2 errors (`{error, error_description}`, \
schema `OAuthError`). Every response carries an `X-Request-Id` header; the \
server log has the details of a failure under that id.

**Limits.** Request bodies are at most 65536 bytes (`413 TOO_LARGE`); fields are \
limited as in the design (section 9), and each violation names the field and \
the limit.

**HTML pages.** The account pages (`/account/…`) and the device-code pages \
(`/device`) are listed under the tag `pages`, the developer console \
(`/console/…`) under the tag `console`, as `text/html` operations with \
their form fields; their forms carry a CSRF token in the `csrf` field and \
answer with pages or `303` redirects, never with the `Error` body.";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Simple Sign-In server",
        description = DESCRIPTION,
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(super::healthz, super::readyz, super::metrics, serve),
    components(schemas(ErrorBody)),
    tags(
        (name = "device", description = "The device API: what the on-device agent calls for the apps (`deviceCredential`)."),
        (name = "developer", description = "The developer API: apps, identity providers, app keys, partner API keys (`session` + `csrfToken`)."),
        (name = "partner", description = "The partner API: what an app's backend calls (`partnerApiKey`)."),
        (name = "public", description = "Public data of registered apps: their keys and icons (no authentication)."),
        (name = "device-grant", description = "Device registration by the OAuth 2.0 device authorization grant (RFC 8628)."),
        (name = "pages", description = "HTML pages for people: account, devices, links, settings, history, device codes."),
        (name = "console", description = "The developer console (HTML): apps, Simple Sign-In (SSI IDs), app keys, partner API keys, reports."),
        (name = "ops", description = "Health, readiness, metrics and this document."),
    ),
)]
struct ApiDoc;

/// The whole document (deterministic: every map in it is ordered).
pub fn document() -> Document {
    let mut doc = ApiDoc::openapi();
    for area in [
        device_api::ApiDoc::openapi(),
        developer_api::ApiDoc::openapi(),
        partner_api::ApiDoc::openapi(),
        device_grant::ApiDoc::openapi(),
        account_pages::ApiDoc::openapi(),
        console::ApiDoc::openapi(),
    ] {
        doc.merge(area);
    }
    // After the merge, so that they cover every area's operations.
    SecuritySchemes.modify(&mut doc);
    StandardErrors.modify(&mut doc);
    doc
}

/// The document as checked in: pretty JSON with a trailing newline.
pub fn document_json() -> String {
    let mut text = document()
        .to_pretty_json()
        .expect("an OpenAPI document always serializes");
    text.push('\n');
    text
}

static DOCUMENT_JSON: LazyLock<String> = LazyLock::new(document_json);

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "ops",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json", body = Object))
)]
pub async fn serve() -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        DOCUMENT_JSON.as_str(),
    )
        .into_response()
}

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        let bearer = |format: &str, description: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format(format)
                    .description(Some(description))
                    .build(),
            )
        };
        components.add_security_scheme(
            DEVICE_CREDENTIAL,
            bearer(
                "ssi_dev_…",
                "The device credential from `POST /oauth/token`; revoked when the device is deregistered.",
            ),
        );
        components.add_security_scheme(
            PARTNER_API_KEY,
            bearer(
                "ssi_pk_…",
                "A partner API key from `POST /v1/developer/api-keys`; refused once revoked.",
            ),
        );
        components.add_security_scheme(
            SESSION,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "ssi_session",
                "The session cookie set by `POST /account/signin` (named `__Host-ssi_session` \
                 when the server runs with secure cookies).",
            ))),
        );
        components.add_security_scheme(
            CSRF_TOKEN,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-CSRF-Token",
                "The session's CSRF token (`csrfToken` of `GET /v1/session`), required with the \
                 session cookie on every unsafe method.",
            ))),
        );
    }
}

/// The error responses that come from shared code rather than from one
/// handler, added to every JSON API operation that does not name them itself:
/// the body extractor ([`super::WireJson`]: 400, 413, 415), the credential
/// extractors (401; 403 for a missing or wrong CSRF token) and the store (500,
/// 503). They are shared responses in `components/responses`.
struct StandardErrors;

/// (name, status, description) of the shared error responses.
const SHARED_RESPONSES: [(&str, &str, &str); 7] = [
    (
        "InvalidRequest",
        "400",
        "`INVALID_REQUEST`: malformed JSON, a missing or mistyped field, or a value over its \
         limit; the message names the field and the limit. Nothing was stored.",
    ),
    (
        "Unauthorized",
        "401",
        "`UNAUTHORIZED`: missing, unknown or revoked credentials.",
    ),
    (
        "Forbidden",
        "403",
        "`FORBIDDEN`: the `X-CSRF-Token` header is missing or wrong.",
    ),
    (
        "TooLarge",
        "413",
        "`TOO_LARGE`: the request body is over 65536 bytes.",
    ),
    (
        "UnsupportedMediaType",
        "415",
        "`UNSUPPORTED_MEDIA_TYPE`: the body is not `Content-Type: application/json`.",
    ),
    (
        "Internal",
        "500",
        "`INTERNAL`: a server fault; the log has it under the request id.",
    ),
    (
        "Unavailable",
        "503",
        "`UNAVAILABLE`: the database is busy or unreachable; retry.",
    ),
];

fn operations_mut(
    item: &mut PathItem,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

impl Modify for StandardErrors {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        let error_schema = RefOr::Ref(Ref::from_schema_name(ErrorBody::name()));
        for (name, _, description) in SHARED_RESPONSES {
            components.responses.insert(
                name.to_owned(),
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(error_schema.clone()))
                            .build(),
                    )
                    .into(),
            );
        }
        // The schema itself, in case no annotation referenced it.
        components
            .schemas
            .entry(ErrorBody::name().into_owned())
            .or_insert_with(ErrorBody::schema);
        for item in doc.paths.paths.values_mut() {
            for operation in operations_mut(item) {
                let is_json_api = operation
                    .tags
                    .iter()
                    .flatten()
                    .any(|tag| JSON_API_TAGS.contains(&tag.as_str()));
                if !is_json_api {
                    continue;
                }
                let has_json_body = matches!(
                    &operation.request_body,
                    Some(RefOr::T(body)) if body.content.contains_key("application/json")
                );
                // A requirement's scheme names are its JSON object's keys.
                let schemes: Vec<String> = operation
                    .security
                    .iter()
                    .flatten()
                    .filter_map(|requirement| serde_json::to_value(requirement).ok())
                    .filter_map(|value| {
                        value
                            .as_object()
                            .map(|o| o.keys().cloned().collect::<Vec<_>>())
                    })
                    .flatten()
                    .collect();
                let mut shared = Vec::new();
                if has_json_body {
                    shared.extend(["InvalidRequest", "TooLarge", "UnsupportedMediaType"]);
                }
                if !schemes.is_empty() {
                    shared.push("Unauthorized");
                }
                if schemes.iter().any(|s| s == CSRF_TOKEN) {
                    shared.push("Forbidden");
                }
                shared.extend(["Internal", "Unavailable"]);
                for name in shared {
                    let status = SHARED_RESPONSES
                        .iter()
                        .find(|(n, _, _)| *n == name)
                        .map(|(_, status, _)| *status)
                        .expect("a shared response");
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
                }
            }
        }
    }
}
