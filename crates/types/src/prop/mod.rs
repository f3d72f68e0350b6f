//! PVE property strings (`key=value,key=value` with an optional default key), parsed into typed
//! values. Unknown keys are kept verbatim so a read-modify-write never loses data.

mod drive;
mod ipconfig;
mod lxc;
mod net;
mod prune;
mod system;

#[cfg(test)]
mod proptests;

use std::fmt;
use std::str::FromStr;

pub use drive::{Drive, DriveSlot, EfiDisk, Media, TpmState};
pub use ipconfig::{IpConfig, Ipv4Setting, Ipv6Setting};
pub use lxc::{LxcMount, LxcNet};
pub use net::{MacAddr, NetDevice, NetModel};
pub use prune::PruneBackups;
pub use system::{Agent, Boot, Cpu, Memory, Serial, Smbios1, Vga};

/// A property string that does not fit its format. The text follows PVE's
/// `invalid format - ...` messages so users recognise it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PropError {
    #[error("duplicate key in comma-separated list property: {0}")]
    DuplicateKey(String),
    #[error("value without key, but schema does not define a default key")]
    NoDefaultKey,
    #[error("missing value for '{0}'")]
    Missing(&'static str),
    #[error("{key}: invalid value '{value}': {reason}")]
    Invalid { key: String, value: String, reason: String },
}

/// Unknown `key=value` pairs, in their original order.
pub type Extra = Vec<(String, String)>;

/// The parsed items of one property string, consumed field by field by the typed parsers.
#[derive(Debug)]
pub(crate) struct Fields {
    items: Vec<(String, String)>,
    default: Option<String>,
}

impl Fields {
    /// Split `s` on `,`. A part without `=` is the default key's value; at most one is allowed.
    pub(crate) fn parse(s: &str, default_key: Option<&str>) -> Result<Self, PropError> {
        let mut items: Vec<(String, String)> = Vec::new();
        let mut default = None;
        for part in s.split(',') {
            if part.is_empty() {
                continue;
            }
            match part.split_once('=') {
                Some((k, v)) => {
                    if items.iter().any(|(ek, _)| ek == k)
                        || (default_key == Some(k) && default.is_some())
                    {
                        return Err(PropError::DuplicateKey(k.to_string()));
                    }
                    items.push((k.to_string(), v.to_string()));
                }
                None => {
                    let Some(dk) = default_key else {
                        return Err(PropError::NoDefaultKey);
                    };
                    if default.is_some() || items.iter().any(|(k, _)| k == dk) {
                        return Err(PropError::DuplicateKey(dk.to_string()));
                    }
                    default = Some(part.to_string());
                }
            }
        }
        Ok(Self { items, default })
    }

    /// The positional value, or the value given with its explicit key name.
    pub(crate) fn take_default(&mut self, key: &str) -> Option<String> {
        self.default.take().or_else(|| self.take(key))
    }

    pub(crate) fn take(&mut self, key: &str) -> Option<String> {
        let i = self.items.iter().position(|(k, _)| k == key)?;
        Some(self.items.remove(i).1)
    }

    /// Take the first key from `keys` that is present, returning which one matched.
    pub(crate) fn take_any(&mut self, keys: &[&str]) -> Option<(String, String)> {
        let i = self.items.iter().position(|(k, _)| keys.contains(&k.as_str()))?;
        Some(self.items.remove(i))
    }

    pub(crate) fn take_parse<T: FromStr>(&mut self, key: &str) -> Result<Option<T>, PropError>
    where
        T::Err: fmt::Display,
    {
        match self.take(key) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|e: T::Err| invalid(key, &v, e)),
        }
    }

    pub(crate) fn take_bool(&mut self, key: &str) -> Result<Option<bool>, PropError> {
        match self.take(key) {
            None => Ok(None),
            Some(v) => parse_bool(key, &v).map(Some),
        }
    }

    pub(crate) fn rest(self) -> Extra {
        self.items
    }
}

pub(crate) fn invalid(key: &str, value: &str, reason: impl fmt::Display) -> PropError {
    PropError::Invalid {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

/// Property strings come from config files too, where PVE also accepts on/off, yes/no, true/false.
pub(crate) fn parse_bool(key: &str, v: &str) -> Result<bool, PropError> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "on" | "yes" | "true" => Ok(true),
        "0" | "off" | "no" | "false" => Ok(false),
        _ => Err(invalid(key, v, "expected 0 or 1")),
    }
}

/// Writes `key=value` items joined by `,`.
#[derive(Default)]
pub(crate) struct Writer(Vec<String>);

impl Writer {
    pub(crate) fn raw(&mut self, v: impl fmt::Display) -> &mut Self {
        self.0.push(v.to_string());
        self
    }
    /// The default key's value: bare when that reads back unambiguously, else `key=value`
    /// (a bare value holding `=` or nothing would parse as some other key).
    pub(crate) fn positional(&mut self, key: &str, v: impl fmt::Display) -> &mut Self {
        let v = v.to_string();
        if v.is_empty() || v.contains('=') { self.kv(key, v) } else { self.raw(v) }
    }
    pub(crate) fn kv(&mut self, k: &str, v: impl fmt::Display) -> &mut Self {
        self.0.push(format!("{k}={v}"));
        self
    }
    pub(crate) fn opt<V: fmt::Display>(&mut self, k: &str, v: &Option<V>) -> &mut Self {
        if let Some(v) = v {
            self.kv(k, v);
        }
        self
    }
    pub(crate) fn opt_bool(&mut self, k: &str, v: Option<bool>) -> &mut Self {
        if let Some(v) = v {
            self.kv(k, u8::from(v));
        }
        self
    }
    pub(crate) fn extra(&mut self, e: &Extra) -> &mut Self {
        for (k, v) in e {
            self.kv(k, v);
        }
        self
    }
    pub(crate) fn finish(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(","))
    }
}

/// Implements `Display` through `write_to` and `FromStr` through `parse_fields`, which every
/// typed property string provides.
macro_rules! prop_string_impls {
    ($t:ty) => {
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let mut w = $crate::prop::Writer::default();
                self.write_to(&mut w);
                w.finish(f)
            }
        }
        impl std::str::FromStr for $t {
            type Err = $crate::prop::PropError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse_str(s)
            }
        }
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use prop_string_impls;
