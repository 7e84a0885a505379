//! The partner API: what a developer's backend calls with a partner API key
//! (`Authorization: Bearer ssi_pk_…`). Today one operation (DESIGN.md section
//! 3, "Unlink and toggles"): delete every link of one partner user under one
//! of the developer's IDPs, e.g. when that user deletes their app account.
//!
//! Keys are looked up by hash; a revoked or unknown key is 401. An IDP that is
//! not the key's developer's is 404, exactly as one that does not exist.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::routing::delete;
use axum::{Json, Router};
use serde_json::json;
use ssi_proto::developer::{API_KEY_PREFIX, DeleteLinksResponse};
use ssi_proto::{validate_identity_provider_name, validate_partner_user_id};

use crate::audit::{self, AuditEvent};
use crate::encoding::secret_hash;
use crate::http::ApiError;
use crate::http::auth::request_id;
use crate::http::error::ErrorBody;
use crate::state::AppState;

/// Longest `Authorization` value considered (a key is `ssi_pk_` + 43 characters).
const MAX_API_KEY_CHARS: usize = 128;

pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/v1/partner/idps/{idp_name}/users/{partner_user_id}/links",
        delete(delete_user_links),
    )
}

/// The partner API's operations in the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(delete_user_links))]
pub(crate) struct ApiDoc;

/// A caller holding an unrevoked partner API key.
#[derive(Debug, Clone)]
pub struct PartnerKey {
    pub key_id: String,
    pub developer_id: String,
}

impl PartnerKey {
    pub fn actor(&self) -> String {
        format!("partner-key:{}", self.key_id)
    }
}

impl FromRequestParts<AppState> for PartnerKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let key = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .filter(|key| key.starts_with(API_KEY_PREFIX) && key.len() <= MAX_API_KEY_CHARS)
            .ok_or_else(ApiError::unauthorized)?;
        let row = state
            .store
            .find_active_api_key(&secret_hash(key))
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        Ok(Self {
            key_id: row.id,
            developer_id: row.developer_id,
        })
    }
}

/// Deletes every link of one partner user under one of the developer's IDPs.
///
/// For example when that user deleted their app account. Each deletion is
/// audited.
#[utoipa::path(
    delete,
    path = "/v1/partner/idps/{idp_name}/users/{partner_user_id}/links",
    tag = "partner",
    params(
        ("idp_name" = String, Path, description = "One of the key's developer's identity providers"),
        ("partner_user_id" = String, Path, description = "The partner's user id (URL-encoded; 1-256 bytes of UTF-8, no control characters)"),
    ),
    responses(
        (status = 200, description = "How many links were deleted (0 when there were none)", body = DeleteLinksResponse),
        (status = 400, description = "`INVALID_REQUEST`: the IDP name or the partner user id is over its limit", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such identity provider of the key's developer", body = ErrorBody),
    ),
    security(("partnerApiKey" = [])),
)]
async fn delete_user_links(
    State(state): State<AppState>,
    headers: HeaderMap,
    partner: PartnerKey,
    Path((idp_name, partner_user_id)): Path<(String, String)>,
) -> Result<Json<DeleteLinksResponse>, ApiError> {
    validate_identity_provider_name(&idp_name)?;
    validate_partner_user_id(&partner_user_id)?;
    let idp = state
        .store
        .find_idp_by_name(&idp_name)
        .await?
        .filter(|idp| idp.developer_id == partner.developer_id)
        .ok_or_else(|| ApiError::not_found("identity provider"))?;
    let deleted = state
        .store
        .delete_partner_user_links(&idp.id, &partner_user_id)
        .await?;
    for (link_id, account_id) in &deleted {
        audit::record(
            &state,
            request_id(&headers),
            AuditEvent {
                actor: partner.actor(),
                action: "link.delete",
                account_id: Some(account_id.clone()),
                subject: Some(link_id.clone()),
                detail: Some(
                    json!({"identityProviderName": idp.name, "reason": "partner-api"}).to_string(),
                ),
            },
        )
        .await?;
    }
    Ok(Json(DeleteLinksResponse {
        deleted: deleted.len() as u64,
    }))
}
