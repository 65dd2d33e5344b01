//! The dependency graph: which image is built from which, in what order, and what a selection needs.
//!
//! Edges point from parent to child, so a topological order is a valid build order. Order among
//! independent images follows the catalog, which keeps every listing and plan deterministic.

use std::collections::{BTreeSet, HashMap};

use petgraph::Direction;
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::{Dfs, Reversed};

use crate::catalog::Catalog;
use crate::diagnostic::{Code, Diagnostic, Diagnostics};

#[derive(Debug, Clone)]
pub struct Graph {
    graph: DiGraph<String, ()>,
    index: HashMap<String, NodeIndex>,
    /// Every image, parents before children.
    order: Vec<String>,
}

impl Graph {
    /// Builds the graph, refusing cycles with the whole cycle spelled out.
    pub fn build(catalog: &Catalog) -> Result<Graph, Diagnostics> {
        let mut graph = DiGraph::new();
        let mut index = HashMap::new();
        for name in catalog.images.keys() {
            index.insert(name.clone(), graph.add_node(name.clone()));
        }
        for image in catalog.images.values() {
            if let Some(parent) = image.parent()
                && let (Some(&from), Some(&to)) = (index.get(parent), index.get(&image.name))
            {
                graph.add_edge(from, to, ());
            }
        }

        let mut diagnostics = Diagnostics::default();
        for component in tarjan_scc(&graph) {
            let is_cycle = component.len() > 1 || graph.contains_edge(component[0], component[0]);
            // A self-reference is already reported by the catalog with its exact position.
            if component.len() > 1 && is_cycle {
                diagnostics.push(cycle_diagnostic(
                    catalog,
                    &cycle_path(&graph, &component, catalog),
                ));
            }
        }
        if diagnostics.has_errors() {
            return Err(diagnostics);
        }

        let order = stable_topological_order(&graph, catalog);
        Ok(Graph {
            graph,
            index,
            order,
        })
    }

    /// Every image, parents before children.
    pub fn order(&self) -> &[String] {
        &self.order
    }

    pub fn parents(&self, name: &str) -> Vec<&str> {
        self.neighbors(name, Direction::Incoming)
    }

    pub fn children(&self, name: &str) -> Vec<&str> {
        self.neighbors(name, Direction::Outgoing)
    }

    fn neighbors(&self, name: &str, direction: Direction) -> Vec<&str> {
        let Some(&node) = self.index.get(name) else {
            return Vec::new();
        };
        let mut names: Vec<&str> = self
            .graph
            .neighbors_directed(node, direction)
            .map(|n| self.graph[n].as_str())
            .collect();
        names.sort_by_key(|n| self.position(n));
        names
    }

    fn position(&self, name: &str) -> usize {
        self.order
            .iter()
            .position(|n| n == name)
            .unwrap_or(usize::MAX)
    }

    /// The images a command works on, in build order: the named ones and everything they are built
    /// from; with `with_dependents`, also everything built on them (and what that needs). No names
    /// selects the whole catalog.
    pub fn select(
        &self,
        names: &[String],
        with_dependents: bool,
    ) -> Result<Vec<String>, Diagnostics> {
        if names.is_empty() {
            return Ok(self.order.clone());
        }
        let mut diagnostics = Diagnostics::default();
        let mut roots = Vec::new();
        for name in names {
            match self.index.get(name) {
                Some(&node) => roots.push(node),
                None => diagnostics.push(crate::catalog::unknown_image(
                    name,
                    self.order.iter().map(String::as_str),
                )),
            }
        }
        if diagnostics.has_errors() {
            return Err(diagnostics);
        }

        let mut wanted = BTreeSet::new();
        if with_dependents {
            for &root in &roots.clone() {
                let mut dfs = Dfs::new(&self.graph, root);
                while let Some(node) = dfs.next(&self.graph) {
                    roots.push(node);
                }
            }
        }
        let reversed = Reversed(&self.graph);
        for root in roots {
            let mut dfs = Dfs::new(reversed, root);
            while let Some(node) = dfs.next(reversed) {
                wanted.insert(node);
            }
        }
        Ok(self
            .order
            .iter()
            .filter(|name| wanted.contains(&self.index[name.as_str()]))
            .cloned()
            .collect())
    }

    /// Every image that is built, directly or not, on top of `name` (not including `name`).
    pub fn descendants(&self, name: &str) -> Vec<String> {
        let Some(&start) = self.index.get(name) else {
            return Vec::new();
        };
        let mut dfs = Dfs::new(&self.graph, start);
        let mut found = BTreeSet::new();
        while let Some(node) = dfs.next(&self.graph) {
            if node != start {
                found.insert(node);
            }
        }
        self.order
            .iter()
            .filter(|n| found.contains(&self.index[n.as_str()]))
            .cloned()
            .collect()
    }
}

/// A cycle `a → c → b → a`, drawn at every `from:` on it: each image is built from the next one.
fn cycle_diagnostic(catalog: &Catalog, cycle: &[String]) -> Diagnostic {
    let mut diagnostic = Diagnostic::new(
        Code::GraphDependencyCycle,
        format!("dependency cycle: {}", cycle.join(" → ")),
    )
    .image(&cycle[0])
    .note("each image is built `from` the next one; none of them can be built first")
    .help("break the cycle by changing one `from`");
    for (index, pair) in cycle.windows(2).enumerate() {
        let (child, parent) = (&pair[0], &pair[1]);
        let Some(build) = catalog.images.get(child).and_then(|i| i.as_build()) else {
            continue;
        };
        let at = catalog.locate(build.parent_span);
        let label = format!("`{child}` is built from `{parent}`");
        diagnostic = if index == 0 {
            diagnostic.at(at).label(label)
        } else {
            diagnostic.related(at, label)
        };
    }
    diagnostic
}

/// Kahn's algorithm, always taking the ready image that comes first in the catalog.
fn stable_topological_order(graph: &DiGraph<String, ()>, catalog: &Catalog) -> Vec<String> {
    let rank: HashMap<&str, usize> = catalog
        .images
        .keys()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let mut waiting: HashMap<NodeIndex, usize> = graph
        .node_indices()
        .map(|n| (n, graph.neighbors_directed(n, Direction::Incoming).count()))
        .collect();
    let mut ready: BTreeSet<(usize, NodeIndex)> = waiting
        .iter()
        .filter(|(_, count)| **count == 0)
        .map(|(&n, _)| (rank[graph[n].as_str()], n))
        .collect();
    let mut order = Vec::with_capacity(graph.node_count());
    while let Some(first) = ready.pop_first() {
        let node = first.1;
        order.push(graph[node].clone());
        for child in graph.neighbors_directed(node, Direction::Outgoing) {
            let count = waiting.get_mut(&child).expect("every node has a count");
            *count -= 1;
            if *count == 0 {
                ready.insert((rank[graph[child].as_str()], child));
            }
        }
    }
    order
}

/// Spells out a cycle inside a strongly connected component, starting from the image written first in
/// the catalog and following `from` until it comes back: `a → b → c → a`.
fn cycle_path(
    graph: &DiGraph<String, ()>,
    component: &[NodeIndex],
    catalog: &Catalog,
) -> Vec<String> {
    let rank = |n: &NodeIndex| {
        catalog
            .images
            .get_index_of(&graph[*n])
            .unwrap_or(usize::MAX)
    };
    let start = *component
        .iter()
        .min_by_key(|n| rank(n))
        .expect("a component is never empty");
    let mut path = vec![graph[start].clone()];
    let mut current = start;
    // Walk child → parent (`from`), staying inside the component; one parent per image makes this a
    // single loop, and the step bound guards against surprises.
    for _ in 0..=component.len() {
        let next = graph
            .neighbors_directed(current, Direction::Incoming)
            .filter(|n| component.contains(n))
            .min_by_key(rank);
        let Some(next) = next else { break };
        path.push(graph[next].clone());
        if next == start {
            break;
        }
        current = next;
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::LoadOptions;
    use std::path::Path;

    fn catalog(text: &str) -> Catalog {
        Catalog::parse(Path::new("c.yaml"), text.into(), &LoadOptions::default())
            .unwrap()
            .0
    }

    const CHAIN: &str = "registry: r.example/b\nimages:\n  app:\n    from: python\n  python:\n    from: up\n  up:\n    mirror: python:3.11\n  redis-up:\n    mirror: redis:7\n  redis:\n    from: redis-up\n";

    #[test]
    fn orders_parents_first_and_keeps_catalog_order_otherwise() {
        let catalog = catalog(CHAIN);
        let graph = Graph::build(&catalog).unwrap();
        assert_eq!(graph.order(), ["up", "python", "app", "redis-up", "redis"]);
    }

    #[test]
    fn selection_pulls_in_what_an_image_needs() {
        let catalog = catalog(CHAIN);
        let graph = Graph::build(&catalog).unwrap();
        assert_eq!(
            graph.select(&["python".into()], false).unwrap(),
            ["up", "python"]
        );
        assert_eq!(
            graph.select(&["python".into()], true).unwrap(),
            ["up", "python", "app"]
        );
        assert_eq!(graph.descendants("up"), ["python", "app"]);
        assert!(
            graph
                .select(&["pyhton".into()], false)
                .unwrap_err()
                .to_string()
                .contains("did you mean `python`?")
        );
    }

    #[test]
    fn spells_out_the_whole_cycle() {
        let catalog = catalog(
            "registry: r.example/b\nimages:\n  a:\n    from: c\n  b:\n    from: a\n  c:\n    from: b\n  d:\n    mirror: x:1\n",
        );
        let errors = Graph::build(&catalog).unwrap_err();
        assert_eq!(errors.0.len(), 1);
        assert_eq!(errors.0[0].message, "dependency cycle: a → c → b → a");
        let rendered = errors.to_string();
        for (line, label) in [
            ("4 |     from: c", "^ `a` is built from `c`"),
            ("8 |     from: b", "- `c` is built from `b`"),
            ("6 |     from: a", "- `b` is built from `a`"),
        ] {
            assert!(rendered.contains(line), "{rendered}");
            assert!(rendered.contains(label), "{rendered}");
        }
    }
}
