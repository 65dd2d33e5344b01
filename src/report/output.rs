//! Where reports go: standard output for the report, standard error for diagnostics (text), or
//! one JSON document on standard output with everything in it.

use std::io::{IsTerminal, Write};
use std::path::Path;

use serde::Serialize;

use super::{Format, Text, refresh, refresh_html, service};
use crate::commands::Finished;
use crate::diagnostic::Diagnostics;
use crate::failure::io_error;
use crate::fsutil::write_atomic;
use crate::night::RefreshReport;

/// Writes a finished command's report and warnings.
pub(crate) fn emit<R: Serialize + Text>(finished: &Finished<R>, format: Format) {
    match format {
        Format::Json => {
            // Reports are structs of strings, numbers and lists (paths as text): they always
            // serialize, to an object.
            let mut json = serde_json::to_value(&finished.report).expect("reports serialize");
            if let Some(object) = json.as_object_mut() {
                object.insert("outcome".into(), serde_json::json!(finished.outcome));
                object.insert("warnings".into(), serde_json::json!(finished.warnings));
            }
            print_stdout(&pretty(&json));
        }
        Format::Text => {
            print_diagnostics(&not_shown_yet(&finished.warnings));
            print_stdout(&finished.report.text());
        }
    }
}

/// `run --env`: the `IMAGE_URL=…` lines on standard output for `eval`, and what went wrong with a
/// service that did not start on standard error, where `eval` does not swallow it.
pub(crate) fn emit_env(finished: &Finished<crate::commands::run::RunReport>) {
    print_diagnostics(&not_shown_yet(&finished.warnings));
    print_stdout(&service::env_lines(&finished.report));
    let failed = service::failures(&finished.report);
    if !failed.is_empty() {
        let _ = std::io::stderr().lock().write_all(failed.as_bytes());
    }
}

/// `refresh`'s three report files (JSON, Markdown, HTML) in the run's report directory, each
/// replaced atomically.
pub(crate) fn write_refresh_files(report: &RefreshReport, dir: &Path) -> Result<(), Diagnostics> {
    let json = serde_json::to_string_pretty(report).expect("reports serialize");
    let files = [
        ("report.json", json + "\n"),
        ("report.md", refresh::refresh_markdown(report)),
        ("report.html", refresh_html::refresh_html(report)),
    ];
    for (name, text) in files {
        let path = dir.join(name);
        write_atomic(&path, text.as_bytes()).map_err(|e| io_error("write", &path, e))?;
    }
    Ok(())
}

/// Writes the diagnostics of a command that stopped on bad input or an environment error.
pub(crate) fn failure(diagnostics: Diagnostics, format: Format) {
    let diagnostics = diagnostics.dedupe();
    match format {
        Format::Json => {
            let json = serde_json::json!({
                "ok": false,
                "outcome": "error",
                "diagnostics": diagnostics,
            });
            print_stdout(&pretty(&json));
        }
        Format::Text => {
            print_diagnostics(&not_shown_yet(&diagnostics));
            let errors = diagnostics.error_count();
            if errors > 1 {
                eprintln!("\nerror: aborting due to {errors} errors");
            }
        }
    }
}

/// The warnings a person has not seen yet: notes were shown as they happened (see
/// [`crate::events`]); JSON readers get every one.
fn not_shown_yet(warnings: &Diagnostics) -> Diagnostics {
    Diagnostics(
        warnings
            .0
            .iter()
            .filter(|w| !crate::events::shown_live(w))
            .cloned()
            .collect(),
    )
}

/// Diagnostics on standard error, in colour only where a person sees them.
fn print_diagnostics(diagnostics: &Diagnostics) {
    if diagnostics.is_empty() {
        return;
    }
    let mut stderr = std::io::stderr().lock();
    let _ = write!(stderr, "{}", diagnostics.render(color_on_stderr()));
}

/// Colour on a terminal, unless `NO_COLOR` is set (<https://no-color.org>).
pub(crate) fn color_on_stderr() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn print_stdout(text: &str) {
    raw(text.as_bytes());
}

/// Bytes as they are on standard output (a completion script, a manual page). A closed pipe
/// (`baseimg plan | head`) is not an error worth a panic.
pub(crate) fn raw(bytes: &[u8]) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(bytes);
    let _ = stdout.flush();
}

fn pretty(json: &serde_json::Value) -> String {
    let mut text = serde_json::to_string_pretty(json).expect("JSON values serialize");
    text.push('\n');
    text
}
