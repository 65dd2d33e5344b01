//! `baseimg down [IMAGE…] [--volumes]`: the catalog's service containers removed; with `--volumes`
//! their named volumes (their data) too — only volumes baseimg created for this catalog.

use serde::Serialize;

use super::failure::explain;
use super::{Finished, Outcome, Settings, Workspace};
use crate::diagnostic::Diagnostics;
use crate::docker::Daemon;
use crate::service::{CATALOG_LABEL, Existing, Service};

#[derive(Debug, Serialize)]
pub(crate) struct DownReport {
    pub services: Vec<Removed>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Removed {
    pub image: String,
    pub container: String,
    pub status: RemovedStatus,
    /// Named volumes removed (with `--volumes`).
    pub volumes: Vec<String>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RemovedStatus {
    Removed,
    /// No container of this catalog has the service's name.
    Absent,
}

pub(crate) async fn run(
    settings: &Settings,
    images: &[String],
    volumes: bool,
) -> Result<Finished<DownReport>, Diagnostics> {
    let workspace = Workspace::open(settings)?;
    let daemon = Daemon::connect(&settings.events)
        .await
        .map_err(|e| explain(&e))?;
    let catalog_id = Service::catalog_id(&workspace.catalog);
    let mut services = Vec::new();
    for present in workspace.present_services(&daemon, images).await? {
        let (image, spec) = (present.image, present.spec);
        let status = match present.existing {
            Existing::Ours(info) => {
                daemon
                    .remove_container(&info.id)
                    .await
                    .map_err(|e| explain(&e))?;
                RemovedStatus::Removed
            }
            Existing::Foreign(_) | Existing::Nothing => RemovedStatus::Absent,
        };
        let mut removed_volumes = Vec::new();
        for volume in spec.volumes.iter().filter(|v| v.named && volumes) {
            let labels = daemon
                .volume(&volume.source)
                .await
                .map_err(|e| explain(&e))?;
            // Only a volume this catalog created: a same-named volume of someone else's stays.
            if labels.is_some_and(|l| l.get(CATALOG_LABEL) == Some(&catalog_id)) {
                daemon
                    .remove_volume(&volume.source)
                    .await
                    .map_err(|e| explain(&e))?;
                removed_volumes.push(volume.source.clone());
            }
        }
        services.push(Removed {
            image: image.name.clone(),
            container: spec.name.clone(),
            status,
            volumes: removed_volumes,
        });
    }
    Ok(Finished::new(
        DownReport { services },
        workspace.warnings,
        Outcome::Success,
    ))
}
