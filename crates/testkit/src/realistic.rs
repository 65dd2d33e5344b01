//! Realistic upstream images for the example catalog: `scripts/fixture-images` makes stand-ins for
//! the official python, redis and postgres images from Debian's packages (no container registry is
//! reachable where the project is developed) and keeps them in the Docker daemon between runs. This
//! module pushes them to a test's "upstream" registry under the names the example catalog mirrors,
//! so the example's own templates, configuration and init scripts run on the real servers.
//! `scripts/fixture-images-arm64` makes linux/arm64 counterparts of redis and postgres (from Debian's
//! arm64 packages, never run here), which `seed_two_platform_upstream` publishes with the amd64 ones
//! as two-platform images.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::registry::Registry;

/// What the example catalog mirrors (with `docker.io/` taken off) and which fixture stands in for it.
pub const EXAMPLE_UPSTREAM: [(&str, &str); 3] = [
    ("python", "library/python:3.11.9-slim-bookworm"),
    ("redis", "library/redis:7.2.4-bookworm"),
    ("postgres", "library/postgres:16.2-bookworm"),
];

/// The fixture images' local names, by what they stand in for (`python`, `redis`, `postgres`):
/// built on the first call on a machine (minutes), found in the daemon afterwards (a second, once
/// per process: the tests that seed from them share the answer).
pub fn fixture_images() -> Vec<(String, String)> {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    let names = NAMES.get_or_init(|| run_fixture_script("scripts/fixture-images"));
    EXAMPLE_UPSTREAM
        .iter()
        .map(|(image, _)| {
            (
                image.to_string(),
                named(names, "baseimg-fixture", image, "scripts/fixture-images"),
            )
        })
        .collect()
}

/// The example's upstream images that also have a linux/arm64 fixture, `scripts/fixture-images-arm64`
/// (the two the example customizes without `RUN`).
pub const ARM64_UPSTREAM: [&str; 2] = ["redis", "postgres"];

/// The linux/arm64 fixture images' local names, by what they stand in for (`redis`, `postgres`):
/// Debian's arm64 packages, unpacked without running them, in the amd64 fixtures' shape. Built on the
/// first call on a machine (a minute or two), found in the daemon afterwards (once per process).
pub fn arm64_fixture_images() -> Vec<(String, String)> {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    let names = NAMES.get_or_init(|| run_fixture_script("scripts/fixture-images-arm64"));
    ARM64_UPSTREAM
        .iter()
        .map(|image| {
            (
                image.to_string(),
                named(
                    names,
                    "baseimg-fixture-arm64",
                    image,
                    "scripts/fixture-images-arm64",
                ),
            )
        })
        .collect()
}

/// Runs a fixture script of the repository; the names it prints, one a line.
fn run_fixture_script(path: &str) -> Vec<String> {
    let script = super::repo_root().join(path);
    let output = Command::new(&script)
        .stderr(std::process::Stdio::inherit())
        .output()
        .unwrap_or_else(|error| panic!("cannot run {}: {error}", script.display()));
    assert!(
        output.status.success(),
        "{} failed ({}); its messages are above",
        script.display(),
        output.status
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// The name in `names` of `repository`'s `image`.
fn named(names: &[String], repository: &str, image: &str, script: &str) -> String {
    names
        .iter()
        .find(|name| name.starts_with(&format!("{repository}/{image}:")))
        .unwrap_or_else(|| panic!("{script} did not name a {image} image"))
        .clone()
}

/// Pushes the local image `fixture` to `registry/reference`, leaving no tag of it behind.
fn push_as(fixture: &str, registry: &str, reference: &str) {
    let target = format!("{registry}/{reference}");
    docker(&["tag", fixture, &target]);
    let pushed = Command::new("docker")
        .args(["push", "--quiet", &target])
        .output()
        .expect("docker runs");
    docker(&["rmi", &target]);
    assert!(
        pushed.status.success(),
        "docker push {target}: {}",
        String::from_utf8_lossy(&pushed.stderr)
    );
}

/// Pushes the fixture images to `registry` under the example catalog's upstream names. The daemon
/// keeps no tag of `registry` afterwards: what a test later pulls from it is the test's own.
pub fn seed_example_upstream(registry: &str) {
    let fixtures = fixture_images();
    for (image, reference) in EXAMPLE_UPSTREAM {
        let fixture = &fixtures.iter().find(|(name, _)| name == image).unwrap().1;
        push_as(fixture, registry, reference);
    }
}

/// Does what [`seed_example_upstream`] does, then publishes redis and postgres again as two-platform
/// images, as their official images are: each tag becomes an image index (a Docker manifest list) of
/// the amd64 fixture's manifest, the very one [`seed_example_upstream`] pushes (same bytes, same
/// digest), for linux/amd64, and the arm64 fixture's for linux/arm64/v8. Python stays single-platform.
/// The registry must not want credentials (the index is stored with a plain HTTP PUT). The daemon
/// keeps no tag of `registry` afterwards.
pub fn seed_two_platform_upstream(registry: &str) {
    seed_example_upstream(registry);
    let arm64 = arm64_fixture_images();
    for image in ARM64_UPSTREAM {
        let reference = EXAMPLE_UPSTREAM
            .iter()
            .find(|(name, _)| *name == image)
            .unwrap()
            .1;
        let (repository, tag) = reference.split_once(':').unwrap();
        let amd64 = super::fixtures::raw_manifest(registry, reference);
        // The arm64 image goes to the same tag, which the index then replaces: the registry keeps both
        // manifests by digest, and no other tag is left behind.
        let fixture = &arm64.iter().find(|(name, _)| name == image).unwrap().1;
        push_as(fixture, registry, reference);
        let arm64_manifest = super::fixtures::raw_manifest(registry, reference);
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_DOCKER_LIST,
            "manifests": [
                descriptor(&amd64, serde_json::json!({"architecture": "amd64", "os": "linux"})),
                descriptor(
                    &arm64_manifest,
                    serde_json::json!({"architecture": "arm64", "os": "linux", "variant": "v8"}),
                ),
            ],
        });
        super::fixtures::put_manifest(
            registry,
            repository,
            tag,
            MEDIA_DOCKER_LIST,
            &serde_json::to_vec_pretty(&index).unwrap(),
        );
    }
}

/// A registry playing upstream that holds what [`seed_example_upstream`] pushes. Pushing the fixture
/// images costs the daemon some twenty seconds of compression, so it is done once per machine (and
/// set of fixture images): every such upstream starts on a copy of a seeded registry's storage, kept
/// beside the fixture images' layers (see [`seeded_storage`]), which takes a fraction of a second.
pub fn example_upstream() -> Registry {
    static DATA: OnceLock<PathBuf> = OnceLock::new();
    Registry::start_from(DATA.get_or_init(|| {
        let names: Vec<String> = fixture_images().into_iter().map(|(_, name)| name).collect();
        seeded_storage("example", &names, seed_example_upstream)
    }))
}

/// The same for [`seed_two_platform_upstream`]: redis and postgres as two-platform images.
pub fn two_platform_upstream() -> Registry {
    static DATA: OnceLock<PathBuf> = OnceLock::new();
    Registry::start_from(DATA.get_or_init(|| {
        let names: Vec<String> = fixture_images()
            .into_iter()
            .chain(arm64_fixture_images())
            .map(|(_, name)| name)
            .collect();
        seeded_storage("two-platform", &names, seed_two_platform_upstream)
    }))
}

/// The storage of a registry that `seed` filled from the fixture images `names`, kept in the fixture
/// scripts' cache directory as `upstream-KIND-KEY`, the key a hash of `names` and of this file (a
/// changed seed makes a new one). Made when missing, by a registry started for it; the entries of
/// `kind` under other keys are removed then, as the scripts remove their stale layers. Test runs at
/// the same time may each make it: the first to finish keeps its copy.
fn seeded_storage(kind: &str, names: &[String], seed: fn(&str)) -> PathBuf {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(include_str!("realistic.rs"));
    for name in names {
        hash.update(name);
        hash.update("\n");
    }
    let key = &hex::encode(hash.finalize())[..12];
    let cache = fixture_cache();
    let prefix = format!("upstream-{kind}-");
    let kept = cache.join(format!("{prefix}{key}"));
    if kept.is_dir() {
        return kept;
    }
    std::fs::create_dir_all(&cache).unwrap();
    let mut registry = Registry::start();
    seed(&registry.host);
    registry.stop();
    let partial = cache.join(format!("{prefix}{key}.partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&partial);
    super::copy_tree(&registry.data(), &partial);
    if std::fs::rename(&partial, &kept).is_err() {
        // Another run kept the same storage first.
        let _ = std::fs::remove_dir_all(&partial);
    }
    for entry in std::fs::read_dir(&cache).unwrap().filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        // A partial copy is stale once the run making it has ended.
        let stale = match rest.split_once(".partial-") {
            Some((_, pid)) => !Path::new("/proc").join(pid).exists(),
            None => rest != key,
        };
        if stale {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    kept
}

/// Where the fixture scripts keep what they made: `FIXTURE_CACHE_DIR`, else `baseimg-fixtures` in
/// the user's cache directory (`XDG_CACHE_HOME`, else `~/.cache`).
fn fixture_cache() -> PathBuf {
    let set = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    if let Some(dir) = set("FIXTURE_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    let cache = match set("XDG_CACHE_HOME") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(set("HOME").expect("HOME is set")).join(".cache"),
    };
    cache.join("baseimg-fixtures")
}

/// The media type of a Docker manifest list (an image index of Docker manifests).
pub const MEDIA_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// An index entry for `manifest` (its bytes as the registry serves them) on `platform`.
fn descriptor(manifest: &[u8], platform: serde_json::Value) -> serde_json::Value {
    use sha2::{Digest, Sha256};
    let media_type = serde_json::from_slice::<serde_json::Value>(manifest).unwrap()["mediaType"]
        .as_str()
        .expect("a pushed manifest names its media type")
        .to_string();
    serde_json::json!({
        "mediaType": media_type,
        "size": manifest.len(),
        "digest": format!("sha256:{}", hex::encode(Sha256::digest(manifest))),
        "platform": platform,
    })
}

/// Runs a docker command that must succeed; its standard output, trimmed.
pub fn docker(args: &[&str]) -> String {
    let output = Command::new("docker")
        .args(args)
        .output()
        .expect("docker runs");
    assert!(
        output.status.success(),
        "docker {} failed: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Publishes a new release of one of the example's upstream images under the same tag, as an
/// upstream publisher does: the fixture image with `instructions` added (a `LABEL` for a harmless
/// release, a `RUN` that breaks something for a bad one). Returns the new digest.
pub fn move_upstream(registry: &str, image: &str, instructions: &str) -> String {
    let fixtures = fixture_images();
    let fixture = &fixtures.iter().find(|(name, _)| name == image).unwrap().1;
    let reference = EXAMPLE_UPSTREAM
        .iter()
        .find(|(name, _)| *name == image)
        .unwrap()
        .1;
    let target = format!("{registry}/{reference}");
    let context = tempfile::tempdir().unwrap();
    std::fs::write(
        context.path().join("Dockerfile"),
        format!("FROM {fixture}\n{instructions}\n"),
    )
    .unwrap();
    docker(&[
        "build",
        "--quiet",
        "--tag",
        &target,
        &context.path().display().to_string(),
    ]);
    docker(&["push", "--quiet", &target]);
    docker(&["rmi", &target]);
    super::fixtures::manifest_digest(registry, reference)
}

/// Deletes one of the example's upstream tags, as a publisher who withdraws a release does.
pub fn withdraw_upstream(registry: &str, image: &str) {
    let reference = EXAMPLE_UPSTREAM
        .iter()
        .find(|(name, _)| *name == image)
        .unwrap()
        .1;
    let output = Command::new("skopeo")
        .args([
            "delete",
            "--tls-verify=false",
            &format!("docker://{registry}/{reference}"),
        ])
        .output()
        .expect("skopeo runs");
    assert!(
        output.status.success(),
        "skopeo delete: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
