//! Randomness comes in as a parameter so that tests and the test vectors are
//! reproducible; production code passes [`SystemRandom`].

use aws_lc_rs::digest;
use aws_lc_rs::rand::SecureRandom;

/// A source of cryptographically secure random bytes.
pub trait Random {
    fn fill(&mut self, dest: &mut [u8]);
}

/// The operating system's CSPRNG (via aws-lc).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemRandom;

impl Random for SystemRandom {
    fn fill(&mut self, dest: &mut [u8]) {
        // aws-lc's DRBG only fails when the OS has no entropy source at all,
        // and continuing with predictable bytes would be worse than stopping.
        aws_lc_rs::rand::SystemRandom::new()
            .fill(dest)
            .expect("the system random generator failed");
    }
}

/// Deterministic bytes from a seed: SHA-256(seed ‖ counter) blocks.
/// Only for tests and the published test vectors; never for real keys.
#[derive(Debug, Clone)]
pub struct SeededRandom {
    seed: Vec<u8>,
    counter: u64,
    buffer: [u8; 32],
    used: usize,
}

impl SeededRandom {
    pub fn new(seed: &[u8]) -> Self {
        Self {
            seed: seed.to_vec(),
            counter: 0,
            buffer: [0; 32],
            used: 32,
        }
    }
}

impl Random for SeededRandom {
    fn fill(&mut self, dest: &mut [u8]) {
        for byte in dest {
            if self.used == 32 {
                let mut ctx = digest::Context::new(&digest::SHA256);
                ctx.update(&self.seed);
                ctx.update(&self.counter.to_be_bytes());
                self.buffer.copy_from_slice(ctx.finish().as_ref());
                self.counter += 1;
                self.used = 0;
            }
            *byte = self.buffer[self.used];
            self.used += 1;
        }
    }
}

/// The system CSPRNG read 4 KiB at a time: one system call per 256 token ids
/// instead of one each, which matters on the minting hot path. Bytes are
/// wiped from the buffer as they are handed out, and the rest on drop.
pub struct BufferedSystemRandom {
    buffer: zeroize::Zeroizing<Vec<u8>>,
    next: usize,
}

impl BufferedSystemRandom {
    const SIZE: usize = 4096;

    pub fn new() -> Self {
        Self {
            buffer: zeroize::Zeroizing::new(vec![0u8; Self::SIZE]),
            next: Self::SIZE,
        }
    }
}

impl Default for BufferedSystemRandom {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for BufferedSystemRandom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufferedSystemRandom")
            .finish_non_exhaustive()
    }
}

impl Random for BufferedSystemRandom {
    fn fill(&mut self, dest: &mut [u8]) {
        if dest.len() > Self::SIZE / 4 {
            SystemRandom.fill(dest);
            return;
        }
        if Self::SIZE - self.next < dest.len() {
            SystemRandom.fill(self.buffer.as_mut_slice());
            self.next = 0;
        }
        let end = self.next + dest.len();
        dest.copy_from_slice(&self.buffer[self.next..end]);
        self.buffer[self.next..end].fill(0);
        self.next = end;
    }
}
