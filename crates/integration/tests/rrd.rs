//! `rrddata` as graphs read it: 70 points at PVE's resolution per timeframe, oldest first;
//! a running guest's use inside its limits, a stopped guest's none; nodes and storages too;
//! PVE's error for a missing guest.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use support::*;

const SCENARIO: &str = "guests:
  - {vmid: 100, running: true, config: {name: web-1, memory: \"2048\", scsi0: \"local-lvm:vm-100-disk-0,size=4G\"}}
  - {vmid: 101, config: {name: web-2, scsi0: \"local-lvm:vm-101-disk-0,size=4G\"}}
";

async fn get(h: &Harness, path: &str) -> (u16, Value) {
    raw_json(h, "GET", &format!("/api2/json{path}"), None, "").await
}

fn points(v: &Value) -> &Vec<Value> {
    v["data"].as_array().unwrap()
}

#[tokio::test]
async fn rrddata_has_seventy_points_at_pves_resolution_within_the_guests_limits() {
    let h = realtime(SCENARIO, 1).await;
    let n = h.sim.nodes[0].clone();
    let (s, hour) = get(&h, &format!("/nodes/{n}/qemu/100/rrddata?timeframe=hour")).await;
    assert_eq!(s, 200, "{hour}");
    let rows = points(&hour);
    assert_eq!(rows.len(), 70);
    let times: Vec<u64> = rows.iter().map(|r| r["time"].as_u64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[1] - w[0] == 60), "{times:?}");
    for r in rows {
        let cpu = r["cpu"].as_f64().unwrap();
        assert!(cpu > 0.0 && cpu <= 1.0, "{r}");
        assert_eq!(r["maxmem"].as_f64().unwrap(), 2048.0 * 1024.0 * 1024.0);
        assert!(r["mem"].as_f64().unwrap() <= r["maxmem"].as_f64().unwrap());
    }
    let (_, stopped) = get(&h, &format!("/nodes/{n}/qemu/101/rrddata?timeframe=day&cf=MAX")).await;
    let rows = points(&stopped);
    assert_eq!(rows[1]["time"].as_u64().unwrap() - rows[0]["time"].as_u64().unwrap(), 1_800);
    assert!(rows.iter().all(|r| r["cpu"] == 0.0 && r["netin"] == 0.0), "{stopped}");

    let (s, node) = get(&h, &format!("/nodes/{n}/rrddata?timeframe=week")).await;
    assert_eq!((s, points(&node).len()), (200, 70), "{node}");
    assert!(points(&node)[0]["memtotal"].as_f64().unwrap() > 0.0);
    let (s, st) = get(&h, &format!("/nodes/{n}/storage/local-lvm/rrddata?timeframe=hour")).await;
    assert_eq!(s, 200, "{st}");
    assert!(points(&st)[69]["used"].as_u64().unwrap() >= 8 << 30, "two 4G disks: {st}");

    let (s, e) = get(&h, &format!("/nodes/{n}/qemu/999/rrddata?timeframe=hour")).await;
    assert_eq!(s, 500, "{e}");
}
