//! LXC property strings: `rootfs`, `mpN` and `netN`.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{Extra, Fields, PropError, Writer, prop_string_impls};
use super::{Ipv4Setting, Ipv6Setting, MacAddr};
use crate::wire::DiskSize;

/// `rootfs` or `mpN`: `[volume=]<vol>[,mp=<path>][,size=<size>][,acl=..][,backup=..]...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LxcMount {
    pub volume: String,
    pub mp: Option<String>,
    pub size: Option<DiskSize>,
    pub acl: Option<bool>,
    pub backup: Option<bool>,
    pub quota: Option<bool>,
    pub replicate: Option<bool>,
    pub ro: Option<bool>,
    pub shared: Option<bool>,
    pub mountoptions: Option<String>,
    pub extra: Extra,
}

impl LxcMount {
    pub fn new(volume: impl Into<String>) -> Self {
        Self {
            volume: volume.into(),
            mp: None,
            size: None,
            acl: None,
            backup: None,
            quota: None,
            replicate: None,
            ro: None,
            shared: None,
            mountoptions: None,
            extra: Vec::new(),
        }
    }

    fn parse_str(s: &str) -> Result<Self, PropError> {
        let mut f = Fields::parse(s, Some("volume"))?;
        Ok(Self {
            volume: f.take_default("volume").ok_or(PropError::Missing("volume"))?,
            mp: f.take("mp"),
            size: f.take_parse("size")?,
            acl: f.take_bool("acl")?,
            backup: f.take_bool("backup")?,
            quota: f.take_bool("quota")?,
            replicate: f.take_bool("replicate")?,
            ro: f.take_bool("ro")?,
            shared: f.take_bool("shared")?,
            mountoptions: f.take("mountoptions"),
            extra: f.rest(),
        })
    }

    fn write_to(&self, w: &mut Writer) {
        w.positional("volume", &self.volume)
            .opt("mp", &self.mp)
            .opt_bool("acl", self.acl)
            .opt_bool("backup", self.backup)
            .opt("mountoptions", &self.mountoptions)
            .opt_bool("quota", self.quota)
            .opt_bool("replicate", self.replicate)
            .opt_bool("ro", self.ro)
            .opt_bool("shared", self.shared)
            .opt("size", &self.size)
            .extra(&self.extra);
    }
}
prop_string_impls!(LxcMount);

/// LXC `netN`: `name=eth0,bridge=vmbr0,hwaddr=..,ip=dhcp|cidr,gw=..,ip6=..,gw6=..,tag=..`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LxcNet {
    pub name: String,
    pub bridge: Option<String>,
    pub hwaddr: Option<MacAddr>,
    pub ip: Option<Ipv4Setting>,
    pub gw: Option<Ipv4Addr>,
    pub ip6: Option<Ipv6Setting>,
    pub gw6: Option<Ipv6Addr>,
    pub tag: Option<u16>,
    pub firewall: Option<bool>,
    pub mtu: Option<u16>,
    pub rate: Option<String>,
    pub net_type: Option<String>,
    pub link_down: Option<bool>,
    pub extra: Extra,
}

impl LxcNet {
    fn parse_str(s: &str) -> Result<Self, PropError> {
        let mut f = Fields::parse(s, None)?;
        Ok(Self {
            name: f.take("name").ok_or(PropError::Missing("name"))?,
            bridge: f.take("bridge"),
            hwaddr: f.take_parse("hwaddr")?,
            ip: f.take_parse("ip")?,
            gw: f.take_parse("gw")?,
            ip6: f.take_parse("ip6")?,
            gw6: f.take_parse("gw6")?,
            tag: f.take_parse("tag")?,
            firewall: f.take_bool("firewall")?,
            mtu: f.take_parse("mtu")?,
            rate: f.take("rate"),
            net_type: f.take("type"),
            link_down: f.take_bool("link_down")?,
            extra: f.rest(),
        })
    }

    fn write_to(&self, w: &mut Writer) {
        w.kv("name", &self.name)
            .opt("bridge", &self.bridge)
            .opt_bool("firewall", self.firewall)
            .opt("gw", &self.gw)
            .opt("gw6", &self.gw6)
            .opt("hwaddr", &self.hwaddr)
            .opt("ip", &self.ip)
            .opt("ip6", &self.ip6)
            .opt_bool("link_down", self.link_down)
            .opt("mtu", &self.mtu)
            .opt("rate", &self.rate)
            .opt("tag", &self.tag)
            .opt("type", &self.net_type)
            .extra(&self.extra);
    }
}
prop_string_impls!(LxcNet);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rootfs_and_mount_points_parse_like_pve_writes_them() {
        let r: LxcMount = "local-lvm:vm-101-disk-0,size=8G".parse().unwrap();
        assert_eq!(r.size, Some(DiskSize::gib(8)));
        assert_eq!(r.to_string(), "local-lvm:vm-101-disk-0,size=8G");
        let mp: LxcMount = "local:101/vm-101-disk-1.raw,mp=/data,backup=1,size=1G".parse().unwrap();
        assert_eq!(mp.mp.as_deref(), Some("/data"));
        assert_eq!(mp.to_string(), "local:101/vm-101-disk-1.raw,mp=/data,backup=1,size=1G");
    }

    #[test]
    fn lxc_net_needs_a_name_and_parses_addresses() {
        let n: LxcNet =
            "name=eth0,bridge=vmbr0,ip=dhcp,hwaddr=BC:24:11:00:00:01,type=veth".parse().unwrap();
        assert_eq!(n.name, "eth0");
        assert_eq!(n.ip, Some(Ipv4Setting::Dhcp));
        assert_eq!(
            n.to_string(),
            "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=dhcp,type=veth"
        );
        assert!("bridge=vmbr0".parse::<LxcNet>().is_err());
    }
}
