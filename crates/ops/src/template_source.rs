//! What a face asks a template build for (a catalog id or an image URL, where, how many
//! versions to keep), turned into a [`BuildSpec`] with the same defaults and the same errors
//! for the CLI's flags and the API's JSON.

use proxctl_images::cache::Cache;
use proxctl_images::checksum::ChecksumFormat;
use proxctl_types::{NodeName, StorageId};
use serde::Deserialize;

use crate::OpsError;
use crate::template::BuildSpec;

/// A build request, as the CLI's flags and the API's body give it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// A catalog id.
    #[serde(default)]
    pub entry: Option<String>,
    /// An image URL outside the catalog (needs `checksum_url`).
    #[serde(default)]
    pub image_url: Option<String>,
    #[serde(default)]
    pub checksum_url: Option<String>,
    /// `gnu-sha256`, `gnu-sha512`, `bsd-sha256`, `bsd-sha512`, `fedora-checksum`,
    /// `single-sha256` or `single-sha512`.
    #[serde(default = "default_checksum_format")]
    pub checksum_format: String,
    /// The stable name (default: the catalog id, or the URL's file name).
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub node: Option<NodeName>,
    /// Storage with `import` content (default `local`).
    #[serde(default)]
    pub storage: Option<StorageId>,
    /// Storage for the template's disks (default `local-lvm`).
    #[serde(default)]
    pub vm_storage: Option<StorageId>,
    /// `auto`, `download-url` or `upload`.
    #[serde(default = "default_via")]
    pub via: String,
    /// e.g. `20G` (default: the catalog's recommendation).
    #[serde(default)]
    pub disk_size: Option<String>,
    /// Versions to keep.
    #[serde(default = "default_keep")]
    pub keep: usize,
    /// A local image file (qcow2 or raw) instead of a catalog id or URL. Not over the API: a
    /// server does not read its own files on a caller's say-so.
    #[serde(skip)]
    pub image_file: Option<std::path::PathBuf>,
    /// The image's SHA-256, for a URL without a checksum file or a local file (checked by PVE).
    #[serde(default)]
    pub sha256: Option<String>,
    /// `seabios` or `ovmf` (UEFI, with an EFI disk and q35); default: the catalog entry's.
    #[serde(default)]
    pub bios: Option<String>,
    /// e.g. `q35`, `pc`.
    #[serde(default)]
    pub machine: Option<String>,
    /// PVE's OS type: `l26`, `win11`, `other`, ...
    #[serde(default)]
    pub ostype: Option<String>,
    /// e.g. `host`, `x86-64-v2-AES`.
    #[serde(default)]
    pub cpu: Option<String>,
    /// Enable the QEMU guest agent (on unless turned off).
    #[serde(default)]
    pub agent: Option<bool>,
    /// The lowest VMID a new version may take (default 9000).
    #[serde(default)]
    pub vmid_from: Option<u32>,
}

impl Source {
    /// A build of catalog image `id`, everything else left to the defaults.
    pub fn catalog(id: &str) -> Source {
        Source {
            entry: Some(id.to_string()),
            image_url: None,
            checksum_url: None,
            checksum_format: default_checksum_format(),
            name: None,
            node: None,
            storage: None,
            vm_storage: None,
            via: default_via(),
            disk_size: None,
            keep: default_keep(),
            image_file: None,
            sha256: None,
            bios: None,
            machine: None,
            ostype: None,
            cpu: None,
            agent: None,
            vmid_from: None,
        }
    }
}

/// PVE's `ostype` values.
const OS_TYPES: &[&str] = &[
    "other", "wxp", "w2k", "w2k3", "w2k8", "wvista", "win7", "win8", "win10", "win11", "l24",
    "l26", "solaris",
];

/// A hex SHA-256, lowercased.
fn sha256_of(s: &str) -> Result<String, OpsError> {
    let h = s.trim().to_ascii_lowercase();
    if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(OpsError::Invalid(format!("'{s}' is not a SHA-256 (64 hex digits)")));
    }
    Ok(h)
}

fn default_checksum_format() -> String {
    "gnu-sha256".into()
}
fn default_via() -> String {
    "auto".into()
}
fn default_keep() -> usize {
    3
}

/// Where a face's settings fill in what a request leaves out.
#[derive(Debug, Clone, Default)]
pub struct Defaults {
    /// The profile's node.
    pub node: Option<NodeName>,
    /// The profile's bridge (else `vmbr0`).
    pub bridge: Option<String>,
}

fn storage(name: &str) -> Result<StorageId, OpsError> {
    StorageId::new(name).map_err(|e| OpsError::Invalid(e.to_string()))
}

impl Source {
    /// The spec to build, reading the catalog (with the user's file) through `env`.
    pub fn into_spec(
        self,
        defaults: &Defaults,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<BuildSpec, OpsError> {
        let catalog = crate::image::catalog(env)?;
        let mut entry = match (&self.entry, &self.image_url, &self.image_file) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => {
                return Err(OpsError::Invalid(
                    "give one of a catalog id, an image URL or an image file".into(),
                ));
            }
            (Some(id), None, None) => catalog.get(id).cloned().ok_or_else(|| {
                OpsError::Invalid(format!("no catalog image '{id}'; see `proxctl image search`"))
            })?,
            (None, Some(url), None) => {
                if self.checksum_url.is_none() && self.sha256.is_none() {
                    return Err(OpsError::Invalid(format!(
                        "{url}: give its checksum file (--checksum-url) or its SHA-256 (--sha256)"
                    )));
                }
                let format: ChecksumFormat = serde_yaml_ng::from_str(&self.checksum_format)
                    .map_err(|_| {
                        OpsError::Invalid(format!(
                            "unknown checksum format '{}'; see `proxctl template build --help`",
                            self.checksum_format
                        ))
                    })?;
                crate::template::entry_for_url(url, self.checksum_url.as_deref(), format)
            }
            (None, None, Some(path)) => crate::template::entry_for_file(path),
            (None, None, None) => {
                return Err(OpsError::Invalid(
                    "give a catalog id (see `proxctl image search`), an image URL or an image file \
                     (the CLI's --image-url, --image-file; on a terminal the CLI asks instead)"
                        .into(),
                ));
            }
        };
        match self.bios.as_deref() {
            None => {}
            Some("ovmf") => entry.firmware = proxctl_images::catalog::Firmware::Uefi,
            Some("seabios") => entry.firmware = proxctl_images::catalog::Firmware::Bios,
            Some(other) => {
                return Err(OpsError::Invalid(format!(
                    "bios must be seabios or ovmf, not '{other}'"
                )));
            }
        }
        if let Some(os) = &self.ostype {
            if !OS_TYPES.contains(&os.as_str()) {
                return Err(OpsError::Invalid(format!(
                    "ostype must be one of {}, not '{os}'",
                    OS_TYPES.join(", ")
                )));
            }
            entry.os_type = os.clone();
        }
        if let Some(a) = self.agent {
            entry.guest_agent = a;
        }
        let expected = self
            .sha256
            .as_deref()
            .map(sha256_of)
            .transpose()?
            .map(|h| (proxctl_images::checksum::Algorithm::Sha256, h));
        let vmid_floor = self.vmid_from.unwrap_or(proxctl_types::ids::TEMPLATE_VMID_FLOOR);
        if !(100..=999_999_999).contains(&vmid_floor) {
            return Err(OpsError::Invalid(format!(
                "the template VMID range must start between 100 and 999999999, not {vmid_floor}"
            )));
        }
        let node = self.node.or_else(|| defaults.node.clone()).ok_or_else(|| {
            OpsError::Invalid("say which node to build on (or set the profile's node)".into())
        })?;
        if self.keep == 0 {
            return Err(OpsError::Invalid("keep must be at least 1".into()));
        }
        let disk_size = self
            .disk_size
            .as_deref()
            .map(|s| {
                s.parse().map_err(|_| {
                    OpsError::Invalid(format!("disk size '{s}' is not a size such as 20G"))
                })
            })
            .transpose()?;
        Ok(BuildSpec {
            name: self.name.unwrap_or_else(|| entry.id.clone()),
            entry,
            node,
            import_storage: match self.storage {
                Some(s) => s,
                None => storage("local")?,
            },
            vm_storage: match self.vm_storage {
                Some(s) => s,
                None => storage("local-lvm")?,
            },
            bridge: defaults.bridge.clone().unwrap_or_else(|| "vmbr0".into()),
            via: self.via.parse()?,
            disk_size,
            keep: self.keep,
            expected,
            cache_root: Cache::default_root(env)
                .unwrap_or_else(|| std::env::temp_dir().join("proxctl-images")),
            vmid: None,
            vmid_floor,
            local: self.image_file,
            machine: self.machine,
            cpu: self.cpu,
        })
    }
}
