//! IP sets at the cluster and at each guest, as the GUI and Ansible manage them: made, filled,
//! read back, changed and deleted with PVE's errors; a guest's sets are its own.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::*;

#[tokio::test]
async fn a_guests_ip_sets_are_its_own_and_behave_like_the_clusters() {
    let h = harness().await;
    let node = h.sim.nodes[0].clone();
    let (s, body) = form(&h, "POST", &format!("/nodes/{node}/qemu"), "vmid=130&name=fw").await;
    assert_eq!(s, 200, "{body}");
    h.sim.settle();
    let guest = format!("/nodes/{node}/qemu/130/firewall/ipset");

    let (s, body) = form(&h, "POST", &guest, "name=ipfilter-net0&comment=anti-spoof").await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = form(&h, "POST", &guest, "name=ipfilter-net0").await;
    assert_eq!(s, 500);
    assert!(message(&body).contains("already exists"), "{body}");
    let (s, body) =
        form(&h, "POST", &format!("{guest}/ipfilter-net0"), "cidr=10.0.0.130&comment=primary")
            .await;
    assert_eq!(s, 200, "{body}");
    let (s, _) = form(&h, "PUT", &format!("{guest}/ipfilter-net0/10.0.0.130"), "nomatch=1").await;
    assert_eq!(s, 200);
    let (_, one) = form(&h, "GET", &format!("{guest}/ipfilter-net0"), "").await;
    assert_eq!(one["data"][0]["cidr"], "10.0.0.130", "{one}");
    assert_eq!(one["data"][0]["nomatch"], true);
    assert_eq!(one["data"][0]["comment"], "primary");

    let (_, cluster) = form(&h, "GET", "/cluster/firewall/ipset", "").await;
    assert_eq!(cluster["data"], serde_json::json!([]), "the cluster's sets are apart: {cluster}");
    let (_, listed) = form(&h, "GET", &guest, "").await;
    assert_eq!(listed["data"][0]["name"], "ipfilter-net0", "{listed}");

    let (s, body) = form(&h, "DELETE", &format!("{guest}/ipfilter-net0"), "").await;
    assert_eq!(s, 500);
    assert!(message(&body).contains("IPSet is not empty"), "{body}");
    let (s, _) = form(&h, "DELETE", &format!("{guest}/ipfilter-net0/10.0.0.130"), "").await;
    assert_eq!(s, 200);
    assert_eq!(form(&h, "DELETE", &format!("{guest}/ipfilter-net0"), "").await.0, 200);
    let (s, body) = form(&h, "GET", &format!("{guest}/ipfilter-net0"), "").await;
    assert_eq!(s, 500);
    assert!(message(&body).contains("no such IPSet"), "{body}");

    let (s, _) = form(&h, "GET", &format!("/nodes/{node}/qemu/999/firewall/ipset"), "").await;
    assert_eq!(s, 500, "a guest that does not exist has no sets");
}

#[tokio::test]
async fn a_vnets_firewall_holds_forward_rules_and_its_own_options() {
    let h = harness().await;
    let (_, vnets) = form(&h, "GET", "/cluster/sdn/vnets", "").await;
    let vnet = vnets["data"][0]["vnet"].as_str().expect("the default world has a vnet").to_string();
    let base = format!("/cluster/sdn/vnets/{vnet}/firewall");
    let (s, body) = form(&h, "POST", &format!("{base}/rules"), "type=in&action=ACCEPT").await;
    assert_eq!(s, 400, "only forward rules: {body}");
    let (s, body) =
        form(&h, "POST", &format!("{base}/rules"), "type=forward&action=DROP&proto=tcp&dport=22")
            .await;
    assert_eq!(s, 200, "{body}");
    let (_, rules) = form(&h, "GET", &format!("{base}/rules"), "").await;
    assert_eq!(rules["data"][0]["dport"], "22", "{rules}");
    let (s, _) = form(&h, "PUT", &format!("{base}/options"), "enable=1&policy_forward=DROP").await;
    assert_eq!(s, 200);
    let (_, opts) = form(&h, "GET", &format!("{base}/options"), "").await;
    assert_eq!(opts["data"]["policy_forward"], "DROP", "{opts}");
    let (_, cluster) = form(&h, "GET", "/cluster/firewall/rules", "").await;
    assert_eq!(cluster["data"], serde_json::json!([]), "the cluster's rules are apart");
    let (s, body) = form(&h, "GET", "/cluster/sdn/vnets/nope/firewall/rules", "").await;
    assert_eq!(s, 500);
    assert!(message(&body).contains("does not exist"), "{body}");
}
