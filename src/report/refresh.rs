//! `baseimg refresh` for people: a short summary on the terminal (ending with the report's
//! directory), and `report.md`, written to be pasted as a commit message or a merge request's body.
//! `report.html` is drawn in [`super::refresh_html`].

use std::fmt::Write as _;

use serde::Serialize;

use super::{Text, count, table, word};
use crate::cooldown::Why;
use crate::night::{RefreshReport, RequestCounts, Step, Upstream, UpstreamStatus};

impl Text for RefreshReport {
    fn text(&self) -> String {
        let mut out = String::new();
        let rows: Vec<Vec<String>> = self
            .upstreams
            .iter()
            .map(|u| vec![u.image.clone(), word(&u.status), upstream_detail(u)])
            .collect();
        out.push_str(&table(&rows));
        if !self.rebuilt.is_empty() {
            out.push('\n');
            let verb = if self.dry_run { "would build" } else { "built" };
            for rebuilt in &self.rebuilt {
                let _ = writeln!(
                    out,
                    "{verb} {} {}: {}",
                    rebuilt.image, rebuilt.tag, rebuilt.because
                );
            }
        }
        for moved in &self.moved {
            let _ = writeln!(
                out,
                "moved {} {} → {}",
                moved.image,
                moved.tags.join(", "),
                moved.to
            );
        }
        for failure in &self.failures {
            let what = if failure.image.is_empty() {
                word(&failure.step)
            } else {
                format!("{} {}", word(&failure.step), failure.image)
            };
            let first = failure.error.lines().next().unwrap_or_default();
            let _ = writeln!(out, "failed: {what}: {first}");
        }
        out.push('\n');
        out.push_str(&headline(self));
        out.push('\n');
        out.push_str(&lock_line(self));
        out.push('\n');
        match &self.report_dir {
            Some(dir) => {
                let _ = writeln!(out, "report: {}", dir.join("report.html").display());
            }
            None => out.push_str("dry run: nothing was changed or written\n"),
        }
        out
    }
}

/// How many upstreams and images ended how: the counts the headline names.
#[derive(Debug, Clone, Copy, Serialize)]
pub(super) struct Tally {
    pub adopted: usize,
    pub waiting: usize,
    pub unresolved: usize,
    /// Built, or in a dry run: to build.
    pub built: usize,
    /// Steps of the run's own work that failed (unresolved upstreams are counted apart).
    pub failed: usize,
}

pub(super) fn tally(report: &RefreshReport) -> Tally {
    Tally {
        adopted: report.adopted().count(),
        waiting: report.waiting().count(),
        unresolved: report
            .upstreams
            .iter()
            .filter(|u| u.status.is_problem())
            .count(),
        built: if report.dry_run {
            report.rebuilt.len()
        } else {
            report.built().count()
        },
        failed: report
            .failures
            .iter()
            .filter(|f| f.step != Step::Resolve)
            .count(),
    }
}

/// What the run found, in one sentence.
pub(super) fn headline(report: &RefreshReport) -> String {
    let tally = tally(report);
    let mut parts = vec![
        format!("{} adopted", count(tally.adopted, "upstream", "upstreams")),
        format!("{} waiting", tally.waiting),
        format!("{} not resolved", tally.unresolved),
        format!(
            "{} {}",
            count(tally.built, "image", "images"),
            if report.dry_run { "to build" } else { "built" }
        ),
    ];
    if tally.failed > 0 {
        parts.push(format!("{} failed", count(tally.failed, "step", "steps")));
    }
    format!("{} in {:.1}s", parts.join(", "), report.seconds)
}

/// The title of `report.md` (a commit message's subject) and of `report.html`.
pub(super) fn title(report: &RefreshReport) -> String {
    if report.adopted().count() > 0 {
        let names: Vec<&str> = report.adopted().map(|u| u.image.as_str()).collect();
        format!("Base images: adopt {}", names.join(", "))
    } else {
        "Base images: nightly refresh".to_string()
    }
}

pub(super) fn lock_line(report: &RefreshReport) -> String {
    let lock = report.lock_file.display();
    match (
        &report.lock_kept_because,
        report.lock_written,
        report.dry_run,
    ) {
        (_, _, true) => format!("{lock} would be rewritten only if the run succeeds"),
        (Some(why), _, _) => format!("{lock} unchanged: {why}"),
        (None, true, _) => format!("wrote {lock}"),
        (None, false, _) => format!("{lock} is up to date"),
    }
}

fn upstream_detail(upstream: &Upstream) -> String {
    let short = |d: &Option<crate::reference::Digest>| {
        d.as_ref()
            .map(|d| d.short().to_string())
            .unwrap_or_else(|| "-".into())
    };
    match upstream.status {
        UpstreamStatus::Unchanged => short(&upstream.pinned),
        UpstreamStatus::Adopted => format!(
            "{} → {} ({})",
            short(&upstream.pinned),
            short(&upstream.current),
            upstream.why.as_ref().map(why_text).unwrap_or_default()
        ),
        UpstreamStatus::Waiting => format!(
            "{} waits {} more (first seen {})",
            short(&upstream.current),
            upstream.left.as_deref().unwrap_or("-"),
            upstream.first_seen.as_deref().unwrap_or("-")
        ),
        _ => format!(
            "keeps {}: {}",
            short(&upstream.pinned),
            upstream.error.as_deref().unwrap_or_default()
        ),
    }
}

pub(super) fn why_text(why: &Why) -> String {
    match why {
        Why::FirstPin => "first pin".into(),
        Why::NoCooldown => "no cool-down".into(),
        Why::CooledDown => "cool-down passed".into(),
        Why::Asked => "--adopt".into(),
    }
}

/// `report.md`: what moved upstream, what was rebuilt and why, which tags moved (and how to move
/// them back), what waits in cool-down, what could not be resolved and what failed.
pub(crate) fn refresh_markdown(report: &RefreshReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}\n", title(report));
    let _ = writeln!(out, "{}.\n", headline(report));
    let code = |text: &str| format!("`{text}`");
    let optional = |text: Option<&str>| text.unwrap_or("-").to_string();

    let moved_upstream = report.adopted().map(|u| {
        vec![
            u.image.clone(),
            code(&u.source),
            format!(
                "{} → {}",
                digest_cell(u.pinned.as_ref()),
                digest_cell(u.current.as_ref())
            ),
            optional(u.created.as_deref()),
            u.why.as_ref().map(why_text).unwrap_or_default(),
        ]
    });
    let header = [
        "Image",
        "Upstream",
        "Old → new",
        "Created",
        "Adopted because",
    ];
    markdown_table(&mut out, "Moved upstream", None, &header, moved_upstream);

    let rebuilt = report
        .rebuilt
        .iter()
        .map(|r| vec![r.image.clone(), code(&r.tag), r.because.clone()]);
    let heading = if report.dry_run {
        "Would build"
    } else {
        "Rebuilt"
    };
    markdown_table(
        &mut out,
        heading,
        None,
        &["Image", "Immutable tag", "Why"],
        rebuilt,
    );

    moving_tags_markdown(&mut out, report);

    waiting_and_unresolved_markdown(&mut out, report);

    failures_markdown(&mut out, report);
    let _ = writeln!(
        out,
        "---\nRun {} started {}, {:.1}s. Lock file: {}. Upstream requests: {}.",
        report.run,
        report.started,
        report.seconds,
        lock_line(report),
        requests_text(&report.requests.upstream)
    );
    out
}

/// Candidates in cool-down, and upstreams that could not be resolved.
fn waiting_and_unresolved_markdown(out: &mut String, report: &RefreshReport) {
    let code = |text: &str| format!("`{text}`");
    let optional = |text: Option<&str>| text.unwrap_or("-").to_string();
    let waiting = report.waiting().map(|u| {
        vec![
            u.image.clone(),
            digest_cell(u.current.as_ref()),
            optional(u.first_seen.as_deref()),
            optional(u.adopt_after.as_deref()),
            optional(u.left.as_deref()),
        ]
    });
    let header = ["Image", "New digest", "First seen", "Adopted after", "Left"];
    markdown_table(out, "Waiting in cool-down", None, &header, waiting);

    let problems = report
        .upstreams
        .iter()
        .filter(|u| u.status.is_problem())
        .map(|u| {
            vec![
                u.image.clone(),
                code(&u.source),
                word(&u.status),
                digest_cell(u.pinned.as_ref()),
                optional(u.error.as_deref()),
            ]
        });
    let header = ["Image", "Upstream", "Status", "Pin kept", "Error"];
    let intro = Some("Their pins and mirrored copies stay.");
    markdown_table(out, "Upstreams not resolved", intro, &header, problems);
}

/// The moving tags that moved, each with the command that moves them back.
fn moving_tags_markdown(out: &mut String, report: &RefreshReport) {
    let code = |text: &str| format!("`{text}`");
    let moved = report.moved.iter().map(|m| {
        let tags: Vec<String> = m.tags.iter().map(|t| code(t)).collect();
        let from = m
            .from
            .as_deref()
            .map(code)
            .unwrap_or_else(|| "(new)".into());
        vec![
            m.image.clone(),
            tags.join(", "),
            format!("{from} → {}", code(&m.to)),
            m.rollback
                .as_deref()
                .map(code)
                .unwrap_or_else(|| "-".into()),
        ]
    });
    let header = ["Image", "Tags", "From → to", "Roll back"];
    markdown_table(out, "Moving tags", None, &header, moved);
}

/// A `## heading` and a table of `rows`; nothing at all when there are no rows.
fn markdown_table(
    out: &mut String,
    heading: &str,
    intro: Option<&str>,
    header: &[&str],
    rows: impl Iterator<Item = Vec<String>>,
) {
    let mut rows = rows.peekable();
    if rows.peek().is_none() {
        return;
    }
    let _ = writeln!(out, "## {heading}\n");
    if let Some(intro) = intro {
        let _ = writeln!(out, "{intro}\n");
    }
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(header.len()));
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| escape_cell(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out.push('\n');
}

/// Each failed step with its error (a build's log tail included), its help and its log.
fn failures_markdown(out: &mut String, report: &RefreshReport) {
    let mut failures = report
        .failures
        .iter()
        .filter(|f| f.step != Step::Resolve)
        .peekable();
    if failures.peek().is_none() {
        return;
    }
    out.push_str("## Failures\n\n");
    for f in failures {
        let what = if f.image.is_empty() {
            String::new()
        } else {
            format!(" `{}`", f.image)
        };
        let _ = writeln!(
            out,
            "### {}{what}\n\n```\n{}\n```\n",
            word(&f.step),
            f.error.trim_end()
        );
        if let Some(help) = &f.help {
            let _ = writeln!(out, "help: {help}\n");
        }
        if let Some(log) = &f.log {
            let _ = writeln!(out, "log: `{}`\n", log.display());
        }
    }
}

/// `3 manifest HEADs, 1 manifest GET, 2 blob GETs`: the kinds that were made.
pub(super) fn requests_text(counts: &RequestCounts) -> String {
    let made: Vec<String> = request_kinds(counts)
        .iter()
        .filter(|(n, _, _)| *n > 0)
        .map(|(n, one, many)| count(*n as usize, one, many))
        .collect();
    if made.is_empty() {
        "none".to_string()
    } else {
        made.join(", ")
    }
}

/// Every kind of request with its count and its names (one, many), in the order reports list them.
pub(super) fn request_kinds(counts: &RequestCounts) -> [(u64, &'static str, &'static str); 9] {
    [
        (counts.manifest_heads, "manifest HEAD", "manifest HEADs"),
        (counts.manifest_gets, "manifest GET", "manifest GETs"),
        (counts.manifest_puts, "manifest PUT", "manifest PUTs"),
        (counts.blob_heads, "blob HEAD", "blob HEADs"),
        (counts.blob_gets, "blob GET", "blob GETs"),
        (counts.blob_puts, "blob upload", "blob uploads"),
        (counts.blob_mounts, "blob mount", "blob mounts"),
        (counts.token_requests, "token request", "token requests"),
        (counts.retries, "retry", "retries"),
    ]
}

fn digest_cell(digest: Option<&crate::reference::Digest>) -> String {
    digest
        .map(|d| format!("`sha256:{}`", d.short()))
        .unwrap_or_else(|| "-".into())
}

/// A table cell on one line, with no `|` to break the table.
fn escape_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::refresh_html::sample;

    #[test]
    fn markdown_says_what_moved_what_was_rebuilt_and_how_to_roll_back() {
        let markdown = refresh_markdown(&sample::succeeded());
        assert!(markdown.starts_with("Base images: adopt "), "{markdown}");
        assert!(markdown.contains("## Moved upstream\n\n| Image | Upstream | Old → new |"));
        assert!(
            markdown
                .contains("| base-debian | `12.5-8a7b6c5d4e3f` | `debian-bookworm` moved upstream")
        );
        assert!(
            markdown.contains("`baseimg rollback base-debian --to 12.5-"),
            "{markdown}"
        );
        assert!(markdown.contains("## Waiting in cool-down"));
        assert!(
            markdown.contains("## Upstreams not resolved\n\nTheir pins and mirrored copies stay.")
        );
        assert!(
            !markdown.contains("## Failures"),
            "a resolve problem is no failed step"
        );
    }

    #[test]
    fn markdown_failures_carry_their_log_tail_and_empty_sections_are_left_out() {
        let markdown = refresh_markdown(&sample::failed());
        assert!(
            markdown.contains("## Failures\n\n### build `"),
            "{markdown}"
        );
        assert!(markdown.contains("```\nbuild failed: "), "{markdown}");
        let quiet = refresh_markdown(&sample::quiet());
        assert!(!quiet.contains("## "), "{quiet}");
        assert!(quiet.contains("Upstream requests: "), "{quiet}");
    }

    #[test]
    fn a_pipe_in_a_cell_does_not_break_the_table() {
        assert_eq!(escape_cell("a | b\nc"), "a \\| b c");
    }
}
