//! Image references (`docker.io/library/python:3.11.9-slim-bookworm@sha256:…`), parsed and normalized
//! the way the Docker client does, so that `python:3.11` in a catalog and the lock file's
//! `docker.io/library/python:3.11` are recognised as the same thing.

use std::fmt;

use sha2::{Digest as _, Sha256};

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

/// Why a reference, digest, tag or repository name was refused. The messages quote the text as the
/// user wrote it, because they end up in diagnostics that point at that text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("empty image reference")]
    Empty,
    #[error("`{text}` contains white space")]
    WhiteSpace { text: String },
    #[error("`{text}` has no repository name")]
    NoRepository { text: String },
    #[error("`{text}` is not a digest (expected `sha256:<64 hex digits>`)")]
    NotADigest { text: String },
    #[error("unsupported digest algorithm `{algorithm}` (baseimg verifies sha256)")]
    UnsupportedAlgorithm { algorithm: String },
    #[error("`{text}` is not a valid sha256 digest (expected 64 lowercase hex digits)")]
    InvalidSha256 { text: String },
    #[error(
        "invalid tag `{tag}` (a tag is up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`)"
    )]
    InvalidTag { tag: String },
    #[error("invalid repository path component `{component}`{}", lowercase_hint(*.uppercase))]
    InvalidComponent { component: String, uppercase: bool },
    /// A tag or path component of a whole reference was refused: names the reference it came from.
    #[error("`{text}`: {error}")]
    Within {
        text: String,
        error: Box<ReferenceError>,
    },
}

fn lowercase_hint(uppercase: bool) -> &'static str {
    if uppercase {
        " (repository names must be lowercase)"
    } else {
        ""
    }
}

impl Digest {
    /// Accepts `sha256:<64 hex>`, lowercase: the algorithm registries use, and the one baseimg
    /// verifies content with (a digest it could not verify is refused, not trusted).
    pub fn parse(text: &str) -> Result<Digest, ReferenceError> {
        let (algorithm, hex) = text
            .split_once(':')
            .ok_or_else(|| ReferenceError::NotADigest { text: text.into() })?;
        if algorithm != "sha256" {
            return Err(ReferenceError::UnsupportedAlgorithm {
                algorithm: algorithm.into(),
            });
        }
        if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(ReferenceError::InvalidSha256 { text: text.into() });
        }
        Ok(Digest(text.to_string()))
    }

    /// The digest of content baseimg holds whole (a manifest, a filtered index): what a registry
    /// computes for the same bytes.
    pub fn sha256_of(bytes: &[u8]) -> Digest {
        Digest(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
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
    pub fn parse(text: &str) -> Result<Reference, ReferenceError> {
        if text.is_empty() {
            return Err(ReferenceError::Empty);
        }
        if text.trim() != text || text.contains(char::is_whitespace) {
            return Err(ReferenceError::WhiteSpace { text: text.into() });
        }
        let within = |error| ReferenceError::Within {
            text: text.into(),
            error: Box::new(error),
        };
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
            validate_tag(tag).map_err(within)?;
        }
        let (registry, repository) = split_registry(name);
        if repository.is_empty() {
            return Err(ReferenceError::NoRepository { text: text.into() });
        }
        for component in repository.split('/') {
            validate_component(component).map_err(within)?;
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

/// One path component of a repository name: lowercase letters, digits and `.`, `_`, `-` inside.
pub fn validate_component(component: &str) -> Result<(), ReferenceError> {
    let valid_chars = component
        .bytes()
        .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-'));
    let edges_ok = component
        .bytes()
        .next()
        .zip(component.bytes().last())
        .is_some_and(|(first, last)| first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric());
    if component.is_empty() || !valid_chars || !edges_ok {
        return Err(ReferenceError::InvalidComponent {
            component: component.into(),
            uppercase: component.bytes().any(|b| b.is_ascii_uppercase()),
        });
    }
    Ok(())
}

/// Tags are `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn validate_tag(tag: &str) -> Result<(), ReferenceError> {
    let mut bytes = tag.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
    let rest_ok = bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if !first_ok || !rest_ok || tag.len() > 128 {
        return Err(ReferenceError::InvalidTag { tag: tag.into() });
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

    #[test]
    fn refusals_name_the_reference_and_the_part_at_fault() {
        let message = |text: &str| Reference::parse(text).unwrap_err().to_string();
        assert_eq!(message(""), "empty image reference");
        assert_eq!(
            message("Python:3"),
            "`Python:3`: invalid repository path component `Python` (repository names must be lowercase)"
        );
        assert_eq!(
            message("python:-x"),
            "`python:-x`: invalid tag `-x` (a tag is up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`)"
        );
        assert_eq!(
            message("python@md5:abc"),
            "unsupported digest algorithm `md5` (baseimg verifies sha256)"
        );
        assert_eq!(
            message("python@sha256:abc"),
            "`sha256:abc` is not a valid sha256 digest (expected 64 lowercase hex digits)"
        );
        assert_eq!(
            validate_component("a-").unwrap_err().to_string(),
            "invalid repository path component `a-`"
        );
    }

    #[test]
    fn sha256_of_is_the_digest_registries_compute() {
        // `printf '' | sha256sum`
        assert_eq!(
            Digest::sha256_of(b"").as_str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(Digest::parse(Digest::sha256_of(b"{}").as_str()).is_ok());
    }
}
