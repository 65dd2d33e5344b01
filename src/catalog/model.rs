//! The checked catalog: what the rest of baseimg works with once the file has been read and every
//! check has passed.
//!
//! Everything here is known to be well formed (references parse, names are valid, parents exist), so
//! users of the model do not re-check. What was written keeps its [`Span`], a byte range of the
//! catalog's text, so that later stages (templates, contexts, the lock file) can still point at the
//! line a problem comes from.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_saphyr::Spanned;

use super::service::{Check, RunSpec};
use crate::diagnostic::{Code, Diagnostic, Diagnostics, SourceLocation, SourceText, did_you_mean};
use crate::reference::{Digest, Reference};

/// Where something was written in the catalog: a byte range of its text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn range(self) -> Range<usize> {
        self.start..self.end
    }
}

impl From<Range<usize>> for Span {
    fn from(range: Range<usize>) -> Self {
        Span {
            start: range.start,
            end: range.end,
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
    pub(super) text: SourceText,
    /// `host[:port]/namespace` that every image is pushed under.
    pub registry: String,
    pub insecure_registries: Vec<String>,
    /// Absolute path of the templates directory.
    pub templates_dir: PathBuf,
    /// Where the catalog's repository lives (for `org.opencontainers.image.source`).
    pub source_url: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub vars: IndexMap<String, serde_json::Value>,
    /// The daemons builds are spread over (`builders:`); empty: the one `DOCKER_HOST` names.
    pub builders: Vec<BuilderHost>,
    /// `defaults: { builder: … }`: which of the daemon's builders builds the images.
    pub builder: BuilderKind,
    pub images: IndexMap<String, Image>,
}

/// Where a build secret's value comes from on the build machine. The value is read only when a
/// build asks for it, and never enters a build argument, label, layer, log, report or rendered file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// An environment variable of the baseimg process.
    Env(String),
    /// A file on the build machine: absolute, `~/…` (the user's home), or relative to the catalog's directory (already resolved to an absolute path on load).
    File(PathBuf),
}

/// Which builder the daemon uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BuilderKind {
    /// BuildKit when the daemon has it, the classic builder otherwise.
    #[default]
    Auto,
    /// BuildKit, or an error when the daemon cannot run it.
    Buildkit,
    /// Docker's classic builder (no secrets, no cache mounts).
    Classic,
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
    Recipe(Box<Recipe>),
}

#[derive(Debug, Clone)]
pub struct Mirror {
    /// The upstream reference, normalized (`docker.io/library/python:3.11.9-slim-bookworm`).
    pub upstream: Reference,
    pub span: Span,
    /// How long a new upstream digest must have been known before `refresh` adopts it: the
    /// image's `cooldown:`, else the catalog's default, else none.
    pub cooldown: std::time::Duration,
}

#[derive(Debug, Clone)]
pub struct Recipe {
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
    /// Build secrets by id (what a template's `RUN --mount=type=secret,id=<id>` names): the catalog
    /// defaults' `secrets:`, overridden per id by the image's own. Only the ids count towards the
    /// fingerprint; where a value comes from is the build machine's business.
    pub secrets: BTreeMap<String, SecretSource>,
    /// Where the image's own `secrets:` was written, else the defaults' `secrets:`; `None` when the
    /// image has no secrets.
    pub secrets_span: Option<Span>,
    /// Labels written into the image: the catalog's, overridden by the image's own.
    pub labels: BTreeMap<String, String>,
    /// Moving tags (`7.2`, `latest`), promoted after a successful run.
    pub tags: Vec<String>,
    /// The version part of the immutable tag `<version>-<fingerprint12>`.
    pub version: String,
    pub target: Option<String>,
    pub network: Option<String>,
    /// Smoke checks run on every build of the image before it is pushed (they do not change its
    /// fingerprint), and by `baseimg check`.
    pub checks: Vec<Check>,
}

impl Image {
    pub fn parent(&self) -> Option<&str> {
        match &self.kind {
            ImageKind::Recipe(build) => Some(&build.parent),
            ImageKind::Mirror(_) => None,
        }
    }

    pub fn as_build(&self) -> Option<&Recipe> {
        match &self.kind {
            ImageKind::Recipe(build) => Some(build),
            ImageKind::Mirror(_) => None,
        }
    }

    pub fn as_mirror(&self) -> Option<&Mirror> {
        match &self.kind {
            ImageKind::Mirror(mirror) => Some(mirror),
            ImageKind::Recipe(_) => None,
        }
    }

    /// The tags this image claims in its private repository: a mirror keeps its upstream tag, a built
    /// image its moving tags.
    pub fn claimed_tags(&self) -> Vec<String> {
        match &self.kind {
            ImageKind::Mirror(mirror) => mirror.upstream.tag.iter().cloned().collect(),
            ImageKind::Recipe(build) => build.tags.clone(),
        }
    }
}

/// "no image named `x` in the catalog", with the name of `known` it most likely meant: what every
/// command says of an image name it was given and the catalog does not have.
pub fn unknown_image<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Diagnostic {
    let diagnostic = Diagnostic::new(
        Code::CatalogUnknownImage,
        format!("no image named `{name}` in the catalog"),
    );
    match did_you_mean(name, known) {
        Some(hint) => diagnostic.help(hint),
        None => diagnostic.help("`baseimg graph --format text` lists the catalog's images"),
    }
}

impl Catalog {
    /// The image a command was given by name, or the diagnostic of [`unknown_image`].
    pub fn image(&self, name: &str) -> Result<&Image, Diagnostics> {
        self.images
            .get(name)
            .ok_or_else(|| unknown_image(name, self.images.keys().map(String::as_str)).into())
    }

    /// A location in the catalog file, for diagnostics.
    pub fn locate(&self, span: Span) -> Option<SourceLocation> {
        Some(SourceLocation::new(&self.path, &self.text, span.range()))
    }

    /// Where a value of the catalog file was written.
    pub(super) fn span_of<T>(&self, spanned: &Spanned<T>) -> Span {
        crate::yaml::range(&self.text, spanned.referenced).into()
    }

    /// The repository root as a path the file system accepts (`.` rather than empty).
    pub fn root_dir(&self) -> &Path {
        if self.root.as_os_str().is_empty() {
            Path::new(".")
        } else {
            &self.root
        }
    }

    /// The private registry's host (`localhost:5000`): `registry:` is `host[/namespace]`, its host
    /// checked on load.
    pub fn private_host(&self) -> &str {
        self.registry.split('/').next().unwrap_or(&self.registry)
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
    pub fn mirror_reference(&self, image: &Image, digest: &Digest) -> String {
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
}

/// One daemon of `builders:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuilderHost {
    /// `unix:///…`, `tcp://host:port` or `ssh://[user@]host[:port][/socket]`.
    pub host: String,
    /// Its build slots; `None`: `--jobs`.
    pub jobs: Option<usize>,
    /// The platforms it builds natively; empty: its own.
    pub platforms: Vec<String>,
}

/// Settings that come from outside the file (flags and environment).
#[derive(Debug, Default, Clone)]
pub struct LoadOptions {
    /// `--registry` / `BASEIMG_REGISTRY`: replaces the catalog's `registry`.
    pub registry: Option<String>,
}
