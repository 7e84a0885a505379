//! Operator actions, run by `ssi admin …` directly on the database (no
//! server needed; SQLite in WAL mode and PostgreSQL both allow it while
//! servers run). Every change is audited with actor `operator`.
//!
//! The binary only parses arguments and prints; the logic is here so that it
//! can be tested with any store, clock and randomness.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;
use sqlx::Row;
use thiserror::Error;
use zeroize::Zeroizing;

use crate::clock::Clock;
use crate::config::ServerConfig;
use crate::domain::accounts::{self as rules, AccountError};
use crate::random::{RandomSource, new_id, new_secret};
use crate::secrets::{MasterKeys, SecretError};
use crate::startup::{self, StartError};
use crate::store::accounts::AccountRow;
use crate::store::audit::AuditRow;
use crate::store::{Store, StoreError};

/// The actor of every audit entry written here.
pub const OPERATOR: &str = "operator";
/// Regions: 1 to this many characters of `[A-Za-z0-9._-]`.
pub const REGION_MAX_CHARS: usize = 64;
/// `list-audit --limit`: at most this many entries.
pub const AUDIT_LIMIT_MAX: i64 = 10_000;
/// Rows re-sealed per transaction, by default.
pub const DEFAULT_BATCH_SIZE: usize = 500;
/// At most this many rows per transaction (bounds lock time).
pub const MAX_BATCH_SIZE: usize = 10_000;

#[derive(Debug, Error)]
pub enum AdminError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Start(#[from] StartError),
    #[error("{0}")]
    Account(#[from] AccountError),
    #[error("an account with e-mail {0} exists already")]
    EmailTaken(String),
    #[error("no account with e-mail {0}")]
    NoSuchAccount(String),
    #[error("no app with package id {0}")]
    NoSuchApp(String),
    #[error("region: must be 1 to {REGION_MAX_CHARS} characters of [A-Za-z0-9._-]")]
    Region,
    #[error("limit: must be 1 to {AUDIT_LIMIT_MAX}")]
    Limit,
    #[error("batch size: must be 1 to {MAX_BATCH_SIZE}")]
    BatchSize,
    #[error(
        "master key file {0}: not found (nothing to rotate; the server creates it on first start)"
    )]
    NoKeyFile(PathBuf),
    #[error("master keys: {0}")]
    Keys(#[from] SecretError),
    /// A stored value that does not open: names the row, never its content.
    #[error(
        "{table} row {id}: the value sealed under master key version {version} does not open: {source}"
    )]
    Unopenable {
        table: &'static str,
        id: String,
        version: i64,
        source: SecretError,
    },
    #[error(
        "--finish: only master key version {0} is configured, so there is nothing to finish \
         (without --finish, a new version is made)"
    )]
    NothingToFinish(i64),
    #[error(
        "{0} sealed values are still under an old master key version (written by a server that \
         does not have the new key yet?); restart every server with the new keys and run again"
    )]
    StillInUse(u64),
}

/// Reports re-sealing progress (the CLI draws a progress bar).
pub trait Progress {
    /// Called once with the number of values to re-seal.
    fn start(&mut self, total: u64);
    /// Called after each committed batch with the number of values in it.
    fn advance(&mut self, resealed: u64);
    fn finish(&mut self);
}

/// No progress reporting.
#[derive(Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&mut self, _: u64) {}
    fn advance(&mut self, _: u64) {}
    fn finish(&mut self) {}
}

/// Where the master keys come from.
pub enum KeySource {
    /// `data_dir/master.key`: rewritten by the rotation.
    File(PathBuf),
    /// `SSI_MASTER_KEYS` or `master_keys` in the config file: the operator
    /// sets the new value; nothing is written.
    Configured(MasterKeys),
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
            Self::Configured(keys) => f.debug_tuple("Configured").field(keys).finish(),
        }
    }
}

impl KeySource {
    /// The source a config selects (the same rule as the server's start-up).
    pub fn for_config(config: &ServerConfig) -> Result<Self, AdminError> {
        match config.master_keys.as_deref() {
            Some(text) => Ok(Self::Configured(MasterKeys::parse(text)?)),
            None => Ok(Self::File(config.data_dir.join(startup::MASTER_KEY_FILE))),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct RotationOptions {
    pub batch_size: usize,
    /// Configured keys: drop the old versions (print the value with only the
    /// new key). The key file drops them at the end of every complete run.
    pub finish: bool,
}

/// A key list to give to the operator, as one `version:key,…` line.
pub struct KeyValue(Zeroizing<String>);

impl KeyValue {
    fn of(keys: &MasterKeys) -> Self {
        let lines = Zeroizing::new(keys.serialize());
        Self(Zeroizing::new(
            lines
                .lines()
                .filter(|line| !line.is_empty())
                .collect::<Vec<_>>()
                .join(","),
        ))
    }

    /// The secret value itself: print it only where the operator asked for it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for KeyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyValue(<redacted>)")
    }
}

/// What a rotation run did, and what the operator must do next.
#[derive(Debug)]
pub enum RotationOutcome {
    /// Configured keys had one version: a new version was made and nothing
    /// was re-sealed (servers cannot open it yet). Set `value` on every server
    /// and for `ssi admin`, restart the servers, and run again.
    NewKeyToConfigure { new_version: i64, value: KeyValue },
    /// Every sealed value is under `version`; the old versions are still
    /// configured (run with `--finish` to drop them).
    Resealed {
        version: i64,
        resealed: u64,
        old_versions: Vec<i64>,
    },
    /// Every sealed value is under `version` and the old versions are gone:
    /// from the key file, or, for configured keys, from `value` (set it).
    Finished {
        version: i64,
        resealed: u64,
        dropped: Vec<i64>,
        key_file: Option<PathBuf>,
        value: Option<KeyValue>,
    },
}

/// A created account; `generated_password` when none was given.
#[derive(Debug)]
pub struct CreatedAccount {
    pub id: String,
    pub email: String,
    pub generated_password: Option<Zeroizing<String>>,
}

/// A table with a value sealed under the master key; the associated data is
/// the row's key column.
struct SealedColumn {
    table: &'static str,
    key: &'static str,
    column: &'static str,
}

const SEALED_COLUMNS: [SealedColumn; 3] = [
    SealedColumn {
        table: "server_secrets",
        key: "name",
        column: "sealed",
    },
    SealedColumn {
        table: "app_keys",
        key: "kid",
        column: "private_sealed",
    },
    SealedColumn {
        table: "links",
        key: "id",
        column: "signing_key_sealed",
    },
];

/// The operator's handle on the database.
pub struct Admin {
    pub store: Store,
    clock: Arc<dyn Clock>,
    rng: Arc<dyn RandomSource>,
}

impl Admin {
    pub fn new(store: Store, clock: Arc<dyn Clock>, rng: Arc<dyn RandomSource>) -> Self {
        Self { store, clock, rng }
    }

    /// Connects to the database the config selects (creating the data
    /// directory for SQLite) and applies the migrations, as a server would.
    pub async fn open(
        config: &ServerConfig,
        clock: Arc<dyn Clock>,
        rng: Arc<dyn RandomSource>,
    ) -> Result<Self, AdminError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
        let store = Store::connect(&startup::database_url(config)).await?;
        store.migrate().await?;
        Ok(Self::new(store, clock, rng))
    }

    pub async fn close(&self) {
        self.store.close().await;
    }

    async fn audit(
        &self,
        action: &str,
        account_id: Option<String>,
        subject: Option<String>,
        detail: serde_json::Value,
    ) -> Result<(), AdminError> {
        let row = AuditRow {
            id: new_id(self.rng.as_ref(), "aud_"),
            at: self.clock.now_ms(),
            request_id: None,
            actor: OPERATOR.to_owned(),
            action: action.to_owned(),
            account_id,
            subject,
            detail: Some(detail.to_string()),
        };
        self.store.insert_audit(&row).await?;
        Ok(())
    }

    /// Creates a platform account (optionally a developer). Without a
    /// password, one is generated and returned once.
    pub async fn create_account(
        &self,
        email: &str,
        password: Option<&str>,
        is_developer: bool,
    ) -> Result<CreatedAccount, AdminError> {
        let email = rules::normalize_email(email)?;
        let (password, generated_password) = match password {
            Some(password) => (Zeroizing::new(password.to_owned()), None),
            None => {
                let generated = Zeroizing::new(new_secret(self.rng.as_ref(), ""));
                (generated.clone(), Some(generated))
            }
        };
        rules::validate_password(&password)?;
        let mut salt = [0u8; 16];
        self.rng.fill(&mut salt);
        let password_hash =
            tokio::task::spawn_blocking(move || rules::hash_password(&password, &salt))
                .await
                .map_err(|_| AccountError::Hashing)??;
        let account = AccountRow {
            id: new_id(self.rng.as_ref(), "acct_"),
            email: email.clone(),
            password_hash,
            ssi_enabled: true,
            region: "default".to_owned(),
            is_developer,
            created_at: self.clock.now_ms(),
        };
        match self.store.insert_account(&account).await {
            Ok(()) => {}
            Err(e) if e.is_unique_violation() => return Err(AdminError::EmailTaken(email)),
            Err(e) => return Err(e.into()),
        }
        self.audit(
            "account.create",
            Some(account.id.clone()),
            Some(account.id.clone()),
            json!({ "developer": is_developer }),
        )
        .await?;
        Ok(CreatedAccount {
            id: account.id,
            email,
            generated_password,
        })
    }

    /// Blocks (or unblocks) an app by package id: its calls then answer
    /// `NOT_AVAILABLE`. Returns the app id.
    pub async fn set_app_blocked(
        &self,
        package_id: &str,
        blocked: bool,
    ) -> Result<String, AdminError> {
        let row = sqlx::query("SELECT id, developer_id FROM apps WHERE package_id = $1")
            .bind(package_id)
            .fetch_optional(&self.store.read)
            .await
            .map_err(StoreError::from)?
            .ok_or_else(|| AdminError::NoSuchApp(package_id.to_owned()))?;
        let app_id: String = row.try_get("id").map_err(StoreError::from)?;
        let developer_id: String = row.try_get("developer_id").map_err(StoreError::from)?;
        sqlx::query("UPDATE apps SET blocked = $1 WHERE id = $2")
            .bind(blocked)
            .bind(&app_id)
            .execute(&self.store.write)
            .await
            .map_err(StoreError::from)?;
        let action = if blocked { "app.block" } else { "app.unblock" };
        self.audit(
            action,
            Some(developer_id),
            Some(app_id.clone()),
            json!({ "package_id": package_id }),
        )
        .await?;
        Ok(app_id)
    }

    /// Makes SSI available (or not) in a region.
    pub async fn set_region_available(
        &self,
        region: &str,
        available: bool,
    ) -> Result<(), AdminError> {
        validate_region(region)?;
        sqlx::query(
            "INSERT INTO region_settings (region, ssi_available, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (region) DO UPDATE SET ssi_available = $2, updated_at = $3",
        )
        .bind(region)
        .bind(available)
        .bind(self.clock.now_ms())
        .execute(&self.store.write)
        .await
        .map_err(StoreError::from)?;
        self.audit(
            "settings.region",
            None,
            Some(region.to_owned()),
            json!({ "ssi_available": available }),
        )
        .await
    }

    /// Moves an account to a region. Returns the account id.
    pub async fn set_account_region(
        &self,
        email: &str,
        region: &str,
    ) -> Result<String, AdminError> {
        validate_region(region)?;
        let account = self.account_by_email(email).await?;
        sqlx::query("UPDATE accounts SET region = $1 WHERE id = $2")
            .bind(region)
            .bind(&account.id)
            .execute(&self.store.write)
            .await
            .map_err(StoreError::from)?;
        self.audit(
            "account.region",
            Some(account.id.clone()),
            Some(account.id.clone()),
            json!({ "from": account.region, "to": region }),
        )
        .await?;
        Ok(account.id)
    }

    /// The audit log, most recent first; only one account's entries with
    /// `email`.
    pub async fn list_audit(
        &self,
        email: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditRow>, AdminError> {
        if !(1..=AUDIT_LIMIT_MAX).contains(&limit) {
            return Err(AdminError::Limit);
        }
        let account_id = match email {
            Some(email) => Some(self.account_by_email(email).await?.id),
            None => None,
        };
        Ok(self.store.list_audit(account_id.as_deref(), limit).await?)
    }

    async fn account_by_email(&self, email: &str) -> Result<AccountRow, AdminError> {
        let normalized = rules::normalize_email(email)?;
        self.store
            .find_account_by_email(&normalized)
            .await?
            .ok_or(AdminError::NoSuchAccount(normalized))
    }

    /// Sealed values (server secrets, app keys, link signing keys) under a
    /// master key version other than `version`.
    pub async fn count_sealed_not_under(&self, version: i64) -> Result<u64, AdminError> {
        let mut total = 0u64;
        for sealed in &SEALED_COLUMNS {
            let sql = format!(
                "SELECT COUNT(*) AS n FROM {} WHERE master_key_version <> $1",
                sealed.table
            );
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(version)
                .fetch_one(&self.store.read)
                .await
                .map_err(StoreError::from)?;
            let n: i64 = row.try_get("n").map_err(StoreError::from)?;
            total += u64::try_from(n).unwrap_or(0);
        }
        Ok(total)
    }

    /// Re-seals up to `batch_size` values of each table that are not under
    /// the current version of `keys`, one transaction per table. Returns how
    /// many were re-sealed (0 when none is left). A row changed meanwhile by
    /// a server is left for the next batch.
    pub async fn reseal_batch(
        &self,
        keys: &MasterKeys,
        batch_size: usize,
    ) -> Result<u64, AdminError> {
        if !(1..=MAX_BATCH_SIZE).contains(&batch_size) {
            return Err(AdminError::BatchSize);
        }
        let mut resealed = 0;
        for sealed in &SEALED_COLUMNS {
            let mut attempt = 0u32;
            resealed += loop {
                match self.reseal_table_batch(keys, sealed, batch_size).await {
                    Err(AdminError::Store(e)) if attempt < 5 && e.is_retryable() => {
                        attempt += 1;
                        tokio::time::sleep(std::time::Duration::from_millis(5u64 << attempt)).await;
                    }
                    other => break other?,
                }
            };
        }
        Ok(resealed)
    }

    async fn reseal_table_batch(
        &self,
        keys: &MasterKeys,
        sealed: &SealedColumn,
        batch_size: usize,
    ) -> Result<u64, AdminError> {
        let target = keys.current_version();
        let SealedColumn { table, key, column } = sealed;
        let mut tx = self.store.write.begin().await.map_err(StoreError::from)?;
        let select = format!(
            "SELECT {key} AS k, {column} AS sealed, master_key_version FROM {table} \
             WHERE master_key_version <> $1 ORDER BY {key} LIMIT $2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(select))
            .bind(target)
            .bind(i64::try_from(batch_size).unwrap_or(i64::MAX))
            .fetch_all(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        let update = format!(
            "UPDATE {table} SET {column} = $1, master_key_version = $2 \
             WHERE {key} = $3 AND master_key_version = $4"
        );
        let mut resealed = 0;
        for row in &rows {
            let id: String = row.try_get("k").map_err(StoreError::from)?;
            let old: Vec<u8> = row.try_get("sealed").map_err(StoreError::from)?;
            let version: i64 = row
                .try_get("master_key_version")
                .map_err(StoreError::from)?;
            let plaintext = keys.open(version, id.as_bytes(), &old).map_err(|source| {
                AdminError::Unopenable {
                    table,
                    id: id.clone(),
                    version,
                    source,
                }
            })?;
            let (new, new_version) = keys.seal(id.as_bytes(), &plaintext, self.rng.as_ref());
            let changed = sqlx::query(sqlx::AssertSqlSafe(update.clone()))
                .bind(new)
                .bind(new_version)
                .bind(&id)
                .bind(version)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from)?
                .rows_affected();
            resealed += changed;
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(resealed)
    }

    /// Re-seals every value not under the current version of `keys`, batch
    /// after batch, until none is left. Returns how many were re-sealed.
    pub async fn reseal_all(
        &self,
        keys: &MasterKeys,
        batch_size: usize,
        progress: &mut dyn Progress,
    ) -> Result<u64, AdminError> {
        let target = keys.current_version();
        progress.start(self.count_sealed_not_under(target).await?);
        let mut total = 0;
        let mut idle_batches = 0;
        loop {
            let resealed = self.reseal_batch(keys, batch_size).await?;
            if resealed == 0 {
                // Nothing moved: done, unless rows keep changing under us.
                let left = self.count_sealed_not_under(target).await?;
                if left == 0 {
                    break;
                }
                idle_batches += 1;
                if idle_batches > 3 {
                    return Err(AdminError::StillInUse(left));
                }
                continue;
            }
            idle_batches = 0;
            total += resealed;
            progress.advance(resealed);
        }
        progress.finish();
        Ok(total)
    }

    /// Rotates the master key (DESIGN.md section 5: "key version recorded so
    /// the master key can rotate"). Idempotent: an interrupted run is
    /// completed by running again (values already under the new version are
    /// skipped; a key file with two versions is resumed, not rotated again).
    ///
    /// - Key file: adds a version and writes the file with both, re-seals
    ///   everything under the new one, then writes the file with only the new
    ///   one. Servers must not run on this data directory meanwhile: they keep
    ///   the old key list in memory.
    /// - Configured keys with one version: makes a new one to configure on
    ///   every server (nothing is re-sealed yet: the servers could not open
    ///   it). With two or more: re-seals under the newest, and with
    ///   `finish` gives the value without the old versions.
    pub async fn rotate_master_key(
        &self,
        source: KeySource,
        options: RotationOptions,
        progress: &mut dyn Progress,
    ) -> Result<RotationOutcome, AdminError> {
        if !(1..=MAX_BATCH_SIZE).contains(&options.batch_size) {
            return Err(AdminError::BatchSize);
        }
        match source {
            KeySource::File(path) => self.rotate_key_file(&path, options, progress).await,
            KeySource::Configured(keys) => {
                if keys.versions().len() == 1 && options.finish {
                    return Err(AdminError::NothingToFinish(keys.current_version()));
                }
                if keys.versions().len() == 1 {
                    let keys = keys.with_new_version(self.rng.as_ref());
                    self.audit_added(&keys).await?;
                    return Ok(RotationOutcome::NewKeyToConfigure {
                        new_version: keys.current_version(),
                        value: KeyValue::of(&keys),
                    });
                }
                let resealed = self.reseal_audited(&keys, options, progress).await?;
                let version = keys.current_version();
                let old_versions = old_versions(&keys);
                if !options.finish {
                    return Ok(RotationOutcome::Resealed {
                        version,
                        resealed,
                        old_versions,
                    });
                }
                self.ensure_none_left(version).await?;
                self.audit_dropped(version, &old_versions).await?;
                Ok(RotationOutcome::Finished {
                    version,
                    resealed,
                    dropped: old_versions,
                    key_file: None,
                    value: Some(KeyValue::of(&keys.current_only())),
                })
            }
        }
    }

    async fn rotate_key_file(
        &self,
        path: &Path,
        options: RotationOptions,
        progress: &mut dyn Progress,
    ) -> Result<RotationOutcome, AdminError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => Zeroizing::new(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(AdminError::NoKeyFile(path.to_owned()));
            }
            Err(source) => {
                return Err(StartError::KeyFile {
                    path: path.to_owned(),
                    source,
                }
                .into());
            }
        };
        let mut keys = MasterKeys::parse(&text)?;
        if keys.versions().len() == 1 {
            // Both versions on disk before anything is sealed under the new one.
            keys = keys.with_new_version(self.rng.as_ref());
            startup::write_key_file(path, &keys)?;
            self.audit_added(&keys).await?;
        }
        let resealed = self.reseal_audited(&keys, options, progress).await?;
        let version = keys.current_version();
        self.ensure_none_left(version).await?;
        let dropped = old_versions(&keys);
        startup::write_key_file(path, &keys.current_only())?;
        self.audit_dropped(version, &dropped).await?;
        Ok(RotationOutcome::Finished {
            version,
            resealed,
            dropped,
            key_file: Some(path.to_owned()),
            value: None,
        })
    }

    async fn reseal_audited(
        &self,
        keys: &MasterKeys,
        options: RotationOptions,
        progress: &mut dyn Progress,
    ) -> Result<u64, AdminError> {
        let resealed = self.reseal_all(keys, options.batch_size, progress).await?;
        self.audit(
            "master_key.reseal",
            None,
            None,
            json!({ "version": keys.current_version(), "resealed": resealed }),
        )
        .await?;
        Ok(resealed)
    }

    async fn ensure_none_left(&self, version: i64) -> Result<(), AdminError> {
        match self.count_sealed_not_under(version).await? {
            0 => Ok(()),
            left => Err(AdminError::StillInUse(left)),
        }
    }

    async fn audit_added(&self, keys: &MasterKeys) -> Result<(), AdminError> {
        self.audit(
            "master_key.add",
            None,
            None,
            json!({ "version": keys.current_version() }),
        )
        .await
    }

    async fn audit_dropped(&self, version: i64, dropped: &[i64]) -> Result<(), AdminError> {
        self.audit(
            "master_key.drop",
            None,
            None,
            json!({ "version": version, "dropped": dropped }),
        )
        .await
    }
}

fn old_versions(keys: &MasterKeys) -> Vec<i64> {
    let current = keys.current_version();
    keys.versions()
        .into_iter()
        .filter(|&v| v != current)
        .collect()
}

/// 1-64 characters of `[A-Za-z0-9._-]`.
pub fn validate_region(region: &str) -> Result<(), AdminError> {
    let ok = (1..=REGION_MAX_CHARS).contains(&region.len())
        && region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok { Ok(()) } else { Err(AdminError::Region) }
}
