//! `baseimg build`: every selected image rendered, built through the daemon on its digest-pinned
//! parent, labelled, tagged with its immutable tag and (with `--push`) pushed; then, only when every
//! image succeeded, the moving tags are promoted.
//!
//! An image whose fingerprint already exists (in the private registry with `--push`, in the local
//! daemon without) is not built again. Build output goes to one log file per image per run under
//! `.baseimg/logs/<run>/`, and the tail of that log is shown when an image fails.

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use futures_util::{StreamExt, stream};
use indexmap::IndexMap;
use serde::Serialize;

use crate::catalog::{Catalog, Image};
use crate::context::{DOCKERFILE_IN_CONTEXT, write_tar};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::docker::{BuildRequest, Daemon};
use crate::graph::Graph;
use crate::lock::LockFile;
use crate::plan::{BuiltPin, Pin};
use crate::progress::Progress;
use crate::reference::Digest;
use crate::registry::Clients;
use crate::render::{ParentRef, Renderer, check_rendered, static_labels};
use crate::schedule::{self, Outcome};
use crate::sync::Settings;

/// The label that carries an image's fingerprint.
pub const FINGERPRINT_LABEL: &str = "io.baseimg.fingerprint";

/// What one image became in this run.
#[derive(Debug, Clone, Serialize)]
pub struct Node {
    /// The reference children build on: pinned by digest when it is known.
    pub reference: String,
    pub digest: Option<Digest>,
    pub result: NodeResult,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum NodeResult {
    /// A mirror, present in the private registry.
    Mirrored,
    Built,
    /// Not built: an image with this fingerprint exists already.
    Skipped,
}

pub struct Builder<'a> {
    pub catalog: &'a Catalog,
    pub pins: &'a IndexMap<String, Pin>,
    pub daemon: &'a Daemon,
    pub clients: &'a Clients,
    pub push: bool,
    pub logs: PathBuf,
    pub progress: &'a Progress,
    /// `org.opencontainers.image.revision`: the catalog repository's commit, when it is a git checkout.
    pub revision: Option<String>,
    pub created: String,
}

impl Builder<'_> {
    /// Builds (or skips) one image on top of its parents' results.
    pub async fn image(&self, name: &str, parents: &[(String, Node)]) -> Result<Node, String> {
        let image = &self.catalog.images[name];
        let pin = &self.pins[name];
        match pin {
            Pin::Mirror { digest, reference } => Ok(Node {
                reference: reference.clone(),
                digest: Some(digest.clone()),
                result: NodeResult::Mirrored,
            }),
            Pin::Unpinned { why, fix } => Err(format!("{why}; run `{fix}`")),
            Pin::Built(built) => {
                let parent = parents
                    .first()
                    .map(|(_, node)| node)
                    .ok_or("the parent did not finish")?;
                self.build(image, built, parent).await
            }
        }
    }

    async fn build(&self, image: &Image, built: &BuiltPin, parent: &Node) -> Result<Node, String> {
        let (host, repository) = self.catalog.private_location(image);
        let task = self.progress.task(&image.name);
        task.step("looking for its fingerprint");
        if let Some(digest) = self.existing(&host, &repository, built).await? {
            task.finish(&format!("up to date ({})", built.immutable_tag));
            return Ok(Node {
                reference: pinned(&built.reference, digest.as_ref()),
                digest,
                result: NodeResult::Skipped,
            });
        }

        // The Dockerfile as built: the parent pinned by its digest now that it is known.
        let build = image
            .as_build()
            .expect("a built pin belongs to a built image");
        let parent_ref = ParentRef {
            reference: parent.reference.clone(),
            ..built.parent.clone()
        };
        let renderer = Renderer::new(self.catalog);
        let dockerfile = renderer
            .render(self.catalog, image, build, &parent_ref)
            .map_err(|d| d.to_string())?;
        let problems = check_rendered(
            self.catalog,
            image,
            build,
            &dockerfile,
            &parent_ref,
            Some(&built.context),
        );
        if problems.has_errors() {
            return Err(problems.to_string());
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
        labels.insert(FINGERPRINT_LABEL.into(), built.fingerprint.to_string());

        let context_dir = self.catalog.root_dir().join(&build.context);
        let tar = tempfile::NamedTempFile::new()
            .map_err(|e| format!("cannot create the context archive: {e}"))?;
        let file = tar.reopen().map_err(|e| e.to_string())?;
        let entries = built.context.clone();
        // The classic builder turns every label passed through the API into a step of its own (a
        // container and a commit each: seconds per image). One LABEL instruction appended to the
        // Dockerfile does the same in one step. A `target` stage may not be the last, so then the
        // labels go through the API after all.
        let (dockerfile, labels) = if build.target.is_none() {
            (
                format!("{dockerfile}\n{}", label_instruction(&labels)),
                HashMap::new(),
            )
        } else {
            (dockerfile, labels)
        };
        let dockerfile_text = dockerfile.clone();
        let dir = context_dir.clone();
        tokio::task::spawn_blocking(move || write_tar(&dir, &entries, &dockerfile_text, file))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| {
                format!(
                    "cannot pack the build context `{}`: {e}",
                    context_dir.display()
                )
            })?;

        let log_path = self.logs.join(format!("{}.log", image.name));
        let mut log = LogFile::create(&log_path)?;
        log.line(&format!(
            "# {} — fingerprint {}",
            built.reference, built.fingerprint
        ));
        for line in dockerfile.lines() {
            log.line(&format!("# | {line}"));
        }
        task.step("building");
        let started = Instant::now();
        let request = BuildRequest {
            context_tar: tar.path(),
            dockerfile: DOCKERFILE_IN_CONTEXT,
            tag: &built.reference,
            build_args: build.build_args.clone().into_iter().collect(),
            labels,
            target: build.target.as_deref(),
            network: build.network.as_deref(),
            platform: image
                .platforms
                .first()
                .map(String::as_str)
                .filter(|_| image.platforms.len() == 1),
            registries: vec![host.clone()],
        };
        let result = self
            .daemon
            .build(request, |line| {
                log.line(line);
                if line.starts_with("Step ") {
                    task.step(line);
                }
            })
            .await;
        if let Err(error) = result {
            task.finish("failed");
            return Err(format!("build failed: {error}\n{}", log.tail(12)));
        }
        let mut digest = None;
        if self.push {
            task.step("pushing");
            let repository_ref = format!("{host}/{repository}");
            self.daemon
                .push(&host, &repository_ref, &built.immutable_tag, |line| {
                    log.line(line)
                })
                .await
                .map_err(|e| {
                    task.finish("push failed");
                    e.to_string()
                })?;
            let client = self.clients.get(&host);
            digest = client
                .head_manifest(&repository, &built.immutable_tag)
                .await
                .map_err(|e| e.to_string())?
                .map(|(d, _, _)| d);
        }
        task.finish(&format!("built in {:.1}s", started.elapsed().as_secs_f64()));
        Ok(Node {
            reference: pinned(&built.reference, digest.as_ref()),
            digest,
            result: NodeResult::Built,
        })
    }

    /// The digest of an image with this fingerprint, if one exists already (`Some(None)`: it exists in
    /// the local daemon, where it has no registry digest).
    async fn existing(
        &self,
        host: &str,
        repository: &str,
        built: &BuiltPin,
    ) -> Result<Option<Option<Digest>>, String> {
        if self.push {
            let client = self.clients.get(host);
            let found = client
                .head_manifest(repository, &built.immutable_tag)
                .await
                .map_err(|e| e.to_string())?;
            Ok(found.map(|(digest, _, _)| Some(digest)))
        } else {
            let found = self
                .daemon
                .inspect(&built.reference)
                .await
                .map_err(|e| e.to_string())?;
            Ok(found
                .filter(|(_, labels)| {
                    labels.get(FINGERPRINT_LABEL) == Some(&built.fingerprint.to_string())
                })
                .map(|_| None))
        }
    }

    /// Moves the catalog's moving tags to this run's images. Called only when every image succeeded.
    /// A tag already on the right digest costs one HEAD; images are promoted concurrently. Returns the
    /// images whose tags moved.
    pub async fn promote(
        &self,
        outcomes: &IndexMap<String, Outcome<Node>>,
    ) -> Result<Vec<String>, String> {
        let work: Vec<(&String, &Node, &BuiltPin)> = outcomes
            .iter()
            .filter_map(
                |(name, outcome)| match (outcome.value(), &self.pins[name]) {
                    (Some(node), Pin::Built(built)) => Some((name, node, built.as_ref())),
                    _ => None,
                },
            )
            .collect();
        let results: Vec<Result<Option<String>, String>> = stream::iter(work)
            .map(|(name, node, built)| async move {
                let image = &self.catalog.images[name];
                let tags = &image.as_build().expect("built").tags;
                let (host, repository) = self.catalog.private_location(image);
                if self.push {
                    let client = self.clients.get(&host);
                    let mut manifest = None;
                    let mut moved = false;
                    for tag in tags {
                        let current = client.head_manifest(&repository, tag).await.map_err(|e| e.to_string())?;
                        let already = matches!((&current, &node.digest), (Some((c, _, _)), Some(d)) if c == d);
                        if already {
                            continue;
                        }
                        if manifest.is_none() {
                            // By digest: exactly the image this run's children were built on, even if
                            // another run pushed the same fingerprint (another `created`) meanwhile.
                            let reference = node
                                .digest
                                .as_ref()
                                .map(|d| d.to_string())
                                .unwrap_or_else(|| built.immutable_tag.clone());
                            manifest = Some(
                                client
                                    .get_manifest(&repository, &reference)
                                    .await
                                    .map_err(|e| e.to_string())?,
                            );
                        }
                        let manifest = manifest.as_ref().expect("fetched above");
                        client.put_manifest(&repository, tag, manifest).await.map_err(|e| e.to_string())?;
                        moved = true;
                    }
                    if !moved {
                        return Ok(None);
                    }
                } else {
                    for tag in tags {
                        self.daemon
                            .tag(&built.reference, &format!("{host}/{repository}"), tag)
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                }
                Ok(Some(format!("{name} → {}", tags.join(", "))))
            })
            .buffered(8)
            .collect()
            .await;
        Ok(results
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect())
    }
}

/// `LABEL "k"="v" …` with Dockerfile quoting (`$` would otherwise be expanded), keys sorted.
fn label_instruction(labels: &HashMap<String, String>) -> String {
    let quote = |text: &str| {
        let json = serde_json::to_string(text).expect("strings serialize");
        json.replace('$', "\\$")
    };
    let mut pairs: Vec<(&String, &String)> = labels.iter().collect();
    pairs.sort();
    let body: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", quote(k), quote(v)))
        .collect();
    format!("LABEL {}\n", body.join(" \\\n      "))
}

fn pinned(reference: &str, digest: Option<&Digest>) -> String {
    match digest {
        Some(digest) => format!("{reference}@{digest}"),
        None => reference.to_string(),
    }
}

/// A build log: every line the daemon sent, kept for after the run.
struct LogFile {
    path: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
    tail: std::collections::VecDeque<String>,
}

impl LogFile {
    fn create(path: &Path) -> Result<LogFile, String> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
        }
        let file = std::fs::File::create(path)
            .map_err(|e| format!("cannot create `{}`: {e}", path.display()))?;
        Ok(LogFile {
            path: path.to_path_buf(),
            file: std::io::BufWriter::new(file),
            tail: std::collections::VecDeque::new(),
        })
    }

    fn line(&mut self, line: &str) {
        let _ = writeln!(self.file, "{line}");
        self.tail.push_back(line.to_string());
        if self.tail.len() > 40 {
            self.tail.pop_front();
        }
    }

    fn tail(&mut self, lines: usize) -> String {
        let _ = self.file.flush();
        let start = self.tail.len().saturating_sub(lines);
        let mut out = format!("last lines of {}:", self.path.display());
        for line in self.tail.iter().skip(start) {
            out.push_str("\n  | ");
            out.push_str(line);
        }
        out
    }
}

impl Drop for LogFile {
    fn drop(&mut self) {
        let _ = self.file.flush();
    }
}

/// The commit of the catalog's repository, if it is a git checkout (for the `revision` label).
pub fn git_revision(root: &Path) -> Option<String> {
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["rev-parse", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// The parents map the scheduler needs.
pub fn parents_of(graph: &Graph, selection: &[String]) -> HashMap<String, Vec<String>> {
    selection
        .iter()
        .map(|name| {
            (
                name.clone(),
                graph
                    .parents(name)
                    .into_iter()
                    .map(str::to_string)
                    .collect(),
            )
        })
        .collect()
}

/// A run's identity, used for its log directory: `20261127T184501Z`.
pub fn run_id() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

/// Checks up front that every selected mirror is in the private registry, so a build never reaches
/// for upstream (and fails early, saying which command fixes it).
pub async fn check_mirrors(
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
                Diagnostic::error(format!("`{name}` ({digest}) is not in the private registry yet"))
                    .image(name)
                    .help("run `baseimg mirror` first: builds read their bases only from the private registry"),
            ),
            Err(error) => diagnostics.push(Diagnostic::error(format!("cannot check `{name}`: {error}")).image(name)),
        }
    }
    diagnostics
}

/// Per-image lines of the run summary.
pub fn summary_rows(
    outcomes: &IndexMap<String, Outcome<Node>>,
) -> BTreeMap<usize, (String, String, String, String)> {
    outcomes
        .iter()
        .enumerate()
        .map(|(i, (name, outcome))| {
            let (result, time, detail) = match outcome {
                Outcome::Done { value, elapsed } => (
                    match value.result {
                        NodeResult::Mirrored => "mirrored",
                        NodeResult::Built => "built",
                        NodeResult::Skipped => "up to date",
                    }
                    .to_string(),
                    format!("{:.1}s", elapsed.as_secs_f64()),
                    value.reference.clone(),
                ),
                Outcome::Failed { error, elapsed } => (
                    "FAILED".to_string(),
                    format!("{:.1}s", elapsed.as_secs_f64()),
                    error.clone(),
                ),
                Outcome::NotAttempted { because } => (
                    "not attempted".to_string(),
                    "-".to_string(),
                    if because == "interrupted" {
                        "interrupted".to_string()
                    } else {
                        format!("`{because}` failed")
                    },
                ),
                Outcome::Interrupted => (
                    "interrupted".to_string(),
                    "-".to_string(),
                    "stopped by Ctrl-C".to_string(),
                ),
            };
            (i, (name.clone(), result, time, detail))
        })
        .collect()
}

/// `baseimg build [IMAGE…] [--push]`: the whole job for the selected images and what they need.
pub fn run(
    settings: &Settings,
    catalog: &Catalog,
    lock: &LockFile,
    graph: &Graph,
    selected: &[String],
    push: bool,
) -> Result<i32, Diagnostics> {
    let pins = crate::plan::resolve(catalog, lock, selected, crate::plan::Unlocked::Unpin)?;
    let mut unpinned = Diagnostics::default();
    for (name, pin) in &pins {
        if let (Pin::Unpinned { why, fix }, Some(_)) = (pin, catalog.images[name].as_mirror()) {
            unpinned.push(
                Diagnostic::error(format!("`{name}` is not pinned: {why}"))
                    .image(name)
                    .help(format!(
                        "run `{fix}` first; a build reads every base from the lock file"
                    )),
            );
        }
    }
    if unpinned.has_errors() {
        return Err(unpinned);
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            Diagnostics::from(Diagnostic::error(format!(
                "cannot start the async runtime: {e}"
            )))
        })?;
    let clients = Clients::new(&catalog.insecure_registries);
    let missing = runtime.block_on(check_mirrors(catalog, &pins, &clients));
    if missing.has_errors() {
        return Err(missing);
    }
    let daemon = runtime
        .block_on(Daemon::connect())
        .map_err(|e| Diagnostics::from(Diagnostic::error(e.to_string())))?;

    let run = run_id();
    let progress = Progress::new(settings.progress);
    let builder = Builder {
        catalog,
        pins: &pins,
        daemon: &daemon,
        clients: &clients,
        push,
        logs: catalog.root_dir().join(".baseimg/logs").join(&run),
        progress: &progress,
        revision: git_revision(catalog.root_dir()),
        created: crate::upstream::now_rfc3339(),
    };
    let parents = parents_of(graph, selected);
    let started = Instant::now();
    let outcomes = runtime.block_on(schedule::run(
        selected,
        &parents,
        settings.jobs,
        |name, parent_nodes| {
            let builder = &builder;
            async move { builder.image(&name, &parent_nodes).await }
        },
        async {
            let _ = tokio::signal::ctrl_c().await;
        },
    ));

    let all_done = outcomes.values().all(|o| o.value().is_some());
    let promotion = if all_done {
        Some(runtime.block_on(builder.promote(&outcomes)))
    } else {
        None
    };
    let elapsed = started.elapsed();
    let count = |wanted: &str| {
        outcomes
            .values()
            .filter(|o| match o {
                Outcome::Done { value, .. } => match value.result {
                    NodeResult::Built => wanted == "built",
                    NodeResult::Skipped => wanted == "skipped",
                    NodeResult::Mirrored => wanted == "mirrored",
                },
                Outcome::Failed { .. } => wanted == "failed",
                Outcome::NotAttempted { .. } | Outcome::Interrupted => wanted == "not attempted",
            })
            .count()
    };
    let promotion_failed = matches!(promotion, Some(Err(_)));
    let ok = all_done && !promotion_failed;

    if settings.json {
        let images: Vec<serde_json::Value> = outcomes
            .iter()
            .map(|(name, outcome)| match outcome {
                Outcome::Done { value, elapsed } => serde_json::json!({
                    "image": name, "result": value.result, "reference": value.reference,
                    "digest": value.digest, "seconds": elapsed.as_secs_f64(),
                }),
                Outcome::Failed { error, elapsed } => serde_json::json!({
                    "image": name, "result": "failed", "error": error, "seconds": elapsed.as_secs_f64(),
                }),
                Outcome::NotAttempted { because } => serde_json::json!({
                    "image": name, "result": "not_attempted", "because": because,
                }),
                Outcome::Interrupted => serde_json::json!({ "image": name, "result": "interrupted" }),
            })
            .collect();
        let json = serde_json::json!({
            "ok": ok,
            "push": push,
            "images": images,
            "built": count("built"),
            "skipped": count("skipped"),
            "failed": count("failed"),
            "not_attempted": count("not attempted"),
            "promoted": promotion.as_ref().and_then(|p| p.as_ref().ok()),
            "logs": builder.logs.display().to_string(),
            "seconds": elapsed.as_secs_f64(),
        });
        println!("{}", serde_json::to_string_pretty(&json).expect("json"));
    } else {
        let rows = summary_rows(&outcomes);
        let width = rows.values().map(|r| r.0.len()).max().unwrap_or(5).max(5);
        for (name, result, time, detail) in rows.values() {
            let mut lines = detail.lines();
            println!(
                "{name:width$}  {result:13}  {time:>6}  {}",
                lines.next().unwrap_or("")
            );
            for line in lines {
                println!("{:width$}  {:13}  {:>6}  {line}", "", "", "");
            }
        }
        println!();
        match &promotion {
            Some(Ok(promoted)) if !promoted.is_empty() => {
                println!("promoted: {}", promoted.join("; "))
            }
            Some(Ok(_)) => println!("moving tags: all already in place"),
            Some(Err(error)) => println!(
                "promotion failed: {error}; moving tags may be partly moved, run the build again"
            ),
            None => println!(
                "not promoted: moving tags left where they were, because not every image succeeded"
            ),
        }
        let (built, skipped) = (count("built"), count("skipped"));
        if built == 0 && skipped > 0 && ok {
            println!(
                "nothing to build: every image is up to date ({skipped} checked) in {:.2}s",
                elapsed.as_secs_f64()
            );
        } else {
            println!(
                "{built} built, {skipped} up to date, {} failed, {} not attempted in {:.1}s; logs in {}",
                count("failed"),
                count("not attempted"),
                elapsed.as_secs_f64(),
                builder.logs.display()
            );
        }
    }
    Ok(if ok {
        crate::cli::EXIT_OK
    } else {
        crate::cli::EXIT_FOUND
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_become_one_quoted_instruction() {
        let labels = HashMap::from([
            ("b".to_string(), "price $5 \"cheap\"".to_string()),
            ("a".to_string(), "x".to_string()),
        ]);
        assert_eq!(
            label_instruction(&labels),
            "LABEL \"a\"=\"x\" \\\n      \"b\"=\"price \\$5 \\\"cheap\\\"\"\n"
        );
    }
}
