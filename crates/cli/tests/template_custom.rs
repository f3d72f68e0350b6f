//! Templates from the user's own image: `template build --image-file` (uploaded with
//! progress, hashed as it is sent, or checked by PVE against `--sha256`), the hardware flags
//! for custom images, the guest agent on unless `--no-agent`, and VMIDs from the template range.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use sha2::Digest;

const CLUSTER: &str = "guests: []\n";

fn template_config(
    sim: &proxctl_sim::SimHandle,
    prefix: &str,
) -> Vec<(u32, std::collections::BTreeMap<String, String>)> {
    sim.with_world(|w| {
        w.guests
            .iter()
            .filter(|(_, g)| g.conf.get("template").is_some_and(|t| t == "1"))
            .filter(|(_, g)| g.conf.get("name").is_some_and(|n| n.starts_with(prefix)))
            .map(|(id, g)| (*id, g.conf.iter().map(|(k, v)| (k.clone(), v.clone())).collect()))
            .collect()
    })
}

fn image(dir: &std::path::Path, bytes: &[u8]) -> (std::path::PathBuf, String) {
    let path = dir.join("my-image.qcow2");
    std::fs::write(&path, bytes).unwrap();
    (path, hex::encode(sha2::Sha256::digest(bytes)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_is_built_from_a_local_file_with_uefi_and_the_agent_on() {
    let sim = support::start_with(CLUSTER).await;
    let dir = tempfile::tempdir().unwrap();
    let (path, sha) = image(dir.path(), &vec![7u8; 3 << 20]);
    let r = support::proxctl(
        &sim,
        &[
            "template",
            "build",
            "--image-file",
            path.to_str().unwrap(),
            "--name",
            "custom",
            "--node",
            "pve",
            "--bios",
            "ovmf",
            "--ostype",
            "win11",
            "--cpu",
            "host",
        ],
        &[],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("hashing it on the way"), "{}", r.stderr);
    assert!(r.stderr.contains("uploaded 3 of 3 MiB"), "progress is shown: {}", r.stderr);
    let t = template_config(&sim, "custom-");
    assert_eq!(t.len(), 1, "{t:?}");
    let (vmid, conf) = &t[0];
    assert!(*vmid >= 9000, "templates take VMIDs from 9000 up: {vmid}");
    assert_eq!(conf["bios"], "ovmf");
    assert_eq!(conf["machine"], "q35", "UEFI comes with q35");
    assert!(conf.contains_key("efidisk0"), "{conf:?}");
    assert_eq!(conf["ostype"], "win11");
    assert_eq!(conf["cpu"], "host");
    assert!(conf["agent"].starts_with('1') || conf["agent"].contains("enabled=1"), "{conf:?}");
    let description = &conf["description"];
    assert!(
        description.contains(&format!("proxctl:sha256={sha}")),
        "hashed as sent: {description}"
    );
    assert!(description.contains("proxctl:source=file://"), "{description}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_given_sha256_is_checked_by_pve_and_lets_a_second_build_reuse_the_upload() {
    let sim = support::start_with(CLUSTER).await;
    let dir = tempfile::tempdir().unwrap();
    let (path, sha) = image(dir.path(), b"not really a qcow2, but bytes with a hash");
    let file = path.to_str().unwrap();
    let wrong = "0".repeat(64);
    let base = ["template", "build", "--image-file", file, "--name", "sum", "--node", "pve"];
    let r = support::proxctl(&sim, &[&base[..], &["--sha256", &wrong]].concat(), &[]).await;
    assert_eq!(r.code, 3, "PVE refuses a file that does not match: {}", r.stderr);
    let r = support::proxctl(
        &sim,
        &[&base[..], &["--sha256", &sha, "--no-agent", "--vmid-from", "5000"]].concat(),
        &[],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r2 = support::proxctl(&sim, &[&base[..], &["--sha256", &sha]].concat(), &[]).await;
    assert_eq!(r2.code, 0, "{}", r2.stderr);
    assert!(r2.stdout.contains("via reused"), "the image already there is used: {}", r2.stdout);
    let t = template_config(&sim, "sum-");
    let first = t.iter().find(|(id, _)| *id == 5000).expect("the first version took 5000");
    assert!(!first.1.contains_key("agent"), "--no-agent leaves it off: {:?}", first.1);
    let r = support::proxctl(&sim, &[&base[..], &["--sha256", "xyz"]].concat(), &[]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("not a SHA-256"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_url_without_a_checksum_file_needs_its_sha256() {
    let sim = support::start_with(CLUSTER).await;
    let r = support::proxctl(
        &sim,
        &["template", "build", "--image-url", "https://example.com/x.qcow2", "--node", "pve"],
        &[],
    )
    .await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("--checksum-url") && r.stderr.contains("--sha256"), "{}", r.stderr);
}
