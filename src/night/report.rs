//! The night's report value: what one refresh did, as the report files and the terminal show it.
//! The night's steps fill it; `report/` draws it.

use std::path::PathBuf;

use serde::Serialize;

use crate::cooldown::Why;
use crate::executor::pipeline::{BuildStatus, ImageResult, Promotion};
use crate::mirror::pipeline::MirrorResult;
use crate::reference::Digest;
use crate::timeline::Bar;
use crate::upstream::ResolveError;

/// What became of one mirror's upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum UpstreamStatus {
    /// Upstream points where the pin does.
    Unchanged,
    /// A new digest, taken in this run (in a dry run: would be taken).
    Adopted,
    /// A new digest waiting out the image's cool-down.
    Waiting,
    /// The tag is gone upstream: the pin and the mirrored copy stay.
    Vanished,
    /// Upstream refused access.
    Denied,
    /// Upstream could not be reached, or kept failing after retries.
    Unreachable,
    /// The new digest could not be recorded (its index is malformed, say).
    Failed,
}

impl UpstreamStatus {
    /// Whether the run could not learn or record where upstream points.
    pub(crate) fn is_problem(self) -> bool {
        matches!(
            self,
            UpstreamStatus::Vanished
                | UpstreamStatus::Denied
                | UpstreamStatus::Unreachable
                | UpstreamStatus::Failed
        )
    }

    pub(super) fn of(error: &ResolveError) -> UpstreamStatus {
        match error {
            ResolveError::NotFound { .. } => UpstreamStatus::Vanished,
            ResolveError::Registry(error) => match error.status() {
                Some(404) => UpstreamStatus::Vanished,
                Some(401 | 403) => UpstreamStatus::Denied,
                _ => UpstreamStatus::Unreachable,
            },
            _ => UpstreamStatus::Failed,
        }
    }
}

/// Everything one refresh did, as the three report files and the terminal show it.
#[derive(Debug, Serialize)]
pub(crate) struct RefreshReport {
    /// The run's identity: the name of its report directory.
    pub run: String,
    /// RFC 3339, UTC.
    pub started: String,
    pub seconds: f64,
    pub dry_run: bool,
    /// Nothing failed and every upstream answered.
    pub ok: bool,
    #[serde(serialize_with = "crate::fsutil::path_text")]
    pub catalog: PathBuf,
    #[serde(serialize_with = "crate::fsutil::path_text")]
    pub lock_file: PathBuf,
    /// Whether this run rewrote the lock file.
    pub lock_written: bool,
    /// Why the lock file was left as it was, when the run had something to write.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock_kept_because: Option<String>,
    /// Every mirror: where upstream points and what the run made of it.
    pub upstreams: Vec<Upstream>,
    /// What mirroring did, per mirror (empty when it did not run).
    pub mirrors: Vec<MirrorResult>,
    /// What building did, per image in build order (empty when it did not run).
    pub images: Vec<ImageResult>,
    /// The images built this run and why.
    pub rebuilt: Vec<Rebuilt>,
    /// What became of the moving tags (absent when the build did not run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promotion: Option<Promotion>,
    /// Moving tags that moved, with the command that puts them back.
    pub moved: Vec<Moved>,
    /// Everything that went wrong, by image and step.
    pub failures: Vec<Failure>,
    /// One bar per image and phase, from the run's own clock.
    pub timeline: Vec<Bar>,
    pub requests: Requests,
    /// Where the report files are (none in a dry run, which writes nothing).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "optional_path"
    )]
    pub report_dir: Option<PathBuf>,
}

/// One mirror's upstream.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Upstream {
    pub image: String,
    /// The upstream reference, as the catalog names it.
    pub source: String,
    pub status: UpstreamStatus,
    /// The pin before this run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinned: Option<Digest>,
    /// Where upstream points now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<Digest>,
    /// Why it was adopted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<Why>,
    /// The adopted image's `created` date (from its config, read back from the mirror).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// When baseimg first saw the waiting digest (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<String>,
    /// When the waiting digest will be adopted (RFC 3339), and how long that is from now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adopt_after: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

/// An image built this run.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Rebuilt {
    pub image: String,
    /// The new immutable tag.
    pub tag: String,
    /// `<registry>/<repository>:<tag>@<digest>`.
    pub reference: String,
    /// Why its fingerprint changed, in a sentence.
    pub because: String,
}

/// An image whose moving tags moved.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Moved {
    pub image: String,
    pub tags: Vec<String>,
    /// The release the tags pointed at before (none when they are new).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The release they point at now.
    pub to: String,
    /// Puts the tags back where they were.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback: Option<String>,
}

/// Something that went wrong.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Failure {
    pub image: String,
    pub step: Step,
    /// The error, with the tail of the image's log where there is one.
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// The image's full log.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "optional_path"
    )]
    pub log: Option<PathBuf>,
}

/// The step of a refresh something failed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Step {
    Resolve,
    Mirror,
    Build,
    Promote,
}

/// Registry requests of the run, by kind, upstream and private apart.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Requests {
    pub upstream: RequestCounts,
    pub private: RequestCounts,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub(crate) struct RequestCounts {
    pub manifest_heads: u64,
    pub manifest_gets: u64,
    pub manifest_puts: u64,
    pub blob_heads: u64,
    pub blob_gets: u64,
    pub blob_puts: u64,
    pub blob_mounts: u64,
    pub token_requests: u64,
    pub retries: u64,
}

fn optional_path<S: serde::Serializer>(path: &Option<PathBuf>, out: S) -> Result<S::Ok, S::Error> {
    match path {
        Some(path) => out.collect_str(&path.display()),
        None => out.serialize_none(),
    }
}

impl RefreshReport {
    /// Upstreams waiting out their cool-down.
    pub(crate) fn waiting(&self) -> impl Iterator<Item = &Upstream> {
        self.upstreams
            .iter()
            .filter(|u| u.status == UpstreamStatus::Waiting)
    }

    /// Upstreams adopted this run.
    pub(crate) fn adopted(&self) -> impl Iterator<Item = &Upstream> {
        self.upstreams
            .iter()
            .filter(|u| u.status == UpstreamStatus::Adopted)
    }

    /// Images that were built (not found up to date) this run.
    pub(crate) fn built(&self) -> impl Iterator<Item = &ImageResult> {
        self.images
            .iter()
            .filter(|i| i.status == BuildStatus::Built)
    }
}
