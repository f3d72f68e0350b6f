//! A NIC as `vm create --net` (and the wizard) asks for it: `bridge=vmbr0[,tag=10]
//! [,model=virtio][,firewall=1]`. The first is `net0`, the next `net1`, and so on.

use std::fmt;
use std::str::FromStr;

/// NIC models PVE offers for new guests (the manifest accepts the same).
pub const MODELS: &[&str] = &["virtio", "e1000", "e1000e", "rtl8139", "vmxnet3"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicRequest {
    pub bridge: String,
    pub vlan: Option<u16>,
    /// `virtio` when unset.
    pub model: Option<String>,
    pub firewall: Option<bool>,
}

impl NicRequest {
    pub fn on(bridge: impl Into<String>, vlan: Option<u16>) -> Self {
        Self { bridge: bridge.into(), vlan, model: None, firewall: None }
    }
}

impl FromStr for NicRequest {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let mut nic = NicRequest::on("", None);
        for part in s.split(',').filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("'{part}' is not key=value (e.g. bridge=vmbr0,tag=10)"))?;
            match k {
                "bridge" => nic.bridge = v.to_string(),
                "tag" | "vlan" => match v.parse::<u16>() {
                    Ok(t) if (1..=4094).contains(&t) => nic.vlan = Some(t),
                    _ => return Err(format!("{k} '{v}' is not a VLAN tag from 1 to 4094")),
                },
                "model" if MODELS.contains(&v) => nic.model = Some(v.to_string()),
                "model" => return Err(format!("model '{v}' is not one of {}", MODELS.join(", "))),
                "firewall" => {
                    nic.firewall = Some(match v {
                        "1" | "yes" | "true" => true,
                        "0" | "no" | "false" => false,
                        _ => return Err(format!("firewall '{v}' is not 0 or 1")),
                    });
                }
                _ => {
                    return Err(format!(
                        "unknown NIC key '{k}'; use bridge, tag, model and firewall"
                    ));
                }
            }
        }
        if nic.bridge.is_empty() {
            return Err("a NIC needs bridge=NAME, e.g. bridge=vmbr0".into());
        }
        Ok(nic)
    }
}

impl fmt::Display for NicRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bridge={}", self.bridge)?;
        if let Some(t) = self.vlan {
            write!(f, ",tag={t}")?;
        }
        if let Some(m) = &self.model {
            write!(f, ",model={m}")?;
        }
        if let Some(fw) = self.firewall {
            write!(f, ",firewall={}", u8::from(fw))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_nic_reads_its_keys_and_refuses_what_pve_would() {
        let n: NicRequest = "bridge=vmbr1,tag=10,model=e1000,firewall=1".parse().unwrap();
        assert_eq!(n.bridge, "vmbr1");
        assert_eq!((n.vlan, n.model.as_deref(), n.firewall), (Some(10), Some("e1000"), Some(true)));
        assert_eq!(n.to_string(), "bridge=vmbr1,tag=10,model=e1000,firewall=1");
        for (bad, why) in [
            ("tag=10", "needs bridge"),
            ("bridge=vmbr0,tag=5000", "1 to 4094"),
            ("bridge=vmbr0,model=ne2k", "not one of"),
            ("bridge=vmbr0,mtu=9000", "unknown NIC key 'mtu'"),
            ("vmbr0", "not key=value"),
        ] {
            let err = bad.parse::<NicRequest>().unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    proptest! {
        #[test]
        fn any_text_parses_or_is_refused_and_what_parses_round_trips(s in ".{0,60}") {
            if let Ok(n) = s.parse::<NicRequest>() {
                prop_assert_eq!(n.to_string().parse::<NicRequest>(), Ok(n));
            }
        }

        #[test]
        fn every_valid_nic_round_trips(
            bridge in "[a-z][a-z0-9]{0,10}",
            vlan in proptest::option::of(1u16..=4094),
            model in proptest::option::of(proptest::sample::select(MODELS)),
            firewall in proptest::option::of(any::<bool>()),
        ) {
            let n = NicRequest { bridge, vlan, model: model.map(String::from), firewall };
            prop_assert_eq!(n.to_string().parse::<NicRequest>(), Ok(n));
        }
    }
}
