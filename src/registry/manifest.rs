//! The requests that move manifests and image indexes: HEAD, GET (checked against the digest
//! asked for), PUT and DELETE. What a manifest is, and how an index is filtered, is in
//! [`super::document`].

use std::sync::atomic::Ordering;

use super::client::{Access, Answer, Call, Client};
use super::document::{Manifest, ManifestDocument};
use super::error::{Failure, RegistryError};
use crate::reference::Digest;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap};
use reqwest::{Method, StatusCode};

const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// A manifest from a GET's answer: its bytes, checked against the digest when it was asked for by
/// one, and its media type (from the document when the registry only says `application/json`).
fn manifest_of(answer: Answer, by_digest: Option<&Digest>) -> Result<Manifest, Failure> {
    let media_type = answer
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let bytes = answer.body;
    let digest = Digest::sha256_of(&bytes);
    if by_digest.is_some_and(|asked| asked != &digest) {
        return Err(Failure::ContentMismatch { actual: digest });
    }
    // Some registries serve every manifest as `application/json`; the document names its type.
    let media_type = if media_type.is_empty() || media_type == "application/json" {
        serde_json::from_slice::<ManifestDocument>(&bytes)
            .ok()
            .and_then(|d| d.media_type)
            .unwrap_or(media_type)
    } else {
        media_type
    };
    Ok(Manifest {
        bytes,
        media_type,
        digest,
    })
}

fn accept_manifests() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, MANIFEST_ACCEPT.parse().expect("static"));
    headers
}

impl Client {
    /// A HEAD or GET of a manifest, accepting every manifest type baseimg reads; `read` takes the
    /// answer apart inside the retried attempt.
    async fn read_manifest<T>(
        &self,
        method: Method,
        repository: &str,
        reference: &str,
        action: &str,
        expected: &[StatusCode],
        read: impl Fn(Answer) -> Result<T, Failure>,
    ) -> Result<T, RegistryError> {
        let call = Call {
            method,
            url: &self.url(repository, "manifests", reference),
            repository,
            access: Access::Pull,
            action,
        };
        self.send_with(call, accept_manifests(), None, expected, read)
            .await
    }

    /// HEAD of a manifest: its digest and media type, or `None` when the registry does not have it.
    /// A HEAD does not count against Docker Hub's pull limit.
    pub async fn head_manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Option<(Digest, String, u64)>, RegistryError> {
        self.stats.manifest_heads.fetch_add(1, Ordering::Relaxed);
        let action = format!("HEAD manifest {reference}");
        let answer = self
            .read_manifest(
                Method::HEAD,
                repository,
                reference,
                &action,
                &[StatusCode::OK, StatusCode::NOT_FOUND],
                Ok,
            )
            .await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let header = |name: &str| {
            answer
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let digest = header("docker-content-digest")
            .ok_or_else(|| self.error(repository, &action, Failure::NoDigestHeader))?;
        let digest = Digest::parse(&digest)
            .map_err(|e| self.error(repository, &action, Failure::BadDigestHeader(e)))?;
        let media_type = header("content-type").unwrap_or_default();
        let size = header("content-length")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Ok(Some((digest, media_type, size)))
    }

    /// GET of a manifest, byte for byte. When asked by digest, the bytes are checked against it.
    pub async fn get_manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Manifest, RegistryError> {
        let by_digest = Digest::parse(reference).ok();
        if let (Some(cache), Some(digest)) = (&self.cache, &by_digest)
            && let Some(kept) = cache.get(digest)
        {
            return Ok(kept);
        }
        self.stats.manifest_gets.fetch_add(1, Ordering::Relaxed);
        let action = format!("GET manifest {reference}");
        // The body is read and checked within each attempt: one that breaks off is asked for again.
        let manifest = self
            .read_manifest(
                Method::GET,
                repository,
                reference,
                &action,
                &[StatusCode::OK],
                |answer| manifest_of(answer, by_digest.as_ref()),
            )
            .await?;
        if let (Some(cache), Some(_)) = (&self.cache, &by_digest) {
            cache.put(&manifest);
        }
        Ok(manifest)
    }

    /// DELETE of a manifest by digest: the registry drops it and every tag pointing at it. A registry
    /// that does not allow deletes answers 405 (`UNSUPPORTED`), which comes back as that status.
    pub async fn delete_manifest(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<(), RegistryError> {
        let reference = digest.to_string();
        let call = Call {
            method: Method::DELETE,
            url: &self.url(repository, "manifests", &reference),
            repository,
            access: Access::Push,
            action: &format!("DELETE manifest {reference}"),
        };
        self.send(
            call,
            HeaderMap::new(),
            None,
            &[StatusCode::ACCEPTED, StatusCode::OK, StatusCode::NOT_FOUND],
        )
        .await?;
        Ok(())
    }

    /// PUT of a manifest under a tag or its digest, bytes unchanged so the digest stays the same.
    pub async fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        manifest: &Manifest,
    ) -> Result<(), RegistryError> {
        self.stats.manifest_puts.fetch_add(1, Ordering::Relaxed);
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            manifest
                .media_type
                .parse()
                .map_err(|_| self.error(repository, "PUT manifest", Failure::InvalidMediaType))?,
        );
        let answer = self
            .send(
                Call {
                    method: Method::PUT,
                    url: &self.url(repository, "manifests", reference),
                    repository,
                    access: Access::Push,
                    action: &format!("PUT manifest {reference}"),
                },
                headers,
                Some(manifest.bytes.clone()),
                &[StatusCode::CREATED, StatusCode::OK],
            )
            .await?;
        let stored = answer
            .headers
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok());
        if let Some(stored) = stored
            && stored != manifest.digest.as_str()
        {
            return Err(self.error(
                repository,
                "PUT manifest",
                Failure::StoredAs {
                    stored: stored.to_string(),
                    expected: manifest.digest.clone(),
                },
            ));
        }
        Ok(())
    }
}
