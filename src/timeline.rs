//! When each image of a run did what: the bars of the nightly report's timeline, taken from the
//! run's real clock rather than reconstructed from logs.
//!
//! A phase is recorded when its guard is dropped, so work that fails or is cancelled half-way still
//! shows how long it ran.

use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;

/// The phases a run's timeline tells apart, in the order an image goes through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Phase {
    Resolve,
    Mirror,
    Build,
    Check,
    Push,
    Promote,
}

/// One phase of one image: seconds since the run started.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Bar {
    pub image: String,
    pub phase: Phase,
    pub start: f64,
    pub end: f64,
}

/// The bars of one run, shared by everything the run does concurrently.
#[derive(Debug)]
pub(crate) struct Timeline {
    started: Instant,
    bars: Mutex<Vec<Bar>>,
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline {
            started: Instant::now(),
            bars: Mutex::default(),
        }
    }
}

impl Timeline {
    /// Starts a phase of `image`; it ends when the returned guard is dropped.
    pub(crate) fn start(&self, image: &str, phase: Phase) -> Running<'_> {
        Running {
            timeline: self,
            image: image.to_string(),
            phase,
            start: self.started.elapsed().as_secs_f64(),
        }
    }

    /// Every bar recorded so far, by start time.
    pub(crate) fn bars(&self) -> Vec<Bar> {
        let mut bars = self.bars.lock().map(|b| b.clone()).unwrap_or_default();
        bars.sort_by(|a, b| a.start.total_cmp(&b.start));
        bars
    }

    /// Seconds since the run started.
    pub(crate) fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

/// A phase in progress.
pub(crate) struct Running<'a> {
    timeline: &'a Timeline,
    image: String,
    phase: Phase,
    start: f64,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let bar = Bar {
            image: std::mem::take(&mut self.image),
            phase: self.phase,
            start: self.start,
            end: self.timeline.elapsed(),
        };
        if let Ok(mut bars) = self.timeline.bars.lock() {
            bars.push(bar);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phase_is_recorded_when_it_ends_even_half_way() {
        let timeline = Timeline::default();
        {
            let _mirror = timeline.start("redis", Phase::Mirror);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _unfinished = timeline.start("postgres", Phase::Build);
        let bars = timeline.bars();
        assert_eq!(bars.len(), 1);
        assert_eq!(bars[0].image, "redis");
        assert!(bars[0].end - bars[0].start >= 0.02, "{bars:?}");
    }
}
