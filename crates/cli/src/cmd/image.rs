//! `proxctl image fetch|verify|prune`: the local, verified image cache.

use std::io::IsTerminal;

use proxctl_images::cache::{Cache, Progress};

use crate::cmd::confirm;
use crate::exit::UserError;
use crate::settings::Resolved;

fn cache() -> anyhow::Result<Cache> {
    let root = Cache::default_root(&|k| std::env::var(k).ok()).ok_or_else(|| {
        UserError("no home directory for the image cache; set XDG_CACHE_HOME".into())
    })?;
    Ok(Cache::new(root))
}

pub async fn fetch(r: &Resolved, source: &str, sha256: Option<&str>) -> anyhow::Result<()> {
    let catalog = proxctl_ops::image::catalog(&|k| std::env::var(k).ok())?;
    let cache = cache()?;
    let bar = if std::io::stderr().is_terminal() {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{bytes}/{total_bytes} {wide_bar} {bytes_per_sec} ETA {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(b)
    } else {
        None
    };
    let shown = std::sync::Mutex::new(0u64);
    let progress = |p: Progress| {
        if let Some(b) = &bar {
            if let Some(t) = p.total {
                b.set_length(t);
            }
            b.set_position(p.done);
        } else if let Ok(mut last) = shown.lock() {
            // Without a terminal, one line per 10 %: logs stay readable.
            let pct = p.total.filter(|t| *t > 0).map_or(0, |t| p.done * 100 / t);
            if pct >= *last + 10 {
                *last = pct - pct % 10;
                let eta = p.eta_secs.map(|s| format!(", ETA {s}s")).unwrap_or_default();
                eprintln!("  {pct}% ({} MiB{eta})", p.done >> 20);
            }
        }
    };
    let got = proxctl_ops::image::fetch(&catalog, &cache, source, sha256, &progress).await?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let how = match (got.downloaded, got.resumed_from) {
        (false, _) => "already cached".to_string(),
        (true, 0) => "downloaded and verified".to_string(),
        (true, n) => format!("resumed at {} MiB, downloaded and verified", n >> 20),
    };
    if r.output == proxctl_ops::output::Format::Json {
        outln!("{}", serde_json::to_string_pretty(&got)?);
    } else {
        outln!("{}: {how}", got.path.display());
        outln!(
            "  {:?} {}  {} bytes  from {}",
            got.record.algorithm,
            got.record.hash,
            got.record.size,
            got.record.url
        );
    }
    Ok(())
}

pub async fn verify() -> anyhow::Result<()> {
    let results = cache()?.verify().await.map_err(proxctl_ops::OpsError::from)?;
    let bad: Vec<_> = results.iter().filter(|(_, ok)| !ok).collect();
    for (rec, ok) in &results {
        outln!("{}  {}  {}", if *ok { "ok " } else { "BAD" }, rec.hash, rec.url);
    }
    if !bad.is_empty() {
        return Err(anyhow::anyhow!(
            "{} cached image(s) no longer match their checksum; run `proxctl image prune` and fetch them again",
            bad.len()
        ));
    }
    outln!("{} cached image(s) verified", results.len());
    Ok(())
}

pub async fn prune(r: &Resolved) -> anyhow::Result<()> {
    let cache = cache()?;
    confirm(r, &format!("delete every image in {}", cache.root().display()))?;
    let freed = cache.prune(&[]).await.map_err(proxctl_ops::OpsError::from)?;
    outln!("freed {} MiB", freed >> 20);
    Ok(())
}
