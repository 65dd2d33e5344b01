//! Dockerfiles rendered from `templates/` with minijinja.
//!
//! Strict undefined: a variable the template uses but nobody defined is an error, never an empty
//! string in a Dockerfile. The template sees the image's variables (catalog `vars` overridden by the
//! image's), `from` (the parent's pinned private reference), `parent`, `image`, `registry` and
//! `labels`. After rendering, the result is checked against contract 1 (every `FROM` is the pinned
//! parent or an earlier stage) and its `COPY`/`ADD` sources are looked up in the build context.

use std::path::{Path, PathBuf};

use globset::GlobBuilder;
use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value, context};

use crate::catalog::{Build, Catalog, Image};
use crate::context::Entry;
use crate::diagnostic::{Diagnostic, Diagnostics, SourceLocation, SourceText};
use crate::dockerfile;

/// The parent an image is rendered on top of.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ParentRef {
    pub name: String,
    /// What `FROM {{ from }}` writes: `<registry>/<repository>:<tag>@sha256:…` for a mirror,
    /// `<registry>/<repository>:<version>-<fingerprint12>` for a built parent (its digest is only
    /// known once it is built; the build step appends it).
    pub reference: String,
    pub repository: String,
}

pub struct Renderer {
    env: Environment<'static>,
    templates_dir: PathBuf,
}

impl Renderer {
    pub fn new(catalog: &Catalog) -> Renderer {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_keep_trailing_newline(true);
        env.set_loader(minijinja::path_loader(&catalog.templates_dir));
        Renderer {
            env,
            templates_dir: catalog.templates_dir.clone(),
        }
    }

    /// Renders the Dockerfile of a built image.
    pub fn render(
        &self,
        catalog: &Catalog,
        image: &Image,
        build: &Build,
        parent: &ParentRef,
    ) -> Result<String, Diagnostics> {
        let template_path = self.templates_dir.join(&build.template);
        if !template_path.is_file() {
            return Err(self
                .missing_template(catalog, image, build, &template_path)
                .into());
        }
        let template = self
            .env
            .get_template(&build.template)
            .map_err(|e| Diagnostics::from(self.template_error(image, &e)))?;
        let labels = static_labels(catalog, image, build, parent);
        let mut values: Vec<(String, Value)> = build
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), Value::from_serialize(v)))
            .collect();
        values.push(("from".into(), Value::from(parent.reference.clone())));
        values.push(("parent".into(), Value::from_serialize(parent)));
        values.push((
            "image".into(),
            Value::from_serialize(context! {
                name => image.name,
                repository => catalog.private_repository(image),
                version => build.version,
                tags => build.tags,
                description => image.description,
            }),
        ));
        values.push(("registry".into(), Value::from(catalog.registry.clone())));
        values.push(("labels".into(), Value::from_serialize(&labels)));
        let ctx = Value::from_iter(values);
        template
            .render(ctx)
            .map_err(|e| self.template_error(image, &e).into())
    }

    fn missing_template(
        &self,
        catalog: &Catalog,
        image: &Image,
        build: &Build,
        path: &Path,
    ) -> Diagnostic {
        let mut available: Vec<String> = std::fs::read_dir(&self.templates_dir)
            .map(|dir| {
                dir.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(".j2") && !n.starts_with('_'))
                    .collect()
            })
            .unwrap_or_default();
        available.sort();
        let diagnostic = Diagnostic::error(format!(
            "template `{}` of image `{}` does not exist",
            path.display(),
            image.name
        ))
        .image(&image.name);
        match build.template_span {
            Some(span) => {
                let diagnostic = diagnostic.at(catalog.locate(span));
                match crate::diagnostic::did_you_mean(
                    &build.template,
                    available.iter().map(String::as_str),
                ) {
                    Some(hint) => diagnostic.help(hint),
                    None if available.is_empty() => {
                        diagnostic.help(format!("create it in `{}`", self.templates_dir.display()))
                    }
                    None => {
                        diagnostic.help(format!("templates available: {}", available.join(", ")))
                    }
                }
            }
            None => diagnostic.at(catalog.locate(image.span)).help(format!(
                "add `template: <file>` to the image, or create `{}` (the default for `{}`)",
                path.display(),
                image.name
            )),
        }
    }

    fn template_error(&self, image: &Image, error: &minijinja::Error) -> Diagnostic {
        let name = error.name().unwrap_or("?").to_string();
        let path = self.templates_dir.join(&name);
        let source = SourceText::from(std::fs::read_to_string(&path).unwrap_or_default());
        let snippet = error
            .range()
            .and_then(|range| source.get(range.clone()).map(|text| (range, text.trim())));
        let location = match (error.line(), &snippet) {
            (Some(_), Some((range, _))) => {
                Some(SourceLocation::new(&path, &source, trimmed(&source, range)))
            }
            (Some(line), None) => Some(SourceLocation::line_of(&path, &source, line as u64)),
            _ => None,
        };
        let (message, help) = match error.kind() {
            ErrorKind::UndefinedError => {
                let what = snippet.map(|(_, t)| t.to_string()).unwrap_or_else(|| "a value".into());
                (
                    format!("undefined template variable `{what}` in `{name}`"),
                    format!(
                        "define it under `vars:` of image `{}` or of the catalog; templates also see from, parent, image, registry and labels",
                        image.name
                    ),
                )
            }
            ErrorKind::TemplateNotFound => (
                format!("template `{name}` includes a template that does not exist: {}", error.detail().unwrap_or_default()),
                format!("shared pieces live in `{}`", self.templates_dir.display()),
            ),
            ErrorKind::SyntaxError => (
                format!("template syntax error in `{name}`: {}", error.detail().unwrap_or_default()),
                "see minijinja's syntax (Jinja2): {{ value }}, {% if %}, {% include %}, {% macro %}".into(),
            ),
            _ => (
                format!("cannot render `{name}`: {}", error.detail().unwrap_or(&error.kind().to_string())),
                "fix the template at this point".into(),
            ),
        };
        Diagnostic::error(message)
            .at(location)
            .image(&image.name)
            .help(help)
    }
}

/// Labels known before the build: the catalog's plus the OCI labels that describe the image and its
/// base. `created`, `revision`, the base digest of a built parent and the fingerprint are added by the
/// build itself, because they are not known (or would change the fingerprint) at render time.
pub fn static_labels(
    catalog: &Catalog,
    image: &Image,
    build: &Build,
    parent: &ParentRef,
) -> std::collections::BTreeMap<String, String> {
    let mut labels = build.labels.clone();
    labels.insert("org.opencontainers.image.title".into(), image.name.clone());
    labels.insert(
        "org.opencontainers.image.version".into(),
        build.version.clone(),
    );
    labels.insert(
        "org.opencontainers.image.base.name".into(),
        parent.reference.clone(),
    );
    if let Some(source) = &catalog.source_url {
        labels.insert("org.opencontainers.image.source".into(), source.clone());
    }
    if let Some(description) = &image.description {
        labels.insert(
            "org.opencontainers.image.description".into(),
            description.clone(),
        );
    }
    labels
}

/// Checks a rendered Dockerfile: bases pinned in the private registry, `COPY`/`ADD` sources present.
pub fn check_rendered(
    catalog: &Catalog,
    image: &Image,
    build: &Build,
    dockerfile: &str,
    parent: &ParentRef,
    context: Option<&[Entry]>,
) -> Diagnostics {
    let shown = PathBuf::from(format!(
        "{} (rendered)",
        catalog.templates_dir.join(&build.template).display()
    ));
    let rendered = SourceText::from(dockerfile);
    let at = |line: usize| Some(SourceLocation::line_of(&shown, &rendered, line as u64));
    let instructions = dockerfile::instructions(dockerfile);
    let froms = dockerfile::froms(&instructions);
    let mut diagnostics = check_froms(image, &froms, parent, &at);
    diagnostics.extend(check_copy_froms(catalog, image, &instructions, &froms, &at));
    if let Some(entries) = context {
        diagnostics.extend(check_sources(image, build, &instructions, entries, &at));
    }
    diagnostics
}

/// Where a rendered line is, for a diagnostic.
type At<'a> = dyn Fn(usize) -> Option<SourceLocation> + 'a;

/// Every `FROM` is the pinned parent, an earlier stage, or `scratch`.
fn check_froms(
    image: &Image,
    froms: &[dockerfile::From],
    parent: &ParentRef,
    at: &At,
) -> Diagnostics {
    let mut diagnostics = Diagnostics::default();
    if froms.is_empty() {
        diagnostics.push(
            Diagnostic::error(format!(
                "the Dockerfile of `{}` has no FROM line",
                image.name
            ))
            .image(&image.name)
            .help("start the template with `FROM {{ from }}`"),
        );
    }
    let mut stages: Vec<String> = Vec::new();
    for from in froms {
        let pinned = from.image == parent.reference
            || stages.iter().any(|s| s.eq_ignore_ascii_case(&from.image))
            || from.image == "scratch";
        if !pinned {
            diagnostics.push(
                Diagnostic::error(format!(
                    "`FROM {}` in the Dockerfile of `{}` does not use the pinned parent",
                    from.image, image.name
                ))
                .at(at(from.line))
                .image(&image.name)
                .note("every base must come from the private registry by digest, so builds never depend on upstream")
                .help("write `FROM {{ from }}`; to build on another image, add it to the catalog and use it as `from:`"),
            );
        }
        stages.extend(from.stage.clone());
    }
    diagnostics
}

/// `COPY --from` may name an earlier stage (by name or index) or an image pinned by digest in the
/// private registry; anything else would fetch from elsewhere, unpinned.
fn check_copy_froms(
    catalog: &Catalog,
    image: &Image,
    instructions: &[dockerfile::Instruction],
    froms: &[dockerfile::From],
    at: &At,
) -> Diagnostics {
    let mut diagnostics = Diagnostics::default();
    for (line, source) in dockerfile::copy_froms(instructions) {
        let earlier: Vec<&dockerfile::From> = froms.iter().filter(|f| f.line < line).collect();
        let is_stage = earlier.iter().any(|from| {
            from.stage
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(&source))
        }) || source
            .parse::<usize>()
            .is_ok_and(|index| index < earlier.len());
        let pinned_private =
            source.starts_with(&format!("{}/", catalog.registry)) && source.contains("@sha256:");
        if !is_stage && !pinned_private {
            diagnostics.push(
                Diagnostic::error(format!(
                    "`COPY --from={source}` in the Dockerfile of `{}` copies from outside the catalog",
                    image.name
                ))
                .at(at(line))
                .image(&image.name)
                .note("files may come from an earlier stage, or from an image pinned by digest in the private registry")
                .help("name an earlier stage (`FROM {{ from }} AS build` … `COPY --from=build`)"),
            );
        }
    }
    diagnostics
}

/// Every local `COPY`/`ADD` source is in the build context, or the build would fail much later.
fn check_sources(
    image: &Image,
    build: &Build,
    instructions: &[dockerfile::Instruction],
    entries: &[Entry],
    at: &At,
) -> Diagnostics {
    let mut diagnostics = Diagnostics::default();
    for (line, source) in dockerfile::local_sources(instructions) {
        if !source_exists(entries, &source) {
            diagnostics.push(
                Diagnostic::error(format!(
                    "`{source}` is copied into `{}` but is not in its build context `{}`",
                    image.name,
                    build.context.display()
                ))
                .at(at(line))
                .image(&image.name)
                .help(format!(
                    "create `{}`, or check `.dockerignore` there",
                    build
                        .context
                        .join(source.trim_start_matches("./"))
                        .display()
                )),
            );
        }
    }
    diagnostics
}

/// Whether a `COPY` source names something in the context: a file, a directory, or (with wildcards)
/// at least one match, the way the daemon resolves it.
fn source_exists(entries: &[Entry], source: &str) -> bool {
    let cleaned = source
        .trim_start_matches("./")
        .trim_start_matches('/')
        .trim_end_matches('/');
    if cleaned.is_empty() || cleaned == "." {
        return true;
    }
    if cleaned.contains(['*', '?', '[']) {
        let Ok(glob) = GlobBuilder::new(cleaned).literal_separator(true).build() else {
            return false;
        };
        let matcher = glob.compile_matcher();
        return entries.iter().any(|e| matcher.is_match(&e.path));
    }
    let below = format!("{cleaned}/");
    entries
        .iter()
        .any(|e| e.path == cleaned || e.path.starts_with(&below))
}

/// The part of `range` in `source` on the line where it starts, without white space around it: what
/// minijinja's error range covers, without the spaces around an expression or the lines after it
/// (an error at the end of the input ranges over everything that follows).
fn trimmed(source: &str, range: &std::ops::Range<usize>) -> std::ops::Range<usize> {
    let first_line = source[range.clone()].split('\n').next().unwrap_or_default();
    let start = range.start + (first_line.len() - first_line.trim_start().len());
    start..start + first_line.trim().len()
}
