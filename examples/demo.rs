//! The whole job on the example catalog, on a machine with no internet registry: a local "upstream"
//! registry stands in for Docker Hub, a local private registry plays the team's, and baseimg runs
//! lock → mirror → build --push → outdated exactly as a nightly job would.
//!
//! Run: `cargo run --release --example demo` (needs docker-registry, debootstrap and a Docker daemon;
//! `scripts/demo` installs and starts them).
//!
//! No image can be pulled from the internet here, so the upstream images the example catalog names
//! (python, redis, postgres) are realistic stand-ins made from Debian's packages by
//! `scripts/fixture-images` (the first run on a machine builds them, later runs reuse them): the real
//! servers and Python behind the official images' entrypoints, so the demo builds the real thing. The
//! catalog, templates and build files are the repository's own; only the upstream host is rewritten
//! from `docker.io` to the local stand-in, and the private registry is given with `--registry`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;

use common::realistic::seed_example_upstream;
use common::registry::Registry;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    common::copy_tree(from, to);
}

/// Runs one baseimg command in-process, in the demo repository, and stops the demo if it failed.
fn step(registry: &str, args: &[&str]) {
    println!("\n$ baseimg --registry {registry} {}", args.join(" "));
    let words: Vec<String> = ["baseimg", "--registry", registry, "--progress", "plain"]
        .iter()
        .chain(args)
        .map(|w| w.to_string())
        .collect();
    let code = baseimg::cli::main_with(words);
    if code != 0 {
        eprintln!("baseimg {} exited {code}", args.join(" "));
        std::process::exit(1);
    }
}

fn main() {
    let root = common::repo_root();
    let upstream = Registry::start();
    let private = Registry::start();
    println!("upstream stand-in for docker.io: {}", upstream.host);
    println!("private registry:                {}", private.host);

    println!("seeding the upstream stand-ins the example catalog names (scripts/fixture-images)…");
    seed_example_upstream(&upstream.host);

    // The repository's own catalog, templates and build files, with docker.io pointed at the stand-in.
    let work = root.join("target/demo");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let catalog = std::fs::read_to_string(root.join("base-images.yaml"))
        .unwrap()
        .replace("docker.io/library/", &format!("{}/library/", upstream.host));
    std::fs::write(work.join("base-images.yaml"), catalog).unwrap();
    copy_dir(&root.join("templates"), &work.join("templates"));
    copy_dir(&root.join("images"), &work.join("images"));
    let registry = format!("{}/base", private.host);

    std::env::set_current_dir(&work).unwrap();
    step(&registry, &["validate"]);
    step(&registry, &["lock"]);
    step(&registry, &["mirror"]);
    step(&registry, &["plan"]);
    step(&registry, &["build", "--push"]);
    step(&registry, &["build", "--push"]);
    step(&registry, &["outdated"]);

    println!("\nDone. What happened, and where it is:");
    println!(
        "  lock file:        {}",
        work.join("base-images.lock").display()
    );
    println!(
        "  build logs:       {}",
        work.join(".baseimg/logs").display()
    );
    println!(
        "  images (local):   docker images '{}/base/*'",
        private.host
    );
    println!(
        "  e.g.              docker inspect {}/base/redis:7.2",
        private.host
    );
    println!("The two registries stop now; the built images stay in the local Docker daemon.");
}
