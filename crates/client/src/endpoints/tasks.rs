//! Task endpoints: status, log, list and stop.

use proxctl_types::api::{TaskListItem, TaskLogLine, TaskStatus};
use proxctl_types::wire::FormParams;
use proxctl_types::{NodeName, Upid, VmId};

use crate::{ApiRequest, Client, ClientError, Endpoint};

pub fn status(node: &NodeName, upid: &Upid) -> ApiRequest {
    ApiRequest::new(Endpoint::TaskStatus, &[node.as_str(), &upid.to_string()], FormParams::new())
}

/// `limit` 0 means the whole log. `start` is 0-based; returned `n` is 1-based.
pub fn log(node: &NodeName, upid: &Upid, start: u64, limit: u64) -> ApiRequest {
    let mut p = FormParams::new();
    p.push("start", start.to_string()).push("limit", limit.to_string());
    ApiRequest::new(Endpoint::TaskLog, &[node.as_str(), &upid.to_string()], p)
}

/// Filters of `GET /nodes/{node}/tasks`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskFilter {
    pub start: Option<u64>,
    pub limit: Option<u64>,
    pub userfilter: Option<String>,
    pub typefilter: Option<String>,
    pub vmid: Option<VmId>,
    pub errors: bool,
    /// `archive` (default: finished only), `active` or `all`.
    pub source: Option<String>,
    pub since: Option<u64>,
    pub until: Option<u64>,
}

pub fn list(node: &NodeName, f: &TaskFilter) -> ApiRequest {
    let mut p = FormParams::new();
    p.push_opt("start", f.start)
        .push_opt("limit", f.limit)
        .push_opt("userfilter", f.userfilter.as_ref())
        .push_opt("typefilter", f.typefilter.as_ref())
        .push_opt("vmid", f.vmid)
        .push_opt("source", f.source.as_ref())
        .push_opt("since", f.since)
        .push_opt("until", f.until);
    if f.errors {
        p.push_bool("errors", true);
    }
    ApiRequest::new(Endpoint::TaskList, &[node.as_str()], p)
}

pub fn stop(node: &NodeName, upid: &Upid) -> ApiRequest {
    ApiRequest::new(Endpoint::TaskStop, &[node.as_str(), &upid.to_string()], FormParams::new())
}

impl Client {
    pub async fn task_status(
        &self,
        node: &NodeName,
        upid: &Upid,
    ) -> Result<TaskStatus, ClientError> {
        self.send_as(&status(node, upid)).await
    }

    /// Log lines and the total line count.
    pub async fn task_log(
        &self,
        node: &NodeName,
        upid: &Upid,
        start: u64,
        limit: u64,
    ) -> Result<(Vec<TaskLogLine>, Option<u64>), ClientError> {
        let req = log(node, upid, start, limit);
        let (v, total) = self.send_with_total(&req).await?;
        Ok((crate::transport::decode(&req, v)?, total))
    }

    pub async fn task_list(
        &self,
        node: &NodeName,
        f: &TaskFilter,
    ) -> Result<Vec<TaskListItem>, ClientError> {
        self.send_as(&list(node, f)).await
    }

    pub async fn task_stop(&self, node: &NodeName, upid: &Upid) -> Result<(), ClientError> {
        self.send(&stop(node, upid)).await.map(drop)
    }
}
