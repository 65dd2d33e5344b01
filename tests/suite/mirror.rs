//! `lock`, `mirror`, `update` and `outdated` against real registries: two `docker-registry`
//! instances (one playing Docker Hub, one the private registry), a counting and fault-injecting proxy
//! in front of the upstream one, and skopeo as the reference client.

use testkit::World;
use testkit::fixtures::{Layout, manifest_digest, raw_manifest};
use testkit::harness::unindent;
use testkit::proxy::{Faults, Targeted};
use testkit::registry::Registry;

/// Upstream holds `library/redis:7.2.4` (one platform, 3 layers) and `library/python:3.11.9` (two
/// platforms, 3 layers each, one shared); the catalog mirrors both through a proxy in front of
/// upstream, and runs use a Docker configuration of the world's own.
fn world() -> World {
    world_with(World::new(), "")
}

/// `python_extra`: more keys for the python mirror (indented four spaces).
fn world_with(world: World, python_extra: &str) -> World {
    let world = world.with_docker_config().with_upstream_proxy();
    Layout::single(1, 3, 64 * 1024).push(&world.upstream.host, "library/redis", "7.2.4");
    Layout::multi(2, 3, 64 * 1024).push(&world.upstream.host, "library/python", "3.11.9");
    let catalog = unindent(&format!(
        "
        registry: {private}/base
        images:
          redis-upstream:
            mirror: {proxy}/library/redis:7.2.4
          python-upstream:
            mirror: {proxy}/library/python:3.11.9
        ",
        private = world.private.host,
        proxy = world.upstream_proxy().host,
    ));
    world.write("base-images.yaml", &(catalog + python_extra));
    world
}

fn assert_same_image(world: &World, upstream_ref: &str, private_ref: &str) {
    let upstream = raw_manifest(&world.upstream.host, upstream_ref);
    let private = raw_manifest(&world.private.host, private_ref);
    assert_eq!(
        upstream, private,
        "manifest bytes differ: {upstream_ref} vs {private_ref}"
    );
}

#[test]
fn lock_resolves_with_head_requests_and_mirror_copies_byte_for_byte() {
    let world = world();
    let redis_digest = manifest_digest(&world.upstream.host, "library/redis:7.2.4");
    let python_digest = manifest_digest(&world.upstream.host, "library/python:3.11.9");

    world.ok(&["lock"]);
    let lock = world.read("base-images.lock");
    assert!(lock.contains(&format!("digest: {redis_digest}")), "{lock}");
    assert!(lock.contains(&format!("digest: {python_digest}")), "{lock}");
    assert!(
        lock.contains("linux/amd64: sha256:") && lock.contains("linux/arm64: sha256:"),
        "{lock}"
    );
    // Tags are resolved with HEAD; the only GET is the new index, by digest, to record its platforms.
    let gets: Vec<_> = world
        .upstream_proxy()
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.contains("/manifests/"))
        .collect();
    assert_eq!(world.upstream_proxy().manifest_requests("HEAD"), 2);
    assert_eq!(gets.len(), 1, "{gets:?}");
    assert!(gets[0].path.ends_with(&python_digest), "{gets:?}");

    // Locking again changes no byte and asks upstream nothing.
    world.upstream_proxy().clear_log();
    world.ok(&["lock"]);
    assert_eq!(world.read("base-images.lock"), lock);
    assert!(
        world.upstream_proxy().requests().is_empty(),
        "{:?}",
        world.upstream_proxy().requests()
    );

    world.ok(&["mirror"]);
    // The index `lock` fetched is not fetched again: the mirror GETs only what it had not seen, so
    // lock + mirror of a two-platform index and an image make 4 manifest GETs, as `skopeo copy --all`
    // of the same two does (index, its two platforms, the image).
    assert_eq!(
        world.upstream_proxy().manifest_requests("GET"),
        3,
        "{:?}",
        world.upstream_proxy().requests()
    );
    assert!(
        world.repo.path().join(".baseimg/cache/manifests").is_dir(),
        "manifests are kept beside the catalog"
    );
    assert_same_image(&world, "library/redis:7.2.4", "base/redis-upstream:7.2.4");
    assert_same_image(
        &world,
        "library/python:3.11.9",
        "base/python-upstream:3.11.9",
    );
    assert_same_image(
        &world,
        &format!("library/python@{python_digest}"),
        &format!("base/python-upstream@{python_digest}"),
    );
    // The keep-alive tag names the digest and points at the same manifest.
    let keep_alive = format!("base/python-upstream:3.11.9-{}", &python_digest[7..19]);
    assert_eq!(
        manifest_digest(&world.private.host, &keep_alive),
        python_digest
    );
    // Every platform manifest came along, byte for byte.
    let index: serde_json::Value =
        serde_json::from_slice(&raw_manifest(&world.upstream.host, "library/python:3.11.9"))
            .unwrap();
    for child in index["manifests"].as_array().unwrap() {
        let digest = child["digest"].as_str().unwrap();
        assert_same_image(
            &world,
            &format!("library/python@{digest}"),
            &format!("base/python-upstream@{digest}"),
        );
    }

    // A second mirror finds everything in place and sends no request upstream.
    world.upstream_proxy().clear_log();
    world
        .baseimg(&["mirror"])
        .stdout_contains("(0 upstream, 0 retried)")
        .run();
    assert!(
        world.upstream_proxy().requests().is_empty(),
        "{:?}",
        world.upstream_proxy().requests()
    );
}

/// `--progress tty` is a request: it draws the live lines into a pipe too (the harness reads
/// standard error through one), where `auto` would fall back to plain lines.
#[test]
fn a_forced_tty_progress_draws_into_a_pipe() {
    let world = world();
    world
        .bare()
        .args(["--progress", "tty", "lock"])
        .stderr_contains("redis-upstream           resolved to ")
        // Live lines, not the plain `[image] …` ones.
        .stderr_lacks("[redis-upstream]")
        .run();
}

#[test]
fn outdated_reports_a_moved_tag_and_update_then_mirror_pick_it_up() {
    let world = world();
    world.ok(&["lock"]);
    world.ok(&["mirror"]);
    world
        .baseimg(&["outdated"])
        .stdout_contains("everything is up to date")
        .run();

    // Upstream re-points the tag, as Docker Hub does with every rebuild.
    Layout::single(3, 3, 64 * 1024).push(&world.upstream.host, "library/redis", "7.2.4");
    let moved = manifest_digest(&world.upstream.host, "library/redis:7.2.4");
    world.upstream_proxy().clear_log();
    world
        .baseimg(&["outdated"])
        .status(1)
        .stdout_contains("redis-upstream   moved")
        .run();
    assert_eq!(
        world.upstream_proxy().manifest_requests("GET"),
        0,
        "outdated uses HEAD only"
    );

    world.ok(&["update", "redis-upstream"]);
    assert!(
        world
            .read("base-images.lock")
            .contains(&format!("digest: {moved}"))
    );
    world.ok(&["mirror"]);
    assert_eq!(
        manifest_digest(&world.private.host, "base/redis-upstream:7.2.4"),
        moved
    );
    world.ok(&["outdated"]);
}

/// The digest and size of one layer of upstream's `library/redis:7.2.4`.
fn redis_layer(world: &World, n: usize) -> (String, u64) {
    let manifest: serde_json::Value =
        serde_json::from_slice(&raw_manifest(&world.upstream.host, "library/redis:7.2.4")).unwrap();
    let layer = &manifest["layers"][n];
    (
        layer["digest"].as_str().unwrap().to_string(),
        layer["size"].as_u64().unwrap(),
    )
}

#[test]
fn a_corrupted_upstream_blob_is_refused_and_nothing_is_published() {
    let world = world();
    world.ok(&["lock"]);
    let (layer, size) = redis_layer(&world, 1);
    world.upstream_proxy().set_faults(Faults {
        corrupt_blob: Some(layer.clone()),
        ..Faults::default()
    });
    // All the bytes came, and they are wrong: asked once more, then refused, saying so.
    world
        .baseimg(&["mirror", "redis-upstream"])
        .status(1)
        .stdout_contains(&format!("blob {layer} hashes to sha256:"))
        .stdout_contains(&format!(
            "(all {size} bytes arrived); refused it after 2 attempts"
        ))
        .run();
    assert_eq!(world.upstream_proxy().count("GET", &layer), 2);
    assert!(!world.private_has("base/redis-upstream:7.2.4"));
    let digest = manifest_digest(&world.upstream.host, "library/redis:7.2.4");
    assert!(!world.private_has(&format!("base/redis-upstream@{digest}")));
    assert!(
        !testkit::fixtures::has_blob(&world.private.host, "base/redis-upstream", &layer),
        "the refused blob was committed"
    );
}

#[test]
fn a_blob_that_arrives_short_is_fetched_again() {
    let world = world();
    world.ok(&["lock"]);
    let (layer, _) = redis_layer(&world, 1);
    // Twice half the blob and a clean end: nothing but its size says that bytes are missing.
    world.upstream_proxy().set_faults(Faults {
        truncate_body: Some(Targeted::new(layer.as_str(), 2)),
        ..Faults::default()
    });
    world.ok(&["mirror", "redis-upstream"]);
    assert_eq!(world.upstream_proxy().count("GET", &layer), 3);
    assert_same_image(&world, "library/redis:7.2.4", "base/redis-upstream:7.2.4");
}

#[test]
fn a_manifest_body_broken_off_is_fetched_again() {
    let world = world();
    // `lock` GETs the index to record its platforms; its body breaks off half-way once.
    world.upstream_proxy().set_faults(Faults {
        drop_body: Some(Targeted::new("/manifests/", 1)),
        ..Faults::default()
    });
    world.ok(&["lock"]);
    assert_eq!(world.upstream_proxy().manifest_requests("GET"), 2);

    // `mirror` GETs the image and the index's platforms; the first of them breaks off once.
    world.upstream_proxy().clear_log();
    world.upstream_proxy().set_faults(Faults {
        drop_body: Some(Targeted::new("/manifests/", 1)),
        ..Faults::default()
    });
    world.ok(&["mirror"]);
    assert_eq!(world.upstream_proxy().manifest_requests("GET"), 4);
    assert_same_image(&world, "library/redis:7.2.4", "base/redis-upstream:7.2.4");
    assert_same_image(
        &world,
        "library/python:3.11.9",
        "base/python-upstream:3.11.9",
    );
}

#[test]
fn a_token_response_broken_off_is_fetched_again() {
    let world = world();
    world.upstream_proxy().set_faults(Faults {
        bearer_token: Some("test-token-0123".into()),
        drop_body: Some(Targeted::new("/token", 1)),
        ..Faults::default()
    });
    world.ok(&["lock"]);
    world.ok(&["mirror", "redis-upstream"]);
    assert_same_image(&world, "library/redis:7.2.4", "base/redis-upstream:7.2.4");
}

#[test]
fn an_unreliable_upstream_still_gives_a_correct_mirror() {
    let world = world();
    world.ok(&["lock"]);
    world.upstream_proxy().set_faults(Faults {
        server_error_every: Some(7),
        too_many_requests_every: Some(11),
        reset_every: Some(5),
        ..Faults::default()
    });
    let summary = world.baseimg(&["mirror", "--output", "json"]).run().json();
    assert_same_image(&world, "library/redis:7.2.4", "base/redis-upstream:7.2.4");
    assert_same_image(
        &world,
        "library/python:3.11.9",
        "base/python-upstream:3.11.9",
    );
    let retries = summary["retries"].as_u64().unwrap();
    assert!(
        retries >= 3,
        "faults were injected, so requests were retried: {summary}"
    );
}

#[test]
fn a_pull_budget_smaller_than_the_copy_stops_before_anything_is_copied() {
    let world = world();
    world.ok(&["lock"]);
    world.upstream_proxy().clear_log();
    world.upstream_proxy().set_faults(Faults {
        rate_limit_remaining: Some(2),
        ..Faults::default()
    });
    world
        .baseimg(&["mirror"])
        .status(2)
        .stderr_contains("allows 2 more pulls now; mirroring needs up to 6 manifest requests there")
        .run();
    assert_eq!(world.upstream_proxy().manifest_requests("GET"), 0);
    assert!(!world.private_has("base/redis-upstream:7.2.4"));

    // With budget to spare, the remaining budget is shown.
    world.upstream_proxy().set_faults(Faults {
        rate_limit_remaining: Some(90),
        ..Faults::default()
    });
    world
        .baseimg(&["mirror"])
        .stdout_contains("90 of 100 pulls left")
        .run();
}

#[test]
fn credentials_from_the_docker_config_are_used_and_never_printed() {
    let secrets = tempfile::tempdir().unwrap();
    let password = "s3cret-Pa55word-xyz";
    let private = Registry::start_with(Some(&testkit::htpasswd(secrets.path(), "ci", password)));
    let world = world_with(World::with_private(private), "");
    world.ok(&["lock"]);

    // Without credentials the private registry refuses, and says what to do.
    world
        .baseimg(&["mirror", "redis-upstream"])
        .failure()
        .output_contains("docker login")
        .run();

    // Wrong credentials: a clear refusal, and the wrong password is not echoed either.
    world.docker_config("ci", "wrong-password-abc");
    world
        .baseimg(&["mirror", "redis-upstream"])
        .failure()
        .output_contains("refused the credentials")
        .output_contains(&world.private.host)
        .output_lacks("wrong-password-abc")
        .run();

    world.docker_config("ci", password);
    world
        .baseimg(&["mirror", "--output", "json"])
        .output_lacks(password)
        .run();
    let lock = world.read("base-images.lock");
    assert!(!lock.contains(password));
}

#[test]
fn a_corrupt_docker_config_is_named_once_with_its_position_and_none_of_its_content() {
    use base64::Engine;
    let secrets = tempfile::tempdir().unwrap();
    let password = "s3cret-Pa55word-xyz";
    let private = Registry::start_with(Some(&testkit::htpasswd(secrets.path(), "ci", password)));
    let world = world_with(World::with_private(private), "");
    world.ok(&["lock"]);
    // What `docker login` wrote, then damaged: a comma too many on line 4, before the `}` in column 3.
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("ci:{password}"));
    let config = world.repo.path().join(".docker/config.json");
    std::fs::write(
        &config,
        format!(
            "{{\n  \"auths\": {{\n    \"{host}\": {{ \"auth\": \"{auth}\" }},\n  }}\n}}\n",
            host = world.private.host
        ),
    )
    .unwrap();
    let warning = format!(
        "warning[credentials::unusable-config]: cannot use the Docker configuration `{}`: it is not valid JSON (line 4, column 3); registries are reached without credentials",
        config.display()
    );

    // Text: the warning on standard error beside the refusal it explains, once, however many
    // registries the run asked for credentials (the private one and upstream here).
    let stderr = world
        .baseimg(&["mirror", "redis-upstream"])
        .failure()
        .stderr_contains(&warning)
        .stderr_contains(&format!("--> {}:4:3", config.display()))
        .output_lacks(&auth)
        .output_lacks(password)
        .run()
        .stderr;
    assert_eq!(
        stderr
            .matches("warning[credentials::unusable-config]: cannot use the Docker")
            .count(),
        1,
        "{stderr}"
    );

    // A command that succeeds carries it with its other warnings, in JSON too.
    let json = world
        .baseimg(&["outdated", "--output", "json"])
        .output_lacks(&auth)
        .output_lacks(password)
        .run()
        .json();
    let warnings = json["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{json:#}");
    assert_eq!(warnings[0]["severity"], "warning");
    assert_eq!(warnings[0]["code"], "credentials::unusable-config");
    assert_eq!(warnings[0]["location"]["line"], 4);
    assert_eq!(warnings[0]["location"]["column"], 3);
    assert_eq!(
        warnings[0]["location"]["file"],
        config.display().to_string()
    );
}

#[test]
fn bearer_token_authentication_like_docker_hub() {
    let world = world();
    world.upstream_proxy().set_faults(Faults {
        bearer_token: Some("test-token-0123".into()),
        ..Faults::default()
    });
    world.ok(&["lock"]);
    world.ok(&["mirror"]);
    assert_same_image(
        &world,
        "library/python:3.11.9",
        "base/python-upstream:3.11.9",
    );
    let tokens = world
        .upstream_proxy()
        .requests()
        .iter()
        .filter(|r| r.path == "/token")
        .count();
    // One token per repository and permission, reused for every later request of the run.
    assert!((1..=4).contains(&tokens), "{tokens} token requests");
}

#[test]
fn a_platform_filter_writes_a_smaller_index_recorded_in_the_lock() {
    let world = world_with(World::new(), "    platforms: [linux/arm64]\n");
    let out = world.ok(&["lock"]);
    let lock = world.read("base-images.lock");
    assert!(lock.contains("only: [linux/arm64]"), "{lock}");
    assert!(!lock.contains("linux/amd64"), "{lock}");
    assert!(out.contains("kept linux/arm64 of 2 platforms"), "{out}");
    let upstream_digest = manifest_digest(&world.upstream.host, "library/python:3.11.9");
    let mirror_line = lock
        .lines()
        .find(|l| l.contains("mirror:") && l.contains("python-upstream"))
        .unwrap();
    let mirror_digest = mirror_line.rsplit('@').next().unwrap().to_string();
    assert_ne!(mirror_digest, upstream_digest);

    world.ok(&["mirror"]);
    assert_eq!(
        manifest_digest(&world.private.host, "base/python-upstream:3.11.9"),
        mirror_digest
    );
    let index: serde_json::Value = serde_json::from_slice(&raw_manifest(
        &world.private.host,
        "base/python-upstream:3.11.9",
    ))
    .unwrap();
    let platforms: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(platforms, ["arm64"]);
    let child = index["manifests"][0]["digest"].as_str().unwrap();
    assert_same_image(
        &world,
        &format!("library/python@{child}"),
        &format!("base/python-upstream@{child}"),
    );
}
