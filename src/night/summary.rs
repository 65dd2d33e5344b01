//! The night, after the work: what the run's steps produced, gathered into the report — why each
//! image was rebuilt, which tags moved and how to put them back, what failed where, the adopted
//! images' `created` dates, and the requests made, by kind.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use super::report::{
    Failure, Moved, Rebuilt, RefreshReport, RequestCounts, Requests, Step, Upstream, UpstreamStatus,
};
use crate::diagnostic::Diagnostics;
use crate::executor::pipeline::{BuildReport, BuildStatus, ImageResult, Promotion};
use crate::lock::LockStatus;
use crate::mirror::pipeline::{MirrorResult, MirroredStatus};
use crate::plan::{self, Pin, Unlocked};
use crate::reference::Digest;
use crate::registry::{Client, Clients, RegistryError, Stats};
use crate::timeline::Bar;
use crate::workspace::Workspace;

/// The report as the run fills it in, step by step.
pub(super) struct Summary {
    upstreams: Vec<Upstream>,
    mirrors: Vec<MirrorResult>,
    images: Vec<ImageResult>,
    rebuilt: Vec<Rebuilt>,
    promotion: Option<Promotion>,
    moved: Vec<Moved>,
    failures: Vec<Failure>,
}

/// What the report needs besides the steps' results.
pub(super) struct Ending {
    pub run: String,
    pub started: String,
    pub seconds: f64,
    pub dry_run: bool,
    pub catalog: PathBuf,
    pub lock_file: PathBuf,
    pub lock_written: bool,
    pub lock_kept_because: Option<String>,
    pub timeline: Vec<Bar>,
    pub requests: Requests,
    pub report_dir: Option<PathBuf>,
}

impl Summary {
    pub(super) fn new(upstreams: Vec<Upstream>) -> Summary {
        let failures = upstreams
            .iter()
            .filter(|u| u.status.is_problem())
            .map(|u| Failure {
                image: u.image.clone(),
                step: Step::Resolve,
                error: u.error.clone().unwrap_or_default(),
                help: u.help.clone(),
                log: None,
            })
            .collect();
        Summary {
            upstreams,
            mirrors: Vec::new(),
            images: Vec::new(),
            rebuilt: Vec::new(),
            promotion: None,
            moved: Vec::new(),
            failures,
        }
    }

    /// Whether the run's own work (mirror, build, checks, promotion) succeeded so far. Upstreams
    /// that could not be asked do not count: they keep their pins.
    pub(super) fn succeeded(&self) -> bool {
        self.failures.iter().all(|f| f.step == Step::Resolve)
    }

    pub(super) fn fail_run(&mut self, step: Step, error: String) {
        self.failures.push(Failure {
            image: String::new(),
            step,
            error,
            help: None,
            log: None,
        });
    }

    /// A step that stopped before it started on images (the daemon is unreachable, say).
    pub(super) fn fail_diagnostics(&mut self, step: Step, diagnostics: &Diagnostics) {
        for diagnostic in &diagnostics.0 {
            self.failures.push(Failure {
                image: diagnostic.image.clone().unwrap_or_default(),
                step,
                error: diagnostic.message.clone(),
                help: diagnostic.help.clone(),
                log: None,
            });
        }
    }

    pub(super) fn mirrored(&mut self, mirrors: Vec<MirrorResult>) {
        for mirror in mirrors
            .iter()
            .filter(|m| m.status == MirroredStatus::Failed)
        {
            self.failures.push(Failure {
                image: mirror.image.clone(),
                step: Step::Mirror,
                error: mirror.error.clone().unwrap_or_default(),
                help: mirror.help.clone(),
                log: None,
            });
        }
        self.mirrors = mirrors;
    }

    /// Every image of the catalog, in build order, except those built on a mirror that has no pin
    /// (its upstream could not be resolved and it was never locked): those are reported as not
    /// attempted.
    pub(super) fn buildable(&mut self, workspace: &Workspace) -> Vec<String> {
        let mut selected = Vec::new();
        for name in workspace.graph.select(&[], false).unwrap_or_default() {
            let root = root_mirror(workspace, &name);
            let pinned =
                workspace.catalog.images.get(&root).is_some_and(|image| {
                    matches!(workspace.lock.status(image), LockStatus::Fresh(_))
                });
            if pinned {
                selected.push(name);
            } else {
                let mut result = ImageResult::new(&name, BuildStatus::NotAttempted);
                result.because = Some(format!(
                    "`{root}` has no pin: its upstream could not be resolved"
                ));
                self.images.push(result);
            }
        }
        selected
    }

    /// Takes in the build: its images, failures, promotion, and what was rebuilt and moved.
    pub(super) async fn built(
        &mut self,
        workspace: &Workspace,
        report: BuildReport,
        clients: &Clients,
    ) {
        for image in report
            .images
            .iter()
            .filter(|i| i.status == BuildStatus::Failed)
        {
            self.failures.push(Failure {
                image: image.image.clone(),
                step: Step::Build,
                error: image.error.clone().unwrap_or_default(),
                help: image.help.clone(),
                log: Some(report.logs.join(format!("{}.log", image.image))),
            });
        }
        if let Promotion::Failed { error } = &report.promotion {
            self.fail_run(Step::Promote, error.clone());
        }
        if let Promotion::Moved { images } = &report.promotion {
            for promoted in images {
                let to = report
                    .images
                    .iter()
                    .find(|i| i.image == promoted.image)
                    .and_then(|i| i.reference.as_deref())
                    .map(immutable_tag)
                    .unwrap_or_default();
                let from = match &promoted.previous {
                    Some(digest) => release_tag(workspace, clients, &promoted.image, digest).await,
                    None => None,
                };
                self.moved.push(Moved {
                    image: promoted.image.clone(),
                    tags: promoted.tags.clone(),
                    rollback: from
                        .as_ref()
                        .map(|tag| format!("baseimg rollback {} --to {tag}", promoted.image)),
                    from,
                    to,
                });
            }
        }
        let built: HashSet<&str> = report
            .images
            .iter()
            .filter(|i| i.status == BuildStatus::Built)
            .map(|i| i.image.as_str())
            .collect();
        for image in report
            .images
            .iter()
            .filter(|i| i.status == BuildStatus::Built)
        {
            let reference = image.reference.clone().unwrap_or_default();
            let first = self
                .moved
                .iter()
                .any(|m| m.image == image.image && m.from.is_none());
            self.rebuilt.push(Rebuilt {
                image: image.image.clone(),
                tag: immutable_tag(&reference),
                reference,
                because: self.because(workspace, &image.image, &built, first),
            });
        }
        self.images.extend(report.images);
        self.promotion = Some(report.promotion);
    }

    /// Why an image's fingerprint changed, in a sentence.
    fn because(
        &self,
        workspace: &Workspace,
        name: &str,
        built: &HashSet<&str>,
        first: bool,
    ) -> String {
        let Some(parent) = workspace.catalog.images[name].parent() else {
            return String::new();
        };
        if built.contains(parent) {
            return format!("its parent `{parent}` was rebuilt");
        }
        if let Some(upstream) = self
            .upstreams
            .iter()
            .find(|u| u.image == parent && u.status == UpstreamStatus::Adopted)
        {
            return match (&upstream.pinned, &upstream.current) {
                (Some(old), Some(new)) => format!(
                    "`{parent}` moved upstream: {} → {}",
                    old.short(),
                    new.short()
                ),
                _ => format!("`{parent}` was pinned for the first time"),
            };
        }
        if first {
            return "its first release".to_string();
        }
        "its own inputs changed (template, build context, variables or labels)".to_string()
    }

    /// A dry run: the images whose fingerprint on the next lock file has no release yet.
    pub(super) async fn would_build(&mut self, workspace: &Workspace, clients: &Clients) {
        let selected = self.buildable(workspace);
        let pins = match plan::resolve(
            &workspace.catalog,
            &workspace.lock,
            &selected,
            Unlocked::Unpin,
        ) {
            Ok(pins) => pins,
            Err(diagnostics) => return self.fail_diagnostics(Step::Build, &diagnostics),
        };
        let mut built = HashSet::new();
        for (name, pin) in &pins {
            let Pin::Built(pin) = pin else { continue };
            let image = &workspace.catalog.images[name];
            let (host, repository) = workspace.catalog.private_location(image);
            match clients
                .get(&host)
                .head_manifest(&repository, &pin.immutable_tag)
                .await
            {
                Ok(Some(_)) => {}
                Ok(None) => {
                    built.insert(name.as_str());
                    self.rebuilt.push(Rebuilt {
                        image: name.clone(),
                        tag: pin.immutable_tag.clone(),
                        reference: pin.reference.clone(),
                        because: self.because(workspace, name, &built, false),
                    });
                }
                Err(error) => self.fail_run(Step::Build, error.to_string()),
            }
        }
    }

    /// Fills in the `created` date of each adopted upstream image, read back from the private
    /// registry (no upstream request); left out where the mirror does not have it yet (a dry run).
    pub(super) async fn created_dates(&mut self, workspace: &Workspace, clients: &Clients) {
        for upstream in self
            .upstreams
            .iter_mut()
            .filter(|u| u.status == UpstreamStatus::Adopted)
        {
            let Some(image) = workspace.catalog.images.get(&upstream.image) else {
                continue;
            };
            let Some(entry) = workspace.lock.images.get(&upstream.image) else {
                continue;
            };
            let (host, repository) = workspace.catalog.private_location(image);
            let client = clients.get(&host);
            upstream.created = created(&client, &repository, entry.mirror_digest())
                .await
                .ok()
                .flatten();
        }
    }

    pub(super) fn into_report(self, ending: Ending) -> RefreshReport {
        let ok = self.failures.is_empty();
        RefreshReport {
            run: ending.run,
            started: ending.started,
            seconds: ending.seconds,
            dry_run: ending.dry_run,
            ok,
            catalog: ending.catalog,
            lock_file: ending.lock_file,
            lock_written: ending.lock_written,
            lock_kept_because: ending.lock_kept_because,
            upstreams: self.upstreams,
            mirrors: self.mirrors,
            images: self.images,
            rebuilt: self.rebuilt,
            promotion: self.promotion,
            moved: self.moved,
            failures: self.failures,
            timeline: ending.timeline,
            requests: ending.requests,
            report_dir: ending.report_dir,
        }
    }
}

/// The mirror an image is ultimately built on (the image itself for a mirror).
fn root_mirror(workspace: &Workspace, name: &str) -> String {
    let mut current = name;
    while let Some(parent) = workspace
        .catalog
        .images
        .get(current)
        .and_then(|i| i.parent())
    {
        current = parent;
    }
    current.to_string()
}

/// `host/repo:tag@sha256:…` → `tag`.
fn immutable_tag(reference: &str) -> String {
    let without_digest = reference.split('@').next().unwrap_or(reference);
    match without_digest.rsplit_once(':') {
        Some((repository, tag)) if !tag.contains('/') && !repository.is_empty() => tag.to_string(),
        _ => String::new(),
    }
}

/// The immutable tag of the release at `digest`, from its labels (`<version>-<fingerprint12>`).
async fn release_tag(
    workspace: &Workspace,
    clients: &Clients,
    name: &str,
    digest: &Digest,
) -> Option<String> {
    let image = workspace.catalog.images.get(name)?;
    let (host, repository) = workspace.catalog.private_location(image);
    let labels = config(&clients.get(&host), &repository, digest)
        .await
        .ok()??;
    let labels = &labels["config"]["Labels"];
    let version = labels["org.opencontainers.image.version"].as_str()?;
    let fingerprint = labels[crate::fingerprint::LABEL].as_str()?;
    Some(format!("{version}-{}", fingerprint.get(..12)?))
}

/// The `created` date of the image at `digest` (of its first platform, for an index).
async fn created(
    client: &Client,
    repository: &str,
    digest: &Digest,
) -> Result<Option<String>, RegistryError> {
    let config = config(client, repository, digest).await?;
    // To the second, as everything else in the report: images carry nanoseconds.
    Ok(config
        .and_then(|c| c["created"].as_str().map(str::to_string))
        .map(|created| match crate::clock::parse_rfc3339(&created) {
            Some(time) => crate::clock::rfc3339(time.replace_nanosecond(0).unwrap_or(time)),
            None => created,
        }))
}

/// The image config of `digest` as JSON (of its first platform, for an index).
async fn config(
    client: &Client,
    repository: &str,
    digest: &Digest,
) -> Result<Option<serde_json::Value>, RegistryError> {
    let manifest = client.get_manifest(repository, digest.as_str()).await?;
    client.config_of(repository, &manifest).await
}

/// The run's registry requests by kind: upstream registries (those the catalog mirrors from) apart
/// from the private one.
pub(super) fn requests(workspace: &Workspace, clients: &Clients) -> Requests {
    let upstream_hosts: HashSet<String> = workspace
        .catalog
        .images
        .values()
        .filter_map(|i| i.as_mirror().map(|m| m.upstream.registry.clone()))
        .collect();
    let mut requests = Requests::default();
    for client in clients.all() {
        let counts = if upstream_hosts.contains(client.registry()) {
            &mut requests.upstream
        } else {
            &mut requests.private
        };
        add(counts, &client.stats);
    }
    requests
}

fn add(counts: &mut RequestCounts, stats: &Stats) {
    let get = |n: &std::sync::atomic::AtomicU64| n.load(Ordering::Relaxed);
    counts.manifest_heads += get(&stats.manifest_heads);
    counts.manifest_gets += get(&stats.manifest_gets);
    counts.manifest_puts += get(&stats.manifest_puts);
    counts.blob_heads += get(&stats.blob_heads);
    counts.blob_gets += get(&stats.blob_gets);
    counts.blob_puts += get(&stats.blob_puts);
    counts.blob_mounts += get(&stats.blob_mounts);
    counts.token_requests += get(&stats.token_requests);
    counts.retries += get(&stats.retries);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_immutable_tag_is_read_off_a_pinned_reference() {
        assert_eq!(
            immutable_tag("localhost:5000/base/redis:7.2.4-076fa803e25f@sha256:abc"),
            "7.2.4-076fa803e25f"
        );
        assert_eq!(immutable_tag("localhost:5000/base/redis"), "");
    }
}
