//! Build contexts: the files of an image's context directory that Docker would receive.
//!
//! The same listing feeds the fingerprint and (later) the tar sent to the daemon, so the two can never
//! disagree about what is in a context. `.dockerignore` is applied with Docker's own rules: patterns
//! are anchored at the context root, `*` stays inside one path component, `**` spans any number, a
//! pattern that matches a directory excludes everything below it, `!` re-includes, and the last
//! matching pattern wins.

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use globset::GlobMatcher;
use sha2::{Digest as _, Sha256};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path relative to the context root, `/`-separated.
    pub path: String,
    pub kind: EntryKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Directory,
    /// Only the executable bit of the mode is kept: checkouts on different machines agree on it, and
    /// not on group/other bits (umask).
    File {
        executable: bool,
        size: u64,
        sha256: String,
    },
    Symlink {
        target: String,
    },
}

/// Why a build context cannot be listed. The text of each is the first line a user reads; where it
/// applies, the caller adds the catalog location and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ContextError {
    #[error("build context `{}` does not exist", .0.display())]
    Missing(PathBuf),
    #[error("build context `{}` is not a directory", .0.display())]
    NotADirectory(PathBuf),
    /// The context directory itself lies outside the repository.
    #[error("build context `{}` lies outside the repository", context.display())]
    OutsideRoot { context: PathBuf },
    /// A symlink inside the context points outside it.
    #[error("symlink `{link}` in the build context points outside it (to `{target}`)")]
    EscapingLink { link: String, target: String },
    /// A FIFO, socket or device: reading it for the fingerprint would hang or never end.
    #[error("`{path}` in the build context is {kind}, not a file, directory or symlink")]
    Special { path: String, kind: &'static str },
    #[error("invalid .dockerignore pattern `{pattern}`: {message}")]
    BadIgnorePattern { pattern: String, message: String },
    #[error("cannot read `{}`: {message}", path.display())]
    Io { path: PathBuf, message: String },
}

/// Lists a context directory. `root` is the repository the context must stay inside. A missing
/// directory is an error; callers decide whether an implicit context may be absent.
pub(crate) fn scan(root: &Path, context: &Path) -> Result<Vec<Entry>, ContextError> {
    let io = |path: &Path, error: std::io::Error| ContextError::Io {
        path: path.to_path_buf(),
        message: error.to_string(),
    };
    let metadata =
        fs::metadata(context).map_err(|_| ContextError::Missing(context.to_path_buf()))?;
    if !metadata.is_dir() {
        return Err(ContextError::NotADirectory(context.to_path_buf()));
    }
    let real_root = root.canonicalize().map_err(|e| io(root, e))?;
    let real_context = context.canonicalize().map_err(|e| io(context, e))?;
    if !real_context.starts_with(&real_root) {
        return Err(ContextError::OutsideRoot {
            context: context.to_path_buf(),
        });
    }

    let ignore = DockerIgnore::load(context)?;
    let mut entries = Vec::new();
    let walker = walkdir::WalkDir::new(context)
        .follow_links(false)
        .sort_by_file_name()
        .min_depth(1);
    for item in walker {
        let item = item.map_err(|e| ContextError::Io {
            path: e
                .path()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| context.to_path_buf()),
            message: e.to_string(),
        })?;
        let relative = item
            .path()
            .strip_prefix(context)
            .expect("walkdir stays below its root");
        let path = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        if ignore.excludes(&path) {
            continue;
        }
        let file_type = item.file_type();
        let kind = if file_type.is_symlink() {
            let target = fs::read_link(item.path()).map_err(|e| io(item.path(), e))?;
            if escapes(relative, &target) {
                return Err(ContextError::EscapingLink {
                    link: path,
                    target: target.display().to_string(),
                });
            }
            EntryKind::Symlink {
                target: target.to_string_lossy().into_owned(),
            }
        } else if file_type.is_dir() {
            EntryKind::Directory
        } else if !file_type.is_file() {
            return Err(ContextError::Special {
                path,
                kind: special_kind(&file_type),
            });
        } else {
            let metadata = item.metadata().map_err(|e| io(item.path(), e.into()))?;
            EntryKind::File {
                executable: metadata.permissions().mode() & 0o111 != 0,
                size: metadata.len(),
                sha256: hash_file(item.path()).map_err(|e| io(item.path(), e))?,
            }
        };
        entries.push(Entry { path, kind });
    }
    Ok(entries)
}

/// Whether a symlink at `link` (relative to the context) with `target` resolves outside the context,
/// judged lexically: an absolute target, or more `..` than the link is deep.
fn escapes(link: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return true;
    }
    let mut depth: i64 = link.components().count() as i64 - 1;
    for component in target.components() {
        match component {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            _ => {}
        }
        if depth < 0 {
            return true;
        }
    }
    false
}

/// What a file that is neither a regular file, a directory nor a symlink is, for a message.
fn special_kind(file_type: &fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_fifo() {
        "a FIFO (named pipe)"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else {
        "not a file"
    }
}

fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = [0u8; 64 * 1024];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// A parsed `.dockerignore`.
pub(crate) struct DockerIgnore {
    rules: Vec<(GlobMatcher, bool)>,
}

impl DockerIgnore {
    /// Reads the context's `.dockerignore`, if it has one. It is read before the context is
    /// walked (and its links checked), so it goes through the checked reader itself: a link out of
    /// the context, whose bad line would be quoted in an error, and a FIFO are refused unread.
    pub(crate) fn load(context: &Path) -> Result<DockerIgnore, ContextError> {
        let path = context.join(".dockerignore");
        match crate::fsutil::read_input(&path, context) {
            Ok(text) => DockerIgnore::parse(&text),
            Err(crate::fsutil::InputError::NotFound { .. }) => {
                Ok(DockerIgnore { rules: Vec::new() })
            }
            Err(crate::fsutil::InputError::Outside { .. }) => Err(ContextError::EscapingLink {
                link: ".dockerignore".to_string(),
                target: fs::read_link(&path)
                    .map(|target| target.display().to_string())
                    .unwrap_or_else(|_| "outside the context".to_string()),
            }),
            Err(error) => Err(ContextError::Io {
                path,
                message: match error {
                    crate::fsutil::InputError::Io { source, .. } => source.to_string(),
                    other => format!("it {}", other.predicate("the build context")),
                },
            }),
        }
    }

    pub(crate) fn parse(text: &str) -> Result<DockerIgnore, ContextError> {
        let mut rules = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (negated, pattern) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let cleaned = clean_pattern(pattern);
            if cleaned.is_empty() {
                continue;
            }
            let glob = globset::GlobBuilder::new(&cleaned)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| ContextError::BadIgnorePattern {
                    pattern: line.to_string(),
                    message: e.kind().to_string(),
                })?;
            rules.push((glob.compile_matcher(), negated));
        }
        Ok(DockerIgnore { rules })
    }

    /// Docker's rule: a path is excluded when the last pattern matching it, or matching one of its
    /// parent directories, is not negated.
    pub(crate) fn excludes(&self, path: &str) -> bool {
        let mut excluded = false;
        for (matcher, negated) in &self.rules {
            let matches =
                matcher.is_match(path) || parents(path).any(|parent| matcher.is_match(parent));
            if matches {
                excluded = !negated;
            }
        }
        excluded
    }
}

fn parents(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/')
        .map(move |(index, _)| &path[..index])
}

/// Docker cleans patterns like Go's `filepath.Clean` and drops a leading `/`.
fn clean_pattern(pattern: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in pattern.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

/// Reads a context file for the tar while checking it is still what was fingerprinted: exactly
/// `size` bytes with the recorded hash. A file edited meanwhile fails the build instead of producing
/// an image whose fingerprint label lies.
struct Verified<'a> {
    file: fs::File,
    remaining: u64,
    hasher: Sha256,
    expected: &'a str,
    path: &'a str,
}

impl<'a> Verified<'a> {
    fn new(file: fs::File, size: u64, expected: &'a str, path: &'a str) -> Self {
        Verified {
            file,
            remaining: size,
            hasher: Sha256::new(),
            expected,
            path,
        }
    }

    fn changed(&self) -> std::io::Error {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "`{}` changed while the build was being prepared; run it again",
                self.path
            ),
        )
    }

    fn finish(self) -> std::io::Result<()> {
        let mut probe = [0u8; 1];
        let longer = (&self.file).read(&mut probe)? > 0;
        if longer || hex::encode(self.hasher.clone().finalize()) != self.expected {
            return Err(self.changed());
        }
        Ok(())
    }
}

impl Read for Verified<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let limit = buffer.len().min(self.remaining as usize);
        let read = self.file.read(&mut buffer[..limit])?;
        if read == 0 {
            return Err(self.changed());
        }
        self.remaining -= read as u64;
        self.hasher.update(&buffer[..read]);
        Ok(read)
    }
}

/// The name the rendered Dockerfile gets inside the context tar.
pub(crate) const DOCKERFILE_IN_CONTEXT: &str = ".baseimg.Dockerfile";

/// Writes the build context the daemon receives: exactly `entries` (as listed by [`scan`], so what is
/// fingerprinted is what is sent), then the rendered Dockerfile. Deterministic: sorted entries, mtime
/// 0, owner root, modes 0644/0755 as the fingerprint has them.
pub(crate) fn write_tar(
    context: &Path,
    entries: &[Entry],
    dockerfile: &str,
    out: fs::File,
) -> std::io::Result<()> {
    let mut builder = tar::Builder::new(std::io::BufWriter::new(out));
    builder.mode(tar::HeaderMode::Deterministic);
    let header = |kind: tar::EntryType, mode: u32, size: u64| {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(size);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header
    };
    for entry in entries {
        match &entry.kind {
            EntryKind::Directory => {
                let mut h = header(tar::EntryType::Directory, 0o755, 0);
                builder.append_data(&mut h, format!("{}/", entry.path), std::io::empty())?;
            }
            EntryKind::File {
                executable,
                size,
                sha256,
            } => {
                let mut h = header(
                    tar::EntryType::Regular,
                    if *executable { 0o755 } else { 0o644 },
                    *size,
                );
                let file = fs::File::open(context.join(&entry.path))?;
                let mut verified = Verified::new(file, *size, sha256, &entry.path);
                builder.append_data(&mut h, &entry.path, &mut verified)?;
                verified.finish()?;
            }
            EntryKind::Symlink { target } => {
                let mut h = header(tar::EntryType::Symlink, 0o777, 0);
                builder.append_link(&mut h, &entry.path, target)?;
            }
        }
    }
    let mut h = header(tar::EntryType::Regular, 0o644, dockerfile.len() as u64);
    builder.append_data(&mut h, DOCKERFILE_IN_CONTEXT, dockerfile.as_bytes())?;
    builder
        .into_inner()?
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerignore_follows_docker_rules() {
        let ignore =
            DockerIgnore::parse("# comment\n*.log\ncache\n!cache/keep.txt\n/tmp/**\n**/*.pyc\n")
                .unwrap();
        assert!(ignore.excludes("debug.log"));
        assert!(!ignore.excludes("logs/debug.log"), "`*` does not cross `/`");
        assert!(ignore.excludes("cache/x"));
        assert!(!ignore.excludes("cache/keep.txt"));
        assert!(ignore.excludes("tmp/a/b"));
        assert!(ignore.excludes("a/b/c.pyc"));
        assert!(!ignore.excludes("redis.conf"));
    }

    #[test]
    fn the_context_tar_is_deterministic_and_holds_exactly_the_listing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.conf"), "a").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/run.sh"), "#!/bin/sh").unwrap();
        std::fs::set_permissions(
            dir.path().join("sub/run.sh"),
            std::fs::Permissions::from_mode(0o700),
        )
        .unwrap();
        std::fs::write(dir.path().join("skip.log"), "x").unwrap();
        std::fs::write(dir.path().join(".dockerignore"), "*.log\n").unwrap();
        let entries = scan(dir.path(), dir.path()).unwrap();
        let tar_of = || {
            let out = tempfile::NamedTempFile::new().unwrap();
            write_tar(dir.path(), &entries, "FROM x\n", out.reopen().unwrap()).unwrap();
            std::fs::read(out.path()).unwrap()
        };
        let first = tar_of();
        assert_eq!(first, tar_of());
        let mut archive = tar::Archive::new(first.as_slice());
        let listed: Vec<(String, u32)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().display().to_string(),
                    e.header().mode().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            listed,
            [
                (".dockerignore".to_string(), 0o644),
                ("a.conf".to_string(), 0o644),
                ("sub/".to_string(), 0o755),
                ("sub/run.sh".to_string(), 0o755),
                (DOCKERFILE_IN_CONTEXT.to_string(), 0o644),
            ]
        );
    }

    #[test]
    fn a_file_changed_after_listing_fails_the_tar() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.conf"), "original").unwrap();
        let entries = scan(dir.path(), dir.path()).unwrap();
        std::fs::write(dir.path().join("a.conf"), "edited!!").unwrap();
        let out = tempfile::NamedTempFile::new().unwrap();
        let error = write_tar(dir.path(), &entries, "FROM x\n", out.reopen().unwrap()).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("`a.conf` changed while the build was being prepared"),
            "{error}"
        );
    }

    #[test]
    fn fifos_in_a_context_and_links_out_as_dockerignore_are_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let context = dir.path().join("context");
        std::fs::create_dir(&context).unwrap();
        // A line no glob accepts: read, it would be quoted in the error.
        std::fs::write(dir.path().join("secret"), "token [unclosed\n").unwrap();
        std::os::unix::fs::symlink("../secret", context.join(".dockerignore")).unwrap();
        assert_eq!(
            scan(dir.path(), &context).unwrap_err(),
            ContextError::EscapingLink {
                link: ".dockerignore".into(),
                target: "../secret".into()
            }
        );
        std::fs::remove_file(context.join(".dockerignore")).unwrap();
        let fifo =
            std::ffi::CString::new(context.join("pipe").into_os_string().into_encoded_bytes())
                .unwrap();
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        assert_eq!(
            scan(dir.path(), &context).unwrap_err().to_string(),
            "`pipe` in the build context is a FIFO (named pipe), not a file, directory or symlink"
        );
        std::fs::rename(context.join("pipe"), context.join(".dockerignore")).unwrap();
        let error = scan(dir.path(), &context).unwrap_err().to_string();
        assert!(
            error.ends_with("/.dockerignore`: it is a FIFO (named pipe), not a regular file"),
            "{error}"
        );
    }

    #[test]
    fn symlinks_that_climb_out_escape() {
        assert!(escapes(Path::new("a/link"), Path::new("../../etc/passwd")));
        assert!(escapes(Path::new("link"), Path::new("/etc/passwd")));
        assert!(!escapes(Path::new("a/link"), Path::new("../b/file")));
        assert!(!escapes(Path::new("link"), Path::new("sub/file")));
    }
}
