//! Integration tests of the `ssi` binary (one test binary). Every test runs
//! the built binary in its own temporary directory through [`check`].

mod admin;
mod agent;
mod agent_e2e;
mod bench;
mod bench_server;
mod flow;
mod input;
mod js_sdk;
mod keygen;
mod report;
mod server;
mod up;
mod vectors;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

/// One run of `ssi` and what it must produce.
pub struct Case<'a> {
    pub args: Vec<String>,
    pub stdin: Option<&'a str>,
    pub code: i32,
    pub stdout_has: Vec<&'a str>,
    pub stderr_has: Vec<&'a str>,
}

/// `ssi ARGS…`, expected to exit 0 unless told otherwise.
pub fn case<'a>(args: &[&str]) -> Case<'a> {
    Case {
        args: args.iter().map(|&arg| arg.to_owned()).collect(),
        stdin: None,
        code: 0,
        stdout_has: Vec::new(),
        stderr_has: Vec::new(),
    }
}

impl<'a> Case<'a> {
    pub fn stdin(mut self, text: &'a str) -> Self {
        self.stdin = Some(text);
        self
    }

    pub fn code(mut self, code: i32) -> Self {
        self.code = code;
        self
    }

    pub fn stdout_has(mut self, fragments: &[&'a str]) -> Self {
        self.stdout_has.extend_from_slice(fragments);
        self
    }

    pub fn stderr_has(mut self, fragments: &[&'a str]) -> Self {
        self.stderr_has.extend_from_slice(fragments);
        self
    }
}

/// What a run printed.
pub struct Ran {
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|error| panic!("stdout is not JSON ({error}):\n{}", self.stdout))
    }
}

/// Runs `ssi` in `dir` and checks the exit status and that stdout and stderr
/// contain the expected fragments; returns the output for further checks.
pub fn check(dir: &Path, case: Case<'_>) -> Ran {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ssi"))
        .args(&case.args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the ssi binary starts");
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin
        .write_all(case.stdin.unwrap_or_default().as_bytes())
        .expect("stdin is written");
    drop(stdin);
    let output = child.wait_with_output().expect("the ssi binary finishes");
    let ran = Ran {
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    };
    let context = format!(
        "ssi {}\n--- stdout:\n{}\n--- stderr:\n{}",
        case.args.join(" "),
        ran.stdout,
        ran.stderr
    );
    assert_eq!(
        output.status.code(),
        Some(case.code),
        "exit status of {context}"
    );
    for fragment in case.stdout_has {
        assert!(
            ran.stdout.contains(fragment),
            "stdout lacks {fragment:?}: {context}"
        );
    }
    for fragment in case.stderr_has {
        assert!(
            ran.stderr.contains(fragment),
            "stderr lacks {fragment:?}: {context}"
        );
    }
    ran
}

pub fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory")
}
