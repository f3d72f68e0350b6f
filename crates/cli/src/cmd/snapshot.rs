//! `proxctl snapshot …`.

use std::collections::BTreeMap;

use proxctl_client::Client;
use proxctl_ops::output::render;
use proxctl_ops::snapshot as snaps;
use proxctl_types::selector::Selector;

use crate::cmd::{confirm, wait};
use crate::exit::UserError;
use crate::flags::SnapshotCommand;
use crate::settings::Resolved;

fn selector(s: &str) -> anyhow::Result<Selector> {
    s.parse::<Selector>().map_err(|e| {
        UserError(format!("{e}; see `proxctl get --help` for the selector language")).into()
    })
}

pub async fn run(r: &Resolved, client: &Client, c: SnapshotCommand) -> anyhow::Result<()> {
    match c {
        SnapshotCommand::Create { target, name, ttl, description, ram } => {
            let g = proxctl_ops::resolve_guest(client, &target).await?;
            let ttl = ttl.as_deref().map(snaps::parse_ttl).transpose()?;
            let u =
                snaps::create(client, Some(&r.state), &g, &name, description.as_deref(), ttl, ram)
                    .await?;
            wait(r, client, &u, &format!("snapshot {} as {name}", g.label())).await
        }
        SnapshotCommand::List { target } => {
            let g = proxctl_ops::resolve_guest(client, &target).await?;
            let list = snaps::list(client, &g).await?;
            if r.output != proxctl_ops::output::Format::Table {
                out!("{}", render(&proxctl_ops::views::snapshots(client, &g).await?, r.output)?);
                return Ok(());
            }
            let parents: BTreeMap<&str, Option<&str>> =
                list.iter().map(|s| (s.name.as_str(), s.parent.as_deref())).collect();
            for s in &list {
                let mut depth = 0;
                let mut p = s.parent.as_deref();
                while let Some(name) = p {
                    depth += 1;
                    p = parents.get(name).copied().flatten();
                    if depth > parents.len() {
                        break;
                    }
                }
                let expiry = snaps::expiry_of(&s.description)
                    .and_then(|e| jiff::Timestamp::from_second(e).ok())
                    .map(|t| format!("  (expires {t})"))
                    .unwrap_or_default();
                let first = s
                    .description
                    .lines()
                    .find(|l| !l.starts_with(snaps::EXPIRES_PREFIX))
                    .unwrap_or("");
                outln!("{}{}  {}{}", "  ".repeat(depth), s.name, first, expiry);
            }
            Ok(())
        }
        SnapshotCommand::Delete { target, pattern } => {
            let g = proxctl_ops::resolve_guest(client, &target).await?;
            confirm(r, &format!("delete snapshots '{pattern}' of {}", g.label()))?;
            let gone = snaps::delete_matching(client, Some(&r.state), &g, &pattern).await?;
            if gone.is_empty() {
                return Err(
                    UserError(format!("no snapshot of {} matches '{pattern}'", g.label())).into()
                );
            }
            outln!("deleted: {}", gone.join(", "));
            Ok(())
        }
        SnapshotCommand::Rollback { target, name, start } => {
            let g = proxctl_ops::resolve_guest(client, &target).await?;
            confirm(r, &format!("roll {} back to {name} (changes since are lost)", g.label()))?;
            let u = client.snapshot_rollback(g.kind, &g.node, g.vmid, &name, start).await?;
            wait(r, client, &u, &format!("rollback {} to {name}", g.label())).await
        }
        SnapshotCommand::Sweep { selector: s } => {
            let report =
                snaps::sweep(client, Some(&r.state), &selector(&s)?, snaps::now_unix(), r.dry_run)
                    .await?;
            finish(r, &report)
        }
        SnapshotCommand::Rotate { selector: s, keep, prefix } => {
            let report = snaps::rotate(client, &selector(&s)?, &prefix, keep, r.dry_run).await?;
            finish(r, &report)
        }
    }
}

fn finish(r: &Resolved, report: &[snaps::Removal]) -> anyhow::Result<()> {
    if report.is_empty() {
        eprintln!("nothing to delete");
        return Ok(());
    }
    out!("{}", render(report, r.output)?);
    let failed = report.iter().filter(|x| x.result.starts_with("FAILED")).count();
    if failed > 0 {
        return Err(crate::exit::PartialFailure(format!(
            "{failed} snapshot(s) could not be deleted"
        ))
        .into());
    }
    Ok(())
}
