//! Words and numbers for people, shared by every layer: counts with their plural, a status's word,
//! sizes, and text with terminal escapes taken out. A leaf: it imports nothing of baseimg, so the
//! domain can phrase a message the way the report does without reaching up into the report.

use serde::Serialize;

/// `1 blob`, `2 blobs`.
pub(crate) fn count(n: usize, singular: &str, plural: &str) -> String {
    format!("{n} {}", if n == 1 { singular } else { plural })
}

/// The text word of a status: its JSON word with spaces for underscores (`not_attempted` →
/// `not attempted`).
pub(crate) fn word<S: Serialize>(status: &S) -> String {
    match serde_json::to_value(status) {
        Ok(serde_json::Value::String(word)) => word.replace('_', " "),
        _ => String::new(),
    }
}

/// `text` without terminal escape sequences: the daemon's build output carries colour
/// (`ESC[91m…ESC[0m` around what a step wrote to stderr), which belongs on a terminal and nowhere
/// else — not in a log file, a failure excerpt, a JSON report or a pipe. CSI (`ESC[…m`), OSC
/// (`ESC]…BEL`) and two-character sequences are removed; every other character stays.
pub(crate) fn without_escapes(text: &str) -> std::borrow::Cow<'_, str> {
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

/// `123.4 MB`-style sizes for plain output.
pub(crate) fn human_bytes(bytes: u64) -> String {
    indicatif::HumanBytes(bytes).to_string()
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
