//! From a chart and values to checked manifests: values merged and checked against the
//! schema, the proxctl versions the chart needs, the templates rendered, and the output parsed
//! by the declarative engine exactly as `proxctl validate` would. `chart lint`, `chart template`
//! and every release change start here.

use std::path::PathBuf;

use proxctl_engine::manifest::{self, Body, Declared, Diagnostic};
use serde_json::Value;

use crate::ChartError;
use crate::chart::Chart;
use crate::render::{ReleaseInfo, Rendered, Secrets, render};
use crate::values::{Source, merge, resolve};

/// A chart rendered for a release, with the values it used.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The values given (on top of earlier ones with `--reuse-values`), without the defaults.
    pub user_values: Value,
    /// Defaults and given values together: what the templates saw.
    pub values: Value,
    pub rendered: Rendered,
    pub declared: Vec<Declared>,
}

#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error(transparent)]
    Chart(#[from] ChartError),
    #[error("the rendered manifests have {} problem(s):\n{}", .0.len(), .0.iter().map(|d| format!("  {d}")).collect::<Vec<_>>().join("\n"))]
    Manifest(Vec<Diagnostic>),
}

/// Whether this proxctl satisfies the chart's `proxctl` requirement.
pub fn check_version(chart: &Chart) -> Result<(), ChartError> {
    let Some(req) = &chart.meta.proxctl else { return Ok(()) };
    let ours =
        semver::Version::parse(env!("CARGO_PKG_VERSION")).unwrap_or(semver::Version::new(0, 0, 0));
    if req.matches(&ours) {
        Ok(())
    } else {
        Err(ChartError::Invalid {
            place: "Chart.yaml: proxctl".into(),
            message: format!("the chart needs proxctl {req}; this is {ours}"),
        })
    }
}

/// Merge, check, render and parse. `base` is the earlier revision's given values
/// (`--reuse-values`).
pub fn prepare(
    chart: &Chart,
    release: &ReleaseInfo,
    base: Option<&Value>,
    sources: &[Source],
    secrets: &mut Secrets,
) -> Result<Prepared, PrepareError> {
    check_version(chart)?;
    let user_values =
        resolve(base.cloned().unwrap_or_else(|| Value::Object(Default::default())), sources)?;
    let mut values = chart.values()?;
    merge(&mut values, user_values.clone());
    if let Some(schema) = &chart.schema {
        let mut all = Vec::new();
        if let Some(b) = base {
            let text = serde_yaml_ng::to_string(b).unwrap_or_default();
            all.push(Source::File { name: "(values of the previous revision)".into(), text });
        }
        all.extend(sources.iter().cloned());
        crate::values::check(schema, &values, &chart.values_text, &all)?;
    }
    let rendered = render(chart, &values, release, secrets)?;
    let files: Vec<(PathBuf, String)> = rendered
        .files
        .iter()
        .map(|f| (PathBuf::from(format!("{}/{}", chart.meta.name, f.path)), f.text.clone()))
        .collect();
    let mut declared = manifest::parse_many(&files).map_err(PrepareError::Manifest)?;
    mark(&mut declared, &release.name);
    Ok(Prepared { user_values, values, rendered, declared })
}

/// Mark every guest as the release's: the `release-<name>` tag and the description line, so
/// the owner shows in PVE and survives a lost state store.
pub fn mark(declared: &mut [Declared], release: &str) {
    let tag = proxctl_types::managed::release_tag(release);
    let line = format!("{}{release}", proxctl_types::managed::RELEASE_PREFIX);
    let describe = |d: &mut Option<String>| {
        let kept: Vec<&str> = d
            .as_deref()
            .unwrap_or("")
            .lines()
            .filter(|l| !l.trim().starts_with(proxctl_types::managed::RELEASE_PREFIX))
            .collect();
        let mut text = kept.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&line);
        *d = Some(text);
    };
    for d in declared {
        match &mut d.body {
            Body::VirtualMachine { spec, .. } => {
                if !spec.tags.contains(&tag) {
                    spec.tags.push(tag.clone());
                }
                describe(&mut spec.description);
            }
            Body::Container { spec, .. } => {
                if !spec.tags.contains(&tag) {
                    spec.tags.push(tag.clone());
                }
                describe(&mut spec.description);
            }
            Body::IpPool { .. } | Body::Template { .. } | Body::Job { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn info(name: &str) -> ReleaseInfo {
        ReleaseInfo { name: name.into(), revision: 1, is_install: true, is_upgrade: false }
    }

    #[test]
    fn every_builtin_chart_renders_manifests_the_engine_accepts() {
        for name in crate::builtin::names() {
            let chart = crate::builtin::get(name).unwrap();
            let p = prepare(&chart, &info("demo"), None, &[], &mut Secrets::default())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!p.declared.is_empty(), "{name}");
            assert!(p.rendered.notes.is_some(), "{name}");
        }
    }

    #[test]
    fn web_tier_scales_with_replicas_and_marks_its_guests() {
        let chart = crate::builtin::get("web-tier").unwrap();
        let p = prepare(
            &chart,
            &info("shop"),
            None,
            &[Source::Set("replicas=4".into())],
            &mut Secrets::default(),
        )
        .unwrap();
        let keys: Vec<String> = p.declared.iter().map(Declared::key).collect();
        assert_eq!(
            keys,
            [
                "Container/shop-lb",
                "IPPool/shop",
                "VirtualMachine/shop-web-1",
                "VirtualMachine/shop-web-2",
                "VirtualMachine/shop-web-3",
                "VirtualMachine/shop-web-4"
            ]
        );
        let Body::VirtualMachine { spec, .. } = &p.declared[3].body else { panic!() };
        assert!(spec.tags.contains(&"release-shop".to_string()));
        assert_eq!(spec.description.as_deref(), Some("proxctl:release=shop"));
        assert_eq!(p.user_values, json!({"replicas": 4}));
    }

    #[test]
    fn values_that_fail_the_schema_are_refused_before_rendering() {
        let chart = crate::builtin::get("web-tier").unwrap();
        let e = prepare(
            &chart,
            &info("x"),
            None,
            &[Source::Set("replicas=0".into())],
            &mut Secrets::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("--set replicas=0: replicas:"), "{e}");
    }

    #[test]
    fn a_rendered_manifest_the_engine_refuses_names_the_template() {
        let mut files: std::collections::BTreeMap<String, String> = Default::default();
        files.insert("Chart.yaml".into(), "name: bad\nversion: 1.0.0\n".into());
        files.insert("templates/vm.yaml".into(), "apiVersion: proxctl.io/v1\nkind: VirtualMachine\nmetadata: {name: a}\nspec:\n  cores: many\n".into());
        let chart = Chart::from_files(files).unwrap();
        let e = prepare(&chart, &info("x"), None, &[], &mut Secrets::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad/templates/vm.yaml:5"), "{e}");
    }
}
