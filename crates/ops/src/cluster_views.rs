//! Read-only cluster-wide views for `get networks|sdn|ha` and `cluster status`: node network
//! interfaces, SDN zones and vnets, HA state, and membership with quorum.

use proxctl_client::Client;
use serde::Serialize;

use crate::OpsError;
use crate::output::Tabular;

fn yes(b: Option<bool>) -> String {
    match b {
        Some(true) => "yes".into(),
        Some(false) => "no".into(),
        None => String::new(),
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NetworkRow {
    pub node: String,
    pub iface: String,
    #[serde(rename = "type")]
    pub iface_type: String,
    pub active: Option<bool>,
    pub cidr: Option<String>,
    pub gateway: Option<String>,
    pub ports: Option<String>,
    pub vlan_aware: bool,
    pub comments: Option<String>,
}

impl Tabular for NetworkRow {
    fn headers(_wide: bool) -> Vec<&'static str> {
        vec!["NODE", "IFACE", "TYPE", "ACTIVE", "CIDR", "GATEWAY", "PORTS", "VLAN-AWARE", "COMMENT"]
    }
    fn cells(&self, _wide: bool) -> Vec<String> {
        vec![
            self.node.clone(),
            self.iface.clone(),
            self.iface_type.clone(),
            yes(self.active),
            self.cidr.clone().unwrap_or_default(),
            self.gateway.clone().unwrap_or_default(),
            self.ports.clone().unwrap_or_default(),
            if self.vlan_aware { "yes" } else { "" }.into(),
            self.comments.clone().unwrap_or_default().trim().to_string(),
        ]
    }
}

/// Every node's network interfaces, by node then interface name.
pub async fn networks(client: &Client) -> Result<Vec<NetworkRow>, OpsError> {
    let mut rows = Vec::new();
    for n in client.nodes().await? {
        if n.status != "online" {
            continue;
        }
        for i in client.node_network(&n.node, None).await? {
            rows.push(NetworkRow {
                node: n.node.to_string(),
                iface: i.iface,
                iface_type: i.iface_type,
                active: i.active,
                cidr: i.cidr.or(i.address),
                gateway: i.gateway,
                ports: i.bridge_ports,
                vlan_aware: i.bridge_vlan_aware == Some(1),
                comments: i.comments,
            });
        }
    }
    rows.sort_by(|a, b| (&a.node, &a.iface).cmp(&(&b.node, &b.iface)));
    Ok(rows)
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SdnRow {
    /// `zone` or `vnet`.
    pub kind: &'static str,
    pub name: String,
    /// The zone type for zones, the zone for vnets.
    pub zone: String,
    pub bridge_or_tag: String,
    pub alias: Option<String>,
}

impl Tabular for SdnRow {
    fn headers(_wide: bool) -> Vec<&'static str> {
        vec!["KIND", "NAME", "ZONE/TYPE", "BRIDGE/TAG", "ALIAS"]
    }
    fn cells(&self, _wide: bool) -> Vec<String> {
        vec![
            self.kind.into(),
            self.name.clone(),
            self.zone.clone(),
            self.bridge_or_tag.clone(),
            self.alias.clone().unwrap_or_default(),
        ]
    }
}

/// SDN zones, then vnets.
pub async fn sdn(client: &Client) -> Result<Vec<SdnRow>, OpsError> {
    let mut rows: Vec<SdnRow> = client
        .sdn_zones()
        .await?
        .into_iter()
        .map(|z| SdnRow {
            kind: "zone",
            name: z.zone,
            zone: z.zone_type,
            bridge_or_tag: z.bridge.unwrap_or_default(),
            alias: None,
        })
        .collect();
    rows.extend(client.sdn_vnets().await?.into_iter().map(|v| SdnRow {
        kind: "vnet",
        name: v.vnet,
        zone: v.zone,
        bridge_or_tag: v.tag.map(|t| t.to_string()).unwrap_or_default(),
        alias: v.alias,
    }));
    Ok(rows)
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HaRow {
    pub id: String,
    #[serde(rename = "type")]
    pub item_type: String,
    pub node: Option<String>,
    pub state: String,
    pub crm_state: Option<String>,
}

impl Tabular for HaRow {
    fn headers(_wide: bool) -> Vec<&'static str> {
        vec!["ID", "TYPE", "NODE", "STATE", "CRM-STATE"]
    }
    fn cells(&self, _wide: bool) -> Vec<String> {
        vec![
            self.id.clone(),
            self.item_type.clone(),
            self.node.clone().unwrap_or_default(),
            self.state.clone(),
            self.crm_state.clone().unwrap_or_default(),
        ]
    }
}

/// HA manager status: quorum, master, LRMs and managed services as PVE reports them.
pub async fn ha(client: &Client) -> Result<Vec<HaRow>, OpsError> {
    Ok(client
        .ha_status()
        .await?
        .into_iter()
        .map(|h| HaRow {
            state: h.state.or(h.status).unwrap_or_default(),
            id: h.sid.unwrap_or(h.id),
            item_type: h.item_type,
            node: h.node,
            crm_state: h.crm_state,
        })
        .collect())
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClusterRow {
    /// `cluster` or `node`.
    #[serde(rename = "type")]
    pub item_type: String,
    pub name: String,
    pub nodeid: Option<u32>,
    pub ip: Option<String>,
    pub online: Option<bool>,
    pub quorate: Option<bool>,
    pub nodes: Option<u32>,
    pub local: bool,
}

impl Tabular for ClusterRow {
    fn headers(_wide: bool) -> Vec<&'static str> {
        vec!["TYPE", "NAME", "ID", "IP", "ONLINE", "QUORATE", "NODES", "LOCAL"]
    }
    fn cells(&self, _wide: bool) -> Vec<String> {
        vec![
            self.item_type.clone(),
            self.name.clone(),
            self.nodeid.map(|n| n.to_string()).unwrap_or_default(),
            self.ip.clone().unwrap_or_default(),
            yes(self.online),
            yes(self.quorate),
            self.nodes.map(|n| n.to_string()).unwrap_or_default(),
            if self.local { "*" } else { "" }.into(),
        ]
    }
}

/// `GET /cluster/status`: the cluster entry (name, quorum, node count), then each node.
pub async fn cluster_status(client: &Client) -> Result<Vec<ClusterRow>, OpsError> {
    let mut rows: Vec<ClusterRow> = client
        .cluster_status()
        .await?
        .into_iter()
        .map(|c| ClusterRow {
            item_type: c.item_type,
            name: c.name,
            nodeid: c.nodeid,
            ip: c.ip,
            online: c.online,
            quorate: c.quorate,
            nodes: c.nodes,
            local: c.local == Some(true),
        })
        .collect();
    rows.sort_by_key(|r| (r.item_type != "cluster", r.nodeid, r.name.clone()));
    Ok(rows)
}
