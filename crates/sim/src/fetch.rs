//! download-url really downloads: the URL is fetched before the handler runs (from loopback in
//! tests), so the task can verify the checksum and size of real bytes.

use std::time::Duration;

/// Fetch `url` from the request parameters. Errors become the task's failure text.
pub async fn prefetch(pairs: &[(String, String)]) -> Result<Vec<u8>, String> {
    let get = |k: &str| pairs.iter().find(|(pk, _)| pk == k).map(|(_, v)| v.clone());
    let url = get("url").ok_or("no url")?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!("invalid url '{url}'"));
    }
    let verify = get("verify-certificates").is_none_or(|v| v != "0");
    // reqwest finds the process-wide provider; installing twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    #[allow(clippy::disallowed_methods)] // the simulator's own downloader, not the product client
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .danger_accept_invalid_certs(!verify)
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| format!("download client: {e}"))?;
    let resp = client.get(&url).send().await.map_err(|e| format!("download failed: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("download failed: HTTP {}", resp.status()));
    }
    resp.bytes().await.map(|b| b.to_vec()).map_err(|e| format!("download failed: {e}"))
}
