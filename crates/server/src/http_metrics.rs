//! How long the API takes to answer: a histogram per route template, method and status,
//! kept for the life of the instance and added to every scrape.

use prometheus::{Encoder, HistogramOpts, HistogramVec, Registry, TextEncoder};

/// This instance's request durations.
#[derive(Clone)]
pub struct HttpMetrics {
    registry: Registry,
    durations: Option<HistogramVec>,
}

impl std::fmt::Debug for HttpMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpMetrics").finish_non_exhaustive()
    }
}

impl Default for HttpMetrics {
    fn default() -> Self {
        let registry = Registry::new();
        let opts = HistogramOpts::new(
            "proxctl_http_request_duration_seconds",
            "How long the API took to answer, by route template, method and status",
        )
        .buckets(vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]);
        // The name and buckets are fixed and valid; were they not, timing is left out rather
        // than the server refusing to start.
        let durations = HistogramVec::new(opts, &["method", "route", "status"])
            .ok()
            .filter(|h| registry.register(Box::new(h.clone())).is_ok());
        HttpMetrics { registry, durations }
    }
}

impl HttpMetrics {
    /// Record one answer.
    pub fn observe(&self, method: &str, route: &str, status: u16, secs: f64) {
        if let Some(h) = &self.durations
            && let Ok(m) = h.get_metric_with_label_values(&[method, route, &status.to_string()])
        {
            m.observe(secs);
        }
    }

    /// The histogram in the text format, for a scrape.
    pub fn text(&self) -> String {
        let mut out = Vec::new();
        if TextEncoder::new().encode(&self.registry.gather(), &mut out).is_err() {
            return String::new();
        }
        String::from_utf8(out).unwrap_or_default()
    }
}
