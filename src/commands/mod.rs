//! One file per subcommand. Each command does its work and returns a [`Finished`]: a typed,
//! serializable report of what happened and an [`Outcome`]. Commands never print (progress aside) and
//! never choose exit codes: [`crate::report`] turns the report into text or JSON, and `cli` maps the
//! outcome to an exit code. That keeps every command's result testable and reusable (a nightly report
//! can embed a build report) without capturing standard output.
//!
//! A new command is: a file here (and its `pub mod` line below) with a `run` function returning
//! `Result<Finished<ItsReport>, Diagnostics>` (an `async fn` when it talks to a registry or the
//! daemon); an `impl report::Text` for its report in a file of `report/` (and its `mod` line there);
//! a variant of `cli::Command` with its `--help` example, and one arm in `cli::dispatch`.

pub mod build;
pub mod check;
pub mod down;
mod failure;
pub mod graph;
pub mod history;
pub mod init;
pub mod lock;
pub mod logs;
pub mod mirror;
pub mod outdated;
pub mod plan;
pub mod prune;
pub mod ps;
pub mod refresh;
pub mod render;
pub mod rollback;
pub mod run;
pub mod stop;
pub mod validate;

use std::path::PathBuf;

use crate::catalog::{Catalog, LoadOptions};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::graph::Graph;
use crate::lock::LockFile;
use crate::progress::Mode;

/// What every command may need to know about how it was asked to run, whatever the command line
/// looked like. Built once, by `cli`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The catalog file.
    pub catalog: PathBuf,
    /// The lock file, when not the default beside the catalog.
    pub lock: Option<PathBuf>,
    /// The private registry and namespace, replacing the catalog's.
    pub registry: Option<String>,
    /// How many images to work on at the same time (at least 1).
    pub jobs: usize,
    pub progress: Mode,
    /// The builder asked for on the command line; the catalog's otherwise.
    pub builder: Option<crate::catalog::BuilderKind>,
    /// The daemons to build on (`--builder-host`); none: the one `DOCKER_HOST` names.
    pub builder_hosts: Vec<String>,
    /// Whether a run that changes the registry or the lock file waits for another one on the catalog.
    pub wait: crate::run_lock::Wait,
}

impl Settings {
    fn load_options(&self) -> LoadOptions {
        LoadOptions {
            registry: self.registry.clone(),
        }
    }

    fn lock_path(&self, catalog: &Catalog) -> PathBuf {
        self.lock
            .clone()
            .unwrap_or_else(|| LockFile::default_path(catalog))
    }
}

/// How a command ended, apart from bad input (which is an `Err(Diagnostics)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It did what was asked and found nothing to report.
    Success,
    /// It ran and found what it is there to find (drift upstream).
    Found,
    /// It ran, and some of its work failed (an image did not build or copy).
    Failed,
}

/// A command's result: its report, the warnings met on the way, and how it ended.
#[derive(Debug)]
pub struct Finished<R> {
    pub report: R,
    pub warnings: Diagnostics,
    pub outcome: Outcome,
}

impl<R> Finished<R> {
    fn new(report: R, warnings: Diagnostics, outcome: Outcome) -> Finished<R> {
        Finished {
            report,
            warnings,
            outcome,
        }
    }
}

/// What most commands start from: the checked catalog, its graph and its lock file.
pub struct Workspace {
    pub catalog: Catalog,
    pub graph: Graph,
    pub lock: LockFile,
    pub lock_path: PathBuf,
    /// Warnings from loading (unknown lock entries, say), passed on with the command's report.
    pub warnings: Diagnostics,
}

impl Workspace {
    pub fn open(settings: &Settings) -> Result<Workspace, Diagnostics> {
        let (catalog, warnings) = Catalog::load(&settings.catalog, &settings.load_options())?;
        let graph = Graph::build(&catalog)?;
        let lock_path = settings.lock_path(&catalog);
        let lock = LockFile::load(&lock_path)?;
        let mut warnings = warnings;
        if let Some(warning) = unfinished_promotion(&catalog) {
            warnings.push(warning);
        }
        Ok(Workspace {
            catalog,
            graph,
            lock,
            lock_path,
            warnings,
        })
    }

    /// The catalog's run lock, for commands that change a registry or the lock file (see
    /// [`crate::run_lock`]); held until the returned guard is dropped.
    pub fn exclusive(
        &self,
        settings: &Settings,
        command: &str,
    ) -> Result<crate::run_lock::RunLock, Diagnostics> {
        let root = self.catalog.root_dir();
        let state = crate::fsutil::state_dir(root)
            .map_err(|e| io_error("create", &root.join(".baseimg"), e))?;
        crate::run_lock::acquire(&state, command, settings.wait, |holder| {
            crate::report::note(&format!(
                "waiting for another baseimg run on this catalog: {holder} (--no-wait stops instead)"
            ))
        })
        .map_err(|error| {
            Diagnostic::error(error.to_string())
                .help("wait for it to finish, or run again without --no-wait to wait for it")
                .into()
        })
    }

    /// One request to the private registry before a command's work: a registry that is down or
    /// misnamed is one clear error within seconds, not a retried error per image.
    pub async fn reach_private(
        &self,
        clients: &crate::registry::Clients,
    ) -> Result<(), Diagnostics> {
        let host = self.catalog.private_host();
        clients.get(host).probe().await.map_err(|error| {
            // The request itself (`GET /v2/`) says nothing to a user; what failed does.
            let message = format!(
                "cannot reach the private registry `{host}`: {}",
                error.failure
            );
            let diagnostic = Diagnostic::error(message);
            match failure::Advice::advice(&error) {
                Some(help) => diagnostic.help(help).into(),
                None => diagnostic.into(),
            }
        })
    }

    /// Registry clients for this catalog, with its manifest cache.
    pub fn clients(&self) -> crate::registry::Clients {
        crate::registry::Clients::new(&self.catalog.insecure_registries)
            .with_cache(self.catalog.root_dir().to_path_buf())
    }

    /// The named images with everything they are built from (and, if asked, everything built on
    /// them), in build order.
    pub fn select(&self, selection: &Selection) -> Result<Vec<String>, Diagnostics> {
        self.graph
            .select(&selection.images, selection.with_dependents)
    }
}

impl Workspace {
    /// The named images that are services (have `run:`), or every service of the catalog when none
    /// is named. A named image that is no service is an error.
    pub fn services(
        &self,
        names: &[String],
    ) -> Result<Vec<(&crate::catalog::Image, &crate::catalog::RunSpec)>, Diagnostics> {
        let mut found = Vec::new();
        let mut problems = Diagnostics::default();
        for name in names {
            match self.catalog.images.get(name) {
                Some(image) if image.run.is_some() => {}
                Some(image) => problems.push(
                    Diagnostic::error(format!("`{name}` has no `run:` settings"))
                        .at(self.catalog.locate(image.span))
                        .image(name)
                        .help("add `run:` to the image to make it a service"),
                ),
                None => problems.push(Diagnostic::error(format!(
                    "no image named `{name}` in the catalog"
                ))),
            }
        }
        problems.into_result()?;
        for image in self.catalog.images.values() {
            if let Some(spec) = &image.run
                && (names.is_empty() || names.contains(&image.name))
            {
                found.push((image, spec));
            }
        }
        Ok(found)
    }
}

/// A service of the catalog and what stands under its container name now.
pub struct Present<'a> {
    pub image: &'a crate::catalog::Image,
    pub spec: &'a crate::catalog::RunSpec,
    pub existing: crate::service::Existing,
}

impl Workspace {
    /// The named services (all when none is named) with what the daemon has under their names.
    pub async fn present_services(
        &self,
        daemon: &crate::docker::Daemon,
        names: &[String],
    ) -> Result<Vec<Present<'_>>, Diagnostics> {
        let mut present = Vec::new();
        for (image, spec) in self.services(names)? {
            let service = crate::service::Service {
                daemon,
                catalog: &self.catalog,
                image,
                spec,
            };
            let existing = service.existing().await.map_err(|e| failure::explain(&e))?;
            present.push(Present {
                image,
                spec,
                existing,
            });
        }
        Ok(present)
    }
}

/// A warning when an earlier run stopped while moving tags (see [`crate::executor::journal`]).
fn unfinished_promotion(catalog: &Catalog) -> Option<Diagnostic> {
    let state = catalog.root_dir().join(".baseimg");
    match crate::executor::journal::Journal::find(&state) {
        Ok(None) => None,
        Ok(Some(journal)) => Some(
            Diagnostic::warning(format!(
                "run {} stopped while moving tags (started {}): moving tags may point at a mix of old and new releases",
                journal.run, journal.started
            ))
            .help("the next `baseimg build --push` or `baseimg refresh` completes that promotion first"),
        ),
        Err(problem) => Some(Diagnostic::warning(problem.to_string()).help(
            "remove it if no promotion was cut off; otherwise run `baseimg build --push` to set the tags",
        )),
    }
}

/// Which images a command works on: none named means the whole catalog.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub images: Vec<String>,
    pub with_dependents: bool,
}

/// Paths in reports are written as text, as `display()` shows them: serde refuses a path that is not
/// UTF-8, and a report must always be writable.
fn path_text<S: serde::Serializer>(path: &std::path::Path, out: S) -> Result<S::Ok, S::Error> {
    out.collect_str(&path.display())
}

/// An error about the machine rather than the input: a directory that cannot be created, say.
fn io_error(what: &str, path: &std::path::Path, error: std::io::Error) -> Diagnostics {
    Diagnostic::error(format!("cannot {what} `{}`: {error}", path.display())).into()
}

/// A registry's pull budget as it last reported it (Docker Hub: `RateLimit-Remaining`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Budget {
    pub registry: String,
    pub remaining: u64,
    pub limit: Option<u64>,
}

impl Budget {
    /// Every registry of this run that reported a budget, by name.
    fn of(clients: &crate::registry::Clients) -> Vec<Budget> {
        let mut budgets: Vec<Budget> = clients
            .all()
            .iter()
            .filter_map(|client| {
                client.rate_limit().map(|limit| Budget {
                    registry: client.registry().to_string(),
                    remaining: limit.remaining,
                    limit: limit.limit,
                })
            })
            .collect();
        budgets.sort_by(|a, b| a.registry.cmp(&b.registry));
        budgets
    }
}
