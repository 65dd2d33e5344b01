//! Manifests kept on disk by digest, so a manifest fetched once (by `lock`, to learn an index's
//! platforms) is not fetched again (by `mirror`, to copy it): each upstream GET may count against a
//! pull limit.
//!
//! Content-addressed and verified: a file is used only when its bytes hash to the digest asked for,
//! so a damaged or tampered cache costs a request, never a wrong manifest. Only manifests fetched by
//! digest are kept (a tag may move), and only those that name their own media type (a manifest
//! must be served back with the type it was stored with).

use std::path::PathBuf;

use bytes::Bytes;

use super::document::{Manifest, ManifestDocument};
use crate::fsutil::write_atomic;
use crate::reference::Digest;

#[derive(Debug, Clone)]
pub(super) struct ManifestCache {
    /// The catalog's directory: the cache lives in its `.baseimg/cache/manifests/`.
    root: PathBuf,
}

impl ManifestCache {
    pub(super) fn new(root: PathBuf) -> ManifestCache {
        ManifestCache { root }
    }

    fn dir(&self) -> PathBuf {
        self.root.join(".baseimg/cache/manifests")
    }

    fn path(&self, digest: &Digest) -> PathBuf {
        self.dir().join(digest.as_str().replace(':', "-"))
    }

    /// The manifest with this digest, if it was kept and is still intact.
    pub(super) fn get(&self, digest: &Digest) -> Option<Manifest> {
        let bytes = Bytes::from(std::fs::read(self.path(digest)).ok()?);
        if Digest::sha256_of(&bytes) != *digest {
            let _ = std::fs::remove_file(self.path(digest));
            return None;
        }
        let media_type = media_type_of(&bytes)?;
        Some(Manifest {
            bytes,
            media_type,
            digest: digest.clone(),
        })
    }

    /// Keeps a manifest that names its own media type; a failure to write only loses the saving.
    pub(super) fn put(&self, manifest: &Manifest) {
        if media_type_of(&manifest.bytes).as_deref() != Some(manifest.media_type.as_str()) {
            return;
        }
        // Made on first use, with `.baseimg/`'s own `.gitignore`: a read-only command leaves no trace.
        let made =
            crate::fsutil::state_dir(&self.root).and_then(|_| std::fs::create_dir_all(self.dir()));
        if made.is_ok() {
            let _ = write_atomic(&self.path(&manifest.digest), &manifest.bytes);
        }
    }
}

fn media_type_of(bytes: &[u8]) -> Option<String> {
    serde_json::from_slice::<ManifestDocument>(bytes)
        .ok()?
        .media_type
        .filter(|m| !m.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(text: &str) -> Manifest {
        let bytes = Bytes::from(text.to_string());
        Manifest {
            digest: Digest::sha256_of(&bytes),
            media_type: "application/vnd.oci.image.index.v1+json".into(),
            bytes,
        }
    }

    #[test]
    fn a_kept_manifest_comes_back_byte_for_byte_and_a_damaged_one_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ManifestCache::new(dir.path().to_path_buf());
        let index = manifest(
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#,
        );
        cache.put(&index);
        let back = cache.get(&index.digest).unwrap();
        assert_eq!(back.bytes, index.bytes);
        assert_eq!(back.media_type, index.media_type);

        std::fs::write(cache.path(&index.digest), b"{}").unwrap();
        assert!(cache.get(&index.digest).is_none());
        assert!(
            !cache.path(&index.digest).exists(),
            "a damaged entry is dropped"
        );
    }

    #[test]
    fn a_manifest_that_does_not_name_its_type_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ManifestCache::new(dir.path().to_path_buf());
        let anonymous = manifest(r#"{"schemaVersion":2,"manifests":[]}"#);
        cache.put(&anonymous);
        assert!(cache.get(&anonymous.digest).is_none());
    }
}
