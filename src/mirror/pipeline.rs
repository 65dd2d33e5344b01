//! The mirror pipeline: the locked upstream digests copied into the private registry, byte for byte
//! (one image's copy is [`super::Mirror`]). What `baseimg mirror` runs, and the night's mirror step
//! ([`crate::night`]).
//!
//! Three phases, each over every image before the next: ask the private registry what it lacks (so
//! nothing is asked of upstream for what it has), check upstream's pull budget covers the copy (so a
//! copy never stops half-way on a rate limit), then copy.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::Instant;

use futures_util::{StreamExt, stream};
use serde::Serialize;

use crate::catalog::{Catalog, Image};
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::events::Events;
use crate::failure::{Advice, diagnose};
use crate::lock::{LockEntry, LockFile, LockStatus};
use crate::mirror::{self, Copied, KnownBlobs, Mirror};
use crate::registry::{Budget, Clients};
use crate::workspace::{Settings, Workspace};

#[derive(Debug, Serialize)]
pub(crate) struct MirrorReport {
    pub images: Vec<MirrorResult>,
    pub seconds: f64,
    /// Requests made to every registry, upstream and private.
    pub requests: u64,
    pub upstream_requests: u64,
    pub retries: u64,
    pub rate_limits: Vec<Budget>,
}

/// What happened to one mirror.
#[derive(Debug, Serialize)]
pub(crate) struct MirrorResult {
    pub image: String,
    pub status: MirroredStatus,
    /// `<private registry>/<repository>`.
    pub repository: String,
    /// With `retagged`: how many of its tags were put back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retagged: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copied: Option<Copied>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What to do about the failure, where the kind of error says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum MirroredStatus {
    /// The private registry had the digest and its tags.
    UpToDate,
    /// The private registry had the digest; some of its tags were missing and were put back.
    Retagged,
    Copied,
    Failed,
}

impl MirrorReport {
    pub(crate) fn failed(&self) -> usize {
        self.images
            .iter()
            .filter(|i| i.status == MirroredStatus::Failed)
            .count()
    }
}

/// A mirror run of its own (`baseimg mirror`): the selected mirrors, each pinned, copied.
pub(crate) async fn run(
    settings: &Settings,
    workspace: &Workspace,
    selected: &[String],
) -> Result<MirrorReport, Diagnostics> {
    let work = pinned_mirrors(workspace, selected)?;
    let timeline = crate::timeline::Timeline::default();
    let clients = workspace.clients();
    copy(settings, workspace, &clients, &work, &timeline).await
}

/// Copies the locked digests of `work` that the private registry lacks. Shared by `mirror` and
/// `refresh`, which mirrors what it is about to adopt.
pub(crate) async fn copy(
    settings: &Settings,
    workspace: &Workspace,
    clients: &Clients,
    work: &[(&Image, &LockEntry)],
    timeline: &crate::timeline::Timeline,
) -> Result<MirrorReport, Diagnostics> {
    let catalog = &workspace.catalog;
    workspace.reach_private(clients).await?;
    let known = KnownBlobs::default();
    let mirror = Mirror {
        catalog,
        clients,
        known: &known,
        retry: backon::ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(std::time::Duration::from_millis(200))
            .with_max_times(6),
    };
    let started = Instant::now();
    let present = private_presence(&mirror, work, settings.jobs).await?;
    let to_copy: Vec<&LockEntry> = work
        .iter()
        .zip(&present)
        .filter(|(_, present)| !**present)
        .map(|((_, entry), _)| *entry)
        .collect();
    check_budget(clients, &to_copy).await?;

    let progress = settings.events.clone();
    let images: Vec<MirrorResult> = stream::iter(work.iter().zip(present))
        .map(|((image, entry), present)| {
            let (mirror, progress) = (&mirror, &progress);
            async move {
                let _mirroring = timeline.start(&image.name, crate::timeline::Phase::Mirror);
                copy_one(catalog, mirror, progress, image, entry, present).await
            }
        })
        .buffered(settings.jobs)
        .collect()
        .await;

    let private_hosts: HashSet<String> = work
        .iter()
        .map(|(image, _)| catalog.private_location(image).0)
        .collect();
    let all = clients.all();
    let report = MirrorReport {
        images,
        seconds: started.elapsed().as_secs_f64(),
        requests: all.iter().map(|c| c.stats.requests()).sum(),
        upstream_requests: all
            .iter()
            .filter(|c| !private_hosts.contains(c.registry()))
            .map(|c| c.stats.requests())
            .sum(),
        retries: all
            .iter()
            .map(|c| c.stats.retries.load(Ordering::Relaxed))
            .sum(),
        rate_limits: Budget::of(clients),
    };
    Ok(report)
}

/// The selected mirrors with their lock entries; any that is not pinned (or pinned to what the
/// catalog no longer says) stops the run before any request, naming the command that fixes it.
fn pinned_mirrors<'a>(
    workspace: &'a Workspace,
    selected: &[String],
) -> Result<Vec<(&'a Image, &'a LockEntry)>, Diagnostics> {
    let lock: &LockFile = &workspace.lock;
    let mut unpinned = Diagnostics::default();
    let mut work = Vec::new();
    let mirrors =
        workspace.catalog.images.values().filter(|i| {
            i.as_mirror().is_some() && (selected.is_empty() || selected.contains(&i.name))
        });
    for image in mirrors {
        match lock.status(image) {
            LockStatus::Fresh(entry) => work.push((image, entry)),
            LockStatus::Missing => unpinned.push(
                crate::lock::not_pinned(&image.name, &workspace.lock_path)
                    .help("run `baseimg lock` first"),
            ),
            LockStatus::Stale { why } => unpinned.push(
                crate::lock::out_of_date(&image.name, &why)
                    .help(format!("run `baseimg update {}` first", image.name)),
            ),
        }
    }
    unpinned.into_result()?;
    Ok(work)
}

/// Whether the private registry already holds each locked digest (HEAD requests only).
async fn private_presence(
    mirror: &Mirror<'_>,
    work: &[(&Image, &LockEntry)],
    jobs: usize,
) -> Result<Vec<bool>, Diagnostics> {
    let presence: Vec<_> = stream::iter(work)
        .map(|(image, entry)| mirror.is_present(image, entry))
        .buffered(jobs)
        .collect()
        .await;
    let mut failures = Diagnostics::default();
    let mut present = Vec::with_capacity(work.len());
    for ((image, _), found) in work.iter().zip(presence) {
        match found {
            Ok(found) => present.push(found),
            Err(error) => failures.push(
                diagnose(
                    format!("check `{}` in the private registry", image.name),
                    &error,
                )
                .image(&image.name),
            ),
        }
    }
    failures.into_result()?;
    Ok(present)
}

/// Stops before anything is copied when an upstream registry's pull budget is smaller than the
/// manifest GETs the copy needs there. A HEAD (free) refreshes each budget first.
async fn check_budget(clients: &Clients, to_copy: &[&LockEntry]) -> Result<(), Diagnostics> {
    let mut seen = HashSet::new();
    for entry in to_copy {
        if seen.insert(entry.source.registry.clone()) {
            let client = clients.get(&entry.source.registry);
            // Only the headers matter here; a failure shows up again, with context, in the copy.
            let _ = client
                .head_manifest(&entry.source.repository, entry.digest.as_str())
                .await;
        }
    }
    let mut errors = Diagnostics::default();
    for budget in Budget::of(clients) {
        let needed: u64 = to_copy
            .iter()
            .filter(|e| e.source.registry == budget.registry)
            .map(|e| manifest_gets(e))
            .sum();
        if budget.remaining < needed {
            errors.push(
                Diagnostic::new(Code::MirrorPullBudget, format!(
                    "{} allows {} more pulls now; mirroring needs up to {needed} manifest requests there",
                    budget.registry, budget.remaining
                ))
                .help("nothing was copied; run again when the window resets, or mirror fewer images (`baseimg mirror IMAGE…`)"),
            );
        }
    }
    errors.into_result().map(drop)
}

/// The manifest GETs one copy needs at most: the index (or manifest), then each platform's manifest.
/// Unfiltered indexes are copied whole, attestation manifests included (Docker publishes one beside
/// each platform), which the lock does not list: count them as an upper bound.
fn manifest_gets(entry: &LockEntry) -> u64 {
    let platforms = entry.platforms.len() as u64;
    1 + if entry.only.is_empty() {
        2 * platforms
    } else {
        platforms
    }
}

async fn copy_one(
    catalog: &Catalog,
    mirror: &Mirror<'_>,
    progress: &Events,
    image: &Image,
    entry: &LockEntry,
    present: bool,
) -> MirrorResult {
    let task = progress.task(&image.name);
    let result = mirror.copy(image, entry, present, &task).await;
    let (host, repository) = catalog.private_location(image);
    let mut mirrored = MirrorResult {
        image: image.name.clone(),
        status: MirroredStatus::Failed,
        repository: format!("{host}/{repository}"),
        retagged: None,
        copied: None,
        error: None,
        help: None,
    };
    match result {
        Ok(mirror::Mirrored::Present { retagged: 0 }) => {
            task.finish("already mirrored");
            mirrored.status = MirroredStatus::UpToDate;
        }
        Ok(mirror::Mirrored::Present { retagged }) => {
            task.finish("already mirrored");
            mirrored.status = MirroredStatus::Retagged;
            mirrored.retagged = Some(retagged);
        }
        Ok(mirror::Mirrored::Copied(copied)) => {
            task.finish(&copied_line(&copied));
            mirrored.status = MirroredStatus::Copied;
            mirrored.copied = Some(copied);
        }
        Err(error) => {
            task.finish("failed");
            mirrored.error = Some(error.to_string());
            mirrored.help = error.advice();
        }
    }
    mirrored
}

/// The progress line of a mirror copied: `copied 1 blob (4.2 MiB), mounted 0, present 2`.
pub(crate) fn copied_line(copied: &Copied) -> String {
    format!(
        "copied {} ({}), mounted {}, present {}",
        crate::text::count(copied.blobs_copied, "blob", "blobs"),
        crate::text::human_bytes(copied.bytes),
        copied.blobs_mounted,
        copied.blobs_present
    )
}
