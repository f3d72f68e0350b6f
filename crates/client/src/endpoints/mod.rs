//! Typed endpoints. Each module pairs pure request builders (used by the schema conformance
//! test and by `--dry-run`) with `Client` methods that send them.

pub mod access;
pub mod cluster;
pub mod guest;
pub mod lxc;
pub mod nodes;
pub mod qemu;
pub mod rrd;
pub mod snapshot;
pub mod storage;
pub mod tasks;

use proxctl_types::Upid;
use serde_json::Value;

use crate::{ApiRequest, Client, ClientError};

/// A task-starting call: a UPID to wait for.
pub(crate) fn upid_of(req: &ApiRequest, v: Value) -> Result<Upid, ClientError> {
    crate::transport::decode(req, v)
}

impl Client {
    /// Send a task-starting call and return the UPID to wait for.
    pub(crate) async fn send_task(&self, req: &ApiRequest) -> Result<Upid, ClientError> {
        let v = self.send(req).await?;
        upid_of(req, v)
    }
}

/// A call that returns a UPID, or null when it finished within a `delay`/`background_delay`.
pub(crate) fn opt_upid_of(req: &ApiRequest, v: Value) -> Result<Option<Upid>, ClientError> {
    match v {
        Value::Null => Ok(None),
        other => upid_of(req, other).map(Some),
    }
}
