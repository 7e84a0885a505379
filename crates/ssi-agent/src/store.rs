//! The agent's durable state: one SQLite file, `<data dir>/agent.db` (WAL,
//! `synchronous=FULL`: a write that returned survives a crash or power loss).
//!
//! - `apps`: the app registry (package id, manifest privileges, uid).
//! - `consent_cooldowns`: "Not now" per (app, partnerUserId), until when.
//! - `outbox`: metric events and consent denials not yet acknowledged by the
//!   server, each with its idempotency key (`eventId`).

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::manifest::Privileges;

/// The database file in the data directory.
pub const DATABASE_FILE: &str = "agent.db";

/// A database failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("agent database: {0}")]
    Sql(#[from] sqlx::Error),
    /// The file could not be created.
    #[error("agent database {path}: {source}")]
    File {
        /// The database file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A stored value no longer reads (written by a newer agent?).
    #[error("agent database: {0}")]
    Corrupt(String),
}

/// An installed app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledApp {
    /// Reverse-DNS package id; names the socket.
    pub package_id: String,
    /// What the manifest grants.
    pub privileges: Privileges,
    /// The app's uid: owner of its socket, and the only peer uid accepted on it.
    pub uid: Option<u32>,
    /// When it was (last) installed, epoch ms.
    pub installed_at: i64,
}

/// What the outbox holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxKind {
    /// An app's `recordMetricEvent` (a `DeviceMetricEvent`).
    Metric,
    /// The owner's "Not now" (a `ConsentDeniedRequest`).
    ConsentDenied,
}

impl OutboxKind {
    fn as_str(self) -> &'static str {
        match self {
            OutboxKind::Metric => "metric",
            OutboxKind::ConsentDenied => "consent_denied",
        }
    }
}

/// One queued item: its row and its JSON body as it will be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    /// Queue position.
    pub seq: i64,
    /// The JSON body.
    pub body: String,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS apps (
    package_id TEXT PRIMARY KEY,
    privileges TEXT NOT NULL,
    uid INTEGER,
    installed_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS consent_cooldowns (
    package_id TEXT NOT NULL,
    partner_user_id TEXT NOT NULL,
    until_ms INTEGER NOT NULL,
    PRIMARY KEY (package_id, partner_user_id)
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    event_id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
";

/// The agent database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AgentStore {
    pool: SqlitePool,
}

impl AgentStore {
    /// Opens (creating, mode 0600) `<data dir>/agent.db` and its tables.
    pub async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let path = data_dir.join(DATABASE_FILE);
        create_private_file(&path).map_err(|source| StoreError::File {
            path: path.clone(),
            source,
        })?;
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        // One connection: every statement is short, and writers never race each
        // other inside the process (another process, `ssi agent install`, waits on
        // the busy timeout).
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        sqlx::raw_sql(SCHEMA).execute(&pool).await?;
        Ok(Self { pool })
    }

    /// Closes the database.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Installs or re-installs an app.
    pub async fn install_app(&self, app: &InstalledApp) -> Result<(), StoreError> {
        let privileges = serde_json::to_string(&app.privileges)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO apps (package_id, privileges, uid, installed_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (package_id) DO UPDATE SET privileges = excluded.privileges, \
             uid = excluded.uid, installed_at = excluded.installed_at",
        )
        .bind(&app.package_id)
        .bind(privileges)
        .bind(app.uid.map(i64::from))
        .bind(app.installed_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Removes an app; false if it was not installed.
    pub async fn uninstall_app(&self, package_id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM apps WHERE package_id = $1")
            .bind(package_id)
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM consent_cooldowns WHERE package_id = $1")
            .bind(package_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Every installed app, by package id.
    pub async fn list_apps(&self) -> Result<Vec<InstalledApp>, StoreError> {
        let rows = sqlx::query(
            "SELECT package_id, privileges, uid, installed_at FROM apps ORDER BY package_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let privileges: String = row.try_get("privileges")?;
                let uid: Option<i64> = row.try_get("uid")?;
                Ok(InstalledApp {
                    package_id: row.try_get("package_id")?,
                    privileges: serde_json::from_str(&privileges)
                        .map_err(|e| StoreError::Corrupt(format!("apps.privileges: {e}")))?,
                    uid: uid
                        .map(u32::try_from)
                        .transpose()
                        .map_err(|_| StoreError::Corrupt("apps.uid out of range".into()))?,
                    installed_at: row.try_get("installed_at")?,
                })
            })
            .collect()
    }

    /// Until when (epoch ms) the (app, partner user) is in its consent cool-down,
    /// if it is at `now_ms`.
    pub async fn find_cooldown(
        &self,
        package_id: &str,
        partner_user_id: &str,
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "SELECT until_ms FROM consent_cooldowns WHERE package_id = $1 \
             AND partner_user_id = $2 AND until_ms > $3",
        )
        .bind(package_id)
        .bind(partner_user_id)
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| row.try_get("until_ms")).transpose()?)
    }

    /// Records "Not now" and queues its report to the server, in one transaction.
    pub async fn insert_consent_denial(
        &self,
        package_id: &str,
        partner_user_id: &str,
        until_ms: i64,
        event_id: &str,
        body: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO consent_cooldowns (package_id, partner_user_id, until_ms) \
             VALUES ($1, $2, $3) ON CONFLICT (package_id, partner_user_id) \
             DO UPDATE SET until_ms = excluded.until_ms",
        )
        .bind(package_id)
        .bind(partner_user_id)
        .bind(until_ms)
        .execute(&mut *tx)
        .await?;
        // Expired cool-downs are of no use any more.
        sqlx::query("DELETE FROM consent_cooldowns WHERE until_ms <= $1")
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        insert_outbox(&mut tx, OutboxKind::ConsentDenied, event_id, body, now_ms).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Queues an item; returns once it is on disk.
    pub async fn insert_outbox(
        &self,
        kind: OutboxKind,
        event_id: &str,
        body: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        insert_outbox(&mut tx, kind, event_id, body, now_ms).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The oldest `limit` items of a kind.
    pub async fn list_outbox(
        &self,
        kind: OutboxKind,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let rows =
            sqlx::query("SELECT seq, body FROM outbox WHERE kind = $1 ORDER BY seq LIMIT $2")
                .bind(kind.as_str())
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|row| {
                Ok(OutboxItem {
                    seq: row.try_get("seq")?,
                    body: row.try_get("body")?,
                })
            })
            .collect()
    }

    /// How many items are queued.
    pub async fn count_outbox(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM outbox")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?)
    }

    /// Removes delivered items.
    pub async fn delete_outbox(&self, seqs: &[i64]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for seq in seqs {
            sqlx::query("DELETE FROM outbox WHERE seq = $1")
                .bind(seq)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

async fn insert_outbox(
    tx: &mut sqlx::SqliteConnection,
    kind: OutboxKind,
    event_id: &str,
    body: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO outbox (kind, event_id, body, created_at) VALUES ($1, $2, $3, $4)")
        .bind(kind.as_str())
        .bind(event_id)
        .bind(body)
        .bind(now_ms)
        .execute(tx)
        .await?;
    Ok(())
}

/// Creates `path` readable by this user only, unless it exists.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}
