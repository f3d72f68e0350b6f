//! A node's network configuration as ifupdown2 keeps it: the running `/etc/network/interfaces`
//! and the pending `interfaces.new` that edits write and `PUT /nodes/{node}/network` applies.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Node;

/// One interface stanza: its name, PVE's type and its options as PVE's API names them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Iface {
    pub iface: String,
    pub kind: String,
    pub opts: BTreeMap<String, String>,
}

/// A node's network: what runs, and the edits waiting for an apply.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NodeNet {
    pub running: Vec<Iface>,
    pub pending: Option<Vec<Iface>>,
}

impl NodeNet {
    /// What a fresh node has: its NIC `eno1`, the first bridge on it with the node's address
    /// and the gateway, and the scenario's other bridges without ports.
    pub fn default_for(node: &Node) -> Self {
        let mut running = vec![Iface {
            iface: "eno1".into(),
            kind: "eth".into(),
            opts: BTreeMap::from([("autostart".into(), "1".into())]),
        }];
        for (i, b) in node.bridges.iter().enumerate() {
            let mut opts = BTreeMap::from([("autostart".to_string(), "1".to_string())]);
            if i == 0 {
                opts.insert("bridge_ports".into(), "eno1".into());
                opts.insert("bridge_vlan_aware".into(), "1".into());
                opts.insert("cidr".into(), format!("{}/24", node.ip));
                opts.insert("gateway".into(), "10.0.0.1".into());
            } else {
                opts.insert("bridge_ports".into(), String::new());
            }
            running.push(Iface { iface: b.clone(), kind: "bridge".into(), opts });
        }
        Self { running, pending: None }
    }

    /// The configuration edits see: the pending one, else the running one.
    pub fn current(&self) -> &Vec<Iface> {
        self.pending.as_ref().unwrap_or(&self.running)
    }
}

/// The interfaces file ifupdown2 would read for `ifaces` (for the pending-changes diff).
pub fn render(ifaces: &[Iface]) -> String {
    let mut out = String::from("auto lo\niface lo inet loopback\n");
    for i in ifaces {
        out.push('\n');
        if i.opts.get("autostart").is_some_and(|v| v == "1") {
            out.push_str(&format!("auto {}\n", i.iface));
        }
        let method = if i.opts.contains_key("cidr") { "static" } else { "manual" };
        out.push_str(&format!("iface {} inet {method}\n", i.iface));
        // Address and gateway first, as PVE writes them.
        let first = ["cidr", "gateway"];
        let ordered = first
            .iter()
            .filter_map(|k| i.opts.get_key_value(*k))
            .chain(i.opts.iter().filter(|(k, _)| !first.contains(&k.as_str())));
        for (k, v) in ordered {
            let key = match k.as_str() {
                "autostart" | "comments" => continue,
                "cidr" => "address",
                "bridge_ports" => "bridge-ports",
                "bridge_vlan_aware" => "bridge-vlan-aware",
                "bond_mode" => "bond-mode",
                "slaves" => "bond-slaves",
                other => other,
            };
            let v = if v.is_empty() { "none" } else { v.as_str() };
            let v =
                if key == "bridge-vlan-aware" { if v == "1" { "yes" } else { "no" } } else { v };
            out.push_str(&format!("\t{key} {v}\n"));
        }
        if let Some(c) = i.opts.get("comments") {
            out.push_str(&format!("#{c}\n"));
        }
    }
    out
}

/// A unified-style diff of two interfaces files, as PVE shows pending changes.
pub fn diff(old: &str, new: &str) -> String {
    let old_lines: Vec<&str> = old.lines().collect();
    let new_lines: Vec<&str> = new.lines().collect();
    let mut out = String::from("--- /etc/network/interfaces\n+++ /etc/network/interfaces.new\n");
    for l in &old_lines {
        if !new_lines.contains(l) {
            out.push_str(&format!("-{l}\n"));
        }
    }
    for l in &new_lines {
        if !old_lines.contains(l) {
            out.push_str(&format!("+{l}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_static_bridge_renders_as_ifupdown2_reads_it() {
        let i = Iface {
            iface: "vmbr1".into(),
            kind: "bridge".into(),
            opts: BTreeMap::from([
                ("autostart".into(), "1".into()),
                ("cidr".into(), "10.9.0.2/24".into()),
                ("bridge_ports".into(), String::new()),
                ("bridge_vlan_aware".into(), "1".into()),
            ]),
        };
        let text = render(&[i]);
        assert!(text.contains("auto vmbr1\niface vmbr1 inet static\n"), "{text}");
        assert!(
            text.contains("\taddress 10.9.0.2/24\n\tbridge-ports none\n\tbridge-vlan-aware yes\n"),
            "{text}"
        );
    }

    #[test]
    fn the_diff_shows_removed_and_added_lines() {
        let d = diff("a\nb\n", "a\nc\n");
        assert!(d.ends_with("-b\n+c\n"), "{d}");
    }
}
