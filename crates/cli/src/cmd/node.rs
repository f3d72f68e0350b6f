//! `proxctl node drain|undrain`.

use proxctl_client::Client;
use proxctl_ops::bulk::Outcome;
use proxctl_ops::output::render;

use crate::cmd::confirm;
use crate::exit::PartialFailure;
use crate::flags::NodeCommand;
use crate::settings::Resolved;

pub async fn run(r: &Resolved, client: &Client, c: NodeCommand) -> anyhow::Result<()> {
    let report = match c {
        NodeCommand::Drain { node, to } => {
            let target = match to {
                Some(t) => t,
                None => proxctl_ops::migrate::pick_drain_target(client, &node).await?,
            };
            if !r.dry_run {
                confirm(
                    r,
                    &format!(
                        "drain {node}: move maint-ok guests to {target} and shut down the other running guests"
                    ),
                )?;
            }
            proxctl_ops::migrate::drain(client, &node, &target, r.force, r.dry_run).await?
        }
        NodeCommand::Undrain { node } => {
            proxctl_ops::migrate::undrain(client, &node, r.dry_run).await?
        }
    };
    if report.is_empty() {
        eprintln!("nothing to do");
        return Ok(());
    }
    out!("{}", render(&report, r.output)?);
    let failed = report.iter().filter(|i| i.outcome == Outcome::Failed).count();
    if failed > 0 {
        return Err(
            PartialFailure(format!("{failed} guest(s) failed; see the report above")).into()
        );
    }
    Ok(())
}
