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
    /// net0, net1, ... in order.
    pub nics: Vec<NicSpec>,
    pub tags: Vec<String>,
    pub start: bool,
    pub cloud_init: CloudInitSpec,
    /// The cloud-init password (native mode only). Set after the create, straight to PVE,
    /// which hashes it: it never enters the manifest, the plan, the journal or the audit log.
    pub password: Option<proxctl_types::secret::Secret>,
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
        networks: req
            .nics
            .iter()
            .enumerate()
            .map(|(i, n)| (format!("net{i}"), n.clone()))
            .collect(),
        cloud_init: Some(req.cloud_init.clone()),
        tags: req.tags.clone(),
        // With a password to set first, the start waits until it is set.
        start: (req.start && req.password.is_none()).then_some(true),
        ..VmSpec::default()
    };
    let doc = Typed {
        api_version: API_VERSION.into(),
        kind: "VirtualMachine".into(),
        metadata: Metadata { name: req.name.clone() },
        spec,
    };
    serde_yaml_ng::to_string(&doc).map_err(|e| EngineError::Invalid(e.to_string()))
}

/// The Template document equivalent to `proxctl template build` with these settings.
pub fn template_manifest(
    name: &str,
    spec: &crate::manifest::TemplateSpec,
) -> Result<String, EngineError> {
    let doc = Typed {
        api_version: API_VERSION.into(),
        kind: "Template".into(),
        metadata: Metadata { name: name.to_string() },
        spec: spec.clone(),
    };
    serde_yaml_ng::to_string(&doc).map_err(|e| EngineError::Invalid(e.to_string()))
}

/// What `create_vm` made.
#[derive(Debug, Clone)]
pub struct Created {
    pub vmid: proxctl_types::VmId,
    pub node: proxctl_types::NodeName,
    pub plan: Plan,
    pub report: ApplyReport,
}

/// Create the VM `req` describes; refuses if a VM of that name is already managed, or if
/// ISO mode is asked to carry a password (it would sit in clear text in the seed).
pub async fn create_vm(
    client: &Client,
    store: Arc<dyn StateStore>,
    req: &VmRequest,
    opts: &ApplyOptions,
) -> Result<Created, EngineError> {
    if req.password.is_some() && req.cloud_init.mode.as_deref() == Some("iso") {
        return Err(EngineError::Invalid(
            "a password would sit in clear text in the seed ISO; use SSH keys with ISO cloud-init"
                .into(),
        ));
    }
    let text = manifest(req)?;
    let declared =
        crate::manifest::parse(Path::new("<vm create>"), &text).map_err(EngineError::Manifest)?;
    let mut session =
        crate::Session::for_manifests(client, store, &declared, false, opts, "vm create").await?;
    let key = format!("VirtualMachine/{}", req.name);
    let made = async {
        let mut plan = session.plan(&declared, false).await?;
        plan.changes.retain(|c| c.key == key);
        match plan.changes.first() {
            Some(c) if c.action == Action::Create => {}
            Some(c) => {
                return Err(EngineError::Invalid(format!(
                    "{key} already exists (VMID {}); change it with `proxctl vm set` or a manifest",
                    c.vmid.map(|v| v.to_string()).unwrap_or_default()
                )));
            }
            None => return Err(EngineError::Invalid(format!("nothing to create for {key}"))),
        }
        let report = session.apply(&plan).await?;
        Ok((plan, report))
    }
    .await;
    session.end().await;
    let (plan, report) = made?;
    let change = &plan.changes[0];
    let bad = |e: proxctl_types::IdError| EngineError::Invalid(e.to_string());
    let vmid = proxctl_types::VmId::new(change.vmid.unwrap_or_default()).map_err(bad)?;
    let node =
        proxctl_types::NodeName::new(change.node.clone().unwrap_or_default()).map_err(bad)?;
    if let Some(failed) = report.results.iter().find(|r| !r.ok) {
        return Err(EngineError::Invalid(format!(
            "creating {} failed: {}",
            req.name, failed.result
        )));
    }
    if let Some(pw) = &req.password {
        let mut u = proxctl_client::endpoints::qemu::ConfigUpdate::default();
        u.set.cipassword = Some(pw.clone());
        client.qemu_update_config(&node, vmid, &u).await?;
        if req.start {
            let start = proxctl_client::PowerAction::Start { timeout: None };
            let t = client.qemu_power(&node, vmid, &start).await?;
            client.wait_task(&t, &proxctl_client::WaitOptions::default()).await?;
        }
    }
    Ok(Created { vmid, node, plan, report })
}
