//! Planning: what each selected image is (pinned digest, rendered Dockerfile, fingerprint) and what a
//! run would do with it (lock, mirror, build, skip) and why.
//!
//! Planning never changes anything. It reads the catalog, the lock file, templates and build contexts,
//! and asks an [`Inventory`] what already exists; execution is left to the commands that change the
//! world.

mod inventory;
mod steps;

pub use inventory::{Inventory, Offline, Snapshot};
pub use steps::{Action, Step, plan};

use indexmap::IndexMap;

use crate::catalog::{Catalog, Image, ImageKind};
use crate::context::{self, ContextError, Entry};
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
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

/// A mirror the selection needs that is [`Pin::Unpinned`] (`why` says how), for the commands that stop
/// on it; the caller says what to run.
pub fn unpinned_mirror(image: &str, why: &str) -> Diagnostic {
    Diagnostic::new(
        Code::PlanUnpinnedMirror,
        format!("`{image}` is not pinned: {why}"),
    )
    .image(image)
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
            ImageKind::Recipe(build) => {
                let parent_image = &catalog.images[&build.parent];
                let parent_pin = pins
                    .get(&build.parent)
                    .expect("selection holds parents before children");
                match parent_pin.as_parent(&build.parent, catalog, parent_image) {
                    None => Pin::Unpinned {
                        why: blocked_by(lock, &build.parent, parent_image, parent_pin),
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

/// Why a built image cannot be pinned, in terms of its parent `name`: a mirror the lock file does
/// not cover (or covers for another reference), or a built image that is blocked itself, with its
/// own reason after it, down to the mirror that holds the chain back. Only a mirror is "locked":
/// a built parent is built, so saying that it "is not pinned" would send the reader to the wrong
/// image.
fn blocked_by(lock: &LockFile, name: &str, parent: &Image, pin: &Pin) -> String {
    let why = match pin {
        Pin::Unpinned { why, .. } => why.as_str(),
        _ => "",
    };
    match (&parent.kind, lock.status(parent)) {
        (ImageKind::Mirror(_), LockStatus::Missing) => {
            format!("its parent `{name}` is not in the lock file")
        }
        (ImageKind::Mirror(_), LockStatus::Stale { why }) => {
            format!("the lock entry of its parent `{name}` is out of date: {why}")
        }
        (ImageKind::Mirror(_), LockStatus::Fresh(_)) => {
            format!("its parent `{name}` is not locked: {why}")
        }
        (ImageKind::Recipe(_), _) => format!("its parent `{name}` cannot be built: {why}"),
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
            let code = match error {
                ContextError::Missing(_) => Code::ContextMissing,
                ContextError::NotADirectory(_) => Code::ContextNotADirectory,
                ContextError::OutsideRoot { .. } => Code::ContextOutsideRepository,
                ContextError::EscapingLink { .. } => Code::ContextEscapingLink,
                ContextError::Special { .. } => Code::ContextSpecialFile,
                ContextError::BadIgnorePattern { .. } => Code::ContextInvalidIgnorePattern,
                ContextError::Io { .. } => Code::ContextUnreadable,
            };
            let mut diagnostic = Diagnostic::new(code, format!("{error} (image `{}`)", image.name))
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
                ContextError::Special { .. } => diagnostic
                    .help("remove it from the context, or exclude it in `.dockerignore`"),
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
        secrets: &build.secrets,
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
