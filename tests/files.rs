//! The files baseimg writes as files: their modes.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::harness::Test;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn rendered_files_get_the_mode_the_umask_leaves_and_replaced_ones_keep_theirs() {
    let output = Test::example()
        .umask(0o027)
        .args(["render", "--out", "out"])
        .run();
    let out = output.root().join("out");
    for image in ["python", "api-base", "redis", "postgres"] {
        assert_eq!(
            mode(&out.join(format!("{image}.Dockerfile"))),
            0o640,
            "{image}"
        );
    }
    let chmod = std::fs::Permissions::from_mode(0o604);
    std::fs::set_permissions(out.join("redis.Dockerfile"), chmod).unwrap();
    std::fs::remove_file(out.join("python.Dockerfile")).unwrap();
    let output = output
        .into_test()
        .umask(0o022)
        .args(["render", "--out", "out"])
        .run();
    let out = output.root().join("out");
    assert_eq!(mode(&out.join("python.Dockerfile")), 0o644, "created anew");
    assert_eq!(mode(&out.join("redis.Dockerfile")), 0o604, "replaced");
    assert_eq!(mode(&out.join("api-base.Dockerfile")), 0o640, "replaced");
}
