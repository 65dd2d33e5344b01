//! The command line: arguments, the async runtime, and the map from a command's outcome to the
//! process exit code. Everything a command does is in [`crate::commands`]; everything it says is in
//! [`crate::report`].
//!
//! Exit codes: 0 success; 1 the command ran and found what it is there to find (drift upstream) or
//! some of its work failed (an image); 2 bad input (catalog, lock file, templates, arguments) or an
//! environment error.

use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand};
use serde::Serialize;

use crate::catalog::DEFAULT_CATALOG;
use crate::commands::graph::GraphFormat;
use crate::commands::{self, Finished, Outcome, Selection, Settings, lock::Scope};
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::progress::Mode;
use crate::report::{self, Format, Text};

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
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    output: Format,
    /// How progress is shown on standard error while images are locked, mirrored or built.
    #[arg(long, global = true, value_enum, default_value_t = Mode::Auto)]
    progress: Mode,
    /// How many images to work on at the same time.
    #[arg(short = 'j', long, global = true, env = "BASEIMG_JOBS", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    jobs: u16,
    /// The daemon's builder for `build` and `refresh` [default: the catalog's `builder`, else auto]:
    /// auto uses BuildKit when the daemon runs it and the classic builder otherwise; buildkit fails
    /// when the daemon cannot run it; classic has no secrets and no cache mounts.
    #[arg(
        long,
        global = true,
        env = "BASEIMG_BUILDER",
        value_enum,
        value_name = "BUILDER"
    )]
    builder: Option<crate::catalog::BuilderKind>,
    /// A Docker daemon to build on (`unix:///…`, `tcp://host:port`, or `ssh://[user@]host[:port]`
    /// through this machine's `ssh`, or BASEIMG_SSH_COMMAND), instead of the one DOCKER_HOST names;
    /// repeat it to spread the builds over several daemons, each with --jobs slots (needs --push:
    /// the registry hands images from one daemon to the next).
    #[arg(
        long = "builder-host",
        global = true,
        env = "BASEIMG_BUILDER_HOSTS",
        value_delimiter = ',',
        value_name = "HOST"
    )]
    builder_hosts: Vec<String>,
    /// Fail at once when another run is changing this catalog's registry or lock file, instead of
    /// waiting for it.
    #[arg(long, global = true)]
    no_wait: bool,
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
        selection: SelectionArgs,
        /// How to draw the graph (`--output json` lists it for machines instead).
        #[arg(long, value_enum, default_value_t = GraphFormat::Text)]
        format: GraphFormat,
    },
    /// Render the Dockerfiles of built images: a mirrored parent's FROM pinned by digest, a built
    /// parent's by its immutable tag (`build` adds the parent's digest once the parent is pushed).
    #[command(after_help = "Examples:\n  baseimg render redis\n  baseimg render --out rendered/")]
    Render {
        #[command(flatten)]
        selection: SelectionArgs,
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
        selection: SelectionArgs,
    },
    /// Build the selected images (and what they need) through the Docker daemon, on pinned parents.
    #[command(
        after_help = "Examples:\n  baseimg build\n  baseimg build redis --push\n  baseimg build python --with-dependents --push --jobs 2"
    )]
    Build {
        #[command(flatten)]
        selection: SelectionArgs,
        /// Push every built image to the private registry and promote the moving tags there (the
        /// local daemon's tags of the images built here move too). Without it, images stay in the
        /// local daemon, and their moving tags are set there.
        #[arg(long)]
        push: bool,
    },
    /// The nightly job: adopt new upstream digests (after their cool-down), mirror, build, check,
    /// push and promote; write the lock file only if all of that succeeded; always write a report.
    #[command(
        after_help = "Examples:\n  baseimg refresh\n  baseimg refresh --dry-run\n  baseimg refresh --adopt python-upstream\n\nExit codes: 0 nothing to do or everything adopted, 1 something failed or an upstream could not be resolved (the rest went on), 2 bad input.\nThe report is written to .baseimg/reports/<run>/ (report.json, report.md, report.html); the last line names it."
    )]
    Refresh(RefreshArgs),
    /// Compare the lock file with upstream (HEAD requests only). Exit 1 when something moved.
    #[command(after_help = "Examples:\n  baseimg outdated\n  baseimg outdated --output json")]
    Outdated,
    /// Show, for each selected image in build order, what a run would do and why.
    #[command(after_help = "Examples:\n  baseimg plan\n  baseimg plan api-base --output json")]
    Plan {
        #[command(flatten)]
        selection: SelectionArgs,
        /// Do not look into the private registry: show what may need doing, from files alone.
        #[arg(long)]
        offline: bool,
    },
    /// Start the catalog's services (the `make redis` replacement), by digest; returns once they answer.
    #[command(
        after_help = "Examples:\n  baseimg run redis postgres\n  eval \"$(baseimg run redis --env)\"   # sets REDIS_URL\n  baseimg run postgres --recreate      # switch to the current digest, keep the data\n  baseimg run redis --local            # the image built here, not the registry's"
    )]
    Run(RunArgs),
    /// Run the smoke checks of existing images (the registry's current digest, or --local).
    #[command(
        after_help = "Examples:\n  baseimg check\n  baseimg check redis postgres\n  baseimg check redis --local"
    )]
    Check {
        /// Images whose checks to run; all with checks when none is named.
        #[arg(value_name = "IMAGE")]
        images: Vec<String>,
        /// Check the image the local daemon has under the first moving tag, not the registry's.
        #[arg(long)]
        local: bool,
    },
    /// Show an image's releases in the private registry, newest first, and where its moving tags point.
    #[command(
        after_help = "Examples:\n  baseimg history redis\n  baseimg history redis --output json"
    )]
    History {
        /// A built image of the catalog.
        #[arg(value_name = "IMAGE")]
        image: String,
    },
    /// Point an image's moving tags back at its previous release (or the one named).
    #[command(
        after_help = "Examples:\n  baseimg rollback redis\n  baseimg rollback redis --to 7.2.4-076fa803e25f"
    )]
    Rollback {
        /// A built image of the catalog.
        #[arg(value_name = "IMAGE")]
        image: String,
        /// The release (immutable tag) to point the moving tags at.
        #[arg(long, value_name = "TAG")]
        to: Option<String>,
    },
    /// Delete old releases from the private registry, never one a moving tag points at.
    #[command(
        after_help = "Examples:\n  baseimg prune --dry-run\n  baseimg prune --keep 3\n  baseimg prune redis --keep 5 --older-than 30d"
    )]
    Prune(PruneArgs),
    /// Stop the catalog's running services; their containers and data stay.
    #[command(after_help = "Examples:\n  baseimg stop\n  baseimg stop redis")]
    Stop {
        /// Services to stop; all when none is named.
        #[arg(value_name = "IMAGE")]
        images: Vec<String>,
    },
    /// Remove the catalog's service containers (and, with --volumes, their data).
    #[command(after_help = "Examples:\n  baseimg down\n  baseimg down postgres --volumes")]
    Down {
        /// Services to remove; all when none is named.
        #[arg(value_name = "IMAGE")]
        images: Vec<String>,
        /// Also remove the named volumes baseimg created for them.
        #[arg(long)]
        volumes: bool,
    },
    /// Show what a service's container printed.
    #[command(after_help = "Examples:\n  baseimg logs postgres\n  baseimg logs redis --follow")]
    Logs {
        /// A service: an image of the catalog with `run:`.
        #[arg(value_name = "IMAGE")]
        image: String,
        /// Keep printing what it prints (`-f` names the catalog in baseimg, so this one is long only).
        #[arg(long)]
        follow: bool,
    },
    /// List the catalog's services: running or not, on which digest, and whether it is the current one.
    #[command(after_help = "Example:\n  baseimg ps")]
    Ps,
    /// Write a new base-images repository (catalog, templates, build contexts, Makefile) into DIR.
    #[command(
        after_help = "Examples:\n  baseimg init\n  baseimg init base-images && cd base-images && baseimg validate"
    )]
    Init {
        /// Where to write it (created if needed); the current directory by default.
        #[arg(value_name = "DIR", default_value = ".")]
        directory: PathBuf,
    },
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  baseimg completions bash > /etc/bash_completion.d/baseimg\n  baseimg completions zsh > \"${fpath[1]}/_baseimg\"\n  baseimg completions fish > ~/.config/fish/completions/baseimg.fish"
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), for `man`.
    #[command(after_help = "Example:\n  baseimg man > /usr/local/share/man/man1/baseimg.1")]
    Man,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Services to start (images with `run:` in the catalog).
    #[arg(value_name = "IMAGE", required = true)]
    images: Vec<String>,
    /// Run the image the local daemon has under the first moving tag, not the registry's.
    #[arg(long)]
    local: bool,
    /// Replace a running container whose image is not the current digest (volumes are kept).
    #[arg(long)]
    recreate: bool,
    /// Seconds to wait for each service to answer.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    timeout: u64,
    /// Print `IMAGE_URL=…` lines for `eval` instead of the summary.
    #[arg(long)]
    env: bool,
}

impl RunArgs {
    fn options(&self) -> commands::run::RunOptions {
        commands::run::RunOptions {
            images: self.images.clone(),
            local: self.local,
            recreate: self.recreate,
            timeout: std::time::Duration::from_secs(self.timeout),
        }
    }
}

#[derive(Debug, Args)]
struct PruneArgs {
    /// Built images to prune; all when none is named.
    #[arg(value_name = "IMAGE")]
    images: Vec<String>,
    /// How many of each image's newest releases to keep.
    #[arg(long, value_name = "N", default_value_t = 5)]
    keep: usize,
    /// Delete only releases older than this (`30d`, `12h`, `90m`).
    #[arg(long, value_name = "AGE", value_parser = crate::clock::parse_age)]
    older_than: Option<std::time::Duration>,
    /// Say what would be deleted, and delete nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Args)]
struct RefreshArgs {
    /// Adopt this mirror's new upstream digest now, whatever its cool-down (a security fix).
    #[arg(long, value_name = "IMAGE")]
    adopt: Vec<String>,
    /// Say what a run would do; change nothing, write nothing.
    #[arg(long)]
    dry_run: bool,
}

impl RefreshArgs {
    fn options(&self) -> commands::refresh::Options {
        commands::refresh::Options {
            adopt: self.adopt.clone(),
            dry_run: self.dry_run,
        }
    }
}

impl PruneArgs {
    fn options(&self) -> commands::prune::PruneOptions {
        commands::prune::PruneOptions {
            images: self.images.clone(),
            keep: self.keep,
            older_than: self.older_than,
            dry_run: self.dry_run,
        }
    }
}

#[derive(Debug, Args)]
struct SelectionArgs {
    /// Images to work on (with everything they are built from); all when none is named.
    #[arg(value_name = "IMAGE")]
    images: Vec<String>,
    /// Also select every image built on top of the named ones.
    #[arg(long)]
    with_dependents: bool,
}

impl SelectionArgs {
    fn selection(&self) -> Selection {
        Selection {
            images: self.images.clone(),
            with_dependents: self.with_dependents,
        }
    }
}

impl GlobalArgs {
    fn settings(&self) -> Settings {
        Settings {
            catalog: self.catalog.clone(),
            lock: self.lock.clone(),
            registry: self.registry.clone(),
            jobs: usize::from(self.jobs),
            events: crate::events::Events::new(crate::progress::Progress::new(self.progress)),
            builder: self.builder,
            builder_hosts: self.builder_hosts.clone(),
            wait: if self.no_wait {
                crate::run_lock::Wait::No
            } else {
                crate::run_lock::Wait::Yes
            },
        }
    }
}

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    run(Cli::parse())
}

/// Runs one command line given as words (the first is taken as the program name, as in
/// `std::env::args`), for tools that drive baseimg in-process.
pub fn main_with<I: IntoIterator<Item = String>>(args: I) -> i32 {
    match Cli::try_parse_from(args) {
        Ok(cli) => run(cli),
        Err(error) => {
            let _ = error.print();
            error.exit_code()
        }
    }
}

fn run(cli: Cli) -> i32 {
    let format = cli.global.output;
    let settings = cli.global.settings();
    match dispatch(&cli, &settings) {
        Ok(outcome) => exit_code(outcome),
        Err(diagnostics) => {
            // What the run met first (an unusable Docker configuration is often why a registry
            // refused), then why it stopped.
            let mut all = settings.events.take();
            all.extend(diagnostics);
            report::failure(all, format);
            EXIT_USER_ERROR
        }
    }
}

fn exit_code(outcome: Outcome) -> i32 {
    match outcome {
        Outcome::Success => EXIT_OK,
        Outcome::Found | Outcome::Failed => EXIT_FOUND,
    }
}

/// Runs the command and writes its report; bad input comes back as diagnostics. One arm per
/// command: the whole map from what a user typed to the code that runs it stays in one place.
fn dispatch(cli: &Cli, settings: &Settings) -> Result<Outcome, Diagnostics> {
    let format = cli.global.output;
    let output = Output {
        format,
        events: &settings.events,
    };
    match &cli.command {
        Command::Validate => output.emit(commands::validate::run(settings)?),
        Command::Graph {
            selection,
            format: drawing,
        } => output.emit(commands::graph::run(
            settings,
            &selection.selection(),
            *drawing,
        )?),
        Command::Render { selection, out } => output.emit(commands::render::run(
            settings,
            &selection.selection(),
            out.as_deref(),
        )?),
        Command::Plan { selection, offline } => output.emit(block_on(commands::plan::run(
            settings,
            &selection.selection(),
            *offline,
        ))??),
        Command::Lock => output.emit(block_on(commands::lock::run(settings, Scope::Lock))??),
        Command::Update { images } => output.emit(block_on(commands::lock::run(
            settings,
            Scope::Update(images.clone()),
        ))??),
        Command::Mirror { selection } => output.emit(block_on(commands::mirror::run(
            settings,
            &selection.selection(),
        ))??),
        Command::Outdated => output.emit(block_on(commands::outdated::run(settings))??),
        Command::Refresh(args) => refresh(settings, &args.options(), output),
        Command::Build { selection, push } => output.emit(block_on(commands::build::run(
            settings,
            &selection.selection(),
            *push,
        ))??),
        Command::Run(args) => run_services(settings, &args.options(), args.env, output),
        Command::Check { images, local } => {
            output.emit(block_on(commands::check::run(settings, images, *local))??)
        }
        Command::History { image } => {
            output.emit(block_on(commands::history::run(settings, image))??)
        }
        Command::Rollback { image, to } => output.emit(block_on(commands::rollback::run(
            settings,
            image,
            to.as_deref(),
        ))??),
        Command::Prune(args) => {
            output.emit(block_on(commands::prune::run(settings, &args.options()))??)
        }
        Command::Stop { images } => output.emit(block_on(commands::stop::run(settings, images))??),
        Command::Down { images, volumes } => {
            output.emit(block_on(commands::down::run(settings, images, *volumes))??)
        }
        Command::Logs { image, follow } => {
            block_on(commands::logs::run(settings, image, *follow, report::raw))??;
            Ok(Outcome::Success)
        }
        Command::Ps => output.emit(block_on(commands::ps::run(settings))??),
        Command::Init { directory } => output.emit(commands::init::run(directory)?),
        Command::Completions { shell } => {
            print_completions(*shell);
            Ok(Outcome::Success)
        }
        Command::Man => print_man_page(),
    }
}

/// `run`'s report, or with `--env` only the `IMAGE_URL=…` lines a shell can `eval`.
fn run_services(
    settings: &Settings,
    options: &commands::run::RunOptions,
    env: bool,
    out: Output,
) -> Result<Outcome, Diagnostics> {
    let mut finished = block_on(commands::run::run(settings, options))??;
    if env && out.format == Format::Text {
        finished.warnings.extend(out.events.take());
        report::emit_env(&finished);
        return Ok(finished.outcome);
    }
    out.emit(finished)
}

/// `refresh`'s report, once the report layer has written its files to the run's report directory
/// (a dry run has none).
fn refresh(
    settings: &Settings,
    options: &commands::refresh::Options,
    output: Output,
) -> Result<Outcome, Diagnostics> {
    let finished = block_on(commands::refresh::run(settings, options))??;
    if let Some(dir) = &finished.report.report_dir {
        report::write_refresh_files(&finished.report, dir)?;
    }
    output.emit(finished)
}

/// Generated into memory first: written straight to a closed pipe, clap_complete panics.
fn print_completions(shell: clap_complete::Shell) {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "baseimg", &mut script);
    report::raw(&script);
}

fn print_man_page() -> Result<Outcome, Diagnostics> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut page)
        .map_err(|e| {
            Diagnostic::new(
                Code::CliManPageFailed,
                format!("cannot write the manual page: {e}"),
            )
        })?;
    report::raw(&page);
    Ok(Outcome::Success)
}

/// Runs a command that talks to registries or the daemon on the one async runtime, made here and
/// only for such commands.
fn block_on<F: std::future::Future>(command: F) -> Result<F::Output, Diagnostics> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            Diagnostic::new(
                Code::CliNoRuntime,
                format!("cannot start the async runtime: {e}"),
            )
        })?;
    Ok(runtime.block_on(command))
}

/// Where a finished command's report goes: the format asked for, with the notes and warnings the
/// run met on the way (an unusable Docker configuration, a builder left out) joined to its own.
#[derive(Clone, Copy)]
struct Output<'a> {
    format: Format,
    events: &'a crate::events::Events,
}

impl Output<'_> {
    fn emit<R: Serialize + Text>(self, mut finished: Finished<R>) -> Result<Outcome, Diagnostics> {
        finished.warnings.extend(self.events.take());
        report::emit(&finished, self.format);
        Ok(finished.outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn outcomes_map_to_the_documented_exit_codes() {
        assert_eq!(exit_code(Outcome::Success), 0);
        assert_eq!(exit_code(Outcome::Found), 1);
        assert_eq!(exit_code(Outcome::Failed), 1);
    }
}
