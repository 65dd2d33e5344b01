//! A build log: every line the daemon sent for one image, kept in a file for after the run, with the
//! last lines at hand for the error message when the build fails.

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
