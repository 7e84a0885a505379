//! The screens at their boundary: the router on a real loopback socket, real Chromium
//! paired as the screen client and driven with the keyboard alone (arrows and Enter),
//! `Screens::ask` as the agent calls it.
//!
//! `SSI_SCREENSHOTS=docs/screens` (relative to the workspace root) saves the views as
//! PNG at 1280x720 and 1920x1080.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use ssi_agent::screens::{
    AppFace, DeviceSwitch, Prompt, ScreenAnswer, Screens, SwitchError, SwitchFuture,
};
use ssi_proto::LoginNameValue;
use ssi_testkit::browser::Browser;
use ssi_testkit::browser::keys::{DOWN, ENTER, LEFT, RIGHT, UP};
use tokio::task::JoinHandle;

/// A 1x1 PNG, standing in for an app's icon.
const ICON_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x60, 0xa8, 0xf8, 0xff,
    0x1f, 0x00, 0x03, 0x82, 0x02, 0x01, 0xa1, 0x6e, 0x4b, 0x9d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// The screens served on an ephemeral loopback port.
pub struct ScreenServer {
    pub screens: Screens,
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for ScreenServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ScreenServer {
    pub async fn start(screens: Screens) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let router = screens.router();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Self {
            screens,
            addr,
            task,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Asks in the background, as an app's call would.
    pub fn ask(&self, app: AppFace, prompt: Prompt) -> JoinHandle<ScreenAnswer> {
        let screens = self.screens.clone();
        tokio::spawn(async move { screens.ask(app, prompt).await })
    }

    /// A Chromium paired with these screens (it redeemed a fresh pairing token).
    pub async fn paired_browser(&self) -> Result<Browser> {
        let browser = Browser::start().await?;
        let token = self.screens.issue_pairing_token();
        browser
            .client
            .goto(&self.url(&format!("/pair?token={token}")))
            .await?;
        browser.wait_for("#open-settings").await?;
        Ok(browser)
    }
}

pub fn app(name: &str) -> AppFace {
    AppFace {
        package_id: format!("com.example.{}", name.to_lowercase().replace(' ', "")),
        name: name.to_owned(),
        icon: Some(("image/png".to_owned(), ICON_PNG.to_vec())),
    }
}

pub fn consent(user_login_name: &str) -> Prompt {
    Prompt::Consent {
        user_login_name: user_login_name.to_owned(),
    }
}

pub fn selection(names: &[&str]) -> Prompt {
    Prompt::LoginSelection {
        entries: names
            .iter()
            .enumerate()
            .map(|(i, name)| LoginNameValue::new(*name, format!("link-{i}")))
            .collect(),
    }
}

/// Runs `script` (a function body returning a value) in the page.
pub async fn eval(browser: &Browser, script: &str) -> Result<serde_json::Value> {
    Ok(browser.client.execute(script, vec![]).await?)
}

/// Waits up to 10 s for a JavaScript expression to be true in the page.
pub async fn wait_until(browser: &Browser, condition: &str) -> Result<()> {
    let script = format!("return Boolean({condition});");
    for _ in 0..100 {
        if eval(browser, &script).await? == serde_json::Value::Bool(true) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("still false after 10 s: {condition}")
}

/// Waits for the task's answer (the screen has been answered or timed out).
async fn answer_of(task: JoinHandle<ScreenAnswer>) -> Result<ScreenAnswer> {
    tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .context("no answer within 20 s")?
        .context("the ask task failed")
}

/// Where screenshots go, if wanted.
fn screenshot_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("SSI_SCREENSHOTS")?);
    Some(if dir.is_absolute() {
        dir
    } else {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(dir)
    })
}

/// Saves the view as `<name>-720p.png` and `<name>-1080p.png` when screenshots are on.
async fn screenshot(browser: &Browser, name: &str) -> Result<()> {
    let Some(dir) = screenshot_dir() else {
        return Ok(());
    };
    std::fs::create_dir_all(&dir)?;
    for (width, height, suffix) in [(1280, 720, "720p"), (1920, 1080, "1080p")] {
        set_viewport(browser, width, height).await?;
        browser
            .screenshot(&dir.join(format!("{name}-{suffix}.png")))
            .await?;
    }
    set_viewport(browser, 1280, 720).await?;
    Ok(())
}

/// Sizes the window so that the page itself gets `width` x `height` pixels.
async fn set_viewport(browser: &Browser, width: u32, height: u32) -> Result<()> {
    browser.client.set_window_size(width, height).await?;
    let inner = eval(browser, "return [window.innerWidth, window.innerHeight]").await?;
    let inner_width = inner[0].as_u64().context("innerWidth")? as u32;
    let inner_height = inner[1].as_u64().context("innerHeight")? as u32;
    browser
        .client
        .set_window_size(2 * width - inner_width, 2 * height - inner_height)
        .await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(())
}

/// One keyboard path through a prompt.
struct Case {
    name: &'static str,
    prompt: Prompt,
    /// The text of the control that has the focus when the prompt appears.
    default_focus: &'static str,
    keys: &'static [&'static str],
    expected: ScreenAnswer,
}

/// Shows the case's prompt in the paired browser, checks the default focus, presses
/// the keys, and compares the answer; the screen is idle again afterwards.
async fn check(server: &ScreenServer, browser: &Browser, case: Case) -> Result<()> {
    let selector = match case.prompt {
        Prompt::Consent { .. } => "#allow",
        Prompt::LoginSelection { .. } => "#manual",
    };
    let task = server.ask(app("Acme Video"), case.prompt);
    browser
        .wait_for(selector)
        .await
        .with_context(|| format!("{}: the prompt did not appear", case.name))?;
    let focused = browser.focused_text().await?;
    ensure!(
        focused == case.default_focus,
        "{}: default focus on {focused:?}, expected {:?}",
        case.name,
        case.default_focus
    );
    browser.press(case.keys).await?;
    let answer = answer_of(task).await?;
    ensure!(
        answer == case.expected,
        "{}: answered {answer:?}, expected {:?}",
        case.name,
        case.expected
    );
    browser
        .wait_for("#open-settings")
        .await
        .with_context(|| format!("{}: the screen did not go back to idle", case.name))?;
    Ok(())
}

#[tokio::test]
async fn keyboard_alone_answers_every_prompt() -> Result<()> {
    let server = ScreenServer::start(Screens::new(Duration::from_secs(60))).await?;
    let browser = server.paired_browser().await?;
    let cases = [
        Case {
            name: "Allow is the default",
            prompt: consent("jane@example.com"),
            default_focus: "Allow",
            keys: &[ENTER],
            expected: ScreenAnswer::Allow,
        },
        Case {
            name: "right arrow to Not now",
            prompt: consent("jane@example.com"),
            default_focus: "Allow",
            keys: &[RIGHT, ENTER],
            expected: ScreenAnswer::NotNow,
        },
        Case {
            name: "arrows stop at the ends",
            prompt: consent("jane@example.com"),
            default_focus: "Allow",
            keys: &[LEFT, LEFT, RIGHT, RIGHT, RIGHT, LEFT, ENTER],
            expected: ScreenAnswer::Allow,
        },
        Case {
            name: "the first account is the default",
            prompt: selection(&["Jane", "Joe", "Kids"]),
            default_focus: "Jane",
            keys: &[ENTER],
            expected: ScreenAnswer::Selected {
                link_id: "link-0".to_owned(),
            },
        },
        Case {
            name: "down to the second account",
            prompt: selection(&["Jane", "Joe", "Kids"]),
            default_focus: "Jane",
            keys: &[DOWN, ENTER],
            expected: ScreenAnswer::Selected {
                link_id: "link-1".to_owned(),
            },
        },
        Case {
            name: "down past the accounts to Sign in manually",
            prompt: selection(&["Jane", "Joe"]),
            default_focus: "Jane",
            keys: &[DOWN, DOWN, DOWN, ENTER],
            expected: ScreenAnswer::ManualSignIn,
        },
        Case {
            name: "up from manual to the first account",
            prompt: selection(&["Jane", "Joe"]),
            default_focus: "Jane",
            keys: &[DOWN, DOWN, UP, UP, ENTER],
            expected: ScreenAnswer::Selected {
                link_id: "link-0".to_owned(),
            },
        },
    ];
    for case in cases {
        check(&server, &browser, case).await?;
    }
    browser.close().await
}

#[tokio::test]
async fn the_focus_ring_is_visible() -> Result<()> {
    let server = ScreenServer::start(Screens::new(Duration::from_secs(60))).await?;
    let browser = server.paired_browser().await?;
    let task = server.ask(app("Acme Video"), consent("jane@example.com"));
    browser.wait_for("#allow").await?;
    let style = |id: &str| {
        format!(
            "const s = getComputedStyle(document.getElementById('{id}')); \
             return [s.outlineStyle, s.outlineWidth, s.outlineColor];"
        )
    };
    let focused = eval(&browser, &style("allow")).await?;
    let unfocused = eval(&browser, &style("not-now")).await?;
    ensure!(
        focused[0] == "solid" && focused[2] == "rgb(255, 212, 0)",
        "focused button outline: {focused}"
    );
    let width: f64 = focused[1]
        .as_str()
        .and_then(|w| w.strip_suffix("px"))
        .and_then(|w| w.parse().ok())
        .context("outline width")?;
    ensure!(width >= 6.0, "the focus ring is {width}px wide");
    ensure!(
        unfocused[0] == "none",
        "unfocused button outline: {unfocused}"
    );
    browser.press(&[RIGHT]).await?;
    let moved = eval(&browser, &style("not-now")).await?;
    ensure!(
        moved[0] == "solid",
        "the ring did not follow the focus: {moved}"
    );
    screenshot(&browser, "consent-not-now-focused").await?;
    browser.press(&[ENTER]).await?;
    ensure!(answer_of(task).await? == ScreenAnswer::NotNow);
    browser.close().await
}

#[tokio::test]
async fn prompts_queue_one_at_a_time_in_order() -> Result<()> {
    let server = ScreenServer::start(Screens::new(Duration::from_secs(60))).await?;
    let browser = server.paired_browser().await?;
    let first = server.ask(app("First App"), consent("first@example.com"));
    browser.wait_for("#allow").await?;
    let second = server.ask(app("Second App"), selection(&["Ann", "Bob"]));
    // The second one waits: the first is still on the screen.
    tokio::time::sleep(Duration::from_millis(500)).await;
    ensure!(!second.is_finished());
    let shown = eval(
        &browser,
        "return document.querySelector('.app-name').textContent",
    )
    .await?;
    ensure!(shown == "First App", "on the screen: {shown}");
    ensure!(
        eval(
            &browser,
            "return document.querySelector('#manual') === null"
        )
        .await?
            == true,
        "the second prompt showed before the first was answered"
    );
    screenshot(&browser, "consent").await?;
    browser.press(&[ENTER]).await?;
    ensure!(answer_of(first).await? == ScreenAnswer::Allow);
    // Then the second, without a reload by anyone.
    browser.wait_for("#manual").await?;
    let shown = eval(
        &browser,
        "return document.querySelector('.app-name').textContent",
    )
    .await?;
    ensure!(shown == "Second App", "on the screen: {shown}");
    browser.press(&[DOWN]).await?;
    screenshot(&browser, "selection").await?;
    browser.press(&[ENTER]).await?;
    ensure!(
        answer_of(second).await?
            == ScreenAnswer::Selected {
                link_id: "link-1".to_owned()
            }
    );
    browser.wait_for("#open-settings").await?;
    browser.close().await
}

#[tokio::test]
async fn an_unanswered_prompt_times_out_and_the_next_gets_its_full_time() -> Result<()> {
    let timeout = Duration::from_millis(1500);
    let server = ScreenServer::start(Screens::new(timeout)).await?;
    let browser = server.paired_browser().await?;
    let started = tokio::time::Instant::now();
    let first = server.ask(app("First App"), consent("first@example.com"));
    let second = server.ask(app("Second App"), consent("second@example.com"));
    browser.wait_for("#allow").await?;
    ensure!(answer_of(first).await? == ScreenAnswer::TimedOut);
    // The second was queued the whole time, and is now on the screen with its own
    // timeout ahead of it.
    let shown_at = started.elapsed();
    ensure!(
        !second.is_finished(),
        "the second prompt timed out while queued"
    );
    wait_until(
        &browser,
        "document.querySelector('.app-name')?.textContent === 'Second App'",
    )
    .await?;
    ensure!(answer_of(second).await? == ScreenAnswer::TimedOut);
    ensure!(
        started.elapsed() >= shown_at + timeout - Duration::from_millis(200),
        "the second prompt did not get its full time"
    );
    // Timed out: the screen goes back to idle on its own.
    browser.wait_for("#open-settings").await?;
    browser.close().await
}

#[tokio::test]
async fn a_prompt_whose_caller_went_away_leaves_the_queue_and_the_screen() -> Result<()> {
    let server = ScreenServer::start(Screens::new(Duration::from_secs(60))).await?;
    let browser = server.paired_browser().await?;
    let gone = server.ask(app("Gone App"), consent("gone@example.com"));
    let waiting_gone = server.ask(app("Gone Too"), consent("gone2@example.com"));
    let kept = server.ask(app("Kept App"), selection(&["Ann"]));
    browser.wait_for("#allow").await?;
    // The one behind it leaves first (unseen), then the shown one.
    waiting_gone.abort();
    gone.abort();
    browser.wait_for("#manual").await?;
    let shown = eval(
        &browser,
        "return document.querySelector('.app-name').textContent",
    )
    .await?;
    ensure!(shown == "Kept App", "on the screen: {shown}");
    browser.press(&[ENTER]).await?;
    ensure!(
        answer_of(kept).await?
            == ScreenAnswer::Selected {
                link_id: "link-0".to_owned()
            }
    );
    browser.close().await
}

#[tokio::test]
async fn hostile_names_show_as_text() -> Result<()> {
    let server = ScreenServer::start(Screens::new(Duration::from_secs(60))).await?;
    let browser = server.paired_browser().await?;
    let hostile = "<script>window.pwned=1</script><b>x</b>\"'&amp;";
    let hostile_app = AppFace {
        name: "<img src=x onerror=window.pwned=2>App".to_owned(),
        ..app("Hostile")
    };
    let task = server.ask(hostile_app.clone(), consent(hostile));
    browser.wait_for("#allow").await?;
    let login = eval(
        &browser,
        "return document.querySelector('.login-name').textContent",
    )
    .await?;
    ensure!(login == hostile, "the login name read {login}");
    let name = eval(
        &browser,
        "return document.querySelector('.app-name').textContent",
    )
    .await?;
    ensure!(
        name == hostile_app.name.as_str(),
        "the app name read {name}"
    );
    let injected = eval(
        &browser,
        "return [typeof window.pwned, document.querySelectorAll('#view script, #view b:not(.x), #view img:not(.icon)').length]",
    )
    .await?;
    ensure!(
        injected == serde_json::json!(["undefined", 0]),
        "markup from a name was interpreted: {injected}"
    );
    browser.press(&[RIGHT, ENTER]).await?;
    ensure!(answer_of(task).await? == ScreenAnswer::NotNow);

    let task = server.ask(hostile_app, selection(&[hostile, "Joe"]));
    browser.wait_for("#manual").await?;
    let first = browser.focused_text().await?;
    ensure!(first == hostile, "the first entry read {first}");
    let injected = eval(
        &browser,
        "return [typeof window.pwned, document.querySelectorAll('#view script, #view b, #view img:not(.icon)').length]",
    )
    .await?;
    ensure!(
        injected == serde_json::json!(["undefined", 0]),
        "markup from a login name was interpreted: {injected}"
    );
    browser.press(&[ENTER]).await?;
    ensure!(
        answer_of(task).await?
            == ScreenAnswer::Selected {
                link_id: "link-0".to_owned()
            }
    );
    browser.close().await
}

/// The agent core's switch stands behind this trait; here, a value in memory.
#[derive(Default)]
struct MemorySwitch {
    off: AtomicBool,
}

impl DeviceSwitch for MemorySwitch {
    fn enabled(&self) -> SwitchFuture<'_, bool> {
        let enabled = !self.off.load(Ordering::SeqCst);
        Box::pin(async move { Ok(enabled) })
    }

    fn set_enabled(&self, enabled: bool) -> SwitchFuture<'_, ()> {
        self.off.store(!enabled, Ordering::SeqCst);
        Box::pin(async { Ok(()) })
    }
}

/// A switch whose server is down.
struct UnreachableSwitch;

impl DeviceSwitch for UnreachableSwitch {
    fn enabled(&self) -> SwitchFuture<'_, bool> {
        Box::pin(async { Err(SwitchError::Unreachable) })
    }

    fn set_enabled(&self, _: bool) -> SwitchFuture<'_, ()> {
        Box::pin(async { Err(SwitchError::Unreachable) })
    }
}

async fn switch_state(browser: &Browser) -> Result<String> {
    Ok(browser.wait_for("#switch-state").await?.text().await?)
}

#[tokio::test]
async fn device_settings_turn_the_switch_with_the_keyboard() -> Result<()> {
    let switch = Arc::new(MemorySwitch::default());
    let server = ScreenServer::start(
        Screens::new(Duration::from_secs(60)).with_device_switch(switch.clone()),
    )
    .await?;
    let browser = server.paired_browser().await?;
    screenshot(&browser, "idle").await?;
    // Idle: "Device settings" has the focus.
    ensure!(browser.focused_text().await? == "Device settings");
    browser.press(&[ENTER]).await?;
    ensure!(switch_state(&browser).await? == "On");
    ensure!(browser.focused_text().await? == "Turn off");
    screenshot(&browser, "settings").await?;
    browser.press(&[ENTER]).await?;
    browser.wait_for("#switch-state.off").await?;
    ensure!(
        switch.off.load(Ordering::SeqCst),
        "the switch was not turned off"
    );
    ensure!(browser.focused_text().await? == "Turn on");
    browser.press(&[ENTER]).await?;
    browser.wait_for("#switch-state.on").await?;
    ensure!(
        !switch.off.load(Ordering::SeqCst),
        "the switch was not turned on"
    );
    // A prompt takes the screen over from the settings view.
    let task = server.ask(app("Acme Video"), consent("jane@example.com"));
    browser.wait_for("#allow").await?;
    browser.press(&[ENTER]).await?;
    ensure!(answer_of(task).await? == ScreenAnswer::Allow);
    // And back from the settings with Right, Enter.
    browser.wait_for("#open-settings").await?;
    browser.press(&[ENTER]).await?;
    switch_state(&browser).await?;
    browser.press(&[RIGHT, ENTER]).await?;
    browser.wait_for("#open-settings").await?;
    browser.close().await
}

#[tokio::test]
async fn device_settings_say_when_the_server_is_unreachable() -> Result<()> {
    let server = ScreenServer::start(
        Screens::new(Duration::from_secs(60)).with_device_switch(Arc::new(UnreachableSwitch)),
    )
    .await?;
    let browser = server.paired_browser().await?;
    browser.press(&[ENTER]).await?;
    ensure!(switch_state(&browser).await? == "Unavailable");
    let problem = browser.wait_for(".problem").await?.text().await?;
    ensure!(
        problem.contains("cannot be reached"),
        "the problem read {problem:?}"
    );
    ensure!(browser.focused_text().await? == "Back");
    browser.press(&[ENTER]).await?;
    browser.wait_for("#open-settings").await?;
    browser.close().await
}
