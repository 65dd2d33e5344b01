//! Fingerprints: one hash per built image over everything that determines its content.
//!
//! Inputs are the rendered Dockerfile, every file of the build context (path, executable bit,
//! content; `.dockerignore` applied), build arguments, the ids of build secrets, labels, target,
//! platforms and the parent's identity (a mirror's pinned digest, a built parent's own fingerprint, so
//! a change anywhere upstream flows down). A secret's id says what the build mounts; where its value
//! comes from (a variable, a file) differs from machine to machine, and its value must not be
//! derivable from a tag, so neither goes in. Each input is written with a tag and a length prefix, so no two different input sets
//! can produce the same byte stream. Nothing machine-specific (absolute paths, mtimes, owners) goes in,
//! so the same checkout gives the same fingerprint on any machine.

use std::collections::BTreeMap;
use std::fmt;

use sha2::{Digest as _, Sha256};

use crate::catalog::SecretSource;
use crate::context::{Entry, EntryKind};

/// The image label that carries a built image's fingerprint, so a registry or daemon can be asked
/// whether an image is up to date without rebuilding it.
pub(crate) const LABEL: &str = "io.baseimg.fingerprint";

/// Bump when the encoding changes: every image then rebuilds once, which is the safe direction.
const SCHEME: &str = "baseimg-fingerprint-v1";

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// A fingerprint read back from an image label: 64 lowercase hex digits, or nothing.
    pub fn from_hex(text: &str) -> Option<Fingerprint> {
        (text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| Fingerprint(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Twelve hex digits: what goes into the immutable tag.
    pub fn short(&self) -> &str {
        &self.0[..12]
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub(crate) struct Inputs<'a> {
    pub dockerfile: &'a str,
    pub context: &'a [Entry],
    pub build_args: &'a BTreeMap<String, String>,
    /// Build secrets: only their ids are hashed.
    pub secrets: &'a BTreeMap<String, SecretSource>,
    pub labels: &'a BTreeMap<String, String>,
    pub target: Option<&'a str>,
    pub platforms: &'a [String],
    /// `(parent image name, identity)`: the pinned digest of a mirror or the fingerprint of a build.
    pub parent: (&'a str, &'a str),
}

pub(crate) fn compute(inputs: &Inputs<'_>) -> Fingerprint {
    let mut hasher = Sha256::new();
    let mut field = |tag: &str, value: &[u8]| {
        hasher.update(tag.as_bytes());
        hasher.update((value.len() as u64).to_be_bytes());
        hasher.update(value);
    };
    field("scheme", SCHEME.as_bytes());
    field("dockerfile", inputs.dockerfile.as_bytes());
    for entry in inputs.context {
        field("path", entry.path.as_bytes());
        match &entry.kind {
            EntryKind::Directory => field("dir", b""),
            EntryKind::File {
                executable, sha256, ..
            } => {
                field("mode", if *executable { b"755" } else { b"644" });
                field("file", sha256.as_bytes());
            }
            EntryKind::Symlink { target } => field("symlink", target.as_bytes()),
        }
    }
    for (key, value) in inputs.build_args {
        field("arg", key.as_bytes());
        field("value", value.as_bytes());
    }
    // No field at all without secrets, so images without them keep the fingerprints they had.
    for id in inputs.secrets.keys() {
        field("secret", id.as_bytes());
    }
    for (key, value) in inputs.labels {
        field("label", key.as_bytes());
        field("value", value.as_bytes());
    }
    field("target", inputs.target.unwrap_or_default().as_bytes());
    for platform in inputs.platforms {
        field("platform", platform.as_bytes());
    }
    field("parent", inputs.parent.0.as_bytes());
    field("identity", inputs.parent.1.as_bytes());
    Fingerprint(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, sha: &str) -> Entry {
        Entry {
            path: path.into(),
            kind: EntryKind::File {
                executable: false,
                size: 1,
                sha256: sha.into(),
            },
        }
    }

    fn fingerprint(
        dockerfile: &str,
        context: &[Entry],
        args: &BTreeMap<String, String>,
        parent: &str,
    ) -> Fingerprint {
        with_secrets(dockerfile, context, args, parent, &BTreeMap::new())
    }

    fn with_secrets(
        dockerfile: &str,
        context: &[Entry],
        args: &BTreeMap<String, String>,
        parent: &str,
        secrets: &BTreeMap<String, SecretSource>,
    ) -> Fingerprint {
        compute(&Inputs {
            dockerfile,
            context,
            build_args: args,
            secrets,
            labels: &BTreeMap::new(),
            target: None,
            platforms: &[],
            parent: ("base", parent),
        })
    }

    #[test]
    fn each_input_changes_the_hash() {
        let context = [file("a", "1")];
        let args = BTreeMap::from([("A".to_string(), "1".to_string())]);
        let base = fingerprint("FROM x", &context, &args, "p1");
        assert_eq!(base, fingerprint("FROM x", &context, &args, "p1"));
        assert_ne!(base, fingerprint("FROM y", &context, &args, "p1"));
        assert_ne!(base, fingerprint("FROM x", &[file("a", "2")], &args, "p1"));
        assert_ne!(base, fingerprint("FROM x", &[file("b", "1")], &args, "p1"));
        assert_ne!(
            base,
            fingerprint("FROM x", &context, &BTreeMap::new(), "p1")
        );
        assert_ne!(base, fingerprint("FROM x", &context, &args, "p2"));
        assert_eq!(base.short().len(), 12);
    }

    #[test]
    fn field_boundaries_matter() {
        // "ab" + "c" and "a" + "bc" must not collide.
        let one = BTreeMap::from([("ab".to_string(), "c".to_string())]);
        let two = BTreeMap::from([("a".to_string(), "bc".to_string())]);
        assert_ne!(
            fingerprint("F", &[], &one, "p"),
            fingerprint("F", &[], &two, "p")
        );
    }

    #[test]
    fn secret_ids_count_but_not_where_their_values_come_from() {
        let args = BTreeMap::new();
        let of = |secrets: &[(&str, SecretSource)]| {
            let secrets = secrets
                .iter()
                .map(|(id, source)| (id.to_string(), source.clone()))
                .collect();
            with_secrets("FROM x", &[], &args, "p", &secrets)
        };
        let env = |name: &str| SecretSource::Env(name.into());
        let file = |path: &str| SecretSource::File(path.into());
        let none = of(&[]);
        // Without secrets, the bytes hashed are those of before secrets existed: no image rebuilds.
        assert_eq!(
            none.as_str(),
            "b4012f911f178c5bad493082d1bd1dd6e09c9d275126ff5826909b506c9889ab"
        );
        let one = of(&[("pip_index", env("PIP_INDEX_URL"))]);
        assert_ne!(one, none, "adding a secret id changes the fingerprint");
        assert_ne!(one, of(&[("pip_token", env("PIP_INDEX_URL"))]));
        assert_ne!(
            one,
            of(&[("pip_index", env("PIP_INDEX_URL")), ("netrc", file("/n"))])
        );
        // The same id from another variable, or from a file anywhere, is the same image.
        assert_eq!(one, of(&[("pip_index", env("PIP_TOKEN"))]));
        assert_eq!(one, of(&[("pip_index", file("/home/dev/.pip"))]));
        assert_eq!(
            of(&[("netrc", file("/home/a/.netrc"))]),
            of(&[("netrc", file("/root/.netrc"))])
        );
    }

    #[test]
    fn a_secret_id_is_no_build_argument() {
        // `secret` fields have a tag of their own: an id cannot pass for an argument of that name.
        let with_arg = fingerprint(
            "F",
            &[],
            &BTreeMap::from([("netrc".to_string(), String::new())]),
            "p",
        );
        let with_secret = with_secrets(
            "F",
            &[],
            &BTreeMap::new(),
            "p",
            &BTreeMap::from([("netrc".to_string(), SecretSource::Env("N".into()))]),
        );
        assert_ne!(with_arg, with_secret);
    }
}
