//! `baseimg render`: the Dockerfiles of built images as a build would use them, printed or written
//! to a directory.

use std::path::Path;

use indexmap::IndexMap;
use serde::Serialize;

use super::{Finished, Outcome, Selection, Settings, Workspace, io_error};
use crate::diagnostic::Diagnostics;
use crate::fsutil::write_atomic;
use crate::plan::{self, Pin, Unlocked};

#[derive(Debug, Serialize)]
pub(crate) struct RenderReport {
    pub images: Vec<Rendered>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Rendered {
    pub image: String,
    pub dockerfile: String,
    /// Where it was written, with `--out` (as text: see `path_text`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

pub(crate) fn run(
    settings: &Settings,
    selection: &Selection,
    out: Option<&Path>,
) -> Result<Finished<RenderReport>, Diagnostics> {
    let workspace = Workspace::open(settings)?;
    let selected = workspace.select(selection)?;
    let pins = plan::resolve(
        &workspace.catalog,
        &workspace.lock,
        &selected,
        Unlocked::Unpin,
    )?;
    let unpinned = unpinned_mirrors(&workspace, &pins, &selected);
    if unpinned.has_errors() {
        return Err(unpinned);
    }
    // Everything is rendered before anything is written: a failure leaves the output directory as it was.
    let mut images: Vec<Rendered> = pins
        .iter()
        .filter_map(|(name, pin)| match pin {
            Pin::Built(built) => Some(Rendered {
                image: name.clone(),
                dockerfile: built.dockerfile.clone(),
                path: None,
            }),
            _ => None,
        })
        .collect();
    if let Some(dir) = out {
        std::fs::create_dir_all(dir).map_err(|e| io_error("create", dir, e))?;
        for rendered in &mut images {
            let path = dir.join(format!("{}.Dockerfile", rendered.image));
            write_atomic(&path, rendered.dockerfile.as_bytes())
                .map_err(|e| io_error("write", &path, e))?;
            rendered.path = Some(path.display().to_string());
        }
    }
    Ok(Finished::new(
        RenderReport { images },
        workspace.warnings,
        Outcome::Success,
    ))
}

/// One error per mirror that the lock file does not cover, naming the selected images it holds back:
/// the root cause, not one error per blocked image.
fn unpinned_mirrors(
    workspace: &Workspace,
    pins: &IndexMap<String, Pin>,
    selected: &[String],
) -> Diagnostics {
    let mut diagnostics = Diagnostics::default();
    for (name, pin) in pins {
        let image = &workspace.catalog.images[name];
        let (Pin::Unpinned { why, fix }, Some(mirror)) = (pin, image.as_mirror()) else {
            continue;
        };
        let blocked: Vec<String> = workspace
            .graph
            .descendants(name)
            .into_iter()
            .filter(|d| selected.contains(d))
            .collect();
        let mut diagnostic = crate::plan::unpinned_mirror(name, why)
            .at(workspace.catalog.locate(mirror.span))
            .help(format!("run `{fix}` first"));
        if !blocked.is_empty() {
            diagnostic =
                diagnostic.note(format!("cannot render without it: {}", blocked.join(", ")));
        }
        diagnostics.push(diagnostic);
    }
    diagnostics
}
