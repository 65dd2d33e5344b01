//! `baseimg logs IMAGE [-f]`: what a service's container printed, as it printed it (`-f` follows).
//!
//! The output is the container's own bytes, passed to the caller's sink as they arrive; there is no
//! report to draw, only a stream.

use super::failure::explain;
use super::{Settings, Workspace};
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::docker::Daemon;
use crate::service::Existing;

pub(crate) async fn run(
    settings: &Settings,
    image: &str,
    follow: bool,
    sink: impl FnMut(&[u8]),
) -> Result<(), Diagnostics> {
    let workspace = Workspace::open(settings)?;
    // A name that is no service is bad input, told before the daemon is asked anything.
    workspace.services(&[image.to_string()])?;
    let daemon = Daemon::connect(&settings.events)
        .await
        .map_err(|e| explain(&e))?;
    let present = workspace
        .present_services(&daemon, &[image.to_string()])
        .await?;
    let Some(present) = present.into_iter().next() else {
        return Ok(());
    };
    let image = present.image;
    match present.existing {
        Existing::Ours(info) => daemon
            .logs(&info.id, None, follow, sink)
            .await
            .map_err(|e| explain(&e).into()),
        Existing::Foreign(_) | Existing::Nothing => Err(Diagnostic::new(
            Code::ServiceNoContainer,
            format!("`{}` has no container of this catalog", image.name),
        )
        .image(&image.name)
        .help(format!("start it with `baseimg run {}`", image.name))
        .into()),
    }
}
