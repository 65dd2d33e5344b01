//! Building one image: the Dockerfile the plan rendered, built through the daemon on its
//! digest-pinned parent, labelled, tagged with its immutable tag and (when pushing) pushed. Promotion
//! of the moving tags, once every image of a run succeeded, is in [`promote`]; a whole run (its
//! daemons, the images in DAG order, their checks, the promotion and the report) is [`pipeline`].
//!
//! An image whose fingerprint already exists (in the private registry when pushing, in the local
//! daemon otherwise) is not built again. Build output goes to one log file per image per run (see
//! [`log`]), and the tail of that log is part of the error when an image fails.

pub(crate) mod journal;
mod log;
pub(crate) mod pipeline;
mod platforms;
pub(crate) mod pool;
mod promote;

pub(crate) use promote::Promoted;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indexmap::IndexMap;

use crate::catalog::{Catalog, Image, Recipe};
use crate::context::{DOCKERFILE_IN_CONTEXT, write_tar};
use crate::diagnostic::{Code, Diagnostic};
use crate::docker::{BuildRequest, DaemonError};
use crate::dockerfile;
use crate::events::{Events, Task};
use crate::failure::Advice;
use crate::fingerprint;
use crate::graph::Graph;
use crate::plan::{BuiltPin, Pin};
use crate::reference::Digest;
use crate::registry::{Clients, RegistryError};
use crate::render::static_labels;
use crate::smoke::{Checked, Smoke, SmokeError};
use crate::timeline::{Phase, Timeline};

use log::LogFile;

/// What one image became in this run.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// The reference children build on: pinned by digest when it is known.
    pub reference: String,
    pub digest: Option<Digest>,
    pub result: NodeResult,
    /// The smoke checks that passed on this run's build (none for an image not built this run).
    pub checks: Vec<Checked>,
    /// The daemon that built it in this run (its address).
    pub builder: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NodeResult {
    /// A mirror, present in the private registry.
    Mirrored,
    Built,
    /// Not built: an image with this fingerprint exists already.
    UpToDate,
}

/// Why one image could not be built. Each says what to do where there is something to do.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BuildError {
    #[error("{why}; run `{fix}`")]
    Unpinned { why: String, fix: String },
    #[error("the parent did not finish")]
    NoParent,
    /// A label a Dockerfile's `LABEL` cannot carry as it is.
    #[error("label `{key}` holds {what}, which a Dockerfile's LABEL cannot carry")]
    Label { key: String, what: String },
    /// A `FROM` of the built parent that the build could not pin to the parent's pushed digest.
    #[error(
        "a FROM line still names `{reference}` after pinning it to its digest; refusing to build on a moving tag"
    )]
    NotPinned { reference: String },
    #[error("cannot create the context archive: {0}")]
    Archive(#[source] std::io::Error),
    #[error("cannot pack the build context `{}`: {source}", dir.display())]
    Pack {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the task packing the build context stopped: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("cannot create `{}`: {source}", path.display())]
    Log {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("build failed: {error}\n{tail}")]
    Failed {
        #[source]
        error: DaemonError,
        tail: String,
    },
    #[error("{0}")]
    Daemon(#[from] DaemonError),
    /// A smoke check failed: the image is not pushed and counts as failed.
    #[error("{0}")]
    Check(SmokeError),
    #[error("cannot write the promotion journal `{}`: {source}", path.display())]
    Journal {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A pushed tag the registry did not have right after the push.
    #[error("the registry does not have {tag} right after it was pushed")]
    Lost { tag: String },
    /// Boxed: a registry error carries the request it was about, and would make every result large.
    #[error("{0}")]
    Registry(Box<RegistryError>),
}

impl Advice for BuildError {
    fn code(&self) -> Code {
        match self {
            BuildError::Daemon(error) => error.code(),
            BuildError::Registry(error) => error.code(),
            BuildError::Check(_) => Code::BuildCheckFailed,
            _ => Code::BuildFailed,
        }
    }

    fn advice(&self) -> Option<String> {
        match self {
            BuildError::Daemon(error) => error.advice(),
            BuildError::Registry(error) => error.advice(),
            BuildError::Check(_) => Some(
                "the image was not pushed and no tag moved; fix the image or its check, and build again"
                    .into(),
            ),
            _ => None,
        }
    }
}

impl From<RegistryError> for BuildError {
    fn from(error: RegistryError) -> Self {
        BuildError::Registry(Box::new(error))
    }
}

/// An image found pushed by another run right before this one pushed it: used, up to date.
fn meanwhile(job: &Job<'_>, digest: Digest, checks: Vec<Checked>) -> Node {
    let built = job.built;
    job.task.finish(&format!(
        "up to date ({}, pushed meanwhile)",
        built.immutable_tag
    ));
    Node {
        reference: pinned(&built.reference, Some(&digest)),
        digest: Some(digest),
        result: NodeResult::UpToDate,
        checks,
        builder: None,
    }
}

/// One image being built: what it is, where it goes, and its progress line.
struct Job<'a> {
    image: &'a Image,
    build: &'a Recipe,
    built: &'a BuiltPin,
    parent: &'a Node,
    host: String,
    repository: String,
    task: &'a Task,
    /// The daemon this image builds, is checked and is pushed on.
    member: &'a pool::Member,
}

impl<'a> Job<'a> {
    /// The same image, on the daemon leased for it.
    fn on(&self, member: &'a pool::Member) -> Job<'a> {
        Job {
            member,
            host: self.host.clone(),
            repository: self.repository.clone(),
            ..*self
        }
    }
}

/// What pushing a build came to.
enum Published {
    /// Pushed; the registry's digest of the image (or index), when it gave one.
    Pushed(Option<Digest>),
    /// Another run pushed this fingerprint first; its image, with the same inputs, is used.
    Meanwhile(Digest),
}

/// Builds the images of one run: the plan's pins, the daemon, the private registry.
pub(crate) struct Builder<'a> {
    pub catalog: &'a Catalog,
    pub pins: &'a IndexMap<String, Pin>,
    /// The daemons this run builds on.
    pub pool: &'a pool::Pool,
    pub clients: &'a Clients,
    pub push: bool,
    pub logs: PathBuf,
    pub events: &'a Events,
    /// `org.opencontainers.image.revision`: the catalog repository's commit, when it is a git
    /// checkout, with `-dirty` when the tree has uncommitted changes ([`Revision::label`]).
    pub revision: Option<String>,
    pub created: String,
    /// Names this run's check containers, so they can all be removed at its end.
    pub run_id: String,
    /// Where each image's build, check, push and promotion are timed.
    pub timeline: &'a Timeline,
}

impl Builder<'_> {
    /// Builds (or skips) one image on top of its parents' results.
    pub(crate) async fn image(
        &self,
        name: &str,
        parents: &[(String, Node)],
    ) -> Result<Node, BuildError> {
        let image = &self.catalog.images[name];
        match &self.pins[name] {
            Pin::Mirror { digest, reference } => Ok(Node {
                reference: reference.clone(),
                digest: Some(digest.clone()),
                result: NodeResult::Mirrored,
                checks: Vec::new(),
                builder: None,
            }),
            Pin::Unpinned { why, fix } => Err(BuildError::Unpinned {
                why: why.clone(),
                fix: fix.clone(),
            }),
            Pin::Built(built) => {
                let (_, parent) = parents.first().ok_or(BuildError::NoParent)?;
                self.build(image, built, parent).await
            }
        }
    }

    async fn build(
        &self,
        image: &Image,
        built: &BuiltPin,
        parent: &Node,
    ) -> Result<Node, BuildError> {
        let (host, repository) = self.catalog.private_location(image);
        let task = self.events.task(&image.name);
        task.step("looking for its fingerprint");
        if let Some(digest) = self.existing(&host, &repository, built).await? {
            task.finish(&format!("up to date ({})", built.immutable_tag));
            return Ok(Node {
                reference: pinned(&built.reference, digest.as_ref()),
                digest,
                result: NodeResult::UpToDate,
                checks: Vec::new(),
                builder: None,
            });
        }
        let build = image
            .as_build()
            .expect("a built pin belongs to a built image");
        let (dockerfile, labels) = self.dockerfile(image, build, built, parent)?;
        let tar = self.pack(build, built, &dockerfile).await?;
        let log = self.log(image, built, &dockerfile)?;
        let job = Job {
            image,
            build,
            built,
            parent,
            host,
            repository,
            task: &task,
            // Until a daemon is leased for it.
            member: self.pool.member(None),
        };
        if image.platforms.len() > 1 && self.pool.members.len() > 1 {
            return self.build_spread(&job, tar.path(), &labels, &log).await;
        }
        // The image's one platform, when it names one: it goes to a daemon that builds it natively.
        let platform = image
            .platforms
            .first()
            .map(String::as_str)
            .filter(|_| image.platforms.len() == 1);
        self.on_a_daemon(
            &job,
            parent.builder.as_deref(),
            platform,
            &log,
            async |member| {
                if self.pool.members.len() > 1 {
                    log.line(&format!("# building on {}", member.name));
                }
                let on = Job {
                    member,
                    host: job.host.clone(),
                    repository: job.repository.clone(),
                    ..job
                };
                self.build_on(&on, tar.path(), &labels, &log).await
            },
        )
        .await
    }

    /// Runs `work` with a slot on a daemon for `platform`, preferring `preferred` (the daemon that
    /// built the parent has its layers). When the work fails and that daemon no longer answers, the
    /// daemon is taken out of the pool and the work runs once more on another; a failure on a
    /// daemon that still answers (a failed step) is the image's failure.
    async fn on_a_daemon<T>(
        &self,
        job: &Job<'_>,
        preferred: Option<&str>,
        platform: Option<&str>,
        log: &LogFile,
        work: impl AsyncFn(&pool::Member) -> Result<T, BuildError>,
    ) -> Result<T, BuildError> {
        let mut lease = self.pool.lease(preferred, platform).await;
        let mut retried = false;
        loop {
            let member = lease.member;
            match work(member).await {
                Err(error)
                    if !retried
                        && self.pool.members.len() > 1
                        && !member.daemon.answers().await
                        && self.pool.lose(&member.name) =>
                {
                    let what = match platform.filter(|_| job.image.platforms.len() > 1) {
                        Some(platform) => format!("`{}` for {platform}", job.image.name),
                        None => format!("`{}`", job.image.name),
                    };
                    log.line(&format!(
                        "# {} stopped answering ({error}); building on another daemon",
                        member.name
                    ));
                    self.events.note(Diagnostic::new(
                        Code::BuildBuilderLost,
                        format!(
                        "builder {} stopped answering while building {what}; it is left out and the image built on another",
                        member.name
                    )));
                    retried = true;
                    job.task.step("building again on another daemon");
                    drop(lease);
                    lease = self.pool.lease(None, platform).await;
                }
                result => {
                    // Only now a failure: a build cut off with its daemon was tried again above.
                    if let Err(BuildError::Failed { .. }) = &result {
                        job.task.finish("failed");
                    }
                    return result;
                }
            }
        }
    }

    /// A multi-platform image over several daemons: every platform built at the same time, each on
    /// a daemon that builds it natively (when one is listed), checked where its platform is the
    /// daemon's own, and pushed from there; then the index of them all. Several daemons always push
    /// (the registry is how they meet).
    async fn build_spread(
        &self,
        job: &Job<'_>,
        context_tar: &Path,
        labels: &HashMap<String, String>,
        log: &LogFile,
    ) -> Result<Node, BuildError> {
        let (image, built) = (job.image, job.built);
        let started = Instant::now();
        let each = image.platforms.iter().map(|platform| {
            let log = log.for_platform(platform);
            async move {
                let preferred = job.parent.builder.as_deref();
                self.on_a_daemon(job, preferred, Some(platform), &log, async |member| {
                    log.line(&format!("# building {platform} on {}", member.name));
                    job.task
                        .step(&format!("building {platform} on {}", member.name));
                    let on = job.on(member);
                    let builds = self
                        .run_builds(&on, context_tar, labels, &log, Some(platform))
                        .await?;
                    // Checked on every daemon whose own platform this is: each platform's image
                    // works before any tag moves.
                    let native = crate::platform::matches(platform, &member.daemon.platform);
                    let checks = match native {
                        true => Some(self.smoke_check(&on, &builds[0].1, &log).await?),
                        false => None,
                    };
                    let Some(pushed) = self.push_platform(&on, platform, &log).await? else {
                        return Err(BuildError::Lost {
                            tag: platforms::tag(&built.immutable_tag, platform),
                        });
                    };
                    Ok((pushed, checks))
                })
                .await
            }
        });
        // The first failure ends the others (their builds are cancelled on their daemons).
        let done = futures_util::future::try_join_all(each).await?;
        // The report shows the checks of the first platform, in the catalog's order, that ran them.
        let checks = done.iter().find_map(|(_, checks)| checks.clone());
        let images: Vec<platforms::PlatformImage> =
            done.into_iter().map(|(pushed, _)| pushed).collect();
        if let Some(digest) = self.pushed_meanwhile(job, log).await? {
            return Ok(meanwhile(job, digest, checks.unwrap_or_default()));
        }
        let digest = self.push_index(job, &images, log).await?;
        job.task
            .finish(&format!("built in {:.1}s", started.elapsed().as_secs_f64()));
        Ok(Node {
            reference: pinned(&built.reference, Some(&digest)),
            digest: Some(digest),
            result: NodeResult::Built,
            checks: checks.unwrap_or_default(),
            builder: None,
        })
    }

    /// Builds, checks and (with `--push`) pushes one image on the job's daemon.
    async fn build_on(
        &self,
        job: &Job<'_>,
        context_tar: &Path,
        labels: &HashMap<String, String>,
        log: &LogFile,
    ) -> Result<Node, BuildError> {
        let built = job.built;
        job.task.step(&match self.pool.members.len() {
            1 => "building".to_string(),
            _ => format!("building on {}", job.member.name),
        });
        let started = Instant::now();
        let builds = self.run_builds(job, context_tar, labels, log, None).await?;
        // Before the push: an image whose checks fail never reaches the registry.
        let checks = self.check_native(job, &builds, log).await?;
        let digest = match self.push {
            true => match self.publish(job, &builds, log).await? {
                Published::Pushed(digest) => digest,
                Published::Meanwhile(digest) => return Ok(meanwhile(job, digest, checks)),
            },
            false => None,
        };
        job.task
            .finish(&format!("built in {:.1}s", started.elapsed().as_secs_f64()));
        Ok(Node {
            reference: pinned(&built.reference, digest.as_ref()),
            digest,
            result: NodeResult::Built,
            checks,
            builder: Some(job.member.name.clone()),
        })
    }

    /// Builds the image: once per platform of a multi-platform image, each under a tag of its own;
    /// otherwise once under the immutable tag, for the image's one platform or the daemon's. Returns
    /// each build's platform (`None`: the daemon's) and tag.
    async fn run_builds(
        &self,
        job: &Job<'_>,
        context_tar: &Path,
        labels: &HashMap<String, String>,
        log: &LogFile,
        only: Option<&str>,
    ) -> Result<Vec<(Option<String>, String)>, BuildError> {
        let (image, build, built) = (job.image, job.build, job.built);
        let multi = image.platforms.len() > 1;
        let builds: Vec<(Option<String>, String)> = if multi {
            image
                .platforms
                .iter()
                .filter(|p| only.is_none_or(|only| only == p.as_str()))
                .map(|p| (Some(p.clone()), platforms::tag(&built.reference, p)))
                .collect()
        } else {
            vec![(image.platforms.first().cloned(), built.reference.clone())]
        };
        let _building = self.timeline.start(&image.name, Phase::Build);
        for (platform, tag) in &builds {
            if let Some(platform) = platform.as_deref().filter(|_| multi) {
                log.line(&format!("# building for {platform}"));
            }
            let request = BuildRequest {
                context_tar,
                dockerfile: DOCKERFILE_IN_CONTEXT,
                tag,
                build_args: build.build_args.clone().into_iter().collect(),
                labels: labels.clone(),
                target: build.target.as_deref(),
                network: build.network.as_deref(),
                platform: platform.as_deref(),
                registries: vec![job.host.clone()],
                builder: job.member.engine,
                secrets: build
                    .secrets
                    .iter()
                    .map(|(id, source)| (id.clone(), source.clone()))
                    .collect(),
            };
            let result = job
                .member
                .daemon
                .build(request, |line| log.line(line), |step| job.task.step(step))
                .await;
            if let Err(error) = result {
                let tail = log.tail(12);
                let foreign = platform.as_deref().and_then(|p| {
                    let output = format!("{error}\n{tail}");
                    platforms::foreign_platform(p, &job.member.daemon.platform, &output)
                });
                let error = foreign.map(DaemonError::Build).unwrap_or(error);
                return Err(BuildError::Failed { error, tail });
            }
        }
        Ok(builds)
    }

    /// Runs the smoke checks on the build for the daemon's own platform (a foreign one cannot run
    /// here); for a multi-platform image, that build also gets the immutable tag locally.
    async fn check_native(
        &self,
        job: &Job<'_>,
        builds: &[(Option<String>, String)],
        log: &LogFile,
    ) -> Result<Vec<Checked>, BuildError> {
        let native = builds.iter().find(|(platform, _)| {
            platform
                .as_deref()
                .is_none_or(|p| crate::platform::matches(p, &job.member.daemon.platform))
        });
        let Some((_, tag)) = native else {
            if !job.build.checks.is_empty() {
                log.line(&format!(
                    "# checks not run: none of the platforms runs on this {} daemon",
                    job.member.daemon.platform
                ));
            }
            return Ok(Vec::new());
        };
        if builds.len() > 1 {
            let reference = &job.built.reference;
            let (repository, immutable) =
                reference.rsplit_once(':').unwrap_or((reference, "latest"));
            job.member.daemon.tag(tag, repository, immutable).await?;
        }
        self.smoke_check(job, tag, log).await
    }

    /// Pushes what was built: the image, or each platform's image and their index. An immutable tag
    /// is never overwritten: another machine's run may have pushed this fingerprint since we looked;
    /// its image has the same inputs, and children build on it.
    async fn publish(
        &self,
        job: &Job<'_>,
        builds: &[(Option<String>, String)],
        log: &LogFile,
    ) -> Result<Published, BuildError> {
        let _pushing = self.timeline.start(&job.image.name, Phase::Push);
        if let Some(digest) = self.pushed_meanwhile(job, log).await? {
            return Ok(Published::Meanwhile(digest));
        }
        let digest = if builds.len() > 1 {
            self.push_platforms(job, &job.image.platforms, log).await?
        } else {
            let platform = builds[0]
                .0
                .as_deref()
                .unwrap_or(&job.member.daemon.platform);
            self.link_parent_layers(&job.repository, job.built, job.parent, platform, log)
                .await;
            self.push_tag(job, &job.built.immutable_tag, log)
                .await?
                .map(|image| image.digest)
        };
        Ok(Published::Pushed(digest))
    }

    /// Runs the image's smoke checks on the image just built, writing each result to its log.
    async fn smoke_check(
        &self,
        job: &Job<'_>,
        reference: &str,
        log: &LogFile,
    ) -> Result<Vec<Checked>, BuildError> {
        let (image, build, task) = (job.image, job.build, &job.task);
        if build.checks.is_empty() {
            return Ok(Vec::new());
        }
        task.step(&format!("checking ({})", build.checks.len()));
        let _checking = self.timeline.start(&image.name, Phase::Check);
        let daemon = &job.member.daemon;
        let smoke = Smoke {
            daemon,
            catalog: self.catalog,
            run_id: self.run_id.clone(),
        };
        match smoke.check(image, &build.checks, reference).await {
            Ok(passed) => {
                for check in &passed {
                    log.line(&format!("# check passed: {}", check.name));
                }
                Ok(passed)
            }
            Err(error) => {
                log.line(&format!("# {error}"));
                task.finish("check failed");
                // The image carries its fingerprint label: left tagged, the next build without
                // `--push` would take it as built and skip its checks. A failed check leaves no
                // image, as a failed build does.
                let _ = daemon.remove(reference).await;
                Err(BuildError::Check(error))
            }
        }
    }

    /// The image's log for this run, starting with what is built: its reference, fingerprint and
    /// Dockerfile.
    fn log(
        &self,
        image: &Image,
        built: &BuiltPin,
        dockerfile: &str,
    ) -> Result<LogFile, BuildError> {
        let path = self.logs.join(format!("{}.log", image.name));
        let log = LogFile::create(&path).map_err(|source| BuildError::Log {
            path: path.clone(),
            source,
        })?;
        log.line(&format!(
            "# {} — fingerprint {}",
            built.reference, built.fingerprint
        ));
        for line in dockerfile.lines() {
            log.line(&format!("# | {line}"));
        }
        Ok(log)
    }

    /// The Dockerfile as built and the labels the daemon must add: the plan's rendered text with the
    /// parent pinned by its digest (known now that the parent is pushed), plus the labels that are
    /// only known at build time.
    fn dockerfile(
        &self,
        image: &Image,
        build: &Recipe,
        built: &BuiltPin,
        parent: &Node,
    ) -> Result<(String, HashMap<String, String>), BuildError> {
        let mut dockerfile = built.dockerfile.clone();
        let mut parent_ref = built.parent.clone();
        if let Some(digest) = &parent.digest
            && parent.reference != built.parent.reference
        {
            dockerfile =
                dockerfile::pin_base(&dockerfile, &built.parent.reference, digest.as_str())
                    .ok_or_else(|| BuildError::NotPinned {
                        reference: built.parent.reference.clone(),
                    })?;
            parent_ref.reference = parent.reference.clone();
        }
        let mut labels: HashMap<String, String> =
            static_labels(self.catalog, image, build, &parent_ref)
                .into_iter()
                .collect();
        labels.insert(
            "org.opencontainers.image.created".into(),
            self.created.clone(),
        );
        if let Some(revision) = &self.revision {
            labels.insert("org.opencontainers.image.revision".into(), revision.clone());
        }
        if let Some(digest) = &parent.digest {
            labels.insert(
                "org.opencontainers.image.base.digest".into(),
                digest.to_string(),
            );
        }
        labels.insert(fingerprint::LABEL.into(), built.fingerprint.to_string());
        // The classic builder turns every label passed through the API into a step of its own (a
        // container and a commit each: seconds per image). One LABEL instruction appended to the
        // Dockerfile does the same in one step. A `target` stage may not be the last, so then the
        // labels go through the API after all.
        if build.target.is_none() {
            dockerfile = format!("{dockerfile}\n{}", label_instruction(&labels)?);
            labels.clear();
        }
        Ok((dockerfile, labels))
    }

    /// The build context as a tar file holding exactly the files the fingerprint covers.
    async fn pack(
        &self,
        build: &Recipe,
        built: &BuiltPin,
        dockerfile: &str,
    ) -> Result<tempfile::NamedTempFile, BuildError> {
        let context_dir = self.catalog.root_dir().join(&build.context);
        let tar = tempfile::NamedTempFile::new().map_err(BuildError::Archive)?;
        let file = tar.reopen().map_err(BuildError::Archive)?;
        let entries = built.context.clone();
        let dockerfile = dockerfile.to_string();
        let dir = context_dir.clone();
        tokio::task::spawn_blocking(move || write_tar(&dir, &entries, &dockerfile, file))
            .await?
            .map_err(|source| BuildError::Pack {
                dir: context_dir,
                source,
            })?;
        Ok(tar)
    }

    /// Links the parent's layers into the image's repository before the daemon pushes it. The
    /// daemon asks the target repository for each layer it knows a digest of, but mounts only from
    /// repositories it pulled or pushed that layer through itself: a parent it already had (from an
    /// earlier run, or under another name) never was, and its base layers would be uploaded again
    /// into every new repository. baseimg knows the parent's manifest, so the layers are there
    /// before the daemon looks. Linking is an optimization: whatever fails is left to the upload.
    async fn link_parent_layers(
        &self,
        repository: &str,
        built: &BuiltPin,
        parent: &Node,
        platform: &str,
        log: &LogFile,
    ) {
        let Some(digest) = &parent.digest else {
            return;
        };
        let parent_image = &self.catalog.images[&built.parent.name];
        let (host, from) = self.catalog.private_location(parent_image);
        let linked = self
            .clients
            .get(&host)
            .mount_layers(repository, &from, digest.as_str(), platform)
            .await;
        log.line(&match linked {
            Ok(n) => format!(
                "# linked {} of {from} into {repository} before the push",
                crate::text::count(n, "layer", "layers")
            ),
            Err(error) => format!(
                "# could not link the layers of {from} into {repository} ({error}); the push uploads them"
            ),
        });
    }

    /// Pushes the immutable tag and returns the digest the registry gave it.
    async fn push_tag(
        &self,
        job: &Job<'_>,
        tag: &str,
        log: &LogFile,
    ) -> Result<Option<platforms::PlatformImage>, BuildError> {
        job.task.step(&format!("pushing {tag}"));
        let repository_ref = format!("{}/{}", job.host, job.repository);
        if let Err(error) = job
            .member
            .daemon
            .push(&job.host, &repository_ref, tag, |line| log.line(line))
            .await
        {
            job.task.finish("push failed");
            return Err(BuildError::Daemon(error));
        }
        let found = self
            .clients
            .get(&job.host)
            .head_manifest(&job.repository, tag)
            .await?;
        Ok(
            found.map(|(digest, media_type, size)| platforms::PlatformImage {
                platform: String::new(),
                digest,
                media_type,
                size,
            }),
        )
    }

    /// Pushes each platform's image under its own tag (the parent's layers for that platform linked
    /// first), then the index of them all under the immutable tag; returns the index's digest.
    async fn push_platforms(
        &self,
        job: &Job<'_>,
        platforms: &[String],
        log: &LogFile,
    ) -> Result<Option<Digest>, BuildError> {
        let mut images = Vec::new();
        for platform in platforms {
            let Some(image) = self.push_platform(job, platform, log).await? else {
                return Ok(None);
            };
            images.push(image);
        }
        Ok(Some(self.push_index(job, &images, log).await?))
    }

    /// Pushes one platform's image under its own tag, the parent's layers for that platform linked
    /// first; what the registry then holds under that tag.
    async fn push_platform(
        &self,
        job: &Job<'_>,
        platform: &str,
        log: &LogFile,
    ) -> Result<Option<platforms::PlatformImage>, BuildError> {
        let built = job.built;
        self.link_parent_layers(&job.repository, built, job.parent, platform, log)
            .await;
        let tag = platforms::tag(&built.immutable_tag, platform);
        Ok(self
            .push_tag(job, &tag, log)
            .await?
            .map(|image| platforms::PlatformImage {
                platform: platform.to_string(),
                ..image
            }))
    }

    /// The digest under the immutable tag when another machine's run pushed this fingerprint since
    /// the run looked: an immutable tag is never overwritten, and that image has the same inputs.
    async fn pushed_meanwhile(
        &self,
        job: &Job<'_>,
        log: &LogFile,
    ) -> Result<Option<Digest>, BuildError> {
        let found = self.existing(&job.host, &job.repository, job.built).await?;
        let digest = found.flatten();
        if digest.is_some() {
            log.line("# pushed meanwhile by another run; using that image");
        }
        Ok(digest)
    }

    /// Pushes the index of the platforms' images under the immutable tag; its digest.
    async fn push_index(
        &self,
        job: &Job<'_>,
        images: &[platforms::PlatformImage],
        log: &LogFile,
    ) -> Result<Digest, BuildError> {
        let built = job.built;
        let index = platforms::index(images);
        self.clients
            .get(&job.host)
            .put_manifest(&job.repository, &built.immutable_tag, &index)
            .await?;
        log.line(&format!(
            "# pushed the index of {} as {}:{} ({})",
            crate::text::count(images.len(), "platform", "platforms"),
            job.repository,
            built.immutable_tag,
            index.digest
        ));
        Ok(index.digest)
    }

    /// The digest of an image with this fingerprint, if one exists already (`Some(None)`: it exists in
    /// the local daemon, where it has no registry digest).
    async fn existing(
        &self,
        host: &str,
        repository: &str,
        built: &BuiltPin,
    ) -> Result<Option<Option<Digest>>, BuildError> {
        if self.push {
            let found = self
                .clients
                .get(host)
                .head_manifest(repository, &built.immutable_tag)
                .await?;
            Ok(found.map(|(digest, _, _)| Some(digest)))
        } else {
            // Without `--push` a run has one daemon: the local build is the one to look for.
            let found = self
                .pool
                .member(None)
                .daemon
                .inspect(&built.reference)
                .await?;
            let fingerprint = built.fingerprint.to_string();
            Ok(found
                .filter(|(_, labels)| labels.get(fingerprint::LABEL) == Some(&fingerprint))
                .map(|_| None))
        }
    }
}

/// `LABEL "k"="v" …` with Dockerfile quoting ([`dockerfile::quote`]: the image carries the text as
/// written), keys sorted. The catalog refuses line breaks in the labels it holds; one that arrives
/// anyway (a build-time value) is an error, never a label that says something else.
fn label_instruction(labels: &HashMap<String, String>) -> Result<String, BuildError> {
    let mut pairs: Vec<(&String, &String)> = labels.iter().collect();
    pairs.sort();
    let mut body = Vec::new();
    for (key, value) in pairs {
        let refused = |control| BuildError::Label {
            key: key.clone(),
            what: dockerfile::unquotable(control),
        };
        body.push(format!(
            "{}={}",
            dockerfile::quote(key).map_err(refused)?,
            dockerfile::quote(value).map_err(refused)?
        ));
    }
    Ok(format!("LABEL {}\n", body.join(" \\\n      ")))
}

fn pinned(reference: &str, digest: Option<&Digest>) -> String {
    match digest {
        Some(digest) => format!("{reference}@{digest}"),
        None => reference.to_string(),
    }
}

/// The commit a run builds from, for the `org.opencontainers.image.revision` label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Revision {
    pub commit: String,
    /// The catalog's directory has changes `git status` shows (untracked files too): the images
    /// are built from files that commit does not hold.
    pub dirty: bool,
}

impl Revision {
    /// `<commit>`, or `<commit>-dirty`: an image never claims a commit it was not built from.
    pub(crate) fn label(&self) -> String {
        if self.dirty {
            format!("{}-dirty", self.commit)
        } else {
            self.commit.clone()
        }
    }

    /// The warning of a run that labelled images from a dirty tree; `built` is how many it built.
    pub(crate) fn warning(&self, built: usize) -> Option<Diagnostic> {
        (self.dirty && built > 0).then(|| {
            Diagnostic::new(Code::BuildDirtyTree, format!(
                "the working tree has uncommitted changes; images are labelled {}",
                self.label()
            ))
            .help("commit first for images labelled with the commit alone; the revision is not part of the fingerprint, so committing these same changes later rebuilds nothing")
        })
    }
}

/// The commit of the catalog's repository, if it is a git checkout (for the `revision` label), and
/// whether the catalog's directory differs from it. When git cannot say whether it does, there is
/// no revision: a label that may be wrong is worse than none.
pub(crate) fn git_revision(root: &Path) -> Option<Revision> {
    let git = |args: &[&str]| {
        let output = std::process::Command::new("git")
            // `status` would otherwise refresh the index, writing to a repository a build only reads.
            .arg("--no-optional-locks")
            .arg("-C")
            .arg(root)
            .args(args)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    };
    let commit = git(&["rev-parse", "HEAD"])?.trim().to_string();
    // Limited to the catalog's directory: what the catalog, its templates and build contexts can
    // see. Untracked files count (a new file in a context changes the image); ignored ones do not.
    let status = git(&[
        "status",
        "--porcelain",
        "--untracked-files=normal",
        "--",
        ".",
    ])?;
    Some(Revision {
        commit,
        dirty: !status.trim().is_empty(),
    })
}

/// The parents map the scheduler needs.
pub(crate) fn parents_of(graph: &Graph, selection: &[String]) -> HashMap<String, Vec<String>> {
    selection
        .iter()
        .map(|name| {
            let parents = graph.parents(name).into_iter().map(str::to_string);
            (name.clone(), parents.collect())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) {
        let status = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
            .args(["-c", "commit.gpgsign=false"])
            .args(args)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    }

    #[test]
    fn the_revision_is_dirty_when_the_catalogs_directory_changed() {
        let repo = tempfile::tempdir().unwrap();
        assert_eq!(git_revision(repo.path()), None, "not a git checkout");
        let catalog = repo.path().join("base");
        std::fs::create_dir(&catalog).unwrap();
        std::fs::write(catalog.join("base-images.yaml"), "images: {}\n").unwrap();
        git(repo.path(), &["init", "-q"]);
        git(repo.path(), &["add", "-A"]);
        git(repo.path(), &["commit", "-q", "-m", "catalog"]);
        let clean = git_revision(&catalog).unwrap();
        assert!(!clean.dirty);
        assert_eq!(clean.label(), clean.commit);
        assert_eq!(clean.warning(3), None);

        // Elsewhere in the repository: not what the catalog builds from.
        std::fs::write(repo.path().join("elsewhere.txt"), "x").unwrap();
        assert!(!git_revision(&catalog).unwrap().dirty);
        // An untracked file beside the catalog counts, as an edited one does.
        std::fs::write(catalog.join("new.txt"), "x").unwrap();
        let dirty = git_revision(&catalog).unwrap();
        assert!(dirty.dirty);
        assert_eq!(dirty.label(), format!("{}-dirty", clean.commit));
        assert_eq!(dirty.warning(0), None, "nothing was labelled");
        assert_eq!(
            dirty.warning(2).unwrap().message,
            format!(
                "the working tree has uncommitted changes; images are labelled {}-dirty",
                clean.commit
            )
        );
    }

    #[test]
    fn labels_become_one_quoted_instruction() {
        let labels = HashMap::from([
            ("b".to_string(), "price $5 \"cheap\"".to_string()),
            ("a".to_string(), "x".to_string()),
        ]);
        assert_eq!(
            label_instruction(&labels).unwrap(),
            "LABEL \"a\"=\"x\" \\\n      \"b\"=\"price \\$5 \\\"cheap\\\"\"\n"
        );
        let apostrophe = HashMap::from([("team".to_string(), "app's".to_string())]);
        assert_eq!(
            label_instruction(&apostrophe).unwrap(),
            "LABEL \"team\"=\"app's\"\n"
        );
        let broken = HashMap::from([("a".to_string(), "two\nlines".to_string())]);
        assert_eq!(
            label_instruction(&broken).unwrap_err().to_string(),
            "label `a` holds a line break, which a Dockerfile's LABEL cannot carry"
        );
    }
}
