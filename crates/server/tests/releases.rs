//! Releases over the REST API: the built-in charts listed and rendered, a release installed
//! (a dry run first shows the plan and changes nothing), upgraded, shown without its secrets,
//! rolled back and uninstalled, each as an operation that acts as the caller.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use reqwest::StatusCode;
use serde_json::json;
use support::Api;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_is_installed_upgraded_rolled_back_and_uninstalled_over_the_api() {
    let api = Api::start(false).await;
    let (s, charts) = api.call(Some("viewer"), "GET", "/api/v1/charts", None).await;
    assert_eq!(s, StatusCode::OK);
    let names: Vec<&str> =
        charts.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["docker-host", "k3s-cluster", "postgres-replicated", "web-tier"]);
    let (s, r) = api
        .call(
            Some("viewer"),
            "POST",
            "/api/v1/charts/web-tier/render",
            Some(json!({"release": "api", "set": ["replicas=3"]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["resources"].as_array().unwrap().len(), 5, "{r}");
    let (s, r) = api
        .call(
            Some("viewer"),
            "POST",
            "/api/v1/charts/web-tier/render",
            Some(json!({"set": ["replicas=0"]})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(r["detail"].as_str().unwrap().contains("replicas"), "{r}");

    let install = json!({"name": "api", "chart": "web-tier", "values": {"template": "tpl", "replicas": 1}, "dry_run": true});
    let (s, plan) =
        api.call(Some("admin"), "POST", "/api/v1/releases", Some(install.clone())).await;
    assert_eq!(s, StatusCode::OK, "{plan}");
    assert_eq!(plan["create"], 2, "{plan}");
    let (_, list) = api.call(Some("admin"), "GET", "/api/v1/releases", None).await;
    assert_eq!(list, json!([]), "a dry run records nothing");

    let mut real = install.clone();
    real["dry_run"] = json!(false);
    let (s, op) = api.call(Some("admin"), "POST", "/api/v1/releases", Some(real.clone())).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{op}");
    let done = api.finished("admin", op["id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["result"]["revision"], 1);
    let (s, again) = api.call(Some("admin"), "POST", "/api/v1/releases", Some(real)).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let again = api.finished("admin", again["id"].as_str().unwrap()).await;
    assert_eq!(again["state"], "failed", "installing twice: {again}");

    let up = json!({"reuse_values": true, "set": ["replicas=2"]});
    let (s, op) = api.call(Some("admin"), "POST", "/api/v1/releases/api/upgrade", Some(up)).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{op}");
    assert_eq!(api.finished("admin", op["id"].as_str().unwrap()).await["state"], "succeeded");

    let (s, shown) = api.call(Some("viewer"), "GET", "/api/v1/releases/api", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(shown["deployed"], 2, "{shown}");
    assert_eq!(shown["revisions"][1]["by"], "admin", "who did it: {shown}");
    assert!(shown.get("secrets").is_none() && shown["revisions"][0].get("manifest").is_none());
    let (s, _) = api.call(Some("viewer"), "GET", "/api/v1/releases/api/manifest", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "manifests are for admins");

    let (s, plan) = api
        .call(
            Some("admin"),
            "POST",
            "/api/v1/releases/api/rollback",
            Some(json!({"dry_run": true})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{plan}");
    assert_eq!((plan["create"].clone(), plan["delete"].clone()), (json!(0), json!(1)), "{plan}");
    let (_, op) =
        api.call(Some("admin"), "POST", "/api/v1/releases/api/rollback", Some(json!({}))).await;
    assert_eq!(api.finished("admin", op["id"].as_str().unwrap()).await["state"], "succeeded");

    let (s, op) = api.call(Some("admin"), "DELETE", "/api/v1/releases/api", None).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{op}");
    let done = api.finished("admin", op["id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    let (s, _) = api.call(Some("admin"), "GET", "/api/v1/releases/api", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
