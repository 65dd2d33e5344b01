//! Fingerprints over the example catalog: the same inputs give the same fingerprint wherever the
//! checkout lives, and a change reaches exactly the image it touches and what is built on it.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use baseimg::catalog::{Catalog, LoadOptions};
use baseimg::graph::Graph;
use baseimg::lock::LockFile;
use baseimg::plan::{Pin, Unlocked, resolve};

fn fingerprints(root: &Path) -> BTreeMap<String, String> {
    let (catalog, _) =
        Catalog::load(&root.join("base-images.yaml"), &LoadOptions::default()).unwrap();
    let graph = Graph::build(&catalog).unwrap();
    let lock = LockFile::load(&root.join("base-images.lock")).unwrap();
    let pins = resolve(&catalog, &lock, graph.order(), Unlocked::Unpin).unwrap();
    pins.into_iter()
        .filter_map(|(name, pin)| match pin {
            Pin::Built(built) => Some((name, built.fingerprint.to_string())),
            _ => None,
        })
        .collect()
}

/// The names whose fingerprint differs between two runs.
fn changed(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> Vec<String> {
    before
        .keys()
        .filter(|k| before[*k] != after[*k])
        .cloned()
        .collect()
}

#[test]
fn same_inputs_same_fingerprint_wherever_the_checkout_is() {
    let one = testkit::example_copy();
    let two = testkit::example_copy();
    let first = fingerprints(one.path());
    assert_eq!(first.len(), 4);
    assert_eq!(first, fingerprints(one.path()));
    assert_eq!(first, fingerprints(two.path()));
}

#[test]
fn a_context_file_changes_its_image_and_dependents_only() {
    let dir = testkit::example_copy();
    let before = fingerprints(dir.path());

    std::fs::write(
        dir.path().join("images/redis/redis.conf"),
        "appendonly no\n",
    )
    .unwrap();
    let after_redis = fingerprints(dir.path());
    assert_eq!(changed(&before, &after_redis), ["redis"]);

    std::fs::write(
        dir.path().join("images/api-base/pip.conf"),
        "[global]\ntimeout = 5\n",
    )
    .unwrap();
    let after_api = fingerprints(dir.path());
    assert_eq!(changed(&after_redis, &after_api), ["api-base"]);
}

#[test]
fn a_template_variable_changes_the_image_and_everything_built_on_it() {
    let dir = testkit::example_copy();
    let before = fingerprints(dir.path());
    let catalog = dir.path().join("base-images.yaml");
    let text = std::fs::read_to_string(&catalog)
        .unwrap()
        .replace("pip_version: \"24.0\"", "pip_version: \"24.1\"");
    std::fs::write(&catalog, text).unwrap();
    assert_eq!(
        changed(&before, &fingerprints(dir.path())),
        ["api-base", "python"]
    );
}

#[test]
fn a_new_upstream_digest_changes_what_is_built_on_it() {
    let dir = testkit::example_copy();
    let before = fingerprints(dir.path());
    let lock = dir.path().join("base-images.lock");
    let text = std::fs::read_to_string(&lock)
        .unwrap()
        .replace(&"3".repeat(64), &"9".repeat(64));
    std::fs::write(&lock, text).unwrap();
    assert_eq!(changed(&before, &fingerprints(dir.path())), ["postgres"]);
}

#[test]
fn the_executable_bit_counts_and_ignored_files_do_not() {
    let dir = testkit::example_copy();
    let before = fingerprints(dir.path());

    // .dockerignore of api-base drops __pycache__ and *.pyc: such files never reach the daemon.
    std::fs::create_dir_all(dir.path().join("images/api-base/__pycache__")).unwrap();
    std::fs::write(
        dir.path()
            .join("images/api-base/__pycache__/healthcheck.cpython-311.pyc"),
        "x",
    )
    .unwrap();
    std::fs::write(dir.path().join("images/api-base/notes.swp"), "x").unwrap();
    assert_eq!(fingerprints(dir.path()), before);

    let script = dir.path().join("images/postgres/initdb/02-extensions.sh");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(changed(&before, &fingerprints(dir.path())), ["postgres"]);

    // Group and other bits are not the file's content: a different umask gives the same fingerprint.
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert_eq!(fingerprints(dir.path()), before);
}

#[test]
fn a_new_file_in_a_context_changes_the_fingerprint() {
    let dir = testkit::example_copy();
    let before = fingerprints(dir.path());
    std::fs::write(
        dir.path().join("images/postgres/initdb/03-seed.sql"),
        "SELECT 1;\n",
    )
    .unwrap();
    assert_eq!(changed(&before, &fingerprints(dir.path())), ["postgres"]);
}

#[test]
fn smoke_checks_and_run_settings_do_not_change_a_fingerprint() {
    let dir = testkit::example_copy();
    let before = fingerprints(dir.path());
    let catalog = dir.path().join("base-images.yaml");
    let text = std::fs::read_to_string(&catalog).unwrap();
    let edited = text
        .replace(
            "contains: \"268435456\"",
            "contains: \"268435456\"\n        timeout: 5s",
        )
        .replace("127.0.0.1:6379:6379", "127.0.0.1:6380:6379");
    assert_ne!(text, edited);
    std::fs::write(&catalog, edited).unwrap();
    assert_eq!(
        changed(&before, &fingerprints(dir.path())),
        Vec::<String>::new()
    );
}
