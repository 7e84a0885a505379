//! `ssi server` run as an operator runs it: the built binary on an ephemeral
//! port and a temporary data directory. Configuration precedence and errors,
//! health and readiness, JSON logs without secrets, clean shutdown on
//! signals, and durability of acknowledged writes across `kill -9` of the
//! server and a restart of PostgreSQL.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sqlx::Row;

use crate::temp_dir;

#[path = "../../../ssi-server/tests/it/pg.rs"]
#[allow(dead_code)]
pub mod shared_pg;

/// The variables `ssi` reads; the tests set them explicitly, never inherit them.
const SSI_VARIABLES: [&str; 9] = [
    "SSI_CONFIG",
    "SSI_LISTEN",
    "SSI_DATA_DIR",
    "SSI_DATABASE_URL",
    "SSI_ISSUER",
    "SSI_MASTER_KEYS",
    "SSI_SECURE_COOKIES",
    "SSI_LOG_FORMAT",
    "SSI_LOG",
];

/// How long a start-up or a recovery may take before the test fails (a
/// bound on waiting, never a timing assertion).
const PATIENCE: Duration = Duration::from_secs(120);

pub fn ssi_command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ssi"));
    command.args(args);
    for name in SSI_VARIABLES {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    command
}

/// What a finished `ssi` run printed.
#[derive(Debug)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn context(&self) -> String {
        format!(
            "exit {:?}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    /// Asserts exit 0 and returns stdout.
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, Some(0), "{}", self.context());
        &self.stdout
    }
}

/// Runs `ssi ARGS` to completion with `env` and `stdin`.
pub fn run_ssi(args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    let mut child = ssi_command(args, env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the ssi binary starts");
    let mut input = child.stdin.take().expect("piped stdin");
    input.write_all(stdin.as_bytes()).expect("stdin is written");
    drop(input);
    let output = child.wait_with_output().expect("ssi finishes");
    Output {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(output.stderr).expect("UTF-8 stderr"),
    }
}

/// A running `ssi server` process.
pub struct Server {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub base: String,
    stdout: Arc<Mutex<String>>,
    stderr_path: PathBuf,
    _logs: tempfile::TempDir,
}

impl Server {
    /// `ssi server ARGS --listen 127.0.0.1:0` with `env`; waits for the
    /// `listening on` line.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::try_start(args, env).unwrap_or_else(|output| panic!("ssi server failed:\n{output}"))
    }

    pub fn try_start(args: &[&str], env: &[(&str, &str)]) -> Result<Self, String> {
        let logs = temp_dir();
        let stderr_path = logs.path().join("stderr");
        let stderr = fs::File::create(&stderr_path).expect("stderr file");
        let mut all_args = vec!["server"];
        all_args.extend_from_slice(args);
        if !args.contains(&"--listen") {
            all_args.extend_from_slice(&["--listen", "127.0.0.1:0"]);
        }
        let mut child = ssi_command(&all_args, env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .expect("the ssi binary starts");
        let stdout = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let reader = BufReader::new(child.stdout.take().expect("piped stdout"));
        let collected = stdout.clone();
        std::thread::spawn(move || {
            for line in reader.lines() {
                let Ok(line) = line else { break };
                collected.lock().expect("stdout lock").push_str(&line);
                collected.lock().expect("stdout lock").push('\n');
                if let Some(url) = line.strip_prefix("listening on http://") {
                    let _ = tx.send(url.to_owned());
                }
            }
        });
        match rx.recv_timeout(PATIENCE) {
            Ok(addr) => {
                let addr: SocketAddr = addr.parse().expect("a socket address after http://");
                Ok(Self {
                    child: Some(child),
                    addr,
                    base: format!("http://{addr}"),
                    stdout,
                    stderr_path,
                    _logs: logs,
                })
            }
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                Err(format!(
                    "no `listening on` line; exit {status:?}\n--- stdout:\n{}\n--- stderr:\n{}",
                    stdout.lock().expect("stdout lock"),
                    fs::read_to_string(&stderr_path).unwrap_or_default()
                ))
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().expect("stdout lock").clone()
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL");
            child.wait().expect("reaped");
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Waits for the exit (after a signal sent by the test).
    pub fn wait(&mut self) -> ExitStatus {
        self.child
            .take()
            .expect("running")
            .wait()
            .expect("the server exits")
    }

    /// Sends `signal` (`TERM`, `INT`) and waits for the exit.
    pub fn stop_with(&mut self, signal: &str) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let sent = Command::new("kill")
            .args([format!("-{signal}"), child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -{signal}");
        child.wait().expect("the server exits")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client")
}

/// The pre-session CSRF token the tests present as cookie and form field.
const CSRF: &str = "csrf-of-the-operator-tests-0123456789abcdef";

fn form_encode(fields: &[(&str, &str)]) -> String {
    let encode = |text: &str| {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

async fn post_credentials(base: &str, path: &str, email: &str, password: &str) -> u16 {
    http()
        .post(format!("{base}{path}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", format!("ssi_csrf={CSRF}"))
        .body(form_encode(&[
            ("csrf", CSRF),
            ("email", email),
            ("password", password),
        ]))
        .send()
        .await
        .expect("the server answers")
        .status()
        .as_u16()
}

/// `POST /account/signup`: 303 when the account was created.
pub async fn sign_up(base: &str, email: &str, password: &str) -> u16 {
    post_credentials(base, "/account/signup", email, password).await
}

/// `POST /account/signin`: 303 when the e-mail and password match.
pub async fn sign_in(base: &str, email: &str, password: &str) -> u16 {
    post_credentials(base, "/account/signin", email, password).await
}

pub async fn get_status(url: &str) -> Option<u16> {
    match http().get(url).send().await {
        Ok(response) => Some(response.status().as_u16()),
        Err(_) => None,
    }
}

/// Polls `url` until it answers `status` (bounded by [`PATIENCE`]).
pub async fn wait_for_status(url: &str, status: u16) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if get_status(url).await == Some(status) {
            return;
        }
        assert!(Instant::now() < deadline, "{url} never answered {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A fresh master key list with one version, as `SSI_MASTER_KEYS` takes it.
pub fn master_keys_value(version: i64) -> String {
    let mut key = [0u8; 32];
    ssi_token::Random::fill(&mut ssi_token::SystemRandom, &mut key);
    format!("{version}:{}", URL_SAFE_NO_PAD.encode(key))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A data directory and, on PostgreSQL, a fresh database.
pub struct Place {
    pub dir: tempfile::TempDir,
    pub database_url: Option<String>,
}

impl Place {
    pub async fn new(backend: Backend) -> Self {
        let database_url = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(shared_pg::fresh_database().await),
        };
        Self {
            dir: temp_dir(),
            database_url,
        }
    }

    pub fn data_dir(&self) -> String {
        self.dir.path().display().to_string()
    }

    /// `--data-dir D [--database-url U]`.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec!["--data-dir".to_owned(), self.data_dir()];
        if let Some(url) = &self.database_url {
            args.extend(["--database-url".to_owned(), url.clone()]);
        }
        args
    }

    /// The URL to open the database directly.
    pub fn sql_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| ssi_server::store::sqlite_url_for(self.dir.path()))
    }

    pub fn key_file(&self) -> PathBuf {
        self.dir.path().join("master.key")
    }
}

pub fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

// ---------------------------------------------------------------------------
// Configuration

/// `ssi server --check-config` with a config file, variables and flags.
struct ConfigCase {
    name: &'static str,
    file: Option<&'static str>,
    /// Name the file with `SSI_CONFIG` instead of `--config`.
    is_file_from_env: bool,
    env: Vec<(&'static str, &'static str)>,
    flags: Vec<&'static str>,
    /// Exit 0 and these lines of the printed config, or exit 1 and these
    /// fragments of the error.
    expect_ok: bool,
    has: Vec<&'static str>,
    /// Never printed (secrets).
    lacks: Vec<&'static str>,
}

fn check_config(case: &ConfigCase) {
    let dir = temp_dir();
    let file = dir.path().join("ssi.toml");
    let file_name = file.display().to_string();
    let mut args = vec!["server".to_owned(), "--check-config".to_owned()];
    let mut env = case.env.clone();
    if let Some(text) = case.file {
        fs::write(&file, text).expect("config file");
        if case.is_file_from_env {
            env.push(("SSI_CONFIG", &file_name));
        } else {
            args.extend(["--config".to_owned(), file_name.clone()]);
        }
    }
    args.extend(case.flags.iter().map(|&f| f.to_owned()));
    let output = run_ssi(&strs(&args), &env, "");
    let context = format!("case {}: {}", case.name, output.context());
    let expected_code = if case.expect_ok { 0 } else { 1 };
    assert_eq!(output.code, Some(expected_code), "{context}");
    let printed = format!("{}{}", output.stdout, output.stderr);
    for fragment in &case.has {
        assert!(printed.contains(fragment), "lacks {fragment:?}: {context}");
    }
    for fragment in &case.lacks {
        assert!(!printed.contains(fragment), "shows {fragment:?}: {context}");
    }
}

const FILE: &str = "listen = \"127.0.0.1:1111\"\n\
                    data_dir = \"/srv/file\"\n\
                    issuer = \"https://file.example\"\n\
                    secure_cookies = true\n";

#[test]
fn config_precedence_is_flags_over_env_over_file_over_defaults() {
    let ok = |name, file, env: Vec<_>, flags: Vec<_>, has: Vec<_>| ConfigCase {
        name,
        file,
        is_file_from_env: false,
        env,
        flags,
        expect_ok: true,
        has,
        lacks: Vec::new(),
    };
    let cases = [
        ok(
            "defaults",
            None,
            vec![],
            vec![],
            vec![
                "listen: 127.0.0.1:8080",
                "data_dir: \"ssi-data\"",
                "database_url: None",
                "secure_cookies: false",
                "issuer: not set",
            ],
        ),
        ok(
            "file",
            Some(FILE),
            vec![],
            vec![],
            vec![
                "listen: 127.0.0.1:1111",
                "data_dir: \"/srv/file\"",
                "issuer: \"https://file.example\"",
                "secure_cookies: true",
            ],
        ),
        ok(
            "env over file",
            Some(FILE),
            vec![
                ("SSI_LISTEN", "127.0.0.1:2222"),
                ("SSI_DATA_DIR", "/srv/env"),
                ("SSI_ISSUER", "https://env.example/"),
                ("SSI_SECURE_COOKIES", "false"),
                ("SSI_DATABASE_URL", "postgres://ssi:pw-env@db.example/ssi"),
            ],
            vec![],
            vec![
                "listen: 127.0.0.1:2222",
                "data_dir: \"/srv/env\"",
                "issuer: \"https://env.example\"",
                "secure_cookies: false",
                "postgres://ssi:***@db.example/ssi",
            ],
        ),
        ok(
            "flags over env over file",
            Some(FILE),
            vec![
                ("SSI_LISTEN", "127.0.0.1:2222"),
                ("SSI_DATA_DIR", "/srv/env"),
                ("SSI_ISSUER", "https://env.example"),
                ("SSI_DATABASE_URL", "postgres://ssi:pw-env@db.example/ssi"),
            ],
            vec![
                "--listen",
                "127.0.0.1:3333",
                "--data-dir",
                "/srv/flag",
                "--issuer",
                "https://flag.example",
                "--database-url",
                "postgres://ssi:pw-flag@flag.example/ssi",
            ],
            vec![
                "listen: 127.0.0.1:3333",
                "data_dir: \"/srv/flag\"",
                "issuer: \"https://flag.example\"",
                "postgres://ssi:***@flag.example/ssi",
            ],
        ),
        ConfigCase {
            is_file_from_env: true,
            ..ok(
                "file named by SSI_CONFIG",
                Some(FILE),
                vec![],
                vec![],
                vec!["ssi.toml", "listen: 127.0.0.1:1111"],
            )
        },
    ];
    for case in &cases {
        check_config(case);
    }
}

#[test]
fn bad_configuration_values_are_named_with_their_source() {
    let bad = |name, file, env: Vec<_>, flags: Vec<_>, has: Vec<_>| ConfigCase {
        name,
        file,
        is_file_from_env: false,
        env,
        flags,
        expect_ok: false,
        has,
        lacks: vec!["hunter2"],
    };
    let cases = [
        bad(
            "file: bad listen",
            Some("listen = \"nowhere\"\n"),
            vec![],
            vec![],
            vec![
                "ssi.toml, line 1: listen = \"nowhere\"",
                "invalid socket address",
            ],
        ),
        bad(
            "file: misspelt key",
            Some("\n\nlisten_addr = \"127.0.0.1:1\"\n"),
            vec![],
            vec![],
            vec!["ssi.toml, line 3", "unknown field `listen_addr`"],
        ),
        bad(
            "file: wrong type",
            Some("secure_cookies = \"yes\"\n"),
            vec![],
            vec![],
            vec!["secure_cookies = \"yes\"", "expected a boolean"],
        ),
        bad(
            "file: bad issuer",
            Some("issuer = \"ssi.example.com\"\n"),
            vec![],
            vec![],
            vec!["ssi.toml: issuer: \"ssi.example.com\" is not a base URL"],
        ),
        bad(
            "file: malformed master keys are not quoted",
            Some("master_keys = \"1:hunter2\"\n"),
            vec![],
            vec![],
            vec!["ssi.toml: master_keys: malformed master key list"],
        ),
        bad(
            "file: broken TOML on the master key line is not quoted",
            Some("master_keys = \"1:hunter2\n"),
            vec![],
            vec![],
            vec!["ssi.toml, line 1: master_keys:"],
        ),
        bad(
            "file: database URL password is masked",
            Some("database_url = \"mysql://ssi:hunter2@db/ssi\"\n"),
            vec![],
            vec![],
            vec!["database_url: \"mysql://ssi:***@db/ssi\" is not a database URL"],
        ),
        bad(
            "env: missing config file",
            None,
            vec![("SSI_CONFIG", "/nonexistent/ssi.toml")],
            vec![],
            vec!["config file /nonexistent/ssi.toml: No such file"],
        ),
        bad(
            "env: bad listen",
            None,
            vec![("SSI_LISTEN", "localhost:80")],
            vec![],
            vec!["SSI_LISTEN: \"localhost:80\" is not a socket address"],
        ),
        bad(
            "env: bad boolean",
            None,
            vec![("SSI_SECURE_COOKIES", "maybe")],
            vec![],
            vec!["SSI_SECURE_COOKIES: \"maybe\" is not a boolean"],
        ),
        bad(
            "env: bad log format",
            None,
            vec![("SSI_LOG_FORMAT", "xml")],
            vec![],
            vec!["SSI_LOG_FORMAT: \"xml\" is not a log format"],
        ),
        bad(
            "env: bad log filter",
            None,
            vec![("SSI_LOG", "info,=[")],
            vec![],
            vec!["SSI_LOG: \"info,=[\" is not a log filter"],
        ),
        bad(
            "env: master keys are never repeated",
            None,
            vec![("SSI_MASTER_KEYS", "1:hunter2")],
            vec![],
            vec!["SSI_MASTER_KEYS: malformed master key list"],
        ),
        bad(
            "env: database URL password is masked",
            None,
            vec![("SSI_DATABASE_URL", "mysql://ssi:hunter2@db/ssi")],
            vec![],
            vec!["SSI_DATABASE_URL: \"mysql://ssi:***@db/ssi\""],
        ),
        bad(
            "flag: bad listen",
            None,
            vec![],
            vec!["--listen", "127.0.0.1"],
            vec![
                "'--listen <IP:PORT>'",
                "\"127.0.0.1\" is not a socket address",
            ],
        ),
        bad(
            "flag: bad issuer",
            None,
            vec![],
            vec!["--issuer", "//x"],
            vec!["'--issuer <URL>'", "is not a base URL"],
        ),
        bad(
            "flag: bad log format",
            None,
            vec![],
            vec!["--log-format", "xml"],
            vec!["'--log-format <FORMAT>'"],
        ),
    ];
    for case in &cases {
        check_config(case);
    }
}

#[tokio::test]
async fn the_flag_beats_env_and_file_for_the_data_directory_a_real_server_uses() {
    let dir = temp_dir();
    let at = |name: &str| dir.path().join(name);
    let file = at("ssi.toml");
    fs::write(
        &file,
        format!(
            "data_dir = \"{}\"\nlisten = \"127.0.0.1:1\"\n",
            at("from-file").display()
        ),
    )
    .expect("config file");
    let from_env = at("from-env").display().to_string();
    let from_flag = at("from-flag").display().to_string();
    let server = Server::start(
        &[
            "--config",
            &file.display().to_string(),
            "--data-dir",
            &from_flag,
        ],
        &[("SSI_DATA_DIR", &from_env), ("SSI_LISTEN", "127.0.0.1:2")],
    );
    assert_ne!(server.addr.port(), 0);
    wait_for_status(&server.url("/readyz"), 200).await;
    assert!(at("from-flag").join("ssi.db").exists());
    assert!(at("from-flag").join("master.key").exists());
    assert!(!at("from-env").exists() && !at("from-file").exists());
    let mode = fs::metadata(at("from-flag").join("master.key"))
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
        .expect("key file");
    assert_eq!(mode, 0o600, "master.key mode");
}

// ---------------------------------------------------------------------------
// Operation

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let dir = temp_dir();
    let server = Server::start(&["--data-dir", &dir.path().display().to_string()], &[]);
    for (path, status, body) in [
        ("/healthz", 200, "ok"),
        ("/readyz", 200, "ready"),
        (
            "/metrics",
            200,
            "ssi_http_requests_total{route=\"/healthz\",status=\"200\"} 1",
        ),
    ] {
        let response = http()
            .get(server.url(path))
            .send()
            .await
            .expect("the server answers");
        assert_eq!(response.status().as_u16(), status, "{path}");
        let text = response.text().await.expect("body");
        assert!(text.contains(body), "{path}: {text}");
    }
    assert_eq!(
        server.stdout(),
        format!("listening on {}\n", server.base),
        "stdout carries only the address"
    );
}

#[tokio::test]
async fn json_logs_are_json_lines_without_secrets() {
    let dir = temp_dir();
    let master_keys = master_keys_value(1);
    let secret_part = master_keys
        .split_once(':')
        .expect("version:key")
        .1
        .to_owned();
    let password = "correct horse battery staple";
    let mut server = Server::start(
        &[
            "--data-dir",
            &dir.path().display().to_string(),
            "--log-format",
            "json",
        ],
        &[
            ("SSI_MASTER_KEYS", &master_keys),
            ("SSI_LOG", "debug"),
            ("SSI_DATABASE_URL", ""),
        ],
    );
    assert_eq!(
        sign_up(&server.base, "ops@example.com", password).await,
        303
    );
    assert_eq!(
        sign_in(&server.base, "ops@example.com", password).await,
        303
    );
    assert_eq!(
        sign_in(&server.base, "ops@example.com", "wrong password!").await,
        401
    );
    let status = server.stop_with("TERM");
    assert_eq!(status.code(), Some(0), "{}", server.stderr());

    let stderr = server.stderr();
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(lines.len() > 3, "some logs: {stderr}");
    let mut messages = Vec::new();
    for line in &lines {
        let entry: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(
            entry["level"].is_string() && entry["timestamp"].is_string(),
            "{line}"
        );
        if let Some(message) = entry["message"].as_str() {
            messages.push(message.to_owned());
        }
    }
    for expected in ["starting", "listening", "stopped"] {
        assert!(
            messages.iter().any(|m| m == expected),
            "no {expected:?} in {messages:?}"
        );
    }
    assert!(
        stderr.contains("<redacted>"),
        "the config is logged, redacted"
    );
    for output in [&stderr, &server.stdout()] {
        for secret in [secret_part.as_str(), password, "wrong password!", CSRF] {
            assert!(
                !output.contains(secret),
                "a secret is in the output:\n{output}"
            );
        }
    }
}

#[tokio::test]
async fn sigterm_and_sigint_shut_down_cleanly() {
    for signal in ["TERM", "INT"] {
        let dir = temp_dir();
        let mut server = Server::start(&["--data-dir", &dir.path().display().to_string()], &[]);
        wait_for_status(&server.url("/readyz"), 200).await;
        let status = server.stop_with(signal);
        assert_eq!(status.code(), Some(0), "SIG{signal}: {}", server.stderr());
        let stderr = server.stderr();
        assert!(stderr.contains(&format!("SIG{signal}")), "{stderr}");
        assert!(stderr.contains("stopped"), "{stderr}");
        assert_eq!(
            get_status(&server.url("/healthz")).await,
            None,
            "port closed"
        );
    }
}

/// A request in flight when SIGTERM arrives is finished and acknowledged
/// before the process exits 0, and what it wrote is there after a restart.
#[tokio::test]
async fn sigterm_finishes_the_request_in_flight() {
    use std::io::Read;
    use std::net::TcpStream;

    let dir = temp_dir();
    let args = ["--data-dir", &dir.path().display().to_string()].map(str::to_owned);
    let mut server = Server::start(&strs(&args), &[]);
    let body = form_encode(&[
        ("csrf", CSRF),
        ("email", "inflight@example.com"),
        ("password", "in flight password"),
    ]);
    let mut stream = TcpStream::connect(server.addr).expect("connect");
    write!(
        stream,
        "POST /account/signup HTTP/1.1\r\nHost: {}\r\nCookie: ssi_csrf={CSRF}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Expect: 100-continue\r\n\r\n",
        server.addr,
        body.len()
    )
    .expect("headers");
    // `100 Continue` comes when the handler starts reading the body: the
    // request is in flight.
    let mut interim = [0u8; 25];
    stream.read_exact(&mut interim).expect("interim response");
    assert!(
        String::from_utf8_lossy(&interim).starts_with("HTTP/1.1 100 Continue\r\n\r\n"),
        "{:?}",
        String::from_utf8_lossy(&interim)
    );
    let sent = Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    let deadline = Instant::now() + PATIENCE;
    while !server.stderr().contains("shutting down") {
        assert!(Instant::now() < deadline, "the signal is never handled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Still answered, after the server began to shut down.
    stream.write_all(body.as_bytes()).expect("body");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    assert!(response.starts_with("HTTP/1.1 303"), "{response}");
    let status = server.wait();
    assert_eq!(status.code(), Some(0), "{}", server.stderr());

    let server = Server::start(&strs(&args), &[]);
    assert_eq!(
        sign_in(&server.base, "inflight@example.com", "in flight password").await,
        303
    );
}

// ---------------------------------------------------------------------------
// Durability

/// Sign-ups acknowledged (303) right before `kill -9` are there after a
/// restart on the same data directory and database.
async fn acknowledged_writes_survive_kill_9(backend: Backend) {
    let place = Place::new(backend).await;
    let args = place.args();
    let mut server = Server::start(&strs(&args), &[]);
    let mut accounts = Vec::new();
    for round in 0..3 {
        let email = format!("durable-{round}@example.com");
        let password = format!("password number {round}");
        assert_eq!(sign_up(&server.base, &email, &password).await, 303);
        accounts.push((email, password));
        // Killed right after the acknowledgment, without any shutdown.
        server.kill9();
        server = Server::start(&strs(&args), &[]);
        for (email, password) in &accounts {
            assert_eq!(
                sign_in(&server.base, email, password).await,
                303,
                "{backend:?}: {email} lost after kill -9"
            );
        }
    }
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9_on_sqlite() {
    acknowledged_writes_survive_kill_9(Backend::Sqlite).await;
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9_on_postgres() {
    acknowledged_writes_survive_kill_9(Backend::Postgres).await;
}

#[tokio::test]
async fn the_server_recovers_when_postgres_restarts_and_keeps_acknowledged_data() {
    let cluster = private_pg::Cluster::start();
    let dir = temp_dir();
    let data_dir = dir.path().display().to_string();
    let server = Server::start(
        &["--data-dir", &data_dir],
        &[("SSI_DATABASE_URL", &cluster.url())],
    );
    assert_eq!(
        sign_up(&server.base, "before@example.com", "password before").await,
        303
    );

    // An immediate stop is a crash for PostgreSQL: it recovers from its WAL.
    cluster.stop();
    wait_for_status(&server.url("/readyz"), 503).await;
    assert_eq!(
        get_status(&server.url("/healthz")).await,
        Some(200),
        "alive"
    );
    cluster.start_again();
    wait_for_status(&server.url("/readyz"), 200).await;

    assert_eq!(
        sign_in(&server.base, "before@example.com", "password before").await,
        303
    );
    assert_eq!(
        sign_up(&server.base, "after@example.com", "password after!").await,
        303
    );
    assert_eq!(
        sign_in(&server.base, "after@example.com", "password after!").await,
        303
    );
}

/// A PostgreSQL cluster of one test, which it stops and starts (the shared
/// one of `shared_pg` must never be stopped). `fsync` stays on: this cluster
/// is crashed on purpose.
pub mod private_pg {
    use std::net::TcpListener;
    use std::path::PathBuf;
    use std::process::{Command, Stdio};

    pub struct Cluster {
        bin: PathBuf,
        dir: PathBuf,
        port: u16,
        as_postgres: bool,
    }

    fn bin_dir() -> PathBuf {
        let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL is installed (scripts/test.sh installs it)")
            .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
            .filter(|bin| bin.join("initdb").exists())
            .collect();
        versions.sort();
        versions.pop().expect("PostgreSQL server binaries")
    }

    fn is_root() -> bool {
        Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
    }

    impl Cluster {
        pub fn start() -> Self {
            let mut suffix = [0u8; 8];
            ssi_token::Random::fill(&mut ssi_token::SystemRandom, &mut suffix);
            let dir = std::env::temp_dir().join(format!(
                "ssi-it-pg-{}-{}",
                std::process::id(),
                u64::from_le_bytes(suffix)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("cluster dir");
            let cluster = Self {
                bin: bin_dir(),
                port: TcpListener::bind("127.0.0.1:0")
                    .and_then(|l| l.local_addr())
                    .expect("a free port")
                    .port(),
                as_postgres: is_root(),
                dir,
            };
            if cluster.as_postgres {
                let status = Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(&cluster.dir)
                    .status()
                    .expect("chown");
                assert!(status.success());
            }
            let output = cluster
                .command("initdb")
                .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
                .arg(cluster.data())
                .output()
                .expect("initdb");
            assert!(output.status.success(), "initdb: {output:?}");
            cluster.start_again();
            cluster.stop_when_this_process_ends();
            cluster
        }

        fn data(&self) -> PathBuf {
            self.dir.join("data")
        }

        fn command(&self, program: &str) -> Command {
            let bin = self.bin.join(program);
            if self.as_postgres {
                let mut command = Command::new("runuser");
                command.args(["-u", "postgres", "--"]).arg(bin);
                command
            } else {
                Command::new(bin)
            }
        }

        /// However the test process ends (even killed), the cluster stops.
        fn stop_when_this_process_ends(&self) {
            let script = format!(
                "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; \
                 {runuser}{pg_ctl} -D {data} -m immediate stop >/dev/null 2>&1; rm -rf {dir}",
                pid = std::process::id(),
                runuser = if self.as_postgres {
                    "runuser -u postgres -- "
                } else {
                    ""
                },
                pg_ctl = self.bin.join("pg_ctl").display(),
                data = self.data().display(),
                dir = self.dir.display(),
            );
            // The watcher outlives this process by design: never waited for.
            #[allow(clippy::zombie_processes)]
            Command::new("sh")
                .args(["-c", &script])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn the cluster's watcher");
        }

        pub fn url(&self) -> String {
            format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
        }

        pub fn start_again(&self) {
            let status = self
                .command("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .arg("-l")
                .arg(self.dir.join("log"))
                .arg("-o")
                .arg(format!(
                    "-p {} -k {} -c listen_addresses=127.0.0.1",
                    self.port,
                    self.dir.display()
                ))
                .args(["-w", "start"])
                .stdout(Stdio::null())
                .status()
                .expect("pg_ctl start");
            assert!(
                status.success(),
                "pg_ctl start; see {:?}",
                self.dir.join("log")
            );
        }

        /// `pg_ctl stop -m immediate`: like a crash of the database server.
        pub fn stop(&self) {
            let status = self
                .command("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .args(["-m", "immediate", "-w", "stop"])
                .stdout(Stdio::null())
                .status()
                .expect("pg_ctl stop");
            assert!(status.success(), "pg_ctl stop");
        }
    }

    impl Drop for Cluster {
        fn drop(&mut self) {
            let _ = self
                .command("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .args(["-m", "immediate", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

// ---------------------------------------------------------------------------
// Several nodes

/// Inserts, the server's way, what a link request needs: an owner account
/// with a device (returns its credential) and a developer's app bound to
/// `idp` with an app key sealed under `master_keys` (returns its public key).
async fn link_fixtures(
    database_url: &str,
    master_keys: &str,
    package_id: &str,
    idp: &str,
) -> (String, ssi_token::AppPublicKey) {
    use ssi_server::encoding::secret_hash;
    use ssi_server::random::{SystemRandomSource, new_secret};

    sqlx::any::install_default_drivers();
    let db = sqlx::AnyPool::connect(database_url)
        .await
        .expect("database");
    let credential = new_secret(&SystemRandomSource, "ssid_");
    let keys = ssi_server::secrets::MasterKeys::parse(master_keys).expect("keys");
    let app_key = loop {
        let mut d = [0u8; 32];
        ssi_token::Random::fill(&mut ssi_token::SystemRandom, &mut d);
        if let Ok(key) = ssi_token::AppKeyPair::from_private_scalar(&d) {
            break (key, d);
        }
    };
    let (sealed, version) = keys.seal(app_key.0.kid().as_bytes(), &app_key.1, &SystemRandomSource);
    let public_jwk = serde_json::to_string(&app_key.0.public_key().to_jwk()).expect("jwk");
    let statements: [(&str, Vec<String>); 5] = [
        (
            "INSERT INTO accounts (id, email, password_hash, ssi_enabled, region, is_developer, created_at) \
             VALUES ('acct_owner', 'owner@example.com', 'x', TRUE, 'default', FALSE, 0), \
             ('acct_dev', 'dev@example.com', 'x', TRUE, 'default', TRUE, 0)",
            vec![],
        ),
        (
            "INSERT INTO devices (id, account_id, name, credential_hash, ssi_enabled, mode, created_at) \
             VALUES ('dev_tv', 'acct_owner', 'TV', $1, TRUE, 'normal', 0)",
            vec![secret_hash(&credential)],
        ),
        (
            "INSERT INTO idps (id, developer_id, name, created_at) VALUES ('idp_race', 'acct_dev', $1, 0)",
            vec![idp.to_owned()],
        ),
        (
            "INSERT INTO apps (id, developer_id, package_id, display_name, idp_id, blocked, created_at) \
             VALUES ('app_race', 'acct_dev', $1, 'Race', 'idp_race', FALSE, 0)",
            vec![package_id.to_owned()],
        ),
        (
            "INSERT INTO app_keys (kid, app_id, private_sealed, master_key_version, public_jwk, created_at) \
             VALUES ($1, 'app_race', $2, $3, $4, 0)",
            vec![],
        ),
    ];
    for (sql, binds) in &statements[..4] {
        let mut query = sqlx::query(*sql);
        for bind in binds {
            query = query.bind(bind);
        }
        query.execute(&db).await.expect("fixture");
    }
    sqlx::query(statements[4].0)
        .bind(app_key.0.kid())
        .bind(sealed)
        .bind(version)
        .bind(public_jwk)
        .execute(&db)
        .await
        .expect("app key");
    db.close().await;
    (credential, app_key.0.public_key())
}

#[tokio::test]
async fn two_server_processes_on_one_postgres_make_one_link_of_the_same_request() {
    const PACKAGE: &str = "com.example.race";
    const IDP: &str = "race-idp";
    let database_url = shared_pg::fresh_database().await;
    let master_keys = master_keys_value(1);
    let dirs = [temp_dir(), temp_dir()];
    // Both nodes start at once: migrations and the shared secret race too.
    let servers: Vec<Server> = std::thread::scope(|scope| {
        let starts: Vec<_> = dirs
            .iter()
            .map(|dir| {
                let data_dir = dir.path().display().to_string();
                let (url, keys) = (&database_url, &master_keys);
                scope.spawn(move || {
                    Server::start(
                        &["--data-dir", &data_dir],
                        &[("SSI_DATABASE_URL", url), ("SSI_MASTER_KEYS", keys)],
                    )
                })
            })
            .collect();
        starts
            .into_iter()
            .map(|s| s.join().expect("started"))
            .collect()
    });
    let (credential, app_public_key) =
        link_fixtures(&database_url, &master_keys, PACKAGE, IDP).await;
    let link_token_key = ssi_token::LinkTokenKey::generate(&mut ssi_token::SystemRandom);
    let client = http();
    let rounds = 8;
    for round in 0..rounds {
        let partner_user_id = format!("partner-user-{round}");
        let issued = ssi_token::issue_link(
            &partner_user_id,
            "ssi1.u.someone",
            std::collections::BTreeMap::new(),
            &link_token_key,
            &app_public_key,
            1_700_000_000,
            &mut ssi_token::SystemRandom,
        );
        let body = serde_json::json!({
            "packageId": PACKAGE,
            "request": {
                "partnerUserId": partner_user_id,
                "identityProviderName": IDP,
                "userLoginName": "racer",
                "linkToken": { "token": issued.link_token, "schema": "LINK-TOKEN-1.0" },
                "linkSigningKey": issued.sealed_signing_key,
            },
        });
        let call = |server: &Server| {
            client
                .post(server.url("/v1/device/links"))
                .bearer_auth(&credential)
                .json(&body)
                .send()
        };
        // The same request reaches both processes at once.
        let (a, b) = tokio::join!(call(&servers[0]), call(&servers[1]));
        let mut answers = Vec::new();
        for response in [a, b] {
            let response = response.expect("answered");
            assert_eq!(response.status().as_u16(), 200);
            let json: Value = response.json().await.expect("JSON");
            assert_eq!(json["requestStatus"], "SUCCESSFUL", "{json}");
            answers.push(json);
        }
        let mut codes: Vec<&str> = answers
            .iter()
            .map(|a| a["successCode"].as_str().expect("successCode"))
            .collect();
        codes.sort_unstable();
        assert_eq!(
            codes,
            ["LINK_ALREADY_EXISTS", "LINK_ESTABLISHED"],
            "round {round}"
        );
        assert_eq!(answers[0]["linkId"], answers[1]["linkId"], "round {round}");
    }
    sqlx::any::install_default_drivers();
    let db = sqlx::AnyPool::connect(&database_url)
        .await
        .expect("database");
    let count = |sql: &'static str| {
        let db = db.clone();
        async move {
            sqlx::query(sql)
                .fetch_one(&db)
                .await
                .expect("count")
                .try_get::<i64, _>(0)
                .expect("integer")
        }
    };
    assert_eq!(count("SELECT COUNT(*) FROM links").await, rounds);
    assert_eq!(
        count("SELECT COUNT(*) FROM audit_log WHERE action = 'link.create'").await,
        rounds
    );
}

/// Links acknowledged (group commit on SQLite) while others are still in
/// flight are there after `kill -9` and a restart; whatever committed,
/// acknowledged or not, committed whole (link, `ENABLE_SSI` event, audit
/// entry).
#[tokio::test]
async fn acknowledged_links_survive_kill_9_on_sqlite() {
    const PACKAGE: &str = "com.example.durable";
    const IDP: &str = "durable-idp";
    let place = Place::new(Backend::Sqlite).await;
    let args = place.args();
    let master_keys = master_keys_value(1);
    let env = [("SSI_MASTER_KEYS", master_keys.as_str())];
    let mut server = Server::start(&strs(&args), &env);
    let (credential, app_public_key) =
        link_fixtures(&place.sql_url(), &master_keys, PACKAGE, IDP).await;
    let link_token_key = ssi_token::LinkTokenKey::generate(&mut ssi_token::SystemRandom);
    let client = http();
    // 32: the most links of one account and IDP.
    let mut calls = tokio::task::JoinSet::new();
    for n in 0..32 {
        let partner_user_id = format!("partner-user-{n}");
        let issued = ssi_token::issue_link(
            &partner_user_id,
            "ssi1.u.someone",
            std::collections::BTreeMap::new(),
            &link_token_key,
            &app_public_key,
            1_700_000_000,
            &mut ssi_token::SystemRandom,
        );
        let body = serde_json::json!({
            "packageId": PACKAGE,
            "request": {
                "partnerUserId": partner_user_id,
                "identityProviderName": IDP,
                "userLoginName": "durable",
                "linkToken": { "token": issued.link_token, "schema": "LINK-TOKEN-1.0" },
                "linkSigningKey": issued.sealed_signing_key,
            },
        });
        let request = client
            .post(server.url("/v1/device/links"))
            .bearer_auth(&credential)
            .json(&body);
        calls.spawn(async move {
            let response = request.send().await.ok()?;
            let json: Value = response.json().await.ok()?;
            (json["successCode"] == "LINK_ESTABLISHED")
                .then(|| json["linkId"].as_str().map(str::to_owned))
                .flatten()
        });
    }
    // Killed as soon as the first link is acknowledged, the rest in flight.
    let mut acknowledged = Vec::new();
    while let Some(answer) = calls.join_next().await {
        if let Some(link_id) = answer.expect("call task") {
            acknowledged.push(link_id);
            break;
        }
    }
    server.kill9();
    while let Some(answer) = calls.join_next().await {
        acknowledged.extend(answer.expect("call task"));
    }
    assert!(!acknowledged.is_empty(), "at least one link acknowledged");
    let server = Server::start(&strs(&args), &env);
    let db = sqlx::AnyPool::connect(&place.sql_url())
        .await
        .expect("database");
    for link_id in &acknowledged {
        let found = sqlx::query("SELECT COUNT(*) FROM links WHERE id = $1")
            .bind(link_id)
            .fetch_one(&db)
            .await
            .expect("count")
            .try_get::<i64, _>(0)
            .expect("integer");
        assert_eq!(found, 1, "acknowledged link {link_id} lost after kill -9");
    }
    let count = |sql: &'static str| {
        let db = db.clone();
        async move {
            sqlx::query(sql)
                .fetch_one(&db)
                .await
                .expect("count")
                .try_get::<i64, _>(0)
                .expect("integer")
        }
    };
    let links = count("SELECT COUNT(*) FROM links").await;
    assert!(links >= i64::try_from(acknowledged.len()).expect("small"));
    assert_eq!(
        count("SELECT COUNT(*) FROM metric_events WHERE event = 'ENABLE_SSI'").await,
        links
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM audit_log WHERE action = 'link.create'").await,
        links
    );
    db.close().await;
    drop(server);
}
