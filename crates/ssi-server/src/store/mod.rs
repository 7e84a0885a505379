//! The store: one SQL code path for SQLite (default, a file in the data
//! directory) and PostgreSQL, through sqlx's `Any` driver. Portable SQL only:
//! `$n` placeholders, `ON CONFLICT`, `RETURNING`, TEXT ids, BIGINT epoch ms.
//! No advisory locks, sequences or LISTEN/NOTIFY (DESIGN.md section 2).
//!
//! Each area of the server adds its queries in its own file as `impl Store`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// From a SQLite reader connection (`store::reads`).
    #[error("database error: {0}")]
    SqliteRead(#[from] rusqlite::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL (expected sqlite: or postgres://)")]
    UnsupportedUrl,
}

impl StoreError {
    /// A unique or primary-key constraint refused the write.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            Self::Database(sqlx::Error::Database(e)) => e.is_unique_violation(),
            _ => false,
        }
    }

    /// Contention worth retrying: PostgreSQL serialization failures and
    /// deadlocks, SQLite busy/locked.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Database(sqlx::Error::Database(e)) => matches!(
                e.code().as_deref(),
                Some("40001" | "40P01" | "5" | "6" | "517")
            ),
            Self::Database(sqlx::Error::PoolTimedOut) => true,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// Connection pools. On SQLite all writes go through one connection so that
/// writers queue in-process instead of failing on the file lock, and the
/// device API's hot-path reads use in-process reader connections
/// (`store::reads`); on PostgreSQL `read` and `write` are the same pool.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) read: AnyPool,
    pub(crate) write: AnyPool,
    pub(crate) sqlite_readers: Option<Arc<reads::SqliteReaders>>,
    pub dialect: Dialect,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// The SQLite URL for the database file in a data directory.
pub fn sqlite_url_for(data_dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", data_dir.join("ssi.db").display())
}

impl Store {
    /// Connects to `sqlite:…` or `postgres://…`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Dialect::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        let options: AnyConnectOptions = url.parse()?;
        match dialect {
            Dialect::Sqlite => {
                let pool = |max: u32| {
                    AnyPoolOptions::new()
                        .max_connections(max)
                        .acquire_timeout(Duration::from_secs(10))
                        .after_connect(|conn, _| {
                            Box::pin(async move {
                                // WAL with synchronous=FULL: a commit is on disk before
                                // it is acknowledged, so it survives kill -9 and power loss.
                                conn.execute(
                                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; \
                                     PRAGMA foreign_keys=ON; PRAGMA busy_timeout=10000;",
                                )
                                .await?;
                                Ok(())
                            })
                        })
                        .connect_with(options.clone())
                };
                let write = pool(1).await?;
                let read = pool(8).await?;
                Ok(Self {
                    read,
                    write,
                    sqlite_readers: reads::SqliteReaders::for_url(url).map(Arc::new),
                    dialect,
                })
            }
            Dialect::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await?;
                Ok(Self {
                    read: pool.clone(),
                    write: pool,
                    sqlite_readers: None,
                    dialect,
                })
            }
        }
    }

    /// Applies the dialect's migrations (idempotent; run on every start).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self.dialect {
            Dialect::Sqlite => SQLITE_MIGRATIONS.run(&self.write).await?,
            Dialect::Postgres => POSTGRES_MIGRATIONS.run(&self.write).await?,
        }
        Ok(())
    }

    /// A trivial query on each pool, for `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    pub async fn close(&self) {
        if let Some(readers) = &self.sqlite_readers {
            readers.close();
        }
        self.read.close().await;
        self.write.close().await;
    }
}

/// Runs a write closure, retrying contention a bounded number of times.
#[macro_export]
macro_rules! with_retry {
    ($body:expr) => {{
        let mut attempt = 0u32;
        loop {
            match $body.await {
                Err(e) if attempt < 5 && $crate::store::StoreError::is_retryable(&e) => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(5u64 << attempt)).await;
                }
                other => break other,
            }
        }
    }};
}

pub mod account_links;
pub mod accounts;
pub mod audit;
pub mod developers;
pub mod device_authorizations;
pub mod devices;
pub mod link_writer;
pub mod links;
pub mod metric_daily;
pub mod metrics;
pub mod rate_limits;
pub(crate) mod reads;
pub mod secrets;
pub mod settings;
pub mod sign_ins;
