//! Audit fails closed: when the state store that holds the audit log cannot be written (a
//! directory, a corrupt file, an unreachable PostgreSQL), a direct command changes nothing and
//! exits 2; `audit = best-effort` lets the change through with a warning on every run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::{proxctl, start_with};

const CLUSTER: &str = r#"
guests:
  - {vmid: 102, config: {name: z2, cores: "1", scsi0: "local-lvm:vm-102-disk-0,size=4G"}}
"#;

fn cores(s: &proxctl_sim::SimHandle) -> String {
    s.with_world(|w| w.guests[&102].conf.get("cores").cloned().unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_the_audit_log_cannot_record_is_not_made() {
    let s = start_with(CLUSTER).await;
    let dir = tempfile::tempdir().unwrap();
    let corrupt = dir.path().join("corrupt.db");
    std::fs::write(&corrupt, vec![0x5a; 8192]).unwrap();
    let a_directory = dir.path().join("a-directory");
    std::fs::create_dir(&a_directory).unwrap();
    let stores = [
        ("a corrupt file", corrupt.to_str().unwrap().to_string()),
        ("a directory", a_directory.to_str().unwrap().to_string()),
        ("an unreachable PostgreSQL", "postgres://postgres@127.0.0.1:1/test".to_string()),
    ];
    for (what, state) in &stores {
        let env = [("PROXCTL_STATE", state.as_str())];
        let r = proxctl(&s, &["vm", "set", "z2", "--cores", "2"], &env).await;
        assert_eq!(r.code, 2, "{what}: a system error\n{}\n{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("audit log"), "{what}: says why: {}", r.stderr);
        assert_eq!(cores(&s), "1", "{what}: nothing was changed");
    }

    // Best-effort: made anyway, and the run says so.
    let env = [("PROXCTL_STATE", stores[0].1.as_str()), ("PROXCTL_AUDIT", "best-effort")];
    let r = proxctl(&s, &["vm", "set", "z2", "--cores", "2"], &env).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("audit is best-effort"), "{}", r.stderr);
    assert_eq!(cores(&s), "2");

    let env = [("PROXCTL_AUDIT", "sometimes")];
    let r = proxctl(&s, &["vm", "set", "z2", "--cores", "3"], &env).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("strict or best-effort"), "{}", r.stderr);
    assert_eq!(cores(&s), "2");
}
