//! File writing that never leaves a half-written file behind.

use std::io::Write;
use std::path::Path;

/// Writes `contents` to a temporary file in the same directory, flushes it to disk and renames it over
/// `path`. A crash or a full disk leaves either the old file or the new one.
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut file = tempfile::Builder::new()
        .prefix(".baseimg-")
        .suffix(".tmp")
        .tempfile_in(directory)?;
    file.write_all(contents)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|error| error.error)?;
    Ok(())
}

/// The directory of baseimg's own files beside a catalog (build logs, reports): `.baseimg/`, made
/// with a `.gitignore` of `*` so none of it ever shows up in `git status` of the catalog's repository.
pub fn state_dir(root: &Path) -> std::io::Result<std::path::PathBuf> {
    let dir = root.join(".baseimg");
    std::fs::create_dir_all(&dir)?;
    let ignore = dir.join(".gitignore");
    if !ignore.exists() {
        write_atomic(
            &ignore,
            b"# baseimg's build logs and reports: nothing here belongs in version control.\n*\n",
        )?;
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_directory_ignores_itself() {
        let dir = tempfile::tempdir().unwrap();
        let state = state_dir(dir.path()).unwrap();
        assert_eq!(state, dir.path().join(".baseimg"));
        let ignore = std::fs::read_to_string(state.join(".gitignore")).unwrap();
        assert!(ignore.lines().any(|l| l == "*"), "{ignore}");
        state_dir(dir.path()).unwrap();
    }

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
