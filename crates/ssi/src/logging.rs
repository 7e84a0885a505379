//! Structured logs on stderr (stdout carries only what scripts read, such as
//! `listening on http://…`): human-readable text, or one JSON object per line.
//! Secrets never reach a log line: the config is logged through its
//! redacting `Debug`, and request logs carry route templates, not raw paths.

use std::io::IsTerminal;

use anyhow::{Context, Result, anyhow};
use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

/// Filter when neither `--log-filter` nor `SSI_LOG` is given.
pub const DEFAULT_FILTER: &str = "info";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "text" => Some(Self::Text),
            "json" => Some(Self::Json),
            _ => None,
        }
    }
}

/// The log format and filter, from flags over environment over defaults.
#[derive(Debug, Clone)]
pub struct LogSettings {
    pub format: LogFormat,
    pub filter: String,
}

impl LogSettings {
    /// `flag_format`/`flag_filter` from the command line; `env` looks up
    /// `SSI_LOG_FORMAT` and `SSI_LOG`. Errors name the flag or variable.
    pub fn resolve(
        flag_format: Option<LogFormat>,
        flag_filter: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let format = match flag_format {
            Some(format) => format,
            None => match env("SSI_LOG_FORMAT").filter(|v| !v.is_empty()) {
                Some(value) => LogFormat::parse(&value).ok_or_else(|| {
                    anyhow!("SSI_LOG_FORMAT: {value:?} is not a log format (expected text or json)")
                })?,
                None => LogFormat::Text,
            },
        };
        let (filter, source) = match flag_filter {
            Some(filter) => (filter.to_owned(), "--log-filter"),
            None => match env("SSI_LOG").filter(|v| !v.is_empty()) {
                Some(filter) => (filter, "SSI_LOG"),
                None => (DEFAULT_FILTER.to_owned(), "the default filter"),
            },
        };
        EnvFilter::try_new(&filter).map_err(|e| {
            anyhow!("{source}: {filter:?} is not a log filter ({e}; expected e.g. info or info,ssi_server=debug)")
        })?;
        Ok(Self { format, filter })
    }
}

/// Installs the global subscriber (once per process).
pub fn init(settings: &LogSettings) -> Result<()> {
    let filter = EnvFilter::try_new(&settings.filter).context("log filter")?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match settings.format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
    installed.map_err(|e| anyhow!("installing the log subscriber: {e}"))
}
