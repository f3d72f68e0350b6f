//! `proxctl get <kind>`.

use proxctl_client::Client;
use proxctl_ops::output::render;
use proxctl_ops::views;

use crate::flags::{GetArgs, GetKind};
use crate::settings::Resolved;

pub async fn run(r: &Resolved, client: &Client, a: GetArgs) -> anyhow::Result<()> {
    let out = match a.kind {
        GetKind::Nodes => render(&views::nodes(client).await?, r.output)?,
        GetKind::Vms => render(&views::guests(client, Some("qemu"), false).await?, r.output)?,
        GetKind::Containers => render(&views::guests(client, Some("lxc"), false).await?, r.output)?,
        GetKind::Templates => render(&views::guests(client, None, true).await?, r.output)?,
        GetKind::Storage => render(&views::storage(client).await?, r.output)?,
        GetKind::Tasks => render(&views::tasks(client, false).await?, r.output)?,
    };
    print!("{out}");
    Ok(())
}
