//! VMs created straight from an image (no template): PVE imports it as the boot disk.

use super::*;

/// A VM created directly from an `import` volume: PVE imports the image as `scsi0`, and the
/// VM gets what a template build gives (cloud-init drive, serial console, agent, boot order)
/// plus the spec's settings, in one create call.
#[allow(clippy::too_many_arguments)] // the same inputs as create_vm
pub(super) fn create_vm_from_image(
    key: &str,
    name: &str,
    spec: &VmSpec,
    image: &str,
    vmid: u32,
    obs: &Observed,
    hash: &str,
    pools: &BTreeMap<&str, &IpPoolSpec>,
    ipam: &mut Ipam<'_>,
) -> Result<Change, String> {
    let node = spec
        .node
        .clone()
        .or_else(|| spec.allowed_nodes.first().cloned())
        .or_else(|| obs.nodes.first().cloned())
        .ok_or("no online node to create it on")?;
    if !obs.nodes.is_empty() && !obs.nodes.contains(&node) {
        return Err(format!("node {node} is not online (online: {})", obs.nodes.join(", ")));
    }
    let storage = spec.storage.clone().unwrap_or_else(|| "local-lvm".into());
    let want = desired_config(key, name, vmid, spec, None, &[], pools, ipam)?;
    let diffs: Vec<FieldDiff> = want
        .values
        .iter()
        .filter(|(k, _)| *k != "description" || spec.description.is_some())
        .map(|(k, (v, _))| FieldDiff {
            field: k.clone(),
            from: None,
            to: Some(shown_value(k, v)),
            reboot: false,
        })
        .collect();
    let mut params: BTreeMap<String, String> =
        want.values.into_iter().map(|(k, (v, _))| (k, v)).collect();
    params.insert("scsi0".into(), format!("{storage}:0,import-from={image},iothread=1"));
    params.insert("scsihw".into(), "virtio-scsi-single".into());
    // A seed ISO is attached after the VM exists (below), so a crash in between leaves a VM
    // the next plan finishes, never an ISO nobody owns.
    let seed_ide2 = if want.seed.is_some() {
        params.remove("ide2")
    } else {
        params.entry("ide2".into()).or_insert_with(|| format!("{storage}:cloudinit,media=cdrom"));
        None
    };
    params.insert("serial0".into(), "socket".into());
    params.insert("vga".into(), "serial0".into());
    params.insert("boot".into(), "order=scsi0".into());
    params.insert("agent".into(), "1".into());
    params.entry("net0".into()).or_insert_with(|| "virtio,bridge=vmbr0".into());
    if let Some(p) = &spec.pool {
        params.insert("pool".into(), p.clone());
    }
    let mut steps: Vec<Step> = want
        .allocations
        .iter()
        .map(|(pool, ip)| Step::AllocateIp { pool: pool.clone(), ip: *ip })
        .collect();
    steps.push(Step::CreateVm { node: node.clone(), vmid, params });
    steps.push(Step::Record {
        vmid: Some(vmid),
        node: Some(node.clone()),
        spec_hash: hash.into(),
        expect_running: spec.start == Some(true),
        spec: None,
    });
    if let (Some(sd), Some(ide2)) = (&want.seed, seed_ide2) {
        steps.push(Step::SeedIso {
            node: node.clone(),
            storage: sd.storage.clone(),
            filename: sd.filename.clone(),
            files: sd.files.clone(),
        });
        steps.push(Step::Configure {
            node: node.clone(),
            vmid,
            set: [("ide2".to_string(), ide2)].into(),
            delete: Vec::new(),
            lxc: false,
        });
    }
    let mut diffs = diffs;
    let mut set = BTreeMap::new();
    // The imported disk has the image's size; grow it to what the spec asks.
    for (slot, d) in &spec.disks {
        if slot == "scsi0" {
            let size: DiskSize = d.size.parse().map_err(|_| format!("bad size {}", d.size))?;
            diffs.push(FieldDiff {
                field: "disks.scsi0.size".into(),
                from: None,
                to: Some(size.to_string()),
                reboot: false,
            });
            steps.push(Step::Resize {
                node: node.clone(),
                vmid,
                disk: "scsi0".into(),
                size: size.to_string(),
                lxc: false,
            });
        } else {
            let other = disk_steps(
                &VmSpec { disks: [(slot.clone(), d.clone())].into(), ..spec.clone() },
                None,
                &node,
                vmid,
                &mut diffs,
                &mut set,
            )?;
            steps.extend(other);
        }
    }
    if !set.is_empty() {
        steps.push(Step::Configure {
            node: node.clone(),
            vmid,
            set,
            delete: Vec::new(),
            lxc: false,
        });
    }
    Ok(finish_create(key, spec, node, vmid, diffs, steps, format!("from image {image}")))
}
