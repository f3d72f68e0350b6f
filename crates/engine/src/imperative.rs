//! `vm create --from-template` as a one-resource manifest: the command line becomes a
//! VirtualMachine document, checked like any manifest, planned and applied by the same engine,
//! so an imperatively created VM is marked, recorded and adoptable like a declared one.

use std::path::Path;
use std::sync::Arc;

use proxctl_client::Client;
use proxctl_state::StateStore;

use crate::manifest::{API_VERSION, CloudInitSpec, DiskSpec, Metadata, NicSpec, Typed, VmSpec};
use crate::{Action, ApplyOptions, ApplyReport, EngineError, Plan};

#[derive(Debug, Clone, Default)]
pub struct VmRequest {
    pub name: String,
    pub template: String,
    pub node: Option<String>,
    pub cores: Option<u32>,
    pub memory: Option<u64>,
    /// Boot disk size, e.g. `32G` (grown from the template's).
    pub disk: Option<String>,
    pub bridge: String,
    pub vlan: Option<u16>,
    pub tags: Vec<String>,
    pub start: bool,
    pub cloud_init: CloudInitSpec,
}

/// The manifest text `req` stands for (also what `--dry-run` users can save and apply).
pub fn manifest(req: &VmRequest) -> Result<String, EngineError> {
    let spec = VmSpec {
        template: Some(req.template.clone()),
        node: req.node.clone(),
        cores: req.cores,
        memory: req.memory,
        disks: req
            .disk
            .iter()
            .map(|d| ("scsi0".to_string(), DiskSpec { size: d.clone(), storage: None }))
            .collect(),
        networks: [(
            "net0".to_string(),
            NicSpec { bridge: req.bridge.clone(), vlan: req.vlan, model: None, firewall: None },
        )]
        .into(),
        cloud_init: Some(req.cloud_init.clone()),
        tags: req.tags.clone(),
        start: req.start.then_some(true),
        ..VmSpec::default()
    };
    let doc = Typed {
        api_version: API_VERSION.into(),
        kind: "VirtualMachine".into(),
        metadata: Metadata { name: req.name.clone() },
        spec,
    };
    serde_yaml_ng::to_string(&doc).map_err(|e| EngineError::BadPlanFile(e.to_string()))
}

/// Create the VM `req` describes; refuses if a VM of that name is already managed.
pub async fn create_vm(
    client: &Client,
    store: Arc<dyn StateStore>,
    req: &VmRequest,
    opts: &ApplyOptions,
) -> Result<(Plan, ApplyReport), EngineError> {
    let text = manifest(req)?;
    let declared =
        crate::manifest::parse(Path::new("<vm create>"), &text).map_err(EngineError::Manifest)?;
    let mut plan = crate::make_plan(client, store.as_ref(), &declared, false).await?;
    let key = format!("VirtualMachine/{}", req.name);
    plan.changes.retain(|c| c.key == key);
    match plan.changes.first() {
        Some(c) if c.action == Action::Create => {}
        Some(c) => {
            return Err(EngineError::BadPlanFile(format!(
                "{key} already exists (VMID {}); change it with `proxctl vm set` or a manifest",
                c.vmid.map(|v| v.to_string()).unwrap_or_default()
            )));
        }
        None => return Err(EngineError::BadPlanFile(format!("nothing to create for {key}"))),
    }
    let report = crate::apply::apply(client, store, &plan, opts).await?;
    Ok((plan, report))
}
