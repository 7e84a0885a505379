//! Verification step 10: each `jti` is accepted once. The store is a trait
//! so that several partner nodes can share one (a database, Redis); the
//! in-memory default suits a single process.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Remembers token ids until they can no longer verify anyway.
pub trait ReplayStore: Send + Sync {
    /// Records `jti` until `keep_until` (Unix seconds). Returns `false` when
    /// it was already recorded and has not expired, i.e. a replay.
    fn check_and_remember(&self, jti: &str, keep_until: i64, now: i64) -> bool;
}

/// A process-local replay store that drops entries once they expire.
#[derive(Debug, Default)]
pub struct InMemoryReplayStore {
    inner: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    by_jti: HashMap<String, i64>,
    /// Insertion order; expiries are nearly monotonic, so purging from the
    /// front is cheap and never drops an entry before its time.
    order: VecDeque<(i64, String)>,
}

impl InMemoryReplayStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many ids are remembered now (after purging expired ones).
    pub fn len(&self, now: i64) -> usize {
        let mut entries = self.inner.lock().expect("replay store lock");
        entries.purge(now);
        // Purging stops at the first unexpired entry in insertion order, so
        // an entry with an earlier expiry inserted later can linger: count
        // only what is still remembered.
        entries
            .by_jti
            .values()
            .filter(|&&until| until > now)
            .count()
    }

    pub fn is_empty(&self, now: i64) -> bool {
        self.len(now) == 0
    }
}

impl Entries {
    fn purge(&mut self, now: i64) {
        while let Some((keep_until, _)) = self.order.front() {
            if *keep_until > now {
                break;
            }
            let (keep_until, jti) = self.order.pop_front().expect("front exists");
            if self.by_jti.get(&jti) == Some(&keep_until) {
                self.by_jti.remove(&jti);
            }
        }
    }
}

impl ReplayStore for InMemoryReplayStore {
    fn check_and_remember(&self, jti: &str, keep_until: i64, now: i64) -> bool {
        let mut entries = self.inner.lock().expect("replay store lock");
        entries.purge(now);
        if let Some(&until) = entries.by_jti.get(jti)
            && until > now
        {
            return false;
        }
        entries.by_jti.insert(jti.to_owned(), keep_until);
        entries.order.push_back((keep_until, jti.to_owned()));
        true
    }
}
