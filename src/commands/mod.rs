//! One file per subcommand. Each command is a thin adapter: its options in, a domain pipeline run on
//! the [`Workspace`] (the build executor's, the mirror's, the night's…), and a [`Finished`] out: a
//! typed, serializable report of what happened and an [`Outcome`]. Commands never print (progress
//! aside) and never choose exit codes: [`crate::report`] turns the report into text or JSON, and
//! `cli` maps the outcome to an exit code. That keeps every command's result testable and reusable
//! (the night's report embeds the build pipeline's results) without capturing standard output.
//!
//! A new command is: a file here (and its `pub mod` line below) with a `run` function returning
//! `Result<Finished<ItsReport>, Diagnostics>` (an `async fn` when it talks to a registry or the
//! daemon); an `impl report::Text` for its report in a file of `report/` (and its `mod` line there);
//! a variant of `cli::Command` with its `--help` example, and one arm in `cli::dispatch`.

pub(crate) mod build;
pub(crate) mod check;
pub(crate) mod down;
pub(crate) mod graph;
pub(crate) mod history;
pub(crate) mod init;
pub(crate) mod lock;
pub(crate) mod logs;
pub(crate) mod mirror;
pub(crate) mod outdated;
pub(crate) mod plan;
pub(crate) mod prune;
pub(crate) mod ps;
pub(crate) mod refresh;
pub(crate) mod render;
pub(crate) mod rollback;
pub(crate) mod run;
pub(crate) mod stop;
pub(crate) mod validate;

use crate::catalog::Catalog;
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::failure::{self, io_error};
use crate::fsutil::path_text;
use crate::graph::Graph;
use crate::lock::LockFile;
use crate::registry::Budget;
pub(crate) use crate::workspace::{Settings, Workspace};

/// How a command ended, apart from bad input (which is an `Err(Diagnostics)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Outcome {
    /// It did what was asked and found nothing to report.
    Success,
    /// It ran and found what it is there to find (drift upstream).
    Found,
    /// It ran, and some of its work failed (an image did not build or copy).
    Failed,
}

/// A command's result: its report, the warnings met on the way, and how it ended.
#[derive(Debug)]
pub(crate) struct Finished<R> {
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

impl Workspace {
    pub(crate) fn open(settings: &Settings) -> Result<Workspace, Diagnostics> {
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
            events: settings.events.clone(),
        })
    }

    /// The catalog's run lock, for commands that change a registry or the lock file (see
    /// [`crate::run_lock`]); held until the returned guard is dropped.
    pub(crate) fn exclusive(
        &self,
        settings: &Settings,
        command: &str,
    ) -> Result<crate::run_lock::RunLock, Diagnostics> {
        let root = self.catalog.root_dir();
        let state = crate::fsutil::state_dir(root)
            .map_err(|e| io_error("create", &root.join(".baseimg"), e))?;
        crate::run_lock::acquire(&state, command, settings.wait, |holder| {
            settings.events.note(Diagnostic::new(
                        Code::RunLockWaiting,
                        format!(
                "waiting for another baseimg run on this catalog: {holder} (--no-wait stops instead)"
            )))
        })
        .map_err(|error| {
            let code = match error {
                crate::run_lock::RunLockError::Busy { .. } => Code::RunLockBusy,
                crate::run_lock::RunLockError::Io { .. } => Code::RunLockUnusable,
            };
            Diagnostic::new(code, error.to_string())
                .help("wait for it to finish, or run again without --no-wait to wait for it")
                .into()
        })
    }

    /// The named images with everything they are built from (and, if asked, everything built on
    /// them), in build order.
    pub(crate) fn select(&self, selection: &Selection) -> Result<Vec<String>, Diagnostics> {
        self.graph
            .select(&selection.images, selection.with_dependents)
    }
}

impl Workspace {
    /// The named images that are services (have `run:`), or every service of the catalog when none
    /// is named. A named image that is no service is an error.
    pub(crate) fn services(
        &self,
        names: &[String],
    ) -> Result<Vec<(&crate::catalog::Image, &crate::catalog::RunSpec)>, Diagnostics> {
        let mut found = Vec::new();
        let mut problems = Diagnostics::default();
        for name in names {
            match self.catalog.image(name) {
                Ok(image) if image.run.is_some() => {}
                Ok(image) => problems.push(
                    not_a_service(&self.catalog, image)
                        .help("add `run:` to the image to make it a service"),
                ),
                Err(unknown) => problems.extend(unknown),
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

/// An image without `run:` named where a service is needed.
fn not_a_service(catalog: &Catalog, image: &crate::catalog::Image) -> Diagnostic {
    Diagnostic::new(
        Code::ServiceNoRunSettings,
        format!("`{}` has no `run:` settings", image.name),
    )
    .at(catalog.locate(image.span))
    .image(&image.name)
}

/// A service of the catalog and what stands under its container name now.
pub(crate) struct Present<'a> {
    pub image: &'a crate::catalog::Image,
    pub spec: &'a crate::catalog::RunSpec,
    pub existing: crate::service::Existing,
}

impl Workspace {
    /// The named services (all when none is named) with what the daemon has under their names.
    pub(crate) async fn present_services(
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
            Diagnostic::new(Code::BuildUnfinishedPromotion, format!(
                "run {} stopped while moving tags (started {}): moving tags may point at a mix of old and new releases",
                journal.run, journal.started
            ))
            .help("the next `baseimg build --push` or `baseimg refresh` completes that promotion first"),
        ),
        Err(problem) => Some(crate::executor::journal::unreadable(problem).into_warning().help(
            "remove it if no promotion was cut off; otherwise run `baseimg build --push` to set the tags",
        )),
    }
}

/// Which images a command works on: none named means the whole catalog.
#[derive(Debug, Clone, Default)]
pub(crate) struct Selection {
    pub images: Vec<String>,
    pub with_dependents: bool,
}
