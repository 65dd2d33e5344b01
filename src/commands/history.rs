//! `baseimg history IMAGE`: the image's releases in the private registry, newest first, and which
//! moving tags point where.

use serde::Serialize;

use super::failure::diagnose;
use super::{Finished, Outcome, Settings, Workspace};
use crate::catalog::Image;
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::history::{self, Release};

#[derive(Debug, Serialize)]
pub(crate) struct HistoryReport {
    pub image: String,
    /// `<registry>/<repository>`.
    pub repository: String,
    pub releases: Vec<Release>,
}

pub(crate) async fn run(
    settings: &Settings,
    image: &str,
) -> Result<Finished<HistoryReport>, Diagnostics> {
    let workspace = Workspace::open(settings)?;
    let image = built_image(&workspace, image)?;
    let releases = releases(&workspace, image).await?;
    let (host, repository) = workspace.catalog.private_location(image);
    Ok(Finished::new(
        HistoryReport {
            image: image.name.clone(),
            repository: format!("{host}/{repository}"),
            releases,
        },
        workspace.warnings,
        Outcome::Success,
    ))
}

/// The named image, which must be a built one: only built images have releases and moving tags.
pub(super) fn built_image<'a>(
    workspace: &'a Workspace,
    name: &str,
) -> Result<&'a Image, Diagnostics> {
    match workspace.catalog.image(name)? {
        image if image.as_build().is_some() => Ok(image),
        image => Err(Diagnostic::new(
            Code::HistoryNotBuilt,
            format!("`{name}` is mirrored, not built: it has no releases of its own"),
        )
        .at(workspace.catalog.locate(image.span))
        .image(name)
        .help("a mirror follows its lock file: `baseimg update` and `baseimg mirror` move it")
        .into()),
    }
}

/// The image's releases, read from the private registry.
pub(super) async fn releases(
    workspace: &Workspace,
    image: &Image,
) -> Result<Vec<Release>, Diagnostics> {
    let (host, repository) = workspace.catalog.private_location(image);
    let clients = workspace.clients();
    let tags = &image.as_build().expect("a built image").tags;
    history::releases(&clients.get(&host), &repository, &image.name, tags)
        .await
        .map_err(|e| diagnose(format!("read the releases of `{}`", image.name), &e).into())
}
