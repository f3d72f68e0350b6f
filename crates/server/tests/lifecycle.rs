//! A guest's life and its backups through the REST face, against an in-process simulator:
//! create from a template, clone, change, grow, migrate, snapshot and roll back, back up,
//! protect, prune with its plan, restore; node drain and undrain; export and adopt; tag
//! stats, doctor and the catalog.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::Api;

impl Api {
    /// Start an operation, wait for its end, and return it; it must have succeeded.
    async fn run(&self, who: &str, method: &str, path: &str, body: Value) -> Value {
        let (s, op) = self.call(Some(who), method, path, Some(body)).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{method} {path}: {op}");
        let done = self.finished(who, op["id"].as_str().unwrap()).await;
        assert_eq!(done["state"], "succeeded", "{method} {path}: {done}");
        done
    }

    async fn config(&self, vmid: u64) -> Value {
        let (s, d) = self
            .call(Some("admin"), "GET", &format!("/api/v1/remotes/pve/guests/{vmid}"), None)
            .await;
        assert_eq!(s, StatusCode::OK, "{d}");
        d
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_is_created_cloned_changed_grown_moved_and_rolled_back_over_the_api() {
    let api = Api::start(false).await;
    let body = json!({"name": "app-1", "template": "tpl", "cores": 2, "memory": 1024,
        "tags": ["app"], "cloud_init": {"user": "ops", "address": "10.0.0.5/24", "gateway": "10.0.0.1"}});
    let made = api.run("admin", "POST", "/api/v1/remotes/pve/guests", body).await;
    let vmid = made["result"]["vmid"].as_u64().unwrap();
    assert!(!made["progress"].as_array().unwrap().is_empty(), "the engine's steps show: {made}");
    let d = api.config(vmid).await;
    assert_eq!(
        (d["name"].as_str(), d["config"]["cores"].as_u64()),
        (Some("app-1"), Some(2)),
        "{d}"
    );
    assert_eq!(d["config"]["ipconfig0"], "ip=10.0.0.5/24,gw=10.0.0.1", "{d}");

    let cloned = api
        .run(
            "admin",
            "POST",
            &format!("/api/v1/remotes/pve/guests/{vmid}/clone"),
            json!({"name": "app-2"}),
        )
        .await;
    let copy = cloned["result"]["vmid"].as_u64().unwrap();
    assert_eq!(api.config(copy).await["name"], "app-2");

    let (s, p) = api
        .call(
            Some("admin"),
            "PATCH",
            &format!("/api/v1/remotes/pve/guests/{copy}/config"),
            Some(json!({"cores": 4, "description": "resized by the API"})),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{p}");
    assert_eq!(api.config(copy).await["config"]["cores"], 4);
    let (s, p) = api
        .call(
            Some("admin"),
            "PATCH",
            &format!("/api/v1/remotes/pve/guests/{copy}/config"),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "an empty change is refused: {p}");

    api.run(
        "admin",
        "POST",
        &format!("/api/v1/remotes/pve/guests/{copy}/resize"),
        json!({"disk": "scsi0", "size": "+2G"}),
    )
    .await;
    let disk = api.config(copy).await["config"]["scsi0"].as_str().unwrap().to_string();
    assert!(disk.contains("size=") && !disk.contains("size=2G"), "the disk grew: {disk}");
    let (s, p) = api
        .call(
            Some("admin"),
            "POST",
            &format!("/api/v1/remotes/pve/guests/{copy}/resize"),
            Some(json!({"disk": "scsi0", "size": "lots"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{p}");

    api.run(
        "admin",
        "POST",
        &format!("/api/v1/remotes/pve/guests/{copy}/migrate"),
        json!({"target": "pve2"}),
    )
    .await;
    assert_eq!(api.config(copy).await["node"], "pve2");

    api.run(
        "operator",
        "POST",
        &format!("/api/v1/remotes/pve/guests/{vmid}/snapshots"),
        json!({"name": "before"}),
    )
    .await;
    let (s, _) = api
        .call(
            Some("admin"),
            "PATCH",
            &format!("/api/v1/remotes/pve/guests/{vmid}/config"),
            Some(json!({"cores": 8})),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    api.run(
        "operator",
        "POST",
        &format!("/api/v1/remotes/pve/guests/{vmid}/snapshots/before/rollback"),
        json!({}),
    )
    .await;
    assert_eq!(api.config(vmid).await["config"]["cores"], 2, "the rollback undid the change");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_are_taken_protected_pruned_by_plan_and_restored_over_the_api() {
    let api = Api::start(false).await;
    for _ in 0..2 {
        api.run(
            "operator",
            "POST",
            "/api/v1/remotes/pve/guests/100/backups",
            json!({"storage": "local"}),
        )
        .await;
    }
    let (_, list) = api.call(Some("operator"), "GET", "/api/v1/backups", None).await;
    let ours: Vec<&Value> = list.as_array().unwrap().iter().filter(|b| b["vmid"] == 100).collect();
    assert_eq!(ours.len(), 2, "{list}");
    let oldest = ours.iter().min_by_key(|b| b["ctime"].as_u64()).unwrap()["volid"]
        .as_str()
        .unwrap()
        .to_string();

    let (s, p) = api
        .call(
            Some("operator"),
            "PATCH",
            "/api/v1/remotes/pve/backups",
            Some(json!({"volid": oldest, "protected": true, "notes": "keep me"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    let (s, p) = api
        .call(
            Some("scoped"),
            "PATCH",
            "/api/v1/remotes/pve/backups",
            Some(json!({"volid": oldest, "protected": false})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "guest 100 is in the scoped token's scope: {p}");
    api.call(
        Some("operator"),
        "PATCH",
        "/api/v1/remotes/pve/backups",
        Some(json!({"volid": oldest, "protected": true})),
    )
    .await;

    let (s, plan) = api
        .call(
            Some("operator"),
            "POST",
            "/api/v1/remotes/pve/backups/prune",
            Some(json!({"vmid": 100, "keep_last": 1})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "a dry run is the default and answers with the plan: {plan}");
    let marks: Vec<&str> =
        plan["rows"].as_array().unwrap().iter().map(|r| r["mark"].as_str().unwrap()).collect();
    assert!(marks.contains(&"protected") && marks.contains(&"keep"), "{plan}");
    assert_eq!(plan["remove"], 0, "the protected one stays, the newest is kept: {plan}");

    let restored = api
        .run("admin", "POST", "/api/v1/remotes/pve/backups/restore", json!({"volid": oldest}))
        .await;
    let new = restored["result"]["vmid"].as_u64().unwrap();
    assert_ne!(new, 100, "a restore never overwrites a guest");
    assert!(api.config(new).await["name"].is_string(), "the restored guest exists");
    let (s, p) = api
        .call(
            Some("scoped"),
            "POST",
            "/api/v1/remotes/pve/backups/restore",
            Some(json!({"volid": oldest})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{p}");
    let (s, p) = api
        .call(
            Some("operator"),
            "PATCH",
            "/api/v1/remotes/pve/backups",
            Some(json!({"volid": "local:backup/vzdump-qemu-1-nosuch.vma.zst", "notes": "x"})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{p}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_is_drained_and_undrained_and_cluster_views_answer() {
    let api = Api::start(false).await;
    api.run("operator", "POST", "/api/v1/remotes/pve/guests/100/power", json!({"action": "start"}))
        .await;
    let done = api
        .run("admin", "POST", "/api/v1/remotes/pve/nodes/pve1/drain", json!({"target": "pve2"}))
        .await;
    let rows = done["result"].as_array().unwrap();
    let web1 = rows.iter().find(|r| r["vmid"] == 100).unwrap();
    assert_eq!(web1["outcome"], "ok", "{done}");
    let (_, d) = api.call(Some("admin"), "GET", "/api/v1/remotes/pve/guests/100", None).await;
    assert_eq!(d["status"], "stopped", "not tagged maint-ok, so shut down: {d}");
    api.run("admin", "POST", "/api/v1/remotes/pve/nodes/pve1/undrain", json!({})).await;
    let (_, d) = api.call(Some("admin"), "GET", "/api/v1/remotes/pve/guests/100", None).await;
    assert_eq!(d["status"], "running", "undrain starts it again: {d}");

    let (s, tags) = api.call(Some("scoped"), "GET", "/api/v1/tags", None).await;
    assert_eq!(s, StatusCode::OK);
    let names: Vec<&str> =
        tags["items"].as_array().unwrap().iter().map(|t| t["tag"].as_str().unwrap()).collect();
    assert!(names.contains(&"web") && !names.contains(&"db"), "counted within the scope: {tags}");

    let (s, checks) = api.call(Some("admin"), "GET", "/api/v1/remotes/pve/doctor", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(checks.as_array().unwrap().iter().any(|c| c["verdict"] == "pass"), "{checks}");

    let (s, catalog) = api.call(Some("viewer"), "GET", "/api/v1/catalog", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(catalog.as_array().unwrap().iter().any(|e| e["id"] == "debian-12"), "{catalog}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_vms_are_exported_then_adopted_and_then_in_sync() {
    let api = Api::start(false).await;
    let (s, ex) = api
        .call(Some("admin"), "POST", "/api/v1/export", Some(json!({"selector": "name:web-1"})))
        .await;
    assert_eq!(s, StatusCode::OK, "{ex}");
    assert_eq!(ex["count"], 1, "{ex}");
    let manifests = ex["manifests"].as_str().unwrap().to_string();
    assert!(manifests.contains("name: web-1"), "{manifests}");

    let (s, adopted) = api
        .call(Some("admin"), "POST", "/api/v1/adopt", Some(json!({"manifests": manifests})))
        .await;
    assert_eq!(s, StatusCode::OK, "{adopted}");
    assert_eq!(adopted[0]["vmid"], 100, "{adopted}");
    let (s, drift) = api
        .call(Some("admin"), "POST", "/api/v1/drift", Some(json!({"manifests": manifests})))
        .await;
    assert_eq!(s, StatusCode::OK, "{drift}");
    assert_eq!(drift["changes"], false, "an exported, adopted VM matches its manifest: {drift}");
    let (s, p) = api.call(Some("scoped-admin"), "POST", "/api/v1/export", Some(json!({}))).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{p}");
}
