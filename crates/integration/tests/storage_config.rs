//! The storage configuration (`/storage`) in the simulator, as Ansible's proxmox_storage or
//! Terraform drive it: a storage made reads back, shows in node lists (only on its `nodes`)
//! and `/cluster/resources`, changes, refuses changes to fixed keys, and goes when deleted;
//! PVE's errors for the wrong things.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use support::*;

async fn ok(h: &Harness, method: &str, path: &str, body: &str) -> Value {
    let (s, v) = form(h, method, path, body).await;
    assert_eq!(s, 200, "{method} {path} {body}: {v}");
    v["data"].clone()
}

fn ids(v: &Value, key: &str) -> Vec<String> {
    v.as_array().unwrap().iter().filter_map(|s| s[key].as_str().map(String::from)).collect()
}

#[tokio::test]
async fn a_storage_is_made_read_back_listed_changed_and_deleted() {
    let h = realtime("", 2).await;
    ok(
        &h,
        "POST",
        "/storage",
        "storage=backups&type=nfs&server=10.0.0.5&export=%2Fsrv%2Fbackup&content=backup&nodes=pve1",
    )
    .await;
    let s = ok(&h, "GET", "/storage/backups", "").await;
    assert_eq!(
        (s["type"].as_str(), s["server"].as_str(), s["content"].as_str()),
        (Some("nfs"), Some("10.0.0.5"), Some("backup"))
    );
    assert_eq!(s["path"], "/mnt/pve/backups");
    assert_eq!(s["shared"], 1);
    assert!(ids(&ok(&h, "GET", "/storage", "").await, "storage").contains(&"backups".to_string()));
    assert_eq!(
        ids(&ok(&h, "GET", "/storage?type=nfs", "").await, "storage"),
        ["backups", "shared"]
    );
    // Only on the nodes it names.
    assert!(
        ids(&ok(&h, "GET", "/nodes/pve1/storage", "").await, "storage")
            .contains(&"backups".to_string())
    );
    assert!(
        !ids(&ok(&h, "GET", "/nodes/pve2/storage", "").await, "storage")
            .contains(&"backups".to_string())
    );
    let res = h.client.cluster_resources(None).await.unwrap();
    let on: Vec<String> = res
        .iter()
        .filter(|r| r.storage.as_deref() == Some("backups"))
        .filter_map(|r| r.node.as_ref().map(|n| n.to_string()))
        .collect();
    assert_eq!(on, ["pve1"]);

    // Changes read back; fixed keys cannot change; a stale digest is refused.
    ok(&h, "PUT", "/storage/backups", "content=backup%2Ciso&disable=1").await;
    let s = ok(&h, "GET", "/storage/backups", "").await;
    assert_eq!(s["content"], "backup,iso");
    let st = ok(&h, "GET", "/nodes/pve1/storage?storage=backups", "").await;
    assert_eq!(st[0]["active"], 0, "{st}");
    let (code, body) = form(&h, "PUT", "/storage/backups", "server=10.0.0.6").await;
    assert_eq!(code, 400, "{body}");
    assert!(body["errors"]["server"].as_str().unwrap().contains("fixed parameter"), "{body}");
    let (code, body) = form(&h, "PUT", "/storage/backups", "content=backup&digest=0000").await;
    assert_eq!(code, 500, "{body}");
    ok(&h, "PUT", "/storage/backups", "delete=disable").await;
    assert_eq!(ok(&h, "GET", "/nodes/pve1/storage?storage=backups", "").await[0]["active"], 1);

    ok(&h, "DELETE", "/storage/backups", "").await;
    let (code, body) = form(&h, "GET", "/storage/backups", "").await;
    assert_eq!(code, 500);
    assert!(message(&body).contains("storage 'backups' does not exist"), "{body}");
}

#[tokio::test]
async fn bad_storages_get_pves_errors() {
    // Without --schema, so the simulator's own checks answer (with it, the schema would).
    let mut cfg = config(1);
    cfg.schema = None;
    let h = harness_with(cfg).await;
    let (code, body) = form(&h, "POST", "/storage", "storage=x1&type=nfs&server=10.0.0.5").await;
    assert_eq!(code, 400, "{body}");
    assert!(body["errors"]["export"].is_string(), "NFS needs an export: {body}");
    let (code, body) = form(&h, "POST", "/storage", "storage=x2&type=floppy").await;
    assert_eq!(code, 400, "{body}");
    assert!(body["errors"]["type"].as_str().unwrap().contains("enumeration"), "{body}");
    let (code, body) = form(&h, "POST", "/storage", "storage=local&type=dir&path=%2Ftmp").await;
    assert_eq!(code, 500, "{body}");
    assert!(message(&body).contains("storage ID 'local' already defined"), "{body}");
    let (code, _) = form(&h, "DELETE", "/storage/nosuch", "").await;
    assert_eq!(code, 500);
}
