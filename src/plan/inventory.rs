//! What already exists, so a plan can tell work from a no-op: the [`Inventory`] a plan asks, a
//! [`Snapshot`] of the private registry looked up before planning, and [`Offline`] for planning from
//! files alone.
//!
//! Looking things up is kept apart from planning so the plan itself stays a pure function of the
//! catalog, the lock file and this inventory (and so tests can hand it any inventory they like).

use std::collections::HashMap;

use futures_util::{StreamExt, stream};
use indexmap::IndexMap;

use super::Pin;
use crate::catalog::{Catalog, Image};
use crate::fingerprint::{self, Fingerprint};
use crate::reference::Digest;
use crate::registry::{Client, Clients, RegistryError};

/// What exists already, so a plan can tell work from no-op. `None` means "not consulted".
pub trait Inventory {
    /// Whether the private registry holds this mirror digest.
    fn has_mirror(&self, image: &Image, digest: &Digest) -> Option<bool>;
    /// Whether an image with this fingerprint has been built (and pushed).
    fn has_build(&self, image: &Image, fingerprint: &Fingerprint) -> Option<bool>;
    /// The fingerprint the image's moving tag carries now, if any.
    fn current_fingerprint(&self, image: &Image) -> Option<Fingerprint>;
}

/// What the private registry holds, looked up before planning ([`Snapshot::look_up`]).
#[derive(Debug, Default)]
pub struct Snapshot {
    pub mirrors: HashMap<String, bool>,
    pub builds: HashMap<String, bool>,
    pub previous: HashMap<String, Fingerprint>,
}

impl Inventory for Snapshot {
    fn has_mirror(&self, image: &Image, _: &Digest) -> Option<bool> {
        self.mirrors.get(&image.name).copied()
    }
    fn has_build(&self, image: &Image, _: &Fingerprint) -> Option<bool> {
        self.builds.get(&image.name).copied()
    }
    fn current_fingerprint(&self, image: &Image) -> Option<Fingerprint> {
        self.previous.get(&image.name).cloned()
    }
}

/// An inventory that knows nothing: the plan then shows the work that may be needed.
pub struct Offline;

impl Inventory for Offline {
    fn has_mirror(&self, _: &Image, _: &Digest) -> Option<bool> {
        None
    }
    fn has_build(&self, _: &Image, _: &Fingerprint) -> Option<bool> {
        None
    }
    fn current_fingerprint(&self, _: &Image) -> Option<Fingerprint> {
        None
    }
}

/// What one image's lookup found: whether its mirror digest or its fingerprint is in the registry,
/// and the fingerprint its first moving tag carries now.
#[derive(Default)]
struct Found {
    mirror: Option<bool>,
    build: Option<bool>,
    previous: Option<Fingerprint>,
}

impl Snapshot {
    /// Looks up, in the private registry, what a plan needs to know: which mirrors are there, which
    /// fingerprints are built, and which fingerprint each image's first moving tag carries now.
    /// Private registry only (HEAD requests, and a manifest and config read for a moving tag whose
    /// fingerprint changed): planning never spends upstream's pull budget.
    pub async fn look_up(
        catalog: &Catalog,
        pins: &IndexMap<String, Pin>,
        clients: &Clients,
        jobs: usize,
    ) -> Result<Snapshot, RegistryError> {
        let results: Vec<(String, Result<Found, RegistryError>)> = stream::iter(pins.iter())
            .map(|(name, pin)| async move {
                let image = &catalog.images[name];
                (
                    name.clone(),
                    look_up_one(catalog, clients, image, pin).await,
                )
            })
            .buffered(jobs.max(1) * 2)
            .collect()
            .await;
        let mut snapshot = Snapshot::default();
        for (name, result) in results {
            // The first failure stands for all: they are about the same registry.
            let found = result?;
            if let Some(present) = found.mirror {
                snapshot.mirrors.insert(name.clone(), present);
            }
            if let Some(present) = found.build {
                snapshot.builds.insert(name.clone(), present);
            }
            if let Some(previous) = found.previous {
                snapshot.previous.insert(name, previous);
            }
        }
        Ok(snapshot)
    }
}

async fn look_up_one(
    catalog: &Catalog,
    clients: &Clients,
    image: &Image,
    pin: &Pin,
) -> Result<Found, RegistryError> {
    let (host, repository) = catalog.private_location(image);
    let client = clients.get(&host);
    match pin {
        Pin::Mirror { digest, .. } => {
            let found = client.head_manifest(&repository, digest.as_str()).await?;
            Ok(Found {
                mirror: Some(found.is_some()),
                ..Found::default()
            })
        }
        Pin::Built(built) => {
            let found = client
                .head_manifest(&repository, &built.immutable_tag)
                .await?;
            let mut previous = None;
            let moving = image.as_build().and_then(|b| b.tags.first());
            if found.is_none()
                && let Some(tag) = moving
            {
                previous = current_fingerprint(&client, &repository, tag).await?;
            }
            Ok(Found {
                build: Some(found.is_some()),
                previous,
                ..Found::default()
            })
        }
        Pin::Unpinned { .. } => Ok(Found::default()),
    }
}

/// The fingerprint label of the image a moving tag points at (manifest, then config blob). An image
/// that is not baseimg's (no label, a config that is not JSON) has none.
async fn current_fingerprint(
    client: &Client,
    repository: &str,
    tag: &str,
) -> Result<Option<Fingerprint>, RegistryError> {
    if client.head_manifest(repository, tag).await?.is_none() {
        return Ok(None);
    }
    let manifest = client.get_manifest(repository, tag).await?;
    let Some(config) = client.config_of(repository, &manifest).await? else {
        return Ok(None);
    };
    let label = config["config"]["Labels"][fingerprint::LABEL]
        .as_str()
        .unwrap_or_default();
    Ok(Fingerprint::from_hex(label))
}
