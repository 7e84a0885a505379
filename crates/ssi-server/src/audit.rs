//! Writing audit entries (DESIGN.md section 3, "Every such change lands in
//! the audit log"). Entries carry request ids and never secrets.

use crate::random::new_id;
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::audit::AuditRow;

/// What happened; the id and time are filled in here.
#[derive(Debug, Clone, Default)]
pub struct AuditEvent {
    pub actor: String,
    pub action: &'static str,
    pub account_id: Option<String>,
    pub subject: Option<String>,
    pub detail: Option<String>,
}

pub async fn record(
    state: &AppState,
    request_id: Option<String>,
    event: AuditEvent,
) -> Result<(), StoreError> {
    let row = AuditRow {
        id: new_id(state.rng(), "aud_"),
        at: state.now_ms(),
        request_id,
        actor: event.actor,
        action: event.action.to_owned(),
        account_id: event.account_id,
        subject: event.subject,
        detail: event.detail,
    };
    state.store.insert_audit(&row).await
}
