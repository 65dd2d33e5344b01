//! Upstream fixture images, made here (no internet registry is reachable): layers are tar archives of
//! pseudo-random files, written as an OCI image layout and pushed to the "upstream" registry with
//! skopeo, the reference client. A multi-platform fixture is an image index of two platform manifests.

use std::path::Path;
use std::process::Command;

use sha2::{Digest, Sha256};

pub struct Layout {
    pub dir: tempfile::TempDir,
}

fn sha(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn write_blob(root: &Path, bytes: &[u8]) -> (String, u64) {
    let digest = sha(bytes);
    let path = root
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
    (digest, bytes.len() as u64)
}

/// A tar layer with one file of `size` pseudo-random bytes from `seed` (xorshift: incompressible,
/// reproducible).
pub fn layer(seed: u64, size: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e3779b97f4a7c15) | 1;
    let mut content = vec![0u8; size];
    for chunk in content.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let bytes = state.to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(size as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    builder
        .append_data(
            &mut header,
            format!("data/file-{seed}.bin"),
            content.as_slice(),
        )
        .unwrap();
    builder.into_inner().unwrap()
}

/// Writes one platform's image (config + layers) into the layout; returns its manifest descriptor.
fn image(root: &Path, os: &str, arch: &str, layers: &[Vec<u8>]) -> serde_json::Value {
    let layer_descriptors: Vec<serde_json::Value> = layers
        .iter()
        .map(|l| {
            let (digest, size) = write_blob(root, l);
            serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest, "size": size})
        })
        .collect();
    let diff_ids: Vec<String> = layers.iter().map(|l| sha(l)).collect();
    let config = serde_json::json!({
        "architecture": arch, "os": os,
        "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let (config_digest, config_size) = write_blob(root, &serde_json::to_vec(&config).unwrap());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": layer_descriptors,
    });
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let (digest, size) = write_blob(root, &bytes);
    serde_json::json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": size,
        "platform": {"os": os, "architecture": arch},
    })
}

/// A root file system layer with a static busybox as `/bin/sh` and the usual commands, so `RUN` lines
/// work in images built on it (Debian's busybox-static provides the binary).
pub fn busybox_layer() -> Vec<u8> {
    let binary = std::fs::read("/bin/busybox")
        .expect("busybox-static must be installed (scripts/test installs it)");
    let mut builder = tar::Builder::new(Vec::new());
    for dir in ["bin/", "etc/", "tmp/", "root/"] {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(if dir == "tmp/" { 0o1777 } else { 0o755 });
        header.set_size(0);
        header.set_mtime(0);
        header.set_cksum();
        builder
            .append_data(&mut header, dir, std::io::empty())
            .unwrap();
    }
    let mut header = tar::Header::new_gnu();
    header.set_size(binary.len() as u64);
    header.set_mode(0o755);
    header.set_mtime(0);
    header.set_cksum();
    builder
        .append_data(&mut header, "bin/busybox", binary.as_slice())
        .unwrap();
    for applet in [
        "sh", "echo", "cat", "sleep", "false", "true", "mkdir", "cp", "ls", "chmod", "test",
        "grep", "env",
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_mode(0o777);
        header.set_size(0);
        header.set_mtime(0);
        builder
            .append_link(&mut header, format!("bin/{applet}"), "busybox")
            .unwrap();
    }
    builder.into_inner().unwrap()
}

/// A layer of extra files: `(path, content, mode)`.
pub fn files_layer(files: &[(&str, &str, u32)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, content, mode) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(*mode);
        header.set_mtime(0);
        header.set_cksum();
        builder
            .append_data(&mut header, path, content.as_bytes())
            .unwrap();
    }
    builder.into_inner().unwrap()
}

impl Layout {
    /// A runnable image (busybox plus `files`) for each of `platforms` (`amd64`, `arm64`); an index
    /// when there are several. The busybox binary is the host's: only the host platform is run.
    pub fn runnable(seed: u64, platforms: &[&str], files: &[(&str, &str, u32)]) -> Layout {
        let dir = tempfile::tempdir().unwrap();
        let data = vec![busybox_layer(), files_layer(files), layer(seed, 1024)];
        if platforms.len() == 1 {
            return single_image(dir, platforms[0], &data);
        }
        let manifests: Vec<serde_json::Value> = platforms
            .iter()
            .map(|arch| image(dir.path(), "linux", arch, &data))
            .collect();
        index_image(dir, manifests)
    }

    /// A runnable single-platform image: busybox plus one small layer that makes it unique to `seed`.
    pub fn busybox(seed: u64) -> Layout {
        Layout::runnable(seed, &["amd64"], &[])
    }

    /// A single-platform image of `layers` layers of `layer_size` bytes each, distinguished by `seed`.
    pub fn single(seed: u64, layers: usize, layer_size: usize) -> Layout {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<Vec<u8>> = (0..layers)
            .map(|i| layer(seed * 1000 + i as u64, layer_size))
            .collect();
        single_image(dir, "amd64", &data)
    }

    /// A two-platform image (linux/amd64 and linux/arm64) as an image index. The platforms share their
    /// first layer, as real images often share a base.
    pub fn multi(seed: u64, layers: usize, layer_size: usize) -> Layout {
        let dir = tempfile::tempdir().unwrap();
        let shared = layer(seed * 1000, layer_size);
        let mut manifests = Vec::new();
        for (n, arch) in ["amd64", "arm64"].iter().enumerate() {
            let mut data = vec![shared.clone()];
            data.extend(
                (1..layers)
                    .map(|i| layer(seed * 1000 + (n as u64 + 1) * 100 + i as u64, layer_size)),
            );
            manifests.push(image(dir.path(), "linux", arch, &data));
        }
        index_image(dir, manifests)
    }

    /// Pushes the layout to `registry` as `repository:tag` with skopeo (all platforms, digests kept).
    pub fn push(&self, registry: &str, repository: &str, tag: &str) {
        let source = format!("oci:{}:fixture", self.dir.path().display());
        let destination = format!("docker://{registry}/{repository}:{tag}");
        let output = Command::new("skopeo")
            .args([
                "copy",
                "--all",
                "--preserve-digests",
                "--dest-tls-verify=false",
                "--quiet",
                &source,
                &destination,
            ])
            .output()
            .expect("skopeo must be installed (.ci/run installs it)");
        assert!(
            output.status.success(),
            "skopeo copy failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// A layout holding an image index of `manifests` (platform descriptors already written).
fn index_image(dir: tempfile::TempDir, manifests: Vec<serde_json::Value>) -> Layout {
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    });
    let (digest, size) = write_blob(dir.path(), &serde_json::to_vec(&index).unwrap());
    write_index(
        dir.path(),
        vec![serde_json::json!({
            "mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest, "size": size,
            "annotations": {"org.opencontainers.image.ref.name": "fixture"},
        })],
    );
    Layout { dir }
}

/// A layout holding one single-platform image (a manifest, no index).
fn single_image(dir: tempfile::TempDir, arch: &str, layers: &[Vec<u8>]) -> Layout {
    let mut descriptor = image(dir.path(), "linux", arch, layers);
    descriptor.as_object_mut().unwrap().remove("platform");
    descriptor["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": "fixture"});
    write_index(dir.path(), vec![descriptor]);
    Layout { dir }
}

fn write_index(root: &Path, manifests: Vec<serde_json::Value>) {
    std::fs::write(root.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = serde_json::json!({"schemaVersion": 2, "manifests": manifests});
    std::fs::write(root.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

/// Whether the registry serves a manifest for `repository:tag` or `repository@digest`.
pub fn has_manifest(registry: &str, reference: &str) -> bool {
    Command::new("skopeo")
        .args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{registry}/{reference}"),
        ])
        .output()
        .unwrap()
        .status
        .success()
}

/// `skopeo inspect --tls-verify=false ARGS…` (the image named by a `docker://…` argument): its
/// standard output; the test fails with skopeo's message when it fails.
pub fn skopeo_inspect(args: &[&str]) -> Vec<u8> {
    let output = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "skopeo inspect {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// `skopeo inspect --raw`: the manifest bytes exactly as the registry serves them.
pub fn raw_manifest(registry: &str, reference: &str) -> Vec<u8> {
    skopeo_inspect(&["--raw", &format!("docker://{registry}/{reference}")])
}

pub fn manifest_digest(registry: &str, reference: &str) -> String {
    sha(&raw_manifest(registry, reference))
}

/// Whether `registry` serves the blob `digest` in `repository` (a plain HTTP HEAD: skopeo has no
/// command for one blob).
pub fn has_blob(registry: &str, repository: &str, digest: &str) -> bool {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(registry).unwrap();
    write!(
        stream,
        "HEAD /v2/{repository}/blobs/{digest} HTTP/1.0\r\nHost: {registry}\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer.split_whitespace().nth(1).unwrap_or_default();
    match status {
        "200" => true,
        "404" => false,
        _ => panic!("HEAD of blob {digest} on {registry}/{repository}: {answer}"),
    }
}

/// `skopeo inspect --raw --config`: the configuration blob of a single-platform image, exactly as the
/// registry serves it.
pub fn raw_config(registry: &str, reference: &str) -> Vec<u8> {
    skopeo_inspect(&[
        "--raw",
        "--config",
        &format!("docker://{registry}/{reference}"),
    ])
}

/// Stores `manifest` (of `media_type`) as `repository:reference` in `registry`, which must not want
/// credentials: a plain HTTP PUT, as a client publishing an image does (skopeo copies manifests but
/// has no command to write one made by hand, such as an index of manifests already pushed).
pub fn put_manifest(
    registry: &str,
    repository: &str,
    reference: &str,
    media_type: &str,
    manifest: &[u8],
) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(registry).unwrap();
    write!(
        stream,
        "PUT /v2/{repository}/manifests/{reference} HTTP/1.0\r\nHost: {registry}\r\nContent-Type: {media_type}\r\nContent-Length: {}\r\n\r\n",
        manifest.len()
    )
    .unwrap();
    stream.write_all(manifest).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer.split_whitespace().nth(1).unwrap_or_default();
    assert_eq!(
        status, "201",
        "PUT of manifest {repository}:{reference} to {registry}: {answer}"
    );
}
