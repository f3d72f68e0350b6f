//! Typed guest configs (the keys proxctl reads and writes), converted from GET `.../config`
//! and into form parameters for create and update. Keys we do not model are kept in `other`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::prop::{
    Agent, Boot, Cpu, Drive, DriveSlot, EfiDisk, IpConfig, LxcMount, LxcNet, Memory, NetDevice,
    PropError, Serial, Smbios1, TpmState, Vga,
};
use crate::secret::Secret;
use crate::wire::{FormParams, decode_sshkeys, encode_sshkeys, normalize_tags, split_tags};

/// A config value that does not fit its key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("config key '{key}' has an invalid value '{value}': {reason}")]
pub struct ConfigError {
    pub key: String,
    pub value: String,
    pub reason: String,
}

fn cerr(key: &str, value: &str, reason: impl ToString) -> ConfigError {
    ConfigError { key: key.into(), value: value.into(), reason: reason.to_string() }
}

/// A config value as text, whatever JSON type PVE used for it (§5.3 typing).
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn parse<T: std::str::FromStr>(key: &str, v: &Value) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    let s = text(v);
    s.parse().map_err(|e: T::Err| cerr(key, &s, e))
}

fn boolean(key: &str, v: &Value) -> Result<bool, ConfigError> {
    crate::wire::pve_bool::parse_value(v).map_err(|e| cerr(key, &text(v), e))
}

/// An indexed key (`net3`) split into its prefix and index, if it has that prefix.
fn index_of(key: &str, prefix: &str) -> Option<u8> {
    let n = key.strip_prefix(prefix)?;
    if n.is_empty() || (n.len() > 1 && n.starts_with('0')) {
        return None;
    }
    n.parse().ok()
}

/// The QEMU config keys proxctl works with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QemuConfig {
    pub name: Option<String>,
    pub description: Option<String>,
    pub tags: Option<Vec<String>>,
    pub memory: Option<Memory>,
    pub balloon: Option<u64>,
    pub cores: Option<u32>,
    pub sockets: Option<u32>,
    pub cpu: Option<Cpu>,
    pub cpulimit: Option<f64>,
    pub numa: Option<bool>,
    pub ostype: Option<String>,
    pub bios: Option<String>,
    pub machine: Option<String>,
    pub scsihw: Option<String>,
    pub boot: Option<Boot>,
    pub agent: Option<Agent>,
    pub onboot: Option<bool>,
    pub protection: Option<bool>,
    pub template: Option<bool>,
    pub vga: Option<Vga>,
    pub serial: BTreeMap<u8, Serial>,
    pub net: BTreeMap<u8, NetDevice>,
    pub disks: BTreeMap<DriveSlot, Drive>,
    pub efidisk0: Option<EfiDisk>,
    pub tpmstate0: Option<TpmState>,
    pub unused: BTreeMap<u8, String>,
    pub ipconfig: BTreeMap<u8, IpConfig>,
    pub ciuser: Option<String>,
    pub cipassword: Option<Secret>,
    pub citype: Option<String>,
    pub cicustom: Option<String>,
    /// Plain key lines; encoded for the wire by `to_params`.
    pub sshkeys: Option<String>,
    pub nameserver: Option<String>,
    pub searchdomain: Option<String>,
    pub ciupgrade: Option<bool>,
    pub smbios1: Option<Smbios1>,
    pub hotplug: Option<String>,
    /// Read-only: the `lock` property.
    pub lock: Option<String>,
    /// Read-only: the config digest.
    pub digest: Option<String>,
    /// Everything else, verbatim.
    pub other: BTreeMap<String, Value>,
}

impl QemuConfig {
    /// Read a GET `.../config` result.
    pub fn from_api(map: &BTreeMap<String, Value>) -> Result<Self, ConfigError> {
        let mut c = Self::default();
        for (k, v) in map {
            let k = k.as_str();
            match k {
                "name" => c.name = Some(text(v)),
                "description" => c.description = Some(text(v)),
                "tags" => c.tags = Some(split_tags(&text(v)).map(String::from).collect()),
                "memory" => c.memory = Some(parse(k, v)?),
                "balloon" => c.balloon = Some(parse(k, v)?),
                "cores" => c.cores = Some(parse(k, v)?),
                "sockets" => c.sockets = Some(parse(k, v)?),
                "cpu" => c.cpu = Some(parse(k, v)?),
                "cpulimit" => c.cpulimit = Some(parse(k, v)?),
                "numa" => c.numa = Some(boolean(k, v)?),
                "ostype" => c.ostype = Some(text(v)),
                "bios" => c.bios = Some(text(v)),
                "machine" => c.machine = Some(text(v)),
                "scsihw" => c.scsihw = Some(text(v)),
                "boot" => c.boot = Some(parse(k, v)?),
                "agent" => c.agent = Some(parse(k, v)?),
                "onboot" => c.onboot = Some(boolean(k, v)?),
                "protection" => c.protection = Some(boolean(k, v)?),
                "template" => c.template = Some(boolean(k, v)?),
                "vga" => c.vga = Some(parse(k, v)?),
                "efidisk0" => c.efidisk0 = Some(parse(k, v)?),
                "tpmstate0" => c.tpmstate0 = Some(parse(k, v)?),
                "ciuser" => c.ciuser = Some(text(v)),
                "cipassword" => c.cipassword = Some(Secret::new(text(v))),
                "citype" => c.citype = Some(text(v)),
                "cicustom" => c.cicustom = Some(text(v)),
                "sshkeys" => {
                    c.sshkeys = Some(decode_sshkeys(&text(v)).map_err(|e| cerr(k, &text(v), e))?)
                }
                "nameserver" => c.nameserver = Some(text(v)),
                "searchdomain" => c.searchdomain = Some(text(v)),
                "ciupgrade" => c.ciupgrade = Some(boolean(k, v)?),
                "smbios1" => c.smbios1 = Some(parse(k, v)?),
                "hotplug" => c.hotplug = Some(text(v)),
                "lock" => c.lock = Some(text(v)),
                "digest" => c.digest = Some(text(v)),
                _ => {
                    if let Some(i) = index_of(k, "net") {
                        c.net.insert(i, parse(k, v)?);
                    } else if let Some(i) = index_of(k, "ipconfig") {
                        c.ipconfig.insert(i, parse(k, v)?);
                    } else if let Some(i) = index_of(k, "serial") {
                        c.serial.insert(i, parse(k, v)?);
                    } else if let Some(i) = index_of(k, "unused") {
                        c.unused.insert(i, text(v));
                    } else if let Ok(slot) = k.parse::<DriveSlot>()
                        && slot.is_bus()
                    {
                        c.disks.insert(slot, parse(k, v)?);
                    } else {
                        c.other.insert(k.to_string(), v.clone());
                    }
                }
            }
        }
        Ok(c)
    }

    /// Append every set key as form parameters (read-only keys excluded).
    pub fn to_params(&self, p: &mut FormParams) {
        p.push_opt("name", self.name.as_ref())
            .push_opt("description", self.description.as_ref())
            .push_opt(
                "tags",
                self.tags.as_ref().map(|t| normalize_tags(t.iter().map(String::as_str))),
            )
            .push_opt("memory", self.memory.as_ref())
            .push_opt("balloon", self.balloon)
            .push_opt("cores", self.cores)
            .push_opt("sockets", self.sockets)
            .push_opt("cpu", self.cpu.as_ref())
            .push_opt("cpulimit", self.cpulimit)
            .push_opt_bool("numa", self.numa)
            .push_opt("ostype", self.ostype.as_ref())
            .push_opt("bios", self.bios.as_ref())
            .push_opt("machine", self.machine.as_ref())
            .push_opt("scsihw", self.scsihw.as_ref())
            .push_opt("boot", self.boot.as_ref())
            .push_opt("agent", self.agent.as_ref())
            .push_opt_bool("onboot", self.onboot)
            .push_opt_bool("protection", self.protection)
            .push_opt_bool("template", self.template)
            .push_opt("vga", self.vga.as_ref());
        for (i, s) in &self.serial {
            p.push(format!("serial{i}"), s.to_string());
        }
        for (i, n) in &self.net {
            p.push(format!("net{i}"), n.to_string());
        }
        for (slot, d) in &self.disks {
            p.push(slot.to_string(), d.to_string());
        }
        p.push_opt("efidisk0", self.efidisk0.as_ref())
            .push_opt("tpmstate0", self.tpmstate0.as_ref());
        for (i, v) in &self.unused {
            p.push(format!("unused{i}"), v.clone());
        }
        for (i, c) in &self.ipconfig {
            p.push(format!("ipconfig{i}"), c.to_string());
        }
        p.push_opt("ciuser", self.ciuser.as_ref())
            .push_opt("cipassword", self.cipassword.as_ref().map(|s| s.expose().to_string()))
            .push_opt("citype", self.citype.as_ref())
            .push_opt("cicustom", self.cicustom.as_ref())
            .push_opt("sshkeys", self.sshkeys.as_deref().map(encode_sshkeys))
            .push_opt("nameserver", self.nameserver.as_ref())
            .push_opt("searchdomain", self.searchdomain.as_ref())
            .push_opt_bool("ciupgrade", self.ciupgrade)
            .push_opt("smbios1", self.smbios1.as_ref())
            .push_opt("hotplug", self.hotplug.as_ref());
        for (k, v) in &self.other {
            p.push(k.clone(), text(v));
        }
    }

    pub fn is_template(&self) -> bool {
        self.template == Some(true)
    }
}

/// The LXC config keys proxctl works with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LxcConfig {
    pub hostname: Option<String>,
    pub description: Option<String>,
    pub tags: Option<Vec<String>>,
    pub memory: Option<u64>,
    pub swap: Option<u64>,
    pub cores: Option<u32>,
    pub onboot: Option<bool>,
    pub protection: Option<bool>,
    pub template: Option<bool>,
    pub unprivileged: Option<bool>,
    pub ostype: Option<String>,
    pub arch: Option<String>,
    pub rootfs: Option<LxcMount>,
    pub mp: BTreeMap<u8, LxcMount>,
    pub net: BTreeMap<u8, LxcNet>,
    pub nameserver: Option<String>,
    pub searchdomain: Option<String>,
    pub features: Option<String>,
    pub lock: Option<String>,
    pub digest: Option<String>,
    pub other: BTreeMap<String, Value>,
}

impl LxcConfig {
    pub fn from_api(map: &BTreeMap<String, Value>) -> Result<Self, ConfigError> {
        let mut c = Self::default();
        for (k, v) in map {
            let k = k.as_str();
            match k {
                "hostname" => c.hostname = Some(text(v)),
                "description" => c.description = Some(text(v)),
                "tags" => c.tags = Some(split_tags(&text(v)).map(String::from).collect()),
                "memory" => c.memory = Some(parse(k, v)?),
                "swap" => c.swap = Some(parse(k, v)?),
                "cores" => c.cores = Some(parse(k, v)?),
                "onboot" => c.onboot = Some(boolean(k, v)?),
                "protection" => c.protection = Some(boolean(k, v)?),
                "template" => c.template = Some(boolean(k, v)?),
                "unprivileged" => c.unprivileged = Some(boolean(k, v)?),
                "ostype" => c.ostype = Some(text(v)),
                "arch" => c.arch = Some(text(v)),
                "rootfs" => c.rootfs = Some(parse(k, v)?),
                "nameserver" => c.nameserver = Some(text(v)),
                "searchdomain" => c.searchdomain = Some(text(v)),
                "features" => c.features = Some(text(v)),
                "lock" => c.lock = Some(text(v)),
                "digest" => c.digest = Some(text(v)),
                _ => {
                    if let Some(i) = index_of(k, "net") {
                        c.net.insert(i, parse(k, v)?);
                    } else if let Some(i) = index_of(k, "mp") {
                        c.mp.insert(i, parse(k, v)?);
                    } else {
                        c.other.insert(k.to_string(), v.clone());
                    }
                }
            }
        }
        Ok(c)
    }

    pub fn to_params(&self, p: &mut FormParams) {
        p.push_opt("hostname", self.hostname.as_ref())
            .push_opt("description", self.description.as_ref())
            .push_opt(
                "tags",
                self.tags.as_ref().map(|t| normalize_tags(t.iter().map(String::as_str))),
            )
            .push_opt("memory", self.memory)
            .push_opt("swap", self.swap)
            .push_opt("cores", self.cores)
            .push_opt_bool("onboot", self.onboot)
            .push_opt_bool("protection", self.protection)
            .push_opt_bool("template", self.template)
            .push_opt_bool("unprivileged", self.unprivileged)
            .push_opt("ostype", self.ostype.as_ref())
            .push_opt("arch", self.arch.as_ref())
            .push_opt("rootfs", self.rootfs.as_ref());
        for (i, m) in &self.mp {
            p.push(format!("mp{i}"), m.to_string());
        }
        for (i, n) in &self.net {
            p.push(format!("net{i}"), n.to_string());
        }
        p.push_opt("nameserver", self.nameserver.as_ref())
            .push_opt("searchdomain", self.searchdomain.as_ref())
            .push_opt("features", self.features.as_ref());
        for (k, v) in &self.other {
            p.push(k.clone(), text(v));
        }
    }
}

impl From<PropError> for ConfigError {
    fn from(e: PropError) -> Self {
        cerr("", "", e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn reads_a_real_shaped_config_and_keeps_unknown_keys() {
        let m = map(json!({
            "name": "web-1", "cores": 2, "memory": "2048", "onboot": 1, "cpulimit": "1.5",
            "net0": "virtio=BC:24:11:00:00:01,bridge=vmbr0", "scsi0": "local-lvm:vm-100-disk-0,size=32G",
            "ide2": "local-lvm:vm-100-cloudinit,media=cdrom", "ipconfig0": "ip=dhcp",
            "sshkeys": "ssh-ed25519%20AAAA%20me%40host", "tags": "a;b", "digest": "abc",
            "vmgenid": "0000", "unused0": "local-lvm:vm-100-disk-1"
        }));
        let c = QemuConfig::from_api(&m).unwrap();
        assert_eq!(c.cores, Some(2));
        assert_eq!(c.memory, Some(Memory::mib(2048)));
        assert_eq!(c.cpulimit, Some(1.5));
        assert_eq!(c.sshkeys.as_deref(), Some("ssh-ed25519 AAAA me@host"));
        assert_eq!(c.disks.len(), 2);
        assert_eq!(c.other.get("vmgenid"), Some(&json!("0000")));
        assert_eq!(c.unused.get(&0).map(String::as_str), Some("local-lvm:vm-100-disk-1"));
    }

    #[test]
    fn writes_params_with_encoded_sshkeys_and_normalised_tags() {
        let c = QemuConfig {
            tags: Some(vec!["Web".into(), "prod".into()]),
            sshkeys: Some("ssh-ed25519 AAAA me@host".into()),
            onboot: Some(true),
            ..Default::default()
        };
        let mut p = FormParams::new();
        c.to_params(&mut p);
        assert_eq!(p.get("tags"), Some("prod;web"));
        assert_eq!(p.get("sshkeys"), Some("ssh-ed25519%20AAAA%20me%40host"));
        assert_eq!(p.get("onboot"), Some("1"));
    }

    #[test]
    fn bad_values_are_errors_naming_the_key_not_panics() {
        let e = QemuConfig::from_api(&map(json!({"net0": "bridge=vmbr0"}))).unwrap_err();
        assert_eq!(e.key, "net0");
        let e = QemuConfig::from_api(&map(json!({"cores": "many"}))).unwrap_err();
        assert_eq!(e.key, "cores");
    }

    #[test]
    fn lxc_config_reads_rootfs_mounts_and_nets() {
        let m = map(json!({"hostname": "ct1", "rootfs": "local-lvm:vm-101-disk-0,size=8G",
            "mp0": "local-lvm:vm-101-disk-1,mp=/data,size=1G", "net0": "name=eth0,bridge=vmbr0,ip=dhcp",
            "unprivileged": 1, "memory": 512}));
        let c = LxcConfig::from_api(&m).unwrap();
        assert_eq!(c.mp.len(), 1);
        assert_eq!(c.net[&0].name, "eth0");
        let mut p = FormParams::new();
        c.to_params(&mut p);
        assert_eq!(p.get("rootfs"), Some("local-lvm:vm-101-disk-0,size=8G"));
    }
}
