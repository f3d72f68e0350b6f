//! Bad values are refused before any call, on the command line as in manifests; sizes are
//! sent exactly; strings from the cluster never drive the terminal; and `--dry-run` of an
//! apply shows every call and writes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::{proxctl, start_with};

const CLUSTER: &str = r#"
guests:
  - {vmid: 100, config: {name: z2, cores: "1", memory: "512", tags: "ok;evil\u001b[2J", scsi0: "local-lvm:vm-100-disk-0,size=4G"}}
  - {vmid: 9000, config: {name: debian-12, template: true, scsi0: "local-lvm:base-9000-disk-0,size=2G"}}
"#;

const CREATE: &[&str] = &["vm", "create", "n1", "--node", "pve", "--storage", "local-lvm", "--yes"];

fn guests(s: &proxctl_sim::SimHandle) -> usize {
    s.with_world(|w| w.guests.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_refuse_what_pve_would_and_send_sizes_exactly() {
    let s = start_with(CLUSTER).await;
    let before = guests(&s);
    for (extra, says) in [
        (&["--tag", "$(id)"][..], "invalid characters in tag '$(id)'"),
        (&["--tag", "caf\u{e9}"][..], "invalid characters in tag"),
        (
            &["--tag", "x\u{1b}]0;owned\u{7}"][..],
            "invalid characters in tag 'x\\u{1b}]0;owned\\u{7}'",
        ),
        (&["--disk-size", "0G"][..], "a disk must be larger than 0"),
        (&["--memory", "18446744073709551615"][..], "more than any host"),
        (&["--net", "bridge=vm br0"][..], "invalid bridge ID"),
    ] {
        let args: Vec<&str> = CREATE.iter().chain(extra).copied().collect();
        let r = proxctl(&s, &args, &[]).await;
        assert_eq!(r.code, 1, "{extra:?}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{extra:?}: {}", r.stderr);
        assert!(!r.stderr.contains('\u{1b}'), "no raw ESC on the terminal: {:?}", r.stderr);
    }
    assert_eq!(guests(&s), before, "nothing was created");

    let r = proxctl(&s, &["vm", "set", "z2", "--memory", "18446744073709551615"], &[]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(s.with_world(|w| w.guests[&100].conf["memory"].clone()), "512");

    // 1.5G is 1.5 GiB on the disk, not rounded up to 2G.
    let args: Vec<&str> = CREATE.iter().chain(&["--disk-size", "1.5G"]).copied().collect();
    let r = proxctl(&s, &args, &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let scsi0 = s.with_world(|w| {
        w.guests
            .values()
            .find(|g| g.conf.get("name").map(String::as_str) == Some("n1"))
            .unwrap()
            .conf["scsi0"]
            .clone()
    });
    assert!(scsi0.contains("size=1536M"), "{scsi0}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strings_from_the_cluster_are_escaped_in_tables() {
    let s = start_with(CLUSTER).await;
    let r = proxctl(&s, &["get", "vms"], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stdout.contains('\u{1b}'), "{:?}", r.stdout);
    assert!(r.stdout.contains("evil\\u{1b}[2J"), "shown, escaped: {}", r.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_dry_run_shows_every_call_exits_zero_and_writes_nothing() {
    let s = start_with(CLUSTER).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let m = dir.path().join("web.yaml");
    std::fs::write(
        &m,
        "apiVersion: proxctl.io/v1\nkind: VirtualMachine\nmetadata: {name: web-1}\n\
         spec: {template: debian-12, cores: 2, start: true}\n",
    )
    .unwrap();
    let env = [("PROXCTL_STATE", db.to_str().unwrap())];
    let before = guests(&s);
    let r = proxctl(&s, &["apply", "-f", m.to_str().unwrap(), "--dry-run"], &env).await;
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    for call in ["clone 9000 to ", "configure ", "start", "record in state"] {
        assert!(r.stdout.contains(call), "lists `{call}`: {}", r.stdout);
    }
    assert!(!r.stdout.contains("FAILED") && !r.stderr.contains("FAILED"), "{}", r.stderr);
    assert!(r.stderr.contains("nothing was sent"), "{}", r.stderr);
    assert_eq!(guests(&s), before, "nothing sent to PVE");
    if db.exists() {
        let c = rusqlite::Connection::open(&db).unwrap();
        for table in ["applies", "journal", "locks", "audit_log"] {
            let n: i64 = c
                .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
                .unwrap_or(0);
            assert_eq!(n, 0, "{table} is empty");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_message_echoes_a_secret_and_tls_settings_never_silently_weaken() {
    let s = start_with(CLUSTER).await;
    // A secret typed where its reference belongs is not printed back.
    let r = proxctl(
        &s,
        &[
            "vm",
            "create",
            "n2",
            "--from-template",
            "debian-12",
            "--ci-password-from",
            "CiPass-UNIQUE-7c1d",
            "--yes",
        ],
        &[],
    )
    .await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        !r.stderr.contains("CiPass-UNIQUE-7c1d") && !r.stdout.contains("CiPass"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("--ci-password-from") && !r.stderr.contains("secret_from"),
        "{}",
        r.stderr
    );

    // Credentials in the URL are refused, and config show never prints them.
    let url = s.url.replacen("https://", "https://root:Url-Secret-99@", 1);
    for args in [&["config", "show"][..], &["get", "vms"][..]] {
        let r = proxctl(&s, args, &[("PROXCTL_URL", url.as_str())]).await;
        assert!(
            !r.stdout.contains("Url-Secret-99") && !r.stderr.contains("Url-Secret-99"),
            "{args:?}: {}{}",
            r.stdout,
            r.stderr
        );
    }
    let r = proxctl(&s, &["get", "vms"], &[("PROXCTL_URL", url.as_str())]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("takes no credentials in URLs"), "{}", r.stderr);

    // http:// gets the reason, not a TLS error.
    let plain = s.url.replacen("https://", "http://", 1);
    let r = proxctl(&s, &["get", "vms"], &[("PROXCTL_URL", plain.as_str())]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("HTTPS only"), "{}", r.stderr);

    // An explicit --fingerprint wins over PROXCTL_INSECURE; the same rank is a contradiction.
    let r = proxctl(
        &s,
        &["config", "show", "--fingerprint", &s.fingerprint],
        &[("PROXCTL_INSECURE", "1")],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("pinned") && !r.stdout.contains("insecure"), "{}", r.stdout);
    let r = proxctl(&s, &["get", "vms"], &[("PROXCTL_INSECURE", "1")]).await;
    assert_eq!(r.code, 1, "PROXCTL_FINGERPRINT and PROXCTL_INSECURE, both env: {}", r.stderr);
    assert!(r.stderr.contains("drop one"), "{}", r.stderr);
}

/// Every output-producing command ends quietly (exit 0, no panic) when its reader has gone:
/// `proxctl ... | head -1`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_pipe_ends_every_command_quietly() {
    let s = start_with(CLUSTER).await;
    let dir = tempfile::tempdir().unwrap();
    let commands: &[&[&str]] = &[
        &["completions", "bash"],
        &["completions", "zsh"],
        &["completions", "fish"],
        &["man", "--markdown"],
        &["schema"],
        &["--help"],
        &["image", "list"],
        &["get", "vms"],
        &["get", "vms", "-o", "json"],
        &["config", "show"],
        &["describe", "vm", "z2"],
        &["inventory", "--list"],
    ];
    for args in commands {
        let mut cmd = support::command(&s, dir.path(), args, &[]);
        cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        drop(child.stdout.take()); // the reader is gone before the first write
        let out =
            tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

/// One convention for empty results, across every `get`: nothing on stdout (no header),
/// `No resources found.` on stderr, exit 0; JSON is `[]`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_results_look_the_same_for_every_get() {
    let s = start_with("guests: []\n").await;
    let mut transcript = String::new();
    for kind in ["vms", "containers", "templates", "backups", "tasks"] {
        let r = proxctl(&s, &["get", kind], &[]).await;
        transcript.push_str(&format!(
            "$ proxctl get {kind}\nexit {}\nstdout: {:?}\nstderr: {:?}\n",
            r.code, r.stdout, r.stderr
        ));
    }
    let r = proxctl(&s, &["get", "vms", "-o", "json"], &[]).await;
    transcript
        .push_str(&format!("$ proxctl get vms -o json\nexit {}\nstdout: {:?}\n", r.code, r.stdout));
    insta::assert_snapshot!("empty_gets", transcript);
}
