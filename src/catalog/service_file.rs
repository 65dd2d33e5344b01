//! `run:` and `checks:` of an image checked against the catalog they were written in: every value
//! with the position it was written at, for the diagnostics. What they become is in `service.rs`.

use std::collections::BTreeMap;

use serde_saphyr::Spanned;

use super::model::Catalog;
use super::service::{
    Check, CheckFile, RunFile, RunSpec, ServiceError, check_container_name, check_env_name,
    check_from_file, parse_port, parse_volume,
};
use crate::diagnostic::{Code, Diagnostic, Diagnostics};

/// `run:` checked and filled in with its defaults; `None` (with diagnostics) when any value is wrong.
pub(super) fn convert_run(
    catalog: &Catalog,
    image: &str,
    run: &Spanned<RunFile>,
    diagnostics: &mut Diagnostics,
) -> Option<RunSpec> {
    let file = &run.value;
    let before = diagnostics.error_count();
    let mut refuse = |at: Option<crate::diagnostic::SourceLocation>, error: ServiceError| {
        diagnostics.push(
            Diagnostic::new(error.code(), error.to_string())
                .at(at)
                .image(image),
        );
    };
    let locate = |span| catalog.locate(span);
    let name = match &file.name {
        Some(name) => {
            if let Err(error) = check_container_name(&name.value) {
                refuse(locate(catalog.span_of(name)), error);
            }
            name.value.clone()
        }
        None => format!("baseimg-{image}"),
    };
    let mut ports = Vec::new();
    for port in &file.ports {
        match parse_port(&port.value) {
            Ok(parsed) => ports.push(parsed),
            Err(error) => refuse(locate(catalog.span_of(port)), error),
        }
    }
    let mut volumes = Vec::new();
    for volume in &file.volumes {
        match parse_volume(&volume.value) {
            Ok(parsed) => volumes.push(parsed),
            Err(error) => refuse(locate(catalog.span_of(volume)), error),
        }
    }
    let mut env = BTreeMap::new();
    for (key, value) in &file.env {
        if let Err(error) = check_env_name(key.name()) {
            refuse(locate(catalog.span_of(&key.0)), error);
        }
        env.insert(key.name().to_string(), value.0.clone());
    }
    for volume in volumes.iter().filter(|v| !v.named) {
        if !catalog.root_dir().join(&volume.source).exists() {
            let at = file
                .volumes
                .iter()
                .find(|v| v.value.starts_with(&volume.source));
            diagnostics.push(
                Diagnostic::new(Code::CatalogMissingVolumeDirectory, format!(
                    "`{}` of `{image}` does not exist (directories are relative to the catalog)",
                    volume.source
                ))
                .at(at.and_then(|v| locate(catalog.span_of(v))))
                .image(image)
                .help("create the directory, or mount a named volume (`name:/path`) instead"),
            );
        }
    }
    if let Some(ready) = &file.ready
        && ready.value.trim().is_empty()
    {
        diagnostics.push(
            Diagnostic::new(
                Code::CatalogEmptyReadyCommand,
                format!("`run.ready` of `{image}` is empty"),
            )
            .at(locate(catalog.span_of(ready)))
            .image(image)
            .help("give a command that succeeds once the service answers, or leave `ready` out"),
        );
    }
    let spec = RunSpec {
        name,
        ports,
        env,
        volumes,
        command: file.command.clone(),
        ready: file.ready.as_ref().map(|r| r.value.clone()),
        url: file.url.as_ref().map(|u| u.value.clone()),
    };
    if let Some(url) = &file.url
        && let Err(error) = spec.render_url(&spec.ports)
    {
        diagnostics.push(
            Diagnostic::new(Code::CatalogInvalidRunUrl, format!(
                "`run.url` of `{image}` does not render: {}",
                error.detail().map_or_else(|| error.to_string(), str::to_string)
            ))
                .at(locate(catalog.span_of(url)))
                .image(image)
                .help("the template sees `env` (the run environment), `host` and `port(<container port>)`, e.g. `redis://{{ host }}:{{ port(6379) }}`"),
        );
    }
    (diagnostics.error_count() == before).then_some(spec)
}

/// `checks:` checked; `None` (with diagnostics) when any check is wrong.
pub(super) fn convert_checks(
    catalog: &Catalog,
    image: &str,
    files: &[CheckFile],
    diagnostics: &mut Diagnostics,
) -> Option<Vec<Check>> {
    let mut checks = Vec::new();
    let mut ok = true;
    for (index, file) in files.iter().enumerate() {
        match check_from_file(index, file) {
            Ok(check) => checks.push(check),
            Err(error) => {
                ok = false;
                let span = match (&error, &file.timeout) {
                    (ServiceError::Timeout(_), Some(timeout)) => catalog.span_of(timeout),
                    _ => catalog.span_of(&file.run),
                };
                diagnostics.push(
                    Diagnostic::new(error.code(), error.to_string())
                        .at(catalog.locate(span))
                        .image(image),
                );
            }
        }
    }
    ok.then_some(checks)
}
