//! The registry commands: `lock`, `update`, `mirror` and `outdated`. Each runs its per-image work
//! concurrently (bounded by `--jobs`), reports every image, and changes nothing unless all of what it
//! must do together succeeded (the lock file is written whole or not at all).

use std::path::Path;
use std::time::Instant;

use futures_util::{StreamExt, stream};

use crate::catalog::{Catalog, Image};
use crate::cli::{EXIT_FOUND, EXIT_OK};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::lock::{LockEntry, LockFile, LockStatus};
use crate::mirror::{KnownBlobs, Mirror, Outcome};
use crate::progress::{Mode, Progress, human_bytes};
use crate::registry::{Clients, RateLimit};
use crate::upstream;

pub struct Settings {
    pub json: bool,
    pub progress: Mode,
    pub jobs: usize,
}

pub struct Context<'a> {
    pub catalog: &'a Catalog,
    pub lock: &'a LockFile,
    pub lock_path: &'a Path,
}

fn runtime() -> Result<tokio::runtime::Runtime, Diagnostics> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Diagnostic::error(format!("cannot start the async runtime: {e}")).into())
}

/// One mirror's lock result: its entry and what happened to it (`pinned`, `kept`, …), or the error.
type Resolved<'a> = (&'a Image, Result<(LockEntry, &'static str, String), String>);

fn mirrors<'a>(catalog: &'a Catalog, names: &[String]) -> Vec<&'a Image> {
    catalog
        .images
        .values()
        .filter(|i| i.as_mirror().is_some() && (names.is_empty() || names.contains(&i.name)))
        .collect()
}

fn print_json(value: serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(&value).expect("json"));
}

/// Budget lines for every registry that reported one.
fn rate_limits(clients: &Clients) -> Vec<(String, RateLimit)> {
    let mut limits: Vec<(String, RateLimit)> = clients
        .all()
        .iter()
        .filter_map(|c| c.rate_limit().map(|l| (c.registry().to_string(), l)))
        .collect();
    limits.sort_by(|a, b| a.0.cmp(&b.0));
    limits
}

fn describe_limit(registry: &str, limit: &RateLimit) -> String {
    match limit.limit {
        Some(total) => format!(
            "{registry}: {} of {total} pulls left in the current window",
            limit.remaining
        ),
        None => format!(
            "{registry}: {} pulls left in the current window",
            limit.remaining
        ),
    }
}

/// `lock` (`names` = None) pins what is not pinned yet; `update` (`names` = Some) re-resolves the named
/// mirrors, or all of them.
pub fn lock(
    settings: &Settings,
    context: &Context,
    names: Option<&Vec<String>>,
) -> Result<i32, Diagnostics> {
    let catalog = context.catalog;
    if let Some(names) = names {
        let mut unknown = Diagnostics::default();
        for name in names {
            match catalog.images.get(name) {
                Some(image) if image.as_mirror().is_some() => {}
                Some(_) => unknown.push(
                    Diagnostic::error(format!(
                        "`{name}` is built, not mirrored; only mirrors have lock entries"
                    ))
                    .help("`baseimg update` takes the names of mirrored images"),
                ),
                None => unknown.push(Diagnostic::error(format!(
                    "no image named `{name}` in the catalog"
                ))),
            }
        }
        if unknown.has_errors() {
            return Err(unknown);
        }
    }
    let wanted = names.cloned().unwrap_or_default();
    let images = mirrors(catalog, &[]);
    let clients = Clients::new(&catalog.insecure_registries);
    let progress = Progress::new(settings.progress);
    let now = upstream::now_rfc3339();

    let results: Vec<Resolved> = runtime()?.block_on(async {
        stream::iter(images)
            .map(|image| {
                let (clients, progress, now, wanted) = (&clients, &progress, &now, &wanted);
                async move {
                    let existing = context.lock.images.get(&image.name);
                    let fresh = matches!(context.lock.status(image), LockStatus::Fresh(_));
                    let asked =
                        names.is_some() && (wanted.is_empty() || wanted.contains(&image.name));
                    if fresh && !asked {
                        return (
                            image,
                            Ok((
                                existing.expect("fresh entries exist").clone(),
                                "kept",
                                String::new(),
                            )),
                        );
                    }
                    let task = progress.task(&image.name);
                    task.step("resolving");
                    let result = upstream::resolve(clients, catalog, image, existing, now).await;
                    let result = match result {
                        Ok(resolution) => {
                            let entry = resolution.entry;
                            let what = match existing {
                                None => "pinned",
                                Some(old) if old == &entry => "unchanged",
                                Some(_) => "changed",
                            };
                            // Say so when a platform filter makes the mirror a new, smaller index.
                            let note = match resolution.upstream_platforms {
                                Some(total) if !entry.only.is_empty() => format!(
                                    "kept {} of {total} platforms: new index {}",
                                    entry.only.join(", "),
                                    entry.mirror_digest()
                                ),
                                _ => String::new(),
                            };
                            task.finish(&format!("{what} {}", entry.digest.short()));
                            Ok((entry, what, note))
                        }
                        Err(error) => {
                            task.finish("failed");
                            Err(error.to_string())
                        }
                    };
                    (image, result)
                }
            })
            .buffered(settings.jobs)
            .collect()
            .await
    });

    let mut failures = Diagnostics::default();
    let mut new_lock = LockFile::default();
    let mut rows = Vec::new();
    for (image, result) in results {
        match result {
            Ok((entry, what, note)) => {
                rows.push((image.name.clone(), what, entry.digest.to_string(), entry.source.to_string(), note));
                new_lock.images.insert(image.name.clone(), entry);
            }
            Err(message) => failures.push(
                Diagnostic::error(format!("cannot resolve `{}`: {message}", image.name))
                    .at(catalog.locate(image.as_mirror().expect("mirror").span))
                    .image(&image.name)
                    .help("check the reference and that the registry is reachable; the lock file was not changed"),
            ),
        }
    }
    if failures.has_errors() {
        return Err(failures);
    }
    let changed = new_lock != *context.lock;
    if changed {
        new_lock.save(context.lock_path).map_err(|e| {
            Diagnostics::from(Diagnostic::error(format!(
                "cannot write `{}`: {e}",
                context.lock_path.display()
            )))
        })?;
    }
    let limits = rate_limits(&clients);
    if settings.json {
        print_json(serde_json::json!({
            "lock_file": context.lock_path.display().to_string(),
            "written": changed,
            "images": rows.iter().map(|(name, what, digest, source, note)| serde_json::json!({
                "image": name, "result": what, "digest": digest, "source": source, "note": note,
            })).collect::<Vec<_>>(),
            "rate_limits": limits.iter().map(|(r, l)| serde_json::json!({"registry": r, "remaining": l.remaining, "limit": l.limit})).collect::<Vec<_>>(),
        }));
    } else {
        let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(5).max(5);
        for (name, what, digest, source, note) in &rows {
            println!("{name:width$}  {what:9}  {digest}  {source}");
            if !note.is_empty() {
                println!("{:width$}  {note}", "");
            }
        }
        for (registry, limit) in &limits {
            println!("{}", describe_limit(registry, limit));
        }
        if changed {
            println!("wrote {}", context.lock_path.display());
        } else {
            println!("{} is up to date", context.lock_path.display());
        }
    }
    Ok(EXIT_OK)
}

/// Copies the locked digests of the selected mirrors into the private registry.
pub fn mirror(
    settings: &Settings,
    context: &Context,
    selection: &[String],
) -> Result<i32, Diagnostics> {
    let catalog = context.catalog;
    let images = mirrors(catalog, selection);
    let mut unpinned = Diagnostics::default();
    let mut work: Vec<(&Image, &LockEntry)> = Vec::new();
    for image in images {
        match context.lock.status(image) {
            LockStatus::Fresh(entry) => work.push((image, entry)),
            LockStatus::Missing => unpinned.push(
                Diagnostic::error(format!(
                    "`{}` is not pinned in `{}`",
                    image.name,
                    context.lock_path.display()
                ))
                .image(&image.name)
                .help("run `baseimg lock` first"),
            ),
            LockStatus::Stale { why } => unpinned.push(
                Diagnostic::error(format!(
                    "the lock entry of `{}` is out of date: {why}",
                    image.name
                ))
                .image(&image.name)
                .help(format!("run `baseimg update {}` first", image.name)),
            ),
        }
    }
    if unpinned.has_errors() {
        return Err(unpinned);
    }

    let clients = Clients::new(&catalog.insecure_registries);
    let known = KnownBlobs::default();
    let mirror = Mirror {
        catalog,
        clients: &clients,
        known: &known,
        retry: backon::ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(std::time::Duration::from_millis(200))
            .with_max_times(6),
    };
    let progress = Progress::new(settings.progress);
    let started = Instant::now();
    let runtime = runtime()?;

    // 1. What does the private registry lack? (Nothing is asked of upstream for what it has.)
    let presence: Vec<Result<bool, String>> = runtime.block_on(
        stream::iter(&work)
            .map(|(image, entry)| {
                let mirror = &mirror;
                async move {
                    mirror
                        .is_present(image, entry)
                        .await
                        .map_err(|e| e.to_string())
                }
            })
            .buffered(settings.jobs)
            .collect(),
    );
    let mut failures = Diagnostics::default();
    for ((image, _), present) in work.iter().zip(&presence) {
        if let Err(message) = present {
            failures.push(
                Diagnostic::error(format!(
                    "cannot check `{}` in the private registry: {message}",
                    image.name
                ))
                .image(&image.name),
            );
        }
    }
    if failures.has_errors() {
        return Err(failures);
    }
    let present: Vec<bool> = presence.into_iter().map(|p| p.unwrap_or(false)).collect();

    // 2. Will upstream's pull budget cover the manifest GETs the copy needs? Ask with a HEAD (free).
    let to_copy: Vec<&(&Image, &LockEntry)> = work
        .iter()
        .zip(&present)
        .filter(|(_, p)| !**p)
        .map(|(w, _)| w)
        .collect();
    if !to_copy.is_empty() {
        runtime.block_on(async {
            let mut seen = std::collections::HashSet::new();
            for (_, entry) in &to_copy {
                if seen.insert(entry.source.registry.clone()) {
                    let client = clients.get(&entry.source.registry);
                    let _ = client
                        .head_manifest(&entry.source.repository, entry.digest.as_str())
                        .await;
                }
            }
        });
        let mut budget_errors = Diagnostics::default();
        for (registry, limit) in rate_limits(&clients) {
            let needed: u64 = to_copy
                .iter()
                .filter(|(_, e)| e.source.registry == registry)
                // The index (or manifest), then each platform's manifest. Unfiltered indexes are copied
                // whole, attestation manifests included (Docker publishes one beside each platform),
                // which the lock does not list: count them as an upper bound.
                .map(|(_, e)| {
                    let platforms = e.platforms.len() as u64;
                    1 + if e.only.is_empty() {
                        2 * platforms
                    } else {
                        platforms
                    }
                })
                .sum();
            if limit.remaining < needed {
                budget_errors.push(
                    Diagnostic::error(format!(
                        "{registry} allows {} more pulls now; mirroring needs up to {needed} manifest requests there",
                        limit.remaining
                    ))
                    .help("nothing was copied; run again when the window resets, or mirror fewer images (`baseimg mirror IMAGE…`)"),
                );
            }
        }
        if budget_errors.has_errors() {
            return Err(budget_errors);
        }
    }

    // 3. Copy.
    let outcomes: Vec<(&Image, Result<Outcome, String>)> = runtime.block_on(
        stream::iter(work.iter().zip(present))
            .map(|((image, entry), present)| {
                let (mirror, progress) = (&mirror, &progress);
                async move {
                    let task = progress.task(&image.name);
                    let result = mirror.copy(image, entry, present, &task).await;
                    match &result {
                        Ok(Outcome::Present { .. }) => task.finish("already mirrored"),
                        Ok(Outcome::Copied(c)) => task.finish(&format!(
                            "copied {} blobs ({}), mounted {}, present {}",
                            c.blobs_copied,
                            human_bytes(c.bytes),
                            c.blobs_mounted,
                            c.blobs_present
                        )),
                        Err(_) => task.finish("failed"),
                    }
                    (*image, result.map_err(|e| e.to_string()))
                }
            })
            .buffered(settings.jobs)
            .collect(),
    );
    let elapsed = started.elapsed();
    let upstream_requests: u64 = {
        let private_hosts: std::collections::HashSet<String> = work
            .iter()
            .map(|(image, _)| catalog.private_location(image).0)
            .collect();
        clients
            .all()
            .iter()
            .filter(|c| !private_hosts.contains(c.registry()))
            .map(|c| c.stats.requests())
            .sum()
    };
    let total_requests: u64 = clients.all().iter().map(|c| c.stats.requests()).sum();
    let retries: u64 = clients
        .all()
        .iter()
        .map(|c| c.stats.retries.load(std::sync::atomic::Ordering::Relaxed))
        .sum();
    let failed = outcomes.iter().filter(|(_, r)| r.is_err()).count();
    let limits = rate_limits(&clients);

    if settings.json {
        print_json(serde_json::json!({
            "images": outcomes.iter().map(|(image, result)| match result {
                Ok(outcome) => serde_json::json!({"image": image.name, "ok": true, "outcome": outcome}),
                Err(error) => serde_json::json!({"image": image.name, "ok": false, "error": error}),
            }).collect::<Vec<_>>(),
            "seconds": elapsed.as_secs_f64(),
            "requests": total_requests,
            "upstream_requests": upstream_requests,
            "retries": retries,
            "rate_limits": limits.iter().map(|(r, l)| serde_json::json!({"registry": r, "remaining": l.remaining, "limit": l.limit})).collect::<Vec<_>>(),
        }));
    } else {
        for (image, result) in &outcomes {
            let (host, repository) = catalog.private_location(image);
            match result {
                Ok(Outcome::Present { retagged: 0 }) => {
                    println!("{:24} up to date       {host}/{repository}", image.name)
                }
                Ok(Outcome::Present { retagged }) => println!(
                    "{:24} re-tagged ({retagged})    {host}/{repository}",
                    image.name
                ),
                Ok(Outcome::Copied(c)) => println!(
                    "{:24} copied {:>9}  {host}/{repository}  ({} blobs copied, {} mounted, {} present)",
                    image.name,
                    human_bytes(c.bytes),
                    c.blobs_copied,
                    c.blobs_mounted,
                    c.blobs_present
                ),
                Err(error) => println!("{:24} FAILED           {error}", image.name),
            }
        }
        for (registry, limit) in &limits {
            println!("{}", describe_limit(registry, limit));
        }
        println!(
            "{} images in {:.2}s: {} requests ({} upstream, {} retried), {} failed",
            outcomes.len(),
            elapsed.as_secs_f64(),
            total_requests,
            upstream_requests,
            retries,
            failed
        );
    }
    Ok(if failed > 0 { EXIT_FOUND } else { EXIT_OK })
}

/// Compares every lock entry with where its upstream tag points now.
pub fn outdated(settings: &Settings, context: &Context) -> Result<i32, Diagnostics> {
    let catalog = context.catalog;
    let images = mirrors(catalog, &[]);
    let clients = Clients::new(&catalog.insecure_registries);
    let results: Vec<(&Image, Result<Option<String>, String>)> = runtime()?.block_on(
        stream::iter(images)
            .map(|image| {
                let clients = &clients;
                async move {
                    let mirror = image.as_mirror().expect("mirror");
                    let result = upstream::current_digest(clients, &mirror.upstream)
                        .await
                        .map(|(digest, _)| Some(digest.to_string()))
                        .map_err(|e| e.to_string());
                    (image, result)
                }
            })
            .buffered(settings.jobs)
            .collect(),
    );
    let mut failures = Diagnostics::default();
    let mut rows = Vec::new();
    for (image, result) in results {
        let mirror = image.as_mirror().expect("mirror");
        let locked = context
            .lock
            .images
            .get(&image.name)
            .filter(|e| e.source == mirror.upstream);
        match result {
            Err(message) => failures.push(
                Diagnostic::error(format!("cannot check `{}`: {message}", image.name))
                    .image(&image.name),
            ),
            Ok(current) => {
                let current = current.unwrap_or_default();
                let status = match locked {
                    None => "not locked",
                    Some(entry) if entry.digest.as_str() == current => "up to date",
                    Some(_) => "moved",
                };
                rows.push(serde_json::json!({
                    "image": image.name,
                    "reference": mirror.upstream.to_string(),
                    "locked": locked.map(|e| e.digest.to_string()),
                    "current": current,
                    "status": status,
                }));
            }
        }
    }
    if failures.has_errors() {
        return Err(failures);
    }
    let drift = rows.iter().filter(|r| r["status"] != "up to date").count();
    if settings.json {
        print_json(serde_json::json!({ "images": rows, "outdated": drift }));
    } else {
        let width = rows
            .iter()
            .map(|r| r["image"].as_str().unwrap_or("").len())
            .max()
            .unwrap_or(5)
            .max(5);
        println!(
            "{:width$}  {:10}  {:19}  {:19}  REFERENCE",
            "IMAGE", "STATUS", "LOCKED", "CURRENT"
        );
        let short = |v: &serde_json::Value| {
            v.as_str()
                .map(|d| d.chars().take(19).collect::<String>())
                .unwrap_or_else(|| "-".into())
        };
        for row in &rows {
            println!(
                "{:width$}  {:10}  {:19}  {:19}  {}",
                row["image"].as_str().unwrap_or(""),
                row["status"].as_str().unwrap_or(""),
                short(&row["locked"]),
                short(&row["current"]),
                row["reference"].as_str().unwrap_or("")
            );
        }
        if drift == 0 {
            println!("\neverything is up to date");
        } else {
            println!(
                "\n{drift} of {} mirrors moved upstream or are not locked: run `baseimg update` then `baseimg mirror`",
                rows.len()
            );
        }
    }
    Ok(if drift > 0 { EXIT_FOUND } else { EXIT_OK })
}

/// Looks up, in the private registry, what a plan needs to know: which mirrors are there, which
/// fingerprints are built, and which fingerprint each image's first moving tag carries now. Private
/// registry only: planning never spends upstream's pull budget.
pub fn snapshot(
    catalog: &Catalog,
    pins: &indexmap::IndexMap<String, crate::plan::Pin>,
    jobs: usize,
) -> Result<crate::plan::Snapshot, Diagnostics> {
    use crate::plan::{Pin, Snapshot};
    let clients = Clients::new(&catalog.insecure_registries);
    type Found = (
        String,
        Option<bool>,
        Option<bool>,
        Option<crate::fingerprint::Fingerprint>,
    );
    let results: Vec<Result<Found, String>> = runtime()?.block_on(
        stream::iter(pins.iter())
            .map(|(name, pin)| {
                let clients = &clients;
                async move {
                    let image = &catalog.images[name];
                    let (host, repository) = catalog.private_location(image);
                    let client = clients.get(&host);
                    let error = |e: crate::registry::RegistryError| e.to_string();
                    match pin {
                        Pin::Mirror { digest, .. } => {
                            let found = client
                                .head_manifest(&repository, digest.as_str())
                                .await
                                .map_err(error)?;
                            Ok((name.clone(), Some(found.is_some()), None, None))
                        }
                        Pin::Built(built) => {
                            let found = client
                                .head_manifest(&repository, &built.immutable_tag)
                                .await
                                .map_err(error)?;
                            let mut previous = None;
                            let moving = image.as_build().and_then(|b| b.tags.first());
                            if found.is_none()
                                && let Some(tag) = moving
                            {
                                previous = current_fingerprint(&client, &repository, tag)
                                    .await
                                    .map_err(error)?;
                            }
                            Ok((name.clone(), None, Some(found.is_some()), previous))
                        }
                        Pin::Unpinned { .. } => Ok((name.clone(), None, None, None)),
                    }
                }
            })
            .buffered(jobs.max(1) * 2)
            .collect(),
    );
    let mut snapshot = Snapshot::default();
    let mut failures = Diagnostics::default();
    for result in results {
        match result {
            Ok((name, mirror, build, previous)) => {
                if let Some(present) = mirror {
                    snapshot.mirrors.insert(name.clone(), present);
                }
                if let Some(present) = build {
                    snapshot.builds.insert(name.clone(), present);
                }
                if let Some(previous) = previous {
                    snapshot.previous.insert(name, previous);
                }
            }
            Err(message) => failures.push(
                Diagnostic::error(format!("cannot look into the private registry: {message}"))
                    .help(
                        "check that it is reachable, or plan without it: `baseimg plan --offline`",
                    ),
            ),
        }
    }
    if failures.has_errors() {
        return Err(failures.dedupe());
    }
    Ok(snapshot)
}

/// The fingerprint label of the image a moving tag points at (manifest, then config blob).
async fn current_fingerprint(
    client: &crate::registry::Client,
    repository: &str,
    tag: &str,
) -> Result<Option<crate::fingerprint::Fingerprint>, crate::registry::RegistryError> {
    if client.head_manifest(repository, tag).await?.is_none() {
        return Ok(None);
    }
    let manifest = client.get_manifest(repository, tag).await?;
    let Ok(document) = manifest.document() else {
        return Ok(None);
    };
    let Some(config) = document.config else {
        return Ok(None);
    };
    let response = client.get_blob(repository, &config.digest).await?;
    let Ok(bytes) = response.bytes().await else {
        return Ok(None);
    };
    let config: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let label = config["config"]["Labels"][crate::build::FINGERPRINT_LABEL]
        .as_str()
        .unwrap_or_default();
    Ok(crate::fingerprint::Fingerprint::from_hex(label))
}
