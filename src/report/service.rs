//! Text for the commands that run the catalog's services: `run`, `stop`, `down` and `ps`.

use super::{Text, table, word};
use crate::commands::check::CheckReport;
use crate::commands::down::DownReport;
use crate::commands::ps::PsReport;
use crate::commands::run::{RunReport, StartedStatus};
use crate::commands::stop::StopReport;

impl Text for RunReport {
    fn text(&self) -> String {
        let mut out = String::new();
        for service in &self.services {
            let detail = match service.status {
                StartedStatus::Started | StartedStatus::Recreated => format!(
                    "ready in {:.1}s ({})",
                    service.seconds.unwrap_or_default(),
                    service
                        .ready
                        .as_ref()
                        .map_or_else(String::new, |r| format!("answered to {r}"))
                ),
                StartedStatus::AlreadyRunning => "on the current digest".to_string(),
                StartedStatus::Outdated => format!(
                    "runs {}; `baseimg run --recreate {}` switches to {} (volumes are kept)",
                    service.running.as_deref().unwrap_or("an older image"),
                    service.image,
                    service.reference
                ),
                StartedStatus::Failed => service.error.clone().unwrap_or_default(),
            };
            out.push_str(&format!(
                "{}  {}  {}\n",
                service.image,
                word(&service.status),
                service.container
            ));
            for line in detail.lines() {
                out.push_str(&format!("  {line}\n"));
            }
            if let Some(url) = &service.url {
                out.push_str(&format!("  {url}\n"));
            }
        }
        out
    }
}

/// `REDIS_URL=redis://127.0.0.1:6379` lines, for `eval "$(baseimg run redis --env)"`.
pub(super) fn env_lines(report: &RunReport) -> String {
    report
        .services
        .iter()
        .filter_map(|s| {
            let url = s.url.as_ref()?;
            Some(format!("{}={}\n", s.env_name, shell_quote(url)))
        })
        .collect()
}

/// The services that did not start, with why, as the text report shows them.
pub(super) fn failures(report: &RunReport) -> String {
    let failed = RunReport {
        services: report
            .services
            .iter()
            .filter(|s| s.status == StartedStatus::Failed)
            .cloned()
            .collect(),
    };
    failed.text()
}

/// A value as one shell word: unquoted when that is safe, single-quoted otherwise.
fn shell_quote(value: &str) -> String {
    let safe = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./-_".contains(&b));
    if safe {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

impl Text for CheckReport {
    fn text(&self) -> String {
        let mut out = String::new();
        for image in &self.images {
            out.push_str(&format!(
                "{}  {}  {}\n",
                image.image,
                word(&image.status),
                image.reference
            ));
            for check in &image.checks {
                out.push_str(&format!(
                    "  passed  {} ({:.1}s)\n",
                    check.name, check.seconds
                ));
            }
            for line in image.error.iter().flat_map(|e| e.lines()) {
                out.push_str(&format!("  {line}\n"));
            }
        }
        out
    }
}

impl Text for StopReport {
    fn text(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .services
            .iter()
            .map(|s| vec![s.image.clone(), word(&s.status), s.container.clone()])
            .collect();
        table(&rows)
    }
}

impl Text for DownReport {
    fn text(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .services
            .iter()
            .map(|s| {
                let volumes = if s.volumes.is_empty() {
                    String::new()
                } else {
                    format!("volumes removed: {}", s.volumes.join(", "))
                };
                vec![
                    s.image.clone(),
                    word(&s.status),
                    s.container.clone(),
                    volumes,
                ]
            })
            .collect();
        table(&rows)
    }
}

impl Text for PsReport {
    fn text(&self) -> String {
        let mut rows = vec![vec![
            "IMAGE".to_string(),
            "STATUS".into(),
            "CONTAINER".into(),
            "CURRENT".into(),
            "REFERENCE".into(),
        ]];
        for s in &self.services {
            rows.push(vec![
                s.image.clone(),
                word(&s.status),
                s.container.clone(),
                match s.current {
                    Some(true) => "yes".into(),
                    Some(false) => "no: `baseimg run --recreate`".into(),
                    None => "-".into(),
                },
                s.reference.clone().unwrap_or_else(|| "-".into()),
            ]);
        }
        table(&rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_lines_quote_what_the_shell_would_split() {
        assert_eq!(
            shell_quote("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
        assert_eq!(shell_quote("postgres://a b"), "'postgres://a b'");
        assert_eq!(shell_quote("x'y"), r"'x'\''y'");
    }
}
