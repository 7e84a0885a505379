//! The server master key (DESIGN.md section 5, "Server master key"): stored
//! signing keys, app private keys and server secrets are sealed with
//! AES-256-GCM under it, with the row's id as associated data and the key
//! version recorded so that the master key can rotate.
//!
//! Also the directed ids of DESIGN.md section 6: HMAC-SHA256 under a server
//! secret, keyed by the developer, so two developers cannot correlate users.

use std::collections::BTreeMap;
use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hmac;
use thiserror::Error;
use zeroize::Zeroizing;

use crate::encoding::{b64, b64_decode};
use crate::random::RandomSource;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("master key version {0} is not configured")]
    UnknownVersion(i64),
    #[error("a sealed value does not open with its master key (wrong key or tampered row)")]
    OpenFailed,
    #[error("malformed master key list: {0}")]
    BadKeyList(String),
}

/// The versioned master keys; the highest version seals, any opens.
pub struct MasterKeys {
    keys: BTreeMap<i64, Zeroizing<[u8; 32]>>,
}

impl fmt::Debug for MasterKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKeys")
            .field("versions", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl MasterKeys {
    pub fn new(keys: BTreeMap<i64, [u8; 32]>) -> Result<Self, SecretError> {
        if keys.is_empty() {
            return Err(SecretError::BadKeyList("no master key".to_owned()));
        }
        Ok(Self {
            keys: keys
                .into_iter()
                .map(|(v, k)| (v, Zeroizing::new(k)))
                .collect(),
        })
    }

    pub fn generate(version: i64, rng: &dyn RandomSource) -> Self {
        let mut key = [0u8; 32];
        rng.fill(&mut key);
        let keys = BTreeMap::from([(version, Zeroizing::new(key))]);
        Self { keys }
    }

    /// Parses `version:base64url` entries separated by commas or newlines
    /// (the key file and the `SSI_MASTER_KEYS` variable use this form).
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let mut keys = BTreeMap::new();
        for entry in text
            .split([',', '\n'])
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            let (version, key) = entry
                .split_once(':')
                .ok_or_else(|| SecretError::BadKeyList("expected version:key".to_owned()))?;
            let version: i64 = version
                .parse()
                .map_err(|_| SecretError::BadKeyList("version is not an integer".to_owned()))?;
            let key: [u8; 32] =
                b64_decode(key)
                    .and_then(|k| k.try_into().ok())
                    .ok_or_else(|| {
                        SecretError::BadKeyList("a key is not 32 bytes of base64url".to_owned())
                    })?;
            keys.insert(version, key);
        }
        Self::new(keys)
    }

    /// The `version:base64url` form, newest first.
    pub fn serialize(&self) -> String {
        let mut out = String::new();
        for (version, key) in self.keys.iter().rev() {
            out.push_str(&format!("{version}:{}\n", b64(key.as_slice())));
        }
        out
    }

    pub fn current_version(&self) -> i64 {
        *self.keys.keys().next_back().expect("at least one key")
    }

    pub fn versions(&self) -> Vec<i64> {
        self.keys.keys().copied().collect()
    }

    /// A new key list with a fresh key as the next version (old ones kept
    /// until everything is re-sealed).
    pub fn with_new_version(&self, rng: &dyn RandomSource) -> Self {
        let mut key = [0u8; 32];
        rng.fill(&mut key);
        let mut keys = self.keys.clone();
        keys.insert(self.current_version() + 1, Zeroizing::new(key));
        Self { keys }
    }

    /// Only the current version (after a completed rotation).
    pub fn current_only(&self) -> Self {
        let version = self.current_version();
        let key = self.keys[&version].clone();
        Self {
            keys: BTreeMap::from([(version, key)]),
        }
    }

    /// Seals under the current key: `nonce ‖ ciphertext ‖ tag`, and the version.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8], rng: &dyn RandomSource) -> (Vec<u8>, i64) {
        let version = self.current_version();
        let key = aead_key(&self.keys[&version]);
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill(&mut nonce);
        let mut out = nonce.to_vec();
        let mut body = plaintext.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut body,
        )
        .expect("AES-GCM sealing of a small value cannot fail");
        out.extend_from_slice(&body);
        (out, version)
    }

    pub fn open(
        &self,
        version: i64,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SecretError> {
        let key = self
            .keys
            .get(&version)
            .ok_or(SecretError::UnknownVersion(version))?;
        if sealed.len() < NONCE_LEN {
            return Err(SecretError::OpenFailed);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().expect("split at NONCE_LEN");
        let mut body = Zeroizing::new(body.to_vec());
        let len = aead_key(key)
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut body,
            )
            .map_err(|_| SecretError::OpenFailed)?
            .len();
        body.truncate(len);
        Ok(body)
    }
}

fn aead_key(key: &[u8; 32]) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).expect("a 256-bit key"))
}

/// The key behind directed ids (shared by all nodes through the database).
pub struct DirectedIds {
    key: hmac::Key,
}

impl fmt::Debug for DirectedIds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirectedIds").finish_non_exhaustive()
    }
}

impl DirectedIds {
    pub fn new(secret: &[u8; 32]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    fn directed(&self, kind: &str, developer_id: &str, subject_id: &str) -> String {
        let mut ctx = hmac::Context::with_key(&self.key);
        for part in [kind, developer_id, subject_id] {
            ctx.update(&(part.len() as u64).to_be_bytes());
            ctx.update(part.as_bytes());
        }
        let tag = ctx.sign();
        format!("ssi1.{kind}.{}", b64(&tag.as_ref()[..18]))
    }

    /// `amazonUserId` / `sub`: stable per (developer, account).
    pub fn user(&self, developer_id: &str, account_id: &str) -> String {
        self.directed("u", developer_id, account_id)
    }

    /// `dev` in SSI tokens: stable per (developer, device).
    pub fn device(&self, developer_id: &str, device_id: &str) -> String {
        self.directed("d", developer_id, device_id)
    }
}
