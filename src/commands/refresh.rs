//! `baseimg refresh`: the nightly job as one command (the pipeline is [`crate::night`]). The run's
//! report files are written by the report layer (`report::write_refresh_files`, called by `cli`)
//! once this returns.

use super::{Finished, Outcome, Settings, Workspace};
use crate::diagnostic::Diagnostics;
use crate::night::{self, RefreshReport};

pub(crate) use crate::night::Options;

pub(crate) async fn run(
    settings: &Settings,
    options: &Options,
) -> Result<Finished<RefreshReport>, Diagnostics> {
    let mut workspace = Workspace::open(settings)?;
    // A dry run changes nothing, so it does not wait for (or block) a real one.
    let _running = match options.dry_run {
        true => None,
        false => Some(workspace.exclusive(settings, "refresh")?),
    };
    let report = night::run(settings, &mut workspace, options).await?;
    let outcome = if report.ok {
        Outcome::Success
    } else {
        Outcome::Failed
    };
    Ok(Finished::new(report, workspace.warnings, outcome))
}
