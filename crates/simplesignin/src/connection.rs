//! One connection to the app socket, shared by every call: request lines go out
//! under a lock, a reader task hands each response to its caller by `id`. A
//! broken connection fails its calls in flight (`RETRYABLE_FAILURE`) and the
//! next call opens a new one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use ssi_proto::app_socket::{AppMethod, AppRequestEnvelope, AppResponseEnvelope, PROTOCOL_VERSION};
use ssi_proto::limits::MAX_MESSAGE_BYTES;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::oneshot;

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Value>>>>;

/// Why a call got no answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CallError {
    /// Nothing listens at the path.
    #[error(
        "no Simple Sign-In agent at {path} ({reason}); is the agent running and the app installed?"
    )]
    NoAgent { path: String, reason: String },
    /// The agent closed the connection before answering.
    #[error("the Simple Sign-In agent closed the connection before answering; retry")]
    Closed,
    /// The request line would be over the protocol's limit.
    #[error(
        "the request is {len} bytes, over the limit of {MAX_MESSAGE_BYTES} bytes of one message"
    )]
    TooLarge { len: usize },
}

struct Open {
    writer: OwnedWriteHalf,
    pending: Pending,
    /// Ended by the reader task when the connection breaks.
    is_alive: Arc<std::sync::atomic::AtomicBool>,
}

pub(crate) struct Connection {
    path: PathBuf,
    open: tokio::sync::Mutex<Option<Open>>,
    next_id: AtomicU64,
}

impl Connection {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path,
            open: tokio::sync::Mutex::new(None),
            next_id: AtomicU64::new(1),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Sends one request and waits for its result.
    pub(crate) async fn call(&self, method: AppMethod, params: Value) -> Result<Value, CallError> {
        let id = format!("r{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        let request = AppRequestEnvelope {
            protocol: PROTOCOL_VERSION,
            id: id.clone(),
            method: method.as_str().to_owned(),
            params,
        };
        let mut line = serde_json::to_vec(&request).expect("a request serializes");
        line.push(b'\n');
        if line.len() > MAX_MESSAGE_BYTES {
            return Err(CallError::TooLarge { len: line.len() });
        }
        let (tx, rx) = oneshot::channel();
        {
            let mut open = self.open.lock().await;
            if !open
                .as_ref()
                .is_some_and(|o| o.is_alive.load(Ordering::SeqCst))
            {
                *open = Some(self.connect().await?);
            }
            let conn = open.as_mut().expect("just opened");
            lock(&conn.pending).insert(id.clone(), tx);
            if conn.writer.write_all(&line).await.is_err() {
                lock(&conn.pending).remove(&id);
                conn.is_alive.store(false, Ordering::SeqCst);
                return Err(CallError::Closed);
            }
        }
        rx.await.map_err(|_| CallError::Closed)
    }

    async fn connect(&self) -> Result<Open, CallError> {
        let stream = UnixStream::connect(&self.path)
            .await
            .map_err(|e| CallError::NoAgent {
                path: self.path.display().to_string(),
                reason: e.to_string(),
            })?;
        let (read, writer) = stream.into_split();
        let pending: Pending = Arc::default();
        let is_alive = Arc::new(std::sync::atomic::AtomicBool::new(true));
        tokio::spawn(read_responses(read, pending.clone(), is_alive.clone()));
        Ok(Open {
            writer,
            pending,
            is_alive,
        })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Hands each response line to the caller waiting for its id. A line for no
/// caller (`id: null`: the agent could not read a request) is dropped: every
/// request this SDK writes is well-formed, so it cannot be one of ours.
async fn read_responses(
    read: tokio::net::unix::OwnedReadHalf,
    pending: Pending,
    is_alive: Arc<std::sync::atomic::AtomicBool>,
) {
    let mut reader = BufReader::new(read);
    let mut line = Vec::new();
    loop {
        line.clear();
        let mut bounded = (&mut reader).take(MAX_MESSAGE_BYTES as u64);
        match bounded.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) if line.last() != Some(&b'\n') => break,
            Ok(_) => {}
        }
        let Ok(response) = serde_json::from_slice::<AppResponseEnvelope>(&line) else {
            continue;
        };
        if let Some(id) = response.id
            && let Some(waiter) = lock(&pending).remove(&id)
        {
            let _ = waiter.send(response.result);
        }
    }
    is_alive.store(false, Ordering::SeqCst);
    // Dropping the senders fails every call still waiting (Closed).
    lock(&pending).clear();
}
