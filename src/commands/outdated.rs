//! `baseimg outdated`: every lock entry compared with where its upstream tag points now, with one
//! HEAD request each (Docker Hub does not count HEADs as pulls). Finding drift is what it is for:
//! its outcome is [`Outcome::Found`] when anything moved or is not locked.

use futures_util::{StreamExt, stream};
use serde::Serialize;

use super::failure::diagnose;
use super::{Finished, Outcome, Settings, Workspace};
use crate::diagnostic::Diagnostics;
use crate::reference::Digest;
use crate::upstream;

#[derive(Debug, Serialize)]
pub(crate) struct OutdatedReport {
    pub images: Vec<Drift>,
    /// How many mirrors moved upstream or are not locked.
    pub outdated: usize,
}

/// One mirror: where the lock file pins it and where its reference points upstream now.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Drift {
    pub image: String,
    pub reference: String,
    pub locked: Option<Digest>,
    pub current: Digest,
    pub status: DriftStatus,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum DriftStatus {
    UpToDate,
    Moved,
    NotLocked,
}

impl OutdatedReport {
    pub(crate) fn new(images: Vec<Drift>) -> OutdatedReport {
        let outdated = images
            .iter()
            .filter(|i| i.status != DriftStatus::UpToDate)
            .count();
        OutdatedReport { images, outdated }
    }
}

pub(crate) async fn run(settings: &Settings) -> Result<Finished<OutdatedReport>, Diagnostics> {
    let workspace = Workspace::open(settings)?;
    let catalog = &workspace.catalog;
    let clients = workspace.clients();
    let mirrors = catalog
        .images
        .values()
        .filter_map(|image| image.as_mirror().map(|mirror| (image, mirror)));
    let results: Vec<_> = stream::iter(mirrors)
        .map(|(image, mirror)| {
            let clients = &clients;
            async move {
                let current = upstream::current_digest(clients, &mirror.upstream).await;
                (image, mirror, current)
            }
        })
        .buffered(settings.jobs)
        .collect()
        .await;
    let mut failures = Diagnostics::default();
    let mut images = Vec::new();
    for (image, mirror, current) in results {
        let (current, _) = match current {
            Ok(found) => found,
            Err(error) => {
                failures
                    .push(diagnose(format!("check `{}`", image.name), &error).image(&image.name));
                continue;
            }
        };
        let locked = workspace
            .lock
            .images
            .get(&image.name)
            .filter(|e| e.source == mirror.upstream)
            .map(|e| e.digest.clone());
        let status = match &locked {
            None => DriftStatus::NotLocked,
            Some(digest) if *digest == current => DriftStatus::UpToDate,
            Some(_) => DriftStatus::Moved,
        };
        images.push(Drift {
            image: image.name.clone(),
            reference: mirror.upstream.to_string(),
            locked,
            current,
            status,
        });
    }
    failures.into_result()?;
    let report = OutdatedReport::new(images);
    let outcome = if report.outdated > 0 {
        Outcome::Found
    } else {
        Outcome::Success
    };
    Ok(Finished::new(report, workspace.warnings, outcome))
}
