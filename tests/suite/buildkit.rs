//! The builders on the real daemon: the example catalog built with BuildKit and with the classic
//! builder, and a build secret that the build can use and that is found nowhere afterwards — not in
//! any layer or the config of the pushed image pulled back, not in `docker history`, not in the
//! logs or the output.

use std::io::Read;
use std::process::Command;

use testkit::World;
use testkit::realistic::docker;

/// The example's first build --push with `builder`, and what its report says.
fn build_example(builder: &str) -> (World, serde_json::Value) {
    let world = World::example();
    world.baseimg(&["lock"]).run();
    world.baseimg(&["mirror"]).run();
    let report = world
        .baseimg(&["build", "--push", "--builder", builder, "--output", "json"])
        .run()
        .json();
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(report["built"], 4, "{report:#}");
    (world, report)
}

fn log_of(world: &World, image: &str) -> String {
    let logs = world.repo.path().join(".baseimg/logs");
    let run = std::fs::read_dir(&logs).unwrap().next().unwrap().unwrap();
    std::fs::read_to_string(run.path().join(format!("{image}.log"))).unwrap()
}

#[test]
fn buildkit_builds_the_example_and_says_so() {
    let (world, report) = build_example("buildkit");
    assert_eq!(report["builder"], "buildkit");
    // BuildKit's steps, numbered as `docker build --progress plain` writes them.
    let log = log_of(&world, "redis");
    assert!(
        log.contains("] COPY redis.conf /usr/local/etc/redis/redis.conf"),
        "{log}"
    );
    let finished = regex::Regex::new(r"^#\d+ (DONE \d+\.\ds|CACHED)$").unwrap();
    assert!(log.lines().any(|l| finished.is_match(l)), "{log}");
    assert!(
        !log.contains("Step 1/"),
        "not the classic builder's steps:\n{log}"
    );
    // Its checks ran on the BuildKit-built image before the push (the report lists them).
    let redis = report["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["image"] == "redis")
        .unwrap();
    assert_eq!(
        redis["checks"].as_array().map(Vec::len),
        Some(3),
        "{redis:#}"
    );
}

#[test]
fn the_classic_builder_refuses_a_cache_mount_and_builds_the_example_without_it() {
    let world = World::example();
    world.baseimg(&["lock"]).run();
    world.baseimg(&["mirror"]).run();
    // The example's Python template keeps pip's downloads in a cache mount: refused before anything
    // is built, with the line named.
    world
        .baseimg(&["build", "--push", "--builder", "classic"])
        .status(2)
        .stderr_contains("`python` needs BuildKit: line 14 of its Dockerfile uses `RUN --mount`, which the classic builder cannot run")
        .run();
    assert!(
        !world.repo.path().join(".baseimg/logs").exists(),
        "nothing was built"
    );
    // A team on the classic builder writes the step without it.
    let template = world.read("templates/python.Dockerfile.j2");
    let without = template.replace(
        "RUN --mount=type=cache,target=/root/.cache/pip \\\n    ",
        "RUN ",
    );
    assert_ne!(template, without);
    world.write("templates/python.Dockerfile.j2", &without);
    let report = world
        .baseimg(&[
            "build",
            "--push",
            "--builder",
            "classic",
            "--output",
            "json",
        ])
        .run()
        .json();
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(report["built"], 4, "{report:#}");
    assert_eq!(report["builder"], "classic");
    assert!(log_of(&world, "redis").contains("Step 1/"));
}

/// A build secret's value: what must be usable in the build and found nowhere after it.
const TOKEN: &str = "tok-7Qx9-index-credential-4f1c";

/// The example world with one more image that uses a secret in a `RUN` step: it records the
/// secret's hash (proof that the step could read it) and prints the secret (which the log must mask).
fn world_with_a_secret() -> World {
    let world = World::example();
    // A step of its own in every world: BuildKit does not run (nor ask for the secret of) a step it
    // has cached.
    let nonce = format!("{:?}", std::time::SystemTime::now());
    world.write(
        "templates/token-user.Dockerfile.j2",
        &format!(
            "FROM {{{{ from }}}}\n\
             RUN --mount=type=secret,id=index_token \\\n    \
             sha256sum /run/secrets/index_token | cut -c1-64 > /token-was-usable \\\n \
             && echo \"the token is $(cat /run/secrets/index_token)\" && echo '{nonce}'\n"
        ),
    );
    world.write("images/token-user/.keep", "");
    world.edit_catalog(|catalog| {
        format!(
            "{catalog}\n  token-user:\n    from: redis-upstream\n    template: token-user.Dockerfile.j2\n    tags: [\"1\"]\n    secrets:\n      index_token: {{ env: BASEIMG_TEST_INDEX_TOKEN }}\n"
        )
    });
    world
}

#[test]
fn a_secret_is_usable_in_the_build_and_found_nowhere_after_it() {
    let world = world_with_a_secret();
    world.baseimg(&["lock"]).run();
    world.baseimg(&["mirror"]).run();
    let output = world
        .baseimg(&["build", "token-user", "--push", "--builder", "buildkit"])
        .env("BASEIMG_TEST_INDEX_TOKEN", TOKEN)
        .run();
    assert!(!output.stdout.contains(TOKEN) && !output.stderr.contains(TOKEN));

    // The step could read it: the image holds the token's hash.
    let reference = format!("{}/base/token-user:1", world.private.host);
    let _ = Command::new("docker").args(["rmi", &reference]).output();
    docker(&["pull", "--quiet", &reference]);
    let usable = docker(&["run", "--rm", &reference, "cat", "/token-was-usable"]);
    let expected = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(TOKEN.as_bytes()))
    };
    assert_eq!(usable, expected);

    // Nowhere in the pushed image: every layer and the config, as `docker save` exports them.
    let saved = Command::new("docker")
        .args(["save", &reference])
        .output()
        .unwrap();
    assert!(saved.status.success());
    let mut archive = tar::Archive::new(saved.stdout.as_slice());
    let mut members = 0;
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        members += 1;
        assert!(
            !contains(&bytes, TOKEN.as_bytes()),
            "the secret is in {name} of the pushed image"
        );
    }
    assert!(
        members > 3,
        "docker save exported the layers and the config"
    );
    let history = docker(&["history", "--no-trunc", &reference]);
    assert!(!history.contains(TOKEN), "{history}");
    let inspect = docker(&["inspect", &reference]);
    assert!(!inspect.contains(TOKEN));

    // Not in the logs: the step printed it, the log shows it masked.
    let log = log_of(&world, "token-user");
    assert!(!log.contains(TOKEN), "{log}");
    assert!(log.contains("the token is ***"), "{log}");
    // Nor in anything else baseimg wrote.
    for entry in walkdir::WalkDir::new(world.repo.path()) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let bytes = std::fs::read(entry.path()).unwrap();
            assert!(
                !contains(&bytes, TOKEN.as_bytes()),
                "{}",
                entry.path().display()
            );
        }
    }
}

#[test]
fn a_secret_needs_buildkit_and_a_missing_one_is_named() {
    let world = world_with_a_secret();
    world.baseimg(&["lock"]).run();
    world.baseimg(&["mirror"]).run();
    world
        .baseimg(&["build", "token-user", "--builder", "classic"])
        .env("BASEIMG_TEST_INDEX_TOKEN", TOKEN)
        .status(2)
        .stderr_contains("`token-user` uses build secrets (`index_token`), which the classic builder cannot pass")
        .output_lacks(TOKEN)
        .run();
    world
        .baseimg(&["build", "token-user", "--builder", "buildkit"])
        .env_remove("BASEIMG_TEST_INDEX_TOKEN")
        .status(1)
        .output_contains("BASEIMG_TEST_INDEX_TOKEN, which is not set")
        .run();
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
