//! QEMU `netN`: `virtio=BC:24:11:00:00:01,bridge=vmbr0,tag=10,firewall=1`.

use std::fmt;
use std::str::FromStr;

use super::{Extra, Fields, PropError, Writer, invalid, prop_string_impls};

/// A MAC address, printed uppercase and colon-separated as PVE writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(f, "{:02X}:{:02X}:{:02X}:{:02X}:{:02X}:{:02X}", b[0], b[1], b[2], b[3], b[4], b[5])
    }
}

impl MacAddr {
    /// Lowercase form, as cloud-init network config renders it.
    pub fn to_lowercase(self) -> String {
        self.to_string().to_ascii_lowercase()
    }
}

impl FromStr for MacAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() != 6 {
            return Err(format!("'{s}' is not a MAC address"));
        }
        let mut out = [0u8; 6];
        for (o, p) in out.iter_mut().zip(parts) {
            if p.len() != 2 {
                return Err(format!("'{s}' is not a MAC address"));
            }
            *o = u8::from_str_radix(p, 16).map_err(|_| format!("'{s}' is not a MAC address"))?;
        }
        Ok(MacAddr(out))
    }
}

/// NIC models. PVE writes the model as the key holding the MAC address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NetModel {
    Virtio,
    E1000,
    E1000e,
    Rtl8139,
    Vmxnet3,
    Other(String),
}

const MODEL_KEYS: &[&str] = &[
    "virtio",
    "e1000",
    "e1000e",
    "rtl8139",
    "vmxnet3",
    "ne2k_pci",
    "pcnet",
    "i82551",
    "i82557b",
    "i82559er",
    "ne2k_isa",
    "e1000-82540em",
    "e1000-82544gc",
    "e1000-82545em",
];

impl NetModel {
    /// A model by its PVE key; unknown keys are kept as `Other`.
    pub fn from_name(s: &str) -> Self {
        match s {
            "virtio" => Self::Virtio,
            "e1000" => Self::E1000,
            "e1000e" => Self::E1000e,
            "rtl8139" => Self::Rtl8139,
            "vmxnet3" => Self::Vmxnet3,
            o => Self::Other(o.to_string()),
        }
    }
    pub fn as_str(&self) -> &str {
        match self {
            Self::Virtio => "virtio",
            Self::E1000 => "e1000",
            Self::E1000e => "e1000e",
            Self::Rtl8139 => "rtl8139",
            Self::Vmxnet3 => "vmxnet3",
            Self::Other(s) => s,
        }
    }
}

/// A QEMU network device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetDevice {
    pub model: NetModel,
    pub macaddr: Option<MacAddr>,
    pub bridge: Option<String>,
    pub tag: Option<u16>,
    pub firewall: Option<bool>,
    pub link_down: Option<bool>,
    pub mtu: Option<u16>,
    pub queues: Option<u8>,
    pub rate: Option<String>,
    pub trunks: Option<String>,
    pub extra: Extra,
}

impl NetDevice {
    pub fn new(model: NetModel, bridge: impl Into<String>) -> Self {
        Self {
            model,
            macaddr: None,
            bridge: Some(bridge.into()),
            tag: None,
            firewall: None,
            link_down: None,
            mtu: None,
            queues: None,
            rate: None,
            trunks: None,
            extra: Vec::new(),
        }
    }

    fn parse_str(s: &str) -> Result<Self, PropError> {
        let mut f = Fields::parse(s, Some("model"))?;
        let (model, macaddr) = if let Some((model, mac)) = f.take_any(MODEL_KEYS) {
            let mac = if mac.is_empty() {
                None
            } else {
                Some(mac.parse::<MacAddr>().map_err(|e| invalid(&model, &mac, e))?)
            };
            // Each model key is an alias for macaddr: a second one, or macaddr itself, repeats it.
            if f.take_default("model").is_some() {
                return Err(PropError::DuplicateKey("model".into()));
            }
            if f.take_any(MODEL_KEYS).is_some() || f.take("macaddr").is_some() {
                return Err(PropError::DuplicateKey("macaddr".into()));
            }
            (NetModel::from_name(&model), mac)
        } else {
            let model = f.take_default("model").ok_or(PropError::Missing("model"))?;
            let mac = f.take("macaddr");
            let mac = match mac {
                Some(m) => Some(m.parse::<MacAddr>().map_err(|e| invalid("macaddr", &m, e))?),
                None => None,
            };
            (NetModel::from_name(&model), mac)
        };
        Ok(Self {
            model,
            macaddr,
            bridge: f.take("bridge"),
            tag: f.take_parse("tag")?,
            firewall: f.take_bool("firewall")?,
            link_down: f.take_bool("link_down")?,
            mtu: f.take_parse("mtu")?,
            queues: f.take_parse("queues")?,
            rate: f.take("rate"),
            trunks: f.take("trunks"),
            extra: f.rest(),
        })
    }

    fn write_to(&self, w: &mut Writer) {
        // PVE writes `<model>=<mac>`; a model name outside PVE's list cannot be a key, so it
        // is written as `model=<name>,macaddr=<mac>`, which reads back the same.
        let known = MODEL_KEYS.contains(&self.model.as_str());
        match (&self.macaddr, known) {
            (Some(mac), true) => w.kv(self.model.as_str(), mac),
            (Some(mac), false) => w.positional("model", self.model.as_str()).kv("macaddr", mac),
            (None, _) => w.positional("model", self.model.as_str()),
        };
        w.opt("bridge", &self.bridge)
            .opt("tag", &self.tag)
            .opt_bool("firewall", self.firewall)
            .opt_bool("link_down", self.link_down)
            .opt("mtu", &self.mtu)
            .opt("queues", &self.queues)
            .opt("rate", &self.rate)
            .opt("trunks", &self.trunks)
            .extra(&self.extra);
    }
}

prop_string_impls!(NetDevice);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pve_printed_form_with_mac_under_model_key() {
        let n: NetDevice = "virtio=BC:24:11:2A:00:01,bridge=vmbr0,firewall=1".parse().unwrap();
        assert_eq!(n.model, NetModel::Virtio);
        assert_eq!(n.macaddr.unwrap().to_string(), "BC:24:11:2A:00:01");
        assert_eq!(n.bridge.as_deref(), Some("vmbr0"));
        assert_eq!(n.firewall, Some(true));
        assert_eq!(n.to_string(), "virtio=BC:24:11:2A:00:01,bridge=vmbr0,firewall=1");
    }

    #[test]
    fn parses_model_without_mac_and_explicit_model_key() {
        let a: NetDevice = "virtio,bridge=vmbr0,tag=10".parse().unwrap();
        let b: NetDevice = "model=virtio,bridge=vmbr0,tag=10".parse().unwrap();
        assert_eq!(a, b);
        assert_eq!(a.tag, Some(10));
        assert_eq!(a.to_string(), "virtio,bridge=vmbr0,tag=10");
    }

    #[test]
    fn keeps_unknown_keys_verbatim() {
        let n: NetDevice = "virtio,bridge=vmbr0,future-key=x".parse().unwrap();
        assert_eq!(n.extra, vec![("future-key".to_string(), "x".to_string())]);
        assert_eq!(n.to_string(), "virtio,bridge=vmbr0,future-key=x");
    }

    #[test]
    fn odd_model_names_still_round_trip() {
        for s in ["model=a=b,bridge=x", "model=custom,macaddr=BC:24:11:00:00:01"] {
            let n: NetDevice = s.parse().unwrap();
            assert_eq!(n.to_string().parse::<NetDevice>().unwrap(), n, "{s}");
        }
    }

    #[test]
    fn rejects_bad_mac_and_missing_model() {
        assert!("virtio=zz,bridge=vmbr0".parse::<NetDevice>().is_err());
        assert!("bridge=vmbr0".parse::<NetDevice>().is_err());
    }
}
