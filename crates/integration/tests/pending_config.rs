//! Pending changes of a running VM, as PVE reports them to the GUI and Terraform: hot-pluggable
//! keys apply at once, the others wait in `pending` (and `delete` as a pending deletion) until
//! the next start, and `revert` throws a pending change away.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use support::*;

fn entry<'a>(pending: &'a Value, key: &str) -> Option<&'a Value> {
    pending["data"].as_array().unwrap().iter().find(|e| e["key"] == key)
}

#[tokio::test]
async fn a_running_vm_keeps_cold_changes_pending_until_reverted_or_restarted() {
    let h = harness().await;
    let n = h.sim.nodes[0].clone();
    let vm = format!("/nodes/{n}/qemu/150");
    let (s, body) = form(
        &h,
        "POST",
        &format!("/nodes/{n}/qemu"),
        "vmid=150&name=pend&cores=2&memory=2048&serial0=socket&start=1",
    )
    .await;
    assert_eq!(s, 200, "{body}");
    h.sim.settle();

    let (s, body) = form(
        &h,
        "PUT",
        &format!("{vm}/config"),
        "cores=4&memory=4096&description=hot&delete=serial0",
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let (_, pending) = form(&h, "GET", &format!("{vm}/pending"), "").await;
    let cores = entry(&pending, "cores").unwrap();
    assert_eq!(
        (cores["value"].as_i64(), cores["pending"].as_i64()),
        (Some(2), Some(4)),
        "{pending}"
    );
    assert!(entry(&pending, "description").unwrap().get("pending").is_none(), "applied live");
    assert_eq!(entry(&pending, "serial0").unwrap()["delete"], 1, "a pending deletion: {pending}");
    // As in PVE, the config shows pending values unless `current=1` asks for the running ones.
    let (_, cfg) = form(&h, "GET", &format!("{vm}/config"), "").await;
    assert_eq!(cfg["data"]["cores"], 4, "{cfg}");
    let (_, cur) = form(&h, "GET", &format!("{vm}/config?current=1"), "").await;
    assert_eq!(cur["data"]["cores"], 2, "{cur}");

    let (s, body) = form(&h, "PUT", &format!("{vm}/config"), "revert=cores%2Cserial0").await;
    assert_eq!(s, 200, "{body}");
    let (_, pending) = form(&h, "GET", &format!("{vm}/pending"), "").await;
    assert!(entry(&pending, "cores").unwrap().get("pending").is_none(), "{pending}");
    assert!(entry(&pending, "serial0").unwrap().get("delete").is_none(), "{pending}");
    assert!(entry(&pending, "memory").unwrap().get("pending").is_some(), "memory still pending");

    // A stop and start applies what is left.
    for action in ["stop", "start"] {
        let (_, body) = form(&h, "POST", &format!("{vm}/status/{action}"), "").await;
        assert!(body["data"].is_string(), "{body}");
        h.sim.settle();
    }
    let (_, cfg) = form(&h, "GET", &format!("{vm}/config"), "").await;
    assert_eq!(cfg["data"]["memory"], "4096", "{cfg}");
    assert_eq!(cfg["data"]["cores"], 2);
    assert_eq!(cfg["data"]["serial0"], "socket");
}
