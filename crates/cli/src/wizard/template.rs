//! The `template build` wizard: a distro from the catalog (searched by words), the node, the
//! storage the image is imported from and the one the template's disk goes to (each with its
//! free space and content types), the disk size and the stable name.

use proxctl_client::Client;
use proxctl_images::catalog::Entry;
use proxctl_ops::choices;

use super::{Memory, Ui, WizardError, pick, shell_word, text};
use crate::flags::TemplateSource;
use crate::settings::Resolved;

/// Ask for what `a` lacks; returns the completed arguments once the user confirmed them.
pub async fn run(
    ui: &mut dyn Ui,
    r: &Resolved,
    client: &Client,
    mut a: TemplateSource,
) -> anyhow::Result<TemplateSource> {
    let env = |k: &str| std::env::var(k).ok();
    let mut memory = Memory::load(Memory::default_path(&env), &r.profile_name, "template-build");
    let catalog = proxctl_ops::image::catalog(&env)?;
    ui.say("Build a template from a cloud image. Defaults are in [brackets]; nothing changes before you confirm.");

    let entry = match a.entry.as_deref().and_then(|id| catalog.get(id)) {
        Some(e) => e.clone(),
        None => pick_image(ui, &catalog, memory.get("image"))?,
    };
    a.entry = Some(entry.id.clone());
    let nodes = choices::nodes(client).await?;
    let want = memory.get("node").or(r.node_default());
    let node = super::pick_node(ui, &nodes, a.node.as_ref(), want)?;
    a.node = Some(node.node.clone());
    if a.storage.is_none() {
        let want = memory.get("storage").unwrap_or("local").to_string();
        a.storage = Some(
            super::pick_storage(
                ui,
                client,
                &node,
                "import",
                "Storage to import the image from",
                Some(&want),
            )
            .await
            .map_err(|e| e.context("PVE 8.4 or later has 'import' content"))?,
        );
    }
    if a.vm_storage.is_none() {
        let profile = client.settings().default_storage.clone();
        let want =
            memory.get("vm_storage").or(profile.as_deref()).unwrap_or("local-lvm").to_string();
        a.vm_storage = Some(
            super::pick_storage(
                ui,
                client,
                &node,
                "images",
                "Storage for the template's disk",
                Some(&want),
            )
            .await?,
        );
    }
    if a.disk_size.is_none() {
        let size = text(ui, "Disk size", Some(&entry.disk_size), |v| {
            v.parse::<proxctl_types::wire::DiskSize>()
                .map(|_| v.to_string())
                .map_err(|e| e.to_string())
        })?;
        a.disk_size = Some(size);
    }
    if a.name.is_none() {
        let name = text(ui, "Template name (VMs clone it by this name)", Some(&entry.id), |n| {
            if proxctl_types::ids::is_dns_name(n) {
                Ok(n.to_string())
            } else {
                Err("use letters, digits and '-' (a DNS name), e.g. debian-12".into())
            }
        })?;
        a.name = Some(name);
    }

    let name = a.name.clone().unwrap_or_else(|| entry.id.clone());
    let spec = proxctl_engine::manifest::TemplateSpec {
        image: entry.id.clone(),
        node: node.node.to_string(),
        storage: a.storage.as_ref().map(ToString::to_string),
        vm_storage: a.vm_storage.as_ref().map(ToString::to_string),
        disk_size: a.disk_size.clone(),
        keep: Some(a.keep),
    };
    let manifest = proxctl_engine::imperative::template_manifest(&name, &spec)?;
    super::confirm(
        ui,
        &format!("Build template {name} from {}?", entry.id),
        &command_line(&a),
        &manifest,
        r.yes,
    )?;
    memory.set("image", entry.id.clone());
    memory.set("node", node.node.to_string());
    if let Some(s) = &a.storage {
        memory.set("storage", s.to_string());
    }
    if let Some(s) = &a.vm_storage {
        memory.set("vm_storage", s.to_string());
    }
    if let Err(e) = memory.save() {
        ui.say(&format!("note: could not remember these choices: {e}"));
    }
    Ok(a)
}

/// Search the catalog by words, then pick from what matches.
fn pick_image(
    ui: &mut dyn Ui,
    catalog: &proxctl_images::catalog::Catalog,
    remembered: Option<&str>,
) -> Result<Entry, WizardError> {
    let matches: Vec<Entry> = text(
        ui,
        "Distro: words to search the catalog (e.g. 'debian 12', 'rocky arm64'), empty for all",
        remembered,
        |q| {
            let found: Vec<Entry> = if q.is_empty() {
                catalog.entries().cloned().collect()
            } else {
                catalog.search(q).into_iter().cloned().collect()
            };
            if found.is_empty() {
                Err(format!(
                    "nothing in the catalog matches '{q}'; try a distro such as debian, ubuntu or rocky"
                ))
            } else {
                Ok(found)
            }
        },
    )?;
    if let [only] = matches.as_slice() {
        ui.say(&format!("Image: {} ({})", only.id, describe(only)));
        return Ok(only.clone());
    }
    let items: Vec<(String, String)> =
        matches.iter().map(|e| (e.id.clone(), describe(e))).collect();
    let default = remembered.and_then(|m| items.iter().position(|(n, _)| n == m));
    Ok(matches[pick(ui, "Image", &items, default.or(Some(0)))?].clone())
}

fn describe(e: &Entry) -> String {
    let mut d = format!("{} {} {}, user {}", e.distro, e.version, e.arch, e.default_user);
    if e.ignition {
        d.push_str(", Ignition (no cloud-init)");
    }
    d
}

/// The non-interactive command for the same build.
fn command_line(a: &TemplateSource) -> String {
    let mut w = vec!["proxctl".to_string(), "template".into(), "build".into()];
    if let Some(e) = &a.entry {
        w.push(shell_word(e));
    }
    let mut flag = |f: &str, v: Option<String>| {
        if let Some(v) = v {
            w.push(format!("--{f}"));
            w.push(shell_word(&v));
        }
    };
    flag("name", a.name.clone());
    flag("node", a.node.as_ref().map(ToString::to_string));
    flag("storage", a.storage.as_ref().map(ToString::to_string));
    flag("vm-storage", a.vm_storage.as_ref().map(ToString::to_string));
    flag("disk-size", a.disk_size.clone());
    if a.via != "auto" {
        flag("via", Some(a.via.clone()));
    }
    if a.keep != 3 {
        flag("keep", Some(a.keep.to_string()));
    }
    w.join(" ")
}
