//! Time and randomness come in from outside: the binary passes the wall clock
//! and the OS random source; tests may pass their own.

/// The current time in epoch milliseconds.
pub trait Clock: Send + Sync {
    /// Now, in epoch milliseconds.
    fn now_ms(&self) -> i64;
}

/// A source of random bytes (event ids).
pub trait RandomSource: Send + Sync {
    /// Fills `dest` with random bytes.
    fn fill(&self, dest: &mut [u8]);
}

/// The operating system's CSPRNG.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemRandomSource;

impl RandomSource for SystemRandomSource {
    fn fill(&self, dest: &mut [u8]) {
        ssi_token::Random::fill(&mut ssi_token::SystemRandom, dest);
    }
}

/// A new random id of 32 lowercase hex characters (128 bits): metric `eventId`s.
pub fn new_event_id(rng: &dyn RandomSource) -> String {
    let mut bytes = [0u8; 16];
    rng.fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
