//! Planning: what each selected image is (pinned digest, rendered Dockerfile, fingerprint) and what a
//! run would do with it (lock, mirror, build, skip) and why.
//!
//! Planning never changes anything. It reads the catalog, the lock file, templates and build contexts,
//! and asks an [`Inventory`] what already exists; execution is left to the commands that change the
//! world.

use indexmap::IndexMap;
use serde::Serialize;

use crate::catalog::{Catalog, Image, ImageKind};
use crate::context::{self, ContextError, Entry};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::fingerprint::{self, Fingerprint};
use crate::lock::{LockFile, LockStatus};
use crate::reference::Digest;
use crate::render::{ParentRef, Renderer, check_rendered};

/// What an image resolves to before anything runs.
#[derive(Debug, Clone)]
pub enum Pin {
    /// A mirror pinned by the lock file.
    Mirror { digest: Digest, reference: String },
    /// A built image whose inputs are all known.
    Built(Box<BuiltPin>),
    /// Not resolvable yet: `why` says what is missing, `fix` which command provides it.
    Unpinned { why: String, fix: String },
}

#[derive(Debug, Clone)]
pub struct BuiltPin {
    pub parent: ParentRef,
    pub dockerfile: String,
    pub context: Vec<Entry>,
    pub fingerprint: Fingerprint,
    /// The immutable tag: `<version>-<fingerprint12>`.
    pub immutable_tag: String,
    /// `<registry>/<repository>:<immutable tag>`.
    pub reference: String,
}

impl Pin {
    /// How a child refers to this image in `FROM`, and what identity goes into the child's fingerprint.
    fn as_parent(
        &self,
        name: &str,
        catalog: &Catalog,
        image: &Image,
    ) -> Option<(ParentRef, String)> {
        match self {
            Pin::Mirror { digest, reference } => Some((
                ParentRef {
                    name: name.to_string(),
                    reference: reference.clone(),
                    repository: catalog.private_repository(image),
                },
                digest.to_string(),
            )),
            Pin::Built(built) => Some((
                ParentRef {
                    name: name.to_string(),
                    reference: built.reference.clone(),
                    repository: catalog.private_repository(image),
                },
                built.fingerprint.to_string(),
            )),
            Pin::Unpinned { .. } => None,
        }
    }
}

/// How to treat a mirror the lock file does not cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unlocked {
    /// Leave it and everything built on it unpinned (plan, render, build).
    Unpin,
    /// Pretend a digest so templates and contexts can still be checked (validate on a fresh catalog).
    Placeholder,
}

const PLACEHOLDER_DIGEST: &str =
    "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// Resolves `selection` (which must hold every ancestor of its images, in build order, as
/// [`crate::graph::Graph::select`] returns it). Problems in templates or contexts are returned as
/// diagnostics, all of them at once.
pub fn resolve(
    catalog: &Catalog,
    lock: &LockFile,
    selection: &[String],
    unlocked: Unlocked,
) -> Result<IndexMap<String, Pin>, Diagnostics> {
    let renderer = Renderer::new(catalog);
    let mut pins: IndexMap<String, Pin> = IndexMap::new();
    let mut diagnostics = Diagnostics::default();
    for name in selection {
        let image = &catalog.images[name];
        let pin = match &image.kind {
            ImageKind::Mirror(_) => match (lock.status(image), unlocked) {
                (LockStatus::Fresh(entry), _) => Pin::Mirror {
                    digest: entry.mirror_digest().clone(),
                    reference: catalog.mirror_reference(image, entry.mirror_digest()),
                },
                (_, Unlocked::Placeholder) => {
                    let digest =
                        Digest::parse(PLACEHOLDER_DIGEST).expect("placeholder is a digest");
                    Pin::Mirror {
                        reference: catalog.mirror_reference(image, &digest),
                        digest,
                    }
                }
                (LockStatus::Missing, Unlocked::Unpin) => Pin::Unpinned {
                    why: "not in the lock file".into(),
                    fix: "baseimg lock".into(),
                },
                (LockStatus::Stale { why }, Unlocked::Unpin) => Pin::Unpinned {
                    why: format!("lock entry out of date: {why}"),
                    fix: format!("baseimg update {name}"),
                },
            },
            ImageKind::Build(build) => {
                let parent_image = &catalog.images[&build.parent];
                let parent_pin = pins
                    .get(&build.parent)
                    .expect("selection holds parents before children");
                match parent_pin.as_parent(&build.parent, catalog, parent_image) {
                    None => Pin::Unpinned {
                        why: format!("parent `{}` is not pinned", build.parent),
                        fix: match parent_pin {
                            Pin::Unpinned { fix, .. } => fix.clone(),
                            _ => "baseimg lock".into(),
                        },
                    },
                    Some((parent, identity)) => {
                        match resolve_build(catalog, &renderer, image, parent, &identity) {
                            Ok(built) => Pin::Built(Box::new(built)),
                            Err(found) => {
                                diagnostics.extend(found);
                                Pin::Unpinned {
                                    why: "the image has errors".into(),
                                    fix: "baseimg validate".into(),
                                }
                            }
                        }
                    }
                }
            }
        };
        pins.insert(name.clone(), pin);
    }
    if diagnostics.has_errors() {
        Err(diagnostics)
    } else {
        Ok(pins)
    }
}

fn resolve_build(
    catalog: &Catalog,
    renderer: &Renderer,
    image: &Image,
    parent: ParentRef,
    parent_identity: &str,
) -> Result<BuiltPin, Diagnostics> {
    let build = image
        .as_build()
        .expect("only built images are resolved here");
    let mut diagnostics = Diagnostics::default();
    let context_dir = catalog.root.join(&build.context);
    let context = match context::scan(catalog.root_dir(), &context_dir) {
        Ok(entries) => Some(entries),
        // An image without files of its own needs no context directory unless one was named.
        Err(ContextError::Missing(_)) if build.context_span.is_none() => Some(Vec::new()),
        Err(error) => {
            let mut diagnostic = Diagnostic::error(format!("{error} (image `{}`)", image.name))
                .at(catalog.locate(build.context_span.unwrap_or(image.span)))
                .image(&image.name);
            diagnostic = match error {
                ContextError::Missing(_) => diagnostic.help(format!(
                    "create `{}` or fix the `context:` path (it is relative to the catalog's directory)",
                    build.context.display()
                )),
                ContextError::OutsideRoot { .. } => diagnostic
                    .help("a build context must be a directory inside the repository that holds the catalog"),
                ContextError::EscapingLink { .. } => diagnostic
                    .help("copy the file into the context instead of linking to it; Docker would not follow the link"),
                _ => diagnostic,
            };
            diagnostics.push(diagnostic);
            None
        }
    };
    let dockerfile = match renderer.render(catalog, image, build, &parent) {
        Ok(text) => Some(text),
        Err(found) => {
            diagnostics.extend(found);
            None
        }
    };
    if let Some(dockerfile) = &dockerfile {
        diagnostics.extend(check_rendered(
            catalog,
            image,
            build,
            dockerfile,
            &parent,
            context.as_deref(),
        ));
    }
    let (Some(dockerfile), Some(context)) = (dockerfile, context) else {
        return Err(diagnostics);
    };
    if diagnostics.has_errors() {
        return Err(diagnostics);
    }
    // Every label known now, not only the catalog's: a new description or source must rebuild.
    let labels = crate::render::static_labels(catalog, image, build, &parent);
    let fingerprint = fingerprint::compute(&fingerprint::Inputs {
        dockerfile: &dockerfile,
        context: &context,
        build_args: &build.build_args,
        labels: &labels,
        target: build.target.as_deref(),
        platforms: &image.platforms,
        parent: (&parent.name, parent_identity),
    });
    let immutable_tag = format!("{}-{}", build.version, fingerprint.short());
    let reference = format!("{}:{immutable_tag}", catalog.private_repository(image));
    Ok(BuiltPin {
        parent,
        dockerfile,
        context,
        fingerprint,
        immutable_tag,
        reference,
    })
}

/// What exists already, so a plan can tell work from no-op. `None` means "not consulted".
pub trait Inventory {
    /// Whether the private registry holds this mirror digest.
    fn has_mirror(&self, image: &Image, digest: &Digest) -> Option<bool>;
    /// Whether an image with this fingerprint has been built (and pushed).
    fn has_build(&self, image: &Image, fingerprint: &Fingerprint) -> Option<bool>;
    /// The fingerprint the image's moving tag carries now, if any.
    fn current_fingerprint(&self, image: &Image) -> Option<Fingerprint>;
}

/// What the private registry holds, looked up before planning (see `sync::snapshot`).
#[derive(Debug, Default)]
pub struct Snapshot {
    pub mirrors: std::collections::HashMap<String, bool>,
    pub builds: std::collections::HashMap<String, bool>,
    pub previous: std::collections::HashMap<String, Fingerprint>,
}

impl Inventory for Snapshot {
    fn has_mirror(&self, image: &Image, _: &Digest) -> Option<bool> {
        self.mirrors.get(&image.name).copied()
    }
    fn has_build(&self, image: &Image, _: &Fingerprint) -> Option<bool> {
        self.builds.get(&image.name).copied()
    }
    fn current_fingerprint(&self, image: &Image) -> Option<Fingerprint> {
        self.previous.get(&image.name).cloned()
    }
}

/// An inventory that knows nothing: the plan then shows the work that may be needed.
pub struct Offline;

impl Inventory for Offline {
    fn has_mirror(&self, _: &Image, _: &Digest) -> Option<bool> {
        None
    }
    fn has_build(&self, _: &Image, _: &Fingerprint) -> Option<bool> {
        None
    }
    fn current_fingerprint(&self, _: &Image) -> Option<Fingerprint> {
        None
    }
}

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

/// The plan as an aligned table.
pub fn format_table(steps: &[Step]) -> String {
    let width = |f: &dyn Fn(&Step) -> usize, title: &str| {
        steps.iter().map(f).max().unwrap_or(0).max(title.len())
    };
    let image_width = width(&|s| s.image.chars().count(), "IMAGE");
    let action_width = width(&|s| s.action.as_str().len(), "ACTION");
    let reference_width = width(
        &|s| s.reference.as_deref().unwrap_or("-").chars().count(),
        "REFERENCE",
    );
    let mut out = format!(
        "{:image_width$}  {:action_width$}  {:reference_width$}  REASON\n",
        "IMAGE", "ACTION", "REFERENCE"
    );
    for step in steps {
        out.push_str(&format!(
            "{:image_width$}  {:action_width$}  {:reference_width$}  {}\n",
            step.image,
            step.action.as_str(),
            step.reference.as_deref().unwrap_or("-"),
            step.reason
        ));
    }
    out
}

/// One line saying what the plan amounts to.
pub fn summary(steps: &[Step]) -> String {
    let count = |action| steps.iter().filter(|s| s.action == action).count();
    let (lock, mirror, build, skip, blocked) = (
        count(Action::Lock),
        count(Action::Mirror),
        count(Action::Build),
        count(Action::Skip),
        count(Action::Blocked),
    );
    let mut parts = vec![
        format!("{mirror} to mirror"),
        format!("{build} to build"),
        format!("{skip} up to date"),
    ];
    if lock + blocked > 0 {
        parts.push(format!("{} waiting for `baseimg lock`", lock + blocked));
    }
    format!("{} images: {}", steps.len(), parts.join(", "))
}
