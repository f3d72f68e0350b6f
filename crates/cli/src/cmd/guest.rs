//! `proxctl vm|ct <verb> <name-or-vmid>`.

use proxctl_client::{Client, DeleteOptions, PowerAction};
use proxctl_ops::guest::{self, expect_kind, is_destructive};
use proxctl_types::messages::GuestKind;

use crate::cmd::{confirm, wait};
use crate::flags::{GuestArgs, GuestVerb};
use crate::settings::Resolved;

pub async fn run(
    r: &Resolved,
    client: &Client,
    kind: GuestKind,
    a: GuestArgs,
) -> anyhow::Result<()> {
    let g = guest::resolve_guest(client, &a.target).await?;
    expect_kind(&g, kind)?;
    let action = match a.verb {
        GuestVerb::Describe => {
            let cfg = match kind {
                GuestKind::Qemu => client.qemu_config(&g.node, g.vmid).await?,
                GuestKind::Lxc => client.lxc_config(&g.node, g.vmid).await?,
            };
            let status = match kind {
                GuestKind::Qemu => client.qemu_status(&g.node, g.vmid).await?,
                GuestKind::Lxc => client.lxc_status(&g.node, g.vmid).await?,
            };
            let doc = serde_json::json!({ "guest": g, "status": status, "config": cfg });
            match r.output {
                proxctl_ops::output::Format::Json => {
                    println!("{}", serde_json::to_string_pretty(&doc)?)
                }
                _ => print!("{}", serde_yaml_ng_string(&doc)?),
            }
            return Ok(());
        }
        GuestVerb::Delete => {
            confirm(r, &format!("delete {}", g.label()))?;
            let upid = guest::delete(
                client,
                &g,
                &DeleteOptions { purge: a.purge, ..DeleteOptions::default() },
            )
            .await?;
            return wait(r, client, &upid, &format!("delete {}", g.label())).await;
        }
        GuestVerb::Start => PowerAction::Start { timeout: None },
        GuestVerb::Stop => PowerAction::Stop { timeout: None },
        GuestVerb::Shutdown => PowerAction::Shutdown { timeout: None, force_stop: false },
        GuestVerb::Reboot => PowerAction::Reboot { timeout: None },
        GuestVerb::Reset => PowerAction::Reset,
        GuestVerb::Suspend => PowerAction::Suspend { todisk: false },
        GuestVerb::Resume => PowerAction::Resume,
    };
    let what = format!("{} {}", action.verb(), g.label());
    if is_destructive(&action) {
        confirm(r, &what)?;
    }
    let upid = guest::power(client, &g, &action).await?;
    wait(r, client, &upid, &what).await
}

fn serde_yaml_ng_string(v: &serde_json::Value) -> anyhow::Result<String> {
    proxctl_ops::output::to_yaml(v).map_err(Into::into)
}
