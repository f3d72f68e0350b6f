//! Unpacking an xz cloud image (FreeBSD and Fedora CoreOS publish them): throughput of the
//! streaming decoder plus hashing, on 64 MiB shaped like a disk image (zero runs and varied
//! data), compressed by xz-utils at its default level when present, as distros do.

#![allow(clippy::expect_used)] // a benchmark with broken setup should stop loudly

use std::io::Write;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const SIZE: usize = 64 << 20;

/// Disk-like content: a quarter zero blocks, the rest pseudo-random text (about 5 bits of
/// entropy a byte, so xz halves it, as it roughly does a filled filesystem).
fn image() -> Vec<u8> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789 \n";
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut out = Vec::with_capacity(SIZE);
    while out.len() < SIZE {
        if next() % 4 == 0 {
            out.extend(std::iter::repeat_n(0u8, 4096));
        } else {
            out.extend((0..4096).map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize]));
        }
    }
    out.truncate(SIZE);
    out
}

/// How long xz-utils takes to decompress the same file, for comparison.
fn xz_utils_seconds(src: &std::path::Path) -> Option<f64> {
    let start = std::time::Instant::now();
    let out = std::process::Command::new("xz").arg("-dc").arg(src).output().ok()?;
    out.status.success().then(|| start.elapsed().as_secs_f64())
}

fn compress(data: &[u8]) -> (Vec<u8>, &'static str) {
    if let Ok(mut child) = std::process::Command::new("xz")
        .args(["-z", "-c", "-6"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
    {
        let mut stdin = child.stdin.take().expect("stdin");
        let input = data.to_vec();
        let writer = std::thread::spawn(move || stdin.write_all(&input));
        let out = child.wait_with_output().expect("xz");
        writer.join().expect("writer").expect("write to xz");
        if out.status.success() {
            return (out.stdout, "xz-utils -6");
        }
    }
    let mut out = Vec::new();
    lzma_rs::xz_compress(&mut std::io::Cursor::new(data), &mut out).expect("compress");
    (out, "lzma-rs (literals only)")
}

fn unpack(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (xz, by) = compress(&image());
    let src = dir.path().join("image.qcow2.xz");
    std::fs::write(&src, &xz).expect("write");
    eprintln!("64 MiB image, {} MiB as xz ({by})", xz.len() >> 20);
    if let Some(t) = xz_utils_seconds(&src) {
        eprintln!("xz-utils -dc on the same file: {t:.2} s ({:.0} MiB/s)", 64.0 / t);
    }
    let mut g = c.benchmark_group("unpack");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(SIZE as u64));
    g.bench_function("xz_64MiB", |b| {
        b.iter(|| {
            let dest = dir.path().join("out.qcow2");
            let _ = std::fs::remove_file(format!("{}.sha256", dest.display()));
            proxctl_images::unpack::unpack(&src, "xz", &dest, &|_| {}).expect("unpack")
        });
    });
    g.finish();
}

criterion_group!(benches, unpack);
criterion_main!(benches);
