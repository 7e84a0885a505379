//! RFC 8628 device authorization requests: created by a device, approved or
//! denied by a signed-in owner on `/device`, redeemed once for a device
//! credential. Device codes are stored only as hashes.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::devices::DeviceRow;
use super::{Store, StoreError};

pub const STATUS_PENDING: &str = "pending";
pub const STATUS_APPROVED: &str = "approved";
pub const STATUS_DENIED: &str = "denied";
pub const STATUS_CONSUMED: &str = "consumed";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAuthorizationRow {
    pub device_code_hash: String,
    /// Normalized: 8 letters, no dash.
    pub user_code: String,
    pub device_name: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub interval_secs: i64,
    pub last_poll_at: Option<i64>,
    pub status: String,
    pub account_id: Option<String>,
    pub device_id: Option<String>,
}

/// What a poll of the token endpoint finds (RFC 8628 section 3.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollState {
    /// No such device code: `invalid_grant`.
    Unknown,
    /// Already exchanged for a credential: `invalid_grant`.
    Redeemed,
    Expired,
    Denied,
    /// Polled before the interval passed; the interval was raised.
    SlowDown,
    Pending,
    /// Approved by this account; redeem it with [`Store::redeem_device_authorization`].
    Approved {
        account_id: String,
    },
}

const COLUMNS: &str = "device_code_hash, user_code, device_name, created_at, expires_at, \
     interval_secs, last_poll_at, status, account_id, device_id";

fn from_row(row: &AnyRow) -> Result<DeviceAuthorizationRow, sqlx::Error> {
    Ok(DeviceAuthorizationRow {
        device_code_hash: row.try_get("device_code_hash")?,
        user_code: row.try_get("user_code")?,
        device_name: row.try_get("device_name")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        interval_secs: row.try_get("interval_secs")?,
        last_poll_at: row.try_get("last_poll_at")?,
        status: row.try_get("status")?,
        account_id: row.try_get("account_id")?,
        device_id: row.try_get("device_id")?,
    })
}

impl Store {
    /// Fails with a unique violation when the user code is taken (retry
    /// with a new one).
    pub async fn insert_device_authorization(
        &self,
        row: &DeviceAuthorizationRow,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO device_authorizations ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&row.device_code_hash)
            .bind(&row.user_code)
            .bind(&row.device_name)
            .bind(row.created_at)
            .bind(row.expires_at)
            .bind(row.interval_secs)
            .bind(row.last_poll_at)
            .bind(&row.status)
            .bind(&row.account_id)
            .bind(&row.device_id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Forgets requests that expired before `before_ms` (their user codes
    /// become free again; their device codes then answer `invalid_grant`).
    pub async fn delete_expired_device_authorizations(
        &self,
        before_ms: i64,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM device_authorizations WHERE expires_at < $1")
            .bind(before_ms)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected())
    }

    /// A request still waiting for its owner's decision.
    pub async fn find_pending_device_authorization(
        &self,
        user_code: &str,
        now_ms: i64,
    ) -> Result<Option<DeviceAuthorizationRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM device_authorizations \
             WHERE user_code = $1 AND status = $2 AND expires_at > $3"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(user_code)
            .bind(STATUS_PENDING)
            .bind(now_ms)
            .fetch_optional(&self.read)
            .await?;
        Ok(row.as_ref().map(from_row).transpose()?)
    }

    /// The owner's answer: approves (for `account_id`) or denies a pending,
    /// unexpired request. False when there is none (wrong, expired or
    /// already decided code).
    pub async fn decide_device_authorization(
        &self,
        user_code: &str,
        account_id: &str,
        approve: bool,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let status = if approve {
            STATUS_APPROVED
        } else {
            STATUS_DENIED
        };
        let done = sqlx::query(
            "UPDATE device_authorizations SET status = $1, account_id = $2 \
             WHERE user_code = $3 AND status = $4 AND expires_at > $5",
        )
        .bind(status)
        .bind(account_id)
        .bind(user_code)
        .bind(STATUS_PENDING)
        .bind(now_ms)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// One poll of the token endpoint: records the poll time and enforces
    /// the interval (raising it by `slow_down_step_secs` when polled too
    /// fast).
    pub async fn poll_device_authorization(
        &self,
        device_code_hash: &str,
        now_ms: i64,
        slow_down_step_secs: i64,
    ) -> Result<PollState, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM device_authorizations WHERE device_code_hash = $1");
        let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(device_code_hash)
            .fetch_optional(&self.write)
            .await?
        else {
            return Ok(PollState::Unknown);
        };
        let row = from_row(&row)?;
        if row.status == STATUS_CONSUMED {
            return Ok(PollState::Redeemed);
        }
        if now_ms >= row.expires_at {
            return Ok(PollState::Expired);
        }
        if row.status == STATUS_DENIED {
            return Ok(PollState::Denied);
        }
        // The interval is checked and the poll recorded in one statement, so
        // that concurrent polls cannot both pass.
        let on_time = sqlx::query(
            "UPDATE device_authorizations SET last_poll_at = $1 WHERE device_code_hash = $2 \
             AND (last_poll_at IS NULL OR last_poll_at + interval_secs * 1000 <= $1)",
        )
        .bind(now_ms)
        .bind(device_code_hash)
        .execute(&self.write)
        .await?;
        if on_time.rows_affected() == 0 {
            sqlx::query(
                "UPDATE device_authorizations SET interval_secs = interval_secs + $1, \
                 last_poll_at = $2 WHERE device_code_hash = $3",
            )
            .bind(slow_down_step_secs)
            .bind(now_ms)
            .bind(device_code_hash)
            .execute(&self.write)
            .await?;
            return Ok(PollState::SlowDown);
        }
        match (row.status.as_str(), row.account_id) {
            (STATUS_APPROVED, Some(account_id)) => Ok(PollState::Approved { account_id }),
            _ => Ok(PollState::Pending),
        }
    }

    /// Redeems an approved request exactly once: marks it consumed and
    /// creates the device with its credential hash, in one transaction.
    /// `device.account_id` and `device.name` are taken from the request.
    /// `None` when the request is not (or no longer) approved and unexpired.
    pub async fn redeem_device_authorization(
        &self,
        device_code_hash: &str,
        device_id: &str,
        credential_hash: &str,
        now_ms: i64,
    ) -> Result<Option<DeviceRow>, StoreError> {
        let mut tx = self.write.begin().await?;
        let Some(row) = sqlx::query(
            "UPDATE device_authorizations SET status = $1, device_id = $2 \
             WHERE device_code_hash = $3 AND status = $4 AND expires_at > $5 \
             RETURNING account_id, device_name",
        )
        .bind(STATUS_CONSUMED)
        .bind(device_id)
        .bind(device_code_hash)
        .bind(STATUS_APPROVED)
        .bind(now_ms)
        .fetch_optional(&mut *tx)
        .await?
        else {
            tx.rollback().await?;
            return Ok(None);
        };
        let device = DeviceRow {
            id: device_id.to_owned(),
            account_id: row.try_get("account_id")?,
            name: row.try_get("device_name")?,
            ssi_enabled: true,
            mode: "normal".to_owned(),
            created_at: now_ms,
            last_seen_at: None,
        };
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
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(device))
    }
}
