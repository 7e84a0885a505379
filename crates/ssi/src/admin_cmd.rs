//! `ssi admin`: the operator's commands, run directly on the database that
//! the same configuration (file, environment, flags) as `ssi server` selects.
//! They work while servers run; only `rotate-master-key` with the key file
//! needs the servers on that data directory stopped. The logic lives in
//! `ssi_server::admin` and `ssi_server::reports`; this file parses and
//! prints (the reports' commands in `admin_cmd/report.rs`).

mod report;

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use ssi_server::admin::{
    Admin, DEFAULT_BATCH_SIZE, KeySource, Progress, RotationOptions, RotationOutcome,
};
use ssi_server::domain::accounts::format_utc;
use ssi_server::random::SystemRandomSource;
use zeroize::Zeroizing;

use crate::clock::SystemClock;
use crate::config_file::{self, ConfigArgs, Flags};
use crate::logging::{self, LogFormat, LogSettings};
use crate::server_cmd::LOCK_FILE;

#[derive(Debug, Args)]
pub struct AdminArgs {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create a platform account (the password from stdin, or generated
    /// and printed once)
    CreateAccount {
        #[arg(long, value_name = "EMAIL")]
        email: String,
        /// Read the password from the first line of stdin
        #[arg(long)]
        password_stdin: bool,
        /// Make the account a developer
        #[arg(long)]
        developer: bool,
    },
    /// Block an app: its calls answer NOT_AVAILABLE
    BlockApp {
        #[arg(long, value_name = "PACKAGE_ID")]
        package_id: String,
    },
    /// Unblock an app
    UnblockApp {
        #[arg(long, value_name = "PACKAGE_ID")]
        package_id: String,
    },
    /// Make SSI available or not in a region (devices there get NOT_AVAILABLE)
    SetRegion {
        #[arg(long)]
        region: String,
        #[arg(long, action = clap::ArgAction::Set, value_name = "true|false")]
        available: bool,
    },
    /// Move an account to a region
    SetAccountRegion {
        #[arg(long, value_name = "EMAIL")]
        email: String,
        #[arg(long)]
        region: String,
    },
    /// Print the audit log, most recent first
    ListAudit {
        /// Only this account's entries
        #[arg(long, value_name = "EMAIL")]
        email: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// One JSON object per line
        #[arg(long)]
        json: bool,
    },
    /// Monthly report of a developer's apps as CSV (DESIGN.md section 8),
    /// optionally with one SVG chart per app and month
    Report(report::ReportArgs),
    /// Rebuild the daily metric aggregates of the UTC days FROM..=TO from
    /// the raw events (safe while servers run)
    RecomputeAggregates(report::RecomputeArgs),
    /// Rotate the master key: add a version, re-seal every stored secret
    /// under it, drop the old one (see docs/operator.md)
    RotateMasterKey {
        /// Values re-sealed per transaction
        #[arg(long, default_value_t = DEFAULT_BATCH_SIZE)]
        batch_size: usize,
        /// With SSI_MASTER_KEYS: drop the old versions (every server must run
        /// with the new value first)
        #[arg(long)]
        finish: bool,
    },
}

pub fn run(args: AdminArgs) -> Result<ExitCode> {
    let env = |name: &str| std::env::var(name).ok();
    let log = LogSettings::resolve(Some(LogFormat::Text), None, &|name| {
        // Operators' commands are quiet unless SSI_LOG asks otherwise.
        if name == "SSI_LOG" {
            Some(env(name).unwrap_or_else(|| "warn".to_owned()))
        } else {
            env(name)
        }
    })?;
    logging::init(&log)?;
    let flags = Flags {
        config: args.config,
        ..Flags::default()
    };
    let config = config_file::load(&flags, &env)?.config;
    let password = match &args.command {
        AdminCommand::CreateAccount {
            password_stdin: true,
            ..
        } => Some(read_password()?),
        _ => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    crate::server_cmd::create_data_dir(&config.data_dir)?;
    runtime.block_on(async {
        let admin =
            Admin::open(&config, Arc::new(SystemClock), Arc::new(SystemRandomSource)).await?;
        let result = execute(&admin, &config, args.command, password).await;
        admin.close().await;
        result
    })
}

async fn execute(
    admin: &Admin,
    config: &ssi_server::ServerConfig,
    command: AdminCommand,
    password: Option<Zeroizing<String>>,
) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match command {
        AdminCommand::CreateAccount {
            email, developer, ..
        } => {
            let created = admin
                .create_account(&email, password.as_deref().map(String::as_str), developer)
                .await?;
            writeln!(out, "account: {}", created.id)?;
            writeln!(out, "email: {}", created.email)?;
            writeln!(out, "developer: {developer}")?;
            if let Some(generated) = &created.generated_password {
                writeln!(out, "password: {} (shown once)", generated.as_str())?;
            }
        }
        AdminCommand::BlockApp { package_id } => {
            let app = admin.set_app_blocked(&package_id, true).await?;
            writeln!(out, "blocked app {package_id} ({app})")?;
        }
        AdminCommand::UnblockApp { package_id } => {
            let app = admin.set_app_blocked(&package_id, false).await?;
            writeln!(out, "unblocked app {package_id} ({app})")?;
        }
        AdminCommand::SetRegion { region, available } => {
            admin.set_region_available(&region, available).await?;
            let state = if available {
                "available"
            } else {
                "not available"
            };
            writeln!(out, "SSI is {state} in region {region}")?;
        }
        AdminCommand::SetAccountRegion { email, region } => {
            let account = admin.set_account_region(&email, &region).await?;
            writeln!(out, "account {account} is in region {region}")?;
        }
        AdminCommand::ListAudit { email, limit, json } => {
            for entry in admin.list_audit(email.as_deref(), limit).await? {
                if json {
                    let line = serde_json::json!({
                        "id": entry.id,
                        "at": entry.at,
                        "requestId": entry.request_id,
                        "actor": entry.actor,
                        "action": entry.action,
                        "accountId": entry.account_id,
                        "subject": entry.subject,
                        "detail": entry.detail,
                    });
                    writeln!(out, "{line}")?;
                } else {
                    writeln!(
                        out,
                        "{}  {}  {}  account={}  subject={}  {}",
                        format_utc(entry.at),
                        entry.actor,
                        entry.action,
                        entry.account_id.as_deref().unwrap_or("-"),
                        entry.subject.as_deref().unwrap_or("-"),
                        entry.detail.as_deref().unwrap_or(""),
                    )?;
                }
            }
        }
        AdminCommand::RotateMasterKey { batch_size, finish } => {
            let source = KeySource::for_config(config)?;
            // The servers on this data directory hold the old key list in
            // memory: with the key file they must be stopped meanwhile.
            let _lock = match &source {
                KeySource::File(_) => Some(lock_exclusive(&config.data_dir)?),
                KeySource::Configured(_) => None,
            };
            let options = RotationOptions { batch_size, finish };
            let mut progress = Bar::new("re-sealing {bar:40} {pos}/{len} ({eta} left)");
            let outcome = admin
                .rotate_master_key(source, options, &mut progress)
                .await?;
            report_rotation(&mut out, &outcome)?;
        }
        AdminCommand::Report(args) => report::report(admin, args, &mut out).await?,
        AdminCommand::RecomputeAggregates(args) => {
            report::recompute(admin, args, &mut out).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn report_rotation(out: &mut impl Write, outcome: &RotationOutcome) -> Result<()> {
    match outcome {
        RotationOutcome::NewKeyToConfigure { new_version, value } => {
            writeln!(
                out,
                "made master key version {new_version}; nothing was re-sealed yet.\n\
                 1. Set the master keys (SSI_MASTER_KEYS, or master_keys in the config file) \
                 on every server and for ssi admin to:\n\n{}\n\n\
                 2. Restart every server.\n\
                 3. Run `ssi admin rotate-master-key --finish` with the new value.",
                value.expose()
            )?;
        }
        RotationOutcome::Resealed {
            version,
            resealed,
            old_versions,
        } => {
            writeln!(
                out,
                "re-sealed {resealed} values under master key version {version}; \
                 versions {old_versions:?} are still configured.\n\
                 Once every server runs with the new value, run again with --finish to drop them."
            )?;
        }
        RotationOutcome::Finished {
            version,
            resealed,
            dropped,
            key_file,
            value,
        } => {
            writeln!(
                out,
                "re-sealed {resealed} values; every stored secret is under master key version \
                 {version}; dropped versions {dropped:?}."
            )?;
            if let Some(path) = key_file {
                writeln!(
                    out,
                    "{} now holds only version {version}; start the server.",
                    path.display()
                )?;
            }
            if let Some(value) = value {
                writeln!(
                    out,
                    "Set the master keys on every server and for ssi admin to:\n\n{}\n\n\
                     then restart the servers.",
                    value.expose()
                )?;
            }
        }
    }
    Ok(())
}

/// The first line of stdin, without its line ending.
fn read_password() -> Result<Zeroizing<String>> {
    let mut input = Zeroizing::new(String::new());
    std::io::stdin()
        .take(64 * 1024)
        .read_to_string(&mut input)
        .context("reading the password from stdin")?;
    let line = input.lines().next().unwrap_or_default();
    if line.is_empty() {
        bail!("--password-stdin: stdin has no password (expected it on the first line)");
    }
    Ok(Zeroizing::new(line.to_owned()))
}

/// The data directory's lock, exclusively: fails while a server runs there.
fn lock_exclusive(data_dir: &std::path::Path) -> Result<File> {
    let path = data_dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => bail!(
            "a server is running on {}: stop it first (it keeps the old master key in memory), \
             rotate, then start it again",
            data_dir.display()
        ),
        Err(TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", path.display()))
        }
    }
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
struct Bar {
    bar: Option<ProgressBar>,
    /// An indicatif template.
    template: &'static str,
}

impl Bar {
    fn new(template: &'static str) -> Self {
        Self {
            bar: None,
            template,
        }
    }
}

impl Progress for Bar {
    fn start(&mut self, total: u64) {
        let bar = ProgressBar::new(total);
        if let Ok(style) = ProgressStyle::with_template(self.template) {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        self.bar = Some(bar);
    }

    fn advance(&mut self, done: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(done);
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
