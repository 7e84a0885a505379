//! The device credential: what `ssi agent register` receives from the server
//! (RFC 8628) and every device-API call presents. Stored in
//! `<data dir>/device.json`, mode 0600, written atomically.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The file in the data directory.
pub const CREDENTIAL_FILE: &str = "device.json";

/// The server this device is registered with and its bearer credential.
///
/// `Debug` never shows the credential.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeviceCredential {
    /// The server's base URL (`https://ssi.example.com`).
    pub server: String,
    /// The bearer secret (`ssi_dev_…`).
    pub credential: String,
    /// The device's id on the server, as `whoami` reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
}

impl fmt::Debug for DeviceCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceCredential")
            .field("server", &self.server)
            .field("credential", &"<redacted>")
            .field("device_id", &self.device_id)
            .finish()
    }
}

/// The credential file cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// No file: the device is not registered.
    #[error(
        "{0} does not exist: the device is not registered (run `ssi agent register --server URL`)"
    )]
    Missing(PathBuf),
    /// Unreadable or malformed (the content is never repeated).
    #[error("{path}: {message}")]
    Bad {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl DeviceCredential {
    /// Reads `<data dir>/device.json`.
    pub fn load(data_dir: &Path) -> Result<Self, CredentialError> {
        let path = data_dir.join(CREDENTIAL_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CredentialError::Missing(path));
            }
            Err(e) => {
                return Err(CredentialError::Bad {
                    path,
                    message: e.to_string(),
                });
            }
        };
        serde_json::from_str(&text).map_err(|e| CredentialError::Bad {
            path,
            // serde_json's message names the line and column, not the value.
            message: format!("not a device credential file ({})", e.classify_name()),
        })
    }

    /// Writes `<data dir>/device.json` with mode 0600 (a temporary file renamed
    /// into place, so a crash leaves the old file or the new one).
    pub fn save(&self, data_dir: &Path) -> Result<PathBuf, CredentialError> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = data_dir.join(CREDENTIAL_FILE);
        let temp = data_dir.join(format!(".{CREDENTIAL_FILE}.tmp"));
        let bad = |e: std::io::Error| CredentialError::Bad {
            path: path.clone(),
            message: e.to_string(),
        };
        let _ = std::fs::remove_file(&temp);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
            .map_err(bad)?;
        let json = serde_json::to_vec_pretty(self).expect("a credential serializes");
        file.write_all(&json).map_err(bad)?;
        file.sync_all().map_err(bad)?;
        std::fs::rename(&temp, &path).map_err(bad)?;
        Ok(path)
    }
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "read error",
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => "not JSON",
            serde_json::error::Category::Data => "wrong fields",
        }
    }
}
