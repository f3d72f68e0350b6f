//! Values: the chart's `values.yaml`, overridden by `-f` files in order, then by `--set`
//! assignments; checked against `values.schema.json` with the file and line of each bad value.

use serde_json::{Map, Value};

use crate::ChartError;
use crate::chart::{yaml_message, yaml_place};

/// One source of values, for error messages: a file's name and text, or a `--set`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File { name: String, text: String },
    Set(String),
}

/// A YAML mapping (or nothing) as JSON values.
pub fn parse_yaml(name: &str, text: &str) -> Result<Value, ChartError> {
    if text.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let v: Value = serde_yaml_ng::from_str(text).map_err(|e| ChartError::Invalid {
        place: yaml_place(name, &e),
        message: yaml_message(&e),
    })?;
    match v {
        Value::Object(_) => Ok(v),
        Value::Null => Ok(Value::Object(Map::new())),
        _ => Err(ChartError::Invalid {
            place: name.to_string(),
            message: "values must be a mapping (key: value)".into(),
        }),
    }
}

/// `over` merged into `base`: mappings merge key by key, anything else replaces.
pub fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// `a.b.c=value`: the value read as a YAML scalar (`3` a number, `true` a boolean, `null`,
/// `[a, b]` a list), else a string.
pub fn parse_set(assignment: &str) -> Result<Value, ChartError> {
    let bad = |message: &str| ChartError::Invalid {
        place: format!("--set {assignment}"),
        message: message.to_string(),
    };
    let (path, raw) = assignment.split_once('=').ok_or_else(|| bad("expected KEY=VALUE"))?;
    if path.is_empty() || path.split('.').any(str::is_empty) {
        return Err(bad("the key must be names separated by '.', e.g. web.replicas=3"));
    }
    let value = match serde_yaml_ng::from_str::<Value>(raw) {
        Ok(v @ (Value::Bool(_) | Value::Number(_) | Value::Null | Value::Array(_))) => v,
        _ => Value::String(raw.to_string()),
    };
    let mut out = value;
    for seg in path.rsplit('.') {
        let mut m = Map::new();
        m.insert(seg.to_string(), out);
        out = Value::Object(m);
    }
    Ok(out)
}

/// The chart's defaults with every source applied in order.
pub fn resolve(defaults: Value, sources: &[Source]) -> Result<Value, ChartError> {
    let mut values = defaults;
    for s in sources {
        let over = match s {
            Source::File { name, text } => parse_yaml(name, text)?,
            Source::Set(a) => parse_set(a)?,
        };
        merge(&mut values, over);
    }
    Ok(values)
}

/// Check `values` against the chart's schema. Each problem names where the value came from
/// (the last source that set it, with its line) and what was expected.
pub fn check(
    schema: &Value,
    values: &Value,
    defaults_text: &str,
    sources: &[Source],
) -> Result<(), ChartError> {
    let validator = jsonschema::validator_for(schema).map_err(|e| ChartError::Invalid {
        place: "values.schema.json".into(),
        message: format!("not a valid JSON Schema: {e}"),
    })?;
    let problems: Vec<String> = validator
        .iter_errors(values)
        .map(|e| {
            let pointer = e.instance_path().to_string();
            let dotted = pointer.trim_start_matches('/').replace('/', ".");
            let place = origin(&dotted, defaults_text, sources);
            let key = if dotted.is_empty() { "(top level)".to_string() } else { dotted };
            format!("{place}: {key}: {}", e.masked())
        })
        .collect();
    if problems.is_empty() { Ok(()) } else { Err(ChartError::Values(problems)) }
}

/// Where the value at `dotted` was last set: `--set a.b=…`, `prod.yaml:4` or `values.yaml:7`.
fn origin(dotted: &str, defaults_text: &str, sources: &[Source]) -> String {
    for s in sources.iter().rev() {
        match s {
            Source::Set(a) => {
                let key = a.split('=').next().unwrap_or("");
                if !dotted.is_empty() && (dotted == key || dotted.starts_with(&format!("{key}."))) {
                    return format!("--set {a}");
                }
            }
            Source::File { name, text } => {
                if !dotted.is_empty() && defines(text, dotted) {
                    return format!("{name}:{}", locate(text, dotted).0);
                }
            }
        }
    }
    if dotted.is_empty() {
        return "values".into();
    }
    format!("values.yaml:{}", locate(defaults_text, dotted).0)
}

fn defines(text: &str, dotted: &str) -> bool {
    let Ok(v) = serde_yaml_ng::from_str::<Value>(text) else { return false };
    let pointer = format!("/{}", dotted.replace('.', "/"));
    v.pointer(&pointer).is_some()
}

/// The 1-based (line, column) of a dotted key path in block-style YAML (the nearest found
/// ancestor if the leaf is absent).
pub fn locate(doc: &str, path: &str) -> (usize, usize) {
    proxctl_engine::manifest::locate(doc, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn later_sources_win_and_maps_merge() {
        let defaults = json!({"web": {"replicas": 2, "memory": 1024}, "name": "a"});
        let v = resolve(
            defaults,
            &[
                Source::File { name: "p.yaml".into(), text: "web:\n  replicas: 3\n".into() },
                Source::Set("web.replicas=4".into()),
                Source::Set("name=b".into()),
            ],
        )
        .unwrap();
        assert_eq!(v, json!({"web": {"replicas": 4, "memory": 1024}, "name": "b"}));
    }

    #[test]
    fn set_reads_scalars_as_yaml_and_the_rest_as_strings() {
        assert_eq!(parse_set("a=3").unwrap(), json!({"a": 3}));
        assert_eq!(parse_set("a.b=true").unwrap(), json!({"a": {"b": true}}));
        assert_eq!(parse_set("a=web: x").unwrap(), json!({"a": "web: x"}));
        assert_eq!(parse_set("a=[1, 2]").unwrap(), json!({"a": [1, 2]}));
        assert!(parse_set("a").is_err());
        assert!(parse_set("a..b=1").is_err());
    }

    #[test]
    fn a_bad_value_names_its_file_line_and_what_was_expected() {
        let schema = json!({"type": "object", "properties": {
            "web": {"type": "object", "properties": {"replicas": {"type": "integer", "minimum": 1}}}}});
        let defaults = "web:\n  replicas: 2\n";
        let sources = vec![Source::File {
            name: "prod.yaml".into(),
            text: "# prod\nweb:\n  replicas: zero\n".into(),
        }];
        let v = resolve(parse_yaml("values.yaml", defaults).unwrap(), &sources).unwrap();
        let e = check(&schema, &v, defaults, &sources).unwrap_err().to_string();
        assert!(e.contains("prod.yaml:3: web.replicas:"), "{e}");
        assert!(e.contains("integer"), "{e}");

        let sources = vec![Source::Set("web.replicas=0".into())];
        let v = resolve(parse_yaml("values.yaml", defaults).unwrap(), &sources).unwrap();
        let e = check(&schema, &v, defaults, &sources).unwrap_err().to_string();
        assert!(e.contains("--set web.replicas=0: web.replicas:"), "{e}");
    }
}
