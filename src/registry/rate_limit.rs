//! What a registry says about how fast baseimg may go, and what baseimg counts about itself.
//!
//! Docker Hub limits pulls and reports the budget in `RateLimit-*` headers; any registry may ask for
//! a pause with `429` and `Retry-After`. Both are read defensively (a missing or malformed header is
//! no information, never an error). [`Stats`] counts requests by kind, because frugality with
//! upstream is a promise (HEADs instead of GETs, no blob copied twice) that benchmarks and tests check.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::header::HeaderMap;

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

/// `Retry-After` is either seconds or an HTTP date.
pub(super) fn parse_retry_after(value: &str) -> Option<Duration> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn requests_count_every_kind_but_retries_and_bytes() {
        let stats = Stats::default();
        stats.manifest_heads.fetch_add(2, Ordering::Relaxed);
        stats.token_requests.fetch_add(1, Ordering::Relaxed);
        stats.retries.fetch_add(5, Ordering::Relaxed);
        stats.bytes_copied.fetch_add(1000, Ordering::Relaxed);
        assert_eq!(stats.requests(), 3);
    }
}
