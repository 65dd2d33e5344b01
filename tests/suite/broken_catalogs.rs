//! The corpus of broken catalogs in `tests/broken/`: each must be refused with exactly the error text in
//! its `expected.txt`, exit code 2, and leave every file where it was.
//!
//! The case directories are found when the tests run, so a new case needs no code. One test runs
//! every case and, when any fail, fails naming each failing case with what differed (a diff of the
//! error text, the exit code, the files changed). `BROKEN_CASE=duplicate-tag cargo test --test suite
//! broken_catalogs` runs the cases whose name contains `duplicate-tag`.
//!
//! A case directory is laid over `tests/broken/_base` (a small valid repository) in a temporary
//! directory. Optional files: `args` (the command line, default `validate`), `links` (lines
//! `path -> target` made into symlinks), `remove` (paths of the base to delete). Set `BLESS=1` to
//! rewrite `expected.txt` from the current output, then review the diff.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use testkit::harness::Test;

const CONTROL_FILES: &[&str] = &["expected.txt", "args", "links", "remove"];

/// The corpus only grows; fewer cases than this means cases stopped being found.
const AT_LEAST: usize = 25;

fn corpus() -> PathBuf {
    testkit::repo_root().join("tests/broken")
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

/// What differs from what the case expects, if anything.
fn refused(case: &Path) -> Result<(), String> {
    let args_text =
        std::fs::read_to_string(case.join("args")).unwrap_or_else(|_| "validate".into());
    let args: Vec<&str> = args_text.split_whitespace().collect();
    let expected_path = case.join("expected.txt");
    let bless = std::env::var_os("BLESS").is_some();

    // Refused input is reported on stderr only: nothing on stdout for a script to mistake for a result.
    let test = prepare(case).args(&args).status(2).stdout("");
    let root = test.root().to_path_buf();
    let before = testkit::snapshot(&root);
    let test = if bless {
        test
    } else {
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        test.stderr_verbatim(&expected)
    };
    let output = test.try_run()?;
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
            .try_run()?
    } else {
        output
    };
    let after = testkit::snapshot(output.root());
    let changed: BTreeSet<_> = before
        .keys()
        .chain(after.keys())
        .filter(|path| before.get(*path) != after.get(*path))
        .collect();
    if !changed.is_empty() {
        return Err(format!("the working tree changed: {changed:?}"));
    }
    Ok(())
}

#[test]
fn base_repository_is_valid() {
    Test::fixture("tests/broken/_base")
        .arg("validate")
        .stdout_contains("2 images (1 mirrored, 1 built), no errors")
        .stderr("")
        .run();
}

#[test]
fn the_corpus_is_found() {
    let found = cases().len();
    assert!(found >= AT_LEAST, "the corpus holds {found} cases");
}

/// Every case (or those `BROKEN_CASE` names), each on its own: the failure names every case that
/// failed, with what differed.
#[test]
fn every_case_is_refused_as_expected() {
    let only = std::env::var("BROKEN_CASE").unwrap_or_default();
    let cases: Vec<PathBuf> = cases()
        .into_iter()
        .filter(|case| case.file_name().unwrap().to_string_lossy().contains(&only))
        .collect();
    // A case is a few short runs of baseimg: several at a time, as separate tests would run.
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                while let Some(case) = cases.get(next.fetch_add(1, Ordering::Relaxed)) {
                    if let Err(problem) = refused(case) {
                        let name = case.file_name().unwrap().to_string_lossy().into_owned();
                        failures.lock().unwrap().push((name, problem));
                    }
                }
            });
        }
    });
    let mut failures = failures.into_inner().unwrap();
    failures.sort();
    let failures: Vec<String> = failures
        .into_iter()
        .map(|(name, problem)| format!("=== case {name}\n{problem}"))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} broken-catalog cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
