//! The engine's side of `drift-check` and `reconcile` jobs: [`Engine`] implements the
//! operations layer's [`Declarative`], so the scheduler, `job run` and the API run those jobs
//! through the same planner and executor as `proxctl plan` and `apply`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use proxctl_client::Client;
use proxctl_ops::OpsError;
use proxctl_ops::bulk::{ItemReport, Outcome};
use proxctl_ops::jobs::declared::{self, Declarative, Manifests};
use proxctl_ops::state::StateHandle;

use crate::plan::{Change, Plan};
use crate::{Action, ApplyOptions, EngineError, Session, manifest};

/// Plans and applies jobs' manifests.
#[derive(Debug, Clone, Copy, Default)]
pub struct Engine;

fn ops_error(e: EngineError) -> OpsError {
    match e {
        EngineError::Client(c) => OpsError::Client(c),
        EngineError::State(s) => OpsError::State(s),
        EngineError::Ops(o) => o,
        other => OpsError::Invalid(other.to_string()),
    }
}

fn load(m: &Manifests) -> Result<Vec<manifest::Declared>, OpsError> {
    match m {
        Manifests::Path(p) => manifest::load(&[PathBuf::from(p)]),
        Manifests::Inline(text) => manifest::parse(Path::new("job manifests"), text),
    }
    .map_err(|d| ops_error(EngineError::Manifest(d)))
}

fn verb(a: Action) -> &'static str {
    match a {
        Action::Create => "create",
        Action::Update => "update",
        Action::Replace => "replace",
        Action::Delete => "delete",
        Action::Noop => "in sync",
    }
}

/// A plan's line for one resource: `found` when it drifted.
fn drift_line(c: &Change) -> ItemReport {
    let (outcome, detail) = if c.action == Action::Noop {
        (Outcome::Ok, "in sync".to_string())
    } else {
        let fields: Vec<&str> = c.diffs.iter().map(|d| d.field.as_str()).collect();
        let mut d = format!("would {}: {}", verb(c.action), c.summary);
        if !fields.is_empty() {
            d.push_str(&format!(" ({})", fields.join(", ")));
        }
        (Outcome::Found, d)
    };
    ItemReport {
        vmid: c.vmid.unwrap_or(0),
        name: c.key.clone(),
        node: c.node.clone().unwrap_or_default(),
        outcome,
        detail,
        tags: Vec::new(),
    }
}

fn drifted(plan: &Plan) -> usize {
    plan.changes.iter().filter(|c| c.action != Action::Noop).count()
}

#[async_trait::async_trait(?Send)]
impl Declarative for Engine {
    async fn run(
        &self,
        client: &Client,
        state: &StateHandle,
        manifests: &Manifests,
        apply: bool,
        prune: bool,
        actor: &str,
    ) -> Result<declared::Outcome, OpsError> {
        let declared = load(manifests)?;
        let store = Arc::clone(state.get().await?);
        if !apply {
            let plan = crate::make_plan(client, store.as_ref(), &declared, prune)
                .await
                .map_err(ops_error)?;
            return Ok(declared::Outcome {
                drifted: drifted(&plan),
                total: plan.changes.len(),
                items: plan.changes.iter().map(drift_line).collect(),
            });
        }
        let opts = ApplyOptions::new(actor);
        let mut s = Session::for_manifests(client, store, &declared, prune, &opts, "job")
            .await
            .map_err(ops_error)?;
        let outcome = async {
            let plan = s.plan(&declared, prune).await?;
            let report = if drifted(&plan) > 0 { Some(s.apply(&plan).await?) } else { None };
            Ok::<_, EngineError>((plan, report))
        }
        .await;
        s.end().await;
        let (plan, report) = outcome.map_err(ops_error)?;
        let items = plan
            .changes
            .iter()
            .map(|c| {
                let mut line = drift_line(c);
                if c.action == Action::Noop {
                    return line;
                }
                let result =
                    report.as_ref().and_then(|r| r.results.iter().find(|r| r.key == c.key));
                (line.outcome, line.detail) = match result {
                    Some(r) if r.ok => (Outcome::Ok, format!("{}: {}", verb(c.action), c.summary)),
                    Some(r) => (Outcome::Failed, format!("{}: {}", verb(c.action), r.result)),
                    None => (Outcome::Failed, format!("{}: not carried out", verb(c.action))),
                };
                line
            })
            .collect();
        Ok(declared::Outcome { drifted: drifted(&plan), total: plan.changes.len(), items })
    }
}
