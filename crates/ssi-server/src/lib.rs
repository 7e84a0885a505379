//! `ssi-server`: the cloud half of Simple Sign-In (DESIGN.md sections 2-3,
//! 5-6, 8-11): platform accounts, devices, developers, links, SSI token
//! minting, settings, metrics ingestion and daily aggregates, reports (CSV,
//! SVG), account pages, audit log.
//!
//! Layers: `domain` is pure (time and randomness are parameters); `store`
//! does SQL; `http` turns requests into domain calls. Time comes from the
//! injected [`clock::Clock`], randomness from [`random::RandomSource`].
#![forbid(unsafe_code)]

pub mod admin;
pub mod audit;
pub mod clock;
pub mod config;
pub mod domain;
pub mod encoding;
pub mod http;
pub mod maintenance;
pub mod metrics;
pub mod random;
pub mod reports;
pub mod secrets;
pub mod startup;
pub mod state;
pub mod store;

use std::future::Future;

pub use config::ServerConfig;
pub use startup::{StartError, build_state};
pub use state::AppState;

/// Serves until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = http::router(state.clone());
    let maintenance = tokio::spawn(maintenance::run(state.clone()));
    let result = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    maintenance.abort();
    // No handler is left once axum returned: the link writer commits and
    // answers what it still holds, then the pools close.
    state.link_writer.shutdown().await;
    state.store.close().await;
    result
}
