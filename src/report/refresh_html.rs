//! `report.html`: the facts of `report.md` on one self-contained page, plus a timeline of the run
//! drawn from its own clock. No external assets and no scripts, so the page reads the same opened
//! from a CI artefact, a mail attachment or a printout.
//!
//! The markup is `refresh.html.j2`, a minijinja template escaped automatically (its name ends in
//! `.html` before the `.j2`). This module turns the report into plain rows for it and computes the
//! timeline's geometry, so the template does no arithmetic and holds no logic of its own.

use std::fmt::Write as _;

use indexmap::IndexMap;
use minijinja::{Environment, HtmlEscape, Value};
use serde::Serialize;

use super::refresh::{Tally, headline, lock_line, request_kinds, tally, title, why_text};
use super::word;
use crate::night::{Moved, Rebuilt, RefreshReport, Step, Upstream};
use crate::reference::Digest;
use crate::timeline::{Bar, Phase};

const TEMPLATE_NAME: &str = "refresh.html.j2";
const TEMPLATE: &str = include_str!("refresh.html.j2");

/// The narrowest bar drawn, in percent of the run: a HEAD request of 30 ms in a ten-minute run
/// would otherwise not show at all.
const MIN_BAR_WIDTH: f64 = 0.6;

/// Bars at least this wide (percent) carry their duration as a label; narrower ones only a tooltip.
const LABELLED_BAR_WIDTH: f64 = 5.0;

/// The phases in the order an image goes through them: the legend's order.
const PHASES: [Phase; 6] = [
    Phase::Resolve,
    Phase::Mirror,
    Phase::Build,
    Phase::Check,
    Phase::Push,
    Phase::Promote,
];

pub(crate) fn refresh_html(report: &RefreshReport) -> String {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.add_filter("code_spans", code_spans);
    env.render_named_str(TEMPLATE_NAME, TEMPLATE, page(report))
        .unwrap_or_else(|error| fallback(report, &error))
}

/// The page should never fail to render (the tests render it), but the nightly job must not lose
/// its report if it does: the Markdown report, as text, is still the whole story.
fn fallback(report: &RefreshReport, error: &minijinja::Error) -> String {
    format!(
        "<!doctype html>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<p>report.html could not be \
         drawn ({}); the Markdown report follows.</p>\n<pre>{}</pre>\n",
        HtmlEscape(&title(report)),
        HtmlEscape(&error.to_string()),
        HtmlEscape(&super::refresh_markdown(report)),
    )
}

/// The report's sentences quote names between backticks, as Markdown does; on the page those
/// become `<code>`. A text with an unpaired backtick is shown as it is.
fn code_spans(text: &str) -> Value {
    let parts: Vec<&str> = text.split('`').collect();
    if parts.len().is_multiple_of(2) {
        return Value::from(text);
    }
    let mut html = String::new();
    for (i, part) in parts.iter().enumerate() {
        let _ = if i % 2 == 1 {
            write!(html, "<code>{}</code>", HtmlEscape(part))
        } else {
            write!(html, "{}", HtmlEscape(part))
        };
    }
    Value::from_safe_string(html)
}

/// Everything the template shows, already in words.
#[derive(Serialize)]
struct Page<'a> {
    title: String,
    headline: String,
    run: &'a str,
    started: &'a str,
    seconds: String,
    dry_run: bool,
    ok: bool,
    tally: Tally,
    lock: String,
    /// `written`, `kept` (the run had something to write and did not) or `unchanged`.
    lock_state: &'static str,
    catalog: String,
    report_dir: Option<String>,
    adopted: Vec<UpstreamRow<'a>>,
    rebuilt: &'a [Rebuilt],
    moved: &'a [Moved],
    waiting: Vec<UpstreamRow<'a>>,
    unresolved: Vec<UpstreamRow<'a>>,
    failures: Vec<FailureView<'a>>,
    timeline: Option<Chart>,
    requests: Vec<RequestRow>,
    version: &'static str,
}

fn page(report: &RefreshReport) -> Page<'_> {
    let lock_state = if report.lock_written {
        "written"
    } else if report.lock_kept_because.is_some() {
        "kept"
    } else {
        "unchanged"
    };
    Page {
        title: title(report),
        headline: headline(report),
        run: &report.run,
        started: &report.started,
        seconds: format!("{:.1}", report.seconds),
        dry_run: report.dry_run,
        ok: report.ok,
        tally: tally(report),
        lock: lock_line(report),
        lock_state,
        catalog: report.catalog.display().to_string(),
        report_dir: report.report_dir.as_ref().map(|d| d.display().to_string()),
        adopted: report.adopted().map(UpstreamRow::of).collect(),
        rebuilt: &report.rebuilt,
        moved: &report.moved,
        waiting: report.waiting().map(UpstreamRow::of).collect(),
        unresolved: report
            .upstreams
            .iter()
            .filter(|u| u.status.is_problem())
            .map(UpstreamRow::of)
            .collect(),
        failures: report
            .failures
            .iter()
            .filter(|f| f.step != Step::Resolve)
            .map(|f| FailureView {
                step: word(&f.step),
                image: &f.image,
                error: f.error.trim_end(),
                help: f.help.as_deref(),
                log: f.log.as_ref().map(|l| l.display().to_string()),
            })
            .collect(),
        timeline: chart(report),
        requests: requests(report),
        version: env!("CARGO_PKG_VERSION"),
    }
}

/// One upstream, for any of the three tables that list upstreams.
#[derive(Serialize)]
struct UpstreamRow<'a> {
    image: &'a str,
    source: &'a str,
    status: String,
    pinned: Option<DigestView<'a>>,
    current: Option<DigestView<'a>>,
    created: Option<&'a str>,
    why: Option<String>,
    first_seen: Option<&'a str>,
    adopt_after: Option<&'a str>,
    left: Option<&'a str>,
    error: Option<&'a str>,
    help: Option<&'a str>,
}

impl<'a> UpstreamRow<'a> {
    fn of(upstream: &'a Upstream) -> UpstreamRow<'a> {
        UpstreamRow {
            image: &upstream.image,
            source: &upstream.source,
            status: word(&upstream.status),
            pinned: upstream.pinned.as_ref().map(DigestView::of),
            current: upstream.current.as_ref().map(DigestView::of),
            created: upstream.created.as_deref(),
            why: upstream.why.as_ref().map(why_text),
            first_seen: upstream.first_seen.as_deref(),
            adopt_after: upstream.adopt_after.as_deref(),
            left: upstream.left.as_deref(),
            error: upstream.error.as_deref(),
            help: upstream.help.as_deref(),
        }
    }
}

/// A digest as the Markdown report writes it, with the whole digest for the tooltip.
#[derive(Serialize)]
struct DigestView<'a> {
    short: String,
    full: &'a Digest,
}

impl<'a> DigestView<'a> {
    fn of(digest: &'a Digest) -> DigestView<'a> {
        DigestView {
            short: format!("sha256:{}", digest.short()),
            full: digest,
        }
    }
}

#[derive(Serialize)]
struct FailureView<'a> {
    step: String,
    image: &'a str,
    /// The error and, for a build, the tail of its log: several lines.
    error: &'a str,
    help: Option<&'a str>,
    log: Option<String>,
}

/// One kind of request, made upstream, in the private registry, or both.
#[derive(Serialize)]
struct RequestRow {
    kind: &'static str,
    upstream: u64,
    private: u64,
}

fn requests(report: &RefreshReport) -> Vec<RequestRow> {
    let upstream = request_kinds(&report.requests.upstream);
    let private = request_kinds(&report.requests.private);
    upstream
        .iter()
        .zip(private.iter())
        .filter(|(u, p)| u.0 > 0 || p.0 > 0)
        .map(|(u, p)| RequestRow {
            kind: u.2,
            upstream: u.0,
            private: p.0,
        })
        .collect()
}

/// The timeline: a row per image, its bars placed in percent of the whole run.
#[derive(Debug, Serialize)]
struct Chart {
    total: String,
    rows: Vec<Row>,
    ticks: Vec<Tick>,
    /// The phases that occur, for the legend.
    legend: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Row {
    image: String,
    /// Whether something of this image failed (its upstream included), to mark the row.
    failed: bool,
    bars: Vec<BarView>,
}

#[derive(Debug, Serialize)]
struct BarView {
    phase: String,
    left: f64,
    width: f64,
    /// The duration, on bars wide enough to hold it.
    label: String,
    /// The exact figures, for the tooltip.
    title: String,
}

#[derive(Debug, Serialize)]
struct Tick {
    left: f64,
    label: String,
}

fn chart(report: &RefreshReport) -> Option<Chart> {
    if report.timeline.is_empty() {
        return None;
    }
    // The run's clock stops after the last bar, but a bar recorded late must still fit.
    let total = report
        .timeline
        .iter()
        .map(|b| b.end)
        .fold(report.seconds, f64::max);
    let total = if total > 0.0 { total } else { 1.0 };
    let mut rows: IndexMap<&str, Row> = IndexMap::new();
    for bar in &report.timeline {
        let row = rows.entry(&bar.image).or_insert_with(|| Row {
            // Work of the run as a whole (writing the lock file, say) has no image.
            image: if bar.image.is_empty() {
                "(run)".to_string()
            } else {
                bar.image.clone()
            },
            failed: image_failed(report, &bar.image),
            bars: Vec::new(),
        });
        let bar = bar_view(bar, &row.image, total);
        row.bars.push(bar);
    }
    let legend = PHASES
        .iter()
        .filter(|p| report.timeline.iter().any(|b| b.phase == **p))
        .map(word)
        .collect();
    Some(Chart {
        total: format!("{total:.1}"),
        rows: rows.into_values().collect(),
        ticks: ticks(total),
        legend,
    })
}

fn image_failed(report: &RefreshReport, image: &str) -> bool {
    report.failures.iter().any(|f| f.image == image)
}

fn bar_view(bar: &Bar, image: &str, total: f64) -> BarView {
    let (left, width) = place(bar.start, bar.end, total);
    let seconds = (bar.end - bar.start).max(0.0);
    let phase = word(&bar.phase);
    BarView {
        label: if width >= LABELLED_BAR_WIDTH {
            format!("{seconds:.1}s")
        } else {
            String::new()
        },
        title: format!(
            "{phase} · {image}: {:.2}s → {:.2}s ({seconds:.2}s)",
            bar.start, bar.end
        ),
        phase,
        left,
        width,
    }
}

/// Where a bar from `start` to `end` seconds sits on a run of `total` seconds: its left edge and
/// width in percent, rounded to hundredths, never narrower than [`MIN_BAR_WIDTH`] and never past
/// the right edge.
fn place(start: f64, end: f64, total: f64) -> (f64, f64) {
    let percent = |seconds: f64| (seconds / total * 100.0).clamp(0.0, 100.0);
    let width = hundredths((percent(end) - percent(start)).max(MIN_BAR_WIDTH));
    let left = hundredths(percent(start)).min(100.0 - width);
    (left, width)
}

fn hundredths(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// Three to six labels on the time axis, a round number of seconds apart (1, 2 or 5 times a power
/// of ten), starting at zero.
fn ticks(total: f64) -> Vec<Tick> {
    let rough = total / 5.0;
    let magnitude = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|step| *step >= rough)
        .unwrap_or(10.0 * magnitude);
    // Sub-second steps need as many decimals as the step has.
    let decimals = (-step.log10()).ceil().max(0.0) as usize;
    (0..)
        .map(|k| f64::from(k) * step)
        .take_while(|seconds| *seconds <= total * (1.0 + 1e-9))
        .map(|seconds| Tick {
            left: hundredths(seconds / total * 100.0),
            label: format!("{seconds:.decimals$}s"),
        })
        .collect()
}

#[cfg(test)]
pub(super) mod sample;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_text_is_escaped() {
        let mut report = sample::failed();
        let build = report.failures.last_mut().unwrap();
        build.error = "build failed: <script>alert(1)</script>\nline \"two\"".into();
        report.timeline[0].image = "a\"b<c>".into();
        let html = refresh_html(&report);
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"));
        assert!(!html.contains("a\"b<c>"));
        assert_eq!(
            code_spans("`<x>` & `y`").to_string(),
            "<code>&lt;x&gt;</code> &amp; <code>y</code>"
        );
        assert_eq!(
            code_spans("one ` <b>").to_string(),
            "one ` <b>",
            "escaped by the template"
        );
    }

    #[test]
    fn the_page_has_no_external_references() {
        for report in [
            sample::succeeded(),
            sample::failed(),
            sample::quiet(),
            sample::dry(),
        ] {
            let html = refresh_html(&report);
            for external in [
                "src=\"http",
                "href=\"http",
                "url(http",
                "@import",
                "<script",
                "<link",
            ] {
                assert!(!html.contains(external), "{external} in {html}");
            }
        }
    }

    #[test]
    fn the_timeline_has_a_row_per_image_and_a_bar_per_phase() {
        let report = sample::succeeded();
        let html = refresh_html(&report);
        let mut images: Vec<&str> = report.timeline.iter().map(|b| b.image.as_str()).collect();
        images.sort_unstable();
        images.dedup();
        assert_eq!(html.matches("<div class=\"tl-row").count(), images.len());
        let bars =
            regex::Regex::new(r#"class="bar ph-(\w+)" style="left:([\d.]+)%;width:([\d.]+)%""#)
                .unwrap();
        let placed: Vec<(String, f64, f64)> = bars
            .captures_iter(&html)
            .map(|c| {
                (
                    c[1].to_string(),
                    c[2].parse().unwrap(),
                    c[3].parse().unwrap(),
                )
            })
            .collect();
        assert_eq!(placed.len(), report.timeline.len());
        for (phase, left, width) in &placed {
            assert!(PHASES.iter().any(|p| word(p) == *phase), "{phase}");
            assert!((0.0..=100.0).contains(left), "{left}");
            assert!(
                *width >= MIN_BAR_WIDTH && left + width <= 100.0 + 1e-9,
                "{left} {width}"
            );
        }
    }

    #[test]
    fn bars_are_placed_on_the_run_and_short_ones_stay_visible() {
        assert_eq!(place(25.0, 50.0, 100.0), (25.0, 25.0));
        assert_eq!(place(10.0, 10.001, 100.0), (10.0, MIN_BAR_WIDTH));
        let (left, width) = place(99.99, 100.0, 100.0);
        assert!(left + width <= 100.0 + 1e-9 && width == MIN_BAR_WIDTH);
        assert_eq!(place(-1.0, 200.0, 100.0), (0.0, 100.0));
    }

    #[test]
    fn the_axis_has_a_few_round_ticks_from_zero() {
        let labels = |total| {
            ticks(total)
                .into_iter()
                .map(|t| t.label)
                .collect::<Vec<_>>()
        };
        assert_eq!(labels(62.4), ["0s", "20s", "40s", "60s"]);
        assert_eq!(labels(100.0), ["0s", "20s", "40s", "60s", "80s", "100s"]);
        assert_eq!(labels(0.8), ["0.0s", "0.2s", "0.4s", "0.6s", "0.8s"]);
        for total in [0.05, 1.0, 7.3, 333.0, 4000.0] {
            let ticks = ticks(total);
            assert!((3..=6).contains(&ticks.len()), "{total}: {ticks:?}");
            assert!(ticks.iter().all(|t| (0.0..=100.0).contains(&t.left)));
        }
    }

    #[test]
    fn empty_sections_are_left_out() {
        let mut quiet = sample::quiet();
        let html = refresh_html(&quiet);
        for heading in [
            "Moved upstream",
            "Rebuilt",
            "Moving tags",
            "Waiting in cool-down",
            "Upstreams not resolved",
            "Failures",
        ] {
            assert!(!html.contains(&format!("<h2>{heading}")), "{heading}");
        }
        assert!(html.contains("<h2>Timeline"));
        quiet.timeline.clear();
        assert!(!refresh_html(&quiet).contains("<h2>Timeline"));
        let full = refresh_html(&sample::succeeded());
        for heading in [
            "Moved upstream",
            "Rebuilt",
            "Moving tags",
            "Waiting in cool-down",
        ] {
            assert!(full.contains(&format!("<h2>{heading}")), "{heading}");
        }
        assert!(refresh_html(&sample::failed()).contains("<h2>Failures"));
    }

    #[test]
    fn dry_runs_say_so() {
        let html = refresh_html(&sample::dry());
        assert!(html.contains("Dry run"));
        assert!(html.contains("<h2>Would build"));
    }
}
