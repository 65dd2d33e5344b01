//! A build log: every line the daemon sent for one image, kept in a file for after the run, with the
//! last lines at hand for the error message when the build fails. Both are plain text: the
//! daemon's terminal escapes (the classic builder colours what a step writes to stderr) are taken
//! out, since a log is read in an editor or a CI page and an excerpt lands in reports and pipes.

use std::collections::VecDeque;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// How many lines are kept in memory for the failure excerpt.
const KEPT: usize = 40;

/// One image's log. The platforms of a multi-platform image built at the same time each write
/// through a handle of their own ([`LogFile::for_platform`]): their lines go to the same file, marked
/// with the platform, and each keeps its own last lines for its own failure.
pub(super) struct LogFile {
    path: PathBuf,
    /// Written before each line: empty, or `[linux/arm64] `.
    prefix: String,
    file: Arc<Mutex<std::io::BufWriter<std::fs::File>>>,
    tail: Mutex<VecDeque<String>>,
}

impl LogFile {
    pub(super) fn create(path: &Path) -> std::io::Result<LogFile> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::File::create(path)?;
        Ok(LogFile {
            path: path.to_path_buf(),
            prefix: String::new(),
            file: Arc::new(Mutex::new(std::io::BufWriter::new(file))),
            tail: Mutex::default(),
        })
    }

    /// A handle on the same file whose lines are marked `[platform] `, as buildx marks them.
    pub(super) fn for_platform(&self, platform: &str) -> LogFile {
        LogFile {
            path: self.path.clone(),
            prefix: format!("[{platform}] "),
            file: self.file.clone(),
            tail: Mutex::default(),
        }
    }

    pub(super) fn line(&self, line: &str) {
        let plain = crate::text::without_escapes(line);
        // `ESC[0m` alone on a line closes the colour of the line before: nothing to keep.
        if plain.trim().is_empty() && !line.trim().is_empty() {
            return;
        }
        let line = format!("{}{plain}", self.prefix);
        {
            let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
            let _ = writeln!(file, "{line}");
        }
        let mut tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        tail.push_back(line);
        if tail.len() > KEPT {
            tail.pop_front();
        }
    }

    /// The last `lines` lines this handle wrote, introduced by the log's path so the whole log can
    /// be found.
    pub(super) fn tail(&self, lines: usize) -> String {
        let _ = self.file.lock().unwrap_or_else(|e| e.into_inner()).flush();
        let tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        let start = tail.len().saturating_sub(lines);
        let mut out = format!("last lines of {}:", self.path.display());
        for line in tail.iter().skip(start) {
            out.push_str("\n  | ");
            out.push_str(line);
        }
        out
    }
}

impl Drop for LogFile {
    fn drop(&mut self) {
        let _ = self.file.lock().unwrap_or_else(|e| e.into_inner()).flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daemon_s_colours_reach_neither_the_file_nor_the_excerpt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        let log = LogFile::create(&path).unwrap();
        log.line("Step 2/2 : RUN echo broken >&2; false");
        log.line("\u{1b}[91mbroken");
        log.line("\u{1b}[0m");
        log.line("");
        let tail = log.tail(12);
        assert_eq!(
            tail,
            format!(
                "last lines of {}:\n  | Step 2/2 : RUN echo broken >&2; false\n  | broken\n  | ",
                path.display()
            )
        );
        drop(log);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "Step 2/2 : RUN echo broken >&2; false\nbroken\n\n"
        );
    }
}
