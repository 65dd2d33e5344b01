//! The two-platform upstream images multi-platform builds start from: `seed_two_platform_upstream`
//! publishes redis and postgres as image indexes of the amd64 fixture and an arm64 one made from
//! Debian's arm64 packages (`scripts/fixture-images-arm64`). Checked in the registry (each index, each
//! platform's configuration, the amd64 manifest the very one the single-platform seeding pushes) and
//! through the daemon: a pull for linux/arm64 gets an arm64 image whose `redis-server` is an AArch64
//! program, one for linux/amd64 the x86-64 one.
//!
//! What the test pulls and the containers it creates are removed when it ends, even on failure; the
//! fixture images stay in the daemon for the next run.

use std::cell::RefCell;
use std::process::Command;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use testkit::fixtures::{raw_config, raw_manifest};
use testkit::realistic::{
    ARM64_UPSTREAM, EXAMPLE_UPSTREAM, MEDIA_DOCKER_LIST, docker, seed_example_upstream,
    seed_two_platform_upstream,
};
use testkit::registry::Registry;

const MEDIA_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// ELF's machine numbers (e_machine).
const EM_X86_64: u16 = 0x3E;
const EM_AARCH64: u16 = 0xB7;

fn upstream_reference(image: &str) -> &'static str {
    EXAMPLE_UPSTREAM
        .iter()
        .find(|(name, _)| *name == image)
        .unwrap()
        .1
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// What the test made in the daemon (references it pulled, containers it created), removed at the end.
#[derive(Default)]
struct Cleanup {
    tags: RefCell<Vec<String>>,
    containers: RefCell<Vec<String>>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for id in self.containers.borrow().iter() {
            let _ = Command::new("docker").args(["rm", "--force", id]).output();
        }
        for tag in self.tags.borrow().iter() {
            let _ = Command::new("docker").args(["rmi", tag]).output();
        }
    }
}

impl Cleanup {
    /// `docker pull --platform PLATFORM NAME`; the image's `os/architecture/variant` in the daemon.
    /// Both references the pull gives the image are removed at the end: NAME, and the repository's
    /// digest reference, which would outlive the tag.
    fn pull(&self, platform: &str, name: &str) -> String {
        self.tags.borrow_mut().push(name.to_string());
        docker(&["pull", "--quiet", "--platform", platform, name]);
        let repository = name.rsplit_once(':').unwrap().0;
        let digests = docker(&[
            "image",
            "inspect",
            "--format",
            "{{range .RepoDigests}}{{println .}}{{end}}",
            name,
        ]);
        self.tags.borrow_mut().extend(
            digests
                .lines()
                .filter(|reference| reference.starts_with(&format!("{repository}@")))
                .map(str::to_string),
        );
        docker(&[
            "image",
            "inspect",
            "--format",
            "{{.Os}}/{{.Architecture}}/{{.Variant}}",
            name,
        ])
    }

    /// The ELF machine of the program at `path` in `image` (links followed), read from the file
    /// itself: `docker cp` out of a created container, which never runs.
    fn elf_machine(&self, image: &str, platform: &str, path: &str) -> u16 {
        let container = docker(&["create", "--platform", platform, image]);
        self.containers.borrow_mut().push(container.clone());
        let output = Command::new("docker")
            .args(["cp", "--follow-link", &format!("{container}:{path}"), "-"])
            .output()
            .expect("docker runs");
        assert!(
            output.status.success(),
            "docker cp {path} out of {image}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let mut archive = tar::Archive::new(output.stdout.as_slice());
        let mut entry = archive.entries().unwrap().next().unwrap().unwrap();
        let mut header = [0u8; 20];
        std::io::Read::read_exact(&mut entry, &mut header).unwrap();
        assert_eq!(
            &header[..4],
            b"\x7fELF",
            "{path} in {image} is not an ELF file"
        );
        assert_eq!(header[4], 2, "{path} in {image} is not a 64-bit ELF file");
        assert_eq!(header[5], 1, "{path} in {image} is not little-endian");
        u16::from_le_bytes([header[18], header[19]])
    }
}

#[test]
fn redis_and_postgres_are_published_for_amd64_and_arm64() {
    let single = Registry::start();
    let two = Registry::start();
    seed_example_upstream(&single.host);
    seed_two_platform_upstream(&two.host);

    for image in ARM64_UPSTREAM {
        let reference = upstream_reference(image);
        let repository = reference.split_once(':').unwrap().0;
        let index = json(&raw_manifest(&two.host, reference));
        assert_eq!(
            index["mediaType"], MEDIA_DOCKER_LIST,
            "{reference}: {index}"
        );
        let manifests = index["manifests"].as_array().unwrap();
        let platforms: Vec<&Value> = manifests.iter().map(|m| &m["platform"]).collect();
        assert_eq!(
            platforms,
            [
                &json!({"architecture": "amd64", "os": "linux"}),
                &json!({"architecture": "arm64", "os": "linux", "variant": "v8"}),
            ],
            "{reference}: {index}"
        );

        for manifest in manifests {
            let child = format!("{repository}@{}", manifest["digest"].as_str().unwrap());
            let bytes = raw_manifest(&two.host, &child);
            assert_eq!(digest(&bytes), manifest["digest"], "{child}");
            assert_eq!(bytes.len() as u64, manifest["size"], "{child}");
            assert_eq!(json(&bytes)["mediaType"], manifest["mediaType"], "{child}");
            let config = json(&raw_config(&two.host, &child));
            let platform = &manifest["platform"];
            assert_eq!(config["os"], platform["os"], "{child}");
            assert_eq!(config["architecture"], platform["architecture"], "{child}");
            if let Some(variant) = platform.get("variant") {
                assert_eq!(&config["variant"], variant, "{child}");
            }
        }

        // The amd64 platform is the single-platform image itself, not a copy made for the index.
        let alone = raw_manifest(&single.host, reference);
        let amd64 = raw_manifest(
            &two.host,
            &format!("{repository}@{}", manifests[0]["digest"].as_str().unwrap()),
        );
        assert!(
            amd64 == alone,
            "{reference}: the index's amd64 manifest differs from the single-platform one:\n{}\n{}",
            String::from_utf8_lossy(&amd64),
            String::from_utf8_lossy(&alone)
        );
    }

    let python = upstream_reference("python");
    let manifest = raw_manifest(&two.host, python);
    assert_eq!(json(&manifest)["mediaType"], MEDIA_DOCKER_MANIFEST);
    assert!(
        manifest == raw_manifest(&single.host, python),
        "python is published as the single-platform seeding publishes it"
    );

    let cleanup = Cleanup::default();
    let redis = format!("{}/{}", two.host, upstream_reference("redis"));
    assert_eq!(cleanup.pull("linux/arm64", &redis), "linux/arm64/v8");
    assert_eq!(
        cleanup.elf_machine(&redis, "linux/arm64", "/usr/bin/redis-server"),
        EM_AARCH64,
        "redis-server of the arm64 image is an AArch64 program"
    );
    assert_eq!(cleanup.pull("linux/amd64", &redis), "linux/amd64/");
    assert_eq!(
        cleanup.elf_machine(&redis, "linux/amd64", "/usr/bin/redis-server"),
        EM_X86_64,
        "redis-server of the amd64 image is an x86-64 program"
    );
}
