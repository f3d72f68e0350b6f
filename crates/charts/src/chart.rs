//! A chart as read: `Chart.yaml`, `values.yaml`, an optional `values.schema.json`,
//! `templates/*.yaml`, optional `userdata/*` (cloud-init user-data templates) and `NOTES.txt`,
//! from a directory, a `.tar.gz` package or the charts built into the binary. Charts are
//! hostile input: sizes are capped, paths are plain relative names, nothing is executed.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path};

use serde::{Deserialize, Serialize};

use crate::ChartError;

/// The most a chart may hold, in bytes, all files together (a chart is text).
pub const MAX_CHART_BYTES: u64 = 4 * 1024 * 1024;

/// `Chart.yaml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ChartMeta {
    /// Always `proxctl.io/v1`.
    #[serde(default = "api_version")]
    pub api_version: String,
    /// Lowercase letters, digits and `-`.
    pub name: String,
    /// Semantic version of the chart, e.g. `1.2.0`.
    pub version: semver::Version,
    #[serde(default)]
    pub description: String,
    /// The proxctl versions the chart works with, e.g. `>=0.1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxctl: Option<semver::VersionReq>,
}

fn api_version() -> String {
    "proxctl.io/v1".into()
}

/// A whole chart in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub meta: ChartMeta,
    /// `values.yaml` as written (kept as text so errors can name its lines).
    pub values_text: String,
    /// `values.schema.json`, parsed.
    pub schema: Option<serde_json::Value>,
    /// Every other file by its path inside the chart (`templates/web.yaml`,
    /// `userdata/server.yaml`, `NOTES.txt`).
    pub files: BTreeMap<String, String>,
}

impl Chart {
    /// `name-version`, as packages are named.
    pub fn reference(&self) -> String {
        format!("{}-{}", self.meta.name, self.meta.version)
    }

    /// The manifest templates, in name order.
    pub fn templates(&self) -> impl Iterator<Item = (&str, &str)> {
        self.files
            .iter()
            .filter(|(p, _)| {
                p.starts_with("templates/") && (p.ends_with(".yaml") || p.ends_with(".yml"))
            })
            .map(|(p, t)| (p.as_str(), t.as_str()))
    }

    pub fn notes(&self) -> Option<&str> {
        self.files.get("NOTES.txt").map(String::as_str)
    }

    /// The default values.
    pub fn values(&self) -> Result<serde_json::Value, ChartError> {
        crate::values::parse_yaml("values.yaml", &self.values_text)
    }

    /// A chart from its files (path → text), as every source provides them.
    pub fn from_files(mut files: BTreeMap<String, String>) -> Result<Chart, ChartError> {
        let meta_text = files.remove("Chart.yaml").ok_or_else(|| ChartError::Invalid {
            place: "Chart.yaml".into(),
            message: "missing: a chart needs Chart.yaml with name and version".into(),
        })?;
        let meta: ChartMeta = serde_yaml_ng::from_str(&meta_text).map_err(|e| {
            ChartError::Invalid { place: yaml_place("Chart.yaml", &e), message: yaml_message(&e) }
        })?;
        check_name(&meta.name)
            .map_err(|message| ChartError::Invalid { place: "Chart.yaml: name".into(), message })?;
        if meta.api_version != api_version() {
            return Err(ChartError::Invalid {
                place: "Chart.yaml: apiVersion".into(),
                message: format!("is {}, expected proxctl.io/v1", meta.api_version),
            });
        }
        let values_text = files.remove("values.yaml").unwrap_or_default();
        let schema = match files.remove("values.schema.json") {
            Some(t) => Some(serde_json::from_str(&t).map_err(|e| ChartError::Invalid {
                place: format!("values.schema.json:{}:{}", e.line(), e.column()),
                message: format!("not JSON: {e}"),
            })?),
            None => None,
        };
        let chart = Chart { meta, values_text, schema, files };
        chart.values()?;
        if chart.templates().next().is_none() {
            return Err(ChartError::Invalid {
                place: "templates/".into(),
                message: "no templates: a chart needs at least one templates/*.yaml".into(),
            });
        }
        Ok(chart)
    }

    /// Read a chart directory.
    pub fn from_dir(dir: &Path) -> Result<Chart, ChartError> {
        let mut files = BTreeMap::new();
        let mut total = 0u64;
        read_dir(dir, dir, &mut files, &mut total)?;
        Chart::from_files(files)
    }

    /// Read a `.tar.gz` package: one top directory holding the chart.
    pub fn from_package(bytes: &[u8]) -> Result<Chart, ChartError> {
        let bad = |message: String| ChartError::Invalid { place: "package".into(), message };
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
        let mut files = BTreeMap::new();
        let mut total = 0u64;
        let entries = archive.entries().map_err(|e| bad(format!("not a .tar.gz: {e}")))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| bad(format!("not a .tar.gz: {e}")))?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let path = entry.path().map_err(|e| bad(e.to_string()))?.into_owned();
            let inner = inner_path(&path).ok_or_else(|| {
                bad(format!("{}: entries must be plain paths under one directory", path.display()))
            })?;
            total = total.saturating_add(entry.size());
            if total > MAX_CHART_BYTES {
                return Err(bad(format!("larger than {MAX_CHART_BYTES} bytes")));
            }
            let mut text = String::new();
            entry
                .read_to_string(&mut text)
                .map_err(|e| bad(format!("{}: not UTF-8 text: {e}", path.display())))?;
            files.insert(inner, text);
        }
        Chart::from_files(files)
    }
}

/// `name/templates/x.yaml` → `templates/x.yaml`; `None` for anything but plain relative paths.
fn inner_path(path: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => parts.push(p.to_str()?.to_string()),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (parts.len() >= 2).then(|| parts[1..].join("/"))
}

fn read_dir(
    root: &Path,
    dir: &Path,
    files: &mut BTreeMap<String, String>,
    total: &mut u64,
) -> Result<(), ChartError> {
    let io =
        |p: &Path, e: std::io::Error| ChartError::Io { path: p.display().to_string(), source: e };
    let entries = std::fs::read_dir(dir).map_err(|e| io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io(dir, e))?;
        let path = entry.path();
        // symlink_metadata: a link out of the chart is not followed.
        let meta = std::fs::symlink_metadata(&path).map_err(|e| io(&path, e))?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        if meta.is_dir() {
            read_dir(root, &path, files, total)?;
        } else if meta.is_file() {
            *total = total.saturating_add(meta.len());
            if *total > MAX_CHART_BYTES {
                return Err(ChartError::Invalid {
                    place: root.display().to_string(),
                    message: format!("larger than {MAX_CHART_BYTES} bytes"),
                });
            }
            let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
            let rel = path.strip_prefix(root).unwrap_or(&path);
            let rel: Vec<String> =
                rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            files.insert(rel.join("/"), text);
        }
    }
    Ok(())
}

/// Chart and release names: DNS-label-like, so they fit PVE tags (`release-<name>`) and names.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid name: use 1 to 40 lowercase letters, digits and '-', \
             starting and ending with a letter or digit"
        ))
    }
}

pub(crate) fn yaml_place(file: &str, e: &serde_yaml_ng::Error) -> String {
    match e.location() {
        Some(l) => format!("{file}:{}:{}", l.line(), l.column()),
        None => file.to_string(),
    }
}

pub(crate) fn yaml_message(e: &serde_yaml_ng::Error) -> String {
    let m = e.to_string();
    m.split(" at line ").next().unwrap_or(&m).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(p, t)| (p.to_string(), t.to_string())).collect()
    }

    #[test]
    fn a_chart_needs_chart_yaml_and_a_template() {
        let e = Chart::from_files(files(&[("values.yaml", "a: 1")])).unwrap_err();
        assert!(e.to_string().contains("Chart.yaml: missing"), "{e}");
        let e = Chart::from_files(files(&[("Chart.yaml", "name: x\nversion: 1.0.0")])).unwrap_err();
        assert!(e.to_string().contains("no templates"), "{e}");
    }

    #[test]
    fn a_bad_version_names_the_line() {
        let e = Chart::from_files(files(&[
            ("Chart.yaml", "name: x\nversion: one\n"),
            ("templates/a.yaml", ""),
        ]))
        .unwrap_err();
        assert!(e.to_string().starts_with("Chart.yaml:2:"), "{e}");
    }

    #[test]
    fn names_must_fit_a_pve_tag() {
        assert!(check_name("web-tier").is_ok());
        for bad in ["", "Web", "-a", "a-", "a_b", "a.b", &"a".repeat(41)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn package_paths_must_stay_inside_the_chart() {
        assert_eq!(
            inner_path(Path::new("web/templates/a.yaml")).as_deref(),
            Some("templates/a.yaml")
        );
        assert_eq!(inner_path(Path::new("../etc/passwd")), None);
        assert_eq!(inner_path(Path::new("/abs/x")), None);
        assert_eq!(inner_path(Path::new("Chart.yaml")), None);
    }
}
