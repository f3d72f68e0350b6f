//! How much of PVE's API the simulator answers (issue 21): every method of the schema in
//! `../shared` is called once, with its path filled in and no other parameters, and counted
//! as answered unless it gets PVE's `501 not implemented`. Prints `N of M methods answered,
//! K stateful` (stateful: the simulator's own code; the rest answer from the schema given
//! with `--schema`). Answers of generic GETs must have the shape the schema declares, checked
//! by a walker of the schema's `returns` written apart from the simulator's generator.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

const SCENARIO: &str = "guests:
  - {vmid: 100, config: {name: web-1, scsi0: \"local-lvm:vm-100-disk-0,size=4G\"}}
";

/// A concrete path for a template: the node, VM 100, storage `local`, `x` for the rest.
fn concrete(template: &str, node: &str) -> String {
    template
        .split('/')
        .map(|s| match s {
            "{node}" => node.to_string(),
            "{vmid}" => "100".to_string(),
            "{storage}" => "local".to_string(),
            s if s.starts_with('{') => "x".to_string(),
            s => s.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether `v` has the shape a PVE `returns` schema declares: its type (PVE sends booleans
/// as 0/1), every key that is not optional, and an enum's values. Written apart from the
/// simulator's answer generator, so a wrong answer is caught.
fn fits(v: &serde_json::Value, s: &serde_json::Value) -> Result<(), String> {
    use serde_json::Value;
    let optional = |p: &Value| {
        matches!(p.get("optional"), Some(Value::Number(n)) if n.as_i64() == Some(1))
            || p.get("optional") == Some(&Value::Bool(true))
    };
    if let Some(allowed) = s.get("enum").and_then(Value::as_array)
        && !allowed.contains(v)
    {
        return Err(format!("{v} is not one of {allowed:?}"));
    }
    let ok = match s.get("type").and_then(Value::as_str) {
        None | Some("any") => true,
        Some("null") => v.is_null(),
        Some("string") => v.is_string(),
        Some("integer") => v.is_i64() || v.is_u64(),
        Some("number") => v.is_number(),
        Some("boolean") => v.is_boolean() || v.as_i64().is_some_and(|n| n == 0 || n == 1),
        Some("array") => match (v.as_array(), s.get("items")) {
            (Some(items), Some(item)) => {
                items.iter().try_for_each(|i| fits(i, item))?;
                true
            }
            (Some(_), None) => true,
            (None, _) => false,
        },
        Some("object") => {
            let Some(obj) = v.as_object() else { return Err(format!("{v} is not an object")) };
            for (k, p) in s.get("properties").and_then(Value::as_object).into_iter().flatten() {
                match obj.get(k) {
                    Some(x) => fits(x, p).map_err(|e| format!("{k}: {e}"))?,
                    None if optional(p) => {}
                    None => return Err(format!("no '{k}'")),
                }
            }
            true
        }
        Some(_) => true,
    };
    if ok { Ok(()) } else { Err(format!("{v} is not of type {}", s["type"])) }
}

#[test]
fn the_shape_check_refuses_what_does_not_fit() {
    use serde_json::json;
    let s = json!({"type": "object", "properties": {"n": {"type": "integer"}, "o": {"type": "string", "optional": 1}}});
    assert!(fits(&json!({"n": 1}), &s).is_ok());
    assert!(fits(&json!({}), &s).is_err(), "a required key is missing");
    assert!(fits(&json!({"n": "1"}), &s).is_err(), "a string is not an integer");
    assert!(fits(&json!([]), &json!({"type": "string"})).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_method_of_the_schema_is_answered() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(schema) = proxctl_schema::load_shared_schema_for_tests().map(Arc::new) else {
        let msg = "the PVE schema is not in ../shared; coverage cannot be measured";
        assert!(std::env::var_os("PROXCTL_REQUIRE_ALL").is_none(), "{msg}");
        eprintln!("skipping: {msg}");
        return;
    };
    let cfg = proxctl_sim::SimConfig {
        clock: proxctl_sim::ClockMode::Realtime,
        time_scale: 1000.0,
        auth_failure_delay_ms: 0,
        schema: Some(Arc::clone(&schema)),
        scenario: Some(proxctl_sim::scenario::Scenario::from_yaml(SCENARIO).unwrap()),
        ..Default::default()
    };
    let sim = proxctl_sim::start(cfg, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let auth = format!("PVEAPIToken={}", sim.token.expose());
    let stateful: BTreeSet<(&str, &str)> = proxctl_sim::implemented().into_iter().collect();
    let node = sim.nodes[0].clone();

    let mut methods: Vec<(String, String)> =
        schema.methods().map(|(m, t)| (m.to_string(), t.to_string())).collect();
    methods.sort();
    let (mut answered, mut own) = (0, 0);
    let mut missing = Vec::new();
    let mut misshapen = Vec::new();
    for (method, template) in &methods {
        let is_own = stateful.contains(&(method.as_str(), template.as_str()));
        own += usize::from(is_own);
        let url = format!("{}/api2/json{}", sim.url, concrete(template, &node));
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let r = http.request(m, &url).header("Authorization", &auth).send().await;
        let status = match &r {
            Ok(r) => r.status().as_u16(),
            Err(e) => {
                missing.push(format!("{method} {template}: {e}"));
                continue;
            }
        };
        if status == 501 {
            missing.push(format!("{method} {template}"));
            continue;
        }
        answered += 1;
        // A generic read that succeeded answers with the declared shape.
        if !is_own && method == "GET" && status == 200 {
            let body: serde_json::Value =
                serde_json::from_slice(&r.unwrap().bytes().await.unwrap()).unwrap();
            let info = schema.method(method, template).unwrap();
            if let Err(why) = fits(&body["data"], &info["returns"]) {
                misshapen.push(format!("{method} {template}: {why}: {}", body["data"]));
            }
        }
    }
    println!("{answered} of {} methods answered, {own} stateful", methods.len());
    assert!(methods.len() > 600, "the schema lists {} methods", methods.len());
    assert!(missing.is_empty(), "not answered: {missing:#?}");
    assert!(misshapen.is_empty(), "not of the declared shape: {misshapen:#?}");
    assert!(own >= 300, "{own} stateful: a family lost its own code");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_schema_a_method_without_code_is_pves_501() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cfg = proxctl_sim::SimConfig { auth_failure_delay_ms: 0, ..Default::default() };
    let sim = proxctl_sim::start(cfg, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let http = reqwest::Client::builder().danger_accept_invalid_certs(true).build().unwrap();
    let r = http
        .get(format!("{}/api2/json/nodes/{}/apt/versions", sim.url, sim.nodes[0]))
        .header("Authorization", format!("PVEAPIToken={}", sim.token.expose()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 501);
}
