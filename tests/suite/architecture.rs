//! ARCHITECTURE.md's invariants, checked from the source: each file's `use crate::…` lines (and the
//! paths it names inline) make a graph of files, and the graph must have the shape the document
//! promises. A new edge that points up, or a cycle, fails here with the lines that make it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Modules every layer may use; they import only each other.
const LEAVES: &[&str] = &[
    "clock",
    "daemon_address",
    "diagnostic",
    "fsutil",
    "platform",
    "reference",
    "text",
    "timeline",
    "yaml",
];

/// The layers above the domain: nothing below them may import them.
const ABOVE_DOMAIN: &[&str] = &["cli", "commands", "report"];

/// Where printing may happen: the report stage and the live progress display.
const MAY_PRINT: &[&str] = &["report", "progress"];

/// A file of `src/` as a module path (`executor/journal.rs` → `["executor", "journal"]`).
type Module = Vec<String>;

struct File {
    path: PathBuf,
    /// The code without comments, string literals and `#[cfg(test)]` modules, line breaks kept.
    code: String,
}

/// One import: what it names, and the line it is on.
struct Import {
    target: Module,
    line: usize,
}

struct Source {
    files: BTreeMap<Module, File>,
    /// `pub use` re-exports: (module, name) → the full path it stands for.
    reexports: BTreeMap<(Module, String), Vec<String>>,
}

impl Source {
    fn read() -> Source {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = BTreeMap::new();
        for entry in walk(&root) {
            let relative = entry.strip_prefix(&root).unwrap();
            let text = std::fs::read_to_string(&entry).unwrap();
            files.insert(
                module_of(relative),
                File {
                    path: Path::new("src").join(relative),
                    code: without_tests(&code_only(&text)),
                },
            );
        }
        let mut source = Source {
            files,
            reexports: BTreeMap::new(),
        };
        let mut reexports = BTreeMap::new();
        for (module, file) in &source.files {
            for (tree, _) in use_statements(&file.code, true) {
                for path in expand(&tree) {
                    if let Some(full) = source.absolute(module, &path) {
                        reexports.insert((module.clone(), path.last().unwrap().clone()), full);
                    }
                }
            }
        }
        source.reexports = reexports;
        source
    }

    /// `path` as written in `module`, from the crate root; `None` for another crate's path.
    fn absolute(&self, module: &Module, path: &[String]) -> Option<Vec<String>> {
        let (first, rest) = path.split_first()?;
        match first.as_str() {
            "crate" => Some(rest.to_vec()),
            "self" => Some([module.as_slice(), rest].concat()),
            "super" => {
                let mut base = module.clone();
                let mut rest = path;
                while rest.first().is_some_and(|s| s == "super") {
                    base.pop();
                    rest = &rest[1..];
                }
                Some([base.as_slice(), rest].concat())
            }
            // A child module named without `self::`.
            _ if self
                .files
                .contains_key(&[module.as_slice(), std::slice::from_ref(first)].concat()) =>
            {
                Some([module.as_slice(), path].concat())
            }
            _ => None,
        }
    }

    /// The file a path from the crate root leads to: its longest module prefix, followed through
    /// `pub use` re-exports to where the item is defined.
    fn file_of(&self, path: &[String]) -> Option<Module> {
        let mut path = path.to_vec();
        for _ in 0..16 {
            let prefix = (1..=path.len())
                .rev()
                .find(|&n| self.files.contains_key(&path[..n]))?;
            let module = path[..prefix].to_vec();
            match path.get(prefix) {
                Some(name) if self.reexports.contains_key(&(module.clone(), name.clone())) => {
                    let target = &self.reexports[&(module, name.clone())];
                    path = [target.as_slice(), &path[prefix + 1..]].concat();
                }
                _ => return Some(module),
            }
        }
        None
    }

    /// Every other file of `src/` that `module` imports, with the line of each import.
    fn imports(&self, module: &Module) -> Vec<Import> {
        let code = &self.files[module].code;
        let mut named = Vec::new();
        for (tree, line) in use_statements(code, false) {
            for path in expand(&tree) {
                named.push((path, line));
            }
        }
        for (path, line) in inline_paths(&without_reexports(code)) {
            named.push((path, line));
        }
        let mut imports = Vec::new();
        for (path, line) in named {
            let Some(full) = self.absolute(module, &path) else {
                continue;
            };
            if let Some(target) = self.file_of(&full)
                && &target != module
                && !target.is_empty()
            {
                imports.push(Import { target, line });
            }
        }
        imports
    }

    fn graph(&self) -> BTreeMap<Module, BTreeMap<Module, usize>> {
        self.files
            .keys()
            .map(|module| {
                let mut targets = BTreeMap::new();
                for import in self.imports(module) {
                    targets.entry(import.target).or_insert(import.line);
                }
                (module.clone(), targets)
            })
            .collect()
    }

    fn where_(&self, module: &Module, line: usize) -> String {
        format!("{}:{line}", self.files[module].path.display())
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn module_of(relative: &Path) -> Module {
    let mut parts: Vec<String> = relative
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

fn name(module: &Module) -> String {
    if module.is_empty() {
        "lib".into()
    } else {
        module.join("/")
    }
}

/// `text` with comments, string and character literals blanked (line breaks kept, so line numbers
/// stay right).
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !ident_before(&chars, i) {
            // A raw string: r"…", r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            out.push('"');
            j += 1;
            let close: String = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            while j < chars.len() {
                let rest: String = chars[j..(j + close.len()).min(chars.len())]
                    .iter()
                    .collect();
                if rest == close {
                    j += close.len();
                    break;
                }
                out.push(blank(chars[j]));
                j += 1;
            }
            out.push('"');
            i = j;
        } else if c == '"' {
            out.push('"');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < chars.len() {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
            out.push('"');
            i += 1;
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{1b}'), not a lifetime ('a).
            let close = if next == Some('\\') {
                chars[i + 2..]
                    .iter()
                    .position(|&c| c == '\'')
                    .map(|p| i + 2 + p)
            } else if chars.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match close {
                Some(end) => {
                    out.push_str("' '");
                    i = end + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_before(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

/// `code` without its `#[cfg(test)]` items: tests may reach anywhere.
fn without_tests(code: &str) -> String {
    let mut out = code.to_string();
    while let Some(at) = out.find("#[cfg(test)]") {
        let after = &out[at..];
        let Some(open) = after.find('{') else { break };
        let semicolon = after.find(';').unwrap_or(usize::MAX);
        let end = if semicolon < open {
            at + semicolon + 1
        } else {
            let mut depth = 0;
            let mut end = out.len();
            for (k, c) in after[open..].char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = at + open + k + 1;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            end
        };
        let kept_lines = out[at..end].matches('\n').count();
        out.replace_range(at..end, &"\n".repeat(kept_lines));
    }
    out
}

/// The trees of `use` statements (`a::{b, c::d}`) with their line; `reexports` picks `pub use`
/// ones (re-exports), otherwise the private ones.
fn use_statements(code: &str, reexports: bool) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let mut from = 0;
    while let Some(found) = code[from..].find("use ") {
        let at = from + found;
        from = at + 4;
        if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_') {
            continue;
        }
        let before = code[..at].trim_end();
        let public = before.ends_with("pub") || before.ends_with(')') && before.contains("pub(");
        let statement_start = before.is_empty() || before.ends_with([';', '{', '}', ']']) || public;
        if !statement_start || public != reexports {
            continue;
        }
        let Some(end) = code[at..].find(';') else {
            break;
        };
        let line = code[..at].matches('\n').count() + 1;
        out.push((code[at + 4..at + end].to_string(), line));
    }
    out
}

/// `code` with its `pub use` statements blanked: a module's re-exports are its face, not imports
/// (the importer's edge goes to where the item is defined, see [`Source::file_of`]).
fn without_reexports(code: &str) -> String {
    let mut out = code.to_string();
    for (tree, _) in use_statements(code, true) {
        if let Some(at) = out.find(&format!("use {tree};")) {
            let end = at + tree.len() + 5;
            let blank: String = out[at..end]
                .chars()
                .map(|c| if c == '\n' { '\n' } else { ' ' })
                .collect();
            out.replace_range(at..end, &blank);
        }
    }
    out
}

/// The paths a use tree names: `a::{b, c::{d, e as f}}` → `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<Vec<String>> {
    fn go(tree: &str, prefix: &[String], out: &mut Vec<Vec<String>>) {
        let tree = tree.trim();
        if tree.is_empty() {
            return;
        }
        if let Some(inner) = tree.strip_prefix('{') {
            let inner = &inner[..inner.rfind('}').unwrap_or(inner.len())];
            let mut depth = 0;
            let mut start = 0;
            for (k, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        go(&inner[start..k], prefix, out);
                        start = k + 1;
                    }
                    _ => {}
                }
            }
            go(&inner[start..], prefix, out);
            return;
        }
        match tree.split_once("::") {
            Some((head, rest)) if !head.contains('{') => {
                let mut prefix = prefix.to_vec();
                prefix.push(head.trim().to_string());
                go(rest, &prefix, out);
            }
            _ => {
                let name = tree.split(" as ").next().unwrap_or(tree).trim();
                let mut path = prefix.to_vec();
                if name != "self" && name != "*" {
                    path.push(name.to_string());
                }
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    go(tree, &[], &mut out);
    out
}

/// `crate::a::b`, `super::c` and `child::d` written in code rather than in a `use`.
fn inline_paths(code: &str) -> Vec<(Vec<String>, usize)> {
    let mut out = Vec::new();
    let chars: Vec<char> = code.chars().collect();
    let mut line = 1;
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '\n' {
            line += 1;
        }
        let starts = (chars[i].is_ascii_lowercase() || chars[i] == '_')
            && (i == 0
                || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_' || chars[i - 1] == ':'));
        if !starts {
            i += 1;
            continue;
        }
        let mut segments = Vec::new();
        let mut j = i;
        loop {
            let start = j;
            while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
                j += 1;
            }
            if start == j {
                break;
            }
            segments.push(chars[start..j].iter().collect::<String>());
            if chars.get(j) == Some(&':') && chars.get(j + 1) == Some(&':') {
                j += 2;
            } else {
                break;
            }
        }
        if segments.len() > 1 {
            out.push((segments, line));
        }
        i = j.max(i + 1);
    }
    out
}

/// The strongly connected components of more than one file (Tarjan's algorithm).
fn cycles(graph: &BTreeMap<Module, BTreeMap<Module, usize>>) -> Vec<Vec<Module>> {
    struct State<'a> {
        graph: &'a BTreeMap<Module, BTreeMap<Module, usize>>,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        on_stack: BTreeSet<&'a Module>,
        found: Vec<Vec<Module>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a Module) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph[v].keys() {
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.clone());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !state.index.contains_key(v) {
            visit(&mut state, v);
        }
    }
    state.found
}

fn top(module: &Module) -> &str {
    module.first().map_or("lib", String::as_str)
}

#[test]
fn no_two_files_of_src_import_each_other_even_through_others() {
    let source = Source::read();
    let graph = source.graph();
    let mut report = String::new();
    for component in cycles(&graph) {
        report.push_str(&format!(
            "a cycle through {} files: {}\n",
            component.len(),
            component.iter().map(name).collect::<Vec<_>>().join(", ")
        ));
        let members: BTreeSet<&Module> = component.iter().collect();
        for from in &component {
            for (to, line) in &graph[from] {
                if members.contains(to) {
                    report.push_str(&format!(
                        "  {} → {}  ({})\n",
                        name(from),
                        name(to),
                        source.where_(from, *line)
                    ));
                }
            }
        }
    }
    assert!(report.is_empty(), "import cycles in src/:\n{report}");
}

impl Source {
    /// `from → to (file:line)` for every import of a file `from` picks to a file `to` picks.
    fn edges_where(
        &self,
        from: impl Fn(&Module) -> bool,
        to: impl Fn(&Module, &Module) -> bool,
    ) -> String {
        let mut report = String::new();
        for (module, targets) in self.graph() {
            if !from(&module) {
                continue;
            }
            for (target, line) in targets {
                if to(&module, &target) {
                    report.push_str(&format!(
                        "{} imports {} ({})\n",
                        name(&module),
                        name(&target),
                        self.where_(&module, line)
                    ));
                }
            }
        }
        report
    }

    /// `file:line: code` for every line of code of a file `from` picks that `found` says is one.
    fn lines_where(&self, from: impl Fn(&Module) -> bool, found: impl Fn(&str) -> bool) -> String {
        let mut report = String::new();
        for (module, file) in &self.files {
            if !from(module) {
                continue;
            }
            for (n, line) in file.code.lines().enumerate() {
                if found(line) {
                    report.push_str(&format!(
                        "{}:{}: {}\n",
                        file.path.display(),
                        n + 1,
                        line.trim()
                    ));
                }
            }
        }
        report
    }
}

#[test]
fn the_domain_and_the_leaves_import_nothing_above_them() {
    let source = Source::read();
    let report = source.edges_where(
        |module| !module.is_empty() && !ABOVE_DOMAIN.contains(&top(module)),
        |module, target| {
            let above = ABOVE_DOMAIN.contains(&top(target));
            let leaf_reaching_up = LEAVES.contains(&top(module)) && !LEAVES.contains(&top(target));
            above || leaf_reaching_up
        },
    );
    assert!(report.is_empty(), "imports that point up:\n{report}");
}

#[test]
fn commands_hand_their_reports_up_and_never_draw_them() {
    let source = Source::read();
    let report = source.edges_where(
        |module| top(module) == "commands",
        |_, target| matches!(top(target), "report" | "cli"),
    );
    assert!(
        report.is_empty(),
        "commands that reach the report or cli:\n{report}"
    );
}

#[test]
fn nothing_prints_outside_the_report_and_the_progress_display() {
    let source = Source::read();
    let printing = [
        "println!",
        "eprintln!",
        "print!",
        "eprint!",
        "stdout()",
        "stderr()",
        "dbg!",
    ];
    let report = source.lines_where(
        |module| !MAY_PRINT.contains(&top(module)),
        |line| {
            printing.iter().any(|word| {
                line.find(word).is_some_and(|at| {
                    !line[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_')
                })
            })
        },
    );
    assert!(
        report.is_empty(),
        "printing outside report/ and progress:\n{report}"
    );
}

#[test]
fn planning_reads_files_and_the_private_registry_and_changes_nothing() {
    let source = Source::read();
    let forbidden = [
        "docker", "executor", "mirror", "upstream", "service", "smoke",
    ];
    let writes = [
        "fs::write",
        "File::create",
        "write_atomic",
        "create_dir",
        ".put_manifest",
        ".upload",
        ".mount",
        ".delete",
    ];
    let planning = |module: &Module| top(module) == "plan";
    let mut report = source.edges_where(planning, |_, target| forbidden.contains(&top(target)));
    report.push_str(&source.lines_where(planning, |line| {
        writes.iter().any(|word| line.contains(word))
    }));
    assert!(
        report.is_empty(),
        "planning that does more than read:\n{report}"
    );
}

#[test]
fn every_top_level_module_has_its_paragraph_in_architecture_md() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let document = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let source = Source::read();
    let tops: BTreeSet<&str> = source
        .files
        .keys()
        .filter(|m| !m.is_empty())
        .map(top)
        .collect();
    let missing: Vec<&str> = tops
        .iter()
        .copied()
        .filter(|m| !document.contains(&format!("`{m}`")) && !document.contains(&format!("`{m}/`")))
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md does not name: {missing:?}"
    );
    assert!(
        document.contains("Architecture invariant:"),
        "ARCHITECTURE.md states no invariant"
    );
}

#[test]
fn the_reader_sees_what_the_compiler_sees() {
    // The checks above are only as good as their reading of the source: a few known edges and
    // non-edges, so a parser that silently reads nothing fails here.
    let source = Source::read();
    let graph = source.graph();
    let edge = |from: &str, to: &str| {
        let from: Module = from.split('/').map(String::from).collect();
        let to: Module = to.split('/').map(String::from).collect();
        graph
            .get(&from)
            .is_some_and(|targets| targets.contains_key(&to))
    };
    assert!(edge("cli", "commands"), "cli uses commands");
    assert!(edge("lock", "reference"), "the lock file pins references");
    assert!(
        edge("executor", "docker"),
        "the executor builds through the daemon"
    );
    assert!(!edge("reference", "catalog"), "a leaf reads no catalog");
    assert!(graph.len() > 60, "only {} files read", graph.len());
    let code = code_only("let a = \"crate::report::x\"; // crate::cli::y\nuse crate::text::count;");
    assert!(!code.contains("report") && !code.contains("cli"), "{code}");
    assert_eq!(
        expand("crate::{a::{b, c as d}, e}"),
        vec![
            vec!["crate", "a", "b"],
            vec!["crate", "a", "c"],
            vec!["crate", "e"]
        ]
    );
}
