//! Request parameters for the simulator's own validation: typed getters that record PVE's
//! error texts, and a `finish` that rejects anything a handler did not consume, as PVE's
//! `additionalProperties: 0` does.

use std::collections::{BTreeMap, BTreeSet};

use proxctl_types::messages::{MISSING_PARAM, UNKNOWN_PARAM};
use proxctl_types::{NodeName, VmId};

use crate::error::PveError;

#[derive(Debug, Default, Clone)]
pub struct Params {
    values: BTreeMap<String, Vec<String>>,
    used: BTreeSet<String>,
    errors: BTreeMap<String, String>,
}

impl Params {
    /// The parameters as one string, equal for equal parameters (a cache key).
    pub fn cache_key(&self) -> String {
        format!("{:?}", self.values)
    }

    pub fn new(pairs: Vec<(String, String)>) -> Self {
        let mut values: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in pairs {
            // ExtJS's cache buster is dropped before validation.
            if k == "_dc" {
                continue;
            }
            values.entry(k).or_default().push(v);
        }
        Self { values, ..Self::default() }
    }

    pub fn insert(&mut self, k: &str, v: &str) {
        self.values.insert(k.to_string(), vec![v.to_string()]);
    }

    pub fn keys(&self) -> Vec<String> {
        self.values.keys().cloned().collect()
    }

    pub fn has(&self, k: &str) -> bool {
        self.values.contains_key(k)
    }

    fn err(&mut self, k: &str, text: impl Into<String>) {
        self.errors.entry(k.to_string()).or_insert_with(|| text.into());
    }

    /// The single value of `k`; a repeated key is PVE's `got ARRAY` error.
    pub fn opt_str(&mut self, k: &str) -> Option<String> {
        self.used.insert(k.to_string());
        let v = self.values.get(k)?;
        if v.len() > 1 {
            self.err(k, "type check ('string') failed - got ARRAY");
            return None;
        }
        v.first().cloned()
    }

    /// Every value of an array parameter.
    pub fn list(&mut self, k: &str) -> Vec<String> {
        self.used.insert(k.to_string());
        self.values.get(k).cloned().unwrap_or_default()
    }

    pub fn str(&mut self, k: &str) -> String {
        match self.opt_str(k) {
            Some(v) => v,
            None => {
                self.err(k, MISSING_PARAM);
                String::new()
            }
        }
    }

    pub fn opt_bool(&mut self, k: &str) -> Option<bool> {
        match self.opt_str(k)?.as_str() {
            "1" => Some(true),
            "0" => Some(false),
            other => {
                let o = other.to_string();
                self.err(k, format!("type check ('boolean') failed - got '{o}'"));
                None
            }
        }
    }

    pub fn flag(&mut self, k: &str) -> bool {
        self.opt_bool(k).unwrap_or(false)
    }

    pub fn opt_int(&mut self, k: &str, min: Option<i64>, max: Option<i64>) -> Option<i64> {
        let v = self.opt_str(k)?;
        let digits = v.strip_prefix(['+', '-']).unwrap_or(&v);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            self.err(k, format!("type check ('integer') failed - got '{v}'"));
            return None;
        }
        let n: i64 = match v.parse() {
            Ok(n) => n,
            Err(_) => {
                self.err(k, format!("type check ('integer') failed - got '{v}'"));
                return None;
            }
        };
        if let Some(m) = min
            && n < m
        {
            self.err(k, format!("value must have a minimum value of {m}"));
            return None;
        }
        if let Some(m) = max
            && n > m
        {
            self.err(k, format!("value must have a maximum value of {m}"));
            return None;
        }
        Some(n)
    }

    pub fn opt_vmid(&mut self, k: &str) -> Option<VmId> {
        let v = self.opt_str(k)?;
        match v.parse::<VmId>() {
            Ok(id) => Some(id),
            Err(_) => {
                self.err(k, "invalid format - value does not look like a valid VM ID\n");
                None
            }
        }
    }

    pub fn vmid(&mut self, k: &str) -> Option<VmId> {
        if !self.has(k) {
            self.used.insert(k.to_string());
            self.err(k, MISSING_PARAM);
            return None;
        }
        self.opt_vmid(k)
    }

    pub fn node(&mut self, k: &str) -> Option<NodeName> {
        let v = self.str(k);
        match NodeName::new(v) {
            Ok(n) => Some(n),
            Err(_) => {
                self.err(k, "invalid format - value does not look like a valid node name\n");
                None
            }
        }
    }

    pub fn opt_enum(&mut self, k: &str, allowed: &[&str]) -> Option<String> {
        let v = self.opt_str(k)?;
        if allowed.contains(&v.as_str()) {
            Some(v)
        } else {
            self.err(
                k,
                format!(
                    "value '{v}' does not have a value in the enumeration '{}'",
                    allowed.join(", ")
                ),
            );
            None
        }
    }

    /// Record a validation error found by the handler itself.
    pub fn invalid(&mut self, k: &str, text: impl Into<String>) {
        self.used.insert(k.to_string());
        self.err(k, text);
    }

    /// Take every parameter accepted by `is_key` (config keys), in key order.
    pub fn take_matching(&mut self, is_key: impl Fn(&str) -> bool) -> Vec<(String, String)> {
        let keys: Vec<String> = self.values.keys().filter(|k| is_key(k)).cloned().collect();
        let mut out = Vec::new();
        for k in keys {
            if let Some(v) = self.opt_str(&k) {
                out.push((k, v));
            }
        }
        out
    }

    /// Fail with 400 if any value was invalid or any parameter was not consumed.
    pub fn finish(&mut self) -> Result<(), PveError> {
        for k in self.values.keys() {
            if !self.used.contains(k) {
                self.errors.entry(k.clone()).or_insert_with(|| UNKNOWN_PARAM.to_string());
            }
        }
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(PveError::params(std::mem::take(&mut self.errors)))
        }
    }
}
