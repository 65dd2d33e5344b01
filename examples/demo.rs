//! The whole job on the example catalog, on a machine with no internet registry: a local "upstream"
//! registry stands in for Docker Hub, a local private registry plays the team's, and baseimg runs
//! lock → mirror → build --push (smoke checks included) → outdated exactly as a nightly job would;
//! then runs the example's Redis and PostgreSQL with `baseimg run`, asks them what the catalog
//! promised, and takes them down.
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

use std::path::Path;

use testkit::realistic::{move_upstream, seed_example_upstream};
use testkit::registry::Registry;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    testkit::copy_tree(from, to);
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

/// Asks the running services what the catalog promised: Redis over its published port, as an
/// application would; PostgreSQL through `psql` in its container.
fn query_services(redis_port: u16) {
    use std::io::{Read, Write};
    let mut redis = std::net::TcpStream::connect(("127.0.0.1", redis_port)).unwrap();
    redis.write_all(b"CONFIG GET maxmemory-policy\r\n").unwrap();
    let mut answer = [0u8; 256];
    let n = redis.read(&mut answer).unwrap();
    let words: Vec<String> = String::from_utf8_lossy(&answer[..n])
        .lines()
        .filter(|l| !l.starts_with(['*', '$']))
        .map(str::to_string)
        .collect();
    println!("\n$ redis: CONFIG GET maxmemory-policy  (127.0.0.1:{redis_port})");
    println!("{}", words.join(" "));
    let sql = "SELECT string_agg(extname, ', ' ORDER BY extname) FROM pg_extension";
    println!("\n$ docker exec demo-postgres psql -U postgres -d app -tAc \"{sql}\"");
    let output = std::process::Command::new("docker")
        .args([
            "exec",
            "demo-postgres",
            "psql",
            "-U",
            "postgres",
            "-d",
            "app",
            "-tAc",
            sql,
        ])
        .output()
        .unwrap();
    print!("{}", String::from_utf8_lossy(&output.stdout));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn main() {
    let root = testkit::repo_root();
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
    // Its services get names, volumes and host ports of their own, so the demo meets neither a
    // Redis or PostgreSQL already running here nor the containers of a real `make redis`.
    let (redis_port, postgres_port) = (testkit::free_port(), testkit::free_port());
    let catalog = std::fs::read_to_string(root.join("base-images.yaml"))
        .unwrap()
        .replace("docker.io/library/", &format!("{}/library/", upstream.host))
        .replace(
            "ports: [\"127.0.0.1:6379:6379\"]",
            &format!("name: demo-redis\n      ports: [\"127.0.0.1:{redis_port}:6379\"]"),
        )
        .replace(
            "ports: [\"127.0.0.1:5432:5432\"]",
            &format!("name: demo-postgres\n      ports: [\"127.0.0.1:{postgres_port}:5432\"]"),
        )
        .replace("baseimg-redis-data", "demo-redis-data")
        .replace("baseimg-postgres-data", "demo-postgres-data");
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

    // The nightly job: nothing new upstream, then the Redis publisher ships a new image under the
    // same tag; `refresh` adopts it, rebuilds what is built on it, checks, pushes, promotes, and
    // writes the lock file and its report.
    step(&registry, &["refresh"]);
    println!("\n# upstream publishes a new redis:7.2.4-bookworm");
    move_upstream(&upstream.host, "redis", "LABEL org.example.rebuild=\"2\"");
    let started = std::time::Instant::now();
    step(&registry, &["refresh"]);
    let seconds = started.elapsed().as_secs_f64();
    let report = latest_report(&work);
    summarize_refresh(&report, seconds);

    // The `make redis` / `make postgres` replacement: started by digest, returned once they answer.
    step(&registry, &["run", "redis", "postgres"]);
    step(&registry, &["ps"]);
    query_services(redis_port);
    step(&registry, &["down", "--volumes"]);

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
        "  refresh reports:  {}",
        work.join(".baseimg/reports").display()
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

/// The newest refresh report directory.
fn latest_report(work: &Path) -> std::path::PathBuf {
    let mut runs: Vec<std::path::PathBuf> = std::fs::read_dir(work.join(".baseimg/reports"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    runs.sort();
    runs.pop().expect("refresh wrote a report")
}

/// What the refresh after one upstream moved cost: wall time and upstream requests by kind.
fn summarize_refresh(report: &Path, seconds: f64) {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("report.json")).unwrap())
            .unwrap();
    let upstream = &json["requests"]["upstream"];
    println!(
        "\nrefresh after one upstream moved: {seconds:.1}s wall; upstream requests: {} manifest HEADs, {} manifest GETs, {} blob GETs, {} token requests",
        upstream["manifest_heads"],
        upstream["manifest_gets"],
        upstream["blob_gets"],
        upstream["token_requests"]
    );
    println!(
        "report.md:\n{}",
        std::fs::read_to_string(report.join("report.md")).unwrap()
    );
    println!("report.html: {}", report.join("report.html").display());
}
