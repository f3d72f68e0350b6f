//! `vm create` and `ct create` without `--node` and `--storage` on a cluster of several nodes:
//! proxctl picks the node with the most memory not yet given to running guests and its
//! storage with the most room, says what it chose, and refuses with every node's reason only
//! when nothing fits.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::{proxctl, start_with};

const CLUSTER: &str = r#"
nodes:
  - {name: small, cpus: 8, memory_gib: 16}
  - {name: big, cpus: 8, memory_gib: 128}
guests: []
"#;

fn node_of(s: &proxctl_sim::SimHandle, name: &str) -> String {
    s.with_world(|w| {
        w.guests
            .values()
            .find(|g| {
                g.conf.get("name").or_else(|| g.conf.get("hostname")).map(String::as_str)
                    == Some(name)
            })
            .map(|g| g.node.clone())
            .unwrap()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_are_placed_where_they_fit_best_and_say_so() {
    let s = start_with(CLUSTER).await;
    let r = proxctl(&s, &["vm", "create", "p1", "--yes"], &[]).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("chose node big: the most memory not yet given"), "{}", r.stdout);
    assert!(r.stdout.contains("chose storage "), "{}", r.stdout);
    assert_eq!(node_of(&s, "p1"), "big");

    let r = proxctl(
        &s,
        &[
            "ct",
            "create",
            "--hostname",
            "c1",
            "--template",
            "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
        ],
        &[("PROXCTL_CT_PASSWORD", "hunter22")],
    )
    .await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("chose node big"), "{}", r.stdout);

    // Nothing fits: refused, each node with its reason.
    let r = proxctl(&s, &["vm", "create", "p2", "--memory", "500000", "--yes"], &[]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("no online node fits")
            && r.stderr.contains("small has 16384 MiB")
            && r.stderr.contains("big has 131072 MiB"),
        "{}",
        r.stderr
    );
}
