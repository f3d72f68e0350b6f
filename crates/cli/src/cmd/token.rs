//! `proxctl token create|list|revoke`: API tokens for `proxctl serve`, in the state store the
//! servers share. No PVE connection.

use proxctl_ops::output::{Format, render};
use proxctl_server::Role;

use crate::exit::UserError;
use crate::flags::TokenCommand;
use crate::settings::Resolved;

pub async fn run(r: &Resolved, c: TokenCommand) -> anyhow::Result<()> {
    match c {
        TokenCommand::Create { name, role, scope, expires } => {
            let role: Role = role.parse().map_err(UserError)?;
            let expires_at = match expires.as_deref() {
                Some(v) => {
                    let secs = proxctl_ops::snapshot::parse_ttl(v).map_err(|_| {
                        UserError(format!("--expires '{v}' is not a duration such as 90d or 12h"))
                    })?;
                    Some(jiff::Timestamp::now() + jiff::SignedDuration::from_secs(secs))
                }
                None => None,
            };
            let (info, secret) = proxctl_server::tokens::create(
                &r.state,
                &name,
                role,
                scope.as_deref(),
                expires_at,
                &r.actor(),
            )
            .await?;
            match r.output {
                Format::Json | Format::Yaml => {
                    let mut v = serde_json::to_value(&info)?;
                    v["token"] = serde_json::Value::String(secret.expose().to_string());
                    out!("{}", render_value(&v, r.output)?);
                }
                _ => {
                    outln!("{}", secret.expose());
                    eprintln!(
                        "token '{}' ({}, scope {}): shown once; send it as `Authorization: Bearer <token>`",
                        info.name,
                        info.role,
                        info.scope.as_deref().unwrap_or("all")
                    );
                }
            }
            Ok(())
        }
        TokenCommand::List => {
            let rows = proxctl_server::tokens::list(&r.state).await?;
            if rows.is_empty() && r.output == Format::Table {
                eprintln!("No resources found.");
                return Ok(());
            }
            out!("{}", render(&rows, r.output)?);
            Ok(())
        }
        TokenCommand::Revoke { name } => {
            super::confirm(r, &format!("revoke token '{name}' (its requests fail from then on)"))?;
            proxctl_server::tokens::revoke(&r.state, &name).await?;
            eprintln!("token '{name}' revoked");
            Ok(())
        }
    }
}

fn render_value(v: &serde_json::Value, f: Format) -> anyhow::Result<String> {
    Ok(match f {
        Format::Yaml => serde_yaml_ng::to_string(v)?,
        _ => format!("{}\n", serde_json::to_string_pretty(v)?),
    })
}
