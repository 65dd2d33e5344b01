//! Building, side by side: a catalog of sleep-bound builds shaped as a DAG (width 4, depth 2) built by
//! baseimg with each builder (classic and BuildKit) against its critical path and against a sequential
//! `docker build` loop (what a Makefile does); the example catalog's first `build --push` with each
//! builder; then a no-op `build --push` over a generated 200-image catalog, with the requests it sends
//! upstream.
//!
//! Run: `cargo bench --bench build` (needs docker-registry, skopeo, busybox-static and a Docker daemon).

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use testkit::fixtures::Layout;
use testkit::registry::Registry;

const SLEEP: u64 = 3;
const NOOP_IMAGES: usize = 200;

fn baseimg(repo: &Path, args: &[&str]) -> f64 {
    testkit::harness::timed(repo, args, &[]).0
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .count()
}

fn remove_images(host: &str) {
    let listed = Command::new("docker")
        .args([
            "images",
            "--no-trunc",
            "--format",
            "{{.Repository}} {{.ID}}",
        ])
        .output()
        .unwrap();
    for line in String::from_utf8_lossy(&listed.stdout).lines() {
        if let Some((repository, id)) = line.split_once(' ')
            && (repository.starts_with(host) || repository.starts_with("bench-seq/"))
        {
            let _ = Command::new("docker").args(["rmi", "-f", id]).output();
        }
    }
}

fn main() {
    let logs = tempfile::tempdir().unwrap();
    let upstream_log = logs.path().join("upstream.log");
    let upstream = Registry::start_logged(&upstream_log);
    let private = Registry::start();
    Layout::busybox(7).push(&upstream.host, "library/busybox", "1.35");
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();

    // --- DAG of sleep-bound builds --------------------------------------------------------------
    let repo = tempfile::tempdir().unwrap();
    std::fs::create_dir(repo.path().join("templates")).unwrap();
    std::fs::write(
        repo.path().join("templates/sleep.Dockerfile.j2"),
        "FROM {{ from }}\nRUN sleep {{ seconds }} && echo {{ image.name }}-{{ nonce }} > /built\n",
    )
    .unwrap();
    // The same DAG for each builder and each `--jobs`, with a fresh nonce each time, so no run finds
    // another's images or build cache.
    let chains = [
        ("a1", "base"),
        ("a2", "a1"),
        ("b1", "base"),
        ("b2", "b1"),
        ("c1", "base"),
        ("c2", "c1"),
        ("d1", "base"),
    ];
    let write_dag = |nonce: String| {
        let mut catalog = format!(
            "registry: {}/bench\nvars: {{ seconds: {SLEEP}, nonce: \"{nonce}\" }}\nimages:\n  base:\n    mirror: {}/library/busybox:1.35\n",
            private.host, upstream.host
        );
        for (name, parent) in chains {
            let _ = write!(
                catalog,
                "  {name}:\n    from: {parent}\n    template: sleep.Dockerfile.j2\n    tags: [\"1\"]\n"
            );
        }
        std::fs::write(repo.path().join("base-images.yaml"), &catalog).unwrap();
    };
    write_dag(format!("{nonce}"));
    baseimg(repo.path(), &["lock"]);
    baseimg(repo.path(), &["mirror"]);
    // Pull the base once, so neither side pays for it in the timing.
    let _ = Command::new("docker")
        .args(["pull", "-q", &format!("{}/bench/base:1.35", private.host)])
        .output();
    let mut dags = Vec::new();
    for builder in ["classic", "buildkit"] {
        let run = |jobs: &str| {
            write_dag(format!("{nonce}-{builder}-{jobs}"));
            baseimg(
                repo.path(),
                &["build", "--builder", builder, "--jobs", jobs],
            )
        };
        let one_by_one = run("1");
        let parallel = run("4");
        dags.push((builder, one_by_one, parallel));
    }
    write_dag(format!("{nonce}"));

    // The example catalog's first `build --push` (lock and mirror first, not timed), per builder.
    let example: Vec<(&str, f64)> = ["classic", "buildkit"]
        .into_iter()
        .map(|builder| {
            let world = testkit::World::example();
            if builder == "classic" {
                // The classic builder cannot run the Python template's cache mount.
                let template = world.read("templates/python.Dockerfile.j2");
                world.write(
                    "templates/python.Dockerfile.j2",
                    &template.replace(
                        "RUN --mount=type=cache,target=/root/.cache/pip \\\n    ",
                        "RUN ",
                    ),
                );
            }
            world.baseimg(&["lock"]).run();
            world.baseimg(&["mirror"]).run();
            let start = Instant::now();
            world
                .baseimg(&["build", "--push", "--builder", builder, "--jobs", "4"])
                .run();
            (builder, start.elapsed().as_secs_f64())
        })
        .collect();

    // The Makefile way: the same Dockerfiles, built one after another in dependency order.
    baseimg(repo.path(), &["render", "--out", "rendered"]);
    let rendered = repo.path().join("rendered");
    let start = Instant::now();
    for (name, parent) in chains {
        let dockerfile =
            std::fs::read_to_string(rendered.join(format!("{name}.Dockerfile"))).unwrap();
        // A child of a built image starts FROM the sequential build of its parent.
        let dockerfile = if parent == "base" {
            dockerfile
        } else {
            let first = dockerfile.lines().next().unwrap().to_string();
            dockerfile.replacen(&first, &format!("FROM bench-seq/{parent}"), 1)
        };
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Dockerfile"), dockerfile).unwrap();
        let status = Command::new("docker")
            .args([
                "build",
                "-q",
                "--no-cache",
                "-t",
                &format!("bench-seq/{name}"),
                ".",
            ])
            .current_dir(dir.path())
            .env("DOCKER_BUILDKIT", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "docker build {name}");
    }
    let sequential = start.elapsed().as_secs_f64();
    let critical = (2 * SLEEP) as f64;

    // --- no-op build --push over 200 images ---------------------------------------------------------
    let big = tempfile::tempdir().unwrap();
    std::fs::create_dir(big.path().join("templates")).unwrap();
    std::fs::write(
        big.path().join("templates/tiny.Dockerfile.j2"),
        "FROM {{ from }}\nLABEL bench.n=\"{{ n }}\"\n",
    )
    .unwrap();
    let mut catalog = format!(
        "registry: {}/noop\nimages:\n  base:\n    mirror: {}/library/busybox:1.35\n",
        private.host, upstream.host
    );
    for n in 0..NOOP_IMAGES {
        let _ = write!(
            catalog,
            "  img-{n}:\n    from: base\n    template: tiny.Dockerfile.j2\n    tags: [\"1.{n}\", \"1\"]\n    repository: img-{n}\n    vars: {{ n: {n} }}\n"
        );
    }
    std::fs::write(big.path().join("base-images.yaml"), catalog).unwrap();
    baseimg(big.path(), &["lock"]);
    baseimg(big.path(), &["mirror"]);
    let first_push = baseimg(big.path(), &["build", "--push", "--jobs", "4"]);
    let before = lines(&upstream_log);
    let noop = (0..3)
        .map(|_| baseimg(big.path(), &["build", "--push"]))
        .fold(f64::MAX, f64::min);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let upstream_requests = lines(&upstream_log) - before;

    // The nightly job with nothing new upstream: resolve, mirror check, build check, promotion
    // check, report written.
    baseimg(big.path(), &["refresh"]);
    let before = lines(&upstream_log);
    let refreshes: Vec<(f64, serde_json::Value)> = (0..3).map(|_| refresh(big.path())).collect();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let refresh_upstream = (lines(&upstream_log) - before) / refreshes.len();
    let (refresh_noop, refresh_report) = refreshes
        .into_iter()
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap();
    let upstream_gets = &refresh_report["requests"]["upstream"]["manifest_gets"];

    remove_images(&private.host);

    println!(
        "\nDAG of sleep-bound builds: 7 images, each `RUN sleep {SLEEP}`, width 4, depth 2 (a1→a2, b1→b2, c1→c2, d1)"
    );
    println!("  {:<44} {:>8}", "", "wall");
    println!("  {:<44} {:>7.1}s", "critical path (2 × sleep)", critical);
    // Two builds in a row of the `docker build` loop, the classic builder's overhead included.
    let critical_with_overhead = 2.0 * sequential / chains.len() as f64;
    println!(
        "  {:<44} {:>7.1}s",
        "critical path incl. overhead (2 × mean of the loop)", critical_with_overhead
    );
    for (builder, one_by_one, parallel) in &dags {
        // The floor for any scheduler: two builds in a row with this builder's own overhead.
        let floor = 2.0 * one_by_one / chains.len() as f64;
        println!(
            "  {:<44} {:>7.1}s",
            format!("{builder}: critical path incl. overhead (2 × mean of --jobs 1)"),
            floor
        );
        println!(
            "  {:<44} {:>7.1}s",
            format!("{builder}: baseimg build --jobs 4"),
            parallel
        );
        println!(
            "  {builder}: baseimg / critical path incl. overhead: {:.2}×; / bare critical path: {:.2}×; / sequential docker loop: {:.2}×",
            parallel / floor,
            parallel / critical,
            parallel / sequential
        );
    }
    println!(
        "  {:<44} {:>7.1}s",
        "sequential `docker build` loop (Makefile)", sequential
    );
    println!("\nthe example catalog's first `build --push` (4 images, checks included, --jobs 4):");
    for (builder, seconds) in &example {
        println!("  {builder:<10} {seconds:>6.1}s");
    }
    println!(
        "\nno-op `baseimg build --push` over {NOOP_IMAGES} built images (2 moving tags each), best of 3:"
    );
    println!("  first build --push (setup): {first_push:.1}s");
    println!(
        "  no-op: {noop:.2}s (target ≤ 1.5 s), upstream requests: {upstream_requests} (target 0)"
    );
    println!("\nno-op `baseimg refresh` over the same catalog (nothing new upstream), best of 3:");
    println!(
        "  {refresh_noop:.2}s (target ≤ 1.5 s, report written), upstream requests per run: {refresh_upstream} ({} manifest HEAD, {upstream_gets} manifest GETs; target 0 GETs)",
        refresh_report["requests"]["upstream"]["manifest_heads"]
    );
    println!(
        "  private registry requests: {}",
        refresh_report["requests"]["private"]
    );
}

/// One `baseimg refresh --output json`: its wall time and its report.
fn refresh(repo: &Path) -> (f64, serde_json::Value) {
    let (seconds, stdout) = testkit::harness::timed(repo, &["refresh", "--output", "json"], &[]);
    (seconds, serde_json::from_slice(&stdout).unwrap())
}
