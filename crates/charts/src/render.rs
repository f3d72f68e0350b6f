//! Rendering a chart: every `templates/*.yaml` through minijinja (Jinja2) with `values`,
//! `release` and `chart` in scope, plus `userdata(file)` (a rendered `userdata/<file>`) and
//! `secret(name)` (a random value generated once per release and kept with it).
//! `userdata(file, key=value…)` sees `values`, `release`, `chart` and the keywords it was
//! given. Undefined values are errors when printed, and every error names the file and line.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value as J};
use serde::Serialize;

use crate::ChartError;
use crate::chart::Chart;

/// What a rendering is for.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseInfo {
    pub name: String,
    pub revision: u32,
    #[serde(rename = "isInstall")]
    pub is_install: bool,
    #[serde(rename = "isUpgrade")]
    pub is_upgrade: bool,
}

/// Secrets a release keeps (`secret(name)` in templates), generated on first use. Their
/// values never appear in `Debug` output.
#[derive(Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Secrets(pub BTreeMap<String, String>);

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

/// One template's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RenderedFile {
    /// The template's path in the chart, e.g. `templates/web.yaml`.
    pub path: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rendered {
    /// Non-empty outputs, in template name order.
    pub files: Vec<RenderedFile>,
    pub notes: Option<String>,
}

impl Rendered {
    /// Every manifest as one multi-document YAML stream, each file headed by its source.
    pub fn manifest(&self) -> String {
        let mut out = String::new();
        for f in &self.files {
            out.push_str(&format!("---\n# Source: {}\n", f.path));
            let body = f.text.trim_start();
            out.push_str(
                body.strip_prefix("---").unwrap_or(body).trim_start_matches('\n').trim_end(),
            );
            out.push('\n');
        }
        out
    }
}

/// Render `chart` with `values` (already merged and checked) for `release`. New secrets are
/// added to `secrets`.
pub fn render(
    chart: &Chart,
    values: &serde_json::Value,
    release: &ReleaseInfo,
    secrets: &mut Secrets,
) -> Result<Rendered, ChartError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    env.set_keep_trailing_newline(true);
    // minijinja escapes `.yaml` output as JSON by default; charts write YAML themselves and
    // quote with `| tojson` where a value needs it.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    for (path, text) in &chart.files {
        if path.starts_with("templates/") || path.starts_with("userdata/") || path == "NOTES.txt" {
            env.add_template_owned(path.clone(), text.clone()).map_err(template_error)?;
        }
    }
    let kept = Arc::new(Mutex::new(std::mem::take(secrets)));
    let for_fn = Arc::clone(&kept);
    env.add_function("secret", move |name: String| -> Result<String, minijinja::Error> {
        let mut s = for_fn.lock().unwrap_or_else(PoisonError::into_inner);
        let v = s.0.entry(name).or_insert_with(|| {
            let mut b = [0u8; 24];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut b);
            hex::encode(b)
        });
        Ok(v.clone())
    });
    env.add_function(
        "userdata",
        |state: &minijinja::State,
         file: String,
         extra: minijinja::value::Kwargs|
         -> Result<String, minijinja::Error> {
            let name = format!("userdata/{file}");
            let tmpl = state.env().get_template(&name).map_err(|_| {
                minijinja::Error::new(
                    ErrorKind::TemplateNotFound,
                    format!("userdata({file:?}): the chart has no {name}"),
                )
            })?;
            let mut vars: BTreeMap<String, J> = BTreeMap::new();
            for k in ["values", "release", "chart"] {
                vars.insert(k.to_string(), state.lookup(k).unwrap_or_default());
            }
            for k in extra.args() {
                vars.insert(k.to_string(), extra.get::<J>(k)?);
            }
            tmpl.render(J::from_serialize(&vars))
        },
    );
    let ctx = minijinja::context! {
        values => J::from_serialize(values),
        release => J::from_serialize(release),
        chart => minijinja::context! {
            name => chart.meta.name.clone(),
            version => chart.meta.version.to_string(),
            description => chart.meta.description.clone(),
        },
    };
    let mut files = Vec::new();
    for (path, _) in chart.templates() {
        let t = env.get_template(path).map_err(template_error)?;
        let text = t.render(&ctx).map_err(template_error)?;
        if text
            .lines()
            .any(|l| !l.trim().is_empty() && !l.trim().starts_with('#') && l.trim() != "---")
        {
            files.push(RenderedFile { path: path.to_string(), text });
        }
    }
    let notes = match chart.notes() {
        Some(_) => Some(
            env.get_template("NOTES.txt").and_then(|t| t.render(&ctx)).map_err(template_error)?,
        ),
        None => None,
    };
    drop(env);
    *secrets = std::mem::take(&mut *kept.lock().unwrap_or_else(PoisonError::into_inner));
    Ok(Rendered { files, notes })
}

/// A minijinja error as `file:line: what went wrong`.
fn template_error(e: minijinja::Error) -> ChartError {
    let place = match (e.name(), e.line()) {
        (Some(n), Some(l)) => format!("{n}:{l}"),
        (Some(n), None) => n.to_string(),
        _ => "template".to_string(),
    };
    let what = match e.kind() {
        ErrorKind::UndefinedError => "undefined value (a key missing from values?)".to_string(),
        k => k.to_string(),
    };
    let message = match e.detail() {
        Some(d) => format!("{what}: {d}"),
        None => what,
    };
    ChartError::Template { place, message }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chart(pairs: &[(&str, &str)]) -> Chart {
        let mut files: BTreeMap<String, String> =
            pairs.iter().map(|(p, t)| (p.to_string(), t.to_string())).collect();
        files.insert("Chart.yaml".into(), "name: t\nversion: 1.0.0\n".into());
        Chart::from_files(files).unwrap()
    }

    fn info() -> ReleaseInfo {
        ReleaseInfo { name: "r".into(), revision: 1, is_install: true, is_upgrade: false }
    }

    #[test]
    fn renders_values_and_release_and_skips_empty_output() {
        let c = chart(&[
            (
                "templates/a.yaml",
                "{% for i in range(values.n) %}name: {{ release.name }}-{{ i }}\n{% endfor %}",
            ),
            ("templates/b.yaml", "{% if values.extra %}x: 1{% endif %}\n"),
        ]);
        let r = render(&c, &json!({"n": 2}), &info(), &mut Secrets::default()).unwrap();
        assert_eq!(r.files.len(), 1);
        assert_eq!(r.files[0].text, "name: r-0\nname: r-1\n");
    }

    #[test]
    fn an_undefined_value_names_the_file_and_line() {
        let c = chart(&[("templates/a.yaml", "a: 1\nb: {{ values.missing.deep }}\n")]);
        let e = render(&c, &json!({}), &info(), &mut Secrets::default()).unwrap_err().to_string();
        assert!(e.starts_with("templates/a.yaml:2: undefined value"), "{e}");
    }

    #[test]
    fn a_syntax_error_names_the_file_and_line() {
        let c = chart(&[("templates/a.yaml", "a: 1\n\n{% for x in %}\n")]);
        let e = render(&c, &json!({}), &info(), &mut Secrets::default()).unwrap_err().to_string();
        assert!(e.starts_with("templates/a.yaml:3: syntax error"), "{e}");
    }

    #[test]
    fn secrets_are_generated_once_and_kept() {
        let c = chart(&[
            ("templates/a.yaml", "ud: {{ userdata('u.yaml') | tojson }}\n"),
            ("userdata/u.yaml", "#cloud-config\ntoken: {{ secret('t') }} for {{ release.name }}\n"),
        ]);
        let mut s = Secrets::default();
        let one = render(&c, &json!({}), &info(), &mut s).unwrap();
        let token = s.0.get("t").cloned().unwrap();
        assert_eq!(token.len(), 48);
        assert!(one.files[0].text.contains(&token));
        let two = render(&c, &json!({}), &info(), &mut s).unwrap();
        assert_eq!(one, two);
        assert!(!format!("{s:?}").contains(&token));
    }
}
