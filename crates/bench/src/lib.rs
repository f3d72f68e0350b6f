//! Benchmarks live in `benches/`; run them with `cargo bench -p proxctl-bench`. They write
//! figures, they never assert timings.
