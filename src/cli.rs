//! The command line: arguments, one function per command, and exit codes.
//!
//! Exit codes: 0 success; 1 the command ran but found what it is there to find (reserved for drift and
//! failed builds); 2 bad input (catalog, lock file, templates, arguments) or an environment error.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};
use indexmap::IndexMap;

use crate::catalog::{Catalog, DEFAULT_CATALOG, LoadOptions};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::fsutil::write_atomic;
use crate::graph::{Graph, GraphFormat, render_graph};
use crate::lock::LockFile;
use crate::plan::{self, Offline, Pin, Unlocked};
use crate::progress::Mode;
use crate::sync;

pub const EXIT_OK: i32 = 0;
pub const EXIT_FOUND: i32 = 1;
pub const EXIT_USER_ERROR: i32 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "baseimg",
    version,
    about = "Mirror upstream base images by digest and build your own on top, from one catalog",
    after_help = "Examples:\n  baseimg validate\n  baseimg plan redis\n  baseimg graph --format mermaid\n  baseimg -f path/to/base-images.yaml render --out rendered/\n\nExit codes: 0 success, 1 drift or failed work, 2 bad input or environment error."
)]
pub struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct GlobalArgs {
    /// The catalog file.
    #[arg(short = 'f', long = "catalog", global = true, env = "BASEIMG_CATALOG", default_value = DEFAULT_CATALOG, value_name = "FILE")]
    catalog: PathBuf,
    /// The lock file [default: base-images.lock beside the catalog].
    #[arg(long, global = true, env = "BASEIMG_LOCK", value_name = "FILE")]
    lock: Option<PathBuf>,
    /// The private registry and namespace, replacing the catalog's `registry` (e.g. registry.example.com/base).
    #[arg(
        long,
        global = true,
        env = "BASEIMG_REGISTRY",
        value_name = "HOST/NAMESPACE"
    )]
    registry: Option<String>,
    /// Output format for results.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    output: Output,
    /// Progress display: bars on a terminal, plain lines in logs.
    #[arg(long, global = true, value_enum, default_value_t = Mode::Auto)]
    progress: Mode,
    /// How many images to work on at the same time.
    #[arg(short = 'j', long, global = true, env = "BASEIMG_JOBS", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    jobs: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check the catalog, lock file, templates and build contexts; report every problem found.
    #[command(after_help = "Example:\n  baseimg validate --output json")]
    Validate,
    /// Show how images are built on each other.
    #[command(
        after_help = "Examples:\n  baseimg graph\n  baseimg graph --format dot | dot -Tsvg > graph.svg\n  baseimg graph --format mermaid redis"
    )]
    Graph {
        #[command(flatten)]
        selection: Selection,
        #[arg(long, value_enum, default_value_t = GraphFormat::Text)]
        format: GraphFormat,
    },
    /// Render the Dockerfiles of built images, every FROM pinned by digest.
    #[command(after_help = "Examples:\n  baseimg render redis\n  baseimg render --out rendered/")]
    Render {
        #[command(flatten)]
        selection: Selection,
        /// Write `<image>.Dockerfile` files into this directory instead of printing them.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Pin every upstream reference of the catalog to a digest (HEAD requests only); keeps existing pins.
    #[command(after_help = "Example:\n  baseimg lock")]
    Lock,
    /// Re-resolve upstream references (all, or the named images) and record any new digests.
    #[command(after_help = "Examples:\n  baseimg update\n  baseimg update python-upstream")]
    Update {
        /// Mirrors to re-resolve; all when none is named.
        #[arg(value_name = "IMAGE")]
        images: Vec<String>,
    },
    /// Copy the locked upstream digests into the private registry, byte for byte.
    #[command(after_help = "Examples:\n  baseimg mirror\n  baseimg mirror redis --jobs 2")]
    Mirror {
        #[command(flatten)]
        selection: Selection,
    },
    /// Build the selected images (and what they need) through the Docker daemon, on pinned parents.
    #[command(
        after_help = "Examples:\n  baseimg build\n  baseimg build redis --push\n  baseimg build python --with-dependents --push --jobs 2"
    )]
    Build {
        #[command(flatten)]
        selection: Selection,
        /// Push every built image to the private registry and promote the moving tags there.
        #[arg(long)]
        push: bool,
    },
    /// Compare the lock file with upstream (HEAD requests only). Exit 1 when something moved.
    #[command(after_help = "Examples:\n  baseimg outdated\n  baseimg outdated --output json")]
    Outdated,
    /// Show, for each selected image in build order, what a run would do and why.
    #[command(after_help = "Examples:\n  baseimg plan\n  baseimg plan api-base --output json")]
    Plan {
        #[command(flatten)]
        selection: Selection,
        /// Do not look into the private registry: show what may need doing, from files alone.
        #[arg(long)]
        offline: bool,
    },
}

#[derive(Debug, Args)]
struct Selection {
    /// Images to work on (with everything they are built from); all when none is named.
    #[arg(value_name = "IMAGE")]
    images: Vec<String>,
    /// Also select every image built on top of the named ones.
    #[arg(long)]
    with_dependents: bool,
}

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    run_with(Cli::parse())
}

/// Runs one command line given as words (without the program name's special meaning: the first word
/// is taken as the program name, as in `std::env::args`), for tools that drive baseimg in-process.
pub fn main_with<I: IntoIterator<Item = String>>(args: I) -> i32 {
    match Cli::try_parse_from(args) {
        Ok(cli) => run_with(cli),
        Err(error) => {
            let _ = error.print();
            error.exit_code()
        }
    }
}

fn run_with(cli: Cli) -> i32 {
    match run(&cli) {
        Ok(code) => code,
        Err(failure) => {
            report_failure(&cli, failure);
            EXIT_USER_ERROR
        }
    }
}

fn report_failure(cli: &Cli, failure: Diagnostics) {
    let failure = failure.dedupe();
    if cli.global.output == Output::Json {
        let json = serde_json::json!({ "ok": false, "diagnostics": failure });
        println!(
            "{}",
            serde_json::to_string_pretty(&json).expect("diagnostics serialize")
        );
        return;
    }
    let mut stderr = std::io::stderr().lock();
    let _ = write!(stderr, "{}", failure.render(stderr_color()));
    let errors = failure.error_count();
    if errors > 1 {
        let _ = writeln!(stderr, "\nerror: aborting due to {errors} errors");
    }
}

/// Diagnostics on stderr are coloured when a person is likely to read them there: stderr is a terminal
/// and `NO_COLOR` (<https://no-color.org>) is unset or empty.
fn stderr_color() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn run(cli: &Cli) -> Result<i32, Diagnostics> {
    if let Command::Validate = cli.command {
        return validate(cli);
    }
    let workspace = Workspace::open(&cli.global)?;
    match &cli.command {
        Command::Validate => unreachable!("validate runs without a workspace, above"),
        Command::Graph { selection, format } => {
            let selected = workspace
                .graph
                .select(&selection.images, selection.with_dependents)?;
            print!(
                "{}",
                render_graph(&workspace.graph, &workspace.catalog, &selected, *format)
            );
            Ok(EXIT_OK)
        }
        Command::Render { selection, out } => render(&workspace, selection, out.as_deref()),
        Command::Plan { selection, offline } => plan_command(cli, &workspace, selection, *offline),
        Command::Lock => sync::lock(&cli.global.settings(), &workspace.context(), None),
        Command::Update { images } => {
            sync::lock(&cli.global.settings(), &workspace.context(), Some(images))
        }
        Command::Mirror { selection } => {
            let selected = workspace
                .graph
                .select(&selection.images, selection.with_dependents)?;
            sync::mirror(&cli.global.settings(), &workspace.context(), &selected)
        }
        Command::Outdated => sync::outdated(&cli.global.settings(), &workspace.context()),
        Command::Build { selection, push } => {
            let selected = workspace
                .graph
                .select(&selection.images, selection.with_dependents)?;
            crate::build::run(
                &cli.global.settings(),
                &workspace.catalog,
                &workspace.lock,
                &workspace.graph,
                &selected,
                *push,
            )
        }
    }
}

impl GlobalArgs {
    fn settings(&self) -> sync::Settings {
        sync::Settings {
            json: self.output == Output::Json,
            progress: self.progress,
            jobs: usize::from(self.jobs),
        }
    }
}

/// What every command starts from: the checked catalog, its graph and its lock file.
struct Workspace {
    catalog: Catalog,
    graph: Graph,
    lock: LockFile,
    lock_path: PathBuf,
    warnings: Diagnostics,
}

impl Workspace {
    fn open(global: &GlobalArgs) -> Result<Workspace, Diagnostics> {
        let options = LoadOptions {
            registry: global.registry.clone(),
        };
        let (catalog, warnings) = Catalog::load(&global.catalog, &options)?;
        let graph = Graph::build(&catalog)?;
        let lock_path = global
            .lock
            .clone()
            .unwrap_or_else(|| LockFile::default_path(&catalog));
        let lock = LockFile::load(&lock_path)?;
        Ok(Workspace {
            catalog,
            graph,
            lock,
            lock_path,
            warnings,
        })
    }

    /// The selected images (with what they need) and what each resolves to.
    fn resolve(
        &self,
        selection: &Selection,
    ) -> Result<(Vec<String>, IndexMap<String, Pin>), Diagnostics> {
        let selected = self
            .graph
            .select(&selection.images, selection.with_dependents)?;
        let pins = plan::resolve(&self.catalog, &self.lock, &selected, Unlocked::Unpin)?;
        Ok((selected, pins))
    }

    fn context(&self) -> sync::Context<'_> {
        sync::Context {
            catalog: &self.catalog,
            lock: &self.lock,
            lock_path: &self.lock_path,
        }
    }

    fn print_warnings(&self, extra: &Diagnostics) {
        let color = stderr_color();
        let mut stderr = std::io::stderr().lock();
        for warning in self.warnings.0.iter().chain(&extra.0) {
            let _ = writeln!(stderr, "{}", warning.render(color));
        }
    }
}

/// Checks everything it can in one run: when some images are wrong, the sound ones still have their
/// templates rendered and their contexts checked, and all problems are reported together.
fn validate(cli: &Cli) -> Result<i32, Diagnostics> {
    let options = LoadOptions {
        registry: cli.global.registry.clone(),
    };
    let (catalog, mut diagnostics) = Catalog::load_partial(&cli.global.catalog, &options);
    let Some(catalog) = catalog else {
        return Err(diagnostics);
    };
    let lock_path = cli
        .global
        .lock
        .clone()
        .unwrap_or_else(|| LockFile::default_path(&catalog));
    let lock = match LockFile::load(&lock_path) {
        Ok(lock) => lock,
        Err(found) => {
            diagnostics.extend(found);
            LockFile::default()
        }
    };
    match Graph::build(&catalog) {
        Ok(graph) => {
            if let Err(found) = plan::resolve(&catalog, &lock, graph.order(), Unlocked::Placeholder)
            {
                diagnostics.extend(found);
            }
        }
        Err(found) => diagnostics.extend(found),
    }
    if diagnostics.has_errors() {
        return Err(diagnostics);
    }
    diagnostics.extend(lock.check(&catalog, &lock_path, false));
    let mirrors = catalog
        .images
        .values()
        .filter(|i| i.as_mirror().is_some())
        .count();
    if cli.global.output == Output::Json {
        let json = serde_json::json!({
            "ok": true,
            "images": catalog.images.len(),
            "mirrors": mirrors,
            "built": catalog.images.len() - mirrors,
            "diagnostics": diagnostics,
        });
        println!("{}", serde_json::to_string_pretty(&json).expect("json"));
    } else {
        let color = stderr_color();
        let mut stderr = std::io::stderr().lock();
        for warning in &diagnostics.0 {
            let _ = writeln!(stderr, "{}", warning.render(color));
        }
        println!(
            "{}: {} images ({} mirrored, {} built), no errors",
            catalog.path.display(),
            catalog.images.len(),
            mirrors,
            catalog.images.len() - mirrors
        );
    }
    Ok(EXIT_OK)
}

fn render(
    workspace: &Workspace,
    selection: &Selection,
    out: Option<&Path>,
) -> Result<i32, Diagnostics> {
    let (selected, pins) = workspace.resolve(selection)?;
    // Everything is rendered before anything is written: a failure leaves the output directory as it was.
    let mut rendered: IndexMap<&str, &str> = IndexMap::new();
    for (name, pin) in &pins {
        if let Pin::Built(built) = pin {
            rendered.insert(name, &built.dockerfile);
        }
    }
    let unpinned = unpinned_mirrors(workspace, &pins, &selected);
    if unpinned.has_errors() {
        return Err(unpinned);
    }
    workspace.print_warnings(&Diagnostics::default());
    match out {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| {
                Diagnostics::from(Diagnostic::error(format!(
                    "cannot create `{}`: {e}",
                    dir.display()
                )))
            })?;
            for (name, dockerfile) in &rendered {
                let path = dir.join(format!("{name}.Dockerfile"));
                write_atomic(&path, dockerfile.as_bytes()).map_err(|e| {
                    Diagnostics::from(Diagnostic::error(format!(
                        "cannot write `{}`: {e}",
                        path.display()
                    )))
                })?;
                println!("wrote {}", path.display());
            }
        }
        None => {
            let several = rendered.len() > 1;
            for (name, dockerfile) in &rendered {
                if several {
                    println!("# ---- {name} ----");
                }
                print!("{dockerfile}");
            }
        }
    }
    Ok(EXIT_OK)
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
        let mut diagnostic = Diagnostic::error(format!("`{name}` is not pinned: {why}"))
            .at(workspace.catalog.locate(mirror.span))
            .image(name)
            .help(format!("run `{fix}` first"));
        if !blocked.is_empty() {
            diagnostic =
                diagnostic.note(format!("cannot render without it: {}", blocked.join(", ")));
        }
        diagnostics.push(diagnostic);
    }
    diagnostics
}

fn plan_command(
    cli: &Cli,
    workspace: &Workspace,
    selection: &Selection,
    offline: bool,
) -> Result<i32, Diagnostics> {
    let (_, pins) = workspace.resolve(selection)?;
    let steps = if offline {
        plan::plan(&workspace.catalog, &pins, &Offline)
    } else {
        let snapshot = sync::snapshot(&workspace.catalog, &pins, usize::from(cli.global.jobs))?;
        plan::plan(&workspace.catalog, &pins, &snapshot)
    };
    if cli.global.output == Output::Json {
        let json = serde_json::json!({ "steps": steps, "summary": plan::summary(&steps) });
        println!("{}", serde_json::to_string_pretty(&json).expect("json"));
    } else {
        workspace.print_warnings(&Diagnostics::default());
        print!("{}", plan::format_table(&steps));
        println!("\n{}", plan::summary(&steps));
    }
    Ok(EXIT_OK)
}
