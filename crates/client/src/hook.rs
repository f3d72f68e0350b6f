//! A hook on every mutating request. The audit log and safe mode hang here, in the one place
//! every call passes, so no face and no operation can forget them.

use async_trait::async_trait;

use proxctl_types::Upid;
use proxctl_types::api::TaskOutcome;

use crate::{ApiRequest, Client, ClientError};

/// How a mutating request ended, as a hook sees it.
#[derive(Debug)]
pub enum MutationResult<'a> {
    /// PVE accepted it. `data` is the reply's `data` when it is a string: a task's UPID.
    Ok {
        data: Option<String>,
    },
    Failed(&'a ClientError),
}

/// Sees every request that can change state, once per logical call (not per retry). Dry runs
/// and logins are not mutations and never reach it.
#[async_trait]
pub trait MutationHook: Send + Sync + std::fmt::Debug {
    /// Runs before the request is sent. An error refuses the request: it is not sent, and the
    /// caller gets the error. `client` may be used for reads (reads never reach the hook).
    async fn before(&self, client: &Client, req: &ApiRequest) -> Result<(), ClientError>;
    /// Runs after the request, whatever its result. It cannot fail the call: PVE has already
    /// acted, and hiding that would be worse than a missing record.
    async fn after(&self, req: &ApiRequest, result: MutationResult<'_>);
    /// Runs when `wait_task` sees a task end: a mutation's real outcome arrives here, after its
    /// request. Tasks of any origin pass; a hook keeps the ones it cares about.
    async fn task_ended(&self, _upid: &Upid, _outcome: &TaskOutcome) {}
}
