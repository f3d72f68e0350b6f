//! `proxctl image fetch|verify|prune` (the local, verified image cache) and `proxctl template
//! build|rebuild|list|delete` (versioned templates from those images).

use std::io::IsTerminal;

use proxctl_images::cache::{Cache, Progress};

use crate::cmd::confirm;
use crate::exit::UserError;
use crate::settings::Resolved;

fn cache() -> anyhow::Result<Cache> {
    let root = Cache::default_root(&|k| std::env::var(k).ok()).ok_or_else(|| {
        UserError("no home directory for the image cache; set XDG_CACHE_HOME".into())
    })?;
    Ok(Cache::new(root))
}

pub async fn fetch(r: &Resolved, source: &str, sha256: Option<&str>) -> anyhow::Result<()> {
    let catalog = proxctl_ops::image::catalog(&|k| std::env::var(k).ok())?;
    let cache = cache()?;
    let bar = if std::io::stderr().is_terminal() {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{bytes}/{total_bytes} {wide_bar} {bytes_per_sec} ETA {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(b)
    } else {
        None
    };
    let shown = std::sync::Mutex::new(0u64);
    let progress = |p: Progress| {
        if let Some(b) = &bar {
            if let Some(t) = p.total {
                b.set_length(t);
            }
            b.set_position(p.done);
        } else if let Ok(mut last) = shown.lock() {
            // Without a terminal, one line per 10 %: logs stay readable.
            let pct = p.total.filter(|t| *t > 0).map_or(0, |t| p.done * 100 / t);
            if pct >= *last + 10 {
                *last = pct - pct % 10;
                let eta = p.eta_secs.map(|s| format!(", ETA {s}s")).unwrap_or_default();
                eprintln!("  {pct}% ({} MiB{eta})", p.done >> 20);
            }
        }
    };
    let got = proxctl_ops::image::fetch(&catalog, &cache, source, sha256, &progress).await?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let how = match (got.downloaded, got.resumed_from) {
        (false, _) => "already cached".to_string(),
        (true, 0) => "downloaded and verified".to_string(),
        (true, n) => format!("resumed at {} MiB, downloaded and verified", n >> 20),
    };
    if r.output == proxctl_ops::output::Format::Json {
        outln!("{}", serde_json::to_string_pretty(&got)?);
    } else {
        outln!("{}: {how}", got.path.display());
        outln!(
            "  {:?} {}  {} bytes  from {}",
            got.record.algorithm,
            got.record.hash,
            got.record.size,
            got.record.url
        );
    }
    Ok(())
}

pub async fn verify() -> anyhow::Result<()> {
    let results = cache()?.verify().await.map_err(proxctl_ops::OpsError::from)?;
    let bad: Vec<_> = results.iter().filter(|(_, ok)| !ok).collect();
    for (rec, ok) in &results {
        outln!("{}  {}  {}", if *ok { "ok " } else { "BAD" }, rec.hash, rec.url);
    }
    if !bad.is_empty() {
        return Err(anyhow::anyhow!(
            "{} cached image(s) no longer match their checksum; run `proxctl image prune` and fetch them again",
            bad.len()
        ));
    }
    outln!("{} cached image(s) verified", results.len());
    Ok(())
}

pub async fn prune(r: &Resolved) -> anyhow::Result<()> {
    let cache = cache()?;
    confirm(r, &format!("delete every image in {}", cache.root().display()))?;
    let freed = cache.prune(&[]).await.map_err(proxctl_ops::OpsError::from)?;
    outln!("freed {} MiB", freed >> 20);
    Ok(())
}

fn build_spec(
    r: &Resolved,
    a: crate::flags::TemplateSource,
) -> anyhow::Result<proxctl_ops::template::BuildSpec> {
    let source = proxctl_ops::template_source::Source {
        entry: a.entry,
        image_url: a.image_url,
        checksum_url: a.checksum_url,
        checksum_format: a.checksum_format,
        name: a.name,
        node: a.node,
        storage: a.storage,
        vm_storage: a.vm_storage,
        via: a.via,
        disk_size: a.disk_size,
        keep: a.keep,
        image_file: a.image_file,
        sha256: a.sha256,
        bios: a.bios,
        machine: a.machine,
        ostype: a.ostype,
        cpu: a.cpu,
        agent: a.no_agent.then_some(false),
        vmid_from: Some(a.vmid_from),
    };
    let defaults = proxctl_ops::template_source::Defaults {
        node: r.node_default().and_then(|n| proxctl_types::NodeName::new(n).ok()),
        bridge: r.bridge.clone(),
    };
    Ok(source.into_spec(&defaults, &|k| std::env::var(k).ok())?)
}

pub async fn template(
    r: &Resolved,
    client: &proxctl_client::Client,
    c: crate::flags::TemplateCommand,
) -> anyhow::Result<()> {
    use crate::flags::TemplateCommand as T;
    let progress = |m: &str| eprintln!("  {m}");
    match c {
        T::Build(a) => {
            let spec = build_spec(r, ask_if_missing(r, client, a).await?)?;
            let b = proxctl_ops::template::build(client, &spec, &progress).await?;
            report(r, &b)
        }
        T::Rebuild(a) => {
            let spec = build_spec(r, ask_if_missing(r, client, a).await?)?;
            let b = proxctl_ops::template::rebuild(client, &spec, &progress).await?;
            report(r, &b)
        }
        T::List { name } => {
            let v = proxctl_ops::template::versions(client, name.as_deref()).await?;
            out!("{}", proxctl_ops::output::render(&v, r.output)?);
            Ok(())
        }
        T::Rollback { name, to, latest } => {
            let v = if latest {
                proxctl_ops::template::unpin(client, &name).await?
            } else {
                proxctl_ops::template::rollback(client, &name, to.as_deref()).await?
            };
            outln!("{name} now means {}@{} (VMID {})", v.name, v.version, v.vmid);
            Ok(())
        }
        T::Delete { which } => {
            let (name, version) = which.split_once('@').ok_or_else(|| {
                UserError(format!("'{which}' is not NAME@VERSION; see `proxctl template list`"))
            })?;
            confirm(r, &format!("delete template {which}"))?;
            let vmid = proxctl_ops::template::delete(client, name, version, r.force).await?;
            outln!("deleted {which} (VMID {vmid})");
            Ok(())
        }
    }
}

/// On a terminal, the wizard fills in a build that names no image.
async fn ask_if_missing(
    r: &Resolved,
    client: &proxctl_client::Client,
    a: crate::flags::TemplateSource,
) -> anyhow::Result<crate::flags::TemplateSource> {
    if a.entry.is_none()
        && a.image_url.is_none()
        && a.image_file.is_none()
        && crate::wizard::Terminal::available()
    {
        return crate::wizard::template::run(&mut crate::wizard::Terminal, r, client, a).await;
    }
    Ok(a)
}

fn report(r: &Resolved, b: &proxctl_ops::template::Built) -> anyhow::Result<()> {
    if r.output == proxctl_ops::output::Format::Json {
        outln!("{}", serde_json::to_string_pretty(b)?);
        return Ok(());
    }
    match &b.version {
        None => outln!("unchanged: the newest version already has the upstream image"),
        Some(v) => outln!(
            "built {}@{} (VMID {} on {}, image via {})",
            v.name,
            v.version,
            v.vmid,
            v.node,
            b.via
        ),
    }
    if !b.removed.is_empty() {
        outln!("removed old versions: {:?}", b.removed);
    }
    if !b.kept_for_clones.is_empty() {
        outln!("kept old versions that linked clones use: {:?}", b.kept_for_clones);
    }
    Ok(())
}

pub fn cloudinit(r: &Resolved, c: crate::flags::CloudinitCommand) -> anyhow::Result<()> {
    let crate::flags::CloudinitCommand::Render {
        iso,
        hostname,
        user,
        ssh_keys,
        ip,
        gateway,
        ip6,
        gateway6,
        nameserver,
        searchdomain,
        mac,
        user_data,
    } = c;
    let read = |p: &std::path::Path| {
        std::fs::read_to_string(p)
            .map_err(|e| UserError(format!("cannot read {}: {e}", p.display())))
    };
    let mut keys = Vec::new();
    for p in &ssh_keys {
        keys.extend(read(p)?.lines().filter(|l| !l.trim().is_empty()).map(String::from));
    }
    let user_data = user_data.as_deref().map(read).transpose()?;
    if let Some(u) = &user_data {
        check_user_data(u)?;
    }
    if let Some(a) = ip.as_deref().filter(|a| *a != "dhcp")
        && a.parse::<ipnet::Ipv4Net>().is_err()
    {
        return Err(
            UserError(format!("--ip '{a}' is neither dhcp nor an address with prefix")).into()
        );
    }
    let seed = proxctl_images::nocloud::Seed {
        hostname,
        user,
        ssh_keys: keys,
        ipv4: ip,
        gateway4: gateway,
        ipv6: ip6,
        gateway6,
        nameservers: nameserver,
        search: searchdomain,
        mac,
        user_data,
    };
    if let Some(path) = &iso {
        std::fs::write(path, seed.iso())
            .map_err(|e| UserError(format!("cannot write {}: {e}", path.display())))?;
        eprintln!("wrote {} (instance-id {})", path.display(), seed.instance_id());
    }
    if r.output == proxctl_ops::output::Format::Json {
        let files: std::collections::BTreeMap<&str, String> = seed.files().into_iter().collect();
        outln!("{}", serde_json::to_string_pretty(&files)?);
    } else if iso.is_none() {
        for (name, content) in seed.files() {
            outln!("--- {name}\n{content}");
        }
    }
    Ok(())
}

/// A user's `--user-data` file, checked before anything is built from it.
pub(crate) fn check_user_data(text: &str) -> anyhow::Result<()> {
    proxctl_images::nocloud::parse_user_data(text)
        .map(drop)
        .map_err(|e| UserError(format!("--user-data: {}", e.reason())).into())
}
