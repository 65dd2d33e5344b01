//! What the example catalog's templates claim, proven on running containers: the repository's own
//! catalog, templates and build files are locked, mirrored and built with `baseimg`, on realistic
//! upstream images (Debian's python3, redis-server and postgresql in the official images' shape, made
//! by `scripts/fixture-images`), and the built images are started with `docker run` and asked whether
//! the Redis configuration is in effect, the PostgreSQL init scripts ran, and the Python images have
//! their user, pip and health check.
//!
//! Every container and image a test makes is removed when it ends, even on failure; the fixture
//! images themselves stay in the daemon for the next run.

use std::cell::RefCell;
use std::process::Command;
use std::time::Duration;

use testkit::realistic::{docker, fixture_images};
use testkit::{World, wait_until};

/// How long a server may take to become ready; initdb and the init scripts take a few seconds.
const READY_WITHIN: Duration = Duration::from_secs(120);

/// The containers a test started with `docker run`: all removed when the test ends, whatever
/// happened. (The images of the world's registries are removed by the world itself.)
#[derive(Default)]
struct Cleanup {
    containers: RefCell<Vec<String>>,
}

impl Cleanup {
    /// `docker run --detach ARGS`; the container is removed with its anonymous volumes at the end.
    fn start(&self, args: &[&str]) -> String {
        let id = docker(&[&["run", "--detach"], args].concat());
        self.containers.borrow_mut().push(id.clone());
        id
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for id in self.containers.borrow().iter() {
            let _ = Command::new("docker")
                .args(["rm", "--force", "--volumes", id])
                .output();
        }
    }
}

/// Builds the whole example catalog; the local name (tag) of each built image.
fn build_all(world: &World) -> Vec<(String, String)> {
    world.build(&["python", "api-base", "redis", "postgres"]);
    ["python", "api-base", "redis", "postgres"]
        .iter()
        .map(|name| (name.to_string(), world.built_reference(name)))
        .collect()
}

/// `docker exec CONTAINER ARGS`: exit code and standard output (trimmed).
fn exec(container: &str, args: &[&str]) -> (i32, String) {
    let output = Command::new("docker")
        .args([&["exec", container], args].concat())
        .output()
        .expect("docker runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).trim().to_string(),
    )
}

/// What a command in a running container prints; it must succeed.
fn exec_ok(container: &str, args: &[&str]) -> String {
    let (code, stdout) = exec(container, args);
    assert_eq!(
        code,
        0,
        "docker exec {container} {} exited {code}: {stdout}\n--- container log\n{}",
        args.join(" "),
        logs(container)
    );
    stdout
}

fn logs(container: &str) -> String {
    let output = Command::new("docker")
        .args(["logs", "--tail", "60", container])
        .output()
        .expect("docker runs");
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Waits until `ready` holds; fails at once, with the container's log, if the container stopped.
fn wait_for(container: &str, what: &str, ready: impl Fn() -> bool) {
    let ready = wait_until(READY_WITHIN, Duration::from_millis(250), || {
        if ready() {
            return true;
        }
        let running = docker(&["inspect", "--format", "{{.State.Running}}", container]);
        assert_eq!(
            running,
            "true",
            "the container stopped before {what}\n--- container log\n{}",
            logs(container)
        );
        false
    });
    assert!(
        ready,
        "not {what} after {READY_WITHIN:?}\n--- container log\n{}",
        logs(container)
    );
}

/// `docker run --rm IMAGE ARGS` as the image's default user: exit code and standard output.
fn run_once(image: &str, args: &[&str]) -> (i32, String) {
    let output = Command::new("docker")
        .args([&["run", "--rm", image], args].concat())
        .output()
        .expect("docker runs");
    (
        output.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout).trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        ),
    )
}

fn run_ok(image: &str, args: &[&str]) -> String {
    let (code, output) = run_once(image, args);
    assert_eq!(code, 0, "docker run {image} {}: {output}", args.join(" "));
    output
}

/// Redis answers with the settings of `images/redis/redis.conf` and the catalog's memory budget.
fn check_redis(cleanup: &Cleanup, image: &str) {
    let redis = cleanup.start(&[image]);
    wait_for(&redis, "answering PING", || {
        exec(&redis, &["redis-cli", "ping"]).1 == "PONG"
    });
    wait_for(&redis, "done loading its data", || {
        exec(&redis, &["redis-cli", "INFO", "persistence"])
            .1
            .contains("loading:0")
    });
    let config = |name: &str| exec_ok(&redis, &["redis-cli", "--raw", "CONFIG", "GET", name]);
    // vars.maxmemory (256mb) and vars.maxmemory_policy, from the catalog through the template's CMD.
    assert_eq!(config("maxmemory"), "maxmemory\n268435456");
    assert_eq!(config("maxmemory-policy"), "maxmemory-policy\nallkeys-lru");
    // redis.conf itself.
    assert_eq!(config("appendonly"), "appendonly\nyes");
    assert_eq!(config("appendfsync"), "appendfsync\neverysec");
    assert_eq!(config("save"), "save\n900 1");
    assert_eq!(config("dir"), "dir\n/data");
    assert_eq!(config("tcp-keepalive"), "tcp-keepalive\n60");
    assert_eq!(config("protected-mode"), "protected-mode\nno");
    // The append-only file is written: a key survives in it.
    exec_ok(&redis, &["redis-cli", "SET", "proof", "kept"]);
    let persistence = exec_ok(&redis, &["redis-cli", "INFO", "persistence"]);
    assert!(persistence.contains("aof_enabled:1"), "{persistence}");
    wait_for(&redis, "writing its append-only file", || {
        exec(&redis, &["sh", "-c", "cat /data/appendonlydir/*.incr.aof"])
            .1
            .contains("proof")
    });
    // The server runs as the redis user, not root.
    let user = exec_ok(&redis, &["stat", "-c", "%U", "/proc/1"]);
    assert_eq!(user, "redis");
}

/// The init scripts in `images/postgres/initdb/` ran: the application role owns the application
/// database, which has the catalog's extensions; the server uses `postgresql.conf`.
fn check_postgres(cleanup: &Cleanup, image: &str) {
    // As the catalog's `run.env` sets it for local development.
    let postgres = cleanup.start(&["--env", "POSTGRES_HOST_AUTH_METHOD=trust", image]);
    // Only a TCP connection proves the real server is up: during initialization a temporary
    // server answers on the Unix socket alone.
    wait_for(&postgres, "accepting TCP connections", || {
        exec(&postgres, &["pg_isready", "-h", "127.0.0.1", "-p", "5432"]).0 == 0
    });
    let query = |sql: &str| {
        exec_ok(
            &postgres,
            &[
                "psql",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                "app",
                "-tAc",
                sql,
            ],
        )
    };
    assert_eq!(
        query("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'app'"),
        "t",
        "the app role exists and may log in"
    );
    assert_eq!(
        query("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'app'"),
        "app",
        "the app database is the app role's"
    );
    assert_eq!(
        query("SELECT has_schema_privilege('app', 'public', 'CREATE')"),
        "t"
    );
    assert_eq!(
        query("SELECT string_agg(extname, ' ' ORDER BY extname) FROM pg_extension"),
        "citext pg_trgm pgcrypto plpgsql"
    );
    assert_eq!(query("SHOW config_file"), "/etc/postgresql/postgresql.conf");
    assert_eq!(query("SHOW listen_addresses"), "*");
    assert_eq!(query("SHOW synchronous_commit"), "off");
    assert_eq!(query("SHOW log_min_duration_statement"), "250ms");
    // The application role works in its database with the extensions.
    let as_app = exec_ok(
        &postgres,
        &[
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            "app",
            "-d",
            "app",
            "-tA",
            "-c",
            "CREATE TABLE notes (id uuid DEFAULT gen_random_uuid() PRIMARY KEY, title citext)",
            "-c",
            "INSERT INTO notes (title) VALUES ('Hello')",
            "-c",
            "SELECT count(*) FROM notes WHERE title = 'HELLO' AND similarity(title::text, 'Hello') = 1",
        ],
    );
    assert!(as_app.ends_with('1'), "{as_app}");
}

/// The company runtime: the app user with its fixed UID, pip at the catalog's version, quiet pip.
fn check_python(image: &str) {
    assert_eq!(
        run_ok(image, &["id", "app"]),
        "uid=10001(app) gid=10001(app) groups=10001(app)"
    );
    assert_eq!(
        run_ok(image, &["sh", "-c", "getent passwd app | cut -d: -f6,7"]),
        "/home/app:/usr/sbin/nologin"
    );
    let pip = run_ok(image, &["python", "-m", "pip", "--version"]);
    assert!(pip.starts_with("pip 24.0 "), "{pip}");
    let environment = run_ok(image, &["env"]);
    for setting in [
        "PYTHONDONTWRITEBYTECODE=1",
        "PYTHONUNBUFFERED=1",
        "PIP_NO_CACHE_DIR=1",
        "LANG=C.UTF-8",
    ] {
        assert!(
            environment.lines().any(|line| line == setting),
            "{setting} is not set: {environment}"
        );
    }
}

/// The API base runs as the app user in its working directory with its virtual environment first on
/// PATH, and its health check passes once a service answers on $PORT/healthz (and fails before).
fn check_api_base(cleanup: &Cleanup, image: &str) {
    assert_eq!(run_ok(image, &["id", "-un"]), "app");
    assert_eq!(run_ok(image, &["pwd"]), "/srv/app");
    assert_eq!(
        run_ok(image, &["sh", "-c", "command -v python"]),
        "/srv/app/.venv/bin/python"
    );
    let pip = run_ok(image, &["python", "-m", "pip", "--version"]);
    assert!(pip.contains("/srv/app/.venv/"), "pip of the venv: {pip}");
    assert_eq!(
        docker(&[
            "inspect",
            "--format",
            "{{json .Config.Healthcheck.Test}}",
            image
        ]),
        r#"["CMD","healthcheck"]"#
    );

    let idle = cleanup.start(&[image, "sleep", "600"]);
    assert_eq!(
        exec(&idle, &["healthcheck"]).0,
        1,
        "nothing answers on /healthz yet: the check must fail"
    );
    // A service that answers /healthz; Docker runs the image's own HEALTHCHECK every second.
    let service = cleanup.start(&[
        "--health-interval",
        "1s",
        image,
        "sh",
        "-c",
        "mkdir -p /tmp/www && echo ok > /tmp/www/healthz && \
         exec python -m http.server \"$PORT\" --bind 127.0.0.1 --directory /tmp/www",
    ]);
    wait_for(&service, "healthy", || {
        docker(&["inspect", "--format", "{{.State.Health.Status}}", &service]) == "healthy"
    });
    assert_eq!(exec(&service, &["healthcheck"]).0, 0);
}

#[test]
fn the_example_images_do_what_their_templates_say() {
    let world = World::example();
    let cleanup = Cleanup::default();
    let built = build_all(&world);
    let image = |name: &str| built.iter().find(|(n, _)| n == name).unwrap().1.as_str();
    check_redis(&cleanup, image("redis"));
    check_postgres(&cleanup, image("postgres"));
    check_python(image("python"));
    check_api_base(&cleanup, image("api-base"));
}

/// The postgres fixture keeps the official image's contract where the example depends on it: a
/// failing init script, or no password without `trust`, stops the container with an error.
#[test]
fn the_postgres_fixture_fails_like_the_official_image() {
    let fixtures = fixture_images();
    let postgres = &fixtures.iter().find(|(n, _)| n == "postgres").unwrap().1;
    let cleanup = Cleanup::default();

    let scripts = tempfile::tempdir().unwrap();
    std::fs::write(
        scripts.path().join("01-ok.sql"),
        "CREATE TABLE fine (id int);\n",
    )
    .unwrap();
    std::fs::write(
        scripts.path().join("02-broken.sql"),
        "CREATE TABLE broken (id int;\n",
    )
    .unwrap();
    let broken = cleanup.start(&[
        "--env",
        "POSTGRES_PASSWORD=secret",
        "--volume",
        &format!(
            "{}:/docker-entrypoint-initdb.d:ro",
            scripts.path().display()
        ),
        postgres,
    ]);
    let code = wait_for_exit(&broken);
    assert_ne!(code, 0, "a failing init script must stop the container");
    let log = logs(&broken);
    assert!(
        log.contains("running /docker-entrypoint-initdb.d/01-ok.sql"),
        "{log}"
    );
    assert!(log.contains("syntax error"), "{log}");

    let no_password = cleanup.start(&[postgres]);
    assert_eq!(wait_for_exit(&no_password), 1);
    assert!(logs(&no_password).contains("POSTGRES_PASSWORD"));
}

/// The exit code of a container that must stop by itself.
fn wait_for_exit(container: &str) -> i32 {
    let exited = wait_until(READY_WITHIN, Duration::from_millis(250), || {
        docker(&["inspect", "--format", "{{.State.Running}}", container]) != "true"
    });
    assert!(
        exited,
        "still running after {READY_WITHIN:?}\n--- container log\n{}",
        logs(container)
    );
    let code = docker(&["inspect", "--format", "{{.State.ExitCode}}", container]);
    code.parse().unwrap_or(-1)
}
