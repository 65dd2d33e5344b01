//! Text for the commands that read the catalog and change nothing: `validate`, `graph`, `render`
//! and `plan`.

use super::{Text, count, table};
use crate::commands::init::InitReport;
use crate::commands::plan::PlanReport;
use crate::commands::render::RenderReport;
use crate::commands::validate::ValidateReport;

impl Text for InitReport {
    fn text(&self) -> String {
        let mut out = format!(
            "wrote a base-images repository in {} ({})\n",
            self.directory.display(),
            count(self.files.len(), "file", "files")
        );
        out.push_str(
            "next: set `registry:` in base-images.yaml to your registry, then \
             `baseimg validate`, `baseimg lock`, `baseimg mirror`, `baseimg build --push`\n",
        );
        out
    }
}

impl Text for ValidateReport {
    fn text(&self) -> String {
        format!(
            "{}: {} ({} mirrored, {} built), no errors\n",
            self.catalog.display(),
            count(self.images, "image", "images"),
            self.mirrors,
            self.built
        )
    }
}

impl Text for RenderReport {
    fn text(&self) -> String {
        let mut out = String::new();
        let several = self.images.len() > 1;
        for rendered in &self.images {
            match &rendered.path {
                Some(path) => out.push_str(&format!("wrote {}\n", path)),
                None => {
                    if several {
                        out.push_str(&format!("# ---- {} ----\n", rendered.image));
                    }
                    out.push_str(&rendered.dockerfile);
                }
            }
        }
        out
    }
}

impl Text for PlanReport {
    fn text(&self) -> String {
        let mut rows = vec![vec![
            "IMAGE".to_string(),
            "ACTION".into(),
            "REFERENCE".into(),
            "REASON".into(),
        ]];
        for step in &self.steps {
            rows.push(vec![
                step.image.clone(),
                super::word(&step.action),
                step.reference.clone().unwrap_or_else(|| "-".into()),
                step.reason.clone(),
            ]);
        }
        let summary = &self.summary;
        let mut parts = vec![
            format!("{} to mirror", summary.mirror),
            format!("{} to build", summary.build),
            format!("{} up to date", summary.skip),
        ];
        if summary.waiting > 0 {
            parts.push(format!("{} waiting for `baseimg lock`", summary.waiting));
        }
        format!(
            "{}\n{}: {}\n",
            table(&rows),
            count(summary.images, "image", "images"),
            parts.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::plan::PlanSummary;

    #[test]
    fn one_image_is_counted_in_the_singular() {
        let report = ValidateReport {
            catalog: "base-images.yaml".into(),
            images: 1,
            mirrors: 1,
            built: 0,
        };
        assert_eq!(
            report.text(),
            "base-images.yaml: 1 image (1 mirrored, 0 built), no errors\n"
        );
        let plan = PlanReport {
            steps: Vec::new(),
            summary: PlanSummary {
                images: 1,
                skip: 1,
                ..PlanSummary::default()
            },
        };
        assert!(
            plan.text()
                .ends_with("\n1 image: 0 to mirror, 0 to build, 1 up to date\n"),
            "{}",
            plan.text()
        );
    }
}
