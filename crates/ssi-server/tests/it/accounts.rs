//! Platform accounts: sign-up, sign-in, sign-out, sessions and their
//! cookies, CSRF on the pre-session forms, login rate limits. Also the
//! browser-like helpers the account-page and device-grant tests share.

use std::collections::BTreeMap;

use reqwest::header::HeaderMap;
use sqlx::{AnyPool, Row};

use crate::harness::{Backend, TestServer};

pub const PASSWORD: &str = "correct horse battery";

/// A response as a test reads it.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
    pub set_cookies: Vec<String>,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The value of the first hidden `csrf` field.
    pub fn csrf(&self) -> String {
        hidden_field(&self.body, "csrf").unwrap_or_else(|| panic!("no csrf field in {}", self.body))
    }

    pub fn set_cookie(&self, name: &str) -> Option<&str> {
        self.set_cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(String::as_str)
    }
}

pub fn hidden_field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

pub fn form_encode(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A browser: a cookie jar over the test server's client (no redirects
/// followed, so that every step can be checked).
#[derive(Debug, Clone)]
pub struct Browser {
    pub base: String,
    pub http: reqwest::Client,
    pub cookies: BTreeMap<String, String>,
}

impl Browser {
    pub fn new(server: &TestServer) -> Self {
        Self {
            base: server.base.clone(),
            http: server.http.clone(),
            cookies: BTreeMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn finish(&mut self, request: reqwest::RequestBuilder) -> Page {
        let request = if self.cookies.is_empty() {
            request
        } else {
            request.header("cookie", self.cookie_header())
        };
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let set_cookies: Vec<String> = headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        for cookie in &set_cookies {
            let pair = cookie.split(';').next().unwrap_or("");
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() || cookie.contains("Max-Age=0") {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_owned(), value.to_owned());
                }
            }
        }
        let body = response.text().await.expect("body");
        Page {
            status,
            headers,
            body,
            set_cookies,
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let request = self.http.get(format!("{}{path}", self.base));
        self.finish(request).await
    }

    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_encode(fields));
        self.finish(request).await
    }

    pub fn session(&self) -> Option<&str> {
        self.cookies.get("ssi_session").map(String::as_str)
    }

    /// The session's CSRF token, read from a signed-in page.
    pub async fn csrf(&mut self) -> String {
        let page = self.get("/account").await;
        assert_eq!(page.status, 200, "not signed in: {}", page.body);
        page.csrf()
    }

    pub async fn sign_up_as(&mut self, email: &str, password: &str) -> Page {
        let form = self.get("/account/signup").await;
        let csrf = form.csrf();
        self.post(
            "/account/signup",
            &[("csrf", &csrf), ("email", email), ("password", password)],
        )
        .await
    }

    pub async fn sign_in_as(&mut self, email: &str, password: &str) -> Page {
        let form = self.get("/account/signin").await;
        let csrf = form.csrf();
        self.post(
            "/account/signin",
            &[("csrf", &csrf), ("email", email), ("password", password)],
        )
        .await
    }
}

/// A signed-up, signed-in browser.
pub async fn signed_up(server: &TestServer, email: &str) -> Browser {
    let mut browser = Browser::new(server);
    let page = browser.sign_up_as(email, PASSWORD).await;
    assert_eq!(page.status, 303, "sign-up failed: {}", page.body);
    browser
}

/// A direct connection to the test server's database, for arranging rows
/// other areas would create and for checking what is stored.
pub async fn db(server: &TestServer) -> AnyPool {
    sqlx::any::install_default_drivers();
    let url = match server.backend {
        Backend::Sqlite => ssi_server::store::sqlite_url_for(&server.config.data_dir),
        Backend::Postgres => server.config.database_url.clone().expect("postgres url"),
    };
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .expect("connect to the test database");
    if server.backend == Backend::Sqlite {
        sqlx::query("PRAGMA busy_timeout=10000")
            .execute(&pool)
            .await
            .expect("busy timeout");
    }
    pool
}

pub async fn count(pool: &AnyPool, sql: &str) -> i64 {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(pool)
        .await
        .expect(sql)
        .try_get::<i64, _>(0)
        .expect("count")
}

pub async fn account_id(server: &TestServer, email: &str) -> String {
    server
        .state
        .store
        .find_account_by_email(email)
        .await
        .unwrap()
        .expect("account")
        .id
}

/// Everything the audit log holds, as one string (for "no secrets" checks).
pub async fn audit_text(server: &TestServer) -> String {
    let entries = server.state.store.list_audit(None, 10_000).await.unwrap();
    format!("{entries:?}")
}

fn attribute(cookie: &str, name: &str) -> bool {
    cookie
        .split(';')
        .any(|part| part.trim().eq_ignore_ascii_case(name))
}

server_test!(sign_up_sign_in_sign_out, |server: TestServer| async move {
    let mut browser = Browser::new(&server);
    let form = browser.get("/account/signup").await;
    assert_eq!(form.status, 200);
    let csrf_cookie = form.set_cookie("ssi_csrf").expect("double-submit cookie");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(
            attribute(csrf_cookie, attr),
            "{attr} missing: {csrf_cookie}"
        );
    }

    // Sign-up: e-mail normalized, signed in at once, cookie attributes.
    let page = browser
        .post(
            "/account/signup",
            &[
                ("csrf", &form.csrf()),
                ("email", "  Alice@Example.COM "),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.location(), "/account");
    let cookie = page.set_cookie("ssi_session").expect("session cookie");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(attribute(cookie, attr), "{attr} missing: {cookie}");
    }
    let first_session = browser.session().unwrap().to_owned();
    let overview = browser.get("/account").await;
    assert_eq!(overview.status, 200);
    assert!(overview.body.contains("alice@example.com"));

    // The password is stored only as an argon2id hash.
    let account = server
        .state
        .store
        .find_account_by_email("alice@example.com")
        .await
        .unwrap()
        .unwrap();
    assert!(account.password_hash.starts_with("$argon2id$v=19$"));
    assert!(!account.password_hash.contains(PASSWORD));

    // Sign-out deletes the session server-side: the old cookie is dead.
    let csrf = overview.csrf();
    let out = browser.post("/account/signout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, 303);
    let cleared = out.set_cookie("ssi_session").expect("cookie cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let mut replay = Browser::new(&server);
    replay
        .cookies
        .insert("ssi_session".to_owned(), first_session.clone());
    let refused = replay.get("/account").await;
    assert_eq!(refused.status, 303, "old session must be gone");
    assert!(refused.location().starts_with("/account/signin"));

    // Sign-in with the e-mail in another case; a new session id each time.
    let page = browser.sign_in_as("ALICE@example.com", PASSWORD).await;
    assert_eq!(page.status, 303, "{}", page.body);
    let second_session = browser.session().unwrap().to_owned();
    assert_ne!(second_session, first_session);
    assert_eq!(browser.get("/account").await.status, 200);
});

server_test!(
    session_id_changes_on_sign_in,
    |server: TestServer| async move {
        // Fixation: whatever session the browser presents at sign-in (an
        // attacker's planted one, or its own), it gets a fresh one and the
        // presented one ends.
        let mut attacker = signed_up(&server, "mallory@example.com").await;
        let planted = attacker.session().unwrap().to_owned();
        let _victim_account = signed_up(&server, "victim@example.com").await;

        let mut victim = Browser::new(&server);
        victim
            .cookies
            .insert("ssi_session".to_owned(), planted.clone());
        let page = victim.sign_in_as("victim@example.com", PASSWORD).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let fresh = victim.session().unwrap().to_owned();
        assert_ne!(fresh, planted);
        let overview = victim.get("/account").await;
        assert!(overview.body.contains("victim@example.com"));
        // The planted session no longer works for the attacker either.
        assert_eq!(attacker.get("/account").await.status, 303);
    }
);

#[derive(Debug)]
struct SignUpCase {
    email: &'static str,
    password: &'static str,
    status: u16,
    says: &'static str,
}

async fn check_sign_up(server: &TestServer, case: &SignUpCase) {
    let mut browser = Browser::new(server);
    let before = server
        .state
        .store
        .find_account_by_email("taken@example.com")
        .await;
    let page = browser.sign_up_as(case.email, case.password).await;
    assert_eq!(page.status, case.status, "{case:?}: {}", page.body);
    assert!(page.body.contains(case.says), "{case:?}: {}", page.body);
    assert!(page.set_cookie("ssi_session").is_none(), "{case:?}");
    let after = server
        .state
        .store
        .find_account_by_email("taken@example.com")
        .await;
    assert_eq!(
        format!("{before:?}"),
        format!("{after:?}"),
        "{case:?} changed the taken account"
    );
}

server_test!(sign_up_validation, |server: TestServer| async move {
    signed_up(&server, "taken@example.com").await;
    let long_email = Box::leak(format!("{}@example.com", "a".repeat(243)).into_boxed_str());
    let long_password = Box::leak("p".repeat(257).into_boxed_str());
    let cases = [
        SignUpCase {
            email: "ab",
            password: PASSWORD,
            status: 400,
            says: "email: must be 3 to 254 characters",
        },
        SignUpCase {
            email: long_email,
            password: PASSWORD,
            status: 400,
            says: "email: must be 3 to 254",
        },
        SignUpCase {
            email: "no-at-sign",
            password: PASSWORD,
            status: 400,
            says: "name@domain",
        },
        SignUpCase {
            email: "a@b@c",
            password: PASSWORD,
            status: 400,
            says: "name@domain",
        },
        SignUpCase {
            email: "new@example.com",
            password: "123456789",
            status: 400,
            says: "10 to 256 characters",
        },
        SignUpCase {
            email: "new@example.com",
            password: long_password,
            status: 400,
            says: "10 to 256 characters",
        },
        SignUpCase {
            email: "Taken@Example.com",
            password: PASSWORD,
            status: 409,
            says: "already exists",
        },
    ];
    for case in &cases {
        check_sign_up(&server, case).await;
    }
    assert!(
        server
            .state
            .store
            .find_account_by_email("new@example.com")
            .await
            .unwrap()
            .is_none()
    );
    // The longest valid password and a 254-character e-mail are fine.
    let email = format!("{}@example.com", "b".repeat(242));
    let mut browser = Browser::new(&server);
    let page = browser.sign_up_as(&email, &"p".repeat(256)).await;
    assert_eq!(page.status, 303, "{}", page.body);
});

server_test!(
    wrong_password_reveals_nothing,
    |server: TestServer| async move {
        signed_up(&server, "alice@example.com").await;
        let mut browser = Browser::new(&server);
        let wrong = browser
            .sign_in_as("alice@example.com", "not the password")
            .await;
        let unknown = browser
            .sign_in_as("nobody@example.com", "not the password")
            .await;
        for page in [&wrong, &unknown] {
            assert_eq!(page.status, 401);
            assert!(
                page.body.contains("Wrong e-mail or password."),
                "{}",
                page.body
            );
            assert!(page.set_cookie("ssi_session").is_none());
            assert!(!page.body.contains("not the password"), "password echoed");
        }
        assert!(browser.session().is_none());
    }
);

server_test!(
    pre_session_forms_need_csrf,
    |server: TestServer| async move {
        signed_up(&server, "alice@example.com").await;
        for path in ["/account/signup", "/account/signin"] {
            let mut browser = Browser::new(&server);
            let form = browser.get(path).await;
            let good = form.csrf();
            let wrong = "x".repeat(good.len());
            let cases: [(&str, Option<&str>, bool); 4] = [
                ("no field", None, true),
                ("wrong field", Some(&wrong), true),
                ("empty field and no cookie", Some(""), false),
                ("right field, no cookie", Some(&good), false),
            ];
            for (name, field, keep_cookie) in cases {
                let mut client = browser.clone();
                if !keep_cookie {
                    client.cookies.clear();
                }
                let mut fields = vec![("email", "csrf-victim@example.com"), ("password", PASSWORD)];
                if path == "/account/signin" {
                    fields[0].1 = "alice@example.com";
                }
                if let Some(field) = field {
                    fields.push(("csrf", field));
                }
                let page = client.post(path, &fields).await;
                assert_eq!(page.status, 403, "{path} {name}: {}", page.body);
                assert!(page.set_cookie("ssi_session").is_none(), "{path} {name}");
            }
        }
        assert!(
            server
                .state
                .store
                .find_account_by_email("csrf-victim@example.com")
                .await
                .unwrap()
                .is_none()
        );
    }
);

server_test!(
    login_rate_limit_per_email,
    |server: TestServer| async move {
        signed_up(&server, "alice@example.com").await;
        let mut browser = Browser::new(&server);
        for attempt in 1..=5 {
            let page = browser
                .sign_in_as("alice@example.com", "wrong password!")
                .await;
            assert_eq!(page.status, 401, "attempt {attempt}");
        }
        // The 6th attempt is refused even with the right password.
        let page = browser.sign_in_as("Alice@example.com", PASSWORD).await;
        assert_eq!(page.status, 429, "{}", page.body);
        assert!(
            page.body.contains("Too many sign-in attempts"),
            "{}",
            page.body
        );
        assert!(browser.session().is_none());
        // Another e-mail from the same address is not affected.
        signed_up(&server, "bob@example.com").await;
        let mut other = Browser::new(&server);
        assert_eq!(
            other.sign_in_as("bob@example.com", PASSWORD).await.status,
            303
        );
        // After the window, the right password works again.
        server.clock.advance_ms(15 * 60 * 1000 + 1);
        let page = browser.sign_in_as("alice@example.com", PASSWORD).await;
        assert_eq!(page.status, 303, "{}", page.body);
    }
);

server_test!(
    login_rate_limit_per_address,
    |server: TestServer| async move {
        signed_up(&server, "alice@example.com").await;
        let mut browser = Browser::new(&server);
        // 19 failures spread over e-mails (under each e-mail's limit) …
        for attempt in 0..19 {
            let email = format!("guess{}@example.com", attempt % 10);
            let page = browser.sign_in_as(&email, "wrong password!").await;
            assert_eq!(page.status, 401, "attempt {attempt}");
        }
        // … a success does not reset the address's count …
        let mut alice = Browser::new(&server);
        assert_eq!(
            alice.sign_in_as("alice@example.com", PASSWORD).await.status,
            303
        );
        let page = browser
            .sign_in_as("guess-last@example.com", "wrong password!")
            .await;
        assert_eq!(page.status, 401);
        // … so the 21st attempt is refused, even with the right password.
        let mut late = Browser::new(&server);
        let page = late.sign_in_as("alice@example.com", PASSWORD).await;
        assert_eq!(page.status, 429, "{}", page.body);
        assert!(late.session().is_none());
        server.clock.advance_ms(15 * 60 * 1000 + 1);
        assert_eq!(
            late.sign_in_as("alice@example.com", PASSWORD).await.status,
            303
        );
    }
);

server_test!(
    audit_of_accounts_has_no_secrets,
    |server: TestServer| async move {
        let mut browser = signed_up(&server, "alice@example.com").await;
        let session = browser.session().unwrap().to_owned();
        let csrf = browser.csrf().await;
        browser.post("/account/signout", &[("csrf", &csrf)]).await;
        browser.sign_in_as("alice@example.com", PASSWORD).await;
        let audit = audit_text(&server).await;
        assert!(audit.contains("account.create"), "{audit}");
        assert!(audit.contains("account.signin"), "{audit}");
        for secret in [PASSWORD, &session, &csrf, browser.session().unwrap()] {
            assert!(!audit.contains(secret), "audit leaks a secret: {audit}");
        }
    }
);
