//! The corpus of broken catalogs in `tests/broken/`: each must be refused with exactly the error text in
//! its `expected.txt`, exit code 2, and leave every file where it was.
//!
//! A case directory is laid over `tests/broken/_base` (a small valid repository) in a temporary
//! directory. Optional files: `args` (the command line, default `validate`), `links` (lines
//! `path -> target` made into symlinks), `remove` (paths of the base to delete). Set `BLESS=1` to
//! rewrite `expected.txt` from the current output, then review the diff.

mod common;

use std::path::Path;

use assert_cmd::Command;

const CONTROL_FILES: &[&str] = &["expected.txt", "args", "links", "remove"];

fn prepare(case: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("repo");
    std::fs::create_dir(&work).unwrap();
    common::copy_tree(&case.parent().unwrap().join("_base"), &work);
    for entry in std::fs::read_dir(case).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if CONTROL_FILES.contains(&name.to_str().unwrap()) {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(work.join(&name)).unwrap();
            common::copy_tree(&entry.path(), &work.join(&name));
        } else {
            std::fs::copy(entry.path(), work.join(&name)).unwrap();
        }
    }
    if let Ok(remove) = std::fs::read_to_string(case.join("remove")) {
        for path in remove.lines().filter(|l| !l.trim().is_empty()) {
            let path = work.join(path.trim());
            if path.is_dir() {
                std::fs::remove_dir_all(path).unwrap();
            } else {
                std::fs::remove_file(path).unwrap();
            }
        }
    }
    if let Ok(links) = std::fs::read_to_string(case.join("links")) {
        for line in links.lines().filter(|l| !l.trim().is_empty()) {
            let (link, target) = line
                .split_once(" -> ")
                .expect("links lines are `path -> target`");
            std::os::unix::fs::symlink(target.trim(), work.join(link.trim())).unwrap();
        }
    }
    dir
}

fn run(work: &Path, args: &[&str]) -> (i32, String, String) {
    let output = Command::cargo_bin("baseimg")
        .unwrap()
        .current_dir(work)
        .env_remove("BASEIMG_REGISTRY")
        .env_remove("BASEIMG_CATALOG")
        .env_remove("BASEIMG_LOCK")
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn base_repository_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    common::copy_tree(&common::repo_root().join("tests/broken/_base"), dir.path());
    let (code, stdout, stderr) = run(dir.path(), &["validate"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("2 images (1 mirrored, 1 built), no errors"),
        "{stdout}"
    );
    assert_eq!(stderr, "");
}

#[test]
fn every_broken_catalog_is_refused_with_its_exact_error() {
    let corpus = common::repo_root().join("tests/broken");
    let bless = std::env::var_os("BLESS").is_some();
    let mut cases: Vec<_> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && !p.file_name().unwrap().to_str().unwrap().starts_with('_'))
        .collect();
    cases.sort();
    assert!(cases.len() >= 25, "the corpus holds {} cases", cases.len());

    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let dir = prepare(case);
        let work = dir.path().join("repo");
        let args_text =
            std::fs::read_to_string(case.join("args")).unwrap_or_else(|_| "validate".into());
        let args: Vec<&str> = args_text.split_whitespace().collect();
        let before = common::snapshot(dir.path());

        let (code, _, stderr) = run(&work, &args);
        // A catalog that does not validate must not render either, and must write nothing.
        let (render_code, _, render_stderr) = if args == ["validate"] {
            run(&work, &["render", "--out", "rendered"])
        } else {
            (2, String::new(), String::new())
        };
        let after = common::snapshot(dir.path());

        let expected_path = case.join("expected.txt");
        if bless {
            std::fs::write(&expected_path, &stderr).unwrap();
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if code != 2 {
            failures.push(format!("{name}: exit code {code}, expected 2\n{stderr}"));
        }
        if stderr != expected {
            failures.push(format!(
                "{name}: error text differs\n--- expected\n{expected}--- actual\n{stderr}"
            ));
        }
        if render_code != 2 {
            failures.push(format!(
                "{name}: `render --out` exited {render_code}\n{render_stderr}"
            ));
        }
        if before != after {
            failures.push(format!("{name}: the working tree changed"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
