//! The conformance suite every [`StateStore`] backend must pass. Each backend's test file
//! expands [`conformance_tests!`](crate::conformance_tests) with a harness that opens a fresh
//! store, so SQLite and PostgreSQL are held to exactly the same checks.
// Test code compiled only into the backends' tests: a failed unwrap is a failed check.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use proxctl_types::{NodeName, SnapshotName, VmId};

use crate::audit::{AuditFilter, ChainProblem, NewAuditEntry, verify_chain};
use crate::record::*;
use crate::{StateStore, time_to_us};

/// How the suite gets at a backend.
#[async_trait]
pub trait Harness: Send + Sync {
    /// The store under test: fresh and empty.
    fn store(&self) -> Arc<dyn StateStore>;
    /// A second, independent connection to the same store, as another process would open it.
    async fn reopen(&self) -> Arc<dyn StateStore>;
    /// Run SQL behind the trait's back, to tamper with rows as an attacker with database
    /// access would. The SQL used is valid in both SQLite and PostgreSQL.
    async fn exec(&self, sql: &str);
}

/// Expand one `#[tokio::test]` per check, each with its own fresh store from `$harness`
/// (an expression evaluating to a future of `Option<impl Harness>`; `None` skips).
#[macro_export]
macro_rules! conformance_tests {
    ($harness:expr) => {
        $crate::conformance_tests!(@each $harness;
            migrations_apply_once_and_reopen_cleanly,
            resources_round_trip_and_update_in_place,
            apply_history_is_newest_first_with_outcomes,
            journal_lists_only_unfinished_intents,
            a_vmid_lease_excludes_other_holders_until_it_expires,
            vmids_are_leased_all_or_none,
            tokens_keep_one_live_name_and_revoke_by_name,
            remotes_are_kept_by_name_with_a_secret_reference,
            documents_are_kept_by_kind_and_id_and_pruned_oldest_first,
            concurrent_leasers_on_two_connections_never_share_a_vmid,
            ip_allocations_belong_to_one_owner,
            snapshot_expiries_are_upserted_and_removed,
            audit_rows_chain_and_filter,
            concurrent_audit_appends_keep_one_chain,
            audit_verify_catches_a_modified_row,
            audit_verify_catches_a_deleted_row,
            audit_verify_catches_reordered_rows,
            audit_verify_catches_rows_cut_off_the_end,
            a_lock_set_is_taken_whole_or_not_at_all,
            expired_and_broken_locks_can_be_taken_over,
            concurrent_lockers_on_two_connections_never_share_a_resource,
            an_apply_whose_holder_lost_its_locks_ends_as_interrupted
        );
    };
    (@each $harness:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(h) = $harness.await {
                    $crate::conformance::$name(&h).await;
                }
            }
        )*
    };
}

fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).unwrap()
}

fn key(name: &str) -> ResourceKey {
    ResourceKey::new("VirtualMachine", name).unwrap()
}

fn vmid(n: u32) -> VmId {
    VmId::new(n).unwrap()
}

pub async fn migrations_apply_once_and_reopen_cleanly(h: &impl Harness) {
    let s = h.store();
    let v = s.schema_version().await.unwrap();
    assert!(v >= 1, "no migration applied");
    let again = h.reopen().await;
    assert_eq!(again.schema_version().await.unwrap(), v);
    assert!(!s.location().contains("password"), "{}", s.location());
}

pub async fn resources_round_trip_and_update_in_place(h: &impl Harness) {
    let s = h.store();
    let mut r = ResourceRecord {
        key: key("web-1"),
        spec_hash: "abc".into(),
        vmid: Some(vmid(120)),
        node: Some(NodeName::new("pve").unwrap()),
        updated_at: t(0),
    };
    s.put_resource(&r).await.unwrap();
    s.put_resource(&ResourceRecord { key: key("db-1"), vmid: None, node: None, ..r.clone() })
        .await
        .unwrap();
    assert_eq!(s.resource(&key("web-1")).await.unwrap(), Some(r.clone()));
    assert_eq!(s.resource_by_vmid(vmid(120)).await.unwrap(), Some(r.clone()));
    assert_eq!(s.resource_by_vmid(vmid(121)).await.unwrap(), None);

    r.spec_hash = "def".into();
    r.node = Some(NodeName::new("pve2").unwrap());
    r.updated_at = t(10);
    s.put_resource(&r).await.unwrap();
    let all = s.resources().await.unwrap();
    assert_eq!(
        all.iter().map(|r| r.key.to_string()).collect::<Vec<_>>(),
        ["VirtualMachine/db-1", "VirtualMachine/web-1"],
        "sorted by key, updated in place"
    );
    assert_eq!(all[1], r);

    assert!(s.remove_resource(&key("web-1")).await.unwrap());
    assert!(!s.remove_resource(&key("web-1")).await.unwrap());
    assert_eq!(s.resource(&key("web-1")).await.unwrap(), None);
}

pub async fn apply_history_is_newest_first_with_outcomes(h: &impl Harness) {
    let s = h.store();
    let plan = serde_json::json!({"changes": [{"create": "VirtualMachine/web-1"}]});
    let a = s.begin_apply("alice", "h-a", &plan).await.unwrap();
    let b = s.begin_apply("bob", "h-b", &serde_json::json!({})).await.unwrap();
    assert!(b > a);
    s.finish_apply(a, &ApplyOutcome::Failed("clone of web-1 failed".into())).await.unwrap();
    let list = s.applies(10).await.unwrap();
    assert_eq!(list.iter().map(|x| x.id).collect::<Vec<_>>(), vec![b, a]);
    assert_eq!(list[0].outcome, None, "still running");
    assert_eq!(list[1].outcome, Some(ApplyOutcome::Failed("clone of web-1 failed".into())));
    assert_eq!(list[1].plan, plan);
    assert_eq!(list[1].actor, "alice");
    assert!(list[1].finished_at.is_some());
    assert_eq!(s.applies(1).await.unwrap().len(), 1);
}

pub async fn journal_lists_only_unfinished_intents(h: &impl Harness) {
    let s = h.store();
    let apply = s.begin_apply("alice", "h-a", &serde_json::json!({})).await.unwrap();
    let mk = |name: &str, action: &str| NewJournalEntry {
        apply,
        resource: key(name),
        action: action.into(),
        params: serde_json::json!({"vmid": 130, "node": "pve"}),
    };
    let one = s.journal_intent(&mk("a", "clone")).await.unwrap();
    let two = s.journal_intent(&mk("b", "clone")).await.unwrap();
    let three = s.journal_intent(&mk("c", "delete")).await.unwrap();
    s.journal_finish(one, &JournalState::Done).await.unwrap();
    s.journal_finish(three, &JournalState::Failed("lock timeout".into())).await.unwrap();
    let pending = s.journal_pending().await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, two);
    assert_eq!(pending[0].resource, key("b"));
    assert_eq!(pending[0].action, "clone");
    assert_eq!(pending[0].state, JournalState::Intent);
    assert_eq!(pending[0].params["vmid"], 130);
}

pub async fn a_vmid_lease_excludes_other_holders_until_it_expires(h: &impl Harness) {
    let s = h.store();
    let id = vmid(150);
    assert!(s.lease_vmid(id, "apply-a", &key("x"), t(60), t(0)).await.unwrap());
    assert!(!s.lease_vmid(id, "apply-b", &key("y"), t(60), t(1)).await.unwrap());
    assert!(s.lease_vmid(id, "apply-a", &key("x"), t(120), t(2)).await.unwrap(), "own re-lease");
    assert!(
        !s.lease_vmid(id, "apply-a", &key("z"), t(120), t(2)).await.unwrap(),
        "one VMID, one owner"
    );
    let leases = s.vmid_leases(t(3)).await.unwrap();
    assert_eq!(leases.len(), 1);
    assert_eq!((leases[0].holder.as_str(), leases[0].expires_at), ("apply-a", t(120)));
    // After expiry, the VMID is free again.
    assert!(s.vmid_leases(t(121)).await.unwrap().is_empty());
    assert!(s.lease_vmid(id, "apply-b", &key("y"), t(200), t(121)).await.unwrap());
    // Releasing someone else's lease does nothing; releasing your own frees it.
    s.release_vmid(id, "apply-a").await.unwrap();
    assert_eq!(s.vmid_leases(t(122)).await.unwrap().len(), 1);
    s.release_vmid(id, "apply-b").await.unwrap();
    assert!(s.vmid_leases(t(122)).await.unwrap().is_empty());
}

pub async fn vmids_are_leased_all_or_none(h: &impl Harness) {
    let s = h.store();
    assert!(s.lease_vmid(vmid(162), "apply-b", &key("held"), t(60), t(0)).await.unwrap());
    let want: Vec<(VmId, ResourceKey)> =
        (160..165).map(|n| (vmid(n), key(&format!("r{n}")))).collect();
    assert_eq!(s.lease_vmids(&want, "apply-a", t(60), t(1)).await.unwrap(), Some(vmid(162)));
    let leases = s.vmid_leases(t(2)).await.unwrap();
    assert_eq!(leases.len(), 1, "none of the others was leased: {leases:?}");
    s.release_vmid(vmid(162), "apply-b").await.unwrap();
    assert_eq!(s.lease_vmids(&want, "apply-a", t(60), t(3)).await.unwrap(), None);
    assert_eq!(s.vmid_leases(t(4)).await.unwrap().len(), 5);
    let ids: Vec<VmId> = want.iter().map(|(v, _)| *v).collect();
    s.release_vmids(&ids, "apply-a").await.unwrap();
    assert!(s.vmid_leases(t(5)).await.unwrap().is_empty());
}

pub async fn tokens_keep_one_live_name_and_revoke_by_name(h: &impl Harness) {
    let s = h.store();
    let tok = |id: &str, name: &str| crate::ApiToken {
        id: id.into(),
        name: name.into(),
        role: "viewer".into(),
        scope: Some("web".into()),
        hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        created_by: "admin".into(),
        created_at: t(0),
        expires_at: Some(t(3600)),
        revoked_at: None,
    };
    assert!(s.token_insert(&tok("a1", "ci")).await.unwrap());
    assert!(!s.token_insert(&tok("a2", "ci")).await.unwrap(), "one live token per name");
    assert_eq!(s.token("a1").await.unwrap(), Some(tok("a1", "ci")));
    assert_eq!(s.token("nope").await.unwrap(), None);
    assert!(s.token_revoke("ci", t(10)).await.unwrap());
    assert!(!s.token_revoke("ci", t(11)).await.unwrap(), "nothing live to revoke");
    assert_eq!(s.token("a1").await.unwrap().unwrap().revoked_at, Some(t(10)));
    assert!(s.token_insert(&tok("a3", "ci")).await.unwrap(), "the name is free again");
    let all = s.tokens().await.unwrap();
    assert_eq!(all.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), ["a1", "a3"]);
}

pub async fn remotes_are_kept_by_name_with_a_secret_reference(h: &impl Harness) {
    let s = h.store();
    let r = |name: &str| crate::RemoteDef {
        name: name.into(),
        url: "https://pve2.example.com:8006".into(),
        fingerprint: Some("AB:CD".into()),
        token_id: "proxctl@pve!serve".into(),
        secret_ref: "file:/etc/proxctl/pve2.secret".into(),
        created_at: t(0),
    };
    assert!(s.remote_insert(&r("pve2")).await.unwrap());
    assert!(!s.remote_insert(&r("pve2")).await.unwrap(), "one remote per name");
    assert!(s.remote_insert(&r("lab")).await.unwrap());
    let all = s.remotes().await.unwrap();
    assert_eq!(all, vec![r("lab"), r("pve2")], "by name");
    assert!(s.remote_delete("lab").await.unwrap());
    assert!(!s.remote_delete("lab").await.unwrap());
    assert_eq!(s.remotes().await.unwrap().len(), 1);
}

pub async fn documents_are_kept_by_kind_and_id_and_pruned_oldest_first(h: &impl Harness) {
    use crate::document::kind::{OPERATION, PLAN};
    let s = h.store();
    let d = |kind: &str, id: &str, body: &str, at: i64| crate::Document {
        kind: kind.into(),
        id: id.into(),
        body: body.into(),
        created_at: t(at),
        updated_at: t(at),
    };
    for (i, id) in ["op-a", "op-b", "op-c"].iter().enumerate() {
        s.put_document(&d(OPERATION, id, r#"{"state":"running"}"#, i as i64)).await.unwrap();
    }
    s.put_document(&d(PLAN, "op-a", "{}", 9)).await.unwrap();
    // A later write replaces the body and keeps the first write's creation time.
    s.put_document(&d(OPERATION, "op-a", r#"{"state":"succeeded"}"#, 50)).await.unwrap();
    let a = s.document(OPERATION, "op-a").await.unwrap().unwrap();
    assert_eq!(
        (a.body.as_str(), a.created_at, a.updated_at),
        (r#"{"state":"succeeded"}"#, t(0), t(50))
    );
    assert_eq!(s.document(PLAN, "op-a").await.unwrap().unwrap().body, "{}", "kinds are apart");
    assert!(s.document(OPERATION, "nosuch").await.unwrap().is_none());
    let ids = |v: Vec<crate::Document>| v.into_iter().map(|d| d.id).collect::<Vec<_>>();
    assert_eq!(ids(s.documents(OPERATION, 10).await.unwrap()), ["op-c", "op-b", "op-a"]);
    assert_eq!(ids(s.documents(OPERATION, 2).await.unwrap()), ["op-c", "op-b"]);
    assert_eq!(s.prune_documents(OPERATION, 2).await.unwrap(), 1);
    assert_eq!(ids(s.documents(OPERATION, 10).await.unwrap()), ["op-c", "op-b"]);
    assert_eq!(s.documents(PLAN, 10).await.unwrap().len(), 1, "pruning keeps to its kind");
    let other = h.reopen().await;
    assert_eq!(ids(other.documents(OPERATION, 10).await.unwrap()), ["op-c", "op-b"], "shared");
    // Claims: of two connections inserting one id, one wins; the body stays the winner's.
    let (a, b) = (h.store(), other);
    let run = |body: &str| d(crate::document::kind::JOB_RUN, "snap@2027-01-01T00:00:00Z", body, 1);
    let (ra, rb) = (run("a"), run("b"));
    let (x, y) = tokio::join!(a.insert_document(&ra), b.insert_document(&rb));
    assert!(x.unwrap() ^ y.unwrap(), "exactly one claim wins");
    let kept = a.document(crate::document::kind::JOB_RUN, "snap@2027-01-01T00:00:00Z").await;
    assert!(matches!(kept.unwrap().unwrap().body.as_str(), "a" | "b"));
    assert!(
        a.delete_document(crate::document::kind::JOB_RUN, "snap@2027-01-01T00:00:00Z")
            .await
            .unwrap()
    );
    assert!(
        !a.delete_document(crate::document::kind::JOB_RUN, "snap@2027-01-01T00:00:00Z")
            .await
            .unwrap()
    );
}

/// Two applies on two connections, each taking the lowest VMID it can lease, as the engine
/// does: they must end up with disjoint sets.
pub async fn concurrent_leasers_on_two_connections_never_share_a_vmid(h: &impl Harness) {
    let stores = [h.store(), h.reopen().await];
    let now = Timestamp::now();
    let until = now + SignedDuration::from_secs(600);
    let mut tasks = Vec::new();
    for (i, s) in stores.iter().enumerate() {
        for j in 0..2 {
            let s = Arc::clone(s);
            let holder = format!("apply-{i}-{j}");
            tasks.push(tokio::spawn(async move {
                let mut got = Vec::new();
                for n in 0..15 {
                    let owner =
                        ResourceKey::new("VirtualMachine", format!("{holder}-{n}")).unwrap();
                    for candidate in 1000..1100 {
                        if s.lease_vmid(vmid(candidate), &holder, &owner, until, now).await.unwrap()
                        {
                            got.push(candidate);
                            break;
                        }
                    }
                }
                got
            }));
        }
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let unique: BTreeSet<_> = all.iter().collect();
    assert_eq!(all.len(), 60, "every leaser got its 15");
    assert_eq!(unique.len(), all.len(), "a VMID was leased twice: {all:?}");
}

pub async fn ip_allocations_belong_to_one_owner(h: &impl Harness) {
    let s = h.store();
    let ip: std::net::IpAddr = "10.0.0.10".parse().unwrap();
    let v6: std::net::IpAddr = "fd00::10".parse().unwrap();
    assert!(s.allocate_ip("lab", ip, &key("a")).await.unwrap());
    assert!(s.allocate_ip("lab", ip, &key("a")).await.unwrap(), "idempotent for the owner");
    assert!(!s.allocate_ip("lab", ip, &key("b")).await.unwrap(), "taken");
    assert!(s.allocate_ip("other", ip, &key("b")).await.unwrap(), "pools are separate");
    assert!(s.allocate_ip("lab", v6, &key("a")).await.unwrap());
    let lab = s.ip_allocations(Some("lab")).await.unwrap();
    assert_eq!(lab.len(), 2);
    assert!(lab.iter().all(|a| a.owner == key("a")));
    assert_eq!(s.ip_allocations(None).await.unwrap().len(), 3);
    assert_eq!(s.release_ips(&key("a")).await.unwrap(), 2);
    assert!(s.allocate_ip("lab", ip, &key("b")).await.unwrap(), "free after release");
}

pub async fn snapshot_expiries_are_upserted_and_removed(h: &impl Harness) {
    let s = h.store();
    let snap = SnapshotName::new("pre-upgrade").unwrap();
    let mut ttl = SnapshotTtl { vmid: vmid(100), snapshot: snap.clone(), expires_at: t(100) };
    s.put_snapshot_ttl(&ttl).await.unwrap();
    ttl.expires_at = t(200);
    s.put_snapshot_ttl(&ttl).await.unwrap();
    let other = SnapshotTtl { vmid: vmid(101), ..ttl.clone() };
    s.put_snapshot_ttl(&other).await.unwrap();
    assert_eq!(s.snapshot_ttls().await.unwrap(), vec![ttl.clone(), other.clone()]);
    s.remove_snapshot_ttl(vmid(100), &snap).await.unwrap();
    assert_eq!(s.snapshot_ttls().await.unwrap(), vec![other]);
}

fn audit_row(i: i64, actor: &str, target: &str, action: &str) -> NewAuditEntry {
    NewAuditEntry {
        // Nanoseconds on purpose: the stores keep microseconds, and the hash must still match.
        time: t(i) + SignedDuration::from_nanos(123_456_789),
        actor: actor.into(),
        profile: "default".into(),
        target: target.into(),
        action: action.into(),
        params: serde_json::json!({"vmid": i, "password": "[redacted]", "nested": {"b": 1, "a": 2}}),
        result: "ok".into(),
    }
}

async fn write_rows(s: &dyn StateStore, n: i64) {
    for i in 1..=n {
        let target = format!("qemu/{}", 100 + i % 2);
        let action =
            if i % 3 == 0 { "POST /nodes/{node}/qemu/{vmid}/status/stop" } else { "snapshot" };
        s.append_audit(&audit_row(i, if i % 2 == 0 { "alice" } else { "bob" }, &target, action))
            .await
            .unwrap();
    }
}

async fn verify(s: &dyn StateStore) -> crate::VerifyReport {
    let rows = s.audit(&AuditFilter::default()).await.unwrap();
    let head = s.audit_head().await.unwrap();
    verify_chain(&rows, head.as_ref())
}

pub async fn audit_rows_chain_and_filter(h: &impl Harness) {
    let s = h.store();
    assert!(verify(s.as_ref()).await.ok(), "an empty log verifies");
    write_rows(s.as_ref(), 9).await;
    let all = s.audit(&AuditFilter::default()).await.unwrap();
    assert_eq!(all.iter().map(|r| r.seq).collect::<Vec<_>>(), (1..=9).collect::<Vec<_>>());
    assert_eq!(all[0].entry.params["nested"]["a"], 2);
    let report = verify(s.as_ref()).await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.rows, 9);

    let filters = [
        AuditFilter { actor: Some("alice".into()), ..Default::default() },
        AuditFilter { target: Some("qemu/101".into()), ..Default::default() },
        AuditFilter { action: Some("status/stop".into()), ..Default::default() },
        AuditFilter { since: Some(t(3)), until: Some(t(6)), ..Default::default() },
        AuditFilter { profile: Some("other".into()), ..Default::default() },
    ];
    for f in filters {
        let got = s.audit(&f).await.unwrap();
        let want: Vec<_> = all.iter().filter(|e| f.matches(e)).cloned().collect();
        assert_eq!(got, want, "{f:?}");
    }
    let last = s.audit(&AuditFilter { last: Some(2), ..Default::default() }).await.unwrap();
    assert_eq!(last.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![8, 9]);
    assert_eq!(time_to_us(all[0].entry.time) % 1_000_000, 123_456);
}

pub async fn concurrent_audit_appends_keep_one_chain(h: &impl Harness) {
    let stores = [h.store(), h.reopen().await];
    let mut tasks = Vec::new();
    for (i, s) in stores.iter().enumerate() {
        for _ in 0..2 {
            let s = Arc::clone(s);
            tasks.push(tokio::spawn(async move {
                for n in 0..10 {
                    s.append_audit(&audit_row(n, &format!("writer-{i}"), "qemu/100", "tag"))
                        .await
                        .unwrap();
                }
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    let report = verify(stores[0].as_ref()).await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.rows, 40);
}

pub async fn audit_verify_catches_a_modified_row(h: &impl Harness) {
    let s = h.store();
    write_rows(s.as_ref(), 5).await;
    h.exec("UPDATE audit_log SET result = 'ok, nothing to see' WHERE seq = 3").await;
    let r = verify(s.as_ref()).await;
    assert_eq!(r.problems, vec![ChainProblem::Modified { seq: 3 }]);
}

pub async fn audit_verify_catches_a_deleted_row(h: &impl Harness) {
    let s = h.store();
    write_rows(s.as_ref(), 5).await;
    h.exec("DELETE FROM audit_log WHERE seq = 2").await;
    assert!(!verify(s.as_ref()).await.ok());
}

pub async fn audit_verify_catches_reordered_rows(h: &impl Harness) {
    let s = h.store();
    write_rows(s.as_ref(), 5).await;
    h.exec("UPDATE audit_log SET seq = 100 WHERE seq = 2").await;
    h.exec("UPDATE audit_log SET seq = 2 WHERE seq = 3").await;
    h.exec("UPDATE audit_log SET seq = 3 WHERE seq = 100").await;
    assert!(!verify(s.as_ref()).await.ok());
}

pub async fn audit_verify_catches_rows_cut_off_the_end(h: &impl Harness) {
    let s = h.store();
    write_rows(s.as_ref(), 5).await;
    h.exec("DELETE FROM audit_log WHERE seq >= 4").await;
    let r = verify(s.as_ref()).await;
    assert_eq!(r.problems, vec![ChainProblem::Head { recorded_seq: 5, last_seq: 3 }]);
}

fn names(n: &[&str]) -> Vec<String> {
    n.iter().map(|s| s.to_string()).collect()
}

pub async fn a_lock_set_is_taken_whole_or_not_at_all(h: &impl Harness) {
    let s = h.store();
    let a = names(&["VirtualMachine/a", "VirtualMachine/b"]);
    assert!(s.acquire_locks(&a, "h1", "apply", t(60), t(0), &[]).await.unwrap().is_empty());
    // b overlaps: nothing of h2's set may be taken, not even c.
    let b = names(&["VirtualMachine/c", "VirtualMachine/b"]);
    let blocked = s.acquire_locks(&b, "h2", "apply", t(60), t(1), &[]).await.unwrap();
    assert_eq!(blocked.len(), 1);
    assert_eq!((blocked[0].name.as_str(), blocked[0].holder.as_str()), ("VirtualMachine/b", "h1"));
    assert_eq!(blocked[0].purpose, "apply");
    let held: Vec<(String, String)> =
        s.locks().await.unwrap().into_iter().map(|l| (l.name, l.holder)).collect();
    assert!(!held.iter().any(|(n, _)| n == "VirtualMachine/c"), "c was not taken: {held:?}");
    assert!(held.contains(&(crate::liveness_lock("h1"), "h1".into())), "{held:?}");
    // Re-taking your own locks extends them.
    assert!(s.acquire_locks(&a, "h1", "apply", t(90), t(2), &[]).await.unwrap().is_empty());
    assert_eq!(s.renew_locks("h1", t(120)).await.unwrap(), 3, "two resources and liveness");
    assert!(s.locks().await.unwrap().iter().all(|l| l.expires_at == t(120)));
    s.release_locks("h1").await.unwrap();
    assert!(s.locks().await.unwrap().is_empty());
    assert!(s.acquire_locks(&b, "h2", "apply", t(60), t(3), &[]).await.unwrap().is_empty());
}

pub async fn expired_and_broken_locks_can_be_taken_over(h: &impl Harness) {
    let s = h.store();
    let a = names(&["VirtualMachine/a"]);
    assert!(s.acquire_locks(&a, "h1", "apply", t(60), t(0), &[]).await.unwrap().is_empty());
    assert_eq!(s.acquire_locks(&a, "h2", "apply", t(70), t(59), &[]).await.unwrap().len(), 1);
    assert!(s.acquire_locks(&a, "h2", "apply", t(120), t(60), &[]).await.unwrap().is_empty());
    // h2 is proven dead: h3 breaks it, and every lock h2 had goes.
    let b = names(&["VirtualMachine/a"]);
    assert!(
        s.acquire_locks(&b, "h3", "apply", t(180), t(61), &["h2".into()]).await.unwrap().is_empty()
    );
    let holders: BTreeSet<String> = s
        .locks()
        .await
        .unwrap()
        .into_iter()
        .filter(|l| !l.expired(t(61)))
        .map(|l| l.holder)
        .collect();
    assert_eq!(holders, BTreeSet::from(["h3".to_string()]), "h1's are expired, h2's gone");
    assert_eq!(s.renew_locks("h2", t(300)).await.unwrap(), 0, "h2 lost its locks");
}

pub async fn concurrent_lockers_on_two_connections_never_share_a_resource(h: &impl Harness) {
    let stores = [h.store(), h.reopen().await];
    let now = Timestamp::now();
    let until = now + SignedDuration::from_secs(600);
    let mut tasks = Vec::new();
    for (i, s) in stores.iter().enumerate() {
        for j in 0..3 {
            let s = Arc::clone(s);
            let holder = format!("h-{i}-{j}");
            tasks.push(tokio::spawn(async move {
                // Overlapping sets in different orders: a deadlock or a shared lock fails.
                let mut set = names(&["VirtualMachine/x", "VirtualMachine/y", "VirtualMachine/z"]);
                if j % 2 == 1 {
                    set.reverse();
                }
                let got = s.acquire_locks(&set, &holder, "apply", until, now, &[]).await.unwrap();
                (holder, got.is_empty())
            }));
        }
    }
    let mut winners = Vec::new();
    for t in tasks {
        let (holder, won) = t.await.unwrap();
        if won {
            winners.push(holder);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one taker wins: {winners:?}");
    let holders: BTreeSet<String> =
        h.store().locks().await.unwrap().into_iter().map(|l| l.holder).collect();
    assert_eq!(holders.len(), 1);
}

pub async fn an_apply_whose_holder_lost_its_locks_ends_as_interrupted(h: &impl Harness) {
    let s = h.store();
    let set = names(&["VirtualMachine/a"]);
    assert!(s.acquire_locks(&set, "live", "apply", t(60), t(0), &[]).await.unwrap().is_empty());
    assert!(
        s.acquire_locks(&names(&["VirtualMachine/b"]), "dead", "apply", t(30), t(0), &[])
            .await
            .unwrap()
            .is_empty()
    );
    let alive = s.begin_apply("alice", "live", &serde_json::json!({})).await.unwrap();
    let killed = s.begin_apply("bob", "dead", &serde_json::json!({})).await.unwrap();
    let done = s.begin_apply("carol", "dead", &serde_json::json!({})).await.unwrap();
    s.finish_apply(done, &ApplyOutcome::Succeeded).await.unwrap();
    assert!(s.interrupt_orphaned_applies(t(10)).await.unwrap().is_empty(), "both still hold locks");
    assert_eq!(s.interrupt_orphaned_applies(t(31)).await.unwrap(), vec![killed]);
    let list = s.applies(10).await.unwrap();
    let outcome = |id| list.iter().find(|a| a.id == id).unwrap().outcome.clone();
    assert!(matches!(outcome(killed), Some(ApplyOutcome::Interrupted(_))));
    assert_eq!(outcome(alive), None);
    assert_eq!(outcome(done), Some(ApplyOutcome::Succeeded));
    assert!(s.interrupt_orphaned_applies(t(40)).await.unwrap().is_empty(), "once only");
}
