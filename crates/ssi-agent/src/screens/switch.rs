//! The device-level SSI switch, shown in the device settings view. The agent core
//! implements it over the server's device settings API.

use std::future::Future;
use std::pin::Pin;

/// A boxed future of the switch (object-safe, `Send`).
pub type SwitchFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, SwitchError>> + Send + 'a>>;

/// Reads and sets whether SSI is on for this device.
pub trait DeviceSwitch: Send + Sync + 'static {
    /// Whether SSI is on for this device.
    fn enabled(&self) -> SwitchFuture<'_, bool>;
    /// Turns SSI on or off for this device.
    fn set_enabled(&self, enabled: bool) -> SwitchFuture<'_, ()>;
}

/// Why the switch could not be read or set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SwitchError {
    /// The server could not be reached or answered with a retryable error.
    #[error("the server cannot be reached right now")]
    Unreachable,
    /// Anything else; the text is shown on the screen, so it must hold no secret.
    #[error("{0}")]
    Failed(String),
}
