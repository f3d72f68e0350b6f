//! Newtype identifiers for PVE objects, validated with PVE's own format rules.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a string is not a valid identifier. The texts follow PVE's validator messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("'{0}' does not look like a valid VM ID (100..=999999999)")]
    VmId(String),
    #[error("'{0}' does not look like a valid node name")]
    NodeName(String),
    #[error("storage ID '{0}' contains illegal characters or is shorter than 2 characters")]
    StorageId(String),
    #[error(
        "invalid configuration ID '{0}' (letters, digits, '_' and '-', starting with a letter, 2..=40 characters)"
    )]
    ConfigId(String),
    #[error("unable to parse worker upid '{0}'")]
    Upid(String),
    #[error("invalid volume ID '{0}' (expected <storage>:<volume>)")]
    VolumeId(String),
    #[error("invalid characters in tag '{0}'")]
    Tag(String),
    #[error("invalid user ID '{0}' (expected user@realm)")]
    UserId(String),
}

/// Where templates' VMIDs start when nobody chose one: apart from ordinary guests (100 up),
/// as admins number them by hand.
pub const TEMPLATE_VMID_FLOOR: u32 = 9000;

/// A guest ID, unique across QEMU and LXC in a cluster: 100..=999_999_999.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VmId(u32);

impl VmId {
    pub const MIN: u32 = 100;
    pub const MAX: u32 = 999_999_999;

    pub fn new(id: u32) -> Result<Self, IdError> {
        if (Self::MIN..=Self::MAX).contains(&id) {
            Ok(Self(id))
        } else {
            Err(IdError::VmId(id.to_string()))
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for VmId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for VmId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // PVE's pve-vmid regex: ^[1-9][0-9]{2,8}$ — no sign, no leading zeros.
        let ok = s.len() >= 3
            && s.len() <= 9
            && s.bytes().all(|b| b.is_ascii_digit())
            && !s.starts_with('0');
        if !ok {
            return Err(IdError::VmId(s.to_string()));
        }
        s.parse::<u32>().map_err(|_| IdError::VmId(s.to_string())).and_then(Self::new)
    }
}

impl Serialize for VmId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.0)
    }
}

impl<'de> Deserialize<'de> for VmId {
    /// PVE sends VMIDs as numbers in lists but as strings from `/cluster/nextid`.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = crate::wire::IntOrString::deserialize(d)?;
        let n = raw.as_i64().map_err(serde::de::Error::custom)?;
        let n =
            u32::try_from(n).map_err(|_| serde::de::Error::custom(IdError::VmId(n.to_string())))?;
        VmId::new(n).map_err(serde::de::Error::custom)
    }
}

macro_rules! string_id {
    ($(#[$m:meta])* $name:ident, $check:path, $err:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(s: impl Into<String>) -> Result<Self, IdError> {
                let s = s.into();
                if $check(&s) { Ok(Self(s)) } else { Err(IdError::$err(s)) }
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::new(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// Whether `s` is one DNS label: alphanumerics, with `-` only inside.
fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

/// PVE's `dns-name` format: labels joined by `.`; no `_`.
pub fn is_dns_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 255 && s.split('.').all(is_dns_label)
}

fn is_node_name(s: &str) -> bool {
    is_dns_label(s)
}

fn is_storage_id(s: &str) -> bool {
    // ^[a-z][a-z0-9\-\_\.]*[a-z0-9]$ case-insensitive, so at least 2 characters.
    let b = s.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphabetic()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// PVE's `pve-configid`: `^[a-z][a-z0-9_-]+$`, case-insensitive; snapshot names cap it at 40.
pub fn is_config_id(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphabetic()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_'))
}

fn is_snapshot_name(s: &str) -> bool {
    is_config_id(s) && s.len() <= 40
}

fn is_user_id(s: &str) -> bool {
    let Some((user, realm)) = s.rsplit_once('@') else {
        return false;
    };
    let r = realm.as_bytes();
    (3..=64).contains(&s.len())
        && !user.is_empty()
        && !user.chars().any(|c| c.is_whitespace() || c == ':' || c == '/')
        && r.len() >= 2
        && r[0].is_ascii_alphabetic()
        && r.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_'))
}

string_id!(
    /// A cluster node name (`pve-node`): one DNS label.
    NodeName, is_node_name, NodeName
);
string_id!(
    /// A storage ID (`pve-storage-id`), such as `local-lvm`.
    StorageId, is_storage_id, StorageId
);
string_id!(
    /// A snapshot name (`pve-configid`, at most 40 characters). `current` and `pending` are
    /// reserved by PVE; that check is the server's.
    SnapshotName, is_snapshot_name, ConfigId
);
string_id!(
    /// A PVE user ID, `user@realm`.
    UserId, is_user_id, UserId
);

/// A volume ID, `<storage>:<volname>`, e.g. `local-lvm:vm-100-disk-0` or `local:iso/x.iso`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct VolumeId(String);

impl VolumeId {
    pub fn new(s: impl Into<String>) -> Result<Self, IdError> {
        let s = s.into();
        match s.split_once(':') {
            Some((store, vol)) if is_storage_id(store) && !vol.is_empty() => Ok(Self(s)),
            _ => Err(IdError::VolumeId(s)),
        }
    }
    pub fn storage(&self) -> StorageId {
        let store = self.0.split_once(':').map_or("", |(s, _)| s);
        StorageId(store.to_string())
    }
    pub fn volname(&self) -> &str {
        self.0.split_once(':').map_or("", |(_, v)| v)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for VolumeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for VolumeId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl<'de> Deserialize<'de> for VolumeId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// A task ID: `UPID:{node}:{pid:08X}:{pstart:08X}:{starttime:08X}:{type}:{id}:{user}:`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Upid {
    pub node: NodeName,
    pub pid: u32,
    pub pstart: u64,
    pub starttime: u32,
    pub task_type: String,
    pub id: String,
    pub user: String,
}

impl Upid {
    /// The tasks endpoints take the UPID as one path segment.
    pub fn as_path_segment(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Upid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "UPID:{}:{:08X}:{:08X}:{:08X}:{}:{}:{}:",
            self.node, self.pid, self.pstart, self.starttime, self.task_type, self.id, self.user
        )
    }
}

impl FromStr for Upid {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || IdError::Upid(s.to_string());
        let rest = s.strip_prefix("UPID:").ok_or_else(err)?;
        let rest = rest.strip_suffix(':').ok_or_else(err)?;
        let parts: Vec<&str> = rest.split(':').collect();
        let [node, pid, pstart, start, ty, id, user] = parts.as_slice() else {
            return Err(err());
        };
        let hex = |v: &str, min: usize, max: usize| -> Result<u64, IdError> {
            if v.len() < min || v.len() > max || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(err());
            }
            u64::from_str_radix(v, 16).map_err(|_| err())
        };
        let bad_field = |v: &str| v.chars().any(|c| c.is_whitespace() || c == '/');
        if ty.is_empty() || bad_field(ty) || bad_field(id) || user.is_empty() || bad_field(user) {
            return Err(err());
        }
        Ok(Upid {
            node: NodeName::new(*node).map_err(|_| err())?,
            pid: u32::try_from(hex(pid, 8, 8)?).map_err(|_| err())?,
            // pstart grows to 9 digits after ~497 days of uptime.
            pstart: hex(pstart, 8, 9)?,
            starttime: u32::try_from(hex(start, 8, 8)?).map_err(|_| err())?,
            task_type: (*ty).to_string(),
            id: (*id).to_string(),
            user: (*user).to_string(),
        })
    }
}

impl Serialize for Upid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Upid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vmid_accepts_pve_range_and_rejects_outside() {
        assert!("100".parse::<VmId>().is_ok());
        assert!("999999999".parse::<VmId>().is_ok());
        for bad in ["99", "0100", "1000000000", "-100", "+100", "abc", ""] {
            assert!(bad.parse::<VmId>().is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn vmid_deserializes_from_number_and_string() {
        let a: VmId = serde_json::from_str("100").unwrap();
        let b: VmId = serde_json::from_str("\"100\"").unwrap();
        assert_eq!(a, b);
        assert!(serde_json::from_str::<VmId>("\"5\"").is_err());
    }

    #[test]
    fn upid_round_trips_the_documented_example() {
        let s = "UPID:pve:0003A1F2:0112C3D4:6788ABCD:qmstart:100:root@pam:";
        let u: Upid = s.parse().unwrap();
        assert_eq!(u.node.as_str(), "pve");
        assert_eq!(u.task_type, "qmstart");
        assert_eq!(u.id, "100");
        assert_eq!(u.user, "root@pam");
        assert_eq!(u.to_string(), s);
    }

    #[test]
    fn upid_accepts_nine_digit_pstart_and_empty_id_and_token_user() {
        let s = "UPID:pve:0003A1F2:1112C3D4A:6788ABCD:imgcopy::root@pam!ci:";
        let u: Upid = s.parse().unwrap();
        assert_eq!(u.pstart, 0x1112C3D4A);
        assert_eq!(u.id, "");
        assert_eq!(u.to_string(), s);
    }

    #[test]
    fn upid_rejects_missing_trailing_colon() {
        assert!(
            "UPID:pve:0003A1F2:0112C3D4:6788ABCD:qmstart:100:root@pam".parse::<Upid>().is_err()
        );
    }

    #[test]
    fn storage_and_node_and_snapshot_rules_match_pve() {
        assert!(StorageId::new("local-lvm").is_ok());
        assert!(StorageId::new("l").is_err());
        assert!(StorageId::new("1local").is_err());
        assert!(NodeName::new("pve1").is_ok());
        assert!(NodeName::new("pve_1").is_err());
        assert!(SnapshotName::new("before-upgrade").is_ok());
        assert!(SnapshotName::new("a").is_err());
        assert!(SnapshotName::new("x".repeat(41)).is_err());
        assert!(is_dns_name("web-1.example.com"));
        assert!(!is_dns_name("web_1"));
        assert!(UserId::new("root@pam").is_ok());
        assert!(UserId::new("root").is_err());
    }

    #[test]
    fn volume_id_splits_storage_and_volname() {
        let v = VolumeId::new("local:iso/debian.iso").unwrap();
        assert_eq!(v.storage().as_str(), "local");
        assert_eq!(v.volname(), "iso/debian.iso");
        assert!(VolumeId::new("nocolon").is_err());
    }
}
