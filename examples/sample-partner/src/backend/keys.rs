//! The two keys a partner backend works with:
//! - its **link-token key** (symmetric, its own, never leaves the backend):
//!   a JWK file in the backend's directory, mode 0600, made on first start;
//! - the **app's public key** (made by the platform for the app): what link
//!   signing keys are sealed to, read from the platform's public JWKS
//!   endpoint (`GET /v1/apps/{packageId}/jwks.json`) and cached briefly.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use ssi_token::{AppJwk, AppPublicKey, KeyError, LinkTokenKey, Random};
use thiserror::Error;
use tokio::sync::Mutex;

#[derive(Debug, Error)]
pub enum KeyFileError {
    #[error("link-token key file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("link-token key file {path}: not a link-token JWK: {source}")]
    NotAKey { path: PathBuf, source: KeyError },
}

/// Reads the link-token key from `path`, or makes one and writes it there
/// (0600) when the file does not exist.
pub fn load_or_create_link_token_key(
    path: &Path,
    rng: &mut dyn Random,
) -> Result<LinkTokenKey, KeyFileError> {
    let io = |source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    };
    match fs::read_to_string(path) {
        Ok(text) => LinkTokenKey::from_jwk_json(&text).map_err(|source| KeyFileError::NotAKey {
            path: path.to_owned(),
            source,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = LinkTokenKey::generate(rng);
            let json = serde_json::to_string(&key.to_jwk()).expect("a JWK serializes");
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(io)?;
            file.write_all(json.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(io)?;
            Ok(key)
        }
        Err(e) => Err(io(e)),
    }
}

#[derive(Debug, Error)]
pub enum AppKeyError {
    #[error("fetching the app's JWKS from {url}: {detail}")]
    Fetch { url: String, detail: String },
    #[error("the app's JWKS at {url} has no usable key")]
    NoKey { url: String },
}

/// Where the app's public key comes from.
pub enum AppKeySource {
    /// The platform's JWKS URL of the app; the newest current key is used.
    Jwks(String),
    /// A key given outright (a partner that copies it from the console; tests).
    Fixed(AppPublicKey),
}

/// How long a fetched JWKS is used before it is fetched again (the
/// platform serves it with `max-age=300`).
const JWKS_CACHE: Duration = Duration::from_secs(300);

#[derive(Deserialize)]
struct JwksBody {
    keys: Vec<serde_json::Value>,
}

/// The app's public key, fetched on demand and cached.
pub struct AppKeys {
    source: AppKeySource,
    http: reqwest::Client,
    cached: Mutex<Option<(tokio::time::Instant, AppPublicKey)>>,
}

impl AppKeys {
    pub fn new(source: AppKeySource) -> Self {
        Self {
            source,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("an HTTP client without TLS builds"),
            cached: Mutex::new(None),
        }
    }

    /// The key to seal the next link signing key to.
    pub async fn current(&self) -> Result<AppPublicKey, AppKeyError> {
        let url = match &self.source {
            AppKeySource::Fixed(key) => return Ok(key.clone()),
            AppKeySource::Jwks(url) => url,
        };
        let mut cached = self.cached.lock().await;
        if let Some((fetched, key)) = cached.as_ref()
            && fetched.elapsed() < JWKS_CACHE
        {
            return Ok(key.clone());
        }
        let key = self.fetch(url).await?;
        *cached = Some((tokio::time::Instant::now(), key.clone()));
        Ok(key)
    }

    async fn fetch(&self, url: &str) -> Result<AppPublicKey, AppKeyError> {
        let fetch_error = |detail: String| AppKeyError::Fetch {
            url: url.to_owned(),
            detail,
        };
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| fetch_error(e.to_string()))?;
        if !response.status().is_success() {
            return Err(fetch_error(format!("HTTP {}", response.status())));
        }
        let body: JwksBody = response
            .json()
            .await
            .map_err(|e| fetch_error(e.to_string()))?;
        // Current keys come oldest first: seal to the newest one that parses.
        body.keys
            .iter()
            .rev()
            .filter_map(|value| serde_json::from_value::<AppJwk>(value.clone()).ok())
            .find_map(|jwk| AppPublicKey::from_jwk(&jwk).ok())
            .ok_or_else(|| AppKeyError::NoKey {
                url: url.to_owned(),
            })
    }
}
