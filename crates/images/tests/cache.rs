//! The download cache against a local HTTP server that honours Range and can cut a transfer
//! short: verified downloads, resume after an interruption, mismatch handling, verify, prune.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use proxctl_images::cache::{Cache, FetchError};
use proxctl_images::checksum::Algorithm;
use sha2::Digest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Default)]
struct Seen {
    ranges: Vec<Option<u64>>,
}

/// Serves `body` at any path; the first `cut` connections stop after `cut_at` bytes.
async fn server(body: Vec<u8>, cut: usize, cut_at: usize) -> (String, Arc<Mutex<Seen>>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/image.qcow2", l.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s2 = Arc::clone(&seen);
    let body = Arc::new(body);
    tokio::spawn(async move {
        let mut n = 0;
        loop {
            let (mut sock, _) = l.accept().await.unwrap();
            n += 1;
            let body = Arc::clone(&body);
            let seen = Arc::clone(&s2);
            let cut_this = n <= cut;
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    let k = sock.read(&mut buf).await.unwrap();
                    if k == 0 {
                        return;
                    }
                    req.extend_from_slice(&buf[..k]);
                }
                let text = String::from_utf8_lossy(&req).to_lowercase();
                let from: Option<u64> = text
                    .lines()
                    .find_map(|l| l.strip_prefix("range: bytes="))
                    .and_then(|r| r.trim().trim_end_matches('-').parse().ok());
                seen.lock().unwrap().ranges.push(from);
                let start = from.unwrap_or(0) as usize;
                let part = &body[start.min(body.len())..];
                let head = if from.is_some() {
                    format!(
                        "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{}/{}\r\nConnection: close\r\n\r\n",
                        part.len(),
                        body.len() - 1,
                        body.len()
                    )
                } else {
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        part.len()
                    )
                };
                sock.write_all(head.as_bytes()).await.unwrap();
                let send = if cut_this { &part[..cut_at.min(part.len())] } else { part };
                let _ = sock.write_all(send).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (url, seen)
}

fn image(len: usize) -> (Vec<u8>, String) {
    let body: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
    let hash = hex::encode(sha2::Sha256::digest(&body));
    (body, hash)
}

fn http() -> reqwest::Client {
    proxctl_client::web::web_client(std::time::Duration::from_secs(5)).unwrap()
}

#[tokio::test]
async fn a_download_is_verified_and_cached_by_hash_and_a_second_pull_is_a_hit() {
    let (body, hash) = image(3 << 20);
    let (url, seen) = server(body.clone(), 0, 0).await;
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path());
    let calls = Arc::new(Mutex::new(0u32));
    let c2 = Arc::clone(&calls);
    let progress = move |_p: proxctl_images::cache::Progress| *c2.lock().unwrap() += 1;
    let got = cache.fetch(&http(), &url, Algorithm::Sha256, &hash, &progress).await.unwrap();
    assert!(got.downloaded);
    assert_eq!(std::fs::read(&got.path).unwrap(), body);
    assert!(got.path.ends_with(format!("sha256/{hash}")));
    assert!(*calls.lock().unwrap() > 1, "progress is reported as bytes arrive");
    let again = cache.fetch(&http(), &url, Algorithm::Sha256, &hash, &|_| {}).await.unwrap();
    assert!(!again.downloaded);
    assert_eq!(seen.lock().unwrap().ranges.len(), 1, "the hit made no request");
}

#[tokio::test]
async fn an_interrupted_download_resumes_from_its_partial_file_with_a_range_request() {
    let (body, hash) = image(2 << 20);
    let (url, seen) = server(body.clone(), 1, 700_000).await;
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path());
    let first = cache.fetch(&http(), &url, Algorithm::Sha256, &hash, &|_| {}).await;
    assert!(matches!(first, Err(FetchError::Http { .. })), "{first:?}");
    let got = cache.fetch(&http(), &url, Algorithm::Sha256, &hash, &|_| {}).await.unwrap();
    assert!(got.resumed_from >= 600_000, "resumed from {}", got.resumed_from);
    assert_eq!(std::fs::read(&got.path).unwrap(), body);
    let ranges = seen.lock().unwrap().ranges.clone();
    assert_eq!(ranges[0], None);
    assert_eq!(ranges[1], Some(got.resumed_from));
}

#[tokio::test]
async fn a_wrong_checksum_keeps_nothing_and_verify_and_prune_see_the_cache() {
    let (body, hash) = image(100_000);
    let (url, _) = server(body, 0, 0).await;
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path());
    let wrong = "0".repeat(64);
    let e = cache.fetch(&http(), &url, Algorithm::Sha256, &wrong, &|_| {}).await.unwrap_err();
    assert!(e.to_string().contains("does not match its checksum"), "{e}");
    assert!(
        std::fs::read_dir(dir.path().join("partial")).unwrap().next().is_none(),
        "no partial kept"
    );
    let got = cache.fetch(&http(), &url, Algorithm::Sha256, &hash, &|_| {}).await.unwrap();
    assert_eq!(cache.verify().await.unwrap(), vec![(got.record.clone(), true)]);
    std::fs::write(&got.path, b"bit rot").unwrap();
    assert_eq!(cache.verify().await.unwrap(), vec![(got.record, false)]);
    assert!(cache.prune(&[]).await.unwrap() > 0);
    assert!(cache.lookup(Algorithm::Sha256, &hash).is_none());
}
