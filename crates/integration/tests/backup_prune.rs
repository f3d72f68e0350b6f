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
