//! The one output channel of a run, handed down from `cli` to every pipeline: progress lines for
//! each image, and the notes and warnings met on the way.
//!
//! The domain never prints. It reports through [`Events`], which the display implements (live bars
//! or plain lines, see `progress`) and which keeps every note and warning for the command's report,
//! so they reach a JSON reader's `warnings` as surely as a person's terminal — cargo's `Shell` and
//! cargo-deny's `ErrorSink` in one small type. There is no process-wide store of warnings: a test
//! or a second run in the same process gets its own [`Events`].

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use crate::diagnostic::{Diagnostic, Diagnostics, Severity};

/// How a run is shown while it goes on.
pub trait Display: Send + Sync {
    /// A line of progress for one image (or one upstream, one service).
    fn task(&self, name: &str) -> Box<dyn Line>;
    /// A note, shown as it happens (a person waiting wants to know why).
    fn note(&self, note: &Diagnostic);
}

/// One task's line of progress.
pub trait Line: Send + Sync {
    fn step(&self, message: &str);
    fn add_bytes(&self, bytes: u64);
    fn finish(&self, message: &str);
}

/// Where a run reports; cheap to clone, every clone reports to the same place.
#[derive(Clone)]
pub struct Events {
    display: Arc<dyn Display>,
    kept: Arc<Mutex<Diagnostics>>,
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Events").finish_non_exhaustive()
    }
}

impl Events {
    pub fn new(display: impl Display + 'static) -> Events {
        Events {
            display: Arc::new(display),
            kept: Arc::default(),
        }
    }

    /// Events that show nothing and keep every note and warning: for code that drives a pipeline
    /// without a person watching (benches, tests).
    pub fn quiet() -> Events {
        Events::new(Quiet)
    }

    pub fn task(&self, name: &str) -> Task {
        Task {
            line: Arc::from(self.display.task(name)),
        }
    }

    /// A note of the run in progress (a diagnostic whose code is a note's): shown now, and kept for
    /// the report.
    pub fn note(&self, note: Diagnostic) {
        self.display.note(&note);
        self.keep(note);
    }

    /// A warning for the report; the same warning met twice (every registry meets the same broken
    /// Docker configuration) is kept once.
    pub fn warn(&self, warning: Diagnostic) {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if !kept.0.contains(&warning) {
            kept.push(warning);
        }
    }

    fn keep(&self, diagnostic: Diagnostic) {
        self.kept
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(diagnostic);
    }

    /// Everything kept so far, in the order it came; what is taken is not given again.
    pub fn take(&self) -> Diagnostics {
        std::mem::take(&mut *self.kept.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Whether a kept diagnostic was shown already as it happened (and so is not shown again with the
/// report's text).
pub(crate) fn shown_live(diagnostic: &Diagnostic) -> bool {
    diagnostic.severity == Severity::Note
}

/// One task's line of progress, as the pipelines hold it.
#[derive(Clone)]
pub struct Task {
    line: Arc<dyn Line>,
}

impl Task {
    pub fn step(&self, message: &str) {
        self.line.step(message);
    }

    pub fn add_bytes(&self, bytes: u64) {
        self.line.add_bytes(bytes);
    }

    pub fn finish(&self, message: &str) {
        self.line.finish(message);
    }
}

struct Quiet;

impl Display for Quiet {
    fn task(&self, _: &str) -> Box<dyn Line> {
        Box::new(Quiet)
    }

    fn note(&self, _: &Diagnostic) {}
}

impl Line for Quiet {
    fn step(&self, _: &str) {}
    fn add_bytes(&self, _: u64) {}
    fn finish(&self, _: &str) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Code;

    #[test]
    fn notes_and_warnings_are_kept_once_in_order_and_taken_once() {
        let events = Events::quiet();
        let clone = events.clone();
        let warning = || Diagnostic::new(Code::CredentialsUnusableConfig, "broken config");
        events.note(Diagnostic::new(
            Code::RunLockWaiting,
            "waiting for another run",
        ));
        clone.warn(warning());
        events.warn(warning());
        let kept = events.take();
        let messages: Vec<&str> = kept.0.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(messages, ["waiting for another run", "broken config"]);
        assert!(shown_live(&kept.0[0]) && !shown_live(&kept.0[1]));
        assert!(events.take().is_empty());
    }
}
