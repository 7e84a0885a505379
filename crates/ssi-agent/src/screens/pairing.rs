//! Pairing of the one screen client: a one-time token, redeemed once for a session
//! (an HttpOnly cookie) and the session's CSRF token.

use std::io::Write;
use std::path::Path;

/// 256 random bits, hex.
pub(super) fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    // Without an OS random source no secret can be made, and a guessable one would
    // let any app on the device answer prompts: stop instead.
    getrandom::fill(&mut bytes).expect("the system random generator failed");
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Compares secrets in time independent of where they differ.
pub(super) fn secrets_equal(expected: &str, given: &str) -> bool {
    let (expected, given) = (expected.as_bytes(), given.as_bytes());
    expected.len() == given.len()
        && expected
            .iter()
            .zip(given)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

#[derive(Default)]
pub(super) struct Pairing {
    /// The issued, not yet redeemed token (at most one).
    pending_token: Option<String>,
    session: Option<Session>,
}

/// The paired client's secrets.
#[derive(Clone)]
pub(super) struct Session {
    pub cookie: String,
    pub csrf: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the pairing token is unknown or already used")]
pub(super) struct PairingRefused;

impl Pairing {
    pub fn issue(&mut self) -> String {
        let token = new_secret();
        self.pending_token = Some(token.clone());
        token
    }

    /// Redeems the pending token once; the new session replaces any earlier one (one
    /// screen client per device).
    pub fn redeem(&mut self, token: &str) -> Result<Session, PairingRefused> {
        match &self.pending_token {
            Some(pending) if secrets_equal(pending, token) => {
                self.pending_token = None;
                let session = Session {
                    cookie: new_secret(),
                    csrf: new_secret(),
                };
                self.session = Some(session.clone());
                Ok(session)
            }
            _ => Err(PairingRefused),
        }
    }

    /// The session whose cookie is `cookie`, if it is the paired one.
    pub fn session(&self, cookie: &str) -> Option<Session> {
        self.session
            .as_ref()
            .filter(|session| secrets_equal(&session.cookie, cookie))
            .cloned()
    }
}

/// Writes `contents` to `path` with mode 0600, through a temporary file in the same
/// directory and a rename.
pub(super) fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = std::path::PathBuf::from(temporary);
    let _ = std::fs::remove_file(&temporary);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)?;
    file.write_all(contents)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, path)
}
