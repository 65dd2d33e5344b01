//! `baseimg build` against the real Docker daemon and two real registries: images built on mirrored,
//! digest-pinned parents, labelled, pushed, promoted; incremental runs; failures contained.
//! Every image a test creates is removed at the end, even when the test fails.

use std::time::Duration;

use testkit::fixtures::{Layout, manifest_digest};
use testkit::registry::Registry;
use testkit::{World, wait_until};

const TEMPLATES: &[(&str, &str)] = &[
    (
        "templates/app.Dockerfile.j2",
        "FROM {{ from }}\nCOPY greeting.txt /etc/greeting.txt\nRUN echo \"{{ greeting }}\" >> /etc/greeting.txt\n",
    ),
    (
        "templates/plus.Dockerfile.j2",
        "FROM {{ from }}\nCOPY extra.txt /etc/extra.txt\n",
    ),
    (
        "templates/other.Dockerfile.j2",
        "FROM {{ from }}\nCOPY other.txt /etc/other.txt\nRUN {{ command }}\n",
    ),
    ("images/app/greeting.txt", "from the app image\n"),
    ("images/plus/extra.txt", "extra\n"),
    ("images/other/other.txt", "other\n"),
];

/// The world of these tests: upstream holds a busybox image unique to `seed` (for tests that look
/// for containers made from it), the catalog builds four images on it, and runs take two jobs and
/// use a Docker configuration of the world's own.
fn seeded_world(world: World, seed: u64) -> World {
    let world = world.with_docker_config().with_jobs(2);
    Layout::busybox(seed).push(&world.upstream.host, "library/busybox", "1.35");
    for (path, text) in TEMPLATES {
        world.write(path, text);
    }
    write_catalog(&world, "true");
    world
}

fn world() -> World {
    seeded_world(World::new(), 1)
}

/// `command`: what the `other` image runs (`false` makes it fail).
fn write_catalog(world: &World, command: &str) {
    let catalog = format!(
        r#"registry: {private}/base
source: https://git.example.com/platform/base-images
images:
  base-upstream:
    mirror: {upstream}/library/busybox:1.35
  app:
    from: base-upstream
    template: app.Dockerfile.j2
    context: images/app
    tags: ["1.0", "1"]
    vars: {{ greeting: hello }}
  app-plus:
    from: app
    template: plus.Dockerfile.j2
    context: images/plus
    tags: ["1.0"]
  other:
    from: base-upstream
    template: other.Dockerfile.j2
    context: images/other
    tags: ["2.0"]
    vars: {{ command: "{command}" }}
  other-child:
    from: other
    template: plus.Dockerfile.j2
    context: images/plus
    tags: ["3.0"]
"#,
        private = world.private.host,
        upstream = world.upstream.host
    );
    world.write("base-images.yaml", &catalog);
}

fn result_of<'a>(json: &'a serde_json::Value, image: &str) -> &'a str {
    json["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["image"] == image)
        .and_then(|i| i["status"].as_str())
        .unwrap_or("missing")
}

fn reference_of(json: &serde_json::Value, image: &str) -> String {
    let entry = json["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["image"] == image)
        .unwrap();
    let reference = entry["reference"].as_str().unwrap();
    reference.split('@').next().unwrap().to_string()
}

/// The image ID the local daemon has under `reference`, or an empty string.
fn local_image_id(reference: &str) -> String {
    let output = std::process::Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", reference])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn inspect_labels(reference: &str) -> serde_json::Value {
    let output = std::process::Command::new("docker")
        .args(["inspect", "--format", "{{json .Config.Labels}}", reference])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "docker inspect {reference}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn builds_pushes_promotes_and_then_rebuilds_only_what_changed() {
    let world = world();
    world.ok(&["lock"]);
    world.ok(&["mirror"]);
    let base_digest = manifest_digest(&world.upstream.host, "library/busybox:1.35");

    let json = world.report(&["build", "--push"], 0);
    for image in ["app", "app-plus", "other", "other-child"] {
        assert_eq!(result_of(&json, image), "built", "{json:#}");
    }

    // Labels say what the image is and what it was built from, pinned by digest.
    let app = reference_of(&json, "app");
    let labels = inspect_labels(&app);
    assert_eq!(labels["org.opencontainers.image.title"], "app");
    assert_eq!(labels["org.opencontainers.image.version"], "1.0");
    assert_eq!(
        labels["org.opencontainers.image.source"],
        "https://git.example.com/platform/base-images"
    );
    assert_eq!(labels["org.opencontainers.image.base.digest"], base_digest);
    let base_name = labels["org.opencontainers.image.base.name"]
        .as_str()
        .unwrap();
    assert_eq!(
        base_name,
        format!(
            "{}/base/base-upstream:1.35@{base_digest}",
            world.private.host
        )
    );
    assert_eq!(labels["io.baseimg.fingerprint"].as_str().unwrap().len(), 64);
    assert!(
        labels["org.opencontainers.image.created"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    // A child of a built image is pinned to its parent's pushed digest.
    let plus_labels = inspect_labels(&reference_of(&json, "app-plus"));
    let app_digest = manifest_digest(
        &world.private.host,
        &format!("base/{}", app.split("/base/").nth(1).unwrap()),
    );
    assert_eq!(
        plus_labels["org.opencontainers.image.base.digest"],
        app_digest
    );
    assert!(
        plus_labels["org.opencontainers.image.base.name"]
            .as_str()
            .unwrap()
            .ends_with(&format!("@{app_digest}"))
    );
    // What was built stands at the top of the image's log: the planned Dockerfile, its FROM pinned
    // to the digest the parent was pushed under, the rest as the plan rendered it.
    // baseimg's own directory keeps itself out of version control.
    let ignore = std::fs::read_to_string(world.repo.path().join(".baseimg/.gitignore")).unwrap();
    assert!(ignore.lines().any(|line| line == "*"), "{ignore}");
    let logs = world.repo.path().join(json["logs"].as_str().unwrap());
    let log = std::fs::read_to_string(logs.join("app-plus.log")).unwrap();
    let app_tag = app.split('@').next().unwrap();
    assert!(
        log.contains(&format!("\n# | FROM {app_tag}@{app_digest}\n")),
        "{log}"
    );

    // Moving tags were promoted to the immutable ones.
    assert_eq!(
        manifest_digest(&world.private.host, "base/app:1.0"),
        app_digest
    );
    assert_eq!(
        manifest_digest(&world.private.host, "base/app:1"),
        app_digest
    );

    // Nothing changed: the plan, asking the private registry, says so; and nothing is built.
    world
        .baseimg(&["plan"])
        .stdout_contains("5 images: 0 to mirror, 0 to build, 5 up to date")
        .run();
    world
        .baseimg(&["build", "--push"])
        .stdout_contains("nothing to build: every image is up to date")
        .run();

    // One context file changes: that image and what is built on it, nothing else.
    std::fs::write(
        world.repo.path().join("images/app/greeting.txt"),
        "changed\n",
    )
    .unwrap();
    let json = world.report(&["build", "--push"], 0);
    assert_eq!(result_of(&json, "app"), "built");
    assert_eq!(result_of(&json, "app-plus"), "built");
    assert_eq!(result_of(&json, "other"), "up_to_date");
    assert_eq!(result_of(&json, "other-child"), "up_to_date");
    assert_ne!(
        manifest_digest(&world.private.host, "base/app:1.0"),
        app_digest,
        "1.0 moved to the new build"
    );
    // The build machine's daemon moved with the registry: its `app:1.0` and `app:1` are the new
    // build, so `docker run …/app:1.0` here starts what was just pushed. `other`, found up to date,
    // was not pulled.
    let new_app = local_image_id(&reference_of(&json, "app"));
    assert!(!new_app.is_empty(), "the new build is in the local daemon");
    for tag in ["1.0", "1"] {
        assert_eq!(
            local_image_id(&format!("{}/base/app:{tag}", world.private.host)),
            new_app,
            "local app:{tag}"
        );
    }

    // History: both releases of app, newest first, the moving tags on the newest.
    let moving =
        |history: &serde_json::Value, index: usize| history["releases"][index]["moving"].clone();
    let history = world
        .baseimg(&["history", "app", "--output", "json"])
        .run()
        .json();
    assert_eq!(
        history["releases"].as_array().unwrap().len(),
        2,
        "{history:#}"
    );
    assert_eq!(moving(&history, 0), serde_json::json!(["1.0", "1"]));
    assert_eq!(moving(&history, 1), serde_json::json!([]));
    let newest = history["releases"][0]["tag"].as_str().unwrap().to_string();
    let previous = history["releases"][1]["tag"].as_str().unwrap().to_string();

    // Rollback re-points the moving tags to the previous release, and history shows it.
    world
        .baseimg(&["rollback", "app"])
        .stdout(&format!("app: {newest} → {previous} (moved 1.0, 1)\n"))
        .run();
    assert_eq!(
        manifest_digest(&world.private.host, "base/app:1.0"),
        app_digest
    );
    assert_eq!(
        manifest_digest(&world.private.host, "base/app:1"),
        app_digest
    );
    let history = world
        .baseimg(&["history", "app", "--output", "json"])
        .run()
        .json();
    assert_eq!(moving(&history, 1), serde_json::json!(["1.0", "1"]));
    world
        .baseimg(&["history", "app"])
        .stdout_regex(&format!(r"(?m)^{previous} .* 1\.0, 1$"))
        .run();

    // A tag that is not a release of app is refused; rolling forward is naming the newer release.
    world
        .baseimg(&["rollback", "app", "--to", "1.0-000000000000"])
        .status(2)
        .stderr_contains("is not a release of `app`")
        .run();
    world
        .baseimg(&["rollback", "app", "--to", &newest])
        .stdout_contains("(moved 1.0, 1)")
        .run();
    assert_ne!(
        manifest_digest(&world.private.host, "base/app:1"),
        app_digest
    );

    // Prune: a dry run deletes nothing; --older-than spares young releases; --keep 0 still keeps
    // the release the moving tags point at; what goes is the older release, and only that.
    let releases = |world: &World| {
        let history = world
            .baseimg(&["history", "app", "--output", "json"])
            .run()
            .json();
        let tags = history["releases"].as_array().unwrap().iter();
        tags.map(|r| r["tag"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    world
        .baseimg(&["prune", "app", "--keep", "0", "--dry-run"])
        .stdout(&format!("app: would delete {previous}; kept {newest}\n"))
        .run();
    world
        .baseimg(&["prune", "app", "--keep", "0", "--older-than", "30d"])
        .stdout(&format!(
            "app: deleted nothing; kept {newest}, {previous}\n"
        ))
        .run();
    assert_eq!(releases(&world), [newest.clone(), previous.clone()]);
    world
        .baseimg(&["prune", "app", "--keep", "0"])
        .stdout(&format!("app: deleted {previous}; kept {newest}\n"))
        .run();
    assert_eq!(releases(&world), [newest]);
    assert!(world.private_has("base/app:1.0"));
    assert!(
        world.private_has("base/base-upstream:1.35"),
        "mirrors are never pruned"
    );
}

/// Runs git in the world's repository, as a developer would, and returns what it printed.
fn git(world: &World, args: &[&str]) -> String {
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(world.repo.path())
        .args([
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.com",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

#[test]
fn the_revision_label_says_when_the_tree_was_dirty_and_the_fingerprint_ignores_it() {
    let world = world();
    world.ok(&["lock"]);
    world.ok(&["mirror"]);
    git(&world, &["init", "-q"]);
    git(&world, &["add", "-A"]);
    git(&world, &["commit", "-q", "-m", "base images"]);
    let commit = git(&world, &["rev-parse", "HEAD"]);
    let app = format!("{}/base/app:1.0", world.private.host);
    let revision =
        |reference: &str| inspect_labels(reference)["org.opencontainers.image.revision"].clone();

    // A clean tree: the commit itself, and nothing to warn about.
    world
        .baseimg(&["build", "app"])
        .stderr_lacks("uncommitted")
        .run();
    assert_eq!(revision(&app), commit.as_str());

    // A change no image is built from dirties the tree but not the fingerprint: nothing is
    // rebuilt, and no image is labelled, so there is nothing to warn about either.
    std::fs::write(world.repo.path().join("NOTES.md"), "to do\n").unwrap();
    world
        .baseimg(&["build", "app"])
        .stdout_contains("nothing to build")
        .stderr_lacks("uncommitted")
        .run();

    // A change an image is built from: the images built now say they are not the commit, and one
    // warning says so for the run, however many images were built.
    std::fs::write(
        world.repo.path().join("images/app/greeting.txt"),
        "changed\n",
    )
    .unwrap();
    let warning = format!(
        "warning[build::dirty-tree]: the working tree has uncommitted changes; images are labelled {commit}-dirty"
    );
    let stderr = world
        .baseimg(&["build", "app-plus"])
        .stdout_contains("2 built")
        .stderr_contains(&warning)
        .run()
        .stderr;
    assert_eq!(stderr.matches("uncommitted changes").count(), 1, "{stderr}");
    let dirty = format!("{commit}-dirty");
    assert_eq!(revision(&app), dirty.as_str());
    assert_eq!(
        revision(&format!("{}/base/app-plus:1.0", world.private.host)),
        dirty.as_str()
    );
}

#[test]
fn a_failure_stops_dependents_lets_others_finish_and_moves_no_tag() {
    let world = world();
    world.ok(&["lock"]);
    world.ok(&["mirror"]);
    world.ok(&["build", "--push"]);
    let app_before = manifest_digest(&world.private.host, "base/app:1.0");

    std::fs::write(
        world.repo.path().join("images/app/greeting.txt"),
        "changed\n",
    )
    .unwrap();
    write_catalog(&world, "false");
    world
        .baseimg(&["build", "--push"])
        .status(1)
        .stdout_contains("other-child    not attempted")
        .stdout_contains("`other` failed")
        .stdout_contains("not promoted: moving tags left where they were")
        // The failing build's log tail is shown.
        .stdout_contains("last lines of")
        .run();
    let json = world.report(&["build", "--push"], 1);
    assert_eq!(result_of(&json, "other"), "failed");
    assert_eq!(result_of(&json, "other-child"), "not_attempted");
    assert_eq!(
        result_of(&json, "app"),
        "up_to_date",
        "app was built by the failed run and pushed under its immutable tag"
    );
    // The failed runs moved no moving tag.
    assert_eq!(
        manifest_digest(&world.private.host, "base/app:1.0"),
        app_before
    );
}

/// The classic builder colours what a step writes to stderr (`ESC[91m…ESC[0m`): the text reaches
/// the log file and the failure excerpt, the colour codes do not.
#[test]
fn a_failed_step_s_output_reaches_log_and_excerpt_without_terminal_escapes() {
    let world = world();
    world.ok(&["lock"]);
    world.ok(&["mirror"]);
    write_catalog(&world, "echo broken-step >&2; false");
    world
        .baseimg(&["build", "other", "--builder", "classic"])
        .status(1)
        .stdout_contains("  | broken-step\n")
        .output_lacks("\u{1b}")
        .run();
    let runs = world.repo.path().join(".baseimg/logs");
    let run = std::fs::read_dir(&runs).unwrap().next().unwrap().unwrap();
    let log = std::fs::read_to_string(run.path().join("other.log")).unwrap();
    assert!(log.contains("\nbroken-step\n"), "{log}");
    assert!(!log.contains('\u{1b}'), "{log:?}");
}

#[test]
fn builds_need_nothing_from_upstream_once_mirrored() {
    let mut world = world();
    world.ok(&["lock"]);
    world.ok(&["mirror"]);
    world.upstream.stop();
    let json = world.report(&["build", "--push"], 0);
    assert_eq!(json["built"], 4);
}

#[test]
fn a_local_build_without_push_is_incremental_too() {
    let world = world();
    world.ok(&["lock"]);
    world.ok(&["mirror"]);
    let json = world.report(&["build", "app-plus"], 0);
    assert_eq!(json["built"], 2, "app-plus and the app it needs: {json:#}");
    assert_eq!(result_of(&json, "other"), "missing", "not selected");
    world
        .baseimg(&["build", "app-plus"])
        .stdout_contains("nothing to build")
        .run();
    // The moving tag exists locally.
    let status = std::process::Command::new("docker")
        .args([
            "image",
            "inspect",
            &format!("{}/base/app:1.0", world.private.host),
        ])
        .output()
        .unwrap()
        .status;
    assert!(status.success());
}

#[test]
fn pushing_with_wrong_credentials_fails_clearly_and_prints_no_secret() {
    let secrets = tempfile::tempdir().unwrap();
    let private = Registry::start_with(Some(&testkit::htpasswd(
        secrets.path(),
        "ci",
        "right-pass-123",
    )));
    let world = seeded_world(World::with_private(private), 1);
    world.docker_config("ci", "right-pass-123");
    world.ok(&["lock"]);
    world.ok(&["mirror"]);
    world.docker_config("ci", "wrong-pass-456");
    world
        .baseimg(&["build", "--push"])
        .failure()
        .output_contains("refused the credentials")
        .output_contains(&world.private.host)
        .output_lacks("wrong-pass-456")
        .output_lacks("right-pass-123")
        .run();
}

/// Interrupts a build while its `RUN sleep <seconds>` step runs with `builder`; `running` counts what
/// of that step the daemon is running (containers for the classic builder, processes for BuildKit).
fn interrupt_a_running_step(builder: &str, seconds: u32, running: impl Fn(&World) -> usize) {
    let world = seeded_world(World::new(), 99);
    world.ok(&["lock"]);
    world.ok(&["mirror"]);
    write_catalog(&world, &format!("sleep {seconds}"));
    let build = world
        .bare()
        .args(["--progress", "plain", "--builder", builder])
        .args(["build", "other", "--push"])
        .failure()
        .stdout_contains("interrupted")
        .stdout_contains("not promoted")
        .spawn();
    // Wait until the daemon is running the long step, then interrupt as a terminal would.
    let started = wait_until(Duration::from_secs(60), Duration::from_millis(200), || {
        running(&world) > 0
    });
    assert!(started, "the build never started its RUN step");
    let status = std::process::Command::new("kill")
        .args(["-INT", &build.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    build.wait();
    // The daemon cancels the build: nothing of the step keeps running or stays behind.
    let _ = wait_until(Duration::from_secs(20), Duration::from_millis(200), || {
        running(&world) == 0
    });
    assert_eq!(running(&world), 0, "the interrupted step was left behind");
    assert!(!world.private_has("base/other:2.0"));
}

#[test]
fn ctrl_c_stops_running_builds_leaves_no_container_and_moves_no_tag() {
    interrupt_a_running_step("classic", 60, |world| {
        let base = format!("{}/base/base-upstream", world.private.host);
        let out = std::process::Command::new("docker")
            .args([
                "ps",
                "-aq",
                "--filter",
                &format!(
                    "ancestor={base}@{}",
                    manifest_digest(&world.upstream.host, "library/busybox:1.35")
                ),
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).lines().count()
    });
}

#[test]
fn ctrl_c_cancels_a_buildkit_step_and_moves_no_tag() {
    // BuildKit runs a step as a process of the daemon, not as a container: look for the process.
    interrupt_a_running_step("buildkit", 67, |_| {
        let out = std::process::Command::new("pgrep")
            .args(["-f", "^sleep 67$"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).lines().count()
    });
}

#[test]
fn an_unreachable_daemon_gets_one_clear_error_naming_the_address() {
    let world = world();
    world.ok(&["lock"]);
    world.ok(&["mirror"]);
    let stderr = world
        .bare()
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .arg("build")
        .status(2)
        .stderr_contains("cannot reach the Docker daemon at unix:///nonexistent/docker.sock")
        .stderr_contains("DOCKER_HOST")
        .run()
        .stderr;
    assert_eq!(stderr.matches("error[").count(), 1, "one error: {stderr}");
}

#[test]
fn two_runs_at_once_take_turns_and_push_each_immutable_tag_once() {
    let world = seeded_world(World::new(), 7);
    world.ok(&["lock"]);
    world.ok(&["mirror"]);
    // A step that takes a while, so the first run is still going when the others start.
    write_catalog(&world, "sleep 4");
    let first = world
        .baseimg(&["build", "--push", "--output", "json"])
        .spawn();
    let lock = world.repo.path().join(".baseimg/run.lock");
    let locked = wait_until(Duration::from_secs(30), Duration::from_millis(50), || {
        std::fs::read_to_string(&lock).is_ok_and(|t| t.contains("build --push"))
    });
    assert!(locked, "the first run never took the lock");

    world
        .baseimg(&["build", "--push", "--no-wait"])
        .status(2)
        .stderr_contains(
            "another baseimg run is working on this catalog (`baseimg build --push`, process ",
        )
        .run();
    let second = world
        .baseimg(&["build", "--push", "--output", "json"])
        .stderr_contains(
            "note: waiting for another baseimg run on this catalog: `baseimg build --push`",
        )
        .run()
        .json();
    let first = first.wait().json();

    // The second run found every image the first one pushed: one digest per immutable tag.
    for image in first["images"].as_array().unwrap() {
        let name = image["image"].as_str().unwrap();
        let again = second["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["image"] == name)
            .unwrap();
        if image["status"] == "built" {
            assert_eq!(again["status"], "up_to_date", "{name}: {second:#}");
        }
        assert_eq!(again["digest"], image["digest"], "{name}");
    }
    assert_ne!(
        first["logs"], second["logs"],
        "each run has its own log directory"
    );
}

#[test]
fn a_run_killed_while_moving_tags_is_named_by_every_command_and_completed_by_the_next() {
    use testkit::proxy::Faults;
    let world = seeded_world(World::new(), 11).with_private_proxy();
    world.ok(&["lock"]);
    world.ok(&["mirror"]);
    // The private registry behind a proxy that holds each moving-tag PUT: promotion takes seconds.
    let proxy = world.private_proxy();
    proxy.set_faults(Faults {
        delay_moving_tag_puts: Some(Duration::from_millis(1500)),
        ..Faults::default()
    });
    let registry = format!("{}/base", world.private_host());
    let through_proxy =
        |args: &[&str]| world.baseimg(&[&["--registry", registry.as_str()], args].concat());
    let running = through_proxy(&["build", "--push"]).failure().spawn();
    let promoting = || {
        proxy.requests().iter().any(|r| {
            r.method == "PUT"
                && r.path
                    .rsplit_once("/manifests/")
                    .is_some_and(|(_, t)| !t.contains('-'))
        })
    };
    let promoted = wait_until(
        Duration::from_secs(120),
        Duration::from_millis(20),
        promoting,
    );
    assert!(promoted, "the build never started promoting");
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &running.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    running.wait();

    let journal = world.repo.path().join(".baseimg/promotion.json");
    assert!(
        journal.is_file(),
        "the intent was written before the first tag moved"
    );
    world
        .baseimg(&["validate"])
        .stderr_contains("stopped while moving tags")
        .stderr_contains(
            "the next `baseimg build --push` or `baseimg refresh` completes that promotion first",
        )
        .run();

    proxy.set_faults(Faults::default());
    through_proxy(&["build", "--push"])
        .stdout_contains("completed the promotion run ")
        .run();
    assert!(!journal.exists());
    let digest = |reference: &str| manifest_digest(&world.private.host, reference);
    assert_eq!(
        digest("base/app:1.0"),
        digest("base/app:1"),
        "app's tags agree"
    );
    world
        .baseimg(&["validate"])
        .stderr_lacks("stopped while moving tags")
        .run();
}
