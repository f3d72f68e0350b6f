//! Deleting a running guest: the confirmation says it runs and will be stopped; with `--yes`
//! proxctl stops it, then deletes it (PVE refuses to destroy a running guest). Bulk delete too.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::{proxctl, start_with};

const CLUSTER: &str = r#"
guests:
  - {vmid: 100, running: true, config: {name: run-1, scsi0: "local-lvm:vm-100-disk-0,size=4G", tags: "doomed"}}
  - {vmid: 101, running: true, config: {name: run-2, scsi0: "local-lvm:vm-101-disk-0,size=4G", tags: "doomed"}}
  - {vmid: 102, config: {name: off-1, scsi0: "local-lvm:vm-102-disk-0,size=4G", tags: "doomed"}}
  - {vmid: 200, kind: lxc, running: true, config: {hostname: ct-run, rootfs: "local-lvm:vm-200-disk-0,size=4G"}}
"#;

fn exists(s: &proxctl_sim::SimHandle, vmid: u32) -> bool {
    s.with_world(|w| w.guests.contains_key(&vmid))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_guest_is_stopped_then_deleted_after_a_confirmation_that_says_so() {
    let s = start_with(CLUSTER).await;
    // No terminal and no --yes: refused, and the question names the stop.
    let r = proxctl(&s, &["vm", "delete", "run-1"], &[]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("which is running and will be stopped first"), "{}", r.stderr);
    assert!(exists(&s, 100));

    let r = proxctl(&s, &["vm", "delete", "run-1", "--yes"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("stopped run-1") && r.stdout.contains("deleted run-1"),
        "{}",
        r.stdout
    );
    assert!(!exists(&s, 100));

    let r = proxctl(&s, &["ct", "delete", "ct-run", "--yes"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!exists(&s, 200));

    // Bulk: running and stopped alike, each row says what it took.
    let r = proxctl(&s, &["bulk", "delete", "-l", "doomed", "--yes"], &[]).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("stopped, then deleted"), "{}", r.stdout);
    assert!(!exists(&s, 101) && !exists(&s, 102));
}
