//! Everything a request handler needs, passed explicitly as axum state.

use std::ops::Deref;
use std::sync::Arc;

use crate::clock::Clock;
use crate::config::ServerConfig;
use crate::metrics::ServerMetrics;
use crate::random::RandomSource;
use crate::secrets::{DirectedIds, MasterKeys};
use crate::store::Store;

#[derive(Clone)]
pub struct AppState(Arc<StateInner>);

pub struct StateInner {
    pub config: ServerConfig,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub rng: Arc<dyn RandomSource>,
    pub master_keys: MasterKeys,
    pub directed_ids: DirectedIds,
    pub metrics: ServerMetrics,
    /// Rebuilt link signing keys, per node (see `store::links`).
    pub signing_key_cache: crate::store::links::SigningKeyCache,
    /// Opened app key pairs, per node (see `store::links`).
    pub app_key_cache: crate::store::links::AppKeyCache,
    /// Link creation with group commit on SQLite (see `store::link_writer`).
    pub link_writer: crate::store::link_writer::LinkWriter,
}

impl AppState {
    pub fn new(inner: StateInner) -> Self {
        Self(Arc::new(inner))
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub fn rng(&self) -> &dyn RandomSource {
        self.rng.as_ref()
    }
}

impl Deref for AppState {
    type Target = StateInner;
    fn deref(&self) -> &StateInner {
        &self.0
    }
}
