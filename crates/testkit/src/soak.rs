//! The fault soak: `lock` + `mirror` of an image and a two-platform index through a proxy that fails
//! upstream requests at random (500s, 503s, 429s with `Retry-After`, bodies cut off, blobs served
//! short; Docker Hub's token dance included), each run into a fresh private registry, checked byte
//! for byte against upstream. Shared by `tests/suite/faults.rs` (a few runs) and `benches/faults.rs`
//! (20).

use std::time::{Duration, Instant};

use super::fixtures::{Layout, manifest_digest, raw_manifest};
use super::harness::{Test, unindent};
use super::proxy::{Faults, Proxy, RandomFaults};
use super::registry::Registry;

/// One upstream registry with the fixtures, shared by every run.
pub struct Soak {
    upstream: Registry,
    /// `(upstream reference, private reference)` of every manifest a run must copy.
    expected: Vec<(String, String)>,
}

impl Soak {
    /// Upstream holds `library/redis:7.2.4` (3 layers of 1 MiB) and `library/python:3.11.9` (two
    /// platforms of 3 layers of 256 KiB, one shared): blobs of several chunks, so a cut or a short
    /// body can fall anywhere in them.
    pub fn new() -> Soak {
        let upstream = Registry::start();
        Layout::single(1, 3, 1024 * 1024).push(&upstream.host, "library/redis", "7.2.4");
        Layout::multi(2, 3, 256 * 1024).push(&upstream.host, "library/python", "3.11.9");
        let mut expected = vec![
            (
                "library/redis:7.2.4".to_string(),
                "base/redis-upstream:7.2.4".to_string(),
            ),
            (
                "library/python:3.11.9".to_string(),
                "base/python-upstream:3.11.9".to_string(),
            ),
        ];
        let index: serde_json::Value =
            serde_json::from_slice(&raw_manifest(&upstream.host, "library/python:3.11.9")).unwrap();
        for child in index["manifests"].as_array().unwrap() {
            let digest = child["digest"].as_str().unwrap();
            expected.push((
                format!("library/python@{digest}"),
                format!("base/python-upstream@{digest}"),
            ));
        }
        let redis = manifest_digest(&upstream.host, "library/redis:7.2.4");
        expected.push((
            format!("library/redis@{redis}"),
            format!("base/redis-upstream:7.2.4-{}", &redis[7..19]),
        ));
        Soak { upstream, expected }
    }

    /// One run with the soak's fault mix drawn from `seed`: `lock` then `mirror` into a fresh private
    /// registry, both must exit 0, and every manifest must be upstream's, byte for byte. Panics with
    /// baseimg's output otherwise.
    pub fn run(&self, seed: u64) -> Run {
        let private = Registry::start();
        let proxy = Proxy::start(&self.upstream.host);
        proxy.set_faults(Faults {
            bearer_token: Some("soak-token".into()),
            random: Some(RandomFaults::soak(seed)),
            ..Faults::default()
        });
        let repo = tempfile::tempdir().unwrap();
        let catalog = unindent(&format!(
            "
            registry: {private}/base
            images:
              redis-upstream:
                mirror: {proxy}/library/redis:7.2.4
              python-upstream:
                mirror: {proxy}/library/python:3.11.9
            ",
            private = private.host,
            proxy = proxy.host,
        ));
        std::fs::write(repo.path().join("base-images.yaml"), catalog).unwrap();
        let started = Instant::now();
        Test::in_dir(repo.path())
            .args(["--progress", "plain", "lock"])
            .run();
        let mirrored = Test::in_dir(repo.path())
            .args(["--progress", "plain", "--output", "json", "mirror"])
            .run()
            .json();
        let seconds = started.elapsed();
        for (upstream_ref, private_ref) in &self.expected {
            assert_eq!(
                raw_manifest(&self.upstream.host, upstream_ref),
                raw_manifest(&private.host, private_ref),
                "seed {seed}: manifest bytes differ: {upstream_ref} vs {private_ref}"
            );
        }
        Run {
            seconds,
            upstream_requests: proxy.requests().len(),
            mirror_retries: mirrored["retries"].as_u64().unwrap_or_default(),
        }
    }
}

/// What one soak run took.
pub struct Run {
    /// Wall time of `lock` and `mirror`.
    pub seconds: Duration,
    /// Requests the proxy saw, the failed ones included.
    pub upstream_requests: usize,
    /// Requests `mirror` sent again (its report's `retries`).
    pub mirror_retries: u64,
}
