//! One run at a time per catalog. Commands that change a registry or the lock file (`lock`,
//! `update`, `mirror`, `build`, `refresh`, `rollback`, `prune`) hold an exclusive lock on
//! `.baseimg/run.lock` for their whole run: two runs at once would push the same immutable tag twice
//! with different contents, race each other's mirror uploads and rewrite the lock file under each
//! other. A second run waits and says for whom; with `--no-wait` it stops at once.
//!
//! The lock is the operating system's (`flock` through `std::fs::File::lock`): it is released when
//! the process ends, however it ends, so a killed run never leaves a stale lock behind. The file's
//! text only says who holds it, for the message.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Held for as long as the run goes on; dropping it releases the catalog.
#[derive(Debug)]
pub(crate) struct RunLock {
    _file: File,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum RunLockError {
    #[error("cannot lock `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("another baseimg run is working on this catalog ({holder})")]
    Busy { holder: String },
}

/// Whether a run that finds the catalog busy waits for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    Yes,
    No,
}

/// Takes the catalog's run lock in `state_dir` (`.baseimg/`) for `command`. When another run holds
/// it: with [`Wait::No`] an error naming that run; otherwise `waiting` is told who holds it and the
/// call blocks until it is free.
pub(crate) fn acquire(
    state_dir: &Path,
    command: &str,
    wait: Wait,
    waiting: impl FnOnce(&str),
) -> Result<RunLock, RunLockError> {
    let path = state_dir.join("run.lock");
    let io = |source| RunLockError::Io {
        path: path.clone(),
        source,
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let holder = holder(&mut file);
            if wait == Wait::No {
                return Err(RunLockError::Busy { holder });
            }
            waiting(&holder);
            file.lock().map_err(io)?;
        }
        Err(TryLockError::Error(error)) => return Err(io(error)),
    }
    let text = format!(
        "`baseimg {command}`, process {}, since {}\n",
        std::process::id(),
        crate::clock::now_rfc3339()
    );
    // Only who holds the lock is written; losing this text would cost a message, not safety.
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = file.write_all(text.as_bytes());
    Ok(RunLock { _file: file })
}

/// Who holds the lock, as the holder wrote it.
fn holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.rewind();
    let _ = file.take(512).read_to_string(&mut text);
    match text.trim() {
        "" => "a run that has just started".to_string(),
        text => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_a_catalog_waits_or_says_who_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(dir.path(), "build --push", Wait::No, |_| {}).unwrap();
        let busy = acquire(dir.path(), "mirror", Wait::No, |_| {}).unwrap_err();
        let message = busy.to_string();
        assert!(
            message.contains("`baseimg build --push`, process "),
            "{message}"
        );

        let (sender, receiver) = std::sync::mpsc::channel();
        let path = dir.path().to_path_buf();
        let second = std::thread::spawn(move || {
            acquire(&path, "refresh", Wait::Yes, |holder| {
                sender.send(holder.to_string()).unwrap()
            })
            .map(drop)
        });
        let told = receiver.recv().unwrap();
        assert!(told.contains("build --push"), "{told}");
        drop(first);
        second.join().unwrap().unwrap();
    }
}
