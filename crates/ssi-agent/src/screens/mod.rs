//! The device's system screens (consent, login selection, device settings) as a local
//! web page that the device's kiosk browser shows; one prompt at a time, queued.
//!
//! Interface used by the rest of the agent: [`Screens::ask`] queues a prompt and waits
//! for the paired screen client's answer or the timeout.

use std::time::Duration;

use ssi_proto::LoginNameValue;

/// What the calling app looks like on a screen (from the agent's app registry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppFace {
    /// The app's package id.
    pub package_id: String,
    /// The app's display name.
    pub name: String,
    /// The app's icon (PNG or SVG bytes with their media type), if it has one.
    pub icon: Option<(String, Vec<u8>)>,
}

/// A question for the device owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    /// "Sign in to <app> on your devices with one click!" Allow / Not now.
    Consent {
        /// The app's account name shown to the user.
        user_login_name: String,
    },
    /// The login names, plus "Sign in manually".
    LoginSelection {
        /// The entries, in the app's order.
        entries: Vec<LoginNameValue>,
    },
}

/// The owner's answer, or its absence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScreenAnswer {
    /// Consent: Allow.
    Allow,
    /// Consent: Not now.
    NotNow,
    /// Login selection: this link.
    Selected {
        /// One of the prompt's `linkId`s.
        link_id: String,
    },
    /// Login selection: "Sign in manually".
    ManualSignIn,
    /// Nobody answered within the timeout (or the agent is shutting down).
    TimedOut,
}

/// The prompt queue and the screen web page. Cheap to clone.
#[derive(Clone)]
pub struct Screens {
    timeout: Duration,
}

impl Screens {
    /// A queue whose prompts time out after `timeout` (15 minutes by default).
    pub fn new(timeout: Duration) -> Self {
        Self { timeout }
    }

    /// Shows `prompt` for `app` once the prompts before it are answered, and waits for
    /// the answer of the paired screen client, or [`ScreenAnswer::TimedOut`].
    pub async fn ask(&self, app: AppFace, prompt: Prompt) -> ScreenAnswer {
        let _ = (app, prompt, self.timeout);
        unimplemented!("screens: being written")
    }

    /// The screen web page and its endpoints, to be served on the agent's loopback port.
    pub fn router(&self) -> axum::Router {
        axum::Router::new()
    }
}
