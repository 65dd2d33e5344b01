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

use std::fmt;

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

/// Looks the registry up where `docker login` writes. No credentials, or a configuration that
/// cannot be read, both mean anonymous access: the registry then says whether that is enough.
pub fn for_registry(registry: &str) -> Option<Credential> {
    match docker_credential::get_credential(config_key(registry)) {
        Ok(docker_credential::DockerCredential::UsernamePassword(username, password)) => {
            Some(Credential::Basic { username, password })
        }
        Ok(docker_credential::DockerCredential::IdentityToken(token)) => {
            Some(Credential::IdentityToken(token))
        }
        Err(_) => None,
    }
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

    #[test]
    fn docker_hub_is_looked_up_under_its_index_url() {
        assert_eq!(config_key("docker.io"), "https://index.docker.io/v1/");
        assert_eq!(config_key("localhost:5000"), "localhost:5000");
    }
}
