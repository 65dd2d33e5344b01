//! What a run starts from: the [`Settings`] it was asked to run with, and the checked catalog, its
//! graph and its lock file. A command opens the [`Workspace`]; the build, mirror and night pipelines
//! work on it.

use std::path::PathBuf;

use crate::catalog::{Catalog, LoadOptions};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::events::Events;
use crate::failure;
use crate::graph::Graph;
use crate::lock::LockFile;

/// What every command may need to know about how it was asked to run, whatever the command line
/// looked like. Built once, by `cli`.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The catalog file.
    pub catalog: PathBuf,
    /// The lock file, when not the default beside the catalog.
    pub lock: Option<PathBuf>,
    /// The private registry and namespace, replacing the catalog's.
    pub registry: Option<String>,
    /// How many images to work on at the same time (at least 1).
    pub jobs: usize,
    /// Where progress, notes and warnings go (see [`crate::events`]).
    pub events: Events,
    /// The builder asked for on the command line; the catalog's otherwise.
    pub builder: Option<crate::catalog::BuilderKind>,
    /// The daemons to build on (`--builder-host`); none: the one `DOCKER_HOST` names.
    pub builder_hosts: Vec<String>,
    /// Whether a run that changes the registry or the lock file waits for another one on the catalog.
    pub wait: crate::run_lock::Wait,
}

impl Settings {
    pub(crate) fn load_options(&self) -> LoadOptions {
        LoadOptions {
            registry: self.registry.clone(),
        }
    }

    pub(crate) fn lock_path(&self, catalog: &Catalog) -> PathBuf {
        self.lock
            .clone()
            .unwrap_or_else(|| LockFile::default_path(catalog))
    }
}

/// What most commands and every pipeline start from: the checked catalog, its graph and its lock
/// file.
pub(crate) struct Workspace {
    pub catalog: Catalog,
    pub graph: Graph,
    pub lock: LockFile,
    pub lock_path: PathBuf,
    /// Warnings from loading (unknown lock entries, say), passed on with the command's report.
    pub warnings: Diagnostics,
    /// The run's output channel, for what the command's pipelines meet on the way.
    pub events: Events,
}

impl Workspace {
    /// One request to the private registry before a command's work: a registry that is down or
    /// misnamed is one clear error within seconds, not a retried error per image.
    pub(crate) async fn reach_private(
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
            let diagnostic = Diagnostic::new(failure::Advice::code(&error), message);
            match failure::Advice::advice(&error) {
                Some(help) => diagnostic.help(help).into(),
                None => diagnostic.into(),
            }
        })
    }

    /// Registry clients for this catalog, with its manifest cache.
    pub(crate) fn clients(&self) -> crate::registry::Clients {
        crate::registry::Clients::new(&self.catalog.insecure_registries, &self.events)
            .with_cache(self.catalog.root_dir().to_path_buf())
    }
}
