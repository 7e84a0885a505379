//! Integration tests of the sample partner (one test binary): the backend on
//! a real socket and a real SQLite file, driven over HTTP.

mod backend;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use ssi_sample_partner::Clock;

/// A clock that moves only when told to.
#[derive(Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(now_secs: i64) -> Self {
        Self(Arc::new(AtomicI64::new(now_secs)))
    }

    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_secs(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}
