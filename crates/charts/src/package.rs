//! `chart package`: a chart as a `.tar.gz` under one `name/` directory, written reproducibly
//! (sorted entries, zero times and owners, fixed modes), so the same chart gives the same bytes
//! and the same SHA-256 a repository index pins.

use std::io::Write;

use sha2::{Digest, Sha256};

use crate::ChartError;
use crate::chart::Chart;

/// The package's file name: `name-version.tgz`.
pub fn file_name(chart: &Chart) -> String {
    format!("{}.tgz", chart.reference())
}

/// The package's bytes.
pub fn package(chart: &Chart) -> Result<Vec<u8>, ChartError> {
    let err =
        |e: std::io::Error| ChartError::Invalid { place: "package".into(), message: e.to_string() };
    let meta = serde_yaml_ng::to_string(&chart.meta)
        .map_err(|e| ChartError::Invalid { place: "Chart.yaml".into(), message: e.to_string() })?;
    let mut files: Vec<(String, String)> = vec![("Chart.yaml".into(), meta)];
    files.push(("values.yaml".into(), chart.values_text.clone()));
    if let Some(s) = &chart.schema {
        let text = serde_json::to_string_pretty(s).unwrap_or_default();
        files.push(("values.schema.json".into(), text));
    }
    files.extend(chart.files.iter().map(|(p, t)| (p.clone(), t.clone())));
    files.sort();
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    for (path, text) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(text.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        tar.append_data(&mut h, format!("{}/{path}", chart.meta.name), text.as_bytes())
            .map_err(err)?;
    }
    let mut gz = tar.into_inner().map_err(err)?;
    gz.flush().map_err(err)?;
    gz.finish().map_err(err)
}

/// The SHA-256 of a package, hex, as repository indexes record it.
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_package_reads_back_as_the_same_chart_and_is_reproducible() {
        let chart = crate::builtin::get("web-tier").unwrap();
        let a = package(&chart).unwrap();
        let b = package(&chart).unwrap();
        assert_eq!(digest(&a), digest(&b));
        let back = Chart::from_package(&a).unwrap();
        assert_eq!(back.meta, chart.meta);
        assert_eq!(back.files, chart.files);
        assert_eq!(back.schema, chart.schema);
    }

    #[test]
    fn garbage_is_not_a_package() {
        let e = Chart::from_package(b"not gzip at all").unwrap_err().to_string();
        assert!(e.contains("package"), "{e}");
    }
}
