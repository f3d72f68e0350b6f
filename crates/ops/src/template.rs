//! Versioned templates built from cloud images through the API alone. A build puts the image
//! into an `import` storage (PVE's download-url when the node can reach the URL, else a
//! streamed upload from the local cache), creates a VM that imports it, adds cloud-init, a
//! serial console, the guest agent and the boot order, resizes the disk, and converts it to a
//! template named `<name>-<version>`. The description carries the name, version, image hash and
//! source, so versions, rebuilds and retention need nothing but PVE.

use std::path::PathBuf;

use proxctl_client::endpoints::qemu::CreateOptions;
use proxctl_client::endpoints::storage::ChecksumAlgorithm;
use proxctl_client::{Client, DeleteOptions, Started, WaitOptions};
use proxctl_images::catalog::{Catalog, DiskBus, Entry, Firmware};
use proxctl_images::checksum::Algorithm;
use proxctl_types::config::QemuConfig;
use proxctl_types::prop::{Agent, Drive, DriveSlot, Media, NetDevice, NetModel, Serial};
use proxctl_types::wire::{DiskSize, ResizeTo};
use proxctl_types::{NodeName, StorageId, VmId};
use serde::Serialize;

use crate::OpsError;
use crate::output::Tabular;

pub const TEMPLATE_TAG: &str = "proxctl-template";

/// The tag that pins one version as what the stable name means (set by `rollback`).
pub const PINNED_TAG: &str = "tpl-pinned";

/// How the image reaches the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// download-url first; upload from the local cache if the node cannot fetch it.
    Auto,
    DownloadUrl,
    Upload,
}

impl std::str::FromStr for Via {
    type Err = OpsError;
    fn from_str(s: &str) -> Result<Self, OpsError> {
        match s {
            "auto" => Ok(Via::Auto),
            "download-url" => Ok(Via::DownloadUrl),
            "upload" => Ok(Via::Upload),
            _ => Err(OpsError::Invalid(format!(
                "--via must be auto, download-url or upload, not '{s}'"
            ))),
        }
    }
}

#[derive(Debug, Clone)]
pub struct BuildSpec {
    /// A catalog entry (a URL source is turned into one by the caller).
    pub entry: Entry,
    /// The stable name; default the entry's id.
    pub name: String,
    pub node: NodeName,
    /// Storage with `import` content, for the image.
    pub import_storage: StorageId,
    /// Storage for the template's disks.
    pub vm_storage: StorageId,
    pub bridge: String,
    pub via: Via,
    /// Override the entry's recommended disk size.
    pub disk_size: Option<DiskSize>,
    /// Versions to keep after this build (older ones are deleted unless clones use them).
    pub keep: usize,
    /// Hash the caller already knows (skips reading the checksum file).
    pub expected: Option<(Algorithm, String)>,
    pub cache_root: PathBuf,
    /// Use this VMID (decided by a plan) instead of asking `nextid`.
    pub vmid: Option<VmId>,
    /// Without `vmid`: the lowest VMID a new version may take (templates live apart from
    /// ordinary guests; default [`proxctl_types::ids::TEMPLATE_VMID_FLOOR`]).
    pub vmid_floor: u32,
    /// A local image file instead of the entry's URL (uploaded, hashed as it is sent unless
    /// `expected` gives the hash).
    pub local: Option<PathBuf>,
    /// Hardware the entry does not decide: machine type (`q35`, `pc`) and CPU type.
    pub machine: Option<String>,
    pub cpu: Option<String>,
}

/// One template version, read back from PVE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Version {
    pub name: String,
    pub version: String,
    pub vmid: u32,
    pub node: String,
    pub hash: String,
    pub source: String,
    pub catalog: Option<String>,
    pub built: String,
    /// The version the name points at: pinned by rollback, else the newest.
    pub current: bool,
    pub pinned: bool,
}

impl Tabular for Version {
    fn headers(wide: bool) -> Vec<&'static str> {
        let mut h = vec!["NAME", "VERSION", "VMID", "NODE", "IMAGE", "CURRENT"];
        if wide {
            h.extend(["BUILT", "SOURCE"]);
        }
        h
    }
    fn cells(&self, wide: bool) -> Vec<String> {
        let mut c = vec![
            self.name.clone(),
            self.version.clone(),
            self.vmid.to_string(),
            self.node.clone(),
            self.hash.chars().take(12).collect(),
            match (self.current, self.pinned) {
                (true, true) => "yes (pinned)".into(),
                (true, false) => "yes".into(),
                _ => String::new(),
            },
        ];
        if wide {
            c.extend([self.built.clone(), self.source.clone()]);
        }
        c
    }
}

fn line<'a>(desc: &'a str, key: &str) -> Option<&'a str> {
    let prefix = format!("proxctl:{key}=");
    desc.lines().find_map(|l| l.trim().strip_prefix(prefix.as_str())).map(str::trim)
}

/// A template version's name, version and build time (RFC 3339), from the description
/// proxctl wrote on it; `None` for any other guest.
pub fn described(desc: &str) -> Option<(String, String, String)> {
    let (n, v) = (line(desc, "template")?, line(desc, "version")?);
    Some((n.to_string(), v.to_string(), line(desc, "built").unwrap_or("").to_string()))
}

/// Every template version proxctl built, newest last within each name.
pub async fn versions(client: &Client, name: Option<&str>) -> Result<Vec<Version>, OpsError> {
    let mut out = Vec::new();
    for g in crate::views::guests(client, None, true).await? {
        if !g.template || !g.tags.iter().any(|t| t == TEMPLATE_TAG) {
            continue;
        }
        let (Ok(node), Ok(vmid)) = (NodeName::new(g.node.as_str()), VmId::new(g.vmid)) else {
            continue;
        };
        let cfg = client.qemu_config(&node, vmid).await?;
        let desc = cfg.get("description").and_then(|d| d.as_str()).unwrap_or("");
        let (Some(n), Some(v)) = (line(desc, "template"), line(desc, "version")) else { continue };
        if name.is_some_and(|want| want != n) {
            continue;
        }
        out.push(Version {
            name: n.to_string(),
            version: v.to_string(),
            vmid: g.vmid,
            node: g.node.clone(),
            hash: line(desc, "sha256").or_else(|| line(desc, "sha512")).unwrap_or("").to_string(),
            source: line(desc, "source").unwrap_or("").to_string(),
            catalog: line(desc, "catalog").map(String::from),
            built: line(desc, "built").unwrap_or("").to_string(),
            current: false,
            pinned: g.tags.iter().any(|t| t == PINNED_TAG),
        });
    }
    out.sort_by(|a, b| {
        (a.name.as_str(), a.version.as_str()).cmp(&(b.name.as_str(), b.version.as_str()))
    });
    // Per name: the pinned version if any, else the newest.
    let names: Vec<String> = out.iter().map(|v| v.name.clone()).collect();
    for n in names {
        let idx: Vec<usize> = (0..out.len()).filter(|i| out[*i].name == n).collect();
        let cur = idx.iter().copied().find(|i| out[*i].pinned).or(idx.last().copied());
        if let Some(i) = cur {
            out[i].current = true;
        }
    }
    Ok(out)
}

/// The outcome of a build or rebuild.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct Built {
    /// `None` when the upstream image had not changed (rebuild).
    pub version: Option<Version>,
    /// How the image reached the node: `download-url`, `upload` or `reused`.
    pub via: String,
    pub removed: Vec<u32>,
    pub kept_for_clones: Vec<u32>,
}

pub(crate) async fn wait(client: &Client, u: proxctl_types::Upid) -> Result<(), OpsError> {
    client.wait_task(&u, &WaitOptions::default()).await?;
    Ok(())
}

pub(crate) fn pve_alg(a: Algorithm) -> ChecksumAlgorithm {
    match a {
        Algorithm::Sha256 => ChecksumAlgorithm::Sha256,
        Algorithm::Sha512 => ChecksumAlgorithm::Sha512,
    }
}

/// Build a new version of a template.
pub async fn build(
    client: &Client,
    spec: &BuildSpec,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<Built, OpsError> {
    let e = &spec.entry;
    // PVE imports qcow2 and raw as they are; proxctl unpacks xz itself, so those images go
    // through the local cache and are uploaded unpacked.
    let unpack = match e.compression.as_deref() {
        None => false,
        Some("xz") => true,
        Some(c) => {
            return Err(OpsError::Invalid(format!(
                "{} is published {c}-compressed, which PVE cannot import and proxctl cannot unpack yet \
                 (it unpacks xz); add an uncompressed mirror of it to your catalog",
                e.id
            )));
        }
    };
    if unpack && spec.via == Via::DownloadUrl {
        return Err(OpsError::Invalid(format!(
            "{} is xz-compressed and PVE's download-url cannot unpack xz into import content; \
             use --via upload (or auto), which unpacks it from the local cache",
            e.id
        )));
    }
    // The import content type arrived in PVE 8.4; without it nothing below can work.
    let storages = client.storage_list(&spec.node, None).await?;
    let st =
        storages.iter().find(|s| s.storage == spec.import_storage.as_str()).ok_or_else(|| {
            OpsError::Invalid(format!("node {} has no storage {}", spec.node, spec.import_storage))
        })?;
    if !st.content.split(',').any(|c| c.trim() == "import") {
        return Err(OpsError::Invalid(format!(
            "storage {} on {} does not allow 'import' content (PVE 8.4 or later is needed): enable it with \
             `pvesm set {} --content {},import`, or pass --storage for one that does",
            spec.import_storage, spec.node, spec.import_storage, st.content
        )));
    }
    let staged = match &spec.local {
        Some(path) => crate::template_image::stage_local(client, spec, path, progress).await?,
        None => crate::template_image::stage_remote(client, spec, unpack, progress).await?,
    };
    let crate::template_image::Staged { volid, alg, hash, source, via } = staged;

    // A version per build day; a second build the same day gets a suffix.
    let existing = versions(client, Some(&spec.name)).await?;
    let day = jiff::Zoned::now().strftime("%Y%m%d").to_string();
    let mut version = day.clone();
    let mut n = 2;
    while existing.iter().any(|v| v.version == version) {
        version = format!("{day}-{n}");
        n += 1;
    }
    let built = jiff::Timestamp::now().to_string();
    let alg_key = if alg == Algorithm::Sha512 { "sha512" } else { "sha256" };
    let mut description = vec![
        format!("{} {} ({}), built by proxctl", e.distro, e.version, e.arch),
        format!("proxctl:template={}", spec.name),
        format!("proxctl:version={version}"),
        format!("proxctl:{alg_key}={hash}"),
        format!("proxctl:source={source}"),
        format!("proxctl:built={built}"),
    ];
    if !e.id.is_empty() && spec.local.is_none() && e.distro != "custom" {
        description.push(format!("proxctl:catalog={}", e.id));
    }
    // proxctl's from the create call, so safe mode lets the build's own next steps through.
    description.push(proxctl_types::managed::MANAGED_LINE.to_string());
    let mut cfg = QemuConfig {
        name: Some(format!("{}-{version}", spec.name)),
        description: Some(description.join("\n")),
        tags: Some(vec![TEMPLATE_TAG.into(), format!("tpl-{}", spec.name)]),
        ostype: Some(e.os_type.clone()),
        scsihw: Some("virtio-scsi-single".into()),
        cores: Some(2),
        memory: Some(proxctl_types::prop::Memory::mib(2048)),
        agent: e.guest_agent.then(Agent::enabled),
        ..QemuConfig::default()
    };
    let boot_slot =
        if e.disk_bus == DiskBus::Virtio { DriveSlot::Virtio(0) } else { DriveSlot::Scsi(0) };
    let mut disk = Drive::new(format!("{}:0", spec.vm_storage));
    disk.import_from = Some(volid.as_str().to_string());
    if boot_slot == DriveSlot::Scsi(0) {
        disk.iothread = Some(true);
    }
    cfg.disks.insert(boot_slot, disk);
    if e.cloud_init {
        let mut ci = Drive::new(format!("{}:cloudinit", spec.vm_storage));
        ci.media = Some(Media::Cdrom);
        cfg.disks.insert(DriveSlot::Ide(2), ci);
    }
    cfg.serial.insert(0, Serial::Socket);
    cfg.vga = "serial0".parse().ok();
    cfg.boot = format!("order={boot_slot}").parse().ok();
    cfg.net.insert(0, NetDevice::new(NetModel::Virtio, spec.bridge.clone()));
    if e.firmware == Firmware::Uefi {
        cfg.bios = Some("ovmf".into());
        cfg.machine = Some("q35".into());
        cfg.efidisk0 = format!("{}:1,efitype=4m,pre-enrolled-keys=0", spec.vm_storage).parse().ok();
    }
    if let Some(m) = &spec.machine {
        cfg.machine = Some(m.clone());
    }
    if let Some(c) = &spec.cpu {
        cfg.cpu = Some(c.parse().map_err(|e| OpsError::Invalid(format!("cpu '{c}': {e}")))?);
    }
    // Templates live apart from ordinary guests, from 9000 up, chosen race-free (another run
    // or tool creating at the same time makes this one take the next VMID, not fail).
    let (vmid, started) =
        crate::vmid::with_new_vmid_from(
            client,
            None,
            spec.vmid,
            &spec.name,
            Some(spec.vmid_floor),
            |v| {
                progress(&format!("creating VM {v} from {volid}"));
                let cfg = &cfg;
                async move {
                    Ok(client.qemu_create(&spec.node, v, cfg, &CreateOptions::default()).await?)
                }
            },
        )
        .await?;
    if let Started::Task(u) = started {
        wait(client, u).await?;
    }
    let size = match spec.disk_size {
        Some(s) => s,
        None => e
            .disk_size
            .parse()
            .map_err(|_| OpsError::Invalid(format!("bad disk size {}", e.disk_size)))?,
    };
    progress(&format!("resizing {boot_slot} to {size}"));
    if let Some(u) =
        client.qemu_resize(&spec.node, vmid, boot_slot, ResizeTo::Absolute(size), None).await?
    {
        wait(client, u).await?;
    }
    progress("converting to a template");
    wait(client, client.qemu_template(&spec.node, vmid).await?).await?;
    let (removed, kept_for_clones) = retain(client, &spec.name, spec.keep).await?;
    Ok(Built {
        version: Some(Version {
            name: spec.name.clone(),
            version,
            vmid: vmid.get(),
            node: spec.node.to_string(),
            hash,
            source,
            catalog: (spec.local.is_none() && e.distro != "custom").then(|| e.id.clone()),
            built,
            current: true,
            pinned: false,
        }),
        via,
        removed,
        kept_for_clones,
    })
}

/// VMIDs of guests whose disks are linked clones of template `v`. The volume ids of a linked
/// clone do not always name their base (lvm-thin), so this asks the storages, whose content
/// listing gives each clone volume's `parent`.
async fn clones_of(client: &Client, v: &Version) -> Result<Vec<u32>, OpsError> {
    let (Ok(node), Ok(vmid)) = (NodeName::new(v.node.as_str()), VmId::new(v.vmid)) else {
        return Ok(Vec::new());
    };
    let cfg = client.qemu_config(&node, vmid).await?;
    let base = format!("base-{}-disk", v.vmid);
    let mut storages: Vec<String> = cfg
        .values()
        .filter_map(|val| val.as_str())
        .filter(|t| t.contains(&base))
        .filter_map(|t| t.split_once(':').map(|(s, _)| s.to_string()))
        .collect();
    storages.sort();
    storages.dedup();
    let mut out = Vec::new();
    for s in storages {
        let Ok(sid) = StorageId::new(s) else { continue };
        for item in client.storage_content(&node, &sid, Some("images"), None).await? {
            let child = item.parent.as_deref().is_some_and(|p| p.contains(&base));
            if let Some(id) = item.vmid.filter(|id| child && id.get() != v.vmid) {
                out.push(id.get());
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Keep the newest `keep` versions of `name`; delete older ones no linked clone depends on.
pub async fn retain(
    client: &Client,
    name: &str,
    keep: usize,
) -> Result<(Vec<u32>, Vec<u32>), OpsError> {
    let all = versions(client, Some(name)).await?;
    let excess = all.len().saturating_sub(keep.max(1));
    let (mut removed, mut kept) = (Vec::new(), Vec::new());
    for v in all.iter().take(excess) {
        if v.pinned {
            kept.push(v.vmid);
            continue;
        }
        if clones_of(client, v).await?.is_empty() {
            delete_version(client, v).await?;
            removed.push(v.vmid);
        } else {
            kept.push(v.vmid);
        }
    }
    Ok((removed, kept))
}

async fn delete_version(client: &Client, v: &Version) -> Result<(), OpsError> {
    let (node, vmid) = (
        NodeName::new(v.node.as_str()).map_err(|e| OpsError::Invalid(e.to_string()))?,
        VmId::new(v.vmid).map_err(|e| OpsError::Invalid(e.to_string()))?,
    );
    let opts = DeleteOptions { purge: true, destroy_unreferenced_disks: true, force: false };
    wait(client, client.qemu_delete(&node, vmid, &opts).await?).await
}

/// Delete one version (`name@version`); refuses while linked clones depend on it, unless
/// `force`.
pub async fn delete(
    client: &Client,
    name: &str,
    version: &str,
    force: bool,
) -> Result<u32, OpsError> {
    let all = versions(client, Some(name)).await?;
    let v = all.iter().find(|v| v.version == version).ok_or_else(|| {
        let have: Vec<&str> = all.iter().map(|v| v.version.as_str()).collect();
        OpsError::Invalid(format!(
            "{name} has no version {version} (versions: {})",
            have.join(", ")
        ))
    })?;
    let clones = clones_of(client, v).await?;
    if !clones.is_empty() && !force {
        let ids: Vec<String> = clones.iter().map(u32::to_string).collect();
        return Err(OpsError::Invalid(format!(
            "{name}@{version} (VMID {}) is the base of linked clones {}; delete them first, or pass --force",
            v.vmid,
            ids.join(", ")
        )));
    }
    delete_version(client, v).await?;
    Ok(v.vmid)
}

/// The catalog entry a template name was built from, for rebuilds.
pub fn entry_for(catalog: &Catalog, newest: &Version) -> Option<Entry> {
    newest.catalog.as_deref().and_then(|id| catalog.get(id)).cloned()
}

/// Build a new version only if the upstream image changed since the newest one.
pub async fn rebuild(
    client: &Client,
    spec: &BuildSpec,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<Built, OpsError> {
    let newest = versions(client, Some(&spec.name)).await?.pop();
    let http = proxctl_client::web::web_client(std::time::Duration::from_secs(30))?;
    let download = proxctl_images::resolve::resolve(&http, &spec.entry).await?;
    let (alg, hash) = match &spec.expected {
        Some((a, h)) => (*a, h.to_ascii_lowercase()),
        None => {
            (download.algorithm(), proxctl_images::resolve::expected_hash(&http, &download).await?)
        }
    };
    if let Some(n) = &newest
        && n.hash == hash
    {
        progress(&format!(
            "{}@{} already has image {}; nothing to do",
            n.name,
            n.version,
            &hash[..12.min(hash.len())]
        ));
        return Ok(Built {
            version: None,
            via: "unchanged".into(),
            removed: Vec::new(),
            kept_for_clones: Vec::new(),
        });
    }
    let spec = BuildSpec { expected: Some((alg, hash)), ..spec.clone() };
    build(client, &spec, progress).await
}

/// Point `name` at `version` (default: the one before the current one) by pinning it; a later
/// build does not move a pinned name. `None` unpins, so the name follows the newest again.
pub async fn rollback(
    client: &Client,
    name: &str,
    version: Option<&str>,
) -> Result<Version, OpsError> {
    let all = versions(client, Some(name)).await?;
    if all.is_empty() {
        return Err(OpsError::Invalid(format!(
            "no template named {name}; see `proxctl template list`"
        )));
    }
    let target = match version {
        Some(v) => all.iter().find(|x| x.version == v).ok_or_else(|| {
            let have: Vec<&str> = all.iter().map(|x| x.version.as_str()).collect();
            OpsError::Invalid(format!("{name} has no version {v} (versions: {})", have.join(", ")))
        })?,
        None => {
            let cur = all.iter().position(|x| x.current).unwrap_or(all.len() - 1);
            all.get(cur.wrapping_sub(1)).filter(|_| cur > 0).ok_or_else(|| {
                OpsError::Invalid(format!("{name} has no version older than {}", all[cur].version))
            })?
        }
    };
    set_pin(client, name, &all, Some(target.vmid)).await?;
    Ok(Version { current: true, pinned: true, ..target.clone() })
}

/// Unpin `name`: it follows its newest version again.
pub async fn unpin(client: &Client, name: &str) -> Result<Version, OpsError> {
    let all = versions(client, Some(name)).await?;
    let newest = all.last().cloned().ok_or_else(|| {
        OpsError::Invalid(format!("no template named {name}; see `proxctl template list`"))
    })?;
    set_pin(client, name, &all, None).await?;
    Ok(Version { current: true, pinned: false, ..newest })
}

/// Tag exactly `pin` (or none) of `all` as pinned.
async fn set_pin(
    client: &Client,
    name: &str,
    all: &[Version],
    pin: Option<u32>,
) -> Result<(), OpsError> {
    for v in all {
        let want = Some(v.vmid) == pin;
        if want == v.pinned {
            continue;
        }
        let (node, vmid) = (
            NodeName::new(v.node.as_str()).map_err(|e| OpsError::Invalid(e.to_string()))?,
            VmId::new(v.vmid).map_err(|e| OpsError::Invalid(e.to_string()))?,
        );
        let mut tags = vec![TEMPLATE_TAG.to_string(), format!("tpl-{name}")];
        if want {
            tags.push(PINNED_TAG.into());
        }
        let mut p = proxctl_types::wire::FormParams::new();
        p.push("tags", proxctl_types::wire::normalize_tags(tags.iter().map(String::as_str)));
        let vs = vmid.to_string();
        let req = proxctl_client::ApiRequest::new(
            proxctl_client::Endpoint::QemuConfigPut,
            &[node.as_str(), &vs],
            p,
        );
        client.send(&req).await?;
    }
    Ok(())
}

/// A catalog entry for an image outside the catalog (`template build --image-url`): generic
/// facts (BIOS, SCSI, cloud-init, guest agent, 10G) the user can override with their own
/// catalog entry.
pub fn entry_for_url(
    url: &str,
    checksum_url: Option<&str>,
    format: proxctl_images::checksum::ChecksumFormat,
) -> Entry {
    let file = url.rsplit('/').next().unwrap_or("image");
    let stem = file.split('.').next().unwrap_or(file).to_lowercase();
    Entry {
        id: stem,
        distro: "custom".into(),
        version: "-".into(),
        codename: None,
        arch: "amd64".into(),
        url: Some(url.to_string()),
        latest: None,
        checksum_url: checksum_url.map(String::from),
        checksum_suffix: None,
        checksum_format: format,
        format: if file.ends_with(".raw") { "raw".into() } else { "qcow2".into() },
        compression: None,
        default_user: "root".into(),
        os_type: "l26".into(),
        firmware: Firmware::Bios,
        disk_bus: DiskBus::Scsi,
        disk_size: "10G".into(),
        cloud_init: true,
        // On, as for catalog images: cloud images ship the agent, and `vm create
        // --wait-cloud-init` needs it.
        guest_agent: true,
        ignition: false,
        notes: None,
        source: url.to_string(),
    }
}

/// A catalog entry for a local image file (`template build --image-file`): the same generic
/// facts as for a URL; its format from the extension (`.raw` or qcow2).
pub fn entry_for_file(path: &std::path::Path) -> Entry {
    let shown = path.display().to_string();
    let mut e = entry_for_url(&shown, None, proxctl_images::checksum::ChecksumFormat::GnuSha256);
    e.url = None;
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_from_a_url_gets_the_guest_agent_like_catalog_images() {
        let e = entry_for_url(
            "https://example.com/images/my-image.qcow2",
            None,
            proxctl_images::checksum::ChecksumFormat::GnuSha256,
        );
        assert!(e.guest_agent, "vm create --wait-cloud-init needs it");
        assert!(e.cloud_init);
        assert_eq!((e.id.as_str(), e.format.as_str()), ("my-image", "qcow2"));
    }
}
