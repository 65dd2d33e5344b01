//! Blobs (layers and configs): asking whether the registry has one, linking one across repositories,
//! and moving one as a stream.
//!
//! Blobs can be hundreds of megabytes, so these requests never hold one in memory: a download hands
//! its response to the caller to stream, an upload takes a stream. An upload is one monolithic PUT
//! carrying the digest, so the registry checks the content too and refuses a mismatch. Because a
//! stream cannot be replayed, uploads are not retried here; the mirror retries a whole blob copy.
//! The one exception is an image config, small and read by baseimg itself: it is read into memory
//! within the retried request and checked against its size and digest.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt, stream};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, LOCATION};
use reqwest::{Method, StatusCode};

use super::client::scope;
use super::client::{Access, Call, Client};
use super::error::{Failure, RegistryError};
use crate::reference::Digest;

/// How many mounts of one image's layers are asked for at once.
const MOUNT_CONCURRENCY: usize = 4;

impl Client {
    /// Whether the registry has a blob in this repository.
    pub async fn has_blob(&self, repository: &str, digest: &str) -> Result<bool, RegistryError> {
        self.stats.blob_heads.fetch_add(1, Ordering::Relaxed);
        let answer = self
            .send(
                Call {
                    method: Method::HEAD,
                    url: &self.url(repository, "blobs", digest),
                    repository,
                    access: Access::Pull,
                    action: &format!("HEAD blob {digest}"),
                },
                HeaderMap::new(),
                None,
                &[StatusCode::OK, StatusCode::NOT_FOUND],
            )
            .await?;
        Ok(answer.status == StatusCode::OK)
    }

    /// Asks the registry to link a blob it already holds in `from` into `repository`: no bytes move.
    /// Returns false when the registry would rather have the blob uploaded.
    pub async fn mount_blob(
        &self,
        repository: &str,
        digest: &str,
        from: &str,
    ) -> Result<bool, RegistryError> {
        self.stats.blob_mounts.fetch_add(1, Ordering::Relaxed);
        let url = format!(
            "{}/v2/{repository}/blobs/uploads/?mount={digest}&from={from}",
            self.base
        );
        let answer = self
            .send(
                Call {
                    method: Method::POST,
                    url: &url,
                    repository,
                    access: Access::Push,
                    action: &format!("mount blob {digest}"),
                },
                HeaderMap::new(),
                Some(Bytes::new()),
                &[StatusCode::CREATED, StatusCode::ACCEPTED],
            )
            .await?;
        if answer.status == StatusCode::ACCEPTED {
            // The registry opened an upload instead; close it so it does not linger.
            if let Some(location) = self.location(&answer.headers) {
                let _ = self
                    .request(
                        Method::DELETE,
                        &location,
                        self.authorization(&scope(repository, Access::Push)).await,
                        HeaderMap::new(),
                        None,
                    )
                    .await;
            }
            return Ok(false);
        }
        Ok(true)
    }

    /// Links the layers of the image `digest` in `from` into `repository` (for an index, those of
    /// its manifest for `platform`), so that a push to `repository` finds them there and uploads
    /// only what is new. Returns how many layers the registry linked; one it would rather have
    /// uploaded is left to the push.
    pub async fn mount_layers(
        &self,
        repository: &str,
        from: &str,
        digest: &str,
        platform: &str,
    ) -> Result<usize, RegistryError> {
        let mut manifest = self.get_manifest(from, digest).await?;
        if super::is_index(&manifest.media_type) {
            let child = manifest.document().ok().and_then(|index| {
                index.manifests.into_iter().find(|child| {
                    child
                        .platform
                        .as_ref()
                        .is_some_and(|p| crate::platform::matches(platform, &p.name()))
                })
            });
            let Some(child) = child else {
                return Ok(0);
            };
            manifest = self.get_manifest(from, &child.digest).await?;
        }
        let layers = manifest.document().map(|d| d.layers).unwrap_or_default();
        stream::iter(layers.iter().filter(|layer| layer.urls.is_empty()))
            .map(|layer| self.mount_blob(repository, &layer.digest, from))
            .buffer_unordered(MOUNT_CONCURRENCY)
            .try_fold(0, |linked, mounted| async move {
                Ok(linked + usize::from(mounted))
            })
            .await
    }

    /// Starts a blob download; the caller streams the body (and retries the blob if it breaks off).
    pub async fn get_blob(
        &self,
        repository: &str,
        digest: &str,
    ) -> Result<reqwest::Response, RegistryError> {
        self.stats.blob_gets.fetch_add(1, Ordering::Relaxed);
        self.send_streamed(
            Call {
                method: Method::GET,
                url: &self.url(repository, "blobs", digest),
                repository,
                access: Access::Pull,
                action: &format!("GET blob {digest}"),
            },
            HeaderMap::new(),
            &[StatusCode::OK],
        )
        .await
    }

    /// Downloads a small blob (an image config) into memory. The body is read within the retried
    /// request: one that breaks off or ends before `size` bytes is asked for again; one that is
    /// whole but hashes to another digest is refused.
    pub async fn get_blob_bytes(
        &self,
        repository: &str,
        digest: &str,
        size: u64,
    ) -> Result<Bytes, RegistryError> {
        self.stats.blob_gets.fetch_add(1, Ordering::Relaxed);
        self.send_with(
            Call {
                method: Method::GET,
                url: &self.url(repository, "blobs", digest),
                repository,
                access: Access::Pull,
                action: &format!("GET blob {digest}"),
            },
            HeaderMap::new(),
            None,
            &[StatusCode::OK],
            |answer| {
                let received = answer.body.len() as u64;
                if received < size {
                    return Err(Failure::Short {
                        received,
                        expected: size,
                    });
                }
                let actual = Digest::sha256_of(&answer.body);
                if actual.as_str() != digest {
                    return Err(Failure::ContentMismatch { actual });
                }
                Ok(answer.body)
            },
        )
        .await
    }

    /// The image config of `manifest` as JSON, following an index to its first manifest (what
    /// history, plan and refresh read labels and dates from). `None` when there is no config, or it
    /// is not JSON: such an image is not one baseimg can say anything about.
    pub async fn config_of(
        &self,
        repository: &str,
        manifest: &super::Manifest,
    ) -> Result<Option<serde_json::Value>, RegistryError> {
        let mut document = manifest.document().ok();
        if super::is_index(&manifest.media_type) {
            let Some(first) = document.and_then(|d| d.manifests.into_iter().next()) else {
                return Ok(None);
            };
            let child = self.get_manifest(repository, &first.digest).await?;
            document = child.document().ok();
        }
        let Some(config) = document.and_then(|d| d.config) else {
            return Ok(None);
        };
        let bytes = self
            .get_blob_bytes(repository, &config.digest, config.size)
            .await?;
        Ok(serde_json::from_slice(&bytes).ok())
    }

    /// Uploads a blob from a stream in one PUT (a monolithic upload): the registry checks the digest
    /// too and refuses a mismatch.
    pub async fn push_blob(
        &self,
        repository: &str,
        digest: &str,
        size: u64,
        body: reqwest::Body,
    ) -> Result<(), RegistryError> {
        self.stats.blob_puts.fetch_add(1, Ordering::Relaxed);
        let action = format!("PUT blob {digest}");
        let start = self
            .send(
                Call {
                    method: Method::POST,
                    url: &format!("{}/v2/{repository}/blobs/uploads/", self.base),
                    repository,
                    access: Access::Push,
                    action: &format!("start upload of {digest}"),
                },
                HeaderMap::new(),
                Some(Bytes::new()),
                &[StatusCode::ACCEPTED],
            )
            .await?;
        let location = self
            .location(&start.headers)
            .ok_or_else(|| self.error(repository, &action, Failure::NoUploadLocation))?;
        let separator = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{separator}digest={digest}");
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            "application/octet-stream".parse().expect("static"),
        );
        headers.insert(CONTENT_LENGTH, size.into());
        let response = self
            .send_once(
                Call {
                    method: Method::PUT,
                    url: &url,
                    repository,
                    access: Access::Push,
                    action: &action,
                },
                headers,
                Some(body),
            )
            .await?;
        if response.status() != StatusCode::CREATED {
            return Err(self.status_error(repository, &action, response).await);
        }
        Ok(())
    }

    /// Where an upload continues: registries answer with a path or a full URL.
    fn location(&self, headers: &HeaderMap) -> Option<String> {
        let location = headers.get(LOCATION)?.to_str().ok()?;
        Some(
            if location.starts_with("http://") || location.starts_with("https://") {
                location.to_string()
            } else {
                format!("{}{location}", self.base)
            },
        )
    }
}
