//! `baseimg graph`: which image is built from which, drawn by the report stage as text, Graphviz or
//! Mermaid.

use serde::Serialize;

use super::{Finished, Outcome, Selection, Settings, Workspace};
use crate::catalog::ImageKind;
use crate::diagnostic::Diagnostics;

#[derive(Debug, Serialize)]
pub(crate) struct GraphReport {
    /// The selected images in build order (parents first).
    pub images: Vec<GraphNode>,
    /// How the text output draws it.
    #[serde(skip)]
    pub format: GraphFormat,
}

#[derive(Debug, Serialize)]
pub(crate) struct GraphNode {
    pub image: String,
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// A mirror's upstream reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// A built image's moving tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum GraphFormat {
    /// Graphviz, for `dot -Tsvg`.
    Dot,
    /// A Mermaid flowchart, for Markdown that renders it.
    Mermaid,
    /// An indented tree, each image under its parent.
    Text,
}

impl GraphReport {
    /// The selected images that are built directly on `name`.
    pub(crate) fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a GraphNode> {
        self.images
            .iter()
            .filter(move |node| node.parent.as_deref() == Some(name))
    }
}

pub(crate) fn run(
    settings: &Settings,
    selection: &Selection,
    format: GraphFormat,
) -> Result<Finished<GraphReport>, Diagnostics> {
    let workspace = Workspace::open(settings)?;
    let selected = workspace.select(selection)?;
    let images = selected
        .iter()
        .map(|name| {
            let image = &workspace.catalog.images[name];
            let mut node = GraphNode {
                image: name.clone(),
                kind: "mirror",
                parent: None,
                upstream: None,
                tags: Vec::new(),
            };
            match &image.kind {
                ImageKind::Mirror(mirror) => node.upstream = Some(mirror.upstream.to_string()),
                ImageKind::Recipe(build) => {
                    node.kind = "build";
                    node.parent = Some(build.parent.clone());
                    node.tags = build.tags.clone();
                }
            }
            node
        })
        .collect();
    Ok(Finished::new(
        GraphReport { images, format },
        workspace.warnings,
        Outcome::Success,
    ))
}
