//! `ssi up`: the quickstart. One process runs the server on an embedded
//! SQLite, the sample partner's backend, two demo devices (an agent each,
//! registered to the demo account, with the sample app installed) and the
//! TV page that shows either device: the app's UI and the device's system
//! screen. Everything lives in one data directory, so a second start picks
//! up where the first stopped (accounts, links, device credentials).
//!
//! Layout of the data directory:
//! `server/` (database, master key), `partner/` (the sample backend's
//! database and link-token key), `device-1/` and `device-2/` (each agent's
//! credential, database and app sockets).

mod devices;
mod seed;
mod tv;

use std::fs::File;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use clap::Args;
use ssi_sample_partner::backend::{AppKeySource, Backend, BackendConfig, DemoUser};
use ssi_server::random::SystemRandomSource;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::info;

pub use self::seed::DEMO;
use crate::clock::SystemClock;
use crate::config_file;
use crate::logging::{self, LogSettings};
use crate::server_cmd::{LOCK_FILE, Signals, create_data_dir};

/// The log filter unless `--log-filter` or `SSI_LOG` says otherwise: quiet,
/// except for the sample backend's account of what it does.
const UP_LOG_FILTER: &str = "warn,sample_partner=info";

/// The sample partner's users: (username, display name, password).
pub const PARTNER_USERS: [(&str, &str, &str); 2] = [
    ("alice@sample.test", "Alice", "alice-password"),
    ("bob@sample.test", "Bob", "bob-password"),
];

/// How long everything may take to stop after Ctrl-C.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(15);

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Where everything is kept; a second start on it resumes (accounts,
    /// links, devices)
    #[arg(long, value_name = "DIR", default_value = "ssi-up-data")]
    data_dir: PathBuf,
    /// The server's address (account pages, console, APIs); port 0 picks a
    /// free port
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:8080", value_parser = config_file::listen_flag)]
    listen: SocketAddr,
    /// The TV page's address (the two demo devices); port 0 picks a free port
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:8090", value_parser = config_file::listen_flag)]
    tv_listen: SocketAddr,
    /// Log filter, as RUST_LOG [env: SSI_LOG; default: warn,sample_partner=info]
    #[arg(long, value_name = "FILTER")]
    log_filter: Option<String>,
}

pub fn run(args: UpArgs) -> Result<ExitCode> {
    let env = |name: &str| std::env::var(name).ok();
    let filter = args
        .log_filter
        .clone()
        .or_else(|| env("SSI_LOG").filter(|v| !v.is_empty()))
        .unwrap_or_else(|| UP_LOG_FILTER.to_owned());
    let log = LogSettings::resolve(None, Some(&filter), &env)?;
    logging::init(&log)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(up(args));
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

/// A task serving HTTP until told to stop.
struct Served {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Served {
    async fn stop(self, what: &str) {
        let _ = self.stop.send(());
        match tokio::time::timeout(SHUTDOWN_GRACE, self.task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "{what} stopped with an error"),
            Ok(Err(e)) => tracing::warn!(error = %e, "{what} failed"),
            Err(_) => tracing::warn!("{what} did not stop in time"),
        }
    }
}

async fn bind(addr: SocketAddr, what: &str) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("{what}: listening on {addr}"))
}

/// Serves a router (without client addresses) until stopped.
fn serve_router(listener: TcpListener, router: axum::Router) -> Result<Served> {
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
    });
    Ok(Served { addr, stop, task })
}

/// The server on SQLite in `dir`, listening on `listen`.
async fn start_server(dir: &Path, listen: SocketAddr) -> Result<Served> {
    let listener = bind(listen, "server").await?;
    let addr = listener.local_addr()?;
    let config = ssi_server::ServerConfig {
        listen: addr,
        data_dir: dir.to_owned(),
        issuer: format!("http://{addr}"),
        // The demo devices register by polling: answer them quickly.
        device_poll_interval_secs: 1,
        ..ssi_server::ServerConfig::default()
    };
    let state =
        ssi_server::build_state(config, Arc::new(SystemClock), Arc::new(SystemRandomSource))
            .await
            .context("starting the server")?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(ssi_server::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    Ok(Served { addr, stop, task })
}

/// Holds `path` locked exclusively for the life of the process.
fn lock_exclusive(path: &Path, what: &str) -> Result<File> {
    let file = File::create(path).with_context(|| format!("lock file {}", path.display()))?;
    file.try_lock().map_err(|_| {
        anyhow!(
            "{what} is in use by another process (another `ssi up`, or `ssi admin`?): {}",
            path.display()
        )
    })?;
    Ok(file)
}

/// Holds `path` locked shared (as `ssi server` does), so that `ssi admin
/// rotate-master-key` waits for this process.
fn lock_shared(path: &Path) -> Result<File> {
    let file = File::create(path).with_context(|| format!("lock file {}", path.display()))?;
    file.lock_shared()
        .with_context(|| format!("locking {}", path.display()))?;
    Ok(file)
}

impl ssi_sample_partner::Clock for SystemClock {
    fn now_secs(&self) -> i64 {
        crate::clock::Clock::now(self)
    }
}

/// The sample partner's backend, sealing to the app's keys from the server's JWKS.
async fn start_partner(dir: &Path, issuer: &str, jwks_url: &str) -> Result<(Backend, Served)> {
    let users = PARTNER_USERS
        .iter()
        .map(|(username, display_name, password)| DemoUser {
            username: (*username).to_owned(),
            display_name: (*display_name).to_owned(),
            password: (*password).to_owned(),
        })
        .collect();
    let config = BackendConfig {
        dir: dir.to_owned(),
        identity_provider_name: DEMO.identity_provider_name.to_owned(),
        issuer: issuer.to_owned(),
        app_key: AppKeySource::Jwks(jwks_url.to_owned()),
        users,
    };
    let backend = Backend::open(
        config,
        Arc::new(SystemClock),
        Box::new(ssi_token::SystemRandom),
    )
    .await
    .context("starting the sample partner's backend")?;
    let listener = bind("127.0.0.1:0".parse()?, "sample partner").await?;
    let served = serve_router(listener, backend.router())?;
    Ok((backend, served))
}

async fn up(args: UpArgs) -> Result<ExitCode> {
    // Installed first: Ctrl-C during start-up stops once everything is up.
    let mut signals = Signals::new()?;
    let data_dir = args.data_dir;
    create_data_dir(&data_dir)?;
    let _up_lock = lock_exclusive(
        &data_dir.join("ssi-up.lock"),
        &data_dir.display().to_string(),
    )?;
    let server_dir = data_dir.join("server");
    create_data_dir(&server_dir)?;
    let _server_lock = lock_shared(&server_dir.join(LOCK_FILE))?;

    let server = start_server(&server_dir, args.listen).await?;
    let base = format!("http://{}", server.addr);
    info!(%base, "server up");
    let account = seed::AccountSession::open(&base)
        .await
        .context("setting up the demo account")?;
    let app = account
        .ensure_app()
        .await
        .context("setting up the sample app")?;
    let (backend, partner) = start_partner(&data_dir.join("partner"), &base, &app.jwks_url).await?;
    let partner_url = format!("http://{}", partner.addr);
    // Bound before the devices start: their screens let only this origin frame them.
    let tv_listener = bind(args.tv_listen, "TV page").await?;
    let tv_origin = format!("http://{}", tv_listener.local_addr()?);

    // The app sockets live in a short temporary directory: a socket path has
    // at most 107 bytes, and the sockets are remade on every start anyway.
    let run_dir = tempfile::Builder::new()
        .prefix("ssi-up-")
        .tempdir()
        .context("a directory for the app sockets")?;
    let mut devices = Vec::new();
    for number in 1..=devices::DEVICE_NAMES.len() {
        let data = data_dir.join(format!("device-{number}"));
        let dirs = devices::DeviceDirs {
            data: &data,
            run: run_dir.path().join(format!("device-{number}")),
        };
        let device = devices::start(number, dirs, &base, &account, &partner_url, &tv_origin)
            .await
            .with_context(|| format!("starting device {number}"))?;
        devices.push(device);
    }

    let links = tv::TvLinks {
        account: format!("{base}/account"),
        console: format!("{base}/console"),
        partner: format!("{partner_url}/"),
        email: DEMO.email.to_owned(),
        password: DEMO.password.to_owned(),
        users: PARTNER_USERS
            .iter()
            .map(|(username, _, password)| format!("{username} / {password}"))
            .collect(),
    };
    let tv_devices = devices
        .iter()
        .map(|device| {
            let view = tv::TvDevice {
                number: device.number,
                name: device.name,
                screen_addr: device.screen_addr,
                screens: device.screens.clone(),
            };
            (view, device.app.router())
        })
        .collect();
    let tv_router = tv::router(tv_devices, links.clone(), backend.clone())?;
    let tv = serve_router(tv_listener, tv_router)?;

    print_ready(
        &data_dir,
        &format!("http://{}/", tv.addr),
        &links,
        run_dir.path(),
    )?;

    let name = signals.next().await;
    info!(signal = name, "shutting down");
    for device in &devices {
        device.app.close();
    }
    tv.stop("the TV page").await;
    for device in devices {
        device.stop().await;
    }
    partner.stop("the sample partner").await;
    backend.close().await;
    server.stop("the server").await;
    drop(run_dir);
    println!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// What a newcomer needs, on stdout (tests read the `label: URL` lines).
fn print_ready(data_dir: &Path, tv: &str, links: &tv::TvLinks, run_dir: &Path) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Simple Sign-In is up (data in {}).",
        data_dir.display()
    )?;
    writeln!(out)?;
    writeln!(out, "  TV page: {tv}")?;
    writeln!(out, "  account pages: {}", links.account)?;
    writeln!(out, "  developer console: {}", links.console)?;
    writeln!(out, "  sample partner backend: {}", links.partner)?;
    writeln!(out)?;
    writeln!(
        out,
        "  demo account (account pages, console): {} / {}",
        links.email, links.password
    )?;
    writeln!(out, "  sample app users: {}", links.users.join(", "))?;
    writeln!(
        out,
        "  app sockets (SSI_AGENT_RUN_DIR of each device): {}",
        run_dir.join("device-N").display()
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "Open the TV page. Press Ctrl-C to stop; `ssi up` again resumes."
    )?;
    out.flush()?;
    Ok(())
}
