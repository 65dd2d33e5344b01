//! `baseimg refresh`, the nightly job, on the example catalog against real registries and the real
//! daemon: adoption of what moved upstream, cool-down, `--adopt`, a vanished upstream that does not
//! stop the others, a failing check that leaves the lock file and the moving tags alone, and the
//! report written every time.

use std::path::PathBuf;

use testkit::World;
use testkit::harness::Output;
use testkit::realistic::{move_upstream, withdraw_upstream};

/// The report directory named on the last line of a text run.
fn report_dir(output: &Output) -> PathBuf {
    let last = output.stdout.lines().last().unwrap_or_default();
    let html = last
        .strip_prefix("report: ")
        .unwrap_or_else(|| panic!("the last line names the report: {last:?}"));
    let html = output.root().join(html);
    assert!(html.is_file(), "{} exists", html.display());
    html.parent().unwrap().to_path_buf()
}

fn report_json(output: &Output) -> serde_json::Value {
    let text = std::fs::read_to_string(report_dir(output).join("report.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn upstream<'a>(report: &'a serde_json::Value, image: &str) -> &'a serde_json::Value {
    report["upstreams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["image"] == image)
        .unwrap_or_else(|| panic!("no upstream {image} in {report:#}"))
}

fn rebuilt(report: &serde_json::Value) -> Vec<String> {
    let mut names: Vec<String> = report["rebuilt"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["image"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

fn pin(lock: &str, image: &str) -> String {
    let entry = lock
        .split(&format!("\n  {image}:\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("no {image} in the lock file:\n{lock}"));
    entry
        .lines()
        .find_map(|l| l.trim().strip_prefix("digest: "))
        .unwrap()
        .to_string()
}

#[test]
fn refresh_adopts_what_moved_and_goes_on_when_an_upstream_vanishes() {
    let world = World::example();

    // The first night pins, mirrors, builds and promotes everything.
    let first = world.baseimg(&["refresh"]).run();
    let report = report_json(&first);
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(upstream(&report, "redis-upstream")["why"], "first_pin");
    assert_eq!(
        rebuilt(&report),
        ["api-base", "postgres", "python", "redis"],
        "{report:#}"
    );
    let lock = world.read("base-images.lock");
    let redis_tag = world.moving_tag_digest("redis");
    let python_tag = world.moving_tag_digest("python");

    // Nothing new upstream: nothing built, the lock file untouched, no manifest fetched upstream.
    let quiet = world.baseimg(&["refresh", "--output", "json"]).run().json();
    assert_eq!(quiet["ok"], true);
    assert_eq!(quiet["lock_written"], false);
    assert_eq!(quiet["rebuilt"], serde_json::json!([]));
    assert_eq!(
        quiet["requests"]["upstream"]["manifest_gets"], 0,
        "{quiet:#}"
    );
    assert_eq!(quiet["requests"]["upstream"]["blob_gets"], 0);
    assert_eq!(world.read("base-images.lock"), lock);

    // Upstream publishes a new redis under the same tag.
    let new_redis = move_upstream(&world.upstream.host, "redis", "LABEL org.example.release=2");
    let dry = world.baseimg(&["refresh", "--dry-run"]).run();
    assert!(dry.stdout.contains("would build redis"), "{}", dry.stdout);
    assert!(
        dry.stdout
            .ends_with("dry run: nothing was changed or written\n")
    );
    assert_eq!(
        world.read("base-images.lock"),
        lock,
        "a dry run writes nothing"
    );
    assert_eq!(world.moving_tag_digest("redis"), redis_tag);

    let moved = world.baseimg(&["refresh"]).run();
    let report = report_json(&moved);
    let redis = upstream(&report, "redis-upstream");
    assert_eq!(redis["status"], "adopted", "{report:#}");
    assert_eq!(redis["current"], new_redis.as_str());
    assert!(
        redis["created"]
            .as_str()
            .is_some_and(|c| c.starts_with("20")),
        "{redis:#}"
    );
    assert_eq!(rebuilt(&report), ["redis"], "only what is built on redis");
    let lock_after = world.read("base-images.lock");
    assert_eq!(pin(&lock_after, "redis-upstream"), new_redis);
    assert_eq!(
        pin(&lock_after, "python-upstream"),
        pin(&lock, "python-upstream")
    );
    assert_ne!(world.moving_tag_digest("redis"), redis_tag);
    assert_eq!(world.moving_tag_digest("python"), python_tag);
    let markdown = std::fs::read_to_string(report_dir(&moved).join("report.md")).unwrap();
    assert!(markdown.contains("## Moved upstream"), "{markdown}");
    assert!(
        markdown.contains(&format!("`sha256:{}`", &new_redis[7..19])),
        "{markdown}"
    );
    assert!(
        markdown.contains("`baseimg rollback redis --to 7.2.4-"),
        "{markdown}"
    );
    let html = std::fs::read_to_string(report_dir(&moved).join("report.html")).unwrap();
    assert!(html.contains("redis-upstream"));
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "self-contained"
    );

    // The rollback the report offers puts the tags back.
    let rollback = report["moved"][0]["rollback"].as_str().unwrap();
    let words: Vec<&str> = rollback.split(' ').skip(1).collect();
    world.baseimg(&words).run();
    assert_eq!(world.moving_tag_digest("redis"), redis_tag);

    // Upstream withdraws postgres: reported, its pin stays, everything else refreshes; exit 1.
    withdraw_upstream(&world.upstream.host, "postgres");
    move_upstream(
        &world.upstream.host,
        "python",
        "LABEL org.example.release=2",
    );
    let vanished = world.baseimg(&["refresh"]).status(1).run();
    let report = report_json(&vanished);
    assert_eq!(upstream(&report, "postgres-upstream")["status"], "vanished");
    assert_eq!(upstream(&report, "python-upstream")["status"], "adopted");
    assert_eq!(rebuilt(&report), ["api-base", "python"], "{report:#}");
    let lock_last = world.read("base-images.lock");
    assert_eq!(
        pin(&lock_last, "postgres-upstream"),
        pin(&lock, "postgres-upstream")
    );
    assert_ne!(
        pin(&lock_last, "python-upstream"),
        pin(&lock, "python-upstream")
    );
    assert!(
        vanished.stdout.contains("postgres-upstream  vanished"),
        "{}",
        vanished.stdout
    );
}

#[test]
fn cooldown_holds_a_new_digest_adopt_takes_it_now_and_a_failing_check_changes_nothing() {
    let world = World::example();
    world.edit_catalog(|catalog| {
        catalog.replace(
            "defaults:\n  platforms: [linux/amd64]\n",
            "defaults:\n  platforms: [linux/amd64]\n  cooldown: 3d\n",
        )
    });
    // Nothing pinned yet: the first pins are adopted at once, cool-down or not.
    world.baseimg(&["refresh"]).run();
    let lock = world.read("base-images.lock");
    let redis_tag = world.moving_tag_digest("redis");

    // A new redis upstream waits: the pin stays, the candidate is recorded beside it.
    let new_redis = move_upstream(&world.upstream.host, "redis", "LABEL org.example.release=2");
    let held = world.baseimg(&["refresh", "--output", "json"]).run().json();
    let redis = upstream(&held, "redis-upstream");
    assert_eq!(redis["status"], "waiting", "{held:#}");
    assert_eq!(redis["left"], "3d");
    assert_eq!(held["rebuilt"], serde_json::json!([]));
    let waiting = world.read("base-images.lock");
    assert_eq!(
        pin(&waiting, "redis-upstream"),
        pin(&lock, "redis-upstream")
    );
    assert!(
        waiting.contains(&format!(
            "    candidate:\n      digest: {new_redis}\n      first_seen: "
        )),
        "{waiting}"
    );
    assert_eq!(world.moving_tag_digest("redis"), redis_tag);
    let report_dir = world.repo.path().join(held["report_dir"].as_str().unwrap());
    let markdown = std::fs::read_to_string(report_dir.join("report.md")).unwrap();
    assert!(markdown.contains("## Waiting in cool-down"), "{markdown}");

    // Three days later (the sighting moved back in the lock file), the next run adopts it.
    let first_seen = regex::Regex::new(r"first_seen: \S+").unwrap();
    let aged = first_seen.replace(&waiting, "first_seen: 2020-01-01T00:00:00Z");
    world.write("base-images.lock", &aged);
    let cooled = world.baseimg(&["refresh", "--output", "json"]).run().json();
    assert_eq!(
        upstream(&cooled, "redis-upstream")["why"],
        "cooled_down",
        "{cooled:#}"
    );
    assert_eq!(rebuilt(&cooled), ["redis"]);
    let adopted = world.read("base-images.lock");
    assert_eq!(pin(&adopted, "redis-upstream"), new_redis);
    assert!(!adopted.contains("candidate:"), "{adopted}");
    let redis_tag = world.moving_tag_digest("redis");

    // A security fix cannot wait: `--adopt` takes it now.
    let new_postgres = move_upstream(&world.upstream.host, "postgres", "LABEL org.example.fix=1");
    let asked = world
        .baseimg(&[
            "refresh",
            "--adopt",
            "postgres-upstream",
            "--output",
            "json",
        ])
        .run()
        .json();
    assert_eq!(
        upstream(&asked, "postgres-upstream")["why"],
        "asked",
        "{asked:#}"
    );
    assert_eq!(
        pin(&world.read("base-images.lock"), "postgres-upstream"),
        new_postgres
    );

    // A new release that breaks the image's checks: nothing is pushed under a moving tag and the
    // lock file stays byte for byte.
    let before = world.read("base-images.lock");
    move_upstream(
        &world.upstream.host,
        "redis",
        "RUN mv /usr/bin/redis-cli /usr/bin/redis-cli.real \\\n && printf '#!/bin/sh\\ncase \"$1\" in config) echo broken; exit 0;; esac\\nexec redis-cli.real \"$@\"\\n' > /usr/bin/redis-cli \\\n && chmod +x /usr/bin/redis-cli",
    );
    let failed = world
        .baseimg(&["refresh", "--adopt", "redis-upstream", "--output", "json"])
        .status(1)
        .run()
        .json();
    assert_eq!(failed["ok"], false);
    assert_eq!(failed["lock_written"], false);
    assert!(failed["lock_kept_because"].is_string(), "{failed:#}");
    let failure = failed["failures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["image"] == "redis")
        .unwrap_or_else(|| panic!("redis failed: {failed:#}"));
    assert_eq!(failure["step"], "build");
    assert!(
        failure["error"]
            .as_str()
            .unwrap()
            .contains("maxmemory comes from the catalog"),
        "{failure:#}"
    );
    assert_eq!(world.read("base-images.lock"), before);
    assert_eq!(world.moving_tag_digest("redis"), redis_tag);
}
