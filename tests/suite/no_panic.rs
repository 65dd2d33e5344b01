//! No input makes baseimg panic: the example catalog and lock file, damaged in many systematic ways
//! (every line removed, every line truncated, characters replaced), are always either accepted or
//! refused with diagnostics.

use std::path::Path;

use baseimg::catalog::{Catalog, LoadOptions};
use baseimg::graph::Graph;
use baseimg::lock::LockFile;

fn variants(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for i in 0..lines.len() {
        let mut removed = lines.clone();
        removed.remove(i);
        out.push(removed.join("\n"));
        let mut truncated: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        let keep = truncated[i].len() / 2;
        truncated[i] = truncated[i].chars().take(keep).collect();
        out.push(truncated.join("\n"));
        for replacement in [
            ":", "[", "{", "\t", "- ", "&a ", "*a", "\"", "'", "@", "\u{feff}",
        ] {
            let mut replaced: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            let at = replaced[i].len() / 3;
            if replaced[i].is_char_boundary(at) {
                replaced[i].insert_str(at, replacement);
            }
            out.push(replaced.join("\n"));
        }
    }
    out
}

#[test]
fn damaged_catalogs_never_panic() {
    let dir = testkit::example_copy();
    let text = std::fs::read_to_string(dir.path().join("base-images.yaml")).unwrap();
    let lock = LockFile::load(&dir.path().join("base-images.lock")).unwrap();
    let path = dir.path().join("base-images.yaml");
    let mut accepted = 0;
    let mut refused = 0;
    for variant in variants(&text) {
        match Catalog::parse(&path, variant, &LoadOptions::default()) {
            Ok((catalog, _)) => {
                accepted += 1;
                if let Ok(graph) = Graph::build(&catalog) {
                    let _ = baseimg::plan::resolve(
                        &catalog,
                        &lock,
                        graph.order(),
                        baseimg::plan::Unlocked::Unpin,
                    );
                }
            }
            Err(diagnostics) => {
                assert!(diagnostics.has_errors());
                // Drawing points into the damaged text; that must not panic either.
                let _ = diagnostics.render(true);
                refused += 1;
            }
        }
    }
    assert!(
        accepted > 0 && refused > 0,
        "accepted {accepted}, refused {refused}"
    );
}

#[test]
fn damaged_lock_files_never_panic() {
    let dir = testkit::example_copy();
    let text = std::fs::read_to_string(dir.path().join("base-images.lock")).unwrap();
    let mut refused = 0;
    for variant in variants(&text) {
        if let Err(diagnostics) = LockFile::parse(Path::new("base-images.lock"), &variant) {
            assert!(diagnostics.has_errors());
            let _ = diagnostics.render(true);
            refused += 1;
        }
    }
    assert!(refused > 0);
}
