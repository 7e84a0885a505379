//! The owner's switches (DESIGN.md section 3, "Unlink and toggles"): for the
//! whole account and per app. Turning one off deletes the affected links
//! (their rows, hence stored keys and tokens) in the same transaction as the
//! setting change. The per-device switch is in `devices.rs`.

use sqlx::Row;

use super::account_links::delete_account_links_on;
use super::accounts::flag;
use super::{Store, StoreError};

/// One app on the settings page, with the account's switch for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSettingRow {
    pub app_id: String,
    pub app_name: String,
    /// The IDP the app is bound to, if any.
    pub idp_name: Option<String>,
    pub ssi_enabled: bool,
}

impl Store {
    /// The account's master switch. Turning it off deletes all the
    /// account's links; turning it on deletes nothing. Returns the ids of the
    /// deleted links (for the audit log). `now_ms` is accepted for symmetry
    /// with the app switch; accounts keep no update time.
    pub async fn set_account_ssi_enabled(
        &self,
        account_id: &str,
        enabled: bool,
        now_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        let _ = now_ms;
        let mut tx = self.write.begin().await?;
        sqlx::query("UPDATE accounts SET ssi_enabled = $1 WHERE id = $2")
            .bind(enabled)
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        let deleted = if enabled {
            Vec::new()
        } else {
            delete_account_links_on(&mut tx, account_id, None).await?
        };
        tx.commit().await?;
        Ok(deleted)
    }

    /// The account's switch for one app (upserted into `app_settings`).
    /// Turning it off deletes the account's links of the app's IDP (shared
    /// by every app bound to that IDP). `None` when there is no such app;
    /// otherwise the ids of the deleted links.
    pub async fn set_app_ssi_enabled(
        &self,
        account_id: &str,
        app_id: &str,
        enabled: bool,
        now_ms: i64,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let mut tx = self.write.begin().await?;
        let Some(app) = sqlx::query("SELECT idp_id FROM apps WHERE id = $1")
            .bind(app_id)
            .fetch_optional(&mut *tx)
            .await?
        else {
            tx.rollback().await?;
            return Ok(None);
        };
        let idp_id: Option<String> = app.try_get("idp_id")?;
        sqlx::query(
            "INSERT INTO app_settings (account_id, app_id, ssi_enabled, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (account_id, app_id) \
             DO UPDATE SET ssi_enabled = $3, updated_at = $4",
        )
        .bind(account_id)
        .bind(app_id)
        .bind(enabled)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        let deleted = match (enabled, idp_id) {
            (false, Some(idp_id)) => {
                delete_account_links_on(&mut tx, account_id, Some(&idp_id)).await?
            }
            _ => Vec::new(),
        };
        tx.commit().await?;
        Ok(Some(deleted))
    }

    /// Whether the account allows SSI for this app (no row: yes).
    pub async fn is_app_ssi_enabled(
        &self,
        account_id: &str,
        app_id: &str,
    ) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT CASE WHEN ssi_enabled THEN 1 ELSE 0 END AS ssi_enabled \
             FROM app_settings WHERE account_id = $1 AND app_id = $2",
        )
        .bind(account_id)
        .bind(app_id)
        .fetch_optional(&self.read)
        .await?;
        match row {
            Some(row) => Ok(flag(&row, "ssi_enabled")?),
            None => Ok(true),
        }
    }

    /// The apps the account has links with (through their IDP), has signed
    /// in to, or has a switch for, with the switch's state.
    pub async fn list_app_settings_for_account(
        &self,
        account_id: &str,
    ) -> Result<Vec<AppSettingRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT a.id, a.display_name, i.name AS idp_name, \
             CASE WHEN s.ssi_enabled IS NULL OR s.ssi_enabled THEN 1 ELSE 0 END AS ssi_enabled \
             FROM apps a LEFT JOIN idps i ON i.id = a.idp_id \
             LEFT JOIN app_settings s ON s.app_id = a.id AND s.account_id = $1 \
             WHERE s.account_id IS NOT NULL \
             OR a.id IN (SELECT app_id FROM sign_ins WHERE account_id = $1) \
             OR a.idp_id IN (SELECT idp_id FROM links WHERE account_id = $1) \
             ORDER BY a.display_name, a.id",
        )
        .bind(account_id)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AppSettingRow {
                    app_id: row.try_get("id")?,
                    app_name: row.try_get("display_name")?,
                    idp_name: row.try_get("idp_name")?,
                    ssi_enabled: flag(row, "ssi_enabled")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::Database)
    }
}
