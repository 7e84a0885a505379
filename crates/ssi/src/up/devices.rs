//! The demo devices of `ssi up`: one agent each (as `ssi agent run` runs it),
//! registered to the demo account by the RFC 8628 device grant on first
//! start, with the sample app installed from its manifest; and the sample
//! app itself, talking to its agent over its app socket.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use ssi_agent::clock::SystemRandomSource;
use ssi_agent::credential::{CredentialError, DeviceCredential};
use ssi_agent::manifest::parse_manifest;
use ssi_agent::register::Registration;
use ssi_agent::run::RunError;
use ssi_agent::screens::Screens;
use ssi_agent::server::{ServerClient, ServerDeviceSwitch};
use ssi_agent::store::{AgentStore, InstalledApp};
use ssi_agent::{Agent, AgentConfig};
use ssi_proto::device::DeviceInfo;
use ssi_sample_partner::app::{AppConfig, SampleApp};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::SHUTDOWN_GRACE;
use super::seed::{AccountSession, DEMO};
use crate::clock::SystemClock;
use crate::server_cmd::create_data_dir;

/// The demo devices' names, in order: device 1, device 2.
pub const DEVICE_NAMES: [&str; 2] = ["Living room TV", "Bedroom TV"];

/// A demo device: its agent, its screens and the sample app on it.
pub struct Device {
    pub number: usize,
    pub name: &'static str,
    /// The agent's screen page (loopback).
    pub screen_addr: SocketAddr,
    pub screens: Screens,
    pub app: SampleApp,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), RunError>>,
}

impl Device {
    /// Stops the agent: open prompts end, the sockets go away, the database closes.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        match tokio::time::timeout(SHUTDOWN_GRACE, self.task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => {
                warn!(device = self.name, error = %e, "the agent stopped with an error")
            }
            Ok(Err(e)) => warn!(device = self.name, error = %e, "the agent failed"),
            Err(_) => warn!(device = self.name, "the agent did not stop in time"),
        }
    }
}

/// Where the demo devices' state and sockets go.
pub struct DeviceDirs<'a> {
    /// `<data dir>/device-N`: credential and agent database (kept).
    pub data: &'a Path,
    /// The app sockets (short-lived, and short: a socket path has at most 107 bytes).
    pub run: PathBuf,
}

/// Starts demo device `number` (1-based).
pub async fn start(
    number: usize,
    dirs: DeviceDirs<'_>,
    server: &str,
    account: &AccountSession,
    backend_url: &str,
    tv_origin: &str,
) -> Result<Device> {
    let name = DEVICE_NAMES[number - 1];
    create_data_dir(dirs.data)?;
    let credential = ensure_registered(dirs.data, name, server, account).await?;
    let config = AgentConfig {
        data_dir: dirs.data.to_owned(),
        run_dir: dirs.run,
        screen_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..AgentConfig::default()
    };
    let store = AgentStore::open(&config.data_dir).await?;
    let privileges = parse_manifest(ssi_sample_partner::MANIFEST, DEMO.package_id)
        .map_err(|e| anyhow!("the sample app's manifest: {e}"))?;
    store
        .install_app(&InstalledApp {
            package_id: DEMO.package_id.to_owned(),
            privileges,
            uid: None,
            installed_at: ssi_server::clock::Clock::now_ms(&SystemClock),
        })
        .await?;
    let server_client =
        ServerClient::new(&credential, config.server_timeout()).map_err(|e| anyhow!(e))?;
    // The TV page shows the screens in a frame, as a device's UI shell would.
    let screens = Screens::with_shell_origin(config.screen_timeout(), tv_origin)
        .map_err(|e| anyhow!(e))?
        .with_device_switch(Arc::new(ServerDeviceSwitch::new(server_client.clone())));
    let listener = TcpListener::bind(config.screen_listen)
        .await
        .with_context(|| format!("{name}: the screen page"))?;
    let screen_addr = listener.local_addr()?;
    let socket = config
        .run_dir
        .join("apps")
        .join(format!("{}.sock", DEMO.package_id));
    let agent = Arc::new(Agent::new(
        config,
        server_client,
        screens.clone(),
        store,
        Arc::new(SystemClock),
        Arc::new(SystemRandomSource),
    ));
    let (stop, stopped) = oneshot::channel::<()>();
    let (ready, is_ready) = oneshot::channel::<()>();
    let task = tokio::spawn(ssi_agent::run::run(
        agent,
        listener,
        async move {
            let _ = stopped.await;
        },
        move || {
            let _ = ready.send(());
        },
    ));
    is_ready
        .await
        .map_err(|_| anyhow!("{name}: the agent stopped while starting"))?;
    let app = SampleApp::new(
        AppConfig {
            device_name: name.to_owned(),
            app_name: DEMO.app_name.to_owned(),
            socket,
            backend_url: backend_url.to_owned(),
            identity_provider_name: DEMO.identity_provider_name.to_owned(),
        },
        Arc::new(SystemClock),
    );
    info!(device = name, %screen_addr, "device up");
    Ok(Device {
        number,
        name,
        screen_addr,
        screens,
        app,
        stop,
        task,
    })
}

/// The device's credential: the stored one (pointed at this start's server
/// address) if the server still accepts it, else a new registration that
/// the demo account approves.
async fn ensure_registered(
    data_dir: &Path,
    name: &str,
    server: &str,
    account: &AccountSession,
) -> Result<DeviceCredential> {
    match DeviceCredential::load(data_dir) {
        Ok(mut credential) => {
            credential.server = server.to_owned();
            let client =
                ServerClient::new(&credential, Duration::from_secs(10)).map_err(|e| anyhow!(e))?;
            match client.get::<DeviceInfo>("/v1/device/whoami").await {
                Ok(_) => {
                    credential.save(data_dir)?;
                    return Ok(credential);
                }
                Err(e) if e.is_retryable() => bail!("{name}: checking the credential: {e}"),
                // Deregistered on the account pages: register again.
                Err(e) => warn!(device = name, error = %e, "registering again"),
            }
        }
        Err(CredentialError::Missing(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let registration = Registration::new(server, Duration::from_secs(10))?;
    let authorization = registration.start(name).await?;
    account
        .approve_device(&authorization.user_code)
        .await
        .with_context(|| format!("{name}: approving the device"))?;
    let credential = registration.poll(&authorization, |_| {}).await?;
    credential.save(data_dir)?;
    info!(device = name, "registered");
    Ok(credential)
}
