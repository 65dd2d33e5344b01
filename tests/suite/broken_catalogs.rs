//! The corpus of broken catalogs in `tests/broken/`: each must be refused with exactly the error text in
//! its `expected.txt`, exit code 2, and leave every file where it was.
//!
//! Every case directory is one test, named after the directory and found when the tests run, so a new
//! case needs no code and a failure names its case (`cargo test --test broken_catalogs duplicate-tag`
//! runs one). This file therefore has its own `main` (libtest-mimic) instead of `#[test]` functions.
//!
//! A case directory is laid over `tests/broken/_base` (a small valid repository) in a temporary
//! directory. Optional files: `args` (the command line, default `validate`), `links` (lines
//! `path -> target` made into symlinks), `remove` (paths of the base to delete). Set `BLESS=1` to
//! rewrite `expected.txt` from the current output, then review the diff.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use common::harness::Test;
use libtest_mimic::{Arguments, Failed, Trial};

const CONTROL_FILES: &[&str] = &["expected.txt", "args", "links", "remove"];

/// The corpus only grows; fewer cases than this means cases stopped being found.
const AT_LEAST: usize = 25;

fn corpus() -> PathBuf {
    common::repo_root().join("tests/broken")
}

/// The case directories, in name order; `_`-prefixed ones are shared material, not cases.
fn cases() -> Vec<PathBuf> {
    let mut cases: Vec<_> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && !p.file_name().unwrap().to_string_lossy().starts_with('_'))
        .collect();
    cases.sort();
    cases
}

/// The repository of a case: `_base` in `<tmp>/repo`, the case's files over it, its removals and
/// links applied; baseimg runs in `repo`.
fn prepare(case: &Path) -> Test {
    let mut test = Test::new()
        .copy(corpus().join("_base"), "repo")
        .current_dir("repo");
    for entry in std::fs::read_dir(case).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if !CONTROL_FILES.contains(&name.to_string_lossy().as_ref()) {
            test = test.copy(entry.path(), Path::new("repo").join(&name));
        }
    }
    let listed = |file: &str| -> Vec<String> {
        std::fs::read_to_string(case.join(file))
            .unwrap_or_default()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect()
    };
    for path in listed("remove") {
        test = test.remove(Path::new("repo").join(path));
    }
    for line in listed("links") {
        let (link, target) = line
            .split_once(" -> ")
            .expect("links lines are `path -> target`");
        test = test.symlink(Path::new("repo").join(link.trim()), target.trim());
    }
    test
}

fn refused(case: &Path) {
    let args_text =
        std::fs::read_to_string(case.join("args")).unwrap_or_else(|_| "validate".into());
    let args: Vec<&str> = args_text.split_whitespace().collect();
    let expected_path = case.join("expected.txt");
    let bless = std::env::var_os("BLESS").is_some();

    // Refused input is reported on stderr only: nothing on stdout for a script to mistake for a result.
    let test = prepare(case).args(&args).status(2).stdout("");
    let root = test.root().to_path_buf();
    let before = common::snapshot(&root);
    let test = if bless {
        test
    } else {
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        test.stderr_verbatim(&expected)
    };
    let output = test.run();
    if bless {
        std::fs::write(&expected_path, &output.stderr).unwrap();
    }
    // A catalog that does not validate must not render either, and must write nothing.
    let output = if args == ["validate"] {
        output
            .into_test()
            .args(["render", "--out", "rendered"])
            .status(2)
            .stdout("")
            .run()
    } else {
        output
    };
    let after = common::snapshot(output.root());
    let changed: BTreeSet<_> = before
        .keys()
        .chain(after.keys())
        .filter(|path| before.get(*path) != after.get(*path))
        .collect();
    assert!(changed.is_empty(), "the working tree changed: {changed:?}");
}

fn base_repository_is_valid() {
    Test::fixture("tests/broken/_base")
        .arg("validate")
        .stdout_contains("2 images (1 mirrored, 1 built), no errors")
        .stderr("")
        .run();
}

/// Runs a test written as a function that panics on failure, as `#[test]` functions are.
fn trial(name: impl Into<String>, test: impl FnOnce() + Send + 'static) -> Trial {
    Trial::test(name, move || {
        test();
        Ok::<(), Failed>(())
    })
}

fn main() -> ExitCode {
    let arguments = Arguments::from_args();
    // libtest-mimic does not capture output: the default hook would print every failure a second
    // time, interleaved across threads. The failure report carries the panic message.
    std::panic::set_hook(Box::new(|_| {}));
    let cases = cases();
    let found = cases.len();
    let mut trials = vec![
        trial("base_repository_is_valid", base_repository_is_valid),
        trial("the_corpus_is_found", move || {
            assert!(found >= AT_LEAST, "the corpus holds {found} cases");
        }),
    ];
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        trials.push(trial(name, move || refused(&case)));
    }
    libtest_mimic::run(&arguments, trials).exit_code()
}
