//! `baseimg lock` pins what is not pinned yet; `baseimg update [IMAGE…]` re-resolves the named
//! mirrors (all when none is named). Both ask upstream with HEAD requests only (see [`upstream`]) and
//! write the lock file whole, atomically, and only when every mirror resolved.

use std::path::PathBuf;

use futures_util::{StreamExt, stream};
use serde::Serialize;

use super::failure::diagnose;
use super::{Budget, Finished, Outcome, Settings, Workspace, io_error};
use crate::catalog::Image;
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::events::Events;
use crate::lock::{LockEntry, LockFile, LockStatus};
use crate::reference::Digest;
use crate::registry::Clients;
use crate::upstream::{self, ResolveError};

#[derive(Debug, Serialize)]
pub(crate) struct LockReport {
    #[serde(serialize_with = "super::path_text")]
    pub lock_file: PathBuf,
    /// Whether the file changed (an unchanged upstream rewrites nothing).
    pub written: bool,
    pub images: Vec<Locked>,
    /// The pull budget each upstream registry reported.
    pub rate_limits: Vec<Budget>,
}

/// One mirror's pin after the run.
#[derive(Debug, Serialize)]
pub(crate) struct Locked {
    pub image: String,
    pub status: LockedStatus,
    pub digest: Digest,
    pub source: String,
    /// Something worth knowing, e.g. that a platform filter made the mirror a new, smaller index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum LockedStatus {
    /// Newly pinned.
    Pinned,
    /// Pinned already and not asked about (`lock` keeps existing pins).
    Kept,
    /// Asked about, and upstream still points where the pin says.
    Unchanged,
    /// Asked about, and upstream moved: the pin follows.
    Changed,
}

/// One mirror's line in the report and its entry in the new lock file, or why it could not resolve.
type Resolved = Result<(Locked, LockEntry), ResolveError>;

/// Which mirrors to resolve again: `lock` asks for none (only new or stale entries are resolved),
/// `update` for the named ones, or all.
pub(crate) enum Scope {
    Lock,
    Update(Vec<String>),
}

pub(crate) async fn run(
    settings: &Settings,
    scope: Scope,
) -> Result<Finished<LockReport>, Diagnostics> {
    let workspace = Workspace::open(settings)?;
    let command = match &scope {
        Scope::Lock => "lock",
        Scope::Update(_) => "update",
    };
    let _running = workspace.exclusive(settings, command)?;
    if let Scope::Update(names) = &scope {
        check_names(&workspace, names)?;
    }
    let catalog = &workspace.catalog;
    let clients = workspace.clients();
    let progress = settings.events.clone();
    let now = crate::clock::now_rfc3339();
    let mirrors = catalog.images.values().filter(|i| i.as_mirror().is_some());
    let results: Vec<(&Image, Resolved)> = stream::iter(mirrors)
        .map(|image| {
            let (clients, progress, now, scope) = (&clients, &progress, &now, &scope);
            let workspace = &workspace;
            async move {
                let result = resolve_one(workspace, clients, progress, now, scope, image).await;
                (image, result)
            }
        })
        .buffered(settings.jobs)
        .collect()
        .await;

    let mut failures = Diagnostics::default();
    let mut new_lock = LockFile::default();
    let mut images = Vec::new();
    for (image, result) in results {
        match result {
            Ok((locked, entry)) => {
                images.push(locked);
                new_lock.images.insert(image.name.clone(), entry);
            }
            Err(error) => failures.push(
                diagnose(format!("resolve `{}`", image.name), &error)
                    .at(catalog.locate(image.as_mirror().expect("mirror").span))
                    .image(&image.name)
                    .note("the lock file was not changed"),
            ),
        }
    }
    if failures.has_errors() {
        return Err(failures);
    }
    let written = new_lock != workspace.lock;
    if written {
        new_lock
            .save(&workspace.lock_path)
            .map_err(|e| io_error("write", &workspace.lock_path, e))?;
    }
    let report = LockReport {
        lock_file: workspace.lock_path.clone(),
        written,
        images,
        rate_limits: Budget::of(&clients),
    };
    Ok(Finished::new(report, workspace.warnings, Outcome::Success))
}

/// `update` takes the names of mirrors: anything else is refused before any request.
fn check_names(workspace: &Workspace, names: &[String]) -> Result<(), Diagnostics> {
    let mut unknown = Diagnostics::default();
    for name in names {
        match workspace.catalog.image(name) {
            Ok(image) if image.as_mirror().is_some() => {}
            Ok(_) => unknown.push(
                Diagnostic::new(
                    Code::LockNotAMirror,
                    format!("`{name}` is built, not mirrored; only mirrors have lock entries"),
                )
                .help("`baseimg update` takes the names of mirrored images"),
            ),
            Err(error) => unknown.extend(error),
        }
    }
    unknown.into_result().map(drop)
}

/// One mirror's pin: kept as it is when fresh and not asked about, otherwise resolved upstream.
async fn resolve_one(
    workspace: &Workspace,
    clients: &Clients,
    progress: &Events,
    now: &str,
    scope: &Scope,
    image: &Image,
) -> Resolved {
    let existing = workspace.lock.images.get(&image.name);
    let fresh = matches!(workspace.lock.status(image), LockStatus::Fresh(_));
    let asked = match scope {
        Scope::Lock => false,
        Scope::Update(names) => names.is_empty() || names.contains(&image.name),
    };
    let locked = |status, entry: &LockEntry, note| Locked {
        image: image.name.clone(),
        status,
        digest: entry.digest.clone(),
        source: entry.source.to_string(),
        note,
    };
    if let (true, false, Some(entry)) = (fresh, asked, existing) {
        return Ok((locked(LockedStatus::Kept, entry, None), entry.clone()));
    }
    let task = progress.task(&image.name);
    task.step("resolving");
    let resolution = upstream::resolve(clients, &workspace.catalog, image, existing, now)
        .await
        .inspect_err(|_| task.finish("failed"))?;
    let entry = resolution.entry;
    let status = match existing {
        None => LockedStatus::Pinned,
        Some(old) if old == &entry => LockedStatus::Unchanged,
        Some(_) => LockedStatus::Changed,
    };
    // Say so when a platform filter makes the mirror a new, smaller index.
    let note = match resolution.upstream_platforms {
        Some(total) if !entry.only.is_empty() => Some(format!(
            "kept {} of {}: new index {}",
            entry.only.join(", "),
            crate::text::count(total, "platform", "platforms"),
            entry.mirror_digest()
        )),
        _ => None,
    };
    task.finish(&format!("resolved to {}", entry.digest.short()));
    Ok((locked(status, &entry, note), entry))
}
