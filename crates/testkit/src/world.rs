//! The example catalog as a test's world: the repository's own catalog, templates and build files
//! in a temporary copy, `docker.io` pointed at a local "upstream" registry holding the realistic
//! fixture images (see [`super::realistic`]), and an empty private registry. Everything the world's
//! runs leave in the Docker daemon (containers, images of its registries, volumes and check
//! containers of its catalog) is removed when it is dropped, even when the test failed.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use super::harness::Test;
use super::realistic::seed_example_upstream;
use super::registry::Registry;

pub struct World {
    pub upstream: Registry,
    pub private: Registry,
    /// When set, baseimg (and the daemon's pushes) reach the private registry through this proxy,
    /// which counts what crosses the wire.
    pub private_proxy: Option<super::proxy::Proxy>,
    pub repo: tempfile::TempDir,
    /// Image → the immutable tag its last build left in the local daemon.
    built: RefCell<HashMap<String, String>>,
}

impl World {
    pub fn new() -> World {
        World::seeded_with(seed_example_upstream)
    }

    /// The world with its upstream registry seeded by `seed` (see [`super::realistic`]).
    pub fn seeded_with(seed: fn(&str)) -> World {
        let upstream = Registry::start();
        let private = Registry::start();
        seed(&upstream.host);
        let repo = super::example_copy();
        // Lock afresh: the test lock file pins digests of images that are not in this upstream.
        std::fs::remove_file(repo.path().join("base-images.lock")).unwrap();
        let world = World {
            upstream,
            private,
            private_proxy: None,
            repo,
            built: RefCell::default(),
        };
        let upstream_host = world.upstream.host.clone();
        world.edit_catalog(|catalog| {
            catalog.replace("docker.io/library/", &format!("{upstream_host}/library/"))
        });
        world
    }

    /// The world with a counting proxy in front of the private registry.
    pub fn with_private_proxy() -> World {
        let mut world = World::new();
        world.private_proxy = Some(super::proxy::Proxy::start(&world.private.host));
        world
    }

    /// The private registry's address as baseimg is told it: the proxy's, when there is one.
    pub fn private_host(&self) -> String {
        match &self.private_proxy {
            Some(proxy) => proxy.host.clone(),
            None => self.private.host.clone(),
        }
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

    /// baseimg in this world, against its private registry, with plain progress.
    pub fn baseimg(&self, args: &[&str]) -> Test {
        Test::in_dir(self.repo.path())
            .args(["--registry", &format!("{}/base", self.private_host())])
            .args(["--progress", "plain", "--jobs", "2"])
            .args(args)
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
        let catalog = format!("label=io.baseimg.catalog={}", self.catalog_id());
        let docker = |args: &[&str]| {
            Command::new("docker")
                .args(args)
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default()
        };
        for id in docker(&["ps", "--all", "--quiet", "--filter", &catalog]).lines() {
            docker(&["rm", "--force", "--volumes", id]);
        }
        for volume in docker(&["volume", "ls", "--quiet", "--filter", &catalog]).lines() {
            docker(&["volume", "rm", "--force", volume]);
        }
        // Images of this world's registries: built ones by tag, pulled ones by digest.
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
            let ours = [self.upstream.host.clone(), self.private_host()]
                .iter()
                .any(|host| repository.starts_with(&format!("{host}/")));
            if !ours {
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
