//! A real headless Chromium (Debian's `chromium` + `chromium-driver`, installed by
//! `scripts/test.sh`) driven over WebDriver with fantoccini.
//!
//! Each [`Browser`] runs its own chromedriver on an ephemeral loopback port and its
//! own Chromium profile in a temp dir, so tests can run in parallel. Chromium is
//! started with the flags that keep it off this machine's closed network.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use fantoccini::{Client, ClientBuilder, Locator};
use tokio::process::{Child, Command};

/// `/usr/bin/chromedriver` unless `SSI_TEST_CHROMEDRIVER` names another.
pub fn chromedriver_path() -> PathBuf {
    std::env::var_os("SSI_TEST_CHROMEDRIVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromedriver"))
}

/// `/usr/bin/chromium` unless `SSI_TEST_CHROMIUM` names another.
pub fn chromium_path() -> PathBuf {
    std::env::var_os("SSI_TEST_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// WebDriver codes of the keys a TV remote has, for [`Browser::press`].
pub mod keys {
    pub const ENTER: &str = "\u{E007}";
    pub const LEFT: &str = "\u{E012}";
    pub const UP: &str = "\u{E013}";
    pub const RIGHT: &str = "\u{E014}";
    pub const DOWN: &str = "\u{E015}";
}

/// One headless Chromium session. Dropping it ends chromedriver and Chromium.
pub struct Browser {
    /// The WebDriver client: `goto`, `find`, `execute`, `screenshot`, ...
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a 1280x720 window (a TV's
    /// 720p). Fails with a clear message when either is not installed: the test
    /// command installs them, tests never skip.
    pub async fn start() -> Result<Self> {
        let driver_path = chromedriver_path();
        let chromium = chromium_path();
        for path in [&driver_path, &chromium] {
            if !path.exists() {
                bail!(
                    "{} is missing: run `bash scripts/test.sh` (it installs Debian's chromium and chromium-driver)",
                    path.display()
                );
            }
        }
        let port = free_port()?;
        let driver = Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", driver_path.display()))?;
        let profile = tempfile::tempdir()?;
        let caps = capabilities(&chromium, profile.path());
        let url = format!("http://127.0.0.1:{port}");
        let mut last_error = None;
        for _ in 0..100 {
            match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    return Ok(Self {
                        client,
                        driver,
                        _profile: profile,
                    });
                }
                Err(e) => {
                    last_error = Some(e);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        bail!("chromedriver on port {port} never accepted a session: {last_error:?}")
    }

    /// Waits up to 10 s for an element matching the CSS selector.
    pub async fn wait_for(&self, css: &str) -> Result<fantoccini::elements::Element> {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .with_context(|| format!("waiting for `{css}`"))
    }

    /// Presses `keys` one at a time on whatever has the focus, as a remote's arrows
    /// and OK would ([`keys`] has the WebDriver codes).
    pub async fn press(&self, keys: &[&str]) -> Result<()> {
        for key in keys {
            self.client.active_element().await?.send_keys(key).await?;
        }
        Ok(())
    }

    /// The text of the focused element.
    pub async fn focused_text(&self) -> Result<String> {
        Ok(self.client.active_element().await?.text().await?)
    }

    /// Saves a PNG screenshot of the viewport to `path`.
    pub async fn screenshot(&self, path: &Path) -> Result<()> {
        let png = self.client.screenshot().await?;
        std::fs::write(path, png).with_context(|| format!("writing {}", path.display()))
    }

    /// Ends the session and chromedriver.
    pub async fn close(mut self) -> Result<()> {
        let closed = self.client.clone().close().await;
        let _ = self.driver.kill().await;
        closed.map_err(Into::into)
    }
}

fn capabilities(chromium: &Path, profile: &Path) -> fantoccini::wd::Capabilities {
    let args = [
        "--headless=new".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        "--disable-quic".to_owned(),
        "--no-first-run".to_owned(),
        "--disable-background-networking".to_owned(),
        "--disable-component-update".to_owned(),
        "--disable-sync".to_owned(),
        "--window-size=1280,720".to_owned(),
        format!("--user-data-dir={}", profile.display()),
    ];
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".to_owned(),
        serde_json::json!({ "binary": chromium.display().to_string(), "args": args }),
    );
    caps
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The harness itself: a page served on a real socket, read and clicked in Chromium.
    #[tokio::test]
    async fn drives_a_real_page() -> Result<()> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let body = "<!doctype html><title>t</title><button id=b onclick=\"this.textContent='clicked'\">press</button>";
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(reply.as_bytes()).await;
            }
        });
        let browser = Browser::start().await?;
        browser.client.goto(&format!("http://{addr}/")).await?;
        let button = browser.wait_for("#b").await?;
        assert_eq!(button.text().await?, "press");
        button.click().await?;
        assert_eq!(button.text().await?, "clicked");
        browser.close().await
    }
}
