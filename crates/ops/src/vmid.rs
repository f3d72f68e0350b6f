//! Choosing the VMID of a new guest when the user gave none, safely beside other proxctl runs
//! and other tools: a candidate is leased in the state store (other proxctl runs skip it),
//! confirmed free with `nextid?vmid=`, and if PVE still answers "already exists" (another tool
//! won the race), the next candidate is tried. A VMID the user gave is used as given, never
//! changed. This is what `apply` does with its plan's VMIDs, for the imperative commands.

use std::collections::BTreeSet;
use std::future::Future;

use proxctl_client::endpoints::cluster::ResourceType;
use proxctl_client::{ApiErrorKind, Client, ClientError};
use proxctl_state::ResourceKey;
use proxctl_types::VmId;

use crate::OpsError;
use crate::state::StateHandle;

/// Candidates tried before giving up (each a lost race or a VMID leased by another run).
const MAX_TRIES: u32 = 64;

/// Whether a create or clone failed because its VMID is taken (nothing was made).
pub fn is_taken(e: &OpsError) -> bool {
    match e {
        OpsError::Client(ClientError::CreateConflict { .. }) => true,
        OpsError::Client(ClientError::Api(a)) => a.kind == ApiErrorKind::AlreadyExists,
        _ => false,
    }
}

/// Run `create` with a VMID: `given` as is, or else a free one chosen as described above.
/// `label` names the new guest in the lease (who is about to take the VMID).
pub async fn with_new_vmid<T, F, Fut>(
    client: &Client,
    state: Option<&StateHandle>,
    given: Option<VmId>,
    label: &str,
    create: F,
) -> Result<(VmId, T), OpsError>
where
    F: FnMut(VmId) -> Fut,
    Fut: Future<Output = Result<T, OpsError>>,
{
    with_new_vmid_from(client, state, given, label, None, create).await
}

/// [`with_new_vmid`], choosing from `floor` up when given (templates: from
/// [`proxctl_types::ids::TEMPLATE_VMID_FLOOR`]), skipping the VMIDs the cluster lists.
pub async fn with_new_vmid_from<T, F, Fut>(
    client: &Client,
    state: Option<&StateHandle>,
    given: Option<VmId>,
    label: &str,
    floor: Option<u32>,
    mut create: F,
) -> Result<(VmId, T), OpsError>
where
    F: FnMut(VmId) -> Fut,
    Fut: Future<Output = Result<T, OpsError>>,
{
    if let Some(v) = given {
        return create(v).await.map(|t| (v, t));
    }
    // A store that cannot be opened only loses the lease, not the command: the retry on
    // "already exists" still resolves the race.
    let store = match state {
        Some(s) => match s.get().await {
            Ok(st) => Some(st.clone()),
            Err(e) => {
                tracing::warn!(error = %e, "no VMID leases: the state store cannot be opened");
                None
            }
        },
        None => None,
    };
    let owner = ResourceKey::new("Command", label.replace(['/', ' '], "-"))
        .or_else(|_| ResourceKey::new("Command", "guest"))
        .map_err(|e| OpsError::Invalid(e.to_string()))?;
    let holder = format!("cmd:{}:{}", std::process::id(), jiff::Timestamp::now().as_microsecond());
    let mut skip = BTreeSet::new();
    let mut candidate = match floor {
        Some(f) => {
            let listed = client.cluster_resources(Some(ResourceType::Vm)).await?;
            skip.extend(listed.iter().filter_map(|g| g.vmid.map(VmId::get)).filter(|v| *v >= f));
            f
        }
        None => client.next_id(None).await?.get(),
    };
    for _ in 0..MAX_TRIES {
        while skip.contains(&candidate) {
            candidate += 1;
        }
        let id = VmId::new(candidate).map_err(|e| OpsError::Invalid(e.to_string()))?;
        let now = jiff::Timestamp::now();
        let leased = match &store {
            Some(s) => {
                let until = now + jiff::SignedDuration::from_mins(10);
                s.lease_vmid(id, &holder, &owner, until, now).await?
            }
            None => true,
        };
        // Free in PVE too (another tool may have taken it since the first nextid).
        if !leased || client.next_id(Some(id)).await.is_err() {
            release(&store, id, &holder).await;
            skip.insert(candidate);
            continue;
        }
        let result = create(id).await;
        release(&store, id, &holder).await;
        match result {
            Err(e) if is_taken(&e) => {
                tracing::info!(vmid = %id, "VMID {id} was taken meanwhile by someone else; trying the next");
                skip.insert(candidate);
            }
            other => return other.map(|t| (id, t)),
        }
    }
    Err(OpsError::Invalid(format!(
        "could not find a free VMID for {label} after {MAX_TRIES} tries; something is creating \
         guests very fast, or give --vmid"
    )))
}

async fn release(
    store: &Option<std::sync::Arc<dyn proxctl_state::StateStore>>,
    id: VmId,
    holder: &str,
) {
    if let Some(s) = store
        && let Err(e) = s.release_vmid(id, holder).await
    {
        tracing::warn!(vmid = %id, error = %e, "cannot release a VMID lease; it expires on its own");
    }
}
