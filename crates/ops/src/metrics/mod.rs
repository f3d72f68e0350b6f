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

use std::collections::BTreeMap;

use prometheus::{Encoder, TextEncoder};

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

/// The families as Prometheus text, sorted by name; families without samples are left out.
/// Samples of one family with the same labels (one guest listed twice) keep the last value.
/// The families are handed to the crate's text encoder as they are, without a registry:
/// a registry's per-series bookkeeping took over a second for the 200,000 series of a
/// 5,000-guest cluster (see `benches/scrape.rs`).
pub fn encode(families: &[Family]) -> Result<String, OpsError> {
    use prometheus::proto;
    let mut out_families = Vec::new();
    for f in families.iter().filter(|f| !f.samples.is_empty()) {
        // Labels in name order, series in label-value order, as a registry writes them.
        let mut order: Vec<usize> = (0..f.labels.len()).collect();
        order.sort_by(|a, b| f.labels[*a].cmp(&f.labels[*b]));
        let mut series: BTreeMap<Vec<&str>, f64> = BTreeMap::new();
        for (values, v) in &f.samples {
            if values.len() != f.labels.len() {
                return Err(encoding(format!("{}: a sample without every label", f.name)));
            }
            series.insert(order.iter().map(|i| values[*i].as_str()).collect(), *v);
        }
        let metrics = series
            .into_iter()
            .map(|(values, v)| {
                let mut m = proto::Metric::default();
                let labels = order
                    .iter()
                    .zip(values)
                    .map(|(i, value)| {
                        let mut pair = proto::LabelPair::default();
                        pair.set_name(f.labels[*i].clone());
                        pair.set_value(value.to_string());
                        pair
                    })
                    .collect();
                m.set_label(labels);
                match f.kind {
                    Kind::Gauge => {
                        let mut g = proto::Gauge::default();
                        g.set_value(v);
                        m.set_gauge(g);
                    }
                    Kind::Counter => {
                        // A counter only goes up from zero.
                        let mut c = proto::Counter::default();
                        c.set_value(v.max(0.0));
                        m.set_counter(c);
                    }
                }
                m
            })
            .collect();
        let mut mf = proto::MetricFamily::default();
        mf.set_name(f.name.clone());
        mf.set_help(f.help.clone());
        mf.set_field_type(match f.kind {
            Kind::Gauge => proto::MetricType::GAUGE,
            Kind::Counter => proto::MetricType::COUNTER,
        });
        mf.set_metric(metrics);
        out_families.push(mf);
    }
    out_families.sort_by(|a, b| a.name().cmp(b.name()));
    let mut out = Vec::new();
    TextEncoder::new().encode(&out_families, &mut out).map_err(encoding)?;
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
    fn labels_are_written_in_name_order_and_a_repeated_series_keeps_its_last_value() {
        let mut f = Family::gauge("pve_x", "h", &["remote", "id"]);
        f.add(vec!["lab".into(), "qemu/101".into()], 1.0);
        f.add(vec!["lab".into(), "qemu/100".into()], 2.0);
        f.add(vec!["lab".into(), "qemu/101".into()], 3.0);
        let mut bad = Family::gauge("pve_y", "h", &["id"]);
        bad.add(Vec::new(), 1.0);
        assert!(encode(&[bad]).is_err(), "a sample must carry every label");
        let text = encode(&[f]).unwrap_or_default();
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines,
            [r#"pve_x{id="qemu/100",remote="lab"} 2"#, r#"pve_x{id="qemu/101",remote="lab"} 3"#]
        );
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
