//! Sign-in history (read side; the device API records sign-ins in `links.rs`).

use sqlx::Row;

use super::{Store, StoreError};

/// One sign-in as the history page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInRow {
    pub id: String,
    pub app_id: String,
    /// `None` when the app no longer exists.
    pub app_name: Option<String>,
    pub device_id: Option<String>,
    /// `None` when the device is unknown or deregistered.
    pub device_name: Option<String>,
    pub link_id: Option<String>,
    pub at: i64,
}

impl Store {
    /// The account's sign-ins, most recent first, at most `limit`.
    pub async fn list_sign_ins_for_account(
        &self,
        account_id: &str,
        limit: i64,
    ) -> Result<Vec<SignInRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT s.id, s.app_id, a.display_name AS app_name, s.device_id, \
             d.name AS device_name, s.link_id, s.at \
             FROM sign_ins s LEFT JOIN apps a ON a.id = s.app_id \
             LEFT JOIN devices d ON d.id = s.device_id AND d.account_id = s.account_id \
             WHERE s.account_id = $1 ORDER BY s.at DESC, s.id LIMIT $2",
        )
        .bind(account_id)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(SignInRow {
                    id: row.try_get("id")?,
                    app_id: row.try_get("app_id")?,
                    app_name: row.try_get("app_name")?,
                    device_id: row.try_get("device_id")?,
                    device_name: row.try_get("device_name")?,
                    link_id: row.try_get("link_id")?,
                    at: row.try_get("at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::Database)
    }
}
