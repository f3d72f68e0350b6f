//! `proxctl remote add|list|remove`: the clusters `proxctl serve` manages besides the default
//! one, in the state store its instances share. A secret is stored only as a reference.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use proxctl_ops::output::{Format, Tabular, render};
use proxctl_state::RemoteDef;
use serde::Serialize;

use crate::exit::UserError;
use crate::flags::RemoteCommand;
use crate::settings::Resolved;

#[derive(Debug, Serialize)]
struct RemoteRow {
    name: String,
    url: String,
    fingerprint: Option<String>,
    token_id: String,
    secret: String,
}

impl Tabular for RemoteRow {
    fn headers(_wide: bool) -> Vec<&'static str> {
        vec!["NAME", "URL", "TOKEN", "SECRET", "FINGERPRINT"]
    }
    fn cells(&self, _wide: bool) -> Vec<String> {
        vec![
            self.name.clone(),
            self.url.clone(),
            self.token_id.clone(),
            self.secret.clone(),
            self.fingerprint.clone().unwrap_or_else(|| "(system CAs)".into()),
        ]
    }
}

/// Keep a prompted secret in a file only its owner can read, beside the state store's
/// default place, and return its reference.
fn keep_secret(name: &str) -> anyhow::Result<String> {
    let secret = proxctl_client::auth::prompt_secret(&format!("token secret for remote {name}"))?;
    let base = std::env::var("XDG_DATA_HOME")
        .ok()
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var("HOME").ok().map(|h| std::path::PathBuf::from(h).join(".local/share"))
        })
        .ok_or_else(|| {
            UserError("no home directory to keep the secret in; pass --secret file:PATH".into())
        })?;
    let dir = base.join("proxctl").join("secrets");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("remote-{name}"));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)?;
    f.write_all(secret.expose().as_bytes())?;
    Ok(format!("file:{}", path.display()))
}

/// `g` carries `--url` and `--fingerprint`: for `remote add` they name the cluster added.
pub async fn run(
    r: &Resolved,
    g: &crate::flags::GlobalArgs,
    c: RemoteCommand,
) -> anyhow::Result<()> {
    let store = r.state.get().await?;
    match c {
        RemoteCommand::Add { name, token_id, secret } => {
            let url = g.url.clone().ok_or_else(|| {
                UserError(
                    "remote add needs --url, the API URL of one of the cluster's nodes".into(),
                )
            })?;
            let fingerprint = g.fingerprint.clone();
            // Checked before a secret is asked for: a bad name should not cost a prompt.
            proxctl_server::remotes::check_name(&name)?;
            let secret_ref = match secret {
                Some(s) => s,
                None => keep_secret(&name)?,
            };
            let def = RemoteDef {
                name: name.clone(),
                url,
                fingerprint,
                token_id,
                secret_ref,
                created_at: jiff::Timestamp::now(),
            };
            let v = proxctl_server::remotes::add(&r.state, &def).await?;
            eprintln!(
                "remote {name} added (PVE {v}); running servers manage it within {}s",
                proxctl_server::remotes::RELOAD.as_secs()
            );
            Ok(())
        }
        RemoteCommand::List => {
            let rows: Vec<RemoteRow> = store
                .remotes()
                .await?
                .into_iter()
                .map(|d| RemoteRow {
                    name: d.name,
                    url: d.url,
                    fingerprint: d.fingerprint,
                    token_id: d.token_id,
                    secret: d.secret_ref,
                })
                .collect();
            if rows.is_empty() && r.output == Format::Table {
                eprintln!("No resources found.");
                return Ok(());
            }
            out!("{}", render(&rows, r.output)?);
            Ok(())
        }
        RemoteCommand::Remove { name } => {
            super::confirm(r, &format!("remove remote '{name}'"))?;
            if !store.remote_delete(&name).await? {
                return Err(UserError(format!(
                    "no remote called '{name}'; see `proxctl remote list`"
                ))
                .into());
            }
            eprintln!(
                "remote {name} removed; running servers stop managing it within {}s",
                proxctl_server::remotes::RELOAD.as_secs()
            );
            Ok(())
        }
    }
}
