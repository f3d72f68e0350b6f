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
        let entry = match (&self.entry, &self.image_url) {
            (Some(_), Some(_)) => {
                return Err(OpsError::Invalid(
                    "give a catalog id or an image URL, not both".into(),
                ));
            }
            (Some(id), None) => catalog.get(id).cloned().ok_or_else(|| {
                OpsError::Invalid(format!("no catalog image '{id}'; see `proxctl image search`"))
            })?,
            (None, Some(url)) => {
                let format: ChecksumFormat = serde_yaml_ng::from_str(&self.checksum_format)
                    .map_err(|_| {
                        OpsError::Invalid(format!(
                            "unknown checksum format '{}'; see `proxctl template build --help`",
                            self.checksum_format
                        ))
                    })?;
                crate::template::entry_for_url(url, self.checksum_url.as_deref(), format)
            }
            (None, None) => {
                return Err(OpsError::Invalid(
                    "give a catalog id (see `proxctl image search`) or an image URL (the CLI's --image-url; \
                     on a terminal the CLI asks instead)"
                        .into(),
                ));
            }
        };
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
            expected: None,
            cache_root: Cache::default_root(env)
                .unwrap_or_else(|| std::env::temp_dir().join("proxctl-images")),
            vmid: None,
        })
    }
}
