//! Randomness comes in through [`RandomSource`] (shared, thread-safe), adapted
//! to the token library's [`Random`] where needed.

use std::sync::Mutex;

use ssi_token::{BufferedSystemRandom, Random, SeededRandom, SystemRandom};

use crate::encoding::b64;

pub trait RandomSource: Send + Sync {
    fn fill(&self, dest: &mut [u8]);
}

/// The operating system's CSPRNG, read in 4 KiB blocks per thread (a token
/// id then costs a copy, not a call into the DRBG).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemRandomSource;

thread_local! {
    static BUFFERED: std::cell::RefCell<BufferedSystemRandom> =
        std::cell::RefCell::new(BufferedSystemRandom::new());
}

impl RandomSource for SystemRandomSource {
    fn fill(&self, dest: &mut [u8]) {
        if dest.len() > 256 {
            SystemRandom.fill(dest);
            return;
        }
        BUFFERED.with(|buffered| buffered.borrow_mut().fill(dest));
    }
}

/// Reproducible randomness for tests.
#[derive(Debug)]
pub struct SeededRandomSource(Mutex<SeededRandom>);

impl SeededRandomSource {
    pub fn new(seed: &[u8]) -> Self {
        Self(Mutex::new(SeededRandom::new(seed)))
    }
}

impl RandomSource for SeededRandomSource {
    fn fill(&self, dest: &mut [u8]) {
        self.0.lock().expect("seeded random lock").fill(dest);
    }
}

/// Lets a shared source be passed where the token library wants `&mut dyn Random`.
pub struct RandomRef<'a>(pub &'a dyn RandomSource);

impl Random for RandomRef<'_> {
    fn fill(&mut self, dest: &mut [u8]) {
        self.0.fill(dest);
    }
}

/// A random, unguessable id: `prefix` + 128 bits in base64url.
pub fn new_id(rng: &dyn RandomSource, prefix: &str) -> String {
    let mut bytes = [0u8; 16];
    rng.fill(&mut bytes);
    format!("{prefix}{}", b64(&bytes))
}

/// A random secret of 256 bits in base64url, with a recognisable prefix.
pub fn new_secret(rng: &dyn RandomSource, prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rng.fill(&mut bytes);
    format!("{prefix}{}", b64(&bytes))
}
