//! `baseimg check [IMAGE…]`: the smoke checks of images that exist already, run now — the current
//! digest of each image's first moving tag from the private registry (or, with `--local`, the image
//! built here). A build runs the same checks on every image it builds, before pushing it.

use serde::Serialize;

use super::failure::{Advice, explain};
use super::{Finished, Outcome, Settings, Workspace};
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::docker::Daemon;
use crate::smoke::{Checked, Smoke};

#[derive(Debug, Serialize)]
pub(crate) struct CheckReport {
    pub images: Vec<ImageChecks>,
}

/// One image's checks.
#[derive(Debug, Serialize)]
pub(crate) struct ImageChecks {
    pub image: String,
    pub reference: String,
    pub status: CheckedStatus,
    pub checks: Vec<Checked>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CheckedStatus {
    Passed,
    Failed,
}

pub(crate) async fn run(
    settings: &Settings,
    images: &[String],
    local: bool,
) -> Result<Finished<CheckReport>, Diagnostics> {
    let workspace = Workspace::open(settings)?;
    let selected = checked_images(&workspace, images)?;
    let daemon = Daemon::connect(&settings.events)
        .await
        .map_err(|e| explain(&e))?;
    let clients = workspace.clients();
    let smoke = Smoke {
        daemon: &daemon,
        catalog: &workspace.catalog,
        run_id: format!("{}-{}", crate::clock::run_id(), std::process::id()),
    };
    // Every reference is resolved (and pulled) before any check starts, so a bad one stops the
    // command with nothing to clean up.
    let mut work = Vec::new();
    for name in selected {
        let image = &workspace.catalog.images[&name];
        let reference = super::run::resolve(&workspace, &daemon, &clients, image, local).await?;
        work.push((image, reference));
    }
    let mut results = Vec::new();
    let checking = async {
        for (image, reference) in &work {
            let checks = &image
                .as_build()
                .expect("only built images have checks")
                .checks;
            let outcome = smoke.check(image, checks, reference).await;
            results.push(image_checks(&image.name, reference, outcome));
        }
    };
    // Ctrl-C stops the checks; their containers are removed below all the same.
    let interrupted = tokio::select! {
        () = checking => false,
        _ = tokio::signal::ctrl_c() => true,
    };
    let _ = smoke.clean_up().await;
    if interrupted {
        return Err(Diagnostic::new(
            Code::SmokeInterrupted,
            "interrupted: the checks' containers were removed",
        )
        .into());
    }
    let failed = results.iter().any(|r| r.status == CheckedStatus::Failed);
    Ok(Finished::new(
        CheckReport { images: results },
        workspace.warnings,
        if failed {
            Outcome::Failed
        } else {
            Outcome::Success
        },
    ))
}

fn image_checks(
    image: &str,
    reference: &str,
    outcome: Result<Vec<Checked>, crate::smoke::SmokeError>,
) -> ImageChecks {
    let mut result = ImageChecks {
        image: image.to_string(),
        reference: reference.to_string(),
        status: CheckedStatus::Passed,
        checks: Vec::new(),
        error: None,
    };
    match outcome {
        Ok(checks) => result.checks = checks,
        Err(error) => {
            result.status = CheckedStatus::Failed;
            result.error = Some(match error.advice() {
                Some(help) => format!("{error}\nhelp: {help}"),
                None => error.to_string(),
            });
        }
    }
    result
}

/// The named images (all with checks when none is named); a named image without checks is an error.
fn checked_images(workspace: &Workspace, names: &[String]) -> Result<Vec<String>, Diagnostics> {
    let has_checks = |name: &str| {
        workspace.catalog.images[name]
            .as_build()
            .is_some_and(|b| !b.checks.is_empty())
    };
    let mut problems = Diagnostics::default();
    for name in names {
        if let Err(unknown) = workspace.catalog.image(name) {
            problems.extend(unknown);
        } else if !has_checks(name) {
            problems.push(
                Diagnostic::new(Code::SmokeNoChecks, format!("`{name}` has no `checks:`"))
                    .image(name)
                    .help("add `checks:` to the built image: commands whose exit status and output prove it works"),
            );
        }
    }
    problems.into_result()?;
    Ok(workspace
        .catalog
        .images
        .keys()
        .filter(|name| (names.is_empty() || names.contains(name)) && has_checks(name))
        .cloned()
        .collect())
}
