//! An image's releases in the private registry: its immutable tags (`<version>-<fingerprint12>`),
//! read back from the manifests and image configs baseimg pushed, and where its moving tags point.
//! What `baseimg history` shows and `baseimg rollback` re-points the moving tags by.
//!
//! Only tags whose image carries baseimg's fingerprint label, matching the tag's suffix, count as
//! releases: a hand-pushed tag or another image's never becomes a rollback target.

use futures_util::{StreamExt, stream};
use serde::Serialize;

use crate::fingerprint;
use crate::reference::Digest;
use crate::registry::{Client, Manifest, RegistryError};

/// How many candidate tags are read at most (two requests each): older ones are for `prune`.
pub const MAX_RELEASES: usize = 200;

/// One immutable tag of an image.
#[derive(Debug, Clone, Serialize)]
pub struct Release {
    pub tag: String,
    pub digest: Digest,
    /// `org.opencontainers.image.created`.
    pub created: String,
    pub version: String,
    pub fingerprint: String,
    /// The parent it was built on (`org.opencontainers.image.base.digest`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_digest: Option<String>,
    /// The image's moving tags that point at this release now.
    pub moving: Vec<String>,
    /// The manifest as stored, for re-pointing tags to it byte for byte.
    #[serde(skip)]
    pub manifest: Manifest,
}

/// `<anything>-<12 hex digits>`: the shape of an immutable tag.
fn fingerprint_suffix(tag: &str) -> Option<&str> {
    let (_, suffix) = tag.rsplit_once('-')?;
    (suffix.len() == 12 && suffix.bytes().all(|b| b.is_ascii_hexdigit())).then_some(suffix)
}

/// The image's releases in `repository`, newest first, with where `moving_tags` point.
pub async fn releases(
    client: &Client,
    repository: &str,
    title: &str,
    moving_tags: &[String],
) -> Result<Vec<Release>, RegistryError> {
    let tags = client.list_tags(repository).await?;
    let candidates: Vec<&String> = tags
        .iter()
        .filter(|t| fingerprint_suffix(t).is_some())
        .take(MAX_RELEASES)
        .collect();
    let read: Vec<Result<Option<Release>, RegistryError>> = stream::iter(candidates)
        .map(|tag| release(client, repository, title, tag))
        .buffered(8)
        .collect()
        .await;
    let mut releases = Vec::new();
    for found in read {
        releases.extend(found?);
    }
    for tag in moving_tags {
        if let Some((digest, _, _)) = client.head_manifest(repository, tag).await?
            && let Some(release) = releases.iter_mut().find(|r| r.digest == digest)
        {
            release.moving.push(tag.clone());
        }
    }
    // RFC 3339 in UTC sorts as text; the tag breaks ties so the order is stable.
    releases.sort_by(|a, b| b.created.cmp(&a.created).then(b.tag.cmp(&a.tag)));
    Ok(releases)
}

/// One tag read back: `None` when it is not a release of this image.
async fn release(
    client: &Client,
    repository: &str,
    title: &str,
    tag: &str,
) -> Result<Option<Release>, RegistryError> {
    let manifest = client.get_manifest(repository, tag).await?;
    let Some(config) = client.config_of(repository, &manifest).await? else {
        return Ok(None);
    };
    let labels = &config["config"]["Labels"];
    let label = |name: &str| labels[name].as_str().map(str::to_string);
    let fingerprint = label(fingerprint::LABEL).unwrap_or_default();
    let ours = label("org.opencontainers.image.title").as_deref() == Some(title)
        && fingerprint_suffix(tag).is_some_and(|suffix| fingerprint.starts_with(suffix));
    if !ours {
        return Ok(None);
    }
    Ok(Some(Release {
        tag: tag.to_string(),
        digest: manifest.digest.clone(),
        created: label("org.opencontainers.image.created").unwrap_or_default(),
        version: label("org.opencontainers.image.version").unwrap_or_default(),
        fingerprint,
        base_digest: label("org.opencontainers.image.base.digest"),
        moving: Vec::new(),
        manifest,
    }))
}

/// Points every tag of `tags` at `manifest` (one HEAD per tag, one PUT per tag that moves); returns
/// the tags that moved.
pub async fn repoint(
    client: &Client,
    repository: &str,
    tags: &[String],
    manifest: &Manifest,
) -> Result<Vec<String>, RegistryError> {
    let mut moved = Vec::new();
    for tag in tags {
        let current = client.head_manifest(repository, tag).await?;
        if current.is_some_and(|(digest, _, _)| digest == manifest.digest) {
            continue;
        }
        client.put_manifest(repository, tag, manifest).await?;
        moved.push(tag.clone());
    }
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn immutable_tags_end_in_twelve_hex_digits() {
        assert_eq!(
            fingerprint_suffix("7.2.4-076fa803e25f"),
            Some("076fa803e25f")
        );
        assert_eq!(
            fingerprint_suffix("1.4.0-rc1-076fa803e25f"),
            Some("076fa803e25f")
        );
        assert_eq!(fingerprint_suffix("7.2"), None);
        assert_eq!(fingerprint_suffix("latest"), None);
        assert_eq!(fingerprint_suffix("7.2.4-bookworm"), None);
    }
}
