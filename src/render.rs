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

use crate::catalog::{Catalog, Image, Recipe};
use crate::context::Entry;
use crate::diagnostic::{Code, Diagnostic, Diagnostics, SourceLocation, SourceText};
use crate::dockerfile;
use crate::fsutil::{InputError, check_input, read_input};

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

pub(crate) struct Renderer {
    env: Environment<'static>,
    templates_dir: PathBuf,
    /// The repository: every template, and everything it includes or imports, must lie inside it.
    root: PathBuf,
}

/// What templates must stay inside, in messages.
const SCOPE: &str = "the repository";

impl Renderer {
    pub(crate) fn new(catalog: &Catalog) -> Renderer {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_keep_trailing_newline(true);
        // `tojson` writes `app's` as `"app\u0027s"`, which Docker keeps as those characters: a
        // LABEL value needs Dockerfile quoting, not JSON's.
        env.add_filter("dockerfile_quote", dockerfile_quote);
        let (dir, root) = (
            catalog.templates_dir.clone(),
            catalog.root_dir().to_path_buf(),
        );
        env.set_loader(move |name| load(&dir, &root, name));
        Renderer {
            env,
            templates_dir: catalog.templates_dir.clone(),
            root: catalog.root_dir().to_path_buf(),
        }
    }

    /// Renders the Dockerfile of a built image.
    pub(crate) fn render(
        &self,
        catalog: &Catalog,
        image: &Image,
        build: &Recipe,
        parent: &ParentRef,
    ) -> Result<String, Diagnostics> {
        let named = Some(&build.template).filter(|name| !name.starts_with('/'));
        let Some(template_path) = named.and_then(|name| template_path(&self.templates_dir, name))
        else {
            return Err(self.not_a_template_name(catalog, image, build).into());
        };
        match check_input(&template_path, &self.root) {
            Ok(_) => {}
            Err(InputError::NotFound { .. }) => {
                return Err(self
                    .missing_template(catalog, image, build, &template_path)
                    .into());
            }
            Err(error) => {
                return Err(self
                    .unreadable_template(catalog, image, build, &error)
                    .into());
            }
        }
        let template = self
            .env
            .get_template(&build.template)
            .map_err(|e| Diagnostics::from(self.template_error(image, build, &e)))?;
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
            .map_err(|e| self.template_error(image, build, &e).into())
    }

    /// Where an error about the image's template points: its `template:` line, or the image.
    fn template_location(
        &self,
        catalog: &Catalog,
        image: &Image,
        build: &Recipe,
    ) -> Option<SourceLocation> {
        catalog.locate(build.template_span.unwrap_or(image.span))
    }

    /// `template: /etc/hostname` or `template: ../x.j2`: not a file of the template directory.
    fn not_a_template_name(&self, catalog: &Catalog, image: &Image, build: &Recipe) -> Diagnostic {
        Diagnostic::new(Code::RenderTemplateOutsideDirectory, format!(
            "template `{}` of image `{}` is not a path inside `{}`",
            build.template,
            image.name,
            self.templates_dir.display()
        ))
        .at(self.template_location(catalog, image, build))
        .image(&image.name)
        .help(format!(
            "name a file of `{}` by its path there, without a leading `/` or `.`/`..` parts (the default is `{}.Dockerfile.j2`)",
            self.templates_dir.display(),
            image.name
        ))
    }

    /// The image's template exists but may not be read: a symlink out of the repository, a FIFO,
    /// a device, a file too large.
    fn unreadable_template(
        &self,
        catalog: &Catalog,
        image: &Image,
        build: &Recipe,
        error: &InputError,
    ) -> Diagnostic {
        let message = match error {
            InputError::Io { path, source } => format!(
                "cannot read template `{}` of image `{}`: {source}",
                path.display(),
                image.name
            ),
            _ => format!(
                "template `{}` of image `{}` {}",
                error.path().display(),
                image.name,
                error.predicate(SCOPE)
            ),
        };
        Diagnostic::new(Code::RenderUnreadableTemplate, message)
            .at(self.template_location(catalog, image, build))
            .image(&image.name)
            .help(input_help(error))
    }

    fn missing_template(
        &self,
        catalog: &Catalog,
        image: &Image,
        build: &Recipe,
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
        let diagnostic = Diagnostic::new(
            Code::RenderMissingTemplate,
            format!(
                "template `{}` of image `{}` does not exist",
                path.display(),
                image.name
            ),
        )
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

    fn template_error(
        &self,
        image: &Image,
        build: &Recipe,
        error: &minijinja::Error,
    ) -> Diagnostic {
        // An error inside an included template comes wrapped in one about the `{% include %}`:
        // report the innermost one that still knows its template and line.
        let error = innermost(error);
        // Without a name, the error is about the image's own template (it failed to load).
        let name = error.name().unwrap_or(&build.template).to_string();
        if let Some(refused) = refused_input(error) {
            let message = match error.name() {
                Some(name) => format!(
                    "template `{name}` includes `{}`, which {}",
                    refused.include,
                    refused.error.predicate(SCOPE)
                ),
                None => format!(
                    "template `{}` of image `{}` {}",
                    refused.include,
                    image.name,
                    refused.error.predicate(SCOPE)
                ),
            };
            return Diagnostic::new(Code::RenderUnreadableInclude, message)
                .at(self.location(error, &name).0)
                .image(&image.name)
                .help(input_help(&refused.error));
        }
        let (location, snippet) = self.location(error, &name);
        if error.kind() == ErrorKind::UndefinedError {
            return undefined_variable(image, build, &name, snippet.as_deref()).at(location);
        }
        let (code, message, help) = match error.kind() {
            ErrorKind::TemplateNotFound => (
                Code::RenderMissingInclude,
                format!("template `{name}` includes a template that does not exist: {}", error.detail().unwrap_or_default()),
                format!("shared pieces live in `{}`", self.templates_dir.display()),
            ),
            ErrorKind::SyntaxError => (
                Code::RenderSyntaxError,
                format!("template syntax error in `{name}`: {}", error.detail().unwrap_or_default()),
                "see minijinja's syntax (Jinja2): {{ value }}, {% if %}, {% include %}, {% macro %}".into(),
            ),
            _ => (
                Code::RenderFailed,
                format!("cannot render `{name}`: {}", error.detail().unwrap_or(&error.kind().to_string())),
                "fix the template at this point".into(),
            ),
        };
        Diagnostic::new(code, message)
            .at(location)
            .image(&image.name)
            .help(help)
    }
}

/// The `dockerfile_quote` filter: a value as one double-quoted Dockerfile word
/// ([`dockerfile::quote`]); a line break in it is an error of the template, pointed at.
fn dockerfile_quote(value: &Value) -> Result<String, minijinja::Error> {
    let text = value
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| value.to_string());
    dockerfile::quote(&text).map_err(|control| {
        minijinja::Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "`dockerfile_quote` got a value with {}, which a Dockerfile word cannot carry",
                dockerfile::unquotable(control)
            ),
        )
    })
}

/// What a template always sees besides the image's variables.
const RESERVED: [&str; 5] = ["from", "parent", "image", "registry", "labels"];

/// An undefined variable: the names the template can see, and the one it most likely meant, as an
/// unknown catalog key gets them. `what` is the expression that failed (`app_databse`,
/// `image.nme`); only its first name is looked up among the variables.
fn undefined_variable(
    image: &Image,
    build: &Recipe,
    template: &str,
    what: Option<&str>,
) -> Diagnostic {
    let mut visible: Vec<&str> = build.vars.keys().map(String::as_str).collect();
    visible.sort_unstable();
    visible.extend(RESERVED);
    let what = what.unwrap_or("a value");
    let name = what
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .next()
        .unwrap_or(what);
    let diagnostic = Diagnostic::new(
        Code::RenderUndefinedVariable,
        format!("undefined template variable `{what}` in `{template}`"),
    )
    .image(&image.name)
    .note(format!("the template sees: {}", visible.join(", ")));
    let guess = (!visible.contains(&name))
        .then(|| crate::diagnostic::did_you_mean(name, visible.iter().copied()))
        .flatten();
    diagnostic.help(match guess {
        Some(guess) => guess,
        None if visible.contains(&name) => format!(
            "`{name}` is defined, but not what follows it: check the attribute or key after `{name}`"
        ),
        None => format!(
            "define it under `vars:` of image `{}` or of the catalog",
            image.name
        ),
    })
}

impl Renderer {
    /// Where a template error is, with the text it points at: the template's source is read again
    /// through the same checks as when it was loaded, so no snippet ever quotes a file from outside
    /// the repository.
    fn location(
        &self,
        error: &minijinja::Error,
        name: &str,
    ) -> (Option<SourceLocation>, Option<String>) {
        let Some(path) = template_path(&self.templates_dir, name) else {
            return (None, None);
        };
        let source = SourceText::from(read_input(&path, &self.root).unwrap_or_default());
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
        (location, snippet.map(|(_, text)| text.to_string()))
    }
}

/// A template name as minijinja's own path loader takes it: `/`-separated below the template
/// directory, no part starting with `.` (no `..`, no hidden files), no backslash. A leading `/` is
/// dropped there; a template named in the catalog must not have one (see `render`).
fn template_path(dir: &Path, name: &str) -> Option<PathBuf> {
    let mut path = dir.to_path_buf();
    for segment in name.split('/') {
        if segment.starts_with('.') || segment.contains('\\') {
            return None;
        }
        path.push(segment);
    }
    Some(path)
}

/// The loader: a template is read only when it is a regular file of sane size inside the
/// repository (also through symlinks). A refused file is an error naming it and why; one that
/// does not exist is minijinja's "not found".
fn load(dir: &Path, root: &Path, name: &str) -> Result<Option<String>, minijinja::Error> {
    let Some(path) = template_path(dir, name) else {
        return Ok(None);
    };
    match read_input(&path, root) {
        Ok(text) => Ok(Some(text)),
        Err(InputError::NotFound { .. }) => Ok(None),
        Err(error) => Err(minijinja::Error::new(
            ErrorKind::InvalidOperation,
            format!("template `{name}` {}", error.predicate(SCOPE)),
        )
        .with_source(Refused {
            include: name.to_string(),
            error,
        })),
    }
}

/// A template the loader refused to read, carried as the source of minijinja's error.
#[derive(Debug, thiserror::Error)]
#[error("template `{include}` refused: {error}")]
struct Refused {
    include: String,
    error: InputError,
}

/// The loader's refusal somewhere in an error's chain of causes.
fn refused_input(error: &minijinja::Error) -> Option<&Refused> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(current) = cause {
        if let Some(refused) = current.downcast_ref::<Refused>() {
            return Some(refused);
        }
        cause = current.source();
    }
    None
}

/// The deepest error of the chain that still names a template and a line: what went wrong inside
/// an included template rather than "error in _a.j2" at the `{% include %}`.
fn innermost(error: &minijinja::Error) -> &minijinja::Error {
    let mut found = error;
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(current) = cause {
        if let Some(inner) = current.downcast_ref::<minijinja::Error>()
            && inner.name().is_some()
            && inner.line().is_some()
        {
            found = inner;
        }
        cause = current.source();
    }
    found
}

/// What to do about a template that may not be read.
fn input_help(error: &InputError) -> String {
    match error {
        InputError::Outside { .. } => "templates, and what they include or import, must lie inside the repository; copy the file into it instead of linking to it".to_string(),
        InputError::NotRegular { .. } => "a template must be a regular file".to_string(),
        InputError::TooLarge { .. } => InputError::too_large_help(),
        InputError::NotText { .. } => "save the template as UTF-8".to_string(),
        InputError::NotFound { .. } | InputError::Io { .. } => "check the file's permissions".to_string(),
    }
}

/// Labels known before the build: the catalog's plus the OCI labels that describe the image and its
/// base. `created`, `revision`, the base digest of a built parent and the fingerprint are added by the
/// build itself, because they are not known (or would change the fingerprint) at render time.
pub(crate) fn static_labels(
    catalog: &Catalog,
    image: &Image,
    build: &Recipe,
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
pub(crate) fn check_rendered(
    catalog: &Catalog,
    image: &Image,
    build: &Recipe,
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
            Diagnostic::new(
                Code::RenderNoFrom,
                format!("the Dockerfile of `{}` has no FROM line", image.name),
            )
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
                Diagnostic::new(Code::RenderUnpinnedFrom, format!(
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
                Diagnostic::new(Code::RenderCopyFromOutside, format!(
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
    build: &Recipe,
    instructions: &[dockerfile::Instruction],
    entries: &[Entry],
    at: &At,
) -> Diagnostics {
    let mut diagnostics = Diagnostics::default();
    for (line, source) in dockerfile::local_sources(instructions) {
        if !source_exists(entries, &source) {
            diagnostics.push(
                Diagnostic::new(
                    Code::RenderMissingCopySource,
                    format!(
                        "`{source}` is copied into `{}` but is not in its build context `{}`",
                        image.name,
                        build.context.display()
                    ),
                )
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
