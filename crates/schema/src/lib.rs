//! Validates PVE API requests against a PVE API schema document: the `apidata.js` a PVE node
//! ships (`/usr/share/pve-docs/api-viewer/apidata.js`) or the same data as plain JSON. The
//! simulator uses it for `--schema`, and the client's conformance test uses it to prove every
//! request the client can send is one PVE accepts.

mod format;
mod sample;
mod value;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use proxctl_types::messages::{MISSING_PARAM, UNKNOWN_PARAM};
use regex::Regex;
use serde_json::Value;

pub use sample::sample;
pub use value::check_value;

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("cannot read schema file {path}")]
    Read { path: String, source: std::io::Error },
    #[error("schema is not valid JSON (nor an apidata.js wrapper around JSON)")]
    Json(#[source] serde_json::Error),
    #[error("schema JSON is not an array of API tree nodes")]
    Shape,
}

/// Why a request does not fit the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// No such path: PVE answers 501 `Method 'GET /x' not implemented`.
    NoRoute { method: String, path: String },
    /// Parameter errors, keyed by parameter name, in PVE's texts: a 400.
    Params(BTreeMap<String, String>),
}

/// A loaded schema, indexed by path template.
#[derive(Debug)]
pub struct ApiSchema {
    routes: Vec<Route>,
    regexes: HashMap<String, Regex>,
}

#[derive(Debug)]
struct Route {
    template: String,
    segments: Vec<Segment>,
    methods: HashMap<String, Value>,
}

#[derive(Debug)]
enum Segment {
    Literal(String),
    Param(String),
}

/// What a successful validation looked at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checked {
    pub params: usize,
}

impl ApiSchema {
    pub fn load(path: &Path) -> Result<Self, SchemaError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| SchemaError::Read { path: path.display().to_string(), source })?;
        Self::from_text(&text)
    }

    /// Accepts plain JSON or the `const apiSchema = [...];` JavaScript wrapper.
    pub fn from_text(text: &str) -> Result<Self, SchemaError> {
        let trimmed = text.trim_start();
        let json = if trimmed.starts_with('[') {
            trimmed
        } else {
            let start = text.find('[').ok_or(SchemaError::Shape)?;
            let end = text.rfind(']').ok_or(SchemaError::Shape)?;
            text.get(start..=end).ok_or(SchemaError::Shape)?
        };
        let v: Value = serde_json::from_str(json).map_err(SchemaError::Json)?;
        let nodes = v.as_array().ok_or(SchemaError::Shape)?;
        let mut routes = Vec::new();
        for n in nodes {
            collect(n, &mut routes);
        }
        let mut regexes = HashMap::new();
        for r in &routes {
            for m in r.methods.values() {
                collect_patterns(m, &mut regexes);
            }
        }
        Ok(Self { routes, regexes })
    }

    pub fn route_count(&self) -> usize {
        self.routes.len()
    }

    /// The path template (e.g. `/nodes/{node}/qemu`) a concrete path matches, with its values.
    pub fn match_path(&self, path: &str) -> Option<(&str, BTreeMap<String, String>)> {
        let raw: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        // Prefer the route with the most literal segments, as PVE's router does.
        let mut best: Option<(&Route, usize, Vec<String>)> = None;
        for r in &self.routes {
            let Some(segs) = fit_segments(r, &raw) else {
                continue;
            };
            let mut literals = 0;
            let ok = r.segments.iter().zip(&segs).all(|(s, v)| match s {
                Segment::Literal(l) => {
                    literals += 1;
                    l == v
                }
                Segment::Param(_) => true,
            });
            if ok && best.as_ref().is_none_or(|(_, b, _)| literals > *b) {
                best = Some((r, literals, segs.clone()));
            }
        }
        let (r, _, segs) = best?;
        let params = r
            .segments
            .iter()
            .zip(&segs)
            .filter_map(|(s, v)| match s {
                Segment::Param(p) => Some((p.clone(), v.clone())),
                Segment::Literal(_) => None,
            })
            .collect();
        Some((&r.template, params))
    }

    /// Every method of every path: `(method, template)`.
    pub fn methods(&self) -> impl Iterator<Item = (&str, &str)> {
        self.routes
            .iter()
            .flat_map(|r| r.methods.keys().map(move |m| (m.as_str(), r.template.as_str())))
    }

    /// The method description (`info.<METHOD>`) for a path template.
    pub fn method(&self, method: &str, template: &str) -> Option<&Value> {
        self.routes.iter().find(|r| r.template == template)?.methods.get(method)
    }

    /// Validate a request: `params` are the query/body parameters as sent on the wire (strings).
    pub fn validate(
        &self,
        method: &str,
        path: &str,
        params: &[(String, String)],
    ) -> Result<Checked, Violation> {
        let no_route = || Violation::NoRoute { method: method.to_string(), path: path.to_string() };
        let (template, path_params) = self.match_path(path).ok_or_else(no_route)?;
        let info = self.method(method, template).ok_or_else(no_route)?;
        let props = info
            .pointer("/parameters/properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let additional = info.pointer("/parameters/additionalProperties").is_some_and(truthy);

        let mut errors = BTreeMap::new();
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (k, _) in params {
            *seen.entry(k.as_str()).or_default() += 1;
        }
        let mut all: Vec<(String, String)> = path_params.clone().into_iter().collect();
        for (k, v) in params {
            if let Some(pv) = path_params.get(k) {
                if pv != v {
                    errors.insert(
                        k.clone(),
                        "duplicate parameter (already defined in URI) with conflicting values!"
                            .to_string(),
                    );
                }
                continue;
            }
            all.push((k.clone(), v.clone()));
        }
        let mut checked = 0;
        for (k, v) in &all {
            let Some(schema) = lookup_param(&props, k) else {
                if !additional {
                    errors.insert(k.clone(), UNKNOWN_PARAM.to_string());
                }
                continue;
            };
            checked += 1;
            let is_list = schema.get("type").and_then(Value::as_str) == Some("array")
                || schema
                    .get("format")
                    .and_then(Value::as_str)
                    .is_some_and(|f| f.ends_with("-list"));
            if seen.get(k.as_str()).copied().unwrap_or(0) > 1 && !is_list {
                errors.insert(k.clone(), "type check ('string') failed - got ARRAY".to_string());
                continue;
            }
            if let Err(e) = check_value(schema, v, &self.regexes) {
                errors.insert(k.clone(), e);
            }
        }
        for (name, schema) in &props {
            if name.contains("[n]") || truthy_key(schema, "optional") {
                continue;
            }
            if !all.iter().any(|(k, _)| k == name) {
                errors.insert(name.clone(), MISSING_PARAM.to_string());
            }
        }
        if errors.is_empty() {
            Ok(Checked { params: checked })
        } else {
            Err(Violation::Params(errors))
        }
    }
}

/// The concrete segments aligned to a route's template. Everything after `.../content/` is one
/// `{volume}` value (PVE registers that handler with an empty fragment delimiter), so
/// `local:iso/x.iso` works with or without percent-encoding.
fn fit_segments(r: &Route, raw: &[&str]) -> Option<Vec<String>> {
    let n = r.segments.len();
    let volume_tail = n >= 2
        && matches!(&r.segments[n - 1], Segment::Param(p) if p == "volume")
        && matches!(&r.segments[n - 2], Segment::Literal(l) if l == "content");
    if raw.len() == n {
        return Some(raw.iter().map(|s| s.to_string()).collect());
    }
    if volume_tail && raw.len() > n {
        let mut v: Vec<String> = raw[..n - 1].iter().map(|s| s.to_string()).collect();
        v.push(raw[n - 1..].join("/"));
        return Some(v);
    }
    None
}

/// The schema of parameter `name`, resolving indexed names (`net0` → `net[n]`).
fn lookup_param<'a>(props: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(s) = props.get(name) {
        return Some(s);
    }
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 || digits == name.len() {
        return None;
    }
    let prefix = &name[..name.len() - digits];
    props.get(&format!("{prefix}[n]"))
}

fn collect(node: &Value, out: &mut Vec<Route>) {
    if let Some(path) = node.get("path").and_then(Value::as_str) {
        let segments = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(p) => Segment::Param(p.to_string()),
                None => Segment::Literal(s.to_string()),
            })
            .collect();
        let methods = node
            .get("info")
            .and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        out.push(Route { template: path.to_string(), segments, methods });
    }
    if let Some(children) = node.get("children").and_then(Value::as_array) {
        for c in children {
            collect(c, out);
        }
    }
}

fn collect_patterns(v: &Value, out: &mut HashMap<String, Regex>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(p)) = m.get("pattern")
                && !out.contains_key(p)
                // Perl-only constructs (lookaround, backrefs) do not compile here; such patterns
                // are skipped rather than guessed at.
                && let Ok(re) = Regex::new(&format!("^(?:{p})$"))
            {
                out.insert(p.clone(), re);
            }
            for x in m.values() {
                collect_patterns(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_patterns(x, out)),
        _ => {}
    }
}

pub(crate) fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_i64().is_some_and(|i| i != 0),
        Value::String(s) => s == "1",
        _ => false,
    }
}

pub(crate) fn truthy_key(v: &Value, k: &str) -> bool {
    v.get(k).is_some_and(truthy)
}

/// Where the PVE schema shared with this repository lives: `$PROXCTL_SCHEMA`, else
/// `../shared/pve-api-schema.json` beside the workspace root.
pub fn shared_schema_path() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("PROXCTL_SCHEMA") {
        return p.into();
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/pve-api-schema.json")
}

/// Load the shared schema for a test. Returns `None` (the test skips) only when it is missing
/// and `PROXCTL_REQUIRE_ALL` is unset; CI sets it, so there a missing schema fails the test.
pub fn load_shared_schema_for_tests() -> Option<ApiSchema> {
    let p = shared_schema_path();
    match ApiSchema::load(&p) {
        Ok(s) => Some(s),
        Err(e) if std::env::var_os("PROXCTL_REQUIRE_ALL").is_none() => {
            eprintln!(
                "skipping: {e} ({}); set PROXCTL_REQUIRE_ALL=1 to make this fatal",
                p.display()
            );
            None
        }
        #[allow(clippy::panic)]
        Err(e) => panic!(
            "PROXCTL_REQUIRE_ALL is set but the PVE schema is unusable: {e} ({})",
            p.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> ApiSchema {
        ApiSchema::from_text(
            r#"const apiSchema = [{"path":"/nodes","text":"nodes","leaf":0,"children":[
              {"path":"/nodes/{node}","text":"{node}","leaf":0,"children":[
                {"path":"/nodes/{node}/qemu","text":"qemu","leaf":1,"info":{"POST":{"parameters":{
                  "additionalProperties":0,"properties":{
                    "node":{"type":"string","format":"pve-node"},
                    "vmid":{"type":"integer","format":"pve-vmid"},
                    "name":{"type":"string","format":"dns-name","optional":1},
                    "onboot":{"type":"boolean","optional":1},
                    "cores":{"type":"integer","minimum":1,"optional":1},
                    "net[n]":{"type":"string","optional":1,"format":{
                      "model":{"type":"string","default_key":1,"enum":["virtio","e1000"]},
                      "virtio":{"alias":"macaddr","keyAlias":"model"},
                      "macaddr":{"type":"string","optional":1},
                      "bridge":{"type":"string","optional":1},
                      "firewall":{"type":"boolean","optional":1}}}}}}}}]}]}];"#,
        )
        .unwrap()
    }

    fn p(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn accepts_a_valid_request_and_counts_parameters() {
        let s = tiny();
        let c = s
            .validate(
                "POST",
                "/nodes/pve/qemu",
                &p(&[("vmid", "100"), ("net0", "virtio,bridge=vmbr0,firewall=1")]),
            )
            .unwrap();
        assert_eq!(c.params, 3);
    }

    #[test]
    fn reports_unknown_missing_and_malformed_parameters_in_pve_texts() {
        let s = tiny();
        let Err(Violation::Params(e)) = s.validate(
            "POST",
            "/nodes/pve/qemu",
            &p(&[("bogus", "1"), ("onboot", "true"), ("cores", "0")]),
        ) else {
            panic!("expected parameter errors")
        };
        assert_eq!(e["bogus"], UNKNOWN_PARAM);
        assert_eq!(e["vmid"], MISSING_PARAM);
        assert_eq!(e["onboot"], "type check ('boolean') failed - got 'true'");
        assert_eq!(e["cores"], "value must have a minimum value of 1");
    }

    #[test]
    fn checks_property_string_keys_against_the_format_object() {
        let s = tiny();
        let Err(Violation::Params(e)) = s.validate(
            "POST",
            "/nodes/pve/qemu",
            &p(&[("vmid", "100"), ("net0", "virtio,colour=red")]),
        ) else {
            panic!("expected parameter errors")
        };
        assert_eq!(
            e["net0"],
            "invalid format - invalid key in comma-separated list property: colour"
        );
    }

    #[test]
    fn unknown_paths_and_methods_are_no_route() {
        let s = tiny();
        assert!(matches!(
            s.validate("GET", "/nodes/pve/qemu", &[]),
            Err(Violation::NoRoute { .. })
        ));
        assert!(matches!(s.validate("GET", "/nope", &[]), Err(Violation::NoRoute { .. })));
    }

    #[test]
    fn conflicting_path_and_body_values_are_rejected() {
        let s = tiny();
        let Err(Violation::Params(e)) =
            s.validate("POST", "/nodes/pve/qemu", &p(&[("vmid", "100"), ("node", "other")]))
        else {
            panic!("expected parameter errors")
        };
        assert!(e["node"].contains("duplicate parameter"));
    }
}
