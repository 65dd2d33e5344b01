//! An image as a running service: its `run:` settings (what `baseimg run` starts, the `make redis`
//! replacement) and its smoke `checks:` (what proves a built image works before its tags move).
//!
//! Everything here is checked when the catalog is read, with the position of the value at fault, so
//! a typo in a port or a volume is a `validate` error rather than a container that fails to start
//! on a developer's laptop.

use std::collections::BTreeMap;
use std::time::Duration;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use super::scalar::{Key, Scalar};
use crate::diagnostic::Code;

/// `run:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RunFile {
    pub name: Option<Spanned<String>>,
    #[serde(default)]
    pub ports: Vec<Spanned<String>>,
    #[serde(default)]
    pub env: IndexMap<Key, Scalar>,
    #[serde(default)]
    pub volumes: Vec<Spanned<String>>,
    #[serde(default)]
    pub command: Vec<String>,
    pub ready: Option<Spanned<String>>,
    pub url: Option<Spanned<String>>,
}

/// One entry of `checks:` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CheckFile {
    pub name: Option<String>,
    pub run: Spanned<Command>,
    #[serde(default)]
    pub exit: i64,
    pub contains: Option<String>,
    pub timeout: Option<Spanned<String>>,
}

/// A command: a string runs in `sh -c`, a list runs as it is.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum Command {
    Shell(String),
    Words(Vec<String>),
}

impl Command {
    fn words(&self) -> Vec<String> {
        match self {
            Command::Shell(line) => vec!["sh".into(), "-c".into(), line.clone()],
            Command::Words(words) => words.clone(),
        }
    }
}

/// What `baseimg run IMAGE` starts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSpec {
    /// The container's name: `baseimg-<image>` unless the catalog says otherwise.
    pub name: String,
    pub ports: Vec<Port>,
    pub env: BTreeMap<String, String>,
    pub volumes: Vec<Volume>,
    /// Replaces the image's `CMD` when not empty.
    pub command: Vec<String>,
    /// A command run inside the container that succeeds once the service answers.
    pub ready: Option<String>,
    /// How to reach the service, a template: `redis://127.0.0.1:{{ port(6379) }}`.
    pub url: Option<String>,
}

/// `[ip:]host:container[/proto]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Port {
    pub host_ip: Option<String>,
    pub host: u16,
    pub container: u16,
    pub protocol: String,
}

/// `name:/path[:ro]` (a named volume) or `./dir:/path[:ro]`, `/dir:/path[:ro]` (a directory).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Volume {
    pub source: String,
    pub target: String,
    /// A volume the daemon manages (created and labelled by baseimg), not a host directory.
    pub named: bool,
    pub read_only: bool,
}

/// One smoke check: a command run in a container of the image, and what its result must be.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub name: String,
    pub command: Vec<String>,
    pub exit: i64,
    /// Text the command's output (standard output and error) must contain.
    pub contains: Option<String>,
    #[serde(with = "seconds")]
    pub timeout: Duration,
}

/// How long a check may take unless it says.
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(60);

mod seconds {
    pub(super) fn serialize<S: serde::Serializer>(
        duration: &std::time::Duration,
        out: S,
    ) -> Result<S::Ok, S::Error> {
        out.serialize_f64(duration.as_secs_f64())
    }
}

/// Why a `run:` or `checks:` value was refused. Each message says what the value should look like.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(super) enum ServiceError {
    #[error(
        "invalid port `{0}` (expected `[ip:]host:container[/tcp|udp]`, like `127.0.0.1:6379:6379`)"
    )]
    Port(String),
    #[error(
        "invalid volume `{0}` (expected `name:/path`, `./dir:/path` or `/dir:/path`, with `:ro` to mount it read-only)"
    )]
    Volume(String),
    #[error(
        "invalid environment variable name `{0}` (letters, digits and `_`, not starting with a digit)"
    )]
    EnvName(String),
    #[error(
        "invalid container name `{0}` (letters, digits, `_`, `.` and `-`, starting with a letter or digit)"
    )]
    ContainerName(String),
    #[error("invalid timeout `{0}` (expected a number of seconds or minutes, like `30s` or `2m`)")]
    Timeout(String),
    #[error("a check needs a command: `run:` is empty")]
    EmptyCommand,
}

impl ServiceError {
    /// The code of the problem, whichever check met it.
    pub(super) fn code(&self) -> Code {
        match self {
            ServiceError::Port(_) => Code::CatalogInvalidPort,
            ServiceError::Volume(_) => Code::CatalogInvalidVolume,
            ServiceError::EnvName(_) => Code::CatalogInvalidEnvName,
            ServiceError::ContainerName(_) => Code::CatalogInvalidContainerName,
            ServiceError::Timeout(_) => Code::CatalogInvalidCheckTimeout,
            ServiceError::EmptyCommand => Code::CatalogEmptyCheckCommand,
        }
    }
}

pub(super) fn parse_port(text: &str) -> Result<Port, ServiceError> {
    let error = || ServiceError::Port(text.to_string());
    let (mapping, protocol) = match text.rsplit_once('/') {
        Some((mapping, protocol)) if protocol == "tcp" || protocol == "udp" => (mapping, protocol),
        Some(_) => return Err(error()),
        None => (text, "tcp"),
    };
    let number = |part: &str| {
        part.parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(error)
    };
    // An IPv6 address is written in brackets: `[::1]:6379:6379`.
    let (host_ip, rest) = match mapping.strip_prefix('[') {
        Some(bracketed) => {
            let (ip, rest) = bracketed.split_once("]:").ok_or_else(error)?;
            (Some(ip.to_string()), rest)
        }
        None => match mapping.matches(':').count() {
            2 => {
                let (ip, rest) = mapping.split_once(':').ok_or_else(error)?;
                (Some(ip.to_string()), rest)
            }
            1 => (None, mapping),
            _ => return Err(error()),
        },
    };
    if let Some(ip) = &host_ip
        && ip.parse::<std::net::IpAddr>().is_err()
    {
        return Err(error());
    }
    let (host, container) = rest.split_once(':').ok_or_else(error)?;
    Ok(Port {
        host_ip,
        host: number(host)?,
        container: number(container)?,
        protocol: protocol.to_string(),
    })
}

pub(super) fn parse_volume(text: &str) -> Result<Volume, ServiceError> {
    let error = || ServiceError::Volume(text.to_string());
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, read_only) = match parts.as_slice() {
        [source, target] => (*source, *target, false),
        [source, target, "ro"] => (*source, *target, true),
        [source, target, "rw"] => (*source, *target, false),
        _ => return Err(error()),
    };
    if !target.starts_with('/') || source.is_empty() {
        return Err(error());
    }
    let named = !(source.starts_with('/') || source.starts_with('.'));
    if named && !is_docker_name(source) {
        return Err(error());
    }
    Ok(Volume {
        source: source.to_string(),
        target: target.to_string(),
        named,
        read_only,
    })
}

pub(super) fn check_env_name(name: &str) -> Result<(), ServiceError> {
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    if first_ok && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        Ok(())
    } else {
        Err(ServiceError::EnvName(name.to_string()))
    }
}

pub(super) fn check_container_name(name: &str) -> Result<(), ServiceError> {
    if is_docker_name(name) {
        Ok(())
    } else {
        Err(ServiceError::ContainerName(name.to_string()))
    }
}

/// Docker's rule for container and volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
fn is_docker_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && name.len() >= 2
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// `30`, `30s`, `2m`: seconds unless it says minutes.
pub(super) fn parse_timeout(text: &str) -> Result<Duration, ServiceError> {
    let error = || ServiceError::Timeout(text.to_string());
    let (number, unit) = match text.strip_suffix('m') {
        Some(number) => (number, 60),
        None => (text.strip_suffix('s').unwrap_or(text), 1),
    };
    let value: u64 = number.parse().map_err(|_| error())?;
    let seconds = value
        .checked_mul(unit)
        .filter(|s| *s > 0)
        .ok_or_else(error)?;
    Ok(Duration::from_secs(seconds))
}

pub(super) fn check_from_file(index: usize, file: &CheckFile) -> Result<Check, ServiceError> {
    let command = file.run.value.words();
    if command.is_empty() || command.iter().all(|w| w.trim().is_empty()) {
        return Err(ServiceError::EmptyCommand);
    }
    let timeout = match &file.timeout {
        Some(text) => parse_timeout(&text.value)?,
        None => DEFAULT_CHECK_TIMEOUT,
    };
    let name = file.name.clone().unwrap_or_else(|| match &file.run.value {
        Command::Shell(line) => line.clone(),
        Command::Words(words) => words.join(" "),
    });
    Ok(Check {
        name: if name.is_empty() {
            format!("check {}", index + 1)
        } else {
            name
        },
        command,
        exit: file.exit,
        contains: file.contains.clone(),
        timeout,
    })
}

impl RunSpec {
    /// The connection string `url` names, with `port(n)` the host port published for container port
    /// `n` in `published` (the catalog's mapping, or where the daemon actually put it).
    pub fn render_url(&self, published: &[Port]) -> Result<String, minijinja::Error> {
        let Some(template) = &self.url else {
            return Ok(String::new());
        };
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        let ports: Vec<(u16, u16)> = published.iter().map(|p| (p.container, p.host)).collect();
        env.add_function("port", move |container: u16| {
            ports
                .iter()
                .find(|(c, _)| *c == container)
                .map(|(_, host)| *host)
                .ok_or_else(|| {
                    minijinja::Error::new(
                        minijinja::ErrorKind::InvalidOperation,
                        format!("container port {container} is not published in `run.ports`"),
                    )
                })
        });
        let host = published
            .first()
            .and_then(|p| p.host_ip.clone())
            .filter(|ip| ip != "0.0.0.0" && ip != "::")
            .unwrap_or_else(|| "127.0.0.1".into());
        env.render_str(
            template,
            minijinja::context! { env => self.env, host => host },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_take_an_address_a_host_port_a_container_port_and_a_protocol() {
        let port = parse_port("127.0.0.1:6379:6379").unwrap();
        assert_eq!(port.host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!((port.host, port.container), (6379, 6379));
        assert_eq!(port.protocol, "tcp");
        let port = parse_port("[::1]:5433:5432/tcp").unwrap();
        assert_eq!(port.host_ip.as_deref(), Some("::1"));
        assert_eq!(parse_port("8080:80/udp").unwrap().protocol, "udp");
        for bad in [
            "not-a-port",
            "6379",
            "0:6379",
            "70000:1",
            "localhost:1:1",
            "1:1/sctp",
            "a:b:c:d",
        ] {
            assert!(parse_port(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn volumes_are_named_or_directories_mounted_at_absolute_paths() {
        let named = parse_volume("baseimg-redis-data:/data").unwrap();
        assert!(named.named && !named.read_only);
        let dir = parse_volume("./initdb:/docker-entrypoint-initdb.d:ro").unwrap();
        assert!(!dir.named && dir.read_only);
        for bad in ["data", "data:relative", ":/data", "a:/x:rx", "-bad:/x"] {
            assert!(parse_volume(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_and_timeouts_follow_their_rules() {
        assert!(check_env_name("POSTGRES_USER").is_ok());
        assert!(check_env_name("1X").is_err());
        assert!(check_env_name("A-B").is_err());
        assert!(check_container_name("baseimg-redis").is_ok());
        assert!(check_container_name("-x").is_err());
        assert_eq!(parse_timeout("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_timeout("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_timeout("45").unwrap(), Duration::from_secs(45));
        assert!(parse_timeout("0").is_err());
        assert!(parse_timeout("soon").is_err());
        assert!(parse_timeout("307445734561825861m").is_err());
    }
}
