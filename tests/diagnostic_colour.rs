//! Diagnostics are coloured for a person at a terminal and plain everywhere else: when stderr is a
//! pipe or a file (CI logs, `2> errors.txt`) and whenever `NO_COLOR` is set.
//!
//! A terminal is provided by util-linux `script`, which runs the real binary on a pseudo-terminal and
//! copies what it writes there to its own standard output.

use std::path::Path;
use std::process::{Command, Output};

const ESCAPE: char = '\u{1b}';

/// A repository whose catalog is refused (no registry) and one that validates with warnings (an
/// upstream `latest` tag, not yet locked).
fn repositories() -> (tempfile::TempDir, tempfile::TempDir) {
    let broken = tempfile::tempdir().unwrap();
    std::fs::write(
        broken.path().join("base-images.yaml"),
        "images:\n  redis:\n    mirror: redis:7.2.4\n",
    )
    .unwrap();
    let warned = tempfile::tempdir().unwrap();
    std::fs::write(
        warned.path().join("base-images.yaml"),
        "registry: localhost:5000/base\nimages:\n  redis:\n    mirror: redis:latest\n",
    )
    .unwrap();
    (broken, warned)
}

fn baseimg() -> String {
    assert_cmd::cargo::cargo_bin("baseimg")
        .display()
        .to_string()
}

/// `baseimg validate` in `dir` on a pseudo-terminal, with `NO_COLOR` set to `no_color` or removed.
fn on_terminal(dir: &Path, no_color: Option<&str>) -> Output {
    let quoted = format!("'{}' validate", baseimg().replace('\'', r"'\''"));
    let mut command = Command::new("script");
    command
        .args(["-qec", &quoted, "/dev/null"])
        .current_dir(dir)
        .env_remove("BASEIMG_REGISTRY")
        .env_remove("NO_COLOR");
    if let Some(value) = no_color {
        command.env("NO_COLOR", value);
    }
    command.output().expect("util-linux `script` runs")
}

fn piped(dir: &Path) -> Output {
    Command::new(baseimg())
        .arg("validate")
        .current_dir(dir)
        .env_remove("BASEIMG_REGISTRY")
        .env_remove("NO_COLOR")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn errors_and_warnings_are_coloured_on_a_terminal() {
    let (broken, warned) = repositories();

    let output = on_terminal(broken.path(), None);
    let shown = text(&output.stdout);
    assert_eq!(output.status.code(), Some(2), "{shown}");
    assert!(
        shown.contains("the catalog names no private registry"),
        "{shown}"
    );
    assert!(shown.contains(ESCAPE), "no colour on a terminal:\n{shown}");

    let output = on_terminal(warned.path(), None);
    let shown = text(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{shown}");
    assert!(shown.contains("follows `latest`"), "{shown}");
    assert!(shown.contains(ESCAPE), "no colour on a terminal:\n{shown}");
}

#[test]
fn no_colour_when_stderr_is_piped() {
    let (broken, warned) = repositories();
    for (dir, code) in [(broken.path(), 2), (warned.path(), 0)] {
        let output = piped(dir);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(code), "{stderr}");
        assert!(stderr.contains("--> base-images.yaml:"), "{stderr}");
        assert!(!stderr.contains(ESCAPE), "colour in a pipe:\n{stderr:?}");
    }
}

#[test]
fn no_colour_with_no_color_set_even_on_a_terminal() {
    let (broken, warned) = repositories();
    for (dir, code) in [(broken.path(), 2), (warned.path(), 0)] {
        let output = on_terminal(dir, Some("1"));
        let shown = text(&output.stdout);
        assert_eq!(output.status.code(), Some(code), "{shown}");
        assert!(shown.contains("--> base-images.yaml:"), "{shown}");
        assert!(
            !shown.contains(ESCAPE),
            "colour despite NO_COLOR:\n{shown:?}"
        );
    }
    // An empty NO_COLOR does not count as set (no-color.org).
    let shown = text(&on_terminal(broken.path(), Some("")).stdout);
    assert!(shown.contains(ESCAPE), "{shown}");
}
