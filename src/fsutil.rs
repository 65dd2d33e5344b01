//! File writing that never leaves a half-written file behind, with the mode an editor would give it.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Writes `contents` to a temporary file in the same directory, flushes it to disk and renames it over
/// `path`. A crash or a full disk leaves either the old file or the new one.
///
/// The file gets the mode an editor would give it: a file replaced keeps its mode; a new one is
/// created with 0666 less the umask (0644 under the usual 022), not the 0600 of temporary files.
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let existing = fs::metadata(path)
        .ok()
        .filter(fs::Metadata::is_file)
        .map(|m| m.permissions().mode() & 0o777);
    // The kernel takes the umask off the mode a new file is created with. A replacement starts
    // private and gets the old file's mode before it takes its place.
    let created = if existing.is_some() { 0o600 } else { 0o666 };
    let mut file = tempfile::Builder::new()
        .prefix(".baseimg-")
        .suffix(".tmp")
        .permissions(fs::Permissions::from_mode(created))
        .tempfile_in(directory)?;
    if let Some(mode) = existing {
        file.as_file()
            .set_permissions(fs::Permissions::from_mode(mode))?;
    }
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

    /// This process's umask, as the kernel reports it (reading it with umask(2) would change it).
    fn umask() -> u32 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("Umask:")).unwrap();
        u32::from_str_radix(line["Umask:".len()..].trim(), 8).unwrap()
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn a_new_file_gets_the_mode_the_umask_leaves() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.txt");
        write_atomic(&path, b"one").unwrap();
        assert_eq!(mode(&path), 0o666 & !umask(), "umask {:o}", umask());
    }

    #[test]
    fn a_replaced_file_keeps_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        for kept in [0o640, 0o755, 0o600] {
            let path = dir.path().join(format!("kept-{kept:o}"));
            std::fs::write(&path, "old").unwrap();
            std::fs::set_permissions(&path, fs::Permissions::from_mode(kept)).unwrap();
            write_atomic(&path, b"new").unwrap();
            assert_eq!(mode(&path), kept);
            assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        }
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
