//! File reading and writing with the care user input and user files need: input files (the catalog,
//! the lock file, templates) are read only when they are regular files of sane size that do not lead
//! out of where they belong, and files are written so that a crash never leaves half of one behind.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The largest catalog, lock file or template baseimg reads: far above any real one, far below what
/// would hurt to hold in memory.
pub(crate) const MAX_INPUT_BYTES: u64 = 16 * 1024 * 1024;

/// Why an input file was not read. [`InputError::message`] words it for a diagnostic.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InputError {
    #[error("`{}` does not exist", path.display())]
    NotFound { path: PathBuf },
    /// The file, or a directory on its way, is a symlink that resolves outside `root`.
    #[error("`{}` points outside `{}` (to `{}`)", path.display(), root.display(), target.display())]
    Outside {
        path: PathBuf,
        root: PathBuf,
        target: PathBuf,
    },
    /// A directory, FIFO, socket or device: reading one would fail, hang or never end.
    #[error("`{}` is {kind}, not a regular file", path.display())]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("`{}` is {size} bytes, more than the {} MiB baseimg reads", path.display(), MAX_INPUT_BYTES >> 20)]
    TooLarge { path: PathBuf, size: u64 },
    #[error("`{}` is not UTF-8 text", path.display())]
    NotText { path: PathBuf },
    #[error("cannot read `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl InputError {
    /// What is wrong with the file, after its name: `points outside the repository (to `…`)`,
    /// `is a FIFO (named pipe), not a regular file`, … `scope` names the place the file had to stay
    /// in ("its directory", "the repository").
    pub(crate) fn predicate(&self, scope: &str) -> String {
        match self {
            InputError::NotFound { .. } => "does not exist".to_string(),
            InputError::Outside { target, .. } => {
                format!("points outside {scope} (to `{}`)", target.display())
            }
            InputError::NotRegular { kind, .. } => format!("is {kind}, not a regular file"),
            InputError::TooLarge { size, .. } => format!(
                "is {size} bytes, more than the {} MiB baseimg reads",
                MAX_INPUT_BYTES >> 20
            ),
            InputError::NotText { .. } => "is not UTF-8 text".to_string(),
            InputError::Io { source, .. } => format!("cannot be read: {source}"),
        }
    }

    /// The headline of a diagnostic: `what` (`catalog`, `lock file`, `template`), the file, and
    /// what is wrong with it.
    pub(crate) fn message(&self, what: &str, scope: &str) -> String {
        match self {
            InputError::Io { path, source } => {
                format!("cannot read {what} `{}`: {source}", path.display())
            }
            other => format!(
                "{what} `{}` {}",
                other.path().display(),
                other.predicate(scope)
            ),
        }
    }

    /// What to do about a file too large to read, the same for every kind of input.
    pub(crate) fn too_large_help() -> String {
        format!(
            "catalogs, lock files and templates are read only up to {} MiB",
            MAX_INPUT_BYTES >> 20
        )
    }

    /// The file as it was named.
    pub(crate) fn path(&self) -> &Path {
        match self {
            InputError::NotFound { path }
            | InputError::Outside { path, .. }
            | InputError::NotRegular { path, .. }
            | InputError::TooLarge { path, .. }
            | InputError::NotText { path }
            | InputError::Io { path, .. } => path,
        }
    }
}

/// The directory a file named on the command line must stay in: its own (`.` for a bare name).
pub(crate) fn directory_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Checks that `path` may be read as input without reading it: it exists, it resolves (through
/// every symlink on the way) to a place inside `root`, and it is a regular file of at most
/// [`MAX_INPUT_BYTES`]. Returns the resolved path.
pub(crate) fn check_input(path: &Path, root: &Path) -> Result<PathBuf, InputError> {
    let io = |source: std::io::Error| InputError::Io {
        path: path.to_path_buf(),
        source,
    };
    let not_found = || InputError::NotFound {
        path: path.to_path_buf(),
    };
    match fs::symlink_metadata(path) {
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Err(not_found()),
        Err(error) => return Err(io(error)),
    }
    // A dangling symlink is a file that does not exist, whatever it names.
    let real = match fs::canonicalize(path) {
        Ok(real) => real,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Err(not_found()),
        Err(error) => return Err(io(error)),
    };
    let real_root = fs::canonicalize(root).map_err(|source| InputError::Io {
        path: root.to_path_buf(),
        source,
    })?;
    if !real.starts_with(&real_root) {
        return Err(InputError::Outside {
            path: path.to_path_buf(),
            root: root.to_path_buf(),
            target: real,
        });
    }
    let metadata = fs::metadata(&real).map_err(io)?;
    regular(path, &metadata)?;
    Ok(real)
}

/// Reads an input file as text after [`check_input`]: a FIFO or device is refused before it is
/// opened, and the reading itself is bounded, so a file that changes between the check and the read
/// cannot make baseimg hang or fill its memory either.
pub(crate) fn read_input(path: &Path, root: &Path) -> Result<String, InputError> {
    let io = |source: std::io::Error| InputError::Io {
        path: path.to_path_buf(),
        source,
    };
    let real = check_input(path, root)?;
    // O_NONBLOCK: should a FIFO have taken the file's place since the check, opening it returns at
    // once instead of waiting for a writer (the check on the open file below then refuses it).
    // O_NOFOLLOW: the resolved path has no symlink left to follow.
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(&real)
        .map_err(io)?;
    regular(path, &file.metadata().map_err(io)?)?;
    let mut bytes = Vec::new();
    file.take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(InputError::TooLarge {
            path: path.to_path_buf(),
            size: bytes.len() as u64,
        });
    }
    String::from_utf8(bytes).map_err(|_| InputError::NotText {
        path: path.to_path_buf(),
    })
}

/// A regular file of at most [`MAX_INPUT_BYTES`], or why not.
fn regular(path: &Path, metadata: &fs::Metadata) -> Result<(), InputError> {
    let file_type = metadata.file_type();
    let kind = if file_type.is_file() {
        None
    } else if file_type.is_dir() {
        Some("a directory")
    } else if file_type.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if file_type.is_socket() {
        Some("a socket")
    } else if file_type.is_char_device() {
        Some("a character device")
    } else if file_type.is_block_device() {
        Some("a block device")
    } else {
        Some("not a file")
    };
    if let Some(kind) = kind {
        return Err(InputError::NotRegular {
            path: path.to_path_buf(),
            kind,
        });
    }
    if metadata.len() > MAX_INPUT_BYTES {
        return Err(InputError::TooLarge {
            path: path.to_path_buf(),
            size: metadata.len(),
        });
    }
    Ok(())
}

/// Writes `contents` to a temporary file in the same directory, flushes it to disk and renames it over
/// `path`. A crash or a full disk leaves either the old file or the new one.
///
/// The file gets the mode an editor would give it: a file replaced keeps its mode; a new one is
/// created with 0666 less the umask (0644 under the usual 022), not the 0600 of temporary files.
pub(crate) fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
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
pub(crate) fn state_dir(root: &Path) -> std::io::Result<std::path::PathBuf> {
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

/// Paths in reports are written as text, as `display()` shows them: serde refuses a path that is not
/// UTF-8, and a report must always be writable.
pub(crate) fn path_text<S: serde::Serializer>(
    path: &std::path::Path,
    out: S,
) -> Result<S::Ok, S::Error> {
    out.collect_str(&path.display())
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
    fn input_is_a_regular_file_inside_its_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/real.txt"), "inside").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "outside").unwrap();
        std::os::unix::fs::symlink("sub/real.txt", root.join("inside")).unwrap();
        std::os::unix::fs::symlink("../secret.txt", root.join("outside")).unwrap();
        std::os::unix::fs::symlink("..", root.join("up")).unwrap();
        std::os::unix::fs::symlink("nowhere", root.join("dangling")).unwrap();

        assert_eq!(read_input(&root.join("inside"), &root).unwrap(), "inside");
        for escaping in ["outside", "up/secret.txt"] {
            match read_input(&root.join(escaping), &root) {
                Err(InputError::Outside { target, .. }) => {
                    assert_eq!(
                        target,
                        dir.path().canonicalize().unwrap().join("secret.txt")
                    )
                }
                other => panic!("{escaping}: {other:?}"),
            }
        }
        assert!(matches!(
            read_input(&root.join("dangling"), &root),
            Err(InputError::NotFound { .. })
        ));
        assert!(matches!(
            read_input(&root.join("sub"), &root),
            Err(InputError::NotRegular {
                kind: "a directory",
                ..
            })
        ));
    }

    #[test]
    fn devices_fifos_and_huge_files_are_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let name = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        // Opening a FIFO to read waits for a writer: refused before opening, this returns.
        assert!(matches!(
            read_input(&fifo, dir.path()),
            Err(InputError::NotRegular {
                kind: "a FIFO (named pipe)",
                ..
            })
        ));
        let error = read_input(Path::new("/dev/zero"), Path::new("/")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "`/dev/zero` is a character device, not a regular file"
        );
        let huge = dir.path().join("huge");
        std::fs::File::create(&huge)
            .unwrap()
            .set_len(MAX_INPUT_BYTES + 1)
            .unwrap();
        assert_eq!(
            read_input(&huge, dir.path()).unwrap_err().to_string(),
            format!(
                "`{}` is 16777217 bytes, more than the 16 MiB baseimg reads",
                huge.display()
            )
        );
        let exact = dir.path().join("exact");
        std::fs::File::create(&exact)
            .unwrap()
            .set_len(MAX_INPUT_BYTES)
            .unwrap();
        assert_eq!(
            read_input(&exact, dir.path()).unwrap().len() as u64,
            MAX_INPUT_BYTES
        );
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
