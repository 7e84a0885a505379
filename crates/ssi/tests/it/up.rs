//! `ssi up` as a newcomer meets it: the real binary on an empty data
//! directory and ephemeral ports, the README's five-minute tour scripted in a
//! real Chromium (sign in by hand and allow linking on the first TV; one-click
//! sign-in on the second TV after the backend verified the SSI token; a
//! restart that keeps the link; Simple Sign-In turned off on the account page
//! and the app falling back to its password form), and the README's two
//! commands checked against `.ci/run` and `ssi up --help`.
//!
//! With `SSI_TOUR_SCREENSHOTS=docs/tour` the tour saves the README's
//! screenshots there.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use ssi_testkit::browser::Browser;

use crate::temp_dir;

/// A bound on waiting for start-up and for the page, never a timing assertion.
const PATIENCE: Duration = Duration::from_secs(180);

/// A running `ssi up` and the URLs it printed.
struct Up {
    child: Child,
    tv: String,
    account: String,
    stdout: mpsc::Receiver<String>,
    stderr_path: PathBuf,
}

impl Up {
    fn start(data_dir: &Path, logs: &Path) -> Result<Self> {
        let stderr_path = logs.join(format!("up-{}.stderr", std::process::id()));
        let mut child = Command::new(env!("CARGO_BIN_EXE_ssi"))
            .args([
                "up",
                "--listen",
                "127.0.0.1:0",
                "--tv-listen",
                "127.0.0.1:0",
            ])
            .arg("--data-dir")
            .arg(data_dir)
            .env_remove("SSI_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path)?)
            .spawn()
            .context("starting ssi up")?;
        let (lines, stdout) = mpsc::channel();
        let out = child.stdout.take().context("piped stdout")?;
        std::thread::spawn(move || {
            for line in BufReader::new(out)
                .lines()
                .map_while(std::result::Result::ok)
            {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let mut up = Self {
            child,
            tv: String::new(),
            account: String::new(),
            stdout,
            stderr_path,
        };
        let printed = up.read_until("Open the TV page")?;
        let url = |label: &str| -> Result<String> {
            printed
                .iter()
                .find_map(|line| line.trim().strip_prefix(label))
                .map(|url| url.trim().to_owned())
                .ok_or_else(|| anyhow!("no `{label}` line in:\n{}", printed.join("\n")))
        };
        up.tv = url("TV page:")?;
        up.account = url("account pages:")?;
        for label in ["developer console:", "sample partner backend:"] {
            url(label)?;
        }
        let credentials = printed.join("\n");
        for expected in [
            "demo@ssi.test / demo-password",
            "alice@sample.test / alice-password",
        ] {
            assert!(credentials.contains(expected), "{credentials}");
        }
        Ok(up)
    }

    /// stdout lines up to and including the first containing `marker`.
    fn read_until(&mut self, marker: &str) -> Result<Vec<String>> {
        let deadline = Instant::now() + PATIENCE;
        let mut lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) => {
                    let done = line.contains(marker);
                    lines.push(line);
                    if done {
                        return Ok(lines);
                    }
                }
                Err(_) => bail!(
                    "ssi up never printed {marker:?}; stdout:\n{}\nstderr:\n{}",
                    lines.join("\n"),
                    self.stderr()
                ),
            }
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Ctrl-C, and the exit status once it stopped.
    fn interrupt(mut self) -> Result<(ExitStatus, String)> {
        let sent = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()?;
        assert!(sent.success(), "kill -INT");
        let stopped = self.read_until("stopped");
        let status = self.child.wait()?;
        stopped.map(|_| (status, self.stderr()))
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Screenshots for the README, when `SSI_TOUR_SCREENSHOTS` names a directory
/// (relative to the repository).
struct Shots(Option<PathBuf>);

impl Shots {
    fn from_env() -> Result<Self> {
        let Some(dir) = std::env::var_os("SSI_TOUR_SCREENSHOTS").map(PathBuf::from) else {
            return Ok(Self(None));
        };
        let dir = if dir.is_absolute() {
            dir
        } else {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../..")
                .join(dir)
        };
        std::fs::create_dir_all(&dir)?;
        Ok(Self(Some(dir)))
    }

    /// Saves the whole window (the caller is in the top frame).
    async fn take(&self, browser: &Browser, name: &str) -> Result<()> {
        if let Some(dir) = &self.0 {
            // Let long polls deliver the latest state and the screens settle.
            tokio::time::sleep(Duration::from_millis(600)).await;
            browser.screenshot(&dir.join(format!("{name}.png"))).await?;
        }
        Ok(())
    }
}

/// Waits until the element's text contains `needle`; returns the text. The
/// pages re-render as their state changes, so a vanished element is looked up again.
async fn wait_text(browser: &Browser, css: &str, needle: &str) -> Result<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = match browser.wait_for(css).await?.text().await {
            Ok(text) if text.contains(needle) => return Ok(text),
            Ok(text) => text,
            Err(e) => e.to_string(),
        };
        if Instant::now() > deadline {
            bail!("`{css}` says {text:?}, not {needle:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Enters the frame `css` of the TV page.
async fn in_frame(browser: &Browser, css: &str) -> Result<()> {
    browser.wait_for(css).await?.enter_frame().await?;
    Ok(())
}

async fn leave_frame(browser: &Browser) -> Result<()> {
    browser.client.enter_parent_frame().await?;
    Ok(())
}

/// Clicks the element once it is shown (views appear as the app's state changes).
async fn click(browser: &Browser, css: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let element = browser.wait_for(css).await?;
        let problem = match element.is_displayed().await {
            Ok(true) => match element.click().await {
                Ok(()) => return Ok(()),
                Err(e) => e.to_string(),
            },
            Ok(false) => "hidden".to_owned(),
            Err(e) => e.to_string(),
        };
        if Instant::now() > deadline {
            bail!("`{css}` cannot be clicked: {problem}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn type_into(browser: &Browser, css: &str, text: &str) -> Result<()> {
    browser.wait_for(css).await?.send_keys(text).await?;
    Ok(())
}

/// Device `n` is shown; press "Sign in" in its app.
async fn press_sign_in(browser: &Browser, n: usize) -> Result<()> {
    click(browser, &format!("#device-{n}")).await?;
    in_frame(browser, &format!("#app-{n}")).await?;
    click(browser, "#start").await?;
    leave_frame(browser).await
}

/// Waits for device `n`'s system screen to come up over the app.
async fn system_screen_up(browser: &Browser, n: usize) -> Result<()> {
    browser
        .wait_for(&format!("#tv-{n}.system-screen-up"))
        .await
        .map(|_| ())
}

/// On device `n`'s login selection, picks the account shown as `name`.
async fn pick_account(
    browser: &Browser,
    shots: &Shots,
    n: usize,
    name: &str,
    shot: &str,
) -> Result<()> {
    system_screen_up(browser, n).await?;
    shots.take(browser, shot).await?;
    in_frame(browser, &format!("#screen-{n}")).await?;
    wait_text(
        browser,
        "#prompt-title",
        "Choose an account to sign in to Sample Streaming",
    )
    .await?;
    assert_eq!(
        wait_text(browser, "button.choice.account", name).await?,
        name
    );
    click(browser, "button.choice.account").await?;
    leave_frame(browser).await
}

/// Device `n`'s app says who is signed in, and how.
async fn signed_in(browser: &Browser, n: usize, user: &str, method: &str) -> Result<()> {
    in_frame(browser, &format!("#app-{n}")).await?;
    wait_text(browser, "#signed-in-as", &format!("Signed in as {user}")).await?;
    wait_text(browser, "#method", method).await?;
    leave_frame(browser).await
}

/// The devices' screen pages may be framed by the TV page (the device's UI
/// shell), and by no other origin.
async fn only_the_tv_page_frames_the_screens(up: &Up) -> Result<()> {
    let tv_origin = up.tv.trim_end_matches('/');
    let tv: serde_json::Value = reqwest::get(format!("{tv_origin}/tv.json"))
        .await?
        .json()
        .await?;
    let devices = tv["devices"].as_array().context("devices")?;
    assert_eq!(devices.len(), 2);
    for device in devices {
        let screen_url = device["screenUrl"].as_str().context("screenUrl")?;
        let origin = screen_url.split("/pair").next().context("screen origin")?;
        let page = reqwest::get(format!("{origin}/")).await?;
        let policy = page
            .headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .context("the screen page has a policy")?
            .to_owned();
        let ancestors: Vec<&str> = policy
            .split(';')
            .map(str::trim)
            .find_map(|directive| directive.strip_prefix("frame-ancestors "))
            .context("frame-ancestors")?
            .split_whitespace()
            .collect();
        assert_eq!(ancestors, [tv_origin], "{policy}");
        assert!(page.headers().get("x-frame-options").is_none());
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tour_from_an_empty_data_directory() -> Result<()> {
    let data = temp_dir();
    let logs = temp_dir();
    let shots = Shots::from_env()?;
    let up = Up::start(data.path(), logs.path())?;
    only_the_tv_page_frames_the_screens(&up).await?;
    let browser = Browser::start().await?;
    browser.client.goto(&up.tv).await?;
    shots.take(&browser, "1-tv-page").await?;

    // 1. The Living room TV: "Sign in" finds no link, so the app shows its
    //    own form; a password sign-in, then the consent screen: Allow.
    press_sign_in(&browser, 1).await?;
    in_frame(&browser, "#app-1").await?;
    wait_text(&browser, "#notice", "No account of this app is linked").await?;
    type_into(&browser, "#username", "alice@sample.test").await?;
    type_into(&browser, "#password", "alice-password").await?;
    leave_frame(&browser).await?;
    shots.take(&browser, "2-sign-in-form").await?;
    in_frame(&browser, "#app-1").await?;
    click(&browser, "#submit").await?;
    leave_frame(&browser).await?;
    system_screen_up(&browser, 1).await?;
    shots.take(&browser, "3-consent").await?;
    in_frame(&browser, "#screen-1").await?;
    wait_text(
        &browser,
        "#prompt-title",
        "Sign in to Sample Streaming on your devices with one click!",
    )
    .await?;
    wait_text(&browser, ".login-name", "alice@sample.test").await?;
    click(&browser, "#allow").await?;
    leave_frame(&browser).await?;
    signed_in(&browser, 1, "alice@sample.test", "with a password").await?;
    in_frame(&browser, "#app-1").await?;
    wait_text(&browser, "#note", "Linked").await?;
    leave_frame(&browser).await?;
    wait_text(
        &browser,
        "#calls",
        "linkUserAccount → SUCCESSFUL, LINK_ESTABLISHED",
    )
    .await?;
    shots.take(&browser, "4-linked").await?;

    // 2. The Bedroom TV: the login selection, and a sign-in by the backend
    //    after it verified the SSI token.
    press_sign_in(&browser, 2).await?;
    pick_account(
        &browser,
        &shots,
        2,
        "alice@sample.test",
        "5-login-selection",
    )
    .await?;
    signed_in(&browser, 2, "alice@sample.test", "with Simple Sign-In").await?;
    wait_text(
        &browser,
        "#events",
        "alice@sample.test signed in with Simple Sign-In: SSI token verified",
    )
    .await?;
    wait_text(
        &browser,
        "#calls",
        "showLoginSelection → SUCCESSFUL, LOGIN_SELECTED",
    )
    .await?;
    wait_text(
        &browser,
        "#calls",
        "recordMetricEvent(LOGIN_SUCCESS) → SUCCESSFUL",
    )
    .await?;
    shots.take(&browser, "6-signed-in-with-ssi").await?;

    // 3. Ctrl-C, and `ssi up` again on the same data: the link is kept.
    let (status, stderr) = up.interrupt()?;
    assert!(status.success(), "ssi up exited with {status}:\n{stderr}");
    let up = Up::start(data.path(), logs.path())?;
    browser.client.goto(&up.tv).await?;
    press_sign_in(&browser, 2).await?;
    pick_account(&browser, &Shots(None), 2, "alice@sample.test", "").await?;
    signed_in(&browser, 2, "alice@sample.test", "with Simple Sign-In").await?;
    assert!(
        !up.stderr().contains("registering again"),
        "the devices kept their registration:\n{}",
        up.stderr()
    );

    // 4. Simple Sign-In off on the account page: the app falls back to its form.
    browser.client.goto(&up.account).await?;
    type_into(&browser, "#email", "demo@ssi.test").await?;
    type_into(&browser, "#password", "demo-password").await?;
    click(&browser, "button[type=submit]").await?;
    browser.wait_for("nav").await?;
    browser
        .client
        .goto(&format!("{}/settings", up.account))
        .await?;
    shots.take(&browser, "7-account-settings").await?;
    click(
        &browser,
        "form[action=\"/account/settings/account\"] button[type=submit]",
    )
    .await?;
    wait_text(
        &browser,
        "form[action=\"/account/settings/account\"]",
        "Apps cannot link or sign you in",
    )
    .await?;
    browser.client.goto(&format!("{}#device-2", up.tv)).await?;
    in_frame(&browser, "#app-2").await?;
    click(&browser, "#sign-out").await?;
    click(&browser, "#start").await?;
    wait_text(
        &browser,
        "#notice",
        "Simple Sign-In is not available on this TV (FEATURE_TURNED_OFF)",
    )
    .await?;
    browser.wait_for("#username").await?;
    leave_frame(&browser).await?;
    shots.take(&browser, "8-fallback").await?;

    browser.close().await?;
    let (status, stderr) = up.interrupt()?;
    assert!(status.success(), "ssi up exited with {status}:\n{stderr}");
    Ok(())
}

/// The README's two commands, in its section "The two commands".
fn readme_commands() -> Result<Vec<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md"))?;
    let section = readme
        .split("\n## ")
        .find(|section| section.starts_with("The two commands"))
        .context("README has no section \"The two commands\"")?;
    let mut commands = Vec::new();
    let mut in_block = false;
    for line in section.lines() {
        let line = line.trim();
        if line.starts_with("```") {
            in_block = !in_block;
        } else if in_block && !line.is_empty() {
            commands.push(line.to_owned());
        }
    }
    Ok(commands)
}

/// The run command is the quickstart of this binary, the test command is
/// what CI runs, and the URL the README promises is `ssi up`'s default.
#[test]
fn the_readme_commands_are_the_quickstart_and_ci() -> Result<()> {
    let commands = readme_commands()?;
    assert_eq!(
        commands,
        ["cargo run --release -p ssi -- up", "bash scripts/test.sh"],
        "the README's two commands"
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let ci = std::fs::read_to_string(root.join(".ci/run"))?;
    let ci_commands: Vec<&str> = ci
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter(|line| !line.starts_with("set ") && !line.starts_with("cd "))
        .collect();
    assert_eq!(ci_commands, ["exec bash scripts/test.sh"], ".ci/run");

    // `cargo run --release -p ssi -- up` runs this binary's `up`.
    let run = &commands[0];
    let args = run.split_once(" -- ").context("cargo run … -- ARGS")?.1;
    let help = Command::new(env!("CARGO_BIN_EXE_ssi"))
        .args(args.split_whitespace())
        .arg("--help")
        .output()?;
    assert!(help.status.success());
    let help = String::from_utf8(help.stdout)?;
    for default in ["ssi-up-data", "127.0.0.1:8080", "127.0.0.1:8090"] {
        assert!(
            help.contains(default),
            "`ssi up --help` lacks {default}:\n{help}"
        );
    }
    let readme = std::fs::read_to_string(root.join("README.md"))?;
    for promised in ["http://127.0.0.1:8090/", "ssi-up-data"] {
        assert!(
            readme.contains(promised),
            "the README does not say {promised}"
        );
    }
    Ok(())
}
