//! proxctl's exporter-compatible series against prometheus-pve-exporter's: for the cluster its
//! own tests describe, the same series (names, label sets, `id` formats) as the fixture made
//! from its documented output, no more and no fewer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use proxctl_ops::metrics::details::Detail;
use proxctl_ops::metrics::{encode, pve};
use serde_json::json;

/// `name{label="value",...}` with the labels sorted, from one sample line.
fn series_key(line: &str) -> String {
    // Fixture lines have no value; label values may hold spaces.
    let series =
        if line.ends_with('}') { line } else { line.rsplit_once(' ').map_or(line, |(s, _)| s) };
    let Some((name, rest)) = series.split_once('{') else { return series.to_string() };
    let body = rest.strip_suffix('}').unwrap_or(rest);
    let mut labels = BTreeMap::new();
    let mut chars = body.chars().peekable();
    while chars.peek().is_some() {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        assert_eq!(chars.next(), Some('"'), "{line}");
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => value.push(chars.next().unwrap()),
                '"' => break,
                c => value.push(c),
            }
        }
        labels.insert(key.trim_start_matches(',').to_string(), value);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{name}{{{}}}", inner.join(","))
}

fn keys(text: &str) -> BTreeSet<String> {
    text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).map(series_key).collect()
}

fn observed() -> pve::Observed {
    let resources = json!([
        {"id": "node/pve1", "type": "node", "node": "pve1", "status": "online", "level": "c",
         "cpu": 0.0512, "maxcpu": 8, "mem": 4294967296u64, "maxmem": 17179869184u64,
         "disk": 5368709120u64, "maxdisk": 107374182400u64, "uptime": 864000},
        {"id": "node/pve2", "type": "node", "node": "pve2", "status": "online", "level": "",
         "cpu": 0.0231, "maxcpu": 8, "mem": 2147483648u64, "maxmem": 17179869184u64,
         "disk": 4294967296u64, "maxdisk": 107374182400u64, "uptime": 432000},
        {"id": "qemu/100", "type": "qemu", "vmid": 100, "node": "pve1", "name": "vm100",
         "status": "running", "template": 0, "tags": "web;prod", "hastate": "started",
         "lock": "backup", "cpu": 0.1234, "maxcpu": 2, "mem": 1073741824u64,
         "maxmem": 2147483648u64, "disk": 0, "maxdisk": 34359738368u64, "uptime": 86400,
         "netin": 123456789, "netout": 987654321, "diskread": 5555555, "diskwrite": 4444444},
        {"id": "lxc/101", "type": "lxc", "vmid": 101, "node": "pve2", "name": "ct101",
         "status": "stopped", "template": 0, "hastate": "stopped", "cpu": 0, "maxcpu": 1,
         "mem": 0, "maxmem": 536870912u64, "disk": 1073741824u64, "maxdisk": 8589934592u64,
         "uptime": 0, "netin": 0, "netout": 0, "diskread": 0, "diskwrite": 0},
        {"id": "storage/pve1/local", "type": "storage", "node": "pve1", "storage": "local",
         "plugintype": "dir", "status": "available", "shared": 0,
         "content": "vztmpl,iso,backup", "disk": 5368709120u64, "maxdisk": 107374182400u64},
        {"id": "storage/pve1/ceph", "type": "storage", "node": "pve1", "storage": "ceph",
         "plugintype": "rbd", "status": "unknown", "shared": 1, "content": "rootdir,images",
         "disk": 10737418240u64, "maxdisk": 1099511627776u64}
    ]);
    let status = json!([
        {"type": "cluster", "id": "cluster", "name": "pvec", "nodes": 2, "quorate": 1, "version": 2},
        {"type": "node", "id": "node/pve1", "name": "pve1", "nodeid": 1, "online": 1, "level": "c",
         "local": 1, "ip": "10.0.0.1"},
        {"type": "node", "id": "node/pve2", "name": "pve2", "nodeid": 2, "online": 1, "level": "",
         "local": 0, "ip": "10.0.0.2"}
    ]);
    pve::Observed {
        resources: serde_json::from_value(resources).unwrap(),
        status: serde_json::from_value(status).unwrap(),
        version: Some(
            serde_json::from_value(
                json!({"release": "9.0", "repoid": "1a2b3c4d", "version": "9.0.3"}),
            )
            .unwrap(),
        ),
        not_backed_up: Some(
            serde_json::from_value(json!([{"vmid": 101, "type": "lxc", "name": "ct101"}])).unwrap(),
        ),
        subscriptions: vec![(
            "pve1".into(),
            serde_json::from_value(
                json!({"status": "active", "level": "c", "nextduedate": "2027-01-31"}),
            )
            .unwrap(),
        )],
        replication: serde_json::from_value(json!([
            {"id": "100-0", "type": "local", "source": "pve1", "target": "pve2", "guest": 100,
             "vmtype": "qemu", "last_sync": 1700000000, "last_try": 1700000000,
             "next_sync": 1700000900, "duration": 3.5, "fail_count": 0}
        ]))
        .unwrap(),
        qdevice: Some(
            serde_json::from_value(json!({"Model": "Net", "Algorithm": "Fifty-Fifty split",
                "QNetd host": "10.0.0.5:5403", "Tie-breaker": "Node with lowest node ID",
                "State": "Connected"}))
            .unwrap(),
        ),
    }
}

/// What the details kept between scrapes say: qemu/100's config sets `onboot`, lxc/101's
/// does not (the exporter reports only set values).
fn details() -> BTreeMap<u32, Detail> {
    let d = |node: &str, kind: &str, onboot| Detail {
        node: node.into(),
        kind: kind.into(),
        onboot,
        ..Detail::default()
    };
    BTreeMap::from([(100, d("pve1", "qemu", Some(true))), (101, d("pve2", "lxc", None))])
}

#[test]
fn the_exporter_compatible_series_are_exactly_the_exporters() {
    let fixture = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/pve-exporter-series.txt"),
    )
    .unwrap();
    let want = keys(&fixture);
    let mut families = pve::families(&observed());
    families.push(pve::onboot(&details()));
    let text = encode(&families).unwrap();
    let have = keys(&text);
    let missing: Vec<&String> = want.difference(&have).collect();
    let extra: Vec<&String> = have.difference(&want).collect();
    assert!(missing.is_empty() && extra.is_empty(), "missing: {missing:#?}\nextra: {extra:#?}");
    // Counters keep their `_total` names and say so.
    assert!(text.contains("# TYPE pve_network_receive_bytes_total counter"), "{text}");
    assert!(text.contains("# TYPE pve_network_receive_bytes gauge"), "{text}");
    assert!(text.contains("pve_up{id=\"lxc/101\"} 0"), "{text}");
    assert!(text.contains("pve_ha_state{id=\"qemu/100\",state=\"started\"} 1"), "{text}");
    assert!(text.contains("pve_not_backed_up_total{id=\"cluster/pvec\"} 1"), "{text}");
    assert!(text.contains("pve_qdevice_up{id=\"cluster/pvec\"} 1"), "{text}");
    assert!(
        text.contains("pve_subscription_next_due_timestamp_seconds{id=\"node/pve1\"} 1801353600"),
        "{text}"
    );
}
