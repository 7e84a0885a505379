//! RFC 6979 deterministic ES256 signing (pure-Rust `p256`), used only so that
//! the published test vectors regenerate byte-identically. Production signing
//! uses aws-lc (randomized nonces), which is several times faster.

use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};

use crate::keys::LinkSigningKey;
use crate::ssi_token::Es256Signer;

pub struct DeterministicSigner {
    key: SigningKey,
}

impl std::fmt::Debug for DeterministicSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeterministicSigner")
            .finish_non_exhaustive()
    }
}

impl DeterministicSigner {
    pub fn new(key: &LinkSigningKey) -> Self {
        let key = SigningKey::from_slice(key.private_scalar())
            .expect("a validated link signing key is a valid p256 scalar");
        Self { key }
    }
}

impl Es256Signer for DeterministicSigner {
    fn sign_es256(&self, message: &[u8]) -> [u8; 64] {
        let signature: Signature = self.key.sign(message);
        signature.to_bytes().into()
    }
}
