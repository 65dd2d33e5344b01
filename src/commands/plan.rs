//! `baseimg plan [IMAGE…] [--offline]`: for each selected image, in build order, what a run would do
//! and why. It changes nothing; it asks the private registry (HEAD requests, never upstream) what
//! exists, unless `--offline`.

use serde::Serialize;

use super::failure::diagnose;
use super::{Finished, Outcome, Selection, Settings, Workspace};
use crate::diagnostic::Diagnostics;
use crate::plan::{self, Action, Offline, Snapshot, Step, Unlocked};

#[derive(Debug, Serialize)]
pub(crate) struct PlanReport {
    pub steps: Vec<Step>,
    pub summary: PlanSummary,
}

/// How many images each action applies to.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub(crate) struct PlanSummary {
    pub images: usize,
    pub mirror: usize,
    pub build: usize,
    pub skip: usize,
    /// Mirrors to lock, and images waiting for them.
    pub waiting: usize,
}

impl PlanReport {
    pub(crate) fn new(steps: Vec<Step>) -> PlanReport {
        let count = |action| steps.iter().filter(|s| s.action == action).count();
        let summary = PlanSummary {
            images: steps.len(),
            mirror: count(Action::Mirror),
            build: count(Action::Build),
            skip: count(Action::Skip),
            waiting: count(Action::Lock) + count(Action::Blocked),
        };
        PlanReport { steps, summary }
    }
}

pub(crate) async fn run(
    settings: &Settings,
    selection: &Selection,
    offline: bool,
) -> Result<Finished<PlanReport>, Diagnostics> {
    let workspace = Workspace::open(settings)?;
    let catalog = &workspace.catalog;
    let selected = workspace.select(selection)?;
    let pins = plan::resolve(catalog, &workspace.lock, &selected, Unlocked::Unpin)?;
    let steps = if offline {
        plan::plan(catalog, &pins, &Offline)
    } else {
        let clients = workspace.clients();
        // Nothing pinned yet means nothing to look up: the plan then only says to lock.
        let looks_up = pins
            .values()
            .any(|pin| !matches!(pin, plan::Pin::Unpinned { .. }));
        if looks_up {
            reach(&workspace, &clients).await?;
        }
        let snapshot = Snapshot::look_up(catalog, &pins, &clients, settings.jobs)
            .await
            .map_err(|error| {
                diagnose("look into the private registry", &error)
                    .note("to plan without it: `baseimg plan --offline`")
            })?;
        plan::plan(catalog, &pins, &snapshot)
    };
    Ok(Finished::new(
        PlanReport::new(steps),
        workspace.warnings,
        Outcome::Success,
    ))
}

/// The private registry answers, or one error that says how to plan without it.
async fn reach(
    workspace: &Workspace,
    clients: &crate::registry::Clients,
) -> Result<(), Diagnostics> {
    workspace
        .reach_private(clients)
        .await
        .map_err(|mut diagnostics| {
            for diagnostic in &mut diagnostics.0 {
                diagnostic
                    .notes
                    .push("to plan without it: `baseimg plan --offline`".into());
            }
            diagnostics
        })
}
