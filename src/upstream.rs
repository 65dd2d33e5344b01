//! What upstream says now: resolving the catalog's upstream tags to digests for the lock file, and
//! comparing the lock file with upstream for `outdated`.
//!
//! Only HEAD requests are used to learn where a tag points (Docker Hub does not count them as pulls).
//! A manifest GET happens only when a digest is new or changed and is an index, to record its
//! platforms — and then by digest, so what is recorded is exactly what was resolved.

use std::collections::BTreeMap;

use crate::catalog::{Catalog, Image};
use crate::lock::LockEntry;
use crate::reference::{Digest, Reference, ReferenceError};
use crate::registry::{
    Clients, IndexError, InvalidManifest, RegistryError, filter_index, is_index,
};

/// Why an upstream reference could not be resolved to a lock entry.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ResolveError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("`{reference}` does not exist upstream")]
    NotFound { reference: String },
    /// Only a tag or a digest can be looked up.
    #[error("`{reference}` has neither tag nor digest")]
    Unpinned { reference: String },
    #[error(transparent)]
    Manifest(#[from] InvalidManifest),
    /// Upstream's index names a platform manifest by a digest baseimg cannot verify.
    #[error(transparent)]
    Digest(#[from] ReferenceError),
    #[error("`{reference}`: {error}")]
    Platforms {
        reference: String,
        error: IndexError,
    },
    #[error("cannot form the mirror reference: {0}")]
    MirrorReference(ReferenceError),
}

/// Where an upstream reference points now: its digest and media type (one HEAD request).
pub(crate) async fn current_digest(
    clients: &Clients,
    upstream: &Reference,
) -> Result<(Digest, String), ResolveError> {
    let client = clients.get(&upstream.registry);
    let reference = match (&upstream.digest, &upstream.tag) {
        (Some(digest), _) => digest.to_string(),
        (None, Some(tag)) => tag.clone(),
        (None, None) => {
            return Err(ResolveError::Unpinned {
                reference: upstream.to_string(),
            });
        }
    };
    match client
        .head_manifest(&upstream.repository, &reference)
        .await?
    {
        Some((digest, media_type, _)) => Ok((digest, media_type)),
        None => Err(ResolveError::NotFound {
            reference: upstream.to_string(),
        }),
    }
}

/// A resolved mirror: its lock entry, and how many platforms upstream offered (when it was asked).
pub(crate) struct Resolution {
    pub entry: LockEntry,
    pub upstream_platforms: Option<usize>,
}

/// Resolves one mirror to a lock entry. When upstream still points where `existing` says, the
/// existing entry is returned unchanged (same bytes in the lock file, no GET).
pub(crate) async fn resolve(
    clients: &Clients,
    catalog: &Catalog,
    image: &Image,
    existing: Option<&LockEntry>,
    now: &str,
) -> Result<Resolution, ResolveError> {
    let mirror = image.as_mirror().expect("only mirrors are resolved");
    let current = current_digest(clients, &mirror.upstream).await?;
    entry_for(clients, catalog, image, current, existing, now).await
}

/// The lock entry for the digest upstream points at (`current`, from [`current_digest`]): the
/// existing entry when nothing changed, else a new one — with a GET of the index, by digest, to
/// record its platforms.
pub(crate) async fn entry_for(
    clients: &Clients,
    catalog: &Catalog,
    image: &Image,
    (digest, media_type): (Digest, String),
    existing: Option<&LockEntry>,
    now: &str,
) -> Result<Resolution, ResolveError> {
    let mirror = image.as_mirror().expect("only mirrors are resolved");
    if let Some(entry) = existing
        && entry.source == mirror.upstream
        && entry.digest == digest
        && entry.only == image.platforms
    {
        return Ok(Resolution {
            entry: entry.clone(),
            upstream_platforms: None,
        });
    }
    let mut platforms = BTreeMap::new();
    let mut upstream_platforms = None;
    let mut mirror_digest = digest.clone();
    if is_index(&media_type) {
        let client = clients.get(&mirror.upstream.registry);
        let index = client
            .get_manifest(&mirror.upstream.repository, digest.as_str())
            .await?;
        let document = index.document()?;
        upstream_platforms = Some(
            document
                .manifests
                .iter()
                .filter(|m| {
                    m.platform
                        .as_ref()
                        .is_some_and(|p| p.name() != "unknown/unknown")
                })
                .count(),
        );
        for child in &document.manifests {
            let Some(platform) = &child.platform else {
                continue;
            };
            let name = platform.name();
            // Attestation manifests carry `unknown/unknown`: not a platform anyone runs.
            if name == "unknown/unknown" {
                continue;
            }
            if image.platforms.is_empty() || crate::platform::keeps(&image.platforms, &name) {
                let child_digest = Digest::parse(&child.digest)?;
                platforms.insert(name, child_digest);
            }
        }
        if !image.platforms.is_empty() {
            let filtered = filter_index(&index.bytes, &image.platforms).map_err(|error| {
                ResolveError::Platforms {
                    reference: mirror.upstream.to_string(),
                    error,
                }
            })?;
            mirror_digest = Digest::sha256_of(&filtered);
        }
    }
    let mirror_reference = Reference::parse(&catalog.mirror_reference(image, &mirror_digest))
        .map_err(ResolveError::MirrorReference)?;
    Ok(Resolution {
        entry: LockEntry {
            source: mirror.upstream.clone(),
            digest,
            media_type,
            platforms,
            only: image.platforms.clone(),
            resolved_at: now.to_string(),
            mirror: mirror_reference,
            candidate: None,
        },
        upstream_platforms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_errors_name_the_upstream_reference() {
        let index = br#"{"manifests":[{"platform":{"os":"linux","architecture":"amd64"}}]}"#;
        let error = filter_index(index, &["linux/arm64".to_string()]).unwrap_err();
        let platforms = ResolveError::Platforms {
            reference: "docker.io/library/redis:7".into(),
            error,
        };
        assert_eq!(
            platforms.to_string(),
            "`docker.io/library/redis:7`: upstream has no linux/arm64 image (it has linux/amd64)"
        );
        let unpinned = ResolveError::Unpinned {
            reference: "docker.io/library/redis".into(),
        };
        assert_eq!(
            unpinned.to_string(),
            "`docker.io/library/redis` has neither tag nor digest"
        );
    }
}
