//! The simulator refuses what PVE's schema refuses even when it runs without `--schema`, with
//! PVE's texts: bad tags, out-of-range memory and cores, oversized descriptions, bridges that
//! are not bridge IDs, NIC slots PVE does not have. Sent raw, past the client's own checks.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use proxctl_client::{ApiRequest, ClientError, Endpoint};
use proxctl_types::wire::FormParams;

const CLUSTER: &str = r#"
guests:
  - {vmid: 100, config: {name: z2, cores: "1", memory: "512", net0: "virtio=BC:24:11:00:00:02,bridge=vmbr0"}}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_pve_refuses_are_refused_without_a_schema_and_nothing_is_stored() {
    let mut cfg = support::config(1);
    cfg.schema = None;
    cfg.scenario = Some(proxctl_sim::scenario::Scenario::from_yaml(CLUSTER).unwrap());
    let h = support::harness_with(cfg).await;
    let cases: Vec<(&str, String, &str)> = vec![
        ("tags", "$(id)".into(), "invalid characters in tag '$(id)'"),
        ("tags", "caf\u{e9}".into(), "invalid characters in tag"),
        ("tags", "a\u{1b}[31m".into(), "invalid characters in tag"),
        ("memory", "18446744073709551615".into(), "maximum value"),
        ("memory", "8".into(), "current: value must have a minimum value of 16"),
        ("cores", "0".into(), "value must have a minimum value of 1"),
        ("description", "x".repeat(120 * 1024), "value may only be 8192 characters long"),
        ("net0", "virtio,bridge=vm br0".into(), "invalid bridge ID 'vm br0'"),
        ("net99", "virtio,bridge=vmbr0".into(), "property is not defined in schema"),
    ];
    for (key, value, text) in cases {
        let mut p = FormParams::new();
        p.push(key, value.as_str());
        let req = ApiRequest::new(Endpoint::QemuConfigPut, &["pve", "100"], p);
        let err = h.client.send(&req).await.unwrap_err();
        let ClientError::Api(a) = &err else { panic!("{key}: {err:?}") };
        assert_eq!(a.status, 400, "{key}={value:?}: {a:?}");
        let said = a.errors.get(key).cloned().unwrap_or_default();
        assert!(
            said.contains(text),
            "{key}={:?}: {said:?}",
            value.chars().take(20).collect::<String>()
        );
    }
    let conf = h.sim.with_world(|w| w.guests[&100].conf.clone());
    assert_eq!(conf.get("cores").map(String::as_str), Some("1"));
    assert_eq!(conf.get("memory").map(String::as_str), Some("512"));
    assert!(!conf.contains_key("tags") && !conf.contains_key("description"), "{conf:?}");
}
