//! `ssi server`: runs the Simple Sign-In cloud service until SIGINT or
//! SIGTERM, then finishes the requests in flight and closes the database.

use std::fs::File;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use clap::Args;
use ssi_server::random::SystemRandomSource;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tracing::{info, warn};

use crate::clock::SystemClock;
use crate::config_file::{self, ConfigArgs, Flags, Loaded};
use crate::logging::{self, LogFormat, LogSettings};

/// How long in-flight requests may take to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// The lock file in the data directory: every server holds it shared, and
/// `ssi admin rotate-master-key` needs it exclusively.
pub const LOCK_FILE: &str = "ssi.lock";

#[derive(Debug, Args)]
pub struct ServerArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Address to listen on; port 0 picks a free port (printed at start)
    /// [env: SSI_LISTEN; default: 127.0.0.1:8080]
    #[arg(long, value_name = "IP:PORT", value_parser = config_file::listen_flag)]
    listen: Option<SocketAddr>,
    /// Public base URL: the `iss` of SSI tokens and the base of the links
    /// shown to device owners [env: SSI_ISSUER; default: http:// + the
    /// listening address]
    #[arg(long, value_name = "URL", value_parser = config_file::issuer_flag)]
    issuer: Option<String>,
    /// Log format [env: SSI_LOG_FORMAT; default: text]
    #[arg(long, value_enum, value_name = "FORMAT")]
    log_format: Option<LogFormat>,
    /// Log filter, as RUST_LOG (e.g. info,ssi_server=debug) [env: SSI_LOG;
    /// default: info]
    #[arg(long, value_name = "FILTER")]
    log_filter: Option<String>,
    /// Check the configuration, print it (secrets redacted) and exit
    #[arg(long)]
    check_config: bool,
}

pub fn run(args: ServerArgs) -> Result<ExitCode> {
    let env = |name: &str| std::env::var(name).ok();
    let log = LogSettings::resolve(args.log_format, args.log_filter.as_deref(), &env)?;
    let flags = Flags {
        config: args.config,
        listen: args.listen,
        issuer: args.issuer,
    };
    let loaded = config_file::load(&flags, &env)?;
    if args.check_config {
        print_config(&loaded, &log);
        return Ok(ExitCode::SUCCESS);
    }
    logging::init(&log)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(serve(loaded));
    // Blocking tasks (password hashing) must not hold the exit.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

fn print_config(loaded: &Loaded, log: &LogSettings) {
    println!("configuration is valid");
    match &loaded.file {
        Some(file) => println!("config file: {}", file.display()),
        None => println!("config file: none"),
    }
    println!("{:#?}", loaded.config);
    if !loaded.is_issuer_given {
        println!("issuer: not set; http:// + the listening address will be used");
    }
    println!("log: {:?}, filter {}", log.format, log.filter);
}

async fn serve(loaded: Loaded) -> Result<ExitCode> {
    // Installed first: a signal during start-up stops the server once it is up.
    let mut signals = Signals::new()?;
    let mut config = loaded.config;
    create_data_dir(&config.data_dir)?;
    let _lock = lock_shared(&config.data_dir)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let addr = listener.local_addr().context("the listening address")?;
    config.listen = addr;
    if !loaded.is_issuer_given {
        config.issuer = format!("http://{}", reachable(addr));
    }
    warn_on_cookie_mismatch(&config);
    info!(
        config = ?config,
        file = %loaded.file.as_deref().map_or("none".into(), Path::to_string_lossy),
        version = env!("CARGO_PKG_VERSION"),
        "starting"
    );
    let state =
        ssi_server::build_state(config, Arc::new(SystemClock), Arc::new(SystemRandomSource))
            .await
            .context("starting the server")?;

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut server = tokio::spawn(ssi_server::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    info!(%addr, "listening");
    // Scripts and tests read this line (the port, when 0 was asked for).
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on http://{addr}")
        .and_then(|()| stdout.flush())
        .context("writing to stdout")?;
    drop(stdout);

    tokio::select! {
        result = &mut server => return finished(result),
        name = signals.next() => {
            info!(signal = name, "shutting down: finishing the requests in flight");
        }
    }
    let _ = stop.send(());
    tokio::select! {
        result = &mut server => {
            let code = finished(result)?;
            info!("stopped");
            Ok(code)
        }
        name = signals.next() => {
            warn!(signal = name, "second signal: stopping without waiting for requests");
            Ok(ExitCode::FAILURE)
        }
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {
            warn!(grace_secs = SHUTDOWN_GRACE.as_secs(), "requests still running after the grace period: stopping");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn finished(result: Result<std::io::Result<()>, tokio::task::JoinError>) -> Result<ExitCode> {
    match result {
        Ok(Ok(())) => Ok(ExitCode::SUCCESS),
        Ok(Err(e)) => Err(anyhow!("serving: {e}")),
        Err(e) => Err(anyhow!("the server task failed: {e}")),
    }
}

/// The address clients use: loopback when listening on every interface.
fn reachable(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        let ip = match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        };
        SocketAddr::new(ip, addr.port())
    } else {
        addr
    }
}

fn warn_on_cookie_mismatch(config: &ssi_server::ServerConfig) {
    let https = config.issuer.starts_with("https://");
    if https && !config.secure_cookies {
        warn!("the issuer is https but secure_cookies is off: set SSI_SECURE_COOKIES=true");
    } else if !https && config.secure_cookies {
        warn!(
            "secure_cookies is on but the issuer is http: browsers drop Secure cookies over http"
        );
    }
}

/// Creates the data directory, readable by this user only (it holds the
/// database and the master key), unless it exists.
pub fn create_data_dir(path: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if path.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .with_context(|| format!("data directory {}", path.display()))
}

/// Holds the data directory's lock file shared for the life of the process.
fn lock_shared(data_dir: &Path) -> Result<File> {
    let path = data_dir.join(LOCK_FILE);
    let file = File::create(&path).with_context(|| format!("lock file {}", path.display()))?;
    file.lock_shared()
        .with_context(|| format!("locking {}", path.display()))?;
    Ok(file)
}

/// SIGINT and SIGTERM.
pub(crate) struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    pub(crate) fn new() -> Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
            terminate: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
        })
    }

    pub(crate) async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}
