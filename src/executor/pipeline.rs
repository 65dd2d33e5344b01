//! The build pipeline: the selected images and what they need, built in DAG order on the plan's
//! pinned parents over the daemons of the run's pool, each checked before it is pushed; then, only
//! when every image succeeded, the moving tags are promoted. What `baseimg build` runs, and the
//! night's build step ([`crate::night`]).

use std::path::PathBuf;
use std::time::Instant;

use indexmap::IndexMap;
use serde::Serialize;

use crate::catalog::{BuilderHost, Catalog};
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::docker::Daemon;
use crate::executor::journal::Journal;
use crate::executor::pool::{Member, Pool};
use crate::executor::{self, BuildError, Builder, Node, NodeResult, Promoted};
use crate::failure::{Advice, diagnose, explain, io_error};
use crate::plan::{self, Pin, Unlocked};
use crate::reference::Digest;
use crate::registry::Clients;
use crate::schedule;
use crate::smoke::{Checked, Smoke};
use crate::workspace::{Settings, Workspace};

#[derive(Debug, Serialize)]
pub(crate) struct BuildReport {
    /// Every image built or found up to date, and the moving tags in place.
    pub ok: bool,
    /// Whether images were pushed and tags promoted in the private registry.
    pub push: bool,
    /// Every selected image, in build order.
    pub images: Vec<ImageResult>,
    #[serde(flatten)]
    pub counts: Counts,
    pub promotion: Promotion,
    /// An earlier run's promotion, cut off half-way, that this run completed first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumed: Option<Resumed>,
    /// The daemon's builder the run used.
    pub builder: crate::docker::Builder,
    /// Where this run's build logs are.
    #[serde(serialize_with = "crate::fsutil::path_text")]
    pub logs: PathBuf,
    pub seconds: f64,
}

/// An unfinished promotion completed at the start of a run.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Resumed {
    /// The run that started it.
    pub run: String,
    /// How many of its tags had not moved yet.
    pub moved: usize,
}

/// What happened to one image of a build run.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ImageResult {
    pub image: String,
    pub status: BuildStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What to do about the failure, where the kind of error says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// Why it was not attempted: the image that failed before it, or `interrupted`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub because: Option<String>,
    /// The smoke checks that passed on this run's build.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<Checked>,
    /// The daemon that built it in this run (its address).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub builder: Option<String>,
}

impl ImageResult {
    /// An image with a status and nothing else known about it yet.
    pub(crate) fn new(image: &str, status: BuildStatus) -> ImageResult {
        ImageResult {
            image: image.to_string(),
            status,
            reference: None,
            digest: None,
            seconds: None,
            error: None,
            help: None,
            because: None,
            checks: Vec::new(),
            builder: None,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum BuildStatus {
    /// A mirror the run builds on, found in the private registry. A build copies nothing: the word
    /// says where the base was found, not that this run mirrored it (`baseimg mirror` does that).
    InRegistry,
    Built,
    /// Not built: an image with its fingerprint exists already.
    UpToDate,
    Failed,
    NotAttempted,
    /// Running when the run was stopped (Ctrl-C).
    Interrupted,
}

/// How many images ended how (interrupted ones count as not attempted).
#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq, Eq)]
pub(crate) struct Counts {
    pub built: usize,
    pub up_to_date: usize,
    pub failed: usize,
    pub not_attempted: usize,
}

impl Counts {
    fn of(images: &[ImageResult]) -> Counts {
        let count =
            |wanted: &[BuildStatus]| images.iter().filter(|i| wanted.contains(&i.status)).count();
        Counts {
            built: count(&[BuildStatus::Built]),
            up_to_date: count(&[BuildStatus::UpToDate]),
            failed: count(&[BuildStatus::Failed]),
            not_attempted: count(&[BuildStatus::NotAttempted, BuildStatus::Interrupted]),
        }
    }
}

/// What became of the moving tags.
#[derive(Debug, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub(crate) enum Promotion {
    /// These images' moving tags now point at this run's builds.
    Moved { images: Vec<Promoted> },
    /// Every moving tag was already where it belongs.
    InPlace,
    /// Moving tags were left where they were, because not every image succeeded.
    NotPromoted,
    /// Promotion started and failed: some tags may have moved.
    Failed { error: String },
}

impl BuildReport {
    /// The report of a finished run: counts and success follow from the images and the promotion.
    pub(crate) fn new(
        push: bool,
        images: Vec<ImageResult>,
        promotion: Promotion,
        builder: crate::docker::Builder,
        logs: PathBuf,
        seconds: f64,
    ) -> BuildReport {
        BuildReport {
            builder,
            ok: matches!(promotion, Promotion::Moved { .. } | Promotion::InPlace),
            push,
            counts: Counts::of(&images),
            images,
            promotion,
            resumed: None,
            logs,
            seconds,
        }
    }
}

/// A build run of its own (`baseimg build`): a new run identity with its logs under
/// `.baseimg/logs/<run>/`, then [`build`]. Returns the report and the run's warnings.
pub(crate) async fn run(
    settings: &Settings,
    workspace: &Workspace,
    selected: &[String],
    push: bool,
) -> Result<(BuildReport, Diagnostics), Diagnostics> {
    let run_id = crate::clock::run_id();
    let logs = crate::fsutil::state_dir(workspace.catalog.root_dir())
        .map_err(|e| io_error("create", &workspace.catalog.root_dir().join(".baseimg"), e))?
        .join("logs")
        .join(&run_id);
    let timeline = crate::timeline::Timeline::default();
    let clients = workspace.clients();
    let revision = executor::git_revision(workspace.catalog.root_dir());
    let run = Run {
        clients: &clients,
        id: &run_id,
        logs,
        timeline: &timeline,
        push,
        revision: revision.clone(),
    };
    let report = build(settings, workspace, selected, run).await?;
    let warnings = dirty_tree(revision.as_ref(), &report);
    Ok((report, warnings))
}

/// What one build run is, besides the catalog: its identity, where its logs go, its timeline, and
/// whether it pushes.
pub(crate) struct Run<'a> {
    pub clients: &'a Clients,
    pub id: &'a str,
    pub logs: PathBuf,
    pub timeline: &'a crate::timeline::Timeline,
    pub push: bool,
    /// The commit the images are labelled with ([`executor::git_revision`]).
    pub revision: Option<executor::Revision>,
}

/// The one warning of a run that labelled images `<commit>-dirty`.
pub(crate) fn dirty_tree(
    revision: Option<&executor::Revision>,
    report: &BuildReport,
) -> Diagnostics {
    let warning = revision.and_then(|r| r.warning(report.counts.built));
    Diagnostics(warning.into_iter().collect())
}

/// Builds `selected` (in build order) on the workspace's lock file, then promotes when every image
/// succeeded. Shared by `build` and `refresh`, which builds on the lock file it is about to adopt.
pub(crate) async fn build(
    settings: &Settings,
    workspace: &Workspace,
    selected: &[String],
    run: Run<'_>,
) -> Result<BuildReport, Diagnostics> {
    let catalog = &workspace.catalog;
    let pins = plan::resolve(catalog, &workspace.lock, selected, Unlocked::Unpin)?;
    check_pinned(catalog, &pins)?;
    let clients = run.clients;
    workspace.reach_private(clients).await?;
    let missing = check_mirrors(catalog, &pins, clients).await;
    if missing.has_errors() {
        return Err(missing);
    }
    let pool = connect_builders(settings, catalog, &pins, run.push).await?;
    let resumed = match run.push {
        true => resume_promotion(catalog, clients).await?,
        false => None,
    };

    let builder = Builder {
        catalog,
        pins: &pins,
        pool: &pool,
        clients,
        push: run.push,
        logs: run.logs,
        events: &settings.events,
        revision: run.revision.as_ref().map(executor::Revision::label),
        created: crate::clock::now_rfc3339(),
        // The process ID too: two runs started in the same second must not share check containers.
        run_id: format!("{}-{}", run.id, std::process::id()),
        timeline: run.timeline,
    };
    let parents = executor::parents_of(&workspace.graph, selected);
    let started = Instant::now();
    let outcomes = schedule::run(
        selected,
        &parents,
        pool.slots(),
        |name, parent_nodes| {
            let builder = &builder;
            async move { builder.image(&name, &parent_nodes).await }
        },
        async {
            let _ = tokio::signal::ctrl_c().await;
        },
    )
    .await;
    // Checks interrupted by a failure elsewhere or by Ctrl-C leave their containers: none stays.
    for member in &pool.members {
        let smoke = Smoke {
            daemon: &member.daemon,
            catalog,
            run_id: builder.run_id.clone(),
        };
        let _ = smoke.clean_up().await;
    }

    let promotion = promote(&builder, &outcomes).await;
    let mut report = BuildReport::new(
        run.push,
        outcomes.iter().map(|(n, o)| image_result(n, o)).collect(),
        promotion,
        pool.members[0].engine,
        builder.logs.clone(),
        started.elapsed().as_secs_f64(),
    );
    report.resumed = resumed;
    Ok(report)
}

/// The daemons this run builds on: each `--builder-host` (or `BASEIMG_BUILDER_HOSTS`), else the
/// catalog's `builders:`, else the one `DOCKER_HOST` names; each with its `jobs:` (or `--jobs`) slots
/// and its builder chosen as `--builder` says. A listed
/// daemon that cannot be reached is reported and left out; none answering stops the run before
/// anything starts. Several daemons hand images to each other through the registry, so they need
/// `--push`.
async fn connect_builders(
    settings: &Settings,
    catalog: &Catalog,
    pins: &IndexMap<String, Pin>,
    push: bool,
) -> Result<Pool, Diagnostics> {
    let kind = settings.builder.unwrap_or(catalog.builder);
    let mut members = Vec::new();
    let mut fallbacks = Vec::new();
    // `--builder-host` replaces the catalog's `builders:`; with neither, the one local daemon.
    let listed: Vec<BuilderHost> = match settings.builder_hosts.is_empty() {
        false => settings
            .builder_hosts
            .iter()
            .map(|host| BuilderHost {
                host: host.clone(),
                jobs: None,
                platforms: Vec::new(),
            })
            .collect(),
        true => catalog.builders.clone(),
    };
    if listed.is_empty() {
        let daemon = Daemon::connect(&settings.events)
            .await
            .map_err(|e| explain(&e))?;
        let (engine, fallback) = daemon.builder(kind).await.map_err(|e| explain(&e))?;
        fallbacks.extend(fallback.map(|why| (daemon.address.clone(), why)));
        members.push(Member::new(daemon, engine, settings.jobs, Vec::new()));
    } else {
        if listed.len() > 1 && !push {
            return Err(Diagnostics(vec![
                Diagnostic::new(Code::BuildSeveralBuildersNeedPush, format!(
                    "{} builders need `--push`: one daemon hands an image to the next through the private registry",
                    listed.len()
                ))
                .help("add `--push`, or build on one daemon (`--builder-host`) for a local build"),
            ]));
        }
        let mut unreachable = Vec::new();
        for builder in &listed {
            let daemon = match Daemon::connect_to(&builder.host, &settings.events).await {
                Ok(daemon) => daemon,
                Err(error) => {
                    // With one builder the error below says it; with several, the run goes on.
                    if listed.len() > 1 {
                        settings.events.note(Diagnostic::new(
                            Code::BuildBuilderLeftOut,
                            format!(
                                "builder {} is left out: {error}",
                                crate::docker::shown_address(&builder.host)
                            ),
                        ));
                    }
                    unreachable.push(error.to_string());
                    continue;
                }
            };
            let (engine, fallback) = daemon.builder(kind).await.map_err(|e| explain(&e))?;
            fallbacks.extend(fallback.map(|why| (daemon.address.clone(), why)));
            let jobs = builder.jobs.unwrap_or(settings.jobs);
            members.push(Member::new(daemon, engine, jobs, builder.platforms.clone()));
        }
        if members.is_empty() {
            let error = match listed.as_slice() {
                [only] => Diagnostic::new(
                    Code::BuildBuilderUnreachable,
                    format!(
                        "the builder {} does not answer",
                        crate::docker::shown_address(&only.host)
                    ),
                )
                .note(unreachable.join("\n")),
                // Each one's reason is in the notes just above.
                _ => Diagnostic::new(
                    Code::BuildNoBuilderAnswers,
                    format!("none of the {} builders answers", listed.len()),
                ),
            };
            return Err(Diagnostics(vec![error.help(
                "start a daemon on one of them, or name others with `--builder-host` or `builders:`",
            )]));
        }
    }
    if members
        .iter()
        .any(|m| m.engine == crate::docker::Builder::Classic)
    {
        let why = fallbacks.first().map(|(_, why)| why.as_str());
        classic_can_build(catalog, pins, why)?;
    }
    for (address, why) in fallbacks {
        settings.events.note(Diagnostic::new(
            Code::BuildClassicFallback,
            format!(
                "building with the classic builder on {address}: BuildKit is not available ({why})"
            ),
        ));
    }
    Ok(Pool::new(members))
}

/// Refuses, before anything is built, what the classic builder cannot build: images with build
/// secrets (it could pass them only as build arguments, which it writes into the image's history),
/// multi-platform images, and Dockerfiles with `RUN` flags (`--mount=type=cache`, …), which it rejects.
fn classic_can_build(
    catalog: &Catalog,
    pins: &IndexMap<String, Pin>,
    fallback: Option<&str>,
) -> Result<(), Diagnostics> {
    let why = match fallback {
        Some(why) => format!("; BuildKit is not available here ({why})"),
        None => String::new(),
    };
    let help =
        "build with BuildKit (`--builder buildkit`, or `builder: auto` on a daemon that runs it)";
    let mut errors = Vec::new();
    for (name, pin) in pins {
        let (Pin::Built(built), Some(build)) = (pin, catalog.images[name].as_build()) else {
            continue;
        };
        if !build.secrets.is_empty() {
            let ids: Vec<String> = build.secrets.keys().map(|id| format!("`{id}`")).collect();
            errors.push(
                Diagnostic::new(Code::BuildSecretsNeedBuildkit, format!(
                    "`{name}` uses build secrets ({}), which the classic builder cannot pass without writing them into the image{why}",
                    ids.join(", ")
                ))
                .help(help),
            );
        }
        let platforms = &catalog.images[name].platforms;
        if platforms.len() > 1 {
            errors.push(
                Diagnostic::new(Code::BuildPlatformsNeedBuildkit, format!(
                    "`{name}` needs BuildKit: it is built for several platforms ({}), and the classic builder builds one{why}",
                    platforms.join(", ")
                ))
                .help(help),
            );
        }
        let instructions = crate::dockerfile::instructions(&built.dockerfile);
        if let Some((line, flag)) = crate::dockerfile::buildkit_only(&instructions) {
            errors.push(
                Diagnostic::new(Code::BuildRunFlagsNeedBuildkit, format!(
                    "`{name}` needs BuildKit: line {line} of its Dockerfile uses `{flag}`, which the classic builder cannot run{why}"
                ))
                .help(help),
            );
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Diagnostics(errors))
    }
}

/// Completes the promotion an earlier run started and did not finish (see
/// [`crate::executor::journal`]), before anything else moves.
async fn resume_promotion(
    catalog: &Catalog,
    clients: &Clients,
) -> Result<Option<Resumed>, Diagnostics> {
    let state = catalog.root_dir().join(".baseimg");
    let journal = match Journal::find(&state) {
        Ok(Some(journal)) => journal,
        Ok(None) => return Ok(None),
        Err(problem) => return Err(crate::executor::journal::unreadable(problem).into()),
    };
    let moved = journal
        .complete(clients)
        .await
        .map_err(|e| diagnose(format!("complete the promotion of run {}", journal.run), &e))?;
    Journal::end(&state).map_err(|e| io_error("remove", &Journal::path(&state), e))?;
    Ok(Some(Resumed {
        run: journal.run,
        moved,
    }))
}

/// Every mirror the selection builds on must be pinned: a build reads every base from the lock file.
fn check_pinned(catalog: &Catalog, pins: &IndexMap<String, Pin>) -> Result<(), Diagnostics> {
    let mut unpinned = Diagnostics::default();
    for (name, pin) in pins {
        if let (Pin::Unpinned { why, fix }, Some(_)) = (pin, catalog.images[name].as_mirror()) {
            unpinned.push(crate::plan::unpinned_mirror(name, why).help(format!(
                "run `{fix}` first; a build reads every base from the lock file"
            )));
        }
    }
    unpinned.into_result().map(drop)
}

/// Checks up front that every selected mirror is in the private registry, so a build never reaches
/// for upstream (and fails early, saying which command fixes it).
async fn check_mirrors(
    catalog: &Catalog,
    pins: &IndexMap<String, Pin>,
    clients: &Clients,
) -> Diagnostics {
    let mut diagnostics = Diagnostics::default();
    for (name, pin) in pins {
        let Pin::Mirror { digest, .. } = pin else {
            continue;
        };
        let image = &catalog.images[name];
        let (host, repository) = catalog.private_location(image);
        match clients.get(&host).head_manifest(&repository, digest.as_str()).await {
            Ok(Some(_)) => {}
            Ok(None) => diagnostics.push(
                Diagnostic::new(Code::BuildMirrorNotCopied, format!("`{name}` ({digest}) is not in the private registry yet"))
                    .image(name)
                    .help("run `baseimg mirror` first: builds read their bases only from the private registry"),
            ),
            Err(error) => diagnostics.push(diagnose(format!("check `{name}`"), &error).image(name)),
        }
    }
    diagnostics
}

/// Moving tags move only when every image of the run succeeded.
async fn promote(
    builder: &Builder<'_>,
    outcomes: &IndexMap<String, schedule::Ended<Node, BuildError>>,
) -> Promotion {
    if !outcomes.values().all(|o| o.value().is_some()) {
        return Promotion::NotPromoted;
    }
    match builder.promote(outcomes).await {
        Ok(images) if images.is_empty() => Promotion::InPlace,
        Ok(images) => Promotion::Moved { images },
        Err(error) => Promotion::Failed {
            error: error.to_string(),
        },
    }
}

fn image_result(name: &str, outcome: &schedule::Ended<Node, BuildError>) -> ImageResult {
    let result = ImageResult::new(name, BuildStatus::Interrupted);
    match outcome {
        schedule::Ended::Done { value, elapsed } => ImageResult {
            status: match value.result {
                NodeResult::Mirrored => BuildStatus::InRegistry,
                NodeResult::Built => BuildStatus::Built,
                NodeResult::UpToDate => BuildStatus::UpToDate,
            },
            reference: Some(value.reference.clone()),
            digest: value.digest.clone(),
            // A mirror found in the registry took no time of the run's: no `0.0s` beside it.
            seconds: (value.result != NodeResult::Mirrored).then_some(elapsed.as_secs_f64()),
            checks: value.checks.clone(),
            builder: value.builder.clone(),
            ..result
        },
        schedule::Ended::Failed { error, elapsed } => ImageResult {
            status: BuildStatus::Failed,
            // The daemon's own message may carry its terminal colours; a report has none.
            error: Some(crate::text::without_escapes(&error.to_string()).into_owned()),
            help: error.advice(),
            seconds: Some(elapsed.as_secs_f64()),
            ..result
        },
        schedule::Ended::NotAttempted { because } => ImageResult {
            status: BuildStatus::NotAttempted,
            because: Some(because.clone()),
            ..result
        },
        schedule::Ended::Interrupted => result,
    }
}
