//! The server's configuration from its sources, in increasing precedence:
//! defaults < config file (TOML, `--config` or `SSI_CONFIG`) < environment
//! variables (`SSI_…`) < command-line flags. Only this binary reads files
//! and the environment; the server gets the resulting [`ServerConfig`].
//!
//! Every error names its source (the file and key, the variable or the flag)
//! and the bad value, except for secrets, whose values are never repeated.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Result, anyhow};
use clap::Args;
use ssi_server::ServerConfig;
use ssi_server::config::redact_url_password;
use ssi_server::secrets::MasterKeys;

/// Where the configuration comes from: the flags every command on the
/// server's database accepts (`ssi server`, `ssi admin`).
#[derive(Debug, Clone, Default, Args)]
pub struct ConfigArgs {
    /// TOML configuration file [env: SSI_CONFIG]
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Data directory: the SQLite database and the master key file
    /// [env: SSI_DATA_DIR; default: ssi-data]
    #[arg(long, value_name = "DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// postgres://user:password@host/db to use PostgreSQL; without it, SQLite
    /// in the data directory [env: SSI_DATABASE_URL]
    #[arg(long, value_name = "URL", global = true, value_parser = database_url_flag)]
    pub database_url: Option<String>,
}

/// Values from the command line (the highest precedence).
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub config: ConfigArgs,
    pub listen: Option<SocketAddr>,
    pub issuer: Option<String>,
}

/// The effective configuration.
#[derive(Debug)]
pub struct Loaded {
    pub config: ServerConfig,
    /// The file it was read from, if any.
    pub file: Option<PathBuf>,
    /// Whether some source set the issuer; if none did, the server uses
    /// `http://` + the address it listens on.
    pub is_issuer_given: bool,
}

/// Builds the configuration; `env` looks up a variable (empty means unset).
pub fn load(flags: &Flags, env: &dyn Fn(&str) -> Option<String>) -> Result<Loaded> {
    let env = |name: &str| env(name).filter(|value| !value.is_empty());
    let file = flags
        .config
        .config
        .clone()
        .or_else(|| env("SSI_CONFIG").map(PathBuf::from));
    let (mut config, mut is_issuer_given) = match &file {
        Some(path) => read_file(path)?,
        None => (ServerConfig::default(), false),
    };

    if let Some(value) = env("SSI_LISTEN") {
        config.listen = parse_listen(&value).map_err(|e| anyhow!("SSI_LISTEN: {e}"))?;
    }
    if let Some(value) = env("SSI_DATA_DIR") {
        config.data_dir = PathBuf::from(value);
    }
    if let Some(value) = env("SSI_DATABASE_URL") {
        config.database_url =
            Some(check_database_url(&value).map_err(|e| anyhow!("SSI_DATABASE_URL: {e}"))?);
    }
    if let Some(value) = env("SSI_ISSUER") {
        config.issuer = check_issuer(&value).map_err(|e| anyhow!("SSI_ISSUER: {e}"))?;
        is_issuer_given = true;
    }
    if let Some(value) = env("SSI_MASTER_KEYS") {
        // Checked here so the error names the variable; never repeated.
        MasterKeys::parse(&value).map_err(|e| anyhow!("SSI_MASTER_KEYS: {e}"))?;
        config.master_keys = Some(value);
    }
    if let Some(value) = env("SSI_SECURE_COOKIES") {
        config.secure_cookies =
            parse_bool(&value).map_err(|e| anyhow!("SSI_SECURE_COOKIES: {e}"))?;
    }

    if let Some(listen) = flags.listen {
        config.listen = listen;
    }
    if let Some(dir) = &flags.config.data_dir {
        config.data_dir = dir.clone();
    }
    if let Some(url) = &flags.config.database_url {
        config.database_url = Some(url.clone());
    }
    if let Some(issuer) = &flags.issuer {
        config.issuer = issuer.clone();
        is_issuer_given = true;
    }
    Ok(Loaded {
        config,
        file,
        is_issuer_given,
    })
}

/// Parses the file into the server's config (`deny_unknown_fields`: a
/// misspelt key is an error, not a silent default) and checks its values.
fn read_file(path: &std::path::Path) -> Result<(ServerConfig, bool)> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| anyhow!("config file {shown}: {e}"))?;
    let mut config: ServerConfig =
        toml::from_str(&text).map_err(|e| toml_error(path, &text, &e))?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| toml_error(path, &text, &e))?;
    let bad = |key: &str, e: String| anyhow!("config file {shown}: {key}: {e}");
    let is_issuer_given = table.contains_key("issuer");
    if is_issuer_given {
        config.issuer = check_issuer(&config.issuer).map_err(|e| bad("issuer", e))?;
    }
    config.database_url = match config.database_url.as_deref() {
        None | Some("") => None,
        Some(url) => Some(check_database_url(url).map_err(|e| bad("database_url", e))?),
    };
    if let Some(keys) = config.master_keys.as_deref() {
        MasterKeys::parse(keys).map_err(|e| bad("master_keys", e.to_string()))?;
    }
    Ok((config, is_issuer_given))
}

/// A TOML error as `config file F, line N: key = value: message`, without
/// TOML's quote of the line: the value is repeated unless it is a secret.
fn toml_error(path: &std::path::Path, text: &str, error: &toml::de::Error) -> anyhow::Error {
    let mut out = format!("config file {}", path.display());
    if let Some(span) = error.span() {
        let start = span.start.min(text.len());
        let line_no = text[..start].matches('\n').count() + 1;
        out.push_str(&format!(", line {line_no}"));
        let line = text.lines().nth(line_no - 1).unwrap_or_default();
        if let Some((key, value)) = line.split_once('=') {
            let key = key.trim();
            let value = value.trim();
            match key {
                "master_keys" => out.push_str(&format!(": {key}")),
                "database_url" => {
                    out.push_str(&format!(": {key} = {}", redact_url_password(value)));
                }
                _ => out.push_str(&format!(": {key} = {value}")),
            }
        }
    }
    anyhow!("{out}: {}", error.message().trim())
}

/// `host:port` with a numeric IP (port 0: any free port).
fn parse_listen(value: &str) -> Result<SocketAddr, String> {
    value.trim().parse().map_err(|_| {
        format!("{value:?} is not a socket address (expected IP:port, e.g. 127.0.0.1:8080)")
    })
}

fn parse_bool(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!(
            "{value:?} is not a boolean (expected true or false)"
        )),
    }
}

/// `postgres://…`, `postgresql://…` or `sqlite:…`; the error shows the URL
/// with its password masked.
fn check_database_url(value: &str) -> Result<String, String> {
    let value = value.trim();
    let known = ["postgres://", "postgresql://", "sqlite:"]
        .iter()
        .any(|scheme| value.starts_with(scheme));
    if known {
        Ok(value.to_owned())
    } else {
        Err(format!(
            "{:?} is not a database URL (expected postgres://user:password@host/database, \
             or sqlite:PATH)",
            redact_url_password(value)
        ))
    }
}

/// The public base URL: `http://` or `https://`, a host, no query or
/// fragment; a trailing `/` is dropped.
fn check_issuer(value: &str) -> Result<String, String> {
    let trimmed = value.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"));
    let ok = rest.is_some_and(|rest| {
        !rest.is_empty()
            && !rest.starts_with('/')
            && !rest
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#'))
    });
    if ok {
        Ok(trimmed.to_owned())
    } else {
        Err(format!(
            "{value:?} is not a base URL (expected http(s)://host[:port][/path], e.g. https://ssi.example.com)"
        ))
    }
}

pub fn listen_flag(value: &str) -> Result<SocketAddr, String> {
    parse_listen(value)
}

pub fn issuer_flag(value: &str) -> Result<String, String> {
    check_issuer(value)
}

fn database_url_flag(value: &str) -> Result<String, String> {
    check_database_url(value)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn load_with(flags: &Flags, vars: &[(&str, &str)]) -> Result<Loaded> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        load(flags, &|name| vars.get(name).cloned())
    }

    #[test]
    fn env_over_defaults_and_flags_over_env() {
        let loaded = load_with(
            &Flags::default(),
            &[
                ("SSI_LISTEN", "127.0.0.1:9000"),
                ("SSI_ISSUER", "https://a.example/"),
            ],
        )
        .unwrap();
        assert_eq!(loaded.config.listen.port(), 9000);
        assert_eq!(loaded.config.issuer, "https://a.example");
        assert!(loaded.is_issuer_given);
        let flags = Flags {
            listen: Some("127.0.0.1:9001".parse().unwrap()),
            ..Flags::default()
        };
        let loaded = load_with(&flags, &[("SSI_LISTEN", "127.0.0.1:9000")]).unwrap();
        assert_eq!(loaded.config.listen.port(), 9001);
        assert!(!loaded.is_issuer_given);
    }

    #[test]
    fn bad_values_name_their_variable_and_never_a_secret() {
        let cases = [
            (
                "SSI_LISTEN",
                "localhost",
                "\"localhost\" is not a socket address",
            ),
            ("SSI_SECURE_COOKIES", "maybe", "\"maybe\" is not a boolean"),
            ("SSI_ISSUER", "ftp://x", "\"ftp://x\" is not a base URL"),
            (
                "SSI_DATABASE_URL",
                "mysql://u:hunter2@h/db",
                "\"mysql://u:***@h/db\" is not a database URL",
            ),
            ("SSI_MASTER_KEYS", "1:hunter2", "malformed master key list"),
        ];
        for (name, value, expected) in cases {
            let error = load_with(&Flags::default(), &[(name, value)])
                .expect_err(name)
                .to_string();
            assert!(error.starts_with(&format!("{name}: ")), "{error}");
            assert!(error.contains(expected), "{error}");
            assert!(!error.contains("hunter2"), "{error}");
        }
    }
}
