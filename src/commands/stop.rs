//! `baseimg stop [IMAGE…]`: the catalog's running services stopped; their containers and data stay,
//! so `baseimg run` starts them again where they were.

use std::time::Duration;

use serde::Serialize;

use super::failure::explain;
use super::{Finished, Outcome, Settings, Workspace};
use crate::diagnostic::Diagnostics;
use crate::docker::Daemon;
use crate::service::Existing;

/// How long a service gets to shut down cleanly (Postgres flushes, Redis writes its AOF).
const GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, Serialize)]
pub(crate) struct StopReport {
    pub services: Vec<Stopped>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Stopped {
    pub image: String,
    pub container: String,
    pub status: StoppedStatus,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StoppedStatus {
    Stopped,
    /// Its container exists but was not running.
    NotRunning,
    /// No container of this catalog has the service's name.
    Absent,
}

pub(crate) async fn run(
    settings: &Settings,
    images: &[String],
) -> Result<Finished<StopReport>, Diagnostics> {
    let workspace = Workspace::open(settings)?;
    let daemon = Daemon::connect(&settings.events)
        .await
        .map_err(|e| explain(&e))?;
    let mut services = Vec::new();
    for present in workspace.present_services(&daemon, images).await? {
        let status = match present.existing {
            Existing::Ours(info) if info.running => {
                daemon
                    .stop_container(&info.id, GRACE)
                    .await
                    .map_err(|e| explain(&e))?;
                StoppedStatus::Stopped
            }
            Existing::Ours(_) => StoppedStatus::NotRunning,
            // A foreign container of that name is not ours to stop.
            Existing::Foreign(_) | Existing::Nothing => StoppedStatus::Absent,
        };
        services.push(Stopped {
            image: present.image.name.clone(),
            container: present.spec.name.clone(),
            status,
        });
    }
    Ok(Finished::new(
        StopReport { services },
        workspace.warnings,
        Outcome::Success,
    ))
}
