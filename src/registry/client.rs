//! The client for one registry host, and how every request goes out: scheme and host, timeouts,
//! authentication on challenge, and retries.
//!
//! All requests pass through [`Client::send_once`], which sends one request with what is known about
//! authorization, answers a `401` challenge and sends it once more (only when the body can be
//! replayed). Retries for transient failures, honouring `Retry-After`, wrap it: [`Client::send_with`]
//! retries the whole exchange, the response's body read and checked included, so a body that breaks
//! off (or arrives short, or unreadable) is asked for again just like a `503`; [`Client::send`] is
//! that with no check. Only blob downloads leave the body to their caller ([`Client::send_streamed`]),
//! who streams it and retries the whole blob. Retried requests take in-memory bodies only, since a
//! streamed body cannot be sent twice. The requests themselves (manifests, blobs) live with their
//! subject in `manifest` and `blob`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use tokio::sync::Mutex;

use super::error::{Failure, RegistryError, describe, status_message};
use super::rate_limit::{RateLimit, Stats, parse_retry_after};
use crate::credentials::Credential;

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

/// A client for one registry host.
pub struct Client {
    pub(super) http: reqwest::Client,
    pub(super) registry: String,
    /// `scheme://host` the API is reached at.
    pub(super) base: String,
    pub(super) credential: Option<Credential>,
    /// Bearer tokens by scope, or `basic` once the registry asked for Basic credentials.
    pub(super) auth: Mutex<HashMap<String, Authorization>>,
    pub stats: Arc<Stats>,
    rate_limit: std::sync::Mutex<Option<RateLimit>>,
    retry: ExponentialBuilder,
    /// Manifests already fetched by digest, on disk (none unless the caller asked for one).
    pub(super) cache: Option<super::cache::ManifestCache>,
    /// Whether the registry has answered once in this run: until it has, a refused connection is
    /// reported at once instead of retried (see [`Failure::Unreachable`]).
    answered: std::sync::atomic::AtomicBool,
}

/// A registry's answer to a retried request, its body read within the attempt that received it.
pub(super) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// One registry request: what it is, and the repository and permission it needs.
#[derive(Clone)]
pub(super) struct Call<'a> {
    pub method: Method,
    pub url: &'a str,
    pub repository: &'a str,
    pub access: Access,
    pub action: &'a str,
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
            // Connecting is quick to any registry that is up; a missing one should say so quickly.
            .connect_timeout(Duration::from_secs(3))
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
            cache: None,
            answered: std::sync::atomic::AtomicBool::new(false),
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

    pub(super) fn error(&self, repository: &str, action: &str, failure: Failure) -> RegistryError {
        RegistryError {
            registry: self.registry.clone(),
            repository: repository.to_string(),
            action: action.to_string(),
            failure,
            attempts: None,
        }
    }

    pub(super) fn transport_error(
        &self,
        repository: &str,
        action: &str,
        error: reqwest::Error,
    ) -> RegistryError {
        self.error(repository, action, Failure::Transport(describe(error)))
    }

    /// The error for a response with a status the request does not accept, in the registry's words.
    pub(super) async fn status_error(
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
        self.error(
            repository,
            action,
            Failure::Status {
                status: status.as_u16(),
                message: status_message(status, &body),
                retry_after,
            },
        )
    }

    pub(super) fn url(&self, repository: &str, kind: &str, reference: &str) -> String {
        format!("{}/v2/{repository}/{kind}/{reference}", self.base)
    }

    /// Sends one request with authentication, retrying transient failures, and reads its body within
    /// each attempt. `body` is rebuilt for each attempt, so only in-memory bodies go through here
    /// (streamed uploads use [`Client::send_once`]).
    pub(super) async fn send(
        &self,
        call: Call<'_>,
        headers: HeaderMap,
        body: Option<Bytes>,
        accept: &[StatusCode],
    ) -> Result<Answer, RegistryError> {
        self.send_with(call, headers, body, accept, Ok).await
    }

    /// [`Client::send`], with `read` taking the answer apart (or refusing it) inside the attempt: a
    /// transient [`Failure`] from `read` (a body that ended short, a malformed answer) sends the
    /// request again, as a transient status does.
    pub(super) async fn send_with<T>(
        &self,
        call: Call<'_>,
        headers: HeaderMap,
        body: Option<Bytes>,
        accept: &[StatusCode],
        read: impl Fn(Answer) -> Result<T, Failure>,
    ) -> Result<T, RegistryError> {
        let Call {
            repository, action, ..
        } = call.clone();
        let attempt = || async {
            let response = self
                .answered(call.clone(), headers.clone(), body.clone(), accept)
                .await?;
            let answer = Answer {
                status: response.status(),
                headers: response.headers().clone(),
                body: response
                    .bytes()
                    .await
                    .map_err(|e| self.transport_error(repository, action, e))?,
            };
            read(answer).map_err(|failure| self.error(repository, action, failure))
        };
        self.retried(attempt).await
    }

    /// Sends a body-less request with retries until it is answered with an accepted status, and
    /// hands over the response unread: for blob downloads, whose body the caller streams (and
    /// whose breaking off the caller retries, with the whole blob).
    pub(super) async fn send_streamed(
        &self,
        call: Call<'_>,
        headers: HeaderMap,
        accept: &[StatusCode],
    ) -> Result<reqwest::Response, RegistryError> {
        self.retried(|| self.answered(call.clone(), headers.clone(), None, accept))
            .await
    }

    /// One attempt: a response with an accepted status, or the error the status means.
    async fn answered(
        &self,
        call: Call<'_>,
        headers: HeaderMap,
        body: Option<Bytes>,
        accept: &[StatusCode],
    ) -> Result<reqwest::Response, RegistryError> {
        let (repository, action) = (call.repository, call.action);
        let response = self
            .send_once(call, headers, body.map(reqwest::Body::from))
            .await?;
        if accept.contains(&response.status()) {
            Ok(response)
        } else {
            Err(self.status_error(repository, action, response).await)
        }
    }

    /// Runs `attempt` until it succeeds, fails for good, or the attempts are used up; the final error
    /// says how many attempts were made when there were several.
    async fn retried<T, Attempt, Fut>(&self, attempt: Attempt) -> Result<T, RegistryError>
    where
        Attempt: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, RegistryError>>,
    {
        let retried = AtomicU64::new(0);
        attempt
            .retry(self.retry)
            .sleep(tokio::time::sleep)
            .when(RegistryError::is_transient)
            .adjust(|error: &RegistryError, delay| match error.retry_after() {
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
                    error.attempts = Some(retried + 1);
                }
                error
            })
    }

    /// One request, authenticated: anonymous or with cached authorization first; on a 401 challenge,
    /// authorization is obtained and the request sent once more. No retries here.
    pub(super) async fn send_once(
        &self,
        call: Call<'_>,
        headers: HeaderMap,
        body: Option<reqwest::Body>,
    ) -> Result<reqwest::Response, RegistryError> {
        let scope = scope(call.repository, call.access);
        // A streamed body cannot be sent twice; anonymous-then-challenge is only tried with buffered ones.
        let replayable = body.as_ref().is_none_or(|b| b.as_bytes().is_some());
        let body_copy = body
            .as_ref()
            .and_then(|b| b.as_bytes())
            .map(Bytes::copy_from_slice);
        if !replayable {
            self.authorize_before_streaming(&call, &scope).await?;
        }
        let response = self
            .authorized_request(&call, &scope, headers.clone(), body)
            .await?;
        if response.status() != StatusCode::UNAUTHORIZED || !replayable {
            return Ok(response);
        }
        self.authorize(call.repository, &scope, response.headers(), call.action)
            .await?;
        let response = self
            .authorized_request(&call, &scope, headers, body_copy.map(reqwest::Body::from))
            .await?;
        if response.status() == StatusCode::UNAUTHORIZED {
            return Err(self.refused(call.repository, call.action));
        }
        Ok(response)
    }

    /// Makes sure authorization is in place before a stream is spent on a 401: when there are
    /// credentials and nothing is cached for the scope, a probe of `/v2/` brings out the challenge.
    async fn authorize_before_streaming(
        &self,
        call: &Call<'_>,
        scope: &str,
    ) -> Result<(), RegistryError> {
        if self.authorization(scope).await.is_some() || self.credential.is_none() {
            return Ok(());
        }
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
            self.authorize(call.repository, scope, probe.headers(), call.action)
                .await?;
        }
        Ok(())
    }

    /// One request with the authorization cached for its scope; notes the rate limit it reports.
    async fn authorized_request(
        &self,
        call: &Call<'_>,
        scope: &str,
        headers: HeaderMap,
        body: Option<reqwest::Body>,
    ) -> Result<reqwest::Response, RegistryError> {
        let authorization = self.authorization(scope).await;
        let response = self
            .request(call.method.clone(), call.url, authorization, headers, body)
            .await
            .map_err(|e| self.connection_error(call.repository, call.action, e))?;
        self.answered.store(true, Ordering::Relaxed);
        self.note_rate_limit(response.headers());
        Ok(response)
    }

    /// A request that got no answer: [`Failure::Unreachable`] when the registry never answered in
    /// this run and the connection itself failed, a (retried) transport failure otherwise.
    fn connection_error(
        &self,
        repository: &str,
        action: &str,
        error: reqwest::Error,
    ) -> RegistryError {
        if error.is_connect() && !self.answered.load(Ordering::Relaxed) {
            return self.error(repository, action, Failure::Unreachable(describe(error)));
        }
        self.transport_error(repository, action, error)
    }

    /// Whether the registry answers at all (`GET /v2/`; any HTTP status counts), asked once before
    /// a command's work so that a registry that is down is one clear error, not one per image.
    pub async fn probe(&self) -> Result<(), RegistryError> {
        let url = format!("{}/v2/", self.base);
        match self
            .request(Method::GET, &url, None, HeaderMap::new(), None)
            .await
        {
            Ok(_) => {
                self.answered.store(true, Ordering::Relaxed);
                Ok(())
            }
            Err(error) => Err(self.connection_error("", "GET /v2/", error)),
        }
    }

    pub(super) async fn request(
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
}

/// How requests to a scope are authorized once the registry has challenged.
#[derive(Clone)]
pub(super) enum Authorization {
    Bearer(String),
    Basic,
}

/// The token scope a request needs: pull, or pull and push, on one repository.
pub(super) fn scope(repository: &str, access: Access) -> String {
    match access {
        Access::Pull => format!("repository:{repository}:pull"),
        Access::Push => format!("repository:{repository}:pull,push"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
