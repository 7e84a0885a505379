//! The one place that reads the wall clock. Everything else takes `now`
//! (Unix seconds) as a parameter; commands that accept `--now` use it instead.

use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current time in Unix seconds.
pub trait Clock {
    fn now(&self) -> i64;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> i64 {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("the system clock is set after 1970");
        i64::try_from(since_epoch.as_secs()).expect("Unix seconds fit in i64")
    }
}

/// `--now` when given, else the clock.
pub fn now_or(explicit: Option<i64>, clock: &dyn Clock) -> i64 {
    explicit.unwrap_or_else(|| clock.now())
}

/// The server's clock is this same wall clock, in epoch milliseconds.
impl ssi_server::clock::Clock for SystemClock {
    #[allow(clippy::disallowed_methods)]
    fn now_ms(&self) -> i64 {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("the system clock is set after 1970");
        i64::try_from(since_epoch.as_millis()).expect("epoch milliseconds fit in i64")
    }
}
