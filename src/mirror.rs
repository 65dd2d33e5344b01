//! Mirroring: copying locked upstream digests into the private registry, byte for byte.
//!
//! Manifests are copied as the exact bytes upstream served (so digests stay equal); blobs are checked
//! with HEAD first, mounted from another repository of the private registry when baseimg has seen them
//! there (or waited for and then mounted, when another image is copying the same blob at that moment),
//! and otherwise streamed from upstream to the private registry without being held in memory,
//! their content hashed on the way and refused if it does not match the digest. A blob that breaks
//! off or arrives short (fewer bytes than its size) is a broken transfer and copied again; one whose
//! bytes all came and hash wrong is asked for once more, then refused. Manifests are pushed
//! only after every blob they need is in place, so a failed copy never leaves a visible broken image.
//! When the private registry already has the locked digest, nothing is asked of upstream. A whole
//! run over the selected mirrors (what the private registry lacks, the pull budget, the report) is
//! [`pipeline`].

pub(crate) mod pipeline;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use backon::{ExponentialBuilder, Retryable};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt, stream};
use sha2::{Digest as _, Sha256};
use tokio::sync::Mutex;

use crate::catalog::{Catalog, Image};
use crate::diagnostic::Code;
use crate::events::Task;
use crate::failure::Advice;
use crate::lock::LockEntry;
use crate::reference::{Digest, ReferenceError};
use crate::registry::{
    Client, Clients, IndexError, InvalidManifest, Manifest, RegistryError, filter_index, is_index,
};

/// How long a blob download may stay silent before it counts as broken off.
const IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// How many blobs of one image move at the same time.
const BLOB_CONCURRENCY: usize = 4;

#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Copied {
    pub manifests: usize,
    pub blobs_copied: usize,
    pub blobs_mounted: usize,
    pub blobs_present: usize,
    pub bytes: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub(crate) enum Mirrored {
    /// The private registry had the digest already; only its tags were checked.
    Present {
        retagged: usize,
    },
    Copied(Copied),
}

/// Why one image could not be mirrored. Nothing of the image is published when any of these happens.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MirrorError {
    /// Boxed: a registry error carries the whole request's context, and this enum travels in every
    /// `Result` of the mirror.
    #[error(transparent)]
    Registry(Box<RegistryError>),
    /// A blob's bytes all came (or more), and did not hash to its digest: upstream served something
    /// else than it promised, on every attempt.
    #[error(
        "blob {digest} hashes to {actual} ({}); refused it after {}, and nothing of this image was published",
        arrived(*.received, *.size),
        attempts_text(*.attempts)
    )]
    Corrupt {
        digest: String,
        actual: String,
        /// How many bytes came.
        received: u64,
        /// The size the manifest gives the blob.
        size: u64,
        attempts: u64,
    },
    /// Fewer bytes came than the blob's size, on every attempt: the transfer kept breaking off.
    #[error(
        "blob {digest} arrived short: {received} of {} ({}gave up after {}); nothing of this image was published",
        bytes(*.size),
        .cause.as_ref().map(|cause| format!("{cause}; ")).unwrap_or_default(),
        attempts_text(*.attempts)
    )]
    Short {
        digest: String,
        received: u64,
        size: u64,
        /// Why the body ended, when it did not end cleanly (`the response broke off: …`).
        cause: Option<String>,
        attempts: u64,
    },
    #[error(transparent)]
    Manifest(#[from] InvalidManifest),
    /// A manifest refers to content by a digest baseimg cannot verify.
    #[error(transparent)]
    Digest(#[from] ReferenceError),
    #[error(transparent)]
    Platforms(#[from] IndexError),
    /// Upstream's index, filtered to the catalog's platforms, is not what the lock file pinned.
    #[error(
        "the filtered index hashes to {actual}, the lock file expects {expected}; run `baseimg update {image}`"
    )]
    StaleLock {
        actual: Digest,
        expected: Digest,
        image: String,
    },
}

impl From<RegistryError> for MirrorError {
    fn from(error: RegistryError) -> Self {
        MirrorError::Registry(Box::new(error))
    }
}

/// `all 4194304 bytes arrived`, or how many more than the size came.
fn arrived(received: u64, size: u64) -> String {
    if received == size {
        format!("all {} arrived", bytes(size))
    } else {
        format!("{} arrived, more than its {size}", bytes(received))
    }
}

fn attempts_text(n: u64) -> String {
    crate::text::count(n as usize, "attempt", "attempts")
}

fn bytes(n: u64) -> String {
    crate::text::count(n as usize, "byte", "bytes")
}

impl Advice for MirrorError {
    fn code(&self) -> Code {
        match self {
            MirrorError::Registry(error) => error.code(),
            MirrorError::Corrupt { .. } => Code::MirrorCorruptBlob,
            MirrorError::Short { .. } => Code::MirrorShortBlob,
            _ => Code::MirrorFailed,
        }
    }

    fn advice(&self) -> Option<String> {
        match self {
            MirrorError::Registry(error) => error.advice(),
            MirrorError::Corrupt { .. } => Some(
                "upstream served the same wrong bytes on every attempt; if `baseimg mirror` meets them again later, the blob is damaged upstream"
                    .into(),
            ),
            MirrorError::Short { .. } => Some(
                "the download kept breaking off: run `baseimg mirror` again later (blobs already copied are kept)"
                    .into(),
            ),
            _ => None,
        }
    }
}

impl MirrorError {
    /// Whether copying the blob again may help: a broken transfer, or a registry error that may
    /// pass. (Wrong content gets one more try, counted by the caller.)
    fn is_transient(&self) -> bool {
        match self {
            MirrorError::Registry(error) => error.is_transient(),
            MirrorError::Short { .. } => true,
            _ => false,
        }
    }

    /// Records how many attempts a blob copy made, for the messages that say it.
    fn after(mut self, made: u64) -> MirrorError {
        if let MirrorError::Corrupt { attempts, .. } | MirrorError::Short { attempts, .. } =
            &mut self
        {
            *attempts = made;
        }
        self
    }
}

/// How many times a blob whose bytes all came but hash wrong is fetched before it is refused: once
/// more, in case it was damaged on the way.
const WRONG_CONTENT_ATTEMPTS: u64 = 2;

/// Blobs in the private registry during this run, shared by the images mirrored at the same time.
///
/// Each digest has a slot naming a repository that holds it. Whoever copies a blob holds its slot's
/// lock for the whole copy, so another image that needs the same blob (the Debian base layer under
/// Python, Redis and Postgres) waits for that copy and then mounts it: a shared layer crosses the
/// wire once, however many images are mirrored at once.
#[derive(Default)]
pub(crate) struct KnownBlobs(std::sync::Mutex<HashMap<String, Slot>>);

type Slot = Arc<Mutex<Option<String>>>;

impl KnownBlobs {
    fn slot(&self, digest: &str) -> Slot {
        self.0
            .lock()
            .expect("not poisoned")
            .entry(digest.to_string())
            .or_default()
            .clone()
    }
}

pub(crate) struct Mirror<'a> {
    pub catalog: &'a Catalog,
    pub clients: &'a Clients,
    pub known: &'a KnownBlobs,
    pub retry: ExponentialBuilder,
}

/// The tags a mirrored image carries in the private registry: the upstream tag, and an immutable
/// keep-alive tag naming the digest, so garbage collection or a re-pointed tag never breaks a pin.
pub(crate) fn mirror_tags(image: &Image, digest: &Digest) -> Vec<String> {
    let tag = image.as_mirror().and_then(|m| m.upstream.tag.clone());
    match tag {
        Some(tag) => vec![tag.clone(), format!("{tag}-{}", digest.short())],
        None => vec![format!("pinned-{}", digest.short())],
    }
}

impl Mirror<'_> {
    /// Whether the private registry already holds the locked digest (one HEAD, nothing upstream).
    pub(crate) async fn is_present(
        &self,
        image: &Image,
        entry: &LockEntry,
    ) -> Result<bool, MirrorError> {
        let (host, repository) = self.catalog.private_location(image);
        let private = self.clients.get(&host);
        Ok(private
            .head_manifest(&repository, entry.mirror_digest().as_str())
            .await?
            .is_some())
    }

    /// Copies one locked image, or only checks its tags when `present` (from [`Mirror::is_present`])
    /// says the private registry has it: then upstream is not contacted at all.
    pub(crate) async fn copy(
        &self,
        image: &Image,
        entry: &LockEntry,
        present: bool,
        task: &Task,
    ) -> Result<Mirrored, MirrorError> {
        let (host, repository) = self.catalog.private_location(image);
        let private = self.clients.get(&host);
        let mirror_digest = entry.mirror_digest().clone();
        let tags = mirror_tags(image, &mirror_digest);

        if present {
            task.step("checking tags");
            let retagged = self
                .ensure_tags(&private, &repository, &mirror_digest, &tags, None)
                .await?;
            return Ok(Mirrored::Present { retagged });
        }

        let upstream = self.clients.get(&entry.source.registry);
        let route = Route {
            upstream: &upstream,
            source: &entry.source.repository,
            private: &private,
            repository: &repository,
        };
        task.step("fetching the manifest");
        let top = upstream
            .get_manifest(route.source, entry.digest.as_str())
            .await?;
        let mut copied = Copied {
            manifests: 0,
            blobs_copied: 0,
            blobs_mounted: 0,
            blobs_present: 0,
            bytes: 0,
        };
        let top = if is_index(&top.media_type) {
            self.copy_platforms(&route, image, &top, task, &mut copied)
                .await?;
            kept_index(image, top, &mirror_digest)?
        } else {
            self.copy_blobs(&route, &top, task, &mut copied).await?;
            top
        };
        task.step("publishing");
        private
            .put_manifest(&repository, top.digest.as_str(), &top)
            .await?;
        copied.manifests += 1;
        self.ensure_tags(&private, &repository, &mirror_digest, &tags, Some(&top))
            .await?;
        Ok(Mirrored::Copied(copied))
    }

    /// Copies the platform manifests of an index that the catalog keeps (all, without a filter) and
    /// the private registry lacks, each with its blobs.
    async fn copy_platforms(
        &self,
        route: &Route<'_>,
        image: &Image,
        index: &Manifest,
        task: &Task,
        copied: &mut Copied,
    ) -> Result<(), MirrorError> {
        let document = index.document()?;
        for child in &document.manifests {
            // Every digest that is followed is checked to be one baseimg can verify.
            Digest::parse(&child.digest)?;
            let platform = child
                .platform
                .as_ref()
                .map(|p| p.name())
                .unwrap_or_default();
            if !image.platforms.is_empty() && !crate::platform::keeps(&image.platforms, &platform) {
                continue;
            }
            if route
                .private
                .head_manifest(route.repository, &child.digest)
                .await?
                .is_some()
            {
                continue;
            }
            task.step(&format!("copying {platform}"));
            let manifest = route
                .upstream
                .get_manifest(route.source, &child.digest)
                .await?;
            self.copy_blobs(route, &manifest, task, copied).await?;
            route
                .private
                .put_manifest(route.repository, &child.digest, &manifest)
                .await?;
            copied.manifests += 1;
        }
        Ok(())
    }

    /// Points each tag at the digest, re-putting the manifest only where a tag is missing or elsewhere.
    async fn ensure_tags(
        &self,
        private: &Client,
        repository: &str,
        digest: &Digest,
        tags: &[String],
        manifest: Option<&Manifest>,
    ) -> Result<usize, MirrorError> {
        let mut manifest = manifest.cloned();
        let mut retagged = 0;
        for tag in tags {
            let current = private.head_manifest(repository, tag).await?;
            if current.as_ref().is_some_and(|(d, _, _)| d == digest) {
                continue;
            }
            if manifest.is_none() {
                manifest = Some(private.get_manifest(repository, digest.as_str()).await?);
            }
            private
                .put_manifest(repository, tag, manifest.as_ref().expect("just fetched"))
                .await?;
            retagged += 1;
        }
        Ok(retagged)
    }

    async fn copy_blobs(
        &self,
        route: &Route<'_>,
        manifest: &Manifest,
        task: &Task,
        copied: &mut Copied,
    ) -> Result<(), MirrorError> {
        let document = manifest.document()?;
        let blobs: Vec<_> = document
            .config
            .iter()
            .chain(document.layers.iter())
            .filter(|d| d.urls.is_empty())
            .cloned()
            .collect();
        for blob in &blobs {
            Digest::parse(&blob.digest)?;
        }
        let results: Vec<BlobResult> = stream::iter(blobs)
            .map(|blob| async move { self.copy_blob(route, &blob.digest, blob.size, task).await })
            .buffer_unordered(BLOB_CONCURRENCY)
            .try_collect()
            .await?;
        for result in results {
            match result {
                BlobResult::Present => copied.blobs_present += 1,
                BlobResult::Mounted => copied.blobs_mounted += 1,
                BlobResult::Copied(bytes) => {
                    copied.blobs_copied += 1;
                    copied.bytes += bytes;
                }
            }
        }
        Ok(())
    }

    async fn copy_blob(
        &self,
        route: &Route<'_>,
        digest: &str,
        size: u64,
        task: &Task,
    ) -> Result<BlobResult, MirrorError> {
        let Route {
            private,
            repository,
            ..
        } = *route;
        let slot = self.known.slot(digest);
        let mut holder = match slot.try_lock() {
            Ok(holder) => holder,
            Err(_) => {
                task.step("waiting for a layer another image is copying");
                slot.lock().await
            }
        };
        if private.has_blob(repository, digest).await? {
            holder.get_or_insert_with(|| repository.to_string());
            return Ok(BlobResult::Present);
        }
        // A mount is an optimization: if the registry refuses it for any reason, upload instead.
        if let Some(from) = holder.clone()
            && from != repository
            && private
                .mount_blob(repository, digest, &from)
                .await
                .unwrap_or(false)
        {
            return Ok(BlobResult::Mounted);
        }
        let (made, wrong) = (AtomicU64::new(0), AtomicU64::new(0));
        let attempt = || async {
            made.fetch_add(1, Ordering::Relaxed);
            let copied = self.stream_blob(route, digest, size, task).await;
            if let Err(MirrorError::Corrupt { .. }) = copied {
                wrong.fetch_add(1, Ordering::Relaxed);
            }
            copied
        };
        attempt
            .retry(self.retry)
            .sleep(tokio::time::sleep)
            .when(|error| match error {
                MirrorError::Corrupt { .. } => {
                    wrong.load(Ordering::Relaxed) < WRONG_CONTENT_ATTEMPTS
                }
                error => error.is_transient(),
            })
            .notify(|_, _| {
                private.stats.retries.fetch_add(1, Ordering::Relaxed);
            })
            .await
            .map_err(|error| error.after(made.load(Ordering::Relaxed)))?;
        *holder = Some(repository.to_string());
        Ok(BlobResult::Copied(size))
    }

    /// Streams one blob upstream → private, hashing on the way. A body that breaks off, ends short,
    /// runs long or hashes wrong ends the upload with an error before its last byte, so the registry
    /// never commits the blob; the error says which of these it was.
    async fn stream_blob(
        &self,
        route: &Route<'_>,
        digest: &str,
        size: u64,
        task: &Task,
    ) -> Result<(), MirrorError> {
        let Route {
            upstream,
            source,
            private,
            repository,
        } = *route;
        let response = upstream.get_blob(source, digest).await?;
        let verdict: Arc<std::sync::Mutex<Option<Verdict>>> = Arc::default();
        let (expected, found, task, stats) = (
            digest.to_string(),
            verdict.clone(),
            task.clone(),
            private.stats.clone(),
        );
        let mut hasher = Sha256::new();
        let (mut seen, mut verified) = (0u64, false);
        // Chunks as `Some`, then one `None` that marks the end.
        let chunks = idle_guarded(response)
            .map_ok(Some)
            .chain(stream::once(async { Ok(None) }));
        let body = chunks.map(move |item| -> Result<Bytes, BoxError> {
            let refuse = |verdict: Verdict| -> BoxError {
                let message = format!("blob {expected}: {verdict:?}");
                *found.lock().expect("not poisoned") = Some(verdict);
                message.into()
            };
            let hashed =
                |hasher: &Sha256| format!("sha256:{}", hex::encode(hasher.clone().finalize()));
            match item {
                Err(error) => Err(refuse(Verdict::Short {
                    received: seen,
                    cause: Some(broke_off(&*error)),
                })),
                Ok(Some(chunk)) => {
                    seen += chunk.len() as u64;
                    hasher.update(&chunk);
                    // The chunk that completes the blob is only passed on once the whole blob is
                    // verified: the registry must never receive a complete, wrong blob. Bytes past
                    // the size are wrong whatever they are.
                    if seen >= size {
                        let actual = hashed(&hasher);
                        if seen > size || actual != expected {
                            return Err(refuse(Verdict::Wrong {
                                actual,
                                received: seen,
                            }));
                        }
                        verified = true;
                    }
                    stats
                        .bytes_copied
                        .fetch_add(chunk.len() as u64, Ordering::Relaxed);
                    task.add_bytes(chunk.len() as u64);
                    Ok(chunk)
                }
                // Ended before the size: a broken transfer, however cleanly it ended.
                Ok(None) if seen < size => Err(refuse(Verdict::Short {
                    received: seen,
                    cause: None,
                })),
                // An empty blob has no chunk to check it with.
                Ok(None) if !verified && hashed(&hasher) != expected => {
                    Err(refuse(Verdict::Wrong {
                        actual: hashed(&hasher),
                        received: seen,
                    }))
                }
                Ok(None) => Ok(Bytes::new()),
            }
        });
        let pushed = private
            .push_blob(repository, digest, size, reqwest::Body::wrap_stream(body))
            .await;
        if let Some(verdict) = verdict.lock().expect("not poisoned").take() {
            let digest = digest.to_string();
            return Err(match verdict {
                Verdict::Short { received, cause } => MirrorError::Short {
                    digest,
                    received,
                    size,
                    cause,
                    attempts: 1,
                },
                Verdict::Wrong { actual, received } => MirrorError::Corrupt {
                    digest,
                    actual,
                    received,
                    size,
                    attempts: 1,
                },
            });
        }
        pushed.map_err(MirrorError::from)
    }
}

/// Where one image's content moves: from a repository upstream to one in the private registry.
#[derive(Clone, Copy)]
struct Route<'r> {
    upstream: &'r Client,
    source: &'r str,
    private: &'r Client,
    repository: &'r str,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What was wrong with a blob's body, found while streaming it.
#[derive(Debug)]
enum Verdict {
    /// It ended (cleanly, or broken off with `cause`) after `received` of its bytes.
    Short {
        received: u64,
        cause: Option<String>,
    },
    /// `received` bytes, all of them or more, hashing to `actual`.
    Wrong { actual: String, received: u64 },
}

/// Why a download broke off, in its innermost cause's words (`connection reset by peer`).
fn broke_off(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    format!("the response broke off: {cause}")
}

/// A blob download's body, failing when upstream goes silent: a transfer may take minutes, but a
/// minute without a byte is a broken transfer (and retried as one).
fn idle_guarded(
    response: reqwest::Response,
) -> impl futures_util::Stream<Item = Result<Bytes, BoxError>> {
    stream::unfold(Box::pin(response.bytes_stream()), |mut body| async move {
        match tokio::time::timeout(IDLE_TIMEOUT, body.next()).await {
            Ok(Some(item)) => Some((item.map_err(BoxError::from), body)),
            Ok(None) => None,
            Err(_) => Some((Err(BoxError::from("upstream sent nothing for 60 s")), body)),
        }
    })
}

/// The index published for a mirror: upstream's own, or, when the catalog keeps only some platforms,
/// the filtered one, which must be the one the lock file pinned.
fn kept_index(image: &Image, index: Manifest, locked: &Digest) -> Result<Manifest, MirrorError> {
    if image.platforms.is_empty() {
        return Ok(index);
    }
    let bytes = filter_index(&index.bytes, &image.platforms)?;
    let digest = Digest::sha256_of(&bytes);
    if &digest != locked {
        return Err(MirrorError::StaleLock {
            actual: digest,
            expected: locked.clone(),
            image: image.name.clone(),
        });
    }
    Ok(Manifest {
        bytes,
        media_type: index.media_type,
        digest,
    })
}

enum BlobResult {
    Present,
    Mounted,
    Copied(u64),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::Advice;

    #[test]
    fn blob_errors_say_whether_bytes_were_missing_or_wrong_and_the_sizes() {
        let short = MirrorError::Short {
            digest: "sha256:aa".into(),
            received: 1048576,
            size: 4194304,
            cause: None,
            attempts: 7,
        };
        assert_eq!(
            short.to_string(),
            "blob sha256:aa arrived short: 1048576 of 4194304 bytes (gave up after 7 attempts); nothing of this image was published"
        );
        assert!(short.is_transient());
        let broken = MirrorError::Short {
            digest: "sha256:aa".into(),
            received: 1048576,
            size: 4194304,
            cause: Some("the response broke off: connection reset by peer".into()),
            attempts: 7,
        };
        assert_eq!(
            broken.to_string(),
            "blob sha256:aa arrived short: 1048576 of 4194304 bytes (the response broke off: connection reset by peer; gave up after 7 attempts); nothing of this image was published"
        );
        let wrong = MirrorError::Corrupt {
            digest: "sha256:aa".into(),
            actual: "sha256:bb".into(),
            received: 4194304,
            size: 4194304,
            attempts: 1,
        };
        assert!(!wrong.is_transient());
        assert_eq!(
            wrong.after(2).to_string(),
            "blob sha256:aa hashes to sha256:bb (all 4194304 bytes arrived); refused it after 2 attempts, and nothing of this image was published"
        );
        let long = MirrorError::Corrupt {
            digest: "sha256:aa".into(),
            actual: "sha256:bb".into(),
            received: 4194305,
            size: 4194304,
            attempts: 2,
        };
        assert_eq!(
            long.to_string(),
            "blob sha256:aa hashes to sha256:bb (4194305 bytes arrived, more than its 4194304); refused it after 2 attempts, and nothing of this image was published"
        );
    }

    #[test]
    fn a_corrupt_blob_says_to_try_again() {
        let error = MirrorError::Corrupt {
            digest: "sha256:a".into(),
            actual: "sha256:b".into(),
            received: 4,
            size: 4,
            attempts: 2,
        };
        assert!(error.advice().unwrap().contains("baseimg mirror"));
        let error = MirrorError::Short {
            digest: "sha256:a".into(),
            received: 2,
            size: 4,
            cause: None,
            attempts: 7,
        };
        assert!(error.advice().unwrap().contains("baseimg mirror"));
    }
}
