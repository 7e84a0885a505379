//! `ssi agent`: the on-device agent (docs/agent.md). `register` runs the RFC
//! 8628 device grant against a server; `install`, `uninstall` and `list` edit
//! the app registry; `run` serves the app sockets, the screens and the metrics
//! outbox until SIGINT or SIGTERM. The logic lives in `ssi_agent`; this file
//! reads the configuration (file < environment < flags) and prints.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use ssi_agent::AgentConfig;
use ssi_agent::clock::SystemRandomSource;
use ssi_agent::credential::DeviceCredential;
use ssi_agent::manifest::parse_manifest;
use ssi_agent::register::{PollEvent, Registration};
use ssi_agent::screens::Screens;
use ssi_agent::server::{ServerClient, ServerDeviceSwitch};
use ssi_agent::store::{AgentStore, InstalledApp};
use tracing::info;

use crate::clock::SystemClock;
use crate::logging::{self, LogFormat, LogSettings};
use crate::server_cmd::{Signals, create_data_dir};

/// The pairing link of the screen client, in the data directory (0600).
pub const PAIRING_FILE: &str = "screen-pairing-link";

#[derive(Debug, Args)]
pub struct AgentArgs {
    #[command(flatten)]
    config: AgentConfigArgs,
    #[command(subcommand)]
    command: AgentCommand,
}

/// Where the configuration comes from (every subcommand).
#[derive(Debug, Clone, Default, Args)]
struct AgentConfigArgs {
    /// TOML configuration file [env: SSI_AGENT_CONFIG]
    #[arg(long, value_name = "FILE", global = true)]
    config: Option<PathBuf>,
    /// Data directory: the device credential and the agent database
    /// [env: SSI_AGENT_DATA_DIR; default: ssi-agent-data]
    #[arg(long, value_name = "DIR", global = true)]
    data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum AgentCommand {
    /// Register this device with a server (RFC 8628: shows a code for the owner
    /// to enter on the account pages, then waits for the approval)
    Register {
        /// The server's base URL
        #[arg(long, value_name = "URL")]
        server: String,
        /// The name the owner sees when approving
        #[arg(long, value_name = "NAME", default_value = "SSI device")]
        device_name: String,
    },
    /// Install an app (or update its manifest and uid)
    Install {
        #[arg(long, value_name = "PACKAGE_ID")]
        package_id: String,
        /// The app's manifest.toml (its [[wants.*]] entries are the privileges)
        #[arg(long, value_name = "FILE")]
        manifest: PathBuf,
        /// The app's uid: owner of its socket, the only peer uid accepted on it
        #[arg(long, value_name = "UID")]
        uid: Option<u32>,
    },
    /// Remove an app: its socket goes away
    Uninstall {
        #[arg(long, value_name = "PACKAGE_ID")]
        package_id: String,
    },
    /// List the installed apps
    List,
    /// Serve the app sockets, the screens and the metrics outbox
    Run(RunArgs),
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Where the sockets go: <run dir>/apps/<package id>.sock
    /// [env: SSI_AGENT_RUN_DIR; default: /run/ssi-agent]
    #[arg(long, value_name = "DIR")]
    run_dir: Option<PathBuf>,
    /// Loopback address of the screens page; port 0 picks a free port
    /// [env: SSI_AGENT_SCREEN_LISTEN; default: 127.0.0.1:8750]
    #[arg(long, value_name = "IP:PORT")]
    screen_listen: Option<SocketAddr>,
    /// Consent and login-selection screens time out after this long
    /// [env: SSI_AGENT_SCREEN_TIMEOUT_SECS; default: 900]
    #[arg(long, value_name = "SECS")]
    screen_timeout_secs: Option<u64>,
    /// "Not now" holds for this long per (app, partnerUserId)
    /// [env: SSI_AGENT_CONSENT_COOLDOWN_SECS; default: 604800]
    #[arg(long, value_name = "SECS")]
    consent_cooldown_secs: Option<u64>,
    /// Bound on one server call (then RETRYABLE_FAILURE)
    /// [env: SSI_AGENT_SERVER_TIMEOUT_MS; default: 10000]
    #[arg(long, value_name = "MS")]
    server_timeout_ms: Option<u64>,
    /// Log format [env: SSI_LOG_FORMAT; default: text]
    #[arg(long, value_enum, value_name = "FORMAT")]
    log_format: Option<LogFormat>,
    /// Log filter, as RUST_LOG [env: SSI_LOG; default: info]
    #[arg(long, value_name = "FILTER")]
    log_filter: Option<String>,
    /// Check the configuration, print it and exit
    #[arg(long)]
    check_config: bool,
}

/// Every setting of [`AgentConfig`] and its variable, in the file's names.
const SETTINGS: [&str; 10] = [
    "data_dir",
    "run_dir",
    "screen_listen",
    "screen_timeout_secs",
    "consent_cooldown_secs",
    "server_timeout_ms",
    "outbox_batch_size",
    "outbox_retry_min_ms",
    "outbox_retry_max_ms",
    "registry_rescan_ms",
];

fn env_name(setting: &str) -> String {
    format!("SSI_AGENT_{}", setting.to_ascii_uppercase())
}

/// A setting's text from the environment as the TOML value it stands for.
fn env_value(setting: &str, text: &str) -> toml::Value {
    let is_number =
        setting.ends_with("_secs") || setting.ends_with("_ms") || setting.ends_with("_size");
    match text.trim().parse::<i64>() {
        Ok(n) if is_number => toml::Value::Integer(n),
        _ => toml::Value::String(text.to_owned()),
    }
}

/// Reads one layer: the keys must be settings, and each value of its type.
fn layer_error(source: &str, table: &toml::Table) -> Result<()> {
    toml::Value::Table(table.clone())
        .try_into::<AgentConfig>()
        .map(|_| ())
        .map_err(|e| anyhow!("{source}: {}", e.message().trim()))
}

/// The configuration: defaults < file < environment < flags. `env` looks up a
/// variable (empty means unset); errors name the file, variable or flag.
fn load_config(
    args: &AgentConfigArgs,
    flags: &[(&str, toml::Value)],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(AgentConfig, Option<PathBuf>)> {
    let env = |name: &str| env(name).filter(|value| !value.is_empty());
    let file = args
        .config
        .clone()
        .or_else(|| env("SSI_AGENT_CONFIG").map(PathBuf::from));
    let mut table = toml::Table::new();
    if let Some(path) = &file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow!("config file {}: {e}", path.display()))?;
        table = toml::from_str(&text)
            .map_err(|e| anyhow!("config file {}: {}", path.display(), e.message().trim()))?;
        layer_error(&format!("config file {}", path.display()), &table)?;
    }
    for setting in SETTINGS {
        let name = env_name(setting);
        if let Some(text) = env(&name) {
            let value = env_value(setting, &text);
            layer_error(
                &name,
                &toml::Table::from_iter([(setting.to_owned(), value.clone())]),
            )?;
            table.insert(setting.to_owned(), value);
        }
    }
    if let Some(dir) = &args.data_dir {
        table.insert("data_dir".into(), toml::Value::String(path_text(dir)?));
    }
    for (setting, value) in flags {
        table.insert((*setting).to_owned(), value.clone());
    }
    let config: AgentConfig = toml::Value::Table(table)
        .try_into()
        .map_err(|e| anyhow!("configuration: {}", e.message().trim()))?;
    config
        .validate()
        .map_err(|e| anyhow!("configuration: {e}"))?;
    Ok((config, file))
}

fn path_text(path: &Path) -> Result<String> {
    path.to_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("{} is not UTF-8", path.display()))
}

pub fn run(args: AgentArgs) -> Result<ExitCode> {
    let env = |name: &str| std::env::var(name).ok();
    match args.command {
        AgentCommand::Run(run_args) => {
            let mut flags: Vec<(&str, toml::Value)> = Vec::new();
            if let Some(dir) = &run_args.run_dir {
                flags.push(("run_dir", toml::Value::String(path_text(dir)?)));
            }
            if let Some(addr) = run_args.screen_listen {
                flags.push(("screen_listen", toml::Value::String(addr.to_string())));
            }
            for (name, value) in [
                ("screen_timeout_secs", run_args.screen_timeout_secs),
                ("consent_cooldown_secs", run_args.consent_cooldown_secs),
                ("server_timeout_ms", run_args.server_timeout_ms),
            ] {
                if let Some(value) = value {
                    let value = i64::try_from(value).map_err(|_| anyhow!("--{name}: too large"))?;
                    flags.push((name, toml::Value::Integer(value)));
                }
            }
            let (config, file) = load_config(&args.config, &flags, &env)?;
            let log =
                LogSettings::resolve(run_args.log_format, run_args.log_filter.as_deref(), &env)?;
            if run_args.check_config {
                println!("configuration is valid");
                match &file {
                    Some(file) => println!("config file: {}", file.display()),
                    None => println!("config file: none"),
                }
                println!("{config:#?}");
                return Ok(ExitCode::SUCCESS);
            }
            logging::init(&log)?;
            block_on(serve(config))
        }
        command => {
            let (config, _) = load_config(&args.config, &[], &env)?;
            create_data_dir(&config.data_dir)?;
            block_on(registry_or_register(command, config))
        }
    }
}

fn block_on(future: impl Future<Output = Result<ExitCode>>) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(future);
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

async fn registry_or_register(command: AgentCommand, config: AgentConfig) -> Result<ExitCode> {
    let data_dir = &config.data_dir;
    match command {
        AgentCommand::Register {
            server,
            device_name,
        } => register(data_dir, &server, &device_name).await,
        AgentCommand::Install {
            package_id,
            manifest,
            uid,
        } => {
            ssi_proto::developer::validate_package_id(&package_id)
                .map_err(|e| anyhow!("--package-id: {e}"))?;
            let text = std::fs::read_to_string(&manifest)
                .map_err(|e| anyhow!("--manifest {}: {e}", manifest.display()))?;
            let privileges = parse_manifest(&text, &package_id)
                .map_err(|e| anyhow!("--manifest {}: {e}", manifest.display()))?;
            let store = AgentStore::open(data_dir).await?;
            let app = InstalledApp {
                package_id: package_id.clone(),
                privileges,
                uid,
                installed_at: ssi_server::clock::Clock::now_ms(&SystemClock),
            };
            store.install_app(&app).await?;
            store.close().await;
            let granted: Vec<String> = app
                .privileges
                .granted()
                .iter()
                .map(ToString::to_string)
                .collect();
            println!("installed {package_id}");
            match granted.is_empty() {
                true => println!("privileges: none (every call will answer FAILURE)"),
                false => println!("privileges: {}", granted.join(", ")),
            }
            Ok(ExitCode::SUCCESS)
        }
        AgentCommand::Uninstall { package_id } => {
            let store = AgentStore::open(data_dir).await?;
            let removed = store.uninstall_app(&package_id).await?;
            store.close().await;
            if !removed {
                bail!("{package_id} is not installed");
            }
            println!("uninstalled {package_id}");
            Ok(ExitCode::SUCCESS)
        }
        AgentCommand::List => {
            let store = AgentStore::open(data_dir).await?;
            let apps = store.list_apps().await?;
            store.close().await;
            for app in apps {
                let uid = app.uid.map_or("-".to_owned(), |uid| uid.to_string());
                let granted: Vec<&str> = app.privileges.granted().iter().map(|p| p.id()).collect();
                println!("{}\tuid {uid}\t{}", app.package_id, granted.join(" "));
            }
            Ok(ExitCode::SUCCESS)
        }
        AgentCommand::Run(_) => unreachable!("handled by run"),
    }
}

async fn register(data_dir: &Path, server: &str, device_name: &str) -> Result<ExitCode> {
    let server = crate::config_file::issuer_flag(server).map_err(|e| anyhow!("--server: {e}"))?;
    let registration = Registration::new(&server, Duration::from_secs(30))?;
    let authorization = registration.start(device_name).await?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "To register this device, open {} and enter the code {}",
        authorization.verification_uri, authorization.user_code
    )?;
    if let Some(complete) = &authorization.verification_uri_complete {
        writeln!(out, "(or open {complete})")?;
    }
    writeln!(
        out,
        "The code expires in {} minutes. Waiting for approval…",
        authorization.expires_in.div_ceil(60)
    )?;
    out.flush()?;
    drop(out);
    let credential = registration
        .poll(&authorization, |event| match event {
            PollEvent::Pending => {}
            PollEvent::SlowDown(interval) => {
                eprintln!(
                    "ssi: the server asked to poll every {} s",
                    interval.as_secs()
                );
            }
            PollEvent::Unreachable(why) => {
                eprintln!("ssi: the server did not answer ({why}); still waiting")
            }
        })
        .await?;
    let path = credential.save(data_dir)?;
    println!(
        "registered as device {} with {}; credential stored in {}",
        credential.device_id.as_deref().unwrap_or("?"),
        credential.server,
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

async fn serve(config: AgentConfig) -> Result<ExitCode> {
    let mut signals = Signals::new()?;
    create_data_dir(&config.data_dir)?;
    let credential = DeviceCredential::load(&config.data_dir)?;
    let server = ServerClient::new(&credential, config.server_timeout()).map_err(|e| anyhow!(e))?;
    let store = AgentStore::open(&config.data_dir).await?;
    let screen_listener = tokio::net::TcpListener::bind(config.screen_listen)
        .await
        .with_context(|| format!("screens: listening on {}", config.screen_listen))?;
    let screen_addr = screen_listener.local_addr()?;
    let screens = Screens::new(config.screen_timeout())
        .with_device_switch(Arc::new(ServerDeviceSwitch::new(server.clone())));
    let pairing = config.data_dir.join(PAIRING_FILE);
    screens
        .write_pairing_file(&pairing, screen_addr)
        .with_context(|| format!("writing {}", pairing.display()))?;
    info!(config = ?config, server = %credential.server, version = env!("CARGO_PKG_VERSION"), "starting");
    let agent = Arc::new(ssi_agent::Agent::new(
        config.clone(),
        server,
        screens,
        store,
        Arc::new(SystemClock),
        Arc::new(SystemRandomSource),
    ));
    let run_dir = config.run_dir.clone();
    let ready = move || {
        // Scripts and tests read these lines.
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(
            stdout,
            "screens on http://{screen_addr} (pairing link in {})",
            pairing.display()
        );
        let _ = writeln!(stdout, "app sockets in {}", run_dir.join("apps").display());
        let _ = stdout.flush();
    };
    let shutdown = async move {
        let name = signals.next().await;
        info!(signal = name, "shutting down");
    };
    ssi_agent::run::run(agent, screen_listener, shutdown, ready).await?;
    info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// The agent reads the same wall clock as everything else.
impl ssi_agent::clock::Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        ssi_server::clock::Clock::now_ms(self)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn load_with(
        args: &AgentConfigArgs,
        flags: &[(&str, toml::Value)],
        vars: &[(&str, &str)],
    ) -> Result<AgentConfig> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        load_config(args, flags, &|name| vars.get(name).cloned()).map(|(c, _)| c)
    }

    #[test]
    fn flags_over_env_over_file_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("agent.toml");
        std::fs::write(
            &file,
            "screen_timeout_secs = 60\nconsent_cooldown_secs = 5\n",
        )
        .unwrap();
        let args = AgentConfigArgs {
            config: Some(file),
            data_dir: None,
        };
        let config = load_with(&args, &[], &[("SSI_AGENT_CONSENT_COOLDOWN_SECS", "7")]).unwrap();
        assert_eq!(config.screen_timeout_secs, 60);
        assert_eq!(config.consent_cooldown_secs, 7);
        assert_eq!(
            config.server_timeout_ms,
            AgentConfig::default().server_timeout_ms
        );
        let flags = [("consent_cooldown_secs", toml::Value::Integer(9))];
        let config = load_with(&args, &flags, &[("SSI_AGENT_CONSENT_COOLDOWN_SECS", "7")]).unwrap();
        assert_eq!(config.consent_cooldown_secs, 9);
    }

    #[test]
    fn bad_values_name_their_source() {
        let args = AgentConfigArgs::default();
        let cases = [
            (
                vec![("SSI_AGENT_SCREEN_TIMEOUT_SECS", "soon")],
                "SSI_AGENT_SCREEN_TIMEOUT_SECS: ",
            ),
            (
                vec![("SSI_AGENT_SCREEN_LISTEN", "localhost")],
                "SSI_AGENT_SCREEN_LISTEN: ",
            ),
            (
                vec![("SSI_AGENT_OUTBOX_BATCH_SIZE", "501")],
                "outbox_batch_size: must be 1-500",
            ),
        ];
        for (vars, expected) in cases {
            let error = load_with(&args, &[], &vars).unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("agent.toml");
        std::fs::write(&file, "screen_timout_secs = 60\n").unwrap();
        let args = AgentConfigArgs {
            config: Some(file),
            data_dir: None,
        };
        let error = load_with(&args, &[], &[]).unwrap_err().to_string();
        assert!(
            error.contains("config file") && error.contains("screen_timout_secs"),
            "{error}"
        );
    }
}
