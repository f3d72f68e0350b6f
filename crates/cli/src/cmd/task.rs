//! `proxctl task list|logs|wait|stop`.

use anyhow::Context;
use proxctl_client::Client;
use proxctl_ops::output::render;
use proxctl_ops::views;
use proxctl_types::Upid;

use crate::cmd::wait;
use crate::exit::UserError;
use crate::flags::{TaskArgs, TaskCommand};
use crate::settings::Resolved;

fn parse(upid: &str) -> anyhow::Result<Upid> {
    upid.parse::<Upid>().map_err(|e| {
        UserError(format!("{e}; copy the UPID from `proxctl task list -o wide`")).into()
    })
}

pub async fn run(r: &Resolved, client: &Client, a: TaskArgs) -> anyhow::Result<()> {
    match a.command {
        TaskCommand::List { running } => {
            out!("{}", render(&views::tasks(client, running).await?, r.output)?)
        }
        TaskCommand::Logs { upid } => {
            let u = parse(&upid)?;
            let (lines, _) =
                client.task_log(&u.node, &u, 0, 0).await.context("reading the task log")?;
            for l in lines {
                outln!("{}", l.t);
            }
        }
        TaskCommand::Wait { upid } => {
            let u = parse(&upid)?;
            wait(r, client, &u, &format!("{} {}", u.task_type, u.id)).await?;
        }
        TaskCommand::Stop { upid } => {
            let u = parse(&upid)?;
            client.task_stop(&u.node, &u).await?;
            outln!("stopped {u}");
        }
    }
    Ok(())
}
