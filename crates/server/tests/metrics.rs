//! Prometheus scrapes of a server in front of a simulator: `/metrics` with a viewer token
//! (every remote, one of them down, with a `remote` label; proxctl's own series for jobs and
//! the state store), `/pve?target=` as the exporter serves it, the same without a token on
//! `--metrics-listen`, scoped tokens refused, and `promtool check metrics` content with it;
//! every series the alert rules and the Grafana dashboard use in a real scrape; the sample
//! Prometheus config valid.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use reqwest::StatusCode;
use serde_json::json;
use support::Api;

async fn get(api: &Api, who: &str, path: &str) -> (StatusCode, String, String) {
    let r = api
        .http
        .get(format!("{}{path}", api.url))
        .bearer_auth(&api.tokens[who])
        .send()
        .await
        .unwrap();
    let status = r.status();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, r.text().await.unwrap())
}

/// `promtool check metrics` on a scrape: no problems. A missing promtool fails when every
/// suite must run (CI installs Debian's prometheus).
fn promtool_accepts(text: &str) {
    use std::io::Write;
    let child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            let msg = format!("promtool is not installed (Debian: apt install prometheus): {e}");
            assert!(std::env::var_os("PROXCTL_REQUIRE_ALL").is_none(), "{msg}");
            eprintln!("skipping: {msg}");
            return;
        }
    };
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let said =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    // The exporter's own name breaks one naming rule, and dashboards query it by that name.
    let exporters_names =
        ["pve_not_backed_up_total non-counter metrics should not have \"_total\" suffix"];
    let findings: Vec<&str> = said
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !exporters_names.contains(l))
        .collect();
    // promtool exits non-zero for that finding too, so the findings are what count.
    assert!(findings.is_empty(), "promtool check metrics:\n{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_serves_the_exporters_series_and_proxctls_own_and_promtool_accepts_it() {
    let api = Api::start(true).await;
    let job =
        json!({"name": "tagger", "schedule": "hourly", "action": {"type": "tag", "add": ["seen"]}});
    let (s, _) = api.call(Some("admin"), "POST", "/api/v1/jobs", Some(job)).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, op) = api.call(Some("admin"), "POST", "/api/v1/jobs/tagger/run", None).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    api.finished("admin", op["id"].as_str().unwrap()).await;

    let (s, ct, text) = get(&api, "viewer", "/metrics").await;
    assert_eq!(s, StatusCode::OK, "{text}");
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    for want in [
        r#"pve_up{id="qemu/100",remote="pve"} 0"#,
        r#"pve_up{id="node/pve1",remote="pve"} 1"#,
        r#"pve_guest_info{id="qemu/100",name="web-1",node="pve1",remote="pve",tags="seen;web",template="0",type="qemu"} 1"#,
        r#"pve_storage_info{content="#,
        r#"proxctl_remote_up{remote="pve"} 1"#,
        r#"proxctl_remote_up{remote="down"} 0"#,
        r#"proxctl_state_store_up 1"#,
        r#"proxctl_job_enabled{job="tagger"} 1"#,
        r#"proxctl_job_last_outcome{job="tagger",outcome="succeeded"} 1"#,
        r#"proxctl_job_runs{job="tagger",outcome="succeeded"} 1"#,
        r#"proxctl_http_request_duration_seconds_count{method="POST",route="/api/v1/jobs",status="201"} 1"#,
    ] {
        assert!(text.contains(want), "{want} missing from:\n{text}");
    }
    // A remote that is down has no exporter series, only proxctl_remote_up 0.
    let down: Vec<&str> =
        text.lines().filter(|l| l.starts_with("pve_") && l.contains(r#"remote="down""#)).collect();
    assert!(down.is_empty(), "{down:?}");
    promtool_accepts(&text);

    // As the exporter serves one target: no remote label.
    let (s, _, one) = get(&api, "viewer", "/pve?target=pve&module=default").await;
    assert_eq!(s, StatusCode::OK, "{one}");
    assert!(one.contains(r#"pve_up{id="qemu/100"} 0"#), "{one}");
    assert!(!one.contains("remote=") && !one.contains("proxctl_"), "{one}");
    promtool_accepts(&one);
    let (s, _, _) = get(&api, "viewer", "/pve?target=nowhere").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = get(&api, "viewer", "/pve?target=down").await;
    assert!(s.is_server_error(), "a remote that is down is a 5xx for its own target: {s}");

    // A token limited to some guests may not see every guest's series.
    let (s, _, _) = get(&api, "scoped", "/metrics").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let r = api.http.get(format!("{}/metrics", api.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // The plain listener for a Prometheus on the same host needs no token.
    let plain = api.server.as_ref().unwrap().metrics_url.clone().unwrap();
    let r = reqwest::get(format!("{plain}/metrics")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("proxctl_remote_up"));
    let r = reqwest::get(format!("{plain}/pve?target=pve")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

fn repo(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(path)
}

/// `promtool ARGS` succeeds; a missing promtool fails when every suite must run.
fn promtool(args: &[&str]) {
    match std::process::Command::new("promtool").args(args).output() {
        Ok(o) => assert!(
            o.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => {
            let msg = format!("promtool is not installed (Debian: apt install prometheus): {e}");
            assert!(std::env::var_os("PROXCTL_REQUIRE_ALL").is_none(), "{msg}");
            eprintln!("skipping: {msg}");
        }
    }
}

#[test]
fn the_alert_rules_are_valid_and_each_fires_and_stays_quiet_as_its_unit_tests_say() {
    let rules = repo("monitoring/alerts.yml");
    promtool(&["check", "rules", rules.to_str().unwrap()]);
    let tests = repo("monitoring/tests/alerts.test.yml");
    promtool(&["test", "rules", tests.to_str().unwrap()]);
}

/// Metric names in PromQL text: words that start `pve_` or `proxctl_`.
fn metric_names(promql: &str) -> std::collections::BTreeSet<String> {
    promql
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("pve_") || w.starts_with("proxctl_"))
        .map(String::from)
        .collect()
}

/// A server whose scrape has every family: VMs and a container, a job run, a snapshot with a
/// TTL, a backup, a guest declared `start: true` (and `onboot`), a drift-check that found
/// drift, a template version as proxctl marks them, a subscription and a replication job.
/// Returns its `/metrics` text.
async fn a_scrape_with_everything(api: &Api) -> String {
    let manifest = "apiVersion: proxctl.io/v1\nkind: VirtualMachine\nmetadata: {name: app-1}\nspec: {template: tpl, cores: 1, start: true, onboot: true}\n";
    api.apply_manifests(manifest).await;
    // Declared with 1 core; the check sees 2 as drift.
    let drifted = manifest.replace("cores: 1", "cores: 2");
    for job in [
        json!({"name": "nightly", "schedule": "daily", "action": {"type": "backup"}, "selector": "web"}),
        json!({"name": "watch", "schedule": "hourly", "action": {"type": "drift-check", "manifests": drifted}}),
    ] {
        let name = job["name"].as_str().unwrap().to_string();
        let (s, made) = api.call(Some("admin"), "POST", "/api/v1/jobs", Some(job)).await;
        assert_eq!(s, StatusCode::CREATED, "{made}");
        let (s, op) =
            api.call(Some("admin"), "POST", &format!("/api/v1/jobs/{name}/run"), None).await;
        assert_eq!(s, StatusCode::ACCEPTED);
        api.finished("admin", op["id"].as_str().unwrap()).await;
    }
    let snap = json!({"name": "before-upgrade", "ttl": "1d"});
    let (s, op) = api
        .call(Some("operator"), "POST", "/api/v1/remotes/pve/guests/100/snapshots", Some(snap))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{op}");
    api.finished("operator", op["id"].as_str().unwrap()).await;
    // The template as `proxctl template build` marks its versions.
    api._sim.with_world(|w| {
        let conf = &mut w.guests.get_mut(&9000).unwrap().conf;
        conf.insert("tags".into(), "proxctl-template;tpl-tpl".into());
        conf.insert(
            "description".into(),
            "proxctl:template=tpl\nproxctl:version=1\nproxctl:built=2026-11-30T02:00:00Z".into(),
        );
    });
    // A container beside the VMs, a subscription on pve1 and a replication job from pve1 to
    // pve2.
    let ct = "guests: [{vmid: 300, node: pve2, kind: lxc, config: {hostname: cache-1, rootfs: \"local-lvm:vm-300-disk-0,size=4G\"}}]";
    let ct = proxctl_sim::scenario::Scenario::from_yaml(ct).unwrap();
    api._sim.with_world(|w| ct.apply(w)).unwrap();
    api._sim.with_world(|w| {
        w.subscriptions.insert(
            "pve1".into(),
            serde_json::from_value(
                json!({"status": "active", "level": "c", "nextduedate": "2027-01-31"}),
            )
            .unwrap(),
        );
        w.replication.push(
            serde_json::from_value(json!({"id": "100-0", "type": "local", "source": "pve1",
                "target": "pve2", "guest": 100, "vmtype": "qemu", "last_sync": 1796000000,
                "next_sync": 1796000900, "duration": 2.5, "fail_count": 1}))
            .unwrap(),
        );
    });
    let (s, _, text) = get(api, "viewer", "/metrics").await;
    assert_eq!(s, StatusCode::OK, "{text}");
    text
}

/// Names that scrape's `# TYPE` lines declare, with a histogram's `_bucket`, `_sum` and
/// `_count` series.
fn served_names(text: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    for l in text.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let mut parts = l.split_whitespace();
        let (Some(name), Some(kind)) = (parts.next(), parts.next()) else { continue };
        names.insert(name.to_string());
        if kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{name}{suffix}"));
            }
        }
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_series_the_alert_rules_and_the_grafana_dashboard_use_is_in_a_real_scrape() {
    let api = Api::start(false).await;
    let text = a_scrape_with_everything(&api).await;
    let served = served_names(&text);
    let rules = std::fs::read_to_string(repo("monitoring/alerts.yml")).unwrap();
    let in_rules: std::collections::BTreeSet<String> =
        rules.lines().filter(|l| !l.trim_start().starts_with('#')).flat_map(metric_names).collect();
    assert!(in_rules.len() >= 12, "{in_rules:?}");
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo("monitoring/grafana-dashboard.json")).unwrap(),
    )
    .unwrap();
    let mut in_dashboard = std::collections::BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for t in panel["targets"].as_array().into_iter().flatten() {
            in_dashboard.extend(metric_names(t["expr"].as_str().unwrap()));
        }
    }
    assert!(in_dashboard.len() >= 30, "{in_dashboard:?}");
    for (what, used) in [("alert rules", &in_rules), ("Grafana dashboard", &in_dashboard)] {
        let missing: Vec<&String> = used.iter().filter(|n| !served.contains(*n)).collect();
        assert!(missing.is_empty(), "used by the {what} but not scraped: {missing:?}\n{text}");
    }
    for want in [
        r#"proxctl_guest_declared_running{id="qemu/102",resource="VirtualMachine/app-1"} 1"#,
        r#"pve_onboot_status{id="qemu/102",node="pve1",remote="pve",type="qemu"} 1"#,
        r#"proxctl_drift_resources{job="watch"} 1"#,
        r#"proxctl_snapshots{id="qemu/100",remote="pve"} 1"#,
        r#"proxctl_backup_status{id="qemu/100",remote="pve",status="ok"} 1"#,
        r#"proxctl_backup_status{id="qemu/200",remote="pve",status="none"} 1"#,
        r#"proxctl_backup_covered{id="qemu/200",remote="pve"} 0"#,
        r#"proxctl_template_versions{remote="pve",template="tpl"} 1"#,
        r#"proxctl_template_built_timestamp_seconds{id="qemu/9000",remote="pve",template="tpl",version="1"} 1796004000"#,
        r#"pve_not_backed_up_info{id="qemu/200",remote="pve"} 1"#,
        r#"pve_subscription_status{id="node/pve1",remote="pve",status="active"} 1"#,
        r#"pve_subscription_status{id="node/pve2",remote="pve",status="notfound"} 1"#,
        r#"pve_replication_failed_syncs{id="100-0",remote="pve"} 1"#,
        r#"pve_up{id="lxc/300",remote="pve"} 0"#,
        r#"proxctl_snapshots{id="lxc/300",remote="pve"} 0"#,
        r#"proxctl_backup_status{id="lxc/300",remote="pve",status="none"} 1"#,
    ] {
        assert!(text.contains(want), "{want} missing from:\n{text}");
    }
    promtool_accepts(&text);
}

#[test]
fn the_sample_prometheus_config_is_valid() {
    let config = repo("monitoring/prometheus.yml");
    // The token and CA files it names are the admin's; the syntax is ours.
    promtool(&["check", "config", "--syntax-only", config.to_str().unwrap()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_coverage_names_each_guests_last_backup_and_the_jobs_that_cover_it() {
    let api = Api::start(false).await;
    let job = json!({"name": "nightly", "schedule": "02:00", "action": {"type": "backup"}, "selector": "web"});
    let (s, _) = api.call(Some("admin"), "POST", "/api/v1/jobs", Some(job)).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, op) = api.call(Some("admin"), "POST", "/api/v1/jobs/nightly/run", None).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let done = api.finished("admin", op["id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "succeeded", "{done}");

    let (s, rows) =
        api.call(Some("viewer"), "GET", "/api/v1/backup-coverage?max_age=1d", None).await;
    assert_eq!(s, StatusCode::OK, "{rows}");
    let by: Vec<(u64, String, serde_json::Value)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (r["vmid"].as_u64().unwrap(), r["status"].as_str().unwrap().into(), r["jobs"].clone())
        })
        .collect();
    assert_eq!(
        by,
        [
            (100, "ok".into(), json!(["nightly"])),
            (101, "ok".into(), json!(["nightly"])),
            (200, "none".into(), json!([]))
        ],
        "{rows}"
    );
    let (_, scoped) = api.call(Some("scoped"), "GET", "/api/v1/backup-coverage", None).await;
    let seen: Vec<u64> =
        scoped.as_array().unwrap().iter().map(|r| r["vmid"].as_u64().unwrap()).collect();
    assert_eq!(seen, [100, 101], "a scoped token sees its guests only");
    let (s, _) =
        api.call(Some("viewer"), "GET", "/api/v1/backup-coverage?max_age=soon", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}
