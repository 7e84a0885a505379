//! The app sockets and their protocol (docs/app-protocol.md): one Unix socket
//! per installed app, one JSON object per line of at most 64 KiB, many
//! requests per connection answered in any order.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;
use ssi_proto::RequestStatus;
use ssi_proto::app_socket::{
    AppMethod, AppResponseEnvelope, EnvelopeError, PROTOCOL_VERSION, validate_request_id,
};
use ssi_proto::limits::MAX_MESSAGE_BYTES;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Notify, Semaphore, mpsc, watch};

use crate::flows::Agent;
use crate::store::InstalledApp;

/// Requests of one connection being worked on at once; the next line is read
/// when one finishes.
const MAX_IN_FLIGHT_PER_CONNECTION: usize = 64;

/// A request line, read far enough to be dispatched, or the answer refusing it.
#[derive(Debug, Clone, PartialEq)]
pub enum ParsedLine {
    /// Well-formed: run `method` with `params`.
    Request {
        /// The SDK's request id.
        id: String,
        /// The method.
        method: AppMethod,
        /// Its argument, read by the method.
        params: Value,
    },
    /// Refused before any method ran.
    Refused(AppResponseEnvelope),
}

fn refusal(id: Option<String>, status: RequestStatus, message: String) -> ParsedLine {
    ParsedLine::Refused(envelope(
        id,
        serde_json::to_value(EnvelopeError {
            request_status: status,
            message,
        })
        .expect("an envelope error serializes"),
    ))
}

fn envelope(id: Option<String>, result: Value) -> AppResponseEnvelope {
    AppResponseEnvelope {
        protocol: PROTOCOL_VERSION,
        id,
        result,
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads one request line (without its `\n`), in the order of
/// docs/app-protocol.md: a JSON object; its `protocol` (`NOT_SUPPORTED` when it
/// is another version); `protocol`, `id`, `method` and `params` all present;
/// a valid `id`; a known `method`.
pub fn parse_request_line(line: &[u8]) -> ParsedLine {
    let failure = |message: String| refusal(None, RequestStatus::Failure, message);
    let value: Value = match serde_json::from_slice(line) {
        Ok(value) => value,
        Err(e) => return failure(format!("the line is not JSON ({e})")),
    };
    let Value::Object(mut object) = value else {
        return failure(format!(
            "the line must be a JSON object with protocol, id, method and params (got {})",
            json_kind(&value)
        ));
    };
    let valid_id = object
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| validate_request_id(id).is_ok())
        .map(str::to_owned);
    if let Some(protocol) = object.get("protocol")
        && protocol.as_u64() != Some(u64::from(PROTOCOL_VERSION))
    {
        return refusal(
            valid_id,
            RequestStatus::NotSupported,
            format!("protocol: this agent speaks version {PROTOCOL_VERSION} (got {protocol})"),
        );
    }
    for field in ["protocol", "id", "method", "params"] {
        if !object.contains_key(field) {
            return failure(format!(
                "{field}: required (a request has protocol, id, method and params)"
            ));
        }
    }
    let id = match object.get("id") {
        Some(Value::String(id)) => match validate_request_id(id) {
            Ok(()) => id.clone(),
            Err(e) => return failure(e.to_string()),
        },
        Some(other) => return failure(format!("id: must be a string (got {})", json_kind(other))),
        None => unreachable!("checked above"),
    };
    let method = match object.get("method") {
        Some(Value::String(name)) => match AppMethod::from_name(name) {
            Some(method) => method,
            None => {
                let known: Vec<&str> = AppMethod::ALL.iter().map(|m| m.as_str()).collect();
                let shown: String = name.chars().take(64).collect();
                return refusal(
                    Some(id),
                    RequestStatus::Failure,
                    format!(
                        "method: unknown method {shown:?} (expected one of {})",
                        known.join(", ")
                    ),
                );
            }
        },
        Some(other) => {
            return refusal(
                Some(id),
                RequestStatus::Failure,
                format!("method: must be a string (got {})", json_kind(other)),
            );
        }
        None => unreachable!("checked above"),
    };
    let params = object.remove("params").unwrap_or(Value::Null);
    ParsedLine::Request { id, method, params }
}

/// Returns once `stop` holds true (or its sender is gone).
pub async fn until_stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// One response line with its `\n`.
pub fn encode_line(response: &AppResponseEnvelope) -> Vec<u8> {
    let mut line = serde_json::to_vec(response).expect("a response serializes");
    line.push(b'\n');
    line
}

/// Counts request tasks, so that shutdown can wait for them.
#[derive(Clone, Default)]
pub struct InFlight {
    inner: Arc<(AtomicUsize, Notify)>,
}

/// Held by one request task.
pub struct InFlightGuard {
    inner: Arc<(AtomicUsize, Notify)>,
}

impl InFlight {
    fn enter(&self) -> InFlightGuard {
        self.inner.0.fetch_add(1, Ordering::SeqCst);
        InFlightGuard {
            inner: self.inner.clone(),
        }
    }

    /// Requests being worked on.
    pub fn count(&self) -> usize {
        self.inner.0.load(Ordering::SeqCst)
    }

    /// Returns once no request is being worked on.
    pub async fn idle(&self) {
        loop {
            let notified = self.inner.1.notified();
            if self.count() == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if self.inner.0.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.inner.1.notify_waiters();
        }
    }
}

/// Creates `<run dir>/apps/<package id>.sock` for `app`: bound in a private
/// staging directory, made 0600 and owned by the app's uid, then renamed into
/// place, so the socket is never reachable with looser permissions.
pub fn bind_app_socket(
    run_dir: &Path,
    app: &InstalledApp,
) -> std::io::Result<(UnixListener, PathBuf)> {
    use std::os::unix::fs::PermissionsExt;
    let staging = run_dir.join(".staging");
    let staged = staging.join(format!("{}.sock", app.package_id));
    let path = socket_path(run_dir, &app.package_id);
    let _ = std::fs::remove_file(&staged);
    let listener = UnixListener::bind(&staged)?;
    std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o600))?;
    if let Some(uid) = app.uid {
        std::os::unix::fs::chown(&staged, Some(uid), None).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("giving the socket of {} to uid {uid}: {e}", app.package_id),
            )
        })?;
    }
    std::fs::rename(&staged, &path)?;
    Ok((listener, path))
}

/// `<run dir>/apps/<package id>.sock`.
pub fn socket_path(run_dir: &Path, package_id: &str) -> PathBuf {
    run_dir.join("apps").join(format!("{package_id}.sock"))
}

/// Creates the run directory, its `apps/` (both traversable by the apps) and
/// the private staging directory.
pub fn prepare_run_dir(run_dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for (dir, mode) in [
        (run_dir.to_owned(), 0o755),
        (run_dir.join("apps"), 0o755),
        (run_dir.join(".staging"), 0o700),
    ] {
        std::fs::create_dir_all(&dir)?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

/// Accepts connections on an app's socket until `stop` turns true.
pub async fn serve_app(
    listener: UnixListener,
    app: Arc<InstalledApp>,
    agent: Arc<Agent>,
    in_flight: InFlight,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(package_id = %app.package_id, error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = until_stopped(&mut stop) => return,
        };
        tokio::spawn(serve_connection(
            stream,
            app.clone(),
            agent.clone(),
            in_flight.clone(),
            stop.clone(),
        ));
    }
}

/// Whether the peer may use this app's socket: with a uid configured, only
/// that uid (SO_PEERCRED), whoever else could open the file (root).
fn peer_refusal(stream: &UnixStream, app: &InstalledApp) -> Option<String> {
    let uid = app.uid?;
    match stream.peer_cred() {
        Ok(cred) if cred.uid() == uid => None,
        Ok(cred) => Some(format!(
            "this socket belongs to another app: uid {} may not use it",
            cred.uid()
        )),
        Err(e) => Some(format!("the caller's uid could not be read ({e})")),
    }
}

async fn serve_connection(
    stream: UnixStream,
    app: Arc<InstalledApp>,
    agent: Arc<Agent>,
    in_flight: InFlight,
    mut stop: watch::Receiver<bool>,
) {
    if let Some(reason) = peer_refusal(&stream, &app) {
        tracing::warn!(package_id = %app.package_id, %reason, "connection refused");
        let mut stream = stream;
        let ParsedLine::Refused(response) = refusal(None, RequestStatus::Failure, reason) else {
            unreachable!()
        };
        let _ = stream.write_all(&encode_line(&response)).await;
        let _ = stream.shutdown().await;
        return;
    }
    let (read, mut write) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(MAX_IN_FLIGHT_PER_CONNECTION);
    let writer = tokio::spawn(async move {
        while let Some(line) = rx.recv().await {
            if write.write_all(&line).await.is_err() {
                return;
            }
        }
        let _ = write.shutdown().await;
    });
    let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT_PER_CONNECTION));
    let mut reader = BufReader::new(read);
    let mut line = Vec::with_capacity(1024);
    loop {
        line.clear();
        let limit = MAX_MESSAGE_BYTES as u64;
        let mut bounded = (&mut reader).take(limit);
        let read = tokio::select! {
            read = bounded.read_until(b'\n', &mut line) => read,
            () = until_stopped(&mut stop) => break,
        };
        match read {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let complete = line.last() == Some(&b'\n');
        if !complete && line.len() >= MAX_MESSAGE_BYTES {
            // The rest of the line cannot be told from the next request.
            tracing::info!(package_id = %app.package_id, "oversize line: connection closed");
            let ParsedLine::Refused(response) = refusal(
                None,
                RequestStatus::Failure,
                format!(
                    "the line is longer than {MAX_MESSAGE_BYTES} bytes including its newline \
                     (one message on an app socket: at most 64 KiB); the connection is closed"
                ),
            ) else {
                unreachable!()
            };
            let _ = tx.send(encode_line(&response)).await;
            break;
        }
        let body = line.strip_suffix(b"\n").unwrap_or(&line);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        match parse_request_line(body) {
            ParsedLine::Refused(response) => {
                tracing::info!(package_id = %app.package_id, result = %response.result, "request line refused");
                if tx.send(encode_line(&response)).await.is_err() {
                    break;
                }
            }
            ParsedLine::Request { id, method, params } => {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    break;
                };
                let guard = in_flight.enter();
                let (agent, app, tx) = (agent.clone(), app.clone(), tx.clone());
                tokio::spawn(async move {
                    let _permit = permit;
                    let _guard = guard;
                    let result = run_isolated(agent, app, method, params).await;
                    let _ = tx.send(encode_line(&envelope(Some(id), result))).await;
                });
            }
        }
        if !complete {
            break; // the peer closed after a last line without `\n`
        }
    }
    drop(tx);
    let _ = writer.await;
}

/// Runs a method in its own task: a bug that panics answers `FAILURE` instead
/// of leaving the app waiting, and takes nothing else down.
async fn run_isolated(
    agent: Arc<Agent>,
    app: Arc<InstalledApp>,
    method: AppMethod,
    params: Value,
) -> Value {
    let package_id = app.package_id.clone();
    let task = tokio::spawn(async move { agent.call(&app, method, params).await });
    match task.await {
        Ok(result) => result,
        Err(e) => {
            tracing::error!(%package_id, method = method.as_str(), error = %e, "request task failed");
            serde_json::to_value(EnvelopeError {
                request_status: RequestStatus::Failure,
                message: "internal error in the agent; see the agent's log".to_owned(),
            })
            .expect("an envelope error serializes")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(line: &str) -> (Option<String>, String, String) {
        match parse_request_line(line.as_bytes()) {
            ParsedLine::Refused(response) => (
                response.id,
                response.result["requestStatus"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                response.result["message"].as_str().unwrap().to_owned(),
            ),
            other => panic!("{line}: not refused: {other:?}"),
        }
    }

    #[test]
    fn envelope_errors_in_the_documented_order() {
        let cases: &[(&str, Option<&str>, &str, &str)] = &[
            ("garbage", None, "FAILURE", "the line is not JSON"),
            ("[1,2]", None, "FAILURE", "must be a JSON object"),
            (
                r#"{"protocol":2,"id":"a","method":"x"}"#,
                Some("a"),
                "NOT_SUPPORTED",
                "version 1 (got 2)",
            ),
            (
                r#"{"protocol":"1","id":"a b"}"#,
                None,
                "NOT_SUPPORTED",
                "got \"1\"",
            ),
            (
                r#"{"protocol":1,"id":"a","method":"getUserAndLinks"}"#,
                None,
                "FAILURE",
                "params: required",
            ),
            (
                r#"{"protocol":1,"id":"a b","method":"m","params":{}}"#,
                None,
                "FAILURE",
                "id: must be 1-64",
            ),
            (
                r#"{"protocol":1,"id":7,"method":"m","params":{}}"#,
                None,
                "FAILURE",
                "id: must be a string",
            ),
            (
                r#"{"protocol":1,"id":"r1","method":"deleteEverything","params":{}}"#,
                Some("r1"),
                "FAILURE",
                "unknown method \"deleteEverything\"",
            ),
            (
                r#"{"protocol":1,"id":"r1","method":3,"params":{}}"#,
                Some("r1"),
                "FAILURE",
                "method: must be a string",
            ),
        ];
        for (line, id, status, message) in cases {
            let (got_id, got_status, got_message) = refused(line);
            assert_eq!(got_id.as_deref(), *id, "{line}");
            assert_eq!(got_status, *status, "{line}");
            assert!(got_message.contains(message), "{line}: {got_message}");
        }
    }

    #[test]
    fn a_good_line_is_a_request() {
        let line = br#"{"protocol":1,"id":"r-1","method":"showLoginSelection","params":[]}"#;
        assert_eq!(
            parse_request_line(line),
            ParsedLine::Request {
                id: "r-1".into(),
                method: AppMethod::ShowLoginSelection,
                params: serde_json::json!([]),
            }
        );
    }
}
