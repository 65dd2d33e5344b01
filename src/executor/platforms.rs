//! Multi-platform images: a built image with `platforms: [linux/amd64, linux/arm64]` is built once per
//! platform (each on its parent's manifest for that platform: the `FROM` names the parent's index and
//! the build asks for the platform), each platform's image is pushed under a tag of its own, and one
//! OCI image index naming them all is pushed under the immutable tag. The moving tags are then
//! promoted to the index like any manifest, so `docker pull` on each platform gets its own image.

use serde::Serialize;

use crate::reference::Digest;
use crate::registry::{MEDIA_OCI_INDEX, Manifest};

/// One platform's image as the registry holds it.
#[derive(Debug, Clone)]
pub(super) struct PlatformImage {
    /// `linux/arm64/v8`, as the catalog wrote it.
    pub platform: String,
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
}

/// The tag one platform's image is pushed under before the index exists:
/// `7.2.4-1a2b3c4d5e6f-linux-arm64-v8`.
pub(super) fn tag(immutable: &str, platform: &str) -> String {
    format!("{immutable}-{}", platform.replace('/', "-"))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Index<'a> {
    schema_version: u32,
    media_type: &'a str,
    manifests: Vec<Entry<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Entry<'a> {
    media_type: &'a str,
    digest: &'a str,
    size: u64,
    platform: Platform<'a>,
}

#[derive(Serialize)]
struct Platform<'a> {
    architecture: &'a str,
    os: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<&'a str>,
}

/// The OCI image index of the platforms' images, in the catalog's order. Its bytes depend on nothing
/// else (no dates, fixed key order), so the same images always give the same index digest.
pub(super) fn index(images: &[PlatformImage]) -> Manifest {
    let manifests = images
        .iter()
        .map(|image| {
            let mut parts = image.platform.split('/');
            let os = parts.next().unwrap_or_default();
            let architecture = parts.next().unwrap_or_default();
            Entry {
                media_type: &image.media_type,
                digest: image.digest.as_str(),
                size: image.size,
                platform: Platform {
                    architecture,
                    os,
                    variant: parts.next(),
                },
            }
        })
        .collect();
    let index = Index {
        schema_version: 2,
        media_type: MEDIA_OCI_INDEX,
        manifests,
    };
    let bytes = serde_json::to_vec(&index).expect("an index serializes");
    Manifest {
        digest: Digest::sha256_of(&bytes),
        bytes: bytes.into(),
        media_type: MEDIA_OCI_INDEX.into(),
    }
}

/// Why a build for a platform the daemon cannot execute failed, when that is why: a `RUN` step's
/// program is for another CPU (`exec format error`), and without emulation the daemon cannot run it.
pub(super) fn foreign_platform(platform: &str, native: &str, output: &str) -> Option<String> {
    if crate::platform::matches(platform, native)
        || crate::platform::matches(native, platform)
        || !output.contains("exec format error")
    {
        return None;
    }
    let arch = platform.split('/').nth(1).unwrap_or(platform);
    Some(format!(
        "a RUN step for {platform} cannot run on this {native} daemon: its programs are for another CPU, and the machine has no emulator for {arch} registered with the kernel (binfmt_misc); register QEMU for it (for example `docker run --privileged --rm tonistiigi/binfmt --install {arch}`), add a builder that runs {platform} natively, or keep RUN steps out of this image (COPY, ENV, LABEL and CMD build for any platform)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(platform: &str, n: u8) -> PlatformImage {
        PlatformImage {
            platform: platform.into(),
            digest: Digest::sha256_of(&[n]),
            media_type: "application/vnd.docker.distribution.manifest.v2+json".into(),
            size: 1000 + u64::from(n),
        }
    }

    #[test]
    fn the_index_names_each_platform_in_order_with_fixed_bytes() {
        let images = [image("linux/amd64", 1), image("linux/arm64/v8", 2)];
        let first = index(&images);
        assert_eq!(first.digest, index(&images).digest, "deterministic");
        let json: serde_json::Value = serde_json::from_slice(&first.bytes).unwrap();
        assert_eq!(json["mediaType"], MEDIA_OCI_INDEX);
        assert_eq!(json["manifests"][0]["platform"]["architecture"], "amd64");
        assert!(json["manifests"][0]["platform"].get("variant").is_none());
        assert_eq!(json["manifests"][1]["platform"]["variant"], "v8");
        assert_eq!(json["manifests"][1]["size"], 1002);
        assert_eq!(first.digest, Digest::sha256_of(&first.bytes));
    }

    #[test]
    fn platform_tags_are_valid_tags() {
        assert_eq!(
            tag("7.2.4-1a2b3c4d5e6f", "linux/arm64/v8"),
            "7.2.4-1a2b3c4d5e6f-linux-arm64-v8"
        );
    }

    #[test]
    fn an_exec_format_error_on_a_foreign_platform_says_what_is_missing() {
        let said = foreign_platform(
            "linux/arm64",
            "linux/amd64",
            "exec /bin/sh: exec format error",
        )
        .unwrap();
        assert!(
            said.starts_with("a RUN step for linux/arm64 cannot run on this linux/amd64 daemon")
        );
        assert!(said.contains("binfmt_misc"));
        assert!(foreign_platform("linux/amd64", "linux/amd64", "exec format error").is_none());
        assert!(foreign_platform("linux/arm64", "linux/amd64", "exit code: 1").is_none());
    }
}
