//! The audit log: append-only, without secrets.

use sqlx::Row;

use super::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub id: String,
    pub at: i64,
    pub request_id: Option<String>,
    /// Who did it: `account:<id>`, `device:<id>`, `partner-key:<id>`, `operator`.
    pub actor: String,
    /// What: `link.create`, `link.delete`, `settings.account`, `device.deregister`, …
    pub action: String,
    pub account_id: Option<String>,
    /// The object: a link id, an app id, a device id.
    pub subject: Option<String>,
    /// Free text or JSON without secrets.
    pub detail: Option<String>,
}

impl Store {
    pub async fn insert_audit(&self, entry: &AuditRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_log (id, at, request_id, actor, action, account_id, subject, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&entry.id)
        .bind(entry.at)
        .bind(&entry.request_id)
        .bind(&entry.actor)
        .bind(&entry.action)
        .bind(&entry.account_id)
        .bind(&entry.subject)
        .bind(&entry.detail)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Most recent first; `account_id = None` lists everything (operator).
    pub async fn list_audit(
        &self,
        account_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, request_id, actor, action, account_id, subject, detail FROM audit_log \
             WHERE ($1 IS NULL OR account_id = $1) ORDER BY at DESC, id LIMIT $2",
        )
        .bind(account_id)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AuditRow {
                    id: row.try_get("id")?,
                    at: row.try_get("at")?,
                    request_id: row.try_get("request_id")?,
                    actor: row.try_get("actor")?,
                    action: row.try_get("action")?,
                    account_id: row.try_get("account_id")?,
                    subject: row.try_get("subject")?,
                    detail: row.try_get("detail")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::Database)
    }
}
