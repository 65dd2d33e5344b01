//! Checks of one image entry, and its conversion from the file schema into the model.
//!
//! Every check of an entry runs even when an earlier one failed, so that all problems of an image are
//! reported together; an entry with any error is left out of the model. Each function here checks
//! one thing (the name, the repository, the platforms, the mirror reference, the parent, the tags…)
//! and returns what it found usable.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_saphyr::Spanned;

use super::checks::PATH_RULES;
use super::file::{CatalogFile, ImageFile};
use super::model::{Catalog, Image, ImageKind, Mirror, Recipe, SecretSource, Span};
use super::scalar::{Key, scalars, spanned_scalars};
use super::{checks, secrets, service_file};
use crate::diagnostic::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::reference::{
    NAME_TOTAL_LENGTH_MAX, Reference, ReferenceError, validate_component, validate_path,
    validate_tag,
};

/// Checks every image of the file and returns the sound ones, in the file's order.
pub(super) fn convert_all(
    catalog: &Catalog,
    file: &CatalogFile,
    diagnostics: &mut Diagnostics,
) -> IndexMap<String, Image> {
    let platforms = checks::platforms(catalog, &file.defaults.platforms, None, diagnostics);
    if file.images.is_empty() {
        diagnostics.push(
            Diagnostic::new(Code::CatalogNoImages, "the catalog has no images")
                .at(catalog.locate(checks::start_of_file(catalog)))
                .help("add images under `images:`; README.md describes mirrors and built images"),
        );
    }
    let names: Vec<&str> = file.images.keys().map(Key::name).collect();
    let default_cooldown = file
        .defaults
        .cooldown
        .as_ref()
        .and_then(|written| cooldown(catalog, written, None, diagnostics));
    secrets::credential_build_args(catalog, &file.defaults.build_args, None, diagnostics);
    let home = secrets::home();
    let default_secrets = file.defaults.secrets.as_ref().map(|written| {
        let checked = secrets::convert(catalog, &written.value, None, home.as_deref(), diagnostics);
        (checked.unwrap_or_default(), catalog.span_of(written))
    });
    let checker = Checker {
        catalog,
        names: &names,
        default_platforms: platforms,
        default_build_args: scalars(&file.defaults.build_args),
        default_cooldown: default_cooldown.unwrap_or_default(),
        default_secrets,
        home,
    };
    let mut images = IndexMap::new();
    for (key, entry) in &file.images {
        let entry = Entry {
            name: key.name(),
            span: catalog.span_of(&key.0),
            file: &entry.value,
        };
        if let Some(image) = checker.convert(&entry, diagnostics) {
            images.insert(entry.name.to_string(), image);
        }
    }
    parent_platforms(catalog, file, &images, diagnostics);
    images
}

/// A built image's platforms must be ones its parent has: a mirror's `platforms:` filter, or a built
/// parent's own list (none: the one platform of the daemon that builds it). A mirror without a filter
/// keeps whatever upstream has, which only the lock file knows.
fn parent_platforms(
    catalog: &Catalog,
    file: &CatalogFile,
    images: &IndexMap<String, Image>,
    diagnostics: &mut Diagnostics,
) {
    for (name, image) in images {
        let Some(parent) = image.parent().and_then(|p| images.get(p)) else {
            continue;
        };
        let written = file
            .images
            .iter()
            .find(|(key, _)| key.name() == name.as_str())
            .map(|(_, entry)| &entry.value.platforms);
        let at = |platform: &str| {
            written
                .and_then(|list| list.iter().find(|p| p.value == platform))
                .map(|p| catalog.span_of(p))
                .unwrap_or(image.span)
        };
        let lacking: Vec<&String> = match (&parent.kind, parent.platforms.is_empty()) {
            (ImageKind::Mirror(_), true) => continue,
            (ImageKind::Recipe(_), true) if image.platforms.len() > 1 => {
                image.platforms.iter().collect()
            }
            (_, true) => continue,
            (_, false) => image
                .platforms
                .iter()
                .filter(|child| {
                    !parent.platforms.iter().any(|p| {
                        crate::platform::matches(child, p) || crate::platform::matches(p, child)
                    })
                })
                .collect(),
        };
        let Some(first) = lacking.first() else {
            continue;
        };
        let has = match parent.platforms.is_empty() {
            true => "only the platform of the daemon that builds it".to_string(),
            false => parent.platforms.join(", "),
        };
        let names: Vec<&str> = lacking.iter().map(|p| p.as_str()).collect();
        diagnostics.push(
            Diagnostic::new(Code::CatalogPlatformNotInParent, format!(
                "`{name}` is built for {}, which its parent `{}` does not have (it has {has})",
                names.join(", "),
                parent.name
            ))
            .at(catalog.locate(at(first)))
            .image(name.as_str())
            .help(match parent.kind {
                ImageKind::Mirror(_) => format!(
                    "keep those platforms in the mirror too (`platforms:` of `{}`), or drop them here",
                    parent.name
                ),
                ImageKind::Recipe(_) => format!(
                    "build `{}` for those platforms too (`platforms:`), or drop them here",
                    parent.name
                ),
            }),
        );
    }
}

/// What every image's checks need to know besides the image itself.
struct Checker<'a> {
    catalog: &'a Catalog,
    /// Every image name of the file, for checking parents.
    names: &'a [&'a str],
    default_platforms: Vec<String>,
    default_build_args: BTreeMap<String, String>,
    default_cooldown: std::time::Duration,
    /// The sound secrets of `defaults:`, and where `secrets:` is written there.
    default_secrets: Option<(BTreeMap<String, SecretSource>, Span)>,
    /// The user's home directory, for secrets read from `~/…`.
    home: Option<PathBuf>,
}

/// A `cooldown:` value (`3d`, `12h`, `0`), or `None` after reporting why it is not one.
fn cooldown(
    catalog: &Catalog,
    written: &Spanned<super::scalar::Scalar>,
    image: Option<&str>,
    diagnostics: &mut Diagnostics,
) -> Option<std::time::Duration> {
    match crate::clock::parse_age(&written.value.0) {
        Ok(age) => Some(age),
        Err(error) => {
            let mut diagnostic = Diagnostic::new(
                Code::CatalogInvalidCooldown,
                format!("`{}` is not a cool-down: {error}", written.value.0),
            )
            .at(catalog.locate(catalog.span_of(written)))
            .help("a new upstream digest is adopted once it is this old; `0` adopts at once");
            if let Some(image) = image {
                diagnostic = diagnostic.image(image);
            }
            diagnostics.push(diagnostic);
            None
        }
    }
}

/// One image as written: its name, where the name is, and its mapping.
struct Entry<'a> {
    name: &'a str,
    span: Span,
    file: &'a ImageFile,
}

impl Checker<'_> {
    /// Runs every check of one entry, so all its problems are reported at once; the image when all
    /// of them pass.
    fn convert(&self, entry: &Entry, diagnostics: &mut Diagnostics) -> Option<Image> {
        let name_ok = self.name(entry, diagnostics);
        let repository = self.repository(entry, diagnostics);
        let platforms = self.platforms(entry, diagnostics);
        let run = match &entry.file.run {
            Some(run) => {
                service_file::convert_run(self.catalog, entry.name, run, diagnostics).map(Some)
            }
            None => Some(None),
        };
        let kind = match (&entry.file.mirror, &entry.file.from) {
            (Some(mirror), Some(from)) => {
                diagnostics.push(
                    self.error(Code::CatalogMirrorAndFrom, entry, format!("image `{}` has both `mirror` and `from`", entry.name), from)
                        .label("built from another catalog image")
                        .related(self.locate(mirror), "or a copy of an upstream image")
                        .help("an image either mirrors an upstream reference or is built from another catalog image"),
                );
                None
            }
            (None, None) => {
                diagnostics.push(
                    self.error_at(Code::CatalogNeitherMirrorNorFrom, entry, format!("image `{}` has neither `mirror` nor `from`", entry.name), entry.span)
                        .help("add `mirror: <upstream reference>` to copy an image, or `from: <catalog image>` to build one"),
                );
                None
            }
            (Some(mirror), None) => self.mirror(entry, mirror, diagnostics),
            (None, Some(from)) => self.build(entry, from, diagnostics),
        };
        let (true, Some(repository), Some(platforms), Some(kind), Some(run)) =
            (name_ok, repository, platforms, kind, run)
        else {
            return None;
        };
        Some(Image {
            name: entry.name.to_string(),
            span: entry.span,
            description: entry.file.description.as_ref().map(|d| d.value.clone()),
            repository,
            platforms,
            run,
            kind,
        })
    }

    fn locate<T>(&self, spanned: &Spanned<T>) -> Option<crate::diagnostic::SourceLocation> {
        self.catalog.locate(self.catalog.span_of(spanned))
    }

    /// An error about `entry` at a value written in it.
    fn error<T>(
        &self,
        code: Code,
        entry: &Entry,
        message: impl Into<String>,
        at: &Spanned<T>,
    ) -> Diagnostic {
        Diagnostic::new(code, message)
            .at(self.locate(at))
            .image(entry.name)
    }

    /// An error about `entry` at a span of the catalog.
    fn error_at(
        &self,
        code: Code,
        entry: &Entry,
        message: impl Into<String>,
        at: Span,
    ) -> Diagnostic {
        Diagnostic::new(code, message)
            .at(self.catalog.locate(at))
            .image(entry.name)
    }

    /// Image names become repository names by default, so they follow the same rules.
    fn name(&self, entry: &Entry, diagnostics: &mut Diagnostics) -> bool {
        let Err(error) = validate_component(entry.name) else {
            return true;
        };
        let mut diagnostic = self.error_at(
            Code::CatalogInvalidImageName,
            entry,
            format!("invalid image name `{}`", entry.name),
            entry.span,
        );
        if let ReferenceError::InvalidComponent { why, .. } = &error {
            diagnostic = diagnostic.note(why.to_string());
        }
        diagnostics.push(diagnostic.help(format!(
            "an image name is its default repository name: {PATH_RULES}"
        )));
        false
    }

    /// The repository under the registry's namespace: as written, or the image's name (whose own
    /// check is [`Checker::name`]). Either way, registry and repository together must make a name
    /// registries accept.
    fn repository(&self, entry: &Entry, diagnostics: &mut Diagnostics) -> Option<String> {
        let Some(repository) = &entry.file.repository else {
            if validate_component(entry.name).is_ok() {
                self.full_name_fits(entry, entry.name, entry.span, diagnostics)?;
            }
            return Some(entry.name.to_string());
        };
        if let Err(reason) = validate_path(&repository.value) {
            diagnostics.push(
                self.error(
                    Code::CatalogInvalidRepository,
                    entry,
                    format!("invalid repository `{}`: {reason}", repository.value),
                    repository,
                )
                .help(format!(
                    "a repository is one or more `/`-separated names of {PATH_RULES}"
                )),
            );
            return None;
        }
        let at = self.catalog.span_of(repository);
        self.full_name_fits(entry, &repository.value, at, diagnostics)?;
        Some(repository.value.clone())
    }

    /// `<registry>/<repository>` is what registries store, and they refuse it beyond 255 characters:
    /// reported at `at` (the `repository:` value, or the image name it defaults to).
    fn full_name_fits(
        &self,
        entry: &Entry,
        repository: &str,
        at: Span,
        diagnostics: &mut Diagnostics,
    ) -> Option<()> {
        let registry = &self.catalog.registry;
        if registry.is_empty() {
            // Missing or refused, and reported: there is nothing to measure against.
            return Some(());
        }
        let full = format!("{registry}/{repository}");
        let Err(error) = Reference::parse(&full) else {
            return Some(());
        };
        let ReferenceError::NameTooLong { length } = error.innermost() else {
            // Registry and repository were each found sound; their combination cannot be refused
            // for anything but its length.
            return Some(());
        };
        let shorten = if entry.file.repository.is_some() {
            "shorten `repository:` or the registry's namespace"
        } else {
            "shorten the image name, or give the image a shorter `repository:`"
        };
        diagnostics.push(
            self.error_at(
                Code::CatalogRepositoryTooLong,
                entry,
                format!("repository name too long: {length} characters with the registry, and registries accept at most {NAME_TOTAL_LENGTH_MAX}"),
                at,
            )
            .note(format!(
                "the registry and its namespace take {} characters, `/` one, the repository {}",
                registry.len(),
                repository.len()
            ))
            .help(shorten),
        );
        None
    }

    /// The image's platforms; a built image without its own gets the catalog's defaults.
    fn platforms(&self, entry: &Entry, diagnostics: &mut Diagnostics) -> Option<Vec<String>> {
        let written = &entry.file.platforms;
        let own = checks::platforms(self.catalog, written, Some(entry.name), diagnostics);
        let sound = own.len() == written.len();
        let built = entry.file.from.is_some();
        // Defaults are build platforms: a mirror keeps every upstream platform (and so the upstream
        // index digest) unless it names its own filter.
        let platforms = if written.is_empty() && built {
            self.default_platforms.clone()
        } else {
            own
        };
        sound.then_some(platforms)
    }

    /// A mirror: a pinned upstream reference, and none of the keys only a build uses.
    fn mirror(
        &self,
        entry: &Entry,
        mirror: &Spanned<String>,
        diagnostics: &mut Diagnostics,
    ) -> Option<ImageKind> {
        let mut sound = true;
        for key in entry.file.build_only_keys() {
            diagnostics.push(
                self.error_at(Code::CatalogBuildKeyOnMirror, entry, format!("`{key}` has no effect on mirrored image `{}`", entry.name), entry.span)
                    .help(format!("a mirror is copied as it is; build a customized image with `from: {}` and put `{key}` there", entry.name)),
            );
            sound = false;
        }
        // At the first secret's id: a mapping written as a block has no extent of its own to point at.
        if let Some(first) = entry
            .file
            .secrets
            .as_ref()
            .and_then(|s| s.value.keys().next())
        {
            diagnostics.push(
                self.error(Code::CatalogSecretsOnMirror, entry, format!("`secrets` has no effect on mirrored image `{}`", entry.name), &first.0)
                    .help(format!("build secrets are read only while an image is built: put them on an image built `from: {}`, or under `defaults:`", entry.name)),
            );
            sound = false;
        }
        let upstream = match Reference::parse(&mirror.value) {
            Ok(upstream) => upstream,
            Err(reason) => {
                diagnostics.push(self.error(
                    Code::CatalogMalformedReference,
                    entry,
                    format!("malformed upstream reference: {reason}"),
                    mirror,
                ).help("write the reference as `docker pull` accepts it, for example `docker.io/library/redis:7.2.4`"));
                return None;
            }
        };
        if upstream.tag.is_none() && upstream.digest.is_none() {
            diagnostics.push(
                self.error(
                    Code::CatalogReferenceWithoutTag,
                    entry,
                    format!(
                        "upstream reference `{}` has neither tag nor digest",
                        mirror.value
                    ),
                    mirror,
                )
                .help(format!(
                    "pin a tag (`{}:<exact version>`); baseimg then locks it to a digest",
                    mirror.value
                )),
            );
            return None;
        }
        if upstream.tag.as_deref() == Some("latest") {
            diagnostics.push(
                Diagnostic::new(
                    Code::CatalogFollowsLatest,
                    format!(
                        "`{}` follows `latest`, which moves with every upstream release",
                        mirror.value
                    ),
                )
                .at(self.locate(mirror))
                .image(entry.name)
                .help("mirror an exact version tag so `baseimg outdated` reports meaningful drift"),
            );
        }
        let cooldown = match &entry.file.cooldown {
            Some(written) => cooldown(self.catalog, written, Some(entry.name), diagnostics),
            None => Some(self.default_cooldown),
        };
        let cooldown = cooldown?;
        sound.then(|| {
            ImageKind::Mirror(Mirror {
                upstream,
                span: self.catalog.span_of(mirror),
                cooldown,
            })
        })
    }

    /// A built image: its parent, variables, tags and version, with the catalog's defaults applied.
    fn build(
        &self,
        entry: &Entry,
        from: &Spanned<String>,
        diagnostics: &mut Diagnostics,
    ) -> Option<ImageKind> {
        let file = entry.file;
        let mut parent_ok = self.parent(entry, from, diagnostics);
        if let Some(written) = &file.cooldown {
            diagnostics.push(
                self.error(Code::CatalogCooldownOnBuiltImage, entry, format!("`cooldown` has no effect on built image `{}`", entry.name), written)
                    .help("a cool-down delays adopting new upstream digests: put it on the mirror this image is built from, or under `defaults:`"),
            );
            parent_ok = false;
        }
        let vars_ok =
            checks::reserved_vars(self.catalog, &file.vars, Some(entry.name), diagnostics);
        // A built image's description becomes its `org.opencontainers.image.description` label.
        let labels_ok = checks::labels(self.catalog, &file.labels, Some(entry.name), diagnostics)
            & file.description.as_ref().is_none_or(|description| {
                let what = format!("the description of image `{}`", entry.name);
                let text = &description.value;
                checks::one_line(
                    self.catalog,
                    &what,
                    text,
                    description,
                    Some(entry.name),
                    diagnostics,
                )
            });
        let tags = self.tags(entry, diagnostics);
        let version = self.version(entry, tags.as_deref(), diagnostics);
        let checks =
            service_file::convert_checks(self.catalog, entry.name, &file.checks, diagnostics);
        secrets::credential_build_args(
            self.catalog,
            &file.build_args,
            Some(entry.name),
            diagnostics,
        );
        let own_secrets = match &file.secrets {
            Some(written) => secrets::convert(
                self.catalog,
                &written.value,
                Some(entry.name),
                self.home.as_deref(),
                diagnostics,
            )
            .map(|checked| Some((checked, self.catalog.span_of(written)))),
            None => Some(None),
        };
        let (true, true, true, Some(tags), Some(version), Some(checks), Some(own_secrets)) = (
            parent_ok,
            vars_ok,
            labels_ok,
            tags,
            version,
            checks,
            own_secrets,
        ) else {
            return None;
        };
        let mut vars = self.catalog.vars.clone();
        vars.extend(
            file.vars
                .iter()
                .map(|(k, v)| (k.name().to_string(), v.clone())),
        );
        let mut build_args = self.default_build_args.clone();
        build_args.extend(scalars(&file.build_args));
        let mut labels = self.catalog.labels.clone();
        labels.extend(spanned_scalars(&file.labels));
        let (mut secrets, mut secrets_span) = match &self.default_secrets {
            Some((secrets, span)) if !secrets.is_empty() => (secrets.clone(), Some(*span)),
            _ => (BTreeMap::new(), None),
        };
        if let Some((own, span)) = own_secrets
            && !own.is_empty()
        {
            secrets.extend(own);
            secrets_span = Some(span);
        }
        Some(ImageKind::Recipe(Box::new(Recipe {
            parent: from.value.clone(),
            parent_span: self.catalog.span_of(from),
            template: file.template.as_ref().map_or_else(
                || format!("{}.Dockerfile.j2", entry.name),
                |t| t.value.clone(),
            ),
            template_span: file.template.as_ref().map(|t| self.catalog.span_of(t)),
            context: file.context.as_ref().map_or_else(
                || Path::new("images").join(entry.name),
                |c| PathBuf::from(&c.value),
            ),
            context_span: file.context.as_ref().map(|c| self.catalog.span_of(c)),
            vars,
            build_args,
            secrets,
            secrets_span,
            labels,
            tags,
            version,
            target: file.target.clone(),
            network: file.network.clone(),
            checks,
        })))
    }

    /// `from` must name another image of this catalog.
    fn parent(&self, entry: &Entry, from: &Spanned<String>, diagnostics: &mut Diagnostics) -> bool {
        let parent = from.value.as_str();
        if parent == entry.name {
            diagnostics.push(
                self.error(
                    Code::CatalogBuiltFromItself,
                    entry,
                    format!("dependency cycle: {parent} → {parent}"),
                    from,
                )
                .help("an image cannot be built from itself"),
            );
            return false;
        }
        if self.names.contains(&parent) {
            return true;
        }
        let diagnostic = self.error(
            Code::CatalogUnknownParent,
            entry,
            format!(
                "image `{}` is built from `{parent}`, which is not in the catalog",
                entry.name
            ),
            from,
        );
        diagnostics.push(match did_you_mean(parent, self.names.iter().copied()) {
            Some(hint) => diagnostic.help(hint),
            None => diagnostic.help(format!(
                "`from` names another image of this catalog; to use an upstream image, add it as a mirror first (`{parent}-upstream: {{ mirror: <reference> }}`)"
            )),
        });
        false
    }

    /// The moving tags as written (`latest` when none is), each usable as a Docker tag.
    fn tags(&self, entry: &Entry, diagnostics: &mut Diagnostics) -> Option<Vec<String>> {
        if entry.file.tags.is_empty() {
            return Some(vec!["latest".to_string()]);
        }
        let mut sound = true;
        for tag in &entry.file.tags {
            if let Err(reason) = validate_tag(&tag.value.0) {
                diagnostics.push(
                    self.error(Code::CatalogInvalidTag, entry, reason.to_string(), tag)
                        .help("change the tag to one Docker accepts, such as `7.2`"),
                );
                sound = false;
            }
        }
        sound.then(|| entry.file.tags.iter().map(|t| t.value.0.clone()).collect())
    }

    /// The version of the immutable tag: as written, or the first moving tag.
    fn version(
        &self,
        entry: &Entry,
        tags: Option<&[String]>,
        diagnostics: &mut Diagnostics,
    ) -> Option<String> {
        let Some(version) = &entry.file.version else {
            // With invalid tags (already reported) the image is refused; any placeholder will do.
            return Some(
                tags.and_then(|t| t.first().cloned())
                    .unwrap_or_else(|| "latest".to_string()),
            );
        };
        match validate_tag(&version.value.0) {
            Ok(()) => Some(version.value.0.clone()),
            Err(reason) => {
                diagnostics.push(
                    self.error(Code::CatalogInvalidVersion, entry, format!("`version` must be usable in a tag: {reason}"), version)
                        .help("write the version as letters, digits, `_`, `.` and `-`, for example `7.2.4`"),
                );
                None
            }
        }
    }
}
