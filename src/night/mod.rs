//! The night: the nightly job as one pipeline, what `baseimg refresh` runs. Every mirror's upstream
//! tag is asked where it points (HEAD requests); new digests are adopted under the catalog's
//! cool-down; what is adopted is mirrored; everything whose fingerprint changed is built, checked and
//! pushed; the moving tags are promoted; and only then is the lock file written. The result is a
//! [`RefreshReport`]; the run's report directory `.baseimg/reports/<run>/` is made here (build logs go
//! to its `logs/`), and the report layer writes the report files into it.
//!
//! The steps are the calls of [`run`], in order: a new step of the night is one call there, taking
//! the `Summary` the steps fill in (see `summary.rs`).
//!
//! The rule for the lock file: it is rewritten only by a run whose mirroring, builds, checks and
//! promotion all succeeded. A failed run leaves it (and every moving tag) as it was; immutable tags
//! and mirrored blobs it pushed stay, and the next run reuses them. An upstream that cannot be
//! resolved (tag gone, access denied, registry down) is not a failure of the run's own work: it
//! keeps its pin and its mirrored copy, everything else goes on, and the run ends with exit 1.

pub(crate) mod report;
mod resolve;
mod summary;

use std::path::{Path, PathBuf};

use crate::catalog::Image;
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::failure::io_error;
use crate::lock::{LockEntry, LockStatus};
use crate::registry::Clients;
use crate::timeline::Timeline;
use crate::workspace::{Settings, Workspace};

pub(crate) use report::{
    Moved, Rebuilt, RefreshReport, RequestCounts, Step, Upstream, UpstreamStatus,
};

/// What `refresh` was asked.
#[derive(Debug, Clone, Default)]
pub(crate) struct Options {
    /// Mirrors whose new upstream digest is adopted now, whatever their cool-down.
    pub adopt: Vec<String>,
    /// Say what a run would do; change nothing and write nothing.
    pub dry_run: bool,
}

/// One night, step by step; `workspace` ends with the next lock file and the run's warnings. Each
/// step is one call, in the order the steps run; the summary takes in what each step did.
pub(crate) async fn run(
    settings: &Settings,
    workspace: &mut Workspace,
    options: &Options,
) -> Result<RefreshReport, Diagnostics> {
    check_adopt(workspace, &options.adopt)?;
    let run_id = crate::clock::run_id();
    let report_dir = if options.dry_run {
        None
    } else {
        Some(report_dir(workspace, &run_id)?)
    };
    let started = crate::clock::now_rfc3339();
    let timeline = Timeline::default();
    let clients = workspace.clients();
    let progress = settings.events.clone();

    // Resolve and cool-down: where each upstream points, and what the next lock file pins.
    let resolved = resolve::resolve(
        workspace,
        &clients,
        &progress,
        &timeline,
        &options.adopt,
        settings.jobs,
    )
    .await;
    let mut summary = summary::Summary::new(resolved.upstreams);
    let next = resolved.next;
    let before = std::mem::replace(&mut workspace.lock, next);

    if options.dry_run {
        summary.would_build(workspace, &clients).await;
    } else {
        let dir = report_dir
            .as_ref()
            .expect("a report directory outside dry runs");
        // Mirror what the next lock file pins.
        mirror(settings, workspace, &clients, &timeline, &mut summary).await;
        // Build, check and push on it, and promote: one pipeline, since an image's checks run
        // between its build and its push, and promotion waits for every image.
        let warnings = build(
            settings,
            workspace,
            &clients,
            &timeline,
            &run_id,
            dir,
            &mut summary,
        )
        .await;
        workspace.warnings.extend(warnings);
    }

    // The lock file, written only when the run's own work succeeded.
    let (lock_written, lock_kept_because) =
        settle_lock(workspace, &before, options.dry_run, &mut summary);
    // A dry run mirrored nothing: the private registry has no config to read a date from.
    if !options.dry_run {
        summary.created_dates(workspace, &clients).await;
    }
    Ok(summary.into_report(summary::Ending {
        run: run_id,
        started,
        seconds: timeline.elapsed(),
        dry_run: options.dry_run,
        catalog: workspace.catalog.path.clone(),
        lock_file: workspace.lock_path.clone(),
        lock_written,
        lock_kept_because,
        timeline: timeline.bars(),
        requests: summary::requests(workspace, &clients),
        report_dir,
    }))
}

/// Writes the next lock file when it differs and the run's own work succeeded (see the module's
/// rule); returns whether it was written, and why not when it had something to write.
fn settle_lock(
    workspace: &Workspace,
    before: &crate::lock::LockFile,
    dry_run: bool,
    summary: &mut summary::Summary,
) -> (bool, Option<String>) {
    if workspace.lock == *before || dry_run {
        return (false, None);
    }
    if !summary.succeeded() {
        let why = "the run did not succeed: the lock file and the moving tags stay as they were";
        return (false, Some(why.to_string()));
    }
    match workspace.lock.save(&workspace.lock_path) {
        Ok(()) => (true, None),
        Err(error) => {
            let path = workspace.lock_path.display();
            summary.fail_run(Step::Promote, format!("cannot write `{path}`: {error}"));
            (false, Some(format!("it could not be written: {error}")))
        }
    }
}

/// Mirrors what the lock file the run is about to adopt pins.
async fn mirror(
    settings: &Settings,
    workspace: &Workspace,
    clients: &Clients,
    timeline: &Timeline,
    summary: &mut summary::Summary,
) {
    let work: Vec<(&Image, &LockEntry)> = workspace
        .catalog
        .images
        .values()
        .filter_map(|image| match workspace.lock.status(image) {
            LockStatus::Fresh(entry) => Some((image, entry)),
            _ => None,
        })
        .collect();
    match crate::mirror::pipeline::copy(settings, workspace, clients, &work, timeline).await {
        Ok(mirrored) => summary.mirrored(mirrored.images),
        Err(diagnostics) => summary.fail_diagnostics(Step::Mirror, &diagnostics),
    }
}

/// Builds, checks, pushes and promotes on the lock file the run is about to adopt, once everything
/// is mirrored; returns the warnings of the build.
async fn build(
    settings: &Settings,
    workspace: &Workspace,
    clients: &Clients,
    timeline: &Timeline,
    run_id: &str,
    dir: &Path,
    summary: &mut summary::Summary,
) -> Diagnostics {
    if !summary.succeeded() {
        // Nothing is built on a half-mirrored set: the next run starts from the same lock file.
        return Diagnostics::default();
    }
    let selected = summary.buildable(workspace);
    let revision = crate::executor::git_revision(workspace.catalog.root_dir());
    let run = crate::executor::pipeline::Run {
        clients,
        id: run_id,
        logs: dir.join("logs"),
        timeline,
        push: true,
        revision: revision.clone(),
    };
    match crate::executor::pipeline::build(settings, workspace, &selected, run).await {
        Ok(built) => {
            let warnings = crate::executor::pipeline::dirty_tree(revision.as_ref(), &built);
            summary.built(workspace, built, clients).await;
            warnings
        }
        Err(diagnostics) => {
            summary.fail_diagnostics(Step::Build, &diagnostics);
            Diagnostics::default()
        }
    }
}

/// `--adopt` takes the names of mirrors: anything else is refused before any request.
fn check_adopt(workspace: &Workspace, names: &[String]) -> Result<(), Diagnostics> {
    let mut wrong = Diagnostics::default();
    for name in names {
        match workspace.catalog.image(name) {
            Ok(image) if image.as_mirror().is_some() => {}
            Ok(_) => wrong.push(
                Diagnostic::new(
                    Code::RefreshNotAMirror,
                    format!(
                        "`{name}` is built, not mirrored; only a mirror adopts upstream digests"
                    ),
                )
                .image(name)
                .help("`--adopt` takes the name of a mirrored image"),
            ),
            Err(unknown) => wrong.extend(unknown),
        }
    }
    wrong.into_result().map(drop)
}

/// `.baseimg/reports/<run>/`, new for this run (a second run in the same second gets `-2`).
fn report_dir(workspace: &Workspace, run_id: &str) -> Result<PathBuf, Diagnostics> {
    let root = workspace.catalog.root_dir();
    crate::fsutil::state_dir(root).map_err(|e| io_error("create", &root.join(".baseimg"), e))?;
    // Named from the catalog's directory as the user wrote it (`.baseimg/…`, not `./.baseimg/…`).
    let reports = workspace.catalog.root.join(".baseimg").join("reports");
    std::fs::create_dir_all(&reports).map_err(|e| io_error("create", &reports, e))?;
    for attempt in 1.. {
        let name = match attempt {
            1 => run_id.to_string(),
            n => format!("{run_id}-{n}"),
        };
        let dir = reports.join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(io_error("create", &dir, error)),
        }
    }
    unreachable!("the attempts never end")
}
