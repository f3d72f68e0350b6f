//! `proxctl notify …`: notification targets and matchers in the state store `proxctl serve`
//! shares; `target test` sends one event now, here.

use proxctl_ops::notify::{self, Matcher, Severity, Target, deliver, kind};

use crate::cmd::confirm;
use crate::exit::UserError;
use crate::flags::notify::{MatcherCommand, NotifyCommand, TargetCommand};
use crate::settings::Resolved;

fn show(v: &impl serde::Serialize) -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

pub async fn run(r: &Resolved, c: NotifyCommand) -> anyhow::Result<()> {
    match c {
        NotifyCommand::Target { command } => match command {
            TargetCommand::Add {
                name,
                kind: k,
                endpoint,
                secret_from,
                mail_to,
                mail_from,
                mail_ca_file,
            } => {
                let t = Target {
                    name: name.clone(),
                    kind: k.parse()?,
                    url: endpoint,
                    secret: secret_from,
                    mail_to,
                    mail_from,
                    ca_file: mail_ca_file,
                    created_at: jiff::Timestamp::now(),
                };
                notify::add_target(&r.state, &t).await?;
                outln!("target {name} added; test it with `proxctl notify target test {name}`");
                Ok(())
            }
            TargetCommand::List => show(&notify::targets(&r.state).await?),
            TargetCommand::Test { name } => {
                let t = notify::targets(&r.state)
                    .await?
                    .into_iter()
                    .find(|t| t.name == name)
                    .ok_or_else(|| {
                        UserError(format!("no target '{name}'; see `proxctl notify target list`"))
                    })?;
                let e = notify::Event::test(&r.actor());
                let retry = deliver::Retry { attempts: 1, ..Default::default() };
                let tries = deliver::send(&r.state, &t, &e, retry).await?;
                outln!("delivered to {name} ({tries} try)");
                Ok(())
            }
            TargetCommand::Delete { name } => {
                confirm(r, &format!("delete notification target {name}"))?;
                notify::delete(&r.state, kind::TARGET, &name).await?;
                outln!("target {name} deleted");
                Ok(())
            }
        },
        NotifyCommand::Matcher { command } => match command {
            MatcherCommand::Add { name, targets, kinds, severity, selector } => {
                let min_severity: Severity = severity.parse()?;
                let m = Matcher { name: name.clone(), kinds, min_severity, selector, targets };
                notify::add_matcher(&r.state, &m).await?;
                outln!("matcher {name} added");
                Ok(())
            }
            MatcherCommand::List => show(&notify::matchers(&r.state).await?),
            MatcherCommand::Delete { name } => {
                confirm(r, &format!("delete notification matcher {name}"))?;
                notify::delete(&r.state, kind::MATCHER, &name).await?;
                outln!("matcher {name} deleted");
                Ok(())
            }
        },
        NotifyCommand::DeadLetters { last } => show(&deliver::dead_letters(&r.state, last).await?),
    }
}
