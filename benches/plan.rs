//! Planning speed: a generated 1000-image catalog (200 mirrors, 800 built images up to several levels
//! deep, each with its own build context) is validated and planned, through the library and through the
//! `baseimg plan` command a user runs. Target: under 1 s.
//!
//! Run: `cargo bench --bench plan`

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use baseimg::catalog::{Catalog, LoadOptions};
use baseimg::graph::Graph;
use baseimg::lock::LockFile;
use baseimg::plan::{Offline, Unlocked, plan, resolve};

const MIRRORS: usize = 200;
const BUILT: usize = 800;

fn generate(root: &Path) {
    let mut catalog =
        String::from("registry: registry.example.com/base\nvars:\n  app_user: app\nimages:\n");
    let mut lock = String::from("version: 1\nimages:\n");
    for i in 0..MIRRORS {
        let _ = write!(
            catalog,
            "  up-{i}:\n    mirror: docker.io/library/img{i}:1.{i}.0\n"
        );
        let digest = format!("sha256:{:064x}", i + 1);
        let _ = write!(
            lock,
            "  up-{i}:\n    source: docker.io/library/img{i}:1.{i}.0\n    digest: {digest}\n    media_type: application/vnd.oci.image.index.v1+json\n    platforms: {{}}\n    resolved_at: 2026-11-27T09:00:00Z\n    mirror: registry.example.com/base/up-{i}:1.{i}.0@{digest}\n"
        );
    }
    std::fs::create_dir_all(root.join("templates")).unwrap();
    std::fs::write(
        root.join("templates/_common.j2"),
        "LABEL team=\"platform\" user=\"{{ app_user }}\"\n",
    )
    .unwrap();
    std::fs::write(
        root.join("templates/app.Dockerfile.j2"),
        "FROM {{ from }}\n{% include \"_common.j2\" %}\nCOPY app.conf /etc/app.conf\nCOPY scripts/ /usr/local/bin/\nENV LEVEL={{ level }}\n",
    )
    .unwrap();
    // A deterministic spread of parents: every fifth built image sits on another built image, the rest on
    // a mirror, which gives chains several levels deep and wide fan-out.
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    for i in 0..BUILT {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let parent = if i % 5 == 4 && i > 0 {
            format!("app-{}", seed as usize % i)
        } else {
            format!("up-{}", seed as usize % MIRRORS)
        };
        let _ = write!(
            catalog,
            "  app-{i}:\n    from: {parent}\n    template: app.Dockerfile.j2\n    context: images/app-{i}\n    tags: [\"1.{i}\"]\n    vars: {{ level: {i} }}\n"
        );
        let context = root.join(format!("images/app-{i}/scripts"));
        std::fs::create_dir_all(&context).unwrap();
        std::fs::write(
            root.join(format!("images/app-{i}/app.conf")),
            format!("level = {i}\n"),
        )
        .unwrap();
        std::fs::write(context.join("start.sh"), "#!/bin/sh\nexec app\n").unwrap();
    }
    std::fs::write(root.join("base-images.yaml"), catalog).unwrap();
    std::fs::write(root.join("base-images.lock"), lock).unwrap();
}

fn plan_with_library(root: &Path) -> usize {
    let (catalog, _) =
        Catalog::load(&root.join("base-images.yaml"), &LoadOptions::default()).unwrap();
    let graph = Graph::build(&catalog).unwrap();
    let lock = LockFile::load(&root.join("base-images.lock")).unwrap();
    let pins = resolve(&catalog, &lock, graph.order(), Unlocked::Unpin).unwrap();
    plan(&catalog, &pins, &Offline).len()
}

fn best_of<F: FnMut()>(runs: usize, mut f: F) -> Duration {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .unwrap()
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path());
    assert_eq!(plan_with_library(dir.path()), MIRRORS + BUILT);

    let library = best_of(5, || {
        plan_with_library(dir.path());
    });
    let binary = env!("CARGO_BIN_EXE_baseimg");
    let cli = best_of(5, || {
        let status = std::process::Command::new(binary)
            .current_dir(dir.path())
            .args(["plan", "--offline", "--output", "json"])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
    });
    // The catalog's registry.example.com does not exist: planning against it fails, once and fast.
    let unreachable = best_of(5, || {
        let status = std::process::Command::new(binary)
            .current_dir(dir.path())
            .args(["plan", "--output", "json"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(2));
    });
    let validate = best_of(5, || {
        let status = std::process::Command::new(binary)
            .current_dir(dir.path())
            .arg("validate")
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
    });
    println!(
        "plan of a generated {}-image catalog ({MIRRORS} mirrors, {BUILT} built), best of 5:",
        MIRRORS + BUILT
    );
    println!("  {:<38} {:>9}  {:>8}", "measure", "time", "target");
    println!(
        "  {:<38} {:>7.0}ms  {:>8}",
        "library: load+graph+resolve+plan",
        library.as_secs_f64() * 1e3,
        "< 1 s"
    );
    println!(
        "  {:<38} {:>7.0}ms  {:>8}",
        "`baseimg plan --offline --output json`",
        cli.as_secs_f64() * 1e3,
        "< 1 s"
    );
    println!(
        "  {:<38} {:>7.0}ms  {:>8}",
        "`plan`, private registry unreachable",
        unreachable.as_secs_f64() * 1e3,
        "< 3 s"
    );
    println!(
        "  {:<38} {:>7.0}ms  {:>8}",
        "`baseimg validate`",
        validate.as_secs_f64() * 1e3,
        "< 1 s"
    );
}
