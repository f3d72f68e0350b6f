//! The ranges and formats PVE accepts for the values people type, in one place: manifests,
//! commands and the simulator all check against these before anything is sent (or stored),
//! with PVE's own wording where PVE has one. Property-string parsing stays in `prop/`; this
//! module only answers "would PVE take this value?".

use crate::wire::DiskSize;

/// PVE's `memory` minimum (`current`, MiB).
pub const MIN_MEMORY_MIB: u64 = 16;
/// PVE's schema sets no maximum, but no host maps more than this (64 TiB); a larger value is
/// a typo or an overflow, never a real VM.
pub const MAX_MEMORY_MIB: u64 = 64 * 1024 * 1024;
/// `net0` … `net31` (qemu-server's and pve-container's MAX_NETS).
pub const MAX_NICS: u32 = 32;
/// A guest's description (`maxLength` in the schema).
pub const MAX_DESCRIPTION: usize = 8192;
/// The largest disk any storage hands out here (1 PiB), to catch overflowing sizes.
pub const MAX_DISK_BYTES: u64 = 1024 * DiskSize::TIB;

/// Memory in MiB, as PVE's `memory` takes it.
pub fn memory_mib(m: u64) -> Result<(), String> {
    if m < MIN_MEMORY_MIB {
        return Err(format!("value must have a minimum value of {MIN_MEMORY_MIB}"));
    }
    if m > MAX_MEMORY_MIB {
        return Err(format!(
            "{m} MiB is more than any host has (at most {MAX_MEMORY_MIB} MiB, 64 TiB)"
        ));
    }
    Ok(())
}

/// A count of cores, sockets or vCPUs: at least 1.
pub fn at_least_one(what: &str, n: u64) -> Result<(), String> {
    if n == 0 { Err(format!("{what}: value must have a minimum value of 1")) } else { Ok(()) }
}

/// Whether `slot` is a NIC key PVE has: `net0` … `net31`.
pub fn nic_slot(slot: &str) -> bool {
    indexed(slot, "net", MAX_NICS - 1)
}

/// Whether `slot` is a disk key PVE has: ide0–3, sata0–5, scsi0–30, virtio0–15.
pub fn disk_slot(slot: &str) -> bool {
    indexed(slot, "ide", 3)
        || indexed(slot, "sata", 5)
        || indexed(slot, "scsi", 30)
        || indexed(slot, "virtio", 15)
}

/// `prefix` followed by a number in 0..=max written without leading zeros.
fn indexed(slot: &str, prefix: &str, max: u32) -> bool {
    let Some(n) = slot.strip_prefix(prefix) else { return false };
    let canonical = !n.is_empty() && (n == "0" || !n.starts_with('0'));
    canonical && n.bytes().all(|b| b.is_ascii_digit()) && n.parse::<u32>().is_ok_and(|v| v <= max)
}

/// PVE's `pve-bridge-id` format: `^[-_.\w\d]+$`.
pub fn bridge(b: &str) -> Result<(), String> {
    let ok = !b.is_empty() && b.bytes().all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(&c));
    if ok { Ok(()) } else { Err(format!("invalid bridge ID '{}'", escape(b))) }
}

/// One tag, as PVE's `pve-tag` format takes it.
pub fn tag(t: &str) -> Result<(), String> {
    if crate::wire::is_valid_tag(t) {
        Ok(())
    } else {
        Err(format!("invalid characters in tag '{}' (letters, digits, - _ + .)", escape(t)))
    }
}

/// A new disk's size: more than zero, at most [`MAX_DISK_BYTES`].
pub fn disk_size(s: DiskSize) -> Result<(), String> {
    if s.bytes() == 0 {
        return Err("a disk must be larger than 0".into());
    }
    if s.bytes() > MAX_DISK_BYTES {
        return Err(format!("{s} is larger than any disk (limit 1024T)"));
    }
    Ok(())
}

/// Whether `gateway` lies in the subnet of `address` (`10.0.0.5/24`), as a working static
/// address needs: a gateway outside it is unreachable.
pub fn gateway_in_subnet(
    address: ipnet::Ipv4Net,
    gateway: std::net::Ipv4Addr,
) -> Result<(), String> {
    if address.contains(&gateway) {
        Ok(())
    } else {
        Err(format!("gateway {gateway} is outside {}, so it cannot be reached", address.trunc()))
    }
}

/// `s` with control characters and other invisibles escaped, so a value from a file or from
/// the cluster can never drive the terminal it is printed on.
pub fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return std::borrow::Cow::Borrowed(s);
    }
    std::borrow::Cow::Owned(
        s.chars()
            .map(|c| if needs_escape(c) { c.escape_default().to_string() } else { c.to_string() })
            .collect(),
    )
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_follow_pves_ranges() {
        for ok in ["net0", "net31", "scsi30", "virtio15", "sata5", "ide3"] {
            assert!(nic_slot(ok) || disk_slot(ok), "{ok}");
        }
        for bad in [
            "net32", "net99", "net01", "net", "scsi31", "virtio16", "sata6", "ide4", "nvme0",
            "net-1",
        ] {
            assert!(!nic_slot(bad) && !disk_slot(bad), "{bad}");
        }
    }

    #[test]
    fn memory_bridges_tags_and_sizes_are_checked_as_pve_would() {
        assert!(memory_mib(16).is_ok() && memory_mib(2048).is_ok());
        assert!(memory_mib(15).is_err());
        assert!(memory_mib(u64::MAX).unwrap_err().contains("more than any host"));
        assert!(bridge("vmbr0").is_ok() && bridge("vnet_a.1-x").is_ok());
        assert_eq!(bridge("vm br0").unwrap_err(), "invalid bridge ID 'vm br0'");
        assert!(bridge("").is_err());
        assert!(tag("env-prod").is_ok());
        for bad in ["$(id)", "caf\u{e9}", "a\u{1b}[31m", ""] {
            assert!(tag(bad).is_err(), "{bad:?}");
        }
        assert!(tag("a\u{1b}[31m").unwrap_err().contains("\\u{1b}"), "the ESC is escaped");
        assert!(disk_size(DiskSize(0)).is_err());
        assert!(disk_size(DiskSize::gib(32)).is_ok());
        assert!(disk_size(DiskSize(u64::MAX)).is_err());
    }

    #[test]
    fn gateways_must_be_in_the_subnet() {
        let a: ipnet::Ipv4Net = "10.0.0.5/24".parse().unwrap();
        assert!(gateway_in_subnet(a, "10.0.0.1".parse().unwrap()).is_ok());
        let e = gateway_in_subnet(a, "10.0.1.1".parse().unwrap()).unwrap_err();
        assert_eq!(e, "gateway 10.0.1.1 is outside 10.0.0.0/24, so it cannot be reached");
    }

    #[test]
    fn control_characters_are_escaped_and_plain_text_is_not_copied() {
        assert!(matches!(escape("web-1"), std::borrow::Cow::Borrowed(_)));
        assert_eq!(escape("a\u{1b}[2Jb\n"), "a\\u{1b}[2Jb\\n");
        assert_eq!(escape("x\u{202e}y"), "x\\u{202e}y");
        assert_eq!(escape("café"), "café", "printable non-ASCII stays");
    }
}
