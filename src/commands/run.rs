//! `baseimg run IMAGE…`: the catalog's services started from the private registry, by digest, and
//! returned only once they answer — the replacement for `make redis` / `make postgres`.
//!
//! Everything that could refuse is checked for every named image before anything starts (a foreign
//! container under the name, a host port taken), so a refused run changes nothing. A service already
//! running on the wanted digest is left alone; one running an older digest is replaced only when asked
//! (`--recreate`), and its named volumes — its data — stay.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::failure::{Advice, explain};
use super::{Finished, Outcome, Settings, Workspace};
use crate::catalog::{Image, ImageKind};
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::docker::{ContainerInfo, Daemon};
use crate::lock::LockStatus;
use crate::registry::Clients;
use crate::service::{Existing, Readiness, Service, ServiceError};

/// How `run` was asked to behave.
#[derive(Debug, Clone)]
pub(crate) struct RunOptions {
    pub images: Vec<String>,
    /// Run the image the local daemon has under the moving tag, not the registry's.
    pub local: bool,
    /// Replace a running container whose digest is not the current one.
    pub recreate: bool,
    /// How long to wait for each service to answer.
    pub timeout: Duration,
}

#[derive(Debug, Serialize)]
pub(crate) struct RunReport {
    pub services: Vec<Started>,
}

/// One service after `run`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Started {
    pub image: String,
    pub container: String,
    pub status: StartedStatus,
    /// What it runs: `<registry>/<repository>@sha256:…` (or the local tag with `--local`).
    pub reference: String,
    /// With `outdated`: what it runs instead of `reference`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `REDIS_URL`-style name for `--env` output.
    pub env_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready: Option<Readiness>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StartedStatus {
    Started,
    /// Running already, on the wanted digest.
    AlreadyRunning,
    /// Running an older digest; `--recreate` replaces it.
    Outdated,
    /// Replaced by a container of the wanted digest (volumes kept).
    Recreated,
    /// Started but did not become ready, or exited.
    Failed,
}

/// One named image, checked and resolved before anything starts.
struct Prepared<'a> {
    service: Service<'a>,
    reference: String,
    existing: Option<ContainerInfo>,
}

pub(crate) async fn run(
    settings: &Settings,
    options: &RunOptions,
) -> Result<Finished<RunReport>, Diagnostics> {
    let workspace = Workspace::open(settings)?;
    let daemon = Daemon::connect(&settings.events)
        .await
        .map_err(|e| explain(&e))?;
    let clients = workspace.clients();
    let mut prepared = Vec::new();
    let mut problems = Diagnostics::default();
    for name in &options.images {
        match prepare(&workspace, &daemon, &clients, options, name).await {
            Ok(ready) => prepared.push(ready),
            Err(found) => problems.extend(found),
        }
    }
    problems.extend(shared_host_ports(&prepared));
    problems.into_result()?;
    let mut services = Vec::new();
    for item in &prepared {
        services.push(start(item, options).await);
    }
    let failed = services.iter().any(|s| s.status == StartedStatus::Failed);
    let outcome = if failed {
        Outcome::Failed
    } else {
        Outcome::Success
    };
    Ok(Finished::new(
        RunReport { services },
        workspace.warnings,
        outcome,
    ))
}

/// Two services of one run cannot publish the same host port: refused before either starts.
fn shared_host_ports(prepared: &[Prepared]) -> Diagnostics {
    let mut seen: Vec<(String, u16, &str)> = Vec::new();
    let mut problems = Diagnostics::default();
    for item in prepared {
        for port in &item.service.spec.ports {
            let ip = port.host_ip.clone().unwrap_or_else(|| "0.0.0.0".into());
            let name = item.service.image.name.as_str();
            if let Some((_, _, other)) = seen.iter().find(|(i, p, _)| {
                *p == port.host && (*i == ip || *i == "0.0.0.0" || ip == "0.0.0.0")
            }) {
                problems.push(
                    Diagnostic::new(
                        Code::ServiceSharedHostPort,
                        format!(
                            "`{other}` and `{name}` both publish host port {}; nothing was started",
                            port.host
                        ),
                    )
                    .image(name)
                    .help("give one of them another host port in `run.ports`"),
                );
            }
            seen.push((ip, port.host, name));
        }
    }
    problems
}

/// Checks one image can be run (it has `run:`, no foreign container holds its name, its ports are
/// free) and finds the reference to run.
async fn prepare<'a>(
    workspace: &'a Workspace,
    daemon: &'a Daemon,
    clients: &Clients,
    options: &RunOptions,
    name: &str,
) -> Result<Prepared<'a>, Diagnostics> {
    let image = workspace.catalog.image(name)?;
    let spec = image.run.as_ref().ok_or_else(|| {
        Diagnostics::from(
            super::not_a_service(&workspace.catalog, image)
                .help("add `run:` to the image (ports, env, volumes) to make it a service `baseimg run` can start"),
        )
    })?;
    let service = Service {
        daemon,
        catalog: &workspace.catalog,
        image,
        spec,
    };
    let fail = |error: ServiceError| Diagnostics::from(explain(&error).image(name));
    service.check_volumes().await.map_err(fail)?;
    let existing = match service.existing().await.map_err(fail)? {
        Existing::Foreign(info) => {
            return Err(fail(ServiceError::Foreign { name: info.name }));
        }
        Existing::Ours(info) => Some(info),
        Existing::Nothing => None,
    };
    let reference = resolve(workspace, daemon, clients, image, options.local).await?;
    // Ports held by the service's own running container are in use by the service itself.
    let own = existing.as_ref().filter(|c| c.running);
    service.check_ports(own).await.map_err(fail)?;
    Ok(Prepared {
        service,
        reference,
        existing,
    })
}

/// The reference to run: the registry's current digest of the image's first moving tag (a mirror's
/// locked digest), pulled if the daemon lacks it; or, with `--local`, the daemon's own tag.
pub(super) async fn resolve(
    workspace: &Workspace,
    daemon: &Daemon,
    clients: &Clients,
    image: &Image,
    local: bool,
) -> Result<String, Diagnostics> {
    let catalog = &workspace.catalog;
    let (host, repository) = catalog.private_location(image);
    let fail = |diagnostic: Diagnostic, help: &str| {
        Diagnostics::from(diagnostic.image(&image.name).help(help))
    };
    let digest = match &image.kind {
        ImageKind::Mirror(_) => match workspace.lock.status(image) {
            LockStatus::Fresh(entry) => entry.mirror_digest().clone(),
            unpinned => {
                let diagnostic = match unpinned {
                    LockStatus::Stale { why } => crate::lock::out_of_date(&image.name, &why),
                    _ => crate::lock::not_pinned(&image.name, &workspace.lock_path),
                };
                return Err(fail(
                    diagnostic,
                    "run `baseimg lock` and `baseimg mirror` first",
                ));
            }
        },
        ImageKind::Recipe(build) => {
            let tag = build
                .tags
                .first()
                .cloned()
                .unwrap_or_else(|| "latest".into());
            if local {
                let reference = format!("{host}/{repository}:{tag}");
                return match daemon.inspect(&reference).await {
                    Ok(Some(_)) => Ok(reference),
                    Ok(None) => Err(fail(
                        Diagnostic::new(
                            Code::ServiceNotInDaemon,
                            format!("the local daemon has no `{reference}`"),
                        ),
                        "build it first: `baseimg build IMAGE`",
                    )),
                    Err(error) => Err(explain(&error).into()),
                };
            }
            let found = clients
                .get(&host)
                .head_manifest(&repository, &tag)
                .await
                .map_err(|e| Diagnostics::from(explain(&e).image(&image.name)))?;
            match found {
                Some((digest, _, _)) => digest,
                None => {
                    return Err(fail(
                        Diagnostic::new(
                            Code::ServiceNotInRegistry,
                            format!("`{host}/{repository}:{tag}` is not in the private registry"),
                        ),
                        "build and push it first: `baseimg build --push`, or run what you built here with `--local`",
                    ));
                }
            }
        }
    };
    let reference = format!("{host}/{repository}@{digest}");
    if daemon
        .inspect(&reference)
        .await
        .map_err(|e| explain(&e))?
        .is_none()
    {
        daemon
            .pull(&host, &reference)
            .await
            .map_err(|e| Diagnostics::from(explain(&e).image(&image.name)))?;
    }
    Ok(reference)
}

/// Starts (or keeps, or replaces) one prepared service and waits until it answers.
async fn start(item: &Prepared<'_>, options: &RunOptions) -> Started {
    let service = &item.service;
    let image = &service.image.name;
    let mut started = Started {
        image: image.clone(),
        container: service.spec.name.clone(),
        status: StartedStatus::Started,
        reference: item.reference.clone(),
        running: None,
        url: None,
        env_name: format!("{}_URL", image.to_uppercase().replace(['-', '.'], "_")),
        ready: None,
        seconds: None,
        error: None,
    };
    let clock = Instant::now();
    let wanted_id = match service.daemon.inspect(&item.reference).await {
        Ok(found) => found.map(|(id, _)| id),
        Err(error) => return failed(started, &error, clock),
    };
    let container = match &item.existing {
        Some(existing) => {
            let current = wanted_id.as_deref() == Some(existing.image_id.as_str());
            match (existing.running, current) {
                // Running already: still, it is only reported ready once it answers (a first run
                // may have timed out on it, or may still be starting it).
                (true, true) => {
                    started.status = StartedStatus::AlreadyRunning;
                    existing.clone()
                }
                (true, false) if !options.recreate => {
                    started.status = StartedStatus::Outdated;
                    started.running = Some(existing.image.clone());
                    started.url = service.url(existing);
                    return started;
                }
                // Stopped on the current digest: started again where it was.
                (false, true) => {
                    if let Err(error) = service.daemon.restart_container(&existing.id).await {
                        return failed(started, &error, clock);
                    }
                    match service.daemon.container(&existing.id).await {
                        Ok(Some(info)) => info,
                        Ok(None) => {
                            return failed(
                                started,
                                &ServiceError::Foreign {
                                    name: existing.name.clone(),
                                },
                                clock,
                            );
                        }
                        Err(error) => return failed(started, &error, clock),
                    }
                }
                // On another digest: replaced; its named volumes, its data, stay.
                (_, false) => {
                    started.status = StartedStatus::Recreated;
                    if let Err(error) = service.daemon.remove_container(&existing.id).await {
                        return failed(started, &error, clock);
                    }
                    match service.start(&item.reference).await {
                        Ok(container) => container,
                        Err(error) => return failed(started, &error, clock),
                    }
                }
            }
        }
        None => match service.start(&item.reference).await {
            Ok(container) => container,
            Err(error) => return failed(started, &error, clock),
        },
    };
    match service.wait_ready(&container, options.timeout).await {
        Ok(how) => {
            started.ready = Some(how);
            started.url = service.url(&container);
            started.seconds = Some(clock.elapsed().as_secs_f64());
            started
        }
        Err(error) => failed(started, &error, clock),
    }
}

fn failed(mut started: Started, error: &impl Advice, clock: Instant) -> Started {
    started.status = StartedStatus::Failed;
    started.error = Some(match error.advice() {
        Some(help) => format!("{error}\nhelp: {help}"),
        None => error.to_string(),
    });
    started.seconds = Some(clock.elapsed().as_secs_f64());
    started
}
