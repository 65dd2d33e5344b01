//! `baseimg ps`: the catalog's services on this machine — which run, on which digest, and whether
//! that digest is the one `baseimg run` would start now.

use serde::Serialize;

use super::failure::explain;
use super::{Finished, Outcome, Settings, Workspace};
use crate::catalog::ImageKind;
use crate::diagnostic::Diagnostics;
use crate::docker::Daemon;
use crate::lock::LockStatus;
use crate::registry::Clients;
use crate::service::Existing;

#[derive(Debug, Serialize)]
pub(crate) struct PsReport {
    pub services: Vec<Listed>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Listed {
    pub image: String,
    pub container: String,
    pub status: ListedStatus,
    /// The reference the container was started from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Whether that is the digest `baseimg run` would start now (unknown when the registry was not
    /// reachable or the service was started with `--local`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<bool>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ListedStatus {
    Running,
    Stopped,
    /// No container of this catalog.
    Absent,
}

pub(crate) async fn run(settings: &Settings) -> Result<Finished<PsReport>, Diagnostics> {
    let workspace = Workspace::open(settings)?;
    let daemon = Daemon::connect(&settings.events)
        .await
        .map_err(|e| explain(&e))?;
    let clients = workspace.clients();
    let mut services = Vec::new();
    for present in workspace.present_services(&daemon, &[]).await? {
        let (image, spec) = (present.image, present.spec);
        let mut listed = Listed {
            image: image.name.clone(),
            container: spec.name.clone(),
            status: ListedStatus::Absent,
            reference: None,
            current: None,
        };
        if let Existing::Ours(info) = present.existing {
            listed.status = if info.running {
                ListedStatus::Running
            } else {
                ListedStatus::Stopped
            };
            let reference = info
                .labels
                .get(crate::service::REFERENCE_LABEL)
                .cloned()
                .unwrap_or(info.image);
            listed.current = current_digest(&workspace, &clients, image)
                .await
                .zip(reference.split_once('@'))
                .map(|(digest, (_, running))| digest == running);
            listed.reference = Some(reference);
        }
        services.push(listed);
    }
    Ok(Finished::new(
        PsReport { services },
        workspace.warnings,
        Outcome::Success,
    ))
}

/// The digest `baseimg run` would start now: a mirror's locked one, a built image's first moving
/// tag in the private registry (one HEAD request). `None` when it cannot be known.
async fn current_digest(
    workspace: &Workspace,
    clients: &Clients,
    image: &crate::catalog::Image,
) -> Option<String> {
    match &image.kind {
        ImageKind::Mirror(_) => match workspace.lock.status(image) {
            LockStatus::Fresh(entry) => Some(entry.mirror_digest().to_string()),
            _ => None,
        },
        ImageKind::Recipe(build) => {
            let (host, repository) = workspace.catalog.private_location(image);
            let tag = build.tags.first()?;
            let found = clients.get(&host).head_manifest(&repository, tag).await;
            found
                .ok()
                .flatten()
                .map(|(digest, _, _)| digest.to_string())
        }
    }
}
