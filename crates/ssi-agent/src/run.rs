//! `ssi agent run`: the app sockets of every installed app, the screens web
//! page on loopback and the outbox delivery, until shutdown.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::flows::Agent;
use crate::outbox::run_outbox;
use crate::socket::until_stopped;
use crate::socket::{InFlight, bind_app_socket, prepare_run_dir, serve_app};
use crate::store::{InstalledApp, StoreError};

/// How long requests in flight may take to finish after shutdown was asked
/// for (a screen may be open for minutes: it is not waited for beyond this).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The agent could not start or keep running.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The run directory.
    #[error("run directory {path}: {source}")]
    RunDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct AppSocket {
    app: InstalledApp,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    path: PathBuf,
}

impl AppSocket {
    fn close(self) {
        let _ = self.stop.send(true);
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Runs the agent until `shutdown` resolves; then stops accepting, lets
/// requests in flight finish (at most [`SHUTDOWN_GRACE`]) and removes the
/// sockets. `on_ready` is called once every socket of the registry exists.
pub async fn run(
    agent: Arc<Agent>,
    screen_listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    on_ready: impl FnOnce(),
) -> Result<(), RunError> {
    let run_dir = agent.config().run_dir.clone();
    prepare_run_dir(&run_dir).map_err(|source| RunError::RunDir {
        path: run_dir.clone(),
        source,
    })?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let screens = {
        let router = agent.screens().router();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let served = axum::serve(screen_listener, router)
                .with_graceful_shutdown(async move {
                    until_stopped(&mut stop).await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "the screens server stopped");
            }
        })
    };
    let outbox = tokio::spawn(run_outbox(agent.clone(), stop_rx.clone()));
    let in_flight = InFlight::default();
    let mut sockets: HashMap<String, AppSocket> = HashMap::new();
    sync_sockets(&agent, &mut sockets, &in_flight).await?;
    on_ready();
    let rescan = Duration::from_millis(agent.config().registry_rescan_ms);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(rescan) => {
                if let Err(e) = sync_sockets(&agent, &mut sockets, &in_flight).await {
                    tracing::error!(error = %e, "the app registry could not be read");
                }
            }
        }
    }
    tracing::info!(
        requests = in_flight.count(),
        "shutting down: finishing the requests in flight"
    );
    for (_, socket) in sockets.drain() {
        socket.close();
    }
    // Open and queued prompts end now (NOT_APPLICABLE for their apps).
    agent.screens().close();
    if tokio::time::timeout(SHUTDOWN_GRACE, in_flight.idle())
        .await
        .is_err()
    {
        tracing::warn!(
            requests = in_flight.count(),
            "requests still running after the grace period"
        );
    }
    let _ = stop_tx.send(true);
    let _ = outbox.await;
    let _ = tokio::time::timeout(Duration::from_secs(2), screens).await;
    agent.store().close().await;
    Ok(())
}

/// Makes the sockets match the registry: new apps get one, removed apps lose
/// theirs, changed apps (privileges, uid) get a fresh one.
async fn sync_sockets(
    agent: &Arc<Agent>,
    sockets: &mut HashMap<String, AppSocket>,
    in_flight: &InFlight,
) -> Result<(), StoreError> {
    let apps = agent.store().list_apps().await?;
    let wanted: HashMap<&str, &InstalledApp> =
        apps.iter().map(|a| (a.package_id.as_str(), a)).collect();
    let stale: Vec<String> = sockets
        .iter()
        .filter(|(id, socket)| wanted.get(id.as_str()) != Some(&&socket.app))
        .map(|(id, _)| id.clone())
        .collect();
    for id in stale {
        if let Some(socket) = sockets.remove(&id) {
            tracing::info!(package_id = %id, "app socket closed");
            socket.close();
        }
    }
    for app in &apps {
        if sockets.contains_key(&app.package_id) {
            continue;
        }
        match bind_app_socket(&agent.config().run_dir, app) {
            Ok((listener, path)) => {
                let (stop, stopped) = watch::channel(false);
                let task = tokio::spawn(serve_app(
                    listener,
                    Arc::new(app.clone()),
                    agent.clone(),
                    in_flight.clone(),
                    stopped,
                ));
                tracing::info!(package_id = %app.package_id, path = %path.display(), uid = ?app.uid, "app socket open");
                sockets.insert(
                    app.package_id.clone(),
                    AppSocket {
                        app: app.clone(),
                        stop,
                        task,
                        path,
                    },
                );
            }
            Err(e) => {
                tracing::error!(package_id = %app.package_id, error = %e, "the app's socket could not be created");
            }
        }
    }
    Ok(())
}
