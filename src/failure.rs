//! The one place where the domains' typed errors become diagnostics: what went wrong (the error's own
//! message), what the command was doing, and — where the kind of error tells — what to do about it.
//!
//! Domain modules know nothing of diagnostics or of the command that called them; a command or a
//! pipeline (build, mirror, the night) knows which image and which step an error belongs to. This file
//! joins the two, so a new error variant gets its advice here and every command that meets it says
//! the same thing. The build executor's and the mirror's own errors have theirs beside them
//! ([`crate::executor::BuildError`], [`crate::mirror::MirrorError`]): their pipelines use this file,
//! which therefore knows nothing of them.

use std::fmt::Display;
use std::io::ErrorKind;

use crate::daemon_address::DaemonAddress;
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::docker::{DaemonError, SSH_COMMAND_VAR, SshError};
use crate::registry::{Failure, RegistryError};
use crate::service::ServiceError;
use crate::smoke::SmokeError;
use crate::upstream::ResolveError;

/// The code of an error's problem, and advice where its kind says what a user can do.
pub(crate) trait Advice: Display {
    fn code(&self) -> Code;
    fn advice(&self) -> Option<String>;
}

/// The error as it is (its message says what was being done), with its advice as help.
pub(crate) fn explain(error: &impl Advice) -> Diagnostic {
    let diagnostic = Diagnostic::new(error.code(), error.to_string());
    match error.advice() {
        Some(advice) => diagnostic.help(advice),
        None => diagnostic,
    }
}

/// `cannot <what>: <error>`, with the error's advice as help.
pub(crate) fn diagnose(what: impl Display, error: &impl Advice) -> Diagnostic {
    let diagnostic = Diagnostic::new(error.code(), format!("cannot {what}: {error}"));
    match error.advice() {
        Some(advice) => diagnostic.help(advice),
        None => diagnostic,
    }
}

/// An error about the machine rather than the input: a directory that cannot be created, say.
pub(crate) fn io_error(what: &str, path: &std::path::Path, error: std::io::Error) -> Diagnostics {
    Diagnostic::new(
        Code::FsIoError,
        format!("cannot {what} `{}`: {error}", path.display()),
    )
    .into()
}

impl Advice for RegistryError {
    fn code(&self) -> Code {
        match &self.failure {
            Failure::Unreachable(_) => Code::RegistryUnreachable,
            Failure::Transport(_) | Failure::Short { .. } => Code::RegistryTransport,
            Failure::Status { .. } => Code::RegistryRefused,
            Failure::Unauthorized(_) => Code::RegistryUnauthorized,
            Failure::NoDigestHeader
            | Failure::BadDigestHeader(_)
            | Failure::NoUploadLocation
            | Failure::InvalidMediaType
            | Failure::UnreadableToken(_) => Code::RegistryBadAnswer,
            Failure::ContentMismatch { .. } | Failure::StoredAs { .. } => {
                Code::RegistryContentMismatch
            }
        }
    }

    fn advice(&self) -> Option<String> {
        match &self.failure {
            Failure::Transport(_) => Some(format!(
                "check that `{}` is reachable from here (its address, the network, a proxy)",
                self.registry
            )),
            Failure::Unreachable(_) => Some(format!(
                "is the registry at `{}` running, and is that its address (the catalog's `registry:`, or --registry)? nothing was changed",
                self.registry
            )),
            Failure::Status { status: 405, .. } => Some(format!(
                "`{}` does not allow deleting manifests; enable it (docker-registry: `storage.delete.enabled: true`) or prune there by its own means",
                self.registry
            )),
            Failure::Status { status: 429, .. } => {
                Some("the registry limits requests: run again later".into())
            }
            Failure::Status { status, .. } if *status >= 500 => {
                Some("the registry failed to answer: run again later".into())
            }
            Failure::ContentMismatch { .. } | Failure::StoredAs { .. } => Some(format!(
                "`{}` served or stored other content than its digest names; nothing was trusted or published",
                self.registry
            )),
            // The message of an authentication failure already says to run `docker login`.
            _ => None,
        }
    }
}

impl Advice for ResolveError {
    fn code(&self) -> Code {
        match self {
            ResolveError::Registry(error) => error.code(),
            ResolveError::NotFound { .. } => Code::UpstreamNotFound,
            _ => Code::UpstreamUnusable,
        }
    }

    fn advice(&self) -> Option<String> {
        match self {
            ResolveError::Registry(error) => error.advice(),
            ResolveError::NotFound { .. } => Some(
                "check the reference in the catalog: the tag may be misspelt, or removed upstream"
                    .into(),
            ),
            _ => None,
        }
    }
}

impl Advice for DaemonError {
    fn code(&self) -> Code {
        match self {
            DaemonError::Unreachable { .. } => Code::DockerUnreachable,
            DaemonError::Push { .. } => Code::DockerPushFailed,
            _ => Code::DockerFailed,
        }
    }

    fn advice(&self) -> Option<String> {
        match self {
            // Its message says to start the daemon; a socket that is there but closed to this user
            // needs something else.
            DaemonError::Unreachable { address, .. }
                if matches!(DaemonAddress::parse(address), Ok(DaemonAddress::Unix(_)))
                    && self.io_cause() == Some(ErrorKind::PermissionDenied) =>
            {
                Some(
                    "the daemon's socket is there, but this user may not open it: add the user to the `docker` group (and log in again), or run baseimg as a user who may"
                        .into(),
                )
            }
            DaemonError::Ssh {
                error: SshError::Run { source, .. },
                ..
            } if source.kind() == ErrorKind::NotFound => Some(format!(
                "install an OpenSSH client, or name the ssh command to run in {SSH_COMMAND_VAR}"
            )),
            // The registry's refusal, relayed by the daemon: most often its credentials.
            DaemonError::Push { .. } => Some(
                "check the credentials for the private registry in the Docker configuration (`docker login`)"
                    .into(),
            ),
            // The others say what to do, or carry the daemon's words.
            _ => None,
        }
    }
}

impl Advice for SmokeError {
    fn code(&self) -> Code {
        match self {
            SmokeError::Failed { .. } => Code::SmokeFailed,
            SmokeError::Service(error) => error.code(),
            SmokeError::Daemon(error) => error.code(),
        }
    }

    fn advice(&self) -> Option<String> {
        match self {
            SmokeError::Failed { .. } => None,
            SmokeError::Service(error) => error.advice(),
            SmokeError::Daemon(error) => error.advice(),
        }
    }
}

impl Advice for ServiceError {
    fn code(&self) -> Code {
        match self {
            ServiceError::Foreign { .. } => Code::ServiceForeignContainer,
            ServiceError::ForeignVolume { .. } => Code::ServiceForeignVolume,
            ServiceError::PortTaken { .. } => Code::ServicePortTaken,
            ServiceError::NotReady { .. } => Code::ServiceNotReady,
            ServiceError::Exited { .. } => Code::ServiceExited,
            ServiceError::Daemon(error) => error.code(),
        }
    }

    fn advice(&self) -> Option<String> {
        match self {
            ServiceError::Foreign { .. } => Some(
                "remove or rename that container, or give the service another name with `run.name`"
                    .into(),
            ),
            ServiceError::ForeignVolume { .. } => Some(
                "give the service's volume another name in `run.volumes`, or remove that volume if it is stale"
                    .into(),
            ),
            ServiceError::PortTaken { .. } => Some(
                "stop what holds the port, or publish the service on another one in `run.ports`"
                    .into(),
            ),
            ServiceError::NotReady { .. } => Some(
                "the log lines above say what the service is doing; give a slow service more time with `--timeout`"
                    .into(),
            ),
            ServiceError::Exited { .. } => None,
            ServiceError::Daemon(error) => error.advice(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_upstream_tag_says_where_to_look() {
        let error = ResolveError::NotFound {
            reference: "docker.io/library/redis:7.2.99".into(),
        };
        let diagnostic = diagnose("resolve `redis`", &error);
        assert_eq!(
            diagnostic.message,
            "cannot resolve `redis`: `docker.io/library/redis:7.2.99` does not exist upstream"
        );
        assert!(diagnostic.help.unwrap().contains("removed upstream"));
    }

    #[test]
    fn a_daemon_socket_closed_to_this_user_says_so_rather_than_to_start_the_daemon() {
        let closed = |address: &str, kind: ErrorKind| DaemonError::Unreachable {
            address: address.into(),
            source: bollard::errors::Error::IOError { err: kind.into() }.into(),
        };
        let advice = closed("unix:///var/run/docker.sock", ErrorKind::PermissionDenied).advice();
        assert!(advice.unwrap().contains("`docker` group"));
        assert_eq!(
            closed("unix:///var/run/docker.sock", ErrorKind::NotFound).advice(),
            None
        );
        assert_eq!(
            closed("tcp://127.0.0.1:2376", ErrorKind::PermissionDenied).advice(),
            None
        );
    }

    #[test]
    fn an_ssh_program_that_is_not_there_is_told_how_to_get_one() {
        let missing = DaemonError::Ssh {
            address: "ssh://builder@arm64.example".into(),
            error: SshError::Run {
                program: "ssh".into(),
                source: ErrorKind::NotFound.into(),
            },
            command: "ssh -T -- arm64.example docker system dial-stdio".into(),
        };
        assert!(
            missing
                .to_string()
                .contains(": cannot run `ssh`: entity not found")
        );
        assert!(missing.advice().unwrap().contains("BASEIMG_SSH_COMMAND"));
    }

    #[test]
    fn only_a_push_the_registry_refused_points_at_its_credentials() {
        let refused = DaemonError::Push {
            repository: "localhost:5000/base/redis".into(),
            tag: "7.2".into(),
            detail: "denied: requested access to the resource is denied".into(),
        };
        assert!(refused.advice().unwrap().contains("docker login"));
        let gone = DaemonError::PushRequest {
            repository: "localhost:5000/base/redis".into(),
            tag: "7.2".into(),
            detail: "An image does not exist locally with the tag".into(),
            source: bollard::errors::Error::DockerResponseServerError {
                status_code: 404,
                message: "An image does not exist locally with the tag".into(),
            }
            .into(),
        };
        assert_eq!(gone.advice(), None);
    }
}
