//! `baseimg mirror [IMAGE…]`: the locked upstream digests copied into the private registry, byte for
//! byte (the pipeline is [`crate::mirror::pipeline`]).

use super::{Finished, Outcome, Selection, Settings, Workspace};
use crate::diagnostic::Diagnostics;
use crate::mirror::pipeline::{self, MirrorReport};

pub(crate) async fn run(
    settings: &Settings,
    selection: &Selection,
) -> Result<Finished<MirrorReport>, Diagnostics> {
    let workspace = Workspace::open(settings)?;
    let _running = workspace.exclusive(settings, "mirror")?;
    let selected = workspace.select(selection)?;
    let report = pipeline::run(settings, &workspace, &selected).await?;
    let outcome = if report.failed() > 0 {
        Outcome::Failed
    } else {
        Outcome::Success
    };
    Ok(Finished::new(report, workspace.warnings, outcome))
}
