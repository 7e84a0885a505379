//! The server's typed configuration. The binary builds it from a config file,
//! environment variables and flags; nothing below reads the environment.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Where the SQLite database and the generated master key live.
    pub data_dir: PathBuf,
    /// `postgres://…` to use PostgreSQL; empty for SQLite in `data_dir`.
    pub database_url: Option<String>,
    /// The public base URL: the `iss` of SSI tokens and the base of the
    /// verification URI shown to device owners.
    pub issuer: String,
    /// Master keys as `version:base64url` entries (comma-separated); when
    /// absent, a key file in `data_dir` is used (generated on first start).
    pub master_keys: Option<String>,
    /// Mark cookies `Secure` (set when the public URL is https).
    pub secure_cookies: bool,
    /// RFC 8628 device code lifetime and minimum polling interval.
    pub device_code_ttl_secs: i64,
    pub device_poll_interval_secs: i64,
    /// How long a sign-in session lasts.
    pub session_ttl_secs: i64,
    /// How long a retired app key still unseals link signing keys.
    pub retired_app_key_grace_secs: i64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("ssi-data"),
            database_url: None,
            issuer: "http://127.0.0.1:8080".to_owned(),
            master_keys: None,
            secure_cookies: false,
            device_code_ttl_secs: 600,
            device_poll_interval_secs: 5,
            session_ttl_secs: 12 * 3600,
            retired_app_key_grace_secs: 7 * 24 * 3600,
        }
    }
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url_password),
            )
            .field("issuer", &self.issuer)
            .field(
                "master_keys",
                &self.master_keys.as_ref().map(|_| "<redacted>"),
            )
            .field("secure_cookies", &self.secure_cookies)
            .finish_non_exhaustive()
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((credentials, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}
