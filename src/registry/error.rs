//! What can go wrong talking to a registry, and whether trying again may help.
//!
//! A [`RegistryError`] is always about one request (`HEAD manifest 3.11.9 on docker.io/library/python`);
//! what went wrong is a [`Failure`]. Whether a failure is transient is decided here, by its kind, so
//! the retry loop and the mirror's own blob retries agree on it.
//!
//! The messages are complete sentences that already contain their cause (the report prints one line
//! per error), so causes are not offered again as `source()`: an error-chain printer would repeat them.
//! No message contains a credential, a token or a URL's query string (an upload URL may carry state).

use std::time::Duration;

use reqwest::StatusCode;

use crate::reference::{Digest, ReferenceError};

/// One request that failed, and where.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{action} on {registry}/{repository}: {failure}{}", gave_up(.attempts))]
pub struct RegistryError {
    pub registry: String,
    pub repository: String,
    /// What was being done: `HEAD manifest 3.11.9`, `PUT blob sha256:…`.
    pub action: String,
    pub failure: Failure,
    /// How many attempts were made in all, when the request was retried and still failed.
    pub(super) attempts: Option<u64>,
}

fn gave_up(attempts: &Option<u64>) -> String {
    match attempts {
        Some(attempts) => format!(
            " (gave up after {})",
            crate::text::count(*attempts as usize, "attempt", "attempts")
        ),
        None => String::new(),
    }
}

impl RegistryError {
    /// Whether the same request may succeed later (a retry is worth it).
    pub fn is_transient(&self) -> bool {
        self.failure.is_transient()
    }

    /// The HTTP status the registry answered with, when it answered.
    pub fn status(&self) -> Option<u16> {
        match &self.failure {
            Failure::Status { status, .. } => Some(*status),
            Failure::Unauthorized(_) => Some(StatusCode::UNAUTHORIZED.as_u16()),
            _ => None,
        }
    }

    /// How long the registry asked to wait before the next attempt (`Retry-After`).
    pub fn retry_after(&self) -> Option<Duration> {
        match &self.failure {
            Failure::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// What went wrong with one request.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Failure {
    /// No usable answer: no connection, a timeout, a response that broke off.
    #[error("{0}")]
    Transport(String),
    /// No connection to a registry that has not answered once in this run: it is down, or the
    /// address is wrong. Retrying for a minute would only hide that.
    #[error("{0}")]
    Unreachable(String),
    /// A status the request does not accept; the message is the registry's own `errors` list.
    #[error("HTTP {status}: {message}")]
    Status {
        status: u16,
        message: String,
        retry_after: Option<Duration>,
    },
    /// The registry will not let baseimg in, and retrying with the same credentials will not change that.
    #[error("HTTP 401: {0}")]
    Unauthorized(AuthFailure),
    #[error("the registry sent no Docker-Content-Digest header")]
    NoDigestHeader,
    #[error("{0}")]
    BadDigestHeader(ReferenceError),
    #[error("the registry gave no upload location")]
    NoUploadLocation,
    #[error("invalid media type")]
    InvalidMediaType,
    #[error("unreadable token response: {0}")]
    UnreadableToken(String),
    /// A body ended cleanly before all the bytes the request expected had come: a broken
    /// transfer, not a wrong answer.
    #[error("the response ended after {received} of {}", crate::text::count(*expected as usize, "byte", "bytes"))]
    Short { received: u64, expected: u64 },
    /// The manifest or blob asked for by digest came back, whole, with other content.
    #[error("the content hashes to {actual}, not to the digest asked for; refusing it")]
    ContentMismatch { actual: Digest },
    /// The registry filed a pushed manifest under another digest than its bytes have.
    #[error("the registry stored the manifest as {stored}, not {expected}")]
    StoredAs { stored: String, expected: Digest },
}

impl Failure {
    /// Transport failures (a body that broke off or ended short included) and the statuses that
    /// mean "later" (408, 429, 5xx) are worth retrying; answers that are malformed (no digest
    /// header, no upload location, an unreadable token) are retried too, as a new answer may be a
    /// proper one. A refusal or whole content that does not match its digest will not change by
    /// asking again.
    pub fn is_transient(&self) -> bool {
        match self {
            Failure::Transport(_)
            | Failure::Short { .. }
            | Failure::NoDigestHeader
            | Failure::BadDigestHeader(_)
            | Failure::NoUploadLocation
            | Failure::InvalidMediaType
            | Failure::UnreadableToken(_) => true,
            Failure::Status { status, .. } => StatusCode::from_u16(*status).is_ok_and(|s| {
                s == StatusCode::REQUEST_TIMEOUT
                    || s == StatusCode::TOO_MANY_REQUESTS
                    || s.is_server_error()
            }),
            Failure::Unauthorized(_)
            | Failure::Unreachable(_)
            | Failure::ContentMismatch { .. }
            | Failure::StoredAs { .. } => false,
        }
    }
}

/// Why a registry's authentication could not be satisfied.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthFailure {
    #[error(
        "the registry wants credentials; run `docker login` for it (baseimg reads the Docker configuration)"
    )]
    CredentialsWanted,
    #[error(
        "the registry refused the credentials from the Docker configuration; run `docker login`"
    )]
    CredentialsRefused,
    #[error("unsupported authentication scheme `{0}`")]
    UnsupportedScheme(String),
    #[error("Bearer challenge without a realm")]
    NoRealm,
    #[error("token response without a token")]
    NoToken,
}

/// What an error response says: registries answer `{"errors":[{"code":…,"message":…}]}`; that is
/// shown, not a raw HTML page from a proxy (then the status's own name is).
pub(super) fn status_message(status: StatusCode, body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
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
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string())
}

/// A transport error's text, without URLs (an upload URL's query string may carry a state token).
pub(super) fn describe(error: reqwest::Error) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn error(failure: Failure, attempts: Option<u64>) -> RegistryError {
        RegistryError {
            registry: "localhost:5000".into(),
            repository: "base/python".into(),
            action: "HEAD manifest 3.11".into(),
            failure,
            attempts,
        }
    }

    #[test]
    fn messages_name_the_request_the_status_and_the_attempts() {
        let unavailable = Failure::Status {
            status: 503,
            message: "Service Unavailable".into(),
            retry_after: None,
        };
        assert_eq!(
            error(unavailable.clone(), None).to_string(),
            "HEAD manifest 3.11 on localhost:5000/base/python: HTTP 503: Service Unavailable"
        );
        assert_eq!(
            error(unavailable, Some(3)).to_string(),
            "HEAD manifest 3.11 on localhost:5000/base/python: HTTP 503: Service Unavailable (gave up after 3 attempts)"
        );
        assert_eq!(
            error(Failure::Unauthorized(AuthFailure::NoRealm), None).to_string(),
            "HEAD manifest 3.11 on localhost:5000/base/python: HTTP 401: Bearer challenge without a realm"
        );
        assert_eq!(
            error(Failure::Transport("timed out: deadline".into()), None).to_string(),
            "HEAD manifest 3.11 on localhost:5000/base/python: timed out: deadline"
        );
    }

    #[test]
    fn only_failures_that_may_pass_are_transient() {
        let status = |status| Failure::Status {
            status,
            message: String::new(),
            retry_after: None,
        };
        for transient in [408, 429, 500, 503] {
            assert!(status(transient).is_transient(), "{transient}");
        }
        for permanent in [400, 401, 403, 404] {
            assert!(!status(permanent).is_transient(), "{permanent}");
        }
        assert!(Failure::Transport(String::new()).is_transient());
        assert!(Failure::NoUploadLocation.is_transient());
        assert!(
            Failure::Short {
                received: 10,
                expected: 20
            }
            .is_transient()
        );
        assert!(!Failure::Unauthorized(AuthFailure::CredentialsRefused).is_transient());
        assert!(
            !Failure::ContentMismatch {
                actual: Digest::sha256_of(b"")
            }
            .is_transient()
        );
    }

    #[test]
    fn error_bodies_show_the_registry_s_own_words() {
        let body = r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"},{"code":"DENIED"}]}"#;
        assert_eq!(
            status_message(StatusCode::NOT_FOUND, body),
            "MANIFEST_UNKNOWN manifest unknown; DENIED"
        );
        assert_eq!(
            status_message(StatusCode::BAD_GATEWAY, "<html>proxy</html>"),
            "Bad Gateway"
        );
    }
}
