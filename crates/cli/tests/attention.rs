//! `proxctl attention`: what needs an admin's attention on one remote (the list the
//! dashboard's overview shows), against a simulator with a node down, a failed task and a
//! very old snapshot.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

const SCENARIO: &str = "\
nodes:
  - {name: pve1}
  - {name: pve2, online: false}
guests:
  - {vmid: 100, node: pve1, running: true, config: {name: web-1, scsi0: \"local-lvm:vm-100-disk-0,size=4G\"}}
  - {vmid: 101, node: pve1, running: false, config: {name: web-2, scsi0: \"local-lvm:vm-101-disk-0,size=4G\"}}
";

/// A snapshot taken `days` ago (of wall time).
fn old_snapshot(sim: &proxctl_sim::SimHandle, vmid: u32, name: &str, days: u64) {
    let now = jiff::Timestamp::now().as_second() as u64;
    assert!(sim.put_snapshot(vmid, name, now - days * 86_400));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attention_lists_a_node_down_guests_without_backups_and_snapshots_older_than_asked() {
    let sim = support::start_with(SCENARIO).await;
    old_snapshot(&sim, 100, "before-upgrade", 45);
    old_snapshot(&sim, 101, "last-week", 7);

    let run = support::proxctl(&sim, &["attention", "-o", "json"], &[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let items: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).unwrap();
    let kinds: Vec<&str> = items.iter().map(|i| i["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["node-offline", "no-recent-backup", "snapshot-old"], "{}", run.stdout);
    assert_eq!(items[0]["node"], "pve2");
    assert_eq!(items[1]["vmids"], serde_json::json!([100, 101]));
    assert_eq!(items[2]["snapshot"], "before-upgrade");
    assert_eq!(items[2]["text"], "snapshot before-upgrade of web-1 (100) is 45 days old");

    // A shorter limit finds the week-old one too; the table says it in words.
    let run = support::proxctl(&sim, &["attention", "--snapshot-age", "3d"], &[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("snapshot last-week of web-2 (101) is 7 days old"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("node pve2 is offline"), "{}", run.stdout);

    // --check makes a found item a failure, for cron and CI.
    let run = support::proxctl(&sim, &["attention", "--check"], &[]).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stderr.contains("3 item(s) need attention"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attention_refuses_an_age_it_cannot_read() {
    let sim = support::start_with(SCENARIO).await;
    let run = support::proxctl(&sim, &["attention", "--snapshot-age", "a month"], &[]).await;
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("--snapshot-age: 'a month' is not a duration"), "{}", run.stderr);
}
