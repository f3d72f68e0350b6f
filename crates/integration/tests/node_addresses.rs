//! One address per node: with `node_addresses` every node answers on its own address with its
//! own certificate, `/nodes` and `/cluster/status` report each node's address and fingerprint,
//! any node answers for the others (as pveproxy forwards), and a guest migrated between nodes
//! is then reached through its new node's address.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use proxctl_client::{Client, Credentials, PowerAction};
use proxctl_types::{NodeName, VmId};
use support::*;

#[tokio::test]
async fn every_node_answers_on_its_own_address_with_its_own_certificate() {
    let mut cfg = config(3);
    cfg.node_addresses = true;
    let h = harness_with(cfg).await;
    let urls = &h.sim.node_urls;
    assert_eq!(urls.len(), 3, "{urls:?}");
    let distinct: std::collections::BTreeSet<&str> = urls.iter().map(|u| u.url.as_str()).collect();
    assert_eq!(distinct.len(), 3, "{urls:?}");
    assert_ne!(urls[1].fingerprint, urls[0].fingerprint, "each node has its own certificate");
    let ready = h.sim.ready_json();
    assert_eq!(ready["node_urls"][2]["url"], urls[2].url.as_str());

    // Each node's address, pinned to that node's own fingerprint, answers for the cluster.
    let mut clients = Vec::new();
    for u in urls {
        let mut s = proxctl_client::ClientSettings::new(&u.url).unwrap();
        s.tls = proxctl_client::TlsMode::Pin(u.fingerprint.parse().unwrap());
        s.credentials = Some(Credentials::from_full_token(h.sim.token.expose()).unwrap());
        s.retry = proxctl_client::RetryPolicy::none();
        clients.push(Client::new(s).unwrap());
    }
    let listed = clients[2].nodes().await.unwrap();
    for (item, u) in listed.iter().zip(urls) {
        assert_eq!(item.node.as_str(), u.node);
        assert_eq!(item.ssl_fingerprint.as_deref(), Some(u.fingerprint.as_str()));
    }
    let status = clients[1].cluster_status().await.unwrap();
    for u in urls {
        let ip = status.iter().find(|s| s.name == u.node).and_then(|s| s.ip.clone()).unwrap();
        assert!(u.url.contains(&format!("//{ip}:")), "{ip} vs {}", u.url);
    }

    // A guest made through the first node's address, migrated to the third, is reached there.
    let n0 = NodeName::new(&urls[0].node).unwrap();
    let (s, body) = form(&h, "POST", &format!("/nodes/{n0}/qemu"), "vmid=140&name=mover").await;
    assert_eq!(s, 200, "{body}");
    h.sim.settle();
    let (s, body) = form(
        &h,
        "POST",
        &format!("/nodes/{n0}/qemu/140/migrate"),
        &format!("target={}", urls[2].node),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    h.sim.settle();
    let n2 = NodeName::new(&urls[2].node).unwrap();
    let upid = clients[2]
        .qemu_power(&n2, VmId::new(140).unwrap(), &PowerAction::Start { timeout: None })
        .await
        .unwrap();
    h.sim.settle();
    assert!(clients[2].wait_task(&upid, &Default::default()).await.is_ok());
}
