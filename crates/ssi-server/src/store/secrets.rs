//! Server-wide secrets shared by all nodes.

use sqlx::Row;

use super::{Store, StoreError};

impl Store {
    /// Inserts the sealed secret unless one exists, then returns the stored
    /// one: safe when several nodes start at once.
    pub async fn get_or_insert_server_secret(
        &self,
        name: &str,
        sealed: &[u8],
        master_key_version: i64,
        now_ms: i64,
    ) -> Result<(Vec<u8>, i64), StoreError> {
        sqlx::query(
            "INSERT INTO server_secrets (name, sealed, master_key_version, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(sealed)
        .bind(master_key_version)
        .bind(now_ms)
        .execute(&self.write)
        .await?;
        let row =
            sqlx::query("SELECT sealed, master_key_version FROM server_secrets WHERE name = $1")
                .bind(name)
                .fetch_one(&self.read)
                .await?;
        Ok((row.try_get("sealed")?, row.try_get("master_key_version")?))
    }
}
