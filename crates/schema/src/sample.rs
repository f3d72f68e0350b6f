//! Answers shaped as a method's `returns` says, for the methods the simulator has no code
//! for: what a client reading the answer expects to find, and nothing it does not. Optional
//! keys are left out (PVE leaves them out too), lists are empty, numbers sit at their minimum.

use serde_json::{Map, Value};

/// How deep objects inside objects are filled; PVE's return schemas are shallow, and a cycle
/// cannot occur in JSON, but a hostile schema file should not make a deep answer.
const MAX_DEPTH: usize = 8;

/// A value of the shape `returns` declares.
pub fn sample(returns: &Value) -> Value {
    at(returns, 0)
}

fn optional(v: &Value) -> bool {
    match v.get("optional") {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        _ => false,
    }
}

fn at(s: &Value, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return Value::Null;
    }
    if let Some(first) = s.get("enum").and_then(Value::as_array).and_then(|e| e.first()) {
        return first.clone();
    }
    match s.get("type").and_then(Value::as_str) {
        Some("object") => {
            let mut m = Map::new();
            if let Some(props) = s.get("properties").and_then(Value::as_object) {
                for (k, v) in props.iter().filter(|(_, v)| !optional(v)) {
                    m.insert(k.clone(), at(v, depth + 1));
                }
            }
            Value::Object(m)
        }
        Some("array") => Value::Array(Vec::new()),
        Some("integer") | Some("number") => {
            let min = s.get("minimum").and_then(Value::as_f64).unwrap_or(0.0).max(0.0);
            match s.get("default") {
                Some(Value::Number(n)) => Value::Number(n.clone()),
                _ => serde_json::json!(min as i64),
            }
        }
        Some("boolean") => match s.get("default") {
            Some(Value::Number(n)) => Value::Number(n.clone()),
            _ => serde_json::json!(0),
        },
        Some("string") => match s.get("default") {
            Some(Value::String(d)) => Value::String(d.clone()),
            _ => Value::String(String::new()),
        },
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_carry_their_required_keys_and_leave_optional_ones_out() {
        let returns = json!({"type": "object", "properties": {
            "name": {"type": "string"},
            "count": {"type": "integer", "minimum": 1},
            "mode": {"type": "string", "enum": ["a", "b"]},
            "note": {"type": "string", "optional": 1},
            "list": {"type": "array", "items": {"type": "object"}},
            "on": {"type": "boolean", "default": 1}
        }});
        assert_eq!(
            sample(&returns),
            json!({"name": "", "count": 1, "mode": "a", "list": [], "on": 1})
        );
    }

    #[test]
    fn lists_are_empty_and_null_stays_null() {
        assert_eq!(sample(&json!({"type": "array", "items": {"type": "string"}})), json!([]));
        assert_eq!(sample(&json!({"type": "null"})), Value::Null);
        assert_eq!(sample(&json!({})), Value::Null);
    }
}
