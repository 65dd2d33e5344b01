//! The test harness itself: a run that differs from what a test expects fails the test, the caller's
//! `BASEIMG_*` settings never reach baseimg, and indented texts are unindented as documented. Every
//! other integration test trusts these three things.

use testkit::harness::{Test, diff, unindent};

#[test]
#[should_panic(expected = "stdout differs")]
fn a_different_stdout_fails_the_test() {
    Test::example()
        .arg("validate")
        .stdout("base-images.yaml: 8 images\n")
        .run();
}

#[test]
#[should_panic(expected = "exit code 0, expected 2")]
fn a_different_exit_code_fails_the_test() {
    Test::example().arg("validate").status(2).run();
}

#[test]
#[should_panic(expected = "exit code 0, expected a failure")]
fn success_where_a_failure_is_expected_fails_the_test() {
    Test::example().arg("validate").failure().run();
}

#[test]
#[should_panic(expected = "stderr does not contain")]
fn a_missing_message_fails_the_test() {
    Test::example()
        .arg("validate")
        .stderr_contains("error:")
        .run();
}

#[test]
#[should_panic(expected = "output contains \"7 images\", which it must not")]
fn a_text_that_must_not_appear_fails_the_test() {
    Test::example()
        .arg("validate")
        .output_lacks("7 images")
        .run();
}

#[test]
#[should_panic(expected = "stdout does not match")]
fn a_regex_that_does_not_match_fails_the_test() {
    Test::example()
        .arg("validate")
        .stdout_regex(r"^\d+ images")
        .run();
}

#[test]
fn files_written_by_the_test_are_what_baseimg_reads() {
    Test::fixture("tests/broken/_base")
        .catalog(
            "
            registry: registry.example.com/base
            images:
              redis-upstream:
                mirror: docker.io/library/redis:7.2.4
            ",
        )
        .remove("images")
        .arg("validate")
        .stdout("base-images.yaml: 1 image (1 mirrored, 0 built), no errors\n")
        .run();
}

/// Runs `callers_settings_inner` in a second process of this test binary whose environment holds
/// settings a developer might have exported: they must not change what the inner test sees.
#[test]
fn the_callers_settings_do_not_reach_baseimg() {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "harness::baseimg_settings_of_the_caller_are_not_seen",
        ])
        .env("BASEIMG_CATALOG", "/nonexistent/base-images.yaml")
        .env("BASEIMG_REGISTRY", "leaked.example.com/base")
        .env("BASEIMG_JOBS", "0")
        .env("BASEIMG_SOMETHING_NEW", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Passes in any environment; `the_callers_settings_do_not_reach_baseimg` runs it again in one full
/// of `BASEIMG_*` settings that would change its output if they reached baseimg.
#[test]
fn baseimg_settings_of_the_caller_are_not_seen() {
    Test::example()
        .args(["render", "redis"])
        .stdout_contains("FROM localhost:5000/base/")
        .output_lacks("leaked.example.com")
        .run();
}

#[test]
fn indented_texts_lose_their_common_indentation() {
    let text = unindent(
        "
        registry: localhost:5000/base
        images:

          redis:
            from: redis-upstream
        ",
    );
    assert_eq!(
        text,
        "registry: localhost:5000/base\nimages:\n\n  redis:\n    from: redis-upstream\n"
    );
}

#[test]
fn texts_not_starting_with_a_line_break_are_left_as_they_are() {
    let verbatim = "  --> base-images.yaml:3:5\n   |\n";
    assert_eq!(unindent(verbatim), verbatim);
    assert_eq!(unindent(""), "");
}

#[test]
fn a_diff_shows_the_changed_line() {
    let shown = diff("one\ntwo\nthree\n", "one\n2\nthree\n");
    assert!(shown.contains("-two\n+2\n"), "{shown}");
    // A missing final newline is a difference too, and must be visible as one.
    let shown = diff("done\n", "done");
    assert!(shown.contains("No newline at end of file"), "{shown}");
}
