//! Containers, volumes and image pulls: what `baseimg run` and the smoke checks ask of the daemon.
//!
//! Only the requests; the decisions (which container is ours, when a service is ready) belong to
//! [`crate::service`]. Every method names the object and the action in its error, with the daemon's
//! own words for what went wrong.

use std::collections::HashMap;
use std::time::Duration;

use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding, VolumeCreateRequest};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, ListContainersOptions, LogsOptions,
    RemoveContainerOptions, RemoveVolumeOptions, StopContainerOptions,
};
use futures_util::StreamExt;

use super::{Daemon, DaemonError, daemon_credentials, describe};

/// What to create: everything `docker run -d` would be told.
#[derive(Debug, Clone, Default)]
pub(crate) struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub env: Vec<String>,
    /// Replaces the image's `CMD` when not empty.
    pub command: Vec<String>,
    /// Replaces the image's `ENTRYPOINT` (an empty list clears it).
    pub entrypoint: Option<Vec<String>>,
    /// `(host ip, host port, container port/proto)`.
    pub ports: Vec<(Option<String>, u16, String)>,
    /// `source:target[:ro]`, sources absolute paths or volume names.
    pub binds: Vec<String>,
    pub labels: HashMap<String, String>,
}

/// A container as the daemon describes it, in the few facts baseimg acts on.
#[derive(Debug, Clone)]
pub(crate) struct ContainerInfo {
    pub id: String,
    pub name: String,
    /// The image ID it runs.
    pub image_id: String,
    /// The reference it was created from.
    pub image: String,
    pub labels: HashMap<String, String>,
    pub running: bool,
    pub exit_code: Option<i64>,
    /// `starting`, `healthy` or `unhealthy` when the image has a health check.
    pub health: Option<String>,
    /// Its address on the default bridge (reachable from the host on Linux).
    pub address: Option<String>,
    /// `(container port/proto, host ip, host port)` as published.
    pub published: Vec<(String, String, u16)>,
}

/// What a command run in a container printed and how it ended.
#[derive(Debug, Clone)]
pub(crate) struct Executed {
    pub exit_code: i64,
    pub output: String,
}

fn not_found(error: &bollard::errors::Error) -> bool {
    matches!(
        error,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

impl Daemon {
    fn container_error(action: &str, name: &str, error: bollard::errors::Error) -> DaemonError {
        DaemonError::Container {
            action: action.to_string(),
            name: name.to_string(),
            detail: describe(&error),
            source: Some(Box::new(error)),
        }
    }

    /// Pulls `reference` (a digest reference, normally) with the registry's credentials.
    pub(crate) async fn pull(&self, registry: &str, reference: &str) -> Result<(), DaemonError> {
        let options = CreateImageOptions {
            from_image: Some(reference.to_string()),
            ..Default::default()
        };
        let mut stream = self.docker.create_image(
            Some(options),
            None,
            daemon_credentials(registry, &self.events),
        );
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| Self::container_error("pull", reference, e))?;
            if let Some(message) = info.error_detail.and_then(|d| d.message) {
                return Err(DaemonError::Container {
                    action: "pull".into(),
                    name: reference.to_string(),
                    detail: message,
                    source: None,
                });
            }
        }
        Ok(())
    }

    /// Whether an image declares a `HEALTHCHECK` (one that is not `NONE`).
    pub(crate) async fn has_healthcheck(&self, reference: &str) -> Result<bool, DaemonError> {
        let image = self
            .docker
            .inspect_image(reference)
            .await
            .map_err(|e| Self::container_error("inspect image", reference, e))?;
        let test = image
            .config
            .and_then(|c| c.healthcheck)
            .and_then(|h| h.test)
            .unwrap_or_default();
        Ok(!test.is_empty() && test[0] != "NONE")
    }

    /// The container of that name or ID, if there is one.
    pub(crate) async fn container(&self, name: &str) -> Result<Option<ContainerInfo>, DaemonError> {
        let inspected = match self.docker.inspect_container(name, None).await {
            Ok(inspected) => inspected,
            Err(error) if not_found(&error) => return Ok(None),
            Err(error) => return Err(Self::container_error("inspect", name, error)),
        };
        let state = inspected.state.unwrap_or_default();
        let config = inspected.config.unwrap_or_default();
        let settings = inspected.network_settings.unwrap_or_default();
        let address = settings
            .networks
            .unwrap_or_default()
            .into_values()
            .filter_map(|n| n.ip_address)
            .find(|ip| !ip.is_empty());
        let mut published = Vec::new();
        for (port, bindings) in settings.ports.unwrap_or_default() {
            for binding in bindings.unwrap_or_default() {
                if let Some(host_port) = binding.host_port.and_then(|p| p.parse().ok()) {
                    let ip = binding.host_ip.unwrap_or_default();
                    published.push((port.clone(), ip, host_port));
                }
            }
        }
        published.sort();
        Ok(Some(ContainerInfo {
            id: inspected.id.unwrap_or_default(),
            name: inspected
                .name
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string(),
            image_id: inspected.image.unwrap_or_default(),
            image: config.image.unwrap_or_default(),
            labels: config.labels.unwrap_or_default(),
            running: state.running.unwrap_or(false),
            exit_code: state.exit_code,
            health: state
                .health
                .and_then(|h| h.status)
                .map(|s| s.to_string())
                .filter(|s| !s.is_empty() && s != "none"),
            address,
            published,
        }))
    }

    /// The names of the containers (running or not) that carry every one of `labels`.
    pub(crate) async fn containers_labelled(
        &self,
        labels: &[(&str, &str)],
    ) -> Result<Vec<String>, DaemonError> {
        let filter: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        self.container_names(true, ("label", filter)).await
    }

    /// The names of running containers that publish `host_port`, whoever made them.
    pub(crate) async fn containers_publishing(
        &self,
        host_port: u16,
    ) -> Result<Vec<String>, DaemonError> {
        self.container_names(false, ("publish", vec![host_port.to_string()]))
            .await
    }

    async fn container_names(
        &self,
        all: bool,
        (filter, values): (&str, Vec<String>),
    ) -> Result<Vec<String>, DaemonError> {
        let options = ListContainersOptions {
            all,
            filters: Some(HashMap::from([(filter.to_string(), values)])),
            ..Default::default()
        };
        let found = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| Self::container_error("list", "containers", e))?;
        Ok(found
            .into_iter()
            .filter_map(|c| c.names?.into_iter().next())
            .map(|n| n.trim_start_matches('/').to_string())
            .collect())
    }

    /// Creates and starts a container; returns its ID.
    pub(crate) async fn start_container(
        &self,
        spec: &ContainerSpec,
    ) -> Result<String, DaemonError> {
        let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
        for (host_ip, host_port, container) in &spec.ports {
            bindings
                .entry(container.clone())
                .or_insert_with(|| Some(Vec::new()))
                .get_or_insert_with(Vec::new)
                .push(PortBinding {
                    host_ip: host_ip.clone(),
                    host_port: Some(host_port.to_string()),
                });
        }
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            env: Some(spec.env.clone()),
            cmd: (!spec.command.is_empty()).then(|| spec.command.clone()),
            // `[""]` is how the Engine API is told to drop the image's entrypoint.
            entrypoint: spec.entrypoint.as_ref().map(|e| {
                if e.is_empty() {
                    vec![String::new()]
                } else {
                    e.clone()
                }
            }),
            labels: Some(spec.labels.clone()),
            exposed_ports: Some(bindings.keys().cloned().collect()),
            host_config: Some(HostConfig {
                binds: Some(spec.binds.clone()),
                port_bindings: Some(bindings),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = CreateContainerOptions {
            name: Some(spec.name.clone()),
            ..Default::default()
        };
        let created = self
            .docker
            .create_container(Some(options), body)
            .await
            .map_err(|e| Self::container_error("create", &spec.name, e))?;
        if let Err(error) = self.docker.start_container(&created.id, None).await {
            // A container that cannot start (a port taken meanwhile) is not left behind.
            let _ = self.remove_container(&created.id).await;
            return Err(Self::container_error("start", &spec.name, error));
        }
        Ok(created.id)
    }

    /// Runs `command` in a running container and waits for it, at most `timeout`.
    pub(crate) async fn exec(
        &self,
        container: &str,
        command: &[String],
        timeout: Duration,
    ) -> Result<Executed, DaemonError> {
        let exec = self
            .docker
            .create_exec(
                container,
                CreateExecOptions {
                    cmd: Some(command.to_vec()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| Self::container_error("exec in", container, e))?;
        let collect = async {
            let mut output = String::new();
            if let StartExecResults::Attached {
                output: mut stream, ..
            } = self
                .docker
                .start_exec(&exec.id, None)
                .await
                .map_err(|e| Self::container_error("exec in", container, e))?
            {
                while let Some(Ok(chunk)) = stream.next().await {
                    output.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
                }
            }
            Ok::<String, DaemonError>(output)
        };
        let output = tokio::time::timeout(timeout, collect).await.map_err(|_| {
            DaemonError::Container {
                action: "exec in".into(),
                name: container.to_string(),
                detail: format!("`{}` did not finish within {timeout:?}", command.join(" ")),
                source: None,
            }
        })??;
        let inspected = self
            .docker
            .inspect_exec(&exec.id)
            .await
            .map_err(|e| Self::container_error("exec in", container, e))?;
        Ok(Executed {
            exit_code: inspected.exit_code.unwrap_or(-1),
            output,
        })
    }

    /// The container's output: the last `tail` lines, or everything and then what comes (`follow`).
    pub(crate) async fn logs(
        &self,
        container: &str,
        tail: Option<usize>,
        follow: bool,
        mut sink: impl FnMut(&[u8]),
    ) -> Result<(), DaemonError> {
        let options = LogsOptions {
            follow,
            stdout: true,
            stderr: true,
            tail: tail.map_or_else(|| "all".to_string(), |n| n.to_string()),
            ..Default::default()
        };
        let mut stream = self.docker.logs(container, Some(options));
        while let Some(item) = stream.next().await {
            let chunk =
                item.map_err(|e| Self::container_error("read the logs of", container, e))?;
            sink(&chunk.into_bytes());
        }
        Ok(())
    }

    /// Starts a container that exists and is stopped.
    pub(crate) async fn restart_container(&self, name: &str) -> Result<(), DaemonError> {
        self.docker
            .start_container(name, None)
            .await
            .map_err(|e| Self::container_error("start", name, e))
    }

    /// Stops a container (its data stays), giving it `grace` to shut down cleanly.
    pub(crate) async fn stop_container(
        &self,
        name: &str,
        grace: Duration,
    ) -> Result<(), DaemonError> {
        let options = StopContainerOptions {
            t: Some(i32::try_from(grace.as_secs()).unwrap_or(10)),
            ..Default::default()
        };
        match self.docker.stop_container(name, Some(options)).await {
            Ok(()) => Ok(()),
            Err(error) if not_found(&error) => Ok(()),
            Err(error) => Err(Self::container_error("stop", name, error)),
        }
    }

    /// Removes a container, running or not, with its anonymous volumes (an image's `VOLUME` a check
    /// or a replaced container filled; named volumes stay); one already gone is fine.
    pub(crate) async fn remove_container(&self, name: &str) -> Result<(), DaemonError> {
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        match self.docker.remove_container(name, Some(options)).await {
            Ok(()) => Ok(()),
            Err(error) if not_found(&error) => Ok(()),
            Err(error) => Err(Self::container_error("remove", name, error)),
        }
    }

    /// The labels of a volume, or `None` when there is no such volume.
    pub(crate) async fn volume(
        &self,
        name: &str,
    ) -> Result<Option<HashMap<String, String>>, DaemonError> {
        match self.docker.inspect_volume(name).await {
            Ok(volume) => Ok(Some(volume.labels)),
            Err(error) if not_found(&error) => Ok(None),
            Err(error) => Err(Self::container_error("inspect volume", name, error)),
        }
    }

    pub(crate) async fn create_volume(
        &self,
        name: &str,
        labels: HashMap<String, String>,
    ) -> Result<(), DaemonError> {
        let request = VolumeCreateRequest {
            name: Some(name.to_string()),
            labels: Some(labels),
            ..Default::default()
        };
        self.docker
            .create_volume(request)
            .await
            .map(drop)
            .map_err(|e| Self::container_error("create volume", name, e))
    }

    pub(crate) async fn remove_volume(&self, name: &str) -> Result<(), DaemonError> {
        match self
            .docker
            .remove_volume(name, None::<RemoveVolumeOptions>)
            .await
        {
            Ok(()) => Ok(()),
            Err(error) if not_found(&error) => Ok(()),
            Err(error) => Err(Self::container_error("remove volume", name, error)),
        }
    }
}
