//! Node endpoints: version, node list, node status, network, node shell; the subscription,
//! replication and QDevice states monitoring reads.

use proxctl_types::NodeName;
use proxctl_types::api::{
    NetworkInterface, NodeListItem, NodeStatus, NodeTime, QDevice, ReplicationJob, Subscription,
    TermProxy, VersionInfo,
};
use proxctl_types::wire::FormParams;

use crate::{ApiRequest, Client, ClientError, Endpoint};

pub fn version() -> ApiRequest {
    ApiRequest::new(Endpoint::Version, &[], FormParams::new())
}

pub fn nodes() -> ApiRequest {
    ApiRequest::new(Endpoint::Nodes, &[], FormParams::new())
}

pub fn status(node: &NodeName) -> ApiRequest {
    ApiRequest::new(Endpoint::NodeStatus, &[node.as_str()], FormParams::new())
}

pub fn time(node: &NodeName) -> ApiRequest {
    ApiRequest::new(Endpoint::NodeTime, &[node.as_str()], FormParams::new())
}

/// `iface_type`: e.g. `bridge` or `any_bridge`.
pub fn network(node: &NodeName, iface_type: Option<&str>) -> ApiRequest {
    let mut p = FormParams::new();
    p.push_opt("type", iface_type);
    ApiRequest::new(Endpoint::NodeNetwork, &[node.as_str()], p)
}

pub fn termproxy(node: &NodeName) -> ApiRequest {
    let mut p = FormParams::new();
    p.push("cmd", "login");
    ApiRequest::new(Endpoint::NodeTermproxy, &[node.as_str()], p)
}

pub fn subscription(node: &NodeName) -> ApiRequest {
    ApiRequest::new(Endpoint::NodeSubscription, &[node.as_str()], FormParams::new())
}

pub fn replication(node: &NodeName) -> ApiRequest {
    ApiRequest::new(Endpoint::NodeReplication, &[node.as_str()], FormParams::new())
}

pub fn qdevice() -> ApiRequest {
    ApiRequest::new(Endpoint::QDevice, &[], FormParams::new())
}

impl Client {
    pub async fn node_subscription(&self, node: &NodeName) -> Result<Subscription, ClientError> {
        self.send_as(&subscription(node)).await
    }

    /// The node's replication jobs with their state (last and next sync, failures).
    pub async fn node_replication(
        &self,
        node: &NodeName,
    ) -> Result<Vec<ReplicationJob>, ClientError> {
        self.send_as(&replication(node)).await
    }

    pub async fn qdevice(&self) -> Result<QDevice, ClientError> {
        self.send_as(&qdevice()).await
    }

    pub async fn version(&self) -> Result<VersionInfo, ClientError> {
        self.send_as(&version()).await
    }

    pub async fn nodes(&self) -> Result<Vec<NodeListItem>, ClientError> {
        self.send_as(&nodes()).await
    }

    pub async fn node_status(&self, node: &NodeName) -> Result<NodeStatus, ClientError> {
        self.send_as(&status(node)).await
    }

    pub async fn node_time(&self, node: &NodeName) -> Result<NodeTime, ClientError> {
        self.send_as(&time(node)).await
    }

    pub async fn node_network(
        &self,
        node: &NodeName,
        iface_type: Option<&str>,
    ) -> Result<Vec<NetworkInterface>, ClientError> {
        self.send_as(&network(node, iface_type)).await
    }

    pub async fn node_termproxy(&self, node: &NodeName) -> Result<TermProxy, ClientError> {
        self.send_as(&termproxy(node)).await
    }
}
