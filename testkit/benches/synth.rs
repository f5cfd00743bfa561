//! Generator throughput: how fast the synthetic hospital streams to NDJSON (it feeds the
//! 100k–1M patient ingest benchmarks, so it must not be the bottleneck).
//!
//! `cargo bench -p akari-testkit --bench synth [-- PATIENTS...]` (default 10000 100000).

use std::time::Instant;

use akari_testkit::synth::{self, DeltaConfig, SynthConfig};

fn main() {
    let sizes: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![10_000, 100_000]
    } else {
        sizes
    };
    for n in sizes {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = SynthConfig {
            patients: n,
            ..SynthConfig::default()
        };
        let t = Instant::now();
        let s = synth::write_ndjson_dir(&cfg, dir.path()).expect("write");
        let secs = t.elapsed().as_secs_f64();
        println!(
            "synth full  {n:>8} patients: {:>9} resources, {:>7.1} MB in {secs:>6.2} s = {:>6.1} MB/s, {:>8.0} patients/s",
            s.resources,
            s.bytes as f64 / 1e6,
            s.bytes as f64 / 1e6 / secs,
            n as f64 / secs
        );
        let ddir = tempfile::tempdir().expect("tempdir");
        let t = Instant::now();
        let r = synth::write_delta_ndjson_dir(
            &cfg,
            &DeltaConfig::one_percent(1, synth::jst_now()),
            ddir.path(),
        )
        .expect("delta");
        println!(
            "synth delta {n:>8} patients: {} changed, {} added, {} deleted, {} entered-in-error in {:.2} s",
            r.changed,
            r.added,
            r.deleted,
            r.entered_in_error,
            t.elapsed().as_secs_f64()
        );
    }
}
