//! Manifests and image indexes as documents: their media types, the parts of them baseimg reads,
//! and the filtering of an index down to the platforms a catalog keeps.
//!
//! A manifest is kept as the exact bytes the registry served, because those bytes are what its digest
//! covers: parsing is only for reading (which blobs, which platforms), never for writing back. The
//! one manifest baseimg writes itself is a filtered index, serialized deterministically so that `lock`
//! (which records its digest) and `mirror` (which pushes it) produce the same bytes.

use bytes::Bytes;
use serde::Deserialize;

use crate::reference::Digest;

pub const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub fn is_index(media_type: &str) -> bool {
    media_type == MEDIA_OCI_INDEX || media_type == MEDIA_DOCKER_LIST
}

/// A manifest exactly as the registry served it: the bytes are what the digest covers.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub bytes: Bytes,
    pub media_type: String,
    pub digest: Digest,
}

/// The parts of an image manifest or index that copying needs.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestDocument {
    pub media_type: Option<String>,
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    pub config: Option<Descriptor>,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Foreign layers (Windows base layers) live elsewhere and are not copied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    pub fn name(&self) -> String {
        match &self.variant {
            Some(variant) => format!("{}/{}/{variant}", self.os, self.architecture),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }
}

/// A manifest whose bytes are not the JSON document a manifest must be.
#[derive(Debug, thiserror::Error)]
#[error("manifest {digest} is not valid JSON: {error}")]
pub struct InvalidManifest {
    pub digest: Digest,
    error: serde_json::Error,
}

impl Manifest {
    pub fn document(&self) -> Result<ManifestDocument, InvalidManifest> {
        serde_json::from_slice(&self.bytes).map_err(|error| InvalidManifest {
            digest: self.digest.clone(),
            error,
        })
    }
}

/// Why an upstream index cannot be filtered to the catalog's platforms.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("upstream index is not valid JSON: {0}")]
    NotJson(serde_json::Error),
    #[error("upstream index has no `manifests`")]
    NoManifests,
    #[error("upstream has no {wanted} image (it has {available})")]
    MissingPlatform { wanted: String, available: String },
    #[error("{0}")]
    Serialize(serde_json::Error),
}

/// The index kept when a catalog filters platforms: upstream's index with only those manifests,
/// serialized deterministically so `lock` and `mirror` compute the same digest.
pub fn filter_index(bytes: &[u8], platforms: &[String]) -> Result<Bytes, IndexError> {
    let mut document: serde_json::Value =
        serde_json::from_slice(bytes).map_err(IndexError::NotJson)?;
    let manifests = document
        .get_mut("manifests")
        .and_then(|m| m.as_array_mut())
        .ok_or(IndexError::NoManifests)?;
    let platform_of = |m: &serde_json::Value| -> String {
        let p = &m["platform"];
        let mut name = format!(
            "{}/{}",
            p["os"].as_str().unwrap_or(""),
            p["architecture"].as_str().unwrap_or("")
        );
        if let Some(variant) = p["variant"].as_str() {
            name = format!("{name}/{variant}");
        }
        name
    };
    let available: Vec<String> = manifests.iter().map(platform_of).collect();
    for wanted in platforms {
        if !available
            .iter()
            .any(|a| crate::platform::matches(wanted, a))
        {
            return Err(IndexError::MissingPlatform {
                wanted: wanted.clone(),
                available: available.join(", "),
            });
        }
    }
    manifests.retain(|m| crate::platform::keeps(platforms, &platform_of(m)));
    let text = serde_json::to_vec(&document).map_err(IndexError::Serialize)?;
    Ok(Bytes::from(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filtered_index_keeps_the_named_platforms_in_order() {
        let index = br#"{"schemaVersion":2,"manifests":[{"digest":"sha256:a","platform":{"os":"linux","architecture":"amd64"}},{"digest":"sha256:b","platform":{"os":"linux","architecture":"arm64","variant":"v8"}}]}"#;
        let kept = filter_index(index, &["linux/arm64".to_string()]).unwrap();
        let text = String::from_utf8(kept.to_vec()).unwrap();
        assert!(
            text.contains("sha256:b") && !text.contains("sha256:a"),
            "{text}"
        );
        assert_eq!(
            filter_index(index, &["linux/s390x".to_string()])
                .unwrap_err()
                .to_string(),
            "upstream has no linux/s390x image (it has linux/amd64, linux/arm64/v8)"
        );
        assert_eq!(
            filter_index(br#"{"schemaVersion":2}"#, &[])
                .unwrap_err()
                .to_string(),
            "upstream index has no `manifests`"
        );
    }

    #[test]
    fn an_unreadable_manifest_is_named_by_its_digest() {
        let manifest = Manifest {
            bytes: Bytes::from_static(b"not json"),
            media_type: MEDIA_OCI_MANIFEST.into(),
            digest: Digest::sha256_of(b"not json"),
        };
        let message = manifest.document().unwrap_err().to_string();
        assert!(
            message.starts_with(&format!("manifest {} is not valid JSON: ", manifest.digest)),
            "{message}"
        );
    }
}
