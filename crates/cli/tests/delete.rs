//! Deleting a running guest: the confirmation says it runs and will be stopped; with `--yes`
//! proxctl stops it, then deletes it (PVE refuses to destroy a running guest). Bulk delete too.
//! And `resolve`, which deletes all but one of the guests carrying one resource.

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

/// `proxctl resolve`: two guests carry one resource; the plan refuses, resolve names what it
/// will stop and delete, refuses a VMID that does not carry it, and with --yes leaves one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolve_keeps_one_of_two_carriers_after_saying_what_it_deletes() {
    let s = start_with(
        r#"
guests:
  - {vmid: 9000, config: {name: debian-12, template: true, scsi0: "local-lvm:base-9000-disk-0,size=2G"}}
  - {vmid: 300, running: true, config: {name: web-1, tags: proxctl, description: "proxctl:resource=VirtualMachine/web-1", scsi0: "local-lvm:vm-300-disk-0,size=4G"}}
  - {vmid: 301, config: {name: web-1, tags: proxctl, description: "proxctl:resource=VirtualMachine/web-1", scsi0: "local-lvm:vm-301-disk-0,size=4G"}}
"#,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("web.yaml");
    std::fs::write(&m, "apiVersion: proxctl.io/v1\nkind: VirtualMachine\nmetadata: {name: web-1}\nspec: {template: debian-12}\n").unwrap();
    let db = dir.path().join("state.db");
    let env = [("PROXCTL_STATE", db.to_str().unwrap())];
    let r = proxctl(&s, &["plan", "-f", m.to_str().unwrap()], &env).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("carried by 2 guests (VMIDs 300, 301)"), "{}", r.stderr);

    let key = "VirtualMachine/web-1";
    let r = proxctl(&s, &["resolve", key, "--keep", "4242", "--yes"], &env).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("VMID 4242 does not carry"), "{}", r.stderr);
    let r = proxctl(&s, &["resolve", key, "--keep", "301"], &env).await;
    assert_eq!(r.code, 1, "no terminal, no --yes: {}", r.stderr);
    assert!(r.stderr.contains("stop and delete 300 (web-1 on pve, running)"), "{}", r.stderr);
    assert!(exists(&s, 300));
    let r = proxctl(&s, &["resolve", key, "--keep", "301", "--yes"], &env).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!exists(&s, 300) && exists(&s, 301));
    let r = proxctl(&s, &["plan", "-f", m.to_str().unwrap()], &env).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
}
