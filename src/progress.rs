//! Progress for long operations: one bar per image on a terminal, plain prefixed lines otherwise
//! (CI logs), so nothing is silently swallowed and logs stay readable. This is the display of
//! [`crate::events`]: the pipelines report to an `Events`, and this draws what they report.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Mode {
    /// As tty when standard error is a terminal, as plain otherwise.
    Auto,
    /// One live line per image, redrawn in place, even into a pipe or file (as `docker buildx
    /// --progress tty` does).
    Tty,
    /// One `[image] step` line per step and result, never redrawn: for CI logs.
    Plain,
}

#[derive(Clone)]
pub(crate) struct Progress {
    multi: Option<MultiProgress>,
}

impl Progress {
    pub(crate) fn new(mode: Mode) -> Progress {
        let target = match mode {
            // indicatif's own stderr target hides itself when stderr is not a terminal: a forced
            // `tty` draws anyway, as `docker buildx --progress tty` does, for whoever asked for it
            // (a terminal behind a pipe, `script`, a test).
            Mode::Tty => Some(ProgressDrawTarget::term_like_with_hz(Box::new(Stderr), 20)),
            Mode::Plain => None,
            Mode::Auto => std::io::stderr()
                .is_terminal()
                .then(ProgressDrawTarget::stderr),
        };
        Progress {
            multi: target.map(MultiProgress::with_draw_target),
        }
    }

    /// A line of progress for one image.
    fn line(&self, name: &str) -> ImageLine {
        let bar = self.multi.as_ref().map(|multi| {
            let bar = multi.add(ProgressBar::new_spinner());
            bar.set_style(style(false));
            bar.set_prefix(name.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        ImageLine {
            name: name.to_string(),
            bar,
        }
    }
}

impl crate::events::Display for Progress {
    fn task(&self, name: &str) -> Box<dyn crate::events::Line> {
        Box::new(self.line(name))
    }

    /// `note: …` on standard error, above the bars (which are drawn again below it).
    fn note(&self, note: &crate::diagnostic::Diagnostic) {
        let line = format!("note: {}", note.message);
        match &self.multi {
            Some(multi) => multi.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }
}

struct ImageLine {
    name: String,
    bar: Option<ProgressBar>,
}

impl crate::events::Line for ImageLine {
    fn step(&self, message: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(message.to_string()),
            None => plain_line(&self.name, message),
        }
    }

    fn add_bytes(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            // Byte counts appear once something is transferred (a build moves none).
            if bar.position() == 0 {
                bar.set_style(style(true));
            }
            bar.inc(bytes);
        }
    }

    fn finish(&self, message: &str) {
        match &self.bar {
            Some(bar) => bar.finish_with_message(message.to_string()),
            None => plain_line(&self.name, message),
        }
    }
}

/// `[image] message` on standard error. A step's text may come from the daemon with terminal
/// escapes in it (colour): kept for a terminal, taken out for a log.
fn plain_line(name: &str, message: &str) {
    if std::io::stderr().is_terminal() {
        eprintln!("[{name}] {message}");
    } else {
        eprintln!("[{name}] {}", crate::text::without_escapes(message));
    }
}

/// Standard error as a terminal whatever it is attached to, for a forced `tty`: ANSI sequences
/// move the cursor and clear lines; its size is `COLUMNS` × `LINES`, else 80 × 24. (indicatif pads
/// each line to the width and lets the terminal wrap, so the lines are right on a terminal that
/// size, which is what `tty` asks for.)
#[derive(Debug)]
struct Stderr;

impl Stderr {
    fn write(&self, text: &str) -> std::io::Result<()> {
        use std::io::Write as _;
        std::io::stderr().lock().write_all(text.as_bytes())
    }
}

/// A terminal dimension from the environment, as shells export it.
fn size_from(variable: &str, default: u16) -> u16 {
    std::env::var(variable)
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|&c: &u16| c > 0)
        .unwrap_or(default)
}

impl TermLike for Stderr {
    fn width(&self) -> u16 {
        size_from("COLUMNS", 80)
    }

    fn height(&self) -> u16 {
        size_from("LINES", 24)
    }

    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        match n {
            0 => Ok(()),
            n => self.write(&format!("\x1b[{n}A")),
        }
    }

    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        match n {
            0 => Ok(()),
            n => self.write(&format!("\x1b[{n}B")),
        }
    }

    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        match n {
            0 => Ok(()),
            n => self.write(&format!("\x1b[{n}C")),
        }
    }

    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        match n {
            0 => Ok(()),
            n => self.write(&format!("\x1b[{n}D")),
        }
    }

    fn write_line(&self, line: &str) -> std::io::Result<()> {
        self.write(&format!("{line}\n"))
    }

    fn write_str(&self, text: &str) -> std::io::Result<()> {
        self.write(text)
    }

    fn clear_line(&self) -> std::io::Result<()> {
        self.write("\r\x1b[2K")
    }

    fn flush(&self) -> std::io::Result<()> {
        use std::io::Write as _;
        std::io::stderr().lock().flush()
    }
}

fn style(with_bytes: bool) -> ProgressStyle {
    let template = if with_bytes {
        "{spinner} {prefix:<24} {msg} {binary_bytes:>10} {elapsed:>4}"
    } else {
        "{spinner} {prefix:<24} {msg} {elapsed:>4}"
    };
    ProgressStyle::with_template(template).expect("static template")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forced_tty_draws_where_auto_would_not() {
        // Under `cargo test`, standard error is captured, not a terminal.
        let forced = Progress::new(Mode::Tty);
        assert!(!forced.multi.expect("bars").is_hidden());
        assert!(Progress::new(Mode::Plain).multi.is_none());
    }
}
