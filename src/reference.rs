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
    #[error("invalid repository path component `{component}` ({why})")]
    InvalidComponent {
        component: String,
        why: ComponentProblem,
    },
    /// Registries refuse a repository name longer than 255 characters, registry host included.
    #[error(
        "the repository name is {length} characters long with its registry host; registries accept at most {NAME_TOTAL_LENGTH_MAX}"
    )]
    NameTooLong { length: usize },
    /// A tag or path component of a whole reference was refused: names the reference it came from.
    #[error("`{text}`: {error}")]
    Within {
        text: String,
        error: Box<ReferenceError>,
    },
}

/// The longest repository name registries accept, registry host and `/` included (the OCI
/// distribution specification's advice, and the Docker client's limit).
pub const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// What is wrong with a repository path component, by the OCI distribution grammar
/// `[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComponentProblem {
    /// Nothing between two `/` (or before the first, or after the last).
    Empty,
    Uppercase,
    /// A character the grammar has no place for.
    Character(char),
    /// Starts or ends with `.`, `_` or `-`.
    Edge,
    /// Letters and digits joined by something other than one `.`, one `_`, `__` or a run of `-`.
    Separator(String),
}

impl fmt::Display for ComponentProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ComponentProblem::Empty => f.write_str("it is empty: a `/` too many"),
            ComponentProblem::Uppercase => f.write_str("repository names must be lowercase"),
            ComponentProblem::Character(c) => write!(
                f,
                "`{}` is not allowed: only lowercase letters, digits, `.`, `_` and `-` are",
                c.escape_debug()
            ),
            ComponentProblem::Edge => f.write_str("it must start and end with a letter or digit"),
            ComponentProblem::Separator(separator) => write!(
                f,
                "`{separator}` cannot join letters and digits: use one `.`, one `_`, `__` or dashes"
            ),
        }
    }
}

impl ReferenceError {
    /// The refusal itself, without the reference it was found in.
    pub fn innermost(&self) -> &ReferenceError {
        match self {
            ReferenceError::Within { error, .. } => error.innermost(),
            other => other,
        }
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
        validate_path(repository).map_err(within)?;
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
        let reference = Reference {
            registry,
            repository,
            tag: tag.map(str::to_string),
            digest,
        };
        // Measured as normalized, as the Docker client does (`docker.io/library/…`).
        let length = reference.name().len();
        if length > NAME_TOTAL_LENGTH_MAX {
            return Err(within(ReferenceError::NameTooLong { length }));
        }
        Ok(reference)
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

/// One path component of a repository name, by the OCI distribution grammar: lowercase letters and
/// digits, joined by one `.`, one `_`, `__` or any number of `-` (so `a..b` and `a._b` are refused,
/// as registries refuse them at push time).
pub fn validate_component(component: &str) -> Result<(), ReferenceError> {
    match component_problem(component) {
        None => Ok(()),
        Some(why) => Err(ReferenceError::InvalidComponent {
            component: component.into(),
            why,
        }),
    }
}

/// A repository path: one or more components separated by `/`.
pub fn validate_path(path: &str) -> Result<(), ReferenceError> {
    path.split('/').try_for_each(validate_component)
}

fn component_problem(component: &str) -> Option<ComponentProblem> {
    let alphanumeric = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if component.is_empty() {
        return Some(ComponentProblem::Empty);
    }
    if component.chars().any(|c| c.is_ascii_uppercase()) {
        return Some(ComponentProblem::Uppercase);
    }
    if let Some(c) = component
        .chars()
        .find(|&c| !alphanumeric(c) && !matches!(c, '.' | '_' | '-'))
    {
        return Some(ComponentProblem::Character(c));
    }
    if !component.starts_with(alphanumeric) || !component.ends_with(alphanumeric) {
        return Some(ComponentProblem::Edge);
    }
    component
        .split(alphanumeric)
        .find(|separator| {
            !separator.is_empty()
                && !matches!(*separator, "." | "_" | "__")
                && !separator.bytes().all(|b| b == b'-')
        })
        .map(|separator| ComponentProblem::Separator(separator.to_string()))
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
            "invalid repository path component `a-` (it must start and end with a letter or digit)"
        );
        assert_eq!(
            message("a..b:1"),
            "`a..b:1`: invalid repository path component `a..b` (`..` cannot join letters and digits: use one `.`, one `_`, `__` or dashes)"
        );
    }

    #[test]
    fn path_components_follow_the_distribution_grammar() {
        for good in [
            "a",
            "a0",
            "a.b",
            "a_b",
            "a__b",
            "a-b",
            "a---b",
            "a.b_c__d-e",
            "0",
        ] {
            assert_eq!(validate_component(good), Ok(()), "{good}");
        }
        let why = |component: &str| match validate_component(component) {
            Err(ReferenceError::InvalidComponent { why, .. }) => why,
            other => panic!("{component}: {other:?}"),
        };
        for (bad, separator) in [
            ("a..b", ".."),
            ("a._b", "._"),
            ("a___b", "___"),
            ("a-.b", "-."),
            ("a_-b", "_-"),
            ("a.__b", ".__"),
        ] {
            assert_eq!(
                why(bad),
                ComponentProblem::Separator(separator.into()),
                "{bad}"
            );
        }
        assert_eq!(why(""), ComponentProblem::Empty);
        assert_eq!(why(".a"), ComponentProblem::Edge);
        assert_eq!(why("a_"), ComponentProblem::Edge);
        assert_eq!(why("aB"), ComponentProblem::Uppercase);
        assert_eq!(why("a+b"), ComponentProblem::Character('+'));
        assert!(validate_path("team/a..b").is_err());
        assert!(validate_path("team//b").is_err());
        assert_eq!(validate_path("upstream/python"), Ok(()));
    }

    #[test]
    fn names_longer_than_registries_accept_are_refused() {
        // `localhost:5000/` is 15 characters: 240 more make exactly 255.
        let fits = format!("localhost:5000/{}", "a".repeat(240));
        assert!(Reference::parse(&format!("{fits}:1")).is_ok());
        let over = format!("{fits}b:1");
        assert_eq!(
            Reference::parse(&over).unwrap_err().innermost(),
            &ReferenceError::NameTooLong { length: 256 }
        );
        // Docker Hub names are measured as normalized, `docker.io/library/` included.
        let hub = format!("{}:1", "a".repeat(240));
        assert_eq!(
            Reference::parse(&hub).unwrap_err().innermost(),
            &ReferenceError::NameTooLong { length: 258 }
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
