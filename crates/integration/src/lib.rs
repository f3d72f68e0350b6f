//! Integration tests live in tests/. This library holds the one fixture other crates' tests
//! share: a loopback HTTP server for image downloads.

use std::sync::{Arc, Mutex};

/// Paths and the bytes they serve; tests may replace them while the server runs (a new
/// upstream release).
pub type Files = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// Serve `files` over HTTP on a loopback port; returns `http://127.0.0.1:PORT`. Unknown paths
/// get 404. Each connection serves one request.
///
/// # Panics
/// If no loopback port can be bound (a broken test machine).
#[allow(clippy::expect_used)]
pub async fn file_server(files: Files) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
    let base = format!("http://{}", l.local_addr().expect("bound address"));
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = l.accept().await {
            let files = Arc::clone(&files);
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => req.extend_from_slice(&buf[..k]),
                    }
                }
                let first = String::from_utf8_lossy(&req).lines().next().unwrap_or("").to_string();
                let path = first.split(' ').nth(1).unwrap_or("/").to_string();
                let body = files
                    .lock()
                    .ok()
                    .and_then(|f| f.iter().find(|(p, _)| *p == path).map(|(_, b)| b.clone()));
                let (status, body) = match body {
                    Some(b) => ("200 OK", b),
                    None => ("404 Not Found", Vec::new()),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(&body).await;
            });
        }
    });
    base
}
