//! The engine's part of jobs: `drift-check` plans manifests and reports what drifted,
//! `reconcile` applies them where the cluster drifted. The engine depends on this crate, so the
//! faces hand an implementation of [`Declarative`] in (`proxctl_engine::jobs::Engine`); the
//! dependencies keep pointing one way.

use proxctl_client::Client;
use serde::{Deserialize, Serialize};

use crate::OpsError;
use crate::bulk::ItemReport;
use crate::state::StateHandle;

/// Where a job's manifests are: a path on the host that runs the job (read afresh at every
/// run), or the manifests themselves, kept with the job in the state store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Manifests {
    /// A manifest file or a directory of them.
    Path(String),
    /// YAML documents, as in manifest files.
    Inline(String),
}

impl Manifests {
    /// From a job's `path` and `manifests` fields: exactly one of them.
    pub fn of(path: &Option<String>, inline: &Option<String>) -> Result<Manifests, OpsError> {
        match (path, inline) {
            (Some(p), None) => Ok(Manifests::Path(p.clone())),
            (None, Some(m)) => Ok(Manifests::Inline(m.clone())),
            _ => Err(OpsError::Invalid(
                "give the manifests as a path (read at every run) or inline (kept with the job), \
                 one of the two"
                    .into(),
            )),
        }
    }
}

/// What a run found or did, per declared resource.
#[derive(Debug, Default)]
pub struct Outcome {
    pub items: Vec<ItemReport>,
    /// Resources that differ from their manifests (before a reconcile applied them).
    pub drifted: usize,
    pub total: usize,
}

/// Planning and applying manifests for a job, acting as `actor`.
#[async_trait::async_trait(?Send)]
pub trait Declarative {
    /// Plan `manifests`; with `apply`, carry out what drifted. Nothing is deleted unless
    /// `prune`.
    async fn run(
        &self,
        client: &Client,
        state: &StateHandle,
        manifests: &Manifests,
        apply: bool,
        prune: bool,
        actor: &str,
    ) -> Result<Outcome, OpsError>;
}

/// For a face without the engine: drift-check and reconcile jobs fail, saying so.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEngine;

#[async_trait::async_trait(?Send)]
impl Declarative for NoEngine {
    async fn run(
        &self,
        _: &Client,
        _: &StateHandle,
        _: &Manifests,
        _: bool,
        _: bool,
        _: &str,
    ) -> Result<Outcome, OpsError> {
        Err(OpsError::Invalid("this face cannot plan manifests; run the job from proxctl".into()))
    }
}
