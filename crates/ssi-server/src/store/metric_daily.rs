//! Daily aggregates of the business events per (app, UTC day), the table
//! the reports read (`reports.rs`, DESIGN.md section 8).
//!
//! **Maintenance**: every insert of a new raw event adds its counts here in
//! the same transaction ([`add_daily_counts_on`], called by
//! `store::metrics`), so the aggregates are exactly the raw events' sums at
//! every commit and a duplicate (an insert that did nothing) adds nothing.
//! A batch upserts its (app, day) keys in sorted order, so concurrent
//! batches on PostgreSQL lock aggregate rows in one order (no deadlock).
//!
//! **Recomputation** ([`Store::recompute_daily_aggregates`]) rebuilds one
//! day at a time from `metric_events`, in one transaction per day that first
//! stops concurrent event inserts: on SQLite the transaction holds the one
//! write lock; on PostgreSQL it takes `LOCK TABLE metric_events IN SHARE ROW
//! EXCLUSIVE MODE` (the one dialect-specific statement of the store: under
//! READ COMMITTED a concurrent first event of an (app, day) could otherwise
//! be lost or counted twice). Ingestion waits for that day's transaction.

use std::collections::BTreeMap;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Dialect, Store, StoreError};
use crate::reports::{DAY_MS, DailyAggregate, DailyCounts, UtcDate};

/// Aggregate rows per multi-row upsert (12 parameters each).
const UPSERT_CHUNK: usize = 50;

/// The counts of the raw events of one day, per app: the SQL twin of
/// [`DailyCounts::of_event`] (the tests compare the two).
const RECOMPUTE_DAY: &str = "INSERT INTO metric_daily (app_id, day, links_created, \
    consent_denied, login_success, login_failure, login_failure_unauthorized, \
    login_failure_bad_request, login_failure_not_found, login_failure_forbidden, \
    login_failure_internal_server_error, manual_signin_selected) \
    SELECT app_id, $1, \
    SUM(CASE WHEN event = 'ENABLE_SSI' THEN 1 ELSE 0 END), \
    SUM(CASE WHEN event = 'CONSENT_DENIED' THEN 1 ELSE 0 END), \
    SUM(CASE WHEN event = 'LOGIN_SUCCESS' THEN 1 ELSE 0 END), \
    SUM(CASE WHEN event = 'LOGIN_FAILURE' THEN 1 ELSE 0 END), \
    SUM(CASE WHEN event = 'LOGIN_FAILURE' AND failure_reason = 'UNAUTHORIZED' THEN 1 ELSE 0 END), \
    SUM(CASE WHEN event = 'LOGIN_FAILURE' AND failure_reason = 'BAD_REQUEST' THEN 1 ELSE 0 END), \
    SUM(CASE WHEN event = 'LOGIN_FAILURE' AND failure_reason = 'NOT_FOUND' THEN 1 ELSE 0 END), \
    SUM(CASE WHEN event = 'LOGIN_FAILURE' AND failure_reason = 'FORBIDDEN' THEN 1 ELSE 0 END), \
    SUM(CASE WHEN event = 'LOGIN_FAILURE' AND failure_reason = 'INTERNAL_SERVER_ERROR' \
        THEN 1 ELSE 0 END), \
    SUM(CASE WHEN event = 'MANUAL_SIGNIN_SELECTED' THEN 1 ELSE 0 END) \
    FROM metric_events WHERE occurred_at >= $2 AND occurred_at < $3 \
    GROUP BY app_id";

/// Counts to add, by (app id, day); sorted, which is the lock order.
pub(crate) type DailyDeltas = BTreeMap<(String, i64), DailyCounts>;

/// Adds one new raw event's counts to `deltas`.
pub(crate) fn add_event(
    deltas: &mut DailyDeltas,
    app_id: &str,
    event: &str,
    failure_reason: Option<&str>,
    occurred_at: i64,
) {
    let counts = DailyCounts::of_event(event, failure_reason);
    let day = UtcDate::containing(occurred_at).epoch_day();
    deltas
        .entry((app_id.to_owned(), day))
        .or_default()
        .add(&counts);
}

/// How a multi-row INSERT spells its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Params {
    /// `$1, $2, …`: both dialects; what a statement of a few rows uses.
    Numbered,
    /// `?, ?, …` on SQLite, where sqlx resolves each `$n` by name (a linear
    /// scan per parameter, quadratic in a statement of hundreds of them);
    /// numbered on PostgreSQL.
    Fastest(Dialect),
}

impl Params {
    /// `(…), (…)` for `rows` rows of `columns` parameters.
    pub(crate) fn values(self, rows: usize, columns: usize) -> String {
        let mut sql = String::with_capacity(rows * columns * 5);
        for row in 0..rows {
            sql.push_str(if row == 0 { "(" } else { ", (" });
            for column in 0..columns {
                if column > 0 {
                    sql.push_str(", ");
                }
                if self == Self::Fastest(Dialect::Sqlite) {
                    sql.push('?');
                } else {
                    sql.push('$');
                    sql.push_str(&(row * columns + column + 1).to_string());
                }
            }
            sql.push(')');
        }
        sql
    }
}

/// Adds `deltas` to the aggregates, on the raw events' transaction.
pub(crate) async fn add_daily_counts_on(
    conn: &mut AnyConnection,
    params: Params,
    deltas: &DailyDeltas,
) -> Result<(), sqlx::Error> {
    let entries: Vec<_> = deltas.iter().collect();
    let columns = DailyCounts::COLUMNS;
    let updates: Vec<String> = columns
        .iter()
        .map(|c| format!("{c} = metric_daily.{c} + excluded.{c}"))
        .collect();
    for chunk in entries.chunks(UPSERT_CHUNK) {
        let values = params.values(chunk.len(), 2 + columns.len());
        // Only column names and placeholders are formatted into the statement.
        let sql = format!(
            "INSERT INTO metric_daily (app_id, day, {}) VALUES {} \
             ON CONFLICT (app_id, day) DO UPDATE SET {}",
            columns.join(", "),
            values,
            updates.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for ((app_id, day), counts) in chunk {
            query = query.bind(app_id.as_str()).bind(*day);
            for value in counts.values() {
                query = query.bind(value);
            }
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

fn aggregate_from_row(row: &AnyRow) -> Result<DailyAggregate, sqlx::Error> {
    let mut values = [0i64; 10];
    for (value, column) in values.iter_mut().zip(DailyCounts::COLUMNS) {
        *value = row.try_get(column)?;
    }
    Ok(DailyAggregate {
        app_id: row.try_get("app_id")?,
        day: UtcDate::from_epoch_day(row.try_get("day")?),
        counts: DailyCounts::from_values(values),
    })
}

impl Store {
    /// The developer's apps as (id, display name), for the reports.
    pub async fn report_apps(
        &self,
        developer_id: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query("SELECT id, display_name FROM apps WHERE developer_id = $1")
            .bind(developer_id)
            .fetch_all(&self.read)
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("id")?, row.try_get("display_name")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::Database)
    }

    /// The stored aggregates of the developer's apps on days `from..to`.
    pub async fn developer_daily_aggregates(
        &self,
        developer_id: &str,
        from: UtcDate,
        to: UtcDate,
    ) -> Result<Vec<DailyAggregate>, StoreError> {
        let sql = format!(
            "SELECT d.app_id, d.day, {} FROM metric_daily d JOIN apps a ON a.id = d.app_id \
             WHERE a.developer_id = $1 AND d.day >= $2 AND d.day < $3",
            prefixed_columns("d")
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(developer_id)
            .bind(from.epoch_day())
            .bind(to.epoch_day())
            .fetch_all(&self.read)
            .await?;
        rows.iter()
            .map(aggregate_from_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::Database)
    }

    /// Every stored aggregate on days `from..to` (all apps), ordered by
    /// day and app id.
    pub async fn daily_aggregates(
        &self,
        from: UtcDate,
        to: UtcDate,
    ) -> Result<Vec<DailyAggregate>, StoreError> {
        let sql = format!(
            "SELECT app_id, day, {} FROM metric_daily WHERE day >= $1 AND day < $2 \
             ORDER BY day, app_id",
            DailyCounts::COLUMNS.join(", ")
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(from.epoch_day())
            .bind(to.epoch_day())
            .fetch_all(&self.read)
            .await?;
        rows.iter()
            .map(aggregate_from_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::Database)
    }

    /// Rebuilds the aggregates of one UTC day from the raw events; returns
    /// the number of (app, day) rows written. See the module comment for
    /// why concurrent ingestion stays exact.
    pub async fn recompute_daily_aggregates(&self, day: UtcDate) -> Result<u64, StoreError> {
        crate::with_retry!(self.try_recompute_day(day))
    }

    async fn try_recompute_day(&self, day: UtcDate) -> Result<u64, StoreError> {
        let mut tx = self.write.begin().await?;
        // 1. Stop event inserts until the commit (SQLite: this transaction's
        // first statement takes the database's write lock).
        if self.dialect == Dialect::Postgres {
            sqlx::query("LOCK TABLE metric_events IN SHARE ROW EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await?;
        }
        // 2. Drop the day's aggregates, 3. sum the day's raw events again.
        sqlx::query("DELETE FROM metric_daily WHERE day = $1")
            .bind(day.epoch_day())
            .execute(&mut *tx)
            .await?;
        let written = sqlx::query(RECOMPUTE_DAY)
            .bind(day.epoch_day())
            .bind(day.start_ms())
            .bind(day.start_ms() + DAY_MS)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(written)
    }
}

/// `d.links_created, d.consent_denied, …`
fn prefixed_columns(alias: &str) -> String {
    DailyCounts::COLUMNS
        .iter()
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}
