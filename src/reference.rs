//! Image references (`docker.io/library/python:3.11.9-slim-bookworm@sha256:…`), parsed and normalized
//! the way the Docker client does, so that `python:3.11` in a catalog and the lock file's
//! `docker.io/library/python:3.11` are recognised as the same thing.

use std::fmt;

pub const DOCKER_HUB: &str = "docker.io";

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    /// Registry host (and port), normalized: `docker.io` for Docker Hub.
    pub registry: String,
    /// Repository path inside the registry, `library/` added for Docker Hub's official images.
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Digest(String);

impl Digest {
    /// Accepts `sha256:<64 hex>`, lowercase: the algorithm registries use, and the one baseimg
    /// verifies content with (a digest it could not verify is refused, not trusted).
    pub fn parse(text: &str) -> Result<Digest, String> {
        let (algorithm, hex) = text.split_once(':').ok_or_else(|| {
            format!("`{text}` is not a digest (expected `sha256:<64 hex digits>`)")
        })?;
        if algorithm != "sha256" {
            return Err(format!(
                "unsupported digest algorithm `{algorithm}` (baseimg verifies sha256)"
            ));
        }
        if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(format!(
                "`{text}` is not a valid sha256 digest (expected 64 lowercase hex digits)"
            ));
        }
        Ok(Digest(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first twelve hex digits, as `docker images` shows them.
    pub fn short(&self) -> &str {
        let hex = self.0.split_once(':').map(|(_, h)| h).unwrap_or(&self.0);
        &hex[..hex.len().min(12)]
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Reference {
    /// Parses a reference as `docker pull` would accept it. Tag and digest are both optional here;
    /// callers that need one say so.
    pub fn parse(text: &str) -> Result<Reference, String> {
        if text.is_empty() {
            return Err("empty image reference".into());
        }
        if text.trim() != text || text.contains(char::is_whitespace) {
            return Err(format!("`{text}` contains white space"));
        }
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => (rest, Some(Digest::parse(digest)?)),
            None => (text, None),
        };
        // A tag follows the last `:` that comes after the last `/` (a `:` before it is a port).
        let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(tag) = tag {
            validate_tag(tag).map_err(|e| format!("`{text}`: {e}"))?;
        }
        let (registry, repository) = split_registry(name);
        if repository.is_empty() {
            return Err(format!("`{text}` has no repository name"));
        }
        for component in repository.split('/') {
            validate_component(component).map_err(|e| format!("`{text}`: {e}"))?;
        }
        let (registry, repository) = match registry {
            None | Some("docker.io" | "index.docker.io" | "registry-1.docker.io") => {
                let repository = if repository.contains('/') {
                    repository.to_string()
                } else {
                    format!("library/{repository}")
                };
                (DOCKER_HUB.to_string(), repository)
            }
            Some(host) => (host.to_string(), repository.to_string()),
        };
        Ok(Reference {
            registry,
            repository,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The last path component: `python` for `docker.io/library/python`.
    pub fn basename(&self) -> &str {
        self.repository
            .rsplit('/')
            .next()
            .unwrap_or(&self.repository)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// The first path component is a registry host when it looks like one (has a dot or a port, or is
/// `localhost`), exactly the rule the Docker client applies.
fn split_registry(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

pub fn validate_component(component: &str) -> Result<(), String> {
    let valid_chars = component
        .bytes()
        .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-'));
    let edges_ok = component
        .bytes()
        .next()
        .zip(component.bytes().last())
        .is_some_and(|(first, last)| first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric());
    if component.is_empty() || !valid_chars || !edges_ok {
        let hint = if component.bytes().any(|b| b.is_ascii_uppercase()) {
            " (repository names must be lowercase)"
        } else {
            ""
        };
        return Err(format!(
            "invalid repository path component `{component}`{hint}"
        ));
    }
    Ok(())
}

/// Tags are `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn validate_tag(tag: &str) -> Result<(), String> {
    let mut bytes = tag.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
    let rest_ok = bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if !first_ok || !rest_ok || tag.len() > 128 {
        return Err(format!(
            "invalid tag `{tag}` (a tag is up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_docker_hub_official_images() {
        let reference = Reference::parse("python:3.11.9-slim-bookworm").unwrap();
        assert_eq!(
            reference.to_string(),
            "docker.io/library/python:3.11.9-slim-bookworm"
        );
        assert_eq!(reference.basename(), "python");
    }

    #[test]
    fn keeps_registry_with_port_and_digest() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let reference =
            Reference::parse(&format!("localhost:5000/base/redis:7.2@{digest}")).unwrap();
        assert_eq!(reference.registry, "localhost:5000");
        assert_eq!(reference.repository, "base/redis");
        assert_eq!(reference.tag.as_deref(), Some("7.2"));
        assert_eq!(reference.digest.unwrap().short(), "aaaaaaaaaaaa");
    }

    #[test]
    fn port_is_not_a_tag() {
        let reference = Reference::parse("registry.example.com:443/team/app").unwrap();
        assert_eq!(reference.tag, None);
        assert_eq!(reference.registry, "registry.example.com:443");
    }

    #[test]
    fn rejects_malformed_references() {
        for bad in [
            "",
            "Python:3",
            "python:",
            "python:-x",
            "a//b:1",
            "python@sha256:abc",
            "py thon:1",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad} should be rejected");
        }
    }
}
