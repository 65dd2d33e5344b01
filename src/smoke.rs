//! Smoke checks: the catalog's `checks:` of an image run against a container of it, to prove the
//! image works before its tags move (during a build) or on demand (`baseimg check`).
//!
//! A service (an image with `run:`) is started as `baseimg run` would start it — ready wait included —
//! but under a name of its own, with no host port published and no named volume mounted, so a check
//! never collides with, or writes into, the developer's own running service; its checks run inside
//! it. Any other image gets a fresh container per check, running the check's command in place of the
//! image's entrypoint. Every container made here carries the run's label, so whoever started the run
//! can remove all of them afterwards, even when the run was interrupted half-way.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::catalog::{Catalog, Check, Image};
use crate::docker::{ContainerSpec, Daemon, DaemonError};
use crate::service::{CATALOG_LABEL, Service, ServiceError};

/// The label that marks a container made for checks with the run that made it.
pub(crate) const CHECK_LABEL: &str = "io.baseimg.check";

/// How long a service gets to become ready before its checks.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// One check's result.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Checked {
    pub name: String,
    pub passed: bool,
    pub exit_code: i64,
    /// The end of what the command printed.
    pub output: String,
    pub seconds: f64,
    /// Why it failed, in a sentence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum SmokeError {
    #[error("check `{name}` failed: {why}\n{output}")]
    Failed {
        name: String,
        why: String,
        output: String,
    },
    #[error("the service did not start for its checks: {0}")]
    Service(#[from] ServiceError),
    #[error(transparent)]
    Daemon(#[from] DaemonError),
}

/// Runs checks for one run of baseimg (a build or a `check` command).
pub(crate) struct Smoke<'a> {
    pub daemon: &'a Daemon,
    pub catalog: &'a Catalog,
    /// Labels every container of this run, for [`Smoke::clean_up`].
    pub run_id: String,
}

impl Smoke<'_> {
    /// Runs every check of `image` against `reference`; the results when all passed, the first
    /// failure otherwise.
    pub(crate) async fn check(
        &self,
        image: &Image,
        checks: &[Check],
        reference: &str,
    ) -> Result<Vec<Checked>, SmokeError> {
        if checks.is_empty() {
            return Ok(Vec::new());
        }
        match &image.run {
            Some(spec) => {
                let service = Service {
                    daemon: self.daemon,
                    catalog: self.catalog,
                    image,
                    spec,
                };
                self.check_service(&service, checks, reference).await
            }
            None => self.check_image(image, checks, reference).await,
        }
    }

    /// A service started for its checks, the checks run inside it, then removed.
    async fn check_service(
        &self,
        service: &Service<'_>,
        checks: &[Check],
        reference: &str,
    ) -> Result<Vec<Checked>, SmokeError> {
        let mut spec = service.container_spec(reference);
        spec.name = self.container_name(&service.image.name, 0);
        spec.ports.clear();
        // Directories of the repository may be mounted (read as the service would read them); the
        // developer's named volumes may not: a check must not write into their data.
        let named: Vec<&str> = service
            .spec
            .volumes
            .iter()
            .filter(|v| v.named)
            .map(|v| v.source.as_str())
            .collect();
        spec.binds
            .retain(|bind| !named.iter().any(|n| bind.starts_with(&format!("{n}:"))));
        spec.labels = self.labels();
        let container = service.start_as(&spec).await?;
        let outcome = async {
            service.wait_ready(&container, READY_TIMEOUT).await?;
            let mut results = Vec::new();
            for check in checks {
                let clock = Instant::now();
                let done = self
                    .daemon
                    .exec(&container.id, &check.command, check.timeout)
                    .await
                    .map_err(|error| SmokeError::Failed {
                        name: check.name.clone(),
                        why: error.to_string(),
                        output: String::new(),
                    })?;
                results.push(judge(check, done.exit_code, &done.output, clock)?);
            }
            Ok::<_, SmokeError>(results)
        }
        .await;
        let outcome = match outcome {
            Err(SmokeError::Failed { name, why, output }) => Err(SmokeError::Failed {
                name,
                why,
                output: format!("{output}\n{}", service.last_logs(&container.id).await),
            }),
            other => other,
        };
        self.daemon.remove_container(&container.id).await?;
        outcome
    }

    /// Each check in a fresh container of its own, its command in place of the entrypoint.
    async fn check_image(
        &self,
        image: &Image,
        checks: &[Check],
        reference: &str,
    ) -> Result<Vec<Checked>, SmokeError> {
        let mut results = Vec::new();
        for (index, check) in checks.iter().enumerate() {
            let spec = ContainerSpec {
                name: self.container_name(&image.name, index + 1),
                image: reference.to_string(),
                command: check.command.clone(),
                entrypoint: Some(Vec::new()),
                labels: self.labels(),
                ..ContainerSpec::default()
            };
            let clock = Instant::now();
            let id = self.daemon.start_container(&spec).await?;
            let ended = self.wait_exit(&id, check.timeout).await;
            let mut output = Vec::new();
            let _ = self
                .daemon
                .logs(&id, Some(40), false, |chunk| {
                    output.extend_from_slice(chunk)
                })
                .await;
            self.daemon.remove_container(&id).await?;
            let output = String::from_utf8_lossy(&output).into_owned();
            let exit_code = match ended? {
                Some(code) => code,
                None => {
                    return Err(SmokeError::Failed {
                        name: check.name.clone(),
                        why: format!("did not finish within {}s", check.timeout.as_secs()),
                        output: tail(&output),
                    });
                }
            };
            results.push(judge(check, exit_code, &output, clock)?);
        }
        Ok(results)
    }

    /// The container's exit status, or `None` if it still ran after `timeout`.
    async fn wait_exit(&self, id: &str, timeout: Duration) -> Result<Option<i64>, SmokeError> {
        let clock = Instant::now();
        loop {
            match self.daemon.container(id).await? {
                Some(info) if info.running => {}
                Some(info) => return Ok(Some(info.exit_code.unwrap_or(-1))),
                None => return Ok(Some(-1)),
            }
            if clock.elapsed() >= timeout {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The run's label, and the catalog's (so a catalog's check containers can be told apart from
    /// another catalog's on a shared daemon).
    fn labels(&self) -> HashMap<String, String> {
        HashMap::from([
            (CHECK_LABEL.to_string(), self.run_id.clone()),
            (CATALOG_LABEL.to_string(), Service::catalog_id(self.catalog)),
        ])
    }

    fn container_name(&self, image: &str, index: usize) -> String {
        format!("baseimg-check-{}-{image}-{index}", self.run_id)
    }

    /// Removes every container this run made for checks: after the run, whatever happened to it.
    pub(crate) async fn clean_up(&self) -> Result<(), DaemonError> {
        let left = self
            .daemon
            .containers_labelled(&[(CHECK_LABEL, &self.run_id)])
            .await?;
        for name in left {
            self.daemon.remove_container(&name).await?;
        }
        Ok(())
    }
}

/// Whether a check's result is what the catalog expects.
fn judge(
    check: &Check,
    exit_code: i64,
    output: &str,
    clock: Instant,
) -> Result<Checked, SmokeError> {
    let why = if exit_code != check.exit {
        Some(format!("exit status {exit_code}, expected {}", check.exit))
    } else {
        check
            .contains
            .as_ref()
            .filter(|text| !output.contains(text.as_str()))
            .map(|text| format!("its output does not contain `{text}`"))
    };
    if let Some(why) = why {
        return Err(SmokeError::Failed {
            name: check.name.clone(),
            why,
            output: tail(output),
        });
    }
    Ok(Checked {
        name: check.name.clone(),
        passed: true,
        exit_code,
        output: tail(output),
        seconds: clock.elapsed().as_secs_f64(),
        why: None,
    })
}

/// The last lines of a command's output, indented as an excerpt.
fn tail(output: &str) -> String {
    let lines: Vec<&str> = output.lines().collect();
    let start = lines.len().saturating_sub(20);
    let mut out = String::from("output:");
    for line in &lines[start..] {
        out.push_str("\n  | ");
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(exit: i64, contains: Option<&str>) -> Check {
        Check {
            name: "maxmemory".into(),
            command: vec!["redis-cli".into(), "CONFIG".into()],
            exit,
            contains: contains.map(str::to_string),
            timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn a_check_passes_on_its_exit_status_and_text() {
        let passed = judge(
            &check(0, Some("268435456")),
            0,
            "maxmemory\n268435456\n",
            Instant::now(),
        );
        assert!(passed.unwrap().passed);
    }

    #[test]
    fn a_check_fails_saying_why() {
        let wrong_exit = judge(&check(0, None), 1, "boom", Instant::now()).unwrap_err();
        assert!(
            wrong_exit.to_string().contains("exit status 1, expected 0"),
            "{wrong_exit}"
        );
        let missing = judge(
            &check(0, Some("allkeys-lru")),
            0,
            "noeviction",
            Instant::now(),
        )
        .unwrap_err();
        assert!(
            missing
                .to_string()
                .contains("does not contain `allkeys-lru`"),
            "{missing}"
        );
        assert!(missing.to_string().contains("  | noeviction"), "{missing}");
    }
}
