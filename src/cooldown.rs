//! The cool-down policy: a new upstream digest is adopted only once baseimg first saw it at least
//! the image's `cooldown:` ago. A publisher's broken release is usually replaced within hours; a
//! team that waits a few days before adopting one rarely builds on it.
//!
//! Decisions are pure (the lock entry, what upstream says now, the policy, the time), so the rule
//! is tested here without a registry; `refresh` records what it decided in the lock file.

use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;

use crate::lock::{Candidate, LockEntry};
use crate::reference::Digest;

/// What to do with the digest upstream points at now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Upstream still points where the pin does.
    Unchanged,
    /// Take the new digest in this run.
    Adopt(Why),
    /// Keep the pin; the candidate waits `left` more.
    Wait {
        candidate: Candidate,
        left: Duration,
    },
}

/// Why a new digest is adopted now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Why {
    /// Nothing was pinned (or the catalog now names another reference): there is nothing to keep.
    FirstPin,
    /// The image has no cool-down.
    NoCooldown,
    /// Its cool-down has passed since it was first seen.
    CooledDown,
    /// `--adopt IMAGE` asked for it (a security fix cannot wait).
    Asked,
}

/// Decides for one mirror. `pinned` is its lock entry when that still matches the catalog;
/// `asked` is whether `--adopt` named it.
pub(crate) fn decide(
    pinned: Option<&LockEntry>,
    current: &Digest,
    cooldown: Duration,
    asked: bool,
    now: OffsetDateTime,
) -> Decision {
    let Some(pinned) = pinned else {
        return Decision::Adopt(Why::FirstPin);
    };
    if &pinned.digest == current {
        return Decision::Unchanged;
    }
    if asked {
        return Decision::Adopt(Why::Asked);
    }
    if cooldown.is_zero() {
        return Decision::Adopt(Why::NoCooldown);
    }
    // A candidate keeps its first sighting only while upstream still points at it; a digest that
    // replaced it starts its own cool-down.
    let first_seen = pinned
        .candidate
        .as_ref()
        .filter(|c| &c.digest == current)
        .and_then(|c| crate::clock::parse_rfc3339(&c.first_seen))
        .unwrap_or(now);
    let age = (now - first_seen).try_into().unwrap_or(Duration::ZERO);
    if age >= cooldown {
        return Decision::Adopt(Why::CooledDown);
    }
    Decision::Wait {
        candidate: Candidate {
            digest: current.clone(),
            first_seen: crate::clock::rfc3339(first_seen),
        },
        left: cooldown - age,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::Reference;

    fn digest(c: char) -> Digest {
        Digest::parse(&format!("sha256:{}", c.to_string().repeat(64))).unwrap()
    }

    fn at(text: &str) -> OffsetDateTime {
        crate::clock::parse_rfc3339(text).unwrap()
    }

    fn entry(candidate: Option<(char, &str)>) -> LockEntry {
        LockEntry {
            source: Reference::parse("redis:7.2.4").unwrap(),
            digest: digest('a'),
            media_type: "application/vnd.oci.image.index.v1+json".into(),
            platforms: Default::default(),
            only: vec![],
            resolved_at: "2026-11-20T00:00:00Z".into(),
            mirror: Reference::parse("localhost:5000/base/redis:7.2.4").unwrap(),
            candidate: candidate.map(|(c, seen)| Candidate {
                digest: digest(c),
                first_seen: seen.into(),
            }),
        }
    }

    const THREE_DAYS: Duration = Duration::from_secs(3 * 86_400);

    #[test]
    fn the_same_digest_is_unchanged_and_nothing_pinned_is_adopted() {
        let now = at("2026-11-28T00:00:00Z");
        let pinned = entry(None);
        assert_eq!(
            decide(Some(&pinned), &digest('a'), THREE_DAYS, false, now),
            Decision::Unchanged
        );
        assert_eq!(
            decide(None, &digest('b'), THREE_DAYS, false, now),
            Decision::Adopt(Why::FirstPin)
        );
    }

    #[test]
    fn a_new_digest_waits_out_its_cooldown_from_its_first_sighting() {
        let pinned = entry(None);
        let first = decide(
            Some(&pinned),
            &digest('b'),
            THREE_DAYS,
            false,
            at("2026-11-28T00:00:00Z"),
        );
        let Decision::Wait { candidate, left } = first else {
            panic!("{first:?}")
        };
        assert_eq!(candidate.first_seen, "2026-11-28T00:00:00Z");
        assert_eq!(left, THREE_DAYS);

        let seen = entry(Some(('b', "2026-11-28T00:00:00Z")));
        let later = decide(
            Some(&seen),
            &digest('b'),
            THREE_DAYS,
            false,
            at("2026-11-30T00:00:00Z"),
        );
        assert!(
            matches!(later, Decision::Wait { left, .. } if left == Duration::from_secs(86_400)),
            "{later:?}"
        );
        assert_eq!(
            decide(
                Some(&seen),
                &digest('b'),
                THREE_DAYS,
                false,
                at("2026-12-01T00:00:00Z")
            ),
            Decision::Adopt(Why::CooledDown)
        );
    }

    #[test]
    fn a_digest_that_replaced_the_candidate_starts_over() {
        let seen = entry(Some(('b', "2026-11-20T00:00:00Z")));
        let now = at("2026-11-28T00:00:00Z");
        let decision = decide(Some(&seen), &digest('c'), THREE_DAYS, false, now);
        assert!(
            matches!(&decision, Decision::Wait { candidate, left } if candidate.digest == digest('c') && *left == THREE_DAYS),
            "{decision:?}"
        );
    }

    #[test]
    fn asking_or_no_cooldown_adopts_at_once() {
        let pinned = entry(None);
        let now = at("2026-11-28T00:00:00Z");
        assert_eq!(
            decide(Some(&pinned), &digest('b'), THREE_DAYS, true, now),
            Decision::Adopt(Why::Asked)
        );
        assert_eq!(
            decide(Some(&pinned), &digest('b'), Duration::ZERO, false, now),
            Decision::Adopt(Why::NoCooldown)
        );
    }
}
