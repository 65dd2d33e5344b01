//! An OCI distribution client: just the requests baseimg needs, with the control the general-purpose
//! crates do not give (real HEAD requests, response headers, byte-exact manifests, streamed blobs,
//! cross-repository mounts, retries that honour `Retry-After`).
//!
//! Built on reqwest. Authentication follows the registry's challenge: anonymous first, then a Bearer
//! token from the realm it names (with credentials from [`crate::credentials`]) or Basic credentials.
//! Tokens are cached per scope. Credentials and tokens never leave this module except in the
//! `Authorization` header; no error, log line or report contains them.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use bytes::Bytes;
use reqwest::header::{
    ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, LOCATION, WWW_AUTHENTICATE,
};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::reference::Digest;

// The client takes one; re-exported so code that builds a `Client` needs one import.
pub use crate::credentials::Credential;

pub const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

pub fn is_index(media_type: &str) -> bool {
    media_type == MEDIA_OCI_INDEX || media_type == MEDIA_DOCKER_LIST
}

/// The host a registry name is served from: Docker Hub's API lives on `registry-1.docker.io`.
pub fn api_host(registry: &str) -> &str {
    if registry == crate::reference::DOCKER_HUB {
        "registry-1.docker.io"
    } else {
        registry
    }
}

/// Plain HTTP for loopback registries (as Docker does) and those the catalog lists as insecure.
pub fn is_plain_http(registry: &str, insecure: &[String]) -> bool {
    let host = registry
        .rsplit_once(':')
        .map(|(h, p)| {
            if p.chars().all(|c| c.is_ascii_digit()) {
                h
            } else {
                registry
            }
        })
        .unwrap_or(registry);
    // An address, not a name that merely starts with `127.`: credentials must not go out in clear
    // text to `127.example.com`.
    let loopback = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback());
    host == "localhost" || loopback || insecure.iter().any(|i| i == registry)
}

/// What a registry said about its pull budget (Docker Hub: `RateLimit-Remaining: 76;w=21600`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RateLimit {
    pub limit: Option<u64>,
    pub remaining: u64,
}

impl RateLimit {
    /// Reads the headers defensively: absent, empty or malformed values give `None`.
    pub fn from_headers(headers: &HeaderMap) -> Option<RateLimit> {
        let number = |name: &str| {
            headers
                .get(name)?
                .to_str()
                .ok()?
                .split(';')
                .next()?
                .trim()
                .parse::<u64>()
                .ok()
        };
        Some(RateLimit {
            limit: number("ratelimit-limit"),
            remaining: number("ratelimit-remaining")?,
        })
    }
}

/// Requests made, by kind: the benchmarks and the frugality checks read these.
#[derive(Debug, Default)]
pub struct Stats {
    pub manifest_heads: AtomicU64,
    pub manifest_gets: AtomicU64,
    pub manifest_puts: AtomicU64,
    pub blob_heads: AtomicU64,
    pub blob_gets: AtomicU64,
    pub blob_puts: AtomicU64,
    pub blob_mounts: AtomicU64,
    pub token_requests: AtomicU64,
    pub retries: AtomicU64,
    pub bytes_copied: AtomicU64,
}

impl Stats {
    pub fn requests(&self) -> u64 {
        [
            &self.manifest_heads,
            &self.manifest_gets,
            &self.manifest_puts,
            &self.blob_heads,
            &self.blob_gets,
            &self.blob_puts,
            &self.blob_mounts,
            &self.token_requests,
        ]
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum()
    }
}

#[derive(Debug, Clone)]
pub struct RegistryError {
    pub registry: String,
    pub repository: String,
    /// What was being done: `HEAD manifest 3.11.9`, `PUT blob sha256:…`.
    pub action: String,
    pub status: Option<u16>,
    pub message: String,
    retry_after: Option<Duration>,
    transient: bool,
}

impl RegistryError {
    pub fn is_transient(&self) -> bool {
        self.transient
    }
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} on {}/{}: ",
            self.action, self.registry, self.repository
        )?;
        match self.status {
            Some(status) => write!(f, "HTTP {status}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for RegistryError {}

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

impl Manifest {
    pub fn document(&self) -> Result<ManifestDocument, String> {
        serde_json::from_slice(&self.bytes)
            .map_err(|e| format!("manifest {} is not valid JSON: {e}", self.digest))
    }
}

/// A client for one registry host.
pub struct Client {
    http: reqwest::Client,
    registry: String,
    base: String,
    credential: Option<Credential>,
    /// Bearer tokens by scope, or `basic` once the registry asked for Basic credentials.
    auth: Mutex<HashMap<String, Authorization>>,
    pub stats: Arc<Stats>,
    rate_limit: std::sync::Mutex<Option<RateLimit>>,
    retry: ExponentialBuilder,
}

/// How requests to a scope are authorized once the registry has challenged.
#[derive(Clone)]
enum Authorization {
    Bearer(String),
    Basic,
}

/// One registry request: what it is, and the repository and permission it needs.
#[derive(Clone)]
struct Call<'a> {
    method: Method,
    url: &'a str,
    repository: &'a str,
    access: Access,
    action: &'a str,
}

/// Which requests go to which permission (`pull` or `pull,push`) of a repository's token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Pull,
    Push,
}

impl Client {
    pub fn new(registry: &str, insecure: &[String], credential: Option<Credential>) -> Client {
        let scheme = if is_plain_http(registry, insecure) {
            "http"
        } else {
            "https"
        };
        let http = reqwest::Client::builder()
            .user_agent(concat!("baseimg/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(16)
            .build()
            .expect("the HTTP client configuration is static");
        Client {
            http,
            registry: registry.to_string(),
            base: format!("{scheme}://{}", api_host(registry)),
            credential,
            auth: Mutex::new(HashMap::new()),
            stats: Arc::new(Stats::default()),
            rate_limit: std::sync::Mutex::new(None),
            retry: ExponentialBuilder::default()
                .with_jitter()
                .with_min_delay(Duration::from_millis(100))
                .with_max_delay(Duration::from_secs(10))
                .with_max_times(6),
        }
    }

    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The last pull budget the registry reported, if it reports one.
    pub fn rate_limit(&self) -> Option<RateLimit> {
        *self.rate_limit.lock().expect("not poisoned")
    }

    /// Makes retries fast for tests that inject faults (the policy stays the same, only the delays shrink).
    pub fn with_retry(mut self, retry: ExponentialBuilder) -> Client {
        self.retry = retry;
        self
    }

    fn error(
        &self,
        repository: &str,
        action: &str,
        status: Option<StatusCode>,
        message: String,
    ) -> RegistryError {
        let transient = match status {
            None => true,
            Some(s) => {
                s == StatusCode::REQUEST_TIMEOUT
                    || s == StatusCode::TOO_MANY_REQUESTS
                    || s.is_server_error()
            }
        };
        RegistryError {
            registry: self.registry.clone(),
            repository: repository.to_string(),
            action: action.to_string(),
            status: status.map(|s| s.as_u16()),
            message,
            retry_after: None,
            transient,
        }
    }

    async fn status_error(
        &self,
        repository: &str,
        action: &str,
        response: reqwest::Response,
    ) -> RegistryError {
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = response.text().await.unwrap_or_default();
        // Registries answer with `{"errors":[{"code":…,"message":…}]}`; show that, not raw HTML.
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| {
                let errors = v.get("errors")?.as_array()?;
                Some(
                    errors
                        .iter()
                        .map(|e| {
                            format!(
                                "{} {}",
                                e["code"].as_str().unwrap_or(""),
                                e["message"].as_str().unwrap_or("")
                            )
                            .trim()
                            .to_string()
                        })
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            })
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string());
        let mut error = self.error(repository, action, Some(status), message);
        error.retry_after = retry_after;
        error
    }

    /// Sends one request with authentication, retrying transient failures. `body` is rebuilt for each
    /// attempt, so only in-memory bodies go through here (streamed uploads use [`Client::send_once`]).
    async fn send(
        &self,
        call: Call<'_>,
        headers: HeaderMap,
        body: Option<Bytes>,
        accept: &[StatusCode],
    ) -> Result<reqwest::Response, RegistryError> {
        let Call {
            repository, action, ..
        } = call.clone();
        let retried = AtomicU64::new(0);
        let attempt = || async {
            let response = self
                .send_once(
                    call.clone(),
                    headers.clone(),
                    body.clone().map(reqwest::Body::from),
                )
                .await?;
            if accept.contains(&response.status()) {
                Ok(response)
            } else {
                Err(self.status_error(repository, action, response).await)
            }
        };
        attempt
            .retry(self.retry)
            .sleep(tokio::time::sleep)
            .when(RegistryError::is_transient)
            .adjust(|error: &RegistryError, delay| match error.retry_after {
                // Honour the registry's own wait, within reason.
                // `delay` is None once the attempts are used up: a Retry-After never adds attempts.
                Some(wait) => delay.map(|_| wait.min(Duration::from_secs(120))),
                None => delay,
            })
            .notify(|_, _| {
                self.stats.retries.fetch_add(1, Ordering::Relaxed);
                retried.fetch_add(1, Ordering::Relaxed);
            })
            .await
            .map_err(|mut error| {
                let retried = retried.load(Ordering::Relaxed);
                if retried > 0 {
                    error
                        .message
                        .push_str(&format!(" (gave up after {} attempts)", retried + 1));
                }
                error
            })
    }

    /// One request, authenticated: anonymous or with cached authorization first; on a 401 challenge,
    /// authorization is obtained and the request sent once more. No retries here.
    async fn send_once(
        &self,
        call: Call<'_>,
        headers: HeaderMap,
        body: Option<reqwest::Body>,
    ) -> Result<reqwest::Response, RegistryError> {
        let Call {
            method,
            url,
            repository,
            access,
            action,
        } = call;
        let scope = scope(repository, access);
        // A streamed body cannot be sent twice; anonymous-then-challenge is only tried with buffered ones.
        let replayable = body.as_ref().is_none_or(|b| b.as_bytes().is_some());
        let body_copy = body
            .as_ref()
            .and_then(|b| b.as_bytes())
            .map(Bytes::copy_from_slice);
        if !replayable && self.authorization(&scope).await.is_none() && self.credential.is_some() {
            // Make sure authorization is in place before a stream is spent on a 401.
            let probe = self
                .request(
                    Method::GET,
                    &format!("{}/v2/", self.base),
                    None,
                    HeaderMap::new(),
                    None,
                )
                .await;
            if let Ok(probe) = probe
                && probe.status() == StatusCode::UNAUTHORIZED
            {
                self.authorize(repository, &scope, probe.headers(), action)
                    .await?;
            }
        }
        let authorization = self.authorization(&scope).await;
        let response = self
            .request(
                method.clone(),
                url,
                authorization.clone(),
                headers.clone(),
                body,
            )
            .await
            .map_err(|e| self.error(repository, action, None, describe(e)))?;
        self.note_rate_limit(response.headers());
        if response.status() != StatusCode::UNAUTHORIZED || !replayable {
            return Ok(response);
        }
        self.authorize(repository, &scope, response.headers(), action)
            .await?;
        let authorization = self.authorization(&scope).await;
        let response = self
            .request(
                method,
                url,
                authorization,
                headers,
                body_copy.map(reqwest::Body::from),
            )
            .await
            .map_err(|e| self.error(repository, action, None, describe(e)))?;
        self.note_rate_limit(response.headers());
        if response.status() == StatusCode::UNAUTHORIZED {
            let hint = if self.credential.is_some() {
                "the registry refused the credentials from the Docker configuration; run `docker login`"
            } else {
                "the registry wants credentials; run `docker login` for it (baseimg reads the Docker configuration)"
            };
            return Err(RegistryError {
                transient: false,
                ..self.error(
                    repository,
                    action,
                    Some(StatusCode::UNAUTHORIZED),
                    hint.to_string(),
                )
            });
        }
        Ok(response)
    }

    async fn request(
        &self,
        method: Method,
        url: &str,
        authorization: Option<Authorization>,
        headers: HeaderMap,
        body: Option<reqwest::Body>,
    ) -> reqwest::Result<reqwest::Response> {
        // Manifests, HEADs and upload starts are small: a whole-request timeout. Blob transfers may
        // take minutes; they are guarded by an idle timeout on their body instead (see `mirror`).
        let blob_transfer =
            url.contains("/blobs/") && (method == Method::GET || method == Method::PUT);
        let mut request = self.http.request(method, url).headers(headers);
        if !blob_transfer {
            request = request.timeout(Duration::from_secs(60));
        }
        match (authorization, &self.credential) {
            (Some(Authorization::Bearer(token)), _) => request = request.bearer_auth(token),
            (Some(Authorization::Basic), Some(Credential::Basic { username, password })) => {
                request = request.basic_auth(username, Some(password));
            }
            _ => {}
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        request.send().await
    }

    fn note_rate_limit(&self, headers: &HeaderMap) {
        if let Some(limit) = RateLimit::from_headers(headers) {
            *self.rate_limit.lock().expect("not poisoned") = Some(limit);
        }
    }

    async fn authorization(&self, scope: &str) -> Option<Authorization> {
        let auth = self.auth.lock().await;
        auth.get(scope).or_else(|| auth.get("basic")).cloned()
    }

    /// Answers a 401 challenge: Basic credentials, or a Bearer token from the realm the registry names.
    async fn authorize(
        &self,
        repository: &str,
        scope: &str,
        headers: &HeaderMap,
        action: &str,
    ) -> Result<(), RegistryError> {
        let challenge = headers
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let unauthorized = |message: &str| RegistryError {
            transient: false,
            ..self.error(
                repository,
                action,
                Some(StatusCode::UNAUTHORIZED),
                message.to_string(),
            )
        };
        let (kind, params) = parse_challenge(&challenge);
        if kind.eq_ignore_ascii_case("basic") {
            let Some(Credential::Basic { username, password }) = &self.credential else {
                return Err(unauthorized(
                    "the registry wants credentials; run `docker login` for it (baseimg reads the Docker configuration)",
                ));
            };
            let _ = (username, password);
            self.auth
                .lock()
                .await
                .insert("basic".into(), Authorization::Basic);
            return Ok(());
        }
        if !kind.eq_ignore_ascii_case("bearer") {
            return Err(unauthorized(&format!(
                "unsupported authentication scheme `{kind}`"
            )));
        }
        let realm = params
            .get("realm")
            .ok_or_else(|| unauthorized("Bearer challenge without a realm"))?;
        // The challenge may name more than the request's own scope (a cross-repository mount needs
        // pull on the source repository too): ask for everything it names.
        let mut scopes: Vec<&str> = vec![scope];
        if let Some(wanted) = params.get("scope") {
            for extra in wanted.split(' ').filter(|s| !s.is_empty()) {
                if !scopes.contains(&extra) {
                    scopes.push(extra);
                }
            }
        }
        let mut query: Vec<(&str, &str)> = scopes.iter().map(|s| ("scope", *s)).collect();
        if let Some(service) = params.get("service") {
            query.push(("service", service));
        }
        self.stats.token_requests.fetch_add(1, Ordering::Relaxed);
        let mut request = self.http.get(realm.as_str()).query(&query);
        match &self.credential {
            Some(Credential::Basic { username, password }) => {
                request = request.basic_auth(username, Some(password))
            }
            Some(Credential::IdentityToken(token)) => {
                request = self.http.post(realm.as_str()).form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", token.as_str()),
                    ("scope", &scopes.join(" ")),
                    (
                        "service",
                        params
                            .get("service")
                            .map(String::as_str)
                            .unwrap_or_default(),
                    ),
                    ("client_id", "baseimg"),
                ]);
            }
            None => {}
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.error(repository, "token request", None, describe(e)))?;
        if !response.status().is_success() {
            return Err(self
                .status_error(repository, "token request", response)
                .await);
        }
        #[derive(Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let token: Token = response.json().await.map_err(|e| {
            self.error(
                repository,
                "token request",
                None,
                format!("unreadable token response: {}", describe(e)),
            )
        })?;
        let token = token
            .token
            .or(token.access_token)
            .ok_or_else(|| unauthorized("token response without a token"))?;
        self.auth
            .lock()
            .await
            .insert(scope.to_string(), Authorization::Bearer(token));
        Ok(())
    }

    fn url(&self, repository: &str, kind: &str, reference: &str) -> String {
        format!("{}/v2/{repository}/{kind}/{reference}", self.base)
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
        let response = self
            .send(
                Call {
                    method: Method::HEAD,
                    url: &self.url(repository, "manifests", reference),
                    repository,
                    access: Access::Pull,
                    action: &action,
                },
                accept_manifests(),
                None,
                &[StatusCode::OK, StatusCode::NOT_FOUND],
            )
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let digest = header("docker-content-digest").ok_or_else(|| {
            self.error(
                repository,
                &action,
                None,
                "the registry sent no Docker-Content-Digest header".into(),
            )
        })?;
        let digest = Digest::parse(&digest)
            .map_err(|m| self.error(repository, &action, None, m.to_string()))?;
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
        self.stats.manifest_gets.fetch_add(1, Ordering::Relaxed);
        let action = format!("GET manifest {reference}");
        let response = self
            .send(
                Call {
                    method: Method::GET,
                    url: &self.url(repository, "manifests", reference),
                    repository,
                    access: Access::Pull,
                    action: &action,
                },
                accept_manifests(),
                None,
                &[StatusCode::OK],
            )
            .await?;
        let media_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.error(repository, &action, None, describe(e)))?;
        let digest = Digest::sha256_of(&bytes);
        if reference.starts_with("sha256:") && digest.as_str() != reference {
            return Err(RegistryError {
                transient: false,
                ..self.error(repository, &action, None, format!("the manifest's content hashes to {digest}, not to the digest asked for; refusing it"))
            });
        }
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
            manifest.media_type.parse().map_err(|_| {
                self.error(
                    repository,
                    "PUT manifest",
                    None,
                    "invalid media type".into(),
                )
            })?,
        );
        let response = self
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
        let stored = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok());
        if let Some(stored) = stored
            && stored != manifest.digest.as_str()
        {
            return Err(RegistryError {
                transient: false,
                ..self.error(
                    repository,
                    "PUT manifest",
                    None,
                    format!(
                        "the registry stored the manifest as {stored}, not {}",
                        manifest.digest
                    ),
                )
            });
        }
        Ok(())
    }

    /// Whether the registry has a blob in this repository.
    pub async fn has_blob(&self, repository: &str, digest: &str) -> Result<bool, RegistryError> {
        self.stats.blob_heads.fetch_add(1, Ordering::Relaxed);
        let response = self
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
        Ok(response.status() == StatusCode::OK)
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
        let response = self
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
        if response.status() == StatusCode::ACCEPTED {
            // The registry opened an upload instead; close it so it does not linger.
            if let Some(location) = self.location(&response) {
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

    /// Starts a blob download; the caller streams the body.
    pub async fn get_blob(
        &self,
        repository: &str,
        digest: &str,
    ) -> Result<reqwest::Response, RegistryError> {
        self.stats.blob_gets.fetch_add(1, Ordering::Relaxed);
        self.send(
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
        )
        .await
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
        let location = self.location(&start).ok_or_else(|| {
            self.error(
                repository,
                &action,
                None,
                "the registry gave no upload location".into(),
            )
        })?;
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

    fn location(&self, response: &reqwest::Response) -> Option<String> {
        let location = response.headers().get(LOCATION)?.to_str().ok()?;
        Some(
            if location.starts_with("http://") || location.starts_with("https://") {
                location.to_string()
            } else {
                format!("{}{location}", self.base)
            },
        )
    }
}

fn accept_manifests() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, MANIFEST_ACCEPT.parse().expect("static"));
    headers
}

fn scope(repository: &str, access: Access) -> String {
    match access {
        Access::Pull => format!("repository:{repository}:pull"),
        Access::Push => format!("repository:{repository}:pull,push"),
    }
}

/// Error text without URLs' query strings (an upload URL may carry a state token).
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let what = if error.is_connect() {
        "cannot connect"
    } else if error.is_timeout() {
        "timed out"
    } else if error.is_body() || error.is_decode() {
        "the response broke off"
    } else {
        "request failed"
    };
    // The innermost cause says what happened (`Connection refused (os error 111)`); the layers
    // between are hyper's and reqwest's wrapping.
    let mut cause = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(inner) = source {
        cause = inner.to_string();
        source = inner.source();
    }
    format!("{what}: {cause}")
}

/// `Retry-After` is either seconds or an HTTP date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

/// `Bearer realm="https://auth.docker.io/token",service="registry.docker.io"` → ("Bearer", {realm, service}).
fn parse_challenge(header: &str) -> (String, HashMap<String, String>) {
    let (kind, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    let mut params = HashMap::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => (quoted, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        params.insert(key, value.to_string());
        rest = remaining.trim_start_matches(',').trim();
    }
    (kind.to_string(), params)
}

/// One client per registry host, created on first use with that host's credentials, so tokens and
/// connections are shared by everything a run does there.
pub struct Clients {
    insecure: Vec<String>,
    clients: std::sync::Mutex<HashMap<String, Arc<Client>>>,
    retry: Option<ExponentialBuilder>,
}

impl Clients {
    pub fn new(insecure: &[String]) -> Clients {
        Clients {
            insecure: insecure.to_vec(),
            clients: std::sync::Mutex::new(HashMap::new()),
            retry: None,
        }
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
                let credential = crate::credentials::for_registry(registry);
                let client = Client::new(registry, &self.insecure, credential);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenges() {
        let (kind, params) = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/python:pull""#,
        );
        assert_eq!(kind, "Bearer");
        assert_eq!(params["realm"], "https://auth.docker.io/token");
        assert_eq!(params["service"], "registry.docker.io");
        assert_eq!(params["scope"], "repository:library/python:pull");
    }

    #[test]
    fn rate_limit_headers_are_read_defensively() {
        let mut headers = HeaderMap::new();
        assert_eq!(RateLimit::from_headers(&headers), None);
        headers.insert("ratelimit-remaining", "".parse().unwrap());
        assert_eq!(RateLimit::from_headers(&headers), None);
        headers.insert("ratelimit-remaining", "76;w=21600".parse().unwrap());
        headers.insert("ratelimit-limit", "100;w=21600".parse().unwrap());
        assert_eq!(
            RateLimit::from_headers(&headers),
            Some(RateLimit {
                limit: Some(100),
                remaining: 76
            })
        );
    }

    #[test]
    fn retry_after_takes_seconds() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn loopback_registries_are_plain_http() {
        assert!(is_plain_http("localhost:5000", &[]));
        assert!(is_plain_http("127.0.0.1:5001", &[]));
        assert!(!is_plain_http("registry.example.com", &[]));
        assert!(!is_plain_http("127.example.com:5000", &[]));
        assert!(is_plain_http("[::1]:5000", &[]));
        assert!(is_plain_http(
            "registry.internal:5000",
            &["registry.internal:5000".into()]
        ));
        assert_eq!(api_host("docker.io"), "registry-1.docker.io");
    }
}
