//! Cluster-wide rate-limit counters: fixed windows in the `rate_limits`
//! table, so that every server node counts the same attempts.

use sqlx::Row;

use super::{Store, StoreError};

impl Store {
    /// Counts one hit on `bucket` and returns the hits in the current window
    /// (this one included). A window starts at its first hit and lasts
    /// `window_ms`; the first hit after it starts a new one. One atomic
    /// upsert, so concurrent hits on any node are all counted.
    pub async fn record_rate_limit_hit(
        &self,
        bucket: &str,
        now_ms: i64,
        window_ms: i64,
    ) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "INSERT INTO rate_limits (bucket, window_start, hits) VALUES ($1, $2, 1) \
             ON CONFLICT (bucket) DO UPDATE SET \
             hits = CASE WHEN rate_limits.window_start <= $3 THEN 1 ELSE rate_limits.hits + 1 END, \
             window_start = CASE WHEN rate_limits.window_start <= $3 THEN $2 \
             ELSE rate_limits.window_start END \
             RETURNING hits",
        )
        .bind(bucket)
        .bind(now_ms)
        .bind(now_ms - window_ms)
        .fetch_one(&self.write)
        .await?;
        Ok(row.try_get("hits")?)
    }

    /// Takes back one hit recorded in the current window (an attempt that
    /// turned out not to count, e.g. a correct password).
    pub async fn refund_rate_limit_hit(
        &self,
        bucket: &str,
        now_ms: i64,
        window_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE rate_limits SET hits = hits - 1 \
             WHERE bucket = $1 AND hits > 0 AND window_start > $2",
        )
        .bind(bucket)
        .bind(now_ms - window_ms)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Deletes counters whose window ended before `before_ms`.
    pub async fn delete_stale_rate_limits(&self, before_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM rate_limits WHERE window_start < $1")
            .bind(before_ms)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected())
    }
}
