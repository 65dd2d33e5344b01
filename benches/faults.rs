//! The fault soak: 20 runs of `lock` + `mirror` (an image and a two-platform index, Docker Hub's token
//! authentication included) through a proxy that fails upstream requests at random — 8 % 500s, 8 %
//! 503s, 6 % 429s with `Retry-After`, 10 % bodies cut off half-way, 6 % blobs served short — each run
//! into a fresh private registry with its own seed, so a failure reproduces with that seed. A run
//! passes when both commands exit 0 and every manifest in the private registry is upstream's, byte
//! for byte. Target: 20 of 20.
//!
//! Run: `cargo bench --bench faults` (needs docker-registry and skopeo). `tests/suite/faults.rs` runs
//! the first three seeds.

use std::time::Instant;

use testkit::soak::Soak;

const RUNS: u64 = 20;

fn main() {
    println!("preparing: an upstream registry with the fixtures…");
    let soak = Soak::new();
    // A failed run panics with baseimg's output; it is counted, and the next run goes on.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        eprintln!("--- a run failed:");
        default_hook(info);
    }));
    let started = Instant::now();
    let mut passed = 0;
    let mut failed = Vec::new();
    for seed in 1..=RUNS {
        match std::panic::catch_unwind(|| soak.run(seed)) {
            Ok(run) => {
                passed += 1;
                println!(
                    "seed {seed:>2}: passed in {:.1} s ({} upstream requests, {} retried by mirror)",
                    run.seconds.as_secs_f64(),
                    run.upstream_requests,
                    run.mirror_retries
                );
            }
            Err(_) => {
                println!("seed {seed:>2}: FAILED");
                failed.push(seed);
            }
        }
    }
    println!();
    println!(
        "{passed} of {RUNS} passed in {:.1} s (target: {RUNS} of {RUNS})",
        started.elapsed().as_secs_f64()
    );
    if !failed.is_empty() {
        println!("failed seeds: {failed:?}");
        std::process::exit(1);
    }
}
