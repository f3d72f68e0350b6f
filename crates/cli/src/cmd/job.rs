//! `proxctl job …`: make, list, show, run and retire scheduled jobs. They live in the state
//! store that `proxctl serve` shares, which runs them; `job run` runs one here, now.

use proxctl_client::Client;
use proxctl_ops::jobs::{self, Action, Job, Missed, view};
use proxctl_ops::output::render;

use crate::cmd::confirm;
use crate::exit::{PartialFailure, UserError};
use crate::flags::job::{JobCommand, JobCreateArgs};
use crate::settings::Resolved;

/// The action the flags describe; flags of other actions are refused, not ignored.
fn action(a: &JobCreateArgs) -> anyhow::Result<Action> {
    let unused = |flags: &[(&str, bool)]| -> anyhow::Result<()> {
        match flags.iter().find(|(_, given)| *given) {
            Some((f, _)) => {
                Err(UserError(format!("{f} does not apply to --action {}", a.action)).into())
            }
            None => Ok(()),
        }
    };
    let k = &a.prune;
    let keeps =
        [k.keep_last, k.keep_hourly, k.keep_daily, k.keep_weekly, k.keep_monthly, k.keep_yearly];
    let backup_flags =
        [("--storage", a.storage.is_some()), ("--keep-*", keeps.iter().any(Option::is_some))];
    let tag_flags = [("--add", !a.add.is_empty()), ("--remove", !a.remove.is_empty())];
    let later_flags = [
        ("--catalog", !a.catalog.is_empty()),
        ("--node", a.node.is_some()),
        ("--vm-storage", a.vm_storage.is_some()),
        ("--manifests", a.manifests.is_some()),
        ("--prune", a.delete_undeclared),
        ("--max-age", a.max_age.is_some()),
    ];
    let others = |mine: &[&str]| -> Vec<(&'static str, bool)> {
        let all: Vec<(&'static str, bool)> = [
            ("--ttl", a.ttl.is_some()),
            ("--keep", a.keep.is_some()),
            ("--power", a.power.is_some()),
        ]
        .into_iter()
        .chain(backup_flags)
        .chain(tag_flags)
        .chain(later_flags)
        .collect();
        all.into_iter().filter(|(f, _)| !mine.contains(f)).collect()
    };
    Ok(match a.action.as_str() {
        "snapshot" => {
            unused(&others(&["--ttl"]))?;
            let ttl = a.ttl.clone().ok_or_else(|| {
                UserError("a snapshot job needs --ttl (e.g. 24h): snapshots must expire".into())
            })?;
            Action::Snapshot { ttl, prefix: a.prefix.clone() }
        }
        "snapshot-rotate" => {
            unused(&others(&["--keep"]))?;
            let keep = a.keep.ok_or_else(|| UserError("snapshot-rotate needs --keep N".into()))?;
            Action::SnapshotRotate { keep, prefix: a.prefix.clone() }
        }
        "snapshot-sweep" => {
            unused(&others(&[]))?;
            Action::SnapshotSweep
        }
        "backup" => {
            unused(&others(&["--storage", "--keep-*"]))?;
            Action::Backup { storage: a.storage.clone(), keep: jobs::Keep::from(k) }
        }
        "power" => {
            unused(&others(&["--power"]))?;
            let p = a.power.clone().ok_or_else(|| {
                UserError("a power job needs --power start|shutdown|stop|reboot".into())
            })?;
            Action::Power { action: p }
        }
        "tag" => {
            unused(&others(&["--add", "--remove"]))?;
            Action::Tag { add: a.add.clone(), remove: a.remove.clone() }
        }
        "template-rebuild" => {
            unused(&others(&["--catalog", "--node", "--storage", "--vm-storage", "--keep"]))?;
            Action::TemplateRebuild {
                catalog: a.catalog.clone(),
                node: a.node.clone(),
                storage: a.storage.clone(),
                vm_storage: a.vm_storage.clone(),
                keep: a.keep,
            }
        }
        "drift-check" => {
            unused(&others(&["--manifests"]))?;
            let (path, manifests) = manifests(a)?;
            Action::DriftCheck { path, manifests }
        }
        "reconcile" => {
            unused(&others(&["--manifests", "--prune"]))?;
            let (path, manifests) = manifests(a)?;
            Action::Reconcile { path, manifests, prune: a.delete_undeclared }
        }
        "backup-check" => {
            unused(&others(&["--max-age"]))?;
            let max_age = a
                .max_age
                .clone()
                .ok_or_else(|| UserError("a backup-check job needs --max-age (e.g. 26h)".into()))?;
            Action::BackupCheck { max_age }
        }
        other => {
            return Err(UserError(format!(
                "--action must be snapshot, snapshot-rotate, snapshot-sweep, backup, power, tag, \
                 template-rebuild, drift-check, reconcile or backup-check, not '{other}'"
            ))
            .into());
        }
    })
}

/// `--manifests` as a job keeps it: the absolute path (read at every run), or with `--embed`
/// the documents themselves. Either way they are checked now, so a broken file is found
/// when the job is made, not at its first run.
fn manifests(a: &JobCreateArgs) -> anyhow::Result<(Option<String>, Option<String>)> {
    let path = a
        .manifests
        .clone()
        .ok_or_else(|| UserError(format!("a {} job needs --manifests PATH", a.action)))?;
    let path = std::path::absolute(&path)
        .map_err(|e| UserError(format!("--manifests {}: {e}", path.display())))?;
    crate::cmd::engine::load(std::slice::from_ref(&path))?;
    if !a.embed {
        return Ok((Some(path.display().to_string()), None));
    }
    let files: Vec<std::path::PathBuf> = if path.is_dir() {
        let mut v: Vec<_> = std::fs::read_dir(&path)
            .map_err(|e| UserError(format!("--manifests {}: {e}", path.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        v.sort();
        v
    } else {
        vec![path]
    };
    let mut docs = Vec::new();
    for f in &files {
        docs.push(
            std::fs::read_to_string(f)
                .map_err(|e| UserError(format!("cannot read {}: {e}", f.display())))?,
        );
    }
    Ok((None, Some(docs.join("\n---\n"))))
}

pub async fn run(r: &Resolved, client: Option<&Client>, c: JobCommand) -> anyhow::Result<()> {
    let now = jiff::Timestamp::now();
    match c {
        JobCommand::Create(a) => {
            let missed: Missed = a.missed.parse()?;
            let job = Job {
                name: a.name.clone(),
                schedule: a.schedule.clone(),
                timezone: a.timezone.clone(),
                action: action(&a)?,
                selector: a.selector.clone(),
                remote: None,
                enabled: !a.disabled,
                missed,
                history: a.history,
                created_at: now,
                created_by: r.actor(),
            };
            jobs::create(&r.state, &job).await?;
            let next =
                job.next_after(now)?.map(|t| t.to_string()).unwrap_or_else(|| "never".into());
            outln!("job {} created; next run {next} (run by `proxctl serve`)", job.name);
            Ok(())
        }
        JobCommand::List => {
            out!("{}", render(&view::rows(&r.state, now).await?, r.output)?);
            Ok(())
        }
        JobCommand::Show { name } => {
            let job = jobs::get(&r.state, &name).await?;
            let last = jobs::runs::history(&r.state, Some(&name), 1).await?;
            let row = view::row(&job, last.first(), now);
            if r.output != proxctl_ops::output::Format::Table {
                out!("{}", render(&[row], r.output)?);
                return Ok(());
            }
            outln!("Name:      {}", job.name);
            outln!(
                "Schedule:  {} ({})",
                job.schedule,
                job.timezone.as_deref().unwrap_or("server's time zone")
            );
            outln!("Action:    {}", serde_json::to_string(&job.action)?);
            outln!("Selector:  {}", job.selector);
            outln!("Enabled:   {}", if job.enabled { "yes" } else { "no" });
            outln!("Missed:    {}", if job.missed == Missed::Skip { "skip" } else { "run once" });
            let mut t = now;
            let mut next = Vec::new();
            while job.enabled && next.len() < 3 {
                match job.next_after(t)? {
                    Some(n) => {
                        next.push(n.to_string());
                        t = n;
                    }
                    None => break,
                }
            }
            outln!("Next runs: {}", if next.is_empty() { "-".into() } else { next.join(", ") });
            outln!(
                "Last run:  {}",
                row.last_run
                    .map(|t| format!("{t} {}", row.last_outcome.unwrap_or_default()))
                    .unwrap_or_else(|| "-".into())
            );
            Ok(())
        }
        JobCommand::History { name, last } => {
            jobs::get(&r.state, &name).await?;
            let runs: Vec<view::RunRow> = jobs::runs::history(&r.state, Some(&name), last)
                .await?
                .into_iter()
                .map(view::RunRow)
                .collect();
            out!("{}", render(&runs, r.output)?);
            Ok(())
        }
        JobCommand::Run { name } => {
            let client =
                client.ok_or_else(|| UserError("job run needs a cluster to act on".into()))?;
            let job = jobs::get(&r.state, &name).await?;
            eprintln!("running job {name} ({}) now", job.action.name());
            let engine = proxctl_engine::jobs::Engine;
            let finished =
                jobs::actions::run_by_hand(client, &r.state, &engine, &job, &r.actor()).await?;
            let run = &finished.run;
            out!("{}", render(&run.items, r.output)?);
            // The server's matchers apply to runs by hand too; this process waits for them.
            let retry = proxctl_ops::notify::deliver::Retry {
                attempts: 2,
                first_delay: std::time::Duration::from_secs(1),
            };
            for event in &finished.events {
                for (target, sent) in
                    proxctl_ops::notify::raise_and_wait(&r.state, event, retry).await
                {
                    if let Err(e) = sent {
                        eprintln!("warning: notification to {target} not delivered: {e}");
                    }
                }
            }
            eprintln!("job {name}: {} ({})", run.outcome.as_str(), run.detail);
            match run.outcome {
                jobs::RunOutcome::Succeeded => Ok(()),
                _ => Err(PartialFailure(format!("job {name}: {}", run.detail)).into()),
            }
        }
        JobCommand::Enable { name } => set_enabled(r, &name, true).await,
        JobCommand::Disable { name } => set_enabled(r, &name, false).await,
        JobCommand::Delete { name } => {
            jobs::get(&r.state, &name).await?;
            confirm(r, &format!("delete job {name}"))?;
            jobs::delete(&r.state, &name).await?;
            outln!("job {name} deleted");
            Ok(())
        }
    }
}

async fn set_enabled(r: &Resolved, name: &str, enabled: bool) -> anyhow::Result<()> {
    let mut job = jobs::get(&r.state, name).await?;
    job.enabled = enabled;
    jobs::save(&r.state, &job).await?;
    outln!("job {name} {}", if enabled { "enabled" } else { "disabled" });
    Ok(())
}
