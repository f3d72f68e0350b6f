//! The REST face against an in-process simulator: every route under every kind of token (the
//! RBAC matrix), scopes that hide guests, power actions as operations, a remote that is down,
//! the audit trail under the token's name, and problem details.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use proxctl_server::{Privilege, Role};
use reqwest::StatusCode;
use serde_json::json;
use support::Api;

/// A concrete request for a route template.
fn concrete(path: &str, upid: &str) -> String {
    path.replace("{remote}", "pve")
        .replace("{upid}", upid)
        .replace("{vmid}", "100")
        .replace("{id}", "op-0000000000000000")
        .replace("{name}", "nosuch")
        .replace("{node}", "pve1")
}

/// Routes the walk sends a request they refuse as wrong (an unknown template or catalog id).
fn refused_as_bad(path: &str) -> bool {
    matches!(
        path,
        "/api/v1/remotes/{remote}/templates"
            | "/api/v1/remotes/{remote}/templates/rebuild"
            | "/api/v1/remotes/{remote}/templates/{name}/rollback"
    )
}

/// Routes that show every guest, so a token limited to a scope is refused whatever its role.
fn refused_to_scoped(path: &str) -> bool {
    matches!(path, "/metrics" | "/pve") || path.starts_with("/api/v1/releases")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_each_kind_of_token_as_its_privilege_says() {
    let api = Api::start(false).await;
    // A real task, for the routes that name one.
    let (_, op) = api
        .call(
            Some("operator"),
            "POST",
            "/api/v1/remotes/pve/guests/100/power",
            Some(json!({"action": "start"})),
        )
        .await;
    let done = api.finished("operator", op["id"].as_str().unwrap()).await;
    let upid = done["result"]["upid"].as_str().unwrap().to_string();
    for route in proxctl_server::routes::table() {
        let path = concrete(route.path, &upid);
        let method = route.method.as_str();
        let body = match route.path {
            "/api/v1/plans" | "/api/v1/drift" => Some(json!({"manifests": ""})),
            "/api/v1/plans/{id}/apply" => Some(json!({})),
            "/api/v1/bulk" => Some(json!({"selector": "web", "action": "start"})),
            "/api/v1/remotes/{remote}/guests/{vmid}/snapshots" => Some(json!({"name": "m1"})),
            "/api/v1/remotes/{remote}/guests/{vmid}/tags" => Some(json!({"tags": ["web"]})),
            "/api/v1/remotes/{remote}/guests" => {
                Some(json!({"name": "matrix-1", "template": "nosuch"}))
            }
            "/api/v1/remotes/{remote}/guests/{vmid}/clone" => Some(json!({"name": "matrix-2"})),
            "/api/v1/remotes/{remote}/guests/{vmid}/config" => Some(json!({"description": "m"})),
            "/api/v1/remotes/{remote}/guests/{vmid}/resize" => {
                Some(json!({"disk": "scsi0", "size": "+1G"}))
            }
            "/api/v1/remotes/{remote}/guests/{vmid}/migrate" => Some(json!({"target": "pve2"})),
            "/api/v1/remotes/{remote}/backups" => {
                Some(json!({"volid": "local:backup/nosuch.vma.zst", "protected": true}))
            }
            "/api/v1/remotes/{remote}/backups/restore" => {
                Some(json!({"volid": "local:backup/nosuch.vma.zst"}))
            }
            "/api/v1/remotes/{remote}/backups/prune" => Some(json!({"keep_last": 1})),
            "/api/v1/remotes/{remote}/nodes/{node}/drain"
            | "/api/v1/remotes/{remote}/nodes/{node}/undrain" => Some(json!({"dry_run": true})),
            "/api/v1/adopt" => Some(json!({"manifests": ""})),
            // A chart that does not exist: let in, then 404.
            "/api/v1/releases" => Some(json!({"name": "matrix", "chart": "nosuch"})),
            "/api/v1/jobs" => Some(
                json!({"name": "matrix-job", "schedule": "daily", "action": {"type": "snapshot-sweep"}}),
            ),
            "/api/v1/jobs/{name}" if method == "PATCH" => Some(json!({"enabled": false})),
            "/api/v1/notifications/targets" => Some(
                json!({"name": "matrix-target", "type": "webhook", "endpoint": "http://127.0.0.1:9/x"}),
            ),
            "/api/v1/notifications/matchers" => {
                Some(json!({"name": "matrix-matcher", "targets": ["matrix-target"]}))
            }
            // Unknown catalog ids and template names: the guard let them through if the
            // answer is a 400 about the request rather than a 401 or 403.
            "/api/v1/remotes/{remote}/templates" | "/api/v1/remotes/{remote}/templates/rebuild" => {
                Some(json!({"entry": "nosuch", "node": "pve1"}))
            }
            "/api/v1/remotes/{remote}/guests/{vmid}/power" => Some(json!({"action": "start"})),
            _ => matches!(method, "POST" | "PATCH").then(|| json!({})),
        };
        for who in [None, Some("viewer"), Some("operator"), Some("admin"), Some("scoped")] {
            let (status, answer) = if route.path == "/api/v1/events" {
                // A stream that never ends: the status is the answer.
                let mut req = api.http.get(format!("{}{path}", api.url));
                if let Some(w) = who {
                    req = req.bearer_auth(&api.tokens[w]);
                }
                (req.send().await.unwrap().status(), serde_json::Value::Null)
            } else {
                api.call(who, method, &path, body.clone()).await
            };
            // The scoped token is an operator limited to `web` guests (VMID 100 is one).
            let role = who
                .map(|w| if w == "scoped" { Role::Operator } else { w.parse::<Role>().unwrap() });
            let expect_denied = match (route.privilege, role) {
                (Privilege::Public, _) => None,
                (_, Some(_)) if who == Some("scoped") && refused_to_scoped(route.path) => {
                    Some(StatusCode::FORBIDDEN)
                }
                (_, None) => Some(StatusCode::UNAUTHORIZED),
                (p, Some(r)) if !proxctl_server::auth::allows(r, p) => Some(StatusCode::FORBIDDEN),
                _ => None,
            };
            match expect_denied {
                Some(s) => assert_eq!(status, s, "{method} {path} as {who:?}: {answer}"),
                // Let through: it worked, or failed for a reason that is not access (no such
                // thing, or busy with what an earlier request of this walk started).
                None => assert!(
                    status.is_success()
                        || status == StatusCode::NOT_FOUND
                        || status == StatusCode::CONFLICT
                        || (status == StatusCode::BAD_REQUEST && refused_as_bad(route.path))
                        // Let in, then turned away by the MCP transport: a JSON-RPC client
                        // must accept JSON and event streams (tests/mcp drives it properly).
                        || (route.path == "/mcp" && status == StatusCode::NOT_ACCEPTABLE),
                    "{method} {path} as {who:?}: {status} {answer}"
                ),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scoped_token_sees_and_touches_only_the_guests_its_scope_selects() {
    let api = Api::start(false).await;
    let (s, list) = api.call(Some("scoped"), "GET", "/api/v1/guests", None).await;
    assert_eq!(s, StatusCode::OK);
    let names: Vec<&str> =
        list["items"].as_array().unwrap().iter().map(|g| g["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["web-1", "web-2"], "lists are filtered, not just writes refused");
    assert_eq!(list["total"], 2);
    let (s, p) = api.call(Some("scoped"), "GET", "/api/v1/remotes/pve/guests/200", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "a guest outside the scope does not exist for it: {p}");
    let (s, _) = api
        .call(
            Some("scoped"),
            "POST",
            "/api/v1/remotes/pve/guests/200/power",
            Some(json!({"action": "start"})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = api.call(Some("admin"), "GET", "/api/v1/remotes/pve/guests/200", None).await;
    assert_eq!(s, StatusCode::OK, "the admin token sees it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_are_listed_by_selector_and_page() {
    let api = Api::start(false).await;
    let (s, l) =
        api.call(Some("viewer"), "GET", "/api/v1/guests?selector=web&limit=1&offset=1", None).await;
    assert_eq!(s, StatusCode::OK, "{l}");
    assert_eq!((l["total"].as_u64(), l["items"][0]["name"].as_str()), (Some(2), Some("web-2")));
    assert_eq!(l["items"][0]["remote"], "pve");
    let (s, p) = api.call(Some("viewer"), "GET", "/api/v1/guests?selector=(web", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(p["type"], "urn:proxctl:problem:invalid");
    assert!(p["detail"].as_str().unwrap().contains("selector"), "{p}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_power_action_is_an_operation_audited_under_the_tokens_name() {
    let api = Api::start(false).await;
    let (s, op) = api
        .call(
            Some("operator"),
            "POST",
            "/api/v1/remotes/pve/guests/100/power",
            Some(json!({"action": "start"})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{op}");
    let id = op["id"].as_str().unwrap().to_string();
    let done = api.finished("operator", &id).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    let (_, g) = api.call(Some("viewer"), "GET", "/api/v1/remotes/pve/guests/100", None).await;
    assert_eq!(g["status"], "running", "{g}");
    assert_eq!(g["config"]["name"], "web-1");
    let rows =
        proxctl_ops::audit::list(&api.state, &proxctl_state::AuditFilter::default()).await.unwrap();
    assert!(
        rows.iter().any(|r| r.0.entry.actor == "operator" && r.0.entry.action.contains("start")),
        "the audit log names the token: {rows:?}"
    );
    let (_, mine) =
        api.call(Some("viewer"), "GET", &format!("/api/v1/operations/{id}"), None).await;
    assert_eq!(
        mine["type"], "urn:proxctl:problem:not-found",
        "another token's operation is not shown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_that_is_down_makes_only_its_own_resources_unavailable() {
    let api = Api::start(true).await;
    let (s, l) = api.call(Some("viewer"), "GET", "/api/v1/guests", None).await;
    assert_eq!(s, StatusCode::OK, "{l}");
    assert_eq!(l["total"], 4, "the reachable remote's guests are all there");
    assert_eq!(l["unavailable"][0]["remote"], "down", "{l}");
    let (s, _) = api.call(Some("viewer"), "GET", "/api/v1/nodes?remote=pve", None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, r) = api.call(None, "GET", "/readyz", None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{r}");
    assert_eq!(r["state"]["ok"], true);
    let (s, _) = api.call(None, "GET", "/healthz", None).await;
    assert_eq!(s, StatusCode::OK, "alive all the same");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_problem_details_and_revoked_tokens_stop_working() {
    let api = Api::start(false).await;
    let resp = api.http.get(format!("{}/api/v1/guests", api.url)).send().await.unwrap();
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    // Rejections made before a handler runs (a query that does not parse) are problems too.
    let resp = api
        .http
        .get(format!("{}/api/v1/guests?limit=many", api.url))
        .bearer_auth(&api.tokens["viewer"])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let (s, p) = api.call(Some("viewer"), "GET", "/api/v1/remotes/nowhere/guests/100", None).await;
    assert_eq!((s, p["status"].as_u64()), (StatusCode::NOT_FOUND, Some(404)));
    assert!(p["detail"].as_str().unwrap().contains("GET /api/v1/remotes"), "says what to do: {p}");
    let (s, p) = api
        .call(
            Some("operator"),
            "POST",
            "/api/v1/remotes/pve/guests/100/power",
            Some(json!({"action": "explode"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{p}");
    let big = "x".repeat(proxctl_server::routes::MAX_BODY + 1);
    let resp = api
        .http
        .post(format!("{}/api/v1/remotes/pve/guests/100/power", api.url))
        .bearer_auth(&api.tokens["operator"])
        .header("content-type", "application/json")
        .body(format!("{{\"action\":\"{big}\"}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // A revoked token never verified before is refused at once (one verified earlier is
    // trusted for at most a few seconds more, on each instance).
    let (_, secret) =
        proxctl_server::tokens::create(&api.state, "late", Role::Viewer, None, None, "t")
            .await
            .unwrap();
    proxctl_server::tokens::revoke(&api.state, "late").await.unwrap();
    let resp = api
        .http
        .get(format!("{}/api/v1/guests", api.url))
        .bearer_auth(secret.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_taking_connections() {
    let mut api = Api::start(false).await;
    let (s, _) = api.call(None, "GET", "/healthz", None).await;
    assert_eq!(s, StatusCode::OK);
    let server = api.server.take().unwrap();
    server.shutdown(Duration::from_secs(5)).await;
    let fresh = reqwest::Client::builder().danger_accept_invalid_certs(true).build().unwrap();
    assert!(fresh.get(format!("{}/healthz", api.url)).send().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_apply_drift_and_apply_again_through_the_api() {
    let api = Api::start(false).await;
    let manifest = "apiVersion: proxctl.io/v1\nkind: VirtualMachine\nmetadata: {name: app-1}\nspec: {template: tpl, cores: 1}\n";
    let (s, plan) = api
        .call(Some("admin"), "POST", "/api/v1/plans", Some(json!({"manifests": manifest})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{plan}");
    assert_eq!(
        (plan["changes"].as_bool(), plan["create"].as_u64()),
        (Some(true), Some(1)),
        "{plan}"
    );
    let id = plan["id"].as_str().unwrap().to_string();
    let (s, p) = api
        .call(
            Some("admin"),
            "POST",
            &format!("/api/v1/plans/{id}/apply"),
            Some(json!({"digest": "not-it"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "a digest that is not the plan's is refused: {p}");
    let (s, op) = api
        .call(
            Some("admin"),
            "POST",
            &format!("/api/v1/plans/{id}/apply"),
            Some(json!({"digest": plan["digest"]})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{op}");
    let done = api.finished("admin", op["id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "succeeded", "{done}");

    let (s, d) = api
        .call(Some("admin"), "POST", "/api/v1/drift", Some(json!({"manifests": manifest})))
        .await;
    assert_eq!(
        (s, d["changes"].as_bool()),
        (StatusCode::OK, Some(false)),
        "in sync after the apply: {d}"
    );
    assert!(d["id"].is_null(), "drift keeps no plan");

    // Someone changes the VM by hand: drift shows it, and the first plan is now stale.
    let (_, list) =
        api.call(Some("admin"), "GET", "/api/v1/guests?selector=name:app-1", None).await;
    let vmid = list["items"][0]["vmid"].as_u64().unwrap();
    api._sim.with_world(|w| {
        w.guests.get_mut(&(vmid as u32)).unwrap().conf.insert("cores".into(), "4".into());
    });
    let (_, d) = api
        .call(Some("admin"), "POST", "/api/v1/drift", Some(json!({"manifests": manifest})))
        .await;
    assert_eq!((d["changes"].as_bool(), d["update"].as_u64()), (Some(true), Some(1)), "{d}");
    let (s, p) = api
        .call(Some("admin"), "POST", &format!("/api/v1/plans/{id}/apply"), Some(json!({})))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "the world changed since the plan: {p}");

    let (_, plan) = api
        .call(Some("admin"), "POST", "/api/v1/plans", Some(json!({"manifests": manifest})))
        .await;
    let id = plan["id"].as_str().unwrap();
    let (s, op) = api
        .call(Some("admin"), "POST", &format!("/api/v1/plans/{id}/apply"), Some(json!({})))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{op}");
    let done = api.finished("admin", op["id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    let (_, d) = api
        .call(Some("admin"), "POST", "/api/v1/drift", Some(json!({"manifests": manifest})))
        .await;
    assert_eq!(d["changes"], false, "{d}");
    let (_, history) = api.call(Some("viewer"), "GET", "/api/v1/applies", None).await;
    let mine: Vec<&serde_json::Value> = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["actor"] == "admin" && a["outcome"] == "succeeded")
        .collect();
    assert_eq!(mine.len(), 2, "{history}");
}

/// Read server-sent events until `done` says enough, returning (event, data) pairs.
async fn follow(
    resp: reqwest::Response,
    mut done: impl FnMut(&str, &serde_json::Value) -> bool,
) -> Vec<(String, serde_json::Value)> {
    use futures_util::StreamExt;
    let mut stream = resp.bytes_stream();
    let (mut buf, mut seen) = (String::new(), Vec::new());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while let Ok(Some(chunk)) = tokio::time::timeout_at(deadline, stream.next()).await {
        buf.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let field = |name: &str| {
                block.lines().find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
            };
            let (Some(kind), Some(data)) = (field("event:"), field("data:")) else { continue };
            let data: serde_json::Value = serde_json::from_str(&data).unwrap();
            let stop = done(&kind, &data);
            seen.push((kind, data));
            if stop {
                return seen;
            }
        }
    }
    panic!("the event stream ended or went quiet before the end: {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_action_is_followed_over_server_sent_events() {
    let api = Api::start(false).await;
    let resp = api
        .http
        .get(format!("{}/api/v1/events", api.url))
        .bearer_auth(&api.tokens["viewer"])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let (s, op) = api
        .call(
            Some("operator"),
            "POST",
            "/api/v1/bulk",
            Some(json!({"selector": "web", "action": "start"})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{op}");
    let id = op["id"].as_str().unwrap().to_string();
    let seen =
        follow(resp, |kind, e| kind == "operation" && e["id"] == id && e["state"] != "running")
            .await;
    let last = &seen.last().unwrap().1;
    assert_eq!(last["state"], "succeeded", "{last}");
    assert_eq!(last["result"].as_array().unwrap().len(), 2, "both web guests: {last}");
    let starts: Vec<&serde_json::Value> = seen
        .iter()
        .filter(|(k, e)| {
            k == "call"
                && e["result"] == "ok"
                && e["action"].as_str().unwrap().ends_with("/status/start")
        })
        .map(|(_, e)| e)
        .collect();
    assert_eq!(starts.len(), 2, "one start call per guest, made as the token: {seen:?}");
    assert!(starts.iter().all(|e| e["actor"] == "operator"));
    assert!(
        seen.iter().any(|(k, e)| k == "task" && e["outcome"] == "OK"),
        "task ends too: {seen:?}"
    );

    // A scoped token sees only its own work on the stream.
    let resp = api
        .http
        .get(format!("{}/api/v1/events", api.url))
        .bearer_auth(&api.tokens["scoped"])
        .send()
        .await
        .unwrap();
    let (_, other) = api
        .call(
            Some("operator"),
            "POST",
            "/api/v1/remotes/pve/guests/200/power",
            Some(json!({"action": "start"})),
        )
        .await;
    api.finished("operator", other["id"].as_str().unwrap()).await;
    let (_, mine) = api
        .call(
            Some("scoped"),
            "POST",
            "/api/v1/bulk",
            Some(json!({"selector": "all", "action": "stop"})),
        )
        .await;
    let mine_id = mine["id"].as_str().unwrap().to_string();
    let seen = follow(resp, |kind, e| {
        kind == "operation" && e["id"] == mine_id && e["state"] != "running"
    })
    .await;
    assert!(seen.iter().all(|(_, e)| e["actor"] == "scoped"), "only its own events: {seen:?}");
    let last = &seen.last().unwrap().1;
    assert_eq!(
        last["result"].as_array().unwrap().len(),
        2,
        "its scope is the two web guests: {last}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_lists_share_one_read_of_the_cluster_and_see_changes_made_through_the_server() {
    let api = Api::start(false).await;
    api.call(Some("viewer"), "GET", "/api/v1/guests", None).await;
    api._sim.clear_counters();
    let lists = (0..20).map(|_| api.call(Some("viewer"), "GET", "/api/v1/guests", None));
    for (s, l) in futures_util::future::join_all(lists).await {
        assert_eq!((s, l["total"].as_u64()), (StatusCode::OK, Some(4)));
    }
    let reads = api._sim.counters().get("GET /cluster/resources").copied().unwrap_or(0);
    assert!(reads <= 1, "twenty lists at once read the cluster {reads} times");
    let (_, op) = api
        .call(
            Some("operator"),
            "POST",
            "/api/v1/remotes/pve/guests/101/power",
            Some(json!({"action": "start"})),
        )
        .await;
    api.finished("operator", op["id"].as_str().unwrap()).await;
    let (_, g) = api.call(Some("viewer"), "GET", "/api/v1/remotes/pve/guests/101", None).await;
    assert_eq!(g["status"], "running", "a change made through the server shows at once: {g}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scoped_token_sees_no_task_backup_or_snapshot_of_a_guest_outside_its_scope() {
    let api = Api::start(false).await;
    for vmid in [100, 200] {
        let path = format!("/api/v1/remotes/pve/guests/{vmid}/power");
        let (_, op) =
            api.call(Some("operator"), "POST", &path, Some(json!({"action": "start"}))).await;
        api.finished("operator", op["id"].as_str().unwrap()).await;
    }
    let ids = |v: &serde_json::Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, all) = api.call(Some("viewer"), "GET", "/api/v1/tasks", None).await;
    assert!(ids(&all).contains(&"200".to_string()), "{all}");
    let (_, mine) = api.call(Some("scoped"), "GET", "/api/v1/tasks", None).await;
    assert!(ids(&mine).contains(&"100".to_string()), "{mine}");
    assert!(!ids(&mine).contains(&"200".to_string()), "guest 200 is outside the scope: {mine}");
    let (s, _) =
        api.call(Some("scoped"), "GET", "/api/v1/remotes/pve/guests/200/snapshots", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, snaps) =
        api.call(Some("scoped"), "GET", "/api/v1/remotes/pve/guests/100/snapshots", None).await;
    assert_eq!(s, StatusCode::OK, "{snaps}");
    let (s, b) = api.call(Some("scoped"), "GET", "/api/v1/backups", None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // The audit log: admins only, the calls made as each token, and the chain holds.
    let (s, _) = api.call(Some("operator"), "GET", "/api/v1/audit", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, audit) = api.call(Some("admin"), "GET", "/api/v1/audit?actor=operator", None).await;
    assert_eq!(s, StatusCode::OK, "{audit}");
    assert_eq!(audit["chain_ok"], true, "{audit}");
    let rows = audit["rows"].as_array().unwrap();
    assert!(rows.iter().any(|r| r["target"] == "qemu/200" && r["result"] == "sending"), "{audit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_tags_and_deletes_change_guests_as_the_token_allows() {
    let api = Api::start(false).await;
    let base = "/api/v1/remotes/pve/guests/101";
    let (s, op) = api
        .call(
            Some("operator"),
            "POST",
            &format!("{base}/snapshots"),
            Some(json!({"name": "before", "ttl": "1h"})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{op}");
    assert_eq!(api.finished("operator", op["id"].as_str().unwrap()).await["state"], "succeeded");
    let (_, snaps) = api.call(Some("viewer"), "GET", &format!("{base}/snapshots"), None).await;
    let snap = snaps.as_array().unwrap().iter().find(|s| s["name"] == "before").unwrap();
    assert!(
        snap["description"].as_str().unwrap().contains("expires"),
        "the TTL is recorded: {snap}"
    );
    let (s, op) =
        api.call(Some("operator"), "DELETE", &format!("{base}/snapshots/before"), None).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert_eq!(api.finished("operator", op["id"].as_str().unwrap()).await["state"], "succeeded");
    let (_, snaps) = api.call(Some("viewer"), "GET", &format!("{base}/snapshots"), None).await;
    assert!(snaps.as_array().unwrap().iter().all(|s| s["name"] != "before"), "{snaps}");

    let (s, t) = api
        .call(
            Some("operator"),
            "PUT",
            &format!("{base}/tags"),
            Some(json!({"tags": ["web", "env-prod"]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let (_, g) = api.call(Some("viewer"), "GET", base, None).await;
    assert!(g["tags"].as_array().unwrap().iter().any(|t| t == "env-prod"), "{g}");
    let (s, _) = api
        .call(
            Some("operator"),
            "PUT",
            &format!("{base}/tags"),
            Some(json!({"tags": ["no spaces"]})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    let (s, _) = api.call(Some("operator"), "DELETE", base, None).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "deleting needs the admin role");
    let (s, op) = api.call(Some("admin"), "DELETE", base, None).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let done = api.finished("admin", op["id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    let (s, _) = api.call(Some("viewer"), "GET", base, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "gone, and the list shows it at once");
    let (s, t) = api.call(Some("viewer"), "GET", "/api/v1/templates", None).await;
    assert_eq!(s, StatusCode::OK, "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_views_answer_and_ha_hides_guests_outside_a_scope() {
    let api = Api::start(false).await;
    api._sim.with_world(|w| {
        for sid in ["vm:100", "vm:200"] {
            let r = proxctl_sim::state::HaResource::new(sid.into(), "started".into());
            w.ha.insert(sid.into(), r);
        }
    });
    for path in ["/api/v1/networks", "/api/v1/sdn", "/api/v1/cluster", "/api/v1/ha"] {
        let (s, v) = api.call(Some("viewer"), "GET", path, None).await;
        assert_eq!(s, StatusCode::OK, "{path}: {v}");
        assert!(v["items"].is_array(), "{path}: {v}");
    }
    let ids = |v: &serde_json::Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, all) = api.call(Some("viewer"), "GET", "/api/v1/ha", None).await;
    assert!(ids(&all).iter().any(|i| i.ends_with(":200")), "{all}");
    let (_, mine) = api.call(Some("scoped"), "GET", "/api/v1/ha", None).await;
    assert!(ids(&mine).iter().any(|i| i.ends_with(":100")), "{mine}");
    assert!(
        !ids(&mine).iter().any(|i| i.ends_with(":200")),
        "guest 200 is outside the scope: {mine}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_log_is_read_within_the_tokens_scope() {
    let api = Api::start(false).await;
    let mut upids = Vec::new();
    for vmid in [100, 200] {
        let path = format!("/api/v1/remotes/pve/guests/{vmid}/power");
        let (_, op) =
            api.call(Some("operator"), "POST", &path, Some(json!({"action": "start"}))).await;
        let done = api.finished("operator", op["id"].as_str().unwrap()).await;
        upids.push(done["result"]["upid"].as_str().unwrap().to_string());
    }
    let log = |u: &str| format!("/api/v1/remotes/pve/tasks/{u}/log");
    let (s, l) = api.call(Some("viewer"), "GET", &log(&upids[1]), None).await;
    assert_eq!(s, StatusCode::OK, "{l}");
    assert_eq!(l["lines"].as_array().unwrap().last().unwrap(), "TASK OK", "{l}");
    assert_eq!(l["total"].as_u64(), Some(l["lines"].as_array().unwrap().len() as u64));
    let (s, _) = api.call(Some("scoped"), "GET", &log(&upids[1]), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "guest 200's task is outside the scope");
    let (s, _) = api.call(Some("scoped"), "GET", &log(&upids[0]), None).await;
    assert_eq!(s, StatusCode::OK);
    let unknown = upids[0].replace(":qmstart:", ":qmstop:");
    let (s, p) = api.call(Some("viewer"), "GET", &log(&unknown), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{p}");
    let (s, _) = api.call(Some("viewer"), "GET", &log("not-a-upid"), None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scoped_admin_cannot_use_routes_that_span_the_whole_cluster() {
    let api = Api::start(false).await;
    let who = Some("scoped-admin");
    for (method, path, body) in [
        ("POST", "/api/v1/plans", Some(json!({"manifests": ""}))),
        ("POST", "/api/v1/drift", Some(json!({"manifests": ""}))),
        ("GET", "/api/v1/audit", None),
        ("GET", "/api/v1/tokens", None),
    ] {
        let (s, p) = api.call(who, method, path, body).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{method} {path}: {p}");
        assert!(p["detail"].as_str().unwrap().contains("without one"), "{p}");
    }
    let (s, _) = api.call(who, "DELETE", "/api/v1/remotes/pve/guests/200", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "a guest outside the scope, even for an admin");
    let (s, _) = api.call(Some("admin"), "GET", "/api/v1/audit", None).await;
    assert_eq!(s, StatusCode::OK, "an unscoped admin reads it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_wrong_secrets_for_a_token_id_are_refused_without_hashing() {
    let api = Api::start(false).await;
    let real = api.tokens["viewer"].clone();
    let (s, _) = api.call(Some("viewer"), "GET", "/api/v1/remotes", None).await;
    assert_eq!(s, StatusCode::OK, "the real token, verified once");
    // The same id with another secret.
    let mut wrong = real.clone();
    let last = wrong.pop().unwrap();
    wrong.push(if last == 'a' { 'b' } else { 'a' });
    let attempt = async || {
        api.http
            .get(format!("{}/api/v1/remotes", api.url))
            .bearer_auth(&wrong)
            .send()
            .await
            .unwrap()
            .status()
    };
    for _ in 0..10 {
        assert_eq!(attempt().await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(attempt().await, StatusCode::TOO_MANY_REQUESTS, "the id is refused for a while");
    let (s, _) = api.call(Some("viewer"), "GET", "/api/v1/remotes", None).await;
    assert_eq!(s, StatusCode::OK, "a token in use keeps working while guesses are refused");
}

/// A snapshot taken `days` ago (of wall time).
fn old_snapshot(api: &Api, vmid: u32, name: &str, days: u64) {
    let now = jiff::Timestamp::now().as_second() as u64;
    assert!(api._sim.put_snapshot(vmid, name, now - days * 86_400));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attention_lists_what_needs_a_look_and_a_scoped_token_sees_only_its_guests_part() {
    let api = Api::start(true).await;
    old_snapshot(&api, 100, "before-upgrade", 40);
    old_snapshot(&api, 200, "db-migration", 90);
    let items = |v: &serde_json::Value| -> Vec<(String, String)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|i| (i["kind"].as_str().unwrap().into(), i["text"].as_str().unwrap().into()))
            .collect()
    };
    let (s, all) = api.call(Some("viewer"), "GET", "/api/v1/attention", None).await;
    assert_eq!(s, StatusCode::OK, "{all}");
    let all = items(&all);
    assert_eq!(all[0].0, "remote-unreachable", "failures first: {all:?}");
    assert!(all[0].1.starts_with("down: does not answer"), "{all:?}");
    let old: Vec<&str> =
        all.iter().filter(|(k, _)| k == "snapshot-old").map(|(_, t)| t.as_str()).collect();
    assert_eq!(
        old,
        [
            "pve: snapshot db-migration of db-1 (200) is 90 days old",
            "pve: snapshot before-upgrade of web-1 (100) is 40 days old",
        ],
        "oldest first"
    );
    assert!(
        all.iter().any(|(k, t)| k == "no-recent-backup" && t.contains("3 guest(s)")),
        "{all:?}"
    );

    // The scoped token (web guests) hears of web-1's snapshot and web guests' backups only.
    let (s, mine) = api.call(Some("scoped"), "GET", "/api/v1/attention", None).await;
    assert_eq!(s, StatusCode::OK, "{mine}");
    let mine = items(&mine);
    assert!(!mine.iter().any(|(_, t)| t.contains("db-1")), "{mine:?}");
    assert!(mine.iter().any(|(_, t)| t.contains("before-upgrade")), "{mine:?}");
    assert!(
        mine.iter().any(|(k, t)| k == "no-recent-backup" && t.contains("2 guest(s)")),
        "{mine:?}"
    );

    // A longer limit leaves the 40-day one out; a bad one is a 400 that says which.
    let (_, fewer) =
        api.call(Some("viewer"), "GET", "/api/v1/attention?snapshot_age=60d", None).await;
    let fewer = items(&fewer);
    assert_eq!(fewer.iter().filter(|(k, _)| k == "snapshot-old").count(), 1, "{fewer:?}");
    let (s, p) = api.call(Some("viewer"), "GET", "/api/v1/attention?snapshot_age=soon", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(p["detail"].as_str().unwrap().starts_with("snapshot_age:"), "{p}");
}
