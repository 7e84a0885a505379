//! Attacks on the screens that must fail: answering a prompt without being the paired
//! screen client, with a stale prompt nonce or a forged CSRF token, from another
//! origin (also from a real page in the paired Chromium), through a rebound DNS name,
//! and pairing twice with one token. Each table ends with the legitimate request, so
//! the table also shows that the harness can succeed.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, HOST, HeaderMap, HeaderValue, LOCATION, ORIGIN, SET_COOKIE};
use ssi_agent::screens::{ScreenAnswer, Screens};

use ssi_testkit::browser::keys::ENTER;

use crate::screens::{ScreenServer, app, consent};

fn http() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}

/// Redeems `token`; the session cookie (`name=value`) on success.
async fn redeem(server: &ScreenServer, token: &str) -> Result<(StatusCode, Option<String>)> {
    let response = http()?
        .get(server.url(&format!("/pair?token={token}")))
        .send()
        .await?;
    let cookie = response
        .headers()
        .get(SET_COOKIE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(str::to_owned);
    Ok((response.status(), cookie))
}

async fn pair(server: &ScreenServer) -> Result<String> {
    let token = server.screens.issue_pairing_token();
    let (status, cookie) = redeem(server, &token).await?;
    ensure!(status == StatusCode::SEE_OTHER, "pairing answered {status}");
    cookie.context("pairing set no cookie")
}

/// The value of the hidden input `name` in `html`.
fn hidden(html: &str, name: &str) -> Result<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .context(format!("no {name} in the page"))?
        + marker.len();
    let end = html[start..].find('"').context("unterminated value")? + start;
    Ok(html[start..end].to_owned())
}

/// The page as the paired client sees it: (csrf, prompt nonce).
async fn page_secrets(server: &ScreenServer, cookie: &str) -> Result<(String, String)> {
    let html = http()?
        .get(server.url("/"))
        .header(COOKIE, cookie)
        .send()
        .await?
        .text()
        .await?;
    Ok((hidden(&html, "csrf")?, hidden(&html, "prompt")?))
}

/// Waits until the screen shows a prompt (the ask task has queued it).
async fn wait_shown(server: &ScreenServer, cookie: &str) -> Result<(String, String)> {
    for _ in 0..100 {
        if let Ok(secrets) = page_secrets(server, cookie).await {
            return Ok(secrets);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    anyhow::bail!("the prompt never showed")
}

/// One POST of an answer, with every part the attacker controls.
struct Attempt {
    name: &'static str,
    cookie: Option<String>,
    csrf: String,
    nonce: String,
    choice: &'static str,
    origin: Option<String>,
    host: Option<String>,
    fetch_site: Option<&'static str>,
    expected: StatusCode,
}

async fn check(server: &ScreenServer, attempt: &Attempt) -> Result<()> {
    let mut headers = HeaderMap::new();
    if let Some(cookie) = &attempt.cookie {
        headers.insert(COOKIE, HeaderValue::from_str(cookie)?);
    }
    if let Some(origin) = &attempt.origin {
        headers.insert(ORIGIN, HeaderValue::from_str(origin)?);
    }
    if let Some(host) = &attempt.host {
        headers.insert(HOST, HeaderValue::from_str(host)?);
    }
    if let Some(site) = attempt.fetch_site {
        headers.insert("sec-fetch-site", HeaderValue::from_static(site));
    }
    let body = format!(
        "csrf={}&prompt={}&choice={}",
        attempt.csrf, attempt.nonce, attempt.choice
    );
    let response = http()?
        .post(server.url("/answer"))
        .headers(headers)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await?;
    ensure!(
        response.status() == attempt.expected,
        "{}: answered {}, expected {}",
        attempt.name,
        response.status(),
        attempt.expected
    );
    Ok(())
}

#[tokio::test]
async fn only_the_paired_client_answers_the_prompt_on_the_screen() -> Result<()> {
    let server = ScreenServer::start(Screens::new(Duration::from_secs(60))).await?;
    let cookie = pair(&server).await?;
    let origin = format!("http://{}", server.addr);

    // A first prompt, answered, leaves a stale nonce behind.
    let earlier = server.ask(app("Earlier App"), consent("earlier@example.com"));
    let (csrf, stale_nonce) = wait_shown(&server, &cookie).await?;
    let legitimate = |name, nonce: &str, choice, expected| Attempt {
        name,
        cookie: Some(cookie.clone()),
        csrf: csrf.clone(),
        nonce: nonce.to_owned(),
        choice,
        origin: Some(origin.clone()),
        host: None,
        fetch_site: Some("same-origin"),
        expected,
    };
    check(
        &server,
        &legitimate(
            "earlier prompt",
            &stale_nonce,
            "not-now",
            StatusCode::SEE_OTHER,
        ),
    )
    .await?;
    ensure!(earlier.await? == ScreenAnswer::NotNow);

    let task = server.ask(app("Acme Video"), consent("jane@example.com"));
    let (_, nonce) = wait_shown(&server, &cookie).await?;
    ensure!(nonce != stale_nonce, "two prompts share a nonce");
    let attacks = [
        Attempt {
            name: "no pairing cookie (an app on the device that knows the nonce)",
            cookie: None,
            ..legitimate("", &nonce, "allow", StatusCode::FORBIDDEN)
        },
        Attempt {
            name: "a guessed cookie",
            cookie: Some(format!("ssi_screen={}", "0".repeat(64))),
            ..legitimate("", &nonce, "allow", StatusCode::FORBIDDEN)
        },
        Attempt {
            name: "a forged CSRF token",
            csrf: "f".repeat(64),
            ..legitimate("", &nonce, "allow", StatusCode::FORBIDDEN)
        },
        legitimate(
            "the nonce of the prompt answered before",
            &stale_nonce,
            "allow",
            StatusCode::CONFLICT,
        ),
        legitimate(
            "a made-up nonce",
            &"1".repeat(64),
            "allow",
            StatusCode::CONFLICT,
        ),
        Attempt {
            name: "cross-origin POST (another port of the loopback)",
            origin: Some("http://127.0.0.1:9".to_owned()),
            ..legitimate("", &nonce, "allow", StatusCode::FORBIDDEN)
        },
        Attempt {
            name: "cross-origin POST (a web site)",
            origin: Some("https://evil.example".to_owned()),
            fetch_site: Some("cross-site"),
            ..legitimate("", &nonce, "allow", StatusCode::FORBIDDEN)
        },
        Attempt {
            name: "no Origin",
            origin: None,
            ..legitimate("", &nonce, "allow", StatusCode::FORBIDDEN)
        },
        Attempt {
            name: "Origin faked but the browser says same-site, not same-origin",
            fetch_site: Some("same-site"),
            ..legitimate("", &nonce, "allow", StatusCode::FORBIDDEN)
        },
        Attempt {
            name: "DNS rebinding (evil.example resolving to the loopback)",
            host: Some(format!("evil.example:{}", server.addr.port())),
            origin: Some(format!("http://evil.example:{}", server.addr.port())),
            ..legitimate("", &nonce, "allow", StatusCode::MISDIRECTED_REQUEST)
        },
        legitimate(
            "a selection answer to a consent prompt",
            &nonce,
            "select-0",
            StatusCode::BAD_REQUEST,
        ),
    ];
    for attack in &attacks {
        check(&server, attack).await?;
        ensure!(
            !task.is_finished(),
            "{}: the prompt was answered",
            attack.name
        );
    }
    check(
        &server,
        &legitimate(
            "the paired page itself",
            &nonce,
            "allow",
            StatusCode::SEE_OTHER,
        ),
    )
    .await?;
    ensure!(task.await? == ScreenAnswer::Allow);
    Ok(())
}

#[tokio::test]
async fn a_pairing_token_pairs_once_and_the_latest_pairing_wins() -> Result<()> {
    let server = ScreenServer::start(Screens::new(Duration::from_secs(60))).await?;
    let home = |cookie: Option<String>| {
        let server_url = server.url("/");
        async move {
            let mut request = http()?.get(server_url);
            if let Some(cookie) = cookie {
                request = request.header(COOKIE, cookie);
            }
            anyhow::Ok(request.send().await?.status())
        }
    };

    let token = server.screens.issue_pairing_token();
    let (status, first) = redeem(&server, &token).await?;
    ensure!(status == StatusCode::SEE_OTHER);
    let first = first.context("no cookie")?;
    ensure!(home(Some(first.clone())).await? == StatusCode::OK);

    // The same token again: refused, no cookie.
    let (status, cookie) = redeem(&server, &token).await?;
    ensure!(
        status == StatusCode::FORBIDDEN && cookie.is_none(),
        "a used token paired again: {status}"
    );
    // A guessed token: refused.
    let (status, cookie) = redeem(&server, &"a".repeat(64)).await?;
    ensure!(
        status == StatusCode::FORBIDDEN && cookie.is_none(),
        "a guessed token paired: {status}"
    );
    // An issued token that a newer one replaced: refused.
    let replaced = server.screens.issue_pairing_token();
    let latest = server.screens.issue_pairing_token();
    let (status, _) = redeem(&server, &replaced).await?;
    ensure!(
        status == StatusCode::FORBIDDEN,
        "a replaced token paired: {status}"
    );
    ensure!(
        home(Some(first.clone())).await? == StatusCode::OK,
        "a refused pairing ended the session"
    );

    // A new pairing replaces the old client: one screen client per device.
    let (status, second) = redeem(&server, &latest).await?;
    ensure!(status == StatusCode::SEE_OTHER);
    ensure!(home(second).await? == StatusCode::OK);
    ensure!(
        home(Some(first)).await? == StatusCode::FORBIDDEN,
        "the old client still paired"
    );
    ensure!(home(None).await? == StatusCode::FORBIDDEN);
    Ok(())
}

#[tokio::test]
async fn an_unpaired_client_learns_nothing_about_the_prompt() -> Result<()> {
    let server = ScreenServer::start(Screens::new(Duration::from_secs(60))).await?;
    let cookie = pair(&server).await?;
    let task = server.ask(app("Secret App"), consent("secret-login@example.com"));
    let (_, nonce) = wait_shown(&server, &cookie).await?;
    for path in [
        "/".to_owned(),
        "/view".to_owned(),
        "/changes?since=0".to_owned(),
        "/settings".to_owned(),
        format!("/icon/{nonce}"),
    ] {
        let response = http()?.get(server.url(&path)).send().await?;
        let status = response.status();
        let body = response.text().await?;
        ensure!(status == StatusCode::FORBIDDEN, "{path}: answered {status}");
        ensure!(
            !body.contains("secret-login")
                && !body.contains("Secret App")
                && !body.contains(&nonce),
            "{path} leaked the prompt: {body}"
        );
    }
    // The paired client gets the icon, with its media type, nothing else.
    let icon = http()?
        .get(server.url(&format!("/icon/{nonce}")))
        .header(COOKIE, &cookie)
        .send()
        .await?;
    ensure!(icon.status() == StatusCode::OK);
    ensure!(icon.headers()["content-type"] == "image/png");
    // Rebound DNS names get nothing, cookie or not.
    let rebound = http()?
        .get(server.url("/"))
        .header(HOST, format!("evil.example:{}", server.addr.port()))
        .header(COOKIE, &cookie)
        .send()
        .await?;
    ensure!(rebound.status() == StatusCode::MISDIRECTED_REQUEST);
    ensure!(!rebound.text().await?.contains("secret-login"));
    task.abort();
    Ok(())
}

#[tokio::test]
async fn the_page_keeps_to_itself() -> Result<()> {
    let server = ScreenServer::start(Screens::new(Duration::from_secs(60))).await?;
    let cookie = pair(&server).await?;
    let response = http()?
        .get(server.url("/"))
        .header(COOKIE, &cookie)
        .send()
        .await?;
    let headers = response.headers();
    let csp = headers["content-security-policy"].to_str()?;
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ] {
        ensure!(csp.contains(directive), "CSP lacks {directive}: {csp}");
    }
    ensure!(headers["x-frame-options"] == "DENY");
    ensure!(headers["cache-control"] == "no-store");
    let body = response.text().await?;
    ensure!(
        !body.contains("http://") && !body.contains("https://") && !body.contains("<script>"),
        "the page loads something from elsewhere or has inline script"
    );
    // The pairing cookie is out of the page's scripts' reach and never sent cross-site.
    let response = http()?
        .get(server.url(&format!(
            "/pair?token={}",
            server.screens.issue_pairing_token()
        )))
        .send()
        .await?;
    let set_cookie = response.headers()[SET_COOKIE].to_str()?;
    ensure!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "pairing cookie: {set_cookie}"
    );
    ensure!(response.headers()[LOCATION] == "/");
    Ok(())
}

/// A hostile page on another loopback port, open in the paired Chromium, posts an
/// answer to the screen (with the right nonce and CSRF token even): the browser sends
/// the cookie (same site), and the Origin check refuses it.
#[tokio::test]
async fn a_hostile_page_in_the_paired_browser_cannot_answer() -> Result<()> {
    let server = ScreenServer::start(Screens::new(Duration::from_secs(60))).await?;
    let browser = server.paired_browser().await?;
    let task = server.ask(app("Acme Video"), consent("jane@example.com"));
    browser.wait_for("#allow").await?;
    let csrf = crate::screens::eval(
        &browser,
        "return document.querySelector('input[name=csrf]').value",
    )
    .await?;
    let nonce = crate::screens::eval(
        &browser,
        "return document.querySelector('input[name=prompt]').value",
    )
    .await?;
    let hostile_page = format!(
        "<!doctype html><body onload=\"document.forms[0].submit()\">\
         <form method=post action=\"{}\">\
         <input name=csrf value={}><input name=prompt value={}>\
         <input name=choice value=allow></form>",
        server.url("/answer"),
        csrf.as_str().context("csrf")?,
        nonce.as_str().context("nonce")?,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hostile_addr = listener.local_addr()?;
    let hostile = tokio::spawn(async move {
        let router = axum::Router::new().route(
            "/",
            axum::routing::get(move || {
                let page = hostile_page.clone();
                async move { axum::response::Html(page) }
            }),
        );
        let _ = axum::serve(listener, router).await;
    });
    browser
        .client
        .goto(&format!("http://{hostile_addr}/"))
        .await?;
    // The form posted: the browser now shows the screen's refusal.
    crate::screens::wait_until(&browser, "document.querySelector('#notice-title')").await?;
    let title = browser.wait_for("#notice-title").await?.text().await?;
    ensure!(title == "Refused", "the hostile post got: {title}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    ensure!(!task.is_finished(), "the hostile page answered the prompt");
    // The owner still answers, from the screen.
    browser.client.goto(&server.url("/")).await?;
    browser.wait_for("#allow").await?;
    ensure!(browser.focused_text().await? == "Allow");
    browser.press(&[ENTER]).await?;
    ensure!(task.await? == ScreenAnswer::Allow);
    hostile.abort();
    browser.close().await
}
