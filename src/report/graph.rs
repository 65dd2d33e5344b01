//! Text for `baseimg graph`: the build graph as indented text, Graphviz (`dot`) or Mermaid, parents
//! before children. Only the selected images and the edges between them are drawn.

use std::fmt::Write as _;

use super::Text;
use crate::commands::graph::{GraphFormat, GraphNode, GraphReport};

impl Text for GraphReport {
    fn text(&self) -> String {
        match self.format {
            GraphFormat::Dot => dot(self),
            GraphFormat::Mermaid => mermaid(self),
            GraphFormat::Text => {
                let mut out = String::new();
                let selected = |name: &str| self.images.iter().any(|n| n.image == name);
                for root in &self.images {
                    if !root.parent.as_deref().is_some_and(selected) {
                        indented(self, root, 0, &mut out);
                    }
                }
                out
            }
        }
    }
}

/// `name` over a line saying what it is (`\n` as the drawing tools write a line break).
fn label(node: &GraphNode) -> String {
    match &node.upstream {
        Some(upstream) => format!("{}\\n(mirror {upstream})", node.image),
        None => format!("{}\\n({})", node.image, node.tags.join(", ")),
    }
}

fn dot(report: &GraphReport) -> String {
    let mut out = String::from(
        "digraph baseimg {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n",
    );
    for node in &report.images {
        let style = if node.upstream.is_some() {
            ", style=dashed"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  \"{}\" [label=\"{}\"{style}];",
            node.image,
            label(node)
        );
    }
    for node in &report.images {
        for child in report.children(&node.image) {
            let _ = writeln!(out, "  \"{}\" -> \"{}\";", node.image, child.image);
        }
    }
    out.push_str("}\n");
    out
}

fn mermaid(report: &GraphReport) -> String {
    let id = |name: &str| name.replace(['.', '-'], "_");
    let mut out = String::from("flowchart LR\n");
    for node in &report.images {
        let text = label(node).replace("\\n", "<br/>");
        let (open, close) = if node.upstream.is_some() {
            ("[/", "/]")
        } else {
            ("[", "]")
        };
        let _ = writeln!(out, "  {}{open}\"{text}\"{close}", id(&node.image));
    }
    for node in &report.images {
        for child in report.children(&node.image) {
            let _ = writeln!(out, "  {} --> {}", id(&node.image), id(&child.image));
        }
    }
    out
}

fn indented(report: &GraphReport, node: &GraphNode, depth: usize, out: &mut String) {
    let detail = match &node.upstream {
        Some(upstream) => format!("mirror of {upstream}"),
        None => format!("built, tags {}", node.tags.join(", ")),
    };
    let _ = writeln!(out, "{}{} ({detail})", "  ".repeat(depth), node.image);
    for child in report.children(&node.image) {
        indented(report, child, depth + 1, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(image: &str, parent: Option<&str>) -> GraphNode {
        GraphNode {
            image: image.into(),
            kind: if parent.is_some() { "build" } else { "mirror" },
            parent: parent.map(str::to_string),
            upstream: parent
                .is_none()
                .then(|| "docker.io/library/python:3.11".to_string()),
            tags: if parent.is_some() {
                vec!["latest".into()]
            } else {
                Vec::new()
            },
        }
    }

    fn chain(format: GraphFormat) -> GraphReport {
        GraphReport {
            images: vec![
                node("up", None),
                node("python", Some("up")),
                node("app", Some("python")),
            ],
            format,
        }
    }

    #[test]
    fn text_graph_nests_children() {
        assert_eq!(
            chain(GraphFormat::Text).text(),
            "up (mirror of docker.io/library/python:3.11)\n  python (built, tags latest)\n    app (built, tags latest)\n"
        );
    }

    #[test]
    fn dot_and_mermaid_draw_every_edge_once() {
        let dot = chain(GraphFormat::Dot).text();
        assert!(
            dot.contains("  \"up\" -> \"python\";\n  \"python\" -> \"app\";\n}\n"),
            "{dot}"
        );
        assert!(
            dot.contains(
                "\"up\" [label=\"up\\n(mirror docker.io/library/python:3.11)\", style=dashed];"
            ),
            "{dot}"
        );
        let mermaid = chain(GraphFormat::Mermaid).text();
        assert!(
            mermaid.ends_with("  up --> python\n  python --> app\n"),
            "{mermaid}"
        );
    }

    #[test]
    fn a_selection_without_its_parent_starts_at_the_selected_image() {
        let report = GraphReport {
            images: vec![node("app", Some("python"))],
            format: GraphFormat::Text,
        };
        assert_eq!(report.text(), "app (built, tags latest)\n");
    }
}
