//! What baseimg's integration tests (`tests/suite`), benchmarks and demo run against: the harness
//! that runs the binary, the registries, proxy, second daemon, ssh server and upstream fixtures it
//! runs against, the [`World`] most tests build on, and the file-tree and waiting helpers they share.
//! A dev-dependency only: the baseimg library never depends on it.

pub mod daemon;
pub mod fixtures;
pub mod harness;
pub mod proxy;
pub mod realistic;
pub mod registry;
pub mod soak;
pub mod sshd;
pub mod world;

pub use world::World;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Copies a directory tree (files, directories and symlinks as they are).
pub fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from).min_depth(1).sort_by_file_name() {
        let entry = entry.unwrap();
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        let file_type = entry.file_type();
        if file_type.is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else if file_type.is_symlink() {
            let _ = std::fs::remove_file(&target);
            std::os::unix::fs::symlink(std::fs::read_link(entry.path()).unwrap(), &target).unwrap();
        } else {
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Every path below `root` with its content (or link target) and mode: two equal snapshots mean
/// nothing was created, removed or changed.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, (Vec<u8>, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut files = BTreeMap::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.unwrap();
        let metadata = entry.path().symlink_metadata().unwrap();
        let content = if metadata.file_type().is_symlink() {
            std::fs::read_link(entry.path())
                .unwrap()
                .into_os_string()
                .into_encoded_bytes()
        } else if metadata.is_file() {
            std::fs::read(entry.path()).unwrap()
        } else {
            Vec::new()
        };
        files.insert(
            entry.path().strip_prefix(root).unwrap().to_path_buf(),
            (content, metadata.permissions().mode()),
        );
    }
    files
}

/// The repository's root directory (this crate lives in its `crates/testkit`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the test-support crate lives two levels below the repository's root")
        .to_path_buf()
}

/// A copy of the example catalog (catalog, templates, images) with the test lock file, in a fresh
/// temporary directory.
pub fn example_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = repo_root();
    std::fs::copy(
        root.join("base-images.yaml"),
        dir.path().join("base-images.yaml"),
    )
    .unwrap();
    std::fs::copy(
        root.join("tests/fixtures/example.lock"),
        dir.path().join("base-images.lock"),
    )
    .unwrap();
    for sub in ["templates", "images"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        copy_tree(&root.join(sub), &dir.path().join(sub));
    }
    dir
}

/// An htpasswd file with one user (bcrypt, as the registry wants), for a registry that needs login.
pub fn htpasswd(dir: &Path, user: &str, password: &str) -> PathBuf {
    let path = dir.join("htpasswd");
    std::fs::write(
        &path,
        format!("{user}:{}\n", bcrypt::hash(password, 4).unwrap()),
    )
    .unwrap();
    path
}

/// Writes a Docker client configuration (`auths`) with credentials for `registry`, as `docker login` would.
pub fn docker_config(config_dir: &Path, registry: &str, user: &str, password: &str) {
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let config = serde_json::json!({ "auths": { registry: { "auth": auth } } });
    std::fs::write(config_dir.join("config.json"), config.to_string()).unwrap();
}

/// A free TCP port on the loopback address (free now; the caller takes it right away).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Asks `ready` every `every` until it says yes or `within` has passed; whether it said yes. The one
/// way tests, benchmarks and fixtures wait for something to happen (a server to answer, a build to
/// reach a step, a process to end): the caller asserts on the answer in its own words, or `ready`
/// panics itself to stop waiting at once (a container that exited will never answer).
#[must_use = "a wait that timed out says so only in its answer"]
pub fn wait_until(
    within: std::time::Duration,
    every: std::time::Duration,
    mut ready: impl FnMut() -> bool,
) -> bool {
    let deadline = std::time::Instant::now() + within;
    loop {
        if ready() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(every);
    }
}
