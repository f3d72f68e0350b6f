//! A second cluster, end to end: `proxctl remote add` (checked before it is stored, the secret
//! kept as a reference to a 0600 file), `proxctl remote list`, then `proxctl serve` managing
//! both clusters, each guest under its remote, and following remotes added and removed while
//! it runs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

const FIRST: &str =
    "guests:\n  - {vmid: 100, config: {name: web-1, scsi0: \"local-lvm:vm-100-disk-0,size=4G\"}}\n";
const SECOND: &str =
    "guests:\n  - {vmid: 500, config: {name: lab-1, scsi0: \"local-lvm:vm-500-disk-0,size=4G\"}}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_added_from_the_cli_is_managed_by_proxctl_serve() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let first = support::start_with(FIRST).await;
    let second = support::start_with(SECOND).await;
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("state.db");
    let state = state.to_str().unwrap();
    let (token_id, secret) = support::TOKEN.split_once('=').unwrap();
    let secret_file = home.path().join("lab.secret");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&secret_file)
        .unwrap();
    f.write_all(secret.as_bytes()).unwrap();
    let secret_ref = format!("file:{}", secret_file.display());
    let env = [("PROXCTL_STATE", state)];

    let add = |url: &str, fp: &str, name: &str| {
        vec![
            "remote".to_string(),
            "add".into(),
            name.into(),
            "--url".into(),
            url.into(),
            "--fingerprint".into(),
            fp.into(),
            "--token-id".into(),
            token_id.into(),
            "--secret".into(),
            secret_ref.clone(),
        ]
    };
    let args = add(&second.url, &second.fingerprint, "lab");
    let run =
        support::proxctl(&first, &args.iter().map(String::as_str).collect::<Vec<_>>(), &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    // A remote that cannot be reached is not stored.
    let args = add("https://127.0.0.1:1", &second.fingerprint, "nowhere");
    let run =
        support::proxctl(&first, &args.iter().map(String::as_str).collect::<Vec<_>>(), &env).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("cannot reach remote nowhere"), "{}", run.stderr);
    let run = support::proxctl(&first, &["remote", "list", "-o", "json"], &env).await;
    let listed: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["secret"], secret_ref.as_str(), "a reference, never the secret");
    assert!(!run.stdout.contains(secret), "no secret in the output");

    let run = support::proxctl(&first, &["token", "create", "ci", "--role", "viewer"], &env).await;
    let token = run.stdout.trim().to_string();
    let ready = home.path().join("ready.json");
    let mut serve = support::command(
        &first,
        home.path(),
        &["serve", "--listen", "127.0.0.1:0", "--ready-file", ready.to_str().unwrap()],
        &env,
    );
    serve.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = serve.spawn().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let url = loop {
        if let Ok(text) = std::fs::read_to_string(&ready)
            && let Ok(v) = serde_json::from_str::<Value>(&text)
        {
            break v["url"].as_str().unwrap().to_string();
        }
        assert!(tokio::time::Instant::now() < deadline, "the server never got ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let http = reqwest::Client::builder().danger_accept_invalid_certs(true).build().unwrap();
    let get = |path: &str| {
        let req = http.get(format!("{url}{path}")).bearer_auth(&token);
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let remotes = get("/api/v1/remotes").await;
    let names: Vec<&str> =
        remotes.as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["default", "lab"], "{remotes}");
    let guests = get("/api/v1/guests").await;
    let pairs: Vec<(String, u64)> = guests["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["remote"].as_str().unwrap().to_string(), g["vmid"].as_u64().unwrap()))
        .collect();
    assert_eq!(pairs, [("default".to_string(), 100), ("lab".to_string(), 500)], "{guests}");
    let one = get("/api/v1/remotes/lab/guests/500").await;
    assert_eq!(one["name"], "lab-1", "{one}");

    // Added and removed while the server runs: it follows the store without a restart.
    let args = add(&second.url, &second.fingerprint, "lab2");
    let run =
        support::proxctl(&first, &args.iter().map(String::as_str).collect::<Vec<_>>(), &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = support::proxctl(&first, &["remote", "remove", "lab", "--yes"], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let remotes = get("/api/v1/remotes").await;
        let names: Vec<&str> =
            remotes.as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
        if names == ["default", "lab2"] {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the server kept {names:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let one = get("/api/v1/remotes/lab2/guests/500").await;
    assert_eq!(one["name"], "lab-1", "the new remote answers: {one}");
    child.kill().unwrap();
    child.wait().unwrap();
}
