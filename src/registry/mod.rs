//! An OCI distribution client: just the requests baseimg needs, with the control the general-purpose
//! crates do not give (real HEAD requests, response headers, byte-exact manifests, streamed blobs,
//! cross-repository mounts, retries that honour `Retry-After`).
//!
//! Built on reqwest, and split by idea so each part can be read alone: how a request goes out and is
//! retried (`client`), how a registry's challenge is answered (`auth`), manifests and indexes
//! (`manifest`), blobs (`blob`), what registries say about pacing and what baseimg counts
//! (`rate_limit`), and what can fail (`error`). This file holds [`Clients`], the one entry point the
//! rest of baseimg uses, and names what the submodules offer outside.
//!
//! Credentials come from [`crate::credentials`] and never leave this module except in the
//! `Authorization` header; no error, log line or report contains them.

mod auth;
mod blob;
mod cache;

use cache::ManifestCache;
mod client;
mod document;
mod error;
mod manifest;
mod rate_limit;
mod tags;

use std::collections::HashMap;
use std::sync::Arc;

use backon::ExponentialBuilder;

use crate::events::Events;

// The client takes one; re-exported so code that builds a `Client` needs one import.
pub use crate::credentials::Credential;
pub use client::{Access, Client, api_host, is_plain_http};
pub use document::{
    Descriptor, IndexError, InvalidManifest, MEDIA_DOCKER_LIST, MEDIA_DOCKER_MANIFEST,
    MEDIA_OCI_INDEX, MEDIA_OCI_MANIFEST, Manifest, ManifestDocument, Platform, filter_index,
    is_index,
};
pub use error::{AuthFailure, Failure, RegistryError};
pub use rate_limit::{RateLimit, Stats};

/// One client per registry host, created on first use with that host's credentials, so tokens and
/// connections are shared by everything a run does there.
pub struct Clients {
    insecure: Vec<String>,
    clients: std::sync::Mutex<HashMap<String, Arc<Client>>>,
    retry: Option<ExponentialBuilder>,
    cache: Option<ManifestCache>,
    /// Where a problem met looking up credentials goes.
    events: Events,
}

impl Clients {
    pub fn new(insecure: &[String], events: &Events) -> Clients {
        Clients {
            insecure: insecure.to_vec(),
            clients: std::sync::Mutex::new(HashMap::new()),
            retry: None,
            cache: None,
            events: events.clone(),
        }
    }

    /// Keeps manifests fetched by digest under `root/.baseimg/cache/` (a catalog's directory) and
    /// reads them from there first.
    pub fn with_cache(mut self, root: std::path::PathBuf) -> Clients {
        self.cache = Some(ManifestCache::new(root));
        self
    }

    /// Shorter retry delays, for tests that inject faults on purpose.
    pub fn with_retry(mut self, retry: ExponentialBuilder) -> Clients {
        self.retry = Some(retry);
        self
    }

    pub fn get(&self, registry: &str) -> Arc<Client> {
        let mut clients = self.clients.lock().expect("not poisoned");
        clients
            .entry(registry.to_string())
            .or_insert_with(|| {
                let credential = crate::credentials::for_registry(registry, &self.events);
                let mut client = Client::new(registry, &self.insecure, credential);
                client.cache = self.cache.clone();
                Arc::new(match self.retry {
                    Some(retry) => client.with_retry(retry),
                    None => client,
                })
            })
            .clone()
    }

    /// Requests made to one registry so far (zero if it was never contacted).
    pub fn requests(&self, registry: &str) -> u64 {
        self.clients
            .lock()
            .expect("not poisoned")
            .get(registry)
            .map(|c| c.stats.requests())
            .unwrap_or(0)
    }

    pub fn all(&self) -> Vec<Arc<Client>> {
        self.clients
            .lock()
            .expect("not poisoned")
            .values()
            .cloned()
            .collect()
    }
}

/// A registry's pull budget as it last reported it (Docker Hub: `RateLimit-Remaining`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Budget {
    pub registry: String,
    pub remaining: u64,
    pub limit: Option<u64>,
}

impl Budget {
    /// Every registry of this run that reported a budget, by name.
    pub fn of(clients: &crate::registry::Clients) -> Vec<Budget> {
        let mut budgets: Vec<Budget> = clients
            .all()
            .iter()
            .filter_map(|client| {
                client.rate_limit().map(|limit| Budget {
                    registry: client.registry().to_string(),
                    remaining: limit.remaining,
                    limit: limit.limit,
                })
            })
            .collect();
        budgets.sort_by(|a, b| a.registry.cmp(&b.registry));
        budgets
    }
}
