//! `proxctl job …` against a simulator: make jobs with their actions' flags (and refuse flags
//! of other actions), list and show them with their next runs, run one by hand with a result
//! line per guest in its history (and its notification delivered before the command ends),
//! disable and delete.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;

const CLUSTER: &str = "guests:
  - {vmid: 100, running: true, config: {name: db-1, tags: prod, scsi0: \"local-lvm:vm-100-disk-0,size=4G\"}}
  - {vmid: 101, config: {name: lab-1, tags: lab, scsi0: \"local-lvm:vm-101-disk-0,size=4G\"}}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_are_made_shown_run_by_hand_and_retired() {
    let sim = support::start_with(CLUSTER).await;
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("state.db");
    let env = [("PROXCTL_STATE", state.to_str().unwrap())];
    let p = |args: Vec<&'static str>| {
        let sim = &sim;
        async move { support::proxctl(sim, &args, &env).await }
    };
    let r = p(vec![
        "job",
        "create",
        "prod-snap",
        "--schedule",
        "0/4:00",
        "--action",
        "snapshot",
        "--ttl",
        "24h",
        "-l",
        "prod",
        "--timezone",
        "UTC",
    ])
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("next run"), "{}", r.stdout);
    let r = p(vec!["job", "create", "nightly", "--schedule", "sat 02:00", "--action", "snapshot"])
        .await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("needs --ttl"), "{}", r.stderr);
    let r = p(vec![
        "job",
        "create",
        "nightly",
        "--schedule",
        "daily",
        "--action",
        "power",
        "--power",
        "stop",
        "--ttl",
        "1d",
    ])
    .await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("--ttl does not apply to --action power"), "{}", r.stderr);
    let r =
        p(vec!["job", "create", "bad", "--schedule", "mon 25:00", "--action", "snapshot-sweep"])
            .await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("outside 0..23"), "{}", r.stderr);

    let r = p(vec!["job", "list", "-o", "json"]).await;
    let list: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(list[0]["name"], "prod-snap");
    assert!(list[0]["next_run"].as_str().unwrap().ends_with(":00:00Z"), "{list}");
    let r = p(vec!["job", "show", "prod-snap"]).await;
    assert!(r.stdout.contains("Next runs:"), "{}", r.stdout);

    // A receiver for the run's notification: one request, answered 200.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}/hook", listener.local_addr().unwrap());
    let received = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        // Read until the JSON body has ended (the request is small).
        while !buf.ends_with(b"}") {
            let n = sock.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await.unwrap();
        String::from_utf8_lossy(&buf).to_string()
    });
    let endpoint: &'static str = Box::leak(endpoint.into_boxed_str());
    let r = p(vec!["notify", "target", "add", "hook", "--type", "webhook", "--endpoint", endpoint])
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r =
        p(vec!["notify", "matcher", "add", "all", "--severity", "info", "--target", "hook"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);

    let r = p(vec!["job", "run", "prod-snap"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let request = received.await.unwrap();
    assert!(request.contains("\"kind\":\"job-succeeded\""), "delivered before exit: {request}");
    assert!(r.stdout.contains("took auto-"), "{}", r.stdout);
    let snaps = sim.with_world(|w| w.guests[&100].snapshots.keys().cloned().collect::<Vec<_>>());
    assert!(snaps.iter().any(|s| s.starts_with("auto-")), "{snaps:?}");
    let r = p(vec!["job", "history", "prod-snap", "-o", "json"]).await;
    let h: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(h[0]["outcome"], "succeeded", "{h}");
    assert_eq!(h[0]["manual"], true);
    assert_eq!(h[0]["items"][0]["vmid"], 100, "a line per guest: {h}");

    assert_eq!(p(vec!["job", "disable", "prod-snap"]).await.code, 0);
    let r = p(vec!["job", "list", "-o", "json"]).await;
    let list: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!((list[0]["enabled"].as_bool(), list[0]["next_run"].is_null()), (Some(false), true));
    let r = p(vec!["job", "delete", "prod-snap", "--yes"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = p(vec!["job", "show", "prod-snap"]).await;
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no job called 'prod-snap'"), "{}", r.stderr);
}
