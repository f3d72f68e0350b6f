//! Cloud-init `ipconfigN`: `[ip=<cidr|dhcp>][,gw=<ipv4>][,ip6=<cidr|dhcp|auto>][,gw6=<ipv6>]`.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::{Ipv4Net, Ipv6Net};

use super::{Extra, Fields, PropError, Writer, invalid, prop_string_impls};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv4Setting {
    Dhcp,
    Static(Ipv4Net),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv6Setting {
    Dhcp,
    Auto,
    Static(Ipv6Net),
}

impl fmt::Display for Ipv4Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dhcp => f.write_str("dhcp"),
            Self::Static(n) => n.fmt(f),
        }
    }
}

impl FromStr for Ipv4Setting {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "dhcp" {
            return Ok(Self::Dhcp);
        }
        s.parse::<Ipv4Net>()
            .map(Self::Static)
            .map_err(|_| format!("'{s}' is not dhcp or an IPv4 CIDR"))
    }
}

impl fmt::Display for Ipv6Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dhcp => f.write_str("dhcp"),
            Self::Auto => f.write_str("auto"),
            Self::Static(n) => n.fmt(f),
        }
    }
}

impl FromStr for Ipv6Setting {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "dhcp" => Ok(Self::Dhcp),
            "auto" => Ok(Self::Auto),
            _ => s
                .parse::<Ipv6Net>()
                .map(Self::Static)
                .map_err(|_| format!("'{s}' is not dhcp, auto or an IPv6 CIDR")),
        }
    }
}

/// One cloud-init interface address configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IpConfig {
    pub ip: Option<Ipv4Setting>,
    pub gw: Option<Ipv4Addr>,
    pub ip6: Option<Ipv6Setting>,
    pub gw6: Option<Ipv6Addr>,
    pub extra: Extra,
}

impl IpConfig {
    pub fn dhcp() -> Self {
        Self { ip: Some(Ipv4Setting::Dhcp), ..Self::default() }
    }

    pub fn static_v4(ip: Ipv4Net, gw: Option<Ipv4Addr>) -> Self {
        Self { ip: Some(Ipv4Setting::Static(ip)), gw, ..Self::default() }
    }

    fn parse_str(s: &str) -> Result<Self, PropError> {
        let mut f = Fields::parse(s, None)?;
        let c = Self {
            ip: f.take_parse("ip")?,
            gw: f.take_parse("gw")?,
            ip6: f.take_parse("ip6")?,
            gw6: f.take_parse("gw6")?,
            extra: f.rest(),
        };
        // PVE: gw requires ip, gw6 requires ip6.
        if let (Some(gw), None) = (&c.gw, &c.ip) {
            return Err(invalid("gw", &gw.to_string(), "gw requires ip"));
        }
        if let (Some(gw6), None) = (&c.gw6, &c.ip6) {
            return Err(invalid("gw6", &gw6.to_string(), "gw6 requires ip6"));
        }
        Ok(c)
    }

    fn write_to(&self, w: &mut Writer) {
        w.opt("ip", &self.ip)
            .opt("gw", &self.gw)
            .opt("ip6", &self.ip6)
            .opt("gw6", &self.gw6)
            .extra(&self.extra);
    }
}

prop_string_impls!(IpConfig);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_static_v4_with_gateway_and_v6_auto() {
        let c: IpConfig = "ip=10.0.0.5/24,gw=10.0.0.1,ip6=auto".parse().unwrap();
        assert_eq!(c.ip, Some(Ipv4Setting::Static("10.0.0.5/24".parse().unwrap())));
        assert_eq!(c.gw, Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(c.ip6, Some(Ipv6Setting::Auto));
        assert_eq!(c.to_string(), "ip=10.0.0.5/24,gw=10.0.0.1,ip6=auto");
    }

    #[test]
    fn gateway_without_address_is_rejected() {
        assert!("gw=10.0.0.1".parse::<IpConfig>().is_err());
        assert!("ip=dhcp,gw6=fe80::1".parse::<IpConfig>().is_err());
    }

    #[test]
    fn empty_string_is_an_empty_config_and_bad_cidr_fails() {
        assert_eq!("".parse::<IpConfig>().unwrap(), IpConfig::default());
        assert!("ip=10.0.0.5".parse::<IpConfig>().is_err());
        assert!("ip=300.0.0.1/24".parse::<IpConfig>().is_err());
    }
}
