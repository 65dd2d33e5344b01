//! Text for `baseimg history` and `baseimg rollback`.

use super::{Text, table};
use crate::commands::history::HistoryReport;
use crate::commands::prune::PruneReport;
use crate::commands::rollback::RollbackReport;

impl Text for HistoryReport {
    fn text(&self) -> String {
        if self.releases.is_empty() {
            return format!(
                "{} has no releases in {} yet\n",
                self.image, self.repository
            );
        }
        let mut rows = vec![vec![
            "TAG".to_string(),
            "CREATED".into(),
            "DIGEST".into(),
            "BASE".into(),
            "MOVING TAGS".into(),
        ]];
        for release in &self.releases {
            rows.push(vec![
                release.tag.clone(),
                release.created.clone(),
                release.digest.short().to_string(),
                release
                    .base_digest
                    .as_deref()
                    .map(|d| d.chars().take(19).collect())
                    .unwrap_or_else(|| "-".into()),
                release.moving.join(", "),
            ]);
        }
        format!("{}\n{}", self.repository, table(&rows))
    }
}

impl Text for PruneReport {
    fn text(&self) -> String {
        let verb = if self.dry_run {
            "would delete"
        } else {
            "deleted"
        };
        let mut out = String::new();
        for image in &self.images {
            let deleted = if image.deleted.is_empty() {
                "nothing".to_string()
            } else {
                image.deleted.join(", ")
            };
            out.push_str(&format!(
                "{}: {verb} {deleted}; kept {}\n",
                image.image,
                image.kept.join(", ")
            ));
        }
        out
    }
}

impl Text for RollbackReport {
    fn text(&self) -> String {
        let from = self.from.as_deref().unwrap_or("no release");
        if self.moved.is_empty() {
            format!(
                "{}: the moving tags already point at {}; nothing moved\n",
                self.image, self.to
            )
        } else {
            format!(
                "{}: {} → {} (moved {})\n",
                self.image,
                from,
                self.to,
                self.moved.join(", ")
            )
        }
    }
}
