//! Periodic clean-up of rows that only matter for a while: expired sessions,
//! old rate-limit windows and expired device authorizations. Every node runs
//! it; the deletes are idempotent, so nodes need not coordinate.

use std::time::Duration;

use crate::state::AppState;
use crate::store::StoreError;

/// How often a node purges.
pub const PURGE_INTERVAL: Duration = Duration::from_secs(60);
/// Rate-limit windows are at most 15 minutes; keep a day for the audit trail.
const RATE_LIMIT_RETENTION_MS: i64 = 24 * 3600 * 1000;
/// Expired device authorizations are kept a day (their user codes stay taken).
const DEVICE_AUTHORIZATION_RETENTION_MS: i64 = 24 * 3600 * 1000;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    pub sessions: u64,
    pub rate_limits: u64,
    pub device_authorizations: u64,
}

pub async fn purge_expired(state: &AppState) -> Result<Purged, StoreError> {
    let now = state.now_ms();
    Ok(Purged {
        sessions: state.store.delete_expired_sessions(now).await?,
        rate_limits: state
            .store
            .delete_stale_rate_limits(now - RATE_LIMIT_RETENTION_MS)
            .await?,
        device_authorizations: state
            .store
            .delete_expired_device_authorizations(now - DEVICE_AUTHORIZATION_RETENTION_MS)
            .await?,
    })
}

/// Runs [`purge_expired`] every [`PURGE_INTERVAL`] until the task is dropped.
pub async fn run(state: AppState) {
    // The first purge waits a full period: start-up stays quick, and a purge
    // never races the first requests.
    let mut ticks =
        tokio::time::interval_at(tokio::time::Instant::now() + PURGE_INTERVAL, PURGE_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match purge_expired(&state).await {
            Ok(purged) => tracing::debug!(?purged, "purged expired rows"),
            Err(error) => tracing::warn!(%error, "purging expired rows failed"),
        }
    }
}
