//! Mirroring, side by side: baseimg vs `skopeo copy --all` vs `docker pull` + `tag` + `push`, between
//! two local `docker-registry` instances, for a large multi-layer image and a two-platform index;
//! then the same copy again when nothing is new; and baseimg's peak memory.
//!
//! Run: `cargo bench --bench mirror` (needs docker-registry, skopeo and a Docker daemon).
//! Requests are counted from the registries' own access logs, so no proxy sits in the data path.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use testkit::fixtures::{Layout, manifest_digest};
use testkit::registry::Registry;

const BIG_LAYERS: usize = 8;
const BIG_LAYER_SIZE: usize = 26 * 1024 * 1024;
const MULTI_LAYERS: usize = 4;
const MULTI_LAYER_SIZE: usize = 8 * 1024 * 1024;

struct Run {
    seconds: f64,
    upstream_requests: usize,
    upstream_manifest_gets: usize,
    private_requests: usize,
    peak_rss_kb: Option<i64>,
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Runs a command, returning its wall time and its peak RSS in kB. The peak is read from
/// `/proc/<pid>/status` (`VmHWM`, which starts afresh at exec, so the bench's own memory is not
/// counted) while the command runs; the high-water mark only grows, so the last reading is the peak.
fn timed(command: &mut Command) -> (f64, i64) {
    let start = Instant::now();
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_path)
            && let Some(line) = text.lines().find(|l| l.starts_with("VmHWM:"))
        {
            peak = line
                .split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse().ok())
                .unwrap_or(peak);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    let seconds = start.elapsed().as_secs_f64();
    assert!(status.success(), "{command:?} failed");
    (seconds, peak)
}

fn measure(upstream_log: &Path, private_log: &Path, command: &mut Command) -> Run {
    let (up_before, private_before) = (lines(upstream_log).len(), lines(private_log).len());
    let (seconds, rss) = timed(command);
    std::thread::sleep(std::time::Duration::from_millis(300)); // let the access logs flush
    let up = lines(upstream_log);
    let new_up = &up[up_before.min(up.len())..];
    Run {
        seconds,
        upstream_requests: new_up.len(),
        upstream_manifest_gets: new_up
            .iter()
            .filter(|l| l.contains("\"GET /v2/") && l.contains("/manifests/"))
            .count(),
        private_requests: lines(private_log).len().saturating_sub(private_before),
        peak_rss_kb: Some(rss),
    }
}

fn without_rss(run: Run) -> Run {
    Run {
        peak_rss_kb: None,
        ..run
    }
}

fn docker(args: &[&str]) -> Command {
    let mut command = Command::new("docker");
    command.args(args);
    command
}

fn main() {
    let logs = tempfile::tempdir().unwrap();
    let log = |name: &str| logs.path().join(name);
    let upstream = Registry::start_logged(&log("upstream.log"));
    let private = [
        Registry::start_logged(&log("baseimg.log")),
        Registry::start_logged(&log("skopeo.log")),
        Registry::start_logged(&log("docker.log")),
    ];
    eprintln!(
        "seeding upstream: {BIG_LAYERS} × {} MiB image and a two-platform index…",
        BIG_LAYER_SIZE >> 20
    );
    Layout::single(11, BIG_LAYERS, BIG_LAYER_SIZE).push(&upstream.host, "library/big", "1.0");
    Layout::multi(12, MULTI_LAYERS, MULTI_LAYER_SIZE).push(&upstream.host, "library/multi", "1.0");
    let images = [("big", "1.0"), ("multi", "1.0")];

    // baseimg
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(
        repo.path().join("base-images.yaml"),
        format!(
            "registry: {}/mirror\nimages:\n  big:\n    mirror: {}/library/big:1.0\n  multi:\n    mirror: {}/library/multi:1.0\n",
            private[0].host, upstream.host, upstream.host
        ),
    )
    .unwrap();
    let baseimg = |args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_baseimg"));
        command
            .current_dir(repo.path())
            .args(["--progress", "plain"])
            .args(args);
        command
    };
    timed(&mut baseimg(&["lock"]));
    let baseimg_copy = measure(
        &log("upstream.log"),
        &log("baseimg.log"),
        &mut baseimg(&["mirror"]),
    );
    let baseimg_again = measure(
        &log("upstream.log"),
        &log("baseimg.log"),
        &mut baseimg(&["mirror"]),
    );

    // skopeo copy --all, one command per image (what a sync script does)
    let skopeo = || {
        let mut script = String::new();
        for (name, tag) in images {
            script.push_str(&format!(
                "skopeo copy --all --preserve-digests --quiet --src-tls-verify=false --dest-tls-verify=false docker://{}/library/{name}:{tag} docker://{}/mirror/{name}:{tag} && ",
                upstream.host, private[1].host
            ));
        }
        script.push_str("true");
        let mut command = Command::new("sh");
        command.args(["-c", &script]);
        command
    };
    // Peak RSS is only meaningful for baseimg: the others run as a shell script of several client
    // processes (and for docker, the work happens in the daemon).
    let skopeo_copy = without_rss(measure(
        &log("upstream.log"),
        &log("skopeo.log"),
        &mut skopeo(),
    ));
    let skopeo_again = without_rss(measure(
        &log("upstream.log"),
        &log("skopeo.log"),
        &mut skopeo(),
    ));

    // docker pull + tag + push (the daemon keeps only its own platform of the index)
    for (name, tag) in images {
        let _ = docker(&[
            "rmi",
            "-f",
            &format!("{}/library/{name}:{tag}", upstream.host),
        ])
        .output();
        let _ = docker(&[
            "rmi",
            "-f",
            &format!("{}/mirror/{name}:{tag}", private[2].host),
        ])
        .output();
    }
    let docker_script = || {
        let mut script = String::new();
        for (name, tag) in images {
            let (from, to) = (
                format!("{}/library/{name}:{tag}", upstream.host),
                format!("{}/mirror/{name}:{tag}", private[2].host),
            );
            script.push_str(&format!("docker pull -q {from} >/dev/null && docker tag {from} {to} && docker push -q {to} >/dev/null && "));
        }
        script.push_str("true");
        let mut command = Command::new("sh");
        command.args(["-c", &script]);
        command
    };
    let docker_available = docker(&["info"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let (docker_copy, docker_again) = if docker_available {
        let first = without_rss(measure(
            &log("upstream.log"),
            &log("docker.log"),
            &mut docker_script(),
        ));
        let again = without_rss(measure(
            &log("upstream.log"),
            &log("docker.log"),
            &mut docker_script(),
        ));
        for (name, tag) in images {
            let _ = docker(&[
                "rmi",
                "-f",
                &format!("{}/library/{name}:{tag}", upstream.host),
            ])
            .output();
            let _ = docker(&[
                "rmi",
                "-f",
                &format!("{}/mirror/{name}:{tag}", private[2].host),
            ])
            .output();
        }
        (Some(first), Some(again))
    } else {
        (None, None)
    };

    // The copies are faithful: same digests as upstream.
    for (name, tag) in images {
        let expected = manifest_digest(&upstream.host, &format!("library/{name}:{tag}"));
        assert_eq!(
            manifest_digest(&private[0].host, &format!("mirror/{name}:{tag}")),
            expected,
            "baseimg {name}"
        );
        assert_eq!(
            manifest_digest(&private[1].host, &format!("mirror/{name}:{tag}")),
            expected,
            "skopeo {name}"
        );
    }

    let total_mb = (BIG_LAYERS * BIG_LAYER_SIZE + 2 * MULTI_LAYERS * MULTI_LAYER_SIZE
        - MULTI_LAYER_SIZE) as f64
        / 1e6;
    println!(
        "\nmirror: {BIG_LAYERS}-layer {:.0} MB image + two-platform index ({MULTI_LAYERS} layers per platform), {total_mb:.0} MB of blobs in all",
        (BIG_LAYERS * BIG_LAYER_SIZE) as f64 / 1e6
    );
    println!(
        "{:<34} {:>9} {:>10} {:>13} {:>12} {:>10}",
        "", "wall", "upstream", "upstream", "private", "peak RSS"
    );
    println!(
        "{:<34} {:>9} {:>10} {:>13} {:>12} {:>10}",
        "tool / run", "time", "requests", "manifest GETs", "requests", ""
    );
    let row = |label: &str, run: &Run| {
        println!(
            "{label:<34} {:>8.2}s {:>10} {:>13} {:>12} {:>9}",
            run.seconds,
            run.upstream_requests,
            run.upstream_manifest_gets,
            run.private_requests,
            run.peak_rss_kb
                .map(|kb| format!("{:.0} MB", kb as f64 / 1024.0))
                .unwrap_or_else(|| "-".into())
        );
    };
    row("baseimg mirror", &baseimg_copy);
    row("skopeo copy --all --preserve-digests", &skopeo_copy);
    if let Some(run) = &docker_copy {
        row("docker pull + tag + push", run);
    } else {
        println!(
            "{:<34} (no Docker daemon answered)",
            "docker pull + tag + push"
        );
    }
    row("baseimg mirror, nothing new", &baseimg_again);
    row("skopeo copy --all, nothing new", &skopeo_again);
    if let Some(run) = &docker_again {
        row("docker pull+tag+push, nothing new", run);
    }
    println!();
    println!(
        "baseimg / skopeo: {:.2}× (target ≤ 0.8×)",
        baseimg_copy.seconds / skopeo_copy.seconds
    );
    if let Some(run) = &docker_copy {
        println!(
            "baseimg / docker: {:.2}× (target ≤ 0.3×)",
            baseimg_copy.seconds / run.seconds
        );
    }
    println!(
        "baseimg no-op: {:.0} ms per image, {} upstream manifest GETs (target ≤ 50 ms per image, 0 GETs)",
        baseimg_again.seconds * 1000.0 / images.len() as f64,
        baseimg_again.upstream_manifest_gets
    );
    println!(
        "baseimg peak RSS: {:.1} MB (target ≤ 64 MB)",
        baseimg_copy.peak_rss_kb.unwrap_or(0) as f64 / 1024.0
    );
}
