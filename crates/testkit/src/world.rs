//! The world a test builds on: an empty private registry, a local "upstream" registry playing Docker
//! Hub, and a repository in a temporary directory where baseimg runs. [`World::example`] is the
//! repository's own catalog, templates and build files in a temporary copy, `docker.io` pointed at
//! the upstream registry holding the realistic fixture images (see [`super::realistic`]);
//! [`World::new`] an empty repository whose catalog the test writes. A world may also keep a Docker
//! client configuration of its own and put a counting, fault-injecting proxy in front of either
//! registry. Everything the world's runs leave in the Docker daemon (containers, images of its
//! registries, volumes and check containers of its catalog) is removed when it is dropped, even when
//! the test failed.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::harness::Test;
use super::proxy::Proxy;
use super::realistic::{example_upstream, two_platform_upstream};
use super::registry::Registry;

pub struct World {
    pub upstream: Registry,
    pub private: Registry,
    /// When set, the test's catalog names upstream through this proxy, which counts requests and
    /// misbehaves on demand.
    upstream_proxy: Option<Proxy>,
    /// When set, baseimg (and the daemon's pushes) reach the private registry through this proxy,
    /// which counts what crosses the wire.
    private_proxy: Option<Proxy>,
    pub repo: tempfile::TempDir,
    /// The Docker client configuration directory every run uses, when the world has its own.
    docker_config: Option<PathBuf>,
    /// Whether runs name the private registry with `--registry` (the example catalog names none).
    registry_option: bool,
    /// What every run of [`World::baseimg`] starts with: plain progress, and the jobs when set.
    options: Vec<String>,
    /// Image → the immutable tag its last build left in the local daemon.
    built: RefCell<HashMap<String, String>>,
}

impl World {
    /// Two empty registries and an empty repository; runs show plain progress.
    pub fn new() -> World {
        World::with_private(Registry::start())
    }

    /// The same with this private registry (one that wants credentials, say).
    pub fn with_private(private: Registry) -> World {
        World::with_registries(Registry::start(), private)
    }

    fn with_registries(upstream: Registry, private: Registry) -> World {
        World {
            upstream,
            private,
            upstream_proxy: None,
            private_proxy: None,
            repo: tempfile::tempdir().unwrap(),
            docker_config: None,
            registry_option: false,
            options: vec!["--progress".into(), "plain".into()],
            built: RefCell::default(),
        }
    }

    /// The example catalog, its upstream images the realistic fixtures; runs name the private
    /// registry with `--registry` and take two jobs.
    pub fn example() -> World {
        World::example_on(example_upstream())
    }

    /// The example world with redis and postgres upstream as two-platform images (see
    /// [`super::realistic::seed_two_platform_upstream`]).
    pub fn two_platform_example() -> World {
        World::example_on(two_platform_upstream())
    }

    fn example_on(upstream: Registry) -> World {
        let mut world = World::with_registries(upstream, Registry::start()).with_jobs(2);
        world.registry_option = true;
        let repo = super::example_copy();
        // Lock afresh: the test lock file pins digests of images that are not in this upstream.
        std::fs::remove_file(repo.path().join("base-images.lock")).unwrap();
        world.repo = repo;
        let upstream_host = world.upstream.host.clone();
        world.edit_catalog(|catalog| {
            catalog.replace("docker.io/library/", &format!("{upstream_host}/library/"))
        });
        world
    }

    /// Runs take `jobs` jobs (`--jobs`).
    pub fn with_jobs(mut self, jobs: u32) -> World {
        self.options.extend(["--jobs".into(), jobs.to_string()]);
        self
    }

    /// Runs use a Docker client configuration of the world's own, `.docker/config.json` in the
    /// repository, empty until [`World::docker_config`] writes credentials into it.
    pub fn with_docker_config(mut self) -> World {
        let dir = self.repo.path().join(".docker");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("config.json"), "{}").unwrap();
        self.docker_config = Some(dir);
        self
    }

    /// A counting proxy in front of the upstream registry, for the test's catalog to name (see
    /// [`World::upstream_proxy`]).
    pub fn with_upstream_proxy(mut self) -> World {
        self.upstream_proxy = Some(Proxy::start(&self.upstream.host));
        self
    }

    /// A counting proxy in front of the private registry, through which runs reach it.
    pub fn with_private_proxy(mut self) -> World {
        self.private_proxy = Some(Proxy::start(&self.private.host));
        self
    }

    /// The proxy in front of the upstream registry; the world must have one.
    pub fn upstream_proxy(&self) -> &Proxy {
        self.upstream_proxy
            .as_ref()
            .expect("the world has a proxy in front of upstream (World::with_upstream_proxy)")
    }

    /// The proxy in front of the private registry; the world must have one.
    pub fn private_proxy(&self) -> &Proxy {
        self.private_proxy.as_ref().expect(
            "the world has a proxy in front of the private registry (World::with_private_proxy)",
        )
    }

    /// The private registry's address as baseimg is told it: the proxy's, when there is one.
    pub fn private_host(&self) -> String {
        match &self.private_proxy {
            Some(proxy) => proxy.host.clone(),
            None => self.private.host.clone(),
        }
    }

    /// Writes credentials for the private registry into the world's Docker configuration, as
    /// `docker login` would.
    pub fn docker_config(&self, user: &str, password: &str) {
        let dir = self
            .docker_config
            .as_ref()
            .expect("the world has a Docker configuration (World::with_docker_config)");
        super::docker_config(dir, &self.private.host, user, password);
    }

    pub fn read(&self, path: impl AsRef<Path>) -> String {
        std::fs::read_to_string(self.repo.path().join(path)).unwrap()
    }

    pub fn write(&self, path: impl AsRef<Path>, text: &str) {
        let path = self.repo.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// Rewrites the catalog; the edit must change it (a replacement that found nothing is a bug in
    /// the test).
    pub fn edit_catalog(&self, edit: impl FnOnce(&str) -> String) {
        let before = self.read("base-images.yaml");
        let after = edit(&before);
        assert_ne!(before, after, "the catalog edit changed nothing");
        self.write("base-images.yaml", &after);
    }

    /// The catalog's identity in container and volume labels: its canonical path.
    pub fn catalog_id(&self) -> String {
        std::fs::canonicalize(self.repo.path().join("base-images.yaml"))
            .unwrap()
            .display()
            .to_string()
    }

    /// A run in this world's repository without the world's options: its Docker configuration, if
    /// it has one, and nothing else.
    pub fn bare(&self) -> Test {
        let test = Test::in_dir(self.repo.path());
        match &self.docker_config {
            Some(dir) => test.env("DOCKER_CONFIG", dir),
            None => test,
        }
    }

    /// baseimg in this world: plain progress, the world's jobs and, for the example, its private
    /// registry.
    pub fn baseimg(&self, args: &[&str]) -> Test {
        let test = self.bare();
        let test = if self.registry_option {
            test.args(["--registry", &format!("{}/base", self.private_host())])
        } else {
            test
        };
        test.args(&self.options).args(args)
    }

    /// The standard output of a run that must succeed.
    pub fn ok(&self, args: &[&str]) -> String {
        self.baseimg(args).run().stdout
    }

    /// The JSON report (`--output json`) of a run that must end with `status`.
    pub fn report(&self, args: &[&str], status: i32) -> serde_json::Value {
        self.baseimg(args)
            .args(["--output", "json"])
            .status(status)
            .run()
            .json()
    }

    /// Whether the private registry serves `repository:tag` or `repository@digest`.
    pub fn private_has(&self, reference: &str) -> bool {
        super::fixtures::has_manifest(&self.private.host, reference)
    }

    /// lock, mirror and build --push of `images` (and what they are built from); the digest each
    /// image's first moving tag points at afterwards.
    pub fn build(&self, images: &[&str]) -> Vec<(String, String)> {
        self.baseimg(&["lock"]).run();
        self.baseimg(&["mirror"]).run();
        let report = self
            .baseimg(&[&["build", "--push", "--output", "json"], images].concat())
            .run()
            .json();
        for entry in report["images"].as_array().expect("a list of images") {
            let reference = entry["reference"].as_str().unwrap_or_default();
            let tag = reference.split('@').next().unwrap_or_default();
            self.built.borrow_mut().insert(
                entry["image"].as_str().unwrap().to_string(),
                tag.to_string(),
            );
        }
        images
            .iter()
            .map(|image| (image.to_string(), self.moving_tag_digest(image)))
            .collect()
    }

    /// The digest the image's first moving tag has in the private registry.
    pub fn moving_tag_digest(&self, image: &str) -> String {
        let tag = self.first_tag(image);
        super::fixtures::manifest_digest(&self.private.host, &format!("base/{image}:{tag}"))
    }

    /// The immutable tag the last build of `image` left in the local daemon.
    pub fn built_reference(&self, image: &str) -> String {
        self.built
            .borrow()
            .get(image)
            .unwrap_or_else(|| panic!("{image} was not built in this world"))
            .clone()
    }

    fn first_tag(&self, image: &str) -> String {
        let catalog = self.read("base-images.yaml");
        let entry = catalog
            .split(&format!("\n  {image}:\n"))
            .nth(1)
            .unwrap_or_else(|| panic!("no image {image} in the catalog"));
        let tags = entry
            .lines()
            .find_map(|l| l.trim().strip_prefix("tags: [\""))
            .unwrap_or_else(|| panic!("no tags for {image}"));
        tags.split('"').next().unwrap().to_string()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let docker = |args: &[&str]| {
            Command::new("docker")
                .args(args)
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default()
        };
        // The catalog's containers and volumes (a test may have removed the catalog itself).
        if let Ok(catalog) = std::fs::canonicalize(self.repo.path().join("base-images.yaml")) {
            let catalog = format!("label=io.baseimg.catalog={}", catalog.display());
            for id in docker(&["ps", "--all", "--quiet", "--filter", &catalog]).lines() {
                docker(&["rm", "--force", "--volumes", id]);
            }
            for volume in docker(&["volume", "ls", "--quiet", "--filter", &catalog]).lines() {
                docker(&["volume", "rm", "--force", volume]);
            }
        }
        // Images of this world's registries, reached directly or through a proxy: built ones by
        // tag, pulled ones by digest.
        let hosts: Vec<String> = [&self.upstream.host, &self.private.host]
            .into_iter()
            .chain(self.upstream_proxy.iter().map(|proxy| &proxy.host))
            .chain(self.private_proxy.iter().map(|proxy| &proxy.host))
            .map(|host| format!("{host}/"))
            .collect();
        let listed = docker(&[
            "images",
            "--digests",
            "--format",
            "{{.Repository}} {{.Tag}} {{.Digest}}",
        ]);
        for line in listed.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            let [repository, tag, digest] = fields[..] else {
                continue;
            };
            if !hosts.iter().any(|host| repository.starts_with(host)) {
                continue;
            }
            if tag != "<none>" {
                docker(&["rmi", "--force", &format!("{repository}:{tag}")]);
            }
            if digest != "<none>" {
                docker(&["rmi", "--force", &format!("{repository}@{digest}")]);
            }
        }
    }
}
