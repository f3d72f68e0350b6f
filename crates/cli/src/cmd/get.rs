//! `proxctl get <kind> [NAME] [-l TAGS]`.

use proxctl_client::Client;
use proxctl_ops::output::render;
use proxctl_ops::views::{self, GuestRow};
use proxctl_types::wire::split_tags;

use crate::exit::UserError;
use crate::flags::{GetArgs, GetKind};
use crate::settings::Resolved;

/// Guests matching the optional name/VMID and the tag selector.
fn filter_guests(rows: Vec<GuestRow>, name: Option<&str>, selector: Option<&str>) -> Vec<GuestRow> {
    let want: Vec<String> =
        selector.map(|s| split_tags(s).map(str::to_ascii_lowercase).collect()).unwrap_or_default();
    rows.into_iter()
        .filter(|g| name.is_none_or(|n| g.name == n || g.vmid.to_string() == n))
        .filter(|g| want.iter().all(|t| g.tags.iter().any(|have| have == t)))
        .collect()
}

pub async fn run(r: &Resolved, client: &Client, a: GetArgs) -> anyhow::Result<()> {
    let name = a.name.as_deref();
    let sel = a.selector.as_deref();
    if sel.is_some() && !matches!(a.kind, GetKind::Vms | GetKind::Containers | GetKind::Templates) {
        return Err(UserError(
            "-l selects guests by tag; use it with vms, containers or templates".into(),
        )
        .into());
    }
    let out = match a.kind {
        GetKind::Nodes => {
            let rows = views::nodes(client)
                .await?
                .into_iter()
                .filter(|n| name.is_none_or(|x| n.node == x))
                .collect::<Vec<_>>();
            render(&rows, r.output)?
        }
        GetKind::Vms => render(
            &filter_guests(views::guests(client, Some("qemu"), false).await?, name, sel),
            r.output,
        )?,
        GetKind::Containers => render(
            &filter_guests(views::guests(client, Some("lxc"), false).await?, name, sel),
            r.output,
        )?,
        GetKind::Templates => {
            render(&filter_guests(views::guests(client, None, true).await?, name, sel), r.output)?
        }
        GetKind::Storage => {
            let rows = views::storage(client)
                .await?
                .into_iter()
                .filter(|s| name.is_none_or(|x| s.storage == x))
                .collect::<Vec<_>>();
            render(&rows, r.output)?
        }
        GetKind::Tasks => render(&views::tasks(client, false).await?, r.output)?,
        GetKind::Snapshots => {
            let target = name.ok_or_else(|| {
                UserError("get snapshots needs a guest: proxctl get snapshots NAME".into())
            })?;
            let g = proxctl_ops::guest::resolve_guest(client, target).await?;
            render(&views::snapshots(client, &g).await?, r.output)?
        }
        GetKind::Backups => {
            let rows = views::backups(client).await?;
            let rows: Vec<_> = match name {
                Some(n) => {
                    let g = proxctl_ops::guest::resolve_guest(client, n).await?;
                    rows.into_iter().filter(|b| b.vmid == Some(g.vmid.get())).collect()
                }
                None => rows,
            };
            render(&rows, r.output)?
        }
    };
    if out.is_empty()
        || out.lines().count() <= 1
            && matches!(
                r.output,
                proxctl_ops::output::Format::Table | proxctl_ops::output::Format::Wide
            )
    {
        eprintln!("no resources found");
    }
    out!("{out}");
    Ok(())
}
