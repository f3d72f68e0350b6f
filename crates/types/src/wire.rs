//! Every PVE wire quirk in one place: the `{"data": ...}` envelope, 0/1 booleans, numbers that
//! arrive as strings, form bodies, `delete=` lists, digests, double-encoded `sshkeys`, tag
//! normalisation and disk-size syntax. See ../shared/pve-semantics.md §1, §5.3, §5.12, §11.1.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The success envelope: `{"data": <result>}`, plus `total` on task lists and logs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub data: T,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

impl<T> Envelope<T> {
    pub fn new(data: T) -> Self {
        Self { data, total: None }
    }
}

/// The error envelope for the `json` format (PVE >= 8.3 adds `message`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub data: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<BTreeMap<String, String>>,
}

/// A scalar PVE may send either as a JSON number or as a string (Perl's dual scalars).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum IntOrString {
    Int(i64),
    Str(String),
}

impl IntOrString {
    pub fn as_i64(&self) -> Result<i64, String> {
        match self {
            IntOrString::Int(i) => Ok(*i),
            IntOrString::Str(s) => {
                s.trim().parse().map_err(|_| format!("expected an integer, got '{s}'"))
            }
        }
    }
}

/// A value PVE sends as a number or a string (console `port`), kept as received so a
/// re-serialisation is faithful.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IntOrStringSer {
    Int(i64),
    Str(String),
}

impl fmt::Display for IntOrStringSer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntOrStringSer::Int(i) => i.fmt(f),
            IntOrStringSer::Str(s) => f.write_str(s),
        }
    }
}

/// Serde helpers for PVE booleans: written as `1`/`0`, read from numbers, `"1"`/`"0"` or JSON
/// booleans. `"true"`/`"yes"` are refused, as PVE's validator refuses them.
pub mod pve_bool {
    use super::*;

    pub fn serialize<S: Serializer>(v: &bool, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(u8::from(*v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        parse_value(&v).map_err(serde::de::Error::custom)
    }

    pub(crate) fn parse_value(v: &serde_json::Value) -> Result<bool, String> {
        match v {
            serde_json::Value::Bool(b) => Ok(*b),
            serde_json::Value::Number(n) if n.as_i64() == Some(1) => Ok(true),
            serde_json::Value::Number(n) if n.as_i64() == Some(0) => Ok(false),
            serde_json::Value::String(s) if s == "1" => Ok(true),
            serde_json::Value::String(s) if s == "0" => Ok(false),
            other => Err(format!("type check ('boolean') failed - got '{other}'")),
        }
    }
}

/// `Option<bool>` in PVE's 0/1 form; absent keys stay absent.
pub mod opt_pve_bool {
    use super::*;

    pub fn serialize<S: Serializer>(v: &Option<bool>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_u8(u8::from(*b)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        let v = Option::<serde_json::Value>::deserialize(d)?;
        match v {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(v) => pve_bool::parse_value(&v).map(Some).map_err(serde::de::Error::custom),
        }
    }
}

/// Integers PVE may send as strings (`/cluster/nextid`, some stats).
pub mod lenient_int {
    use super::*;

    pub fn serialize<S: Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(*v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        IntOrString::deserialize(d)?.as_i64().map_err(serde::de::Error::custom)
    }
}

/// Optional numbers that PVE may send as strings (`cpulimit` in config, `loadavg`).
pub mod opt_lenient_f64 {
    use super::*;

    pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(f) => s.serialize_f64(*f),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        let v = Option::<serde_json::Value>::deserialize(d)?;
        match v {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::Number(n)) => Ok(n.as_f64()),
            Some(serde_json::Value::String(s)) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| serde::de::Error::custom(format!("expected a number, got '{s}'"))),
            Some(other) => Err(serde::de::Error::custom(format!("expected a number, got {other}"))),
        }
    }
}

/// Ordered form parameters. PVE reads `application/x-www-form-urlencoded` bodies (and query
/// strings for GET/DELETE); booleans go as `1`/`0`, and a literal `+` must be sent as `%2B`
/// because `+` decodes to a space.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct FormParams(Vec<(String, String)>);

impl FormParams {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.0.push((key.into(), value.into()));
        self
    }

    pub fn push_opt<V: ToString>(&mut self, key: &str, value: Option<V>) -> &mut Self {
        if let Some(v) = value {
            self.0.push((key.to_string(), v.to_string()));
        }
        self
    }

    pub fn push_bool(&mut self, key: &str, value: bool) -> &mut Self {
        self.push(key, bool01(value))
    }

    pub fn push_opt_bool(&mut self, key: &str, value: Option<bool>) -> &mut Self {
        if let Some(v) = value {
            self.push_bool(key, v);
        }
        self
    }

    /// `delete=a,b,c`: PVE's configid list. An empty list sends nothing.
    pub fn push_delete(&mut self, keys: &[String]) -> &mut Self {
        if !keys.is_empty() {
            self.push("delete", keys.join(","));
        }
        self
    }

    pub fn extend<I: IntoIterator<Item = (String, String)>>(&mut self, it: I) -> &mut Self {
        self.0.extend(it);
        self
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn into_vec(self) -> Vec<(String, String)> {
        self.0
    }

    /// `application/x-www-form-urlencoded` text. `+` becomes `%2B`, space becomes `+`.
    pub fn encode(&self) -> String {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.0 {
            ser.append_pair(k, v);
        }
        ser.finish()
    }

    /// Parse a form body the way PVE's server does: split on `&` and `;`, `+` is a space.
    pub fn decode(body: &str) -> Self {
        let mut out = Vec::new();
        for part in body.split(['&', ';']) {
            if part.is_empty() {
                continue;
            }
            out.extend(
                form_urlencoded::parse(part.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned())),
            );
        }
        Self(out)
    }
}

impl fmt::Debug for FormParams {
    /// Values of secret-bearing keys are redacted so request logs can never leak them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (k, v) in &self.0 {
            if is_secret_param(k) {
                m.entry(k, &"<redacted>");
            } else {
                m.entry(k, v);
            }
        }
        m.finish()
    }
}

impl FromIterator<(String, String)> for FormParams {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

/// Parameter names whose values are secrets and must never be logged.
pub fn is_secret_param(key: &str) -> bool {
    matches!(key, "password" | "cipassword" | "new-password" | "otp" | "tfa-challenge" | "value")
}

pub fn bool01(b: bool) -> &'static str {
    if b { "1" } else { "0" }
}

/// Characters kept as-is by the `sshkeys` encoding: RFC 3986 unreserved. Everything else,
/// including space, `+`, `=`, `@` and newline, is percent-encoded.
const SSHKEYS_ESCAPE: &AsciiSet =
    &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Encode SSH public keys for the `sshkeys` config key (format `urlencoded`). The form encoder
/// then encodes the `%` signs again, which is the double encoding PVE expects.
pub fn encode_sshkeys(keys: &str) -> String {
    utf8_percent_encode(keys, SSHKEYS_ESCAPE).to_string()
}

/// Decode a stored `sshkeys` value back into plain key lines.
pub fn decode_sshkeys(encoded: &str) -> Result<String, String> {
    percent_decode_str(encoded)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| format!("invalid urlencoded string: {encoded}"))
}

/// Whether a value passes PVE's `urlencoded` format check.
pub fn is_urlencoded(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-%_.!~*'()".contains(&b))
}

/// Whether one tag matches PVE's `pve-tag` format.
pub fn is_valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || b"_-+.".contains(c))
}

/// Split a tag list the way PVE does: on `;`, `,` or whitespace.
pub fn split_tags(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| c == ';' || c == ',' || c.is_whitespace()).filter(|t| !t.is_empty())
}

/// Normalise tags as PVE stores them by default: lowercase, de-duplicated, sorted, `;`-joined.
pub fn normalize_tags<'a, I: IntoIterator<Item = &'a str>>(tags: I) -> String {
    let mut v: Vec<String> =
        tags.into_iter().flat_map(split_tags).map(str::to_ascii_lowercase).collect();
    v.sort();
    v.dedup();
    v.join(";")
}

/// A disk size as PVE's `disk-size` format writes it: bytes, printed with the largest unit
/// (K/M/G/T, powers of 1024) that divides exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DiskSize(pub u64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid disk size '{0}' (expected a number with an optional K, M, G or T suffix, e.g. 32G)"
)]
pub struct SizeError(pub String);

impl DiskSize {
    pub const KIB: u64 = 1024;
    pub const MIB: u64 = 1024 * 1024;
    pub const GIB: u64 = 1024 * 1024 * 1024;
    pub const TIB: u64 = 1024 * 1024 * 1024 * 1024;

    pub fn gib(n: u64) -> Self {
        Self(n.saturating_mul(Self::GIB))
    }
    pub fn bytes(self) -> u64 {
        self.0
    }
}

impl fmt::Display for DiskSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        for (unit, s) in [(Self::TIB, "T"), (Self::GIB, "G"), (Self::MIB, "M"), (Self::KIB, "K")] {
            if b >= unit && b % unit == 0 {
                return write!(f, "{}{s}", b / unit);
            }
        }
        write!(f, "{b}")
    }
}

impl FromStr for DiskSize {
    type Err = SizeError;
    /// Accepts `\d+(\.\d+)?` with an optional K/M/G/T or KiB/MiB/GiB/TiB suffix; no suffix
    /// means bytes.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || SizeError(s.to_string());
        let num_end = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
        let (num, unit) = s.split_at(num_end);
        let mult = match unit {
            "" => 1,
            "K" | "KiB" => Self::KIB,
            "M" | "MiB" => Self::MIB,
            "G" | "GiB" => Self::GIB,
            "T" | "TiB" => Self::TIB,
            _ => return Err(err()),
        };
        let valid_num = !num.is_empty()
            && !num.starts_with('.')
            && !num.ends_with('.')
            && num.matches('.').count() <= 1;
        if !valid_num {
            return Err(err());
        }
        if let Some((int, frac)) = num.split_once('.') {
            let int: u64 = int.parse().map_err(|_| err())?;
            let frac_v: f64 = format!("0.{frac}").parse().map_err(|_| err())?;
            let whole = int.checked_mul(mult).ok_or_else(err)?;
            // Fractions are rounded down to whole bytes, as PVE does.
            let part = (frac_v * mult as f64) as u64;
            Ok(Self(whole.checked_add(part).ok_or_else(err)?))
        } else {
            let n: u64 = num.parse().map_err(|_| err())?;
            n.checked_mul(mult).map(Self).ok_or_else(err)
        }
    }
}

/// The size part of PVE's new-disk syntax `STORAGE:SIZE`, in GiB with decimals as PVE takes
/// them (`\d+(\.\d+)?`): `1.5` for 1536 MiB, exact, never rounded to a whole GiB.
pub fn new_disk_gib(size: DiskSize) -> String {
    let (whole, mut rest) = (size.0 / DiskSize::GIB, size.0 % DiskSize::GIB);
    if rest == 0 {
        return whole.to_string();
    }
    // GiB is 2^30, so the fraction ends after at most 30 decimal digits.
    let mut digits = String::new();
    while rest != 0 {
        let scaled = u128::from(rest) * 10;
        digits.push(char::from(b'0' + (scaled / u128::from(DiskSize::GIB)) as u8));
        rest = (scaled % u128::from(DiskSize::GIB)) as u64;
    }
    format!("{whole}.{digits}")
}

/// The `size` argument of `PUT .../resize`: `+10G` grows, `32G` sets an absolute size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResizeTo {
    Grow(DiskSize),
    Absolute(DiskSize),
}

impl fmt::Display for ResizeTo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResizeTo::Grow(s) => write!(f, "+{s}"),
            ResizeTo::Absolute(s) => write!(f, "{s}"),
        }
    }
}

impl FromStr for ResizeTo {
    type Err = SizeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.strip_prefix('+') {
            Some(rest) => rest.parse().map(ResizeTo::Grow).map_err(|_| SizeError(s.to_string())),
            None => s.parse().map(ResizeTo::Absolute),
        }
    }
}

/// The SHA-1 hex digest PVE returns with every config; sent back for optimistic locking.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Digest(pub String);

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_disks_get_exact_gib_never_rounded() {
        assert_eq!(new_disk_gib(DiskSize::gib(32)), "32");
        assert_eq!(new_disk_gib("1.5G".parse().unwrap()), "1.5");
        assert_eq!(new_disk_gib("1000M".parse().unwrap()), "0.9765625");
        let back: DiskSize =
            format!("{}G", new_disk_gib("1000M".parse().unwrap())).parse().unwrap();
        assert_eq!(back, "1000M".parse().unwrap(), "what PVE reads back is what was asked");
    }

    #[test]
    fn form_encoding_sends_plus_as_percent_2b() {
        let mut p = FormParams::new();
        p.push("disk", "scsi0").push("size", ResizeTo::Grow(DiskSize::gib(10)).to_string());
        assert_eq!(p.encode(), "disk=scsi0&size=%2B10G");
    }

    #[test]
    fn booleans_are_sent_as_one_and_zero() {
        let mut p = FormParams::new();
        p.push_bool("full", true).push_opt_bool("online", Some(false)).push_opt_bool("x", None);
        assert_eq!(p.encode(), "full=1&online=0");
    }

    #[test]
    fn pve_bool_reads_numbers_strings_and_json_bools_but_not_words() {
        #[derive(Deserialize)]
        struct T {
            #[serde(with = "pve_bool")]
            b: bool,
        }
        for (j, want) in
            [("1", true), ("0", false), ("\"1\"", true), ("true", true), ("false", false)]
        {
            let t: T = serde_json::from_str(&format!("{{\"b\":{j}}}")).unwrap();
            assert_eq!(t.b, want, "{j}");
        }
        assert!(serde_json::from_str::<T>("{\"b\":\"true\"}").is_err());
    }

    #[test]
    fn sshkeys_are_percent_encoded_twice_on_the_wire() {
        let key = "ssh-ed25519 AAAAC3Nza+/= user@host\n";
        let once = encode_sshkeys(key);
        assert_eq!(once, "ssh-ed25519%20AAAAC3Nza%2B%2F%3D%20user%40host%0A");
        assert!(is_urlencoded(&once));
        let mut p = FormParams::new();
        p.push("sshkeys", once.clone());
        assert_eq!(
            p.encode(),
            "sshkeys=ssh-ed25519%2520AAAAC3Nza%252B%252F%253D%2520user%2540host%250A"
        );
        assert_eq!(decode_sshkeys(&once).unwrap(), key);
    }

    #[test]
    fn tags_are_lowercased_deduplicated_sorted_and_semicolon_joined() {
        assert_eq!(normalize_tags(["Prod,web;prod  db"]), "db;prod;web");
        assert_eq!(normalize_tags([""]), "");
        assert!(is_valid_tag("env-prod"));
        assert!(!is_valid_tag("-x"));
        assert!(!is_valid_tag("a b"));
    }

    #[test]
    fn disk_sizes_print_with_the_largest_exact_unit() {
        assert_eq!(DiskSize(32 * DiskSize::GIB).to_string(), "32G");
        assert_eq!(DiskSize(4 * DiskSize::MIB).to_string(), "4M");
        assert_eq!(DiskSize(1536 * DiskSize::MIB).to_string(), "1536M");
        assert_eq!(DiskSize(1000).to_string(), "1000");
        assert_eq!("1.5G".parse::<DiskSize>().unwrap(), DiskSize(1536 * DiskSize::MIB));
        assert_eq!("2GiB".parse::<DiskSize>().unwrap(), DiskSize::gib(2));
        for bad in ["", "G", "1.G", ".5G", "10X", "-1G", "1..2G"] {
            assert!(bad.parse::<DiskSize>().is_err(), "{bad}");
        }
    }

    #[test]
    fn resize_to_parses_grow_and_absolute() {
        assert_eq!("+10G".parse::<ResizeTo>().unwrap(), ResizeTo::Grow(DiskSize::gib(10)));
        assert_eq!("32G".parse::<ResizeTo>().unwrap(), ResizeTo::Absolute(DiskSize::gib(32)));
    }

    #[test]
    fn form_decoding_splits_on_ampersand_and_semicolon_and_plus_is_space() {
        let p = FormParams::decode("a=1;b=x+y&c=%2B1");
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), Some("x y"));
        assert_eq!(p.get("c"), Some("+1"));
    }

    #[test]
    fn delete_lists_are_comma_joined_and_omitted_when_empty() {
        let mut p = FormParams::new();
        p.push_delete(&[]);
        assert!(p.is_empty());
        p.push_delete(&["serial0".into(), "net1".into()]);
        assert_eq!(p.get("delete"), Some("serial0,net1"));
    }

    #[test]
    fn form_params_debug_redacts_secret_values() {
        let mut p = FormParams::new();
        p.push("username", "root@pam").push("password", "hunter2");
        let d = format!("{p:?}");
        assert!(d.contains("root@pam"));
        assert!(!d.contains("hunter2"));
    }

    #[test]
    fn nextid_string_and_number_both_read_as_integers() {
        #[derive(Deserialize)]
        struct T {
            #[serde(with = "lenient_int")]
            v: i64,
        }
        assert_eq!(serde_json::from_str::<T>("{\"v\":\"100\"}").unwrap().v, 100);
        assert_eq!(serde_json::from_str::<T>("{\"v\":100}").unwrap().v, 100);
    }
}
