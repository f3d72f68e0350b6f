//! The interactive wizards of `vm create` and `template build`, run on a real pseudo-terminal
//! (util-linux `script`) against an in-process simulator, answered by a script: wrong answers
//! are refused with the reason and asked again, the preview shows the equivalent command and
//! manifest, a "no" changes nothing, and the choices are offered again next time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use proxctl_sim::{ClockMode, SimConfig, SimHandle};
use proxctl_types::secret::Secret;
use support::{Run, TOKEN, command};

const CLUSTER: &str = r#"
nodes:
  - {name: pve1, cpus: 4, memory_gib: 8, bridges: [vmbr0, vmbr1]}
  - {name: pve2, cpus: 8, memory_gib: 16}
guests:
  - vmid: 9000
    node: pve1
    config: {name: debian-12, template: true, agent: "1", scsi0: "local-lvm:base-9000-disk-0,size=2G", net0: "virtio=BC:24:11:00:00:01,bridge=vmbr0"}
"#;

async fn sim(scenario: &str) -> SimHandle {
    let cfg = SimConfig {
        clock: ClockMode::Realtime,
        time_scale: 1000.0,
        token: Some(Secret::new(TOKEN)),
        auth_failure_delay_ms: 0,
        scenario: Some(proxctl_sim::scenario::Scenario::from_yaml(scenario).unwrap()),
        ..SimConfig::default()
    };
    proxctl_sim::start(cfg, "127.0.0.1:0".parse().unwrap()).await.unwrap()
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The first line every wizard prints, once the terminal is set up.
const BANNER: &str = "Defaults are in [brackets]";

/// Run `proxctl ARGS` on a pseudo-terminal and type `answers` once the wizard has started. Echo
/// is off, so the output is exactly what proxctl wrote (stdout and stderr, as a user sees them).
/// `None` when `script` is missing and the environment allows skipping.
async fn on_a_terminal(
    sim: &SimHandle,
    home: &Path,
    args: &[&str],
    answers: &[&str],
    env: &[(&str, &str)],
) -> Option<Run> {
    let inner = command(sim, home, args, env);
    let line = format!(
        "stty -echo; exec {} {}",
        shell_quote(env!("CARGO_BIN_EXE_proxctl")),
        args.iter().map(|a| shell_quote(a)).collect::<Vec<_>>().join(" ")
    );
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &line, "/dev/null"]).env_clear();
    for (k, v) in inner.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) if std::env::var("PROXCTL_REQUIRE_ALL").as_deref() != Ok("1") => {
            eprintln!("SKIPPED: util-linux script unavailable ({e})");
            return None;
        }
        Err(e) => panic!("util-linux script is required (PROXCTL_REQUIRE_ALL=1): {e}"),
    };
    let typed = answers.iter().map(|a| format!("{a}\n")).collect::<String>();
    let out = tokio::task::spawn_blocking(move || {
        let mut stdout = child.stdout.take().unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        // Type only once the wizard is there: before `stty -echo` ran, typing would echo.
        while !String::from_utf8_lossy(&seen).contains(BANNER) {
            match stdout.read(&mut buf).unwrap() {
                0 => break,
                n => seen.extend_from_slice(&buf[..n]),
            }
        }
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(typed.as_bytes()).unwrap();
        // Keep stdin open until proxctl ends: `script` passes an end of input on as ^D.
        stdout.read_to_end(&mut seen).unwrap();
        drop(stdin);
        let status = child.wait().unwrap();
        (status, seen)
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.1).replace('\r', "");
    Some(Run { code: out.0.code().unwrap_or(-1), stdout: text, stderr: String::new() })
}

fn fake_home() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join(".ssh")).unwrap();
    std::fs::write(
        home.path().join(".ssh/id_ed25519.pub"),
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITestKey me@laptop\n",
    )
    .unwrap();
    home
}

fn guest_conf(s: &SimHandle, name: &str) -> Option<std::collections::BTreeMap<String, String>> {
    s.with_world(|w| {
        w.guests
            .values()
            .find(|g| g.conf.get("name").map(String::as_str) == Some(name))
            .map(|g| g.conf.clone())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vm_wizard_checks_each_answer_previews_the_command_and_creates_the_vm() {
    let s = sim(CLUSTER).await;
    let home = fake_home();
    let state = home.path().join("state.db");
    let env = [("PROXCTL_STATE", state.to_str().unwrap())];
    let answers = [
        "",            // template: debian-12
        "Bad_Name",    // refused: not a DNS name
        "web-1",       //
        "",            // node: pve1, where the template is
        "64",          // refused: pve1 has 4 CPUs
        "2",           //
        "1024",        // memory
        "16G",         // disk
        "vmbr1",       // bridge, by name
        "10",          // VLAN
        "",            // cloud-init: native
        "debian",      // user
        "",            // SSH key: ~/.ssh/id_ed25519.pub
        "10.0.0.5/24", // address
        "10.9.9.9",    // refused: outside the subnet
        "",            // gateway: 10.0.0.1, the first host
        "10.0.0.2",    // DNS
        "n",           // do not start
        "y",           // confirm
    ];
    let Some(r) = on_a_terminal(&s, home.path(), &["vm", "create"], &answers, &env).await else {
        return;
    };
    assert_eq!(r.code, 0, "{}", r.stdout);
    let transcript = r.stdout.replace(home.path().to_str().unwrap(), "~");
    insta::assert_snapshot!("vm_create_wizard", transcript);

    let conf = guest_conf(&s, "web-1").expect("web-1 was created");
    assert_eq!(conf.get("cores").map(String::as_str), Some("2"));
    assert_eq!(conf.get("memory").map(String::as_str), Some("1024"));
    let net0 = &conf["net0"];
    assert!(net0.contains("bridge=vmbr1") && net0.contains("tag=10"), "{net0}");
    assert_eq!(conf.get("ipconfig0").map(String::as_str), Some("ip=10.0.0.5/24,gw=10.0.0.1"));
    assert!(conf.get("sshkeys").is_some_and(|k| k.contains("TestKey")));
    let remembered =
        std::fs::read_to_string(home.path().join(".local/state/proxctl/wizard.toml")).unwrap();
    assert!(remembered.contains("bridge = \"vmbr1\""), "{remembered}");
    assert!(!remembered.contains("web-1") && !remembered.contains("10.0.0.5"), "{remembered}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vm_wizard_offers_the_last_choices_and_a_no_changes_nothing() {
    let s = sim(CLUSTER).await;
    let home = fake_home();
    let state = home.path().join("state.db");
    let env = [("PROXCTL_STATE", state.to_str().unwrap())];
    // Template, name, node, cores, memory, disk, bridge, VLAN, cloud-init (iso), seed storage,
    // user, key, address, start, wait, confirm.
    let first = ["", "web-1", "", "4", "3072", "20G", "", "", "2", "", "", "", "", "", "", "y"];
    let Some(r) = on_a_terminal(&s, home.path(), &["vm", "create"], &first, &env).await else {
        return;
    };
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains("--cloud-init iso --iso-storage"), "{}", r.stdout);
    let before = s.with_world(|w| w.guests.len());

    // Every question but the name left at its default: the defaults are the last answers.
    let second = ["", "web-2", "", "", "", "", "", "", "", "", "", "", "", "", "", "n"];
    let r = on_a_terminal(&s, home.path(), &["vm", "create"], &second, &env).await.unwrap();
    assert_eq!(r.code, 1, "a no is the user's choice: {}", r.stdout);
    for shown in ["CPU cores [4]:", "Memory in MiB [3072]:", "Disk size [20G]:", "cloud-init [2]:"]
    {
        assert!(r.stdout.contains(shown), "{shown} in\n{}", r.stdout);
    }
    assert!(r.stdout.contains("not confirmed; nothing was changed"), "{}", r.stdout);
    assert_eq!(s.with_world(|w| w.guests.len()), before, "nothing was created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_terminal_missing_arguments_are_an_error_not_a_wizard() {
    let s = sim(CLUSTER).await;
    let home = fake_home();
    let mut cmd = command(&s, home.path(), &["vm", "create"], &[]);
    let out = tokio::task::spawn_blocking(move || cmd.stdin(Stdio::null()).output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("vm create needs a NAME") && err.contains("wizard"), "{err}");
    let mut cmd = command(&s, home.path(), &["template", "build"], &[]);
    let out = tokio::task::spawn_blocking(move || cmd.stdin(Stdio::null()).output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("give a catalog id"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_template_wizard_searches_the_catalog_offers_storages_and_builds() {
    use sha2::Digest;
    let s = support::start_with("guests: []\n").await;
    let home = fake_home();
    let image: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let sums = format!("{}  tiny-cloud.qcow2\n", hex::encode(sha2::Sha256::digest(&image)));
    let base = support::file_server(vec![
        ("/images/tiny-cloud.qcow2", image),
        ("/images/SHA256SUMS", sums.into_bytes()),
    ])
    .await;
    let entry = |id: &str, version: &str| {
        format!(
            "  - {{id: {id}, distro: tiny, version: '{version}', arch: amd64, url: '{base}/images/tiny-cloud.qcow2', \
             checksum_url: '{base}/images/SHA256SUMS', checksum_format: gnu-sha256, format: qcow2, default_user: tiny, \
             os_type: l26, firmware: bios, disk_bus: scsi, disk_size: 2G, cloud_init: true, guest_agent: true, \
             source: '{base}/images/'}}\n"
        )
    };
    let catalog = home.path().join("catalog.yaml");
    std::fs::write(&catalog, format!("images:\n{}{}", entry("tiny-1", "1"), entry("tiny-2", "2")))
        .unwrap();
    let env = [
        ("PROXCTL_CATALOG", catalog.to_str().unwrap()),
        ("XDG_CACHE_HOME", home.path().to_str().unwrap()),
    ];
    let answers = [
        "no-such-distro", // refused: nothing matches
        "tiny",           // two matches
        "tiny-2",         // by id
        "",               // import storage: local
        "",               // disk storage: the one with most room
        "4G",             // disk size
        "",               // name: tiny-2
        "y",
    ];
    let Some(r) = on_a_terminal(&s, home.path(), &["template", "build"], &answers, &env).await
    else {
        return;
    };
    assert_eq!(r.code, 0, "{}", r.stdout);
    let r2 = r.stdout.replace(&base, "http://FILES");
    assert!(r2.contains("nothing in the catalog matches 'no-such-distro'"), "{r2}");
    assert!(r2.contains("Storage to import the image from:"), "{r2}");
    assert!(r2.contains("content backup,import,iso"), "storages show their content types: {r2}");
    assert!(r2.contains("GiB free of"), "storages show their free space: {r2}");
    assert!(r2.contains("proxctl template build tiny-2 --name tiny-2 --node pve"), "{r2}");
    assert!(r2.contains("kind: Template"), "{r2}");
    let templates = s.with_world(|w| {
        w.guests
            .values()
            .filter(|g| g.conf.get("template").is_some_and(|t| t == "1"))
            .filter_map(|g| g.conf.get("name").cloned())
            .collect::<Vec<_>>()
    });
    assert_eq!(templates.len(), 1, "{templates:?}");
    assert!(templates[0].starts_with("tiny-2-"), "{templates:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vm_wizard_generates_an_ed25519_key_when_there_is_none() {
    if std::process::Command::new("ssh-keygen").arg("-?").output().is_err() {
        assert_ne!(
            std::env::var("PROXCTL_REQUIRE_ALL").as_deref(),
            Ok("1"),
            "ssh-keygen (OpenSSH) is required (PROXCTL_REQUIRE_ALL=1)"
        );
        eprintln!("SKIPPED: ssh-keygen unavailable");
        return;
    }
    let s = sim(CLUSTER).await;
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("state.db");
    let env = [("PROXCTL_STATE", state.to_str().unwrap())];
    // Template, name, node, cores, memory, disk, bridge, VLAN, cloud-init, user, key (the
    // default with no key on file: generate), no passphrase, address, no start; --yes confirms.
    let answers = ["", "gen-1", "", "", "", "", "", "", "", "", "", "n", "", "n"];
    let args = ["--yes", "vm", "create"];
    let Some(r) = on_a_terminal(&s, home.path(), &args, &answers, &env).await else {
        return;
    };
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains("Create VM gen-1? yes (--yes)"), "{}", r.stdout);
    let public = home.path().join(".ssh/id_ed25519_proxctl.pub");
    let key = std::fs::read_to_string(&public).unwrap();
    assert!(key.starts_with("ssh-ed25519 "), "{key}");
    use std::os::unix::fs::PermissionsExt;
    let private = std::fs::metadata(home.path().join(".ssh/id_ed25519_proxctl")).unwrap();
    assert_eq!(private.permissions().mode() & 0o077, 0, "the private key is the owner's only");
    let conf = guest_conf(&s, "gen-1").expect("gen-1 was created");
    let keys = proxctl_types::wire::decode_sshkeys(&conf["sshkeys"]).unwrap();
    assert_eq!(keys.trim(), key.trim(), "the new public key is the VM's");
}
