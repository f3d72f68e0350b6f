//! Manifests: multi-document YAML with `apiVersion`, `kind`, `metadata` and `spec`, parsed
//! into typed resources and checked, with every problem reported as `file:line:column`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub const API_VERSION: &str = "proxctl.io/v1";

/// One document as written, for a given spec type. Read in two passes (the kind first, then
/// this), so that serde reports errors with their line and column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Typed<S> {
    /// Always `proxctl.io/v1`.
    pub api_version: String,
    /// `VirtualMachine`, `Container` or `IPPool`.
    pub kind: String,
    pub metadata: Metadata,
    pub spec: S,
}

/// Every kind of document, for the JSON Schema.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)] // only its schema is used
enum AnyDocument {
    VirtualMachine(Typed<VmSpec>),
    Container(Typed<CtSpec>),
    IpPool(Typed<IpPoolSpec>),
    Template(Typed<TemplateSpec>),
    Job(Typed<JobSpec>),
}

#[derive(Deserialize)]
struct Head {
    kind: Option<String>,
}

/// A resource's content, by kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Body {
    VirtualMachine {
        metadata: Metadata,
        spec: VmSpec,
    },
    Container {
        metadata: Metadata,
        spec: CtSpec,
    },
    #[serde(rename = "IPPool")]
    IpPool {
        metadata: Metadata,
        spec: IpPoolSpec,
    },
    Template {
        metadata: Metadata,
        spec: TemplateSpec,
    },
    Job {
        metadata: Metadata,
        spec: JobSpec,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// Unique per kind; also the guest's name in PVE unless the spec says otherwise.
    pub name: String,
}

/// A QEMU VM cloned from a template.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VmSpec {
    /// The template to clone: its name or VMID. Needed to create the VM; an adopted VM that
    /// did not come from a template may leave it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// Or create the VM from a disk image instead of a template: an `import` volume such as
    /// `local:import/debian-12-genericcloud-amd64.qcow2`, imported as `scsi0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Create on this node. Without it, the template's node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Nodes the VM may live on; a VM found on any of them (after a migration or an HA move)
    /// is not drift. Defaults to `node` alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_nodes: Vec<String>,
    /// Full clone instead of a linked one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub full_clone: bool,
    /// Target storage of a full clone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cores: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sockets: Option<u32>,
    /// CPU type, e.g. `host` or `x86-64-v2-AES`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// Memory in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<u64>,
    /// Balloon target in MiB (0 disables ballooning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balloon: Option<u64>,
    /// Disks by slot (`scsi0`, `virtio1`, ...): the size they must have (grown, never shrunk).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub disks: BTreeMap<String, DiskSpec>,
    /// NICs by slot (`net0`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, NicSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_init: Option<CloudInitSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// Whether the VM should be running. Unset: whatever it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onboot: Option<bool>,
    /// PVE's protection flag: no delete, no disk removal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protection: Option<bool>,
    /// Put the VM under PVE's HA manager with this requested state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ha: Option<HaSpec>,
    /// Free text; proxctl adds its own marker line below it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HaSpec {
    /// `started` (default), `stopped`, `disabled` or `ignored`.
    #[serde(default = "ha_started")]
    pub state: String,
}

fn ha_started() -> String {
    "started".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DiskSpec {
    /// e.g. `32G`. Disks grow to it; a smaller size than the disk has is an error.
    pub size: String,
    /// Storage for a disk the template does not have (default: the VM's first disk's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NicSpec {
    pub bridge: String,
    /// VLAN tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<u16>,
    /// `virtio` (default), `e1000`, `e1000e`, `rtl8139` or `vmxnet3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CloudInitSpec {
    /// `native` (PVE's cloud-init drive, the default) or `iso` (a NoCloud seed ISO proxctl
    /// builds, uploads as `iso` content and attaches as a CD-ROM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Storage with `iso` content for seed ISOs (default `local`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iso_storage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Public keys, one per entry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ssh_keys: Vec<String>,
    /// Addresses by NIC slot (`net0` → `ipconfig0`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ip: BTreeMap<String, IpSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nameserver: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub searchdomain: Option<String>,
    /// Your own `#cloud-config` (ISO mode only), as the base of the seed's user-data: `user`
    /// and `sshKeys` are merged into it. Changing it gives a new instance-id and an update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IpSpec {
    /// `dhcp` or an address with prefix, e.g. `10.0.0.5/24`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// Take a free address from this IPPool instead of `address`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// `dhcp`, `auto` (SLAAC) or an address with prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address6: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway6: Option<String>,
}

/// An LXC container from an OS template.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CtSpec {
    /// The OS template volume, e.g. `local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst`.
    pub ostemplate: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_nodes: Vec<String>,
    /// Root disk storage and size, e.g. `local-lvm` and `8G`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_size: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cores: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swap: Option<u64>,
    /// `eth0`'s bridge (default vmbr0), VLAN, and address: `dhcp` or `10.0.0.5/24`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// Unprivileged (the default) or privileged; fixed at creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unprivileged: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onboot: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protection: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A job `proxctl serve` runs on a schedule, as `proxctl job create` makes (see
/// `docs/scheduler.md`); the name is the job's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct JobSpec {
    /// A PVE calendar event (`mon..fri 20:00`, `*:0/15`, `daily`) or 5-field cron.
    pub schedule: String,
    /// IANA time zone; the server's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// What it does, e.g. `{type: snapshot, ttl: 24h}`, `{type: backup, keep_daily: 7}`,
    /// `{type: power, action: shutdown}`, `{type: drift-check, path: /etc/proxctl/prod}`.
    #[schemars(with = "serde_json::Value")]
    pub action: proxctl_ops::jobs::Action,
    /// Which guests (the `-l` language); default all.
    #[serde(default = "all_guests")]
    pub selector: String,
    /// The remote it acts on; the server's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    #[serde(default = "enabled")]
    pub enabled: bool,
    /// `run-once` (default) or `skip`: runs missed while no server ran.
    #[serde(default)]
    #[schemars(with = "String")]
    pub missed: proxctl_ops::jobs::Missed,
    /// How many runs its history keeps.
    #[serde(default = "history")]
    pub history: usize,
}

impl JobSpec {
    /// The job this spec declares, as the store keeps it.
    pub fn job(
        &self,
        name: &str,
        created_at: jiff::Timestamp,
        created_by: &str,
    ) -> proxctl_ops::jobs::Job {
        proxctl_ops::jobs::Job {
            name: name.to_string(),
            schedule: self.schedule.clone(),
            timezone: self.timezone.clone(),
            action: self.action.clone(),
            selector: self.selector.clone(),
            remote: self.remote.clone(),
            enabled: self.enabled,
            missed: self.missed,
            history: self.history,
            created_at,
            created_by: created_by.to_string(),
        }
    }
}

fn all_guests() -> String {
    "all".into()
}
fn enabled() -> bool {
    true
}
fn history() -> usize {
    proxctl_ops::jobs::DEFAULT_HISTORY
}

/// A versioned template built from a catalog image; VMs name it in `template:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TemplateSpec {
    /// Catalog id (`proxctl image list`).
    pub image: String,
    pub node: String,
    /// Storage with `import` content (default `local`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
    /// Storage for the template's disks (default `local-lvm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_storage: Option<String>,
    /// Disk size (default: the catalog's recommendation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_size: Option<String>,
    /// Versions to keep (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep: Option<usize>,
}

/// Addresses handed out to VMs that ask for one by pool name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IpPoolSpec {
    /// e.g. `10.0.10.0/24`.
    pub cidr: String,
    /// First and last address to hand out; default: the whole subnet but the gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<IpRange>,
    pub gateway: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IpRange {
    pub start: String,
    pub end: String,
}

/// Where a document came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Origin {
    pub file: PathBuf,
    /// 1-based line of the document's first line.
    pub line: usize,
}

/// A parsed resource and where it was declared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Declared {
    pub origin: Origin,
    pub body: Body,
}

impl Declared {
    pub fn kind(&self) -> &'static str {
        self.body.kind()
    }
    pub fn name(&self) -> &str {
        self.body.name()
    }
    pub fn key(&self) -> String {
        format!("{}/{}", self.kind(), self.name())
    }
}

impl Body {
    pub fn kind(&self) -> &'static str {
        match self {
            Body::VirtualMachine { .. } => "VirtualMachine",
            Body::Container { .. } => "Container",
            Body::IpPool { .. } => "IPPool",
            Body::Template { .. } => "Template",
            Body::Job { .. } => "Job",
        }
    }
    pub fn name(&self) -> &str {
        match self {
            Body::VirtualMachine { metadata, .. }
            | Body::Container { metadata, .. }
            | Body::IpPool { metadata, .. }
            | Body::Template { metadata, .. }
            | Body::Job { metadata, .. } => &metadata.name,
        }
    }
}

/// A problem at a place in a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file.display(), self.line, self.column, self.message)
    }
}

/// Read and check every manifest under `paths`. All problems are collected, not just the first.
pub fn load(paths: &[PathBuf]) -> Result<Vec<Declared>, Vec<Diagnostic>> {
    let (sources, mut problems) = crate::source::read_all(paths);
    let mut declared = Vec::new();
    for s in &sources {
        parse_into(&s.path, &s.text, &mut declared, &mut problems);
    }
    check_all(&declared, &mut problems);
    if problems.is_empty() { Ok(declared) } else { Err(problems) }
}

/// Parse several files' texts as one manifest set (rendered charts), each problem at its file.
pub fn parse_many(files: &[(PathBuf, String)]) -> Result<Vec<Declared>, Vec<Diagnostic>> {
    let mut declared = Vec::new();
    let mut problems = Vec::new();
    for (file, text) in files {
        parse_into(file, text, &mut declared, &mut problems);
    }
    check_all(&declared, &mut problems);
    if problems.is_empty() { Ok(declared) } else { Err(problems) }
}

/// Parse one file's text (exposed for tests and stdin).
pub fn parse(file: &Path, text: &str) -> Result<Vec<Declared>, Vec<Diagnostic>> {
    let mut declared = Vec::new();
    let mut problems = Vec::new();
    parse_into(file, text, &mut declared, &mut problems);
    check_all(&declared, &mut problems);
    if problems.is_empty() { Ok(declared) } else { Err(problems) }
}

/// The documents of a YAML stream: (first line, text). Split on `---` lines, which is how
/// the YAML stream is written in practice, so each document keeps its own line numbers.
fn documents(text: &str) -> Vec<(usize, String)> {
    let mut docs = Vec::new();
    let mut start = 1;
    let mut cur = String::new();
    for (i, line) in text.lines().enumerate() {
        if line == "---" || line.starts_with("--- ") {
            docs.push((start, std::mem::take(&mut cur)));
            start = i + 2;
            continue;
        }
        cur.push_str(line);
        cur.push('\n');
    }
    docs.push((start, cur));
    docs.into_iter()
        .filter(|(_, d)| {
            d.lines().any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .collect()
}

fn parse_into(
    file: &Path,
    text: &str,
    declared: &mut Vec<Declared>,
    problems: &mut Vec<Diagnostic>,
) {
    let text = crate::source::strip_bom(text);
    if let Some((line, column, message)) = crate::source::too_deep(text) {
        problems.push(Diagnostic { file: file.to_path_buf(), line, column, message });
        return;
    }
    for (first_line, doc) in documents(text) {
        let at = |line: usize, column: usize, message: String| Diagnostic {
            file: file.to_path_buf(),
            line: first_line + line.saturating_sub(1),
            column,
            message,
        };
        let parsed = match serde_yaml_ng::from_str::<Head>(&doc) {
            Ok(Head { kind: Some(kind) }) => typed(&kind, &doc),
            Ok(Head { kind: None }) => {
                problems.push(at(
                    1,
                    1,
                    "missing field `kind` (kinds: VirtualMachine, Container, IPPool, Template)"
                        .into(),
                ));
                continue;
            }
            Err(e) => Err(e),
        };
        match parsed {
            Ok(None) => {
                let (l, c) = locate(&doc, "kind");
                problems.push(at(
                    l,
                    c,
                    "unknown kind (kinds: VirtualMachine, Container, IPPool, Template, Job)".into(),
                ));
            }
            Ok(Some((api_version, body))) => {
                let origin = Origin { file: file.to_path_buf(), line: first_line };
                let before = problems.len();
                for (path, message) in crate::checks::check(&api_version, &body) {
                    let (l, c) = locate(&doc, &path);
                    problems.push(at(l, c, message));
                }
                if problems.len() == before {
                    declared.push(Declared { origin, body });
                }
            }
            Err(e) => {
                let (l, c) = e.location().map_or((1, 1), |m| (m.line(), m.column()));
                problems.push(at(l, c, friendly(&e.to_string())));
            }
        }
    }
}

/// The second pass: the document as its kind's type. `None` for an unknown kind.
fn typed(kind: &str, doc: &str) -> Result<Option<(String, Body)>, serde_yaml_ng::Error> {
    Ok(Some(match kind {
        "VirtualMachine" => {
            let t: Typed<VmSpec> = serde_yaml_ng::from_str(doc)?;
            (t.api_version, Body::VirtualMachine { metadata: t.metadata, spec: t.spec })
        }
        "Container" => {
            let t: Typed<CtSpec> = serde_yaml_ng::from_str(doc)?;
            (t.api_version, Body::Container { metadata: t.metadata, spec: t.spec })
        }
        "IPPool" => {
            let t: Typed<IpPoolSpec> = serde_yaml_ng::from_str(doc)?;
            (t.api_version, Body::IpPool { metadata: t.metadata, spec: t.spec })
        }
        "Template" => {
            let t: Typed<TemplateSpec> = serde_yaml_ng::from_str(doc)?;
            (t.api_version, Body::Template { metadata: t.metadata, spec: t.spec })
        }
        "Job" => {
            let t: Typed<JobSpec> = serde_yaml_ng::from_str(doc)?;
            (t.api_version, Body::Job { metadata: t.metadata, spec: t.spec })
        }
        _ => return Ok(None),
    }))
}

/// serde's messages without the location suffix, which we print in front.
fn friendly(msg: &str) -> String {
    msg.split(" at line ").next().unwrap_or(msg).to_string()
}

/// The 1-based (line, column) of a dotted key path such as `spec.networks.net0.bridge`,
/// following block-style indentation; the nearest found ancestor if the leaf is absent.
pub fn locate(doc: &str, path: &str) -> (usize, usize) {
    let mut best = (1, 1);
    let mut min_indent: Option<usize> = None;
    let mut from_line = 0;
    for seg in path.split('.') {
        let mut found = None;
        for (i, line) in doc.lines().enumerate().skip(from_line) {
            let indent = line.len() - line.trim_start().len();
            let t = line.trim_start();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            if let Some(m) = min_indent
                && indent <= m
            {
                break;
            }
            let key = t.split(':').next().unwrap_or("").trim().trim_matches('"');
            if key == seg && t.contains(':') {
                found = Some((i, indent));
                break;
            }
        }
        match found {
            Some((i, indent)) => {
                best = (i + 1, indent + 1);
                min_indent = Some(indent);
                from_line = i + 1;
            }
            None => break,
        }
    }
    best
}

/// Checks across documents: one name per kind, pools that exist.
fn check_all(declared: &[Declared], problems: &mut Vec<Diagnostic>) {
    let mut seen: BTreeMap<String, &Origin> = BTreeMap::new();
    let pools: Vec<&str> = declared
        .iter()
        .filter(|d| matches!(d.body, Body::IpPool { .. }))
        .map(|d| d.name())
        .collect();
    for d in declared {
        if let Some(first) = seen.insert(d.key(), &d.origin) {
            problems.push(Diagnostic {
                file: d.origin.file.clone(),
                line: d.origin.line,
                column: 1,
                message: format!(
                    "{} is declared twice (first at {}:{})",
                    d.key(),
                    first.file.display(),
                    first.line
                ),
            });
        }
        if let Body::VirtualMachine { spec, .. } = &d.body {
            for (nic, ip) in spec.cloud_init.iter().flat_map(|c| &c.ip) {
                if let Some(p) = &ip.pool
                    && !pools.contains(&p.as_str())
                {
                    problems.push(Diagnostic {
                        file: d.origin.file.clone(),
                        line: d.origin.line,
                        column: 1,
                        message: format!(
                            "{}: {nic} asks for IPPool '{p}', which no manifest declares",
                            d.key()
                        ),
                    });
                }
            }
        }
    }
}

/// The JSON Schema of a manifest document, for editors.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(AnyDocument)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
apiVersion: proxctl.io/v1
kind: VirtualMachine
metadata:
  name: web-1
spec:
  template: debian-12
  cores: 2
  memory: 2048
  disks:
    scsi0: {size: 20G}
  networks:
    net0: {bridge: vmbr0, vlan: 10}
  cloudInit:
    user: debian
    ip:
      net0: {address: 10.0.10.5/24, gateway: 10.0.10.1}
  tags: [web, env-prod]
---
apiVersion: proxctl.io/v1
kind: IPPool
metadata:
  name: lab
spec:
  cidr: 10.0.10.0/24
  gateway: 10.0.10.1
";

    #[test]
    fn a_multi_document_file_parses_into_typed_resources() {
        let d = parse(Path::new("m.yaml"), GOOD).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].key(), "VirtualMachine/web-1");
        assert_eq!(d[1].key(), "IPPool/lab");
        assert_eq!(d[1].origin.line, 19);
        let Body::VirtualMachine { spec, .. } = &d[0].body else { panic!() };
        assert_eq!(spec.networks["net0"].vlan, Some(10));
    }

    #[test]
    fn type_errors_point_at_their_line_and_column_in_the_right_document() {
        let bad =
            GOOD.replace("cores: 2", "cores: two").replace("cidr: 10.0.10.0/24", "cidr: nope");
        let e = parse(Path::new("m.yaml"), &bad).unwrap_err();
        let shown: Vec<String> = e.iter().map(|d| d.to_string()).collect();
        assert!(shown[0].starts_with("m.yaml:7:10: spec.cores: invalid type"), "{shown:?}");
        assert_eq!(shown[1], "m.yaml:24:3: 'nope' is not a CIDR such as 10.0.0.0/24", "{shown:?}");
    }

    #[test]
    fn unknown_fields_and_kinds_are_refused_with_hints() {
        let e = parse(Path::new("x.yaml"), &GOOD.replace("  cores: 2", "  corez: 2")).unwrap_err();
        assert!(e[0].message.contains("unknown field `corez`"), "{e:?}");
        assert_eq!(e[0].line, 7);
        let e = parse(
            Path::new("x.yaml"),
            "apiVersion: proxctl.io/v1\nkind: Pod\nmetadata: {name: a}\nspec: {}\n",
        )
        .unwrap_err();
        assert!(e[0].message.contains("kinds: VirtualMachine, Container, IPPool"), "{e:?}");
    }

    #[test]
    fn semantic_errors_are_all_reported_at_their_keys() {
        let bad = GOOD
            .replace("vlan: 10", "vlan: 5000")
            .replace("address: 10.0.10.5/24", "address: 10.0.10.5")
            .replace("[web, env-prod]", "[web, proxctl]");
        let e = parse(Path::new("m.yaml"), &bad).unwrap_err();
        let shown: Vec<String> = e.iter().map(|d| d.to_string()).collect();
        assert_eq!(shown.len(), 3, "{shown:?}");
        assert!(shown[0].starts_with("m.yaml:12:5: vlan must be"), "{shown:?}");
        assert!(shown[1].starts_with("m.yaml:16:7: '10.0.10.5' is neither"), "{shown:?}");
        assert!(shown[2].starts_with("m.yaml:17:3: 'proxctl' is not a usable tag"), "{shown:?}");
    }

    #[test]
    fn duplicates_and_missing_pools_are_caught_across_documents() {
        let two = format!("{GOOD}---\n{}", GOOD.split("---\n").next().unwrap())
            .replace("gateway: 10.0.10.1}", "pool: lab}")
            .replacen("address: 10.0.10.5/24, ", "", 2);
        let e = parse(Path::new("m.yaml"), &two).unwrap_err();
        assert!(e.iter().any(|d| d.message.contains("declared twice")), "{e:?}");
        let missing = GOOD
            .split("---\n")
            .next()
            .unwrap()
            .replace("address: 10.0.10.5/24, gateway: 10.0.10.1", "pool: nowhere");
        let e = parse(Path::new("m.yaml"), &missing).unwrap_err();
        assert!(e[0].message.contains("IPPool 'nowhere'"), "{e:?}");
    }

    #[test]
    fn the_json_schema_names_every_kind() {
        let s = json_schema().to_string();
        for k in ["VirtualMachine", "Container", "IPPool", "cloudInit", "allowedNodes"] {
            assert!(s.contains(k), "{k}");
        }
    }
}
