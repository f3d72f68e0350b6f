//! The audit log's integrity from the outside. It fails closed: when the state store that
//! holds it cannot be written (a directory, a corrupt file, an unreachable PostgreSQL), a
//! direct command changes nothing and exits 2; `audit = best-effort` lets the change through
//! with a warning on every run. And its head is anchored outside the store: cutting the last
//! rows and rewriting the stored head is caught by `audit verify` against the audit file or
//! a head kept with `audit head`.

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cutting_the_end_of_the_log_is_caught_by_a_head_kept_outside_the_store() {
    let s = start_with(CLUSTER).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let file = dir.path().join("audit.jsonl");
    let (dbp, filep) = (db.to_str().unwrap(), file.to_str().unwrap());
    let with_file = [("PROXCTL_STATE", dbp), ("PROXCTL_AUDIT_FILE", filep)];
    for cores in ["2", "3"] {
        let r = proxctl(&s, &["vm", "set", "z2", "--cores", cores], &with_file).await;
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let store_only = [("PROXCTL_STATE", dbp)];
    let r = proxctl(&s, &["audit", "head"], &store_only).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let head = r.stdout.trim().to_string();
    assert!(head.starts_with("4:") && head.len() == 2 + 64, "{head}");
    let r = proxctl(&s, &["audit", "verify", "--head", &head], &with_file).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("holds row 4 (given with --head)"), "{}", r.stdout);
    assert!(r.stdout.contains("holds row 4 (the last row of"), "{}", r.stdout);

    // Someone with database access cuts the last row and rewrites the stored head to match.
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch(
        "DELETE FROM audit_log WHERE seq = 4;
         UPDATE audit_head SET seq = 3, hash = (SELECT hash FROM audit_log WHERE seq = 3);",
    )
    .unwrap();
    drop(c);
    // The store alone cannot tell...
    let r = proxctl(&s, &["audit", "verify"], &store_only).await;
    assert_eq!(r.code, 0, "the chain itself is consistent: {}", r.stdout);
    // ...but the audit file and the kept head can.
    let r = proxctl(&s, &["audit", "verify"], &with_file).await;
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("row 4 with hash") && r.stdout.contains("cut off"), "{}", r.stdout);
    let r = proxctl(&s, &["audit", "verify", "--head", &head], &store_only).await;
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("(given with --head) is not in the log"), "{}", r.stdout);

    let r = proxctl(&s, &["audit", "verify", "--head", "4:nothex"], &store_only).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
}
