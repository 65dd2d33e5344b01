//! `baseimg build [IMAGE…] [--push]`: the selected images and what they need, built in DAG order on
//! the plan's pinned parents; then, only when every image succeeded, the moving tags are promoted
//! (the pipeline is [`crate::executor::pipeline`]).

use super::{Finished, Outcome, Selection, Settings, Workspace};
use crate::diagnostic::Diagnostics;
use crate::executor::pipeline::{self, BuildReport};

pub(crate) async fn run(
    settings: &Settings,
    selection: &Selection,
    push: bool,
) -> Result<Finished<BuildReport>, Diagnostics> {
    let workspace = Workspace::open(settings)?;
    let _running = workspace.exclusive(settings, if push { "build --push" } else { "build" })?;
    let selected = workspace.select(selection)?;
    let (report, dirty) = pipeline::run(settings, &workspace, &selected, push).await?;
    let outcome = if report.ok {
        Outcome::Success
    } else {
        Outcome::Failed
    };
    let mut warnings = workspace.warnings;
    warnings.extend(dirty);
    Ok(Finished::new(report, warnings, outcome))
}
