//! Faults met while reading a response's body: a body that breaks off is read again, like a 503 is
//! asked again, wherever baseimg reads one (tag lists and image configs here; manifests, blobs and
//! tokens in `tests/suite/mirror.rs`); and the fault soak, a few seeded runs of `lock` + `mirror`
//! through an upstream that fails often (`cargo bench --bench faults` runs 20).

use std::time::Duration;

use backon::ExponentialBuilder;
use baseimg::reference::Digest;
use baseimg::registry::{Client, MEDIA_OCI_MANIFEST, Manifest};
use bytes::Bytes;
use testkit::proxy::{Faults, Proxy, Targeted};
use testkit::registry::Registry;
use testkit::soak::Soak;

const TITLE: &str = "app";
const REPOSITORY: &str = "base/app";

/// A client of `host` with short retry delays (the policy is the real one).
fn client(host: &str) -> Client {
    Client::new(host, &[], None).with_retry(
        ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(10))
            .with_max_times(6),
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Pushes one release of `app` as baseimg's builds leave it: an immutable tag named by the version and
/// the fingerprint, whose config carries the labels `history` reads. Returns the tag and the config's
/// digest.
async fn push_release(host: &str) -> (String, String) {
    let client = client(host);
    let fingerprint = "0123456789abcdef".repeat(4);
    let layer = testkit::fixtures::layer(7, 1024);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Labels": {
            "io.baseimg.fingerprint": fingerprint,
            "org.opencontainers.image.title": TITLE,
            "org.opencontainers.image.version": "1.0",
            "org.opencontainers.image.created": "2024-05-01T12:00:00Z",
        }},
        "rootfs": {"type": "layers", "diff_ids": [Digest::sha256_of(&layer).to_string()]},
    }))
    .unwrap();
    let mut descriptors = Vec::new();
    for blob in [&config, &layer] {
        let digest = Digest::sha256_of(blob).to_string();
        client
            .push_blob(
                REPOSITORY,
                &digest,
                blob.len() as u64,
                reqwest::Body::from(blob.clone()),
            )
            .await
            .unwrap();
        descriptors.push(serde_json::json!({"digest": digest, "size": blob.len()}));
    }
    descriptors[0]["mediaType"] = "application/vnd.oci.image.config.v1+json".into();
    descriptors[1]["mediaType"] = "application/vnd.oci.image.layer.v1.tar".into();
    let bytes = Bytes::from(
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_OCI_MANIFEST,
            "config": descriptors[0],
            "layers": [descriptors[1]],
        }))
        .unwrap(),
    );
    let manifest = Manifest {
        digest: Digest::sha256_of(&bytes),
        bytes,
        media_type: MEDIA_OCI_MANIFEST.into(),
    };
    let tag = format!("1.0-{}", &fingerprint[..12]);
    client
        .put_manifest(REPOSITORY, &tag, &manifest)
        .await
        .unwrap();
    (tag, descriptors[0]["digest"].as_str().unwrap().to_string())
}

#[test]
fn a_tag_list_broken_off_is_read_again() {
    let registry = Registry::start();
    let runtime = runtime();
    let (tag, _) = runtime.block_on(push_release(&registry.host));
    let proxy = Proxy::start(&registry.host);
    proxy.set_faults(Faults {
        drop_body: Some(Targeted::new("/tags/list", 1)),
        ..Faults::default()
    });
    let client = client(&proxy.host);
    let tags = runtime
        .block_on(client.list_tags(REPOSITORY))
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(tags, [tag]);
    assert_eq!(
        proxy.count("GET", "/tags/list"),
        2,
        "{:?}",
        proxy.requests()
    );
}

/// `history` (and `rollback`, `prune`, `plan`, `refresh`'s report) read image configs: one that
/// broke off, or arrived short, was read as empty, and a release silently went missing.
#[test]
fn a_config_blob_broken_off_or_short_is_read_again() {
    let registry = Registry::start();
    let runtime = runtime();
    let (tag, config) = runtime.block_on(push_release(&registry.host));
    let proxy = Proxy::start(&registry.host);
    proxy.set_faults(Faults {
        drop_body: Some(Targeted::new(config.as_str(), 1)),
        truncate_body: Some(Targeted::new(config.as_str(), 1)),
        ..Faults::default()
    });
    let client = client(&proxy.host);
    let releases = runtime
        .block_on(baseimg::history::releases(&client, REPOSITORY, TITLE, &[]))
        .unwrap_or_else(|error| panic!("{error}"));
    let tags: Vec<&str> = releases.iter().map(|r| r.tag.as_str()).collect();
    assert_eq!(tags, [tag.as_str()]);
    assert_eq!(releases[0].created, "2024-05-01T12:00:00Z");
    // Cut off, then short, then whole.
    assert_eq!(proxy.count("GET", &config), 3, "{:?}", proxy.requests());
}

/// A few runs of the fault soak (`cargo bench --bench faults` runs 20): every run succeeds and
/// copies every manifest byte for byte.
#[test]
fn lock_and_mirror_succeed_through_a_failing_upstream() {
    let soak = Soak::new();
    for seed in 1..=3 {
        soak.run(seed);
    }
}
