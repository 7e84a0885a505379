//! The agent's settings. The binary builds an [`AgentConfig`] from its config
//! file, environment and flags; the library never reads either.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use ssi_proto::limits::SCREEN_TIMEOUT_SECS;

/// Where the agent keeps its state and how it behaves. Durations are in the unit
/// their name ends with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    /// The device credential (`device.json`) and the agent database (`agent.db`).
    pub data_dir: PathBuf,
    /// The sockets: `<run dir>/apps/<package id>.sock`.
    pub run_dir: PathBuf,
    /// Loopback address of the screens web page (the device's kiosk browser).
    pub screen_listen: SocketAddr,
    /// Consent and login-selection screens time out after this long.
    pub screen_timeout_secs: u64,
    /// After "Not now", the same (app, partnerUserId) is not asked again for this
    /// long; the agent answers `CONSENT_DENIED` at once.
    pub consent_cooldown_secs: u64,
    /// Bound on one call to the server; beyond it the app gets `RETRYABLE_FAILURE`.
    pub server_timeout_ms: u64,
    /// Metric events per delivery to the server (at most 500).
    pub outbox_batch_size: usize,
    /// First wait before delivering again after a failed delivery.
    pub outbox_retry_min_ms: u64,
    /// Longest wait between delivery attempts (the backoff doubles up to it).
    pub outbox_retry_max_ms: u64,
    /// How often the app registry is re-read (apps installed while running).
    pub registry_rescan_ms: u64,
}

/// The default screen port.
pub const DEFAULT_SCREEN_LISTEN: &str = "127.0.0.1:8750";

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("ssi-agent-data"),
            run_dir: PathBuf::from(ssi_proto::app_socket::DEFAULT_RUN_DIR),
            screen_listen: DEFAULT_SCREEN_LISTEN.parse().expect("a socket address"),
            screen_timeout_secs: SCREEN_TIMEOUT_SECS as u64,
            consent_cooldown_secs: 7 * 24 * 3600,
            server_timeout_ms: 10_000,
            outbox_batch_size: ssi_proto::device::METRICS_BATCH_MAX_EVENTS,
            outbox_retry_min_ms: 1_000,
            outbox_retry_max_ms: 300_000,
            registry_rescan_ms: 2_000,
        }
    }
}

impl AgentConfig {
    /// The screen timeout.
    pub fn screen_timeout(&self) -> Duration {
        Duration::from_secs(self.screen_timeout_secs)
    }

    /// The bound on one server call.
    pub fn server_timeout(&self) -> Duration {
        Duration::from_millis(self.server_timeout_ms)
    }

    /// Checks the values that have limits; the error names the setting.
    pub fn validate(&self) -> Result<(), String> {
        let max_batch = ssi_proto::device::METRICS_BATCH_MAX_EVENTS;
        if self.outbox_batch_size == 0 || self.outbox_batch_size > max_batch {
            return Err(format!(
                "outbox_batch_size: must be 1-{max_batch} (got {})",
                self.outbox_batch_size
            ));
        }
        let positive = [
            ("screen_timeout_secs", self.screen_timeout_secs),
            ("server_timeout_ms", self.server_timeout_ms),
            ("outbox_retry_min_ms", self.outbox_retry_min_ms),
            ("registry_rescan_ms", self.registry_rescan_ms),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(format!("{name}: must be greater than 0 (got 0)"));
            }
        }
        if self.outbox_retry_max_ms < self.outbox_retry_min_ms {
            return Err(format!(
                "outbox_retry_max_ms: must be at least outbox_retry_min_ms ({}) (got {})",
                self.outbox_retry_min_ms, self.outbox_retry_max_ms
            ));
        }
        Ok(())
    }
}
