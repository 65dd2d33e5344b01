//! Authentication the way registries ask for it: a request goes out anonymously (or with what is
//! cached), and a `401` carries a challenge (`WWW-Authenticate`) saying how to authenticate.
//!
//! A `Basic` challenge is answered with the Docker configuration's username and password on every
//! later request. A `Bearer` challenge names a token service (the realm); baseimg asks it for a token
//! for the repository and permission the request needs (its scope), with credentials when it has
//! some, and caches the token per scope so one challenge serves every later request to that scope.
//! Tokens live only in that cache and in `Authorization` headers.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use reqwest::header::{HeaderMap, WWW_AUTHENTICATE};
use serde::Deserialize;

use super::client::{Authorization, Client};
use super::error::{AuthFailure, Failure, RegistryError};
use crate::credentials::Credential;

/// The cache key for Basic authorization: it holds for every scope of the registry.
const BASIC: &str = "basic";

impl Client {
    /// What is known to authorize requests to a scope, if the registry has challenged before.
    pub(super) async fn authorization(&self, scope: &str) -> Option<Authorization> {
        let auth = self.auth.lock().await;
        auth.get(scope).or_else(|| auth.get(BASIC)).cloned()
    }

    /// Answers a 401 challenge: Basic credentials, or a Bearer token from the realm the registry names.
    pub(super) async fn authorize(
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
        let unauthorized =
            |failure: AuthFailure| self.error(repository, action, Failure::Unauthorized(failure));
        let (kind, params) = parse_challenge(&challenge);
        if kind.eq_ignore_ascii_case("basic") {
            let Some(Credential::Basic { .. }) = &self.credential else {
                return Err(unauthorized(AuthFailure::CredentialsWanted));
            };
            self.auth
                .lock()
                .await
                .insert(BASIC.into(), Authorization::Basic);
            return Ok(());
        }
        if !kind.eq_ignore_ascii_case("bearer") {
            return Err(unauthorized(AuthFailure::UnsupportedScheme(kind)));
        }
        let realm = params
            .get("realm")
            .ok_or_else(|| unauthorized(AuthFailure::NoRealm))?;
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
        let token = self
            .request_token(repository, realm, &scopes, params.get("service"))
            .await?
            .ok_or_else(|| unauthorized(AuthFailure::NoToken))?;
        self.auth
            .lock()
            .await
            .insert(scope.to_string(), Authorization::Bearer(token));
        Ok(())
    }

    /// Asks a token service for a token covering `scopes`: with a username and password as Basic
    /// authentication, with an identity token as an OAuth2 refresh grant, or anonymously. `None` when
    /// the service answered without a token.
    async fn request_token(
        &self,
        repository: &str,
        realm: &str,
        scopes: &[&str],
        service: Option<&String>,
    ) -> Result<Option<String>, RegistryError> {
        const ACTION: &str = "token request";
        let mut query: Vec<(&str, &str)> = scopes.iter().map(|s| ("scope", *s)).collect();
        if let Some(service) = service {
            query.push(("service", service));
        }
        self.stats.token_requests.fetch_add(1, Ordering::Relaxed);
        let mut request = self.http.get(realm).query(&query);
        match &self.credential {
            Some(Credential::Basic { username, password }) => {
                request = request.basic_auth(username, Some(password))
            }
            Some(Credential::IdentityToken(token)) => {
                request = self.http.post(realm).form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", token.as_str()),
                    ("scope", &scopes.join(" ")),
                    ("service", service.map(String::as_str).unwrap_or_default()),
                    ("client_id", "baseimg"),
                ]);
            }
            None => {}
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.transport_error(repository, ACTION, e))?;
        if !response.status().is_success() {
            return Err(self.status_error(repository, ACTION, response).await);
        }
        #[derive(Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let token: Token = response.json().await.map_err(|e| {
            self.error(
                repository,
                ACTION,
                Failure::UnreadableToken(super::error::describe(e)),
            )
        })?;
        Ok(token.token.or(token.access_token))
    }

    /// The error for a request that was still refused after authorizing: whether credentials were
    /// sent says what the user has to do.
    pub(super) fn refused(&self, repository: &str, action: &str) -> RegistryError {
        let failure = if self.credential.is_some() {
            AuthFailure::CredentialsRefused
        } else {
            AuthFailure::CredentialsWanted
        };
        self.error(repository, action, Failure::Unauthorized(failure))
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::client::{Access, scope};

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
    fn parses_basic_challenges_and_unquoted_values() {
        let (kind, params) = parse_challenge(r#"Basic realm=registry,charset="UTF-8""#);
        assert_eq!(kind, "Basic");
        assert_eq!(params["realm"], "registry");
        assert_eq!(params["charset"], "UTF-8");
    }

    #[test]
    fn scopes_name_the_repository_and_the_permission() {
        assert_eq!(
            scope("base/python", Access::Pull),
            "repository:base/python:pull"
        );
        assert_eq!(
            scope("base/python", Access::Push),
            "repository:base/python:pull,push"
        );
    }
}
