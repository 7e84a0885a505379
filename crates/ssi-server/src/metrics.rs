//! Operational metrics in the Prometheus text format, kept in the state (no
//! global recorder, so several servers can run in one process, as in tests).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct ServerMetrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    request_micros_total: AtomicU64,
    pub tokens_minted: AtomicU64,
    pub links_created: AtomicU64,
    pub links_deleted: AtomicU64,
    pub metric_events_accepted: AtomicU64,
}

impl ServerMetrics {
    /// Counts one request by its route template (never the raw path, which
    /// may carry ids) and status.
    pub fn record_request(&self, route: &str, status: u16, micros: u64) {
        let mut requests = self.requests.lock().expect("metrics lock");
        *requests.entry((route.to_owned(), status)).or_default() += 1;
        self.request_micros_total
            .fetch_add(micros, Ordering::Relaxed);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# TYPE ssi_http_requests_total counter\n");
        for ((route, status), count) in self.requests.lock().expect("metrics lock").iter() {
            let _ = writeln!(
                out,
                "ssi_http_requests_total{{route=\"{}\",status=\"{status}\"}} {count}",
                route.replace(['"', '\\', '\n'], "_")
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
