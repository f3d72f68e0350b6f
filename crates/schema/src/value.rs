//! Checks one parameter value against its schema, in PVE's order: type, format, pattern,
//! maxLength, minLength, minimum/maximum, enum (pve-common JSONSchema.pm).

use std::collections::HashMap;

use regex::Regex;
use serde_json::Value;

use crate::format::check_named_format;
use crate::truthy_key;

/// `Err` carries PVE's text for the `errors` map.
pub fn check_value(
    schema: &Value,
    v: &str,
    regexes: &HashMap<String, Regex>,
) -> Result<(), String> {
    let ty = schema.get("type").and_then(Value::as_str).unwrap_or("string");
    match ty {
        "boolean" if v != "0" && v != "1" => {
            return Err(format!("type check ('boolean') failed - got '{v}'"));
        }
        "integer" => {
            let digits = v.strip_prefix(['+', '-']).unwrap_or(v);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("type check ('integer') failed - got '{v}'"));
            }
        }
        "number" if v.trim().parse::<f64>().is_err() => {
            return Err(format!("type check ('number') failed - got '{v}'"));
        }
        _ => {}
    }
    match schema.get("format") {
        Some(Value::String(f)) => {
            check_named_format(f, v).map_err(|m| format!("invalid format - {m}\n"))?
        }
        Some(Value::Object(obj)) => check_property_string(obj, v, regexes)?,
        _ => {}
    }
    if let Some(p) = schema.get("pattern").and_then(Value::as_str)
        && let Some(re) = regexes.get(p)
        && !re.is_match(v)
    {
        return Err("value does not match the regex pattern".to_string());
    }
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
        && v.chars().count() as u64 > max
    {
        return Err(format!("value may only be {max} characters long"));
    }
    if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
        && (v.chars().count() as u64) < min
    {
        return Err(format!("value must be at least {min} characters long"));
    }
    if matches!(ty, "integer" | "number")
        && let Ok(n) = v.trim().parse::<f64>()
    {
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            return Err(format!("value must have a maximum value of {}", num(max)));
        }
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            return Err(format!("value must have a minimum value of {}", num(min)));
        }
    }
    if let Some(list) = schema.get("enum").and_then(Value::as_array) {
        let names: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
        if !names.contains(&v) {
            return Err(format!(
                "value '{v}' does not have a value in the enumeration '{}'",
                names.join(", ")
            ));
        }
    }
    Ok(())
}

fn num(f: f64) -> String {
    if f.fract() == 0.0 { format!("{}", f as i64) } else { f.to_string() }
}

/// A property string against its inline `format` object.
fn check_property_string(
    fmt: &serde_json::Map<String, Value>,
    v: &str,
    regexes: &HashMap<String, Regex>,
) -> Result<(), String> {
    let default_key =
        fmt.iter().find(|(_, s)| truthy_key(s, "default_key")).map(|(k, _)| k.as_str());
    let mut seen: Vec<String> = Vec::new();
    for part in v.split(',').filter(|p| !p.is_empty()) {
        let (key, val) = match part.split_once('=') {
            Some((k, v)) => (k.to_string(), v),
            None => match default_key {
                Some(dk) => (dk.to_string(), part),
                None => {
                    return Err("invalid format - value without key, but schema does not define a default key\n".into());
                }
            },
        };
        let Some(sub) = fmt.get(&key) else {
            return Err(format!(
                "invalid format - invalid key in comma-separated list property: {key}"
            ));
        };
        // `virtio=<mac>` style keys: an alias for `macaddr` that also sets `model` to the key.
        let (canonical, sub) = match sub.get("alias").and_then(Value::as_str) {
            Some(target) => {
                if let Some(ka) = sub.get("keyAlias").and_then(Value::as_str) {
                    seen.push(ka.to_string());
                }
                (target.to_string(), fmt.get(target).unwrap_or(sub))
            }
            None => (key.clone(), sub),
        };
        if seen.contains(&canonical) {
            return Err(format!(
                "invalid format - duplicate key in comma-separated list property: {canonical}"
            ));
        }
        seen.push(canonical.clone());
        let res = if sub.get("type").and_then(Value::as_str) == Some("boolean") {
            // Inside property strings PVE parses booleans leniently.
            match val.to_ascii_lowercase().as_str() {
                "0" | "1" | "on" | "off" | "yes" | "no" | "true" | "false" => Ok(()),
                _ => Err(format!("type check ('boolean') failed - got '{val}'")),
            }
        } else {
            check_value(sub, val, regexes)
        };
        res.map_err(|m| format!("invalid format - format error\n{canonical}: {}", m.trim_end()))?;
    }
    for (k, s) in fmt {
        let required =
            s.get("type").is_some() && !truthy_key(s, "optional") && s.get("alias").is_none();
        if required && !seen.contains(k) {
            return Err(format!(
                "invalid format - format error\n{k}: property is missing and it is not optional"
            ));
        }
    }
    Ok(())
}
