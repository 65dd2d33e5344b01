//! `baseimg prune [IMAGE…] [--keep N] [--older-than D] [--dry-run]`: old releases of built images
//! deleted from the private registry — those beyond the newest `--keep` of each image (and, with
//! `--older-than`, only those older than that).
//!
//! Never deleted: a release a moving tag points at (that is what people run), and anything that is
//! not a release of a built image of this catalog — mirrors and their keep-alive tags are not releases,
//! so a locked digest is never lost. A release is deleted by its manifest digest, which takes its
//! immutable tag with it; its blobs go when the registry collects garbage.

use std::time::Duration;

use serde::Serialize;

use super::failure::diagnose;
use super::history::{built_image, releases};
use super::{Finished, Outcome, Settings, Workspace};
use crate::diagnostic::Diagnostics;
use crate::history::Release;

#[derive(Debug, Clone)]
pub(crate) struct PruneOptions {
    pub images: Vec<String>,
    pub keep: usize,
    pub older_than: Option<Duration>,
    pub dry_run: bool,
}

#[derive(Debug, Serialize)]
pub(crate) struct PruneReport {
    pub dry_run: bool,
    pub images: Vec<Pruned>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Pruned {
    pub image: String,
    /// Releases kept: the newest, and any a moving tag points at.
    pub kept: Vec<String>,
    /// Releases deleted (or, with `--dry-run`, that would be).
    pub deleted: Vec<String>,
}

pub(crate) async fn run(
    settings: &Settings,
    options: &PruneOptions,
) -> Result<Finished<PruneReport>, Diagnostics> {
    let workspace = Workspace::open(settings)?;
    // A dry run deletes nothing, so it neither waits for nor blocks a real run.
    let _running = match options.dry_run {
        true => None,
        false => Some(workspace.exclusive(settings, "prune")?),
    };
    let names: Vec<String> = if options.images.is_empty() {
        workspace
            .catalog
            .images
            .values()
            .filter(|i| i.as_build().is_some())
            .map(|i| i.name.clone())
            .collect()
    } else {
        options.images.clone()
    };
    let clients = workspace.clients();
    let now = time::OffsetDateTime::now_utc();
    let mut images = Vec::new();
    for name in &names {
        let image = built_image(&workspace, name)?;
        let found = releases(&workspace, image).await?;
        let (kept, doomed) = choose(found, options, now);
        let (host, repository) = workspace.catalog.private_location(image);
        if !options.dry_run {
            for release in &doomed {
                clients
                    .get(&host)
                    .delete_manifest(&repository, &release.digest)
                    .await
                    .map_err(|e| diagnose(format!("delete `{}` of `{name}`", release.tag), &e))?;
            }
        }
        images.push(Pruned {
            image: name.clone(),
            kept: kept.into_iter().map(|r| r.tag).collect(),
            deleted: doomed.into_iter().map(|r| r.tag).collect(),
        });
    }
    Ok(Finished::new(
        PruneReport {
            dry_run: options.dry_run,
            images,
        },
        workspace.warnings,
        Outcome::Success,
    ))
}

/// Splits an image's releases (newest first) into those kept and those to delete.
fn choose(
    releases: Vec<Release>,
    options: &PruneOptions,
    now: time::OffsetDateTime,
) -> (Vec<Release>, Vec<Release>) {
    let old_enough = |release: &Release| match options.older_than {
        None => true,
        Some(age) => {
            let created = time::OffsetDateTime::parse(
                &release.created,
                &time::format_description::well_known::Rfc3339,
            );
            // A release whose date cannot be read is kept: deleting is the one thing not undone.
            created.is_ok_and(|created| now - created >= age)
        }
    };
    let mut kept = Vec::new();
    let mut doomed = Vec::new();
    // Moving tags point at the same digest under every immutable tag it has: keep them all.
    let pinned: Vec<_> = releases
        .iter()
        .filter(|r| !r.moving.is_empty())
        .map(|r| r.digest.clone())
        .collect();
    for (index, release) in releases.into_iter().enumerate() {
        if index < options.keep || pinned.contains(&release.digest) || !old_enough(&release) {
            kept.push(release);
        } else {
            doomed.push(release);
        }
    }
    (kept, doomed)
}
