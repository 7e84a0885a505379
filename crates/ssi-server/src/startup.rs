//! Start-up: connect and migrate the store, load the master keys, load or
//! create the server secrets, and build the state.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use thiserror::Error;

use crate::clock::Clock;
use crate::config::ServerConfig;
use crate::metrics::ServerMetrics;
use crate::random::RandomSource;
use crate::secrets::{DirectedIds, MasterKeys, SecretError};
use crate::state::{AppState, StateInner};
use crate::store::{Store, StoreError, sqlite_url_for};

#[derive(Debug, Error)]
pub enum StartError {
    #[error("data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("master key file {path}: {source}")]
    KeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("master keys: {0}")]
    MasterKeys(#[from] SecretError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("the directed-id secret does not open with the configured master keys")]
    SecretMismatch,
}

pub const MASTER_KEY_FILE: &str = "master.key";
const DIRECTED_ID_SECRET: &str = "directed-id-key";

/// The database URL the config selects: PostgreSQL if given, else the
/// SQLite file in the data directory.
pub fn database_url(config: &ServerConfig) -> String {
    match config.database_url.as_deref() {
        Some(url) if !url.is_empty() => url.to_owned(),
        _ => sqlite_url_for(&config.data_dir),
    }
}

/// Reads the master keys from the config, or from `data_dir/master.key`,
/// generating that file (mode 0600) on first start.
pub fn load_master_keys(
    config: &ServerConfig,
    rng: &dyn RandomSource,
) -> Result<MasterKeys, StartError> {
    if let Some(text) = config.master_keys.as_deref() {
        return Ok(MasterKeys::parse(text)?);
    }
    let path = config.data_dir.join(MASTER_KEY_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => Ok(MasterKeys::parse(&text)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let keys = MasterKeys::generate(1, rng);
            write_key_file(&path, &keys)?;
            Ok(keys)
        }
        Err(source) => Err(StartError::KeyFile { path, source }),
    }
}

/// Writes the key file atomically with mode 0600.
pub fn write_key_file(path: &Path, keys: &MasterKeys) -> Result<(), StartError> {
    let key_file_error = |source| StartError::KeyFile {
        path: path.to_owned(),
        source,
    };
    let tmp = path.with_extension("key.tmp");
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(key_file_error)?;
    file.write_all(keys.serialize().as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(key_file_error)?;
    fs::rename(&tmp, path).map_err(key_file_error)?;
    Ok(())
}

const SQLITE_FILE: &str = "ssi.db";

/// Creates the database file readable by the owner only (0600) before SQLite
/// opens it; SQLite gives its `-wal` and `-shm` files the same mode. An
/// existing file is left as it is.
fn create_private_file(path: &Path) -> Result<(), StartError> {
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(StartError::DataDir {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Connects, migrates and assembles the state.
pub async fn build_state(
    config: ServerConfig,
    clock: Arc<dyn Clock>,
    rng: Arc<dyn RandomSource>,
) -> Result<AppState, StartError> {
    fs::create_dir_all(&config.data_dir).map_err(|source| StartError::DataDir {
        path: config.data_dir.clone(),
        source,
    })?;
    let master_keys = load_master_keys(&config, rng.as_ref())?;
    let url = database_url(&config);
    if url.starts_with("sqlite:") {
        create_private_file(&config.data_dir.join(SQLITE_FILE))?;
    }
    let store = Store::connect(&url).await?;
    store.migrate().await?;
    let directed_ids =
        load_directed_ids(&store, &master_keys, rng.as_ref(), clock.now_ms()).await?;
    let link_writer = crate::store::link_writer::LinkWriter::new(store.clone());
    Ok(AppState::new(StateInner {
        config,
        store,
        clock,
        rng,
        master_keys,
        directed_ids,
        metrics: ServerMetrics::default(),
        signing_key_cache: crate::store::links::SigningKeyCache::default(),
        app_key_cache: crate::store::links::AppKeyCache::default(),
        link_writer,
    }))
}

async fn load_directed_ids(
    store: &Store,
    master_keys: &MasterKeys,
    rng: &dyn RandomSource,
    now_ms: i64,
) -> Result<DirectedIds, StartError> {
    let mut candidate = zeroize::Zeroizing::new([0u8; 32]);
    rng.fill(candidate.as_mut());
    let aad = DIRECTED_ID_SECRET.as_bytes();
    let (sealed, version) = master_keys.seal(aad, candidate.as_slice(), rng);
    let (stored, stored_version) = store
        .get_or_insert_server_secret(DIRECTED_ID_SECRET, &sealed, version, now_ms)
        .await?;
    let secret = master_keys
        .open(stored_version, aad, &stored)
        .map_err(|_| StartError::SecretMismatch)?;
    let secret: [u8; 32] = secret
        .as_slice()
        .try_into()
        .map_err(|_| StartError::SecretMismatch)?;
    Ok(DirectedIds::new(&secret))
}
