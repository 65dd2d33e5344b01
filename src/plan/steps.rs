//! The steps of a plan: for each pinned image, what a run would do with it (lock, mirror, build,
//! skip, or wait for a parent) and why, in build order.

use indexmap::IndexMap;
use serde::Serialize;

use super::{BuiltPin, Inventory, Pin};
use crate::catalog::{Catalog, Image};
use crate::fingerprint::Fingerprint;
use crate::reference::Digest;

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
        let mirror = image.as_mirror().is_some();
        let step = Step {
            image: name.clone(),
            kind: if mirror { "mirror" } else { "build" },
            action: Action::Build,
            reason: String::new(),
            reference: None,
            fingerprint: None,
            fix: None,
        };
        let planned = match pin {
            Pin::Unpinned { why, fix } => Step {
                action: if mirror {
                    Action::Lock
                } else {
                    Action::Blocked
                },
                reason: format!("{why}; run `{fix}`"),
                fix: Some(fix.clone()),
                ..step
            },
            Pin::Mirror { digest, reference } => {
                let (action, reason) = mirror_action(inventory.has_mirror(image, digest), digest);
                Step {
                    action,
                    reason,
                    reference: Some(reference.clone()),
                    ..step
                }
            }
            Pin::Built(built) => {
                let (action, reason) = build_action(image, built, &steps, inventory);
                Step {
                    action,
                    reason,
                    reference: Some(built.reference.clone()),
                    fingerprint: Some(built.fingerprint.clone()),
                    ..step
                }
            }
        };
        steps.push(planned);
    }
    steps
}

fn mirror_action(present: Option<bool>, digest: &Digest) -> (Action, String) {
    let short = digest.short();
    match present {
        Some(true) => (
            Action::Skip,
            format!("{short} already in the private registry"),
        ),
        Some(false) => (
            Action::Mirror,
            format!("{short} not yet in the private registry"),
        ),
        None => (
            Action::Mirror,
            format!("pinned to {short}; registry not consulted"),
        ),
    }
}

/// A built image is built when its parent is rebuilt (its fingerprint then covers a parent that does
/// not exist yet) or when its own fingerprint is not in the registry.
fn build_action(
    image: &Image,
    built: &BuiltPin,
    earlier: &[Step],
    inventory: &dyn Inventory,
) -> (Action, String) {
    let parent_step = earlier.iter().find(|s| s.image == built.parent.name);
    if parent_step.is_some_and(|s| s.kind == "build" && s.action == Action::Build) {
        return (
            Action::Build,
            format!("parent `{}` is rebuilt", built.parent.name),
        );
    }
    let short = built.fingerprint.short();
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
}
