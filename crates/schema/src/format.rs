//! PVE's named string formats (`pve-vmid`, `pve-node`, `dns-name`, ...). Formats this module
//! does not know are accepted: the schema file decides which exist, and an unknown name must
//! not reject a valid request.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proxctl_types::prop::{Boot, Cpu, IpConfig, Smbios1};
use proxctl_types::wire::{DiskSize, is_urlencoded, is_valid_tag, split_tags};
use proxctl_types::{NodeName, StorageId, UserId, VmId, VolumeId, ids};

pub(crate) fn check_named_format(name: &str, v: &str) -> Result<(), String> {
    let list = |f: &dyn Fn(&str) -> Result<(), String>| -> Result<(), String> {
        v.split(|c: char| c == ',' || c == ';' || c.is_whitespace() || c == '\0')
            .filter(|s| !s.is_empty())
            .try_for_each(f)
    };
    match name {
        "pve-vmid" => one_vmid(v),
        "pve-vmid-list" => list(&one_vmid),
        "pve-node" => NodeName::new(v)
            .map(drop)
            .map_err(|_| "value does not look like a valid node name".into()),
        "pve-node-list" => list(&|s| NodeName::new(s).map(drop).map_err(|e| e.to_string())),
        "pve-storage-id" => storage_id(v),
        "pve-storage-id-list" => list(&storage_id),
        "pve-configid" => config_id(v),
        "pve-configid-list" => list(&config_id),
        "dns-name" => {
            if ids::is_dns_name(v) {
                Ok(())
            } else {
                Err("value does not look like a valid DNS name".into())
            }
        }
        "pve-tag-list" => {
            for t in split_tags(v) {
                if !is_valid_tag(t) {
                    return Err(format!("invalid characters in tag '{t}'"));
                }
            }
            Ok(())
        }
        "urlencoded" => {
            if is_urlencoded(v) {
                Ok(())
            } else {
                Err(format!("invalid urlencoded string: {v}"))
            }
        }
        "disk-size" => {
            v.parse::<DiskSize>().map(drop).map_err(|_| format!("unable to parse size '{v}'"))
        }
        "pve-userid" => UserId::new(v)
            .map(drop)
            .map_err(|_| format!("value '{v}' does not look like a valid user name")),
        "pve-volume-id" => {
            VolumeId::new(v).map(drop).map_err(|_| format!("unable to parse volume ID '{v}'"))
        }
        "pve-qm-ipconfig" => v.parse::<IpConfig>().map(drop).map_err(|e| e.to_string()),
        "pve-qm-boot" => v.parse::<Boot>().map(drop).map_err(|e| e.to_string()),
        "pve-qm-smbios1" => v.parse::<Smbios1>().map(drop).map_err(|e| e.to_string()),
        "pve-vm-cpu-conf" => v.parse::<Cpu>().map(drop).map_err(|e| e.to_string()),
        "mac-addr" => v.parse::<proxctl_types::prop::MacAddr>().map(drop),
        "ipv4" => v
            .parse::<Ipv4Addr>()
            .map(drop)
            .map_err(|_| "value does not look like a valid IPv4 address".to_string()),
        "ipv6" => v
            .parse::<Ipv6Addr>()
            .map(drop)
            .map_err(|_| "value does not look like a valid IPv6 address".to_string()),
        "ip" => v
            .parse::<IpAddr>()
            .map(drop)
            .map_err(|_| "value does not look like a valid IP address".to_string()),
        "address-list" | "ip-list" => list(&|s| {
            s.parse::<IpAddr>()
                .map(drop)
                .map_err(|_| format!("value '{s}' does not look like a valid IP address"))
        }),
        "pve-storage-content" => content(v),
        "pve-storage-content-list" => list(&content),
        _ => Ok(()),
    }
}

fn one_vmid(v: &str) -> Result<(), String> {
    v.parse::<VmId>().map(drop).map_err(|_| "value does not look like a valid VM ID".into())
}

fn storage_id(v: &str) -> Result<(), String> {
    if v.len() < 2 {
        return Err(format!("storage ID '{v}' cannot be shorter than 2 characters"));
    }
    StorageId::new(v).map(drop).map_err(|_| format!("storage ID '{v}' contains illegal characters"))
}

fn config_id(v: &str) -> Result<(), String> {
    if ids::is_config_id(v) { Ok(()) } else { Err(format!("invalid configuration ID '{v}'")) }
}

fn content(v: &str) -> Result<(), String> {
    match v {
        "images" | "rootdir" | "vztmpl" | "iso" | "backup" | "snippets" | "import" | "none" => {
            Ok(())
        }
        _ => Err(format!("invalid content type '{v}'")),
    }
}
