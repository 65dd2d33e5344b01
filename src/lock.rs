//! `base-images.lock`: every upstream reference of the catalog pinned to a digest.
//!
//! The file is YAML written by baseimg itself with a fixed layout (sorted images, sorted platforms,
//! one value per line) so that a re-lock with no upstream change rewrites the same bytes and a real
//! change shows up as a small, readable diff. Only `lock`, `update` and `refresh` write it; every
//! other command reads it and says which of those two commands to run when it is out of date.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::catalog::{Catalog, Image};
use crate::diagnostic::{Code, Diagnostic, Diagnostics, SourceText};
use crate::fsutil::{InputError, directory_of, read_input, write_atomic};
use crate::reference::{Digest, Reference};
use crate::yaml;

pub const DEFAULT_LOCK: &str = "base-images.lock";
const LOCK_VERSION: u32 = 1;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockFile {
    pub images: BTreeMap<String, LockEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockEntry {
    /// The upstream reference as the catalog wrote it, normalized.
    pub source: Reference,
    /// What the upstream tag resolved to: the index digest for a multi-platform image.
    pub digest: Digest,
    pub media_type: String,
    /// Platform → manifest digest, for the platforms kept in the mirror.
    pub platforms: BTreeMap<String, Digest>,
    /// The catalog's `platforms:` filter when this entry was made; empty keeps every platform.
    pub only: Vec<String>,
    /// RFC 3339, UTC.
    pub resolved_at: String,
    /// Where the digest lives in the private registry. Its digest differs from `digest` only when a
    /// platform filter made baseimg write a new, smaller index.
    pub mirror: Reference,
    /// A newer upstream digest that `refresh` saw but has not adopted yet (cool-down).
    pub candidate: Option<Candidate>,
}

/// A digest upstream moved to, waiting out the image's cool-down. Kept in the lock file (beside the
/// pin it would replace) rather than in `.baseimg/`, because the nightly job usually runs on a fresh
/// CI machine: only a committed file remembers when a digest was first seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub digest: Digest,
    /// RFC 3339, UTC: the first run that saw upstream point at `digest`.
    pub first_seen: String,
}

impl LockEntry {
    /// The digest to pull from the private registry.
    pub fn mirror_digest(&self) -> &Digest {
        self.mirror.digest.as_ref().unwrap_or(&self.digest)
    }
}

/// How a catalog mirror relates to its lock entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockStatus<'a> {
    Fresh(&'a LockEntry),
    Missing,
    /// The catalog now names another reference or platform set than the one that was locked.
    Stale {
        why: String,
    },
}

/// A mirror the lock file at `lock_path` has no entry for (`LockStatus::Missing`), for every command
/// that needs it pinned; the caller says what to run.
pub fn not_pinned(image: &str, lock_path: &Path) -> Diagnostic {
    Diagnostic::new(
        Code::LockNotPinned,
        format!("`{image}` is not pinned in `{}`", lock_path.display()),
    )
    .image(image)
}

/// A mirror whose lock entry no longer matches the catalog (`LockStatus::Stale`, `why`).
pub fn out_of_date(image: &str, why: &str) -> Diagnostic {
    Diagnostic::new(
        Code::LockOutOfDate,
        format!("the lock entry of `{image}` is out of date: {why}"),
    )
    .image(image)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LockFileRaw {
    version: Spanned<u32>,
    #[serde(default)]
    images: BTreeMap<String, LockEntryRaw>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LockEntryRaw {
    source: Spanned<String>,
    digest: Spanned<String>,
    media_type: String,
    #[serde(default)]
    platforms: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    only: Vec<String>,
    resolved_at: Spanned<String>,
    mirror: Spanned<String>,
    candidate: Option<CandidateRaw>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CandidateRaw {
    digest: Spanned<String>,
    first_seen: Spanned<String>,
}

impl LockFile {
    /// Where the lock file of a catalog lives unless `--lock` says otherwise: beside the catalog.
    pub fn default_path(catalog: &Catalog) -> PathBuf {
        catalog.root.join(DEFAULT_LOCK)
    }

    /// Reads a lock file; a file that does not exist yet is an empty lock. Like the catalog, it may
    /// be named anywhere (`--lock`) but be a symlink only to a file in its own directory, so a lock
    /// file linked to a credential file is refused before a byte of it is read or quoted.
    pub fn load(path: &Path) -> Result<LockFile, Diagnostics> {
        let text = match read_input(path, directory_of(path)) {
            Ok(text) => text,
            Err(InputError::NotFound { .. }) => return Ok(LockFile::default()),
            Err(error) => {
                let help = match &error {
                    InputError::Outside { .. } => "the lock file may be a symlink only to a file in its own directory; remove the link and restore the file from version control (or let `baseimg lock` write a new one), or name the file itself with `--lock PATH`".to_string(),
                    InputError::NotRegular { .. } => "name the lock file itself with `--lock PATH`".to_string(),
                    InputError::TooLarge { .. } => InputError::too_large_help(),
                    InputError::NotText { .. } | InputError::NotFound { .. } => "the lock file is written by baseimg; restore it from version control or run `baseimg update` to rewrite it".to_string(),
                    InputError::Io { .. } => "check the file's permissions".to_string(),
                };
                return Err(Diagnostic::new(
                    Code::LockUnreadable,
                    error.message("lock file", "its directory"),
                )
                .help(help)
                .into());
            }
        };
        LockFile::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<LockFile, Diagnostics> {
        let lock_text = SourceText::from(text);
        let raw: LockFileRaw = yaml::parse(path, &lock_text, yaml::Document::LockFile)?;
        let mut diagnostics = Diagnostics::default();
        let at = |spanned: &Spanned<String>| Some(yaml::location(path, &lock_text, spanned));
        let regenerate = "the lock file is written by baseimg; restore it from version control or run `baseimg update` to rewrite it";
        if raw.version.value != LOCK_VERSION {
            diagnostics.push(
                Diagnostic::new(
                    Code::LockUnsupportedVersion,
                    format!("unsupported lock file version {}", raw.version.value),
                )
                .at(Some(yaml::location(path, &lock_text, &raw.version)))
                .help(format!(
                    "this baseimg reads lock file version {LOCK_VERSION}"
                )),
            );
        }
        let mut images = BTreeMap::new();
        for (name, entry) in raw.images {
            let mut bad = |spanned: &Spanned<String>, message: String| {
                diagnostics.push(
                    Diagnostic::new(Code::LockMalformedEntry, message)
                        .at(at(spanned))
                        .image(&name)
                        .help(regenerate),
                );
            };
            let source = Reference::parse(&entry.source.value)
                .map_err(|m| bad(&entry.source, m.to_string()));
            let digest =
                Digest::parse(&entry.digest.value).map_err(|m| bad(&entry.digest, m.to_string()));
            let mirror = Reference::parse(&entry.mirror.value)
                .map_err(|m| bad(&entry.mirror, m.to_string()));
            let resolved = time::OffsetDateTime::parse(
                &entry.resolved_at.value,
                &time::format_description::well_known::Rfc3339,
            )
            .map_err(|_| {
                bad(
                    &entry.resolved_at,
                    format!("`{}` is not an RFC 3339 time", entry.resolved_at.value),
                )
            });
            let candidate = entry
                .candidate
                .as_ref()
                .and_then(|c| candidate(c, &mut bad));
            let mut platforms = BTreeMap::new();
            for (platform, digest) in &entry.platforms {
                match Digest::parse(&digest.value) {
                    Ok(d) => {
                        platforms.insert(platform.clone(), d);
                    }
                    Err(m) => bad(digest, m.to_string()),
                }
            }
            if let (Ok(source), Ok(digest), Ok(mirror), Ok(_)) = (source, digest, mirror, resolved)
            {
                images.insert(
                    name.clone(),
                    LockEntry {
                        source,
                        digest,
                        media_type: entry.media_type,
                        platforms,
                        only: entry.only,
                        resolved_at: entry.resolved_at.value,
                        mirror,
                        candidate,
                    },
                );
            }
        }
        diagnostics.into_result().map(|_| LockFile { images })
    }

    /// Whether the lock entry still describes what the catalog asks for.
    pub fn status(&self, image: &Image) -> LockStatus<'_> {
        let Some(mirror) = image.as_mirror() else {
            return LockStatus::Missing;
        };
        let Some(entry) = self.images.get(&image.name) else {
            return LockStatus::Missing;
        };
        if entry.source != mirror.upstream {
            return LockStatus::Stale {
                why: format!(
                    "the catalog mirrors `{}`, the lock has `{}`",
                    mirror.upstream, entry.source
                ),
            };
        }
        if entry.only != image.platforms {
            let describe = |p: &[String]| {
                if p.is_empty() {
                    "all platforms".to_string()
                } else {
                    p.join(", ")
                }
            };
            return LockStatus::Stale {
                why: format!(
                    "the catalog keeps {}, the lock has {}",
                    describe(&image.platforms),
                    describe(&entry.only)
                ),
            };
        }
        LockStatus::Fresh(entry)
    }

    /// Diagnostics for every mirror the lock does not cover (as warnings or errors, as the caller needs)
    /// and for lock entries the catalog no longer has.
    pub fn check(&self, catalog: &Catalog, lock_path: &Path, as_errors: bool) -> Diagnostics {
        let mut diagnostics = Diagnostics::default();
        let make = |diagnostic: Diagnostic| {
            if as_errors {
                diagnostic
            } else {
                diagnostic.into_warning()
            }
        };
        for image in catalog.images.values() {
            let Some(mirror) = image.as_mirror() else {
                continue;
            };
            let at = catalog.locate(mirror.span);
            match self.status(image) {
                LockStatus::Fresh(_) => {}
                LockStatus::Missing => diagnostics.push(
                    make(not_pinned(&image.name, lock_path))
                        .at(at)
                        .help("run `baseimg lock` to resolve it to a digest"),
                ),
                LockStatus::Stale { why } => {
                    diagnostics.push(make(out_of_date(&image.name, &why)).at(at).help(format!(
                        "run `baseimg update {}` to re-resolve it",
                        image.name
                    )))
                }
            }
        }
        for name in self.images.keys() {
            if catalog
                .images
                .get(name)
                .is_none_or(|i| i.as_mirror().is_none())
            {
                diagnostics.push(
                    Diagnostic::new(
                        Code::LockUnusedEntry,
                        format!(
                            "`{}` has a lock entry but is no mirror in the catalog",
                            name
                        ),
                    )
                    .help("`baseimg lock` drops entries the catalog no longer needs"),
                );
            }
        }
        diagnostics
    }

    /// The file's text: fixed layout, sorted keys, so identical content gives identical bytes.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        out.push_str("# Upstream images pinned to digests. Written by `baseimg lock`, `update` and `refresh`;\n");
        out.push_str("# commit it, and do not edit it by hand.\n");
        let _ = writeln!(out, "version: {LOCK_VERSION}");
        if self.images.is_empty() {
            out.push_str("images: {}\n");
            return out;
        }
        out.push_str("images:\n");
        for (name, entry) in &self.images {
            let _ = writeln!(out, "  {}:", scalar(name));
            let _ = writeln!(out, "    source: {}", scalar(&entry.source.to_string()));
            let _ = writeln!(out, "    digest: {}", scalar(entry.digest.as_str()));
            let _ = writeln!(out, "    media_type: {}", scalar(&entry.media_type));
            if entry.platforms.is_empty() {
                out.push_str("    platforms: {}\n");
            } else {
                out.push_str("    platforms:\n");
                for (platform, digest) in &entry.platforms {
                    let _ = writeln!(
                        out,
                        "      {}: {}",
                        scalar(platform),
                        scalar(digest.as_str())
                    );
                }
            }
            if !entry.only.is_empty() {
                let only: Vec<String> = entry.only.iter().map(|p| scalar(p)).collect();
                let _ = writeln!(out, "    only: [{}]", only.join(", "));
            }
            let _ = writeln!(out, "    resolved_at: {}", scalar(&entry.resolved_at));
            let _ = writeln!(out, "    mirror: {}", scalar(&entry.mirror.to_string()));
            if let Some(candidate) = &entry.candidate {
                out.push_str("    candidate:\n");
                let _ = writeln!(out, "      digest: {}", scalar(candidate.digest.as_str()));
                let _ = writeln!(out, "      first_seen: {}", scalar(&candidate.first_seen));
            }
        }
        out
    }

    /// Replaces the lock file atomically: readers see the old file or the new one, never a mix.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        write_atomic(path, self.to_text().as_bytes())
    }
}

/// A `candidate:` entry, or `None` after reporting what is wrong with it.
fn candidate(
    raw: &CandidateRaw,
    bad: &mut impl FnMut(&Spanned<String>, String),
) -> Option<Candidate> {
    let digest = Digest::parse(&raw.digest.value)
        .map_err(|m| bad(&raw.digest, m.to_string()))
        .ok()?;
    if crate::clock::parse_rfc3339(&raw.first_seen.value).is_none() {
        let message = format!("`{}` is not an RFC 3339 time", raw.first_seen.value);
        bad(&raw.first_seen, message);
        return None;
    }
    Some(Candidate {
        digest,
        first_seen: raw.first_seen.value.clone(),
    })
}

/// A YAML scalar: plain when it cannot be misread, JSON-quoted (valid YAML) otherwise.
fn scalar(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/:._@+-".contains(&b))
        && text
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && !text.contains(": ")
        && !matches!(
            text,
            "true" | "false" | "null" | "yes" | "no" | "on" | "off"
        );
    if plain {
        text.to_string()
    } else {
        serde_json::to_string(text).expect("strings always serialize")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(c: char) -> Digest {
        Digest::parse(&format!("sha256:{}", c.to_string().repeat(64))).unwrap()
    }

    fn sample() -> LockFile {
        let mut lock = LockFile::default();
        lock.images.insert(
            "python".into(),
            LockEntry {
                source: Reference::parse("python:3.11.9-slim-bookworm").unwrap(),
                digest: digest('a'),
                media_type: "application/vnd.oci.image.index.v1+json".into(),
                platforms: [
                    ("linux/arm64".to_string(), digest('c')),
                    ("linux/amd64".to_string(), digest('b')),
                ]
                .into(),
                only: vec![],
                resolved_at: "2026-11-27T10:00:00Z".into(),
                mirror: Reference::parse(&format!(
                    "localhost:5000/base/python:3.11.9-slim-bookworm@{}",
                    digest('a')
                ))
                .unwrap(),
                candidate: Some(Candidate {
                    digest: digest('d'),
                    first_seen: "2026-11-28T02:00:00Z".into(),
                }),
            },
        );
        lock
    }

    #[test]
    fn round_trips_byte_for_byte() {
        let text = sample().to_text();
        let parsed = LockFile::parse(Path::new("base-images.lock"), &text).unwrap();
        assert_eq!(parsed, sample());
        assert_eq!(parsed.to_text(), text);
        assert!(
            text.find("linux/amd64").unwrap() < text.find("linux/arm64").unwrap(),
            "platforms are sorted"
        );
    }

    #[test]
    fn rejects_a_bad_digest_with_its_line() {
        let text = sample()
            .to_text()
            .replace(&digest('b').to_string(), "sha256:xyz");
        let errors = LockFile::parse(Path::new("base-images.lock"), &text).unwrap_err();
        let rendered = errors.to_string();
        assert!(rendered.contains("base-images.lock:10:20"), "{rendered}");
        assert!(rendered.contains("not a valid sha256 digest"), "{rendered}");
    }

    #[test]
    fn missing_file_is_an_empty_lock() {
        let lock = LockFile::load(Path::new("/nonexistent/base-images.lock")).unwrap();
        assert!(lock.images.is_empty());
    }
}
