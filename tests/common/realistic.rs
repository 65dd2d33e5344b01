//! Realistic upstream images for the example catalog: `scripts/fixture-images` makes stand-ins for
//! the official python, redis and postgres images from Debian's packages (no container registry is
//! reachable where the project is developed) and keeps them in the Docker daemon between runs. This
//! module pushes them to a test's "upstream" registry under the names the example catalog mirrors,
//! so the example's own templates, configuration and init scripts run on the real servers.
#![allow(dead_code)]

use std::process::Command;

/// What the example catalog mirrors (with `docker.io/` taken off) and which fixture stands in for it.
pub const EXAMPLE_UPSTREAM: [(&str, &str); 3] = [
    ("python", "library/python:3.11.9-slim-bookworm"),
    ("redis", "library/redis:7.2.4-bookworm"),
    ("postgres", "library/postgres:16.2-bookworm"),
];

/// The fixture images' local names, by what they stand in for (`python`, `redis`, `postgres`):
/// built on the first call on a machine (minutes), found in the daemon afterwards (a second).
pub fn fixture_images() -> Vec<(String, String)> {
    let script = super::repo_root().join("scripts/fixture-images");
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
    let names: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    EXAMPLE_UPSTREAM
        .iter()
        .map(|(image, _)| {
            let name = names
                .iter()
                .find(|name| name.starts_with(&format!("baseimg-fixture/{image}:")))
                .unwrap_or_else(|| panic!("scripts/fixture-images did not name a {image} image"));
            (image.to_string(), name.clone())
        })
        .collect()
}

/// Pushes the fixture images to `registry` under the example catalog's upstream names. The daemon
/// keeps no tag of `registry` afterwards: what a test later pulls from it is the test's own.
pub fn seed_example_upstream(registry: &str) {
    let fixtures = fixture_images();
    for (image, reference) in EXAMPLE_UPSTREAM {
        let fixture = &fixtures.iter().find(|(name, _)| name == image).unwrap().1;
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
