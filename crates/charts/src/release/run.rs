//! Changing a release: install, upgrade and rollback (`deploy`), and uninstall. Each runs in
//! one engine session that first locks `Release/<name>`, so two changes to one release (from
//! two faces or two instances) serialise, and the release document is read and written under
//! that lock. The plan is shown (the caller's `confirm`) before anything is applied; the new
//! revision is recorded as pending before the first PVE call, so ownership is never lost.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use jiff::Timestamp;
use proxctl_client::Client;
use proxctl_engine::manifest::{self, Declared};
use proxctl_engine::{Action, ApplyOptions, ApplyReport, EngineError, Plan, Session};
use proxctl_state::{NewAuditEntry, StateStore};

use super::{Release, Revision, Status, find, owners, packed, save};
use crate::ChartError;
use crate::chart::{Chart, check_name};
use crate::lint::{PrepareError, mark, prepare};
use crate::render::ReleaseInfo;
use crate::values::Source;

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    #[error(transparent)]
    Chart(#[from] ChartError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    State(#[from] proxctl_state::StateError),
    #[error(transparent)]
    Client(#[from] proxctl_client::ClientError),
    #[error("{0}")]
    NotFound(String),
    /// The release exists, or a resource belongs to someone else.
    #[error("{0}")]
    Conflict(String),
    /// The person declined the plan.
    #[error("{0}")]
    Refused(String),
    #[error("the state store holds a release it cannot read: {0}")]
    Corrupt(String),
    #[error(
        "release {name} revision {revision} failed: {message}\nthe release stays usable: fix the cause and upgrade again, or `proxctl release rollback {name}`"
    )]
    Failed { name: String, revision: u32, message: String },
}

/// What to do to a release.
#[derive(Debug, Clone)]
pub enum Change {
    Install {
        chart: Box<Chart>,
        sources: Vec<Source>,
    },
    /// `chart` absent: the chart of the latest revision.
    Upgrade {
        chart: Option<Box<Chart>>,
        sources: Vec<Source>,
        reuse_values: bool,
    },
    /// `revision` absent: the revision deployed before the current one (or, when the latest
    /// failed, the one still deployed).
    Rollback {
        revision: Option<u32>,
    },
}

impl Change {
    fn verb(&self) -> &'static str {
        match self {
            Change::Install { .. } => "install",
            Change::Upgrade { .. } => "upgrade",
            Change::Rollback { .. } => "rollback",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Request {
    pub name: String,
    pub change: Change,
    /// Render and plan only: nothing is applied or recorded.
    pub dry_run: bool,
    /// Recorded with a new release (see [`Release::remote`]).
    pub remote: Option<String>,
}

/// How a change ended.
#[derive(Debug)]
pub struct Outcome {
    pub name: String,
    pub revision: u32,
    pub plan: Plan,
    pub report: Option<ApplyReport>,
    /// `None` for a dry run.
    pub status: Option<Status>,
    pub notes: Option<String>,
    /// The rendered manifests.
    pub manifest: String,
}

/// What a revision will apply.
struct Target {
    chart_name: String,
    chart_version: String,
    chart_package: Option<String>,
    values: serde_json::Value,
    manifest: String,
    notes: Option<String>,
    declared: Vec<Declared>,
    description: String,
}

/// Install, upgrade or roll back, showing the plan to `confirm` first.
pub async fn deploy(
    client: &Client,
    store: Arc<dyn StateStore>,
    req: Request,
    opts: &ApplyOptions,
    confirm: impl FnOnce(&Plan) -> Result<(), String>,
) -> Result<Outcome, ReleaseError> {
    check_name(&req.name).map_err(ReleaseError::Conflict)?;
    let none = BTreeSet::new();
    let mut session =
        Session::for_release(client, Arc::clone(&store), &req.name, &[], &none, opts).await?;
    let result = deploy_locked(&mut session, store.as_ref(), req, opts, confirm).await;
    session.end().await;
    result
}

async fn deploy_locked(
    session: &mut Session<'_>,
    store: &dyn StateStore,
    req: Request,
    opts: &ApplyOptions,
    confirm: impl FnOnce(&Plan) -> Result<(), String>,
) -> Result<Outcome, ReleaseError> {
    let name = req.name.as_str();
    let verb = req.change.verb();
    let existing = find(store, name).await?;
    let mut release = match (&req.change, existing) {
        (Change::Install { .. }, Some(r)) => {
            let last = r.latest().map(|l| format!("revision {}, {}", l.revision, l.status));
            return Err(ReleaseError::Conflict(format!(
                "release {name} already exists ({}); upgrade it with `proxctl release upgrade {name}`, \
                 or choose another name",
                last.unwrap_or_default()
            )));
        }
        (Change::Install { .. }, None) => Release {
            name: name.to_string(),
            revisions: Vec::new(),
            owned: BTreeSet::new(),
            secrets: Default::default(),
            remote: req.remote.clone(),
        },
        (_, Some(r)) => r,
        (_, None) => {
            return Err(ReleaseError::NotFound(format!(
                "no release named {name}; install it first with `proxctl release install {name} CHART`"
            )));
        }
    };
    let revision = release.next_revision();
    let (target, secrets) = target(&release, &req.change, revision)?;

    // No resource belongs to two releases, nor to a release and a plain manifest.
    let owners = owners(store).await?;
    let taken: Vec<String> = target
        .declared
        .iter()
        .filter_map(|d| {
            let key = d.key();
            let other = owners.get(&key).filter(|o| o.as_str() != name)?;
            Some(format!("{key} belongs to release {other}"))
        })
        .collect();
    if !taken.is_empty() {
        return Err(ReleaseError::Conflict(format!(
            "{}; a resource belongs to one release at most (rename it in the values, or \
             uninstall the other release)",
            taken.join("; ")
        )));
    }
    let plan = session.plan_release(&target.declared, name, &release.owned).await?;
    let declared_keys: BTreeSet<String> = target.declared.iter().map(Declared::key).collect();
    for c in &plan.changes {
        let takes_over = declared_keys.contains(&c.key)
            && !release.owned.contains(&c.key)
            && c.action != Action::Create
            && !c.key.starts_with("IPPool/");
        if takes_over {
            let by = c.vmid.map(|v| format!(" (VMID {v})")).unwrap_or_default();
            return Err(ReleaseError::Conflict(format!(
                "{}{by} already exists and is managed by a plain manifest (`proxctl apply`); a \
                 release does not take over what it did not create: rename the release's \
                 resource, or delete the existing one with `proxctl delete -f`",
                c.key
            )));
        }
    }
    let rendered_manifest = target.manifest.clone();
    if req.dry_run {
        return Ok(Outcome {
            name: name.to_string(),
            revision,
            plan,
            report: None,
            status: None,
            notes: target.notes,
            manifest: rendered_manifest,
        });
    }
    if plan.has_changes() {
        confirm(&plan).map_err(ReleaseError::Refused)?;
    }

    // A revision a stopped applier left pending ended without an outcome.
    for r in release.revisions.iter_mut().filter(|r| r.status == Status::Pending) {
        r.status = Status::Failed;
        r.description.push_str(" (interrupted: the applier stopped)");
    }
    release.revisions.push(Revision {
        revision,
        chart: target.chart_name.clone(),
        chart_version: target.chart_version.clone(),
        values: target.values.clone(),
        manifest: target.manifest.clone(),
        notes: target.notes.clone(),
        status: Status::Pending,
        description: target.description.clone(),
        by: opts.actor.clone(),
        at: Timestamp::now(),
        chart_package: target.chart_package.clone(),
    });
    release.owned.extend(declared_keys.iter().cloned());
    release.secrets = secrets;
    let params = serde_json::json!({
        "revision": revision, "chart": target.chart_name, "version": target.chart_version,
    });
    audit(store, opts, name, verb, &params, "started").await?;
    save(store, &release).await?;

    let applied = apply(session, &target.declared, name, &release.owned, plan).await;
    let (plan, outcome) = match applied {
        Ok((plan, report)) if report.failed() == 0 => (plan, Ok(report)),
        Ok((plan, report)) => {
            let failed: Vec<String> = report
                .results
                .iter()
                .filter(|r| !r.ok)
                .map(|r| format!("{}: {}", r.key, r.result))
                .collect();
            (plan, Err((failed.join("; "), Some(report))))
        }
        Err((plan, e)) => (plan, Err((e.to_string(), None))),
    };
    let status = if outcome.is_ok() { Status::Deployed } else { Status::Failed };
    for r in &mut release.revisions {
        if r.revision == revision {
            r.status = status;
            if let Err((message, _)) = &outcome {
                r.description = format!("{}: failed: {message}", r.description);
            }
        } else if status == Status::Deployed && r.status == Status::Deployed {
            r.status = Status::Superseded;
        }
    }
    if status == Status::Deployed {
        release.owned = declared_keys;
    }
    save(store, &release).await?;
    let result = match &outcome {
        Ok(_) => "ok".to_string(),
        Err((m, _)) => format!("error: {m}"),
    };
    audit(store, opts, name, verb, &params, &result).await?;
    match outcome {
        Ok(report) => Ok(Outcome {
            name: name.to_string(),
            revision,
            plan,
            report: Some(report),
            status: Some(status),
            notes: target.notes,
            manifest: rendered_manifest,
        }),
        Err((message, _)) => {
            Err(ReleaseError::Failed { name: name.to_string(), revision, message })
        }
    }
}

/// Apply under the session; if a VMID the plan picked was taken meanwhile, plan again.
async fn apply(
    session: &mut Session<'_>,
    declared: &[Declared],
    name: &str,
    owned: &BTreeSet<String>,
    first: Plan,
) -> Result<(Plan, ApplyReport), (Plan, EngineError)> {
    let mut plan = first;
    let mut tries = 0;
    loop {
        match session.apply(&plan).await {
            Err(e) if proxctl_engine::session::replan(&e) && tries < 5 => {
                tries += 1;
                plan = match session.plan_release(declared, name, owned).await {
                    Ok(p) => p,
                    Err(e) => return Err((plan, e)),
                };
            }
            Err(e) => return Err((plan, e.into())),
            Ok(report) => return Ok((plan, report)),
        }
    }
}

/// What `change` applies as revision `revision` of `release`.
fn target(
    release: &Release,
    change: &Change,
    revision: u32,
) -> Result<(Target, crate::render::Secrets), ReleaseError> {
    let name = release.name.as_str();
    let info = |is_install| ReleaseInfo {
        name: name.to_string(),
        revision,
        is_install,
        is_upgrade: !is_install,
    };
    let from_chart = |chart: &Chart,
                      base: Option<&serde_json::Value>,
                      sources: &[Source],
                      install: bool,
                      description: String| {
        let mut secrets = release.secrets.clone();
        let p = prepare(chart, &info(install), base, sources, &mut secrets)?;
        Ok::<_, ReleaseError>((
            Target {
                chart_name: chart.meta.name.clone(),
                chart_version: chart.meta.version.to_string(),
                chart_package: packed(chart),
                values: p.user_values,
                manifest: p.rendered.manifest(),
                notes: p.rendered.notes,
                declared: p.declared,
                description,
            },
            secrets,
        ))
    };
    Ok(match change {
        Change::Install { chart, sources } => {
            from_chart(chart, None, sources, true, "install".into())?
        }
        Change::Upgrade { chart, sources, reuse_values } => {
            let latest = release.deployed().or(release.latest());
            let stored;
            let chart: &Chart = match chart {
                Some(c) => c,
                None => {
                    stored = latest.and_then(Revision::chart).ok_or_else(|| {
                        ReleaseError::NotFound(format!(
                            "release {name} keeps no chart (it was adopted from PVE); name the \
                             chart: `proxctl release upgrade {name} CHART`"
                        ))
                    })?;
                    &stored
                }
            };
            let base = if *reuse_values { latest.map(|r| &r.values) } else { None };
            from_chart(chart, base, sources, false, "upgrade".into())?
        }
        Change::Rollback { revision: wanted } => {
            let to = rollback_target(release, *wanted)?;
            let path = format!("release {name} revision {}", to.revision);
            let mut declared =
                manifest::parse(Path::new(&path), &to.manifest).map_err(PrepareError::Manifest)?;
            mark(&mut declared, name);
            (
                Target {
                    chart_name: to.chart.clone(),
                    chart_version: to.chart_version.clone(),
                    chart_package: to.chart_package.clone(),
                    values: to.values.clone(),
                    manifest: to.manifest.clone(),
                    notes: to.notes.clone(),
                    declared,
                    description: format!("rollback to {}", to.revision),
                },
                release.secrets.clone(),
            )
        }
    })
}

fn rollback_target(release: &Release, wanted: Option<u32>) -> Result<&Revision, ReleaseError> {
    let name = &release.name;
    let latest = release.latest().map(|r| (r.revision, r.status));
    let found = match (wanted, latest) {
        (Some(n), _) => Some(release.revision(n).ok_or_else(|| {
            ReleaseError::NotFound(format!(
                "release {name} has no revision {n}; `proxctl release history {name}` lists them"
            ))
        })?),
        // The latest failed (or stopped): back to what is still deployed.
        (None, Some((_, Status::Failed | Status::Pending))) => release.deployed(),
        // Else the one deployed before the current.
        (None, Some((current, _))) => release
            .revisions
            .iter()
            .rev()
            .find(|r| r.revision < current && r.status == Status::Superseded),
        (None, None) => None,
    };
    let to = found.ok_or_else(|| {
        ReleaseError::NotFound(format!(
            "release {name} has no earlier deployed revision to roll back to; name one: \
             `proxctl release rollback {name} REVISION`"
        ))
    })?;
    if to.manifest.trim().is_empty() {
        return Err(ReleaseError::NotFound(format!(
            "revision {} of release {name} was adopted from PVE and keeps no manifests, so it \
             cannot be rolled back to; upgrade with the chart instead",
            to.revision
        )));
    }
    Ok(to)
}

/// The plan that deletes everything `name` owns (for a preview).
pub async fn plan_uninstall(
    client: &Client,
    store: &dyn StateStore,
    name: &str,
) -> Result<Plan, ReleaseError> {
    let release = super::get(store, name).await?;
    Ok(proxctl_engine::make_release_plan(client, store, &[], name, &release.owned).await?)
}

/// Delete exactly what the release owns (guests, their seed ISOs and IP allocations, its
/// jobs), after `confirm`, then forget the release. If something fails the release stays,
/// owning what is left.
pub async fn uninstall(
    client: &Client,
    store: Arc<dyn StateStore>,
    name: &str,
    opts: &ApplyOptions,
    confirm: impl FnOnce(&Plan) -> Result<(), String>,
) -> Result<Outcome, ReleaseError> {
    let none = BTreeSet::new();
    let mut session =
        Session::for_release(client, Arc::clone(&store), name, &[], &none, opts).await?;
    let result = async {
        let st = store.as_ref();
        let mut release = super::get(st, name).await?;
        let plan = session.plan_release(&[], name, &release.owned).await?;
        if plan.has_changes() {
            confirm(&plan).map_err(ReleaseError::Refused)?;
        }
        let revision = release.latest().map_or(0, |r| r.revision);
        let params = serde_json::json!({"revision": revision, "resources": release.owned});
        audit(st, opts, name, "uninstall", &params, "started").await?;
        let report = session.apply(&plan).await.map_err(EngineError::from)?;
        let failed: BTreeSet<String> =
            report.results.iter().filter(|r| !r.ok).map(|r| r.key.clone()).collect();
        if failed.is_empty() {
            st.delete_document(super::DOCUMENT_KIND, name).await?;
            audit(st, opts, name, "uninstall", &params, "ok").await?;
            return Ok(Outcome {
                name: name.to_string(),
                revision,
                plan,
                report: Some(report),
                status: None,
                notes: None,
                manifest: String::new(),
            });
        }
        release.owned.retain(|k| failed.contains(k));
        save(st, &release).await?;
        let message =
            format!("could not delete {}", failed.into_iter().collect::<Vec<_>>().join(", "));
        audit(st, opts, name, "uninstall", &params, &format!("error: {message}")).await?;
        Err(ReleaseError::Failed { name: name.to_string(), revision, message })
    }
    .await;
    session.end().await;
    result
}

/// One audit row for a release change. What cannot be audited is not done: an error here
/// stops the change before anything is applied.
async fn audit(
    store: &dyn StateStore,
    opts: &ApplyOptions,
    name: &str,
    verb: &str,
    params: &serde_json::Value,
    result: &str,
) -> Result<(), ReleaseError> {
    store
        .append_audit(&NewAuditEntry {
            time: Timestamp::now(),
            actor: opts.actor.clone(),
            profile: String::new(),
            target: format!("release/{name}"),
            action: format!("release {verb}"),
            params: params.clone(),
            result: result.to_string(),
        })
        .await?;
    Ok(())
}
