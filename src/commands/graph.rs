//! `baseimg graph`: which image is built from which, as text, Graphviz or Mermaid.

use serde::Serialize;

use super::{Finished, Outcome, Selection, Settings, Workspace};
use crate::diagnostic::Diagnostics;
use crate::graph::{GraphFormat, render_graph};

#[derive(Debug, Serialize)]
pub struct GraphReport {
    /// The selected images in build order, each with its parent.
    pub images: Vec<GraphNode>,
    /// The drawing in the requested format (what the text output shows).
    #[serde(skip)]
    pub drawing: String,
}

#[derive(Debug, Serialize)]
pub struct GraphNode {
    pub image: String,
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

pub fn run(
    settings: &Settings,
    selection: &Selection,
    format: GraphFormat,
) -> Result<Finished<GraphReport>, Diagnostics> {
    let workspace = Workspace::open(settings)?;
    let selected = workspace.select(selection)?;
    let drawing = render_graph(&workspace.graph, &workspace.catalog, &selected, format);
    let images = selected
        .iter()
        .map(|name| {
            let image = &workspace.catalog.images[name];
            GraphNode {
                image: name.clone(),
                kind: if image.as_mirror().is_some() {
                    "mirror"
                } else {
                    "build"
                },
                parent: image.parent().map(str::to_string),
            }
        })
        .collect();
    Ok(Finished::new(
        GraphReport { images, drawing },
        workspace.warnings,
        Outcome::Success,
    ))
}
