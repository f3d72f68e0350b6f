//! `proxctl vm|ct …` and `proxctl describe …`: parse, confirm, call the operations layer, wait.

use anyhow::Context;
use proxctl_client::{Client, PowerAction, Started};
use proxctl_ops::guest::{self, GuestRef, expect_kind, is_destructive};
use proxctl_ops::output::{Format, to_yaml};
use proxctl_ops::vm::{self, CreateSpec};
use proxctl_types::config::QemuConfig;
use proxctl_types::messages::GuestKind;
use proxctl_types::prop::Memory;
use proxctl_types::wire::DiskSize;

use crate::cmd::{confirm, wait};
use crate::exit::UserError;
use crate::flags::{
    CreateArgs, CtCommand, DescribeArgs, DescribeKind, PowerVerb, SetArgs, VmCommand,
};
use crate::settings::Resolved;

async fn find(client: &Client, target: &str, kind: GuestKind) -> anyhow::Result<GuestRef> {
    let g = guest::resolve_guest(client, target).await?;
    expect_kind(&g, kind)?;
    Ok(g)
}

pub async fn run_vm(r: &Resolved, client: &Client, c: VmCommand) -> anyhow::Result<()> {
    match c {
        VmCommand::Power(v) => power(r, client, GuestKind::Qemu, v).await,
        VmCommand::Reset(t) => {
            let g = find(client, &t.target, GuestKind::Qemu).await?;
            act(r, client, &g, PowerAction::Reset).await
        }
        VmCommand::Create(a) => create(r, client, a).await,
        VmCommand::Clone { source, name, vmid, full, linked, node } => {
            let src = guest::resolve_guest(client, &source).await?;
            let mode = if full {
                Some(true)
            } else if linked {
                Some(false)
            } else {
                None
            };
            let (newid, started) =
                vm::clone(client, Some(&r.state), &src, &name, vmid, mode, node).await?;
            match started {
                Started::Task(u) => {
                    wait(r, client, &u, &format!("clone {} as {name} ({newid})", src.label())).await
                }
                Started::AlreadyDone => {
                    outln!("{name} ({newid}) already exists as asked");
                    Ok(())
                }
            }
        }
        VmCommand::Resize { target, disk, size } => {
            let g = find(client, &target, GuestKind::Qemu).await?;
            match vm::resize(client, &g, disk, size).await? {
                Some(u) => {
                    wait(r, client, &u, &format!("resize {disk} of {} to {size}", g.label())).await
                }
                None => {
                    outln!("resize {disk} of {}: done", g.label());
                    Ok(())
                }
            }
        }
        VmCommand::Set(a) => set(client, a).await,
        VmCommand::Migrate { target, to, online, with_local_disks } => {
            let g = find(client, &target, GuestKind::Qemu).await?;
            let u =
                proxctl_ops::migrate::migrate(client, &g, &to, online, with_local_disks).await?;
            wait(r, client, &u, &format!("migrate {} to {to}", g.label())).await
        }
    }
}

pub async fn run_ct(r: &Resolved, client: &Client, c: CtCommand) -> anyhow::Result<()> {
    match c {
        CtCommand::Power(v) => power(r, client, GuestKind::Lxc, v).await,
        CtCommand::Create(a) => {
            let settings = client.settings();
            let password = match std::env::var("PROXCTL_CT_PASSWORD").ok().filter(|p| !p.is_empty())
            {
                Some(p) => Some(proxctl_types::secret::Secret::new(p)),
                None if a.ssh_keys.is_none()
                    && std::io::IsTerminal::is_terminal(&std::io::stdin()) =>
                {
                    Some(proxctl_client::auth::prompt_secret(&format!(
                        "root password for {}",
                        a.hostname
                    ))?)
                }
                None => None,
            };
            let keys = match &a.ssh_keys {
                Some(p) => Some(
                    std::fs::read_to_string(p)
                        .with_context(|| format!("reading --ssh-keys {}", p.display()))?,
                ),
                None => None,
            };
            let spec = proxctl_ops::ct::CtSpec {
                hostname: a.hostname.clone(),
                vmid: a.vmid,
                node: a.node.or(parse_opt(&settings.default_node, "node")?),
                template: a.template,
                storage: a.storage.or(parse_opt(&settings.default_storage, "storage")?),
                disk_gib: a.disk,
                memory_mib: a.memory,
                cores: a.cores,
                bridge: a.bridge.or_else(|| r.bridge.clone()),
                ip: a.ip,
                gateway: a.gateway,
                password,
                ssh_public_keys: keys,
                unprivileged: !a.privileged,
                start: a.start,
            };
            let made = proxctl_ops::ct::create(client, Some(&r.state), &spec).await?;
            for c in &made.chosen {
                outln!("chose {c}");
            }
            let label = format!("create {} ({} on {})", a.hostname, made.vmid, made.node);
            wait(r, client, &made.upid, &label).await
        }
        CtCommand::Clone { source, hostname, vmid, full } => {
            let src = guest::resolve_guest(client, &source).await?;
            let (newid, upid) = proxctl_ops::ct::clone(
                client,
                Some(&r.state),
                &src,
                &hostname,
                vmid,
                full.then_some(true),
            )
            .await?;
            wait(r, client, &upid, &format!("clone {} as {hostname} ({newid})", src.label())).await
        }
        CtCommand::Resize { target, disk, size } => {
            let g = find(client, &target, GuestKind::Lxc).await?;
            let upid = proxctl_ops::ct::resize(client, &g, &disk, size).await?;
            wait(r, client, &upid, &format!("resize {disk} of {} to {size}", g.label())).await
        }
        CtCommand::Set(a) => {
            let g = find(client, &a.target, GuestKind::Lxc).await?;
            let changes = proxctl_types::config::LxcConfig {
                cores: a.cores,
                memory: a.memory,
                description: a.description,
                tags: (!a.tags.is_empty()).then_some(a.tags),
                onboot: a.onboot,
                ..Default::default()
            };
            proxctl_ops::ct::set(client, &g, changes, a.delete).await?;
            outln!("set {}: done", g.label());
            Ok(())
        }
    }
}

pub(crate) fn parse_opt<T: std::str::FromStr>(
    v: &Option<String>,
    what: &str,
) -> anyhow::Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    match v {
        Some(s) => {
            let parsed = s.parse::<T>().map_err(|e| {
                UserError(format!("{what} '{s}' from the profile/environment: {e}"))
            })?;
            Ok(Some(parsed))
        }
        None => Ok(None),
    }
}

async fn power(r: &Resolved, client: &Client, kind: GuestKind, v: PowerVerb) -> anyhow::Result<()> {
    let (target, action) = match v {
        PowerVerb::Start(t) => (t.target, PowerAction::Start { timeout: None }),
        PowerVerb::Stop(t) => (t.target, PowerAction::Stop { timeout: None }),
        PowerVerb::Shutdown(t) => {
            (t.target, PowerAction::Shutdown { timeout: None, force_stop: false })
        }
        PowerVerb::Reboot(t) => (t.target, PowerAction::Reboot { timeout: None }),
        PowerVerb::Suspend(t) => (t.target, PowerAction::Suspend { todisk: false }),
        PowerVerb::Resume(t) => (t.target, PowerAction::Resume),
        PowerVerb::Delete { target, purge } => {
            let g = find(client, &target, kind).await?;
            let running = guest::is_running(client, &g).await?;
            let what = if running {
                format!("delete {}, which is running and will be stopped first", g.label())
            } else {
                format!("delete {}", g.label())
            };
            confirm(r, &what)?;
            // Under --dry-run the client answers the first call that would change anything
            // (the stop, or the delete) with what it would send.
            let done = guest::destroy(client, &g, purge).await?;
            if done.stopped {
                outln!("stopped {}", g.label());
            }
            outln!("deleted {}", g.label());
            if let Some(seed) = done.seed {
                outln!("deleted its cloud-init seed {seed}");
            }
            return Ok(());
        }
        PowerVerb::Console { target, spice } => {
            let g = find(client, &target, kind).await?;
            match spice {
                Some(path) => {
                    let text = vm::spice_file(client, &g).await?;
                    write_private(&path, &text)?;
                    outln!(
                        "wrote {} (open it with remote-viewer; it is valid for about 40 s)",
                        path.display()
                    );
                }
                None => outln!("{}", vm::console_url(&client.settings().url, &g)),
            }
            return Ok(());
        }
    };
    let g = find(client, &target, kind).await?;
    act(r, client, &g, action).await
}

async fn act(
    r: &Resolved,
    client: &Client,
    g: &GuestRef,
    action: PowerAction,
) -> anyhow::Result<()> {
    let what = format!("{} {}", action.verb(), g.label());
    if is_destructive(&action) {
        confirm(r, &what)?;
    }
    let upid = guest::power(client, g, &action).await?;
    wait(r, client, &upid, &what).await?;
    // An HA-managed guest's start or stop only asked the HA manager, which acts on its own
    // cycle: wait for the guest itself, so "done" means done.
    if guest::ha_request(&upid).is_some() && r.wait {
        outln!("{what}: asked PVE's HA manager; waiting for it to act");
        guest::settle_ha(client, g, &upid, r.timeout).await?;
        outln!("{what}: the HA manager did it");
    }
    Ok(())
}

/// The NICs asked for: `--net`s, else one on `--bridge` (or the profile's, or vmbr0) with
/// `--vlan`.
fn nics_of(r: &Resolved, a: &CreateArgs) -> Vec<proxctl_ops::nic::NicRequest> {
    if !a.nets.is_empty() {
        return a.nets.clone();
    }
    let bridge = a.bridge.clone().or_else(|| r.bridge.clone()).unwrap_or_else(|| "vmbr0".into());
    vec![proxctl_ops::nic::NicRequest::on(bridge, a.vlan)]
}

/// What `vm create --from-template` asks the engine for, without the password (read only when
/// the VM is really made). The wizard shows its manifest as the preview.
pub(crate) fn template_request(
    r: &Resolved,
    name: &str,
    a: &CreateArgs,
) -> anyhow::Result<proxctl_engine::imperative::VmRequest> {
    let mode = a.cloud_init.clone().unwrap_or_else(|| "native".into());
    if mode != "native" && mode != "iso" {
        return Err(UserError(format!("--cloud-init must be native or iso, not '{mode}'")).into());
    }
    let mut keys = Vec::new();
    for p in &a.ssh_keys {
        let text = std::fs::read_to_string(p)
            .map_err(|e| UserError(format!("cannot read {}: {e}", p.display())))?;
        keys.extend(text.lines().filter(|l| !l.trim().is_empty()).map(String::from));
    }
    let user_data = match &a.user_data {
        None => None,
        Some(_) if mode != "iso" => {
            return Err(UserError(
                "--user-data needs --cloud-init iso (PVE's native drive takes no user-data)".into(),
            )
            .into());
        }
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| UserError(format!("cannot read {}: {e}", p.display())))?;
            crate::cmd::image::check_user_data(&text)?;
            Some(text)
        }
    };
    let ip = proxctl_engine::manifest::IpSpec {
        address: Some(a.ip.map_or_else(|| "dhcp".to_string(), |n| n.to_string())),
        gateway: a.gateway.map(|g| g.to_string()),
        pool: None,
        address6: a.ip6.map(|n| n.to_string()),
        gateway6: a.gateway6.map(|g| g.to_string()),
    };
    Ok(proxctl_engine::imperative::VmRequest {
        name: name.to_string(),
        template: a.from_template.clone().unwrap_or_default(),
        node: a
            .node
            .as_ref()
            .map(ToString::to_string)
            .or_else(|| r.node_default().map(String::from)),
        cores: Some(a.cores.unwrap_or(vm::DEFAULT_CORES)),
        memory: Some(a.memory.unwrap_or(vm::DEFAULT_MEMORY_MIB)),
        disk: Some(a.disk.unwrap_or_else(|| DiskSize::gib(vm::DEFAULT_DISK_GIB)).to_string()),
        nics: nics_of(r, a)
            .into_iter()
            .map(|n| proxctl_engine::manifest::NicSpec {
                bridge: n.bridge,
                vlan: n.vlan,
                model: n.model,
                firewall: n.firewall,
            })
            .collect(),
        tags: a.tags.clone(),
        start: a.start,
        cloud_init: proxctl_engine::manifest::CloudInitSpec {
            mode: Some(mode),
            iso_storage: a.iso_storage.as_ref().map(ToString::to_string),
            user: a.ci_user.clone(),
            ssh_keys: keys,
            ip: [("net0".to_string(), ip)].into(),
            nameserver: a.nameserver.clone(),
            searchdomain: a.searchdomain.clone(),
            user_data,
        },
        password: None,
    })
}

/// `vm create --from-template`: the command line as a one-resource manifest, applied by the
/// engine, then optionally a password and a wait for cloud-init.
async fn create_from_template(
    r: &Resolved,
    client: &Client,
    name: String,
    a: CreateArgs,
) -> anyhow::Result<()> {
    let mut req = template_request(r, &name, &a)?;
    req.password = a
        .ci_password_from
        .as_deref()
        .map(|spec| {
            crate::settings::load_secret(
                spec,
                &format!("--ci-password-from (cloud-init password of {name})"),
            )
        })
        .transpose()?;
    if r.dry_run {
        out!("{}", proxctl_engine::imperative::manifest(&req)?);
        return Ok(());
    }
    let store = std::sync::Arc::clone(r.state.get().await?);
    let mut opts = proxctl_engine::ApplyOptions::new(r.actor());
    opts.progress = Some(std::sync::Arc::new(|key: &str, msg: &str| eprintln!("  {key}: {msg}")));
    let made = proxctl_engine::imperative::create_vm(client, store, &req, &opts).await?;
    outln!("created {name} (VMID {} on {}) from {}", made.vmid, made.node, req.template);
    if a.wait_cloud_init {
        eprintln!("  waiting for cloud-init in {name}");
        let s = proxctl_ops::vm::wait_cloud_init(client, &made.node, made.vmid, r.timeout).await?;
        outln!("cloud-init in {name}: {}", s.status);
    }
    Ok(())
}

async fn create(r: &Resolved, client: &Client, mut a: CreateArgs) -> anyhow::Result<()> {
    let missing_source = a.from_template.is_none() && a.image.is_none();
    if (a.name_arg.is_none() && a.name.is_none() || missing_source)
        && crate::wizard::Terminal::available()
    {
        a = crate::wizard::vm::run(&mut crate::wizard::Terminal, r, client, a).await?;
    }
    let Some(name) = a.name_arg.take().or_else(|| a.name.take()) else {
        return Err(UserError(
            "vm create needs a NAME (on a terminal, the wizard asks for everything)".into(),
        )
        .into());
    };
    if a.from_template.is_some() {
        return create_from_template(r, client, name, a).await;
    }
    let settings = client.settings();
    let nics = nics_of(r, &a);
    let spec = CreateSpec {
        name,
        vmid: a.vmid,
        node: a.node.or(parse_opt(&settings.default_node, "node")?),
        cores: a.cores.unwrap_or(vm::DEFAULT_CORES),
        memory_mib: a.memory.unwrap_or(vm::DEFAULT_MEMORY_MIB),
        storage: a.storage.or(parse_opt(&settings.default_storage, "storage")?),
        disk: a.disk.unwrap_or_else(|| DiskSize::gib(vm::DEFAULT_DISK_GIB)),
        image: a.image,
        nics,
        ip: a.ip,
        gateway: a.gateway,
        ip6: a.ip6,
        gateway6: a.gateway6,
        tags: a.tags,
        start: a.start,
    };
    let mut plan = vm::plan_create(client, &spec).await?;
    for c in &plan.chosen {
        outln!("chose {c}");
    }
    for w in &plan.warnings {
        eprintln!("warning: {w}");
    }
    let started = vm::create(client, Some(&r.state), &mut plan).await?;
    let label = format!("create {} ({} on {})", spec.name, plan.vmid, plan.node);
    match started {
        Started::Task(u) => wait(r, client, &u, &label).await?,
        Started::AlreadyDone => outln!("{label}: already exists as asked"),
    }
    if spec.image.is_some()
        && r.wait
        && let Some(u) = vm::grow_boot_disk(client, &plan, spec.disk).await?
    {
        wait(r, client, &u, &format!("grow disk of {} to {}", spec.name, spec.disk)).await?;
    }
    if spec.start && r.wait {
        let g = GuestRef {
            vmid: plan.vmid,
            node: plan.node.clone(),
            kind: GuestKind::Qemu,
            name: Some(spec.name.clone()),
        };
        act(r, client, &g, PowerAction::Start { timeout: None }).await?;
    }
    Ok(())
}

async fn set(client: &Client, a: SetArgs) -> anyhow::Result<()> {
    let g = find(client, &a.target, GuestKind::Qemu).await?;
    let changes = QemuConfig {
        cores: a.cores,
        memory: a.memory.map(Memory::mib),
        description: a.description,
        tags: (!a.tags.is_empty()).then_some(a.tags),
        onboot: a.onboot,
        ..QemuConfig::default()
    };
    vm::set(client, &g, changes, a.delete).await?;
    outln!("set {}: done", g.label());
    Ok(())
}

pub async fn describe(r: &Resolved, client: &Client, a: DescribeArgs) -> anyhow::Result<()> {
    // For people: the curated, sectioned view. `-o json|yaml` keeps the raw data below.
    if !matches!(r.output, Format::Json | Format::Yaml) {
        let d = match a.kind {
            DescribeKind::Node => {
                let node = proxctl_types::NodeName::new(a.name.as_str())
                    .map_err(|e| UserError(e.to_string()))?;
                proxctl_ops::describe::node(client, &node).await?
            }
            DescribeKind::Vm | DescribeKind::Container => {
                let kind =
                    if a.kind == DescribeKind::Vm { GuestKind::Qemu } else { GuestKind::Lxc };
                let g = find(client, &a.name, kind).await?;
                proxctl_ops::describe::guest(client, &g).await?
            }
        };
        out!("{}", d.text());
        return Ok(());
    }
    let doc = match a.kind {
        DescribeKind::Node => {
            let node = proxctl_types::NodeName::new(a.name.as_str())
                .map_err(|e| UserError(e.to_string()))?;
            let status = client.node_status(&node).await?;
            let network = client.node_network(&node, None).await?;
            let storage = client.storage_list(&node, None).await?;
            serde_json::json!({ "node": node, "status": status, "network": network, "storage": storage })
        }
        DescribeKind::Vm | DescribeKind::Container => {
            let kind = if a.kind == DescribeKind::Vm { GuestKind::Qemu } else { GuestKind::Lxc };
            let g = find(client, &a.name, kind).await?;
            let (cfg, status) = match kind {
                GuestKind::Qemu => (
                    client.qemu_config(&g.node, g.vmid).await?,
                    client.qemu_status(&g.node, g.vmid).await?,
                ),
                GuestKind::Lxc => (
                    client.lxc_config(&g.node, g.vmid).await?,
                    client.lxc_status(&g.node, g.vmid).await?,
                ),
            };
            serde_json::json!({ "guest": g, "status": status, "config": cfg })
        }
    };
    match r.output {
        Format::Json => outln!("{}", serde_json::to_string_pretty(&doc)?),
        _ => out!("{}", to_yaml(&doc)?),
    }
    Ok(())
}

/// Console files carry a password: owner-only.
fn write_private(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("restricting {}", path.display()))?;
    }
    Ok(())
}
