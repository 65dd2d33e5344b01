//! The example catalog through the command line: validation, golden rendered Dockerfiles, plan and
//! graph output, and the options every command shares.

mod common;

use std::path::Path;

use assert_cmd::Command;

fn baseimg(dir: &Path) -> Command {
    let mut command = Command::cargo_bin("baseimg").unwrap();
    command
        .current_dir(dir)
        .env_remove("BASEIMG_REGISTRY")
        .env_remove("BASEIMG_CATALOG")
        .env_remove("BASEIMG_LOCK");
    command
}

fn stdout(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "exit {:?}\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn the_example_catalog_is_valid() {
    let dir = common::example_copy();
    let out = stdout(baseimg(dir.path()).arg("validate"));
    assert_eq!(
        out,
        "base-images.yaml: 7 images (3 mirrored, 4 built), no errors\n"
    );
}

#[test]
fn rendered_dockerfiles_match_the_golden_files() {
    let dir = common::example_copy();
    let out = dir.path().join("rendered");
    stdout(baseimg(dir.path()).args(["render", "--out", "rendered"]));
    let golden = common::repo_root().join("tests/golden");
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
        assert_eq!(
            actual, expected,
            "{name} differs from tests/golden/{name} (BLESS=1 rewrites it)"
        );
    }
}

#[test]
fn every_from_is_the_private_registry_pinned_by_digest_or_fingerprint() {
    let dir = common::example_copy();
    let out = stdout(baseimg(dir.path()).arg("render"));
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
    let dir = common::example_copy();
    let first = stdout(baseimg(dir.path()).arg("render"));
    let second = stdout(baseimg(dir.path()).arg("render"));
    assert_eq!(first, second);
}

#[test]
fn registry_can_be_overridden_by_flag_and_environment() {
    let dir = common::example_copy();
    let by_flag = stdout(baseimg(dir.path()).args([
        "render",
        "redis",
        "--registry",
        "registry.example.com/platform",
    ]));
    assert!(
        by_flag
            .contains("FROM registry.example.com/platform/upstream/redis:7.2.4-bookworm@sha256:"),
        "{by_flag}"
    );
    let by_env = stdout(
        baseimg(dir.path())
            .env("BASEIMG_REGISTRY", "registry.example.com/platform")
            .args(["render", "redis"]),
    );
    assert_eq!(by_flag, by_env);
}

#[test]
fn catalog_flag_works_before_and_after_the_subcommand() {
    let dir = common::example_copy();
    let parent = dir.path().parent().unwrap();
    let name = dir.path().file_name().unwrap().to_str().unwrap();
    let path = format!("{name}/base-images.yaml");
    let before = stdout(baseimg(parent).args(["-f", &path, "graph"]));
    let after = stdout(baseimg(parent).args(["graph", "--catalog", &path]));
    assert_eq!(before, after);
    assert!(
        before.contains("  python (built, tags 3.11.9, 3.11)\n    api-base"),
        "{before}"
    );
}

#[test]
fn plan_selects_an_image_and_what_it_needs() {
    let dir = common::example_copy();
    let out =
        stdout(baseimg(dir.path()).args(["plan", "--offline", "api-base", "--output", "json"]));
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
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

    let with_dependents =
        stdout(baseimg(dir.path()).args(["plan", "--offline", "python", "--with-dependents"]));
    assert!(with_dependents.contains("api-base"), "{with_dependents}");
    assert!(!with_dependents.contains("redis"), "{with_dependents}");
}

#[test]
fn without_a_lock_file_plan_and_render_name_the_command_that_fixes_it() {
    let dir = common::example_copy();
    std::fs::remove_file(dir.path().join("base-images.lock")).unwrap();
    let plan = stdout(baseimg(dir.path()).arg("plan"));
    // (Without pins there is nothing to look up in the registry: no request is made.)
    assert!(plan.contains("python-upstream    lock"), "{plan}");
    assert!(
        plan.contains("not in the lock file; run `baseimg lock`"),
        "{plan}"
    );
    assert!(
        plan.contains(
            "7 images: 0 to mirror, 0 to build, 0 up to date, 7 waiting for `baseimg lock`"
        ),
        "{plan}"
    );

    let render = baseimg(dir.path())
        .args(["render", "redis"])
        .output()
        .unwrap();
    assert_eq!(render.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&render.stderr);
    assert!(
        stderr.contains("`redis-upstream` is not pinned: not in the lock file"),
        "{stderr}"
    );
    assert!(stderr.contains("run `baseimg lock` first"), "{stderr}");
}

#[test]
fn graph_formats() {
    let dir = common::example_copy();
    let dot = stdout(baseimg(dir.path()).args(["graph", "--format", "dot"]));
    assert!(dot.starts_with("digraph baseimg {"), "{dot}");
    assert!(dot.contains("\"python\" -> \"api-base\";"), "{dot}");
    let mermaid = stdout(baseimg(dir.path()).args(["graph", "--format", "mermaid", "redis"]));
    assert!(mermaid.contains("redis_upstream --> redis"), "{mermaid}");
    assert!(
        !mermaid.contains("python"),
        "selection limits the graph: {mermaid}"
    );
}

#[test]
fn help_shows_examples() {
    let dir = common::example_copy();
    let help = stdout(baseimg(dir.path()).args(["plan", "--help"]));
    assert!(help.contains("Examples:"), "{help}");
}
