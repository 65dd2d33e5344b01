//! The promotion journal: a registry has no transactions, so moving a run's tags (`1.0`, `1`,
//! `latest` of several images) can be cut off half-way by a killed process, leaving some tags on the
//! new releases and some on the old. Before the first tag moves, the run writes its whole intent —
//! every tag and the digest it is to point at — to `.baseimg/promotion.json`, durably; it removes the
//! file once every tag has moved. A file found later is an unfinished promotion: every command says
//! so, and the next `build --push` or `refresh` completes it first (rolls forward) before its own work.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::reference::Digest;
use crate::registry::{Clients, RegistryError};

const FILE: &str = "promotion.json";

/// Every tag a promotion moves, and where to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Journal {
    /// The run that started the promotion.
    pub run: String,
    pub started: String,
    pub tags: Vec<Intent>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Intent {
    pub registry: String,
    pub repository: String,
    pub tag: String,
    pub digest: String,
}

/// A journal file that is there but cannot be read as one.
#[derive(Debug, thiserror::Error)]
pub(crate) enum JournalError {
    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` is not a promotion journal: {source}", path.display())]
    Invalid {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl Journal {
    pub(crate) fn path(state_dir: &Path) -> PathBuf {
        state_dir.join(FILE)
    }

    /// The unfinished promotion in `state_dir`, if there is one. A file that cannot be read as a
    /// journal is reported as what it is rather than ignored.
    pub(crate) fn find(state_dir: &Path) -> Result<Option<Journal>, JournalError> {
        let path = Journal::path(state_dir);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| JournalError::Invalid { path, source }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(JournalError::Read { path, source }),
        }
    }

    /// Writes the intent (atomically, and synced: it must survive the kill it is there for).
    pub(crate) fn begin(&self, state_dir: &Path) -> std::io::Result<()> {
        let text = serde_json::to_vec_pretty(self).expect("journals serialize");
        crate::fsutil::write_atomic(&Journal::path(state_dir), &text)
    }

    /// The promotion finished: nothing is left to complete.
    pub(crate) fn end(state_dir: &Path) -> std::io::Result<()> {
        match std::fs::remove_file(Journal::path(state_dir)) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }

    /// Moves every tag of the journal that is not where it should be (a HEAD each; a GET by digest
    /// and a PUT for each that moves); returns how many moved.
    pub(crate) async fn complete(&self, clients: &Clients) -> Result<usize, RegistryError> {
        let mut moved = 0;
        for intent in &self.tags {
            let client = clients.get(&intent.registry);
            let current = client
                .head_manifest(&intent.repository, &intent.tag)
                .await?;
            if current.is_some_and(|(digest, _, _)| digest.as_str() == intent.digest) {
                continue;
            }
            let manifest = client
                .get_manifest(&intent.repository, &intent.digest)
                .await?;
            client
                .put_manifest(&intent.repository, &intent.tag, &manifest)
                .await?;
            moved += 1;
        }
        Ok(moved)
    }
}

/// A tag of an image, pointed at `digest`.
pub(crate) fn intent(registry: &str, repository: &str, tag: &str, digest: &Digest) -> Intent {
    Intent {
        registry: registry.to_string(),
        repository: repository.to_string(),
        tag: tag.to_string(),
        digest: digest.to_string(),
    }
}

/// The journal of a promotion cannot be read: a warning while nothing moves tags, an error before
/// a build would.
pub(crate) fn unreadable(problem: impl std::fmt::Display) -> crate::diagnostic::Diagnostic {
    crate::diagnostic::Diagnostic::new(
        crate::diagnostic::Code::BuildUnreadableJournal,
        problem.to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_is_found_until_its_promotion_ends() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Journal::find(dir.path()).unwrap(), None);
        let digest = Digest::sha256_of(b"image");
        let journal = Journal {
            run: "20261128T012800.000Z".into(),
            started: "2026-11-28T01:28:00Z".into(),
            tags: vec![intent("localhost:5000", "base/app", "1.0", &digest)],
        };
        journal.begin(dir.path()).unwrap();
        assert_eq!(Journal::find(dir.path()).unwrap(), Some(journal));
        Journal::end(dir.path()).unwrap();
        assert_eq!(Journal::find(dir.path()).unwrap(), None);
        std::fs::write(Journal::path(dir.path()), "{").unwrap();
        let error = Journal::find(dir.path()).unwrap_err();
        assert!(matches!(error, JournalError::Invalid { .. }), "{error:?}");
        assert!(
            error.to_string().contains("is not a promotion journal"),
            "{error}"
        );
    }
}
