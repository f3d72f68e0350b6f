//! The declarative commands: `validate`, `schema`, `plan`, `apply`, `diff`, `delete -f`,
//! `export`, `adopt` and `reconcile`. They load manifests, call the engine and print; the
//! engine decides everything.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use proxctl_client::Client;
use proxctl_engine::manifest::{self, Declared};
use proxctl_engine::{ApplyOptions, ApplyReport, EngineError, Plan, render};
use proxctl_ops::output::{Format, render as render_rows};

use crate::cmd::confirm;
use crate::exit::{ExitWith, PartialFailure, UserError};
use crate::flags::{
    ApplyArgs, DeleteArgs, ExportArgs, ManifestArgs, PlanArgs, ReconcileArgs, ResolveArgs,
};
use crate::settings::Resolved;

/// Manifests, or every problem in them as file:line:column.
pub fn load(files: &[PathBuf]) -> anyhow::Result<Vec<Declared>> {
    manifest::load(files).map_err(|problems| EngineError::Manifest(problems).into())
}

fn colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

pub fn validate(r: &Resolved, a: ManifestArgs) -> anyhow::Result<()> {
    match manifest::load(&a.files) {
        Ok(d) => {
            if r.output == Format::Json {
                let keys: Vec<String> = d.iter().map(Declared::key).collect();
                outln!("{}", serde_json::json!({"valid": true, "resources": keys}));
            } else {
                outln!("{} resource(s) valid", d.len());
            }
            Ok(())
        }
        Err(problems) => {
            for p in &problems {
                outln!("{p}");
            }
            Err(UserError(format!("{} problem(s) in the manifests", problems.len())).into())
        }
    }
}

pub fn schema() -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string_pretty(&manifest::json_schema())?);
    Ok(())
}

pub(crate) fn print_plan(r: &Resolved, plan: &Plan, verbose: bool) -> anyhow::Result<()> {
    match r.output {
        Format::Json => outln!("{}", serde_json::to_string_pretty(plan)?),
        Format::Yaml => out!("{}", serde_yaml_ng::to_string(plan)?),
        _ => out!("{}", render::text(plan, colour(), verbose)),
    }
    Ok(())
}

pub async fn plan(r: &Resolved, client: &Client, a: PlanArgs) -> anyhow::Result<()> {
    let run = async {
        let declared = load(&a.manifests.files)?;
        let store = r.state.get().await?;
        let plan = proxctl_engine::make_plan(client, store.as_ref(), &declared, a.prune).await?;
        print_plan(r, &plan, false)?;
        if let Some(path) = &a.save {
            std::fs::write(path, serde_json::to_vec_pretty(&plan)?)
                .map_err(|e| UserError(format!("cannot write {}: {e}", path.display())))?;
            eprintln!(
                "saved to {}; apply it with `proxctl apply {}`",
                path.display(),
                path.display()
            );
        }
        anyhow::Ok(plan.has_changes())
    };
    match (run.await, a.detailed_exitcode) {
        (Ok(true), true) => Err(ExitWith(2).into()),
        (Ok(_), _) => Ok(()),
        (Err(e), true) => {
            eprintln!("{}", crate::exit::render_chain(&e));
            Err(ExitWith(1).into())
        }
        (Err(e), false) => Err(e),
    }
}

pub(crate) fn apply_options(
    r: &Resolved,
    parallel: usize,
    lock_timeout: std::time::Duration,
) -> ApplyOptions {
    let mut o = ApplyOptions::new(r.actor());
    o.parallel = parallel.max(1);
    o.locks.wait = lock_timeout;
    o.progress = Some(Arc::new(|key: &str, msg: &str| eprintln!("  {key}: {msg}")));
    o
}

fn finish(r: &Resolved, report: &ApplyReport) -> anyhow::Result<()> {
    out!("{}", render_rows(&report.results, r.output)?);
    let failed = report.failed();
    if failed > 0 {
        return Err(PartialFailure(format!(
            "{failed} of {} resource(s) failed; fix the cause and run apply again (it resumes \
             from what PVE has now)",
            report.results.len()
        ))
        .into());
    }
    Ok(())
}

fn confirm_plan(r: &Resolved, plan: &Plan) -> anyhow::Result<()> {
    confirm(r, &format!("apply {}", plan.tally()))
}

pub async fn apply(r: &Resolved, client: &Client, a: ApplyArgs) -> anyhow::Result<()> {
    let store = Arc::clone(r.state.get().await?);
    let opts = apply_options(r, a.parallel, a.lock.lock_timeout);
    if let Some(path) = &a.plan_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| UserError(format!("cannot read {}: {e}", path.display())))?;
        let plan: Plan = serde_json::from_str(&text).map_err(|e| {
            UserError(format!(
                "{} is not a plan saved by `proxctl plan --out`: {e}",
                path.display()
            ))
        })?;
        if r.dry_run {
            proxctl_engine::check_saved(client, &plan).await?;
            return dry_run(r, &plan);
        }
        let before = |p: &Plan| {
            print_plan(r, p, false).map_err(|e| e.to_string())?;
            confirm_plan(r, p).map_err(|e| e.to_string())
        };
        return match proxctl_engine::apply_saved(client, store, &plan, &opts, before).await? {
            Some(report) => finish(r, &report),
            None => {
                print_plan(r, &plan, false)?;
                eprintln!("No changes.");
                Ok(())
            }
        };
    }
    let declared = load(&a.files)?;
    if r.dry_run {
        // Read-only: no locks, no settling, nothing recorded.
        let plan = proxctl_engine::make_plan(client, store.as_ref(), &declared, a.prune).await?;
        return dry_run(r, &plan);
    }
    let mut session =
        proxctl_engine::Session::for_manifests(client, store, &declared, a.prune, &opts, "apply")
            .await?;
    let outcome = async {
        loop {
            let plan = session.plan(&declared, a.prune).await?;
            print_plan(r, &plan, false)?;
            if !plan.has_changes() {
                eprintln!("No changes.");
                return Ok(None);
            }
            confirm_plan(r, &plan)?;
            match session.apply(&plan).await {
                Err(e) if proxctl_engine::session::replan(&e) => eprintln!("{e}; planning again"),
                Err(e) => return Err(anyhow::Error::from(proxctl_engine::EngineError::from(e))),
                Ok(report) => return Ok(Some(report)),
            }
        }
    }
    .await;
    session.end().await;
    match outcome? {
        Some(report) => finish(r, &report),
        None => Ok(()),
    }
}

/// `--dry-run`: the plan and every call it would make, with nothing sent or recorded.
fn dry_run(r: &Resolved, plan: &Plan) -> anyhow::Result<()> {
    print_plan(r, plan, false)?;
    if r.output != Format::Json && r.output != Format::Yaml {
        out!("{}", render::calls(plan));
    }
    eprintln!("dry run: nothing was sent to PVE or recorded in the state store");
    Ok(())
}

pub async fn diff(r: &Resolved, client: &Client, a: ManifestArgs) -> anyhow::Result<()> {
    let declared = load(&a.files)?;
    let store = r.state.get().await?;
    let plan = proxctl_engine::make_plan(client, store.as_ref(), &declared, false).await?;
    print_plan(r, &plan, true)
}

pub async fn delete(r: &Resolved, client: &Client, a: DeleteArgs) -> anyhow::Result<()> {
    let declared = load(&a.manifests.files)?;
    let store = Arc::clone(r.state.get().await?);
    if r.dry_run {
        let plan = proxctl_engine::plan_delete(client, store.as_ref(), &declared).await?;
        return dry_run(r, &plan);
    }
    let opts = apply_options(r, a.parallel, a.lock.lock_timeout);
    let mut session =
        proxctl_engine::Session::for_manifests(client, store, &declared, false, &opts, "delete")
            .await?;
    let outcome = async {
        let plan = session.plan_delete(&declared).await?;
        if plan.changes.is_empty() {
            eprintln!("nothing to delete: none of the declared resources exists");
            return Ok(None);
        }
        print_plan(r, &plan, false)?;
        confirm_plan(r, &plan)?;
        anyhow::Ok(Some(session.apply(&plan).await?))
    }
    .await;
    session.end().await;
    match outcome? {
        Some(report) => finish(r, &report),
        None => Ok(()),
    }
}

/// `proxctl inventory`: Ansible's script protocol, JSON on stdout.
pub async fn inventory(client: &Client, a: crate::flags::InventoryArgs) -> anyhow::Result<()> {
    let sel: Option<proxctl_types::selector::Selector> =
        a.selector.as_deref().map(|s| s.parse()).transpose().map_err(|e| {
            UserError(format!("{e}; see `proxctl get --help` for the selector language"))
        })?;
    if !a.list && a.host.is_none() {
        return Err(UserError(
            "say --list or --host NAME (as Ansible calls inventory scripts)".into(),
        )
        .into());
    }
    let inv = proxctl_ops::inventory::build(client, sel.as_ref()).await?;
    let v = match &a.host {
        Some(h) => inv.host(h),
        None => inv.list(),
    };
    outln!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}

pub async fn export(client: &Client, a: ExportArgs) -> anyhow::Result<()> {
    let sel: Option<proxctl_types::selector::Selector> =
        a.selector.as_deref().map(|s| s.parse()).transpose().map_err(|e| {
            UserError(format!("{e}; see `proxctl get --help` for the selector language"))
        })?;
    let (docs, skipped) = proxctl_engine::export::export_vms(client, sel.as_ref()).await?;
    for e in skipped {
        eprintln!("skipped: {e}");
    }
    if docs.is_empty() {
        return Err(UserError("no VM matches; see `proxctl get vms`".into()).into());
    }
    out!("{}", proxctl_engine::export::to_yaml(&docs)?);
    Ok(())
}

pub async fn adopt(r: &Resolved, client: &Client, a: ManifestArgs) -> anyhow::Result<()> {
    let declared = load(&a.files)?;
    let store = r.state.get().await?;
    let adopted = proxctl_engine::export::adopt_declared(client, store.as_ref(), &declared).await?;
    if adopted.is_empty() {
        eprintln!("nothing to adopt: every declared resource is already managed");
    }
    for (key, vmid) in adopted {
        outln!("adopted {key} (VMID {vmid})");
    }
    Ok(())
}

/// `30s`, `5m`, `1h` (or plain seconds).
fn interval(s: &str) -> anyhow::Result<std::time::Duration> {
    let secs = proxctl_ops::snapshot::parse_ttl(s)
        .map_err(|_| UserError(format!("--interval '{s}' is not a duration such as 60s or 5m")))?;
    Ok(std::time::Duration::from_secs(u64::try_from(secs.max(1)).unwrap_or(60)))
}

pub async fn reconcile(r: &Resolved, client: &Client, a: ReconcileArgs) -> anyhow::Result<()> {
    let every = interval(&a.interval)?;
    let store = Arc::clone(r.state.get().await?);
    let opts = apply_options(r, a.parallel, a.lock.lock_timeout);
    let mut n: u64 = 0;
    loop {
        n += 1;
        let started = jiff::Timestamp::now();
        // Each activation reads everything afresh: manifests, cluster, store. A failure is
        // reported and left to the next activation.
        let status = match activation(client, &store, &a, &opts).await {
            Ok(s) => s,
            Err(e) => format!("error: {}", crate::exit::render_chain(&e).replace('\n', " ")),
        };
        outln!("{} activation {n}: {status}", started.strftime("%Y-%m-%dT%H:%M:%SZ"));
        if a.activations.is_some_and(|max| n >= max) {
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

async fn activation(
    client: &Client,
    store: &Arc<dyn proxctl_state::StateStore>,
    a: &ReconcileArgs,
    opts: &ApplyOptions,
) -> anyhow::Result<String> {
    let declared = load(&a.manifests.files)?;
    let store = Arc::clone(store);
    Ok(proxctl_engine::reconcile_once(client, store, &declared, a.prune, a.report_only, opts)
        .await?)
}

pub async fn resolve(r: &Resolved, client: &Client, a: ResolveArgs) -> anyhow::Result<()> {
    use proxctl_engine::resolve::{self, Others};
    let (_, others) = resolve::split(client, &a.resource, a.keep).await?;
    let others: Vec<String> = others
        .iter()
        .map(|c| {
            let state = if c.running { ", running" } else { "" };
            format!("{} ({} on {}{state})", c.vmid, c.name, c.node)
        })
        .collect();
    if others.is_empty() {
        eprintln!("nothing to resolve: only VMID {} carries {}", a.keep, a.resource);
        return Ok(());
    }
    let (verb, mode) = if a.release {
        ("release (drop the marker of)", Others::Release)
    } else {
        ("stop and delete", Others::Delete)
    };
    let what = format!("keep {} as {} and {verb} {}", a.keep, a.resource, others.join(", "));
    if r.dry_run {
        eprintln!("dry run: would {what}");
        return Ok(());
    }
    confirm(r, &what)?;
    let store = Arc::clone(r.state.get().await?);
    let opts = apply_options(r, 1, a.lock.lock_timeout);
    let done = resolve::resolve(client, store, &a.resource, a.keep, mode, &opts).await?;
    if r.output == Format::Json {
        outln!("{}", serde_json::to_string_pretty(&done)?);
    } else {
        outln!(
            "{} is VMID {}; deleted: {:?}; released: {:?}",
            done.key,
            done.kept,
            done.deleted,
            done.released
        );
    }
    Ok(())
}
