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
mod output;
mod refresh;
mod refresh_html;
mod registry;
mod service;

pub(crate) use refresh::refresh_markdown;
pub(crate) use refresh_html::refresh_html;

pub(crate) use output::{emit, emit_env, failure, raw, write_refresh_files};
// The words every report file uses, from the leaf that the domain shares.
use crate::text::{count, word};

/// How results are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// For people: tables and sentences.
    Text,
    /// For machines: one JSON document on standard output.
    Json,
}

/// A report drawn for people.
pub(crate) trait Text {
    /// The text for standard output, ending in a newline (or empty).
    fn text(&self) -> String;
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
}
