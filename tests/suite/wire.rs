//! Bytes cross the wire once: what a first `mirror` + `build --push` of the example catalog uploads
//! to the private registry, counted by a proxy in front of it (baseimg's uploads and the daemon's
//! pushes both go through it), against what the registry ends up storing, where each distinct blob
//! is kept once. The three upstream images share a Debian base layer; the built images share their
//! parents' layers.

use testkit::World;

/// Uploaded bytes may exceed the distinct bytes by this much (a retried upload, say); a blob
/// uploaded twice is far above it.
const SLACK: f64 = 1.05;

#[test]
fn a_first_mirror_and_build_push_upload_each_blob_once() {
    let world = World::example().with_private_proxy();
    let proxy = world.private_proxy();
    world.baseimg(&["lock"]).run();

    // Three mirrors at once share the base layer: one copies it, the others wait and mount it.
    let started = std::time::Instant::now();
    world.baseimg(&["mirror", "--jobs", "4"]).run();
    let seconds = started.elapsed().as_secs_f64();
    let mirrored = proxy.uploaded_bytes();
    let after_mirror = world.private.stored_blob_bytes();
    eprintln!("mirror uploaded {mirrored} bytes for {after_mirror} distinct, in {seconds:.1} s");
    assert!(
        mirrored as f64 <= after_mirror as f64 * SLACK,
        "mirror uploaded {mirrored} bytes for {after_mirror} bytes of distinct blobs: a shared layer crossed the wire more than once"
    );

    // The daemon pushes only the layers the builds added: the parents' are linked in first.
    let started = std::time::Instant::now();
    world.baseimg(&["build", "--push"]).run();
    let seconds = started.elapsed().as_secs_f64();
    let pushed = proxy.uploaded_bytes() - mirrored;
    let added = world.private.stored_blob_bytes() - after_mirror;
    eprintln!("build --push uploaded {pushed} bytes for {added} new distinct, in {seconds:.1} s");
    assert!(
        pushed as f64 <= added as f64 * SLACK,
        "build --push uploaded {pushed} bytes for {added} bytes of new distinct blobs: the parents' layers were pushed again"
    );
    let log = std::fs::read_dir(world.repo.path().join(".baseimg/logs"))
        .unwrap()
        .map(|run| run.unwrap().path().join("redis.log"))
        .find(|log| log.is_file())
        .expect("a build log of redis");
    let log = std::fs::read_to_string(log).unwrap();
    assert!(
        log.contains("# linked 3 layers of base/upstream/redis into base/redis before the push"),
        "the log says what was linked:\n{log}"
    );
}
