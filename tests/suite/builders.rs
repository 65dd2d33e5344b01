//! Builds over several Docker daemons: the machine's own and a second `dockerd` started for the test
//! (see [`testkit::daemon`]). Images go to whichever daemon has a slot free, preferring the one that
//! built the parent; a child built on the other daemon takes its parent from the private registry.
//! A listed daemon that cannot be reached is left out; none answering stops the run at once.

use std::time::Duration;

use testkit::daemon::SecondDaemon;
use testkit::fixtures::Layout;
use testkit::sshd::SshServer;
use testkit::{World, wait_until};

const UNREACHABLE: &str = "unix:///nonexistent/baseimg-test/docker.sock";

/// The machine's own daemon, as baseimg would find it.
fn local_daemon() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into())
}

/// A parent and three children, each a `RUN sleep 2`, long enough for the children to overlap.
fn world() -> World {
    sleeping_world(2)
}

/// The same with `RUN sleep <seconds>`: locked and mirrored, runs use a Docker configuration of the
/// world's own.
fn sleeping_world(seconds: u32) -> World {
    let world = World::new().with_docker_config();
    Layout::busybox(31).push(&world.upstream.host, "library/busybox", "1.35");
    let nonce = format!("{:?}", std::time::SystemTime::now());
    world.write(
        "templates/step.Dockerfile.j2",
        &format!(
            "FROM {{{{ from }}}}\nRUN sleep {seconds} && echo '{{{{ image.name }}}} {nonce}' > /built\n"
        ),
    );
    let mut catalog = format!(
        "registry: {}/base\nimages:\n  base:\n    mirror: {}/library/busybox:1.35\n  parent:\n    from: base\n    template: step.Dockerfile.j2\n    tags: [\"1\"]\n",
        world.private.host, world.upstream.host
    );
    for child in ["child-a", "child-b", "child-c"] {
        catalog.push_str(&format!(
            "  {child}:\n    from: parent\n    template: step.Dockerfile.j2\n    tags: [\"1\"]\n"
        ));
    }
    world.write("base-images.yaml", &catalog);
    world.baseimg(&["lock"]).run();
    world.baseimg(&["mirror"]).run();
    world
}

fn builder_of<'a>(report: &'a serde_json::Value, image: &str) -> &'a str {
    report["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["image"] == image)
        .and_then(|i| i["builder"].as_str())
        .unwrap_or_else(|| panic!("no builder for {image}: {report:#}"))
}

#[test]
fn images_spread_over_two_daemons_and_a_child_takes_its_parent_from_the_registry() {
    let world = world();
    let second = SecondDaemon::start();
    let local = local_daemon();
    let report = world
        .baseimg(&["build", "--push", "--jobs", "1", "--output", "json"])
        .args(["--builder-host", &local, "--builder-host", &second.host])
        .run()
        .json();
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(report["built"], 4, "{report:#}");
    let parent = builder_of(&report, "parent");
    let children: Vec<&str> = ["child-a", "child-b", "child-c"]
        .iter()
        .map(|c| builder_of(&report, c))
        .collect();
    // Both daemons built; one slot each, so the three children cannot all wait for the parent's.
    assert!(children.contains(&local.as_str()), "{report:#}");
    assert!(children.contains(&second.host.as_str()), "{report:#}");
    assert!(
        children.contains(&parent),
        "the parent's daemon builds a child too"
    );
    // A child built on the other daemon is built on the parent as pushed: the second daemon has it
    // by the registry digest, and the child's base label names that digest.
    let parent_digest = report["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["image"] == "parent")
        .and_then(|i| i["digest"].as_str())
        .unwrap()
        .to_string();
    let (elsewhere, daemon) = ["child-a", "child-b", "child-c"]
        .iter()
        .zip(&children)
        .find(|(_, b)| **b != parent)
        .unwrap();
    let label = if *daemon == second.host {
        second.docker(&[
            "image",
            "inspect",
            "--format",
            "{{ index .Config.Labels \"org.opencontainers.image.base.digest\" }}",
            &format!("{}/base/{elsewhere}:1", world.private.host),
        ])
    } else {
        testkit::realistic::docker(&[
            "image",
            "inspect",
            "--format",
            "{{ index .Config.Labels \"org.opencontainers.image.base.digest\" }}",
            &format!("{}/base/{elsewhere}:1", world.private.host),
        ])
    };
    assert_eq!(label, parent_digest, "{elsewhere} built on {daemon}");
}

#[test]
fn an_unreachable_builder_is_left_out_and_the_others_build() {
    let world = world();
    // A Docker configuration `docker login` would refuse too: its warning and the daemon's note
    // travel the same way, into the report's `warnings`.
    let config = world.repo.path().join(".docker/config.json");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, "{\n  \"auths\": [\n").unwrap();
    let report = world
        .baseimg(&["build", "--push", "--output", "json"])
        .args([
            "--builder-host",
            UNREACHABLE,
            "--builder-host",
            &local_daemon(),
        ])
        .stderr_contains(&format!("note: builder {UNREACHABLE} is left out"))
        .run()
        .json();
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(report["built"], 4, "{report:#}");
    let warnings = report["warnings"].as_array().expect("warnings");
    let said = |severity: &str, start: &str| {
        warnings.iter().any(|w| {
            w["severity"] == severity && w["message"].as_str().is_some_and(|m| m.starts_with(start))
        })
    };
    assert!(
        said("note", &format!("builder {UNREACHABLE} is left out")),
        "{report:#}"
    );
    assert!(
        said("warning", "cannot use the Docker configuration"),
        "{report:#}"
    );
}

#[test]
fn no_builder_answering_stops_the_run_before_anything_starts() {
    let world = world();
    world
        .baseimg(&["build", "--push"])
        .args([
            "--builder-host",
            UNREACHABLE,
            "--builder-host",
            "unix:///nonexistent/other.sock",
        ])
        .status(2)
        .stderr_contains("none of the 2 builders answers")
        .run();
    assert!(!world.repo.path().join(".baseimg/logs").exists());
    world
        .baseimg(&["build"])
        .args([
            "--builder-host",
            &local_daemon(),
            "--builder-host",
            UNREACHABLE,
        ])
        .status(2)
        .stderr_contains("2 builders need `--push`")
        .run();
    // A password written into an address is refused, and not repeated.
    world
        .baseimg(&["build", "--push"])
        .args(["--builder-host", "ssh://build:hunter2@127.0.0.1:1"])
        .status(2)
        .stderr_contains("the builder ssh://build:***@127.0.0.1:1 does not answer")
        .stderr_contains("takes no password")
        .stderr_lacks("hunter2")
        .run();
}

#[test]
fn an_image_whose_daemon_stops_mid_build_is_built_again_on_the_other() {
    let world = sleeping_world(8);
    let mut second = SecondDaemon::start();
    let local = local_daemon();
    let build = world
        .baseimg(&["build", "--push", "--jobs", "1", "--output", "json"])
        .args(["--builder-host", &local, "--builder-host", &second.host])
        .stderr_contains("stopped answering while building")
        .spawn();
    // Wait until a build step runs on the second daemon, then kill that daemon: the first image
    // it was given is cut off mid-step.
    let building = wait_until(Duration::from_secs(90), Duration::from_millis(50), || {
        second.runs("sleep 8")
    });
    assert!(building, "nothing was built on the second daemon");
    second.kill();
    let report = build.wait().json();
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(report["built"], 4, "{report:#}");
    // The image cut off on the second daemon was built on the first, as every other one.
    let marker = format!("# building on {}", second.host);
    let logs = world.repo.path().join(".baseimg/logs");
    let cut_off: Vec<String> = walkdir::WalkDir::new(&logs)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| {
            std::fs::read_to_string(e.path())
                .unwrap_or_default()
                .contains(&marker)
        })
        .map(|e| e.path().file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(
        !cut_off.is_empty(),
        "an image was building on the second daemon"
    );
    for image in ["parent", "child-a", "child-b", "child-c"] {
        assert_eq!(builder_of(&report, image), local, "{report:#}");
    }
}

#[test]
fn the_catalog_s_builders_are_used_with_their_slots_and_platforms() {
    let world = world();
    let second = SecondDaemon::start();
    let local = local_daemon();
    // The second daemon declares itself the arm64 builder: an image built for linux/arm64 (a step
    // that only writes a file: no emulation needed) goes there, the others stay on amd64.
    let catalog = std::fs::read_to_string(world.repo.path().join("base-images.yaml")).unwrap();
    let catalog = catalog.replacen(
        "images:\n",
        &format!(
            "builders:\n  - host: {local}\n    jobs: 2\n  - host: {}\n    jobs: 1\n    platforms: [linux/arm64]\nimages:\n",
            second.host
        ),
        1,
    );
    let catalog = catalog.replacen(
        "  child-c:\n    from: parent\n",
        "  child-c:\n    from: parent\n    platforms: [linux/arm64]\n",
        1,
    );
    std::fs::write(world.repo.path().join("base-images.yaml"), catalog).unwrap();
    world.baseimg(&["lock"]).run();
    let report = world
        .baseimg(&["build", "--push", "--output", "json"])
        .run()
        .json();
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(builder_of(&report, "child-c"), second.host, "{report:#}");
    for image in ["parent", "child-a", "child-b"] {
        assert_eq!(builder_of(&report, image), local, "{report:#}");
    }
}

#[test]
fn a_daemon_behind_tls_builds_with_the_client_certificate_from_docker_cert_path() {
    let world = world();
    let second = SecondDaemon::start_tls();
    let host = second.tls_host.clone().unwrap();
    // Without the client certificate the daemon refuses the connection: left out, nothing answers.
    world
        .baseimg(&["build", "--push", "--builder-host", &host])
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", world.repo.path())
        .status(2)
        .stderr_contains(&format!("the builder {host} does not answer"))
        .run();
    let report = world
        .baseimg(&[
            "build",
            "--push",
            "--builder-host",
            &host,
            "--output",
            "json",
        ])
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", second.cert_path())
        .run()
        .json();
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(report["built"], 4, "{report:#}");
    assert_eq!(builder_of(&report, "child-a"), host, "{report:#}");
    // BuildKit's session and build go over the same TLS connection as the rest.
    assert_eq!(report["builder"], "buildkit", "{report:#}");
    // Built there: the second daemon has the images.
    assert!(!second.docker(&["image", "ls", "--quiet"]).is_empty());
}

#[test]
fn a_daemon_over_ssh_builds_with_buildkit_through_the_machine_s_ssh() {
    let world = world();
    let second = SecondDaemon::start();
    let sshd = SshServer::start();
    let address = sshd.address_of(&second.host);
    // A key the server does not know: ssh's own words say why, and nothing is left to build on.
    world
        .baseimg(&["build", "--push", "--builder-host", &address])
        .env("BASEIMG_SSH_COMMAND", sshd.stranger_ssh_command())
        .status(2)
        .stderr_contains(&format!("the builder {address} does not answer"))
        .stderr_contains("Permission denied (publickey)")
        .stderr_contains("system dial-stdio")
        .run();
    assert!(second.docker(&["image", "ls", "--quiet"]).is_empty());
    let report = world
        .baseimg(&[
            "build",
            "--push",
            "--builder-host",
            &address,
            "--output",
            "json",
        ])
        .env("BASEIMG_SSH_COMMAND", sshd.ssh_command())
        .run()
        .json();
    assert_eq!(report["ok"], true, "{report:#}\n{}", sshd.log());
    assert_eq!(report["built"], 4, "{report:#}");
    assert_eq!(builder_of(&report, "child-a"), address, "{report:#}");
    // BuildKit's session (an HTTP/2 stream the daemon calls back on) works through dial-stdio too.
    assert_eq!(report["builder"], "buildkit", "{report:#}");
    // Built there, through ssh: the second daemon has the images, and the machine's own does not.
    let built = second.docker(&["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(
        built.contains(&format!("{}/base/child-a:1", world.private.host)),
        "{built}"
    );
    let local = testkit::realistic::docker(&["image", "ls", "--format", "{{.Repository}}"]);
    assert!(
        !local.contains(&format!("{}/base/child-a", world.private.host)),
        "{local}"
    );
}
