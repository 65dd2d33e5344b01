//! Checks of the catalog as a whole: schema version, the private registry, variable names, platform
//! names, and tags no two images may share. The checks of one image entry live in `image.rs`.
//!
//! Each check reports what it finds into the load's [`Diagnostics`] and returns what is usable, so
//! that one run reports every problem. The small validators at the bottom return typed errors whose
//! text is the explanation a user reads.

use std::collections::HashMap;

use indexmap::IndexMap;
use serde_saphyr::Spanned;

use super::file::CatalogFile;
use super::model::{BuilderKind, Catalog, Image, ImageKind, LoadOptions, Span};
use super::scalar::{Key, Scalar};
use super::{RESERVED_VARS, SCHEMA_VERSION};
use crate::diagnostic::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::reference::{NAME_TOTAL_LENGTH_MAX, Reference, ReferenceError};

const REGISTRY_HELP: &str =
    "write it as `host[:port]/namespace`, for example `registry.example.com/base`";

/// The repository grammar, for refusals of a path component.
pub(super) const PATH_RULES: &str =
    "lowercase letters and digits, joined by one `.`, one `_`, `__` or dashes";

/// The catalog's `version:`, when written, must be one this baseimg reads.
pub(super) fn version(catalog: &Catalog, file: &CatalogFile, diagnostics: &mut Diagnostics) {
    if let Some(version) = &file.version
        && version.value != SCHEMA_VERSION
    {
        diagnostics.push(
            Diagnostic::new(
                Code::CatalogUnsupportedVersion,
                format!("unsupported catalog version {}", version.value),
            )
            .at(catalog.locate(catalog.span_of(version)))
            .help(format!(
                "this baseimg reads catalog version {SCHEMA_VERSION}"
            )),
        );
    }
}

/// The private registry: `--registry` / `BASEIMG_REGISTRY` first, then the file's `registry:`.
/// Empty when it is missing or malformed (and reported).
pub(super) fn registry(
    catalog: &Catalog,
    file: &CatalogFile,
    options: &LoadOptions,
    diagnostics: &mut Diagnostics,
) -> String {
    let checked = match (&options.registry, &file.registry) {
        (Some(registry), _) => check_registry(registry).map_err(|error| {
            Diagnostic::new(
                Code::CatalogInvalidRegistryOption,
                format!("invalid registry from --registry/BASEIMG_REGISTRY: {error}"),
            )
            .help(error.help())
        }),
        (None, Some(registry)) => check_registry(&registry.value).map_err(|error| {
            Diagnostic::new(
                Code::CatalogInvalidRegistry,
                format!("invalid registry: {error}"),
            )
            .at(catalog.locate(catalog.span_of(registry)))
            .help(error.help())
        }),
        (None, None) => Err(Diagnostic::new(
            Code::CatalogNoRegistry,
            "the catalog names no private registry",
        )
        .at(catalog.locate(start_of_file(catalog)))
        .help("add `registry: host[:port]/namespace` at the top, or pass `--registry`")),
    };
    checked.unwrap_or_else(|diagnostic| {
        diagnostics.push(diagnostic);
        String::new()
    })
}

/// `defaults: { builder: … }`, by the names `--help` shows for it too; `auto` when it is not
/// written, or is not one of them (and reported).
/// The daemons of `builders:`: each an endpoint baseimg can speak to (`unix://`, `tcp://`, `ssh://`), written
/// once, with at least one slot and well-formed platforms.
pub(super) fn builders(
    catalog: &Catalog,
    written: &[Spanned<super::file::BuilderFile>],
    diagnostics: &mut Diagnostics,
) -> Vec<super::BuilderHost> {
    let mut hosts: Vec<super::BuilderHost> = Vec::new();
    for builder in written {
        let builder = &builder.value;
        let host = builder.host.value.trim();
        let at = catalog.locate(catalog.span_of(&builder.host));
        if let Err(why) = crate::daemon_address::check(host) {
            diagnostics.push(
                Diagnostic::new(Code::CatalogInvalidBuilderHost, format!("builder host {why}"))
                    .at(at)
                    .help("write `unix:///path/to/docker.sock`, `tcp://host:port` or `ssh://[user@]host[:port]`, as DOCKER_HOST takes them"),
            );
            continue;
        }
        if hosts.iter().any(|h| h.host == host) {
            diagnostics.push(
                Diagnostic::new(
                    Code::CatalogBuilderListedTwice,
                    format!("builder host `{host}` is listed twice"),
                )
                .at(at)
                .help("give a daemon more slots with `jobs:` rather than listing it again"),
            );
            continue;
        }
        if let Some(jobs) = &builder.jobs
            && jobs.value == 0
        {
            diagnostics.push(
                Diagnostic::new(Code::CatalogBuilderWithoutJobs, format!("builder `{host}` has `jobs: 0`"))
                    .at(catalog.locate(catalog.span_of(jobs)))
                    .help("a builder builds at least one image at a time; leave it out of `builders:` to not use it"),
            );
            continue;
        }
        let platforms = self::platforms(catalog, &builder.platforms, None, diagnostics);
        if platforms.len() != builder.platforms.len() {
            continue;
        }
        hosts.push(super::BuilderHost {
            host: host.to_string(),
            jobs: builder.jobs.as_ref().map(|j| j.value as usize),
            platforms,
        });
    }
    hosts
}

pub(super) fn builder(
    catalog: &Catalog,
    written: Option<&Spanned<String>>,
    diagnostics: &mut Diagnostics,
) -> BuilderKind {
    use clap::ValueEnum;
    let Some(written) = written else {
        return BuilderKind::default();
    };
    let names: Vec<String> = BuilderKind::value_variants()
        .iter()
        .filter_map(|kind| kind.to_possible_value())
        .map(|value| value.get_name().to_string())
        .collect();
    if let Ok(kind) = BuilderKind::from_str(&written.value, false) {
        return kind;
    }
    let listed = match names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .as_slice()
    {
        [first @ .., last] if !first.is_empty() => format!("{} or {last}", first.join(", ")),
        all => all.join(""),
    };
    let diagnostic = Diagnostic::new(
        Code::CatalogUnknownBuilder,
        format!("unknown builder `{}`", written.value.escape_debug()),
    )
    .at(catalog.locate(catalog.span_of(written)))
    .note(format!("the builder is {listed}"));
    diagnostics.push(
        match did_you_mean(&written.value, names.iter().map(String::as_str)) {
            Some(hint) => diagnostic.help(hint),
            None => diagnostic.help(
                "`auto` uses BuildKit when the daemon has it and the classic builder otherwise; `buildkit` requires it; `classic` never uses it",
            ),
        },
    );
    BuilderKind::default()
}

/// The first character of the catalog, for problems that belong to no particular line.
pub(super) fn start_of_file(catalog: &Catalog) -> Span {
    let first = catalog.text.chars().next().map_or(0, char::len_utf8);
    Span {
        start: 0,
        end: first,
    }
}

/// Template variables (the catalog's, or `image`'s own) must not use the names baseimg fills in.
/// Returns whether all of them are free to use.
pub(super) fn reserved_vars(
    catalog: &Catalog,
    vars: &IndexMap<Key, serde_json::Value>,
    image: Option<&str>,
    diagnostics: &mut Diagnostics,
) -> bool {
    let mut free = true;
    for key in vars.keys().filter(|k| RESERVED_VARS.contains(&k.name())) {
        let diagnostic = Diagnostic::new(
            Code::CatalogReservedVariable,
            format!("template variable `{}` is reserved", key.name()),
        )
        .at(catalog.locate(catalog.span_of(&key.0)))
        .note(format!(
            "baseimg itself provides {}",
            RESERVED_VARS.join(", ")
        ))
        .help("rename the variable");
        diagnostics.push(match image {
            Some(image) => diagnostic.image(image),
            None => diagnostic,
        });
        free = false;
    }
    free
}

/// Label keys and values (the catalog's, or `image`'s own) must be one line: see [`one_line`].
/// Returns whether all of them are.
pub(super) fn labels(
    catalog: &Catalog,
    labels: &IndexMap<String, Spanned<Scalar>>,
    image: Option<&str>,
    diagnostics: &mut Diagnostics,
) -> bool {
    let mut sound = true;
    for (key, value) in labels {
        let key_ok = one_line(
            catalog,
            &format!("the key of label `{}`", key.escape_debug()),
            key,
            value,
            image,
            diagnostics,
        );
        let value_ok = key_ok
            && one_line(
                catalog,
                &format!("label `{key}`"),
                &value.value.0,
                value,
                image,
                diagnostics,
            );
        sound &= key_ok && value_ok;
    }
    sound
}

/// A text that becomes a label (`what` says which) must be one line without control characters:
/// labels are written into the Dockerfile as one `LABEL` instruction, which has no way to carry a
/// line break, so `a\nb` would reach the image as the two characters `\` `n`. Refused here, with
/// its place (`at`), rather than built wrong. Returns whether `text` is fine.
pub(super) fn one_line<T>(
    catalog: &Catalog,
    what: &str,
    text: &str,
    at: &Spanned<T>,
    image: Option<&str>,
    diagnostics: &mut Diagnostics,
) -> bool {
    let Some(control) = text.chars().find(|c| c.is_control()) else {
        return true;
    };
    let (problem, help) = if matches!(control, '\n' | '\r') {
        (
            "holds a line break".to_string(),
            "write it on one line: labels are written into the Dockerfile's LABEL instruction, which cannot carry a line break (in YAML, a folded `>-` block joins lines with spaces and drops the final line break)",
        )
    } else {
        (
            format!("holds the control character U+{:04X}", u32::from(control)),
            "remove it: labels are written into the Dockerfile's LABEL instruction, which cannot carry control characters",
        )
    };
    // A block scalar (`description: |`) spans the lines up to the next key: point at its text only.
    let mut span = catalog.span_of(at);
    if let Some(written) = catalog.text.get(span.start..span.end) {
        span.end = span.start + written.trim_end().len();
    }
    let diagnostic = Diagnostic::new(Code::CatalogLabelNotOneLine, format!("{what} {problem}"))
        .at(catalog.locate(span))
        .help(help);
    diagnostics.push(match image {
        Some(image) => diagnostic.image(image),
        None => diagnostic,
    });
    false
}

/// The platforms of `list` that are well formed; each other one is reported (for `image`, or for the
/// catalog's defaults).
pub(super) fn platforms(
    catalog: &Catalog,
    list: &[Spanned<String>],
    image: Option<&str>,
    diagnostics: &mut Diagnostics,
) -> Vec<String> {
    let mut valid = Vec::new();
    for platform in list {
        match crate::platform::check(&platform.value) {
            Ok(()) => valid.push(platform.value.clone()),
            Err(error) => {
                let diagnostic = Diagnostic::new(Code::CatalogInvalidPlatform, error.to_string())
                    .at(catalog.locate(catalog.span_of(platform)))
                    .help(
                        "name a platform as Docker does, such as `linux/amd64` or `linux/arm64/v8`",
                    );
                diagnostics.push(match image {
                    Some(image) => diagnostic.image(image),
                    None => diagnostic,
                });
            }
        }
    }
    valid
}

/// Two images must never claim the same tag in the same repository: the second push would silently
/// replace the first. Both claims are shown.
pub(super) fn tags_unique(catalog: &Catalog, file: &CatalogFile, diagnostics: &mut Diagnostics) {
    let mut owners: HashMap<(&str, String), &Image> = HashMap::new();
    for image in catalog.images.values() {
        for tag in image.claimed_tags() {
            let key = (image.repository.as_str(), tag.clone());
            let Some(owner) = owners.get(&key) else {
                owners.insert(key, image);
                continue;
            };
            diagnostics.push(
                Diagnostic::new(
                    Code::CatalogDuplicateTag,
                    format!(
                        "images `{}` and `{}` both claim `{}/{}:{tag}`",
                        owner.name, image.name, catalog.registry, image.repository
                    ),
                )
                .at(catalog.locate(claim_span(catalog, file, image, &tag)))
                .label(format!("claimed by `{}` too", image.name))
                .related(
                    catalog.locate(claim_span(catalog, file, owner, &tag)),
                    format!("claimed by `{}` first", owner.name),
                )
                .image(&image.name)
                .help("give one of them another tag, or another `repository`"),
            );
        }
    }
}

/// Where an image claims a tag: the tag in its `tags:`, its upstream reference for a mirror, or its
/// name when the claim is the implied `latest`.
fn claim_span(catalog: &Catalog, file: &CatalogFile, image: &Image, tag: &str) -> Span {
    if let ImageKind::Mirror(mirror) = &image.kind {
        return mirror.span;
    }
    file.images
        .iter()
        .find(|(key, _)| key.name() == image.name)
        .and_then(|(_, entry)| entry.value.tags.iter().find(|t| t.value.0 == tag))
        .map_or(image.span, |written| catalog.span_of(written))
}

/// Why a private registry was refused.
#[derive(Debug, thiserror::Error)]
pub(super) enum RegistryError {
    #[error("`{0}` has a URL scheme; write the host without `http://` or `https://`")]
    Scheme(String),
    #[error("{0}")]
    Malformed(String),
    #[error("`{0}` must not carry a tag or digest")]
    TagOrDigest(String),
    /// A namespace component the repository grammar refuses.
    #[error("{0}")]
    Path(String),
    #[error(
        "it is {0} characters long, which leaves no room for a repository (registries accept at most {NAME_TOTAL_LENGTH_MAX} characters for host, namespace and repository together)"
    )]
    TooLong(usize),
}

impl RegistryError {
    fn help(&self) -> String {
        match self {
            RegistryError::Path(_) => format!(
                "the namespace is part of every repository name: `/`-separated names of {PATH_RULES}"
            ),
            RegistryError::TooLong(_) => {
                "shorten the namespace: every repository name starts with it".to_string()
            }
            _ => REGISTRY_HELP.to_string(),
        }
    }
}

/// A private registry is `host[:port]/namespace` (the namespace may be empty); returns it without a
/// trailing `/`.
pub(super) fn check_registry(registry: &str) -> Result<String, RegistryError> {
    let trimmed = registry.trim_end_matches('/');
    if trimmed.contains("://") {
        return Err(RegistryError::Scheme(registry.to_string()));
    }
    // Every repository name is `<registry>/<repository>`: a registry that leaves no room for a
    // one-character repository can hold none.
    if trimmed.len() + 2 > NAME_TOTAL_LENGTH_MAX {
        return Err(RegistryError::TooLong(trimmed.len()));
    }
    // A registry is a reference without its last component; a probe component lets the reference
    // parser judge host and namespace, and is taken out of its explanation again. The probe's own
    // length does not count: each image's full name is measured when its repository is checked.
    let probe = match Reference::parse(&format!("{trimmed}/probe")) {
        Ok(probe) => probe,
        Err(error) if matches!(error.innermost(), ReferenceError::NameTooLong { .. }) => {
            return Ok(trimmed.to_string());
        }
        Err(error) => {
            let text = error.to_string().replace("/probe", "");
            return Err(match error.innermost() {
                ReferenceError::InvalidComponent { .. } => RegistryError::Path(text),
                _ => RegistryError::Malformed(text),
            });
        }
    };
    if probe.tag.is_some() || probe.digest.is_some() {
        return Err(RegistryError::TagOrDigest(registry.to_string()));
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_are_host_and_namespace() {
        assert_eq!(
            check_registry("localhost:5000/base/").unwrap(),
            "localhost:5000/base"
        );
        assert!(matches!(
            check_registry("https://r.example/x"),
            Err(RegistryError::Scheme(_))
        ));
        assert!(check_registry("r.example/x:1").is_err());
        let malformed = check_registry("r.example/X").unwrap_err().to_string();
        assert!(!malformed.contains("probe"), "{malformed}");
    }

    #[test]
    fn namespaces_follow_the_repository_grammar_and_leave_room_for_a_repository() {
        assert!(matches!(
            check_registry("r.example/base..x"),
            Err(RegistryError::Path(_))
        ));
        // 253 characters leave room for `/` and a one-letter repository.
        let longest = format!("r.example/{}", "n".repeat(243));
        assert_eq!(check_registry(&longest).unwrap(), longest);
        assert!(matches!(
            check_registry(&format!("{longest}n")),
            Err(RegistryError::TooLong(254))
        ));
    }
}
