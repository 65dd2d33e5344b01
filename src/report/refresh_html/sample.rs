//! Sample refresh reports for the page's tests: shaped like what a real catalog of mirrors and
//! images produces, so the sample page also shows what the layout does with realistic text.

use std::path::PathBuf;

use sha2::{Digest as _, Sha256};

use crate::cooldown::Why;
use crate::executor::pipeline::{BuildStatus, ImageResult, Promotion};
use crate::night::report::{
    Failure, Moved, Rebuilt, RefreshReport, RequestCounts, Requests, Step, Upstream, UpstreamStatus,
};
use crate::reference::Digest;
use crate::timeline::{Bar, Phase};

const REGISTRY: &str = "registry.internal.example:5000/base";

fn digest(seed: &str) -> Digest {
    Digest::parse(&format!("sha256:{}", hex::encode(Sha256::digest(seed)))).unwrap()
}

fn upstream(image: &str, source: &str, status: UpstreamStatus) -> Upstream {
    Upstream {
        image: image.into(),
        source: source.into(),
        status,
        pinned: Some(digest(&format!("{image} before"))),
        current: (!status.is_problem()).then(|| digest(&format!("{image} now"))),
        why: None,
        created: None,
        first_seen: None,
        adopt_after: None,
        left: None,
        error: None,
        help: None,
    }
}

fn adopted(image: &str, source: &str, why: Why, created: &str) -> Upstream {
    Upstream {
        why: Some(why),
        created: Some(created.into()),
        ..upstream(image, source, UpstreamStatus::Adopted)
    }
}

fn rebuilt(image: &str, tag: &str, because: &str) -> Rebuilt {
    Rebuilt {
        image: image.into(),
        tag: tag.into(),
        reference: format!("{REGISTRY}/{image}:{tag}@{}", digest(tag)),
        because: because.into(),
    }
}

fn bars(image: &str, phases: &[(Phase, f64, f64)]) -> Vec<Bar> {
    phases
        .iter()
        .map(|&(phase, start, end)| Bar {
            image: image.into(),
            phase,
            start,
            end,
        })
        .collect()
}

/// Nothing moved upstream and nothing was built.
pub(crate) fn quiet() -> RefreshReport {
    let upstreams = vec![
        upstream(
            "debian-bookworm",
            "docker.io/library/debian:bookworm-slim",
            UpstreamStatus::Unchanged,
        ),
        upstream(
            "alpine",
            "docker.io/library/alpine:3.20",
            UpstreamStatus::Unchanged,
        ),
    ];
    let mut timeline = bars("debian-bookworm", &[(Phase::Resolve, 0.01, 0.31)]);
    timeline.extend(bars("alpine", &[(Phase::Resolve, 0.01, 0.27)]));
    RefreshReport {
        run: "20250612T021500Z".into(),
        started: "2025-06-12T02:15:00Z".into(),
        seconds: 0.4,
        dry_run: false,
        ok: true,
        catalog: PathBuf::from("/srv/base-images/base-images.yaml"),
        lock_file: PathBuf::from("/srv/base-images/base-images.lock"),
        lock_written: false,
        lock_kept_because: None,
        upstreams,
        mirrors: Vec::new(),
        images: Vec::new(),
        rebuilt: Vec::new(),
        promotion: Some(Promotion::InPlace),
        moved: Vec::new(),
        failures: Vec::new(),
        timeline,
        requests: Requests {
            upstream: RequestCounts {
                manifest_heads: 2,
                token_requests: 2,
                ..RequestCounts::default()
            },
            private: RequestCounts::default(),
        },
        report_dir: Some(PathBuf::from(
            "/srv/base-images/.baseimg/reports/20250612T021500Z",
        )),
    }
}

/// Two upstreams adopted and their images rebuilt and promoted, one waiting out its cool-down and
/// one unreachable (so the run is not ok, though its own work succeeded and the lock was written).
pub(crate) fn succeeded() -> RefreshReport {
    let upstreams = busy_upstreams();
    let unreachable = &upstreams[4];
    let failures = vec![Failure {
        image: unreachable.image.clone(),
        step: Step::Resolve,
        error: unreachable.error.clone().unwrap_or_default(),
        help: unreachable.help.clone(),
        log: None,
    }];
    let rebuilt = vec![
        rebuilt(
            "base-alpine",
            "3.20.1-5c0ffee1d2a3",
            "`alpine` moved upstream: 1b2f3c4d5e6f → 9a8b7c6d5e4f",
        ),
        rebuilt(
            "base-debian",
            "12.5-8a7b6c5d4e3f",
            "`debian-bookworm` moved upstream: 3f9c2a1b7d4e → 0e1d2c3b4a59",
        ),
        rebuilt(
            "python-app-base",
            "3.12.4-2d4f6a8c0e1b",
            "its parent `base-debian` was rebuilt",
        ),
        rebuilt(
            "api-runtime",
            "1.4.0-7e9d1c3b5a70",
            "its parent `base-debian` was rebuilt",
        ),
    ];
    let images = rebuilt
        .iter()
        .map(|r| ImageResult::new(&r.image, BuildStatus::Built))
        .collect();
    RefreshReport {
        seconds: 81.2,
        ok: false,
        lock_written: true,
        upstreams,
        images,
        rebuilt,
        promotion: None,
        moved: busy_moved(),
        failures,
        timeline: busy_timeline(),
        requests: busy_requests(),
        ..quiet()
    }
}

fn busy_upstreams() -> Vec<Upstream> {
    let waiting = Upstream {
        first_seen: Some("2025-06-10T02:15:04Z".into()),
        adopt_after: Some("2025-06-17T02:15:04Z".into()),
        left: Some("4d 23h".into()),
        ..upstream(
            "python-3.12",
            "docker.io/library/python:3.12-slim-bookworm",
            UpstreamStatus::Waiting,
        )
    };
    let unreachable = Upstream {
        error: Some(
            "HEAD manifest 16-bookworm on ghcr.io/example/postgres: HTTP 503: Service \
             Unavailable (gave up after 3 attempts)"
                .into(),
        ),
        help: Some(
            "check that `ghcr.io` is reachable from here (its address, the network, a proxy)"
                .into(),
        ),
        ..upstream(
            "postgres-16",
            "ghcr.io/example/postgres:16-bookworm",
            UpstreamStatus::Unreachable,
        )
    };
    vec![
        adopted(
            "debian-bookworm",
            "docker.io/library/debian:bookworm-slim",
            Why::CooledDown,
            "2025-06-02T00:00:00Z",
        ),
        adopted(
            "alpine",
            "docker.io/library/alpine:3.20",
            Why::Asked,
            "2025-06-11T17:42:09Z",
        ),
        waiting,
        upstream(
            "node-22",
            "docker.io/library/node:22-bookworm-slim",
            UpstreamStatus::Unchanged,
        ),
        unreachable,
    ]
}

fn busy_moved() -> Vec<Moved> {
    let moved = |image: &str, tags: &[&str], from: Option<&str>, to: &str| Moved {
        image: image.into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        from: from.map(Into::into),
        to: to.into(),
        rollback: from.map(|from| format!("baseimg rollback {image} --to {from}")),
    };
    vec![
        moved(
            "base-debian",
            &["12", "bookworm", "latest"],
            Some("12.5-3f9c2a1b7d4e"),
            "12.5-8a7b6c5d4e3f",
        ),
        moved(
            "python-app-base",
            &["3.12"],
            Some("3.12.4-61c0a4e2b7d9"),
            "3.12.4-2d4f6a8c0e1b",
        ),
        moved("api-runtime", &["1", "1.4"], None, "1.4.0-7e9d1c3b5a70"),
    ]
}

fn busy_requests() -> Requests {
    Requests {
        upstream: RequestCounts {
            manifest_heads: 5,
            manifest_gets: 4,
            blob_gets: 11,
            token_requests: 4,
            retries: 2,
            ..RequestCounts::default()
        },
        private: RequestCounts {
            manifest_heads: 14,
            manifest_gets: 6,
            manifest_puts: 9,
            blob_heads: 38,
            blob_puts: 17,
            blob_mounts: 3,
            token_requests: 2,
            ..RequestCounts::default()
        },
    }
}

fn busy_timeline() -> Vec<Bar> {
    use Phase::*;
    let mut timeline = Vec::new();
    for (image, end) in [
        ("debian-bookworm", 0.42),
        ("alpine", 0.35),
        ("python-3.12", 0.51),
        ("node-22", 0.38),
        ("postgres-16", 0.88),
    ] {
        timeline.extend(bars(image, &[(Resolve, 0.02, end)]));
    }
    timeline.extend(bars("debian-bookworm", &[(Mirror, 0.95, 8.31)]));
    timeline.extend(bars("alpine", &[(Mirror, 0.95, 3.07)]));
    timeline.extend(bars(
        "base-alpine",
        &[(Build, 3.2, 12.7), (Check, 12.7, 14.1), (Push, 14.1, 15.9)],
    ));
    timeline.extend(bars(
        "base-debian",
        &[(Build, 8.4, 31.2), (Check, 31.2, 34.0), (Push, 34.0, 36.5)],
    ));
    timeline.extend(bars(
        "python-app-base",
        &[(Build, 36.6, 71.3), (Check, 71.3, 75.9), (Push, 75.9, 79.8)],
    ));
    timeline.extend(bars(
        "api-runtime",
        &[(Build, 36.7, 58.2), (Check, 58.2, 60.4), (Push, 60.4, 62.0)],
    ));
    for (image, start) in [
        ("base-alpine", 79.9),
        ("base-debian", 80.0),
        ("python-app-base", 80.2),
        ("api-runtime", 80.4),
    ] {
        timeline.extend(bars(image, &[(Promote, start, start + 0.3)]));
    }
    timeline.sort_by(|a, b| a.start.total_cmp(&b.start));
    timeline
}

/// An image's build failed: nothing was promoted and the lock file was kept.
pub(crate) fn failed() -> RefreshReport {
    let report = succeeded();
    let error = "build failed: The command '/bin/sh -c apt-get update && apt-get install -y \
                 --no-install-recommends libpq5=16.3-1.pgdg120+1' returned a non-zero code: 100\n\
                 Step 5/9 : RUN apt-get update && apt-get install -y --no-install-recommends libpq5=16.3-1.pgdg120+1\n \
                 ---> Running in 4be1c9d20f6a\n\
                 Get:1 http://deb.debian.org/debian bookworm InRelease [151 kB]\n\
                 Get:2 http://deb.debian.org/debian bookworm/main amd64 Packages [8788 kB]\n\
                 Fetched 8939 kB in 2s (4471 kB/s)\n\
                 Reading package lists...\n\
                 Building dependency tree...\n\
                 E: Version '16.3-1.pgdg120+1' for 'libpq5' was not found\n";
    let mut failures = report.failures.clone();
    failures.push(Failure {
        image: "api-runtime".into(),
        step: Step::Build,
        error: error.into(),
        help: Some("the build's own commands failed: read its log".into()),
        log: Some(PathBuf::from(
            "/srv/base-images/.baseimg/reports/20250612T021500Z/logs/api-runtime.log",
        )),
    });
    let mut images = report.images;
    images[3].status = BuildStatus::Failed;
    let mut rebuilt = report.rebuilt;
    rebuilt.truncate(3);
    RefreshReport {
        lock_written: false,
        lock_kept_because: Some(
            "the run did not succeed: the lock file and the moving tags stay as they were".into(),
        ),
        images,
        rebuilt,
        promotion: Some(Promotion::NotPromoted),
        moved: Vec::new(),
        failures,
        timeline: report
            .timeline
            .into_iter()
            .filter(|b| b.phase != Phase::Promote && !(b.image == "api-runtime" && b.start > 58.0))
            .collect(),
        ..succeeded()
    }
}

/// `refresh --dry-run`: resolved and decided, nothing mirrored, built or written.
pub(crate) fn dry() -> RefreshReport {
    let report = succeeded();
    RefreshReport {
        dry_run: true,
        seconds: 1.3,
        lock_written: false,
        images: Vec::new(),
        moved: Vec::new(),
        timeline: report
            .timeline
            .into_iter()
            .filter(|b| b.phase == Phase::Resolve)
            .collect(),
        report_dir: None,
        ..succeeded()
    }
}
