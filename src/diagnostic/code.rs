//! The name of every problem baseimg reports: `catalog::unknown-key`, `lock::not-pinned`, …
//!
//! A code is `<domain>::<kebab-name>`, the domain being the part of baseimg the problem belongs to.
//! It is shown in the headline (`error[catalog::unknown-key]: …`, as rustc shows `error[E0425]`),
//! carried in `--output json` as `code`, and listed with one line each in `docs/diagnostics.md`, so
//! a CI job can match on it and a user can look it up. A code names one problem: it is written at one
//! place of `src/` (its constructor), and a problem met at several places shares that constructor.
//!
//! The table below is the only list of codes. The tests at the end keep it honest: every code
//! unique, named after its variant, documented with the same severity and words, and constructed at
//! exactly one place.

use std::fmt;

use serde::{Serialize, Serializer};

use super::Severity;

macro_rules! codes {
    ($($variant:ident = $name:literal, $severity:ident, $doc:literal;)*) => {
        /// Every problem baseimg reports, with its default severity and one line of documentation.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $($variant,)*
        }

        impl Code {
            /// Every code, in the order of the table.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// `domain::kebab-name`, as shown and as JSON carries it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $name,)*
                }
            }

            /// The severity a diagnostic with this code has unless its constructor says otherwise.
            pub fn severity(self) -> Severity {
                match self {
                    $(Code::$variant => Severity::$severity,)*
                }
            }

            /// What the problem means and what to do, in one line.
            pub fn doc(self) -> &'static str {
                match self {
                    $(Code::$variant => $doc,)*
                }
            }

            /// The variant's name in the source, for the test that finds where each code is built.
            #[cfg(test)]
            fn variant(self) -> &'static str {
                match self {
                    $(Code::$variant => stringify!($variant),)*
                }
            }
        }
    };
}

codes! {
    // The catalog file and the meaning of what it says.
    CatalogNotFound = "catalog::not-found", Error, "no catalog where baseimg looked: run it in the directory that holds `base-images.yaml`, or name the file with `-f PATH`";
    CatalogUnreadable = "catalog::unreadable", Error, "the catalog may not be read: a symlink out of its directory, not a regular file, too large, not UTF-8, or not readable";
    CatalogEmptyFile = "catalog::empty-file", Error, "the catalog file is empty: start it with `registry:` and an `images:` mapping";
    CatalogSyntax = "catalog::syntax", Error, "the catalog is not valid YAML at the place shown";
    CatalogTooLarge = "catalog::too-large", Error, "the catalog is too large or too deeply nested to read, most often anchors repeated by aliases";
    CatalogUnknownKey = "catalog::unknown-key", Error, "a key the catalog does not know at that place (often a typo): the note lists the allowed keys";
    CatalogDuplicateKey = "catalog::duplicate-key", Error, "a key written twice in one mapping: remove or rename one";
    CatalogMissingKey = "catalog::missing-key", Error, "a mapping lacks a key it needs: add it";
    CatalogWrongType = "catalog::wrong-type", Error, "a value of the wrong type (a list where one value belongs, a word where a number does): see the catalog reference in README";
    CatalogUnsupportedVersion = "catalog::unsupported-version", Error, "the catalog's `version:` is not one this baseimg reads";
    CatalogNoRegistry = "catalog::no-registry", Error, "the catalog names no private registry: add `registry: host[:port]/namespace`, or pass `--registry`";
    CatalogInvalidRegistry = "catalog::invalid-registry", Error, "the catalog's `registry:` is not `host[:port]/namespace` (a URL scheme, a tag, a bad namespace, too long)";
    CatalogInvalidRegistryOption = "catalog::invalid-registry-option", Error, "the registry given by `--registry` or `BASEIMG_REGISTRY` is not `host[:port]/namespace`";
    CatalogInvalidBuilderHost = "catalog::invalid-builder-host", Error, "a `builders:` host is no Docker endpoint baseimg speaks to: write `unix://`, `tcp://` or `ssh://` addresses";
    CatalogBuilderListedTwice = "catalog::builder-listed-twice", Error, "a daemon is listed twice under `builders:`: give it more `jobs:` instead";
    CatalogBuilderWithoutJobs = "catalog::builder-without-jobs", Error, "a builder has `jobs: 0`: leave it out of `builders:` to not use it";
    CatalogUnknownBuilder = "catalog::unknown-builder", Error, "`defaults: { builder: … }` is none of `auto`, `buildkit`, `classic`";
    CatalogNoImages = "catalog::no-images", Warning, "the catalog has no images: add mirrors and built images under `images:`";
    CatalogInvalidImageName = "catalog::invalid-image-name", Error, "an image name is not a valid repository name, which it is by default";
    CatalogInvalidRepository = "catalog::invalid-repository", Error, "an image's `repository:` is not `/`-separated lowercase names";
    CatalogRepositoryTooLong = "catalog::repository-too-long", Error, "registry and repository together are longer than the 255 characters registries accept";
    CatalogInvalidPlatform = "catalog::invalid-platform", Error, "a platform is not `os/arch` or `os/arch/variant`, like `linux/arm64`";
    CatalogPlatformNotInParent = "catalog::platform-not-in-parent", Error, "a built image names a platform its parent does not have: add it to the parent, or drop it";
    CatalogMirrorAndFrom = "catalog::mirror-and-from", Error, "an image has both `mirror:` and `from:`: it either copies an upstream image or is built from a catalog image";
    CatalogNeitherMirrorNorFrom = "catalog::neither-mirror-nor-from", Error, "an image has neither `mirror:` nor `from:`: add one";
    CatalogMalformedReference = "catalog::malformed-reference", Error, "a mirror's upstream reference is not one `docker pull` accepts";
    CatalogReferenceWithoutTag = "catalog::reference-without-tag", Error, "a mirror's upstream reference has neither tag nor digest: pin an exact version tag";
    CatalogFollowsLatest = "catalog::follows-latest", Warning, "a mirror follows `latest`, which moves with every upstream release: mirror an exact version tag";
    CatalogBuildKeyOnMirror = "catalog::build-key-on-mirror", Error, "a key only a built image uses (`template`, `tags`, …) is written on a mirror, which is copied as it is";
    CatalogSecretsOnMirror = "catalog::secrets-on-mirror", Error, "a mirror has `secrets:`, which only a build reads";
    CatalogInvalidCooldown = "catalog::invalid-cooldown", Error, "a `cooldown:` is not an age such as `3d`, `12h` or `0`";
    CatalogCooldownOnBuiltImage = "catalog::cooldown-on-built-image", Error, "a built image has `cooldown:`, which only delays adopting upstream digests: put it on the mirror";
    CatalogBuiltFromItself = "catalog::built-from-itself", Error, "an image names itself as `from:`";
    CatalogUnknownParent = "catalog::unknown-parent", Error, "`from:` names no image of the catalog: an upstream image must be added as a mirror first";
    CatalogUnknownImage = "catalog::unknown-image", Error, "a command was given an image name the catalog does not have (the help names the close one)";
    CatalogInvalidTag = "catalog::invalid-tag", Error, "a tag is not one Docker accepts";
    CatalogInvalidVersion = "catalog::invalid-version", Error, "`version:` cannot be used in a tag: letters, digits, `_`, `.` and `-`";
    CatalogDuplicateTag = "catalog::duplicate-tag", Error, "two images claim the same tag of one repository, so one push would replace the other";
    CatalogReservedVariable = "catalog::reserved-variable", Error, "a template variable uses a name baseimg fills in itself (`from`, `image`, …): rename it";
    CatalogLabelNotOneLine = "catalog::label-not-one-line", Error, "a label (or a built image's description, which becomes one) holds a line break or control character, which a Dockerfile `LABEL` cannot carry";
    CatalogCredentialInBuildArg = "catalog::credential-in-build-arg", Warning, "a build argument looks like a credential, which the classic builder writes into the image history: make it a build secret";
    CatalogInvalidSecretId = "catalog::invalid-secret-id", Error, "a secret id is not `[A-Za-z0-9_.-]+`, as BuildKit needs";
    CatalogSecretWithEnvAndFile = "catalog::secret-with-env-and-file", Error, "a secret has both `env:` and `file:`: keep one";
    CatalogSecretWithoutSource = "catalog::secret-without-source", Error, "a secret has neither `env:` nor `file:`: say where its value is";
    CatalogSecretEnvEmpty = "catalog::secret-env-empty", Error, "a secret's `env:` is empty: name the environment variable that holds the value";
    CatalogUnusableSecretFile = "catalog::unusable-secret-file", Error, "a secret's `file:` cannot be used (empty, or `~` without a home directory)";
    CatalogInvalidEnvName = "catalog::invalid-env-name", Error, "an environment variable name (of `run.env` or a secret's `env:`) is not letters, digits and `_`";
    CatalogInvalidPort = "catalog::invalid-port", Error, "a `run.ports` entry is not `[ip:]host:container[/tcp|udp]`";
    CatalogInvalidVolume = "catalog::invalid-volume", Error, "a `run.volumes` entry is not `name:/path`, `./dir:/path` or `/dir:/path`";
    CatalogMissingVolumeDirectory = "catalog::missing-volume-directory", Error, "a directory mounted by `run.volumes` does not exist: create it, or mount a named volume";
    CatalogInvalidContainerName = "catalog::invalid-container-name", Error, "`run.name` is not a container name Docker accepts";
    CatalogEmptyReadyCommand = "catalog::empty-ready-command", Error, "`run.ready` is empty: give a command that succeeds once the service answers, or leave it out";
    CatalogInvalidRunUrl = "catalog::invalid-run-url", Error, "`run.url` does not render: it sees `env`, `host` and `port(<container port>)`";
    CatalogInvalidCheckTimeout = "catalog::invalid-check-timeout", Error, "a check's `timeout:` is not a number of seconds or minutes, like `30s`";
    CatalogEmptyCheckCommand = "catalog::empty-check-command", Error, "a check's `run:` is empty";

    // The lock file.
    LockUnreadable = "lock::unreadable", Error, "the lock file may not be read: a symlink out of its directory, not a regular file, too large, not UTF-8, or not readable";
    LockEmptyFile = "lock::empty-file", Error, "the lock file is empty: restore it from version control, or let `baseimg lock` write it";
    LockSyntax = "lock::syntax", Error, "the lock file is not valid YAML at the place shown: restore it, or let `baseimg update` rewrite it";
    LockTooLarge = "lock::too-large", Error, "the lock file is too large or too deeply nested to read";
    LockUnknownKey = "lock::unknown-key", Error, "a key the lock file does not have: it is written by baseimg, restore it or run `baseimg update`";
    LockDuplicateKey = "lock::duplicate-key", Error, "a key written twice in the lock file: restore it, or run `baseimg update`";
    LockMissingKey = "lock::missing-key", Error, "the lock file lacks a key it needs: restore it, or run `baseimg update`";
    LockWrongType = "lock::wrong-type", Error, "a value of the wrong type in the lock file: restore it, or run `baseimg update`";
    LockUnsupportedVersion = "lock::unsupported-version", Error, "the lock file's `version:` is not one this baseimg reads";
    LockMalformedEntry = "lock::malformed-entry", Error, "a lock entry's source, digest or mirror is malformed: restore the file, or run `baseimg update`";
    LockNotPinned = "lock::not-pinned", Error, "a mirror has no lock entry (a warning for `validate`): run `baseimg lock`";
    LockOutOfDate = "lock::out-of-date", Error, "a mirror's lock entry no longer matches the catalog (a warning for `validate`): run `baseimg update IMAGE`";
    LockUnusedEntry = "lock::unused-entry", Warning, "the lock file pins an image that is no mirror of the catalog: `baseimg lock` drops it";
    LockNotAMirror = "lock::not-a-mirror", Error, "`baseimg update` was given a built image: only mirrors have lock entries";

    // The graph of images.
    GraphDependencyCycle = "graph::dependency-cycle", Error, "images are built from each other in a circle, so none can be built first: change one `from:`";

    // Build contexts.
    ContextMissing = "context::missing", Error, "an image's build context directory does not exist: create it, or fix `context:`";
    ContextNotADirectory = "context::not-a-directory", Error, "an image's build context is not a directory";
    ContextOutsideRepository = "context::outside-repository", Error, "a build context lies outside the repository that holds the catalog";
    ContextEscapingLink = "context::escaping-link", Error, "a symlink in a build context points outside it: copy the file in instead";
    ContextSpecialFile = "context::special-file", Error, "a build context holds a FIFO, socket or device: remove it, or exclude it in `.dockerignore`";
    ContextInvalidIgnorePattern = "context::invalid-ignore-pattern", Error, "a `.dockerignore` pattern cannot be read";
    ContextUnreadable = "context::unreadable", Error, "a file or directory of a build context cannot be read";

    // Plans: what each image needs.
    PlanUnpinnedMirror = "plan::unpinned-mirror", Error, "a mirror the selected images need is not pinned, or its pin is out of date: run the command the help names";

    // Templates and the Dockerfiles they render.
    RenderTemplateOutsideDirectory = "render::template-outside-directory", Error, "`template:` is not a path inside the templates directory (a leading `/`, or `..`)";
    RenderMissingTemplate = "render::missing-template", Error, "an image's template does not exist (the help names the close one)";
    RenderUnreadableTemplate = "render::unreadable-template", Error, "an image's template may not be read: a symlink out of the repository, not a regular file, too large";
    RenderUnreadableInclude = "render::unreadable-include", Error, "a template includes a file that may not be read: a symlink out of the repository, not a regular file, too large";
    RenderMissingInclude = "render::missing-include", Error, "a template includes a template that does not exist";
    RenderSyntaxError = "render::syntax-error", Error, "a template is not valid minijinja (Jinja2) syntax";
    RenderUndefinedVariable = "render::undefined-variable", Error, "a template uses a variable it does not see: define it under `vars:` (the help names the close one)";
    RenderFailed = "render::failed", Error, "a template failed to render at the place shown (a filter refused a value, say)";
    RenderNoFrom = "render::no-from", Error, "a rendered Dockerfile has no `FROM` line: start the template with `FROM {{ from }}`";
    RenderUnpinnedFrom = "render::unpinned-from", Error, "a `FROM` does not use the pinned parent: write `FROM {{ from }}`";
    RenderCopyFromOutside = "render::copy-from-outside", Error, "`COPY --from` names neither an earlier stage nor an image pinned by digest in the private registry";
    RenderMissingCopySource = "render::missing-copy-source", Error, "a `COPY`/`ADD` source is not in the build context (or `.dockerignore` leaves it out)";

    // Registries.
    RegistryUnreachable = "registry::unreachable", Error, "a registry did not answer at all: is it running, and is that its address?";
    RegistryTransport = "registry::transport", Error, "the connection to a registry failed or broke off, after retries";
    RegistryRefused = "registry::refused", Error, "a registry answered a request with an error status (the message has its words)";
    RegistryUnauthorized = "registry::unauthorized", Error, "a registry refused the credentials, or there were none: `docker login`";
    RegistryBadAnswer = "registry::bad-answer", Error, "a registry's answer lacked what the protocol promises (a digest header, an upload location, a token)";
    RegistryContentMismatch = "registry::content-mismatch", Error, "a registry served or stored other content than its digest names; nothing was trusted";

    // Upstream images.
    UpstreamNotFound = "upstream::not-found", Error, "an upstream reference does not exist: the tag may be misspelt, or removed upstream";
    UpstreamUnusable = "upstream::unusable", Error, "what upstream answered for a reference cannot be pinned (an invalid manifest or index, a bad digest)";

    // Mirroring.
    MirrorPullBudget = "mirror::pull-budget", Error, "an upstream registry's pull budget is smaller than the copy needs; nothing was copied";
    MirrorCorruptBlob = "mirror::corrupt-blob", Error, "upstream served the same wrong bytes for a blob on every attempt";
    MirrorShortBlob = "mirror::short-blob", Error, "a blob download kept breaking off: run `baseimg mirror` again later";
    MirrorFailed = "mirror::failed", Error, "copying an image into the private registry failed (the message says why)";

    // The Docker daemon.
    DockerUnreachable = "docker::unreachable", Error, "the Docker daemon does not answer at its address: start it, or check `DOCKER_HOST`";
    DockerPushFailed = "docker::push-failed", Error, "the daemon could not push to the private registry: check its credentials (`docker login`)";
    DockerFailed = "docker::failed", Error, "the Docker daemon refused or failed a request (its own message is shown)";

    // Building images.
    BuildSeveralBuildersNeedPush = "build::several-builders-need-push", Error, "several builders hand images to each other through the private registry: add `--push`";
    BuildBuilderUnreachable = "build::builder-unreachable", Error, "the one builder daemon does not answer";
    BuildNoBuilderAnswers = "build::no-builder-answers", Error, "none of the builder daemons answers";
    BuildSecretsNeedBuildkit = "build::secrets-need-buildkit", Error, "an image with build secrets would be built by the classic builder, which cannot keep them out of the image";
    BuildPlatformsNeedBuildkit = "build::platforms-need-buildkit", Error, "an image for several platforms would be built by the classic builder, which builds one";
    BuildRunFlagsNeedBuildkit = "build::run-flags-need-buildkit", Error, "a Dockerfile uses `RUN` flags (`--mount=…`) the classic builder cannot run";
    BuildMirrorNotCopied = "build::mirror-not-copied", Error, "a mirror a build reads is not in the private registry yet: run `baseimg mirror`";
    BuildUnfinishedPromotion = "build::unfinished-promotion", Warning, "an earlier run stopped while moving tags: the next `build --push` or `refresh` completes it";
    BuildUnreadableJournal = "build::unreadable-journal", Error, "the record of an unfinished promotion cannot be read (a warning until a build would move tags)";
    BuildDirtyTree = "build::dirty-tree", Warning, "images were labelled from a working tree with uncommitted changes";
    BuildCheckFailed = "build::check-failed", Error, "a built image failed its checks: it was not pushed and no tag moved";
    BuildFailed = "build::failed", Error, "an image could not be built (the message says why)";
    BuildBuilderLeftOut = "build::builder-left-out", Note, "one of several builder daemons does not answer: the run goes on without it";
    BuildBuilderLost = "build::builder-lost", Note, "a builder daemon stopped answering mid-build: the image is built again on another";
    BuildClassicFallback = "build::classic-fallback", Note, "BuildKit is not available on a daemon, so the classic builder builds there (`--builder buildkit` makes this an error)";

    // Releases in the private registry.
    HistoryNotBuilt = "history::not-built", Error, "a mirror was named where a built image is needed: only built images have releases";
    HistoryUnknownRelease = "history::unknown-release", Error, "`rollback --to` names no release of the image: the help lists them";
    HistoryNoEarlierRelease = "history::no-earlier-release", Error, "the image has no release before the one its moving tags point at";

    // The nightly refresh.
    RefreshNotAMirror = "refresh::not-a-mirror", Error, "`refresh --adopt` was given a built image: only mirrors adopt upstream digests";

    // Services.
    ServiceNoRunSettings = "service::no-run-settings", Error, "an image without `run:` was named as a service: add `run:` to it";
    ServiceSharedHostPort = "service::shared-host-port", Error, "two services of one run publish the same host port; nothing was started";
    ServiceNotInDaemon = "service::not-in-daemon", Error, "`run --local` found no image in the local daemon: build it first";
    ServiceNotInRegistry = "service::not-in-registry", Error, "the image to run is not in the private registry: `baseimg build --push`, or `--local`";
    ServiceNoContainer = "service::no-container", Error, "the service has no container of this catalog: start it with `baseimg run`";
    ServiceForeignContainer = "service::foreign-container", Error, "a container baseimg did not start holds the service's name: remove it, or set `run.name`";
    ServiceForeignVolume = "service::foreign-volume", Error, "a volume baseimg did not create holds the name of the service's volume";
    ServicePortTaken = "service::port-taken", Error, "a host port of the service is taken by something else";
    ServiceNotReady = "service::not-ready", Error, "the service did not become ready in time: its log lines say what it is doing";
    ServiceExited = "service::exited", Error, "the service's container exited before it was ready";

    // Smoke checks.
    SmokeNoChecks = "smoke::no-checks", Error, "`baseimg check` was given an image without `checks:`";
    SmokeInterrupted = "smoke::interrupted", Error, "the checks were interrupted; their containers were removed";
    SmokeFailed = "smoke::failed", Error, "a check failed (the message says which and how)";

    // The run lock.
    RunLockBusy = "run-lock::busy", Error, "another baseimg run is working on this catalog: wait for it, or run again without `--no-wait`";
    RunLockUnusable = "run-lock::unusable", Error, "the catalog's run lock file cannot be locked";
    RunLockWaiting = "run-lock::waiting", Note, "another baseimg run holds the catalog: this one waits for it (`--no-wait` stops instead)";

    // Credentials.
    CredentialsUnusableConfig = "credentials::unusable-config", Warning, "the Docker configuration cannot be used; registries are reached without credentials";

    // Files baseimg writes, and the command line.
    FsIoError = "fs::io-error", Error, "a file or directory baseimg needs could not be created, written or removed (the message says which and why)";
    InitFilesExist = "init::files-exist", Error, "`baseimg init` would overwrite files: run it in an empty directory";
    CliManPageFailed = "cli::man-page-failed", Error, "the manual page could not be written";
    CliNoRuntime = "cli::no-runtime", Error, "the async runtime could not be started";
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashSet};
    use std::path::{Path, PathBuf};

    use super::*;

    const DOCS: &str = "docs/diagnostics.md";
    const BEGIN: &str = "<!-- codes: generated from src/diagnostic/code.rs; BLESS=1 rewrites -->";
    const END: &str = "<!-- end of codes -->";

    fn root() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR"))
    }

    fn severity_word(severity: Severity) -> &'static str {
        match severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }

    /// The documentation's list: a table per domain, one row per code.
    fn documented_list() -> String {
        let mut text = String::new();
        let mut domain = "";
        for code in Code::ALL {
            let (this, _) = code.as_str().split_once("::").expect("checked below");
            if this != domain {
                domain = this;
                text.push_str(&format!(
                    "\n## {domain}\n\n| code | severity | what it means, what to do |\n| --- | --- | --- |\n"
                ));
            }
            text.push_str(&format!(
                "| `{}` | {} | {} |\n",
                code.as_str(),
                severity_word(code.severity()),
                code.doc().replace('|', "\\|")
            ));
        }
        text
    }

    #[test]
    fn codes_are_unique_and_named_after_their_variants() {
        let mut seen = HashSet::new();
        for code in Code::ALL {
            let name = code.as_str();
            assert!(seen.insert(name), "two diagnostics share the code `{name}`");
            let (domain, problem) = name
                .split_once("::")
                .unwrap_or_else(|| panic!("`{name}` is not `domain::name`"));
            let kebab = |part: &str| {
                !part.is_empty()
                    && !part.starts_with('-')
                    && !part.ends_with('-')
                    && !part.contains("--")
                    && part.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
            };
            assert!(
                kebab(domain) && kebab(problem),
                "`{name}` is not kebab-case"
            );
            let pascal: String = name
                .split([':', '-'])
                .filter(|w| !w.is_empty())
                .map(|w| w[..1].to_uppercase() + &w[1..])
                .collect();
            assert_eq!(pascal, code.variant(), "the variant of `{name}`");
            assert!(
                !code.doc().is_empty() && !code.doc().contains('\n'),
                "`{name}` needs one line of documentation"
            );
        }
    }

    /// `docs/diagnostics.md` lists every code, and only those, with the table's severity and words.
    #[test]
    fn every_code_is_documented_and_every_documented_code_exists() {
        let path = root().join(DOCS);
        let docs = std::fs::read_to_string(&path).unwrap_or_default();
        let generated = documented_list();
        if std::env::var_os("BLESS").is_some() {
            let (before, rest) = docs.split_once(BEGIN).expect("the docs mark the list");
            let (_, after) = rest.split_once(END).expect("the docs mark the list's end");
            let text = format!("{before}{BEGIN}\n{generated}\n{END}{after}");
            std::fs::write(&path, text).unwrap();
            return;
        }
        let rows = |text: &str| -> BTreeMap<String, String> {
            text.lines()
                .filter_map(|line| line.strip_prefix("| `"))
                .filter_map(|row| row.split_once("` | "))
                .map(|(code, rest)| (code.to_string(), rest.to_string()))
                .collect()
        };
        let documented = rows(&docs);
        let expected = rows(&generated);
        let missing: Vec<&String> = expected
            .keys()
            .filter(|c| !documented.contains_key(*c))
            .collect();
        let unknown: Vec<&String> = documented
            .keys()
            .filter(|c| !expected.contains_key(*c))
            .collect();
        assert!(
            missing.is_empty(),
            "codes without an entry in {DOCS}: {missing:?} (BLESS=1 rewrites the list)"
        );
        assert!(
            unknown.is_empty(),
            "{DOCS} lists codes that do not exist: {unknown:?} (BLESS=1 rewrites the list)"
        );
        for (code, line) in &expected {
            assert_eq!(
                &documented[code], line,
                "the entry of `{code}` in {DOCS} differs from src/diagnostic/code.rs (BLESS=1 rewrites the list)"
            );
        }
    }

    /// Every `.rs` file under `dir`.
    fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }

    /// A code names one problem, so it is built at one place of `src/` (tests aside): a problem met at
    /// several places shares one constructor. A code built nowhere is a stale entry.
    #[test]
    fn every_code_is_constructed_at_exactly_one_place() {
        let mut files = Vec::new();
        sources(&root().join("src"), &mut files);
        let this = root().join("src/diagnostic/code.rs");
        let mut places: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for file in files.iter().filter(|f| **f != this) {
            let text = std::fs::read_to_string(file).unwrap();
            // Unit tests close a file, after `#[cfg(test)]`; what they build is no constructor.
            let code = text
                .split("\n#[cfg(test)]\nmod tests")
                .next()
                .unwrap_or_default();
            let shown = file
                .strip_prefix(root())
                .unwrap_or(file)
                .display()
                .to_string();
            for (at, _) in code.match_indices("Code::") {
                // `StatusCode::…`, `ExitCode::…` are other types.
                if code[..at]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_')
                {
                    continue;
                }
                let name: String = code[at + "Code::".len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                let line = code[..at].matches('\n').count() + 1;
                places
                    .entry(
                        Code::ALL
                            .iter()
                            .map(|c| c.variant())
                            .find(|v| *v == name)
                            .unwrap_or("?"),
                    )
                    .or_default()
                    .push(format!("{shown}:{line} ({name})"));
            }
        }
        if let Some(unknown) = places.get("?") {
            panic!("`Code::` names that are no code: {unknown:?}");
        }
        for code in Code::ALL {
            match places
                .get(code.variant())
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                [_] => {}
                [] => panic!("`{code}` is constructed nowhere in src/: remove it, or use it"),
                many => panic!(
                    "`{code}` is constructed at {} places, {many:?}: a code names one problem, give it one constructor",
                    many.len()
                ),
            }
        }
    }
}
