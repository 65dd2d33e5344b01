//! Progress for long operations: one bar per image on a terminal, plain prefixed lines otherwise
//! (CI logs), so nothing is silently swallowed and logs stay readable.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Bars on a terminal, plain lines elsewhere.
    Auto,
    Tty,
    Plain,
}

#[derive(Clone)]
pub struct Progress {
    multi: Option<MultiProgress>,
}

impl Progress {
    pub fn new(mode: Mode) -> Progress {
        let bars = match mode {
            Mode::Tty => true,
            Mode::Plain => false,
            Mode::Auto => std::io::stderr().is_terminal(),
        };
        Progress {
            multi: bars.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
        }
    }

    /// A line of progress for one image.
    pub fn task(&self, name: &str) -> Task {
        let bar = self.multi.as_ref().map(|multi| {
            let bar = multi.add(ProgressBar::new_spinner());
            bar.set_style(style(false));
            bar.set_prefix(name.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Task {
            name: name.to_string(),
            bar,
        }
    }
}

#[derive(Clone)]
pub struct Task {
    name: String,
    bar: Option<ProgressBar>,
}

impl Task {
    pub fn step(&self, message: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(message.to_string()),
            None => eprintln!("[{}] {message}", self.name),
        }
    }

    pub fn add_bytes(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            // Byte counts appear once something is transferred (a build moves none).
            if bar.position() == 0 {
                bar.set_style(style(true));
            }
            bar.inc(bytes);
        }
    }

    pub fn finish(&self, message: &str) {
        match &self.bar {
            Some(bar) => bar.finish_with_message(message.to_string()),
            None => eprintln!("[{}] {message}", self.name),
        }
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

/// `123.4 MB`-style sizes for plain output.
pub fn human_bytes(bytes: u64) -> String {
    indicatif::HumanBytes(bytes).to_string()
}
