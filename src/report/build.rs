//! Text for `baseimg build`: one line per image (a failure's log excerpt below it), what became of
//! the moving tags, and one line that sums the run up.

use super::{Text, word};
use crate::commands::build::{BuildReport, BuildStatus, ImageResult, Promotion};

impl Text for BuildReport {
    fn text(&self) -> String {
        let width = self
            .images
            .iter()
            .map(|i| i.image.chars().count())
            .max()
            .unwrap_or(5)
            .max(5);
        let mut out = String::new();
        // With several daemons, each built image says where it was built.
        let builders: std::collections::BTreeSet<&str> = self
            .images
            .iter()
            .filter_map(|i| i.builder.as_deref())
            .collect();
        for image in &self.images {
            let time = image
                .seconds
                .map(|s| format!("{s:.1}s"))
                .unwrap_or_else(|| "-".into());
            let mut detail = detail(image);
            if let Some(builder) = image.builder.as_deref().filter(|_| builders.len() > 1) {
                detail.push_str(&format!("\nbuilt on {builder}"));
            }
            let mut lines = detail.lines();
            out.push_str(&format!(
                "{:width$}  {:13}  {time:>6}  {}\n",
                image.image,
                word(&image.status),
                lines.next().unwrap_or("")
            ));
            for line in lines {
                out.push_str(&format!("{:width$}  {:13}  {:>6}  {line}\n", "", "", ""));
            }
        }
        out.push('\n');
        if let Some(resumed) = &self.resumed {
            out.push_str(&format!(
                "completed the promotion run {} had left unfinished: {} moved\n",
                resumed.run,
                super::count(resumed.moved, "tag", "tags")
            ));
        }
        out.push_str(&match &self.promotion {
            Promotion::Moved { images } => {
                let moved: Vec<String> = images
                    .iter()
                    .map(|p| format!("{} → {}", p.image, p.tags.join(", ")))
                    .collect();
                format!("promoted: {}\n", moved.join("; "))
            }
            Promotion::InPlace => "moving tags: all already in place\n".into(),
            Promotion::Failed { error } => format!(
                "promotion failed: {error}; moving tags may be partly moved, run the build again\n"
            ),
            Promotion::NotPromoted => {
                "not promoted: moving tags left where they were, because not every image succeeded\n"
                    .into()
            }
        });
        let counts = &self.counts;
        if counts.built == 0 && counts.up_to_date > 0 && self.ok {
            out.push_str(&format!(
                "nothing to build: every image is up to date ({} checked) in {:.2}s\n",
                counts.up_to_date, self.seconds
            ));
        } else {
            out.push_str(&format!(
                "{} built{}, {} up to date, {} failed, {} not attempted in {:.1}s; logs in {}\n",
                counts.built,
                match counts.built {
                    0 => String::new(),
                    _ => format!(" with {}", self.builder),
                },
                counts.up_to_date,
                counts.failed,
                counts.not_attempted,
                self.seconds,
                self.logs.display()
            ));
        }
        out
    }
}

/// What to say after an image's status: where it is, why it failed, or why it was not attempted.
fn detail(image: &ImageResult) -> String {
    match image.status {
        BuildStatus::Failed => match &image.help {
            Some(help) => format!(
                "{}\nhelp: {help}",
                image.error.as_deref().unwrap_or_default()
            ),
            None => image.error.clone().unwrap_or_default(),
        },
        BuildStatus::NotAttempted => match image.because.as_deref() {
            Some("interrupted") | None => "interrupted".into(),
            Some(because) => format!("`{because}` failed"),
        },
        BuildStatus::Interrupted => "stopped by Ctrl-C".into(),
        _ if !image.checks.is_empty() => format!(
            "{}\n{} passed",
            image.reference.clone().unwrap_or_default(),
            super::count(image.checks.len(), "check", "checks")
        ),
        _ => image.reference.clone().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::commands::build::Counts;
    use crate::executor::Promoted;

    fn image(name: &str, status: BuildStatus) -> ImageResult {
        ImageResult::new(name, status)
    }

    #[test]
    fn a_failed_build_report_says_what_failed_what_waited_and_that_no_tag_moved() {
        let report = BuildReport::new(
            true,
            vec![
                ImageResult {
                    reference: Some("r/base:1@sha256:aa".into()),
                    ..image("base", BuildStatus::InRegistry)
                },
                ImageResult {
                    error: Some("build failed: exit 1\nlast lines of app.log:".into()),
                    seconds: Some(2.04),
                    ..image("app", BuildStatus::Failed)
                },
                ImageResult {
                    because: Some("app".into()),
                    ..image("app-plus", BuildStatus::NotAttempted)
                },
            ],
            Promotion::NotPromoted,
            crate::docker::Builder::Buildkit,
            PathBuf::from(".baseimg/logs/run"),
            3.0,
        );
        assert!(!report.ok);
        assert_eq!(
            report.counts,
            Counts {
                built: 0,
                up_to_date: 0,
                failed: 1,
                not_attempted: 1
            }
        );
        assert_eq!(
            report.text(),
            "base      in registry         -  r/base:1@sha256:aa\n\
             app       failed           2.0s  build failed: exit 1\n\
             \x20                                last lines of app.log:\n\
             app-plus  not attempted       -  `app` failed\n\
             \n\
             not promoted: moving tags left where they were, because not every image succeeded\n\
             0 built, 0 up to date, 1 failed, 1 not attempted in 3.0s; logs in .baseimg/logs/run\n"
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["ok"], false);
        assert_eq!(json["images"][0]["status"], "in_registry");
        assert!(json["images"][0].get("seconds").is_none(), "{json:#}");
        assert_eq!(json["failed"], 1);
        assert_eq!(json["images"][2]["status"], "not_attempted");
        assert_eq!(json["images"][2]["because"], "app");
        assert_eq!(json["promotion"]["status"], "not_promoted");
    }

    #[test]
    fn a_build_with_nothing_to_do_says_so() {
        let report = BuildReport::new(
            true,
            vec![ImageResult {
                reference: Some("r/app:1-abc@sha256:bb".into()),
                seconds: Some(0.01),
                ..image("app", BuildStatus::UpToDate)
            }],
            Promotion::InPlace,
            crate::docker::Builder::Buildkit,
            PathBuf::from("logs"),
            0.25,
        );
        assert!(report.ok);
        assert!(report.text().ends_with(
            "moving tags: all already in place\nnothing to build: every image is up to date (1 checked) in 0.25s\n"
        ));
        assert_eq!(
            serde_json::to_value(&report).unwrap()["images"][0]["status"],
            "up_to_date"
        );
    }

    #[test]
    fn a_promotion_names_every_moved_tag() {
        let report = BuildReport::new(
            true,
            vec![image("app", BuildStatus::Built)],
            Promotion::Moved {
                images: vec![Promoted {
                    image: "app".into(),
                    tags: vec!["1.0".into(), "1".into()],
                    previous: None,
                }],
            },
            crate::docker::Builder::Classic,
            PathBuf::from("logs"),
            1.0,
        );
        let text = report.text();
        assert!(text.contains("\npromoted: app → 1.0, 1\n"));
        assert!(
            text.contains("\n1 built with the classic builder, 0 up to date"),
            "{text}"
        );
        assert_eq!(serde_json::to_value(&report).unwrap()["builder"], "classic");
    }
}
