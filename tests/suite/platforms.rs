//! Multi-platform built images on the real daemon: the example's Redis and Postgres built for
//! linux/amd64 and linux/arm64 on two-platform mirrors (real arm64 Debian packages upstream), pushed as
//! one OCI index each and pulled back per platform; and a `RUN` step for a platform this machine
//! cannot execute, refused with what is missing.

use std::time::Duration;

use testkit::realistic::docker;
use testkit::{World, wait_until};

const TWO: &str = "    platforms: [linux/amd64, linux/arm64]\n";

/// The example with Redis and Postgres (mirrors and builds) on both platforms.
fn two_platform_world() -> World {
    let world = World::two_platform_example();
    world.edit_catalog(|catalog| {
        let mut catalog = catalog.to_string();
        for after in [
            "    repository: upstream/redis\n",
            "    repository: upstream/postgres\n",
            "    from: redis-upstream\n",
            "    from: postgres-upstream\n",
        ] {
            assert!(catalog.contains(after), "{after}");
            catalog = catalog.replacen(after, &format!("{after}{TWO}"), 1);
        }
        catalog
    });
    world
}

fn skopeo_json(args: &[&str]) -> serde_json::Value {
    serde_json::from_slice(&testkit::fixtures::skopeo_inspect(args)).unwrap()
}

fn layers(manifest: &serde_json::Value) -> Vec<String> {
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

/// The platform manifest of `reference`'s index for `architecture`, by digest.
fn child<'a>(index: &'a serde_json::Value, architecture: &str) -> &'a serde_json::Value {
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["platform"]["architecture"] == architecture)
        .unwrap_or_else(|| panic!("no {architecture} in {index:#}"))
}

#[test]
fn redis_and_postgres_build_for_two_platforms_as_one_index_each() {
    let world = two_platform_world();
    world.baseimg(&["lock"]).run();
    world.baseimg(&["mirror"]).run();
    let report = world
        .baseimg(&["build", "redis", "postgres", "--push", "--output", "json"])
        .run()
        .json();
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(report["built"], 2, "{report:#}");
    assert_eq!(report["builder"], "buildkit");

    let private = &world.private.host;
    for (image, tag, upstream) in [
        ("redis", "7.2.4", "upstream/redis:7.2.4-bookworm"),
        ("postgres", "16.2", "upstream/postgres:16.2-bookworm"),
    ] {
        let reference = format!("docker://{private}/base/{image}:{tag}");
        let index = skopeo_json(&["--raw", &reference]);
        assert_eq!(
            index["mediaType"], "application/vnd.oci.image.index.v1+json",
            "{index:#}"
        );
        let platforms: Vec<String> = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                format!(
                    "{}/{}",
                    m["platform"]["os"].as_str().unwrap(),
                    m["platform"]["architecture"].as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(platforms, ["linux/amd64", "linux/arm64"], "{index:#}");
        let mirror = skopeo_json(&["--raw", &format!("docker://{private}/base/{upstream}")]);
        for architecture in ["amd64", "arm64"] {
            let digest = child(&index, architecture)["digest"].as_str().unwrap();
            let by_digest = format!("docker://{private}/base/{image}@{digest}");
            let manifest = skopeo_json(&["--raw", &by_digest]);
            let config = skopeo_json(&["--config", &by_digest]);
            assert_eq!(
                config["architecture"], architecture,
                "{image} {architecture}"
            );
            assert!(
                config["config"]["Labels"]["io.baseimg.fingerprint"].is_string(),
                "{config:#}"
            );
            // Built on the parent's manifest for the same platform: its layers, then the team's.
            let parent_digest = child(&mirror, architecture)["digest"].as_str().unwrap();
            let parent = skopeo_json(&[
                "--raw",
                &format!(
                    "docker://{private}/base/{}@{parent_digest}",
                    upstream.split(':').next().unwrap()
                ),
            ]);
            let (ours, theirs) = (layers(&manifest), layers(&parent));
            assert!(
                ours.len() > theirs.len(),
                "{image} {architecture} adds layers"
            );
            assert_eq!(
                ours[..theirs.len()],
                theirs[..],
                "{image} {architecture} starts with its parent's layers"
            );
        }
        // Pulled back per platform, each is the image for that platform.
        let pullable = format!("{private}/base/{image}:{tag}");
        for architecture in ["arm64", "amd64"] {
            docker(&[
                "pull",
                "--quiet",
                "--platform",
                &format!("linux/{architecture}"),
                &pullable,
            ]);
            assert_eq!(
                docker(&[
                    "image",
                    "inspect",
                    "--format",
                    "{{.Architecture}}",
                    &pullable
                ]),
                architecture
            );
        }
    }
}

#[test]
fn a_run_step_for_a_platform_this_machine_cannot_execute_says_what_is_missing() {
    let world = two_platform_world();
    world.write(
        "templates/probe.Dockerfile.j2",
        "FROM {{ from }}\nRUN true\n",
    );
    world.write("images/probe/.keep", "");
    world.edit_catalog(|catalog| {
        format!(
            "{catalog}\n  probe:\n    from: redis-upstream\n    template: probe.Dockerfile.j2\n    tags: [\"1\"]\n{TWO}"
        )
    });
    world.baseimg(&["lock"]).run();
    world.baseimg(&["mirror", "redis-upstream"]).run();
    world
        .baseimg(&["build", "probe", "--push"])
        .status(1)
        .output_contains("a RUN step for linux/arm64 cannot run on this linux/amd64 daemon")
        .output_contains("binfmt_misc")
        .run();
    assert!(
        !testkit::fixtures::has_manifest(&world.private.host, "base/probe:1"),
        "nothing was promoted"
    );
}

/// The machine's own daemon, as baseimg would find it.
fn local_daemon() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into())
}

/// Lists the machine's daemon (two slots) and `second` (one, declared the arm64 builder) as the
/// catalog's builders.
fn with_arm64_builder(catalog: &str, second: &str) -> String {
    catalog.replacen(
        "\nimages:\n",
        &format!(
            "\nbuilders:\n  - host: {}\n    jobs: 2\n  - host: {second}\n    jobs: 1\n    platforms: [linux/arm64]\nimages:\n",
            local_daemon()
        ),
        1,
    )
}

/// Each platform of the index at `image:tag` in the private registry has that architecture in its
/// config.
fn assert_both_architectures(world: &World, image: &str, tag: &str) {
    let private = &world.private.host;
    let index = skopeo_json(&["--raw", &format!("docker://{private}/base/{image}:{tag}")]);
    for architecture in ["amd64", "arm64"] {
        let digest = child(&index, architecture)["digest"].as_str().unwrap();
        let config = skopeo_json(&[
            "--config",
            &format!("docker://{private}/base/{image}@{digest}"),
        ]);
        assert_eq!(config["architecture"], architecture, "{config:#}");
    }
}

#[test]
fn each_platform_builds_on_a_daemon_that_runs_it_natively() {
    let world = two_platform_world();
    let second = testkit::daemon::SecondDaemon::start();
    let local = local_daemon();
    // The second daemon declares itself the arm64 builder.
    world.edit_catalog(|catalog| with_arm64_builder(catalog, &second.host));
    world.baseimg(&["lock"]).run();
    world.baseimg(&["mirror"]).run();
    let report = world
        .baseimg(&["build", "redis", "--push", "--output", "json"])
        .run()
        .json();
    assert_eq!(report["ok"], true, "{report:#}");
    let logs = world.repo.path().join(".baseimg/logs");
    let run = std::fs::read_dir(&logs).unwrap().next().unwrap().unwrap();
    let log = std::fs::read_to_string(run.path().join("redis.log")).unwrap();
    assert!(
        log.contains(&format!("# building linux/arm64 on {}", second.host)),
        "{log}"
    );
    assert!(
        log.contains(&format!("# building linux/amd64 on {local}")),
        "{log}"
    );
    assert_both_architectures(&world, "redis", "7.2.4");
}

/// How many processes on the machine have exactly this command line.
fn processes_running(cmdline: &str) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter(|entry| {
            let line = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            String::from_utf8_lossy(&line).replace('\0', " ").trim() == cmdline
        })
        .count()
}

#[test]
fn the_platforms_build_at_once_and_one_whose_daemon_stops_is_built_on_another() {
    let world = two_platform_world();
    let mut second = testkit::daemon::SecondDaemon::start();
    let local = local_daemon();
    // A slow stage that runs on the build machine's own platform for either target
    // (`--platform=$BUILDPLATFORM`, as cross-compiling Dockerfiles do): the arm64 image can then be
    // built on this amd64 machine too, once its daemon is gone.
    let nonce = format!("{:?}", std::time::SystemTime::now());
    world.write(
        "templates/slow.Dockerfile.j2",
        &format!(
            "FROM --platform=$BUILDPLATFORM {{{{ from }}}} AS slow\nRUN sleep 9 && echo '{nonce}' > /slow\nFROM {{{{ from }}}}\nCOPY --from=slow /slow /slow\n"
        ),
    );
    world.edit_catalog(|catalog| {
        with_arm64_builder(catalog, &second.host) + &format!("\n  slow-redis:\n    from: redis\n    template: slow.Dockerfile.j2\n    tags: [\"1\"]\n{TWO}")
    });
    world.baseimg(&["lock"]).run();
    world.baseimg(&["mirror"]).run();
    let build = world
        .baseimg(&["build", "slow-redis", "--push", "--output", "json"])
        .stderr_contains(&format!(
            "builder {} stopped answering while building `slow-redis` for linux/arm64",
            second.host
        ))
        .spawn();
    // Both platforms' slow steps run at the same time, the arm64 one on the second daemon; then that
    // daemon is killed under its step.
    let together = wait_until(Duration::from_secs(240), Duration::from_millis(50), || {
        second.runs("sleep 9") && processes_running("sleep 9") >= 2
    });
    assert!(
        together,
        "the two platforms' steps never ran at the same time"
    );
    second.kill();
    let report = build.wait().json();
    assert_eq!(report["ok"], true, "{report:#}");
    let logs = world.repo.path().join(".baseimg/logs");
    let run = std::fs::read_dir(&logs).unwrap().next().unwrap().unwrap();
    let log = std::fs::read_to_string(run.path().join("slow-redis.log")).unwrap();
    for line in [
        format!("[linux/arm64] # building linux/arm64 on {}", second.host),
        format!("[linux/arm64] # building linux/arm64 on {local}"),
        format!("[linux/amd64] # building linux/amd64 on {local}"),
    ] {
        assert!(log.contains(&line), "{line}\n{log}");
    }
    assert_both_architectures(&world, "slow-redis", "1");
}
