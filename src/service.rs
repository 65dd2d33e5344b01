//! A catalog image run as a service on the local daemon: what `baseimg run` starts instead of
//! `make redis`, and what the smoke checks of a service start before they look inside.
//!
//! baseimg finds its own containers by their labels (the catalog they belong to and the image), so it
//! never touches a container it did not make. "Ready" means the service answers, not that its process
//! started: the image's own `HEALTHCHECK` when it has one, else the catalog's `run.ready` command run
//! inside the container, else a TCP connection to the first published TCP port on the container's own
//! address — not the host port, where Docker's proxy accepts connections before anything listens.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::catalog::{Catalog, Image, RunSpec};
use crate::docker::{ContainerInfo, ContainerSpec, Daemon, DaemonError};

/// The label naming the catalog (its absolute path) a container or volume belongs to.
pub(crate) const CATALOG_LABEL: &str = "io.baseimg.catalog";
/// The label naming the catalog image a container runs.
pub(crate) const IMAGE_LABEL: &str = "io.baseimg.image";
/// The label holding the reference a container was started from (`…@sha256:…`).
pub(crate) const REFERENCE_LABEL: &str = "io.baseimg.reference";

/// How long one readiness probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often readiness is probed.
const PROBE_INTERVAL: Duration = Duration::from_millis(250);

#[derive(Debug, thiserror::Error)]
pub(crate) enum ServiceError {
    #[error(
        "a container named `{name}` exists and was not started by baseimg for this catalog; nothing was changed"
    )]
    Foreign { name: String },
    #[error(
        "a volume named `{name}` exists and was not created by baseimg for this catalog; nothing was changed"
    )]
    ForeignVolume { name: String },
    #[error("port {port} is taken by {holder}; nothing was started")]
    PortTaken { port: String, holder: String },
    #[error("`{name}` exited (status {code}) before it was ready\n{logs}")]
    Exited {
        name: String,
        code: i64,
        logs: String,
    },
    #[error("`{name}` was not ready after {}s ({how})\n{logs}", waited.as_secs())]
    NotReady {
        name: String,
        how: String,
        waited: Duration,
        logs: String,
    },
    #[error(transparent)]
    Daemon(#[from] DaemonError),
}

/// How readiness was decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "by", content = "detail", rename_all = "snake_case")]
pub(crate) enum Readiness {
    /// The image's `HEALTHCHECK` said healthy.
    Healthcheck,
    /// `run.ready` succeeded inside the container.
    Command(String),
    /// A TCP connection to this container port succeeded.
    Tcp(u16),
    /// Nothing to probe: running is all that can be known.
    Running,
}

impl std::fmt::Display for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Readiness::Healthcheck => f.write_str("its health check"),
            Readiness::Command(command) => write!(f, "`{command}`"),
            Readiness::Tcp(port) => write!(f, "TCP port {port}"),
            Readiness::Running => f.write_str("running"),
        }
    }
}

/// One catalog image as a service of this catalog.
pub(crate) struct Service<'a> {
    pub daemon: &'a Daemon,
    pub catalog: &'a Catalog,
    pub image: &'a Image,
    pub spec: &'a RunSpec,
}

/// What is there already under the service's container name.
pub(crate) enum Existing {
    Nothing,
    Ours(ContainerInfo),
    Foreign(ContainerInfo),
}

impl Service<'_> {
    /// The absolute catalog path that marks this catalog's containers and volumes.
    pub(crate) fn catalog_id(catalog: &Catalog) -> String {
        let path = catalog.root_dir().join(
            catalog
                .path
                .file_name()
                .unwrap_or_else(|| std::ffi::OsStr::new("base-images.yaml")),
        );
        std::fs::canonicalize(&path)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    fn labels(&self, reference: &str) -> HashMap<String, String> {
        HashMap::from([
            (CATALOG_LABEL.to_string(), Self::catalog_id(self.catalog)),
            (IMAGE_LABEL.to_string(), self.image.name.clone()),
            (REFERENCE_LABEL.to_string(), reference.to_string()),
        ])
    }

    fn is_ours(&self, info: &ContainerInfo) -> bool {
        info.labels.get(CATALOG_LABEL) == Some(&Self::catalog_id(self.catalog))
            && info.labels.get(IMAGE_LABEL) == Some(&self.image.name)
    }

    pub(crate) async fn existing(&self) -> Result<Existing, ServiceError> {
        // The daemon also matches ID prefixes: only a container with exactly this name counts.
        let found = self.daemon.container(&self.spec.name).await?;
        Ok(match found.filter(|c| c.name == self.spec.name) {
            None => Existing::Nothing,
            Some(info) if self.is_ours(&info) => Existing::Ours(info),
            Some(info) => Existing::Foreign(info),
        })
    }

    /// Every host port the service publishes is free (or held by `own`, the container it replaces).
    pub(crate) async fn check_ports(
        &self,
        own: Option<&ContainerInfo>,
    ) -> Result<(), ServiceError> {
        for port in &self.spec.ports {
            if own.is_some_and(|c| c.published.iter().any(|(_, _, host)| *host == port.host)) {
                continue;
            }
            let ip = port.host_ip.clone().unwrap_or_else(|| "0.0.0.0".into());
            let free = match port.protocol.as_str() {
                "udp" => std::net::UdpSocket::bind((ip.as_str(), port.host)).is_ok(),
                _ => std::net::TcpListener::bind((ip.as_str(), port.host)).is_ok(),
            };
            if free {
                continue;
            }
            let holders = self.daemon.containers_publishing(port.host).await?;
            let holder = match holders.as_slice() {
                [] => "another process on this machine".to_string(),
                names => format!("container `{}`", names.join("`, `")),
            };
            return Err(ServiceError::PortTaken {
                port: format!("{ip}:{}", port.host),
                holder,
            });
        }
        Ok(())
    }

    /// What the daemon is asked to create for `reference`.
    pub(crate) fn container_spec(&self, reference: &str) -> ContainerSpec {
        let root = self.catalog.root_dir();
        ContainerSpec {
            name: self.spec.name.clone(),
            image: reference.to_string(),
            env: self
                .spec
                .env
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect(),
            command: self.spec.command.clone(),
            entrypoint: None,
            ports: self
                .spec
                .ports
                .iter()
                .map(|p| {
                    let container = format!("{}/{}", p.container, p.protocol);
                    (p.host_ip.clone(), p.host, container)
                })
                .collect(),
            binds: self
                .spec
                .volumes
                .iter()
                .map(|v| {
                    let source = if v.named {
                        v.source.clone()
                    } else {
                        absolute(root, &v.source)
                    };
                    let mode = if v.read_only { ":ro" } else { "" };
                    format!("{source}:{}{mode}", v.target)
                })
                .collect(),
            labels: self.labels(reference),
        }
    }

    /// Named volumes the service mounts must be this catalog's or not exist yet: someone else's
    /// data is never mounted (nor, later, removed by `down --volumes`).
    pub(crate) async fn check_volumes(&self) -> Result<(), ServiceError> {
        let catalog = Self::catalog_id(self.catalog);
        for volume in self.spec.volumes.iter().filter(|v| v.named) {
            if let Some(labels) = self.daemon.volume(&volume.source).await?
                && labels.get(CATALOG_LABEL) != Some(&catalog)
            {
                return Err(ServiceError::ForeignVolume {
                    name: volume.source.clone(),
                });
            }
        }
        Ok(())
    }

    /// Named volumes are created, labelled as this catalog's, before the container needs them.
    pub(crate) async fn ensure_volumes(&self) -> Result<(), ServiceError> {
        self.check_volumes().await?;
        for volume in self.spec.volumes.iter().filter(|v| v.named) {
            if self.daemon.volume(&volume.source).await?.is_none() {
                let mut labels = self.labels("");
                labels.remove(REFERENCE_LABEL);
                self.daemon.create_volume(&volume.source, labels).await?;
            }
        }
        Ok(())
    }

    /// Starts the service from `reference` and returns the started container.
    pub(crate) async fn start(&self, reference: &str) -> Result<ContainerInfo, ServiceError> {
        self.ensure_volumes().await?;
        self.start_as(&self.container_spec(reference)).await
    }

    /// Starts a container made from this service's settings (a check's copy, say).
    pub(crate) async fn start_as(
        &self,
        spec: &ContainerSpec,
    ) -> Result<ContainerInfo, ServiceError> {
        let id = self.daemon.start_container(spec).await?;
        let info = self.daemon.container(&id).await?;
        info.ok_or_else(|| {
            ServiceError::Daemon(DaemonError::Container {
                action: "inspect".into(),
                name: self.spec.name.clone(),
                detail: "it vanished right after it started".into(),
                source: None,
            })
        })
    }

    /// Waits until the service answers, by the first strategy that applies (see the module doc).
    pub(crate) async fn wait_ready(
        &self,
        container: &ContainerInfo,
        timeout: Duration,
    ) -> Result<Readiness, ServiceError> {
        let how = if self.daemon.has_healthcheck(&container.image).await? {
            Readiness::Healthcheck
        } else if let Some(command) = &self.spec.ready {
            Readiness::Command(command.clone())
        } else if let Some(port) = self.spec.ports.iter().find(|p| p.protocol == "tcp") {
            Readiness::Tcp(port.container)
        } else {
            Readiness::Running
        };
        let started = Instant::now();
        loop {
            let now = self.daemon.container(&container.id).await?;
            let Some(now) = now.filter(|c| c.running) else {
                let code = self
                    .daemon
                    .container(&container.id)
                    .await?
                    .and_then(|c| c.exit_code)
                    .unwrap_or(-1);
                return Err(ServiceError::Exited {
                    name: container.name.clone(),
                    code,
                    logs: self.last_logs(&container.id).await,
                });
            };
            if self.probe(&how, &now).await {
                return Ok(how);
            }
            if started.elapsed() >= timeout {
                return Err(ServiceError::NotReady {
                    name: container.name.clone(),
                    how: format!("waited for {how}"),
                    waited: timeout,
                    logs: self.last_logs(&container.id).await,
                });
            }
            tokio::time::sleep(PROBE_INTERVAL).await;
        }
    }

    async fn probe(&self, how: &Readiness, container: &ContainerInfo) -> bool {
        match how {
            Readiness::Healthcheck => container.health.as_deref() == Some("healthy"),
            Readiness::Command(command) => {
                let words = ["sh".to_string(), "-c".to_string(), command.clone()];
                matches!(
                    self.daemon.exec(&container.id, &words, PROBE_TIMEOUT).await,
                    Ok(done) if done.exit_code == 0
                )
            }
            Readiness::Tcp(port) => {
                let Some(address) = &container.address else {
                    return false;
                };
                let connect = tokio::net::TcpStream::connect((address.as_str(), *port));
                matches!(
                    tokio::time::timeout(Duration::from_secs(1), connect).await,
                    Ok(Ok(_))
                )
            }
            Readiness::Running => true,
        }
    }

    /// The last lines the container printed, for an error that says why it is not ready.
    pub(crate) async fn last_logs(&self, container: &str) -> String {
        let name = match self.daemon.container(container).await {
            Ok(Some(info)) => info.name,
            _ => container.to_string(),
        };
        let mut bytes = Vec::new();
        let _ = self
            .daemon
            .logs(container, Some(15), false, |chunk| {
                bytes.extend_from_slice(chunk)
            })
            .await;
        let text = String::from_utf8_lossy(&bytes);
        let mut out = format!("last lines of `{name}`:");
        for line in text.lines() {
            out.push_str("\n  | ");
            out.push_str(line);
        }
        out
    }

    /// The connection string `run.url` gives, with the host ports the container really got.
    pub(crate) fn url(&self, container: &ContainerInfo) -> Option<String> {
        self.spec.url.as_ref()?;
        let published: Vec<crate::catalog::Port> = self
            .spec
            .ports
            .iter()
            .map(|p| {
                let host = container
                    .published
                    .iter()
                    .find(|(port, _, _)| *port == format!("{}/{}", p.container, p.protocol))
                    .map_or(p.host, |(_, _, host)| *host);
                crate::catalog::Port { host, ..p.clone() }
            })
            .collect();
        self.spec.render_url(&published).ok()
    }
}

fn absolute(root: &Path, source: &str) -> String {
    let path = root.join(source);
    std::fs::canonicalize(&path)
        .unwrap_or(path)
        .display()
        .to_string()
}
