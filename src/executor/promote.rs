//! Promotion: moving the catalog's moving tags (`7.2`, `latest`) to this run's images, only once every
//! image of the run succeeded, so a failed run never leaves a tag on a half-finished set.

use futures_util::{StreamExt, stream};
use indexmap::IndexMap;
use serde::Serialize;

use super::journal::{Journal, intent};
use super::{BuildError, Builder, Node, NodeResult};
use crate::plan::{BuiltPin, Pin};
use crate::schedule::Ended;

/// An image whose moving tags now point at this run's build.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct Promoted {
    pub image: String,
    pub tags: Vec<String>,
    /// Where the first tag that moved pointed before (none for a tag that is new).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<crate::reference::Digest>,
}

impl Builder<'_> {
    /// Moves the moving tags of every built image of `outcomes`. A tag already on the right digest
    /// costs one HEAD; images are promoted concurrently. Returns the images whose tags moved.
    pub(crate) async fn promote<E>(
        &self,
        outcomes: &IndexMap<String, Ended<Node, E>>,
    ) -> Result<Vec<Promoted>, BuildError> {
        let work: Vec<(&String, &Node, &BuiltPin)> = outcomes
            .iter()
            .filter_map(
                |(name, outcome)| match (outcome.value(), &self.pins[name]) {
                    (Some(node), Pin::Built(built)) => Some((name, node, built.as_ref())),
                    _ => None,
                },
            )
            .collect();
        // The intent goes to disk before the first tag moves, so a run killed half-way is
        // completed by the next one rather than leaving tags on a mix of releases.
        let state = crate::fsutil::state_dir(self.catalog.root_dir()).map_err(|source| {
            BuildError::Journal {
                path: self.catalog.root_dir().join(".baseimg"),
                source,
            }
        })?;
        if self.push {
            self.journal(&work)
                .begin(&state)
                .map_err(|source| BuildError::Journal {
                    path: Journal::path(&state),
                    source,
                })?;
        }
        let results: Vec<Result<Option<Promoted>, BuildError>> = stream::iter(work)
            .map(|(name, node, built)| self.promote_one(name, node, built))
            .buffered(8)
            .collect()
            .await;
        let mut promoted = Vec::new();
        for result in results {
            promoted.extend(result?);
        }
        Journal::end(&state).map_err(|source| BuildError::Journal {
            path: Journal::path(&state),
            source,
        })?;
        Ok(promoted)
    }

    /// Every moving tag of `work` and the digest it is to point at.
    fn journal(&self, work: &[(&String, &Node, &BuiltPin)]) -> Journal {
        let mut tags = Vec::new();
        for (name, node, _) in work {
            let image = &self.catalog.images[name.as_str()];
            let (host, repository) = self.catalog.private_location(image);
            if let Some(digest) = &node.digest {
                for tag in &image.as_build().expect("built").tags {
                    tags.push(intent(&host, &repository, tag, digest));
                }
            }
        }
        Journal {
            run: self.run_id.clone(),
            started: crate::clock::now_rfc3339(),
            tags,
        }
    }

    async fn promote_one(
        &self,
        name: &str,
        node: &Node,
        built: &BuiltPin,
    ) -> Result<Option<Promoted>, BuildError> {
        let image = &self.catalog.images[name];
        let _promoting = self.timeline.start(name, crate::timeline::Phase::Promote);
        let tags = &image.as_build().expect("built").tags;
        let mut previous = None;
        let (host, repository) = self.catalog.private_location(image);
        let daemon = &self.pool.member(node.builder.as_deref()).daemon;
        if !self.push {
            self.tag_locally(daemon, &built.reference, &host, &repository, tags)
                .await?;
        } else {
            let client = self.clients.get(&host);
            let mut manifest = None;
            let mut moved = false;
            for tag in tags {
                let current = client.head_manifest(&repository, tag).await?;
                let already =
                    matches!((&current, &node.digest), (Some((c, _, _)), Some(d)) if c == d);
                if already {
                    continue;
                }
                if previous.is_none() {
                    previous = current.map(|(digest, _, _)| digest);
                }
                if manifest.is_none() {
                    // By digest: exactly the image this run's children were built on, even if
                    // another run pushed the same fingerprint (another `created`) meanwhile.
                    let reference = node
                        .digest
                        .as_ref()
                        .map(|d| d.to_string())
                        .unwrap_or_else(|| built.immutable_tag.clone());
                    manifest = Some(client.get_manifest(&repository, &reference).await?);
                }
                let manifest = manifest.as_ref().expect("fetched above");
                client.put_manifest(&repository, tag, manifest).await?;
                moved = true;
            }
            // The daemon that built the image still has the previous release under the moving
            // tags (`docker run …/postgres:15` here would start it): re-point them at what this
            // run built. Only images built here, present under their immutable tag; nothing is
            // pulled (an image found up to date keeps its local tags, `docker pull` refreshes them).
            // A daemon that stopped answering since it built the image keeps its old tags.
            if node.result == NodeResult::Built
                && matches!(daemon.inspect(&built.reference).await, Ok(Some(_)))
            {
                self.tag_locally(daemon, &built.reference, &host, &repository, tags)
                    .await?;
            }
            if !moved {
                return Ok(None);
            }
        }
        Ok(Some(Promoted {
            image: name.to_string(),
            tags: tags.clone(),
            previous,
        }))
    }

    /// Points `tags` of `host/repository` in the local daemon at `image`.
    async fn tag_locally(
        &self,
        daemon: &crate::docker::Daemon,
        image: &str,
        host: &str,
        repository: &str,
        tags: &[String],
    ) -> Result<(), BuildError> {
        for tag in tags {
            daemon
                .tag(image, &format!("{host}/{repository}"), tag)
                .await?;
        }
        Ok(())
    }
}
