//! The checks of one manifest document, before any call: the ranges and formats PVE takes
//! (from `proxctl_types::limits`, shared with the commands and the simulator), and what PVE
//! would take but cannot work (a gateway outside its subnet, a pool range that runs
//! backwards). Each problem is (key path, message); the loader turns paths into places.

use proxctl_types::limits;
use proxctl_types::wire::DiskSize;

use crate::manifest::{API_VERSION, Body};

const DNS_NAME_MAX: usize = 63;

fn dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= DNS_NAME_MAX
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Problems in one document, as (key path, message).
pub(crate) fn check(api_version: &str, body: &Body) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut bad = |path: &str, msg: String| out.push((path.to_string(), msg));
    if api_version != API_VERSION {
        bad("apiVersion", format!("apiVersion must be {API_VERSION}, not '{api_version}'"));
    }
    if !dns_name(body.name()) {
        bad(
            "metadata.name",
            format!(
                "name '{}' must be a DNS name: letters, digits, '-' and '.', at most 63",
                body.name()
            ),
        );
    }
    match body {
        Body::Job { metadata, spec } => {
            let job = spec.job(&metadata.name, jiff::Timestamp::UNIX_EPOCH, "manifest");
            if let Err(e) = job.check() {
                bad("spec", e.to_string());
            }
        }
        Body::VirtualMachine { spec, .. } => {
            if spec.template.as_deref().is_some_and(|t| t.trim().is_empty()) {
                bad("spec.template", "template must name the template to clone".into());
            }
            if spec.template.is_some() && spec.image.is_some() {
                bad("spec.image", "give either template or image, not both".into());
            }
            if let Some(i) = &spec.image
                && !i.contains(":import/")
            {
                bad("spec.image", format!("'{i}' is not an import volume (STORAGE:import/FILE)"));
            }
            for (k, v) in [("spec.cores", spec.cores), ("spec.sockets", spec.sockets)] {
                if v == Some(0) {
                    bad(k, format!("{} must be at least 1", &k[5..]));
                }
            }
            if let Some(Err(e)) = spec.memory.map(limits::memory_mib) {
                bad("spec.memory", format!("memory (MiB): {e}"));
            }
            if let (Some(b), Some(m)) = (spec.balloon, spec.memory)
                && b > m
            {
                bad("spec.balloon", format!("balloon ({b} MiB) cannot exceed memory ({m} MiB)"));
            }
            for (slot_name, disk) in &spec.disks {
                let path = format!("spec.disks.{slot_name}");
                if !limits::disk_slot(slot_name) {
                    bad(
                        &path,
                        format!(
                            "'{slot_name}' is not a disk slot PVE has (scsi0-30, virtio0-15, \
                             sata0-5, ide0-3)"
                        ),
                    );
                }
                match disk.size.parse::<DiskSize>() {
                    Err(_) => bad(
                        &format!("{path}.size"),
                        format!("'{}' is not a size such as 32G", disk.size),
                    ),
                    Ok(size) => {
                        if let Err(e) = limits::disk_size(size) {
                            bad(&format!("{path}.size"), e);
                        }
                    }
                }
            }
            for (n, nic) in &spec.networks {
                let path = format!("spec.networks.{n}");
                if !limits::nic_slot(n) {
                    bad(&path, format!("'{n}' is not a NIC slot PVE has (net0 to net31)"));
                }
                if let Err(e) = limits::bridge(&nic.bridge) {
                    bad(&format!("{path}.bridge"), e);
                }
                if nic.vlan.is_some_and(|v| v == 0 || v > 4094) {
                    bad(&format!("{path}.vlan"), "vlan must be 1..4094".into());
                }
                if let Some(m) = &nic.model
                    && !proxctl_ops::nic::MODELS.contains(&m.as_str())
                {
                    bad(&format!("{path}.model"), format!("unknown NIC model '{m}'"));
                }
            }
            if let Some(ci) = &spec.cloud_init {
                if let Some(m) = ci.mode.as_deref().filter(|m| *m != "native" && *m != "iso") {
                    bad("spec.cloudInit.mode", format!("mode must be native or iso, not '{m}'"));
                }
                if let Some(u) = &ci.user_data {
                    if ci.mode.as_deref() != Some("iso") {
                        bad(
                            "spec.cloudInit.userData",
                            "userData needs mode: iso (PVE's native drive takes no user-data \
                             without snippets)"
                                .into(),
                        );
                    }
                    if let Err(e) = proxctl_images::nocloud::parse_user_data(u) {
                        bad("spec.cloudInit.userData", e.reason());
                    }
                }
                for (n, ip) in &ci.ip {
                    let path = format!("spec.cloudInit.ip.{n}");
                    // Whether the VM has this NIC (declared, or inherited from its template)
                    // is the planner's to say: it knows the template.
                    if ip.address.is_some() && ip.pool.is_some() {
                        bad(&path, "give either address or pool, not both".into());
                    }
                    if let Some(a) = &ip.address
                        && a != "dhcp"
                        && a.parse::<ipnet::Ipv4Net>().is_err()
                    {
                        bad(
                            &format!("{path}.address"),
                            format!("'{a}' is neither dhcp nor an IPv4 address with prefix"),
                        );
                    }
                    match ip.gateway.as_deref().map(str::parse::<std::net::Ipv4Addr>) {
                        Some(Err(_)) => bad(
                            &format!("{path}.gateway"),
                            format!(
                                "'{}' is not an IPv4 address",
                                ip.gateway.as_deref().unwrap_or("")
                            ),
                        ),
                        Some(Ok(g)) => {
                            let address = ip.address.as_deref().and_then(|a| a.parse().ok());
                            if let Some(Err(e)) = address.map(|a| limits::gateway_in_subnet(a, g)) {
                                bad(&format!("{path}.gateway"), e);
                            }
                        }
                        None => {}
                    }
                    if let Some(a) = &ip.address6
                        && a != "dhcp"
                        && a != "auto"
                        && a.parse::<ipnet::Ipv6Net>().is_err()
                    {
                        bad(
                            &format!("{path}.address6"),
                            format!("'{a}' is not dhcp, auto or an IPv6 address with prefix"),
                        );
                    }
                }
            }
            if let Some(h) = &spec.ha
                && !["started", "stopped", "disabled", "ignored"].contains(&h.state.as_str())
            {
                bad(
                    "spec.ha.state",
                    format!(
                        "'{}' is not an HA state (started, stopped, disabled, ignored)",
                        h.state
                    ),
                );
            }
            check_tags(&spec.tags, &mut bad);
            check_nodes(spec.node.as_deref(), &spec.allowed_nodes, &mut bad);
        }
        Body::Container { spec, .. } => {
            if !spec.ostemplate.contains(":vztmpl/") {
                bad(
                    "spec.ostemplate",
                    format!(
                        "'{}' is not a container template volume (STORAGE:vztmpl/FILE)",
                        spec.ostemplate
                    ),
                );
            }
            if let Some(s) = &spec.disk_size {
                match s.parse::<DiskSize>() {
                    Err(_) => bad("spec.diskSize", format!("'{s}' is not a size such as 8G")),
                    Ok(size) => {
                        if let Err(e) = limits::disk_size(size) {
                            bad("spec.diskSize", e);
                        }
                    }
                }
            }
            if let Some(Err(e)) = spec.memory.map(limits::memory_mib) {
                bad("spec.memory", format!("memory (MiB): {e}"));
            }
            if let Some(Err(e)) = spec.bridge.as_deref().map(limits::bridge) {
                bad("spec.bridge", e);
            }
            if let Some(a) = &spec.ip
                && a != "dhcp"
                && a.parse::<ipnet::Ipv4Net>().is_err()
            {
                bad("spec.ip", format!("'{a}' is neither dhcp nor an IPv4 address with prefix"));
            }
            if spec.vlan.is_some_and(|v| v == 0 || v > 4094) {
                bad("spec.vlan", "vlan must be 1..4094".into());
            }
            check_tags(&spec.tags, &mut bad);
            check_nodes(spec.node.as_deref(), &spec.allowed_nodes, &mut bad);
        }
        Body::Template { spec, .. } => {
            if let Some(s) = &spec.disk_size {
                match s.parse::<DiskSize>() {
                    Err(_) => bad("spec.diskSize", format!("'{s}' is not a size such as 10G")),
                    Ok(size) => {
                        if let Err(e) = limits::disk_size(size) {
                            bad("spec.diskSize", e);
                        }
                    }
                }
            }
            if spec.keep == Some(0) {
                bad("spec.keep", "keep must be at least 1".into());
            }
        }
        Body::IpPool { spec, .. } => match spec.cidr.parse::<ipnet::IpNet>() {
            Err(_) => {
                bad("spec.cidr", format!("'{}' is not a CIDR such as 10.0.0.0/24", spec.cidr))
            }
            Ok(net) => {
                match spec.gateway.parse::<std::net::IpAddr>() {
                    Ok(g) if net.contains(&g) => {}
                    Ok(g) => bad("spec.gateway", format!("gateway {g} is outside {net}")),
                    Err(_) => {
                        bad("spec.gateway", format!("'{}' is not an IP address", spec.gateway))
                    }
                }
                if let Some(r) = &spec.range {
                    for (k, v) in [("start", &r.start), ("end", &r.end)] {
                        match v.parse::<std::net::IpAddr>() {
                            Ok(a) if net.contains(&a) => {}
                            _ => bad(
                                &format!("spec.range.{k}"),
                                format!("'{v}' is not an address in {net}"),
                            ),
                        }
                    }
                    let ends =
                        (r.start.parse::<std::net::IpAddr>(), r.end.parse::<std::net::IpAddr>());
                    if let (Ok(start), Ok(end)) = ends
                        && start > end
                    {
                        bad(
                            "spec.range.end",
                            format!("the range runs backwards: start {start} is above end {end}"),
                        );
                    }
                }
            }
        },
    }
    out
}

fn check_tags(tags: &[String], bad: &mut impl FnMut(&str, String)) {
    for t in tags {
        let ok = !t.is_empty()
            && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_+.".contains(&b))
            && t != proxctl_types::managed::MANAGED_TAG;
        if !ok {
            bad(
                "spec.tags",
                format!(
                    "'{}' is not a usable tag (letters, digits, - _ + .; 'proxctl' is reserved)",
                    limits::escape(t)
                ),
            );
        }
    }
}

fn check_nodes(node: Option<&str>, allowed: &[String], bad: &mut impl FnMut(&str, String)) {
    if let Some(n) = node
        && !allowed.is_empty()
        && !allowed.iter().any(|a| a == n)
    {
        bad("spec.node", format!("node {n} is not among allowedNodes"));
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// What each of these manifests gets back from the loader, one message per problem.
    fn problems(doc: &str) -> Vec<String> {
        match crate::manifest::parse(Path::new("m.yaml"), doc) {
            Ok(_) => Vec::new(),
            Err(p) => p.iter().map(|d| d.to_string()).collect(),
        }
    }

    const VM: &str = "apiVersion: proxctl.io/v1\nkind: VirtualMachine\nmetadata: {name: a}\n";

    #[test]
    fn manifests_that_validate_but_cannot_work_are_refused_before_any_call() {
        let p = problems(&format!("{VM}spec: {{template: t, memory: 18446744073709551615}}\n"));
        assert!(
            p[0].contains("m.yaml:4:")
                && p[0].contains("memory (MiB): 18446744073709551615 MiB is more than any host"),
            "{p:?}"
        );
        let p = problems(&format!(
            "{VM}spec: {{template: t, networks: {{net99: {{bridge: vmbr0}}}}}}\n"
        ));
        assert!(p[0].contains("'net99' is not a NIC slot PVE has"), "{p:?}");
        let p = problems(&format!(
            "{VM}spec: {{template: t, networks: {{net0: {{bridge: vm br0}}}}}}\n"
        ));
        assert!(p[0].contains("invalid bridge ID 'vm br0'"), "{p:?}");
        let p = problems(&format!(
            "{VM}spec: {{template: t, networks: {{net0: {{bridge: vmbr0}}}}, cloudInit: {{ip: \
             {{net0: {{address: 10.0.0.5/24, gateway: 10.0.1.1}}}}}}}}\n"
        ));
        assert!(p[0].contains("gateway 10.0.1.1 is outside 10.0.0.0/24"), "{p:?}");
        let p = problems(&format!(
            "{VM}spec: {{template: t, disks: {{scsi0: {{size: 0G}}, scsi31: {{size: 4G}}}}}}\n"
        ));
        assert_eq!(p.len(), 2, "{p:?}");
        let pool = "apiVersion: proxctl.io/v1\nkind: IPPool\nmetadata: {name: p}\nspec: {cidr: \
                    10.0.0.0/24, gateway: 10.0.0.1, range: {start: 10.0.0.90, end: 10.0.0.10}}\n";
        let p = problems(pool);
        assert!(p[0].contains("runs backwards: start 10.0.0.90 is above end 10.0.0.10"), "{p:?}");
        let p = problems(&format!("{VM}spec: {{template: t, tags: [\"a\\e[31m\"]}}\n"));
        assert!(p[0].contains("'a\\u{1b}[31m' is not a usable tag"), "{p:?}");
        // And what works still passes.
        assert!(
            problems(&format!(
                "{VM}spec: {{template: t, memory: 2048, networks: {{net31: {{bridge: vmbr0}}}}}}\n"
            ))
            .is_empty()
        );
    }
}
