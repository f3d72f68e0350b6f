//! `GET .../cloudinit/dump`: the user, network and meta documents as PVE renders them (§5.12).

use proxctl_types::messages::GuestKind;
use proxctl_types::prop::{IpConfig, Ipv4Setting, Ipv6Setting, NetDevice};
use proxctl_types::wire::decode_sshkeys;
use sha1::{Digest, Sha1};

use super::common::{guest, node, vmid};
use crate::error::PveResult;
use crate::router::{Ctx, Reply};
use crate::state::{Guest, World};

pub fn dump(ctx: &mut Ctx, w: &mut World) -> PveResult<Reply> {
    let n = node(ctx, w)?;
    let id = vmid(ctx)?;
    let t = ctx.p.opt_enum("type", &["user", "network", "meta"]);
    if !ctx.p.has("type") {
        ctx.p.invalid("type", proxctl_types::messages::MISSING_PARAM);
    }
    ctx.p.finish()?;
    let g = guest(w, &n, id, GuestKind::Qemu)?;
    let text = match t.as_deref() {
        Some("user") => user_data(g),
        Some("network") => network_data(g),
        _ => format!(
            "instance-id: {}\n",
            hex::encode(Sha1::digest(format!("{}{}", user_data(g), network_data(g)).as_bytes()))
        ),
    };
    Ok(Reply::data(text))
}

/// Merged view: pending values win, as the next start would render them.
fn val<'a>(g: &'a Guest, k: &str) -> Option<&'a String> {
    g.pending.get(k).or_else(|| g.conf.get(k))
}

pub fn user_data(g: &Guest) -> String {
    let mut s = String::from("#cloud-config\n");
    let name = val(g, "name").cloned().unwrap_or_else(|| format!("VM{}", g.vmid));
    let search = val(g, "searchdomain").and_then(|d| d.split_whitespace().next().map(String::from));
    let (host, fqdn) = match name.split_once('.') {
        Some((h, _)) => (h.to_string(), name.clone()),
        None => (name.clone(), search.map_or(name.clone(), |d| format!("{name}.{d}"))),
    };
    s.push_str(&format!("hostname: {host}\nmanage_etc_hosts: true\nfqdn: {fqdn}\n"));
    let user = val(g, "ciuser");
    if let Some(u) = user {
        s.push_str(&format!("user: {u}\n"));
        if u == "root" {
            s.push_str("disable_root: False\n");
        }
    }
    if let Some(p) = val(g, "cipassword") {
        s.push_str(&format!("password: {p}\n"));
    }
    if let Some(keys) = val(g, "sshkeys").and_then(|k| decode_sshkeys(k).ok()) {
        s.push_str("ssh_authorized_keys:\n");
        for k in keys.lines().filter(|l| !l.trim().is_empty()) {
            s.push_str(&format!("  - {k}\n"));
        }
    }
    s.push_str("chpasswd:\n  expire: False\n");
    if user.is_none_or(|u| u != "root") {
        s.push_str("users:\n  - default\n");
    }
    if val(g, "ciupgrade").is_none_or(|v| v != "0") {
        s.push_str("package_upgrade: true\n");
    }
    s
}

pub fn network_data(g: &Guest) -> String {
    let mut s = String::from("version: 1\nconfig:\n");
    for (k, v) in g.conf.iter().filter(|(k, _)| k.starts_with("net")) {
        let Some(i) = k.strip_prefix("net").and_then(|x| x.parse::<u32>().ok()) else {
            continue;
        };
        let Some(ipc) = val(g, &format!("ipconfig{i}")).and_then(|c| c.parse::<IpConfig>().ok())
        else {
            continue;
        };
        let Ok(nd) = v.parse::<NetDevice>() else {
            continue;
        };
        let mac = nd.macaddr.map(|m| m.to_lowercase()).unwrap_or_default();
        s.push_str(&format!(
            "    - type: physical\n      name: eth{i}\n      mac_address: '{mac}'\n      subnets:\n"
        ));
        match ipc.ip {
            Some(Ipv4Setting::Static(net)) => {
                s.push_str(&format!(
                    "      - type: static\n        address: '{}'\n        netmask: '{}'\n",
                    net.addr(),
                    net.netmask()
                ));
                if let Some(gw) = ipc.gw {
                    s.push_str(&format!("        gateway: '{gw}'\n"));
                }
            }
            _ => s.push_str("      - type: dhcp4\n"),
        }
        match ipc.ip6 {
            Some(Ipv6Setting::Dhcp) => s.push_str("      - type: dhcp6\n"),
            Some(Ipv6Setting::Auto) => s.push_str("      - type: ipv6_slaac\n"),
            Some(Ipv6Setting::Static(net)) => {
                s.push_str(&format!("      - type: static6\n        address: '{net}'\n"));
                if let Some(gw) = ipc.gw6 {
                    s.push_str(&format!("        gateway: '{gw}'\n"));
                }
            }
            None => {}
        }
    }
    s.push_str("    - type: nameserver\n      address:\n");
    let ns = val(g, "nameserver").cloned().unwrap_or_else(|| "10.0.0.1".into());
    for a in ns.split_whitespace() {
        s.push_str(&format!("      - '{a}'\n"));
    }
    s.push_str("      search:\n");
    let sd = val(g, "searchdomain").cloned().unwrap_or_else(|| "sim.lan".into());
    for d in sd.split_whitespace() {
        s.push_str(&format!("      - '{d}'\n"));
    }
    s
}
