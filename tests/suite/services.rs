//! `baseimg run` and its companions on the example catalog's real Redis and PostgreSQL (realistic
//! upstream images made from Debian's packages, see `scripts/fixture-images`), and the smoke checks
//! that gate a build: ready means ready, a second run is a no-op, `--recreate` switches digests and
//! keeps the data, refusals change nothing, a broken configuration never reaches the registry.
//!
//! Each test works on its own copy of the example catalog, whose services get container names,
//! volume names and host ports of their own, so tests never meet each other or a developer's own
//! `make redis`. Everything they create is removed at the end, even on failure.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use testkit::harness::Test;
use testkit::{World, wait_until};

/// The example world with its services renamed and moved to free ports.
struct Services {
    world: World,
    prefix: String,
    redis_port: u16,
    postgres_port: u16,
}

impl Services {
    fn new() -> Services {
        let world = World::example();
        let prefix = format!("baseimg-test-{}", testkit::free_port());
        let (redis_port, postgres_port) = (testkit::free_port(), testkit::free_port());
        world.edit_catalog(|catalog| {
            catalog
                .replace(
                    "ports: [\"127.0.0.1:6379:6379\"]",
                    &format!(
                        "name: {prefix}-redis\n      ports: [\"127.0.0.1:{redis_port}:6379\"]"
                    ),
                )
                .replace(
                    "ports: [\"127.0.0.1:5432:5432\"]",
                    &format!(
                        "name: {prefix}-postgres\n      ports: [\"127.0.0.1:{postgres_port}:5432\"]"
                    ),
                )
                .replace("baseimg-redis-data", &format!("{prefix}-redis-data"))
                .replace("baseimg-postgres-data", &format!("{prefix}-postgres-data"))
        });
        Services {
            world,
            prefix,
            redis_port,
            postgres_port,
        }
    }

    fn baseimg(&self, args: &[&str]) -> Test {
        self.world.baseimg(args)
    }

    fn container_id(&self, service: &str) -> Option<String> {
        let output = Command::new("docker")
            .args([
                "inspect",
                "--format",
                "{{.Id}}",
                &format!("{}-{service}", self.prefix),
            ])
            .output()
            .unwrap();
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
    }

    fn volume_exists(&self, service: &str) -> bool {
        Command::new("docker")
            .args([
                "volume",
                "inspect",
                &format!("{}-{service}-data", self.prefix),
            ])
            .output()
            .unwrap()
            .status
            .success()
    }

    fn psql(&self, sql: &str) -> String {
        let url = format!("postgres://postgres@127.0.0.1:{}/app", self.postgres_port);
        let output = Command::new("psql")
            .args([url.as_str(), "-tAc", sql])
            .output()
            .expect("psql (the PostgreSQL client) runs");
        assert!(
            output.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        for service in ["redis", "postgres"] {
            let _ = Command::new("docker")
                .args(["rm", "--force", &format!("{}-{service}", self.prefix)])
                .output();
            let _ = Command::new("docker")
                .args([
                    "volume",
                    "rm",
                    "--force",
                    &format!("{}-{service}-data", self.prefix),
                ])
                .output();
        }
    }
}

/// `PING` over the wire, as an application would send it: a Redis that answers `+PONG` is up.
fn redis_ping(port: u16) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("Redis accepts connections");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(b"PING\r\n").unwrap();
    let mut answer = [0u8; 64];
    let n = stream.read(&mut answer).unwrap();
    String::from_utf8_lossy(&answer[..n]).trim().to_string()
}

/// The containers this world's runs made for checks (none may stay).
fn check_containers(world: &World) -> Vec<String> {
    let catalog = format!("label=io.baseimg.catalog={}", world.catalog_id());
    let output = Command::new("docker")
        .args([
            "ps",
            "--all",
            "--filter",
            "label=io.baseimg.check",
            "--filter",
            &catalog,
        ])
        .args(["--format", "{{.Names}}"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn run_returns_when_services_answer_is_idempotent_recreates_on_demand_and_down_removes_everything()
{
    let services = Services::new();
    services.world.build(&["redis", "postgres"]);

    // Ready means ready: the moment `run` returns, both answer on the printed URLs from the host.
    let started = services
        .baseimg(&["run", "redis", "postgres", "--output", "json"])
        .run()
        .json();
    let urls: Vec<&str> = started["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["url"].as_str().unwrap())
        .collect();
    assert_eq!(
        urls,
        [
            format!("redis://127.0.0.1:{}", services.redis_port),
            format!(
                "postgres://postgres@127.0.0.1:{}/app",
                services.postgres_port
            )
        ]
    );
    assert_eq!(redis_ping(services.redis_port), "+PONG");
    assert_eq!(services.psql("SELECT count(*) FROM app_settings"), "0");
    assert!(
        started["services"][0]["reference"]
            .as_str()
            .unwrap()
            .contains("/base/redis@sha256:")
    );

    // A second run is a no-op: same containers, told so.
    let redis_id = services.container_id("redis").unwrap();
    services
        .baseimg(&["run", "redis", "postgres"])
        .stdout_contains("redis  already running")
        .stdout_contains("postgres  already running")
        .run();
    assert_eq!(services.container_id("redis").unwrap(), redis_id);
    services
        .baseimg(&["run", "redis", "--env"])
        .stdout(&format!(
            "REDIS_URL=redis://127.0.0.1:{}\n",
            services.redis_port
        ))
        .run();

    // A rebuild moves the tag; run says the service is outdated, --recreate switches and keeps data.
    services.psql("INSERT INTO app_settings VALUES ('kept', 'across recreate')");
    services.world.write(
        "images/postgres/postgresql.conf",
        &(services.world.read("images/postgres/postgresql.conf") + "\n# a new revision\n"),
    );
    services.world.build(&["postgres"]);
    services
        .baseimg(&["run", "postgres"])
        .stdout_contains("postgres  outdated")
        .stdout_contains("--recreate")
        .run();
    services
        .baseimg(&["ps"])
        .stdout_regex(r"postgres +running .*no: `baseimg run --recreate`")
        .run();
    services
        .baseimg(&["run", "postgres", "--recreate"])
        .stdout_contains("postgres  recreated")
        .run();
    assert_eq!(
        services.psql("SELECT value FROM app_settings WHERE key = 'kept'"),
        "across recreate"
    );
    services
        .baseimg(&["ps"])
        .stdout_regex(r"postgres +running .* yes ")
        .run();

    // down --volumes: containers and the volumes baseimg made are gone.
    services
        .baseimg(&["down", "--volumes"])
        .stdout_contains("volumes removed")
        .run();
    for service in ["redis", "postgres"] {
        assert!(
            services.container_id(service).is_none(),
            "{service} container"
        );
        assert!(!services.volume_exists(service), "{service} volume");
    }
}

#[test]
fn a_taken_port_and_a_foreign_container_are_refused_with_nothing_changed() {
    let services = Services::new();
    services.world.build(&["redis"]);

    // A port held by a process: refused before anything is created.
    let holder = std::net::TcpListener::bind(("127.0.0.1", services.redis_port)).unwrap();
    services
        .baseimg(&["run", "redis"])
        .status(2)
        .stderr_contains(&format!(
            "port 127.0.0.1:{} is taken by another process",
            services.redis_port
        ))
        .run();
    assert!(services.container_id("redis").is_none());
    assert!(!services.volume_exists("redis"));
    drop(holder);

    // A container of that name that baseimg did not make: refused, and left exactly as it was.
    let name = format!("{}-redis", services.prefix);
    let image = services.world.built_reference("redis");
    let foreign =
        testkit::realistic::docker(&["run", "--detach", "--name", &name, &image, "sleep", "300"]);
    services
        .baseimg(&["run", "redis"])
        .status(2)
        .stderr_contains("was not started by baseimg")
        .run();
    assert_eq!(services.container_id("redis").unwrap(), foreign);
    assert!(!services.volume_exists("redis"));
    testkit::realistic::docker(&["rm", "--force", &foreign]);

    // A service that never answers: after --timeout, its last log lines and exit 1 (and a second
    // run does not call it ready either).
    services.world.edit_catalog(|catalog| {
        catalog.replace(
            "ready: redis-cli ping | grep -qx PONG",
            "ready: exit 1 && redis-cli ping | grep -qx PONG",
        )
    });
    for _ in 0..2 {
        services
            .baseimg(&["run", "redis", "--timeout", "3"])
            .status(1)
            .stdout_contains("was not ready after 3s")
            .stdout_contains("Ready to accept connections")
            .run();
    }
}

#[test]
fn failing_checks_stop_the_image_before_its_push_and_leave_no_container() {
    let services = Services::new();
    let before = services.world.build(&["redis", "postgres"]);
    // The same checks, on demand, pass on what was pushed.
    let checked = services
        .baseimg(&["check", "redis", "postgres", "--output", "json"])
        .run()
        .json();
    for entry in checked["images"].as_array().unwrap() {
        assert_eq!(entry["status"], "passed", "{checked:#}");
        assert_eq!(entry["checks"].as_array().unwrap().len(), 3, "{checked:#}");
    }

    // A misspelt redis.conf directive and an init script that fails.
    services.world.write(
        "images/redis/redis.conf",
        &(services.world.read("images/redis/redis.conf") + "\nmaxmemory-polcy allkeys-lru\n"),
    );
    services.world.write(
        "images/postgres/initdb/04-broken.sql",
        "SELECT * FROM a_table_nobody_created;\n",
    );
    let report = services
        .baseimg(&["build", "--push", "redis", "postgres", "--output", "json"])
        .status(1)
        .run()
        .json();
    // Each failure says the image's service could not come up for its checks, and shows why, in
    // the server's own words.
    for (image, cause) in [
        ("redis", "'maxmemory-polcy allkeys-lru'"),
        ("postgres", "a_table_nobody_created"),
    ] {
        let entry = report["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["image"] == image)
            .unwrap();
        assert_eq!(entry["status"], "failed", "{report:#}");
        let error = entry["error"].as_str().unwrap();
        assert!(error.contains("did not start for its checks"), "{error}");
        assert!(error.contains(cause), "{error}");
    }
    assert_eq!(report["promotion"]["status"], "not_promoted");
    // Nothing new in the registry: the moving tags point where they did.
    for (image, digest) in &before {
        assert_eq!(&services.world.moving_tag_digest(image), digest, "{image}");
    }
    assert_eq!(check_containers(&services.world), Vec::<String>::new());
}

#[test]
fn ctrl_c_during_a_check_leaves_no_container() {
    let services = Services::new();
    services.world.build(&["postgres"]);
    // A check that takes its time, so the interrupt lands while it runs.
    services.world.edit_catalog(|catalog| {
        catalog.replace(
            "    checks:\n      - name: the application role owns",
            "    checks:\n      - name: a slow check\n        run: sleep 120\n      - name: the application role owns",
        )
    });
    services.world.write(
        "images/postgres/postgresql.conf",
        &(services.world.read("images/postgres/postgresql.conf") + "\n# rebuild\n"),
    );
    let running = services
        .baseimg(&["build", "--push", "postgres"])
        .failure()
        .spawn();
    let checking = wait_until(Duration::from_secs(300), Duration::from_millis(200), || {
        !check_containers(&services.world).is_empty()
    });
    assert!(checking, "no check started");
    std::thread::sleep(Duration::from_secs(2));
    Command::new("kill")
        .args(["-INT", &running.id().to_string()])
        .status()
        .unwrap();
    running.wait();
    assert_eq!(check_containers(&services.world), Vec::<String>::new());
}
