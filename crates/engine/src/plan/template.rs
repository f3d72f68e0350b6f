//! The Template planner: a build with its VMID decided now, and a stand-in guest that VMs in
//! the same plan can clone.

use super::*;

/// A Template resource: nothing to do when some version exists (rebuilds are explicit, since
/// only the network can tell whether upstream changed); otherwise a build with its VMID
/// decided now, and a stand-in for the future template that VMs in this plan can clone.
pub(super) fn plan_template(
    key: &str,
    name: &str,
    spec: &crate::manifest::TemplateSpec,
    input: &PlanInput<'_>,
    vmids: &mut Vmids,
) -> Result<(Change, Option<ObservedGuest>), String> {
    let tag = format!("tpl-{name}");
    let newest = input
        .observed
        .guests
        .iter()
        .filter(|g| g.template && g.tags.contains(&tag))
        .max_by(|a, b| a.name.cmp(&b.name));
    if let Some(g) = newest {
        let change = Change {
            key: key.into(),
            action: Action::Noop,
            vmid: Some(g.vmid),
            node: Some(g.node.clone()),
            summary: format!(
                "version {} exists; `proxctl template rebuild` checks upstream",
                g.name
            ),
            diffs: Vec::new(),
            steps: Vec::new(),
        };
        return Ok((change, None));
    }
    let catalog = input.catalog.ok_or("no image catalog was given to the planner")?;
    let entry = catalog.get(&spec.image).ok_or_else(|| {
        format!("image '{}' is not in the catalog; see `proxctl image list`", spec.image)
    })?;
    if !input.observed.nodes.is_empty() && !input.observed.nodes.contains(&spec.node) {
        return Err(format!("node {} is not online", spec.node));
    }
    let vmid = vmids.take_from(proxctl_types::ids::TEMPLATE_VMID_FLOOR);
    let vm_storage = spec.vm_storage.clone().unwrap_or_else(|| "local-lvm".into());
    let size = spec.disk_size.clone().unwrap_or_else(|| entry.disk_size.clone());
    let mut config = proxctl_types::api::GuestConfig::new();
    config.insert(
        "scsi0".into(),
        serde_json::json!(format!("{vm_storage}:base-{vmid}-disk-0,size={size}")),
    );
    let stand_in = ObservedGuest {
        vmid,
        node: spec.node.clone(),
        kind: "qemu".into(),
        name: name.into(),
        template: true,
        running: false,
        tags: vec![tag],
        pool: None,
        ha_state: None,
        config: Some(config),
    };
    let change = Change {
        key: key.into(),
        action: Action::Create,
        vmid: Some(vmid),
        node: Some(spec.node.clone()),
        summary: format!("build from {} ({} {})", entry.id, entry.distro, entry.version),
        diffs: vec![FieldDiff {
            field: "image".into(),
            from: None,
            to: Some(entry.id.clone()),
            reboot: false,
        }],
        steps: vec![Step::BuildTemplate {
            name: name.into(),
            vmid,
            node: spec.node.clone(),
            entry: Box::new(entry.clone()),
            storage: spec.storage.clone().unwrap_or_else(|| "local".into()),
            vm_storage,
            disk_size: spec.disk_size.clone(),
            keep: spec.keep.unwrap_or(3),
        }],
    };
    Ok((change, Some(stand_in)))
}

/// Template resources, planned before any guest (see [`plan_template`]).
pub(super) struct Templates;

impl KindPlanner for Templates {
    fn prepare(&self, cx: &mut Prepare<'_>, d: &Declared) -> Result<Option<Change>, String> {
        let Body::Template { metadata, spec } = &d.body else { return Ok(None) };
        let (change, synthetic) =
            plan_template(&d.key(), &metadata.name, spec, cx.input, &mut cx.vmids)?;
        if let Some(g) = synthetic {
            cx.new_vmids.push(g.vmid);
            cx.pending.push(g);
        }
        Ok(Some(change))
    }

    fn plan(&self, _: &mut Context<'_>, _: &Declared) -> Result<Option<Change>, String> {
        Ok(None)
    }
}
