//! `baseimg rollback IMAGE [--to TAG]`: the image's moving tags re-pointed to its previous release
//! (the one before the release they point at now), or to the release named — one manifest PUT per
//! tag that moves. Immutable tags stay as they are, so a rollback can itself be rolled forward.

use serde::Serialize;

use super::failure::diagnose;
use super::history::{built_image, releases};
use super::{Finished, Outcome, Settings, Workspace};
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::history;

#[derive(Debug, Serialize)]
pub(crate) struct RollbackReport {
    pub image: String,
    /// The release the moving tags pointed at before, if they pointed at one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The release they point at now.
    pub to: String,
    /// The moving tags that moved (none when they were already there).
    pub moved: Vec<String>,
}

pub(crate) async fn run(
    settings: &Settings,
    image: &str,
    to: Option<&str>,
) -> Result<Finished<RollbackReport>, Diagnostics> {
    let workspace = Workspace::open(settings)?;
    let _running = workspace.exclusive(settings, "rollback")?;
    let image = built_image(&workspace, image)?;
    let releases = releases(&workspace, image).await?;
    let tags = &image.as_build().expect("a built image").tags;
    let current = releases.iter().position(|r| !r.moving.is_empty());
    let target = match to {
        Some(tag) => releases.iter().find(|r| r.tag == tag).ok_or_else(|| {
            let known: Vec<&str> = releases.iter().map(|r| r.tag.as_str()).collect();
            Diagnostics::from(
                Diagnostic::new(
                    Code::HistoryUnknownRelease,
                    format!("`{tag}` is not a release of `{}`", image.name),
                )
                .image(&image.name)
                .help(if known.is_empty() {
                    "the image has no releases in the private registry yet".to_string()
                } else {
                    format!("its releases, newest first: {}", known.join(", "))
                }),
            )
        })?,
        // Newest first: the previous release is the one after the current.
        None => current.and_then(|i| releases.get(i + 1)).ok_or_else(|| {
            Diagnostics::from(
                Diagnostic::new(
                    Code::HistoryNoEarlierRelease,
                    format!(
                        "`{}` has no release before the one its moving tags point at",
                        image.name
                    ),
                )
                .image(&image.name)
                .help(format!("see `baseimg history {}`", image.name)),
            )
        })?,
    };
    let (host, repository) = workspace.catalog.private_location(image);
    let clients = workspace.clients();
    let moved = history::repoint(&clients.get(&host), &repository, tags, &target.manifest)
        .await
        .map_err(|e| diagnose(format!("move the tags of `{}`", image.name), &e))?;
    Ok(Finished::new(
        RollbackReport {
            image: image.name.clone(),
            from: current.map(|i| releases[i].tag.clone()),
            to: target.tag.clone(),
            moved,
        },
        workspace.warnings,
        Outcome::Success,
    ))
}
