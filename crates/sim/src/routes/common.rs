//! Helpers shared by the route handlers: guest lookup with PVE's "does not exist" text, lock
//! checks, quorum, UPID users, config-key validation and volume allocation.

use proxctl_types::VmId;
use proxctl_types::messages::{self, GuestKind};
use proxctl_types::prop::{Drive, DriveSlot, IpConfig, LxcMount, LxcNet, NetDevice};
use proxctl_types::wire::{DiskSize, is_urlencoded, is_valid_tag, split_tags};

use crate::error::{PveError, PveResult};
use crate::lock::{LockKey, LockMode, timeout_message};
use crate::params::Params;
use crate::router::Ctx;
use crate::state::{Guest, Volume, World};

pub fn vmid(ctx: &mut Ctx) -> PveResult<VmId> {
    let v = ctx.p.vmid("vmid");
    v.ok_or_else(|| {
        let mut e = std::collections::BTreeMap::new();
        e.insert(
            "vmid".to_string(),
            "invalid format - value does not look like a valid VM ID\n".to_string(),
        );
        PveError::params(e)
    })
}

pub fn node(ctx: &mut Ctx, w: &World) -> PveResult<String> {
    let n = ctx.p.str("node");
    if n == "localhost" {
        return Ok(w.first_node());
    }
    if w.nodes.contains_key(&n) {
        Ok(n)
    } else if proxctl_types::NodeName::new(n.as_str()).is_err() {
        Err(PveError::param(
            "node",
            "invalid format - value does not look like a valid node name\n",
        ))
    } else {
        Err(PveError::die(format!(
            "hostname lookup '{n}' failed - failed to get address info for: {n}: Name or service not known"
        )))
    }
}

/// The UPID user: `root@pam` or `root@pam!token`.
pub fn user(ctx: &Ctx) -> String {
    if ctx.who.user.is_empty() { "root@pam".into() } else { ctx.who.user.clone() }
}

pub fn guest<'a>(w: &'a World, node: &str, vmid: VmId, kind: GuestKind) -> PveResult<&'a Guest> {
    match w.guests.get(&vmid.get()) {
        Some(g) if g.node == node && g.kind == kind => Ok(g),
        _ => Err(PveError::die(messages::config_missing(node, kind, vmid))),
    }
}

pub fn guest_mut<'a>(
    w: &'a mut World,
    node: &str,
    vmid: VmId,
    kind: GuestKind,
) -> PveResult<&'a mut Guest> {
    match w.guests.get_mut(&vmid.get()) {
        Some(g) if g.node == node && g.kind == kind => Ok(g),
        _ => Err(PveError::die(messages::config_missing(node, kind, vmid))),
    }
}

pub fn quorum(w: &World) -> PveResult<()> {
    if w.quorate { Ok(()) } else { Err(PveError::die(messages::NO_QUORUM)) }
}

/// `VM is locked (x)` unless skiplock (or the lock is one the operation tolerates).
pub fn not_locked(g: &Guest, allow: &[&str]) -> PveResult<()> {
    match g.lock() {
        Some(l) if !allow.contains(&l) => Err(PveError::die(messages::guest_locked(g.kind, l))),
        _ => Ok(()),
    }
}

/// A synchronous call that needs the config flock: wait (up to 10 s) while a task holds it.
pub fn config_flock_free(w: &World, vmid: VmId, kind: GuestKind) -> PveResult<()> {
    let key = LockKey::Config(vmid);
    if w.locks.is_free_for(&key, LockMode::Exclusive) {
        Ok(())
    } else {
        Err(PveError::lock_busy(10_000, timeout_message(&key, kind, false)))
    }
}

/// In-task variant of `not_locked`.
pub fn task_not_locked(w: &World, vmid: VmId, allow: &[&str]) -> Result<(), String> {
    match w.guests.get(&vmid.get()) {
        Some(g) => match g.lock() {
            Some(l) if !allow.contains(&l) => Err(messages::guest_locked(g.kind, l)),
            _ => Ok(()),
        },
        None => Err(format!("VM {vmid} does not exist")),
    }
}

const QEMU_KEYS: &[&str] = &[
    "acpi",
    "affinity",
    "agent",
    "arch",
    "args",
    "audio0",
    "autostart",
    "balloon",
    "bios",
    "boot",
    "bootdisk",
    "cdrom",
    "cicustom",
    "cipassword",
    "citype",
    "ciupgrade",
    "ciuser",
    "cores",
    "cpu",
    "cpulimit",
    "cpuunits",
    "description",
    "efidisk0",
    "freeze",
    "hookscript",
    "hotplug",
    "hugepages",
    "ivshmem",
    "keephugepages",
    "keyboard",
    "kvm",
    "localtime",
    "lock",
    "machine",
    "memory",
    "migrate_downtime",
    "migrate_speed",
    "name",
    "nameserver",
    "numa",
    "onboot",
    "ostype",
    "protection",
    "reboot",
    "rng0",
    "scsihw",
    "searchdomain",
    "shares",
    "smbios1",
    "smp",
    "sockets",
    "spice_enhancements",
    "sshkeys",
    "startdate",
    "startup",
    "tablet",
    "tags",
    "tdf",
    "template",
    "tpmstate0",
    "vcpus",
    "vga",
    "vmgenid",
    "vmstatestorage",
    "watchdog",
    "meta",
    "allow-ksm",
];
const QEMU_INDEXED: &[(&str, u16)] = &[
    ("net", 31),
    ("ide", 3),
    ("sata", 5),
    ("scsi", 30),
    ("virtio", 15),
    ("ipconfig", 31),
    ("serial", 3),
    ("unused", 255),
    ("hostpci", 15),
    ("usb", 13),
    ("parallel", 2),
    ("numa", 7),
    ("virtiofs", 9),
];
const LXC_KEYS: &[&str] = &[
    "arch",
    "cmode",
    "console",
    "cores",
    "cpulimit",
    "cpuunits",
    "debug",
    "description",
    "entrypoint",
    "env",
    "features",
    "hookscript",
    "hostname",
    "lock",
    "memory",
    "nameserver",
    "onboot",
    "ostype",
    "protection",
    "rootfs",
    "searchdomain",
    "startup",
    "swap",
    "tags",
    "template",
    "timezone",
    "tty",
    "unprivileged",
];
const LXC_INDEXED: &[(&str, u16)] = &[("net", 31), ("mp", 255), ("unused", 255), ("dev", 255)];

fn indexed(k: &str, table: &[(&str, u16)]) -> bool {
    table.iter().any(|(p, max)| {
        k.strip_prefix(p).is_some_and(|n| {
            let canonical = n == "0" || !n.starts_with('0');
            canonical && n.parse::<u16>().is_ok_and(|i| i <= *max)
        })
    })
}

pub fn is_config_key(kind: GuestKind, k: &str) -> bool {
    match kind {
        GuestKind::Qemu => QEMU_KEYS.contains(&k) || indexed(k, QEMU_INDEXED),
        GuestKind::Lxc => LXC_KEYS.contains(&k) || indexed(k, LXC_INDEXED),
    }
}

/// Check a config value's format; records PVE-style errors in `p`.
pub fn check_config_value(kind: GuestKind, p: &mut Params, k: &str, v: &str) {
    let bad = |e: String| format!("invalid format - {e}\n");
    // What PVE's schema checks for both kinds, checked here even without `--schema`, so the
    // simulator never stores what PVE would refuse.
    if let Err(e) = common_value(k, v) {
        p.invalid(k, e);
        return;
    }
    let r: Result<(), String> = match kind {
        GuestKind::Qemu => {
            if k.starts_with("net") && indexed(k, &[("net", 31)]) {
                v.parse::<NetDevice>().map_err(|e| e.to_string()).and_then(|n| {
                    n.bridge.as_deref().map_or(Ok(()), |b| {
                        proxctl_types::limits::bridge(b)
                            .map_err(|e| format!("format error\nbridge: {e}"))
                    })
                })
            } else if k.starts_with("ipconfig") {
                v.parse::<IpConfig>().map(drop).map_err(|e| e.to_string())
            } else if k.parse::<DriveSlot>().is_ok_and(|s| s.is_bus()) {
                v.parse::<Drive>().map(drop).map_err(|e| e.to_string())
            } else if k == "sshkeys" {
                if is_urlencoded(v) {
                    Ok(())
                } else {
                    Err(format!("invalid urlencoded string: {v}"))
                }
            } else if matches!(k, "cores" | "sockets" | "balloon" | "vcpus") {
                v.parse::<u64>()
                    .map(drop)
                    .map_err(|_| format!("type check ('integer') failed - got '{v}'"))
            } else if matches!(
                k,
                "onboot" | "protection" | "template" | "numa" | "acpi" | "kvm" | "ciupgrade"
            ) {
                if v == "0" || v == "1" {
                    Ok(())
                } else {
                    Err(format!("type check ('boolean') failed - got '{v}'"))
                }
            } else if k == "name" {
                if proxctl_types::ids::is_dns_name(v) {
                    Ok(())
                } else {
                    Err("value does not look like a valid DNS name".into())
                }
            } else if k == "memory" {
                v.parse::<proxctl_types::prop::Memory>().map(drop).map_err(|e| e.to_string())
            } else {
                Ok(())
            }
        }
        GuestKind::Lxc => {
            if k.starts_with("net") {
                v.parse::<LxcNet>().map_err(|e| e.to_string()).and_then(|n| {
                    n.bridge.as_deref().map_or(Ok(()), |b| {
                        proxctl_types::limits::bridge(b)
                            .map_err(|e| format!("format error\nbridge: {e}"))
                    })
                })
            } else if k == "rootfs" || k.starts_with("mp") {
                v.parse::<LxcMount>().map(drop).map_err(|e| e.to_string())
            } else {
                Ok(())
            }
        }
    };
    if let Err(e) = r {
        // Scalar type errors are reported bare, format errors with PVE's prefix.
        let text = if e.starts_with("type check") { e } else { bad(e) };
        p.invalid(k, text);
    }
}

/// The schema rules shared by VMs and containers, with PVE's texts.
fn common_value(k: &str, v: &str) -> Result<(), String> {
    use proxctl_types::limits;
    match k {
        "tags" => match split_tags(v).find(|t| !is_valid_tag(t)) {
            Some(t) => Err(format!("invalid format - invalid characters in tag '{t}'\n")),
            None => Ok(()),
        },
        "description" if v.len() > limits::MAX_DESCRIPTION => {
            Err(format!("value may only be {} characters long", limits::MAX_DESCRIPTION))
        }
        "cores" | "sockets" | "vcpus" if v.parse::<u64>().is_ok_and(|n| n == 0) => {
            Err("value must have a minimum value of 1".into())
        }
        "memory" => {
            let current = v.parse::<proxctl_types::prop::Memory>().map(|m| m.current);
            match current {
                // LXC's memory is a bare integer; a qemu one parses the same way.
                Ok(m) if m < limits::MIN_MEMORY_MIB => Err(format!(
                    "invalid format - format error\ncurrent: value must have a minimum value of {}\n",
                    limits::MIN_MEMORY_MIB
                )),
                Ok(m) if m > limits::MAX_MEMORY_MIB => Err(format!(
                    "invalid format - format error\ncurrent: value must have a maximum value of {}\n",
                    limits::MAX_MEMORY_MIB
                )),
                _ => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

/// `local-lvm:32` → (storage, GiB) for allocation syntax; `None` for a volume ID or special value.
pub fn alloc_syntax(file: &str) -> Option<(String, f64)> {
    let (store, rest) = file.split_once(':')?;
    let gib: f64 = rest.parse().ok()?;
    Some((store.to_string(), gib))
}

/// Allocate a volume named like PVE names new disks (lowest free `vm-<vmid>-disk-<n>`).
pub fn alloc_volume(
    w: &mut World,
    node: &str,
    storage: &str,
    vmid: u32,
    size: u64,
    content: &str,
) -> Result<String, String> {
    let def = w
        .storages
        .get(storage)
        .cloned()
        .ok_or_else(|| format!("storage '{storage}' does not exist"))?;
    let needs = if content == "rootdir" { "rootdir" } else { "images" };
    if !def.supports(needs) {
        return Err(format!("storage '{storage}' does not support content-type '{needs}'"));
    }
    if w.faults.full_storages.iter().any(|s| s == storage) {
        return Err(format!(
            "unable to allocate {} on storage '{storage}': No space left on device",
            DiskSize(size)
        ));
    }
    let scope = def.scope(node);
    let used: u64 = w
        .volumes
        .iter()
        .filter(|((s, _), v)| *s == scope && v.storage == storage)
        .map(|(_, v)| v.size)
        .sum();
    if used + size > def.total {
        return Err(format!(
            "unable to allocate {} on storage '{storage}': not enough space ({} free)",
            DiskSize(size),
            DiskSize(def.total.saturating_sub(used))
        ));
    }
    let mut n = 0;
    let volid = loop {
        let name = format!("vm-{vmid}-disk-{n}");
        let volid = if def.is_file_based() {
            format!(
                "{storage}:{vmid}/{name}.{}",
                if content == "rootdir" { "raw" } else { "qcow2" }
            )
        } else {
            format!("{storage}:{name}")
        };
        let base = format!("{storage}:base-{vmid}-disk-{n}");
        if !w.volumes.keys().any(|(_, v)| *v == volid || v.starts_with(&base)) {
            break volid;
        }
        n += 1;
    };
    let format = if def.is_file_based() {
        if content == "rootdir" { "raw" } else { "qcow2" }
    } else {
        "raw"
    };
    insert_volume(w, &scope, &volid, storage, content, format, size, Some(vmid));
    Ok(volid)
}

#[allow(clippy::too_many_arguments)]
pub fn insert_volume(
    w: &mut World,
    scope: &str,
    volid: &str,
    storage: &str,
    content: &str,
    format: &str,
    size: u64,
    vmid: Option<u32>,
) {
    let ctime = w.now_secs();
    w.volumes.insert(
        (scope.to_string(), volid.to_string()),
        Volume {
            volid: volid.to_string(),
            storage: storage.to_string(),
            content: content.to_string(),
            format: format.to_string(),
            size,
            vmid,
            ctime,
            notes: None,
            protected: false,
            parent: None,
            sha256: None,
            guest_conf: None,
        },
    );
}

/// Find a volume visible from `node` (its local volumes and shared ones).
pub fn find_volume<'a>(w: &'a World, node: &str, volid: &str) -> Option<&'a Volume> {
    w.volumes
        .get(&(node.to_string(), volid.to_string()))
        .or_else(|| w.volumes.get(&(String::new(), volid.to_string())))
}

pub fn remove_volume(w: &mut World, node: &str, volid: &str) -> Option<Volume> {
    w.volumes
        .remove(&(node.to_string(), volid.to_string()))
        .or_else(|| w.volumes.remove(&(String::new(), volid.to_string())))
}

/// `base` with each of `explicit`'s keys replacing its value or appended (restores: the archived
/// config, then what the caller passed).
pub fn overlay(
    mut base: Vec<(String, String)>,
    explicit: Vec<(String, String)>,
) -> Vec<(String, String)> {
    for (k, v) in explicit {
        match base.iter_mut().find(|(ek, _)| *ek == k) {
            Some(slot) => slot.1 = v,
            None => base.push((k, v)),
        }
    }
    base
}

/// A migration's target, checked as PVE does for VMs and containers alike: quorum, not the
/// source node, and a node of the cluster.
pub fn migration_target(w: &World, from: &str, target: &str) -> PveResult<()> {
    quorum(w)?;
    if target == from {
        return Err(PveError::param("target", "target is local node."));
    }
    if !w.nodes.contains_key(target) {
        return Err(PveError::die(format!("no such cluster node '{target}'")));
    }
    Ok(())
}
