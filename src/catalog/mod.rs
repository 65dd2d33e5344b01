//! The catalog: `base-images.yaml`, its schema, and everything that can be checked from the file alone.
//!
//! Loading happens in two stages. serde-saphyr turns the YAML into the raw `*File` structs below,
//! rejecting syntax errors, unknown keys, wrong types and duplicate keys with their line and column.
//! Then [`Catalog::from_file`] checks the meaning of what was written (references, names, tags, parents)
//! and collects every problem it finds in one pass, so a user fixes a catalog in one round trip.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::diagnostic::{Diagnostic, Diagnostics, SourceLocation, did_you_mean};
use crate::reference::{Reference, validate_tag};

pub const DEFAULT_CATALOG: &str = "base-images.yaml";
pub const DEFAULT_TEMPLATES_DIR: &str = "templates";
/// Names a template may not use for its own variables: baseimg fills them in.
pub const RESERVED_VARS: &[&str] = &["from", "parent", "image", "registry", "labels"];
const SCHEMA_VERSION: u32 = 1;

// ---------------------------------------------------------------------------------------------------
// Raw file schema (what serde sees). Field names here are the catalog's keys; README documents them.
// ---------------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    version: Option<Spanned<u32>>,
    registry: Option<Spanned<String>>,
    #[serde(default)]
    insecure_registries: Vec<Spanned<String>>,
    templates: Option<Spanned<String>>,
    source: Option<String>,
    #[serde(default)]
    labels: IndexMap<String, Scalar>,
    #[serde(default)]
    vars: IndexMap<Key, serde_json::Value>,
    #[serde(default)]
    defaults: DefaultsFile,
    images: IndexMap<Key, Spanned<ImageFile>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DefaultsFile {
    #[serde(default)]
    platforms: Vec<Spanned<String>>,
    #[serde(default)]
    build_args: IndexMap<String, Scalar>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImageFile {
    description: Option<String>,
    mirror: Option<Spanned<String>>,
    from: Option<Spanned<String>>,
    repository: Option<Spanned<String>>,
    #[serde(default)]
    platforms: Vec<Spanned<String>>,
    template: Option<Spanned<String>>,
    context: Option<Spanned<String>>,
    #[serde(default)]
    vars: IndexMap<Key, serde_json::Value>,
    #[serde(default)]
    build_args: IndexMap<String, Scalar>,
    #[serde(default)]
    labels: IndexMap<String, Scalar>,
    #[serde(default)]
    tags: Vec<Spanned<Scalar>>,
    version: Option<Spanned<Scalar>>,
    target: Option<String>,
    network: Option<String>,
    run: Option<RunSpec>,
}

/// What `baseimg run IMAGE` starts: the replacement for `make redis`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    /// Container name; defaults to `baseimg-<image>`.
    pub name: Option<String>,
    #[serde(default)]
    pub ports: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, Scalar>,
    #[serde(default)]
    pub volumes: Vec<String>,
    #[serde(default)]
    pub command: Vec<String>,
}

/// A mapping key that remembers where it was written, so errors about an image point at its name.
#[derive(Debug, Deserialize)]
struct Key(Spanned<String>);

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.0.value == other.0.value
    }
}
impl Eq for Key {}
impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.value.hash(state)
    }
}

/// A scalar written as string, number or boolean, kept as the text a Dockerfile would see:
/// `PORT: 6379` and `PORT: "6379"` mean the same build argument.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

// ---------------------------------------------------------------------------------------------------
// The checked model the rest of baseimg works with.
// ---------------------------------------------------------------------------------------------------

/// Where something was written in the catalog: 1-based line and column and how wide it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Span {
    pub line: u64,
    pub column: u64,
    pub width: u64,
}

impl Span {
    fn of<T>(spanned: &Spanned<T>) -> Span {
        let location = spanned.referenced;
        Span {
            line: location.line(),
            column: location.column(),
            width: location.span().len().max(1),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Catalog {
    /// The catalog file as the user named it (used in messages).
    pub path: PathBuf,
    /// The directory holding the catalog: the repository root that contexts must stay inside. Empty
    /// when the catalog is in the current directory; use [`Catalog::root_dir`] for file system calls.
    pub root: PathBuf,
    text: String,
    /// `host[:port]/namespace` that every image is pushed under.
    pub registry: String,
    pub insecure_registries: Vec<String>,
    /// Absolute path of the templates directory.
    pub templates_dir: PathBuf,
    /// Where the catalog's repository lives (for `org.opencontainers.image.source`).
    pub source_url: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub vars: IndexMap<String, serde_json::Value>,
    pub images: IndexMap<String, Image>,
}

#[derive(Debug, Clone)]
pub struct Image {
    pub name: String,
    pub span: Span,
    pub description: Option<String>,
    /// Repository under the private registry's namespace (defaults to the image name).
    pub repository: String,
    pub platforms: Vec<String>,
    pub run: Option<RunSpec>,
    pub kind: ImageKind,
}

#[derive(Debug, Clone)]
pub enum ImageKind {
    Mirror(Mirror),
    Build(Box<Build>),
}

#[derive(Debug, Clone)]
pub struct Mirror {
    /// The upstream reference, normalized (`docker.io/library/python:3.11.9-slim-bookworm`).
    pub upstream: Reference,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Build {
    pub parent: String,
    pub parent_span: Span,
    /// Template file name, relative to the templates directory.
    pub template: String,
    /// Where `template:` was written; `None` when the default `<image>.Dockerfile.j2` applies.
    pub template_span: Option<Span>,
    /// Build context directory, relative to the catalog's directory.
    pub context: PathBuf,
    /// Where `context:` was written; `None` when the default `images/<image>` applies.
    pub context_span: Option<Span>,
    /// Template variables: the catalog's `vars`, overridden by the image's own.
    pub vars: IndexMap<String, serde_json::Value>,
    pub build_args: BTreeMap<String, String>,
    /// Labels written into the image: the catalog's, overridden by the image's own.
    pub labels: BTreeMap<String, String>,
    /// Moving tags (`7.2`, `latest`), promoted after a successful run.
    pub tags: Vec<String>,
    /// The version part of the immutable tag `<version>-<fingerprint12>`.
    pub version: String,
    pub target: Option<String>,
    pub network: Option<String>,
}

impl Image {
    pub fn parent(&self) -> Option<&str> {
        match &self.kind {
            ImageKind::Build(build) => Some(&build.parent),
            ImageKind::Mirror(_) => None,
        }
    }

    pub fn as_build(&self) -> Option<&Build> {
        match &self.kind {
            ImageKind::Build(build) => Some(build),
            ImageKind::Mirror(_) => None,
        }
    }

    pub fn as_mirror(&self) -> Option<&Mirror> {
        match &self.kind {
            ImageKind::Mirror(mirror) => Some(mirror),
            ImageKind::Build(_) => None,
        }
    }

    /// The tags this image claims in its private repository: a mirror keeps its upstream tag, a built
    /// image its moving tags.
    pub fn claimed_tags(&self) -> Vec<String> {
        match &self.kind {
            ImageKind::Mirror(mirror) => mirror.upstream.tag.iter().cloned().collect(),
            ImageKind::Build(build) => build.tags.clone(),
        }
    }
}

/// Settings that come from outside the file (flags and environment).
#[derive(Debug, Default, Clone)]
pub struct LoadOptions {
    /// `--registry` / `BASEIMG_REGISTRY`: replaces the catalog's `registry`.
    pub registry: Option<String>,
}

impl Catalog {
    /// Reads and checks a catalog file. All problems found are returned together.
    pub fn load(path: &Path, options: &LoadOptions) -> Result<(Catalog, Diagnostics), Diagnostics> {
        let (catalog, diagnostics) = Catalog::load_partial(path, options);
        match catalog {
            Some(catalog) if !diagnostics.has_errors() => Ok((catalog, diagnostics)),
            _ => Err(diagnostics),
        }
    }

    /// Like [`Catalog::load`], but when the file parses and only some images are wrong, also returns
    /// the catalog of the sound ones (an image whose parent was refused is left out too), so
    /// `validate` can go on to check their templates and contexts in the same run.
    pub fn load_partial(path: &Path, options: &LoadOptions) -> (Option<Catalog>, Diagnostics) {
        let text = match Catalog::read(path) {
            Ok(text) => text,
            Err(diagnostics) => return (None, diagnostics),
        };
        let file: CatalogFile = match parse_yaml(path, &text, "catalog") {
            Ok(file) => file,
            Err(diagnostics) => return (None, diagnostics),
        };
        let (mut catalog, diagnostics) = Catalog::from_file(path, text, file, options);
        loop {
            let orphans: Vec<String> = catalog
                .images
                .values()
                .filter(|i| i.parent().is_some_and(|p| !catalog.images.contains_key(p)))
                .map(|i| i.name.clone())
                .collect();
            if orphans.is_empty() {
                break;
            }
            for orphan in orphans {
                catalog.images.shift_remove(&orphan);
            }
        }
        (Some(catalog), diagnostics)
    }

    fn read(path: &Path) -> Result<String, Diagnostics> {
        std::fs::read_to_string(path).map_err(|error| {
            let hint = if error.kind() == std::io::ErrorKind::NotFound {
                "run baseimg in the directory that holds base-images.yaml, or name the file with `-f PATH`"
            } else {
                "check the file's permissions"
            };
            Diagnostic::error(format!("cannot read catalog `{}`: {error}", path.display()))
                .help(hint)
                .into()
        })
    }

    /// Checks catalog text as if it had been read from `path`.
    pub fn parse(
        path: &Path,
        text: String,
        options: &LoadOptions,
    ) -> Result<(Catalog, Diagnostics), Diagnostics> {
        let file: CatalogFile = parse_yaml(path, &text, "catalog")?;
        let (catalog, diagnostics) = Catalog::from_file(path, text, file, options);
        diagnostics
            .into_result()
            .map(|warnings| (catalog, warnings))
    }

    /// A location in the catalog file, for diagnostics.
    pub fn locate(&self, span: Span) -> Option<SourceLocation> {
        (span.line > 0).then(|| {
            SourceLocation::new(&self.path, &self.text, span.line, span.column, span.width)
        })
    }

    /// The repository root as a path the file system accepts (`.` rather than empty).
    pub fn root_dir(&self) -> &Path {
        if self.root.as_os_str().is_empty() {
            Path::new(".")
        } else {
            &self.root
        }
    }

    /// Registry host and repository path of an image in the private registry:
    /// (`localhost:5000`, `base/upstream/python`).
    pub fn private_location(&self, image: &Image) -> (String, String) {
        let full = self.private_repository(image);
        match Reference::parse(&full) {
            Ok(reference) => (reference.registry, reference.repository),
            // Registry and repository were both checked on load; keep a sensible split regardless.
            Err(_) => match full.split_once('/') {
                Some((host, path)) => (host.to_string(), path.to_string()),
                None => (full.clone(), String::new()),
            },
        }
    }

    /// Where a mirror lives in the private registry, pinned: `<registry>/<repository>:<upstream tag>@<digest>`
    /// (no tag when upstream was named by digest alone).
    pub fn mirror_reference(&self, image: &Image, digest: &crate::reference::Digest) -> String {
        let tag = image
            .as_mirror()
            .and_then(|m| m.upstream.tag.as_ref())
            .map(|t| format!(":{t}"))
            .unwrap_or_default();
        format!("{}{tag}@{digest}", self.private_repository(image))
    }

    /// The private registry reference of an image's repository: `localhost:5000/base/redis`.
    pub fn private_repository(&self, image: &Image) -> String {
        format!("{}/{}", self.registry, image.repository)
    }

    fn from_file(
        path: &Path,
        text: String,
        file: CatalogFile,
        options: &LoadOptions,
    ) -> (Catalog, Diagnostics) {
        // Paths inside the repository are shown relative to where the user stands when the catalog is
        // in the current directory (`templates/x.j2`, not `./templates/x.j2`).
        let root = path.parent().unwrap_or(Path::new("")).to_path_buf();
        let mut catalog = Catalog {
            path: path.to_path_buf(),
            root: root.clone(),
            text,
            registry: String::new(),
            insecure_registries: Vec::new(),
            templates_dir: PathBuf::new(),
            source_url: file.source.clone(),
            labels: scalars(&file.labels),
            vars: IndexMap::new(),
            images: IndexMap::new(),
        };
        let mut diagnostics = Diagnostics::default();
        let mut report = |diagnostic: Diagnostic| diagnostics.push(diagnostic);

        if let Some(version) = &file.version
            && version.value != SCHEMA_VERSION
        {
            report(
                Diagnostic::error(format!("unsupported catalog version {}", version.value))
                    .at(catalog.locate(Span::of(version)))
                    .help(format!(
                        "this baseimg reads catalog version {SCHEMA_VERSION}"
                    )),
            );
        }

        catalog.registry = match (&options.registry, &file.registry) {
            (Some(registry), _) => match check_registry(registry) {
                Ok(registry) => registry,
                Err(message) => {
                    report(
                        Diagnostic::error(format!("invalid registry from --registry/BASEIMG_REGISTRY: {message}"))
                            .help("write it as `host[:port]/namespace`, for example `registry.example.com/base`"),
                    );
                    String::new()
                }
            },
            (None, Some(registry)) => match check_registry(&registry.value) {
                Ok(registry) => registry,
                Err(message) => {
                    report(
                        Diagnostic::error(format!("invalid registry: {message}"))
                            .at(catalog.locate(Span::of(registry)))
                            .help("write it as `host[:port]/namespace`, for example `registry.example.com/base`"),
                    );
                    String::new()
                }
            },
            (None, None) => {
                report(
                    Diagnostic::error("the catalog names no private registry")
                        .at(catalog.locate(Span { line: 1, column: 1, width: 1 }))
                        .help("add `registry: host[:port]/namespace` at the top, or pass `--registry`"),
                );
                String::new()
            }
        };
        catalog.insecure_registries = file
            .insecure_registries
            .iter()
            .map(|r| r.value.clone())
            .collect();

        let templates = file
            .templates
            .as_ref()
            .map(|t| t.value.as_str())
            .unwrap_or(DEFAULT_TEMPLATES_DIR);
        catalog.templates_dir = root.join(templates);

        let mut global_vars = IndexMap::new();
        for (key, value) in &file.vars {
            if RESERVED_VARS.contains(&key.0.value.as_str()) {
                report(reserved_var(&catalog, key));
            }
            global_vars.insert(key.0.value.clone(), value.clone());
        }
        catalog.vars = global_vars;

        let mut default_platforms = Vec::new();
        for platform in &file.defaults.platforms {
            match check_platform(&platform.value) {
                Ok(()) => default_platforms.push(platform.value.clone()),
                Err(message) => {
                    report(Diagnostic::error(message).at(catalog.locate(Span::of(platform))))
                }
            }
        }
        let default_build_args = scalars(&file.defaults.build_args);

        if file.images.is_empty() {
            report(
                Diagnostic::warning("the catalog has no images").at(catalog.locate(Span {
                    line: 1,
                    column: 1,
                    width: 1,
                })),
            );
        }
        let names: Vec<&str> = file.images.keys().map(|k| k.0.value.as_str()).collect();
        for (key, spanned) in &file.images {
            let name = key.0.value.clone();
            let image = convert_image(
                &catalog,
                &name,
                Span::of(&key.0),
                &spanned.value,
                &names,
                &default_platforms,
                &default_build_args,
                &mut report,
            );
            if let Some(image) = image {
                catalog.images.insert(name, image);
            }
        }
        check_tags_unique(&catalog, &mut report);
        (catalog, diagnostics)
    }
}

/// Parses YAML into `T`, turning serde-saphyr's error into a diagnostic with file, line and column.
pub(crate) fn parse_yaml<T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
    what: &str,
) -> Result<T, Diagnostics> {
    serde_saphyr::from_str::<T>(text)
        .map_err(|error| yaml_diagnostic(path, text, what, &error).into())
}

fn yaml_diagnostic(path: &Path, text: &str, what: &str, error: &serde_saphyr::Error) -> Diagnostic {
    let raw = error.render_with_options(
        serde_saphyr::render_options! { snippets: serde_saphyr::SnippetMode::Off },
    );
    let message = strip_location(raw.lines().next().unwrap_or_default());
    let location = error.location().filter(|l| l.line() > 0);
    let width = location
        .map(|l| word_width(text, l.line(), l.column()))
        .unwrap_or(1);
    let at = location.map(|l| SourceLocation::new(path, text, l.line(), l.column(), width));
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (key, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let expected: Vec<&str> = expected
            .trim_start_matches(", expected one of ")
            .trim_start_matches(", expected ")
            .split(", ")
            .map(|s| s.trim_matches('`'))
            .filter(|s| !s.is_empty())
            .collect();
        let mut diagnostic = Diagnostic::error(format!("unknown key `{key}` in {what}")).at(at);
        if !expected.is_empty() {
            diagnostic = diagnostic.note(format!("allowed keys here: {}", expected.join(", ")));
        }
        if let Some(hint) = did_you_mean(key, expected.iter().copied()) {
            diagnostic = diagnostic.help(hint);
        }
        return diagnostic;
    }
    if let Some(rest) = message.strip_prefix("duplicate mapping key: ") {
        let key = rest.split(',').next().unwrap_or(rest).trim();
        return Diagnostic::error(format!("duplicate key `{key}` in {what}"))
            .at(at)
            .help("each key may appear once in a mapping; remove or rename one of them");
    }
    if let Some(field) = message.strip_prefix("missing field `") {
        let field = field.trim_end_matches('`');
        return Diagnostic::error(format!("missing key `{field}` in {what}")).at(at);
    }
    if text.trim().is_empty() {
        return Diagnostic::error(format!("the {what} `{}` is empty", path.display()))
            .help("a catalog starts with `registry: <host>/<namespace>` and an `images:` mapping; see README.md");
    }
    let message = match message.as_str() {
        "expected sequence start" => {
            "expected a list here (`[a, b]`, or one `- item` per line)".to_string()
        }
        "expected mapping start" => "expected a mapping here (`key: value` lines)".to_string(),
        "expected string scalar" => {
            "expected a single value here, not a list or mapping".to_string()
        }
        _ => message,
    };
    let hint = if message.starts_with("expected") || message.starts_with("invalid type") {
        "check the value's type against the reference in README.md"
    } else {
        "fix the YAML syntax at this point"
    };
    Diagnostic::error(message).at(at).help(hint)
}

/// serde-saphyr puts the position into its message in two styles; the position is shown separately.
fn strip_location(message: &str) -> String {
    let mut message = message.trim();
    message = message.strip_prefix("error: ").unwrap_or(message);
    if let Some(rest) = message.strip_prefix("line ")
        && let Some((_, after)) = rest.split_once(": ")
    {
        message = after;
    }
    if let Some(index) = message.rfind(" at line ") {
        message = &message[..index];
    }
    message.to_string()
}

/// How many characters of the word at a position to underline: a key or plain scalar, at least one.
fn word_width(text: &str, line: u64, column: u64) -> u64 {
    let Some(line_text) = text.lines().nth(line.saturating_sub(1) as usize) else {
        return 1;
    };
    let width = line_text
        .chars()
        .skip(column.saturating_sub(1) as usize)
        .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .count();
    width.max(1) as u64
}

fn scalars(map: &IndexMap<String, Scalar>) -> BTreeMap<String, String> {
    map.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect()
}

fn reserved_var(catalog: &Catalog, key: &Key) -> Diagnostic {
    Diagnostic::error(format!("template variable `{}` is reserved", key.0.value))
        .at(catalog.locate(Span::of(&key.0)))
        .note(format!(
            "baseimg itself provides {}",
            RESERVED_VARS.join(", ")
        ))
        .help("rename the variable")
}

/// A private registry is `host[:port]/namespace` (the namespace may be empty).
fn check_registry(registry: &str) -> Result<String, String> {
    let trimmed = registry.trim_end_matches('/');
    if trimmed.contains("://") {
        return Err(format!(
            "`{registry}` has a URL scheme; write the host without `http://` or `https://`"
        ));
    }
    let probe =
        Reference::parse(&format!("{trimmed}/probe")).map_err(|e| e.replace("/probe", ""))?;
    if probe.tag.is_some() || probe.digest.is_some() {
        return Err(format!("`{registry}` must not carry a tag or digest"));
    }
    Ok(trimmed.to_string())
}

fn check_platform(platform: &str) -> Result<(), String> {
    let parts: Vec<&str> = platform.split('/').collect();
    let well_formed = (2..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    if well_formed {
        Ok(())
    } else {
        Err(format!(
            "invalid platform `{platform}` (expected `os/arch` or `os/arch/variant`, like `linux/arm64`)"
        ))
    }
}

#[allow(clippy::too_many_arguments)]
fn convert_image(
    catalog: &Catalog,
    name: &str,
    span: Span,
    file: &ImageFile,
    names: &[&str],
    default_platforms: &[String],
    default_build_args: &BTreeMap<String, String>,
    report: &mut impl FnMut(Diagnostic),
) -> Option<Image> {
    let at = |span: Span| catalog.locate(span);
    let error = |message: String, span: Span| Diagnostic::error(message).at(at(span)).image(name);
    let mut ok = true;

    if let Err(message) = validate_image_name(name) {
        report(
            error(message, span)
                .help("image names are lowercase letters, digits, `.`, `_` and `-`"),
        );
        ok = false;
    }

    let repository = match &file.repository {
        Some(repository) => {
            let valid = repository
                .value
                .split('/')
                .try_for_each(|c| validate_image_name(c).map(|_| ()));
            if let Err(message) = valid {
                report(error(
                    format!("invalid repository `{}`: {message}", repository.value),
                    Span::of(repository),
                ));
                ok = false;
            }
            repository.value.clone()
        }
        None => name.to_string(),
    };

    let mut platforms = Vec::new();
    for platform in &file.platforms {
        match check_platform(&platform.value) {
            Ok(()) => platforms.push(platform.value.clone()),
            Err(message) => {
                report(error(message, Span::of(platform)));
                ok = false;
            }
        }
    }
    // Defaults are build platforms: a mirror keeps every upstream platform (and so the upstream index
    // digest) unless it names its own filter.
    if platforms.is_empty() && file.from.is_some() {
        platforms = default_platforms.to_vec();
    }
    if file.from.is_some() && platforms.len() > 1 {
        let span = file.platforms.first().map(Span::of).unwrap_or(span);
        report(
            error(format!("built image `{name}` lists {} platforms; baseimg builds one", platforms.len()), span)
                .note("the classic builder builds one platform per image; several need buildx and an index")
                .help("keep one platform here (mirrors may keep several)"),
        );
        ok = false;
    }

    let kind = match (&file.mirror, &file.from) {
        (Some(mirror), Some(from)) => {
            report(
                error(format!("image `{name}` has both `mirror` and `from`"), Span::of(from))
                    .help("an image either mirrors an upstream reference or is built from another catalog image"),
            );
            let _ = mirror;
            return None;
        }
        (None, None) => {
            report(
                error(format!("image `{name}` has neither `mirror` nor `from`"), span)
                    .help("add `mirror: <upstream reference>` to copy an image, or `from: <catalog image>` to build one"),
            );
            return None;
        }
        (Some(mirror), None) => {
            let build_only = [
                ("template", file.template.is_some()),
                ("context", file.context.is_some()),
                ("vars", !file.vars.is_empty()),
                ("build_args", !file.build_args.is_empty()),
                ("labels", !file.labels.is_empty()),
                ("tags", !file.tags.is_empty()),
                ("version", file.version.is_some()),
                ("target", file.target.is_some()),
                ("network", file.network.is_some()),
            ];
            for (key, present) in build_only {
                if present {
                    report(
                        error(format!("`{key}` has no effect on mirrored image `{name}`"), span)
                            .help(format!("a mirror is copied as it is; build a customized image with `from: {name}` and put `{key}` there")),
                    );
                    ok = false;
                }
            }
            match Reference::parse(&mirror.value) {
                Ok(upstream) if upstream.tag.is_none() && upstream.digest.is_none() => {
                    report(
                        error(
                            format!(
                                "upstream reference `{}` has neither tag nor digest",
                                mirror.value
                            ),
                            Span::of(mirror),
                        )
                        .help(format!(
                            "pin a tag (`{}:<exact version>`); baseimg then locks it to a digest",
                            mirror.value
                        )),
                    );
                    return None;
                }
                Ok(upstream) => {
                    if upstream.tag.as_deref() == Some("latest") {
                        report(
                            Diagnostic::warning(format!("`{}` follows `latest`, which moves with every upstream release", mirror.value))
                                .at(at(Span::of(mirror)))
                                .image(name)
                                .help("mirror an exact version tag so `baseimg outdated` reports meaningful drift"),
                        );
                    }
                    ImageKind::Mirror(Mirror {
                        upstream,
                        span: Span::of(mirror),
                    })
                }
                Err(message) => {
                    report(error(
                        format!("malformed upstream reference: {message}"),
                        Span::of(mirror),
                    ));
                    return None;
                }
            }
        }
        (None, Some(from)) => {
            let parent = from.value.clone();
            if !names.contains(&parent.as_str()) {
                let mut diagnostic = error(
                    format!("image `{name}` is built from `{parent}`, which is not in the catalog"),
                    Span::of(from),
                );
                diagnostic = match did_you_mean(&parent, names.iter().copied()) {
                    Some(hint) => diagnostic.help(hint),
                    None => diagnostic.help(format!(
                        "`from` names another image of this catalog; to use an upstream image, add it as a mirror first (`{parent}-upstream: {{ mirror: <reference> }}`)"
                    )),
                };
                report(diagnostic);
                ok = false;
            } else if parent == name {
                report(
                    error(format!("dependency cycle: {name} → {name}"), Span::of(from))
                        .help("an image cannot be built from itself"),
                );
                ok = false;
            }

            let mut vars = catalog.vars.clone();
            for (key, value) in &file.vars {
                if RESERVED_VARS.contains(&key.0.value.as_str()) {
                    report(reserved_var(catalog, key).image(name));
                    ok = false;
                }
                vars.insert(key.0.value.clone(), value.clone());
            }

            let mut tags = Vec::new();
            for tag in &file.tags {
                match validate_tag(&tag.value.0) {
                    Ok(()) => tags.push(tag.value.0.clone()),
                    Err(message) => {
                        report(error(message, Span::of(tag)));
                        ok = false;
                    }
                }
            }
            if file.tags.is_empty() {
                tags.push("latest".to_string());
            }
            let version = match &file.version {
                Some(version) => {
                    if let Err(message) = validate_tag(&version.value.0) {
                        report(error(
                            format!("`version` must be usable in a tag: {message}"),
                            Span::of(version),
                        ));
                        ok = false;
                    }
                    version.value.0.clone()
                }
                // Every tag may have been invalid (already reported); any placeholder will do then.
                None => tags
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "latest".to_string()),
            };

            let mut build_args = default_build_args.clone();
            build_args.extend(scalars(&file.build_args));
            let mut labels = catalog.labels.clone();
            labels.extend(scalars(&file.labels));

            ImageKind::Build(Box::new(Build {
                parent,
                parent_span: Span::of(from),
                template: file
                    .template
                    .as_ref()
                    .map(|t| t.value.clone())
                    .unwrap_or_else(|| format!("{name}.Dockerfile.j2")),
                template_span: file.template.as_ref().map(Span::of),
                context: file
                    .context
                    .as_ref()
                    .map(|c| PathBuf::from(&c.value))
                    .unwrap_or_else(|| Path::new("images").join(name)),
                context_span: file.context.as_ref().map(Span::of),
                vars,
                build_args,
                labels,
                tags,
                version,
                target: file.target.clone(),
                network: file.network.clone(),
            }))
        }
    };

    ok.then(|| Image {
        name: name.to_string(),
        span,
        description: file.description.clone(),
        repository,
        platforms,
        run: file.run.clone(),
        kind,
    })
}

fn validate_image_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-'))
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric());
    if valid {
        Ok(())
    } else {
        Err(format!("invalid image name `{name}`"))
    }
}

/// Two images must never claim the same tag in the same repository: the second push would silently
/// replace the first.
fn check_tags_unique(catalog: &Catalog, report: &mut impl FnMut(Diagnostic)) {
    let mut owners: HashMap<(String, String), &str> = HashMap::new();
    for image in catalog.images.values() {
        for tag in image.claimed_tags() {
            let key = (image.repository.clone(), tag.clone());
            match owners.get(&key) {
                Some(owner) => report(
                    Diagnostic::error(format!(
                        "images `{owner}` and `{}` both claim `{}/{}:{tag}`",
                        image.name, catalog.registry, image.repository
                    ))
                    .at(catalog.locate(image.span))
                    .image(&image.name)
                    .help("give one of them another tag, or another `repository`"),
                ),
                None => {
                    owners.insert(key, &image.name);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<(Catalog, Diagnostics), Diagnostics> {
        Catalog::parse(
            Path::new("base-images.yaml"),
            text.to_string(),
            &LoadOptions::default(),
        )
    }

    #[test]
    fn loads_mirrors_and_builds() {
        let (catalog, warnings) = parse(
            "registry: localhost:5000/base\nimages:\n  redis-upstream:\n    mirror: redis:7.2.4\n  redis:\n    from: redis-upstream\n    tags: [7.2.4, \"7.2\"]\n    build_args: { PORT: 6379 }\n",
        )
        .unwrap();
        assert!(warnings.is_empty());
        let redis = catalog.images["redis"].as_build().unwrap();
        assert_eq!(redis.parent, "redis-upstream");
        assert_eq!(redis.version, "7.2.4");
        assert_eq!(redis.build_args["PORT"], "6379");
        assert_eq!(redis.template, "redis.Dockerfile.j2");
        assert_eq!(
            catalog.images["redis-upstream"]
                .as_mirror()
                .unwrap()
                .upstream
                .to_string(),
            "docker.io/library/redis:7.2.4"
        );
    }

    #[test]
    fn reports_every_problem_at_once() {
        let errors = parse(
            "registry: localhost:5000/base\nimages:\n  a:\n    mirror: python\n  b:\n    from: nope\n  c: {}\n",
        )
        .unwrap_err();
        assert_eq!(errors.error_count(), 3, "{errors}");
    }

    #[test]
    fn registry_override_wins() {
        let options = LoadOptions {
            registry: Some("registry.example.com/team".into()),
        };
        let (catalog, _) = Catalog::parse(
            Path::new("c.yaml"),
            "registry: localhost:5000/base\nimages: {}\n".into(),
            &options,
        )
        .unwrap();
        assert_eq!(catalog.registry, "registry.example.com/team");
    }

    #[test]
    fn unknown_key_suggests_the_right_one() {
        let errors = parse("registry: r.example/x\nimages:\n  a:\n    mirorr: x:1\n").unwrap_err();
        let text = errors.to_string();
        assert!(text.contains("unknown key `mirorr`"), "{text}");
        assert!(text.contains("did you mean `mirror`?"), "{text}");
        assert!(text.contains("base-images.yaml:4:5"), "{text}");
    }
}
