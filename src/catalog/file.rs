//! The catalog file as serde sees it: one struct per mapping, field names exactly the keys README
//! documents.
//!
//! These types only say what may be written where and with which type; serde-saphyr refuses unknown
//! keys, wrong types and duplicate keys with their position while reading them. Whether what was
//! written makes sense (references, names, parents) is the business of the checks, which turn these
//! structs into the model in `model.rs`. Values whose position a diagnostic may need are `Spanned`.

use indexmap::IndexMap;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::scalar::{Key, Scalar};
use super::service::{CheckFile, RunFile};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CatalogFile {
    pub version: Option<Spanned<u32>>,
    pub registry: Option<Spanned<String>>,
    #[serde(default)]
    pub insecure_registries: Vec<Spanned<String>>,
    pub templates: Option<Spanned<String>>,
    pub source: Option<Spanned<String>>,
    #[serde(default)]
    pub labels: IndexMap<String, Spanned<Scalar>>,
    #[serde(default)]
    pub vars: IndexMap<Key, serde_json::Value>,
    #[serde(default)]
    pub defaults: DefaultsFile,
    /// The Docker daemons builds are spread over; none: the one `DOCKER_HOST` names.
    #[serde(default)]
    pub builders: Vec<Spanned<BuilderFile>>,
    pub images: IndexMap<Key, Spanned<ImageFile>>,
}

/// One daemon of `builders:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BuilderFile {
    /// Its Engine API endpoint: `unix:///…`, `tcp://host:port` or `ssh://[user@]host[:port]`.
    pub host: Spanned<String>,
    /// How many images it builds at once (default: `--jobs`).
    pub jobs: Option<Spanned<u32>>,
    /// The platforms it runs natively (default: its own).
    #[serde(default)]
    pub platforms: Vec<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DefaultsFile {
    #[serde(default)]
    pub platforms: Vec<Spanned<String>>,
    #[serde(default)]
    pub build_args: IndexMap<Key, Scalar>,
    /// How long a new upstream digest waits before `refresh` adopts it (`3d`); mirrors only.
    pub cooldown: Option<Spanned<Scalar>>,
    /// `auto`, `buildkit` or `classic`; checked by name so that a typo gets the three listed.
    pub builder: Option<Spanned<String>>,
    /// Build secrets of every built image (an image's own override them by id).
    pub secrets: Option<Spanned<Secrets>>,
}

/// A `secrets:` mapping: secret id → where its value comes from.
pub(super) type Secrets = IndexMap<Key, Spanned<SecretFile>>;

/// One build secret as written: exactly one of `env` and `file` (checked in `secrets.rs`, so that
/// writing both or neither is an error at the secret rather than a parser's complaint).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SecretFile {
    /// An environment variable of the baseimg process that holds the value.
    pub env: Option<Spanned<String>>,
    /// A file on the build machine that holds the value.
    pub file: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ImageFile {
    pub description: Option<Spanned<String>>,
    pub mirror: Option<Spanned<String>>,
    pub from: Option<Spanned<String>>,
    pub repository: Option<Spanned<String>>,
    #[serde(default)]
    pub platforms: Vec<Spanned<String>>,
    pub template: Option<Spanned<String>>,
    pub context: Option<Spanned<String>>,
    #[serde(default)]
    pub vars: IndexMap<Key, serde_json::Value>,
    #[serde(default)]
    pub build_args: IndexMap<Key, Scalar>,
    pub secrets: Option<Spanned<Secrets>>,
    #[serde(default)]
    pub labels: IndexMap<String, Spanned<Scalar>>,
    #[serde(default)]
    pub tags: Vec<Spanned<Scalar>>,
    pub version: Option<Spanned<Scalar>>,
    pub target: Option<String>,
    pub network: Option<String>,
    pub run: Option<Spanned<RunFile>>,
    #[serde(default)]
    pub checks: Vec<CheckFile>,
    pub cooldown: Option<Spanned<Scalar>>,
}

impl ImageFile {
    /// The keys written that only a built image uses, for refusing them on a mirror.
    pub(super) fn build_only_keys(&self) -> impl Iterator<Item = &'static str> {
        [
            ("template", self.template.is_some()),
            ("context", self.context.is_some()),
            ("vars", !self.vars.is_empty()),
            ("build_args", !self.build_args.is_empty()),
            ("labels", !self.labels.is_empty()),
            ("tags", !self.tags.is_empty()),
            ("version", self.version.is_some()),
            ("target", self.target.is_some()),
            ("network", self.network.is_some()),
            ("checks", !self.checks.is_empty()),
        ]
        .into_iter()
        .filter_map(|(key, present)| present.then_some(key))
    }
}
