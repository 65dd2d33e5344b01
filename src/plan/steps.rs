//! The steps of a plan: for each pinned image, what a run would do with it (lock, mirror, build,
//! skip, or wait for a parent) and why, in build order.

use indexmap::IndexMap;
use serde::Serialize;

use super::{Inventory, Pin};
use crate::catalog::Catalog;
use crate::fingerprint::Fingerprint;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// The lock file lacks this mirror (or its parent's): run the command in `reason`.
    Lock,
    Mirror,
    Build,
    Skip,
    /// A parent cannot be pinned yet.
    Blocked,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Lock => "lock",
            Action::Mirror => "mirror",
            Action::Build => "build",
            Action::Skip => "skip",
            Action::Blocked => "blocked",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub image: String,
    pub kind: &'static str,
    pub action: Action,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<Fingerprint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// Turns pins into steps, in the order given.
pub fn plan(
    catalog: &Catalog,
    pins: &IndexMap<String, Pin>,
    inventory: &dyn Inventory,
) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    for (name, pin) in pins {
        let image = &catalog.images[name];
        let kind = if image.as_mirror().is_some() {
            "mirror"
        } else {
            "build"
        };
        let step = |action, reason: String| Step {
            image: name.clone(),
            kind,
            action,
            reason,
            reference: None,
            fingerprint: None,
            fix: None,
        };
        let planned = match pin {
            Pin::Unpinned { why, fix } => Step {
                fix: Some(fix.clone()),
                ..step(
                    if image.as_mirror().is_some() {
                        Action::Lock
                    } else {
                        Action::Blocked
                    },
                    format!("{why}; run `{fix}`"),
                )
            },
            Pin::Mirror { digest, reference } => {
                let (action, reason) = match inventory.has_mirror(image, digest) {
                    Some(true) => (
                        Action::Skip,
                        format!("{} already in the private registry", digest.short()),
                    ),
                    Some(false) => (
                        Action::Mirror,
                        format!("{} not yet in the private registry", digest.short()),
                    ),
                    None => (
                        Action::Mirror,
                        format!("pinned to {}; registry not consulted", digest.short()),
                    ),
                };
                Step {
                    reference: Some(reference.clone()),
                    ..step(action, reason)
                }
            }
            Pin::Built(built) => {
                let parent_step = steps.iter().find(|s| s.image == built.parent.name);
                let parent_changes =
                    parent_step.is_some_and(|s| s.kind == "build" && s.action == Action::Build);
                let short = built.fingerprint.short();
                let (action, reason) = if parent_changes {
                    (
                        Action::Build,
                        format!("parent `{}` is rebuilt", built.parent.name),
                    )
                } else {
                    match inventory.has_build(image, &built.fingerprint) {
                        Some(true) => (Action::Skip, format!("fingerprint {short} already built")),
                        Some(false) => match inventory.current_fingerprint(image) {
                            Some(old) => (
                                Action::Build,
                                format!("fingerprint changed ({} → {short})", old.short()),
                            ),
                            None => (Action::Build, format!("fingerprint {short} never built")),
                        },
                        None => (
                            Action::Build,
                            format!("fingerprint {short}; registry not consulted"),
                        ),
                    }
                };
                Step {
                    reference: Some(built.reference.clone()),
                    fingerprint: Some(built.fingerprint.clone()),
                    ..step(action, reason)
                }
            }
        };
        steps.push(planned);
    }
    steps
}
