//! `proxctl backup …`.

use proxctl_client::Client;
use proxctl_client::endpoints::storage::VzdumpRequest;
use proxctl_ops::backup::{self as backups, BackupFilter, Mark};
use proxctl_ops::output::render;
use proxctl_types::prop::PruneBackups;

use crate::cmd::{confirm, wait};
use crate::exit::PartialFailure;
use crate::flags::BackupCommand;
use crate::settings::Resolved;

pub async fn run(r: &Resolved, client: &Client, c: BackupCommand) -> anyhow::Result<()> {
    match c {
        BackupCommand::Create { target, storage, mode, compress, notes_template, protected } => {
            let g = proxctl_ops::resolve_guest(client, &target).await?;
            let req = VzdumpRequest {
                vmids: vec![g.vmid],
                storage,
                mode: Some(mode),
                compress: Some(compress),
                notes_template,
                protected,
                ..Default::default()
            };
            match backups::create(client, &g.node, &req).await? {
                Some(u) => wait(r, client, &u, &format!("back up {}", g.label())).await,
                None => {
                    eprintln!("nothing to back up: {} is not on {}", g.label(), g.node);
                    Ok(())
                }
            }
        }
        BackupCommand::List { target, node, storage } => {
            let f = filter(client, target, node, storage).await?;
            out!("{}", render(&backups::list(client, &f).await?, r.output)?);
            Ok(())
        }
        BackupCommand::Protect { volid } => {
            backups::set_protected(client, &volid, true).await?;
            eprintln!("{volid} is protected");
            Ok(())
        }
        BackupCommand::Unprotect { volid } => {
            backups::set_protected(client, &volid, false).await?;
            eprintln!("{volid} is no longer protected");
            Ok(())
        }
        BackupCommand::Notes { volid, notes } => {
            backups::set_notes(client, &volid, &notes).await?;
            eprintln!("notes of {volid} updated");
            Ok(())
        }
        BackupCommand::Delete { volid } => {
            confirm(r, &format!("delete backup {volid}"))?;
            if r.dry_run {
                return Ok(());
            }
            backups::delete(client, &volid).await?;
            eprintln!("deleted {volid}");
            Ok(())
        }
        BackupCommand::Restore { volid, vmid, storage } => {
            let (vmid, u) = backups::restore(client, &volid, vmid, storage.as_ref()).await?;
            wait(r, client, &u, &format!("restore {volid} as {vmid}")).await
        }
        BackupCommand::Prune { target, storage, keep } => {
            let opts = PruneBackups::from(keep);
            let f = filter(client, target, None, storage).await?;
            let plan = backups::prune_plan(client, &f, &opts).await?;
            let doomed = plan.iter().filter(|p| p.mark == Mark::Remove).count();
            if r.dry_run || doomed == 0 {
                out!("{}", render(&plan, r.output)?);
                if doomed == 0 {
                    eprintln!("nothing to prune");
                }
                return Ok(());
            }
            if !r.yes {
                eprintln!("{}", render(&plan, proxctl_ops::output::Format::Table)?);
            }
            confirm(r, &format!("prune {doomed} backup(s) ({opts})"))?;
            let done = backups::prune_execute(client, plan).await;
            out!("{}", render(&done, r.output)?);
            let failed =
                done.iter().filter(|p| p.mark == Mark::Remove && p.result != "deleted").count();
            if failed > 0 {
                return Err(PartialFailure(format!(
                    "{failed} backup(s) could not be deleted; see the report above"
                ))
                .into());
            }
            Ok(())
        }
    }
}

async fn filter(
    client: &Client,
    target: Option<String>,
    node: Option<proxctl_types::NodeName>,
    storage: Option<proxctl_types::StorageId>,
) -> anyhow::Result<BackupFilter> {
    let vmid = match target {
        Some(t) => Some(proxctl_ops::resolve_guest(client, &t).await?.vmid),
        None => None,
    };
    Ok(BackupFilter { vmid, node, storage })
}
