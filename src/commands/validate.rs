//! `baseimg validate`: every check baseimg can make without a registry or a daemon, in one run.
//!
//! When some images are wrong, the sound ones still have their templates rendered and their contexts
//! checked, and all problems are reported together: a user fixes a catalog in one round, not one
//! error at a time.

use std::path::PathBuf;

use serde::Serialize;

use super::{Finished, Outcome, Settings};
use crate::catalog::Catalog;
use crate::diagnostic::Diagnostics;
use crate::graph::Graph;
use crate::lock::LockFile;
use crate::plan::{self, Unlocked};

/// A catalog that passed every check, and how many images of each kind it holds.
#[derive(Debug, Serialize)]
pub(crate) struct ValidateReport {
    #[serde(serialize_with = "super::path_text")]
    pub catalog: PathBuf,
    pub images: usize,
    pub mirrors: usize,
    pub built: usize,
}

pub(crate) fn run(settings: &Settings) -> Result<Finished<ValidateReport>, Diagnostics> {
    let (catalog, mut diagnostics) =
        Catalog::load_partial(&settings.catalog, &settings.load_options());
    let Some(catalog) = catalog else {
        return Err(diagnostics);
    };
    let lock_path = settings.lock_path(&catalog);
    let lock = match LockFile::load(&lock_path) {
        Ok(lock) => lock,
        Err(found) => {
            diagnostics.extend(found);
            LockFile::default()
        }
    };
    match Graph::build(&catalog) {
        Ok(graph) => {
            // Mirrors not locked yet get a placeholder digest, so their children are checked too.
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
    if let Some(warning) = super::unfinished_promotion(&catalog) {
        diagnostics.push(warning);
    }
    let mirrors = catalog
        .images
        .values()
        .filter(|i| i.as_mirror().is_some())
        .count();
    let report = ValidateReport {
        catalog: catalog.path.clone(),
        images: catalog.images.len(),
        mirrors,
        built: catalog.images.len() - mirrors,
    };
    Ok(Finished::new(report, diagnostics, Outcome::Success))
}
