//! The local Docker daemon, through bollard: connecting (honouring `DOCKER_HOST`, negotiating the API
//! version), building from a streamed context, tagging, pushing, and inspecting.
//!
//! Registry credentials for the daemon's pulls and pushes come from [`crate::credentials`], the same
//! lookup the registry client uses, and are handed to the daemon in its auth headers only.

mod buildkit;
mod container;
mod endpoint;
mod response_head;
mod ssh;

pub(crate) use crate::daemon_address::shown as shown_address;
pub(crate) use buildkit::BuildKitError;
pub(crate) use container::{ContainerInfo, ContainerSpec};
pub(crate) use endpoint::EndpointError;
pub(crate) use ssh::{SSH_COMMAND_VAR, SshError};

use std::collections::HashMap;
use std::path::Path;

use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::query_parameters::{BuildImageOptions, PushImageOptions, TagImageOptions};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use crate::catalog::{BuilderKind, SecretSource};
use crate::credentials::{self, Credential};
use crate::events::Events;

pub(crate) const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

pub(crate) struct Daemon {
    docker: Docker,
    pub address: String,
    /// What the daemon builds for when not told otherwise (`linux/amd64`): the platform of a
    /// parent's index that its builds pull.
    pub platform: String,
    /// The negotiated API version as a path prefix (`/v1.41`), for the requests bollard does not make.
    api: String,
    /// Where BuildKit sessions and builds connect, over the same transport as bollard.
    endpoint: endpoint::Endpoint,
    /// Where a problem met on the way goes (an unusable Docker configuration when credentials are
    /// looked up).
    events: Events,
}

/// The builder one run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Builder {
    Classic,
    Buildkit,
}

impl std::fmt::Display for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Builder::Classic => "the classic builder",
            Builder::Buildkit => "BuildKit",
        })
    }
}

/// What the daemon refused or could not do. `detail` is the daemon's own message, without bollard's
/// wrapping, because that is what tells a user what to fix; bollard's error, where there is one, is
/// the source (boxed: it is large, and this error travels in every `Result` of a build).
#[derive(Debug, thiserror::Error)]
pub(crate) enum DaemonError {
    #[error(
        "cannot reach the Docker daemon at {address}: {source}; start it (`dockerd`, or `systemctl start docker`) or point DOCKER_HOST at a running one"
    )]
    Unreachable {
        address: String,
        #[source]
        source: Box<bollard::errors::Error>,
    },
    /// An address that names no daemon baseimg can speak to, or ssh settings it cannot use.
    #[error("cannot use the Docker daemon address {address}: {error}")]
    Address {
        address: String,
        #[source]
        error: EndpointError,
    },
    #[error(
        "cannot reach the Docker daemon at {address} over ssh: {error}\n  each connection runs `{command}` (with BatchMode=yes: ssh cannot ask for anything); run it in a shell to see what ssh needs, such as a host key to accept or a key to add (BASEIMG_SSH_COMMAND replaces `ssh`, e.g. to add `-i KEY`)"
    )]
    Ssh {
        address: String,
        #[source]
        error: SshError,
        command: String,
    },
    #[error("cannot inspect {reference}: {source}")]
    Inspect {
        reference: String,
        #[source]
        source: Box<bollard::errors::Error>,
    },
    #[error("cannot read the build context: {0}")]
    Context(#[source] std::io::Error),
    /// A build step failed: the daemon's (or BuildKit's) own message, or what the executor found it
    /// means (a RUN step for a platform the daemon cannot run).
    #[error("{0}")]
    Build(String),
    /// The classic builder's request failed, or its stream broke off: the daemon's message, if it
    /// answered.
    #[error("{detail}")]
    BuildStream {
        detail: String,
        #[source]
        source: Box<bollard::errors::Error>,
    },
    /// A BuildKit build could not start, or its stream broke off.
    #[error(transparent)]
    BuildKit(#[from] BuildKitError),
    #[error(
        "BuildKit is not available on the Docker daemon at {address}: {error}; build with `--builder classic`"
    )]
    NoBuildkit {
        address: String,
        #[source]
        error: BuildKitError,
    },
    #[error("the build finished but {tag} does not exist")]
    BuildLost { tag: String },
    #[error("cannot tag {image} as {reference}: {detail}")]
    Tag {
        image: String,
        /// `repository:tag`.
        reference: String,
        detail: String,
        #[source]
        source: Box<bollard::errors::Error>,
    },
    /// The registry refused a push: its words, as the daemon relayed them.
    #[error("push of {repository}:{tag} failed: {detail}")]
    Push {
        repository: String,
        tag: String,
        detail: String,
    },
    /// The daemon refused a push itself (no such image, say), or stopped answering during one.
    #[error("push of {repository}:{tag} failed: {detail}")]
    PushRequest {
        repository: String,
        tag: String,
        detail: String,
        #[source]
        source: Box<bollard::errors::Error>,
    },
    #[error("cannot remove {image}: {detail}")]
    Remove {
        image: String,
        detail: String,
        #[source]
        source: Box<bollard::errors::Error>,
    },
    /// A container, volume or pull request the daemon refused (bollard's error the source), or
    /// that failed in the daemon's stream or baseimg's own wait (no source).
    #[error("cannot {action} {name}: {detail}")]
    Container {
        action: String,
        name: String,
        detail: String,
        #[source]
        source: Option<Box<bollard::errors::Error>>,
    },
}

impl DaemonError {
    /// The kind of the I/O failure that caused the error, found down its chain of causes (a socket
    /// this user may not open, a refused connection); `None` when there is none (the daemon
    /// answered, say).
    pub(crate) fn io_cause(&self) -> Option<std::io::ErrorKind> {
        let mut cause = std::error::Error::source(self);
        while let Some(error) = cause {
            if let Some(io) = error.downcast_ref::<std::io::Error>() {
                return Some(io.kind());
            }
            // bollard's own I/O variant is transparent: its cause is not a link of the chain.
            if let Some(bollard::errors::Error::IOError { err }) = error
                .downcast_ref::<Box<bollard::errors::Error>>()
                .map(|b| &**b)
            {
                return Some(err.kind());
            }
            cause = error.source();
        }
        None
    }
}

/// What to build: the context tar (as a file, streamed), where the Dockerfile is inside it, and the
/// settings from the catalog.
pub(crate) struct BuildRequest<'a> {
    pub context_tar: &'a Path,
    pub dockerfile: &'a str,
    pub tag: &'a str,
    pub build_args: HashMap<String, String>,
    pub labels: HashMap<String, String>,
    pub target: Option<&'a str>,
    pub network: Option<&'a str>,
    pub platform: Option<&'a str>,
    /// Registries whose credentials the daemon may need to pull `FROM` images.
    pub registries: Vec<String>,
    pub builder: Builder,
    /// Build secrets by id (BuildKit only): read when the build asks for them.
    pub secrets: HashMap<String, SecretSource>,
}

impl Daemon {
    /// Connects to the daemon `DOCKER_HOST` names (unix or tcp), or the default socket, and checks it
    /// answers. One clear error says which address was tried and what to do.
    pub(crate) async fn connect(events: &Events) -> Result<Daemon, DaemonError> {
        let address = std::env::var("DOCKER_HOST").unwrap_or_else(|_| DEFAULT_HOST.to_string());
        Daemon::connect_to(&address, events).await
    }

    /// Connects to the daemon at `address` (`unix://…`, `tcp://…` or `ssh://…`) and checks it
    /// answers.
    pub(crate) async fn connect_to(address: &str, events: &Events) -> Result<Daemon, DaemonError> {
        let address = address.to_string();
        // Errors name the address without a password someone may have written into it.
        let shown = shown_address(&address);
        let unreachable = |source: bollard::errors::Error| DaemonError::Unreachable {
            address: shown.clone(),
            source: Box::new(source),
        };
        let endpoint =
            endpoint::Endpoint::parse(&address).map_err(|error| DaemonError::Address {
                address: shown.clone(),
                error,
            })?;
        if let endpoint::Endpoint::Ssh(ssh) = &endpoint {
            // One connection first, so a failure is told in ssh's words rather than as a closed
            // HTTP connection.
            ssh.check().await.map_err(|error| DaemonError::Ssh {
                address: shown.clone(),
                error,
                command: ssh.command_line(),
            })?;
        }
        let docker = endpoint.docker(&address).map_err(unreachable)?;
        let docker = docker.negotiate_version().await.map_err(unreachable)?;
        docker.ping().await.map_err(unreachable)?;
        let version = docker.version().await.map_err(unreachable)?;
        let platform = format!(
            "{}/{}",
            version.os.unwrap_or_else(|| "linux".into()),
            version.arch.unwrap_or_else(|| "amd64".into())
        );
        let version = docker.client_version();
        let api = format!("/v{}.{}", version.major_version, version.minor_version);
        Ok(Daemon {
            docker,
            address,
            platform,
            api,
            endpoint,
            events: events.clone(),
        })
    }

    /// Whether the daemon still answers (after a build or push failed, to tell a failed step from a
    /// daemon that went away).
    pub(crate) async fn answers(&self) -> bool {
        // Over ssh a ping may need a new login, which a distant machine takes seconds for.
        let patience = match self.endpoint {
            endpoint::Endpoint::Ssh(_) => 15,
            _ => 3,
        };
        tokio::time::timeout(std::time::Duration::from_secs(patience), self.docker.ping())
            .await
            .is_ok_and(|pong| pong.is_ok())
    }

    /// The image's ID and labels, or `None` when the daemon has no such image.
    pub(crate) async fn inspect(
        &self,
        reference: &str,
    ) -> Result<Option<(String, HashMap<String, String>)>, DaemonError> {
        match self.docker.inspect_image(reference).await {
            Ok(image) => Ok(Some((
                image.id.unwrap_or_default(),
                image.config.and_then(|c| c.labels).unwrap_or_default(),
            ))),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(source) => Err(DaemonError::Inspect {
                reference: reference.to_string(),
                source: Box::new(source),
            }),
        }
    }

    /// Which builder a run uses: `classic` as asked; `buildkit` when a session opens on the daemon
    /// (an error saying why otherwise); `auto` BuildKit when it works, else the classic builder,
    /// with the reason as the second value.
    pub(crate) async fn builder(
        &self,
        kind: BuilderKind,
    ) -> Result<(Builder, Option<String>), DaemonError> {
        if kind == BuilderKind::Classic {
            return Ok((Builder::Classic, None));
        }
        let works = buildkit::Session::open(
            &self.endpoint,
            &self.api,
            HashMap::new(),
            Vec::new(),
            &self.events,
        )
        .await
        .map(drop);
        match (works, kind) {
            (Ok(()), _) => Ok((Builder::Buildkit, None)),
            (Err(why), BuilderKind::Auto) => Ok((Builder::Classic, Some(why.to_string()))),
            (Err(error), _) => Err(DaemonError::NoBuildkit {
                address: self.address.clone(),
                error,
            }),
        }
    }

    /// Builds with the request's builder, sending each output line to `on_line` and each step that
    /// starts to `on_step`. Returns the image ID, read by inspecting the tag afterwards (never parsed
    /// out of the build text).
    pub(crate) async fn build(
        &self,
        request: BuildRequest<'_>,
        on_line: impl FnMut(&str),
        on_step: impl FnMut(&str),
    ) -> Result<String, DaemonError> {
        let tag = request.tag.to_string();
        match request.builder {
            Builder::Classic => self.build_classic(request, on_line, on_step).await?,
            Builder::Buildkit => self.build_buildkit(request, on_line, on_step).await?,
        }
        let (id, _) = self
            .inspect(&tag)
            .await?
            .ok_or(DaemonError::BuildLost { tag })?;
        Ok(id)
    }

    /// BuildKit: a session for credentials and secrets, then the build on it. Every line is masked
    /// with the secret values served, so a step that prints one does not put it into the log.
    async fn build_buildkit(
        &self,
        request: BuildRequest<'_>,
        mut on_line: impl FnMut(&str),
        mut on_step: impl FnMut(&str),
    ) -> Result<(), DaemonError> {
        let unavailable = |error| DaemonError::NoBuildkit {
            address: self.address.clone(),
            error,
        };
        let endpoint = &self.endpoint;
        let session = buildkit::Session::open(
            endpoint,
            &self.api,
            request.secrets.clone(),
            request.registries.clone(),
            &self.events,
        )
        .await
        .map_err(unavailable)?;
        let json = |map: &HashMap<String, String>| serde_json::to_string(map).unwrap_or_default();
        let mut query = vec![
            ("version", "2".to_string()),
            ("session", session.id.clone()),
            ("dockerfile", request.dockerfile.to_string()),
            ("t", request.tag.to_string()),
            ("rm", "1".to_string()),
            ("forcerm", "1".to_string()),
            ("buildargs", json(&request.build_args)),
            ("labels", json(&request.labels)),
        ];
        for (key, value) in [
            ("target", request.target),
            ("networkmode", request.network),
            ("platform", request.platform),
        ] {
            if let Some(value) = value {
                query.push((key, value.to_string()));
            }
        }
        let body = file_stream(request.context_tar)
            .await
            .map_err(DaemonError::Context)?;
        let messages = buildkit::start_build(endpoint, &self.api, &query, body).await?;
        let mut messages = std::pin::pin!(messages);
        let mut trace = buildkit::Trace::default();
        while let Some(message) = messages.next().await {
            let message = message?;
            if message["id"] == "moby.buildkit.trace"
                && let Some(traced) = message["aux"].as_str().and_then(|a| trace.read(a))
            {
                for line in &traced.lines {
                    on_line(&buildkit::masked(line, &session.served));
                }
                for step in &traced.steps {
                    on_step(&buildkit::masked(step, &session.served));
                }
            }
            if let Some(text) = message["stream"].as_str() {
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    on_line(&buildkit::masked(line, &session.served));
                }
            }
            let error = message["errorDetail"]["message"]
                .as_str()
                .or(message["error"].as_str());
            if let Some(error) = error {
                let error = buildkit::masked(error, &session.served);
                on_line(&error);
                return Err(DaemonError::Build(error));
            }
        }
        Ok(())
    }

    /// The classic builder, through bollard. It has no secrets: a catalog that gives an image
    /// secrets is built with BuildKit or refused before it gets here.
    async fn build_classic(
        &self,
        request: BuildRequest<'_>,
        mut on_line: impl FnMut(&str),
        mut on_step: impl FnMut(&str),
    ) -> Result<(), DaemonError> {
        let options = BuildImageOptions {
            dockerfile: request.dockerfile.to_string(),
            t: Some(request.tag.to_string()),
            rm: true,
            forcerm: true,
            buildargs: Some(request.build_args),
            labels: Some(request.labels),
            networkmode: request.network.map(str::to_string),
            target: request.target.unwrap_or_default().to_string(),
            platform: request.platform.unwrap_or_default().to_string(),
            ..Default::default()
        };
        let credentials: HashMap<String, DockerCredentials> = request
            .registries
            .iter()
            .filter_map(|registry| {
                daemon_credentials(registry, &self.events).map(|c| (registry.clone(), c))
            })
            .collect();
        let body = file_stream(request.context_tar)
            .await
            .map_err(DaemonError::Context)?;
        let mut stream = self.docker.build_image(
            options,
            Some(credentials),
            Some(bollard::body_try_stream(body)),
        );
        while let Some(item) = stream.next().await {
            let info = item.map_err(|source| match source {
                // A step that failed, in the daemon's words.
                bollard::errors::Error::DockerStreamError { error } => DaemonError::Build(error),
                source => DaemonError::BuildStream {
                    detail: describe(&source),
                    source: Box::new(source),
                },
            })?;
            if let Some(text) = info.stream.as_deref().or(info.status.as_deref()) {
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    on_line(line);
                    if line.starts_with("Step ") {
                        on_step(line);
                    }
                }
            }
            if let Some(detail) = info.error_detail.and_then(|d| d.message) {
                on_line(&detail);
                return Err(DaemonError::Build(detail));
            }
        }
        Ok(())
    }

    /// Adds `repository:tag` to an image.
    pub(crate) async fn tag(
        &self,
        image: &str,
        repository: &str,
        tag: &str,
    ) -> Result<(), DaemonError> {
        self.docker
            .tag_image(
                image,
                Some(TagImageOptions {
                    repo: Some(repository.to_string()),
                    tag: Some(tag.to_string()),
                }),
            )
            .await
            .map_err(|source| DaemonError::Tag {
                image: image.to_string(),
                reference: format!("{repository}:{tag}"),
                detail: describe(&source),
                source: Box::new(source),
            })
    }

    /// Pushes `repository:tag` with the registry's credentials from the Docker configuration.
    pub(crate) async fn push(
        &self,
        registry: &str,
        repository: &str,
        tag: &str,
        mut on_line: impl FnMut(&str),
    ) -> Result<(), DaemonError> {
        let credentials = daemon_credentials(registry, &self.events);
        let refused = |detail: String| DaemonError::Push {
            repository: repository.to_string(),
            tag: tag.to_string(),
            detail,
        };
        let mut stream = self.docker.push_image(
            repository,
            Some(PushImageOptions {
                tag: Some(tag.to_string()),
                ..Default::default()
            }),
            credentials,
        );
        while let Some(item) = stream.next().await {
            let info = item.map_err(|source| match source {
                // What the registry answered the daemon.
                bollard::errors::Error::DockerStreamError { error } => refused(error),
                source => DaemonError::PushRequest {
                    repository: repository.to_string(),
                    tag: tag.to_string(),
                    detail: describe(&source),
                    source: Box::new(source),
                },
            })?;
            if let Some(status) = &info.status
                && info
                    .progress_detail
                    .as_ref()
                    .and_then(|p| p.current)
                    .is_none()
            {
                on_line(status);
            }
            if let Some(message) = info.error_detail.and_then(|d| d.message) {
                return Err(refused(message));
            }
        }
        Ok(())
    }

    /// Removes an image (by ID or reference), ignoring one that is already gone.
    pub(crate) async fn remove(&self, image: &str) -> Result<(), DaemonError> {
        match self
            .docker
            .remove_image(
                image,
                Some(bollard::query_parameters::RemoveImageOptions {
                    force: true,
                    noprune: false,
                    ..Default::default()
                }),
                None,
            )
            .await
        {
            Ok(_)
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(source) => Err(DaemonError::Remove {
                image: image.to_string(),
                detail: describe(&source),
                source: Box::new(source),
            }),
        }
    }
}

/// Credentials in the form the daemon's auth headers take; none when the configuration has none.
fn daemon_credentials(registry: &str, events: &Events) -> Option<DockerCredentials> {
    match credentials::for_registry(registry, events)? {
        Credential::Basic { username, password } => Some(DockerCredentials {
            username: Some(username),
            password: Some(password),
            serveraddress: Some(registry.to_string()),
            ..Default::default()
        }),
        Credential::IdentityToken(token) => Some(DockerCredentials {
            identitytoken: Some(token),
            serveraddress: Some(registry.to_string()),
            ..Default::default()
        }),
    }
}

/// The daemon's error message, without bollard's wrapping.
fn describe(error: &bollard::errors::Error) -> String {
    match error {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        bollard::errors::Error::DockerStreamError { error } => error.clone(),
        other => other.to_string(),
    }
}

/// Streams a file in 64 KiB chunks, so a large context never sits in memory whole.
async fn file_stream(
    path: &Path,
) -> std::io::Result<impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static> {
    use tokio::io::AsyncReadExt;
    let file = tokio::fs::File::open(path).await?;
    Ok(futures_util::stream::unfold(
        Some(file),
        |file| async move {
            let mut file = file?;
            let mut buffer = vec![0u8; 64 * 1024];
            match file.read(&mut buffer).await {
                Ok(0) => None,
                Ok(n) => {
                    buffer.truncate(n);
                    Some((Ok(Bytes::from(buffer)), Some(file)))
                }
                Err(error) => Some((Err(error), None)),
            }
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_errors_say_what_was_attempted_in_the_daemon_s_words() {
        let push = DaemonError::Push {
            repository: "localhost:5000/base/redis".into(),
            tag: "7.2".into(),
            detail: "denied: requested access to the resource is denied".into(),
        };
        assert_eq!(
            push.to_string(),
            "push of localhost:5000/base/redis:7.2 failed: denied: requested access to the resource is denied"
        );
        let step =
            DaemonError::Build("The command '/bin/sh -c false' returned a non-zero code: 1".into());
        assert_eq!(
            step.to_string(),
            "The command '/bin/sh -c false' returned a non-zero code: 1"
        );
    }
}
