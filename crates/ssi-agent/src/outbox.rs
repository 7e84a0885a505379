//! Delivery of the durable outbox (DESIGN.md section 3, "Metrics"): metric
//! events in batches to `POST /v1/device/metrics`, consent denials one by one
//! to `POST /v1/device/consent-denied`. Every item carries the `eventId` it was
//! given when it was queued, so a retry after a lost answer, an agent restart or
//! a server outage is counted once by the server. An item leaves the outbox
//! only after the server answered for it.

use std::sync::Arc;
use std::time::Duration;

use ssi_proto::RequestStatus;
use ssi_proto::device::{DeviceMetricEvent, MetricsBatch, MetricsBatchResponse, StatusResponse};
use tokio::sync::watch;

use crate::flows::Agent;
use crate::server::ServerError;
use crate::socket::until_stopped;
use crate::store::{OutboxKind, StoreError};

/// Consent denials sent per round.
const CONSENT_DENIALS_PER_ROUND: usize = 50;
/// Even with nothing signalled, the outbox is looked at this often.
const IDLE_CHECK: Duration = Duration::from_secs(60);

/// Why a delivery round stopped.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The server did not take the items (they stay queued).
    #[error(transparent)]
    Server(#[from] ServerError),
    /// The agent database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// Items the server acknowledged (stored now or before) and that left the outbox.
    pub acknowledged: usize,
    /// Items the server refused for good (logged, dropped).
    pub rejected: usize,
}

/// Sends what is queued: one batch of metric events and a round of consent
/// denials. Returns what left the outbox.
pub async fn deliver_once(agent: &Agent) -> Result<Delivered, DeliveryError> {
    let mut delivered = Delivered::default();
    let store = agent.store();
    let items = store
        .list_outbox(OutboxKind::Metric, agent.config().outbox_batch_size)
        .await?;
    if !items.is_empty() {
        let mut seqs = Vec::with_capacity(items.len());
        let mut events = Vec::with_capacity(items.len());
        for item in &items {
            seqs.push(item.seq);
            match serde_json::from_str::<DeviceMetricEvent>(&item.body) {
                Ok(event) => events.push(event),
                Err(e) => {
                    tracing::error!(seq = item.seq, error = %e, "unreadable outbox item dropped");
                    delivered.rejected += 1;
                }
            }
        }
        if !events.is_empty() {
            let batch = MetricsBatch { events };
            match agent
                .server()
                .post::<_, MetricsBatchResponse>("/v1/device/metrics", &batch)
                .await
            {
                Ok(answer) => {
                    for rejected in &answer.rejected {
                        tracing::warn!(
                            event_id = batch.events.get(rejected.index).map(|e| e.event_id.as_str()),
                            field = %rejected.field,
                            message = %rejected.message,
                            "the server refused a metric event; dropped"
                        );
                    }
                    delivered.acknowledged += answer.accepted + answer.duplicates;
                    delivered.rejected += answer.rejected.len();
                }
                // A batch refused as a whole would be refused forever: drop it
                // rather than block every later event.
                Err(ServerError::Refused { status, message }) => {
                    tracing::error!(status, %message, events = batch.events.len(), "the server refused a metric batch; dropped");
                    delivered.rejected += batch.events.len();
                }
                Err(e) => return Err(e.into()),
            }
        }
        store.delete_outbox(&seqs).await?;
    }
    let denials = store
        .list_outbox(OutboxKind::ConsentDenied, CONSENT_DENIALS_PER_ROUND)
        .await?;
    for item in denials {
        let body: serde_json::Value = match serde_json::from_str(&item.body) {
            Ok(body) => body,
            Err(e) => {
                tracing::error!(seq = item.seq, error = %e, "unreadable outbox item dropped");
                store.delete_outbox(&[item.seq]).await?;
                delivered.rejected += 1;
                continue;
            }
        };
        match agent
            .server()
            .post::<_, StatusResponse>("/v1/device/consent-denied", &body)
            .await
        {
            Ok(answer) => {
                if answer.request_status == RequestStatus::Successful {
                    delivered.acknowledged += 1;
                } else {
                    // Turned off or unknown app: nothing for the server to count.
                    tracing::info!(status = %answer.request_status, "consent denial not recorded by the server");
                    delivered.rejected += 1;
                }
            }
            Err(ServerError::Refused { status, message }) => {
                tracing::error!(status, %message, "the server refused a consent denial; dropped");
                delivered.rejected += 1;
            }
            Err(e) => return Err(e.into()),
        }
        store.delete_outbox(&[item.seq]).await?;
    }
    Ok(delivered)
}

/// Delivers until `stop`: at once when something is queued, again while a
/// round made progress, with doubling waits (from `outbox_retry_min_ms` up to
/// `outbox_retry_max_ms`) while the server does not take the items.
pub async fn run_outbox(agent: Arc<Agent>, mut stop: watch::Receiver<bool>) {
    let wake = agent.outbox_wake();
    let min = Duration::from_millis(agent.config().outbox_retry_min_ms);
    let max = Duration::from_millis(agent.config().outbox_retry_max_ms);
    let mut backoff = min;
    loop {
        let wait = match deliver_once(&agent).await {
            Ok(delivered) if delivered.acknowledged + delivered.rejected > 0 => {
                backoff = min;
                continue;
            }
            Ok(_) => {
                backoff = min;
                IDLE_CHECK
            }
            Err(e) => {
                let queued = agent.store().count_outbox().await.unwrap_or(-1);
                tracing::warn!(error = %e, queued, retry_in_ms = backoff.as_millis() as u64, "outbox delivery failed");
                let wait = backoff;
                backoff = (backoff * 2).min(max);
                wait
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            // New items are sent at once unless the server is failing (then
            // they wait for the backoff, like the rest).
            _ = wake.notified(), if backoff == min => {}
            () = until_stopped(&mut stop) => return,
        }
    }
}
