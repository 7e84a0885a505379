//! Starts a real server on an ephemeral loopback port, on a temp SQLite file
//! or a fresh PostgreSQL database, with a manual clock.

use std::sync::Arc;

use ssi_server::clock::ManualClock;
use ssi_server::random::SystemRandomSource;
use ssi_server::{AppState, ServerConfig};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// 2026-11-25T00:00:00Z, the tests' "now" unless a test moves the clock.
pub const TEST_NOW_MS: i64 = 1_795_564_800_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestServer {
    pub base: String,
    pub http: reqwest::Client,
    pub clock: ManualClock,
    pub state: AppState,
    pub backend: Backend,
    pub config: ServerConfig,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    pub dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, |_| {}).await
    }

    pub async fn start_with(backend: Backend, adjust: impl FnOnce(&mut ServerConfig)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind an ephemeral port");
        let addr = listener.local_addr().expect("local addr");
        let mut config = ServerConfig {
            listen: addr,
            data_dir: dir.path().to_owned(),
            issuer: format!("http://{addr}"),
            ..ServerConfig::default()
        };
        if backend == Backend::Postgres {
            config.database_url = Some(crate::pg::fresh_database().await);
        }
        adjust(&mut config);
        Self::start_on(
            backend,
            config,
            listener,
            dir,
            ManualClock::new(TEST_NOW_MS),
        )
        .await
    }

    /// Starts (or restarts) a server on an existing config and data dir.
    pub async fn start_on(
        backend: Backend,
        config: ServerConfig,
        listener: tokio::net::TcpListener,
        dir: tempfile::TempDir,
        clock: ManualClock,
    ) -> Self {
        let state = ssi_server::build_state(
            config.clone(),
            Arc::new(clock.clone()),
            Arc::new(SystemRandomSource),
        )
        .await
        .expect("server state");
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(ssi_server::serve(listener, state.clone(), async {
            let _ = rx.await;
        }));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        Self {
            base: format!("http://{}", config.listen),
            http,
            clock,
            state,
            backend,
            config,
            shutdown: Some(tx),
            task: Some(task),
            dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops gracefully and returns what is needed to start again on the
    /// same data (restart tests).
    pub async fn stop(mut self) -> (ServerConfig, tempfile::TempDir, ManualClock) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server exit");
        }
        (self.config.clone(), self.dir, self.clock.clone())
    }
}

/// Declares a test that runs once on SQLite and once on PostgreSQL:
/// `server_test!(name, |server| async move { ... });`
///
/// A body that only ever names fields of `server.state` captures just that
/// field, so the rest (and with it the server) is dropped at once: start such
/// a body with `let server = server;`.
macro_rules! server_test {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let server =
                    $crate::harness::TestServer::start($crate::harness::Backend::Sqlite).await;
                ($body)(server).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let server =
                    $crate::harness::TestServer::start($crate::harness::Backend::Postgres).await;
                ($body)(server).await;
            }
        }
    };
}
