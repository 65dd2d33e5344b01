//! User-facing problems: what went wrong, where, and what to do about it.
//!
//! Every check in baseimg reports through [`Diagnostic`] so that errors look the same wherever they come
//! from (catalog, lock file, templates, build contexts) and so that one run can report all of them at
//! once. A diagnostic points at byte ranges of the source text it is about: one primary place and, where
//! it helps, related places (both images that claim a tag, every `from:` of a cycle).
//!
//! Drawing is left to `annotate-snippets`, the renderer rustc and cargo use, so the layout (headline,
//! `--> file:line:column`, the lines with the offending parts underlined, `= note:` / `= help:` lines)
//! is the one Rust users already read every day, and so that colour, wide characters, tabs and control
//! characters in user input are handled by code maintained for exactly that. The data stays plain and
//! serializable for `--output json`; only [`Diagnostic::render`] knows about the renderer.
//!
//! Every diagnostic carries a [`Code`] naming its problem (`catalog::unknown-key`), shown in its
//! headline as rustc shows `error[E0425]`; `code.rs` lists them all.

mod code;

pub(crate) use code::Code;

use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use annotate_snippets::{
    AnnotationKind, Group, Level, Origin, Renderer, Snippet, normalize_untrusted_str,
};
use serde::Serialize;

/// The full text of a source file, shared by every location that points into it.
pub(crate) type SourceText = Arc<str>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    /// What a run tells while it goes on (that it waits for another run): shown as it happens, and
    /// kept with the report's warnings for JSON readers.
    Note,
}

/// A place in a source file: a byte range of its text, with the 1-based line and column (in
/// characters) where the range starts, which is what JSON readers and the `-->` line show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceLocation {
    pub file: String,
    pub line: u64,
    pub column: u64,
    /// The bytes of `source` this location covers; always on character boundaries.
    #[serde(skip)]
    pub range: Range<usize>,
    /// The file's text, when it is at hand; without it only `file:line:column` can be shown.
    #[serde(skip)]
    pub source: Option<SourceText>,
}

impl SourceLocation {
    /// The bytes `range` of `source` (the full text of `file`). A range that does not fit the text
    /// (an offset from a parser that counted differently, say) is pulled inside it rather than
    /// trusted, because the renderer must never be handed a span outside its source.
    pub fn new(file: &Path, source: &SourceText, range: Range<usize>) -> Self {
        let range = clamp(source, range);
        let before = &source[..range.start];
        let line = before.matches('\n').count() as u64 + 1;
        // A byte order mark is no column of the first line, for editors as for the YAML parser.
        let bom = if source.starts_with('\u{feff}') { 3 } else { 0 };
        let line_start = before.rfind('\n').map_or(bom.min(range.start), |i| i + 1);
        let column = source[line_start..range.start].chars().count() as u64 + 1;
        SourceLocation {
            file: file.display().to_string(),
            line,
            column,
            range,
            source: Some(Arc::clone(source)),
        }
    }

    /// The text of line `line` (1-based) of `source`, without its indentation and trailing space:
    /// for problems that concern a whole line, like a Dockerfile instruction.
    pub fn line_of(file: &Path, source: &SourceText, line: u64) -> Self {
        match line_range(source, line) {
            Some(range) => SourceLocation::new(file, source, range),
            None => SourceLocation::bare(file, line, 0),
        }
    }

    /// A position in a file that cannot be shown, only named.
    pub fn bare(file: &Path, line: u64, column: u64) -> Self {
        SourceLocation {
            file: file.display().to_string(),
            line,
            column,
            range: 0..0,
            source: None,
        }
    }
}

/// `range` moved inside `source` and widened to character boundaries.
fn clamp(source: &str, range: Range<usize>) -> Range<usize> {
    let mut start = range.start.min(source.len());
    while !source.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = range.end.clamp(start, source.len());
    while !source.is_char_boundary(end) {
        end += 1;
    }
    start..end
}

/// The byte range of line `line` (1-based) of `source` without leading and trailing white space;
/// `None` when the text has fewer lines.
fn line_range(source: &str, line: u64) -> Option<Range<usize>> {
    let index = usize::try_from(line.checked_sub(1)?).ok()?;
    let mut offset = 0;
    for (number, text) in source.split_inclusive('\n').enumerate() {
        if number == index {
            let content = text.trim_end();
            let indent = content.len() - content.trim_start().len();
            return Some(offset + indent..offset + content.len());
        }
        offset += text.len();
    }
    None
}

/// Another place that explains the primary one, with a short text drawn under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub location: SourceLocation,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Which problem this is; its default severity is `severity`'s.
    pub code: Code,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<SourceLocation>,
    /// Text drawn under the primary location.
    #[serde(skip)]
    pub label: Option<String>,
    /// Further places drawn with the primary one (JSON keeps its one `location`).
    #[serde(skip)]
    pub related: Vec<Label>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl Diagnostic {
    /// A diagnostic about the problem `code` names, with that code's severity.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: code.severity(),
            code,
            message: message.into(),
            image: None,
            location: None,
            label: None,
            related: Vec::new(),
            notes: Vec::new(),
            help: None,
        }
    }

    /// Reported as a warning here though its problem is an error elsewhere: a mirror missing from
    /// the lock file stops `render` but only warns in `validate`.
    pub fn into_warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }

    pub fn at(mut self, location: Option<SourceLocation>) -> Self {
        self.location = location;
        self
    }

    /// A short text under the primary location, for when several places are shown.
    pub fn label(mut self, text: impl Into<String>) -> Self {
        self.label = Some(text.into());
        self
    }

    /// Another place to show beside the primary one; nothing is added without a location.
    pub fn related(mut self, location: Option<SourceLocation>, text: impl Into<String>) -> Self {
        if let Some(location) = location {
            self.related.push(Label {
                location,
                text: text.into(),
            });
        }
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

    /// The diagnostic as text, in colour when `color` is set (for a terminal).
    pub fn render(&self, color: bool) -> String {
        let renderer = if color {
            Renderer::styled()
        } else {
            Renderer::plain()
        };
        let mut text = renderer.render(&[self.group()]);
        text.push('\n');
        text
    }

    /// The renderer's description of this diagnostic: title, the snippets of every file it points
    /// into (related places in the primary's file share its snippet), then image, notes and help.
    fn group(&self) -> Group<'_> {
        let level = match self.severity {
            Severity::Error => Level::ERROR,
            Severity::Warning => Level::WARNING,
            Severity::Note => Level::NOTE,
        };
        let title = level
            .primary_title(self.message.as_str())
            .id(self.code.as_str());
        let mut group = Group::with_title(title);
        let mut related: Vec<&Label> = self.related.iter().collect();
        if let Some(location) = &self.location {
            let primary = AnnotationKind::Primary
                .span(location.range.clone())
                .label(self.label.as_deref());
            match snippet(location, primary) {
                Some(mut snippet) => {
                    let (same, other): (Vec<&Label>, Vec<&Label>) = related
                        .into_iter()
                        .partition(|label| same_source(&label.location, location));
                    for label in same {
                        snippet = snippet.annotation(
                            AnnotationKind::Context
                                .span(label.location.range.clone())
                                .label(label.text.as_str()),
                        );
                    }
                    group = group.element(snippet);
                    related = other;
                }
                None => group = group.element(origin(location)),
            }
        }
        for label in related {
            let context = AnnotationKind::Context
                .span(label.location.range.clone())
                .label(label.text.as_str());
            group = match snippet(&label.location, context) {
                Some(snippet) => group.element(snippet),
                None => group.element(origin(&label.location)),
            };
        }
        let footer =
            |level: Level<'static>, text: &str| level.message(normalize_untrusted_str(text));
        if let Some(image) = &self.image {
            group = group.element(footer(Level::NOTE.with_name("image"), image));
        }
        for note in &self.notes {
            group = group.element(footer(Level::NOTE, note));
        }
        if let Some(help) = &self.help {
            group = group.element(footer(Level::HELP, help));
        }
        group
    }
}

/// A snippet of the location's file with one annotation; `None` when the text is not at hand.
fn snippet<'a>(
    location: &'a SourceLocation,
    annotation: annotate_snippets::Annotation<'a>,
) -> Option<Snippet<'a, annotate_snippets::Annotation<'a>>> {
    let source = location.source.as_deref()?;
    Some(
        Snippet::source(source)
            .path(location.file.as_str())
            .annotation(annotation),
    )
}

/// Just `--> file:line:column`, for a location whose text cannot be shown.
fn origin(location: &SourceLocation) -> Origin<'_> {
    let mut origin = Origin::path(location.file.as_str());
    if location.line > 0 {
        origin = origin.line(location.line as usize);
        if location.column > 0 {
            origin = origin.char_column(location.column as usize);
        }
    }
    origin
}

fn same_source(a: &SourceLocation, b: &SourceLocation) -> bool {
    a.file == b.file
        && match (&a.source, &b.source) {
            (Some(x), Some(y)) => Arc::ptr_eq(x, y) || x == y,
            _ => false,
        }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
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
                d.code == diagnostic.code
                    && d.message == diagnostic.message
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

    /// Every diagnostic as text, separated by blank lines, in colour when `color` is set.
    pub fn render(&self, color: bool) -> String {
        let rendered: Vec<String> = self.0.iter().map(|d| d.render(color)).collect();
        rendered.join("\n")
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(diagnostic: Diagnostic) -> Self {
        Diagnostics(vec![diagnostic])
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

impl std::error::Error for Diagnostics {}

/// "did you mean `x`?" for a misspelt name, when one known name is close enough to be a likely typo.
pub(crate) fn did_you_mean<'a>(
    unknown: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
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

    fn text(source: &str) -> SourceText {
        SourceText::from(source)
    }

    #[test]
    fn renders_like_cargo() {
        let source = text("images:\n  redis:\n    tgas: [x]\n");
        let diagnostic = Diagnostic::new(Code::CatalogUnknownKey, "unknown key `tgas`")
            .at(Some(SourceLocation::new(
                Path::new("base-images.yaml"),
                &source,
                21..25,
            )))
            .image("redis")
            .help("did you mean `tags`?");
        assert_eq!(
            diagnostic.to_string(),
            "error[catalog::unknown-key]: unknown key `tgas`\n --> base-images.yaml:3:5\n  |\n3 |     tgas: [x]\n  |     ^^^^\n  |\n  = image: redis\n  = help: did you mean `tags`?\n"
        );
    }

    #[test]
    fn related_places_are_drawn_with_their_labels() {
        let source = text("a:\n  from: b\nb:\n  from: a\n");
        let file = Path::new("c.yaml");
        let diagnostic = Diagnostic::new(Code::GraphDependencyCycle, "dependency cycle: a → b → a")
            .at(Some(SourceLocation::new(file, &source, 11..12)))
            .label("`a` is built from `b`")
            .related(
                Some(SourceLocation::new(file, &source, 24..25)),
                "`b` is built from `a`",
            );
        let rendered = diagnostic.to_string();
        assert!(rendered.contains(" --> c.yaml:2:9"), "{rendered}");
        assert!(rendered.contains("^ `a` is built from `b`"), "{rendered}");
        assert!(rendered.contains("- `b` is built from `a`"), "{rendered}");
    }

    #[test]
    fn colour_only_when_asked() {
        let diagnostic = Diagnostic::new(Code::RenderFailed, "broken").help("fix it");
        assert!(diagnostic.render(true).contains('\u{1b}'));
        assert!(!diagnostic.render(false).contains('\u{1b}'));
    }

    #[test]
    fn locations_count_lines_and_characters() {
        let source = text("a: 1\né: value\n");
        let location = SourceLocation::new(Path::new("f"), &source, 9..14);
        assert_eq!((location.line, location.column), (2, 4));
        let whole = SourceLocation::line_of(Path::new("f"), &source, 2);
        assert_eq!(&source[whole.range.clone()], "é: value");
    }

    #[test]
    fn ranges_outside_the_text_are_pulled_in_and_never_panic() {
        let source = text("\u{feff}é\tx\r\n");
        let backwards = Range { start: 4, end: 2 };
        for range in [0..1, 1..2, 3..100, 50..60, backwards, 0..0] {
            let location = SourceLocation::new(Path::new("f"), &source, range);
            assert!(source.get(location.range.clone()).is_some());
            let _ = Diagnostic::new(Code::RenderFailed, "x")
                .at(Some(location))
                .render(true);
        }
        let empty = text("");
        let location = SourceLocation::new(Path::new("f"), &empty, 0..3);
        let _ = Diagnostic::new(Code::RenderFailed, "x")
            .at(Some(location))
            .to_string();
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
    fn the_code_is_in_the_headline_and_in_json() {
        let warning = Diagnostic::new(Code::LockUnusedEntry, "`x` has a lock entry");
        assert!(
            warning
                .to_string()
                .starts_with("warning[lock::unused-entry]: `x` has a lock entry\n"),
            "{warning}"
        );
        let json = serde_json::to_value(&warning).unwrap();
        assert_eq!(json["code"], "lock::unused-entry");
        assert_eq!(json["severity"], "warning");
        let error = Diagnostic::new(Code::LockNotPinned, "`x` is not pinned");
        assert!(error.is_error());
        let demoted = error.into_warning();
        assert!(!demoted.is_error());
        assert!(
            demoted
                .to_string()
                .starts_with("warning[lock::not-pinned]: `x` is not pinned\n")
        );
    }

    #[test]
    fn warnings_alone_are_not_errors() {
        let diagnostics = Diagnostics(vec![Diagnostic::new(
            Code::LockUnusedEntry,
            "unused lock entry",
        )]);
        assert!(diagnostics.into_result().is_ok());
    }
}
