//! Plans kept for a later apply, in the state store: a plan made on one instance can be
//! applied through any other that shares the store. The oldest go once [`KEEP_PLANS`] are kept.

use proxctl_engine::Plan;
use proxctl_ops::state::StateHandle;
use proxctl_state::document::{Document, kind};
use serde::{Deserialize, Serialize};

use crate::problem::Problem;

/// How many plans are kept.
pub const KEEP_PLANS: usize = 200;

#[derive(Serialize, Deserialize)]
struct Kept {
    remote: String,
    plan: Plan,
}

fn store_problem(e: impl std::fmt::Display) -> Problem {
    Problem::unavailable(format!("the state store cannot keep plans: {e}"))
}

/// Keep `plan` (made against `remote`) under `id`.
pub async fn keep(state: &StateHandle, id: &str, remote: &str, plan: &Plan) -> Result<(), Problem> {
    let store = state.get().await.map_err(store_problem)?;
    let body = serde_json::to_string(&Kept { remote: remote.to_string(), plan: plan.clone() })
        .map_err(|e| Problem::internal(format!("writing a plan: {e}")))?;
    let now = jiff::Timestamp::now();
    let d =
        Document { kind: kind::PLAN.into(), id: id.into(), body, created_at: now, updated_at: now };
    store.put_document(&d).await.map_err(store_problem)?;
    store.prune_documents(kind::PLAN, KEEP_PLANS).await.map_err(store_problem)?;
    Ok(())
}

/// The plan kept under `id`, with its remote.
pub async fn load(state: &StateHandle, id: &str) -> Result<Option<(String, Plan)>, Problem> {
    let store = state.get().await.map_err(store_problem)?;
    let Some(d) = store.document(kind::PLAN, id).await.map_err(store_problem)? else {
        return Ok(None);
    };
    let k: Kept = serde_json::from_str(&d.body).map_err(|e| {
        Problem::internal(format!(
            "plan {id} in the state store cannot be read ({e}); make it again"
        ))
    })?;
    Ok(Some((k.remote, k.plan)))
}
