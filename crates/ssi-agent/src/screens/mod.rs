//! The device's system screens (consent, login selection, device settings) as a local
//! web page that the device's kiosk browser shows; one prompt at a time, queued.
//!
//! Interface used by the rest of the agent: [`Screens::ask`] queues a prompt and waits
//! for the paired screen client's answer or the timeout; [`Screens::router`] is the page
//! and its endpoints, served on the agent's loopback screen port;
//! [`Screens::write_pairing_file`] hands the kiosk its one-time pairing link;
//! [`Screens::with_device_switch`] plugs in the device-level SSI switch.
//!
//! Who may answer (docs/agent.md, "Screens"): only the browser that redeemed the
//! one-time pairing token holds the HttpOnly session cookie; every answer also carries
//! the session's CSRF token and the shown prompt's nonce, and the Host and Origin
//! headers must name the loopback origin (no DNS rebinding, no cross-site posts).

mod pairing;
mod queue;
mod switch;
mod web;

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ssi_proto::LoginNameValue;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

pub use switch::{DeviceSwitch, SwitchError, SwitchFuture};

use pairing::Pairing;
use queue::{Queue, Shown};

/// The screen timeout of DESIGN.md section 9.
pub const DEFAULT_SCREEN_TIMEOUT: Duration = Duration::from_secs(15 * 60);

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
    inner: Arc<Inner>,
}

struct Inner {
    timeout: Duration,
    queue: Mutex<Queue>,
    /// Bumped whenever the shown prompt changes; the page long-polls it.
    shown_version: watch::Sender<u64>,
    pairing: Mutex<Pairing>,
    switch: Mutex<Option<Arc<dyn DeviceSwitch>>>,
    /// The origin of a device UI shell that shows the screens in a frame
    /// ([`Screens::with_shell_origin`]).
    shell_origin: Option<String>,
}

impl Inner {
    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        // A panic while holding the lock cannot leave the queue half-changed (every
        // change is one VecDeque operation), so a poisoned lock is still usable.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn pairing(&self) -> std::sync::MutexGuard<'_, Pairing> {
        self.pairing.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn switch(&self) -> Option<Arc<dyn DeviceSwitch>> {
        self.switch
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn shown_changed(&self) {
        self.shown_version.send_modify(|version| *version += 1);
    }

    /// Removes prompt `id` if it is still queued (its caller went away or timed out).
    fn withdraw(&self, id: u64) {
        let was_shown = self.queue().withdraw(id);
        if was_shown {
            self.shown_changed();
        }
    }
}

/// Takes a prompt out of the queue when its `ask` future ends in any way.
struct WithdrawOnDrop<'a> {
    inner: &'a Inner,
    id: u64,
}

impl Drop for WithdrawOnDrop<'_> {
    fn drop(&mut self) {
        self.inner.withdraw(self.id);
    }
}

impl Screens {
    /// A queue whose prompts time out after `timeout` ([`DEFAULT_SCREEN_TIMEOUT`] in
    /// production). The timeout runs from the moment the prompt is on the screen, so a
    /// prompt waiting behind another one still gets its full time.
    pub fn new(timeout: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                timeout,
                queue: Mutex::new(Queue::default()),
                shown_version: watch::Sender::new(0),
                pairing: Mutex::new(Pairing::default()),
                switch: Mutex::new(None),
                shell_origin: None,
            }),
        }
    }

    /// A queue whose page a device UI shell at `origin` (`http://127.0.0.1:8090`)
    /// shows inside its own page, as `ssi up`'s TV page does: that origin (and no
    /// other) may frame it, and the session cookie is named after the screen's port,
    /// so that one browser can hold the pairings of several devices' screens on one
    /// host. Call it before anything else (it makes a new queue). The origin must be
    /// `http://` or `https://`, a host and an optional port, nothing more.
    pub fn with_shell_origin(timeout: Duration, origin: &str) -> Result<Self, String> {
        let rest = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .ok_or_else(|| {
                format!("shell origin {origin:?}: must start with http:// or https://")
            })?;
        let is_host_and_port = !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
        if !is_host_and_port {
            return Err(format!(
                "shell origin {origin:?}: must be a scheme, a host and an optional port"
            ));
        }
        let mut screens = Self::new(timeout);
        Arc::get_mut(&mut screens.inner)
            .expect("a new queue is not shared yet")
            .shell_origin = Some(origin.to_owned());
        Ok(screens)
    }

    /// The same queue with the device-level SSI switch shown in the device settings
    /// view (clones share it). Without one, the settings view says the switch is not
    /// available.
    pub fn with_device_switch(self, switch: Arc<dyn DeviceSwitch>) -> Self {
        *self
            .inner
            .switch
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(switch);
        self
    }

    /// Shows `prompt` for `app` once the prompts before it are answered, and waits for
    /// the answer of the paired screen client, or [`ScreenAnswer::TimedOut`]. Dropping
    /// the returned future takes the prompt off the queue (and off the screen).
    pub async fn ask(&self, app: AppFace, prompt: Prompt) -> ScreenAnswer {
        let (answer_tx, mut answer_rx) = oneshot::channel();
        // Subscribe before queueing so no change of the shown prompt is missed.
        let mut changes = self.inner.shown_version.subscribe();
        let (id, shown_now) = self.inner.queue().push(app, prompt, answer_tx);
        let _withdraw = WithdrawOnDrop {
            inner: &self.inner,
            id,
        };
        if shown_now {
            self.inner.shown_changed();
        }
        let mut deadline: Option<Instant> = None;
        loop {
            if deadline.is_none() && self.inner.queue().is_shown(id) {
                deadline = Some(Instant::now() + self.inner.timeout);
            }
            let timer = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                answer = &mut answer_rx => return answer.unwrap_or(ScreenAnswer::TimedOut),
                // The sender lives in `inner`, which this future borrows: never closed.
                _ = changes.changed() => {}
                () = timer => {
                    // An answer that raced the timer wins: the owner did answer.
                    return answer_rx.try_recv().unwrap_or(ScreenAnswer::TimedOut);
                }
            }
        }
    }

    /// The screen web page and its endpoints, to be served on the agent's loopback port.
    pub fn router(&self) -> axum::Router {
        web::router(self.clone())
    }

    /// Issues a new one-time pairing token (the previous unredeemed one stops working)
    /// and returns it. The kiosk redeems it at `/pair?token=…`.
    pub fn issue_pairing_token(&self) -> String {
        self.inner.pairing().issue()
    }

    /// Issues a pairing token and writes the kiosk's pairing link
    /// `http://<screen_addr>/pair?token=…` to `path`, mode 0600 (written to a temporary
    /// file and renamed, so a reader never sees half a link).
    pub fn write_pairing_file(
        &self,
        path: &Path,
        screen_addr: std::net::SocketAddr,
    ) -> std::io::Result<()> {
        let link = format!(
            "http://{screen_addr}/pair?token={}\n",
            self.issue_pairing_token()
        );
        pairing::write_private_file(path, link.as_bytes())
    }

    /// Shutting down: every queued prompt, and every later one, is answered
    /// [`ScreenAnswer::TimedOut`] at once, and the page's pending long polls end (so a
    /// graceful shutdown of the screen server does not wait for them).
    pub fn close(&self) {
        self.inner.queue().time_out_all();
        self.inner.shown_changed();
    }

    /// What the screen shows now: the head of the queue, or nothing (idle).
    fn shown(&self) -> Option<Shown> {
        self.inner.queue().shown()
    }
}
