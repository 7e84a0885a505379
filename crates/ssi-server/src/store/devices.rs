//! Registered devices and their credentials.

use std::sync::LazyLock;

use super::reads::{Columns, Param};
use super::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRow {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub ssi_enabled: bool,
    /// `normal`, `guest` or `child` (the last two answer `NOT_AVAILABLE`).
    pub mode: String,
    pub created_at: i64,
    pub last_seen_at: Option<i64>,
}

/// `ssi_enabled` as an integer: see [`super::accounts::flag`].
pub(crate) const DEVICE_COLUMNS: &str = "d.id, d.account_id, d.name, \
     CASE WHEN d.ssi_enabled THEN 1 ELSE 0 END AS ssi_enabled, d.mode, d.created_at, d.last_seen_at";

pub(crate) fn device_from_row(row: &(impl Columns + ?Sized)) -> Result<DeviceRow, StoreError> {
    Ok(DeviceRow {
        id: row.text("id")?,
        account_id: row.text("account_id")?,
        name: row.text("name")?,
        ssi_enabled: row.flag("ssi_enabled")?,
        mode: row.text("mode")?,
        created_at: row.int("created_at")?,
        last_seen_at: row.int_opt("last_seen_at")?,
    })
}

static DEVICE_BY_CREDENTIAL: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {DEVICE_COLUMNS} FROM devices d WHERE d.credential_hash = $1")
});

impl Store {
    pub async fn insert_device(
        &self,
        device: &DeviceRow,
        credential_hash: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO devices (id, account_id, name, credential_hash, ssi_enabled, mode, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&device.id)
        .bind(&device.account_id)
        .bind(&device.name)
        .bind(credential_hash)
        .bind(device.ssi_enabled)
        .bind(&device.mode)
        .bind(device.created_at)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// The device holding this credential; none once it is deregistered.
    /// A hot-path read (`store::reads`).
    pub async fn find_device_by_credential(
        &self,
        credential_hash: &str,
    ) -> Result<Option<DeviceRow>, StoreError> {
        let rows = self
            .read_rows(
                DEVICE_BY_CREDENTIAL.as_str(),
                &[Param::Text(credential_hash)],
                |row| device_from_row(row),
            )
            .await?;
        Ok(rows.into_iter().next())
    }
}

impl Store {
    /// The account's devices, oldest first.
    pub async fn list_devices(&self, account_id: &str) -> Result<Vec<DeviceRow>, StoreError> {
        let sql = format!(
            "SELECT {DEVICE_COLUMNS} FROM devices d WHERE d.account_id = $1 ORDER BY d.created_at, d.id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(device_from_row).collect()
    }

    /// One device of this account (`None` for another account's device).
    pub async fn find_device_for_account(
        &self,
        account_id: &str,
        device_id: &str,
    ) -> Result<Option<DeviceRow>, StoreError> {
        let sql =
            format!("SELECT {DEVICE_COLUMNS} FROM devices d WHERE d.id = $1 AND d.account_id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(device_id)
            .bind(account_id)
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(device_from_row).transpose()
    }

    /// Deregisters: deletes the row, so the credential stops working at
    /// once. False when the account has no such device.
    pub async fn delete_device(
        &self,
        account_id: &str,
        device_id: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM devices WHERE id = $1 AND account_id = $2")
            .bind(device_id)
            .bind(account_id)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The owner's per-device switch: off makes the device answer
    /// `FEATURE_TURNED_OFF` and deletes nothing. False when the account has
    /// no such device.
    pub async fn set_device_ssi_enabled(
        &self,
        account_id: &str,
        device_id: &str,
        enabled: bool,
    ) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE devices SET ssi_enabled = $1 WHERE id = $2 AND account_id = $3")
                .bind(enabled)
                .bind(device_id)
                .bind(account_id)
                .execute(&self.write)
                .await?;
        Ok(done.rows_affected() == 1)
    }
}
