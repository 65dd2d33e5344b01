//! `baseimg init [DIR]`: a new base-images repository that works as written — the example catalog
//! (Python, an API base on it, Redis and PostgreSQL with their configuration and init scripts), its
//! templates and build contexts, a `.gitignore`, a `Makefile` whose `make redis` / `make postgres`
//! call baseimg, and the nightly `baseimg refresh` as a GitHub Actions workflow and a GitLab CI job.
//!
//! The files are the ones this repository ships and tests (`include_str!`), so what `init` writes is
//! what `validate`, the build tests and the demo exercise. It refuses to overwrite anything: every
//! path is checked before the first file is written.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Finished, Outcome, io_error};
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::fsutil::write_atomic;

/// `(path, content, executable)`.
const FILES: &[(&str, &str, bool)] = &[
    (
        "base-images.yaml",
        include_str!("../../base-images.yaml"),
        false,
    ),
    ("Makefile", include_str!("../../Makefile"), false),
    // The nightly job, for either CI system: keep the one you use.
    (
        ".github/workflows/base-images-refresh.yml",
        include_str!("../../examples/ci/github-actions-refresh.yml"),
        false,
    ),
    (
        ".gitlab-ci.yml",
        include_str!("../../examples/ci/gitlab-ci-refresh.yml"),
        false,
    ),
    (
        ".gitignore",
        "# baseimg's build logs and reports.\n/.baseimg/\n",
        false,
    ),
    (
        "templates/_macros.j2",
        include_str!("../../templates/_macros.j2"),
        false,
    ),
    (
        "templates/python.Dockerfile.j2",
        include_str!("../../templates/python.Dockerfile.j2"),
        false,
    ),
    (
        "templates/api-base.Dockerfile.j2",
        include_str!("../../templates/api-base.Dockerfile.j2"),
        false,
    ),
    (
        "templates/redis.Dockerfile.j2",
        include_str!("../../templates/redis.Dockerfile.j2"),
        false,
    ),
    (
        "templates/postgres.Dockerfile.j2",
        include_str!("../../templates/postgres.Dockerfile.j2"),
        false,
    ),
    (
        "images/api-base/.dockerignore",
        include_str!("../../images/api-base/.dockerignore"),
        false,
    ),
    (
        "images/api-base/healthcheck.py",
        include_str!("../../images/api-base/healthcheck.py"),
        false,
    ),
    (
        "images/api-base/pip.conf",
        include_str!("../../images/api-base/pip.conf"),
        false,
    ),
    (
        "images/redis/redis.conf",
        include_str!("../../images/redis/redis.conf"),
        false,
    ),
    (
        "images/postgres/postgresql.conf",
        include_str!("../../images/postgres/postgresql.conf"),
        false,
    ),
    (
        "images/postgres/initdb/01-role-and-database.sh",
        include_str!("../../images/postgres/initdb/01-role-and-database.sh"),
        true,
    ),
    (
        "images/postgres/initdb/02-extensions.sh",
        include_str!("../../images/postgres/initdb/02-extensions.sh"),
        true,
    ),
    (
        "images/postgres/initdb/03-schema.sql",
        include_str!("../../images/postgres/initdb/03-schema.sql"),
        false,
    ),
];

#[derive(Debug, Serialize)]
pub(crate) struct InitReport {
    #[serde(serialize_with = "super::path_text")]
    pub directory: PathBuf,
    pub files: Vec<String>,
}

pub(crate) fn run(directory: &Path) -> Result<Finished<InitReport>, Diagnostics> {
    let existing: Vec<&str> = FILES
        .iter()
        .map(|(path, _, _)| *path)
        .filter(|path| directory.join(path).symlink_metadata().is_ok())
        .collect();
    if !existing.is_empty() {
        return Err(Diagnostic::new(Code::InitFilesExist, format!(
            "`{}` already has {}; nothing was written",
            directory.display(),
            existing.join(", ")
        ))
        .help("run `baseimg init` in an empty directory, or name a new one: `baseimg init base-images`")
        .into());
    }
    for (path, content, executable) in FILES {
        let target = directory.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io_error("create", parent, e))?;
        }
        write_atomic(&target, content.as_bytes()).map_err(|e| io_error("write", &target, e))?;
        if *executable {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| io_error("make executable", &target, e))?;
        }
    }
    Ok(Finished::new(
        InitReport {
            directory: directory.to_path_buf(),
            files: FILES.iter().map(|(path, _, _)| path.to_string()).collect(),
        },
        Diagnostics::default(),
        Outcome::Success,
    ))
}
