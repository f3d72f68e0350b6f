//! Storage replication jobs in the simulator, as a third-party client manages them: made, read
//! back (also in the source node's replication list), changed, deleted, with PVE's errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::*;

#[tokio::test]
async fn replication_jobs_are_written_read_back_changed_and_deleted() {
    let h = realtime(
        "guests:\n  - {vmid: 100, node: pve1, config: {name: db-1, scsi0: \"local-lvm:vm-100-disk-0,size=4G\"}}\n",
        2,
    )
    .await;
    let (s, body) =
        form(&h, "POST", "/cluster/replication", "id=100-0&target=pve2&type=local&schedule=*%2F30")
            .await;
    assert_eq!(s, 200, "{body}");
    let (s, body) =
        form(&h, "POST", "/cluster/replication", "id=100-0&target=pve2&type=local").await;
    assert_eq!(s, 500);
    assert!(message(&body).contains("replication job '100-0' already exists"), "{body}");
    let (s, body) =
        form(&h, "POST", "/cluster/replication", "id=100-1&target=pve1&type=local").await;
    assert_eq!(s, 500);
    assert!(message(&body).contains("local node"), "{body}");
    let (s, body) =
        form(&h, "POST", "/cluster/replication", "id=101-0&target=pve2&type=local").await;
    assert_eq!(s, 500);
    assert!(message(&body).contains("guest '101' does not exist"), "{body}");

    let (_, one) = form(&h, "GET", "/cluster/replication/100-0", "").await;
    assert_eq!(one["data"]["schedule"], "*/30", "{one}");
    assert_eq!(one["data"]["source"], "pve1");
    let (_, on_node) = form(&h, "GET", "/nodes/pve1/replication", "").await;
    assert_eq!(on_node["data"][0]["id"], "100-0", "{on_node}");

    let (s, body) =
        form(&h, "PUT", "/cluster/replication/100-0", "comment=nightly&disable=1").await;
    assert_eq!(s, 200, "{body}");
    let (_, listed) = form(&h, "GET", "/cluster/replication", "").await;
    assert_eq!(listed["data"][0]["comment"], "nightly", "{listed}");
    assert_eq!(listed["data"][0]["disable"], 1);
    let (s, _) = form(&h, "PUT", "/cluster/replication/100-0", "delete=comment").await;
    assert_eq!(s, 200);
    let (_, one) = form(&h, "GET", "/cluster/replication/100-0", "").await;
    assert!(one["data"].get("comment").is_none(), "{one}");

    assert_eq!(form(&h, "DELETE", "/cluster/replication/100-0", "").await.0, 200);
    let (s, body) = form(&h, "GET", "/cluster/replication/100-0", "").await;
    assert_eq!(s, 500);
    assert!(message(&body).contains("does not exist"), "{body}");
    let (_, listed) = form(&h, "GET", "/cluster/replication", "").await;
    assert_eq!(listed["data"], serde_json::json!([]));
}
