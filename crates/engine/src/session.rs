//! One apply-like run from start to end — apply, `delete -f`, a reconcile activation, later
//! a release or a scheduled job: lock the resources it may change, settle what a stopped run
//! left on them, plan, apply, release. Every face goes through a [`Session`], so two of them
//! working on the same resources at once serialise instead of both creating them.

use std::collections::BTreeSet;
use std::sync::Arc;

use proxctl_client::Client;
use proxctl_state::StateStore;

use crate::apply::{self, ApplyError, ApplyOptions, ApplyReport};
use crate::locks::Locks;
use crate::manifest::{Body, Declared};
use crate::plan::{Action, Plan};
use crate::{EngineError, make_plan};

pub struct Session<'a> {
    client: &'a Client,
    store: Arc<dyn StateStore>,
    opts: &'a ApplyOptions,
    locks: Locks,
}

impl std::fmt::Debug for Session<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("locks", &self.locks).finish_non_exhaustive()
    }
}

/// The lock names of what a manifest set may change: every declared resource (IP pools
/// included: their allocations change) and, with prune, every resource the store records.
async fn manifest_names(
    store: &dyn StateStore,
    declared: &[Declared],
    prune: bool,
) -> Result<BTreeSet<String>, EngineError> {
    let mut names: BTreeSet<String> = declared.iter().map(Declared::key).collect();
    if prune {
        names.extend(store.resources().await?.into_iter().map(|r| r.key.to_string()));
    }
    Ok(names)
}

impl<'a> Session<'a> {
    /// Lock what `declared` may change, waiting for other runs up to `opts.locks.wait`.
    pub async fn for_manifests(
        client: &'a Client,
        store: Arc<dyn StateStore>,
        declared: &[Declared],
        prune: bool,
        opts: &'a ApplyOptions,
        purpose: &str,
    ) -> Result<Session<'a>, EngineError> {
        let names = manifest_names(store.as_ref(), declared, prune).await?;
        Self::lock(client, store, names, opts, purpose).await
    }

    /// Lock exactly what a saved plan changes.
    pub async fn for_plan(
        client: &'a Client,
        store: Arc<dyn StateStore>,
        plan: &Plan,
        opts: &'a ApplyOptions,
    ) -> Result<Session<'a>, EngineError> {
        let names = plan.changes.iter().map(|c| c.key.clone()).collect();
        Self::lock(client, store, names, opts, "apply of a saved plan").await
    }

    async fn lock(
        client: &'a Client,
        store: Arc<dyn StateStore>,
        names: BTreeSet<String>,
        opts: &'a ApplyOptions,
        purpose: &str,
    ) -> Result<Session<'a>, EngineError> {
        let purpose = format!("{purpose} by {}", opts.actor);
        let locks = Locks::acquire(
            Arc::clone(&store),
            &opts.holder,
            &purpose,
            names,
            opts.locks,
            opts.progress.as_ref(),
        )
        .await
        .map_err(ApplyError::from)?;
        Ok(Session { client, store, opts, locks })
    }

    /// Settle what stopped runs left on the locked resources (waiting for their tasks).
    pub async fn settle(&self) -> Result<usize, EngineError> {
        let settled =
            crate::recover::recover(self.client, self.store.as_ref(), self.opts, &self.locks)
                .await?;
        Ok(settled.len())
    }

    /// Settle, then plan `declared` under the locks. A plan that would change something not
    /// locked yet (a pruned guest known only by its marker) extends the locks and plans again.
    pub async fn plan(&mut self, declared: &[Declared], prune: bool) -> Result<Plan, EngineError> {
        self.plan_with(|client, store| async move {
            make_plan(client, store.as_ref(), declared, prune).await
        })
        .await
    }

    /// Lock the resources of a release: what it owns, what it declares, and the release
    /// itself (`Release/<name>`), so two changes to one release serialise.
    pub async fn for_release(
        client: &'a Client,
        store: Arc<dyn StateStore>,
        release: &str,
        declared: &[Declared],
        owned: &BTreeSet<String>,
        opts: &'a ApplyOptions,
    ) -> Result<Session<'a>, EngineError> {
        let mut names: BTreeSet<String> = declared.iter().map(Declared::key).collect();
        names.extend(owned.iter().cloned());
        names.insert(format!("Release/{release}"));
        Self::lock(client, store, names, opts, &format!("release {release}")).await
    }

    /// Settle, then plan a release's manifests under the locks (see
    /// [`crate::make_release_plan`]).
    pub async fn plan_release(
        &mut self,
        declared: &[Declared],
        release: &str,
        owned: &BTreeSet<String>,
    ) -> Result<Plan, EngineError> {
        self.plan_with(|client, store| async move {
            crate::make_release_plan(client, store.as_ref(), declared, release, owned).await
        })
        .await
    }

    /// The plan that deletes exactly what `declared` names, under the locks.
    pub async fn plan_delete(&mut self, declared: &[Declared]) -> Result<Plan, EngineError> {
        self.plan_with(|client, store| async move {
            crate::plan_delete(client, store.as_ref(), declared).await
        })
        .await
    }

    async fn plan_with<F, Fut>(&mut self, make: F) -> Result<Plan, EngineError>
    where
        F: Fn(&'a Client, Arc<dyn StateStore>) -> Fut,
        Fut: std::future::Future<Output = Result<Plan, EngineError>>,
    {
        loop {
            self.settle().await?;
            let plan = make(self.client, Arc::clone(&self.store)).await?;
            let missing: Vec<String> = plan
                .changes
                .iter()
                .filter(|c| c.action != Action::Noop || !c.steps.is_empty())
                .filter(|c| !self.locks.covers(&c.key))
                .map(|c| c.key.clone())
                .collect();
            if missing.is_empty() {
                return Ok(plan);
            }
            self.locks
                .extend(missing, self.opts.progress.as_ref())
                .await
                .map_err(ApplyError::from)?;
        }
    }

    /// Apply a plan made by this session.
    pub async fn apply(&self, plan: &Plan) -> Result<ApplyReport, ApplyError> {
        apply::apply(self.client, Arc::clone(&self.store), plan, self.opts, &self.locks).await
    }

    /// Release the locks.
    pub async fn end(self) {
        self.locks.release().await;
    }
}

/// Whether an apply error means "plan again" (another run took a VMID, or settled work).
pub fn replan(e: &ApplyError) -> bool {
    matches!(e, ApplyError::VmidTaken { .. } | ApplyError::SettledAfterPlan { .. })
}

/// Manifests hold templates whose builds need the image catalog.
pub(crate) fn wants_catalog(declared: &[Declared]) -> bool {
    declared.iter().any(|d| matches!(d.body, Body::Template { .. }))
}

/// Lock exactly what a plan made elsewhere changes, apply it and release: for callers that
/// planned and checked the plan themselves (tests, benchmarks).
pub async fn apply_plan(
    client: &Client,
    store: Arc<dyn StateStore>,
    plan: &Plan,
    opts: &ApplyOptions,
) -> Result<ApplyReport, EngineError> {
    let s = Session::for_plan(client, store, plan, opts).await?;
    let report = s.apply(plan).await;
    s.end().await;
    Ok(report?)
}
