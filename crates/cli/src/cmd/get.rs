//! `proxctl get <kind> [NAME] [-l SELECTOR]`.

use proxctl_client::Client;
use proxctl_ops::cluster_views;
use proxctl_ops::output::render;
use proxctl_ops::views::{self, GuestRow};
use proxctl_types::selector::Selector;

use crate::exit::UserError;
use crate::flags::{GetArgs, GetKind};
use crate::settings::Resolved;

/// Guests matching the optional name/VMID and the `-l` selector.
fn filter_guests(
    rows: Vec<GuestRow>,
    name: Option<&str>,
    selector: Option<&Selector>,
) -> Vec<GuestRow> {
    rows.into_iter()
        .filter(|g| name.is_none_or(|n| g.name == n || g.vmid.to_string() == n))
        .filter(|g| selector.is_none_or(|s| g.selected_by(s)))
        .collect()
}

pub async fn run(r: &Resolved, client: &Client, a: GetArgs) -> anyhow::Result<()> {
    let name = a.name.as_deref();
    let parsed = match &a.selector {
        Some(text) => Some(text.parse::<Selector>().map_err(|e| {
            UserError(format!("{e}; see `proxctl get --help` for the selector language"))
        })?),
        None => None,
    };
    let sel = parsed.as_ref();
    if sel.is_some()
        && !matches!(
            a.kind,
            GetKind::Vms | GetKind::Containers | GetKind::Templates | GetKind::BackupCoverage
        )
    {
        return Err(UserError(
            "-l selects guests; use it with vms, containers, templates or backup-coverage".into(),
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
        GetKind::BackupCoverage => {
            let max_age = proxctl_ops::snapshot::parse_ttl(&a.max_age)
                .map_err(|e| UserError(format!("--max-age: {e}")))?;
            let all = Selector::Term(proxctl_types::selector::Term::All);
            // The jobs that cover guests live in the state store; without one, none are named.
            let jobs = proxctl_ops::jobs::list(&r.state).await.unwrap_or_default();
            let now = jiff::Timestamp::now().as_second();
            let rows =
                proxctl_ops::coverage::coverage(client, &jobs, sel.unwrap_or(&all), max_age, now)
                    .await?;
            render(&rows, r.output)?
        }
        GetKind::Networks => {
            let rows = cluster_views::networks(client)
                .await?
                .into_iter()
                .filter(|n| name.is_none_or(|x| n.node == x || n.iface == x))
                .collect::<Vec<_>>();
            render(&rows, r.output)?
        }
        GetKind::Sdn => render(&cluster_views::sdn(client).await?, r.output)?,
        GetKind::Ha => render(&cluster_views::ha(client).await?, r.output)?,
        GetKind::Cluster => render(&cluster_views::cluster_status(client).await?, r.output)?,
    };
    // Empty: no header on stdout, the reason on stderr, exit 0; JSON and YAML print `[]`.
    if out.is_empty() {
        eprintln!("No resources found.");
    }
    out!("{out}");
    Ok(())
}
