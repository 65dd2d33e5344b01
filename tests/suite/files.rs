//! The files baseimg reads and writes as files: what it refuses to read (devices, FIFOs, files too
//! large) without hanging or filling its memory, what it follows (symlinks inside the repository),
//! and the modes of the files it writes.
//!
//! Refusals that are plain diagnostics of a repository (symlinks that lead out of it) are cases of
//! the broken corpus (`tests/broken/`); these need a file the corpus cannot hold.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use testkit::harness::{Output, Running, Test};
use testkit::wait_until;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Waits for `running` to end, killing it (and failing the test) if it takes longer than `limit`:
/// baseimg reading a FIFO or `/dev/zero` would otherwise hang the test run or fill the memory.
#[track_caller]
fn within(running: Running, limit: Duration) -> Output {
    let pid = running.id();
    let ended = wait_until(limit, Duration::from_millis(20), || {
        !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|stat| !stat.contains(") Z "))
    });
    if !ended {
        drop(running);
        panic!("baseimg did not end within {limit:?}: it is reading what it should refuse");
    }
    running.wait()
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

#[test]
fn a_fifo_as_catalog_or_lock_file_is_refused_without_waiting_for_a_writer() {
    let test = Test::example();
    let fifo = test.root().join("pipe.yaml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let running = test
        .args(["validate", "-f", "pipe.yaml"])
        .status(2)
        .stderr(
            "
            error[catalog::unreadable]: catalog `pipe.yaml` is a FIFO (named pipe), not a regular file
             |
             = help: name the catalog file itself with `-f PATH`
            ",
        )
        .spawn();
    let output = within(running, Duration::from_secs(10));
    let running = output
        .into_test()
        .args(["validate", "--lock", "pipe.yaml"])
        .status(2)
        .stderr(
            "
            error[lock::unreadable]: lock file `pipe.yaml` is a FIFO (named pipe), not a regular file
             |
             = help: name the lock file itself with `--lock PATH`
            ",
        )
        .spawn();
    within(running, Duration::from_secs(10));
}

#[test]
fn a_device_is_refused_before_it_is_read() {
    let running = Test::example()
        .args(["validate", "-f", "/dev/zero"])
        .status(2)
        .stderr(
            "
            error[catalog::unreadable]: catalog `/dev/zero` is a character device, not a regular file
             |
             = help: name the catalog file itself with `-f PATH`
            ",
        )
        .spawn();
    within(running, Duration::from_secs(5));
}

#[test]
fn files_over_16_mib_are_refused_with_the_limit() {
    let test = Test::example();
    // Sparse: it costs no disk, and without the limit baseimg would read all of it.
    let big = 16 * 1024 * 1024 + 1;
    std::fs::File::create(test.root().join("big.yaml"))
        .unwrap()
        .set_len(big)
        .unwrap();
    std::fs::File::create(test.root().join("templates/_big.j2"))
        .unwrap()
        .set_len(big)
        .unwrap();
    let output = test
        .args(["validate", "-f", "big.yaml"])
        .status(2)
        .stderr(
            "
            error[catalog::unreadable]: catalog `big.yaml` is 16777217 bytes, more than the 16 MiB baseimg reads
             |
             = help: catalogs, lock files and templates are read only up to 16 MiB
            ",
        )
        .run();
    let template = output.root().join("templates/redis.Dockerfile.j2");
    let text = std::fs::read_to_string(&template).unwrap();
    std::fs::write(&template, format!("{{% include \"_big.j2\" %}}\n{text}")).unwrap();
    output
        .into_test()
        .arg("validate")
        .status(2)
        .stderr_contains(
            "error[render::unreadable-include]: template `redis.Dockerfile.j2` includes `_big.j2`, which is 16777217 bytes, more than the 16 MiB baseimg reads\n",
        )
        .run();
}

#[test]
fn symlinks_inside_the_repository_are_followed() {
    let test = Test::example();
    let root = test.root().to_path_buf();
    std::fs::create_dir(root.join("shared")).unwrap();
    for (file, moved) in [
        ("base-images.yaml", "shared/catalog.yaml"),
        ("base-images.lock", "shared/catalog.lock"),
        ("templates/_macros.j2", "shared/macros.j2"),
        ("templates/redis.Dockerfile.j2", "shared/redis.j2"),
    ] {
        std::fs::rename(root.join(file), root.join(moved)).unwrap();
        let depth = Path::new(file).components().count() - 1;
        let target = format!("{}{moved}", "../".repeat(depth));
        std::os::unix::fs::symlink(target, root.join(file)).unwrap();
    }
    test.arg("validate")
        .stdout_contains("no errors")
        .stderr("")
        .run();
}

#[test]
fn a_fifo_in_a_build_context_is_refused_without_being_read() {
    let test = Test::example();
    let made = std::process::Command::new("mkfifo")
        .arg(test.root().join("images/redis/pipe"))
        .status()
        .unwrap();
    assert!(made.success());
    let running = test
        .arg("validate")
        .status(2)
        .stderr_contains(
            "error[context::special-file]: `pipe` in the build context is a FIFO (named pipe), not a file, directory or symlink (image `redis`)\n",
        )
        .stderr_contains("= help: remove it from the context, or exclude it in `.dockerignore`\n")
        .spawn();
    within(running, Duration::from_secs(10));
}
