//! The `vm create` wizard: a template (or an empty VM), the name, a node with room for it, the
//! size, bridge and VLAN, and for templates cloud-init (mode, user, SSH key, address). Only the
//! arguments missing from the command line are asked for.

use std::path::{Path, PathBuf};

use proxctl_client::Client;
use proxctl_ops::choices::{self, NodeChoice, TemplateChoice};
use proxctl_ops::vm;

use super::{Memory, Ui, WizardError, pick, shell_word, text, yes};
use crate::flags::CreateArgs;
use crate::settings::Resolved;

/// Ask for what `a` lacks; returns the completed arguments once the user confirmed them.
pub async fn run(
    ui: &mut dyn Ui,
    r: &Resolved,
    client: &Client,
    a: CreateArgs,
) -> anyhow::Result<CreateArgs> {
    let env = |k: &str| std::env::var(k).ok();
    let mut memory = Memory::load(Memory::default_path(&env), &r.profile_name, "vm-create");
    let home = std::env::var_os("HOME").map(PathBuf::from);
    ui.say("Create a VM. Defaults are in [brackets]; nothing changes before you confirm.");
    let a = ask(ui, r, client, a, &memory, home.as_deref()).await?;
    let name = a.name_arg.clone().or_else(|| a.name.clone()).unwrap_or_default();
    let manifest = if a.from_template.is_some() {
        proxctl_engine::imperative::manifest(&crate::cmd::template_request(r, &name, &a)?)?
    } else {
        "(none: manifests declare VMs made from a template or an image)".to_string()
    };
    let what = format!("Create VM {name}?");
    super::confirm(ui, &what, &command_line(&name, &a), &manifest, r.yes)?;
    remember(&mut memory, &a);
    if let Err(e) = memory.save() {
        ui.say(&format!("note: could not remember these choices: {e}"));
    }
    Ok(a)
}

async fn ask(
    ui: &mut dyn Ui,
    r: &Resolved,
    client: &Client,
    mut a: CreateArgs,
    memory: &Memory,
    home: Option<&Path>,
) -> anyhow::Result<CreateArgs> {
    let nodes = choices::nodes(client).await?;
    let templates = choices::templates(client).await?;
    if a.from_template.is_none() && a.image.is_none() {
        a.from_template = pick_template(ui, &templates, memory)?;
    }
    let template = a.from_template.as_ref().and_then(|n| templates.iter().find(|t| &t.name == n));

    if a.name_arg.is_none() && a.name.is_none() {
        let taken: Vec<String> = proxctl_ops::views::guests(client, None, false)
            .await?
            .into_iter()
            .map(|g| g.name)
            .collect();
        let name = text(ui, "Name", None, |n| {
            if !proxctl_types::ids::is_dns_name(n) {
                return Err("use letters, digits and '-' (a DNS name), e.g. web-1".into());
            }
            if taken.iter().any(|t| t == n) {
                return Err(format!("a guest named {n} exists already"));
            }
            Ok(n.to_string())
        })?;
        a.name_arg = Some(name);
    }

    // A template on local storage clones on its own node; otherwise the last or profile's.
    let want = template.map(|t| t.node.as_str()).or(memory.get("node")).or(r.node_default());
    let node = super::pick_node(ui, &nodes, a.node.as_ref(), want)?;
    a.node = Some(node.node.clone());
    if a.cores.is_none() {
        let d = memory.get("cores").map_or_else(|| vm::DEFAULT_CORES.to_string(), String::from);
        a.cores = Some(text(ui, "CPU cores", Some(&d), |v| {
            let c: u32 = v.parse().map_err(|_| format!("'{v}' is not a number"))?;
            choices::check_capacity(&node, c, 16).map(|_| c)
        })?);
    }
    if a.memory.is_none() {
        let cores = a.cores.unwrap_or(2);
        let d =
            memory.get("memory").map_or_else(|| vm::DEFAULT_MEMORY_MIB.to_string(), String::from);
        let (mib, warning) = text(ui, "Memory in MiB", Some(&d), |v| {
            let m: u64 = v.parse().map_err(|_| format!("'{v}' is not a number of MiB"))?;
            choices::check_capacity(&node, cores, m).map(|w| (m, w))
        })?;
        if let Some(w) = warning {
            ui.say(&format!("  note: {w}"));
        }
        a.memory = Some(mib);
    }
    if a.disk.is_none() {
        let d =
            memory.get("disk").map_or_else(|| format!("{}G", vm::DEFAULT_DISK_GIB), String::from);
        a.disk = Some(text(ui, "Disk size", Some(&d), |v| {
            v.parse::<proxctl_types::wire::DiskSize>().map_err(|e| e.to_string())
        })?);
    }
    if a.from_template.is_none() && a.image.is_none() && a.storage.is_none() {
        let profile = client.settings().default_storage.clone();
        a.storage = Some(
            super::pick_storage(
                ui,
                client,
                &node,
                "images",
                "Disk storage",
                memory.get("storage").or(profile.as_deref()),
            )
            .await?,
        );
    }
    if a.bridge.is_none() && a.nets.is_empty() {
        let bridges = choices::bridges(client, &node.node).await?;
        if bridges.is_empty() {
            return Err(
                WizardError::Nothing(format!("{} has no bridge for the NIC", node.node)).into()
            );
        }
        let items: Vec<(String, String)> = bridges
            .iter()
            .map(|b| {
                let mut d = if b.vlan_aware { "VLAN-aware".to_string() } else { String::new() };
                if let Some(c) = &b.comment {
                    d = if d.is_empty() { c.clone() } else { format!("{d}, {c}") };
                }
                (b.bridge.clone(), d)
            })
            .collect();
        let want = memory.get("bridge").or(r.bridge.as_deref()).unwrap_or("vmbr0");
        let i = pick(ui, "Bridge", &items, items.iter().position(|(n, _)| n == want).or(Some(0)))?;
        a.bridge = Some(items[i].0.clone());
    }
    if a.vlan.is_none() && a.nets.is_empty() {
        let d = memory.get("vlan").unwrap_or("").to_string();
        a.vlan = text(ui, "VLAN tag (1-4094, empty for none)", Some(&d), |v| match v {
            "" | "none" => Ok(None),
            v => match v.parse::<u16>() {
                Ok(t) if (1..=4094).contains(&t) => Ok(Some(t)),
                _ => Err(format!("'{v}' is not a VLAN tag from 1 to 4094")),
            },
        })?;
    }
    if a.from_template.is_some() {
        ask_cloud_init(ui, client, &mut a, &node, template, memory, home).await?;
    }
    if !a.start {
        a.start = yes(ui, "Start it once it is made?", memory.get("start") != Some("false"))?;
    }
    if a.start && a.from_template.is_some() && !a.wait_cloud_init {
        a.wait_cloud_init = yes(ui, "Wait until cloud-init in the guest is done?", false)?;
    }
    Ok(a)
}

fn pick_template(
    ui: &mut dyn Ui,
    templates: &[TemplateChoice],
    memory: &Memory,
) -> Result<Option<String>, WizardError> {
    if templates.is_empty() {
        ui.say("No templates yet: `proxctl template build` makes one from a cloud image.");
    }
    let mut items: Vec<(String, String)> = templates
        .iter()
        .map(|t| {
            let what =
                if t.version.is_empty() { "template".to_string() } else { t.version.clone() };
            (t.name.clone(), format!("{what}, VMID {} on {}", t.vmid, t.node))
        })
        .collect();
    items.push(("empty".into(), "no template: an empty VM with a blank disk".into()));
    let default = memory.get("template").and_then(|m| items.iter().position(|(n, _)| n == m));
    let i = pick(ui, "Template", &items, default.or(Some(0)))?;
    Ok(templates.get(i).map(|t| t.name.clone()))
}

async fn ask_cloud_init(
    ui: &mut dyn Ui,
    client: &Client,
    a: &mut CreateArgs,
    node: &NodeChoice,
    template: Option<&TemplateChoice>,
    memory: &Memory,
    home: Option<&Path>,
) -> anyhow::Result<()> {
    if a.cloud_init.is_none() {
        let items = vec![
            ("native".to_string(), "PVE's cloud-init drive".to_string()),
            ("iso".to_string(), "a NoCloud seed ISO that proxctl builds and attaches".to_string()),
        ];
        let default = usize::from(memory.get("cloud_init") == Some("iso"));
        a.cloud_init = Some(items[pick(ui, "cloud-init", &items, Some(default))?].0.clone());
    }
    if a.cloud_init.as_deref() == Some("iso") && a.iso_storage.is_none() {
        a.iso_storage = Some(
            super::pick_storage(
                ui,
                client,
                node,
                "iso",
                "Storage for the seed ISO",
                memory.get("iso_storage"),
            )
            .await?,
        );
    }
    if a.ci_user.is_none() {
        let catalog = proxctl_ops::image::catalog(&|k| std::env::var(k).ok())?;
        let image_user = template
            .and_then(|t| t.catalog.as_deref())
            .and_then(|id| catalog.get(id))
            .map(|e| e.default_user.clone());
        let d = memory.get("ci_user").map(String::from).or(image_user).unwrap_or_default();
        let user =
            text(ui, "User cloud-init creates (empty: the image's default)", Some(&d), |u| {
                if u.is_empty()
                    || u.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_".contains(c))
                {
                    Ok(u.to_string())
                } else {
                    Err(format!("'{u}' is not a user name (lowercase letters, digits, - and _)"))
                }
            })?;
        a.ci_user = (!user.is_empty()).then_some(user);
    }
    if a.ssh_keys.is_empty() {
        if let Some(k) = pick_ssh_key(ui, home, memory.get("ssh_key"))? {
            a.ssh_keys.push(k);
        }
    }
    if a.ip.is_none() {
        a.ip = text(ui, "IPv4 address with prefix, or dhcp", Some("dhcp"), |v| match v {
            "dhcp" => Ok(None),
            v => v.parse::<ipnet::Ipv4Net>().map(Some).map_err(|_| {
                format!("'{v}' is neither dhcp nor an address with prefix such as 10.0.0.5/24")
            }),
        })?;
    }
    if let Some(net) = a.ip {
        if a.gateway.is_none() {
            let first = net.hosts().next().filter(|h| *h != net.addr()).map(|h| h.to_string());
            a.gateway = Some(text(ui, "Gateway", first.as_deref(), |v| {
                let g: std::net::Ipv4Addr =
                    v.parse().map_err(|_| format!("'{v}' is not an IPv4 address"))?;
                if !net.contains(&g) {
                    return Err(format!("{g} is not inside {}", net.trunc()));
                }
                if g == net.addr() {
                    return Err(format!("{g} is the VM's own address"));
                }
                Ok(g)
            })?);
        }
        if a.nameserver.is_none() {
            let d = memory.get("nameserver").unwrap_or("").to_string();
            let ns = text(ui, "DNS server (empty: none)", Some(&d), |v| {
                if v.is_empty() || v.parse::<std::net::IpAddr>().is_ok() {
                    Ok(v.to_string())
                } else {
                    Err(format!("'{v}' is not an IP address"))
                }
            })?;
            a.nameserver = (!ns.is_empty()).then_some(ns);
        }
    }
    Ok(())
}

/// `~/.ssh/*.pub`, a new ed25519 key, or none.
fn pick_ssh_key(
    ui: &mut dyn Ui,
    home: Option<&Path>,
    remembered: Option<&str>,
) -> anyhow::Result<Option<PathBuf>> {
    let ssh = home.map(|h| h.join(".ssh"));
    let mut keys: Vec<PathBuf> = ssh
        .as_deref()
        .and_then(|d| std::fs::read_dir(d).ok())
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pub"))
        .collect();
    keys.sort();
    let mut items: Vec<(String, String)> = keys
        .iter()
        .map(|k| {
            let text = std::fs::read_to_string(k).unwrap_or_default();
            let mut words = text.split_whitespace();
            let kind = words.next().unwrap_or("?").to_string();
            let comment = words.nth(1).unwrap_or("").to_string();
            (
                k.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default(),
                format!("{kind} {comment}").trim().to_string(),
            )
        })
        .collect();
    items.push(("generate".into(), "a new ed25519 key pair in ~/.ssh".into()));
    items.push(("none".into(), "no key".into()));
    let default = remembered
        .and_then(|m| keys.iter().position(|k| k.to_string_lossy() == m))
        .or(if keys.is_empty() { Some(items.len() - 2) } else { Some(0) });
    let i = pick(ui, "SSH key for the user", &items, default)?;
    if let Some(k) = keys.get(i) {
        return Ok(Some(k.clone()));
    }
    if items[i].0 == "none" {
        return Ok(None);
    }
    let Some(ssh) = ssh else {
        return Err(WizardError::Nothing("no HOME, so no ~/.ssh to put a new key in".into()).into());
    };
    generate_key(ui, &ssh).map(Some)
}

/// A new key pair by OpenSSH's ssh-keygen, which asks for the passphrase itself, so it never
/// passes through proxctl.
fn generate_key(ui: &mut dyn Ui, ssh: &Path) -> anyhow::Result<PathBuf> {
    let path = (0..100)
        .map(|n| {
            ssh.join(if n == 0 {
                "id_ed25519_proxctl".into()
            } else {
                format!("id_ed25519_proxctl_{n}")
            })
        })
        .find(|p| !p.exists() && !p.with_extension("pub").exists())
        .ok_or_else(|| {
            WizardError::Nothing(format!("{} has no free id_ed25519_proxctl name", ssh.display()))
        })?;
    std::fs::create_dir_all(ssh)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(ssh, std::fs::Permissions::from_mode(0o700))?;
    }
    let passphrase =
        yes(ui, "Protect the new key with a passphrase (ssh-keygen asks for it)?", true)?;
    let mut cmd = std::process::Command::new("ssh-keygen");
    cmd.args(["-q", "-t", "ed25519", "-C", "proxctl", "-f"]).arg(&path);
    if !passphrase {
        // An empty passphrase is no secret; a real one is typed into ssh-keygen, not here.
        cmd.args(["-N", ""]);
    }
    let status = cmd.status().map_err(|e| {
        WizardError::Nothing(format!(
            "cannot run ssh-keygen ({e}); install OpenSSH's client, or pick an existing key"
        ))
    })?;
    if !status.success() {
        return Err(
            WizardError::Nothing(format!("ssh-keygen failed ({status}); no key was made")).into()
        );
    }
    let public = PathBuf::from(format!("{}.pub", path.display()));
    ui.say(&format!("  made {} (and its private key beside it)", public.display()));
    Ok(public)
}

/// The non-interactive command for the same VM.
fn command_line(name: &str, a: &CreateArgs) -> String {
    let mut w = vec!["proxctl".to_string(), "vm".into(), "create".into(), shell_word(name)];
    let mut flag = |f: &str, v: Option<String>| {
        if let Some(v) = v {
            w.push(format!("--{f}"));
            w.push(shell_word(&v));
        }
    };
    let s = |v: &Option<String>| v.clone();
    flag("from-template", s(&a.from_template));
    flag("image", s(&a.image));
    flag("node", a.node.as_ref().map(ToString::to_string));
    flag("cores", a.cores.map(|c| c.to_string()));
    flag("memory", a.memory.map(|m| m.to_string()));
    flag("disk", a.disk.map(|x| x.to_string()));
    flag("storage", a.storage.as_ref().map(ToString::to_string));
    flag("bridge", s(&a.bridge));
    flag("vlan", a.vlan.map(|v| v.to_string()));
    for n in &a.nets {
        flag("net", Some(n.to_string()));
    }
    flag("cloud-init", s(&a.cloud_init));
    flag("iso-storage", a.iso_storage.as_ref().map(ToString::to_string));
    flag("ci-user", s(&a.ci_user));
    flag("ci-password-from", s(&a.ci_password_from));
    for k in &a.ssh_keys {
        flag("ssh-key", Some(k.display().to_string()));
    }
    flag("user-data", a.user_data.as_ref().map(|p| p.display().to_string()));
    flag("ip", a.ip.map(|x| x.to_string()));
    flag("gateway", a.gateway.map(|x| x.to_string()));
    flag("ip6", a.ip6.map(|x| x.to_string()));
    flag("gateway6", a.gateway6.map(|x| x.to_string()));
    flag("nameserver", s(&a.nameserver));
    flag("searchdomain", s(&a.searchdomain));
    for t in &a.tags {
        flag("tag", Some(t.clone()));
    }
    if a.start {
        w.push("--start".into());
    }
    if a.wait_cloud_init {
        w.push("--wait-cloud-init".into());
    }
    w.join(" ")
}

/// Remember what is worth offering again (not the name or the address: those are per VM).
fn remember(m: &mut Memory, a: &CreateArgs) {
    m.set("template", a.from_template.clone().unwrap_or_else(|| "empty".into()));
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            m.set(k, v);
        }
    };
    put("node", a.node.as_ref().map(ToString::to_string));
    put("cores", a.cores.map(|c| c.to_string()));
    put("memory", a.memory.map(|c| c.to_string()));
    put("disk", a.disk.map(|c| c.to_string()));
    put("storage", a.storage.as_ref().map(ToString::to_string));
    put("bridge", a.bridge.clone());
    put("vlan", Some(a.vlan.map(|v| v.to_string()).unwrap_or_default()));
    put("cloud_init", a.cloud_init.clone());
    put("iso_storage", a.iso_storage.as_ref().map(ToString::to_string));
    put("ci_user", a.ci_user.clone());
    put("ssh_key", a.ssh_keys.first().map(|k| k.to_string_lossy().into_owned()));
    put("nameserver", a.nameserver.clone());
    put("start", Some(a.start.to_string()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preview_command_names_every_answer_and_quotes_what_needs_it() {
        let a = CreateArgs {
            from_template: Some("debian-12".into()),
            node: Some(proxctl_types::NodeName::new("pve1").unwrap()),
            cores: Some(2),
            memory: Some(2048),
            bridge: Some("vmbr0".into()),
            vlan: Some(10),
            cloud_init: Some("native".into()),
            ci_user: Some("debian".into()),
            ssh_keys: vec!["/home/me/my keys/id.pub".into()],
            ip: Some("10.0.0.5/24".parse().unwrap()),
            gateway: Some("10.0.0.1".parse().unwrap()),
            start: true,
            ..CreateArgs::default()
        };
        assert_eq!(
            command_line("web-1", &a),
            "proxctl vm create web-1 --from-template debian-12 --node pve1 --cores 2 --memory 2048 \
             --bridge vmbr0 --vlan 10 --cloud-init native --ci-user debian \
             --ssh-key '/home/me/my keys/id.pub' --ip 10.0.0.5/24 --gateway 10.0.0.1 --start"
        );
    }
}
