//! The night, step one and two: ask every mirror's upstream where its tag points (one HEAD each, all
//! concurrently) and decide, under the cool-down policy, what the next lock file pins. An upstream
//! that cannot be asked keeps its entry; it never stops the others.

use futures_util::{StreamExt, stream};
use time::OffsetDateTime;

use super::report::{Upstream, UpstreamStatus};
use crate::catalog::Image;
use crate::cooldown::{self, Decision};
use crate::events::Events;
use crate::failure::Advice;
use crate::lock::{LockEntry, LockFile, LockStatus};
use crate::registry::Clients;
use crate::timeline::{Phase, Timeline};
use crate::upstream::{self, ResolveError};
use crate::workspace::Workspace;

/// The decisions of step one and two: a line per mirror, and the lock file they add up to.
pub(super) struct Resolved {
    pub upstreams: Vec<Upstream>,
    pub next: LockFile,
}

/// Resolves every mirror of the catalog and decides on each. `asked` are the `--adopt` names.
pub(super) async fn resolve(
    workspace: &Workspace,
    clients: &Clients,
    progress: &Events,
    timeline: &Timeline,
    asked: &[String],
    jobs: usize,
) -> Resolved {
    let now = crate::clock::now();
    let mirrors: Vec<&Image> = workspace
        .catalog
        .images
        .values()
        .filter(|i| i.as_mirror().is_some())
        .collect();
    let results: Vec<(Upstream, Option<LockEntry>)> = stream::iter(mirrors)
        .map(|image| async move {
            let _resolving = timeline.start(&image.name, Phase::Resolve);
            let task = progress.task(&image.name);
            task.step("resolving");
            let asked = asked.contains(&image.name);
            let decided = decide_one(workspace, clients, image, asked, now).await;
            task.finish(&crate::text::word(&decided.0.status));
            decided
        })
        .buffered(jobs)
        .collect()
        .await;
    let mut next = LockFile::default();
    let mut upstreams = Vec::new();
    for (upstream, entry) in results {
        if let Some(entry) = entry {
            next.images.insert(upstream.image.clone(), entry);
        }
        upstreams.push(upstream);
    }
    Resolved { upstreams, next }
}

/// One mirror: its line in the report and its entry in the next lock file (none when it has no
/// usable pin and upstream could not give one).
async fn decide_one(
    workspace: &Workspace,
    clients: &Clients,
    image: &Image,
    asked: bool,
    now: OffsetDateTime,
) -> (Upstream, Option<LockEntry>) {
    let mirror = image.as_mirror().expect("only mirrors are resolved");
    let pinned = match workspace.lock.status(image) {
        LockStatus::Fresh(entry) => Some(entry),
        _ => None,
    };
    let mut line = Upstream {
        image: image.name.clone(),
        source: mirror.upstream.to_string(),
        status: UpstreamStatus::Unchanged,
        pinned: pinned.map(|e| e.digest.clone()),
        current: None,
        why: None,
        created: None,
        first_seen: None,
        adopt_after: None,
        left: None,
        error: None,
        help: None,
    };
    let failed = |mut line: Upstream, error: ResolveError| {
        line.status = UpstreamStatus::of(&error);
        line.error = Some(error.to_string());
        line.help = Some(match line.status {
            UpstreamStatus::Vanished => {
                "the pin and the mirrored copy stay; mirror another tag in the catalog when upstream has moved on"
                    .to_string()
            }
            _ => error
                .advice()
                .unwrap_or_else(|| "the pin and the mirrored copy stay".to_string()),
        });
        (line, pinned.cloned())
    };
    let current = match upstream::current_digest(clients, &mirror.upstream).await {
        Ok(current) => current,
        Err(error) => return failed(line, error),
    };
    line.current = Some(current.0.clone());
    let decision = cooldown::decide(pinned, &current.0, mirror.cooldown, asked, now);
    match decision {
        Decision::Unchanged => {
            let entry = pinned.cloned().map(|mut e| {
                e.candidate = None;
                e
            });
            (line, entry)
        }
        Decision::Wait { candidate, left } => {
            line.status = UpstreamStatus::Waiting;
            line.first_seen = Some(candidate.first_seen.clone());
            line.adopt_after = Some(crate::clock::rfc3339(now + left));
            line.left = Some(crate::clock::format_age(left));
            let entry = pinned.cloned().map(|mut e| {
                e.candidate = Some(candidate);
                e
            });
            (line, entry)
        }
        Decision::Adopt(why) => {
            let stamp = crate::clock::rfc3339(now);
            match upstream::entry_for(clients, &workspace.catalog, image, current, None, &stamp)
                .await
            {
                Ok(resolution) => {
                    line.status = UpstreamStatus::Adopted;
                    line.why = Some(why);
                    (line, Some(resolution.entry))
                }
                Err(error) => failed(line, error),
            }
        }
    }
}
