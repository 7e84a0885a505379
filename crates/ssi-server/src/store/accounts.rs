//! Platform accounts and sign-in sessions.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRow {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub ssi_enabled: bool,
    pub region: String,
    pub is_developer: bool,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct SessionRow {
    pub account: AccountRow,
    pub csrf_token: String,
    pub expires_at: i64,
}

/// Booleans are selected as `CASE WHEN … THEN 1 ELSE 0 END`: sqlx's `Any`
/// driver cannot read SQLite's BOOLEAN columns, and the integer reads the
/// same on both backends (see [`flag`]).
const ACCOUNT_COLUMNS: &str = "a.id, a.email, a.password_hash, \
     CASE WHEN a.ssi_enabled THEN 1 ELSE 0 END AS ssi_enabled, a.region, \
     CASE WHEN a.is_developer THEN 1 ELSE 0 END AS is_developer, a.created_at";

/// Reads a boolean selected as `CASE WHEN … THEN 1 ELSE 0 END AS column`.
pub(crate) fn flag(row: &AnyRow, column: &str) -> Result<bool, sqlx::Error> {
    Ok(row.try_get::<i64, _>(column)? != 0)
}

fn account_from_row(row: &AnyRow) -> Result<AccountRow, sqlx::Error> {
    Ok(AccountRow {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        password_hash: row.try_get("password_hash")?,
        ssi_enabled: flag(row, "ssi_enabled")?,
        region: row.try_get("region")?,
        is_developer: flag(row, "is_developer")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// Fails with a unique violation when the e-mail is taken.
    pub async fn insert_account(&self, account: &AccountRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO accounts (id, email, password_hash, ssi_enabled, region, is_developer, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&account.id)
        .bind(&account.email)
        .bind(&account.password_hash)
        .bind(account.ssi_enabled)
        .bind(&account.region)
        .bind(account.is_developer)
        .bind(account.created_at)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    pub async fn find_account(&self, id: &str) -> Result<Option<AccountRow>, StoreError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        Ok(row.as_ref().map(account_from_row).transpose()?)
    }

    pub async fn find_account_by_email(
        &self,
        email: &str,
    ) -> Result<Option<AccountRow>, StoreError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.email = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(email)
            .fetch_optional(&self.read)
            .await?;
        Ok(row.as_ref().map(account_from_row).transpose()?)
    }

    pub async fn insert_session(
        &self,
        token_hash: &str,
        account_id: &str,
        csrf_token: &str,
        now_ms: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, account_id, csrf_token, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(account_id)
        .bind(csrf_token)
        .bind(now_ms)
        .bind(expires_at)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// The live session with this token hash, with its account.
    pub async fn find_session(
        &self,
        token_hash: &str,
        now_ms: i64,
    ) -> Result<Option<SessionRow>, StoreError> {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS}, s.csrf_token, s.expires_at FROM sessions s \
             JOIN accounts a ON a.id = s.account_id WHERE s.token_hash = $1 AND s.expires_at > $2"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(token_hash)
            .bind(now_ms)
            .fetch_optional(&self.read)
            .await?;
        row.map(|row| {
            Ok(SessionRow {
                account: account_from_row(&row)?,
                csrf_token: row.try_get("csrf_token")?,
                expires_at: row.try_get("expires_at")?,
            })
        })
        .transpose()
        .map_err(StoreError::Database)
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.write)
            .await?;
        Ok(())
    }
}

impl Store {
    /// Deletes sessions that expired before `now_ms`.
    pub async fn delete_expired_sessions(&self, now_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now_ms)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected())
    }
}
