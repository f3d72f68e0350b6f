//! Backup retention reckoned in the node's local time, as PVE's prune does: the same three
//! backups keep different days on a node in Europe/Berlin than on one in UTC.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use proxctl_ops::backup::{BackupFilter, Mark, prune_plan};

fn scenario(tz: &str) -> String {
    format!(
        "nodes:\n  - {{name: pve, timezone: {tz}}}\nimages:\n\
         \x20 - {{volid: 'local:backup/vzdump-qemu-100-2026_03_09-12_00_00.vma.zst'}}\n\
         \x20 - {{volid: 'local:backup/vzdump-qemu-100-2026_03_10-22_30_00.vma.zst'}}\n\
         \x20 - {{volid: 'local:backup/vzdump-qemu-100-2026_03_10-23_30_00.vma.zst'}}\n"
    )
}

/// The marks prune plans for the three backups, oldest first.
async fn marks_on_a_node_in(tz: &str) -> Vec<Mark> {
    let h = support::realtime(&scenario(tz), 1).await;
    // The names say when, in UTC; the simulator stamps seeded volumes with its own clock.
    h.sim.with_world(|w| {
        for v in w.volumes.values_mut().filter(|v| v.content == "backup") {
            let stamp = &v.volid[v.volid.len() - 27..v.volid.len() - 8];
            let (day, time) = stamp.split_once('-').unwrap();
            let t: jiff::Timestamp =
                format!("{}T{}Z", day.replace('_', "-"), time.replace('_', ":")).parse().unwrap();
            v.ctime = u64::try_from(t.as_second()).unwrap();
            v.vmid = Some(100);
        }
    });
    let opts = "keep-daily=2".parse().unwrap();
    let mut rows = prune_plan(&h.client, &BackupFilter::default(), &opts).await.unwrap();
    rows.sort_by_key(|r| r.ctime);
    assert_eq!(rows.len(), 3, "{rows:?}");
    rows.into_iter().map(|r| r.mark).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_buckets_follow_the_nodes_time_zone() {
    use Mark::{Keep as K, Remove as R};
    // 22:30 and 23:30 UTC on 10 March are one day in UTC, but 23:30 and 00:30 in Berlin.
    assert_eq!(marks_on_a_node_in("UTC").await, [K, R, K]);
    assert_eq!(marks_on_a_node_in("Europe/Berlin").await, [R, K, K]);
}

/// Backups of VM 100 on three days (two on the last), one of VM 101, and one renamed by hand.
const PRUNE_SCENARIO: &str = "\
nodes:\n  - {name: pve, timezone: UTC}\nimages:\n\
  - {volid: 'local:backup/vzdump-qemu-100-2026_03_09-12_00_00.vma.zst'}\n\
  - {volid: 'local:backup/vzdump-qemu-100-2026_03_10-12_00_00.vma.zst'}\n\
  - {volid: 'local:backup/vzdump-qemu-100-2026_03_11-08_00_00.vma.zst'}\n\
  - {volid: 'local:backup/vzdump-qemu-100-2026_03_11-12_00_00.vma.zst'}\n\
  - {volid: 'local:backup/vzdump-qemu-101-2026_03_11-12_00_00.vma.zst'}\n\
  - {volid: 'local:backup/my-copy.vma.zst'}\n";

/// `volid` (its date part) → mark, from a prunebackups answer.
fn marks_of(body: &serde_json::Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let volid = e["volid"].as_str().unwrap();
            let short = volid.trim_start_matches("local:backup/").trim_end_matches(".vma.zst");
            (short.to_string(), e["mark"].as_str().unwrap().to_string())
        })
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prunebackups_dry_runs_and_prunes_as_pve_with_protected_and_renamed_backups_left_alone() {
    let h = support::realtime(PRUNE_SCENARIO, 1).await;
    h.sim.with_world(|w| {
        for v in w.volumes.values_mut().filter(|v| v.volid.contains("vzdump")) {
            let stamp = &v.volid[v.volid.len() - 27..v.volid.len() - 8];
            let (day, time) = stamp.split_once('-').unwrap();
            let t: jiff::Timestamp =
                format!("{}T{}Z", day.replace('_', "-"), time.replace('_', ":")).parse().unwrap();
            v.ctime = u64::try_from(t.as_second()).unwrap();
            v.protected = v.volid.contains("2026_03_09");
        }
    });
    let at = "/nodes/pve/storage/local/prunebackups";

    // No options given and none on the storage: everything is kept.
    let (s, all) = support::form(&h, "GET", at, "").await;
    assert_eq!(s, 200, "{all}");
    assert!(marks_of(&all).iter().all(|(_, m)| m != "remove"), "{all}");
    assert!(marks_of(&all).contains(&("my-copy".into(), "renamed".into())), "{all}");

    // keep-daily=2 for VM 100: the newest of each of the last two days; the protected one is
    // set aside.
    let (s, dry) =
        support::form(&h, "GET", &format!("{at}?vmid=100&prune-backups=keep-daily%3D2"), "").await;
    assert_eq!(s, 200, "{dry}");
    let want = [
        ("vzdump-qemu-100-2026_03_09-12_00_00", "protected"),
        ("vzdump-qemu-100-2026_03_10-12_00_00", "keep"),
        ("vzdump-qemu-100-2026_03_11-08_00_00", "remove"),
        ("vzdump-qemu-100-2026_03_11-12_00_00", "keep"),
    ];
    let want: Vec<(String, String)> =
        want.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    assert_eq!(marks_of(&dry), want);
    assert_eq!(dry["data"][0]["type"], "qemu");

    // The storage's own prune-backups applies when the request gives none.
    h.sim.with_world(|w| {
        let st = w.storages.get_mut("local").unwrap();
        st.options.insert("prune-backups".into(), "keep-last=1".into());
    });
    let (_, by_storage) = support::form(&h, "GET", &format!("{at}?vmid=100"), "").await;
    let kept: Vec<String> =
        marks_of(&by_storage).into_iter().filter(|(_, m)| m == "keep").map(|(v, _)| v).collect();
    assert_eq!(kept, ["vzdump-qemu-100-2026_03_11-12_00_00"], "{by_storage}");

    // DELETE prunes, as a task: what was marked remove is gone, the rest stays.
    let (s, started) = support::form(&h, "DELETE", &format!("{at}?vmid=100"), "").await;
    assert_eq!(s, 200, "{started}");
    let upid: proxctl_types::Upid = started["data"].as_str().unwrap().parse().unwrap();
    h.finish(&upid).await.expect("the prune task ends OK");
    let (_, left) =
        support::form(&h, "GET", "/nodes/pve/storage/local/content?content=backup", "").await;
    let mut names: Vec<&str> = left["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["volid"].as_str().unwrap().trim_start_matches("local:backup/"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "my-copy.vma.zst",
            "vzdump-qemu-100-2026_03_09-12_00_00.vma.zst",
            "vzdump-qemu-100-2026_03_11-12_00_00.vma.zst",
            "vzdump-qemu-101-2026_03_11-12_00_00.vma.zst",
        ]
    );

    // PVE's errors: a storage without backups, and options it cannot read.
    let (s, e) = support::form(&h, "GET", "/nodes/pve/storage/local-lvm/prunebackups", "").await;
    assert_eq!(s, 500);
    assert!(support::message(&e).contains("content type 'backup' is not available"), "{e}");
    let (s, e) =
        support::form(&h, "GET", &format!("{at}?prune-backups=keep-daily%3Dmany"), "").await;
    assert_eq!(s, 400, "{e}");
}
