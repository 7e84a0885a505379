//! The owner's view of their links (account pages): listing and removing.
//! Deleting a link row deletes its stored signing key and link token with it.

use sqlx::{AnyConnection, Row};

use super::{Store, StoreError};

/// One link as the account pages show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountLinkRow {
    pub id: String,
    pub idp_id: String,
    pub idp_name: String,
    pub user_login_name: String,
    pub created_at: i64,
    /// Display names of the apps bound to the link's IDP (may be empty).
    pub app_names: Vec<String>,
}

/// Deletes the account's links (of one IDP when `idp_id` is given) on a
/// connection or inside a transaction; returns the deleted link ids.
pub(crate) async fn delete_account_links_on(
    conn: &mut AnyConnection,
    account_id: &str,
    idp_id: Option<&str>,
) -> Result<Vec<String>, StoreError> {
    let rows = match idp_id {
        Some(idp_id) => {
            sqlx::query("DELETE FROM links WHERE account_id = $1 AND idp_id = $2 RETURNING id")
                .bind(account_id)
                .bind(idp_id)
                .fetch_all(&mut *conn)
                .await?
        }
        None => {
            sqlx::query("DELETE FROM links WHERE account_id = $1 RETURNING id")
                .bind(account_id)
                .fetch_all(&mut *conn)
                .await?
        }
    };
    Ok(rows
        .iter()
        .map(|row| row.try_get("id"))
        .collect::<Result<_, _>>()?)
}

impl Store {
    /// The account's links, newest first, with the IDP's name and the names
    /// of the apps bound to that IDP.
    pub async fn list_links_for_account(
        &self,
        account_id: &str,
    ) -> Result<Vec<AccountLinkRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT l.id, l.idp_id, i.name AS idp_name, l.user_login_name, l.created_at, \
             a.display_name AS app_name \
             FROM links l JOIN idps i ON i.id = l.idp_id LEFT JOIN apps a ON a.idp_id = l.idp_id \
             WHERE l.account_id = $1 ORDER BY l.created_at DESC, l.id, a.display_name",
        )
        .bind(account_id)
        .fetch_all(&self.read)
        .await?;
        let mut links: Vec<AccountLinkRow> = Vec::new();
        for row in &rows {
            let id: String = row.try_get("id")?;
            let app_name: Option<String> = row.try_get("app_name")?;
            match links.last_mut() {
                Some(last) if last.id == id => last.app_names.extend(app_name),
                _ => links.push(AccountLinkRow {
                    id,
                    idp_id: row.try_get("idp_id")?,
                    idp_name: row.try_get("idp_name")?,
                    user_login_name: row.try_get("user_login_name")?,
                    created_at: row.try_get("created_at")?,
                    app_names: app_name.into_iter().collect(),
                }),
            }
        }
        Ok(links)
    }

    /// Removes one link of this account. False when the account has no such
    /// link (another account's link id included).
    pub async fn delete_link_for_account(
        &self,
        account_id: &str,
        link_id: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM links WHERE id = $1 AND account_id = $2")
            .bind(link_id)
            .bind(account_id)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Removes all the account's links; returns how many.
    pub async fn delete_links_for_account(&self, account_id: &str) -> Result<u64, StoreError> {
        let mut conn = self.write.acquire().await?;
        let ids = delete_account_links_on(&mut conn, account_id, None).await?;
        Ok(ids.len() as u64)
    }

    /// Removes the account's links of one IDP; returns how many.
    pub async fn delete_links_for_account_idp(
        &self,
        account_id: &str,
        idp_id: &str,
    ) -> Result<u64, StoreError> {
        let mut conn = self.write.acquire().await?;
        let ids = delete_account_links_on(&mut conn, account_id, Some(idp_id)).await?;
        Ok(ids.len() as u64)
    }
}
