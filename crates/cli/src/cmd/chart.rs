//! `proxctl chart …` and `proxctl release …`: find the chart, gather the values, call
//! `proxctl-charts` and print. Releases plan and apply through the engine's session there.

use std::path::Path;
use std::sync::Arc;

use proxctl_charts::release::{self, Change, ReleaseError, Request};
use proxctl_charts::render::{ReleaseInfo, Secrets};
use proxctl_charts::repo::Repos;
use proxctl_charts::values::Source;
use proxctl_charts::{Chart, builtin, lint, package};
use proxctl_client::Client;
use proxctl_engine::Plan;
use proxctl_ops::output::{Format, render as render_rows};

use crate::cmd::confirm;
use crate::cmd::engine::{apply_options, print_plan};
use crate::exit::{PartialFailure, UserError};
use crate::flags::chart::{
    ChartCommand, ReleaseApplyArgs, ReleaseCommand, ReleaseGet, RepoCommand, ValuesArgs,
};
use crate::settings::Resolved;

/// Chart repositories live beside the config file.
fn repos() -> anyhow::Result<Repos> {
    let cfg =
        crate::profile::default_path().and_then(|p| p.parent().map(Path::to_path_buf)).ok_or_else(
            || UserError("no home directory for chart repositories; set XDG_CONFIG_HOME".into()),
        )?;
    Ok(Repos::new(cfg))
}

/// The HTTP client for chart repositories: TLS verified, no PVE credentials.
macro_rules! http {
    () => {
        proxctl_client::web::web_client(std::time::Duration::from_secs(20))?
    };
}

/// A chart by what the user wrote: a directory, a `.tgz`, `REPO/NAME[@VERSION]`, or a
/// built-in chart's name.
async fn load_chart(spec: &str) -> anyhow::Result<Chart> {
    let path = Path::new(spec);
    if path.is_dir() {
        return Ok(Chart::from_dir(path)?);
    }
    if path.is_file() {
        let bytes = std::fs::read(path)
            .map_err(|e| UserError(format!("cannot read {}: {e}", path.display())))?;
        return Ok(Chart::from_package(&bytes)?);
    }
    if spec.contains('/') && !spec.starts_with('.') && !spec.starts_with('/') {
        return Ok(repos()?.fetch_chart(&http!(), spec).await?);
    }
    builtin::get(spec).ok_or_else(|| {
        let names: Vec<&str> = builtin::names().collect();
        UserError(format!(
            "no chart {spec}: not a directory, a .tgz, REPO/NAME or a built-in chart ({})",
            names.join(", ")
        ))
        .into()
    })
}

fn sources(v: &ValuesArgs) -> anyhow::Result<Vec<Source>> {
    let mut out = Vec::new();
    for f in &v.files {
        let text = std::fs::read_to_string(f)
            .map_err(|e| UserError(format!("cannot read values file {}: {e}", f.display())))?;
        out.push(Source::File { name: f.display().to_string(), text });
    }
    out.extend(v.set.iter().map(|s| Source::Set(s.clone())));
    Ok(out)
}

fn info(name: &str) -> ReleaseInfo {
    ReleaseInfo { name: name.to_string(), revision: 1, is_install: true, is_upgrade: false }
}

pub async fn chart(r: &Resolved, command: ChartCommand) -> anyhow::Result<()> {
    match command {
        ChartCommand::Create { name, dir } => {
            let root = proxctl_charts::create::create(&dir, &name)?;
            outln!("created {}; try `proxctl chart lint {}`", root.display(), root.display());
        }
        ChartCommand::Lint { chart, values } => {
            let c = load_chart(&chart).await?;
            let p = lint::prepare(
                &c,
                &info("lint"),
                None,
                &sources(&values)?,
                &mut Secrets::default(),
            )?;
            outln!(
                "chart {}: {} template(s) render to {} valid resource(s)",
                c.reference(),
                p.rendered.files.len(),
                p.declared.len()
            );
        }
        ChartCommand::Template { chart, values, name } => {
            proxctl_charts::chart::check_name(&name).map_err(UserError)?;
            let c = load_chart(&chart).await?;
            let p =
                lint::prepare(&c, &info(&name), None, &sources(&values)?, &mut Secrets::default())?;
            out!("{}", p.rendered.manifest());
        }
        ChartCommand::Package { path, out } => {
            let c = Chart::from_dir(&path)?;
            lint::prepare(&c, &info("lint"), None, &[], &mut Secrets::default())?;
            let bytes = package::package(&c)?;
            let file = out.join(package::file_name(&c));
            std::fs::write(&file, &bytes)
                .map_err(|e| UserError(format!("cannot write {}: {e}", file.display())))?;
            outln!("{}  sha256:{}", file.display(), package::digest(&bytes));
        }
        ChartCommand::Show { chart } => {
            let c = load_chart(&chart).await?;
            if r.output == Format::Json {
                let v = serde_json::json!({
                    "chart": c.meta, "values": c.values()?, "files": c.files.keys().collect::<Vec<_>>(),
                });
                outln!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                out!("{}", serde_yaml_ng::to_string(&c.meta)?);
                outln!("files:");
                for f in c.files.keys() {
                    outln!("  {f}");
                }
                outln!("---\n# values.yaml\n{}", c.values_text.trim_end());
            }
        }
        ChartCommand::List => {
            let mut rows = Vec::new();
            for n in builtin::names() {
                if let Some(c) = builtin::get(n) {
                    rows.push(ChartRow {
                        name: n.into(),
                        version: c.meta.version.to_string(),
                        source: "built-in".into(),
                        description: c.meta.description,
                    });
                }
            }
            let repos = repos()?;
            for repo in repos.list()? {
                match repos.index(&repo) {
                    Ok(index) => {
                        for (name, versions) in &index.entries {
                            if let Some(e) = index.find(name, None) {
                                let _ = versions;
                                rows.push(ChartRow {
                                    name: format!("{}/{name}", repo.name),
                                    version: e.version.to_string(),
                                    source: repo.url.clone(),
                                    description: e.description.clone(),
                                });
                            }
                        }
                    }
                    Err(e) => eprintln!("warning: repository {}: {e}", repo.name),
                }
            }
            out!("{}", render_rows(&rows, r.output)?);
        }
        ChartCommand::Repo { command } => repo(r, command).await?,
    }
    Ok(())
}

#[derive(serde::Serialize)]
struct ChartRow {
    name: String,
    version: String,
    source: String,
    description: String,
}

impl proxctl_ops::output::Tabular for ChartRow {
    fn headers(_wide: bool) -> Vec<&'static str> {
        vec!["NAME", "VERSION", "SOURCE", "DESCRIPTION"]
    }
    fn cells(&self, _wide: bool) -> Vec<String> {
        vec![self.name.clone(), self.version.clone(), self.source.clone(), self.description.clone()]
    }
}

async fn repo(r: &Resolved, command: RepoCommand) -> anyhow::Result<()> {
    let repos = repos()?;
    match command {
        RepoCommand::Add { name, location: url } => {
            let repo = repos.add(&name, &url)?;
            if repo.is_http() {
                outln!("added {name} ({url}); run `proxctl chart repo update` to fetch its index");
            } else {
                outln!("added {name} ({url})");
            }
        }
        RepoCommand::List => {
            let rows: Vec<ChartRow> = repos
                .list()?
                .into_iter()
                .map(|r| ChartRow {
                    name: r.name,
                    version: String::new(),
                    source: r.url,
                    description: String::new(),
                })
                .collect();
            out!("{}", render_rows(&rows, r.output)?);
        }
        RepoCommand::Remove { name } => {
            if !repos.remove(&name)? {
                return Err(UserError(format!("no chart repository named {name}")).into());
            }
            outln!("removed {name}");
        }
        RepoCommand::Update => {
            for (name, n) in repos.update(&http!()).await? {
                outln!("{name}: {n} chart(s)");
            }
        }
    }
    Ok(())
}

fn confirm_release(r: &Resolved, what: &str, plan: &Plan) -> Result<(), String> {
    print_plan(r, plan, false).map_err(|e| e.to_string())?;
    confirm(r, &format!("{what}: {}", plan.tally())).map_err(|e| e.to_string())
}

pub async fn release(r: &Resolved, client: &Client, command: ReleaseCommand) -> anyhow::Result<()> {
    let store = Arc::clone(r.state.get().await?);
    let (req, apply) = match command {
        ReleaseCommand::Install { name, chart, values, apply } => {
            let chart = Box::new(load_chart(&chart).await?);
            let change = Change::Install { chart, sources: sources(&values)? };
            (Request { name, change, dry_run: r.dry_run, remote: None }, apply)
        }
        ReleaseCommand::Upgrade { name, chart, values, reuse_values, apply } => {
            let chart = match chart {
                Some(c) => Some(Box::new(load_chart(&c).await?)),
                None => None,
            };
            let change = Change::Upgrade { chart, sources: sources(&values)?, reuse_values };
            (Request { name, change, dry_run: r.dry_run, remote: None }, apply)
        }
        ReleaseCommand::Rollback { name, revision, apply } => (
            Request {
                name,
                change: Change::Rollback { revision },
                dry_run: r.dry_run,
                remote: None,
            },
            apply,
        ),
        ReleaseCommand::Uninstall { name, apply } => {
            return uninstall(r, client, store, &name, &apply).await;
        }
        other => return show(r, store.as_ref(), other).await,
    };
    let opts = apply_options(r, apply.parallel, apply.lock.lock_timeout);
    let name = req.name.clone();
    let dry_run = req.dry_run;
    let what = format!("{} release {name}", verb(&req.change));
    let outcome =
        release::deploy(client, store, req, &opts, |plan| confirm_release(r, &what, plan))
            .await
            .map_err(release_error)?;
    if dry_run {
        print_plan(r, &outcome.plan, false)?;
        eprintln!(
            "dry run: release {name} revision {} was planned; nothing was applied or recorded",
            outcome.revision
        );
        return Ok(());
    }
    if let Some(report) = &outcome.report {
        out!("{}", render_rows(&report.results, r.output)?);
    } else {
        print_plan(r, &outcome.plan, false)?;
    }
    eprintln!("release {name} revision {} deployed", outcome.revision);
    if let Some(notes) = outcome.notes.filter(|n| !n.trim().is_empty()) {
        outln!("\n{}", notes.trim_end());
    }
    Ok(())
}

fn verb(c: &Change) -> &'static str {
    match c {
        Change::Install { .. } => "install",
        Change::Upgrade { .. } => "upgrade",
        Change::Rollback { .. } => "roll back",
    }
}

/// Release errors as the CLI's classes: what the user can fix is exit 1, a failed revision
/// is a Proxmox failure (3).
fn release_error(e: ReleaseError) -> anyhow::Error {
    match e {
        ReleaseError::NotFound(m) | ReleaseError::Conflict(m) | ReleaseError::Refused(m) => {
            UserError(m).into()
        }
        ReleaseError::Chart(c) => c.into(),
        ReleaseError::Prepare(p) => UserError(p.to_string()).into(),
        ReleaseError::Failed { .. } => PartialFailure(e.to_string()).into(),
        ReleaseError::Engine(e) => e.into(),
        ReleaseError::Client(c) => c.into(),
        other => other.into(),
    }
}

async fn uninstall(
    r: &Resolved,
    client: &Client,
    store: Arc<dyn proxctl_state::StateStore>,
    name: &str,
    apply: &ReleaseApplyArgs,
) -> anyhow::Result<()> {
    if r.dry_run {
        let plan =
            release::plan_uninstall(client, store.as_ref(), name).await.map_err(release_error)?;
        print_plan(r, &plan, false)?;
        eprintln!("dry run: nothing was deleted");
        return Ok(());
    }
    let opts = apply_options(r, apply.parallel, apply.lock.lock_timeout);
    let what = format!("uninstall release {name}");
    let outcome =
        release::uninstall(client, store, name, &opts, |plan| confirm_release(r, &what, plan))
            .await
            .map_err(release_error)?;
    if let Some(report) = &outcome.report {
        out!("{}", render_rows(&report.results, r.output)?);
    }
    eprintln!("release {name} uninstalled");
    Ok(())
}

async fn show(
    r: &Resolved,
    store: &dyn proxctl_state::StateStore,
    command: ReleaseCommand,
) -> anyhow::Result<()> {
    match command {
        ReleaseCommand::List => {
            let rows: Vec<release::Summary> = release::list(store)
                .await
                .map_err(release_error)?
                .iter()
                .filter_map(release::Summary::of)
                .collect();
            out!("{}", render_rows(&rows, r.output)?);
        }
        ReleaseCommand::History { name } => {
            let rel = release::get(store, &name).await.map_err(release_error)?;
            out!("{}", render_rows(&rel.revisions, r.output)?);
        }
        ReleaseCommand::Status { name } => {
            let rel = release::get(store, &name).await.map_err(release_error)?;
            let last = rel.latest();
            if r.output == Format::Json {
                let v = serde_json::json!({
                    "name": rel.name,
                    "revision": last.map(|l| l.revision),
                    "status": last.map(|l| l.status),
                    "deployed": rel.deployed().map(|d| d.revision),
                    "resources": rel.owned,
                });
                outln!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(());
            }
            outln!("NAME: {}", rel.name);
            if let Some(l) = last {
                outln!("REVISION: {} ({}, {})", l.revision, l.status, l.description);
                outln!("CHART: {}-{}", l.chart, l.chart_version);
                outln!("UPDATED: {} by {}", l.at.strftime("%Y-%m-%d %H:%M:%S"), l.by);
            }
            if let Some(d) = rel.deployed() {
                outln!("DEPLOYED: revision {}", d.revision);
            }
            outln!("RESOURCES:");
            for k in &rel.owned {
                outln!("  {k}");
            }
            if let Some(n) = rel.deployed().and_then(|d| d.notes.as_deref()) {
                outln!("NOTES:\n{}", n.trim_end());
            }
        }
        ReleaseCommand::Get { what } => {
            let (name, revision, manifest) = match what {
                ReleaseGet::Values { name, revision } => (name, revision, false),
                ReleaseGet::Manifest { name, revision } => (name, revision, true),
            };
            let rel = release::get(store, &name).await.map_err(release_error)?;
            let rev = match revision {
                Some(n) => rel.revision(n),
                None => rel.latest(),
            }
            .ok_or_else(|| {
                UserError(format!(
                    "release {name} has no such revision; see `proxctl release history {name}`"
                ))
            })?;
            if manifest {
                out!("{}", rev.manifest);
            } else if r.output == Format::Json {
                outln!("{}", serde_json::to_string_pretty(&rev.values)?);
            } else {
                out!("{}", serde_yaml_ng::to_string(&rev.values)?);
            }
        }
        ReleaseCommand::Adopt { .. }
        | ReleaseCommand::Install { .. }
        | ReleaseCommand::Upgrade { .. }
        | ReleaseCommand::Rollback { .. }
        | ReleaseCommand::Uninstall { .. } => {}
    }
    Ok(())
}

pub async fn adopt(r: &Resolved, client: &Client, name: Option<String>) -> anyhow::Result<()> {
    let store = r.state.get().await?;
    let report = release::adopt(client, store.as_ref(), name.as_deref(), &r.actor())
        .await
        .map_err(release_error)?;
    if r.output == Format::Json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    if report.adopted.is_empty() && report.known.values().all(|k| k.is_empty()) {
        outln!("no release to adopt: every release marker in PVE is already recorded");
    }
    for (n, keys) in &report.adopted {
        outln!(
            "adopted release {n} ({} resource(s)); upgrade it with its chart to record values and manifests",
            keys.len()
        );
    }
    for (n, keys) in report.known.iter().filter(|(_, k)| !k.is_empty()) {
        outln!("release {n}: {} resource(s) recorded again", keys.len());
    }
    Ok(())
}
