//! The README's quickstart, run exactly as written: the block between `<!-- quickstart -->`
//! and `<!-- /quickstart -->` goes to `sh -e` in a directory holding the files it names, with
//! the installed-binary's directory on `PATH` and the environment pointing at a simulator.
//! A template from a local qcow2, a VM with a cloud-init seed ISO and user-data, a wait for
//! cloud-init, and a delete that takes the ISO with it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

const CLUSTER: &str = "nodes: [{name: pve1}, {name: pve2}]\nguests: []\n";

fn quickstart() -> String {
    let readme = include_str!("../../../README.md");
    let start = readme.find("<!-- quickstart -->").expect("the README marks its quickstart");
    let end = readme.find("<!-- /quickstart -->").expect("and where it ends");
    let block = &readme[start..end];
    let body = block.split("```sh\n").nth(1).expect("a sh block");
    body.split("```").next().expect("closed").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_quickstart_works_as_written() {
    let script = quickstart();
    assert!(script.contains("--image-file ./my.qcow2"), "{script}");
    let sim = support::start_with(CLUSTER).await;
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    // What the reader has: an image, their #cloud-config, and an SSH key.
    std::fs::write(work.path().join("my.qcow2"), vec![1u8; 2 << 20]).unwrap();
    std::fs::write(work.path().join("user-data.yaml"), "#cloud-config\npackages: [nginx]\n")
        .unwrap();
    std::fs::create_dir_all(home.path().join(".ssh")).unwrap();
    std::fs::write(
        home.path().join(".ssh/id_ed25519.pub"),
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB3v0a2pQZ6Zc9n3m4dYwJ1zJ4mQ8L5yS0l9v8o3x2b1 me@laptop\n",
    )
    .unwrap();
    let state = home.path().join("state.db");
    // `proxctl` on PATH, as after installing it.
    let bin_dir =
        std::path::Path::new(env!("CARGO_BIN_EXE_proxctl")).parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let cmd =
        support::command(&sim, home.path(), &[], &[("PROXCTL_STATE", state.to_str().unwrap())]);
    let mut sh = std::process::Command::new("sh");
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            sh.env(k, v);
        }
    }
    sh.env("PATH", path).current_dir(work.path()).args(["-e", "-x", "-c", &script]);
    let out = tokio::task::spawn_blocking(move || sh.output().unwrap()).await.unwrap();
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("cloud-init in web-1: done"), "{stdout}\n{stderr}");
    assert!(stderr.contains("uploading ./my.qcow2"), "the upload is shown: {stderr}");
    assert!(
        stdout.contains("seed") || stderr.contains("seed"),
        "a seed ISO was made: {stdout}\n{stderr}"
    );
    let (guests, isos) = sim.with_world(|w| {
        let guests: Vec<String> =
            w.guests.values().filter_map(|g| g.conf.get("name").cloned()).collect();
        let isos: Vec<String> = w
            .volumes
            .keys()
            .map(|(_, v)| v.clone())
            .filter(|v| v.contains(":iso/proxctl-"))
            .collect();
        (guests, isos)
    });
    assert!(!guests.iter().any(|n| n == "web-1"), "deleted: {guests:?}");
    assert!(guests.iter().any(|n| n.starts_with("my-image-")), "the template stays: {guests:?}");
    assert!(isos.is_empty(), "its seed ISO went with it: {isos:?}");
}
