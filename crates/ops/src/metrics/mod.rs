//! Metrics in the Prometheus text format: the series of prometheus-pve-exporter, with its
//! names, labels and `id` formats, so existing dashboards and alerts keep working
//! ([`pve`]), and proxctl's own `proxctl_*` series ([`own`] from the state store, [`fleet`]
//! per guest). A scrape reads each remote with a fixed handful of calls and re-reads a
//! bounded number of guests' details ([`details`]), never one request per guest
//! ([`scrape`]).

pub mod details;
pub mod fleet;
pub mod own;
pub mod pve;
pub mod scrape;

use prometheus::core::Collector;
use prometheus::{CounterVec, Encoder, GaugeVec, Opts, Registry, TextEncoder};

use crate::OpsError;

/// The content type of what [`encode`] writes.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Gauge or counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
}

/// One metric family as a scrape shows it: its samples, each with its label values in the
/// order of `labels`.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: String,
    pub help: String,
    pub kind: Kind,
    pub labels: Vec<String>,
    pub samples: Vec<(Vec<String>, f64)>,
}

impl Family {
    pub fn new(name: &str, help: &str, kind: Kind, labels: &[&str]) -> Family {
        Family {
            name: name.into(),
            help: help.into(),
            kind,
            labels: labels.iter().map(|l| l.to_string()).collect(),
            samples: Vec::new(),
        }
    }

    pub fn gauge(name: &str, help: &str, labels: &[&str]) -> Family {
        Family::new(name, help, Kind::Gauge, labels)
    }

    pub fn counter(name: &str, help: &str, labels: &[&str]) -> Family {
        Family::new(name, help, Kind::Counter, labels)
    }

    /// Add a sample; `values` in the order of the labels.
    pub fn add(&mut self, values: Vec<String>, v: f64) {
        self.samples.push((values, v));
    }

    /// The same family with one more label, the same value on every sample (the remote a
    /// series comes from, when one scrape covers several).
    pub fn with_label(mut self, name: &str, value: &str) -> Family {
        self.labels.push(name.to_string());
        for (values, _) in &mut self.samples {
            values.push(value.to_string());
        }
        self
    }
}

fn encoding(e: impl std::fmt::Display) -> OpsError {
    OpsError::Invalid(format!("cannot write the metrics: {e}"))
}

/// The families as Prometheus text; families without samples are left out. Samples of one
/// family with the same labels (one guest listed twice) keep the last value.
pub fn encode(families: &[Family]) -> Result<String, OpsError> {
    let registry = Registry::new();
    for f in families.iter().filter(|f| !f.samples.is_empty()) {
        let labels: Vec<&str> = f.labels.iter().map(String::as_str).collect();
        let opts = Opts::new(f.name.as_str(), f.help.as_str());
        let collector: Box<dyn Collector> = match f.kind {
            Kind::Gauge => {
                let g = GaugeVec::new(opts, &labels).map_err(encoding)?;
                for (values, v) in &f.samples {
                    let vs: Vec<&str> = values.iter().map(String::as_str).collect();
                    g.get_metric_with_label_values(&vs).map_err(encoding)?.set(*v);
                }
                Box::new(g)
            }
            Kind::Counter => {
                let c = CounterVec::new(opts, &labels).map_err(encoding)?;
                for (values, v) in &f.samples {
                    let vs: Vec<&str> = values.iter().map(String::as_str).collect();
                    let m = c.get_metric_with_label_values(&vs).map_err(encoding)?;
                    // A counter only goes up; a fresh one per scrape starts at the value.
                    m.reset();
                    m.inc_by(v.max(0.0));
                }
                Box::new(c)
            }
        };
        registry.register(collector).map_err(encoding)?;
    }
    let mut out = Vec::new();
    TextEncoder::new().encode(&registry.gather(), &mut out).map_err(encoding)?;
    String::from_utf8(out).map_err(encoding)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_encode_as_prometheus_text_with_escaped_labels() {
        let mut up = Family::gauge("pve_up", "Node/VM/CT-Status is online/running", &["id"]);
        up.add(vec!["qemu/100".into()], 1.0);
        let mut info = Family::gauge("pve_guest_info", "VM/CT info", &["id", "name"]);
        info.add(vec!["qemu/100".into(), "a \"quoted\"\\name".into()], 1.0);
        let mut net = Family::counter("pve_network_receive_bytes_total", "Received", &["id"]);
        net.add(vec!["qemu/100".into()], 1234.0);
        let empty = Family::gauge("pve_nothing", "none", &["id"]);
        let text = encode(&[up, info, net, empty]).unwrap_or_default();
        assert!(text.contains("# TYPE pve_up gauge\npve_up{id=\"qemu/100\"} 1\n"), "{text}");
        assert!(text.contains(r#"name="a \"quoted\"\\name""#), "{text}");
        assert!(text.contains("# TYPE pve_network_receive_bytes_total counter"), "{text}");
        assert!(text.contains("pve_network_receive_bytes_total{id=\"qemu/100\"} 1234"), "{text}");
        assert!(!text.contains("pve_nothing"), "{text}");
    }

    #[test]
    fn a_remote_label_is_added_to_every_sample() {
        let mut up = Family::gauge("pve_up", "h", &["id"]);
        up.add(vec!["node/pve1".into()], 1.0);
        let up = up.with_label("remote", "lab");
        assert_eq!(up.labels, ["id", "remote"]);
        assert_eq!(up.samples[0].0, ["node/pve1", "lab"]);
    }
}
