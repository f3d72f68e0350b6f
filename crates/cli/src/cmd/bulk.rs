//! `proxctl bulk …` and `proxctl tag …`: pick guests with -l, confirm, run through the
//! operations layer, print a per-guest report; any failure makes the exit code non-zero.

use proxctl_client::Client;
use proxctl_ops::bulk::{self, BulkAction, Outcome};
use proxctl_ops::output::render;
use proxctl_ops::{tags, views};
use proxctl_types::selector::Selector;

use crate::cmd::confirm;
use crate::exit::{PartialFailure, UserError};
use crate::flags::{BulkArgs, BulkVerb, TagCommand};
use crate::settings::Resolved;

fn parse(sel: &str) -> anyhow::Result<Selector> {
    sel.parse::<Selector>().map_err(|e| {
        UserError(format!("{e}; see `proxctl get --help` for the selector language")).into()
    })
}

fn bulk_ttl(t: &str) -> anyhow::Result<i64> {
    proxctl_ops::snapshot::parse_ttl(t).map_err(|e| UserError(format!("--ttl {t}: {e}")).into())
}

async fn execute(
    r: &Resolved,
    client: &Client,
    sel: &Selector,
    action: BulkAction,
    parallel: usize,
) -> anyhow::Result<()> {
    let targets = bulk::targets(client, sel).await?;
    if targets.is_empty() {
        return Err(UserError(format!(
            "no guest matches '{sel}'; try `proxctl get vms -l '{sel}'`"
        ))
        .into());
    }
    if r.dry_run {
        outln!("dry run: would {} {} guest(s):", action.verb(), targets.len());
        out!("{}", render(&targets, r.output)?);
        return Ok(());
    }
    if action.stops_guests() {
        let names: Vec<&str> = targets.iter().map(|g| g.name.as_str()).take(5).collect();
        let more = if targets.len() > 5 {
            format!(" and {} more", targets.len() - 5)
        } else {
            String::new()
        };
        confirm(
            r,
            &format!("{} {} guest(s): {}{more}", action.verb(), targets.len(), names.join(", ")),
        )?;
    }
    let report =
        bulk::run_recorded(client, Some(&r.state), &targets, &action, parallel, r.force).await;
    out!("{}", render(&report, r.output)?);
    let failed = report.iter().filter(|i| i.outcome == Outcome::Failed).count();
    let refused = report.iter().filter(|i| i.outcome == Outcome::Refused).count();
    if failed > 0 {
        return Err(PartialFailure(format!(
            "{} of {} guest(s) failed; see the report above",
            failed + refused,
            report.len()
        ))
        .into());
    }
    if refused > 0 {
        // Nothing failed in PVE: safe mode said no, which is the user's to decide (exit 1).
        return Err(UserError(format!(
            "safe mode refused {refused} of {} guest(s) proxctl does not manage; pass --force to \
             act on them anyway",
            report.len()
        ))
        .into());
    }
    Ok(())
}

pub async fn run(r: &Resolved, client: &Client, a: BulkArgs) -> anyhow::Result<()> {
    let sel = parse(&a.selector)?;
    let action = match a.verb {
        BulkVerb::Start => BulkAction::Start,
        BulkVerb::Stop => BulkAction::Stop,
        BulkVerb::Shutdown => BulkAction::Shutdown,
        BulkVerb::Reboot => BulkAction::Reboot,
        BulkVerb::Delete => BulkAction::Delete,
        BulkVerb::Snapshot => BulkAction::Snapshot {
            name: a.name.ok_or_else(|| UserError("bulk snapshot needs --name".into()))?,
            expires: match a.ttl.as_deref() {
                Some(t) => Some(proxctl_ops::snapshot::now_unix() + bulk_ttl(t)?),
                None => None,
            },
        },
        BulkVerb::Backup => BulkAction::Backup(a.storage),
        BulkVerb::Tag => {
            if a.add.is_empty() && a.remove.is_empty() {
                return Err(UserError("bulk tag needs --add and/or --remove".into()).into());
            }
            tags::validate(&a.add)?;
            BulkAction::Tag { add: a.add, remove: a.remove }
        }
    };
    execute(r, client, &sel, action, a.parallel).await
}

pub async fn tag(r: &Resolved, client: &Client, c: TagCommand) -> anyhow::Result<()> {
    match c {
        TagCommand::Add { selector, tags: t } => {
            tags::validate(&t)?;
            execute(
                r,
                client,
                &parse(&selector)?,
                BulkAction::Tag { add: t, remove: Vec::new() },
                4,
            )
            .await
        }
        TagCommand::Remove { selector, tags: t } => {
            execute(
                r,
                client,
                &parse(&selector)?,
                BulkAction::Tag { add: Vec::new(), remove: t },
                4,
            )
            .await
        }
        TagCommand::Replace { selector, tags: t } => {
            tags::validate(&t)?;
            let sel = parse(&selector)?;
            // Replace = remove everything the guest has, then add the new set.
            let targets = bulk::targets(client, &sel).await?;
            let all: Vec<String> = targets.iter().flat_map(|g| g.tags.clone()).collect();
            execute(r, client, &sel, BulkAction::Tag { add: t, remove: all }, 4).await
        }
        TagCommand::Stats { selector } => {
            let sel = selector.as_deref().map(parse).transpose()?;
            let guests: Vec<_> = views::guests(client, None, false)
                .await?
                .into_iter()
                .filter(|g| sel.as_ref().is_none_or(|s| g.selected_by(s)))
                .collect();
            out!("{}", render(&tags::stats(&guests), r.output)?);
            Ok(())
        }
    }
}
