//! The planners of guest kinds, VirtualMachine and Container: each declared guest is updated
//! where proxctl owns one (by state record, else by marker) or created with a fresh VMID; a
//! managed guest nothing declares is deleted with `--prune`, else warned about.

use super::*;

/// VirtualMachine resources (see [`super::vm`]).
pub(super) struct VirtualMachines;
/// Container resources (see [`super::ct`]).
pub(super) struct Containers;

impl KindPlanner for VirtualMachines {
    fn plan(&self, cx: &mut Context<'_>, d: &Declared) -> Result<Option<Change>, String> {
        let Body::VirtualMachine { metadata, spec } = &d.body else { return Ok(None) };
        let key = d.key();
        let hash = spec_hash(&d.body);
        let change = match cx.owner.get(&key) {
            Some(g) => update_vm(&key, &metadata.name, spec, g, &hash, &cx.pools, &mut cx.ipam)?,
            None => {
                if let Some(g) = cx
                    .obs
                    .guests
                    .iter()
                    .find(|g| g.kind == "qemu" && g.name == metadata.name && !g.template)
                {
                    cx.warnings.push(format!(
                        "{key}: a VM named {} exists (VMID {}) but proxctl does not manage it; \
                         a new one will be created. To take the existing one over, run \
                         `proxctl adopt`",
                        g.name, g.vmid
                    ));
                }
                let vmid = cx.vmids.take();
                cx.new_vmids.push(vmid);
                create_vm(&key, &metadata.name, spec, vmid, cx.obs, &hash, &cx.pools, &mut cx.ipam)?
            }
        };
        Ok(Some(change))
    }

    fn stale(&self, cx: &mut Context<'_>, key: &str) -> Option<Change> {
        stale_guest(cx, key)
    }
}

impl KindPlanner for Containers {
    fn plan(&self, cx: &mut Context<'_>, d: &Declared) -> Result<Option<Change>, String> {
        let Body::Container { metadata, spec } = &d.body else { return Ok(None) };
        let key = d.key();
        let hash = spec_hash(&d.body);
        let change = match cx.owner.get(&key) {
            Some(g) => update_ct(&key, &metadata.name, spec, g, &hash)?,
            None => {
                let vmid = cx.vmids.take();
                cx.new_vmids.push(vmid);
                create_ct(&key, &metadata.name, spec, vmid, cx.obs, &hash)?
            }
        };
        Ok(Some(change))
    }

    fn stale(&self, cx: &mut Context<'_>, key: &str) -> Option<Change> {
        stale_guest(cx, key)
    }
}

/// A managed guest nothing declares: deleted with `--prune` (shut down first, its seed ISO
/// too), else a warning; a record whose guest is gone is forgotten.
fn stale_guest(cx: &mut Context<'_>, key: &str) -> Option<Change> {
    let release = cx.owner.get(key).and_then(|g| g.release());
    if cx.owner.contains_key(key) && release != cx.input.release {
        if let (Some(r), None) = (release, cx.input.release) {
            cx.warnings.push(format!(
                "{key} belongs to release {r} and is left alone; `proxctl release uninstall {r}` \
                 deletes it"
            ));
        }
        return None;
    }
    match cx.owner.get(key) {
        Some(g) if cx.input.prune => {
            let node = g.node.clone();
            let lxc = g.kind == "lxc";
            let mut steps = Vec::new();
            if g.running {
                steps.push(Step::Shutdown { node: node.clone(), vmid: g.vmid, lxc });
            }
            steps.push(Step::Destroy { node: node.clone(), vmid: g.vmid, lxc });
            if let Some(volid) = proxctl_types::managed::seed_iso_of(g.text("ide2"), g.vmid) {
                steps.push(Step::DeleteVolume { node: node.clone(), volid });
            }
            steps.push(Step::Forget);
            let protected = g
                .config
                .as_ref()
                .and_then(|c| c.get("protection"))
                .is_some_and(|v| v == 1 || v == "1");
            Some(Change {
                key: key.to_string(),
                action: Action::Delete,
                vmid: Some(g.vmid),
                node: Some(node),
                summary: {
                    let why = match cx.input.release {
                        Some(r) => format!("no longer in release {r}"),
                        None => "not declared (--prune)".to_string(),
                    };
                    if protected {
                        format!("{why}; PVE protection is on, so PVE will refuse")
                    } else {
                        why
                    }
                },
                diffs: Vec::new(),
                steps,
            })
        }
        Some(g) => {
            cx.warnings.push(format!(
                "{key} (VMID {}) is managed but no longer declared; pass --prune to delete it",
                g.vmid
            ));
            None
        }
        None => Some(Change {
            key: key.to_string(),
            action: Action::Delete,
            vmid: None,
            node: None,
            summary: "gone from the cluster; forget its record".into(),
            diffs: Vec::new(),
            steps: vec![Step::Forget],
        }),
    }
}
