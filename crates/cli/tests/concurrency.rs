//! The binary when several things run at once or die midway. `kill -9` of an apply at many
//! points (clones, configs, starts), each followed by a second apply: the second never fails,
//! never starts a VM twice, leaves no duplicate and no orphan disk, and the killed apply's
//! history row ends as `interrupted`. An apply waits for a live holder's locks (then refuses,
//! saying whose) but takes over a dead one's at once. Sixteen `vm clone` runs at once without
//! `--vmid` all succeed with distinct VMIDs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;

use support::{command, proxctl, start_scaled};

const CLUSTER: &str = r#"
guests:
  - {vmid: 9000, config: {name: debian-12, template: true, agent: "1", scsi0: "local-lvm:base-9000-disk-0,size=2G", net0: "virtio=BC:24:11:00:00:01,bridge=vmbr0"}}
"#;

const ROUNDS: usize = 20;
const VMS: usize = 6;

/// Run an apply and SIGKILL it right after its `kill_after`-th progress line.
async fn killed_apply(
    s: &proxctl_sim::SimHandle,
    home: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
    kill_after: usize,
) -> Vec<String> {
    let mut cmd = command(s, home, args, env);
    cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped());
    tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut seen = Vec::new();
        // Progress lines ("  KEY: step") follow the journal: the step's intent is on record.
        for line in std::io::BufReader::new(stderr).lines() {
            let line = line.unwrap();
            let progress = line.starts_with("  ");
            seen.push(line);
            if progress && seen.iter().filter(|l| l.starts_with("  ")).count() == kill_after {
                child.kill().unwrap();
                break;
            }
        }
        child.wait().unwrap();
        seen
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_any_point_then_apply_again_never_fails_or_starts_a_vm_twice() {
    let fleet: Vec<String> = (0..VMS)
        .map(|i| format!("apiVersion: proxctl.io/v1\nkind: VirtualMachine\nmetadata: {{name: k-{i}}}\nspec: {{template: debian-12, cores: 2, start: true}}\n"))
        .collect();
    for round in 0..ROUNDS {
        // Slow enough (50x) that steps are still running when the apply dies.
        let s = start_scaled(CLUSTER, 50.0).await;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("state.db");
        let m = dir.path().join("fleet.yaml");
        std::fs::write(&m, fleet.join("---\n")).unwrap();
        let (mp, dbp) = (m.to_str().unwrap().to_string(), db.to_str().unwrap().to_string());
        let env = [("PROXCTL_STATE", dbp.as_str())];
        let args = ["apply", "-f", mp.as_str(), "--yes", "--parallel", "3"];
        // Spread the kills over the whole run: each VM has clone, configure, start, done.
        let kill_after = 1 + (round * 7) % (VMS * 4 - 1);
        let first = killed_apply(&s, dir.path(), &args, &env, kill_after).await;

        let r = proxctl(&s, &args, &env).await;
        let context = format!(
            "round {round}, killed after line {kill_after}\nfirst apply:\n{}\nsecond apply:\n{}",
            first.join("\n"),
            r.stderr
        );
        assert_eq!(r.code, 0, "{context}\n{}", r.stdout);
        let r = proxctl(&s, &["plan", "-f", &mp, "--detailed-exitcode"], &env).await;
        assert_eq!(r.code, 0, "converged: {}\n{context}", r.stdout);

        let (names, orphans, starts, running) = s.with_world(|w| {
            let names: Vec<String> = w
                .guests
                .values()
                .filter_map(|g| g.conf.get("name").filter(|n| n.starts_with("k-")).cloned())
                .collect();
            let orphans: Vec<String> = w
                .volumes
                .values()
                .filter(|v| v.vmid.is_some_and(|id| !w.guests.contains_key(&id)))
                .map(|v| v.volid.clone())
                .collect();
            let mut starts: BTreeMap<String, usize> = BTreeMap::new();
            for t in w.tasks.iter().filter(|t| t.upid.task_type == "qmstart") {
                *starts.entry(t.upid.id.clone()).or_default() += 1;
            }
            let running = w.guests.values().filter(|g| g.is_running()).count();
            (names, orphans, starts, running)
        });
        let unique: BTreeSet<&String> = names.iter().collect();
        assert_eq!((names.len(), unique.len()), (VMS, VMS), "no duplicates: {names:?}\n{context}");
        assert!(orphans.is_empty(), "no orphan disks: {orphans:?}\n{context}");
        assert!(starts.values().all(|n| *n == 1), "one start per VM: {starts:?}\n{context}");
        assert_eq!(running, VMS, "{context}");

        let c = rusqlite::Connection::open(&db).unwrap();
        let statuses: Vec<Option<String>> = c
            .prepare("SELECT status FROM applies ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(statuses.iter().all(Option::is_some), "every apply ended: {statuses:?}\n{context}");
        assert_eq!(statuses[0].as_deref(), Some("interrupted"), "{context}");
    }
}

/// Another live apply's locks make apply wait and then refuse, saying whose they are; a dead
/// holder's locks (a process of this machine that is gone) are taken over at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_waits_for_a_live_holder_and_takes_over_a_dead_one() {
    let s = support::start_with(CLUSTER).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let m = dir.path().join("web.yaml");
    std::fs::write(
        &m,
        "apiVersion: proxctl.io/v1\nkind: VirtualMachine\nmetadata: {name: web-1}\nspec: {template: debian-12}\n",
    )
    .unwrap();
    let (mp, dbp) = (m.to_str().unwrap(), db.to_str().unwrap());
    let env = [("PROXCTL_STATE", dbp)];
    let r = proxctl(&s, &["plan", "-f", mp], &env).await; // creates and migrates the store
    assert_eq!(r.code, 0, "{}", r.stderr);
    let hold = |holder: &str| {
        let c = rusqlite::Connection::open(&db).unwrap();
        let now = jiff::Timestamp::now().as_microsecond();
        c.execute("DELETE FROM locks", []).unwrap();
        c.execute(
            "INSERT INTO locks (name, holder, purpose, acquired_at, expires_at) VALUES (?1, ?2, 'apply by bob', ?3, ?4)",
            rusqlite::params!["VirtualMachine/web-1", holder, now, now + 3_600_000_000],
        )
        .unwrap();
    };

    // A holder on another machine is alive until its lease expires.
    hold("elsewhere:4242:1:ab#1");
    let r = proxctl(&s, &["apply", "-f", mp, "--yes", "--lock-timeout", "0"], &env).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("VirtualMachine/web-1 is being changed by another apply by bob")
            && r.stderr.contains("elsewhere:4242")
            && r.stderr.contains("--lock-timeout"),
        "{}",
        r.stderr
    );
    let r = proxctl(&s, &["apply", "-f", mp, "--yes", "--lock-timeout", "1s"], &env).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("waiting for another apply by bob"), "says it waits: {}", r.stderr);
    assert_eq!(s.with_world(|w| w.guests.len()), 1, "nothing was created");

    // A holder that was a process of this machine and is gone: taken over at once.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    hold(&format!("{}:4294967294:1:ab#1", host.trim()));
    let r = proxctl(&s, &["apply", "-f", mp, "--yes", "--lock-timeout", "0"], &env).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(s.with_world(|w| w.guests.len()), 2);
}

/// Sixteen `vm clone` runs at once without `--vmid` (a common `xargs -P` loop): all succeed,
/// each with its own VMID, because each leases its candidate and moves on when another
/// run or tool took it first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_concurrent_clones_without_vmid_all_succeed_with_distinct_vmids() {
    let s = support::start_with(CLUSTER).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let env = [("PROXCTL_STATE", db.to_str().unwrap())];
    let mut children = Vec::new();
    for i in 0..16 {
        let name = format!("par-{i}");
        let mut cmd = command(&s, dir.path(), &["vm", "clone", "debian-12", "--name", &name], &env);
        cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        children.push((name, cmd.spawn().unwrap()));
    }
    let outputs = tokio::task::spawn_blocking(move || {
        children.into_iter().map(|(n, c)| (n, c.wait_with_output().unwrap())).collect::<Vec<_>>()
    })
    .await
    .unwrap();
    for (name, o) in &outputs {
        assert!(o.status.success(), "{name}: {}", String::from_utf8_lossy(&o.stderr));
    }
    let ids: BTreeSet<u32> = s.with_world(|w| {
        w.guests
            .iter()
            .filter(|(_, g)| g.conf.get("name").is_some_and(|n| n.starts_with("par-")))
            .map(|(id, _)| *id)
            .collect()
    });
    assert_eq!(ids.len(), 16, "{ids:?}");
}
