//! Raw business events (DESIGN.md section 3, "Metrics"): app events delivered
//! by the agents' outboxes and the events the server records itself
//! (`ENABLE_SSI`, `CONSENT_DENIED`). `(source, idempotency_key)` is the primary
//! key and every insert is `ON CONFLICT DO NOTHING`, so a retried delivery is
//! counted once. A new event adds its counts to the daily aggregates in the
//! same transaction (`store::metric_daily`); a duplicate adds nothing.

use std::collections::HashMap;

use sqlx::{AnyConnection, Row};

use super::metric_daily::{DailyDeltas, Params, add_daily_counts_on, add_event};
use super::{Store, StoreError};

/// Events per multi-row `INSERT` (7 parameters each, far below the
/// parameter limits of SQLite and PostgreSQL).
const INSERT_CHUNK: usize = 100;

/// One event as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricEventRow {
    /// A device id for app events, `server` for the server's own.
    pub source: String,
    /// Unique per source: the agent's `eventId`, or `enable:<link id>`, ….
    pub idempotency_key: String,
    pub app_id: String,
    /// The canonical wire spelling: `LOGIN_SUCCESS`, `ENABLE_SSI`, ….
    pub event: String,
    /// The canonical spelling of the `FailureReason`, with `LOGIN_FAILURE`.
    pub failure_reason: Option<String>,
    /// When it happened (epoch ms).
    pub occurred_at: i64,
    /// When the server got it (epoch ms).
    pub received_at: i64,
}

impl MetricEventRow {
    /// Adds this (new) event's counts to `deltas`.
    fn add_to(&self, deltas: &mut DailyDeltas) {
        add_event(
            deltas,
            &self.app_id,
            &self.event,
            self.failure_reason.as_deref(),
            self.occurred_at,
        );
    }
}

/// Inserts one event on a transaction, with its daily aggregate; `false`
/// when `(source, idempotency_key)` was recorded before.
pub(crate) async fn insert_metric_event_on(
    conn: &mut AnyConnection,
    event: &MetricEventRow,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO metric_events \
         (source, idempotency_key, app_id, event, failure_reason, occurred_at, received_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (source, idempotency_key) DO NOTHING",
    )
    .bind(&event.source)
    .bind(&event.idempotency_key)
    .bind(&event.app_id)
    .bind(&event.event)
    .bind(&event.failure_reason)
    .bind(event.occurred_at)
    .bind(event.received_at)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    let mut deltas = DailyDeltas::new();
    event.add_to(&mut deltas);
    add_daily_counts_on(conn, Params::Numbered, &deltas).await?;
    Ok(true)
}

impl Store {
    /// Records one event; `false` when it was recorded before.
    pub async fn insert_metric_event(&self, event: &MetricEventRow) -> Result<bool, StoreError> {
        crate::with_retry!(async {
            let mut tx = self.write.begin().await?;
            let is_new = insert_metric_event_on(&mut tx, event).await?;
            tx.commit().await?;
            Ok::<_, StoreError>(is_new)
        })
    }

    /// Records a batch, and the daily aggregates of its new events, in one
    /// transaction; returns how many were new (the rest were recorded
    /// before, or appear twice in the batch).
    pub async fn insert_metric_events(
        &self,
        events: &[MetricEventRow],
    ) -> Result<usize, StoreError> {
        if events.is_empty() {
            return Ok(0);
        }
        crate::with_retry!(self.try_insert_metric_events(events))
    }

    async fn try_insert_metric_events(
        &self,
        events: &[MetricEventRow],
    ) -> Result<usize, StoreError> {
        // 1. The usual case, every event new: no RETURNING (decoding the
        // returned rows costs about a fifth of the insert on SQLite); the
        // counts come from the batch itself.
        if let Some(inserted) = self.insert_events_in_tx(events, false).await? {
            return Ok(inserted);
        }
        // 2. Some were recorded before (a retried batch) or repeat inside
        // the batch: again, with RETURNING naming exactly the rows new now.
        Ok(self.insert_events_in_tx(events, true).await?.unwrap_or(0))
    }

    /// One transaction of raw inserts and aggregate updates. Without
    /// `returning`, rolls back and gives `None` as soon as a statement
    /// inserts fewer rows than it has (a duplicate among them).
    async fn insert_events_in_tx(
        &self,
        events: &[MetricEventRow],
        returning: bool,
    ) -> Result<Option<usize>, StoreError> {
        let mut tx = self.write.begin().await?;
        let mut inserted = 0;
        let mut deltas = DailyDeltas::new();
        for chunk in events.chunks(INSERT_CHUNK) {
            let values = Params::Fastest(self.dialect).values(chunk.len(), 7);
            // Only placeholders are formatted into the statement.
            let sql = format!(
                "INSERT INTO metric_events \
                 (source, idempotency_key, app_id, event, failure_reason, occurred_at, received_at) \
                 VALUES {values} ON CONFLICT (source, idempotency_key) DO NOTHING{}",
                if returning {
                    " RETURNING app_id, event, failure_reason, occurred_at"
                } else {
                    ""
                }
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for event in chunk {
                query = query
                    .bind(&event.source)
                    .bind(&event.idempotency_key)
                    .bind(&event.app_id)
                    .bind(&event.event)
                    .bind(&event.failure_reason)
                    .bind(event.occurred_at)
                    .bind(event.received_at);
            }
            if !returning {
                let done = query.execute(&mut *tx).await?.rows_affected();
                if usize::try_from(done).ok() != Some(chunk.len()) {
                    tx.rollback().await?;
                    return Ok(None);
                }
                for event in chunk {
                    event.add_to(&mut deltas);
                }
                inserted += chunk.len();
                continue;
            }
            // Only the rows inserted now come back, duplicates do not.
            for row in query.fetch_all(&mut *tx).await? {
                let app_id: String = row.try_get("app_id")?;
                let event: String = row.try_get("event")?;
                let failure_reason: Option<String> = row.try_get("failure_reason")?;
                let occurred_at: i64 = row.try_get("occurred_at")?;
                add_event(
                    &mut deltas,
                    &app_id,
                    &event,
                    failure_reason.as_deref(),
                    occurred_at,
                );
                inserted += 1;
            }
        }
        add_daily_counts_on(&mut tx, Params::Fastest(self.dialect), &deltas).await?;
        tx.commit().await?;
        Ok(Some(inserted))
    }

    /// App ids by package id, for the package ids that name an app.
    pub async fn find_app_ids_by_package(
        &self,
        package_ids: &[&str],
    ) -> Result<HashMap<String, String>, StoreError> {
        if package_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let placeholders: Vec<String> = (1..=package_ids.len()).map(|i| format!("${i}")).collect();
        // Only placeholders are formatted into the statement.
        let sql = format!(
            "SELECT package_id, id FROM apps WHERE package_id IN ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for package_id in package_ids {
            query = query.bind(*package_id);
        }
        let rows = query.fetch_all(&self.read).await?;
        rows.iter()
            .map(|row| Ok((row.try_get("package_id")?, row.try_get("id")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::Database)
    }
}
