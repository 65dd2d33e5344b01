//! The example catalog through the command line: validation, golden rendered Dockerfiles, plan and
//! graph output, and the options every command shares.

use testkit::harness::Test;

#[test]
fn the_example_catalog_is_valid() {
    Test::example()
        .arg("validate")
        .stdout("base-images.yaml: 7 images (3 mirrored, 4 built), no errors\n")
        .stderr("")
        .run();
}

#[test]
fn rendered_dockerfiles_match_the_golden_files() {
    let output = Test::example().args(["render", "--out", "rendered"]).run();
    let out = output.root().join("rendered");
    let golden = testkit::repo_root().join("tests/golden");
    let bless = std::env::var_os("BLESS").is_some();
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "api-base.Dockerfile",
            "postgres.Dockerfile",
            "python.Dockerfile",
            "redis.Dockerfile"
        ]
    );
    for name in names {
        let actual = std::fs::read_to_string(out.join(&name)).unwrap();
        if bless {
            std::fs::write(golden.join(&name), &actual).unwrap();
        }
        let expected = std::fs::read_to_string(golden.join(&name)).unwrap();
        assert!(
            actual == expected,
            "{name} differs from tests/golden/{name} (BLESS=1 rewrites it):\n{}",
            testkit::harness::diff(&expected, &actual)
        );
    }
}

#[test]
fn every_from_is_the_private_registry_pinned_by_digest_or_fingerprint() {
    let out = Test::example().arg("render").run().stdout;
    let froms: Vec<&str> = out.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(froms.len(), 4);
    for from in froms {
        let reference = from.trim_start_matches("FROM ");
        assert!(reference.starts_with("localhost:5000/base/"), "{from}");
        let digest_pinned = reference.contains("@sha256:");
        let fingerprint_tag = reference
            .rsplit(':')
            .next()
            .unwrap()
            .rsplit('-')
            .next()
            .unwrap()
            .len()
            == 12;
        assert!(digest_pinned || fingerprint_tag, "{from}");
    }
}

#[test]
fn rendering_is_deterministic() {
    let first = Test::example().arg("render").run();
    let stdout = first.stdout.clone();
    first.into_test().arg("render").stdout(&stdout).run();
}

#[test]
fn registry_can_be_overridden_by_flag_and_environment() {
    let by_flag = Test::example()
        .args([
            "render",
            "redis",
            "--registry",
            "registry.example.com/platform",
        ])
        .stdout_contains("FROM registry.example.com/platform/upstream/redis:7.2.4-bookworm@sha256:")
        .run();
    let by_flag_stdout = by_flag.stdout.clone();
    by_flag
        .into_test()
        .env("BASEIMG_REGISTRY", "registry.example.com/platform")
        .args(["render", "redis"])
        .stdout(&by_flag_stdout)
        .run();
}

#[test]
fn catalog_flag_works_before_and_after_the_subcommand() {
    let dir = testkit::example_copy();
    let parent = dir.path().parent().unwrap();
    let name = dir.path().file_name().unwrap().to_str().unwrap();
    let path = format!("{name}/base-images.yaml");
    let before = Test::in_dir(parent)
        .args(["-f", &path, "graph"])
        .stdout_contains("  python (built, tags 3.11.9, 3.11)\n    api-base")
        .run()
        .stdout;
    Test::in_dir(parent)
        .args(["graph", "--catalog", &path])
        .stdout(&before)
        .run();
}

#[test]
fn plan_selects_an_image_and_what_it_needs() {
    let dir = testkit::example_copy();
    let json = Test::in_dir(dir.path())
        .args(["plan", "--offline", "api-base", "--output", "json"])
        .run()
        .json();
    let steps = json["steps"].as_array().unwrap();
    let summary: Vec<(&str, &str)> = steps
        .iter()
        .map(|s| (s["image"].as_str().unwrap(), s["action"].as_str().unwrap()))
        .collect();
    assert_eq!(
        summary,
        [
            ("python-upstream", "mirror"),
            ("python", "build"),
            ("api-base", "build")
        ]
    );
    assert_eq!(steps[2]["reason"], "parent `python` is rebuilt");
    assert!(steps[1]["fingerprint"].as_str().unwrap().len() == 64);

    Test::in_dir(dir.path())
        .args(["plan", "--offline", "python", "--with-dependents"])
        .stdout_contains("api-base")
        .stdout_lacks("redis")
        .run();
}

/// Every command that takes image names looks them up the same way: a misspelt one is refused, with
/// the name it most likely meant, before any work.
#[test]
fn every_command_that_takes_image_names_suggests_the_close_one() {
    let commands: [&[&str]; 14] = [
        &["run", "reddis"],
        &["check", "reddis"],
        &["history", "reddis"],
        &["update", "reddis"],
        &["refresh", "--adopt", "reddis"],
        &["plan", "reddis"],
        &["render", "reddis"],
        &["build", "reddis"],
        &["mirror", "reddis"],
        &["rollback", "reddis"],
        &["prune", "reddis"],
        &["logs", "reddis"],
        &["stop", "reddis"],
        &["down", "reddis"],
    ];
    for command in commands {
        Test::example()
            .args(command)
            .status(2)
            .stdout("")
            .stderr(
                "
                error[catalog::unknown-image]: no image named `reddis` in the catalog
                 |
                 = help: did you mean `redis`?
                ",
            )
            .run();
    }
    let json = Test::example()
        .args(["run", "reddis", "--output", "json"])
        .status(2)
        .run()
        .json();
    let diagnostic = &json["diagnostics"][0];
    assert_eq!(diagnostic["code"], "catalog::unknown-image", "{json:#}");
    assert_eq!(diagnostic["severity"], "error", "{json:#}");
    assert_eq!(diagnostic["help"], "did you mean `redis`?", "{json:#}");
}

#[test]
fn without_a_lock_file_plan_and_render_name_the_command_that_fixes_it() {
    let test = Test::example().remove("base-images.lock");
    // (Without pins there is nothing to look up in the registry: no request is made.)
    // A built image says why it is blocked: which mirror is not locked, through which built parent.
    let plan = test
        .arg("plan")
        .stdout(
            "IMAGE              ACTION   REFERENCE  REASON\n\
             python-upstream    lock     -          not in the lock file; run `baseimg lock`\n\
             redis-upstream     lock     -          not in the lock file; run `baseimg lock`\n\
             postgres-upstream  lock     -          not in the lock file; run `baseimg lock`\n\
             python             blocked  -          its parent `python-upstream` is not in the lock file; run `baseimg lock`\n\
             api-base           blocked  -          its parent `python` cannot be built: its parent `python-upstream` is not in the lock file; run `baseimg lock`\n\
             redis              blocked  -          its parent `redis-upstream` is not in the lock file; run `baseimg lock`\n\
             postgres           blocked  -          its parent `postgres-upstream` is not in the lock file; run `baseimg lock`\n\
             \n\
             7 images: 0 to mirror, 0 to build, 0 up to date, 7 waiting for `baseimg lock`\n",
        )
        .run();

    plan.into_test()
        .args(["render", "redis"])
        .status(2)
        .stderr_contains("`redis-upstream` is not pinned: not in the lock file")
        .stderr_contains("run `baseimg lock` first")
        .run();
}

#[test]
fn graph_formats() {
    let dir = testkit::example_copy();
    Test::in_dir(dir.path())
        .args(["graph", "--format", "dot"])
        .stdout_regex(r"\Adigraph baseimg \{")
        .stdout_contains("\"python\" -> \"api-base\";")
        .run();
    Test::in_dir(dir.path())
        .args(["graph", "--format", "mermaid", "redis"])
        .stdout_contains("redis_upstream --> redis")
        // The selection limits the graph.
        .stdout_lacks("python")
        .run();
}

#[test]
fn help_shows_examples() {
    Test::example()
        .args(["plan", "--help"])
        .stdout_contains("Examples:")
        .run();
}

/// Help says what is true: how render pins each kind of parent, and what each progress mode does.
#[test]
fn help_says_what_render_pins_and_what_progress_modes_do() {
    Test::new()
        .args(["render", "--help"])
        .stdout_contains(
            "a mirrored parent's FROM pinned by digest, a built parent's\nby its immutable tag",
        )
        .stdout_lacks("every FROM pinned by digest")
        .run();
    Test::new()
        .args(["build", "--help"])
        .stdout_contains("- auto:  As tty when standard error is a terminal, as plain otherwise")
        .stdout_contains(
            "- tty:   One live line per image, redrawn in place, even into a pipe or file",
        )
        .stdout_contains("- plain: One `[image] step` line per step and result, never redrawn")
        .run();
}

#[test]
fn every_command_answers_in_json_with_its_warnings() {
    for args in [
        &["validate"][..],
        &["graph"],
        &["render", "redis"],
        &["plan", "--offline"],
    ] {
        let output = Test::example()
            .args(args)
            .args(["--output", "json"])
            .stderr("")
            .run();
        let json = output.json();
        assert!(json["warnings"].is_array(), "{args:?}: {json:#}");
    }
    let graph = Test::example()
        .args(["graph", "api-base", "--output", "json"])
        .run()
        .json();
    assert_eq!(graph["images"][2]["image"], "api-base");
    assert_eq!(graph["images"][2]["parent"], "python");
}

#[test]
fn shell_completions_and_the_man_page_name_every_command() {
    let bash = Test::new().args(["completions", "bash"]).run();
    let man = Test::new()
        .arg("man")
        .stdout_contains(".TH baseimg 1")
        .run();
    for command in [
        "validate",
        "plan",
        "mirror",
        "build",
        "outdated",
        "completions",
    ] {
        assert!(
            bash.stdout.contains(command),
            "bash completion lacks {command}"
        );
        assert!(man.stdout.contains(command), "man page lacks {command}");
    }
    Test::new()
        .args(["completions", "tcsh"])
        .status(2)
        .stderr_contains("invalid value 'tcsh'")
        .run();
}

#[test]
fn init_writes_a_repository_that_validates_and_refuses_to_overwrite_one() {
    let written = Test::new()
        .arg("init")
        .stdout_contains("wrote a base-images repository in . (18 files)")
        .run();
    let root = written.root().to_path_buf();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(root.join("images/postgres/initdb/01-role-and-database.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111, "init scripts are executable");
    // The nightly job for GitHub Actions and GitLab CI: well-formed YAML that runs `refresh` and
    // keeps its report.
    for ci in [
        ".github/workflows/base-images-refresh.yml",
        ".gitlab-ci.yml",
    ] {
        let text = std::fs::read_to_string(root.join(ci)).unwrap();
        let parsed: Result<serde_json::Value, _> = serde_saphyr::from_str(&text);
        assert!(parsed.is_ok(), "{ci}: {parsed:?}");
        assert!(text.contains("baseimg refresh"), "{ci}");
        assert!(
            text.contains("report.md") && text.contains("artifact"),
            "{ci}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(root.join("base-images.yaml")).unwrap(),
        std::fs::read_to_string(testkit::repo_root().join("base-images.yaml")).unwrap()
    );
    let before = testkit::snapshot(&root);
    let again = written
        .into_test()
        .arg("init")
        .status(2)
        .stderr_contains("already has base-images.yaml, Makefile")
        .run();
    assert_eq!(
        testkit::snapshot(&root),
        before,
        "a refused init writes nothing"
    );
    again
        .into_test()
        .arg("validate")
        .stdout("base-images.yaml: 7 images (3 mirrored, 4 built), no errors\n")
        .run();
}

#[test]
fn an_unreachable_private_registry_is_one_clear_error_not_a_minute_of_retries() {
    // Nothing listens on a port just handed out and closed again.
    let registry = format!("127.0.0.1:{}", testkit::free_port());
    let commands: [&[&str]; 3] = [&["plan"], &["mirror"], &["build", "--push"]];
    for command in commands {
        let output = Test::example()
            .args(["--registry", &format!("{registry}/base")])
            .args(command)
            .status(2)
            .stderr_contains(&format!("cannot reach the private registry `{registry}`"))
            .stderr_contains("cannot connect")
            .stderr_lacks("gave up after")
            .run();
        assert_eq!(
            output.stderr.matches("error[").count(),
            1,
            "{command:?}: {}",
            output.stderr
        );
    }
}

#[test]
fn a_credential_in_a_build_argument_is_a_warning_that_never_shows_it() {
    let token = "ghp_q8VvT3cR7nXw2LzK5mJ9";
    let password = "s3cr3t-7Hq2vZ";
    let url = format!("https://ci:{password}@pypi.example.com/simple");
    let test = Test::example();
    let catalog = test.root().join("base-images.yaml");
    let text = std::fs::read_to_string(&catalog).unwrap();
    let text = text
        .replacen(
            "  platforms: [linux/amd64]\n",
            &format!("  platforms: [linux/amd64]\n  build_args:\n    GITHUB_TOKEN: {token}\n"),
            1,
        )
        .replacen(
            "    version: \"1.4.0\"\n",
            &format!("    version: \"1.4.0\"\n    build_args: {{ PIP_INDEX_URL: \"{url}\" }}\n"),
            1,
        );
    std::fs::write(&catalog, &text).unwrap();
    // `file:line:column` of each build argument's name, as the warnings must name it.
    let place = |name: &str| {
        let (line, content) = text
            .lines()
            .enumerate()
            .find(|(_, l)| l.contains(&format!("{name}:")))
            .unwrap();
        let column = content.find(name).unwrap() + 1;
        format!("base-images.yaml:{}:{column}", line + 1)
    };
    let history = "the classic builder writes build arguments into the image history";
    let instead = "under `secrets:` (`env:` or `file:`) and read it in the template with `RUN --mount=type=secret,id=…`";
    let output = test
        .arg("validate")
        .stdout("base-images.yaml: 7 images (3 mirrored, 4 built), no errors\n")
        .stderr_contains(
            "warning[catalog::credential-in-build-arg]: build argument `GITHUB_TOKEN` looks like a credential: its name contains `TOKEN`\n",
        )
        .stderr_contains(&format!("--> {}\n", place("GITHUB_TOKEN")))
        .stderr_contains(
            "warning[catalog::credential-in-build-arg]: build argument `PIP_INDEX_URL` looks like a credential: its value holds a URL with a user name and password\n",
        )
        .stderr_contains(&format!("--> {}\n", place("PIP_INDEX_URL")))
        .stderr_contains(history)
        .stderr_contains(instead)
        .output_lacks(token)
        .output_lacks(password)
        .output_lacks("pypi.example.com")
        .run();
    let json = output
        .into_test()
        .args(["validate", "--output", "json"])
        .stderr("")
        .output_lacks(token)
        .output_lacks(password)
        .output_lacks("pypi.example.com")
        .run()
        .json();
    let warnings = json["warnings"].as_array().unwrap();
    let found: Vec<(String, String)> = warnings
        .iter()
        .map(|w| {
            let at = &w["location"];
            (
                w["message"].as_str().unwrap().to_string(),
                format!(
                    "{}:{}:{}",
                    at["file"].as_str().unwrap(),
                    at["line"],
                    at["column"]
                ),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            (
                "build argument `GITHUB_TOKEN` looks like a credential: its name contains `TOKEN`"
                    .to_string(),
                place("GITHUB_TOKEN")
            ),
            (
                "build argument `PIP_INDEX_URL` looks like a credential: its value holds a URL with a user name and password"
                    .to_string(),
                place("PIP_INDEX_URL")
            ),
        ]
    );
    assert_eq!(warnings[1]["image"], "api-base");
    assert!(warnings.iter().all(|w| w["severity"] == "warning"));
    assert!(
        warnings
            .iter()
            .all(|w| w["code"] == "catalog::credential-in-build-arg")
    );
}

/// The example's `oci_labels` macro quotes label values by Dockerfile rules: the image carries the
/// text a person wrote (`Ann's team`), not JSON's `\u0027`, and `$` is not expanded by Docker.
#[test]
fn label_values_are_written_as_people_wrote_them() {
    let test = Test::example();
    let catalog = std::fs::read_to_string(test.root().join("base-images.yaml")).unwrap();
    let catalog = catalog.replace(
        "  org.opencontainers.image.licenses: MIT\n",
        "  org.opencontainers.image.licenses: MIT\n  com.example.owner: 'Ann''s team, \"ops\" \\ $5'\n",
    );
    std::fs::write(test.root().join("base-images.yaml"), catalog).unwrap();
    test.args(["render", "redis"])
        .stdout_contains("\nLABEL com.example.owner=\"Ann's team, \\\"ops\\\" \\\\ \\$5\" \\\n")
        .stdout_lacks("\\u0027")
        .run();
}
