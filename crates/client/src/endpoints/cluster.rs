//! Cluster endpoints: resources, status, nextid, tasks, backup jobs, HA status, SDN.

use proxctl_types::VmId;
use proxctl_types::api::{
    BackupJob, ClusterResource, ClusterStatusItem, HaStatusItem, NotBackedUp, SdnVnet, SdnZone,
    TaskListItem,
};
use proxctl_types::wire::FormParams;

use crate::{ApiRequest, Client, ClientError, Endpoint};

/// The `type` filter of `/cluster/resources`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceType {
    Vm,
    Storage,
    Node,
    Sdn,
}

impl ResourceType {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::Vm => "vm",
            ResourceType::Storage => "storage",
            ResourceType::Node => "node",
            ResourceType::Sdn => "sdn",
        }
    }
}

pub fn resources(kind: Option<ResourceType>) -> ApiRequest {
    let mut p = FormParams::new();
    p.push_opt("type", kind.map(ResourceType::as_str));
    ApiRequest::new(Endpoint::ClusterResources, &[], p)
}

pub fn status() -> ApiRequest {
    ApiRequest::new(Endpoint::ClusterStatus, &[], FormParams::new())
}

pub fn nextid(want: Option<VmId>) -> ApiRequest {
    let mut p = FormParams::new();
    p.push_opt("vmid", want);
    ApiRequest::new(Endpoint::ClusterNextId, &[], p)
}

pub fn tasks() -> ApiRequest {
    ApiRequest::new(Endpoint::ClusterTasks, &[], FormParams::new())
}

/// Datacenter backup jobs (`jobs.cfg`'s vzdump entries).
pub fn backup_jobs() -> ApiRequest {
    ApiRequest::new(Endpoint::BackupJobs, &[], FormParams::new())
}

/// Guests no datacenter backup job covers.
pub fn not_backed_up() -> ApiRequest {
    ApiRequest::new(Endpoint::NotBackedUp, &[], FormParams::new())
}

/// HA resources as configured (`GET /cluster/ha/resources`).
pub fn ha_resources() -> ApiRequest {
    ApiRequest::new(Endpoint::HaResources, &[], FormParams::new())
}

/// Put a guest under HA (`sid` like `vm:100`) with a requested state.
pub fn ha_resource_create(sid: &str, state: &str) -> ApiRequest {
    let mut p = FormParams::new();
    p.push("sid", sid).push("state", state);
    ApiRequest::new(Endpoint::HaResourceCreate, &[], p)
}

pub fn ha_resource_update(sid: &str, state: &str) -> ApiRequest {
    let mut p = FormParams::new();
    p.push("state", state);
    ApiRequest::new(Endpoint::HaResourceUpdate, &[sid], p)
}

pub fn ha_resource_delete(sid: &str) -> ApiRequest {
    ApiRequest::new(Endpoint::HaResourceDelete, &[sid], FormParams::new())
}

pub fn ha_status() -> ApiRequest {
    ApiRequest::new(Endpoint::HaStatus, &[], FormParams::new())
}

pub fn sdn_zones() -> ApiRequest {
    ApiRequest::new(Endpoint::SdnZones, &[], FormParams::new())
}

pub fn sdn_vnets() -> ApiRequest {
    ApiRequest::new(Endpoint::SdnVnets, &[], FormParams::new())
}

impl Client {
    pub async fn cluster_resources(
        &self,
        kind: Option<ResourceType>,
    ) -> Result<Vec<ClusterResource>, ClientError> {
        self.send_as(&resources(kind)).await
    }

    pub async fn cluster_status(&self) -> Result<Vec<ClusterStatusItem>, ClientError> {
        self.send_as(&status()).await
    }

    /// The lowest free VMID, or confirm that `want` is free. Reserves nothing: two callers can
    /// get the same answer, so creates must still handle "already exists".
    pub async fn ha_resources(
        &self,
    ) -> Result<Vec<proxctl_types::api::HaResourceItem>, ClientError> {
        self.send_as(&ha_resources()).await
    }

    /// Put `sid` under HA in `state`, or change its state if it already is.
    pub async fn ha_set(&self, sid: &str, state: &str, exists: bool) -> Result<(), ClientError> {
        let req =
            if exists { ha_resource_update(sid, state) } else { ha_resource_create(sid, state) };
        self.send(&req).await.map(drop)
    }

    pub async fn ha_remove(&self, sid: &str) -> Result<(), ClientError> {
        self.send(&ha_resource_delete(sid)).await.map(drop)
    }

    pub async fn next_id(&self, want: Option<VmId>) -> Result<VmId, ClientError> {
        self.send_as(&nextid(want)).await
    }

    pub async fn cluster_tasks(&self) -> Result<Vec<TaskListItem>, ClientError> {
        self.send_as(&tasks()).await
    }

    pub async fn backup_jobs(&self) -> Result<Vec<BackupJob>, ClientError> {
        self.send_as(&backup_jobs()).await
    }

    pub async fn not_backed_up(&self) -> Result<Vec<NotBackedUp>, ClientError> {
        self.send_as(&not_backed_up()).await
    }

    pub async fn ha_status(&self) -> Result<Vec<HaStatusItem>, ClientError> {
        self.send_as(&ha_status()).await
    }

    pub async fn sdn_zones(&self) -> Result<Vec<SdnZone>, ClientError> {
        self.send_as(&sdn_zones()).await
    }

    pub async fn sdn_vnets(&self) -> Result<Vec<SdnVnet>, ClientError> {
        self.send_as(&sdn_vnets()).await
    }
}
