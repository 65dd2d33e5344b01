//! One daemon against two, side by side, with the same total number of build slots: the sleep-bound
//! DAG of `cargo bench --bench build` (what scheduling over daemons costs or saves when builds wait),
//! and a CPU-bound DAG whose steps compress random data (what a second daemon adds when builds need
//! CPU). The second daemon runs beside the machine's own (see `crates/testkit/src/daemon.rs`), so both share
//! this machine's cores: the CPU-bound figure shows the cost of the split, not the gain a second
//! machine would bring. Then the sleep-bound DAG on the second daemon alone, once through its unix
//! socket and once through `ssh://` (an sshd on 127.0.0.1 in front of it): what the ssh transport
//! costs a run.
//!
//! Run: `cargo bench --bench builders` (as root, like the tests: it starts a second `dockerd`).

use std::fmt::Write as _;
use std::path::Path;

use testkit::daemon::SecondDaemon;
use testkit::fixtures::Layout;
use testkit::registry::Registry;
use testkit::sshd::SshServer;

fn baseimg(repo: &Path, args: &[&str], ssh_command: &str) -> f64 {
    testkit::harness::timed(repo, args, &[("BASEIMG_SSH_COMMAND", ssh_command)]).0
}

/// Writes a catalog of `images` (name, parent) built from `step`, with a nonce so no run finds
/// another's images or build cache.
fn write_catalog(
    repo: &Path,
    registry: &str,
    upstream: &str,
    images: &[(&str, &str)],
    step: &str,
    nonce: &str,
) {
    std::fs::create_dir_all(repo.join("templates")).unwrap();
    std::fs::write(
        repo.join("templates/step.Dockerfile.j2"),
        format!(
            "FROM {{{{ from }}}}\nRUN {step} && echo '{{{{ image.name }}}} {nonce}' > /built\n"
        ),
    )
    .unwrap();
    let mut catalog = format!(
        "registry: {registry}/bench\nimages:\n  base:\n    mirror: {upstream}/library/busybox:1.35\n"
    );
    for (name, parent) in images {
        let _ = write!(
            catalog,
            "  {name}:\n    from: {parent}\n    template: step.Dockerfile.j2\n    tags: [\"1\"]\n"
        );
    }
    std::fs::write(repo.join("base-images.yaml"), catalog).unwrap();
}

fn main() {
    let upstream = Registry::start();
    let private = Registry::start();
    Layout::busybox(41).push(&upstream.host, "library/busybox", "1.35");
    let second = SecondDaemon::start();
    let sshd = SshServer::start();
    let ssh_command = sshd.ssh_command();
    let local =
        std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
    let nonce = format!("{:?}", std::time::SystemTime::now());
    let repo = tempfile::tempdir().unwrap();

    let sleep_dag = [
        ("a1", "base"),
        ("a2", "a1"),
        ("b1", "base"),
        ("b2", "b1"),
        ("c1", "base"),
        ("c2", "c1"),
        ("d1", "base"),
    ];
    let cpu_dag = [
        ("z1", "base"),
        ("z2", "base"),
        ("z3", "base"),
        ("z4", "base"),
    ];
    let cpu_step = "head -c 150000000 /dev/urandom | gzip -6 > /dev/null";

    let run = |images: &[(&str, &str)], step: &str, label: &str, hosts: &[&str], jobs: &str| {
        write_catalog(
            repo.path(),
            &private.host,
            &upstream.host,
            images,
            step,
            &format!("{nonce}-{label}"),
        );
        baseimg(repo.path(), &["lock"], &ssh_command);
        baseimg(repo.path(), &["mirror"], &ssh_command);
        let mut args = vec!["build", "--push", "--jobs", jobs];
        for host in hosts {
            args.extend(["--builder-host", host]);
        }
        baseimg(repo.path(), &args, &ssh_command)
    };
    let two = [local.as_str(), second.host.as_str()];
    let sleep_one = run(&sleep_dag, "sleep 3", "sleep-one", &[&local], "4");
    let sleep_two = run(&sleep_dag, "sleep 3", "sleep-two", &two, "2");
    let cpu_one = run(&cpu_dag, cpu_step, "cpu-one", &[&local], "2");
    let cpu_two = run(&cpu_dag, cpu_step, "cpu-two", &two, "1");
    let over_ssh = sshd.address_of(&second.host);
    let sleep_unix = run(&sleep_dag, "sleep 3", "sleep-unix", &[&second.host], "4");
    let sleep_ssh = run(&sleep_dag, "sleep 3", "sleep-ssh", &[&over_ssh], "4");

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "\nsame total slots, BuildKit, --push (parents pass through the registry); {cores} cores"
    );
    println!("  {:<58} {:>8} {:>8}", "", "1 daemon", "2 daemons");
    println!(
        "  {:<58} {:>7.1}s {:>7.1}s",
        "sleep-bound DAG (7 × `RUN sleep 3`, width 4, depth 2), 4 slots", sleep_one, sleep_two
    );
    println!(
        "  {:<58} {:>7.1}s {:>7.1}s",
        "CPU-bound DAG (4 × gzip of 150 MB of random data), 2 slots", cpu_one, cpu_two
    );
    println!("\nthe second daemon alone, 4 slots, BuildKit, --push");
    println!("  {:<58} {:>8} {:>8}", "", "unix://", "ssh://");
    println!(
        "  {:<58} {:>7.1}s {:>7.1}s",
        "sleep-bound DAG (7 × `RUN sleep 3`, width 4, depth 2)", sleep_unix, sleep_ssh
    );
    drop(sshd);
    drop(second);
    private.remove_local_images();
}
