//! Build secrets (`secrets:`), and build arguments that look like one.
//!
//! A secret names where its value is found on the build machine (an environment variable of baseimg,
//! or a file), never the value itself: the catalog is committed, and the value is read only by the
//! build that mounts it (`RUN --mount=type=secret,id=<id>`, a BuildKit feature). Nothing is read here:
//! the machine that validates a catalog need not hold its secrets, so a variable that is not set or a
//! file that does not exist is the build's error, not the catalog's.
//!
//! Build arguments are the wrong place for a credential: the classic builder writes them into the
//! image's history, where anyone who can pull the image reads them. A build argument whose name or
//! value looks like one is warned about, without ever repeating the value: not in the message, and
//! not in a snippet of the line it is written on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_saphyr::Spanned;

use super::file::{SecretFile, Secrets};
use super::model::{Catalog, SecretSource};
use super::scalar::{Key, Scalar};
use super::service::check_env_name;
use crate::diagnostic::{Code, Diagnostic, Diagnostics};

/// Words that make a build argument's name look like a credential's, matched case-insensitively.
const CREDENTIAL_WORDS: &[&str] = &[
    "TOKEN",
    "PASSWORD",
    "PASSWD",
    "SECRET",
    "API_KEY",
    "APIKEY",
    "ACCESS_KEY",
    "PRIVATE_KEY",
    "CREDENTIAL",
];

const SECRET_ID_RULES: &str = "letters, digits, `_`, `.` and `-`";

/// The user's home directory, for `file: ~/…`: `HOME`, when it is set to an absolute path.
pub(super) fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|home| home.is_absolute())
}

/// Attaches the image a diagnostic is about, when it is about one (not the catalog's defaults).
fn about(diagnostic: Diagnostic, image: Option<&str>) -> Diagnostic {
    match image {
        Some(image) => diagnostic.image(image),
        None => diagnostic,
    }
}

/// A `secrets:` mapping (the catalog defaults' when `image` is `None`) checked, every problem
/// reported; the secrets by id when all of them are sound.
pub(super) fn convert(
    catalog: &Catalog,
    written: &Secrets,
    image: Option<&str>,
    home: Option<&Path>,
    diagnostics: &mut Diagnostics,
) -> Option<BTreeMap<String, SecretSource>> {
    let mut secrets = BTreeMap::new();
    let mut sound = true;
    for (key, secret) in written {
        let id = key.name();
        let id_ok = check_secret_id(id);
        if !id_ok {
            diagnostics.push(about(
                Diagnostic::new(Code::CatalogInvalidSecretId, format!("invalid secret id `{}`", id.escape_debug()))
                    .at(catalog.locate(catalog.span_of(&key.0)))
                    .help(format!(
                        "a secret id is what a template's `RUN --mount=type=secret,id=<id>` names: {SECRET_ID_RULES}"
                    )),
                image,
            ));
        }
        let source = source(catalog, key, secret, image, home, diagnostics);
        match (id_ok, source) {
            (true, Some(source)) => {
                secrets.insert(id.to_string(), source);
            }
            _ => sound = false,
        }
    }
    sound.then_some(secrets)
}

/// BuildKit's rule for secret ids: `[A-Za-z0-9_.-]+`.
pub(super) fn check_secret_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Where the secret written under `key` comes from: exactly one of `env` and `file`, each well formed.
fn source(
    catalog: &Catalog,
    key: &Key,
    secret: &Spanned<SecretFile>,
    image: Option<&str>,
    home: Option<&Path>,
    diagnostics: &mut Diagnostics,
) -> Option<SecretSource> {
    // An invalid id is reported as such; elsewhere it is only named, safely for a terminal.
    let id = key.name().escape_debug().to_string();
    let locate = |spanned: &Spanned<String>| catalog.locate(catalog.span_of(spanned));
    let mut refuse = |diagnostic: Diagnostic| diagnostics.push(about(diagnostic, image));
    match (&secret.value.env, &secret.value.file) {
        (Some(env), Some(file)) => {
            refuse(
                Diagnostic::new(
                    Code::CatalogSecretWithEnvAndFile,
                    format!("secret `{id}` has both `env` and `file`"),
                )
                .at(locate(file))
                .label("read from this file")
                .related(locate(env), "or from this environment variable")
                .help("a secret's value comes from one place: keep `env:` or `file:`"),
            );
            None
        }
        (None, None) => {
            refuse(
                Diagnostic::new(Code::CatalogSecretWithoutSource, format!("secret `{id}` has neither `env` nor `file`"))
                    .at(catalog.locate(catalog.span_of(&key.0)))
                    .help("add `env: <VARIABLE>` to read the value from an environment variable of baseimg, or `file: <path>` to read it from a file on the build machine"),
            );
            None
        }
        (Some(env), None) => {
            if env.value.is_empty() {
                refuse(
                    Diagnostic::new(Code::CatalogSecretEnvEmpty, format!("`env` of secret `{id}` is empty"))
                        .at(locate(env))
                        .help("name the environment variable that holds the value, such as `env: PIP_TOKEN`"),
                );
                return None;
            }
            if let Err(error) = check_env_name(&env.value) {
                refuse(
                    Diagnostic::new(error.code(), error.to_string())
                        .at(locate(env))
                        .help("`env` names the environment variable of baseimg that holds the secret's value, not the value itself"),
                );
                return None;
            }
            Some(SecretSource::Env(env.value.clone()))
        }
        (None, Some(file)) => match resolve_file(&catalog.root, home, &file.value) {
            Ok(path) => Some(SecretSource::File(path)),
            Err(error) => {
                refuse(
                    Diagnostic::new(
                        Code::CatalogUnusableSecretFile,
                        format!("`file` of secret `{id}`: {error}"),
                    )
                    .at(locate(file))
                    .help(error.help()),
                );
                None
            }
        },
    }
}

/// Why a secret's `file:` cannot be made an absolute path.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(super) enum FileError {
    #[error("the path is empty")]
    Empty,
    #[error("`~/` names the home directory, and HOME is not set")]
    NoHome,
    #[error("`{0}` names another user's home directory")]
    OtherHome(String),
    #[error("the current directory cannot be read: {0}")]
    CurrentDirectory(String),
}

impl FileError {
    fn help(&self) -> &'static str {
        match self {
            FileError::Empty => {
                "name the file that holds the value: absolute, `~/…`, or relative to the catalog's directory"
            }
            FileError::NoHome => {
                "set HOME, or write the path absolute or relative to the catalog's directory"
            }
            FileError::OtherHome(_) => {
                "write `~/…` for your own home directory, or an absolute path"
            }
            FileError::CurrentDirectory(_) => "run baseimg from a directory that still exists",
        }
    }
}

/// A secret's `file:` as an absolute path: as written when absolute, `~/…` in `home`, anything else
/// relative to `root` (the catalog's directory, empty for the current one). Nothing is read: the file
/// need not exist until a build mounts it.
pub(super) fn resolve_file(
    root: &Path,
    home: Option<&Path>,
    written: &str,
) -> Result<PathBuf, FileError> {
    if written.is_empty() {
        return Err(FileError::Empty);
    }
    if let Some(rest) = written.strip_prefix('~') {
        let Some(rest) = rest.strip_prefix('/').or(rest.is_empty().then_some("")) else {
            let user = written.split('/').next().unwrap_or(written);
            return Err(FileError::OtherHome(user.to_string()));
        };
        let home = home.ok_or(FileError::NoHome)?;
        return Ok(home.join(rest));
    }
    let path = Path::new(written);
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    std::path::absolute(root.join(path)).map_err(|e| FileError::CurrentDirectory(e.to_string()))
}

/// Warns about every build argument of `args` (the catalog defaults' when `image` is `None`) whose
/// name or value looks like a credential.
pub(super) fn credential_build_args(
    catalog: &Catalog,
    args: &IndexMap<Key, Scalar>,
    image: Option<&str>,
    diagnostics: &mut Diagnostics,
) {
    for (key, value) in args {
        let Some(why) = looks_like_credential(key.name(), &value.0) else {
            continue;
        };
        // The place only: a snippet would show the line, and the line holds the value.
        let mut at = catalog.locate(catalog.span_of(&key.0));
        if let Some(at) = &mut at {
            at.source = None;
        }
        diagnostics.push(about(
            Diagnostic::new(Code::CatalogCredentialInBuildArg, format!(
                "build argument `{}` looks like a credential: {why}",
                key.name()
            ))
            .at(at)
            .note("the classic builder writes build arguments into the image history, where anyone who can pull the image reads them")
            .help("pass it as a build secret instead: name where its value is under `secrets:` (`env:` or `file:`) and read it in the template with `RUN --mount=type=secret,id=…`"),
            image,
        ));
    }
}

/// Why a build argument looks like a credential, in words that never repeat its value.
pub(super) fn looks_like_credential(name: &str, value: &str) -> Option<String> {
    let upper = name.to_ascii_uppercase();
    if let Some(word) = CREDENTIAL_WORDS.iter().find(|word| upper.contains(*word)) {
        return Some(format!("its name contains `{word}`"));
    }
    url_with_password(value)
        .then(|| "its value holds a URL with a user name and password".to_string())
}

/// Whether `text` holds a URL whose authority carries a password (`scheme://user:pass@host`).
fn url_with_password(text: &str) -> bool {
    text.match_indices("://").any(|(at, separator)| {
        let rest = &text[at + separator.len()..];
        let authority = rest
            .split(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace())
            .next()
            .unwrap_or_default();
        authority
            .rsplit_once('@')
            .and_then(|(userinfo, _)| userinfo.split_once(':'))
            .is_some_and(|(_, password)| !password.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_ids_are_buildkit_ids() {
        for id in ["pip_index", "netrc", "npm.token", "A-1"] {
            assert!(check_secret_id(id), "{id}");
        }
        for id in ["", "a b", "a/b", "é", "a:b"] {
            assert!(!check_secret_id(id), "{id}");
        }
    }

    #[test]
    fn files_become_absolute_paths_without_being_read() {
        let home = Path::new("/home/dev");
        let root = Path::new("/repo");
        assert_eq!(
            resolve_file(root, Some(home), "~/.netrc").unwrap(),
            Path::new("/home/dev/.netrc")
        );
        assert_eq!(
            resolve_file(root, Some(home), "/run/secrets/pip").unwrap(),
            Path::new("/run/secrets/pip")
        );
        assert_eq!(
            resolve_file(root, Some(home), "secrets/pip.txt").unwrap(),
            Path::new("/repo/secrets/pip.txt")
        );
        let here = resolve_file(Path::new(""), None, "pip.txt").unwrap();
        assert!(here.is_absolute() && here.ends_with("pip.txt"), "{here:?}");
        assert_eq!(resolve_file(root, None, "~/.netrc"), Err(FileError::NoHome));
        assert_eq!(
            resolve_file(root, Some(home), "~root/.netrc"),
            Err(FileError::OtherHome("~root".into()))
        );
        assert_eq!(resolve_file(root, Some(home), ""), Err(FileError::Empty));
    }

    #[test]
    fn credentials_are_recognized_by_name_or_by_a_password_in_a_url() {
        let why = looks_like_credential;
        assert_eq!(
            why("github_token", "x").as_deref(),
            Some("its name contains `TOKEN`")
        );
        for name in [
            "DB_PASSWORD",
            "passwd",
            "AWS_SECRET",
            "SERVICE_API_KEY",
            "apikey",
            "AWS_ACCESS_KEY_ID",
            "SSH_PRIVATE_KEY",
            "GCP_CREDENTIALS",
        ] {
            assert!(why(name, "").is_some(), "{name}");
        }
        let url = "https://user:s3cr3t@pypi.example.com/simple";
        let found = why("PIP_INDEX_URL", url).unwrap();
        assert!(!found.contains("s3cr3t"), "{found}");
        assert!(why("PIP_EXTRA", &format!("--index-url {url} -q")).is_some());
        for harmless in [
            "https://pypi.example.com/simple",
            "https://user@pypi.example.com/simple",
            "https://user:@pypi.example.com/simple",
            "https://pypi.example.com/a:b@c",
            "user:pass@host",
            "6379",
        ] {
            assert_eq!(why("PIP_INDEX_URL", harmless), None, "{harmless}");
        }
    }
}
