//! Output shared by every face: tables (plain and wide), JSON and YAML from the same rows.

use serde::Serialize;

use crate::OpsError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Table,
    Wide,
    Json,
    Yaml,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "table" => Ok(Format::Table),
            "wide" => Ok(Format::Wide),
            "json" => Ok(Format::Json),
            "yaml" => Ok(Format::Yaml),
            o => Err(format!("unknown output format '{o}' (use table, wide, json or yaml)")),
        }
    }
}

/// A row type that can be shown as a table.
pub trait Tabular {
    fn headers(wide: bool) -> Vec<&'static str>;
    fn cells(&self, wide: bool) -> Vec<String>;
}

pub fn render<T: Tabular + Serialize>(rows: &[T], format: Format) -> Result<String, OpsError> {
    match format {
        Format::Json => serde_json::to_string_pretty(rows)
            .map(|s| s + "\n")
            .map_err(|e| OpsError::Render { format: "json".into(), source: Box::new(e) }),
        Format::Yaml => serde_yaml_ng::to_string(rows)
            .map_err(|e| OpsError::Render { format: "yaml".into(), source: Box::new(e) }),
        Format::Table | Format::Wide => Ok(table(rows, format == Format::Wide)),
    }
}

fn table<T: Tabular>(rows: &[T], wide: bool) -> String {
    // No rows, no header: the one convention for empty results (faces say so on stderr).
    if rows.is_empty() {
        return String::new();
    }
    let headers = T::headers(wide);
    // Cells hold strings from the cluster (names, tags, descriptions): a control character
    // there must not reach the terminal as one.
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            r.cells(wide)
                .into_iter()
                .map(|c| proxctl_types::limits::escape(&c).into_owned())
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |vals: Vec<&str>| -> String {
        let last = vals.len().saturating_sub(1);
        let mut s = String::new();
        for (i, (v, w)) in vals.iter().zip(&widths).enumerate() {
            if i == last {
                s.push_str(v);
            } else {
                s.push_str(&format!("{v:<w$}   "));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(headers.clone());
    for row in &cells {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// Any serialisable document as YAML (for `describe`).
pub fn to_yaml<T: Serialize>(v: &T) -> Result<String, OpsError> {
    serde_yaml_ng::to_string(v)
        .map_err(|e| OpsError::Render { format: "yaml".into(), source: Box::new(e) })
}

/// Bytes as PVE admins read them: 2.0 GiB, 512.0 MiB.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{b} B") } else { format!("{v:.1} {}", UNITS[u]) }
}

/// Seconds as `3d 4h`, `5h 2m`, `42s`.
pub fn human_duration(s: u64) -> String {
    match s {
        0 => "-".into(),
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h {}m", s / 3600, s / 60 % 60),
        s => format!("{}d {}h", s / 86_400, s / 3600 % 24),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct R(&'static str, u32);

    impl Tabular for R {
        fn headers(wide: bool) -> Vec<&'static str> {
            if wide { vec!["NAME", "N", "EXTRA"] } else { vec!["NAME", "N"] }
        }
        fn cells(&self, wide: bool) -> Vec<String> {
            let mut v = vec![self.0.to_string(), self.1.to_string()];
            if wide {
                v.push("x".into());
            }
            v
        }
    }

    #[test]
    fn tables_align_columns_and_wide_adds_columns() {
        let rows = [R("web-1", 1), R("a", 100)];
        assert_eq!(render(&rows, Format::Table).unwrap(), "NAME    N\nweb-1   1\na       100\n");
        assert!(render(&rows, Format::Wide).unwrap().starts_with("NAME    N     EXTRA\n"));
    }

    #[test]
    fn control_characters_from_the_cluster_are_escaped_in_tables() {
        let rows = vec![R("evil\u{1b}[2J", 1)];
        let t = render(&rows, Format::Table).unwrap();
        assert!(!t.contains('\u{1b}'), "{t:?}");
        assert!(t.contains("evil\\u{1b}[2J"), "{t:?}");
    }

    #[test]
    fn json_and_yaml_come_from_the_same_rows() {
        let rows = [R("a", 1)];
        assert_eq!(render(&rows, Format::Json).unwrap(), "[\n  [\n    \"a\",\n    1\n  ]\n]\n");
        assert!(render(&rows, Format::Yaml).unwrap().contains("- a"));
    }

    #[test]
    fn sizes_and_durations_read_like_an_admin_expects() {
        assert_eq!(human_bytes(2 * 1024 * 1024 * 1024), "2.0 GiB");
        assert_eq!(human_bytes(10), "10 B");
        assert_eq!(human_duration(90_061), "1d 1h");
        assert_eq!(human_duration(0), "-");
    }
}
