//! User-facing problems: what went wrong, where, and what to do about it.
//!
//! Every check in baseimg reports through [`Diagnostic`] so that errors look the same wherever they come
//! from (catalog, lock file, templates, build contexts) and so that one run can report all of them at
//! once. The text layout follows cargo's: a headline, an arrow to `file:line:column`, the offending line
//! with a caret, then `= note:` / `= help:` lines.

use std::fmt;
use std::path::Path;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// A point in a source file, 1-based, plus the text of that line so a diagnostic can show it without
/// re-reading the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceLocation {
    pub file: String,
    pub line: u64,
    pub column: u64,
    /// How many characters to underline (at least one is always shown).
    #[serde(skip)]
    pub width: u64,
    #[serde(skip)]
    pub line_text: Option<String>,
}

impl SourceLocation {
    /// A location inside `source` (the full text of `file`), underlining `width` characters.
    pub fn new(file: &Path, source: &str, line: u64, column: u64, width: u64) -> Self {
        let line_text = line
            .checked_sub(1)
            .and_then(|index| source.lines().nth(index as usize))
            .map(|text| text.trim_end().to_string());
        SourceLocation {
            file: file.display().to_string(),
            line,
            column,
            width,
            line_text,
        }
    }

    /// A location in a file whose text is not at hand (a template reported by minijinja, say).
    pub fn file_line(file: &Path, line: u64) -> Self {
        let line_text = std::fs::read_to_string(file).ok().and_then(|text| {
            text.lines()
                .nth(line.saturating_sub(1) as usize)
                .map(str::to_string)
        });
        SourceLocation {
            file: file.display().to_string(),
            line,
            column: 0,
            width: 0,
            line_text,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<SourceLocation>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            image: None,
            location: None,
            notes: Vec::new(),
            help: None,
        }
    }

    pub fn warning(message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(message)
        }
    }

    pub fn at(mut self, location: Option<SourceLocation>) -> Self {
        self.location = location;
        self
    }

    pub fn image(mut self, image: impl Into<String>) -> Self {
        self.image = Some(image.into());
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        writeln!(f, "{label}: {}", self.message)?;
        let gutter = self
            .location
            .as_ref()
            .map(|l| l.line.to_string().len())
            .unwrap_or(0)
            .max(1);
        let pad = " ".repeat(gutter);
        if let Some(location) = &self.location {
            if location.column > 0 {
                writeln!(
                    f,
                    "{pad}--> {}:{}:{}",
                    location.file, location.line, location.column
                )?;
            } else {
                writeln!(f, "{pad}--> {}:{}", location.file, location.line)?;
            }
            if let Some(text) = &location.line_text {
                writeln!(f, "{pad} |")?;
                writeln!(f, "{:>gutter$} | {text}", location.line)?;
                if location.column > 0 {
                    let indent = " ".repeat(location.column.saturating_sub(1) as usize);
                    let carets = "^".repeat(location.width.max(1) as usize);
                    writeln!(f, "{pad} | {indent}{carets}")?;
                } else {
                    writeln!(f, "{pad} |")?;
                }
            }
        }
        if let Some(image) = &self.image {
            writeln!(f, "{pad} = image: {image}")?;
        }
        for note in &self.notes {
            writeln!(f, "{pad} = note: {note}")?;
        }
        if let Some(help) = &self.help {
            writeln!(f, "{pad} = help: {help}")?;
        }
        Ok(())
    }
}

/// Everything one command found wrong. It is an `Err` only when it holds at least one error; warnings
/// alone travel with successful results.
#[derive(Debug, Default, Clone, Serialize)]
#[serde(transparent)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.0.push(diagnostic);
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    pub fn error_count(&self) -> usize {
        self.0.iter().filter(|d| d.is_error()).count()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Merges diagnostics that say the same thing at the same place (a broken shared template fails for
    /// every image that includes it), listing the images together.
    pub fn dedupe(self) -> Diagnostics {
        let mut merged: Vec<Diagnostic> = Vec::new();
        for diagnostic in self.0 {
            let same = merged.iter_mut().find(|d| {
                d.message == diagnostic.message
                    && d.location == diagnostic.location
                    && d.help == diagnostic.help
            });
            match (same, &diagnostic.image) {
                (Some(existing), Some(image)) => {
                    let images = existing.image.get_or_insert_with(String::new);
                    if !images.split(", ").any(|i| i == image) {
                        if !images.is_empty() {
                            images.push_str(", ");
                        }
                        images.push_str(image);
                    }
                }
                (Some(_), None) => {}
                (None, _) => merged.push(diagnostic),
            }
        }
        Diagnostics(merged)
    }

    /// `Ok(())` when nothing here is an error, so callers can stop at the first failed stage.
    pub fn into_result(self) -> Result<Diagnostics, Diagnostics> {
        if self.has_errors() {
            Err(self)
        } else {
            Ok(self)
        }
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(diagnostic: Diagnostic) -> Self {
        Diagnostics(vec![diagnostic])
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, diagnostic) in self.0.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// "did you mean `x`?" for a misspelt name, when one known name is close enough to be a likely typo.
pub fn did_you_mean<'a>(unknown: &str, known: impl IntoIterator<Item = &'a str>) -> Option<String> {
    known
        .into_iter()
        .map(|candidate| (strsim::jaro_winkler(unknown, candidate), candidate))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| format!("did you mean `{candidate}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_cargo() {
        let source = "images:\n  redis:\n    tgas: [x]\n";
        let diagnostic = Diagnostic::error("unknown key `tgas`")
            .at(Some(SourceLocation::new(
                Path::new("base-images.yaml"),
                source,
                3,
                5,
                4,
            )))
            .image("redis")
            .help("did you mean `tags`?");
        assert_eq!(
            diagnostic.to_string(),
            "error: unknown key `tgas`\n --> base-images.yaml:3:5\n  |\n3 |     tgas: [x]\n  |     ^^^^\n  = image: redis\n  = help: did you mean `tags`?\n"
        );
    }

    #[test]
    fn suggests_only_close_names() {
        assert_eq!(
            did_you_mean("tgas", ["tags", "from"]).as_deref(),
            Some("did you mean `tags`?")
        );
        assert_eq!(did_you_mean("zzz", ["tags", "from"]), None);
    }

    #[test]
    fn warnings_alone_are_not_errors() {
        let diagnostics = Diagnostics(vec![Diagnostic::warning("unused lock entry")]);
        assert!(diagnostics.into_result().is_ok());
    }
}
