//! The report stage: every command's report drawn as text for people or JSON for machines, from the
//! same value. Nothing else in baseimg prints, except `progress` (live lines on standard error).
//!
//! Reports go to standard output; warnings and errors to standard error (text) or into the same JSON
//! document (JSON), so `baseimg … --output json | jq` always reads one document.
//!
//! One vocabulary: every status a report carries is a `snake_case` word in JSON (`up_to_date`,
//! `not_attempted`) and the same word with spaces in text (`up to date`, `not attempted`); [`word`]
//! is the only way text gets it, so the two cannot drift apart.
//!
//! A new report is a type that derives `Serialize` and implements [`Text`] in a file of this module.

mod build;
mod catalog;
mod graph;
mod history;
mod refresh;
mod refresh_html;
mod registry;
mod service;

pub use refresh::refresh_markdown;
pub use refresh_html::refresh_html;

use std::io::{IsTerminal, Write};
use std::path::Path;

use serde::Serialize;

use crate::commands::Finished;
use crate::diagnostic::Diagnostics;
use crate::failure::io_error;
use crate::fsutil::write_atomic;
use crate::night::RefreshReport;

/// How results are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For people: tables and sentences.
    Text,
    /// For machines: one JSON document on standard output.
    Json,
}

/// A report drawn for people.
pub trait Text {
    /// The text for standard output, ending in a newline (or empty).
    fn text(&self) -> String;
}

/// Writes a finished command's report and warnings.
pub fn emit<R: Serialize + Text>(finished: &Finished<R>, format: Format) {
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
            print_diagnostics(&finished.warnings);
            print_stdout(&finished.report.text());
        }
    }
}

/// `run --env`: the `IMAGE_URL=…` lines on standard output for `eval`, and what went wrong with a
/// service that did not start on standard error, where `eval` does not swallow it.
pub fn emit_env(finished: &Finished<crate::commands::run::RunReport>) {
    print_diagnostics(&finished.warnings);
    print_stdout(&service::env_lines(&finished.report));
    let failed = service::failures(&finished.report);
    if !failed.is_empty() {
        let _ = std::io::stderr().lock().write_all(failed.as_bytes());
    }
}

/// `refresh`'s three report files (JSON, Markdown, HTML) in the run's report directory, each
/// replaced atomically.
pub fn write_refresh_files(report: &RefreshReport, dir: &Path) -> Result<(), Diagnostics> {
    let json = serde_json::to_string_pretty(report).expect("reports serialize");
    let files = [
        ("report.json", json + "\n"),
        ("report.md", crate::report::refresh_markdown(report)),
        ("report.html", crate::report::refresh_html(report)),
    ];
    for (name, text) in files {
        let path = dir.join(name);
        write_atomic(&path, text.as_bytes()).map_err(|e| io_error("write", &path, e))?;
    }
    Ok(())
}

/// Writes the diagnostics of a command that stopped on bad input or an environment error.
pub fn failure(diagnostics: Diagnostics, format: Format) {
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
            print_diagnostics(&diagnostics);
            let errors = diagnostics.error_count();
            if errors > 1 {
                eprintln!("\nerror: aborting due to {errors} errors");
            }
        }
    }
}

/// A line for people on standard error, while a command goes on (that it waits for another run).
pub fn note(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "note: {text}");
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
pub fn color_on_stderr() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn print_stdout(text: &str) {
    raw(text.as_bytes());
}

/// Bytes as they are on standard output (a completion script, a manual page). A closed pipe
/// (`baseimg plan | head`) is not an error worth a panic.
pub fn raw(bytes: &[u8]) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(bytes);
    let _ = stdout.flush();
}

fn pretty(json: &serde_json::Value) -> String {
    let mut text = serde_json::to_string_pretty(json).expect("JSON values serialize");
    text.push('\n');
    text
}

/// The text word of a status: its JSON word with spaces for underscores (`not_attempted` →
/// `not attempted`).
pub fn word<S: Serialize>(status: &S) -> String {
    match serde_json::to_value(status) {
        Ok(serde_json::Value::String(word)) => word.replace('_', " "),
        _ => String::new(),
    }
}

/// `text` without terminal escape sequences: the daemon's build output carries colour
/// (`ESC[91m…ESC[0m` around what a step wrote to stderr), which belongs on a terminal and nowhere
/// else — not in a log file, a failure excerpt, a JSON report or a pipe. CSI (`ESC[…m`), OSC
/// (`ESC]…BEL`) and two-character sequences are removed; every other character stays.
pub fn without_escapes(text: &str) -> std::borrow::Cow<'_, str> {
    const ESC: char = '\x1b';
    if !text.contains(ESC) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != ESC {
            out.push(c);
            continue;
        }
        match chars.next() {
            // CSI: parameters and intermediates up to one final byte in `@`..=`~`.
            Some('[') => {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            // OSC: up to BEL or ESC `\`.
            Some(']') => {
                while let Some(c) = chars.next() {
                    if c == '\x07' {
                        break;
                    }
                    if c == ESC {
                        chars.next_if_eq(&'\\');
                        break;
                    }
                }
            }
            // Character set designations: `ESC ( B`.
            Some('(' | ')' | '*' | '+') => {
                chars.next();
            }
            _ => {}
        }
    }
    std::borrow::Cow::Owned(out)
}

/// `1 blob`, `2 blobs`.
pub fn count(n: usize, singular: &str, plural: &str) -> String {
    format!("{n} {}", if n == 1 { singular } else { plural })
}

/// Columns padded to their widest cell, two spaces apart; the last column is not padded.
fn table(rows: &[Vec<String>]) -> String {
    table_lines(rows)
        .into_iter()
        .map(|line| line + "\n")
        .collect()
}

/// A [`table`] with an optional note under each row, indented past the first column; notes do not
/// widen any column.
fn table_with_notes(rows: &[Vec<String>], notes: impl Iterator<Item = Option<String>>) -> String {
    let indent = rows
        .iter()
        .filter_map(|r| r.first())
        .map(|cell| cell.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (line, note) in table_lines(rows).into_iter().zip(notes) {
        out.push_str(&line);
        out.push('\n');
        if let Some(note) = note {
            out.push_str(&format!("{:indent$}  {note}\n", ""));
        }
    }
    out
}

/// [`table`]'s lines, for a caller that puts other lines between them.
fn table_lines(rows: &[Vec<String>]) -> Vec<String> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|row| {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                if c > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                if c + 1 < row.len() {
                    let pad = widths[c] - cell.chars().count();
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            line.trim_end().to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_the_json_words_with_spaces() {
        #[derive(Serialize)]
        #[serde(rename_all = "snake_case")]
        enum Status {
            NotAttempted,
        }
        assert_eq!(word(&Status::NotAttempted), "not attempted");
    }

    #[test]
    fn tables_align_every_column_but_the_last() {
        let rows = vec![
            vec!["IMAGE".into(), "STATUS".into(), "WHY".into()],
            vec!["redis".into(), "up to date".into(), "-".into()],
        ];
        assert_eq!(
            table(&rows),
            "IMAGE  STATUS      WHY\nredis  up to date  -\n"
        );
    }

    #[test]
    fn escapes_are_taken_out_and_everything_else_stays() {
        assert_eq!(
            without_escapes("\x1b[91mwarning: ünïcode\x1b[0m"),
            "warning: ünïcode"
        );
        assert_eq!(
            without_escapes("a\x1b]0;title\x07b\x1b]8;;x\x1b\\c\x1b(Bd\x1b[1;31"),
            "abcd"
        );
        assert!(matches!(
            without_escapes("plain [text]"),
            std::borrow::Cow::Borrowed("plain [text]")
        ));
    }

    #[test]
    fn counts_agree_with_their_number() {
        assert_eq!(count(1, "blob", "blobs"), "1 blob");
        assert_eq!(count(0, "blob", "blobs"), "0 blobs");
    }
}
