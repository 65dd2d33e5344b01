//! Reading the YAML files baseimg is given (the catalog, the lock file) into typed values, and turning
//! the parser's complaints into diagnostics.
//!
//! serde-saphyr reports problems as a structured error: a variant per kind of problem (unknown field
//! with the allowed ones, duplicate key with the key, type mismatch with what was expected…) and a
//! location with line, column and byte offsets. Diagnostics are built from those fields, never by
//! picking the rendered message apart, so a parser upgrade that rewords a message cannot silently
//! turn a precise diagnostic into a vague one. Only problems baseimg has nothing to add to (syntax
//! errors such as an unclosed bracket) take the parser's own message, which its message formatter
//! gives without the location (that is shown in the snippet instead).

use std::ops::Range;
use std::path::Path;

use serde_saphyr::{Error, Location, MessageFormatter, Spanned, UserMessageFormatter};

use crate::diagnostic::{Code, Diagnostic, Diagnostics, SourceLocation, SourceText, did_you_mean};

/// The files baseimg reads as YAML. The same problem in each is its own code (`catalog::unknown-key`,
/// `lock::unknown-key`): what to do about it differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Document {
    Catalog,
    LockFile,
}

/// What the parser can refuse in a document.
#[derive(Debug, Clone, Copy)]
enum Problem {
    Empty,
    UnknownKey,
    DuplicateKey,
    MissingKey,
    WrongType,
    TooLarge,
    Syntax,
}

impl Document {
    /// The file's role in messages.
    fn name(self) -> &'static str {
        match self {
            Document::Catalog => "catalog",
            Document::LockFile => "lock file",
        }
    }

    fn code(self, problem: Problem) -> Code {
        match (self, problem) {
            (Document::Catalog, Problem::Empty) => Code::CatalogEmptyFile,
            (Document::Catalog, Problem::UnknownKey) => Code::CatalogUnknownKey,
            (Document::Catalog, Problem::DuplicateKey) => Code::CatalogDuplicateKey,
            (Document::Catalog, Problem::MissingKey) => Code::CatalogMissingKey,
            (Document::Catalog, Problem::WrongType) => Code::CatalogWrongType,
            (Document::Catalog, Problem::TooLarge) => Code::CatalogTooLarge,
            (Document::Catalog, Problem::Syntax) => Code::CatalogSyntax,
            (Document::LockFile, Problem::Empty) => Code::LockEmptyFile,
            (Document::LockFile, Problem::UnknownKey) => Code::LockUnknownKey,
            (Document::LockFile, Problem::DuplicateKey) => Code::LockDuplicateKey,
            (Document::LockFile, Problem::MissingKey) => Code::LockMissingKey,
            (Document::LockFile, Problem::WrongType) => Code::LockWrongType,
            (Document::LockFile, Problem::TooLarge) => Code::LockTooLarge,
            (Document::LockFile, Problem::Syntax) => Code::LockSyntax,
        }
    }
}

/// Parses `source` (the text of `path`, a `document`) into `T`.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(
    path: &Path,
    source: &SourceText,
    document: Document,
) -> Result<T, Diagnostics> {
    serde_saphyr::from_str::<T>(source)
        .map_err(|error| diagnostic(path, source, document, &error).into())
}

/// Where a parsed value was written in `source`.
pub(crate) fn location<T>(
    path: &Path,
    source: &SourceText,
    spanned: &Spanned<T>,
) -> SourceLocation {
    SourceLocation::new(path, source, range(source, spanned.referenced))
}

/// The bytes of `source` a parser location covers. The byte offsets serde-saphyr records are used
/// when they agree with its line and column; otherwise (no byte information) the range is found from
/// line and column, which count characters.
pub(crate) fn range(source: &str, location: Location) -> Range<usize> {
    let span = location.span();
    let from_bytes = span
        .byte_offset()
        .zip(span.byte_len())
        .and_then(|(offset, len)| {
            let start = usize::try_from(offset).ok()?;
            let end = start.checked_add(usize::try_from(len).ok()?)?;
            let agrees = source.get(start..end).is_some()
                && position(source, start) == (location.line(), location.column());
            agrees.then_some(start..end)
        });
    from_bytes.unwrap_or_else(|| {
        let start = offset(source, location.line(), location.column());
        let width: usize = source[start..]
            .chars()
            .take(usize::try_from(span.len()).unwrap_or(0))
            .map(char::len_utf8)
            .sum();
        start..start + width
    })
}

/// Where the first line's text starts: the parser does not count a leading byte order mark as a
/// column (its byte offsets do include it).
fn text_start(source: &str) -> usize {
    if source.starts_with('\u{feff}') {
        '\u{feff}'.len_utf8()
    } else {
        0
    }
}

/// 1-based line and character column of byte `offset`, counted as the parser counts them.
fn position(source: &str, offset: usize) -> (u64, u64) {
    let before = &source[..offset];
    let line_start = before
        .rfind('\n')
        .map_or(text_start(source).min(offset), |i| i + 1);
    (
        before.matches('\n').count() as u64 + 1,
        before[line_start..].chars().count() as u64 + 1,
    )
}

/// The byte offset of a 1-based line and character column, kept inside the text.
fn offset(source: &str, line: u64, column: u64) -> usize {
    let line_index = usize::try_from(line.saturating_sub(1)).unwrap_or(usize::MAX);
    let line_start = if line_index == 0 {
        Some(text_start(source))
    } else {
        source
            .match_indices('\n')
            .nth(line_index - 1)
            .map(|(i, _)| i + 1)
    };
    let Some(line_start) = line_start else {
        return source.len();
    };
    let line_text = source[line_start..].split('\n').next().unwrap_or_default();
    let skip = usize::try_from(column.saturating_sub(1)).unwrap_or(usize::MAX);
    let within: usize = line_text.chars().take(skip).map(char::len_utf8).sum();
    line_start + within
}

/// An error's range, widened to the word it points at when the parser gives only a position.
fn error_range(source: &str, location: Location) -> Range<usize> {
    let range = range(source, location);
    if !range.is_empty() {
        return range;
    }
    let word: usize = source[range.start..]
        .chars()
        .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .map(char::len_utf8)
        .sum();
    let width = if word > 0 {
        word
    } else {
        source[range.start..]
            .chars()
            .next()
            .map_or(0, char::len_utf8)
    };
    range.start..range.start + width
}

/// The error a wrapper (a snippet, an alias) was made for: the variant that says what went wrong.
fn innermost(mut error: &Error) -> &Error {
    loop {
        match error {
            Error::WithSnippet { error: inner, .. } | Error::AliasError { error: inner, .. } => {
                error = inner
            }
            other => return other,
        }
    }
}

const TYPE_HELP: &str = "check the value's type against the reference in README.md";

/// The diagnostic for a file serde-saphyr refused.
fn diagnostic(path: &Path, source: &SourceText, document: Document, error: &Error) -> Diagnostic {
    let what = document.name();
    let new = |problem, message| Diagnostic::new(document.code(problem), message);
    if source.trim().is_empty() {
        return new(Problem::Empty, format!("the {what} `{}` is empty", path.display()))
            .help("a catalog starts with `registry: <host>/<namespace>` and an `images:` mapping; see README.md");
    }
    let at = error
        .location()
        .filter(|l| l.line() > 0)
        .map(|l| SourceLocation::new(path, source, error_range(source, l)));
    match innermost(error) {
        Error::SerdeUnknownField {
            field, expected, ..
        } => {
            let mut diagnostic = new(
                Problem::UnknownKey,
                format!("unknown key `{field}` in {what}"),
            )
            .at(at);
            if !expected.is_empty() {
                diagnostic = diagnostic.note(format!("allowed keys here: {}", expected.join(", ")));
            }
            match did_you_mean(field, expected.iter().copied()) {
                Some(hint) => diagnostic.help(hint),
                None => diagnostic.help("remove it, or move it to where it belongs"),
            }
        }
        Error::DuplicateMappingKey { key, .. } => {
            let message = match key {
                Some(key) => format!("duplicate key `{key}` in {what}"),
                None => format!("duplicate key in {what}"),
            };
            new(Problem::DuplicateKey, message)
                .at(at)
                .help("each key may appear once in a mapping; remove or rename one of them")
        }
        Error::SerdeMissingField { field, .. } => new(
            Problem::MissingKey,
            format!("missing key `{field}` in {what}"),
        )
        .at(at)
        .help(format!("add `{field}:` to this mapping")),
        Error::Unexpected { expected, .. } => {
            let message = match *expected {
                "sequence start" => {
                    "expected a list here (`[a, b]`, or one `- item` per line)".to_string()
                }
                "mapping start" => "expected a mapping here (`key: value` lines)".to_string(),
                "string scalar" => {
                    "expected a single value here, not a list or mapping".to_string()
                }
                other => format!("expected {other} here"),
            };
            new(Problem::WrongType, message).at(at).help(TYPE_HELP)
        }
        inner @ (Error::SerdeInvalidType { .. }
        | Error::SerdeInvalidValue { .. }
        | Error::SerdeInvalidLength { .. }
        | Error::InvalidScalar { .. }
        | Error::InvalidBooleanStrict { .. }
        | Error::NullIntoString { .. }
        | Error::QuotingRequired { .. }) => new(Problem::WrongType, message(inner))
            .at(at)
            .help(TYPE_HELP),
        inner => match too_much(inner) {
            Some((reason, help)) => new(
                Problem::TooLarge,
                format!("the {what} is too large or too complex to read: {reason}"),
            )
            .at(at)
            .help(help),
            None => new(Problem::Syntax, message(inner))
                .at(at)
                .help("fix the YAML syntax at this point"),
        },
    }
}

const ALIAS_HELP: &str = "anchors (`&name`) repeated by aliases (`*name`) that are repeated in turn multiply what is read (an alias bomb); write the values out, or repeat them fewer times";

/// Why the parser stopped on a document past its limits (most often an alias bomb), as the end of
/// a sentence, with what to do: the parser's own words name an internal structure
/// ("limits breached: Nodes { nodes: 250001 }") and would send the user to fix the syntax.
fn too_much(error: &Error) -> Option<(String, &'static str)> {
    use serde_saphyr::budget::BudgetBreach;
    let limits = serde_saphyr::Budget::default();
    const SIZE_HELP: &str = "baseimg reads YAML within limits that no real catalog or lock file comes near, so that a file made to exhaust memory cannot";
    let found = match error {
        Error::Budget { breach, .. } => match breach {
            BudgetBreach::Nodes { .. } => (
                format!(
                    "it holds more than {} values once its aliases are expanded",
                    limits.max_nodes
                ),
                ALIAS_HELP,
            ),
            BudgetBreach::Events { .. } => (
                format!(
                    "it holds more than {} YAML events once its aliases are expanded",
                    limits.max_events
                ),
                ALIAS_HELP,
            ),
            BudgetBreach::Aliases { .. } => (
                format!("it uses more than {} aliases (`*name`)", limits.max_aliases),
                ALIAS_HELP,
            ),
            BudgetBreach::AliasAnchorRatio { aliases, anchors } => (
                format!(
                    "its {aliases} aliases (`*name`) repeat only {anchors} {} (`&name`)",
                    if *anchors == 1 { "anchor" } else { "anchors" }
                ),
                ALIAS_HELP,
            ),
            BudgetBreach::Anchors { .. } => (
                format!(
                    "it defines more than {} anchors (`&name`)",
                    limits.max_anchors
                ),
                SIZE_HELP,
            ),
            BudgetBreach::Depth { .. } => (
                format!("it nests more than {} levels deep", limits.max_depth),
                SIZE_HELP,
            ),
            BudgetBreach::Documents { .. } => (
                format!("it holds more than {} YAML documents", limits.max_documents),
                SIZE_HELP,
            ),
            BudgetBreach::ScalarBytes { .. } => (
                format!(
                    "its values hold more than {} MiB of text",
                    limits.max_total_scalar_bytes >> 20
                ),
                SIZE_HELP,
            ),
            BudgetBreach::MergeKeys { .. } => (
                format!(
                    "it uses more than {} merge keys (`<<`)",
                    limits.max_merge_keys
                ),
                SIZE_HELP,
            ),
            _ => (
                "it is past one of the YAML reader's limits".to_string(),
                SIZE_HELP,
            ),
        },
        Error::AliasReplayCounterOverflow { .. }
        | Error::AliasReplayLimitExceeded { .. }
        | Error::AliasExpansionLimitExceeded { .. }
        | Error::AliasReplayStackDepthExceeded { .. } => (
            "its aliases (`*name`) expand to more than the YAML reader's limit".to_string(),
            ALIAS_HELP,
        ),
        _ => return None,
    };
    Some(found)
}

/// The parser's own words for a problem, without a location (the formatter's contract).
fn message(error: &Error) -> String {
    UserMessageFormatter.format_message(error).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        name: Spanned<String>,
        #[serde(default)]
        tags: Vec<String>,
    }

    fn refuse(text: &str) -> String {
        let source = SourceText::from(text);
        parse::<Doc>(Path::new("f.yaml"), &source, Document::Catalog)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn values_know_their_bytes() {
        let source = SourceText::from("# é\nname: \"rédis\"\n");
        let doc: Doc = parse(Path::new("f.yaml"), &source, Document::Catalog).unwrap();
        let at = location(Path::new("f.yaml"), &source, &doc.name);
        assert_eq!((at.line, at.column), (2, 7));
        assert!(source[at.range.clone()].contains("rédis"), "{at:?}");
    }

    #[test]
    fn a_byte_order_mark_does_not_shift_locations() {
        let source = SourceText::from("\u{feff}name: rédis\ntags: [a]\n");
        let doc: Doc = parse(Path::new("f.yaml"), &source, Document::Catalog).unwrap();
        let at = location(Path::new("f.yaml"), &source, &doc.name);
        assert_eq!(&source[at.range.clone()], "rédis");
        let text = refuse("\u{feff}name: x\ntgas: [a]\n");
        assert!(text.contains("f.yaml:2:1"), "{text}");
    }

    #[test]
    fn unknown_keys_come_with_the_allowed_ones() {
        let text = refuse("name: x\ntgas: [a]\n");
        assert!(
            text.starts_with("error[catalog::unknown-key]: unknown key `tgas` in catalog"),
            "{text}"
        );
        assert!(text.contains("f.yaml:2:1"), "{text}");
        assert!(text.contains("allowed keys here: name, tags"), "{text}");
        assert!(text.contains("did you mean `tags`?"), "{text}");
    }

    #[test]
    fn type_and_syntax_errors_say_what_to_do() {
        let text = refuse("name: x\ntags: 7\n");
        assert!(text.contains("expected a list here"), "{text}");
        assert!(text.contains("f.yaml:2:7"), "{text}");
        let text = refuse("name: x\ntags: [a\n");
        assert!(text.contains("fix the YAML syntax"), "{text}");
        assert!(!text.contains("at line"), "{text}");
        let text = refuse("name: x\nname: y\n");
        assert!(text.contains("duplicate key `name` in catalog"), "{text}");
    }

    #[test]
    fn an_alias_bomb_is_named_in_a_whole_sentence() {
        // One anchor repeated 200 times: stopped by the ratio of aliases to anchors. (The classic
        // nine-by-nine bomb, stopped by the count of values, is a case of `tests/broken/`.)
        let aliases = vec!["*a"; 200].join(", ");
        let source = SourceText::from(format!("name: &a x\ntags: [{aliases}]\n"));
        let text = parse::<Doc>(Path::new("f.yaml"), &source, Document::Catalog)
            .unwrap_err()
            .to_string();
        assert!(
            text.starts_with("error[catalog::too-large]: the catalog is too large or too complex to read: its 200 aliases (`*name`) repeat only 1 anchor (`&name`)\n"),
            "{text}"
        );
        assert!(text.contains("alias bomb"), "{text}");
        assert!(!text.contains("AliasAnchorRatio"), "{text}");
        assert!(!text.contains("fix the YAML syntax"), "{text}");
    }

    #[test]
    fn each_document_has_its_own_codes() {
        let source = SourceText::from("name: x\ntgas: [a]\n");
        let errors = parse::<Doc>(Path::new("f.lock"), &source, Document::LockFile).unwrap_err();
        assert_eq!(errors.0[0].code, Code::LockUnknownKey);
        assert!(
            errors
                .to_string()
                .contains("unknown key `tgas` in lock file")
        );
    }

    #[test]
    fn an_empty_file_is_named_as_such() {
        let text = refuse("  \n");
        assert!(text.contains("the catalog `f.yaml` is empty"), "{text}");
        assert!(text.starts_with("error[catalog::empty-file]: "), "{text}");
    }
}
