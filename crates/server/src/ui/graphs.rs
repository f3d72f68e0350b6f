//! Guest graphs as SVG polylines, computed here from PVE's `rrddata` samples: no charting
//! library, no script, a few hundred bytes per graph.

use serde::Serialize;
use serde_json::{Map, Value};

/// One graph: its label, its peak as people read it, and the polyline's points in a 300×80
/// box.
#[derive(Debug, Serialize, PartialEq)]
pub struct Graph {
    pub label: String,
    pub peak: String,
    pub points: String,
}

/// The series the guest page shows: (field, label, how a value reads).
const SERIES: [(&str, &str, Unit); 6] = [
    ("cpu", "CPU", Unit::Share),
    ("mem", "Memory", Unit::Bytes),
    ("netin", "Network in", Unit::Rate),
    ("netout", "Network out", Unit::Rate),
    ("diskread", "Disk read", Unit::Rate),
    ("diskwrite", "Disk write", Unit::Rate),
];

#[derive(Clone, Copy)]
enum Unit {
    Share,
    Bytes,
    Rate,
}

fn human(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Share => format!("{:.0}%", v * 100.0),
        Unit::Bytes | Unit::Rate => {
            let mut x = v;
            let mut i = 0;
            let units = ["B", "KiB", "MiB", "GiB", "TiB"];
            while x >= 1024.0 && i < units.len() - 1 {
                x /= 1024.0;
                i += 1;
            }
            let s = if i == 0 {
                format!("{x:.0} {}", units[i])
            } else {
                format!("{x:.1} {}", units[i])
            };
            if matches!(unit, Unit::Rate) { format!("{s}/s") } else { s }
        }
    }
}

/// The graphs there are samples for (a series PVE left out is not drawn).
pub fn series(rows: &[Map<String, Value>]) -> Vec<Graph> {
    SERIES
        .iter()
        .filter_map(|(field, label, unit)| {
            let vals: Vec<f64> = rows
                .iter()
                .filter_map(|r| r.get(*field)?.as_f64())
                .filter(|v| v.is_finite())
                .collect();
            if vals.len() < 2 {
                return None;
            }
            let peak = vals.iter().copied().fold(0.0_f64, f64::max);
            // CPU is drawn against 100%; the rest against their own peak.
            let top = if matches!(unit, Unit::Share) {
                1.0_f64.max(peak)
            } else {
                peak.max(f64::MIN_POSITIVE)
            };
            let step = 300.0 / (vals.len() - 1) as f64;
            let points = vals
                .iter()
                .enumerate()
                .map(|(i, v)| format!("{:.1},{:.1}", i as f64 * step, 78.0 - (v / top) * 76.0))
                .collect::<Vec<_>>()
                .join(" ");
            Some(Graph { label: (*label).to_string(), peak: human(peak, *unit), points })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_become_polylines_and_missing_series_are_left_out() {
        let rows: Vec<Map<String, Value>> = [0.0, 0.5, 0.25]
            .iter()
            .map(|c| {
                serde_json::json!({ "time": 1, "cpu": c, "netin": 2048.0 })
                    .as_object()
                    .cloned()
                    .unwrap_or_default()
            })
            .collect();
        let g = series(&rows);
        assert_eq!(g.len(), 2, "cpu and netin, not mem");
        assert_eq!(g[0].label, "CPU");
        assert_eq!(g[0].peak, "50%");
        assert_eq!(g[0].points, "0.0,78.0 150.0,40.0 300.0,59.0");
        assert_eq!(g[1].peak, "2.0 KiB/s");
        assert!(series(&rows[..1]).is_empty(), "one sample draws no line");
    }
}
