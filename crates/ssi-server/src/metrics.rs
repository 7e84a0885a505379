//! Operational metrics in the Prometheus text format, kept in the state (no
//! global recorder, so several servers can run in one process, as in tests).
//!
//! Counting a request is on every request's path, so it takes no lock and
//! allocates nothing once its (route, status) pair was seen: the counters sit
//! in a fixed open-addressing table whose slots are claimed once
//! ([`OnceLock`]) and then only read and incremented atomically.

use std::fmt::Write;
use std::hash::Hasher;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Distinct (route template, status) pairs counted on their own: several
/// times the server's routes × the statuses each answers. Pairs beyond it
/// are counted under [`OVERFLOW_ROUTE`].
const REQUEST_SLOTS: usize = 1024;

/// The route label of requests whose pair found no free slot.
pub const OVERFLOW_ROUTE: &str = "other";

#[derive(Default)]
struct RequestSlot {
    key: OnceLock<(Box<str>, u16)>,
    count: AtomicU64,
}

#[derive(Debug)]
pub struct ServerMetrics {
    requests: Box<[RequestSlot]>,
    requests_overflow: AtomicU64,
    request_micros_total: AtomicU64,
    pub tokens_minted: AtomicU64,
    pub links_created: AtomicU64,
    pub links_deleted: AtomicU64,
    pub metric_events_accepted: AtomicU64,
}

impl std::fmt::Debug for RequestSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestSlot")
            .field("key", &self.key.get())
            .field("count", &self.count)
            .finish()
    }
}

impl Default for ServerMetrics {
    fn default() -> Self {
        Self {
            requests: (0..REQUEST_SLOTS).map(|_| RequestSlot::default()).collect(),
            requests_overflow: AtomicU64::new(0),
            request_micros_total: AtomicU64::new(0),
            tokens_minted: AtomicU64::new(0),
            links_created: AtomicU64::new(0),
            links_deleted: AtomicU64::new(0),
            metric_events_accepted: AtomicU64::new(0),
        }
    }
}

/// The first slot to probe for a pair (any fixed hash will do: the keys are
/// the server's own route templates, not attacker-chosen).
fn home_slot(route: &str, status: u16) -> usize {
    let mut hasher = std::hash::DefaultHasher::new();
    hasher.write(route.as_bytes());
    hasher.write_u16(status);
    usize::try_from(hasher.finish() % REQUEST_SLOTS as u64).unwrap_or(0)
}

impl ServerMetrics {
    /// Counts one request by its route template (never the raw path, which
    /// may carry ids) and status.
    pub fn record_request(&self, route: &str, status: u16, micros: u64) {
        self.request_micros_total
            .fetch_add(micros, Ordering::Relaxed);
        let home = home_slot(route, status);
        for probe in 0..REQUEST_SLOTS {
            let slot = &self.requests[(home + probe) % REQUEST_SLOTS];
            // Claimed once per pair (the only allocation); a slot another
            // pair claimed first is passed over.
            let (slot_route, slot_status) = slot.key.get_or_init(|| (Box::from(route), status));
            if *slot_status == status && **slot_route == *route {
                slot.count.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        self.requests_overflow.fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self) -> String {
        let mut requests: Vec<(&str, u16, u64)> = self
            .requests
            .iter()
            .filter_map(|slot| {
                let (route, status) = slot.key.get()?;
                Some((&**route, *status, slot.count.load(Ordering::Relaxed)))
            })
            .collect();
        requests.sort_unstable();
        let mut out = String::new();
        out.push_str("# TYPE ssi_http_requests_total counter\n");
        for (route, status, count) in requests {
            let _ = writeln!(
                out,
                "ssi_http_requests_total{{route=\"{}\",status=\"{status}\"}} {count}",
                route.replace(['"', '\\', '\n'], "_")
            );
        }
        let overflow = self.requests_overflow.load(Ordering::Relaxed);
        if overflow > 0 {
            let _ = writeln!(
                out,
                "ssi_http_requests_total{{route=\"{OVERFLOW_ROUTE}\",status=\"other\"}} {overflow}"
            );
        }
        let counters = [
            (
                "ssi_http_request_seconds_total",
                &self.request_micros_total,
                1e-6,
            ),
            ("ssi_tokens_minted_total", &self.tokens_minted, 1.0),
            ("ssi_links_created_total", &self.links_created, 1.0),
            ("ssi_links_deleted_total", &self.links_deleted, 1.0),
            (
                "ssi_metric_events_accepted_total",
                &self.metric_events_accepted,
                1.0,
            ),
        ];
        for (name, counter, scale) in counters {
            let _ = writeln!(out, "# TYPE {name} counter");
            let value = counter.load(Ordering::Relaxed) as f64 * scale;
            let _ = writeln!(out, "{name} {value}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_route_and_status_apart_and_overflows_into_other() {
        let metrics = ServerMetrics::default();
        for _ in 0..3 {
            metrics.record_request("/healthz", 200, 1);
        }
        metrics.record_request("/healthz", 503, 1);
        metrics.record_request("/v1/device/links/{link_id}/token", 200, 1);
        let text = metrics.render();
        assert!(text.contains("ssi_http_requests_total{route=\"/healthz\",status=\"200\"} 3\n"));
        assert!(text.contains("ssi_http_requests_total{route=\"/healthz\",status=\"503\"} 1\n"));
        assert!(text.contains(
            "ssi_http_requests_total{route=\"/v1/device/links/{link_id}/token\",status=\"200\"} 1\n"
        ));
        assert!(!text.contains(OVERFLOW_ROUTE), "{text}");
        assert!(
            text.contains("ssi_http_request_seconds_total 0.00000"),
            "5 µs: {text}"
        );
        // Every slot taken: further pairs are counted, under `other`.
        for i in 0..REQUEST_SLOTS {
            metrics.record_request(&format!("/r{i}"), 200, 0);
        }
        let text = metrics.render();
        assert!(text.contains("ssi_http_requests_total{route=\"/healthz\",status=\"200\"} 3\n"));
        assert!(
            text.contains("ssi_http_requests_total{route=\"other\",status=\"other\"} 3\n"),
            "3 of the new pairs found no slot"
        );
    }
}
