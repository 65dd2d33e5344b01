//! Text for the commands that talk to registries: `lock` / `update`, `mirror` and `outdated`.

use super::{Text, count, table, table_with_notes, word};
use crate::commands::lock::LockReport;
use crate::commands::outdated::OutdatedReport;
use crate::mirror::pipeline::{MirrorReport, MirroredStatus};
use crate::registry::Budget;
use crate::text::human_bytes;

/// `registry-1.docker.io: 76 of 100 pulls left in the current window`
fn budget_lines(budgets: &[Budget]) -> String {
    budgets
        .iter()
        .map(|b| match b.limit {
            Some(total) => format!(
                "{}: {} of {} left in the current window\n",
                b.registry,
                b.remaining,
                count(total as usize, "pull", "pulls")
            ),
            None => format!(
                "{}: {} left in the current window\n",
                b.registry,
                count(b.remaining as usize, "pull", "pulls")
            ),
        })
        .collect()
}

impl Text for LockReport {
    fn text(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .images
            .iter()
            .map(|locked| {
                vec![
                    locked.image.clone(),
                    word(&locked.status),
                    locked.digest.to_string(),
                    locked.source.clone(),
                ]
            })
            .collect();
        let notes = self.images.iter().map(|l| l.note.clone());
        let mut out = table_with_notes(&rows, notes);
        out.push_str(&budget_lines(&self.rate_limits));
        if self.written {
            out.push_str(&format!("wrote {}\n", self.lock_file.display()));
        } else {
            out.push_str(&format!("{} is up to date\n", self.lock_file.display()));
        }
        out
    }
}

impl Text for MirrorReport {
    fn text(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .images
            .iter()
            .map(|mirrored| {
                let (what, detail) = match (&mirrored.status, &mirrored.copied) {
                    (MirroredStatus::Copied, Some(c)) => (
                        format!("copied {}", human_bytes(c.bytes)),
                        format!(
                            "{}  ({} copied, {} mounted, {} present)",
                            mirrored.repository,
                            count(c.blobs_copied, "blob", "blobs"),
                            c.blobs_mounted,
                            c.blobs_present
                        ),
                    ),
                    (MirroredStatus::Retagged, _) => (
                        format!("retagged ({})", mirrored.retagged.unwrap_or_default()),
                        mirrored.repository.clone(),
                    ),
                    (MirroredStatus::Failed, _) => (
                        word(&mirrored.status),
                        mirrored.error.clone().unwrap_or_default(),
                    ),
                    _ => (word(&mirrored.status), mirrored.repository.clone()),
                };
                vec![mirrored.image.clone(), what, detail]
            })
            .collect();
        let notes = self
            .images
            .iter()
            .map(|m| m.help.as_ref().map(|h| format!("help: {h}")));
        let mut out = table_with_notes(&rows, notes);
        out.push_str(&budget_lines(&self.rate_limits));
        out.push_str(&format!(
            "{} in {:.2}s: {} ({} upstream, {} retried), {} failed\n",
            count(self.images.len(), "image", "images"),
            self.seconds,
            count(self.requests as usize, "request", "requests"),
            self.upstream_requests,
            self.retries,
            self.failed()
        ));
        out
    }
}

impl Text for OutdatedReport {
    fn text(&self) -> String {
        let short = |digest: &str| digest.chars().take(19).collect::<String>();
        let mut rows = vec![vec![
            "IMAGE".to_string(),
            "STATUS".into(),
            "LOCKED".into(),
            "CURRENT".into(),
            "REFERENCE".into(),
        ]];
        for drift in &self.images {
            rows.push(vec![
                drift.image.clone(),
                word(&drift.status),
                drift
                    .locked
                    .as_ref()
                    .map(|d| short(d.as_str()))
                    .unwrap_or_else(|| "-".into()),
                short(drift.current.as_str()),
                drift.reference.clone(),
            ]);
        }
        let mut out = table(&rows);
        if self.outdated == 0 {
            out.push_str("\neverything is up to date\n");
        } else {
            out.push_str(&format!(
                "\n{} of {} moved upstream or {} not locked: run `baseimg update` then `baseimg mirror`\n",
                self.outdated,
                count(self.images.len(), "mirror", "mirrors"),
                if self.outdated == 1 { "is" } else { "are" }
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::outdated::{Drift, DriftStatus};
    use crate::reference::Digest;

    fn digest(c: char) -> Digest {
        Digest::parse(&format!("sha256:{}", c.to_string().repeat(64))).unwrap()
    }

    #[test]
    fn an_outdated_report_counts_drift_and_says_what_to_run() {
        let report = OutdatedReport::new(vec![
            Drift {
                image: "redis".into(),
                reference: "docker.io/library/redis:7.2.4".into(),
                locked: Some(digest('a')),
                current: digest('a'),
                status: DriftStatus::UpToDate,
            },
            Drift {
                image: "python".into(),
                reference: "docker.io/library/python:3.11".into(),
                locked: Some(digest('a')),
                current: digest('b'),
                status: DriftStatus::Moved,
            },
            Drift {
                image: "postgres".into(),
                reference: "docker.io/library/postgres:15".into(),
                locked: None,
                current: digest('c'),
                status: DriftStatus::NotLocked,
            },
        ]);
        assert_eq!(report.outdated, 2);
        assert_eq!(
            report.text(),
            "IMAGE     STATUS      LOCKED               CURRENT              REFERENCE\n\
             redis     up to date  sha256:aaaaaaaaaaaa  sha256:aaaaaaaaaaaa  docker.io/library/redis:7.2.4\n\
             python    moved       sha256:aaaaaaaaaaaa  sha256:bbbbbbbbbbbb  docker.io/library/python:3.11\n\
             postgres  not locked  -                    sha256:cccccccccccc  docker.io/library/postgres:15\n\
             \n\
             2 of 3 mirrors moved upstream or are not locked: run `baseimg update` then `baseimg mirror`\n"
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["outdated"], 2);
        assert_eq!(json["images"][2]["status"], "not_locked");
        assert_eq!(json["images"][2]["locked"], serde_json::Value::Null);
    }

    #[test]
    fn one_drifted_mirror_of_one_is_counted_in_the_singular() {
        let report = OutdatedReport::new(vec![Drift {
            image: "redis".into(),
            reference: "docker.io/library/redis:7.2.4".into(),
            locked: None,
            current: digest('c'),
            status: DriftStatus::NotLocked,
        }]);
        assert!(
            report.text().ends_with(
                "\n1 of 1 mirror moved upstream or is not locked: run `baseimg update` then `baseimg mirror`\n"
            ),
            "{}",
            report.text()
        );
    }

    #[test]
    fn a_copy_of_one_blob_says_blob() {
        use crate::mirror::Copied;
        use crate::mirror::pipeline::{MirrorReport, MirrorResult, MirroredStatus, copied_line};
        let copied = Copied {
            manifests: 1,
            blobs_copied: 1,
            blobs_mounted: 0,
            blobs_present: 2,
            bytes: 2048,
        };
        assert_eq!(
            copied_line(&copied),
            "copied 1 blob (2.00 KiB), mounted 0, present 2"
        );
        let report = MirrorReport {
            images: vec![MirrorResult {
                image: "redis".into(),
                status: MirroredStatus::Copied,
                repository: "r/redis".into(),
                retagged: None,
                copied: Some(copied),
                error: None,
                help: None,
            }],
            seconds: 1.0,
            requests: 1,
            upstream_requests: 1,
            retries: 0,
            rate_limits: vec![Budget {
                registry: "registry-1.docker.io".into(),
                remaining: 1,
                limit: None,
            }],
        };
        assert_eq!(
            report.text(),
            "redis  copied 2.00 KiB  r/redis  (1 blob copied, 0 mounted, 2 present)\n\
             registry-1.docker.io: 1 pull left in the current window\n\
             1 image in 1.00s: 1 request (1 upstream, 0 retried), 0 failed\n"
        );
    }

    #[test]
    fn a_lock_note_sits_under_its_image_without_widening_the_table() {
        use crate::commands::lock::{LockReport, Locked, LockedStatus};
        let locked = |image: &str, note: Option<&str>| Locked {
            image: image.into(),
            status: LockedStatus::Pinned,
            digest: digest('a'),
            source: format!("docker.io/library/{image}:1"),
            note: note.map(str::to_string),
        };
        let report = LockReport {
            lock_file: "base-images.lock".into(),
            written: true,
            images: vec![
                locked(
                    "python",
                    Some("kept linux/amd64 of 2 platforms: new index sha256:b"),
                ),
                locked("redis", None),
            ],
            rate_limits: Vec::new(),
        };
        let digest = digest('a').to_string();
        assert_eq!(
            report.text(),
            format!(
                "python  pinned  {digest}  docker.io/library/python:1\n\
                 \x20       kept linux/amd64 of 2 platforms: new index sha256:b\n\
                 redis   pinned  {digest}  docker.io/library/redis:1\n\
                 wrote base-images.lock\n"
            )
        );
    }
}
