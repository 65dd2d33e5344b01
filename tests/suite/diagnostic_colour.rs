//! Diagnostics are coloured for a person at a terminal and plain everywhere else: when stderr is a
//! pipe or a file (CI logs, `2> errors.txt`) and whenever `NO_COLOR` is set.
//!
//! A terminal is provided by util-linux `script` (the harness's `terminal()`), which runs the real
//! binary on a pseudo-terminal and copies what it writes there to its own standard output.

use testkit::harness::Test;

const ESCAPE: &str = "\u{1b}[";

/// A catalog that is refused (no registry), exit 2.
const BROKEN: &str = "images:\n  redis:\n    mirror: redis:7.2.4\n";
/// A catalog that validates with a warning (an upstream `latest` tag, not yet locked), exit 0.
const WARNED: &str = "registry: localhost:5000/base\nimages:\n  redis:\n    mirror: redis:latest\n";

#[test]
fn errors_and_warnings_are_coloured_on_a_terminal() {
    for (catalog, code, says) in [
        (BROKEN, 2, "the catalog names no private registry"),
        (WARNED, 0, "follows `latest`"),
    ] {
        Test::new()
            .catalog(catalog)
            .arg("validate")
            .terminal()
            .env_remove("NO_COLOR")
            .status(code)
            .stdout_contains(says)
            .stdout_contains(ESCAPE)
            .run();
    }
}

#[test]
fn no_colour_when_stderr_is_piped() {
    for (catalog, code) in [(BROKEN, 2), (WARNED, 0)] {
        Test::new()
            .catalog(catalog)
            .arg("validate")
            .env_remove("NO_COLOR")
            .status(code)
            .stderr_contains("--> base-images.yaml:")
            .stderr_lacks(ESCAPE)
            .run();
    }
}

#[test]
fn no_colour_with_no_color_set_even_on_a_terminal() {
    for (catalog, code) in [(BROKEN, 2), (WARNED, 0)] {
        Test::new()
            .catalog(catalog)
            .arg("validate")
            .terminal()
            .env("NO_COLOR", "1")
            .status(code)
            .stdout_contains("--> base-images.yaml:")
            .stdout_lacks(ESCAPE)
            .run();
    }
    // An empty NO_COLOR does not count as set (no-color.org).
    Test::new()
        .catalog(BROKEN)
        .arg("validate")
        .terminal()
        .env("NO_COLOR", "")
        .status(2)
        .stdout_contains(ESCAPE)
        .run();
}
