//! Registry credentials, read from the Docker client's own configuration.
//!
//! baseimg keeps no credential store of its own: `docker login` is how a user gives it access, and
//! this module is the one place that reads what `docker login` wrote (`$DOCKER_CONFIG/config.json`:
//! `auths`, `credsStore`, `credHelpers`, through the `docker_credential` crate). The registry client
//! and the Docker daemon both take their credentials from here, so the two can never disagree about
//! which account a registry is reached with.
//!
//! A [`Credential`] carries a secret. Its `Debug` hides it, and it has no `Display`: the only place a
//! secret goes is an `Authorization` header or the daemon's auth header.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::diagnostic::{Code, Diagnostic, SourceLocation};
use crate::events::Events;
use crate::reference::DOCKER_HUB;

/// Credentials for one registry.
#[derive(Clone)]
pub enum Credential {
    Basic { username: String, password: String },
    IdentityToken(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Credential::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
        }
    }
}

/// Looks the registry up where `docker login` writes. No credentials, or no configuration, both
/// mean anonymous access: the registry then says whether that is enough. A configuration that is
/// there but cannot be used means anonymous access too, and is a warning of the run (`events`
/// keeps the same warning once, however many registries met it).
pub(crate) fn for_registry(registry: &str, events: &Events) -> Option<Credential> {
    let path = config_path()?;
    let config = match read_config(&path) {
        Ok(config) => config?,
        Err(problem) => {
            events.warn(problem.warning());
            return None;
        }
    };
    match docker_credential::get_credential_from_reader(config.as_slice(), config_key(registry)) {
        Ok(docker_credential::DockerCredential::UsernamePassword(username, password)) => {
            Some(Credential::Basic { username, password })
        }
        Ok(docker_credential::DockerCredential::IdentityToken(token)) => {
            Some(Credential::IdentityToken(token))
        }
        Err(_) => None,
    }
}

/// Where `docker login` writes, as the Docker client and `docker_credential` look for it:
/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
fn config_path() -> Option<PathBuf> {
    let dir = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".docker")))?;
    Some(dir.join("config.json"))
}

/// Why a Docker configuration that exists could not be used. It holds credentials, so nothing of
/// its content is kept: only where the problem is and what kind it is (serde_json's own messages
/// may quote the value they met, so they are not used).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigProblem {
    pub path: PathBuf,
    pub kind: ConfigProblemKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConfigProblemKind {
    /// Not JSON, or cut short: 1-based line and column of where parsing stopped.
    Syntax { line: usize, column: usize },
    /// JSON, but a value of the wrong type where Docker's keys are (`auths` a list, say).
    Shape { line: usize, column: usize },
    /// The file is there but could not be read (permissions); the I/O error, which quotes nothing.
    Unreadable(String),
}

impl fmt::Display for ConfigProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigProblemKind::Syntax { line, column } => {
                write!(f, "it is not valid JSON (line {line}, column {column})")
            }
            ConfigProblemKind::Shape { line, column } => write!(
                f,
                "a value has the wrong type for a Docker configuration (line {line}, column {column})"
            ),
            ConfigProblemKind::Unreadable(error) => write!(f, "{error}"),
        }
    }
}

impl ConfigProblem {
    /// The warning a user reads: the file, the position, what it means for this run and what to
    /// do, and no part of the file.
    pub(crate) fn warning(&self) -> Diagnostic {
        let location = match self.kind {
            ConfigProblemKind::Syntax { line, column }
            | ConfigProblemKind::Shape { line, column } => {
                Some(SourceLocation::bare(&self.path, line as u64, column as u64))
            }
            ConfigProblemKind::Unreadable(_) => None,
        };
        Diagnostic::new(Code::CredentialsUnusableConfig, format!(
            "cannot use the Docker configuration `{}`: {}; registries are reached without credentials",
            self.path.display(),
            self.kind
        ))
        .at(location)
        .help(
            "repair the file (or move it away and run `docker login` again); its content is not shown, as it holds credentials",
        )
    }
}

/// The configuration's bytes, checked to be what `docker_credential` can read; `None` when there
/// is no file (anonymous access, nothing to report).
fn read_config(path: &Path) -> Result<Option<Vec<u8>>, ConfigProblem> {
    let problem = |kind| ConfigProblem {
        path: path.to_path_buf(),
        kind,
    };
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(problem(ConfigProblemKind::Unreadable(error.to_string()))),
    };
    match serde_json::from_slice::<ConfigShape>(&bytes) {
        Ok(_) => Ok(Some(bytes)),
        Err(error) => {
            let (line, column) = (error.line(), error.column());
            Err(problem(match error.classify() {
                serde_json::error::Category::Data => ConfigProblemKind::Shape { line, column },
                _ => ConfigProblemKind::Syntax { line, column },
            }))
        }
    }
}

/// The part of `config.json` that `docker_credential` reads, with the same types: what parses here
/// parses there, and what fails there is found here first, with its position.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct ConfigShape {
    auths: Option<HashMap<String, AuthShape>>,
    creds_store: Option<String>,
    cred_helpers: Option<HashMap<String, String>>,
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct AuthShape {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
}

/// The key the Docker configuration files a registry under: Docker Hub is stored as its old index
/// URL, everything else by host (and port).
fn config_key(registry: &str) -> &str {
    if registry == DOCKER_HUB {
        "https://index.docker.io/v1/"
    } else {
        registry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_secret() {
        let basic = Credential::Basic {
            username: "ci".into(),
            password: "hunter2".into(),
        };
        let token = Credential::IdentityToken("eyJ-secret-token".into());
        assert_eq!(format!("{basic:?}"), "Basic(ci, <redacted>)");
        assert_eq!(format!("{token:?}"), "IdentityToken(<redacted>)");
        assert!(!format!("{:?}", Some(&basic)).contains("hunter2"));
    }

    fn config(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn a_sound_or_missing_configuration_is_read_quietly() {
        let (_dir, path) =
            config(r#"{"auths": {"r.example": {"auth": "dTpw"}}, "credsStore": "x"}"#);
        let bytes = read_config(&path).unwrap().unwrap();
        let credential =
            docker_credential::get_credential_from_reader(bytes.as_slice(), "r.example").unwrap();
        assert_eq!(
            credential,
            docker_credential::DockerCredential::UsernamePassword("u".into(), "p".into())
        );
        assert_eq!(read_config(&path.with_file_name("absent.json")), Ok(None));
    }

    #[test]
    fn a_corrupt_configuration_is_named_with_its_position_and_nothing_of_its_content() {
        let secret = "c2VjcmV0LXBhc3N3b3Jk";
        let (_dir, path) = config(&format!(
            "{{\n  \"auths\": {{\n    \"r.example\": {{ \"auth\": \"{secret}\" }},\n  }}\n}}\n"
        ));
        let problem = read_config(&path).unwrap_err();
        assert_eq!(
            problem.kind,
            ConfigProblemKind::Syntax { line: 4, column: 3 }
        );
        let warning = problem.warning();
        assert_eq!(
            warning.message,
            format!(
                "cannot use the Docker configuration `{}`: it is not valid JSON (line 4, column 3); registries are reached without credentials",
                path.display()
            )
        );
        let location = warning.location.clone().unwrap();
        assert_eq!((location.line, location.column), (4, 3));
        assert!(location.source.is_none(), "the file's text is never shown");
        assert!(!warning.to_string().contains(secret));

        // Well-formed JSON of the wrong shape: the value is not quoted either.
        let (_dir, path) = config(&format!(r#"{{"auths": {{"r.example": "{secret}"}}}}"#));
        let problem = read_config(&path).unwrap_err();
        assert!(matches!(
            problem.kind,
            ConfigProblemKind::Shape { line: 1, .. }
        ));
        assert!(!problem.warning().to_string().contains(secret));
    }

    #[test]
    fn docker_hub_is_looked_up_under_its_index_url() {
        assert_eq!(config_key("docker.io"), "https://index.docker.io/v1/");
        assert_eq!(config_key("localhost:5000"), "localhost:5000");
    }
}
