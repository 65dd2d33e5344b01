//! A build log: every line the daemon sent for one image, kept in a file for after the run, with the
//! last lines at hand for the error message when the build fails. Both are plain text: the
//! daemon's terminal escapes (the classic builder colours what a step writes to stderr) are taken
//! out, since a log is read in an editor or a CI page and an excerpt lands in reports and pipes.

use std::collections::VecDeque;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// How many lines are kept in memory for the failure excerpt.
const KEPT: usize = 40;

pub struct LogFile {
    path: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
    tail: VecDeque<String>,
}

impl LogFile {
    pub fn create(path: &Path) -> std::io::Result<LogFile> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::File::create(path)?;
        Ok(LogFile {
            path: path.to_path_buf(),
            file: std::io::BufWriter::new(file),
            tail: VecDeque::new(),
        })
    }

    pub fn line(&mut self, line: &str) {
        let plain = crate::report::without_escapes(line);
        // `ESC[0m` alone on a line closes the colour of the line before: nothing to keep.
        if plain.trim().is_empty() && !line.trim().is_empty() {
            return;
        }
        let line = plain.as_ref();
        let _ = writeln!(self.file, "{line}");
        self.tail.push_back(line.to_string());
        if self.tail.len() > KEPT {
            self.tail.pop_front();
        }
    }

    /// The last `lines` lines, introduced by the log's path so the whole log can be found.
    pub fn tail(&mut self, lines: usize) -> String {
        let _ = self.file.flush();
        let start = self.tail.len().saturating_sub(lines);
        let mut out = format!("last lines of {}:", self.path.display());
        for line in self.tail.iter().skip(start) {
            out.push_str("\n  | ");
            out.push_str(line);
        }
        out
    }
}

impl Drop for LogFile {
    fn drop(&mut self) {
        let _ = self.file.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daemon_s_colours_reach_neither_the_file_nor_the_excerpt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        let mut log = LogFile::create(&path).unwrap();
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
