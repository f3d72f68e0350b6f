//! A node going down, as users rehearse it: its guests and storages are `unknown` in the
//! cluster view, requests for it fail as pveproxy's do (595), the other nodes keep working,
//! and quorum is counted as corosync counts it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use proxctl_client::{ApiErrorKind, ClientError, PowerAction};
use proxctl_sim::faults::Faults;
use proxctl_types::{NodeName, VmId};
use support::*;

fn scenario(nodes: &[String]) -> String {
    format!(
        "guests:
  - {{vmid: 100, node: {a}, running: true, config: {{name: web-1, scsi0: \"local-lvm:vm-100-disk-0,size=4G\"}}}}
  - {{vmid: 300, node: {c}, running: true, config: {{name: db-1, scsi0: \"local-lvm:vm-300-disk-0,size=4G\"}}}}
",
        a = nodes[0],
        c = nodes[2]
    )
}

fn down(nodes: &[&str]) -> Faults {
    Faults { offline_nodes: nodes.iter().map(|n| n.to_string()).collect(), ..Faults::default() }
}

#[tokio::test]
async fn a_node_that_is_down_shows_its_guests_as_unknown_and_the_others_keep_working() {
    let names: Vec<String> = (1..=3).map(|i| format!("pve{i}")).collect();
    let h = realtime(&scenario(&names), 3).await;
    assert_eq!(h.sim.nodes, names, "the simulator names its nodes pve1..pve3");
    h.sim.set_faults(down(&["pve3"]));

    let all = h.client.cluster_resources(None).await.unwrap();
    let status = |id: &str| all.iter().find(|r| r.id == id).and_then(|r| r.status.clone());
    assert_eq!(status("qemu/300").as_deref(), Some("unknown"));
    assert_eq!(status("qemu/100").as_deref(), Some("running"));
    assert_eq!(status("node/pve3").as_deref(), Some("offline"));
    assert_eq!(status("storage/pve3/local").as_deref(), Some("unknown"));
    let db = all.iter().find(|r| r.id == "qemu/300").unwrap();
    assert_eq!(db.name.as_deref(), Some("db-1"), "the name is still known");
    assert!(db.maxmem.is_none() && db.uptime.is_none(), "no statistics from a node that is down");

    // Requests for the node fail as pveproxy's forwarding does; the rest answer.
    let pve3 = NodeName::new("pve3").unwrap();
    let err = h.client.qemu_config(&pve3, VmId::new(300).unwrap()).await.unwrap_err();
    match err {
        ClientError::Api(a) => {
            assert_eq!(a.status, 595, "{a:?}");
            assert_eq!(a.kind, ApiErrorKind::Proxy);
        }
        other => panic!("expected a 595, got {other:?}"),
    }
    let pve1 = NodeName::new("pve1").unwrap();
    let upid = h
        .client
        .qemu_power(&pve1, VmId::new(100).unwrap(), &PowerAction::Stop { timeout: None })
        .await
        .unwrap();
    h.client.wait_task(&upid, &Default::default()).await.unwrap();

    // Two of three still have quorum; one of three does not, and changes are refused.
    let cluster = h.client.cluster_status().await.unwrap();
    assert!(cluster.iter().any(|e| e.quorate == Some(true)), "{cluster:?}");
    h.sim.set_faults(down(&["pve2", "pve3"]));
    let cluster = h.client.cluster_status().await.unwrap();
    assert!(cluster.iter().any(|e| e.quorate == Some(false)), "{cluster:?}");
    let err = h
        .client
        .qemu_power(&pve1, VmId::new(100).unwrap(), &PowerAction::Start { timeout: None })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cluster not ready - no quorum?"), "{err}");

    // Back up: everything answers again.
    h.sim.set_faults(Faults::default());
    let all = h.client.cluster_resources(None).await.unwrap();
    let db = all.iter().find(|r| r.id == "qemu/300").unwrap();
    assert_eq!(db.status.as_deref(), Some("running"));
}
