//! The whole job on the example catalog, on a machine with no internet registry: a local "upstream"
//! registry stands in for Docker Hub, a local private registry plays the team's, and baseimg runs
//! lock → mirror → build --push → outdated exactly as a nightly job would.
//!
//! Run: `cargo run --release --example demo` (needs docker-registry, skopeo, busybox-static and a
//! Docker daemon; `scripts/demo` installs and starts them).
//!
//! No image can be pulled from the internet here, so the upstream images the example catalog names
//! (python, redis, postgres) are stand-ins made locally: a static busybox plus small shims for the
//! commands the example templates run (`python -m pip`, `python -m venv`, `groupadd`, `useradd`). The
//! catalog, templates and build files are the repository's own; only the upstream host is rewritten
//! from `docker.io` to the local stand-in, and the private registry is given with `--registry`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;

use common::fixtures::Layout;
use common::registry::Registry;

const PYTHON_SHIM: &str = r#"#!/bin/sh
# Demo stand-in for CPython: supports what the example templates run, nothing more.
case "$1 $2" in
  "-m pip") echo "pip (demo stand-in): $*"; exit 0 ;;
  "-m venv") mkdir -p "$3/bin" && echo '#!/bin/sh' > "$3/bin/activate"; exit 0 ;;
  "--version ") echo "Python 3.11.9 (demo stand-in)"; exit 0 ;;
esac
echo "python (demo stand-in) cannot run: $*" >&2
exit 1
"#;

const GROUPADD_SHIM: &str = r#"#!/bin/sh
# Demo stand-in for groupadd: `groupadd [--system] --gid GID NAME`.
gid=""
while [ $# -gt 1 ]; do
  case "$1" in --gid) gid="$2"; shift ;; esac
  shift
done
echo "$1:x:${gid:-1000}:" >> /etc/group
"#;

const USERADD_SHIM: &str = r#"#!/bin/sh
# Demo stand-in for useradd: `useradd [--system] --uid UID --gid GROUP --home-dir DIR [--create-home] --shell SH NAME`.
uid=""; group=""; home=""; shell="/bin/sh"; create=""
while [ $# -gt 1 ]; do
  case "$1" in
    --uid) uid="$2"; shift ;;
    --gid) group="$2"; shift ;;
    --home-dir) home="$2"; shift ;;
    --shell) shell="$2"; shift ;;
    --create-home) create=1 ;;
  esac
  shift
done
gid=$(grep "^$group:" /etc/group | head -n 1 | sed 's/^[^:]*:[^:]*:\([^:]*\):.*/\1/')
echo "$1:x:${uid:-1000}:${gid:-1000}::${home:-/home/$1}:$shell" >> /etc/passwd
[ -n "$create" ] && mkdir -p "${home:-/home/$1}" && chown "${uid:-1000}:${gid:-1000}" "${home:-/home/$1}"
exit 0
"#;

const SERVER_SHIM: &str = "#!/bin/sh\necho \"demo stand-in: $(basename \"$0\") is not a real server\" >&2\nexec sleep 3600\n";

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

    println!("seeding the upstream stand-ins the example catalog names…");
    let python_files: &[(&str, &str, u32)] = &[
        ("usr/local/bin/python", PYTHON_SHIM, 0o755),
        ("usr/sbin/groupadd", GROUPADD_SHIM, 0o755),
        ("usr/sbin/useradd", USERADD_SHIM, 0o755),
        ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", 0o644),
        ("etc/group", "root:x:0:\n", 0o644),
    ];
    Layout::runnable(1, &["amd64", "arm64"], python_files).push(
        &upstream.host,
        "library/python",
        "3.11.9-slim-bookworm",
    );
    Layout::runnable(
        2,
        &["amd64"],
        &[("usr/local/bin/redis-server", SERVER_SHIM, 0o755)],
    )
    .push(&upstream.host, "library/redis", "7.2.4-bookworm");
    Layout::runnable(
        3,
        &["amd64"],
        &[("usr/local/bin/postgres", SERVER_SHIM, 0o755)],
    )
    .push(&upstream.host, "library/postgres", "16.2-bookworm");

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
